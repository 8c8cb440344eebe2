// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * registry.c: the rows themselves (one per version and patch range, no
 * overlap, every offset inside what pycode.c and pyheap.c read); every
 * real interpreter of the test matrix resolves to the row it should, with
 * _Py_DebugOffsets read from the file for 3.13+ (version equal to
 * Py_Version; sizes not among the checked builds' are printed); hostile debug offsets
 * (cookie, free_threaded, sizes, offsets outside their structs, short
 * buffers, 20 000 random mutations) are refused, never trusted; the
 * fixtures of a free-threaded 3.15 and of a 3.16 alpha say so.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "elf_file.h"
#include "interps.h"
#include "python.h"
#include "registry.h"

static const struct reg_layout *row_named(const char *name)
{
	size_t n;
	const struct reg_layout *r = registry_rows(&n);

	for (size_t i = 0; i < n; i++)
		if (!strcmp(r[i].row, name))
			return &r[i];
	fail_msg("no row %s", name);
	return NULL;
}

/* Rows of one minor cover distinct patch ranges, or the same range with
 * distinct GC-state sizes; everything read at once fits its buffer. */
static void test_rows(void **state)
{
	size_t n, nf;
	const struct reg_layout *r = registry_rows(&n);
	const struct reg_field *f = registry_fields(&nf);

	(void)state;
	assert_true(n >= 9);
	for (size_t i = 0; i < n; i++) {
		assert_true(r[i].minor >= 8 && r[i].minor <= 15);
		assert_true(r[i].micro_lo <= r[i].micro_hi);
		assert_non_null(r[i].checked);
		assert_true(r[i].arena_size >= r[i].pool_size * 16);
		assert_true(r[i].code.code_size <= 160);
		assert_int_equal(r[i].code.co_name, r[i].code.co_filename + 8);
		assert_int_equal(r[i].dbg != NULL, r[i].minor >= 13);
		assert_int_equal(r[i].fp_gc_size != 0, r[i].minor >= 13);
		assert_true(r[i].gc_model == REG_GC_GENERATIONAL ||
			    (r[i].minor == 14 && r[i].micro_hi == 4));
		if (r[i].gc_stats_at == REG_GCSTATS_RING)
			assert_true(r[i].ring.size <= 2048 &&
				    r[i].ring.update_seq + 4 <= r[i].ring.size);
		for (size_t j = i + 1; j < n; j++) {
			if (r[j].minor != r[i].minor)
				continue;
			assert_true(r[j].micro_lo > r[i].micro_hi ||
				    r[j].micro_hi < r[i].micro_lo ||
				    r[j].fp_gc_size != r[i].fp_gc_size);
		}
	}
	for (size_t i = 0; i < nf; i++)
		for (size_t j = i + 1; j < nf; j++)
			assert_string_not_equal(f[i].name, f[j].name);
	/* the same version string, two collectors: told apart by the GC state */
	assert_int_equal(row_named("3.14.0-3.14.4")->gc_model, REG_GC_INCREMENTAL);
	assert_int_equal(row_named("3.14.5+")->gc_model, REG_GC_GENERATIONAL);
	assert_int_not_equal(row_named("3.14.0-3.14.4")->fp_gc_size,
			     row_named("3.14.5+")->fp_gc_size);
	assert_int_equal(row_named("3.15")->arena_size_alt, 2u << 20);
	assert_string_equal(registry_gc_model_name(REG_GC_INCREMENTAL), "incremental");
}

static void resolve_file(const char *file, struct py_info *pi)
{
	struct elf_file *ef;

	assert_int_equal(elf_file_open(file, &ef), 0);
	assert_int_equal(python_inspect(ef, pi), 0);
	elf_file_close(ef);
}

/* The matrix: each build's row, its debug offsets equal to its version. */
static void test_real_builds(void **state)
{
	static struct test_interp ti[TI_MAX];
	static struct py_info pi;
	int n = ti_find(ti, true), dbg = 0;

	(void)state;
	if (!ti_roots_present())
		fail_msg("the Debian roots are missing under %s: make roots builds them",
			 ti_roots());
	for (int i = 0; i < n; i++) {
		char want[16];

		resolve_file(ti[i].file, &pi);
		assert_true(pi.is_python);
		if (!pi.reg.ok)
			fail_msg("%s: %s", ti[i].name, pi.reg.reason);
		assert_int_equal(pi.reg.l.minor, ti[i].minor);
		if (ti[i].minor == 14)
			snprintf(want, sizeof(want), "%s",
				 pi.micro >= 5 ? "3.14.5+" : "3.14.0-3.14.4");
		else
			snprintf(want, sizeof(want), "3.%d", ti[i].minor);
		assert_string_equal(pi.reg.l.row, want);
		assert_true(pi.reg.runtime != 0);
		assert_int_equal(pi.reg.has_dbg, ti[i].minor >= 13);
		if (pi.reg.has_dbg) {
			assert_int_equal(pi.reg.dbg_version >> 16, 0x300 | ti[i].minor);
			if (pi.hex)
				assert_int_equal(pi.reg.dbg_version, pi.hex);
			assert_int_equal(pi.reg.dbg_free_threaded, 0);
			assert_int_equal(pi.reg.dbg_gc_size, pi.reg.l.fp_gc_size);
			/* a build the row was not checked on (sid's next patch
			 * release): used, validated live, said so; its offsets
			 * are compared with its DWARF by registry_matches_dwarf */
			if (!pi.reg.fp_known)
				printf("%s (%s): debug-offsets sizes %llu/%llu/%llu are not those "
				       "of a build the row was checked on\n",
				       ti[i].name, pi.version,
				       (unsigned long long)pi.reg.dbg_runtime_size,
				       (unsigned long long)pi.reg.dbg_interp_size,
				       (unsigned long long)pi.reg.dbg_tstate_size);
			dbg++;
		}
		printf("%s: Python %s, row %s%s\n", ti[i].name, pi.version, pi.reg.l.row,
		       pi.reg.has_dbg ? ", _Py_DebugOffsets read" : "");
	}
	assert_true(dbg >= 5); /* trixie 3.13, sid 3.13/3.14/3.15, libpython3.14 */
}

/* A real build's debug offsets, to mutate. */
static size_t sid_315_debug_offsets(uint8_t *buf, size_t cap, struct py_info *pi)
{
	char file[4096];
	struct elf_file *ef;
	size_t len = row_named("3.15")->dbg->len;

	snprintf(file, sizeof(file), "%s/sid/usr/bin/python3.15", ti_roots());
	resolve_file(file, pi);
	assert_true(pi->reg.ok && cap >= len);
	assert_int_equal(elf_file_open(file, &ef), 0);
	assert_int_equal(elf_read_vaddr(ef, pi->reg.runtime, buf, len), 0);
	elf_file_close(ef);
	return len;
}

static int apply(const uint8_t *buf, size_t len, struct reg_build *b)
{
	const struct reg_layout *row = row_named("3.15");

	memset(b, 0, sizeof(*b));
	b->l = *row;
	return registry_apply_debug_offsets(buf, len, row->dbg, b);
}

static void put_u64(uint8_t *buf, uint16_t off, uint64_t v)
{
	memcpy(buf + off, &v, sizeof(v));
}

static void test_debug_offsets_hostile(void **state)
{
	static uint8_t good[1024], buf[1024];
	const struct reg_dbg_map *m = row_named("3.15")->dbg;
	struct reg_build b;
	struct py_info pi;
	size_t len = sid_315_debug_offsets(good, sizeof(good), &pi);
	unsigned int seed = 99;
	int accepted = 0;

	(void)state;
	assert_int_equal(apply(good, len, &b), 0);
	assert_int_equal(b.l.gc_state, pi.reg.l.gc_state);
	assert_int_equal(apply(good, len - 1, &b), -ERANGE);
#define MUTATE(off, v, want)                                                                       \
	do {                                                                                       \
		memcpy(buf, good, len);                                                            \
		put_u64(buf, (off), (v));                                                          \
		assert_int_equal(apply(buf, len, &b), (want));                                     \
	} while (0)
	MUTATE(0, 0x7970677562656479ull, -EINVAL); /* cookie "ydebugpy" */
	MUTATE(16, 1, -ENOTSUP); /* free_threaded */
	MUTATE(m->interp_size, 0, -EINVAL);
	MUTATE(m->interp_size, 1ull << 40, -EINVAL);
	MUTATE(m->runtime_size, 100, -EINVAL);
	MUTATE(m->interp_gc, 1ull << 30, -EINVAL); /* past the interpreter */
	MUTATE(m->interp_head, 1ull << 62, -EINVAL);
	MUTATE(m->gil_holder, UINT64_MAX, -EINVAL);
	MUTATE(m->ts_current_frame, 4096, -EINVAL);
	MUTATE(m->fr_owner, 88, -EINVAL); /* = the frame's size */
	MUTATE(m->co_name, 0, -EINVAL); /* not co_filename + 8 */
	MUTATE(m->co_code_adaptive, 4096, -EINVAL);
	MUTATE(m->ob_type, 16, -EINVAL);
	MUTATE(m->str_ascii_size, 4096, -EINVAL);
	MUTATE(m->gc_stats, 176, -EINVAL); /* = the GC state's size */
#undef MUTATE
	/* random corruption: refused or inside every bound */
	for (int it = 0; it < 20000; it++) {
		int err;

		memcpy(buf, good, len);
		for (int k = 1 + rand_r(&seed) % 4; k > 0; k--) {
			size_t at = (size_t)rand_r(&seed) % len;

			buf[at] = (uint8_t)rand_r(&seed);
		}
		err = apply(buf, len, &b);
		assert_true(err == 0 || err == -EINVAL || err == -ENOTSUP);
		if (err)
			continue;
		accepted++;
		assert_true(b.l.gc_state + 8 <= b.dbg_interp_size);
		assert_true(b.l.code.code_size <= 160);
		assert_true(b.l.fr_owner >= 0 && b.l.fr_owner < 4096);
	}
	printf("hostile debug offsets: %d of 20000 random mutations accepted (in bounds)\n",
	       accepted);
}

/* A build whose Py_Version and debug offsets disagree is not read. */
static void test_version_mismatch(void **state)
{
	static uint8_t buf[1024];
	struct reg_build b;
	struct py_info pi;
	size_t len = sid_315_debug_offsets(buf, sizeof(buf), &pi);

	(void)state;
	assert_int_equal(apply(buf, len, &b), 0);
	assert_int_equal(b.dbg_version, 0x030f02f0);
	assert_true(b.fp_known);
	put_u64(buf, row_named("3.15")->dbg->interp_size, b.dbg_interp_size + 8);
	assert_int_equal(apply(buf, len, &b), 0);
	assert_false(b.fp_known); /* a build of other sizes: used, validated live, said so */
}

static void test_fixtures(void **state)
{
	struct py_info pi;

	(void)state;
	resolve_file(".output/fixtures/fake_python315t", &pi);
	assert_true(pi.is_python);
	assert_string_equal(pi.version, "3.15.2");
	assert_false(pi.reg.ok);
	assert_non_null(strstr(pi.reg.reason, "free-threaded"));
	assert_int_equal(pi.reg.dbg_free_threaded, 1);
	resolve_file(".output/fixtures/fake_python316", &pi);
	assert_string_equal(pi.version, "3.16.0a1");
	assert_false(pi.reg.ok);
	assert_non_null(strstr(pi.reg.reason, "3.16: no layout in the registry"));
	/* the 3.11 fixture has no real layout behind its _PyRuntime: a row,
	 * but nothing the heap reader will find */
	resolve_file(".output/fixtures/fake_python", &pi);
	assert_true(pi.reg.ok);
	assert_string_equal(pi.reg.l.row, "3.11");
}

static void test_version_parse(void **state)
{
	int ma, mi, mc, lv;

	(void)state;
	assert_int_equal(python_version_parse("3.14.10", &ma, &mi, &mc, &lv), 0);
	assert_true(ma == 3 && mi == 14 && mc == 10 && lv == 0xf);
	assert_int_equal(python_version_parse("3.15.0rc1", &ma, &mi, &mc, &lv), 0);
	assert_int_equal(lv, 0xc);
	assert_int_equal(python_version_parse("3.16.0a1", &ma, &mi, &mc, &lv), 0);
	assert_int_equal(lv, 0xa);
	assert_int_equal(python_version_parse("3.9.0+", &ma, &mi, &mc, &lv), 0);
	assert_int_equal(lv, 0xf);
	assert_int_equal(python_version_parse("3.x", &ma, &mi, &mc, &lv), -EINVAL);
	assert_int_equal(python_version_parse("3.12.1zz", &ma, &mi, &mc, &lv), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rows),
		cmocka_unit_test(test_real_builds),
		cmocka_unit_test(test_debug_offsets_hostile),
		cmocka_unit_test(test_version_mismatch),
		cmocka_unit_test(test_fixtures),
		cmocka_unit_test(test_version_parse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
