/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The Python heap of a running process, read from outside.
 *
 * pyheap_layout_find() works on the interpreter's ELF file once: where
 * pymalloc's state, the allocator tables, the GC state and the pool-refill
 * function are, from .symtab where present, from _PyRuntime (3.12+, with
 * the offsets of the interpreter's layout registry row), or by decoding
 * small exported functions (stripped 3.9-3.11 builds such as Debian's LTO
 * python3.11). Addresses are ELF virtual addresses; a process adds its
 * load bias.
 *
 * pyheap_snapshot() reads one process with process_vm_readv(): the
 * allocator table (is pymalloc in use?), the arena array and every carved
 * pool header (exact live blocks and bytes per size class), the raw-block
 * counter and the GC state and statistics. The target is never stopped; a
 * snapshot that does not validate — also against the invariants of the
 * state the registry row describes, so a row that does not fit the build
 * reads nothing — is read again, then dropped (-EAGAIN), never reported.
 */
#ifndef PMT_PYHEAP_H
#define PMT_PYHEAP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>
#include <linux/types.h>
#include <sys/types.h>
#include "elf_file.h"
#include "procfs.h"
#include "pymemtop.h"
#include "python.h"

#define PYHEAP_NCLASSES	     32 /* 512-byte threshold / 16-byte alignment */
#define PYHEAP_POOL_OVERHEAD 48 /* sizeof(struct pool_header) */

#define PYHEAP_PRECISE_NFN 4 /* malloc, calloc, realloc, free (enum pmt_precise_fn - 1) */

enum pyheap_where {
	PYHEAP_NONE,
	PYHEAP_SYMTAB, /* static variables named in .symtab (3.8-3.11) */
	PYHEAP_RUNTIME, /* the interpreter's state, from _PyRuntime (3.12+) */
	PYHEAP_DECODED, /* decoded from exported functions (stripped 3.9-3.11) */
};

/* Where a struct lives in the process: addr (a vaddr, the process adds
 * its bias), then for each of nderef pointers followed: *(a) + off[i].
 * 3.13 main interpreter's obmalloc: *(*(_PyRuntime + interpreters.main) +
 * interp->obmalloc) + 0. */
struct pyheap_ref {
	uint64_t addr;
	int nderef; /* 0-2 */
	uint32_t off[2];
};

struct pyheap_layout {
	bool heap_ok; /* the pymalloc state can be read */
	bool gc_ok; /* the GC state can be read */
	enum pyheap_where where;
	char reason[200]; /* why !heap_ok (or why gc is missing) */
	int minor;
	struct reg_layout reg; /* the interpreter's row of the layout registry */
	uint32_t arena_size,
		pool_size; /* the row's (3.15 may have 2 MiB arenas: see the snapshot) */
	/* pymalloc state (ELF vaddrs). 3.8-3.11: addresses of the statics.
	 * 3.12+: obm is the struct _obmalloc_state. */
	uint64_t arenas, maxarenas, narenas; /* &arenas, &maxarenas, &narenas_currently_allocated */
	uint64_t raw_blocks; /* &raw_allocated_blocks (3.9+) */
	uint64_t total_blocks; /* &_Py_AllocatedBlocks (3.8: pymalloc + raw) */
	uint64_t arenas_allocated; /* &ntimes_arena_allocated (.symtab or decoded; 3.12+ in obm) */
	struct pyheap_ref obm;
	/* allocator tables (PyMemAllocatorEx) and the functions they hold
	 * by default */
	uint64_t obj_table, raw_table;
	uint64_t pymalloc_fn; /* _PyObject_Malloc */
	uint64_t mimalloc_fn; /* _PyObject_MiMalloc (3.13+), 0 if unknown */
	struct pyheap_ref gc; /* struct _gc_runtime_state */
	uint64_t type_type; /* &PyType_Type (heaptypes.c validates types by it); 0 unknown */
	/* pool refill (allocate_from_new_pool): probe address, 0 if none */
	uint64_t refill_fn, refill_probe;
	uint64_t refill_offset; /* refill_probe as a file offset (for the uprobe) */
	int refill_arg; /* 1 or 2: which argument is the size class */
	char refill_reason[256];
	/* --precise: probe addresses in _PyObject_{Malloc,Calloc,Realloc,Free} */
	bool precise_ok;
	uint64_t precise_probe[PYHEAP_PRECISE_NFN];
	uint64_t precise_offset[PYHEAP_PRECISE_NFN]; /* the same as file offsets */
	/* where _PyObject_Realloc calls Malloc/Free: return addresses (vaddrs) */
	uint64_t precise_nested[PMT_PRECISE_NESTED];
	bool realloc_null_jumps; /* realloc(NULL, n) tail-jumps to _PyObject_Malloc */
	char precise_reason[160];
	/* --precise object samples: &usedpools (3.8-3.11, .symtab; 3.12+ it
	 * starts the obmalloc state), and uretprobe file offsets in the raw
	 * allocator's malloc and calloc (large requests), 0 if not found */
	uint64_t usedpools;
	uint64_t precise_raw_offset[2];
	/* where per-call probes are refused (LTO): instance samples, at
	 * PyType_GenericAlloc (entry and return), PyObject_GC_Del and
	 * PyObject_Free (file offsets); inst_ok when all three were found */
	bool inst_ok;
	uint64_t inst_offset[3];
	char inst_reason[120];
	/* load-bias computation */
	bool pie; /* ET_DYN: the process adds a bias */
	uint64_t first_load_vaddr; /* vaddr of file offset 0 */
};

/* Inspect an interpreter file (pi from python_inspect, with its registry
 * row). Always fills out; heap_ok/gc_ok/refill_probe say what was found,
 * reason why not. */
void pyheap_layout_find(const struct elf_file *ef, const struct py_info *pi,
			struct pyheap_layout *out);

/* Load bias of the file (dev, ino) from one line of /proc/PID/maps: true
 * when m is its mapping at file offset 0 (then *bias = where it is mapped
 * minus its first vaddr). Non-PIE executables have no bias. */
bool pyheap_bias_from_map(const struct pyheap_layout *l, uint64_t dev, uint64_t ino,
			  const struct proc_map *m, uint64_t *bias);

enum pyheap_allocator {
	PYHEAP_ALLOC_UNKNOWN,
	PYHEAP_ALLOC_PYMALLOC,
	PYHEAP_ALLOC_PYMALLOC_HOOKED, /* debug hooks or tracemalloc in front of pymalloc */
	PYHEAP_ALLOC_MALLOC, /* PYTHONMALLOC=malloc / malloc_debug */
	PYHEAP_ALLOC_MIMALLOC,
};

/* The GC state as CPython keeps it. */
struct pyheap_gc {
	bool ok; /* enabled, count, threshold */
	int enabled;
	int64_t count[3];
	int64_t threshold[3];
	/* CPython's own per-generation statistics since the process started
	 * (generation_stats, or 3.15's ring buffers) */
	bool stats_ok;
	int64_t collections[3], collected[3], uncollectable[3];
	bool ring_ok; /* 3.15: also these */
	int64_t candidates[3];
	double duration_s[3];
};

/* Pools in use chosen at random during a snapshot's walk, for what reads
 * their blocks (heaptypes.c): PYHEAP_SAMPLE_BASE plus one per
 * PYHEAP_SAMPLE_PER pools in use, at most PYHEAP_SAMPLE_POOLS; at least
 * one of every size class in use while they last, the rest to the strata
 * with the most live bytes per pool chosen. A stratum is the pools of one
 * census label (below), or without a census one size class; the pools of
 * a stratum are drawn uniformly (reservoir sampling over its pools in
 * use, PYHEAP_SAMPLE_RESERVOIR kept), so each stratum's share estimate
 * stands on its own draws. A pool that is not of its label's kind (the
 * last of a run of objects, filled up by others) moves the estimate of
 * its stratum by its foreign share over the stratum's draws: 32 draws
 * keep that under 3% (measured: 4 draws were 17% off). */
#define PYHEAP_SAMPLE_BASE	64
#define PYHEAP_SAMPLE_PER	8
#define PYHEAP_SAMPLE_POOLS	256
#define PYHEAP_SAMPLE_RESERVOIR 32
struct pyheap_pool_ref {
	uint64_t addr;
	uint32_t szidx, count; /* as its header said during the walk */
	int32_t label; /* its stratum's census label, -1 without a census */
};

/* Every pool in use labelled by its first block, read with its header:
 * for each place the block's object header can be (pyheap_header_offsets),
 * the word at ob_type when the word at ob_refcnt is a plausible count,
 * else 0. Pools are mostly of one kind (objects made together), so the
 * labels and their pools' counts tell, over every pool, where each kind
 * lives; heaptypes.c resolves the words to types. */
#define PYHEAP_FIRST_BYTES 48
#define PYHEAP_CENSUS_MAX  1024
struct pyheap_label {
	uint32_t szidx;
	uint64_t type[3];
	uint64_t blocks; /* Σ the pools' allocated blocks */
	uint32_t pools;
	struct pyheap_pool_ref res[PYHEAP_SAMPLE_RESERVOIR]; /* min(pools, 32) of them */
};
struct pyheap_census {
	int n;
	uint64_t lost_blocks; /* in pools whose label did not fit */
	struct pyheap_label v[PYHEAP_CENSUS_MAX];
	int16_t index[2 * PYHEAP_CENSUS_MAX]; /* hash of v (-1: empty) */
};

struct pyheap_snapshot {
	enum pyheap_allocator allocator;
	bool heap_ok; /* the fields below up to raw_ok are valid */
	uint32_t arena_size; /* bytes, as this build has them */
	uint64_t narenas;
	uint64_t arena_bytes;
	uint64_t live_blocks, live_bytes;
	__u64 classes[PYHEAP_NCLASSES]; /* blocks in use per size class */
	uint64_t pools; /* carved pools walked */
	uint64_t class_pools[PYHEAP_NCLASSES]; /* pools in use per size class */
	struct pyheap_pool_ref sample[PYHEAP_SAMPLE_POOLS];
	int nsample;
	bool raw_ok;
	int64_t raw_blocks;
	bool arenas_allocated_ok; /* CPython's arena counter was read */
	uint64_t arenas_allocated; /* arenas ever allocated (CPython's own counter) */
	struct pyheap_gc gc;
	unsigned int retries; /* re-reads this snapshot needed */
	uint64_t read_ns; /* time the snapshot took */
};

/* Statistics across snapshots (for the frame's self-report). */
struct pyheap_stats {
	uint64_t snapshots, dropped, retries, read_ns;
	uint64_t deferred; /* walks put off while a big heap grew (the caller's) */
};

/* The heap's size without walking it: arenas in use and arenas
 * allocated since start (each only where the build has the counter).
 * One or two small reads. 0, -ESRCH, -EFAULT, -EPERM. */
struct pyheap_peek {
	uint64_t narenas, arenas_allocated;
	bool narenas_ok, arenas_allocated_ok;
};
int pyheap_peek(int pid, uint64_t bias, const struct pyheap_layout *l, struct pyheap_peek *out);

/* Read every iovec of process pid that can be read: process_vm_readv(2)
 * stops at the first remote range that faults, so go on after it; a
 * range that faulted is zeros, and ok[i] (when ok) says which were read
 * whole. 0 or -ESRCH. */
int pyheap_readv_each(int pid, struct iovec *lo, struct iovec *re, int n, bool *ok);

/* Where an object's header can be in a block of bs bytes (largest offset
 * first): after the PyGC_Head and the managed dict/weakref pointers,
 * after the PyGC_Head, at 0 (the layout registry's pre-header). */
int pyheap_header_offsets(const struct reg_layout *r, uint32_t bs, uint32_t off[3]);
/* Can w be a live object's ob_refcnt? Not 0, and not a pointer (a free
 * block's first word): its high half is at most a few flag bits (3.14's
 * ob_overflow/ob_flags). */
bool pyheap_refcnt_plausible(uint64_t w);
/* The label of the block at blk (PYHEAP_FIRST_BYTES read). */
void pyheap_block_label(const struct reg_layout *r, const uint8_t *blk, uint32_t bs,
			uint64_t type[3]);

/* Whether a peeked count of arenas ever allocated may replace *count,
 * the last one taken (from a validated snapshot, or an earlier peek),
 * when the process had made *mmaps successful mmap(2) calls (BPF's
 * count); mmaps: its count now. CPython maps each new arena with one
 * mmap (new_arena() in Objects/obmalloc.c, 3.8-3.15), so the count can
 * neither go down nor fall below the arenas in use, nor grow by more
 * than the mmaps in between. An accepted count updates *count and
 * *mmaps; a refused one leaves both (the next snapshot decides). */
bool pyheap_peek_accept(const struct pyheap_peek *pk, uint64_t *count, uint64_t *mmaps,
			uint64_t mmaps_now);

/* The GC state alone (one or two small reads; 3.15's ring buffers: two
 * more). 0 (out->ok / stats_ok say what validated), -ESRCH, -EPERM,
 * -EFAULT. */
int pyheap_read_gc(int pid, uint64_t bias, const struct pyheap_layout *l, struct pyheap_gc *out);

/* 3.15: the GC statistics as they were at ts_ns (CLOCK_MONOTONIC, the
 * clock CPython stamps each collection with): per generation the newest
 * ring item that ended by then, zeros when none did and the ring has
 * never wrapped. 0, -ENOENT (not knowable: no ring, or it has wrapped
 * since), -ESRCH. */
int pyheap_gc_at(int pid, uint64_t bias, const struct pyheap_layout *l, uint64_t ts_ns,
		 struct pyheap_gc *out);

/* Read one process. 0: out is filled (heap_ok/gc_ok say which parts);
 * -ESRCH gone; -EAGAIN the heap kept changing or did not validate (the
 * snapshot is dropped; gc parts may still be set); -EPERM. */
int pyheap_snapshot(int pid, uint64_t bias, const struct pyheap_layout *l,
		    struct pyheap_snapshot *out, struct pyheap_stats *stats);
/* The same, labelling every pool in use into census (pyheap_census). */
int pyheap_snapshot_census(int pid, uint64_t bias, const struct pyheap_layout *l,
			   struct pyheap_snapshot *out, struct pyheap_stats *stats,
			   struct pyheap_census *census);

const char *pyheap_allocator_name(enum pyheap_allocator a);
/* "_PyObject_Malloc" ... for precise_probe[i]. */
const char *pyheap_precise_name(int i);

/* Where the process keeps the `arenas` pointer and `maxarenas` (what
 * a free is checked against). 0, -ESRCH, -EFAULT. */
int pyheap_state_vars(int pid, uint64_t bias, const struct pyheap_layout *l, uint64_t *arenas_var,
		      uint64_t *maxarenas_var);
/* Where the process keeps usedpools[] (0 when unknown). 0, -ESRCH, -EFAULT. */
int pyheap_usedpools_var(int pid, uint64_t bias, const struct pyheap_layout *l, uint64_t *out);

/* Validation of one pool header against its arena (pure, for tests):
 * count blocks of class szidx fit in a pool of pool_size bytes. */
bool pyheap_pool_valid(uint32_t count, uint32_t szidx, uint32_t arenaindex, uint32_t want_index,
		       uint32_t pool_size);
/* Blocks a fresh pool of class szidx holds. */
uint32_t pyheap_pool_capacity(uint32_t szidx, uint32_t pool_size);

/* The decoders behind pyheap_layout_find(), for tests on real builds:
 * _Py_GetAllocatedBlocks -> l->arenas, maxarenas, raw_blocks; an
 * allocator stub -> its table and compiled-in default; the pool refill
 * called from the real _PyObject_Malloc. */
int pyheap_decode_allocated_blocks(const struct elf_file *ef, struct pyheap_layout *l);
int pyheap_decode_stub(const struct elf_file *ef, const char *name, uint64_t *table,
		       uint64_t *devirt);
/* The static counter _PyObject_DebugMallocStats() prints under label
 * ("# arenas allocated total" is ntimes_arena_allocated): the 64-bit
 * static it loads as the value argument of that line. 0 or -ENOENT. */
int pyheap_decode_debug_stat(const struct elf_file *ef, const char *label, uint64_t *addr);
uint64_t pyheap_decode_refill(const struct elf_file *ef, uint64_t pymalloc);

#endif
