//! The game's threads: each makes blocks through every allocating entry,
//! keeps some a while, checks their bytes and sizes, grows some and frees
//! them, from start-up until the checks, while the plugin's hooks go in.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nvse_host::checks::{draws, seed_of};

use super::blocks::{self, Block};
use super::game::{Calls, Entry, Release};

/// Blocks a thread keeps at once: some made before the hooks are freed after.
const WINDOW: usize = 64;

#[derive(Default)]
struct Tally {
    stop: AtomicBool,
    rounds: AtomicU64,
    calls: AtomicU64,
    bad: AtomicU64,
}

pub struct Churn {
    tally: Arc<Tally>,
    threads: Vec<JoinHandle<()>>,
}

/// What the threads did.
pub struct Outcome {
    pub threads: usize,
    pub calls: u64,
    pub corrupted: u64,
    pub panicked: usize,
}

impl Churn {
    /// Starts `count` threads and waits until each has made a round.
    pub fn start(count: usize, calls: Calls, entries: &[Entry], release: Release) -> Churn {
        let tally = Arc::new(Tally::default());
        let allocating: Vec<Entry> = entries.iter().filter(|e| e.allocates()).copied().collect();
        let threads = (0..count)
            .map(|index| {
                let (tally, allocating) = (Arc::clone(&tally), allocating.clone());
                std::thread::spawn(move || churn(index, &calls, &allocating, &release, &tally))
            })
            .collect();
        let churn = Churn { tally, threads };
        let deadline = Instant::now() + Duration::from_secs(10);
        while churn.tally.rounds.load(Ordering::Relaxed) < count as u64 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        churn
    }

    /// Stops the threads (each frees what it kept) and says what they did.
    pub fn stop(self) -> Outcome {
        self.tally.stop.store(true, Ordering::Relaxed);
        let threads = self.threads.len();
        let panicked = self.threads.into_iter().map(JoinHandle::join).filter(Result::is_err).count();
        Outcome {
            threads,
            calls: self.tally.calls.load(Ordering::Relaxed),
            corrupted: self.tally.bad.load(Ordering::Relaxed),
            panicked,
        }
    }
}

fn churn(index: usize, calls: &Calls, allocating: &[Entry], release: &Release, tally: &Tally) {
    let mut next = draws(index);
    let mut live: Vec<Block> = Vec::with_capacity(WINDOW);
    let (mut calls_made, mut bad) = (0u64, 0u64);
    let check = |block: &Block, calls_made: &mut u64| {
        // SAFETY: a live block of its family.
        let (kept, sized) = unsafe { blocks::intact(release, block) };
        *calls_made += 1;
        u64::from(!kept || !sized)
    };
    while !tally.stop.load(Ordering::Relaxed) {
        for _ in 0..64 {
            let r = next();
            let size = if r % 64 == 0 { 4096 + (r >> 8) as usize % 65_536 } else { 1 + (r >> 8) as usize % 1024 };
            let entry = allocating[(r >> 4) as usize % allocating.len()];
            calls_made += 1;
            // SAFETY: the start-up ran before the threads started.
            let Some((block, zeroed)) = (unsafe { blocks::make(calls, entry, size, seed_of(r as usize, size)) }) else {
                bad += 1;
                continue;
            };
            bad += u64::from(!zeroed) + check(&block, &mut calls_made);
            live.push(block);
            if live.len() < WINDOW {
                continue;
            }
            let mut old = live.swap_remove((r >> 12) as usize % live.len());
            bad += check(&old, &mut calls_made);
            let resizers = blocks::resizers(allocating, old.family);
            if r & 0x1000 != 0 && !resizers.is_empty() {
                let resizer = resizers[(r >> 13) as usize % resizers.len()];
                let grown = old.size + (r >> 20) as usize % 512;
                calls_made += 1;
                // SAFETY: a live block of the resizer's family.
                match unsafe { blocks::grow(calls, release, resizer, &mut old, grown) } {
                    Some(true) => old.size = old.size.min(grown),
                    _ => bad += 1,
                }
            }
            // SAFETY: a live block, freed once by its family.
            unsafe { release.free(old.family, old.p) };
            calls_made += 1;
        }
        tally.rounds.fetch_add(1, Ordering::Relaxed);
        tally.calls.fetch_add(std::mem::take(&mut calls_made), Ordering::Relaxed);
        tally.bad.fetch_add(std::mem::take(&mut bad), Ordering::Relaxed);
    }
    for block in live.drain(..) {
        bad += check(&block, &mut calls_made);
        // SAFETY: a live block, freed once by its family.
        unsafe { release.free(block.family, block.p) };
    }
    tally.calls.fetch_add(calls_made, Ordering::Relaxed);
    tally.bad.fetch_add(bad, Ordering::Relaxed);
}
