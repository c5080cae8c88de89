//! Every key of `MemoryPoolNVSE.ini`: its section, name, kind, default and
//! range, and where it lands in [`Settings`].

use core::fmt;

/// The allocator serving the heap (`[General] Backend`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Rpmalloc,
    Mimalloc,
    Passthrough,
}

/// The least serious log line written (`[General] LogLevel`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

/// What serves the game heap when the plugin is loaded late, at Load
/// (`[GameHeap] AtLoad`): by then the vanilla heaps hold their address space.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AtLoad {
    /// The vanilla heaps, which already hold the address space.
    Vanilla,
    /// The plugin: every new block of the game heap.
    Plugin,
}

/// Everything the file sets: the plugin's settings for one session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    pub enabled: bool,
    pub backend: Backend,
    pub log_level: LogLevel,
    pub import_hooks: bool,
    pub runtime_safety_net: bool,
    /// File names, lower case.
    pub exclude_modules: Vec<String>,
    pub span_map_count: u32,
    pub touch_pages: bool,
    /// MiB of address space set aside and given back when the heap runs out.
    pub emergency_reserve_mib: u32,
    pub log_interval_seconds: u32,
    pub csv_interval_seconds: u32,
    pub leak_tracking: bool,
    pub leak_table_size: u32,
    pub guard_pages: bool,
    pub guard_max_size: u32,
    pub guard_quarantine: u32,
    pub guard_budget_mib: u32,
    pub game_heap: bool,
    pub static_crt: bool,
    pub disable_vanilla_heaps: bool,
    pub game_heap_at_load: AtLoad,
    /// A profile file relative to the plugin's folder; empty: the built-in one.
    pub game_profile: String,
    /// Frames a block freed through the game heap waits before reuse.
    pub free_delay_frames: u32,
    /// MiB of such blocks waiting at most; 0: no delay.
    pub free_delay_mib: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            enabled: true,
            backend: Backend::Rpmalloc,
            log_level: LogLevel::Info,
            import_hooks: true,
            runtime_safety_net: true,
            exclude_modules: Vec::new(),
            span_map_count: 1,
            touch_pages: false,
            emergency_reserve_mib: 64,
            log_interval_seconds: 0,
            csv_interval_seconds: 0,
            leak_tracking: false,
            leak_table_size: 32_768,
            guard_pages: false,
            guard_max_size: 4096,
            guard_quarantine: 4096,
            guard_budget_mib: 128,
            game_heap: true,
            static_crt: true,
            disable_vanilla_heaps: true,
            game_heap_at_load: AtLoad::Vanilla,
            game_profile: String::new(),
            free_delay_frames: 30,
            free_delay_mib: 32,
        }
    }
}

/// What a key holds, and what it accepts.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    /// `0` or `1`.
    Switch,
    /// A whole number in `min..=max`.
    Number { min: u32, max: u32 },
    /// One of these names (any case).
    Choice(&'static [&'static str]),
    /// Comma-separated module file names.
    Modules,
    /// A file's path relative to the plugin's folder, or nothing.
    Path,
}

/// A key's value, as read or as in force.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Switch(bool),
    Number(u32),
    Choice(&'static str),
    Modules(Vec<String>),
    Path(String),
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Switch(on) => f.write_str(if *on { "1" } else { "0" }),
            Value::Number(n) => write!(f, "{n}"),
            Value::Choice(name) => f.write_str(name),
            Value::Modules(names) if names.is_empty() => f.write_str("(none)"),
            Value::Modules(names) => f.write_str(&names.join(", ")),
            Value::Path(path) if path.is_empty() => f.write_str("(built in)"),
            Value::Path(path) => f.write_str(path),
        }
    }
}

/// One key of the file.
pub struct Key {
    pub section: &'static str,
    pub name: &'static str,
    pub kind: Kind,
    get: fn(&Settings) -> Value,
    set: fn(&mut Settings, Value),
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] {}", self.section, self.name)
    }
}

/// Keys are the entries of [`KEYS`]: one is equal only to itself.
impl PartialEq for Key {
    fn eq(&self, other: &Key) -> bool {
        core::ptr::eq(self, other)
    }
}

impl Eq for Key {}

impl Key {
    /// The key's value in `settings`.
    pub fn get(&self, settings: &Settings) -> Value {
        (self.get)(settings)
    }

    /// Stores a value of this key's kind (checked by the parser).
    pub(crate) fn set(&self, settings: &mut Settings, value: Value) {
        (self.set)(settings, value)
    }

    /// The key's default value.
    pub fn default_value(&self) -> Value {
        self.get(&Settings::default())
    }
}

/// A key whose value is one of a few names.
trait Named: Sized + Copy + PartialEq + 'static {
    /// Every value, in the order the file lists them.
    const ALL: &'static [Self];
    /// Their names, in the same order.
    const NAMES: &'static [&'static str];

    fn name(self) -> &'static str {
        let index = Self::ALL.iter().position(|&v| v == self).unwrap_or(0);
        Self::NAMES[index]
    }

    fn from_name(name: &str) -> Option<Self> {
        Self::NAMES.iter().position(|n| *n == name).map(|i| Self::ALL[i])
    }
}

impl Named for Backend {
    const ALL: &'static [Backend] = &[Backend::Rpmalloc, Backend::Mimalloc, Backend::Passthrough];
    const NAMES: &'static [&'static str] = &["rpmalloc", "mimalloc", "passthrough"];
}

impl Named for LogLevel {
    const ALL: &'static [LogLevel] = &[LogLevel::Error, LogLevel::Warn, LogLevel::Info, LogLevel::Debug];
    const NAMES: &'static [&'static str] = &["error", "warn", "info", "debug"];
}

impl Named for AtLoad {
    const ALL: &'static [AtLoad] = &[AtLoad::Vanilla, AtLoad::Plugin];
    const NAMES: &'static [&'static str] = &["vanilla", "plugin"];
}

impl AtLoad {
    /// The name the file and the log use.
    pub fn name(self) -> &'static str {
        Named::name(self)
    }
}

impl Backend {
    /// The name the file and the log use.
    pub fn name(self) -> &'static str {
        Named::name(self)
    }
}

impl LogLevel {
    /// The name the file uses.
    pub fn name(self) -> &'static str {
        Named::name(self)
    }
}

/// Declares a key whose [`Settings`] field holds `$variant`'s payload.
macro_rules! key {
    ($section:literal, $name:literal, $kind:expr, $field:ident: Switch) => {
        key!(@ $section, $name, $kind, |s| Value::Switch(s.$field), |s, v| if let Value::Switch(x) = v { s.$field = x })
    };
    ($section:literal, $name:literal, $kind:expr, $field:ident: Number) => {
        key!(@ $section, $name, $kind, |s| Value::Number(s.$field), |s, v| if let Value::Number(x) = v { s.$field = x })
    };
    ($section:literal, $name:literal, $field:ident: Choice<$ty:ty>) => {
        key!(@ $section, $name, Kind::Choice(<$ty as Named>::NAMES), |s| Value::Choice(Named::name(s.$field)), |s, v| {
            if let Some(x) = (if let Value::Choice(n) = v { <$ty as Named>::from_name(n) } else { None }) {
                s.$field = x
            }
        })
    };
    ($section:literal, $name:literal, $kind:expr, $field:ident: Modules) => {
        key!(@ $section, $name, $kind, |s| Value::Modules(s.$field.clone()), |s, v| if let Value::Modules(x) = v {
            s.$field = x
        })
    };
    ($section:literal, $name:literal, $kind:expr, $field:ident: Path) => {
        key!(@ $section, $name, $kind, |s| Value::Path(s.$field.clone()), |s, v| if let Value::Path(x) = v {
            s.$field = x
        })
    };
    (@ $section:literal, $name:literal, $kind:expr, $get:expr, $set:expr) => {
        Key { section: $section, name: $name, kind: $kind, get: $get, set: $set }
    };
}

/// Every key, in the order the shipped file and the log list them.
pub static KEYS: &[Key] = &[
    key!("General", "Enabled", Kind::Switch, enabled: Switch),
    key!("General", "Backend", backend: Choice<Backend>),
    key!("General", "LogLevel", log_level: Choice<LogLevel>),
    key!("Hooks", "ImportHooks", Kind::Switch, import_hooks: Switch),
    key!("Hooks", "ExcludeModules", Kind::Modules, exclude_modules: Modules),
    key!("Hooks", "RuntimeSafetyNet", Kind::Switch, runtime_safety_net: Switch),
    key!("GameHeap", "Enabled", Kind::Switch, game_heap: Switch),
    key!("GameHeap", "StaticCrt", Kind::Switch, static_crt: Switch),
    key!("GameHeap", "DisableVanillaHeaps", Kind::Switch, disable_vanilla_heaps: Switch),
    key!("GameHeap", "AtLoad", game_heap_at_load: Choice<AtLoad>),
    key!("GameHeap", "Profile", Kind::Path, game_profile: Path),
    key!("GameHeap", "FreeDelayFrames", Kind::Number { min: 0, max: 600 }, free_delay_frames: Number),
    key!("GameHeap", "FreeDelayMiB", Kind::Number { min: 0, max: 256 }, free_delay_mib: Number),
    key!("Heap", "SpanMapCount", Kind::Number { min: 1, max: 256 }, span_map_count: Number),
    key!("Heap", "TouchPages", Kind::Switch, touch_pages: Switch),
    key!("Heap", "EmergencyReserveMiB", Kind::Number { min: 0, max: 512 }, emergency_reserve_mib: Number),
    key!("Stats", "LogIntervalSeconds", Kind::Number { min: 0, max: 86_400 }, log_interval_seconds: Number),
    key!("Stats", "CsvIntervalSeconds", Kind::Number { min: 0, max: 3600 }, csv_interval_seconds: Number),
    key!("Debug", "LeakTracking", Kind::Switch, leak_tracking: Switch),
    key!("Debug", "LeakTableSize", Kind::Number { min: 1024, max: 1 << 20 }, leak_table_size: Number),
    key!("Debug", "GuardPages", Kind::Switch, guard_pages: Switch),
    key!("Debug", "GuardMaxSize", Kind::Number { min: 1, max: 1 << 20 }, guard_max_size: Number),
    key!("Debug", "GuardQuarantine", Kind::Number { min: 0, max: 1 << 20 }, guard_quarantine: Number),
    key!("Debug", "GuardBudgetMiB", Kind::Number { min: 1, max: 1024 }, guard_budget_mib: Number),
];

/// The sections, in order.
pub fn sections() -> impl Iterator<Item = &'static str> {
    let mut last = "";
    KEYS.iter().map(|key| key.section).filter(move |&section| section != core::mem::replace(&mut last, section))
}

/// The key `name` of `section` (any case).
pub fn find(section: &str, name: &str) -> Option<&'static Key> {
    KEYS.iter().find(|key| key.section.eq_ignore_ascii_case(section) && key.name.eq_ignore_ascii_case(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_reads_back_what_it_stores() {
        for key in KEYS {
            let mut settings = Settings::default();
            let value = match key.kind {
                Kind::Switch => Value::Switch(!matches!(key.default_value(), Value::Switch(true))),
                Kind::Number { max, .. } => Value::Number(max),
                Kind::Choice(names) => Value::Choice(names[names.len() - 1]),
                Kind::Modules => Value::Modules(vec!["a.dll".into()]),
                Kind::Path => Value::Path("profiles\\game.toml".into()),
            };
            assert_ne!(value, key.default_value(), "{}", key.name);
            key.set(&mut settings, value.clone());
            assert_eq!(key.get(&settings), value, "{}", key.name);
        }
    }

    #[test]
    fn sections_are_listed_once_in_order() {
        assert_eq!(sections().collect::<Vec<_>>(), ["General", "Hooks", "GameHeap", "Heap", "Stats", "Debug"]);
    }

    #[test]
    fn defaults_are_in_range() {
        for key in KEYS {
            match (key.kind, key.default_value()) {
                (Kind::Number { min, max }, Value::Number(n)) => assert!((min..=max).contains(&n), "{}", key.name),
                (Kind::Choice(names), Value::Choice(name)) => assert!(names.contains(&name), "{}", key.name),
                (Kind::Switch, Value::Switch(_))
                | (Kind::Modules, Value::Modules(_))
                | (Kind::Path, Value::Path(_)) => {}
                (kind, value) => panic!("{}: {kind:?} holds {value:?}", key.name),
            }
        }
    }
}
