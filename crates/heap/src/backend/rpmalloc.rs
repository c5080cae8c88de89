//! rpmalloc 1.4 (the copy bundled by `rpmalloc-sys` 0.2.3, upstream b097fd0).
//!
//! The crate's own bindings are not used: its thread statistics struct is
//! too small for the C one, `rpmalloc_thread_finalize` lacks its argument,
//! and `rpmalloc_initialize_config` is missing. The declarations below follow
//! `rpmalloc.h` of that snapshot; the layout test below checks the struct against the C sizes.
//!
//! The heap gives rpmalloc its own mapper, so that every span comes from
//! [`crate::os`] (granule-aligned) and is marked in [`crate::owner`] before a
//! block in it can exist.

use core::ffi::{c_char, c_int, c_uint, c_void};

use super::StartError;
use crate::config::Config;

// The C library is linked through the crate; none of its Rust items are used.
use rpmalloc_sys as _;

/// `rpmalloc_config_t` of rpmalloc 1.4.3 (36 bytes on 32-bit targets).
#[repr(C)]
pub struct RpmallocConfig {
    pub memory_map: Option<unsafe extern "C" fn(size: usize, offset: *mut usize) -> *mut c_void>,
    pub memory_unmap: Option<unsafe extern "C" fn(address: *mut c_void, size: usize, offset: usize, release: usize)>,
    pub error_callback: Option<unsafe extern "C" fn(message: *const c_char)>,
    pub map_fail_callback: Option<unsafe extern "C" fn(size: usize) -> c_int>,
    pub page_size: usize,
    pub span_size: usize,
    pub span_map_count: usize,
    pub enable_huge_pages: c_int,
    pub unused: c_int,
}

/// rpmalloc's natural alignment: every block is aligned to this.
const NATURAL_ALIGN: usize = 16;

extern "C" {
    fn rpmalloc_initialize_config(config: *const RpmallocConfig) -> c_int;
    fn rpmalloc_thread_initialize();
    fn rpmalloc_thread_finalize(release_caches: c_int);
    fn rpmalloc(size: usize) -> *mut c_void;
    fn rpaligned_alloc(alignment: usize, size: usize) -> *mut c_void;
    fn rpaligned_realloc(p: *mut c_void, alignment: usize, size: usize, oldsize: usize, flags: c_uint) -> *mut c_void;
    fn rpfree(p: *mut c_void);
    fn rpmalloc_usable_size(p: *mut c_void) -> usize;
}

pub fn start(config: &Config) -> Result<(), StartError> {
    let rp_config = RpmallocConfig {
        memory_map: Some(map),
        memory_unmap: Some(unmap),
        error_callback: None,
        map_fail_callback: None,
        page_size: 0,
        span_size: 0,
        span_map_count: config.span_map_count.max(1),
        enable_huge_pages: 0,
        unused: 0,
    };
    // SAFETY: the config is a valid `rpmalloc_config_t`, copied by rpmalloc;
    // the callbacks honour rpmalloc's contract (see `map`, `unmap`).
    match unsafe { rpmalloc_initialize_config(&rp_config) } {
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
pub fn alloc(size: usize, align: usize) -> *mut u8 {
    // SAFETY: the backend is started and the calling thread's heap is started
    // (the caller went through `thread::current`); `align` is a power of two.
    unsafe {
        if align <= NATURAL_ALIGN {
            rpmalloc(size).cast()
        } else {
            rpaligned_alloc(align, size).cast()
        }
    }
}

#[inline(always)]
pub fn free(p: *mut u8) {
    // SAFETY: `p` is a live block of ours (checked by the caller). rpfree is
    // safe from any thread, started or not.
    unsafe { rpfree(p.cast()) }
}

/// Where rpmalloc 1.4.3 keeps what `usable_size` needs, in the header of the
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
            unsafe { rpmalloc_usable_size(p.cast_mut().cast()) }
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
        return unsafe { rpmalloc_usable_size(p.cast_mut().cast()) };
    }
    header.block_usable_size(p)
}

/// Settles a block just handed out or resized for a request of `size`
/// bytes, in one look at its span header: returns its usable size, and
/// whether the request is recorded. Large and huge blocks are alone in their
/// span, whose header has room for it; that spares zeroing their slack (up to
/// 64 KiB).
#[inline(always)]
pub fn settle(p: *mut u8, size: usize) -> (usize, bool) {
    let header = Header::of(p);
    if !header.holds_one_block() {
        return (header.block_usable_size(p), false);
    }
    // SAFETY: the request word lies in the header's padding past `span_t`,
    // which rpmalloc never touches; only the block's owner writes it.
    unsafe { header.request().write(size) };
    (usable_size(p), true)
}

/// The size recorded by [`settle`] for a large or huge block.
pub fn recorded_request(p: *const u8) -> Option<usize> {
    let header = Header::of(p);
    // SAFETY: as in `settle`.
    header.holds_one_block().then(|| unsafe { header.request().read() })
}

/// Resizes through `rpaligned_realloc`. rpmalloc never shrinks a block in
/// place below half of it and over-allocates small growth; both are fine for
/// CRT semantics. `size == 0` is handled by the caller.
pub fn realloc(p: *mut u8, size: usize, align: usize) -> *mut u8 {
    // SAFETY: `p` is a live block of ours and the thread's heap is started.
    unsafe { rpaligned_realloc(p.cast(), align.max(1), size, 0, 0).cast() }
}

pub fn thread_start() {
    // SAFETY: the backend is started; idempotent per thread.
    unsafe { rpmalloc_thread_initialize() }
}

pub fn thread_finish() {
    // Caches go to the global cache, where other threads find them, rather
    // than staying with an orphaned heap.
    // SAFETY: finalising a thread with no heap does nothing.
    unsafe { rpmalloc_thread_finalize(1) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::{offset_of, size_of};

    /// The span-header fast path agrees with rpmalloc for every size class,
    /// aligned blocks included.
    #[test]
    fn usable_size_matches_rpmalloc() {
        let _ = crate::init(&crate::Config::DEFAULT);
        crate::thread::current();
        let sizes = (0..2048).chain((2048..70_000).step_by(97)).chain([4 << 20, (4 << 20) + 1, 9 << 20]);
        for size in sizes {
            for align in [0, 32, 256, 4096] {
                let p = alloc(size, align);
                assert!(!p.is_null());
                // SAFETY: a live block of ours.
                let expected = unsafe { rpmalloc_usable_size(p.cast()) };
                assert_eq!(usable_size(p), expected, "size {size} align {align}");
                assert!(expected >= size);
                let (settled, recorded) = settle(p, size);
                assert_eq!(settled, expected, "size {size} align {align}");
                if recorded {
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

    /// `rpmalloc_config_t` as the C compiler lays it out: four function
    /// pointers, three `size_t`, two `int` (36 bytes on i686, 64 on x86-64).
    #[test]
    fn config_matches_the_c_layout() {
        let word = size_of::<usize>();
        assert_eq!(offset_of!(RpmallocConfig, memory_map), 0);
        assert_eq!(offset_of!(RpmallocConfig, memory_unmap), word);
        assert_eq!(offset_of!(RpmallocConfig, error_callback), 2 * word);
        assert_eq!(offset_of!(RpmallocConfig, map_fail_callback), 3 * word);
        assert_eq!(offset_of!(RpmallocConfig, page_size), 4 * word);
        assert_eq!(offset_of!(RpmallocConfig, span_size), 5 * word);
        assert_eq!(offset_of!(RpmallocConfig, span_map_count), 6 * word);
        assert_eq!(offset_of!(RpmallocConfig, enable_huge_pages), 7 * word);
        assert_eq!(offset_of!(RpmallocConfig, unused), 7 * word + 4);
        assert_eq!(size_of::<RpmallocConfig>(), if word == 4 { 36 } else { 64 });
    }
}
