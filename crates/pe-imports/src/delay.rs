//! The delay-load import directory.

use core::iter::FusedIterator;

use crate::descriptors::Descriptors;
use crate::imports::{Symbol, Thunks};
use crate::{dll_name_eq, Error, Image, Name};

/// Attribute bit: the descriptor holds RVAs (`dlattrRva`).
const ATTRIBUTE_RVA: u32 = 1;

/// One delay-loaded function or variable and its import address table slot.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DelayImport {
    /// What is imported.
    pub symbol: Symbol,
    /// The RVA of its slot in the delay-load import address table.
    pub iat_rva: u32,
    /// The slot's value when it was read. Zero-extended for PE32.
    pub slot_value: u64,
    /// Whether the slot was already bound when read.
    ///
    /// Until the first call, a delay-load slot holds the address of a stub in the
    /// image itself that calls the delay-load helper, which loads the DLL and
    /// writes the function's address into the slot. So: bound ⇔ the value is
    /// non-zero and is not an address inside the image
    /// (`load_address .. load_address + SizeOfImage`, see
    /// [`Image::contains_address`]). A slot that a patcher pointed at a function
    /// outside the image counts as bound too.
    ///
    /// The test needs the image's real load address: views of live modules know
    /// it; a view of bytes assumes the headers' `ImageBase`, which is right for a
    /// file mapped without relocation (see [`View::with_load_address`](crate::View::with_load_address)).
    pub bound: bool,
}

/// The DLLs an image delay-loads: its delay-load descriptors, in order.
///
/// Ends at the first descriptor whose DLL name RVA is 0. Errors follow the rules
/// of [`Imports`](crate::Imports): one about a descriptor is followed by the
/// next; one that leaves the table's end unknown is the last.
#[derive(Debug, Clone)]
pub struct DelayImports<'a> {
    image: Image<'a>,
    table: Descriptors<8>,
}

impl<'a> DelayImports<'a> {
    pub(crate) fn new(image: Image<'a>) -> DelayImports<'a> {
        DelayImports { image, table: Descriptors::new(image.delay_imports) }
    }
}

impl<'a> Iterator for DelayImports<'a> {
    type Item = Result<DelayImportedDll<'a>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        // A zero `DllNameRVA` ends the table.
        let (descriptor_rva, fields) = match self.table.next(&self.image, |f| f[1] == 0)? {
            Ok(descriptor) => descriptor,
            Err(error) => return Some(Err(error)),
        };
        let [attributes, name_rva, module_handle_rva, iat_rva, name_table_rva, bound_iat_rva, unload_iat_rva, time_date_stamp] =
            fields;
        if attributes & ATTRIBUTE_RVA == 0 {
            return Some(Err(Error::UnsupportedDelayDescriptor { descriptor_rva }));
        }
        Some(self.image.read_name(name_rva).map(|name| DelayImportedDll {
            image: self.image,
            descriptor_rva,
            name,
            attributes,
            module_handle_rva,
            iat_rva,
            name_table_rva,
            bound_iat_rva,
            unload_iat_rva,
            time_date_stamp,
        }))
    }
}

impl FusedIterator for DelayImports<'_> {}

/// One delay-load descriptor: a DLL and what the image delay-loads from it.
#[derive(Debug, Clone)]
pub struct DelayImportedDll<'a> {
    image: Image<'a>,
    descriptor_rva: u32,
    name: Name,
    attributes: u32,
    module_handle_rva: u32,
    iat_rva: u32,
    name_table_rva: u32,
    bound_iat_rva: u32,
    unload_iat_rva: u32,
    time_date_stamp: u32,
}

impl<'a> DelayImportedDll<'a> {
    /// The DLL's name as the image spells it.
    pub fn name(&self) -> &Name {
        &self.name
    }

    /// Whether this is the DLL named `dll`, ignoring ASCII case ([`dll_name_eq`]).
    pub fn is_named(&self, dll: &[u8]) -> bool {
        dll_name_eq(&self.name, dll)
    }

    /// The RVA of the descriptor.
    pub fn descriptor_rva(&self) -> u32 {
        self.descriptor_rva
    }

    /// The descriptor's attributes (bit 0: RVA-based, always set here).
    pub fn attributes(&self) -> u32 {
        self.attributes
    }

    /// The RVA of the word the helper stores the DLL's module handle in.
    pub fn module_handle_rva(&self) -> u32 {
        self.module_handle_rva
    }

    /// The RVA of the delay-load import address table.
    pub fn iat_rva(&self) -> u32 {
        self.iat_rva
    }

    /// The RVA of the delay-load import name table.
    pub fn name_table_rva(&self) -> u32 {
        self.name_table_rva
    }

    /// The RVA of the bound import address table, if any.
    pub fn bound_iat_rva(&self) -> Option<u32> {
        (self.bound_iat_rva != 0).then_some(self.bound_iat_rva)
    }

    /// The RVA of the unload information table, if any.
    pub fn unload_iat_rva(&self) -> Option<u32> {
        (self.unload_iat_rva != 0).then_some(self.unload_iat_rva)
    }

    /// The descriptor's `TimeDateStamp`.
    pub fn time_date_stamp(&self) -> u32 {
        self.time_date_stamp
    }

    /// The imports from this DLL, in table order. A descriptor without an
    /// import address table or name table yields [`Error::MissingTable`].
    pub fn entries(&self) -> DelayEntries<'a> {
        let thunks = if self.iat_rva == 0 || self.name_table_rva == 0 {
            Thunks::failed(self.image, Error::MissingTable { descriptor_rva: self.descriptor_rva })
        } else {
            Thunks::new(self.image, self.name_table_rva, self.iat_rva)
        };
        DelayEntries { image: self.image, thunks }
    }
}

/// The imports from one delay-loaded DLL; errors as for [`Entries`](crate::Entries).
#[derive(Debug, Clone)]
pub struct DelayEntries<'a> {
    image: Image<'a>,
    thunks: Thunks<'a>,
}

impl Iterator for DelayEntries<'_> {
    type Item = Result<DelayImport, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        let thunk = match self.thunks.next()? {
            Ok(thunk) => thunk,
            Err(error) => return Some(Err(error)),
        };
        let bound = thunk.slot_value != 0 && !self.image.contains_address(thunk.slot_value);
        Some(self.thunks.symbol(&thunk).map(|symbol| DelayImport {
            symbol,
            iat_rva: thunk.slot_rva,
            slot_value: thunk.slot_value,
            bound,
        }))
    }
}

impl FusedIterator for DelayEntries<'_> {}
