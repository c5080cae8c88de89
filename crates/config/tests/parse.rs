//! The parser against every key and every kind of mistake a player makes.

use config::keys::{Kind, KEYS};
use config::{parse, AtLoad, Backend, LogLevel, Settings};

/// The file the plugin ships (`cargo xtask dist` copies it beside the DLL).
const SHIPPED: &str = include_str!("../../plugin/MemoryPoolNVSE.ini");

/// The problems of `text`, as `line N: message`.
fn problems(text: &str) -> Vec<String> {
    parse(text.as_bytes()).problems.iter().map(ToString::to_string).collect()
}

#[test]
fn the_shipped_file_lists_every_key_at_its_default() {
    let parsed = parse(SHIPPED.as_bytes());
    assert_eq!(parsed.problems, []);
    assert_eq!(parsed.settings, Settings::default());
    assert_eq!(parsed.set.len(), KEYS.len(), "every key is written out");
    for key in KEYS {
        let default = key.default_value().to_string();
        assert!(
            SHIPPED.contains(&format!("Default {default}")) || matches!(key.kind, Kind::Modules | Kind::Path),
            "{key:?}"
        );
    }
}

#[test]
fn every_key_is_read() {
    let text = "\
[General]
Enabled = 0
Backend = mimalloc
LogLevel = debug
[Hooks]
ImportHooks = 0
ExcludeModules = A.dll, b.DLL ,,c.dll
RuntimeSafetyNet = 0
[GameHeap]
Enabled = 0
StaticCrt = 0
DisableVanillaHeaps = 0
AtLoad = plugin
Profile = profiles/FalloutNV-custom.toml
FreeDelayFrames = 0
FreeDelayMiB = 200
[Heap]
SpanMapCount = 64
TouchPages = 1
EmergencyReserveMiB = 0
[Stats]
LogIntervalSeconds = 30
CsvIntervalSeconds = 5
[Debug]
LeakTracking = 1
LeakTableSize = 4096
GuardPages = 1
GuardMaxSize = 256
GuardQuarantine = 10
GuardBudgetMiB = 16
";
    let parsed = parse(text.as_bytes());
    assert_eq!(parsed.problems, []);
    assert_eq!(
        parsed.settings,
        Settings {
            enabled: false,
            backend: Backend::Mimalloc,
            log_level: LogLevel::Debug,
            import_hooks: false,
            runtime_safety_net: false,
            exclude_modules: vec!["a.dll".into(), "b.dll".into(), "c.dll".into()],
            span_map_count: 64,
            touch_pages: true,
            emergency_reserve_mib: 0,
            log_interval_seconds: 30,
            csv_interval_seconds: 5,
            leak_tracking: true,
            leak_table_size: 4096,
            guard_pages: true,
            guard_max_size: 256,
            guard_quarantine: 10,
            guard_budget_mib: 16,
            game_heap: false,
            static_crt: false,
            disable_vanilla_heaps: false,
            game_heap_at_load: AtLoad::Plugin,
            game_profile: "profiles/FalloutNV-custom.toml".into(),
            free_delay_frames: 0,
            free_delay_mib: 200,
        }
    );
}

#[test]
fn a_profile_path_stays_in_the_plugin_folder() {
    for bad in ["C:\\Games\\x.toml", "\\x.toml", "/x.toml", "..\\x.toml", "a/../../x.toml"] {
        let parsed = parse(format!("[GameHeap]\nProfile = {bad}\n").as_bytes());
        assert_eq!(parsed.problems.len(), 1, "{bad}");
        assert!(parsed.problems[0].message.contains("a file in the plugin's folder or below it"), "{bad}");
        assert_eq!(parsed.settings.game_profile, "");
    }
    let parsed = parse(b"[GameHeap]\nProfile = game.toml\n");
    assert_eq!(parsed.settings.game_profile, "game.toml");
}

#[test]
fn names_are_case_insensitive_and_values_may_be_quoted_or_commented() {
    let parsed = parse(b"[general]\r\nbackend=\"MiMalloc\" ; the other one\r\n[HEAP]\r\nspanmapcount = 8;\r\n");
    assert_eq!(parsed.problems, []);
    assert_eq!(parsed.settings.backend, Backend::Mimalloc);
    assert_eq!(parsed.settings.span_map_count, 8);
}

#[test]
fn an_empty_file_and_a_byte_order_mark_give_the_defaults() {
    assert_eq!(parse(b"").settings, Settings::default());
    let parsed = parse(b"\xEF\xBB\xBF[General]\nLogLevel = warn\n");
    assert_eq!(parsed.problems, []);
    assert_eq!(parsed.settings.log_level, LogLevel::Warn);
}

#[test]
fn a_mistyped_key_is_named_with_the_nearest_one() {
    assert_eq!(
        problems("[General]\nBackned = mimalloc\n"),
        ["line 2: [General] Backned = \"mimalloc\": no such key (did you mean Backend?); ignored"]
    );
    assert_eq!(problems("[Heap]\nFrobnicate = 1\n"), ["line 2: [Heap] Frobnicate = \"1\": no such key; ignored"]);
}

#[test]
fn a_key_in_the_wrong_section_is_sent_home() {
    assert_eq!(
        problems("[General]\nSpanMapCount = 8\n"),
        ["line 2: [General] SpanMapCount = \"8\": SpanMapCount belongs in [Heap]; ignored"]
    );
    assert_eq!(
        problems("Enabled = 0\n[General]\n"),
        ["line 1: Enabled = \"0\": not under any [Section] (it belongs in [General]); ignored"]
    );
}

#[test]
fn an_unknown_section_is_named_once_and_its_keys_ignored() {
    let parsed = parse(b"[Heep]\nSpanMapCount = 8\nTouchPages = 1\n[Stats]\nLogIntervalSeconds = 5\n");
    let problems: Vec<String> = parsed.problems.iter().map(ToString::to_string).collect();
    assert_eq!(problems, ["line 1: [Heep]: no such section (did you mean [Heap]?); the keys under it are ignored"]);
    assert_eq!(parsed.settings.span_map_count, 1);
    assert_eq!(parsed.settings.log_interval_seconds, 5);
}

#[test]
fn wrong_values_say_what_is_allowed_and_what_is_used() {
    let text = "\
[General]
Enabled = yes
Backend = jemalloc
LogLevel =
[Heap]
SpanMapCount = 0
TouchPages = 2
[Stats]
LogIntervalSeconds = -5
CsvIntervalSeconds = 3601
[Debug]
LeakTableSize = 99999999999
[Hooks]
ExcludeModules = C:\\Games\\evil.dll
";
    let parsed = parse(text.as_bytes());
    assert_eq!(parsed.settings, Settings::default());
    let problems: Vec<String> = parsed.problems.iter().map(ToString::to_string).collect();
    assert_eq!(
        problems,
        [
            "line 2: [General] Enabled = \"yes\": expected 0 or 1; using 1 (the default)",
            "line 3: [General] Backend = \"jemalloc\": expected one of rpmalloc, mimalloc, passthrough; using rpmalloc (the default)",
            "line 4: [General] LogLevel = \"\": expected one of error, warn, info, debug; using info (the default)",
            "line 6: [Heap] SpanMapCount = \"0\": expected a whole number from 1 to 256; using 1 (the default)",
            "line 7: [Heap] TouchPages = \"2\": expected 0 or 1; using 0 (the default)",
            "line 9: [Stats] LogIntervalSeconds = \"-5\": expected a whole number from 0 to 86400; using 0 (the default)",
            "line 10: [Stats] CsvIntervalSeconds = \"3601\": expected a whole number from 0 to 3600; using 0 (the default)",
            "line 12: [Debug] LeakTableSize = \"99999999999\": expected a whole number from 1024 to 1048576; using 32768 (the default)",
            "line 14: [Hooks] ExcludeModules = \"C:\\\\Games\\\\evil.dll\": expected file names separated by commas, like a.dll, b.dll; using (none) (the default)",
        ]
    );
}

#[test]
fn at_load_is_vanilla_or_plugin_and_anything_else_the_default() {
    let parsed = parse(b"[GameHeap]\nAtLoad = Plugin\n");
    assert_eq!((parsed.problems.len(), parsed.settings.game_heap_at_load), (0, AtLoad::Plugin));
    assert_eq!(AtLoad::Plugin.name(), "plugin");
    for bad in ["overflow", "1", "yes", "", "vanilla plugin"] {
        let parsed = parse(format!("[GameHeap]\nAtLoad = {bad}\n").as_bytes());
        assert_eq!(parsed.settings.game_heap_at_load, AtLoad::Vanilla, "{bad}");
        let problems: Vec<String> = parsed.problems.iter().map(ToString::to_string).collect();
        assert_eq!(
            problems,
            [format!(
                "line 2: [GameHeap] AtLoad = \"{bad}\": expected one of vanilla, plugin; using vanilla (the default)"
            )],
        );
    }
}

#[test]
fn a_duplicated_key_keeps_the_first_value() {
    let parsed = parse(b"[General]\nLogLevel = warn\nLogLevel = debug\n");
    assert_eq!(parsed.settings.log_level, LogLevel::Warn);
    let problems: Vec<String> = parsed.problems.iter().map(ToString::to_string).collect();
    assert_eq!(problems, ["line 3: [General] LogLevel = \"debug\": already set on line 2; keeping warn"]);
}

#[test]
fn malformed_lines_are_named() {
    assert_eq!(
        problems("[General\nEnabled = 0\njust some words\n[Stats]\n"),
        [
            "line 1: \"[General\": a section header needs its closing ]; it and the keys under it are ignored",
            "line 3: \"just some words\": not a [Section] header nor a Key = value line; ignored",
        ]
    );
}

#[test]
fn a_line_that_is_not_utf8_is_ignored_and_the_others_count_on() {
    let parsed = parse(b"[General]\r\nLogLevel = \xFF\xFE\r\nBackend = mimalloc\r\n\xC0\n[Heap]\nSpanMapCount = 4\n");
    let problems: Vec<String> = parsed.problems.iter().map(ToString::to_string).collect();
    assert_eq!(
        problems,
        ["line 2: not valid UTF-8; the line is ignored", "line 4: not valid UTF-8; the line is ignored"]
    );
    assert_eq!(parsed.settings.backend, Backend::Mimalloc);
    assert_eq!(parsed.settings.span_map_count, 4);
    assert_eq!(parsed.settings.log_level, LogLevel::Info);
}

#[test]
fn settings_are_described_one_section_a_line_with_changes_marked() {
    let settings = Settings { span_map_count: 32, backend: Backend::Mimalloc, ..Settings::default() };
    assert_eq!(
        config::describe(&settings),
        [
            "[General] Enabled=1 Backend=mimalloc* LogLevel=info",
            "[Hooks] ImportHooks=1 ExcludeModules=(none) RuntimeSafetyNet=1",
            "[GameHeap] Enabled=1 StaticCrt=1 DisableVanillaHeaps=1 AtLoad=vanilla Profile=(built in) FreeDelayFrames=30 \
             FreeDelayMiB=32",
            "[Heap] SpanMapCount=32* TouchPages=0 EmergencyReserveMiB=64",
            "[Stats] LogIntervalSeconds=0 CsvIntervalSeconds=0",
            "[Debug] LeakTracking=0 LeakTableSize=32768 GuardPages=0 GuardMaxSize=4096 GuardQuarantine=4096 \
             GuardBudgetMiB=128",
        ]
    );
}
