//! The walk on Windows: `VirtualQuery` region by region, from the lowest to
//! the highest application address. Both calls write into structures on the
//! stack; neither takes a lock of this process (Wine's `VirtualQuery` takes
//! its own virtual memory lock, held only inside the call).

use core::ffi::c_void;
use core::mem::size_of;

use windows_sys::Win32::System::Memory::{
    VirtualQuery, MEMORY_BASIC_INFORMATION, MEM_COMMIT, MEM_FREE, MEM_IMAGE, MEM_MAPPED, MEM_RESERVE,
};
use windows_sys::Win32::System::SystemInformation::{GetSystemInfo, SYSTEM_INFO};

use crate::{Kind, Summary};

pub fn walk() -> Summary {
    let (lowest, highest) = application_range();
    let mut summary = Summary::new(lowest as u64, highest as u64);
    let mut address = lowest;
    while address < highest {
        let Some(region) = query(address) else { return summary };
        // The region holds `address`; count it from there, up to `highest`.
        let end = (region.BaseAddress as usize).saturating_add(region.RegionSize).min(highest);
        if end <= address {
            return summary;
        }
        summary.add(address as u64, (end - address) as u64, kind(&region));
        address = end;
    }
    summary.complete = true;
    summary
}

/// The lowest application address and one past the highest (up to
/// 0xFFFF0000 in a Large Address Aware 32-bit process).
fn application_range() -> (usize, usize) {
    let mut info = SYSTEM_INFO::default();
    // SAFETY: writes the structure it is given, which is ours.
    unsafe { GetSystemInfo(&mut info) };
    let highest = (info.lpMaximumApplicationAddress as usize).saturating_add(1);
    (info.lpMinimumApplicationAddress as usize, highest)
}

fn query(address: usize) -> Option<MEMORY_BASIC_INFORMATION> {
    let mut region = MEMORY_BASIC_INFORMATION::default();
    let size = size_of::<MEMORY_BASIC_INFORMATION>();
    // SAFETY: any address may be queried; the answer is written into our
    // structure, whose size is given.
    let written = unsafe { VirtualQuery(address as *const c_void, &mut region, size) };
    (written == size).then_some(region)
}

fn kind(region: &MEMORY_BASIC_INFORMATION) -> Kind {
    match (region.State, region.Type) {
        (MEM_FREE, _) => Kind::Free,
        (_, MEM_IMAGE) => Kind::Image,
        (_, MEM_MAPPED) => Kind::Mapped,
        // Windows gives a reserved page no protection; Wine gives its own
        // ranges one (see the crate's doc).
        (MEM_RESERVE, _) if region.Protect != 0 => Kind::WineReserved,
        // MEM_PRIVATE, and anything a future system adds.
        (state, _) => Kind::Private { committed: state == MEM_COMMIT },
    }
}
