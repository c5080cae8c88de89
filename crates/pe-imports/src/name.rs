//! Names copied out of an image.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::fmt;
use core::ops::Deref;

use crate::{Error, View};

/// Bytes a [`Name`] holds without allocating.
const INLINE: usize = 62;

/// A NUL-terminated string copied out of an image, without its NUL.
///
/// Names up to 62 bytes (nearly all DLL and function names) are stored inline;
/// longer ones take one heap allocation. The bytes are whatever the image holds:
/// usually ASCII, never checked to be UTF-8.
#[derive(Clone)]
pub struct Name {
    repr: Repr,
}

#[derive(Clone)]
enum Repr {
    Inline { len: u8, buf: [u8; INLINE] },
    Heap(Box<[u8]>),
}

impl Name {
    /// Reads the string at `rva`: at most `max_len` bytes before its NUL.
    pub(crate) fn read(view: &View<'_>, rva: u32, max_len: u32) -> Result<Name, Error> {
        // The first byte must be inside the image at all.
        view.read_u8(rva)?;
        let mut buf = [0u8; INLINE];
        let mut heap: Option<Vec<u8>> = None;
        let mut len: u32 = 0;
        loop {
            let at = rva.checked_add(len).ok_or(Error::Unterminated { rva })?;
            let byte = view.read_u8(at).map_err(|_| Error::Unterminated { rva })?;
            if byte == 0 {
                break;
            }
            if len >= max_len {
                return Err(Error::Unterminated { rva });
            }
            match heap.as_mut() {
                Some(vec) => vec.push(byte),
                None if (len as usize) < INLINE => buf[len as usize] = byte,
                None => {
                    let mut vec = Vec::with_capacity(INLINE * 4);
                    vec.extend_from_slice(&buf);
                    vec.push(byte);
                    heap = Some(vec);
                }
            }
            len += 1;
        }
        Ok(match heap {
            Some(vec) => Name { repr: Repr::Heap(vec.into_boxed_slice()) },
            // `len <= INLINE` here, which fits in a `u8`.
            None => Name { repr: Repr::Inline { len: len as u8, buf } },
        })
    }

    /// The bytes, without the terminating NUL.
    pub fn as_bytes(&self) -> &[u8] {
        match &self.repr {
            Repr::Inline { len, buf } => buf.get(..*len as usize).unwrap_or(&[]),
            Repr::Heap(bytes) => bytes,
        }
    }

    /// The name as `&str`, if it is UTF-8.
    pub fn to_str(&self) -> Option<&str> {
        core::str::from_utf8(self.as_bytes()).ok()
    }

    /// Whether the name equals `other` ignoring ASCII case.
    pub fn eq_ignore_ascii_case(&self, other: &[u8]) -> bool {
        self.as_bytes().eq_ignore_ascii_case(other)
    }
}

impl Deref for Name {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl AsRef<[u8]> for Name {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl PartialEq for Name {
    fn eq(&self, other: &Name) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}
impl Eq for Name {}

impl core::hash::Hash for Name {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state)
    }
}

impl PartialEq<[u8]> for Name {
    fn eq(&self, other: &[u8]) -> bool {
        self.as_bytes() == other
    }
}

impl PartialEq<&[u8]> for Name {
    fn eq(&self, other: &&[u8]) -> bool {
        self.as_bytes() == *other
    }
}

impl<const N: usize> PartialEq<[u8; N]> for Name {
    fn eq(&self, other: &[u8; N]) -> bool {
        self.as_bytes() == other
    }
}

impl<const N: usize> PartialEq<&[u8; N]> for Name {
    fn eq(&self, other: &&[u8; N]) -> bool {
        self.as_bytes() == *other
    }
}

impl PartialEq<str> for Name {
    fn eq(&self, other: &str) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl PartialEq<&str> for Name {
    fn eq(&self, other: &&str) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{}\"", self.as_bytes().escape_ascii())
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.as_bytes().escape_ascii())
    }
}

/// Whether two DLL names name the same DLL as the loader compares them: equal
/// ignoring ASCII case (`MSVCR90.dll` and `msvcr90.DLL`).
///
/// Bytes outside ASCII must match exactly; the names are compared as given
/// (neither adds nor strips a `.dll` extension or a directory).
pub fn dll_name_eq(a: &[u8], b: &[u8]) -> bool {
    a.eq_ignore_ascii_case(b)
}
