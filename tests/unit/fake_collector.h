/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * A collector without BPF, for the lifecycle and table tests: the
 * per-process BPF entries, the site maps and the uprobe links are plain
 * arrays the test can read and change (as BPF would: an exec bumps a
 * watched entry's count, a sample adds a key). It implements every
 * function of user/collector.h; the tests link it instead of
 * collector.o.
 */
#ifndef PMT_FAKE_COLLECTOR_H
#define PMT_FAKE_COLLECTOR_H

#include <stdbool.h>
#include <stdint.h>
#include "collector.h"

#define FAKE_PROCS 64
#define FAKE_KEYS  4096

struct fake_proc {
	int pid; /* 0: free slot */
	bool watched;
	struct pmt_watch watch;
	bool sites_cfg, precise_cfg, precise, flow;
	struct pmt_sites_cfg scfg;
	bool has_mm;
	struct pmt_mm_stats mm;
};

struct collector {
	struct fake_proc procs[FAKE_PROCS];
	struct pmt_site_key keys[FAKE_KEYS];
	struct pmt_site_counts counts[FAKE_KEYS];
	int nkeys;
	int live_links; /* uprobe links attached and not detached */
	int sites_reads; /* walks over the whole site map */
	int key_deletes;
	int gc_attaches;
	int watch_fail; /* collector_watch fails this many more times */
	uint64_t drops[PMT_DROP_NR];
};

/* The slot of pid, or NULL (create: a new one). */
struct fake_proc *fake_proc(struct collector *c, int pid, bool create);
/* A sampled stack of (pid, image): what BPF's site programs add. */
void fake_add_key(struct collector *c, int pid, uint32_t image, uint64_t hash, uint64_t bytes);
int fake_keys_of(const struct collector *c, int pid);

#endif
