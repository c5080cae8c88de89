//! Where the replica's fixed-address sections go in the image, and the
//! linker script that puts them there.
//!
//! Every piece of the replica lives in an input section named after its
//! address: `.fnv$00AA3E40` (code), `.fnvd$011F6238` (data), `.fnvr$010824DC`
//! (read-only data). Sections near each other are grouped into an output
//! section of whole pages (a cluster), each input section at its address
//! inside it. The Windows loader maps sections at their addresses and wants
//! them in order and adjacent, so the space between clusters is filled by
//! sections with no bytes in the file (uninitialised data): the image spans
//! 16 MB while the file holds only the clusters. The stand-in's own code and
//! data (the linker's usual sections) follow the replica's part.

use std::collections::BTreeMap;

pub const PAGE: u32 = 0x1000;

/// What a section holds, which fixes its pages' protection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Code,
    Data,
    ReadOnly,
}

impl Kind {
    /// The input section name's prefix.
    pub fn prefix(self) -> &'static str {
        match self {
            Kind::Code => ".fnv$",
            Kind::Data => ".fnvd$",
            Kind::ReadOnly => ".fnvr$",
        }
    }
}

/// An input section at a fixed address, with the room its contents may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Section {
    pub address: u32,
    pub kind: Kind,
    pub room: u32,
}

impl Section {
    pub fn name(&self) -> String {
        format!("{}{:08X}", self.kind.prefix(), self.address)
    }
}

/// Whole pages holding sections of one kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cluster {
    pub base: u32,
    pub end: u32,
    pub kind: Kind,
    pub sections: Vec<Section>,
}

/// Sections this far apart (or closer) share a cluster: fewer sections in the
/// image, and a few more pages of padding in the file.
const JOIN: u32 = 4 * PAGE;

fn page_down(address: u32) -> u32 {
    address & !(PAGE - 1)
}

fn page_up(address: u32) -> u32 {
    address.div_ceil(PAGE) * PAGE
}

/// Groups the sections (any order, one per address) into clusters between
/// `first` (the first page after the headers) and `end`.
pub fn clusters(sections: &[Section], first: u32, end: u32) -> Result<Vec<Cluster>, String> {
    let mut by_address = BTreeMap::new();
    for section in sections {
        if let Some(other) = by_address.insert(section.address, *section) {
            return Err(format!("two sections at 0x{:08X} ({:?} and {:?})", section.address, other.kind, section.kind));
        }
    }
    let mut clusters: Vec<Cluster> = Vec::new();
    for section in by_address.into_values() {
        if section.address < first || section.address + section.room > end {
            return Err(format!("{} lies outside 0x{first:08X}-0x{end:08X}", section.name()));
        }
        let reach = page_up(section.address + section.room.max(1));
        match clusters.last_mut() {
            Some(last) if page_down(section.address) < last.end + JOIN && last.kind == section.kind => {
                last.end = last.end.max(reach);
                last.sections.push(section);
            }
            Some(last) if page_down(section.address) < last.end => {
                return Err(format!("{} shares a page with {:?} at 0x{:08X}", section.name(), last.kind, last.base));
            }
            _ => clusters.push(Cluster {
                base: page_down(section.address),
                end: reach,
                kind: section.kind,
                sections: vec![section],
            }),
        }
    }
    // A cluster that grew into the next one's pages takes them over.
    let mut merged: Vec<Cluster> = Vec::new();
    for cluster in clusters {
        match merged.last_mut() {
            Some(last) if cluster.base < last.end && cluster.kind == last.kind => {
                last.end = last.end.max(cluster.end);
                last.sections.extend(cluster.sections);
            }
            Some(last) if cluster.base < last.end => {
                return Err(format!(
                    "0x{:08X}-0x{:08X} overlaps the next cluster at 0x{:08X}",
                    last.base, last.end, cluster.base
                ));
            }
            _ => merged.push(cluster),
        }
    }
    if merged.last().is_some_and(|last| last.end > end) {
        return Err(format!("the replica's sections run past 0x{end:08X}"));
    }
    Ok(merged)
}

/// The linker script: the linker's own default script (`ld --verbose`),
/// with the clusters and the gaps between them placed before its `.text`,
/// which starts at `end`.
pub fn script(default: &str, clusters: &[Cluster], first: u32, end: u32) -> Result<String, String> {
    const TEXT: &str = "  .text  __image_base__ + ( __section_alignment__ < 0x1000 ? . : __section_alignment__ ) :";
    if default.matches(TEXT).count() != 1 {
        return Err("the linker's default script has no single `.text` at the image's first page".into());
    }
    let mut fixed = String::from("  /* The replica of FalloutNV.exe (generated: crates/fnv-replica/build). */\n");
    let mut at = first;
    let mut gaps = 0;
    let mut gap = |from: u32, to: u32, fixed: &mut String| {
        if to > from {
            fixed.push_str(&format!("  .fnvgap{gaps} 0x{from:08X} : {{ . = 0x{:X}; }}\n", to - from));
            gaps += 1;
        }
    };
    for (index, cluster) in clusters.iter().enumerate() {
        gap(at, cluster.base, &mut fixed);
        fixed.push_str(&format!("  .fnv{index} 0x{:08X} : SUBALIGN(1)\n  {{\n", cluster.base));
        for section in &cluster.sections {
            fixed.push_str(&format!(
                "    . = 0x{:X};\n    KEEP(*({}))\n",
                section.address - cluster.base,
                section.name()
            ));
        }
        let fill = if cluster.kind == Kind::Code { " =0xCCCCCCCC" } else { "" };
        fixed.push_str(&format!("    . = 0x{:X};\n  }}{fill}\n", cluster.end - cluster.base));
        at = cluster.end;
    }
    gap(at, end, &mut fixed);
    fixed.push_str(&format!("  .text  0x{end:08X} :"));
    Ok(default.replacen(TEXT, &fixed, 1))
}

/// The linker's default script from the text `ld --verbose` prints.
pub fn default_script(verbose: &str) -> Option<&str> {
    let start = verbose.find("==================================================\n")? + 51;
    let end = start + verbose[start..].find("==================================================")?;
    Some(&verbose[start..end])
}
