/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * What an ELF file tells about the CPython interpreter in it: is it one,
 * which exact version, how it was built, and where its garbage collector
 * can be probed. Pure inspection of the file; no process is touched.
 */
#ifndef PMT_PYTHON_H
#define PMT_PYTHON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "elf_file.h"
#include "registry.h"

enum py_gc_hook {
	PY_GC_NONE, /* gc_reason says why */
	PY_GC_USDT, /* python:gc__start / python:gc__done */
	PY_GC_UPROBE, /* uprobe + uretprobe on gc_funcs[] */
	PY_GC_MEMORY, /* no probe: CPython's own statistics (3.15's ring buffers
		       * hold collections, collected and durations) */
};

#define PY_MAX_GC_FUNCS 4
#define PY_VERSION_LEN	24

struct py_gc_func {
	char name[64]; /* symbol, e.g. "gc_collect_main" */
	uint64_t vaddr; /* probed instruction, ELF virtual address */
	uint64_t offset; /* the same as a file offset (what uprobes take) */
	uint64_t cookie; /* PMT_GC_COOKIE(): where the generation is */
};

struct py_info {
	bool is_python; /* defines the CPython runtime (Py_Initialize, Py_GetVersion) */
	bool needs_libpython; /* not CPython itself but DT_NEEDED libpython* */
	char version[PY_VERSION_LEN]; /* "3.11.2", "3.13.0rc1"; "" if unknown */
	char version_source[16]; /* "Py_Version" or "rodata" */
	int major, minor, micro;
	int level; /* release level: 0xa alpha, 0xb beta, 0xc rc, 0xf final */
	uint32_t hex; /* Py_Version (PY_VERSION_HEX), 0 when the file has none */
	bool shared; /* a shared object (libpython) rather than an executable */
	bool has_symtab;
	bool has_usdt; /* python:gc__start and python:gc__done notes */
	char build_id[41];
	enum py_gc_hook gc_hook;
	struct py_gc_func gc_funcs[PY_MAX_GC_FUNCS];
	int n_gc_funcs;
	char gc_reason[256];
	struct reg_build reg; /* its row of the layout registry, resolved */
};

/* Inspect ef. 0 (out filled, also when not Python), or -errno. */
int python_inspect(const struct elf_file *ef, struct py_info *out);

/* "3.11.2" from a PY_VERSION_HEX value (0x030b02f0); release levels other
 * than final get their suffix ("3.13.0rc1"). -EINVAL if implausible. */
int python_version_from_hex(uint32_t hex, char *buf, size_t len);

/* "3.14.10" / "3.15.0rc1" / "3.9.0+" into its parts (level as in
 * PY_VERSION_HEX; a "+" development build of a branch counts as final).
 * 0, or -EINVAL. */
int python_version_parse(const char *v, int *major, int *minor, int *micro, int *level);

/* Find the PY_VERSION string in section bytes: NUL-terminated "X.Y.Z"
 * (optionally "a1"/"b2"/"rc3" and "+") that starts the string or follows
 * '/' or ' ' (the linker merges it into the tail of longer strings).
 * Only candidates with want_major.want_minor count when want_major > 0.
 * 0 with the version in buf, -ENOENT if none, -EEXIST if several differ. */
int python_version_scan(const unsigned char *data, size_t len, int want_major, int want_minor,
			char *buf, size_t buflen);

/* Short text naming the GC source for output: "usdt",
 * "uprobe:gc_collect_main", "process_vm_readv:gc_stats", NULL when none. */
const char *python_gc_desc(const struct py_info *pi, char *buf, size_t len);

#endif
