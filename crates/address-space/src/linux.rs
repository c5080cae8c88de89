//! The walk on Linux: `/proc/self/maps`, read in pieces into a buffer on the
//! stack (the path is short enough for std to make its C string on the
//! stack too), its gaps counted as free.

use std::fs::File;
use std::io::Read;

use crate::maps::{self, Mapping};
use crate::{Kind, Summary};

/// The lowest address a mapping may have by default (`vm.mmap_min_addr`).
const LOWEST: u64 = 0x10000;
/// One past the highest user address with 4-level page tables (47 bits).
const HIGHEST: u64 = 1 << 47;
/// Longer lines (a path of several KiB) are cut at this length: what
/// matters of a line comes before its path.
const BUFFER: usize = 4096;

pub fn walk() -> Summary {
    let mut summary = Summary::new(LOWEST, HIGHEST);
    let mut next = LOWEST;
    let Ok(file) = File::open("/proc/self/maps") else { return summary };
    let complete = for_each_mapping(file, |m| {
        let (start, end) = (m.start.clamp(LOWEST, HIGHEST), m.end.clamp(LOWEST, HIGHEST));
        if start > next {
            summary.add(next, start - next, Kind::Free);
        }
        if end > start {
            summary.add(start, end - start, m.kind);
        }
        next = next.max(end);
    });
    if complete && next < HIGHEST {
        summary.add(next, HIGHEST - next, Kind::Free);
    }
    summary.complete = complete;
    summary
}

/// Calls `each` with every mapping of `file`, in order. False if the file
/// could not be read to its end or a line did not parse.
fn for_each_mapping(mut file: impl Read, mut each: impl FnMut(Mapping)) -> bool {
    let mut buffer = [0u8; BUFFER];
    // Bytes of an unfinished line at the buffer's start; whether the rest of
    // an overlong line is still to be skipped.
    let (mut kept, mut skipping) = (0, false);
    loop {
        let read = match file.read(&mut buffer[kept..]) {
            Ok(0) => return kept == 0 && !skipping,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => return false,
        };
        let filled = kept + read;
        let mut line_start = 0;
        while let Some(end) = buffer[line_start..filled].iter().position(|&b| b == b'\n') {
            let line = &buffer[line_start..line_start + end];
            line_start += end + 1;
            if std::mem::take(&mut skipping) {
                continue;
            }
            match maps::parse(line) {
                Some(m) => each(m),
                None => return false,
            }
        }
        if line_start == 0 && filled == BUFFER {
            // A line longer than the buffer: its start says all there is,
            // the rest is skipped up to its line break.
            if !skipping {
                match maps::parse(&buffer[..filled]) {
                    Some(m) => each(m),
                    None => return false,
                }
            }
            (kept, skipping) = (0, true);
            continue;
        }
        buffer.copy_within(line_start..filled, 0);
        kept = filled - line_start;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hands out its text a few bytes at a time, as a pseudo-file may.
    struct Trickle<'a>(&'a [u8], usize);

    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            let n = self.1.min(out.len()).min(self.0.len());
            out[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    fn mappings(text: &[u8], step: usize) -> (bool, Vec<(u64, u64)>) {
        let mut found = Vec::new();
        let complete = for_each_mapping(Trickle(text, step), |m| found.push((m.start, m.end)));
        (complete, found)
    }

    #[test]
    fn lines_are_read_across_pieces_and_overlong_ones_by_their_start() {
        let long_path = "/x".repeat(3 * BUFFER);
        let text = format!(
            "10000-20000 rw-p 00000000 00:00 0\n30000-40000 r--p 00000000 08:01 12 {long_path}\n\
             50000-60000 ---p 00000000 00:00 0\n"
        );
        let expected = vec![(0x10000, 0x20000), (0x30000, 0x40000), (0x50000, 0x60000)];
        for step in [1, 7, 100, BUFFER, 10 * BUFFER] {
            assert_eq!(mappings(text.as_bytes(), step), (true, expected.clone()), "pieces of {step}");
        }
    }

    #[test]
    fn a_broken_or_unfinished_file_is_incomplete() {
        assert!(!mappings(b"10000-20000 rw-p 00000000 00:00 0\nnonsense\n", 64).0);
        assert!(!mappings(b"10000-20000 rw-p 00000000 00:00 0\n30000-40000 rw", 64).0);
        assert_eq!(mappings(b"", 64), (true, vec![]));
    }
}
