/*
 * The replica of FalloutNV.exe 1.4.0.525's memory management: what its C
 * code shares. Code and data that the game has at a known address are put
 * there (CODE_AT, DATA_AT, RDATA_AT: an input section named after the
 * address, placed by the generated linker script); the rest is ordinary
 * code of the image.
 *
 * Names follow the game's where public analysis gives them (psycho's
 * analysis/ folder, see facts/FalloutNV-1.4.0.525.toml); fixed-address
 * functions are named fnv_<ADDRESS>, as the generated code calls them.
 */
#ifndef REPLICA_H
#define REPLICA_H

#include <stddef.h>
#include <windows.h>

#define CODE_AT(hex) __attribute__((section(".fnv$" #hex), used, noinline))
#define DATA_AT(hex) __attribute__((section(".fnvd$" #hex), used))
#define RDATA_AT(hex) __attribute__((section(".fnvr$" #hex), used))
#define GAME_THISCALL __attribute__((thiscall))
#define GAME_FASTCALL __attribute__((fastcall))

/* ---- the game heap --------------------------------------------------------- */

struct Heap;

/* A heap's methods, at the slots the game's MemoryManager calls. */
struct HeapVtbl {
    void *unused0[2];
    void *(GAME_THISCALL *allocate)(struct Heap *, size_t size, int flag); /* +0x08 */
    void (GAME_THISCALL *free)(struct Heap *, void *p, int flag);           /* +0x0C */
    void *unused1[5];
    size_t (GAME_THISCALL *size)(struct Heap *, void *p, int flag); /* +0x24 */
};

/*
 * A heap: the Default and File heaps reserve their address space at once
 * and commit it as blocks are made; the Static heap carves blocks out of
 * one buffer from the C runtime and never frees them. The Default and File
 * heaps' vtable, the size reserved and the reservation's base are where the
 * game has them (psycho's start-up: 0x00AA78A0 sets the vtable 0x010A28FC,
 * 0x00AA8CA0 the size at +0x14, 0x00AA8DD0 the base at +0x30); the rest is
 * the replica's.
 */
struct Heap {
    const struct HeapVtbl *vtbl; /* +0x00 */
    const char *name;            /* +0x04 */
    size_t committed;            /* +0x08 bytes committed from base */
    char *bump;                  /* +0x0C the next block's header, at or past `base` */
    unsigned unused0;            /* +0x10 */
    size_t reserved;             /* +0x14 bytes reserved (or the buffer's size) */
    unsigned unused1[6];         /* +0x18 */
    char *base;                  /* +0x30 what it reserved (or its buffer) */
    void *free_lists[24]; /* freed blocks by size class, linked through their first word */
    CRITICAL_SECTION lock;
    volatile long live_blocks;
    volatile long made_blocks;
};
_Static_assert(offsetof(struct Heap, reserved) == 0x14, "the game's offset of a heap's size reserved");
_Static_assert(offsetof(struct Heap, base) == 0x30, "the game's offset of a heap's reservation");

/*
 * A small-block pool: blocks of one size in a reservation at a 16 MB
 * boundary, found by address through the table of 16 MB regions. The game
 * reads base at +0x04, the block size at +0x40 and the size reserved at
 * +0x50; the rest is the replica's. Freed blocks are listed outside them
 * (a stack of block numbers at the end of the reservation): a freed block
 * keeps its bytes until made again, as the game's pools do.
 */
struct Pool {
    const void *vtbl;        /* +0x00 */
    char *base;              /* +0x04 */
    const char *name;        /* +0x08 */
    CRITICAL_SECTION lock;   /* +0x0C */
    size_t committed;        /* +0x24 bytes of blocks committed */
    unsigned next;           /* +0x28 blocks ever handed out from the top */
    unsigned *free_stack;    /* +0x2C */
    unsigned free_count;     /* +0x30 */
    volatile long live;      /* +0x34 */
    volatile long uses;      /* +0x38 decayed by the main loop's maintenance */
    unsigned capacity;       /* +0x3C blocks */
    size_t block;            /* +0x40 */
    unsigned unused[3];      /* +0x44 */
    size_t reserved;         /* +0x50 */
};

/* The MemoryManager singleton at 0x011F6238 (layout: fnv-memory.md, 1a). */
struct MemoryManager {
    unsigned char initialized;        /* +0x000 */
    unsigned char unused0;
    unsigned short heap_count;        /* +0x002 */
    unsigned short physical_heaps;    /* +0x004 */
    unsigned short unused1;
    struct Heap **heaps;              /* +0x008 */
    struct Heap *by_context[66];      /* +0x00C; +0x110 is the default context (65) */
    void *scrap_map[4];               /* +0x114 */
    unsigned int unused2;             /* +0x124 */
    unsigned char flag128;            /* +0x128 */
    unsigned char pools_first;        /* +0x129 small blocks from the pools */
    unsigned short unused3;
    unsigned int unused4[3];          /* +0x12C */
};

#define DEFAULT_CONTEXT 65

extern struct MemoryManager fnv_memory_manager;      /* 0x011F6238 */
extern struct Pool *fnv_pools_by_region[256];        /* 0x011F63B8: by address >> 24 */
extern struct Pool *fnv_pools_by_size[256];          /* 0x011F67B8: by rounded size / 4 */
/* What the main loop's per-frame pool maintenance reads and writes. */
struct Maintenance {
    unsigned char unused0;
    unsigned char index; /* 0x011DEEF5: the pool decayed next, 0..255 */
    unsigned char unused1[2];
    float timer;         /* 0x011DEEF8: seconds since the last pass */
};
extern volatile struct Maintenance fnv_maintenance; /* 0x011DEEF4 */
extern void *fnv_the_player;                         /* 0x011DEA3C: null until in game */

/* The game's own functions, called at their addresses (hooks included). */
void *GAME_THISCALL fnv_00AA3E40(struct MemoryManager *, size_t);       /* Allocate */
void GAME_THISCALL fnv_00AA4060(struct MemoryManager *, void *);         /* Free */
void *__cdecl fnv_00ECD1C7(size_t);                                  /* _malloc */
void __cdecl fnv_00ECD291(void *);                                   /* _free */
size_t __cdecl fnv_00ECD31F(void *);                                 /* __msize */

/* ---- the static C runtime ------------------------------------------------- */

extern HANDLE fnv_crtheap;           /* 0x012705BC */
extern int fnv_active_heap;          /* 0x01270948: 1, the system heap */
extern unsigned long fnv_maxwait;    /* 0x0126FDFC: how long *_crt retry, 0: never */
extern unsigned long fnv_security_cookie; /* 0x011C16BC */

/* ---- what the stand-in reads --------------------------------------------- */

/*
 * The replica's own account of the vanilla heaps, for the stand-in's checks
 * (the game keeps such counts in its heaps; these are gathered in one place).
 */
struct ReplicaState {
    volatile long heaps_created;      /* Default, Static and File */
    volatile long pools_created;
    volatile long long reserved;      /* address space the heaps and pools reserved */
    volatile long maintenance_calls;  /* a pool's per-frame decay */
    volatile long frames;
};

extern struct ReplicaState replica_state;

/* Blocks live in the vanilla heaps and pools now. */
long replica_vanilla_blocks(void);

#endif
