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
#define PMT_MAX_PRECISE		64 /* --precise processes (= the -p limit) */

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

/* Size classes of pymalloc (512-byte threshold, 16-byte alignment), and
 * one more slot for requests it hands to the raw allocator (0 bytes or
 * more than 512). */
#define PMT_NCLASSES	 32
#define PMT_NBUCKETS	 (PMT_NCLASSES + 1)
#define PMT_BUCKET_OTHER PMT_NCLASSES

/* heap_flow map: key = tgid (u32). Pool refills (allocate_from_new_pool)
 * per size class, from a uprobe attached to that process only. */
struct pmt_heap_flow {
	__u64 refills[PMT_NCLASSES]; /* pools put into service per size class */
};

/* precise map: key = tgid (u32), written only in --precise mode by
 * uprobes on the object allocator's functions. Calls, not outcomes: an
 * allocation that fails still counts. */
struct pmt_precise_stats {
	__u64 allocs[PMT_NBUCKETS]; /* malloc/calloc/realloc(NULL) calls by request size class */
	__u64 alloc_bytes; /* bytes requested by those calls */
	__u64 reallocs; /* realloc of an existing block */
	__u64 realloc_bytes; /* new sizes requested by those reallocs */
	__u64 frees[PMT_NBUCKETS]; /* free(non-NULL) by the block's pool size class;
				    * PMT_BUCKET_OTHER: not a pymalloc block */
};

/* precise_cfg map: key = tgid. Where the process keeps pymalloc's arena
 * array, so that a freed pointer can be sized from its pool header the
 * way CPython's address_in_range() does. Written by userspace. */
#define PMT_PRECISE_NESTED 4
struct pmt_precise_cfg {
	__u64 arenas_var; /* user address of the `arenas` pointer */
	__u64 maxarenas_var; /* user address of `maxarenas` (u32) */
	__u32 pool_size; /* bytes, a power of two */
	__u32 arena_size; /* bytes */
	/* Return addresses of the calls _PyObject_Realloc makes to
	 * _PyObject_Malloc/_PyObject_Free when it moves a block: such a hit
	 * is part of a realloc, already counted, not an alloc or free. 0 =
	 * unused slot. */
	__u64 nested_ret[PMT_PRECISE_NESTED];
	/* 1: _PyObject_Realloc(NULL, n) tail-jumps to _PyObject_Malloc (whose
	 * probe counts it); 0: it allocates inline, the realloc probe counts. */
	__u32 realloc_null_jumps;
	__u32 pad;
	/* Object samples (sites in --precise): one allocation in about
	 * sample_bytes (0: none) is sampled, its stack walked and its block
	 * followed to its free (precise_objs). The block a small request gets
	 * is read at the malloc probe from usedpools[] (pymalloc_alloc() in
	 * Objects/obmalloc.c takes usedpools[2 * class]->freeblock); a large
	 * one's when the raw allocator returns (precise_raw). */
	__u64 usedpools; /* user address of usedpools[] (3.12+: the obmalloc state) */
	__u64 sample_bytes; /* mean bytes between samples (intervals uniform in 0.5..1.5x) */
	__s64 sample_left; /* BPF: bytes to the next sampling point */
	__u64 pad2;
};

/* precise uprobe cookie: which allocator function was hit. */
enum pmt_precise_fn {
	PMT_PRECISE_MALLOC = 1, /* (ctx, size) */
	PMT_PRECISE_CALLOC = 2, /* (ctx, nelem, elsize) */
	PMT_PRECISE_REALLOC = 3, /* (ctx, ptr, size) */
	PMT_PRECISE_FREE = 4, /* (ctx, ptr) */
	PMT_PRECISE_RAW_RET = 5, /* return of the raw allocator (_PyMem_RawMalloc/Calloc) */
	/* Instance samples, where the allocator is compiled into its callers
	 * (LTO) but the type slots still call these exported functions: */
	PMT_PRECISE_TPALLOC = 6, /* PyType_GenericAlloc(type, nitems); its return too */
	PMT_PRECISE_GCDEL = 7, /* PyObject_GC_Del(op) */
	PMT_PRECISE_OBJFREE = 8, /* PyObject_Free(op) */
};

/* Allocation sites: one Python frame as the BPF walker records it. */
struct pmt_site_frame {
	__u64 code; /* PyCodeObject address (3.13+: f_executable, untagged) */
	/* 3.8/3.9: f_lasti, a byte offset; 3.10: f_lasti in code units;
	 * 3.11+: address of the current instruction (prev_instr/instr_ptr) */
	__u64 instr;
	__u32 fp; /* pmt_code_fp() of the code object when sampled */
	__u32 pad;
};

/* A code object's fingerprint from the fields the walker reads with it
 * (co_filename and co_name pointers, co_firstlineno): userspace computes
 * the same from what it reads later, so a code object freed and its
 * address reused by another is told apart and never named wrongly. */
static inline __u32 pmt_code_fp(__u64 filename, __u64 name, __u32 firstlineno)
{
	__u64 x = (filename * 0x9e3779b97f4a7c15ULL) ^ name ^
		  (((__u64)firstlineno << 32) | firstlineno);

	return (__u32)(x ^ (x >> 32));
}

/* Allocation sites (default on): at rare events that stand for a known
 * number of bytes of heap growth, the walker records the allocating
 * thread's Python stack. Events (enum pmt_site_kind): a pool put into
 * service (refill uprobe, when attached: its capacity), else a new
 * pymalloc arena (mmap of arena_size: its size), and growth of the malloc
 * heap (brk, or an anonymous mmap of at least malloc_min: its length). */
#define PMT_SITES_MAX_DEPTH	32 /* frames recorded at most (--sites-depth) */
#define PMT_SITES_MAX_WALK	48 /* frames visited at most, shim frames included */
#define PMT_DEFAULT_SITE_STACKS 8192 /* distinct stacks (--sites-max-stacks) */

enum pmt_site_kind {
	PMT_SITE_POOL = 1, /* pymalloc pool refill: a pool's capacity, bytes */
	PMT_SITE_ARENA = 2, /* new pymalloc arena (mmap): arena_size bytes */
	PMT_SITE_MALLOC = 3, /* malloc heap growth: brk growth or anonymous mmap length */
	PMT_SITE_UNMAP = 4, /* site_samples only: [addr, addr + bytes) was unmapped */
	PMT_SITE_OBJECT = 5, /* --precise object sample: the bytes requested since the last */
	PMT_SITE_FREED = 6, /* site_samples only: the PMT_SITE_OBJECT sample at addr was
			     * freed (key: its site's, kind replaced) */
};

#define PMT_SITES_F_REFILL    1 /* a refill probe samples pools: arena mmaps are not sampled */
#define PMT_SITES_F_OBJECTS   2 /* --precise samples objects: no pool, arena or malloc samples */
#define PMT_SITES_F_INSTANCES 4 /* with OBJECTS: of class instances only (tp_alloc, LTO builds) */
/* smaller mmaps are never sampled (malloc_min and arena_size are at least this) */
#define PMT_SITES_MMAP_MIN (64u << 10)
#define PMT_SITES_BURST_NS 1000000000ULL /* the rate limit's burst: 1 s of walks */
/* pmt_site_key.hash of a depth-0 key: the events of that kind that the
 * rate limit kept from being walked (their bytes unattributed), apart from
 * hash 0, the samples without Python frames. */
#define PMT_SITE_HASH_LIMITED 1

/* sites_cfg map: key = tgid, written by userspace. How to find the
 * allocating thread's frames in this process (offsets of its version). */
struct pmt_sites_cfg {
	__u64 tstate_ptr; /* user address of a pointer: the GIL holder's tstate
			   * (3.8-3.11 gilstate.tstate_current), or (tstate_deref
			   * != 0) the main interpreter (3.12+) */
	__u32 tstate_deref; /* offset of the GIL holder's tstate pointer in the interpreter */
	__u32 thread_id; /* offset of tstate->thread_id (pthread_self(): the fs base) */
	__u32 top_frame; /* offset in tstate of the top frame, or of the cframe */
	__s32 cframe_frame; /* -1; else offset of current_frame in the cframe (3.11/3.12) */
	__u32 back; /* frame: previous frame */
	__u32 code; /* frame: code object (3.13 f_executable) */
	__u32 instr; /* frame: f_lasti, prev_instr or instr_ptr */
	__u32 instr_size; /* 4 (int f_lasti) or 8 (pointer) */
	__s32 owner; /* -1; else offset of the frame's owner byte */
	__u32 owner_skip; /* owners >= this are not Python frames (C-stack shims,
			   * the interpreter's entry and base frames): not recorded */
	__u32 co_filename; /* code: co_filename; co_name is at +8 */
	__u32 co_firstlineno; /* code: co_firstlineno (int) */
	__u32 depth; /* frames to record, 1..PMT_SITES_MAX_DEPTH */
	__u32 pool_size, arena_size; /* bytes */
	__u32 flags; /* PMT_SITES_F_* */
	__u32 malloc_min; /* bytes: smaller anonymous mmaps are not sampled */
	__u32 code_tag_mask; /* low bits of the frame's code pointer that are tags
			      * (3.14+ _PyStackRef: 3), cleared; 0 */
	__u32 image; /* userspace's id of the process image: copied into its keys */
	/* Walks at new arenas and malloc growth are rate-limited
	 * (--sites-max-rate): on average one per gap_ns, in bursts of up to
	 * PMT_SITES_BURST_NS / gap_ns (0: no limit). tat_ns: the limiter's
	 * state (generic cell rate algorithm), written by BPF. */
	__u64 gap_ns;
	__u64 tat_ns;
};

/* site_counts / site_stacks maps: key. depth 0: the thread had no Python
 * frames of its own (a thread allocating without the GIL, or outside
 * Python code), hash 0. */
struct pmt_site_key {
	__u32 tgid;
	__u32 image; /* sites_cfg's image: which image of tgid (userspace frees by it) */
	__u16 kind; /* enum pmt_site_kind */
	__u16 depth; /* frames recorded */
	__u32 pad;
	__u64 hash; /* of the frames (code, instr, fp) */
};

struct pmt_site_counts {
	__u64 samples; /* events */
	__u64 bytes; /* their weight, bytes */
	__u32 class_samples[PMT_NCLASSES]; /* PMT_SITE_POOL events per size class */
};

/* precise_objs map: key. One per followed object sample; removed (and a
 * PMT_SITE_FREED record sent) when the block is freed or reallocated. */
struct pmt_obj_key {
	__u32 tgid;
	__u32 pad;
	__u64 addr; /* the block */
};

struct pmt_obj {
	struct pmt_site_key key; /* its site */
	__u64 bytes; /* its weight */
};

#define PMT_PRECISE_OBJS	 262144 /* object samples followed, all processes */
#define PMT_PRECISE_SAMPLE_BYTES (16u << 10) /* --precise: mean bytes between object samples */

/* site_samples ring buffer: one record per walked arena or large-malloc
 * mapping event of a sampled process, so that userspace can follow the
 * sample's object (the first block of the arena's first pool; the
 * malloc'd mapping itself) and tell whether it is still alive; and one
 * (kind PMT_SITE_UNMAP) per munmap of such a mapping (one site_maps
 * holds), so that a sample whose mapping went is not taken for the one
 * mapped at its address next.
 * --precise: one per object sample followed (PMT_SITE_OBJECT) and one
 * when it is freed (PMT_SITE_FREED). */
struct pmt_site_sample {
	struct pmt_site_key key;
	__u64 addr; /* the new mapping (mmap's return value); the object's block */
	__u64 bytes; /* the sample's weight */
};

#define PMT_SITE_SAMPLES_RB_BYTES (256 * 1024)
#define PMT_SITE_MAPS		  16384 /* mappings whose samples are followed, all processes */

/* Innermost frame first; written once when the key is new. */
struct pmt_site_stack {
	struct pmt_site_frame frames[PMT_SITES_MAX_DEPTH];
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

/* Ring buffer events (process lifecycle). Every event is a struct
 * pmt_event (40 bytes): an exec storm on the host costs 48 bytes of ring
 * per exec. Only a process userspace has taken (PMT_WATCH_PYTHON) sends
 * its final counters: a struct pmt_event_final (EXIT, or EXEC with the
 * old image's counters), preceded by a PMT_EV_FINAL_FLOW record when it
 * has pool-refill counts. */
enum pmt_event_type {
	PMT_EV_EXEC = 1, /* a process called execve; userspace decides if it is Python */
	PMT_EV_EXIT = 2, /* a watched process exited (final counters if taken) */
	PMT_EV_FORK = 3, /* a taken process forked a new process (not a thread) */
	PMT_EV_FINAL_FLOW = 4, /* struct pmt_event_flow: the heap_flow of the
				* EXIT/EXEC that follows for the same pid */
};

struct pmt_event {
	__u32 type; /* enum pmt_event_type */
	__u32 pid; /* tgid */
	__u64 ts_ns; /* bpf_ktime_get_ns() */
	__u32 ppid; /* FORK: the parent's tgid; else 0 */
	__u32 final; /* 1: this is a struct pmt_event_final */
	char comm[PMT_COMM_LEN];
};

struct pmt_event_final {
	struct pmt_event ev;
	__u32 has_mm; /* mm holds the final mm_stats */
	__u32 has_gc; /* gc holds the final gc_stats */
	struct pmt_mm_stats mm;
	struct pmt_gc_stats gc;
};

struct pmt_event_flow {
	struct pmt_event ev; /* type PMT_EV_FINAL_FLOW */
	struct pmt_heap_flow flow;
};

/* watched map: key = tgid. A process userspace has taken is written
 * {PMT_WATCH_PYTHON, 0}; a process forked by one is {PMT_WATCH_FORKED, 0}
 * from its first instruction until userspace takes it. An exec turns a
 * taken process into PMT_WATCH_EXECED and counts in execs (a forked one
 * is removed): userspace's identity of the process includes execs, so
 * an exec whose event was lost is still seen. Freed at exit. */
enum pmt_watch_state {
	PMT_WATCH_PYTHON = 1,
	PMT_WATCH_FORKED = 2,
	PMT_WATCH_EXECED = 3,
};

struct pmt_watch {
	__u32 state; /* enum pmt_watch_state */
	__u32 execs; /* execs since userspace wrote the entry */
};

/* Counters in .bss, one slot per way of losing data. */
enum pmt_drop {
	PMT_DROP_MM_MAP_FULL, /* mm_stats update failed: raise --max-procs */
	PMT_DROP_GC_MAP_FULL, /* gc_stats update failed: raise --max-procs */
	PMT_DROP_GC_INFLIGHT_FULL, /* GC stash full: raise --max-threads */
	PMT_DROP_GC_UNMATCHED, /* GC exit without a recorded entry (attached mid-collection) */
	PMT_DROP_RINGBUF_FULL, /* lifecycle event lost: ring buffer full */
	PMT_DROP_READ_FAILED, /* bpf_probe_read_user failed (GC stats diff) */
	PMT_DROP_WATCHED_FULL, /* forked child not watched: raise --max-procs */
	PMT_DROP_FLOW_MAP_FULL, /* heap_flow or precise update failed: raise --max-procs */
	PMT_DROP_BAD_CLASS, /* pool refill with a size class out of range */
	PMT_DROP_SITES_FULL, /* allocation-site sample lost: raise --sites-max-stacks */
	PMT_DROP_SITES_WALK, /* a frame could not be read: the stack was cut there */
	PMT_DROP_SAMPLES_FULL, /* a site sample's record lost: site_samples ring full */
	PMT_DROP_OBJS_FULL, /* an object sample not followed: precise_objs full */
	PMT_DROP_NR,
};

#endif /* PYMEMTOP_H */
