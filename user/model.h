/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * What pymemtop knows about one process in one frame, typed.
 *
 * model_build() turns a process table entry into a struct pm_proc once per
 * frame; every consumer reads that: the JSON writer (model_json(), the
 * only place JSON is made), the -b text table, the live display
 * (view.c), Prometheus (prom.c) and the --sites report (sitesreport.c).
 * Each metric is a struct pm_val: its value, whether it is available, its
 * accuracy, and, through the field table, its unit, its JSON key and why
 * it is unavailable. Consumers name metrics by enum pm_id, so a renamed
 * or removed field does not compile instead of showing "-".
 *
 * pm_fields[] (model.c) is the one field table: the JSON writer walks it in
 * order (key order is JSON order), the display and Prometheus take their
 * units and reasons from it, and tests/unit/test_model.c checks it against
 * the field list of docs/metrics.md.
 */
#ifndef PMT_MODEL_H
#define PMT_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <json-c/json.h>
#include "heaptypes.h"
#include "pymemtop.h"

struct proc_entry;

/* The objects of a process's JSON, nested as in docs/metrics.md. */
enum pm_group {
	PM_G_PROC, /* the process object */
	PM_G_BUILD, /* python_build */
	PM_G_RATES, /* rates */
	PM_G_GROWTH, /* growth */
	PM_G_GROWTH_HEAP, /* growth.heap_live_bytes */
	PM_G_GROWTH_RSS, /* growth.rss_bytes */
	PM_G_PROBES, /* probes */
	PM_G_SITES_TOTAL, /* sites_total */
	PM_G_NR,
};

enum pm_type {
	PM_T_I64,
	PM_T_U64, /* counters: never through a double */
	PM_T_F64,
	PM_T_BOOL,
	PM_T_STR,
	PM_T_I64V, /* vectors of up to pm_field.len values */
	PM_T_U64V,
	PM_T_F64V,
	PM_T_OBJ, /* a nested object (pm_field.child), or null */
	PM_T_ACC, /* the "accuracy" object: one key per PMF_ACC field */
	PM_T_SITES, /* the "sites" array */
	PM_T_TYPES, /* the "heap_types" array */
};

enum pm_unit {
	PM_U_NONE, /* identifiers, names, flags */
	PM_U_BYTES,
	PM_U_COUNT,
	PM_U_SECONDS,
	PM_U_UNIX_TIME, /* seconds since the epoch */
	PM_U_BYTES_PER_S,
	PM_U_PER_S,
	PM_U_RATIO, /* 0-1 */
	PM_U_NR,
};

enum pm_acc { PM_ACC_NONE, PM_EXACT, PM_ESTIMATED };

/* Field flags. */
#define PMF_CLEAN (1u << 0) /* process-controlled text: made valid UTF-8 for JSON */
#define PMF_OMIT  (1u << 1) /* key left out when unavailable (probes' reasons) */
#define PMF_ACC	  (1u << 2) /* has a key in "accuracy" */

enum pm_id {
	/* process object */
	PM_PID,
	PM_PPID,
	PM_START_TIME,
	PM_UID,
	PM_USER,
	PM_COMM,
	PM_CMDLINE,
	PM_COMMAND,
	PM_CONTAINER,
	PM_PYTHON_VERSION,
	PM_PYTHON_BUILD,
	PM_EXITED,
	PM_RSS_BYTES,
	PM_ANON_BYTES,
	PM_SWAP_BYTES,
	PM_MMAP_CALLS_TOTAL,
	PM_MMAP_BYTES_TOTAL,
	PM_MUNMAP_CALLS_TOTAL,
	PM_MUNMAP_BYTES_TOTAL,
	PM_MREMAP_CALLS_TOTAL,
	PM_MREMAP_GROW_BYTES_TOTAL,
	PM_MREMAP_SHRINK_BYTES_TOTAL,
	PM_BRK_CALLS_TOTAL,
	PM_BRK_BYTES,
	PM_GC_MODEL,
	PM_GC_COLLECTIONS_TOTAL,
	PM_GC_COLLECTED_TOTAL,
	PM_GC_SECONDS_TOTAL,
	PM_GC_CANDIDATES_TOTAL,
	PM_HEAP_ALLOCATOR,
	PM_HEAP_ARENA_BYTES,
	PM_HEAP_ARENAS,
	PM_HEAP_LIVE_BLOCKS,
	PM_HEAP_LIVE_BYTES,
	PM_HEAP_SIZE_CLASSES,
	PM_HEAP_SNAPSHOT_AGE_SECONDS,
	PM_HEAP_RAW_BLOCKS,
	PM_HEAP_ARENAS_ALLOCATED_TOTAL,
	PM_GC_GENERATION_COUNTS,
	PM_GC_THRESHOLDS,
	PM_GC_ENABLED,
	PM_ALLOCS_TOTAL,
	PM_ALLOC_BYTES_TOTAL,
	PM_ALLOC_SIZE_CLASSES,
	PM_POOL_REFILLS_TOTAL,
	PM_REALLOCS_TOTAL,
	PM_FREES_TOTAL,
	PM_FREE_SIZE_CLASSES,
	PM_ACCURACY,
	PM_RATES,
	PM_GROWTH,
	PM_PROBES,
	PM_SITES,
	PM_SITES_SOURCE,
	PM_SITES_REASON,
	PM_SITES_TOTAL,
	PM_SITES_RECENT_SECONDS,
	PM_HEAP_TYPES,
	PM_HEAP_TYPES_SAMPLED_POOLS,
	PM_HEAP_TYPES_SAMPLED_BLOCKS,
	PM_HEAP_TYPES_BUFFER_BYTES,
	PM_HEAP_TYPES_OTHER_BYTES,
	PM_HEAP_TYPES_UNSAMPLED_BYTES,
	PM_HEAP_TYPES_GROWTH_SECONDS,
	PM_HEAP_TYPES_AGE_SECONDS,
	/* python_build */
	PM_BUILD_LIBPYTHON,
	PM_BUILD_PATH,
	PM_BUILD_SYMTAB,
	PM_BUILD_USDT,
	PM_BUILD_BUILD_ID,
	PM_BUILD_VERSION_SOURCE,
	PM_BUILD_LAYOUT,
	PM_BUILD_DEBUG_OFFSETS,
	/* rates */
	PM_RATE_RSS_BYTES,
	PM_RATE_MMAP_BYTES,
	PM_RATE_MUNMAP_BYTES,
	PM_RATE_MM_CALLS,
	PM_RATE_GC_COLLECTIONS,
	PM_RATE_GC_TIME_RATIO,
	PM_RATE_ALLOCS,
	PM_RATE_ALLOC_BYTES,
	PM_RATE_FREES,
	/* growth */
	PM_GROWTH_HEAP,
	PM_GROWTH_RSS,
	PM_GROWTH_HEAP_WINDOW,
	PM_GROWTH_HEAP_SLOPE,
	PM_GROWTH_HEAP_STEADY,
	PM_GROWTH_RSS_WINDOW,
	PM_GROWTH_RSS_SLOPE,
	PM_GROWTH_RSS_STEADY,
	/* probes: where each group of values comes from, or why it is missing */
	PM_PROBES_MM,
	PM_PROBES_GC,
	PM_PROBES_GC_TIME_REASON,
	PM_PROBES_GC_REASON,
	PM_PROBES_HEAP,
	PM_PROBES_HEAP_REASON,
	PM_PROBES_HEAP_RAW_REASON,
	PM_PROBES_GC_STATE_REASON,
	PM_PROBES_ALLOC,
	PM_PROBES_ALLOC_REASON,
	PM_PROBES_PRECISE_REASON,
	PM_PROBES_HEAP_TYPES,
	PM_PROBES_HEAP_TYPES_REASON,
	/* sites_total */
	PM_SITES_TOTAL_BYTES,
	PM_SITES_TOTAL_SAMPLES,
	PM_SITES_TOTAL_RECENT_BYTES,
	PM_SITES_TOTAL_RECENT_SAMPLES,
	PM_SITES_TOTAL_LIVE_BYTES,
	PM_SITES_TOTAL_LIVE_SAMPLES,
	PM_NFIELDS,
	PM_NONE = PM_NFIELDS,
};

struct pm_field {
	const char *key; /* JSON key in its group */
	enum pm_group group;
	enum pm_type type;
	enum pm_unit unit;
	unsigned int flags; /* PMF_* */
	int len; /* vectors: most entries */
	enum pm_group child; /* PM_T_OBJ: the object it holds */
	const char *fmt; /* doubles: the JSON number text */
	enum pm_id source; /* the probes field naming the source, or PM_NONE */
	enum pm_id reason; /* the probes field saying why it is unavailable */
	const char *why; /* else why, when that one is empty too */
};

extern const struct pm_field pm_fields[PM_NFIELDS];

/* The dotted path of a field ("rates.allocs_per_s"). */
const char *pm_path(enum pm_id id, char *buf, size_t len);
const char *pm_unit_name(enum pm_unit u);

#define PM_VEC_MAX 160 /* every vector of a process together */

union pm_num {
	int64_t i;
	uint64_t u;
	double d;
};

struct pm_val {
	bool ok;
	uint8_t acc; /* enum pm_acc */
	uint8_t n; /* vectors: entries */
	uint8_t nnull; /* vectors: the last nnull entries are unknown */
	bool why_own; /* unavailable for the table's own why, not its reason field's */
	uint16_t voff; /* vectors: first entry in pm_proc.vec */
	union {
		int64_t i;
		uint64_t u;
		double d;
		bool b;
		const char *s; /* owned by the table entry or the pm_proc */
	};
};

/* One frame of a site (stack[0] is the site itself). */
struct pm_frame {
	const char *function; /* never NULL */
	const char *file; /* NULL: unknown */
	int line; /* -1: unknown */
};

/* How sites are ranked: by the bytes their samples still hold (the
 * default), or by the bytes they put into service (flow). */
enum sites_order { SITES_BY_LIVE, SITES_BY_FLOW };

struct pm_site {
	struct pm_frame where;
	const char *source; /* "pool_refill", "arena", "malloc", "object" */
	uint64_t bytes, samples, recent_bytes, recent_samples;
	bool live_ok; /* some of its samples' objects are followed */
	uint64_t live_bytes, live_samples; /* of those, still alive */
	bool has_classes; /* pool_refill sites */
	uint64_t class_bytes[PMT_NCLASSES];
	int nframes;
	struct pm_frame *stack; /* innermost first */
};

struct pm_proc {
	struct pm_val v[PM_NFIELDS];
	union pm_num vec[PM_VEC_MAX];
	int nvec;
	struct pm_site *sites; /* PM_SITES, largest first (sites_top_free) */
	int nsites;
	struct ht_entry types[HT_TOP]; /* PM_HEAP_TYPES, most bytes first */
	int ntypes;
	char user[64], alloc_reason[400];
	void **owned; /* strings freed with the model */
	int nowned, capowned;
};

/* The model of e (which must outlive it: strings point into e and its
 * interpreter). Sites: up to sites_top of them. Zero, or -ENOMEM (then p
 * holds what fitted; model_free it all the same). */
int model_build(const struct proc_entry *e, int sites_top, struct pm_proc *p);
void model_free(struct pm_proc *p);
/* A self-contained copy of s (every string its own, no pointer into s or
 * the table): for what outlives the frame. 0 or -ENOMEM (d is freeable
 * either way). */
int model_copy(struct pm_proc *d, const struct pm_proc *s);

/* Sites largest first by live bytes (default) or by flow (--sites-by). */
void model_sites_order(enum sites_order o);

/* The process object of docs/metrics.md; NULL when out of memory. */
struct json_object *model_json(const struct pm_proc *p);

/* ---- reading ---- */
static inline const struct pm_val *pm_get(const struct pm_proc *p, enum pm_id id)
{
	return &p->v[id];
}

static inline bool pm_ok(const struct pm_proc *p, enum pm_id id)
{
	return p->v[id].ok;
}

/* The value as a double (display, sorting); NAN when unavailable. */
double pm_num(const struct pm_proc *p, enum pm_id id);
/* Entry i of a vector; false when unavailable. */
bool pm_elem(const struct pm_proc *p, enum pm_id id, int i, double *out);
bool pm_elem_u64(const struct pm_proc *p, enum pm_id id, int i, uint64_t *out);
/* Strings and flags: NULL / false when unavailable. */
const char *pm_str(const struct pm_proc *p, enum pm_id id);
bool pm_bool(const struct pm_proc *p, enum pm_id id);
/* "exact", "estimated", or NULL (unavailable or not stated). */
const char *pm_acc_name(const struct pm_proc *p, enum pm_id id);
/* Where the value comes from, or NULL. */
const char *pm_source(const struct pm_proc *p, enum pm_id id);
/* Why it is unavailable (NULL when it is available). */
const char *pm_reason(const struct pm_proc *p, enum pm_id id);

/* ---- writing (model_build, test fixtures) ---- */
void pm_set_i64(struct pm_proc *p, enum pm_id id, int64_t v);
void pm_set_u64(struct pm_proc *p, enum pm_id id, uint64_t v);
void pm_set_f64(struct pm_proc *p, enum pm_id id, double v); /* NAN, inf: unavailable */
void pm_set_bool(struct pm_proc *p, enum pm_id id, bool v);
void pm_set_str(struct pm_proc *p, enum pm_id id, const char *s); /* NULL: unavailable */
void pm_set_obj(struct pm_proc *p, enum pm_id id, bool present);
/* Unavailable for the field's own reason (pm_field.why: a rate on a
 * process's first frame), whatever its source's reason says. */
void pm_set_na_own(struct pm_proc *p, enum pm_id id);
/* Vectors: n entries of v (n - nnull of them known); false when they do
 * not fit PM_VEC_MAX. */
bool pm_set_vec(struct pm_proc *p, enum pm_id id, const void *v, int n, int nnull);
void pm_set_acc(struct pm_proc *p, enum pm_id id, enum pm_acc a);
/* A copy of s kept until model_free (NULL when out of memory). */
const char *pm_own_str(struct pm_proc *p, const char *s);
void *pm_own(struct pm_proc *p, void *mem);

#endif
