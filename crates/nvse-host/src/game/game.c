/*
 * A tiny stand-in for FalloutNV.exe's allocators, linked into nvse-host at a
 * fixed image base, for a plugin's profile to hook by address:
 *
 * - a statically linked C runtime over a private Win32 heap (as Visual C++
 *   2008's CRT, whose __heap_init creates it): malloc, calloc, realloc,
 *   _recalloc, _msize, free and the runtime's internal *_crt wrappers;
 * - the game's heap object, whose thiscall methods allocate from an arena
 *   once CreateHeaps made it, and from the C runtime before that.
 *
 * Every function the profile names counts its calls, in all threads
 * (game_*_calls) and in the one thread the checks run on (game_*_probe):
 * a hooked function that the plugin serves does not count.
 *
 * The shapes matter to the hook engine, so they are kept like the game's:
 * several functions start with the hot-patch prologue (8B FF 55 8B EC);
 * game_msize starts with `push 10h; call rel32`, like the game's SEH
 * prologues, so a hook moves a call it has to relocate; GameHeap_Realloc calls the other methods rather
 * than their bodies, so it goes through their hooks.
 */
#include <windows.h>
#include <string.h>

#define GAME_FN __attribute__((noinline, noipa, used))
#define HOT_PATCH __attribute__((ms_hook_prologue))
#define THISCALL __attribute__((thiscall))

/* The C runtime's functions, as indexes of its counters (game/mod.rs mirrors them). */
enum {
    CRT_MALLOC,
    CRT_MALLOC_CRT,
    CRT_CALLOC,
    CRT_CALLOC_CRT,
    CRT_REALLOC,
    CRT_REALLOC_CRT,
    CRT_RECALLOC,
    CRT_RECALLOC_CRT,
    CRT_MSIZE,
    CRT_FREE,
    CRT_ROLES
};

/* The heap's methods, likewise. */
enum { HEAP_ALLOCATE, HEAP_FREE, HEAP_SIZE, HEAP_REALLOC, HEAP_CREATE_HEAPS, HEAP_ROLES };

volatile long game_crt_calls[CRT_ROLES];
volatile long game_crt_probe[CRT_ROLES];
volatile long game_heap_calls[HEAP_ROLES];
volatile long game_heap_probe[HEAP_ROLES];
/* The thread whose calls also count in game_*_probe (0: none). */
volatile DWORD game_probe_thread;

static void count(volatile long *calls, volatile long *probe, int role) {
    InterlockedIncrement(&calls[role]);
    if (game_probe_thread == GetCurrentThreadId()) {
        probe[role]++;
    }
}

#define COUNT_CRT(role) count(game_crt_calls, game_crt_probe, role)
#define COUNT_HEAP(role) count(game_heap_calls, game_heap_probe, role)

/*
 * Old blocks: blocks made before the plugin loaded, which only the game's own
 * functions may release. game_watch_old() hands over their addresses (sorted);
 * the first time an original free, realloc or recalloc is handed one, it
 * counts once in game_old_released. The watch is published as one pointer:
 * game threads free while it starts and ends, and each must see a whole watch
 * or none (the arrays stay alive until the game's threads have stopped).
 */
struct old_watch {
    void *const *sorted;
    volatile long *seen;
    size_t count;
};
static struct old_watch g_watch_storage;
static struct old_watch *volatile g_watch;
volatile long game_old_released;

void game_watch_old(void *const *sorted, volatile long *seen, size_t count) {
    if (sorted == NULL || count == 0) {
        InterlockedExchangePointer((void *volatile *)&g_watch, NULL);
        return;
    }
    g_watch_storage.sorted = sorted;
    g_watch_storage.seen = seen;
    g_watch_storage.count = count;
    InterlockedExchangePointer((void *volatile *)&g_watch, &g_watch_storage);
}

static void note_release(void *p) {
    const struct old_watch *watch = g_watch;
    size_t low = 0, high;
    if (watch == NULL || p == NULL) {
        return;
    }
    high = watch->count;
    while (low < high) {
        size_t mid = low + (high - low) / 2;
        if (watch->sorted[mid] == p) {
            if (InterlockedExchange(&watch->seen[mid], 1) == 0) {
                InterlockedIncrement(&game_old_released);
            }
            return;
        }
        if ((char *)watch->sorted[mid] < (char *)p) {
            low = mid + 1;
        } else {
            high = mid;
        }
    }
}

/* ---- the static C runtime ------------------------------------------------ */

static HANDLE g_crt_heap;

/* The CRT's __heap_init: before it, nothing can be allocated. */
void game_crt_init(void) {
    if (g_crt_heap == NULL) {
        g_crt_heap = HeapCreate(0, 0, 0);
    }
}

/* Whether p is a block of the runtime's heap. */
int game_crt_owns(void *p) {
    return g_crt_heap != NULL && p != NULL && HeapValidate(g_crt_heap, 0, p);
}

/* What Visual C++ 2008's malloc does when its heap does not exist yet
   (_crtheap == 0): runtime error R6030, and the process ends. */
static void crt_not_initialised(void) {
    static const char message[] = "runtime error R6030 - CRT not initialized\r\n";
    DWORD written;
    WriteFile(GetStdHandle(STD_ERROR_HANDLE), message, sizeof message - 1, &written, NULL);
    ExitProcess(255);
}

/* What game_msize calls first (in EAX: the heap), counting the call. */
GAME_FN HANDLE game_msize_enter(void) {
    COUNT_CRT(CRT_MSIZE);
    return g_crt_heap;
}

GAME_FN HOT_PATCH void *game_malloc(size_t size) {
    COUNT_CRT(CRT_MALLOC);
    if (g_crt_heap == NULL) {
        crt_not_initialised();
    }
    if (size > (size_t)-32) {
        return NULL;
    }
    return HeapAlloc(g_crt_heap, 0, size ? size : 1);
}

/* Visual C++ 2008's _malloc_crt: malloc, retried a little while on failure. */
GAME_FN HOT_PATCH void *game_malloc_crt(size_t size) {
    void *p;
    int tries = 0;
    COUNT_CRT(CRT_MALLOC_CRT);
    while ((p = game_malloc(size)) == NULL && tries++ < 3) {
        Sleep(1);
    }
    return p;
}

GAME_FN void *game_calloc(size_t count_, size_t size) {
    COUNT_CRT(CRT_CALLOC);
    if (g_crt_heap == NULL || (size != 0 && count_ > ((size_t)-32) / size)) {
        return NULL;
    }
    size *= count_;
    return HeapAlloc(g_crt_heap, HEAP_ZERO_MEMORY, size ? size : 1);
}

GAME_FN HOT_PATCH void *game_calloc_crt(size_t count_, size_t size) {
    void *p;
    int tries = 0;
    COUNT_CRT(CRT_CALLOC_CRT);
    while ((p = game_calloc(count_, size)) == NULL && tries++ < 3) {
        Sleep(1);
    }
    return p;
}

/* realloc's work, shared by realloc and _recalloc: zero_from >= 0 zeroes the
   new bytes from there (the old _msize) to the new size. */
static void *crt_resize(void *p, size_t size, size_t zero_from, int zero) {
    void *q;
    if (p == NULL) {
        return g_crt_heap && size <= (size_t)-32 ? HeapAlloc(g_crt_heap, zero ? HEAP_ZERO_MEMORY : 0, size ? size : 1)
                                                 : NULL;
    }
    note_release(p);
    if (size == 0) {
        HeapFree(g_crt_heap, 0, p);
        return NULL;
    }
    if (size > (size_t)-32) {
        return NULL;
    }
    q = HeapReAlloc(g_crt_heap, 0, p, size);
    if (q != NULL && zero && size > zero_from) {
        memset((char *)q + zero_from, 0, size - zero_from);
    }
    return q;
}

GAME_FN HOT_PATCH void *game_realloc(void *p, size_t size) {
    COUNT_CRT(CRT_REALLOC);
    return crt_resize(p, size, 0, 0);
}

GAME_FN HOT_PATCH void *game_realloc_crt(void *p, size_t size) {
    void *q;
    int tries = 0;
    COUNT_CRT(CRT_REALLOC_CRT);
    while ((q = game_realloc(p, size)) == NULL && size != 0 && tries++ < 3) {
        Sleep(1);
    }
    return q;
}

/* _recalloc: realloc to count * size; the bytes past the old _msize are zero. */
GAME_FN void *game_recalloc(void *p, size_t count_, size_t size) {
    size_t old;
    COUNT_CRT(CRT_RECALLOC);
    if (size != 0 && count_ > ((size_t)-32) / size) {
        return NULL;
    }
    old = p != NULL ? HeapSize(g_crt_heap, 0, p) : 0;
    return crt_resize(p, count_ * size, old, 1);
}

GAME_FN HOT_PATCH void *game_recalloc_crt(void *p, size_t count_, size_t size) {
    void *q;
    int tries = 0;
    COUNT_CRT(CRT_RECALLOC_CRT);
    while ((q = game_recalloc(p, count_, size)) == NULL && count_ * size != 0 && tries++ < 3) {
        Sleep(1);
    }
    return q;
}

/*
 * _msize: HeapSize of the runtime's heap. Naked, so that it starts with
 * `push 10h` then a call rel32 (to game_msize_enter, which counts and returns
 * the heap): a hook moves both, and the call must keep its destination.
 */
GAME_FN __attribute__((naked)) size_t game_msize(__attribute__((unused)) void *p) {
    __asm__(
        "pushl $0x10\n\t"             /* 6A 10, as the runtime's SEH prologue starts */
        "call _game_msize_enter\n\t" /* E8 rel32 within the first 5 bytes: EAX = the heap */
        "addl $4, %esp\n\t"
        "pushl %ebp\n\t"
        "movl %esp, %ebp\n\t"
        "pushl 8(%ebp)\n\t" /* p */
        "pushl $0\n\t"      /* flags */
        "pushl %eax\n\t"    /* heap */
        "call *__imp__HeapSize@12\n\t"
        "popl %ebp\n\t"
        "ret");
}

GAME_FN HOT_PATCH void game_free(void *p) {
    COUNT_CRT(CRT_FREE);
    if (p != NULL) {
        note_release(p);
        HeapFree(g_crt_heap, 0, p);
    }
}

/* ---- the game's heap ----------------------------------------------------- */

#define ARENA_BYTES (64u << 20)
#define BLOCK_MAGIC 0x4B4C4248u /* "HBLK" */
#define SIZE_CLASSES 24         /* powers of two, 16 bytes to 128 MiB */

/* Before every arena block: 16 bytes, so that blocks stay 16-byte aligned. */
struct BlockHeader {
    unsigned magic;
    unsigned size;  /* as requested */
    unsigned freed; /* 1 once freed, until made again */
    unsigned size_class;
};

struct GameHeap {
    void *vtable; /* where the game's object has one: `this` is not the arena */
    char *arena;
    char *bump;
    char *end;
    CRITICAL_SECTION lock;
    void *free_lists[SIZE_CLASSES];
    volatile long arena_blocks; /* arena blocks ever made */
    volatile long bad_frees;    /* frees of arena blocks already free, or not blocks */
};

struct GameHeap g_game_heap;

static int owns(struct GameHeap *self, void *p) {
    return self->arena != NULL && (char *)p >= self->arena && (char *)p < self->end;
}

static unsigned size_class(size_t size) {
    unsigned c = 0;
    while (((size_t)16 << c) < size) {
        c++;
    }
    return c;
}

/* An arena block, or NULL when the arena is full (the caller falls back). */
static void *arena_allocate(struct GameHeap *self, size_t size) {
    unsigned c = size_class(size);
    struct BlockHeader *header = NULL;
    if (c >= SIZE_CLASSES) {
        return NULL;
    }
    EnterCriticalSection(&self->lock);
    if (self->free_lists[c] != NULL) {
        header = self->free_lists[c];
        self->free_lists[c] = *(void **)(header + 1);
    } else if ((size_t)(self->end - self->bump) >= sizeof *header + ((size_t)16 << c)) {
        header = (struct BlockHeader *)self->bump;
        self->bump += sizeof *header + ((size_t)16 << c);
    }
    if (header != NULL) {
        header->magic = BLOCK_MAGIC;
        header->size = (unsigned)size;
        header->freed = 0;
        header->size_class = c;
        self->arena_blocks++;
    }
    LeaveCriticalSection(&self->lock);
    return header != NULL ? header + 1 : NULL;
}

static struct BlockHeader *arena_header(void *p) {
    struct BlockHeader *header = (struct BlockHeader *)p - 1;
    return header->magic == BLOCK_MAGIC ? header : NULL;
}

GAME_FN THISCALL void *GameHeap_Allocate(struct GameHeap *self, size_t size) {
    void *p;
    COUNT_HEAP(HEAP_ALLOCATE);
    if (self->arena != NULL && (p = arena_allocate(self, size)) != NULL) {
        return p;
    }
    /* Before the heaps exist (and when the arena is full): the C runtime. */
    return game_malloc(size);
}

/* The work of GameHeap_Free, which OtherMod_GameHeapFree does too. */
static void heap_free(struct GameHeap *self, void *p) {
    struct BlockHeader *header;
    if (p == NULL) {
        return;
    }
    if (!owns(self, p)) {
        game_free(p);
        return;
    }
    note_release(p);
    EnterCriticalSection(&self->lock);
    header = arena_header(p);
    if (header == NULL || header->freed) {
        self->bad_frees++;
    } else {
        header->freed = 1;
        *(void **)p = self->free_lists[header->size_class];
        self->free_lists[header->size_class] = header;
    }
    LeaveCriticalSection(&self->lock);
}

GAME_FN HOT_PATCH THISCALL void GameHeap_Free(struct GameHeap *self, void *p) {
    COUNT_HEAP(HEAP_FREE);
    heap_free(self, p);
}

/* The size of an arena block; 0 for a pointer the heap does not own. */
GAME_FN THISCALL size_t GameHeap_Size(struct GameHeap *self, void *p) {
    struct BlockHeader *header;
    COUNT_HEAP(HEAP_SIZE);
    if (p == NULL || !owns(self, p)) {
        return 0;
    }
    header = arena_header(p);
    return header != NULL && !header->freed ? header->size : 0;
}

/* As the game's: not its block, the C runtime's realloc; else a new block. */
GAME_FN THISCALL void *GameHeap_Realloc(struct GameHeap *self, void *p, size_t size) {
    size_t old;
    void *q;
    COUNT_HEAP(HEAP_REALLOC);
    old = GameHeap_Size(self, p);
    if (old == 0) {
        return game_realloc(p, size);
    }
    q = GameHeap_Allocate(self, size);
    if (q != NULL) {
        memcpy(q, p, old < size ? old : size);
        GameHeap_Free(self, p);
    }
    return q;
}

/* Reserves and commits the arena (thiscall, no stack argument: `ret` skips it). */
GAME_FN HOT_PATCH THISCALL void GameHeap_CreateHeaps(struct GameHeap *self) {
    COUNT_HEAP(HEAP_CREATE_HEAPS);
    if (self->arena == NULL) {
        char *arena = VirtualAlloc(NULL, ARENA_BYTES, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
        if (arena != NULL) {
            self->bump = arena;
            self->end = arena + ARENA_BYTES;
            self->arena = arena;
        }
    }
}

/* Another heap mod's GameHeap_Free, which `--prehook heap-free` jumps to. */
volatile long othermod_free_calls;

GAME_FN THISCALL void OtherMod_GameHeapFree(struct GameHeap *self, void *p) {
    InterlockedIncrement(&othermod_free_calls);
    /* It does the game's job, as the game's own Free would have counted it. */
    COUNT_HEAP(HEAP_FREE);
    heap_free(self, p);
}

/* ---- static initialisers ------------------------------------------------- */

/* Blocks the game's static objects keep for good. */
void *game_startup_blocks[4];

/* The game's static initialisers: the heap object, then a few allocations. */
void game_cinit(void) {
    void *scratch;
    InitializeCriticalSection(&g_game_heap.lock);
    GameHeap_CreateHeaps(&g_game_heap);
    game_startup_blocks[0] = GameHeap_Allocate(&g_game_heap, 256);
    game_startup_blocks[1] = game_malloc_crt(64);
    game_startup_blocks[2] = game_calloc_crt(16, 8);
    game_startup_blocks[3] = GameHeap_Allocate(&g_game_heap, 4096);
    scratch = game_malloc(100);
    scratch = game_realloc(scratch, 300);
    game_free(scratch);
    scratch = GameHeap_Allocate(&g_game_heap, 48);
    GameHeap_Free(&g_game_heap, scratch);
}

/* What the checks read of the heap object. */
void *game_heap_arena(void) { return g_game_heap.arena; }
long game_heap_arena_blocks(void) { return g_game_heap.arena_blocks; }
long game_heap_bad_frees(void) { return g_game_heap.bad_frees; }
