// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "collector.h"
#include "jsonw.h"
#include "output.h"
#include "procfs.h"
#include "rate.h"
#include "sitesreport.h"

#define NS_PER_S 1e9

/* Length of the valid UTF-8 sequence at s, or 0 (RFC 3629: no overlong
 * forms, no surrogates, nothing above U+10FFFF). */
static size_t utf8_seq_len(const unsigned char *s)
{
	unsigned char c = s[0];
	unsigned char lo = 0x80, hi = 0xbf;
	size_t n;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4;
	else
		return 0;
	if (c == 0xe0)
		lo = 0xa0;
	else if (c == 0xed)
		hi = 0x9f;
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return n;
}

/* C0, DEL and C1 controls: a terminal would act on them. */
static bool is_control(const unsigned char *s, size_t n)
{
	return (n == 1 && (s[0] < 0x20 || s[0] == 0x7f)) || (n == 2 && s[0] == 0xc2 && s[1] < 0xa0);
}

const char *output_clean_string(const char *in, bool text, char *buf, size_t len)
{
	static const char repl[] = "\xef\xbf\xbd"; /* U+FFFD */
	const unsigned char *s = (const unsigned char *)in;
	size_t o = 0;

	while (*s) {
		size_t n = utf8_seq_len(s);
		const char *piece = (const char *)s;
		size_t plen = n;

		if (!n) {
			piece = repl;
			plen = 3;
			n = 1;
		} else if (text && is_control(s, n)) {
			piece = "?";
			plen = 1;
		}
		if (o + plen >= len)
			break;
		memcpy(buf + o, piece, plen);
		o += plen;
		s += n;
	}
	buf[o] = '\0';
	return buf;
}

static int sites_top = 10;

void output_sites_top(int n)
{
	sites_top = n > 0 ? n : 10;
}

int output_models(const struct table *t, int sites_top, struct frame_models *m)
{
	int err = 0;

	m->n = 0;
	m->p = calloc(t->count ? t->count : 1, sizeof(*m->p));
	if (!m->p)
		return -ENOMEM;
	for (const struct proc_entry *e = t->head; e && m->n < t->count; e = e->next)
		if (model_build(e, sites_top, &m->p[m->n++]))
			err = -ENOMEM; /* the model stands without its sites */
	return err;
}

void output_models_free(struct frame_models *m)
{
	for (int i = 0; i < m->n; i++)
		model_free(&m->p[i]);
	free(m->p);
	m->p = NULL;
	m->n = 0;
}

/* Frame-level JSON: each json_object_new_* result checked (jsonw.h). */
static struct json_object *drops_json(struct jw *w, const struct frame *fr)
{
	struct json_object *d = jw_obj(w);
	const struct table *t = fr->table;

	for (int i = 0; i < PMT_DROP_NR; i++)
		jw_put(w, d, collector_drop_name(i), jw_u64(w, fr->drops[i]));
	jw_put(w, d, "proc_read_failed", jw_u64(w, t->read_failures));
	jw_put(w, d, "gc_attach_failed", jw_u64(w, t->attach_failures));
	jw_put(w, d, "heap_attach_failed", jw_u64(w, t->heap_attach_failures));
	jw_put(w, d, "out_of_memory", jw_u64(w, t->out_of_memory));
	return d;
}

/* pymemtop's own snapshot work, cumulative since start. */
static struct json_object *snapshots_json(struct jw *w, const struct table *t)
{
	const struct pyheap_stats *s = &t->heap_stats;
	struct json_object *o = jw_obj(w);

	jw_put(w, o, "total", jw_u64(w, s->snapshots));
	jw_put(w, o, "dropped", jw_u64(w, s->dropped));
	jw_put(w, o, "retries", jw_u64(w, s->retries));
	jw_put(w, o, "deferred", jw_u64(w, s->deferred));
	jw_put(w, o, "mean_seconds",
	       s->snapshots ? jw_double(w, (double)s->read_ns / s->snapshots / NS_PER_S, "%.9f")
			    : NULL);
	return o;
}

static struct json_object *processes_json(struct jw *w, const struct frame_models *m)
{
	struct json_object *a = jw_arr(w, m->n);

	for (int i = 0; a && i < m->n; i++)
		jw_append(w, a, jw_chk(w, model_json(&m->p[i])));
	return a;
}

static struct json_object *frame_json(struct jw *w, const struct frame *fr,
				      const struct frame_models *m)
{
	struct json_object *root = jw_obj(w), *pc = NULL;

	jw_put(w, root, "time", jw_double(w, fr->time, "%.6f"));
	jw_put(w, root, "interval_s", jw_double(w, fr->interval_s, "%.6f"));
	jw_put(w, root, "processes", processes_json(w, m));
	jw_put(w, root, "drops", drops_json(w, fr));
	jw_put(w, root, "heap_snapshots", snapshots_json(w, fr->table));
	if (fr->table->precise_cost_ok) {
		pc = jw_obj(w);
		jw_put(w, pc, "alloc_call_seconds",
		       jw_double(w, fr->table->precise_alloc_s, "%.9f"));
		jw_put(w, pc, "free_call_seconds", jw_double(w, fr->table->precise_free_s, "%.9f"));
	}
	jw_put(w, root, "precise_cost", pc);
	return root;
}

/* The frame's models, or ones built for this call into *own. */
static const struct frame_models *models_of(const struct frame *fr, struct frame_models *own)
{
	if (fr->models)
		return fr->models;
	output_models(fr->table, sites_top, own);
	return own;
}

int output_json(FILE *f, const struct frame *fr)
{
	struct frame_models own = { 0 };
	const struct frame_models *m = models_of(fr, &own);
	struct jw w = { false };
	struct json_object *root = m->p ? frame_json(&w, fr, m) : NULL;
	int err = 0;

	if (w.oom || !root)
		err = -ENOMEM;
	else if (fputs(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN |
								    JSON_C_TO_STRING_NOSLASHESCAPE),
		       f) < 0 ||
		 fputc('\n', f) == EOF || fflush(f))
		err = -errno;
	json_object_put(root);
	output_models_free(&own);
	return err;
}

void output_human_bytes(double v, char *buf, size_t len)
{
	static const char units[] = "BKMGTP";
	int u = 0;

	while (fabs(v) >= 1024 && u < 5) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%.0f%c", v, units[u]);
	else
		snprintf(buf, len, fabs(v) < 10 ? "%.1f%c" : "%.0f%c", v, units[u]);
}

/* The -b table: its columns, each a field of the model. */
enum text_fmt { T_PID, T_NAME, T_BYTES, T_RATE, T_PCT, T_GEN, T_CMD };

static const struct text_col {
	const char *head;
	int width; /* negative: left-aligned */
	enum pm_id id;
	int idx; /* vectors: the entry */
	enum text_fmt fmt;
} text_cols[] = {
	{ "PID", 7, PM_PID, 0, T_PID },
	{ "USER", -8, PM_USER, 0, T_NAME },
	{ "PY", -8, PM_PYTHON_VERSION, 0, T_NAME },
	{ "RSS", 6, PM_RSS_BYTES, 0, T_BYTES },
	{ "ANON", 6, PM_ANON_BYTES, 0, T_BYTES },
	{ "SWAP", 6, PM_SWAP_BYTES, 0, T_BYTES },
	{ "BRK", 6, PM_BRK_BYTES, 0, T_BYTES },
	{ "MMAP/s", 7, PM_RATE_MMAP_BYTES, 0, T_BYTES },
	{ "UNMAP/s", 7, PM_RATE_MUNMAP_BYTES, 0, T_BYTES },
	{ "GC/s", 6, PM_RATE_GC_COLLECTIONS, 0, T_RATE },
	{ "GC%", 5, PM_RATE_GC_TIME_RATIO, 0, T_PCT },
	{ "GC0", 6, PM_GC_COLLECTIONS_TOTAL, 0, T_GEN },
	{ "GC1", 5, PM_GC_COLLECTIONS_TOTAL, 1, T_GEN },
	{ "GC2", 4, PM_GC_COLLECTIONS_TOTAL, 2, T_GEN },
	{ "COMMAND", 0, PM_COMMAND, 0, T_CMD },
};

#define NCOLS (int)(sizeof(text_cols) / sizeof(text_cols[0]))

bool output_text_column(int i, const char **head, enum pm_id *field)
{
	if (i < 0 || i >= NCOLS)
		return false;
	*head = text_cols[i].head;
	*field = text_cols[i].id;
	return true;
}

static void text_cell(const struct pm_proc *p, const struct text_col *c, char *buf, size_t len)
{
	double v = pm_num(p, c->id);
	uint64_t g;

	snprintf(buf, len, "-");
	switch (c->fmt) {
	case T_PID:
		snprintf(buf, len, "%lld", (long long)pm_get(p, c->id)->i);
		break;
	case T_NAME:
		if (pm_str(p, c->id) && *pm_str(p, c->id))
			snprintf(buf, len, "%s", pm_str(p, c->id));
		break;
	case T_BYTES:
		if (!isnan(v))
			output_human_bytes(v, buf, len);
		break;
	case T_RATE:
		if (!isnan(v))
			snprintf(buf, len, "%.1f", v);
		break;
	case T_PCT:
		if (!isnan(v))
			snprintf(buf, len, "%.1f", v * 100);
		break;
	case T_GEN:
		if (pm_elem_u64(p, c->id, c->idx, &g))
			snprintf(buf, len, "%llu", (unsigned long long)g);
		break;
	case T_CMD:
		output_clean_string(pm_str(p, c->id) ? pm_str(p, c->id) : "", true, buf, len);
		break;
	}
}

static void text_row(FILE *f, const struct pm_proc *p)
{
	char cell[TABLE_CMDLINE_LEN];

	for (int i = 0; i < NCOLS; i++) {
		const struct text_col *c = &text_cols[i];

		text_cell(p, c, cell, sizeof(cell));
		if (c->fmt == T_CMD)
			fprintf(f, "%s%s\n", pm_bool(p, PM_EXITED) ? "<exited> " : "", cell);
		else
			fprintf(f, "%*.*s ", c->width, c->width < 0 ? -c->width : 64, cell);
	}
}

static int cmp_rss(const void *a, const void *b)
{
	const struct pm_proc *x = *(const struct pm_proc *const *)a;
	const struct pm_proc *y = *(const struct pm_proc *const *)b;
	uint64_t rx = pm_ok(x, PM_RSS_BYTES) ? pm_get(x, PM_RSS_BYTES)->u : 0;
	uint64_t ry = pm_ok(y, PM_RSS_BYTES) ? pm_get(y, PM_RSS_BYTES)->u : 0;

	if (rx != ry)
		return rx < ry ? 1 : -1;
	return (int)(pm_get(x, PM_PID)->i - pm_get(y, PM_PID)->i);
}

/* The models in a new array of pointers, sorted by cmp. */
static const struct pm_proc **sorted(const struct frame_models *m,
				     int (*cmp)(const void *, const void *))
{
	const struct pm_proc **rows = calloc(m->n ? m->n : 1, sizeof(*rows));

	if (!rows)
		return NULL;
	for (int i = 0; i < m->n; i++)
		rows[i] = &m->p[i];
	qsort(rows, m->n, sizeof(*rows), cmp);
	return rows;
}

static void text_header(FILE *f, const struct frame *fr, int n)
{
	const struct table *t = fr->table;
	uint64_t drops = t->read_failures;
	char tbuf[32];
	time_t now = (time_t)fr->time;
	struct tm tm;

	for (int i = 0; i < PMT_DROP_NR; i++)
		drops += fr->drops[i];
	localtime_r(&now, &tm);
	strftime(tbuf, sizeof(tbuf), "%H:%M:%S", &tm);
	fprintf(f, "pymemtop - %s  interval %.2fs  python processes: %d  dropped events: %llu\n",
		tbuf, fr->interval_s, n, (unsigned long long)drops);
	for (int i = 0; i < NCOLS; i++)
		if (text_cols[i].fmt == T_CMD)
			fprintf(f, "%s\n", text_cols[i].head);
		else
			fprintf(f, "%*s ", text_cols[i].width, text_cols[i].head);
}

int output_text(FILE *f, const struct frame *fr)
{
	struct frame_models own = { 0 };
	const struct frame_models *m = models_of(fr, &own);
	const struct pm_proc **rows = m->p ? sorted(m, cmp_rss) : NULL;

	if (!rows) {
		output_models_free(&own);
		return -ENOMEM;
	}
	text_header(f, fr, m->n);
	for (int i = 0; i < m->n; i++)
		text_row(f, rows[i]);
	fputc('\n', f);
	free(rows);
	output_models_free(&own);
	return fflush(f) ? -errno : 0;
}

/* Most sampled bytes first; processes without sites last. */
static int cmp_sampled_desc(const void *pa, const void *pb)
{
	const struct pm_proc *x = *(const struct pm_proc *const *)pa;
	const struct pm_proc *y = *(const struct pm_proc *const *)pb;
	int64_t a =
		pm_ok(x, PM_SITES_TOTAL_BYTES) ? (int64_t)pm_get(x, PM_SITES_TOTAL_BYTES)->u : -1;
	int64_t b =
		pm_ok(y, PM_SITES_TOTAL_BYTES) ? (int64_t)pm_get(y, PM_SITES_TOTAL_BYTES)->u : -1;

	if (a != b)
		return a < b ? 1 : -1;
	return (int)(pm_get(x, PM_PID)->i - pm_get(y, PM_PID)->i);
}

int output_sites_reports(FILE *f, const struct frame *fr, int top, uint64_t *out_of_memory)
{
	struct frame_models own = { 0 };
	const struct frame_models *m = models_of(fr, &own);
	const struct pm_proc **rows = m->p ? sorted(m, cmp_sampled_desc) : NULL;
	int err = 0;

	if (!rows) {
		output_models_free(&own);
		(*out_of_memory)++;
		fprintf(stderr, "pymemtop: --sites: out of memory: no report this frame\n");
		return 0;
	}
	for (int i = 0; i < m->n && !err; i++)
		if (!pm_bool(rows[i], PM_EXITED))
			err = sites_report(f, rows[i], top);
	free(rows);
	output_models_free(&own);
	if (!err && fflush(f))
		err = -errno;
	return err;
}
