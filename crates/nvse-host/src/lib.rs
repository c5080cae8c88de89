//! The NVSE stand-in's library: what `nvse-host.exe` is made of, and what
//! another game's stand-in (the replica of FalloutNV.exe, crates/fnv-replica)
//! reuses: finding and loading plugins as xNVSE does (`plugins`), NVSE's
//! interface and messages (`nvse`), and a session in NVSE's order around a
//! game (`session`). The command line is documented in `main.rs`.

#[cfg(windows)]
mod bench;
#[cfg(windows)]
pub mod checks;
#[cfg(windows)]
mod exits;
#[cfg(windows)]
mod faults;
#[cfg(windows)]
mod fixtures;
#[cfg(windows)]
mod free_hook;
#[cfg(windows)]
pub mod game;
#[cfg(windows)]
mod imports;
#[cfg(windows)]
pub mod nvse;
#[cfg(windows)]
mod os_calls;
#[cfg(windows)]
pub mod plugins;
#[cfg(windows)]
pub mod session;

/// What the host pretends to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The game, with the given runtime version in `NVSEInterface`.
    Game { runtime: u32 },
    /// The GECK: no preload pass, `isEditor = 1`.
    Editor,
}

/// How the session ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Quit to Windows from a menu: `ExitGame`.
    Game,
    /// The `qqq` console command: `ExitGame_Console`.
    Console,
    /// No exit message: the process just ends, as when the game's window
    /// is closed or another mod ends the process.
    None,
}

/// The test DLLs a session loads and checks, besides the plugins.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fixtures {
    /// Loaded before plugin discovery, so their `DllMain` allocates before any hook.
    pub early: Vec<String>,
    /// Loaded after `PostPostLoad`, once the plugin's hooks exist.
    pub late: Vec<String>,
    /// The file name of an early fixture whose import directory is corrupted.
    pub corrupt_imports: Option<String>,
    /// The file name of an early fixture whose `free` import another hook takes.
    pub hook_free: Option<String>,
    /// Threads churning every fixture's allocations meanwhile.
    pub churn_threads: usize,
    /// Also check the host's own `malloc` family (msvcrt, imported by Rust's std).
    pub check_host: bool,
    /// Fixtures use their C runtime in every thread and process detach.
    pub exit_checks: bool,
    /// Short-lived threads run after the checks (see `exits.rs`).
    pub thread_storm: usize,
    /// Every TLS index is taken while the plugins load.
    pub exhaust_tls: bool,
    /// Fixtures the plugin is expected to leave alone (its settings exclude them).
    pub left_alone: Vec<String>,
    /// No fixture's blocks are expected to be the plugin's.
    pub expect_no_heap: bool,
    /// Bytes every fixture leaks after the checks (0: none).
    pub leak: usize,
    /// Seconds of frames after the checks.
    pub play_seconds: u32,
    /// `(giver, taker)`: blocks crossing from one fixture to another.
    pub cross: Option<(String, String)>,
    /// A bug the first fixture commits after the checks.
    pub provoke: Option<Bug>,
}

/// A memory bug a fixture commits on request (`--provoke`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bug {
    /// One byte written past the end of a block.
    Overrun,
    /// A freed block read.
    UseAfterFree,
}

impl Bug {
    pub fn name(self) -> &'static str {
        match self {
            Bug::Overrun => "overrun",
            Bug::UseAfterFree => "use-after-free",
        }
    }
}

/// When the plugin's code first runs, relative to the game's start-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Moment {
    /// At `NVSEPlugin_Preload`, before the game's C runtime heap and static
    /// initialisers exist.
    Preload,
    /// At `NVSEPlugin_Load` only (an NVSE without a preload pass), while the
    /// game's threads already allocate.
    Load,
}

/// Another mod's hook, in place before any plugin loads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prehook {
    /// `GameHeap_Free` jumps to another heap mod's function.
    HeapFree,
}

/// How the game crashes on purpose after its checks (see `game::crash`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Crash {
    /// ECX holds a block the game heap freed a frame before.
    Freed,
    /// ECX holds a live block of the game heap.
    Live,
    /// ECX holds a pointer into nothing.
    Wild,
}

impl Crash {
    pub fn name(self) -> &'static str {
        match self {
            Crash::Freed => "freed",
            Crash::Live => "live",
            Crash::Wild => "wild",
        }
    }
}

/// Whose blocks the game's allocation functions are expected to return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// The plugin's: its hooks serve them, the game's own functions never run.
    Ours,
    /// The game's own: the plugin left them alone (or there is no plugin).
    Vanilla,
}

/// The synthetic game's part of a `game` scenario (see `game/game.c`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GameOptions {
    pub moment: Moment,
    pub prehook: Option<Prehook>,
    /// Game threads allocating from start-up to the checks, and playing.
    pub threads: usize,
    pub expect: Expect,
    /// Seconds the game plays after the checks (0: none).
    pub play_seconds: u32,
    /// Game threads that allocate while the address space runs out, after
    /// the checks (0: none; see `game::exhaust`).
    pub exhaust: usize,
    /// The address space runs out before the game's C runtime made its heap.
    pub exhaust_before_runtime: bool,
    /// Frames of the engine's stale readers after the checks (0: none; see
    /// `game::stale`).
    pub stale_frames: u32,
    /// A crash on purpose at the end, with crash-logger filters installed
    /// before and after the plugins.
    pub crash: Option<Crash>,
    /// Whether the checks run after the first frame (the benchmark only
    /// needs the game started).
    pub checks: bool,
}

impl Default for GameOptions {
    fn default() -> GameOptions {
        GameOptions {
            moment: Moment::Preload,
            prehook: None,
            threads: 4,
            expect: Expect::Ours,
            play_seconds: 0,
            exhaust: 0,
            exhaust_before_runtime: false,
            stale_frames: 0,
            crash: None,
            checks: true,
        }
    }
}

/// The `bench` scenario's workloads and game sessions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BenchOptions {
    pub scale: workloads::Scale,
    pub workloads: Vec<workloads::Workload>,
    pub sessions: Vec<workloads::Session>,
    /// The frame session (`game-frames`: every call timed, at 60 frames
    /// per second).
    pub frames: bool,
    /// The allocation functions they call.
    pub via: Via,
    /// The allocator's name in the records when a plugin serves them, in
    /// place of the path's own (`--label`: the same path with other
    /// settings, e.g. `game-heap-undelayed`).
    pub label: Option<String>,
}

/// Which allocation functions the benchmark calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// This program's own C runtime imports (msvcrt's `malloc` family).
    Imports,
    /// The synthetic game's heap object (thiscall Allocate, Free, Realloc).
    GameHeap,
    /// The synthetic game's static C runtime (cdecl `malloc` family).
    StaticCrt,
}

impl Via {
    pub fn name(self) -> &'static str {
        match self {
            Via::Imports => "imports",
            Via::GameHeap => "game-heap",
            Via::StaticCrt => "static-crt",
        }
    }

    fn from_name(name: &str) -> Option<Via> {
        [Via::Imports, Via::GameHeap, Via::StaticCrt].into_iter().find(|v| v.name() == name)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scenario {
    pub mode: Mode,
    pub exit: Exit,
    pub fixtures: Fixtures,
    /// The synthetic game's allocators and their checks (`game` scenario).
    pub game: Option<GameOptions>,
    /// The workloads to run through the C runtime (`bench` scenario).
    pub bench: Option<BenchOptions>,
}

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// A session of the stand-in.
    Run(Box<Scenario>),
    /// Print the synthetic game's profile (TOML) on stdout.
    GameProfile,
}

/// The file name part of a path given on the command line (either separator).
#[cfg_attr(not(windows), allow(dead_code))]
pub fn file_name_of(path: &str) -> &str {
    path.rsplit(['\\', '/']).next().unwrap_or(path)
}

fn parse_exit(value: &str) -> Result<Exit, String> {
    match value {
        "game" => Ok(Exit::Game),
        "console" => Ok(Exit::Console),
        "none" => Ok(Exit::None),
        _ => Err(format!("--exit {value}: expected `game`, `console` or `none`")),
    }
}

/// Reads the command line (without the program's name).
pub fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Command, String> {
    let mode = match args.next().as_deref() {
        Some("session") => Mode::Game { runtime: nvse_abi::RUNTIME_VERSION_1_4_0_525 },
        Some("editor") => Mode::Editor,
        Some("game") => return parse_game(args).map(|scenario| Command::Run(Box::new(scenario))),
        Some("bench") => return parse_bench(args).map(|scenario| Command::Run(Box::new(scenario))),
        Some("game-profile") => {
            return match args.next() {
                None => Ok(Command::GameProfile),
                Some(extra) => Err(format!("game-profile takes no options (got {extra})")),
            }
        }
        other => {
            return Err(format!(
                "unknown scenario {other:?}; expected `session`, `editor`, `game`, `game-profile` or `bench`"
            ))
        }
    };
    let mut scenario = Scenario { mode, exit: Exit::Game, fixtures: Fixtures::default(), game: None, bench: None };
    while let Some(flag) = args.next() {
        let switch = match flag.as_str() {
            "--check-host" => Some(&mut scenario.fixtures.check_host),
            "--exit-checks" => Some(&mut scenario.fixtures.exit_checks),
            "--exhaust-tls" => Some(&mut scenario.fixtures.exhaust_tls),
            "--expect-no-heap" => Some(&mut scenario.fixtures.expect_no_heap),
            _ => None,
        };
        if let Some(switch) = switch {
            *switch = true;
            continue;
        }
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match (flag.as_str(), &mut scenario.mode) {
            ("--runtime", Mode::Game { runtime }) => {
                let hex = value.trim_start_matches("0x");
                *runtime = u32::from_str_radix(hex, 16).map_err(|e| format!("--runtime {value}: {e}"))?;
            }
            ("--exit", _) => scenario.exit = parse_exit(&value)?,
            ("--fixture", _) => scenario.fixtures.early.push(value),
            ("--late-fixture", _) => scenario.fixtures.late.push(value),
            ("--corrupt-imports", _) => scenario.fixtures.corrupt_imports = Some(value),
            ("--hook-free", _) => scenario.fixtures.hook_free = Some(value),
            ("--churn-threads", _) => {
                scenario.fixtures.churn_threads = value.parse().map_err(|e| format!("--churn-threads {value}: {e}"))?;
            }
            ("--thread-storm", _) => {
                scenario.fixtures.thread_storm = value.parse().map_err(|e| format!("--thread-storm {value}: {e}"))?;
            }
            ("--expect-left-alone", _) => scenario.fixtures.left_alone.push(value),
            ("--cross", _) => {
                let taker = args.next().ok_or("--cross needs two fixtures")?;
                scenario.fixtures.cross = Some((value, taker));
            }
            ("--provoke", _) => {
                let bug = [Bug::Overrun, Bug::UseAfterFree].into_iter().find(|b| b.name() == value);
                scenario.fixtures.provoke = Some(bug.ok_or(format!("--provoke {value}: overrun or use-after-free"))?);
            }
            ("--leak", _) => scenario.fixtures.leak = value.parse().map_err(|e| format!("--leak {value}: {e}"))?,
            ("--play-seconds", _) => {
                scenario.fixtures.play_seconds = value.parse().map_err(|e| format!("--play-seconds {value}: {e}"))?;
            }
            _ => return Err(format!("unknown option {flag} for this scenario")),
        }
    }
    // Only a fixture loaded before the plugins can be tampered with before they look at it.
    let fixtures = &scenario.fixtures;
    for (option, name) in [("--corrupt-imports", &fixtures.corrupt_imports), ("--hook-free", &fixtures.hook_free)] {
        if let Some(name) = name {
            if !fixtures.early.iter().any(|f| file_name_of(f).eq_ignore_ascii_case(name)) {
                return Err(format!("{option} {name}: not the file name of a --fixture"));
            }
        }
    }
    Ok(Command::Run(Box::new(scenario)))
}

/// The options of the `game` scenario.
fn parse_game(mut args: impl Iterator<Item = String>) -> Result<Scenario, String> {
    let mut options = GameOptions::default();
    let mut exit = Exit::Game;
    while let Some(flag) = args.next() {
        if flag == "--exhaust-before-runtime" {
            options.exhaust_before_runtime = true;
            continue;
        }
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--exhaust" => options.exhaust = value.parse().map_err(|e| format!("--exhaust {value}: {e}"))?,
            "--stale" => options.stale_frames = value.parse().map_err(|e| format!("--stale {value}: {e}"))?,
            "--moment" => {
                options.moment = match value.as_str() {
                    "preload" => Moment::Preload,
                    "load" => Moment::Load,
                    _ => return Err(format!("--moment {value}: expected `preload` or `load`")),
                }
            }
            "--crash" => {
                options.crash = Some(match value.as_str() {
                    "freed" => Crash::Freed,
                    "live" => Crash::Live,
                    "wild" => Crash::Wild,
                    _ => return Err(format!("--crash {value}: expected `freed`, `live` or `wild`")),
                })
            }
            "--prehook" => {
                options.prehook = match value.as_str() {
                    "heap-free" => Some(Prehook::HeapFree),
                    _ => return Err(format!("--prehook {value}: expected `heap-free`")),
                }
            }
            "--threads" => options.threads = value.parse().map_err(|e| format!("--threads {value}: {e}"))?,
            "--expect" => {
                options.expect = match value.as_str() {
                    "ours" => Expect::Ours,
                    "vanilla" => Expect::Vanilla,
                    _ => return Err(format!("--expect {value}: expected `ours` or `vanilla`")),
                }
            }
            "--exit" => exit = parse_exit(&value)?,
            "--play" => options.play_seconds = value.parse().map_err(|e| format!("--play {value}: {e}"))?,
            _ => return Err(format!("unknown option {flag} for the game scenario")),
        }
    }
    Ok(Scenario {
        mode: Mode::Game { runtime: nvse_abi::RUNTIME_VERSION_1_4_0_525 },
        exit,
        fixtures: Fixtures::default(),
        game: Some(options),
        bench: None,
    })
}

/// The options of the `bench` scenario.
fn parse_bench(mut args: impl Iterator<Item = String>) -> Result<Scenario, String> {
    let mut options = BenchOptions {
        scale: workloads::Scale::Full,
        workloads: Vec::new(),
        sessions: Vec::new(),
        frames: false,
        via: Via::Imports,
        label: None,
    };
    while let Some(flag) = args.next() {
        if flag == "--quick" {
            options.scale = workloads::Scale::Quick;
            continue;
        }
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--scale" => {
                options.scale = workloads::Scale::from_name(&value)
                    .ok_or_else(|| format!("--scale {value}: expected `full`, `quick` or `smoke`"))?
            }
            "--workload" if value == workloads::latency::frames::NAME => options.frames = true,
            "--workload" => match (workloads::Workload::from_name(&value), workloads::Session::from_name(&value)) {
                (Some(workload), _) => options.workloads.push(workload),
                (None, Some(session)) => options.sessions.push(session),
                (None, None) => return Err(format!("--workload {value}: no such workload or session")),
            },
            "--label" => options.label = Some(value),
            "--via" => {
                options.via = Via::from_name(&value)
                    .ok_or_else(|| format!("--via {value}: expected `imports`, `game-heap` or `static-crt`"))?
            }
            _ => return Err(format!("unknown option {flag} for the bench scenario")),
        }
    }
    if options.workloads.is_empty() && options.sessions.is_empty() && !options.frames {
        options.workloads = workloads::Workload::ALL.to_vec();
        options.sessions = workloads::Session::ALL.to_vec();
        options.frames = true;
    }
    // The game's paths need the synthetic game started (its runtime's heap
    // and its heap object), with no game thread and no checks.
    let game = (options.via != Via::Imports).then_some(GameOptions { threads: 0, checks: false, ..Default::default() });
    Ok(Scenario {
        mode: Mode::Game { runtime: nvse_abi::RUNTIME_VERSION_1_4_0_525 },
        exit: Exit::Game,
        fixtures: Fixtures::default(),
        game,
        bench: Some(options),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Scenario, String> {
        match parse_args(args.iter().map(|s| s.to_string()))? {
            Command::Run(scenario) => Ok(*scenario),
            Command::GameProfile => Err("game-profile".into()),
        }
    }

    #[test]
    fn scenarios_parse() {
        let game = Mode::Game { runtime: 0x040020D0 };
        assert_eq!(
            parse(&["session"]).unwrap(),
            Scenario { mode: game, exit: Exit::Game, fixtures: Fixtures::default(), game: None, bench: None }
        );
        assert_eq!(
            parse(&["session", "--runtime", "0x03001C40", "--exit", "console"]).unwrap(),
            Scenario {
                mode: Mode::Game { runtime: 0x03001C40 },
                exit: Exit::Console,
                fixtures: Fixtures::default(),
                game: None,
                bench: None
            }
        );
        assert_eq!(parse(&["editor"]).unwrap().mode, Mode::Editor);
    }

    #[test]
    fn fixture_options_parse() {
        let scenario = parse(&[
            "session",
            "--fixture",
            "crt_msvcrt.dll",
            "--fixture",
            "sub\\crt_ucrt.dll",
            "--late-fixture",
            "crt_msvcr90.dll",
            "--corrupt-imports",
            "CRT_UCRT.dll",
            "--hook-free",
            "crt_msvcrt.dll",
            "--churn-threads",
            "2",
            "--check-host",
            "--exit-checks",
            "--thread-storm",
            "1000",
            "--exhaust-tls",
            "--expect-left-alone",
            "crt_ucrt.dll",
            "--expect-no-heap",
            "--leak",
            "4096",
            "--play-seconds",
            "3",
        ])
        .unwrap();
        assert_eq!(
            scenario.fixtures,
            Fixtures {
                early: vec!["crt_msvcrt.dll".into(), "sub\\crt_ucrt.dll".into()],
                late: vec!["crt_msvcr90.dll".into()],
                corrupt_imports: Some("CRT_UCRT.dll".into()),
                hook_free: Some("crt_msvcrt.dll".into()),
                churn_threads: 2,
                check_host: true,
                exit_checks: true,
                thread_storm: 1000,
                exhaust_tls: true,
                left_alone: vec!["crt_ucrt.dll".into()],
                expect_no_heap: true,
                leak: 4096,
                play_seconds: 3,
                cross: None,
                provoke: None,
            }
        );
        assert!(parse(&["editor", "--check-host"]).unwrap().fixtures.check_host);
    }

    #[test]
    fn bad_arguments_are_errors() {
        assert!(parse(&[]).is_err());
        assert!(parse(&["session", "--runtime"]).is_err());
        assert!(parse(&["session", "--runtime", "zz"]).is_err());
        assert!(parse(&["editor", "--runtime", "0x1"]).is_err());
        assert!(parse(&["session", "--exit", "later"]).is_err());
        assert!(parse(&["session", "--fixture"]).is_err());
        assert!(parse(&["session", "--churn-threads", "-1"]).is_err());
        // Only an early fixture can be tampered with.
        assert!(parse(&["session", "--late-fixture", "a.dll", "--corrupt-imports", "a.dll"]).is_err());
        assert!(parse(&["session", "--corrupt-imports", "a.dll"]).is_err());
        // Likewise for hooking one's free.
        assert!(parse(&["session", "--late-fixture", "a.dll", "--hook-free", "a.dll"]).is_err());
        assert!(parse(&["session", "--hook-free"]).is_err());
    }

    #[test]
    fn game_options_parse() {
        let scenario = parse(&["game"]).unwrap();
        assert_eq!(scenario.game, Some(GameOptions::default()));
        assert_eq!(scenario.mode, Mode::Game { runtime: nvse_abi::RUNTIME_VERSION_1_4_0_525 });
        assert_eq!(scenario.exit, Exit::Game);
        assert_eq!(scenario.fixtures, Fixtures::default());
        let scenario = parse(&[
            "game",
            "--moment",
            "load",
            "--prehook",
            "heap-free",
            "--threads",
            "0",
            "--expect",
            "vanilla",
            "--exit",
            "console",
            "--play",
            "30",
            "--exhaust",
            "4",
            "--exhaust-before-runtime",
            "--stale",
            "120",
            "--crash",
            "freed",
        ])
        .unwrap();
        assert_eq!(
            scenario.game,
            Some(GameOptions {
                moment: Moment::Load,
                prehook: Some(Prehook::HeapFree),
                threads: 0,
                expect: Expect::Vanilla,
                play_seconds: 30,
                exhaust: 4,
                exhaust_before_runtime: true,
                stale_frames: 120,
                crash: Some(Crash::Freed),
                checks: true,
            })
        );
        assert_eq!(scenario.exit, Exit::Console);
        assert_eq!(parse(&["game", "--moment", "preload"]).unwrap().game.unwrap().moment, Moment::Preload);
        assert_eq!(parse(&["game", "--expect", "ours"]).unwrap().game.unwrap().expect, Expect::Ours);
        assert_eq!(parse_args(["game-profile".to_string()].into_iter()), Ok(Command::GameProfile));
        // Sessions are not games.
        assert_eq!(parse(&["session"]).unwrap().game, None);
    }

    #[test]
    fn bad_game_options_are_errors() {
        assert!(parse(&["game", "--moment"]).is_err());
        assert!(parse(&["game", "--moment", "later"]).is_err());
        assert!(parse(&["game", "--prehook", "heap-size"]).is_err());
        assert!(parse(&["game", "--threads", "-1"]).is_err());
        assert!(parse(&["game", "--expect", "theirs"]).is_err());
        assert!(parse(&["game", "--exit", "later"]).is_err());
        assert_eq!(parse(&["game", "--exit", "none"]).unwrap().exit, Exit::None);
        assert!(parse(&["game", "--play"]).is_err());
        assert!(parse(&["game", "--play", "-1"]).is_err());
        // The fixtures belong to sessions.
        assert!(parse(&["game", "--fixture", "a.dll"]).is_err());
        assert!(parse(&["game", "--check-host"]).is_err());
        assert!(parse_args(["game-profile".to_string(), "--moment".to_string()].into_iter()).is_err());
    }

    #[test]
    fn bench_options_parse() {
        use workloads::{Scale, Session, Workload};
        let scenario = parse(&["bench"]).unwrap();
        let all = BenchOptions {
            scale: Scale::Full,
            workloads: Workload::ALL.to_vec(),
            sessions: Session::ALL.to_vec(),
            frames: true,
            via: Via::Imports,
            label: None,
        };
        assert_eq!(scenario.bench, Some(all));
        assert_eq!((scenario.game, scenario.fixtures), (None, Fixtures::default()));
        assert_eq!(parse(&["bench", "--quick"]).unwrap().bench.unwrap().scale, Scale::Quick);
        let scenario = parse(&["bench", "--scale", "smoke", "--workload", "larson-like"]).unwrap();
        let one = BenchOptions {
            scale: Scale::Smoke,
            workloads: vec![Workload::LarsonLike],
            sessions: vec![],
            frames: false,
            via: Via::Imports,
            label: None,
        };
        assert_eq!(scenario.bench, Some(one));
        let scenario = parse(&["bench", "--workload", "game-session-1t"]).unwrap();
        let session = BenchOptions {
            scale: Scale::Full,
            workloads: vec![],
            sessions: vec![Session::OneThread],
            frames: false,
            via: Via::Imports,
            label: None,
        };
        assert_eq!(scenario.bench, Some(session));
        let frames = parse(&["bench", "--workload", "game-frames"]).unwrap().bench.unwrap();
        assert!(frames.frames && frames.workloads.is_empty() && frames.sessions.is_empty());
        // The game's paths start the synthetic game, without threads or checks.
        let scenario = parse(&["bench", "--via", "game-heap", "--workload", "small-churn"]).unwrap();
        assert_eq!(scenario.bench.unwrap().via, Via::GameHeap);
        assert_eq!(scenario.game, Some(GameOptions { threads: 0, checks: false, ..GameOptions::default() }));
        assert_eq!(parse(&["bench", "--via", "static-crt"]).unwrap().bench.unwrap().via, Via::StaticCrt);
        let labelled = parse(&["bench", "--via", "game-heap", "--label", "game-heap-undelayed"]).unwrap();
        assert_eq!(labelled.bench.unwrap().label.as_deref(), Some("game-heap-undelayed"));
        for bad in [
            &["bench", "--scale"][..],
            &["bench", "--scale", "huge"],
            &["bench", "--workload", "x"],
            &["bench", "--check-host"],
            &["bench", "--via", "heap"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(parse(&["session"]).unwrap().bench, None);
    }

    #[test]
    fn file_names_are_taken_from_either_separator() {
        assert_eq!(file_name_of("a\\b/c.dll"), "c.dll");
        assert_eq!(file_name_of("c.dll"), "c.dll");
    }
}
