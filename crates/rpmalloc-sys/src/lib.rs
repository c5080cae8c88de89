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
//! this build they have no heap to work with.
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
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use core::mem::{offset_of, size_of};

    /// `rpmalloc_config_t` as the C compiler lays it out: four function
    /// pointers, three `size_t`, an `int` and two pointers (40 bytes on i686,
    /// 80 on x86-64).
    #[test]
    fn config_matches_the_c_layout() {
        let word = size_of::<usize>();
        assert_eq!(offset_of!(rpmalloc_config_t, memory_map), 0);
        assert_eq!(offset_of!(rpmalloc_config_t, memory_unmap), word);
        assert_eq!(offset_of!(rpmalloc_config_t, error_callback), 2 * word);
        assert_eq!(offset_of!(rpmalloc_config_t, map_fail_callback), 3 * word);
        assert_eq!(offset_of!(rpmalloc_config_t, page_size), 4 * word);
        assert_eq!(offset_of!(rpmalloc_config_t, span_size), 5 * word);
        assert_eq!(offset_of!(rpmalloc_config_t, span_map_count), 6 * word);
        assert_eq!(offset_of!(rpmalloc_config_t, enable_huge_pages), 7 * word);
        assert_eq!(offset_of!(rpmalloc_config_t, page_name), 8 * word);
        assert_eq!(offset_of!(rpmalloc_config_t, huge_page_name), 9 * word);
        assert_eq!(size_of::<rpmalloc_config_t>(), 10 * word);
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
