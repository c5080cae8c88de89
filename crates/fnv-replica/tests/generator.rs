//! The replica's generator (`build/`), natively: the facts against the
//! profile, the layout of fixed-address sections, the generated assembly.

#[path = "../build/emit.rs"]
mod emit;
#[path = "../build/facts.rs"]
#[allow(dead_code)]
mod facts;
#[path = "../build/layout.rs"]
mod layout;

use std::collections::BTreeSet;

use facts::{Conflict, Facts};
use game_profile::Profile;
use layout::{Kind, Section};

fn facts() -> Facts {
    let text = include_str!("../facts/FalloutNV-1.4.0.525.toml");
    Facts::parse(text).expect("the facts read")
}

fn profile() -> Profile {
    Profile::fallout_nv().expect("the built-in profile")
}

#[test]
fn every_target_of_the_profile_has_the_facts_bytes_and_they_agree() {
    let runs = facts().runs(&profile()).expect("the facts agree with the profile");
    let profile = profile();
    let starts: BTreeSet<u32> = runs.iter().map(|r| r.address).collect();
    for group in &profile.groups {
        for address in group.hooks.iter().map(|h| h.address).chain(group.patches.iter().map(|p| p.address)) {
            // A patch inside a function is covered by its run, a function
            // starts a run of its own.
            let covered = runs.iter().any(|r| (r.address..r.address + r.bytes.len() as u32).contains(&address));
            assert!(covered, "0x{address:08X} of group {} has no known bytes", group.name);
        }
        for hook in &group.hooks {
            assert!(starts.contains(&hook.address), "0x{:08X} starts no run", hook.address);
        }
    }
    // The frames of both reallocates come from the profile alone.
    for frame in [0x00AA_41D9, 0x00AA_4289] {
        let run = runs.iter().find(|r| r.address == frame).expect("the ret 8");
        assert_eq!(run.bytes, [0xC2, 0x08, 0x00]);
    }
}

#[test]
fn a_fact_that_contradicts_the_profile_is_refused() {
    let text = include_str!("../facts/FalloutNV-1.4.0.525.toml").replacen(
        "55 8B EC 83 EC 14 89 4D F0",
        "55 8B EC 83 EC 18 89 4D F0",
        1,
    );
    let error = Facts::parse(&text).unwrap().runs(&profile()).unwrap_err();
    assert_eq!(
        error,
        Conflict(
            "the profile's heap-free entry (55 8B EC 83 EC 14 89 4D F0 83 7D 08) at 0x00AA4060 differs from the facts at \
             0x00AA4065 (18)"
                .into()
        )
    );
    let too_many = include_str!("../facts/FalloutNV-1.4.0.525.toml").replacen("emit = 31", "emit = 99", 1);
    assert!(Facts::parse(&too_many).unwrap().runs(&profile()).unwrap_err().0.contains("emits 99 of 32 bytes"));
}

fn section(address: u32, kind: Kind, room: u32) -> Section {
    Section { address, kind, room }
}

#[test]
fn sections_are_grouped_into_page_clusters_of_one_kind() {
    let sections = [
        section(0x00AA_3E40, Kind::Code, 0x1E6),
        section(0x00AA_4060, Kind::Code, 0xEC),
        section(0x00AA_7290, Kind::Code, 0x6E),
        section(0x00EC_D1C7, Kind::Code, 0xCA),
        section(0x011F_6238, Kind::Data, 0x140),
        section(0x011F_63B8, Kind::Data, 0x400),
    ];
    let clusters = layout::clusters(&sections, 0x0040_1000, 0x0141_0000).expect("clusters");
    let spans: Vec<(u32, u32, Kind, usize)> =
        clusters.iter().map(|c| (c.base, c.end, c.kind, c.sections.len())).collect();
    assert_eq!(
        spans,
        [
            (0x00AA_3000, 0x00AA_8000, Kind::Code, 3),
            (0x00EC_D000, 0x00EC_E000, Kind::Code, 1),
            (0x011F_6000, 0x011F_7000, Kind::Data, 2),
        ]
    );
    // Code and data never share a page.
    let clash = [section(0x00AA_3E40, Kind::Code, 0x10), section(0x00AA_3F00, Kind::Data, 4)];
    assert!(layout::clusters(&clash, 0x0040_1000, 0x0141_0000).unwrap_err().contains("shares a page"));
    let twice = [section(0x00AA_3E40, Kind::Code, 0x10), section(0x00AA_3E40, Kind::Code, 4)];
    assert!(layout::clusters(&twice, 0x0040_1000, 0x0141_0000).unwrap_err().starts_with("two sections at 0x00AA3E40"));
    let outside = [section(0x0150_0000, Kind::Data, 4)];
    assert!(layout::clusters(&outside, 0x0040_1000, 0x0141_0000).unwrap_err().contains("lies outside"));
}

#[test]
fn the_script_places_each_section_at_its_address_and_fills_the_gaps() {
    let default = "SECTIONS\n{\n  .text  __image_base__ + ( __section_alignment__ < 0x1000 ? . : __section_alignment__ ) :\n  {\n    *(.text)\n  }\n}\n";
    let sections = [section(0x00AA_3E40, Kind::Code, 0x10), section(0x011F_6238, Kind::Data, 0x10)];
    let clusters = layout::clusters(&sections, 0x0040_1000, 0x0141_0000).unwrap();
    let script = layout::script(default, &clusters, 0x0040_1000, 0x0141_0000).expect("a script");
    let expected = "  .fnvgap0 0x00401000 : { . = 0x6A2000; }\n  .fnv0 0x00AA3000 : SUBALIGN(1)\n  {\n    . = 0xE40;\n    \
                    KEEP(*(.fnv$00AA3E40))\n    . = 0x1000;\n  } =0xCCCCCCCC\n  .fnvgap1 0x00AA4000 : { . = 0x752000; }\n  \
                    .fnv1 0x011F6000 : SUBALIGN(1)\n  {\n    . = 0x238;\n    KEEP(*(.fnvd$011F6238))\n    . = 0x1000;\n  }\n  \
                    .fnvgap2 0x011F7000 : { . = 0x219000; }\n  .text  0x01410000 :\n";
    assert!(script.contains(expected), "{script}");
    assert!(layout::script("SECTIONS {}", &clusters, 0x0040_1000, 0x0141_0000).is_err());
    let verbose = "GNU ld\n==================================================\nSECTIONS {}\n==================================================\n";
    assert_eq!(layout::default_script(verbose), Some("SECTIONS {}\n"));
}

#[test]
fn the_pools_are_made_in_the_facts_order_with_their_names() {
    let facts = facts();
    assert_eq!(facts.pools.list.len(), 37);
    let names = emit::pool_name_addresses(&facts.pools);
    // "Pool 8" where the dump shows it pushed; then "Pool 12", on 4 bytes.
    assert_eq!(names[..3], [0x0108_24DC, 0x0108_24E4, 0x0108_24EC]);
    let (text, sections) = emit::pools(&facts.pools, 0x0086_6770);
    assert_eq!(text.matches("call _fnv_00AA3CC0").count(), 37);
    assert!(text.contains("fnv_bytes_00866770\n    push 0x8\n    mov ecx, dword ptr [ebp-4]\n"), "{text}");
    assert!(text.contains("push 0x010824E4\n    push 0x500000\n    push 0xC\n"), "{text}");
    assert!(text.contains(".asciz \"Pool 596\""));
    assert_eq!(
        sections.iter().map(|s| (s.address, s.kind)).collect::<Vec<_>>(),
        [(0x0086_6770, Kind::Code), (0x0108_24DC, Kind::ReadOnly)]
    );
}

#[test]
fn each_run_is_a_macro_and_those_no_function_places_are_written_alone() {
    let runs = facts().runs(&profile()).unwrap();
    let macros = emit::macros(&runs);
    assert!(macros.contains(".macro fnv_bytes_00AA3E40\n    .byte 0x55,0x8B,0xEC,0x83,0xEC,0x3C,"), "{macros}");
    // Only the bytes a function does not complete itself.
    let size = macros
        .split(".macro fnv_bytes_00AA44C0\n")
        .nth(1)
        .unwrap()
        .split(".endm")
        .next()
        .unwrap()
        .matches("0x")
        .count();
    assert_eq!(size, 31);
    let placed: BTreeSet<u32> = [0x00AA_3E40].into();
    let (text, sections) = emit::unplaced(&runs, &placed);
    assert!(!text.contains(".fnv$00AA3E40"), "placed by its function");
    assert!(
        text.contains(".section .fnv$00AA3E38,\"xr0\"\n.globl _fnv_00AA3E38\n_fnv_00AA3E38:\n    fnv_bytes_00AA3E38\n")
    );
    assert_eq!(sections.len(), runs.len() - 1);
    assert!(sections.iter().all(|s| s.kind == Kind::Code));
}
