//! Lines of Linux's `/proc/<pid>/maps`, read without allocating:
//!
//! ```text
//! 7f12a4000000-7f12a4021000 rw-p 00000000 00:00 0
//! 55d0c8a6b000-55d0c8a8c000 rw-p 00000000 00:00 0          [heap]
//! 7f12a9e00000-7f12a9e28000 r--p 00000000 08:01 1311799    /usr/lib/x86_64-linux-gnu/libc.so.6
//! ```
//!
//! start-end, permissions (`p` private or `s` shared), offset, device, inode,
//! and a path (or a pseudo-name in brackets, or nothing for anonymous memory).

#![cfg_attr(not(target_os = "linux"), allow(dead_code))]

use crate::Kind;

/// One mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mapping {
    pub start: u64,
    pub end: u64,
    pub kind: Kind,
}

/// Reads one line (without its line break). The path may be cut short: only
/// whether there is one, and whether it is a bracketed pseudo-name, matters.
pub fn parse(line: &[u8]) -> Option<Mapping> {
    let mut fields = line.split(|&b| b == b' ').filter(|f| !f.is_empty());
    let range = fields.next()?;
    let perms = fields.next()?;
    let _offset = fields.next()?;
    let _device = fields.next()?;
    let inode = fields.next()?;
    let path = fields.next().unwrap_or(b"");
    let dash = range.iter().position(|&b| b == b'-')?;
    let start = hex(&range[..dash])?;
    let end = hex(&range[dash + 1..])?;
    if end < start || perms.len() < 4 {
        return None;
    }
    let anonymous = inode == b"0" && (path.is_empty() || is_anonymous_pseudo_name(path));
    let private = perms[3] == b'p';
    let kind = if anonymous && private {
        // PROT_NONE is address space set aside, not memory.
        Kind::Private { committed: perms[..3] != *b"---" }
    } else {
        Kind::Mapped
    };
    Some(Mapping { start, end, kind })
}

/// `[heap]`, `[stack]`, `[anon:name]`: anonymous memory by another name.
/// `[vdso]`, `[vvar]` and `[vsyscall]` are the kernel's pages, not the
/// process's memory: counted as mapped.
fn is_anonymous_pseudo_name(path: &[u8]) -> bool {
    path == b"[heap]" || path.starts_with(b"[stack") || path.starts_with(b"[anon:")
}

fn hex(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 16 {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &d| Some(n << 4 | (d as char).to_digit(16)? as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anonymous_private_memory_is_private() {
        let m = parse(b"7f12a4000000-7f12a4021000 rw-p 00000000 00:00 0").unwrap();
        assert_eq!(m, Mapping { start: 0x7f12a4000000, end: 0x7f12a4021000, kind: Kind::Private { committed: true } });
        let heap = parse(b"55d0c8a6b000-55d0c8a8c000 rw-p 00000000 00:00 0          [heap]").unwrap();
        assert_eq!(heap.kind, Kind::Private { committed: true });
        let reserved = parse(b"7f0000000000-7f0004000000 ---p 00000000 00:00 0").unwrap();
        assert_eq!(reserved.kind, Kind::Private { committed: false });
        let stack = parse(b"7ffd1000-7ffd2000 rw-p 00000000 00:00 0 [stack]").unwrap();
        assert_eq!(stack.kind, Kind::Private { committed: true });
    }

    #[test]
    fn files_shared_memory_and_kernel_pages_are_mapped() {
        for line in [
            &b"7f12a9e00000-7f12a9e28000 r--p 00000000 08:01 1311799    /usr/lib/x86_64-linux-gnu/libc.so.6"[..],
            b"7f12a9e00000-7f12a9e28000 rw-s 00000000 00:01 0    /dev/zero (deleted)",
            b"7f12a9e00000-7f12a9e28000 rw-s 00000000 00:00 0",
            b"7ffc8a5f0000-7ffc8a5f4000 r--p 00000000 00:00 0                          [vvar]",
            b"ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]",
            b"7f12a9e00000-7f12a9e28000 r--p 00000000 08:01 1311799    /a/path/cut/sh",
        ] {
            assert_eq!(parse(line).map(|m| m.kind), Some(Kind::Mapped), "{}", String::from_utf8_lossy(line));
        }
    }

    #[test]
    fn broken_lines_are_none() {
        for line in [
            &b""[..],
            b"7f12a4000000 rw-p 00000000 00:00 0",
            b"7f12a4021000-7f12a4000000 rw-p 00000000 00:00 0",
            b"7f12a4000000-7f12a4021000 rw-p 00000000 00:00",
            b"7f12a4000000-7f12g4021000 rw-p 00000000 00:00 0",
            b"7f12a4000000-7f12a4021000 rw 00000000 00:00 0",
            b"17f12a4000000000-27f12a40210000000 rw-p 00000000 00:00 0",
        ] {
            assert_eq!(parse(line), None, "{}", String::from_utf8_lossy(line));
        }
    }
}
