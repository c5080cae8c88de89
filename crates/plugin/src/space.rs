//! The process's address space as the log reports it: free bytes and the
//! largest free region, from a walk of it (`address_space`), and the levels
//! below which a 32-bit game is close to running out.
//!
//! Under Wine (and Proton) the walk under-counts: Wine shows most of the
//! address space it has not handed out yet as reserved, and `VirtualAlloc`
//! still finds room there (`address_space`'s documentation has the
//! measurements). The lines say so when the game runs under Wine.

use core::fmt;
use std::sync::OnceLock;

use heap::csv::Space as Sampled;

use crate::allocator::Bytes;

/// Below this much free address space the game is close to running out.
pub const LOW_FREE: u64 = 400 << 20;
/// Below a largest free region this large, big requests (textures) start to
/// fail even with free space left in pieces.
pub const LOW_LARGEST: u64 = 128 << 20;

/// The address space at one moment.
#[derive(Clone, Copy, Debug)]
pub struct Space {
    pub free: u64,
    pub largest_free: u64,
}

impl Space {
    /// A walk of it now: ~1 µs per region (a game has thousands). Allocates
    /// nothing and takes no lock.
    pub fn now() -> Space {
        let walk = address_space::walk();
        Space { free: walk.free_bytes, largest_free: walk.largest_free }
    }

    /// Whether it is below either level.
    pub fn low(&self) -> bool {
        self.free < LOW_FREE || self.largest_free < LOW_LARGEST
    }

    /// As the statistics CSV records it.
    pub fn sampled(&self) -> Sampled {
        Sampled { free_bytes: self.free, largest_free_bytes: self.largest_free }
    }
}

impl fmt::Display for Space {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} of address space free, the largest free region {}", Bytes(self.free), Bytes(self.largest_free))?;
        if under_wine() {
            f.write_str(" (under Wine these figures under-count what is left)")?;
        }
        Ok(())
    }
}

/// Whether the game runs under Wine: its `ntdll.dll` exports `wine_get_version`.
pub fn under_wine() -> bool {
    static WINE: OnceLock<bool> = OnceLock::new();
    *WINE.get_or_init(|| crt_hooks::loader::export_address("ntdll.dll", "wine_get_version").is_some())
}
