//! The error type.

use core::fmt;

/// Why an image, or one of its import entries, could not be read.
///
/// Every RVA in a variant is an offset from the image's base. Errors are values:
/// no input, however malformed, makes this crate panic or read outside the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Error {
    /// The image does not start with the DOS signature `MZ`.
    BadDosMagic,
    /// The NT headers (at the offset `e_lfanew` names) do not start with `PE\0\0`.
    BadPeMagic,
    /// The optional header's magic is neither `0x10b` (PE32) nor `0x20b` (PE32+).
    BadOptionalMagic {
        /// The magic found.
        magic: u16,
    },
    /// The view holds fewer bytes than the headers' `SizeOfImage` says the image has.
    Truncated {
        /// `SizeOfImage` from the optional header.
        size_of_image: u32,
        /// Bytes in the view.
        available: usize,
    },
    /// `len` bytes at `rva` do not lie inside the image (`SizeOfImage`, or the
    /// view while the headers are being read).
    OutOfBounds {
        /// Where the read starts.
        rva: u32,
        /// How many bytes it needs.
        len: u32,
    },
    /// An import address table does not start on a multiple of the image's
    /// pointer size, so its slots are not whole aligned words.
    Misaligned {
        /// Where the table starts.
        rva: u32,
        /// The alignment required: 4 (PE32) or 8 (PE32+).
        align: u32,
    },
    /// No NUL byte ends the string at `rva` within the image and within
    /// [`Limits::max_name_len`](crate::Limits::max_name_len) bytes.
    Unterminated {
        /// Where the string starts.
        rva: u32,
    },
    /// A table at `rva` has more entries than the limit allows
    /// ([`Limits`](crate::Limits)); reading stops there.
    TooMany {
        /// Where the table starts.
        rva: u32,
        /// The limit that was reached.
        limit: u32,
    },
    /// A PE32+ name-table entry (ordinal flag clear) whose value does not fit in
    /// 32 bits, so it is not an RVA.
    BadThunk {
        /// Where the entry is.
        rva: u32,
        /// Its value.
        value: u64,
    },
    /// A table a descriptor needs is absent (its RVA is 0): the import address
    /// table of a delay-load descriptor, or its name table.
    MissingTable {
        /// Where the descriptor is.
        descriptor_rva: u32,
    },
    /// A delay-load descriptor of the obsolete form that holds addresses instead
    /// of RVAs (bit 0 of its attributes clear); the delay-load helpers of current
    /// toolchains refuse it too.
    UnsupportedDelayDescriptor {
        /// Where the descriptor is.
        descriptor_rva: u32,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::BadDosMagic => f.write_str("no DOS signature (MZ)"),
            Error::BadPeMagic => f.write_str("no PE signature (PE\\0\\0)"),
            Error::BadOptionalMagic { magic } => write!(f, "unknown optional header magic {magic:#x}"),
            Error::Truncated { size_of_image, available } => {
                write!(f, "SizeOfImage is {size_of_image:#x} but only {available:#x} bytes are readable")
            }
            Error::OutOfBounds { rva, len } => write!(f, "{len:#x} bytes at RVA {rva:#x} lie outside the image"),
            Error::Misaligned { rva, align } => {
                write!(f, "import address table at RVA {rva:#x} is not aligned to {align} bytes")
            }
            Error::Unterminated { rva } => write!(f, "unterminated string at RVA {rva:#x}"),
            Error::TooMany { rva, limit } => write!(f, "table at RVA {rva:#x} has more than {limit} entries"),
            Error::BadThunk { rva, value } => write!(f, "name table entry at RVA {rva:#x} holds {value:#x}"),
            Error::MissingTable { descriptor_rva } => {
                write!(f, "descriptor at RVA {descriptor_rva:#x} lacks its address or name table")
            }
            Error::UnsupportedDelayDescriptor { descriptor_rva } => {
                write!(f, "delay-load descriptor at RVA {descriptor_rva:#x} holds addresses, not RVAs")
            }
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for Error {}
