//! The C runtime's allocation family, with MSVC's semantics, over the backend.
//!
//! Every function takes the [`Originals`] of the C runtime it stands in for:
//! a pointer the backend does not own goes to them, and a request the backend
//! cannot serve is tried there before failing.
//!
//! `_recalloc` must zero everything past the old requested size, which the
//! backend rounds up. So every block of ours knows its request one of two
//! ways: a block with room records it (rpmalloc's large and huge blocks in
//! their span header, its medium blocks with much slack in their last bytes,
//! flagged in the span header); in any other block the slack between the
//! request and the usable size reads as zero (established when the block is
//! handed out or resized: one 16-byte store for most, at most a few hundred
//! bytes otherwise). `_msize` answers the recorded request where there is
//! one, as MSVC's does, so that a caller filling what `_msize` says never
//! overwrites a record.

use core::ffi::c_void;
use core::ptr;

use crate::backend::{self, Active, Engine, Gd, Mi, Rp, Settled};
use crate::crt::{Originals, EINVAL, ENOMEM};
use crate::stats::{Count as _, Event, PUBLISH_BYTES};
use crate::thread;
use crate::{delay, leaks, passthrough};

/// The largest request the backend is asked for. rpmalloc 1.4 rounds huge
/// requests up without an overflow check; MSVC's own limit (`_HEAP_MAXREQ`)
/// is just below 4 GiB on 32-bit, where no such block can exist anyway.
pub const MAX_REQUEST: usize = isize::MAX as usize - 2 * crate::os::GRANULE;

/// Minimum alignment of `_aligned_malloc`, as MSVC's.
const MIN_ALIGN: usize = core::mem::size_of::<*const ()>();

/// Calls `$f::<Engine>(args)` for the active backend, or `$passthrough`:
/// the backend is read once per call, and everything below is monomorphised.
/// Only rpmalloc's path (the default) is inlined into the entry: the others
/// are calls of their own, so that the entry keeps a small frame.
macro_rules! dispatch {
    ($f:ident($($arg:expr),*), $passthrough:expr) => {
        match backend::active() {
            Active::Rpmalloc => $f::<Rp>($($arg),*),
            Active::Mimalloc => out_of_line(|| $f::<Mi>($($arg),*)),
            Active::Guarded => out_of_line(|| $f::<Gd>($($arg),*)),
            Active::Passthrough => out_of_line(|| $passthrough),
        }
    };
}

/// Runs `f` in a function of its own (see [`dispatch`]).
#[inline(never)]
fn out_of_line<T>(f: impl FnOnce() -> T) -> T {
    f()
}

/// How a fresh block's bytes must read.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fill {
    /// The request is recorded, or the slack after it zeroed.
    Slack,
    /// The whole block is zeroed (`calloc`).
    Zero,
}

/// A new block of ours, or null if the backend cannot serve it.
#[inline(always)]
fn allocate<E: Engine>(size: usize, align: usize, fill: Fill) -> *mut u8 {
    allocate_for::<E>(size, size, align, fill)
}

/// A new block of ours of at least `capacity` bytes for a request of `size`
/// (at most `capacity`), or null if the backend cannot serve it.
#[inline(always)]
fn allocate_for<E: Engine>(size: usize, capacity: usize, align: usize, fill: Fill) -> *mut u8 {
    let (state, heap) = match thread::started() {
        Some(started) => started,
        None => match start_thread(capacity) {
            Some(started) => started,
            None => return ptr::null_mut(),
        },
    };
    if capacity > MAX_REQUEST {
        return ptr::null_mut();
    }
    let mut p = E::alloc(heap, capacity, align);
    if p.is_null() {
        p = exhausted::<E>(state, capacity, align);
        if p.is_null() {
            return p;
        }
    }
    let Settled { usable, counted, recorded } = E::settle(p, size, capacity, align);
    if fill == Fill::Zero {
        // SAFETY: `usable` bytes from `p` belong to the fresh block, `size`
        // of them requested; past `size` it reads as zero unless recorded.
        unsafe { ptr::write_bytes(p, 0, if recorded { size } else { usable }) };
    }
    state.counters.allocated(size, counted, counted >= PUBLISH_BYTES);
    if leaks::enabled() {
        leaks::record(p, usable);
    }
    p
}

/// The backend refused `capacity` bytes: what `crate::oom` can make room
/// for, unless the thread is inside the fallback of a request that went
/// through it already.
#[cold]
#[inline(never)]
fn exhausted<E: Engine>(state: &thread::ThreadState, capacity: usize, align: usize) -> *mut u8 {
    if thread::in_fallback() {
        return ptr::null_mut();
    }
    crate::oom::recover(capacity, || Some(E::alloc(state.heap(), capacity, align)).filter(|p| !p.is_null()))
        .unwrap_or(ptr::null_mut())
}

/// The calling thread has no heap yet: its first allocation starts one
/// (see [`thread::current_heap`]), unless it ended its use of the heap.
#[cold]
#[inline(never)]
fn start_thread(capacity: usize) -> Option<(&'static thread::ThreadState, *mut core::ffi::c_void)> {
    thread::current_heap().or_else(|| unstarted(capacity))
}

/// The calling thread has no heap: it ended its use of the heap, or its
/// first use could not start for want of memory (a state and a backend heap
/// need a mapping), which `crate::oom` may make room for.
#[cold]
#[inline(never)]
fn unstarted(capacity: usize) -> Option<(&'static thread::ThreadState, *mut core::ffi::c_void)> {
    if !thread::startable() {
        return None;
    }
    crate::oom::recover(capacity, thread::current_heap)
}

/// Gives a block of ours back, from any thread: a thread that only frees
/// starts no backend heap.
#[inline(always)]
fn release<E: Engine>(p: *mut u8) {
    thread::count_freed(E::counted_size(p));
    if leaks::enabled() {
        leaks::forget(p);
    }
    E::free(p);
}

/// How much room a block that outgrows its size class gets: half as much
/// again as it had, so that an array grown by small steps or by half moves
/// once in a few steps, and one grown by doubling every other step (rpmalloc
/// alone gives 37.5%, and only to small growth). Past [`GROWTH_CAP`] of
/// room, no more than that cap is added: address space is scarce in a
/// 32-bit game.
fn grown_capacity(usable: usize, size: usize) -> usize {
    size.max(usable.saturating_add((usable / 2).min(GROWTH_CAP)))
}

/// The most room [`grown_capacity`] adds to a block.
const GROWTH_CAP: usize = 1 << 20;

/// Resizes a block of ours; null (block untouched) when it cannot.
///
/// A block stays where it is while its usable size holds the new size and
/// at most halves: growing by small steps costs no move until its size class
/// is full (one look at the span header). A block that outgrows it moves to
/// a block with room to grow (see [`grown_capacity`]); one that shrinks below
/// half moves to a smaller block. Moves copy only the bytes kept, and leave
/// the old block's slack behind.
fn resize<E: Engine>(p: *mut u8, size: usize, align: usize) -> *mut u8 {
    resize_with::<E>(p, size, align, release::<E>)
}

/// [`resize`], the old block of a move given to `release_old`.
#[inline(always)]
fn resize_with<E: Engine>(p: *mut u8, size: usize, align: usize, release_old: fn(*mut u8)) -> *mut u8 {
    let Some(state) = thread::current() else { return ptr::null_mut() };
    if size > MAX_REQUEST {
        return ptr::null_mut();
    }
    let usable = E::usable_size(p);
    if size <= usable && size >= usable / 2 {
        if let Some(settled) = E::settle_in_place(p, size) {
            // The same block: counted as freed and handed out again.
            state.counters.record(Event::Freed { usable: settled.counted });
            state.counters.allocated(size, settled.counted, settled.counted >= PUBLISH_BYTES);
            return p;
        }
    }
    let capacity =
        if size > usable && E::room_to_grow(size) { grown_capacity(usable, size).min(MAX_REQUEST) } else { size };
    let q = allocate_for::<E>(size, capacity, align, Fill::Slack);
    if !q.is_null() {
        // SAFETY: `min(usable, size)` bytes are readable at `p` and writable
        // at `q` (past `size`, `q` holds its slack or record, untouched);
        // distinct blocks; then `p` goes back.
        unsafe { ptr::copy_nonoverlapping(p, q, usable.min(size)) };
        release_old(p);
    }
    q
}

/// A request that fails: null, `errno`, counted (once: not when it is made
/// inside the fallback of an outer request, which counts).
#[cold]
fn fail(crt: &Originals, errno: core::ffi::c_int) -> *mut c_void {
    crt.set_errno(errno);
    if !thread::in_fallback() {
        thread::count(Event::Failed);
    }
    ptr::null_mut()
}

/// What the fallback of a request the heap could not serve gave, counted as
/// for [`fail`].
#[cold]
fn fell_back(p: *mut c_void) -> *mut c_void {
    if !thread::in_fallback() {
        thread::count(if p.is_null() { Event::Failed } else { Event::FellBack });
    }
    p
}

/// Calls the fallback of a request the heap could not serve, marked as such
/// (see [`thread::Fallback`]), and counts its outcome.
#[cold]
fn in_fallback(call: impl FnOnce() -> *mut c_void) -> *mut c_void {
    let fallback = thread::Fallback::enter();
    let p = call();
    drop(fallback);
    fell_back(p)
}

/// A request our heap could not serve, handed to the runtime's original
/// (`call` makes the call); `ENOMEM` if the runtime has no such function.
#[cold]
fn fall_back<F>(crt: &Originals, original: Option<F>, call: impl FnOnce(F) -> *mut c_void) -> *mut c_void {
    match original {
        Some(original) => in_fallback(|| call(original)),
        None => fail(crt, ENOMEM),
    }
}

#[cold]
fn note_foreign(event: Event) {
    thread::count(event);
}

/// `malloc`: a block of `size` bytes (a unique one for 0).
pub fn malloc(crt: &Originals, size: usize) -> *mut c_void {
    dispatch!(malloc_in(crt, size), passthrough::malloc(crt, size))
}

#[inline(always)]
fn malloc_in<E: Engine>(crt: &Originals, size: usize) -> *mut c_void {
    let p = allocate::<E>(size, 0, Fill::Slack);
    if !p.is_null() {
        return p.cast();
    }
    // SAFETY: the original malloc, called as its contract says.
    fall_back(crt, crt.malloc(), |original| unsafe { original(size) })
}

/// An allocation for an allocator that is not a C runtime's (the game's own
/// heap object, whose methods take an object): a block of ours, or else
/// what `original` gives, counted as a fallback (or a failure if it gives
/// nothing). Without a backend, `original` serves it uncounted.
pub fn malloc_or_else(size: usize, original: impl FnOnce() -> *mut c_void) -> *mut c_void {
    dispatch!(malloc_or_else_in(size, original), original())
}

#[inline(always)]
fn malloc_or_else_in<E: Engine>(size: usize, original: impl FnOnce() -> *mut c_void) -> *mut c_void {
    let p = allocate::<E>(size, 0, Fill::Slack);
    if !p.is_null() {
        return p.cast();
    }
    in_fallback(original)
}

/// `calloc`: `count * size` zeroed bytes; null with `ENOMEM` on overflow.
pub fn calloc(crt: &Originals, count: usize, size: usize) -> *mut c_void {
    dispatch!(calloc_in(crt, count, size), passthrough::calloc(crt, count, size))
}

fn calloc_in<E: Engine>(crt: &Originals, count: usize, size: usize) -> *mut c_void {
    let Some(total) = count.checked_mul(size) else { return fail(crt, ENOMEM) };
    let p = allocate::<E>(total, 0, Fill::Zero);
    if !p.is_null() {
        return p.cast();
    }
    // SAFETY: the original calloc, called as its contract says.
    fall_back(crt, crt.calloc(), |original| unsafe { original(count, size) })
}

/// `free`: nothing for null; ours to the backend, anyone else's to the
/// original `free`.
///
/// # Safety
/// `p` is null or a live block of the `malloc` family (ours, or of this C
/// runtime), not used again.
pub unsafe fn free(crt: &Originals, p: *mut c_void) {
    if p.is_null() {
        return;
    }
    if Rp::owns(p.cast()) {
        // Only rpmalloc's mapper marks granules as ours, so a block found
        // there is rpmalloc's: no look at the active backend.
        return release::<Rp>(p.cast());
    }
    // SAFETY: forwarded contract.
    unsafe { free_other(crt, p) }
}

/// `free` of a block rpmalloc does not own: mimalloc's, or foreign.
///
/// # Safety
/// As for [`free`], and `p` is not null.
#[inline(never)]
unsafe fn free_other(crt: &Originals, p: *mut c_void) {
    // SAFETY: forwarded contract.
    unsafe { dispatch!(free_in(crt, p), passthrough::free(crt, p)) }
}

/// # Safety
/// As for [`free`], and `p` is not null.
#[inline(always)]
unsafe fn free_in<E: Engine>(crt: &Originals, p: *mut c_void) {
    if E::owns(p.cast()) {
        release::<E>(p.cast());
    } else {
        // SAFETY: forwarded contract: a foreign block of this C runtime.
        unsafe { free_foreign(crt, p) }
    }
}

/// # Safety
/// `p` is a live block of this C runtime's `malloc` family.
#[cold]
unsafe fn free_foreign(crt: &Originals, p: *mut c_void) {
    note_foreign(Event::ForeignFree);
    if let Some(original) = crt.free() {
        // SAFETY: forwarded contract.
        unsafe { original(p) }
    }
    // Without an original `free` the block cannot be freed safely: it leaks.
}

/// `realloc`: null → `malloc`; size 0 → `free`, null; otherwise the block
/// resized, moved into our heap if it was foreign. On failure null, `ENOMEM`,
/// and the block untouched.
///
/// # Safety
/// As for [`free`]; on success the old pointer is not used again.
pub unsafe fn realloc(crt: &Originals, p: *mut c_void, size: usize) -> *mut c_void {
    if p.is_null() {
        return malloc(crt, size);
    }
    if size == 0 {
        // SAFETY: forwarded contract.
        unsafe { free(crt, p) };
        return ptr::null_mut();
    }
    // SAFETY: forwarded contract.
    unsafe { dispatch!(realloc_in(crt, p, size), passthrough::realloc(crt, p, size)) }
}

/// # Safety
/// As for [`realloc`], with `p` not null and `size` not 0.
unsafe fn realloc_in<E: Engine>(crt: &Originals, p: *mut c_void, size: usize) -> *mut c_void {
    if E::owns(p.cast()) {
        let q = resize::<E>(p.cast(), size, 0);
        if !q.is_null() {
            return q.cast();
        }
        // SAFETY: `p` is ours and live.
        return unsafe { move_out::<E>(crt, p.cast(), size) };
    }
    // SAFETY: forwarded contract.
    unsafe { realloc_foreign::<E>(crt, p, size) }
}

/// Resizes a block of ours for an allocator that is not a C runtime's (the
/// game's heap object): as [`realloc`], but a block the heap cannot resize
/// moves to what `original` allocates for `size` bytes, counted as a
/// fallback (or a failure if it gives nothing; the block is then untouched).
///
/// # Safety
/// `p` is a live block of ours (`crate::owns`), `size` is not 0; on success
/// `p` is not used again.
pub unsafe fn realloc_or_else(p: *mut c_void, size: usize, original: impl FnOnce() -> *mut c_void) -> *mut c_void {
    // SAFETY: forwarded contract. Without a backend nothing is ours.
    unsafe { dispatch!(realloc_or_else_in(p.cast(), size, original), ptr::null_mut()) }
}

/// # Safety
/// As for [`realloc_or_else`].
unsafe fn realloc_or_else_in<E: Engine>(
    p: *mut u8,
    size: usize,
    original: impl FnOnce() -> *mut c_void,
) -> *mut c_void {
    let q = resize_with::<E>(p, size, 0, retire::<E>);
    if !q.is_null() {
        return q.cast();
    }
    let q = in_fallback(original);
    if !q.is_null() {
        let keep = E::usable_size(p).min(size);
        // SAFETY: `keep` bytes are readable at `p` and writable at `q`; distinct blocks.
        unsafe { ptr::copy_nonoverlapping(p, q.cast::<u8>(), keep) };
        retire::<E>(p);
    }
    q
}

/// Gives back a block of ours the game heap freed (or moved out of): to
/// the calling thread's delayed frees when they are on, so that its bytes
/// stay as they were for a while (see [`crate::delay`]).
#[inline(always)]
fn retire<E: Engine>(p: *mut u8) {
    // SAFETY: the caller gives up `p`, a live block of ours, and `E` is the
    // backend that owns it: rpmalloc's when `E::DELAYS`.
    if E::DELAYS && delay::enabled() && unsafe { delay::free(p) } {
        return;
    }
    release::<E>(p);
}

/// An allocation for the game's heap object: a block its thread's delayed
/// frees hold for this size class and have held long enough (see
/// [`crate::delay`]), else as [`malloc_or_else`].
pub fn malloc_delayed_or_else(size: usize, original: impl FnOnce() -> *mut c_void) -> *mut c_void {
    if delay::enabled() {
        if let Some(state) = thread::existing() {
            let p = reissue(state, delay::take(state, size), size);
            if !p.is_null() {
                return p.cast();
            }
        }
    }
    malloc_or_else(size, original)
}

/// A block taken back from the delayed frees (or null: none), handed out
/// again for `size` bytes (of its size class) as a fresh one is: its request
/// recorded, counted, tracked. It may lie in another thread's span, so it is
/// settled as a resize is, which writes nothing the span's owner writes.
#[inline(always)]
fn reissue(state: &thread::ThreadState, p: *mut u8, size: usize) -> *mut u8 {
    if p.is_null() {
        return p;
    }
    let Some(Settled { usable, counted, .. }) = Rp::settle_in_place(p, size) else {
        // Never for a block of the request's class; a block that cannot
        // hold it after all goes back, and the request is served anew.
        Rp::free(p);
        return ptr::null_mut();
    };
    state.counters.allocated(size, counted, counted >= PUBLISH_BYTES);
    if leaks::enabled() {
        leaks::record(p, usable);
    }
    p
}

/// `free` for the game's heap object: a block of ours goes to the delayed
/// frees when they are on (see [`crate::delay`]), else back to the heap;
/// any other pointer (null included) to `original`. Ownership is asked once,
/// of the active backend.
///
/// # Safety
/// `p` is null or a live block, not used again: ours, or one `original`
/// frees.
pub unsafe fn free_delayed_or_else(p: *mut c_void, original: impl FnOnce()) {
    dispatch!(free_delayed_in(p.cast(), original), original())
}

#[inline(always)]
fn free_delayed_in<E: Engine>(p: *mut u8, original: impl FnOnce()) {
    if E::owns(p) {
        retire::<E>(p);
    } else {
        original();
    }
}

/// Our heap could not resize `p`: try a block from the original allocator.
///
/// # Safety
/// `p` is a live block of ours.
#[cold]
unsafe fn move_out<E: Engine>(crt: &Originals, p: *mut u8, size: usize) -> *mut c_void {
    let Some(original) = crt.malloc() else { return fail(crt, ENOMEM) };
    let fallback = thread::Fallback::enter();
    // SAFETY: the original malloc.
    let q = unsafe { original(size) };
    drop(fallback);
    if q.is_null() {
        return fail(crt, ENOMEM);
    }
    let keep = E::usable_size(p).min(size);
    // SAFETY: `keep` bytes are readable at `p` and writable at `q`; distinct blocks.
    unsafe { ptr::copy_nonoverlapping(p, q.cast::<u8>(), keep) };
    release::<E>(p);
    fell_back(q)
}

/// Moves a foreign block into our heap: a new block (`fill` as for any new
/// one), the old contents up to the old size copied, the old block freed by
/// its allocator. Null, leaving the block alone, if its runtime cannot tell
/// its size (`old`) or free it, or our heap cannot serve.
///
/// # Safety
/// `p` is a live block of the family whose original `free` is `original_free`
/// and whose size is `old` bytes.
unsafe fn move_in<E: Engine>(
    p: *mut c_void,
    old: Option<usize>,
    original_free: Option<crate::crt::FreeFn>,
    size: usize,
    align: usize,
    fill: Fill,
) -> *mut c_void {
    let (Some(old), Some(original_free)) = (old, original_free) else { return ptr::null_mut() };
    let q = allocate::<E>(size, align, fill);
    if !q.is_null() {
        // SAFETY: `old` bytes of the foreign block are readable (its allocator
        // says so), `size` writable at `q`; then the old block goes back.
        unsafe {
            ptr::copy_nonoverlapping(p.cast::<u8>(), q, old.min(size));
            original_free(p);
        }
    }
    q.cast()
}

/// # Safety
/// `p` is a live block of this C runtime's `malloc` family.
#[cold]
unsafe fn realloc_foreign<E: Engine>(crt: &Originals, p: *mut c_void, size: usize) -> *mut c_void {
    note_foreign(Event::ForeignRealloc);
    // SAFETY: forwarded contract.
    let q = unsafe { move_in::<E>(p, crt.size_of(p), crt.free(), size, 0, Fill::Slack) };
    if !q.is_null() {
        return q;
    }
    // SAFETY: the original realloc on its own block.
    fall_back(crt, crt.realloc(), |original| unsafe { original(p, size) })
}

/// `_msize`: the request a block recorded (see the top of this file), else
/// its usable size; `-1` (as `usize`) with `EINVAL` for null.
///
/// # Safety
/// `p` is null or a live block of the `malloc` family.
pub unsafe fn msize(crt: &Originals, p: *mut c_void) -> usize {
    if p.is_null() {
        crt.set_errno(EINVAL);
        return usize::MAX;
    }
    // SAFETY: forwarded contract.
    unsafe { dispatch!(msize_in(crt, p), msize_foreign(crt, p)) }
}

/// # Safety
/// As for [`msize`], `p` not null.
unsafe fn msize_in<E: Engine>(crt: &Originals, p: *mut c_void) -> usize {
    if E::owns(p.cast()) {
        // The request where one is recorded, as MSVC's `_msize`.
        return E::recorded_request(p.cast()).unwrap_or_else(|| E::usable_size(p.cast()));
    }
    note_foreign(Event::ForeignSize);
    // SAFETY: forwarded contract.
    unsafe { msize_foreign(crt, p) }
}

/// # Safety
/// `p` is a live block of this C runtime.
unsafe fn msize_foreign(crt: &Originals, p: *mut c_void) -> usize {
    match crt.msize() {
        // SAFETY: forwarded contract.
        Some(original) => unsafe { original(p) },
        None => {
            crt.set_errno(EINVAL);
            usize::MAX
        }
    }
}

/// `_expand`: resizes without moving, or returns null (`ENOMEM`).
///
/// # Safety
/// As for [`msize`].
pub unsafe fn expand(crt: &Originals, p: *mut c_void, size: usize) -> *mut c_void {
    if p.is_null() {
        crt.set_errno(EINVAL);
        return ptr::null_mut();
    }
    // SAFETY: forwarded contract.
    unsafe { dispatch!(expand_in(crt, p, size), expand_foreign(crt, p, size)) }
}

/// # Safety
/// As for [`expand`], `p` not null.
unsafe fn expand_in<E: Engine>(crt: &Originals, p: *mut c_void, size: usize) -> *mut c_void {
    if !E::owns(p.cast()) {
        note_foreign(Event::ForeignRealloc);
        // SAFETY: forwarded contract.
        return unsafe { expand_foreign(crt, p, size) };
    }
    let usable = E::usable_size(p.cast());
    // The backend cannot grow a block in place beyond its size class, nor
    // keep a record where the new size leaves it no room.
    if size > usable || E::settle_in_place(p.cast(), size).is_none() {
        crt.set_errno(ENOMEM);
        return ptr::null_mut();
    }
    p
}

/// # Safety
/// `p` is a live block of this C runtime.
unsafe fn expand_foreign(crt: &Originals, p: *mut c_void, size: usize) -> *mut c_void {
    match crt.expand() {
        // SAFETY: forwarded contract.
        Some(original) => unsafe { original(p, size) },
        None => fail(crt, ENOMEM),
    }
}

/// `_recalloc`: `realloc` to `count * size` bytes, the grown part zeroed.
///
/// # Safety
/// As for [`realloc`].
pub unsafe fn recalloc(crt: &Originals, p: *mut c_void, count: usize, size: usize) -> *mut c_void {
    let Some(total) = count.checked_mul(size) else { return fail(crt, ENOMEM) };
    if p.is_null() {
        return calloc(crt, count, size);
    }
    if total == 0 {
        // SAFETY: forwarded contract.
        unsafe { free(crt, p) };
        return ptr::null_mut();
    }
    // SAFETY: forwarded contract.
    unsafe { dispatch!(recalloc_in(crt, p, count, size, total), passthrough::recalloc(crt, p, count, size)) }
}

/// # Safety
/// As for [`recalloc`], `p` not null, `total = count * size > 0`.
unsafe fn recalloc_in<E: Engine>(
    crt: &Originals,
    p: *mut c_void,
    count: usize,
    size: usize,
    total: usize,
) -> *mut c_void {
    if !E::owns(p.cast()) {
        // SAFETY: forwarded contract.
        return unsafe { recalloc_foreign::<E>(crt, p, count, size, total) };
    }
    // The old request: recorded, or (slack being zero) the usable size.
    let old = E::recorded_request(p.cast()).unwrap_or_else(|| E::usable_size(p.cast()));
    let keep = old.min(total);
    let q = resize::<E>(p.cast(), total, 0);
    let q = if q.is_null() {
        // SAFETY: `p` is ours and live.
        unsafe { move_out::<E>(crt, p.cast(), total) }.cast::<u8>()
    } else {
        q
    };
    if !q.is_null() {
        // SAFETY: the block at `q` has at least `total` bytes; below `keep` are
        // the old block's contents.
        unsafe { ptr::write_bytes(q.add(keep), 0, total - keep) };
    }
    q.cast()
}

/// # Safety
/// `p` is a live block of this C runtime's `malloc` family.
#[cold]
unsafe fn recalloc_foreign<E: Engine>(
    crt: &Originals,
    p: *mut c_void,
    count: usize,
    size: usize,
    total: usize,
) -> *mut c_void {
    note_foreign(Event::ForeignRealloc);
    // SAFETY: forwarded contract; the new block is all zeros past the old size.
    let q = unsafe { move_in::<E>(p, crt.size_of(p), crt.free(), total, 0, Fill::Zero) };
    if !q.is_null() {
        return q;
    }
    // SAFETY: the original _recalloc on its own block.
    fall_back(crt, crt.recalloc(), |original| unsafe { original(p, count, size) })
}

/// Checks an `_aligned_*` alignment: a power of two, at least a pointer.
fn alignment(align: usize) -> Option<usize> {
    align.is_power_of_two().then(|| align.max(MIN_ALIGN))
}

/// `_aligned_malloc`: `size` bytes aligned to `align` (a power of two, else
/// `EINVAL`).
pub fn aligned_malloc(crt: &Originals, size: usize, align: usize) -> *mut c_void {
    let Some(align) = alignment(align) else { return fail(crt, EINVAL) };
    dispatch!(aligned_malloc_in(crt, size, align), passthrough::aligned_malloc(crt, size, align))
}

fn aligned_malloc_in<E: Engine>(crt: &Originals, size: usize, align: usize) -> *mut c_void {
    let p = allocate::<E>(size, align, Fill::Slack);
    if !p.is_null() {
        return p.cast();
    }
    // SAFETY: the original _aligned_malloc.
    fall_back(crt, crt.aligned_malloc(), |original| unsafe { original(size, align) })
}

/// `_aligned_free`.
///
/// # Safety
/// `p` is null or a live block of the `_aligned_*` family.
pub unsafe fn aligned_free(crt: &Originals, p: *mut c_void) {
    if p.is_null() {
        return;
    }
    if Rp::owns(p.cast()) {
        // As in `free`.
        return release::<Rp>(p.cast());
    }
    // SAFETY: forwarded contract.
    unsafe { aligned_free_other(crt, p) }
}

/// # Safety
/// As for [`aligned_free`], and `p` is not null.
#[inline(never)]
unsafe fn aligned_free_other(crt: &Originals, p: *mut c_void) {
    // SAFETY: forwarded contract.
    unsafe { dispatch!(aligned_free_in(crt, p), passthrough::aligned_free(crt, p)) }
}

/// # Safety
/// As for [`aligned_free`], `p` not null.
unsafe fn aligned_free_in<E: Engine>(crt: &Originals, p: *mut c_void) {
    if E::owns(p.cast()) {
        return release::<E>(p.cast());
    }
    note_foreign(Event::ForeignFree);
    if let Some(original) = crt.aligned_free() {
        // SAFETY: forwarded contract.
        unsafe { original(p) }
    }
}

/// `_aligned_realloc`: as `realloc`, for the aligned family.
///
/// # Safety
/// As for [`aligned_free`]; on success the old pointer is not used again.
pub unsafe fn aligned_realloc(crt: &Originals, p: *mut c_void, size: usize, align: usize) -> *mut c_void {
    if p.is_null() {
        return aligned_malloc(crt, size, align);
    }
    let Some(align) = alignment(align) else { return fail(crt, EINVAL) };
    if size == 0 {
        // SAFETY: forwarded contract.
        unsafe { aligned_free(crt, p) };
        return ptr::null_mut();
    }
    // SAFETY: forwarded contract.
    unsafe { dispatch!(aligned_realloc_in(crt, p, size, align), aligned_realloc_original(crt, p, size, align)) }
}

/// # Safety
/// As for [`aligned_realloc`], `p` not null, `size` not 0.
unsafe fn aligned_realloc_in<E: Engine>(crt: &Originals, p: *mut c_void, size: usize, align: usize) -> *mut c_void {
    if E::owns(p.cast()) {
        let q = resize::<E>(p.cast(), size, align);
        return if q.is_null() { fail(crt, ENOMEM) } else { q.cast() };
    }
    note_foreign(Event::ForeignRealloc);
    // SAFETY: forwarded contract.
    let q = unsafe { move_in::<E>(p, crt.aligned_size_of(p, align), crt.aligned_free(), size, align, Fill::Slack) };
    if !q.is_null() {
        return q;
    }
    // SAFETY: forwarded contract.
    unsafe { aligned_realloc_original(crt, p, size, align) }
}

/// # Safety
/// `p` is a live block of this C runtime's `_aligned_*` family.
unsafe fn aligned_realloc_original(crt: &Originals, p: *mut c_void, size: usize, align: usize) -> *mut c_void {
    // SAFETY: the original _aligned_realloc on its own block.
    fall_back(crt, crt.aligned_realloc(), |original| unsafe { original(p, size, align) })
}

/// `_aligned_msize`: the usable size of an aligned block.
///
/// # Safety
/// `p` is null or a live block of the `_aligned_*` family.
pub unsafe fn aligned_msize(crt: &Originals, p: *mut c_void, align: usize, offset: usize) -> usize {
    if p.is_null() {
        crt.set_errno(EINVAL);
        return usize::MAX;
    }
    // SAFETY: forwarded contract.
    unsafe { dispatch!(aligned_msize_in(crt, p, align, offset), aligned_msize_foreign(crt, p, align, offset)) }
}

/// # Safety
/// As for [`aligned_msize`], `p` not null.
unsafe fn aligned_msize_in<E: Engine>(crt: &Originals, p: *mut c_void, align: usize, offset: usize) -> usize {
    if E::owns(p.cast()) {
        return E::usable_size(p.cast());
    }
    note_foreign(Event::ForeignSize);
    // SAFETY: forwarded contract.
    unsafe { aligned_msize_foreign(crt, p, align, offset) }
}

/// # Safety
/// `p` is a live block of this C runtime's `_aligned_*` family.
unsafe fn aligned_msize_foreign(crt: &Originals, p: *mut c_void, align: usize, offset: usize) -> usize {
    match crt.aligned_msize() {
        // SAFETY: forwarded contract.
        Some(original) => unsafe { original(p, align, offset) },
        None => {
            crt.set_errno(EINVAL);
            usize::MAX
        }
    }
}
