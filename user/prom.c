// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#define _GNU_SOURCE /* open_memstream */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "output.h"
#include "prom.h"
#include "table.h"

/* Per-process values, summed per group: counters first. */
enum val {
	V_ALLOC_BYTES,
	V_ALLOCS,
	V_GC_COLL, /* 3 generations each */
	V_GC_OBJ = V_GC_COLL + 3,
	V_GC_SEC = V_GC_OBJ + 3,
	V_MMAP = V_GC_SEC + 3,
	V_MUNMAP,
	V_NCOUNTERS,
	V_RSS = V_NCOUNTERS,
	V_HEAP,
	V_LIVE,
	V_BLOCKS,
	V_BRK,
	V_NR,
};

/* Where each value is in a process's model (idx: vector entry, or -1). */
static const struct src {
	enum pm_id id;
	int idx;
} srcs[V_NR] = {
	[V_ALLOC_BYTES] = { PM_ALLOC_BYTES_TOTAL, -1 },
	[V_ALLOCS] = { PM_ALLOCS_TOTAL, -1 },
	[V_GC_COLL] = { PM_GC_COLLECTIONS_TOTAL, 0 },
	[V_GC_COLL + 1] = { PM_GC_COLLECTIONS_TOTAL, 1 },
	[V_GC_COLL + 2] = { PM_GC_COLLECTIONS_TOTAL, 2 },
	[V_GC_OBJ] = { PM_GC_COLLECTED_TOTAL, 0 },
	[V_GC_OBJ + 1] = { PM_GC_COLLECTED_TOTAL, 1 },
	[V_GC_OBJ + 2] = { PM_GC_COLLECTED_TOTAL, 2 },
	[V_GC_SEC] = { PM_GC_SECONDS_TOTAL, 0 },
	[V_GC_SEC + 1] = { PM_GC_SECONDS_TOTAL, 1 },
	[V_GC_SEC + 2] = { PM_GC_SECONDS_TOTAL, 2 },
	[V_MMAP] = { PM_MMAP_BYTES_TOTAL, -1 },
	[V_MUNMAP] = { PM_MUNMAP_BYTES_TOTAL, -1 },
	[V_RSS] = { PM_RSS_BYTES, -1 },
	[V_HEAP] = { PM_HEAP_ARENA_BYTES, -1 },
	[V_LIVE] = { PM_HEAP_LIVE_BYTES, -1 },
	[V_BLOCKS] = { PM_HEAP_LIVE_BLOCKS, -1 },
	[V_BRK] = { PM_BRK_BYTES, -1 },
};

/* A value: an integer (counters of bytes and events, exact above 2^53)
 * or, for the fields that are floats (seconds), a double. */
struct num {
	uint64_t u;
	double d;
};

struct group {
	char name[PROM_GROUP_LEN], container[PROM_CONTAINER_LEN];
	struct num gone[V_NCOUNTERS]; /* last values of processes that have gone */
	bool gone_has[V_NCOUNTERS];
	struct num out[V_NCOUNTERS]; /* what was exported: never goes down */
	bool out_has[V_NCOUNTERS];
	struct num sum[V_NR]; /* this frame */
	bool has[V_NR];
	int procs, steady;
	double last_seen; /* unix seconds a process of it was last seen */
};

/* A process seen before: its last value of each counter (a value that
 * becomes null later keeps counting as its last one). */
struct pstate {
	int pid;
	double start;
	int group;
	struct num last[V_NCOUNTERS];
	bool has[V_NCOUNTERS];
	bool seen;
};

/* One type's bytes in one group this frame (--prom-types). */
struct gtype {
	int group;
	char name[HT_NAME_LEN];
	uint64_t bytes;
};

struct prom {
	int max_pids, max_sites, max_types;
	struct gtype *tys;
	int ntys, captys;
	struct group *g;
	int ng;
	struct pstate *ps;
	int nps;
	/* this frame's largest processes: copies of their models (the
	 * frame's go before prom_render may be called) */
	struct pm_proc *top;
	int ntop;
};

struct prom *prom_new(int max_pids, int max_sites)
{
	struct prom *p = calloc(1, sizeof(*p));

	if (p) {
		p->max_pids = max_pids > 0 ? max_pids : 0;
		p->max_sites = max_sites > 0 ? max_sites : 0;
	}
	return p;
}

static void release_top(struct prom *p)
{
	for (int i = 0; i < p->ntop; i++)
		model_free(&p->top[i]);
	p->ntop = 0;
}

void prom_set_types(struct prom *p, int n)
{
	p->max_types = n > 0 ? n : 0;
}

void prom_free(struct prom *p)
{
	if (!p)
		return;
	free(p->tys);
	release_top(p);
	free(p->top);
	free(p->g);
	free(p->ps);
	free(p);
}

/* ---- groups ---------------------------------------------------------------- */

static const char *base_name(const char *s, size_t n, size_t *outn)
{
	const char *b = s;

	for (size_t i = 0; i < n; i++)
		if (s[i] == '/')
			b = s + i + 1;
	*outn = n - (b - s);
	return b;
}

void prom_group(const char *command, char *out, size_t outlen)
{
	const char *s = command ? command : "";
	size_t n, bn;
	const char *b;

	if (!outlen)
		return;
	while (*s == ' ')
		s++;
	if (!strncmp(s, "-m ", 3)) /* -m module: the module */
		for (s += 3; *s == ' '; s++)
			;
	n = strcspn(s, " ");
	/* a title such as "[celeryd: celery@web1:MainProcess]": not "[comm]" */
	if (n > 1 && s[0] == '[' && s[n - 1] != ']') {
		s++;
		n--;
	}
	if (n && s[n - 1] == ':') /* setproctitle: "gunicorn: worker [app]" */
		n--;
	b = base_name(s, n, &bn);
	if (!bn) {
		snprintf(out, outlen, "%s", "unknown");
		return;
	}
	if (bn >= outlen)
		bn = outlen - 1;
	if (bn >= PROM_GROUP_LEN)
		bn = PROM_GROUP_LEN - 1;
	/* never cut inside a UTF-8 sequence */
	while (bn && ((unsigned char)b[bn] & 0xc0) == 0x80)
		bn--;
	memcpy(out, b, bn);
	out[bn] = '\0';
}

/* A label value from the process (its command line, its files): valid
 * UTF-8, as the exposition formats require, into buf ("" for none). */
static const char *label(const struct pm_proc *o, enum pm_id id, char *buf, size_t len)
{
	const char *s = pm_str(o, id);

	return output_clean_string(s ? s : "", false, buf, len);
}

static int find_group(struct prom *p, const char *name, const char *full_container)
{
	char container[PROM_CONTAINER_LEN];
	struct group *g;

	/* compared as stored: a longer label must not make a new group per frame */
	snprintf(container, sizeof(container), "%s", full_container);
	for (int i = 0; i < p->ng; i++)
		if (!strcmp(p->g[i].name, name) && !strcmp(p->g[i].container, container))
			return i;
	g = realloc(p->g, (p->ng + 1) * sizeof(*g));
	if (!g)
		return -1;
	p->g = g;
	g = &p->g[p->ng];
	memset(g, 0, sizeof(*g));
	snprintf(g->name, sizeof(g->name), "%s", name);
	snprintf(g->container, sizeof(g->container), "%s", container);
	return p->ng++;
}

/* ---- folding frames in -------------------------------------------------- */

static bool is_float(const struct src *s)
{
	return pm_fields[s->id].type == PM_T_F64 || pm_fields[s->id].type == PM_T_F64V;
}

/* The value of s in a process's model; false when it is unavailable. */
static bool pval(const struct pm_proc *o, const struct src *s, struct num *v)
{
	const struct pm_val *x = pm_get(o, s->id);
	double d;

	*v = (struct num){ 0, 0 };
	if (!x->ok)
		return false;
	if (s->idx >= 0) {
		if (is_float(s))
			return pm_elem(o, s->id, s->idx, &v->d) && isfinite(v->d);
		if (pm_fields[s->id].type == PM_T_U64V)
			return pm_elem_u64(o, s->id, s->idx, &v->u);
		return pm_elem(o, s->id, s->idx, &d) && d >= 0 && (v->u = (uint64_t)d, true);
	}
	if (is_float(s)) {
		v->d = x->d;
		return isfinite(v->d);
	}
	if (pm_fields[s->id].type == PM_T_I64) {
		v->u = x->i > 0 ? (uint64_t)x->i : 0;
		return x->i >= 0;
	}
	v->u = x->u;
	return true;
}

static void add_num(struct num *a, const struct num *b)
{
	a->u = a->u + b->u < a->u ? UINT64_MAX : a->u + b->u; /* saturates */
	a->d += b->d;
}

/* a > b, in the value's own type. */
static bool num_above(const struct num *a, const struct num *b, bool flt)
{
	return flt ? a->d > b->d : a->u > b->u;
}

static struct pstate *find_ps(struct prom *p, int pid, double start, int group)
{
	struct pstate *ps;

	for (int i = 0; i < p->nps; i++)
		if (p->ps[i].pid == pid && p->ps[i].start == start)
			return &p->ps[i];
	ps = realloc(p->ps, (p->nps + 1) * sizeof(*ps));
	if (!ps)
		return NULL;
	p->ps = ps;
	ps = &p->ps[p->nps++];
	memset(ps, 0, sizeof(*ps));
	ps->pid = pid;
	ps->start = start;
	ps->group = group;
	return ps;
}

/* The process has gone: its last values stay in its group. */
static void retire(struct prom *p, int i)
{
	struct pstate *ps = &p->ps[i];
	struct group *g = &p->g[ps->group];

	for (int v = 0; v < V_NCOUNTERS; v++)
		if (ps->has[v]) {
			add_num(&g->gone[v], &ps->last[v]);
			g->gone_has[v] = true;
		}
	p->ps[i] = p->ps[--p->nps];
}

static int cmp_rss(const void *a, const void *b)
{
	static const struct src rss = { PM_RSS_BYTES, -1 };
	struct num x, y;

	pval(*(const struct pm_proc *const *)a, &rss, &x);
	pval(*(const struct pm_proc *const *)b, &rss, &y);
	return x.u < y.u ? 1 : x.u > y.u ? -1 : 0;
}

static void pick_top(struct prom *p, const struct pm_proc *procs, int n)
{
	const struct pm_proc **live;
	int nl = 0;

	release_top(p);
	if (!p->max_pids || !n)
		return;
	live = malloc(n * sizeof(*live));
	if (!live)
		return;
	for (int i = 0; i < n; i++)
		if (!pm_bool(&procs[i], PM_EXITED))
			live[nl++] = &procs[i];
	qsort(live, nl, sizeof(*live), cmp_rss);
	if (nl > p->max_pids)
		nl = p->max_pids;
	free(p->top);
	p->top = calloc(nl > 0 ? (size_t)nl : 1, sizeof(*p->top));
	for (int i = 0; p->top && i < nl; i++, p->ntop++)
		if (model_copy(&p->top[i], live[i])) {
			model_free(&p->top[i]); /* out of memory: the series end here */
			break;
		}
	free(live);
}

/* Fold one process's values into its group and its own state. */
static void fold_proc(struct prom *p, const struct pm_proc *o, double now)
{
	char name[PROM_GROUP_LEN], cmd[3 * TABLE_CMDLINE_LEN], cont[PROM_CONTAINER_LEN * 3];
	const char *container = label(o, PM_CONTAINER, cont, sizeof(cont));
	bool exited = pm_bool(o, PM_EXITED);
	double start = pm_ok(o, PM_START_TIME) ? pm_get(o, PM_START_TIME)->d : 0;
	struct num v;
	struct pstate *ps;
	struct group *g;
	int gi;

	prom_group(label(o, PM_COMMAND, cmd, sizeof(cmd)), name, sizeof(name));
	gi = find_group(p, name, container);
	if (gi < 0)
		return;
	g = &p->g[gi];
	ps = find_ps(p, (int)pm_get(o, PM_PID)->i, start, gi);
	if (!ps)
		return;
	ps->seen = true;
	g->last_seen = now;
	for (int k = 0; k < V_NCOUNTERS; k++)
		if (pval(o, &srcs[k], &v)) {
			ps->last[k] = v;
			ps->has[k] = true;
		}
	if (exited) {
		retire(p, (int)(ps - p->ps));
		return;
	}
	g->procs++;
	g->steady += pm_bool(o, PM_GROWTH_HEAP_STEADY) ||
		     (!pval(o, &srcs[V_LIVE], &v) && pm_bool(o, PM_GROWTH_RSS_STEADY));
	for (int k = V_NCOUNTERS; k < V_NR; k++)
		if (pval(o, &srcs[k], &v)) {
			add_num(&g->sum[k], &v);
			g->has[k] = true;
		}
}

/* What each group's counters say now: never less than before. */
static void counters_out(struct prom *p)
{
	for (int i = 0; i < p->nps; i++) {
		struct pstate *ps = &p->ps[i];

		for (int k = 0; k < V_NCOUNTERS; k++)
			if (ps->has[k]) {
				add_num(&p->g[ps->group].sum[k], &ps->last[k]);
				p->g[ps->group].has[k] = true;
			}
	}
	for (int i = 0; i < p->ng; i++) {
		struct group *g = &p->g[i];

		for (int k = 0; k < V_NCOUNTERS; k++) {
			struct num v = g->sum[k];

			if (!g->has[k] && !g->gone_has[k])
				continue;
			add_num(&v, &g->gone[k]);
			if (!g->out_has[k] || num_above(&v, &g->out[k], is_float(&srcs[k])))
				g->out[k] = v; /* monotonic, whatever happens */
			g->out_has[k] = true;
		}
	}
}

static int cmp_gtype(const void *a, const void *b)
{
	const struct gtype *x = a, *y = b;

	if (x->group != y->group)
		return x->group - y->group;
	return x->bytes > y->bytes ? -1 : x->bytes < y->bytes;
}

/* --prom-types: the bytes of each type over each group's running
 * processes (heap_types), for the groups as they stand after the frame. */
static void add_type(struct prom *p, int group, const struct ht_entry *t)
{
	struct gtype *g;

	for (int i = 0; i < p->ntys; i++)
		if (p->tys[i].group == group && !strcmp(p->tys[i].name, t->name)) {
			p->tys[i].bytes += t->bytes;
			return;
		}
	if (p->ntys == p->captys) {
		int cap = p->captys ? 2 * p->captys : 64;

		if (!(g = realloc(p->tys, cap * sizeof(*g))))
			return; /* out of memory: this type's series misses a frame */
		p->tys = g;
		p->captys = cap;
	}
	g = &p->tys[p->ntys++];
	g->group = group;
	g->bytes = t->bytes;
	output_clean_string(t->name, false, g->name, sizeof(g->name));
}

static void fold_types(struct prom *p, const struct pm_proc *procs, int n)
{
	p->ntys = 0;
	for (int i = 0; p->max_types && i < n; i++) {
		const struct pm_proc *o = &procs[i];
		char name[PROM_GROUP_LEN], cmd[3 * TABLE_CMDLINE_LEN], cont[PROM_CONTAINER_LEN * 3];
		int gi;

		if (pm_bool(o, PM_EXITED) || !pm_ok(o, PM_HEAP_TYPES))
			continue;
		prom_group(label(o, PM_COMMAND, cmd, sizeof(cmd)), name, sizeof(name));
		gi = find_group(p, name, label(o, PM_CONTAINER, cont, sizeof(cont)));
		for (int k = 0; gi >= 0 && k < o->ntypes; k++)
			add_type(p, gi, &o->types[k]);
	}
	qsort(p->tys, p->ntys, sizeof(*p->tys), cmp_gtype); /* per group, largest first */
}

void prom_update(struct prom *p, const struct pm_proc *procs, int n, double now)
{
	int kept = 0;

	for (int i = 0; i < p->ng; i++) {
		memset(p->g[i].sum, 0, sizeof(p->g[i].sum));
		memset(p->g[i].has, 0, sizeof(p->g[i].has));
		p->g[i].procs = p->g[i].steady = 0;
	}
	for (int i = 0; i < p->nps; i++)
		p->ps[i].seen = false;
	for (int i = 0; i < n; i++)
		fold_proc(p, &procs[i], now);
	/* missing from the frame without an exit report: gone all the same */
	for (int i = 0; i < p->nps;)
		if (!p->ps[i].seen)
			retire(p, i);
		else
			i++;
	counters_out(p);
	pick_top(p, procs, n);
	/* forget groups empty for a while (their series end) */
	for (int i = 0; i < p->ng; i++) {
		bool live = p->g[i].procs > 0;

		for (int k = 0; k < p->nps && !live; k++)
			live = p->ps[k].group == i;
		if (live || now - p->g[i].last_seen < PROM_GROUP_KEEP_S) {
			for (int k = 0; k < p->nps; k++)
				if (p->ps[k].group == i)
					p->ps[k].group = kept;
			if (kept != i)
				p->g[kept] = p->g[i];
			kept++;
		}
	}
	p->ng = kept;
	fold_types(p, procs, n);
}

/* ---- rendering ------------------------------------------------------------ */

static void put_escaped(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\')
			fputs("\\\\", f);
		else if (*s == '"')
			fputs("\\\"", f);
		else if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
}

static void put_num(FILE *f, double v)
{
	if (v == floor(v) && fabs(v) < 1e15)
		fprintf(f, "%.0f", v);
	else
		fprintf(f, "%.17g", v);
}

/* Integers as integers, all 64 bits of them; floats as put_num. */
static void put_val(FILE *f, const struct num *v, bool flt)
{
	if (flt)
		put_num(f, v->d);
	else
		fprintf(f, "%llu", (unsigned long long)v->u);
}

/* HELP/TYPE (and UNIT) of a family. name excludes _total for counters. */
static void family(FILE *f, bool om, const char *name, const char *type, const char *help)
{
	const char *unit = NULL;
	size_t n = strlen(name);
	bool counter = !strcmp(type, "counter");

	if (n > 6 && !strcmp(name + n - 6, "_bytes"))
		unit = "bytes";
	else if (n > 8 && !strcmp(name + n - 8, "_seconds"))
		unit = "seconds";
	fprintf(f, "# HELP %s%s %s\n", name, counter && !om ? "_total" : "", help);
	fprintf(f, "# TYPE %s%s %s\n", name, counter && !om ? "_total" : "", type);
	if (om && unit)
		fprintf(f, "# UNIT %s %s\n", name, unit);
}

static void sample_start(FILE *f, const char *name, bool counter, const struct group *g)
{
	fprintf(f, "%s%s{group=\"", name, counter ? "_total" : "");
	put_escaped(f, g->name);
	fputs("\",container=\"", f);
	put_escaped(f, g->container);
	fputc('"', f);
}

static const struct gfam {
	const char *name;
	bool counter;
	int val; /* first value; gens: one per generation */
	bool gens;
	const char *help;
} gfams[] = {
	{ "pymemtop_resident_memory_bytes", false, V_RSS, false,
	  "Resident memory (VmRSS) of the CPython processes of the group" },
	{ "pymemtop_heap_bytes", false, V_HEAP, false,
	  "Bytes in pymalloc arenas (the Python heap), read out of process" },
	{ "pymemtop_heap_live_bytes", false, V_LIVE, false, "Bytes in live pymalloc blocks" },
	{ "pymemtop_heap_live_blocks", false, V_BLOCKS, false, "Live pymalloc blocks" },
	{ "pymemtop_brk_bytes", false, V_BRK, false, "Size of the brk heaps" },
	{ "pymemtop_allocated_bytes", true, V_ALLOC_BYTES, false,
	  "Bytes the Python allocator put into service (whole arenas by default: estimated)" },
	{ "pymemtop_allocations", true, V_ALLOCS, false,
	  "Object-allocator allocations (--pool-refills: estimated; --precise: exact)" },
	{ "pymemtop_gc_collections", true, V_GC_COLL, true,
	  "Completed garbage collections per generation" },
	{ "pymemtop_gc_collected_objects", true, V_GC_OBJ, true,
	  "Objects the garbage collector found unreachable, per generation" },
	{ "pymemtop_gc_seconds", true, V_GC_SEC, true,
	  "Wall time inside the garbage collector, per generation" },
	{ "pymemtop_mmap_bytes", true, V_MMAP, false, "Bytes mapped by successful mmap(2) calls" },
	{ "pymemtop_munmap_bytes", true, V_MUNMAP, false,
	  "Bytes unmapped by successful munmap(2) calls" },
};

bool prom_group_family(int i, const char **name, bool *counter, enum pm_id *field)
{
	if (i < 0 || (size_t)i >= sizeof(gfams) / sizeof(gfams[0]))
		return false;
	*name = gfams[i].name;
	*counter = gfams[i].counter;
	*field = srcs[gfams[i].val].id;
	return true;
}

static bool gval(const struct group *g, const struct gfam *fm, int k, struct num *v)
{
	if (fm->counter) {
		*v = g->out[k];
		return g->out_has[k];
	}
	*v = g->sum[k];
	return g->has[k] && g->procs > 0;
}

static void render_groups(FILE *f, const struct group *const *gs, int ng, bool om)
{
	const struct group *g;
	struct num v;

	family(f, om, "pymemtop_python_processes", "gauge",
	       "CPython processes of the group (what they run: script, -m module, entry point)");
	for (int i = 0; i < ng; i++) {
		sample_start(f, "pymemtop_python_processes", false, gs[i]);
		fprintf(f, "} %d\n", gs[i]->procs);
	}
	family(f, om, "pymemtop_steady_growth_processes", "gauge",
	       "Processes whose heap (or RSS when the heap is unreadable) grew steadily over the "
	       "last 60 s: suspected leaks");
	for (int i = 0; i < ng; i++) {
		sample_start(f, "pymemtop_steady_growth_processes", false, gs[i]);
		fprintf(f, "} %d\n", gs[i]->steady);
	}
	for (size_t fi = 0; fi < sizeof(gfams) / sizeof(gfams[0]); fi++) {
		const struct gfam *fm = &gfams[fi];
		bool any = false;

		for (int i = 0; i < ng && !any; i++)
			for (int gen = 0; gen < (fm->gens ? 3 : 1) && !any; gen++)
				any = gval(gs[i], fm, fm->val + gen, &v);
		if (!any)
			continue; /* unavailable everywhere: absent, not 0 */
		family(f, om, fm->name, fm->counter ? "counter" : "gauge", fm->help);
		for (int i = 0; i < ng; i++)
			for (int gen = 0; gen < (fm->gens ? 3 : 1); gen++) {
				g = gs[i];
				if (!gval(g, fm, fm->val + gen, &v))
					continue;
				sample_start(f, fm->name, fm->counter, g);
				if (fm->gens)
					fprintf(f, ",generation=\"%d\"", gen);
				fputs("} ", f);
				put_val(f, &v, is_float(&srcs[fm->val + gen]));
				fputc('\n', f);
			}
	}
}

/* pymemtop_heap_type_bytes: per group its --prom-types N types holding
 * the most bytes. */
static void render_types(FILE *f, const struct prom *p, bool om)
{
	if (!p->max_types || !p->ntys)
		return;
	family(f, om, "pymemtop_heap_type_bytes", "gauge",
	       "Estimated bytes of live objects of one type in the pymalloc heaps of the group "
	       "(--prom-types: its largest types)");
	for (int i = 0, rank = 0; i < p->ntys; i++) {
		rank = i && p->tys[i].group == p->tys[i - 1].group ? rank + 1 : 0;
		if (rank >= p->max_types)
			continue;
		sample_start(f, "pymemtop_heap_type_bytes", false, &p->g[p->tys[i].group]);
		fputs(",type=\"", f);
		put_escaped(f, p->tys[i].name);
		fprintf(f, "\"} %llu\n", (unsigned long long)p->tys[i].bytes);
	}
}

/* ---- per-PID series (--prom-pids) ------------------------------------------- */

static void pid_labels(FILE *f, const struct pm_proc *o)
{
	fprintf(f, "{pid=\"%lld\",start_time=\"%.0f\"", (long long)pm_get(o, PM_PID)->i,
		pm_ok(o, PM_START_TIME) ? pm_get(o, PM_START_TIME)->d : 0.0);
}

/* The per-PID families (--prom-pids). */
static const struct pfam {
	const char *name;
	bool counter;
	struct src src;
	bool gens;
	const char *help;
} pf[] = {
	{ "pymemtop_process_resident_memory_bytes",
	  false,
	  { PM_RSS_BYTES, -1 },
	  false,
	  "Resident memory of one process (--prom-pids)" },
	{ "pymemtop_process_heap_bytes",
	  false,
	  { PM_HEAP_ARENA_BYTES, -1 },
	  false,
	  "Bytes in pymalloc arenas of one process" },
	{ "pymemtop_process_heap_live_bytes",
	  false,
	  { PM_HEAP_LIVE_BYTES, -1 },
	  false,
	  "Bytes in live pymalloc blocks of one process" },
	{ "pymemtop_process_allocated_bytes",
	  true,
	  { PM_ALLOC_BYTES_TOTAL, -1 },
	  false,
	  "Bytes the Python allocator of one process put into service since observed" },
	{ "pymemtop_process_gc_collections",
	  true,
	  { PM_GC_COLLECTIONS_TOTAL, 0 },
	  true,
	  "Garbage collections of one process per generation since observed" },
	{ "pymemtop_process_gc_seconds",
	  true,
	  { PM_GC_SECONDS_TOTAL, 0 },
	  true,
	  "Wall time in the garbage collector of one process per generation" },
};

/* pymemtop_process_info: one series per process with per-PID series. */
static void render_pid_info(FILE *f, const struct prom *p, bool om)
{
	family(f, om, "pymemtop_process_info", "gauge",
	       "One per process with per-PID series: its group, container, version, user, "
	       "heap allocator");
	for (int i = 0; i < p->ntop; i++) {
		const struct pm_proc *o = &p->top[i];
		char group[PROM_GROUP_LEN], buf[3 * TABLE_CMDLINE_LEN];

		prom_group(label(o, PM_COMMAND, buf, sizeof(buf)), group, sizeof(group));
		fputs("pymemtop_process_info", f);
		pid_labels(f, o);
		fputs(",group=\"", f);
		put_escaped(f, group);
		fputs("\",container=\"", f);
		put_escaped(f, label(o, PM_CONTAINER, buf, sizeof(buf)));
		fputs("\",python_version=\"", f);
		put_escaped(f, label(o, PM_PYTHON_VERSION, buf, sizeof(buf)));
		fputs("\",user=\"", f);
		put_escaped(f, label(o, PM_USER, buf, sizeof(buf)));
		fputs("\",allocator=\"", f);
		put_escaped(f, label(o, PM_HEAP_ALLOCATOR, buf, sizeof(buf)));
		fputs("\"} 1\n", f);
	}
}

static void render_pids(FILE *f, const struct prom *p, bool om)
{
	struct num v;

	if (!p->ntop)
		return;
	render_pid_info(f, p, om);
	for (size_t fi = 0; fi < sizeof(pf) / sizeof(pf[0]); fi++) {
		bool any = false;

		for (int i = 0; i < p->ntop && !any; i++)
			any = pval(&p->top[i], &pf[fi].src, &v);
		if (!any)
			continue;
		family(f, om, pf[fi].name, pf[fi].counter ? "counter" : "gauge", pf[fi].help);
		for (int i = 0; i < p->ntop; i++)
			for (int gen = 0; gen < (pf[fi].gens ? 3 : 1); gen++) {
				struct src s = pf[fi].src;

				s.idx = pf[fi].gens ? gen : -1;
				if (!pval(&p->top[i], &s, &v))
					continue;
				fprintf(f, "%s%s", pf[fi].name, pf[fi].counter ? "_total" : "");
				pid_labels(f, &p->top[i]);
				if (pf[fi].gens)
					fprintf(f, ",generation=\"%d\"", gen);
				fputs("} ", f);
				put_val(f, &v, is_float(&s));
				fputc('\n', f);
			}
	}
}

/* A site's label values as the exposition shows them: valid UTF-8 (the
 * names come from the process), "" for null. */
struct site_labels {
	char function[256], file[512], line[16], source[16];
	uint64_t bytes;
	bool live_ok;
	uint64_t live;
};

static void site_labels(const struct pm_site *s, struct site_labels *l)
{
	output_clean_string(s->where.function ? s->where.function : "", false, l->function,
			    sizeof(l->function));
	output_clean_string(s->where.file ? s->where.file : "", false, l->file, sizeof(l->file));
	output_clean_string(s->source ? s->source : "", false, l->source, sizeof(l->source));
	l->line[0] = '\0';
	if (s->where.line >= 0)
		snprintf(l->line, sizeof(l->line), "%d", s->where.line);
	l->bytes = s->bytes;
	l->live_ok = s->live_ok;
	l->live = s->live_bytes;
}

static bool same_labels(const struct site_labels *a, const struct site_labels *b)
{
	return !strcmp(a->function, b->function) && !strcmp(a->file, b->file) &&
	       !strcmp(a->line, b->line) && !strcmp(a->source, b->source);
}

/* The heaviest sites of each per-PID process (--prom-sites). Sites that
 * read alike (two code objects of one function, e.g. the same source
 * exec'd twice) are one series, summed: a label set appears once. */
/* One process's sites as labels, those that read alike summed. */
static int site_rows(const struct prom *p, const struct pm_proc *o, struct site_labels *ls)
{
	int n = 0;

	for (int k = 0; k < o->nsites && n < p->max_sites; k++) {
		int j;

		site_labels(&o->sites[k], &ls[n]);
		for (j = 0; j < n && !same_labels(&ls[j], &ls[n]); j++)
			;
		if (j < n) {
			ls[j].bytes += ls[n].bytes;
			ls[j].live += ls[n].live;
			ls[j].live_ok |= ls[n].live_ok;
		} else {
			n++;
		}
	}
	return n;
}

static void site_sample_line(FILE *f, const char *name, const struct pm_proc *o,
			     const struct site_labels *l, uint64_t v)
{
	fputs(name, f);
	pid_labels(f, o);
	fputs(",function=\"", f);
	put_escaped(f, l->function);
	fputs("\",file=\"", f);
	put_escaped(f, l->file);
	fprintf(f, "\",line=\"%s\",source=\"", l->line);
	put_escaped(f, l->source);
	fprintf(f, "\"} %llu\n", (unsigned long long)v);
}

/* The heaviest sites of each per-PID process (--prom-sites, ranked as
 * --sites-by says): their flow as a counter, and the bytes their samples
 * still hold as a gauge where those are followed. Sites that read alike
 * (two code objects of one function, e.g. the same source exec'd twice)
 * are one series, summed: a label set appears once. */
static void render_sites(FILE *f, const struct prom *p, bool om)
{
	struct site_labels *ls;
	int *n, any = 0, live = 0;

	if (!p->max_sites || !p->ntop)
		return;
	ls = malloc((size_t)p->ntop * p->max_sites * sizeof(*ls));
	n = calloc(p->ntop, sizeof(*n));
	for (int i = 0; ls && n && i < p->ntop; i++) {
		n[i] = site_rows(p, &p->top[i], ls + (size_t)i * p->max_sites);
		any += n[i];
		for (int j = 0; j < n[i]; j++)
			live += ls[(size_t)i * p->max_sites + j].live_ok;
	}
	if (any)
		family(f, om, "pymemtop_process_site_allocated_bytes", "counter",
		       "Estimated bytes of heap growth sampled at one allocation site of one "
		       "process since observed (--prom-sites)");
	for (int i = 0; any && i < p->ntop; i++)
		for (int j = 0; j < n[i]; j++)
			site_sample_line(f, "pymemtop_process_site_allocated_bytes_total",
					 &p->top[i], &ls[(size_t)i * p->max_sites + j],
					 ls[(size_t)i * p->max_sites + j].bytes);
	if (live)
		family(f, om, "pymemtop_process_site_live_bytes", "gauge",
		       "Estimated bytes still held by the objects sampled at one allocation site "
		       "of one process (--prom-sites)");
	for (int i = 0; live && i < p->ntop; i++)
		for (int j = 0; j < n[i]; j++) {
			const struct site_labels *l = &ls[(size_t)i * p->max_sites + j];

			if (l->live_ok)
				site_sample_line(f, "pymemtop_process_site_live_bytes", &p->top[i],
						 l, l->live);
		}
	free(ls);
	free(n);
}

/* ---- pymemtop's own health -------------------------------------------------- */

static void self_counter(FILE *f, bool om, const char *name, const char *help, double v)
{
	family(f, om, name, "counter", help);
	fprintf(f, "%s_total ", name);
	put_num(f, v);
	fputc('\n', f);
}

static void render_self(FILE *f, const struct prom_self *s, bool om)
{
	family(f, om, "pymemtop_build_info", "gauge", "pymemtop's version");
	fputs("pymemtop_build_info{version=\"", f);
	put_escaped(f, s->version ? s->version : "");
	fputs("\"} 1\n", f);
	family(f, om, "pymemtop_last_update_timestamp_seconds", "gauge",
	       "When pymemtop last updated these metrics (unix time): alert when it stops moving");
	fputs("pymemtop_last_update_timestamp_seconds ", f);
	fprintf(f, "%.3f\n", s->last_update);
	if (s->ndrops) {
		family(f, om, "pymemtop_dropped_events", "counter",
		       "Events and map updates pymemtop's BPF programs lost, by reason");
		for (int i = 0; i < s->ndrops; i++) {
			fputs("pymemtop_dropped_events_total{reason=\"", f);
			put_escaped(f, s->drops[i].label);
			fprintf(f, "\"} %llu\n", (unsigned long long)s->drops[i].value);
		}
	}
	family(f, om, "pymemtop_attach_failures", "counter",
	       "Interpreter files whose GC probes, or processes whose heap probes, failed to "
	       "attach");
	fprintf(f, "pymemtop_attach_failures_total{probe=\"gc\"} %llu\n",
		(unsigned long long)s->gc_attach_failures);
	fprintf(f, "pymemtop_attach_failures_total{probe=\"heap\"} %llu\n",
		(unsigned long long)s->heap_attach_failures);
	self_counter(f, om, "pymemtop_proc_read_failures",
		     "Failed /proc or map reads of live processes", (double)s->proc_read_failures);
	self_counter(f, om, "pymemtop_out_of_memory",
		     "Processes not watched, or data not kept, because pymemtop ran out of memory",
		     (double)s->out_of_memory);
	self_counter(f, om, "pymemtop_heap_snapshots", "Out-of-process heap snapshots taken",
		     (double)s->snapshots);
	self_counter(f, om, "pymemtop_heap_snapshots_dropped",
		     "Heap snapshots dropped because the heap changed under the read",
		     (double)s->snapshots_dropped);
	if (s->bpf_ok)
		self_counter(f, om, "pymemtop_bpf_run_seconds",
			     "Run time of pymemtop's BPF programs (kernel BPF statistics)",
			     s->bpf_seconds);
	if (s->has_write_errors)
		self_counter(f, om, "pymemtop_textfile_write_errors",
			     "Failed writes of the --prom-file textfile (the previous file stays)",
			     (double)s->write_errors);
	if (s->has_http_errors)
		self_counter(f, om, "pymemtop_http_errors",
			     "/metrics responses that could not be built or sent",
			     (double)s->http_errors);
}

static int cmp_group(const void *a, const void *b)
{
	const struct group *x = *(const struct group *const *)a,
			   *y = *(const struct group *const *)b;
	int d = strcmp(x->name, y->name);

	return d ? d : strcmp(x->container, y->container);
}

int prom_render(const struct prom *p, const struct prom_self *self, bool openmetrics, char **out,
		size_t *len)
{
	const struct group **gs = malloc((p->ng ? p->ng : 1) * sizeof(*gs));
	FILE *f;

	if (!gs)
		return -ENOMEM;
	/* sorted output: stable for diffs and tests */
	for (int i = 0; i < p->ng; i++)
		gs[i] = &p->g[i];
	qsort(gs, p->ng, sizeof(*gs), cmp_group);
	f = open_memstream(out, len);
	if (!f) {
		free(gs);
		return -ENOMEM;
	}
	render_groups(f, gs, p->ng, openmetrics);
	render_types(f, p, openmetrics);
	free(gs);
	render_pids(f, p, openmetrics);
	render_sites(f, p, openmetrics);
	render_self(f, self, openmetrics);
	if (openmetrics)
		fputs("# EOF\n", f);
	if (fclose(f)) {
		free(*out);
		*out = NULL;
		return -ENOMEM;
	}
	return 0;
}
