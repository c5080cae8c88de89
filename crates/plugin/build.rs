//! Names the build in the log's first line: the commit it was built from
//! (`git describe`), or `unknown` outside a git checkout. For Windows, also
//! compiles `c/layout.c`, the C API header's layout as the C compiler sees
//! it, for the test that compares it with the Rust side, and links the
//! version resource `version.rc` into the DLL.
//!
//! The resource is compiled by `embed-resource`, a maintained crate that
//! finds the target's resource compiler (MinGW's `i686-w64-mingw32-windres`
//! here) and links its output into the cdylib alone.

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
    println!("cargo:rerun-if-changed=version.rc");
    if env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("windows") {
        cc::Build::new().file("c/layout.c").flag("-Wall").flag("-Wextra").flag("-Werror").compile("api_layout");
        version_resource();
    }
}

/// Compiles `version.rc` with the package's version and links it into the DLL.
fn version_resource() {
    let part = |name: &str| env::var(name).unwrap_or_else(|_| panic!("cargo sets {name}"));
    let macros = [
        format!("VERSION_MAJOR={}", part("CARGO_PKG_VERSION_MAJOR")),
        format!("VERSION_MINOR={}", part("CARGO_PKG_VERSION_MINOR")),
        format!("VERSION_PATCH={}", part("CARGO_PKG_VERSION_PATCH")),
    ];
    if let Err(e) = embed_resource::compile_for_cdylib("version.rc", &macros).manifest_optional() {
        panic!("the version resource (version.rc) cannot be compiled: {e}");
    }
}
