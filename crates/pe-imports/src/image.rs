//! Headers and the image.

use crate::delay::DelayImports;
use crate::imports::Imports;
use crate::{Error, View};

const DOS_MAGIC: u16 = 0x5a4d; // "MZ"
const PE_MAGIC: u32 = 0x0000_4550; // "PE\0\0"
const PE32_MAGIC: u16 = 0x10b;
const PE32_PLUS_MAGIC: u16 = 0x20b;
const E_LFANEW: u32 = 0x3c;
/// The optional header follows the signature (4 bytes) and the file header (20).
const OPTIONAL_HEADER: u32 = 24;
const MAX_DIRECTORIES: u32 = 16;
const DIRECTORY_IMPORT: u32 = 1;
const DIRECTORY_DELAY_IMPORT: u32 = 13;

/// Caps on the work one image can cause, so that a hostile image ends with
/// [`Error::TooMany`] or [`Error::Unterminated`] instead of a long loop.
///
/// A full walk reads at most `max_descriptors × max_thunks` entries and, for
/// each, a name of at most `max_name_len` bytes; the defaults are far above what
/// linkers produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Descriptors per directory (imported DLLs). Default 4096.
    pub max_descriptors: u32,
    /// Entries per imported DLL. Default 65536 (ordinals are 16-bit).
    pub max_thunks: u32,
    /// Bytes in one name, without its NUL. Default 4096 (decorated C++ names
    /// are the longest in practice).
    pub max_name_len: u32,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { max_descriptors: 4096, max_thunks: 65536, max_name_len: 4096 }
    }
}

/// The header fields this crate uses.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Headers {
    pub(crate) pe32_plus: bool,
    pub(crate) image_base: u64,
    pub(crate) size_of_image: u32,
    /// The file header's `Characteristics`.
    pub(crate) characteristics: u16,
    /// The end of the header bytes read (exclusive), as an RVA.
    pub(crate) end: u32,
    pub(crate) imports: Option<Directory>,
    pub(crate) delay_imports: Option<Directory>,
}

/// A data directory: where a table is and its declared size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Directory {
    /// The table's RVA.
    pub rva: u32,
    /// Its size as declared in the headers (the tables this crate reads end at a
    /// terminating entry; the size is not relied on).
    pub size: u32,
}

impl Headers {
    /// Parses the headers, every read checked against `view`.
    pub(crate) fn parse(view: &View<'_>) -> Result<Headers, Error> {
        if view.read_u16(0)? != DOS_MAGIC {
            return Err(Error::BadDosMagic);
        }
        let nt = view.read_u32(E_LFANEW)?;
        if view.read_u32(nt)? != PE_MAGIC {
            return Err(Error::BadPeMagic);
        }
        let opt = add(nt, OPTIONAL_HEADER)?;
        let magic = view.read_u16(opt)?;
        let characteristics = view.read_u16(add(nt, 22)?)?;
        let (pe32_plus, image_base, count_at) = match magic {
            PE32_MAGIC => (false, u64::from(view.read_u32(add(opt, 28)?)?), 92),
            PE32_PLUS_MAGIC => (true, view.read_u64(add(opt, 24)?)?, 108),
            magic => return Err(Error::BadOptionalMagic { magic }),
        };
        let size_of_image = view.read_u32(add(opt, 56)?)?;
        let count = view.read_u32(add(opt, count_at)?)?.min(MAX_DIRECTORIES);
        let directories = add(opt, count_at + 4)?;
        let mut end = directories;
        let mut directory = |index: u32| -> Result<Option<Directory>, Error> {
            if index >= count {
                return Ok(None);
            }
            let at = add(directories, index * 8)?;
            let rva = view.read_u32(at)?;
            let size = view.read_u32(add(at, 4)?)?;
            end = end.max(add(at, 8)?);
            Ok(if rva == 0 { None } else { Some(Directory { rva, size }) })
        };
        let imports = directory(DIRECTORY_IMPORT)?;
        let delay_imports = directory(DIRECTORY_DELAY_IMPORT)?;
        Ok(Headers { pe32_plus, image_base, size_of_image, characteristics, end, imports, delay_imports })
    }
}

/// `rva + offset`, or the error of a read there.
pub(crate) fn add(rva: u32, offset: u32) -> Result<u32, Error> {
    rva.checked_add(offset).ok_or(Error::OutOfBounds { rva, len: offset })
}

/// The format of an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// PE32: 32-bit pointers and import thunks.
    Pe32,
    /// PE32+: 64-bit pointers and import thunks.
    Pe32Plus,
}

impl Format {
    /// Bytes in a pointer, an import thunk and an import address table slot.
    pub fn pointer_size(self) -> u32 {
        match self {
            Format::Pe32 => 4,
            Format::Pe32Plus => 8,
        }
    }

    /// The flag that marks an import by ordinal in a name-table entry.
    pub(crate) fn ordinal_flag(self) -> u64 {
        match self {
            Format::Pe32 => 1 << 31,
            Format::Pe32Plus => 1 << 63,
        }
    }
}

/// A PE image in memory layout (RVA = offset from the view's start), with its
/// headers checked.
///
/// Cheap to copy; every table is read lazily, through the view, when iterated.
#[derive(Debug, Clone, Copy)]
pub struct Image<'a> {
    pub(crate) view: View<'a>,
    pub(crate) format: Format,
    pub(crate) image_base: u64,
    pub(crate) load_address: u64,
    pub(crate) characteristics: u16,
    pub(crate) imports: Option<Directory>,
    pub(crate) delay_imports: Option<Directory>,
    pub(crate) limits: Limits,
}

impl<'a> Image<'a> {
    /// Checks the headers of the image in `view`, with the default [`Limits`].
    pub fn new(view: View<'a>) -> Result<Image<'a>, Error> {
        Image::with_limits(view, Limits::default())
    }

    /// Checks the headers of the image in `view`.
    ///
    /// The view must hold at least `SizeOfImage` bytes ([`Error::Truncated`]);
    /// every later read is checked against `SizeOfImage`.
    pub fn with_limits(view: View<'a>, limits: Limits) -> Result<Image<'a>, Error> {
        let headers = Headers::parse(&view)?;
        let size = headers.size_of_image;
        if size as usize > view.len() {
            return Err(Error::Truncated { size_of_image: size, available: view.len() });
        }
        if headers.end > size {
            return Err(Error::OutOfBounds { rva: 0, len: headers.end });
        }
        Ok(Image {
            view: view.truncate(size as usize),
            format: if headers.pe32_plus { Format::Pe32Plus } else { Format::Pe32 },
            image_base: headers.image_base,
            load_address: view.load_address().unwrap_or(headers.image_base),
            characteristics: headers.characteristics,
            imports: headers.imports,
            delay_imports: headers.delay_imports,
            limits,
        })
    }

    /// PE32 or PE32+.
    pub fn format(&self) -> Format {
        self.format
    }

    /// `SizeOfImage`: the bound of every read.
    pub fn size_of_image(&self) -> u32 {
        // The view was truncated to `SizeOfImage`, a `u32`.
        self.view.len() as u32
    }

    /// `ImageBase` as the headers state it.
    pub fn image_base(&self) -> u64 {
        self.image_base
    }

    /// The address the image's absolute pointers are relative to: the view's
    /// load address if known (views of live modules), else [`image_base`](Self::image_base).
    pub fn load_address(&self) -> u64 {
        self.load_address
    }

    /// Whether the file header marks the image Large Address Aware
    /// (`IMAGE_FILE_LARGE_ADDRESS_AWARE`): a 32-bit process it starts may use
    /// addresses above 2 GiB.
    pub fn large_address_aware(&self) -> bool {
        const IMAGE_FILE_LARGE_ADDRESS_AWARE: u16 = 0x0020;
        self.characteristics & IMAGE_FILE_LARGE_ADDRESS_AWARE != 0
    }

    /// The limits in force.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// The view, bounded to `SizeOfImage`.
    pub fn view(&self) -> View<'a> {
        self.view
    }

    /// The import directory, if the image has one.
    pub fn import_directory(&self) -> Option<Directory> {
        self.imports
    }

    /// The delay-load import directory, if the image has one.
    pub fn delay_import_directory(&self) -> Option<Directory> {
        self.delay_imports
    }

    /// The DLLs the image imports from, in descriptor order.
    pub fn imports(&self) -> Imports<'a> {
        Imports::new(*self)
    }

    /// The DLLs the image delay-loads, in descriptor order.
    pub fn delay_imports(&self) -> DelayImports<'a> {
        DelayImports::new(*self)
    }

    /// Whether `value`, read from a slot, is an address inside the image.
    pub fn contains_address(&self, value: u64) -> bool {
        value.checked_sub(self.load_address).is_some_and(|offset| offset < u64::from(self.size_of_image()))
    }

    /// Reads the NUL-terminated string at `rva` (within [`Limits::max_name_len`]).
    pub fn read_name(&self, rva: u32) -> Result<crate::Name, Error> {
        crate::Name::read(&self.view, rva, self.limits.max_name_len)
    }
}
