//! The replica's command line.

/// When the plugin's code first runs: at Preload, before `__heap_init` and
/// the MemoryManager's constructor; at Load only, once the vanilla heaps and
/// pools hold blocks and the game's threads allocate.
pub use nvse_host::Moment;

/// Whose blocks the game's allocation functions are expected to return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// The plugin's, from every entry.
    Ours,
    /// The game's own, from every entry.
    Vanilla,
    /// The plugin's from the C runtime's entries, the game's from its heap's.
    RuntimeOnly,
}

/// Changes to the executable before anything runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Changes {
    /// Another heap mod's `jmp` at the start of MemoryManager::Free.
    pub other_free: bool,
    /// Another build's byte in the bytes that identify the executable.
    pub other_identity: bool,
    /// The second reallocate pops three arguments (`ret 0Ch`), and is called so.
    pub realloc_three_arguments: bool,
}

/// xNVSE's `[Memory]` heap sizes in MB, as `nvse_config.ini` gives them
/// (none: the key is not there).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HeapSizes {
    pub default_mb: Option<u32>,
    pub file_mb: Option<u32>,
}

/// A game session through the game heap instead of the checks' blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionRun {
    pub session: workloads::Session,
    pub scale: workloads::Scale,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    pub moment: Moment,
    pub expect: Expect,
    pub changes: Changes,
    /// Game threads allocating through every entry from start-up to the checks.
    pub threads: usize,
    /// Threads stopped inside the prologue of every hooked function while
    /// the plugin loads, resumed after it.
    pub parked: bool,
    pub exit_console: bool,
    pub heap_sizes: HeapSizes,
    pub session: Option<SessionRun>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            moment: Moment::Preload,
            expect: Expect::Ours,
            changes: Changes::default(),
            threads: 0,
            parked: false,
            exit_console: false,
            heap_sizes: HeapSizes::default(),
            session: None,
        }
    }
}

pub const USAGE: &str = "\
usage: FalloutNV [--moment preload|load] [--expect ours|vanilla|runtime-only]
                 [--change other-free|other-identity|realloc-three-arguments]...
                 [--threads N] [--parked] [--exit game|console]
                 [--default-heap-mb N] [--file-heap-mb N]
                 [--session game-session-1t|game-session-4t [--scale full|quick|smoke]]";

/// Reads the command line (without the program's name).
pub fn parse(mut args: impl Iterator<Item = String>) -> Result<Options, String> {
    let mut options = Options::default();
    let mut scale = None;
    while let Some(flag) = args.next() {
        if flag == "--parked" {
            options.parked = true;
            continue;
        }
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match (flag.as_str(), value.as_str()) {
            ("--moment", "preload") => options.moment = Moment::Preload,
            ("--moment", "load") => options.moment = Moment::Load,
            ("--expect", "ours") => options.expect = Expect::Ours,
            ("--expect", "vanilla") => options.expect = Expect::Vanilla,
            ("--expect", "runtime-only") => options.expect = Expect::RuntimeOnly,
            ("--change", "other-free") => options.changes.other_free = true,
            ("--change", "other-identity") => options.changes.other_identity = true,
            ("--change", "realloc-three-arguments") => options.changes.realloc_three_arguments = true,
            ("--threads", n) => options.threads = n.parse().map_err(|e| format!("--threads {n}: {e}"))?,
            ("--exit", "game") => options.exit_console = false,
            ("--exit", "console") => options.exit_console = true,
            ("--default-heap-mb", n) => options.heap_sizes.default_mb = Some(megabytes(&flag, n)?),
            ("--file-heap-mb", n) => options.heap_sizes.file_mb = Some(megabytes(&flag, n)?),
            ("--session", name) => {
                let session =
                    workloads::Session::from_name(name).ok_or(format!("--session {name}: no such session"))?;
                options.session = Some(SessionRun { session, scale: workloads::Scale::Full });
            }
            ("--scale", name) => scale = Some(scale_of(name)?),
            _ => return Err(format!("{flag} {value}: not an option\n{USAGE}")),
        }
    }
    if options.parked && options.moment != Moment::Load {
        return Err(
            "--parked: threads are parked in the prologues while the plugin loads at Load (--moment load)".into()
        );
    }
    match (&mut options.session, scale) {
        (Some(run), Some(scale)) => run.scale = scale,
        (None, Some(_)) => return Err("--scale: the scale of a --session".into()),
        _ => {}
    }
    if options.session.is_some() && (options.threads > 0 || options.parked) {
        return Err("--session: the session's threads are the game's; no --threads or --parked".into());
    }
    Ok(options)
}

/// A size in MB as xNVSE reads it (`%lu`): any whole number.
fn megabytes(flag: &str, value: &str) -> Result<u32, String> {
    value.parse().map_err(|e| format!("{flag} {value}: {e}"))
}

fn scale_of(name: &str) -> Result<workloads::Scale, String> {
    workloads::Scale::from_name(name).ok_or(format!("--scale {name}: full, quick or smoke"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(args: &[&str]) -> Result<Options, String> {
        parse(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn options_parse() {
        assert_eq!(parse_all(&[]).unwrap(), Options::default());
        let options = parse_all(&[
            "--moment",
            "load",
            "--expect",
            "runtime-only",
            "--change",
            "other-free",
            "--change",
            "realloc-three-arguments",
            "--threads",
            "4",
            "--parked",
            "--exit",
            "console",
        ])
        .unwrap();
        assert_eq!(
            options,
            Options {
                moment: Moment::Load,
                expect: Expect::RuntimeOnly,
                changes: Changes { other_free: true, other_identity: false, realloc_three_arguments: true },
                threads: 4,
                parked: true,
                exit_console: true,
                heap_sizes: HeapSizes::default(),
                session: None,
            }
        );
        let options = parse_all(&[
            "--moment",
            "load",
            "--default-heap-mb",
            "1024",
            "--file-heap-mb",
            "0",
            "--session",
            "game-session-4t",
            "--scale",
            "smoke",
        ])
        .unwrap();
        assert_eq!(options.heap_sizes, HeapSizes { default_mb: Some(1024), file_mb: Some(0) });
        assert_eq!(
            options.session,
            Some(SessionRun { session: workloads::Session::FourThreads, scale: workloads::Scale::Smoke })
        );
        let full = parse_all(&["--session", "game-session-1t"]).unwrap().session.unwrap();
        assert_eq!(full.scale, workloads::Scale::Full);
    }

    #[test]
    fn mistakes_are_errors() {
        for bad in [
            &["--moment"][..],
            &["--moment", "later"],
            &["--expect", "theirs"],
            &["--change", "nothing"],
            &["--threads", "-1"],
            &["--parked"],
            &["--exit", "later"],
            &["--fixture", "a.dll"],
            &["--default-heap-mb", "-5"],
            &["--file-heap-mb", "big"],
            &["--session", "game-session-2t"],
            &["--scale", "smoke"],
            &["--session", "game-session-1t", "--scale", "huge"],
            &["--session", "game-session-1t", "--threads", "2"],
        ] {
            assert!(parse_all(bad).is_err(), "{bad:?}");
        }
    }
}
