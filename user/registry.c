// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The CPython layout registry (see registry.h): x86-64 builds with the
 * GIL, Py_TRACE_REFS off.
 *
 * Sources of the facts, per row: CPython's headers of that version
 * (Include/internal/pycore_runtime.h, pycore_interp.h / pycore_interp_structs.h,
 * pycore_gc.h, pycore_obmalloc.h, pycore_frame.h / pycore_interpframe_structs.h,
 * pycore_debug_offsets.h, Include/cpython/code.h, unicodeobject.h), checked
 * against the DWARF of the builds named in `checked` (gdb, and for Debian's
 * builds the -dbg package's debug file of the same build-id) and against
 * live processes. tests/integration/test_registry.py repeats the DWARF
 * comparison for every build of the test matrix.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include "registry.h"

#define KIB 1024u
#define MIB (1024u * 1024u)

/* _Py_DebugOffsets field positions (byte offsets into the struct), from
 * Include/internal/pycore_debug_offsets.h (pycore_runtime.h in 3.13) of
 * each minor version, and `ptype /o struct _Py_DebugOffsets` on Debian's
 * 3.13.5, 3.13.18, 3.14.10 and 3.15.2. */
static const struct reg_dbg_map dbg_313 = {
	.len = 584,
	.runtime_size = 24,
	.interp_head = 40,
	.interp_size = 48,
	.interp_threads_head = 72,
	.interp_gc = 80,
	.gil_holder = 144,
	.ts_size = 152,
	.ts_current_frame = 184,
	.ts_thread_id = 192,
	.ts_native_thread_id = 200,
	.fr_size = 224,
	.fr_previous = 232,
	.fr_executable = 240,
	.fr_instr_ptr = 248,
	.fr_owner = 264,
	.co_size = 272,
	.co_filename = 280,
	.co_name = 288,
	.co_qualname = 296,
	.co_linetable = 304,
	.co_firstlineno = 312,
	.co_code_adaptive = 344,
	.ob_type = 360,
	.bytes_sval = 528,
	.str_state = 544,
	.str_length = 552,
	.str_ascii_size = 560,
	.gc_size = 568,
	.gc_collecting = 576,
};

/* 3.14 adds threads_main, code_object_generation, tlbc_generation,
 * frame stackpointer/tlbc_index, co_tlbc, set_object, gen_object,
 * llist_node and debugger_support. */
static const struct reg_dbg_map dbg_314 = {
	.len = 760,
	.runtime_size = 24,
	.interp_head = 40,
	.interp_size = 48,
	.interp_threads_head = 72,
	.interp_gc = 88,
	.gil_holder = 152,
	.ts_size = 176,
	.ts_current_frame = 208,
	.ts_thread_id = 216,
	.ts_native_thread_id = 224,
	.fr_size = 248,
	.fr_previous = 256,
	.fr_executable = 264,
	.fr_instr_ptr = 272,
	.fr_owner = 288,
	.co_size = 312,
	.co_filename = 320,
	.co_name = 328,
	.co_qualname = 336,
	.co_linetable = 344,
	.co_firstlineno = 352,
	.co_code_adaptive = 384,
	.ob_type = 408,
	.bytes_sval = 608,
	.str_state = 624,
	.str_length = 632,
	.str_ascii_size = 640,
	.gc_size = 648,
	.gc_collecting = 656,
};

/* 3.15 adds thread_state base_frame, last_profiled_frame(_seq),
 * holds_gil, gil_requested, current_exception, exc_state, err_stackitem,
 * tp_basicsize/tp_dictoffset, heap_type_object, compactunicodeobject_size
 * and gc frame/generation_stats_size/generation_stats. */
static const struct reg_dbg_map dbg_315 = {
	.len = 888,
	.runtime_size = 24,
	.interp_head = 40,
	.interp_size = 48,
	.interp_threads_head = 72,
	.interp_gc = 88,
	.gil_holder = 152,
	.ts_size = 176,
	.ts_current_frame = 208,
	.ts_thread_id = 240,
	.ts_native_thread_id = 248,
	.fr_size = 312,
	.fr_previous = 320,
	.fr_executable = 328,
	.fr_instr_ptr = 336,
	.fr_owner = 352,
	.co_size = 376,
	.co_filename = 384,
	.co_name = 392,
	.co_qualname = 400,
	.co_linetable = 408,
	.co_firstlineno = 416,
	.co_code_adaptive = 448,
	.ob_type = 472,
	.bytes_sval = 704,
	.str_state = 720,
	.str_length = 728,
	.str_ascii_size = 736,
	.str_compact_size = 744,
	.gc_size = 752,
	.gc_collecting = 760,
	.gc_stats = 784,
};

/* Code objects and str: 3.8-3.10 PyFrameObject era; co_code is a bytes
 * object; PyASCIIObject has wstr (48 B) and a "ready" bit. */
#define CODE_38(tbl, ins)                                                                          \
	{                                                                                          \
		.table = (tbl), .instr = (ins), .code_size = 128, .co_firstlineno = 40,            \
		.co_filename = 104, .co_name = 112, .co_qualname = -1, .co_linetable = 120,        \
		.co_code = 48, .co_code_adaptive = -1, .str_ascii_data = 48,                       \
		.str_compact_data = 72, .str_ready_bit = 1, .refcnt_bits = 64                      \
	}

/* The generational GC state 3.8-3.12 (Include/internal/pycore_gc.h):
 * trash_delete_later, trash_delete_nesting, enabled, debug,
 * generations[3], generation0, permanent_generation, generation_stats[3]. */
#define GC_38                                                                                      \
	.gc_model = REG_GC_GENERATIONAL, .gc_enabled = 12, .gc_generations = 24,                   \
	.gc_generation0 = 96, .gc_gen_threshold = 16, .gc_gen_count = 20, .gc_gen_size = 24,       \
	.gc_stats_at = REG_GCSTATS_ARRAY, .gc_stats = 128, .gc_stats_stride = 24

/* Objects: PyObject {ob_refcnt, ob_type}, PyTypeObject's tp_name,
 * tp_basicsize, tp_itemsize, tp_flags (the same from 3.8 to 3.15 in
 * release builds), the 16-byte PyGC_Head; the pre-header's extra two
 * pointers from 3.11 (Py_TPFLAGS_MANAGED_DICT 1 << 4) and 3.12
 * (| Py_TPFLAGS_MANAGED_WEAKREF 1 << 3). */
#define OBJ_38                                                                                     \
	.ob_refcnt = 0, .ob_type = 8, .ty_name = 24, .ty_basicsize = 32, .ty_itemsize = 40,        \
	.ty_flags = 168, .gc_head_size = 16
#define OBJ_311 OBJ_38, .preheader_flags = 1u << 4, .preheader_size = 16
#define OBJ_312 OBJ_38, .preheader_flags = (1u << 4) | (1u << 3), .preheader_size = 16

/* struct _obmalloc_state, 3.12-3.15 */
#define OBM_312 .obm_arenas = 512, .obm_maxarenas = 520, .obm_nfp2lasta = 544

static const struct reg_layout rows[] = {
	{
		.row = "3.8",
		OBJ_38,
		.minor = 8,
		.micro_lo = 0,
		.micro_hi = 99,
		.checked = "pyenv 3.8.18 (DWARF, live)",
		.arena_size = 256 * KIB,
		.pool_size = 4 * KIB,
		.obm_at = REG_OBM_STATICS,
		.rt_allocators = -1,
		.statics_total_blocks = true,
		.refill_arg = 0, /* allocate_from_new_pool is 3.9+ */
		.rt_interp_head = 32,
		.rt_interp_main = 40,
		.tstate_at = REG_TSTATE_CURRENT,
		.rt_tstate_current = 1368,
		.is_gil_holder = -1,
		.gc_at = REG_GC_IN_RUNTIME,
		.gc_state = 344,
		GC_38,
		.gc_func = "collect",
		.gc_gen_arg = 2,
		.gc_clones = true,
		.ts_thread_id = 176,
		.ts_top_frame = 24,
		.cf_current_frame = -1,
		.fr_previous = 24,
		.fr_code = 32,
		.fr_instr = 104,
		.fr_instr_size = 4,
		.fr_owner = -1,
		.code = CODE_38(PYCODE_LNOTAB, PYCODE_LASTI_BYTES),
	},
	{
		.row = "3.9",
		OBJ_38,
		.minor = 9,
		.micro_lo = 0,
		.micro_hi = 99,
		.checked = "pyenv 3.9.18 (DWARF, live)",
		.arena_size = 256 * KIB,
		.pool_size = 4 * KIB,
		.obm_at = REG_OBM_STATICS,
		.rt_allocators = -1,
		.statics_decodable = true,
		.refill_arg = 1,
		.rt_interp_head = 32,
		.rt_interp_main = 40,
		.tstate_at = REG_TSTATE_CURRENT,
		.rt_tstate_current = 568,
		.is_gil_holder = -1,
		.gc_at = REG_GC_IN_INTERP,
		.gc_state = 616,
		GC_38,
		.gc_func = "collect",
		.gc_gen_arg = 2,
		.ts_thread_id = 176,
		.ts_top_frame = 24,
		.cf_current_frame = -1,
		.fr_previous = 24,
		.fr_code = 32,
		.fr_instr = 104,
		.fr_instr_size = 4,
		.fr_owner = -1,
		.code = CODE_38(PYCODE_LNOTAB, PYCODE_LASTI_BYTES),
	},
	{
		.row = "3.10",
		OBJ_38,
		.minor = 10,
		.micro_lo = 0,
		.micro_hi = 99,
		.checked = "pyenv 3.10.13 (DWARF, live)",
		.arena_size = 1 * MIB,
		.pool_size = 16 * KIB,
		.obm_at = REG_OBM_STATICS,
		.rt_allocators = -1,
		.statics_decodable = true,
		.refill_arg = 1,
		.rt_interp_head = 32,
		.rt_interp_main = 40,
		.tstate_at = REG_TSTATE_CURRENT,
		.rt_tstate_current = 568,
		.is_gil_holder = -1,
		.gc_at = REG_GC_IN_INTERP,
		.gc_state = 616,
		GC_38,
		.gc_func = "gc_collect_main",
		.gc_gen_arg = 2,
		.ts_thread_id = 176,
		.ts_top_frame = 24,
		.cf_current_frame = -1,
		.fr_previous = 24,
		.fr_code = 32,
		.fr_instr = 96, /* f_lasti, in code units */
		.fr_instr_size = 4,
		.fr_owner = -1,
		.code = CODE_38(PYCODE_LINETABLE310, PYCODE_LASTI_UNITS),
	},
	{
		.row = "3.11",
		OBJ_311,
		.minor = 11,
		.micro_lo = 0,
		.micro_hi = 99,
		.checked = "pyenv 3.11.7 (DWARF, live); Debian 3.11.2-6+deb12u6 (live)",
		.arena_size = 1 * MIB,
		.pool_size = 16 * KIB,
		.obm_at = REG_OBM_STATICS,
		.rt_allocators = -1,
		.statics_decodable = true,
		.refill_arg = 1,
		.rt_interp_head = 40,
		.rt_interp_main = 48,
		.tstate_at = REG_TSTATE_CURRENT,
		.rt_tstate_current = 576,
		.is_gil_holder = -1,
		.gc_at = REG_GC_IN_INTERP,
		.gc_state = 648,
		GC_38,
		.gc_func = "gc_collect_main",
		.gc_gen_arg = 2,
		/* tstate->cframe->current_frame; _PyInterpreterFrame */
		.ts_thread_id = 152,
		.ts_top_frame = 56,
		.cf_current_frame = 8,
		.fr_previous = 48,
		.fr_code = 32,
		.fr_instr = 56, /* prev_instr */
		.fr_instr_size = 8,
		.fr_owner = -1,
		.code = { .table = PYCODE_LOCATIONS,
			  .instr = PYCODE_INSTR_ADDR,
			  .code_size = 144,
			  .co_firstlineno = 72,
			  .co_filename = 112,
			  .co_name = 120,
			  .co_qualname = 128,
			  .co_linetable = 136,
			  .co_code = -1,
			  .co_code_adaptive = 184,
			  .str_ascii_data = 48,
			  .str_compact_data = 72,
			  .str_ready_bit = 1,
			  .refcnt_bits = 64 },
	},
	{
		.row = "3.12",
		OBJ_312,
		.minor = 12,
		.micro_lo = 0,
		.micro_hi = 99,
		.checked = "pyenv 3.12.1 (DWARF, live)",
		.arena_size = 1 * MIB,
		.pool_size = 16 * KIB,
		.obm_at = REG_OBM_IN_INTERP,
		.is_obmalloc = 3960,
		OBM_312,
		.rt_allocators = 88,
		.refill_arg = 2, /* (OMState *, uint szidx) */
		.rt_interp_head = 40,
		.rt_interp_main = 48,
		.tstate_at = REG_TSTATE_GIL_HOLDER,
		.rt_tstate_current = -1,
		.is_gil_holder = 1048, /* interp->_gil.last_holder */
		.gc_at = REG_GC_IN_INTERP,
		.gc_state = 112,
		GC_38,
		.gc_func = "gc_collect_main",
		.gc_gen_arg = 2,
		.ts_thread_id = 136,
		.ts_top_frame = 56, /* cframe */
		.cf_current_frame = 0,
		.fr_previous = 8,
		.fr_code = 0,
		.fr_instr = 56, /* prev_instr */
		.fr_instr_size = 8,
		.fr_owner = 70,
		.fr_owner_skip = 3, /* FRAME_OWNED_BY_CSTACK */
		.code = { .table = PYCODE_LOCATIONS,
			  .instr = PYCODE_INSTR_ADDR,
			  .code_size = 144,
			  .co_firstlineno = 68,
			  .co_filename = 112,
			  .co_name = 120,
			  .co_qualname = 128,
			  .co_linetable = 136,
			  .co_code = -1,
			  .co_code_adaptive = 192,
			  .str_ascii_data = 40,
			  .str_compact_data = 56,
			  .str_ready_bit = 0,
			  .refcnt_bits = 64 },
	},
	{
		/* Debian's builds put generations[] at 20 (their DWARF and live
		 * memory agree; generation0 points there), pyenv's at 24. */
		.row = "3.13",
		OBJ_312,
		.minor = 13,
		.micro_lo = 0,
		.micro_hi = 99,
		.fp_gc_size = 240,
		.checked = "pyenv 3.13.0; Debian 3.13.5-2+deb13u5 (trixie), 3.13.18-1 (sid) "
			   "(DWARF of python3.13-dbg, live)",
		.dbg = &dbg_313,
		.arena_size = 1 * MIB,
		.pool_size = 16 * KIB,
		.obm_at = REG_OBM_INTERP_PTR,
		.is_obmalloc = 10800,
		OBM_312,
		.rt_allocators = 696,
		.refill_arg = 2,
		.rt_interp_head = 632,
		.rt_interp_main = 640,
		.tstate_at = REG_TSTATE_GIL_HOLDER,
		.rt_tstate_current = -1,
		.is_gil_holder = 7760,
		.gc_at = REG_GC_IN_INTERP,
		.gc_state = 7400,
		GC_38,
		.gc_generations_alt = 20,
		.gc_func = "gc_collect_main",
		.gc_gen_arg = 2,
		.ts_thread_id = 152,
		.ts_top_frame = 72, /* current_frame */
		.cf_current_frame = -1,
		.fr_previous = 8,
		.fr_code = 0, /* f_executable */
		.fr_instr = 56, /* instr_ptr */
		.fr_instr_size = 8,
		.fr_owner = 70,
		.fr_owner_skip = 3, /* FRAME_OWNED_BY_CSTACK */
		.code = { .table = PYCODE_LOCATIONS,
			  .instr = PYCODE_INSTR_ADDR,
			  .code_size = 144,
			  .co_firstlineno = 68,
			  .co_filename = 112,
			  .co_name = 120,
			  .co_qualname = 128,
			  .co_linetable = 136,
			  .co_code = -1,
			  .co_code_adaptive = 200,
			  .str_ascii_data = 40,
			  .str_compact_data = 56,
			  .str_ready_bit = 0,
			  .refcnt_bits = 64 },
	},
	{
		/* The incremental collector (young, old[2] at the offsets the
		 * generations keep in 3.14.5+, no generation0); 3.14.5 grew the
		 * GC state by 24 bytes (gh-142516), so everything after it in the
		 * interpreter moved: interp->obmalloc is 3.14.5's less 24. No such
		 * build was available here: pyheap.c validates the state it
		 * points to and otherwise finds it by its invariants. */
		.row = "3.14.0-3.14.4",
		OBJ_312,
		.minor = 14,
		.micro_lo = 0,
		.micro_hi = 4,
		.fp_gc_size = 240,
		.checked = "not checked on a build: derived from 3.14.10 and CPython's "
			   "v3.14.0 sources, validated live",
		.dbg = &dbg_314,
		.arena_size = 1 * MIB,
		.pool_size = 16 * KIB,
		.obm_at = REG_OBM_INTERP_PTR,
		.is_obmalloc = 10880,
		OBM_312,
		.rt_allocators = 872,
		.refill_arg = 2,
		.rt_interp_head = 808,
		.rt_interp_main = 816,
		.tstate_at = REG_TSTATE_GIL_HOLDER,
		.rt_tstate_current = -1,
		.is_gil_holder = 7792,
		.gc_at = REG_GC_IN_INTERP,
		.gc_state = 7408,
		.gc_model = REG_GC_INCREMENTAL,
		.gc_enabled = 12,
		.gc_generations = 24,
		.gc_generation0 = -1,
		.gc_gen_threshold = 16,
		.gc_gen_count = 20,
		.gc_gen_size = 24,
		.gc_stats_at = REG_GCSTATS_ARRAY,
		.gc_stats = 120,
		.gc_stats_stride = 24,
		.gc_func = "_PyGC_Collect",
		.gc_gen_arg = 2,
		.ts_thread_id = 152,
		.ts_top_frame = 72,
		.cf_current_frame = -1,
		.fr_previous = 8,
		.fr_code = 0,
		.fr_instr = 56,
		.fr_instr_size = 8,
		.fr_owner = 74,
		.fr_owner_skip = 3, /* FRAME_OWNED_BY_INTERPRETER (3), CSTACK (4) */
		.fr_code_tag_bits = 3, /* Py_TAG_BITS of the GIL build */
		.code = { .table = PYCODE_LOCATIONS,
			  .instr = PYCODE_INSTR_ADDR,
			  .code_size = 144,
			  .co_firstlineno = 68,
			  .co_filename = 112,
			  .co_name = 120,
			  .co_qualname = 128,
			  .co_linetable = 136,
			  .co_code = -1,
			  .co_code_adaptive = 208,
			  .str_ascii_data = 40,
			  .str_compact_data = 56,
			  .str_ready_bit = 0,
			  .refcnt_bits = 48 },
	},
	{
		/* 3.14.5 went back to the generational collector; its GC state
		 * keeps the incremental one's offsets with dummy members. */
		.row = "3.14.5+",
		OBJ_312,
		.minor = 14,
		.micro_lo = 5,
		.micro_hi = 99,
		.fp_gc_size = 264,
		.checked = "Debian 3.14.10-1 (sid) python3.14 and libpython3.14.so "
			   "(DWARF of python3.14-dbg, live)",
		.dbg = &dbg_314,
		.arena_size = 1 * MIB,
		.pool_size = 16 * KIB,
		.obm_at = REG_OBM_INTERP_PTR,
		.is_obmalloc = 10904,
		OBM_312,
		.rt_allocators = 872,
		.refill_arg = 2,
		.rt_interp_head = 808,
		.rt_interp_main = 816,
		.tstate_at = REG_TSTATE_GIL_HOLDER,
		.rt_tstate_current = -1,
		.is_gil_holder = 7792,
		.gc_at = REG_GC_IN_INTERP,
		.gc_state = 7408,
		.gc_model = REG_GC_GENERATIONAL,
		.gc_enabled = 12,
		.gc_generations = 24,
		.gc_generation0 = 256,
		.gc_gen_threshold = 16,
		.gc_gen_count = 20,
		.gc_gen_size = 24,
		.gc_stats_at = REG_GCSTATS_ARRAY,
		.gc_stats = 120,
		.gc_stats_stride = 24,
		.gc_func = "gc_collect_main",
		.gc_gen_arg = 2,
		.ts_thread_id = 152,
		.ts_top_frame = 72,
		.cf_current_frame = -1,
		.fr_previous = 8,
		.fr_code = 0,
		.fr_instr = 56,
		.fr_instr_size = 8,
		.fr_owner = 74,
		.fr_owner_skip = 3,
		.fr_code_tag_bits = 3,
		.code = { .table = PYCODE_LOCATIONS,
			  .instr = PYCODE_INSTR_ADDR,
			  .code_size = 144,
			  .co_firstlineno = 68,
			  .co_filename = 112,
			  .co_name = 120,
			  .co_qualname = 128,
			  .co_linetable = 136,
			  .co_code = -1,
			  .co_code_adaptive = 208,
			  .str_ascii_data = 40,
			  .str_compact_data = 56,
			  .str_ready_bit = 0,
			  .refcnt_bits = 48 },
	},
	{
		/* generation_stats is a pointer to ring buffers (gc_stats);
		 * --with-pymalloc-hugepages builds have 2 MiB arenas. */
		.row = "3.15",
		OBJ_312,
		.minor = 15,
		.micro_lo = 0,
		.micro_hi = 99,
		.fp_gc_size = 176,
		.checked = "Debian 3.15.2-1 (sid) (DWARF of python3.15-dbg, live)",
		.dbg = &dbg_315,
		.arena_size = 1 * MIB,
		.arena_size_alt = 2 * MIB,
		.pool_size = 16 * KIB,
		.obm_at = REG_OBM_INTERP_PTR,
		.is_obmalloc = 10880,
		OBM_312,
		.rt_allocators = 1000,
		.refill_arg = 2,
		.rt_interp_head = 936,
		.rt_interp_main = 944,
		.tstate_at = REG_TSTATE_GIL_HOLDER,
		.rt_tstate_current = -1,
		.is_gil_holder = 7744,
		.gc_at = REG_GC_IN_INTERP,
		.gc_state = 7400,
		.gc_model = REG_GC_GENERATIONAL,
		.gc_enabled = 0,
		.gc_generations = 8,
		.gc_generation0 = 168,
		.gc_gen_threshold = 16,
		.gc_gen_count = 20,
		.gc_gen_size = 24,
		.gc_stats_at = REG_GCSTATS_RING,
		.gc_stats = 104,
		.ring = { .item_size = 64,
			  .ts_stop = 8,
			  .collections = 16,
			  .collected = 24,
			  .uncollectable = 32,
			  .candidates = 40,
			  .duration = 48,
			  .young_items = 11,
			  .young_index = 704,
			  .old = 712,
			  .old_size = 200,
			  .old_items = 3,
			  .old_index = 192,
			  .update_seq = 1112,
			  .size = 1120 },
		.gc_func = "gc_collect_main",
		.gc_gen_arg = 2,
		.ts_thread_id = 176,
		.ts_top_frame = 72,
		.cf_current_frame = -1,
		.fr_previous = 8,
		.fr_code = 0,
		.fr_instr = 56,
		.fr_instr_size = 8,
		.fr_owner = 74,
		.fr_owner_skip = 3, /* FRAME_OWNED_BY_INTERPRETER: entry and base frames */
		.fr_code_tag_bits = 3,
		.code = { .table = PYCODE_LOCATIONS,
			  .instr = PYCODE_INSTR_ADDR,
			  .code_size = 144,
			  .co_firstlineno = 68,
			  .co_filename = 112,
			  .co_name = 120,
			  .co_qualname = 128,
			  .co_linetable = 136,
			  .co_code = -1,
			  .co_code_adaptive = 208,
			  .str_ascii_data = 40,
			  .str_compact_data = 56,
			  .str_ready_bit = 0,
			  .refcnt_bits = 48 },
	},
};

#define NROWS (sizeof(rows) / sizeof(rows[0]))

const struct reg_layout *registry_rows(size_t *n)
{
	*n = NROWS;
	return rows;
}

const char *registry_gc_model_name(enum reg_gc_model m)
{
	return m == REG_GC_INCREMENTAL ? "incremental" : "generational";
}

/* Debug-offsets sizes of the builds each row was checked on: a build
 * whose sizes are not here still uses its row, validated live, and says
 * so (--inspect: fingerprint_known). */
static const struct {
	int minor;
	uint64_t runtime, interp, tstate, gc;
} known_fp[] = {
	{ 13, 283320, 194968, 304, 240 }, /* pyenv 3.13.0 */
	{ 13, 283376, 194976, 304, 240 }, /* Debian 3.13.5-2+deb13u5 */
	{ 13, 283408, 194984, 312, 240 }, /* Debian 3.13.18-1 */
	{ 14, 316616, 225864, 832, 264 }, /* Debian 3.14.10-1 */
	{ 15, 346568, 226240, 888, 176 }, /* Debian 3.15.2-1 */
};

static uint64_t get_u64(const uint8_t *buf, uint16_t off)
{
	uint64_t v;

	memcpy(&v, buf + off, sizeof(v));
	return v;
}

/* An offset inside a struct of size `size` with room for `width` bytes. */
static bool fits(uint64_t off, uint64_t width, uint64_t size)
{
	return off < size && width <= size - off;
}

int registry_apply_debug_offsets(const uint8_t *buf, size_t len, const struct reg_dbg_map *m,
				 struct reg_build *b)
{
	struct reg_layout *l = &b->l;
	uint64_t fr_size, co_size, is_size, ts_size, gc_size, v[8];

	if (len < m->len)
		return -ERANGE;
	if (memcmp(buf, "xdebugpy", 8))
		return -EINVAL;
	b->has_dbg = true;
	b->dbg_version = get_u64(buf, 8);
	b->dbg_free_threaded = get_u64(buf, 16);
	if (b->dbg_free_threaded)
		return -ENOTSUP;
	b->dbg_runtime_size = get_u64(buf, m->runtime_size);
	b->dbg_interp_size = is_size = get_u64(buf, m->interp_size);
	b->dbg_tstate_size = ts_size = get_u64(buf, m->ts_size);
	b->dbg_gc_size = gc_size = get_u64(buf, m->gc_size);
	fr_size = get_u64(buf, m->fr_size);
	co_size = get_u64(buf, m->co_size);
	/* Every offset taken must lie inside its struct, the struct sizes
	 * must be those of a real interpreter: a map that does not fit this
	 * build (a pre-release's layout) fails here, not later. */
	if (b->dbg_runtime_size < 4096 || b->dbg_runtime_size > (16u << 20) || is_size < 4096 ||
	    is_size > (16u << 20) || ts_size < 64 || ts_size > 65536 || fr_size < 48 ||
	    fr_size > 4096 || co_size < 64 || co_size > 4096 || gc_size < 64 || gc_size > 65536)
		return -EINVAL;
	v[0] = get_u64(buf, m->interp_head);
	v[1] = get_u64(buf, m->interp_gc);
	v[2] = get_u64(buf, m->gil_holder);
	if (!fits(v[0], 16, b->dbg_runtime_size) || !fits(v[1], gc_size, is_size) ||
	    !fits(v[2], 8, is_size))
		return -EINVAL;
	l->rt_interp_head = v[0];
	l->rt_interp_main = v[0] + 8; /* struct pyinterpreters { mutex; head; main; next_id } */
	l->gc_state = v[1];
	l->is_gil_holder = v[2];
	v[0] = get_u64(buf, m->ts_current_frame);
	v[1] = get_u64(buf, m->ts_thread_id);
	if (!fits(v[0], 8, ts_size) || !fits(v[1], 8, ts_size))
		return -EINVAL;
	l->ts_top_frame = v[0];
	l->ts_thread_id = v[1];
	v[0] = get_u64(buf, m->fr_previous);
	v[1] = get_u64(buf, m->fr_executable);
	v[2] = get_u64(buf, m->fr_instr_ptr);
	v[3] = get_u64(buf, m->fr_owner);
	if (!fits(v[0], 8, fr_size) || !fits(v[1], 8, fr_size) || !fits(v[2], 8, fr_size) ||
	    !fits(v[3], 1, fr_size))
		return -EINVAL;
	l->fr_previous = v[0];
	l->fr_code = v[1];
	l->fr_instr = v[2];
	l->fr_owner = v[3];
	v[0] = get_u64(buf, m->co_filename);
	v[1] = get_u64(buf, m->co_name);
	v[2] = get_u64(buf, m->co_qualname);
	v[3] = get_u64(buf, m->co_linetable);
	v[4] = get_u64(buf, m->co_firstlineno);
	v[5] = get_u64(buf, m->co_code_adaptive);
	for (int i = 0; i < 4; i++)
		if (!fits(v[i], 8, co_size) || v[i] + 8 > 4096)
			return -EINVAL;
	if (!fits(v[4], 4, co_size) || v[5] > co_size || v[5] < 64)
		return -EINVAL;
	/* BPF reads co_filename and co_name with one 16-byte read */
	if (v[1] != v[0] + 8)
		return -EINVAL;
	l->code.co_filename = v[0];
	l->code.co_name = v[1];
	l->code.co_qualname = v[2];
	l->code.co_linetable = v[3];
	l->code.co_firstlineno = v[4];
	l->code.co_code_adaptive = v[5];
	l->code.code_size = 0;
	for (int i = 0; i < 5; i++)
		if (v[i] + 8 > l->code.code_size)
			l->code.code_size = (v[i] + 8 + 7) & ~7ull;
	if (l->code.code_size > 160)
		return -EINVAL; /* pycode.c reads the object at once into a fixed buffer */
	if (get_u64(buf, m->ob_type) != 8 || get_u64(buf, m->bytes_sval) != 32 ||
	    get_u64(buf, m->str_state) != 32 || get_u64(buf, m->str_length) != 16)
		return -EINVAL; /* pycode.c's object header constants */
	l->code.str_ascii_data = get_u64(buf, m->str_ascii_size);
	if (m->str_compact_size)
		l->code.str_compact_data = get_u64(buf, m->str_compact_size);
	if (l->code.str_ascii_data < 32 || l->code.str_ascii_data > 48 ||
	    l->code.str_compact_data < l->code.str_ascii_data || l->code.str_compact_data > 72)
		return -EINVAL;
	if (m->gc_stats) {
		v[0] = get_u64(buf, m->gc_stats);
		if (!fits(v[0], 8, gc_size))
			return -EINVAL;
		l->gc_stats = v[0];
	}
	for (size_t i = 0; i < sizeof(known_fp) / sizeof(known_fp[0]); i++)
		if (known_fp[i].minor == l->minor && known_fp[i].runtime == b->dbg_runtime_size &&
		    known_fp[i].interp == is_size && known_fp[i].tstate == ts_size &&
		    known_fp[i].gc == gc_size)
			b->fp_known = true;
	return 0;
}

/* _PyRuntime: the symbol (exported from 3.7), else the .PyRuntime
 * section, which CPython 3.10+ puts it in and which survives stripping. */
static void find_runtime(const struct elf_file *ef, struct reg_build *b)
{
	struct elf_sym s;
	uint64_t size;

	if (!elf_find_symbol(ef, "_PyRuntime", &s)) {
		b->runtime = s.vaddr;
		b->runtime_size = s.size;
	} else if (!elf_section_addr(ef, ".PyRuntime", &b->runtime, &size)) {
		b->runtime_size = 0; /* the section may be padded */
	}
}

static const struct reg_layout *row_for(int minor, int micro, uint64_t gc_size, bool *minor_known)
{
	*minor_known = false;
	for (size_t i = 0; i < NROWS; i++) {
		if (rows[i].minor != minor)
			continue;
		*minor_known = true;
		if (micro < rows[i].micro_lo || micro > rows[i].micro_hi)
			continue;
		if (rows[i].fp_gc_size && gc_size && rows[i].fp_gc_size != gc_size)
			continue;
		return &rows[i];
	}
	return NULL;
}

static const char *dbg_err(int err)
{
	switch (err) {
	case -ERANGE:
		return "_PyRuntime is too short for its _Py_DebugOffsets";
	case -EINVAL:
		return "_Py_DebugOffsets does not validate (cookie, sizes or offsets)";
	default:
		return strerror(-err);
	}
}

/* 3.13+: the debug offsets the file has; the row they fit. */
static void resolve_dbg(const struct elf_file *ef, int minor, int micro, uint32_t hex,
			struct reg_build *b)
{
	const struct reg_layout *row = NULL;
	uint8_t buf[1024];
	bool known;
	int err;

	/* any row of this minor has the same map */
	for (size_t i = 0; i < NROWS && !row; i++)
		if (rows[i].minor == minor)
			row = &rows[i];
	if (!b->runtime || elf_read_vaddr(ef, b->runtime, buf, row->dbg->len)) {
		snprintf(b->reason, sizeof(b->reason), "3.%d.%d: _PyRuntime not found in the file",
			 minor, micro);
		return;
	}
	b->l = *row;
	err = registry_apply_debug_offsets(buf, row->dbg->len, row->dbg, b);
	if (err == -ENOTSUP) {
		snprintf(b->reason, sizeof(b->reason),
			 "free-threaded build (_Py_DebugOffsets.free_threaded = 1: mimalloc heap, "
			 "no pymalloc arenas, other object layout): not supported");
		return;
	}
	if (err) {
		snprintf(b->reason, sizeof(b->reason), "3.%d.%d: %s", minor, micro, dbg_err(err));
		return;
	}
	if (hex && (uint32_t)b->dbg_version != hex) {
		snprintf(b->reason, sizeof(b->reason),
			 "_Py_DebugOffsets.version 0x%llx differs from Py_Version 0x%x",
			 (unsigned long long)b->dbg_version, hex);
		return;
	}
	if (b->runtime_size && b->runtime_size != b->dbg_runtime_size) {
		snprintf(b->reason, sizeof(b->reason),
			 "_Py_DebugOffsets says _PyRuntime is %llu bytes, its symbol %llu",
			 (unsigned long long)b->dbg_runtime_size,
			 (unsigned long long)b->runtime_size);
		return;
	}
	row = row_for(minor, micro, b->dbg_gc_size, &known);
	if (!row) {
		snprintf(b->reason, sizeof(b->reason),
			 "3.%d.%d: no registry row for a GC state of %llu bytes (_Py_DebugOffsets)",
			 minor, micro, (unsigned long long)b->dbg_gc_size);
		return;
	}
	/* the row's own facts, then again what the debug offsets cover */
	b->l = *row;
	err = registry_apply_debug_offsets(buf, row->dbg->len, row->dbg, b);
	if (err) {
		snprintf(b->reason, sizeof(b->reason), "3.%d.%d: %s", minor, micro, dbg_err(err));
		return;
	}
	b->ok = true;
}

void registry_resolve(const struct elf_file *ef, int major, int minor, int micro, int level,
		      uint32_t py_version_hex, struct reg_build *out)
{
	const struct reg_layout *row;
	bool known;

	memset(out, 0, sizeof(*out));
	find_runtime(ef, out);
	if (major != 3) {
		snprintf(out->reason, sizeof(out->reason), "Python %d.%d: not supported (3.8-3.15)",
			 major, minor);
		return;
	}
	row_for(minor, micro, 0, &known);
	if (!known) {
		snprintf(out->reason, sizeof(out->reason),
			 "Python 3.%d: no layout in the registry (it has 3.8-3.15)", minor);
		return;
	}
	if (level != 0xf) {
		snprintf(out->reason, sizeof(out->reason),
			 "Python 3.%d.%d pre-release: layouts change until the final release, none "
			 "in the registry",
			 minor, micro);
		return;
	}
	row = row_for(minor, micro, 0, &known);
	if (row && row->dbg) {
		resolve_dbg(ef, minor, micro, py_version_hex, out);
		return;
	}
	if (!row) {
		snprintf(out->reason, sizeof(out->reason), "Python 3.%d.%d: no registry row", minor,
			 micro);
		return;
	}
	out->l = *row;
	out->ok = true;
}

#define F(name, type)                                                                              \
	{                                                                                          \
#name, offsetof(struct reg_layout, name), type                                     \
	}
#define U32(name) F(name, REG_F_U32)
#define I32(name) F(name, REG_F_I32)
#define INT(name) F(name, REG_F_INT)
#define U64(name) F(name, REG_F_U64)

static const struct reg_field fields[] = {
	U64(fp_gc_size),
	U32(arena_size),
	U32(pool_size),
	U32(arena_size_alt),
	INT(obm_at),
	U32(is_obmalloc),
	U32(obm_arenas),
	U32(obm_maxarenas),
	U32(obm_nfp2lasta),
	I32(rt_allocators),
	F(statics_total_blocks, REG_F_BOOL),
	F(statics_decodable, REG_F_BOOL),
	INT(refill_arg),
	U32(rt_interp_head),
	U32(rt_interp_main),
	INT(tstate_at),
	I32(rt_tstate_current),
	I32(is_gil_holder),
	INT(gc_at),
	U32(gc_state),
	INT(gc_model),
	U32(gc_enabled),
	U32(gc_generations),
	U32(gc_generations_alt),
	I32(gc_generation0),
	U32(gc_gen_threshold),
	U32(gc_gen_count),
	U32(gc_gen_size),
	INT(gc_stats_at),
	U32(gc_stats),
	U32(gc_stats_stride),
	U32(ring.item_size),
	U32(ring.ts_stop),
	U32(ring.collections),
	U32(ring.collected),
	U32(ring.uncollectable),
	U32(ring.candidates),
	U32(ring.duration),
	U32(ring.young_items),
	U32(ring.young_index),
	U32(ring.old),
	U32(ring.old_size),
	U32(ring.old_items),
	U32(ring.old_index),
	U32(ring.update_seq),
	U32(ring.size),
	INT(gc_gen_arg),
	F(gc_clones, REG_F_BOOL),
	U32(ob_refcnt),
	U32(ob_type),
	U32(ty_name),
	U32(ty_basicsize),
	U32(ty_itemsize),
	U32(ty_flags),
	U32(gc_head_size),
	U64(preheader_flags),
	U32(preheader_size),
	U32(ts_thread_id),
	U32(ts_top_frame),
	I32(cf_current_frame),
	U32(fr_previous),
	U32(fr_code),
	U32(fr_instr),
	U32(fr_instr_size),
	I32(fr_owner),
	U32(fr_owner_skip),
	U32(fr_code_tag_bits),
	INT(code.table),
	INT(code.instr),
	U32(code.code_size),
	U32(code.co_firstlineno),
	U32(code.co_filename),
	U32(code.co_name),
	I32(code.co_qualname),
	U32(code.co_linetable),
	I32(code.co_code),
	I32(code.co_code_adaptive),
	U32(code.str_ascii_data),
	U32(code.str_compact_data),
	INT(code.str_ready_bit),
	INT(code.refcnt_bits),
};

const struct reg_field *registry_fields(size_t *n)
{
	*n = sizeof(fields) / sizeof(fields[0]);
	return fields;
}

int64_t registry_field_value(const struct reg_layout *l, const struct reg_field *f)
{
	const uint8_t *p = (const uint8_t *)l + f->off;
	uint32_t u;
	int32_t i;
	uint64_t q;
	bool b;
	int v;

	switch (f->type) {
	case REG_F_BOOL:
		memcpy(&b, p, sizeof(b));
		return b;
	case REG_F_U32:
		memcpy(&u, p, sizeof(u));
		return u;
	case REG_F_I32:
		memcpy(&i, p, sizeof(i));
		return i;
	case REG_F_INT:
		memcpy(&v, p, sizeof(v));
		return v;
	default:
		memcpy(&q, p, sizeof(q));
		return (int64_t)q;
	}
}

const struct pycode_layout *registry_code_layout(int minor)
{
	for (size_t i = NROWS; i-- > 0;)
		if (rows[i].minor == minor)
			return &rows[i].code;
	return NULL;
}
