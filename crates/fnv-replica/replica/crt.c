/*
 * The rest of the replica's C runtime: the heap's creation and the cookie
 * at start-up, calloc's work, errno, and what crt.S calls that the dumps do
 * not show (new handler, fatal exit, the SEH frames' handler).
 */
#include "replica.h"

/* kernel32 through the game's own slots (data.c), as its code calls it. */
typedef HANDLE(WINAPI *HeapCreateFn)(DWORD, SIZE_T, SIZE_T);
typedef LPVOID(WINAPI *HeapAllocFn)(HANDLE, DWORD, SIZE_T);
extern void (*const fnv_iat_heap_create)(void);
extern void (*const fnv_iat_heap[4])(void);

#define HEAP_MAXREQ 0xFFFFFFE0u
#define ENOMEM 12

/* errno: one for the process (the runtime keeps one per thread). */
static int replica_errno;

CODE_AT(00EC85E3) int *fnv_00EC85E3(void) {
    return &replica_errno;
}

/* __heap_init: the runtime's heap, on which every block of its is made. */
static __attribute__((noinline)) int heap_init(void) {
    fnv_crtheap = ((HeapCreateFn)fnv_iat_heap_create)(0, 4096, 0);
    if (fnv_crtheap == NULL) {
        return 0;
    }
    fnv_active_heap = 1; /* __SYSTEM_HEAP */
    return 1;
}

CODE_AT(00EDDB6A) int fnv_00EDDB6A(void) {
    return heap_init();
}

/* __security_init_cookie: a cookie of this process and time, never the default. */
CODE_AT(00EDDB9A) void fnv_00EDDB9A(void) {
    LARGE_INTEGER counter;
    FILETIME now;
    unsigned long cookie;
    if (fnv_security_cookie != 0xBB40E64Eu) {
        return;
    }
    GetSystemTimeAsFileTime(&now);
    QueryPerformanceCounter(&counter);
    cookie = now.dwLowDateTime ^ now.dwHighDateTime ^ GetCurrentProcessId() ^ GetCurrentThreadId() ^
             GetTickCount() ^ counter.LowPart ^ counter.HighPart;
    fnv_security_cookie = cookie == 0xBB40E64Eu ? 0xBB40E64Fu : cookie;
}

/* _calloc_impl(count, size, &errno): zeroed bytes from the runtime's heap. */
CODE_AT(00EE15E2) void *fnv_00EE15E2(size_t count, size_t size, int *error) {
    size_t total;
    void *p;
    if (count != 0 && size > HEAP_MAXREQ / count) {
        *fnv_00EC85E3() = ENOMEM;
        return NULL;
    }
    total = count * size;
    p = ((HeapAllocFn)fnv_iat_heap[1])(fnv_crtheap, HEAP_ZERO_MEMORY, total != 0 ? total : 1);
    if (p == NULL && error != NULL) {
        *error = ENOMEM;
    }
    return p;
}

/* The new handler: none is set in the replica. */
int replica_callnewh(size_t size) {
    (void)size;
    return 0;
}

/* A runtime error that ends the process (no heap yet: R6030). */
void replica_crt_exit(int code) {
    ExitProcess((UINT)code);
}

/* _except_handler4 of the SEH frames: no __try scope is ever entered in
   the replica's runtime functions, so the search goes on past them. */
EXCEPTION_DISPOSITION replica_except_handler4(void *record, void *frame, void *context, void *dispatcher) {
    (void)record;
    (void)frame;
    (void)context;
    (void)dispatcher;
    return ExceptionContinueSearch;
}
