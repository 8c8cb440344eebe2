/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The live heap by type, read from outside: the pools a heap snapshot
 * chose at random (pyheap.h, PYHEAP_SAMPLE_POOLS) are read whole; each
 * allocated block (below the pool's nextoffset and not on its free list)
 * is an object when, at the offset its type's pre-header puts it (0; the
 * PyGC_Head; with the managed dict/weakref pointers before it, per the
 * layout registry), it has a positive reference count and an ob_type
 * that is a type object (its own type PyType_Type, or a metaclass whose
 * type is) whose tp_basicsize fits the block; else it is a buffer (list
 * items, dict keys, str and bytes data: PyMem_Malloc memory).
 *
 * Pools hold mostly one kind of object (objects made together), so the
 * estimate is stratified by what every pool's first block is (the
 * snapshot's census, pyheap.h: one label per pool in use, read with its
 * header): per label, the share of the class's live blocks (the
 * snapshot's exact count) in pools of that label, times the composition
 * of the pools read whole of that label, which were drawn from its own
 * pools (a ratio estimate, with its standard error from the spread
 * between those pools); a label no pool was read of is taken to be all
 * of its kind. A census that overflowed: one stratum per size class.
 * The target is never stopped: a pool that changed while it was read
 * (its count no longer that of its blocks) is left out.
 */
#ifndef PMT_HEAPTYPES_H
#define PMT_HEAPTYPES_H

#include <stdbool.h>
#include <stdint.h>
#include "pyheap.h"

#define HT_TOP	      20 /* types reported, most bytes first */
#define HT_KEEP	      256 /* types whose counts are kept for growth, most bytes first */
#define HT_NAME_LEN   96
#define HT_CACHE_MAX  4096 /* type objects remembered per process */
#define HT_CACHE_LIFE 64 /* snapshots before they are read again */

struct ht_type {
	uint64_t addr; /* in the process */
	uint64_t flags;
	int64_t basicsize;
	bool valid;
	char name[HT_NAME_LEN]; /* tp_name, clean UTF-8 */
};

/* What a process's types are, kept across snapshots (sorted by addr). */
struct ht_cache {
	struct ht_type *v;
	int n, cap;
	unsigned int uses; /* snapshots since it was cleared */
};

struct ht_entry {
	char name[HT_NAME_LEN];
	uint64_t objects, bytes; /* estimated at the snapshot */
	uint64_t objects_error; /* about two standard errors of objects (95%) */
	bool growth_ok; /* growth holds the change since the window's start */
	int64_t growth; /* objects more than then (heaptypes_growth) */
};

/* A type's count as kept for growth: its name by hash (FNV-1a). */
struct ht_count {
	uint64_t name_hash;
	uint64_t objects;
};

struct heap_types {
	bool ok;
	bool exact; /* every pool in use was read */
	char reason[160]; /* why !ok */
	int n;
	struct ht_entry top[HT_TOP];
	uint64_t sampled_pools, sampled_blocks; /* pools read and allocated blocks in them */
	uint64_t buffer_bytes; /* estimated bytes in blocks that hold no object */
	uint64_t other_bytes; /* estimated bytes of the types below the top */
	uint64_t unsampled_bytes; /* live bytes of size classes no pool was read of */
	double growth_seconds; /* what top[].growth is over; 0: no growth yet */
	int nkept;
	struct ht_count kept[HT_KEEP]; /* the top HT_KEEP types' counts */
};

/* Growth by type (objgraph.show_growth() from outside): entry i of now
 * against then, an earlier result. false when then cannot say (the type
 * was not among the HT_KEEP it kept, and it kept that many: it may have
 * held up to the last one's count); a type then lacked with fewer types
 * is new: all of its objects are growth. */
bool heaptypes_growth(const struct heap_types *now, const struct heap_types *then, int i,
		      int64_t *objects);

/* A hint for an entry of the top, where the estimate is firm enough to
 * stand behind (at least HT_HINT_MIN objects, the error bound within a
 * quarter of them): floats and ints, which held in a list take a block
 * each and could be 8 bytes each in an array. Writes the text into buf
 * and the bytes it would save into *saving; false when there is none. */
#define HT_HINT_MIN 50000
bool heaptypes_hint(const struct ht_entry *t, char *buf, size_t n, uint64_t *saving);

/* The types of the snapshot s of process pid (census: its labels, or
 * NULL: each class one stratum). 0 (out->ok says whether there is a
 * result, out->reason why not), -ESRCH, -ENOMEM. */
int heaptypes_sample(int pid, uint64_t bias, const struct pyheap_layout *l,
		     const struct pyheap_snapshot *s, const struct pyheap_census *census,
		     struct ht_cache *c, struct heap_types *out);
void ht_cache_free(struct ht_cache *c);

/* For tests: classify the blocks of one pool read into buf (pool_size
 * bytes at address pool), with the type cache c already holding the
 * types; per block i writes the type index into c->v (or -1 for a
 * buffer, -2 for a free block) into kind[] (pool_size / 16 entries).
 * Returns the allocated blocks, or -1 when the pool is not consistent. */
int heaptypes_classify(const struct pyheap_layout *l, const uint8_t *buf, uint64_t pool,
		       const struct ht_cache *c, int *kind);

#endif
