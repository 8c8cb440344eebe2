/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The per-process table, refreshed every interval (htop-style prepare ->
 * scan -> cleanup): /proc values and BPF counters per CPython process,
 * the previous sample for rates. Which processes are in it, and what
 * each owns, is lifecycle.c's: processes that exit are released there,
 * reported once more, then removed.
 */
#ifndef PMT_TABLE_H
#define PMT_TABLE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "collector.h"
#include "discover.h"
#include "growth.h"
#include "heaptypes.h"
#include "pymemtop.h"

#define TABLE_CMDLINE_LEN  4096
#define TYPES_HIST_N	   5 /* heap_types kept for growth by type: 60 s at 15 s steps */
#define TYPES_HIST_STEP_S  15.0
#define TYPES_GROWTH_MIN_S 30.0 /* growth is told over at least this span */
/* heap_types is read at most every TYPES_EVERY_S per process, and takes
 * at most 1/TYPES_DUTY_INV of the time: it classifies ~50 000 blocks
 * (measured: 50 idle processes at -d 1, pymemtop 2.9% of a core at 10 s,
 * 1.8% at 30 s) */
#define TYPES_EVERY_S  30.0
#define TYPES_DUTY_INV 200

struct proc_sample {
	double t; /* CLOCK_MONOTONIC seconds */
	bool has_status; /* rss/anon/swap valid */
	uint64_t rss_bytes, anon_bytes, swap_bytes;
	struct pmt_mm_stats mm; /* zeros when BPF has counted nothing yet */
	struct pmt_gc_stats gc;
	struct pyheap_snapshot heap; /* the last consistent snapshot */
	bool heap_valid; /* heap holds one */
	double heap_t; /* when it was taken (CLOCK_MONOTONIC seconds) */
	struct pyheap_gc gcs; /* the GC state read this frame (ok/stats_ok say what is valid) */
	struct pmt_heap_flow flow; /* pool refills (zeros until the first) */
	struct pmt_precise_stats precise; /* --precise counts */
};

#define PROC_MAX_LINKS (PYHEAP_PRECISE_NFN + 3) /* --precise: and 3 return probes */

struct proc_entry {
	/* identity (lifecycle_same_process): pid, start time, executable,
	 * and no exec since it was taken (BPF counts them when watched) */
	int pid, ppid;
	uint64_t start_ticks; /* /proc/PID/stat field 22 */
	uint64_t exe_dev, exe_ino; /* /proc/PID/exe's file; 0: not readable */
	bool watched; /* BPF's watched entry was written (its exec count is read) */
	uint32_t image; /* unique per taken image: its site keys carry it */
	double start_time; /* unix seconds */
	uid_t uid;
	char comm[64];
	char cmdline[TABLE_CMDLINE_LEN];
	char command[256]; /* what the process is: cmdlabel() of its argv */
	char container[16]; /* container ID (12 hex digits), "" on the host */
	struct interp *interp;
	uint64_t heap_at_discovery; /* [heap] mapping size, bytes, before BPF saw a brk */
	bool exited; /* released: reported once more in the next frame, then reaped */
	bool has_final; /* final_* came with the exit event */
	struct pmt_mm_stats final_mm;
	struct pmt_gc_stats final_gc;
	struct proc_sample cur, prev;
	/* size over the last minute: heap_live_bytes (per new snapshot), RSS */
	struct growth heap_growth, rss_growth;
	struct history hist; /* heap arena bytes and RSS per frame */
	bool has_prev;
	uint64_t bias; /* load bias of the interpreter file in this process */
	int bias_err; /* 0 once bias is known */
	double heap_next; /* no snapshot before this (bounds their cost) */
	double heap_defer_since; /* first walk put off in a row (0: none) */
	bool arenas_base_ok; /* ntimes_arena_allocated at the first snapshot */
	uint64_t arenas_base;
	uint64_t arenas_mmaps; /* cur.mm.mmap_calls when cur.heap.arenas_allocated was read */
	/* CPython's GC statistics are counted from: zero for an image exec'd
	 * since pymemtop started (image_fresh), the fork for a forked worker
	 * (fork_ns; 3.15's ring buffers date each collection), else the
	 * first read */
	bool gc_base_ok;
	struct pyheap_gc gc_base;
	bool image_fresh;
	uint64_t fork_ns; /* CLOCK_MONOTONIC ns; 0: not forked from a watched process */
	char probe_path[64]; /* /proc/PID/map_files/... of the interpreter file */
	/* Owned per-process uprobes: the pool refill, or in --precise mode
	 * the allocator functions. */
	void *links[PROC_MAX_LINKS];
	int nlinks;
	int flow_err; /* 0: refill probe attached; -ENOTSUP: none in this build */
	bool precise; /* --precise probes attached */
	bool precise_objects; /* and object samples (PMT_SITES_F_OBJECTS) */
	int precise_err; /* why --precise was refused (-ENOTSUP: see layout) */
	bool has_final_flow, has_final_precise;
	struct pmt_heap_flow final_flow;
	struct pmt_precise_stats final_precise;
	struct sites_proc *sites; /* allocation sites, NULL when not sampled */
	/* the live heap by type, from the last snapshot's sampled pools */
	struct heap_types types;
	struct ht_cache types_cache;
	double types_t, types_next; /* when types was read; no read before types_next */
	/* earlier results, one every TYPES_HIST_STEP_S, for growth by type */
	struct heap_types *types_hist[TYPES_HIST_N];
	double types_hist_t[TYPES_HIST_N];
	int types_nh;
	struct pmt_sites_cfg sites_cfg; /* what its BPF entry says (when sites) */
	char sites_reason[224]; /* why sites is NULL */
	struct proc_entry *next;
};

struct table {
	struct proc_entry *head;
	int count;
	/* Userspace errors, cumulative. */
	uint64_t read_failures; /* /proc or map read failed for a live process */
	uint64_t vanished; /* processes that went away between discovery steps */
	uint64_t attach_failures; /* interpreter files whose GC probes failed */
	uint64_t heap_attach_failures; /* processes whose refill/--precise probes failed */
	uint64_t out_of_memory; /* processes not taken, or data not kept, for want of memory */
	struct pyheap_stats heap_stats; /* out-of-process heap snapshots */
	struct pyheap_census *census; /* scratch: one snapshot's pool labels (heaptypes.c) */
	struct collector *col; /* for per-process reads; NULL in tests */
	/* --precise: measured cost of one probed allocator call, seconds */
	bool precise_cost_ok;
	double precise_alloc_s, precise_free_s;
	/* allocation sites: sampled (default), frames per sample, walks per
	 * second per process at arenas and malloc growth (0: no limit) */
	bool sites;
	int sites_depth;
	unsigned int sites_max_rate;
};

/* The entry of pid that is not released, or NULL. */
struct proc_entry *table_find(struct table *t, int pid);
/* Add a CPython process running in; reads its identity and command
 * from /proc. -ESRCH if it is gone, -ENOMEM. */
int table_add(struct table *t, int pid, struct interp *in, struct proc_entry **out);
/* Sample every entry (released ones get their final counters). */
void table_refresh(struct table *t, struct collector *c, double now);
/* Free released entries, after they were reported in a frame. */
void table_reap(struct table *t);
/* collector_on_sample's callback (ctx: the table): a site sample whose
 * object its process's sites follow. */
void table_site_sample(const struct pmt_site_sample *s, void *ctx);
void table_free(struct table *t);

/* brk heap size: BPF's value once it saw a brk(2), else /proc's. */
uint64_t table_brk_bytes(const struct proc_entry *e);

#endif
