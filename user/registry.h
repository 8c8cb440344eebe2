/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The CPython layout registry: every version-specific fact pymemtop uses,
 * in one table (registry.c), one row per (minor version, patch range,
 * build flavour). Offsets, sizes, enum values, tag masks, which argument
 * of which function carries what, the GC model, arena and pool sizes.
 *
 * registry_resolve() picks the row of one interpreter file and, for 3.13+,
 * reads the file's own _Py_DebugOffsets (the first member of _PyRuntime,
 * in the .PyRuntime section): every field it covers is taken from it,
 * not from the row, and its sizes are the row's fingerprint (the GC
 * state's size tells 3.14.0-3.14.4's incremental collector from 3.14.5's
 * generational one at the same version string). What the debug offsets do
 * not cover (pymalloc's state, the allocator tables, GC generations and
 * thresholds) comes from the row and is validated against the live process
 * before use (pyheap.c); the row says which builds it was checked on.
 *
 * Free-threaded builds (debug offsets' free_threaded = 1) and versions no
 * row describes (a 3.16 alpha) resolve to !ok with a reason that names the
 * cause. The rest of pymemtop asks the resolved layout; nothing else keeps
 * a per-version table.
 */
#ifndef PMT_REGISTRY_H
#define PMT_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "elf_file.h"
#include "pycode.h"

enum reg_gc_model {
	REG_GC_GENERATIONAL = 1, /* generations 0, 1, 2 (3.8-3.13, 3.14.5+, 3.15) */
	REG_GC_INCREMENTAL = 2, /* 3.14.0-3.14.4: young, then increments of the old spaces */
};

enum reg_obmalloc_at {
	REG_OBM_STATICS = 1, /* 3.8-3.11: static variables (.symtab, or decoded) */
	REG_OBM_IN_INTERP, /* 3.12: embedded in the interpreter at is_obmalloc */
	REG_OBM_INTERP_PTR, /* 3.13+: interp->obmalloc (at is_obmalloc) points to it */
};

enum reg_gc_at {
	REG_GC_IN_RUNTIME = 1, /* 3.8: _PyRuntime.gc */
	REG_GC_IN_INTERP, /* 3.9+: the main interpreter's gc */
};

enum reg_gc_stats {
	REG_GCSTATS_ARRAY = 1, /* generation_stats[3] {collections, collected, uncollectable} */
	REG_GCSTATS_RING, /* 3.15: a pointer to struct gc_stats (ring buffers) */
};

enum reg_tstate_at {
	REG_TSTATE_CURRENT = 1, /* 3.8-3.11: _PyRuntime.gilstate.tstate_current */
	REG_TSTATE_GIL_HOLDER, /* 3.12+: the main interpreter's GIL last holder */
};

/* Where _Py_DebugOffsets keeps each field the registry takes from it:
 * byte offsets into the struct for one minor version (its layout is not
 * self-describing and changes with every minor; 0 = absent). */
struct reg_dbg_map {
	uint16_t len; /* sizeof(_Py_DebugOffsets) */
	uint16_t runtime_size, interp_head;
	uint16_t interp_size, interp_threads_head, interp_gc, gil_holder;
	uint16_t ts_size, ts_current_frame, ts_thread_id, ts_native_thread_id;
	uint16_t fr_size, fr_previous, fr_executable, fr_instr_ptr, fr_owner;
	uint16_t co_size, co_filename, co_name, co_qualname, co_linetable, co_firstlineno,
		co_code_adaptive;
	uint16_t ob_type, bytes_sval;
	uint16_t str_state, str_length, str_ascii_size, str_compact_size;
	uint16_t gc_size, gc_collecting, gc_stats;
};

/* 3.15's struct gc_stats: ring buffers of cumulative counters per
 * generation, the newest at [index]; update_seq is odd while CPython
 * writes them (a sequence lock). */
struct reg_gc_ring {
	uint32_t item_size; /* struct gc_generation_stats */
	/* in an item: PyTime_t ts_stop (CLOCK_MONOTONIC ns, 0 never written),
	 * cumulative counters and double duration (seconds) */
	uint32_t ts_stop, collections, collected, uncollectable, candidates, duration;
	uint32_t young_items, young_index; /* young: items[young_items], int8 index */
	uint32_t old, old_size, old_items, old_index; /* old[2] at old, each old_size bytes */
	uint32_t update_seq;
	uint32_t size; /* sizeof(struct gc_stats) */
};

struct reg_layout {
	/* ---- which builds this row describes ---- */
	const char *row; /* "3.14.5+" */
	int minor; /* 3.minor */
	int micro_lo, micro_hi; /* patch releases, inclusive */
	uint64_t fp_gc_size; /* 3.13+: _Py_DebugOffsets gc.size of the builds it is for */
	const char *checked; /* the builds its facts were checked on, and how */
	const struct reg_dbg_map *dbg; /* 3.13+: the fields _Py_DebugOffsets covers */

	/* ---- pymalloc (Objects/obmalloc.c; pycore_obmalloc.h from 3.12) ---- */
	uint32_t arena_size, pool_size; /* bytes */
	uint32_t arena_size_alt; /* another arena size the build may have (3.15 hugepages), 0 */
	enum reg_obmalloc_at obm_at;
	uint32_t is_obmalloc; /* in PyInterpreterState: the state, or a pointer to it */
	/* struct _obmalloc_state (3.12+): mgmt.arenas, mgmt.maxarenas (u32),
	 * mgmt.nfp2lasta[pools per arena + 1], then narenas_currently_allocated,
	 * ntimes_arena_allocated, narenas_highwater, raw_allocated_blocks */
	uint32_t obm_arenas, obm_maxarenas, obm_nfp2lasta;
	int32_t rt_allocators; /* _PyRuntime.allocators (3.12+); -1: static tables */
	/* REG_OBM_STATICS: the block counter is _Py_AllocatedBlocks, pymalloc
	 * and raw blocks together (3.8), not raw_allocated_blocks; the
	 * exported _Py_GetAllocatedBlocks reads the state, so a stripped
	 * build's statics can be decoded from it (3.9-3.11) */
	bool statics_total_blocks, statics_decodable;
	int refill_arg; /* allocate_from_new_pool's size-class argument: 1, 2; 0 inlined (3.8) */

	/* ---- _PyRuntime and the interpreter ---- */
	uint32_t rt_interp_head, rt_interp_main; /* interpreters.head, .main */
	enum reg_tstate_at tstate_at;
	int32_t rt_tstate_current; /* 3.8-3.11 gilstate.tstate_current; -1 */
	int32_t is_gil_holder; /* 3.12+ the GIL's last holder (tstate pointer); -1 */
	enum reg_gc_at gc_at;
	uint32_t gc_state; /* _PyRuntime.gc (3.8) or PyInterpreterState.gc */

	/* ---- struct _gc_runtime_state ---- */
	enum reg_gc_model gc_model;
	uint32_t gc_enabled; /* int */
	uint32_t gc_generations; /* generations[3] (young, old[2] when incremental), 24 B each */
	uint32_t gc_generations_alt; /* another offset some builds have (Debian 3.13: 20); 0 */
	int32_t gc_generation0; /* PyGC_Head *generation0 == &generations[0]; -1 absent */
	uint32_t gc_gen_threshold, gc_gen_count, gc_gen_size; /* in struct gc_generation */
	enum reg_gc_stats gc_stats_at;
	uint32_t gc_stats; /* generation_stats[] or the pointer to struct gc_stats */
	uint32_t gc_stats_stride; /* REG_GCSTATS_ARRAY: bytes per generation */
	struct reg_gc_ring ring; /* REG_GCSTATS_RING */
	/* the collector, where the build has a symbol table: its name
	 * (gc_collect_main, or collect before 3.10) and which argument is the
	 * generation */
	const char *gc_func;
	int gc_gen_arg;
	/* GCC may leave the collector only as .constprop clones with an
	 * unknown argument layout (pyenv 3.8): the generation is then the one
	 * whose generation_stats counter moved (needs REG_GC_IN_RUNTIME) */
	bool gc_clones;

	/* ---- threads and frames: the BPF walker (bpf/sites.bpf.h) ---- */
	uint32_t ts_thread_id; /* pthread_self(), the fs base */
	uint32_t ts_top_frame; /* current frame, or cframe (3.11/3.12) */
	int32_t cf_current_frame; /* cframe->current_frame (3.11/3.12); -1 */
	uint32_t fr_previous, fr_code, fr_instr, fr_instr_size;
	int32_t fr_owner; /* char owner (3.12+); -1 */
	uint32_t fr_owner_skip; /* owners >= this are not Python frames (C stack, interpreter) */
	uint32_t fr_code_tag_bits; /* 3.14+: f_executable is a _PyStackRef, these low bits tag it */

	/* ---- code objects and str (pycode.c) ---- */
	struct pycode_layout code;

	/* ---- objects in pymalloc blocks (heaptypes.c; Include/object.h,
	 * Include/cpython/object.h, Include/internal/pycore_object.h) ----
	 * A GC object's block starts with its pre-header: PyGC_Head, and
	 * before it two more pointers when its type has one of
	 * preheader_flags (3.11: Py_TPFLAGS_MANAGED_DICT; 3.12+: it or
	 * Py_TPFLAGS_MANAGED_WEAKREF; _PyType_PreHeaderSize()). */
	uint32_t ob_refcnt, ob_type; /* in PyObject */
	uint32_t ty_name, ty_basicsize, ty_itemsize, ty_flags; /* in PyTypeObject */
	uint32_t gc_head_size; /* sizeof(PyGC_Head) */
	uint64_t preheader_flags;
	uint32_t preheader_size;
};

/* What one interpreter file resolved to. */
struct reg_build {
	bool ok; /* l holds this build's layout */
	char reason[200]; /* why not */
	struct reg_layout l;
	uint64_t runtime; /* vaddr of _PyRuntime; 0 not found */
	uint64_t runtime_size; /* its symbol's size (sizeof(_PyRuntimeState)); 0 unknown */
	/* _Py_DebugOffsets as the file has it (3.13+) */
	bool has_dbg;
	uint64_t dbg_version; /* PY_VERSION_HEX */
	uint64_t dbg_free_threaded;
	uint64_t dbg_runtime_size, dbg_interp_size, dbg_tstate_size, dbg_gc_size;
	bool fp_known; /* these sizes are those of a build the row was checked on */
};

/* The rows, for tests and --inspect. */
const struct reg_layout *registry_rows(size_t *n);

/* Resolve an interpreter file of version major.minor.micro (release
 * level 0xf final; others are pre-releases); py_version_hex is what the
 * file's Py_Version says (0 if none). Always fills out. */
void registry_resolve(const struct elf_file *ef, int major, int minor, int micro, int level,
		      uint32_t py_version_hex, struct reg_build *out);

/* Parse _Py_DebugOffsets bytes with a row's map into b (pure, for tests):
 * 0, -EINVAL (cookie, sizes or offsets implausible), -ENOTSUP
 * (free-threaded), -ERANGE (len too short for the map). */
int registry_apply_debug_offsets(const uint8_t *buf, size_t len, const struct reg_dbg_map *m,
				 struct reg_build *b);

/* The code-object layout of a minor version's newest row (what its
 * _Py_DebugOffsets give on the builds it was checked on), for tests; NULL
 * if none. */
const struct pycode_layout *registry_code_layout(int minor);

/* Every numeric fact of a row by name, for --inspect and the tests that
 * compare the registry with DWARF ("code.co_filename", "ring.duration"). */
enum reg_ftype { REG_F_U32, REG_F_I32, REG_F_INT, REG_F_U64, REG_F_BOOL };
struct reg_field {
	const char *name;
	size_t off; /* in struct reg_layout */
	enum reg_ftype type;
};
const struct reg_field *registry_fields(size_t *n);
/* The value of field f in l. */
int64_t registry_field_value(const struct reg_layout *l, const struct reg_field *f);

/* "generational" or "incremental". */
const char *registry_gc_model_name(enum reg_gc_model m);

#endif
