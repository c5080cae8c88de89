//! Walking a table of fixed-size descriptors: the import directory and the
//! delay-load directory are both arrays of `u32` fields ended by a
//! terminator entry.

use crate::image::add;
use crate::imports::read_fields;
use crate::{Directory, Error, Image};

/// A cursor over `N`-field descriptors, at most
/// [`Limits::max_descriptors`](crate::Limits::max_descriptors) of them.
#[derive(Debug, Clone)]
pub(crate) struct Descriptors<const N: usize> {
    directory: Option<Directory>,
    index: u32,
    done: bool,
}

impl<const N: usize> Descriptors<N> {
    /// Bytes in one descriptor.
    const SIZE: u32 = 4 * N as u32;

    pub(crate) fn new(directory: Option<Directory>) -> Self {
        Descriptors { directory, index: 0, done: directory.is_none() }
    }

    /// The next descriptor's RVA and fields. `None` once `is_end` says a
    /// descriptor terminates the table; after an error, which is returned
    /// once, the walk is over too (the table's extent is unknown).
    pub(crate) fn next(
        &mut self,
        image: &Image<'_>,
        is_end: impl Fn(&[u32; N]) -> bool,
    ) -> Option<Result<(u32, [u32; N]), Error>> {
        if self.done {
            return None;
        }
        match self.read(image, is_end) {
            Ok(Some(descriptor)) => Some(Ok(descriptor)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(error) => {
                self.done = true;
                Some(Err(error))
            }
        }
    }

    fn read(
        &mut self,
        image: &Image<'_>,
        is_end: impl Fn(&[u32; N]) -> bool,
    ) -> Result<Option<(u32, [u32; N])>, Error> {
        let Some(directory) = self.directory else { return Ok(None) };
        let limit = image.limits().max_descriptors;
        let too_many = Error::TooMany { rva: directory.rva, limit };
        if self.index >= limit {
            return Err(too_many);
        }
        let offset = self.index.checked_mul(Self::SIZE).ok_or(too_many)?;
        let at = add(directory.rva, offset)?;
        let fields = read_fields(image, at)?;
        if is_end(&fields) {
            return Ok(None);
        }
        self.index += 1;
        Ok(Some((at, fields)))
    }
}
