//! rpmalloc 1.4.5 (`crates/rpmalloc-sys`), with one first-class heap per
//! thread, kept in the thread's state (see [`crate::thread`]): no emulated
//! thread-local storage on the allocation path, and no callback of
//! rpmalloc's own ending threads behind the heap's back.
//!
//! The heap gives rpmalloc its own mapper, so that every span comes from
//! [`crate::os`] (granule-aligned) and is marked in [`crate::owner`] before a
//! block in it can exist.

use core::ffi::{c_int, c_void};
use core::sync::atomic::{AtomicBool, Ordering};

use rpmalloc_sys as rp;

use super::{record, Settled, StartError};
use crate::config::Config;

/// rpmalloc's natural alignment: every block is aligned to this.
const NATURAL_ALIGN: usize = 16;

/// Whether new mappings are touched page by page ([`Config::touch_pages`]).
static TOUCH_PAGES: AtomicBool = AtomicBool::new(false);

pub fn start(config: &Config) -> Result<(), StartError> {
    TOUCH_PAGES.store(config.touch_pages, Ordering::Relaxed);
    let rp_config = rp::rpmalloc_config_t {
        memory_map: Some(map),
        memory_unmap: Some(unmap),
        error_callback: None,
        map_fail_callback: None,
        page_size: 0,
        span_size: 0,
        span_map_count: config.span_map_count.max(1),
        enable_huge_pages: 0,
        page_name: core::ptr::null(),
        huge_page_name: core::ptr::null(),
    };
    // SAFETY: the config is a valid `rpmalloc_config_t`, copied by rpmalloc;
    // the callbacks honour rpmalloc's contract (see `map`, `unmap`).
    match unsafe { rp::rpmalloc_initialize_config(&rp_config) } {
        0 => Ok(()),
        _ => Err(StartError::Failed("rpmalloc_initialize_config failed")),
    }
}

/// rpmalloc's mapper: `size` bytes at a granule (= span) boundary, marked as
/// ours. The padding goes back to us in `unmap` through `offset`.
unsafe extern "C" fn map(size: usize, offset: *mut usize) -> *mut c_void {
    let Some(region) = crate::os::map(size) else { return core::ptr::null_mut() };
    if !crate::owner::mark(region.base, size, crate::owner::RPMALLOC) {
        // SAFETY: the mapping was made just above and never shared.
        unsafe { crate::os::release(region, size) };
        return core::ptr::null_mut();
    }
    crate::stats::mapped(size as i64);
    if TOUCH_PAGES.load(Ordering::Relaxed) {
        // SAFETY: the mapping was made just above, `size` bytes, not shared yet.
        unsafe { crate::os::touch(region.base, size) };
    }
    if !offset.is_null() {
        // SAFETY: rpmalloc passes a valid out-parameter when it is not null.
        // The padding is a multiple of the page size; rpmalloc stores it in
        // 32 bits, so it is kept in 8-byte units as rpmalloc's own mapper does.
        unsafe { *offset = region.padding >> 3 };
    }
    region.base.cast()
}

/// rpmalloc's unmapper. `release != 0`: the whole mapping of `release` bytes
/// at `address` goes back; otherwise `size` bytes at `address` are decommitted
/// and stay ours.
unsafe extern "C" fn unmap(address: *mut c_void, size: usize, offset: usize, release: usize) {
    let base = address.cast::<u8>();
    if release != 0 {
        crate::owner::unmark(base, release);
        crate::stats::mapped(-(release as i64));
        let region = crate::os::Region { base, padding: offset << 3 };
        // SAFETY: rpmalloc releases a mapping `map` made, whole, once no block
        // in it is live.
        unsafe { crate::os::release(region, release) };
    } else {
        // SAFETY: rpmalloc decommits pages of a live mapping it no longer uses.
        unsafe { crate::os::decommit(base, size) };
    }
}

/// Whether rpmalloc mapped the granule `p` lies in.
#[inline(always)]
pub fn owns(p: *const u8) -> bool {
    crate::owner::owner_of(p) == crate::owner::RPMALLOC
}

/// What a block must hold besides the caller's `size` bytes: room for its
/// record (see [`settle`]): a byte for a small block, [`record::KEYED_LEN`]
/// for the others.
#[inline(always)]
fn padded(size: usize) -> usize {
    if size < span::SMALL_LIMIT {
        size + 1
    } else {
        size.saturating_add(record::KEYED_LEN)
    }
}

#[inline(always)]
pub fn alloc(heap: *mut c_void, size: usize, align: usize) -> *mut u8 {
    let size = padded(size);
    // SAFETY: `heap` is the calling thread's own, from `thread_start` (the
    // caller went through `thread::current`); `align` is a power of two.
    unsafe {
        if align <= NATURAL_ALIGN {
            rp::rpmalloc_heap_alloc(heap.cast(), size).cast()
        } else {
            rp::rpmalloc_heap_aligned_alloc(heap.cast(), align, size).cast()
        }
    }
}

#[inline(always)]
pub fn free(p: *mut u8) {
    // SAFETY: `p` is a live block of ours (checked by the caller). rpfree
    // needs no heap: a block of another thread's heap is handed back to it.
    unsafe { rp::rpfree(p.cast()) }
}

/// Where rpmalloc 1.4.5 keeps what `usable_size` needs, in the header of the
/// 64 KiB span every block lies in (`struct span_t` in rpmalloc.c): after
/// `void* free_list`, `uint32_t block_count`, then `size_class`; after two
/// more `uint32_t` and `atomicptr_t free_list_deferred`, `list_size`, then
/// `block_size` and `flags`. The test below checks the fast path against
/// `rpmalloc_usable_size` itself.
mod span {
    const WORD: usize = core::mem::size_of::<usize>();
    pub const MASK: usize = !(64 * 1024 - 1);
    pub const BLOCK_COUNT: usize = WORD;
    pub const SIZE_CLASS: usize = WORD + 4;
    pub const BLOCK_SIZE: usize = 2 * WORD + 20;
    pub const FLAGS: usize = 2 * WORD + 24;
    pub const SPAN_COUNT: usize = 2 * WORD + 28;
    /// `SIZE_CLASS_LARGE` (blocks of 2 to 63 spans, `span_count` spans) and
    /// `SIZE_CLASS_HUGE` (a mapping of `span_count` pages of 4 KiB).
    pub const LARGE: u32 = CLASS_COUNT;
    pub const HUGE: u32 = u32::MAX;
    pub const SPAN: usize = 64 * 1024;
    /// `SPAN_HEADER_SIZE`: the first block starts here.
    pub const HEADER_SIZE: usize = 128;
    /// Small classes (`SMALL_CLASS_COUNT`): blocks of 16 to 1024 bytes, in
    /// steps of 16, never merged; a request leaves at most 16 bytes of slack.
    pub const SMALL_CLASS_COUNT: u32 = 65;
    /// `SMALL_GRANULARITY` and `SMALL_SIZE_LIMIT`: a small request is served
    /// by the block of the next multiple of 16 bytes.
    pub const SMALL_GRANULARITY: usize = 16;
    pub const SMALL_LIMIT: usize = 1024;
    /// Small and medium classes (`SIZE_CLASS_COUNT`): blocks of one size.
    /// Medium blocks are 1536 bytes or more.
    pub const CLASS_COUNT: u32 = 65 + 61;
    /// `SPAN_FLAG_ALIGNED_BLOCKS`: some block of the span was handed out at
    /// an offset into it (an aligned allocation).
    pub const ALIGNED_BLOCKS: u32 = 4;
    /// The header is `SPAN_HEADER_SIZE` (128) bytes; `span_t` fills 68 of
    /// them on i686 and 88 on x86-64. The last word of the rest is ours: a
    /// large or huge block's request.
    pub const REQUEST: usize = HEADER_SIZE - WORD;
}

/// The header of the span a block of ours lies in.
#[derive(Clone, Copy)]
struct Header(*mut u8);

impl Header {
    #[inline(always)]
    fn of(p: *const u8) -> Header {
        Header((p as usize & span::MASK) as *mut u8)
    }

    #[inline(always)]
    fn field(self, offset: usize) -> u32 {
        // SAFETY: a live block's span header is mapped and initialised (every
        // `Header` is made from a live block of ours); the fields read are
        // aligned u32s. Volatile: rpmalloc's owner thread may write them.
        unsafe { core::ptr::read_volatile(self.0.add(offset).cast::<u32>()) }
    }

    #[inline(always)]
    fn size_class(self) -> u32 {
        self.field(span::SIZE_CLASS)
    }

    #[inline(always)]
    fn block_size(self) -> usize {
        self.field(span::BLOCK_SIZE) as usize
    }

    /// The usable size of the small or medium block `p` in this span.
    #[inline(always)]
    fn block_usable_size(self, p: *const u8) -> usize {
        if self.field(span::FLAGS) & span::ALIGNED_BLOCKS == 0 {
            // Every block starts at a block boundary: its size is the span's.
            self.block_size()
        } else {
            // SAFETY: `p` is a live block of ours.
            unsafe { rp::rpmalloc_usable_size(p.cast_mut().cast()) }
        }
    }

    fn request(self) -> *mut usize {
        self.0.wrapping_add(span::REQUEST).cast()
    }
}

/// The usable size of a block of ours. For a small or medium block handed
/// out at its start (every `malloc` block) that is the span's block size:
/// read it, rather than pay `rpmalloc_usable_size`'s call and division.
#[inline(always)]
pub fn usable_size(p: *const u8) -> usize {
    let header = Header::of(p);
    if header.size_class() >= span::CLASS_COUNT {
        // SAFETY: `p` is a live block of ours.
        return unsafe { rp::rpmalloc_usable_size(p.cast_mut().cast()) };
    }
    header.block_usable_size(p)
}

/// Settles a block the calling thread's heap just handed out for a request
/// of `size` bytes aligned to `align` (0 for none), in one look at its span
/// header (see [`Settled`]). Every block records its request, one of three
/// ways (see `record`), room for it asked of rpmalloc with the block
/// ([`padded`]):
/// - a small block in its tail: its slack (at most 16 bytes, unless asked
///   for with room to grow) zeroed by one 16-byte store ending at the
///   block's end (what it overwrites before `size` is not written yet), and
///   its length in its last byte;
/// - a medium block in its last 8 bytes, keyed to its address: zeroing its
///   slack would cost a `memset` of up to a few KiB. Nothing else says a
///   record is there: every medium block is settled here when handed out,
///   and the key is checked when it is read. The span's header is not
///   written: its second line is cold on this path (a mark there missed
///   the cache in one `small-churn` allocation out of three);
/// - a large or huge block is alone in its span, whose header holds it.
///
/// A block aligned to at most [`NATURAL_ALIGN`] starts at its block's start,
/// so its usable size is the span's block size: no look at the span's flags.
/// For a small request (`capacity` of 0 to 1023 bytes) that size is known
/// without the header: the request and its record rounded up to 16.
#[inline(always)]
pub fn settle(p: *mut u8, size: usize, capacity: usize, align: usize) -> Settled {
    if align <= NATURAL_ALIGN && capacity < span::SMALL_LIMIT {
        let block = small_block_size(padded(capacity));
        // SAFETY: `p` is a fresh block of `block` bytes, `size < block`;
        // asked for as `size + 1` bytes, it has 1 to 16 bytes of slack.
        unsafe {
            if capacity == size {
                record::write_short_tail(p, size, block);
            } else {
                record::write_tail(p, size, block, true);
            }
        }
        return Settled { usable: block, counted: block, recorded: true };
    }
    let header = Header::of(p);
    let class = header.size_class();
    if class >= span::CLASS_COUNT {
        // SAFETY: the request word lies in the header's padding past `span_t`,
        // which rpmalloc never touches; only the block's owner writes it.
        unsafe { header.request().write(size) };
        let usable = usable_size(p);
        return Settled { usable, counted: usable, recorded: true };
    }
    let block = header.block_size();
    let usable = if align > NATURAL_ALIGN { header.block_usable_size(p) } else { block };
    if class < span::SMALL_CLASS_COUNT {
        // SAFETY: `p` is a fresh block of `usable` bytes, `size < usable`.
        unsafe { record::write_tail(p, size, usable, true) };
    } else {
        // A medium block: its request is under 32 KiB.
        // SAFETY: the last 8 of `usable` bytes lie past `size` (`padded`).
        unsafe { record::write_keyed(p, size, usable) };
    }
    // An aligned block handed out past its block's start counts the bytes
    // before it too, as its free does.
    Settled { usable, counted: block, recorded: true }
}

/// The block size of a small class holding `size` bytes (1 to
/// [`span::SMALL_LIMIT`]): the next multiple of 16, as the small classes
/// step (see [`span::SMALL_CLASS_COUNT`]).
#[inline(always)]
fn small_block_size(size: usize) -> usize {
    (size + span::SMALL_GRANULARITY - 1) & !(span::SMALL_GRANULARITY - 1)
}

/// Settles a live block of ours resized in place to `size` bytes (at most its
/// usable size), from any thread: its request recorded again. `None` if it
/// cannot hold `size` and its record in place (the caller moves it).
pub fn settle_in_place(p: *mut u8, size: usize) -> Option<Settled> {
    let header = Header::of(p);
    let class = header.size_class();
    if class >= span::CLASS_COUNT {
        // SAFETY: as in `settle`; the block's user is the one writer.
        unsafe { header.request().write(size) };
        let usable = usable_size(p);
        return Some(Settled { usable, counted: usable, recorded: true });
    }
    let usable = header.block_usable_size(p);
    let counted = header.block_size();
    if class < span::SMALL_CLASS_COUNT {
        if size >= usable {
            return None;
        }
        // SAFETY: `size < usable`; what lies past `size` is given up (a
        // shrink) or not the caller's yet (a growth within the slack).
        unsafe { record::write_tail(p, size, usable, false) };
    } else {
        if usable - size < record::KEYED_LEN {
            return None;
        }
        // SAFETY: the last 8 bytes of the block lie past `size`.
        unsafe { record::write_keyed(p, size, usable) };
    }
    Some(Settled { usable, counted, recorded: true })
}

/// The bytes statistics count for a block of ours (see [`Settled::counted`]):
/// for a small or medium block, its span's block size, read from the header
/// [`owns`] has just made sure is ours.
#[inline(always)]
pub fn counted_size(p: *const u8) -> usize {
    let header = Header::of(p);
    if header.size_class() >= span::CLASS_COUNT {
        // SAFETY: `p` is a live block of ours.
        return unsafe { rp::rpmalloc_usable_size(p.cast_mut().cast()) };
    }
    header.block_size()
}

/// The request [`settle`] or [`settle_in_place`] recorded for a block of
/// ours, if its record validates (see `record`): one that does not (code
/// wrote past its request over it) is counted, and the caller answers the
/// block's usable size, which keeps every byte.
pub fn recorded_request(p: *const u8) -> Option<usize> {
    let header = Header::of(p);
    let class = header.size_class();
    let recorded = if class >= span::CLASS_COUNT {
        // SAFETY: as in `settle`.
        let request = unsafe { header.request().read() };
        (request <= usable_size(p)).then_some(request)
    } else {
        let usable = header.block_usable_size(p);
        if class < span::SMALL_CLASS_COUNT {
            // SAFETY: `usable` bytes of a live block of ours.
            unsafe { record::read_tail(p, usable) }
        } else {
            // SAFETY: as above; a medium block holds at least 8 bytes past
            // its request (see `settle`).
            unsafe { record::read_keyed(p, usable) }
        }
    };
    if recorded.is_none() {
        crate::thread::count(crate::stats::Event::BadRecord);
    }
    recorded
}

/// Where an address lies in rpmalloc's spans (see [`locate`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpanPlace {
    /// In a span's header: rpmalloc's bookkeeping.
    Header,
    /// Past a span's last block.
    Tail,
    /// In the block at `start` of `size` usable bytes; `request` is what a
    /// large or huge block's header records.
    Block { start: usize, size: usize, request: Option<usize> },
}

/// Spans looked at, at most, walking back from an address to the header of
/// the large or huge span it lies in (a huge block of 256 MiB).
const LOCATE_WALK: usize = 4096;

/// Where `addr` lies in rpmalloc's spans, or `None` if no span of ours
/// holds it (rpmalloc's other mappings: its heaps' own structures). Reads
/// every header with [`crate::os::read_safely`] and trusts none: for a note
/// written while the process dies, from any thread, without a lock.
pub fn locate(addr: usize) -> Option<SpanPlace> {
    let mut base = addr & span::MASK;
    for _ in 0..LOCATE_WALK {
        if crate::owner::owner_of(base as *const u8) != crate::owner::RPMALLOC {
            return None;
        }
        if let Some(place) = span_place(base, addr) {
            return Some(place);
        }
        base = base.checked_sub(span::SPAN)?;
    }
    None
}

/// Where `addr` lies in the span at `base`, if a plausible span header is
/// there and the span reaches `addr`.
fn span_place(base: usize, addr: usize) -> Option<SpanPlace> {
    let header = crate::os::read_safely::<{ span::HEADER_SIZE }>(base)?;
    let word = |offset: usize| {
        let bytes: [u8; 4] = header[offset..offset + 4].try_into().unwrap_or([0; 4]);
        u32::from_le_bytes(bytes)
    };
    let (class, span_count) = (word(span::SIZE_CLASS), word(span::SPAN_COUNT) as usize);
    let (first, end) = match class {
        span::HUGE => (base + span::HEADER_SIZE, base.checked_add(span_count.checked_mul(crate::os::PAGE)?)?),
        _ if (1..=256).contains(&span_count) => (base + span::HEADER_SIZE, base + span_count * span::SPAN),
        _ => return None,
    };
    if addr >= end || end <= first {
        return None;
    }
    if addr < first {
        return Some(SpanPlace::Header);
    }
    let request = || Some(word(span::REQUEST) as usize);
    match class {
        span::HUGE | span::LARGE => Some(SpanPlace::Block { start: first, size: end - first, request: request() }),
        class if class < span::CLASS_COUNT => {
            let (size, count) = (word(span::BLOCK_SIZE) as usize, word(span::BLOCK_COUNT) as usize);
            let plausible = size >= 16 && size % 16 == 0 && count >= 1 && first + count * size <= end;
            if !plausible {
                return None;
            }
            let index = (addr - first) / size;
            if index >= count {
                return Some(SpanPlace::Tail);
            }
            Some(SpanPlace::Block { start: first + index * size, size, request: None })
        }
        _ => None,
    }
}

/// The size class a block of ours lies in, as its span header names it
/// (`span::CLASS_COUNT` and above: a large or huge block).
pub fn block_class(p: *const u8) -> u32 {
    Header::of(p).size_class()
}

/// The size class a request of `size` bytes comes from (`u32::MAX`: large
/// or huge), its record's room included.
pub fn request_class(size: usize) -> u32 {
    // SAFETY: reads rpmalloc's class table, set at start.
    unsafe { rp::rpmalloc_size_class(padded(size)) }
}

/// A heap for the calling thread, owned by it: blocks other threads free
/// go back to it through its deferred lists.
pub fn thread_start() -> Option<*mut c_void> {
    // SAFETY: the backend is started.
    let heap = unsafe { rp::rpmalloc_heap_acquire() };
    (!heap.is_null()).then_some(heap.cast())
}

/// Trims every heap and the global cache from any thread (see
/// `crate::trim`): `release` gives everything cached back to the OS, else
/// what the heaps hold unused goes to the global cache and the global cache
/// gives back what stayed idle since the last call.
pub fn trim(release: bool) {
    // SAFETY: the backend is started; rpmalloc_trim may run on any thread
    // at any moment and never waits for another thread's work.
    unsafe { rp::rpmalloc_trim(c_int::from(release)) }
}

/// Trims the calling thread's own `heap`: what other threads emptied of its
/// spans, its caches and reserve, to the global cache or (`release`) to the
/// OS.
pub fn trim_own(heap: *mut c_void, release: bool) {
    if heap.is_null() {
        return;
    }
    // SAFETY: `heap` is the calling thread's own (the caller took it from the
    // thread's state), and no rpmalloc call of this thread is under way.
    unsafe { rp::rpmalloc_heap_trim(heap.cast(), c_int::from(release)) }
}

/// Bytes rpmalloc's global cache holds now.
pub fn cached() -> usize {
    // SAFETY: reads one counter; valid at any time.
    unsafe { rp::rpmalloc_global_cached() }
}

/// Gives the thread's heap back. Its caches go to the global cache, where
/// other threads find them; its live blocks stay valid, and the heap is
/// handed to the next thread that starts.
pub fn thread_finish(heap: *mut c_void) {
    // SAFETY: `heap` came from `thread_start` on this thread and is not used
    // again by it; null is ignored.
    unsafe { rp::rpmalloc_heap_release(heap.cast()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The span-header fast path agrees with rpmalloc for every size class,
    /// aligned blocks included, and every block records its exact request.
    #[test]
    fn usable_size_matches_rpmalloc_and_every_request_is_recorded() {
        let _ = crate::init(&crate::Config::DEFAULT);
        let heap = crate::thread::current().expect("a thread state").heap();
        let sizes = (0..2048).chain((2048..70_000).step_by(97)).chain([4 << 20, (4 << 20) + 1, 9 << 20]);
        for size in sizes {
            for align in [0, 32, 256, 4096] {
                let p = alloc(heap, size, align);
                assert!(!p.is_null());
                // SAFETY: a live block of ours.
                let expected = unsafe { rp::rpmalloc_usable_size(p.cast()) };
                assert_eq!(usable_size(p), expected, "size {size} align {align}");
                assert!(expected > size);
                let settled = settle(p, size, size, align);
                assert_eq!(settled.usable, expected, "size {size} align {align}");
                assert_eq!(counted_size(p), settled.counted, "size {size} align {align}");
                assert!(settled.counted >= settled.usable, "size {size} align {align}");
                assert!(settled.recorded, "size {size} align {align}");
                assert_eq!(recorded_request(p), Some(size), "size {size} align {align}");
                free(p);
            }
        }
    }

    /// A block asked for with room to grow (`capacity` past `size`) records
    /// its request whatever it held, and again when resized in place.
    #[test]
    fn settle_with_room_to_grow_and_in_place() {
        let _ = crate::init(&crate::Config::DEFAULT);
        let heap = crate::thread::current().expect("a thread state").heap();
        for capacity in (1..2048).chain((2048..70_000).step_by(89)) {
            for size in [0, capacity / 3, capacity * 2 / 3, capacity - 1, capacity] {
                let p = alloc(heap, capacity, 0);
                assert!(!p.is_null());
                let usable = usable_size(p);
                // SAFETY: a live block of `usable` bytes.
                unsafe { core::ptr::write_bytes(p, 0xA5, usable) };
                let settled = settle(p, size, capacity, 0);
                assert_eq!(settled.usable, usable, "capacity {capacity} size {size}");
                assert_eq!(counted_size(p), settled.counted, "capacity {capacity} size {size}");
                assert_eq!(recorded_request(p), Some(size), "capacity {capacity} size {size}");
                for resized in [size / 2, usable.saturating_sub(9), usable - 1, usable] {
                    match settle_in_place(p, resized) {
                        Some(_) => assert_eq!(recorded_request(p), Some(resized), "capacity {capacity} to {resized}"),
                        None => assert!(resized + 8 > usable, "capacity {capacity}: {resized} of {usable} refused"),
                    }
                }
                free(p);
            }
        }
    }
}
