//! Which modules get their C-runtime imports redirected, and why not.
//!
//! Every loaded module is patched except:
//! - the plugin itself: its own allocations (the standard library's, the
//!   log's, MinGW's emulated thread-local storage) must reach the real C
//!   runtime, or the heap would call itself;
//! - the C and C++ runtime DLLs: their code is never touched, and their internal
//!   allocations must stay with their own heap;
//! - Windows' own DLLs (in the system, SysWOW64 or WinSxS folders): they free
//!   each other's blocks in ways nobody outside Windows can see;
//! - modules the user excludes by file name.

use crate::crt;

/// Why a module is left alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// MemoryPoolNVSE.dll itself.
    OwnModule,
    /// A C or C++ runtime DLL.
    RuntimeDll,
    /// A DLL of Windows itself.
    SystemDll,
    /// Named in the exclude list.
    Excluded,
}

impl Skip {
    pub fn reason(self) -> &'static str {
        match self {
            Skip::OwnModule => "the plugin itself",
            Skip::RuntimeDll => "a C/C++ runtime DLL",
            Skip::SystemDll => "a Windows system DLL",
            Skip::Excluded => "excluded by the settings",
        }
    }
}

/// The rules, fixed once at start-up.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// Base address of the plugin's own module.
    pub own_base: usize,
    /// Windows' folders, lower case, each ending with `\`.
    pub system_dirs: Vec<String>,
    /// File names to leave alone, lower case.
    pub excluded: Vec<String>,
}

impl Policy {
    /// Decides for the module at `base` whose full path is `path`.
    pub fn check(&self, base: usize, path: &str) -> Result<(), Skip> {
        if base == self.own_base {
            return Err(Skip::OwnModule);
        }
        let path = path.to_ascii_lowercase();
        let name = file_name(&path);
        if is_runtime_dll(name) {
            return Err(Skip::RuntimeDll);
        }
        if self.system_dirs.iter().any(|dir| path.starts_with(dir.as_str())) {
            return Err(Skip::SystemDll);
        }
        if self.excluded.iter().any(|excluded| excluded == name) {
            return Err(Skip::Excluded);
        }
        Ok(())
    }

    /// Adds a Windows folder (any case, with or without the final `\`).
    pub fn add_system_dir(&mut self, dir: &str) {
        if dir.is_empty() {
            return;
        }
        let mut dir = dir.to_ascii_lowercase();
        if !dir.ends_with('\\') {
            dir.push('\\');
        }
        if !self.system_dirs.contains(&dir) {
            self.system_dirs.push(dir);
        }
    }
}

/// The last component of a Windows path.
pub fn file_name(path: &str) -> &str {
    path.rsplit(['\\', '/']).next().unwrap_or(path)
}

/// A C runtime we redirect, or another runtime DLL of the C/C++ family
/// (`msvcp*`, `vcruntime*`, `concrt*`, debug CRTs, API sets) whose code and
/// imports are part of the runtime itself.
fn is_runtime_dll(name: &str) -> bool {
    crt::find(name).is_some()
        || ["msvcp", "vcruntime", "concrt", "vccorlib", "msvcr", "ucrtbase", "api-ms-win-crt-"]
            .iter()
            .any(|prefix| name.starts_with(prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Policy {
        let mut policy = Policy { own_base: 0x1000_0000, ..Policy::default() };
        policy.add_system_dir(r"C:\Windows\System32");
        policy.add_system_dir(r"C:\Windows\SysWOW64\");
        policy.add_system_dir(r"C:\Windows\WinSxS");
        policy.excluded.push("enbseries.dll".into());
        policy
    }

    #[test]
    fn game_and_plugins_are_patched() {
        let policy = policy();
        assert_eq!(policy.check(0x40_0000, r"C:\Games\Fallout New Vegas\FalloutNV.exe"), Ok(()));
        assert_eq!(policy.check(0x2000_0000, r"C:\Games\FNV\Data\NVSE\Plugins\jip_nvse.dll"), Ok(()));
        assert_eq!(policy.check(0x2000_0000, r"C:\Games\FNV\nvse_1_4.dll"), Ok(()));
    }

    #[test]
    fn the_plugin_itself_is_never_patched() {
        assert_eq!(policy().check(0x1000_0000, r"C:\anything\renamed.dll"), Err(Skip::OwnModule));
    }

    #[test]
    fn runtime_dlls_are_never_patched_wherever_they_are() {
        let policy = policy();
        for name in ["MSVCR90.dll", "msvcrt.dll", "ucrtbase.dll", "msvcp140.dll", "VCRUNTIME140.dll", "msvcr120d.dll"] {
            assert_eq!(policy.check(1, &format!(r"C:\Games\FNV\{name}")), Err(Skip::RuntimeDll), "{name}");
        }
    }

    #[test]
    fn windows_dlls_are_skipped_by_folder_in_any_case() {
        let policy = policy();
        assert_eq!(policy.check(1, r"c:\windows\syswow64\D3DX9_38.DLL"), Err(Skip::SystemDll));
        assert_eq!(policy.check(1, r"C:\WINDOWS\System32\kernel32.dll"), Err(Skip::SystemDll));
        assert_eq!(
            policy.check(1, r"C:\Windows\WinSxS\x86_microsoft.windows.common-controls\comctl32.dll"),
            Err(Skip::SystemDll)
        );
        // A folder that merely starts like a system folder is not one.
        assert_eq!(policy.check(1, r"C:\Windows\System32Games\mod.dll"), Ok(()));
    }

    #[test]
    fn excluded_names_match_whole_file_names_in_any_case() {
        let policy = policy();
        assert_eq!(policy.check(1, r"C:\Games\FNV\ENBSeries.dll"), Err(Skip::Excluded));
        assert_eq!(policy.check(1, r"C:\Games\FNV\not_enbseries.dll"), Ok(()));
    }
}
