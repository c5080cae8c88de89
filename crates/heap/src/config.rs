//! What can be chosen when the heap starts.

/// Which allocator serves the heap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// rpmalloc 1.4 (the default).
    Rpmalloc,
    /// mimalloc.
    Mimalloc,
    /// Everything goes to the original functions and is only counted.
    Passthrough,
}

impl Backend {
    /// The name used in logs and configuration files.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Rpmalloc => "rpmalloc",
            Backend::Mimalloc => "mimalloc",
            Backend::Passthrough => "passthrough",
        }
    }

    /// Parses a name as [`name`](Self::name) writes it, ignoring ASCII case.
    pub fn from_name(name: &str) -> Option<Backend> {
        [Backend::Rpmalloc, Backend::Mimalloc, Backend::Passthrough]
            .into_iter()
            .find(|b| b.name().eq_ignore_ascii_case(name))
    }
}

/// Start-up settings.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    /// The allocator.
    pub backend: Backend,
    /// rpmalloc: spans (64 KiB each) mapped per call to the OS. rpmalloc's own
    /// default is 64 (4 MiB); on 32-bit a smaller count keeps address space
    /// from being reserved ahead of need.
    pub span_map_count: usize,
    /// rpmalloc: write to every page of a mapping as soon as it is made, so
    /// that no allocation later waits for the OS to supply a first-touched page.
    pub touch_pages: bool,
    /// Track live blocks and their callers, for leak reports.
    pub track_leaks: bool,
    /// Live blocks the leak table holds; blocks beyond it are counted as
    /// untracked, never fatal.
    pub leak_capacity: usize,
    /// Where leak tracking gets the address of the code that allocated: the
    /// platform layer knows how to find it (a stack walk on Windows).
    pub caller: fn() -> usize,
    /// Guard pages (rpmalloc only): see [`crate::guard`].
    pub guard: crate::guard::GuardConfig,
}

fn no_caller() -> usize {
    0
}

impl Config {
    /// The defaults: rpmalloc, 16 spans (1 MiB) per map, no leak tracking.
    pub const DEFAULT: Config = Config {
        backend: Backend::Rpmalloc,
        span_map_count: 16,
        touch_pages: false,
        track_leaks: false,
        leak_capacity: 32_768,
        caller: no_caller,
        guard: crate::guard::GuardConfig::OFF,
    };
}

impl Default for Config {
    fn default() -> Self {
        Config::DEFAULT
    }
}
