/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Allocation sites: which Python lines grow a process's heap.
 *
 * The BPF side (bpf/sites.bpf.h) records the allocating thread's Python
 * stack at events that each stand for a known number of bytes (a pool
 * refill, a new arena, malloc heap growth), as (code pointer, instruction,
 * fingerprint) frames. This module tells it where the frames are in each
 * process (sites_layout_find, sites_cfg), names the frames out of process
 * with pycode.c (cache per process keyed by code pointer and fingerprint,
 * so a freed and reused code object is never named wrongly), and keeps
 * per-stack byte totals with a 60-second recent window for the output.
 */
#ifndef PMT_SITES_H
#define PMT_SITES_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include "elf_file.h"
#include "model.h"
#include "pycode.h"
#include "pyheap.h"
#include "pymemtop.h"
#include "python.h"

#define SITES_RECENT_S	 60.0 /* the recent window */
#define SITES_LIVE_MAX	 65536 /* samples followed per process */
#define SITES_LIVE_CHECK 4096 /* samples checked per heap snapshot (sites.c, pick_checks) */

/* Per interpreter file: where the walker finds a thread's frames. */
struct sites_layout {
	bool ok;
	char reason[200]; /* why !ok */
	int major, minor;
	uint64_t runtime; /* vaddr of _PyRuntime */
	struct pycode_layout code; /* its code objects, from the layout registry */
	struct pycode_types types; /* vaddrs of PyCode_Type, PyUnicode_Type, PyBytes_Type */
	struct pmt_sites_cfg cfg; /* offsets; tstate_ptr relative to _PyRuntime */
};

void sites_layout_find(const struct elf_file *ef, const struct py_info *pi,
		       struct sites_layout *out);

/* The BPF configuration for one process: depth frames, at most max_rate
 * walks per second at arenas and malloc growth (0: no limit); flags:
 * PMT_SITES_F_REFILL, its pool refills are probed (then arenas are not
 * sampled); PMT_SITES_F_OBJECTS, --precise samples objects (nothing
 * else is sampled). */
void sites_cfg(const struct sites_layout *l, const struct pyheap_layout *heap, uint64_t bias,
	       int depth, unsigned int max_rate, uint32_t flags, struct pmt_sites_cfg *out);

struct sites_proc; /* one process's sites */

/* cfg: what sites_cfg() gave for the process (what its BPF side samples). */
struct sites_proc *sites_proc_new(int pid, const struct sites_layout *l, uint64_t bias,
				  const struct pmt_sites_cfg *cfg, double now);
void sites_proc_free(struct sites_proc *sp); /* NULL-safe */

/* The counts of one BPF key. st: its frames when the key is new to sp
 * (sites_proc_has() false), else NULL. */
bool sites_proc_has(const struct sites_proc *sp, const struct pmt_site_key *k);
void sites_proc_update(struct sites_proc *sp, const struct pmt_site_key *k,
		       const struct pmt_site_counts *c, const struct pmt_site_stack *st);
/* Every BPF key sp has counts of (to free them). */
void sites_proc_foreach_key(const struct sites_proc *sp,
			    void (*cb)(const struct pmt_site_key *k, void *ctx), void *ctx);
/* A sample's record (site_samples ring): its object is followed from now
 * on (arena and malloc-mapping samples; others are not followable). 0,
 * -ENOMEM (not followed, counted). */
int sites_proc_add_sample(struct sites_proc *sp, const struct pmt_site_sample *smp);
/* Whether the followed samples' objects still live (at a heap snapshot:
 * r is the process's layout row, pool_size its pools'): an arena
 * sample's object is the first block of the arena's first pool, alive
 * while that block holds what it held when first seen; a malloc sample's
 * while its mapping can be read. 0, -ESRCH, -ENOMEM. */
int sites_proc_check_live(struct sites_proc *sp, const struct reg_layout *r, uint32_t pool_size);
/* Look at the newest sample's object now, while the allocation that
 * asked for its arena is likely still alive (what is kept as its identity
 * is what its block holds when first looked at). 0 or -ESRCH. */
int sites_proc_look_newest(struct sites_proc *sp, const struct reg_layout *r, uint32_t pool_size);

/* Advance the recent window (call once per interval). */
void sites_proc_tick(struct sites_proc *sp, double now);

/* The top sites by estimated bytes into *out (names point into sp's code
 * cache: valid until sp is next updated or freed); the count, or -ENOMEM
 * (nothing kept). Freed with sites_top_free(). */
int sites_proc_top(const struct sites_proc *sp, int top, enum sites_order order,
		   struct pm_site **out);
void sites_top_free(struct pm_site *s, int n);
void sites_proc_totals(const struct sites_proc *sp, uint64_t *bytes, uint64_t *samples,
		       uint64_t *recent_bytes, uint64_t *recent_samples);
double sites_proc_recent_seconds(const struct sites_proc *sp, double now);
/* The live bytes and samples over all sites; false when nothing is
 * followed yet (no check ran, or no followable sample). */
bool sites_proc_live_totals(const struct sites_proc *sp, uint64_t *bytes, uint64_t *samples);
/* "pool_refill+malloc", "arena+malloc", "object" or "instance" (LTO --precise). */
const char *sites_proc_source(const struct sites_proc *sp);

/* Collapsed stacks ("root;outer (file:line);...;inner (file:line) bytes"),
 * one line per distinct stack text (sorted), for flame graph tools; the
 * bytes still live in the stack's samples (SITES_BY_LIVE; the flow when
 * none of the process's samples can be followed), or the flow. */
void sites_proc_folded(const struct sites_proc *sp, const char *root, enum sites_order order,
		       FILE *out);

#endif
