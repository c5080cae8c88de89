//! `nvse-host`: a stand-in for xNVSE and Fallout: New Vegas, for tests.
//!
//! It loads the DLLs in `<exe folder>\Data\NVSE\Plugins\` the way xNVSE does
//! (export check with imagehlp, `NVSEPlugin_Preload` before the game's static
//! initialisers, a Query pass over every plugin, a Load pass over those that
//! accepted, then NVSE's messages in a session's order) and prints one line
//! per event on stdout, for the end-to-end tests to check.
//!
//! ```text
//! nvse-host session [--runtime 0xHEX] [--exit game|console]
//! nvse-host editor
//! ```

#[cfg(windows)]
mod nvse;
#[cfg(windows)]
mod plugins;
#[cfg(windows)]
mod session;

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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scenario {
    pub mode: Mode,
    pub exit: Exit,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Scenario, String> {
    let mut scenario = match args.next().as_deref() {
        Some("session") => {
            Scenario { mode: Mode::Game { runtime: nvse_abi::RUNTIME_VERSION_1_4_0_525 }, exit: Exit::Game }
        }
        Some("editor") => Scenario { mode: Mode::Editor, exit: Exit::Game },
        other => return Err(format!("unknown scenario {other:?}; expected `session` or `editor`")),
    };
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match (flag.as_str(), &mut scenario.mode) {
            ("--runtime", Mode::Game { runtime }) => {
                let hex = value.trim_start_matches("0x");
                *runtime = u32::from_str_radix(hex, 16).map_err(|e| format!("--runtime {value}: {e}"))?;
            }
            ("--exit", _) => {
                scenario.exit = match value.as_str() {
                    "game" => Exit::Game,
                    "console" => Exit::Console,
                    _ => return Err(format!("--exit {value}: expected `game` or `console`")),
                }
            }
            _ => return Err(format!("unknown option {flag} for this scenario")),
        }
    }
    Ok(scenario)
}

#[cfg(windows)]
fn main() {
    let scenario = match parse_args(std::env::args().skip(1)) {
        Ok(scenario) => scenario,
        Err(message) => {
            eprintln!("nvse-host: {message}");
            std::process::exit(2);
        }
    };
    std::process::exit(session::run(scenario));
}

#[cfg(not(windows))]
fn main() {
    eprintln!("nvse-host is a Windows program; build it for i686-pc-windows-gnu and run it under Wine");
    std::process::exit(2);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Scenario, String> {
        parse_args(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn scenarios_parse() {
        assert_eq!(
            parse(&["session"]).unwrap(),
            Scenario { mode: Mode::Game { runtime: 0x040020D0 }, exit: Exit::Game }
        );
        assert_eq!(
            parse(&["session", "--runtime", "0x03001C40", "--exit", "console"]).unwrap(),
            Scenario { mode: Mode::Game { runtime: 0x03001C40 }, exit: Exit::Console }
        );
        assert_eq!(parse(&["editor"]).unwrap().mode, Mode::Editor);
    }

    #[test]
    fn bad_arguments_are_errors() {
        assert!(parse(&[]).is_err());
        assert!(parse(&["session", "--runtime"]).is_err());
        assert!(parse(&["session", "--runtime", "zz"]).is_err());
        assert!(parse(&["editor", "--runtime", "0x1"]).is_err());
        assert!(parse(&["session", "--exit", "later"]).is_err());
    }
}
