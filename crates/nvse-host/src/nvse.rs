//! The interfaces xNVSE hands to plugins: `NVSEInterface` and messaging.
//!
//! NVSE's tables are statics whose functions take no context, so the host keeps
//! its state in one global. Listeners are called without the lock held, since a
//! plugin may register or dispatch from inside its handler. A message to a named
//! receiver is delivered without allocating, as xNVSE's `Dispatch` does: a
//! plugin may compare the heap's statistics before and after one.

use std::ffi::{c_char, c_void, CStr, CString};
use std::sync::{Mutex, MutexGuard, OnceLock};

use nvse_abi::{
    interface, make_version, msg, Message, MessagingInterface, NVSEInterface, PluginHandle, EDITOR_VERSION_1_4_0_518,
    INVALID_PLUGIN_HANDLE,
};

use crate::Mode;

/// xNVSE 6.4.8, the version these facts were read from.
pub const NVSE_VERSION: u32 = make_version(6, 4, 8, 0);

/// The sender name of NVSE's own messages.
const NVSE_SENDER: &CStr = c"NVSE";

#[derive(Clone, Copy)]
struct Listener {
    /// The plugin that listens.
    listener: PluginHandle,
    /// Whose messages: `None` means every plugin but NVSE and the listener
    /// itself (a null sender in `RegisterListener`).
    sender: Option<PluginHandle>,
    callback: nvse_abi::EventCallback,
}

#[derive(Default)]
struct State {
    /// The handle `GetPluginHandle` answers, only set inside Query and Load.
    current: Option<PluginHandle>,
    /// Plugin names by handle, for senders and receivers given by name; kept
    /// for the process's life, so that a message's sender needs no copy.
    names: Vec<(PluginHandle, &'static CStr)>,
    listeners: Vec<Listener>,
    opcode_base: Option<u32>,
}

/// The handle NVSE uses for itself.
const NVSE_HANDLE: PluginHandle = 0;

static STATE: Mutex<State> =
    Mutex::new(State { current: None, names: Vec::new(), listeners: Vec::new(), opcode_base: None });

fn state() -> MutexGuard<'static, State> {
    STATE.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

static MESSAGING: MessagingInterface = MessagingInterface {
    version: MessagingInterface::VERSION,
    register_listener: Some(register_listener),
    dispatch: Some(dispatch),
};

/// The `NVSEInterface` for this run.
pub fn interface(mode: Mode) -> NVSEInterface {
    let (runtime_version, editor_version, is_editor) = match mode {
        Mode::Game { runtime } => (runtime, 0, 0),
        Mode::Editor => (0, EDITOR_VERSION_1_4_0_518, 1),
    };
    NVSEInterface {
        nvse_version: NVSE_VERSION,
        runtime_version,
        editor_version,
        is_editor,
        register_command: Some(register_command),
        set_opcode_base: Some(set_opcode_base),
        query_interface: Some(query_interface),
        get_plugin_handle: Some(get_plugin_handle),
        register_typed_command: Some(register_typed_command),
        get_runtime_directory: Some(get_runtime_directory),
        is_nogore: 0,
        init_expression_evaluator_utils: None,
        register_typed_command_version: Some(register_typed_command_version),
    }
}

/// Makes `handle` the answer of `GetPluginHandle` while a Query or Load runs.
pub fn enter_plugin(handle: PluginHandle, name: &str) {
    let mut state = state();
    state.current = Some(handle);
    state.names.retain(|(h, _)| *h != handle);
    let name = CString::new(name).unwrap_or_default();
    state.names.push((handle, Box::leak(name.into_boxed_c_str())));
}

pub fn leave_plugin() {
    state().current = None;
}

/// Drops a plugin's listeners and name (it was declined or unloaded).
pub fn forget_plugin(handle: PluginHandle) {
    let mut state = state();
    state.listeners.retain(|l| l.listener != handle);
    state.names.retain(|(h, _)| *h != handle);
}

pub fn listener_count(handle: PluginHandle) -> usize {
    state().listeners.iter().filter(|l| l.listener == handle).count()
}

/// Sends one of NVSE's own messages to everyone who listens to NVSE.
/// Returns how many listeners received it.
pub fn broadcast(kind: u32, data: *mut c_void, data_len: u32) -> usize {
    let targets: Vec<_> = state().listeners.iter().filter(|l| l.sender == Some(NVSE_HANDLE)).copied().collect();
    deliver(&targets, NVSE_SENDER.as_ptr(), kind, data, data_len);
    println!("nvse-host: message {} delivered to {} listener(s)", msg::name(kind), targets.len());
    targets.len()
}

fn deliver(targets: &[Listener], sender: *const c_char, kind: u32, data: *mut c_void, data_len: u32) {
    for target in targets {
        let mut message = Message { sender, kind, data_len, data };
        // SAFETY: the callback was registered by a loaded plugin for exactly this
        // signature; `message` lives for the duration of the call.
        unsafe { (target.callback)(&mut message) };
    }
}

fn handle_of(name: *const c_char) -> Option<Option<PluginHandle>> {
    if name.is_null() {
        return Some(None);
    }
    // SAFETY: plugins pass NUL-terminated names.
    let name = unsafe { CStr::from_ptr(name) }.to_bytes();
    if name.eq_ignore_ascii_case(b"NVSE") {
        return Some(Some(NVSE_HANDLE));
    }
    state().names.iter().find(|(_, n)| n.to_bytes().eq_ignore_ascii_case(name)).map(|(h, _)| Some(*h))
}

impl Listener {
    /// Whether this listener takes the messages `sender` dispatches.
    fn hears(&self, sender: PluginHandle) -> bool {
        match self.sender {
            Some(from) => from == sender,
            None => sender != NVSE_HANDLE && sender != self.listener,
        }
    }
}

unsafe extern "C" fn register_listener(
    listener: PluginHandle,
    sender: *const c_char,
    callback: Option<nvse_abi::EventCallback>,
) -> bool {
    let Some(callback) = callback else {
        println!("nvse-host: RegisterListener from plugin {listener} without a callback: refused");
        return false;
    };
    let Some(sender) = handle_of(sender) else {
        println!("nvse-host: RegisterListener from plugin {listener} for an unknown sender: refused");
        return false;
    };
    if listener == INVALID_PLUGIN_HANDLE {
        println!("nvse-host: RegisterListener with an invalid handle: refused");
        return false;
    }
    state().listeners.push(Listener { listener, sender, callback });
    let whom = match sender {
        Some(NVSE_HANDLE) => "NVSE".to_owned(),
        Some(h) => format!("plugin {h}"),
        None => "every plugin".to_owned(),
    };
    println!("nvse-host: plugin {listener} listens to {whom}");
    true
}

/// xNVSE's `Dispatch`: to every listener of `sender`, or with a receiver's
/// name to that plugin alone (false if it is unknown or does not listen).
unsafe extern "C" fn dispatch(
    sender: PluginHandle,
    kind: u32,
    data: *mut c_void,
    data_len: u32,
    receiver: *const c_char,
) -> bool {
    let receiver = match handle_of(receiver) {
        Some(receiver) => receiver,
        None => return false,
    };
    let Some(sender_name) = state().names.iter().find(|(h, _)| *h == sender).map(|(_, n)| *n) else {
        return false;
    };
    if let Some(receiver) = receiver {
        let target = state().listeners.iter().find(|l| l.listener == receiver && l.hears(sender)).copied();
        if let Some(target) = target {
            deliver(&[target], sender_name.as_ptr(), kind, data, data_len);
        }
        return target.is_some();
    }
    let targets: Vec<_> = state().listeners.iter().filter(|l| l.hears(sender)).copied().collect();
    deliver(&targets, sender_name.as_ptr(), kind, data, data_len);
    !targets.is_empty()
}

unsafe extern "C" fn query_interface(id: u32) -> *mut c_void {
    match id {
        interface::MESSAGING => (&raw const MESSAGING).cast_mut().cast(),
        _ => {
            println!("nvse-host: QueryInterface({id}): not provided by this host");
            std::ptr::null_mut()
        }
    }
}

unsafe extern "C" fn get_plugin_handle() -> PluginHandle {
    state().current.unwrap_or_else(|| {
        println!("nvse-host: GetPluginHandle called outside Query/Load");
        INVALID_PLUGIN_HANDLE
    })
}

unsafe extern "C" fn set_opcode_base(opcode: u32) {
    state().opcode_base = Some(opcode);
    println!("nvse-host: SetOpcodeBase(0x{opcode:04X})");
}

unsafe extern "C" fn register_command(_info: *mut c_void) -> bool {
    println!("nvse-host: RegisterCommand: not provided by this host");
    false
}

unsafe extern "C" fn register_typed_command(_info: *mut c_void, _kind: u32) -> bool {
    println!("nvse-host: RegisterTypedCommand: not provided by this host");
    false
}

unsafe extern "C" fn register_typed_command_version(_info: *mut c_void, _kind: u32, _version: u32) -> bool {
    println!("nvse-host: RegisterTypedCommandVersion: not provided by this host");
    false
}

unsafe extern "C" fn get_runtime_directory() -> *const c_char {
    static DIR: OnceLock<CString> = OnceLock::new();
    DIR.get_or_init(|| {
        let mut dir = crate::plugins::game_dir().to_string_lossy().into_owned();
        if !dir.ends_with('\\') {
            dir.push('\\');
        }
        CString::new(dir).unwrap_or_default()
    })
    .as_ptr()
}
