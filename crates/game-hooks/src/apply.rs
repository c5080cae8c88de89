//! Applying a profile: identify, look for other replacers, then each group
//! all or nothing.

use std::collections::HashMap;
use std::sync::Mutex;

use game_profile::{Family, Group, Hook, Patch, Profile, Role, When};
use inline_hook::{first_redirect, Redirect, Transaction};

use crate::entries::{self, Trampolines, SLOTS};
use crate::image::{Executable, Mismatch};
use crate::{replacers, GroupOutcome, GroupReport, Moment, Report, Skipped, Switches};

/// Bytes read at a hook's target to see whether another hook is there.
const PEEK: usize = 16;

/// The slots of each role that live hooks use, for the whole process: a
/// slot's entry reads one trampoline, so no two targets may share it. Held
/// while a profile is applied, so applications happen one at a time.
static SLOTS_TAKEN: Mutex<Option<HashMap<Role, usize>>> = Mutex::new(None);

/// Every live hook: its target, role and detour, for [`overwritten`].
static LIVE: Mutex<Vec<(u32, Role, usize)>> = Mutex::new(Vec::new());

/// Applies `profile` to the running executable at `moment`, as far as
/// `switches` allow. Call once, before any thread may need the groups'
/// functions consistent with each other (every group goes live as a whole).
pub fn apply(profile: &Profile, moment: Moment, switches: Switches) -> Report {
    let Some(exe) = Executable::current() else {
        return Report { large_address_aware: None, outcome: Err(Skipped::NoExecutable) };
    };
    let outcome = check(&exe, profile).map(|()| apply_groups(&exe, profile, moment, switches));
    Report { large_address_aware: Some(exe.large_address_aware), outcome }
}

/// The executable is the profile's, and no other heap replacer is there.
fn check(exe: &Executable, profile: &Profile) -> Result<(), Skipped> {
    exe.identify(profile).map_err(|m| Skipped::NotThisExecutable(m.to_string()))?;
    if let Some(dll) = replacers::loaded() {
        return Err(Skipped::OtherReplacer(format!("{dll} is loaded")));
    }
    for group in &profile.groups {
        for hook in &group.hooks {
            if let Some(redirect) = foreign_redirect(exe, hook) {
                return Err(Skipped::OtherReplacer(format!(
                    "{} of group {:?} already {}",
                    target(hook),
                    group.name,
                    describe(redirect)
                )));
            }
        }
    }
    Ok(())
}

/// How a hook's target leaves at once, if it does and the profile does not
/// expect exactly that.
fn foreign_redirect(exe: &Executable, hook: &Hook) -> Option<Redirect> {
    let address = hook.address as usize;
    let code = exe.code(address, PEEK).ok()?;
    let redirect = first_redirect(&code, address)?;
    let expected = hook.bytes.as_ref().is_some_and(|bytes| bytes.matches(&code[..bytes.len().min(PEEK)]));
    (!expected).then_some(redirect)
}

/// A redirect, with the module it leads to when known.
fn describe(redirect: Redirect) -> String {
    let to = match redirect {
        Redirect::Jump(to) | Redirect::PushRet(to) | Redirect::Call(Some(to)) => to,
        other => return format!("starts with {other}"),
    };
    match replacers::module_of(to) {
        Some(module) => format!("jumps to 0x{to:08X} in {module}"),
        None => format!("jumps to 0x{to:08X}"),
    }
}

fn target(hook: &Hook) -> String {
    format!("0x{:08X} ({})", hook.address, hook.role.name())
}

fn apply_groups(exe: &Executable, profile: &Profile, moment: Moment, switches: Switches) -> Vec<GroupReport> {
    let mut live: Vec<&str> = Vec::new();
    let mut taken = SLOTS_TAKEN.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let slots = taken.get_or_insert_with(HashMap::new);
    let mut reports = Vec::new();
    for group in &profile.groups {
        let outcome = decide(group, moment, switches, &live).unwrap_or_else(|| apply_group(exe, group, slots));
        if matches!(outcome, GroupOutcome::Live { .. }) {
            live.push(&group.name);
        }
        reports.push(GroupReport { name: group.name.clone(), outcome });
    }
    reports
}

/// Why a group is not even tried, if it is not.
fn decide(group: &Group, moment: Moment, switches: Switches, live: &[&str]) -> Option<GroupOutcome> {
    for family in group.families() {
        let (on, key) = match family {
            Family::GameHeap => (switches.game_heap, "[GameHeap] Enabled"),
            Family::StaticCrt => (switches.static_crt, "[GameHeap] StaticCrt"),
        };
        if !on {
            return Some(GroupOutcome::Off(key));
        }
    }
    if !group.patches.is_empty() && !switches.vanilla_heaps_off {
        return Some(GroupOutcome::Off("[GameHeap] DisableVanillaHeaps"));
    }
    if group.when == When::Preload && moment == Moment::Load {
        return Some(GroupOutcome::NeedsPreload);
    }
    if moment == Moment::Load && !switches.game_heap_at_load && group.families().any(|f| f == Family::GameHeap) {
        return Some(GroupOutcome::VanillaAtLoad);
    }
    if let Some(missing) = group.requires.iter().find(|r| !live.contains(&r.as_str())) {
        return Some(GroupOutcome::NeedsGroup(missing.clone()));
    }
    if let Some(role) = group.missing_release_role() {
        return Some(GroupOutcome::Refused(format!(
            "it hands out blocks but does not hook {}, where they would come back",
            role.name()
        )));
    }
    None
}

fn apply_group(exe: &Executable, group: &Group, slots: &mut HashMap<Role, usize>) -> GroupOutcome {
    let mut taken = slots.clone();
    match prepare(exe, group, &mut taken) {
        Ok((transaction, trampolines)) => {
            trampolines.publish();
            match transaction.commit() {
                Ok(hooks) => {
                    *slots = taken;
                    let mut live = LIVE.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                    let roles = group.hooks.iter().map(|h| (h.address, h.role));
                    live.extend(roles.zip(hooks).map(|((address, role), hook)| (address, role, hook.detour())));
                    if !group.patches.is_empty() {
                        // A group of patches switches the vanilla heaps off
                        // (see `decide`): the original allocate has none left.
                        entries::vanilla_heaps_off();
                    }
                    GroupOutcome::Live { hooks: group.hooks.len(), patches: group.patches.len() }
                }
                Err(e) => GroupOutcome::Refused(e.to_string()),
            }
        }
        Err(why) => GroupOutcome::Refused(why),
    }
}

/// Checks and prepares every target of the group; the first refusal ends it.
fn prepare(
    exe: &Executable,
    group: &Group,
    slots: &mut HashMap<Role, usize>,
) -> Result<(Transaction, Trampolines), String> {
    let mut transaction = Transaction::new();
    let mut trampolines = Trampolines::default();
    for hook in &group.hooks {
        let what = target(hook);
        let slot = slots.entry(hook.role).or_insert(0);
        let entry = entries::entry(hook.role, *slot)
            .ok_or_else(|| format!("{what}: more than {SLOTS} addresses for role {}", hook.role.name()))?;
        let address = hook.address as usize;
        expect_at(exe, address, hook.bytes.as_ref()).map_err(|m| format!("{what}: {m}"))?;
        // The frame the entry relies on (a `ret n`), wherever the profile says.
        for frame in &hook.expect {
            expect_at(exe, frame.address as usize, Some(&frame.bytes)).map_err(|m| format!("{what}: {m}"))?;
        }
        let id = transaction.hook(address, entry, None).map_err(|e| format!("{what}: {e}"))?;
        trampolines.add(hook.role, *slot, id.trampoline());
        *slot += 1;
    }
    for patch in &group.patches {
        prepare_patch(exe, &mut transaction, patch)
            .map_err(|why| format!("patch at 0x{:08X}: {why}", patch.address))?;
    }
    Ok((transaction, trampolines))
}

/// The expected bytes are at `address` (when the profile gives them), in
/// the executable's code.
fn expect_at(exe: &Executable, address: usize, expected: Option<&game_profile::Pattern>) -> Result<(), Mismatch> {
    let len = expected.map_or(inline_hook::trampoline::PATCH_LEN, |p| p.len());
    let found = exe.code(address, len)?;
    match expected {
        Some(pattern) if !pattern.matches(&found) => {
            Err(Mismatch::Bytes { address, found, expected: pattern.to_string() })
        }
        _ => Ok(()),
    }
}

fn prepare_patch(exe: &Executable, transaction: &mut Transaction, patch: &Patch) -> Result<(), String> {
    let address = patch.address as usize;
    let found = exe.code(address, patch.expect.len()).map_err(|m| m.to_string())?;
    if !patch.expect.matches(&found) {
        return Err(Mismatch::Bytes { address, found, expected: patch.expect.to_string() }.to_string());
    }
    transaction.patch(address, &found, &patch.bytes.bytes()).map_err(|e| e.to_string())
}

/// The live hooks whose jump someone has overwritten since they went live
/// (another heap replacer that came later), with where they lead now: the
/// game then runs two heap replacers, which this cannot undo but can say.
pub fn overwritten() -> Vec<String> {
    let live = LIVE.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    live.iter()
        .filter_map(|&(address, role, detour)| {
            let code = inline_hook::read_code(address as usize, PEEK)?;
            match first_redirect(&code, address as usize) {
                Some(Redirect::Jump(to)) if to == detour => None,
                Some(redirect) => Some(format!("0x{address:08X} ({}) now {}", role.name(), describe(redirect))),
                None => Some(format!("0x{address:08X} ({}) no longer jumps to the plugin", role.name())),
            }
        })
        .collect()
}
