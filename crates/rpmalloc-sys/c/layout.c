/*
 * The layout of the structures bound in src/lib.rs, as the C compiler of the
 * target lays them out from rpmalloc.h: sizes and field offsets, in the order
 * the layout test lists them. Compiled into the library by build.rs for the
 * tests to read; nothing else refers to it, so it is left out of programs.
 */
#include <stddef.h>
#include "../rpmalloc/rpmalloc.h"

#define FIELD(type, field) offsetof(type, field)
#define STATS rpmalloc_thread_statistics_t

const size_t rpmalloc_sys_layout[] = {
	sizeof(rpmalloc_config_t),
	FIELD(rpmalloc_config_t, memory_map),
	FIELD(rpmalloc_config_t, memory_unmap),
	FIELD(rpmalloc_config_t, error_callback),
	FIELD(rpmalloc_config_t, map_fail_callback),
	FIELD(rpmalloc_config_t, page_size),
	FIELD(rpmalloc_config_t, span_size),
	FIELD(rpmalloc_config_t, span_map_count),
	FIELD(rpmalloc_config_t, enable_huge_pages),
	FIELD(rpmalloc_config_t, page_name),
	FIELD(rpmalloc_config_t, huge_page_name),

	sizeof(rpmalloc_global_statistics_t),
	FIELD(rpmalloc_global_statistics_t, mapped),
	FIELD(rpmalloc_global_statistics_t, mapped_peak),
	FIELD(rpmalloc_global_statistics_t, cached),
	FIELD(rpmalloc_global_statistics_t, huge_alloc),
	FIELD(rpmalloc_global_statistics_t, huge_alloc_peak),
	FIELD(rpmalloc_global_statistics_t, mapped_total),
	FIELD(rpmalloc_global_statistics_t, unmapped_total),

	sizeof(STATS),
	FIELD(STATS, sizecache),
	FIELD(STATS, spancache),
	FIELD(STATS, thread_to_global),
	FIELD(STATS, global_to_thread),
	FIELD(STATS, span_use),
	sizeof(((STATS*)0)->span_use[0]),
	FIELD(STATS, span_use[0].current),
	FIELD(STATS, span_use[0].peak),
	FIELD(STATS, span_use[0].to_global),
	FIELD(STATS, span_use[0].from_global),
	FIELD(STATS, span_use[0].to_cache),
	FIELD(STATS, span_use[0].from_cache),
	FIELD(STATS, span_use[0].to_reserved),
	FIELD(STATS, span_use[0].from_reserved),
	FIELD(STATS, span_use[0].map_calls),
	FIELD(STATS, size_use),
	sizeof(((STATS*)0)->size_use[0]),
	FIELD(STATS, size_use[0].alloc_current),
	FIELD(STATS, size_use[0].alloc_peak),
	FIELD(STATS, size_use[0].alloc_total),
	FIELD(STATS, size_use[0].free_total),
	FIELD(STATS, size_use[0].spans_to_cache),
	FIELD(STATS, size_use[0].spans_from_cache),
	FIELD(STATS, size_use[0].spans_from_reserved),
	FIELD(STATS, size_use[0].map_calls),
};

const size_t rpmalloc_sys_layout_count = sizeof(rpmalloc_sys_layout) / sizeof(rpmalloc_sys_layout[0]);
