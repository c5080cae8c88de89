//! A cheap clock for timing single operations: the processor's time-stamp
//! counter, read around each call, converted to nanoseconds at a rate
//! measured once against the system's clock (`Instant`: on Windows
//! `QueryPerformanceCounter`). Reading it costs a few nanoseconds, which
//! [`Clock::overhead`] measures and each interval leaves out.

use std::time::{Duration, Instant};

/// How long the rate is measured for.
const CALIBRATION: Duration = Duration::from_millis(50);
/// Empty intervals timed to find the reading's own cost.
const OVERHEAD_SAMPLES: u32 = 10_000;

/// The counter's value now, after every earlier instruction has started
/// (`lfence`): what an interval starts with.
#[inline(always)]
pub fn start() -> u64 {
    // SAFETY: `lfence` and `rdtsc` exist on every x86 processor this runs
    // on (SSE2 is part of both targets' baseline) and touch no memory.
    unsafe {
        arch::_mm_lfence();
        arch::_rdtsc()
    }
}

/// The counter's value once every earlier instruction has finished
/// (`rdtscp`), before any later one starts (`lfence`): what an interval
/// ends with.
#[inline(always)]
pub fn stop() -> u64 {
    let mut aux = 0;
    // SAFETY: as in `start`; `rdtscp` writes the processor's id to `aux`.
    unsafe {
        let t = arch::__rdtscp(&mut aux);
        arch::_mm_lfence();
        t
    }
}

#[cfg(target_arch = "x86")]
use core::arch::x86 as arch;
#[cfg(target_arch = "x86_64")]
use core::arch::x86_64 as arch;

/// The counter's rate and the cost of reading it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Clock {
    /// Counter ticks per nanosecond.
    ticks_per_ns: f64,
    /// Ticks an empty interval takes ([`start`] then [`stop`]).
    overhead: u64,
}

impl Clock {
    /// Measures the counter's rate against `Instant` for 50 ms (busy, so
    /// that no sleep's wake-up blurs the end), and the cost of an empty
    /// interval: the least of many.
    pub fn calibrate() -> Clock {
        let (began, ticks) = (Instant::now(), start());
        while began.elapsed() < CALIBRATION {
            std::hint::spin_loop();
        }
        let (ticks, elapsed) = (stop() - ticks, began.elapsed());
        let ticks_per_ns = ticks as f64 / elapsed.as_nanos() as f64;
        let overhead = (0..OVERHEAD_SAMPLES)
            .map(|_| {
                let began = start();
                stop().wrapping_sub(began)
            })
            .min()
            .unwrap_or(0);
        Clock { ticks_per_ns, overhead }
    }

    /// The ticks of an interval, less the cost of timing it.
    #[inline(always)]
    pub fn interval(&self, start: u64, stop: u64) -> u64 {
        stop.wrapping_sub(start).saturating_sub(self.overhead)
    }

    /// Ticks in nanoseconds.
    pub fn ns(&self, ticks: u64) -> f64 {
        ticks as f64 / self.ticks_per_ns
    }

    /// The counter's rate, in ticks per nanosecond (its frequency in GHz).
    pub fn ticks_per_ns(&self) -> f64 {
        self.ticks_per_ns
    }

    /// What timing an empty interval costs, in ticks.
    pub fn overhead(&self) -> u64 {
        self.overhead
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The system's clock where the test runs: `QueryPerformanceCounter` on
    /// Windows (and under Wine), `Instant` elsewhere; in nanoseconds.
    #[cfg(windows)]
    fn system_ns() -> f64 {
        extern "system" {
            fn QueryPerformanceCounter(count: *mut i64) -> i32;
            fn QueryPerformanceFrequency(frequency: *mut i64) -> i32;
        }
        let (mut count, mut frequency) = (0i64, 0i64);
        // SAFETY: both write one i64 through a valid pointer.
        unsafe {
            assert_ne!(QueryPerformanceFrequency(&mut frequency), 0);
            assert_ne!(QueryPerformanceCounter(&mut count), 0);
        }
        count as f64 * 1e9 / frequency as f64
    }

    #[cfg(not(windows))]
    fn system_ns() -> f64 {
        use std::sync::OnceLock;
        static ORIGIN: OnceLock<Instant> = OnceLock::new();
        ORIGIN.get_or_init(Instant::now).elapsed().as_nanos() as f64
    }

    /// Intervals of 20 ms to 400 ms, slept or spun, measured by the
    /// calibrated counter and by the system's clock, agree within 1% (and
    /// 200 us, the system clock's own jitter under load).
    #[test]
    fn the_clock_agrees_with_the_systems() {
        let clock = Clock::calibrate();
        assert!(clock.ticks_per_ns() > 0.1 && clock.ticks_per_ns() < 10.0, "{clock:?}");
        assert!(clock.overhead() < 10_000, "{clock:?}");
        for (ms, spin) in [(20, true), (100, false), (400, false)] {
            let (system, ticks) = (system_ns(), start());
            if spin {
                let until = Instant::now() + Duration::from_millis(ms);
                while Instant::now() < until {}
            } else {
                std::thread::sleep(Duration::from_millis(ms));
            }
            let (ticks, system) = (stop() - ticks, system_ns() - system);
            let counted = clock.ns(ticks);
            let error = (counted - system).abs();
            assert!(
                error < system * 0.01 + 200_000.0,
                "{ms} ms: the counter says {counted} ns, the system {system} ns"
            );
        }
    }

    #[test]
    fn an_interval_leaves_the_overhead_out() {
        let clock = Clock { ticks_per_ns: 2.0, overhead: 30 };
        assert_eq!(clock.interval(100, 1100), 970);
        assert_eq!(clock.interval(100, 110), 0);
        assert_eq!(clock.ns(970), 485.0);
    }
}
