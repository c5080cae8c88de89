//! Names the build in the log's first line: the commit it was built from
//! (`git describe`), or `unknown` outside a git checkout. For Windows, also
//! compiles `c/layout.c`, the C API header's layout as the C compiler sees
//! it, for the test that compares it with the Rust side.

use std::env;
use std::process::Command;

fn main() {
    let commit = Command::new("git")
        .args(["describe", "--always", "--abbrev=10"])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=MEMORYPOOL_BUILD={commit}");
    // A new commit or a change of branch gives a new name.
    for file in ["../../.git/HEAD", "../../.git/index"] {
        println!("cargo:rerun-if-changed={file}");
    }
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=c/layout.c");
    println!("cargo:rerun-if-changed=include/MemoryPoolNVSE.h");
    if env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("windows") {
        cc::Build::new().file("c/layout.c").flag("-Wall").flag("-Wextra").flag("-Werror").compile("api_layout");
    }
}
