//! Why a target, or a group of them, was left as it was found.

use core::fmt;

use crate::trampoline::PlanError;

/// Why one target cannot be hooked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// Its first instructions cannot be moved, or another hook is there.
    Plan(PlanError),
    /// Its first bytes are not the ones the caller expected.
    Mismatch { found: Vec<u8>, expected: Vec<u8> },
    /// It is not in committed executable memory.
    NotCode,
    /// Its bytes overlap those of the target at this address, in the same group.
    Overlap { other: usize },
    /// No memory for its trampoline (the system's error code).
    Trampoline(u32),
    /// Its page cannot be made writable (the system's error code).
    Protect(u32),
    /// Its bytes changed between the plan and the write: someone else patched it.
    Changed,
    /// A thread kept stopping inside its bytes where it cannot be moved (a
    /// rewritten LOOP or JECXZ).
    Busy,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Plan(why) => why.fmt(f),
            Error::Mismatch { found, expected } => {
                write!(f, "found bytes {} where {} were expected", Hex(found), Hex(expected))
            }
            Error::NotCode => f.write_str("not in committed executable memory"),
            Error::Overlap { other } => write!(f, "overlaps the hook at {other:#x} in the same group"),
            Error::Trampoline(code) => write!(f, "no memory for the trampoline (error {code})"),
            Error::Protect(code) => write!(f, "its page cannot be made writable (error {code})"),
            Error::Changed => f.write_str("its bytes changed before the write"),
            Error::Busy => f.write_str("a thread stayed where it cannot be moved"),
        }
    }
}

impl std::error::Error for Error {}

impl From<PlanError> for Error {
    fn from(why: PlanError) -> Error {
        Error::Plan(why)
    }
}

/// Why a group went live in no part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupError {
    /// The group's hook number `index`, at `target`, was refused.
    Target { index: usize, target: usize, error: Error },
    /// The other threads of the process could not be listed (the system's error code).
    Threads(u32),
    /// The trampolines could not be made executable (the system's error code).
    Trampolines(u32),
}

impl fmt::Display for GroupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GroupError::Target { index, target, error } => write!(f, "target {index} at {target:#x}: {error}"),
            GroupError::Threads(code) => write!(f, "the process's threads cannot be listed (error {code})"),
            GroupError::Trampolines(code) => write!(f, "the trampolines cannot be made executable (error {code})"),
        }
    }
}

impl std::error::Error for GroupError {}

/// Bytes as `8B FF 55`.
struct Hex<'a>(&'a [u8]);

impl fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, byte) in self.0.iter().enumerate() {
            write!(f, "{}{byte:02X}", if i == 0 { "" } else { " " })?;
        }
        Ok(())
    }
}
