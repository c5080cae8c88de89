//! The profile format, its mistakes, and the built-in FalloutNV profile
//! against the public facts about the executable.

use game_profile::{Convention, Pattern, Profile, Role, When};

const EXAMPLE: &str = r#"
[executable]
name = "FalloutNV.exe 1.4.0.525"
[[executable.expect]]
address = 0x00AA3E40
bytes = "55 8B EC 83 EC 3C 89 4D D0 8B 45 D0"

[[group]]
name = "game-heap"
when = "any"
[[group.hook]]
address = 0x00AA3E40
role = "heap-allocate"
bytes = "55 8B EC"

[[group.hook]]
address = 0x00AA4150
role = "heap-realloc"
[[group.hook.expect]]
address = 0x00AA41D9
bytes = "C2 08 00"

[[group]]
name = "static-crt"
when = "any"
[[group.hook]]
address = 0x00ECD1C7
role = "malloc"

[[group]]
name = "vanilla-heaps-off"
when = "preload"
requires = ["game-heap"]
[[group.patch]]
address = 0x00866E00
expect = "xx"
bytes = "C3"
"#;

#[test]
fn the_documented_example_reads() {
    let profile = Profile::parse(EXAMPLE).expect("the example");
    assert_eq!(profile.executable.name, "FalloutNV.exe 1.4.0.525");
    assert_eq!(profile.groups.len(), 3);
    assert_eq!(profile.groups[0].hooks[0].role, Role::HeapAllocate);
    assert_eq!(profile.groups[0].hooks[0].bytes, Some(Pattern::parse("55 8B EC").unwrap()));
    assert_eq!(profile.groups[1].hooks[0].bytes, None);
    assert!(profile.groups[0].hooks[0].expect.is_empty());
    let frame = &profile.groups[0].hooks[1].expect;
    assert_eq!(frame.len(), 1);
    assert_eq!((frame[0].address, frame[0].bytes.bytes()), (0x00AA41D9, vec![0xC2, 0x08, 0x00]));
    assert_eq!(profile.groups[2].when, When::Preload);
    assert_eq!(profile.groups[2].requires, ["game-heap"]);
    assert!(profile.groups[0].requires.is_empty());
    assert!(profile.groups[2].patches[0].expect.has_wildcards());
    assert_eq!(profile.groups[2].patches[0].bytes.bytes(), [0xC3]);
}

/// The error `text` gives, as `line N: message` or `message`.
fn error(text: &str) -> String {
    Profile::parse(text).expect_err("a mistake").to_string()
}

#[test]
fn mistakes_name_their_line_and_what_is_wrong() {
    let unknown_role = EXAMPLE.replace("role = \"malloc\"", "role = \"mallocate\"");
    let message = error(&unknown_role);
    assert!(message.starts_with("line 28: unknown variant `mallocate`"), "{message}");

    let bad_bytes = EXAMPLE.replace("bytes = \"55 8B EC\"", "bytes = \"55 8G EC\"");
    let message = error(&bad_bytes);
    assert!(message.starts_with("line 14: \"8G\" is not a byte"), "{message}");

    let unknown_key = EXAMPLE.replace("when = \"preload\"", "when = \"preload\"\nwhen_not = 1");
    assert!(error(&unknown_key).contains("unknown field `when_not`"), "{}", error(&unknown_key));

    let bad_when = EXAMPLE.replace("when = \"preload\"", "when = \"later\"");
    assert!(error(&bad_when).contains("unknown variant `later`"));
}

#[test]
fn what_the_types_cannot_say_is_checked() {
    let no_identity = r#"
[executable]
name = "x"
expect = []
"#;
    assert_eq!(error(no_identity), "x: [[executable.expect]] needs at least one entry");

    let twice = EXAMPLE.replace("name = \"static-crt\"", "name = \"game-heap\"");
    assert_eq!(error(&twice), "group \"game-heap\" is defined twice");

    let same_address = EXAMPLE.replace("0x00ECD1C7", "0x00AA3E40");
    assert_eq!(error(&same_address), "group \"static-crt\": address 0x00AA3E40 is 0 or used twice");

    let wildcard_written = EXAMPLE.replace("bytes = \"C3\"", "bytes = \"C3 ??\"");
    assert_eq!(error(&wildcard_written), "group \"vanilla-heaps-off\": the patch at 0x00866E00 must write known bytes");

    let longer = EXAMPLE.replace("bytes = \"C3\"", "bytes = \"C3 90\"");
    assert_eq!(
        error(&longer),
        "group \"vanilla-heaps-off\": the patch at 0x00866E00 writes 2 bytes but expects only 1"
    );

    let unknown_requirement = EXAMPLE.replace("requires = [\"game-heap\"]", "requires = [\"game-heaps\"]");
    assert_eq!(
        error(&unknown_requirement),
        "group \"vanilla-heaps-off\" requires \"game-heaps\", which is not a group before it"
    );
    let itself = EXAMPLE.replace("requires = [\"game-heap\"]", "requires = [\"vanilla-heaps-off\"]");
    assert!(error(&itself).contains("requires \"vanilla-heaps-off\", which is not a group before it"));

    let no_frame_bytes = EXAMPLE.replace("bytes = \"C2 08 00\"", "bytes = \"\"");
    assert_eq!(
        error(&no_frame_bytes),
        "group \"game-heap\": the hook at 0x00AA4150 expects 0 byte(s) at 0x00AA41D9: an address and bytes are needed"
    );
    let frame_at_zero = EXAMPLE.replace("address = 0x00AA41D9", "address = 0");
    assert!(error(&frame_at_zero).contains("expects 3 byte(s) at 0x00000000"), "{}", error(&frame_at_zero));
    let unknown_frame_key = EXAMPLE.replace("bytes = \"C2 08 00\"", "bytes = \"C2 08 00\"\nsize = 3");
    assert!(error(&unknown_frame_key).contains("unknown field `size`"), "{}", error(&unknown_frame_key));

    let empty = EXAMPLE.replace("[[group.patch]]\naddress = 0x00866E00\nexpect = \"xx\"\nbytes = \"C3\"\n", "");
    assert_eq!(error(&empty), "group \"vanilla-heaps-off\" has no hook and no patch");
}

/// Every target the public disassembly of FalloutNV.exe 1.4.0.525 names
/// (`shared/reference/fnv-memory.md`, sections 1a, 1b and 9): address, role,
/// and its first 16 bytes.
const FACTS: &[(u32, Role, &str)] = &[
    (0x00AA3E40, Role::HeapAllocate, "55 8B EC 83 EC 3C 89 4D D0 8B 45 D0 0F B6 08 85"),
    (0x00AA4060, Role::HeapFree, "55 8B EC 83 EC 14 89 4D F0 83 7D 08 00 75 05 E9"),
    (0x00AA44C0, Role::HeapSize, "55 8B EC 83 EC 18 89 4D EC 8B 45 08 C1 E8 18 8B"),
    (0x00AA4150, Role::HeapRealloc, "55 8B EC 83 EC 10 89 4D F0 C7 45 FC 00 00 00 00"),
    (0x00AA4200, Role::HeapRealloc, "55 8B EC 83 EC 10 89 4D F0 C7 45 FC 00 00 00 00"),
    (0x00ECD1C7, Role::Malloc, "8B FF 55 8B EC 56 8B 75 08 83 FE E0 0F 87 A1 00"),
    (0x00ED0CDF, Role::Malloc, "8B FF 55 8B EC 56 57 33 F6 FF 75 08 E8 D7 C4 FF"),
    (0x00EDDD7D, Role::Calloc, "8B FF 55 8B EC 51 83 65 FC 00 56 8D 45 FC 50 FF"),
    (0x00ED0D24, Role::Calloc, "8B FF 55 8B EC 56 57 33 F6 6A 00 FF 75 0C FF 75"),
    (0x00ECCF5D, Role::Realloc, "6A 10 68 D0 FE 17 01 E8 AB 47 00 00 8B 5D 08 85"),
    (0x00ED0D70, Role::Realloc, "8B FF 55 8B EC 56 57 33 F6 FF 75 0C FF 75 08 E8"),
    (0x00EE1700, Role::Recalloc, "8B FF 55 8B EC 8B 4D 0C 53 33 DB 3B CB 76 28 6A"),
    (0x00ED0DBE, Role::Recalloc, "8B FF 55 8B EC 56 57 33 F6 FF 75 10 FF 75 0C FF"),
    (0x00ECD31F, Role::Msize, "6A 10 68 30 FF 17 01 E8 E9 43 00 00 33 C0 8B 5D"),
    (0x00ECD291, Role::Free, "6A 0C 68 10 FF 17 01 E8 77 44 00 00 8B 75 08 85"),
];

/// The raw patches of NVHR's that switch the vanilla heaps and pools off
/// (Heap-Replacer's heap_replacer.h), with the first bytes psycho's dump of
/// the executable gives there (gheap_patch_manifest_audit.txt).
const PATCH_FACTS: &[(u32, &str, &str)] = &[
    (0x00AA6840, "55 8B EC 83 EC 08 C7 45 FC 00 00 00 00 EB 09 8B 45", "C3"),
    (0x00866E00, "55 8B EC 6A FF 68 71 3B F1 00 64 A1 00 00 00 00 50", "C3"),
    (0x00866770, "55 8B EC 51 89 4D FC 68 DC 24 08 01 68 00 00 60 00", "C3"),
    (0x00AA6F90, "55 8B EC 83 EC 18 89 4D E8 68 08 28 0A 01 8B 4D E8", "C3"),
    (0x00AA7030, "55 8B EC 51 A1 D0 6B 1F 01 83 E0 01 75 27 8B 0D D0", "C3"),
    (0x00AA7290, "55 8B EC 83 EC 0C 8B 45 08 83 3C 85 B8 67 1F 01 00", "C3"),
    (0x00AA7300, "55 8B EC 83 EC 14 89 4D EC 68 60 28 0A 01 8B 4D EC", "C3"),
    (0x0086EED4, "75 13 D9 05 F8 EE 1D 01 DC 1D E8 57 03 01 DF E0 F6 C4", "EB 55"),
];

#[test]
fn the_vanilla_heaps_go_off_only_at_preload_and_only_behind_the_hooks() {
    let profile = Profile::fallout_nv().expect("the built-in profile reads");
    let group = profile.groups.iter().find(|g| g.name == "vanilla-heaps-off").expect("the group");
    assert_eq!(group.when, When::Preload);
    assert_eq!(group.requires, ["game-heap", "static-crt"]);
    assert!(group.hooks.is_empty());
    assert_eq!(group.patches.len(), PATCH_FACTS.len());
    for &(address, first, written) in PATCH_FACTS {
        let patch = group.patches.iter().find(|p| p.address == address).unwrap_or_else(|| panic!("{address:#X}"));
        let first = Pattern::parse(first).unwrap().bytes();
        assert!(patch.expect.len() >= 8 && patch.expect.matches(&first[..patch.expect.len()]), "{address:#X}");
        assert_eq!(patch.bytes.bytes(), Pattern::parse(written).unwrap().bytes(), "{address:#X}");
        // A `ret` goes where a frame is set up: nothing else is returned from.
        if written == "C3" {
            assert_eq!(first[..3], [0x55, 0x8B, 0xEC], "{address:#X}");
        }
    }
    // The scrap heaps stay on the vanilla code.
    for scrap in [0x00AA58D0, 0x00866D10, 0x00AA5C80] {
        assert!(group.patches.iter().all(|p| p.address != scrap), "{scrap:#X}");
    }
}

#[test]
fn the_built_in_profile_matches_the_facts() {
    let profile = Profile::fallout_nv().expect("the built-in profile reads");
    let hooks: Vec<_> = profile.groups.iter().flat_map(|g| &g.hooks).collect();
    assert_eq!(hooks.len(), FACTS.len());
    for &(address, role, first) in FACTS {
        let first = Pattern::parse(first).unwrap().bytes();
        let hook = hooks.iter().find(|h| h.address == address).unwrap_or_else(|| panic!("no hook at {address:#X}"));
        assert_eq!(hook.role, role, "{address:#X}");
        let expected = hook.bytes.as_ref().unwrap_or_else(|| panic!("{address:#X} checks no bytes"));
        assert!(expected.len() >= 5 && expected.matches(&first), "{address:#X}: {expected} against {first:02X?}");
        // The game heap's methods take `this` in ECX; the runtime's are cdecl.
        let convention =
            if (0x00AA0000..0x00AB0000).contains(&address) { Convention::Thiscall } else { Convention::Cdecl };
        assert_eq!(role.convention(), convention, "{address:#X}");
        // Whatever the first instructions are, they can be moved.
        let plan = inline_hook::plan(&first, address as usize, 0x1000_0000);
        assert!(plan.is_ok(), "{address:#X}: {plan:?}");
    }
    for expect in &profile.executable.expect {
        let fact = FACTS.iter().find(|f| f.0 == expect.address).expect("an identifying address is a known target");
        assert!(expect.bytes.matches(&Pattern::parse(fact.2).unwrap().bytes()));
    }
    let groups: Vec<(&str, When)> = profile.groups.iter().map(|g| (g.name.as_str(), g.when)).collect();
    assert_eq!(groups, [("game-heap", When::Any), ("static-crt", When::Any), ("vanilla-heaps-off", When::Preload)]);
}

/// Both reallocates share a 140-byte body (psycho's dump gives that size for
/// both): the `ret 8` that makes them two-argument thiscall methods is its
/// last instruction (`fnv-engine-habits.md` section 5).
#[test]
fn the_reallocates_go_live_only_if_they_pop_two_arguments() {
    const BODY: u32 = 140;
    let profile = Profile::fallout_nv().expect("the built-in profile reads");
    for hook in profile.groups.iter().flat_map(|g| &g.hooks) {
        let frames: Vec<(u32, Vec<u8>)> = hook.expect.iter().map(|e| (e.address, e.bytes.bytes())).collect();
        if hook.role == Role::HeapRealloc {
            assert_eq!(frames, [(hook.address + BODY - 3, vec![0xC2, 0x08, 0x00])], "{:#X}", hook.address);
        } else {
            assert_eq!(frames, [], "{:#X}", hook.address);
        }
    }
    let reallocs: Vec<u32> =
        profile.groups.iter().flat_map(|g| &g.hooks).flat_map(|h| &h.expect).map(|e| e.address).collect();
    assert_eq!(reallocs, [0x00AA41D9, 0x00AA4289]);
}

#[test]
fn a_group_that_hands_out_blocks_must_hook_where_they_come_back() {
    let profile = Profile::parse(EXAMPLE).unwrap();
    assert_eq!(profile.groups[0].missing_release_role(), Some(Role::HeapFree));
    assert_eq!(profile.groups[1].missing_release_role(), Some(Role::Free));
    assert_eq!(profile.groups[2].missing_release_role(), None, "patches hand out nothing");

    let fnv = Profile::fallout_nv().unwrap();
    for group in &fnv.groups {
        assert_eq!(group.missing_release_role(), None, "{}", group.name);
    }
}
