//! For the Windows x86 program: the synthetic game's C code (`src/game/game.c`),
//! and a fixed image base without relocations, as FalloutNV.exe has, so that
//! a profile can name the game's functions by address.

use std::env;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=src/game/game.c");
    let windows = env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("windows");
    let x86 = env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("x86");
    if !(windows && x86) {
        return;
    }
    cc::Build::new()
        .file("src/game/game.c")
        // Stable, ordinary prologues for the hooks to move: a frame pointer
        // in every function, no inlining of one hooked function into another,
        // no tail calls that would turn a call into a jump.
        .opt_level(1)
        .flag("-fno-omit-frame-pointer")
        .flag("-fno-inline-functions")
        .flag("-fno-inline-small-functions")
        .flag("-fno-optimize-sibling-calls")
        .flag("-Wall")
        .flag("-Wextra")
        .compile("game");
    // The executable always loads at 0x400000 and cannot be moved: no ASLR,
    // no base relocations.
    for arg in ["-Wl,--image-base=0x400000", "-Wl,--disable-dynamicbase", "-Wl,--disable-reloc-section"] {
        println!("cargo:rustc-link-arg-bins={arg}");
    }
}
