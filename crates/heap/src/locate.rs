//! What the heap knows of an address: for the note the embedder writes when
//! the process dies of an exception, about the faulting address and the
//! registers.
//!
//! Everything here may run on a thread that faulted anywhere, even inside
//! the heap: it allocates nothing, takes no lock, and reads the heap's
//! memory only where its own maps say it is, through
//! [`os::read_safely`] where a header could be gone.

use crate::backend::rpmalloc::SpanPlace;
use crate::backend::{self, Active};
use crate::{delay, guard, leaks, os, owner};

/// Where an address lies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    /// Not in memory the heap serves.
    NotOurs,
    /// In the heap's own bookkeeping (see [`Bookkeeping`]).
    Bookkeeping(Bookkeeping),
    /// In a block: where it starts, its usable size, and what became of it.
    Block { start: usize, size: usize, state: State },
    /// In a guarded block's slot (`[Debug] GuardPages`): past its block, or
    /// in the slot of a freed one, whose pages are withdrawn.
    Guarded { block: Option<(usize, usize)> },
}

/// Which bookkeeping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bookkeeping {
    /// rpmalloc's header at the start of a span.
    SpanHeader,
    /// The end of a span, past its last block.
    SpanTail,
    /// rpmalloc's other mappings (its heaps' own structures).
    Backend,
    /// The heap's own tables: thread states, delayed frees, maps.
    Tables,
}

/// What became of a block, as far as the heap can tell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Live, allocated by the code at `caller` (leak tracking knows it; 0
    /// if the caller could not be found).
    Live { caller: usize },
    /// Freed through the game heap `frames_ago` frames ago by the thread
    /// `thread`, and waiting, unchanged, before it is reused.
    Waiting { frames_ago: u32, thread: u32 },
    /// Not live: leak tracking does not know it (freed, or made while its
    /// table was full).
    NotTracked,
    /// Live, or freed and not reused yet: without leak tracking the heap
    /// cannot tell.
    Unknown,
}

/// Where `addr` lies, as far as the heap knows.
pub fn locate(addr: usize) -> Place {
    match owner::owner_of(addr as *const u8) {
        owner::RPMALLOC => in_rpmalloc(addr),
        owner::GUARDED => in_guarded(addr),
        _ if os::is_bookkeeping(addr) => Place::Bookkeeping(Bookkeeping::Tables),
        _ => Place::NotOurs,
    }
}

fn in_rpmalloc(addr: usize) -> Place {
    if !matches!(backend::active(), Active::Rpmalloc | Active::Guarded) {
        return Place::NotOurs;
    }
    match backend::rpmalloc::locate(addr) {
        None => Place::Bookkeeping(Bookkeeping::Backend),
        Some(SpanPlace::Header) => Place::Bookkeeping(Bookkeeping::SpanHeader),
        Some(SpanPlace::Tail) => Place::Bookkeeping(Bookkeeping::SpanTail),
        Some(SpanPlace::Block { start, size, request }) => {
            let size = request.filter(|&r| r <= size).unwrap_or(size);
            Place::Block { start, size, state: state_of(start) }
        }
    }
}

fn state_of(start: usize) -> State {
    if let Some((frames_ago, thread)) = delay::find(start) {
        return State::Waiting { frames_ago, thread };
    }
    match leaks::lookup(start) {
        Some(Some(caller)) => State::Live { caller },
        Some(None) => State::NotTracked,
        None => State::Unknown,
    }
}

fn in_guarded(addr: usize) -> Place {
    match guard::locate(addr) {
        Some((start, size, true)) if (start..start + size.max(1)).contains(&addr) => {
            Place::Block { start, size, state: State::Live { caller: live_caller(start) } }
        }
        Some((start, size, true)) => Place::Guarded { block: Some((start, size)) },
        _ => Place::Guarded { block: None },
    }
}

/// The allocating code of a live guarded block, 0 when tracking is off.
fn live_caller(start: usize) -> usize {
    leaks::lookup(start).flatten().unwrap_or(0)
}
