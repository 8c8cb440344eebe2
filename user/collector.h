/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The BPF side as userspace sees it: load the skeleton, attach the
 * host-wide tracepoints and the per-interpreter GC probes, read and clean
 * the per-process maps, drain lifecycle events. The only module that
 * calls bpf_map_* / bpf_program__attach_*.
 */
#ifndef PMT_COLLECTOR_H
#define PMT_COLLECTOR_H

#include <stdbool.h>
#include <stdint.h>
#include "discover.h"
#include "options.h"
#include "pymemtop.h"

struct collector;

/* Checks privileges and BTF, mounts tracefs if needed, loads and attaches.
 * -EPERM, -ENOENT (no BTF), or another -errno; a one-line message has been
 * logged. */
int collector_open(const struct env *env, struct collector **out);
void collector_close(struct collector *c); /* NULL-safe; detaches everything */

/* Attach GC probes to an interpreter file once (later calls are no-ops).
 * Failure is recorded in in->attach_err/gc_reason and returned. */
int collector_attach_gc(struct collector *c, struct interp *in, const char *path);

/* Take pid: its exec and exit send its final counters, and the
 * processes it forks are watched from birth. Its BPF entry counts its
 * execs from here (collector_execs). */
int collector_watch(struct collector *c, int pid);
/* How many execs BPF has seen pid make since collector_watch(): 0, and
 * -ENOENT when it has no entry (it exited, or was never taken). */
int collector_execs(struct collector *c, int pid, uint32_t *execs);
/* Free the per-process entries of a taken pid that BPF does not free
 * itself: its watched entry after an exec, its --precise counts, and
 * its configuration (--precise, sites) and pool-refill counts when its
 * events were lost. Its probes must be gone first. mm and GC counters
 * are BPF's (freed at exit, restarted at exec); sampled stacks are
 * freed by key (collector_sites_delete). */
void collector_release(struct collector *c, int pid);
/* The --precise object samples pid left in precise_objs (a walk of the
 * map: for --precise processes only). */
void collector_release_objs(struct collector *c, int pid);

/* Per-process uprobes (the pid filter keeps other processes that map the
 * same file at zero cost). path opens the interpreter file; offsets are
 * file offsets. Links come back as opaque pointers for
 * collector_detach(). */
int collector_attach_refill(struct collector *c, int pid, const char *path, uint64_t offset,
			    int arg, void **link);
/* --precise: one uprobe per allocator function (links[PYHEAP_PRECISE_NFN]),
 * and the arena-array location for sizing frees. */
int collector_attach_precise(struct collector *c, int pid, const char *path,
			     const uint64_t offsets[PYHEAP_PRECISE_NFN],
			     const struct pmt_precise_cfg *cfg, void **links);
/* --precise object samples whose block is known at a return: uretprobes
 * on the raw allocator's malloc and calloc (large requests) and on
 * _PyObject_Realloc; offsets 0 are skipped. The number of links made
 * (links[PMT_PRECISE_RET_NFN]), or a negative errno (none kept). */
#define PMT_PRECISE_RET_NFN 3
int collector_attach_precise_ret(struct collector *c, int pid, const char *path,
				 const uint64_t offsets[PMT_PRECISE_RET_NFN], void **links);
/* --precise where per-call probes are refused: instance samples, uprobes
 * on PyType_GenericAlloc, PyObject_GC_Del, PyObject_Free and a uretprobe
 * on PyType_GenericAlloc (links[4]), with cfg's sampler. */
int collector_attach_instances(struct collector *c, int pid, const char *path,
			       const uint64_t offsets[3], const struct pmt_precise_cfg *cfg,
			       void **links);
void collector_detach(void **links, int n); /* NULL entries are fine */
/* What one --precise probe hit costs here, in seconds: a uprobe of the
 * same kind on a function of pymemtop itself, timed with and without. */
int collector_measure_precise(struct collector *c, double *alloc_s, double *free_s);

/* 0, or -ENOENT when the process has no entry (nothing counted yet). */
int collector_read_mm(struct collector *c, int pid, struct pmt_mm_stats *out);
int collector_read_gc(struct collector *c, int pid, struct pmt_gc_stats *out);
int collector_read_flow(struct collector *c, int pid, struct pmt_heap_flow *out);
int collector_read_precise(struct collector *c, int pid, struct pmt_precise_stats *out);
void collector_read_drops(struct collector *c, uint64_t out[PMT_DROP_NR]);

/* Allocation sites (sites.c): the per-process walker configuration
 * (freed by collector_release); a walk over all counted stacks; the
 * frames of one; the removal of stacks by key (counts and frames). */
int collector_sites_set(struct collector *c, int pid, const struct pmt_sites_cfg *cfg);
void collector_sites_delete(struct collector *c, const struct pmt_site_key *k);
typedef void (*collector_site_cb)(const struct pmt_site_key *k, const struct pmt_site_counts *cnt,
				  void *ctx);
int collector_sites_read(struct collector *c, collector_site_cb cb, void *ctx);
int collector_sites_stack(struct collector *c, const struct pmt_site_key *k,
			  struct pmt_site_stack *out);

/* A lifecycle event, as BPF's records (include/pymemtop.h) add up to:
 * the final counters of a taken process (EXIT, EXEC) where has_*. */
struct proc_event {
	int type; /* PMT_EV_EXEC, PMT_EV_EXIT, PMT_EV_FORK */
	int pid, ppid; /* ppid: FORK only */
	uint64_t ts_ns; /* bpf_ktime_get_ns() (CLOCK_MONOTONIC) */
	bool has_mm, has_gc, has_flow;
	struct pmt_mm_stats mm;
	struct pmt_gc_stats gc;
	struct pmt_heap_flow flow;
};

typedef void (*collector_event_cb)(const struct proc_event *ev, void *ctx);
/* Wait up to timeout_ms for lifecycle events and deliver them. Returns the
 * number handled, or -EINTR when a signal arrived. */
int collector_poll(struct collector *c, int timeout_ms, collector_event_cb cb, void *ctx);

/* Site samples (struct pmt_site_sample), delivered by collector_poll to
 * cb as they come. */
typedef void (*collector_sample_cb)(const struct pmt_site_sample *s, void *ctx);
void collector_on_sample(struct collector *c, collector_sample_cb cb, void *ctx);

/* The fd to poll(2) for events (then collector_poll with timeout 0). */
int collector_fd(struct collector *c);

/* Kernel BPF run-time statistics (BPF_ENABLE_STATS), on until
 * collector_close; they cost every BPF program on the host two clock
 * reads per run, so only the live display, which shows them, asks. */
int collector_enable_stats(struct collector *c);
/* Run time and runs of pymemtop's programs since they were loaded (only
 * runs while stats were on are counted). -ENODATA when stats are off. */
int collector_bpf_runtime(struct collector *c, uint64_t *run_ns, uint64_t *run_cnt);

/* Names of the drop counters for output ("mm_map_full", ...). */
const char *collector_drop_name(int i);
/* The option that would avoid this drop, or NULL. */
const char *collector_drop_hint(int i);

#endif
