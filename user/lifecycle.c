// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "discover.h"
#include "lifecycle.h"
#include "log.h"
#include "procfs.h"
#include "rate.h"

void lifecycle_init(struct lifecycle *lc, struct table *t, struct collector *c,
		    const struct lifecycle_opts *o)
{
	memset(lc, 0, sizeof(*lc));
	lc->t = t;
	lc->c = c;
	lc->o = *o;
}

static bool selected(const struct lifecycle *lc, int pid)
{
	if (!lc->o.npids)
		return true;
	for (int i = 0; i < lc->o.npids; i++)
		if (lc->o.pids[i] == pid)
			return true;
	return false;
}

/* ---- taking a process: its probes and BPF configuration ----------------- */

/* Object samples on: one per PMT_PRECISE_SAMPLE_BYTES requested, the
 * first that far in. */
static void sampler_on(struct pmt_precise_cfg *cfg)
{
	cfg->sample_bytes = PMT_PRECISE_SAMPLE_BYTES;
	cfg->sample_left = PMT_PRECISE_SAMPLE_BYTES;
}

/* --precise refused (LTO): the sites from class instances, sampled where
 * the type slots call the exported tp_alloc and followed to tp_free. */
static void take_instances(struct lifecycle *lc, struct proc_entry *e)
{
	const struct pyheap_layout *l = &e->interp->heap;
	struct pmt_precise_cfg cfg = { .pool_size = l->pool_size, .arena_size = l->arena_size };
	int err;

	sampler_on(&cfg);
	if (!lc->t->sites || !e->interp->sites.ok || e->bias_err)
		return;
	if (!l->inst_ok) {
		log_warn("PID %d: --precise: no instance samples either: %s", e->pid,
			 l->inst_reason);
		return;
	}
	err = collector_attach_instances(lc->c, e->pid, e->probe_path, l->inst_offset, &cfg,
					 e->links + e->nlinks);
	if (err) {
		lc->t->heap_attach_failures++;
		log_warn("PID %d: --precise: attaching the instance probes failed: %s", e->pid,
			 strerror(-err));
		return;
	}
	e->nlinks += 4;
	e->precise_objects = true;
	log_warn("PID %d: --precise: allocation sites from class instances instead, sampled at "
		 "tp_alloc and followed to tp_free",
		 e->pid);
}

static void take_precise(struct lifecycle *lc, struct proc_entry *e)
{
	const struct pyheap_layout *l = &e->interp->heap;
	struct pmt_precise_cfg cfg = { .pool_size = l->pool_size, .arena_size = l->arena_size };
	uint64_t arenas_var = 0, maxarenas_var = 0, usedpools = 0;
	int err;

	if (!l->precise_ok) {
		e->precise_err = -ENOTSUP;
		log_warn("PID %d: --precise not possible: %s; the pool-refill probe instead",
			 e->pid, l->heap_ok ? l->precise_reason : l->reason);
		take_instances(lc, e);
		return;
	}
	err = e->bias_err ? e->bias_err
			  : pyheap_state_vars(e->pid, e->bias, l, &arenas_var, &maxarenas_var);
	cfg.arenas_var = arenas_var;
	cfg.maxarenas_var = maxarenas_var;
	cfg.realloc_null_jumps = l->realloc_null_jumps;
	for (int i = 0; i < PMT_PRECISE_NESTED; i++)
		cfg.nested_ret[i] = l->precise_nested[i] ? l->precise_nested[i] + e->bias : 0;
	/* object samples stand in for the pool, arena and malloc samples
	 * when the sites are sampled and usedpools[] is known */
	if (!err && lc->t->sites && e->interp->sites.ok &&
	    !pyheap_usedpools_var(e->pid, e->bias, l, &usedpools) && usedpools) {
		cfg.usedpools = usedpools;
		sampler_on(&cfg);
	}
	if (!err)
		err = collector_attach_precise(lc->c, e->pid, e->probe_path, l->precise_offset,
					       &cfg, e->links);
	if (err) {
		lc->t->heap_attach_failures++;
		e->precise_err = err;
		log_warn("PID %d: --precise: attaching the allocator probes failed: %s; "
			 "default mode instead",
			 e->pid, strerror(-err));
		return;
	}
	e->nlinks = PYHEAP_PRECISE_NFN;
	e->precise = true;
	e->precise_objects = cfg.sample_bytes != 0;
	if (e->precise_objects) {
		/* where a sample's block is known at a return */
		uint64_t ret[PMT_PRECISE_RET_NFN] = { l->precise_raw_offset[0],
						      l->precise_raw_offset[1],
						      l->precise_offset[PMT_PRECISE_REALLOC - 1] };

		err = collector_attach_precise_ret(lc->c, e->pid, e->probe_path, ret,
						   e->links + e->nlinks);
		if (err >= 0)
			e->nlinks += err;
		else
			log_warn("PID %d: --precise: return probes: %s; samples of large or "
				 "reallocated objects count in the flow, not followed",
				 e->pid, strerror(-err));
		if (err >= 0 && !l->precise_raw_offset[0])
			log_warn("PID %d: --precise: the raw allocator was not found; samples of "
				 "large objects count in the flow, not followed",
				 e->pid);
	}
	log_info("PID %d: --precise: probes on the object allocator's 4 functions%s", e->pid,
		 e->precise_objects ? ", object samples" : "");
}

/* --pool-refills (or --precise refused): the refill uprobe. Without it
 * flow_err stays -ENOTSUP and the flow comes from CPython's arena
 * counter. */
static void take_refill(struct lifecycle *lc, struct proc_entry *e)
{
	const struct pyheap_layout *l = &e->interp->heap;

	if (!l->heap_ok || !l->refill_probe || !e->probe_path[0])
		return; /* no refill to probe */
	e->flow_err = collector_attach_refill(lc->c, e->pid, e->probe_path, l->refill_offset,
					      l->refill_arg, &e->links[e->nlinks]);
	if (e->flow_err == -ESRCH || e->flow_err == -ENOENT) {
		lc->t->vanished++; /* exited since discovery (its map_files entry too) */
		return;
	}
	if (e->flow_err) {
		lc->t->heap_attach_failures++;
		log_warn("PID %d: pool-refill uprobe: %s", e->pid, strerror(-e->flow_err));
		return;
	}
	e->nlinks++;
}

/* Allocation-site sampling: its BPF configuration, under the entry's
 * image id (which its keys then carry). */
static void take_sites(struct lifecycle *lc, struct proc_entry *e, double now)
{
	const struct sites_layout *l = &e->interp->sites;
	struct table *t = lc->t;
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
		  e->precise_objects && !e->precise ? PMT_SITES_F_OBJECTS | PMT_SITES_F_INSTANCES
		  : e->precise_objects		    ? PMT_SITES_F_OBJECTS
		  : e->nlinks && !e->flow_err	    ? PMT_SITES_F_REFILL
						    : 0,
		  &e->sites_cfg);
	e->sites_cfg.image = e->image;
	e->sites = sites_proc_new(e->pid, l, e->bias, &e->sites_cfg, now);
	err = e->sites ? collector_sites_set(lc->c, e->pid, &e->sites_cfg) : -ENOMEM;
	if (err) {
		sites_proc_free(e->sites);
		e->sites = NULL;
		snprintf(e->sites_reason, sizeof(e->sites_reason), "%s: %s",
			 err == -ENOMEM ? "out of memory" : "BPF map update failed",
			 strerror(-err));
		if (err == -ENOMEM)
			t->out_of_memory++;
	}
}

/* Put a CPython process running interpreter in into the table, with
 * everything it owns. fresh: its image was exec'd since pymemtop started
 * (its interpreter's own counters started at zero then); fork_ns: when
 * it was forked from a taken process (bpf_ktime_get_ns), or 0. */
static enum discover_result take(struct lifecycle *lc, int pid, struct interp *in, bool fresh,
				 uint64_t fork_ns)
{
	struct table *t = lc->t;
	struct proc_entry *e;
	int err = table_add(t, pid, in, &e);

	if (err == -ENOMEM) {
		t->out_of_memory++;
		log_warn("PID %d: out of memory: not watched", pid);
		return DISC_ERROR;
	}
	if (err) {
		t->vanished++;
		return DISC_GONE;
	}
	if (!++lc->next_image)
		lc->next_image = 1;
	e->image = lc->next_image;
	e->image_fresh = fresh;
	e->fork_ns = fork_ns;
	e->watched = !collector_watch(lc->c, pid);
	if (!e->watched)
		t->read_failures++;
	if (lc->o.precise)
		take_precise(lc, e);
	if (!e->precise && (lc->o.refills || lc->o.precise))
		take_refill(lc, e);
	take_sites(lc, e, rate_now());
	log_info("watching %d (%s, Python %s)", pid, e->comm,
		 in->info.version[0] ? in->info.version : "unknown");
	return DISC_PYTHON;
}

/* ---- releasing it ------------------------------------------------------ */

/* The process is gone, or is another image now: its last counts (from
 * the event, when there was one), then no probe and no BPF entry of it
 * stays. Its site keys go when it is reaped, after its last samples
 * were polled. */
static void release(struct lifecycle *lc, struct proc_entry *e, const struct proc_event *ev)
{
	if (e->exited)
		return;
	e->exited = true;
	if (ev && ev->has_flow) {
		e->final_flow = ev->flow;
		e->has_final_flow = true;
	}
	/* final counters: the last interval's activity is not lost */
	if (ev && ev->has_mm)
		e->final_mm = ev->mm;
	if (ev && ev->has_gc)
		e->final_gc = ev->gc;
	e->has_final = ev && (ev->has_mm || ev->has_gc);
	if (e->precise && !collector_read_precise(lc->c, e->pid, &e->final_precise))
		e->has_final_precise = true;
	collector_detach(e->links, e->nlinks);
	e->nlinks = 0;
	collector_release(lc->c, e->pid);
	if (e->precise_objects)
		collector_release_objs(lc->c, e->pid);
}

static void delete_key(const struct pmt_site_key *k, void *ctx)
{
	collector_sites_delete(ctx, k);
}

void lifecycle_reap(struct lifecycle *lc)
{
	for (struct proc_entry *e = lc->t->head; e; e = e->next)
		if (e->exited && e->sites)
			sites_proc_foreach_key(e->sites, delete_key, lc->c);
	table_reap(lc->t);
}

void lifecycle_free(struct lifecycle *lc)
{
	for (struct proc_entry *e = lc->t->head; e; e = e->next) {
		collector_detach(e->links, e->nlinks);
		e->nlinks = 0;
	}
	table_free(lc->t);
}

/* ---- identity ---------------------------------------------------------- */

bool lifecycle_same_process(const struct lifecycle *lc, const struct proc_entry *e)
{
	struct proc_status status;
	struct proc_stat st;
	char path[64];
	struct stat sb;
	uint32_t execs;

	if (procfs_read_stat(e->pid, &st) || st.start_time_ticks != e->start_ticks ||
	    st.state == 'X')
		return false;
	/* A zombie leader whose other threads run on is a live process. */
	if (st.state == 'Z' && (procfs_read_status(e->pid, &status) || status.threads <= 1))
		return false;
	/* the executable (unreadable while the leader is a zombie) */
	snprintf(path, sizeof(path), "/proc/%d/exe", e->pid);
	if (e->exe_ino && !stat(path, &sb) &&
	    ((uint64_t)sb.st_dev != e->exe_dev || (uint64_t)sb.st_ino != e->exe_ino))
		return false;
	/* an exec, even one whose event was lost, counts in BPF's entry */
	return !e->watched || (!collector_execs(lc->c, e->pid, &execs) && !execs);
}

/* ---- discovery --------------------------------------------------------- */

static void add_pending(struct lifecycle *lc, int pid, double now)
{
	for (int i = 0; i < lc->npending; i++)
		if (lc->pending[i].pid == pid)
			return;
	if (lc->npending == LIFECYCLE_PENDING_MAX) {
		lc->t->read_failures++;
		return;
	}
	lc->pending[lc->npending++] = (struct lc_pending){ pid, now + LIFECYCLE_PENDING_WAIT_S };
}

/* Discover pid and, if it runs CPython, take it. */
static enum discover_result consider(struct lifecycle *lc, int pid, bool just_execed, double now)
{
	struct proc_entry *e = table_find(lc->t, pid);
	char path[96];
	struct interp *in;
	enum discover_result r;

	if (!selected(lc, pid))
		return DISC_NOT_PYTHON;
	if (e) {
		if (lifecycle_same_process(lc, e))
			return DISC_PYTHON;
		release(lc, e, NULL); /* exited or exec'd, both events lost */
	}
	r = discover_pid(pid, just_execed, &in, path, sizeof(path));
	switch (r) {
	case DISC_PYTHON:
		if (!in->attach_tried) {
			int err = collector_attach_gc(lc->c, in, path);

			if (err && err != -ENOTSUP)
				lc->t->attach_failures++;
		}
		return take(lc, pid, in, just_execed, 0);
	case DISC_PENDING:
		add_pending(lc, pid, now);
		break;
	case DISC_GONE:
		lc->t->vanished++;
		break;
	case DISC_ERROR:
		lc->t->read_failures++;
		break;
	case DISC_NOT_PYTHON:
		break;
	}
	return r;
}

static int scan_cb(int pid, void *ctx)
{
	consider(ctx, pid, false, rate_now());
	return 0;
}

int lifecycle_scan(struct lifecycle *lc)
{
	return procfs_foreach_pid(scan_cb, lc);
}

int lifecycle_select(struct lifecycle *lc)
{
	for (int i = 0; i < lc->o.npids; i++) {
		int pid = lc->o.pids[i];
		double deadline = rate_now() + LIFECYCLE_PENDING_WAIT_S;
		struct proc_stat st;
		enum discover_result r;

		if (procfs_read_stat(pid, &st)) {
			log_error("PID %d: no such process", pid);
			return -ESRCH;
		}
		while ((r = consider(lc, pid, false, rate_now())) == DISC_PENDING &&
		       rate_now() < deadline)
			usleep(LIFECYCLE_PENDING_POLL_MS * 1000);
		if (r == DISC_GONE) {
			log_error("PID %d: exited during discovery", pid);
			return -ESRCH;
		}
		if (r != DISC_PYTHON) {
			log_error("PID %d (%s) is not a CPython process", pid, st.comm);
			return -EINVAL;
		}
	}
	lc->npending = 0;
	return 0;
}

void lifecycle_retry(struct lifecycle *lc, double now)
{
	int kept = 0;

	for (int i = 0; i < lc->npending; i++) {
		struct lc_pending p = lc->pending[i];

		if (table_find(lc->t, p.pid))
			continue;
		if (consider(lc, p.pid, true, now) == DISC_PENDING && now < p.deadline)
			lc->pending[kept++] = p;
	}
	lc->npending = kept;
}

bool lifecycle_busy(const struct lifecycle *lc)
{
	return lc->npending > 0;
}

static void forget_forked(struct lifecycle *lc, int pid)
{
	for (int i = 0; i < lc->nforked; i++)
		if (lc->forked[i].pid == pid) {
			lc->forked[i] = lc->forked[--lc->nforked];
			return;
		}
}

static void on_fork(struct lifecycle *lc, int pid, int ppid, uint64_t ts_ns)
{
	if (!selected(lc, pid))
		return;
	if (lc->nforked == LIFECYCLE_FORKED_MAX) {
		consider(lc, pid, false, rate_now());
		return;
	}
	lc->forked[lc->nforked++] = (struct lc_forked){ pid, ppid, ts_ns };
}

void lifecycle_event(const struct proc_event *ev, void *ctx)
{
	struct lifecycle *lc = ctx;
	struct proc_entry *e = table_find(lc->t, ev->pid);

	switch (ev->type) {
	case PMT_EV_EXEC:
		/* The old image (if taken) ends here; the new one may be
		 * Python or not. Libraries are not mapped yet, so look now and
		 * again shortly (pending). */
		forget_forked(lc, ev->pid);
		if (e)
			release(lc, e, ev);
		consider(lc, ev->pid, true, rate_now());
		break;
	case PMT_EV_EXIT:
		forget_forked(lc, ev->pid);
		if (e)
			release(lc, e, ev);
		break;
	case PMT_EV_FORK:
		on_fork(lc, ev->pid, ev->ppid, ev->ts_ns);
		break;
	}
}

/* Forked workers that are still the image their parent ran: the
 * parent's interpreter is theirs, so no ELF file is read again. */
static void take_forked(struct lifecycle *lc, double now)
{
	for (int i = 0; i < lc->nforked; i++) {
		struct lc_forked f = lc->forked[i];
		struct proc_entry *parent = table_find(lc->t, f.ppid);

		if (!selected(lc, f.pid) || table_find(lc->t, f.pid))
			continue;
		if (parent)
			take(lc, f.pid, parent->interp, false, f.ts_ns);
		else
			consider(lc, f.pid, false, now);
	}
	lc->nforked = 0;
}

/* Lost events mean processes we may not know: scan /proc again. */
static void rescan_if_events_lost(struct lifecycle *lc)
{
	uint64_t drops[PMT_DROP_NR];

	collector_read_drops(lc->c, drops);
	if (drops[PMT_DROP_RINGBUF_FULL] == lc->events_lost_seen)
		return;
	lc->events_lost_seen = drops[PMT_DROP_RINGBUF_FULL];
	log_warn("lifecycle events were lost; rescanning /proc");
	lifecycle_scan(lc);
}

void lifecycle_frame(struct lifecycle *lc, double now)
{
	take_forked(lc, now);
	for (struct proc_entry *e = lc->t->head; e; e = e->next) {
		if (e->exited || lifecycle_same_process(lc, e))
			continue;
		/* its exit or exec event was lost (or is still in the ring) */
		release(lc, e, NULL);
		consider(lc, e->pid, false, now);
	}
	rescan_if_events_lost(lc);
}

bool lifecycle_all_selected_gone(const struct lifecycle *lc)
{
	if (!lc->o.npids)
		return false;
	for (const struct proc_entry *e = lc->t->head; e; e = e->next)
		if (!e->exited)
			return false;
	return true;
}
