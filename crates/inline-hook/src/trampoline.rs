//! Planning a trampoline: which instructions at the target are moved, and
//! their relocated copy followed by a jump back.
//!
//! Pure code on bytes and addresses, so it runs (and is tested) on any host:
//! iced-x86 decodes 32-bit code everywhere. Nothing here touches memory.

use core::fmt;

use iced_x86::{
    BlockEncoder, BlockEncoderOptions, Code, Decoder, DecoderError, DecoderOptions, FlowControl, Instruction,
    InstructionBlock, OpKind,
};

/// Bytes the jump written at a target takes (`E9 rel32`).
pub const PATCH_LEN: usize = 5;

/// How many bytes from the target are read for a plan: the moved
/// instructions and, after them, the code searched for branches back into
/// them. Branches from further away are not seen (MinHook does not look at
/// all); prologue loops are short.
pub const LOOKAHEAD: usize = 64;

/// The most bytes a trampoline can take: at most 19 moved bytes (4 and a
/// 15-byte instruction), a short branch widened to 6 or a LOOP rewritten to
/// 9, and the 5-byte jump back fit well within it.
pub const MAX_TRAMPOLINE: usize = 64;

/// A trampoline ready to be written at the address it was planned for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    code: Vec<u8>,
    moved: usize,
    offsets: Vec<Moved>,
}

/// Where one moved instruction went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Moved {
    /// Its offset from the target.
    pub old: usize,
    /// Its offset in the trampoline, or `None` if it was rewritten into
    /// several (a LOOP or JECXZ that could not reach): no single place in the
    /// trampoline does what the original did at its start.
    pub new: Option<usize>,
}

impl Plan {
    /// The trampoline's code: the moved instructions, then the jump back.
    pub fn code(&self) -> &[u8] {
        &self.code
    }

    /// How many bytes at the target the moved instructions take; the patch
    /// covers exactly these (the jump, then `int3` up to here).
    pub fn moved_len(&self) -> usize {
        self.moved
    }

    /// Each moved instruction's start, old and new, in order.
    pub fn offsets(&self) -> &[Moved] {
        &self.offsets
    }

    /// Where a thread stopped `old` bytes into the target goes on in the
    /// trampoline; `None` unless `old` starts a moved instruction that kept
    /// its shape.
    pub fn new_offset(&self, old: usize) -> Option<usize> {
        self.offsets.iter().find(|moved| moved.old == old).and_then(|moved| moved.new)
    }
}

/// How a target that already leaves at its first instruction leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Redirect {
    /// `jmp rel32` or `jmp rel8` to this address.
    Jump(usize),
    /// `jmp` through memory or a register (`FF 25 [slot]` when `slot` is known).
    JumpIndirect { slot: Option<usize> },
    /// `push imm32; ret` to this address.
    PushRet(usize),
    /// A `call` as the first instruction (to this address, when known).
    Call(Option<usize>),
}

impl fmt::Display for Redirect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Redirect::Jump(to) => write!(f, "jmp {to:#x}"),
            Redirect::JumpIndirect { slot: Some(slot) } => write!(f, "jmp [{slot:#x}]"),
            Redirect::JumpIndirect { slot: None } => f.write_str("an indirect jmp"),
            Redirect::PushRet(to) => write!(f, "push {to:#x}; ret"),
            Redirect::Call(Some(to)) => write!(f, "call {to:#x}"),
            Redirect::Call(None) => f.write_str("an indirect call"),
        }
    }
}

/// Why a target's first instructions cannot be moved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanError {
    /// The target starts by going elsewhere: another hook (or a thunk) got
    /// there first. Hooking it again would chain hooks blindly.
    AlreadyHooked(Redirect),
    /// The function ends (`ret`, `jmp`) `end` bytes in, before the patch's 5.
    TooShort { end: usize },
    /// The bytes `offset` bytes in are no instruction.
    Invalid { offset: usize },
    /// The bytes given end inside the instructions to move.
    Truncated { len: usize },
    /// A branch at offset `from` goes to offset `to`, inside the bytes the
    /// patch replaces but not to an instruction the trampoline keeps.
    BranchIntoPatch { from: usize, to: usize },
    /// The encoder refused the moved instructions.
    Unencodable(String),
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlanError::AlreadyHooked(how) => write!(f, "already hooked: it starts with {how}"),
            PlanError::TooShort { end } => {
                write!(f, "the function ends {end} bytes in, too short for a {PATCH_LEN}-byte jump")
            }
            PlanError::Invalid { offset } => write!(f, "no valid instruction {offset} bytes in"),
            PlanError::Truncated { len } => write!(f, "only {len} bytes readable, the instructions to move go further"),
            PlanError::BranchIntoPatch { from, to } => {
                write!(f, "a branch {from} bytes in goes to {to} bytes in, inside the bytes the jump replaces")
            }
            PlanError::Unencodable(why) => write!(f, "the moved instructions cannot be re-encoded: {why}"),
        }
    }
}

impl std::error::Error for PlanError {}

/// Plans the trampoline for a hook at `target`, whose first bytes are
/// `code` (up to [`LOOKAHEAD`] of them are looked at), to be written at
/// `trampoline`.
///
/// Whole instructions covering at least [`PATCH_LEN`] bytes are moved and
/// re-encoded for their new address: relative calls and branches keep their
/// destination, short branches are widened, branches between moved
/// instructions go to the moved copies. A `jmp rel32` back to the first
/// instruction not moved ends the trampoline.
///
/// A relocated `call` pushes a return address inside the trampoline, so a
/// trampoline must live as long as the hook; code that reads its own return
/// address (`call $+5; pop`) is not expected in a Windows prologue.
pub fn plan(code: &[u8], target: usize, trampoline: usize) -> Result<Plan, PlanError> {
    let code = &code[..code.len().min(LOOKAHEAD)];
    let mut decoder = Decoder::with_ip(32, code, target as u64, DecoderOptions::NONE);
    let moved = decode_moved(&mut decoder, code)?;
    let moved_len = moved.iter().map(Instruction::len).sum::<usize>();
    check_branches_inside(&moved, target, moved_len)?;
    check_branches_back(&mut decoder, target, moved_len)?;
    encode(&moved, target, moved_len, trampoline)
}

/// Decodes the instructions to move: whole ones covering [`PATCH_LEN`] bytes.
fn decode_moved(decoder: &mut Decoder<'_>, code: &[u8]) -> Result<Vec<Instruction>, PlanError> {
    let mut moved = Vec::new();
    let mut len = 0;
    while len < PATCH_LEN {
        let instruction = decoder.decode();
        match decoder.last_error() {
            DecoderError::None => {}
            DecoderError::NoMoreBytes => return Err(PlanError::Truncated { len: code.len() }),
            _ => return Err(PlanError::Invalid { offset: len }),
        }
        if len == 0 {
            if let Some(how) = redirect(&instruction, code) {
                return Err(PlanError::AlreadyHooked(how));
            }
        }
        len += instruction.len();
        if ends_function(&instruction) && len < PATCH_LEN {
            return Err(PlanError::TooShort { end: len });
        }
        moved.push(instruction);
    }
    Ok(moved)
}

/// How the function whose first bytes are `code`, at `address`, leaves at
/// once, if it does: the mark another hook leaves.
pub fn first_redirect(code: &[u8], address: usize) -> Option<Redirect> {
    let mut decoder = Decoder::with_ip(32, code, address as u64, DecoderOptions::NONE);
    let first = decoder.decode();
    (decoder.last_error() == DecoderError::None).then(|| redirect(&first, code)).flatten()
}

/// How a first instruction leaves the function at once, if it does.
fn redirect(first: &Instruction, code: &[u8]) -> Option<Redirect> {
    match first.flow_control() {
        FlowControl::UnconditionalBranch => Some(Redirect::Jump(first.near_branch_target() as usize)),
        FlowControl::IndirectBranch => Some(Redirect::JumpIndirect { slot: absolute_slot(first) }),
        FlowControl::Call => Some(Redirect::Call(Some(first.near_branch_target() as usize))),
        FlowControl::IndirectCall => Some(Redirect::Call(None)),
        _ if first.code() == Code::Pushd_imm32 && code.get(first.len()) == Some(&0xC3) => {
            Some(Redirect::PushRet(first.immediate32() as usize))
        }
        _ => None,
    }
}

/// The slot of a `jmp [disp32]`, if that is what the instruction is.
fn absolute_slot(instruction: &Instruction) -> Option<usize> {
    let absolute = instruction.op0_kind() == OpKind::Memory
        && instruction.memory_base() == iced_x86::Register::None
        && instruction.memory_index() == iced_x86::Register::None;
    absolute.then(|| instruction.memory_displacement32() as usize)
}

/// Whether execution never falls through to the next instruction.
fn ends_function(instruction: &Instruction) -> bool {
    matches!(
        instruction.flow_control(),
        FlowControl::Return | FlowControl::UnconditionalBranch | FlowControl::IndirectBranch | FlowControl::Exception
    ) || instruction.code() == Code::Int3
}

/// The destination of a near branch, call, LOOP or JECXZ.
fn branch_target(instruction: &Instruction) -> Option<usize> {
    matches!(instruction.op0_kind(), OpKind::NearBranch16 | OpKind::NearBranch32)
        .then(|| instruction.near_branch_target() as usize)
}

/// Branches between moved instructions are redirected by the encoder, but
/// only to instruction starts: one into the middle of an instruction cannot
/// be followed into the trampoline.
fn check_branches_inside(moved: &[Instruction], target: usize, moved_len: usize) -> Result<(), PlanError> {
    let end = target + moved_len;
    for instruction in moved {
        let Some(to) = branch_target(instruction) else { continue };
        let starts_one = moved.iter().any(|other| other.ip() as usize == to);
        if (target..end).contains(&to) && !starts_one {
            return Err(PlanError::BranchIntoPatch { from: instruction.ip() as usize - target, to: to - target });
        }
    }
    Ok(())
}

/// A branch from the code after the moved instructions back into them (a
/// loop over the prologue) would land in the middle of the jump. One to the
/// target itself is fine: it reaches the detour, as a call would.
fn check_branches_back(decoder: &mut Decoder<'_>, target: usize, moved_len: usize) -> Result<(), PlanError> {
    let inside = target + 1..target + moved_len;
    while decoder.can_decode() {
        let instruction = decoder.decode();
        if instruction.is_invalid() {
            // Data or padding: what follows is not code we can follow.
            break;
        }
        if let Some(to) = branch_target(&instruction).filter(|to| inside.contains(to)) {
            return Err(PlanError::BranchIntoPatch { from: instruction.ip() as usize - target, to: to - target });
        }
    }
    Ok(())
}

/// Re-encodes the moved instructions at `trampoline`, then the jump back.
fn encode(moved: &[Instruction], target: usize, moved_len: usize, trampoline: usize) -> Result<Plan, PlanError> {
    let unencodable = |error: iced_x86::IcedError| PlanError::Unencodable(error.to_string());
    let mut block = moved.to_vec();
    // Its own IP stays 0, so the encoder does not take it for a moved one.
    block.push(Instruction::with_branch(Code::Jmp_rel32_32, (target + moved_len) as u64).map_err(unencodable)?);
    let options = BlockEncoderOptions::RETURN_NEW_INSTRUCTION_OFFSETS;
    let encoded =
        BlockEncoder::encode(32, InstructionBlock::new(&block, trampoline as u64), options).map_err(unencodable)?;
    if encoded.code_buffer.len() > MAX_TRAMPOLINE {
        return Err(PlanError::Unencodable(format!("{} bytes, more than {MAX_TRAMPOLINE}", encoded.code_buffer.len())));
    }
    let offsets = moved
        .iter()
        .zip(&encoded.new_instruction_offsets)
        .map(|(instruction, &new)| Moved {
            old: instruction.ip() as usize - target,
            new: (new != u32::MAX).then_some(new as usize),
        })
        .collect();
    Ok(Plan { code: encoded.code_buffer, moved: moved_len, offsets })
}
