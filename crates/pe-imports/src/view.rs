//! Raw, bounds-checked reads of an image's bytes.

use core::marker::PhantomData;
use core::ptr;

use crate::Error;

/// How many bytes at a module's base [`size_of_image`] and [`View::from_module`]
/// may read: the first page, which holds the headers of every mapped image.
pub const HEADER_PROBE_LEN: usize = 4096;

/// The bytes of one image, read only through raw pointers.
///
/// A view never hands out a Rust reference to the memory it covers. Each read
/// copies a value out with a volatile load, so a view may cover a live module
/// whose import address table another thread (the Windows loader, a patcher)
/// writes while the view reads it: the compiler emits exactly one load per
/// access and never caches, merges or invents loads, and every bit pattern is a
/// valid integer. A word read at an address aligned to its size is one machine
/// load on x86 and x86-64, so it observes either the old or the new value of a
/// concurrent aligned word write (the crate reads import address table slots
/// only at such addresses, see [`Error::Misaligned`]). A view never writes.
///
/// All multi-byte values are little-endian. Offsets are relative to the start
/// of the view (for an image, its base: offsets are RVAs).
#[derive(Clone, Copy)]
pub struct View<'a> {
    base: *const u8,
    len: usize,
    load_address: Option<u64>,
    _bytes: PhantomData<&'a [u8]>,
}

// SAFETY: a view only reads. For views made from a slice, `&[u8]` is `Send` and
// `Sync`. For views made from raw parts, `from_raw` requires the memory to stay
// readable for `'a` from any thread of the process.
unsafe impl Send for View<'_> {}
// SAFETY: as for `Send`: shared use only ever performs reads.
unsafe impl Sync for View<'_> {}

impl core::fmt::Debug for View<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("View").field("base", &self.base).field("len", &self.len).finish()
    }
}

impl<'a> View<'a> {
    /// A view of an image laid out in a byte slice: a copy of a module, or a
    /// file mapped to image layout. Safe: the slice is borrowed for `'a`.
    ///
    /// Its load address is unknown, so [`Image::load_address`](crate::Image::load_address)
    /// falls back to the headers' `ImageBase` unless
    /// [`with_load_address`](Self::with_load_address) sets it.
    pub fn from_bytes(bytes: &'a [u8]) -> View<'a> {
        View { base: bytes.as_ptr(), len: bytes.len(), load_address: None, _bytes: PhantomData }
    }

    /// A view of `len` bytes at `base`, typically a module mapped by the loader.
    /// Its load address is `base`.
    ///
    /// # Safety
    /// For all of `'a`:
    /// - every byte of `base..base + len` is mapped and readable (committed, not
    ///   a guard or no-access page), from any thread;
    /// - `len <= isize::MAX` and `base + len` does not wrap around the address
    ///   space.
    ///
    /// Other threads may write the memory meanwhile (the view only reads, through
    /// raw pointers), but it must not be unmapped, decommitted or made
    /// unreadable. For a module that means: it is not unloaded during `'a` (hold
    /// a reference to it, or the loader lock).
    pub unsafe fn from_raw(base: *const u8, len: usize) -> View<'a> {
        View { base, len, load_address: Some(base as usize as u64), _bytes: PhantomData }
    }

    /// A view of the whole image of the module mapped at `base` (an `HMODULE`),
    /// its length taken from the headers' `SizeOfImage` ([`size_of_image`]).
    ///
    /// # Safety
    /// - the first [`HEADER_PROBE_LEN`] bytes at `base` are readable;
    /// - `base` is the base of an image mapped by the loader, whose headers still
    ///   say how large it is (`SizeOfImage` as mapped), and the contract of
    ///   [`from_raw`](Self::from_raw) holds for `base` and that size.
    ///
    /// Malformed headers give an error; only a `SizeOfImage` larger than the
    /// mapping (headers rewritten after loading) breaks the contract.
    pub unsafe fn from_module(base: *const u8) -> Result<View<'a>, Error> {
        // SAFETY: the caller guarantees the header page is readable.
        let size = unsafe { size_of_image(base) }?;
        // SAFETY: the caller guarantees `base..base + SizeOfImage` is the mapped
        // image, readable for `'a`.
        Ok(unsafe { View::from_raw(base, size as usize) })
    }

    /// The same view with a known load address: the address the image's
    /// absolute pointers are relative to (used to tell delay-load slots that
    /// still point into the image from bound ones).
    pub fn with_load_address(self, load_address: u64) -> View<'a> {
        View { load_address: Some(load_address), ..self }
    }

    /// The load address, if known.
    pub fn load_address(&self) -> Option<u64> {
        self.load_address
    }

    /// Bytes in the view.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the view has no bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The first `len` bytes of the view (all of it if it is shorter).
    pub fn truncate(self, len: usize) -> View<'a> {
        View { len: self.len.min(len), ..self }
    }

    /// Checks that `len` bytes at `offset` lie in the view; returns the address.
    #[inline]
    fn at(&self, offset: u32, len: u32) -> Result<*const u8, Error> {
        let end = (offset as usize).checked_add(len as usize);
        match end {
            Some(end) if end <= self.len => {
                // `wrapping_add` cannot wrap: `offset < len <= isize::MAX` and the
                // range lies inside the view (constructors' contract).
                Ok(self.base.wrapping_add(offset as usize))
            }
            _ => Err(Error::OutOfBounds { rva: offset, len }),
        }
    }

    /// Reads the byte at `offset`.
    pub fn read_u8(&self, offset: u32) -> Result<u8, Error> {
        let p = self.at(offset, 1)?;
        // SAFETY: `at` checked that the byte lies in the view, which is readable
        // for `'a` (constructors' contract).
        Ok(unsafe { ptr::read_volatile(p) })
    }

    /// Reads a little-endian `u16` at `offset`.
    pub fn read_u16(&self, offset: u32) -> Result<u16, Error> {
        let p = self.at(offset, 2)?;
        // SAFETY: `at` checked that the bytes lie in the readable view.
        Ok(u16::from_le(unsafe { read_word(p.cast::<u16>()) }))
    }

    /// Reads a little-endian `u32` at `offset`.
    pub fn read_u32(&self, offset: u32) -> Result<u32, Error> {
        let p = self.at(offset, 4)?;
        // SAFETY: `at` checked that the bytes lie in the readable view.
        Ok(u32::from_le(unsafe { read_word(p.cast::<u32>()) }))
    }

    /// Reads a little-endian `u64` at `offset`.
    ///
    /// On a 32-bit target this is two loads even when aligned.
    pub fn read_u64(&self, offset: u32) -> Result<u64, Error> {
        let p = self.at(offset, 8)?;
        // SAFETY: `at` checked that the bytes lie in the readable view.
        Ok(u64::from_le(unsafe { read_word(p.cast::<u64>()) }))
    }
}

/// Reads a `T` with one volatile load if `p` is aligned for it, byte by byte
/// otherwise.
///
/// # Safety
/// `size_of::<T>()` bytes at `p` are readable, and every bit pattern is a valid `T`.
#[inline]
unsafe fn read_word<T: Copy + Default>(p: *const T) -> T {
    if p.is_aligned() {
        // SAFETY: readable (caller), aligned (checked), any bit pattern valid.
        unsafe { ptr::read_volatile(p) }
    } else {
        let mut value = T::default();
        let dst = ptr::addr_of_mut!(value).cast::<u8>();
        let src = p.cast::<u8>();
        for i in 0..core::mem::size_of::<T>() {
            // SAFETY: `i < size_of::<T>()`: the source byte is readable (caller)
            // and the destination byte lies inside `value`.
            unsafe { dst.add(i).write(ptr::read_volatile(src.add(i))) };
        }
        value
    }
}

/// The `SizeOfImage` of the image mapped at `base`, read from its headers.
///
/// Reads at most [`HEADER_PROBE_LEN`] bytes at `base`: the DOS header, the NT
/// signature and the optional header up to `SizeOfImage`, each bounds-checked.
///
/// # Safety
/// The first [`HEADER_PROBE_LEN`] bytes at `base` are readable (true of the base
/// of any module the loader has mapped) and `base` does not lie within the last
/// [`HEADER_PROBE_LEN`] bytes of the address space.
pub unsafe fn size_of_image(base: *const u8) -> Result<u32, Error> {
    // SAFETY: the caller guarantees the probe range is readable for this call;
    // the view does not outlive it.
    let probe = unsafe { View::from_raw(base, HEADER_PROBE_LEN) };
    Ok(crate::image::Headers::parse(&probe)?.size_of_image)
}
