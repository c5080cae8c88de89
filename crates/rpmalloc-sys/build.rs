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
        // Freed spans all threads share, at most, between two trims (idle
        // ones go back to the OS within two): 4096 spans, 256 MiB. Blocks of
        // 64 KiB-1 MiB of random sizes find a span of their size in the
        // cache only if it holds many; measured under Wine with `game-mix`
        // (1.5% of blocks that large), 512 spans made it 2.1 times slower,
        // 2048 spans 15-30%, 4096 within 5%; the game session's peak held
        // 1.24 / 1.29 times its live bytes with 512 / 4096 spans.
        .define("GLOBAL_CACHE_MAX_SPANS", "4096")
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
