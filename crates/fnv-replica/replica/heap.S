/*
 * The game heap: the MemoryManager's methods (thiscall, the singleton at
 * 0x011F6238 in ecx) from their real first bytes, as far as the public
 * dumps give them, on into bodies that do what the game's do (decompiled in
 * psycho's gheap_patch_manifest_audit.txt). Where the game's body would go
 * through its heaps and pools, these call the replica's C (heap.c).
 */
#include "macros.inc"

/* ---- Allocate(size), 0x00AA3E40 ---------------------------------------- */
code 00AA3E40
    fnv_bytes_00AA3E40
    /* Not initialised: the C runtime's block, from the fallback just called. */
    mov dword ptr [ebp-8], eax
    jmp 1f
at 0x00AA3E66
    /* Initialised (the jnz of the first bytes): pools, then the heaps. */
    push dword ptr [ebp+8]
    mov ecx, dword ptr [ebp-0x30]
    call _replica_heap_allocate
    mov dword ptr [ebp-8], eax
1:  mov eax, dword ptr [ebp-8]
    {load} mov esp, ebp
    pop ebp
    ret 4

/* ---- Free(block), 0x00AA4060 -------------------------------------------- */
code 00AA4060
    fnv_bytes_00AA4060
    /* Not initialised: the C runtime's free (the first bytes pushed 0). */
    mov edx, dword ptr [ebp+8]
    push edx
    mov ecx, dword ptr [ebp-0x10]
    call _fnv_00AA42C0
    {disp32} jmp 1f
at 0x00AA4091
    /* Initialised: the block's pool, else its heap, else the C runtime. */
    push dword ptr [ebp+8]
    mov ecx, dword ptr [ebp-0x10]
    call _replica_heap_free
    jmp 1f
at 0x00AA4146
1:  {load} mov esp, ebp
    /* pop ebp; ret 4; then int3 up to the next function */
    fnv_bytes_00AA4148

/* ---- Reallocate(block, size), 0x00AA4150 and 0x00AA4200 ------------------
 * Both alike: the old block's size (Size, just called by the first bytes,
 * in [ebp-8]); 0 means no heap of the game's holds it, and the C runtime's
 * realloc resizes it; else a new block from Allocate takes what fits, and
 * Free releases the old one. They end in `ret 8` at the profile's address.
 */
.macro reallocate ret8
    cmp dword ptr [ebp-8], 0
    jnz 1f
    push dword ptr [ebp+0xC]
    push dword ptr [ebp+8]
    call _fnv_00ECCF5D
    add esp, 8
    mov dword ptr [ebp-4], eax
    jmp 2f
1:  push dword ptr [ebp+0xC]
    mov ecx, dword ptr [ebp-0x10]
    call _fnv_00AA3E40
    mov dword ptr [ebp-4], eax
    mov ecx, dword ptr [ebp-8]
    cmp ecx, dword ptr [ebp+0xC]
    jbe 3f
    mov ecx, dword ptr [ebp+0xC]
3:  push esi
    push edi
    mov esi, dword ptr [ebp+8]
    mov edi, eax
    rep movsb
    pop edi
    pop esi
    push dword ptr [ebp+8]
    mov ecx, dword ptr [ebp-0x10]
    call _fnv_00AA4060
    jmp 2f
at (\ret8-6)
2:  mov eax, dword ptr [ebp-4]
    {load} mov esp, ebp
    pop ebp
at \ret8
.endm

code 00AA4150
    fnv_bytes_00AA4150
    reallocate 0x00AA41D9
    fnv_bytes_00AA41D9

code 00AA4200
    fnv_bytes_00AA4200
    reallocate 0x00AA4289
    fnv_bytes_00AA4289

/* ---- Size(block), 0x00AA44C0 --------------------------------------------- */
code 00AA44C0
    fnv_bytes_00AA44C0
    /* In a pool's 16 MB region (the pool in [ebp-8]); at 0x00AA451E: not. */
    mov eax, dword ptr [ebp+8]
    push eax
    mov ecx, dword ptr [ebp-0x14]
    call _replica_heap_size
    jmp 1f
at 0x00AA451E
    push dword ptr [ebp+8]
    mov ecx, dword ptr [ebp-0x14]
    call _replica_heap_size
1:  {load} mov esp, ebp
    pop ebp
    ret 4

/* ---- the pool tables cleared, 0x00AA6840 --------------------------------- */
code 00AA6840
    fnv_bytes_00AA6840
    /* for (i = 0; i < 256; i++) both tables' entry i = 0 */
1:  mov eax, dword ptr [ebp-4]
    add eax, 1
    mov dword ptr [ebp-4], eax
at 0x00AA6858
    cmp dword ptr [ebp-4], 0x100
    jge 2f
    mov ecx, dword ptr [ebp-4]
    mov dword ptr [ecx*4 + 0x011F67B8], 0
    mov dword ptr [ecx*4 + 0x011F63B8], 0
    jmp 1b
2:  {load} mov esp, ebp
    pop ebp
    ret

/* ---- the Default, Static and File heaps created, 0x00866E00 (fastcall) ----
 * The reservations of the Default and File heaps are the immediates the
 * game pushes at 0x00866E9F and 0x00866F88, where xNVSE's loader writes its
 * [Memory] sizes: what the heaps reserve is what those dwords hold.
 */
code 00866E00
    fnv_bytes_00866E00
    /* The C++ exception frame the first bytes began: the cookie, then it is
       registered in fs:[0] with its handler (0x00F13B71) for the calls. */
    sub esp, 0x30
    mov eax, dword ptr [0x011C16BC]
    xor eax, ebp
    push eax
    lea eax, [ebp-0xC]
    mov dword ptr fs:[0], eax
    mov dword ptr [ebp-0x10], ecx
    jmp 1f
at 0x00866E9F
1:  fnv_bytes_00866E9F      /* push the Default heap's reservation */
    jmp 2f
at 0x00866F88
2:  fnv_bytes_00866F88      /* push the File heap's reservation */
    /* thiscall(this, File's, Default's): the last pushed is the first argument */
    mov ecx, dword ptr [ebp-0x10]
    call _replica_create_heaps
    mov ecx, dword ptr [ebp-0xC]
    mov dword ptr fs:[0], ecx
    {load} mov esp, ebp
    pop ebp
    ret

/* The frame's C++ exception handler: nothing to unwind, the search goes on. */
code 00F13B71
    mov eax, 1
    ret

/* ---- the pools' maintenance --------------------------------------------- */

/* One pool purged (thiscall, the pool; the first bytes pushed its lock's name). */
code 00AA6F90
    fnv_bytes_00AA6F90
    call _replica_pool_purge
    {load} mov esp, ebp
    pop ebp
    ret

/* Every pool purged: a static's guard bit set once, then each pool. */
code 00AA7030
    fnv_bytes_00AA7030
    mov ecx, dword ptr [0x011F6BD0]
    or ecx, 1
    mov dword ptr [0x011F6BD0], ecx
    jmp 1f
at 0x00AA7065
1:  call _replica_purge_all
    {load} mov esp, ebp
    pop ebp
    ret

/* A pool's per-frame decay (cdecl, the pool's entry in the by-size table). */
code 00AA7290
    fnv_bytes_00AA7290
    jz 1f + 2
    push dword ptr [ebp+8]
    call _replica_pool_decay
    add esp, 4
    jmp 1f + 2
at 0x00AA72F8
1:  fnv_bytes_00AA72F8      /* ...; mov esp, ebp; pop ebp; ret: the bytes before 0x00AA7300 */

/* A pool's arena released (thiscall, the pool; its lock's name pushed). */
code 00AA7300
    fnv_bytes_00AA7300
    call _replica_pool_release
    {load} mov esp, ebp
    pop ebp
    ret

/* ---- the main loop, 0x0086E650 (fastcall, the game's main object) --------
 * Its first bytes, the replica's frame, then the game's own end of it: the
 * frame's seconds added to the maintenance timer; the maintenance (a pool's
 * decay, the next pool next time) when asked for, when the player's state
 * says so (the jnz at 0x0086EED4), or when the timer ran out; then return.
 */
code 0086E650
    fnv_bytes_0086E650
    mov ecx, dword ptr [ebp-0x18]
    call _replica_frame
    {disp32} jmp 1f
at 0x0086EE99
1:  fnv_bytes_0086EE99
