/*
 * MemoryPoolNVSE.h: what other NVSE plugins can ask MemoryPoolNVSE about
 * memory. C89, C99 and C++; 32-bit Windows (the game's ABI).
 *
 * Two ways in, which answer the same:
 *
 * 1. The DLL's exports (cdecl, undecorated names), resolved at run time:
 *    plugins do not link against each other, so MemoryPoolNVSE_LoadApi looks
 *    them up with GetModuleHandleA("MemoryPoolNVSE.dll") and GetProcAddress.
 *
 *        #include "MemoryPoolNVSE.h"
 *
 *        MemoryPoolNVSE_Api mp;
 *        MemoryPoolNVSE_Stats stats;
 *        if (MemoryPoolNVSE_LoadApi(&mp)) {
 *            memset(&stats, 0, sizeof stats);
 *            stats.size = sizeof stats;
 *            if (mp.GetStats(&stats) && mp.GetBackend() != MEMORYPOOLNVSE_BACKEND_NONE)
 *                _MESSAGE("%u blocks live", (unsigned)stats.live_blocks);
 *        }
 *
 * 2. An NVSE message, needing nothing but the messaging interface: dispatch
 *    MEMORYPOOLNVSE_MESSAGE_STATS to the receiver "MemoryPoolNVSE" with the
 *    struct as data and its size as dataLen. The struct is filled before
 *    Dispatch returns (filled != 0 says it was); a malformed query is
 *    ignored, and the plugin's log says why.
 *
 *        memset(&stats, 0, sizeof stats);
 *        stats.size = sizeof stats;
 *        messaging->Dispatch(myHandle, MEMORYPOOLNVSE_MESSAGE_STATS, &stats,
 *                            sizeof stats, MEMORYPOOLNVSE_PLUGIN_NAME);
 *
 *    Talk to other plugins after PostLoad, as NVSE's documentation advises.
 *
 * Every function may be called from any thread at any time after the plugin
 * loaded; none of them allocates, locks or logs, except that a refused call
 * or query is logged.
 */
#ifndef MEMORYPOOLNVSE_H
#define MEMORYPOOLNVSE_H

#if defined(_MSC_VER) && _MSC_VER < 1600
typedef unsigned __int8 uint8_t;
typedef unsigned __int32 uint32_t;
typedef unsigned __int64 uint64_t;
#else
#include <stdint.h>
#endif

#ifdef _WIN32
#include <windows.h>
#endif

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__cplusplus) || (defined(__STDC_VERSION__) && __STDC_VERSION__ >= 199901L)
#define MEMORYPOOLNVSE_INLINE static inline
#elif defined(_MSC_VER)
#define MEMORYPOOLNVSE_INLINE static __inline
#elif defined(__GNUC__)
#define MEMORYPOOLNVSE_INLINE static __inline__
#else
#define MEMORYPOOLNVSE_INLINE static
#endif

#if defined(_MSC_VER) || defined(__MINGW32__)
#define MEMORYPOOLNVSE_CALL __cdecl
#else
#define MEMORYPOOLNVSE_CALL
#endif

/* The DLL's file name, and its name for NVSE (PluginInfo::name, the
   receiver of messages). */
#define MEMORYPOOLNVSE_DLL_NAME "MemoryPoolNVSE.dll"
#define MEMORYPOOLNVSE_PLUGIN_NAME "MemoryPoolNVSE"

/* The NVSE message type of a statistics query: 'MPST'. */
#define MEMORYPOOLNVSE_MESSAGE_STATS 0x4D505354u

/* Which allocator serves the game's allocations (MemoryPoolNVSE_GetBackend,
   MemoryPoolNVSE_Stats::backend). */
enum MemoryPoolNVSE_BackendId {
    /* Serving nothing: disabled in MemoryPoolNVSE.ini, or the heap could not
       start (the log says why). */
    MEMORYPOOLNVSE_BACKEND_NONE = 0,
    MEMORYPOOLNVSE_BACKEND_RPMALLOC = 1,
    MEMORYPOOLNVSE_BACKEND_MIMALLOC = 2,
    /* The original allocators serve everything; the plugin only counts. */
    MEMORYPOOLNVSE_BACKEND_PASSTHROUGH = 3
};

/* Size classes of MemoryPoolNVSE_Stats::histogram. */
#define MEMORYPOOLNVSE_SIZE_CLASSES 32

/* A statistics snapshot. The caller sets `size` to sizeof its struct; the
   plugin writes min(size, its own size) bytes, never reads past `size`, and
   refuses a size below MEMORYPOOLNVSE_STATS_HEAD_SIZE. A caller built with
   an older header gets the fields it knows; one built with a newer header
   reads `filled` to see which fields an older plugin wrote. Every field is
   at its natural alignment: no padding, the same layout for every compiler.
   Counts are since the heap started; bytes are the blocks' usable sizes. */
typedef struct MemoryPoolNVSE_Stats {
    uint32_t size;    /* in: sizeof(MemoryPoolNVSE_Stats) */
    uint32_t filled;  /* out: bytes written; 0 if refused */
    uint32_t version; /* MemoryPoolNVSE_GetVersion() */
    uint32_t backend; /* MemoryPoolNVSE_GetBackend() */
    uint64_t allocations;
    uint64_t frees;
    uint64_t live_blocks;
    uint64_t peak_blocks;
    uint64_t bytes_allocated;
    uint64_t bytes_freed;
    uint64_t live_bytes;
    uint64_t peak_bytes;
    uint64_t failures;         /* requests that returned NULL */
    uint64_t fallbacks;        /* requests the original allocator served */
    uint64_t foreign_frees;    /* blocks of other allocators, freed by them */
    uint64_t foreign_reallocs; /* ... resized */
    uint64_t foreign_sizes;    /* ... whose size was asked */
    uint64_t mapped_bytes;     /* address space the heap holds */
    uint64_t peak_mapped_bytes;
    uint64_t threads; /* threads that allocated from the heap and have not ended */
    /* Allocations by request size: class k counts 2^(k-1) < size <= 2^k
       (class 0: 0 and 1 byte); the last class also takes larger ones. */
    uint64_t histogram[MEMORYPOOLNVSE_SIZE_CLASSES];
    /* Address space the heap holds for itself (its bookkeeping, the
       emergency reserve, guard pages' budget): with mapped_bytes, all it
       holds. (From version 0.1.0's second layout on: check `filled`.) */
    uint64_t reserved_bytes;
} MemoryPoolNVSE_Stats;

/* The least `size` accepted: the four 32-bit fields. */
#define MEMORYPOOLNVSE_STATS_HEAD_SIZE 16u

/* The plugin's version, major * 10000 + minor * 100 + patch (as in its
   PluginInfo). */
uint32_t MEMORYPOOLNVSE_CALL MemoryPoolNVSE_GetVersion(void);
/* A MemoryPoolNVSE_BackendId. */
uint32_t MEMORYPOOLNVSE_CALL MemoryPoolNVSE_GetBackend(void);
/* Fills *out (out->size set by the caller); returns the bytes written, or 0
   for a null or unwritable pointer or a size below the head. */
uint32_t MEMORYPOOLNVSE_CALL MemoryPoolNVSE_GetStats(MemoryPoolNVSE_Stats *out);
/* 1 if the plugin's heap allocated p (any pointer; none is dereferenced). */
uint8_t MEMORYPOOLNVSE_CALL MemoryPoolNVSE_IsOwned(const void *p);

typedef uint32_t(MEMORYPOOLNVSE_CALL *MemoryPoolNVSE_GetVersionFn)(void);
typedef uint32_t(MEMORYPOOLNVSE_CALL *MemoryPoolNVSE_GetBackendFn)(void);
typedef uint32_t(MEMORYPOOLNVSE_CALL *MemoryPoolNVSE_GetStatsFn)(MemoryPoolNVSE_Stats *out);
typedef uint8_t(MEMORYPOOLNVSE_CALL *MemoryPoolNVSE_IsOwnedFn)(const void *p);

/* The exports, as MemoryPoolNVSE_LoadApi finds them. */
typedef struct MemoryPoolNVSE_Api {
    MemoryPoolNVSE_GetVersionFn GetVersion;
    MemoryPoolNVSE_GetBackendFn GetBackend;
    MemoryPoolNVSE_GetStatsFn GetStats;
    MemoryPoolNVSE_IsOwnedFn IsOwned;
} MemoryPoolNVSE_Api;

#ifdef _WIN32
/* An export of the loaded MemoryPoolNVSE.dll, or NULL. Through
   void (*)(void), the one function type every other converts from and to
   without a warning. */
MEMORYPOOLNVSE_INLINE void (*MemoryPoolNVSE_Lookup(const char *name))(void)
{
    HMODULE module = GetModuleHandleA(MEMORYPOOLNVSE_DLL_NAME);
    return module ? (void (*)(void))GetProcAddress(module, name) : NULL;
}

/* Fills *api with the exports: 1 if MemoryPoolNVSE.dll is loaded and has
   them all, else 0 and *api is all NULL. */
MEMORYPOOLNVSE_INLINE int MemoryPoolNVSE_LoadApi(MemoryPoolNVSE_Api *api)
{
    api->GetVersion = (MemoryPoolNVSE_GetVersionFn)MemoryPoolNVSE_Lookup("MemoryPoolNVSE_GetVersion");
    api->GetBackend = (MemoryPoolNVSE_GetBackendFn)MemoryPoolNVSE_Lookup("MemoryPoolNVSE_GetBackend");
    api->GetStats = (MemoryPoolNVSE_GetStatsFn)MemoryPoolNVSE_Lookup("MemoryPoolNVSE_GetStats");
    api->IsOwned = (MemoryPoolNVSE_IsOwnedFn)MemoryPoolNVSE_Lookup("MemoryPoolNVSE_IsOwned");
    if (api->GetVersion && api->GetBackend && api->GetStats && api->IsOwned)
        return 1;
    api->GetVersion = NULL;
    api->GetBackend = NULL;
    api->GetStats = NULL;
    api->IsOwned = NULL;
    return 0;
}
#endif

#ifdef __cplusplus
}
#endif

#endif
