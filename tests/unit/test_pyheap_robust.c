// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * pyheap_snapshot() against fake and hostile heaps. A fake pymalloc heap
 * is built in this process's own memory: 1 MiB arenas in one mmap, a
 * hand-made arena_object array that ends at a PROT_NONE guard page, pool
 * headers written where CPython would put them, the state words at the
 * offsets of 3.12's struct _obmalloc_state (so the same heap serves the
 * .symtab and the _PyRuntime layouts) and an allocator table naming a
 * made-up _PyObject_Malloc. A hand-made layout points at all of it and
 * the reader reads it with process_vm_readv() like any other target
 * (pid = getpid(), or a forked child which has the same addresses).
 *
 * The reader walks arrays only: the arena array and the pools below each
 * arena's pool_address. It never follows the arena or pool linked lists
 * (nextarena, nextpool, freeblock: the fake heap fills them with junk)
 * and reads the GC state as one fixed struct, so there are no lists to
 * loop. The one pointer chain it follows is the allocator's ctx (debug
 * hooks, tracemalloc); test_allocator_chain points it at itself.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "pyheap.h"
#include "registry.h"

#define ARENA_SIZE	  (1u << 20)
#define POOL_SIZE	  (16u << 10)
#define POOLS_PER_ARENA	  (ARENA_SIZE / POOL_SIZE)
#define READER_MAX_ARENAS (1u << 22) /* MAX_ARENAS in pyheap.c */
#define PYMALLOC_FN	  0x7f1234560000ull /* what the allocator table must hold */
#define OTHER_FN	  0x7f6543210000ull
#define RAW_BLOCKS	  4242
#define STALE_SZIDX	  0xdeadu /* an empty pool's class: never looked at */
#define JUNK		  0x6a756e6b6a756e6bull /* list pointers nobody may follow */

/* struct arena_object (48 bytes) */
struct fake_arena {
	uint64_t address, pool_address;
	uint32_t nfreepools, ntotalpools;
	uint64_t freepools, nextarena, prevarena;
};

/* struct pool_header (48 bytes) */
struct fake_pool {
	uint32_t count, pad;
	uint64_t freeblock, nextpool, prevpool;
	uint32_t arenaindex, szidx, nextoffset, maxnextoffset;
};

/* The pymalloc state words where 3.12-3.15 keep them (struct
 * _obmalloc_state): usedpools[64] (each class's sentinel), mgmt. */
struct fake_obmalloc {
	uint64_t used[64]; /* @0 */
	uint64_t arenas; /* @512 */
	uint32_t maxarenas; /* @520 */
	uint8_t pad1[1064 - 524];
	uint64_t narenas; /* @1064 */
	uint64_t ntimes; /* @1072 ntimes_arena_allocated */
	uint64_t highwater; /* @1080 */
	int64_t raw; /* @1088 */
};

_Static_assert(sizeof(struct fake_arena) == 48, "arena_object is 48 bytes");
_Static_assert(sizeof(struct fake_pool) == PYHEAP_POOL_OVERHEAD, "pool_header is 48 bytes");
_Static_assert(offsetof(struct fake_pool, arenaindex) == 32, "arenaindex @32");
_Static_assert(offsetof(struct fake_pool, szidx) == 36, "szidx @36");
_Static_assert(offsetof(struct fake_obmalloc, arenas) == 512, "arenas @512");
_Static_assert(offsetof(struct fake_obmalloc, maxarenas) == 520, "maxarenas @520");
_Static_assert(offsetof(struct fake_obmalloc, narenas) == 1064, "narenas @1064");
_Static_assert(offsetof(struct fake_obmalloc, raw) == 1088, "raw_allocated_blocks @1088");

/* What the reader must report for the heap as planted. */
struct expect {
	uint64_t narenas, pools, live_blocks, live_bytes;
	uint64_t classes[PYHEAP_NCLASSES];
};

/* One arena slot: used or free (address 0), how far its address is past
 * a pool boundary, pools carved (below pool_address), and how many valid
 * uncarved pool headers follow (the one after those is garbage). */
struct slot_spec {
	bool used;
	uint32_t offset, carved, extra;
};

struct fake_heap {
	struct fake_obmalloc st;
	uint64_t interp_ptr; /* _PyRuntime.interpreters.main (3.12+) */
	uint64_t obmalloc_ptr; /* 3.13: interp->obmalloc */
	uint64_t table[5]; /* PyMemAllocatorEx: ctx, malloc, calloc, realloc, free */
	uint64_t raw_table[5];
	uint64_t hooks[6]; /* a hook's ctx */
	uint8_t gc[264] __attribute__((aligned(8))); /* struct _gc_runtime_state (3.11's) */
	struct pyheap_layout l;
	uint8_t *region, *arr_map;
	size_t region_len, arr_map_len;
	struct fake_arena *arenas;
	uint64_t *base; /* first pool of each slot */
	uint32_t nslots;
	struct expect want;
};

static uint32_t cap(uint32_t szidx)
{
	return (POOL_SIZE - PYHEAP_POOL_OVERHEAD) / ((szidx + 1) * 16);
}

static uint64_t round_up(uint64_t v, uint64_t to)
{
	return (v + to - 1) / to * to;
}

static struct fake_pool *pool_at(const struct fake_heap *h, uint32_t slot, uint32_t j)
{
	return (struct fake_pool *)(uintptr_t)(h->base[slot] + (uint64_t)j * POOL_SIZE);
}

/* Every pool's contents: empty pools (stale class), full ones, the rest
 * partly used. */
static void pattern(uint32_t slot, uint32_t j, uint32_t *count, uint32_t *szidx)
{
	*szidx = (slot * 7 + j * 3) % PYHEAP_NCLASSES;
	switch (j % 4) {
	case 0:
		*count = 0;
		*szidx = STALE_SZIDX;
		break;
	case 1:
		*count = cap(*szidx);
		break;
	default:
		*count = 1 + (slot * 31 + j * 17) % cap(*szidx);
		break;
	}
}

static void plant(struct fake_heap *h, uint32_t slot, uint32_t j, uint32_t count, uint32_t szidx,
		  uint32_t arenaindex)
{
	struct fake_pool *p = pool_at(h, slot, j);

	p->count = count;
	p->pad = 0xa5a5a5a5;
	p->freeblock = p->nextpool = p->prevpool = JUNK;
	p->arenaindex = arenaindex;
	p->szidx = szidx;
	p->nextoffset = p->maxnextoffset = 0xffffffff;
}

static void tally(struct expect *w, uint32_t count, uint32_t szidx)
{
	w->pools++;
	if (!count)
		return;
	w->classes[szidx] += count;
	w->live_blocks += count;
	w->live_bytes += (uint64_t)count * (szidx + 1) * 16;
}

static const struct reg_layout *row(int minor)
{
	size_t n;
	const struct reg_layout *r = registry_rows(&n);

	for (size_t i = 0; i < n; i++)
		if (r[i].minor == minor)
			return &r[i];
	fail_msg("no registry row for 3.%d", minor);
	return NULL;
}

/* The 3.9-3.11 layout: statics named in .symtab. */
static void layout_symtab(struct fake_heap *h)
{
	struct pyheap_layout *l = &h->l;

	memset(l, 0, sizeof(*l));
	l->heap_ok = true;
	l->gc_ok = true;
	l->where = PYHEAP_SYMTAB;
	l->minor = 11;
	l->reg = *row(11);
	l->arena_size = ARENA_SIZE;
	l->pool_size = POOL_SIZE;
	l->arenas = (uintptr_t)&h->st.arenas;
	l->maxarenas = (uintptr_t)&h->st.maxarenas;
	l->narenas = (uintptr_t)&h->st.narenas;
	l->raw_blocks = (uintptr_t)&h->st.raw;
	l->obj_table = (uintptr_t)h->table;
	l->pymalloc_fn = PYMALLOC_FN;
	l->gc = (struct pyheap_ref){ .addr = (uintptr_t)h->gc };
}

/* 3.12 (the state inside _PyRuntime) or 3.13 (a pointer to it). */
static void layout_runtime(struct fake_heap *h, int minor)
{
	layout_symtab(h);
	h->l.where = PYHEAP_RUNTIME;
	h->l.minor = minor;
	h->l.reg = *row(minor);
	h->l.arenas = h->l.maxarenas = h->l.narenas = h->l.raw_blocks = 0;
	if (minor == 12) {
		/* *(interpreters.main) + interp->obmalloc (embedded) */
		h->interp_ptr = (uintptr_t)&h->st - h->l.reg.is_obmalloc;
		h->l.obm = (struct pyheap_ref){ (uintptr_t)&h->interp_ptr,
						1,
						{ h->l.reg.is_obmalloc, 0 } };
	} else {
		/* *(*(interpreters.main) + interp->obmalloc) */
		h->obmalloc_ptr = (uintptr_t)&h->st;
		h->interp_ptr = (uintptr_t)&h->obmalloc_ptr - h->l.reg.is_obmalloc;
		h->l.obm = (struct pyheap_ref){ (uintptr_t)&h->interp_ptr,
						2,
						{ h->l.reg.is_obmalloc, 0 } };
	}
}

static struct fake_heap *heap_new(const struct slot_spec *spec, uint32_t nslots)
{
	struct fake_heap *h = calloc(1, sizeof(*h));
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t arr = (size_t)nslots * sizeof(struct fake_arena);
	uint32_t nused = 0, k = 0;
	uint64_t aligned;

	assert_non_null(h);
	h->base = calloc(nslots, sizeof(*h->base));
	assert_non_null(h->base);
	for (uint32_t i = 0; i < nslots; i++)
		nused += spec[i].used;
	h->region_len = (size_t)nused * (ARENA_SIZE + POOL_SIZE) + POOL_SIZE;
	h->region = mmap(NULL, h->region_len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	assert_true(h->region != MAP_FAILED);
	/* the array ends where a guard page starts: reading past it faults */
	h->arr_map_len = round_up(arr, page) + page;
	h->arr_map = mmap(NULL, h->arr_map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			  -1, 0);
	assert_true(h->arr_map != MAP_FAILED);
	assert_int_equal(mprotect(h->arr_map + h->arr_map_len - page, page, PROT_NONE), 0);
	h->arenas = (struct fake_arena *)(h->arr_map + h->arr_map_len - page - arr);
	h->nslots = nslots;
	aligned = round_up((uintptr_t)h->region, POOL_SIZE);
	for (uint32_t i = 0; i < nslots; i++) {
		struct fake_arena *a = &h->arenas[i];
		uint32_t planted = spec[i].carved + spec[i].extra, count, szidx;

		a->freepools = a->nextarena = a->prevarena = JUNK;
		if (!spec[i].used)
			continue; /* a free slot: address 0 */
		a->address = aligned + (uint64_t)k++ * (ARENA_SIZE + POOL_SIZE) + spec[i].offset;
		h->base[i] = round_up(a->address, POOL_SIZE);
		a->ntotalpools = (uint32_t)((a->address + ARENA_SIZE - h->base[i]) / POOL_SIZE);
		assert_true(planted <= a->ntotalpools);
		a->pool_address = h->base[i] + (uint64_t)spec[i].carved * POOL_SIZE;
		a->nfreepools = a->ntotalpools - spec[i].carved;
		for (uint32_t j = 0; j < planted; j++) {
			pattern(i, j, &count, &szidx);
			plant(h, i, j, count, szidx, i);
			if (j < spec[i].carved)
				tally(&h->want, count, szidx);
		}
		/* the next pool is not carved: garbage the reader must not read */
		if (planted < a->ntotalpools)
			plant(h, i, planted, 0xffffffff, 0xffffffff, 0xffffffff);
		h->want.narenas++;
	}
	h->st.arenas = (uintptr_t)h->arenas;
	h->st.maxarenas = nslots;
	h->st.narenas = h->st.ntimes = h->st.highwater = h->want.narenas;
	h->st.raw = RAW_BLOCKS;
	/* every size class empty: its pair points at its own sentinel */
	for (int i = 0; i < 32; i++)
		h->st.used[2 * i] = h->st.used[2 * i + 1] = (uintptr_t)&h->st.used[2 * i] - 16;
	h->table[0] = 0;
	h->table[1] = PYMALLOC_FN;
	h->table[2] = h->table[3] = h->table[4] = PYMALLOC_FN + 0x100;
	h->raw_table[1] = OTHER_FN;
	/* gc (3.11): enabled @12, generations @24 (threshold @16, count @20),
	 * generation0 @96 pointing at generations[0] */
	{
		int32_t v[] = { 1, 700, 17, 10, 3, 10, 2 };
		uint64_t gen0 = (uintptr_t)h->gc + 24;

		memcpy(h->gc + 96, &gen0, 8);
		memcpy(h->gc + 12, &v[0], 4);
		for (int g = 0; g < 3; g++) {
			memcpy(h->gc + 24 + g * 24 + 16, &v[1 + 2 * g], 4);
			memcpy(h->gc + 24 + g * 24 + 20, &v[2 + 2 * g], 4);
		}
	}
	layout_symtab(h);
	return h;
}

static void heap_free(struct fake_heap *h)
{
	munmap(h->region, h->region_len);
	munmap(h->arr_map, h->arr_map_len);
	free(h->base);
	free(h);
}

/* An address nothing is mapped at: a hole punched in a reservation (so
 * nothing else lands there while the test runs). */
static uint64_t unmapped(size_t len)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	uint8_t *m = mmap(NULL, len + 2 * page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	assert_true(m != MAP_FAILED);
	assert_int_equal(munmap(m + page, len), 0);
	return (uintptr_t)(m + page);
}

/* The positive control used everywhere: 4 arenas in 8 slots, one not on
 * a pool boundary (63 pools), one partly carved, one with no pool yet. */
static const struct slot_spec control_spec[] = {
	{ true, 0, 64, 0 }, { true, 4096, 63, 0 }, { false, 0, 0, 0 }, { true, 0, 10, 2 },
	{ false, 0, 0, 0 }, { false, 0, 0, 0 },	   { true, 0, 0, 3 },  { false, 0, 0, 0 },
};
#define CONTROL_SLOTS (sizeof(control_spec) / sizeof(control_spec[0]))

static struct fake_heap *control_heap(void)
{
	struct fake_heap *h = heap_new(control_spec, CONTROL_SLOTS);

	/* the planted heap, worked out by hand */
	assert_int_equal(h->want.narenas, 4);
	assert_int_equal(h->want.pools, 64 + 63 + 10);
	return h;
}

static void assert_exact(const struct pyheap_snapshot *s, const struct expect *w)
{
	assert_true(s->heap_ok);
	assert_int_equal(s->narenas, w->narenas);
	assert_int_equal(s->arena_bytes, w->narenas * ARENA_SIZE);
	assert_int_equal(s->pools, w->pools);
	assert_int_equal(s->live_blocks, w->live_blocks);
	assert_int_equal(s->live_bytes, w->live_bytes);
	for (int i = 0; i < PYHEAP_NCLASSES; i++)
		assert_int_equal(s->classes[i], w->classes[i]);
}

/* The heap as it stands must read back exactly. */
static void expect_exact(struct fake_heap *h, const char *what)
{
	struct pyheap_stats st = { 0 };
	struct pyheap_snapshot s;
	int r = pyheap_snapshot(getpid(), 0, &h->l, &s, &st);

	if (r || !s.heap_ok)
		print_error("%s: returned %d heap_ok %d, want 0 and heap_ok\n", what, r, s.heap_ok);
	assert_int_equal(r, 0);
	assert_exact(&s, &h->want);
	assert_int_equal(st.snapshots, 1);
	assert_int_equal(st.dropped, 0);
}

/* The heap as it stands must be dropped: -EAGAIN, counted, after a
 * re-read, nothing reported. */
static void expect_drop(struct fake_heap *h, const char *what)
{
	struct pyheap_stats st = { 0 };
	struct pyheap_snapshot s;
	int r = pyheap_snapshot(getpid(), 0, &h->l, &s, &st);

	if (r != -EAGAIN || s.heap_ok)
		print_error("%s: returned %d heap_ok %d, want -EAGAIN\n", what, r, s.heap_ok);
	assert_int_equal(r, -EAGAIN);
	assert_false(s.heap_ok);
	assert_false(s.raw_ok);
	/* re-read, unless the first walk alone took pyheap.c's 10 ms (a slow
	 * machine, or a sanitizer build) */
	if (s.read_ns <= 10 * 1000 * 1000)
		assert_true(s.retries >= 1);
	assert_int_equal(st.snapshots, 1);
	assert_int_equal(st.dropped, 1);
	assert_int_equal(st.retries, s.retries);
}

/* Every test starts with this: see need_readv(). */
#define NEED_READV()                                                                               \
	do {                                                                                       \
		if (!readv_ok)                                                                     \
			skip();                                                                    \
	} while (0)

static bool readv_ok;

/* ---- 1. the positive control ------------------------------------------- */

static void test_consistent_heap(void **state)
{
	NEED_READV();
	struct fake_heap *h = control_heap();
	struct pyheap_stats st = { 0 };
	struct pyheap_snapshot s;

	(void)state;
	assert_int_equal(pyheap_snapshot(getpid(), 0, &h->l, &s, &st), 0);
	assert_int_equal(s.allocator, PYHEAP_ALLOC_PYMALLOC);
	assert_exact(&s, &h->want);
	assert_int_equal(s.arena_bytes, 4u << 20);
	assert_true(s.raw_ok);
	assert_int_equal(s.raw_blocks, RAW_BLOCKS);
	assert_true(s.gc.ok);
	assert_int_equal(s.gc.enabled, 1);
	assert_int_equal(s.gc.threshold[0], 700);
	assert_int_equal(s.gc.count[0], 17);
	assert_int_equal(s.gc.threshold[2], 10);
	assert_int_equal(s.gc.count[2], 2);
	assert_true(s.gc.stats_ok);
	assert_false(s.gc.ring_ok);
	assert_int_equal(s.retries, 0);
	assert_int_equal(st.snapshots, 1);
	assert_int_equal(st.dropped, 0);

	/* one more block in one pool: seen */
	pool_at(h, 3, 2)->count++;
	h->want.classes[pool_at(h, 3, 2)->szidx]++;
	h->want.live_blocks++;
	h->want.live_bytes += (pool_at(h, 3, 2)->szidx + 1) * 16;
	expect_exact(h, "one more block");

	/* 3.8: one counter for pymalloc and raw blocks together */
	h->l.minor = 8;
	h->l.raw_blocks = 0;
	h->l.total_blocks = (uintptr_t)&h->st.raw;
	h->st.raw = (int64_t)h->want.live_blocks + RAW_BLOCKS;
	assert_int_equal(pyheap_snapshot(getpid(), 0, &h->l, &s, NULL), 0);
	assert_exact(&s, &h->want);
	assert_true(s.raw_ok);
	assert_int_equal(s.raw_blocks, RAW_BLOCKS);
	h->st.raw = RAW_BLOCKS;

	/* 3.12: the same state inside _PyRuntime; 3.13: behind a pointer */
	layout_runtime(h, 12);
	expect_exact(h, "3.12 layout");
	layout_runtime(h, 13);
	expect_exact(h, "3.13 layout");
	heap_free(h);
}

/* Hooks in front of pymalloc (tracemalloc, debug hooks, both): still
 * read. The ctx chain is the only pointer chain the reader follows: a
 * loop in it ends (after two steps) with an unknown allocator and no
 * heap, never a hang. */
static void test_allocator_chain(void **state)
{
	NEED_READV();
	struct fake_heap *h = control_heap();
	uint64_t loop[3];
	struct pyheap_snapshot s;

	(void)state;
	/* tracemalloc: ctx is the saved PyMemAllocatorEx (malloc at +8) */
	h->table[1] = OTHER_FN;
	h->table[0] = (uintptr_t)h->hooks;
	h->hooks[0] = 0;
	h->hooks[1] = PYMALLOC_FN;
	assert_int_equal(pyheap_snapshot(getpid(), 0, &h->l, &s, NULL), 0);
	assert_int_equal(s.allocator, PYHEAP_ALLOC_PYMALLOC_HOOKED);
	assert_exact(&s, &h->want);
	/* debug hooks: {char api_id; PyMemAllocatorEx alloc} (malloc at +16) */
	h->hooks[0] = 'o';
	h->hooks[1] = 0;
	h->hooks[2] = PYMALLOC_FN;
	assert_int_equal(pyheap_snapshot(getpid(), 0, &h->l, &s, NULL), 0);
	assert_int_equal(s.allocator, PYHEAP_ALLOC_PYMALLOC_HOOKED);
	assert_exact(&s, &h->want);
	/* tracemalloc over debug hooks: two steps */
	loop[0] = (uintptr_t)h->hooks;
	loop[1] = loop[2] = OTHER_FN;
	h->table[0] = (uintptr_t)loop;
	assert_int_equal(pyheap_snapshot(getpid(), 0, &h->l, &s, NULL), 0);
	assert_int_equal(s.allocator, PYHEAP_ALLOC_PYMALLOC_HOOKED);
	assert_exact(&s, &h->want);

	/* a ctx that points at itself */
	loop[0] = (uintptr_t)loop;
	assert_int_equal(pyheap_snapshot(getpid(), 0, &h->l, &s, NULL), 0);
	assert_int_equal(s.allocator, PYHEAP_ALLOC_UNKNOWN);
	assert_false(s.heap_ok);
	assert_int_equal(s.live_blocks, 0);
	/* two that point at each other */
	h->hooks[0] = (uintptr_t)loop;
	h->hooks[2] = OTHER_FN;
	loop[0] = (uintptr_t)h->hooks;
	assert_int_equal(pyheap_snapshot(getpid(), 0, &h->l, &s, NULL), 0);
	assert_int_equal(s.allocator, PYHEAP_ALLOC_UNKNOWN);
	assert_false(s.heap_ok);
	/* ctx unmapped */
	h->table[0] = unmapped(4096);
	assert_int_equal(pyheap_snapshot(getpid(), 0, &h->l, &s, NULL), 0);
	assert_int_equal(s.allocator, PYHEAP_ALLOC_UNKNOWN);
	assert_false(s.heap_ok);
	/* PYTHONMALLOC=malloc: the object table holds the raw allocator */
	h->table[0] = 0;
	h->l.raw_table = (uintptr_t)h->raw_table;
	assert_int_equal(pyheap_snapshot(getpid(), 0, &h->l, &s, NULL), 0);
	assert_int_equal(s.allocator, PYHEAP_ALLOC_MALLOC);
	assert_false(s.heap_ok);
	/* the table itself unmapped: the process is there, the heap unknown */
	h->l.obj_table = unmapped(4096);
	assert_int_equal(pyheap_snapshot(getpid(), 0, &h->l, &s, NULL), 0);
	assert_int_equal(s.allocator, PYHEAP_ALLOC_UNKNOWN);
	assert_false(s.heap_ok);
	heap_free(h);
}

/* ---- 2. hostile state ---------------------------------------------------- */

static void test_hostile_state_words(void **state)
{
	NEED_READV();
	struct fake_heap *h = control_heap();
	struct pyheap_layout saved;

	(void)state;
	expect_exact(h, "control");

	h->st.arenas = unmapped(CONTROL_SLOTS * sizeof(struct fake_arena));
	expect_drop(h, "arenas unmapped");
	h->st.arenas = 0;
	expect_drop(h, "arenas NULL, maxarenas 8");
	h->st.arenas = (uintptr_t)h->arenas + 8;
	expect_drop(h, "arenas in the middle of an arena_object");
	h->st.arenas = (uintptr_t)h->arenas;
	expect_exact(h, "arenas restored");

	h->st.maxarenas = READER_MAX_ARENAS + 1;
	expect_drop(h, "maxarenas > MAX_ARENAS");
	h->st.maxarenas = 0xffffffff;
	expect_drop(h, "maxarenas 2^32-1");
	h->st.maxarenas = READER_MAX_ARENAS;
	expect_drop(h, "maxarenas = MAX_ARENAS, array far shorter");
	h->st.maxarenas = CONTROL_SLOTS + 1;
	expect_drop(h, "maxarenas one past the array (guard page)");
	h->st.maxarenas = 4;
	expect_drop(h, "maxarenas hides an arena");
	h->st.maxarenas = CONTROL_SLOTS;
	expect_exact(h, "maxarenas restored");

	h->st.narenas = 5;
	expect_drop(h, "narenas one too many");
	h->st.narenas = 3;
	expect_drop(h, "narenas one too few");
	h->st.narenas = 0;
	expect_drop(h, "narenas 0");
	h->st.narenas = UINT64_MAX;
	expect_drop(h, "narenas 2^64-1");
	h->st.narenas = 4;
	expect_exact(h, "narenas restored");

	/* the state words themselves unreadable */
	saved = h->l;
	h->l.arenas = unmapped(4096);
	expect_drop(h, "&arenas unmapped");
	h->l = saved;
	h->l.maxarenas = unmapped(4096);
	expect_drop(h, "&maxarenas unmapped");
	h->l = saved;
	h->l.narenas = unmapped(4096);
	expect_drop(h, "&narenas unmapped");
	h->l = saved;
	h->l.raw_blocks = unmapped(4096);
	expect_drop(h, "&raw_allocated_blocks unmapped");
	h->l = saved;
	expect_exact(h, "layout restored");

	/* 3.12/3.13: the state's address unreadable or garbage */
	layout_runtime(h, 12);
	h->interp_ptr = unmapped(4096) - h->l.reg.is_obmalloc;
	expect_drop(h, "3.12 obmalloc unmapped");
	layout_runtime(h, 12);
	h->l.obm.addr = unmapped(4096);
	expect_drop(h, "3.12 &interpreters.main unmapped");
	layout_runtime(h, 13);
	h->interp_ptr = unmapped(4096) - h->l.reg.is_obmalloc;
	expect_drop(h, "3.13 &interp->obmalloc unmapped");
	layout_runtime(h, 13);
	h->obmalloc_ptr = 0;
	expect_drop(h, "3.13 interp->obmalloc NULL");
	h->obmalloc_ptr = unmapped(4096);
	expect_drop(h, "3.13 interp->obmalloc unmapped");
	h->obmalloc_ptr = (uintptr_t)&h->st;
	h->st.maxarenas = 0xffffffff;
	expect_drop(h, "3.13 maxarenas 2^32-1");
	h->st.maxarenas = CONTROL_SLOTS;
	expect_exact(h, "3.13 restored");
	heap_free(h);
}

/* The process's address space now, from /proc/self/statm (pages). */
static uint64_t vm_size(void)
{
	unsigned long pages = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	assert_non_null(f);
	assert_int_equal(fscanf(f, "%lu", &pages), 1);
	fclose(f);
	return (uint64_t)pages * (uint64_t)sysconf(_SC_PAGESIZE);
}

/* A snapshot of h in a child limited to 64 MiB more address space than
 * it has: its return value, or 100 + the signal that killed it. */
static int snapshot_in_small_child(struct fake_heap *h)
{
	int status;
	pid_t child = fork();

	assert_true(child >= 0);
	if (!child) {
		struct rlimit rl;
		struct pyheap_snapshot s;

		rl.rlim_cur = rl.rlim_max = vm_size() + (64u << 20);
		if (setrlimit(RLIMIT_AS, &rl))
			_exit(99);
		_exit(-pyheap_snapshot(getpid(), 0, &h->l, &s, NULL));
	}
	assert_int_equal(waitpid(child, &status, 0), child);
	return WIFEXITED(status) ? -WEXITSTATUS(status) : 100 + WTERMSIG(status);
}

/* maxarenas sizes pymemtop's own allocation for the arena array (48
 * bytes an arena): a value no address space of the process could back
 * is refused before anything is allocated or read. Without the bound,
 * 4 M arenas (one below the hard limit) asked for 200 MB and, under an
 * address-space limit, failed with -ENOMEM. */
static void test_maxarenas_bounded(void **state)
{
	NEED_READV();
	static struct slot_spec spec[64];
	struct fake_heap *h;

	(void)state;
	for (unsigned int i = 0; i < 64; i += 8)
		spec[i] = (struct slot_spec){ true, 0, 2, 0 };
	h = heap_new(spec, 64);
	expect_exact(h, "64 arena objects, 8 arenas (more than the first 16)");
	assert_int_equal(snapshot_in_small_child(h), 0);
	h->st.maxarenas = READER_MAX_ARENAS - 1;
	assert_int_equal(snapshot_in_small_child(h), -EAGAIN);
	expect_drop(h, "maxarenas 4 M");
	h->st.maxarenas = 64;
	expect_exact(h, "maxarenas restored");
	heap_free(h);
}

static void test_hostile_arenas(void **state)
{
	NEED_READV();
	struct fake_heap *h = control_heap();
	struct fake_arena *a = &h->arenas[3], saved = *a;
	uint64_t base = h->base[3], hole = unmapped(2 * ARENA_SIZE);
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	uint8_t *none = mmap(NULL, 2 * ARENA_SIZE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct pyheap_snapshot s;
	struct expect w;
	uint32_t count, szidx;

	(void)state;
	assert_true(none != MAP_FAILED);
	/* arena 3 has 10 pools carved, two more valid headers, then garbage */
	a->address = hole;
	a->pool_address = round_up(hole, POOL_SIZE) + 10 * POOL_SIZE;
	expect_drop(h, "arena unmapped");
	a->address = (uintptr_t)none;
	a->pool_address = round_up((uintptr_t)none, POOL_SIZE) + 10 * POOL_SIZE;
	expect_drop(h, "arena PROT_NONE");
	a->address = 0xffff888000000000ull; /* kernel space */
	a->pool_address = a->address + 10 * POOL_SIZE;
	expect_drop(h, "arena in kernel space");
	a->address = UINT64_MAX - page + 1; /* its end wraps around */
	a->pool_address = 2 * POOL_SIZE;
	expect_drop(h, "arena wrapping around 2^64 (pools from 0)");
	a->pool_address = UINT64_MAX - POOL_SIZE + 1;
	expect_drop(h, "arena wrapping around 2^64 (pools at the top)");
	a->address = UINT64_MAX - ARENA_SIZE / 2 + 1;
	a->pool_address = a->address + POOL_SIZE;
	expect_drop(h, "arena half past 2^64");
	*a = h->arenas[0];
	expect_drop(h, "two slots claim one arena");
	*a = saved;
	a->pool_address = base - POOL_SIZE;
	expect_drop(h, "pool_address below the arena");
	a->pool_address = saved.address + ARENA_SIZE + POOL_SIZE;
	expect_drop(h, "pool_address past the arena");
	a->pool_address = base + 10 * POOL_SIZE + 8;
	expect_drop(h, "pool_address not on a pool boundary");
	a->pool_address = 0;
	expect_drop(h, "pool_address 0");
	a->pool_address = UINT64_MAX;
	expect_drop(h, "pool_address 2^64-1");
	a->pool_address = base + 13 * POOL_SIZE;
	expect_drop(h, "a garbage pool header carved");
	a->pool_address = saved.pool_address;
	/* past the end of an arena, in the gap before the next, a header
	 * that looks valid: only the arena's bounds can reject it */
	plant(h, 1, 63, 0, STALE_SZIDX, 1);
	h->arenas[1].pool_address = h->base[1] + 64 * POOL_SIZE;
	expect_drop(h, "64 pools in an arena with room for 63");
	h->arenas[1].pool_address = h->base[1] + 63 * POOL_SIZE;
	plant(h, 0, 64, 1, 0, 0);
	h->arenas[0].pool_address = h->base[0] + 65 * POOL_SIZE;
	expect_drop(h, "a pool carved past the end of the arena");
	h->arenas[0].pool_address = h->base[0] + 64 * POOL_SIZE;
	expect_exact(h, "arenas 0 and 1 restored");

	/* two more pools carved, both valid: read, exactly */
	a->pool_address = base + 12 * POOL_SIZE;
	w = h->want;
	for (uint32_t j = 10; j < 12; j++) {
		pattern(3, j, &count, &szidx);
		tally(&w, count, szidx);
	}
	assert_int_equal(pyheap_snapshot(getpid(), 0, &h->l, &s, NULL), 0);
	assert_exact(&s, &w);
	*a = saved;
	expect_exact(h, "arena restored");
	munmap(none, 2 * ARENA_SIZE);
	heap_free(h);
}

/* Pools of each kind: full, partly used, empty (stale class), the last
 * of an arena not on a pool boundary, the last carved of an arena. */
static void test_hostile_pool_headers(void **state)
{
	NEED_READV();
	static const uint32_t where[][2] = { { 0, 1 }, { 0, 6 }, { 1, 0 }, { 1, 62 }, { 3, 9 } };
	struct fake_heap *h = control_heap();

	(void)state;
	for (size_t i = 0; i < sizeof(where) / sizeof(where[0]); i++) {
		struct fake_pool *p = pool_at(h, where[i][0], where[i][1]), saved = *p;
		char what[96];

#define DROP(...)                                                                                  \
	do {                                                                                       \
		snprintf(what, sizeof(what), "pool %u/%u: " __VA_ARGS__);                          \
		expect_drop(h, what);                                                              \
		*p = saved;                                                                        \
	} while (0)
		assert_int_equal(p->arenaindex, where[i][0]);
		if (p->count) {
			p->count = cap(p->szidx) + 1;
			DROP("count > capacity", where[i][0], where[i][1]);
			p->count = UINT32_MAX;
			DROP("count 2^32-1", where[i][0], where[i][1]);
			p->szidx = PYHEAP_NCLASSES;
			DROP("szidx 32", where[i][0], where[i][1]);
			p->szidx = UINT32_MAX;
			DROP("szidx 2^32-1", where[i][0], where[i][1]);
			p->szidx = saved.szidx + 1; /* a smaller count fits, this one not */
			if (p->count > cap(p->szidx))
				DROP("szidx one class up", where[i][0], where[i][1]);
			*p = saved;
		} else {
			p->count = 1; /* used, with a class that does not exist */
			DROP("used with a stale szidx", where[i][0], where[i][1]);
		}
		p->arenaindex = where[i][0] ^ 1;
		DROP("other arena's index", where[i][0], where[i][1]);
		p->arenaindex = UINT32_MAX;
		DROP("arenaindex 2^32-1", where[i][0], where[i][1]);
#undef DROP
		expect_exact(h, "pool restored");
	}
	heap_free(h);
}

/* ---- 3. a heap that changes while it is read ------------------------------ */

#define SET(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)

struct mutator {
	struct fake_heap *h;
	int stop;
	unsigned int seed;
	unsigned long consistent, inconsistent;
};

static uint64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static void spin_us(unsigned int us)
{
	uint64_t end = now_ns() + us * 1000ull;

	while (now_ns() < end)
		;
}

/* Flip the control heap between states a running pymalloc could be in and
 * states it never is in, each for 50-500 us, always back to the heap as
 * built in between. */
static void *mutate(void *arg)
{
	static const uint32_t slots[] = { 0, 1, 3 }, carved[] = { 64, 63, 10 };
	struct mutator *m = arg;
	struct fake_heap *h = m->h;
	uint64_t arena6 = h->arenas[6].address;

	while (!__atomic_load_n(&m->stop, __ATOMIC_RELAXED)) {
		uint32_t k = rand_r(&m->seed) % 3, slot = slots[k];
		struct fake_pool *p = pool_at(h, slot, rand_r(&m->seed) % carved[k]);
		uint32_t count = p->count, aidx = p->arenaindex, szidx = p->szidx;
		unsigned int op = rand_r(&m->seed) % 8;

		switch (op) {
		case 0: /* another count that fits */
			SET(&p->count, szidx < PYHEAP_NCLASSES
					       ? (uint32_t)rand_r(&m->seed) % (cap(szidx) + 1)
					       : 0);
			break;
		case 1: /* 0-12 pools carved in arena 3 (all valid) */
			SET(&h->arenas[3].pool_address,
			    h->base[3] + (uint64_t)(rand_r(&m->seed) % 13) * POOL_SIZE);
			break;
		case 2: /* arena 6 freed: slot, then counter (briefly inconsistent) */
			SET(&h->arenas[6].address, 0);
			SET(&h->st.narenas, 3);
			break;
		case 3: /* more blocks than fit, or a class that does not exist */
			SET(&p->count, szidx < PYHEAP_NCLASSES
					       ? cap(szidx) + 1 + (uint32_t)rand_r(&m->seed) % 100
					       : 1);
			break;
		case 4:
			SET(&h->st.narenas, 5);
			break;
		case 5:
			SET(&h->arenas[3].pool_address, h->base[3] + 10 * POOL_SIZE + 8);
			break;
		case 6:
			SET(&p->arenaindex, aidx ^ 1);
			break;
		default:
			SET(&h->st.maxarenas, 0xffffffff);
			break;
		}
		if (op < 3)
			m->consistent++;
		else
			m->inconsistent++;
		spin_us(50 + rand_r(&m->seed) % 450);
		SET(&p->count, count);
		SET(&p->arenaindex, aidx);
		SET(&h->arenas[3].pool_address, h->base[3] + 10 * POOL_SIZE);
		SET(&h->arenas[6].address, arena6);
		SET(&h->st.narenas, 4);
		SET(&h->st.maxarenas, (uint32_t)CONTROL_SLOTS);
		spin_us(50 + rand_r(&m->seed) % 450);
	}
	return NULL;
}

/* Why a snapshot the reader called good is not, or NULL. */
static const char *broken(const struct pyheap_snapshot *s)
{
	uint64_t blocks = 0, bytes = 0;

	if (!s->heap_ok)
		return "heap_ok false";
	if (s->allocator != PYHEAP_ALLOC_PYMALLOC && s->allocator != PYHEAP_ALLOC_PYMALLOC_HOOKED)
		return "allocator not pymalloc";
	if (s->arena_bytes != s->narenas * ARENA_SIZE)
		return "arena_bytes != narenas * arena_size";
	if (s->pools > s->narenas * POOLS_PER_ARENA)
		return "more pools than the arenas hold";
	for (uint32_t i = 0; i < PYHEAP_NCLASSES; i++) {
		if (s->classes[i] > (uint64_t)cap(i) * s->pools)
			return "a class has more blocks than its pools hold";
		blocks += s->classes[i];
		bytes += s->classes[i] * (i + 1) * 16;
	}
	if (s->live_blocks != blocks)
		return "live_blocks != sum of classes";
	if (s->live_bytes != bytes)
		return "live_bytes != sum of classes[i] * (i + 1) * 16";
	if (s->raw_ok && s->raw_blocks < 0)
		return "negative raw blocks";
	return NULL;
}

static void assert_invariants(const struct pyheap_snapshot *s)
{
	const char *why = broken(s);

	if (why)
		print_error("invariant broken: %s\n", why);
	assert_null(why);
}

static void test_mutating_heap(void **state)
{
	NEED_READV();
	enum { SNAPSHOTS = 2000 };
	struct fake_heap *h = control_heap();
	struct mutator m = { .h = h, .seed = 12345 };
	struct pyheap_stats st = { 0 };
	const char *why = NULL;
	unsigned long ok = 0;
	int bad_rc = 0, done = 0;
	pthread_t t;

	(void)state;
	assert_int_equal(pthread_create(&t, NULL, mutate, &m), 0);
	/* failures end the loop: the mutator is stopped before asserting */
	for (; done < SNAPSHOTS && !why && !bad_rc; done++) {
		struct pyheap_snapshot s;
		int r = pyheap_snapshot(getpid(), 0, &h->l, &s, &st);

		if (r == 0) {
			ok++;
			why = broken(&s);
			if (!why && s.narenas != 3 && s.narenas != 4)
				why = "narenas neither 3 nor 4";
			if (!why && (s.pools < 64 + 63 || s.pools > 64 + 63 + 12))
				why = "pool count outside what was ever carved";
		} else if (r != -EAGAIN) {
			bad_rc = r;
		} else if (s.heap_ok) {
			why = "dropped with heap_ok";
		}
	}
	__atomic_store_n(&m.stop, 1, __ATOMIC_RELAXED);
	assert_int_equal(pthread_join(t, NULL), 0);
	printf("mutating heap: %lu read, %llu dropped of %d; mutator: %lu consistent, "
	       "%lu inconsistent states\n",
	       ok, (unsigned long long)st.dropped, done, m.consistent, m.inconsistent);
	if (why)
		print_error("snapshot %d: %s\n", done, why);
	assert_null(why);
	assert_int_equal(bad_rc, 0);
	assert_int_equal(done, SNAPSHOTS);
	assert_int_equal(st.snapshots, SNAPSHOTS);
	assert_int_equal(st.dropped + ok, SNAPSHOTS);
	assert_true(st.dropped > 0);
	assert_true(ok > 0);
	assert_true(m.consistent > 0 && m.inconsistent > 0);
	expect_exact(h, "after the mutator");
	heap_free(h);
}

/* ---- 4. a process that exits while it is read ------------------------------ */

/* The parent builds a 64-arena heap (4096 pools: a snapshot takes about
 * 12 ms here) and forks; the child has the same heap at the same
 * addresses, waits for "go", sleeps 0-40 ms and exits while the parent
 * reads it back to back: some snapshots complete, one is cut short. */
static void test_process_exits(void **state)
{
	NEED_READV();
	enum { ARENAS = 64, ROUNDS = 16 };
	struct slot_spec spec[ARENAS];
	struct fake_heap *h;
	struct pyheap_layout gc_only;
	struct pyheap_stats st = { 0 };
	unsigned long eagain = 0, reads = 0, loops = 0;
	unsigned int seed = 4242;

	(void)state;
	for (int i = 0; i < ARENAS; i++)
		spec[i] = (struct slot_spec){ true, 0, POOLS_PER_ARENA, 0 };
	h = heap_new(spec, ARENAS);
	assert_int_equal(h->want.pools, ARENAS * POOLS_PER_ARENA);
	gc_only = h->l;
	gc_only.heap_ok = false; /* an interpreter whose heap is unknown */
	for (int round = 0; round < ROUNDS; round++) {
		unsigned int delay = (unsigned int)rand_r(&seed) % 40000;
		struct pyheap_snapshot s;
		uint64_t deadline;
		int go[2], status, r;
		pid_t pid;

		assert_int_equal(pipe(go), 0);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			char c;

			close(go[1]);
			if (read(go[0], &c, 1) == 1)
				usleep(delay);
			_exit(0);
		}
		close(go[0]);
		/* alive and waiting: read exactly */
		r = pyheap_snapshot(pid, 0, &h->l, &s, &st);
		if (r == -EPERM) {
			print_message("SKIP process exits: may not read a child (ptrace_scope?)\n");
			close(go[1]);
			waitpid(pid, &status, 0);
			heap_free(h);
			skip();
		}
		assert_int_equal(r, 0);
		assert_exact(&s, &h->want);
		assert_int_equal(pyheap_snapshot(pid, 0, &gc_only, &s, NULL), 0);
		assert_true(s.gc.ok);
		assert_false(s.heap_ok);

		assert_int_equal(write(go[1], "g", 1), 1);
		close(go[1]);
		deadline = now_ns() + 10000000000ull;
		do {
			r = pyheap_snapshot(pid, 0, &h->l, &s, &st);
			loops++;
			if (r == 0) {
				reads++;
				assert_exact(&s, &h->want);
			} else if (r == -EAGAIN) {
				eagain++;
				assert_false(s.heap_ok);
			} else if (r != -ESRCH) {
				print_error("round %d: returned %d\n", round, r);
				fail();
			}
		} while (r != -ESRCH && now_ns() < deadline);
		/* it went: the reader must say so, not time out */
		assert_int_equal(r, -ESRCH);
		assert_false(s.heap_ok);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
		assert_int_equal(pyheap_snapshot(pid, 0, &h->l, &s, &st), -ESRCH);
		assert_int_equal(pyheap_snapshot(pid, 0, &gc_only, &s, NULL), -ESRCH);
		assert_false(s.gc.ok);
	}
	printf("process exits: %lu snapshots while exiting: %lu read, %lu dropped\n", loops, reads,
	       eagain);
	assert_int_equal(st.dropped, eagain);
	heap_free(h);
}

/* ---- 5. fuzz ------------------------------------------------------------------ */

static uint64_t rnd64(unsigned int *seed)
{
	uint64_t a = (uint64_t)rand_r(seed), b = (uint64_t)rand_r(seed), c = (uint64_t)rand_r(seed);

	return a << 33 ^ b << 11 ^ c;
}

/* Random bits, a small number, the value nudged, one bit flipped, or its
 * low byte scrambled. */
static uint64_t fuzz_value(uint64_t orig, unsigned int bits, unsigned int *seed)
{
	uint64_t mask = bits == 64 ? UINT64_MAX : (1ull << bits) - 1, r = rnd64(seed);

	switch (rand_r(seed) % 5) {
	case 0:
		return r & mask;
	case 1:
		return r % 80;
	case 2:
		return (orig + r % 7 - 3) & mask;
	case 3:
		return (orig ^ (1ull << (r % bits))) & mask;
	default:
		return (orig ^ (r & 0xff)) & mask;
	}
}

static void fuzz_bytes(void *p, size_t len, unsigned int *seed)
{
	for (size_t i = 0; i < len; i++)
		((uint8_t *)p)[i] = (uint8_t)rand_r(seed);
}

static void fuzz_one(struct fake_heap *h, const uint32_t *npools, unsigned int *seed)
{
	static const uint32_t used[] = { 0, 1, 3, 6 };
	uint32_t slot = used[rand_r(seed) % 4];
	struct fake_pool *p = pool_at(h, slot, (uint32_t)rand_r(seed) % npools[slot]);
	struct fake_arena *a = &h->arenas[(uint32_t)rand_r(seed) % h->nslots];

	switch (rand_r(seed) % 11) {
	case 0:
		h->st.arenas = fuzz_value(h->st.arenas, 64, seed);
		break;
	case 1:
		h->st.maxarenas = (uint32_t)fuzz_value(h->st.maxarenas, 32, seed);
		break;
	case 2:
		h->st.narenas = fuzz_value(h->st.narenas, 64, seed);
		break;
	case 3:
		h->st.raw = (int64_t)fuzz_value((uint64_t)h->st.raw, 64, seed);
		break;
	case 4:
		a->address = fuzz_value(a->address, 64, seed);
		break;
	case 5:
		a->pool_address = fuzz_value(a->pool_address, 64, seed);
		break;
	case 6:
		fuzz_bytes(a, sizeof(*a), seed);
		break;
	case 7:
		p->count = (uint32_t)fuzz_value(p->count, 32, seed);
		break;
	case 8:
		p->arenaindex = (uint32_t)fuzz_value(p->arenaindex, 32, seed);
		break;
	case 9:
		p->szidx = (uint32_t)fuzz_value(p->szidx, 32, seed);
		break;
	default:
		fuzz_bytes(p, 40, seed); /* up to and including szidx */
		break;
	}
}

static void test_fuzz(void **state)
{
	NEED_READV();
	enum { ITERATIONS = 4000 };
	struct fake_heap *h = control_heap();
	struct fake_pool saved[CONTROL_SLOTS][POOLS_PER_ARENA];
	struct fake_arena arenas[CONTROL_SLOTS];
	struct fake_obmalloc st0 = h->st;
	uint32_t npools[CONTROL_SLOTS] = { 0 };
	struct pyheap_stats st = { 0 };
	unsigned long ok = 0, dropped = 0;
	unsigned int seed = 0x5eed;

	(void)state;
	memcpy(arenas, h->arenas, sizeof(arenas));
	for (uint32_t i = 0; i < CONTROL_SLOTS; i++) {
		npools[i] = h->arenas[i].ntotalpools;
		for (uint32_t j = 0; j < npools[i]; j++)
			saved[i][j] = *pool_at(h, i, j);
	}
	for (int it = 0; it < ITERATIONS; it++) {
		struct pyheap_snapshot s;
		int n = 1 + rand_r(&seed) % 3, r;

		h->st = st0;
		memcpy(h->arenas, arenas, sizeof(arenas));
		for (uint32_t i = 0; i < CONTROL_SLOTS; i++)
			for (uint32_t j = 0; j < npools[i]; j++)
				*pool_at(h, i, j) = saved[i][j];
		while (n--)
			fuzz_one(h, npools, &seed);
		r = pyheap_snapshot(getpid(), 0, &h->l, &s, &st);
		if (r != 0 && r != -EAGAIN)
			print_error("iteration %d: returned %d\n", it, r);
		assert_true(r == 0 || r == -EAGAIN);
		if (r == 0) {
			ok++;
			assert_invariants(&s);
			assert_true(s.narenas <= h->st.maxarenas);
		} else {
			dropped++;
			assert_false(s.heap_ok);
		}
	}
	printf("fuzz: %d iterations, %lu read, %lu dropped\n", ITERATIONS, ok, dropped);
	assert_int_equal(st.snapshots, ITERATIONS);
	assert_int_equal(st.dropped, dropped);
	assert_true(ok > 0 && dropped > 0);
	h->st = st0;
	memcpy(h->arenas, arenas, sizeof(arenas));
	for (uint32_t i = 0; i < CONTROL_SLOTS; i++)
		for (uint32_t j = 0; j < npools[i]; j++)
			*pool_at(h, i, j) = saved[i][j];
	expect_exact(h, "after the fuzz");
	heap_free(h);
}

/* Can this process read memory with process_vm_readv at all? */
static bool readv_works(void)
{
	uint64_t a = 42, b = 0;
	struct iovec lo = { &b, sizeof(b) }, re = { &a, sizeof(a) };

	return process_vm_readv(getpid(), &lo, 1, &re, 1, 0) == sizeof(b) && b == 42;
}

/* ---- 6. what the registry leaves to be checked live ------------------------ */

/* 3.12+: the state's own invariants. A row whose interp->obmalloc offset
 * does not fit the build points elsewhere: its usedpools do not look like
 * sentinels or pools, and nothing is reported. */
static void test_registry_invariants(void **state)
{
	NEED_READV();
	struct fake_heap *h = control_heap();
	uint64_t saved;

	(void)state;
	for (int minor = 12; minor <= 15; minor++) {
		layout_runtime(h, minor);
		expect_exact(h, "runtime layout");
	}
	layout_runtime(h, 13);
	saved = h->st.used[10];
	h->st.used[10] = 0x1234;
	expect_drop(h, "usedpools: neither sentinel nor pool");
	h->st.used[10] = 0;
	expect_drop(h, "usedpools: NULL");
	h->st.used[10] = h->base[0]; /* a pool header: a class in use */
	expect_exact(h, "usedpools: a pool");
	h->st.used[10] = saved;
	/* the offset of interp->obmalloc 8 bytes off */
	h->interp_ptr += 8;
	expect_drop(h, "interp->obmalloc off by 8");
	h->interp_ptr -= 8;
	h->st.ntimes = h->st.highwater - 1;
	expect_drop(h, "ntimes_arena_allocated below the high-water mark");
	h->st.ntimes = h->st.highwater;
	h->st.highwater = h->st.narenas - 1;
	expect_drop(h, "high-water mark below the arenas in use");
	h->st.highwater = h->st.narenas;
	expect_exact(h, "restored");
	heap_free(h);
}

/* 3.15 built --with-pymalloc-hugepages: 2 MiB arenas (128 pools), so
 * nfp2lasta has 129 entries and the counters after it move: the arena
 * size comes from the live arenas' ntotalpools, not from a constant. */
static void test_hugepage_arenas(void **state)
{
	NEED_READV();
	enum { NAR = 3, PPA = 128 };
	const size_t mg = 544 + (PPA + 1) * 8; /* narenas_currently_allocated */
	static uint8_t obm[2048] __attribute__((aligned(16)));
	struct fake_arena ar[NAR] = { 0 };
	struct pyheap_snapshot s;
	struct pyheap_layout l;
	struct fake_heap *h = control_heap(); /* for its allocator table and GC state */
	/* *(*(interpreters.main) + interp->obmalloc): interp_cell holds the
	 * "interpreter", whose obmalloc member is obm_cell */
	uint64_t v, obm_cell = (uintptr_t)obm, interp_cell;
	uint8_t *mem;

	(void)state;
	mem = mmap(NULL, (NAR + 1) * (2u << 20), PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	assert_true(mem != MAP_FAILED);
	for (int i = 0; i < 32; i++)
		for (int k = 0; k < 2; k++) {
			v = (uintptr_t)obm + 16 * i - 16;
			memcpy(obm + 16 * i + 8 * k, &v, 8);
		}
	for (int i = 0; i < NAR; i++) {
		uint64_t a = round_up((uintptr_t)mem, POOL_SIZE) + (uint64_t)i * (2u << 20);

		ar[i] = (struct fake_arena){
			.address = a, .pool_address = a, .nfreepools = PPA, .ntotalpools = PPA
		};
	}
	v = (uintptr_t)ar;
	memcpy(obm + 512, &v, 8);
	memcpy(obm + 520, &(uint32_t){ NAR }, 4);
	v = NAR;
	memcpy(obm + mg, &v, 8); /* current */
	memcpy(obm + mg + 8, &v, 8); /* total */
	memcpy(obm + mg + 16, &v, 8); /* high-water */
	l = h->l;
	l.where = PYHEAP_RUNTIME;
	l.reg = *row(15);
	interp_cell = (uintptr_t)&obm_cell - l.reg.is_obmalloc;
	l.obm = (struct pyheap_ref){ (uintptr_t)&interp_cell, 2, { l.reg.is_obmalloc, 0 } };
	assert_int_equal(pyheap_snapshot(getpid(), 0, &l, &s, NULL), 0);
	assert_true(s.heap_ok);
	assert_int_equal(s.arena_size, 2u << 20);
	assert_int_equal(s.narenas, NAR);
	assert_int_equal(s.arena_bytes, NAR * (2u << 20));
	assert_int_equal(s.arenas_allocated, NAR);
	/* an arena of neither size: not this build's state */
	ar[1].ntotalpools = 100;
	ar[0].address = 0;
	assert_int_equal(pyheap_snapshot(getpid(), 0, &l, &s, NULL), -EAGAIN);
	munmap(mem, (NAR + 1) * (2u << 20));
	heap_free(h);
}

/* GC state: generations where generation0 points (Debian's 3.13 at 20,
 * pyenv's at 24), nothing when it points elsewhere. */
static void test_gc_generations(void **state)
{
	NEED_READV();
	struct fake_heap *h = control_heap();
	struct pyheap_gc g;
	uint64_t p;
	int32_t v;

	(void)state;
	layout_runtime(h, 13);
	assert_int_equal(pyheap_read_gc(getpid(), 0, &h->l, &g), 0);
	assert_true(g.ok && g.threshold[0] == 700 && g.count[0] == 17);
	/* the same state laid out from 20 */
	memset(h->gc + 16, 0, 80);
	for (int i = 0; i < 3; i++) {
		v = i ? 10 : 2000;
		memcpy(h->gc + 20 + i * 24 + 16, &v, 4);
		v = 5 + i;
		memcpy(h->gc + 20 + i * 24 + 20, &v, 4);
	}
	p = (uintptr_t)h->gc + 20;
	memcpy(h->gc + 96, &p, 8);
	assert_int_equal(pyheap_read_gc(getpid(), 0, &h->l, &g), 0);
	assert_true(g.ok);
	assert_int_equal(g.threshold[0], 2000);
	assert_int_equal(g.count[2], 7);
	p = (uintptr_t)h->gc + 28;
	memcpy(h->gc + 96, &p, 8);
	assert_int_equal(pyheap_read_gc(getpid(), 0, &h->l, &g), 0);
	assert_false(g.ok);
	heap_free(h);
}

/* 3.15's ring buffers: the newest item per generation, under the
 * sequence lock; and the statistics as of a time (a fork). */
static void test_gc_ring(void **state)
{
	NEED_READV();
	static uint8_t gc[176] __attribute__((aligned(8))), ring[1120] __attribute__((aligned(8)));
	const struct reg_gc_ring *rg;
	struct pyheap_layout l = { 0 };
	struct pyheap_gc g;
	uint64_t p;
	int64_t v;

	(void)state;
	l.reg = *row(15);
	rg = &l.reg.ring;
	l.gc_ok = true;
	l.gc = (struct pyheap_ref){ .addr = (uintptr_t)gc };
	memcpy(gc + 0, &(int32_t){ 1 }, 4); /* enabled */
	p = (uintptr_t)gc + 8;
	memcpy(gc + 168, &p, 8); /* generation0 */
	memcpy(gc + 8 + 16, &(int32_t){ 2000 }, 4);
	memcpy(gc + 32 + 16, &(int32_t){ 10 }, 4);
	memcpy(gc + 56 + 16, &(int32_t){ 10 }, 4);
	p = (uintptr_t)ring;
	memcpy(gc + 104, &p, 8);
	/* young: 3 collections at t = 100, 200, 300; old[0]: one at 250 */
	for (int i = 0; i < 3; i++) {
		uint8_t *it = ring + i * rg->item_size;
		double d = 0.001 * (i + 1);

		v = 100 * (i + 1);
		memcpy(it + rg->ts_stop, &v, 8);
		v = i + 1;
		memcpy(it + rg->collections, &v, 8);
		v = 10 * (i + 1);
		memcpy(it + rg->collected, &v, 8);
		memcpy(it + rg->candidates, &(int64_t){ 1000 * (i + 1) }, 8);
		memcpy(it + rg->duration, &d, 8);
	}
	ring[rg->young_index] = 2;
	v = 250;
	memcpy(ring + rg->old + rg->ts_stop, &v, 8);
	memcpy(ring + rg->old + rg->collections, &(int64_t){ 1 }, 8);
	ring[rg->old + rg->old_index] = 0;
	ring[rg->old + rg->old_size + rg->old_index] = 0;
	memcpy(ring + rg->update_seq, &(uint32_t){ 6 }, 4);
	assert_int_equal(pyheap_read_gc(getpid(), 0, &l, &g), 0);
	assert_true(g.ok && g.stats_ok && g.ring_ok);
	assert_int_equal(g.collections[0], 3);
	assert_int_equal(g.collected[0], 30);
	assert_int_equal(g.candidates[0], 3000);
	assert_true(g.duration_s[0] > 0.0029 && g.duration_s[0] < 0.0031);
	assert_int_equal(g.collections[1], 1);
	assert_int_equal(g.collections[2], 0);
	assert_int_equal(g.threshold[1], 10);
	/* as of t = 220: young's second item, old[0] none yet (never wrapped) */
	assert_int_equal(pyheap_gc_at(getpid(), 0, &l, 220, &g), 0);
	assert_int_equal(g.collections[0], 2);
	assert_int_equal(g.collections[1], 0);
	assert_int_equal(pyheap_gc_at(getpid(), 0, &l, 50, &g), 0);
	assert_int_equal(g.collections[0], 0);
	/* every item of a full ring newer than the time: not knowable */
	for (int i = 0; i < 11; i++)
		memcpy(ring + i * rg->item_size + rg->ts_stop, &(int64_t){ 500 + i }, 8);
	assert_int_equal(pyheap_gc_at(getpid(), 0, &l, 220, &g), -ENOENT);
	/* CPython writing (odd sequence): not read this time */
	memcpy(ring + rg->update_seq, &(uint32_t){ 7 }, 4);
	assert_int_equal(pyheap_read_gc(getpid(), 0, &l, &g), 0);
	assert_true(g.ok);
	assert_false(g.stats_ok);
	memcpy(ring + rg->update_seq, &(uint32_t){ 8 }, 4);
	ring[rg->young_index] = 11; /* past the items */
	assert_int_equal(pyheap_read_gc(getpid(), 0, &l, &g), 0);
	assert_false(g.stats_ok);
	ring[rg->young_index] = 2;
	memcpy(gc + 104, &(uint64_t){ 0x10 }, 8); /* a pointer to nothing */
	assert_int_equal(pyheap_read_gc(getpid(), 0, &l, &g), 0);
	assert_true(g.ok);
	assert_false(g.stats_ok);
}

/* The census's strata get their own draws: 60 full pools of one class
 * whose first block is a T_A, 4 whose first is a T_B. Each draw names
 * the label of the pool it is; the big label gets a reservoir's worth
 * and the small one every pool it has (a draw of 16 over the class, as
 * once, left the small one with one pool or none). */
static void test_census_draws(void **state)
{
	NEED_READV();
	static const struct slot_spec one[] = { { true, 0, 64, 0 } };
	static struct pyheap_census cs;
	struct fake_heap *h = heap_new(one, 1);
	const uint64_t t_a = 0x7f0000001000ull, t_b = 0x7f0000002000ull;
	struct pyheap_snapshot s;
	int per[2] = { 0 };

	(void)state;
	for (uint32_t j = 0; j < 64; j++) {
		uint8_t *blk = (uint8_t *)pool_at(h, 0, j) + PYHEAP_POOL_OVERHEAD;
		uint64_t t = j % 16 == 5 ? t_b : t_a;

		plant(h, 0, j, cap(1), 1, 0);
		memcpy(blk + h->l.reg.ob_refcnt, &(uint64_t){ 1 }, 8);
		memcpy(blk + h->l.reg.ob_type, &t, 8);
	}
	assert_int_equal(pyheap_snapshot_census(getpid(), 0, &h->l, &s, NULL, &cs), 0);
	assert_true(s.heap_ok);
	assert_int_equal(cs.n, 2);
	assert_int_equal(cs.lost_blocks, 0);
	assert_int_equal(s.nsample, PYHEAP_SAMPLE_RESERVOIR + 4);
	for (int i = 0; i < s.nsample; i++) {
		const struct pyheap_pool_ref *r = &s.sample[i];
		uint64_t t;

		assert_true(r->label >= 0 && r->label < cs.n);
		memcpy(&t, (uint8_t *)(uintptr_t)r->addr + PYHEAP_POOL_OVERHEAD + h->l.reg.ob_type,
		       8);
		assert_true(cs.v[r->label].type[0] == t || cs.v[r->label].type[1] == t ||
			    cs.v[r->label].type[2] == t);
		assert_int_equal(r->szidx, 1);
		per[t == t_b]++;
		for (int k = 0; k < i; k++)
			assert_true(s.sample[k].addr != r->addr); /* drawn without replacement */
	}
	assert_int_equal(per[0], PYHEAP_SAMPLE_RESERVOIR);
	assert_int_equal(per[1], 4);
	heap_free(h);
}

/* Every test reads this process with process_vm_readv(): where the
 * kernel does not permit it, each is a visible SKIP (a group setup that
 * fails would count as failures), never a silent pass. */
static int need_readv(void **state)
{
	(void)state;
	readv_ok = readv_works();
	if (!readv_ok)
		print_message("SKIP pyheap robustness: process_vm_readv not permitted here\n");
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_consistent_heap),	     cmocka_unit_test(test_allocator_chain),
		cmocka_unit_test(test_hostile_state_words),  cmocka_unit_test(test_hostile_arenas),
		cmocka_unit_test(test_hostile_pool_headers), cmocka_unit_test(test_mutating_heap),
		cmocka_unit_test(test_process_exits),	     cmocka_unit_test(test_fuzz),
		cmocka_unit_test(test_registry_invariants),  cmocka_unit_test(test_hugepage_arenas),
		cmocka_unit_test(test_gc_generations),	     cmocka_unit_test(test_gc_ring),
		cmocka_unit_test(test_maxarenas_bounded),    cmocka_unit_test(test_census_draws),
	};

	return cmocka_run_group_tests(tests, need_readv, NULL);
}
