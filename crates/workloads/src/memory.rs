//! The process's memory, as the operating system counts it, and the
//! platform name of the records.
//!
//! Resident memory is what an allocator without its own accounting can be
//! measured by: natively `VmRSS` and its high-water mark `VmHWM` from
//! `/proc/self/status`; on Windows (and under Wine, which reads the same
//! Linux counters) `WorkingSetSize` and `PeakWorkingSetSize` from
//! `GetProcessMemoryInfo`. Both count touched pages only.

/// Resident bytes now and at their peak so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Resident {
    pub now: u64,
    pub peak: u64,
}

/// The process's resident memory, if the system says.
pub fn resident() -> Option<Resident> {
    imp::resident()
}

/// The platform the records name: `x86_64-linux`, `i686-windows-wine`
/// (a Windows build under Wine) or `i686-windows`.
pub fn platform() -> String {
    let arch = match std::env::consts::ARCH {
        "x86" => "i686",
        arch => arch,
    };
    let os = match std::env::consts::OS {
        "windows" if imp::under_wine() => "windows-wine",
        os => os,
    };
    format!("{arch}-{os}")
}

#[cfg(target_os = "linux")]
mod imp {
    use super::Resident;

    pub fn resident() -> Option<Resident> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let kib = |key: &str| -> Option<u64> {
            let line = status.lines().find(|l| l.starts_with(key))?;
            line[key.len()..].trim().trim_end_matches("kB").trim().parse::<u64>().ok().map(|k| k * 1024)
        };
        Some(Resident { now: kib("VmRSS:")?, peak: kib("VmHWM:")? })
    }

    pub fn under_wine() -> bool {
        false
    }
}

#[cfg(windows)]
mod imp {
    use super::Resident;
    use core::ffi::c_void;

    /// `PROCESS_MEMORY_COUNTERS`.
    #[repr(C)]
    #[derive(Default)]
    struct Counters {
        cb: u32,
        page_fault_count: u32,
        peak_working_set_size: usize,
        working_set_size: usize,
        quota_peak_paged_pool_usage: usize,
        quota_paged_pool_usage: usize,
        quota_peak_non_paged_pool_usage: usize,
        quota_non_paged_pool_usage: usize,
        pagefile_usage: usize,
        peak_pagefile_usage: usize,
    }

    #[link(name = "kernel32")]
    extern "system" {
        fn GetCurrentProcess() -> *mut c_void;
        fn K32GetProcessMemoryInfo(process: *mut c_void, counters: *mut Counters, cb: u32) -> i32;
        fn GetModuleHandleA(name: *const u8) -> *mut c_void;
        fn GetProcAddress(module: *mut c_void, name: *const u8) -> *const c_void;
    }

    pub fn resident() -> Option<Resident> {
        let mut counters = Counters { cb: size_of::<Counters>() as u32, ..Counters::default() };
        // SAFETY: the pseudo-handle of this process and a counters structure
        // of the size given.
        let ok = unsafe { K32GetProcessMemoryInfo(GetCurrentProcess(), &mut counters, counters.cb) };
        (ok != 0)
            .then_some(Resident { now: counters.working_set_size as u64, peak: counters.peak_working_set_size as u64 })
    }

    /// Wine's ntdll exports `wine_get_version`; Windows' does not.
    pub fn under_wine() -> bool {
        // SAFETY: NUL-terminated names; ntdll is loaded in every process.
        unsafe {
            let ntdll = GetModuleHandleA(c"ntdll.dll".as_ptr().cast());
            !ntdll.is_null() && !GetProcAddress(ntdll, c"wine_get_version".as_ptr().cast()).is_null()
        }
    }
}

#[cfg(not(any(target_os = "linux", windows)))]
mod imp {
    use super::Resident;

    pub fn resident() -> Option<Resident> {
        None
    }

    pub fn under_wine() -> bool {
        false
    }
}
