//! rpmalloc 1.4.5, vendored from upstream (tag `1.4.5`, commit `e4393ff`)
//! with the patches listed in `rpmalloc/README.md`, and bindings written
//! against its `rpmalloc.h`.
//!
//! It is built with first-class heaps and without a thread heap of its own
//! (`RPMALLOC_NO_THREAD_HEAP`): the embedder acquires one heap per thread with
//! [`rpmalloc_heap_acquire`], allocates from it with the `rpmalloc_heap_*`
//! functions and releases it when the thread ends. Blocks are freed with
//! [`rpfree`] from any thread. The thread-heap functions (`rpmalloc`,
//! `rprealloc`, `rpaligned_alloc`, `rpmalloc_thread_*`) are not bound: in
//! this build they have no heap to work with; `rpmalloc_thread_statistics`
//! is, and reports an empty heap. The layout of every bound structure is
//! checked against the target's C compiler (`c/layout.c`).
#![no_std]
#![allow(non_camel_case_types)]

use core::ffi::{c_char, c_int, c_uint, c_void};

/// The upstream release vendored here.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// `rpmalloc_config_t`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct rpmalloc_config_t {
    /// Maps `size` bytes; stores the alignment padding in `*offset`.
    pub memory_map: Option<unsafe extern "C" fn(size: usize, offset: *mut usize) -> *mut c_void>,
    /// Unmaps (`release != 0`: the whole mapping of `release` bytes) or
    /// decommits (`release == 0`) memory `memory_map` gave.
    pub memory_unmap: Option<unsafe extern "C" fn(address: *mut c_void, size: usize, offset: usize, release: usize)>,
    /// Called when an assert fails (asserts are off in this build).
    pub error_callback: Option<unsafe extern "C" fn(message: *const c_char)>,
    /// Called when the default mapper fails (unused with a `memory_map`).
    pub map_fail_callback: Option<unsafe extern "C" fn(size: usize) -> c_int>,
    /// Page size (0: the system's).
    pub page_size: usize,
    /// Span size (0: the default 64 KiB; fixed unless `RPMALLOC_CONFIGURABLE`).
    pub span_size: usize,
    /// Spans mapped per call to `memory_map`.
    pub span_map_count: usize,
    /// Use large pages.
    pub enable_huge_pages: c_int,
    /// Names for mapped regions, where the OS supports them (Linux).
    pub page_name: *const c_char,
    pub huge_page_name: *const c_char,
}

/// `rpmalloc_global_statistics_t`. In this build (`ENABLE_STATISTICS=0`)
/// only `cached` is filled in; the rest reads 0.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct rpmalloc_global_statistics_t {
    /// Virtual memory mapped now.
    pub mapped: usize,
    /// Most virtual memory mapped at once.
    pub mapped_peak: usize,
    /// Bytes in the global span caches.
    pub cached: usize,
    /// Bytes in huge blocks now.
    pub huge_alloc: usize,
    /// Most bytes in huge blocks at once.
    pub huge_alloc_peak: usize,
    /// Bytes mapped since initialisation.
    pub mapped_total: usize,
    /// Bytes unmapped since initialisation.
    pub unmapped_total: usize,
}

/// One span count of [`rpmalloc_thread_statistics_t::span_use`] (an
/// anonymous struct in C).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct rpmalloc_span_statistics_t {
    pub current: usize,
    pub peak: usize,
    pub to_global: usize,
    pub from_global: usize,
    pub to_cache: usize,
    pub from_cache: usize,
    pub to_reserved: usize,
    pub from_reserved: usize,
    pub map_calls: usize,
}

/// One size class of [`rpmalloc_thread_statistics_t::size_use`] (an
/// anonymous struct in C).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct rpmalloc_size_class_statistics_t {
    pub alloc_current: usize,
    pub alloc_peak: usize,
    pub alloc_total: usize,
    pub free_total: usize,
    pub spans_to_cache: usize,
    pub spans_from_cache: usize,
    pub spans_from_reserved: usize,
    pub map_calls: usize,
}

/// `rpmalloc_thread_statistics_t` (12,832 bytes on x86-64, 6,416 on i686).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct rpmalloc_thread_statistics_t {
    /// Bytes in the thread's size class caches.
    pub sizecache: usize,
    /// Bytes in the thread's span caches.
    pub spancache: usize,
    pub thread_to_global: usize,
    pub global_to_thread: usize,
    /// Per span count (only with `ENABLE_STATISTICS`).
    pub span_use: [rpmalloc_span_statistics_t; 64],
    /// Per size class (only with `ENABLE_STATISTICS`).
    pub size_use: [rpmalloc_size_class_statistics_t; 128],
}

impl Default for rpmalloc_thread_statistics_t {
    fn default() -> Self {
        rpmalloc_thread_statistics_t {
            sizecache: 0,
            spancache: 0,
            thread_to_global: 0,
            global_to_thread: 0,
            span_use: [rpmalloc_span_statistics_t::default(); 64],
            size_use: [rpmalloc_size_class_statistics_t::default(); 128],
        }
    }
}

/// `rpmalloc_heap_t`: a heap, opaque.
#[repr(C)]
pub struct rpmalloc_heap_t {
    _opaque: [u8; 0],
}

/// Flag of the realloc functions: fail rather than move the block.
pub const RPMALLOC_GROW_OR_FAIL: c_uint = 2;

extern "C" {
    /// Initialises the allocator (once per process). 0 on success.
    pub fn rpmalloc_initialize_config(config: *const rpmalloc_config_t) -> c_int;
    /// The configuration in force, with the defaults filled in (page and
    /// span size); valid once initialised.
    pub fn rpmalloc_config() -> *const rpmalloc_config_t;
    /// Fills `stats` with the global statistics.
    pub fn rpmalloc_global_statistics(stats: *mut rpmalloc_global_statistics_t);
    /// Fills `stats` with the calling thread's heap statistics. In this build
    /// rpmalloc keeps no thread heap (patch 1): all zeros.
    pub fn rpmalloc_thread_statistics(stats: *mut rpmalloc_thread_statistics_t);
    /// Frees a block of any heap, from any thread.
    pub fn rpfree(ptr: *mut c_void);
    /// The usable size of a block.
    pub fn rpmalloc_usable_size(ptr: *mut c_void) -> usize;
    /// A heap owned by the calling thread (patch 2), or null if none can be
    /// mapped. Only that thread may allocate from it.
    pub fn rpmalloc_heap_acquire() -> *mut rpmalloc_heap_t;
    /// Gives a heap back, with its caches; its live blocks stay valid.
    pub fn rpmalloc_heap_release(heap: *mut rpmalloc_heap_t);
    pub fn rpmalloc_heap_alloc(heap: *mut rpmalloc_heap_t, size: usize) -> *mut c_void;
    pub fn rpmalloc_heap_aligned_alloc(heap: *mut rpmalloc_heap_t, alignment: usize, size: usize) -> *mut c_void;
    pub fn rpmalloc_heap_realloc(
        heap: *mut rpmalloc_heap_t,
        ptr: *mut c_void,
        size: usize,
        flags: c_uint,
    ) -> *mut c_void;
    pub fn rpmalloc_heap_aligned_realloc(
        heap: *mut rpmalloc_heap_t,
        ptr: *mut c_void,
        alignment: usize,
        size: usize,
        flags: c_uint,
    ) -> *mut c_void;
    /// Trims every heap and the global cache, from any thread, without
    /// waiting for another (patch 4): what the heaps hold unused goes to the
    /// global cache (`release == 0`) or back to the OS, and the global cache
    /// gives the OS what stayed idle since the last call (or everything).
    pub fn rpmalloc_trim(release: c_int);
    /// Trims the calling thread's own `heap` (patch 4): partial spans other
    /// threads emptied, the spans freed whole to it, its caches and reserve
    /// go to the global cache (`release == 0`) or back to the OS.
    pub fn rpmalloc_heap_trim(heap: *mut rpmalloc_heap_t, release: c_int);
    /// The size class a block of `size` bytes comes from, as a span header's
    /// `size_class` reads; `u32::MAX` for a large or huge block (patch 5).
    pub fn rpmalloc_size_class(size: usize) -> u32;
    /// Bytes in the global cache now (patch 4).
    pub fn rpmalloc_global_cached() -> usize;
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use core::mem::{offset_of, size_of};

    extern "C" {
        /// Sizes and offsets from `c/layout.c`, in the order of `rust_layout`.
        static rpmalloc_sys_layout: [usize; 45];
        static rpmalloc_sys_layout_count: usize;
    }

    /// The same sizes and offsets as `c/layout.c` lists, from the bindings.
    fn rust_layout() -> std::vec::Vec<(&'static str, usize)> {
        type Config = rpmalloc_config_t;
        type Global = rpmalloc_global_statistics_t;
        type Thread = rpmalloc_thread_statistics_t;
        type Span = rpmalloc_span_statistics_t;
        type Class = rpmalloc_size_class_statistics_t;
        std::vec![
            ("sizeof(rpmalloc_config_t)", size_of::<Config>()),
            ("memory_map", offset_of!(Config, memory_map)),
            ("memory_unmap", offset_of!(Config, memory_unmap)),
            ("error_callback", offset_of!(Config, error_callback)),
            ("map_fail_callback", offset_of!(Config, map_fail_callback)),
            ("page_size", offset_of!(Config, page_size)),
            ("span_size", offset_of!(Config, span_size)),
            ("span_map_count", offset_of!(Config, span_map_count)),
            ("enable_huge_pages", offset_of!(Config, enable_huge_pages)),
            ("page_name", offset_of!(Config, page_name)),
            ("huge_page_name", offset_of!(Config, huge_page_name)),
            ("sizeof(rpmalloc_global_statistics_t)", size_of::<Global>()),
            ("mapped", offset_of!(Global, mapped)),
            ("mapped_peak", offset_of!(Global, mapped_peak)),
            ("cached", offset_of!(Global, cached)),
            ("huge_alloc", offset_of!(Global, huge_alloc)),
            ("huge_alloc_peak", offset_of!(Global, huge_alloc_peak)),
            ("mapped_total", offset_of!(Global, mapped_total)),
            ("unmapped_total", offset_of!(Global, unmapped_total)),
            ("sizeof(rpmalloc_thread_statistics_t)", size_of::<Thread>()),
            ("sizecache", offset_of!(Thread, sizecache)),
            ("spancache", offset_of!(Thread, spancache)),
            ("thread_to_global", offset_of!(Thread, thread_to_global)),
            ("global_to_thread", offset_of!(Thread, global_to_thread)),
            ("span_use", offset_of!(Thread, span_use)),
            ("sizeof(span_use[0])", size_of::<Span>()),
            ("span_use[0].current", offset_of!(Thread, span_use) + offset_of!(Span, current)),
            ("span_use[0].peak", offset_of!(Thread, span_use) + offset_of!(Span, peak)),
            ("span_use[0].to_global", offset_of!(Thread, span_use) + offset_of!(Span, to_global)),
            ("span_use[0].from_global", offset_of!(Thread, span_use) + offset_of!(Span, from_global)),
            ("span_use[0].to_cache", offset_of!(Thread, span_use) + offset_of!(Span, to_cache)),
            ("span_use[0].from_cache", offset_of!(Thread, span_use) + offset_of!(Span, from_cache)),
            ("span_use[0].to_reserved", offset_of!(Thread, span_use) + offset_of!(Span, to_reserved)),
            ("span_use[0].from_reserved", offset_of!(Thread, span_use) + offset_of!(Span, from_reserved)),
            ("span_use[0].map_calls", offset_of!(Thread, span_use) + offset_of!(Span, map_calls)),
            ("size_use", offset_of!(Thread, size_use)),
            ("sizeof(size_use[0])", size_of::<Class>()),
            ("size_use[0].alloc_current", offset_of!(Thread, size_use) + offset_of!(Class, alloc_current)),
            ("size_use[0].alloc_peak", offset_of!(Thread, size_use) + offset_of!(Class, alloc_peak)),
            ("size_use[0].alloc_total", offset_of!(Thread, size_use) + offset_of!(Class, alloc_total)),
            ("size_use[0].free_total", offset_of!(Thread, size_use) + offset_of!(Class, free_total)),
            ("size_use[0].spans_to_cache", offset_of!(Thread, size_use) + offset_of!(Class, spans_to_cache)),
            ("size_use[0].spans_from_cache", offset_of!(Thread, size_use) + offset_of!(Class, spans_from_cache)),
            ("size_use[0].spans_from_reserved", offset_of!(Thread, size_use) + offset_of!(Class, spans_from_reserved),),
            ("size_use[0].map_calls", offset_of!(Thread, size_use) + offset_of!(Class, map_calls)),
        ]
    }

    /// The bound structures are laid out as the target's C compiler lays out
    /// `rpmalloc.h` (x86-64 natively, i686 under Wine).
    #[test]
    fn structures_match_the_c_layout() {
        let rust = rust_layout();
        // SAFETY: constant arrays defined in `c/layout.c`, of the declared
        // length (checked against the count the C side gives).
        let (c, count) = unsafe { (&rpmalloc_sys_layout, rpmalloc_sys_layout_count) };
        assert_eq!(count, c.len(), "c/layout.c and this test list different fields");
        assert_eq!(rust.len(), c.len());
        for ((name, rust), c) in rust.iter().zip(c) {
            assert_eq!(rust, c, "{name}");
        }
        // The hand-counted sizes, for the reader: words only, but for the
        // config's `int` (padded to a word).
        let word = size_of::<usize>();
        assert_eq!(size_of::<rpmalloc_config_t>(), 10 * word);
        assert_eq!(size_of::<rpmalloc_thread_statistics_t>(), (4 + 64 * 9 + 128 * 8) * word);
    }

    /// A heap serves its thread; its blocks are freed from another thread,
    /// after the heap was released, and the heap is acquired again.
    #[test]
    fn heaps_are_acquired_used_and_released_per_thread() {
        // SAFETY: the default configuration (all zeros: the built-in mapper).
        let config: rpmalloc_config_t = unsafe { core::mem::zeroed() };
        // SAFETY: initialisation with a valid configuration.
        assert_eq!(unsafe { rpmalloc_initialize_config(&config) }, 0);
        let blocks = std::thread::spawn(|| {
            // SAFETY: the heap is this thread's; blocks are written within
            // their usable size, then handed to another thread whole.
            unsafe {
                let heap = rpmalloc_heap_acquire();
                assert!(!heap.is_null());
                let blocks: std::vec::Vec<usize> = (1..200usize)
                    .map(|i| {
                        let p = rpmalloc_heap_alloc(heap, i * 37).cast::<u8>();
                        assert!(rpmalloc_usable_size(p.cast()) >= i * 37);
                        p.write_bytes(i as u8, i * 37);
                        p as usize
                    })
                    .collect();
                let aligned = rpmalloc_heap_aligned_alloc(heap, 4096, 100);
                assert_eq!(aligned as usize % 4096, 0);
                rpfree(aligned);
                rpmalloc_heap_release(heap);
                blocks
            }
        })
        .join()
        .unwrap();
        for (i, &p) in blocks.iter().enumerate() {
            let p = p as *mut u8;
            // SAFETY: live blocks of the released heap, still valid.
            unsafe {
                assert_eq!(*p, (i + 1) as u8);
                rpfree(p.cast());
            }
        }
        // SAFETY: rpmalloc is initialised; the results are plain data.
        let (config, global, thread) = unsafe {
            let mut global = rpmalloc_global_statistics_t::default();
            rpmalloc_global_statistics(&mut global);
            // Not zero before: the call is seen to clear it.
            let mut thread = rpmalloc_thread_statistics_t { sizecache: 1, ..Default::default() };
            rpmalloc_thread_statistics(&mut thread);
            (*rpmalloc_config(), global, thread)
        };
        assert_eq!(config.span_size, 64 * 1024);
        assert!(config.page_size.is_power_of_two());
        // Without ENABLE_STATISTICS only the cache is counted; without a
        // thread heap of rpmalloc's own, the thread's statistics are empty.
        assert_eq!((global.mapped, global.mapped_total), (0, 0));
        assert_eq!(thread, rpmalloc_thread_statistics_t::default());
        std::thread::spawn(|| {
            // SAFETY: as above; the released heap is handed out again.
            unsafe {
                let heap = rpmalloc_heap_acquire();
                let p = rpmalloc_heap_alloc(heap, 100);
                let q = rpmalloc_heap_realloc(heap, p, 5000, 0);
                assert!(!q.is_null());
                rpfree(q);
                rpmalloc_heap_release(heap);
            }
        })
        .join()
        .unwrap();
    }
}
