//! Builds the vendored rpmalloc with the configuration the heap relies on.

use std::env;

fn main() {
    println!("cargo:rerun-if-changed=rpmalloc/rpmalloc.c");
    println!("cargo:rerun-if-changed=rpmalloc/rpmalloc.h");
    println!("cargo:rerun-if-changed=c/layout.c");
    let mut build = cc::Build::new();
    build
        .file("rpmalloc/rpmalloc.c")
        // The C layout of the bound structures, for the layout test; only
        // the test refers to it, so programs leave its object out.
        .file("c/layout.c")
        .opt_level(2)
        // One heap per thread, kept by the heap crate (see rpmalloc/README.md):
        // no emulated thread-local storage, no fiber-local-storage callback.
        .define("RPMALLOC_FIRST_CLASS_HEAPS", "1")
        .define("RPMALLOC_NO_THREAD_HEAP", "1")
        .define("BUILD_DYNAMIC_LINK", "1")
        // Caches bounded by size, trimmed from outside the allocation path
        // (patch 4): address space is what a 32-bit game runs out of.
        .define("RPMALLOC_TRIM", "1")
        .define("ENABLE_STATISTICS", "0")
        .define("ENABLE_PRELOAD", "0")
        .define("ENABLE_OVERRIDE", "0")
        .warnings(false);
    let windows = env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("windows");
    if !windows {
        build.define("_GNU_SOURCE", "1");
    }
    build.compile("rpmalloc");
    if windows {
        // rpmalloc's Windows code asks for large-page privileges
        // (OpenProcessToken, LookupPrivilegeValue) from advapi32, which must
        // come after the static library on the link line: after `compile`.
        println!("cargo:rustc-link-lib=dylib=advapi32");
    }
}
