//! The walk against the system: what it finds adds up, a reservation of
//! 256 MiB shows in it and goes when released, and it allocates nothing.
//! Natively and under Wine (`--target i686-pc-windows-gnu`).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::Mutex;

use address_space::{walk, Mib, Summary};

/// The system allocator, counting the calls each thread makes.
struct Counting;

std::thread_local! {
    static CALLS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: forwards every call to the system allocator unchanged; the count
// is a thread-local without a destructor, which allocates nothing.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        CALLS.set(CALLS.get() + 1);
        // SAFETY: forwarded contract.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        CALLS.set(CALLS.get() + 1);
        // SAFETY: forwarded contract.
        unsafe { System.dealloc(p, layout) }
    }
    unsafe fn realloc(&self, p: *mut u8, layout: Layout, size: usize) -> *mut u8 {
        CALLS.set(CALLS.get() + 1);
        // SAFETY: forwarded contract.
        unsafe { System.realloc(p, layout, size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The tests reserve and release address space: one at a time, so that one
/// does not see another's.
static SERIAL: Mutex<()> = Mutex::new(());

/// Takes the tests' turn. Natively, first keeps glibc from giving a test
/// thread that starts meanwhile an arena of its own: that reserves 64 MiB,
/// which a walk would count.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        static ONE_ARENA: std::sync::Once = std::sync::Once::new();
        // SAFETY: a malloc setting, changed before the walks compare anything.
        ONE_ARENA.call_once(|| assert_eq!(unsafe { libc::mallopt(libc::M_ARENA_MAX, 1) }, 1));
    }
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

const MIB: u64 = 1 << 20;
const RESERVED: usize = 256 << 20;
/// What else may come and go meanwhile: the test harness's own threads
/// and buffers, the system's.
const SLACK: u64 = 16 * MIB;

#[test]
fn every_byte_of_the_range_is_counted_once() {
    let _serial = serial();
    let s = walk();
    println!("{s}");
    assert!(s.complete, "{s}");
    assert!(s.lowest < s.highest && s.regions > 1, "{s}");
    let total = s.free_bytes + s.reserved_private_bytes + s.image_bytes + s.mapped_bytes;
    assert_eq!(total, s.highest - s.lowest, "{s}");
    assert!(s.committed_private_bytes <= s.reserved_private_bytes, "{s}");
    assert!(s.largest_free <= s.free_bytes && s.largest_free > 0, "{s}");
    assert!(s.largest_free_base >= s.lowest && s.largest_free_base + s.largest_free <= s.highest, "{s}");
    // This test's own stack is private, committed memory.
    let local = 0u8;
    assert!(s.committed_private_bytes > 0 && &local as *const u8 as u64 >= s.lowest, "{s}");
}

#[test]
fn a_reservation_shows_and_goes() {
    let _serial = serial();
    let before = walk();
    let region = os::reserve(RESERVED);
    let reserved = walk();
    os::commit(region, MIB as usize);
    let committed = walk();
    os::release(region, RESERVED);
    let after = walk();
    let report = format!("before   {before}\nreserved {reserved}\ncommitted {committed}\nafter    {after}");
    println!("{report}");

    let grew = |a: &Summary, b: &Summary| b.reserved_private_bytes as i64 - a.reserved_private_bytes as i64;
    let near = |value: i64, expected: u64| value.abs_diff(expected as i64) <= SLACK;
    assert!(near(grew(&before, &reserved), RESERVED as u64), "reserved private bytes grow by 256 MiB\n{report}");
    assert!(near(reserved.committed_private_bytes as i64 - before.committed_private_bytes as i64, 0), "{report}");
    let free_fell = before.free_bytes as i64 - reserved.free_bytes as i64;
    assert!(near(free_fell, RESERVED as u64), "free bytes fall by 256 MiB: {}\n{report}", Mib(free_fell as u64));
    let committed_grew = committed.committed_private_bytes as i64 - reserved.committed_private_bytes as i64;
    assert!(near(committed_grew, MIB) && committed_grew >= MIB as i64, "committing 1 MiB shows\n{report}");
    assert!(near(grew(&reserved, &after), 0) || grew(&reserved, &after) < 0, "{report}");
    assert!(near(grew(&before, &after), 0), "releasing gives it back\n{report}");
    assert!(near(after.free_bytes as i64 - before.free_bytes as i64, 0), "{report}");
}

/// A reservation larger than any free region: under Wine it goes into a
/// range Wine set aside, where the private bytes do not change, and the
/// process's own (the private less Wine's) grow by its size. Windows has
/// no such ranges (and refuses it).
#[cfg(windows)]
#[test]
fn a_reservation_in_wines_ranges_is_the_processs_own() {
    let _serial = serial();
    let before = walk();
    let size = (before.largest_free + 64 * MIB).next_multiple_of(64 << 10) as usize;
    let Some(region) = os::try_reserve(size) else {
        assert_eq!(before.wine_reserved_bytes, 0, "Wine's ranges take what no free region can\n{before}");
        return;
    };
    let reserved = walk();
    os::release(region, size);
    let after = walk();
    let report = format!("before   {before}\nreserved {reserved}\nafter    {after}");
    println!("{report}");
    let own = |s: &Summary| (s.reserved_private_bytes - s.wine_reserved_bytes) as i64;
    let near = |value: i64, expected: u64| value.abs_diff(expected as i64) <= SLACK;
    assert!(before.wine_reserved_bytes > 0, "{report}");
    assert!(near(own(&reserved) - own(&before), size as u64), "the process's own grow by its size\n{report}");
    assert!(near(reserved.reserved_private_bytes as i64 - before.reserved_private_bytes as i64, 0), "{report}");
    assert!(near(own(&after) - own(&before), 0), "releasing gives it back\n{report}");
}

#[test]
fn a_walk_allocates_nothing() {
    let _serial = serial();
    let calls = CALLS.get();
    let s = walk();
    assert_eq!(CALLS.get(), calls, "the walk called the allocator");
    assert!(s.complete);
}

#[cfg(windows)]
mod os {
    use core::ffi::c_void;
    use windows_sys::Win32::System::Memory::{
        VirtualAlloc, VirtualFree, MEM_COMMIT, MEM_RELEASE, MEM_RESERVE, PAGE_NOACCESS, PAGE_READWRITE,
    };

    pub fn reserve(size: usize) -> *mut c_void {
        try_reserve(size).unwrap_or_else(|| panic!("reserve {size} bytes"))
    }

    pub fn try_reserve(size: usize) -> Option<*mut c_void> {
        // SAFETY: a fresh reservation anywhere; no memory of ours changes.
        let p = unsafe { VirtualAlloc(std::ptr::null(), size, MEM_RESERVE, PAGE_NOACCESS) };
        (!p.is_null()).then_some(p)
    }

    pub fn commit(region: *mut c_void, size: usize) {
        // SAFETY: the start of our own reservation, at least `size` long.
        let p = unsafe { VirtualAlloc(region, size, MEM_COMMIT, PAGE_READWRITE) };
        assert_eq!(p, region, "commit {size} bytes");
    }

    pub fn release(region: *mut c_void, _size: usize) {
        // SAFETY: our own reservation, which nothing uses.
        assert_ne!(unsafe { VirtualFree(region, 0, MEM_RELEASE) }, 0, "release");
    }
}

#[cfg(unix)]
mod os {
    use core::ffi::c_void;

    pub fn reserve(size: usize) -> *mut c_void {
        let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE;
        // SAFETY: a fresh mapping anywhere; no memory of ours changes.
        let p = unsafe { libc::mmap(std::ptr::null_mut(), size, libc::PROT_NONE, flags, -1, 0) };
        assert_ne!(p, libc::MAP_FAILED, "reserve {size} bytes");
        p
    }

    pub fn commit(region: *mut c_void, size: usize) {
        // SAFETY: the start of our own mapping, at least `size` long.
        let done = unsafe { libc::mprotect(region, size, libc::PROT_READ | libc::PROT_WRITE) };
        assert_eq!(done, 0, "commit {size} bytes");
    }

    pub fn release(region: *mut c_void, size: usize) {
        // SAFETY: our own mapping, which nothing uses.
        assert_eq!(unsafe { libc::munmap(region, size) }, 0, "release");
    }
}
