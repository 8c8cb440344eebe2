// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <time.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "cmdlabel.h"
#include "log.h"
#include "procfs.h"
#include "rate.h"
#include "table.h"

struct proc_entry *table_find(struct table *t, int pid)
{
	for (struct proc_entry *e = t->head; e; e = e->next)
		if (e->pid == pid && !e->exited)
			return e;
	return NULL;
}

/* One walk of /proc/PID/maps at discovery: the [heap] size and where the
 * interpreter file is mapped. */
struct maps_scan {
	struct proc_entry *e;
	bool heap_found, file_found;
};

static int maps_cb(const struct proc_map *m, void *ctx)
{
	struct maps_scan *ms = ctx;
	const struct interp *in = ms->e->interp;

	if (!ms->heap_found && !strcmp(m->path, "[heap]")) {
		ms->e->heap_at_discovery = m->end - m->start;
		ms->heap_found = true;
	}
	if (!ms->file_found && pyheap_bias_from_map(&in->heap, in->dev, in->ino, m, &ms->e->bias)) {
		ms->file_found = true;
		/* opens the file whatever the process's mount namespace */
		snprintf(ms->e->probe_path, sizeof(ms->e->probe_path),
			 "/proc/%d/map_files/%llx-%llx", ms->e->pid, (unsigned long long)m->start,
			 (unsigned long long)m->end);
	}
	return ms->heap_found && ms->file_found;
}

static double boot_time(void)
{
	static double bt;
	double up;

	if (!bt && !procfs_uptime(&up))
		bt = rate_wall_now() - up;
	return bt;
}

/* The executable's dev/ino, part of the process's identity (0: not
 * readable, then not compared). */
static void exe_identity(struct proc_entry *e)
{
	char path[64];
	struct stat sb;

	snprintf(path, sizeof(path), "/proc/%d/exe", e->pid);
	if (stat(path, &sb))
		return;
	e->exe_dev = sb.st_dev;
	e->exe_ino = sb.st_ino;
}

int table_add(struct table *t, int pid, struct interp *in, struct proc_entry **out)
{
	struct proc_status status;
	struct proc_stat st;
	struct maps_scan ms;
	struct proc_entry *e;
	size_t argv_len;
	int err;

	err = procfs_read_stat(pid, &st);
	if (!err)
		err = procfs_read_status(pid, &status);
	if (err)
		return err;
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->pid = pid;
	e->ppid = st.ppid;
	e->start_ticks = st.start_time_ticks;
	exe_identity(e);
	e->start_time = boot_time() + (double)st.start_time_ticks / procfs_clk_tck();
	e->uid = status.uid;
	snprintf(e->comm, sizeof(e->comm), "%s", st.comm);
	/* one read of argv: the label, then the same bytes as one line */
	procfs_read_argv(pid, e->cmdline, sizeof(e->cmdline), &argv_len);
	cmdlabel(e->cmdline, argv_len, st.comm, e->command, sizeof(e->command));
	procfs_argv_to_line(e->cmdline, argv_len);
	if (!e->cmdline[0])
		snprintf(e->cmdline, sizeof(e->cmdline), "[%s]", st.comm);
	procfs_read_container(pid, e->container, sizeof(e->container));
	e->interp = in;
	ms = (struct maps_scan){ .e = e };
	procfs_foreach_map(pid, maps_cb, &ms);
	/* non-PIE executables are where their vaddrs say: bias 0 */
	if (!in->heap.pie)
		e->bias = 0;
	e->bias_err = ms.file_found || !in->heap.pie ? 0 : -ENOENT;
	e->flow_err = -ENOTSUP;
	e->next = t->head;
	t->head = e;
	t->count++;
	*out = e;
	return 0;
}

/* One poll of the sampled stacks: each key goes to the entry of its
 * image (exited ones too, for their last samples); a key no entry owns
 * is of an image reaped since (or whose record could not be kept) and is
 * freed after the walk, at most SITES_ORPHANS_MAX a poll. */
#define SITES_ORPHANS_MAX 65536

struct sites_poll {
	struct collector *c;
	struct proc_entry **idx; /* entries with sites, by image */
	size_t n;
	struct pmt_site_key *orphans;
	size_t norphans, cap;
};

static int cmp_image(const void *a, const void *b)
{
	uint32_t x = (*(struct proc_entry *const *)a)->image;
	uint32_t y = (*(struct proc_entry *const *)b)->image;

	return x < y ? -1 : x > y;
}

static struct proc_entry *owner_of(const struct sites_poll *sp, const struct pmt_site_key *k)
{
	size_t lo = 0, hi = sp->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		uint32_t img = sp->idx[mid]->image;

		if (img == k->image)
			return sp->idx[mid]->pid == (int)k->tgid ? sp->idx[mid] : NULL;
		if (img < k->image)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static void orphan(struct sites_poll *sp, const struct pmt_site_key *k)
{
	if (sp->norphans == sp->cap) {
		size_t cap = sp->cap ? 2 * sp->cap : 64;
		struct pmt_site_key *o;

		if (cap > SITES_ORPHANS_MAX)
			return; /* the rest at the next poll */
		o = realloc(sp->orphans, cap * sizeof(*o));
		if (!o)
			return;
		sp->orphans = o;
		sp->cap = cap;
	}
	sp->orphans[sp->norphans++] = *k;
}

static void site_cb(const struct pmt_site_key *k, const struct pmt_site_counts *cnt, void *ctx)
{
	struct sites_poll *sp = ctx;
	struct proc_entry *e = owner_of(sp, k);
	struct pmt_site_stack st;

	if (!e) {
		orphan(sp, k);
		return;
	}
	if (sites_proc_has(e->sites, k))
		sites_proc_update(e->sites, k, cnt, NULL);
	else if (!collector_sites_stack(sp->c, k, &st))
		sites_proc_update(e->sites, k, cnt, &st);
}

/* The sampled stacks' counts; frames of new ones are named. */
static void poll_sites(struct table *t, struct collector *c)
{
	struct sites_poll sp = { .c = c };

	if (!t->sites || !c)
		return;
	sp.idx = malloc((t->count ? t->count : 1) * sizeof(*sp.idx));
	if (!sp.idx) {
		t->out_of_memory++; /* no poll this frame: the counts wait in BPF */
		return;
	}
	for (struct proc_entry *e = t->head; e; e = e->next)
		if (e->sites && sp.n < (size_t)t->count)
			sp.idx[sp.n++] = e;
	qsort(sp.idx, sp.n, sizeof(*sp.idx), cmp_image);
	collector_sites_read(c, site_cb, &sp);
	for (size_t i = 0; i < sp.norphans; i++)
		collector_sites_delete(c, &sp.orphans[i]);
	free(sp.orphans);
	free(sp.idx);
}

/* A process's snapshots may take at most 1/HEAP_DUTY_INV of the time:
 * a snapshot that took T is not repeated for T * HEAP_DUTY_INV. An idle
 * or 1 GiB 3.10+ heap reads in well under 10 ms and is read every frame;
 * a fast-growing 0.6 GB 3.8 heap (150 000 pool headers, ~60 ms a walk)
 * is read every few seconds instead of holding its mmap lock for reading
 * for 18% of each second (three walks). */
#define HEAP_DUTY_INV 50

/* A heap of more pool headers than this (64 MiB of 4 KiB pools before
 * 3.10, 256 MiB of 16 KiB pools after; a walk of ~5 ms or more) is not
 * walked while the process is mapping memory — a heap growing by arenas
 * changes under the walk, which is then dropped, and the walk's CPU and
 * reads of the process's memory come out of a process that is busy
 * allocating — for up to HEAP_DEFER_MAX_S in a row. Meanwhile CPython's
 * own arena counter (one small read) keeps the allocation flow current. */
#define HEAP_BIG_POOLS	 16384
#define HEAP_DEFER_MAX_S 10.0

/* A frame without a walk: CPython's arena counter alone (one small read),
 * so heap_arenas_allocated_total and the allocation flow stay current;
 * taken only when it is consistent with the last one and the process's
 * mmaps since (pyheap_peek_accept): a bad read would otherwise raise a
 * counter that never comes down. */
static void heap_counter_only(struct proc_entry *e, const struct pyheap_peek *pk)
{
	if (e->cur.heap_valid && e->cur.heap.arenas_allocated_ok)
		pyheap_peek_accept(pk, &e->cur.heap.arenas_allocated, &e->arenas_mmaps,
				   e->cur.mm.mmap_calls);
}

/* Whether to put this frame's walk off (counted). pk: the peek, when one
 * was taken (*peeked). */
static bool defer_heap(struct table *t, struct proc_entry *e, double now, struct pyheap_peek *pk,
		       bool *peeked)
{
	const struct pyheap_layout *l = &e->interp->heap;

	/* mapping memory since the previous frame (or not known yet) */
	if (e->has_prev && e->cur.mm.mmap_calls == e->prev.mm.mmap_calls)
		return false;
	if (e->heap_defer_since && now - e->heap_defer_since >= HEAP_DEFER_MAX_S)
		return false;
	*peeked = l->pool_size && !pyheap_peek(e->pid, e->bias, l, pk);
	if (!*peeked || !pk->narenas_ok ||
	    pk->narenas * (l->arena_size / l->pool_size) <= HEAP_BIG_POOLS)
		return false;
	if (!e->heap_defer_since)
		e->heap_defer_since = now;
	t->heap_stats.deferred++;
	return true;
}

/* Keep a copy of the types every TYPES_HIST_STEP_S, the last minute's. */
static void keep_types(struct table *t, struct proc_entry *e, double now)
{
	struct heap_types *c;

	while (e->types_nh && now - e->types_hist_t[0] > (TYPES_HIST_N - 1) * TYPES_HIST_STEP_S) {
		free(e->types_hist[0]);
		memmove(e->types_hist, e->types_hist + 1, --e->types_nh * sizeof(e->types_hist[0]));
		memmove(e->types_hist_t, e->types_hist_t + 1, e->types_nh * sizeof(double));
	}
	if (!e->types.ok ||
	    (e->types_nh && now - e->types_hist_t[e->types_nh - 1] < TYPES_HIST_STEP_S))
		return;
	if (e->types_nh == TYPES_HIST_N || !(c = malloc(sizeof(*c)))) {
		if (e->types_nh < TYPES_HIST_N)
			t->out_of_memory++;
		return;
	}
	*c = e->types;
	e->types_hist[e->types_nh] = c;
	e->types_hist_t[e->types_nh++] = now;
}

/* Growth of each type since the oldest kept result at least
 * TYPES_GROWTH_MIN_S old. */
static void types_growth(struct proc_entry *e, double now)
{
	const struct heap_types *then = NULL;

	e->types.growth_seconds = 0;
	for (int i = 0; i < e->types_nh && !then; i++)
		if (now - e->types_hist_t[i] >= TYPES_GROWTH_MIN_S) {
			then = e->types_hist[i];
			e->types.growth_seconds = now - e->types_hist_t[i];
		}
	for (int i = 0; i < e->types.n; i++)
		e->types.top[i].growth_ok =
			then && heaptypes_growth(&e->types, then, i, &e->types.top[i].growth);
}

static void free_types_hist(struct proc_entry *e)
{
	for (int i = 0; i < e->types_nh; i++)
		free(e->types_hist[i]);
	e->types_nh = 0;
}

/* The live heap by type from the snapshot's sampled pools, when due
 * (sample_heap); its time is the snapshot's (the duty cycle bounds both
 * together). */
static void sample_types(struct table *t, struct proc_entry *e, struct pyheap_snapshot *snap)
{
	struct timespec a, b;
	double took;
	int err;

	clock_gettime(CLOCK_MONOTONIC, &a);
	err = heaptypes_sample(e->pid, e->bias, &e->interp->heap, snap, t->census, &e->types_cache,
			       &e->types);
	clock_gettime(CLOCK_MONOTONIC, &b);
	took = (double)(b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9;
	e->types_t = e->cur.t;
	e->types_next = e->cur.t + (took * TYPES_DUTY_INV > TYPES_EVERY_S ? took * TYPES_DUTY_INV
									  : TYPES_EVERY_S);
	if (err == -ENOMEM)
		t->out_of_memory++;
	if (err)
		snprintf(e->types.reason, sizeof(e->types.reason), "%s",
			 err == -ENOMEM ? "out of memory" : "the process went away");
	types_growth(e, e->cur.t);
	keep_types(t, e, e->cur.t);
}

/* A snapshot that does not validate is dropped (counted): the last
 * consistent one stands, flagged by its age in the output. The GC state
 * is read every frame, with the snapshot or on its own. */
static void sample_heap(struct table *t, struct proc_entry *e, double now)
{
	struct pyheap_snapshot snap;
	struct pyheap_peek pk;
	bool peeked = false, types_due;
	int err;

	memset(&e->cur.gcs, 0, sizeof(e->cur.gcs));
	if (e->bias_err)
		return;
	if (now < e->heap_next || defer_heap(t, e, now, &pk, &peeked)) {
		if (peeked || !pyheap_peek(e->pid, e->bias, &e->interp->heap, &pk))
			heap_counter_only(e, &pk);
		pyheap_read_gc(e->pid, e->bias, &e->interp->heap, &e->cur.gcs);
		return;
	}
	e->heap_defer_since = 0;
	types_due = e->cur.t >= e->types_next;
	if (types_due && !t->census && !(t->census = malloc(sizeof(*t->census))))
		t->out_of_memory++; /* types from the sampled pools alone */
	/* the census only for the walk heap_types reads (sample_types) */
	err = pyheap_snapshot_census(e->pid, e->bias, &e->interp->heap, &snap, &t->heap_stats,
				     types_due ? t->census : NULL);
	if (!err && snap.heap_ok && types_due)
		sample_types(t, e, &snap);
	if (!err && snap.heap_ok && e->sites &&
	    sites_proc_check_live(e->sites, &e->interp->heap.reg, e->interp->heap.pool_size) ==
		    -ENOMEM)
		t->out_of_memory++;
	e->heap_next = now + snap.read_ns / 1e9 * HEAP_DUTY_INV;
	e->cur.gcs = snap.gc;
	if (!err && e->sites && snap.heap_ok && snap.arena_size &&
	    snap.arena_size != e->sites_cfg.arena_size) {
		/* a build with other arenas than its row's default (3.15
		 * hugepages): arena mmaps are of this size */
		e->sites_cfg.arena_size = snap.arena_size;
		if (t->col && collector_sites_set(t->col, e->pid, &e->sites_cfg))
			t->read_failures++;
	}
	if (!err) {
		e->cur.heap = snap;
		e->cur.heap_valid = true;
		e->cur.heap_t = now;
		e->arenas_mmaps = e->cur.mm.mmap_calls;
		if (!e->arenas_base_ok && snap.heap_ok && snap.arenas_allocated_ok) {
			e->arenas_base = snap.arenas_allocated; /* flow since observed */
			e->arenas_base_ok = true;
		}
	} else if (err != -ESRCH && err != -EAGAIN) {
		t->read_failures++;
	}
}

/* CPython's own GC statistics count from the process's start: pymemtop
 * reports them from its first read on, as it does BPF's counts. A read
 * that went backwards is not this process's (or not consistent). */
/* A forked worker's GC statistics at its fork: the worker's own ring
 * dates each collection, but keeps only the last 3 of generations 1 and
 * 2; the parent, whose memory the worker copied, is asked when the
 * worker has collected more since. */
static bool gc_at_fork(struct table *t, struct proc_entry *e)
{
	const struct proc_entry *parent = table_find(t, e->ppid);

	if (!pyheap_gc_at(e->pid, e->bias, &e->interp->heap, e->fork_ns, &e->gc_base))
		return true;
	return parent && parent->interp == e->interp && !parent->bias_err &&
	       !pyheap_gc_at(parent->pid, parent->bias, &parent->interp->heap, e->fork_ns,
			     &e->gc_base);
}

static void sample_gc_stats(struct table *t, struct proc_entry *e)
{
	struct pyheap_gc *g = &e->cur.gcs;
	const struct pyheap_gc *p = &e->prev.gcs;

	if (!g->stats_ok && p->stats_ok) { /* a failed read keeps the last values */
		memcpy(g->collections, p->collections, sizeof(g->collections));
		memcpy(g->collected, p->collected, sizeof(g->collected));
		memcpy(g->uncollectable, p->uncollectable, sizeof(g->uncollectable));
		memcpy(g->candidates, p->candidates, sizeof(g->candidates));
		memcpy(g->duration_s, p->duration_s, sizeof(g->duration_s));
		g->stats_ok = true;
		g->ring_ok = p->ring_ok;
		return;
	}
	if (!g->stats_ok)
		return;
	if (!e->gc_base_ok) {
		if (e->image_fresh) {
			memset(&e->gc_base, 0, sizeof(e->gc_base));
			e->gc_base.stats_ok = true;
			e->gc_base.ring_ok = g->ring_ok;
		} else if (!e->fork_ns || !gc_at_fork(t, e)) {
			e->gc_base = *g;
		}
		e->gc_base_ok = true;
	}
	for (int i = 0; i < 3; i++)
		if (g->collections[i] < e->gc_base.collections[i] ||
		    (p->stats_ok && g->collections[i] < p->collections[i])) {
			*g = *p; /* not consistent: the last values stand */
			return;
		}
}

static void sample(struct table *t, struct proc_entry *e, struct collector *c, double now)
{
	struct proc_status status;
	int err;

	e->prev = e->cur;
	e->has_prev = e->prev.t > 0;
	e->cur.t = now;
	err = procfs_read_status_mm(e->pid, &status);
	e->cur.has_status = !err && status.has_rss;
	if (e->cur.has_status) {
		e->cur.rss_bytes = status.vm_rss_bytes;
		e->cur.anon_bytes = status.rss_anon_bytes;
		e->cur.swap_bytes = status.vm_swap_bytes;
	} else if (err && err != -ESRCH) {
		t->read_failures++;
	}
	/* A failed read keeps the last values: counters never go backwards.
	 * No entry means either nothing counted yet (the values are still
	 * the zeroes of table_add) or the process has just exited or exec'd
	 * and BPF freed its entry (the final counters come with the event,
	 * or the last sample stands). Neither is a read failure. */
	err = collector_read_mm(c, e->pid, &e->cur.mm);
	if (err && err != -ENOENT)
		t->read_failures++;
	err = collector_read_gc(c, e->pid, &e->cur.gc);
	if (err && err != -ENOENT)
		t->read_failures++;
	err = e->flow_err ? 0 : collector_read_flow(c, e->pid, &e->cur.flow);
	if (err && err != -ENOENT)
		t->read_failures++;
	err = e->precise ? collector_read_precise(c, e->pid, &e->cur.precise) : 0;
	if (err && err != -ENOENT)
		t->read_failures++;
	sample_heap(t, e, now);
	sample_gc_stats(t, e);
	if (e->cur.has_status)
		growth_add(&e->rss_growth, now, e->cur.rss_bytes);
	if (e->cur.heap_valid && e->cur.heap.heap_ok) /* a repeated snapshot is ignored */
		growth_add(&e->heap_growth, e->cur.heap_t, e->cur.heap.live_bytes);
	history_add(&e->hist, now,
		    e->cur.heap_valid && e->cur.heap.heap_ok ? (double)e->cur.heap.arena_bytes
							     : NAN,
		    e->cur.has_status ? (double)e->cur.rss_bytes : NAN);
}

/* The last sample of an exited process: the previous values with the
 * final counters from the exit event when there was one. */
static void sample_exited(struct proc_entry *e, double now)
{
	e->prev = e->cur;
	e->has_prev = e->prev.t > 0;
	e->cur.t = now;
	if (e->has_final) {
		e->cur.mm = e->final_mm;
		e->cur.gc = e->final_gc;
	}
	if (e->has_final_flow)
		e->cur.flow = e->final_flow;
	if (e->has_final_precise)
		e->cur.precise = e->final_precise;
}

void table_refresh(struct table *t, struct collector *c, double now)
{
	for (struct proc_entry *e = t->head; e; e = e->next) {
		if (e->exited)
			sample_exited(e, now);
		else
			sample(t, e, c, now);
	}
	poll_sites(t, c);
	for (struct proc_entry *e = t->head; e; e = e->next)
		if (e->sites)
			sites_proc_tick(e->sites, now);
}

void table_site_sample(const struct pmt_site_sample *s, void *ctx)
{
	struct table *t = ctx;
	struct proc_entry *e = table_find(t, (int)s->key.tgid);

	/* a sample of the image the entry took (not of an older one) */
	if (!e || e->exited || !e->sites || e->image != s->key.image)
		return;
	if (sites_proc_add_sample(e->sites, s) == -ENOMEM)
		t->out_of_memory++;
	else if (e->interp && e->interp->heap.pool_size)
		sites_proc_look_newest(e->sites, &e->interp->heap.reg, e->interp->heap.pool_size);
}

void table_reap(struct table *t)
{
	struct proc_entry **pp = &t->head;

	while (*pp) {
		struct proc_entry *e = *pp;

		if (e->exited) {
			*pp = e->next;
			t->count--;
			sites_proc_free(e->sites);
			ht_cache_free(&e->types_cache);
			free_types_hist(e);
			free(e);
		} else {
			pp = &e->next;
		}
	}
}

void table_free(struct table *t)
{
	free(t->census);
	t->census = NULL;
	while (t->head) {
		struct proc_entry *next = t->head->next;

		sites_proc_free(t->head->sites);
		ht_cache_free(&t->head->types_cache);
		free_types_hist(t->head);
		free(t->head);
		t->head = next;
	}
	t->count = 0;
}

uint64_t table_brk_bytes(const struct proc_entry *e)
{
	return e->cur.mm.brk_valid ? e->cur.mm.brk_bytes : e->heap_at_discovery;
}
