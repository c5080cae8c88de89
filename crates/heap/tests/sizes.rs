//! Sizes the game trusts: `_msize` answers the exact request of every block,
//! as MSVC's does, and code that writes past its request into the block's
//! slack, any length of it with any bytes, never makes `_msize` answer more
//! than the block holds nor `_recalloc`, `realloc` or `_expand` lose the
//! bytes it asked for. Before records were validated, a 1,519-byte request
//! overrun by 14 to 17 bytes made `_msize` answer up to 1,094,795,585, and a
//! 16-byte zero overrun made `_recalloc(p, 1, 1520)` drop all 1,519 bytes.
mod common;

use core::ffi::c_void;

use heap::Backend;

/// Requests across the classes: small (and their edges), medium, large, huge.
fn sizes() -> Vec<usize> {
    let mut sizes: Vec<usize> = (0..=80).collect();
    sizes.extend([100, 111, 112, 127, 128, 129, 255, 256, 257, 1000, 1007, 1008, 1016, 1022, 1023, 1024]);
    sizes.extend([1025, 1030, 1519, 1528, 1535, 1536, 1537, 2047, 2048, 4000, 8000, 8184, 16_000, 16_376, 30_000]);
    sizes.extend([32_768, 40_000, 65_400, 65_536, 70_000, 300_000, (1 << 20) + 5, (5 << 20) + 3]);
    sizes
}

/// What an overrun writes, byte `i` past the request.
const PATTERNS: [fn(usize) -> u8; 5] = [|_| 0, |_| 0xFF, |_| 0x41, |i| i as u8, |i| if i % 4 == 3 { 1 } else { 0 }];

fn seed(i: usize) -> u8 {
    (i as u8).wrapping_mul(37).wrapping_add(11)
}

fn crt() -> &'static heap::Originals {
    common::crt()
}

/// A block of ours of `size` bytes holding the seed pattern, and its usable size.
fn block(size: usize) -> (*mut u8, usize) {
    let p = heap::malloc(crt(), size).cast::<u8>();
    assert!(heap::owns(p.cast()), "malloc({size})");
    for i in 0..size {
        // SAFETY: `size` bytes of a fresh block.
        unsafe { p.add(i).write(seed(i)) };
    }
    // SAFETY: a live block of ours: its usable size, whatever its record says.
    let usable = unsafe { heap::aligned_msize(crt(), p.cast(), 16, 0) };
    (p, usable)
}

fn intact(p: *const u8, size: usize) -> bool {
    // SAFETY: at least `size` readable bytes.
    (0..size).all(|i| unsafe { p.add(i).read() } == seed(i))
}

fn free(p: *mut u8) {
    // SAFETY: a live block, freed once.
    unsafe { heap::free(crt(), p.cast::<c_void>()) };
}

#[test]
fn every_request_is_answered_exactly() {
    common::start(Backend::Rpmalloc);
    for size in sizes() {
        let (p, usable) = block(size);
        assert!(usable > size, "{size}: room for a record");
        // SAFETY: a live block of ours.
        assert_eq!(unsafe { heap::msize(crt(), p.cast()) }, size, "malloc({size})");
        // Resized in place (a shrink) and back: exact each time.
        // SAFETY: as above.
        let q = unsafe { heap::realloc(crt(), p.cast(), size / 2 + 1) }.cast::<u8>();
        // SAFETY: as above.
        assert_eq!(unsafe { heap::msize(crt(), q.cast()) }, size / 2 + 1, "realloc({size} to {})", size / 2 + 1);
        free(q);
        let z = heap::calloc(crt(), 1, size).cast::<u8>();
        // SAFETY: as above.
        assert_eq!(unsafe { heap::msize(crt(), z.cast()) }, size, "calloc({size})");
        free(z);
    }
}

/// The lengths of overrun tried for a block of `slack` bytes past its request.
fn overruns(slack: usize) -> impl Iterator<Item = usize> {
    [1, 2, 3, 4, 5, 7, 8, 9, 12, 13, 14, 15, 16, 17, 24, 31, 32, 33, 64, 100, 511, 512, 513]
        .into_iter()
        .chain([slack.saturating_sub(9), slack.saturating_sub(8), slack.saturating_sub(1), slack])
        .filter(move |&n| n >= 1 && n <= slack)
}

#[test]
fn an_overrun_into_the_slack_never_misleads_the_family() {
    common::start(Backend::Rpmalloc);
    let before = heap::stats().bad_records;
    for size in sizes().into_iter().filter(|&s| s < 100_000) {
        for pattern in PATTERNS {
            let (_, usable) = block(size);
            for overrun in overruns(usable - size) {
                let (p, usable) = block(size);
                for i in size..size + overrun {
                    // SAFETY: inside the block's usable bytes, past the request.
                    unsafe { p.add(i).write(pattern(i - size)) };
                }
                let what = format!("malloc({size}) overrun by {overrun}");
                // SAFETY: a live block of ours.
                let answered = unsafe { heap::msize(crt(), p.cast()) };
                assert!(answered <= usable, "{what}: _msize {answered} of {usable}");
                // Grown by `_recalloc`: the request's bytes stay, the rest is zero
                // from what `_msize` answered on.
                // SAFETY: as above; the block may move.
                let q = unsafe { heap::recalloc(crt(), p.cast(), 1, usable + 64) }.cast::<u8>();
                assert!(!q.is_null() && intact(q, size), "{what}: _recalloc lost bytes");
                // SAFETY: `usable + 64` bytes at `q`.
                let tail = unsafe { core::slice::from_raw_parts(q.add(answered), usable + 64 - answered) };
                assert!(tail.iter().all(|&b| b == 0), "{what}: _recalloc left bytes past _msize's answer");
                free(q);

                let (p, usable) = block(size);
                for i in size..size + overrun {
                    // SAFETY: as above.
                    unsafe { p.add(i).write(pattern(i - size)) };
                }
                // `_expand` within the block and `realloc` out of it.
                // SAFETY: as above.
                let same = unsafe { heap::expand(crt(), p.cast(), size) }.cast::<u8>();
                assert!(same.is_null() || (same == p && intact(p, size)), "{what}: _expand");
                // SAFETY: as above.
                let q = unsafe { heap::realloc(crt(), p.cast(), usable * 2 + 8) }.cast::<u8>();
                assert!(!q.is_null() && intact(q, size), "{what}: realloc lost bytes");
                // SAFETY: as above.
                let answered = unsafe { heap::msize(crt(), q.cast()) };
                assert_eq!(answered, usable * 2 + 8, "{what}: the moved block's request");
                free(q);
            }
        }
    }
    // The cases of the past, by name.
    let (p, usable) = block(1519);
    for overrun in 14..=17 {
        for i in 1519..1519 + overrun {
            // SAFETY: as above.
            unsafe { p.add(i).write(0x41) };
        }
        // SAFETY: a live block of ours.
        let answered = unsafe { heap::msize(crt(), p.cast()) };
        assert!(answered <= usable, "1519 overrun by {overrun}: {answered}");
    }
    free(p);
    let (p, _) = block(1519);
    // SAFETY: 16 bytes past the request, in the block.
    unsafe { core::ptr::write_bytes(p.add(1519), 0, 16) };
    // SAFETY: a live block of ours.
    let q = unsafe { heap::recalloc(crt(), p.cast(), 1, 1520) }.cast::<u8>();
    assert!(intact(q, 1519), "_recalloc(p, 1, 1520) after a 16-byte zero overrun kept the 1,519 bytes");
    free(q);
    assert!(heap::stats().bad_records > before, "overwritten records are counted");
}
