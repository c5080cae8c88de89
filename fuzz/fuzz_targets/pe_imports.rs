//! Arbitrary bytes as a mapped image: every table walked to its end.

#![no_main]

use libfuzzer_sys::fuzz_target;
use pe_imports::{Image, Limits, View};

/// Small enough that a hostile input cannot make one run slow.
const LIMITS: Limits = Limits { max_descriptors: 64, max_thunks: 256, max_name_len: 512 };

fn walk(view: View<'_>) {
    let Ok(image) = Image::with_limits(view, LIMITS) else { return };
    assert!(image.size_of_image() as usize <= view.len());
    for dll in image.imports().flatten() {
        assert!(dll.name().len() <= LIMITS.max_name_len as usize);
        let _ = (dll.lookup_rva(), dll.iat_rva(), dll.is_named(b"msvcrt.dll"));
        let mut n = 0;
        for import in dll.entries() {
            n += 1;
            if let Ok(import) = import {
                assert!(import.iat_rva < image.size_of_image());
            }
        }
        assert!(n <= LIMITS.max_thunks + 1);
    }
    for dll in image.delay_imports().flatten() {
        for import in dll.entries().flatten() {
            assert!(import.iat_rva < image.size_of_image());
            assert_eq!(import.bound, import.slot_value != 0 && !image.contains_address(import.slot_value));
        }
    }
    assert!(image.imports().count() <= LIMITS.max_descriptors as usize + 1);
}

fuzz_target!(|data: &[u8]| {
    walk(View::from_bytes(data));
    // Most inputs disagree with their own SizeOfImage; also read each one as an
    // image of exactly its length, so that the tables are reached.
    if data.len() >= 0x40 {
        let mut owned = data.to_vec();
        patch_size_of_image(&mut owned);
        walk(View::from_bytes(&owned));
    }
    // And with valid headers forced over it, so that the fuzzer spends its time
    // on the tables rather than on finding the signatures.
    if let Some(image) = with_headers(data) {
        walk(View::from_bytes(&image));
        // A load address other than ImageBase changes which slots count as bound.
        walk(View::from_bytes(&image).with_load_address(0x7000_0000));
    }
});

/// Sets `SizeOfImage` to the input's length where the headers put it.
fn patch_size_of_image(bytes: &mut [u8]) {
    let Some(lfanew) = bytes.get(0x3c..0x40) else { return };
    let lfanew = u32::from_le_bytes([lfanew[0], lfanew[1], lfanew[2], lfanew[3]]) as usize;
    let Some(at) = lfanew.checked_add(24 + 56) else { return };
    let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX).to_le_bytes();
    if let Some(field) = bytes.get_mut(at..at.saturating_add(4)) {
        if field.len() == 4 {
            field.copy_from_slice(&len);
        }
    }
}

/// The input with the signatures, the optional header's magic (PE32 or PE32+
/// as the input's first byte is even or odd), `SizeOfImage` (the length) and
/// `NumberOfRvaAndSizes` (16) written over it; the import and delay-load
/// directory RVAs are reduced modulo the length. At least 0x200 bytes.
fn with_headers(data: &[u8]) -> Option<Vec<u8>> {
    let mut image = data.to_vec();
    if image.len() < 0x200 {
        image.resize(0x200, 0);
    }
    let len = u32::try_from(image.len()).ok()?;
    let plus = data.first().is_some_and(|b| b & 1 == 1);
    let put = |image: &mut Vec<u8>, at: usize, bytes: &[u8]| image[at..at + bytes.len()].copy_from_slice(bytes);
    put(&mut image, 0, b"MZ");
    put(&mut image, 0x3c, &0x40u32.to_le_bytes());
    put(&mut image, 0x40, b"PE\0\0");
    let opt = 0x40 + 24;
    put(&mut image, opt, &(if plus { 0x20bu16 } else { 0x10b }).to_le_bytes());
    put(&mut image, opt + 56, &len.to_le_bytes());
    let count = opt + if plus { 108 } else { 92 };
    put(&mut image, count, &16u32.to_le_bytes());
    for index in [1, 13] {
        let at = count + 4 + 8 * index;
        let rva = u32::from_le_bytes([image[at], image[at + 1], image[at + 2], image[at + 3]]);
        put(&mut image, at, &(rva % len).to_le_bytes());
    }
    Some(image)
}
