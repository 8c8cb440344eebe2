// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#define _GNU_SOURCE /* strverscmp, strcasestr, qsort_r */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include "output.h"
#include "sitesreport.h"
#include "view.h"

#define KIB 1024.0
#define MIB (1024.0 * 1024.0)
#define GIB (1024.0 * 1024.0 * 1024.0)

/* ---- reading the process object ------------------------------------------ */

/* obj at a dotted path ("rates.gc_time_ratio"), or NULL (absent or null). */
static struct json_object *jpath(struct json_object *o, const char *path)
{
	char key[64];

	while (o && *path) {
		const char *dot = strchr(path, '.');
		size_t n = dot ? (size_t)(dot - path) : strlen(path);

		if (n >= sizeof(key))
			return NULL;
		memcpy(key, path, n);
		key[n] = '\0';
		if (!json_object_object_get_ex(o, key, &o))
			return NULL;
		path += n + (dot ? 1 : 0);
	}
	return o;
}

static struct view_val jnum(struct json_object *o, const char *path)
{
	struct json_object *v = jpath(o, path);

	if (!v ||
	    !(json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double)))
		return (struct view_val){ false, 0 };
	return (struct view_val){ true, json_object_get_double(v) };
}

static const char *jstring(struct json_object *o, const char *path)
{
	struct json_object *v = jpath(o, path);

	return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

static bool jbool(struct json_object *o, const char *path)
{
	struct json_object *v = jpath(o, path);

	return v && json_object_get_boolean(v);
}

void view_row_from_json(struct view_row *r, struct json_object *proc)
{
	const char *g;

	memset(r, 0, sizeof(*r));
	r->json = json_object_get(proc);
	r->pid = json_object_get_int(jpath(proc, "pid"));
	r->exited = jbool(proc, "exited");
	r->user = jstring(proc, "user");
	r->py = jstring(proc, "python_version");
	r->command = jstring(proc, "command");
	r->cmdline = jstring(proc, "cmdline");
	r->rss = jnum(proc, "rss_bytes");
	r->heap = jnum(proc, "heap_arena_bytes");
	r->live = jnum(proc, "heap_live_bytes");
	/* Heap growth where the heap is read; RSS's where it cannot be. */
	r->growth_rss = !r->live.ok;
	g = r->growth_rss ? "growth.rss_bytes" : "growth.heap_live_bytes";
	r->growth = jnum(jpath(proc, g), "bytes_per_s");
	r->growth_steady = r->growth.ok && jbool(jpath(proc, g), "steady");
	r->alloc = jnum(proc, "rates.alloc_bytes_per_s");
	r->gcs = jnum(proc, "rates.gc_collections_per_s");
	r->gcp = jnum(proc, "rates.gc_time_ratio");
	if (r->gcp.ok)
		r->gcp.v *= 100;
}

void view_row_release(struct view_row *r)
{
	json_object_put(r->json);
	r->json = NULL;
}

/* ---- columns --------------------------------------------------------------- */

static const struct col_def {
	const char *name;
	int width;
	bool descending; /* default sort direction */
	int keep; /* lower is dropped first on a narrow terminal */
} cols[COL_NR] = {
	[COL_PID] = { "PID", 7, false, 100 },
	[COL_USER] = { "USER", 8, false, 1 },
	[COL_PY] = { "PY", 7, false, 4 },
	[COL_RSS] = { "RSS", 6, true, 8 },
	[COL_HEAP] = { "HEAP", 6, true, 9 },
	[COL_LIVE] = { "LIVE", 6, true, 3 },
	[COL_GROWTH] = { "GROWTH", 9, true, 7 },
	[COL_ALLOC] = { "ALLOC/s", 7, true, 6 },
	[COL_GCS] = { "GC/s", 5, true, 2 },
	[COL_GCP] = { "GC%", 5, true, 5 },
	[COL_COMMAND] = { "COMMAND", 0, false, 100 },
};

const char *view_col_name(enum view_col c)
{
	return c < COL_NR ? cols[c].name : "?";
}

int view_col_width(enum view_col c)
{
	return c < COL_NR ? cols[c].width : 0;
}

bool view_col_descending(enum view_col c)
{
	return c < COL_NR && cols[c].descending;
}

int view_layout(int term_width, enum view_col out[COL_NR], int width[COL_NR])
{
	bool shown[COL_NR];
	int used = 0, n = 0;

	for (int c = 0; c < COL_COMMAND; c++) {
		shown[c] = true;
		used += cols[c].width + 1;
	}
	/* Drop the least useful column until COMMAND has its minimum. */
	while (used + VIEW_COMMAND_MIN > term_width) {
		int drop = -1;

		for (int c = 0; c < COL_COMMAND; c++)
			if (shown[c] && cols[c].keep < 100 &&
			    (drop < 0 || cols[c].keep < cols[drop].keep))
				drop = c;
		if (drop < 0)
			break;
		shown[drop] = false;
		used -= cols[drop].width + 1;
	}
	for (int c = 0; c < COL_COMMAND; c++)
		if (shown[c]) {
			out[n] = c;
			width[n++] = cols[c].width;
		}
	out[n] = COL_COMMAND;
	width[n++] = term_width - used > 1 ? term_width - used : 1;
	return n;
}

/* ---- cells ----------------------------------------------------------------- */

const char *view_units_name(enum view_units u)
{
	static const char *const names[UNITS_NR] = { "auto", "KiB", "MiB", "GiB" };

	return u < UNITS_NR ? names[u] : "?";
}

void view_bytes(struct view_val v, enum view_units u, char *buf, size_t len)
{
	double x = v.v;

	if (!v.ok) {
		snprintf(buf, len, "-");
		return;
	}
	switch (u) {
	case UNITS_KIB:
		snprintf(buf, len, "%.0fK", x / KIB);
		break;
	case UNITS_MIB:
		snprintf(buf, len, fabs(x) < 10 * MIB ? "%.1fM" : "%.0fM", x / MIB);
		break;
	case UNITS_GIB:
		snprintf(buf, len,
			 fabs(x) < 10 * GIB    ? "%.2fG"
			 : fabs(x) < 100 * GIB ? "%.1fG"
					       : "%.0fG",
			 x / GIB);
		break;
	default:
		output_human_bytes(x, buf, len);
		break;
	}
}

static void fmt_rate(struct view_val v, char *buf, size_t len)
{
	if (!v.ok)
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, v.v < 999.95 ? "%.1f" : "%.0f", v.v);
}

void view_cell(const struct view_row *r, enum view_col c, enum view_units u, bool full, char *buf,
	       size_t len)
{
	char tmp[64];
	const char *s;

	switch (c) {
	case COL_PID:
		snprintf(buf, len, "%d", r->pid);
		break;
	case COL_USER:
		output_clean_string(r->user ? r->user : "-", true, buf, len);
		break;
	case COL_PY:
		output_clean_string(r->py ? r->py : "-", true, buf, len);
		break;
	case COL_RSS:
		view_bytes(r->rss, u, buf, len);
		break;
	case COL_HEAP:
		view_bytes(r->heap, u, buf, len);
		break;
	case COL_LIVE:
		view_bytes(r->live, u, buf, len);
		break;
	case COL_GROWTH:
		if (!r->growth.ok) {
			snprintf(buf, len, "-");
			break;
		}
		view_bytes(r->growth, u, tmp, sizeof(tmp));
		snprintf(buf, len, "%s%s%s/s",
			 r->growth_steady ? (char[]){ VIEW_STEADY_MARK, 0 } : "",
			 r->growth.v > 0 ? "+" : "", tmp);
		break;
	case COL_ALLOC:
		view_bytes(r->alloc, u, buf, len);
		break;
	case COL_GCS:
		fmt_rate(r->gcs, buf, len);
		break;
	case COL_GCP:
		fmt_rate(r->gcp, buf, len);
		break;
	case COL_COMMAND: {
		const char *mark = r->exited ? "<exited> " : "";
		size_t m = strlen(mark);

		s = full ? r->cmdline : r->command;
		if (!s || !*s)
			s = r->cmdline ? r->cmdline : "";
		if (len <= m) {
			snprintf(buf, len, "%s", "");
			break;
		}
		memcpy(buf, mark, m);
		output_clean_string(s, true, buf + m, len - m); /* cut at a character */
		break;
	}
	default:
		snprintf(buf, len, "?");
	}
}

/* ---- sorting and filtering ------------------------------------------------- */

static struct view_val sort_val(const struct view_row *r, enum view_col c)
{
	switch (c) {
	case COL_RSS:
		return r->rss;
	case COL_HEAP:
		return r->heap;
	case COL_LIVE:
		return r->live;
	case COL_GROWTH:
		return r->growth;
	case COL_ALLOC:
		return r->alloc;
	case COL_GCS:
		return r->gcs;
	case COL_GCP:
		return r->gcp;
	default:
		return (struct view_val){ true, r->pid };
	}
}

static const char *sort_str(const struct view_row *r, enum view_col c)
{
	switch (c) {
	case COL_USER:
		return r->user;
	case COL_PY:
		return r->py;
	case COL_COMMAND:
		return r->command ? r->command : r->cmdline;
	default:
		return NULL;
	}
}

struct sort_key {
	enum view_col col;
	int dir; /* -1: descending */
};

static int cmp_rows(const void *pa, const void *pb, void *arg)
{
	const struct view_row *a = pa, *b = pb;
	const struct sort_key *k = arg;
	enum view_col sort_col = k->col;
	int d = 0;

	if (sort_col == COL_USER || sort_col == COL_PY || sort_col == COL_COMMAND) {
		const char *x = sort_str(a, sort_col), *y = sort_str(b, sort_col);

		if (!x != !y)
			return x ? -1 : 1; /* unavailable last */
		if (x)
			d = sort_col == COL_PY ? strverscmp(x, y) : strcasecmp(x, y);
	} else {
		struct view_val x = sort_val(a, sort_col), y = sort_val(b, sort_col);

		if (x.ok != y.ok)
			return x.ok ? -1 : 1;
		if (x.ok && x.v != y.v)
			d = x.v < y.v ? -1 : 1;
	}
	if (d)
		return d * k->dir;
	return a->pid - b->pid;
}

void view_sort(struct view_row *rows, int n, enum view_col c, bool invert)
{
	struct sort_key k = { c < COL_NR ? c : COL_PID, 1 };

	k.dir = view_col_descending(k.col) != invert ? -1 : 1;
	qsort_r(rows, n, sizeof(*rows), cmp_rows, &k);
}

bool view_match(const struct view_row *r, const char *filter)
{
	if (!filter || !*filter)
		return true;
	return (r->command && strcasestr(r->command, filter)) ||
	       (r->cmdline && strcasestr(r->cmdline, filter));
}

/* ---- header summary ------------------------------------------------------- */

static void add_val(struct view_val *sum, struct view_val v, int *known)
{
	if (!v.ok)
		return;
	sum->ok = true;
	sum->v += v.v;
	if (known)
		(*known)++;
}

void view_summarize(const struct view_row *rows, int n, struct view_summary *s)
{
	memset(s, 0, sizeof(*s));
	for (int i = 0; i < n; i++) {
		const struct view_row *r = &rows[i];
		struct view_val gc = r->gcp;

		if (r->exited) {
			s->exited++;
			continue;
		}
		s->procs++;
		add_val(&s->rss, r->rss, NULL);
		add_val(&s->heap, r->heap, &s->heap_known);
		add_val(&s->alloc, r->alloc, &s->alloc_known);
		if (gc.ok)
			gc.v /= 100;
		add_val(&s->gc_share, gc, &s->gc_known);
		add_val(&s->mm_calls, jnum(r->json, "rates.mm_calls_per_s"), NULL);
		s->steady += r->growth_steady;
	}
}

/* ---- lines ------------------------------------------------------------------ */

void view_lines_add(struct view_lines *l, enum view_attr a, const char *fmt, ...)
{
	va_list ap;

	if (l->n == l->cap) {
		int cap = l->cap ? l->cap * 2 : 64;
		void *v = realloc(l->v, cap * sizeof(*l->v));

		if (!v)
			return;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n].attr = a;
	va_start(ap, fmt);
	vsnprintf(l->v[l->n].text, sizeof(l->v[l->n].text), fmt, ap);
	va_end(ap);
	l->n++;
}

void view_lines_free(struct view_lines *l)
{
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/* ---- sparkline ----------------------------------------------------------- */

void view_sparkline(const double *v, int n, int width, bool utf8, char *out, size_t len,
		    double *min, double *max)
{
	static const char *const blocks[] = { "\u2581", "\u2582", "\u2583", "\u2584",
					      "\u2585", "\u2586", "\u2587", "\u2588" };
	static const char ascii[] = "_.-:=+*#";
	double b[512], lo = NAN, hi = NAN;
	int cells = n < width ? n : width, o = 0;

	if (cells > (int)(sizeof(b) / sizeof(b[0])))
		cells = sizeof(b) / sizeof(b[0]);
	/* cell k covers samples [k*n/cells, (k+1)*n/cells): their max */
	for (int k = 0; k < cells; k++) {
		int from = (int)((long)k * n / cells), to = (int)((long)(k + 1) * n / cells);

		b[k] = NAN;
		for (int i = from; i < to; i++)
			if (!isnan(v[i]) && (isnan(b[k]) || v[i] > b[k]))
				b[k] = v[i];
		if (isnan(b[k]))
			continue;
		if (isnan(lo) || b[k] < lo)
			lo = b[k];
		if (isnan(hi) || b[k] > hi)
			hi = b[k];
	}
	*min = lo;
	*max = hi;
	if (len)
		out[0] = '\0';
	for (int k = 0; k < cells; k++) {
		const char *g;
		char one[2] = { 0 };
		int level = 0;
		size_t gl;

		if (!isnan(b[k]) && hi > lo)
			level = (int)((b[k] - lo) / (hi - lo) * 7 + 0.5);
		else if (!isnan(b[k]))
			level = 3; /* flat */
		if (isnan(b[k])) {
			g = " ";
		} else if (utf8) {
			g = blocks[level];
		} else {
			one[0] = ascii[level];
			g = one;
		}
		gl = strlen(g);
		if (o + gl >= len)
			break;
		memcpy(out + o, g, gl + 1);
		o += gl;
	}
}

/* ---- detail view ------------------------------------------------------------- */

enum fmt { F_BYTES, F_BYTES_S, F_SBYTES_S, F_COUNT, F_PER_S, F_PCT, F_SECONDS, F_STR, F_BOOL };

static void fmt_value(struct json_object *v, enum fmt f, enum view_units u, char *buf, size_t len)
{
	struct view_val x = { v != NULL, v ? json_object_get_double(v) : 0 };
	char tmp[40];

	if (!v) {
		snprintf(buf, len, "-");
		return;
	}
	switch (f) {
	case F_BYTES:
		view_bytes(x, u, buf, len);
		break;
	case F_BYTES_S:
	case F_SBYTES_S:
		view_bytes(x, u, tmp, sizeof(tmp));
		snprintf(buf, len, "%s%s/s", f == F_SBYTES_S && x.v > 0 ? "+" : "", tmp);
		break;
	case F_COUNT:
		snprintf(buf, len, "%.0f", x.v);
		break;
	case F_PER_S:
		snprintf(buf, len, "%.1f/s", x.v);
		break;
	case F_PCT:
		snprintf(buf, len, "%.2f%%", x.v * 100);
		break;
	case F_SECONDS:
		snprintf(buf, len, "%.3f s", x.v);
		break;
	case F_BOOL:
		snprintf(buf, len, "%s", json_object_get_boolean(v) ? "yes" : "no");
		break;
	default:
		output_clean_string(json_object_get_string(v), true, buf, len);
	}
}

/* One metric line: label, value, accuracy, and the source, or the reason
 * when the value is unavailable. */
struct item {
	const char *label;
	const char *path; /* in the process object */
	enum fmt fmt;
	const char *acc; /* "exact", or "@key" of the accuracy object */
	const char *source; /* text, or "@key" of the probes object */
};

#define ROW_FMT "  %-28s %12s  %-9s  %s"

static const char *at_key(struct json_object *proc, const char *obj, const char *s)
{
	char path[96];

	if (!s || s[0] != '@')
		return s;
	snprintf(path, sizeof(path), "%s.%s", obj, s + 1);
	return jstring(proc, path);
}

static void detail_items(struct json_object *proc, const struct item *it, int n, const char *reason,
			 enum view_units u, struct view_lines *out)
{
	for (int i = 0; i < n; i++) {
		struct json_object *v = jpath(proc, it[i].path);
		const char *acc = at_key(proc, "accuracy", it[i].acc);
		const char *src = at_key(proc, "probes", it[i].source);
		char val[64];

		fmt_value(v, it[i].fmt, u, val, sizeof(val));
		if (!v)
			view_lines_add(out, VA_DIM, ROW_FMT, it[i].label, val, "-",
				       reason ? reason : "not measured yet");
		else
			view_lines_add(out, VA_NORMAL, ROW_FMT, it[i].label, val, acc ? acc : "-",
				       src ? src : "-");
	}
}

static void section(struct view_lines *out, const char *title, const char *source)
{
	view_lines_add(out, VA_NORMAL, "%s", "");
	if (source)
		view_lines_add(out, VA_HEADING, "%s  (%s)", title, source);
	else
		view_lines_add(out, VA_HEADING, "%s", title);
}

static const struct item memory_items[] = {
	{ "RSS", "rss_bytes", F_BYTES, "exact", "/proc/PID/status VmRSS" },
	{ "anonymous resident", "anon_bytes", F_BYTES, "exact", "/proc/PID/status RssAnon" },
	{ "swapped", "swap_bytes", F_BYTES, "exact", "/proc/PID/status VmSwap" },
	{ "brk heap", "brk_bytes", F_BYTES, "exact", "tracepoint brk, [heap] at discovery" },
	{ "RSS change", "rates.rss_bytes_per_s", F_SBYTES_S, "exact", "last interval" },
};

static const struct item heap_items[] = {
	{ "allocator", "heap_allocator", F_STR, "exact", "allocator table" },
	{ "HEAP: arena bytes", "heap_arena_bytes", F_BYTES, "@heap_arena_bytes", "@heap" },
	{ "arenas", "heap_arenas", F_COUNT, "@heap_arena_bytes", "@heap" },
	{ "LIVE: bytes in live blocks", "heap_live_bytes", F_BYTES, "@heap_live_bytes", "@heap" },
	{ "live blocks", "heap_live_blocks", F_COUNT, "@heap_live_blocks", "@heap" },
	{ "raw-allocator blocks", "heap_raw_blocks", F_COUNT, "@heap_raw_blocks", "@heap" },
	{ "arenas allocated (process)", "heap_arenas_allocated_total", F_COUNT,
	  "@heap_arenas_allocated_total", "@heap" },
	{ "snapshot age", "heap_snapshot_age_seconds", F_SECONDS, "exact", "@heap" },
};

static const struct item growth_items[] = {
	{ "heap live bytes", "growth.heap_live_bytes.bytes_per_s", F_SBYTES_S, "estimated",
	  "least squares, last 60 s" },
	{ "RSS", "growth.rss_bytes.bytes_per_s", F_SBYTES_S, "estimated",
	  "least squares, last 60 s" },
};

static const struct item alloc_items[] = {
	{ "allocations", "rates.allocs_per_s", F_PER_S, "@allocs_total", "@alloc" },
	{ "ALLOC/s: bytes allocated", "rates.alloc_bytes_per_s", F_BYTES_S, "@alloc_bytes_total",
	  "@alloc" },
	{ "frees", "rates.frees_per_s", F_PER_S, "@frees_total", "@alloc" },
	{ "allocations since observed", "allocs_total", F_COUNT, "@allocs_total", "@alloc" },
	{ "bytes since observed", "alloc_bytes_total", F_BYTES, "@alloc_bytes_total", "@alloc" },
	{ "reallocs since observed", "reallocs_total", F_COUNT, "exact", "@alloc" },
	{ "frees since observed", "frees_total", F_COUNT, "@frees_total", "@alloc" },
};

static const struct item gc_items[] = {
	{ "GC/s: collections", "rates.gc_collections_per_s", F_PER_S, "exact", "@gc" },
	{ "GC%: wall time in GC", "rates.gc_time_ratio", F_PCT, "exact", "@gc" },
	{ "enabled", "gc_enabled", F_BOOL, "@gc_generation_counts", "GC state" },
};

#define N(a) (int)(sizeof(a) / sizeof((a)[0]))

static struct json_object *jidx(struct json_object *o, const char *path, int i)
{
	struct json_object *a = jpath(o, path);

	if (!a || !json_object_is_type(a, json_type_array) ||
	    (size_t)i >= json_object_array_length(a))
		return NULL;
	return json_object_array_get_idx(a, i);
}

static void cell_idx(struct json_object *o, const char *path, int i, enum fmt f, enum view_units u,
		     char *buf, size_t len)
{
	fmt_value(jidx(o, path, i), f, u, buf, len);
}

static void detail_gc(struct json_object *proc, struct view_lines *out)
{
	const char *reason = jstring(proc, "probes.gc_reason");

	section(out, "Garbage collector", jstring(proc, "probes.gc"));
	detail_items(proc, gc_items, N(gc_items), reason, UNITS_AUTO, out);
	view_lines_add(out, VA_DIM, "  %-5s %12s %12s %12s %8s %9s", "gen", "collections",
		       "collected", "pause total", "count", "threshold");
	for (int g = 0; g < 3; g++) {
		char c[32], k[32], s[32], n[32], t[32];

		cell_idx(proc, "gc_collections_total", g, F_COUNT, UNITS_AUTO, c, sizeof(c));
		cell_idx(proc, "gc_collected_total", g, F_COUNT, UNITS_AUTO, k, sizeof(k));
		cell_idx(proc, "gc_seconds_total", g, F_SECONDS, UNITS_AUTO, s, sizeof(s));
		cell_idx(proc, "gc_generation_counts", g, F_COUNT, UNITS_AUTO, n, sizeof(n));
		cell_idx(proc, "gc_thresholds", g, F_COUNT, UNITS_AUTO, t, sizeof(t));
		view_lines_add(out, VA_NORMAL, "  %-5d %12s %12s %12s %8s %9s", g, c, k, s, n, t);
	}
	if (reason)
		view_lines_add(out, VA_DIM, "  collections, collected, pause: %s", reason);
	if ((reason = jstring(proc, "probes.gc_state_reason")))
		view_lines_add(out, VA_DIM, "  count, threshold, enabled: %s", reason);
}

static void detail_mm(struct json_object *proc, enum view_units u, struct view_lines *out)
{
	static const struct {
		const char *name, *calls, *bytes, *rate;
	} rows[] = {
		{ "mmap", "mmap_calls_total", "mmap_bytes_total", "rates.mmap_bytes_per_s" },
		{ "munmap", "munmap_calls_total", "munmap_bytes_total",
		  "rates.munmap_bytes_per_s" },
		{ "mremap grow", "mremap_calls_total", "mremap_grow_bytes_total", NULL },
		{ "mremap shrink", NULL, "mremap_shrink_bytes_total", NULL },
		{ "brk", "brk_calls_total", NULL, NULL },
	};

	section(out, "Memory system calls since observed", jstring(proc, "probes.mm"));
	view_lines_add(out, VA_DIM, "  %-14s %12s %12s %12s", "call", "calls", "bytes", "bytes/s");
	for (int i = 0; i < N(rows); i++) {
		char c[32] = "", b[32] = "", r[32] = "";

		if (rows[i].calls)
			fmt_value(jpath(proc, rows[i].calls), F_COUNT, u, c, sizeof(c));
		if (rows[i].bytes)
			fmt_value(jpath(proc, rows[i].bytes), F_BYTES, u, b, sizeof(b));
		if (rows[i].rate)
			fmt_value(jpath(proc, rows[i].rate), F_BYTES_S, u, r, sizeof(r));
		view_lines_add(out, VA_NORMAL, "  %-14s %12s %12s %12s", rows[i].name, c, b, r);
	}
}

static void detail_history(const struct history *h, int width, bool utf8, enum view_units u,
			   struct view_lines *out)
{
	double t[HISTORY_SAMPLES], heap[HISTORY_SAMPLES], rss[HISTORY_SAMPLES];
	int n = history_get(h, t, heap, rss);
	int cells = width - 30; /* name, min and max labels */
	const struct {
		const char *name;
		const double *v;
	} series[] = { { "HEAP", heap }, { "RSS", rss } };

	if (n < 2) {
		section(out, "History", NULL);
		view_lines_add(out, VA_DIM, "  (collecting: one sample per interval)");
		return;
	}
	section(out, "History", NULL);
	view_lines_add(out, VA_DIM, "  last %.0f s, %d samples, one cell = max of its samples",
		       t[n - 1] - t[0], n);
	if (cells < 8)
		cells = 8;
	if (cells > HISTORY_SAMPLES)
		cells = HISTORY_SAMPLES;
	for (int i = 0; i < N(series); i++) {
		char line[HISTORY_SAMPLES * 3 + 1], lo[32], hi[32];
		double mn, mx;

		view_sparkline(series[i].v, n, cells, utf8, line, sizeof(line), &mn, &mx);
		view_bytes((struct view_val){ !isnan(mn), mn }, u, lo, sizeof(lo));
		view_bytes((struct view_val){ !isnan(mx), mx }, u, hi, sizeof(hi));
		view_lines_add(out, VA_NORMAL, "  %-5s %7s %s %s", series[i].name, lo, line, hi);
	}
}

static void detail_classes(struct json_object *proc, enum view_units u, struct view_lines *out)
{
	bool any = false;

	for (int i = 0; i < 33 && !any; i++)
		any = jidx(proc, "heap_size_classes", i) || jidx(proc, "alloc_size_classes", i);
	if (!any)
		return;
	section(out, "Size classes",
		"live blocks from the heap snapshot; allocs/frees since observed");
	view_lines_add(out, VA_DIM, "  %-6s %7s %12s %10s %12s %12s", "class", "size",
		       "live blocks", "live", "allocs", "frees");
	for (int i = 0; i < 33; i++) {
		struct json_object *lv = jidx(proc, "heap_size_classes", i);
		struct json_object *al = jidx(proc, "alloc_size_classes", i);
		struct json_object *fr = jidx(proc, "free_size_classes", i);
		char size[16], b[16], lb[32], a[32], f[32];

		if (!(lv && json_object_get_int64(lv)) && !(al && json_object_get_int64(al)) &&
		    !(fr && json_object_get_int64(fr)))
			continue;
		if (i < 32)
			snprintf(size, sizeof(size), "%d", (i + 1) * 16);
		else
			snprintf(size, sizeof(size), "raw");
		fmt_value(lv, F_COUNT, u, lb, sizeof(lb));
		view_bytes((struct view_val){ lv != NULL,
					      lv ? json_object_get_double(lv) * (i + 1) * 16 : 0 },
			   u, b, sizeof(b));
		fmt_value(al, F_COUNT, u, a, sizeof(a));
		fmt_value(fr, F_COUNT, u, f, sizeof(f));
		view_lines_add(out, VA_NORMAL, "  %-6d %7s %12s %10s %12s %12s", i, size, lb,
			       i < 32 ? b : "-", a, f);
	}
}

/* ---- allocation sites ------------------------------------------------------ */

/* "  bytes recent samples source site": the site text starts at
 * SITE_INDENT, callers ("<- ") 2 further; when that leaves a caller less
 * than SITE_TEXT_MIN columns, the site goes on a line of its own, 4 in. */
#define SITE_FMT      "  %8s %8s %7s %-6s %s"
#define SITE_INDENT   (2 + 8 + 1 + 8 + 1 + 7 + 1 + 6 + 1)
#define SITE_TEXT_MIN 24
#define SITE_TEXT_MAX 900 /* bytes: the line's prefix and this fit a view_line */

static const char *site_source(const char *s)
{
	if (!s)
		return "-";
	if (!strcmp(s, "pool_refill"))
		return "pool";
	if (!strcmp(s, "arena") || !strcmp(s, "malloc"))
		return s;
	return "?";
}

/* A size or a count from a site object, "-" unless a number. */
static void site_cell(struct json_object *site, const char *key, bool bytes, enum view_units u,
		      char *buf, size_t len)
{
	struct view_val v = jnum(site, key);

	if (bytes || !v.ok)
		view_bytes(v, u, buf, len);
	else
		snprintf(buf, len, "%.0f", v.v);
}

static void detail_site(struct json_object *site, int width, enum view_units u,
			struct view_lines *out)
{
	struct json_object *stack = jpath(site, "stack");
	int n = json_object_is_type(stack, json_type_array) ? (int)json_object_array_length(stack)
							    : 0;
	bool own_line = width - SITE_INDENT - 5 < SITE_TEXT_MIN;
	int indent = own_line ? 4 : SITE_INDENT;
	char est[32], rec[32], cnt[32], text[SITE_TEXT_MAX];

	site_cell(site, "estimated_bytes", true, u, est, sizeof(est));
	site_cell(site, "recent_bytes", true, u, rec, sizeof(rec));
	site_cell(site, "samples", false, u, cnt, sizeof(cnt));
	sites_frame_text(site, width - indent, text, sizeof(text));
	if (own_line) {
		view_lines_add(out, VA_NORMAL, SITE_FMT, est, rec, cnt,
			       site_source(jstring(site, "source")), "");
		view_lines_add(out, VA_NORMAL, "%*s%s", indent, "", text);
	} else {
		view_lines_add(out, VA_NORMAL, SITE_FMT, est, rec, cnt,
			       site_source(jstring(site, "source")), text);
	}
	/* stack[0] is the site itself */
	for (int i = 1; i <= SITES_CALLERS && i < n; i++) {
		sites_frame_text(json_object_array_get_idx(stack, i), width - indent - 5, text,
				 sizeof(text));
		view_lines_add(out, VA_DIM, "%*s<- %s", indent + 2, "", text);
	}
}

/* Where the heap grows: the heaviest sites, largest first, with their
 * callers; nothing when the object has no "sites" (not collected). */
static void detail_sites(struct json_object *proc, int width, enum view_units u,
			 struct view_lines *out)
{
	struct json_object *sites, *total = jpath(proc, "sites_total");
	struct view_val secs = jnum(proc, "sites_recent_seconds");
	const char *reason = jstring(proc, "sites_reason");
	const char *src = jstring(proc, "sites_source");
	bool window = secs.ok && secs.v >= 0 && secs.v < 1e6;
	char bytes[32], samples[32], recent[32] = "recent", buf[256];
	int n;

	if (!json_object_object_get_ex(proc, "sites", &sites))
		return;
	section(out, "Allocation sites",
		src ? output_clean_string(src, true, buf, sizeof(buf)) : NULL);
	if (!json_object_is_type(sites, json_type_array)) {
		view_lines_add(out, VA_DIM, "  %s",
			       output_clean_string(reason ? reason : "unavailable", true, buf,
						   sizeof(buf)));
		return;
	}
	if (!(n = (int)json_object_array_length(sites))) {
		view_lines_add(out, VA_DIM, "  no samples yet");
		return;
	}
	site_cell(total, "estimated_bytes", true, u, bytes, sizeof(bytes));
	site_cell(total, "samples", false, u, samples, sizeof(samples));
	if (window)
		snprintf(recent, sizeof(recent), "last %.0fs", secs.v);
	if (jnum(total, "recent_bytes").ok && window) {
		site_cell(total, "recent_bytes", true, u, buf, sizeof(buf));
		view_lines_add(out, VA_NORMAL, "  %s estimated from %s samples; %s: %s", bytes,
			       samples, recent, buf);
	} else {
		view_lines_add(out, VA_NORMAL, "  %s estimated from %s samples%s%s", bytes, samples,
			       window ? "; recent: " : "", window ? recent : "");
	}
	view_lines_add(out, VA_DIM, SITE_FMT, "bytes", recent, "samples", "source", "site");
	for (int i = 0; i < n; i++)
		if (json_object_is_type(json_object_array_get_idx(sites, i), json_type_object))
			detail_site(json_object_array_get_idx(sites, i), width, u, out);
}

static const char *or_dash(const char *s)
{
	return s && *s ? s : "-";
}

void view_detail(struct json_object *proc, const struct history *hist, int width, bool utf8,
		 enum view_units u, struct view_lines *out)
{
	char buf[200], when[32], user[64];
	const char *s;
	struct view_val st = jnum(proc, "start_time");
	time_t t0 = (time_t)st.v;
	struct tm tm;

	snprintf(when, sizeof(when), "-");
	if (st.ok && localtime_r(&t0, &tm))
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
	view_lines_add(
		out, VA_TITLE, "PID %d%s  user %s  Python %s  started %s",
		json_object_get_int(jpath(proc, "pid")), jbool(proc, "exited") ? " <exited>" : "",
		output_clean_string(or_dash(jstring(proc, "user")), true, user, sizeof(user)),
		or_dash(jstring(proc, "python_version")), when);
	view_lines_add(
		out, VA_NORMAL, "command: %s",
		output_clean_string(or_dash(jstring(proc, "command")), true, buf, sizeof(buf)));
	view_lines_add(
		out, VA_NORMAL, "cmdline: %s",
		output_clean_string(or_dash(jstring(proc, "cmdline")), true, buf, sizeof(buf)));
	if (jpath(proc, "python_build"))
		view_lines_add(out, VA_DIM, "build:   %s libpython, %s, %s, %s",
			       or_dash(jstring(proc, "python_build.libpython")),
			       jbool(proc, "python_build.symtab") ? "symbols" : "stripped",
			       jbool(proc, "python_build.usdt") ? "USDT" : "no USDT",
			       output_clean_string(or_dash(jstring(proc, "python_build.path")),
						   true, buf, sizeof(buf)));
	view_lines_add(out, VA_NORMAL, "%s", "");
	view_lines_add(out, VA_DIM, ROW_FMT, "metric", "value", "accuracy", "source / reason");

	section(out, "Memory", NULL);
	detail_items(proc, memory_items, N(memory_items), NULL, u, out);

	section(out, "Python heap", jstring(proc, "probes.heap"));
	detail_items(proc, heap_items, N(heap_items), jstring(proc, "probes.heap_reason"), u, out);
	if ((s = jstring(proc, "probes.heap_raw_reason")))
		view_lines_add(out, VA_DIM, "  raw-allocator blocks: %s", s);

	section(out, "Growth",
		"a suspected leak is marked "
		"!"
		" in the table");
	detail_items(proc, growth_items, N(growth_items), "fewer than 3 samples over 15 s yet", u,
		     out);
	if (jbool(proc, "growth.heap_live_bytes.steady"))
		view_lines_add(out, VA_ALERT, "  ! heap live bytes grow steadily: suspected leak");
	if (jbool(proc, "growth.rss_bytes.steady"))
		view_lines_add(out, VA_ALERT, "  ! RSS grows steadily: suspected leak");

	section(out, "Allocation flow", jstring(proc, "probes.alloc"));
	detail_items(proc, alloc_items, N(alloc_items), jstring(proc, "probes.alloc_reason"), u,
		     out);
	if (jstring(proc, "probes.alloc") && (s = jstring(proc, "probes.alloc_reason")))
		view_lines_add(out, VA_DIM, "  %s", s);
	if ((s = jstring(proc, "probes.precise_reason")))
		view_lines_add(out, VA_ALERT, "  --precise refused: %s", s);
	detail_sites(proc, width, u, out);

	detail_gc(proc, out);
	detail_mm(proc, u, out);
	if (hist)
		detail_history(hist, width, utf8, u, out);
	detail_classes(proc, u, out);
}

/* ---- help ---------------------------------------------------------------- */

void view_help(struct view_lines *out)
{
	static const char *const keys[][2] = {
		{ "q, Esc, Ctrl-C", "quit" },
		{ "h, ?", "this help (any key returns)" },
		{ "M / R / P / G / N", "sort by HEAP / RSS / ALLOC/s / GC% / PID" },
		{ "< >", "sort by the column left / right of the current one" },
		{ "I", "invert the sort order" },
		{ "Up Down j k", "move the selection (PgUp PgDn Home End too)" },
		{ "Enter", "details of the selected process (Esc, Backspace or q return)" },
		{ "/", "filter by command substring (Enter keeps, Esc clears)" },
		{ "Space", "pause / resume the display (collection goes on)" },
		{ "d", "change the interval in seconds" },
		{ "E", "cycle size units: auto, KiB, MiB, GiB" },
		{ "c", "show the full command line instead of what the process is" },
	};
	static const char *const columns[][2] = {
		{ "PID USER", "process id, real user" },
		{ "PY", "CPython version, read from the interpreter file" },
		{ "RSS", "resident memory (/proc/PID/status VmRSS)" },
		{ "HEAP", "pymalloc arenas the process holds (out-of-process snapshot)" },
		{ "LIVE", "bytes in live pymalloc blocks (objects and buffers <= 512 B)" },
		{ "GROWTH", "heap live bytes per second over the last 60 s (RSS when the heap"
			    " cannot be read); ! = steady growth, a suspected leak" },
		{ "ALLOC/s", "bytes the Python allocator put into service per second" },
		{ "GC/s GC%", "garbage collections per second, share of wall time in them" },
		{ "COMMAND", "what the process is: script, -m module, entry point" },
		{ "-", "unavailable for this process or build: Enter shows why" },
	};

	view_lines_add(out, VA_TITLE, "pymemtop %s - top for CPython memory", PYMEMTOP_VERSION);
	view_lines_add(out, VA_NORMAL, "%s", "");
	view_lines_add(out, VA_HEADING, "Keys");
	for (int i = 0; i < N(keys); i++)
		view_lines_add(out, VA_NORMAL, "  %-18s %s", keys[i][0], keys[i][1]);
	view_lines_add(out, VA_NORMAL, "%s", "");
	view_lines_add(out, VA_HEADING, "Columns");
	for (int i = 0; i < N(columns); i++)
		view_lines_add(out, VA_NORMAL, "  %-18s %s", columns[i][0], columns[i][1]);
	view_lines_add(out, VA_NORMAL, "%s", "");
	view_lines_add(out, VA_DIM,
		       "Every field, its unit and source: pymemtop(8), docs/metrics.md");
}
