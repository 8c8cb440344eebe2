/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The ABI shared by the BPF programs (bpf/) and userspace (user/): map
 * keys and values, event records, cookies and drop-counter indices.
 * Fixed-width fields only, no pointers; every field states its unit.
 */
#ifndef PYMEMTOP_H
#define PYMEMTOP_H

#ifndef __VMLINUX_H__ /* userspace; BPF gets the types from vmlinux.h */
#include <linux/types.h>
#endif

#define PMT_NGEN     3 /* CPython GC generations */
#define PMT_COMM_LEN 16

/* Default map sizes; userspace can resize them before load. */
#define PMT_DEFAULT_MAX_PROCS	32768 /* mm_stats, gc_stats entries */
#define PMT_DEFAULT_MAX_THREADS 16384 /* threads inside the collector at once */
#define PMT_EVENTS_RB_BYTES	(256 * 1024)

/* mm_stats map: key = tgid (u32). Cumulative since exec or since pymemtop
 * started, whichever is later. */
struct pmt_mm_stats {
	__u64 mmap_calls; /* successful mmap(2) calls */
	__u64 mmap_bytes; /* bytes mapped by successful mmap(2), length as requested */
	__u64 munmap_calls; /* successful munmap(2) calls */
	__u64 munmap_bytes; /* bytes unmapped by successful munmap(2) */
	__u64 mremap_calls; /* successful mremap(2) calls */
	__u64 mremap_grow_bytes; /* new_len - old_len when a mapping grew */
	__u64 mremap_shrink_bytes; /* old_len - new_len when a mapping shrank */
	__u64 brk_calls; /* brk(2) calls, including queries (brk(0)) */
	__u64 brk_bytes; /* current brk heap size: mm->brk - mm->start_brk, bytes */
	__u64 brk_valid; /* 1 once brk_bytes has been set by a brk(2) exit */
};

/* gc_stats map: key = tgid (u32). */
struct pmt_gc_stats {
	__u64 collections[PMT_NGEN]; /* completed collections per generation */
	__u64 collected[PMT_NGEN]; /* objects collected + uncollectable found, per generation */
	__u64 time_ns[PMT_NGEN]; /* wall time inside the collector, ns */
	__u64 unknown_gen; /* collections whose generation could not be decoded */
};

/* gc_inflight map: key = thread id (u32 pid) of a thread inside the
 * collector. */
struct pmt_gc_inflight {
	__u64 start_ns; /* bpf_ktime_get_ns() at collector entry */
	__u64 stats_addr; /* PMT_GC_GEN_STATS_DIFF: user address of generation_stats[] */
	__u64 before[PMT_NGEN]; /* PMT_GC_GEN_STATS_DIFF: collections before */
	__s32 generation; /* -1 when decided at exit */
	__u32 pad;
};

/*
 * GC uprobe cookie: how the generation being collected is found.
 * Low 4 bits: kind. For PMT_GC_GEN_STATS_DIFF the remaining bits hold the
 * signed distance, in bytes, from the probed instruction to the GC
 * state's generation_stats[] array (same ELF file, so constant), used for
 * builds where the collector exists only as .constprop clones with an
 * unknown argument layout: the generation is the one whose collection
 * counter went up.
 */
enum pmt_gc_gen_kind {
	PMT_GC_GEN_ARG1 = 1, /* generation is the 1st integer argument */
	PMT_GC_GEN_ARG2 = 2, /* generation is the 2nd integer argument */
	PMT_GC_GEN_STATS_DIFF = 3,
};
#define PMT_GC_COOKIE_KIND(c)	   ((c)&0xf)
#define PMT_GC_COOKIE_DELTA(c)	   ((__s64)(c) >> 4)
#define PMT_GC_COOKIE(kind, delta) ((((__u64)(delta)) << 4) | (kind))
/* generation_stats[i].collections is at +i*24 (struct gc_generation_stats). */
#define PMT_GC_STATS_STRIDE 24

/* Ring buffer events (process lifecycle). */
enum pmt_event_type {
	PMT_EV_EXEC = 1, /* a process called execve; userspace decides if it is Python */
	PMT_EV_EXIT = 2, /* a watched process exited; final counters included */
	PMT_EV_FORK = 3, /* a watched process forked a new process (not a thread) */
};

struct pmt_event {
	__u32 type; /* enum pmt_event_type */
	__u32 pid; /* tgid */
	__u64 ts_ns; /* bpf_ktime_get_ns() */
	char comm[PMT_COMM_LEN];
	__u32 has_mm; /* mm holds the final mm_stats (EXIT only) */
	__u32 has_gc; /* gc holds the final gc_stats (EXIT only) */
	__u32 ppid; /* FORK: the watched parent's tgid; else 0 */
	__u32 reserved;
	struct pmt_mm_stats mm;
	struct pmt_gc_stats gc;
};

/* watched map: key = tgid, value = enum below. Written by userspace. */
#define PMT_WATCH_PYTHON 1

/* Counters in .bss, one slot per way of losing data. */
enum pmt_drop {
	PMT_DROP_MM_MAP_FULL, /* mm_stats update failed: raise --max-procs */
	PMT_DROP_GC_MAP_FULL, /* gc_stats update failed: raise --max-procs */
	PMT_DROP_GC_INFLIGHT_FULL, /* GC stash full: raise --max-threads */
	PMT_DROP_GC_UNMATCHED, /* GC exit without a recorded entry (attached mid-collection) */
	PMT_DROP_RINGBUF_FULL, /* lifecycle event lost: ring buffer full */
	PMT_DROP_READ_FAILED, /* bpf_probe_read_user failed (GC stats diff) */
	PMT_DROP_WATCHED_FULL, /* forked child not watched: raise --max-procs */
	PMT_DROP_NR,
};

#endif /* PYMEMTOP_H */
