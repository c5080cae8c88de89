//! `game --stale FRAMES`: the engine's stale readers, for FRAMES frames.
//!
//! Fallout: New Vegas reads some objects after it freed them, and lives
//! because its own heap leaves freed bytes as they were for a while:
//! - the IO thread takes a queued task from its queue and calls through the
//!   task's vtable (its first word) a few milliseconds after the main
//!   thread's deferred destruction freed it ([`Task`]);
//! - another thread reads a struct the main thread freed in the same frame
//!   ([`STRUCT_SIZE`]).
//!
//! Meanwhile the game threads churn blocks of the same size classes through
//! the game heap. Each freed object is read as the engine reads it, and what
//! was read is compared with what was written: `vtable_wrong` counts calls
//! that would have gone through something other than the vtable (the real
//! game crashes there), `payload_wrong` and `struct_wrong` objects whose
//! bytes changed. A third check frees a block of a size class nobody else
//! uses and reads it before anything allocates from that class
//! (`untouched`): whatever the delay, nothing may have written it.
//!
//! Freed memory is read with `ReadProcessMemory`, so that memory the heap
//! gave back to the OS is counted as wrong instead of ending the program.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use windows_sys::Win32::System::Diagnostics::Debug::ReadProcessMemory;
use windows_sys::Win32::System::Threading::GetCurrentProcess;

use super::{heap_allocate, heap_free, the_heap};
use crate::checks::{fill, has_pattern, Checks, Fact};

/// A queued task's size: a small object, as the engine's are.
const TASK_SIZE: usize = 48;
/// A struct read in the frame it is freed.
const STRUCT_SIZE: usize = 200;
/// A size class no other code of the scenario allocates from.
const UNTOUCHED_SIZE: usize = 7000;
const TASKS_PER_FRAME: u32 = 8;
const STRUCTS_PER_FRAME: u32 = 2;
/// Blocks a churning thread keeps live.
const CHURN_LIVE: usize = 64;

/// A task's vtable: the IO thread calls `process` through the task's first word.
#[repr(C)]
struct Vtable {
    process: fn(&Task, u8) -> bool,
}

static TASK_VTABLE: Vtable = Vtable { process: Task::process };

/// A queued task as the IO thread reads it: its vtable, then its payload.
#[repr(C)]
struct Task {
    vtable: usize,
    payload: [u8; TASK_SIZE - 4],
}

impl Task {
    /// The task's work: its payload must still be what was written.
    fn process(&self, seed: u8) -> bool {
        // SAFETY: a local copy of `TASK_SIZE - 4` bytes.
        unsafe { has_pattern(self.payload.as_ptr(), self.payload.len(), seed) }
    }

    fn vtable_address() -> usize {
        &raw const TASK_VTABLE as usize
    }
}

#[derive(Default)]
struct Tally {
    tasks: AtomicU64,
    vtable_wrong: AtomicU64,
    payload_wrong: AtomicU64,
    structs: AtomicU64,
    struct_wrong: AtomicU64,
    untouched: AtomicU64,
    untouched_wrong: AtomicU64,
    churned: AtomicU64,
    /// The first word a stale read found in place of the vtable.
    first_wrong_word: AtomicU64,
}

/// Copies `N` bytes at `p`, or `None` if they cannot be read.
fn read_freed<const N: usize>(p: usize) -> Option<[u8; N]> {
    let mut copy = [0u8; N];
    let mut read = 0usize;
    // SAFETY: reads this process's memory into a local buffer of `N` bytes;
    // an unreadable address makes the call fail, not fault.
    let ok = unsafe { ReadProcessMemory(GetCurrentProcess(), p as *const _, copy.as_mut_ptr().cast(), N, &mut read) };
    (ok != 0 && read == N).then_some(copy)
}

/// Plays `frames` frames with `threads` churning game threads; `frame` runs
/// at each frame's end (the game's main loop). Returns whether every stale
/// read found the old bytes.
pub fn stale(frames: u32, threads: usize, mut frame: impl FnMut()) -> bool {
    let tally = Arc::new(Tally::default());
    let stop = Arc::new(AtomicBool::new(false));
    let churners: Vec<_> = (0..threads.max(1))
        .map(|index| {
            let (tally, stop) = (Arc::clone(&tally), Arc::clone(&stop));
            std::thread::spawn(move || churn(index, &tally, &stop))
        })
        .collect();
    let (io, io_queue) = mpsc::channel::<(usize, u8, Instant)>();
    let io_thread = {
        let tally = Arc::clone(&tally);
        std::thread::spawn(move || io_reader(&io_queue, &tally))
    };
    let (ai, ai_queue) = mpsc::channel::<(usize, u8)>();
    let (ai_done, ai_read) = mpsc::channel::<()>();
    let ai_thread = {
        let tally = Arc::clone(&tally);
        std::thread::spawn(move || struct_reader(&ai_queue, &ai_done, &tally))
    };

    let start = Instant::now();
    for n in 0..frames {
        for t in 0..TASKS_PER_FRAME {
            let seed = (n * TASKS_PER_FRAME + t) as u8;
            let task = new_task(seed);
            // The IO thread gets to it 1-4 ms from now; the main thread's
            // deferred destruction frees it at once.
            let due = Instant::now() + Duration::from_millis(1 + u64::from(t % 4));
            let _ = io.send((task as usize, seed, due));
            // SAFETY: a live block of the game heap, freed once.
            unsafe { heap_free(the_heap(), task) };
        }
        for s in 0..STRUCTS_PER_FRAME {
            let seed = (n * STRUCTS_PER_FRAME + s).wrapping_mul(3) as u8;
            let p = new_block(STRUCT_SIZE, seed);
            let _ = ai.send((p as usize, seed));
            // SAFETY: a live block of the game heap, freed once.
            unsafe { heap_free(the_heap(), p) };
            // Read before this frame ends.
            let _ = ai_read.recv();
        }
        untouched(n as u8, &tally);
        sleep_until(start + frame_time(n + 1));
        frame();
    }
    drop(io);
    drop(ai);
    let readers_ok = io_thread.join().is_ok() & ai_thread.join().is_ok();
    stop.store(true, Ordering::Relaxed);
    let churners_ok = churners.into_iter().all(|c| c.join().is_ok());
    report(frames, &tally, readers_ok && churners_ok)
}

/// A task as the main thread queues it: vtable, payload.
fn new_task(seed: u8) -> *mut u8 {
    let p = new_block(TASK_SIZE, seed);
    // SAFETY: a fresh block of `TASK_SIZE` bytes: its first word, then the
    // payload's pattern over the rest.
    unsafe {
        p.cast::<usize>().write_unaligned(Task::vtable_address());
        fill(p.add(4), TASK_SIZE - 4, seed);
    }
    p
}

/// A block of the game heap holding `seed`'s pattern.
fn new_block(size: usize, seed: u8) -> *mut u8 {
    // SAFETY: the game heap's allocate, which never returns NULL while
    // memory lasts; a NULL ends the scenario loudly.
    let p = unsafe { heap_allocate(the_heap(), size) };
    assert!(!p.is_null(), "the game heap refused {size} bytes");
    // SAFETY: a fresh block of `size` bytes.
    unsafe { fill(p, size, seed) };
    p
}

/// The IO thread: each task, when it is due, read and called through its
/// first word, as the engine's IO loop does.
fn io_reader(queue: &mpsc::Receiver<(usize, u8, Instant)>, tally: &Tally) {
    while let Ok((task, seed, due)) = queue.recv() {
        sleep_until(due);
        tally.tasks.fetch_add(1, Ordering::Relaxed);
        let Some(bytes) = read_freed::<TASK_SIZE>(task) else {
            tally.vtable_wrong.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        // SAFETY: `Task` is `repr(C)`, `TASK_SIZE` bytes, any bit pattern.
        let copy: Task = unsafe { core::mem::transmute(bytes) };
        if copy.vtable != Task::vtable_address() {
            tally.vtable_wrong.fetch_add(1, Ordering::Relaxed);
            let _ = tally.first_wrong_word.compare_exchange(
                0,
                copy.vtable as u64 | 1 << 32,
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
            continue;
        }
        // SAFETY: the word is the vtable's own address: the call the engine makes.
        let vtable = unsafe { &*(copy.vtable as *const Vtable) };
        if !(vtable.process)(&copy, seed) {
            tally.payload_wrong.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Another game thread: reads each struct the main thread freed, in the
/// same frame.
fn struct_reader(queue: &mpsc::Receiver<(usize, u8)>, done: &mpsc::Sender<()>, tally: &Tally) {
    while let Ok((p, seed)) = queue.recv() {
        tally.structs.fetch_add(1, Ordering::Relaxed);
        // SAFETY: a local copy of `STRUCT_SIZE` bytes.
        let intact =
            read_freed::<STRUCT_SIZE>(p).is_some_and(|copy| unsafe { has_pattern(copy.as_ptr(), STRUCT_SIZE, seed) });
        if !intact {
            tally.struct_wrong.fetch_add(1, Ordering::Relaxed);
        }
        let _ = done.send(());
    }
}

/// A block of a class nobody else allocates from, freed and read at once.
fn untouched(seed: u8, tally: &Tally) {
    let p = new_block(UNTOUCHED_SIZE, seed);
    // SAFETY: a live block of the game heap, freed once.
    unsafe { heap_free(the_heap(), p) };
    tally.untouched.fetch_add(1, Ordering::Relaxed);
    // SAFETY: a local copy of `UNTOUCHED_SIZE` bytes.
    let intact = read_freed::<UNTOUCHED_SIZE>(p as usize)
        .is_some_and(|copy| unsafe { has_pattern(copy.as_ptr(), UNTOUCHED_SIZE, seed) });
    if !intact {
        tally.untouched_wrong.fetch_add(1, Ordering::Relaxed);
    }
}

/// A game thread churning blocks of the tasks' and structs' size classes.
fn churn(index: usize, tally: &Tally, stop: &AtomicBool) {
    let mut live = std::collections::VecDeque::with_capacity(CHURN_LIVE);
    let mut n = index;
    while !stop.load(Ordering::Relaxed) {
        let size = if n.is_multiple_of(3) { STRUCT_SIZE - n % 16 } else { TASK_SIZE - n % 8 };
        live.push_back(new_block(size, 0xEE));
        if live.len() > CHURN_LIVE {
            // SAFETY: a live block of the game heap, freed once.
            unsafe { heap_free(the_heap(), live.pop_front().unwrap_or(core::ptr::null_mut())) };
        }
        n += 1;
        if n.is_multiple_of(256) {
            std::thread::yield_now();
        }
    }
    tally.churned.fetch_add((n - index) as u64, Ordering::Relaxed);
    for p in live {
        // SAFETY: as above.
        unsafe { heap_free(the_heap(), p) };
    }
}

fn report(frames: u32, tally: &Tally, joined: bool) -> bool {
    let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
    let zero =
        |key: &'static str, counter: &AtomicU64| Fact { key, shown: read(counter).to_string(), ok: read(counter) == 0 };
    let count =
        |key: &'static str, counter: &AtomicU64| Fact { key, shown: read(counter).to_string(), ok: read(counter) > 0 };
    let first = read(&tally.first_wrong_word);
    let mut checks = Checks::new("game");
    checks.line(
        "stale tasks",
        &[
            Fact { key: "frames", shown: frames.to_string(), ok: true },
            count("tasks", &tally.tasks),
            zero("vtable_wrong", &tally.vtable_wrong),
            zero("payload_wrong", &tally.payload_wrong),
            Fact {
                key: "first_wrong_word",
                shown: if first == 0 { "none".into() } else { format!("{:#010x}", first as u32) },
                ok: true,
            },
            count("churned", &tally.churned),
        ],
    );
    checks.line("stale structs", &[count("structs", &tally.structs), zero("struct_wrong", &tally.struct_wrong)]);
    checks.line(
        "stale untouched",
        &[count("untouched", &tally.untouched), zero("untouched_wrong", &tally.untouched_wrong)],
    );
    checks.line("stale threads", &[Fact { key: "joined", shown: u8::from(joined).to_string(), ok: joined }]);
    checks.verdict()
}

/// When frame `n` ends, from the start.
fn frame_time(n: u32) -> Duration {
    Duration::from_secs(u64::from(n)) / 60
}

fn sleep_until(when: Instant) {
    std::thread::sleep(when.saturating_duration_since(Instant::now()));
}
