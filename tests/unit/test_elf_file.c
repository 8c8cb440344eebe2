// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * user/elf.c on the fixtures in .output/fixtures (run from the repository
 * root, after `make unit`), on hostile copies of fake_python made at run
 * time in a temporary directory, and on randomly corrupted copies.
 */
#define _GNU_SOURCE /* memmem */
#include <errno.h>
#include <glob.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <elf.h>
#include "elf_file.h"

#define FIXTURE_DIR ".output/fixtures/"
#define FAKE_PYTHON FIXTURE_DIR "fake_python"
#define STRIPPED    FIXTURE_DIR "stripped.elf"
#define LIBPY39	    FIXTURE_DIR "libpython3.9.so.1.0"
#define LIBPY38	    FIXTURE_DIR "libpython3.8.so.1.0"
#define NOT_PYTHON  FIXTURE_DIR "not_python"
#ifndef FUZZ_ITERATIONS /* -DFUZZ_ITERATIONS=100000 for a long run */
#define FUZZ_ITERATIONS 300
#endif

/* fake_python, read once; variants are written to tmpdir */
static unsigned char *orig;
static size_t orig_len;
static char tmpdir[] = "/tmp/test_elf.XXXXXX";
static char variant_path[64];

/* --- helpers ------------------------------------------------------------- */

static unsigned char *read_all(const char *path, size_t *len)
{
	unsigned char *buf;
	struct stat st;
	FILE *f;

	f = fopen(path, "rb");
	if (!f)
		return NULL;
	if (fstat(fileno(f), &st) || !(buf = malloc((size_t)st.st_size))) {
		fclose(f);
		return NULL;
	}
	*len = fread(buf, 1, (size_t)st.st_size, f);
	fclose(f);
	return buf;
}

static void write_all(const char *path, const void *buf, size_t len)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(buf, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static struct elf_file *open_ok(const char *path)
{
	struct elf_file *ef = NULL;

	assert_int_equal(elf_file_open(path, &ef), 0);
	assert_non_null(ef);
	return ef;
}

/* A fresh copy of fake_python to corrupt. */
static unsigned char *copy_orig(void)
{
	unsigned char *buf = malloc(orig_len);

	assert_non_null(buf);
	memcpy(buf, orig, orig_len);
	return buf;
}

static Elf64_Ehdr *ehdr_of(unsigned char *buf)
{
	return (Elf64_Ehdr *)buf;
}

static Elf64_Shdr *shdr_at(unsigned char *buf, size_t ndx)
{
	return (Elf64_Shdr *)(buf + ehdr_of(buf)->e_shoff) + ndx;
}

/* The (pristine fake_python layout) section header called name. */
static Elf64_Shdr *find_shdr(unsigned char *buf, const char *name)
{
	Elf64_Ehdr *eh = ehdr_of(buf);
	const char *names = (const char *)buf + shdr_at(buf, eh->e_shstrndx)->sh_offset;
	size_t i;

	for (i = 1; i < eh->e_shnum; i++)
		if (!strcmp(names + shdr_at(buf, i)->sh_name, name))
			return shdr_at(buf, i);
	fail_msg("no section %s", name);
	return NULL;
}

static size_t shdr_index(unsigned char *buf, const Elf64_Shdr *sh)
{
	return (size_t)(sh - shdr_at(buf, 0));
}

static Elf64_Phdr *find_phdr(unsigned char *buf, Elf64_Word type)
{
	Elf64_Ehdr *eh = ehdr_of(buf);
	Elf64_Phdr *ph = (Elf64_Phdr *)(buf + eh->e_phoff);
	size_t i;

	for (i = 0; i < eh->e_phnum; i++)
		if (ph[i].p_type == type)
			return &ph[i];
	fail_msg("no segment type %u", type);
	return NULL;
}

/* The lowest free descriptor: unchanged across a test if nothing leaked. */
static int lowest_free_fd(void)
{
	int fd = dup(0);

	assert_true(fd >= 0);
	close(fd);
	return fd;
}

/* Write buf as a file and open it; ef is set only on success. */
static int open_buf(const unsigned char *buf, size_t len, struct elf_file **ef)
{
	write_all(variant_path, buf, len);
	return elf_file_open(variant_path, ef);
}

static int count_cb(const char *name, const struct elf_sym *sym, void *ctx)
{
	assert_true(strlen(name) > 0); /* under ASan: the name is readable */
	(void)sym;
	(*(int *)ctx)++;
	return 0;
}

static int sum_cb(const unsigned char *data, size_t len, void *ctx)
{
	unsigned int sum = 0;
	size_t i;

	for (i = 0; i < len; i++)
		sum += data[i];
	*(unsigned int *)ctx += sum;
	return 0;
}

/* Every entry point, results only sanity-checked: for corrupted files. */
static void exercise(const struct elf_file *ef)
{
	static const char *const names[] = { "Py_Version", "_PyRuntime",  "gc_collect_main",
					     "main",	   "__bss_start", "nope" };
	unsigned char buf[64];
	unsigned int sum = 0;
	struct elf_sym sym;
	char bid[130];
	const char *so;
	uint64_t off;
	size_t i;
	int n = 0;

	elf_is_dyn(ef);
	elf_has_symtab(ef);
	elf_has_section(ef, ".rodata");
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		uint64_t start, end;

		if (elf_find_symbol(ef, names[i], &sym))
			continue;
		if (!elf_func_bounds(ef, sym.vaddr, &start, &end))
			assert_true(start <= sym.vaddr && sym.vaddr < end);
		elf_vaddr_to_offset(ef, sym.vaddr, &off);
		elf_read_vaddr(ef, sym.vaddr, buf, sym.size < sizeof(buf) ? sym.size : sizeof(buf));
	}
	elf_foreach_func(ef, NULL, count_cb, &n);
	if (!elf_build_id(ef, bid, sizeof(bid)))
		assert_true(strlen(bid) > 0 && strlen(bid) % 2 == 0);
	elf_usdt_count(ef, "python", NULL);
	elf_usdt_count(ef, "python", "gc__start");
	so = elf_soname(ef);
	if (so)
		assert_true(strlen(so) < orig_len);
	elf_needs(ef, "libc");
	elf_section_data(ef, ".rodata", 1 << 20, sum_cb, &sum);
	elf_section_data(ef, ".note.stapsdt", 1 << 20, sum_cb, &sum);
}

/* --- fixtures as built --------------------------------------------------- */

static void test_open_fixtures(void **state)
{
	static const char *const paths[] = { FAKE_PYTHON, STRIPPED, LIBPY39, LIBPY38, NOT_PYTHON };
	struct elf_file *ef;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		ef = open_ok(paths[i]);
		/* gcc on Debian links PIE by default: everything is ET_DYN */
		assert_true(elf_is_dyn(ef));
		assert_int_equal(elf_has_symtab(ef), strcmp(paths[i], STRIPPED) != 0);
		assert_true(elf_has_section(ef, ".text"));
		assert_int_equal(elf_has_section(ef, ".symtab"), elf_has_symtab(ef));
		assert_false(elf_has_section(ef, ".nope"));
		assert_false(elf_has_section(ef, NULL));
		elf_file_close(ef);
	}
	elf_file_close(NULL);
}

static void test_open_errors(void **state)
{
	struct elf_file *ef = (struct elf_file *)1;
	int free_fd = lowest_free_fd();
	char path[96];

	(void)state;
	assert_int_equal(elf_file_open(FIXTURE_DIR "does_not_exist", &ef), -ENOENT);
	assert_null(ef);
	assert_int_equal(elf_file_open(FIXTURE_DIR "notelf.bin", &ef), -ENOEXEC);
	assert_null(ef);
	/* headers intact, section header table cut off */
	assert_int_equal(elf_file_open(FIXTURE_DIR "truncated.elf", &ef), -EINVAL);
	assert_null(ef);
	assert_int_equal(elf_file_open(".", &ef), -ENOEXEC);
	assert_int_equal(elf_file_open("/dev/null", &ef), -ENOEXEC);
	assert_int_equal(elf_file_open(NULL, &ef), -EINVAL);
	assert_int_equal(elf_file_open(FAKE_PYTHON, NULL), -EINVAL);

	snprintf(path, sizeof(path), "%s/empty", tmpdir);
	write_all(path, "", 0);
	assert_int_equal(elf_file_open(path, &ef), -ENOEXEC);
	unlink(path);
	/* valid e_ident, but shorter than an ELF header */
	assert_int_equal(open_buf(orig, 40, &ef), -EINVAL);
	assert_int_equal(open_buf(orig, EI_NIDENT, &ef), -EINVAL);
	assert_int_equal(open_buf(orig, 3, &ef), -ENOEXEC);
	assert_int_equal(lowest_free_fd(), free_fd);
}

static void test_open_fd(void **state)
{
	struct elf_file *ef = NULL;
	struct elf_sym sym;
	unsigned int v = 0;
	int fd;

	(void)state;
	fd = open(FAKE_PYTHON, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(elf_file_open_fd(fd, &ef), 0);
	/* the fd was duplicated: ours can go, reads still work */
	assert_int_equal(close(fd), 0);
	assert_int_equal(elf_find_symbol(ef, "Py_Version", &sym), 0);
	assert_int_equal(elf_read_vaddr(ef, sym.vaddr, &v, sizeof(v)), 0);
	assert_int_equal(v, 0x030b02f0);
	elf_file_close(ef);

	assert_int_equal(elf_file_open_fd(-1, &ef), -EBADF);
	assert_null(ef);
	assert_int_equal(elf_file_open_fd(0, NULL), -EINVAL);
}

static void test_find_symbol(void **state)
{
	struct elf_file *ef = open_ok(FAKE_PYTHON);
	struct elf_sym sym;

	(void)state;
	assert_int_equal(elf_find_symbol(ef, "Py_Version", &sym), 0);
	assert_int_equal(sym.type, STT_OBJECT);
	assert_int_equal(sym.bind, STB_GLOBAL);
	assert_int_equal(sym.size, 4);
	assert_int_equal(elf_find_symbol(ef, "_PyRuntime", &sym), 0);
	assert_int_equal(sym.type, STT_OBJECT);
	assert_int_equal(sym.size, 4096);
	assert_int_equal(elf_find_symbol(ef, "gc_collect_main", &sym), 0);
	assert_int_equal(sym.type, STT_FUNC);
	assert_int_not_equal(sym.vaddr, 0);
	assert_int_equal(elf_find_symbol(ef, "PyObject_Malloc", &sym), 0);
	assert_int_equal(elf_find_symbol(ef, "Py_Initialize", &sym), 0);
	assert_int_equal(elf_find_symbol(ef, "main", &sym), 0);

	assert_int_equal(elf_find_symbol(ef, "PyNothing", &sym), -ENOENT);
	assert_int_equal(elf_find_symbol(ef, "", &sym), -ENOENT);
	/* in .dynsym and .symtab, but undefined (SHN_UNDEF) */
	assert_int_equal(elf_find_symbol(ef, "malloc", &sym), -ENOENT);
	/* an STT_FILE entry is not a symbol with an address */
	assert_int_equal(elf_find_symbol(ef, "fake_python.c", &sym), -ENOENT);
	assert_int_equal(elf_find_symbol(ef, NULL, &sym), -EINVAL);
	assert_int_equal(elf_find_symbol(ef, "main", NULL), -EINVAL);
	assert_int_equal(elf_find_symbol(NULL, "main", &sym), -EINVAL);
	elf_file_close(ef);
}

static void test_stripped_uses_dynsym(void **state)
{
	struct elf_file *full = open_ok(FAKE_PYTHON), *ef = open_ok(STRIPPED);
	struct elf_sym a, b;
	int n = 0;

	(void)state;
	assert_false(elf_has_symtab(ef));
	/* -rdynamic put every global into .dynsym, so strip loses none */
	assert_int_equal(elf_find_symbol(full, "gc_collect_main", &a), 0);
	assert_int_equal(elf_find_symbol(ef, "gc_collect_main", &b), 0);
	assert_int_equal(a.vaddr, b.vaddr);
	assert_int_equal(a.size, b.size);
	assert_int_equal(elf_find_symbol(ef, "Py_Version", &b), 0);
	assert_int_equal(b.size, 4);
	assert_int_equal(elf_find_symbol(ef, "fake_python.c", &b), -ENOENT);
	/* Py_Initialize, Py_GetVersion (Py_Version is an object) */
	assert_int_equal(elf_foreach_func(ef, "Py_", count_cb, &n), 0);
	assert_int_equal(n, 2);
	/* in both tables of the full file, still reported once each */
	n = 0;
	assert_int_equal(elf_foreach_func(full, "Py_", count_cb, &n), 0);
	assert_int_equal(n, 2);
	elf_file_close(ef);
	elf_file_close(full);
}

static void test_local_symbol_only_in_symtab(void **state)
{
	struct elf_file *ef = open_ok(LIBPY39);
	char cmd[160], path[96];
	struct elf_sym sym;
	int n = 0;

	(void)state;
	assert_int_equal(elf_find_symbol(ef, "collect", &sym), 0);
	assert_int_equal(sym.type, STT_FUNC);
	assert_int_equal(sym.bind, STB_LOCAL);
	assert_int_equal(elf_foreach_func(ef, "collect", count_cb, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(elf_find_symbol(ef, "Py_Version", &sym), -ENOENT);
	elf_file_close(ef);

	snprintf(path, sizeof(path), "%s/libpy39.stripped", tmpdir);
	snprintf(cmd, sizeof(cmd), "strip -o %s %s", path, LIBPY39);
	if (system(cmd)) {
		print_message("strip failed, skipping the stripped half\n");
		return;
	}
	ef = open_ok(path);
	assert_false(elf_has_symtab(ef));
	assert_int_equal(elf_find_symbol(ef, "collect", &sym), -ENOENT);
	assert_int_equal(elf_find_symbol(ef, "Py_Initialize", &sym), 0);
	elf_file_close(ef);
	unlink(path);
}

struct clone_seen {
	int count;
	int seen[2];
};

static int clone_cb(const char *name, const struct elf_sym *sym, void *ctx)
{
	struct clone_seen *cs = ctx;

	assert_int_equal(sym->type, STT_FUNC);
	assert_int_equal(sym->bind, STB_LOCAL);
	if (!strcmp(name, "collect.constprop.0"))
		cs->seen[0]++;
	else if (!strcmp(name, "collect.constprop.1"))
		cs->seen[1]++;
	cs->count++;
	return 0;
}

static int stop_cb(const char *name, const struct elf_sym *sym, void *ctx)
{
	(void)name;
	(void)sym;
	(*(int *)ctx)++;
	return 42;
}

static void test_foreach_clones(void **state)
{
	struct elf_file *ef = open_ok(LIBPY38);
	struct clone_seen cs = { 0 };
	struct elf_sym sym;
	int n = 0;

	(void)state;
	assert_int_equal(elf_foreach_func(ef, "collect.constprop.", clone_cb, &cs), 0);
	assert_int_equal(cs.count, 2);
	assert_int_equal(cs.seen[0], 1);
	assert_int_equal(cs.seen[1], 1);
	assert_int_equal(elf_find_symbol(ef, "collect", &sym), -ENOENT);
	assert_int_equal(elf_find_symbol(ef, "collect.constprop.1", &sym), 0);

	assert_int_equal(elf_foreach_func(ef, "collect.", stop_cb, &n), 42);
	assert_int_equal(n, 1);
	n = 0;
	assert_int_equal(elf_foreach_func(ef, NULL, count_cb, &n), 0);
	assert_true(n >= 5); /* the clones, Py_*, PyObject_Malloc, crt functions */
	assert_int_equal(elf_foreach_func(ef, "", NULL, NULL), -EINVAL);
	elf_file_close(ef);
}

static void test_vaddr(void **state)
{
	struct elf_file *ef = open_ok(FAKE_PYTHON);
	unsigned int v = 0, in_file = 0;
	uint64_t off = 0;
	struct elf_sym sym;
	char ver[8];

	(void)state;
	assert_int_equal(elf_find_symbol(ef, "Py_Version", &sym), 0);
	assert_int_equal(elf_vaddr_to_offset(ef, sym.vaddr, &off), 0);
	assert_true(off + sizeof(in_file) <= orig_len);
	memcpy(&in_file, orig + off, sizeof(in_file));
	assert_int_equal(in_file, 0x030b02f0);
	assert_int_equal(elf_read_vaddr(ef, sym.vaddr, &v, sizeof(v)), 0);
	assert_int_equal(v, 0x030b02f0);
	assert_int_equal(elf_read_vaddr(ef, sym.vaddr, NULL, 0), 0);

	/* .bss starts where the file-backed part of the segment ends */
	assert_int_equal(elf_find_symbol(ef, "__bss_start", &sym), 0);
	assert_int_equal(elf_vaddr_to_offset(ef, sym.vaddr, &off), -ENOENT);
	assert_int_equal(elf_read_vaddr(ef, sym.vaddr, ver, 1), -ENOENT);
	assert_int_equal(elf_vaddr_to_offset(ef, UINT64_MAX, &off), -ENOENT);
	assert_int_equal(elf_read_vaddr(ef, UINT64_MAX - 1, ver, 4), -ENOENT);
	/* a read running past the end of its segment */
	assert_int_equal(elf_find_symbol(ef, "Py_Version", &sym), 0);
	assert_int_equal(elf_read_vaddr(ef, sym.vaddr, orig, 1 << 20), -ENOENT);
	assert_int_equal(elf_read_vaddr(ef, sym.vaddr, NULL, 4), -EINVAL);
	assert_int_equal(elf_vaddr_to_offset(ef, sym.vaddr, NULL), -EINVAL);
	elf_file_close(ef);
}

static bool is_lower_hex(const char *s)
{
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
			return false;
	return true;
}

/* readelf's view of the build-id, to compare with; "" if unavailable. */
static void readelf_build_id(const char *path, char *out, size_t outlen)
{
	char cmd[160], line[256], *p;
	FILE *f;

	out[0] = '\0';
	snprintf(cmd, sizeof(cmd), "readelf -n %s 2>/dev/null", path);
	f = popen(cmd, "r");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		if ((p = strstr(line, "Build ID: ")) && sscanf(p + 10, "%128s", out) == 1)
			break;
	pclose(f);
	(void)outlen;
}

static void test_build_id(void **state)
{
	struct elf_file *ef = open_ok(FAKE_PYTHON), *st = open_ok(STRIPPED);
	char a[41], b[64], want[129];

	(void)state;
	assert_int_equal(elf_build_id(ef, a, sizeof(a)), 0);
	assert_int_equal(strlen(a), 40);
	assert_true(is_lower_hex(a));
	readelf_build_id(FAKE_PYTHON, want, sizeof(want));
	if (want[0])
		assert_string_equal(a, want);
	assert_int_equal(elf_build_id(st, b, sizeof(b)), 0);
	assert_string_equal(a, b);
	assert_int_equal(elf_build_id(ef, a, 40), -ENOSPC);
	assert_int_equal(elf_build_id(ef, a, 0), -ENOSPC);
	assert_int_equal(elf_build_id(ef, NULL, 41), -EINVAL);
	elf_file_close(st);
	elf_file_close(ef);
}

static void test_usdt(void **state)
{
	struct elf_file *ef = open_ok(FAKE_PYTHON), *st = open_ok(STRIPPED);
	struct elf_file *lib = open_ok(LIBPY39), *np = open_ok(NOT_PYTHON);

	(void)state;
	assert_int_equal(elf_usdt_count(ef, "python", "gc__start"), 1);
	assert_int_equal(elf_usdt_count(ef, "python", "gc__done"), 1);
	assert_int_equal(elf_usdt_count(ef, "python", NULL), 2);
	assert_int_equal(elf_usdt_count(ef, "python", "audit"), 0);
	assert_int_equal(elf_usdt_count(ef, "pytho", NULL), 0);
	assert_int_equal(elf_usdt_count(ef, NULL, NULL), -EINVAL);
	/* strip keeps .note.stapsdt (a non-alloc note, not debug info) */
	assert_true(elf_has_section(st, ".note.stapsdt"));
	assert_int_equal(elf_usdt_count(st, "python", "gc__start"), 1);
	assert_int_equal(elf_usdt_count(st, "python", NULL), 2);
	assert_int_equal(elf_usdt_count(lib, "python", NULL), 0);
	assert_int_equal(elf_usdt_count(np, "python", NULL), 0);
	elf_file_close(np);
	elf_file_close(lib);
	elf_file_close(st);
	elf_file_close(ef);
}

static void test_dynamic(void **state)
{
	struct elf_file *ef = open_ok(FAKE_PYTHON), *l39 = open_ok(LIBPY39);
	struct elf_file *l38 = open_ok(LIBPY38);

	(void)state;
	assert_null(elf_soname(ef));
	assert_string_equal(elf_soname(l39), "libpython3.9.so.1.0");
	assert_string_equal(elf_soname(l38), "libpython3.8.so.1.0");
	assert_true(elf_needs(ef, "libc.so"));
	assert_true(elf_needs(ef, "libc.so.6"));
	assert_false(elf_needs(ef, "libc.so.7"));
	assert_false(elf_needs(ef, "libpython"));
	assert_true(elf_needs(l39, "libc.so"));
	assert_false(elf_needs(ef, NULL));
	assert_null(elf_soname(NULL));
	elf_file_close(l38);
	elf_file_close(l39);
	elf_file_close(ef);
}

struct find_ctx {
	const char *needle;
	int found; /* occurrences */
	bool after_slash; /* the last one is preceded by '/' */
};

static int find_cb(const unsigned char *data, size_t len, void *ctx)
{
	struct find_ctx *fc = ctx;
	size_t n = strlen(fc->needle);
	const unsigned char *p = data, *end = data + len, *hit;

	while (p < end && (hit = memmem(p, (size_t)(end - p), fc->needle, n))) {
		fc->found++;
		fc->after_slash = hit > data && hit[-1] == '/';
		p = hit + 1;
	}
	return 0;
}

static int seven_cb(const unsigned char *data, size_t len, void *ctx)
{
	(void)data;
	(void)len;
	(void)ctx;
	return 7;
}

static void test_section_data(void **state)
{
	struct elf_file *ef = open_ok(FAKE_PYTHON), *l39 = open_ok(LIBPY39);
	struct elf_file *l38 = open_ok(LIBPY38);
	struct find_ctx fc = { .needle = "3.11.2" };

	(void)state;
	assert_int_equal(elf_section_data(ef, ".rodata", 1 << 20, find_cb, &fc), 0);
	assert_int_equal(fc.found, 1);
	assert_int_equal(elf_section_data(ef, ".rodata", 1, find_cb, &fc), -EFBIG);
	assert_int_equal(elf_section_data(ef, ".nope", 1 << 20, find_cb, &fc), -ENOENT);
	/* SHT_NOBITS and SHT_NOTE are not SHT_PROGBITS */
	assert_int_equal(elf_section_data(ef, ".bss", 1 << 20, find_cb, &fc), -ENOENT);
	assert_int_equal(elf_section_data(ef, ".note.stapsdt", 1 << 20, find_cb, &fc), -ENOENT);
	assert_int_equal(elf_section_data(ef, ".rodata", 1 << 20, seven_cb, NULL), 7);
	assert_int_equal(elf_section_data(ef, ".rodata", 1 << 20, NULL, NULL), -EINVAL);

	/* 3.9.18 only as the tail of the prefix path */
	fc = (struct find_ctx){ .needle = "3.9.18" };
	assert_int_equal(elf_section_data(l39, ".rodata", 1 << 20, find_cb, &fc), 0);
	assert_int_equal(fc.found, 1);
	assert_true(fc.after_slash);
	fc = (struct find_ctx){ .needle = "/opt/pyenv/versions/3.9.18" };
	assert_int_equal(elf_section_data(l39, ".rodata", 1 << 20, find_cb, &fc), 0);
	assert_int_equal(fc.found, 1);
	fc = (struct find_ctx){ .needle = "3.8.18" };
	assert_int_equal(elf_section_data(l38, ".rodata", 1 << 20, find_cb, &fc), 0);
	assert_int_equal(fc.found, 1);
	assert_false(fc.after_slash);
	elf_file_close(l38);
	elf_file_close(l39);
	elf_file_close(ef);
}

/* The distribution's interpreter, when installed: no .symtab, ET_EXEC,
 * an 8-byte Py_Version, USDT probes. */
static void test_system_python(void **state)
{
	const char *path = "/usr/bin/python3.11";
	struct elf_file *ef;
	struct elf_sym sym;
	uint64_t v = 0;
	char bid[129];

	(void)state;
	if (access(path, R_OK)) {
		print_message("%s not installed, skipped\n", path);
		return;
	}
	ef = open_ok(path);
	assert_int_equal(elf_find_symbol(ef, "_PyRuntime", &sym), 0);
	assert_true(elf_usdt_count(ef, "python", "gc__start") >= 1);
	assert_int_equal(elf_build_id(ef, bid, sizeof(bid)), 0);
	assert_int_equal(elf_find_symbol(ef, "Py_Version", &sym), 0);
	assert_int_equal(elf_read_vaddr(ef, sym.vaddr, &v, sym.size <= 8 ? sym.size : 8), 0);
	assert_int_equal(v >> 16, 0x030b);
	print_message("%s: %s, %s, Py_Version st_size %llu\n", path,
		      elf_is_dyn(ef) ? "ET_DYN" : "ET_EXEC",
		      elf_has_symtab(ef) ? ".symtab" : "no .symtab", (unsigned long long)sym.size);
	elf_file_close(ef);
}

/* --- hostile copies ------------------------------------------------------ */

static void test_hostile_headers(void **state)
{
	struct elf_file *ef = NULL;
	unsigned char *buf;

	(void)state;
	buf = copy_orig();
	ehdr_of(buf)->e_ident[EI_CLASS] = ELFCLASS32;
	assert_int_equal(open_buf(buf, orig_len, &ef), -ENOEXEC);
	memcpy(buf, orig, orig_len);
	ehdr_of(buf)->e_ident[EI_DATA] = ELFDATA2MSB;
	assert_int_equal(open_buf(buf, orig_len, &ef), -ENOEXEC);
	memcpy(buf, orig, orig_len);
	ehdr_of(buf)->e_machine = EM_AARCH64;
	assert_int_equal(open_buf(buf, orig_len, &ef), -ENOEXEC);
	memcpy(buf, orig, orig_len);
	ehdr_of(buf)->e_type = ET_REL;
	assert_int_equal(open_buf(buf, orig_len, &ef), -ENOEXEC);
	memcpy(buf, orig, orig_len);
	ehdr_of(buf)->e_ident[EI_VERSION] = 0; /* libelf: not ELF */
	assert_int_equal(open_buf(buf, orig_len, &ef), -EINVAL);

	memcpy(buf, orig, orig_len);
	ehdr_of(buf)->e_shoff = orig_len + 4096;
	assert_int_equal(open_buf(buf, orig_len, &ef), -EINVAL);
	memcpy(buf, orig, orig_len);
	ehdr_of(buf)->e_shoff = UINT64_MAX - 100;
	assert_int_equal(open_buf(buf, orig_len, &ef), -EINVAL);
	memcpy(buf, orig, orig_len);
	ehdr_of(buf)->e_shoff = orig_len - 100; /* table straddles EOF */
	assert_int_equal(open_buf(buf, orig_len, &ef), -EINVAL);
	memcpy(buf, orig, orig_len);
	ehdr_of(buf)->e_shnum = 0xffff;
	assert_int_equal(open_buf(buf, orig_len, &ef), -EINVAL);
	memcpy(buf, orig, orig_len);
	ehdr_of(buf)->e_shentsize = 32;
	assert_int_equal(open_buf(buf, orig_len, &ef), -EINVAL);
	memcpy(buf, orig, orig_len);
	ehdr_of(buf)->e_shstrndx = 0xfeff;
	assert_int_equal(open_buf(buf, orig_len, &ef), -EINVAL);
	memcpy(buf, orig, orig_len);
	ehdr_of(buf)->e_shstrndx = (Elf64_Half)shdr_index(buf, find_shdr(buf, ".text"));
	assert_int_equal(open_buf(buf, orig_len, &ef), -EINVAL);

	memcpy(buf, orig, orig_len);
	ehdr_of(buf)->e_phoff = orig_len + 1;
	assert_int_equal(open_buf(buf, orig_len, &ef), -EINVAL);
	memcpy(buf, orig, orig_len);
	ehdr_of(buf)->e_phentsize = 32;
	assert_int_equal(open_buf(buf, orig_len, &ef), -EINVAL);
	memcpy(buf, orig, orig_len);
	find_phdr(buf, PT_LOAD)->p_filesz = 1ull << 40;
	assert_int_equal(open_buf(buf, orig_len, &ef), -EINVAL);
	memcpy(buf, orig, orig_len);
	find_phdr(buf, PT_LOAD)->p_offset = UINT64_MAX - 8;
	assert_int_equal(open_buf(buf, orig_len, &ef), -EINVAL);
	assert_null(ef);
	free(buf);
}

static void test_hostile_sections(void **state)
{
	struct elf_file *ef = NULL;
	unsigned char *buf;
	Elf64_Shdr *sh;

	(void)state;
	buf = copy_orig();
	find_shdr(buf, ".rodata")->sh_offset = orig_len + 1;
	assert_int_equal(open_buf(buf, orig_len, &ef), -EINVAL);
	memcpy(buf, orig, orig_len);
	find_shdr(buf, ".rodata")->sh_size = 1ull << 40;
	assert_int_equal(open_buf(buf, orig_len, &ef), -EINVAL);
	memcpy(buf, orig, orig_len);
	sh = find_shdr(buf, ".rodata");
	sh->sh_offset = UINT64_MAX - 10;
	sh->sh_size = 100; /* offset + size wraps */
	assert_int_equal(open_buf(buf, orig_len, &ef), -EINVAL);
	memcpy(buf, orig, orig_len);
	find_shdr(buf, ".note.stapsdt")->sh_size = orig_len;
	assert_int_equal(open_buf(buf, orig_len, &ef), -EINVAL);

	/* .symtab's string table link: out of range, not a string table, 0 */
	memcpy(buf, orig, orig_len);
	find_shdr(buf, ".symtab")->sh_link = 0xffff;
	assert_int_equal(open_buf(buf, orig_len, &ef), -EINVAL);
	memcpy(buf, orig, orig_len);
	sh = find_shdr(buf, ".symtab");
	sh->sh_link = (Elf64_Word)shdr_index(buf, find_shdr(buf, ".text"));
	assert_int_equal(open_buf(buf, orig_len, &ef), -EINVAL);
	memcpy(buf, orig, orig_len);
	find_shdr(buf, ".symtab")->sh_link = 0;
	assert_int_equal(open_buf(buf, orig_len, &ef), -EINVAL);
	memcpy(buf, orig, orig_len);
	find_shdr(buf, ".symtab")->sh_entsize = 0;
	assert_int_equal(open_buf(buf, orig_len, &ef), -EINVAL);
	memcpy(buf, orig, orig_len);
	find_shdr(buf, ".symtab")->sh_size -= 7;
	assert_int_equal(open_buf(buf, orig_len, &ef), -EINVAL);
	/* a string table whose last string runs off its end */
	memcpy(buf, orig, orig_len);
	sh = find_shdr(buf, ".strtab");
	buf[sh->sh_offset + sh->sh_size - 1] = 'x';
	assert_int_equal(open_buf(buf, orig_len, &ef), -EINVAL);
	assert_null(ef);
	free(buf);
}

static void test_hostile_symbols(void **state)
{
	struct elf_file *ef = NULL;
	unsigned char *buf = copy_orig();
	struct elf_sym sym;
	Elf64_Shdr *sh;
	Elf64_Sym *syms;
	size_t i, n;

	(void)state;
	/* every .symtab name out of range: open works, .dynsym still answers */
	sh = find_shdr(buf, ".symtab");
	syms = (Elf64_Sym *)(buf + sh->sh_offset);
	n = sh->sh_size / sizeof(*syms);
	for (i = 1; i < n; i++)
		syms[i].st_name = 0x7fffffff;
	assert_int_equal(open_buf(buf, orig_len, &ef), 0);
	assert_int_equal(elf_find_symbol(ef, "Py_Version", &sym), 0);
	assert_int_equal(elf_find_symbol(ef, "fake_python.c", &sym), -ENOENT);
	exercise(ef);
	elf_file_close(ef);

	/* .dynsym names pointing at the last byte of .dynstr: all "" */
	memcpy(buf, orig, orig_len);
	sh = find_shdr(buf, ".dynsym");
	syms = (Elf64_Sym *)(buf + sh->sh_offset);
	n = sh->sh_size / sizeof(*syms);
	for (i = 1; i < n; i++)
		syms[i].st_name = (Elf64_Word)(find_shdr(buf, ".dynstr")->sh_size - 1);
	assert_int_equal(open_buf(buf, orig_len, &ef), 0);
	assert_int_equal(elf_find_symbol(ef, "Py_Version", &sym), 0); /* .symtab */
	exercise(ef);
	elf_file_close(ef);
	free(buf);
}

/* The first .note.stapsdt note of buf, and its desc. */
static Elf64_Nhdr *first_stapsdt(unsigned char *buf, unsigned char **desc)
{
	Elf64_Nhdr *nh = (Elf64_Nhdr *)(buf + find_shdr(buf, ".note.stapsdt")->sh_offset);

	assert_int_equal(nh->n_type, 3);
	assert_int_equal(nh->n_namesz, 8);
	*desc = (unsigned char *)(nh + 1) + 8;
	return nh;
}

static void test_hostile_notes(void **state)
{
	struct elf_file *ef = NULL;
	unsigned char *buf = copy_orig(), *desc;
	Elf64_Nhdr *nh;
	char bid[64];
	size_t i;

	(void)state;
	/* desc too short for the three addresses: the note is not counted, the
	 * walk goes on through what is now garbage */
	nh = first_stapsdt(buf, &desc);
	nh->n_descsz = 16;
	assert_int_equal(open_buf(buf, orig_len, &ef), 0);
	assert_int_equal(elf_usdt_count(ef, "python", "gc__start"), 0);
	assert_true(elf_usdt_count(ef, "python", NULL) <= 1);
	elf_file_close(ef);

	/* strings not terminated inside desc */
	memcpy(buf, orig, orig_len);
	nh = first_stapsdt(buf, &desc);
	for (i = 24; i < nh->n_descsz; i++)
		if (!desc[i])
			desc[i] = 'x';
	assert_int_equal(open_buf(buf, orig_len, &ef), 0);
	assert_int_equal(elf_usdt_count(ef, "python", "gc__start"), 0);
	assert_int_equal(elf_usdt_count(ef, "python", "gc__done"), 1);
	elf_file_close(ef);

	/* desc running past the section */
	memcpy(buf, orig, orig_len);
	nh = first_stapsdt(buf, &desc);
	nh->n_descsz = 0xfffffff0;
	assert_int_equal(open_buf(buf, orig_len, &ef), 0);
	assert_int_equal(elf_usdt_count(ef, "python", NULL), 0);
	elf_file_close(ef);

	/* wrong owner */
	memcpy(buf, orig, orig_len);
	nh = first_stapsdt(buf, &desc);
	((char *)(nh + 1))[6] = 'X';
	assert_int_equal(open_buf(buf, orig_len, &ef), 0);
	assert_int_equal(elf_usdt_count(ef, "python", NULL), 1);
	elf_file_close(ef);

	/* build-id note desc running past its section and segment */
	memcpy(buf, orig, orig_len);
	nh = (Elf64_Nhdr *)(buf + find_shdr(buf, ".note.gnu.build-id")->sh_offset);
	nh->n_descsz = 0x1000;
	assert_int_equal(open_buf(buf, orig_len, &ef), 0);
	assert_int_equal(elf_build_id(ef, bid, sizeof(bid)), -ENOENT);
	elf_file_close(ef);
	free(buf);
}

static void test_hostile_dynamic(void **state)
{
	struct elf_file *ef = NULL;
	unsigned char *buf = copy_orig();
	Elf64_Shdr *sh;
	Elf64_Dyn *dyn;
	size_t i, n;

	(void)state;
	find_shdr(buf, ".dynamic")->sh_link = 0xfff0;
	assert_int_equal(open_buf(buf, orig_len, &ef), 0);
	assert_false(elf_needs(ef, "libc"));
	assert_null(elf_soname(ef));
	elf_file_close(ef);

	/* string offsets outside .dynstr, and no DT_NULL terminator */
	memcpy(buf, orig, orig_len);
	sh = find_shdr(buf, ".dynamic");
	dyn = (Elf64_Dyn *)(buf + sh->sh_offset);
	n = sh->sh_size / sizeof(*dyn);
	for (i = 0; i < n; i++) {
		if (dyn[i].d_tag == DT_NEEDED)
			dyn[i].d_un.d_val = 0xffffffffffull;
		else
			dyn[i].d_tag = DT_SONAME;
	}
	assert_int_equal(open_buf(buf, orig_len, &ef), 0);
	assert_false(elf_needs(ef, ""));
	exercise(ef);
	elf_file_close(ef);
	free(buf);
}

/* The file shrinks after open: with mmap this would be a SIGBUS. What libelf
 * read before (headers, section names, symbol tables) stays usable. */
static void test_file_shrinks(void **state)
{
	struct elf_file *ef = NULL;
	struct elf_sym sym;
	char bid[64];
	unsigned int v;

	(void)state;
	assert_int_equal(open_buf(orig, orig_len, &ef), 0);
	assert_int_equal(truncate(variant_path, 3000), 0);
	assert_int_equal(elf_find_symbol(ef, "Py_Version", &sym), 0);
	assert_int_equal(elf_read_vaddr(ef, sym.vaddr, &v, sizeof(v)), -EIO);
	assert_int_equal(elf_section_data(ef, ".rodata", 1 << 20, sum_cb, &v), -EIO);
	/* not read before the truncation: libelf's pread comes up short */
	assert_int_equal(elf_usdt_count(ef, "python", NULL), -EINVAL);
	assert_null(elf_soname(ef));
	/* the build-id note (at 0x358) is still in the file */
	assert_int_equal(elf_build_id(ef, bid, sizeof(bid)), 0);
	exercise(ef);
	assert_int_equal(truncate(variant_path, 0), 0);
	exercise(ef);
	/* ... and now cached by libelf */
	assert_int_equal(elf_build_id(ef, bid, sizeof(bid)), 0);
	assert_true(elf_has_section(ef, ".rodata"));
	elf_file_close(ef);
}

/* --- random corruption --------------------------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13; /* xorshift64: same sequence everywhere */
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* Mostly in the headers, where a flip changes how the rest is read. */
static size_t pick_offset(void)
{
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)orig;
	size_t phend = eh->e_phoff + (size_t)eh->e_phnum * sizeof(Elf64_Phdr);

	switch (rnd() % 4) {
	case 0:
		return rnd() % phend;
	case 1:
		return eh->e_shoff + rnd() % (orig_len - eh->e_shoff);
	default:
		return rnd() % orig_len;
	}
}

static void test_fuzz(void **state)
{
	unsigned char *buf = malloc(orig_len);
	int i, j, nflips, opened = 0, err;
	int free_fd = lowest_free_fd();
	struct elf_file *ef;

	(void)state;
	assert_non_null(buf);
	for (i = 0; i < FUZZ_ITERATIONS; i++) {
		memcpy(buf, orig, orig_len);
		nflips = 1 + (int)(rnd() % 8);
		for (j = 0; j < nflips; j++) {
			size_t off = pick_offset();

			if (rnd() % 2)
				buf[off] = (unsigned char)rnd();
			else
				buf[off] ^= (unsigned char)(1u << (rnd() % 8));
		}
		ef = NULL;
		err = open_buf(buf, orig_len, &ef);
		if (err) {
			assert_true(err == -EINVAL || err == -ENOEXEC);
			assert_null(ef);
			continue;
		}
		opened++;
		exercise(ef);
		elf_file_close(ef);
	}
	print_message("fuzz: %d of %d corrupted copies opened\n", opened, FUZZ_ITERATIONS);
	assert_int_equal(lowest_free_fd(), free_fd); /* error paths close their fd */
	free(buf);
}

/* --- main ------------------------------------------------------------------ */

static int setup(void **state)
{
	(void)state;
	orig = read_all(FAKE_PYTHON, &orig_len);
	if (!orig || orig_len < sizeof(Elf64_Ehdr)) {
		fprintf(stderr, "test_elf: %s missing: run `make unit` from the repository root\n",
			FAKE_PYTHON);
		return -1;
	}
	if (!mkdtemp(tmpdir))
		return -1;
	snprintf(variant_path, sizeof(variant_path), "%s/variant", tmpdir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(variant_path);
	rmdir(tmpdir);
	free(orig);
	return 0;
}

/* Function bounds from the unwind table equal what .symtab says: on the
 * fixtures, their stripped copy, and every sized function of the pyenv
 * libpythons (GCC's .cold parts are functions of their own). */
struct bounds_ctx {
	const struct elf_file *ef;
	int checked, differ;
};

static int bounds_cb(const char *name, const struct elf_sym *sym, void *ctx)
{
	struct bounds_ctx *b = ctx;
	uint64_t start, end;

	(void)name;
	if (!sym->size || elf_func_bounds(b->ef, sym->vaddr, &start, &end))
		return 0;
	b->checked++;
	if (start != sym->vaddr || end != sym->vaddr + sym->size)
		b->differ++;
	return 0;
}

static void test_func_bounds(void **state)
{
	struct elf_file *ef, *st;
	struct elf_sym sym;
	uint64_t start, end, s2, e2;
	struct bounds_ctx b = { 0 };
	char path[512];
	const char *home = getenv("PYENV_ROOT");

	(void)state;
	assert_int_equal(elf_file_open(FIXTURE_DIR "fake_python", &ef), 0);
	assert_int_equal(elf_file_open(FIXTURE_DIR "stripped.elf", &st), 0);
	assert_int_equal(elf_find_symbol(ef, "gc_collect_main", &sym), 0);
	assert_int_equal(elf_func_bounds(ef, sym.vaddr + 3, &start, &end), 0);
	assert_int_equal(start, sym.vaddr);
	assert_int_equal(end, sym.vaddr + sym.size);
	/* stripping keeps the unwind table: the same bounds */
	assert_int_equal(elf_func_bounds(st, sym.vaddr + 3, &s2, &e2), 0);
	assert_true(s2 == start && e2 == end);
	/* data is in no function */
	assert_int_equal(elf_find_symbol(ef, "_PyRuntime", &sym), 0);
	assert_int_equal(elf_func_bounds(ef, sym.vaddr, &start, &end), -ENOENT);
	assert_int_equal(elf_func_bounds(NULL, 0, &start, &end), -ENOENT);
	elf_file_close(ef);
	elf_file_close(st);
	for (int m = 8; m <= 13; m++) {
		glob_t g;

		snprintf(path, sizeof(path), "%s/versions/3.%d.*/lib/libpython3.%d.so.1.0",
			 home ? home : "/root/.pyenv", m, m);
		if (glob(path, 0, NULL, &g))
			continue;
		assert_int_equal(elf_file_open(g.gl_pathv[0], &ef), 0);
		b.ef = ef;
		elf_foreach_func(ef, "", bounds_cb, &b);
		elf_file_close(ef);
		globfree(&g);
	}
	printf("function bounds: %d of %d sized pyenv functions differ from .symtab\n", b.differ,
	       b.checked);
	assert_true(b.checked > 1000);
	assert_true(b.differ * 100 <= b.checked); /* aliases and merged functions */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open_fixtures),
		cmocka_unit_test(test_open_errors),
		cmocka_unit_test(test_open_fd),
		cmocka_unit_test(test_find_symbol),
		cmocka_unit_test(test_stripped_uses_dynsym),
		cmocka_unit_test(test_local_symbol_only_in_symtab),
		cmocka_unit_test(test_foreach_clones),
		cmocka_unit_test(test_vaddr),
		cmocka_unit_test(test_build_id),
		cmocka_unit_test(test_usdt),
		cmocka_unit_test(test_func_bounds),
		cmocka_unit_test(test_dynamic),
		cmocka_unit_test(test_section_data),
		cmocka_unit_test(test_system_python),
		cmocka_unit_test(test_hostile_headers),
		cmocka_unit_test(test_hostile_sections),
		cmocka_unit_test(test_hostile_symbols),
		cmocka_unit_test(test_hostile_notes),
		cmocka_unit_test(test_hostile_dynamic),
		cmocka_unit_test(test_file_shrinks),
		cmocka_unit_test(test_fuzz),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
