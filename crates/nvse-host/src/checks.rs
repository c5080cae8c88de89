//! The checks a session prints, one line each (`nvse-host: <subject>:
//! <check> key=value ...`) and a verdict, and the byte patterns blocks are
//! checked with.

use std::fmt::Write as _;

/// One fact of a check, as printed (`key=shown`) and judged.
pub struct Fact {
    pub key: &'static str,
    pub shown: String,
    pub ok: bool,
}

/// A fact that must be true.
pub fn holds(key: &'static str, value: bool) -> Fact {
    Fact { key, shown: u8::from(value).to_string(), ok: value }
}

/// A size that must be at least `min` (or exactly `min`).
pub fn size_fact(key: &'static str, size: usize, min: usize, exact: bool) -> Fact {
    Fact { key, shown: size.to_string(), ok: if exact { size == min } else { size >= min } }
}

/// The lines of one module's checks, and what failed.
pub struct Checks {
    subject: String,
    failures: Vec<String>,
}

impl Checks {
    pub fn new(subject: &str) -> Checks {
        Checks { subject: subject.to_owned(), failures: Vec::new() }
    }

    /// Prints `nvse-host: <subject>: <check> key=value ...` and notes what failed.
    pub fn line(&mut self, check: &str, facts: &[Fact]) {
        let mut text = format!("nvse-host: {}: {check}", self.subject);
        for fact in facts {
            let _ = write!(text, " {}={}", fact.key, fact.shown);
            if !fact.ok {
                self.failures.push(format!("{check} {}", fact.key));
            }
        }
        println!("{text}");
    }

    /// A block that could not be had: the check's other facts cannot be judged.
    pub fn null(&mut self, check: &str) {
        self.line(check, &[holds("allocated", false)]);
    }

    /// Prints the verdict and returns whether everything passed.
    pub fn verdict(self) -> bool {
        if self.failures.is_empty() {
            println!("nvse-host: {}: ok", self.subject);
            true
        } else {
            println!("nvse-host: {}: FAILED {}", self.subject, self.failures.join(", "));
            false
        }
    }
}

/// The pattern seed of a block: its index (or a random draw) and size.
pub fn seed_of(index: usize, size: usize) -> u8 {
    (index.wrapping_mul(31) ^ size) as u8
}

/// The game threads' draws: xorshift32, a stream of its own for each thread
/// `index`, the same on every run.
pub fn draws(index: usize) -> impl FnMut() -> u32 {
    let mut state = (index as u32 + 1).wrapping_mul(0x9E37_79B9);
    move || {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        state
    }
}

/// Writes the fixture's pattern: byte i is `seed + 7i`.
///
/// # Safety
/// `p` must be valid for writing `n` bytes.
pub unsafe fn fill(p: *mut u8, n: usize, seed: u8) {
    for i in 0..n {
        // SAFETY: i < n.
        unsafe { p.add(i).write(seed.wrapping_add(i.wrapping_mul(7) as u8)) };
    }
}

/// Whether the `n` bytes at `p` hold the pattern `fill` wrote.
///
/// # Safety
/// `p` must be valid for reading `n` bytes.
pub unsafe fn has_pattern(p: *const u8, n: usize, seed: u8) -> bool {
    // SAFETY: i < n.
    (0..n).all(|i| unsafe { p.add(i).read() } == seed.wrapping_add(i.wrapping_mul(7) as u8))
}

/// Whether the `n` bytes at `p` are zero.
///
/// # Safety
/// `p` must be valid for reading `n` bytes.
pub unsafe fn is_zeroed(p: *const u8, n: usize) -> bool {
    // SAFETY: i < n.
    (0..n).all(|i| unsafe { p.add(i).read() } == 0)
}
