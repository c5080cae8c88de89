//! Random sequences of the whole family, checked against a model of every
//! block's bytes.

use core::ffi::c_void;
use proptest::prelude::*;
use proptest::test_runner::{Config as RunnerConfig, TestRunner};

use super::{crt, foreign};

#[derive(Clone, Debug)]
pub enum Op {
    Malloc(usize),
    Calloc(usize, usize),
    CallocOverflow,
    Realloc(usize, usize),
    Recalloc(usize, usize, usize),
    Expand(usize, usize),
    Free(usize),
    AlignedMalloc(usize, u32),
    AlignedRealloc(usize, usize),
    AlignedFree(usize),
    ForeignMalloc(usize),
    ForeignAligned(usize, u32),
    Write(usize, u8),
}

fn size() -> impl Strategy<Value = usize> {
    prop_oneof![6 => 0usize..=64, 3 => 65usize..=2048, 1 => 2049usize..=70_000]
}

fn op() -> impl Strategy<Value = Op> {
    let slot = 0usize..64;
    prop_oneof![
        4 => size().prop_map(Op::Malloc),
        2 => (0usize..40, 0usize..64).prop_map(|(n, s)| Op::Calloc(n, s)),
        1 => Just(Op::CallocOverflow),
        4 => (slot.clone(), size()).prop_map(|(i, s)| Op::Realloc(i, s)),
        2 => (slot.clone(), 0usize..60, 1usize..80).prop_map(|(i, n, s)| Op::Recalloc(i, n, s)),
        1 => (slot.clone(), 1usize..3, 1000usize..40_000).prop_map(|(i, n, s)| Op::Recalloc(i, n, s)),
        1 => (slot.clone(), size()).prop_map(|(i, s)| Op::Expand(i, s)),
        4 => slot.clone().prop_map(Op::Free),
        2 => (size(), 3u32..13).prop_map(|(s, a)| Op::AlignedMalloc(s, a)),
        2 => (slot.clone(), size()).prop_map(|(i, s)| Op::AlignedRealloc(i, s)),
        1 => slot.clone().prop_map(Op::AlignedFree),
        2 => size().prop_map(Op::ForeignMalloc),
        1 => (size(), 3u32..10).prop_map(|(s, a)| Op::ForeignAligned(s, a)),
        3 => (slot, any::<u8>()).prop_map(|(i, b)| Op::Write(i, b)),
    ]
}

/// One live block and the bytes it must hold.
struct Block {
    ptr: *mut u8,
    expected: Vec<u8>,
    align: Option<usize>,
}

struct Model {
    blocks: Vec<Block>,
    ours_expected: bool,
}

impl Model {
    fn check(&self) -> Result<(), TestCaseError> {
        for b in &self.blocks {
            // SAFETY: the block is live and at least `expected.len()` bytes.
            let bytes = unsafe { core::slice::from_raw_parts(b.ptr, b.expected.len()) };
            prop_assert!(bytes == b.expected.as_slice(), "block {:p} changed", b.ptr);
            if let Some(align) = b.align {
                prop_assert_eq!(b.ptr as usize % align, 0);
            }
        }
        Ok(())
    }

    fn pick(&self, i: usize, aligned: bool) -> Option<usize> {
        let candidates: Vec<usize> =
            (0..self.blocks.len()).filter(|&k| self.blocks[k].align.is_some() == aligned).collect();
        (!candidates.is_empty()).then(|| candidates[i % candidates.len()])
    }

    fn push(&mut self, ptr: *mut u8, len: usize, align: Option<usize>, seed: u8) -> Result<(), TestCaseError> {
        prop_assert!(!ptr.is_null(), "allocation of {} bytes failed", len);
        prop_assert!(self.blocks.iter().all(|b| b.ptr != ptr), "pointer handed out twice");
        let expected: Vec<u8> = (0..len).map(|i| seed.wrapping_add(i as u8) | 1).collect();
        // SAFETY: a fresh block of at least `len` bytes.
        unsafe { core::ptr::copy_nonoverlapping(expected.as_ptr(), ptr, len) };
        self.blocks.push(Block { ptr, expected, align });
        Ok(())
    }

    /// Takes the result `q` of resizing block `k` to `n` bytes: gone for 0
    /// (true is returned when the block lives on). The old contents are kept
    /// up to the smaller size; bytes past the old size are unspecified, and
    /// the model adopts them.
    fn resized(&mut self, k: usize, q: *mut u8, n: usize) -> Result<bool, TestCaseError> {
        if n == 0 {
            prop_assert!(q.is_null());
            self.blocks.swap_remove(k);
            return Ok(false);
        }
        prop_assert!(!q.is_null());
        let b = &mut self.blocks[k];
        b.ptr = q;
        let keep = b.expected.len().min(n);
        b.expected.resize(n, 0);
        // SAFETY: the block has `n` bytes.
        let now = unsafe { core::slice::from_raw_parts(q, n) };
        b.expected[keep..].copy_from_slice(&now[keep..]);
        Ok(true)
    }

    fn owned(&self, p: *mut u8) -> bool {
        heap::owns(p as *const c_void)
    }
}

fn step(m: &mut Model, op: &Op, seed: u8) -> Result<(), TestCaseError> {
    let crt = crt();
    match *op {
        Op::Malloc(n) => {
            let p = heap::malloc(crt, n).cast::<u8>();
            prop_assert_eq!(m.owned(p), m.ours_expected);
            // SAFETY: a live block.
            let usable = unsafe { heap::msize(crt, p.cast()) };
            prop_assert!(usable >= n);
            m.push(p, n, None, seed)?;
        }
        Op::Calloc(n, s) => {
            let p = heap::calloc(crt, n, s).cast::<u8>();
            prop_assert!(!p.is_null());
            prop_assert!(super::zeroed(p, n * s), "calloc block not zeroed");
            m.push(p, n * s, None, seed)?;
        }
        Op::CallocOverflow => {
            foreign::set_errno(0);
            let p = heap::calloc(crt, usize::MAX / 2, 3);
            prop_assert!(p.is_null());
            prop_assert_eq!(foreign::last_errno(), heap::crt::ENOMEM);
        }
        Op::Realloc(i, n) => {
            let Some(k) = m.pick(i, false) else { return Ok(()) };
            let b = &mut m.blocks[k];
            // SAFETY: a live block of the malloc family.
            let q = unsafe { heap::realloc(crt, b.ptr.cast(), n) }.cast::<u8>();
            if m.resized(k, q, n)? {
                prop_assert_eq!(heap::owns(q as *const c_void), m.ours_expected);
            }
        }
        Op::Recalloc(i, n, s) => {
            let Some(k) = m.pick(i, false) else { return Ok(()) };
            let b = &mut m.blocks[k];
            // SAFETY: a live block of the malloc family.
            let q = unsafe { heap::recalloc(crt, b.ptr.cast(), n, s) }.cast::<u8>();
            if n * s == 0 {
                prop_assert!(q.is_null());
                m.blocks.swap_remove(k);
            } else {
                prop_assert!(!q.is_null());
                b.ptr = q;
                // The grown part reads as zero: the model's resize says so.
                b.expected.resize(n * s, 0);
            }
        }
        Op::Expand(i, n) => {
            let Some(k) = m.pick(i, false) else { return Ok(()) };
            let b = &mut m.blocks[k];
            // SAFETY: a live block of the malloc family.
            let q = unsafe { heap::expand(crt, b.ptr.cast(), n) }.cast::<u8>();
            if !q.is_null() {
                prop_assert_eq!(q, b.ptr, "_expand moved the block");
                // SAFETY: a live block.
                let usable = unsafe { heap::msize(crt, q.cast()) };
                prop_assert!(usable >= n);
                let old = b.expected.len();
                b.expected.truncate(n);
                if n > old {
                    // SAFETY: the block has `n` bytes now.
                    let now = unsafe { core::slice::from_raw_parts(q, n) };
                    b.expected.extend_from_slice(&now[old..]);
                }
            }
        }
        Op::Free(i) => {
            let Some(k) = m.pick(i, false) else { return Ok(()) };
            let b = m.blocks.swap_remove(k);
            // SAFETY: a live block of the malloc family, not used again.
            unsafe { heap::free(crt, b.ptr.cast()) };
        }
        Op::AlignedMalloc(n, shift) => {
            let align = 1usize << shift;
            let p = heap::aligned_malloc(crt, n, align).cast::<u8>();
            prop_assert_eq!(m.owned(p), m.ours_expected);
            m.push(p, n, Some(align), seed)?;
        }
        Op::AlignedRealloc(i, n) => {
            let Some(k) = m.pick(i, true) else { return Ok(()) };
            let b = &mut m.blocks[k];
            let align = b.align.unwrap_or(16);
            // SAFETY: a live aligned block.
            let q = unsafe { heap::aligned_realloc(crt, b.ptr.cast(), n, align) }.cast::<u8>();
            if m.resized(k, q, n)? {
                // SAFETY: a live aligned block.
                let usable = unsafe { heap::aligned_msize(crt, q.cast(), align, 0) };
                prop_assert!(usable >= n);
            }
        }
        Op::AlignedFree(i) => {
            let Some(k) = m.pick(i, true) else { return Ok(()) };
            let b = m.blocks.swap_remove(k);
            // SAFETY: a live aligned block, not used again.
            unsafe { heap::aligned_free(crt, b.ptr.cast()) };
        }
        Op::ForeignMalloc(n) => {
            let p = foreign::malloc(n.max(1));
            prop_assert!(!heap::owns(p as *const c_void), "a foreign block reads as ours");
            m.push(p, n.max(1), None, seed)?;
        }
        Op::ForeignAligned(n, shift) => {
            let align = 1usize << shift;
            let p = foreign::aligned_malloc(n.max(1), align);
            prop_assert!(!heap::owns(p as *const c_void));
            m.push(p, n.max(1), Some(align), seed)?;
        }
        Op::Write(i, byte) => {
            if m.blocks.is_empty() {
                return Ok(());
            }
            let k = i % m.blocks.len();
            let b = &mut m.blocks[k];
            if let Some(last) = b.expected.len().checked_sub(1) {
                let at = (byte as usize * 7) % (last + 1);
                b.expected[at] = byte;
                // SAFETY: `at` lies inside the live block.
                unsafe { *b.ptr.add(at) = byte };
            }
        }
    }
    m.check()
}

/// Runs `cases` random sequences against the heap.
pub fn run(ours_expected: bool, cases: u32) {
    let mut runner = TestRunner::new(RunnerConfig { cases, failure_persistence: None, ..RunnerConfig::default() });
    runner
        .run(&proptest::collection::vec(op(), 1..200), |ops| {
            let mut m = Model { blocks: Vec::new(), ours_expected };
            let mut result = Ok(());
            for (i, op) in ops.iter().enumerate() {
                result = step(&mut m, op, i as u8);
                if result.is_err() {
                    break;
                }
            }
            for b in m.blocks.drain(..) {
                // SAFETY: live blocks of their family, freed once.
                unsafe {
                    if b.align.is_some() {
                        heap::aligned_free(crt(), b.ptr.cast());
                    } else {
                        heap::free(crt(), b.ptr.cast());
                    }
                }
            }
            result
        })
        .unwrap();
}
