/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Process lifecycle: which CPython processes are in the table, from
 * their discovery to their release. One module holds the whole state
 * machine:
 *
 *   /proc scan, exec event ──> discover ──> (pending: libpython not
 *   fork event of a taken one ──────┐        mapped yet, retried 2 s)
 *                                   v
 *                         take: table entry, BPF watch, probes,
 *                               sites and --precise configuration
 *                                   │
 *   exit/exec event, or identity ───┤   (pid, start time, executable
 *   changed at a frame              v    dev/ino, exec count)
 *                         release: last counts read, probes detached,
 *                               every BPF entry of the pid freed;
 *                               reported once more, then reaped with
 *                               its sampled stacks (freed by key)
 *
 * Each table entry owns what was taken for it (its uprobes, its BPF
 * entries, its site keys, which carry its image id) and releases them
 * itself; nothing walks a whole map to find a process's entries.
 */
#ifndef PMT_LIFECYCLE_H
#define PMT_LIFECYCLE_H

#include <stdbool.h>
#include <stdint.h>
#include "collector.h"
#include "table.h"

#define LIFECYCLE_PENDING_MAX	  1024
#define LIFECYCLE_PENDING_WAIT_S  2.0 /* how long an exec'd binary may take to map libpython */
#define LIFECYCLE_PENDING_POLL_MS 20
#define LIFECYCLE_FORKED_MAX	  1024

struct lifecycle_opts {
	const int *pids; /* -p: only these (npids 0: every process) */
	int npids;
	bool precise, refills; /* --precise, --pool-refills */
};

/* A PID whose new image links libpython that is not mapped yet. */
struct lc_pending {
	int pid;
	double deadline;
};

/* A process forked by a taken one, taken at the next frame unless it
 * execs or exits first (a fork+exec is not a Python worker). */
struct lc_forked {
	int pid, ppid;
	uint64_t ts_ns; /* when, bpf_ktime_get_ns() (CLOCK_MONOTONIC) */
};

struct lifecycle {
	struct table *t;
	struct collector *c;
	struct lifecycle_opts o;
	struct lc_pending pending[LIFECYCLE_PENDING_MAX];
	int npending;
	struct lc_forked forked[LIFECYCLE_FORKED_MAX];
	int nforked;
	uint64_t events_lost_seen; /* the ring's drop counter at the last rescan */
	uint32_t next_image; /* image ids given to taken processes (never 0) */
};

void lifecycle_init(struct lifecycle *lc, struct table *t, struct collector *c,
		    const struct lifecycle_opts *o);
/* Every process in /proc. 0 or -errno (the scan failed). */
int lifecycle_scan(struct lifecycle *lc);
/* -p: every selected PID must exist and run CPython; else a one-line
 * error is logged and -ESRCH / -EINVAL returned. */
int lifecycle_select(struct lifecycle *lc);
/* collector_poll()'s callback (ctx: the lifecycle). */
void lifecycle_event(const struct proc_event *ev, void *ctx);
/* Look again at PIDs whose libpython was not mapped yet. */
void lifecycle_retry(struct lifecycle *lc, double now);
/* Lookups are waiting: poll more often than once a frame. */
bool lifecycle_busy(const struct lifecycle *lc);
/* Before a frame is sampled: take the forked workers, rescan /proc when
 * events were lost, and release every entry that is no longer the
 * process it was taken as (exited, or exec'd with its event lost). */
void lifecycle_frame(struct lifecycle *lc, double now);
/* After a frame: free the entries reported as exited, with their site
 * keys. */
void lifecycle_reap(struct lifecycle *lc);
/* -p given and every selected process has exited. */
bool lifecycle_all_selected_gone(const struct lifecycle *lc);
/* Release every entry (at exit: no probe stays behind). */
void lifecycle_free(struct lifecycle *lc);

/* Is e still the process it was taken as? Same PID and start time,
 * running (a zombie leader whose threads run on counts), the same
 * executable (dev/ino), and no exec since (BPF's count). */
bool lifecycle_same_process(const struct lifecycle *lc, const struct proc_entry *e);

#endif
