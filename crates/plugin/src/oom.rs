//! What the log says when the heap runs out of address space (see
//! `heap::oom`): one line at that moment, on the thread whose request could
//! not be served, with what a player and a mod author need to know. The
//! heap may have no memory to give then: the line is formatted on the stack
//! and written without allocating (see `crate::log`).

use heap::oom::{Exhaustion, Stage};

use crate::allocator::Bytes;
use crate::callers::{self, Code};
use crate::log::{error, warning};
use crate::space::Space;

/// The heap's report callback (`heap::Config::on_exhausted`).
pub fn report(exhaustion: &Exhaustion) {
    let caller = Code(callers::caller());
    let space = Space::now();
    let (size, held) = (Bytes(exhaustion.size as u64), Bytes(exhaustion.held));
    match exhaustion.stage {
        Stage::ReserveReleased => warning!(
            "Out of address space: {size} asked for by {caller} could not be mapped, even with every cached block \
             given back; the emergency reserve ({}) was released to serve it. {space}; the heap holds {held}. \
             Save your game now and restart it: the game is near the end of its 4 GiB",
            Bytes(exhaustion.released as u64)
        ),
        Stage::Failed => error!(
            "Out of address space: {size} asked for by {caller} cannot be served by the heap; the request goes to \
             the allocator the plugin stands in for, and if that has no room either the game gets no memory and \
             will crash. {space}; the heap holds {held}. Save your game now if you still can, and restart it \
             (further failures of requests of this size are not logged)"
        ),
    }
}
