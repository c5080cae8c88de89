//! Prints what a walk of this process's address space finds, and what a
//! walk costs:
//!
//! ```text
//! cargo run -p address-space --example walk
//! cargo run -p address-space --example walk --target i686-pc-windows-gnu   # under Wine
//! ```

use std::time::Instant;

fn main() {
    let summary = address_space::walk();
    println!("{summary}");
    const WALKS: u32 = 100;
    let start = Instant::now();
    for _ in 0..WALKS {
        std::hint::black_box(address_space::walk());
    }
    let each = start.elapsed() / WALKS;
    println!("one walk of {} regions: {:.1} µs", summary.regions, each.as_secs_f64() * 1e6);
}
