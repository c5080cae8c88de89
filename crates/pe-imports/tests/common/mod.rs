//! A builder of tiny PE images in memory layout, for tests.

#![allow(dead_code)]

/// Where the optional header starts (`e_lfanew` = 0x40, + 24).
pub const OPT: u32 = 0x40 + 24;
/// Where data (tables, names) starts.
const DATA_START: u32 = 0x200;

#[derive(Clone, Debug)]
pub enum Entry {
    Name(u16, &'static str),
    Ordinal(u16),
}

#[derive(Clone, Debug)]
pub struct Dll {
    pub name: &'static str,
    pub entries: Vec<Entry>,
}

pub fn dll(name: &'static str, entries: &[Entry]) -> Dll {
    Dll { name, entries: entries.to_vec() }
}

/// Where the builder put one DLL's tables.
#[derive(Clone, Debug)]
pub struct DllLayout {
    pub descriptor: u32,
    pub name: u32,
    pub lookup: u32,
    pub iat: u32,
    /// The RVA of each entry's hint/name (0 for ordinals).
    pub hint_names: Vec<u32>,
}

pub struct Pe {
    pub bytes: Vec<u8>,
    pub plus: bool,
    next: u32,
}

impl Pe {
    /// Headers of a PE32 (`plus == false`) or PE32+ image of `size` bytes.
    pub fn new(plus: bool, size: u32) -> Pe {
        let mut pe = Pe { bytes: vec![0; size as usize], plus, next: DATA_START };
        pe.put_bytes(0, b"MZ");
        pe.put_u32(0x3c, 0x40);
        pe.put_bytes(0x40, b"PE\0\0");
        pe.put_u16(0x44, if plus { 0x8664 } else { 0x14c });
        pe.put_u16(0x44 + 16, if plus { 0xf0 } else { 0xe0 });
        pe.put_u16(OPT, if plus { 0x20b } else { 0x10b });
        if plus {
            pe.put_u64(OPT + 24, 0x1_4000_0000);
        } else {
            pe.put_u32(OPT + 28, 0x1000_0000);
        }
        pe.put_u32(OPT + 56, size);
        pe.put_u32(OPT + 60, DATA_START);
        pe.put_u32(pe.count_offset(), 16);
        pe
    }

    pub fn image_base(&self) -> u64 {
        if self.plus {
            0x1_4000_0000
        } else {
            0x1000_0000
        }
    }

    pub fn count_offset(&self) -> u32 {
        OPT + if self.plus { 108 } else { 92 }
    }

    pub fn directory_offset(&self, index: u32) -> u32 {
        self.count_offset() + 4 + index * 8
    }

    pub fn set_directory(&mut self, index: u32, rva: u32, size: u32) {
        let at = self.directory_offset(index);
        self.put_u32(at, rva);
        self.put_u32(at + 4, size);
    }

    pub fn width(&self) -> u32 {
        if self.plus {
            8
        } else {
            4
        }
    }

    pub fn alloc(&mut self, len: u32, align: u32) -> u32 {
        let at = self.next.next_multiple_of(align);
        self.next = at + len;
        assert!(self.next as usize <= self.bytes.len(), "test image too small");
        at
    }

    pub fn put_bytes(&mut self, rva: u32, bytes: &[u8]) {
        self.bytes[rva as usize..rva as usize + bytes.len()].copy_from_slice(bytes);
    }
    pub fn put_u16(&mut self, rva: u32, v: u16) {
        self.put_bytes(rva, &v.to_le_bytes());
    }
    pub fn put_u32(&mut self, rva: u32, v: u32) {
        self.put_bytes(rva, &v.to_le_bytes());
    }
    pub fn put_u64(&mut self, rva: u32, v: u64) {
        self.put_bytes(rva, &v.to_le_bytes());
    }
    /// Writes a pointer-sized value.
    pub fn put_ptr(&mut self, rva: u32, v: u64) {
        if self.plus {
            self.put_u64(rva, v)
        } else {
            self.put_u32(rva, u32::try_from(v).expect("PE32 pointer"))
        }
    }

    pub fn cstr(&mut self, s: &str) -> u32 {
        let at = self.alloc(s.len() as u32 + 1, 1);
        self.put_bytes(at, s.as_bytes());
        at
    }

    fn thunk(&mut self, entry: &Entry) -> (u64, u32) {
        match entry {
            Entry::Ordinal(ordinal) => {
                let flag = if self.plus { 1u64 << 63 } else { 1 << 31 };
                (flag | u64::from(*ordinal), 0)
            }
            Entry::Name(hint, name) => {
                let at = self.alloc(2 + name.len() as u32 + 1, 2);
                self.put_u16(at, *hint);
                self.put_bytes(at + 2, name.as_bytes());
                (u64::from(at), at)
            }
        }
    }

    /// Writes the tables of `dlls` for a descriptor of `descriptor_size` bytes
    /// (the caller writes the descriptors). The IAT holds `iat_value(i, thunk)`.
    fn tables(&mut self, dll: &Dll, mut iat_value: impl FnMut(&mut Pe, u64) -> u64) -> (u32, u32, u32, Vec<u32>) {
        let w = self.width();
        let n = dll.entries.len() as u32 + 1;
        let name = self.cstr(dll.name);
        let lookup = self.alloc(n * w, w);
        let iat = self.alloc(n * w, w);
        let mut hint_names = Vec::new();
        for (i, entry) in dll.entries.iter().enumerate() {
            let (thunk, hint_name) = self.thunk(entry);
            hint_names.push(hint_name);
            self.put_ptr(lookup + i as u32 * w, thunk);
            let value = iat_value(self, thunk);
            self.put_ptr(iat + i as u32 * w, value);
        }
        (name, lookup, iat, hint_names)
    }

    /// An import directory for `dlls`, as a linker writes it (the IAT a copy of
    /// the name table, as in a file before binding).
    pub fn imports(&mut self, dlls: &[Dll]) -> Vec<DllLayout> {
        let table = self.alloc(20 * (dlls.len() as u32 + 1), 4);
        self.set_directory(1, table, 20 * (dlls.len() as u32 + 1));
        let mut out = Vec::new();
        for (i, dll) in dlls.iter().enumerate() {
            let descriptor = table + 20 * i as u32;
            let (name, lookup, iat, hint_names) = self.tables(dll, |_, thunk| thunk);
            self.put_u32(descriptor, lookup);
            self.put_u32(descriptor + 12, name);
            self.put_u32(descriptor + 16, iat);
            out.push(DllLayout { descriptor, name, lookup, iat, hint_names });
        }
        out
    }

    /// A delay-load import directory for `dlls`, RVA-based, each IAT slot
    /// pointing at a stub inside the image (at the headers' `ImageBase`).
    pub fn delay_imports(&mut self, dlls: &[Dll]) -> Vec<DllLayout> {
        let table = self.alloc(32 * (dlls.len() as u32 + 1), 4);
        self.set_directory(13, table, 32 * (dlls.len() as u32 + 1));
        let mut out = Vec::new();
        for (i, dll) in dlls.iter().enumerate() {
            let descriptor = table + 32 * i as u32;
            let base = self.image_base();
            let (name, lookup, iat, hint_names) = self.tables(dll, |pe, _| base + u64::from(pe.alloc(16, 16)));
            let handle = self.alloc(self.width(), self.width());
            self.put_u32(descriptor, 1);
            self.put_u32(descriptor + 4, name);
            self.put_u32(descriptor + 8, handle);
            self.put_u32(descriptor + 12, iat);
            self.put_u32(descriptor + 16, lookup);
            out.push(DllLayout { descriptor, name, lookup, iat, hint_names });
        }
        out
    }
}
