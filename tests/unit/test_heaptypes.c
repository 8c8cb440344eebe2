// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * heaptypes.c on pools built in this process and read back through
 * process_vm_readv(2), as pymemtop reads another's: objects found at the
 * offset their type's pre-header puts them (3.12's layout: PyGC_Head,
 * managed dict/weakref pointers), types validated through PyType_Type or
 * a metaclass, buffers and free blocks told apart, the estimate scaled
 * per size class with an error when not every pool was read, and pools
 * that changed or lie (a free-list loop, a pointer out of the pool, a
 * count that disagrees) left out without harm.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "heaptypes.h"

#define POOL	 (16 * 1024)
#define OVERHEAD 48
#define GC	 (1ull << 14)
#define MDICT	 (1ull << 4)
#define TYPESUB	 (1ull << 31)

/* Type objects as CPython lays them out (PyTypeObject up to tp_flags). */
struct fake_type {
	uint64_t refcnt, type, size;
	const char *name;
	int64_t basicsize, itemsize;
	uint8_t pad[168 - 48];
	uint64_t flags;
	uint8_t rest[64];
};

static struct fake_type type_type, meta, t_foo, t_int, t_via_meta, t_bad_name, t_small;

static void init_type(struct fake_type *t, struct fake_type *of, const char *name, int64_t size,
		      uint64_t flags)
{
	memset(t, 0, sizeof(*t));
	t->refcnt = 1;
	t->type = (uint64_t)(uintptr_t)of;
	t->name = name;
	t->basicsize = size;
	t->flags = flags;
}

static struct pyheap_layout layout(void)
{
	struct pyheap_layout l = { 0 };

	l.heap_ok = true;
	l.pool_size = POOL;
	l.reg.ob_refcnt = 0;
	l.reg.ob_type = 8;
	l.reg.ty_name = 24;
	l.reg.ty_basicsize = 32;
	l.reg.ty_flags = 168;
	l.reg.gc_head_size = 16;
	l.reg.preheader_flags = MDICT | (1u << 3);
	l.reg.preheader_size = 16;
	l.type_type = (uint64_t)(uintptr_t)&type_type;
	return l;
}

static int setup(void **state)
{
	(void)state;
	init_type(&type_type, &type_type, "type", 880, GC | TYPESUB);
	init_type(&meta, &type_type, "ABCMeta", 880, GC | TYPESUB);
	init_type(&t_foo, &type_type, "Foo", 16, GC | MDICT); /* a class with a __dict__ */
	init_type(&t_int, &type_type, "int", 24, 0);
	init_type(&t_via_meta, &meta, "Mapping", 16, 0); /* made by a metaclass */
	init_type(&t_bad_name, &type_type, "bad\nname", 16, 0);
	init_type(&t_small, &type_type, "Small", 16, 0);
	return 0;
}

/* A pool of class szidx: blocks [0, n) allocated with fill(), then nfree
 * free blocks on its free list. */
struct pool {
	uint8_t *mem;
	uint32_t bs;
	int n, nfree;
};

static void put_obj(uint8_t *b, uint32_t at, const void *type)
{
	uint64_t one = 1, t = (uint64_t)(uintptr_t)type;

	memcpy(b + at, &one, 8);
	memcpy(b + at + 8, &t, 8);
}

static struct pool new_pool(uint32_t szidx, int n, int nfree)
{
	struct pool p = { aligned_alloc(POOL, POOL), (szidx + 1) * 16, n, nfree };
	uint32_t count = n, next;
	uint64_t fb = 0;

	assert_non_null(p.mem);
	memset(p.mem, 0, POOL);
	next = OVERHEAD + (uint32_t)(n + nfree) * p.bs;
	assert_true(next <= POOL);
	/* free blocks after the allocated ones, chained backwards */
	for (int i = 0; i < nfree; i++) {
		uint8_t *blk = p.mem + OVERHEAD + (size_t)(n + i) * p.bs;

		memcpy(blk, &fb, 8);
		fb = (uint64_t)(uintptr_t)blk;
	}
	memcpy(p.mem, &count, 4);
	memcpy(p.mem + 8, &fb, 8);
	memcpy(p.mem + 36, &szidx, 4);
	memcpy(p.mem + 40, &next, 4);
	return p;
}

static uint8_t *block(const struct pool *p, int i)
{
	return p->mem + OVERHEAD + (size_t)i * p->bs;
}

static void add_sample(struct pyheap_snapshot *s, const struct pool *p, uint32_t szidx)
{
	s->heap_ok = true;
	s->sample[s->nsample++] =
		(struct pyheap_pool_ref){ (uint64_t)(uintptr_t)p->mem, szidx, (uint32_t)p->n };
}

static const struct ht_entry *find(const struct heap_types *h, const char *name)
{
	for (int i = 0; i < h->n; i++)
		if (!strcmp(h->top[i].name, name))
			return &h->top[i];
	return NULL;
}

/* Every pool in use read: exact counts, buffers apart, free blocks not
 * counted, a metaclass's instance named, a type with a bad name refused. */
static void test_exact_pool(void **state)
{
	struct pyheap_layout l = layout();
	struct pyheap_snapshot s = { 0 };
	struct ht_cache c = { 0 };
	struct heap_types h;
	struct pool p = new_pool(2, 170, 20); /* 48-byte blocks */
	const struct ht_entry *e;

	(void)state;
	for (int i = 0; i < 100; i++)
		put_obj(block(&p, i), 32, &t_foo); /* GC head + 2 pointers before it */
	for (int i = 100; i < 130; i++)
		put_obj(block(&p, i), 0, &t_int);
	for (int i = 130; i < 140; i++)
		put_obj(block(&p, i), 0, &t_via_meta);
	for (int i = 140; i < 150; i++)
		put_obj(block(&p, i), 0, &t_bad_name);
	for (int i = 150; i < 160; i++) /* Foo at the wrong offset: not an object */
		put_obj(block(&p, i), 16, &t_foo);
	for (int i = 160; i < 170; i++) /* a pointer into the pool: no type */
		put_obj(block(&p, i), 0, p.mem + 64);
	s.classes[2] = 170;
	s.class_pools[2] = 1;
	add_sample(&s, &p, 2);
	assert_int_equal(heaptypes_sample(getpid(), 0, &l, &s, NULL, &c, &h), 0);
	assert_true(h.ok);
	assert_true(h.exact);
	assert_int_equal(h.sampled_pools, 1);
	assert_int_equal(h.sampled_blocks, 170);
	assert_non_null(e = find(&h, "Foo"));
	assert_int_equal(e->objects, 100);
	assert_int_equal(e->bytes, 100 * 48);
	assert_int_equal(e->objects_error, 0);
	assert_int_equal(find(&h, "int")->objects, 30);
	assert_int_equal(find(&h, "Mapping")->objects, 10);
	assert_null(find(&h, "bad\nname"));
	assert_string_equal(h.top[0].name, "Foo"); /* most bytes first */
	assert_int_equal(h.buffer_bytes, 30 * 48);
	assert_int_equal(h.unsampled_bytes, 0);
	ht_cache_free(&c);
	free(p.mem);
}

/* Two of four pools of a class read: counts scale by the class's live
 * blocks, with an error from the spread between the pools. */
static void test_scaled_estimate(void **state)
{
	struct pyheap_layout l = layout();
	struct pyheap_snapshot s = { 0 };
	struct ht_cache c = { 0 };
	struct heap_types h;
	struct pool a = new_pool(1, 400, 0), b = new_pool(1, 400, 0); /* 32-byte blocks */
	const struct ht_entry *e;

	(void)state;
	for (int i = 0; i < 300; i++)
		put_obj(block(&a, i), 0, &t_int);
	for (int i = 0; i < 100; i++)
		put_obj(block(&b, i), 0, &t_int);
	s.classes[1] = 1600; /* four such pools in use */
	s.class_pools[1] = 4;
	add_sample(&s, &a, 1);
	add_sample(&s, &b, 1);
	assert_int_equal(heaptypes_sample(getpid(), 0, &l, &s, NULL, &c, &h), 0);
	assert_true(h.ok);
	assert_false(h.exact);
	e = find(&h, "int");
	assert_non_null(e);
	assert_int_equal(e->objects, 800); /* 400 of 800 sampled blocks, of 1600 */
	assert_int_equal(e->bytes, 800 * 32);
	/* ratio estimator over m = 2 of N = 4 pools, r = 0.5, residuals
	 * n - r*a = +100, -100: V(r) = (1 - m/N) / (m abar^2) * sum(d^2) / (m - 1)
	 * = 0.5 / (2 * 400^2) * 20000 = 1/32; 2 * 1600 * sqrt(1/32) = 565.7 */
	assert_int_equal(e->objects_error, 566);
	assert_int_equal(h.buffer_bytes, 800 * 32);
	ht_cache_free(&c);
	free(a.mem);
	free(b.mem);
}

/* With a census, each label is a stratum of its own: its pools read
 * stand for it alone, and one none was read of is its label's kind.
 * Class 1: 10 pools labelled int (one read: all int), 5 labelled by a
 * buffer (one read: half int), 3 labelled Small (none read). */
static void test_census_strata(void **state)
{
	static struct pyheap_census cs;
	struct pyheap_layout l = layout();
	struct pyheap_snapshot s = { 0 };
	struct ht_cache c = { 0 };
	struct heap_types h;
	struct pool a = new_pool(1, 400, 0), b = new_pool(1, 400, 0);
	uint8_t small[32] = { 0 };
	const struct ht_entry *e;

	(void)state;
	for (int i = 0; i < 400; i++)
		put_obj(block(&a, i), 0, &t_int);
	for (int i = 200; i < 400; i++) /* b's first 200 blocks: buffers */
		put_obj(block(&b, i), 0, &t_int);
	put_obj(small, 0, &t_small);
	cs.n = 3;
	cs.v[0] = (struct pyheap_label){ .szidx = 1, .blocks = 4000, .pools = 10 };
	cs.v[1] = (struct pyheap_label){ .szidx = 1, .blocks = 2000, .pools = 5 };
	cs.v[2] = (struct pyheap_label){ .szidx = 1, .blocks = 1000, .pools = 3 };
	pyheap_block_label(&l.reg, block(&a, 0), 32, cs.v[0].type);
	pyheap_block_label(&l.reg, block(&b, 0), 32, cs.v[1].type);
	pyheap_block_label(&l.reg, small, 32, cs.v[2].type);
	s.classes[1] = 7000;
	s.class_pools[1] = 18;
	add_sample(&s, &a, 1);
	add_sample(&s, &b, 1);
	s.sample[1].label = 1; /* a's is label 0 */
	assert_int_equal(heaptypes_sample(getpid(), 0, &l, &s, &cs, &c, &h), 0);
	assert_true(h.ok);
	assert_false(h.exact);
	assert_non_null(e = find(&h, "int"));
	assert_int_equal(e->objects, 4000 + 1000);
	/* label 1 alone has spread: r = 0.5 over 400 blocks of one pool,
	 * V = 0.25 / 400, 2 * 2000 * sqrt(V) = 100 */
	assert_int_equal(e->objects_error, 100);
	assert_non_null(e = find(&h, "Small"));
	assert_int_equal(e->objects, 1000);
	assert_int_equal(e->objects_error, 0);
	assert_int_equal(h.buffer_bytes, 1000 * 32);
	/* a census that overflowed: the sample was drawn per class */
	cs.lost_blocks = 10;
	s.classes[1] = 800;
	s.class_pools[1] = 2;
	assert_int_equal(heaptypes_sample(getpid(), 0, &l, &s, &cs, &c, &h), 0);
	assert_true(h.exact);
	assert_int_equal(find(&h, "int")->objects, 600);
	assert_null(find(&h, "Small"));
	ht_cache_free(&c);
	free(a.mem);
	free(b.mem);
}

/* Pools that changed under the read or lie are left out; a class none
 * could be read of is counted as unsampled. */
static void test_inconsistent_pools(void **state)
{
	struct pyheap_layout l = layout();
	struct pyheap_snapshot s = { 0 };
	struct ht_cache c = { 0 };
	struct heap_types h;
	struct pool loop = new_pool(0, 10, 3), out = new_pool(0, 10, 1), cnt = new_pool(0, 10, 2);
	uint64_t self, far = 0x1000;
	uint32_t wrong = 11;

	(void)state;
	self = (uint64_t)(uintptr_t)block(&loop, 10); /* the first free block points at itself */
	memcpy(block(&loop, 11), &self, 8);
	memcpy(block(&loop, 10), &self, 8);
	memcpy(loop.mem + 8, &self, 8);
	memcpy(block(&out, 10), &far, 8); /* the chain leaves the pool */
	memcpy(cnt.mem, &wrong, 4); /* a count the free list does not give */
	s.classes[0] = 30;
	s.class_pools[0] = 3;
	add_sample(&s, &loop, 0);
	add_sample(&s, &out, 0);
	add_sample(&s, &cnt, 0);
	assert_int_equal(heaptypes_sample(getpid(), 0, &l, &s, NULL, &c, &h), 0);
	assert_false(h.ok);
	assert_string_equal(h.reason, "every sampled pool changed while it was read");
	/* one good pool of class 0, none of class 3's */
	s.nsample = 0;
	free(cnt.mem);
	cnt = new_pool(0, 10, 2);
	add_sample(&s, &cnt, 0);
	s.classes[3] = 50;
	assert_int_equal(heaptypes_sample(getpid(), 0, &l, &s, NULL, &c, &h), 0);
	assert_true(h.ok);
	assert_int_equal(h.unsampled_bytes, 50 * 64);
	ht_cache_free(&c);
	free(loop.mem);
	free(out.mem);
	free(cnt.mem);
}

/* Without PyType_Type or a snapshot there is no estimate, with why; a
 * process that is gone is -ESRCH. */
static void test_unavailable(void **state)
{
	struct pyheap_layout l = layout();
	struct pyheap_snapshot s = { 0 };
	struct ht_cache c = { 0 };
	struct heap_types h;
	struct pool p = new_pool(0, 1, 0);

	(void)state;
	assert_int_equal(heaptypes_sample(getpid(), 0, &l, &s, NULL, &c, &h), 0);
	assert_false(h.ok);
	assert_string_equal(h.reason, "no consistent heap snapshot");
	add_sample(&s, &p, 0);
	l.type_type = 0;
	assert_int_equal(heaptypes_sample(getpid(), 0, &l, &s, NULL, &c, &h), 0);
	assert_string_equal(h.reason, "PyType_Type not found in the interpreter file");
	l = layout();
	assert_int_equal(heaptypes_sample(999999999, 0, &l, &s, NULL, &c, &h), -ESRCH);
	ht_cache_free(&c);
	free(p.mem);
}

/* Growth by type: against an earlier result; a type absent from a full
 * earlier top cannot be told, from a short one it is new. */
static void test_growth(void **state)
{
	static struct heap_types now, then;
	struct pool p = new_pool(1, 300, 0);
	struct pyheap_layout l = layout();
	struct pyheap_snapshot s = { 0 };
	struct ht_cache c = { 0 };
	int64_t g;

	(void)state;
	now.ok = then.ok = true;
	now.n = 2;
	snprintf(now.top[0].name, HT_NAME_LEN, "Rec");
	now.top[0].objects = 1500;
	snprintf(now.top[1].name, HT_NAME_LEN, "dict");
	now.top[1].objects = 90;
	/* then as heaptypes_sample keeps it: dict 100 (and int below) */
	for (int i = 0; i < 300; i++)
		put_obj(block(&p, i), 0, i < 100 ? (const void *)&t_via_meta : &t_int);
	s.classes[1] = 300;
	s.class_pools[1] = 1;
	add_sample(&s, &p, 1);
	t_via_meta.name = "dict";
	assert_int_equal(heaptypes_sample(getpid(), 0, &l, &s, NULL, &c, &then), 0);
	t_via_meta.name = "Mapping";
	assert_int_equal(then.nkept, 2);
	assert_true(heaptypes_growth(&now, &then, 1, &g));
	assert_int_equal(g, -10);
	assert_true(heaptypes_growth(&now, &then, 0, &g)); /* new since */
	assert_int_equal(g, 1500);
	/* a type below then's top HT_TOP is still known from its counts */
	then.n = HT_TOP;
	assert_true(heaptypes_growth(&now, &then, 1, &g));
	then.n = 0;
	assert_true(heaptypes_growth(&now, &then, 1, &g));
	assert_int_equal(g, -10);
	/* absent from a full list: maybe below what was kept */
	then.nkept = HT_KEEP;
	for (int i = 2; i < HT_KEEP; i++)
		then.kept[i] = (struct ht_count){ (uint64_t)i, 1 };
	assert_false(heaptypes_growth(&now, &then, 0, &g));
	then.ok = false;
	assert_false(heaptypes_growth(&now, &then, 1, &g));
	ht_cache_free(&c);
	free(p.mem);
}

/* Hints only for many floats and ints whose count is firm: the saving is
 * their blocks; none for another type, too few, or too wide an error. */
static void test_hints(void **state)
{
	struct ht_entry t = {
		.name = "float", .objects = 200000, .bytes = 6400000, .objects_error = 4000
	};
	uint64_t saving = 0;
	char buf[300];

	(void)state;
	assert_true(heaptypes_hint(&t, buf, sizeof(buf), &saving));
	assert_int_equal(saving, 6400000);
	assert_non_null(strstr(buf, "200000 floats"));
	assert_non_null(strstr(buf, "array('d')"));
	snprintf(t.name, sizeof(t.name), "int");
	assert_true(heaptypes_hint(&t, buf, sizeof(buf), &saving));
	assert_non_null(strstr(buf, "array('q')"));
	t.objects_error = 60000; /* more than a quarter */
	assert_false(heaptypes_hint(&t, buf, sizeof(buf), &saving));
	t.objects_error = 10;
	t.objects = HT_HINT_MIN - 1;
	assert_false(heaptypes_hint(&t, buf, sizeof(buf), &saving));
	t.objects = 200000;
	snprintf(t.name, sizeof(t.name), "Rec");
	assert_false(heaptypes_hint(&t, buf, sizeof(buf), &saving));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hints),
		cmocka_unit_test(test_exact_pool),
		cmocka_unit_test(test_scaled_estimate),
		cmocka_unit_test(test_census_strata),
		cmocka_unit_test(test_inconsistent_pools),
		cmocka_unit_test(test_unavailable),
		cmocka_unit_test(test_growth),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
