// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * model_build(): one process table entry into its typed model. What each
 * value means and where it comes from is docs/metrics.md's; the rules for
 * when a value is unavailable live here and nowhere else.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "model.h"
#include "procfs.h"
#include "rate.h"
#include "sites.h"
#include "table.h"

#define NS_PER_S 1e9

/* Where a process's GC counts come from: BPF probes on the collector, or
 * CPython's own statistics read out of process (3.15's ring buffers,
 * which also hold durations, instead of probes; generation_stats where
 * the collector cannot be probed). */
enum gc_src {
	GC_SRC_NONE,
	GC_SRC_PROBES,
	GC_SRC_STATS,
};

static enum gc_src gc_source(const struct proc_entry *e)
{
	const struct interp *in = e->interp;

	if (!in)
		return GC_SRC_NONE;
	if (in->info.gc_hook != PY_GC_MEMORY && in->attach_tried && !in->attach_err)
		return GC_SRC_PROBES;
	return e->gc_base_ok ? GC_SRC_STATS : GC_SRC_NONE;
}

struct gc_tot {
	uint64_t coll[PMT_NGEN], col[PMT_NGEN], ns[PMT_NGEN];
	bool has_ns; /* the source has times */
};

/* Per generation in sample s: collections, objects collected (with the
 * uncollectable ones found) and ns spent. False when s has no counts. */
static bool gc_totals(const struct proc_entry *e, const struct proc_sample *s, enum gc_src src,
		      struct gc_tot *t)
{
	const struct pyheap_gc *g = &s->gcs, *b = &e->gc_base;

	memset(t, 0, sizeof(*t));
	switch (src) {
	case GC_SRC_PROBES:
		for (int i = 0; i < PMT_NGEN; i++) {
			t->coll[i] = s->gc.collections[i];
			t->col[i] = s->gc.collected[i];
			t->ns[i] = s->gc.time_ns[i];
		}
		t->has_ns = true;
		return true;
	case GC_SRC_STATS:
		if (!g->stats_ok)
			return false;
		for (int i = 0; i < PMT_NGEN; i++) {
			double d = g->duration_s[i] - b->duration_s[i];

			t->coll[i] = g->collections[i] - b->collections[i];
			t->col[i] = g->collected[i] + g->uncollectable[i] - b->collected[i] -
				    b->uncollectable[i];
			t->ns[i] = g->ring_ok && d > 0 ? (uint64_t)(d * NS_PER_S + 0.5) : 0;
		}
		t->has_ns = g->ring_ok && b->ring_ok;
		return true;
	default:
		return false;
	}
}

static uint64_t sum3(const uint64_t *v)
{
	return v[0] + v[1] + v[2];
}

/* Rate of a counter over the last interval: unavailable on a first
 * frame (or when the counter went back), for that reason. */
static void set_rate(struct pm_proc *p, enum pm_id id, const struct proc_entry *e, bool ok,
		     uint64_t cur, uint64_t prev)
{
	double r;

	if (ok && e->has_prev && rate_per_s(cur, prev, e->cur.t - e->prev.t, &r))
		pm_set_f64(p, id, r);
	else
		pm_set_na_own(p, id);
}

static uint64_t mm_calls(const struct pmt_mm_stats *mm)
{
	return mm->mmap_calls + mm->munmap_calls + mm->mremap_calls + mm->brk_calls;
}

static void build_identity(struct pm_proc *p, const struct proc_entry *e)
{
	const struct interp *in = e->interp;

	pm_set_i64(p, PM_PID, e->pid);
	pm_set_i64(p, PM_PPID, e->ppid);
	pm_set_f64(p, PM_START_TIME, e->start_time);
	pm_set_i64(p, PM_UID, e->uid);
	pm_set_str(p, PM_USER, procfs_user_name(e->uid, p->user, sizeof(p->user)));
	pm_set_str(p, PM_COMM, e->comm);
	pm_set_str(p, PM_CMDLINE, e->cmdline);
	pm_set_str(p, PM_COMMAND, e->command[0] ? e->command : e->cmdline);
	pm_set_str(p, PM_CONTAINER, e->container);
	pm_set_str(p, PM_PYTHON_VERSION, in && in->info.version[0] ? in->info.version : NULL);
	pm_set_bool(p, PM_EXITED, e->exited);
	pm_set_obj(p, PM_PYTHON_BUILD, in != NULL);
	if (!in)
		return;
	pm_set_str(p, PM_BUILD_LIBPYTHON, in->info.shared ? "shared" : "static");
	pm_set_str(p, PM_BUILD_PATH, in->path);
	pm_set_bool(p, PM_BUILD_SYMTAB, in->info.has_symtab);
	pm_set_bool(p, PM_BUILD_USDT, in->info.has_usdt);
	pm_set_str(p, PM_BUILD_BUILD_ID, in->info.build_id[0] ? in->info.build_id : NULL);
	pm_set_str(p, PM_BUILD_VERSION_SOURCE,
		   in->info.version_source[0] ? in->info.version_source : NULL);
	pm_set_str(p, PM_BUILD_LAYOUT, in->info.reg.ok ? in->info.reg.l.row : NULL);
	pm_set_bool(p, PM_BUILD_DEBUG_OFFSETS, in->info.reg.ok && in->info.reg.has_dbg);
}

static void build_memory(struct pm_proc *p, const struct proc_entry *e)
{
	const struct proc_sample *c = &e->cur, *pv = &e->prev;
	const struct pmt_mm_stats *mm = &c->mm;
	double v;

	if (c->has_status) {
		pm_set_u64(p, PM_RSS_BYTES, c->rss_bytes);
		pm_set_u64(p, PM_ANON_BYTES, c->anon_bytes);
		pm_set_u64(p, PM_SWAP_BYTES, c->swap_bytes);
	}
	pm_set_u64(p, PM_MMAP_CALLS_TOTAL, mm->mmap_calls);
	pm_set_u64(p, PM_MMAP_BYTES_TOTAL, mm->mmap_bytes);
	pm_set_u64(p, PM_MUNMAP_CALLS_TOTAL, mm->munmap_calls);
	pm_set_u64(p, PM_MUNMAP_BYTES_TOTAL, mm->munmap_bytes);
	pm_set_u64(p, PM_MREMAP_CALLS_TOTAL, mm->mremap_calls);
	pm_set_u64(p, PM_MREMAP_GROW_BYTES_TOTAL, mm->mremap_grow_bytes);
	pm_set_u64(p, PM_MREMAP_SHRINK_BYTES_TOTAL, mm->mremap_shrink_bytes);
	pm_set_u64(p, PM_BRK_CALLS_TOTAL, mm->brk_calls);
	pm_set_u64(p, PM_BRK_BYTES, table_brk_bytes(e));
	pm_set_str(p, PM_PROBES_MM, "tracepoint");
	if (e->has_prev && c->has_status && pv->has_status &&
	    rate_gauge_per_s(c->rss_bytes, pv->rss_bytes, c->t - pv->t, &v))
		pm_set_f64(p, PM_RATE_RSS_BYTES, v);
	set_rate(p, PM_RATE_MMAP_BYTES, e, true, mm->mmap_bytes, pv->mm.mmap_bytes);
	set_rate(p, PM_RATE_MUNMAP_BYTES, e, true, mm->munmap_bytes, pv->mm.munmap_bytes);
	set_rate(p, PM_RATE_MM_CALLS, e, true, mm_calls(mm), mm_calls(&pv->mm));
}

/* probes.gc and its reasons. */
static void gc_probes(struct pm_proc *p, const struct proc_entry *e, enum gc_src src)
{
	const struct interp *in = e->interp;

	switch (src) {
	case GC_SRC_PROBES:
		pm_set_str(p, PM_PROBES_GC, in->gc_desc);
		break;
	case GC_SRC_STATS:
		pm_set_str(p, PM_PROBES_GC,
			   e->cur.gcs.ring_ok ? "process_vm_readv:gc_stats"
					      : "process_vm_readv:generation_stats");
		if (!e->cur.gcs.ring_ok)
			pm_set_str(p, PM_PROBES_GC_TIME_REASON,
				   in->gc_reason[0] ? in->gc_reason : "GC probes not attached");
		break;
	default:
		pm_set_str(p, PM_PROBES_GC_REASON,
			   in && in->info.gc_hook == PY_GC_MEMORY ? "GC statistics not read yet"
			   : in && in->gc_reason[0]		  ? in->gc_reason
								  : "GC probes not attached");
	}
}

static void build_gc(struct pm_proc *p, const struct proc_entry *e)
{
	const struct reg_build *rb = e->interp ? &e->interp->info.reg : NULL;
	enum gc_src src = gc_source(e);
	struct gc_tot c, pv;
	bool cok = gc_totals(e, &e->cur, src, &c);
	bool pok = e->has_prev && gc_totals(e, &e->prev, src, &pv);
	double secs[PMT_NGEN], v;

	pm_set_str(p, PM_GC_MODEL, rb && rb->ok ? registry_gc_model_name(rb->l.gc_model) : NULL);
	gc_probes(p, e, src);
	if (!cok)
		return;
	pm_set_vec(p, PM_GC_COLLECTIONS_TOTAL, c.coll, PMT_NGEN, 0);
	pm_set_vec(p, PM_GC_COLLECTED_TOTAL, c.col, PMT_NGEN, 0);
	if (c.has_ns) {
		for (int i = 0; i < PMT_NGEN; i++)
			secs[i] = c.ns[i] / NS_PER_S;
		pm_set_vec(p, PM_GC_SECONDS_TOTAL, secs, PMT_NGEN, 0);
	}
	if (src == GC_SRC_STATS && e->cur.gcs.ring_ok && e->gc_base.ring_ok) {
		uint64_t cand[PMT_NGEN];

		for (int i = 0; i < PMT_NGEN; i++)
			cand[i] = e->cur.gcs.candidates[i] - e->gc_base.candidates[i];
		pm_set_vec(p, PM_GC_CANDIDATES_TOTAL, cand, PMT_NGEN, 0);
	}
	set_rate(p, PM_RATE_GC_COLLECTIONS, e, pok, sum3(c.coll), pok ? sum3(pv.coll) : 0);
	if (pok && c.has_ns && pv.has_ns &&
	    rate_time_ratio(sum3(c.ns), sum3(pv.ns), e->cur.t - e->prev.t, &v))
		pm_set_f64(p, PM_RATE_GC_TIME_RATIO, v);
}

/* Why the heap metrics of e are unavailable, or NULL when they are. */
static const char *heap_reason(const struct proc_entry *e)
{
	const struct interp *in = e->interp;

	if (!in || !in->heap.heap_ok)
		return in && in->heap.reason[0] ? in->heap.reason : "heap layout unknown";
	if (e->bias_err)
		return "interpreter file not found in /proc/PID/maps";
	if (!e->cur.heap_valid)
		return "no consistent snapshot yet";
	switch (e->cur.heap.allocator) {
	case PYHEAP_ALLOC_PYMALLOC:
	case PYHEAP_ALLOC_PYMALLOC_HOOKED:
		return e->cur.heap.heap_ok ? NULL : "no consistent snapshot yet";
	case PYHEAP_ALLOC_MALLOC:
		return "object allocator is libc malloc (PYTHONMALLOC=malloc): no pymalloc arenas";
	case PYHEAP_ALLOC_MIMALLOC:
		return "object allocator is mimalloc: no pymalloc arenas";
	default:
		return "object allocator is neither pymalloc nor a known hook in front of it";
	}
}

static const char *heap_method(const struct interp *in)
{
	switch (in->heap.where) {
	case PYHEAP_SYMTAB:
		return "process_vm_readv:symtab";
	case PYHEAP_RUNTIME:
		return "process_vm_readv:_PyRuntime";
	case PYHEAP_DECODED:
		return "process_vm_readv:decoded";
	default:
		return NULL;
	}
}

static void set_exact_u64(struct pm_proc *p, enum pm_id id, uint64_t v)
{
	pm_set_u64(p, id, v);
	pm_set_acc(p, id, PM_EXACT);
}

static void build_gc_state(struct pm_proc *p, const struct proc_entry *e)
{
	const struct pyheap_gc *g = &e->cur.gcs;
	int64_t count[PMT_NGEN], thr[PMT_NGEN];

	if (!g->ok) {
		pm_set_str(p, PM_PROBES_GC_STATE_REASON,
			   !e->interp		       ? "interpreter unknown"
			   : e->interp->heap.gc_ok     ? "GC state did not validate"
			   : e->interp->heap.reason[0] ? e->interp->heap.reason
						       : "_PyRuntime not found");
		return;
	}
	for (int i = 0; i < PMT_NGEN; i++) {
		count[i] = g->count[i];
		thr[i] = g->threshold[i];
	}
	pm_set_vec(p, PM_GC_GENERATION_COUNTS, count, PMT_NGEN, 0);
	pm_set_acc(p, PM_GC_GENERATION_COUNTS, PM_EXACT);
	pm_set_vec(p, PM_GC_THRESHOLDS, thr, PMT_NGEN, 0);
	pm_set_bool(p, PM_GC_ENABLED, g->enabled);
}

static void build_heap(struct pm_proc *p, const struct proc_entry *e)
{
	const struct pyheap_snapshot *h = &e->cur.heap;
	const char *why = heap_reason(e);

	if (e->cur.heap_valid) {
		pm_set_str(p, PM_HEAP_ALLOCATOR, pyheap_allocator_name(h->allocator));
		pm_set_f64(p, PM_HEAP_SNAPSHOT_AGE_SECONDS, e->cur.t - e->cur.heap_t);
	}
	build_gc_state(p, e);
	if (why) {
		pm_set_str(p, PM_PROBES_HEAP_REASON, why);
		return;
	}
	pm_set_str(p, PM_PROBES_HEAP, heap_method(e->interp));
	set_exact_u64(p, PM_HEAP_ARENA_BYTES, h->arena_bytes);
	pm_set_u64(p, PM_HEAP_ARENAS, h->narenas);
	set_exact_u64(p, PM_HEAP_LIVE_BLOCKS, h->live_blocks);
	set_exact_u64(p, PM_HEAP_LIVE_BYTES, h->live_bytes);
	pm_set_vec(p, PM_HEAP_SIZE_CLASSES, h->classes, PYHEAP_NCLASSES, 0);
	pm_set_acc(p, PM_HEAP_SIZE_CLASSES, PM_EXACT);
	if (h->raw_ok) {
		pm_set_i64(p, PM_HEAP_RAW_BLOCKS, h->raw_blocks);
		pm_set_acc(p, PM_HEAP_RAW_BLOCKS, PM_EXACT);
	} else {
		pm_set_str(p, PM_PROBES_HEAP_RAW_REASON,
			   "raw block counter not located in this build");
	}
	if (h->arenas_allocated_ok)
		set_exact_u64(p, PM_HEAP_ARENAS_ALLOCATED_TOTAL, h->arenas_allocated);
}

/* ---- allocation flow (docs/metrics.md, "Allocation flow") ---- */

/* Why the allocation flow of e is unavailable, or NULL. */
static const char *alloc_reason(const struct proc_entry *e)
{
	const struct pyheap_layout *l = e->interp ? &e->interp->heap : NULL;

	/* Refills and the probed functions belong to pymalloc: under malloc
	 * or mimalloc neither happens, and a 0 would be a lie. */
	if (e->cur.heap_valid && e->cur.heap.allocator != PYHEAP_ALLOC_PYMALLOC &&
	    e->cur.heap.allocator != PYHEAP_ALLOC_PYMALLOC_HOOKED)
		return "object allocator is not pymalloc: its allocations are not seen";
	if (e->precise)
		return NULL;
	if (!l)
		return "heap layout unknown";
	if (!l->heap_ok)
		return l->reason[0] ? l->reason : "heap layout unknown";
	if (!l->refill_probe)
		return l->refill_reason[0] ? l->refill_reason : "pool refill not found";
	if (e->flow_err == -ENOTSUP)
		return "pool refills are probed only with --pool-refills (about 1 us per pool)";
	if (e->flow_err)
		return "attaching the pool-refill uprobe failed";
	return NULL;
}

/* Blocks and bytes the refills put into service, per class too. */
static void flow_estimate(const struct proc_entry *e, const struct pmt_heap_flow *f,
			  uint64_t *blocks, uint64_t *bytes, uint64_t per_class[PMT_NCLASSES])
{
	uint32_t pool = e->interp->heap.pool_size;

	*blocks = *bytes = 0;
	for (int i = 0; i < PMT_NCLASSES; i++) {
		uint64_t n = f->refills[i] * pyheap_pool_capacity(i, pool);

		if (per_class)
			per_class[i] = n;
		*blocks += n;
		*bytes += n * (i + 1) * 16;
	}
}

static uint64_t sum_buckets(const __u64 *v)
{
	uint64_t n = 0;

	for (int i = 0; i < PMT_NBUCKETS; i++)
		n += v[i];
	return n;
}

/* Without a refill probe (not asked for; 3.8 has no refill function),
 * CPython's own count of arena allocations is the flow, in whole arenas.
 * Bytes since observed, or false. */
static bool arena_flow(const struct proc_entry *e, const struct proc_sample *s, uint64_t *bytes)
{
	if (e->precise || !e->arenas_base_ok || !s->heap_valid || !s->heap.arenas_allocated_ok ||
	    s->heap.arenas_allocated < e->arenas_base)
		return false;
	/* a product that does not fit is no count of this process's */
	return !__builtin_mul_overflow(s->heap.arenas_allocated - e->arenas_base,
				       (uint64_t)s->heap.arena_size, bytes);
}

enum alloc_mode {
	ALLOC_NONE, /* unavailable: alloc_reason() says why */
	ALLOC_ARENAS, /* bytes in whole arenas, CPython's counter */
	ALLOC_REFILLS, /* pool-refill uprobe, per size class */
	ALLOC_PRECISE, /* every allocator call */
};

static const char *const alloc_source[] = {
	[ALLOC_ARENAS] = "process_vm_readv:ntimes_arena_allocated",
	[ALLOC_REFILLS] = "uprobe:pool_refill",
	[ALLOC_PRECISE] = "uprobe:precise",
};

static enum alloc_mode alloc_mode(const struct proc_entry *e, const char *why)
{
	uint64_t bytes;

	if (!why)
		return e->precise ? ALLOC_PRECISE : ALLOC_REFILLS;
	return arena_flow(e, &e->cur, &bytes) ? ALLOC_ARENAS : ALLOC_NONE;
}

/* The sample's allocation and byte totals in mode m; false when s has
 * none (allocs is 0 in arena mode: not counted). */
static bool alloc_totals(const struct proc_entry *e, const struct proc_sample *s, enum alloc_mode m,
			 uint64_t *allocs, uint64_t *bytes)
{
	*allocs = 0;
	switch (m) {
	case ALLOC_PRECISE:
		*allocs = sum_buckets(s->precise.allocs);
		*bytes = s->precise.alloc_bytes;
		return true;
	case ALLOC_REFILLS:
		flow_estimate(e, &s->flow, allocs, bytes, NULL);
		return true;
	case ALLOC_ARENAS:
		return arena_flow(e, s, bytes);
	default:
		return false;
	}
}

/* Per-class counts: --precise's own; refills' estimate (raw requests, the
 * last slot, not seen). */
static void alloc_classes(struct pm_proc *p, const struct proc_entry *e, enum alloc_mode m)
{
	uint64_t cls[PMT_NBUCKETS] = { 0 }, blocks, bytes;

	if (m == ALLOC_PRECISE) {
		for (int i = 0; i < PMT_NBUCKETS; i++)
			cls[i] = e->cur.precise.allocs[i];
		pm_set_vec(p, PM_ALLOC_SIZE_CLASSES, cls, PMT_NBUCKETS, 0);
		pm_set_acc(p, PM_ALLOC_SIZE_CLASSES, PM_EXACT);
	} else if (m == ALLOC_REFILLS) {
		flow_estimate(e, &e->cur.flow, &blocks, &bytes, cls);
		pm_set_vec(p, PM_ALLOC_SIZE_CLASSES, cls, PMT_NBUCKETS, 1);
		pm_set_acc(p, PM_ALLOC_SIZE_CLASSES, PM_ESTIMATED);
		for (int i = 0; i < PMT_NCLASSES; i++)
			cls[i] = e->cur.flow.refills[i];
		pm_set_vec(p, PM_POOL_REFILLS_TOTAL, cls, PMT_NCLASSES, 0);
		pm_set_acc(p, PM_POOL_REFILLS_TOTAL, PM_EXACT);
	}
}

static void alloc_precise(struct pm_proc *p, const struct proc_entry *e)
{
	const struct pmt_precise_stats *pr = &e->cur.precise, *pp = &e->prev.precise;
	uint64_t frees[PMT_NBUCKETS];

	for (int i = 0; i < PMT_NBUCKETS; i++)
		frees[i] = pr->frees[i];
	pm_set_u64(p, PM_REALLOCS_TOTAL, pr->reallocs);
	pm_set_u64(p, PM_FREES_TOTAL, sum_buckets(pr->frees));
	pm_set_acc(p, PM_FREES_TOTAL, PM_EXACT);
	pm_set_vec(p, PM_FREE_SIZE_CLASSES, frees, PMT_NBUCKETS, 0);
	set_rate(p, PM_RATE_FREES, e, true, sum_buckets(pr->frees), sum_buckets(pp->frees));
}

static void alloc_probes(struct pm_proc *p, const struct proc_entry *e, enum alloc_mode m,
			 const char *why)
{
	if (m != ALLOC_NONE)
		pm_set_str(p, PM_PROBES_ALLOC, alloc_source[m]);
	if (m == ALLOC_ARENAS) {
		snprintf(p->alloc_reason, sizeof(p->alloc_reason),
			 "%s: the flow is counted in whole arenas, without counts per allocation "
			 "or size class",
			 why);
		why = p->alloc_reason;
	}
	if (why)
		pm_set_str(p, PM_PROBES_ALLOC_REASON, why);
	if (e->precise_err)
		pm_set_str(p, PM_PROBES_PRECISE_REASON,
			   e->precise_err == -ENOTSUP && e->interp->heap.precise_reason[0]
				   ? e->interp->heap.precise_reason
				   : "attaching the allocator probes failed");
}

static void build_alloc(struct pm_proc *p, const struct proc_entry *e)
{
	const char *why = alloc_reason(e);
	enum alloc_mode m = alloc_mode(e, why);
	enum pm_acc est = m == ALLOC_PRECISE ? PM_EXACT : PM_ESTIMATED;
	bool counts = m == ALLOC_PRECISE || m == ALLOC_REFILLS;
	uint64_t allocs, bytes, pallocs = 0, pbytes = 0;
	bool ok = alloc_totals(e, &e->cur, m, &allocs, &bytes);
	bool pok = e->has_prev && alloc_totals(e, &e->prev, m, &pallocs, &pbytes);

	if (counts) {
		pm_set_u64(p, PM_ALLOCS_TOTAL, allocs);
		pm_set_acc(p, PM_ALLOCS_TOTAL, est);
		set_rate(p, PM_RATE_ALLOCS, e, pok, allocs, pallocs);
	}
	if (ok) {
		pm_set_u64(p, PM_ALLOC_BYTES_TOTAL, bytes);
		pm_set_acc(p, PM_ALLOC_BYTES_TOTAL, est);
		set_rate(p, PM_RATE_ALLOC_BYTES, e, pok, bytes, pbytes);
	}
	alloc_classes(p, e, m);
	if (m == ALLOC_PRECISE)
		alloc_precise(p, e);
	alloc_probes(p, e, m, why);
}

static void build_growth(struct pm_proc *p, const struct growth *g, double now, enum pm_id obj,
			 enum pm_id window)
{
	struct growth_verdict v;

	if (!growth_eval(g, now, GROWTH_WINDOW_S, &v))
		return;
	pm_set_obj(p, obj, true);
	pm_set_f64(p, window, v.window_s);
	pm_set_f64(p, window + 1, v.bytes_per_s); /* PM_GROWTH_*_SLOPE */
	pm_set_bool(p, window + 2, v.steady); /* PM_GROWTH_*_STEADY */
}

static enum sites_order sites_order = SITES_BY_LIVE;

void model_sites_order(enum sites_order o)
{
	sites_order = o;
}

static int build_sites(struct pm_proc *p, const struct proc_entry *e, int top)
{
	uint64_t bytes, samples, rbytes, rsamples;
	struct pm_site *s;
	int n;

	if (!e->sites) {
		pm_set_str(p, PM_SITES_REASON,
			   e->sites_reason[0] ? e->sites_reason : "not sampled");
		return 0;
	}
	pm_set_str(p, PM_SITES_SOURCE, sites_proc_source(e->sites));
	sites_proc_totals(e->sites, &bytes, &samples, &rbytes, &rsamples);
	pm_set_obj(p, PM_SITES_TOTAL, true);
	pm_set_u64(p, PM_SITES_TOTAL_BYTES, bytes);
	pm_set_u64(p, PM_SITES_TOTAL_SAMPLES, samples);
	pm_set_u64(p, PM_SITES_TOTAL_RECENT_BYTES, rbytes);
	pm_set_u64(p, PM_SITES_TOTAL_RECENT_SAMPLES, rsamples);
	pm_set_f64(p, PM_SITES_RECENT_SECONDS, sites_proc_recent_seconds(e->sites, e->cur.t));
	if (sites_proc_live_totals(e->sites, &bytes, &samples)) {
		pm_set_u64(p, PM_SITES_TOTAL_LIVE_BYTES, bytes);
		pm_set_acc(p, PM_SITES_TOTAL_LIVE_BYTES, PM_ESTIMATED);
		pm_set_u64(p, PM_SITES_TOTAL_LIVE_SAMPLES, samples);
	}
	n = sites_proc_top(e->sites, top, sites_order, &s);
	if (n < 0) {
		pm_set_str(p, PM_SITES_REASON, "out of memory");
		return n;
	}
	p->sites = s;
	p->nsites = n;
	pm_set_obj(p, PM_SITES, true);
	return 0;
}

/* The live heap by type (heaptypes.c), of the last consistent snapshot. */
static void build_types(struct pm_proc *p, const struct proc_entry *e)
{
	const struct heap_types *t = &e->types;
	enum pm_acc a = t->exact ? PM_EXACT : PM_ESTIMATED;

	if (!pm_ok(p, PM_HEAP_ARENA_BYTES)) { /* the heap's own reason */
		pm_set_str(p, PM_PROBES_HEAP_TYPES_REASON, pm_reason(p, PM_HEAP_ARENA_BYTES));
		return;
	}
	if (!t->ok) {
		pm_set_str(p, PM_PROBES_HEAP_TYPES_REASON,
			   t->reason[0] ? t->reason : "no heap snapshot yet");
		return;
	}
	pm_set_str(p, PM_PROBES_HEAP_TYPES, "process_vm_readv:sampled_pools");
	memcpy(p->types, t->top, sizeof(p->types));
	p->ntypes = t->n;
	pm_set_obj(p, PM_HEAP_TYPES, true);
	pm_set_acc(p, PM_HEAP_TYPES, a);
	pm_set_u64(p, PM_HEAP_TYPES_SAMPLED_POOLS, t->sampled_pools);
	pm_set_u64(p, PM_HEAP_TYPES_SAMPLED_BLOCKS, t->sampled_blocks);
	pm_set_u64(p, PM_HEAP_TYPES_BUFFER_BYTES, t->buffer_bytes);
	pm_set_acc(p, PM_HEAP_TYPES_BUFFER_BYTES, a);
	pm_set_u64(p, PM_HEAP_TYPES_OTHER_BYTES, t->other_bytes);
	pm_set_acc(p, PM_HEAP_TYPES_OTHER_BYTES, a);
	pm_set_u64(p, PM_HEAP_TYPES_UNSAMPLED_BYTES, t->unsampled_bytes);
	pm_set_f64(p, PM_HEAP_TYPES_AGE_SECONDS, e->cur.t - e->types_t);
	if (t->growth_seconds > 0)
		pm_set_f64(p, PM_HEAP_TYPES_GROWTH_SECONDS, t->growth_seconds);
}

int model_build(const struct proc_entry *e, int sites_top, struct pm_proc *p)
{
	memset(p, 0, sizeof(*p));
	build_identity(p, e);
	build_memory(p, e);
	build_gc(p, e);
	build_heap(p, e);
	build_alloc(p, e);
	pm_set_obj(p, PM_RATES, true);
	pm_set_obj(p, PM_GROWTH, true);
	pm_set_obj(p, PM_PROBES, true);
	build_growth(p, &e->heap_growth, e->cur.t, PM_GROWTH_HEAP, PM_GROWTH_HEAP_WINDOW);
	build_growth(p, &e->rss_growth, e->cur.t, PM_GROWTH_RSS, PM_GROWTH_RSS_WINDOW);
	build_types(p, e);
	return build_sites(p, e, sites_top);
}
