//! The planner on real prologue shapes: each trampoline is decoded back and
//! its branches checked.

use iced_x86::{Code, Decoder, DecoderOptions, Instruction};
use inline_hook::{plan, Moved, Plan, PlanError, Redirect};

const TARGET: usize = 0x0040_1000;
const TRAMPOLINE: usize = 0x1000_0000;

fn decode(code: &[u8], ip: usize) -> Vec<Instruction> {
    Decoder::with_ip(32, code, ip as u64, DecoderOptions::NONE).into_iter().collect()
}

/// The trampoline's instructions, checked to end with `jmp` back to the
/// first byte not moved.
fn trampoline(plan: &Plan) -> Vec<Instruction> {
    let mut instructions = decode(plan.code(), TRAMPOLINE);
    let back = instructions.pop().expect("a jump back");
    assert_eq!(back.code(), Code::Jmp_rel32_32);
    assert_eq!(back.near_branch_target() as usize, TARGET + plan.moved_len());
    instructions
}

fn moved(pairs: &[(usize, usize)]) -> Vec<Moved> {
    pairs.iter().map(|&(old, new)| Moved { old, new: Some(new) }).collect()
}

/// A plan whose moved bytes are copied unchanged.
fn assert_copied(code: &[u8], moved_len: usize, starts: &[usize]) {
    let plan = plan(code, TARGET, TRAMPOLINE).unwrap();
    assert_eq!(plan.moved_len(), moved_len);
    assert_eq!(&plan.code()[..moved_len], &code[..moved_len]);
    assert_eq!(trampoline(&plan).len(), starts.len());
    let same: Vec<_> = starts.iter().map(|&s| (s, s)).collect();
    assert_eq!(plan.offsets(), moved(&same));
}

#[test]
fn hot_patch_prologue() {
    // mov edi,edi; push ebp; mov ebp,esp; sub esp,10h; ...; ret
    assert_copied(&[0x8B, 0xFF, 0x55, 0x8B, 0xEC, 0x83, 0xEC, 0x10, 0xC3], 5, &[0, 2, 3]);
}

#[test]
fn frame_then_large_stack() {
    // push ebp; mov ebp,esp; sub esp,100h
    assert_copied(&[0x55, 0x8B, 0xEC, 0x81, 0xEC, 0x00, 0x01, 0x00, 0x00, 0xC3], 9, &[0, 1, 3]);
}

#[test]
fn large_stack_first() {
    // sub esp,100h; push ebx
    assert_copied(&[0x81, 0xEC, 0x00, 0x01, 0x00, 0x00, 0x53, 0xC3], 6, &[0]);
}

#[test]
fn seh_frame_read() {
    // mov eax,fs:[0]; push ebp
    assert_copied(&[0x64, 0xA1, 0x00, 0x00, 0x00, 0x00, 0x55], 6, &[0]);
}

#[test]
fn a_relative_call_keeps_its_destination() {
    // push 10h; call 0x00405000; add esp,4
    let destination = 0x0040_5000usize;
    let rel = (destination as u32).wrapping_sub(TARGET as u32 + 7);
    let mut code = vec![0x6A, 0x10, 0xE8];
    code.extend_from_slice(&rel.to_le_bytes());
    code.extend_from_slice(&[0x83, 0xC4, 0x04, 0xC3]);
    let plan = plan(&code, TARGET, TRAMPOLINE).unwrap();
    assert_eq!(plan.moved_len(), 7);
    let instructions = trampoline(&plan);
    assert_eq!(instructions[1].code(), Code::Call_rel32_32);
    assert_eq!(instructions[1].near_branch_target() as usize, destination);
    assert_eq!(plan.offsets(), moved(&[(0, 0), (2, 2)]));
}

#[test]
fn a_short_conditional_branch_is_widened_and_keeps_its_destination() {
    // test ecx,ecx; jz +10h; mov eax,[ecx]; ...
    let code = [0x85, 0xC9, 0x74, 0x10, 0x8B, 0x01, 0xC3];
    let plan = plan(&code, TARGET, TRAMPOLINE).unwrap();
    assert_eq!(plan.moved_len(), 6);
    let instructions = trampoline(&plan);
    assert_eq!(instructions[1].code(), Code::Je_rel32_32);
    assert_eq!(instructions[1].near_branch_target() as usize, TARGET + 4 + 0x10);
    // The widened jz takes 6 bytes: the mov after it moves by 4.
    assert_eq!(plan.offsets(), moved(&[(0, 0), (2, 2), (4, 8)]));
    assert_eq!(plan.new_offset(4), Some(8));
    assert_eq!(plan.new_offset(1), None);
}

#[test]
fn a_loop_back_to_the_start_follows_the_moved_copy() {
    // inc eax; loop <start>; nop; nop
    let code = [0x40, 0xE2, 0xFD, 0x90, 0x90, 0xC3];
    let plan = plan(&code, TARGET, TRAMPOLINE).unwrap();
    let instructions = trampoline(&plan);
    assert_eq!(instructions[1].code(), Code::Loop_rel8_32_ECX);
    assert_eq!(instructions[1].near_branch_target() as usize, TRAMPOLINE);
}

#[test]
fn a_far_loop_is_rewritten_and_its_start_has_no_new_place() {
    // loop +10h; push ebp; mov ebp,esp
    let code = [0xE2, 0x10, 0x55, 0x8B, 0xEC, 0xC3];
    let plan = plan(&code, TARGET, TRAMPOLINE).unwrap();
    assert_eq!(plan.offsets()[0], Moved { old: 0, new: None });
    let far = trampoline(&plan).into_iter().find(|i| i.code() == Code::Jmp_rel32_32).expect("a near jump for the loop");
    assert_eq!(far.near_branch_target() as usize, TARGET + 2 + 0x10);
}

#[test]
fn too_short() {
    // inc eax; ret
    assert_eq!(plan(&[0x40, 0xC3, 0xCC, 0xCC, 0xCC, 0xCC], TARGET, TRAMPOLINE), Err(PlanError::TooShort { end: 2 }));
}

#[test]
fn a_branch_back_into_the_replaced_bytes_is_refused() {
    // push ebp; mov ebp,esp; dec ecx; nop; jnz <dec ecx>; ret
    let code = [0x55, 0x8B, 0xEC, 0x49, 0x90, 0x75, 0xFC, 0xC3];
    assert_eq!(plan(&code, TARGET, TRAMPOLINE), Err(PlanError::BranchIntoPatch { from: 5, to: 3 }));
}

#[test]
fn a_branch_back_to_the_start_is_fine() {
    // push ebp; mov ebp,esp; dec ecx; nop; jnz <start>; ret
    let code = [0x55, 0x8B, 0xEC, 0x49, 0x90, 0x75, 0xF9, 0xC3];
    assert!(plan(&code, TARGET, TRAMPOLINE).is_ok());
}

#[test]
fn a_branch_into_the_middle_of_a_moved_instruction_is_refused() {
    // inc eax; jz <inside the mov>; mov eax,90909090h
    let code = [0x40, 0x74, 0x01, 0xB8, 0x90, 0x90, 0x90, 0x90, 0xC3];
    assert_eq!(plan(&code, TARGET, TRAMPOLINE), Err(PlanError::BranchIntoPatch { from: 1, to: 4 }));
}

#[test]
fn an_existing_jump_is_reported_as_already_hooked() {
    let rel = 0x2000_0000u32.wrapping_sub(TARGET as u32 + 5);
    let mut code = vec![0xE9];
    code.extend_from_slice(&rel.to_le_bytes());
    let refused = plan(&code, TARGET, TRAMPOLINE).unwrap_err();
    assert_eq!(refused, PlanError::AlreadyHooked(Redirect::Jump(0x2000_0000)));
    assert_eq!(refused.to_string(), "already hooked: it starts with jmp 0x20000000");
}

#[test]
fn push_ret_is_reported_as_already_hooked() {
    let code = [0x68, 0x78, 0x56, 0x34, 0x12, 0xC3];
    assert_eq!(plan(&code, TARGET, TRAMPOLINE), Err(PlanError::AlreadyHooked(Redirect::PushRet(0x1234_5678))));
}

#[test]
fn a_jump_through_memory_is_reported_as_already_hooked() {
    let code = [0xFF, 0x25, 0x00, 0x20, 0x40, 0x00];
    let expected = PlanError::AlreadyHooked(Redirect::JumpIndirect { slot: Some(0x0040_2000) });
    assert_eq!(plan(&code, TARGET, TRAMPOLINE), Err(expected));
}

#[test]
fn a_call_first_is_reported_as_already_hooked() {
    let code = [0xE8, 0x00, 0x00, 0x00, 0x00, 0xC3];
    assert_eq!(plan(&code, TARGET, TRAMPOLINE), Err(PlanError::AlreadyHooked(Redirect::Call(Some(TARGET + 5)))));
}

#[test]
fn invalid_and_truncated_code() {
    assert_eq!(plan(&[0x55, 0xFF, 0xFF, 0x90, 0x90, 0x90], TARGET, TRAMPOLINE), Err(PlanError::Invalid { offset: 1 }));
    assert_eq!(plan(&[0x55, 0x8B], TARGET, TRAMPOLINE), Err(PlanError::Truncated { len: 2 }));
}
