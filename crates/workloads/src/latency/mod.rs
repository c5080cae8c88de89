//! Latency: how long single calls of the allocator take, rather than how
//! many it serves per second. A game feels its allocator's slowest calls:
//! a frame that stalls while the allocator maps memory or walks a list.
//!
//! - [`clock`]: the time-stamp counter read around each call, calibrated
//!   once against the system's clock;
//! - [`histogram`]: the calls' times, counted in fixed memory, read as
//!   percentiles;
//! - [`frames`]: `game-frames`, a game's allocations at 60 frames per
//!   second on four threads: the median, 99th, 99.9th percentile and
//!   longest call, and the slowest frame's allocation time.

pub mod clock;
pub mod frames;
pub mod histogram;

pub use frames::FramesOutcome;
