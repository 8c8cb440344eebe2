// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <json-c/json.h>
#include <string.h>
#include "elf_file.h"
#include "inspect.h"
#include "pyheap.h"
#include "python.h"
#include "registry.h"
#include "sites.h"

static struct json_object *jstr(const char *s)
{
	return s && *s ? json_object_new_string(s) : NULL;
}

static struct json_object *jhex(uint64_t v)
{
	char buf[24];

	if (!v)
		return NULL;
	snprintf(buf, sizeof(buf), "0x%llx", (unsigned long long)v);
	return json_object_new_string(buf);
}

static void put(struct json_object *o, const char *k, struct json_object *v)
{
	json_object_object_add(o, k, v);
}

/* The row as resolved: every field by name; "from_debug_offsets" names
 * those whose value differs from the row's own (what the file said). */
static struct json_object *layout_json(const struct reg_build *b)
{
	struct json_object *o = json_object_new_object(), *offs, *fromdbg, *d;
	const struct reg_layout *rows, *row = NULL;
	const struct reg_field *f;
	size_t nf, nr;

	put(o, "ok", json_object_new_boolean(b->ok));
	put(o, "reason", b->ok ? NULL : jstr(b->reason));
	put(o, "runtime", jhex(b->runtime));
	if (b->has_dbg) {
		d = json_object_new_object();
		put(d, "version", jhex(b->dbg_version));
		put(d, "free_threaded", json_object_new_int64(b->dbg_free_threaded));
		put(d, "runtime_size", json_object_new_uint64(b->dbg_runtime_size));
		put(d, "interpreter_size", json_object_new_uint64(b->dbg_interp_size));
		put(d, "thread_state_size", json_object_new_uint64(b->dbg_tstate_size));
		put(d, "gc_size", json_object_new_uint64(b->dbg_gc_size));
		put(d, "fingerprint_known", json_object_new_boolean(b->fp_known));
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
	put(o, "gc_model", json_object_new_string(registry_gc_model_name(b->l.gc_model)));
	offs = json_object_new_object();
	fromdbg = json_object_new_array();
	f = registry_fields(&nf);
	for (size_t i = 0; i < nf; i++) {
		int64_t v = registry_field_value(&b->l, &f[i]);

		put(offs, f[i].name, json_object_new_int64(v));
		if (row && registry_field_value(row, &f[i]) != v)
			json_object_array_add(fromdbg, json_object_new_string(f[i].name));
	}
	put(o, "fields", offs);
	put(o, "differs_from_row", fromdbg);
	return o;
}

static struct json_object *heap_json(const struct pyheap_layout *h)
{
	static const char *const where[] = { NULL, "symtab", "_PyRuntime", "decoded" };
	struct json_object *o = json_object_new_object(), *r, *p;

	put(o, "ok", json_object_new_boolean(h->heap_ok));
	put(o, "reason", h->heap_ok ? NULL : jstr(h->reason));
	put(o, "source", h->heap_ok && h->where <= PYHEAP_DECODED ? jstr(where[h->where]) : NULL);
	put(o, "gc_state", json_object_new_boolean(h->gc_ok));
	put(o, "arena_size", h->arena_size ? json_object_new_int64(h->arena_size) : NULL);
	put(o, "pool_size", h->pool_size ? json_object_new_int64(h->pool_size) : NULL);
	put(o, "arena_counter",
	    h->heap_ok && h->where == PYHEAP_RUNTIME ? json_object_new_string("pymalloc state")
						     : jhex(h->arenas_allocated));
	put(o, "allocator_table", jhex(h->obj_table));
	put(o, "pymalloc", jhex(h->pymalloc_fn));
	r = json_object_new_object();
	put(r, "function", jhex(h->refill_fn));
	put(r, "probe", jhex(h->refill_probe));
	put(r, "probe_file_offset",
	    h->refill_probe ? json_object_new_uint64(h->refill_offset) : NULL);
	put(r, "size_class_arg", h->refill_arg ? json_object_new_int(h->refill_arg) : NULL);
	put(r, "reason", h->refill_probe ? NULL : jstr(h->refill_reason));
	put(o, "pool_refill", r);
	p = json_object_new_object();
	put(p, "ok", json_object_new_boolean(h->precise_ok));
	put(p, "reason", h->precise_ok ? NULL : jstr(h->precise_reason));
	put(o, "precise", p);
	return o;
}

static struct json_object *gc_json(const struct py_info *pi)
{
	struct json_object *o = json_object_new_object(), *probes = json_object_new_array();
	char desc[96];

	put(o, "source", jstr(python_gc_desc(pi, desc, sizeof(desc))));
	put(o, "reason", pi->gc_hook == PY_GC_NONE ? jstr(pi->gc_reason) : NULL);
	/* where the uprobes go (USDT sites are libbpf's to find) */
	for (int i = 0; pi->gc_hook == PY_GC_UPROBE && i < pi->n_gc_funcs; i++) {
		struct json_object *f = json_object_new_object();

		put(f, "function", json_object_new_string(pi->gc_funcs[i].name));
		put(f, "vaddr", jhex(pi->gc_funcs[i].vaddr));
		put(f, "file_offset", json_object_new_uint64(pi->gc_funcs[i].offset));
		json_object_array_add(probes, f);
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
	o = json_object_new_object();
	put(o, "file", json_object_new_string(path));
	put(o, "python", json_object_new_boolean(pi.is_python));
	if (!pi.is_python) {
		put(o, "links_libpython", json_object_new_boolean(pi.needs_libpython));
		goto print;
	}
	pyheap_layout_find(ef, &pi, &heap);
	sites_layout_find(ef, &pi, &sites);
	put(o, "version", jstr(pi.version));
	b = json_object_new_object();
	put(b, "libpython", json_object_new_string(pi.shared ? "shared" : "static"));
	put(b, "symtab", json_object_new_boolean(pi.has_symtab));
	put(b, "usdt", json_object_new_boolean(pi.has_usdt));
	put(b, "build_id", jstr(pi.build_id));
	put(b, "version_source", jstr(pi.version_source));
	put(o, "build", b);
	put(o, "layout", layout_json(&pi.reg));
	put(o, "gc", gc_json(&pi));
	put(o, "heap", heap_json(&heap));
	s = json_object_new_object();
	put(s, "ok", json_object_new_boolean(sites.ok));
	put(s, "reason", sites.ok ? NULL : jstr(sites.reason));
	put(o, "sites", s);
print:
	fprintf(out, "%s\n",
		json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
							  JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	elf_file_close(ef);
	return 0;
}
