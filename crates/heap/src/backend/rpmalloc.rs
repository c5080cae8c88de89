//! rpmalloc 1.4.5 (`crates/rpmalloc-sys`), with one first-class heap per
//! thread, kept in the thread's state (see [`crate::thread`]): no emulated
//! thread-local storage on the allocation path, and no callback of
//! rpmalloc's own ending threads behind the heap's back.
//!
//! The heap gives rpmalloc its own mapper, so that every span comes from
//! [`crate::os`] (granule-aligned) and is marked in [`crate::owner`] before a
//! block in it can exist.

use core::ffi::c_void;
use core::sync::atomic::{AtomicBool, Ordering};

use rpmalloc_sys as rp;

use super::{Settled, StartError};
use crate::config::Config;

/// rpmalloc's natural alignment: every block is aligned to this.
const NATURAL_ALIGN: usize = 16;

/// The smallest size class; every block size, and every aligned block's
/// distance to its block's end, is a multiple of it.
pub const MIN_USABLE: usize = 16;

/// Blocks of [`crate::stats::PUBLISH_BYTES`] and more are alone in their
/// span, and only those record their request (see [`settle`]).
pub const LARGE_IS_RECORDED: bool = true;

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
    if !crate::owner::mark(region.base, size) {
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
    crate::owner::contains(p)
}

#[inline(always)]
pub fn alloc(heap: *mut c_void, size: usize, align: usize) -> *mut u8 {
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
    pub const SIZE_CLASS: usize = WORD + 4;
    pub const BLOCK_SIZE: usize = 2 * WORD + 20;
    pub const FLAGS: usize = 2 * WORD + 24;
    /// Small and medium classes (`SIZE_CLASS_COUNT`): blocks of one size.
    pub const CLASS_COUNT: u32 = 65 + 61;
    /// `SPAN_FLAG_ALIGNED_BLOCKS`: some block of the span was handed out at
    /// an offset into it (an aligned allocation).
    pub const ALIGNED_BLOCKS: u32 = 4;
    /// The header is `SPAN_HEADER_SIZE` (128) bytes; `span_t` fills 68 of
    /// them on i686 and 88 on x86-64. The last word of the rest is ours.
    pub const REQUEST: usize = 128 - WORD;
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

    /// Small and medium spans hold many blocks of one size; large and huge
    /// ones hold one block.
    #[inline(always)]
    fn holds_one_block(self) -> bool {
        self.field(span::SIZE_CLASS) >= span::CLASS_COUNT
    }

    /// The usable size of the small or medium block `p` in this span.
    #[inline(always)]
    fn block_usable_size(self, p: *const u8) -> usize {
        if self.field(span::FLAGS) & span::ALIGNED_BLOCKS == 0 {
            // Every block starts at a block boundary: its size is the span's.
            self.field(span::BLOCK_SIZE) as usize
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
    if header.holds_one_block() {
        // SAFETY: `p` is a live block of ours.
        return unsafe { rp::rpmalloc_usable_size(p.cast_mut().cast()) };
    }
    header.block_usable_size(p)
}

/// Settles a block just handed out or resized for a request of `size`
/// bytes aligned to `align` (0 for none), in one look at its span header:
/// see [`Settled`]. Large and huge blocks are alone in their span, whose
/// header has room for the request; that spares zeroing their slack (up to
/// 64 KiB), and they are the only blocks of [`crate::stats::PUBLISH_BYTES`]
/// or more (medium blocks end at 32 KiB). A block aligned to at most [`NATURAL_ALIGN`] starts at its
/// block's start, so its usable size is the span's block size: no look at the
/// span's flags.
#[inline(always)]
pub fn settle(p: *mut u8, size: usize, align: usize) -> Settled {
    let header = Header::of(p);
    if !header.holds_one_block() {
        let block = header.field(span::BLOCK_SIZE) as usize;
        let usable = if align <= NATURAL_ALIGN { block } else { header.block_usable_size(p) };
        return Settled { usable, counted: block, recorded: false, large: false };
    }
    // SAFETY: the request word lies in the header's padding past `span_t`,
    // which rpmalloc never touches; only the block's owner writes it.
    unsafe { header.request().write(size) };
    let usable = usable_size(p);
    Settled { usable, counted: usable, recorded: true, large: true }
}

/// The bytes statistics count for a block of ours (see [`Settled::counted`]):
/// for a small or medium block, its span's block size, read from the header
/// [`owns`] has just made sure is ours.
#[inline(always)]
pub fn counted_size(p: *const u8) -> usize {
    let header = Header::of(p);
    if header.holds_one_block() {
        // SAFETY: `p` is a live block of ours.
        return unsafe { rp::rpmalloc_usable_size(p.cast_mut().cast()) };
    }
    header.field(span::BLOCK_SIZE) as usize
}

/// The size recorded by [`settle`] for a large or huge block.
pub fn recorded_request(p: *const u8) -> Option<usize> {
    let header = Header::of(p);
    // SAFETY: as in `settle`.
    header.holds_one_block().then(|| unsafe { header.request().read() })
}

/// Resizes through `rpmalloc_heap_aligned_realloc`. rpmalloc never shrinks
/// a block in place below half of it and over-allocates small growth; both
/// are fine for CRT semantics. `size == 0` is handled by the caller.
pub fn realloc(heap: *mut c_void, p: *mut u8, size: usize, align: usize) -> *mut u8 {
    // SAFETY: `p` is a live block of ours and `heap` the calling thread's own.
    unsafe { rp::rpmalloc_heap_aligned_realloc(heap.cast(), p.cast(), align.max(1), size, 0).cast() }
}

/// A heap for the calling thread, owned by it: blocks other threads free
/// go back to it through its deferred lists.
pub fn thread_start() -> Option<*mut c_void> {
    // SAFETY: the backend is started.
    let heap = unsafe { rp::rpmalloc_heap_acquire() };
    (!heap.is_null()).then_some(heap.cast())
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
    /// aligned blocks included.
    #[test]
    fn usable_size_matches_rpmalloc() {
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
                assert!(expected >= size);
                let settled = settle(p, size, align);
                assert_eq!(settled.usable, expected, "size {size} align {align}");
                assert_eq!(counted_size(p), settled.counted, "size {size} align {align}");
                assert!(settled.counted >= settled.usable, "size {size} align {align}");
                assert!(settled.large || settled.counted < crate::stats::PUBLISH_BYTES, "size {size} align {align}");
                if settled.recorded {
                    // Large and huge blocks only: past the medium classes, or
                    // aligned beyond what a span of blocks can give.
                    assert!(size > 30_000 || align > 128, "size {size} align {align} has no room");
                    assert_eq!(recorded_request(p), Some(size));
                } else {
                    assert_eq!(recorded_request(p), None);
                }
                free(p);
            }
        }
    }
}
