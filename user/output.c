// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "collector.h"
#include "output.h"
#include "procfs.h"
#include "rate.h"
#include "sitesreport.h"

#define NS_PER_S 1e9

static struct json_object *jdouble(double v, const char *fmt)
{
	char buf[64];

	if (!isfinite(v))
		return NULL;
	snprintf(buf, sizeof(buf), fmt, v);
	return json_object_new_double_s(v, buf);
}

/* Length of the valid UTF-8 sequence at s, or 0 (RFC 3629: no overlong
 * forms, no surrogates, nothing above U+10FFFF). */
static size_t utf8_seq_len(const unsigned char *s)
{
	unsigned char c = s[0];
	unsigned char lo = 0x80, hi = 0xbf;
	size_t n;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4;
	else
		return 0;
	if (c == 0xe0)
		lo = 0xa0;
	else if (c == 0xed)
		hi = 0x9f;
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return n;
}

/* C0, DEL and C1 controls: a terminal would act on them. */
static bool is_control(const unsigned char *s, size_t n)
{
	return (n == 1 && (s[0] < 0x20 || s[0] == 0x7f)) || (n == 2 && s[0] == 0xc2 && s[1] < 0xa0);
}

const char *output_clean_string(const char *in, bool text, char *buf, size_t len)
{
	static const char repl[] = "\xef\xbf\xbd"; /* U+FFFD */
	const unsigned char *s = (const unsigned char *)in;
	size_t o = 0;

	while (*s) {
		size_t n = utf8_seq_len(s);
		const char *piece = (const char *)s;
		size_t plen = n;

		if (!n) {
			piece = repl;
			plen = 3;
			n = 1;
		} else if (text && is_control(s, n)) {
			piece = "?";
			plen = 1;
		}
		if (o + plen >= len)
			break;
		memcpy(buf + o, piece, plen);
		o += plen;
		s += n;
	}
	buf[o] = '\0';
	return buf;
}

/* A JSON string of process-controlled text: always valid UTF-8. */
static struct json_object *jclean(const char *s)
{
	size_t len = strlen(s) * 3 + 1;
	char *buf = malloc(len);
	struct json_object *o;

	if (!buf)
		return NULL;
	o = json_object_new_string(output_clean_string(s, false, buf, len));
	free(buf);
	return o;
}

static struct json_object *ju64(uint64_t v)
{
	return json_object_new_uint64(v);
}

static struct json_object *jstr_or_null(const char *s)
{
	return s && *s ? json_object_new_string(s) : NULL;
}

static void put(struct json_object *o, const char *key, struct json_object *v)
{
	json_object_object_add(o, key, v);
}

static struct json_object *u64_array(const __u64 *v, int n)
{
	struct json_object *a = json_object_new_array_ext(n);

	for (int i = 0; i < n; i++)
		json_object_array_add(a, ju64(v[i]));
	return a;
}

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

/* Per generation in sample s: collections, objects collected (with the
 * uncollectable ones found) and ns spent; *has_ns false when the source
 * has no times. False when s has no counts. */
static bool gc_totals(const struct proc_entry *e, const struct proc_sample *s, enum gc_src src,
		      __u64 coll[PMT_NGEN], __u64 col[PMT_NGEN], __u64 ns[PMT_NGEN], bool *has_ns)
{
	const struct pyheap_gc *g = &s->gcs, *b = &e->gc_base;

	*has_ns = false;
	switch (src) {
	case GC_SRC_PROBES:
		for (int i = 0; i < PMT_NGEN; i++) {
			coll[i] = s->gc.collections[i];
			col[i] = s->gc.collected[i];
			ns[i] = s->gc.time_ns[i];
		}
		*has_ns = true;
		return true;
	case GC_SRC_STATS:
		if (!g->stats_ok)
			return false;
		for (int i = 0; i < PMT_NGEN; i++) {
			double d = g->duration_s[i] - b->duration_s[i];

			coll[i] = g->collections[i] - b->collections[i];
			col[i] = g->collected[i] + g->uncollectable[i] - b->collected[i] -
				 b->uncollectable[i];
			ns[i] = g->ring_ok && d > 0 ? (uint64_t)(d * NS_PER_S + 0.5) : 0;
		}
		*has_ns = g->ring_ok && b->ring_ok;
		return true;
	default:
		return false;
	}
}

static struct json_object *build_json(const struct interp *in)
{
	struct json_object *b = json_object_new_object();

	put(b, "libpython", json_object_new_string(in->info.shared ? "shared" : "static"));
	put(b, "path", jclean(in->path));
	put(b, "symtab", json_object_new_boolean(in->info.has_symtab));
	put(b, "usdt", json_object_new_boolean(in->info.has_usdt));
	put(b, "build_id", jstr_or_null(in->info.build_id));
	put(b, "version_source", jstr_or_null(in->info.version_source));
	put(b, "layout", in->info.reg.ok ? json_object_new_string(in->info.reg.l.row) : NULL);
	put(b, "debug_offsets", json_object_new_boolean(in->info.reg.ok && in->info.reg.has_dbg));
	return b;
}

static struct json_object *probes_json(const struct proc_entry *e)
{
	struct json_object *p = json_object_new_object();

	put(p, "mm", json_object_new_string("tracepoint"));
	switch (gc_source(e)) {
	case GC_SRC_PROBES:
		put(p, "gc", json_object_new_string(e->interp->gc_desc));
		break;
	case GC_SRC_STATS:
		put(p, "gc",
		    json_object_new_string(e->cur.gcs.ring_ok
						   ? "process_vm_readv:gc_stats"
						   : "process_vm_readv:generation_stats"));
		if (!e->cur.gcs.ring_ok)
			put(p, "gc_time_reason",
			    json_object_new_string(e->interp->gc_reason[0]
							   ? e->interp->gc_reason
							   : "GC probes not attached"));
		break;
	default:
		put(p, "gc", NULL);
		put(p, "gc_reason",
		    json_object_new_string(e->interp && e->interp->info.gc_hook == PY_GC_MEMORY
						   ? "GC statistics not read yet"
					   : e->interp && e->interp->gc_reason[0]
						   ? e->interp->gc_reason
						   : "GC probes not attached"));
	}
	return p;
}

static uint64_t gc_sum(const __u64 *v)
{
	return v[0] + v[1] + v[2];
}

/* Rate of a counter over the last interval, or JSON null. */
static struct json_object *jrate(const struct proc_entry *e, uint64_t cur, uint64_t prev)
{
	double r;

	if (!e->has_prev || !rate_per_s(cur, prev, e->cur.t - e->prev.t, &r))
		return NULL;
	return jdouble(r, "%.3f");
}

/* Memory system calls of every kind pymemtop counts. */
static uint64_t mm_calls(const struct pmt_mm_stats *mm)
{
	return mm->mmap_calls + mm->munmap_calls + mm->mremap_calls + mm->brk_calls;
}

static struct json_object *rates_json(const struct proc_entry *e)
{
	struct json_object *r = json_object_new_object();
	const struct proc_sample *c = &e->cur, *p = &e->prev;
	double dt = c->t - p->t, v;
	bool ok = e->has_prev;

	put(r, "rss_bytes_per_s",
	    ok && c->has_status && p->has_status &&
			    rate_gauge_per_s(c->rss_bytes, p->rss_bytes, dt, &v)
		    ? jdouble(v, "%.1f")
		    : NULL);
	put(r, "mmap_bytes_per_s", jrate(e, c->mm.mmap_bytes, p->mm.mmap_bytes));
	put(r, "munmap_bytes_per_s", jrate(e, c->mm.munmap_bytes, p->mm.munmap_bytes));
	put(r, "mm_calls_per_s", jrate(e, mm_calls(&c->mm), mm_calls(&p->mm)));
	{
		enum gc_src src = gc_source(e);
		__u64 cc[PMT_NGEN] = {}, ccol[PMT_NGEN], cns[PMT_NGEN] = {};
		__u64 pc[PMT_NGEN] = {}, pcol[PMT_NGEN], pns[PMT_NGEN] = {};
		bool cok, pok, chas, phas = false;

		cok = gc_totals(e, c, src, cc, ccol, cns, &chas);
		pok = ok && gc_totals(e, p, src, pc, pcol, pns, &phas);
		put(r, "gc_collections_per_s",
		    cok && pok ? jrate(e, gc_sum(cc), gc_sum(pc)) : NULL);
		put(r, "gc_time_ratio",
		    cok && pok && chas && phas && rate_time_ratio(gc_sum(cns), gc_sum(pns), dt, &v)
			    ? jdouble(v, "%.6f")
			    : NULL);
	}
	return r;
}

static void put_mm(struct json_object *o, const struct proc_entry *e)
{
	const struct pmt_mm_stats *mm = &e->cur.mm;

	put(o, "mmap_calls_total", ju64(mm->mmap_calls));
	put(o, "mmap_bytes_total", ju64(mm->mmap_bytes));
	put(o, "munmap_calls_total", ju64(mm->munmap_calls));
	put(o, "munmap_bytes_total", ju64(mm->munmap_bytes));
	put(o, "mremap_calls_total", ju64(mm->mremap_calls));
	put(o, "mremap_grow_bytes_total", ju64(mm->mremap_grow_bytes));
	put(o, "mremap_shrink_bytes_total", ju64(mm->mremap_shrink_bytes));
	put(o, "brk_calls_total", ju64(mm->brk_calls));
	put(o, "brk_bytes", ju64(table_brk_bytes(e)));
}

static void put_gc(struct json_object *o, const struct proc_entry *e)
{
	const struct reg_build *rb = e->interp ? &e->interp->info.reg : NULL;
	__u64 coll[PMT_NGEN], col[PMT_NGEN], ns[PMT_NGEN];
	enum gc_src src = gc_source(e);
	struct json_object *secs;
	bool has_ns;

	put(o, "gc_model",
	    rb && rb->ok ? json_object_new_string(registry_gc_model_name(rb->l.gc_model)) : NULL);
	if (!gc_totals(e, &e->cur, src, coll, col, ns, &has_ns)) {
		put(o, "gc_collections_total", NULL);
		put(o, "gc_collected_total", NULL);
		put(o, "gc_seconds_total", NULL);
		put(o, "gc_candidates_total", NULL);
		return;
	}
	put(o, "gc_collections_total", u64_array(coll, PMT_NGEN));
	put(o, "gc_collected_total", u64_array(col, PMT_NGEN));
	if (has_ns) {
		secs = json_object_new_array_ext(PMT_NGEN);
		for (int i = 0; i < PMT_NGEN; i++)
			json_object_array_add(secs, jdouble(ns[i] / NS_PER_S, "%.9f"));
		put(o, "gc_seconds_total", secs);
	} else {
		put(o, "gc_seconds_total", NULL);
	}
	if (src == GC_SRC_STATS && e->cur.gcs.ring_ok && e->gc_base.ring_ok) {
		__u64 cand[PMT_NGEN];

		for (int i = 0; i < PMT_NGEN; i++)
			cand[i] = e->cur.gcs.candidates[i] - e->gc_base.candidates[i];
		put(o, "gc_candidates_total", u64_array(cand, PMT_NGEN));
	} else {
		put(o, "gc_candidates_total", NULL);
	}
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

static void put_heap(struct json_object *o, struct json_object *acc, struct json_object *probes,
		     const struct proc_entry *e)
{
	const struct pyheap_snapshot *h = &e->cur.heap;
	const char *why = heap_reason(e);
	const struct pyheap_gc *g = &e->cur.gcs;
	bool ok = !why, raw = ok && h->raw_ok, gc = g->ok;
	struct json_object *a;

	put(o, "heap_allocator",
	    e->cur.heap_valid ? jstr_or_null(pyheap_allocator_name(h->allocator)) : NULL);
	put(o, "heap_arena_bytes", ok ? ju64(h->arena_bytes) : NULL);
	put(o, "heap_arenas", ok ? ju64(h->narenas) : NULL);
	put(o, "heap_live_blocks", ok ? ju64(h->live_blocks) : NULL);
	put(o, "heap_live_bytes", ok ? ju64(h->live_bytes) : NULL);
	put(o, "heap_size_classes", ok ? u64_array(h->classes, PYHEAP_NCLASSES) : NULL);
	put(o, "heap_snapshot_age_seconds",
	    e->cur.heap_valid ? jdouble(e->cur.t - e->cur.heap_t, "%.3f") : NULL);
	put(o, "heap_raw_blocks", raw ? json_object_new_int64(h->raw_blocks) : NULL);
	put(o, "heap_arenas_allocated_total",
	    ok && h->arenas_allocated_ok ? ju64(h->arenas_allocated) : NULL);
	if (gc) {
		a = json_object_new_array_ext(3);
		for (int i = 0; i < 3; i++)
			json_object_array_add(a, json_object_new_int64(g->count[i]));
		put(o, "gc_generation_counts", a);
		a = json_object_new_array_ext(3);
		for (int i = 0; i < 3; i++)
			json_object_array_add(a, json_object_new_int64(g->threshold[i]));
		put(o, "gc_thresholds", a);
		put(o, "gc_enabled", json_object_new_boolean(g->enabled));
	} else {
		put(o, "gc_generation_counts", NULL);
		put(o, "gc_thresholds", NULL);
		put(o, "gc_enabled", NULL);
	}
	put(acc, "heap_arena_bytes", ok ? json_object_new_string("exact") : NULL);
	put(acc, "heap_live_blocks", ok ? json_object_new_string("exact") : NULL);
	put(acc, "heap_live_bytes", ok ? json_object_new_string("exact") : NULL);
	put(acc, "heap_size_classes", ok ? json_object_new_string("exact") : NULL);
	put(acc, "heap_raw_blocks", raw ? json_object_new_string("exact") : NULL);
	put(acc, "heap_arenas_allocated_total",
	    ok && h->arenas_allocated_ok ? json_object_new_string("exact") : NULL);
	put(acc, "gc_generation_counts", gc ? json_object_new_string("exact") : NULL);
	put(probes, "heap", ok ? json_object_new_string(heap_method(e->interp)) : NULL);
	if (!ok)
		put(probes, "heap_reason", json_object_new_string(why));
	else if (!raw)
		put(probes, "heap_raw_reason",
		    json_object_new_string("raw block counter not located in this build"));
	if (!gc)
		put(probes, "gc_state_reason",
		    json_object_new_string(!e->interp		       ? "interpreter unknown"
					   : e->interp->heap.gc_ok     ? "GC state did not validate"
					   : e->interp->heap.reason[0] ? e->interp->heap.reason
								       : "_PyRuntime not found"));
}

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

/* Blocks and bytes one refill of each class puts into service. */
static void flow_estimate(const struct proc_entry *e, const struct pmt_heap_flow *f,
			  uint64_t *blocks, uint64_t *bytes, __u64 per_class[PMT_NCLASSES])
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

/* Where a process's allocation flow comes from (docs/metrics.md,
 * "Allocation flow"). */
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

static struct json_object *alloc_classes_json(const struct proc_entry *e, enum alloc_mode m)
{
	__u64 cls[PMT_NCLASSES];
	uint64_t blocks, bytes;
	struct json_object *a;

	if (m == ALLOC_PRECISE)
		return u64_array(e->cur.precise.allocs, PMT_NBUCKETS);
	if (m != ALLOC_REFILLS)
		return NULL;
	flow_estimate(e, &e->cur.flow, &blocks, &bytes, cls);
	a = u64_array(cls, PMT_NCLASSES);
	json_object_array_add(a, NULL); /* raw-allocator requests: not seen */
	return a;
}

static struct json_object *jstr_if(bool cond, const char *s)
{
	return cond ? json_object_new_string(s) : NULL;
}

static void put_alloc(struct json_object *o, struct json_object *acc, struct json_object *probes,
		      struct json_object *rates, const struct proc_entry *e)
{
	const char *why = alloc_reason(e);
	enum alloc_mode m = alloc_mode(e, why);
	const char *est = m == ALLOC_PRECISE ? "exact" : "estimated";
	const struct pmt_precise_stats *pr = &e->cur.precise, *pp = &e->prev.precise;
	bool counts = m == ALLOC_PRECISE || m == ALLOC_REFILLS, precise = m == ALLOC_PRECISE;
	uint64_t allocs, bytes, pallocs, pbytes;
	bool ok = alloc_totals(e, &e->cur, m, &allocs, &bytes);
	bool pok = e->has_prev && alloc_totals(e, &e->prev, m, &pallocs, &pbytes);
	char reason[400];

	put(o, "allocs_total", counts ? ju64(allocs) : NULL);
	put(o, "alloc_bytes_total", ok ? ju64(bytes) : NULL);
	put(o, "alloc_size_classes", alloc_classes_json(e, m));
	put(o, "pool_refills_total",
	    m == ALLOC_REFILLS ? u64_array(e->cur.flow.refills, PMT_NCLASSES) : NULL);
	put(o, "reallocs_total", precise ? ju64(pr->reallocs) : NULL);
	put(o, "frees_total", precise ? ju64(sum_buckets(pr->frees)) : NULL);
	put(o, "free_size_classes", precise ? u64_array(pr->frees, PMT_NBUCKETS) : NULL);
	put(acc, "allocs_total", jstr_if(counts, est));
	put(acc, "alloc_bytes_total", jstr_if(ok, est));
	put(acc, "alloc_size_classes", jstr_if(counts, est));
	put(acc, "pool_refills_total", jstr_if(m == ALLOC_REFILLS, "exact"));
	put(acc, "frees_total", jstr_if(precise, "exact"));
	put(rates, "allocs_per_s", counts && pok ? jrate(e, allocs, pallocs) : NULL);
	put(rates, "alloc_bytes_per_s", ok && pok ? jrate(e, bytes, pbytes) : NULL);
	put(rates, "frees_per_s",
	    precise ? jrate(e, sum_buckets(pr->frees), sum_buckets(pp->frees)) : NULL);
	put(probes, "alloc", m == ALLOC_NONE ? NULL : json_object_new_string(alloc_source[m]));
	if (m == ALLOC_ARENAS) {
		snprintf(reason, sizeof(reason),
			 "%s: the flow is counted in whole arenas, without counts per allocation "
			 "or size class",
			 why);
		why = reason;
	}
	if (why)
		put(probes, "alloc_reason", json_object_new_string(why));
	if (e->precise_err)
		put(probes, "precise_reason",
		    json_object_new_string(e->precise_err == -ENOTSUP &&
							   e->interp->heap.precise_reason[0]
						   ? e->interp->heap.precise_reason
						   : "attaching the allocator probes failed"));
}

static struct json_object *growth_json(const struct growth *g, double now)
{
	struct growth_verdict v;
	struct json_object *o;

	if (!growth_eval(g, now, GROWTH_WINDOW_S, &v))
		return NULL;
	o = json_object_new_object();
	put(o, "window_seconds", jdouble(v.window_s, "%.3f"));
	put(o, "bytes_per_s", jdouble(v.bytes_per_s, "%.1f"));
	put(o, "steady", json_object_new_boolean(v.steady));
	return o;
}

static int sites_top = 10;

void output_sites_top(int n)
{
	sites_top = n > 0 ? n : 10;
}

/* Allocation sites: the top ones, their totals and window, or the reason. */
static void put_sites(struct json_object *o, const struct proc_entry *e)
{
	struct json_object *tot;
	uint64_t bytes, samples, rbytes, rsamples;

	if (!e->sites) {
		put(o, "sites", NULL);
		put(o, "sites_source", NULL);
		put(o, "sites_reason",
		    json_object_new_string(e->sites_reason[0] ? e->sites_reason : "not sampled"));
		put(o, "sites_total", NULL);
		put(o, "sites_recent_seconds", NULL);
		return;
	}
	put(o, "sites", sites_proc_json(e->sites, sites_top, e->cur.t));
	put(o, "sites_source", json_object_new_string(sites_proc_source(e->sites)));
	put(o, "sites_reason", NULL);
	sites_proc_totals(e->sites, &bytes, &samples, &rbytes, &rsamples);
	tot = json_object_new_object();
	put(tot, "estimated_bytes", ju64(bytes));
	put(tot, "samples", ju64(samples));
	put(tot, "recent_bytes", ju64(rbytes));
	put(tot, "recent_samples", ju64(rsamples));
	put(o, "sites_total", tot);
	put(o, "sites_recent_seconds",
	    jdouble(sites_proc_recent_seconds(e->sites, e->cur.t), "%.1f"));
}

struct json_object *output_process_json(const struct proc_entry *e)
{
	struct json_object *o = json_object_new_object();
	const struct interp *in = e->interp;
	struct json_object *acc, *probes, *rates, *growth;
	char user[64];

	put(o, "pid", json_object_new_int(e->pid));
	put(o, "ppid", json_object_new_int(e->ppid));
	put(o, "start_time", jdouble(e->start_time, "%.2f"));
	put(o, "uid", json_object_new_int64(e->uid));
	put(o, "user", jclean(procfs_user_name(e->uid, user, sizeof(user))));
	put(o, "comm", jclean(e->comm));
	put(o, "cmdline", jclean(e->cmdline));
	put(o, "command", jclean(e->command[0] ? e->command : e->cmdline));
	put(o, "container", json_object_new_string(e->container));
	put(o, "python_version", in ? jstr_or_null(in->info.version) : NULL);
	put(o, "python_build", in ? build_json(in) : NULL);
	put(o, "exited", json_object_new_boolean(e->exited));
	put(o, "rss_bytes", e->cur.has_status ? ju64(e->cur.rss_bytes) : NULL);
	put(o, "anon_bytes", e->cur.has_status ? ju64(e->cur.anon_bytes) : NULL);
	put(o, "swap_bytes", e->cur.has_status ? ju64(e->cur.swap_bytes) : NULL);
	put_mm(o, e);
	put_gc(o, e);
	acc = json_object_new_object();
	probes = probes_json(e);
	put_heap(o, acc, probes, e);
	rates = rates_json(e);
	put_alloc(o, acc, probes, rates, e);
	put(o, "accuracy", acc);
	put(o, "rates", rates);
	growth = json_object_new_object();
	put(growth, "heap_live_bytes", growth_json(&e->heap_growth, e->cur.t));
	put(growth, "rss_bytes", growth_json(&e->rss_growth, e->cur.t));
	put(o, "growth", growth);
	put(o, "probes", probes);
	put_sites(o, e);
	return o;
}

static struct json_object *drops_json(const struct frame *fr)
{
	struct json_object *d = json_object_new_object();
	const struct table *t = fr->table;

	for (int i = 0; i < PMT_DROP_NR; i++)
		put(d, collector_drop_name(i), ju64(fr->drops[i]));
	put(d, "proc_read_failed", ju64(t->read_failures));
	put(d, "gc_attach_failed", ju64(t->attach_failures));
	put(d, "heap_attach_failed", ju64(t->heap_attach_failures));
	put(d, "out_of_memory", ju64(t->out_of_memory));
	return d;
}

/* pymemtop's own snapshot work, cumulative since start. */
static struct json_object *snapshots_json(const struct table *t)
{
	const struct pyheap_stats *s = &t->heap_stats;
	struct json_object *o = json_object_new_object();

	put(o, "total", ju64(s->snapshots));
	put(o, "dropped", ju64(s->dropped));
	put(o, "retries", ju64(s->retries));
	put(o, "deferred", ju64(s->deferred));
	put(o, "mean_seconds",
	    s->snapshots ? jdouble((double)s->read_ns / s->snapshots / NS_PER_S, "%.9f") : NULL);
	return o;
}

int output_json(FILE *f, const struct frame *fr)
{
	struct json_object *root = json_object_new_object(), *procs;
	int err = 0;

	put(root, "time", jdouble(fr->time, "%.6f"));
	put(root, "interval_s", jdouble(fr->interval_s, "%.6f"));
	procs = json_object_new_array();
	for (const struct proc_entry *e = fr->table->head; e; e = e->next)
		json_object_array_add(procs, output_process_json(e));
	put(root, "processes", procs);
	put(root, "drops", drops_json(fr));
	put(root, "heap_snapshots", snapshots_json(fr->table));
	if (fr->table->precise_cost_ok) {
		struct json_object *pc = json_object_new_object();

		put(pc, "alloc_call_seconds", jdouble(fr->table->precise_alloc_s, "%.9f"));
		put(pc, "free_call_seconds", jdouble(fr->table->precise_free_s, "%.9f"));
		put(root, "precise_cost", pc);
	} else {
		put(root, "precise_cost", NULL);
	}
	if (fputs(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN |
							       JSON_C_TO_STRING_NOSLASHESCAPE),
		  f) < 0 ||
	    fputc('\n', f) == EOF || fflush(f))
		err = -errno;
	json_object_put(root);
	return err;
}

void output_human_bytes(double v, char *buf, size_t len)
{
	static const char units[] = "BKMGTP";
	int u = 0;

	while (fabs(v) >= 1024 && u < 5) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%.0f%c", v, units[u]);
	else
		snprintf(buf, len, fabs(v) < 10 ? "%.1f%c" : "%.0f%c", v, units[u]);
}

static void cell_bytes(char *buf, size_t len, bool ok, double v)
{
	if (ok)
		output_human_bytes(v, buf, len);
	else
		snprintf(buf, len, "-");
}

static void cell_rate(char *buf, size_t len, const struct proc_entry *e, uint64_t cur,
		      uint64_t prev, bool bytes)
{
	double r;

	if (!e->has_prev || !rate_per_s(cur, prev, e->cur.t - e->prev.t, &r))
		snprintf(buf, len, "-");
	else if (bytes)
		output_human_bytes(r, buf, len);
	else
		snprintf(buf, len, "%.1f", r);
}

static int cmp_rss(const void *a, const void *b)
{
	const struct proc_entry *x = *(const struct proc_entry *const *)a;
	const struct proc_entry *y = *(const struct proc_entry *const *)b;

	if (x->cur.rss_bytes != y->cur.rss_bytes)
		return x->cur.rss_bytes < y->cur.rss_bytes ? 1 : -1;
	return x->pid - y->pid;
}

static void text_row(FILE *f, const struct proc_entry *e)
{
	char rss[16], anon[16], swap[16], brk[16], mm[16], mu[16], gcs[16], gcp[16];
	char gen[3][24], user[64], cmd[TABLE_CMDLINE_LEN];
	const struct proc_sample *c = &e->cur, *p = &e->prev;
	__u64 cc[PMT_NGEN] = {}, col[PMT_NGEN], cns[PMT_NGEN] = {};
	__u64 pc[PMT_NGEN] = {}, pns[PMT_NGEN] = {};
	enum gc_src src = gc_source(e);
	bool gc, pgc, chas, phas = false;
	double ratio;

	gc = gc_totals(e, c, src, cc, col, cns, &chas);
	pgc = e->has_prev && gc_totals(e, p, src, pc, col, pns, &phas);
	cell_bytes(rss, sizeof(rss), c->has_status, c->rss_bytes);
	cell_bytes(anon, sizeof(anon), c->has_status, c->anon_bytes);
	cell_bytes(swap, sizeof(swap), c->has_status, c->swap_bytes);
	output_human_bytes(table_brk_bytes(e), brk, sizeof(brk));
	cell_rate(mm, sizeof(mm), e, c->mm.mmap_bytes, p->mm.mmap_bytes, true);
	cell_rate(mu, sizeof(mu), e, c->mm.munmap_bytes, p->mm.munmap_bytes, true);
	if (gc && pgc)
		cell_rate(gcs, sizeof(gcs), e, gc_sum(cc), gc_sum(pc), false);
	else
		snprintf(gcs, sizeof(gcs), "-");
	if (gc && pgc && chas && phas &&
	    rate_time_ratio(gc_sum(cns), gc_sum(pns), c->t - p->t, &ratio))
		snprintf(gcp, sizeof(gcp), "%.1f", ratio * 100);
	else
		snprintf(gcp, sizeof(gcp), "-");
	for (int i = 0; i < PMT_NGEN; i++) {
		if (gc)
			snprintf(gen[i], sizeof(gen[i]), "%llu", (unsigned long long)cc[i]);
		else
			snprintf(gen[i], sizeof(gen[i]), "-");
	}
	fprintf(f, "%7d %-8.8s %-8.8s %6s %6s %6s %6s %7s %7s %6s %5s %6s %5s %4s %s%s\n", e->pid,
		procfs_user_name(e->uid, user, sizeof(user)),
		e->interp && e->interp->info.version[0] ? e->interp->info.version : "-", rss, anon,
		swap, brk, mm, mu, gcs, gcp, gen[0], gen[1], gen[2], e->exited ? "<exited> " : "",
		output_clean_string(e->command[0] ? e->command : e->cmdline, true, cmd,
				    sizeof(cmd)));
}

int output_text(FILE *f, const struct frame *fr)
{
	const struct table *t = fr->table;
	const struct proc_entry **rows;
	uint64_t drops = t->read_failures;
	char tbuf[32];
	time_t now = (time_t)fr->time;
	struct tm tm;
	int n = 0;

	for (int i = 0; i < PMT_DROP_NR; i++)
		drops += fr->drops[i];
	localtime_r(&now, &tm);
	strftime(tbuf, sizeof(tbuf), "%H:%M:%S", &tm);
	rows = calloc(t->count ? t->count : 1, sizeof(*rows));
	if (!rows)
		return -ENOMEM;
	for (const struct proc_entry *e = t->head; e && n < t->count; e = e->next)
		rows[n++] = e;
	qsort(rows, n, sizeof(*rows), cmp_rss);
	fprintf(f, "pymemtop - %s  interval %.2fs  python processes: %d  dropped events: %llu\n",
		tbuf, fr->interval_s, n, (unsigned long long)drops);
	fprintf(f, "%7s %-8s %-8s %6s %6s %6s %6s %7s %7s %6s %5s %6s %5s %4s %s\n", "PID", "USER",
		"PY", "RSS", "ANON", "SWAP", "BRK", "MMAP/s", "UNMAP/s", "GC/s", "GC%", "GC0",
		"GC1", "GC2", "COMMAND");
	for (int i = 0; i < n; i++)
		text_row(f, rows[i]);
	fputc('\n', f);
	free(rows);
	return fflush(f) ? -errno : 0;
}

/* A process object's sites_total.estimated_bytes, -1 when unavailable. */
static int64_t sampled_bytes(struct json_object *o)
{
	struct json_object *t, *v;

	return json_object_object_get_ex(o, "sites_total", &t) &&
			       json_object_object_get_ex(t, "estimated_bytes", &v)
		       ? json_object_get_int64(v)
		       : -1;
}

static int cmp_sampled_desc(const void *pa, const void *pb)
{
	int64_t a = sampled_bytes(*(struct json_object *const *)pa);
	int64_t b = sampled_bytes(*(struct json_object *const *)pb);

	return a != b ? (a < b ? 1 : -1) : 0;
}

int output_sites_reports(FILE *f, struct table *t, int top)
{
	struct json_object **procs = calloc(t->count ? t->count : 1, sizeof(*procs));
	int n = 0, err = 0;

	if (!procs) {
		t->out_of_memory++;
		fprintf(stderr, "pymemtop: --sites: out of memory: no report this frame\n");
		return 0;
	}
	for (const struct proc_entry *e = t->head; e && n < t->count; e = e->next)
		if (!e->exited && (procs[n] = output_process_json(e)))
			n++;
	qsort(procs, n, sizeof(procs[0]), cmp_sampled_desc);
	for (int i = 0; i < n; i++) {
		if (!err)
			err = sites_report(f, procs[i], top);
		json_object_put(procs[i]);
	}
	free(procs);
	if (!err && fflush(f))
		err = -errno;
	return err;
}
