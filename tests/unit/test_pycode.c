// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * pycode.c: the three line-table decoders on tables taken from real
 * interpreters and hand-made ones (every entry form, malformed and
 * truncated tables, random fuzz); instruction offsets; pycode_read() on a
 * fake address space built in this process (every hostile field refused
 * or cleaned, random corruption never crashes); and against the real
 * interpreters of the test matrix (Debian's python3.11, pyenv 3.8-3.13, and
 * the 3.13-3.15 builds of the Debian roots, run with chroot) a child runs a
 * script that lists its code objects with what Python itself says about
 * them, and every name, file, first line, fingerprint and the line of
 * every instruction must match what is read out of the child's memory,
 * with the layout pymemtop resolves from the interpreter's own file (its
 * registry row; its _Py_DebugOffsets from 3.13).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <glob.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "elf_file.h"
#include "interps.h"
#include "pycode.h"
#include "pymemtop.h"
#include "python.h"
#include "registry.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* ---- line tables ----------------------------------------------------------- */

struct want {
	uint32_t off;
	int line;
};

static void check_lines(const struct pycode_layout *l, const uint8_t *t, size_t len, int first,
			const struct want *w, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int got = pycode_line(l, t, len, first, w[i].off);

		if (got != w[i].line)
			fail_msg("offset %u: line %d, want %d", w[i].off, got, w[i].line);
	}
}

/* co_lnotab of a 3.9 function with jumps of +301, +201, +151 and -151
 * lines (split into several pairs) and an empty table. */
static void test_lnotab(void **state)
{
	const struct pycode_layout *l = registry_code_layout(9);
	static const uint8_t t[] = {
		0, 1, 4,   127, 0,  127, 0,   47, 4,   1, 10,  127, 0,	74, 2,
		1, 2, 127, 0,	24, 2,	 128, 0,  233, 6, 127, 0,   26, 4,  1
	};
	static const struct want w[] = { { 0, 2 },    { 2, 2 },	   { 4, 303 },	 { 6, 303 },
					 { 8, 304 },  { 16, 304 }, { 18, 505 },	 { 20, 506 },
					 { 22, 657 }, { 24, 506 }, { 28, 506 },	 { 30, 659 },
					 { 34, 660 }, { 36, 660 }, { 5000, 660 } };
	static const uint8_t neg[] = { 0, 1, 2, 0xf0 }; /* 1 + 1 - 16 < 0 */

	(void)state;
	check_lines(l, t, sizeof(t), 1, w, ARRAY_SIZE(w));
	/* an empty table: every instruction on the first line */
	assert_int_equal(pycode_line(l, (const uint8_t *)"", 0, 7, 0), 7);
	assert_int_equal(pycode_line(l, (const uint8_t *)"", 0, 7, 100), 7);
	/* odd length, NULL, a negative line, a negative first line */
	assert_int_equal(pycode_line(l, t, sizeof(t) - 1, 1, 0), -1);
	assert_int_equal(pycode_line(l, NULL, 0, 1, 0), -1);
	assert_int_equal(pycode_line(l, neg, sizeof(neg), 1, 0), 2);
	assert_int_equal(pycode_line(l, neg, sizeof(neg), 1, 2), -1);
	assert_int_equal(pycode_line(l, t, sizeof(t), -1, 0), -1);
	assert_int_equal(pycode_line(NULL, t, sizeof(t), 1, 0), -1);
}

/* The same function's 3.10 co_linetable, against its co_lines(); and
 * -128 (no line) entries, which leave the line where it was. */
static void test_linetable310(void **state)
{
	const struct pycode_layout *l = registry_code_layout(10);
	static const uint8_t t[] = { 4, 1,   0, 127, 0, 127, 4, 47,  8, 1,  4, 255,
				     0, 127, 2, 75,  2, 1,   0, 127, 2, 24, 0, 129,
				     6, 232, 0, 127, 2, 26,  4, 1,   2, 255 };
	/* co_lines(): (0,4,2) (4,8,303) (8,16,304) (16,20,303) (20,22,505)
	 * (22,24,506) (24,26,657) (26,32,506) (32,34,659) (34,38,660) (38,40,659) */
	static const struct {
		uint32_t s, e;
		int line;
	} r[] = {
		{ 0, 4, 2 },	 { 4, 8, 303 },	  { 8, 16, 304 },  { 16, 20, 303 },
		{ 20, 22, 505 }, { 22, 24, 506 }, { 24, 26, 657 }, { 26, 32, 506 },
		{ 32, 34, 659 }, { 34, 38, 660 }, { 38, 40, 659 },
	};
	static const uint8_t none[] = { 2, 1, 4, 0x80, 0, 0x80, 2, 1, 2, 0x80 };
	static const struct want wn[] = { { 0, 11 }, { 2, -1 }, { 4, -1 },
					  { 6, 12 }, { 8, -1 }, { 10, -1 } };

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(r); i++)
		for (uint32_t o = r[i].s; o < r[i].e; o += 2)
			assert_int_equal(pycode_line(l, t, sizeof(t), 1, o), r[i].line);
	assert_int_equal(pycode_line(l, t, sizeof(t), 1, 40), -1); /* past the end */
	check_lines(l, none, sizeof(none), 10, wn, ARRAY_SIZE(wn));
	assert_int_equal(pycode_line(l, t, sizeof(t) - 1, 1, 0), -1);
	assert_int_equal(pycode_line(l, (const uint8_t *)"", 0, 1, 0), -1);
}

/* 3.11 location table of the same function, against its co_lines(). */
static void test_locations_real(void **state)
{
	const struct pycode_layout *l = registry_code_layout(11);
	static const uint8_t t[] = {
		128, 0,	 216, 8,   9,	128, 65,  240, 90,  9,	 0,   11,  12,	240, 0,
		1,   5,	 15,  216, 8,	9,   136, 81,  137, 6,	 136, 1,   240, 3,   0,
		11,  12, 240, 0,   1,	5,   15,  240, 84,  6,	 90,  2,   5,	13,  221,
		12,  13, 240, 110, 4,	0,   1,	  2,   241, 111, 4,   87,  2,	13,  3,
		244, 0,	 87,  2,   13,	3,   136, 1,   240, 114, 4,   0,   9,	13,  248,
		136, 4,	 136, 4,   136, 4,   136, 4,   216, 11,	 12,  128, 72,
	};
	static const struct {
		uint32_t s, e;
		int line;
	} r[] = {
		{ 0, 2, 1 },	 { 2, 6, 2 },	  { 6, 10, 303 },  { 10, 20, 304 }, { 20, 24, 303 },
		{ 24, 26, 505 }, { 26, 38, 506 }, { 38, 40, 657 }, { 40, 56, 506 }, { 56, 58, 659 },
		{ 58, 60, -1 },	 { 60, 68, 659 }, { 68, 72, 660 },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(r); i++)
		for (uint32_t o = r[i].s; o < r[i].e; o += 2)
			assert_int_equal(pycode_line(l, t, sizeof(t), 1, o), r[i].line);
	assert_int_equal(pycode_line(l, t, sizeof(t), 1, 72), -1);
	/* cut inside the long-form entry of offset 6 */
	assert_int_equal(pycode_line(l, t, 9, 1, 4), 2);
	assert_int_equal(pycode_line(l, t, 9, 1, 6), -1);
}

#define LOC(code, units) (uint8_t)(0x80 | (code) << 3 | ((units)-1))

/* Every entry form, hand-made. */
static void test_locations_forms(void **state)
{
	const struct pycode_layout *l = registry_code_layout(12);
	static const uint8_t t[] = {
		LOC(2, 2),  0x23, /* short form: same line, bytes 0-3 */
		LOC(12, 1), 5,	  9, /* one-line form, +2: bytes 4-5 */
		LOC(13, 3), 0x58, 0x09, /* no columns, +300 (svarint 600): bytes 6-11 */
		LOC(15, 1), /* no location: bytes 12-13 */
		LOC(14, 8), 0x75, 0x07, 0x00, 0x05, 0x48, 0x03, /* long, -250: bytes 14-29 */
		LOC(0, 1),  0x00, /* short: bytes 30-31 */
		LOC(10, 2), 1,	  2, /* one-line +0: bytes 32-35 */
		LOC(11, 1), 1,	  2, /* one-line +1: bytes 36-37 */
	};
	static const struct want w[] = { { 0, 1000 },  { 2, 1000 },  { 4, 1002 },  { 6, 1302 },
					 { 10, 1302 }, { 12, -1 },   { 14, 1052 }, { 28, 1052 },
					 { 30, 1052 }, { 32, 1052 }, { 34, 1052 }, { 36, 1053 },
					 { 38, -1 },   { 40000, -1 } };
	uint8_t bad[sizeof(t)];

	(void)state;
	check_lines(l, t, sizeof(t), 1000, w, ARRAY_SIZE(w));
	/* the first line may be 0; a line below 0 is malformed */
	assert_int_equal(pycode_line(l, (const uint8_t[]){ LOC(0, 1), 0 }, 2, 0, 0), 0);
	assert_int_equal(pycode_line(l, (const uint8_t[]){ LOC(13, 1), 0x59, 0x09 }, 3, 100, 0),
			 -1);
	assert_int_equal(pycode_line(l, (const uint8_t[]){ LOC(13, 1), 0x59, 0x09 }, 3, 301, 0), 1);
	/* not starting on an entry */
	assert_int_equal(pycode_line(l, t + 1, sizeof(t) - 1, 1000, 0), -1);
	/* a short form without its column byte, at the end */
	assert_int_equal(pycode_line(l, t, 1, 1000, 0), -1);
	/* truncated inside the varint of offset 6: earlier offsets still known */
	assert_int_equal(pycode_line(l, t, 7, 1000, 4), 1002);
	assert_int_equal(pycode_line(l, t, 7, 1000, 6), -1);
	/* a varint with a byte of the next entry in it */
	memcpy(bad, t, sizeof(t));
	bad[6] = 0x58 | 0x80;
	assert_int_equal(pycode_line(l, bad, sizeof(bad), 1000, 6), -1);
	/* a varint longer than 32 bits */
	assert_int_equal(pycode_line(l,
				     (const uint8_t[]){ LOC(13, 1), 0x40, 0x40, 0x40, 0x40, 0x40,
							0x40, 0x01 },
				     8, 1, 0),
			 -1);
	/* too many bytes after a form: the next entry must start there */
	assert_int_equal(
		pycode_line(l, (const uint8_t[]){ LOC(0, 1), 0, 0, LOC(0, 1), 0 }, 5, 1, 2), -1);
	/* a svarint as large as 32 bits allow: no line, never a wrap */
	assert_int_equal(
		pycode_line(l, (const uint8_t[]){ LOC(13, 1), 0x7e, 0x7f, 0x7f, 0x7f, 0x7f, 0x03 },
			    7, 1, 0),
		-1);
}

/* Random tables, random offsets: a line or -1, never a crash (run it
 * under SAN=address,undefined as well). */
static void test_decoder_fuzz(void **state)
{
	static const int versions[] = { 8, 10, 11 };
	uint8_t t[96];
	int lines = 0, none = 0;

	(void)state;
	for (int it = 0; it < 300000; it++) {
		const struct pycode_layout *l = registry_code_layout(versions[it % 3]);
		size_t len = rnd() % sizeof(t);
		int first = (it & 4) ? (int)(rnd() % 3000) : 0x7fffff00;
		int line;

		for (size_t i = 0; i < len; i++) {
			t[i] = rnd();
			if ((it & 8) && !(i & 1)) /* mostly entry starts */
				t[i] |= 0x80;
		}
		line = pycode_line(l, t, len, first, rnd() % 400);
		assert_true(line >= -1);
		line < 0 ? none++ : lines++;
	}
	assert_true(lines > 1000 && none > 1000);
}

/* ---- instruction offsets --------------------------------------------------- */

static void test_offset(void **state)
{
	const struct pycode_layout *l38 = registry_code_layout(8), *l310 = registry_code_layout(10);
	const struct pycode_layout *l311 = registry_code_layout(11),
				   *l313 = registry_code_layout(13);
	const uint64_t code = 0x7f0000001000ull, b311 = code + 184, b313 = code + 200;
	uint32_t off;

	(void)state;
	/* 3.8/3.9: f_lasti in bytes; -1 zero- or sign-extended: not started */
	assert_int_equal(pycode_offset(l38, code, 6, 100, &off), 0);
	assert_int_equal(off, 6);
	assert_int_equal(pycode_offset(l38, code, 0xffffffffull, 100, &off), 0);
	assert_int_equal(off, 0);
	assert_int_equal(pycode_offset(l38, code, UINT64_MAX, 100, &off), 0);
	assert_int_equal(off, 0);
	assert_int_equal(pycode_offset(l38, code, 0xfffffffeull, 100, &off), -ERANGE);
	assert_int_equal(pycode_offset(l38, code, 100, 100, &off), -ERANGE);
	assert_int_equal(pycode_offset(l38, code, 98, 100, &off), 0);
	assert_int_equal(pycode_offset(l38, code, 7, 100, &off), -EINVAL);
	assert_int_equal(pycode_offset(l38, code, 0x100000002ull, 100, &off), -ERANGE);
	assert_int_equal(pycode_offset(l38, code, 0, 0, &off), -ERANGE);
	/* 3.10: code units */
	assert_int_equal(pycode_offset(l310, code, 3, 100, &off), 0);
	assert_int_equal(off, 6);
	assert_int_equal(pycode_offset(l310, code, 0xffffffffull, 100, &off), 0);
	assert_int_equal(off, 0);
	assert_int_equal(pycode_offset(l310, code, 50, 100, &off), -ERANGE);
	assert_int_equal(pycode_offset(l310, code, 0x7fffffff, 100, &off), -ERANGE);
	/* 3.11+: an address in co_code_adaptive; prev_instr one unit before */
	assert_int_equal(pycode_offset(l311, code, b311 + 10, 100, &off), 0);
	assert_int_equal(off, 10);
	assert_int_equal(pycode_offset(l311, code, b311 - 2, 100, &off), 0);
	assert_int_equal(off, 0);
	assert_int_equal(pycode_offset(l311, code, b311 - 4, 100, &off), -ERANGE);
	assert_int_equal(pycode_offset(l311, code, b311 + 100, 100, &off), -ERANGE);
	assert_int_equal(pycode_offset(l311, code, b311 + 3, 100, &off), -EINVAL);
	assert_int_equal(pycode_offset(l311, code, 0, 100, &off), -ERANGE);
	assert_int_equal(pycode_offset(l311, UINT64_MAX - 8, 4, 100, &off), -ERANGE);
	assert_int_equal(pycode_offset(l313, code, b313 + 98, 100, &off), 0);
	assert_int_equal(off, 98);
	assert_int_equal(pycode_offset(l313, code, b311 + 98, 100, &off), 0);
	assert_int_equal(off, 82);
	assert_int_equal(pycode_offset(NULL, code, 0, 100, &off), -EINVAL);
}

static void test_layouts(void **state)
{
	(void)state;
	assert_null(registry_code_layout(7));
	assert_null(registry_code_layout(16));
	for (int m = 8; m <= 15; m++) {
		const struct pycode_layout *l = registry_code_layout(m);

		assert_non_null(l);
		assert_int_equal(l->co_qualname >= 0, m >= 11);
		assert_int_equal(l->co_code >= 0, m <= 10);
		assert_int_equal(l->co_code_adaptive >= 0, m >= 11);
		assert_int_equal(l->refcnt_bits, m >= 14 ? 48 : 64);
		/* the walker reads co_name right after co_filename */
		assert_int_equal(l->co_name, l->co_filename + 8);
	}
}

/* ---- pycode_read on a fake address space ----------------------------------- */

/* Objects in this process's memory; a read outside the mapped regions
 * fails as process_vm_readv would. */
struct fake {
	uint8_t *mem;
	size_t mapped; /* bytes of mem readable */
	int reads;
};

#define FAKE_SIZE  (3u << 20)
#define AT_CODE	   0x100
#define AT_FILE	   0x400
#define AT_NAME	   0x800
#define AT_QUAL	   0xc00
#define AT_BYTES   0x1000
#define AT_TABLE   0x1400
#define AT_BIGSTR  0x2000 /* room for 5000 characters */
#define FAKE_CODEB 64

static uint64_t type_code = 1, type_str = 2, type_bytes = 3; /* their addresses are the types */
static uint8_t *fake_mem;

static uint64_t at(size_t off)
{
	return (uint64_t)(uintptr_t)(fake_mem + off);
}

static int fake_read(void *ctx, uint64_t addr, void *buf, size_t len)
{
	struct fake *f = ctx;
	uint64_t base = (uint64_t)(uintptr_t)f->mem;

	f->reads++;
	if (addr < base || len > f->mapped || addr - base > f->mapped - len)
		return -EFAULT;
	memcpy(buf, (void *)(uintptr_t)addr, len);
	return 0;
}

static void put64(size_t off, uint64_t v)
{
	memcpy(fake_mem + off, &v, 8);
}

static void put32(size_t off, uint32_t v)
{
	memcpy(fake_mem + off, &v, 4);
}

/* A compact str of n code points; garbage in the state word's padding,
 * as in real processes. */
static void put_str(const struct pycode_layout *l, size_t off, const uint32_t *cp, size_t n,
		    unsigned kind)
{
	bool ascii = kind == 1;
	uint32_t state = kind << 2 | 0x20 | 0xa5a5a500u;

	for (size_t i = 0; i < n; i++)
		ascii = ascii && cp[i] < 0x80;
	state |= ascii ? 0x40 : 0;
	state |= l->str_ready_bit ? 0x80 : 0;
	put64(off, 1);
	put64(off + 8, (uintptr_t)&type_str);
	put64(off + 16, n);
	put32(off + 32, state);
	for (size_t i = 0; i < n; i++) {
		uint8_t *d = fake_mem + off + (ascii ? l->str_ascii_data : l->str_compact_data);

		if (kind == 1)
			d[i] = cp[i];
		else if (kind == 2)
			memcpy(d + 2 * i, &(uint16_t){ cp[i] }, 2);
		else
			memcpy(d + 4 * i, &cp[i], 4);
	}
}

static void put_ascii(const struct pycode_layout *l, size_t off, const char *s)
{
	uint32_t cp[64];
	size_t n = strlen(s);

	for (size_t i = 0; i < n; i++)
		cp[i] = (uint8_t)s[i];
	put_str(l, off, cp, n, 1);
}

static void put_bytes(size_t off, const void *data, size_t n)
{
	put64(off, 1);
	put64(off + 8, (uintptr_t)&type_bytes);
	put64(off + 16, n);
	memcpy(fake_mem + off + 32, data, n);
}

static const uint8_t fake_table[] = { LOC(0, 1), 0, LOC(11, 2), 1, 2 };

/* A valid code object: Klass.method in /src/λ.py, first line 42. */
static void fake_build(const struct pycode_layout *l, struct fake *f)
{
	static const uint32_t file[] = { '/', 's', 'r', 'c', '/', 0x3bb, '.', 'p', 'y' };

	memset(fake_mem, 0, 0x3000);
	f->mem = fake_mem;
	f->mapped = FAKE_SIZE;
	f->reads = 0;
	put64(AT_CODE, 3);
	put64(AT_CODE + 8, (uintptr_t)&type_code);
	put32(AT_CODE + l->co_firstlineno, 42);
	put64(AT_CODE + l->co_filename, at(AT_FILE));
	put64(AT_CODE + l->co_name, at(AT_NAME));
	put64(AT_CODE + l->co_linetable, at(AT_TABLE));
	if (l->co_qualname >= 0)
		put64(AT_CODE + l->co_qualname, at(AT_QUAL));
	if (l->co_code >= 0) {
		put64(AT_CODE + l->co_code, at(AT_BYTES));
		put_bytes(AT_BYTES, fake_mem, FAKE_CODEB);
	} else {
		put64(AT_CODE + 16, FAKE_CODEB / 2);
	}
	put_str(l, AT_FILE, file, ARRAY_SIZE(file), 2);
	put_ascii(l, AT_NAME, "method");
	put_ascii(l, AT_QUAL, "Klass.method");
	put_bytes(AT_TABLE, fake_table, sizeof(fake_table));
}

static const struct pycode_types fake_types = { (uintptr_t)&type_code, (uintptr_t)&type_str,
						(uintptr_t)&type_bytes };

static int fake_try(const struct pycode_layout *l, struct fake *f, uint64_t addr,
		    struct pycode_info *info)
{
	int err = pycode_read(l, &fake_types, fake_read, f, addr, info);

	if (err) /* nothing to free, nothing half-filled */
		assert_true(!info->linetable && !info->function[0] && !info->file[0]);
	return err;
}

/* The one change from a valid object that must make it unreadable. */
static void expect_err(const struct pycode_layout *l, int want, size_t off, uint64_t v, int width)
{
	struct pycode_info info;
	struct fake f;

	fake_build(l, &f);
	if (width == 8)
		put64(off, v);
	else if (width == 4)
		put32(off, v);
	else
		fake_mem[off] = v;
	if (fake_try(l, &f, at(AT_CODE), &info) != want)
		fail_msg("3.%d: %#zx <- %#llx: want %d", l->minor, off, (unsigned long long)v,
			 want);
	pycode_info_free(&info);
}

static void test_read_fake_valid(void **state)
{
	(void)state;
	for (int m = 8; m <= 13; m++) {
		const struct pycode_layout *l = registry_code_layout(m);
		struct pycode_types unknown = { 0 };
		struct pycode_info info;
		struct fake f;

		fake_build(l, &f);
		assert_int_equal(fake_try(l, &f, at(AT_CODE), &info), 0);
		assert_string_equal(info.function, m >= 11 ? "Klass.method" : "method");
		assert_string_equal(info.file, "/src/\xce\xbb.py");
		assert_int_equal(info.firstlineno, 42);
		assert_int_equal(info.fp, pmt_code_fp(at(AT_FILE), at(AT_NAME), 42));
		assert_int_equal(info.code_bytes, FAKE_CODEB);
		assert_int_equal(info.linetable_len, sizeof(fake_table));
		assert_memory_equal(info.linetable, fake_table, sizeof(fake_table));
		assert_true(f.reads <= 9);
		pycode_info_free(&info);
		pycode_info_free(&info);
		pycode_info_free(NULL);
		/* types unknown: everything else is still checked */
		assert_int_equal(pycode_read(l, &unknown, fake_read, &f, at(AT_CODE), &info), 0);
		assert_string_equal(info.file, "/src/\xce\xbb.py");
		pycode_info_free(&info);
		assert_int_equal(pycode_read(l, NULL, fake_read, &f, at(AT_CODE), &info), 0);
		pycode_info_free(&info);
	}
}

static void test_read_fake_code_hostile(void **state)
{
	(void)state;
	for (int m = 8; m <= 13; m++) {
		const struct pycode_layout *l = registry_code_layout(m);
		struct pycode_info info;
		struct fake f;

		expect_err(l, -EINVAL, AT_CODE + 8, (uintptr_t)&type_str, 8); /* a str */
		expect_err(l, -EINVAL, AT_CODE, 0, 8); /* freed: refcount 0 */
		expect_err(l, -EINVAL, AT_CODE, at(AT_NAME), 8); /* free-list pointer */
		expect_err(l, -EINVAL, AT_CODE + l->co_firstlineno, (uint32_t)-1, 4);
		expect_err(l, -EINVAL, AT_CODE + l->co_filename, 0, 8);
		expect_err(l, -EINVAL, AT_CODE + l->co_filename, at(AT_FILE) + 4, 8);
		expect_err(l, -EINVAL, AT_CODE + l->co_filename, 0xffff888000000000ull, 8);
		expect_err(l, -EFAULT, AT_CODE + l->co_filename, at(FAKE_SIZE + 4096), 8);
		expect_err(l, -EINVAL, AT_CODE + l->co_name, 0x10, 8);
		expect_err(l, -EINVAL, AT_CODE + l->co_name, at(AT_TABLE), 8); /* bytes, not str */
		expect_err(l, -EINVAL, AT_CODE + l->co_linetable, at(AT_NAME), 8);
		expect_err(l, -EFAULT, AT_CODE + l->co_linetable, at(FAKE_SIZE), 8);
		if (m >= 11) {
			expect_err(l, -EINVAL, AT_CODE + l->co_qualname, 0, 8);
			expect_err(l, -EINVAL, AT_CODE + 16, 0, 8); /* no bytecode */
			expect_err(l, -EINVAL, AT_CODE + 16, (uint64_t)-1, 8);
			expect_err(l, -EINVAL, AT_CODE + 16, 1ull << 40, 8);
		} else {
			expect_err(l, -EINVAL, AT_CODE + l->co_code, at(AT_NAME), 8);
			expect_err(l, -EINVAL, AT_BYTES + 16, 0, 8);
			expect_err(l, -EINVAL, AT_BYTES + 16, 63, 8);
			expect_err(l, -EINVAL, AT_BYTES + 16, (uint64_t)-2, 8);
			expect_err(l, -EINVAL, AT_BYTES + 16, 1ull << 30, 8);
		}
		/* the line table: absurd sizes refused, a huge one not copied */
		expect_err(l, -EINVAL, AT_TABLE + 16, (uint64_t)-1, 8);
		expect_err(l, -EINVAL, AT_TABLE + 16, 1ull << 40, 8);
		expect_err(l, -EINVAL, AT_TABLE + 8, (uintptr_t)&type_str, 8);
		fake_build(l, &f);
		put64(AT_TABLE + 16, 2u << 20);
		assert_int_equal(fake_try(l, &f, at(AT_CODE), &info), 0);
		assert_null(info.linetable);
		assert_int_equal(pycode_line(l, info.linetable, info.linetable_len, 42, 0), -1);
		/* the table's bytes cut by the end of the mapping */
		fake_build(l, &f);
		f.mapped = AT_TABLE + 32 + 2;
		assert_int_equal(fake_try(l, &f, at(AT_CODE), &info), -EFAULT);
		/* the code object itself */
		fake_build(l, &f);
		assert_int_equal(fake_try(l, &f, 0, &info), -EFAULT);
		assert_int_equal(fake_try(l, &f, 8, &info), -EFAULT);
		assert_int_equal(fake_try(l, &f, at(AT_CODE) + 4, &info), -EINVAL);
		assert_int_equal(fake_try(l, &f, 0xffffffff81000000ull, &info), -EFAULT);
		assert_int_equal(fake_try(l, &f, at(FAKE_SIZE), &info), -EFAULT);
		assert_int_equal(fake_try(l, &f, at(FAKE_SIZE - 64), &info), -EFAULT);
		assert_int_equal(fake_try(l, &f, at(AT_FILE), &info), -EINVAL); /* a str */
	}
}

static void test_read_fake_str_hostile(void **state)
{
	(void)state;
	for (int m = 8; m <= 13; m++) {
		const struct pycode_layout *l = registry_code_layout(m);
		size_t st = AT_FILE + 32;

		expect_err(l, -EINVAL, st, 0x80 | 0x40 | 1 << 2, 1); /* not compact */
		expect_err(l, -EINVAL, st, 0x80 | 0x20 | 3 << 2, 1); /* kind 3 */
		expect_err(l, -EINVAL, st, 0x80 | 0x20, 1); /* kind 0 (3.8-3.11: wchar) */
		expect_err(l, -EINVAL, st, 0x80 | 0x20 | 0x40 | 2 << 2, 1); /* ascii, kind 2 */
		expect_err(l, -EINVAL, AT_FILE + 16, (uint64_t)-1, 8);
		expect_err(l, -EINVAL, AT_FILE + 16, 1ull << 40, 8);
		expect_err(l, -EINVAL, AT_FILE, 0, 8);
		expect_err(l, -EINVAL, AT_FILE + 8, (uintptr_t)&type_bytes, 8);
		/* the ready bit: required up to 3.11, statically_allocated after */
		expect_err(l, m <= 11 ? -EINVAL : 0, st, 0x20 | 2 << 2, 1);
		expect_err(l, 0, st, 0x80 | 0x20 | 2 << 2, 1);
	}
}

/* Characters UTF-8 cannot carry, control characters, cutting. */
static void test_read_fake_str_clean(void **state)
{
	static const uint32_t odd[] = { 'A',  0x110000, 0xd800, 0xdfff, 0x01, 0x9b,
					0x7f, 0x20000,	0xe9,	0x3bb,	'\n', 0xffffffff };
	static const char want[] = "A\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd???\xf0\xa0\x80\x80"
				   "\xc3\xa9\xce\xbb?\xef\xbf\xbd";
	uint32_t big[5000];

	(void)state;
	for (int m = 8; m <= 13; m++) {
		const struct pycode_layout *l = registry_code_layout(m);
		struct pycode_info info;
		struct fake f;
		char w[1024];

		fake_build(l, &f);
		put_str(l, AT_FILE, odd, ARRAY_SIZE(odd), 4);
		assert_int_equal(fake_try(l, &f, at(AT_CODE), &info), 0);
		assert_string_equal(info.file, want);
		pycode_info_free(&info);
		/* an "ASCII" string with a byte >= 0x80 */
		fake_build(l, &f);
		put_ascii(l, AT_FILE, "abcz");
		fake_mem[AT_FILE + l->str_ascii_data + 2] = 0xc3;
		assert_int_equal(fake_try(l, &f, at(AT_CODE), &info), 0);
		assert_string_equal(info.file, "ab\xef\xbf\xbdz");
		pycode_info_free(&info);
		/* 5000 characters: cut at 1023 bytes (ASCII), at 255 bytes
		 * on a character boundary (UCS-2, 2 bytes each: 127) */
		for (size_t i = 0; i < ARRAY_SIZE(big); i++)
			big[i] = 'a' + i % 26;
		fake_build(l, &f);
		put_str(l, AT_BIGSTR, big, ARRAY_SIZE(big), 1);
		put64(AT_CODE + l->co_filename, at(AT_BIGSTR));
		assert_int_equal(fake_try(l, &f, at(AT_CODE), &info), 0);
		for (size_t i = 0; i < 1023; i++)
			w[i] = big[i];
		w[1023] = '\0';
		assert_string_equal(info.file, w);
		pycode_info_free(&info);
		for (size_t i = 0; i < ARRAY_SIZE(big); i++)
			big[i] = 0x3bb;
		put_str(l, AT_BIGSTR, big, ARRAY_SIZE(big), 2);
		put64(AT_CODE + (l->co_qualname >= 0 ? (size_t)l->co_qualname : l->co_name),
		      at(AT_BIGSTR));
		assert_int_equal(fake_try(l, &f, at(AT_CODE), &info), 0);
		assert_int_equal(strlen(info.function), 254);
		assert_memory_equal(info.function, "\xce\xbb\xce\xbb", 4);
		pycode_info_free(&info);
		/* a long string whose characters run off the mapping */
		f.mapped = AT_BIGSTR + l->str_compact_data + 100;
		assert_int_equal(fake_try(l, &f, at(AT_CODE), &info), -EFAULT);
	}
}

static bool utf8_clean(const char *s, size_t cap)
{
	const uint8_t *p = (const uint8_t *)s;
	size_t n = strnlen(s, cap);

	if (n == cap)
		return false;
	for (size_t i = 0; i < n;) {
		uint32_t cp;
		int k = p[i] < 0x80		? 1
			: (p[i] & 0xe0) == 0xc0 ? 2
			: (p[i] & 0xf0) == 0xe0 ? 3
			: (p[i] & 0xf8) == 0xf0 ? 4
						: 0;

		if (!k || i + k > n)
			return false;
		cp = k == 1 ? p[i] : p[i] & (0x7f >> k);
		for (int j = 1; j < k; j++) {
			if ((p[i + j] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (p[i + j] & 0x3f);
		}
		if ((k == 2 && cp < 0x80) || (k == 3 && cp < 0x800) || (k == 4 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp < 0xe000))
			return false;
		if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0))
			return false;
		i += k;
	}
	return true;
}

/* Random corruption of the objects' first bytes: an error or a clean
 * result, never a crash or a leak. */
static void test_read_fake_fuzz(void **state)
{
	int ok = 0, bad = 0;

	(void)state;
	for (int it = 0; it < 60000; it++) {
		const struct pycode_layout *l = registry_code_layout(8 + it % 6);
		static const size_t objs[] = { AT_CODE, AT_FILE,  AT_NAME,
					       AT_QUAL, AT_TABLE, AT_BYTES };
		struct pycode_info info;
		struct fake f;
		int err, flips = 1 + rnd() % 6;

		fake_build(l, &f);
		for (int k = 0; k < flips; k++) {
			size_t off = objs[rnd() % ARRAY_SIZE(objs)] + rnd() % 160;

			fake_mem[off] = (k & 1) ? fake_mem[off] ^ (1u << (rnd() % 8)) : rnd();
		}
		err = pycode_read(l, it & 1 ? &fake_types : NULL, fake_read, &f, at(AT_CODE),
				  &info);
		assert_true(err == 0 || err == -EINVAL || err == -EFAULT);
		if (err) {
			assert_null(info.linetable);
			bad++;
			continue;
		}
		ok++;
		assert_true(utf8_clean(info.function, sizeof(info.function)));
		assert_true(utf8_clean(info.file, sizeof(info.file)));
		assert_true(info.linetable_len <= PYCODE_MAX_LINETABLE);
		assert_true(info.code_bytes > 0 && info.code_bytes <= PYCODE_MAX_CODE_BYTES);
		if (info.linetable)
			pycode_line(l, info.linetable, info.linetable_len, info.firstlineno,
				    rnd() % 200);
		pycode_info_free(&info);
	}
	printf("fuzzed pycode_read: %d read, %d refused\n", ok, bad);
	assert_true(ok > 1000 && bad > 1000);
}

/* ---- the real interpreters -------------------------------------------------- */

/* The child: its code objects and what Python says about each. "#BLANK n"
 * lines are written as n empty lines. */
static const char script[] =
	"import dis, json, sys\n"
	"V = sys.version_info[:2]\n"
	"\n"
	"\n"
	"def long_jumps(a):\n"
	"    x = 1\n"
	"#BLANK 300\n"
	"    while a:\n"
	"        a -= 1\n"
	"#BLANK 200\n"
	"    y = len(\n"
	"#BLANK 150\n"
	"        str(a))\n"
	"    try:\n"
	"        z = 1\n"
	"    finally:\n"
	"        x += 1\n"
	"    return x + y + z\n"
	"\n"
	"\n"
	"lam = lambda q: q * 2\n"
	"\n"
	"\n"
	"def outer():\n"
	"    def inner(v):\n"
	"        return v + 1\n"
	"    return inner\n"
	"\n"
	"\n"
	"def comprehensions(xs):\n"
	"    a = [x * 2 for x in xs]\n"
	"    b = {x: x for x in xs}\n"
	"    c = {x for x in xs}\n"
	"    d = (x for x in xs)\n"
	"    return a, b, c, d\n"
	"\n"
	"\n"
	"class Klass:\n"
	"    def method(self):\n"
	"        return self\n"
	"\n"
	"\n"
	"def f\u00e9():\n"
	"    return 1\n"
	"\n"
	"\n"
	"def f\u03bb():\n"
	"    return 2\n"
	"\n"
	"\n"
	"def f\U00020000():\n"
	"    return 3\n"
	"\n"
	"\n"
	"EXTRA = ('def g(a):\\n    return a\\nclass K:\\n    def ' + '\\u00e9' * 200 +\n"
	"         '(self):\\n        pass\\n')\n"
	"NAMES = ['ctl\\x01\\t\\n\\x7f\\x85name.py', 'sur\\udcff\\ud800rogate.py',\n"
	"         'f\\u00efl\\u00e9.py', '\\u03bb\\u03ac\\u03bc\\u03b4\\u03b1.py',\n"
	"         '/' + 'a' * 1021 + '\\u03bb' * 300, '', '\\U00020000' * 400]\n"
	"extras = [compile(EXTRA, n, 'exec') for n in NAMES]\n"
	"\n"
	"\n"
	"def walk(co, out):\n"
	"    out.append(co)\n"
	"    for c in co.co_consts:\n"
	"        if isinstance(c, type(co)):\n"
	"            walk(c, out)\n"
	"\n"
	"\n"
	"def clean(s, cap):\n"
	"    t = []\n"
	"    for ch in s:\n"
	"        cp = ord(ch)\n"
	"        if cp < 0x20 or 0x7f <= cp < 0xa0:\n"
	"            ch = '?'\n"
	"        elif 0xd800 <= cp < 0xe000:\n"
	"            ch = '\\ufffd'\n"
	"        t.append(ch)\n"
	"    b = ''.join(t).encode('utf-8')\n"
	"    if len(b) > cap:\n"
	"        k = cap\n"
	"        while k > 0 and b[k] & 0xc0 == 0x80:\n"
	"            k -= 1\n"
	"        b = b[:k]\n"
	"    return b.hex()\n"
	"\n"
	"\n"
	"def lines(co):\n"
	"    res = [-1] * (len(co.co_code) // 2)\n"
	"    if V >= (3, 10):\n"
	"        for s, e, ln in co.co_lines():\n"
	"            for o in range(s, min(e, 2 * len(res)), 2):\n"
	"                res[o // 2] = -1 if ln is None else ln\n"
	"    else:\n"
	"        starts = list(dis.findlinestarts(co))\n"
	"        for i in range(len(res)):\n"
	"            res[i] = max(st for st in starts if st[0] <= 2 * i)[1]\n"
	"    return res\n"
	"\n"
	"\n"
	"RAN = {'<module>', 'Klass', 'walk', 'clean', 'lines', '<genexpr>', '<listcomp>'}\n"
	"codes = []\n"
	"walk(sys._getframe().f_code, codes)\n"
	"for e in extras:\n"
	"    walk(e, codes)\n"
	"out = {\n"
	"    'version': list(sys.version_info[:3]),\n"
	"    'types': [id(type(codes[0])), id(str), id(bytes)],\n"
	"    'not_code': [id('not a code object'), id(12345678901234567),\n"
	"                 id(b'bytes, not code'), id(codes), id(sys)],\n"
	"    'codes': [{\n"
	"        'label': ascii(co.co_name),\n"
	"        'id': id(co), 'file_id': id(co.co_filename), 'name_id': id(co.co_name),\n"
	"        'first': co.co_firstlineno,\n"
	"        'func': clean(co.co_qualname if V >= (3, 11) else co.co_name, 255),\n"
	"        'file': clean(co.co_filename, 1023),\n"
	"        'nbytes': len(co.co_code),\n"
	"        'code': co.co_code.hex(),\n"
	"        'ran': co.co_name in RAN,\n"
	"        'lines': lines(co),\n"
	"    } for co in codes],\n"
	"}\n"
	"tmp = compile('def freed_fn():\\n    pass\\n', 'freed.py', 'exec')\n"
	"out['freed'] = id(tmp)\n"
	"del tmp\n"
	"sys.stdout.write(json.dumps(out) + '\\n')\n"
	"sys.stdout.flush()\n"
	"sys.stdin.read()\n";

/* A long directory path with non-ASCII names (1-, 2- and 4-byte
 * characters), made once for all interpreters. */
#define SCRIPT_DEPTH 4
static char script_path[1024];
static size_t script_dir_len[SCRIPT_DEPTH + 1]; /* each directory: the path cut there */

static int path_append(const char *s, size_t pad_to)
{
	size_t n = strlen(script_path), k = strlen(s);

	if (n + (k > pad_to ? k : pad_to) >= sizeof(script_path))
		return -1;
	memcpy(script_path + n, s, k);
	for (; k < pad_to; k++)
		script_path[n + k] = 'd';
	script_path[n + k] = '\0';
	return 0;
}

static int script_write(const char *path)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return -1;
	for (const char *l = script; *l;) {
		const char *nl = strchr(l, '\n');
		int blank;

		if (sscanf(l, "#BLANK %d", &blank) == 1)
			for (int k = 0; k < blank; k++)
				fputc('\n', f);
		else
			fwrite(l, 1, nl - l + 1, f);
		l = nl + 1;
	}
	return fclose(f) ? -1 : 0;
}

static int script_setup(void **state)
{
	(void)state;
	strcpy(script_path, "/tmp/pycode-XXXXXX");
	if (!mkdtemp(script_path))
		return -1;
	script_dir_len[0] = strlen(script_path);
	for (int i = 1; i <= SCRIPT_DEPTH; i++) {
		if (path_append("/long_dir_\u00e9_\u03bb_\U00020000_", 200) ||
		    mkdir(script_path, 0755))
			return -1;
		script_dir_len[i] = strlen(script_path);
	}
	if (path_append("/scr\u03bbpt_\u00e9_\U00020000.py", 0))
		return -1;
	return script_write(script_path);
}

static int script_teardown(void **state)
{
	(void)state;
	unlink(script_path);
	for (int i = SCRIPT_DEPTH; i >= 0; i--) {
		script_path[script_dir_len[i]] = '\0';
		rmdir(script_path);
	}
	return 0;
}

static int read_pid(void *ctx, uint64_t addr, void *buf, size_t len)
{
	pid_t pid = *(pid_t *)ctx;
	struct iovec local = { buf, len }, remote = { (void *)(uintptr_t)addr, len };
	ssize_t n = process_vm_readv(pid, &local, 1, &remote, 1, 0);

	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EFAULT;
}

struct child {
	pid_t pid;
	int in; /* its stdin: closing it ends the child */
	json_object *out;
};

static int child_start(const char *root, const char *python, struct child *c)
{
	int to[2], from[2];
	char *line = NULL;
	size_t cap = 0;
	FILE *f;

	if (pipe(to) || pipe(from))
		return -errno;
	c->pid = fork();
	if (c->pid == 0) {
		dup2(to[0], 0);
		dup2(from[1], 1);
		close(to[1]);
		close(from[0]);
		setenv("LC_ALL", "C.UTF-8", 1);
		if (root[0] && (chroot(root) || chdir("/")))
			_exit(126);
		execl(python, python, "-I", "-X", "utf8", "-B", script_path, (char *)NULL);
		_exit(127);
	}
	close(to[0]);
	close(from[1]);
	c->in = to[1];
	f = fdopen(from[0], "r");
	if (getline(&line, &cap, f) > 0)
		c->out = json_tokener_parse(line);
	free(line);
	fclose(f);
	return c->out ? 0 : -EIO;
}

static void child_stop(struct child *c)
{
	int status;

	close(c->in);
	waitpid(c->pid, &status, 0);
	json_object_put(c->out);
}

static json_object *get(json_object *o, const char *key)
{
	json_object *v = NULL;

	if (!json_object_object_get_ex(o, key, &v))
		fail_msg("child output lacks \"%s\"", key);
	return v;
}

static int64_t get_i(json_object *o, const char *key)
{
	return json_object_get_int64(get(o, key));
}

static void unhex(const char *h, char *out, size_t cap)
{
	size_t n = strlen(h) / 2;

	assert_true(n < cap);
	for (size_t i = 0; i < n; i++) {
		unsigned v;

		assert_int_equal(sscanf(h + 2 * i, "%2x", &v), 1);
		out[i] = v;
	}
	out[n] = '\0';
}

/* What the line table says, over every instruction of the function. */
struct coverage {
	int up, down; /* largest line jumps between neighbouring instructions */
	int no_line; /* instructions without a line */
	int codes;
};

static void check_lines_real(const struct pycode_layout *l, const struct pycode_info *info,
			     json_object *c, struct coverage *cov)
{
	json_object *lines = get(c, "lines");
	size_t n = json_object_array_length(lines);
	int prev = -1, bad = 0;

	assert_int_equal(n * 2, info->code_bytes);
	for (size_t i = 0; i < n; i++) {
		int want = json_object_get_int(json_object_array_get_idx(lines, i));
		int got = pycode_line(l, info->linetable, info->linetable_len, info->firstlineno,
				      2 * i);

		if (got != want && bad++ < 5)
			printf("  %s offset %zu: line %d, Python says %d\n",
			       json_object_get_string(get(c, "label")), 2 * i, got, want);
		if (want < 0) {
			cov->no_line++;
			continue;
		}
		if (prev >= 0 && want - prev > cov->up)
			cov->up = want - prev;
		if (prev >= 0 && want - prev < cov->down)
			cov->down = want - prev;
		prev = want;
	}
	assert_int_equal(bad, 0);
}

/* The bytecode where the layout says it is: a bytes object (3.8-3.10),
 * or inline (3.11+, where only the first code unit of code that never ran
 * is sure to be as co_code shows it: running quickens it). */
static void check_bytecode_real(const struct pycode_layout *l, pid_t pid, uint64_t code,
				json_object *c)
{
	const char *hex = json_object_get_string(get(c, "code"));
	uint8_t want[4096], got[4096];
	size_t n = strlen(hex) / 2;
	uint64_t at = code + l->co_code_adaptive;

	if (l->co_code >= 0) {
		assert_int_equal(read_pid(&pid, code + l->co_code, &at, 8), 0);
		at += 32; /* offsetof(PyBytesObject, ob_sval) */
	} else if (json_object_get_boolean(get(c, "ran"))) {
		return;
	} else {
		n = 2;
	}
	n = n < sizeof(want) ? n : sizeof(want);
	for (size_t i = 0; i < n; i++) {
		unsigned v;

		assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
		want[i] = v;
	}
	assert_int_equal(read_pid(&pid, at, got, n), 0);
	if (memcmp(got, want, n))
		fail_msg("%s: bytecode at %#llx is not co_code",
			 json_object_get_string(get(c, "label")), (unsigned long long)at);
}

/* Every offset of the function given as the walker records it. */
static void check_offsets_real(const struct pycode_layout *l, uint64_t code, uint32_t nbytes)
{
	uint64_t base = l->instr == PYCODE_INSTR_ADDR ? code + l->co_code_adaptive : 0;
	uint32_t off;

	for (uint32_t o = 0; o < nbytes; o += 2) {
		uint64_t raw = l->instr == PYCODE_LASTI_UNITS ? o / 2 : base + o;

		assert_int_equal(pycode_offset(l, code, raw, nbytes, &off), 0);
		assert_int_equal(off, o);
	}
	/* not started, and just past the end */
	assert_int_equal(pycode_offset(l, code, base ? base - 2 : 0xffffffffull, nbytes, &off), 0);
	assert_int_equal(off, 0);
	assert_int_equal(pycode_offset(l, code,
				       l->instr == PYCODE_LASTI_UNITS ? nbytes / 2 : base + nbytes,
				       nbytes, &off),
			 -ERANGE);
}

static void check_code_real(const struct pycode_layout *l, const struct pycode_types *t, pid_t pid,
			    json_object *c, struct coverage *cov)
{
	uint64_t code = get_i(c, "id");
	struct pycode_info info;
	char func[256], file[1024];
	int err;

	unhex(json_object_get_string(get(c, "func")), func, sizeof(func));
	unhex(json_object_get_string(get(c, "file")), file, sizeof(file));
	err = pycode_read(l, t, read_pid, &pid, code, &info);
	if (err)
		fail_msg("%s: pycode_read %d", json_object_get_string(get(c, "label")), err);
	assert_string_equal(info.function, func);
	assert_string_equal(info.file, file);
	assert_int_equal(info.firstlineno, get_i(c, "first"));
	assert_int_equal(info.fp,
			 pmt_code_fp(get_i(c, "file_id"), get_i(c, "name_id"), get_i(c, "first")));
	assert_int_equal(info.code_bytes, get_i(c, "nbytes"));
	check_lines_real(l, &info, c, cov);
	check_offsets_real(l, code, info.code_bytes);
	check_bytecode_real(l, pid, code, c);
	pycode_info_free(&info);
	cov->codes++;
}

/* An address in no mapping of the process. */
static uint64_t unmapped(pid_t pid)
{
	char path[64], line[512];
	unsigned long long s, e, prev = 0, gap = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	f = fopen(path, "r");
	assert_non_null(f);
	while (!gap && fgets(line, sizeof(line), f))
		if (sscanf(line, "%llx-%llx", &s, &e) == 2) {
			if (prev && s - prev >= 0x10000)
				gap = prev + 0x1000;
			prev = e;
		}
	fclose(f);
	assert_true(gap);
	return gap;
}

static void check_not_code(const struct pycode_layout *l, const struct pycode_types *t, pid_t pid,
			   json_object *out)
{
	json_object *nc = get(out, "not_code");
	uint64_t a_code = get_i(json_object_array_get_idx(get(out, "codes"), 0), "id");
	struct pycode_info info;
	int err;

	for (size_t i = 0; i < json_object_array_length(nc); i++) {
		uint64_t a = json_object_get_int64(json_object_array_get_idx(nc, i));

		assert_int_equal(pycode_read(l, t, read_pid, &pid, a, &info), -EINVAL);
	}
	assert_int_equal(pycode_read(l, t, read_pid, &pid, 0, &info), -EFAULT);
	assert_int_equal(pycode_read(l, t, read_pid, &pid, unmapped(pid), &info), -EFAULT);
	assert_int_equal(pycode_read(l, t, read_pid, &pid, 0xffffffff81000000ull, &info), -EFAULT);
	assert_int_equal(pycode_read(l, t, read_pid, &pid, a_code + 4, &info), -EINVAL);
	assert_int_equal(pycode_read(l, t, read_pid, &pid, a_code + 16, &info), -EINVAL);
	/* a code object freed just before the child printed */
	err = pycode_read(l, t, read_pid, &pid, get_i(out, "freed"), &info);
	assert_true(err == -EINVAL || err == -EFAULT);
	/* without the types, a real code object still reads */
	assert_int_equal(pycode_read(l, NULL, read_pid, &pid, a_code, &info), 0);
	pycode_info_free(&info);
}

static bool has_func(json_object *codes, const char *name)
{
	char f[256];

	for (size_t i = 0; i < json_object_array_length(codes); i++) {
		unhex(json_object_get_string(get(json_object_array_get_idx(codes, i), "func")), f,
		      sizeof(f));
		if (!strcmp(f, name))
			return true;
	}
	return false;
}

/* The code-object layout pymemtop resolves for this interpreter file. */
static void file_layout(const char *file, struct py_info *pi)
{
	struct elf_file *ef;

	assert_int_equal(elf_file_open(file, &ef), 0);
	assert_int_equal(python_inspect(ef, pi), 0);
	elf_file_close(ef);
	assert_true(pi->is_python);
	if (!pi->reg.ok)
		fail_msg("%s: no layout: %s", file, pi->reg.reason);
}

static void check_interpreter(const struct test_interp *ti)
{
	struct child c = { 0 };
	json_object *codes, *types, *ver;
	const struct pycode_layout *l;
	struct pycode_types t;
	struct coverage cov = { 0 };
	int minor = ti->minor;
	bool q = minor >= 11;
	static struct py_info pi;

	file_layout(ti->file, &pi);
	l = &pi.reg.l.code;
	assert_int_equal(child_start(ti->root, ti->path, &c), 0);
	ver = get(c.out, "version");
	assert_int_equal(json_object_get_int(json_object_array_get_idx(ver, 1)), minor);
	printf("%s: Python %d.%d.%d (the file says %s), layout row %s\n", ti->name,
	       json_object_get_int(json_object_array_get_idx(ver, 0)), minor,
	       json_object_get_int(json_object_array_get_idx(ver, 2)), pi.version, pi.reg.l.row);
	types = get(c.out, "types");
	t.code = json_object_get_int64(json_object_array_get_idx(types, 0));
	t.unicode = json_object_get_int64(json_object_array_get_idx(types, 1));
	t.bytes = json_object_get_int64(json_object_array_get_idx(types, 2));
	codes = get(c.out, "codes");
	for (size_t i = 0; i < json_object_array_length(codes); i++)
		check_code_real(l, &t, c.pid, json_object_array_get_idx(codes, i), &cov);
	check_not_code(l, &t, c.pid, c.out);
	/* the script did exercise what it is meant to */
	assert_true(has_func(codes, "<lambda>") && has_func(codes, "<module>"));
	assert_true(has_func(codes, q ? "Klass.method" : "method"));
	assert_true(has_func(codes, q ? "outer.<locals>.inner" : "inner"));
	assert_true(has_func(codes, q ? "comprehensions.<locals>.<genexpr>" : "<genexpr>"));
	assert_true(has_func(codes, "f\u00e9") && has_func(codes, "f\u03bb") &&
		    has_func(codes, "f\U00020000"));
	assert_true(cov.up > 255 && cov.down < -127);
	printf("%s: %d code objects, every instruction's line; jumps +%d/%d, %d without a "
	       "line\n",
	       ti->name, cov.codes, cov.up, cov.down, cov.no_line);
	child_stop(&c);
}

/* The script at the same path inside a root, for a child that chroots. */
static int root_script(const char *root, bool make)
{
	char p[PATH_MAX + 1024];

	for (int i = 0; i <= SCRIPT_DEPTH; i++) {
		snprintf(p, sizeof(p), "%s%.*s", root, (int)script_dir_len[i], script_path);
		if (make && mkdir(p, 0755) && errno != EEXIST)
			return -1;
	}
	snprintf(p, sizeof(p), "%s%s", root, script_path);
	if (!make) {
		unlink(p);
		for (int i = SCRIPT_DEPTH; i >= 0; i--) {
			snprintf(p, sizeof(p), "%s%.*s", root, (int)script_dir_len[i], script_path);
			rmdir(p);
		}
		return 0;
	}
	return script_write(p);
}

static void test_real(void **state)
{
	const struct test_interp *ti = *state;

	if (ti->root[0])
		assert_int_equal(root_script(ti->root, true), 0);
	check_interpreter(ti);
	if (ti->root[0])
		root_script(ti->root, false);
}

static void test_matrix_present(void **state)
{
	(void)state;
	if (!ti_roots_present())
		fail_msg("the Debian roots are missing under %s: make roots builds them",
			 ti_roots());
}

int main(void)
{
	static uint8_t mem[FAKE_SIZE] __attribute__((aligned(16)));
	static struct test_interp ti[TI_MAX];
	struct CMUnitTest tests[16 + TI_MAX] = {
		cmocka_unit_test(test_lnotab),
		cmocka_unit_test(test_linetable310),
		cmocka_unit_test(test_locations_real),
		cmocka_unit_test(test_locations_forms),
		cmocka_unit_test(test_decoder_fuzz),
		cmocka_unit_test(test_offset),
		cmocka_unit_test(test_layouts),
		cmocka_unit_test(test_read_fake_valid),
		cmocka_unit_test(test_read_fake_code_hostile),
		cmocka_unit_test(test_read_fake_str_hostile),
		cmocka_unit_test(test_read_fake_str_clean),
		cmocka_unit_test(test_read_fake_fuzz),
		cmocka_unit_test(test_matrix_present),
	};
	size_t n = 13;
	int nti = ti_find(ti, false);

	for (int i = 0; i < nti; i++) {
		static char names[TI_MAX][64];

		snprintf(names[i], sizeof(names[i]), "real_%.48s", ti[i].name);
		tests[n++] = (struct CMUnitTest){ names[i], test_real, NULL, NULL, &ti[i] };
	}
	fake_mem = mem;
	signal(SIGPIPE, SIG_IGN);
	return _cmocka_run_group_tests("test_pycode", tests, n, script_setup, script_teardown);
}
