//! The import directory.

use core::iter::FusedIterator;

use crate::descriptors::Descriptors;
use crate::image::add;
use crate::{dll_name_eq, Error, Format, Image, Name};

/// What an import names in the exporting DLL.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Symbol {
    /// By name, with the hint: the index into the exporter's name table the
    /// linker expected the name at.
    Name {
        /// The hint.
        hint: u16,
        /// The name.
        name: Name,
    },
    /// By ordinal.
    Ordinal(u16),
}

impl Symbol {
    /// The name, if imported by name.
    pub fn name(&self) -> Option<&Name> {
        match self {
            Symbol::Name { name, .. } => Some(name),
            Symbol::Ordinal(_) => None,
        }
    }

    /// The ordinal, if imported by ordinal.
    pub fn ordinal(&self) -> Option<u16> {
        match self {
            Symbol::Ordinal(ordinal) => Some(*ordinal),
            Symbol::Name { .. } => None,
        }
    }
}

/// One imported function or variable and its import address table slot.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Import {
    /// What is imported.
    pub symbol: Symbol,
    /// The RVA of its slot in the import address table: the word the loader
    /// writes the import's address into, and that calls go through.
    pub iat_rva: u32,
    /// The slot's value when it was read: the bound address in a loaded module,
    /// a copy of the name-table entry in an image not yet bound. Zero-extended
    /// for PE32.
    pub slot_value: u64,
}

/// The DLLs an image imports from: its import descriptors, in order.
///
/// Ends at the first descriptor whose name or import address table RVA is 0,
/// as the Windows loader does (the declared directory size is not used). An
/// error about one descriptor (its DLL name unreadable) is followed by the next
/// descriptors; an error that leaves the table's end unknown (a descriptor out
/// of bounds, [`Error::TooMany`]) is the last item.
#[derive(Debug, Clone)]
pub struct Imports<'a> {
    image: Image<'a>,
    table: Descriptors<5>,
}

impl<'a> Imports<'a> {
    pub(crate) fn new(image: Image<'a>) -> Imports<'a> {
        Imports { image, table: Descriptors::new(image.imports) }
    }
}

/// Reads `N` consecutive `u32` fields at `at`, all in bounds or none.
pub(crate) fn read_fields<const N: usize>(image: &Image<'_>, at: u32) -> Result<[u32; N], Error> {
    let mut fields = [0u32; N];
    let mut offset = at;
    for field in fields.iter_mut() {
        *field = image.view.read_u32(offset)?;
        offset = add(offset, 4)?;
    }
    Ok(fields)
}

impl<'a> Iterator for Imports<'a> {
    type Item = Result<ImportedDll<'a>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        // `Name` and `FirstThunk` both non-zero, as the loader requires.
        let (descriptor_rva, fields) = match self.table.next(&self.image, |f| f[3] == 0 || f[4] == 0)? {
            Ok(descriptor) => descriptor,
            Err(error) => return Some(Err(error)),
        };
        let [lookup_rva, time_date_stamp, forwarder_chain, name_rva, iat_rva] = fields;
        Some(self.image.read_name(name_rva).map(|name| ImportedDll {
            image: self.image,
            descriptor_rva,
            name,
            lookup_rva,
            time_date_stamp,
            forwarder_chain,
            iat_rva,
        }))
    }
}

impl FusedIterator for Imports<'_> {}

/// One import descriptor: a DLL and what the image imports from it.
#[derive(Debug, Clone)]
pub struct ImportedDll<'a> {
    image: Image<'a>,
    descriptor_rva: u32,
    name: Name,
    lookup_rva: u32,
    time_date_stamp: u32,
    forwarder_chain: u32,
    iat_rva: u32,
}

impl<'a> ImportedDll<'a> {
    /// The DLL's name as the image spells it, e.g. `MSVCR90.dll`.
    pub fn name(&self) -> &Name {
        &self.name
    }

    /// Whether this is the DLL named `dll`, ignoring ASCII case ([`dll_name_eq`]).
    pub fn is_named(&self, dll: &[u8]) -> bool {
        dll_name_eq(self.name(), dll)
    }

    /// The RVA of the descriptor.
    pub fn descriptor_rva(&self) -> u32 {
        self.descriptor_rva
    }

    /// The RVA of the import address table.
    pub fn iat_rva(&self) -> u32 {
        self.iat_rva
    }

    /// The RVA of the import name table (`OriginalFirstThunk`), if there is one.
    ///
    /// Without one, [`entries`](Self::entries) reads the symbols from the import
    /// address table itself, which only holds them until the loader binds it: in
    /// a loaded module such entries are addresses, and their symbols meaningless.
    pub fn lookup_rva(&self) -> Option<u32> {
        (self.lookup_rva != 0).then_some(self.lookup_rva)
    }

    /// The descriptor's `TimeDateStamp` (non-zero when bound at link time).
    pub fn time_date_stamp(&self) -> u32 {
        self.time_date_stamp
    }

    /// The descriptor's `ForwarderChain`.
    pub fn forwarder_chain(&self) -> u32 {
        self.forwarder_chain
    }

    /// The imports from this DLL, in table order.
    pub fn entries(&self) -> Entries<'a> {
        let lookup = self.lookup_rva().unwrap_or(self.iat_rva);
        Entries { thunks: Thunks::new(self.image, lookup, self.iat_rva) }
    }
}

/// The imports from one DLL.
///
/// Ends at the name table's zero entry. An error about one entry (its name
/// unreadable) is followed by the next entries; an error about the tables
/// themselves (out of bounds, misaligned, [`Error::TooMany`]) is the last item.
#[derive(Debug, Clone)]
pub struct Entries<'a> {
    thunks: Thunks<'a>,
}

impl Iterator for Entries<'_> {
    type Item = Result<Import, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        let thunk = match self.thunks.next()? {
            Ok(thunk) => thunk,
            Err(error) => return Some(Err(error)),
        };
        Some(self.thunks.symbol(&thunk).map(|symbol| Import {
            symbol,
            iat_rva: thunk.slot_rva,
            slot_value: thunk.slot_value,
        }))
    }
}

impl FusedIterator for Entries<'_> {}

/// One entry of a name table and its import address table slot.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Thunk {
    pub(crate) entry_rva: u32,
    pub(crate) entry: u64,
    pub(crate) slot_rva: u32,
    pub(crate) slot_value: u64,
}

/// Walks a name table and its import address table in step.
#[derive(Debug, Clone)]
pub(crate) struct Thunks<'a> {
    image: Image<'a>,
    lookup_rva: u32,
    iat_rva: u32,
    index: u32,
    pending: Option<Error>,
    done: bool,
}

impl<'a> Thunks<'a> {
    pub(crate) fn new(image: Image<'a>, lookup_rva: u32, iat_rva: u32) -> Thunks<'a> {
        Thunks { image, lookup_rva, iat_rva, index: 0, pending: None, done: false }
    }

    /// A walk that yields `error` and ends.
    pub(crate) fn failed(image: Image<'a>, error: Error) -> Thunks<'a> {
        Thunks { pending: Some(error), ..Thunks::new(image, 0, 0) }
    }

    fn read(&self, rva: u32) -> Result<u64, Error> {
        match self.image.format {
            Format::Pe32 => self.image.view.read_u32(rva).map(u64::from),
            Format::Pe32Plus => self.image.view.read_u64(rva),
        }
    }

    fn step(&mut self) -> Result<Option<Thunk>, Error> {
        if let Some(error) = self.pending.take() {
            return Err(error);
        }
        let size = self.image.format.pointer_size();
        if self.index == 0 && self.iat_rva % size != 0 {
            return Err(Error::Misaligned { rva: self.iat_rva, align: size });
        }
        let limit = self.image.limits.max_thunks;
        if self.index >= limit {
            return Err(Error::TooMany { rva: self.lookup_rva, limit });
        }
        let offset = self.index.checked_mul(size).ok_or(Error::TooMany { rva: self.lookup_rva, limit })?;
        let entry_rva = add(self.lookup_rva, offset)?;
        let entry = self.read(entry_rva)?;
        if entry == 0 {
            return Ok(None);
        }
        let slot_rva = add(self.iat_rva, offset)?;
        let slot_value = self.read(slot_rva)?;
        self.index += 1;
        Ok(Some(Thunk { entry_rva, entry, slot_rva, slot_value }))
    }

    /// The symbol a name-table entry names.
    pub(crate) fn symbol(&self, thunk: &Thunk) -> Result<Symbol, Error> {
        let format = self.image.format;
        if thunk.entry & format.ordinal_flag() != 0 {
            // The loader uses the low 16 bits and ignores the rest.
            return Ok(Symbol::Ordinal(thunk.entry as u16));
        }
        let rva =
            u32::try_from(thunk.entry).map_err(|_| Error::BadThunk { rva: thunk.entry_rva, value: thunk.entry })?;
        let hint = self.image.view.read_u16(rva)?;
        let name = self.image.read_name(add(rva, 2)?)?;
        Ok(Symbol::Name { hint, name })
    }
}

impl Iterator for Thunks<'_> {
    type Item = Result<Thunk, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.step() {
            Ok(Some(thunk)) => Some(Ok(thunk)),
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
}
