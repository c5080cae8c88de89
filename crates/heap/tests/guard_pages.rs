//! Guard pages: a guarded block ends where an inaccessible page begins, a
//! freed one is out of reach until its quarantine ends, the family keeps its
//! semantics across guarded and unguarded blocks, and a full budget means
//! unguarded blocks, not failures.
mod common;

use std::sync::{Mutex, MutexGuard, OnceLock};

use heap::guard::{self, GuardConfig, ALIGN};
use heap::{Config, Guarding};

const PAGE: usize = 4096;
const MAX_SIZE: usize = 4096;
const QUARANTINE: usize = 8;
/// 128 slots of 8 KiB.
const BUDGET: usize = 1 << 20;

/// Starts the heap with guard pages once, and serialises the tests: the
/// quarantine's order and the budget are the whole pool's.
fn pool() -> MutexGuard<'static, ()> {
    static STARTED: OnceLock<Guarding> = OnceLock::new();
    static TURN: Mutex<()> = Mutex::new(());
    let started = STARTED.get_or_init(|| {
        let guard = GuardConfig { enabled: true, max_size: MAX_SIZE, quarantine: QUARANTINE, budget: BUDGET };
        heap::init(&Config { guard, ..Config::DEFAULT }).expect("heap starts").guard
    });
    let Guarding::On(layout) = started else { panic!("guard pages did not start: {started:?}") };
    assert_eq!((layout.slot_size, layout.slots, layout.quarantine), (2 * PAGE, 128, QUARANTINE));
    TURN.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn crt() -> &'static heap::Originals {
    common::crt()
}

fn malloc(size: usize) -> *mut u8 {
    heap::malloc(crt(), size).cast()
}

fn free(p: *mut u8) {
    // SAFETY: every caller passes a live block of the heap, once.
    unsafe { heap::free(crt(), p.cast()) }
}

fn msize(p: *mut u8) -> usize {
    // SAFETY: a live block.
    unsafe { heap::msize(crt(), p.cast()) }
}

fn fill(p: *mut u8, len: usize, seed: u8) {
    // SAFETY: `len` bytes of a live block.
    unsafe { core::slice::from_raw_parts_mut(p, len) }.iter_mut().enumerate().for_each(|(i, b)| {
        *b = seed.wrapping_add(i as u8);
    });
}

fn holds(p: *const u8, len: usize, seed: u8) -> bool {
    // SAFETY: `len` bytes of a live block.
    unsafe { core::slice::from_raw_parts(p, len) }.iter().enumerate().all(|(i, &b)| b == seed.wrapping_add(i as u8))
}

fn round_up(n: usize, to: usize) -> usize {
    n.div_ceil(to) * to
}

/// Whether touching the byte at `addr` faults: natively a child process
/// writes it and must die of SIGSEGV.
#[cfg(unix)]
fn faults(addr: *mut u8) -> bool {
    // SAFETY: the child only writes one byte and exits, both async-signal-safe.
    match unsafe { libc::fork() } {
        0 => {
            // SAFETY: the write under test; the child exits either way.
            unsafe {
                addr.write_volatile(0x5A);
                libc::_exit(0)
            }
        }
        -1 => panic!("fork failed"),
        child => {
            let mut status = 0;
            // SAFETY: waits for our own child.
            assert_eq!(unsafe { libc::waitpid(child, &mut status, 0) }, child);
            libc::WIFSIGNALED(status) && libc::WTERMSIG(status) == libc::SIGSEGV
        }
    }
}

/// On Windows, whether the page holding `addr` can be touched at all.
#[cfg(windows)]
fn faults(addr: *mut u8) -> bool {
    use windows_sys::Win32::System::Memory::{VirtualQuery, MEMORY_BASIC_INFORMATION, MEM_COMMIT, PAGE_NOACCESS};
    // SAFETY: all zeros is a valid MEMORY_BASIC_INFORMATION.
    let mut info: MEMORY_BASIC_INFORMATION = unsafe { core::mem::zeroed() };
    // SAFETY: a query about any address, into a buffer of the right size.
    let n = unsafe { VirtualQuery(addr.cast(), &mut info, core::mem::size_of_val(&info)) };
    assert_ne!(n, 0, "VirtualQuery({addr:?}) failed");
    info.State != MEM_COMMIT || info.Protect == PAGE_NOACCESS
}

#[test]
fn a_guarded_block_ends_at_a_page_that_faults() {
    let _turn = pool();
    for size in [0, 1, 8, 13, 64, 100, 4000, MAX_SIZE] {
        let p = malloc(size);
        assert!(guard::contains(p) && heap::owns(p.cast()), "size {size}");
        assert_eq!(p as usize % ALIGN, 0, "size {size}");
        let usable = round_up(size.max(1), ALIGN);
        assert_eq!((p as usize + usable) % PAGE, 0, "size {size}: the block ends at a page boundary");
        assert_eq!(msize(p), size);
        fill(p, usable, 3);
        assert!(holds(p, usable, 3));
        assert!(!faults(p.wrapping_add(usable - 1)), "size {size}: its last byte is usable");
        assert!(faults(p.wrapping_add(usable)), "size {size}: the next byte faults");
        free(p);
    }
}

#[test]
fn a_freed_guarded_block_faults() {
    let _turn = pool();
    let p = malloc(200);
    fill(p, 200, 1);
    assert!(!faults(p));
    free(p);
    assert!(faults(p), "a use after free faults");
    assert!(faults(p.wrapping_add(199)));
}

#[test]
fn larger_and_aligned_requests_are_not_guarded() {
    let _turn = pool();
    let big = malloc(MAX_SIZE + 1);
    let aligned = heap::aligned_malloc(crt(), 64, 64).cast::<u8>();
    for p in [big, aligned] {
        assert!(!p.is_null() && heap::owns(p.cast()) && !guard::contains(p));
    }
    free(big);
    // SAFETY: a live aligned block.
    unsafe { heap::aligned_free(crt(), aligned.cast()) };
}

#[test]
fn realloc_moves_in_and_out_of_guarded_blocks() {
    let _turn = pool();
    let p = malloc(100);
    fill(p, 100, 7);
    // SAFETY: live blocks throughout, each replaced by the one realloc gives.
    unsafe {
        // The same rounded size: in place, still ending at the guard page.
        let same = round_up(100, ALIGN);
        let q = heap::realloc(crt(), p.cast(), same).cast::<u8>();
        assert_eq!(q, p);
        assert_eq!(msize(q), same);
        // Growth within the pool: a block of its own size, contents kept.
        let r = heap::realloc(crt(), q.cast(), 2992).cast::<u8>();
        assert!(guard::contains(r) && r != q && holds(r, 100, 7));
        assert_eq!((r as usize + 2992) % PAGE, 0);
        assert!(faults(q), "the old block is out of reach");
        fill(r, 2992, 9);
        // Out of the pool, and back.
        let s = heap::realloc(crt(), r.cast(), 10_000).cast::<u8>();
        assert!(heap::owns(s.cast()) && !guard::contains(s) && holds(s, 2992, 9));
        let t = heap::realloc(crt(), s.cast(), 48).cast::<u8>();
        assert!(guard::contains(t) && holds(t, 48, 9));
        assert_eq!((t as usize + 48) % PAGE, 0);
        assert_eq!(msize(t), 48);
        // A shrink moves too: the guard page follows the new size.
        let u = heap::realloc(crt(), t.cast(), 16).cast::<u8>();
        assert!(guard::contains(u) && holds(u, 16, 9) && faults(u.wrapping_add(16)));
        free(u);
    }
}

#[test]
fn calloc_and_recalloc_zero_exactly_past_the_request() {
    let _turn = pool();
    // SAFETY: live blocks throughout, each replaced by the one the call gives.
    unsafe {
        let p = heap::calloc(crt(), 25, 4).cast::<u8>();
        assert!(guard::contains(p) && holds_zeros(p, 100));
        fill(p, 100, 0x40);
        // Shrink within the rounded size, then grow back: in place, and the
        // bytes past the smaller request read as zero.
        let q = heap::recalloc(crt(), p.cast(), 1, 97).cast::<u8>();
        assert_eq!(q, p);
        assert_eq!(msize(q), 97);
        let r = heap::recalloc(crt(), q.cast(), 1, 100).cast::<u8>();
        assert_eq!(r, p);
        assert!(holds(r, 97, 0x40) && holds_zeros(r.add(97), 3));
        // Grown to another block: the old contents, then zeros.
        let s = heap::recalloc(crt(), r.cast(), 30, 10).cast::<u8>();
        assert!(guard::contains(s) && holds(s, 97, 0x40) && holds_zeros(s.add(97), 300 - 97));
        assert_eq!(msize(s), 300);
        free(s);
    }
}

fn holds_zeros(p: *const u8, len: usize) -> bool {
    // SAFETY: `len` bytes of a live block.
    unsafe { core::slice::from_raw_parts(p, len) }.iter().all(|&b| b == 0)
}

#[test]
fn expand_keeps_a_guarded_block_only_within_its_rounded_size() {
    let _turn = pool();
    let p = malloc(ALIGN + 1);
    // SAFETY: a live block.
    unsafe {
        assert_eq!(heap::expand(crt(), p.cast(), 2 * ALIGN).cast::<u8>(), p);
        assert_eq!(msize(p), 2 * ALIGN);
        assert!(heap::expand(crt(), p.cast(), 2 * ALIGN + 1).is_null());
    }
    free(p);
}

#[test]
fn blocks_freed_by_another_thread_go_back_to_the_pool() {
    let _turn = pool();
    let blocks: Vec<usize> = (0..32).map(|i| malloc(64 + i) as usize).collect();
    assert!(blocks.iter().all(|&p| guard::contains(p as *const u8)));
    std::thread::spawn(move || blocks.into_iter().for_each(|p| free(p as *mut u8))).join().unwrap();
    let before = guard::summary().unwrap().bad_frees;
    let p = malloc(10);
    free(p);
    assert_eq!(guard::summary().unwrap().bad_frees, before);
}

#[test]
fn freed_slots_come_back_oldest_first_after_the_quarantine() {
    let _turn = pool();
    let freed: Vec<*mut u8> = (0..20).map(|_| malloc(PAGE)).collect();
    freed.iter().for_each(|&p| free(p));
    // Every slot the pool will give, until the budget is full: those queued
    // before ours, then ours, then fresh ones.
    let mut again: Vec<*mut u8> = Vec::new();
    while again.last().is_none_or(|&p| guard::contains(p)) {
        again.push(malloc(PAGE));
    }
    let position = |p| again.iter().position(|&q| q == p);
    let (reused, kept) = freed.split_at(20 - QUARANTINE);
    assert!(kept.iter().all(|&p| position(p).is_none()), "the last {QUARANTINE} freed stay in quarantine");
    let order: Vec<usize> = reused.iter().map(|&p| position(p).expect("reused after its quarantine")).collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "oldest first: {order:?}");
    again.iter().for_each(|&p| free(p));
}

#[test]
fn a_full_budget_serves_unguarded_blocks() {
    let _turn = pool();
    let before = guard::summary().unwrap();
    let blocks: Vec<*mut u8> = (0..200).map(|i| malloc(32 + i % 64)).collect();
    let guarded = blocks.iter().filter(|&&p| guard::contains(p)).count();
    assert!((1..200).contains(&guarded), "{guarded} of 200 guarded");
    for (i, &p) in blocks.iter().enumerate() {
        let size = 32 + i % 64;
        // rpmalloc's small blocks answer their block's size.
        assert!(heap::owns(p.cast()) && (msize(p) == size || !guard::contains(p) && msize(p) >= size));
        fill(p, size, i as u8);
    }
    let after = guard::summary().unwrap();
    assert!(after.budget_misses >= before.budget_misses + 200 - guarded as u64, "{after:?}");
    assert_eq!(after.slots_used, 128);
    for (i, &p) in blocks.iter().enumerate() {
        assert!(holds(p, 32 + i % 64, i as u8));
        free(p);
    }
    assert_eq!(heap::stats().failures, 0);
    let p = malloc(32);
    assert!(guard::contains(p), "freed slots serve again once past the quarantine");
    free(p);
}

#[test]
fn a_double_free_is_counted_and_ignored() {
    let _turn = pool();
    let p = malloc(40);
    free(p);
    let before = guard::summary().unwrap().bad_frees;
    free(p);
    assert_eq!(guard::summary().unwrap().bad_frees, before + 1);
}
