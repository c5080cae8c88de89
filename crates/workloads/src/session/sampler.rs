//! The thread that walks the address space: every period, and when the
//! conductor asks at a phase boundary. It calls nothing but the walk it is
//! given, which allocates nothing, so that no allocator sees it.

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use super::{Space, Walk};

/// What the samples so far found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Seen {
    pub samples: u64,
    pub peak_reserved: u64,
    pub min_largest_free: u64,
}

#[derive(Default)]
struct State {
    /// The conductor waits for a walk begun after it asked.
    asked: bool,
    answer: Option<Space>,
    stop: bool,
    seen: Seen,
}

pub struct Sampler {
    walk: Walk,
    period: Duration,
    state: Mutex<State>,
    wake: Condvar,
}

impl Sampler {
    pub fn new(walk: Walk, period: Duration) -> Sampler {
        Sampler { walk, period, state: Mutex::default(), wake: Condvar::new() }
    }

    /// The sampling thread's body, until [`Sampler::stop`].
    pub fn run(&self) {
        let mut state = self.lock();
        loop {
            state = self
                .wake
                .wait_timeout_while(state, self.period, |s| !s.asked && !s.stop)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
            if state.stop {
                return;
            }
            // A walk answers the conductor only if it was asked before the
            // walk began: the phase's threads are waiting by then.
            let answering = state.asked;
            drop(state);
            let space = (self.walk)();
            state = self.lock();
            state.seen.samples += 1;
            state.seen.peak_reserved = state.seen.peak_reserved.max(space.reserved);
            state.seen.min_largest_free = match state.seen.samples {
                1 => space.largest_free,
                _ => state.seen.min_largest_free.min(space.largest_free),
            };
            if answering {
                state.asked = false;
                state.answer = Some(space);
                self.wake.notify_all();
            }
        }
    }

    /// A walk made now, for the conductor.
    pub fn sample(&self) -> Space {
        let mut state = self.lock();
        state.asked = true;
        state.answer = None;
        self.wake.notify_all();
        let mut state = self.wake.wait_while(state, |s| s.answer.is_none()).unwrap_or_else(PoisonError::into_inner);
        state.answer.take().expect("an answer, waited for")
    }

    pub fn seen(&self) -> Seen {
        self.lock().seen
    }

    pub fn stop(&self) {
        self.lock().stop = true;
        self.wake.notify_all();
    }

    /// A panic elsewhere leaves the counts as they were: still readable.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
