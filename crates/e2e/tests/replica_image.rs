//! The replica (`FalloutNV.exe`) as a file: the image FalloutNV.exe
//! 1.4.0.525's is (base 0x400000, no relocations, Large Address Aware, 16 MB
//! of code and data), every byte the facts and the profile know at its
//! address, and a small file.

#[path = "../../fnv-replica/build/facts.rs"]
#[allow(dead_code)]
mod facts;

use object::pe::{
    IMAGE_DLLCHARACTERISTICS_DYNAMIC_BASE, IMAGE_FILE_LARGE_ADDRESS_AWARE, IMAGE_FILE_RELOCS_STRIPPED,
    IMAGE_SCN_MEM_EXECUTE, IMAGE_SCN_MEM_WRITE,
};
use object::read::pe::{ImageNtHeaders, ImageOptionalHeader, PeFile32};
use object::LittleEndian as LE;

const BASE: u32 = 0x0040_0000;

/// A section of the image: where it lies, its protection, and its bytes in
/// the file (fewer than its size, or none, where the rest is zeroes).
struct Section {
    start: u32,
    size: u32,
    executable: bool,
    writable: bool,
    data: Vec<u8>,
}

fn image() -> (Vec<u8>, Vec<Section>) {
    let bytes = std::fs::read(e2e::replica_exe()).expect("read FalloutNV.exe");
    let pe = PeFile32::parse(&*bytes).expect("a PE32 image");
    let sections = pe
        .section_table()
        .iter()
        .map(|s| {
            let flags = s.characteristics.get(LE);
            Section {
                start: BASE + s.virtual_address.get(LE),
                size: s.virtual_size.get(LE),
                executable: flags & IMAGE_SCN_MEM_EXECUTE != 0,
                writable: flags & IMAGE_SCN_MEM_WRITE != 0,
                data: s.pe_data(&*bytes).expect("section data").to_vec(),
            }
        })
        .collect();
    (bytes, sections)
}

/// The byte the image has at `address` (0 past a section's file bytes).
fn byte_at(sections: &[Section], address: u32) -> Option<(u8, &Section)> {
    let section = sections.iter().find(|s| (s.start..s.start + s.size).contains(&address))?;
    Some((section.data.get((address - section.start) as usize).copied().unwrap_or(0), section))
}

#[test]
fn it_is_laid_out_as_the_games_image() {
    let (bytes, sections) = image();
    let pe = PeFile32::parse(&*bytes).expect("a PE32 image");
    let nt = pe.nt_headers();
    let characteristics = nt.file_header().characteristics.get(LE);
    assert_eq!(nt.optional_header().image_base(), u64::from(BASE));
    assert_ne!(characteristics & IMAGE_FILE_LARGE_ADDRESS_AWARE, 0, "not Large Address Aware");
    assert_ne!(characteristics & IMAGE_FILE_RELOCS_STRIPPED, 0, "relocatable");
    assert_eq!(nt.optional_header().dll_characteristics() & IMAGE_DLLCHARACTERISTICS_DYNAMIC_BASE, 0, "ASLR");
    // In order and adjacent, as the loader maps them, from the first page on.
    let alignment = nt.optional_header().section_alignment();
    let mut next = BASE + alignment;
    for section in &sections {
        assert_eq!(section.start, next, "a section at 0x{:08X}, expected at 0x{next:08X}", section.start);
        next = section.start + section.size.next_multiple_of(alignment);
    }
    // Code up to 0x00FDxxxx, data up to 0x012xxxxx.
    let code = |address| byte_at(&sections, address).is_some_and(|(_, s)| s.executable);
    let data = |address| byte_at(&sections, address).is_some_and(|(_, s)| s.writable && !s.executable);
    assert!(code(0x00FB_66A0) && code(0x00AA_3E40) && code(0x0086_E650), "code at the game's addresses");
    assert!(data(0x011F_6238) && data(0x0127_05BC), "data at the game's addresses");
    // 16 MB of image in a small file: the space between the replica's pages
    // has no bytes in the file.
    let image_size = next - BASE;
    assert!(image_size > 0x0100_0000, "an image of {image_size:#x} bytes");
    assert!(bytes.len() < 2 << 20, "a file of {} bytes", bytes.len());
}

#[test]
fn every_byte_the_facts_and_the_profile_know_is_at_its_address() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fnv-replica/facts/FalloutNV-1.4.0.525.toml");
    let facts = facts::Facts::parse(&std::fs::read_to_string(root).expect("read the facts")).expect("the facts read");
    let profile = game_profile::Profile::fallout_nv().expect("the built-in profile");
    let runs = facts.runs(&profile).expect("the facts agree with the profile");
    let (_, sections) = image();
    let mut checked = 0;
    for run in &runs {
        // Every byte, those the replica's functions complete included.
        for (address, &want) in (run.address..).zip(&run.bytes) {
            let (got, section) =
                byte_at(&sections, address).unwrap_or_else(|| panic!("0x{address:08X} is not in the image"));
            assert_eq!(got, want, "0x{address:08X} ({}): {got:02X} where the facts say {want:02X}", run.from);
            assert!(section.executable, "0x{address:08X} ({}) is not code", run.from);
            checked += 1;
        }
    }
    assert!(checked > 900, "only {checked} bytes known");
}
