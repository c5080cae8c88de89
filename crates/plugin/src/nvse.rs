//! The NVSE side of the plugin: the three exports and the message listeners.
//!
//! NVSE calls, in order (see `nvse-abi` for the layouts):
//! 1. `NVSEPlugin_Preload`, from xNVSE's loader before the game's static
//!    initialisers run, so before the game heap exists;
//! 2. `NVSEPlugin_Query`, then `NVSEPlugin_Load`, from inside NVSE's `DllMain`
//!    (the loader lock is held: nothing here may wait for another thread);
//! 3. messages: PostLoad and PostPostLoad (still inside `DllMain`), DeferredInit
//!    at the main menu, and ExitGame / ExitToMainMenu / ExitGame_Console when
//!    the player quits, after which nothing is guaranteed to run; and any
//!    plugin's messages, for the C API's statistics query (see [`crate::api`]).

use core::ffi::CStr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Once;

use nvse_abi::{interface, msg, split_version, Message, MessagingInterface, NVSEInterface, PluginInfo};

use crate::log::{error, info, warning};
use crate::{allocator, api, csv, game, imports, log, module, periodic, settings};

/// The name NVSE shows for this plugin.
const NAME: &CStr = c"MemoryPoolNVSE";

/// `PluginInfo::version`: major * 10000 + minor * 100 + patch.
pub const VERSION: u32 = parse_u32(env!("CARGO_PKG_VERSION_MAJOR")) * 10_000
    + parse_u32(env!("CARGO_PKG_VERSION_MINOR")) * 100
    + parse_u32(env!("CARGO_PKG_VERSION_PATCH"));

const fn parse_u32(digits: &str) -> u32 {
    let bytes = digits.as_bytes();
    let mut value = 0;
    let mut i = 0;
    while i < bytes.len() {
        value = value * 10 + (bytes[i] - b'0') as u32;
        i += 1;
    }
    value
}

/// The only runtime whose memory layout this plugin knows.
const SUPPORTED_RUNTIME: u32 = nvse_abi::RUNTIME_VERSION_1_4_0_525;

#[no_mangle]
pub extern "C" fn NVSEPlugin_Preload() -> bool {
    guarded("Preload", false, || {
        start_logging();
        info!("Preload: called by xNVSE before the game's static initialisers");
        if allocator::start("Preload") {
            imports::install("Preload");
            game::install(game_hooks::Moment::Preload);
        }
        true
    })
}

/// # Safety
/// NVSE passes valid pointers or null; null is reported and declined.
#[no_mangle]
pub unsafe extern "C" fn NVSEPlugin_Query(nvse: *const NVSEInterface, info: *mut PluginInfo) -> bool {
    guarded("Query", false, || {
        start_logging();
        // SAFETY: NVSE passes a writable PluginInfo or null.
        if let Some(info) = unsafe { info.as_mut() } {
            *info = PluginInfo { info_version: PluginInfo::INFO_VERSION, name: NAME.as_ptr(), version: VERSION };
        }
        // SAFETY: NVSE passes its static interface table or null.
        let Some(nvse) = (unsafe { nvse.as_ref() }) else {
            error!("Query: NVSE passed no interface; declined");
            return false;
        };
        query(nvse, !info.is_null())
    })
}

fn query(nvse: &NVSEInterface, has_info: bool) -> bool {
    let (major, minor, beta, _) = split_version(nvse.nvse_version);
    info!("Query: NVSE {major}.{minor}.{beta}, runtime {}, editor {}", Version(nvse.runtime_version), nvse.is_editor);
    if !has_info {
        error!("Query: NVSE passed no PluginInfo; declined");
        return false;
    }
    if nvse.is_editor != 0 {
        info!(
            "Query: declined: running in the GECK (editor {}); the plugin only works in the game",
            Version(nvse.editor_version)
        );
        return false;
    }
    if nvse.runtime_version != SUPPORTED_RUNTIME {
        warning!(
            "Query: declined: unsupported game runtime {} (0x{:08X}); this plugin needs Fallout: New Vegas {} (0x{:08X})",
            Version(nvse.runtime_version),
            nvse.runtime_version,
            Version(SUPPORTED_RUNTIME),
            SUPPORTED_RUNTIME
        );
        return false;
    }
    info!("Query: accepted");
    true
}

/// # Safety
/// NVSE passes its interface table or null.
#[no_mangle]
pub unsafe extern "C" fn NVSEPlugin_Load(nvse: *const NVSEInterface) -> bool {
    guarded("Load", true, || {
        // SAFETY: NVSE passes its static interface table or null.
        match unsafe { nvse.as_ref() } {
            Some(nvse) => load(nvse),
            None => error!("Load: NVSE passed no interface; no messages will be received"),
        }
        // Failing Load would shift every later plugin's handle (NVSE counts them
        // before it knows the outcome), so problems are logged, never returned.
        true
    })
}

fn load(nvse: &NVSEInterface) {
    if !module::pin() {
        warning!("Load: could not pin the DLL in memory");
    }
    if allocator::start("Load") {
        imports::install("Load");
        game::install(game_hooks::Moment::Load);
    }
    let Some(messaging) = messaging(nvse) else {
        warning!("Load: NVSE has no messaging interface; no messages will be received");
        return;
    };
    let handle = nvse.get_plugin_handle.map_or(nvse_abi::INVALID_PLUGIN_HANDLE, |get| {
        // SAFETY: NVSE's GetPluginHandle takes no arguments and is valid inside Load.
        unsafe { get() }
    });
    let Some(register) = messaging.register_listener else {
        warning!("Load: NVSE's messaging interface cannot register listeners; no messages will be received");
        return;
    };
    // SAFETY: a cdecl function of NVSE; the sender string and the callback are static.
    if unsafe { register(handle, c"NVSE".as_ptr(), Some(on_message)) } {
        info!("Load: listening to NVSE's messages (plugin handle {handle}, messaging v{})", messaging.version);
    } else {
        warning!("Load: NVSE refused the message listener (plugin handle {handle})");
    }
    // A null sender: every plugin's messages but NVSE's, which the listener
    // above takes (the types overlap).
    // SAFETY: as above; a null sender is NVSE's "every plugin".
    if unsafe { register(handle, core::ptr::null(), Some(on_plugin_message)) } {
        info!("Load: answering other plugins' statistics queries (message 0x{:08X})", api::MESSAGE_STATS);
    } else {
        warning!("Load: NVSE refused the listener for other plugins; MemoryPoolNVSE_GetStats still answers");
    }
}

fn messaging(nvse: &NVSEInterface) -> Option<&'static MessagingInterface> {
    let query = nvse.query_interface?;
    // SAFETY: QueryInterface takes an id and returns a static interface or null.
    let ptr = unsafe { query(interface::MESSAGING) } as *const MessagingInterface;
    // SAFETY: NVSE's interfaces are statics that live as long as the process.
    unsafe { ptr.as_ref() }
}

/// NVSE's message listener.
unsafe extern "C" fn on_message(message: *mut Message) {
    guarded("message", (), || {
        // SAFETY: NVSE passes a valid message for the duration of the call, or null.
        let Some(message) = (unsafe { message.as_ref() }) else { return };
        handle_message(message.kind);
    })
}

/// The listener for every other plugin's messages.
unsafe extern "C" fn on_plugin_message(message: *mut Message) {
    guarded("plugin message", (), || {
        // SAFETY: NVSE passes a valid message for the duration of the call, or null.
        if let Some(message) = unsafe { message.as_ref() } {
            api::on_plugin_message(message);
        }
    })
}

fn handle_message(kind: u32) {
    match kind {
        msg::POST_LOAD | msg::POST_POST_LOAD => {
            info!("{}: all plugins are loaded", msg::name(kind));
            imports::rescan(msg::name(kind));
        }
        msg::DEFERRED_INIT => {
            info!("DeferredInit: the game is initialised (main menu)");
            imports::rescan("DeferredInit");
            game::verify("DeferredInit");
            periodic::start("DeferredInit");
        }
        msg::MAIN_GAME_LOOP => {
            heap::delay::frame();
            imports::finish_pending("MainGameLoop");
        }
        msg::EXIT_TO_MAIN_MENU => {
            info!("ExitToMainMenu: back to the main menu");
            allocator::report("ExitToMainMenu");
            log::flush();
        }
        msg::EXIT_GAME | msg::EXIT_GAME_CONSOLE => {
            if let Some(stats) = allocator::report(msg::name(kind)) {
                csv::finish(msg::name(kind), stats);
            }
            imports::report_net(msg::name(kind));
            allocator::report_leaks(msg::name(kind));
            info!("{}: the game is quitting; log flushed", msg::name(kind));
            log::flush();
        }
        _ => {}
    }
}

/// Reads the settings, opens the log and makes a panic leave a line in it,
/// once per process: the log starts with the version and build, then the
/// settings in force.
fn start_logging() {
    static START: Once = Once::new();
    START.call_once(|| {
        std::panic::set_hook(Box::new(|panic| {
            error!("internal error: {panic}");
            log::flush();
        }));
        log::set_min_level(settings::get().log_level.into());
        info!(
            "MemoryPoolNVSE {} (plugin version {VERSION}; {} build {}, rpmalloc {})",
            env!("CARGO_PKG_VERSION"),
            if cfg!(debug_assertions) { "debug" } else { "release" },
            env!("MEMORYPOOL_BUILD"),
            heap::RPMALLOC_VERSION,
        );
        settings::log();
    });
}

/// Runs an export's body so that no panic unwinds into NVSE. With the release
/// profile's `panic = "abort"` the panic hook has logged the cause by the time
/// the process ends; in unwinding builds the export returns `fallback`.
pub(crate) fn guarded<R>(what: &str, fallback: R, body: impl FnOnce() -> R) -> R {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|_| {
        error!("{what}: internal error; see the line above");
        fallback
    })
}

/// Shows a packed runtime version as `1.4.0.525`.
struct Version(u32);

impl core::fmt::Display for Version {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        if self.0 == 0 {
            return f.write_str("none");
        }
        let (major, minor, build, sub) = split_version(self.0);
        write!(f, "1.{major}.{minor}.{build}")?;
        if sub != 0 {
            write!(f, " (variant {sub})")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_is_packed_from_the_package_version() {
        let expected =
            env!("CARGO_PKG_VERSION").split('.').map(|p| p.parse::<u32>().unwrap()).fold(0, |acc, p| acc * 100 + p);
        assert_eq!(VERSION, expected);
    }

    #[test]
    fn runtime_versions_print_as_the_game_shows_them() {
        assert_eq!(Version(0x040020D0).to_string(), "1.4.0.525");
        assert_eq!(Version(0x040020D1).to_string(), "1.4.0.525 (variant 1)");
        assert_eq!(Version(0).to_string(), "none");
    }
}
