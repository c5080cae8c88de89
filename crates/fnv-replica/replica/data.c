/*
 * The replica's data at the game's addresses (sources: facts file header;
 * fnv-memory.md section 1): the MemoryManager singleton and its pool tables,
 * the C runtime's heap handle and settings, the security cookie, what the
 * main loop's maintenance reads, and the slots through which the game's
 * code calls kernel32.
 */
#include "replica.h"

/* ---- .data ------------------------------------------------------------------ */

DATA_AT(011F6238) struct MemoryManager fnv_memory_manager;
DATA_AT(011F63B8) struct Pool *fnv_pools_by_region[256];
DATA_AT(011F67B8) struct Pool *fnv_pools_by_size[256];
/* Set once every pool was purged (0x00AA7030 tests its low bit). */
DATA_AT(011F6BD0) volatile unsigned int fnv_pools_purged;

DATA_AT(012705BC) HANDLE fnv_crtheap;
DATA_AT(01270948) int fnv_active_heap;
DATA_AT(0126FDFC) unsigned long fnv_maxwait;
/* Visual C++'s default cookie, until __security_init_cookie draws one. */
DATA_AT(011C16BC) unsigned long fnv_security_cookie = 0xBB40E64E;

/* The main loop's maintenance: the pool it decays next (0x011DEEF5), and
   the time since the last pass (0x011DEEF8). */
DATA_AT(011DEEF4) volatile struct Maintenance fnv_maintenance;
/* The player (g_thePlayer), whose state the main loop asks each frame. */
DATA_AT(011DEA3C) void *fnv_the_player;
/* The frame timer the main loop reads the frame's seconds from. */
DATA_AT(011F6394) unsigned char fnv_frame_timer[16];

/* ---- .rdata ----------------------------------------------------------------- */

/*
 * The slots the game's code calls kernel32 through (HeapAlloc, HeapReAlloc,
 * HeapFree, HeapSize and HeapCreate at the addresses Stutter Remover's
 * table gives; Sleep's slot is the replica's). They hold the import
 * library's stubs, which jump through the image's own import table: an
 * address known when linking, as a slot's content is once the loader ran.
 */
void kernel32_HeapReAlloc(void) __asm__("_HeapReAlloc@16");
void kernel32_HeapAlloc(void) __asm__("_HeapAlloc@12");
void kernel32_HeapFree(void) __asm__("_HeapFree@12");
void kernel32_HeapSize(void) __asm__("_HeapSize@12");
void kernel32_HeapCreate(void) __asm__("_HeapCreate@12");
void kernel32_Sleep(void) __asm__("_Sleep@4");

RDATA_AT(00FDF19C) void (*const fnv_iat_heap[4])(void) = {
    kernel32_HeapReAlloc, kernel32_HeapAlloc, kernel32_HeapFree, kernel32_HeapSize,
};
RDATA_AT(00FDF254) void (*const fnv_iat_heap_create)(void) = kernel32_HeapCreate;
RDATA_AT(00FDF258) void (*const fnv_iat_sleep)(void) = kernel32_Sleep;

/*
 * The scope tables of _realloc, _free and __msize (__SEH_prolog4 frames):
 * no GS cookie, the EH cookie below the saved registers, no __try scope.
 */
struct ScopeTable {
    int gs_cookie_offset;
    unsigned gs_cookie_xor_offset;
    int eh_cookie_offset;
    unsigned eh_cookie_xor_offset;
};
RDATA_AT(0117FED0) const struct ScopeTable fnv_scope_realloc = { -2, 0, -0x30, 0 };
RDATA_AT(0117FF10) const struct ScopeTable fnv_scope_free = { -2, 0, -0x2C, 0 };
RDATA_AT(0117FF30) const struct ScopeTable fnv_scope_msize = { -2, 0, -0x30, 0 };

/* How long the main loop waits between maintenance passes when nothing asks
   for one sooner, in seconds (the real value is not in the public dumps). */
RDATA_AT(010357E8) const double fnv_maintenance_period = 1.0;

/* Names the pool functions pass to the pools' locks. */
RDATA_AT(010A2808) const char fnv_pool_lock_name[] = "Pool";
RDATA_AT(010A2850) const char fnv_pool_decay_lock_name[] = "Pool decay";
RDATA_AT(010A2860) const char fnv_pool_release_lock_name[] = "Pool release";
