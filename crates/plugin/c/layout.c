/*
 * The layout of include/MemoryPoolNVSE.h as the target's C compiler sees it:
 * the statistics struct's size and field offsets, then the constants, in
 * the order the test in src/api.rs lists them. Compiled by build.rs for that
 * test; nothing else refers to it, so the DLL leaves its object out.
 */
#include <stddef.h>
#include "../include/MemoryPoolNVSE.h"

#define FIELD(field) (uint32_t)offsetof(MemoryPoolNVSE_Stats, field)

const uint32_t memorypoolnvse_layout[] = {
    (uint32_t)sizeof(MemoryPoolNVSE_Stats),
    FIELD(size),
    FIELD(filled),
    FIELD(version),
    FIELD(backend),
    FIELD(allocations),
    FIELD(frees),
    FIELD(live_blocks),
    FIELD(peak_blocks),
    FIELD(bytes_allocated),
    FIELD(bytes_freed),
    FIELD(live_bytes),
    FIELD(peak_bytes),
    FIELD(failures),
    FIELD(fallbacks),
    FIELD(foreign_frees),
    FIELD(foreign_reallocs),
    FIELD(foreign_sizes),
    FIELD(mapped_bytes),
    FIELD(peak_mapped_bytes),
    FIELD(threads),
    FIELD(histogram),
    FIELD(reserved_bytes),
    MEMORYPOOLNVSE_STATS_HEAD_SIZE,
    MEMORYPOOLNVSE_SIZE_CLASSES,
    MEMORYPOOLNVSE_MESSAGE_STATS,
    MEMORYPOOLNVSE_BACKEND_RPMALLOC,
    MEMORYPOOLNVSE_BACKEND_MIMALLOC,
    MEMORYPOOLNVSE_BACKEND_PASSTHROUGH,
};

const uint32_t memorypoolnvse_layout_count = sizeof(memorypoolnvse_layout) / sizeof(memorypoolnvse_layout[0]);
