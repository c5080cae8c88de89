//! The executable the process started from: where its image lies, whether
//! it is Large Address Aware, and whether it is the one a profile is for.

use std::fmt;

use game_profile::{Expect, Profile};

/// The main executable's image in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Executable {
    pub base: usize,
    pub size: usize,
    /// Whether its headers mark it Large Address Aware.
    pub large_address_aware: bool,
}

impl Executable {
    /// The process's executable, if its headers can be read.
    pub fn current() -> Option<Executable> {
        // SAFETY: a null name asks for the executable's module, always loaded.
        let base = unsafe { windows_sys::Win32::System::LibraryLoader::GetModuleHandleW(core::ptr::null()) };
        if base.is_null() {
            return None;
        }
        // SAFETY: a loaded module's base, whose headers and image stay mapped.
        let view = unsafe { pe_imports::View::from_module(base.cast()) }.ok()?;
        let image = pe_imports::Image::new(view).ok()?;
        Some(Executable {
            base: base as usize,
            size: image.size_of_image() as usize,
            large_address_aware: image.large_address_aware(),
        })
    }

    fn contains(&self, address: usize, len: usize) -> bool {
        address >= self.base && address.saturating_add(len) <= self.base + self.size
    }

    /// Reads `len` bytes of code at `address`, inside the image and in
    /// committed executable memory, or says why not.
    pub fn code(&self, address: usize, len: usize) -> Result<Vec<u8>, Mismatch> {
        if !self.contains(address, len) {
            return Err(Mismatch::Outside { address, base: self.base, end: self.base + self.size });
        }
        match inline_hook::read_code(address, len) {
            Some(code) if code.len() == len => Ok(code),
            _ => Err(Mismatch::NotCode { address }),
        }
    }

    /// Whether every byte the profile expects is there: the executable is
    /// the one the profile is for.
    pub fn identify(&self, profile: &Profile) -> Result<(), Mismatch> {
        profile.executable.expect.iter().try_for_each(|expect| self.expect(expect))
    }

    fn expect(&self, expect: &Expect) -> Result<(), Mismatch> {
        let address = expect.address as usize;
        let found = self.code(address, expect.bytes.len())?;
        if expect.bytes.matches(&found) {
            Ok(())
        } else {
            Err(Mismatch::Bytes { address, found, expected: expect.bytes.to_string() })
        }
    }
}

/// Why the code at an address is not what a profile expects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mismatch {
    /// The address is not inside the executable's image.
    Outside { address: usize, base: usize, end: usize },
    /// It is not in committed executable memory.
    NotCode { address: usize },
    /// Other bytes are there.
    Bytes { address: usize, found: Vec<u8>, expected: String },
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mismatch::Outside { address, base, end } => {
                write!(f, "0x{address:08X} lies outside the executable's image (0x{base:08X}-0x{end:08X})")
            }
            Mismatch::NotCode { address } => write!(f, "0x{address:08X} is not code"),
            Mismatch::Bytes { address, found, expected } => {
                write!(f, "0x{address:08X} holds {} where {expected} was expected", crate::Hex(found))
            }
        }
    }
}
