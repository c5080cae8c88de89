//! The C runtime the test binary links, as the "original" allocator: msvcrt
//! on Windows, glibc natively (with the MSVC-only functions written on top
//! of it). Blocks it allocates are foreign to the heap.

use heap::{Function, Originals};

#[cfg(windows)]
pub fn originals() -> Originals {
    use windows_sys::Win32::System::LibraryLoader::{GetModuleHandleA, GetProcAddress};
    let crt = Originals::new();
    // SAFETY: msvcrt.dll is loaded (the binary links it) and stays loaded.
    let module = unsafe { GetModuleHandleA(c"msvcrt.dll".as_ptr().cast()) };
    assert!(!module.is_null(), "msvcrt.dll is loaded");
    for function in Function::ALL {
        let name = std::ffi::CString::new(function.export_name()).unwrap();
        // SAFETY: a lookup in a loaded module.
        let address = unsafe { GetProcAddress(module, name.as_ptr().cast()) };
        // SAFETY: msvcrt's export of that name has the family's signature.
        unsafe { crt.set(function, address.map_or(0, |f| f as usize)) };
    }
    crt
}

#[cfg(unix)]
pub fn originals() -> Originals {
    use stand_in::*;
    let crt = Originals::new();
    let table: [(Function, usize); 12] = [
        (Function::Malloc, malloc as *const () as usize),
        (Function::Free, free as *const () as usize),
        (Function::Calloc, calloc as *const () as usize),
        (Function::Realloc, realloc as *const () as usize),
        (Function::Msize, msize as *const () as usize),
        (Function::Expand, expand as *const () as usize),
        (Function::Recalloc, recalloc as *const () as usize),
        (Function::AlignedMalloc, aligned_malloc as *const () as usize),
        (Function::AlignedRealloc, aligned_realloc as *const () as usize),
        (Function::AlignedFree, free as *const () as usize),
        (Function::AlignedMsize, aligned_msize as *const () as usize),
        (Function::Errno, errno as *const () as usize),
    ];
    for (function, address) in table {
        // SAFETY: each function below has the family's signature and semantics.
        unsafe { crt.set(function, address) };
    }
    crt
}

/// An MSVC-like runtime over glibc: `_msize` is the exact requested size, as
/// `HeapSize` makes it on Windows. Each block has a header before it with
/// its size and the address glibc returned.
#[cfg(unix)]
mod stand_in {
    use core::ptr;
    use libc::{c_int, c_void};

    const HEADER: usize = 16;

    unsafe fn header(p: *mut c_void) -> *mut [usize; 2] {
        // SAFETY: every block of this runtime has a header right before it.
        unsafe { p.cast::<u8>().sub(HEADER).cast() }
    }

    /// Null with `errno = ENOMEM`, as MSVC's runtime fails.
    fn no_memory() -> *mut c_void {
        // SAFETY: glibc's per-thread errno.
        unsafe { *libc::__errno_location() = libc::ENOMEM };
        ptr::null_mut()
    }

    unsafe fn make(size: usize, align: usize) -> *mut c_void {
        let align = align.max(HEADER);
        let Some(total) = size.checked_add(align + HEADER) else { return no_memory() };
        // SAFETY: plain glibc calls; the block is laid out inside `total` bytes.
        unsafe {
            let raw = libc::malloc(total);
            if raw.is_null() {
                return no_memory();
            }
            let p = ((raw as usize + HEADER + align - 1) & !(align - 1)) as *mut c_void;
            *header(p) = [size, raw as usize];
            p
        }
    }

    pub unsafe extern "C" fn malloc(size: usize) -> *mut c_void {
        // SAFETY: see `make`.
        unsafe { make(size, HEADER) }
    }

    pub unsafe extern "C" fn aligned_malloc(size: usize, align: usize) -> *mut c_void {
        // SAFETY: see `make`.
        unsafe { make(size, align) }
    }

    pub unsafe extern "C" fn free(p: *mut c_void) {
        if !p.is_null() {
            // SAFETY: a live block of this runtime.
            unsafe { libc::free((*header(p))[1] as *mut c_void) }
        }
    }

    pub unsafe extern "C" fn msize(p: *mut c_void) -> usize {
        // SAFETY: a live block of this runtime.
        unsafe { (*header(p))[0] }
    }

    pub unsafe extern "C" fn aligned_msize(p: *mut c_void, _align: usize, _offset: usize) -> usize {
        // SAFETY: a live block of this runtime.
        unsafe { msize(p) }
    }

    pub unsafe extern "C" fn calloc(count: usize, size: usize) -> *mut c_void {
        let Some(total) = count.checked_mul(size) else { return no_memory() };
        // SAFETY: a fresh block of `total` bytes.
        unsafe {
            let p = malloc(total);
            if !p.is_null() {
                ptr::write_bytes(p.cast::<u8>(), 0, total);
            }
            p
        }
    }

    unsafe fn resize(p: *mut c_void, size: usize, align: usize) -> *mut c_void {
        // SAFETY: `p` is null or a live block of this runtime.
        unsafe {
            let q = make(size, align);
            if !q.is_null() && !p.is_null() {
                ptr::copy_nonoverlapping(p.cast::<u8>(), q.cast::<u8>(), msize(p).min(size));
                free(p);
            }
            q
        }
    }

    pub unsafe extern "C" fn realloc(p: *mut c_void, size: usize) -> *mut c_void {
        // SAFETY: forwarded contract.
        unsafe { resize(p, size, HEADER) }
    }

    pub unsafe extern "C" fn aligned_realloc(p: *mut c_void, size: usize, align: usize) -> *mut c_void {
        // SAFETY: forwarded contract.
        unsafe { resize(p, size, align) }
    }

    pub unsafe extern "C" fn expand(p: *mut c_void, size: usize) -> *mut c_void {
        // SAFETY: a live block; shrinking in place only.
        unsafe {
            if size > msize(p) {
                return ptr::null_mut();
            }
            (*header(p))[0] = size;
            p
        }
    }

    pub unsafe extern "C" fn recalloc(p: *mut c_void, count: usize, size: usize) -> *mut c_void {
        let Some(total) = count.checked_mul(size) else { return no_memory() };
        // SAFETY: forwarded contract; the grown part is zeroed.
        unsafe {
            let old = if p.is_null() { 0 } else { msize(p) };
            let q = realloc(p, total);
            if !q.is_null() && total > old {
                ptr::write_bytes(q.cast::<u8>().add(old), 0, total - old);
            }
            q
        }
    }

    pub unsafe extern "C" fn errno() -> *mut c_int {
        // SAFETY: glibc's per-thread errno.
        unsafe { libc::__errno_location() }
    }
}

/// The calling thread's errno of the test binary's C runtime.
pub fn last_errno() -> i32 {
    let address = crate::common::crt().get(Function::Errno);
    // SAFETY: `_errno` (or its stand-in) returns this thread's errno slot.
    unsafe {
        let f: unsafe extern "C" fn() -> *mut libc_int = core::mem::transmute(address);
        *f()
    }
}

/// Sets the calling thread's errno.
pub fn set_errno(value: i32) {
    let address = crate::common::crt().get(Function::Errno);
    // SAFETY: as above.
    unsafe {
        let f: unsafe extern "C" fn() -> *mut libc_int = core::mem::transmute(address);
        *f() = value;
    }
}

#[allow(non_camel_case_types)]
type libc_int = core::ffi::c_int;

/// Calls the original `malloc`: a foreign block.
pub fn malloc(size: usize) -> *mut u8 {
    // SAFETY: the slot holds the original malloc, non-null in every test runtime.
    unsafe {
        let f: heap::crt::MallocFn = core::mem::transmute(crate::common::crt().get(Function::Malloc));
        f(size).cast()
    }
}

/// Calls the original `_aligned_malloc`: a foreign aligned block.
pub fn aligned_malloc(size: usize, align: usize) -> *mut u8 {
    // SAFETY: the slot holds the original _aligned_malloc, non-null in every test runtime.
    unsafe {
        let f: heap::crt::AlignedMallocFn = core::mem::transmute(crate::common::crt().get(Function::AlignedMalloc));
        f(size, align).cast()
    }
}
