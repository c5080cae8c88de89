//! `FalloutNV.exe`: Fallout: New Vegas 1.4.0.525's memory management at the
//! real addresses (the replica, built from the built-in profile and the
//! facts file by `build/`), in an executable that is also the NVSE stand-in:
//! it loads the plugins in `Data\NVSE\Plugins` as `nvse-host` does, and its
//! start-up runs in the game's order around NVSE's passes: the preload
//! pass, then the C runtime's heap (`__heap_init`) and the MemoryManager's
//! constructor (`__cinit`), then the query and load passes, then frames of
//! the main loop. After the first frame it checks whose blocks are whose
//! (`src/replica`).
//!
//! ```text
//! FalloutNV [--moment preload|load] [--expect ours|vanilla|runtime-only]
//!           [--change other-free|other-identity|realloc-three-arguments]...
//!           [--threads N] [--parked] [--exit game|console]
//!           [--default-heap-mb N] [--file-heap-mb N]
//!           [--session game-session-1t|game-session-4t [--scale full|quick|smoke]]
//! ```
//! - `--moment load`: no preload pass; the vanilla heaps hold blocks made
//!   through every entry before the plugins load.
//! - `--change`: before anything runs, another heap mod's `jmp` at
//!   MemoryManager::Free, another build's byte among those that identify the
//!   executable, or a second reallocate that pops three arguments.
//! - `--threads N`: game threads allocating through every entry from
//!   start-up to the checks; `--parked` (at Load): a thread stopped inside
//!   every hooked function's replaced bytes while the hooks go in.
//! - `--default-heap-mb N`, `--file-heap-mb N`: xNVSE's `[Memory]
//!   DefaultHeapInitialAllocMB` and `FileHeapSizeMB`, applied as its loader
//!   applies them before the game starts (`heap_sizes`).
//! - `--session NAME`: after the first frame, a game session of
//!   `crates/workloads` through the game heap's own functions instead of
//!   the checks' blocks; it prints one late-install record (a JSON line):
//!   the address space the process held, over what it held before the
//!   game's start-up (`cargo xtask bench` runs it).
//!
//! Exit code 0 if every check passed, 1 if not, 2 for a bad command line.

// The replica (Windows) applies them; elsewhere only their tests run.
#[cfg_attr(not(windows), allow(dead_code))]
mod heap_sizes;
mod options;
#[cfg(windows)]
mod replica;

#[cfg(windows)]
fn main() {
    use nvse_host::{Exit, Fixtures, Mode, Scenario};
    let options = match options::parse(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("FalloutNV: {message}");
            std::process::exit(2);
        }
    };
    let scenario = Scenario {
        mode: Mode::Game { runtime: nvse_abi::RUNTIME_VERSION_1_4_0_525 },
        exit: if options.exit_console { Exit::Console } else { Exit::Game },
        fixtures: Fixtures::default(),
        game: None,
        bench: None,
    };
    let mut replica = replica::Replica::new(options);
    std::process::exit(nvse_host::session::run_with(&scenario, Some(&mut replica)));
}

#[cfg(not(windows))]
fn main() {
    let _ = options::parse(std::env::args().skip(1));
    eprintln!(
        "FalloutNV.exe (the replica) is a Windows program; build it for i686-pc-windows-gnu and run it under Wine"
    );
    std::process::exit(2);
}
