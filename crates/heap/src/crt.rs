//! The C runtime's allocation family: signatures, and the originals each
//! hooked C runtime DLL keeps.
//!
//! Every entry point of the heap takes the [`Originals`] of the C runtime
//! whose import it replaces: a pointer the heap does not own was allocated by
//! that runtime (before the hook, or by a fallback), and goes back to it.

use core::ffi::{c_int, c_void};
use core::sync::atomic::{AtomicUsize, Ordering};

/// `malloc(size)`.
pub type MallocFn = unsafe extern "C" fn(usize) -> *mut c_void;
/// `free(p)` and `_aligned_free(p)`.
pub type FreeFn = unsafe extern "C" fn(*mut c_void);
/// `calloc(count, size)`.
pub type CallocFn = unsafe extern "C" fn(usize, usize) -> *mut c_void;
/// `realloc(p, size)` and `_expand(p, size)`.
pub type ReallocFn = unsafe extern "C" fn(*mut c_void, usize) -> *mut c_void;
/// `_msize(p)`.
pub type MsizeFn = unsafe extern "C" fn(*mut c_void) -> usize;
/// `_recalloc(p, count, size)`.
pub type RecallocFn = unsafe extern "C" fn(*mut c_void, usize, usize) -> *mut c_void;
/// `_aligned_malloc(size, alignment)`.
pub type AlignedMallocFn = unsafe extern "C" fn(usize, usize) -> *mut c_void;
/// `_aligned_realloc(p, size, alignment)`.
pub type AlignedReallocFn = unsafe extern "C" fn(*mut c_void, usize, usize) -> *mut c_void;
/// `_aligned_msize(p, alignment, offset)`.
pub type AlignedMsizeFn = unsafe extern "C" fn(*mut c_void, usize, usize) -> usize;
/// `_errno()`: the address of the calling thread's `errno`.
pub type ErrnoFn = unsafe extern "C" fn() -> *mut c_int;

/// `errno` for an allocation that cannot be served.
pub const ENOMEM: c_int = 12;
/// `errno` for an invalid argument.
pub const EINVAL: c_int = 22;

/// Which function of the family a slot of [`Originals`] holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(usize)]
pub enum Function {
    Malloc,
    Free,
    Calloc,
    Realloc,
    Msize,
    Expand,
    Recalloc,
    AlignedMalloc,
    AlignedRealloc,
    AlignedFree,
    AlignedMsize,
    Errno,
}

impl Function {
    /// Every function, in slot order.
    pub const ALL: [Function; 12] = [
        Function::Malloc,
        Function::Free,
        Function::Calloc,
        Function::Realloc,
        Function::Msize,
        Function::Expand,
        Function::Recalloc,
        Function::AlignedMalloc,
        Function::AlignedRealloc,
        Function::AlignedFree,
        Function::AlignedMsize,
        Function::Errno,
    ];

    /// The name a C runtime DLL exports it under.
    pub fn export_name(self) -> &'static str {
        match self {
            Function::Malloc => "malloc",
            Function::Free => "free",
            Function::Calloc => "calloc",
            Function::Realloc => "realloc",
            Function::Msize => "_msize",
            Function::Expand => "_expand",
            Function::Recalloc => "_recalloc",
            Function::AlignedMalloc => "_aligned_malloc",
            Function::AlignedRealloc => "_aligned_realloc",
            Function::AlignedFree => "_aligned_free",
            Function::AlignedMsize => "_aligned_msize",
            Function::Errno => "_errno",
        }
    }
}

/// The original functions of one C runtime DLL. A missing function (an old
/// runtime without `_recalloc`, say) is null, and the heap does without it.
///
/// Filled once, before any import is redirected to an entry point that uses
/// it; read on every foreign pointer.
pub struct Originals {
    slots: [AtomicUsize; 12],
}

impl Originals {
    /// No originals: every foreign pointer is refused (left alone).
    #[allow(clippy::new_without_default)]
    pub const fn new() -> Originals {
        #[allow(clippy::declare_interior_mutable_const)]
        const EMPTY: AtomicUsize = AtomicUsize::new(0);
        Originals { slots: [EMPTY; 12] }
    }

    /// Records the original `function` at `address` (0 for none).
    ///
    /// # Safety
    /// `address` is 0 or the address of a function of the C runtime with the
    /// signature and semantics of `function` (see the type aliases), valid
    /// for the life of the process.
    pub unsafe fn set(&self, function: Function, address: usize) {
        self.slots[function as usize].store(address, Ordering::Release);
    }

    /// The recorded address of `function`, 0 if none.
    pub fn get(&self, function: Function) -> usize {
        self.slots[function as usize].load(Ordering::Acquire)
    }

    #[inline(always)]
    fn fn_ptr<F: Copy>(&self, function: Function) -> Option<F> {
        debug_assert_eq!(core::mem::size_of::<F>(), core::mem::size_of::<usize>());
        let address = self.get(function);
        // SAFETY: `F` is one of the function pointer aliases above, the one
        // matching `function` (the `accessors!` table pairs them); `set`
        // requires a non-zero address to be a valid function of that signature.
        (address != 0).then(|| unsafe { core::mem::transmute_copy::<usize, F>(&address) })
    }

    /// The size of a block of this runtime by its `_msize`; `None` if the
    /// runtime has none or it fails (`-1`).
    ///
    /// # Safety
    /// `p` is a live block of this runtime's `malloc` family.
    pub(crate) unsafe fn size_of(&self, p: *mut c_void) -> Option<usize> {
        // SAFETY: forwarded contract.
        self.msize().map(|msize| unsafe { msize(p) }).filter(|&n| n != usize::MAX)
    }

    /// As [`Originals::size_of`], for the `_aligned_*` family.
    ///
    /// # Safety
    /// `p` is a live block of this runtime's `_aligned_*` family, allocated
    /// with `align`.
    pub(crate) unsafe fn aligned_size_of(&self, p: *mut c_void, align: usize) -> Option<usize> {
        // SAFETY: forwarded contract.
        self.aligned_msize().map(|msize| unsafe { msize(p, align, 0) }).filter(|&n| n != usize::MAX)
    }

    /// Sets the calling thread's `errno` of this C runtime, if it has one.
    pub(crate) fn set_errno(&self, value: c_int) {
        if let Some(errno) = self.fn_ptr::<ErrnoFn>(Function::Errno) {
            // SAFETY: `_errno` returns the calling thread's errno slot (or null).
            unsafe {
                let slot = errno();
                if !slot.is_null() {
                    *slot = value;
                }
            }
        }
    }
}

/// One typed accessor per original: the table pairs each function with its
/// signature, once.
macro_rules! accessors {
    ($($name:ident: $function:ident => $signature:ty;)*) => {
        impl Originals {
            $(
                #[inline(always)]
                pub fn $name(&self) -> Option<$signature> {
                    self.fn_ptr(Function::$function)
                }
            )*
        }
    };
}

accessors! {
    malloc: Malloc => MallocFn;
    free: Free => FreeFn;
    calloc: Calloc => CallocFn;
    realloc: Realloc => ReallocFn;
    msize: Msize => MsizeFn;
    expand: Expand => ReallocFn;
    recalloc: Recalloc => RecallocFn;
    aligned_malloc: AlignedMalloc => AlignedMallocFn;
    aligned_realloc: AlignedRealloc => AlignedReallocFn;
    aligned_free: AlignedFree => FreeFn;
    aligned_msize: AlignedMsize => AlignedMsizeFn;
}
