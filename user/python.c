// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * CPython interpreter inspection (see python.h). Facts used, from
 * CPython's sources (Include/patchlevel.h, Python/gc.c, Modules/gcmodule.c):
 *  - Py_Version (exported PY_VERSION_HEX, an unsigned long) exists from 3.11; older
 *    versions keep PY_VERSION as a .rodata string, often merged into the
 *    tail of a longer string by the linker.
 *  - The collector's name and which argument is the generation come from
 *    the layout registry (gc_collect_main 3.10+, collect before). GCC may
 *    leave only .constprop clones (pyenv 3.8): their argument layout is
 *    unknown, so for 3.8 the generation is taken from the GC state's own
 *    per-generation counters in _PyRuntime (the registry says where).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "pymemtop.h"
#include "python.h"

#define RODATA_MAX (64u << 20)

int python_version_from_hex(uint32_t hex, char *buf, size_t len)
{
	unsigned int major = hex >> 24, minor = (hex >> 16) & 0xff, micro = (hex >> 8) & 0xff;
	unsigned int level = (hex >> 4) & 0xf, serial = hex & 0xf;
	const char *lv;

	if (major < 2 || major > 3 || minor > 99 || micro > 99)
		return -EINVAL;
	switch (level) {
	case 0xa:
		lv = "a";
		break;
	case 0xb:
		lv = "b";
		break;
	case 0xc:
		lv = "rc";
		break;
	case 0xf:
		lv = NULL;
		break;
	default:
		return -EINVAL;
	}
	if (lv)
		snprintf(buf, len, "%u.%u.%u%s%u", major, minor, micro, lv, serial);
	else
		snprintf(buf, len, "%u.%u.%u", major, minor, micro);
	return 0;
}

static size_t digits(const unsigned char *p, const unsigned char *end)
{
	size_t n = 0;

	while (p + n < end && p[n] >= '0' && p[n] <= '9')
		n++;
	return n;
}

/* Length of a version string at p ("3.9.18", "3.13.0rc1", "3.8.0+"),
 * ending at a NUL, or 0. */
static size_t version_at(const unsigned char *p, const unsigned char *end)
{
	const unsigned char *q = p;
	size_t n;

	for (int part = 0; part < 3; part++) {
		n = digits(q, end);
		if (!n || n > 2)
			return 0;
		q += n;
		if (part < 2) {
			if (q >= end || *q != '.')
				return 0;
			q++;
		}
	}
	if (q < end && (*q == 'a' || *q == 'b' || (*q == 'r' && q + 1 < end && q[1] == 'c'))) {
		q += *q == 'r' ? 2 : 1;
		n = digits(q, end);
		if (!n)
			return 0;
		q += n;
	}
	if (q < end && *q == '+')
		q++;
	if (q >= end || *q != '\0')
		return 0;
	return q - p;
}

int python_version_scan(const unsigned char *data, size_t len, int want_major, int want_minor,
			char *buf, size_t buflen)
{
	const unsigned char *end = data + len;
	char found[PY_VERSION_LEN] = "";

	for (const unsigned char *p = data; p < end; p++) {
		size_t n;
		int major, minor;

		if ((*p != '2' && *p != '3') || (p > data && p[-1] && p[-1] != '/' && p[-1] != ' '))
			continue;
		n = version_at(p, end);
		if (!n || n >= sizeof(found))
			continue;
		if (sscanf((const char *)p, "%d.%d", &major, &minor) != 2)
			continue;
		if (want_major > 0 && (major != want_major || minor != want_minor))
			continue;
		if (found[0] && (strlen(found) != n || memcmp(found, p, n)))
			return -EEXIST;
		memcpy(found, p, n);
		found[n] = '\0';
	}
	if (!found[0])
		return -ENOENT;
	snprintf(buf, buflen, "%s", found);
	return 0;
}

struct scan_ctx {
	int want_major, want_minor;
	char *buf;
	size_t buflen;
};

static int scan_cb(const unsigned char *data, size_t len, void *ctx)
{
	struct scan_ctx *sc = ctx;

	return python_version_scan(data, len, sc->want_major, sc->want_minor, sc->buf, sc->buflen);
}

/* X.Y from a soname like "libpython3.9.so.1.0" (the file's own DT_SONAME,
 * used to pick among .rodata candidates, not as the version). */
static void soname_major_minor(const struct elf_file *ef, int *major, int *minor)
{
	const char *so = elf_soname(ef);

	*major = *minor = 0;
	if (so && sscanf(so, "libpython%d.%d", major, minor) != 2)
		*major = *minor = 0;
}

static int detect_version(const struct elf_file *ef, struct py_info *pi)
{
	struct scan_ctx sc = { .buf = pi->version, .buflen = sizeof(pi->version) };
	struct elf_sym sym;
	uint32_t hex;
	int err;

	/* `const unsigned long Py_Version`: 8 bytes on LP64, little-endian,
	 * so its first 4 bytes are the value. */
	if (!elf_find_symbol(ef, "Py_Version", &sym) && (sym.size == 4 || sym.size == 8) &&
	    !elf_read_vaddr(ef, sym.vaddr, &hex, sizeof(hex)) &&
	    !python_version_from_hex(hex, pi->version, sizeof(pi->version))) {
		strcpy(pi->version_source, "Py_Version");
		goto parsed;
	}
	soname_major_minor(ef, &sc.want_major, &sc.want_minor);
	err = elf_section_data(ef, ".rodata", RODATA_MAX, scan_cb, &sc);
	if (err) {
		pi->version[0] = '\0';
		return err;
	}
	strcpy(pi->version_source, "rodata");
	hex = 0;
parsed:
	pi->hex = hex;
	return python_version_parse(pi->version, &pi->major, &pi->minor, &pi->micro, &pi->level);
}

int python_version_parse(const char *v, int *major, int *minor, int *micro, int *level)
{
	char rest[8] = "";
	int n;

	*level = 0xf;
	if (sscanf(v, "%d.%d.%d%n", major, minor, micro, &n) != 3)
		return -EINVAL;
	snprintf(rest, sizeof(rest), "%s", v + n);
	if (rest[0] == 'a')
		*level = 0xa;
	else if (rest[0] == 'b')
		*level = 0xb;
	else if (rest[0] == 'r')
		*level = 0xc;
	else if (rest[0] == '+')
		*level = 0xf; /* a development build of a released branch */
	else if (rest[0])
		return -EINVAL;
	return 0;
}

static bool is_endbr64(const unsigned char *b)
{
	return b[0] == 0xf3 && b[1] == 0x0f && b[2] == 0x1e && b[3] == 0xfa;
}

/* Fill a probe on the function at vaddr: skip an endbr64 (single-stepped,
 * ~10 us a hit; the instruction after it keeps the entry stack, so a
 * uretprobe there still works). */
static int add_gc_func(const struct elf_file *ef, struct py_info *pi, const char *name,
		       uint64_t vaddr, int kind, int64_t stats_vaddr)
{
	struct py_gc_func *f;
	unsigned char insn[4];
	int err;

	if (pi->n_gc_funcs == PY_MAX_GC_FUNCS)
		return -E2BIG;
	f = &pi->gc_funcs[pi->n_gc_funcs];
	if (!elf_read_vaddr(ef, vaddr, insn, sizeof(insn)) && is_endbr64(insn))
		vaddr += 4;
	err = elf_vaddr_to_offset(ef, vaddr, &f->offset);
	if (err)
		return err;
	snprintf(f->name, sizeof(f->name), "%s", name);
	f->vaddr = vaddr;
	f->cookie = PMT_GC_COOKIE(kind,
				  kind == PMT_GC_GEN_STATS_DIFF ? stats_vaddr - (int64_t)vaddr : 0);
	pi->n_gc_funcs++;
	return 0;
}

struct clone_ctx {
	const struct elf_file *ef;
	struct py_info *pi;
	int64_t stats_vaddr;
	int err;
};

static int clone_cb(const char *name, const struct elf_sym *sym, void *ctx)
{
	struct clone_ctx *cc = ctx;

	cc->err = add_gc_func(cc->ef, cc->pi, name, sym->vaddr, PMT_GC_GEN_STATS_DIFF,
			      cc->stats_vaddr);
	return cc->err;
}

/* 3.8 .constprop clones: probe them all, generation from the GC stats. */
static int plan_clones(const struct elf_file *ef, struct py_info *pi)
{
	struct clone_ctx cc = { .ef = ef, .pi = pi };

	const struct reg_layout *l = &pi->reg.l;

	if (!pi->reg.ok || !l->gc_clones || l->gc_at != REG_GC_IN_RUNTIME) {
		snprintf(pi->gc_reason, sizeof(pi->gc_reason),
			 "collector exists only as compiler clones (collect.constprop.N) with an "
			 "unknown argument layout for %d.%d",
			 pi->major, pi->minor);
		return -ENOTSUP;
	}
	if (!pi->reg.runtime) {
		snprintf(pi->gc_reason, sizeof(pi->gc_reason),
			 "collector exists only as compiler clones and _PyRuntime is not exported");
		return -ENOENT;
	}
	cc.stats_vaddr = pi->reg.runtime + l->gc_state + l->gc_stats;
	elf_foreach_func(ef, "collect.constprop.", clone_cb, &cc);
	if (cc.err) {
		snprintf(pi->gc_reason, sizeof(pi->gc_reason), "collector clones: %s",
			 strerror(-cc.err));
		pi->n_gc_funcs = 0;
	}
	return cc.err;
}

static int count_cb(const char *name, const struct elf_sym *sym, void *ctx)
{
	(void)name;
	(void)sym;
	(*(int *)ctx)++;
	return 0;
}

static void plan_gc(const struct elf_file *ef, struct py_info *pi)
{
	struct elf_sym sym;
	int nclones = 0, err, kind;
	const char *fn;

	/* 3.15 keeps per-generation durations too: read, not probed */
	if (pi->reg.ok && pi->reg.l.gc_stats_at == REG_GCSTATS_RING) {
		pi->gc_hook = PY_GC_MEMORY;
		return;
	}
	if (pi->has_usdt) {
		pi->gc_hook = PY_GC_USDT;
		return;
	}
	if (!pi->version[0]) {
		snprintf(
			pi->gc_reason, sizeof(pi->gc_reason),
			"interpreter version unknown: the collector's arguments cannot be decoded");
		return;
	}
	if (!pi->reg.ok) {
		snprintf(pi->gc_reason, sizeof(pi->gc_reason), "no USDT probes, and %s",
			 pi->reg.reason);
		return;
	}
	fn = pi->reg.l.gc_func;
	kind = pi->reg.l.gc_gen_arg == 1 ? PMT_GC_GEN_ARG1 : PMT_GC_GEN_ARG2;
	elf_foreach_func(ef, "collect.constprop.", count_cb, &nclones);
	if (!elf_find_symbol(ef, fn, &sym) && sym.type == 2 /* STT_FUNC */)
		err = add_gc_func(ef, pi, fn, sym.vaddr, kind, 0);
	else if (nclones)
		err = plan_clones(ef, pi);
	else {
		snprintf(pi->gc_reason, sizeof(pi->gc_reason), "%s",
			 pi->has_symtab ? "no collector function in the symbol table"
					: "stripped build without USDT probes: the collector "
					  "cannot be located");
		return;
	}
	if (err) {
		if (!pi->gc_reason[0])
			snprintf(pi->gc_reason, sizeof(pi->gc_reason),
				 "collector function not in a loadable segment");
		pi->n_gc_funcs = 0;
		return;
	}
	pi->gc_hook = PY_GC_UPROBE;
}

int python_inspect(const struct elf_file *ef, struct py_info *pi)
{
	struct elf_sym sym;

	memset(pi, 0, sizeof(*pi));
	pi->is_python = !elf_find_symbol(ef, "Py_Initialize", &sym) &&
			!elf_find_symbol(ef, "Py_GetVersion", &sym);
	if (!pi->is_python) {
		pi->needs_libpython = elf_needs(ef, "libpython");
		return 0;
	}
	pi->shared = elf_soname(ef) != NULL;
	pi->has_symtab = elf_has_symtab(ef);
	pi->has_usdt = elf_usdt_count(ef, "python", "gc__start") > 0 &&
		       elf_usdt_count(ef, "python", "gc__done") > 0;
	if (elf_build_id(ef, pi->build_id, sizeof(pi->build_id)))
		pi->build_id[0] = '\0';
	if (detect_version(ef, pi))
		pi->version[0] = '\0';
	if (pi->version[0])
		registry_resolve(ef, pi->major, pi->minor, pi->micro, pi->level, pi->hex, &pi->reg);
	else
		snprintf(pi->reg.reason, sizeof(pi->reg.reason), "interpreter version unknown");
	plan_gc(ef, pi);
	return 0;
}

const char *python_gc_desc(const struct py_info *pi, char *buf, size_t len)
{
	size_t off;

	switch (pi->gc_hook) {
	case PY_GC_USDT:
		snprintf(buf, len, "usdt");
		return buf;
	case PY_GC_MEMORY:
		snprintf(buf, len, "process_vm_readv:gc_stats");
		return buf;
	case PY_GC_UPROBE:
		off = snprintf(buf, len, "uprobe:");
		for (int i = 0; i < pi->n_gc_funcs && off < len; i++)
			off += snprintf(buf + off, len - off, "%s%s", i ? "+" : "",
					pi->gc_funcs[i].name);
		return buf;
	default:
		return NULL;
	}
}
