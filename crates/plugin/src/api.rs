//! The C API other plugins use, declared in `include/MemoryPoolNVSE.h`: four
//! exports, and the same statistics through an NVSE message.
//!
//! Nothing here allocates or takes a lock: callers may be anywhere, on any
//! thread, even inside a hooked allocation of theirs. Only a refused call
//! writes a log line (and an answered query one at debug level). A caller's struct is checked to be writable memory
//! before anything is read from it or written to it, and is accessed
//! unaligned and byte-wise, as a C caller may place it anywhere.

use core::ffi::{c_void, CStr};
use core::mem::{offset_of, size_of};

use nvse_abi::Message;
use windows_sys::Win32::System::Memory::{
    VirtualQuery, MEMORY_BASIC_INFORMATION, MEM_COMMIT, PAGE_EXECUTE_READWRITE, PAGE_EXECUTE_WRITECOPY, PAGE_GUARD,
    PAGE_READWRITE, PAGE_WRITECOPY,
};

use crate::log::{debug, warning};
use crate::nvse::{guarded, VERSION};

/// `MEMORYPOOLNVSE_MESSAGE_STATS`: 'MPST'.
pub const MESSAGE_STATS: u32 = u32::from_be_bytes(*b"MPST");

/// `MemoryPoolNVSE_BackendId`.
pub mod backend_id {
    pub const NONE: u32 = 0;
    pub const RPMALLOC: u32 = 1;
    pub const MIMALLOC: u32 = 2;
    pub const PASSTHROUGH: u32 = 3;
}

/// `MEMORYPOOLNVSE_SIZE_CLASSES`.
pub const SIZE_CLASSES: usize = heap::stats::SIZE_CLASSES;

/// `MemoryPoolNVSE_Stats`: every field at its natural alignment, no padding.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub size: u32,
    pub filled: u32,
    pub version: u32,
    pub backend: u32,
    pub allocations: u64,
    pub frees: u64,
    pub live_blocks: u64,
    pub peak_blocks: u64,
    pub bytes_allocated: u64,
    pub bytes_freed: u64,
    pub live_bytes: u64,
    pub peak_bytes: u64,
    pub failures: u64,
    pub fallbacks: u64,
    pub foreign_frees: u64,
    pub foreign_reallocs: u64,
    pub foreign_sizes: u64,
    pub mapped_bytes: u64,
    pub peak_mapped_bytes: u64,
    pub threads: u64,
    pub histogram: [u64; SIZE_CLASSES],
    pub reserved_bytes: u64,
}

/// `MEMORYPOOLNVSE_STATS_HEAD_SIZE`: the four 32-bit fields, the least a
/// caller may ask for.
pub const STATS_HEAD_SIZE: usize = offset_of!(Stats, allocations);

const _: () = {
    assert!(STATS_HEAD_SIZE == 16);
    assert!(size_of::<Stats>() == 16 + 16 * 8 + SIZE_CLASSES * 8 + 8);
};

/// The plugin's version, as in its `PluginInfo`.
#[no_mangle]
pub extern "C" fn MemoryPoolNVSE_GetVersion() -> u32 {
    guarded("GetVersion", VERSION, || VERSION)
}

/// The backend serving allocations, a `MemoryPoolNVSE_BackendId`.
#[no_mangle]
pub extern "C" fn MemoryPoolNVSE_GetBackend() -> u32 {
    guarded("GetBackend", backend_id::NONE, backend)
}

/// Fills the caller's statistics struct; returns the bytes written, or 0 if
/// it was refused (and logged).
///
/// # Safety
/// `out` is checked to be writable memory before it is used; another thread
/// that unmaps it at the same moment is the caller's own race.
#[no_mangle]
pub unsafe extern "C" fn MemoryPoolNVSE_GetStats(out: *mut Stats) -> u32 {
    guarded("GetStats", 0, || match caller_size(out.cast()) {
        Ok(size) => fill(out.cast(), size),
        Err(why) => {
            warning!("GetStats: refused: {why}");
            0
        }
    })
}

/// Whether the plugin's heap allocated `p`: for mod authors' diagnostics and
/// the tests. Any pointer may be passed; nothing is dereferenced.
#[no_mangle]
pub extern "C" fn MemoryPoolNVSE_IsOwned(p: *const c_void) -> bool {
    guarded("IsOwned", false, || heap::owns(p))
}

/// A message from another plugin: a statistics query is answered in place,
/// a malformed one is logged and ignored, any other type is not ours.
pub fn on_plugin_message(message: &Message) {
    if message.kind != MESSAGE_STATS {
        return;
    }
    let from = sender_name(message);
    let data = message.data.cast::<u8>();
    match query_size(data, message.data_len) {
        Ok(size) => {
            let filled = fill(data, size);
            debug!("Stats query from {from}: {filled} bytes filled");
        }
        Err(why) => warning!("Stats query from {from}: ignored: {why}"),
    }
}

/// The size of a queried struct: `dataLen` covers the head, and the struct's
/// own `size` field says the same. Nothing past `dataLen` is read.
fn query_size(data: *const u8, data_len: u32) -> Result<u32, Reason> {
    if !data.is_null() && (data_len as usize) < STATS_HEAD_SIZE {
        return Err(Reason::TooSmall { what: "dataLen", value: data_len });
    }
    let size = caller_size(data)?;
    if size != data_len {
        return Err(Reason::SizeMismatch { size, data_len });
    }
    Ok(size)
}

/// The `size` field of the caller's struct at `out`, once the struct is
/// known to be writable and at least the head long.
fn caller_size(out: *const u8) -> Result<u32, Reason> {
    if out.is_null() {
        return Err(Reason::Null);
    }
    if !writable(out, size_of::<u32>()) {
        return Err(Reason::NotWritable(out as usize));
    }
    // SAFETY: the first four bytes are committed, writable memory.
    let size = unsafe { out.cast::<u32>().read_unaligned() };
    if (size as usize) < STATS_HEAD_SIZE {
        return Err(Reason::TooSmall { what: "size", value: size });
    }
    if !writable(out, written(size)) {
        return Err(Reason::NotWritable(out as usize));
    }
    Ok(size)
}

/// Why a caller's struct was refused, for the log.
enum Reason {
    Null,
    NotWritable(usize),
    TooSmall { what: &'static str, value: u32 },
    SizeMismatch { size: u32, data_len: u32 },
}

impl core::fmt::Display for Reason {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            Reason::Null => f.write_str("no struct (null pointer)"),
            Reason::NotWritable(at) => write!(f, "the struct at 0x{at:08X} is not writable memory"),
            Reason::TooSmall { what, value } => {
                write!(f, "{what} {value} is below the {STATS_HEAD_SIZE} bytes of MemoryPoolNVSE_Stats' head")
            }
            Reason::SizeMismatch { size, data_len } => {
                write!(f, "dataLen {data_len} differs from the struct's size field {size}")
            }
        }
    }
}

/// Bytes written for a caller's `size`: never past it, never past ours.
fn written(size: u32) -> usize {
    (size as usize).min(size_of::<Stats>())
}

/// Writes the snapshot over the first [`written`] bytes of the caller's
/// struct, whose size was checked by [`caller_size`]; returns that count.
fn fill(out: *mut u8, size: u32) -> u32 {
    let n = written(size);
    let stats = Stats { size, filled: n as u32, ..snapshot() };
    // SAFETY: `caller_size` found `n` bytes at `out` writable; `stats` is a
    // local of at least `n` bytes (`written` caps it), and the two cannot
    // overlap.
    unsafe { core::ptr::copy_nonoverlapping((&raw const stats).cast::<u8>(), out, n) };
    n as u32
}

/// The statistics as the C API lays them out.
fn snapshot() -> Stats {
    let s = heap::stats();
    Stats {
        size: size_of::<Stats>() as u32,
        filled: 0,
        version: VERSION,
        backend: backend(),
        allocations: s.allocations,
        frees: s.frees,
        live_blocks: s.live_blocks,
        peak_blocks: s.peak_blocks,
        bytes_allocated: s.bytes_allocated,
        bytes_freed: s.bytes_freed,
        live_bytes: s.live_bytes,
        peak_bytes: s.peak_bytes,
        failures: s.failures,
        fallbacks: s.fallbacks,
        foreign_frees: s.foreign_frees,
        foreign_reallocs: s.foreign_reallocs,
        foreign_sizes: s.foreign_sizes,
        mapped_bytes: s.mapped_bytes,
        peak_mapped_bytes: s.peak_mapped_bytes,
        threads: s.threads,
        histogram: s.histogram,
        reserved_bytes: s.reserved_bytes,
    }
}

fn backend() -> u32 {
    match crate::allocator::serving() {
        None => backend_id::NONE,
        Some(heap::Backend::Rpmalloc) => backend_id::RPMALLOC,
        Some(heap::Backend::Mimalloc) => backend_id::MIMALLOC,
        Some(heap::Backend::Passthrough) => backend_id::PASSTHROUGH,
    }
}

/// Whether `len` bytes from `p` are committed memory that may be written
/// (and read), page by page.
fn writable(p: *const u8, len: usize) -> bool {
    const WRITABLE: u32 = PAGE_READWRITE | PAGE_WRITECOPY | PAGE_EXECUTE_READWRITE | PAGE_EXECUTE_WRITECOPY;
    let Some(end) = (p as usize).checked_add(len) else { return false };
    let mut at = p as usize;
    while at < end {
        let mut info = MEMORY_BASIC_INFORMATION::default();
        // SAFETY: VirtualQuery reads no memory at `at`; `info` is a valid
        // out-pointer of the size passed.
        let got = unsafe { VirtualQuery(at as *const c_void, &mut info, size_of::<MEMORY_BASIC_INFORMATION>()) };
        let usable =
            got != 0 && info.State == MEM_COMMIT && info.Protect & WRITABLE != 0 && info.Protect & PAGE_GUARD == 0;
        if !usable {
            return false;
        }
        at = (info.BaseAddress as usize).saturating_add(info.RegionSize);
    }
    true
}

/// The sender's name NVSE passes, for the log.
fn sender_name(message: &Message) -> String {
    if message.sender.is_null() {
        return "(unnamed plugin)".into();
    }
    // SAFETY: NVSE passes the sender's name as a NUL-terminated string that
    // lives for the duration of the message.
    unsafe { CStr::from_ptr(message.sender) }.to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    extern "C" {
        /// Sizes, offsets and constants from `c/layout.c`, as the C compiler
        /// lays out `include/MemoryPoolNVSE.h`, in the order of `rust_layout`.
        static memorypoolnvse_layout: [u32; 29];
        static memorypoolnvse_layout_count: u32;
    }

    /// The same list as `c/layout.c`, from the Rust side.
    fn rust_layout() -> Vec<(&'static str, u32)> {
        let offsets = [
            ("size", offset_of!(Stats, size)),
            ("filled", offset_of!(Stats, filled)),
            ("version", offset_of!(Stats, version)),
            ("backend", offset_of!(Stats, backend)),
            ("allocations", offset_of!(Stats, allocations)),
            ("frees", offset_of!(Stats, frees)),
            ("live_blocks", offset_of!(Stats, live_blocks)),
            ("peak_blocks", offset_of!(Stats, peak_blocks)),
            ("bytes_allocated", offset_of!(Stats, bytes_allocated)),
            ("bytes_freed", offset_of!(Stats, bytes_freed)),
            ("live_bytes", offset_of!(Stats, live_bytes)),
            ("peak_bytes", offset_of!(Stats, peak_bytes)),
            ("failures", offset_of!(Stats, failures)),
            ("fallbacks", offset_of!(Stats, fallbacks)),
            ("foreign_frees", offset_of!(Stats, foreign_frees)),
            ("foreign_reallocs", offset_of!(Stats, foreign_reallocs)),
            ("foreign_sizes", offset_of!(Stats, foreign_sizes)),
            ("mapped_bytes", offset_of!(Stats, mapped_bytes)),
            ("peak_mapped_bytes", offset_of!(Stats, peak_mapped_bytes)),
            ("threads", offset_of!(Stats, threads)),
            ("histogram", offset_of!(Stats, histogram)),
            ("reserved_bytes", offset_of!(Stats, reserved_bytes)),
        ];
        let mut all = vec![("sizeof(MemoryPoolNVSE_Stats)", size_of::<Stats>() as u32)];
        all.extend(offsets.iter().map(|&(name, offset)| (name, offset as u32)));
        all.extend([
            ("MEMORYPOOLNVSE_STATS_HEAD_SIZE", STATS_HEAD_SIZE as u32),
            ("MEMORYPOOLNVSE_SIZE_CLASSES", SIZE_CLASSES as u32),
            ("MEMORYPOOLNVSE_MESSAGE_STATS", MESSAGE_STATS),
            ("MEMORYPOOLNVSE_BACKEND_RPMALLOC", backend_id::RPMALLOC),
            ("MEMORYPOOLNVSE_BACKEND_MIMALLOC", backend_id::MIMALLOC),
            ("MEMORYPOOLNVSE_BACKEND_PASSTHROUGH", backend_id::PASSTHROUGH),
        ]);
        all
    }

    #[test]
    fn the_struct_and_constants_match_the_header() {
        let rust = rust_layout();
        // SAFETY: constant arrays defined in `c/layout.c`, of the declared
        // length (checked against the count the C side gives).
        let (c, count) = unsafe { (&memorypoolnvse_layout, memorypoolnvse_layout_count) };
        assert_eq!(count as usize, c.len(), "c/layout.c and this test list different fields");
        assert_eq!(rust.len(), c.len());
        for ((name, rust), c) in rust.iter().zip(c) {
            assert_eq!(rust, c, "{name}");
        }
        assert_eq!(MESSAGE_STATS, 0x4D50_5354);
        assert_eq!(backend_id::NONE, 0);
    }

    #[test]
    fn a_struct_is_filled_up_to_the_callers_size() {
        let mut out = [0xAAu8; size_of::<Stats>() + 8];
        out[..4].copy_from_slice(&24u32.to_le_bytes());
        assert_eq!(caller_size(out.as_ptr()).ok(), Some(24));
        assert_eq!(fill(out.as_mut_ptr(), 24), 24);
        assert_eq!(u32::from_le_bytes(out[4..8].try_into().unwrap()), 24, "filled");
        assert_eq!(u32::from_le_bytes(out[8..12].try_into().unwrap()), VERSION);
        assert!(out[24..].iter().all(|&b| b == 0xAA), "written past the caller's size");

        let big = size_of::<Stats>() as u32 + 8;
        out[..4].copy_from_slice(&big.to_le_bytes());
        assert_eq!(fill(out.as_mut_ptr(), big), size_of::<Stats>() as u32);
        assert_eq!(&out[..4], &big.to_le_bytes(), "the caller's size is kept");
        assert!(out[size_of::<Stats>()..].iter().all(|&b| b == 0xAA), "written past our struct");
    }

    #[test]
    fn bad_structs_are_refused() {
        let mut out = [0u8; 64];
        out[..4].copy_from_slice(&(STATS_HEAD_SIZE as u32 - 1).to_le_bytes());
        assert!(matches!(caller_size(out.as_ptr()), Err(Reason::TooSmall { what: "size", value: 15 })));
        out[..4].copy_from_slice(&32u32.to_le_bytes());
        assert!(matches!(query_size(out.as_ptr(), 8), Err(Reason::TooSmall { what: "dataLen", value: 8 })));
        assert!(matches!(query_size(out.as_ptr(), 40), Err(Reason::SizeMismatch { size: 32, data_len: 40 })));
        assert_eq!(query_size(out.as_ptr(), 32).ok(), Some(32));
        assert!(matches!(caller_size(core::ptr::null()), Err(Reason::Null)));
        assert!(matches!(caller_size(16 as *const u8), Err(Reason::NotWritable(16))));
        static READ_ONLY: [u8; 16] = [0xFF; 16];
        assert!(matches!(caller_size(READ_ONLY.as_ptr()), Err(Reason::NotWritable(_))));
        // SAFETY: a refused struct is never written: a null pointer is safe.
        assert_eq!(unsafe { MemoryPoolNVSE_GetStats(core::ptr::null_mut()) }, 0);
    }
}
