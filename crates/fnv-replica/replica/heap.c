/*
 * The vanilla heaps and pools behind the MemoryManager (heap.S), and its
 * construction, as the game's work (psycho's analysis: start-up, pools,
 * vanilla_heap_reservation_audit.txt): the Default heap reserves 200 MB and
 * the File heap 64 MB and commit them as they grow, the Static heap carves
 * blocks out of one buffer from the C runtime, and 37 small-block pools each
 * reserve their size at a 16 MB boundary. The game's functions at known
 * addresses are here at those addresses; what the game does in more
 * functions than the public dumps name is done here in fewer.
 */
#include "replica.h"

/* The game's functions, called at their addresses: a patch or hook there applies. */
void GAME_FASTCALL fnv_00866E00(struct MemoryManager *) __asm__("_fnv_00866E00");
void GAME_FASTCALL fnv_00866770(struct MemoryManager *) __asm__("_fnv_00866770");
void fnv_00AA6840(void) __asm__("_fnv_00AA6840");

/* What the reservations and live blocks add up to (replica.h). */
struct ReplicaState replica_state;

static void note_reserved(size_t bytes) {
    InterlockedExchangeAdd64(&replica_state.reserved, (LONGLONG)bytes);
}

/* ---- the C runtime's fallbacks, 0x00AA4290 and 0x00AA42C0 ----------------- */

/* Before the heaps exist: the C runtime's malloc (the flag: not retried). */
CODE_AT(00AA4290) void *GAME_THISCALL fnv_00AA4290(struct MemoryManager *self, size_t size, int flag) {
    (void)self;
    (void)flag;
    return fnv_00ECD1C7(size);
}

CODE_AT(00AA42C0) void GAME_THISCALL fnv_00AA42C0(struct MemoryManager *self, void *p, int flag) {
    (void)self;
    (void)flag;
    fnv_00ECD291(p);
}

/* ---- a heap: blocks with an 8-byte header, by power-of-two class ----------- */

#define BLOCK_MAGIC 0x4B4C4248u /* "HBLK" */
#define COMMIT_STEP (64u << 10)

struct BlockHeader {
    unsigned size;  /* as requested */
    unsigned magic; /* BLOCK_MAGIC + the size class */
};

static unsigned size_class(size_t size) {
    unsigned c = 0;
    while (((size_t)16 << c) < size + sizeof(struct BlockHeader)) {
        c++;
    }
    return c;
}

/* Commits the heap's reservation up to `end`; whether it could. */
static int commit_to(struct Heap *heap, char *end) {
    size_t needed = (size_t)(end - heap->base);
    if (needed <= heap->committed) {
        return 1;
    }
    if (needed > heap->reserved) {
        return 0;
    }
    needed = (needed + COMMIT_STEP - 1) / COMMIT_STEP * COMMIT_STEP;
    if (needed > heap->reserved) {
        needed = heap->reserved;
    }
    if (VirtualAlloc(heap->base + heap->committed, needed - heap->committed, MEM_COMMIT, PAGE_READWRITE) == NULL) {
        return 0;
    }
    heap->committed = needed;
    return 1;
}

static void *GAME_THISCALL large_allocate(struct Heap *heap, size_t size, int flag) {
    unsigned c = size_class(size);
    struct BlockHeader *header = NULL;
    (void)flag;
    if (c >= sizeof heap->free_lists / sizeof heap->free_lists[0]) {
        return NULL;
    }
    EnterCriticalSection(&heap->lock);
    if (heap->free_lists[c] != NULL) {
        header = heap->free_lists[c];
        heap->free_lists[c] = *(void **)(header + 1);
    } else if (commit_to(heap, heap->bump + ((size_t)16 << c))) {
        header = (struct BlockHeader *)heap->bump;
        heap->bump += (size_t)16 << c;
    }
    if (header != NULL) {
        header->size = (unsigned)size;
        header->magic = BLOCK_MAGIC + c;
        heap->live_blocks++;
        heap->made_blocks++;
    }
    LeaveCriticalSection(&heap->lock);
    return header != NULL ? header + 1 : NULL;
}

static void GAME_THISCALL large_free(struct Heap *heap, void *p, int flag) {
    struct BlockHeader *header = (struct BlockHeader *)p - 1;
    (void)flag;
    EnterCriticalSection(&heap->lock);
    *(void **)p = heap->free_lists[header->magic - BLOCK_MAGIC];
    heap->free_lists[header->magic - BLOCK_MAGIC] = header;
    heap->live_blocks--;
    LeaveCriticalSection(&heap->lock);
}

static size_t GAME_THISCALL block_size(struct Heap *heap, void *p, int flag) {
    (void)heap;
    (void)flag;
    return ((struct BlockHeader *)p - 1)->size;
}

/* The Static heap: blocks never given back (the game frees none of them). */
static void *GAME_THISCALL static_allocate(struct Heap *heap, size_t size, int flag) {
    size_t span = (sizeof(struct BlockHeader) + size + 15) & ~(size_t)15;
    struct BlockHeader *header = NULL;
    (void)flag;
    EnterCriticalSection(&heap->lock);
    if ((size_t)(heap->base + heap->reserved - heap->bump) >= span) {
        header = (struct BlockHeader *)heap->bump;
        heap->bump += span;
        header->size = (unsigned)size;
        header->magic = BLOCK_MAGIC;
        heap->live_blocks++;
        heap->made_blocks++;
    }
    LeaveCriticalSection(&heap->lock);
    return header != NULL ? header + 1 : NULL;
}

static void GAME_THISCALL static_free(struct Heap *heap, void *p, int flag) {
    (void)heap;
    (void)p;
    (void)flag;
}

/* The heaps' vtables, at the game's addresses. */
RDATA_AT(010A28FC) const struct HeapVtbl fnv_large_heap_vtbl = {
    .allocate = large_allocate, .free = large_free, .size = block_size,
};
RDATA_AT(010A2884) const struct HeapVtbl fnv_static_heap_vtbl = {
    .allocate = static_allocate, .free = static_free, .size = block_size,
};

/* A heap object, made as the game makes it: a block of the game heap. */
static struct Heap *new_heap(struct MemoryManager *self, const struct HeapVtbl *vtbl, const char *name) {
    struct Heap *heap = fnv_00AA3E40(self, sizeof *heap);
    ZeroMemory(heap, sizeof *heap);
    heap->vtbl = vtbl;
    heap->name = name;
    InitializeCriticalSection(&heap->lock);
    InterlockedIncrement(&replica_state.heaps_created);
    return heap;
}

/* The Default and File heaps (the game's 0x00AA78A0): `reserve` bytes of
   address space at once. The second size the game passes is kept unused. */
static struct Heap *large_heap(struct MemoryManager *self, size_t reserve, size_t second, const char *name) {
    struct Heap *heap = new_heap(self, &fnv_large_heap_vtbl, name);
    (void)second;
    heap->base = VirtualAlloc(NULL, reserve, MEM_RESERVE, PAGE_READWRITE);
    if (heap->base == NULL) {
        ExitProcess(0); /* as the game's _exit(0) when it cannot reserve */
    }
    heap->reserved = reserve;
    heap->bump = heap->base;
    note_reserved(reserve);
    return heap;
}

/* The Static heap (0x00AA7400): its buffer from the C runtime's fallback. */
static struct Heap *static_heap(struct MemoryManager *self, size_t size, const char *name) {
    struct Heap *heap = new_heap(self, &fnv_static_heap_vtbl, name);
    heap->base = fnv_00AA4290(self, size, 1);
    heap->reserved = heap->base != NULL ? size : 0;
    heap->bump = heap->base;
    return heap;
}

/* The body of 0x00866E00: three heaps, and the contexts that use them. The
   two reservations are what the game's code pushed (heap.S). */
void GAME_THISCALL replica_create_heaps(struct MemoryManager *self, size_t file_reserve, size_t default_reserve) {
    struct Heap *heap;
    self->heap_count = 3;
    self->heaps = fnv_00AA3E40(self, self->heap_count * sizeof(struct Heap *));
    heap = large_heap(self, default_reserve, 0x05500000, "Default Heap");
    self->heaps[0] = heap;
    self->by_context[DEFAULT_CONTEXT] = heap;
    heap = static_heap(self, 0x183800, "Static Heap");
    self->heaps[1] = heap;
    self->by_context[0] = self->by_context[3] = self->by_context[9] = heap;
    heap = large_heap(self, file_reserve, 0x00200000, "File Heap");
    self->heaps[2] = heap;
    self->by_context[23] = heap;
    self->physical_heaps = 0;
}

/* The heap whose reservation holds `p` (the game's 0x00AA45A0). */
static struct Heap *heap_of(struct MemoryManager *self, void *p) {
    unsigned i;
    for (i = 0; i < self->heap_count && self->heaps != NULL; i++) {
        struct Heap *heap = self->heaps[i];
        if (heap != NULL && (char *)p >= heap->base && (char *)p < heap->base + heap->reserved) {
            return heap;
        }
    }
    return NULL;
}

/* ---- the small-block pools -------------------------------------------------- */

#define REGION (16u << 20)

/* The pool whose 16 MB region and reservation hold `p`. */
static struct Pool *pool_of(void *p) {
    struct Pool *pool = fnv_pools_by_region[(size_t)p >> 24];
    if (pool != NULL && (char *)p >= pool->base && (char *)p < pool->base + pool->reserved) {
        return pool;
    }
    return NULL;
}

/* A pool: `reserve` bytes at the first free 16 MB boundary, its blocks
   first, the stack of freed ones last. */
static __attribute__((noinline)) void new_pool(struct MemoryManager *self, size_t block, size_t reserve, const char *name) {
    struct Pool *pool = fnv_00AA3E40(self, sizeof *pool);
    char *base = NULL;
    size_t region, i;
    ZeroMemory(pool, sizeof *pool);
    for (region = 1; region < 256 && base == NULL; region++) {
        if (fnv_pools_by_region[region] == NULL) {
            base = VirtualAlloc((void *)(region * REGION), reserve, MEM_RESERVE, PAGE_READWRITE);
        }
    }
    if (base == NULL) {
        return;
    }
    pool->base = base;
    pool->name = name;
    pool->block = block;
    pool->reserved = reserve;
    pool->capacity = (unsigned)(reserve / (block + sizeof(unsigned)));
    pool->free_stack = (unsigned *)(base + (size_t)pool->capacity * block);
    VirtualAlloc(pool->free_stack, pool->capacity * sizeof(unsigned), MEM_COMMIT, PAGE_READWRITE);
    InitializeCriticalSection(&pool->lock);
    fnv_pools_by_region[(size_t)base >> 24] = pool;
    /* Every rounded size up to the block's that no smaller pool serves. */
    for (i = 0; i * 4 <= block && i < 256; i++) {
        if (fnv_pools_by_size[i] == NULL) {
            fnv_pools_by_size[i] = pool;
        }
    }
    note_reserved(reserve);
    InterlockedIncrement(&replica_state.pools_created);
}

/* The game's pool creation (thiscall), as the pool list calls it. */
CODE_AT(00AA3CC0) void GAME_THISCALL fnv_00AA3CC0(struct MemoryManager *self, size_t block, size_t reserve, const char *name) {
    new_pool(self, block, reserve, name);
}

static void *pool_allocate(struct Pool *pool) {
    char *p = NULL;
    EnterCriticalSection(&pool->lock);
    if (pool->free_count > 0) {
        p = pool->base + (size_t)pool->free_stack[--pool->free_count] * pool->block;
    } else if (pool->next < pool->capacity) {
        size_t end = (size_t)(pool->next + 1) * pool->block;
        if (end > pool->committed) {
            size_t to = (end + COMMIT_STEP - 1) / COMMIT_STEP * COMMIT_STEP;
            size_t limit = (size_t)pool->capacity * pool->block;
            to = to < limit ? to : limit;
            if (VirtualAlloc(pool->base + pool->committed, to - pool->committed, MEM_COMMIT, PAGE_READWRITE) != NULL) {
                pool->committed = to;
            }
        }
        if (end <= pool->committed) {
            p = pool->base + (size_t)pool->next++ * pool->block;
        }
    }
    if (p != NULL) {
        pool->live++;
        pool->uses++;
    }
    LeaveCriticalSection(&pool->lock);
    return p;
}

/* The freed block's number goes on the stack; its bytes stay as they were. */
static void pool_free(struct Pool *pool, void *p) {
    EnterCriticalSection(&pool->lock);
    pool->free_stack[pool->free_count++] = (unsigned)(((char *)p - pool->base) / pool->block);
    pool->live--;
    LeaveCriticalSection(&pool->lock);
}

/* ---- the MemoryManager's methods past their first bytes (heap.S) ---------- */

void *GAME_THISCALL replica_heap_allocate(struct MemoryManager *self, size_t size) {
    struct Heap *heap = self->by_context[DEFAULT_CONTEXT];
    size_t rounded = size < 9 ? 8 : (size + 3) & ~(size_t)3;
    void *p;
    if (heap == NULL) {
        return fnv_00AA4290(self, size, 0);
    }
    if (self->pools_first && rounded < 0x3FD && fnv_pools_by_size[rounded / 4] != NULL) {
        p = pool_allocate(fnv_pools_by_size[rounded / 4]);
        if (p != NULL) {
            return p;
        }
    }
    p = heap->vtbl->allocate(heap, rounded, 0);
    /* Out of memory: the game's stages end, on a worker, in the C runtime. */
    return p != NULL ? p : fnv_00AA4290(self, size, 0);
}

void GAME_THISCALL replica_heap_free(struct MemoryManager *self, void *p) {
    struct Pool *pool;
    struct Heap *heap;
    if (self->by_context[DEFAULT_CONTEXT] == NULL) {
        fnv_00AA42C0(self, p, 0);
    } else if ((pool = pool_of(p)) != NULL) {
        pool_free(pool, p);
    } else if ((heap = heap_of(self, p)) != NULL) {
        heap->vtbl->free(heap, p, 0);
    } else {
        fnv_00AA42C0(self, p, 0);
    }
}

/* A block of a pool or a heap; else the C runtime's _msize. No block (null)
   answers 0, so that resizing null allocates. */
size_t GAME_THISCALL replica_heap_size(struct MemoryManager *self, void *p) {
    struct Pool *pool;
    struct Heap *heap;
    if (p == NULL) {
        return 0;
    }
    if ((pool = pool_of(p)) != NULL) {
        return pool->block;
    }
    if ((heap = heap_of(self, p)) != NULL) {
        return heap->vtbl->size(heap, p, 0);
    }
    return fnv_00ECD31F(p);
}

/* ---- the pools' maintenance (heap.S) ------------------------------------- */

void GAME_THISCALL replica_pool_purge(struct Pool *pool, const char *lock_name) {
    (void)lock_name;
    if (pool != NULL) {
        EnterCriticalSection(&pool->lock);
        pool->uses = 0;
        LeaveCriticalSection(&pool->lock);
    }
}

void replica_purge_all(void) {
    unsigned i;
    for (i = 0; i < 256; i++) {
        if (fnv_pools_by_region[i] != NULL) {
            replica_pool_purge(fnv_pools_by_region[i], NULL);
        }
    }
}

/* The pool of by-size entry `index` was used less: its count halves. */
void replica_pool_decay(unsigned index) {
    struct Pool *pool = fnv_pools_by_size[index & 0xFF];
    InterlockedIncrement(&replica_state.maintenance_calls);
    if (pool != NULL) {
        InterlockedExchange(&pool->uses, pool->uses / 2);
    }
}

void GAME_THISCALL replica_pool_release(struct Pool *pool, const char *lock_name) {
    replica_pool_purge(pool, lock_name);
}

/* ---- what the stand-in counts ----------------------------------------------- */

long replica_vanilla_blocks(void) {
    struct MemoryManager *self = &fnv_memory_manager;
    long blocks = 0;
    unsigned i;
    for (i = 0; i < self->heap_count && self->heaps != NULL; i++) {
        blocks += self->heaps[i] != NULL ? self->heaps[i]->live_blocks : 0;
    }
    for (i = 0; i < 256; i++) {
        blocks += fnv_pools_by_region[i] != NULL ? fnv_pools_by_region[i]->live : 0;
    }
    return blocks;
}

/* ---- the MemoryManager's construction ------------------------------------ */

/* The init step (0x00AA39C0): tables cleared, heaps made, initialised, pools
   made, each through its address (the preload patches return at once). */
CODE_AT(00AA39C0) void GAME_FASTCALL fnv_00AA39C0(struct MemoryManager *self) {
    fnv_00AA6840();
    fnv_00866E00(self);
    self->initialized = 1;
    fnv_00866770(self);
}

/* The blocks the construction makes once the heap is up (the game's
   0x00866690 and 0x00AA2020), kept for good. */
void *replica_startup_blocks[3];

/* The constructor (0x00AA3880). The game also ends the process when the
   page file has less than 512 MB free; the replica does not look. */
CODE_AT(00AA3880) struct MemoryManager *GAME_FASTCALL fnv_00AA3880(struct MemoryManager *self) {
    self->initialized = 0;
    self->heap_count = 0;
    self->physical_heaps = 0;
    self->heaps = NULL;
    ZeroMemory(self->scrap_map, sizeof self->scrap_map);
    self->flag128 = 1;
    self->pools_first = 1;
    ZeroMemory(self->by_context, sizeof self->by_context);
    fnv_00AA39C0(self);
    replica_startup_blocks[0] = fnv_00AA3E40(self, 8);
    replica_startup_blocks[1] = fnv_00AA3E40(self, 4);
    replica_startup_blocks[2] = fnv_00AA3E40(self, 4);
    return self;
}

/* The C runtime's initialiser that constructs the singleton (0x00FB66A0). */
CODE_AT(00FB66A0) void fnv_00FB66A0(void) {
    fnv_00AA3880(&fnv_memory_manager);
}
