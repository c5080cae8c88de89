//! A group of hooks that goes live as a whole, or not at all.
//!
//! [`Transaction::hook`] does everything that can fail, target by target:
//! reading and checking the bytes, planning and writing the trampoline.
//! [`Transaction::commit`] then makes the trampolines executable, the
//! targets' pages writable, and in one suspension of every other thread
//! moves the threads stopped in the bytes being replaced into the
//! trampolines and writes every jump, so that a thread born meanwhile never
//! runs one half-written (`write`).

use std::sync::Mutex;
use std::time::Duration;

use crate::buffer::Stage;
use crate::error::{Error, GroupError};
use crate::freeze::{self, Frozen};
use crate::hook::{jump_patch, read_code, Hook, HookId, Unprotected};
use crate::trampoline::{self, Plan, LOOKAHEAD};
use crate::write;

/// Commits happen one at a time in the process: two could otherwise race on
/// the same page's protection, or suspend each other.
static COMMITTING: Mutex<()> = Mutex::new(());

/// How often a commit suspends the threads again when one of them stopped
/// where it cannot be moved, a millisecond apart.
const ATTEMPTS: u32 = 20;

/// A group of hooks being prepared.
pub struct Transaction {
    prepared: Vec<Prepared>,
    stage: Stage,
    /// The first hook refused: the group will not go live.
    refused: Option<GroupError>,
}

/// One hook or raw patch, ready to be written.
struct Prepared {
    target: usize,
    /// The hook's detour, `None` for a raw patch.
    detour: Option<usize>,
    /// The moved instructions, `None` for a raw patch.
    plan: Option<Plan>,
    trampoline: usize,
    /// The bytes the patch replaces, as read when planning.
    original: Vec<u8>,
    patch: Vec<u8>,
}

impl Default for Transaction {
    fn default() -> Self {
        Transaction::new()
    }
}

impl Transaction {
    pub fn new() -> Transaction {
        Transaction { prepared: Vec::new(), stage: Stage::new(), refused: None }
    }

    /// Prepares a hook sending every call of `target` to `detour`; nothing is
    /// written at `target` until [`commit`](Transaction::commit). With
    /// `expected`, the target's first bytes must be these.
    ///
    /// The trampoline's address is known from here on: store it where the
    /// detour finds it before committing, as a thread may call the detour
    /// the moment the group is live. A refused hook makes the whole group
    /// refuse to commit.
    pub fn hook(&mut self, target: usize, detour: usize, expected: Option<&[u8]>) -> Result<HookId, Error> {
        let index = self.prepared.len();
        match self.prepare(target, detour, expected) {
            Ok(prepared) => {
                let id = HookId { index, trampoline: prepared.trampoline };
                self.prepared.push(prepared);
                Ok(id)
            }
            Err(error) => {
                self.refused.get_or_insert(GroupError::Target { index, target, error: error.clone() });
                Err(error)
            }
        }
    }

    fn prepare(&mut self, target: usize, detour: usize, expected: Option<&[u8]>) -> Result<Prepared, Error> {
        let code = read_code(target, LOOKAHEAD).ok_or(Error::NotCode)?;
        if let Some(expected) = expected {
            let found = &code[..code.len().min(expected.len())];
            if found != expected {
                return Err(Error::Mismatch { found: found.to_vec(), expected: expected.to_vec() });
            }
        }
        let at = self.stage.next().map_err(Error::Trampoline)?;
        let plan = trampoline::plan(&code, target, at)?;
        let span = target..target + plan.moved_len();
        if let Some(other) = self.prepared.iter().find(|p| p.target < span.end && span.start < p.end()) {
            return Err(Error::Overlap { other: other.target });
        }
        let trampoline = self.stage.fill(plan.code());
        let original = code[..plan.moved_len()].to_vec();
        let patch = jump_patch(target, detour, plan.moved_len());
        Ok(Prepared { target, detour: Some(detour), plan: Some(plan), trampoline, original, patch })
    }

    /// Prepares a raw patch: `bytes` written at `address` when the group goes
    /// live, if the bytes there then are still `found` (which the caller has
    /// read with [`read_code`](crate::read_code) and checked). A thread
    /// stopped inside the patched bytes, past their first, makes the commit
    /// wait for it to leave; one stopped at `address` runs the new bytes.
    pub fn patch(&mut self, address: usize, found: &[u8], bytes: &[u8]) -> Result<(), Error> {
        let index = self.prepared.len();
        let result = self.prepare_patch(address, found, bytes);
        match result {
            Ok(prepared) => {
                self.prepared.push(prepared);
                Ok(())
            }
            Err(error) => {
                self.refused.get_or_insert(GroupError::Target { index, target: address, error: error.clone() });
                Err(error)
            }
        }
    }

    fn prepare_patch(&self, address: usize, found: &[u8], bytes: &[u8]) -> Result<Prepared, Error> {
        if bytes.is_empty() || found.len() < bytes.len() {
            return Err(Error::Mismatch { found: found.to_vec(), expected: bytes.to_vec() });
        }
        let code = read_code(address, found.len()).ok_or(Error::NotCode)?;
        if code != found {
            return Err(if code.len() < found.len() { Error::NotCode } else { Error::Changed });
        }
        let span = address..address + bytes.len();
        if let Some(other) = self.prepared.iter().find(|p| p.target < span.end && span.start < p.end()) {
            return Err(Error::Overlap { other: other.target });
        }
        let original = code[..bytes.len()].to_vec();
        Ok(Prepared { target: address, detour: None, plan: None, trampoline: 0, original, patch: bytes.to_vec() })
    }

    /// Makes the group live: every hook and patch, or none if any was
    /// refused or cannot be written. Returns the hooks in the order they
    /// were added (raw patches have none).
    pub fn commit(mut self) -> Result<Vec<Hook>, GroupError> {
        if let Some(refused) = self.refused.take() {
            return Err(refused);
        }
        if self.prepared.is_empty() {
            // Nothing to write: no reason to stop the process.
            return Ok(Vec::new());
        }
        let _one_at_a_time = COMMITTING.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        self.stage.seal().map_err(GroupError::Trampolines)?;
        let mut unprotected = Unprotected::default();
        for (index, p) in self.prepared.iter().enumerate() {
            unprotected.lift(p.target, p.patch.len()).map_err(|code| self.refusal(index, Error::Protect(code)))?;
        }
        self.write_all()?;
        drop(unprotected);
        let hooks = self
            .prepared
            .iter()
            .filter_map(|p| p.detour.map(|detour| Hook { target: p.target, detour, trampoline: p.trampoline }));
        let hooks = hooks.collect();
        self.stage.keep();
        Ok(hooks)
    }

    /// Suspends the other threads, moves those inside the bytes to replace,
    /// writes every patch, and resumes them.
    fn write_all(&self) -> Result<(), GroupError> {
        let mut attempt = 1;
        loop {
            let ids = freeze::other_threads().map_err(GroupError::Threads)?;
            let mut frozen = Frozen::suspend(&ids);
            match frozen.move_ips(|eip| self.relocate(eip)) {
                Ok(()) => return self.write_frozen(&frozen),
                Err(index) if attempt == ATTEMPTS => return Err(self.refusal(index, Error::Busy)),
                Err(_) => {
                    drop(frozen);
                    std::thread::sleep(Duration::from_millis(1));
                    attempt += 1;
                }
            }
        }
    }

    /// With every other thread suspended and moved: checks that no target
    /// changed since it was planned, then writes them all.
    fn write_frozen(&self, frozen: &Frozen) -> Result<(), GroupError> {
        for (index, p) in self.prepared.iter().enumerate() {
            // SAFETY: the target's bytes were read when planning; code stays mapped.
            let now = unsafe { core::slice::from_raw_parts(p.target as *const u8, p.original.len()) };
            if now != p.original.as_slice() {
                return Err(self.refusal(index, Error::Changed));
            }
        }
        // SAFETY: the pages are writable and executable (lifted by
        // `commit`), every thread of the list is suspended and none is
        // stopped inside these bytes (moved to the trampolines), the
        // trampolines are executable, each target starts an instruction, and
        // no two targets overlap (checked when preparing them).
        unsafe { write::patch_all(self.prepared.iter().map(|p| (p.target, p.patch.as_slice()))) };
        frozen.apply();
        Ok(())
    }

    /// Where a thread stopped at `eip` goes on: `None` if outside every
    /// target's replaced bytes (or at a raw patch's first byte, where it
    /// runs the new bytes); else the same instruction in the trampoline, or
    /// the index of the hook or patch it blocks.
    fn relocate(&self, eip: usize) -> Option<Result<usize, usize>> {
        let (index, p) = self.prepared.iter().enumerate().find(|(_, p)| (p.target..p.end()).contains(&eip))?;
        match &p.plan {
            Some(plan) => Some(plan.new_offset(eip - p.target).map(|new| p.trampoline + new).ok_or(index)),
            None if eip == p.target => None,
            None => Some(Err(index)),
        }
    }

    fn refusal(&self, index: usize, error: Error) -> GroupError {
        GroupError::Target { index, target: self.prepared[index].target, error }
    }
}

impl Prepared {
    /// The end of the bytes the patch replaces.
    fn end(&self) -> usize {
        self.target + self.patch.len()
    }
}
