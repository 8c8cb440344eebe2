// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <string.h>
#include "elf_file.h"
#include "inspect.h"
#include "jsonw.h"
#include "pyheap.h"
#include "python.h"
#include "registry.h"
#include "sites.h"

/* Every json_object_new_* checked through w (jsonw.h): the one writer of
 * this file's functions. */
static struct jw w;

static struct json_object *jstr(const char *s)
{
	return jw_str_or_null(&w, s, true);
}

static struct json_object *jhex(uint64_t v)
{
	char buf[24];

	if (!v)
		return NULL;
	snprintf(buf, sizeof(buf), "0x%llx", (unsigned long long)v);
	return jw_str(&w, buf);
}

static void put(struct json_object *o, const char *k, struct json_object *v)
{
	jw_put(&w, o, k, v);
}

/* The row as resolved: every field by name; "from_debug_offsets" names
 * those whose value differs from the row's own (what the file said). */
static struct json_object *layout_json(const struct reg_build *b)
{
	struct json_object *o = jw_obj(&w), *offs, *fromdbg, *d;
	const struct reg_layout *rows, *row = NULL;
	const struct reg_field *f;
	size_t nf, nr;

	put(o, "ok", jw_bool(&w, b->ok));
	put(o, "reason", b->ok ? NULL : jstr(b->reason));
	put(o, "runtime", jhex(b->runtime));
	if (b->has_dbg) {
		d = jw_obj(&w);
		put(d, "version", jhex(b->dbg_version));
		put(d, "free_threaded", jw_i64(&w, b->dbg_free_threaded));
		put(d, "runtime_size", jw_u64(&w, b->dbg_runtime_size));
		put(d, "interpreter_size", jw_u64(&w, b->dbg_interp_size));
		put(d, "thread_state_size", jw_u64(&w, b->dbg_tstate_size));
		put(d, "gc_size", jw_u64(&w, b->dbg_gc_size));
		put(d, "fingerprint_known", jw_bool(&w, b->fp_known));
		put(o, "debug_offsets", d);
	} else {
		put(o, "debug_offsets", NULL);
	}
	if (!b->ok)
		return o;
	rows = registry_rows(&nr);
	for (size_t i = 0; i < nr; i++)
		if (!strcmp(rows[i].row, b->l.row))
			row = &rows[i];
	put(o, "row", jstr(b->l.row));
	put(o, "checked", jstr(b->l.checked));
	put(o, "gc_model", jw_str(&w, registry_gc_model_name(b->l.gc_model)));
	offs = jw_obj(&w);
	fromdbg = jw_arr(&w, 0);
	f = registry_fields(&nf);
	for (size_t i = 0; i < nf; i++) {
		int64_t v = registry_field_value(&b->l, &f[i]);

		put(offs, f[i].name, jw_i64(&w, v));
		if (row && registry_field_value(row, &f[i]) != v)
			jw_append(&w, fromdbg, jw_str(&w, f[i].name));
	}
	put(o, "fields", offs);
	put(o, "differs_from_row", fromdbg);
	return o;
}

static struct json_object *heap_json(const struct pyheap_layout *h)
{
	static const char *const where[] = { NULL, "symtab", "_PyRuntime", "decoded" };
	struct json_object *o = jw_obj(&w), *r, *p;

	put(o, "ok", jw_bool(&w, h->heap_ok));
	put(o, "reason", h->heap_ok ? NULL : jstr(h->reason));
	put(o, "source", h->heap_ok && h->where <= PYHEAP_DECODED ? jstr(where[h->where]) : NULL);
	put(o, "gc_state", jw_bool(&w, h->gc_ok));
	put(o, "arena_size", h->arena_size ? jw_i64(&w, h->arena_size) : NULL);
	put(o, "pool_size", h->pool_size ? jw_i64(&w, h->pool_size) : NULL);
	put(o, "arena_counter",
	    h->heap_ok && h->where == PYHEAP_RUNTIME ? jw_str(&w, "pymalloc state")
						     : jhex(h->arenas_allocated));
	put(o, "allocator_table", jhex(h->obj_table));
	put(o, "pymalloc", jhex(h->pymalloc_fn));
	r = jw_obj(&w);
	put(r, "function", jhex(h->refill_fn));
	put(r, "probe", jhex(h->refill_probe));
	put(r, "probe_file_offset", h->refill_probe ? jw_u64(&w, h->refill_offset) : NULL);
	put(r, "size_class_arg", h->refill_arg ? jw_i64(&w, h->refill_arg) : NULL);
	put(r, "reason", h->refill_probe ? NULL : jstr(h->refill_reason));
	put(o, "pool_refill", r);
	p = jw_obj(&w);
	put(p, "ok", jw_bool(&w, h->precise_ok));
	put(p, "reason", h->precise_ok ? NULL : jstr(h->precise_reason));
	put(o, "precise", p);
	return o;
}

static struct json_object *gc_json(const struct py_info *pi)
{
	struct json_object *o = jw_obj(&w), *probes = jw_arr(&w, 0);
	char desc[96];

	put(o, "source", jstr(python_gc_desc(pi, desc, sizeof(desc))));
	put(o, "reason", pi->gc_hook == PY_GC_NONE ? jstr(pi->gc_reason) : NULL);
	/* where the uprobes go (USDT sites are libbpf's to find) */
	for (int i = 0; pi->gc_hook == PY_GC_UPROBE && i < pi->n_gc_funcs; i++) {
		struct json_object *f = jw_obj(&w);

		put(f, "function", jw_str(&w, pi->gc_funcs[i].name));
		put(f, "vaddr", jhex(pi->gc_funcs[i].vaddr));
		put(f, "file_offset", jw_u64(&w, pi->gc_funcs[i].offset));
		jw_append(&w, probes, f);
	}
	put(o, "uprobes", probes);
	return o;
}

int inspect_file(const char *path, FILE *out, FILE *err)
{
	static struct pyheap_layout heap;
	static struct sites_layout sites;
	static struct py_info pi;
	struct json_object *o, *b, *s;
	struct elf_file *ef = NULL;
	int e;

	e = elf_file_open(path, &ef);
	if (!e)
		e = python_inspect(ef, &pi);
	if (e) {
		fprintf(err, "pymemtop: --inspect: %s: %s\n", path,
			e == -ENOEXEC ? "not an x86-64 ELF file" : strerror(-e));
		elf_file_close(ef);
		return e;
	}
	w.oom = false;
	o = jw_obj(&w);
	put(o, "file", jw_str(&w, path));
	put(o, "python", jw_bool(&w, pi.is_python));
	if (!pi.is_python) {
		put(o, "links_libpython", jw_bool(&w, pi.needs_libpython));
		goto print;
	}
	pyheap_layout_find(ef, &pi, &heap);
	sites_layout_find(ef, &pi, &sites);
	put(o, "version", jstr(pi.version));
	b = jw_obj(&w);
	put(b, "libpython", jw_str(&w, pi.shared ? "shared" : "static"));
	put(b, "symtab", jw_bool(&w, pi.has_symtab));
	put(b, "usdt", jw_bool(&w, pi.has_usdt));
	put(b, "build_id", jstr(pi.build_id));
	put(b, "version_source", jstr(pi.version_source));
	put(o, "build", b);
	put(o, "layout", layout_json(&pi.reg));
	put(o, "gc", gc_json(&pi));
	put(o, "heap", heap_json(&heap));
	s = jw_obj(&w);
	put(s, "ok", jw_bool(&w, sites.ok));
	put(s, "reason", sites.ok ? NULL : jstr(sites.reason));
	put(o, "sites", s);
print:
	elf_file_close(ef);
	if (w.oom) {
		json_object_put(o);
		fprintf(err, "pymemtop: --inspect: %s: out of memory\n", path);
		return -ENOMEM;
	}
	fprintf(out, "%s\n",
		json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
							  JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	return 0;
}
