//! The generated assembly: a macro per run of known bytes, the runs no
//! function of replica/ places, and the pool creation's calls.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use crate::facts::{Pools, Run};
use crate::layout::{Kind, Section};

/// The macro that writes a run's bytes where a function places them.
pub fn macro_name(address: u32) -> String {
    format!("fnv_bytes_{address:08X}")
}

/// A macro per run: `fnv_bytes_<ADDRESS>` writes the run's first `emit`
/// bytes.
pub fn macros(runs: &[Run]) -> String {
    let mut text = String::new();
    for run in runs {
        let _ = writeln!(text, "/* {} */\n.macro {}", run.from, macro_name(run.address));
        for chunk in run.bytes[..run.emit].chunks(16) {
            let bytes: Vec<String> = chunk.iter().map(|b| format!("0x{b:02X}")).collect();
            let _ = writeln!(text, "    .byte {}", bytes.join(","));
        }
        text.push_str(".endm\n\n");
    }
    text
}

/// Each run no function places (`placed`: the addresses whose macro some
/// source uses), in a section of its own at its address, with the symbol
/// `_fnv_<ADDRESS>`.
pub fn unplaced(runs: &[Run], placed: &BTreeSet<u32>) -> (String, Vec<Section>) {
    let mut text = String::new();
    let mut sections = Vec::new();
    for run in runs.iter().filter(|run| !placed.contains(&run.address) && run.emit > 0) {
        let _ = writeln!(
            text,
            ".section .fnv${0:08X},\"xr0\"\n.globl _fnv_{0:08X}\n_fnv_{0:08X}:\n    {1}\n",
            run.address,
            macro_name(run.address)
        );
        sections.push(Section { address: run.address, kind: Kind::Code, room: run.emit as u32 });
    }
    (text, sections)
}

/// A pool's name, as the pool creation passes it.
fn pool_name(block: u32) -> String {
    format!("Pool {block}")
}

/// Where each pool's name is: one after another from `pools.names`, each
/// on a 4-byte boundary.
pub fn pool_name_addresses(pools: &Pools) -> Vec<u32> {
    let mut at = pools.names;
    pools
        .list
        .iter()
        .map(|&[block, _]| {
            let here = at;
            at += (pool_name(block).len() as u32 + 1).next_multiple_of(4);
            here
        })
        .collect()
}

/// The pool creation at `address`: its known first bytes (which save `this`
/// at `[ebp-4]` and push the first pool's name and size), then each pool
/// made by `create(this, block size, bytes reserved, name)` (thiscall),
/// and the pools' names.
pub fn pools(pools: &Pools, address: u32) -> (String, Vec<Section>) {
    let names = pool_name_addresses(pools);
    let mut text = format!(
        "/* The small-block pools, made one after another (facts: [pools]) */\n\
         .section .fnv${address:08X},\"xr0\"\n.globl _fnv_{address:08X}\n_fnv_{address:08X}:\n    {}\n",
        macro_name(address)
    );
    for (index, (&[block, reserve], name)) in pools.list.iter().zip(&names).enumerate() {
        if index > 0 {
            let _ = writeln!(text, "    push 0x{name:08X}\n    push 0x{reserve:X}");
        }
        let _ =
            writeln!(text, "    push 0x{block:X}\n    mov ecx, dword ptr [ebp-4]\n    call _fnv_{:08X}", pools.create);
    }
    text.push_str("    mov esp, ebp\n    pop ebp\n    ret\n\n");
    let _ = writeln!(text, ".section .fnvr${:08X},\"dr0\"", pools.names);
    for &[block, _] in &pools.list {
        let _ = writeln!(text, "    .asciz \"{}\"\n    .balign 4, 0", pool_name(block));
    }
    let code_room = 32 + 24 * pools.list.len() as u32;
    let names_room = names.last().map_or(0, |last| last + 16 - pools.names);
    let sections = vec![
        Section { address, kind: Kind::Code, room: code_room },
        Section { address: pools.names, kind: Kind::ReadOnly, room: names_room },
    ];
    (text, sections)
}
