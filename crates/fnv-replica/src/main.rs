//! `FalloutNV.exe`: a replica of Fallout: New Vegas 1.4.0.525's memory
//! management at the real addresses, which is also the NVSE stand-in.

#[cfg(windows)]
fn main() {}

#[cfg(not(windows))]
fn main() {
    eprintln!("FalloutNV.exe (the replica) is a Windows program; build it for i686-pc-windows-gnu and run it under Wine");
    std::process::exit(2);
}
