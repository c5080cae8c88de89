fn main() { println!("hello {}", std::collections::HashMap::<u32,u32>::new().len()); }
