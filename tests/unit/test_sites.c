// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * sites.c without BPF: one process's sampled stacks fed as the BPF maps
 * would give them. Frames whose code object cannot be read (addresses
 * that are not mapped in this process, which stands in for the target)
 * are "[unknown code]", never a name; frameless keys are named by their
 * hash ("[no Python frames]" for 0, the rate-limited site for
 * PMT_SITE_HASH_LIMITED) and stay apart from each other; --folded writes
 * each stack text once, summed, sorted, without empty stacks; the JSON
 * groups, orders and sums the same way; totals cover every stack; a
 * smaller (stale) count never replaces a larger one.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "sites.h"

#define NOW 1000.0

static struct sites_layout layout = { .ok = true, .major = 3, .minor = 12 };

static struct sites_proc *new_proc(void)
{
	struct pmt_sites_cfg cfg = { .pool_size = 16384, .arena_size = 1 << 20 };
	struct sites_proc *sp = sites_proc_new(getpid(), &layout, 0, &cfg, NOW);

	assert_non_null(sp);
	return sp;
}

/* One BPF key with its counts; depth frames whose code pointers are
 * codes[] (low addresses: never mapped, so never readable). */
static void feed(struct sites_proc *sp, int kind, uint64_t hash, int depth, const uint64_t *codes,
		 uint64_t samples, uint64_t bytes)
{
	struct pmt_site_key k = {
		.tgid = (uint32_t)getpid(), .kind = kind, .depth = depth, .hash = hash
	};
	struct pmt_site_counts c = { .samples = samples, .bytes = bytes };
	static struct pmt_site_stack st; /* large: not on the stack */

	memset(&st, 0, sizeof(st));
	for (int i = 0; i < depth; i++) {
		st.frames[i].code = codes[i];
		st.frames[i].instr = 4;
		st.frames[i].fp = 7;
	}
	sites_proc_update(sp, &k, &c, sites_proc_has(sp, &k) ? NULL : &st);
}

static char *folded(const struct sites_proc *sp)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	assert_non_null(f);
	sites_proc_folded(sp, "app.py [42]", SITES_BY_FLOW, f);
	assert_int_equal(fclose(f), 0);
	return text;
}

static const uint64_t two[] = { 0x1000, 0x2000 };

/* Two keys (other instructions of the same lines) whose frames read the
 * same, one stack with no bytes, the two frameless kinds. */
static struct sites_proc *sample_proc(void)
{
	struct sites_proc *sp = new_proc();

	feed(sp, PMT_SITE_POOL, 11, 2, two, 1, 100);
	feed(sp, PMT_SITE_POOL, 12, 2, two, 2, 200);
	feed(sp, PMT_SITE_MALLOC, 0, 0, NULL, 1, 50);
	feed(sp, PMT_SITE_ARENA, PMT_SITE_HASH_LIMITED, 0, NULL, 3, 70);
	feed(sp, PMT_SITE_MALLOC, PMT_SITE_HASH_LIMITED, 0, NULL, 1, 20);
	feed(sp, PMT_SITE_ARENA, 13, 1, two, 0, 0);
	return sp;
}

static void test_folded_merged_sorted(void **state)
{
	struct sites_proc *sp = sample_proc();
	char *t;

	(void)state;
	t = folded(sp);
	/* sorted by text; the limited sites of two kinds are one stack text */
	assert_string_equal(t, "app.py [42];[no Python frames] 50\n"
			       "app.py [42];[not walked: over --sites-max-rate] 90\n"
			       "app.py [42];[unknown code];[unknown code] 300\n");
	free(t);
	sites_proc_free(sp);
}

static const char *jstr(struct json_object *o, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) && v ? json_object_get_string(v) : NULL;
}

static int64_t jint(struct json_object *o, const char *key)
{
	struct json_object *v;

	assert_true(json_object_object_get_ex(o, key, &v));
	return json_object_get_int64(v);
}

static void test_top_groups(void **state)
{
	struct sites_proc *sp = sample_proc();
	struct pm_proc p = { 0 };
	struct json_object *o, *a, *j;
	struct pm_site *s;
	int n = sites_proc_top(sp, 10, SITES_BY_FLOW, &s);

	(void)state;
	/* grouped by innermost frame and kind; the frameless ones by name */
	assert_int_equal(n, 5);
	assert_string_equal(s[0].where.function, "[unknown code]");
	assert_null(s[0].where.file);
	assert_string_equal(s[0].source, "pool_refill");
	assert_int_equal(s[0].bytes, 300);
	assert_int_equal(s[0].samples, 3);
	assert_int_equal(s[0].nframes, 2);
	assert_string_equal(s[1].where.function, "[not walked: over --sites-max-rate]");
	assert_string_equal(s[1].source, "arena");
	assert_int_equal(s[1].bytes, 70);
	assert_int_equal(s[1].nframes, 0);
	assert_string_equal(s[2].where.function, "[no Python frames]");
	assert_string_equal(s[2].source, "malloc");
	assert_int_equal(s[2].bytes, 50);
	/* the same kind, the other frameless name: its own site */
	assert_string_equal(s[3].where.function, "[not walked: over --sites-max-rate]");
	assert_string_equal(s[3].source, "malloc");
	assert_int_equal(s[3].bytes, 20);
	/* as --json prints them (docs/metrics.md, "sites") */
	p.sites = s;
	p.nsites = n;
	pm_set_obj(&p, PM_SITES, true);
	o = model_json(&p);
	assert_non_null(o);
	a = json_object_object_get(o, "sites");
	assert_int_equal(json_object_array_length(a), 5);
	j = json_object_array_get_idx(a, 0);
	assert_string_equal(jstr(j, "function"), "[unknown code]");
	assert_null(jstr(j, "file"));
	assert_null(jstr(j, "line"));
	assert_string_equal(jstr(j, "source"), "pool_refill");
	assert_int_equal(jint(j, "estimated_bytes"), 300);
	assert_int_equal(jint(j, "samples"), 3);
	assert_int_equal(json_object_array_length(json_object_object_get(j, "size_class_bytes")),
			 PMT_NCLASSES);
	assert_int_equal(json_object_array_length(json_object_object_get(j, "stack")), 2);
	j = json_object_array_get_idx(a, 2);
	assert_null(json_object_object_get(j, "size_class_bytes"));
	assert_int_equal(json_object_array_length(json_object_object_get(j, "stack")), 0);
	json_object_put(o);
	model_free(&p);
	/* --sites-top */
	n = sites_proc_top(sp, 2, SITES_BY_FLOW, &s);
	assert_int_equal(n, 2);
	sites_top_free(s, n);
	sites_proc_free(sp);
}

static void test_totals_and_stale(void **state)
{
	struct sites_proc *sp = sample_proc();
	uint64_t bytes, samples, rb, rs;
	char *t;

	(void)state;
	sites_proc_totals(sp, &bytes, &samples, &rb, &rs);
	assert_int_equal(bytes, 100 + 200 + 50 + 70 + 20);
	assert_int_equal(samples, 1 + 2 + 1 + 3 + 1);
	/* no tick yet: the recent window is the whole run */
	assert_int_equal(rb, bytes);
	assert_int_equal(rs, samples);
	/* a stale (smaller) read is ignored, a larger one taken */
	feed(sp, PMT_SITE_POOL, 11, 2, two, 0, 10);
	feed(sp, PMT_SITE_MALLOC, 0, 0, NULL, 2, 150);
	t = folded(sp);
	assert_non_null(strstr(t, "[no Python frames] 150\n"));
	assert_non_null(strstr(t, "[unknown code];[unknown code] 300\n"));
	free(t);
	assert_string_equal(sites_proc_source(sp), "arena+malloc");
	sites_proc_free(sp);
}

/* What stays alive: an arena sample is alive while the first block of
 * its arena's first pool holds the object first seen there; it dies when
 * the block holds another, or when its mapping is reported unmapped; a
 * site whose samples all died shows 0 live, not unknown. */
static void test_live_samples(void **state)
{
	struct sites_proc *sp = new_proc();
	uint8_t *arena = aligned_alloc(16384, 2 * 16384);
	struct reg_layout r = { .ob_type = 8, .gc_head_size = 16 };
	struct pmt_site_sample smp = {
		.key = { .tgid = (uint32_t)getpid(),
			 .kind = PMT_SITE_ARENA,
			 .depth = 0,
			 .hash = 0 },
		.addr = (uint64_t)(uintptr_t)arena + 100, /* the pool is aligned up from it */
		.bytes = 1 << 20,
	};
	uint8_t *pool = arena + 16384, *blk = pool + 48;
	uint32_t count = 1, szidx = 1, next = 48 + 32;
	uint64_t one = 1, type = 0x5550000, other = 0x5551000, bytes, samples;
	struct pm_site *top;
	int n;

	(void)state;
	assert_non_null(arena);
	memset(arena, 0, 2 * 16384);
	feed(sp, PMT_SITE_ARENA, 0, 0, NULL, 1, 1 << 20);
	assert_int_equal(sites_proc_add_sample(sp, &smp), 0);
	/* not carved yet: new, counted live until seen otherwise */
	assert_int_equal(sites_proc_check_live(sp, &r, 16384), 0);
	assert_true(sites_proc_live_totals(sp, &bytes, &samples));
	assert_int_equal(bytes, 1 << 20);
	/* the object appears: alive */
	memcpy(pool, &count, 4);
	memcpy(pool + 36, &szidx, 4);
	memcpy(pool + 40, &next, 4);
	memcpy(blk, &one, 8);
	memcpy(blk + 8, &type, 8);
	assert_int_equal(sites_proc_check_live(sp, &r, 16384), 0);
	assert_true(sites_proc_live_totals(sp, &bytes, &samples));
	assert_int_equal(samples, 1);
	n = sites_proc_top(sp, 10, SITES_BY_LIVE, &top);
	assert_int_equal(n, 1);
	assert_true(top[0].live_ok);
	assert_int_equal(top[0].live_bytes, 1 << 20);
	sites_top_free(top, n);
	/* another object in its block: gone */
	memcpy(blk + 8, &other, 8);
	assert_int_equal(sites_proc_check_live(sp, &r, 16384), 0);
	assert_true(sites_proc_live_totals(sp, &bytes, &samples));
	assert_int_equal(bytes, 0);
	n = sites_proc_top(sp, 10, SITES_BY_LIVE, &top);
	assert_true(top[0].live_ok); /* followed, none alive: 0, not null */
	assert_int_equal(top[0].live_bytes, 0);
	sites_top_free(top, n);
	/* an unmapped arena's sample is dead though its block looks alive */
	memcpy(blk + 8, &type, 8);
	assert_int_equal(sites_proc_add_sample(sp, &smp), 0);
	assert_int_equal(sites_proc_check_live(sp, &r, 16384), 0);
	assert_true(sites_proc_live_totals(sp, &bytes, &samples));
	assert_int_equal(bytes, 1 << 20);
	smp.key.kind = PMT_SITE_UNMAP;
	smp.addr = (uint64_t)(uintptr_t)arena;
	smp.bytes = 2 * 16384;
	assert_int_equal(sites_proc_add_sample(sp, &smp), 0);
	assert_int_equal(sites_proc_check_live(sp, &r, 16384), 0);
	assert_true(sites_proc_live_totals(sp, &bytes, &samples));
	assert_int_equal(bytes, 0);
	/* a pool sample cannot be followed */
	smp.key.kind = PMT_SITE_POOL;
	assert_int_equal(sites_proc_add_sample(sp, &smp), 0);
	sites_proc_free(sp);
	free(arena);
}

/* --precise object samples: alive from their record until the record of
 * their free (BPF follows the block), whatever the block holds; a free
 * that comes before its site's counts are polled is kept until then; a
 * new sample at a block still followed ends the old one (its free's
 * record was lost); the source says "object". */
static void test_object_samples(void **state)
{
	struct pmt_sites_cfg cfg = { .pool_size = 16384, .flags = PMT_SITES_F_OBJECTS };
	struct sites_proc *sp = sites_proc_new(getpid(), &layout, 0, &cfg, NOW);
	struct pmt_site_sample a = {
		.key = { .tgid = (uint32_t)getpid(), .kind = PMT_SITE_OBJECT, .hash = 0 },
		.addr = 0x7000010,
		.bytes = 60000,
	};
	struct pmt_site_sample b = a, freed;
	uint64_t bytes, samples;
	struct pm_site *top;
	int n;

	(void)state;
	assert_non_null(sp);
	assert_string_equal(sites_proc_source(sp), "object");
	feed(sp, PMT_SITE_OBJECT, 0, 0, NULL, 1, 60000);
	assert_int_equal(sites_proc_add_sample(sp, &a), 0);
	b.key.hash = 99; /* another site, not polled yet */
	b.addr = 0x7000050;
	b.bytes = 70000;
	assert_int_equal(sites_proc_add_sample(sp, &b), 0);
	freed = b;
	freed.key.kind = PMT_SITE_FREED;
	assert_int_equal(sites_proc_add_sample(sp, &freed), 0);
	/* no block is read: nothing mapped at these addresses */
	assert_int_equal(sites_proc_check_live(sp, &(struct reg_layout){ .ob_type = 8 }, 16384), 0);
	assert_true(sites_proc_live_totals(sp, &bytes, &samples));
	assert_int_equal(bytes, 60000);
	assert_int_equal(samples, 1);
	/* b's site appears: followed, dead, 0 live (not unknown) */
	feed(sp, PMT_SITE_OBJECT, 99, 0, NULL, 1, 70000);
	assert_int_equal(sites_proc_check_live(sp, &(struct reg_layout){ .ob_type = 8 }, 16384), 0);
	n = sites_proc_top(sp, 10, SITES_BY_FLOW, &top); /* both frameless: one group */
	assert_int_equal(n, 1);
	assert_string_equal(top[0].source, "object");
	assert_true(top[0].live_ok);
	assert_int_equal(top[0].bytes, 130000);
	assert_int_equal(top[0].live_bytes, 60000);
	sites_top_free(top, n);
	/* a new sample at a's block: a is gone (its free was not seen) */
	b.key.hash = 0;
	b.addr = a.addr;
	assert_int_equal(sites_proc_add_sample(sp, &b), 0);
	assert_int_equal(sites_proc_check_live(sp, &(struct reg_layout){ .ob_type = 8 }, 16384), 0);
	assert_true(sites_proc_live_totals(sp, &bytes, &samples));
	assert_int_equal(bytes, 70000);
	assert_int_equal(samples, 1);
	freed = b;
	freed.key.kind = PMT_SITE_FREED;
	assert_int_equal(sites_proc_add_sample(sp, &freed), 0);
	assert_int_equal(sites_proc_check_live(sp, &(struct reg_layout){ .ob_type = 8 }, 16384), 0);
	assert_true(sites_proc_live_totals(sp, &bytes, &samples));
	assert_int_equal(bytes, 0);
	sites_proc_free(sp);
}

/* More samples than one check reads: the older ones are read in turn,
 * so a sample that died long after it was made is seen dead within a few
 * checks (once, only the newest 4096 were read again: the rest stayed
 * live for good). */
static void test_old_samples_checked(void **state)
{
	struct sites_proc *sp = new_proc();
	uint8_t *arena = aligned_alloc(16384, 2 * 16384);
	struct reg_layout r = { .ob_type = 8, .gc_head_size = 16 };
	struct pmt_site_sample smp = {
		.key = { .tgid = (uint32_t)getpid(), .kind = PMT_SITE_ARENA },
		.addr = (uint64_t)(uintptr_t)arena + 100,
		.bytes = 1 << 20,
	};
	uint8_t *pool = arena + 16384, *blk = pool + 48;
	uint32_t count = 1, szidx = 1, next = 48 + 32;
	uint64_t one = 1, type = 0x5550000, other = 0x5551000, bytes, samples;
	const int n = SITES_LIVE_CHECK + 1000;
	int checks = 0;

	(void)state;
	assert_non_null(arena);
	memset(arena, 0, 2 * 16384);
	memcpy(pool, &count, 4);
	memcpy(pool + 36, &szidx, 4);
	memcpy(pool + 40, &next, 4);
	memcpy(blk, &one, 8);
	memcpy(blk + 8, &type, 8);
	feed(sp, PMT_SITE_ARENA, 0, 0, NULL, n, (uint64_t)n << 20);
	for (int i = 0; i < n; i++)
		assert_int_equal(sites_proc_add_sample(sp, &smp), 0);
	/* every one seen alive: its object is the first one seen */
	for (int i = 0; i < 4; i++)
		assert_int_equal(sites_proc_check_live(sp, &r, 16384), 0);
	assert_true(sites_proc_live_totals(sp, &bytes, &samples));
	assert_int_equal(samples, n);
	/* all gone: another object in the block */
	memcpy(blk + 8, &other, 8);
	do {
		assert_int_equal(sites_proc_check_live(sp, &r, 16384), 0);
		assert_true(sites_proc_live_totals(sp, &bytes, &samples));
	} while (samples && ++checks < 10);
	assert_int_equal(samples, 0);
	assert_int_equal(bytes, 0);
	sites_proc_free(sp);
	free(arena);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_folded_merged_sorted),
		cmocka_unit_test(test_top_groups),
		cmocka_unit_test(test_live_samples),
		cmocka_unit_test(test_object_samples),
		cmocka_unit_test(test_old_samples_checked),
		cmocka_unit_test(test_totals_and_stale),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
