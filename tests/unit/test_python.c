// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * python.c: version decoding (PY_VERSION_HEX and .rodata strings, the
 * latter also fuzzed against a regex oracle) and python_inspect() on the
 * ELF fixtures in .output/fixtures (run from the repository root after
 * `make unit`; see the Makefile for how each one is built).
 */
#include <errno.h>
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <elf.h>
#include "elf_file.h"
#include "pymemtop.h"
#include "python.h"

#define FIXTURE_DIR ".output/fixtures/"
#define FAKE_PYTHON FIXTURE_DIR "fake_python"
#define STRIPPED    FIXTURE_DIR "stripped.elf"
#define LIBPY39	    FIXTURE_DIR "libpython3.9.so.1.0"
#define LIBPY38	    FIXTURE_DIR "libpython3.8.so.1.0"
#define NOT_PYTHON  FIXTURE_DIR "not_python"

/* _PyRuntime + 344 (gc) + 128 (generation_stats) in CPython 3.8 */
#define PY38_GC_STATS_OFF 472

#ifndef FUZZ_ITERATIONS
#define FUZZ_ITERATIONS 20000
#endif

/* Scan the bytes of a literal exactly as written: explicit "\0"s count,
 * the compiler's terminating NUL does not. */
#define SCAN(lit, maj, min, buf)                                                                   \
	python_version_scan((const unsigned char *)(lit), sizeof(lit) - 1, maj, min, buf,          \
			    sizeof(buf))

/* ---- python_version_from_hex ------------------------------------------- */

static void expect_hex(uint32_t hex, const char *want)
{
	char buf[PY_VERSION_LEN];

	memset(buf, 'X', sizeof(buf));
	assert_int_equal(python_version_from_hex(hex, buf, sizeof(buf)), 0);
	assert_string_equal(buf, want);
}

static void test_hex_final(void **state)
{
	(void)state;
	expect_hex(0x030b02f0, "3.11.2");
	expect_hex(0x030c0af0, "3.12.10");
	expect_hex(0x02070ef0, "2.7.14");
}

static void test_hex_prereleases(void **state)
{
	(void)state;
	expect_hex(0x030d00c1, "3.13.0rc1");
	expect_hex(0x030c00a7, "3.12.0a7");
	expect_hex(0x030800b4, "3.8.0b4");
}

static void test_hex_bad_major(void **state)
{
	char buf[PY_VERSION_LEN];

	(void)state;
	assert_int_equal(python_version_from_hex(0x010600f0, buf, sizeof(buf)), -EINVAL);
	assert_int_equal(python_version_from_hex(0x040000f0, buf, sizeof(buf)), -EINVAL);
	assert_int_equal(python_version_from_hex(0, buf, sizeof(buf)), -EINVAL);
	assert_int_equal(python_version_from_hex(0xffffffff, buf, sizeof(buf)), -EINVAL);
}

static void test_hex_bad_minor_micro(void **state)
{
	char buf[PY_VERSION_LEN];

	(void)state;
	assert_int_equal(python_version_from_hex(0x036400f0, buf, sizeof(buf)), -EINVAL);
	assert_int_equal(python_version_from_hex(0x030b64f0, buf, sizeof(buf)), -EINVAL);
}

static void test_hex_bad_level(void **state)
{
	char buf[PY_VERSION_LEN];

	(void)state;
	assert_int_equal(python_version_from_hex(0x030b0200, buf, sizeof(buf)), -EINVAL);
	assert_int_equal(python_version_from_hex(0x030b02e0, buf, sizeof(buf)), -EINVAL);
	assert_int_equal(python_version_from_hex(0x030b0290, buf, sizeof(buf)), -EINVAL);
}

static void test_hex_small_buffer_truncates(void **state)
{
	char buf[5] = "XXXX";

	(void)state;
	assert_int_equal(python_version_from_hex(0x030d00c1, buf, 4), 0);
	assert_string_equal(buf, "3.1");
	assert_int_equal(buf[4], '\0');
}

/* ---- python_version_scan ------------------------------------------------ */

static void test_scan_standalone(void **state)
{
	char buf[PY_VERSION_LEN];

	(void)state;
	assert_int_equal(SCAN("3.9.18\0", 0, 0, buf), 0);
	assert_string_equal(buf, "3.9.18");
	assert_int_equal(SCAN("hello\0"
			      "3.9.18\0"
			      "world\0",
			      0, 0, buf),
			 0);
	assert_string_equal(buf, "3.9.18");
}

static void test_scan_tail_merged(void **state)
{
	char buf[PY_VERSION_LEN];

	(void)state;
	assert_int_equal(SCAN("/opt/x/3.9.18\0", 0, 0, buf), 0);
	assert_string_equal(buf, "3.9.18");
	assert_int_equal(SCAN("xx\0Python 3.10.4\0", 0, 0, buf), 0);
	assert_string_equal(buf, "3.10.4");
}

static void test_scan_after_letter_is_not_candidate(void **state)
{
	char buf[PY_VERSION_LEN] = "untouched";

	(void)state;
	assert_int_equal(SCAN("libfoo3.9.18\0", 0, 0, buf), -ENOENT);
	assert_int_equal(SCAN("expat_2.5.0\0", 0, 0, buf), -ENOENT);
	assert_int_equal(SCAN("v3.9.18\0", 0, 0, buf), -ENOENT);
	assert_int_equal(SCAN("13.9.18\0", 0, 0, buf), -ENOENT); /* digit before */
	assert_string_equal(buf, "untouched");
	/* a rejected one does not hide a real one */
	assert_int_equal(SCAN("expat_2.5.0\0"
			      "3.9.18\0",
			      0, 0, buf),
			 0);
	assert_string_equal(buf, "3.9.18");
}

static void test_scan_not_a_version(void **state)
{
	char buf[PY_VERSION_LEN];

	(void)state;
	assert_int_equal(SCAN("3.9\0", 0, 0, buf), -ENOENT); /* two parts */
	assert_int_equal(SCAN("3.9.180\0", 0, 0, buf), -ENOENT); /* three digits */
	assert_int_equal(SCAN("3.9.18.1\0", 0, 0, buf), -ENOENT); /* four parts */
	assert_int_equal(SCAN("3.9.18 \0", 0, 0, buf), -ENOENT); /* not at the NUL */
	assert_int_equal(SCAN("3.9.18a\0", 0, 0, buf), -ENOENT); /* level without serial */
	assert_int_equal(SCAN("3.9.18r1\0", 0, 0, buf), -ENOENT);
	assert_int_equal(SCAN("3..18\0", 0, 0, buf), -ENOENT);
	assert_int_equal(SCAN("4.0.0\0", 0, 0, buf), -ENOENT); /* only 2.x and 3.x */
	assert_int_equal(SCAN("1.2.13\0", 0, 0, buf), -ENOENT);
}

static void test_scan_two_different_is_eexist(void **state)
{
	char buf[PY_VERSION_LEN];

	(void)state;
	assert_int_equal(SCAN("3.9.18\0"
			      "3.9.17\0",
			      0, 0, buf),
			 -EEXIST);
	assert_int_equal(SCAN("3.9.1\0"
			      "3.9.18\0",
			      0, 0, buf),
			 -EEXIST); /* prefix */
	assert_int_equal(SCAN("3.9.18\0"
			      "3.9.1\0",
			      0, 0, buf),
			 -EEXIST);
	assert_int_equal(SCAN("3.9.18\0"
			      "3.9.18+\0",
			      0, 0, buf),
			 -EEXIST);
}

static void test_scan_same_twice_is_ok(void **state)
{
	char buf[PY_VERSION_LEN];

	(void)state;
	assert_int_equal(SCAN("3.9.18\0"
			      "junk\0"
			      "/usr/3.9.18\0",
			      0, 0, buf),
			 0);
	assert_string_equal(buf, "3.9.18");
}

static void test_scan_want_filters(void **state)
{
	char buf[PY_VERSION_LEN];

	(void)state;
	assert_int_equal(SCAN("2.7.18\0"
			      "3.9.18\0",
			      0, 0, buf),
			 -EEXIST);
	assert_int_equal(SCAN("2.7.18\0"
			      "3.9.18\0",
			      3, 9, buf),
			 0);
	assert_string_equal(buf, "3.9.18");
	assert_int_equal(SCAN("2.7.18\0"
			      "3.9.18\0",
			      2, 7, buf),
			 0);
	assert_string_equal(buf, "2.7.18");
	assert_int_equal(SCAN("2.7.18\0"
			      "3.9.18\0",
			      3, 8, buf),
			 -ENOENT);
	/* minor 1 is not minor 10 */
	assert_int_equal(SCAN("3.1.5\0"
			      "3.10.13\0",
			      3, 10, buf),
			 0);
	assert_string_equal(buf, "3.10.13");
	assert_int_equal(SCAN("3.1.5\0"
			      "3.10.13\0",
			      3, 1, buf),
			 0);
	assert_string_equal(buf, "3.1.5");
}

static void test_scan_suffixes(void **state)
{
	char buf[PY_VERSION_LEN];

	(void)state;
	assert_int_equal(SCAN("3.10.13+\0", 0, 0, buf), 0);
	assert_string_equal(buf, "3.10.13+");
	assert_int_equal(SCAN("3.13.0rc1\0", 0, 0, buf), 0);
	assert_string_equal(buf, "3.13.0rc1");
	assert_int_equal(SCAN("3.12.0a7\0", 0, 0, buf), 0);
	assert_string_equal(buf, "3.12.0a7");
	assert_int_equal(SCAN("3.8.0b4+\0", 0, 0, buf), 0);
	assert_string_equal(buf, "3.8.0b4+");
}

static void test_scan_unterminated_at_end(void **state)
{
	static const unsigned char data[] = { '3', '.', '9', '.', '1', '8' };
	char buf[PY_VERSION_LEN];

	(void)state;
	assert_int_equal(python_version_scan(data, sizeof(data), 0, 0, buf, sizeof(buf)), -ENOENT);
	assert_int_equal(SCAN("x\0"
			      "3.13.0rc",
			      0, 0, buf),
			 -ENOENT);
	assert_int_equal(SCAN("3.13.0rc1+", 0, 0, buf), -ENOENT);
	/* a terminated one before the unterminated tail still counts */
	assert_int_equal(SCAN("3.9.18\0"
			      "3.9.17",
			      0, 0, buf),
			 0);
	assert_string_equal(buf, "3.9.18");
}

static void test_scan_empty(void **state)
{
	static const unsigned char one[] = { '\0' };
	char buf[PY_VERSION_LEN];

	(void)state;
	assert_int_equal(python_version_scan(one, 0, 0, 0, buf, sizeof(buf)), -ENOENT);
	assert_int_equal(python_version_scan(one, 1, 0, 0, buf, sizeof(buf)), -ENOENT);
}

/* Independent oracle: every string ending at a NUL, starting where a
 * candidate may start, matched by a regex. 1 if s is the only distinct
 * candidate, 0 if there is none, -1 if several. */
static regex_t version_re;

static int oracle(const unsigned char *d, size_t len, int want_major, int want_minor, char *only,
		  size_t onlylen)
{
	char cand[PY_VERSION_LEN];
	int n = 0;

	for (size_t i = 0; i < len; i++) {
		size_t e = i;
		int major, minor;

		if (i > 0 && d[i - 1] && d[i - 1] != '/' && d[i - 1] != ' ')
			continue;
		while (e < len && d[e])
			e++;
		if (e == len || e - i >= sizeof(cand))
			continue;
		memcpy(cand, d + i, e - i);
		cand[e - i] = '\0';
		if (regexec(&version_re, cand, 0, NULL, 0))
			continue;
		sscanf(cand, "%d.%d", &major, &minor);
		if (want_major > 0 && (major != want_major || minor != want_minor))
			continue;
		if (n && strcmp(cand, only))
			return -1;
		snprintf(only, onlylen, "%s", cand);
		n = 1;
	}
	return n;
}

static void fuzz_one(const unsigned char *d, size_t len, int want_major, int want_minor)
{
	char got[PY_VERSION_LEN], want[PY_VERSION_LEN];
	int rc = python_version_scan(d, len, want_major, want_minor, got, sizeof(got));
	int o = oracle(d, len, want_major, want_minor, want, sizeof(want));

	if (o == 1) {
		assert_int_equal(rc, 0);
		assert_string_equal(got, want);
		assert_int_equal(regexec(&version_re, got, 0, NULL, 0), 0);
	} else {
		assert_int_equal(rc, o ? -EEXIST : -ENOENT);
	}
}

/* Random bytes; random characters versions are made of; or pieces of
 * versions and separators glued together, then a byte or two changed. */
static size_t fuzz_fill(unsigned char *buf, size_t size, unsigned int *seed)
{
	static const char alphabet[] = "0123456789.....2323abrc+/ \0\0\0x";
	static const char *const pieces[] = {
		"3.9.18", "3.13.0rc1", "2.7.18", "3.10.13+", "3.12.0a7", "3.8.0b4", "3.9", "33.1.1",
		"\0",	  "\0",	       "\0",	 "\0",	     "\0",	 "\0",	    "/",   " ",
		"x",	  "_",	       "1",	 ".",	     "rc",	 "+",
	};
	int mode = rand_r(seed) % 4;
	size_t len = rand_r(seed) % size;

	if (mode < 2) {
		for (size_t i = 0; i < len; i++)
			buf[i] = mode == 0
					 ? (unsigned char)rand_r(seed)
					 : (unsigned char)
						   alphabet[rand_r(seed) % (sizeof(alphabet) - 1)];
		return len;
	}
	len = 0;
	for (;;) {
		const char *p = pieces[rand_r(seed) % (sizeof(pieces) / sizeof(pieces[0]))];
		size_t n = *p ? strlen(p) : 1;

		if (len + n > size || !(rand_r(seed) % 20))
			break;
		memcpy(buf + len, p, n);
		len += n;
	}
	for (int flips = rand_r(seed) % 3; flips > 0 && len; flips--)
		buf[rand_r(seed) % len] = (unsigned char)rand_r(seed);
	return len;
}

static void test_scan_fuzz(void **state)
{
	unsigned char buf[96];
	unsigned int seed = 12345;
	int found = 0, several = 0;

	(void)state;
	assert_int_equal(regcomp(&version_re,
				 "^[23][0-9]?\\.[0-9]{1,2}\\.[0-9]{1,2}((a|b|rc)[0-9]+)?\\+?$",
				 REG_EXTENDED | REG_NOSUB),
			 0);
	for (int it = 0; it < FUZZ_ITERATIONS; it++) {
		size_t len = fuzz_fill(buf, sizeof(buf), &seed);
		char v[PY_VERSION_LEN];
		int rc;

		fuzz_one(buf, len, 0, 0);
		fuzz_one(buf, len, 3, 9);
		rc = python_version_scan(buf, len, 0, 0, v, sizeof(v));
		found += rc == 0;
		several += rc == -EEXIST;
	}
	regfree(&version_re);
	print_message("fuzz: %d found, %d several\n", found, several);
	/* all three outcomes were exercised, not just -ENOENT */
	assert_true(found > FUZZ_ITERATIONS / 50);
	assert_true(several > FUZZ_ITERATIONS / 50);
}

/* ---- python_inspect on the fixtures --------------------------------------- */

static struct elf_file *open_fixture(const char *path)
{
	struct elf_file *ef = NULL;
	int err = elf_file_open(path, &ef);

	if (err)
		fail_msg("%s: %s (run `make unit` from the repository root first)", path,
			 strerror(-err));
	return ef;
}

static void inspect(const char *path, struct elf_file **ef, struct py_info *pi)
{
	*ef = open_fixture(path);
	memset(pi, 0x5a, sizeof(*pi)); /* garbage that must be overwritten */
	assert_int_equal(python_inspect(*ef, pi), 0);
}

static void assert_build_id_hex(const char *id)
{
	assert_int_equal(strlen(id), 40);
	assert_int_equal(strspn(id, "0123456789abcdef"), 40);
}

/* The address a probe on sym goes to: past an endbr64, if any. */
static uint64_t probe_vaddr(const struct elf_file *ef, const struct elf_sym *sym)
{
	static const unsigned char endbr64[4] = { 0xf3, 0x0f, 0x1e, 0xfa };
	unsigned char insn[4];

	assert_int_equal(elf_read_vaddr(ef, sym->vaddr, insn, sizeof(insn)), 0);
	return sym->vaddr + (memcmp(insn, endbr64, 4) ? 0 : 4);
}

static void test_inspect_fake_python(void **state)
{
	struct elf_file *ef;
	struct py_info pi;
	char desc[96];

	(void)state;
	inspect(FAKE_PYTHON, &ef, &pi);
	assert_true(pi.is_python);
	assert_false(pi.needs_libpython);
	assert_string_equal(pi.version, "3.11.2");
	assert_string_equal(pi.version_source, "Py_Version");
	assert_int_equal(pi.major, 3);
	assert_int_equal(pi.minor, 11);
	assert_false(pi.shared);
	assert_true(pi.has_symtab);
	assert_true(pi.has_usdt);
	assert_build_id_hex(pi.build_id);
	assert_int_equal(pi.gc_hook, PY_GC_USDT);
	assert_int_equal(pi.n_gc_funcs, 0);
	assert_string_equal(pi.gc_reason, "");
	assert_ptr_equal(python_gc_desc(&pi, desc, sizeof(desc)), desc);
	assert_string_equal(desc, "usdt");
	elf_file_close(ef);
}

static void test_inspect_libpython39_collect(void **state)
{
	struct elf_file *ef;
	struct py_info pi;
	struct elf_sym sym;
	uint64_t vaddr, off;
	char desc[96];

	(void)state;
	inspect(LIBPY39, &ef, &pi);
	assert_true(pi.is_python);
	assert_true(pi.shared);
	assert_string_equal(pi.version, "3.9.18");
	assert_string_equal(pi.version_source, "rodata");
	assert_int_equal(pi.major, 3);
	assert_int_equal(pi.minor, 9);
	assert_true(pi.has_symtab);
	assert_false(pi.has_usdt);
	assert_build_id_hex(pi.build_id);
	assert_int_equal(pi.gc_hook, PY_GC_UPROBE);
	assert_int_equal(pi.n_gc_funcs, 1);
	assert_string_equal(pi.gc_funcs[0].name, "collect");
	assert_int_equal(PMT_GC_COOKIE_KIND(pi.gc_funcs[0].cookie), PMT_GC_GEN_ARG2);
	assert_int_equal(PMT_GC_COOKIE_DELTA(pi.gc_funcs[0].cookie), 0);

	assert_int_equal(elf_find_symbol(ef, "collect", &sym), 0);
	vaddr = probe_vaddr(ef, &sym);
	assert_int_equal(elf_vaddr_to_offset(ef, vaddr, &off), 0);
	assert_int_equal(pi.gc_funcs[0].vaddr, vaddr);
	assert_int_equal(pi.gc_funcs[0].offset, off);

	assert_string_equal(python_gc_desc(&pi, desc, sizeof(desc)), "uprobe:collect");
	elf_file_close(ef);
}

static void test_inspect_libpython38_clones(void **state)
{
	struct elf_file *ef;
	struct py_info pi;
	struct elf_sym rt, sym;
	uint64_t vaddr, off;
	char desc[96], want[160];
	bool seen[2] = { false, false };

	(void)state;
	inspect(LIBPY38, &ef, &pi);
	assert_true(pi.is_python);
	assert_true(pi.shared);
	assert_string_equal(pi.version, "3.8.18");
	assert_string_equal(pi.version_source, "rodata");
	assert_int_equal(pi.minor, 8);
	assert_false(pi.has_usdt);
	assert_int_equal(pi.gc_hook, PY_GC_UPROBE);
	assert_int_equal(pi.n_gc_funcs, 2);
	assert_int_equal(elf_find_symbol(ef, "_PyRuntime", &rt), 0);

	for (int i = 0; i < 2; i++) {
		const struct py_gc_func *f = &pi.gc_funcs[i];
		int which;

		assert_int_equal(strncmp(f->name, "collect.constprop.", 18), 0);
		which = f->name[18] - '0';
		assert_true((which == 0 || which == 1) && f->name[19] == '\0');
		assert_false(seen[which]);
		seen[which] = true;

		assert_int_equal(elf_find_symbol(ef, f->name, &sym), 0);
		vaddr = probe_vaddr(ef, &sym);
		assert_int_equal(elf_vaddr_to_offset(ef, vaddr, &off), 0);
		assert_int_equal(f->vaddr, vaddr);
		assert_int_equal(f->offset, off);
		assert_int_equal(PMT_GC_COOKIE_KIND(f->cookie), PMT_GC_GEN_STATS_DIFF);
		assert_int_equal(PMT_GC_COOKIE_DELTA(f->cookie),
				 (int64_t)(rt.vaddr + PY38_GC_STATS_OFF) - (int64_t)vaddr);
	}
	snprintf(want, sizeof(want), "uprobe:%s+%s", pi.gc_funcs[0].name, pi.gc_funcs[1].name);
	assert_string_equal(python_gc_desc(&pi, desc, sizeof(desc)), want);
	elf_file_close(ef);
}

static unsigned char *read_all(const char *path, size_t *len)
{
	unsigned char *buf = malloc(1 << 20);
	FILE *f = fopen(path, "rb");

	assert_non_null(buf);
	if (!f)
		fail_msg("%s: %s (run `make unit` first)", path, strerror(errno));
	*len = fread(buf, 1, 1 << 20, f);
	assert_true(*len > sizeof(Elf64_Ehdr) && *len < (1 << 20));
	fclose(f);
	return buf;
}

/*
 * In the fixtures .text is loaded at the address equal to its file offset,
 * as in most shared objects, so a probe offset that is really an address
 * would go unnoticed. In this copy of libpython3.9 the executable PT_LOAD
 * maps the file one page lower (like non-PIE executables, whose addresses
 * and offsets differ): the uprobe offset must follow the file.
 */
static void test_inspect_probe_offset_is_file_offset(void **state)
{
	char path[] = "/tmp/test_python.XXXXXX";
	struct elf_file *ef;
	struct py_info pi;
	struct elf_sym sym;
	uint64_t shift = 0, vaddr, off;
	unsigned char *img;
	Elf64_Ehdr *eh;
	size_t len;
	int fd;

	(void)state;
	img = read_all(LIBPY39, &len);
	eh = (Elf64_Ehdr *)img;
	assert_true(eh->e_phoff + (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr) <= len);
	for (int i = 0; i < eh->e_phnum; i++) {
		Elf64_Phdr *ph = (Elf64_Phdr *)(img + eh->e_phoff) + i;

		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
			continue;
		assert_true(ph->p_offset >= ph->p_align && ph->p_align);
		shift = ph->p_align;
		ph->p_offset -= shift;
	}
	assert_true(shift > 0);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, img, len), (ssize_t)len);
	close(fd);
	free(img);

	ef = open_fixture(path);
	unlink(path); /* the open file stays readable */
	assert_int_equal(python_inspect(ef, &pi), 0);
	assert_int_equal(pi.gc_hook, PY_GC_UPROBE);
	assert_int_equal(pi.n_gc_funcs, 1);
	assert_int_equal(elf_find_symbol(ef, "collect", &sym), 0);
	vaddr = probe_vaddr(ef, &sym);
	assert_int_equal(elf_vaddr_to_offset(ef, vaddr, &off), 0);
	assert_int_equal(off, vaddr - shift);
	assert_int_equal(pi.gc_funcs[0].vaddr, vaddr);
	assert_int_equal(pi.gc_funcs[0].offset, off);
	elf_file_close(ef);
}

static void test_inspect_stripped_uses_dynsym(void **state)
{
	struct elf_file *ef, *full;
	struct py_info pi, pfull;
	char desc[16];

	(void)state;
	inspect(STRIPPED, &ef, &pi);
	assert_true(pi.is_python);
	assert_false(pi.has_symtab);
	assert_string_equal(pi.version, "3.11.2");
	assert_string_equal(pi.version_source, "Py_Version");
	assert_true(pi.has_usdt);
	assert_int_equal(pi.gc_hook, PY_GC_USDT);
	assert_string_equal(python_gc_desc(&pi, desc, sizeof(desc)), "usdt");
	/* strip keeps the build-id note: the same one as the original */
	inspect(FAKE_PYTHON, &full, &pfull);
	assert_build_id_hex(pi.build_id);
	assert_string_equal(pi.build_id, pfull.build_id);
	elf_file_close(full);
	elf_file_close(ef);
}

static void test_inspect_not_python(void **state)
{
	struct elf_file *ef;
	struct py_info pi;
	char desc[16] = "untouched";

	(void)state;
	inspect(NOT_PYTHON, &ef, &pi);
	assert_false(pi.is_python);
	assert_false(pi.needs_libpython);
	assert_string_equal(pi.version, "");
	assert_int_equal(pi.gc_hook, PY_GC_NONE);
	assert_int_equal(pi.n_gc_funcs, 0);
	assert_null(python_gc_desc(&pi, desc, sizeof(desc)));
	elf_file_close(ef);
}

/* ---- python_gc_desc -------------------------------------------------------- */

static void test_gc_desc_none_is_null(void **state)
{
	struct py_info pi = { .gc_hook = PY_GC_NONE };
	char buf[32];

	(void)state;
	assert_null(python_gc_desc(&pi, buf, sizeof(buf)));
}

static void test_gc_desc_uprobe_joins_names(void **state)
{
	struct py_info pi = { .gc_hook = PY_GC_UPROBE, .n_gc_funcs = 3 };
	char buf[64];

	(void)state;
	strcpy(pi.gc_funcs[0].name, "a");
	strcpy(pi.gc_funcs[1].name, "bb");
	strcpy(pi.gc_funcs[2].name, "ccc");
	assert_string_equal(python_gc_desc(&pi, buf, sizeof(buf)), "uprobe:a+bb+ccc");
	pi.n_gc_funcs = 1;
	assert_string_equal(python_gc_desc(&pi, buf, sizeof(buf)), "uprobe:a");
}

/* Too small a buffer: cut, terminated, nothing written past it (ASan). */
static void test_gc_desc_truncates(void **state)
{
	struct py_info pi = { .gc_hook = PY_GC_UPROBE, .n_gc_funcs = 2 };
	char *buf;

	(void)state;
	strcpy(pi.gc_funcs[0].name, "collect.constprop.0");
	strcpy(pi.gc_funcs[1].name, "collect.constprop.1");
	for (size_t len = 1; len <= 48; len++) {
		buf = malloc(len);
		assert_non_null(buf);
		assert_ptr_equal(python_gc_desc(&pi, buf, len), buf);
		assert_int_equal(strlen(buf), len - 1 < 46 ? len - 1 : 46);
		assert_int_equal(
			strncmp(buf, "uprobe:collect.constprop.0+collect.constprop.1", len - 1), 0);
		free(buf);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hex_final),
		cmocka_unit_test(test_hex_prereleases),
		cmocka_unit_test(test_hex_bad_major),
		cmocka_unit_test(test_hex_bad_minor_micro),
		cmocka_unit_test(test_hex_bad_level),
		cmocka_unit_test(test_hex_small_buffer_truncates),
		cmocka_unit_test(test_scan_standalone),
		cmocka_unit_test(test_scan_tail_merged),
		cmocka_unit_test(test_scan_after_letter_is_not_candidate),
		cmocka_unit_test(test_scan_not_a_version),
		cmocka_unit_test(test_scan_two_different_is_eexist),
		cmocka_unit_test(test_scan_same_twice_is_ok),
		cmocka_unit_test(test_scan_want_filters),
		cmocka_unit_test(test_scan_suffixes),
		cmocka_unit_test(test_scan_unterminated_at_end),
		cmocka_unit_test(test_scan_empty),
		cmocka_unit_test(test_scan_fuzz),
		cmocka_unit_test(test_inspect_fake_python),
		cmocka_unit_test(test_inspect_libpython39_collect),
		cmocka_unit_test(test_inspect_libpython38_clones),
		cmocka_unit_test(test_inspect_probe_offset_is_file_offset),
		cmocka_unit_test(test_inspect_stripped_uses_dynsym),
		cmocka_unit_test(test_inspect_not_python),
		cmocka_unit_test(test_gc_desc_none_is_null),
		cmocka_unit_test(test_gc_desc_uprobe_joins_names),
		cmocka_unit_test(test_gc_desc_truncates),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
