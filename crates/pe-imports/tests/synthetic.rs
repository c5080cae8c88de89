//! Hand-built PE32 and PE32+ images: well-formed and malformed.

mod common;

use common::{dll, Entry, Pe};
use pe_imports::{
    dll_name_eq, size_of_image, DelayImport, Error, Format, Image, Import, Limits, Symbol, View, HEADER_PROBE_LEN,
};

fn name(hint: u16, s: &'static str) -> Symbol {
    match Image::new(View::from_bytes(&named_image(s))).unwrap().imports().next().unwrap().unwrap().entries().next() {
        Some(Ok(Import { symbol: Symbol::Name { name, .. }, .. })) => Symbol::Name { hint, name },
        other => panic!("{other:?}"),
    }
}

/// A PE32 image importing `s` from `x.dll`, to obtain a `Name` holding `s`.
fn named_image(s: &'static str) -> Vec<u8> {
    let mut pe = Pe::new(false, 0x2000);
    pe.imports(&[dll("x.dll", &[Entry::Name(0, s)])]);
    pe.bytes
}

/// Each DLL's name and entries, or the error in its place.
type Walk<T> = Vec<Result<(Vec<u8>, Vec<Result<T, Error>>), Error>>;

fn all_imports(image: &Image<'_>) -> Walk<Import> {
    image.imports().map(|d| d.map(|d| (d.name().to_vec(), d.entries().collect()))).collect()
}

fn all_delay(image: &Image<'_>) -> Walk<DelayImport> {
    image.delay_imports().map(|d| d.map(|d| (d.name().to_vec(), d.entries().collect()))).collect()
}

fn sample(plus: bool) -> (Pe, Vec<common::DllLayout>) {
    let mut pe = Pe::new(plus, 0x4000);
    let layout = pe.imports(&[
        dll("MSVCR90.dll", &[Entry::Name(0x5e0, "malloc"), Entry::Name(0x5a2, "free"), Entry::Ordinal(17)]),
        dll("KERNEL32.dll", &[Entry::Ordinal(0xffff), Entry::Name(7, "HeapAlloc")]),
    ]);
    (pe, layout)
}

fn check_sample(plus: bool) {
    let (pe, layout) = sample(plus);
    let image = Image::new(View::from_bytes(&pe.bytes)).unwrap();
    assert_eq!(image.format(), if plus { Format::Pe32Plus } else { Format::Pe32 });
    assert_eq!(image.size_of_image(), 0x4000);
    assert_eq!(image.image_base(), pe.image_base());
    assert_eq!(image.load_address(), pe.image_base());
    let w = u32::from(plus) * 4 + 4;
    let dlls: Vec<_> = image.imports().map(Result::unwrap).collect();
    assert_eq!(dlls.len(), 2);
    assert_eq!(dlls[0].name(), b"MSVCR90.dll");
    assert!(dlls[0].is_named(b"msvcr90.DLL"));
    assert!(!dlls[0].is_named(b"msvcr90"));
    assert_eq!(dlls[1].name(), "KERNEL32.dll");
    for (d, l) in dlls.iter().zip(&layout) {
        assert_eq!(d.descriptor_rva(), l.descriptor);
        assert_eq!(d.iat_rva(), l.iat);
        assert_eq!(d.lookup_rva(), Some(l.lookup));
    }
    let msvcr: Vec<Import> = dlls[0].entries().map(Result::unwrap).collect();
    let ordinal_flag = if plus { 1 << 63 } else { 1 << 31 };
    assert_eq!(
        msvcr,
        vec![
            Import {
                symbol: name(0x5e0, "malloc"),
                iat_rva: layout[0].iat,
                slot_value: layout[0].hint_names[0].into()
            },
            Import {
                symbol: name(0x5a2, "free"),
                iat_rva: layout[0].iat + w,
                slot_value: layout[0].hint_names[1].into()
            },
            Import { symbol: Symbol::Ordinal(17), iat_rva: layout[0].iat + 2 * w, slot_value: ordinal_flag | 17 },
        ]
    );
    let kernel: Vec<Import> = dlls[1].entries().map(Result::unwrap).collect();
    assert_eq!(kernel[0].symbol, Symbol::Ordinal(0xffff));
    assert_eq!(kernel[1].symbol.name().unwrap(), b"HeapAlloc");
    assert_eq!(kernel[1].iat_rva, layout[1].iat + w);
    assert!(image.delay_imports().next().is_none());
}

#[test]
fn pe32_imports_by_name_and_ordinal() {
    check_sample(false);
}

#[test]
fn pe32_plus_imports_by_name_and_ordinal() {
    check_sample(true);
}

#[test]
fn slot_values_are_read_from_the_live_iat() {
    for plus in [false, true] {
        let (mut pe, layout) = sample(plus);
        let bound: u64 = if plus { 0x7ffd_1234_5678 } else { 0x7712_3450 };
        pe.put_ptr(layout[0].iat + pe.width(), bound);
        let image = Image::new(View::from_bytes(&pe.bytes)).unwrap();
        let free = image.imports().next().unwrap().unwrap().entries().nth(1).unwrap().unwrap();
        assert_eq!(free.symbol.name().unwrap(), b"free");
        assert_eq!(free.slot_value, bound);
    }
}

#[test]
fn raw_view_sees_writes_between_reads() {
    let (pe, layout) = sample(false);
    let mut bytes = pe.bytes;
    let base = bytes.as_mut_ptr();
    let slot = layout[0].iat as usize;
    // SAFETY: `bytes` outlives the view and is neither moved nor resized; the
    // only writes go through `base`, between reads.
    let view = unsafe { View::from_raw(base, bytes.len()) };
    assert_eq!(view.load_address(), Some(base as usize as u64));
    let image = Image::new(view).unwrap();
    let first = |image: &Image<'_>| image.imports().next().unwrap().unwrap().entries().next().unwrap().unwrap();
    assert_eq!(first(&image).slot_value, u64::from(layout[0].hint_names[0]));
    // SAFETY: `slot..slot + 4` lies inside `bytes`.
    unsafe { base.add(slot).cast::<u32>().write_unaligned(0x7712_0000u32.to_le()) };
    assert_eq!(first(&image).slot_value, 0x7712_0000);
}

#[test]
fn size_of_image_and_from_module_read_the_headers() {
    let (pe, _) = sample(true);
    assert!(pe.bytes.len() >= HEADER_PROBE_LEN);
    // SAFETY: `pe.bytes` has more than HEADER_PROBE_LEN readable bytes.
    assert_eq!(unsafe { size_of_image(pe.bytes.as_ptr()) }, Ok(0x4000));
    // SAFETY: as above; SizeOfImage equals the buffer's length.
    let view = unsafe { View::from_module(pe.bytes.as_ptr()) }.unwrap();
    assert_eq!(view.len(), 0x4000);
    assert_eq!(all_imports(&Image::new(view).unwrap()).len(), 2);

    let mut probe = vec![0u8; HEADER_PROBE_LEN];
    probe[..0x200].copy_from_slice(&pe.bytes[..0x200]);
    // NT headers whose signature is the probe's last bytes: the optional header
    // lies past the probe and is not read.
    let nt = HEADER_PROBE_LEN as u32 - 4;
    probe[0x3c..0x40].copy_from_slice(&nt.to_le_bytes());
    probe[nt as usize..].copy_from_slice(b"PE\0\0");
    // SAFETY: `probe` has HEADER_PROBE_LEN readable bytes.
    let r = unsafe { size_of_image(probe.as_ptr()) };
    assert_eq!(r, Err(Error::OutOfBounds { rva: nt + 24, len: 2 }));
}

#[test]
fn delay_imports_report_binding() {
    for plus in [false, true] {
        let mut pe = Pe::new(plus, 0x4000);
        let layout = pe.delay_imports(&[
            dll("dep.dll", &[Entry::Name(1, "dep_fn"), Entry::Ordinal(3)]),
            dll("other.dll", &[Entry::Name(0, "x")]),
        ]);
        let image = Image::new(View::from_bytes(&pe.bytes)).unwrap();
        let dlls: Vec<_> = image.delay_imports().map(Result::unwrap).collect();
        assert_eq!(dlls.len(), 2);
        assert_eq!(dlls[0].name(), b"dep.dll");
        assert_eq!(dlls[0].iat_rva(), layout[0].iat);
        assert_eq!(dlls[0].name_table_rva(), layout[0].lookup);
        assert_eq!(dlls[0].attributes(), 1);
        let entries: Vec<_> = dlls[0].entries().map(Result::unwrap).collect();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].symbol.name().unwrap(), b"dep_fn");
        assert_eq!(entries[1].symbol, Symbol::Ordinal(3));
        for e in &entries {
            assert!(image.contains_address(e.slot_value));
            assert!(!e.bound, "{e:?}");
        }

        // Bound: the slot points outside the image. Zero is not bound.
        let w = pe.width();
        pe.put_ptr(layout[0].iat, 0x7000_0000);
        pe.put_ptr(layout[0].iat + w, 0);
        let end = pe.image_base() + 0x4000;
        pe.put_ptr(layout[1].iat, end);
        let image = Image::new(View::from_bytes(&pe.bytes)).unwrap();
        let got: Vec<_> = all_delay(&image)
            .into_iter()
            .flat_map(|d| d.unwrap().1)
            .map(|e| {
                let e = e.unwrap();
                (e.slot_value, e.bound)
            })
            .collect();
        assert_eq!(got, vec![(0x7000_0000, true), (0, false), (end, true)]);

        // The same bytes at another load address: every slot now lies outside.
        let bytes = sample_delay(plus);
        let moved = Image::new(View::from_bytes(&bytes).with_load_address(0x5000_0000)).unwrap();
        assert!(moved.delay_imports().flat_map(|d| d.unwrap().entries()).all(|e| e.unwrap().bound));
    }
}

fn sample_delay(plus: bool) -> Vec<u8> {
    let mut pe = Pe::new(plus, 0x4000);
    pe.delay_imports(&[dll("dep.dll", &[Entry::Name(1, "dep_fn"), Entry::Ordinal(3)])]);
    pe.bytes
}

#[test]
fn delay_descriptor_errors() {
    let mut pe = Pe::new(false, 0x4000);
    let layout = pe.delay_imports(&[
        dll("va.dll", &[Entry::Name(1, "f")]),
        dll("noint.dll", &[Entry::Name(1, "g")]),
        dll("ok.dll", &[Entry::Name(1, "h")]),
    ]);
    pe.put_u32(layout[0].descriptor, 0);
    pe.put_u32(layout[1].descriptor + 16, 0);
    let image = Image::new(View::from_bytes(&pe.bytes)).unwrap();
    let got = all_delay(&image);
    assert_eq!(got.len(), 3);
    assert_eq!(got[0], Err(Error::UnsupportedDelayDescriptor { descriptor_rva: layout[0].descriptor }));
    let noint = got[1].as_ref().unwrap();
    assert_eq!(noint.0, b"noint.dll");
    assert_eq!(noint.1, vec![Err(Error::MissingTable { descriptor_rva: layout[1].descriptor })]);
    assert_eq!(got[2].as_ref().unwrap().1.len(), 1);
}

#[test]
fn without_lookup_table_symbols_come_from_the_iat() {
    let mut pe = Pe::new(false, 0x4000);
    let layout = pe.imports(&[dll("old.dll", &[Entry::Name(4, "f"), Entry::Ordinal(2)])]);
    pe.put_u32(layout[0].descriptor, 0);
    let image = Image::new(View::from_bytes(&pe.bytes)).unwrap();
    let d = image.imports().next().unwrap().unwrap();
    assert_eq!(d.lookup_rva(), None);
    let e: Vec<_> = d.entries().map(|e| e.unwrap().symbol).collect();
    assert_eq!(e, vec![name(4, "f"), Symbol::Ordinal(2)]);
}

#[test]
fn long_names_are_copied_whole() {
    let long: &'static str = Box::leak("?".repeat(300).into_boxed_str());
    let mut pe = Pe::new(false, 0x4000);
    pe.imports(&[dll("x.dll", &[Entry::Name(0, long), Entry::Name(0, "short")])]);
    let image = Image::new(View::from_bytes(&pe.bytes)).unwrap();
    let e: Vec<_> = image.imports().next().unwrap().unwrap().entries().map(Result::unwrap).collect();
    assert_eq!(e[0].symbol.name().unwrap(), long.as_bytes());
    assert_eq!(e[1].symbol.name().unwrap(), b"short");
    let exact: &'static str = Box::leak("a".repeat(62).into_boxed_str());
    assert_eq!(name(0, exact).name().unwrap(), exact);
    let over: &'static str = Box::leak("b".repeat(63).into_boxed_str());
    assert_eq!(name(0, over).name().unwrap(), over);
}

#[test]
fn dll_names_compare_ignoring_ascii_case() {
    assert!(dll_name_eq(b"MSVCRT.DLL", b"msvcrt.dll"));
    assert!(dll_name_eq(b"api-ms-win-crt-heap-l1-1-0.dll", b"API-MS-WIN-CRT-HEAP-L1-1-0.DLL"));
    assert!(!dll_name_eq(b"msvcrt.dll", b"msvcrt"));
    assert!(!dll_name_eq(b"msvcr90.dll", b"msvcr80.dll"));
    assert!(!dll_name_eq(b"\xc4.dll", b"\xe4.dll"));
}

// ---- malformed headers ----

fn headers_error(bytes: &[u8]) -> Error {
    Image::new(View::from_bytes(bytes)).unwrap_err()
}

#[test]
fn bad_magics() {
    assert_eq!(headers_error(&[]), Error::OutOfBounds { rva: 0, len: 2 });
    let (pe, _) = sample(false);
    let mut b = pe.bytes.clone();
    b[0] = b'Z';
    assert_eq!(headers_error(&b), Error::BadDosMagic);
    let mut b = pe.bytes.clone();
    b[0x42] = b'X';
    assert_eq!(headers_error(&b), Error::BadPeMagic);
    let mut b = pe.bytes.clone();
    b[common::OPT as usize] = 0x07;
    assert_eq!(headers_error(&b), Error::BadOptionalMagic { magic: 0x107 });
    let mut b = pe.bytes.clone();
    b[0x3c..0x40].copy_from_slice(&0xffff_fffeu32.to_le_bytes());
    assert_eq!(headers_error(&b), Error::OutOfBounds { rva: 0xffff_fffe, len: 4 });
}

#[test]
fn every_truncation_of_the_headers_is_an_error() {
    for plus in [false, true] {
        let (pe, _) = sample(plus);
        let directories_end = pe.directory_offset(16) as usize;
        for len in 0..directories_end {
            let e = headers_error(&pe.bytes[..len]);
            assert!(matches!(e, Error::OutOfBounds { .. } | Error::Truncated { .. }), "{len}: {e:?}");
        }
        // The headers are complete but SizeOfImage is not.
        assert_eq!(headers_error(&pe.bytes[..0x3fff]), Error::Truncated { size_of_image: 0x4000, available: 0x3fff });
    }
}

#[test]
fn size_of_image_bounds_every_read() {
    // A view longer than SizeOfImage: the extra bytes are not part of the image.
    let (mut pe, layout) = sample(false);
    pe.put_u32(common::OPT + 56, 0x1000);
    let mut longer = pe.bytes.clone();
    longer.resize(0x8000, 0);
    let name_at = 0xff8u32;
    pe.put_u32(layout[0].descriptor + 12, name_at);
    let mut bytes = pe.bytes.clone();
    bytes[name_at as usize..0x1000].copy_from_slice(b"abcdefgh");
    bytes[0x1000] = 0;
    let image = Image::new(View::from_bytes(&bytes)).unwrap();
    assert_eq!(image.size_of_image(), 0x1000);
    assert_eq!(image.imports().next().unwrap().unwrap_err(), Error::Unterminated { rva: name_at });

    // SizeOfImage smaller than the headers read.
    let mut b = sample(false).0.bytes;
    b[common::OPT as usize + 56..][..4].copy_from_slice(&0x100u32.to_le_bytes());
    assert!(matches!(headers_error(&b), Error::OutOfBounds { rva: 0, .. }));
}

#[test]
fn huge_directory_count_is_clamped() {
    for plus in [false, true] {
        let (mut pe, _) = sample(plus);
        let at = pe.count_offset();
        pe.put_u32(at, u32::MAX);
        let image = Image::new(View::from_bytes(&pe.bytes)).unwrap();
        assert_eq!(image.imports().count(), 2);
        // Fewer than two directories: no import directory.
        pe.put_u32(at, 1);
        let image = Image::new(View::from_bytes(&pe.bytes)).unwrap();
        assert_eq!(image.import_directory(), None);
        assert_eq!(image.imports().count(), 0);
    }
}

// ---- malformed import tables ----

#[test]
fn descriptor_out_of_bounds() {
    for rva in [0x4000u32, 0x3ff0, 0xffff_fff0, u32::MAX] {
        let (mut pe, _) = sample(false);
        pe.set_directory(1, rva, 40);
        let image = Image::new(View::from_bytes(&pe.bytes)).unwrap();
        let got = all_imports(&image);
        assert_eq!(got.len(), 1, "{rva:#x}");
        assert!(matches!(got[0], Err(Error::OutOfBounds { .. })), "{rva:#x}: {got:?}");
    }
}

#[test]
fn descriptors_without_terminator_run_into_the_end() {
    let mut pe = Pe::new(false, 0x1000);
    let rva = 0x1000 - 20 * 3 - 8;
    pe.set_directory(1, rva, 0);
    let name = pe.cstr("a.dll");
    let iat = pe.alloc(8, 4);
    for i in 0..3 {
        pe.put_u32(rva + 20 * i + 12, name);
        pe.put_u32(rva + 20 * i + 16, iat);
    }
    let image = Image::new(View::from_bytes(&pe.bytes)).unwrap();
    let got = all_imports(&image);
    assert_eq!(got.len(), 4);
    assert!(got[..3].iter().all(|d| d.as_ref().unwrap().0 == b"a.dll"));
    // The descriptor's third field is the first byte past the image.
    assert_eq!(got[3], Err(Error::OutOfBounds { rva: 0x1000, len: 4 }));
}

#[test]
fn unterminated_names_are_reported_and_skipped() {
    let mut pe = Pe::new(false, 0x1000);
    let layout =
        pe.imports(&[dll("a.dll", &[Entry::Name(0, "f"), Entry::Name(0, "g")]), dll("b.dll", &[Entry::Name(0, "h")])]);
    // The first DLL name and the first function name run to the end of the image.
    let tail = 0x1000 - 5;
    pe.put_bytes(tail, b"xxxxx");
    pe.put_u32(layout[0].descriptor + 12, tail);
    pe.put_u32(layout[1].lookup, tail - 2);
    let image = Image::new(View::from_bytes(&pe.bytes)).unwrap();
    let got = all_imports(&image);
    assert_eq!(got.len(), 2);
    assert_eq!(got[0], Err(Error::Unterminated { rva: tail }));
    let b = got[1].as_ref().unwrap();
    assert_eq!(b.0, b"b.dll");
    assert_eq!(b.1, vec![Err(Error::Unterminated { rva: tail })]);

    // An import name past the end: its hint is out of bounds; the next entry follows.
    pe.put_u32(layout[0].descriptor + 12, layout[0].name);
    pe.put_u32(layout[0].lookup, 0x7fff_0000);
    let image = Image::new(View::from_bytes(&pe.bytes)).unwrap();
    let a = image.imports().next().unwrap().unwrap().entries().collect::<Vec<_>>();
    assert_eq!(a[0], Err(Error::OutOfBounds { rva: 0x7fff_0000, len: 2 }));
    assert_eq!(a[1].as_ref().unwrap().symbol.name().unwrap(), b"g");
}

#[test]
fn names_longer_than_the_limit_are_unterminated() {
    let long: &'static str = Box::leak("n".repeat(100).into_boxed_str());
    let mut pe = Pe::new(true, 0x1000);
    pe.imports(&[dll("a.dll", &[Entry::Name(0, long)])]);
    let limits = Limits { max_name_len: 99, ..Limits::default() };
    let image = Image::with_limits(View::from_bytes(&pe.bytes), limits).unwrap();
    let e = image.imports().next().unwrap().unwrap().entries().next().unwrap();
    assert!(matches!(e, Err(Error::Unterminated { .. })), "{e:?}");
    let limits = Limits { max_name_len: 100, ..Limits::default() };
    let image = Image::with_limits(View::from_bytes(&pe.bytes), limits).unwrap();
    let e = image.imports().next().unwrap().unwrap().entries().next().unwrap().unwrap();
    assert_eq!(e.symbol.name().unwrap().len(), 100);
}

#[test]
fn thunk_arrays_without_terminator_end_with_an_error() {
    for plus in [false, true] {
        let mut pe = Pe::new(plus, 0x1000);
        let layout = pe.imports(&[dll("a.dll", &[Entry::Ordinal(1)])]);
        // The name table runs, without a zero entry, to the end of the image.
        let w = pe.width();
        let lookup = 0x1000 - 4 * w;
        for i in 0..4 {
            pe.put_ptr(lookup + i * w, if plus { 1 << 63 } else { 1 << 31 } | u64::from(i));
        }
        pe.put_u32(layout[0].descriptor, lookup);
        let image = Image::new(View::from_bytes(&pe.bytes)).unwrap();
        let e: Vec<_> = image.imports().next().unwrap().unwrap().entries().collect();
        assert_eq!(e.len(), 5);
        assert!(e[..4].iter().all(Result::is_ok));
        assert_eq!(e[4], Err(Error::OutOfBounds { rva: 0x1000, len: w }));
    }
}

#[test]
fn thunk_loops_are_cut_by_the_limits() {
    // Every descriptor points at one name table that is the descriptor table
    // itself, which has no zero entry: bounded only by the limits.
    let mut pe = Pe::new(false, 0x8000);
    let table = 0x1000u32;
    pe.set_directory(1, table, 0);
    let name = pe.cstr("loop.dll");
    for i in 0..(0x6000 / 20) {
        let d = table + 20 * i;
        pe.put_u32(d, table);
        pe.put_u32(d + 4, 0x8000_0001);
        pe.put_u32(d + 8, 0x8000_0001);
        pe.put_u32(d + 12, name);
        pe.put_u32(d + 16, table);
    }
    let limits = Limits { max_descriptors: 10, max_thunks: 100, ..Limits::default() };
    let image = Image::with_limits(View::from_bytes(&pe.bytes), limits).unwrap();
    let got: Vec<_> = image.imports().collect();
    assert_eq!(got.len(), 11);
    assert_eq!(got[10].as_ref().unwrap_err(), &Error::TooMany { rva: table, limit: 10 });
    for d in got[..10].iter().map(|d| d.as_ref().unwrap()) {
        let e: Vec<_> = d.entries().collect();
        assert_eq!(e.len(), 101);
        assert_eq!(e[100], Err(Error::TooMany { rva: table, limit: 100 }));
    }
}

#[test]
fn misaligned_iat() {
    for plus in [false, true] {
        let (mut pe, layout) = sample(plus);
        pe.put_u32(layout[0].descriptor + 16, layout[0].iat + 2);
        let image = Image::new(View::from_bytes(&pe.bytes)).unwrap();
        let e: Vec<_> = image.imports().next().unwrap().unwrap().entries().collect();
        assert_eq!(e, vec![Err(Error::Misaligned { rva: layout[0].iat + 2, align: pe.width() })]);
    }
}

#[test]
fn pe32_plus_name_rva_above_32_bits() {
    let (mut pe, layout) = sample(true);
    pe.put_u64(layout[0].lookup, 0x1_0000_0100);
    let image = Image::new(View::from_bytes(&pe.bytes)).unwrap();
    let e: Vec<_> = image.imports().next().unwrap().unwrap().entries().collect();
    assert_eq!(e[0], Err(Error::BadThunk { rva: layout[0].lookup, value: 0x1_0000_0100 }));
    assert_eq!(e[1].as_ref().unwrap().symbol.name().unwrap(), b"free");
}

#[test]
fn iat_shorter_than_the_name_table() {
    let (mut pe, layout) = sample(false);
    pe.put_u32(layout[0].descriptor + 16, 0x4000 - 4);
    let image = Image::new(View::from_bytes(&pe.bytes)).unwrap();
    let e: Vec<_> = image.imports().next().unwrap().unwrap().entries().collect();
    assert_eq!(e.len(), 2);
    assert!(e[0].is_ok());
    assert_eq!(e[1], Err(Error::OutOfBounds { rva: 0x4000, len: 4 }));
}

#[test]
fn the_large_address_aware_flag_is_read_from_the_file_header() {
    let mut pe = Pe::new(false, 0x1000);
    let image = |pe: &Pe| Image::new(View::from_bytes(&pe.bytes)).unwrap().large_address_aware();
    assert!(!image(&pe));
    // IMAGE_FILE_EXECUTABLE_IMAGE | IMAGE_FILE_32BIT_MACHINE | IMAGE_FILE_LARGE_ADDRESS_AWARE
    pe.put_u16(0x40 + 22, 0x0102 | 0x0020);
    assert!(image(&pe));
    pe.put_u16(0x40 + 22, 0x0102);
    assert!(!image(&pe));
}
