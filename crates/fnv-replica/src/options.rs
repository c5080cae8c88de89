//! The replica's command line.

/// When the plugin's code first runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Moment {
    /// xNVSE's preload pass, before `__heap_init` and the MemoryManager's
    /// constructor.
    Preload,
    /// The load pass only (an NVSE without preloading): the vanilla heaps
    /// and pools exist and hold blocks, and the game's threads allocate.
    Load,
}

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
        }
    }
}

pub const USAGE: &str = "\
usage: FalloutNV [--moment preload|load] [--expect ours|vanilla|runtime-only]
                 [--change other-free|other-identity|realloc-three-arguments]...
                 [--threads N] [--parked] [--exit game|console]";

/// Reads the command line (without the program's name).
pub fn parse(mut args: impl Iterator<Item = String>) -> Result<Options, String> {
    let mut options = Options::default();
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
            _ => return Err(format!("{flag} {value}: not an option\n{USAGE}")),
        }
    }
    if options.parked && options.moment != Moment::Load {
        return Err(
            "--parked: threads are parked in the prologues while the plugin loads at Load (--moment load)".into()
        );
    }
    Ok(options)
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
            }
        );
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
        ] {
            assert!(parse_all(bad).is_err(), "{bad:?}");
        }
    }
}
