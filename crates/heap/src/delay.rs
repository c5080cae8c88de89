//! Delayed frees: blocks the game's heap frees stay as they were for a
//! while, because the engine reads objects it has freed.
//!
//! The IO thread calls through a queued texture's vtable after the main
//! thread's deferred destruction freed it; AI threads read Havok data freed
//! at a cell change; render reads draw lists freed in a memory purge. The
//! vanilla pools leave freed bytes as they were until they hand the block
//! out again, so these reads see the old object. rpmalloc links a freed
//! block through its first word and hands the last one freed out first: the
//! same read would see a heap address or a new object.
//!
//! So a block freed through the game heap ([`free`]) goes to its thread's
//! ring, outside the block, instead of to rpmalloc: every byte of it stays
//! as it was. After [`Delay::frames`] frames (MainGameLoop messages, counted
//! by [`frame`]) the game heap hands it out again itself ([`take`]), to a
//! request of its size class, before it asks rpmalloc. Blocks nobody takes
//! go to rpmalloc when the ring is full, when the blocks waiting in all
//! threads pass [`Delay::budget`] bytes (the oldest first: on a loading
//! screen no frame ends, and this is what releases them), when they have been
//! ready for about a second, or when no frame has ended for five seconds
//! ([`expire`], on the thread's own trim), and when the thread ends
//! ([`flush`]). A ring is its thread's alone: no lock, no
//! system call on the free path but rpmalloc's own when one is released.
//!
//! Only small and medium blocks (requests up to 32 KiB), the engine's
//! objects, are delayed. A larger block is alone in its span: rpmalloc
//! writes nothing into it when it is freed, and its memory stays mapped, as
//! it was, until the span is used again or trimmed, a second or more later.
//! Delayed, the game's large buffers would fill the budget within a few
//! frames and push its objects out long before theirs had passed.
//!
//! Only blocks of rpmalloc's heap are delayed (guard pages have a quarantine
//! of their own). A game thread that only frees keeps its ring in the state
//! it takes for its counters (no rpmalloc heap); one that has ended its use
//! of the heap frees at once.

use core::sync::atomic::{AtomicPtr, AtomicU32, AtomicUsize, Ordering::Relaxed};

use crate::backend::{Engine, Rp};
use crate::stats::Count as _;
use crate::thread::{self, ThreadState};
use crate::{leaks, os};

/// What [`start`] sets: how long and how much.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Delay {
    /// Frames a block waits before it is handed out again (0: it may be at
    /// once, still never written before).
    pub frames: u32,
    /// Bytes waiting in all threads together, at most (0: no delay at all,
    /// every block goes to rpmalloc at once).
    pub budget: usize,
}

impl Delay {
    pub const OFF: Delay = Delay { frames: 0, budget: 0 };
}

static FRAMES: AtomicU32 = AtomicU32::new(0);
static BUDGET: AtomicUsize = AtomicUsize::new(0);
/// Frames counted so far.
static FRAME: AtomicU32 = AtomicU32::new(0);
/// Bytes waiting in every ring, as the rings last published them (each
/// within [`PUBLISH_STEP`] of its own count): what the budget is held to.
/// A shared counter changed at every free would make the threads that free
/// wait on each other's cache line.
static WAITING: AtomicUsize = AtomicUsize::new(0);
/// How far a ring's own count may drift from what it published.
const PUBLISH_STEP: usize = 256 * 1024;
/// Raised when the heap runs out of memory ([`flush_all`]): each ring is
/// emptied by its thread at its next delayed free or reuse.
static FLUSH: AtomicU32 = AtomicU32::new(0);

/// Frames a block stays ready but unused before its thread's trim gives it
/// to rpmalloc: about a second at 60 frames a second.
const IDLE_FRAMES: u32 = 60;

/// Trims (about a second each) in a row that see no frame end before a
/// thread gives rpmalloc everything its ring holds: in a menu or a long
/// loading screen no wait would end otherwise, and what the ring holds
/// keeps address space from the game.
const STILL_TRIMS: u32 = 5;

/// Blocks a thread's ring holds at most: at the hundred thousand frees a
/// second of a busy cell, a quarter of a second of them.
const CAPACITY: usize = 16_384;
/// Size classes delayed blocks are kept by: rpmalloc's small and medium
/// classes (`SIZE_CLASS_COUNT` in rpmalloc.c).
const CLASSES: usize = 126;
const NIL: u16 = u16::MAX;

/// One delayed block.
#[derive(Clone, Copy)]
#[repr(C)]
struct Entry {
    /// The block; 0 once taken (the slot stays until the front passes it).
    p: usize,
    /// The frame it was freed in.
    frame: u32,
    /// The next entry of its class, in the order they were freed.
    next: u16,
    class: u16,
}

/// A thread's delayed blocks: a ring in the order they were freed, and per
/// class a list through it in the same order, so that the oldest block of a
/// class is the head of its list and the oldest of all the ring's front.
#[repr(C)]
pub struct Ring {
    entries: [Entry; CAPACITY],
    heads: [u16; CLASSES],
    tails: [u16; CLASSES],
    /// Index of the oldest slot, and slots in use (taken ones included).
    front: u16,
    len: u16,
    /// [`FLUSH`] when the ring was last emptied for it.
    flushed: u32,
    /// Bytes waiting in this ring (written by its owner, read by
    /// [`waiting`]), and what of them it has added to [`WAITING`].
    bytes: AtomicUsize,
    published: usize,
    /// [`FRAME`] at the last [`expire`], and how many in a row saw it unchanged.
    frame_seen: u32,
    still: u32,
}

/// Sets the delay; call before any hook leads to [`free`].
pub fn start(delay: Delay) {
    FRAMES.store(delay.frames, Relaxed);
    BUDGET.store(delay.budget, Relaxed);
}

/// Whether frees are delayed.
#[inline(always)]
pub fn enabled() -> bool {
    BUDGET.load(Relaxed) != 0
}

/// A frame ended (the game's MainGameLoop).
pub fn frame() {
    FRAME.fetch_add(1, Relaxed);
}

/// Bytes waiting in every thread's ring.
pub fn waiting() -> usize {
    let mut bytes = 0;
    thread::for_each(|state, _| {
        let ring = state.delay.load(Relaxed);
        if !ring.is_null() {
            // SAFETY: rings live for good; `bytes` is an atomic.
            bytes += unsafe { &*ring }.bytes.load(Relaxed);
        }
    });
    bytes
}

fn ready(entry: &Entry, frames: u32) -> bool {
    FRAME.load(Relaxed).wrapping_sub(entry.frame) >= frames
}

/// The class a block of ours lies in, by its span header; `None` for a
/// large or huge block.
fn class_of_block(p: *const u8) -> Option<usize> {
    let class = crate::backend::rpmalloc_block_class(p) as usize;
    (class < CLASSES).then_some(class)
}

/// The class a request of `size` bytes would come from; `None` for a large
/// or huge one.
fn class_of_request(size: usize) -> Option<usize> {
    let class = crate::backend::rpmalloc_request_class(size) as usize;
    (class < CLASSES).then_some(class)
}

/// The calling thread's ring, mapped on its first delayed free; null if
/// the OS refused the memory.
fn own_ring(state: &ThreadState) -> *mut Ring {
    let ring = state.delay.load(Relaxed);
    if !ring.is_null() {
        return ring;
    }
    let ring = os::map_forever(core::mem::size_of::<Ring>()).cast::<Ring>();
    if !ring.is_null() {
        // SAFETY: a fresh zeroed mapping of a `Ring`, this thread's alone.
        let fresh = unsafe { &mut *ring };
        fresh.heads = [NIL; CLASSES];
        fresh.tails = [NIL; CLASSES];
        fresh.flushed = FLUSH.load(Relaxed);
        state.delay.store(ring, Relaxed);
    }
    ring
}

/// Frees a block of ours, delayed if it is small or medium and the calling
/// thread has (or can start) a state; false if the caller must free it at
/// once.
///
/// # Safety
/// `p` is a live block of rpmalloc's, not used again.
pub unsafe fn free(p: *mut u8) -> bool {
    let Some(class) = class_of_block(p) else { return false };
    let Some(state) = thread::with_state() else { return false };
    let ring = own_ring(state);
    if ring.is_null() {
        return false;
    }
    // SAFETY: a thread's ring is used by its owner alone (the caller holds
    // its state), for the life of the process.
    let ring = unsafe { &mut *ring }.flushed_if_asked();
    let counted = Rp::counted_size(p);
    // Freed, as far as the game and the statistics are concerned.
    state.counters.freed(counted);
    if leaks::enabled() {
        leaks::forget(p);
    }
    if usize::from(ring.len) == CAPACITY {
        ring.evict();
    }
    ring.push(p, class, counted);
    let budget = BUDGET.load(Relaxed);
    while ring.waiting_everywhere() > budget && ring.evict() {}
    true
}

/// A block of the class of a request of `size` bytes, waited long enough,
/// from the calling thread's ring; null if none.
pub fn take(state: &ThreadState, size: usize) -> *mut u8 {
    let ring = state.delay.load(Relaxed);
    if ring.is_null() {
        return core::ptr::null_mut();
    }
    // SAFETY: the thread's own ring (see `ring`).
    let ring = unsafe { &mut *ring }.flushed_if_asked();
    let frames = FRAMES.load(Relaxed);
    // Blocks wait in the order they were freed: if the oldest has not
    // waited long enough, none has.
    if !ring.front_entry().is_some_and(|oldest| ready(oldest, frames)) {
        return core::ptr::null_mut();
    }
    let Some(class) = class_of_request(size) else { return core::ptr::null_mut() };
    ring.take(class, frames)
}

/// Asks every thread to give rpmalloc what its ring holds, at its next
/// delayed free or reuse (the heap ran out of memory: a thread cannot empty
/// another's ring).
pub fn flush_all() {
    FLUSH.fetch_add(1, Relaxed);
}

/// Gives rpmalloc the blocks of the calling thread's ring that have been
/// ready for about a second and nobody took, or all of them once no frame
/// has ended for [`STILL_TRIMS`] trims (the thread's own trim, about once a
/// second while it is busy).
pub fn expire(state: &ThreadState) {
    let ring = state.delay.load(Relaxed);
    if ring.is_null() {
        return;
    }
    // SAFETY: the thread's own ring.
    let ring = unsafe { &mut *ring };
    let frame = FRAME.load(Relaxed);
    if frame == ring.frame_seen {
        ring.still = ring.still.saturating_add(1);
        if ring.still >= STILL_TRIMS {
            while ring.evict() {}
            return;
        }
    } else {
        (ring.frame_seen, ring.still) = (frame, 0);
    }
    let idle = FRAMES.load(Relaxed).saturating_add(IDLE_FRAMES);
    while ring.front_entry().is_some_and(|e| e.p == 0 || ready(e, idle)) && ring.evict() {}
}

/// Gives rpmalloc every block of the calling thread's ring (the thread
/// ends, or the heap runs out of memory).
pub fn flush(state: &ThreadState) {
    let ring = state.delay.load(Relaxed);
    if ring.is_null() {
        return;
    }
    // SAFETY: the thread's own ring.
    let ring = unsafe { &mut *ring };
    while ring.evict() {}
}

/// The block at `start` if it waits in some thread's ring: how many frames
/// ago it was freed, and by which thread (the OS's id). For the note
/// written when the process crashes: it reads other threads' rings without
/// a lock, which only a dying process may (a torn entry can only mislead).
pub fn find(start: usize) -> Option<(u32, u32)> {
    let mut found = None;
    thread::for_each(|state, _| {
        let ring = state.delay.load(Relaxed);
        if found.is_some() || ring.is_null() {
            return;
        }
        // SAFETY: rings are mapped for good; the caller accepts a torn read.
        let ring = unsafe { &*ring };
        if let Some(entry) = ring.entries.iter().find(|e| e.p == start) {
            found = Some((FRAME.load(Relaxed).wrapping_sub(entry.frame), state.os_thread()));
        }
    });
    found
}

impl Ring {
    /// The ring, emptied first if [`flush_all`] asked since it last was.
    fn flushed_if_asked(&mut self) -> &mut Ring {
        let asked = FLUSH.load(Relaxed);
        if self.flushed != asked {
            self.flushed = asked;
            while self.evict() {}
        }
        self
    }

    fn slot(&self, offset: usize) -> usize {
        (usize::from(self.front) + offset) % CAPACITY
    }

    fn front_entry(&self) -> Option<&Entry> {
        (self.len > 0).then(|| &self.entries[usize::from(self.front)])
    }

    /// Adds the block `p` of `class`, `counted` bytes (its
    /// [`Rp::counted_size`]), as the newest.
    fn push(&mut self, p: *mut u8, class: usize, counted: usize) {
        let index = self.slot(usize::from(self.len)) as u16;
        self.entries[usize::from(index)] =
            Entry { p: p as usize, frame: FRAME.load(Relaxed), next: NIL, class: class as u16 };
        match self.tails[class] {
            NIL => self.heads[class] = index,
            tail => self.entries[usize::from(tail)].next = index,
        }
        self.tails[class] = index;
        self.len += 1;
        self.count(counted as isize);
    }

    /// Counts `delta` bytes in (or out of) the ring, published to
    /// [`WAITING`] when they drift a step from what it holds, or the ring
    /// is empty.
    fn count(&mut self, delta: isize) {
        let bytes = self.bytes.load(Relaxed).wrapping_add_signed(delta);
        self.bytes.store(bytes, Relaxed);
        if bytes.abs_diff(self.published) >= PUBLISH_STEP || bytes == 0 {
            if bytes >= self.published {
                WAITING.fetch_add(bytes - self.published, Relaxed);
            } else {
                WAITING.fetch_sub(self.published - bytes, Relaxed);
            }
            self.published = bytes;
        }
    }

    /// Bytes waiting in every ring, this one's counted exactly.
    fn waiting_everywhere(&self) -> usize {
        (WAITING.load(Relaxed) + self.bytes.load(Relaxed)).saturating_sub(self.published)
    }

    /// Unlinks the head of `class`'s list, which is at `index`.
    fn unlink_head(&mut self, class: usize, index: u16) -> usize {
        let entry = &mut self.entries[usize::from(index)];
        self.heads[class] = entry.next;
        if self.tails[class] == index {
            self.tails[class] = NIL;
        }
        let p = entry.p;
        entry.p = 0;
        self.count(-(Rp::counted_size(p as *const u8) as isize));
        p
    }

    /// The oldest block of `class`, if it waited `frames` frames.
    fn take(&mut self, class: usize, frames: u32) -> *mut u8 {
        let index = self.heads[class];
        if index == NIL || !ready(&self.entries[usize::from(index)], frames) {
            return core::ptr::null_mut();
        }
        self.unlink_head(class, index) as *mut u8
    }

    /// Gives rpmalloc the oldest block (a taken slot is only dropped);
    /// false if the ring is empty.
    fn evict(&mut self) -> bool {
        let Some(entry) = self.front_entry().copied() else { return false };
        let index = self.front;
        self.front = self.slot(1) as u16;
        self.len -= 1;
        if entry.p != 0 {
            // The oldest of all is the oldest of its class: its list's head.
            let p = self.unlink_head(usize::from(entry.class), index);
            Rp::free(p as *mut u8);
        }
        true
    }
}

/// A pointer to a ring, for [`ThreadState`].
pub type RingPtr = AtomicPtr<Ring>;

/// An entry packs without padding: a ring is 192.5 KiB on 32-bit.
const _: () = assert!(core::mem::size_of::<Entry>() == core::mem::size_of::<usize>() + 8);
