// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
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

static void attach_precise(struct table *t, struct proc_entry *e)
{
	const struct pyheap_layout *l = &e->interp->heap;
	struct pmt_precise_cfg cfg = { .pool_size = l->pool_size, .arena_size = l->arena_size };
	uint64_t arenas_var = 0, maxarenas_var = 0;
	int err;

	if (!l->precise_ok) {
		e->precise_err = -ENOTSUP;
		log_warn("PID %d: --precise not possible: %s; default mode instead", e->pid,
			 l->heap_ok ? l->precise_reason : l->reason);
		return;
	}
	err = e->bias_err ? e->bias_err
			  : pyheap_state_vars(e->pid, e->bias, l, &arenas_var, &maxarenas_var);
	cfg.arenas_var = arenas_var;
	cfg.maxarenas_var = maxarenas_var;
	cfg.realloc_null_jumps = l->realloc_null_jumps;
	for (int i = 0; i < PMT_PRECISE_NESTED; i++)
		cfg.nested_ret[i] = l->precise_nested[i] ? l->precise_nested[i] + e->bias : 0;
	if (!err)
		err = collector_attach_precise(t->col, e->pid, e->probe_path, l->precise_offset,
					       &cfg, e->links);
	if (err) {
		t->heap_attach_failures++;
		e->precise_err = err;
		log_warn("PID %d: --precise: attaching the allocator probes failed: %s; "
			 "default mode instead",
			 e->pid, strerror(-err));
		return;
	}
	e->nlinks = PYHEAP_PRECISE_NFN;
	e->precise = true;
	log_info("PID %d: --precise: probes on the object allocator's 4 functions", e->pid);
}

static void attach_sites(struct table *t, struct proc_entry *e, double now)
{
	const struct sites_layout *l = &e->interp->sites;
	struct pmt_sites_cfg cfg;
	int err;

	if (!t->sites) {
		snprintf(e->sites_reason, sizeof(e->sites_reason), "off (--no-sites)");
		return;
	}
	if (!l->ok) {
		snprintf(e->sites_reason, sizeof(e->sites_reason), "%s", l->reason);
		return;
	}
	if (e->bias_err) {
		snprintf(e->sites_reason, sizeof(e->sites_reason),
			 "the interpreter's mapping was not found");
		return;
	}
	sites_cfg(l, &e->interp->heap, e->bias, t->sites_depth, t->sites_max_rate,
		  e->nlinks && !e->flow_err, &cfg);
	e->sites_cfg = cfg;
	e->sites = sites_proc_new(e->pid, l, e->bias, &cfg, now);
	err = e->sites ? collector_sites_set(t->col, e->pid, &cfg) : -ENOMEM;
	if (err) {
		sites_proc_free(e->sites);
		e->sites = NULL;
		snprintf(e->sites_reason, sizeof(e->sites_reason), "BPF map update failed: %s",
			 strerror(-err));
	}
}

static void attach_heap_probes(struct table *t, struct proc_entry *e, bool precise, bool refills)
{
	const struct pyheap_layout *l = &e->interp->heap;

	if (!t->col)
		return;
	if (precise) {
		attach_precise(t, e);
		if (e->precise)
			return;
	}
	if (!refills && !precise)
		return; /* flow_err stays -ENOTSUP: not asked for */
	if (!l->heap_ok || !l->refill_probe || !e->probe_path[0])
		return; /* flow_err stays -ENOTSUP: no refill to probe */
	e->flow_err = collector_attach_refill(t->col, e->pid, e->probe_path, l->refill_offset,
					      l->refill_arg, &e->links[0]);
	if (e->flow_err == -ESRCH || e->flow_err == -ENOENT) {
		t->vanished++; /* exited since discovery (its map_files entry too) */
		return;
	}
	if (e->flow_err) {
		t->heap_attach_failures++;
		log_warn("PID %d: pool-refill uprobe: %s", e->pid, strerror(-e->flow_err));
		return;
	}
	e->nlinks = 1;
}

void table_attach_probes(struct table *t, struct proc_entry *e, bool precise, bool refills)
{
	if (!t->col)
		return;
	attach_heap_probes(t, e, precise, refills);
	attach_sites(t, e, rate_now());
}

struct sites_poll {
	struct table *t;
	struct collector *c;
	int pid; /* 0: every process */
	struct proc_entry *last;
};

static void site_cb(const struct pmt_site_key *k, const struct pmt_site_counts *cnt, void *ctx)
{
	struct sites_poll *sp = ctx;
	struct proc_entry *e = sp->last;
	struct pmt_site_stack st;

	if (sp->pid && k->tgid != (__u32)sp->pid)
		return;
	if (!e || e->pid != (int)k->tgid || e->exited)
		e = sp->last = table_find(sp->t, k->tgid);
	if (!e || !e->sites)
		return;
	if (sites_proc_has(e->sites, k))
		sites_proc_update(e->sites, k, cnt, NULL);
	else if (!collector_sites_stack(sp->c, k, &st))
		sites_proc_update(e->sites, k, cnt, &st);
}

/* The sampled stacks' counts; frames of new ones are named. */
static void poll_sites(struct table *t, struct collector *c, int pid)
{
	struct sites_poll sp = { .t = t, .c = c, .pid = pid };

	if (t->sites && c)
		collector_sites_read(c, site_cb, &sp);
}

/* The process is gone (or became another image): its last --precise
 * counts, then no more probes and no more per-process heap entries. */
static void end_probes(struct table *t, struct proc_entry *e)
{
	if (!t->col)
		return;
	if (e->precise && !collector_read_precise(t->col, e->pid, &e->final_precise))
		e->has_final_precise = true;
	collector_detach(e->links, e->nlinks);
	e->nlinks = 0;
	collector_forget_heap(t->col, e->pid);
	if (e->sites) {
		poll_sites(t, t->col, e->pid); /* its last samples */
		collector_sites_forget(t->col, e->pid);
	}
}

void table_mark_exited(struct table *t, int pid, const struct pmt_event *ev)
{
	struct proc_entry *e = table_find(t, pid);

	if (!e)
		return;
	e->exited = true;
	end_probes(t, e);
	if (ev && ev->has_flow) {
		e->final_flow = ev->flow;
		e->has_final_flow = true;
	}
	/* Final counters: the last interval's activity is not lost. The
	 * sample time is set by the next refresh. */
	if (ev && ev->has_mm)
		e->final_mm = ev->mm;
	if (ev && ev->has_gc)
		e->final_gc = ev->gc;
	e->has_final = ev && (ev->has_mm || ev->has_gc);
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

/* A snapshot that does not validate is dropped (counted): the last
 * consistent one stands, flagged by its age in the output. The GC state
 * is read every frame, with the snapshot or on its own. */
static void sample_heap(struct table *t, struct proc_entry *e, double now)
{
	struct pyheap_snapshot snap;
	struct pyheap_peek pk;
	bool peeked = false;
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
	err = pyheap_snapshot(e->pid, e->bias, &e->interp->heap, &snap, &t->heap_stats);
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

bool table_still_alive(const struct proc_entry *e)
{
	struct proc_status status;
	struct proc_stat st;

	if (procfs_read_stat(e->pid, &st) || st.start_time_ticks != e->start_ticks)
		return false;
	if (st.state == 'X')
		return false;
	if (st.state != 'Z')
		return true;
	/* A zombie leader whose other threads run on is a live process. */
	return !procfs_read_status(e->pid, &status) && status.threads > 1;
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
		if (!e->exited && !table_still_alive(e)) {
			/* Missed exit event, or a reused PID. */
			end_probes(t, e);
			collector_forget(c, e->pid);
			e->exited = true;
		}
		if (e->exited)
			sample_exited(e, now);
		else
			sample(t, e, c, now);
	}
	poll_sites(t, c, 0);
	for (struct proc_entry *e = t->head; e; e = e->next)
		if (e->sites)
			sites_proc_tick(e->sites, now);
}

void table_reap(struct table *t)
{
	struct proc_entry **pp = &t->head;

	while (*pp) {
		struct proc_entry *e = *pp;

		if (e->exited) {
			*pp = e->next;
			t->count--;
			if (e->nlinks && t->col) /* ended already, normally */
				collector_detach(e->links, e->nlinks);
			sites_proc_free(e->sites);
			free(e);
		} else {
			pp = &e->next;
		}
	}
}

void table_free(struct table *t)
{
	while (t->head) {
		struct proc_entry *next = t->head->next;

		if (t->head->nlinks && t->col)
			collector_detach(t->head->links, t->head->nlinks);
		sites_proc_free(t->head->sites);
		free(t->head);
		t->head = next;
	}
	t->count = 0;
}

uint64_t table_brk_bytes(const struct proc_entry *e)
{
	return e->cur.mm.brk_valid ? e->cur.mm.brk_bytes : e->heap_at_discovery;
}
