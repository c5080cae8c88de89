/*
 * The statically linked Visual C++ 2008 runtime's allocation functions
 * (cdecl), from their real first bytes on into what the runtime's source
 * does with the system heap (`__active_heap` 1, `_crtheap` at 0x012705BC),
 * and the SEH frame functions three of them call. Where the dumps give a
 * function's end too (the bytes before the next one), the body is laid out
 * to end in them.
 */
#include "macros.inc"

#define CRTHEAP 0x012705BC
#define MAXWAIT 0x0126FDFC
#define HEAPALLOC 0x00FDF1A0
#define HEAPREALLOC 0x00FDF19C
#define HEAPFREE 0x00FDF1A4
#define HEAPSIZE 0x00FDF1A8
#define SLEEP 0x00FDF258
#define ENOMEM 0x0C
#define EINVAL 0x16

/* ---- __SEH_prolog4 (0x00ED1714, 69 bytes) and __SEH_epilog4 ---------------
 * Called after `push locals; push scope table`: builds the frame (ebp),
 * the locals, saves ebx, esi and edi, the EH cookie, and registers the
 * frame's exception record (handler _except_handler4) in fs:[0].
 */
code 00ED1714
    push offset _replica_except_handler4
    push dword ptr fs:[0]
    mov eax, dword ptr [esp+0x10]
    mov dword ptr [esp+0x10], ebp
    lea ebp, [esp+0x10]
    sub esp, eax
    push ebx
    push esi
    push edi
    mov eax, dword ptr [0x011C16BC]
    xor dword ptr [ebp-4], eax
    xor eax, ebp
    push eax
    mov dword ptr [ebp-0x18], esp
    push dword ptr [ebp-8]
    mov eax, dword ptr [ebp-4]
    mov dword ptr [ebp-4], -2
    mov dword ptr [ebp-8], eax
    lea eax, [ebp-0x10]
    mov dword ptr fs:[0], eax
    ret

code 00ED1759
    mov ecx, dword ptr [ebp-0x10]
    mov dword ptr fs:[0], ecx
    pop ecx
    pop edi
    pop edi
    pop esi
    pop ebx
    {load} mov esp, ebp
    pop ebp
    push ecx
    ret

/* ---- _malloc(size), 0x00ECD1C7 ------------------------------------------- */
code 00ECD1C7
    fnv_bytes_00ECD1C7
    cmp dword ptr [CRTHEAP], 0
    jnz 1f
    /* No heap yet: the runtime ends the process (R6030). */
    push 0xFF
    call _replica_crt_exit
1:  mov eax, esi
    test esi, esi
    jnz 2f
    inc eax
2:  push eax
    push 0
    push dword ptr [CRTHEAP]
    call edi
    test eax, eax
    jnz 3f
    call _fnv_00EC85E3
    mov dword ptr [eax], ENOMEM
    xor eax, eax
3:  pop edi
    pop ebx
    pop esi
    pop ebp
    ret
at 0x00ECD27A
    /* More than _HEAP_MAXREQ (the ja of the first bytes): the new handler
       is told, errno is ENOMEM, no block. */
    push esi
    call _replica_callnewh
    pop ecx
    call _fnv_00EC85E3
at 0x00ECD286
    .byte 0xC7, 0x00, 0x0C   /* mov dword ptr [eax], ENOMEM, whose end is in: */
    fnv_bytes_00ECD289       /* 00 00 00; xor eax, eax; pop esi; pop ebp; ret */

/* ---- _free(block), 0x00ECD291 --------------------------------------------- */
code 00ECD291
    fnv_bytes_00ECD291
    /* __active_heap 3 (the V6 small-block heap) never happens here. */
    jmp 1f
at 0x00ECD2F0
1:  push esi
    push 0
    push dword ptr [CRTHEAP]
    call dword ptr [HEAPFREE]
    test eax, eax
    jnz 2f
    call _fnv_00EC85E3
    mov dword ptr [eax], EINVAL
2:  jmp _fnv_00ECD317 + 2    /* the epilogue: call __SEH_epilog4; ret */

/* ---- __msize(block), 0x00ECD31F ------------------------------------------ */
code 00ECD31F
    fnv_bytes_00ECD31F
    /* No block: errno EINVAL, -1 (the runtime's invalid-parameter report
       is not replicated). */
    call _fnv_00EC85E3
    mov dword ptr [eax], EINVAL
    or eax, -1
    jmp 1f
at 0x00ECD358
    push ebx
    push 0
    push dword ptr [CRTHEAP]
    call dword ptr [HEAPSIZE]
1:  call _fnv_00ED1759
    ret

/* ---- _realloc(block, size), 0x00ECCF5D ------------------------------------ */
code 00ECCF5D
    fnv_bytes_00ECCF5D
    /* No block: it was malloc (just called by the first bytes). */
    {disp32} jmp 9f
at 0x00ECCF7E
    mov esi, dword ptr [ebp+0xC]
    test esi, esi
    jnz 1f
    /* Size 0: the block is freed, no block returned. */
    push ebx
    call _fnv_00ECD291
    pop ecx
    xor eax, eax
    jmp 9f
1:  cmp esi, -32
    jbe 2f
    call _fnv_00EC85E3
    mov dword ptr [eax], ENOMEM
    xor eax, eax
    jmp 9f
2:  push esi
    push ebx
    push 0
    push dword ptr [CRTHEAP]
    call dword ptr [HEAPREALLOC]
    test eax, eax
    jnz 9f
    call _fnv_00EC85E3
    mov dword ptr [eax], ENOMEM
    xor eax, eax
    jmp 9f
at 0x00ECD14A
9:  call _fnv_00ED1759
    ret

/* ---- _calloc(count, size), 0x00EDDD7D ------------------------------------ */
code 00EDDD7D
    fnv_bytes_00EDDD7D
    /* _calloc_impl's block (esi); its errno, if it failed and set one. */
    test esi, esi
    jnz 1f
    cmp dword ptr [ebp-4], eax
    jz 1f
    call _fnv_00EC85E3
    test eax, eax
    jz 1f
    call _fnv_00EC85E3
    mov ecx, dword ptr [ebp-4]
    mov dword ptr [eax], ecx
1:  {load} mov eax, esi
    pop esi
    leave
    ret

/* ---- _recalloc(block, count, size), 0x00EE1700 --------------------------- */
code 00EE1700
    fnv_bytes_00EE1700
    /* count * size is more than _HEAP_MAXREQ: errno ENOMEM, no block. */
    mov dword ptr [eax], ENOMEM
    xor eax, eax
    jmp 9f
at 0x00EE1737
    /* realloc to count * size; the bytes past the old block's _msize are 0. */
    imul ecx, dword ptr [ebp+0x10]
    push esi
    push edi
    {load} mov edi, ecx
    xor esi, esi
    cmp dword ptr [ebp+8], ebx
    jz 1f
    push dword ptr [ebp+8]
    call _fnv_00ECD31F
    pop ecx
    {load} mov esi, eax
1:  push edi
    push dword ptr [ebp+8]
    call _fnv_00ECCF5D
    add esp, 8
    test eax, eax
    jz 2f
    cmp esi, edi
    jae 2f
    {load} mov edx, eax
    {load} mov ecx, edi
    sub ecx, esi
    lea edi, [eax+esi]
    xor eax, eax
    rep stosb
    {load} mov eax, edx
2:  pop edi
    pop esi
9:  pop ebx
    pop ebp
    ret

/* ---- the runtime's own *_crt wrappers: retried while _maxwait allows -----
 * Each calls the public function, and while it fails and _maxwait (ms) is
 * not 0, sleeps, adds a second to the wait, and tries again until the wait
 * passes _maxwait. Their last bytes are the facts' bytes before the next.
 */
.macro wait_and_retry
    push esi
    call dword ptr [SLEEP]
    lea eax, [esi+0x3E8]
    cmp eax, dword ptr [MAXWAIT]
    jbe 8f
    or eax, -1
8:  {load} mov esi, eax
    cmp esi, -1
.endm

code 00ED0CDF
    fnv_bytes_00ED0CDF
    wait_and_retry
at 0x00ED0D1C
    fnv_bytes_00ED0D1C      /* jnz back to the call; mov eax, edi; pop edi; pop esi; pop ebp; ret */

code 00ED0D24
    fnv_bytes_00ED0D24
    cmp dword ptr [MAXWAIT], eax
    jbe 1f + 2
    wait_and_retry
at 0x00ED0D68
1:  fnv_bytes_00ED0D68      /* jnz back to the call; then return what it got */

code 00ED0D70
    fnv_bytes_00ED0D70
    /* Size 0 (the first bytes compared it): freed, not retried. */
    jz 1f + 2
    cmp dword ptr [MAXWAIT], eax
    jbe 1f + 2
    wait_and_retry
at 0x00ED0DB6
1:  fnv_bytes_00ED0DB6      /* jnz back to the call; then return what it got */

code 00ED0DBE
    fnv_bytes_00ED0DBE
    mark .Lrecalloc_crt_retry, 0x00ED0DC7
    cmp dword ptr [ebp+0x10], eax
    jz 1f
    cmp dword ptr [MAXWAIT], eax
    jbe 1f
    wait_and_retry
    jnz .Lrecalloc_crt_retry
at 0x00ED0E0A
1:  {load} mov eax, edi
    pop edi
    pop esi
    pop ebp
    ret
