// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * output.c: NDJSON and text frames from a process table built by hand,
 * read back with json-c (JSON) or split into words (text). Three
 * processes, linked in this order:
 *   A pid 1001  GC probes attached (usdt), previous sample: every rate known
 *   B pid 2002  GC attach failed, no previous sample, counters beyond 2^53
 *   C pid 3003  exited, /proc gone (no RSS), one counter went backwards
 * RSS order is B > A > C, which is neither the list order nor its reverse.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "collector.h"
#include "output.h"
#include "table.h"

#define KIB 1024ull
#define MIB (1024ull * 1024)
#define GIB (1024ull * 1024 * 1024)
#define BIG 18446744073709551000ull /* > 2^53: a double would round it */

#define GC_REASON "stripped build without USDT probes: the collector cannot be located"

struct world {
	struct table t;
	struct interp *gc_ok, *gc_failed;
	struct proc_entry *a, *b, *c;
	struct frame fr;
	char *out; /* what the writer printed */
	size_t out_len;
};

/* ---- the table ------------------------------------------------------------ */

static struct interp *new_interp(const char *path, const char *version, bool shared)
{
	struct interp *in = calloc(1, sizeof(*in));

	assert_non_null(in);
	snprintf(in->path, sizeof(in->path), "%s", path);
	in->info.is_python = true;
	snprintf(in->info.version, sizeof(in->info.version), "%s", version);
	in->info.shared = shared;
	return in;
}

static struct proc_entry *new_entry(struct table *t, int pid, struct interp *in,
				    const char *cmdline)
{
	struct proc_entry *e = calloc(1, sizeof(*e)), **tail = &t->head;

	assert_non_null(e);
	e->pid = pid;
	e->ppid = 1;
	e->uid = 0;
	e->interp = in;
	snprintf(e->comm, sizeof(e->comm), "python3");
	snprintf(e->cmdline, sizeof(e->cmdline), "%s", cmdline);
	while (*tail)
		tail = &(*tail)->next;
	*tail = e;
	t->count++;
	return e;
}

static void fill_a(struct proc_entry *a)
{
	a->start_time = 1700000000.25;
	a->has_prev = true;
	a->prev.t = 100.0;
	a->cur.t = 100.5;
	a->prev.has_status = a->cur.has_status = true;
	a->prev.rss_bytes = 301 * MIB;
	a->cur.rss_bytes = 300 * MIB;
	a->cur.anon_bytes = 200 * MIB;
	a->cur.swap_bytes = 4 * KIB;
	a->cur.mm = (struct pmt_mm_stats){
		.mmap_calls = 10,
		.mmap_bytes = 5 * MIB,
		.munmap_calls = 4,
		.munmap_bytes = 3 * MIB,
		.mremap_calls = 2,
		.mremap_grow_bytes = 8192,
		.mremap_shrink_bytes = 4096,
		.brk_calls = 7,
		.brk_bytes = 132 * KIB,
		.brk_valid = 1,
	};
	a->heap_at_discovery = 999; /* brk_valid: BPF's value wins */
	a->prev.mm = a->cur.mm;
	a->prev.mm.mmap_bytes = 4 * MIB; /* 1 MiB in 0.5 s */
	a->cur.gc = (struct pmt_gc_stats){
		.collections = { 100, 10, 1 },
		.collected = { 5000, 300, 20 },
		.time_ns = { 1500000001, 250000000, 125000000 }, /* to the ns */
	};
	a->prev.gc = (struct pmt_gc_stats){
		.collections = { 90, 9, 1 }, /* 11 in 0.5 s */
		.time_ns = { 1400000001, 200000000, 125000000 }, /* 150 ms in 0.5 s */
	};
}

static void fill_b(struct proc_entry *b)
{
	b->start_time = 1700000001.5;
	b->uid = 0;
	b->cur.t = 100.5;
	b->cur.has_status = true;
	b->cur.rss_bytes = 500 * MIB;
	b->cur.anon_bytes = BIG;
	b->cur.swap_bytes = 0;
	b->cur.mm = (struct pmt_mm_stats){
		.mmap_calls = BIG,
		.mmap_bytes = UINT64_MAX,
		.munmap_calls = (1ull << 53) + 1,
		.munmap_bytes = BIG - 1,
	};
	b->heap_at_discovery = 64 * KIB; /* no brk seen yet */
	b->cur.gc.collections[0] = 5; /* counted, but GC is not trusted: null */
	/* prev holds values that would give rates, but has_prev is false */
	b->prev = b->cur;
	b->prev.t = 100.0;
	b->prev.mm.mmap_calls = 0;
	b->prev.rss_bytes = 0;
}

static void fill_c(struct proc_entry *c)
{
	c->start_time = 1700000002.0;
	c->exited = true;
	c->has_prev = true;
	c->prev.t = 99.0;
	c->cur.t = 100.0;
	c->prev.has_status = true; /* was readable, now gone */
	c->prev.rss_bytes = 700 * MIB; /* stale: must not sort C first */
	c->cur.rss_bytes = 0;
	c->cur.mm.mmap_bytes = BIG;
	c->prev.mm.mmap_bytes = BIG - 1000; /* 1000 in 1 s */
	c->cur.mm.munmap_bytes = 10;
	c->prev.mm.munmap_bytes = 20; /* went backwards: no rate */
	c->cur.gc.collections[2] = 3;
	c->prev.gc.collections[2] = 1;
}

static int setup(void **state)
{
	struct world *w = calloc(1, sizeof(*w));

	if (!w)
		return -1;
	w->gc_ok = new_interp("/usr/bin/python3.11", "3.11.2", false);
	w->gc_ok->info.has_symtab = true;
	w->gc_ok->info.has_usdt = true;
	strcpy(w->gc_ok->info.build_id, "c87b1ef9484ae47e0498697f50361a1bf3a9ccbb");
	strcpy(w->gc_ok->info.version_source, "Py_Version");
	w->gc_ok->attach_tried = true;
	strcpy(w->gc_ok->gc_desc, "usdt");

	w->gc_failed = new_interp("/opt/py/lib/libpython3.9.so.1.0", "3.9.18", true);
	strcpy(w->gc_failed->info.version_source, "rodata");
	w->gc_failed->attach_tried = true;
	w->gc_failed->attach_err = -EINVAL;
	strcpy(w->gc_failed->gc_reason, GC_REASON);
	strcpy(w->gc_failed->gc_desc, "uprobe:collect"); /* stale: must not be shown */

	w->a = new_entry(&w->t, 1001, w->gc_ok, "python3 app.py --port 8080");
	w->b = new_entry(&w->t, 2002, w->gc_failed, "python3.9 -m worker");
	w->c = new_entry(&w->t, 3003, w->gc_ok, "python3 gone.py");
	fill_a(w->a);
	fill_b(w->b);
	fill_c(w->c);
	w->t.read_failures = 7;
	w->t.out_of_memory = 4;
	w->t.attach_failures = 2;
	w->t.heap_attach_failures = 3;

	w->fr.time = 1700000123.5;
	w->fr.interval_s = 0.5;
	w->fr.table = &w->t;
	for (int i = 0; i < PMT_DROP_NR; i++)
		w->fr.drops[i] = 100 + i;
	*state = w;
	return 0;
}

static int teardown(void **state)
{
	struct world *w = *state;
	struct proc_entry *e, *next;

	for (e = w->t.head; e; e = next) {
		next = e->next;
		free(e);
	}
	free(w->gc_ok);
	free(w->gc_failed);
	free(w->out);
	free(w);
	return 0;
}

/* ---- running the writers ------------------------------------------------- */

/*
 * Every frame the tests below write is also compared, in order, with the
 * one recorded in GOLDEN (made by the json-c writer before the typed model
 * of user/model.c replaced it): the redesign must not change a byte of
 * --json or -b output. PMT_GOLDEN_WRITE=1 records them again instead (only
 * when a test is added or an output change is meant; review the diff).
 */
#define GOLDEN "tests/unit/fixtures/output_frames.txt"

static FILE *golden;
static bool golden_write;
static int golden_n;

static void golden_open(void)
{
	golden_write = getenv("PMT_GOLDEN_WRITE") != NULL;
	golden = fopen(GOLDEN, golden_write ? "w" : "r");
	if (!golden) {
		fprintf(stderr, "test_output: %s: %s (run from the top of the tree)\n", GOLDEN,
			strerror(errno));
		exit(1);
	}
}

/* Record "### N KIND LEN\n" then the LEN bytes of out. */
static void golden_check(const char *kind, const char *out, size_t len)
{
	char head[64], want_head[64], *want;

	snprintf(head, sizeof(head), "### %d %s %zu\n", ++golden_n, kind, len);
	if (golden_write) {
		assert_true(fputs(head, golden) >= 0 && fwrite(out, 1, len, golden) == len);
		return;
	}
	assert_non_null(fgets(want_head, sizeof(want_head), golden));
	assert_string_equal(head, want_head);
	want = malloc(len + 1);
	assert_non_null(want);
	assert_int_equal(fread(want, 1, len, golden), len);
	want[len] = '\0';
	assert_string_equal(out, want);
	free(want);
}

static void write_json(struct world *w)
{
	FILE *f;

	free(w->out);
	w->out = NULL;
	f = open_memstream(&w->out, &w->out_len);
	assert_non_null(f);
	assert_int_equal(output_json(f, &w->fr), 0);
	assert_int_equal(fclose(f), 0);
	golden_check("json", w->out, w->out_len);
}

static void write_text(struct world *w)
{
	FILE *f;

	free(w->out);
	w->out = NULL;
	f = open_memstream(&w->out, &w->out_len);
	assert_non_null(f);
	assert_int_equal(output_text(f, &w->fr), 0);
	assert_int_equal(fclose(f), 0);
	golden_check("text", w->out, w->out_len);
}

/* One line, newline-terminated, one complete JSON object; returned parsed. */
static struct json_object *parse_line(const char *s, size_t len, int flags)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *root;
	enum json_tokener_error jerr;
	size_t end;

	assert_non_null(tok);
	assert_true(len > 2);
	assert_int_equal(strlen(s), len);
	assert_int_equal(s[len - 1], '\n');
	assert_ptr_equal(strchr(s, '\n'), s + len - 1);
	json_tokener_set_flags(tok, flags);
	root = json_tokener_parse_ex(tok, s, (int)len - 1);
	jerr = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	if (jerr != json_tokener_success) {
		json_object_put(root);
		fail_msg("JSON does not parse: %s: %.300s", json_tokener_error_desc(jerr), s);
	}
	assert_int_equal(end, len - 1);
	assert_true(json_object_is_type(root, json_type_object));
	return root;
}

static struct json_object *get(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;

	if (!json_object_object_get_ex(o, key, &v))
		fail_msg("no key '%s' in %s", key, json_object_to_json_string(o));
	return v;
}

/* Present, and JSON null (not a missing key, not 0). */
static void assert_json_null(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;

	if (!json_object_object_get_ex(o, key, &v))
		fail_msg("no key '%s' (expected null)", key);
	if (v)
		fail_msg("'%s' is %s, expected null", key, json_object_to_json_string(v));
}

static void assert_json_u64(struct json_object *o, const char *key, uint64_t want)
{
	struct json_object *v = get(o, key);

	assert_non_null(v);
	assert_true(json_object_is_type(v, json_type_int));
	assert_int_equal(json_object_get_uint64(v), want);
}

static void assert_json_double(struct json_object *o, const char *key, double want)
{
	struct json_object *v = get(o, key);

	assert_non_null(v);
	if (json_object_get_double(v) != want)
		fail_msg("'%s' is %.17g, expected %.17g", key, json_object_get_double(v), want);
}

static void assert_json_string(struct json_object *o, const char *key, const char *want)
{
	struct json_object *v = get(o, key);

	assert_non_null(v);
	assert_true(json_object_is_type(v, json_type_string));
	assert_string_equal(json_object_get_string(v), want);
}

static void assert_json_bool(struct json_object *o, const char *key, bool want)
{
	struct json_object *v = get(o, key);

	assert_non_null(v);
	assert_true(json_object_is_type(v, json_type_boolean));
	assert_int_equal(json_object_get_boolean(v), want);
}

static void assert_json_u64_array(struct json_object *o, const char *key, const uint64_t want[3])
{
	struct json_object *a = get(o, key);

	assert_non_null(a);
	assert_true(json_object_is_type(a, json_type_array));
	assert_int_equal(json_object_array_length(a), 3);
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(json_object_get_uint64(json_object_array_get_idx(a, i)), want[i]);
}

static struct json_object *frame_json(struct world *w, struct json_object **procs)
{
	struct json_object *root;

	write_json(w);
	root = parse_line(w->out, w->out_len, JSON_TOKENER_STRICT);
	*procs = get(root, "processes");
	assert_true(json_object_is_type(*procs, json_type_array));
	return root;
}

/* ---- JSON ----------------------------------------------------------------- */

static void test_json_one_line_top_level(void **state)
{
	struct world *w = *state;
	struct json_object *root, *procs;

	root = frame_json(w, &procs);
	assert_json_double(root, "time", 1700000123.5);
	assert_json_double(root, "interval_s", 0.5);
	assert_non_null(get(root, "drops"));
	assert_int_equal(json_object_array_length(procs), 3);
	/* list order, not sorted */
	assert_int_equal(json_object_get_int(get(json_object_array_get_idx(procs, 0), "pid")),
			 1001);
	assert_int_equal(json_object_get_int(get(json_object_array_get_idx(procs, 1), "pid")),
			 2002);
	assert_int_equal(json_object_get_int(get(json_object_array_get_idx(procs, 2), "pid")),
			 3003);
	json_object_put(root);
}

static void test_json_drops_every_counter(void **state)
{
	struct world *w = *state;
	struct json_object *root, *procs, *drops;

	root = frame_json(w, &procs);
	drops = get(root, "drops");
	assert_true(json_object_is_type(drops, json_type_object));
	assert_int_equal(json_object_object_length(drops), PMT_DROP_NR + 4);
	for (int i = 0; i < PMT_DROP_NR; i++) {
		assert_non_null(collector_drop_name(i));
		assert_json_u64(drops, collector_drop_name(i), 100 + i);
	}
	assert_json_u64(drops, "mm_map_full", 100 + PMT_DROP_MM_MAP_FULL);
	assert_json_u64(drops, "events_lost", 100 + PMT_DROP_RINGBUF_FULL);
	assert_json_u64(drops, "proc_read_failed", 7);
	assert_json_u64(drops, "gc_attach_failed", 2);
	assert_json_u64(drops, "heap_attach_failed", 3);
	assert_json_u64(drops, "out_of_memory", 4);
	json_object_put(root);
}

static void test_json_process_identity(void **state)
{
	struct world *w = *state;
	struct json_object *root, *procs, *a, *build;

	root = frame_json(w, &procs);
	a = json_object_array_get_idx(procs, 0);
	assert_json_u64(a, "pid", 1001);
	assert_json_u64(a, "ppid", 1);
	assert_json_double(a, "start_time", 1700000000.25);
	assert_json_u64(a, "uid", 0);
	assert_json_string(a, "user", "root");
	assert_json_string(a, "comm", "python3");
	assert_json_string(a, "cmdline", "python3 app.py --port 8080");
	assert_json_string(a, "python_version", "3.11.2");
	assert_json_bool(a, "exited", false);
	build = get(a, "python_build");
	assert_non_null(build);
	assert_json_string(build, "libpython", "static");
	assert_json_string(build, "path", "/usr/bin/python3.11");
	assert_json_bool(build, "symtab", true);
	assert_json_bool(build, "usdt", true);
	assert_json_string(build, "build_id", "c87b1ef9484ae47e0498697f50361a1bf3a9ccbb");
	assert_json_string(build, "version_source", "Py_Version");
	json_object_put(root);
}

static void test_json_shared_build_without_build_id(void **state)
{
	struct world *w = *state;
	struct json_object *root, *procs, *b, *build;

	root = frame_json(w, &procs);
	b = json_object_array_get_idx(procs, 1);
	assert_json_string(b, "python_version", "3.9.18");
	build = get(b, "python_build");
	assert_json_string(build, "libpython", "shared");
	assert_json_string(build, "path", "/opt/py/lib/libpython3.9.so.1.0");
	assert_json_bool(build, "symtab", false);
	assert_json_null(build, "build_id");
	assert_json_string(build, "version_source", "rodata");
	json_object_put(root);
}

static void test_json_memory_totals(void **state)
{
	struct world *w = *state;
	struct json_object *root, *procs, *a;

	root = frame_json(w, &procs);
	a = json_object_array_get_idx(procs, 0);
	assert_json_u64(a, "rss_bytes", 300 * MIB);
	assert_json_u64(a, "anon_bytes", 200 * MIB);
	assert_json_u64(a, "swap_bytes", 4 * KIB);
	assert_json_u64(a, "mmap_calls_total", 10);
	assert_json_u64(a, "mmap_bytes_total", 5 * MIB);
	assert_json_u64(a, "munmap_calls_total", 4);
	assert_json_u64(a, "munmap_bytes_total", 3 * MIB);
	assert_json_u64(a, "mremap_calls_total", 2);
	assert_json_u64(a, "mremap_grow_bytes_total", 8192);
	assert_json_u64(a, "mremap_shrink_bytes_total", 4096);
	assert_json_u64(a, "brk_calls_total", 7);
	assert_json_u64(a, "brk_bytes", 132 * KIB); /* from BPF, not heap_at_discovery */
	json_object_put(root);
}

static void test_json_brk_before_bpf_saw_one(void **state)
{
	struct world *w = *state;
	struct json_object *root, *procs;

	root = frame_json(w, &procs);
	assert_json_u64(json_object_array_get_idx(procs, 1), "brk_bytes", 64 * KIB);
	json_object_put(root);
}

static void test_json_counters_beyond_2_53(void **state)
{
	struct world *w = *state;
	struct json_object *root, *procs, *b;

	root = frame_json(w, &procs);
	b = json_object_array_get_idx(procs, 1);
	assert_json_u64(b, "anon_bytes", BIG);
	assert_json_u64(b, "mmap_calls_total", BIG);
	assert_json_u64(b, "mmap_bytes_total", UINT64_MAX);
	assert_json_u64(b, "munmap_calls_total", (1ull << 53) + 1);
	assert_json_u64(b, "munmap_bytes_total", BIG - 1);
	/* and in the text itself, digit for digit */
	assert_non_null(strstr(w->out, "\"mmap_calls_total\":18446744073709551000"));
	assert_non_null(strstr(w->out, "\"mmap_bytes_total\":18446744073709551615"));
	json_object_put(root);
}

static void test_json_gc_available(void **state)
{
	static const uint64_t colls[3] = { 100, 10, 1 }, collected[3] = { 5000, 300, 20 };
	struct world *w = *state;
	struct json_object *root, *procs, *a, *secs, *probes, *v;

	root = frame_json(w, &procs);
	a = json_object_array_get_idx(procs, 0);
	assert_json_u64_array(a, "gc_collections_total", colls);
	assert_json_u64_array(a, "gc_collected_total", collected);
	secs = get(a, "gc_seconds_total");
	assert_int_equal(json_object_array_length(secs), 3);
	assert_true(json_object_get_double(json_object_array_get_idx(secs, 0)) == 1.500000001);
	assert_true(json_object_get_double(json_object_array_get_idx(secs, 1)) == 0.25);
	assert_true(json_object_get_double(json_object_array_get_idx(secs, 2)) == 0.125);
	probes = get(a, "probes");
	assert_json_string(probes, "mm", "tracepoint");
	assert_json_string(probes, "gc", "usdt");
	assert_false(json_object_object_get_ex(probes, "gc_reason", &v));
	json_object_put(root);
}

/* No probe possible (w->b: its collector could not be probed), but
 * CPython's own generation_stats read out of process: counts and
 * collected (+ uncollectable) since the first read, no times, with the
 * reason; and 3.15's ring buffers, which have times and candidates. */
static void test_json_gc_from_statistics(void **state)
{
	static const uint64_t colls[3] = { 7, 2, 1 }, collected[3] = { 40, 3, 6 };
	static const uint64_t cand[3] = { 900, 90, 9 };
	struct world *w = *state;
	struct json_object *root, *procs, *b, *probes, *secs;
	struct pyheap_gc *g = &w->b->cur.gcs, *base = &w->b->gc_base;

	*base = (struct pyheap_gc){ .ok = true, .stats_ok = true };
	base->collections[0] = 100;
	base->collected[0] = 1000;
	base->uncollectable[2] = 4;
	*g = *base;
	for (int i = 0; i < 3; i++) {
		g->collections[i] += colls[i];
		g->collected[i] += collected[i] - (i == 2);
	}
	g->uncollectable[2] += 1;
	w->b->gc_base_ok = true;
	root = frame_json(w, &procs);
	b = json_object_array_get_idx(procs, 1);
	assert_json_u64_array(b, "gc_collections_total", colls);
	assert_json_u64_array(b, "gc_collected_total", collected);
	assert_json_null(b, "gc_seconds_total");
	assert_json_null(b, "gc_candidates_total");
	probes = get(b, "probes");
	assert_json_string(probes, "gc", "process_vm_readv:generation_stats");
	assert_json_string(probes, "gc_time_reason", GC_REASON);
	json_object_put(root);
	/* 3.15: times (seconds since the first read) and candidates too */
	base->ring_ok = g->ring_ok = true;
	for (int i = 0; i < 3; i++) {
		base->duration_s[i] = 1.0;
		g->duration_s[i] = 1.0 + 0.25 * (i + 1);
		base->candidates[i] = 5;
		g->candidates[i] = 5 + cand[i];
	}
	w->b->interp->info.gc_hook = PY_GC_MEMORY;
	root = frame_json(w, &procs);
	b = json_object_array_get_idx(procs, 1);
	assert_json_u64_array(b, "gc_collections_total", colls);
	assert_json_u64_array(b, "gc_candidates_total", cand);
	secs = get(b, "gc_seconds_total");
	assert_true(json_object_get_double(json_object_array_get_idx(secs, 2)) == 0.75);
	probes = get(b, "probes");
	assert_json_string(probes, "gc", "process_vm_readv:gc_stats");
	json_object_put(root);
	w->b->interp->info.gc_hook = PY_GC_NONE;
}

/* Default mode: refills x pool capacity, estimated; the rate from prev. */
static void test_json_alloc_flow_estimated(void **state)
{
	struct world *w = *state;
	struct json_object *root, *procs, *a, *acc, *probes, *cls, *v;

	w->gc_ok->heap.heap_ok = true;
	w->gc_ok->heap.pool_size = 16384;
	w->gc_ok->heap.refill_probe = 0x4d0ce0;
	w->a->flow_err = 0;
	w->a->cur.flow.refills[8] = 3; /* 113 blocks of 144 bytes per pool */
	w->a->prev.flow.refills[8] = 1;
	w->a->cur.flow.refills[31] = 1; /* 31 blocks of 512 bytes */
	w->a->prev.flow.refills[31] = 1;
	root = frame_json(w, &procs);
	a = json_object_array_get_idx(procs, 0);
	assert_json_u64(a, "allocs_total", 3 * 113 + 31);
	assert_json_u64(a, "alloc_bytes_total", 3 * 113 * 144 + 31 * 512);
	cls = get(a, "alloc_size_classes");
	assert_int_equal(json_object_array_length(cls), 33);
	assert_int_equal(json_object_get_uint64(json_object_array_get_idx(cls, 8)), 339);
	assert_null(json_object_array_get_idx(cls, 32)); /* raw: not seen by refills */
	assert_int_equal(json_object_array_length(get(a, "pool_refills_total")), 32);
	assert_json_null(a, "frees_total");
	assert_json_null(a, "free_size_classes");
	acc = get(a, "accuracy");
	assert_json_string(acc, "allocs_total", "estimated");
	assert_json_string(acc, "pool_refills_total", "exact");
	assert_json_null(acc, "frees_total");
	assert_json_double(get(a, "rates"), "allocs_per_s", 2 * 113 / 0.5);
	probes = get(a, "probes");
	assert_json_string(probes, "alloc", "uprobe:pool_refill");
	assert_false(json_object_object_get_ex(probes, "alloc_reason", &v));
	json_object_put(root);
}

/* --precise: exact counts, frees per class, no refill array. */
static void test_json_alloc_precise_exact(void **state)
{
	struct world *w = *state;
	struct json_object *root, *procs, *a, *acc, *frees;

	w->gc_ok->heap.heap_ok = true;
	w->a->precise = true;
	w->a->cur.precise.allocs[25] = 10;
	w->a->cur.precise.allocs[PMT_BUCKET_OTHER] = 2;
	w->a->cur.precise.alloc_bytes = 10 * 403 + 2 * 4096;
	w->a->cur.precise.frees[25] = 4;
	w->a->cur.precise.frees[PMT_BUCKET_OTHER] = 1;
	w->a->cur.precise.reallocs = 7;
	w->t.precise_cost_ok = true;
	w->t.precise_alloc_s = 1.25e-6;
	root = frame_json(w, &procs);
	a = json_object_array_get_idx(procs, 0);
	assert_json_u64(a, "allocs_total", 12);
	assert_json_u64(a, "alloc_bytes_total", 10 * 403 + 2 * 4096);
	assert_json_u64(a, "frees_total", 5);
	assert_json_u64(a, "reallocs_total", 7);
	frees = get(a, "free_size_classes");
	assert_int_equal(json_object_array_length(frees), 33);
	assert_int_equal(json_object_get_uint64(json_object_array_get_idx(frees, 25)), 4);
	assert_json_null(a, "pool_refills_total");
	acc = get(a, "accuracy");
	assert_json_string(acc, "allocs_total", "exact");
	assert_json_string(acc, "frees_total", "exact");
	assert_json_string(get(a, "probes"), "alloc", "uprobe:precise");
	assert_json_double(get(root, "precise_cost"), "alloc_call_seconds", 0.00000125);
	json_object_put(root);
}

/* No refill hook (3.8), or --precise refused: null / reason, never 0. */
static void test_json_alloc_unavailable_with_reason(void **state)
{
	struct world *w = *state;
	struct json_object *root, *procs, *a, *probes;

	w->gc_ok->heap.heap_ok = true;
	strcpy(w->gc_ok->heap.refill_reason, "CPython 3.8 inlines its pool refill");
	strcpy(w->gc_ok->heap.precise_reason, "LTO build: inlined");
	w->a->precise_err = -ENOTSUP;
	root = frame_json(w, &procs);
	a = json_object_array_get_idx(procs, 0);
	assert_json_null(a, "allocs_total");
	assert_json_null(a, "alloc_bytes_total");
	assert_json_null(a, "alloc_size_classes");
	assert_json_null(get(a, "accuracy"), "allocs_total");
	assert_json_null(get(a, "rates"), "allocs_per_s");
	probes = get(a, "probes");
	assert_json_null(probes, "alloc");
	assert_json_string(probes, "alloc_reason", "CPython 3.8 inlines its pool refill");
	assert_json_string(probes, "precise_reason", "LTO build: inlined");
	assert_json_null(root, "precise_cost");
	json_object_put(root);
}

/* 3.8: no refill hook; bytes in whole arenas from CPython's counter. */
static void test_json_alloc_arena_flow_38(void **state)
{
	struct world *w = *state;
	struct json_object *root, *procs, *a;

	w->gc_ok->heap.heap_ok = true;
	w->gc_ok->heap.arena_size = 256 * 1024;
	strcpy(w->gc_ok->heap.refill_reason, "CPython 3.8 inlines its pool refill");
	w->a->arenas_base_ok = true;
	w->a->arenas_base = 10;
	w->a->cur.heap_valid = w->a->prev.heap_valid = true;
	w->a->cur.heap.allocator = w->a->prev.heap.allocator = PYHEAP_ALLOC_PYMALLOC;
	w->a->cur.heap.arenas_allocated_ok = w->a->prev.heap.arenas_allocated_ok = true;
	w->a->cur.heap.arenas_allocated = 14;
	w->a->prev.heap.arenas_allocated = 12;
	w->a->cur.heap.arena_size = w->a->prev.heap.arena_size = 256 * 1024;
	root = frame_json(w, &procs);
	a = json_object_array_get_idx(procs, 0);
	assert_json_u64(a, "alloc_bytes_total", 4 * 256 * 1024);
	assert_json_null(a, "allocs_total");
	assert_json_null(a, "alloc_size_classes");
	assert_json_string(get(a, "accuracy"), "alloc_bytes_total", "estimated");
	assert_json_null(get(a, "accuracy"), "allocs_total");
	assert_json_string(get(a, "probes"), "alloc", "process_vm_readv:ntimes_arena_allocated");
	assert_json_double(get(a, "rates"), "alloc_bytes_per_s", 2 * 256 * 1024 / 0.5);
	json_object_put(root);
}

/* A in default mode, a 1 MiB-arena heap, the arena counter from 3 to
 * allocated: the allocation flow comes from it. */
static void arena_mode(struct world *w, uint64_t allocated)
{
	w->gc_ok->heap.heap_ok = true;
	w->gc_ok->heap.arena_size = 1024 * 1024;
	w->a->flow_err = -ENOTSUP;
	w->a->arenas_base_ok = true;
	w->a->arenas_base = 3;
	w->a->cur.heap_valid = true;
	w->a->cur.heap.allocator = PYHEAP_ALLOC_PYMALLOC;
	w->a->cur.heap.arenas_allocated_ok = true;
	w->a->cur.heap.arenas_allocated = allocated;
	w->a->cur.heap.arena_size = 1024 * 1024;
}

/* A count of arenas whose bytes do not fit in 64 bits is not this
 * process's: the flow is unavailable rather than wrapped. */
static void test_json_alloc_arena_flow_overflow(void **state)
{
	struct world *w = *state;
	struct json_object *root, *procs, *a;

	arena_mode(w, (1ULL << 44) + 3); /* * 1 MiB = 2^64 */
	root = frame_json(w, &procs);
	a = json_object_array_get_idx(procs, 0);
	assert_json_null(a, "alloc_bytes_total");
	json_object_put(root);
}

/* Default mode: no refill probe asked for; the arena counter is the flow
 * and the reason names the option. */
static void test_json_alloc_default_arena_flow(void **state)
{
	struct world *w = *state;
	struct json_object *root, *procs, *a, *probes;

	w->gc_ok->heap.refill_probe = 0x4d0ce0; /* exists, but not attached */
	arena_mode(w, 5);
	root = frame_json(w, &procs);
	a = json_object_array_get_idx(procs, 0);
	assert_json_u64(a, "alloc_bytes_total", 2 * 1024 * 1024);
	assert_json_null(a, "allocs_total");
	assert_json_null(a, "pool_refills_total");
	probes = get(a, "probes");
	assert_non_null(
		strstr(json_object_get_string(get(probes, "alloc_reason")), "--pool-refills"));
	json_object_put(root);
}

/* COMMAND shows what the process is; JSON keeps the raw cmdline too. */
static void test_command_label_in_text_and_json(void **state)
{
	struct world *w = *state;
	struct json_object *root, *procs, *a;

	strcpy(w->a->command, "gunicorn app:app -w 4");
	write_text(w);
	assert_non_null(strstr(w->out, " gunicorn app:app -w 4\n"));
	assert_null(strstr(w->out, "python3 app.py --port 8080"));
	root = frame_json(w, &procs);
	a = json_object_array_get_idx(procs, 0);
	assert_json_string(a, "command", "gunicorn app:app -w 4");
	assert_json_string(a, "cmdline", "python3 app.py --port 8080");
	json_object_put(root);
}

/* PYTHONMALLOC=malloc: the probed functions are never called; even in
 * --precise mode the counts are null, not an "exact" 0. */
static void test_json_alloc_not_pymalloc(void **state)
{
	struct world *w = *state;
	struct json_object *root, *procs, *a;

	w->gc_ok->heap.heap_ok = true;
	w->a->precise = true;
	w->a->cur.heap_valid = true;
	w->a->cur.heap.allocator = PYHEAP_ALLOC_MALLOC;
	root = frame_json(w, &procs);
	a = json_object_array_get_idx(procs, 0);
	assert_json_null(a, "allocs_total");
	assert_json_null(a, "frees_total");
	assert_json_null(get(a, "accuracy"), "frees_total");
	assert_non_null(strstr(json_object_get_string(get(get(a, "probes"), "alloc_reason")),
			       "not pymalloc"));
	json_object_put(root);
}

static void test_json_gc_unavailable_is_null_with_reason(void **state)
{
	struct world *w = *state;
	struct json_object *root, *procs, *b, *probes;

	root = frame_json(w, &procs);
	b = json_object_array_get_idx(procs, 1);
	assert_json_null(b, "gc_collections_total");
	assert_json_null(b, "gc_collected_total");
	assert_json_null(b, "gc_seconds_total");
	probes = get(b, "probes");
	assert_json_string(probes, "mm", "tracepoint");
	assert_json_null(probes, "gc");
	assert_json_string(probes, "gc_reason", GC_REASON);
	json_object_put(root);
}

/* Not tried yet, or no interpreter at all: null with a generic reason. */
static void test_json_gc_not_attached_generic_reason(void **state)
{
	struct world *w = *state;
	struct json_object *root, *procs, *p;

	w->gc_ok->attach_tried = false;
	root = frame_json(w, &procs);
	p = json_object_array_get_idx(procs, 0);
	assert_json_null(p, "gc_collections_total");
	assert_json_null(get(p, "rates"), "gc_collections_per_s");
	assert_json_null(get(p, "rates"), "gc_time_ratio");
	assert_json_null(get(p, "probes"), "gc");
	assert_json_string(get(p, "probes"), "gc_reason", "GC probes not attached");
	json_object_put(root);

	w->a->interp = NULL;
	root = frame_json(w, &procs);
	p = json_object_array_get_idx(procs, 0);
	assert_json_null(p, "python_version");
	assert_json_null(p, "python_build");
	assert_json_null(get(p, "probes"), "gc");
	assert_json_string(get(p, "probes"), "gc_reason", "GC probes not attached");
	assert_json_u64(p, "mmap_bytes_total", 5 * MIB); /* mm still there */
	json_object_put(root);
}

static void test_json_rates_from_prev(void **state)
{
	struct world *w = *state;
	struct json_object *root, *procs, *r;

	root = frame_json(w, &procs);
	r = get(json_object_array_get_idx(procs, 0), "rates");
	assert_json_double(r, "mmap_bytes_per_s", 2097152.0); /* 1 MiB / 0.5 s */
	assert_json_double(r, "munmap_bytes_per_s", 0.0);
	assert_json_double(r, "rss_bytes_per_s", -2097152.0); /* gauge: negative */
	assert_json_double(r, "gc_collections_per_s", 22.0); /* 11 / 0.5 s */
	assert_json_double(r, "gc_time_ratio", 0.3); /* 150 ms / 0.5 s */
	json_object_put(root);
}

static void test_json_rates_null_without_prev(void **state)
{
	struct world *w = *state;
	struct json_object *root, *procs, *r;

	root = frame_json(w, &procs);
	r = get(json_object_array_get_idx(procs, 1), "rates");
	assert_json_null(r, "rss_bytes_per_s");
	assert_json_null(r, "mmap_bytes_per_s");
	assert_json_null(r, "munmap_bytes_per_s");
	assert_json_null(r, "gc_collections_per_s");
	assert_json_null(r, "gc_time_ratio");
	json_object_put(root);
}

static void test_json_exited_process(void **state)
{
	struct world *w = *state;
	struct json_object *root, *procs, *c, *r;

	root = frame_json(w, &procs);
	c = json_object_array_get_idx(procs, 2);
	assert_json_bool(c, "exited", true);
	assert_json_null(c, "rss_bytes");
	assert_json_null(c, "anon_bytes");
	assert_json_null(c, "swap_bytes");
	r = get(c, "rates");
	assert_json_null(r, "rss_bytes_per_s"); /* no status now */
	assert_json_double(r, "mmap_bytes_per_s", 1000.0); /* 64-bit difference */
	assert_json_null(r, "munmap_bytes_per_s"); /* counter went backwards */
	assert_json_double(r, "gc_collections_per_s", 2.0);
	json_object_put(root);
}

static void test_json_nonfinite_is_null(void **state)
{
	struct world *w = *state;
	struct json_object *root, *procs;

	w->fr.interval_s = NAN;
	w->a->start_time = INFINITY;
	root = frame_json(w, &procs);
	assert_json_null(root, "interval_s");
	assert_json_null(json_object_array_get_idx(procs, 0), "start_time");
	json_object_put(root);
}

static void test_json_empty_table(void **state)
{
	struct world *w = *state;
	struct table empty = { 0 };
	struct json_object *root, *procs;

	w->fr.table = &empty;
	root = frame_json(w, &procs);
	assert_int_equal(json_object_array_length(procs), 0);
	assert_json_u64(get(root, "drops"), "proc_read_failed", 0);
	json_object_put(root);
}

/* A cmdline is whatever bytes the process put in argv. */
#define NASTY_HEAD "python3 -c \"print('a\\\\b')\" \n\t\x01\x1f end"
#define NASTY_TAIL "tail /x"
#define NASTY	   NASTY_HEAD "\xff" NASTY_TAIL

static void test_json_cmdline_escaped(void **state)
{
	struct world *w = *state;
	struct json_object *root, *procs;
	const char *got;

	strcpy(w->a->cmdline, NASTY);
	strcpy(w->a->comm, "a\"b\nc");
	root = frame_json(w, &procs); /* strict: control bytes must be escaped */
	for (size_t i = 0; i + 1 < w->out_len; i++)
		assert_true((unsigned char)w->out[i] >= 0x20);
	got = json_object_get_string(get(json_object_array_get_idx(procs, 0), "cmdline"));
	assert_non_null(got);
	/* the valid parts come back byte for byte, around whatever replaced \xff */
	assert_int_equal(strncmp(got, NASTY_HEAD, strlen(NASTY_HEAD)), 0);
	assert_true(strlen(got) >= strlen(NASTY_HEAD) + strlen(NASTY_TAIL));
	assert_string_equal(got + strlen(got) - strlen(NASTY_TAIL), NASTY_TAIL);
	assert_json_string(json_object_array_get_idx(procs, 0), "comm", "a\"b\nc");
	json_object_put(root);
}

/* JSON text is UTF-8 (RFC 8259 8.1): a consumer that checks, like
 * Python's json.loads on a decoded line, must be able to read the frame. */
static void test_json_cmdline_invalid_utf8_gives_valid_utf8(void **state)
{
	struct world *w = *state;
	struct json_object *root;

	strcpy(w->a->cmdline, NASTY);
	strcpy(w->b->cmdline, "x\xc3(\xe2\x82 \xf0\x9f\x90 ok \xc3\xa9");
	write_json(w);
	root = parse_line(w->out, w->out_len, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	json_object_put(root);
}

/* ---- text ------------------------------------------------------------------ */

#define MAX_WORDS 32

/* Line n (0-based) of the output, split at spaces. */
static int words(const char *out, int n, char *line, size_t linelen, char *w[MAX_WORDS])
{
	const char *p = out, *end;
	int nw = 0;
	char *save = NULL, *tok;

	for (; n > 0; n--) {
		p = strchr(p, '\n');
		assert_non_null(p);
		p++;
	}
	end = strchr(p, '\n');
	assert_non_null(end);
	assert_true((size_t)(end - p) < linelen);
	memcpy(line, p, end - p);
	line[end - p] = '\0';
	for (tok = strtok_r(line, " ", &save); tok && nw < MAX_WORDS;
	     tok = strtok_r(NULL, " ", &save))
		w[nw++] = tok;
	return nw;
}

static int count_lines(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static void test_text_header(void **state)
{
	struct world *w = *state;
	char line[512], *wd[MAX_WORDS], want[128];
	unsigned long long drops = 7;
	int n;

	write_text(w);
	for (int i = 0; i < PMT_DROP_NR; i++)
		drops += 100 + i;
	n = words(w->out, 0, line, sizeof(line), wd);
	assert_true(n >= 3);
	assert_string_equal(wd[0], "pymemtop");
	assert_int_equal(strlen(wd[2]), 8); /* HH:MM:SS */
	assert_int_equal(wd[2][2], ':');
	assert_int_equal(strncmp(w->out, "pymemtop - ", 11), 0);
	assert_non_null(strstr(w->out, "interval 0.50s"));
	assert_non_null(strstr(w->out, "python processes: 3"));
	snprintf(want, sizeof(want), "dropped events: %llu\n", drops);
	assert_non_null(strstr(w->out, want));
}

static void test_text_column_header(void **state)
{
	static const char *const cols[] = { "PID",  "USER", "PY",     "RSS",	 "ANON",
					    "SWAP", "BRK",  "MMAP/s", "UNMAP/s", "GC/s",
					    "GC%",  "GC0",  "GC1",    "GC2",	 "COMMAND" };
	struct world *w = *state;
	char line[512], *wd[MAX_WORDS];

	write_text(w);
	assert_int_equal(words(w->out, 1, line, sizeof(line), wd), 15);
	for (int i = 0; i < 15; i++)
		assert_string_equal(wd[i], cols[i]);
}

static void test_text_rows_sorted_by_rss(void **state)
{
	struct world *w = *state;
	char line[512], *wd[MAX_WORDS];

	write_text(w);
	/* header, columns, one row each, an empty line */
	assert_int_equal(count_lines(w->out), 2 + 3 + 1);
	assert_int_equal(w->out[w->out_len - 1], '\n');
	assert_int_equal(w->out[w->out_len - 2], '\n');
	words(w->out, 2, line, sizeof(line), wd);
	assert_string_equal(wd[0], "2002"); /* 500M */
	words(w->out, 3, line, sizeof(line), wd);
	assert_string_equal(wd[0], "1001"); /* 300M */
	words(w->out, 4, line, sizeof(line), wd);
	assert_string_equal(wd[0], "3003"); /* no RSS */
}

static void test_text_equal_rss_by_pid(void **state)
{
	struct world *w = *state;
	char line[512], *wd[MAX_WORDS];

	w->c->cur.has_status = true;
	w->a->cur.rss_bytes = w->b->cur.rss_bytes = w->c->cur.rss_bytes = 1 * MIB;
	write_text(w);
	words(w->out, 2, line, sizeof(line), wd);
	assert_string_equal(wd[0], "1001");
	words(w->out, 3, line, sizeof(line), wd);
	assert_string_equal(wd[0], "2002");
	words(w->out, 4, line, sizeof(line), wd);
	assert_string_equal(wd[0], "3003");
}

static void test_text_row_with_everything(void **state)
{
	static const char *const want[] = { "1001", "root", "3.11.2",  "300M",	 "200M",   "4.0K",
					    "132K", "2.0M", "0B",      "22.0",	 "30.0",   "100",
					    "10",   "1",    "python3", "app.py", "--port", "8080" };
	struct world *w = *state;
	char line[512], *wd[MAX_WORDS];

	write_text(w);
	assert_int_equal(words(w->out, 3, line, sizeof(line), wd), 18);
	for (int i = 0; i < 18; i++)
		assert_string_equal(wd[i], want[i]);
}

/* No previous sample and no GC: "-", never a made-up 0. */
static void test_text_row_unavailable_is_dash(void **state)
{
	static const char *const want[] = { "2002", "root", "3.9.18",	 "500M", "200M",  "0B",
					    "64K",  "-",    "-",	 "-",	 "-",	  "-",
					    "-",    "-",    "python3.9", "-m",	 "worker" };
	struct world *w = *state;
	char line[512], *wd[MAX_WORDS];

	w->b->cur.anon_bytes = 200 * MIB;
	write_text(w);
	assert_int_equal(words(w->out, 2, line, sizeof(line), wd), 17);
	for (int i = 0; i < 17; i++)
		assert_string_equal(wd[i], want[i]);
}

static void test_text_exited_marker(void **state)
{
	struct world *w = *state;
	char line[512], *wd[MAX_WORDS];
	int n;

	write_text(w);
	n = words(w->out, 4, line, sizeof(line), wd);
	assert_int_equal(n, 17);
	assert_string_equal(wd[0], "3003");
	assert_string_equal(wd[3], "-"); /* RSS */
	assert_string_equal(wd[4], "-"); /* ANON */
	assert_string_equal(wd[5], "-"); /* SWAP */
	assert_string_equal(wd[7], "1000B"); /* MMAP/s: 1000 B in 1 s */
	assert_string_equal(wd[8], "-"); /* UNMAP/s: counter went backwards */
	assert_string_equal(wd[9], "2.0"); /* GC/s */
	assert_string_equal(wd[13], "3"); /* GC2 */
	assert_string_equal(wd[14], "<exited>");
	assert_string_equal(wd[15], "python3");
	assert_string_equal(wd[16], "gone.py");
	/* only the exited one is marked */
	assert_int_equal(strstr(w->out, "<exited>") - w->out, strrchr(w->out, '<') - w->out);
}

/* One row per process whatever the cmdline holds: a newline or an escape
 * sequence from argv must not make a fake row or reach the terminal. */
static void test_text_cmdline_control_bytes_stay_in_row(void **state)
{
	struct world *w = *state;

	strcpy(w->b->cmdline, "evil\n   6666 root     3.11.2 \x1b[2J\r\t x");
	write_text(w);
	assert_int_equal(count_lines(w->out), 2 + 3 + 1);
	assert_null(strchr(w->out, '\x1b'));
	assert_null(strchr(w->out, '\r'));
}

/* ---- output_clean_string ------------------------------------------------------ */

static void expect_clean(const char *in, bool text, const char *want)
{
	char buf[64];

	assert_string_equal(output_clean_string(in, text, buf, sizeof(buf)), want);
}

static void test_clean_string(void **state)
{
	(void)state;
	expect_clean("plain ascii", false, "plain ascii");
	expect_clean("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x90\x8d", false,
		     "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x90\x8d");
	/* overlong '/', a surrogate, above U+10FFFF, a lone continuation */
	expect_clean("\xc0\xaf", false, "\xef\xbf\xbd\xef\xbf\xbd");
	expect_clean("\xed\xa0\x80", false, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
	expect_clean("\xf4\x90\x80\x80", false, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
	expect_clean("a\x80"
		     "b",
		     false,
		     "a\xef\xbf\xbd"
		     "b");
	/* truncated sequence at the end */
	expect_clean("x\xe2\x82", false, "x\xef\xbf\xbd\xef\xbf\xbd");
	/* text mode: C0, DEL, C1 (U+009B CSI) become '?'; JSON mode keeps them */
	expect_clean("a\x1b[2J\r\n\x7f\xc2\x9b", true, "a?[2J????");
	expect_clean("a\tb", false, "a\tb");
}

static void test_clean_string_truncates_at_char_boundary(void **state)
{
	char buf[5];

	(void)state;
	/* "ab" + 3-byte euro fits 5 bytes only without the euro's last byte: drop it whole */
	assert_string_equal(output_clean_string("ab\xe2\x82\xac", false, buf, sizeof(buf)), "ab");
}

/* ---- output_human_bytes ------------------------------------------------------ */

static void expect_human(double v, const char *want)
{
	char buf[16];

	memset(buf, 'X', sizeof(buf));
	output_human_bytes(v, buf, sizeof(buf));
	assert_string_equal(buf, want);
}

static void test_human_bytes(void **state)
{
	(void)state;
	expect_human(0, "0B");
	expect_human(1, "1B");
	expect_human(1023, "1023B");
	expect_human(1024, "1.0K");
	expect_human(1536, "1.5K");
	expect_human(10 * 1024, "10K");
	expect_human(1000 * 1024, "1000K");
	expect_human(MIB, "1.0M");
	expect_human(2.5 * MIB, "2.5M");
	expect_human(300 * MIB, "300M");
	expect_human(5.0 * GIB, "5.0G");
	expect_human(3.0 * 1024 * GIB, "3.0T");
	expect_human(1024.0 * 1024 * GIB, "1.0P");
	expect_human(4096.0 * 1024 * 1024 * GIB, "4096P"); /* no unit past P */
}

static void test_human_bytes_small_buffer(void **state)
{
	char buf[4] = "XYZ";

	(void)state;
	output_human_bytes(1536, buf, 3);
	assert_string_equal(buf, "1.");
	assert_int_equal(buf[3], '\0');
}

/* --sites reports every running process: with more than 4096 (the old
 * fixed array) none is left out, and released ones are not reported. */
static void test_sites_reports_every_process(void **state)
{
	struct interp *in = new_interp("/usr/bin/python3.11", "3.11.2", false);
	struct table t = { 0 };
	char *text = NULL;
	size_t len = 0, lines = 0;
	FILE *f;

	(void)state;
	for (int i = 0; i < 5000; i++) {
		struct proc_entry *e = calloc(1, sizeof(*e));

		assert_non_null(e);
		e->pid = 100000 + i;
		e->interp = in;
		e->exited = i % 1000 == 999; /* 5 released */
		snprintf(e->comm, sizeof(e->comm), "python3");
		snprintf(e->sites_reason, sizeof(e->sites_reason), "off (--no-sites)");
		e->next = t.head;
		t.head = e;
		t.count++;
	}
	f = open_memstream(&text, &len);
	assert_non_null(f);
	{
		struct frame fr = { .table = &t };
		uint64_t oom = 0;

		assert_int_equal(output_sites_reports(f, &fr, 10, &oom), 0);
		assert_int_equal(oom, 0);
	}
	fclose(f);
	for (const char *p = text; (p = strstr(p, "SITES ")); p++)
		lines++;
	assert_int_equal(lines, 4995);
	assert_non_null(strstr(text, "SITES 100000 "));
	assert_null(strstr(text, "SITES 100999 "));
	free(text);
	table_free(&t);
	free(in);
}

/* docs/metrics.md's -b table names each column's field as the model has
 * it, on the row of its heading. */
static void test_text_columns_documented(void **state)
{
	const char *head;
	enum pm_id id;
	char path[160], want[200], line[1024];

	(void)state;
	for (int i = 0; output_text_column(i, &head, &id); i++) {
		FILE *f = fopen("docs/metrics.md", "r");
		bool in = false, found = false;

		assert_non_null(f);
		snprintf(want, sizeof(want), "`%s", pm_path(id, path, sizeof(path)));
		while (fgets(line, sizeof(line), f) && !found) {
			if (!strncmp(line, "## Text", 7))
				in = true;
			found = in && line[0] == '|' && strstr(line, head) && strstr(line, want);
		}
		fclose(f);
		if (!found)
			fail_msg("docs/metrics.md, Text: no row for %s naming %s`", head, want);
	}
}

#define WORLD_TEST(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		WORLD_TEST(test_json_one_line_top_level),
		cmocka_unit_test(test_sites_reports_every_process),
		WORLD_TEST(test_json_drops_every_counter),
		WORLD_TEST(test_json_process_identity),
		WORLD_TEST(test_json_shared_build_without_build_id),
		WORLD_TEST(test_json_memory_totals),
		WORLD_TEST(test_json_brk_before_bpf_saw_one),
		WORLD_TEST(test_json_counters_beyond_2_53),
		WORLD_TEST(test_json_alloc_flow_estimated),
		WORLD_TEST(test_json_alloc_precise_exact),
		WORLD_TEST(test_json_alloc_unavailable_with_reason),
		WORLD_TEST(test_json_alloc_not_pymalloc),
		WORLD_TEST(test_json_alloc_arena_flow_38),
		WORLD_TEST(test_json_alloc_arena_flow_overflow),
		WORLD_TEST(test_json_alloc_default_arena_flow),
		WORLD_TEST(test_command_label_in_text_and_json),
		WORLD_TEST(test_json_gc_available),
		WORLD_TEST(test_json_gc_from_statistics),
		WORLD_TEST(test_json_gc_unavailable_is_null_with_reason),
		WORLD_TEST(test_json_gc_not_attached_generic_reason),
		WORLD_TEST(test_json_rates_from_prev),
		WORLD_TEST(test_json_rates_null_without_prev),
		WORLD_TEST(test_json_exited_process),
		WORLD_TEST(test_json_nonfinite_is_null),
		WORLD_TEST(test_json_empty_table),
		WORLD_TEST(test_json_cmdline_escaped),
		WORLD_TEST(test_json_cmdline_invalid_utf8_gives_valid_utf8),
		WORLD_TEST(test_text_header),
		WORLD_TEST(test_text_column_header),
		WORLD_TEST(test_text_rows_sorted_by_rss),
		WORLD_TEST(test_text_equal_rss_by_pid),
		WORLD_TEST(test_text_row_with_everything),
		WORLD_TEST(test_text_row_unavailable_is_dash),
		WORLD_TEST(test_text_exited_marker),
		WORLD_TEST(test_text_cmdline_control_bytes_stay_in_row),
		cmocka_unit_test(test_clean_string),
		cmocka_unit_test(test_clean_string_truncates_at_char_boundary),
		cmocka_unit_test(test_human_bytes),
		cmocka_unit_test(test_human_bytes_small_buffer),
		cmocka_unit_test(test_text_columns_documented),
	};
	int rc;

	setenv("TZ", "UTC", 1); /* the text header's clock */
	golden_open();
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	/* every recorded frame was written again */
	if (!golden_write && fgetc(golden) != EOF) {
		fprintf(stderr, "test_output: %s has frames no test wrote\n", GOLDEN);
		rc = 1;
	}
	fclose(golden);
	return rc;
}
