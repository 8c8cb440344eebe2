// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The field table, reading and writing a struct pm_proc, and its JSON.
 * Building it from a process table entry is model_build.c's.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "jsonw.h"
#include "model.h"
#include "output.h"
#include "sites.h"

/* F(key, group, type, unit, flags, len, fmt, source, reason, why); the
 * indirection lets GC, HEAP and ALLOC stand for source and reason both. */
#define F(...) F_(__VA_ARGS__)
#define F_(k, g, t, u, fl, n, fm, src, rsn, w)                                                     \
	{                                                                                          \
		.key = k, .group = PM_G_##g, .type = PM_T_##t, .unit = PM_U_##u, .flags = fl,      \
		.len = n, .child = PM_G_NR, .fmt = fm, .source = src, .reason = rsn, .why = w      \
	}
#define OBJ(k, g, ch, w)                                                                           \
	{                                                                                          \
		.key = k, .group = PM_G_##g, .type = PM_T_OBJ, .child = PM_G_##ch,                 \
		.source = PM_NONE, .reason = PM_NONE, .why = w                                     \
	}

#define NO	PM_NONE
#define ACC	PMF_ACC
#define CLEAN	PMF_CLEAN
#define OMIT	PMF_OMIT
#define STATUS	"/proc/PID/status not read"
#define TWO	"needs two samples"
#define GROWING "fewer than 3 samples over 15 s yet"
#define MM	PM_PROBES_MM
#define GC	PM_PROBES_GC, PM_PROBES_GC_REASON
#define GCSTATE NO, PM_PROBES_GC_STATE_REASON
#define HEAP	PM_PROBES_HEAP, PM_PROBES_HEAP_REASON
#define ALLOC	PM_PROBES_ALLOC, PM_PROBES_ALLOC_REASON

const struct pm_field pm_fields[PM_NFIELDS] = {
	[PM_PID] = F("pid", PROC, I64, NONE, 0, 0, NULL, NO, NO, NULL),
	[PM_PPID] = F("ppid", PROC, I64, NONE, 0, 0, NULL, NO, NO, NULL),
	[PM_START_TIME] = F("start_time", PROC, F64, UNIX_TIME, 0, 0, "%.2f", NO, NO, NULL),
	[PM_UID] = F("uid", PROC, I64, NONE, 0, 0, NULL, NO, NO, NULL),
	[PM_USER] = F("user", PROC, STR, NONE, CLEAN, 0, NULL, NO, NO, NULL),
	[PM_COMM] = F("comm", PROC, STR, NONE, CLEAN, 0, NULL, NO, NO, NULL),
	[PM_CMDLINE] = F("cmdline", PROC, STR, NONE, CLEAN, 0, NULL, NO, NO, NULL),
	[PM_COMMAND] = F("command", PROC, STR, NONE, CLEAN, 0, NULL, NO, NO, NULL),
	[PM_CONTAINER] = F("container", PROC, STR, NONE, 0, 0, NULL, NO, NO, NULL),
	[PM_PYTHON_VERSION] = F("python_version", PROC, STR, NONE, 0, 0, NULL, NO, NO,
				"version not readable from the interpreter file"),
	[PM_PYTHON_BUILD] = OBJ("python_build", PROC, BUILD, "interpreter not identified"),
	[PM_EXITED] = F("exited", PROC, BOOL, NONE, 0, 0, NULL, NO, NO, NULL),
	[PM_RSS_BYTES] = F("rss_bytes", PROC, U64, BYTES, 0, 0, NULL, NO, NO, STATUS),
	[PM_ANON_BYTES] = F("anon_bytes", PROC, U64, BYTES, 0, 0, NULL, NO, NO, STATUS),
	[PM_SWAP_BYTES] = F("swap_bytes", PROC, U64, BYTES, 0, 0, NULL, NO, NO, STATUS),
	[PM_MMAP_CALLS_TOTAL] = F("mmap_calls_total", PROC, U64, COUNT, 0, 0, NULL, MM, NO, NULL),
	[PM_MMAP_BYTES_TOTAL] = F("mmap_bytes_total", PROC, U64, BYTES, 0, 0, NULL, MM, NO, NULL),
	[PM_MUNMAP_CALLS_TOTAL] =
		F("munmap_calls_total", PROC, U64, COUNT, 0, 0, NULL, MM, NO, NULL),
	[PM_MUNMAP_BYTES_TOTAL] =
		F("munmap_bytes_total", PROC, U64, BYTES, 0, 0, NULL, MM, NO, NULL),
	[PM_MREMAP_CALLS_TOTAL] =
		F("mremap_calls_total", PROC, U64, COUNT, 0, 0, NULL, MM, NO, NULL),
	[PM_MREMAP_GROW_BYTES_TOTAL] =
		F("mremap_grow_bytes_total", PROC, U64, BYTES, 0, 0, NULL, MM, NO, NULL),
	[PM_MREMAP_SHRINK_BYTES_TOTAL] =
		F("mremap_shrink_bytes_total", PROC, U64, BYTES, 0, 0, NULL, MM, NO, NULL),
	[PM_BRK_CALLS_TOTAL] = F("brk_calls_total", PROC, U64, COUNT, 0, 0, NULL, MM, NO, NULL),
	[PM_BRK_BYTES] = F("brk_bytes", PROC, U64, BYTES, 0, 0, NULL, MM, NO, NULL),
	[PM_GC_MODEL] = F("gc_model", PROC, STR, NONE, 0, 0, NULL, NO, NO,
			  "no layout registry row for this build"),
	[PM_GC_COLLECTIONS_TOTAL] =
		F("gc_collections_total", PROC, U64V, COUNT, 0, PMT_NGEN, NULL, GC, NULL),
	[PM_GC_COLLECTED_TOTAL] =
		F("gc_collected_total", PROC, U64V, COUNT, 0, PMT_NGEN, NULL, GC, NULL),
	[PM_GC_SECONDS_TOTAL] = F("gc_seconds_total", PROC, F64V, SECONDS, 0, PMT_NGEN, "%.9f",
				  PM_PROBES_GC, PM_PROBES_GC_TIME_REASON, NULL),
	[PM_GC_CANDIDATES_TOTAL] = F("gc_candidates_total", PROC, U64V, COUNT, 0, PMT_NGEN, NULL,
				     PM_PROBES_GC, NO, "3.15's GC statistics only"),
	[PM_HEAP_ALLOCATOR] = F("heap_allocator", PROC, STR, NONE, 0, 0, NULL, HEAP, NULL),
	[PM_HEAP_ARENA_BYTES] = F("heap_arena_bytes", PROC, U64, BYTES, ACC, 0, NULL, HEAP, NULL),
	[PM_HEAP_ARENAS] = F("heap_arenas", PROC, U64, COUNT, 0, 0, NULL, HEAP, NULL),
	[PM_HEAP_LIVE_BLOCKS] = F("heap_live_blocks", PROC, U64, COUNT, ACC, 0, NULL, HEAP, NULL),
	[PM_HEAP_LIVE_BYTES] = F("heap_live_bytes", PROC, U64, BYTES, ACC, 0, NULL, HEAP, NULL),
	[PM_HEAP_SIZE_CLASSES] =
		F("heap_size_classes", PROC, U64V, COUNT, ACC, PMT_NCLASSES, NULL, HEAP, NULL),
	[PM_HEAP_SNAPSHOT_AGE_SECONDS] =
		F("heap_snapshot_age_seconds", PROC, F64, SECONDS, 0, 0, "%.3f", HEAP, NULL),
	[PM_HEAP_RAW_BLOCKS] = F("heap_raw_blocks", PROC, I64, COUNT, ACC, 0, NULL, PM_PROBES_HEAP,
				 PM_PROBES_HEAP_RAW_REASON, NULL),
	[PM_HEAP_ARENAS_ALLOCATED_TOTAL] =
		F("heap_arenas_allocated_total", PROC, U64, COUNT, ACC, 0, NULL, HEAP,
		  "arena counter not located in this build"),
	[PM_GC_GENERATION_COUNTS] =
		F("gc_generation_counts", PROC, I64V, COUNT, ACC, PMT_NGEN, NULL, GCSTATE, NULL),
	[PM_GC_THRESHOLDS] =
		F("gc_thresholds", PROC, I64V, COUNT, 0, PMT_NGEN, NULL, GCSTATE, NULL),
	[PM_GC_ENABLED] = F("gc_enabled", PROC, BOOL, NONE, 0, 0, NULL, GCSTATE, NULL),
	[PM_ALLOCS_TOTAL] = F("allocs_total", PROC, U64, COUNT, ACC, 0, NULL, ALLOC, NULL),
	[PM_ALLOC_BYTES_TOTAL] =
		F("alloc_bytes_total", PROC, U64, BYTES, ACC, 0, NULL, ALLOC, NULL),
	[PM_ALLOC_SIZE_CLASSES] =
		F("alloc_size_classes", PROC, U64V, COUNT, ACC, PMT_NBUCKETS, NULL, ALLOC, NULL),
	[PM_POOL_REFILLS_TOTAL] =
		F("pool_refills_total", PROC, U64V, COUNT, ACC, PMT_NCLASSES, NULL, ALLOC, NULL),
	[PM_REALLOCS_TOTAL] = F("reallocs_total", PROC, U64, COUNT, 0, 0, NULL, ALLOC,
				"counted with --precise only"),
	[PM_FREES_TOTAL] = F("frees_total", PROC, U64, COUNT, ACC, 0, NULL, ALLOC,
			     "counted with --precise only"),
	[PM_FREE_SIZE_CLASSES] = F("free_size_classes", PROC, U64V, COUNT, 0, PMT_NBUCKETS, NULL,
				   ALLOC, "counted with --precise only"),
	[PM_ACCURACY] = { .key = "accuracy",
			  .group = PM_G_PROC,
			  .type = PM_T_ACC,
			  .child = PM_G_NR,
			  .source = NO,
			  .reason = NO },
	[PM_RATES] = OBJ("rates", PROC, RATES, NULL),
	[PM_GROWTH] = OBJ("growth", PROC, GROWTH, NULL),
	[PM_PROBES] = OBJ("probes", PROC, PROBES, NULL),
	[PM_SITES] = { .key = "sites",
		       .group = PM_G_PROC,
		       .type = PM_T_SITES,
		       .child = PM_G_NR,
		       .source = PM_SITES_SOURCE,
		       .reason = PM_SITES_REASON,
		       .why = "not sampled" },
	[PM_SITES_SOURCE] =
		F("sites_source", PROC, STR, NONE, 0, 0, NULL, NO, PM_SITES_REASON, NULL),
	[PM_SITES_REASON] = F("sites_reason", PROC, STR, NONE, 0, 0, NULL, NO, NO, NULL),
	[PM_SITES_TOTAL] = { .key = "sites_total",
			     .group = PM_G_PROC,
			     .type = PM_T_OBJ,
			     .child = PM_G_SITES_TOTAL,
			     .source = PM_SITES_SOURCE,
			     .reason = PM_SITES_REASON },
	[PM_SITES_RECENT_SECONDS] = F("sites_recent_seconds", PROC, F64, SECONDS, 0, 0, "%.1f",
				      PM_SITES_SOURCE, PM_SITES_REASON, NULL),

	[PM_HEAP_TYPES] = { .key = "heap_types",
			    .group = PM_G_PROC,
			    .type = PM_T_TYPES,
			    .child = PM_G_NR,
			    .source = PM_PROBES_HEAP_TYPES,
			    .reason = PM_PROBES_HEAP_TYPES_REASON,
			    .why = "no heap snapshot yet" },
	[PM_HEAP_TYPES_SAMPLED_POOLS] =
		F("heap_types_sampled_pools", PROC, U64, COUNT, 0, 0, NULL, PM_PROBES_HEAP_TYPES,
		  PM_PROBES_HEAP_TYPES_REASON, "no heap snapshot yet"),
	[PM_HEAP_TYPES_SAMPLED_BLOCKS] =
		F("heap_types_sampled_blocks", PROC, U64, COUNT, 0, 0, NULL, PM_PROBES_HEAP_TYPES,
		  PM_PROBES_HEAP_TYPES_REASON, "no heap snapshot yet"),
	[PM_HEAP_TYPES_BUFFER_BYTES] =
		F("heap_types_buffer_bytes", PROC, U64, BYTES, ACC, 0, NULL, PM_PROBES_HEAP_TYPES,
		  PM_PROBES_HEAP_TYPES_REASON, "no heap snapshot yet"),
	[PM_HEAP_TYPES_OTHER_BYTES] =
		F("heap_types_other_bytes", PROC, U64, BYTES, ACC, 0, NULL, PM_PROBES_HEAP_TYPES,
		  PM_PROBES_HEAP_TYPES_REASON, "no heap snapshot yet"),
	[PM_HEAP_TYPES_UNSAMPLED_BYTES] =
		F("heap_types_unsampled_bytes", PROC, U64, BYTES, 0, 0, NULL, PM_PROBES_HEAP_TYPES,
		  PM_PROBES_HEAP_TYPES_REASON, "no heap snapshot yet"),

	[PM_HEAP_TYPES_AGE_SECONDS] =
		F("heap_types_age_seconds", PROC, F64, SECONDS, 0, 0, "%.3f", PM_PROBES_HEAP_TYPES,
		  PM_PROBES_HEAP_TYPES_REASON, "no heap snapshot yet"),
	[PM_HEAP_TYPES_GROWTH_SECONDS] = F(
		"heap_types_growth_seconds", PROC, F64, SECONDS, 0, 0, "%.1f", PM_PROBES_HEAP_TYPES,
		PM_PROBES_HEAP_TYPES_REASON, "fewer than 30 s of heap_types yet"),

	[PM_BUILD_LIBPYTHON] = F("libpython", BUILD, STR, NONE, 0, 0, NULL, NO, NO, NULL),
	[PM_BUILD_PATH] = F("path", BUILD, STR, NONE, CLEAN, 0, NULL, NO, NO, NULL),
	[PM_BUILD_SYMTAB] = F("symtab", BUILD, BOOL, NONE, 0, 0, NULL, NO, NO, NULL),
	[PM_BUILD_USDT] = F("usdt", BUILD, BOOL, NONE, 0, 0, NULL, NO, NO, NULL),
	[PM_BUILD_BUILD_ID] =
		F("build_id", BUILD, STR, NONE, 0, 0, NULL, NO, NO, "no GNU build-id note"),
	[PM_BUILD_VERSION_SOURCE] = F("version_source", BUILD, STR, NONE, 0, 0, NULL, NO, NO,
				      "version not readable from the interpreter file"),
	[PM_BUILD_LAYOUT] = F("layout", BUILD, STR, NONE, 0, 0, NULL, NO, PM_PROBES_HEAP_REASON,
			      "no layout registry row"),
	[PM_BUILD_DEBUG_OFFSETS] = F("debug_offsets", BUILD, BOOL, NONE, 0, 0, NULL, NO, NO, NULL),

	[PM_RATE_RSS_BYTES] =
		F("rss_bytes_per_s", RATES, F64, BYTES_PER_S, 0, 0, "%.1f", NO, NO, TWO),
	[PM_RATE_MMAP_BYTES] =
		F("mmap_bytes_per_s", RATES, F64, BYTES_PER_S, 0, 0, "%.3f", MM, NO, TWO),
	[PM_RATE_MUNMAP_BYTES] =
		F("munmap_bytes_per_s", RATES, F64, BYTES_PER_S, 0, 0, "%.3f", MM, NO, TWO),
	[PM_RATE_MM_CALLS] = F("mm_calls_per_s", RATES, F64, PER_S, 0, 0, "%.3f", MM, NO, TWO),
	[PM_RATE_GC_COLLECTIONS] =
		F("gc_collections_per_s", RATES, F64, PER_S, 0, 0, "%.3f", GC, TWO),
	[PM_RATE_GC_TIME_RATIO] = F("gc_time_ratio", RATES, F64, RATIO, 0, 0, "%.6f", PM_PROBES_GC,
				    PM_PROBES_GC_TIME_REASON, TWO),
	[PM_RATE_ALLOCS] = F("allocs_per_s", RATES, F64, PER_S, 0, 0, "%.3f", ALLOC, TWO),
	[PM_RATE_ALLOC_BYTES] =
		F("alloc_bytes_per_s", RATES, F64, BYTES_PER_S, 0, 0, "%.3f", ALLOC, TWO),
	[PM_RATE_FREES] = F("frees_per_s", RATES, F64, PER_S, 0, 0, "%.3f", ALLOC,
			    "counted with --precise only"),

	[PM_GROWTH_HEAP] = OBJ("heap_live_bytes", GROWTH, GROWTH_HEAP, GROWING),
	[PM_GROWTH_RSS] = OBJ("rss_bytes", GROWTH, GROWTH_RSS, GROWING),
	[PM_GROWTH_HEAP_WINDOW] =
		F("window_seconds", GROWTH_HEAP, F64, SECONDS, 0, 0, "%.3f", NO, NO, GROWING),
	[PM_GROWTH_HEAP_SLOPE] =
		F("bytes_per_s", GROWTH_HEAP, F64, BYTES_PER_S, 0, 0, "%.1f", NO, NO, GROWING),
	[PM_GROWTH_HEAP_STEADY] = F("steady", GROWTH_HEAP, BOOL, NONE, 0, 0, NULL, NO, NO, GROWING),
	[PM_GROWTH_RSS_WINDOW] =
		F("window_seconds", GROWTH_RSS, F64, SECONDS, 0, 0, "%.3f", NO, NO, GROWING),
	[PM_GROWTH_RSS_SLOPE] =
		F("bytes_per_s", GROWTH_RSS, F64, BYTES_PER_S, 0, 0, "%.1f", NO, NO, GROWING),
	[PM_GROWTH_RSS_STEADY] = F("steady", GROWTH_RSS, BOOL, NONE, 0, 0, NULL, NO, NO, GROWING),

	[PM_PROBES_MM] = F("mm", PROBES, STR, NONE, 0, 0, NULL, NO, NO, NULL),
	[PM_PROBES_GC] = F("gc", PROBES, STR, NONE, 0, 0, NULL, NO, NO, NULL),
	[PM_PROBES_GC_TIME_REASON] =
		F("gc_time_reason", PROBES, STR, NONE, OMIT, 0, NULL, NO, NO, NULL),
	[PM_PROBES_GC_REASON] = F("gc_reason", PROBES, STR, NONE, OMIT, 0, NULL, NO, NO, NULL),
	[PM_PROBES_HEAP] = F("heap", PROBES, STR, NONE, 0, 0, NULL, NO, NO, NULL),
	[PM_PROBES_HEAP_REASON] = F("heap_reason", PROBES, STR, NONE, OMIT, 0, NULL, NO, NO, NULL),
	[PM_PROBES_HEAP_RAW_REASON] =
		F("heap_raw_reason", PROBES, STR, NONE, OMIT, 0, NULL, NO, NO, NULL),
	[PM_PROBES_GC_STATE_REASON] =
		F("gc_state_reason", PROBES, STR, NONE, OMIT, 0, NULL, NO, NO, NULL),
	[PM_PROBES_ALLOC] = F("alloc", PROBES, STR, NONE, 0, 0, NULL, NO, NO, NULL),
	[PM_PROBES_ALLOC_REASON] =
		F("alloc_reason", PROBES, STR, NONE, OMIT, 0, NULL, NO, NO, NULL),
	[PM_PROBES_PRECISE_REASON] =
		F("precise_reason", PROBES, STR, NONE, OMIT, 0, NULL, NO, NO, NULL),

	[PM_PROBES_HEAP_TYPES] = F("heap_types", PROBES, STR, NONE, OMIT, 0, NULL, NO, NO, NULL),
	[PM_PROBES_HEAP_TYPES_REASON] =
		F("heap_types_reason", PROBES, STR, NONE, OMIT, 0, NULL, NO, NO, NULL),

	[PM_SITES_TOTAL_BYTES] = F("estimated_bytes", SITES_TOTAL, U64, BYTES, 0, 0, NULL,
				   PM_SITES_SOURCE, PM_SITES_REASON, NULL),
	[PM_SITES_TOTAL_SAMPLES] = F("samples", SITES_TOTAL, U64, COUNT, 0, 0, NULL,
				     PM_SITES_SOURCE, PM_SITES_REASON, NULL),
	[PM_SITES_TOTAL_RECENT_BYTES] = F("recent_bytes", SITES_TOTAL, U64, BYTES, 0, 0, NULL,
					  PM_SITES_SOURCE, PM_SITES_REASON, NULL),
	[PM_SITES_TOTAL_LIVE_BYTES] =
		F("live_bytes", SITES_TOTAL, U64, BYTES, 0, 0, NULL, PM_SITES_SOURCE,
		  PM_SITES_REASON, "no sample's object followed yet"),
	[PM_SITES_TOTAL_LIVE_SAMPLES] =
		F("live_samples", SITES_TOTAL, U64, COUNT, 0, 0, NULL, PM_SITES_SOURCE,
		  PM_SITES_REASON, "no sample's object followed yet"),
	[PM_SITES_TOTAL_RECENT_SAMPLES] = F("recent_samples", SITES_TOTAL, U64, COUNT, 0, 0, NULL,
					    PM_SITES_SOURCE, PM_SITES_REASON, NULL),
};

/* The field holding each group, for paths. */
static enum pm_id group_field(enum pm_group g)
{
	for (int i = 0; i < PM_NFIELDS; i++)
		if (pm_fields[i].type == PM_T_OBJ && pm_fields[i].child == g)
			return i;
	return PM_NONE;
}

const char *pm_path(enum pm_id id, char *buf, size_t len)
{
	const struct pm_field *f = &pm_fields[id];
	enum pm_id parent = f->group == PM_G_PROC ? PM_NONE : group_field(f->group);
	char head[128];

	if (parent == PM_NONE)
		snprintf(buf, len, "%s", f->key);
	else
		snprintf(buf, len, "%s.%s", pm_path(parent, head, sizeof(head)), f->key);
	return buf;
}

const char *pm_unit_name(enum pm_unit u)
{
	static const char *const names[PM_U_NR] = {
		[PM_U_NONE] = "",
		[PM_U_BYTES] = "bytes",
		[PM_U_COUNT] = "count",
		[PM_U_SECONDS] = "seconds",
		[PM_U_UNIX_TIME] = "unix seconds",
		[PM_U_BYTES_PER_S] = "bytes/s",
		[PM_U_PER_S] = "per second",
		[PM_U_RATIO] = "ratio",
	};

	return u < PM_U_NR ? names[u] : "";
}

/* ---- reading ----------------------------------------------------------------- */

static const union pm_num *vec_at(const struct pm_proc *p, const struct pm_val *v, int i)
{
	return i >= 0 && i < v->n - v->nnull ? (const void *)&p->vec[v->voff + i] : NULL;
}

double pm_num(const struct pm_proc *p, enum pm_id id)
{
	const struct pm_val *v = &p->v[id];

	if (!v->ok)
		return NAN;
	switch (pm_fields[id].type) {
	case PM_T_I64:
		return (double)v->i;
	case PM_T_U64:
		return (double)v->u;
	case PM_T_F64:
		return v->d;
	case PM_T_BOOL:
		return v->b;
	default:
		return NAN;
	}
}

bool pm_elem(const struct pm_proc *p, enum pm_id id, int i, double *out)
{
	const struct pm_val *v = &p->v[id];

	if (!v->ok || i < 0 || i >= v->n - v->nnull)
		return false;
	switch (pm_fields[id].type) {
	case PM_T_I64V:
		*out = (double)p->vec[v->voff + i].i;
		return true;
	case PM_T_U64V:
		*out = (double)p->vec[v->voff + i].u;
		return true;
	case PM_T_F64V:
		*out = p->vec[v->voff + i].d;
		return true;
	default:
		return false;
	}
}

bool pm_elem_u64(const struct pm_proc *p, enum pm_id id, int i, uint64_t *out)
{
	const struct pm_val *v = &p->v[id];

	if (!v->ok || i < 0 || i >= v->n - v->nnull || pm_fields[id].type != PM_T_U64V)
		return false;
	*out = p->vec[v->voff + i].u;
	return true;
}

const char *pm_str(const struct pm_proc *p, enum pm_id id)
{
	return p->v[id].ok && pm_fields[id].type == PM_T_STR ? p->v[id].s : NULL;
}

bool pm_bool(const struct pm_proc *p, enum pm_id id)
{
	return p->v[id].ok && pm_fields[id].type == PM_T_BOOL && p->v[id].b;
}

const char *pm_acc_name(const struct pm_proc *p, enum pm_id id)
{
	if (!p->v[id].ok)
		return NULL;
	switch (p->v[id].acc) {
	case PM_EXACT:
		return "exact";
	case PM_ESTIMATED:
		return "estimated";
	default:
		return NULL;
	}
}

const char *pm_source(const struct pm_proc *p, enum pm_id id)
{
	enum pm_id s = pm_fields[id].source;

	return s == PM_NONE ? NULL : pm_str(p, s);
}

/* Why a source is missing: the reason that goes with it. */
static enum pm_id source_reason(enum pm_id source)
{
	switch (source) {
	case PM_PROBES_GC:
		return PM_PROBES_GC_REASON;
	case PM_PROBES_HEAP:
		return PM_PROBES_HEAP_REASON;
	case PM_PROBES_ALLOC:
		return PM_PROBES_ALLOC_REASON;
	case PM_SITES_SOURCE:
		return PM_SITES_REASON;
	default:
		return PM_NONE;
	}
}

const char *pm_reason(const struct pm_proc *p, enum pm_id id)
{
	const struct pm_field *f = &pm_fields[id];
	enum pm_id parent = f->group == PM_G_PROC ? PM_NONE : group_field(f->group);
	const char *r;

	if (p->v[id].ok)
		return NULL;
	if (p->v[id].why_own && f->why)
		return f->why;
	if (parent != PM_NONE && !p->v[parent].ok)
		return pm_reason(p, parent); /* the whole object is missing */
	if (f->reason != PM_NONE && (r = pm_str(p, f->reason)))
		return r;
	/* a value of a part of a source (GC times of the GC probes): the
	 * source's own reason when the whole source is missing */
	if (f->source != PM_NONE && !pm_ok(p, f->source) && source_reason(f->source) != PM_NONE &&
	    (r = pm_str(p, source_reason(f->source))))
		return r;
	return f->why ? f->why : "unavailable";
}

/* ---- writing ----------------------------------------------------------------- */

static struct pm_val *slot(struct pm_proc *p, enum pm_id id)
{
	struct pm_val *v = &p->v[id];

	memset(v, 0, sizeof(*v));
	return v;
}

void pm_set_i64(struct pm_proc *p, enum pm_id id, int64_t x)
{
	struct pm_val *v = slot(p, id);

	v->ok = true;
	v->i = x;
}

void pm_set_u64(struct pm_proc *p, enum pm_id id, uint64_t x)
{
	struct pm_val *v = slot(p, id);

	v->ok = true;
	v->u = x;
}

void pm_set_f64(struct pm_proc *p, enum pm_id id, double x)
{
	struct pm_val *v = slot(p, id);

	v->ok = isfinite(x);
	v->d = x;
}

void pm_set_bool(struct pm_proc *p, enum pm_id id, bool x)
{
	struct pm_val *v = slot(p, id);

	v->ok = true;
	v->b = x;
}

void pm_set_str(struct pm_proc *p, enum pm_id id, const char *s)
{
	struct pm_val *v = slot(p, id);

	v->ok = s != NULL;
	v->s = s;
}

void pm_set_obj(struct pm_proc *p, enum pm_id id, bool present)
{
	slot(p, id)->ok = present;
}

void pm_set_na_own(struct pm_proc *p, enum pm_id id)
{
	slot(p, id)->why_own = true;
}

bool pm_set_vec(struct pm_proc *p, enum pm_id id, const void *src, int n, int nnull)
{
	struct pm_val *v = slot(p, id);

	if (n < 0 || n > 255 || nnull > n || p->nvec + n > PM_VEC_MAX)
		return false;
	memcpy(&p->vec[p->nvec], src, n * sizeof(p->vec[0]));
	v->ok = true;
	v->n = n;
	v->nnull = nnull;
	v->voff = p->nvec;
	p->nvec += n;
	return true;
}

void pm_set_acc(struct pm_proc *p, enum pm_id id, enum pm_acc a)
{
	p->v[id].acc = a;
}

void *pm_own(struct pm_proc *p, void *mem)
{
	if (!mem)
		return NULL;
	if (p->nowned == p->capowned) {
		int cap = p->capowned ? 2 * p->capowned : 16;
		void **o = realloc(p->owned, cap * sizeof(*o));

		if (!o) {
			free(mem);
			return NULL;
		}
		p->owned = o;
		p->capowned = cap;
	}
	p->owned[p->nowned++] = mem;
	return mem;
}

const char *pm_own_str(struct pm_proc *p, const char *s)
{
	return s ? pm_own(p, strdup(s)) : NULL;
}

void model_free(struct pm_proc *p)
{
	for (int i = 0; i < p->nowned; i++)
		free(p->owned[i]);
	free(p->owned);
	p->owned = NULL;
	p->nowned = p->capowned = 0;
	sites_top_free(p->sites, p->nsites);
	p->sites = NULL;
	p->nsites = 0;
}

/* A site's strings into d's own memory. */
static bool copy_frame(struct pm_proc *d, struct pm_frame *f)
{
	f->function = pm_own_str(d, f->function);
	if (f->file && !(f->file = pm_own_str(d, f->file)))
		return false;
	return f->function != NULL;
}

static int copy_sites(struct pm_proc *d, const struct pm_proc *s)
{
	d->sites = NULL;
	d->nsites = 0;
	if (!s->nsites)
		return 0;
	if (!(d->sites = calloc(s->nsites, sizeof(*d->sites))))
		return -ENOMEM;
	for (int i = 0; i < s->nsites; i++) {
		struct pm_site *x = &d->sites[i];

		*x = s->sites[i];
		x->stack = NULL;
		x->nframes = 0;
		d->nsites = i + 1;
		if (!copy_frame(d, &x->where) || !(x->source = pm_own_str(d, x->source)))
			return -ENOMEM;
		if (!s->sites[i].nframes)
			continue;
		if (!(x->stack = calloc(s->sites[i].nframes, sizeof(*x->stack))))
			return -ENOMEM;
		x->nframes = s->sites[i].nframes;
		for (int f = 0; f < x->nframes; f++) {
			x->stack[f] = s->sites[i].stack[f];
			if (!copy_frame(d, &x->stack[f]))
				return -ENOMEM;
		}
	}
	return 0;
}

int model_copy(struct pm_proc *d, const struct pm_proc *s)
{
	memcpy(d, s, sizeof(*d));
	d->owned = NULL;
	d->nowned = d->capowned = 0;
	for (int i = 0; i < PM_NFIELDS; i++)
		if (pm_fields[i].type == PM_T_STR && s->v[i].ok &&
		    !(d->v[i].s = pm_own_str(d, s->v[i].s))) {
			d->v[i].ok = false;
			d->sites = NULL;
			d->nsites = 0;
			return -ENOMEM;
		}
	return copy_sites(d, s);
}

/* ---- JSON ---------------------------------------------------------------------- */

static struct json_object *jstring(struct jw *w, const char *s, bool clean)
{
	size_t len;
	char *buf;
	struct json_object *o;

	if (!clean)
		return jw_str(w, s);
	len = strlen(s) * 3 + 1;
	if (!(buf = malloc(len)))
		return jw_chk(w, NULL);
	o = jw_str(w, output_clean_string(s, false, buf, len));
	free(buf);
	return o;
}

static struct json_object *jnum(struct jw *w, enum pm_type t, const union pm_num *x,
				const char *fmt)
{
	switch (t) {
	case PM_T_I64:
		return jw_i64(w, x->i);
	case PM_T_U64:
		return jw_u64(w, x->u);
	default:
		return jw_double(w, x->d, fmt);
	}
}

static struct json_object *jvec(struct jw *w, const struct pm_proc *p, enum pm_id id)
{
	const struct pm_val *v = &p->v[id];
	enum pm_type t = pm_fields[id].type == PM_T_I64V   ? PM_T_I64
			 : pm_fields[id].type == PM_T_U64V ? PM_T_U64
							   : PM_T_F64;
	struct json_object *a = jw_arr(w, v->n);

	for (int i = 0; a && i < v->n; i++) {
		const union pm_num *x = vec_at(p, v, i);

		jw_append(w, a, x ? jnum(w, t, x, pm_fields[id].fmt) : NULL);
	}
	return a;
}

static struct json_object *jframe(struct jw *w, struct json_object *o, const struct pm_frame *f)
{
	jw_put(w, o, "function", jw_str(w, f->function));
	jw_put(w, o, "file", jw_str(w, f->file));
	jw_put(w, o, "line", f->line >= 0 ? jw_i64(w, f->line) : NULL);
	return o;
}

static struct json_object *jsite(struct jw *w, const struct pm_site *s)
{
	struct json_object *o = jw_obj(w), *a;

	if (!o)
		return NULL;
	jframe(w, o, &s->where);
	jw_put(w, o, "source", jw_str(w, s->source));
	jw_put(w, o, "estimated_bytes", jw_i64(w, s->bytes));
	jw_put(w, o, "samples", jw_i64(w, s->samples));
	jw_put(w, o, "recent_bytes", jw_i64(w, s->recent_bytes));
	jw_put(w, o, "recent_samples", jw_i64(w, s->recent_samples));
	jw_put(w, o, "live_bytes", s->live_ok ? jw_u64(w, s->live_bytes) : NULL);
	jw_put(w, o, "live_samples", s->live_ok ? jw_u64(w, s->live_samples) : NULL);
	a = NULL;
	if (s->has_classes && (a = jw_arr(w, PMT_NCLASSES)))
		for (int c = 0; c < PMT_NCLASSES; c++)
			jw_append(w, a, jw_i64(w, s->class_bytes[c]));
	jw_put(w, o, "size_class_bytes", a);
	if ((a = jw_arr(w, s->nframes)))
		for (int f = 0; f < s->nframes; f++)
			jw_append(w, a, jframe(w, jw_obj(w), &s->stack[f]));
	jw_put(w, o, "stack", a);
	return o;
}

static struct json_object *jsites(struct jw *w, const struct pm_proc *p)
{
	struct json_object *a = jw_arr(w, p->nsites);

	for (int i = 0; a && i < p->nsites; i++)
		jw_append(w, a, jsite(w, &p->sites[i]));
	return a;
}

static struct json_object *jtypes(struct jw *w, const struct pm_proc *p)
{
	struct json_object *a = jw_arr(w, p->ntypes);
	const char *acc = pm_acc_name(p, PM_HEAP_TYPES);
	char text[300];
	uint64_t saving;
	bool hint;

	for (int i = 0; a && i < p->ntypes; i++) {
		const struct ht_entry *t = &p->types[i];
		struct json_object *o = jw_obj(w);

		jw_put(w, o, "type", jw_str(w, t->name));
		jw_put(w, o, "objects", jw_u64(w, t->objects));
		jw_put(w, o, "bytes", jw_u64(w, t->bytes));
		jw_put(w, o, "objects_error", jw_u64(w, t->objects_error));
		jw_put(w, o, "objects_growth", t->growth_ok ? jw_i64(w, t->growth) : NULL);
		jw_put(w, o, "accuracy", jw_str(w, acc));
		hint = heaptypes_hint(t, text, sizeof(text), &saving);
		jw_put(w, o, "hint", hint ? jw_str(w, text) : NULL);
		jw_put(w, o, "hint_saving_bytes", hint ? jw_u64(w, saving) : NULL);
		jw_append(w, a, o);
	}
	return a;
}

static struct json_object *jaccuracy(struct jw *w, const struct pm_proc *p)
{
	struct json_object *o = jw_obj(w);

	for (int i = 0; o && i < PM_NFIELDS; i++) {
		const char *a = pm_fields[i].flags & PMF_ACC ? pm_acc_name(p, i) : NULL;

		if (pm_fields[i].flags & PMF_ACC)
			jw_put(w, o, pm_fields[i].key, jw_str(w, a));
	}
	return o;
}

static struct json_object *jgroup(struct jw *w, const struct pm_proc *p, enum pm_group g);

static struct json_object *jfield(struct jw *w, const struct pm_proc *p, enum pm_id id)
{
	const struct pm_field *f = &pm_fields[id];
	const struct pm_val *v = &p->v[id];

	if (f->type == PM_T_ACC)
		return jaccuracy(w, p);
	if (!v->ok)
		return NULL;
	switch (f->type) {
	case PM_T_I64:
	case PM_T_U64:
	case PM_T_F64:
		return jnum(w, f->type, &(union pm_num){ .u = v->u }, f->fmt);
	case PM_T_BOOL:
		return jw_bool(w, v->b);
	case PM_T_STR:
		return jstring(w, v->s, f->flags & PMF_CLEAN);
	case PM_T_OBJ:
		return jgroup(w, p, f->child);
	case PM_T_SITES:
		return jsites(w, p);
	case PM_T_TYPES:
		return jtypes(w, p);
	default:
		return jvec(w, p, id);
	}
}

static struct json_object *jgroup(struct jw *w, const struct pm_proc *p, enum pm_group g)
{
	struct json_object *o = jw_obj(w);

	for (int i = 0; o && i < PM_NFIELDS; i++) {
		if (pm_fields[i].group != g)
			continue;
		if ((pm_fields[i].flags & PMF_OMIT) && !p->v[i].ok)
			continue;
		jw_put(w, o, pm_fields[i].key, jfield(w, p, i));
	}
	return o;
}

struct json_object *model_json(const struct pm_proc *p)
{
	struct jw w = { false };
	struct json_object *o = jgroup(&w, p, PM_G_PROC);

	if (w.oom) {
		json_object_put(o);
		return NULL;
	}
	return o;
}
