//! `nvse-host`: a stand-in for xNVSE and Fallout: New Vegas, for tests.
//!
//! It loads the DLLs in `<exe folder>\Data\NVSE\Plugins\` the way xNVSE does
//! (export check with imagehlp, `NVSEPlugin_Preload` before the game's static
//! initialisers, a Query pass over every plugin, a Load pass over those that
//! accepted, then NVSE's messages in a session's order) and prints one line
//! per event on stdout, for the end-to-end tests to check.
//!
//! ```text
//! nvse-host session [--runtime 0xHEX] [--exit game|console|none] [FIXTURE OPTIONS]
//! nvse-host editor [FIXTURE OPTIONS]
//! nvse-host game [--moment preload|load] [--prehook heap-free] [--threads N]
//!                [--expect ours|vanilla] [--exit game|console|none] [--play SECONDS]
//!                [--exhaust THREADS] [--exhaust-before-runtime] [--stale FRAMES]
//!                [--crash freed|live|wild]
//! nvse-host game-profile
//! nvse-host bench [--scale full|quick|smoke | --quick] [--workload NAME]...
//!                 [--via imports|game-heap|static-crt] [--label NAME]
//!
//! GAME (the synthetic game of src/game/game.c, linked into this executable
//! at a fixed address: a static C runtime over its own heap, and a game heap
//! object with thiscall methods that allocate from an arena):
//!   --moment preload            (default) the preload pass runs before the
//!                               game's C runtime heap and static initialisers
//!   --moment load               no preload pass (an older NVSE): the game
//!                               starts, makes 1,000 blocks per family and its
//!                               threads allocate before the query pass
//!   --prehook heap-free         before anything else, GameHeap_Free jumps to
//!                               another heap mod's function (jmp rel32)
//!   --threads N                 game threads allocating through every
//!                               function from start-up to the checks (4)
//!   --expect ours               (default) the plugin serves every new block:
//!                               the game's allocating functions never run,
//!                               and at the preload moment its arena is never
//!                               created
//!   --expect vanilla            the game's functions serve everything, each
//!                               run exactly as often as called
//!   --play SECONDS              after the checks, the game threads allocate
//!                               as a game does for SECONDS (60 frames a
//!                               second, a fixed number of operations each)
//!                               through the heap's methods and the C runtime,
//!                               with a MainGameLoop a frame; then the game
//!                               quits as usual
//!   --exhaust THREADS           after the checks, a fixture takes every free
//!                               range of the address space while THREADS
//!                               game threads ask the game heap for 1 MiB
//!                               blocks until refused, checking for NULL;
//!                               then the space comes back (`exhaust` lines)
//!   --exhaust-before-runtime    the address space runs out before the game's
//!                               C runtime made its heap, and the runtime's
//!                               malloc is called: it ends the process (R6030)
//!   --stale FRAMES              after the checks, the engine's stale readers
//!                               for FRAMES frames: an IO thread calls through
//!                               tasks the main thread freed 1-4 ms before,
//!                               another thread reads structs freed in its
//!                               frame, while the game threads churn the same
//!                               size classes (`stale` lines)
//!   --crash freed|live|wild     at the end, the game crashes on purpose: ECX
//!                               on a block it freed a frame before, on a live
//!                               one, or wild, reading through an address
//!                               nothing maps; filters standing for crash
//!                               loggers, installed before and after the
//!                               plugins, print `crash filter` lines
//!   After the first MainGameLoop: `nvse-host: game: <check> key=value ...`
//!   lines (old blocks, new blocks, arena, threads) and `nvse-host: game: ok`
//!   or `FAILED ...` (exit code 1); after playing, a `play` line with the
//!   operations made and a verdict of its own.
//! game-profile: prints this executable's profile (TOML) for the synthetic
//!   game, read from its code before anything could hook it, and nothing else.
//! bench: after the first MainGameLoop, runs the benchmark's workloads
//!   (crates/workloads, all of them by default, at full scale, then the game
//!   sessions and the frame session `game-frames`, which `--workload` names
//!   too; with the plugin, the frame session counts its memory system calls
//!   by thread) through this program's own C
//!   runtime imports (msvcrt's `malloc` family, which a plugin like
//!   MemoryPoolNVSE redirects) and prints one JSON line each:
//!   allocator `plugin-crt` if a loaded plugin's heap serves those imports,
//!   `crt` if no plugin is loaded (a plugin that does not serve them is a
//!   failure, exit code 1). `--via game-heap` and `--via static-crt` start
//!   the synthetic game (no game thread, no checks) and call its heap
//!   object's methods or its static C runtime instead: allocator
//!   `game-heap` or `static-crt` when the plugin serves them (its profile
//!   names them), `vanilla-game-heap` or `vanilla-static-crt` with no plugin.
//!   `--label NAME` names the allocator NAME when a plugin serves the
//!   path (the same path with other settings in the plugin's INI).
//!
//! FIXTURE OPTIONS (test DLLs built from crates/e2e/fixtures/crt_client.c):
//!   --fixture PATH.dll          load it before the plugins (repeatable)
//!   --late-fixture PATH.dll     load it after PostPostLoad (repeatable)
//!   --corrupt-imports NAME.dll  point that (early) fixture's import directory
//!                               outside its image right after loading it
//!   --hook-free NAME.dll        hook that (early) fixture's `free` import right
//!                               after loading it, as another tool would; the
//!                               hook counts its calls and the plugin's blocks
//!   --churn-threads N           N threads churn every fixture's allocations
//!                               from before the plugins load to the checks
//!   --check-host                check this program's own malloc family too
//!   --exit-checks               fixtures use their C runtime in every thread
//!                               and process detach (see exits.rs)
//!   --thread-storm N            after the checks, N short-lived threads leave
//!                               blocks that the fixtures free as they end
//!   --exhaust-tls               take every TLS index before the plugins load
//!                               (given back after the load phase)
//!   --expect-left-alone NAME.dll  the plugin's settings exclude that fixture:
//!                               its blocks are expected to be its runtime's
//!   --expect-no-heap            no fixture's blocks are expected to be the
//!                               plugin's (it is disabled, or cannot start)
//!   --leak BYTES                after the checks, every fixture allocates a
//!                               block of BYTES it never frees
//!   --play-seconds S            after the checks, S seconds of frames, each
//!                               one MainGameLoop and some churn per fixture
//!   --cross GIVER.dll TAKER.dll after the checks, TAKER sizes, resizes and
//!                               frees blocks GIVER allocated
//!   --provoke overrun|use-after-free  after the checks, the first fixture
//!                               writes one byte past a 56-byte block, or reads
//!                               one it freed; an access violation is reported
//!                               (faults.rs) and ends the process with code 3
//! ```
//!
//! With fixtures (or `--check-host`), the session checks after the load phase
//! and the first `MainGameLoop` (in the editor: after the load phase) that
//! each fixture's allocations go where they should, prints one line per check
//! and exits with 1 if any check failed.

#[cfg(windows)]
fn main() {
    use nvse_host::{game, parse_args, session, Command};
    let scenario = match parse_args(std::env::args().skip(1)) {
        Ok(Command::Run(scenario)) => scenario,
        Ok(Command::GameProfile) => {
            print!("{}", game::profile());
            std::process::exit(0);
        }
        Err(message) => {
            eprintln!("nvse-host: {message}");
            std::process::exit(2);
        }
    };
    std::process::exit(session::run(&scenario));
}

#[cfg(not(windows))]
fn main() {
    eprintln!("nvse-host is a Windows program; build it for i686-pc-windows-gnu and run it under Wine");
    std::process::exit(2);
}
