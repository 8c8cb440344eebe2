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

/* ---- reading the process model ------------------------------------------- */

static struct view_val num(const struct pm_proc *p, enum pm_id id)
{
	double v = pm_num(p, id);

	return (struct view_val){ !isnan(v), isnan(v) ? 0 : v };
}

/* ---- columns --------------------------------------------------------------- */

static const struct col_def {
	const char *name;
	int width;
	bool descending; /* default sort direction */
	int keep; /* lower is dropped first on a narrow terminal */
	enum pm_id field; /* the model field it shows (GROWTH: RSS's when the heap's is null) */
} cols[COL_NR] = {
	[COL_PID] = { "PID", 7, false, 100, PM_PID },
	[COL_USER] = { "USER", 8, false, 1, PM_USER },
	[COL_PY] = { "PY", 7, false, 4, PM_PYTHON_VERSION },
	[COL_RSS] = { "RSS", 6, true, 8, PM_RSS_BYTES },
	[COL_HEAP] = { "HEAP", 6, true, 9, PM_HEAP_ARENA_BYTES },
	[COL_LIVE] = { "LIVE", 6, true, 3, PM_HEAP_LIVE_BYTES },
	[COL_GROWTH] = { "GROWTH", 9, true, 7, PM_GROWTH_HEAP_SLOPE },
	[COL_ALLOC] = { "ALLOC/s", 7, true, 6, PM_RATE_ALLOC_BYTES },
	[COL_GCS] = { "GC/s", 5, true, 2, PM_RATE_GC_COLLECTIONS },
	[COL_GCP] = { "GC%", 5, true, 5, PM_RATE_GC_TIME_RATIO },
	[COL_COMMAND] = { "COMMAND", 0, false, 100, PM_COMMAND },
};

enum pm_id view_col_field(enum view_col c)
{
	return c < COL_NR ? cols[c].field : PM_NONE;
}

int view_row_from_model(struct view_row *r, const struct pm_proc *m)
{
	int err;

	memset(r, 0, sizeof(*r));
	err = model_copy(&r->m, m);
	m = &r->m;
	r->pid = (int)pm_get(m, cols[COL_PID].field)->i;
	r->exited = pm_bool(m, PM_EXITED);
	r->user = pm_str(m, cols[COL_USER].field);
	r->py = pm_str(m, cols[COL_PY].field);
	r->command = pm_str(m, cols[COL_COMMAND].field);
	r->cmdline = pm_str(m, PM_CMDLINE);
	r->rss = num(m, cols[COL_RSS].field);
	r->heap = num(m, cols[COL_HEAP].field);
	r->live = num(m, cols[COL_LIVE].field);
	/* Heap growth where the heap is read; RSS's where it cannot be. */
	r->growth_rss = !r->live.ok;
	r->growth = num(m, r->growth_rss ? PM_GROWTH_RSS_SLOPE : cols[COL_GROWTH].field);
	r->growth_steady = r->growth.ok &&
			   pm_bool(m, r->growth_rss ? PM_GROWTH_RSS_STEADY : PM_GROWTH_HEAP_STEADY);
	r->alloc = num(m, cols[COL_ALLOC].field);
	r->gcs = num(m, cols[COL_GCS].field);
	r->gcp = num(m, cols[COL_GCP].field);
	if (r->gcp.ok)
		r->gcp.v *= 100;
	r->mm_calls = num(m, PM_RATE_MM_CALLS);
	return err;
}

void view_row_release(struct view_row *r)
{
	model_free(&r->m);
}

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
		add_val(&s->mm_calls, r->mm_calls, NULL);
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

/*
 * Sections that have data come first, in the order a person asks about a
 * process (how big, what the heap holds, is the GC busy, how fast it
 * allocates, where, is it growing); each section says its source once in
 * its title, and its unavailable values share one line per reason. A
 * section with nothing available is one line at the end, with why.
 */

enum fmt { F_BYTES, F_BYTES_S, F_SBYTES_S, F_COUNT, F_PER_S, F_PCT, F_SECONDS };

static void fmt_num(struct view_val x, enum fmt f, enum view_units u, char *buf, size_t len)
{
	char tmp[24];

	if (!x.ok) {
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
	}
}

/* One metric line: label, value, accuracy (the model's, or that of the
 * total a rate comes from, else acc); name: what it is called in the
 * line listing the unavailable ones. */
struct item {
	const char *label, *name;
	enum pm_id id;
	enum fmt fmt;
	const char *acc;
	enum pm_id acc_of; /* PM_NONE: its own */
};

#define ROW_FMT "  %-28s %12s  %s"
#define N(a)	(int)(sizeof(a) / sizeof((a)[0]))

struct ctx {
	const struct pm_proc *p;
	const struct history *hist;
	int width;
	bool utf8;
	enum view_units u;
};

static void heading(struct view_lines *out, const char *title, const char *source)
{
	char buf[300];

	if (source)
		view_lines_add(out, VA_HEADING, "%s  (%s)", title,
			       output_clean_string(source, true, buf, sizeof(buf)));
	else
		view_lines_add(out, VA_HEADING, "%s", title);
}

/* text (clean) from column indent on, wrapped at spaces to fit width
 * (a word longer than the room is cut); the first line's first indent
 * columns are lead instead of blanks. */
static void wrapped(struct view_lines *out, enum view_attr a, const char *lead, int indent,
		    const char *text, int width)
{
	char buf[1024];
	const char *s = output_clean_string(text, true, buf, sizeof(buf));
	int room = width - indent > 20 ? width - indent : 20;

	do {
		int n = (int)strlen(s), cut = n;

		if (n > room) { /* bytes ~ columns: the text is mostly ASCII */
			for (cut = room; cut > 0 && s[cut] != ' '; cut--)
				;
			if (!cut)
				cut = room;
			while (cut < n && ((unsigned char)s[cut] & 0xc0) == 0x80)
				cut++; /* not inside a character */
		}
		view_lines_add(out, a, "%-*s%.*s", indent, lead, cut, s);
		lead = "";
		s += cut;
		while (*s == ' ')
			s++;
	} while (*s);
}

/* The available items, one line each; then, per distinct reason, one
 * line naming the unavailable ones. Returns how many were available. */
static int items(const struct ctx *c, const struct item *it, int n, struct view_lines *out)
{
	bool done[32] = { false };
	int shown = 0;

	for (int i = 0; i < n; i++) {
		const char *acc =
			pm_acc_name(c->p, it[i].acc_of != PM_NONE ? it[i].acc_of : it[i].id);
		char val[64];

		if (!pm_ok(c->p, it[i].id))
			continue;
		fmt_num(num(c->p, it[i].id), it[i].fmt, c->u, val, sizeof(val));
		view_lines_add(out, VA_NORMAL, ROW_FMT, it[i].label, val,
			       acc	   ? acc
			       : it[i].acc ? it[i].acc
					   : "");
		shown++;
	}
	for (int i = 0; i < n && i < N(done); i++) {
		const char *why = pm_reason(c->p, it[i].id);
		char names[256] = "";
		size_t o = 0;

		if (!why || done[i])
			continue;
		for (int k = i; k < n && k < N(done); k++)
			if (!done[k] && pm_reason(c->p, it[k].id) &&
			    !strcmp(pm_reason(c->p, it[k].id), why)) {
				done[k] = true;
				o += snprintf(names + o, o < sizeof(names) ? sizeof(names) - o : 0,
					      "%s%s", o ? ", " : "", it[k].name);
			}
		snprintf(names + o, o < sizeof(names) ? sizeof(names) - o : 0, ": unavailable");
		wrapped(out, VA_DIM, "  -", 4, names, c->width);
		wrapped(out, VA_DIM, "", 4, why, c->width);
	}
	return shown;
}

/* Memory: /proc and brk, on one line. */
static bool sec_memory(const struct ctx *c, struct view_lines *out, const char **why)
{
	char rss[32], anon[32], swap[32], brk[32], chg[40];

	if (!pm_ok(c->p, PM_RSS_BYTES) && !pm_ok(c->p, PM_BRK_BYTES)) {
		*why = pm_reason(c->p, PM_RSS_BYTES);
		return false;
	}
	fmt_num(num(c->p, PM_RSS_BYTES), F_BYTES, c->u, rss, sizeof(rss));
	fmt_num(num(c->p, PM_ANON_BYTES), F_BYTES, c->u, anon, sizeof(anon));
	fmt_num(num(c->p, PM_SWAP_BYTES), F_BYTES, c->u, swap, sizeof(swap));
	fmt_num(num(c->p, PM_BRK_BYTES), F_BYTES, c->u, brk, sizeof(brk));
	fmt_num(num(c->p, PM_RATE_RSS_BYTES), F_SBYTES_S, c->u, chg, sizeof(chg));
	heading(out, "Memory", "exact: /proc/PID/status; brk: tracepoint");
	view_lines_add(out, VA_NORMAL, "  RSS %s   anon %s   swap %s   brk heap %s   RSS change %s",
		       rss, anon, swap, brk, chg);
	return true;
}

static bool sec_heap(const struct ctx *c, struct view_lines *out, const char **why)
{
	static const struct item it[] = {
		{ "HEAP: arena bytes", "arena bytes", PM_HEAP_ARENA_BYTES, F_BYTES, NULL, PM_NONE },
		{ "arenas", "arenas", PM_HEAP_ARENAS, F_COUNT, "exact", PM_NONE },
		{ "LIVE: bytes in live blocks", "live bytes", PM_HEAP_LIVE_BYTES, F_BYTES, NULL,
		  PM_NONE },
		{ "live blocks", "live blocks", PM_HEAP_LIVE_BLOCKS, F_COUNT, NULL, PM_NONE },
		{ "raw-allocator blocks", "raw blocks", PM_HEAP_RAW_BLOCKS, F_COUNT, NULL,
		  PM_NONE },
		{ "arenas allocated (process)", "arenas allocated", PM_HEAP_ARENAS_ALLOCATED_TOTAL,
		  F_COUNT, NULL, PM_NONE },
	};
	const char *alloc = pm_str(c->p, PM_HEAP_ALLOCATOR);
	char title[96], src[200];

	if (!pm_ok(c->p, PM_HEAP_ARENA_BYTES)) {
		*why = pm_reason(c->p, PM_HEAP_ARENA_BYTES);
		return false;
	}
	snprintf(title, sizeof(title), "Python heap: %s", alloc ? alloc : "-");
	snprintf(src, sizeof(src), "%s; snapshot %.1f s old", pm_source(c->p, PM_HEAP_ARENA_BYTES),
		 pm_num(c->p, PM_HEAP_SNAPSHOT_AGE_SECONDS));
	heading(out, title, src);
	items(c, it, N(it), out);
	return true;
}

/* What holds the heap: the top types, estimated from sampled pools. */
static bool sec_types(const struct ctx *c, struct view_lines *out, const char **why)
{
	const struct pm_proc *p = c->p;
	char src[200], b[32], o[32], e[32], g[32], name[HT_NAME_LEN + 8];
	int shown = p->ntypes < 8 ? p->ntypes : 8;

	if (!pm_ok(p, PM_HEAP_TYPES) || !p->ntypes) {
		*why = pm_ok(p, PM_HEAP_TYPES) ? "no object in the sampled pools"
					       : pm_reason(p, PM_HEAP_TYPES);
		return false;
	}
	snprintf(src, sizeof(src), "%s from %.0f blocks in %.0f pools%s",
		 pm_acc_name(p, PM_HEAP_TYPES) ? pm_acc_name(p, PM_HEAP_TYPES) : "-",
		 pm_num(p, PM_HEAP_TYPES_SAMPLED_BLOCKS), pm_num(p, PM_HEAP_TYPES_SAMPLED_POOLS),
		 pm_ok(p, PM_HEAP_TYPES_GROWTH_SECONDS) ? "; growth: objects since the last minute"
							: "");
	heading(out, "Live heap by type", src);
	view_lines_add(out, VA_DIM, "  %-26s %9s %11s %9s %10s", "type", "bytes", "objects", "+-",
		       pm_ok(p, PM_HEAP_TYPES_GROWTH_SECONDS) ? "growth" : "");
	for (int i = 0; i < shown; i++) {
		const struct ht_entry *t = &p->types[i];

		view_bytes((struct view_val){ true, (double)t->bytes }, c->u, b, sizeof(b));
		snprintf(o, sizeof(o), "%llu", (unsigned long long)t->objects);
		snprintf(e, sizeof(e), "%llu", (unsigned long long)t->objects_error);
		output_clean_string(t->name, true, name, sizeof(name));
		if (t->growth_ok)
			snprintf(g, sizeof(g), "%+lld", (long long)t->growth);
		else
			snprintf(g, sizeof(g), "%s",
				 pm_ok(p, PM_HEAP_TYPES_GROWTH_SECONDS) ? "-" : "");
		view_lines_add(out, VA_NORMAL, "  %-26.26s %9s %11s %9s %10s", name, b, o, e, g);
	}
	fmt_num(num(p, PM_HEAP_TYPES_BUFFER_BYTES), F_BYTES, c->u, b, sizeof(b));
	fmt_num(num(p, PM_HEAP_TYPES_OTHER_BYTES), F_BYTES, c->u, o, sizeof(o));
	view_lines_add(out, VA_DIM, "  buffers (no object) %s, other types %s", b, o);
	for (int i = 0; i < p->ntypes; i++) {
		char hint[300];
		uint64_t saving;

		if (heaptypes_hint(&p->types[i], hint, sizeof(hint), &saving))
			view_lines_add(out, VA_NORMAL, "  hint: %s", hint);
	}
	return true;
}

static void gc_title(const struct ctx *c, struct view_lines *out)
{
	char rate[32], pct[32], title[300], buf[200];
	const char *src = pm_str(c->p, PM_PROBES_GC);
	const char *en = !pm_ok(c->p, PM_GC_ENABLED)	? ""
			 : pm_bool(c->p, PM_GC_ENABLED) ? ", enabled"
							: ", DISABLED (gc.disable())";

	fmt_num(num(c->p, PM_RATE_GC_COLLECTIONS), F_PER_S, c->u, rate, sizeof(rate));
	fmt_num(num(c->p, PM_RATE_GC_TIME_RATIO), F_PCT, c->u, pct, sizeof(pct));
	snprintf(title, sizeof(title), "Garbage collector%s%s%s: GC/s %s, GC%% %s%s",
		 src ? "  (" : "", src ? output_clean_string(src, true, buf, sizeof(buf)) : "",
		 src ? ")" : "", rate, pct, en);
	view_lines_add(out, VA_HEADING, "%s", title);
}

static void cell_idx(const struct pm_proc *p, enum pm_id id, int i, enum fmt f, char *buf,
		     size_t len)
{
	double v;
	bool ok = pm_elem(p, id, i, &v);

	fmt_num((struct view_val){ ok, ok ? v : 0 }, f, UNITS_AUTO, buf, len);
}

static bool sec_gc(const struct ctx *c, struct view_lines *out, const char **why)
{
	bool counts = pm_ok(c->p, PM_GC_COLLECTIONS_TOTAL),
	     state = pm_ok(c->p, PM_GC_GENERATION_COUNTS);
	const char *s;
	char buf[400];

	if (!counts && !state) {
		*why = pm_reason(c->p, PM_GC_COLLECTIONS_TOTAL);
		return false;
	}
	gc_title(c, out);
	view_lines_add(out, VA_DIM, "  %-5s %12s %12s %12s %8s %9s", "gen", "collections",
		       "collected", "pause total", "count", "threshold");
	for (int g = 0; g < PMT_NGEN; g++) {
		char k[32], col[32], t[32], n[32], th[32];

		cell_idx(c->p, PM_GC_COLLECTIONS_TOTAL, g, F_COUNT, k, sizeof(k));
		cell_idx(c->p, PM_GC_COLLECTED_TOTAL, g, F_COUNT, col, sizeof(col));
		cell_idx(c->p, PM_GC_SECONDS_TOTAL, g, F_SECONDS, t, sizeof(t));
		cell_idx(c->p, PM_GC_GENERATION_COUNTS, g, F_COUNT, n, sizeof(n));
		cell_idx(c->p, PM_GC_THRESHOLDS, g, F_COUNT, th, sizeof(th));
		view_lines_add(out, VA_NORMAL, "  %-5d %12s %12s %12s %8s %9s", g, k, col, t, n,
			       th);
	}
	if ((s = pm_str(c->p, PM_GC_MODEL)) && !strcmp(s, "incremental"))
		view_lines_add(out, VA_DIM, "  incremental GC: generation 1 counts its increments");
	if (!counts || !pm_ok(c->p, PM_GC_SECONDS_TOTAL))
		view_lines_add(
			out, VA_DIM, "  - %s: %s", counts ? "pause" : "collections, pause",
			output_clean_string(pm_reason(c->p, counts ? PM_GC_SECONDS_TOTAL
								   : PM_GC_COLLECTIONS_TOTAL),
					    true, buf, sizeof(buf)));
	if (!state)
		view_lines_add(out, VA_DIM, "  - count, threshold: %s",
			       output_clean_string(pm_reason(c->p, PM_GC_GENERATION_COUNTS), true,
						   buf, sizeof(buf)));
	return true;
}

static bool sec_alloc(const struct ctx *c, struct view_lines *out, const char **why)
{
	static const struct item it[] = {
		{ "ALLOC/s: bytes allocated", "bytes/s", PM_RATE_ALLOC_BYTES, F_BYTES_S, NULL,
		  PM_ALLOC_BYTES_TOTAL },
		{ "allocations", "allocations/s", PM_RATE_ALLOCS, F_PER_S, NULL, PM_ALLOCS_TOTAL },
		{ "frees", "frees/s", PM_RATE_FREES, F_PER_S, NULL, PM_FREES_TOTAL },
		{ "bytes since observed", "bytes", PM_ALLOC_BYTES_TOTAL, F_BYTES, NULL, PM_NONE },
		{ "allocations since observed", "allocations", PM_ALLOCS_TOTAL, F_COUNT, NULL,
		  PM_NONE },
		{ "reallocs since observed", "reallocs", PM_REALLOCS_TOTAL, F_COUNT, "exact",
		  PM_NONE },
		{ "frees since observed", "frees", PM_FREES_TOTAL, F_COUNT, NULL, PM_NONE },
	};
	const char *s;
	char buf[400];

	if (!pm_ok(c->p, PM_ALLOC_BYTES_TOTAL)) {
		*why = pm_reason(c->p, PM_ALLOC_BYTES_TOTAL);
		return false;
	}
	heading(out, "Allocation flow", pm_str(c->p, PM_PROBES_ALLOC));
	items(c, it, N(it), out);
	if ((s = pm_str(c->p, PM_PROBES_PRECISE_REASON)))
		view_lines_add(out, VA_ALERT, "  --precise refused: %s",
			       output_clean_string(s, true, buf, sizeof(buf)));
	return true;
}

static bool sec_growth(const struct ctx *c, struct view_lines *out, const char **why)
{
	static const struct item it[] = {
		{ "heap live bytes", "heap live bytes", PM_GROWTH_HEAP_SLOPE, F_SBYTES_S,
		  "estimated", PM_NONE },
		{ "RSS", "RSS", PM_GROWTH_RSS_SLOPE, F_SBYTES_S, "estimated", PM_NONE },
	};

	if (!pm_ok(c->p, PM_GROWTH_HEAP) && !pm_ok(c->p, PM_GROWTH_RSS)) {
		*why = pm_reason(c->p, PM_GROWTH_RSS);
		return false;
	}
	heading(out, "Growth", "least squares, last 60 s; ! marks a suspected leak");
	items(c, it, N(it), out);
	if (pm_bool(c->p, PM_GROWTH_HEAP_STEADY))
		view_lines_add(out, VA_ALERT, "  ! heap live bytes grow steadily: suspected leak");
	if (pm_bool(c->p, PM_GROWTH_RSS_STEADY))
		view_lines_add(out, VA_ALERT, "  ! RSS grows steadily: suspected leak");
	return true;
}

static bool sec_mm(const struct ctx *c, struct view_lines *out, const char **why)
{
	static const struct {
		const char *name;
		enum pm_id calls, bytes, rate;
	} rows[] = {
		{ "mmap", PM_MMAP_CALLS_TOTAL, PM_MMAP_BYTES_TOTAL, PM_RATE_MMAP_BYTES },
		{ "munmap", PM_MUNMAP_CALLS_TOTAL, PM_MUNMAP_BYTES_TOTAL, PM_RATE_MUNMAP_BYTES },
		{ "mremap grow", PM_MREMAP_CALLS_TOTAL, PM_MREMAP_GROW_BYTES_TOTAL, PM_NONE },
		{ "mremap shrink", PM_NONE, PM_MREMAP_SHRINK_BYTES_TOTAL, PM_NONE },
		{ "brk", PM_BRK_CALLS_TOTAL, PM_NONE, PM_NONE },
	};

	if (!pm_ok(c->p, PM_MMAP_CALLS_TOTAL)) {
		*why = pm_reason(c->p, PM_MMAP_CALLS_TOTAL);
		return false;
	}
	heading(out, "Memory system calls since observed", pm_str(c->p, PM_PROBES_MM));
	view_lines_add(out, VA_DIM, "  %-14s %12s %12s %12s", "call", "calls", "bytes", "bytes/s");
	for (int i = 0; i < N(rows); i++) {
		char k[32] = "", b[32] = "", r[32] = "";

		if (rows[i].calls != PM_NONE)
			fmt_num(num(c->p, rows[i].calls), F_COUNT, c->u, k, sizeof(k));
		if (rows[i].bytes != PM_NONE)
			fmt_num(num(c->p, rows[i].bytes), F_BYTES, c->u, b, sizeof(b));
		if (rows[i].rate != PM_NONE)
			fmt_num(num(c->p, rows[i].rate), F_BYTES_S, c->u, r, sizeof(r));
		view_lines_add(out, VA_NORMAL, "  %-14s %12s %12s %12s", rows[i].name, k, b, r);
	}
	return true;
}

static bool sec_history(const struct ctx *c, struct view_lines *out, const char **why)
{
	double t[HISTORY_SAMPLES], heap[HISTORY_SAMPLES], rss[HISTORY_SAMPLES];
	int n = c->hist ? history_get(c->hist, t, heap, rss) : 0;
	int cells = c->width - 30; /* name, min and max labels */
	const struct {
		const char *name;
		const double *v;
	} series[] = { { "HEAP", heap }, { "RSS", rss } };

	if (n < 2) {
		*why = "collecting: one sample per interval";
		return false;
	}
	heading(out, "History", NULL);
	view_lines_add(out, VA_DIM, "  last %.0f s, %d samples, one cell = max of its samples",
		       t[n - 1] - t[0], n);
	cells = cells < 8 ? 8 : cells > HISTORY_SAMPLES ? HISTORY_SAMPLES : cells;
	for (int i = 0; i < N(series); i++) {
		char line[HISTORY_SAMPLES * 3 + 1], lo[32], hi[32];
		double mn, mx;

		view_sparkline(series[i].v, n, cells, c->utf8, line, sizeof(line), &mn, &mx);
		view_bytes((struct view_val){ !isnan(mn), mn }, c->u, lo, sizeof(lo));
		view_bytes((struct view_val){ !isnan(mx), mx }, c->u, hi, sizeof(hi));
		view_lines_add(out, VA_NORMAL, "  %-5s %7s %s %s", series[i].name, lo, line, hi);
	}
	return true;
}

static bool class_row(const struct ctx *c, int i, struct view_lines *out)
{
	double lv = 0, al = 0, fr = 0;
	bool hl = pm_elem(c->p, PM_HEAP_SIZE_CLASSES, i, &lv);
	bool ha = pm_elem(c->p, PM_ALLOC_SIZE_CLASSES, i, &al);
	bool hf = pm_elem(c->p, PM_FREE_SIZE_CLASSES, i, &fr);
	char size[16], b[16], lb[32], a[32], f[32];

	if (!(hl && lv) && !(ha && al) && !(hf && fr))
		return false;
	if (i < PMT_NCLASSES)
		snprintf(size, sizeof(size), "%d", (i + 1) * 16);
	else
		snprintf(size, sizeof(size), "raw");
	fmt_num((struct view_val){ hl, lv }, F_COUNT, c->u, lb, sizeof(lb));
	view_bytes((struct view_val){ hl && i < PMT_NCLASSES, lv * (i + 1) * 16 }, c->u, b,
		   sizeof(b));
	fmt_num((struct view_val){ ha, al }, F_COUNT, c->u, a, sizeof(a));
	fmt_num((struct view_val){ hf, fr }, F_COUNT, c->u, f, sizeof(f));
	view_lines_add(out, VA_NORMAL, "  %-6d %7s %12s %10s %12s %12s", i, size, lb, b, a, f);
	return true;
}

static bool sec_classes(const struct ctx *c, struct view_lines *out, const char **why)
{
	struct view_lines rows = { 0 };

	for (int i = 0; i < PMT_NBUCKETS; i++)
		class_row(c, i, &rows);
	if (!rows.n) {
		*why = pm_reason(c->p, PM_HEAP_SIZE_CLASSES) ? pm_reason(c->p, PM_HEAP_SIZE_CLASSES)
							     : "no block in use";
		view_lines_free(&rows);
		return false;
	}
	heading(out, "Size classes",
		"live blocks from the heap snapshot; allocs/frees since observed");
	view_lines_add(out, VA_DIM, "  %-6s %7s %12s %10s %12s %12s", "class", "size",
		       "live blocks", "live", "allocs", "frees");
	for (int i = 0; i < rows.n; i++)
		view_lines_add(out, rows.v[i].attr, "%s", rows.v[i].text);
	view_lines_free(&rows);
	return true;
}

/* ---- allocation sites ------------------------------------------------------ */

/* "  bytes recent samples source site": the site text starts at
 * SITE_INDENT, callers ("<- ") 2 further; when that leaves a caller less
 * than SITE_TEXT_MIN columns, the site goes on a line of its own, 4 in. */
#define SITE_FMT      "  %8s %8s %8s %7s %-6s %s"
#define SITE_INDENT   (2 + 8 + 1 + 8 + 1 + 8 + 1 + 7 + 1 + 6 + 1)
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

static void detail_site(const struct pm_site *site, int width, enum view_units u,
			struct view_lines *out)
{
	bool own_line = width - SITE_INDENT - 5 < SITE_TEXT_MIN;
	int indent = own_line ? 4 : SITE_INDENT;
	char live[32], est[32], rec[32], cnt[32], text[SITE_TEXT_MAX];

	view_bytes((struct view_val){ site->live_ok, (double)site->live_bytes }, u, live,
		   sizeof(live));
	view_bytes((struct view_val){ true, (double)site->bytes }, u, est, sizeof(est));
	view_bytes((struct view_val){ true, (double)site->recent_bytes }, u, rec, sizeof(rec));
	snprintf(cnt, sizeof(cnt), "%llu", (unsigned long long)site->samples);
	sites_frame_text(&site->where, width - indent, text, sizeof(text));
	if (own_line) {
		/* narrow: the numbers without the margin, the site below */
		view_lines_add(out, VA_NORMAL, "%7s %7s %7s %6s %s", live, est, rec, cnt,
			       site_source(site->source));
		view_lines_add(out, VA_NORMAL, "%*s%s", indent, "", text);
	} else {
		view_lines_add(out, VA_NORMAL, SITE_FMT, live, est, rec, cnt,
			       site_source(site->source), text);
	}
	/* stack[0] is the site itself */
	for (int i = 1; i <= SITES_CALLERS && i < site->nframes; i++) {
		sites_frame_text(&site->stack[i], width - indent - 5, text, sizeof(text));
		view_lines_add(out, VA_DIM, "%*s<- %s", indent + 2, "", text);
	}
}

/* Where the heap grows: the heaviest sites, largest first, with their
 * callers. */
static bool sec_sites(const struct ctx *c, struct view_lines *out, const char **why)
{
	const struct pm_proc *p = c->p;
	double secs = pm_num(p, PM_SITES_RECENT_SECONDS);
	bool window = secs >= 0 && secs < 1e6;
	char bytes[32], recent[32] = "recent", buf[64];

	if (!pm_ok(p, PM_SITES)) {
		*why = pm_reason(p, PM_SITES);
		return false;
	}
	heading(out, "Allocation sites", pm_str(p, PM_SITES_SOURCE));
	if (!p->nsites) {
		view_lines_add(out, VA_DIM, "  no samples yet");
		return true;
	}
	fmt_num(num(p, PM_SITES_TOTAL_BYTES), F_BYTES, c->u, bytes, sizeof(bytes));
	if (window)
		snprintf(recent, sizeof(recent), "last %.0fs", secs);
	if (pm_ok(p, PM_SITES_TOTAL_RECENT_BYTES) && window) {
		fmt_num(num(p, PM_SITES_TOTAL_RECENT_BYTES), F_BYTES, c->u, buf, sizeof(buf));
		view_lines_add(out, VA_NORMAL, "  %s estimated from %.0f samples; %s: %s", bytes,
			       pm_num(p, PM_SITES_TOTAL_SAMPLES), recent, buf);
	} else {
		view_lines_add(out, VA_NORMAL, "  %s estimated from %.0f samples%s%s", bytes,
			       pm_num(p, PM_SITES_TOTAL_SAMPLES), window ? "; recent: " : "",
			       window ? recent : "");
	}
	if (pm_ok(p, PM_SITES_TOTAL_LIVE_BYTES)) {
		fmt_num(num(p, PM_SITES_TOTAL_LIVE_BYTES), F_BYTES, c->u, buf, sizeof(buf));
		view_lines_add(out, VA_NORMAL, "  %s still live in %.0f samples' objects", buf,
			       pm_num(p, PM_SITES_TOTAL_LIVE_SAMPLES));
	}
	view_lines_add(out, VA_DIM, SITE_FMT, "live", "bytes", recent, "samples", "source", "site");
	for (int i = 0; i < p->nsites; i++)
		detail_site(&p->sites[i], c->width, c->u, out);
	return true;
}

static const char *or_dash(const char *s)
{
	return s && *s ? s : "-";
}

/* The process itself: its full command line and interpreter build. */
static bool sec_process(const struct ctx *c, struct view_lines *out, const char **why)
{
	const struct pm_proc *p = c->p;
	char buf[600];

	(void)why;
	heading(out, "Process", NULL);
	view_lines_add(out, VA_NORMAL, "  cmdline: %s",
		       output_clean_string(or_dash(pm_str(p, PM_CMDLINE)), true, buf, sizeof(buf)));
	if (pm_ok(p, PM_CONTAINER) && *pm_str(p, PM_CONTAINER))
		view_lines_add(out, VA_NORMAL, "  container: %s", pm_str(p, PM_CONTAINER));
	if (!pm_ok(p, PM_PYTHON_BUILD))
		return true;
	view_lines_add(out, VA_DIM, "  build: %s libpython, %s, %s, layout %s%s",
		       or_dash(pm_str(p, PM_BUILD_LIBPYTHON)),
		       pm_bool(p, PM_BUILD_SYMTAB) ? "symbols" : "stripped",
		       pm_bool(p, PM_BUILD_USDT) ? "USDT" : "no USDT",
		       or_dash(pm_str(p, PM_BUILD_LAYOUT)),
		       pm_bool(p, PM_BUILD_DEBUG_OFFSETS) ? " (_Py_DebugOffsets)" : "");
	view_lines_add(
		out, VA_DIM, "  file: %s",
		output_clean_string(or_dash(pm_str(p, PM_BUILD_PATH)), true, buf, sizeof(buf)));
	return true;
}

static const struct section {
	const char *title;
	bool (*fn)(const struct ctx *c, struct view_lines *out, const char **why);
} sections[] = {
	/* one a line, in the order shown */
	// clang-format off
	{ "Memory", sec_memory },
	{ "Python heap", sec_heap },
	{ "Garbage collector", sec_gc },
	{ "Allocation flow", sec_alloc },
	{ "Live heap by type", sec_types },
	{ "Allocation sites", sec_sites },
	{ "Growth", sec_growth },
	{ "Memory system calls", sec_mm },
	{ "History", sec_history },
	{ "Size classes", sec_classes },
	{ "Process", sec_process },
	// clang-format on
};

static void detail_title(const struct pm_proc *p, struct view_lines *out)
{
	char buf[300], when[32], user[64];
	double st = pm_num(p, PM_START_TIME);
	time_t t0 = isnan(st) ? 0 : (time_t)st;
	struct tm tm;

	snprintf(when, sizeof(when), "-");
	if (!isnan(st) && localtime_r(&t0, &tm))
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
	view_lines_add(out, VA_TITLE, "PID %lld%s  user %s  Python %s  started %s",
		       (long long)pm_get(p, PM_PID)->i, pm_bool(p, PM_EXITED) ? " <exited>" : "",
		       output_clean_string(or_dash(pm_str(p, PM_USER)), true, user, sizeof(user)),
		       or_dash(pm_str(p, PM_PYTHON_VERSION)), when);
	view_lines_add(out, VA_NORMAL, "command: %s",
		       output_clean_string(or_dash(pm_str(p, PM_COMMAND)), true, buf, sizeof(buf)));
}

void view_detail(const struct pm_proc *p, const struct history *hist, int width, bool utf8,
		 enum view_units u, struct view_lines *out)
{
	const struct ctx c = { p, hist, width, utf8, u };
	const char *why[N(sections)] = { NULL };
	bool shown[N(sections)];
	char lead[32];
	int missing = 0;

	detail_title(p, out);
	for (int i = 0; i < N(sections); i++)
		if (!(shown[i] = sections[i].fn(&c, out, &why[i])))
			missing++;
	if (!missing)
		return;
	heading(out, "Unavailable", NULL);
	for (int i = 0; i < N(sections); i++)
		if (!shown[i]) {
			snprintf(lead, sizeof(lead), "  %s", sections[i].title);
			wrapped(out, VA_DIM, lead, 23, why[i] ? why[i] : "unavailable", width);
		}
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
