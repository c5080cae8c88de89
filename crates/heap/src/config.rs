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
    /// default is 64 (4 MiB). A mapping goes back to the OS only once every
    /// span in it is free, so on 32-bit one span per mapping (the default)
    /// gives back the most address space once blocks are freed.
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
    /// Address space set aside at start and given back when the OS refuses
    /// the heap memory, so that the game lives on long enough to be saved
    /// (see [`crate::oom`]); 0 for none.
    pub emergency_reserve: usize,
    /// Told when the OS refuses the heap memory (see [`crate::oom`]), on
    /// the allocating thread: it must not allocate through the heap.
    pub on_exhausted: fn(&crate::oom::Exhaustion),
    /// How long blocks freed through [`crate::free_delayed_or_else`] stay as they
    /// were before they are handed out again (see [`crate::delay`]).
    pub free_delay: crate::delay::Delay,
}

fn no_caller() -> usize {
    0
}

fn no_report(_: &crate::oom::Exhaustion) {}

impl Config {
    /// The defaults: rpmalloc, one span (64 KiB) per map, no leak tracking,
    /// no emergency reserve.
    pub const DEFAULT: Config = Config {
        backend: Backend::Rpmalloc,
        span_map_count: 1,
        touch_pages: false,
        track_leaks: false,
        leak_capacity: 32_768,
        caller: no_caller,
        guard: crate::guard::GuardConfig::OFF,
        emergency_reserve: 0,
        on_exhausted: no_report,
        free_delay: crate::delay::Delay::OFF,
    };
}

impl Default for Config {
    fn default() -> Self {
        Config::DEFAULT
    }
}
