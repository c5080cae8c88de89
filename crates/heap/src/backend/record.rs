//! A block's request, recorded in the block itself, past the request, in a
//! form an overrun cannot turn into a wrong answer.
//!
//! `_msize` must answer the exact request, as MSVC's does, and code that
//! writes past its request into a block's slack must never make `_msize`,
//! `realloc` or `_recalloc` read or write outside the block or drop bytes the
//! caller asked for. Two forms, both validated on every read; a record that
//! does not validate is no record (the caller then uses the usable size,
//! which keeps every byte), and the backend counts it.
//!
//! - The tail record ([`write_tail`], [`read_tail`]): the slack is zeroed and
//!   its last bytes say how long it is: `k` (1 to 127 bytes of slack) in the
//!   last byte; `0x80 | k >> 8`, then `k & 0xFF` before it (up to 16 KiB);
//!   or `0xC0`, then `k` as a little-endian `u32` before it. A read accepts
//!   it only if every byte between the request and the record is zero. So a
//!   record that validates, whatever wrote it, says that every byte from the
//!   size it gives to the block's end is zero: answering that size loses
//!   nothing and reaches nothing outside the block. Small blocks carry it
//!   (their slack is a few bytes, zeroed by one store).
//! - The keyed record ([`write_keyed`], [`read_keyed`]): the request as a
//!   `u32` in the block's last 8 bytes, followed by the request mixed with a
//!   key derived from the block's address. An overrun into the slack of a
//!   medium block (up to several KiB, not worth zeroing) writes a valid pair
//!   only by writing exactly those 8 bytes for exactly that block.

/// Bytes of slack a tail record of `k` bytes of slack takes.
fn tail_len(k: usize) -> usize {
    match k {
        0..=0x7F => 1,
        0x80..=0x3FFF => 2,
        _ => 5,
    }
}

/// Records `size` in the tail of a block of `usable` bytes at `p`: zeroes the
/// slack and writes its length at its end. `fresh`: nothing in the block is
/// written yet, so that one 16-byte store ending at its end may zero a
/// short slack, whatever it overwrites before `size`.
///
/// # Safety
/// `usable` bytes at `p` are the caller's to write, `size < usable`, and
/// nothing past `size` is needed (nothing at all if `fresh`).
#[inline(always)]
pub unsafe fn write_tail(p: *mut u8, size: usize, usable: usize, fresh: bool) {
    debug_assert!(size < usable);
    let k = usable - size;
    let end = p.wrapping_add(usable);
    // SAFETY (whole block): every write lies in `size .. usable`, or in
    // `usable - 16 .. usable` of a fresh block.
    unsafe {
        if fresh && k <= 16 && usable >= 16 {
            // The common case: one store zeroes the slack.
            end.sub(16).cast::<[u8; 16]>().write_unaligned([0; 16]);
        } else {
            core::ptr::write_bytes(p.add(size), 0, k);
        }
        match tail_len(k) {
            1 => end.sub(1).write(k as u8),
            2 => {
                end.sub(2).write(k as u8);
                end.sub(1).write(0x80 | (k >> 8) as u8);
            }
            _ => {
                end.sub(5).cast::<[u8; 4]>().write_unaligned((k as u32).to_le_bytes());
                end.sub(1).write(0xC0);
            }
        }
    }
}

/// [`write_tail`] for a fresh block of `usable` bytes (at least 16) with 1
/// to 16 bytes of slack, the most common case, without its tests: one
/// 16-byte store ending at the block's end zeroes the slack, and its length
/// goes in the last byte.
///
/// # Safety
/// `usable` bytes at `p` are the caller's to write, nothing in them is
/// written yet, `usable >= 16` and `usable - size` is 1 to 16.
#[inline(always)]
pub unsafe fn write_short_tail(p: *mut u8, size: usize, usable: usize) {
    debug_assert!(usable >= 16 && (1..=16).contains(&(usable - size)));
    let end = p.wrapping_add(usable);
    // SAFETY: the 16 bytes before the block's end are the block's.
    unsafe {
        end.sub(16).cast::<[u8; 16]>().write_unaligned([0; 16]);
        end.sub(1).write((usable - size) as u8);
    }
}

/// The request the tail of a block of `usable` bytes at `p` records, if it
/// validates (see the top of this file).
///
/// # Safety
/// `usable` bytes at `p` are readable.
pub unsafe fn read_tail(p: *const u8, usable: usize) -> Option<usize> {
    if usable == 0 {
        return None;
    }
    // SAFETY: every read below lies in `0 .. usable`, checked before it.
    let byte = |at: usize| unsafe { p.add(at).read() };
    let last = byte(usable - 1);
    let (k, len) = match last {
        0x01..=0x7F => (usize::from(last), 1),
        0x80..=0xBF if usable >= 2 => ((usize::from(last & 0x3F) << 8) | usize::from(byte(usable - 2)), 2),
        0xC0 if usable >= 5 => {
            // SAFETY: `usable - 5 .. usable - 1` lies in the block.
            let k = unsafe { p.add(usable - 5).cast::<[u8; 4]>().read_unaligned() };
            (u32::from_le_bytes(k) as usize, 5)
        }
        _ => return None,
    };
    if k > usable || tail_len(k) != len {
        return None;
    }
    let size = usable - k;
    // SAFETY: `size .. usable - len` lies in the block.
    let between = unsafe { core::slice::from_raw_parts(p.add(size), k - len) };
    between.iter().all(|&b| b == 0).then_some(size)
}

/// Bytes a keyed record takes at the end of a block.
pub const KEYED_LEN: usize = 8;

/// What mixes with the request of the block at `p`.
#[inline(always)]
fn key(p: *const u8) -> u32 {
    ((p as usize >> 4) as u32).rotate_left(13) ^ 0x4D50_4E56
}

/// Records `size` in the last [`KEYED_LEN`] bytes of a block of `usable`
/// bytes at `p`.
///
/// # Safety
/// The last [`KEYED_LEN`] of `usable` bytes at `p` are the caller's to write,
/// and lie past `size`; `size` fits in a `u32`.
#[inline(always)]
pub unsafe fn write_keyed(p: *mut u8, size: usize, usable: usize) {
    let size = size as u32;
    // SAFETY: the caller's contract.
    unsafe { p.add(usable - KEYED_LEN).cast::<[u32; 2]>().write_unaligned([size, size ^ key(p)]) };
}

/// The request a keyed record at the end of a block of `usable` bytes at `p`
/// holds, if it validates.
///
/// # Safety
/// `usable` (at least [`KEYED_LEN`]) bytes at `p` are readable.
pub unsafe fn read_keyed(p: *const u8, usable: usize) -> Option<usize> {
    // SAFETY: the caller's contract.
    let [size, check] = unsafe { p.add(usable - KEYED_LEN).cast::<[u32; 2]>().read_unaligned() };
    (check == size ^ key(p) && size as usize <= usable - KEYED_LEN).then_some(size as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every request of every block size up to 40 KiB reads back exactly.
    #[test]
    fn tail_records_read_back() {
        let mut block = vec![0xA5u8; 40_000];
        for usable in (1..600).chain((600..40_000).step_by(997)) {
            for size in (0..usable).step_by(usable / 50 + 1).chain([usable - 1]) {
                block[..usable].fill(0xA5);
                // SAFETY: `usable` bytes of `block`.
                unsafe { write_tail(block.as_mut_ptr(), size, usable, size % 2 == 0) };
                // SAFETY: as above.
                assert_eq!(unsafe { read_tail(block.as_ptr(), usable) }, Some(size), "{size} of {usable}");
                // Rewritten in place, the bytes before the request stay.
                block[..size].fill(0x5A);
                // SAFETY: as above.
                unsafe { write_tail(block.as_mut_ptr(), size, usable, false) };
                assert!(block[..size].iter().all(|&b| b == 0x5A), "{size} of {usable}");
            }
        }
    }

    /// Whatever an overrun writes into the slack, a tail record that reads
    /// back says that everything from its size to the record is zero.
    #[test]
    fn an_overrun_never_makes_a_tail_record_lie() {
        let patterns: [&dyn Fn(usize) -> u8; 5] =
            [&|_| 0, &|_| 0xFF, &|i| i as u8, &|i| if i % 7 == 6 { 1 } else { 0 }, &|i| (i * 31 + 7) as u8];
        let mut block = vec![0u8; 1024];
        for usable in [16, 32, 48, 64, 112, 256, 1024] {
            for size in (0..usable).step_by(usable / 40 + 1) {
                for overrun in 1..=usable - size {
                    for pattern in &patterns {
                        block[..usable].iter_mut().enumerate().for_each(|(i, b)| *b = (i as u8) | 1);
                        // SAFETY: `usable` bytes of `block`.
                        unsafe { write_tail(block.as_mut_ptr(), size, usable, false) };
                        for (i, b) in block.iter_mut().enumerate().skip(size).take(overrun) {
                            *b = pattern(i);
                        }
                        // SAFETY: as above.
                        if let Some(read) = unsafe { read_tail(block.as_ptr(), usable) } {
                            assert!(read <= usable);
                            let len = tail_len(usable - read);
                            assert!(block[read..usable - len].iter().all(|&b| b == 0), "{size}+{overrun} of {usable}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn keyed_records_read_back_and_overruns_are_caught() {
        let mut block = vec![0u8; 4096];
        for size in [0, 1, 1000, 4088] {
            // SAFETY: 4096 bytes of `block`.
            unsafe { write_keyed(block.as_mut_ptr(), size, 4096) };
            // SAFETY: as above.
            assert_eq!(unsafe { read_keyed(block.as_ptr(), 4096) }, Some(size));
        }
        for fill in [0u8, 0xFF, 0x41] {
            // SAFETY: as above.
            unsafe { write_keyed(block.as_mut_ptr(), 1519, 4096) };
            block[1519..4096].fill(fill);
            // SAFETY: as above.
            assert_eq!(unsafe { read_keyed(block.as_ptr(), 4096) }, None, "overrun with {fill:#x}");
        }
    }
}
