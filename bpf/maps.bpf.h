/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Maps and counters shared by the .bpf.c files of the one pymemtop
 * skeleton. proc.bpf.c defines them (PMT_DEFINE_MAPS); the other files
 * see them as externs that `bpftool gen object` resolves at link time.
 * Sizes are defaults: userspace resizes with bpf_map__set_max_entries().
 */
#ifndef PMT_MAPS_BPF_H
#define PMT_MAPS_BPF_H

#include "pymemtop.h"

#ifdef PMT_DEFINE_MAPS
#define PMT_SHARED
#else
#define PMT_SHARED extern
#endif

/* tgid -> struct pmt_mm_stats, every process on the host. Full: the
 * update fails and PMT_DROP_MM_MAP_FULL counts it. Freed at exit/exec. */
PMT_SHARED struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PMT_DEFAULT_MAX_PROCS);
	__type(key, __u32);
	__type(value, struct pmt_mm_stats);
} mm_stats SEC(".maps");

/* tgid -> struct pmt_gc_stats, processes running a probed interpreter. */
PMT_SHARED struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PMT_DEFAULT_MAX_PROCS);
	__type(key, __u32);
	__type(value, struct pmt_gc_stats);
} gc_stats SEC(".maps");

/* tid -> collector entry state between GC start and GC done. */
PMT_SHARED struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PMT_DEFAULT_MAX_THREADS);
	__type(key, __u32);
	__type(value, struct pmt_gc_inflight);
} gc_inflight SEC(".maps");

/* tgid -> struct pmt_watch: processes userspace has taken (their exit
 * and exec send the final counters), and those forked by them; exec
 * marks and counts, exit frees (proc.bpf.c). */
PMT_SHARED struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PMT_DEFAULT_MAX_PROCS);
	__type(key, __u32);
	__type(value, struct pmt_watch);
} watched SEC(".maps");

/* tgid -> struct pmt_heap_flow: pool refills of processes with a refill
 * uprobe (attached per process). Allocated on first refill (no
 * preallocation: few processes have one). Full: PMT_DROP_FLOW_MAP_FULL.
 * Freed at exit/exec. */
PMT_SHARED struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PMT_DEFAULT_MAX_PROCS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, struct pmt_heap_flow);
} heap_flow SEC(".maps");

/* tgid -> struct pmt_precise_stats, --precise processes only. Full:
 * PMT_DROP_FLOW_MAP_FULL. Freed by userspace after the last read (it
 * detaches the probes first). */
PMT_SHARED struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PMT_MAX_PRECISE);
	__type(key, __u32);
	__type(value, struct pmt_precise_stats);
} precise SEC(".maps");

/* tgid -> struct pmt_precise_cfg, written by userspace for --precise
 * processes. */
PMT_SHARED struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PMT_MAX_PRECISE);
	__type(key, __u32);
	__type(value, struct pmt_precise_cfg);
} precise_cfg SEC(".maps");

/* (tgid, block) -> struct pmt_obj: the --precise object samples whose
 * blocks are not freed yet. Full: the sample counts in its site's flow,
 * not followed (PMT_DROP_OBJS_FULL). An entry goes when its block is
 * freed or reallocated; userspace removes a process's at its exit. */
PMT_SHARED struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PMT_PRECISE_OBJS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct pmt_obj_key);
	__type(value, struct pmt_obj);
} precise_objs SEC(".maps");

/* thread id -> struct pmt_obj: an object sample whose block is known at a
 * return (of the raw allocator for a large request, of _PyObject_Realloc,
 * of PyType_GenericAlloc for an instance sample). LRU: a thread that died
 * in between leaves an entry the next ones push out. */
PMT_SHARED struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, PMT_DEFAULT_MAX_THREADS);
	__type(key, __u32);
	__type(value, struct pmt_obj);
} precise_raw SEC(".maps");

/* tgid -> struct pmt_sites_cfg, written by userspace for the processes
 * whose allocation sites are sampled (all Python processes by default). */
PMT_SHARED struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PMT_DEFAULT_MAX_PROCS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, struct pmt_sites_cfg);
} sites_cfg SEC(".maps");

/* struct pmt_site_key -> counts and -> frames, one entry per distinct
 * (process, kind, stack). Full: the sample is lost and
 * PMT_DROP_SITES_FULL counts it. Freed by userspace when the process
 * goes. */
PMT_SHARED struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PMT_DEFAULT_SITE_STACKS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct pmt_site_key);
	__type(value, struct pmt_site_counts);
} site_counts SEC(".maps");

PMT_SHARED struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PMT_DEFAULT_SITE_STACKS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct pmt_site_key);
	__type(value, struct pmt_site_stack);
} site_stacks SEC(".maps");

/* Per-CPU room to build a stack (too big for the BPF stack). */
PMT_SHARED struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pmt_site_stack);
} site_scratch SEC(".maps");

/* Site samples to userspace (struct pmt_site_sample), for their
 * objects' liveness. Full: PMT_DROP_SAMPLES_FULL (the sample still
 * counts in site_counts; its liveness is not followed). */
PMT_SHARED struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, PMT_SITE_SAMPLES_RB_BYTES);
} site_samples SEC(".maps");

/* (tgid, address) -> length of a mapping whose sample went to site_samples
 * (an arena, a large malloc chunk), so that only their munmaps follow it:
 * a munmap of every large mapping cost 1.9x on 60 000 mmap.mmap() +
 * close() a run (make bench, mmap churn, Debian 3.11), each a ring record
 * and a wakeup of pymemtop. Deleted at that munmap. LRU, full: the oldest
 * is forgotten and its munmap not sent; userspace still finds its sample
 * dead when another object is seen at its address (metrics.md). */
PMT_SHARED struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, PMT_SITE_MAPS);
	__type(key, struct pmt_obj_key);
	__type(value, __u64);
} site_maps SEC(".maps");

/* Process lifecycle events to userspace. Full: PMT_DROP_RINGBUF_FULL. */
PMT_SHARED struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, PMT_EVENTS_RB_BYTES);
} events SEC(".maps");

/* One counter per way of losing data (enum pmt_drop); read from .bss. */
PMT_SHARED __u64 drops[PMT_DROP_NR];

static __always_inline void drop(enum pmt_drop what)
{
	if (what < PMT_DROP_NR)
		__sync_fetch_and_add(&drops[what], 1);
}

/* Look up key in map, inserting a zeroed value first if absent. NULL (and
 * a counted drop) when the map is full. */
static __always_inline void *lookup_or_init(void *map, __u32 key, const void *zero,
					    enum pmt_drop on_full)
{
	void *val = bpf_map_lookup_elem(map, &key);

	if (val)
		return val;
	/* -EEXIST means another CPU inserted it first: fine. */
	if (bpf_map_update_elem(map, &key, zero, BPF_NOEXIST) && !bpf_map_lookup_elem(map, &key)) {
		drop(on_full);
		return NULL;
	}
	return bpf_map_lookup_elem(map, &key);
}

#endif /* PMT_MAPS_BPF_H */
