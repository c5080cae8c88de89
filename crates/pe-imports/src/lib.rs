//! A bounds-checked reader of the import tables of PE images mapped in memory.
//!
//! Reads the import directory and the delay-load import directory of a PE32 or
//! PE32+ image in memory layout (an RVA is an offset from the image's base): for
//! each imported DLL its name, and for each import its symbol (name and hint, or
//! ordinal), the RVA of its import address table slot and the slot's current
//! value. Delay-load imports also say whether their slot is already bound.
//!
//! ```
//! # fn walk(bytes: &[u8]) -> Result<(), pe_imports::Error> {
//! use pe_imports::{Image, Symbol, View};
//!
//! let image = Image::new(View::from_bytes(bytes))?;
//! for dll in image.imports() {
//!     let dll = dll?;
//!     if !dll.is_named(b"msvcrt.dll") {
//!         continue;
//!     }
//!     for import in dll.entries() {
//!         let import = import?;
//!         if let Symbol::Name { name, .. } = &import.symbol {
//!             if name == b"malloc" {
//!                 // The slot at `import.iat_rva` holds `import.slot_value`.
//!             }
//!         }
//!     }
//! }
//! # Ok(())
//! # }
//! ```
//!
//! # Robustness
//!
//! Every read is checked against the image's `SizeOfImage`, and every table is
//! walked under [`Limits`]; any malformation is an [`Error`] value. Nothing
//! reachable from input panics. Iterators report an error about one entry and go
//! on with the next; an error that leaves a table's extent unknown ends it.
//! Iteration allocates nothing except for names longer than 62 bytes (one
//! allocation each).
//!
//! # Memory access
//!
//! The import address table of a live module is written by the Windows loader
//! and by patchers while others read it, so this crate never forms a Rust
//! reference (`&[u8]`, `&u32`) to image memory: a reference asserts that the
//! memory does not change while it lives, which such writes would break. A
//! [`View`] reads through raw pointers with volatile loads, and copies out all it
//! returns, names included. It is made safely from a byte slice (tests, files,
//! copies) or, under a stated contract, from a module's base
//! ([`View::from_module`], [`View::from_raw`]).
//!
//! # Why not `pelite`
//!
//! `pelite` is a well-kept, thorough PE reader, and its `PeView::module` reads
//! mapped images. It is built on `&'a [u8]` over the whole image and returns
//! references into it (`&'a [IMAGE_THUNK_DATA]` for import address tables,
//! `&'a CStr` for names). Over a live module whose import address table another
//! thread writes, such references are undefined behaviour, whatever the
//! hardware does; it would also bring in far more than two directories need. A
//! reader of the two import directories is small enough to write with every
//! read through a raw pointer, and to check against malformed input exhaustively.

#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

mod delay;
mod descriptors;
mod error;
mod image;
mod imports;
mod name;
mod view;

pub use delay::{DelayEntries, DelayImport, DelayImportedDll, DelayImports};
pub use error::Error;
pub use image::{Directory, Format, Image, Limits};
pub use imports::{Entries, Import, ImportedDll, Imports, Symbol};
pub use name::{dll_name_eq, Name};
pub use view::{size_of_image, View, HEADER_PROBE_LEN};
