//! The NVSE plugin ABI for Fallout: New Vegas (x86), as `#[repr(C)]` types.
//!
//! Both sides of the ABI live in this workspace: the plugin implements the
//! exports, and the NVSE stand-in used by the end-to-end tests implements the
//! interfaces NVSE hands out. Keeping one definition for both means a layout
//! mistake shows up as a failing test rather than as a crash in the game.
//!
//! Every struct here consists of 4-byte fields on x86, so `#[repr(C)]` matches
//! MSVC's layout with no padding. The sizes are asserted below for 32-bit
//! targets. All function pointers are `cdecl` (`extern "C"`), as in NVSE.
#![no_std]

use core::ffi::{c_char, c_void};

/// A plugin handle; 0 is NVSE itself.
pub type PluginHandle = u32;
/// `kPluginHandle_Invalid`.
pub const INVALID_PLUGIN_HANDLE: PluginHandle = 0xFFFF_FFFF;

/// `MAKE_NEW_VEGAS_VERSION_EX`: the leading `1.` of the game version is dropped.
pub const fn make_version(major: u32, minor: u32, build: u32, sub: u32) -> u32 {
    ((major & 0xFF) << 24) | ((minor & 0xFF) << 16) | ((build & 0xFFF) << 4) | (sub & 0xF)
}

/// Fallout: New Vegas 1.4.0.525, the only runtime xNVSE supports.
pub const RUNTIME_VERSION_1_4_0_525: u32 = make_version(4, 0, 525, 0);
/// The German "no gore" build of the same runtime (rejected by xNVSE's loader).
pub const RUNTIME_VERSION_1_4_0_525_NOGORE: u32 = make_version(4, 0, 525, 1);
/// GECK 1.4.0.518.
pub const EDITOR_VERSION_1_4_0_518: u32 = make_version(4, 0, 518, 0);

/// Splits a packed version into `(major, minor, build, sub)` for log lines.
pub const fn split_version(v: u32) -> (u32, u32, u32, u32) {
    (v >> 24, (v >> 16) & 0xFF, (v >> 4) & 0xFFF, v & 0xF)
}

/// `PluginInfo`, filled by `NVSEPlugin_Query`. NVSE keeps a copy of it, so
/// `name` must point at a string that lives as long as the process.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct PluginInfo {
    pub info_version: u32,
    pub name: *const c_char,
    pub version: u32,
}

impl PluginInfo {
    /// `PluginInfo::kInfoVersion`.
    pub const INFO_VERSION: u32 = 1;
}

/// `NVSEInterface`, the table NVSE passes to Query and Load (0x34 bytes).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct NVSEInterface {
    pub nvse_version: u32,
    /// 0 in the editor.
    pub runtime_version: u32,
    /// 0 at runtime.
    pub editor_version: u32,
    /// 0 at runtime, 1 in the GECK.
    pub is_editor: u32,
    pub register_command: Option<unsafe extern "C" fn(*mut c_void) -> bool>,
    pub set_opcode_base: Option<unsafe extern "C" fn(u32)>,
    pub query_interface: Option<unsafe extern "C" fn(u32) -> *mut c_void>,
    /// Only valid inside Query and Load.
    pub get_plugin_handle: Option<unsafe extern "C" fn() -> PluginHandle>,
    pub register_typed_command: Option<unsafe extern "C" fn(*mut c_void, u32) -> bool>,
    /// The game's folder, with a trailing backslash.
    pub get_runtime_directory: Option<unsafe extern "C" fn() -> *const c_char>,
    pub is_nogore: u32,
    pub init_expression_evaluator_utils: Option<unsafe extern "C" fn(*mut c_void)>,
    pub register_typed_command_version: Option<unsafe extern "C" fn(*mut c_void, u32, u32) -> bool>,
}

/// `QueryInterface` ids.
pub mod interface {
    pub const SERIALIZATION: u32 = 0;
    pub const CONSOLE: u32 = 1;
    pub const MESSAGING: u32 = 2;
    pub const COMMAND_TABLE: u32 = 3;
    pub const LOGGING: u32 = 9;
}

/// A message NVSE (or another plugin) sends to a listener.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct Message {
    pub sender: *const c_char,
    pub kind: u32,
    pub data_len: u32,
    pub data: *mut c_void,
}

/// `NVSEMessagingInterface::EventCallback`.
pub type EventCallback = unsafe extern "C" fn(*mut Message);

/// `NVSEMessagingInterface` (version 4).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct MessagingInterface {
    pub version: u32,
    pub register_listener: Option<unsafe extern "C" fn(PluginHandle, *const c_char, Option<EventCallback>) -> bool>,
    pub dispatch: Option<unsafe extern "C" fn(PluginHandle, u32, *mut c_void, u32, *const c_char) -> bool>,
}

impl MessagingInterface {
    pub const VERSION: u32 = 4;
}

/// NVSE's message types (`NVSEMessagingInterface` enum), in their numeric order.
pub mod msg {
    pub const POST_LOAD: u32 = 0;
    pub const EXIT_GAME: u32 = 1;
    pub const EXIT_TO_MAIN_MENU: u32 = 2;
    pub const LOAD_GAME: u32 = 3;
    pub const SAVE_GAME: u32 = 4;
    pub const SCRIPT_PRECOMPILE: u32 = 5;
    pub const PRE_LOAD_GAME: u32 = 6;
    pub const EXIT_GAME_CONSOLE: u32 = 7;
    pub const POST_LOAD_GAME: u32 = 8;
    pub const POST_POST_LOAD: u32 = 9;
    pub const RUNTIME_SCRIPT_ERROR: u32 = 10;
    pub const DELETE_GAME: u32 = 11;
    pub const RENAME_GAME: u32 = 12;
    pub const RENAME_NEW_GAME: u32 = 13;
    pub const NEW_GAME: u32 = 14;
    pub const DELETE_GAME_NAME: u32 = 15;
    pub const RENAME_GAME_NAME: u32 = 16;
    pub const RENAME_NEW_GAME_NAME: u32 = 17;
    pub const DEFERRED_INIT: u32 = 18;
    pub const CLEAR_SCRIPT_DATA_CACHE: u32 = 19;
    pub const MAIN_GAME_LOOP: u32 = 20;
    pub const SCRIPT_COMPILE: u32 = 21;
    pub const EVENT_LIST_DESTROYED: u32 = 22;
    pub const POST_QUERY_PLUGINS: u32 = 23;

    /// The name NVSE uses for a message type, for log lines.
    pub const fn name(kind: u32) -> &'static str {
        match kind {
            POST_LOAD => "PostLoad",
            EXIT_GAME => "ExitGame",
            EXIT_TO_MAIN_MENU => "ExitToMainMenu",
            LOAD_GAME => "LoadGame",
            SAVE_GAME => "SaveGame",
            SCRIPT_PRECOMPILE => "ScriptPrecompile",
            PRE_LOAD_GAME => "PreLoadGame",
            EXIT_GAME_CONSOLE => "ExitGame_Console",
            POST_LOAD_GAME => "PostLoadGame",
            POST_POST_LOAD => "PostPostLoad",
            RUNTIME_SCRIPT_ERROR => "RuntimeScriptError",
            DELETE_GAME => "DeleteGame",
            RENAME_GAME => "RenameGame",
            RENAME_NEW_GAME => "RenameNewGame",
            NEW_GAME => "NewGame",
            DELETE_GAME_NAME => "DeleteGameName",
            RENAME_GAME_NAME => "RenameGameName",
            RENAME_NEW_GAME_NAME => "RenameNewGameName",
            DEFERRED_INIT => "DeferredInit",
            CLEAR_SCRIPT_DATA_CACHE => "ClearScriptDataCache",
            MAIN_GAME_LOOP => "MainGameLoop",
            SCRIPT_COMPILE => "ScriptCompile",
            EVENT_LIST_DESTROYED => "EventListDestroyed",
            POST_QUERY_PLUGINS => "PostQueryPlugins",
            _ => "(other)",
        }
    }
}

/// The exported entry points, with the exact names NVSE passes to `GetProcAddress`.
pub mod exports {
    pub const QUERY: &str = "NVSEPlugin_Query";
    pub const LOAD: &str = "NVSEPlugin_Load";
    pub const PRELOAD: &str = "NVSEPlugin_Preload";
    /// NVSE skips a DLL with more named exports than this.
    pub const MAX_NAMED_EXPORTS: usize = 50;
}

/// `bool NVSEPlugin_Query(const NVSEInterface*, PluginInfo*)`.
pub type QueryFn = unsafe extern "C" fn(*const NVSEInterface, *mut PluginInfo) -> bool;
/// `bool NVSEPlugin_Load(const NVSEInterface*)`.
pub type LoadFn = unsafe extern "C" fn(*const NVSEInterface) -> bool;
/// `bool NVSEPlugin_Preload(void)`.
pub type PreloadFn = unsafe extern "C" fn() -> bool;

#[cfg(target_pointer_width = "32")]
const _: () = {
    assert!(core::mem::size_of::<PluginInfo>() == 12);
    assert!(core::mem::size_of::<NVSEInterface>() == 0x34);
    assert!(core::mem::offset_of!(NVSEInterface, query_interface) == 0x18);
    assert!(core::mem::offset_of!(NVSEInterface, get_plugin_handle) == 0x1C);
    assert!(core::mem::offset_of!(NVSEInterface, is_nogore) == 0x28);
    assert!(core::mem::size_of::<MessagingInterface>() == 12);
    assert!(core::mem::size_of::<Message>() == 16);
    assert!(core::mem::offset_of!(Message, data) == 0x0C);
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_version_matches_nvse_constant() {
        assert_eq!(RUNTIME_VERSION_1_4_0_525, 0x040020D0);
        assert_eq!(RUNTIME_VERSION_1_4_0_525_NOGORE, 0x040020D1);
        assert_eq!(EDITOR_VERSION_1_4_0_518, 0x04002060);
        assert_eq!(split_version(0x040020D0), (4, 0, 525, 0));
    }

    #[test]
    fn message_names_follow_nvse_numbering() {
        assert_eq!(msg::name(0), "PostLoad");
        assert_eq!(msg::name(7), "ExitGame_Console");
        assert_eq!(msg::name(9), "PostPostLoad");
        assert_eq!(msg::name(18), "DeferredInit");
        assert_eq!(msg::name(23), "PostQueryPlugins");
        assert_eq!(msg::name(99), "(other)");
    }
}
