// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Where pymemtop puts its heap uprobes on real interpreter builds: the
 * pool refill and, for --precise, the four object-allocator functions.
 * Each probe must sit on an instruction the kernel emulates (the decoder
 * says so independently here), no argument register may have been
 * written before it, and LTO builds must be refused for --precise.
 * Interpreters the machine lacks are skipped with a line saying so.
 */
#include <glob.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "elf_file.h"
#include "interps.h"
#include "pyheap.h"
#include "python.h"
#include "x86.h"

static uint64_t sym(const struct elf_file *ef, const char *name)
{
	struct elf_sym s;

	assert_int_equal(elf_find_symbol(ef, name, &s), 0);
	return s.vaddr;
}

/* Decode from fn up to and including at; check the probe rules. */
static void check_probe(const struct elf_file *ef, uint64_t fn, uint64_t at, uint32_t arg_regs)
{
	struct x86_dec in[8];
	uint8_t code[64];
	int n;

	assert_true(at >= fn && at < fn + 32);
	assert_int_equal(elf_read_vaddr(ef, fn, code, sizeof(code)), 0);
	n = x86_decode(code, sizeof(code), fn, false, in, 8);
	assert_true(n > 0);
	for (int i = 0; i < n; i++) {
		if (in[i].addr == at) {
			assert_true(in[i].uprobe_emulated);
			assert_true(in[i].kind != X86_K_CALL && in[i].kind != X86_K_JMP);
			return;
		}
		assert_false(in[i].regs_written & arg_regs);
		assert_false(in[i].uprobe_emulated); /* the first emulated one is taken */
	}
	fail_msg("probe 0x%llx is not on an instruction boundary", (unsigned long long)at);
}

#define R(x) (1u << (x))

/* The calls _PyObject_Realloc makes to _PyObject_Malloc/_Free, as
 * objdump shows them on these builds: 3.9 calls both when moving a block,
 * 3.10/3.11 call Free, 3.12/3.13 call Malloc; all tail-jump to Malloc for
 * a NULL pointer. */
static void check_nested(const struct pyheap_layout *l)
{
	int n = 0;

	for (int i = 0; i < PMT_PRECISE_NESTED; i++)
		n += l->precise_nested[i] != 0;
	assert_true(l->realloc_null_jumps);
	assert_int_equal(n, l->minor == 9 ? 2 : 1);
}

static void test_pyenv_probes(void **state)
{
	static const uint32_t regs[PYHEAP_PRECISE_NFN] = {
		R(X86_R_RSI),
		R(X86_R_RSI) | R(X86_R_RDX),
		R(X86_R_RSI) | R(X86_R_RDX),
		R(X86_R_RSI),
	};
	const char *home = getenv("PYENV_ROOT");
	char pattern[512];
	int checked = 0;
	glob_t g;

	(void)state;
	snprintf(pattern, sizeof(pattern), "%s/versions/3.*.*/lib/libpython3.*.so.1.0",
		 home ? home : "/root/.pyenv");
	if (glob(pattern, 0, NULL, &g)) {
		print_message("SKIP probe placement: no pyenv libpython under %s\n", pattern);
		skip();
	}
	for (size_t i = 0; i < g.gl_pathc; i++) {
		struct pyheap_layout l;
		struct elf_file *ef;
		struct py_info pi;

		if (elf_file_open(g.gl_pathv[i], &ef))
			continue;
		assert_int_equal(python_inspect(ef, &pi), 0);
		if (pi.minor < 9 || pi.minor > 13 || !pi.has_symtab ||
		    strstr(g.gl_pathv[i], "t/lib/")) {
			elf_file_close(ef);
			continue;
		}
		pyheap_layout_find(ef, &pi, &l);
		assert_true(l.heap_ok);
		check_probe(ef, l.refill_fn, l.refill_probe,
			    R(l.refill_arg == 2 ? X86_R_RSI : X86_R_RDI));
		assert_true(l.precise_ok);
		for (int f = 0; f < PYHEAP_PRECISE_NFN; f++)
			check_probe(ef, sym(ef, pyheap_precise_name(f)), l.precise_probe[f],
				    regs[f] | R(X86_R_RSP));
		check_nested(&l);
		checked++;
		elf_file_close(ef);
	}
	globfree(&g);
	printf("probe placement checked on %d pyenv builds\n", checked);
}

/* 3.8 inlines its refill: no refill probe, a reason; precise still works. */
static void test_pyenv_38(void **state)
{
	const char *home = getenv("PYENV_ROOT");
	char path[512];
	struct pyheap_layout l;
	struct elf_file *ef;
	struct py_info pi;

	(void)state;
	snprintf(path, sizeof(path), "%s/versions/3.8.18/lib/libpython3.8.so.1.0",
		 home ? home : "/root/.pyenv");
	if (access(path, R_OK) || elf_file_open(path, &ef)) {
		print_message("SKIP 3.8 probes: %s not present\n", path);
		skip();
	}
	assert_int_equal(python_inspect(ef, &pi), 0);
	pyheap_layout_find(ef, &pi, &l);
	assert_int_equal(l.refill_probe, 0);
	assert_non_null(strstr(l.refill_reason, "3.8"));
	/* its _PyObject_Realloc calls nothing: realloc(NULL) counted there */
	assert_true(l.precise_ok);
	assert_false(l.realloc_null_jumps);
	assert_int_equal(l.precise_nested[0], 0);
	elf_file_close(ef);
}

/* Debian's LTO build: the allocator is compiled into its callers, so
 * --precise must be refused with that reason. */
static void test_debian_lto_refused(void **state)
{
	struct pyheap_layout l;
	struct elf_file *ef;
	struct py_info pi;

	(void)state;
	if (access("/usr/bin/python3.11", R_OK) || elf_file_open("/usr/bin/python3.11", &ef)) {
		print_message("SKIP Debian LTO: /usr/bin/python3.11 not present\n");
		skip();
	}
	assert_int_equal(python_inspect(ef, &pi), 0);
	pyheap_layout_find(ef, &pi, &l);
	assert_true(l.heap_ok);
	assert_false(l.precise_ok);
	assert_non_null(strstr(l.precise_reason, "LTO"));
	check_probe(ef, l.refill_fn, l.refill_probe, R(X86_R_RDI));
	elf_file_close(ef);
}

/* The first function whose name starts with prefix (LTO renames statics
 * "name.lto_priv.0"; GCC clones "name.part.0"). */
struct first_fn {
	const char *exact;
	uint64_t vaddr, size;
};

static int first_cb(const char *name, const struct elf_sym *s, void *ctx)
{
	struct first_fn *f = ctx;
	size_t n = strlen(f->exact);

	if (strncmp(name, f->exact, n) || (name[n] && strncmp(name + n, ".lto_priv.", 10)) ||
	    strstr(name, ".cold"))
		return 0;
	f->vaddr = s->vaddr;
	f->size = s->size;
	return 1;
}

static uint64_t dbg_sym(const struct elf_file *dbg, const char *name, uint64_t *size)
{
	struct first_fn f = { .exact = name };

	elf_foreach_func(dbg, name, first_cb, &f);
	if (!f.vaddr)
		fail_msg("%s not in the debug file's symbol table", name);
	if (size)
		*size = f.size;
	return f.vaddr;
}

/* Debian's stripped builds (the roots' executables and libpythons): what
 * pymemtop decodes without symbols equals what the -dbg package's debug
 * file of the same build-id names: the pool refill, _PyObject_Malloc,
 * and (libpython: --precise) the four allocator functions, with
 * _PyObject_Realloc's extent from the unwind table equal to its size. */
static void test_stripped_vs_debug_symbols(void **state)
{
	static const char *const fn[] = { "_PyObject_Malloc", "_PyObject_Calloc",
					  "_PyObject_Realloc", "_PyObject_Free" };
	static struct test_interp ti[TI_MAX];
	int n = ti_find(ti, true), checked = 0;

	(void)state;
	if (!ti_roots_present())
		fail_msg("the Debian roots are missing under %s: make roots builds them",
			 ti_roots());
	for (int i = 0; i < n; i++) {
		static struct pyheap_layout l;
		static struct py_info pi;
		struct elf_file *ef, *dbg;
		char path[PATH_MAX * 2];
		uint64_t size, start, end;

		if (!ti[i].root[0])
			continue;
		assert_int_equal(elf_file_open(ti[i].file, &ef), 0);
		assert_int_equal(python_inspect(ef, &pi), 0);
		assert_false(pi.has_symtab);
		pyheap_layout_find(ef, &pi, &l);
		assert_true(l.heap_ok);
		snprintf(path, sizeof(path), "%s/usr/lib/debug/.build-id/%.2s/%s.debug", ti[i].root,
			 pi.build_id, pi.build_id + 2);
		if (elf_file_open(path, &dbg))
			fail_msg("%s: no debug file %s: make roots installs the -dbg packages",
				 ti[i].name, path);
		assert_int_equal(l.refill_fn, dbg_sym(dbg, "allocate_from_new_pool", NULL));
		assert_int_equal(l.pymalloc_fn, dbg_sym(dbg, "_PyObject_Malloc", NULL));
		check_probe(ef, l.refill_fn, l.refill_probe, R(X86_R_RSI));
		if (!ti[i].shared) {
			assert_false(l.precise_ok);
			assert_non_null(strstr(l.precise_reason, "LTO"));
		} else {
			if (!l.precise_ok)
				fail_msg("%s: --precise refused: %s", ti[i].name, l.precise_reason);
			for (int k = 0; k < 4; k++) {
				uint64_t want = dbg_sym(dbg, fn[k], &size);

				check_probe(ef, want, l.precise_probe[k],
					    R(X86_R_RSI) | R(X86_R_RSP));
				if (k == 2) {
					assert_int_equal(elf_func_bounds(ef, want, &start, &end),
							 0);
					assert_true(start == want && end == want + size);
				}
			}
			assert_true(l.realloc_null_jumps);
		}
		printf("%s: refill, pymalloc%s found without symbols, as its debug file names "
		       "them\n",
		       ti[i].name, ti[i].shared ? " and the four --precise functions" : "");
		elf_file_close(dbg);
		elf_file_close(ef);
		checked++;
	}
	assert_true(checked >= 6);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pyenv_probes),
		cmocka_unit_test(test_pyenv_38),
		cmocka_unit_test(test_debian_lto_refused),
		cmocka_unit_test(test_stripped_vs_debug_symbols),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
