//! The checks after the first frame: whose blocks are whose, what the
//! vanilla heaps made and kept, whether the maintenance ran, how the
//! threads fared.

use game_profile::Role;
use nvse_host::checks::{has_pattern, holds, seed_of, size_fact, Checks, Fact};

use super::blocks::{self, Block, Owner};
use super::churn;
use super::game::{self, Calls, Entry, Family, Release, MAINTENANCE_BRANCH};
use super::parked::Fate;
use super::state::State;
use crate::heap_sizes;
use crate::options::{Expect, Moment};
use workloads::late::LateRecord;

include!(concat!(env!("OUT_DIR"), "/replica_facts.rs"));

/// The heaps the MemoryManager's construction makes (Default, Static, File).
const HEAPS: i32 = 3;
/// Blocks made per allocating entry in the new blocks' check.
const NEW_BLOCKS: usize = 100;
/// Frames played in the maintenance's check.
const FRAMES: u8 = 8;

pub struct Context {
    pub expect: Expect,
    pub moment: Moment,
    pub owner: Owner,
    pub calls: Calls,
    pub release: Release,
    /// What the Default and File heaps reserve, at the sizes in force (the
    /// Static heap's buffer is the C runtime's).
    pub heaps_reserved: i64,
}

impl Context {
    /// Whether the plugin serves the blocks `family` makes after it loaded.
    fn ours(&self, family: Family) -> bool {
        match self.expect {
            Expect::Ours => true,
            Expect::Vanilla => false,
            Expect::RuntimeOnly => family == Family::Runtime,
        }
    }

    /// Whether the blocks the start-up makes of `family` are the plugin's:
    /// only if it loaded at Preload.
    fn ours_at_start(&self, family: Family) -> bool {
        self.moment == Moment::Preload && self.ours(family)
    }

    /// Whether the vanilla heaps and pools are never made (and their
    /// maintenance never runs): the preload group went live.
    fn vanilla_heaps_off(&self) -> bool {
        self.moment == Moment::Preload && self.expect == Expect::Ours
    }
}

fn equal(key: &'static str, actual: i64, expected: i64) -> Fact {
    Fact { key, shown: actual.to_string(), ok: actual == expected }
}

fn count(key: &'static str, actual: usize, expected: usize) -> Fact {
    size_fact(key, actual, expected, true)
}

/// The start-up: the vanilla heaps and pools made or not, and whose the
/// blocks of the C runtime's start-up and the MemoryManager's construction are.
pub fn start_up(checks: &mut Checks, context: &Context, started: &State, runtime: &[*mut u8], heap: &[*mut u8]) {
    let off = context.vanilla_heaps_off();
    let (heaps, pools, reserved) =
        if off { (0, 0, 0) } else { (HEAPS, POOLS, context.heaps_reserved + POOLS_RESERVED) };
    // SAFETY: the dwords of the heaps' creation's `push`es, in the code.
    let pushed = [heap_sizes::DEFAULT, heap_sizes::FILE].map(|heap| unsafe { game::read::<u32>(heap.address) });
    let pushed_ok = i64::from(pushed[0]) + i64::from(pushed[1]) == context.heaps_reserved;
    checks.line(
        "vanilla heaps",
        &[
            Fact { key: "default_mb", shown: (pushed[0] >> 20).to_string(), ok: pushed_ok },
            Fact { key: "file_mb", shown: (pushed[1] >> 20).to_string(), ok: pushed_ok },
            equal("heaps", started.heaps_created.into(), heaps.into()),
            equal("pools", started.pools_created.into(), pools as i64),
            equal("reserved_mib", started.reserved >> 20, reserved >> 20),
            Fact {
                key: "pool_entries",
                shown: started.pool_entries.to_string(),
                ok: if off { started.pool_entries == 0 } else { started.pool_entries > 0 },
            },
            equal("heap_count", started.heap_count.into(), heaps.into()),
            holds("initialised", started.initialized),
        ],
    );
    let owned = |blocks: &[*mut u8]| blocks.iter().filter(|&&p| context.owner.owns(p)).count();
    let expected = |family, blocks: &[*mut u8]| if context.ours_at_start(family) { blocks.len() } else { 0 };
    let crt_blocks = if context.ours_at_start(Family::Runtime) && off { Some(0) } else { None };
    checks.line(
        "start-up blocks",
        &[
            holds("crt_heap", started.crt_heap),
            Fact {
                key: "crt_heap_blocks",
                shown: started.crt_blocks.to_string(),
                ok: crt_blocks.is_none_or(|n| started.crt_blocks == n),
            },
            count("runtime_owned", owned(runtime), expected(Family::Runtime, runtime)),
            count("heap_owned", owned(heap), expected(Family::Heap, heap)),
        ],
    );
}

/// The threads parked in the prologues: moved out of the replaced bytes by
/// the freeze, and their calls finished in the originals, with right results.
pub fn parked(checks: &mut Checks, context: &Context, wanted: usize, fates: &[Fate], blocks: &mut Vec<Block>) {
    if wanted == 0 {
        return;
    }
    let (mut moved, mut finished, mut right) = (0, 0, 0);
    for (fate, block) in fates.iter().zip(blocks.drain(..)) {
        moved += usize::from(fate.moved);
        let Some(result) = fate.result else { continue };
        finished += 1;
        // SAFETY: each call's result as its role says: a block of at least
        // 300 bytes, or the old block's size; each block freed once.
        right += usize::from(unsafe { settle(context, fate, result, block) });
    }
    let parked = fates.len();
    checks.line(
        "parked",
        &[
            count("threads", parked, parked),
            count("moved", moved, parked),
            count("finished", finished, parked),
            count("right", right, parked),
        ],
    );
}

/// Judges a parked call's result and frees what is left of it.
///
/// # Safety
/// `block` is the live block the call was given; `result` what it returned.
unsafe fn settle(context: &Context, fate: &Fate, result: usize, block: Block) -> bool {
    let release = &context.release;
    let family = fate.call.entry.family();
    let q = result as *mut u8;
    // SAFETY: the caller's promise, role by role.
    unsafe {
        match fate.call.entry.role {
            Role::HeapAllocate | Role::Malloc | Role::Calloc => {
                let ok = !q.is_null() && release.size(family, q) >= 300;
                if !q.is_null() {
                    release.free(family, q);
                }
                release.free(block.family, block.p);
                ok
            }
            Role::HeapRealloc | Role::Realloc | Role::Recalloc => {
                let ok = !q.is_null() && has_pattern(q, block.size, block.seed) && release.size(family, q) >= 300;
                if !q.is_null() {
                    release.free(family, q);
                }
                ok
            }
            Role::HeapSize | Role::Msize => {
                release.free(block.family, block.p);
                result >= block.size
            }
            Role::HeapFree | Role::Free => true,
        }
    }
}

pub fn threads(checks: &mut Checks, outcome: churn::Outcome) {
    checks.line(
        "threads",
        &[
            count("threads", outcome.threads, outcome.threads),
            Fact { key: "calls", shown: outcome.calls.to_string(), ok: outcome.calls > 0 },
            count("corrupted", outcome.corrupted as usize, 0),
            count("panicked", outcome.panicked, 0),
        ],
    );
}

/// The blocks made before the plugin loaded: intact, not the plugin's, sized,
/// resized and freed by the game's own functions through the hooks, until the
/// vanilla heaps and the C runtime's heap hold what they held after start-up.
pub fn old_blocks(checks: &mut Checks, context: &Context, old: Vec<Block>, started: &State) {
    let (mut intact, mut sized, mut foreign, mut kept, mut resized) = (0, 0, 0, 0, 0);
    let entries = game::entries();
    let blocks = old.len();
    for (index, mut block) in old.into_iter().enumerate() {
        // SAFETY: a live old block of its family.
        let (pattern, size) = unsafe { blocks::intact(&context.release, &block) };
        intact += usize::from(pattern);
        sized += usize::from(size);
        foreign += usize::from(!context.owner.owns(block.p));
        let resizers = blocks::resizers(&entries, block.family);
        if index % 2 == 0 && !resizers.is_empty() {
            resized += 1;
            let resizer = resizers[index / 2 % resizers.len()];
            let grown = block.size * 2;
            // SAFETY: a live block of the resizer's family.
            kept += usize::from(
                unsafe { blocks::grow(&context.calls, &context.release, resizer, &mut block, grown) } == Some(true),
            );
        }
        // SAFETY: a live block, freed once by its family.
        unsafe { context.release.free(block.family, block.p) };
    }
    let now = State::now();
    checks.line(
        "old blocks",
        &[
            count("blocks", blocks, blocks.max(1)),
            count("intact", intact, blocks),
            count("sized", sized, blocks),
            count("not_ours", foreign, blocks),
            count("kept", kept, resized),
            // Every one went back to the heap it came from: the game's own
            // functions released them, as many as they had made.
            equal("vanilla_blocks_left", now.vanilla_blocks.into(), started.vanilla_blocks.into()),
            count("crt_heap_blocks_left", now.crt_blocks, started.crt_blocks),
        ],
    );
}

/// Blocks made now through every allocating entry, kept while the vanilla
/// heaps are looked at, then sized, resized and freed.
pub fn new_blocks(checks: &mut Checks, context: &Context, entries: &[Entry]) {
    let before = State::now();
    let mut live: Vec<Block> = Vec::new();
    let (mut made, mut zeroed, mut owned, mut expected_owned, mut asked) = (0, 0, 0, 0, 0);
    let (mut heap_blocks, mut runtime_blocks) = (0i64, 0usize);
    // A reallocate of the game heap makes a block from nothing through the C
    // runtime (the game's Size answers 0 for null): it is tried on blocks.
    for entry in entries.iter().filter(|e| e.allocates() && e.role != Role::HeapRealloc) {
        for index in 0..NEW_BLOCKS {
            let size = 16 + index * 53 % 3000;
            asked += 1;
            // SAFETY: the start-up ran.
            let Some((block, zero)) = (unsafe { blocks::make(&context.calls, *entry, size, seed_of(index, size)) })
            else {
                continue;
            };
            made += 1;
            zeroed += usize::from(zero);
            owned += usize::from(context.owner.owns(block.p));
            expected_owned += usize::from(context.ours(block.family));
            match block.family {
                Family::Heap if !context.ours(Family::Heap) => heap_blocks += 1,
                Family::Runtime if !context.ours(Family::Runtime) => runtime_blocks += 1,
                _ => {}
            }
            live.push(block);
        }
    }
    let during = State::now();
    let (mut sized, mut kept, mut resized) = (0, 0, 0);
    for (index, mut block) in live.into_iter().enumerate() {
        // SAFETY: a live block of its family.
        sized += usize::from(unsafe { blocks::intact(&context.release, &block) }.1);
        let resizers = blocks::resizers(entries, block.family);
        if index % 3 == 0 && !resizers.is_empty() {
            resized += 1;
            let resizer = resizers[index % resizers.len()];
            let grown = block.size + 100;
            // SAFETY: a live block of the resizer's family.
            kept += usize::from(
                unsafe { blocks::grow(&context.calls, &context.release, resizer, &mut block, grown) } == Some(true),
            );
        }
        // SAFETY: a live block, freed once by its family.
        unsafe { context.release.free(block.family, block.p) };
    }
    checks.line(
        "new blocks",
        &[
            count("blocks", made, asked),
            count("zeroed", zeroed, made),
            count("owned", owned, expected_owned),
            count("sized", sized, made),
            count("kept", kept, resized),
            // The vanilla heaps and the runtime's heap grew by exactly the
            // blocks the plugin does not serve.
            equal("vanilla_blocks_made", (during.vanilla_blocks - before.vanilla_blocks).into(), heap_blocks),
            count("crt_heap_blocks_made", during.crt_blocks - before.crt_blocks, runtime_blocks),
        ],
    );
}

/// A few frames of the main loop: the per-frame pool maintenance ran each
/// frame (the jnz at 0x0086EED4 taken), or never (its patched jmp taken).
pub fn maintenance(checks: &mut Checks, context: &Context) {
    let before = State::now();
    for _ in 0..FRAMES {
        nvse_host::nvse::broadcast(nvse_abi::msg::MAIN_GAME_LOOP, std::ptr::null_mut(), 0);
        // SAFETY: after the start-up, on the main thread.
        unsafe { game::main_loop() };
    }
    let after = State::now();
    let off = context.vanilla_heaps_off();
    // SAFETY: a byte of the main loop's code.
    let branch = unsafe { game::read::<u8>(MAINTENANCE_BRANCH) };
    let passes = if off { 0 } else { FRAMES };
    checks.line(
        "maintenance",
        &[
            Fact { key: "branch", shown: format!("{branch:02X}"), ok: branch == if off { 0xEB } else { 0x75 } },
            count("passes", after.maintenance_index.wrapping_sub(before.maintenance_index).into(), passes.into()),
            equal("decays", (after.maintenance_calls - before.maintenance_calls).into(), passes.into()),
        ],
    );
}

/// The session: it ran, and the game heap's blocks were whose they should be.
pub fn session(checks: &mut Checks, context: &Context, record: &LateRecord) {
    let expected = if context.ours(Family::Heap) { "plugin" } else { "vanilla" };
    checks.line(
        "session",
        &[
            Fact { key: "game_heap", shown: record.game_heap.clone(), ok: record.game_heap == expected },
            Fact { key: "ops", shown: record.ops.to_string(), ok: record.ops > 0 },
            Fact {
                key: "peak_live_mib",
                shown: (record.peak_live_bytes >> 20).to_string(),
                ok: record.peak_live_bytes > 0,
            },
            Fact {
                key: "peak_in_use_mib",
                shown: (record.peak_in_use_bytes >> 20).to_string(),
                ok: record.peak_in_use_bytes >= record.peak_live_bytes,
            },
        ],
    );
}
