// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * prom.c: the Prometheus exposition, fed process objects shaped like
 * `pymemtop --json` ones (docs/metrics.md) parsed from string literals.
 * prom_group() on real command-label shapes, cut on a UTF-8 boundary;
 * the classic format (HELP and TYPE once before contiguous samples,
 * _total counters, no timestamps, final newline, escaped label values)
 * and no duplicate series; sums per group and container with null
 * gauges absent, not 0; counters that never go down while processes
 * exit, vanish, turn null or reuse a PID; empty groups kept for
 * PROM_GROUP_KEEP_S; --prom-pids; the steady-growth count; pymemtop's
 * own families; OpenMetrics (counter names, UNIT, # EOF). When
 * installed, promtool lints the classic text and prometheus_client
 * parses the OpenMetrics text; otherwise those two say SKIP.
 */
#define _GNU_SOURCE
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "model_fixture.h"
#include "prom.h"

#define T0 1700000000.0

/* ---- process objects --------------------------------------------------------- */

static struct json_object *parse(const char *json)
{
	struct json_object *o = json_tokener_parse(json);

	if (!o)
		fail_msg("bad JSON in the test: %s", json);
	return o;
}

/* A process object: pid, start_time, exited, command and container (JSON
 * string contents), user "alice", python_version "3.11.2", then more
 * members as JSON text, or NULL. */
static struct json_object *proc(int pid, double start, const char *command, const char *container,
				bool exited, const char *more)
{
	char json[8192];

	snprintf(json, sizeof(json),
		 "{\"pid\": %d, \"start_time\": %.17g, \"exited\": %s, \"command\": \"%s\","
		 " \"container\": \"%s\", \"user\": \"alice\", \"python_version\": \"3.11.2\"%s%s}",
		 pid, start, exited ? "true" : "false", command, container, more ? ", " : "",
		 more ? more : "");
	return parse(json);
}

/* Every field prom.c reads, scaled by k. */
static struct json_object *full(int pid, const char *command, const char *container, double k)
{
	char more[2048];

	snprintf(
		more, sizeof(more),
		"\"rss_bytes\": %.0f, \"heap_arena_bytes\": %.0f, \"heap_live_bytes\": %.0f,"
		" \"heap_live_blocks\": %.0f, \"brk_bytes\": %.0f, \"alloc_bytes_total\": %.0f,"
		" \"allocs_total\": %.0f, \"gc_collections_total\": [%.0f, %.0f, %.0f],"
		" \"gc_collected_total\": [%.0f, %.0f, %.0f],"
		" \"gc_seconds_total\": [%.17g, %.17g, %.17g],"
		" \"mmap_bytes_total\": %.0f, \"munmap_bytes_total\": %.0f,"
		" \"growth\": {\"heap_live_bytes\": {\"window_seconds\": 60, \"bytes_per_s\": 1024,"
		" \"steady\": false}, \"rss_bytes\": {\"window_seconds\": 60, \"bytes_per_s\": 0,"
		" \"steady\": false}},"
		" \"sites\": [{\"function\": \"make\", \"file\": \"/srv/a\\\"b.py\", \"line\": 12,"
		" \"source\": \"pool_refill\", \"estimated_bytes\": %.0f},"
		" {\"function\": \"[no Python frames]\", \"file\": null, \"line\": null,"
		" \"source\": \"malloc\", \"estimated_bytes\": 4096},"
		" {\"function\": \"tail\", \"file\": \"t.py\", \"line\": 1,"
		" \"source\": \"arena\", \"estimated_bytes\": 1}]",
		k * 100 * 1048576, k * 64 * 1048576, k * 48 * 1048576, k * 300000, k * 135168,
		k * 16777216, k * 50000, k * 100, k * 10, k * 1, k * 5000, k * 300, k * 20, k * 1.5,
		k * 0.25, k * 0.125, k * 5242880, k * 3145728, k * 1048576);
	return proc(pid, T0 + pid + 0.25, command, container, false, more);
}

static void set_str(struct json_object *o, const char *key, const char *v)
{
	json_object_object_add(o, key, v ? json_object_new_string(v) : NULL);
}

/* One frame: the objects' models (model_fixture.h), update, then the
 * models and the caller's references go, as the frame's do. */
static void frame_n(struct prom *p, double now, struct json_object **o, int n)
{
	struct pm_proc *m = calloc(n ? n : 1, sizeof(*m));

	assert_non_null(m);
	for (int i = 0; i < n; i++)
		fixture_model_of(o[i], &m[i]);
	prom_update(p, m, n, now);
	for (int i = 0; i < n; i++) {
		model_free(&m[i]);
		json_object_put(o[i]);
	}
	free(m);
}

#define FRAME(p, now, ...)                                                                         \
	do {                                                                                       \
		struct json_object *f_[] = { __VA_ARGS__ };                                        \
		frame_n((p), (now), f_, (int)(sizeof(f_) / sizeof(f_[0])));                        \
	} while (0)

static struct prom *new_prom(int max_pids)
{
	struct prom *p = prom_new(max_pids, 0);

	assert_non_null(p);
	return p;
}

/* pymemtop's own state with every optional family on. */
static struct prom_self self_all(void)
{
	struct prom_self s = {
		.version = "1.2.3",
		.last_update = T0 + 0.5,
		.drops = { { "events_lost", 3 }, { "mm_map_full", 0 }, { "proc_read_failed", 9 } },
		.ndrops = 3,
		.gc_attach_failures = 1,
		.heap_attach_failures = 2,
		.proc_read_failures = 6,
		.snapshots = 7,
		.snapshots_dropped = 8,
		.bpf_ok = true,
		.bpf_seconds = 0.25,
		.has_write_errors = true,
		.write_errors = 4,
		.has_http_errors = true,
		.http_errors = 5,
	};

	return s;
}

static char *render(const struct prom *p, const struct prom_self *s, bool om)
{
	struct prom_self def = { .version = "test", .last_update = T0 };
	char *out = NULL;
	size_t len = 0;

	assert_int_equal(prom_render(p, s ? s : &def, om, &out, &len), 0);
	assert_non_null(out);
	assert_int_equal(strlen(out), len);
	return out;
}

/* ---- reading the exposition -------------------------------------------------- */

/* The value of the sample whose "name{labels}" is exactly series, NAN if
 * there is none. */
static double val(const char *text, const char *series)
{
	size_t n = strlen(series);

	for (const char *l = text; *l; l = strchr(l, '\n') + 1) {
		if (!strncmp(l, series, n) && l[n] == ' ')
			return strtod(l + n + 1, NULL);
		if (!strchr(l, '\n'))
			break;
	}
	return NAN;
}

static bool has_line(const char *text, const char *line)
{
	size_t n = strlen(line);

	for (const char *l = text; *l; l = strchr(l, '\n') + 1) {
		if (!strncmp(l, line, n) && l[n] == '\n')
			return true;
		if (!strchr(l, '\n'))
			break;
	}
	return false;
}

#define assert_val(text, series, want)                                                             \
	do {                                                                                       \
		double v_ = val((text), (series));                                                 \
		if (!(v_ == (double)(want)))                                                       \
			fail_msg("%s: got %.17g, want %.17g\n%s", (series), v_, (double)(want),    \
				 (text));                                                          \
	} while (0)

#define assert_no_series(text, series)                                                             \
	do {                                                                                       \
		if (!isnan(val((text), (series))))                                                 \
			fail_msg("%s: present, want absent\n%s", (series), (text));                \
	} while (0)

#define assert_has_line(text, line)                                                                \
	do {                                                                                       \
		if (!has_line((text), (line)))                                                     \
			fail_msg("no line \"%s\" in\n%s", (line), (text));                         \
	} while (0)

#define assert_absent(text, s)                                                                     \
	do {                                                                                       \
		if (strstr((text), (s)))                                                           \
			fail_msg("\"%s\" present, want absent:\n%s", (s), (text));                 \
	} while (0)

struct sample {
	char name[128];
	char labels[1024]; /* sorted name="escaped value" pairs, comma-separated */
	double v;
};

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Parse a sample line (no newline): name, optional {labels}, one space,
 * a value, nothing else (no timestamp). False on anything else. */
static bool parse_sample(const char *l, struct sample *s)
{
	char pairs[16][256], *ptr[16];
	int np = 0;
	size_t n = 0;
	char *end;

	memset(s, 0, sizeof(*s));
	if (!(*l == '_' || *l == ':' || (*l >= 'a' && *l <= 'z') || (*l >= 'A' && *l <= 'Z')))
		return false;
	while (l[n] == '_' || l[n] == ':' || (l[n] >= 'a' && l[n] <= 'z') ||
	       (l[n] >= 'A' && l[n] <= 'Z') || (l[n] >= '0' && l[n] <= '9'))
		n++;
	if (n >= sizeof(s->name))
		return false;
	memcpy(s->name, l, n);
	l += n;
	if (*l == '{') {
		l++;
		while (*l != '}') {
			size_t k = 0;
			char *q = pairs[np];

			if (np == 16)
				return false;
			while (l[k] == '_' || (l[k] >= 'a' && l[k] <= 'z') ||
			       (l[k] >= 'A' && l[k] <= 'Z') || (k && l[k] >= '0' && l[k] <= '9'))
				k++;
			if (!k || l[k] != '=' || l[k + 1] != '"' || k > 64)
				return false;
			memcpy(q, l, k + 2);
			q += k + 2;
			l += k + 2;
			for (; *l != '"'; l++) {
				if (!*l || *l == '\n' || q - pairs[np] > 250)
					return false;
				if (*l == '\\') {
					if (l[1] != '\\' && l[1] != '"' && l[1] != 'n')
						return false;
					*q++ = *l++;
				}
				*q++ = *l;
			}
			*q++ = '"';
			*q = '\0';
			/* no label name twice */
			for (int i = 0; i < np; i++)
				if (!strncmp(pairs[i], pairs[np], k + 1))
					return false;
			ptr[np] = pairs[np];
			np++;
			l++;
			if (*l == ',')
				l++;
			else if (*l != '}')
				return false;
		}
		l++;
		qsort(ptr, np, sizeof(ptr[0]), cmp_str);
		for (int i = 0; i < np; i++) {
			if (i)
				strcat(s->labels, ",");
			strcat(s->labels, ptr[i]);
		}
	}
	if (*l != ' ' || !l[1] || l[1] == ' ')
		return false;
	s->v = strtod(l + 1, &end);
	return end != l + 1 && *end == '\0';
}

struct fam {
	char name[256], type[16], unit[32];
	int help, typ, units, samples;
};

struct expo {
	struct fam fams[64];
	int nfams, nsamples;
	struct sample samples[512];
};

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && !strcmp(s + n - m, suffix);
}

/* The family a metadata line names: a new one unless it is the current
 * one (a family seen before and left is an error: lines not contiguous). */
static struct fam *meta_family(struct expo *e, const char *name, const char *line)
{
	struct fam *f = e->nfams ? &e->fams[e->nfams - 1] : NULL;

	if (f && !strcmp(f->name, name))
		return f;
	for (int i = 0; i < e->nfams; i++)
		if (!strcmp(e->fams[i].name, name))
			fail_msg("family %s again after other families: %s", name, line);
	assert_true(e->nfams < 64);
	f = &e->fams[e->nfams++];
	memset(f, 0, sizeof(*f));
	snprintf(f->name, sizeof(f->name), "%s", name);
	return f;
}

/* Check the structure of an exposition, classic or OpenMetrics, and
 * collect its families and samples. */
static void check_expo(const char *text, bool om, struct expo *e)
{
	char line[4096];
	const char *l = text, *nl;
	bool eof = false;

	memset(e, 0, sizeof(*e));
	assert_true(*text);
	if (text[strlen(text) - 1] != '\n')
		fail_msg("does not end with a newline:\n%s", text);
	for (; *l; l = nl + 1) {
		char name[256], word[256];
		struct fam *f;
		int off = 0;

		nl = strchr(l, '\n');
		assert_true(nl - l < (long)sizeof(line));
		memcpy(line, l, nl - l);
		line[nl - l] = '\0';
		if (eof)
			fail_msg("line after # EOF: \"%s\"", line);
		if (!line[0])
			fail_msg("empty line in\n%s", text);
		if (om && !strcmp(line, "# EOF")) {
			eof = true;
			continue;
		}
		if (line[0] == '#') {
			if (sscanf(line, "# %255s %255s %n", word, name, &off) != 2 || !off)
				fail_msg("bad metadata line \"%s\"", line);
			f = meta_family(e, name, line);
			if (f->samples)
				fail_msg("metadata after samples: \"%s\"", line);
			if (!strcmp(word, "HELP")) {
				f->help++;
				if (!line[off])
					fail_msg("empty HELP: \"%s\"", line);
			} else if (!strcmp(word, "TYPE")) {
				f->typ++;
				snprintf(f->type, sizeof(f->type), "%s", line + off);
				if (strcmp(f->type, "gauge") && strcmp(f->type, "counter"))
					fail_msg("type not gauge or counter: \"%s\"", line);
			} else if (om && !strcmp(word, "UNIT")) {
				f->units++;
				snprintf(f->unit, sizeof(f->unit), "%s", line + off);
			} else {
				fail_msg("unexpected comment line \"%s\"", line);
			}
			if (f->help > 1 || f->typ > 1 || f->units > 1)
				fail_msg("metadata twice: \"%s\"", line);
			continue;
		}
		assert_true(e->nsamples < 512);
		if (!parse_sample(line, &e->samples[e->nsamples]))
			fail_msg("bad sample line (or a timestamp): \"%s\"", line);
		if (!e->nfams)
			fail_msg("sample before any HELP/TYPE: \"%s\"", line);
		f = &e->fams[e->nfams - 1];
		if (f->help != 1 || f->typ != 1)
			fail_msg("sample before its family's HELP and TYPE: \"%s\"", line);
		{
			char want[300];

			snprintf(want, sizeof(want), "%s%s", f->name,
				 om && !strcmp(f->type, "counter") ? "_total" : "");
			if (strcmp(e->samples[e->nsamples].name, want))
				fail_msg("sample \"%s\" in family %s (not contiguous?)", line,
					 f->name);
		}
		f->samples++;
		e->nsamples++;
	}
	if (om && !eof)
		fail_msg("no # EOF:\n%s", text);
	for (int i = 0; i < e->nfams; i++) {
		struct fam *f = &e->fams[i];
		char suffix[40];

		if (f->help != 1 || f->typ != 1)
			fail_msg("family %s: %d HELP, %d TYPE", f->name, f->help, f->typ);
		if (strncmp(f->name, "pymemtop_", 9))
			fail_msg("family %s without the pymemtop_ prefix", f->name);
		if (!om) {
			/* classic: counters are named with _total everywhere */
			if (!strcmp(f->type, "counter") != ends_with(f->name, "_total"))
				fail_msg("%s %s: _total iff counter", f->type, f->name);
			continue;
		}
		/* OpenMetrics: the family without _total, a UNIT for base units */
		if (ends_with(f->name, "_total"))
			fail_msg("OpenMetrics family %s ends in _total", f->name);
		if (ends_with(f->name, "_bytes") || ends_with(f->name, "_seconds")) {
			if (f->units != 1)
				fail_msg("family %s has no UNIT", f->name);
		} else if (f->units) {
			fail_msg("family %s has UNIT %s", f->name, f->unit);
		}
		snprintf(suffix, sizeof(suffix), "_%s", f->unit);
		if (f->units && !ends_with(f->name, suffix))
			fail_msg("UNIT %s is not a suffix of %s", f->unit, f->name);
	}
}

static void assert_unique(const struct expo *e)
{
	for (int i = 0; i < e->nsamples; i++)
		for (int j = i + 1; j < e->nsamples; j++)
			if (!strcmp(e->samples[i].name, e->samples[j].name) &&
			    !strcmp(e->samples[i].labels, e->samples[j].labels))
				fail_msg("duplicate series %s{%s}", e->samples[i].name,
					 e->samples[i].labels);
}

static const struct fam *find_fam(const struct expo *e, const char *name)
{
	for (int i = 0; i < e->nfams; i++)
		if (!strcmp(e->fams[i].name, name))
			return &e->fams[i];
	return NULL;
}

static bool valid_utf8(const char *s)
{
	const unsigned char *u = (const unsigned char *)s;

	while (*u) {
		int n = *u < 0x80	      ? 0
			: (*u & 0xe0) == 0xc0 ? 1
			: (*u & 0xf0) == 0xe0 ? 2
			: (*u & 0xf8) == 0xf0 ? 3
					      : -1;

		if (n < 0)
			return false;
		u++;
		for (int i = 0; i < n; i++, u++)
			if ((*u & 0xc0) != 0x80)
				return false;
	}
	return true;
}

/* ---- prom_group ---------------------------------------------------------------- */

static const char *group(const char *command)
{
	static char out[PROM_GROUP_LEN];

	memset(out, 'X', sizeof(out));
	prom_group(command, out, sizeof(out));
	return out;
}

static void test_group_shapes(void **state)
{
	static const struct {
		const char *command, *want;
	} cases[] = {
		/* a script: its file name, never the arguments */
		{ "app.py --port 80", "app.py" },
		{ "app.py", "app.py" },
		{ "/srv/app/manage.py runserver 0:8000", "manage.py" },
		{ "./bin/worker.py", "worker.py" },
		{ "../tools/x.py -v", "x.py" },
		/* -m module */
		{ "-m celery worker -A proj", "celery" },
		{ "-m http.server 8000", "http.server" },
		{ "-m  pip install x", "pip" },
		{ "-m pytest", "pytest" },
		/* entry points and embedding programs keep argv: argv[0]'s name */
		{ "gunicorn app:app -w 4", "gunicorn" },
		{ "/usr/local/bin/uwsgi --ini /etc/uwsgi/app.ini", "uwsgi" },
		{ "airflow scheduler", "airflow" },
		/* renamed (setproctitle) */
		{ "gunicorn: worker [app]", "gunicorn" },
		{ "gunicorn: master [app:app]", "gunicorn" },
		/* code, stdin, REPL, no argv */
		{ "-c import time; time.sleep(1)", "-c" },
		{ "-c", "-c" },
		{ "-", "-" },
		{ "python3.11", "python3.11" },
		{ "[python3]", "[python3]" },
		/* nothing usable */
		{ "", "unknown" },
		{ "   ", "unknown" },
		{ "/srv/app/", "unknown" },
		/* multibyte names kept whole */
		{ "データ.py --x", "データ.py" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *got = group(cases[i].command);

		if (strcmp(got, cases[i].want))
			fail_msg("prom_group(\"%s\") = \"%s\", want \"%s\"", cases[i].command, got,
				 cases[i].want);
	}
	assert_string_equal(group(NULL), "unknown");
}

/* Celery's setproctitle: "[celeryd: celery@host:MainProcess] -active- (...)"
 * and "[celeryd: celery@host:ForkPoolWorker-1]" (celery/platforms.py
 * set_mp_process_title). The group is what runs, "celeryd", not a
 * half-bracketed "[celeryd". */
static void test_group_celery_title(void **state)
{
	(void)state;
	assert_string_equal(group("celery worker -A proj -l info"), "celery");
	assert_string_equal(group("[celeryd: celery@web1:MainProcess] -active- (worker -A proj)"),
			    "celeryd");
	assert_string_equal(group("[celeryd: celery@web1:ForkPoolWorker-3]"), "celeryd");
}

static void test_group_length(void **state)
{
	char cmd[1024], want[1024], out[PROM_GROUP_LEN + 8];
	const char *emoji = "\xf0\x9f\x98\x80"; /* U+1F600, 4 bytes */
	const char *e_acute = "\xc3\xa9"; /* U+00E9, 2 bytes */

	(void)state;
	/* 300 ASCII bytes: PROM_GROUP_LEN - 1 of them */
	memset(cmd, 'a', 300);
	strcpy(cmd + 300, ".py --flag");
	assert_int_equal(strlen(group(cmd)), PROM_GROUP_LEN - 1);
	assert_memory_equal(group(cmd), cmd, PROM_GROUP_LEN - 1);

	/* 75 four-byte characters (300 bytes) under a directory: 63 bytes
	 * would split the 16th, so 15 whole ones (60 bytes) */
	strcpy(cmd, "/opt/");
	for (int i = 0; i < 75; i++)
		strcat(cmd, emoji);
	strcat(cmd, ".py arg");
	want[0] = '\0';
	for (int i = 0; i < 15; i++)
		strcat(want, emoji);
	assert_string_equal(group(cmd), want);
	assert_true(valid_utf8(group(cmd)));

	/* 150 two-byte characters: 63 would split the 32nd, so 31 (62 bytes) */
	cmd[0] = want[0] = '\0';
	for (int i = 0; i < 150; i++)
		strcat(cmd, e_acute);
	strcat(cmd, ".py");
	for (int i = 0; i < 31; i++)
		strcat(want, e_acute);
	assert_string_equal(group(cmd), want);

	/* -m with a long module name: cut the same way */
	strcpy(cmd, "-m ");
	for (int i = 0; i < 40; i++)
		strcat(cmd, e_acute);
	strcat(cmd, "x"); /* 81 bytes */
	for (int i = 0; i < 80; i++)
		strcat(cmd, e_acute);
	assert_int_equal(strlen(group(cmd)), PROM_GROUP_LEN - 1 - 1);
	assert_true(valid_utf8(group(cmd)));

	/* a buffer smaller than the name: outlen - 1 bytes, whole characters */
	memset(out, 'X', sizeof(out));
	prom_group("/srv/app/manage.py runserver", out, 5);
	assert_string_equal(out, "mana");
	assert_int_equal(out[5], 'X'); /* nothing written past outlen */
	prom_group("\xc3\xa9\xc3\xa9\xc3\xa9.py", out, 4); /* "ééé.py" in 3 bytes: "é" */
	assert_string_equal(out, "\xc3\xa9");
	prom_group("\xf0\x9f\x98\x80\xf0\x9f\x98\x80.py", out, 7);
	assert_string_equal(out, "\xf0\x9f\x98\x80");
	prom_group("\xf0\x9f\x98\x80.py", out, 4); /* not even one character fits */
	assert_string_equal(out, "");
	prom_group("app.py", out, 1);
	assert_string_equal(out, "");
	prom_group("", out, 4); /* "unknown" cut, still terminated */
	assert_string_equal(out, "unk");
	out[0] = 'X';
	prom_group("app.py", out, 0); /* nothing written */
	assert_int_equal(out[0], 'X');
	/* exactly fits */
	prom_group("app.py", out, 7);
	assert_string_equal(out, "app.py");
}

/* ---- the classic format ---------------------------------------------------------- */

static void test_classic_format(void **state)
{
	struct prom *p = new_prom(2);
	struct prom_self s = self_all();
	static struct expo e; /* large: not on the stack */
	char *t;

	(void)state;
	FRAME(p, T0, full(100, "app.py --port 80", "", 1), full(101, "app.py --port 81", "", 2),
	      full(102, "-m celery worker", "0123456789ab", 3),
	      full(103, "gunicorn: worker [app]", "", 0.5));
	t = render(p, &s, false);
	check_expo(t, false, &e);
	assert_unique(&e);
	assert_absent(t, "# UNIT");
	assert_absent(t, "# EOF");

	/* counters: _total in HELP, TYPE and samples */
	assert_has_line(t, "# TYPE pymemtop_gc_collections_total counter");
	assert_has_line(t, "# HELP pymemtop_gc_collections_total Completed garbage collections "
			   "per generation");
	assert_has_line(t, "# TYPE pymemtop_allocated_bytes_total counter");
	assert_has_line(t, "# TYPE pymemtop_mmap_bytes_total counter");
	assert_has_line(t, "# TYPE pymemtop_dropped_events_total counter");
	assert_has_line(t, "# TYPE pymemtop_resident_memory_bytes gauge");
	assert_has_line(t, "# TYPE pymemtop_python_processes gauge");
	assert_has_line(t, "pymemtop_gc_collections_total{group=\"app.py\",container=\"\","
			   "generation=\"0\"} 300");
	assert_has_line(t, "pymemtop_gc_seconds_total{group=\"app.py\",container=\"\","
			   "generation=\"2\"} 0.375");
	assert_has_line(t,
			"pymemtop_python_processes{group=\"celery\",container=\"0123456789ab\"} 1");
	assert_has_line(t, "pymemtop_resident_memory_bytes{group=\"gunicorn\",container=\"\"} "
			   "52428800");
	/* every family of a full frame is there */
	for (const char *const *n = (const char *const[]){ "pymemtop_python_processes",
							   "pymemtop_steady_growth_processes",
							   "pymemtop_resident_memory_bytes",
							   "pymemtop_heap_bytes",
							   "pymemtop_heap_live_bytes",
							   "pymemtop_heap_live_blocks",
							   "pymemtop_brk_bytes",
							   "pymemtop_allocated_bytes_total",
							   "pymemtop_allocations_total",
							   "pymemtop_gc_collections_total",
							   "pymemtop_gc_collected_objects_total",
							   "pymemtop_gc_seconds_total",
							   "pymemtop_mmap_bytes_total",
							   "pymemtop_munmap_bytes_total",
							   "pymemtop_process_info",
							   "pymemtop_process_resident_memory_bytes",
							   "pymemtop_process_heap_bytes",
							   "pymemtop_process_heap_live_bytes",
							   "pymemtop_process_allocated_bytes_total",
							   "pymemtop_process_gc_collections_total",
							   "pymemtop_process_gc_seconds_total",
							   "pymemtop_build_info",
							   "pymemtop_last_update_timestamp_seconds",
							   "pymemtop_dropped_events_total",
							   "pymemtop_attach_failures_total",
							   "pymemtop_proc_read_failures_total",
							   "pymemtop_out_of_memory_total",
							   "pymemtop_heap_snapshots_total",
							   "pymemtop_heap_snapshots_dropped_total",
							   "pymemtop_bpf_run_seconds_total",
							   "pymemtop_textfile_write_errors_total",
							   "pymemtop_http_errors_total",
							   NULL };
	     *n; n++)
		if (!find_fam(&e, *n))
			fail_msg("family %s missing:\n%s", *n, t);
	assert_int_equal(e.nfams, 32);
	free(t);
	prom_free(p);

	/* nothing observed yet: still well formed */
	p = new_prom(0);
	prom_update(p, NULL, 0, T0);
	t = render(p, NULL, false);
	check_expo(t, false, &e);
	assert_absent(t, "pymemtop_process_");
	free(t);
	prom_free(p);
}

static void test_label_escaping(void **state)
{
	struct prom *p = new_prom(1);
	struct prom_self s = self_all();
	static struct expo e; /* large: not on the stack */
	char *t;

	(void)state;
	/* JSON text "we\"ird\\na\nme.py x": the command we"ird\na<newline>me.py x */
	FRAME(p, T0, proc(7, T0, "we\\\"ird\\\\na\\nme.py x", "", false, "\"rss_bytes\": 4096"));
	s.version = "v1\"\\\n";
	t = render(p, &s, false);
	check_expo(t, false, &e);
	assert_has_line(
		t, "pymemtop_python_processes{group=\"we\\\"ird\\\\na\\nme.py\",container=\"\"} 1");
	assert_has_line(t, "pymemtop_resident_memory_bytes{group=\"we\\\"ird\\\\na\\nme.py\","
			   "container=\"\"} 4096");
	assert_has_line(t, "pymemtop_process_info{pid=\"7\",start_time=\"1700000000\","
			   "group=\"we\\\"ird\\\\na\\nme.py\",container=\"\","
			   "python_version=\"3.11.2\",user=\"alice\",allocator=\"\"} 1");
	assert_has_line(t, "pymemtop_build_info{version=\"v1\\\"\\\\\\n\"} 1");
	free(t);
	prom_free(p);
}

static void test_no_duplicates(void **state)
{
	struct prom *p = new_prom(2);
	struct prom_self s = self_all();
	static struct expo e; /* large: not on the stack */
	char *t;

	(void)state;
	/* groups that differ only by container, an exited process, a group
	 * kept empty, and per-PID series */
	FRAME(p, T0, full(1, "app.py", "", 1), full(2, "app.py", "aaaaaaaaaaaa", 1),
	      full(3, "app.py", "bbbbbbbbbbbb", 1), full(4, "-m celery worker", "", 1),
	      full(5, "old.py", "", 1));
	FRAME(p, T0 + 1, full(1, "app.py", "", 2), full(2, "app.py", "aaaaaaaaaaaa", 4),
	      full(3, "app.py", "bbbbbbbbbbbb", 1), full(4, "-m celery worker", "", 1),
	      full(6, "/srv/app.py", "", 3), full(7, "-m celery beat", "", 0.1),
	      proc(8, T0, "app.py", "", true, "\"alloc_bytes_total\": 5"));
	for (int om = 0; om < 2; om++) {
		t = render(p, &s, om);
		check_expo(t, om, &e);
		assert_unique(&e);
		/* 4 groups with processes, old.py empty: 5 python_processes series */
		assert_int_equal(find_fam(&e, "pymemtop_python_processes")->samples, 5);
		assert_int_equal(find_fam(&e, "pymemtop_process_info")->samples, 2);
		free(t);
	}
	prom_free(p);
}

/* ---- sums per group and container ------------------------------------------------- */

static void test_sums(void **state)
{
	struct prom *p = new_prom(0);
	char *t;

	(void)state;
	FRAME(p, T0,
	      proc(1, T0, "app.py --port 80", "", false,
		   "\"rss_bytes\": 100, \"heap_arena_bytes\": 1048576, \"heap_live_bytes\": 5000,"
		   " \"heap_live_blocks\": 70, \"brk_bytes\": null, \"allocs_total\": null"),
	      /* same group: heap unreadable here, the other's heap is the sum */
	      proc(2, T0, "/srv/app.py --port 81", "", false,
		   "\"rss_bytes\": 200, \"heap_arena_bytes\": null, \"heap_live_bytes\": 6000,"
		   " \"heap_live_blocks\": 30, \"brk_bytes\": null"),
	      /* same group, another container: another series */
	      proc(3, T0, "app.py", "0123456789ab", false,
		   "\"rss_bytes\": 50, \"heap_arena_bytes\": 2097152, \"heap_live_bytes\": null,"
		   " \"heap_live_blocks\": null, \"brk_bytes\": null"),
	      /* a group whose heap is unreadable everywhere (null or missing) */
	      proc(4, T0, "other.py", "", false,
		   "\"rss_bytes\": 7, \"heap_arena_bytes\": null, \"heap_live_bytes\": null,"
		   " \"heap_live_blocks\": null"),
	      proc(5, T0, "other.py", "", false, "\"rss_bytes\": 8"),
	      /* exited in this frame: in no gauge */
	      proc(6, T0, "app.py", "", true,
		   "\"rss_bytes\": 1000000, \"heap_arena_bytes\": 1000000,"
		   " \"heap_live_bytes\": 1000000, \"heap_live_blocks\": 1000000"));
	t = render(p, NULL, false);
	assert_val(t, "pymemtop_python_processes{group=\"app.py\",container=\"\"}", 2);
	assert_val(t, "pymemtop_resident_memory_bytes{group=\"app.py\",container=\"\"}", 300);
	assert_val(t, "pymemtop_heap_bytes{group=\"app.py\",container=\"\"}", 1048576);
	assert_val(t, "pymemtop_heap_live_bytes{group=\"app.py\",container=\"\"}", 11000);
	assert_val(t, "pymemtop_heap_live_blocks{group=\"app.py\",container=\"\"}", 100);

	assert_val(t, "pymemtop_python_processes{group=\"app.py\",container=\"0123456789ab\"}", 1);
	assert_val(t, "pymemtop_resident_memory_bytes{group=\"app.py\",container=\"0123456789ab\"}",
		   50);
	assert_val(t, "pymemtop_heap_bytes{group=\"app.py\",container=\"0123456789ab\"}", 2097152);
	assert_no_series(t,
			 "pymemtop_heap_live_bytes{group=\"app.py\",container=\"0123456789ab\"}");
	assert_no_series(t,
			 "pymemtop_heap_live_blocks{group=\"app.py\",container=\"0123456789ab\"}");

	assert_val(t, "pymemtop_python_processes{group=\"other.py\",container=\"\"}", 2);
	assert_val(t, "pymemtop_resident_memory_bytes{group=\"other.py\",container=\"\"}", 15);
	/* unavailable is absent, never 0 */
	assert_absent(t, "pymemtop_heap_bytes{group=\"other.py\"");
	assert_absent(t, "pymemtop_heap_live_bytes{group=\"other.py\"");
	assert_absent(t, "pymemtop_heap_live_blocks{group=\"other.py\"");
	/* null in every process: the family is absent, HELP and TYPE too */
	assert_absent(t, "pymemtop_brk_bytes");
	assert_absent(t, "pymemtop_allocations");
	assert_absent(t, "pymemtop_gc_");
	assert_absent(t, "pymemtop_mmap_bytes");
	free(t);

	/* a gauge becomes unavailable everywhere: the family goes */
	FRAME(p, T0 + 1, proc(1, T0, "app.py", "", false, "\"rss_bytes\": 100"));
	t = render(p, NULL, false);
	assert_absent(t, "pymemtop_heap_bytes");
	assert_absent(t, "pymemtop_heap_live_bytes");
	assert_val(t, "pymemtop_resident_memory_bytes{group=\"app.py\",container=\"\"}", 100);
	free(t);
	prom_free(p);
}

/* ---- counters never go down ------------------------------------------------------- */

#define GC0   "pymemtop_gc_collections_total{group=\"w.py\",container=\"\",generation=\"0\"}"
#define GC1   "pymemtop_gc_collections_total{group=\"w.py\",container=\"\",generation=\"1\"}"
#define GC2   "pymemtop_gc_collections_total{group=\"w.py\",container=\"\",generation=\"2\"}"
#define NPROC "pymemtop_python_processes{group=\"w.py\",container=\"\"}"

static void test_counters_across_exit(void **state)
{
	struct prom *p = new_prom(0);
	char *t;

	(void)state;
	FRAME(p, T0, proc(10, T0, "w.py", "", false, "\"gc_collections_total\": [1, 2, 3]"),
	      proc(11, T0, "w.py a", "", false, "\"gc_collections_total\": [10, 20, 30]"));
	t = render(p, NULL, false);
	assert_val(t, GC0, 11);
	assert_val(t, GC1, 22);
	assert_val(t, GC2, 33);
	assert_val(t, NPROC, 2);
	free(t);

	/* the second exits with its final values */
	FRAME(p, T0 + 1, proc(10, T0, "w.py", "", false, "\"gc_collections_total\": [1, 2, 3]"),
	      proc(11, T0, "w.py a", "", true, "\"gc_collections_total\": [11, 20, 30]"));
	t = render(p, NULL, false);
	assert_val(t, GC0, 12);
	assert_val(t, GC1, 22);
	assert_val(t, GC2, 33);
	assert_val(t, NPROC, 1);
	free(t);

	/* gone; its last values stay */
	FRAME(p, T0 + 2, proc(10, T0, "w.py", "", false, "\"gc_collections_total\": [2, 2, 3]"));
	t = render(p, NULL, false);
	assert_val(t, GC0, 13);
	assert_val(t, GC1, 22);
	assert_val(t, GC2, 33);
	assert_val(t, NPROC, 1);
	free(t);

	/* whatever a live process reports, the sum does not go down */
	FRAME(p, T0 + 3, proc(10, T0, "w.py", "", false, "\"gc_collections_total\": [0, 0, 0]"));
	t = render(p, NULL, false);
	assert_val(t, GC0, 13);
	assert_val(t, GC1, 22);
	assert_val(t, GC2, 33);
	free(t);
	prom_free(p);
}

#define ALLOC  "pymemtop_allocated_bytes_total{group=\"m.py\",container=\"\"}"
#define GCSEC0 "pymemtop_gc_seconds_total{group=\"m.py\",container=\"\",generation=\"0\"}"
#define GCSEC1 "pymemtop_gc_seconds_total{group=\"m.py\",container=\"\",generation=\"1\"}"

/* Counters above 2^53 stay exact: summed and printed as integers, never
 * through a double (which would print 9007199254740992 for 2^53 + 1, and
 * round 2^64 - 616 up to 2^64). */
static void test_counters_beyond_2_53(void **state)
{
	struct prom *p = new_prom(1);
	char *t;

	(void)state;
	FRAME(p, T0,
	      proc(20, T0, "m.py", "", false,
		   "\"rss_bytes\": 1, \"alloc_bytes_total\": 9007199254740993"),
	      proc(21, T0, "m.py", "", false, "\"alloc_bytes_total\": 2"));
	t = render(p, NULL, false);
	assert_has_line(t, ALLOC " 9007199254740995");
	free(t);
	FRAME(p, T0 + 1,
	      proc(20, T0, "m.py", "", false,
		   "\"rss_bytes\": 1, \"alloc_bytes_total\": 18446744073709551000"));
	t = render(p, NULL, false);
	/* 21's last value stays in the sum, to the last digit */
	assert_has_line(t, ALLOC " 18446744073709551002");
	assert_has_line(t, "pymemtop_process_allocated_bytes_total{pid=\"20\","
			   "start_time=\"1700000000\"} 18446744073709551000");
	free(t);
	prom_free(p);
}

static void test_counters_missing_and_null(void **state)
{
	struct prom *p = new_prom(0);
	char *t;

	(void)state;
	FRAME(p, T0,
	      proc(20, T0, "m.py", "", false,
		   "\"alloc_bytes_total\": 100, \"gc_seconds_total\": [0.5, 0.25, 0]"),
	      proc(21, T0, "m.py", "", false,
		   "\"alloc_bytes_total\": 50, \"gc_seconds_total\": [1, 0, 0]"));
	t = render(p, NULL, false);
	assert_val(t, ALLOC, 150);
	assert_val(t, GCSEC0, 1.5);
	free(t);

	/* 21 is missing without an exit report: its last values stay; 20's GC
	 * time turns null: its last value stays */
	FRAME(p, T0 + 1,
	      proc(20, T0, "m.py", "", false,
		   "\"alloc_bytes_total\": 150, \"gc_seconds_total\": null"));
	t = render(p, NULL, false);
	assert_val(t, ALLOC, 200);
	assert_val(t, GCSEC0, 1.5);
	assert_val(t, GCSEC1, 0.25);
	assert_val(t, "pymemtop_python_processes{group=\"m.py\",container=\"\"}", 1);
	free(t);

	FRAME(p, T0 + 2,
	      proc(20, T0, "m.py", "", false,
		   "\"alloc_bytes_total\": null, \"gc_seconds_total\": [0.75, 0.25, 0]"));
	t = render(p, NULL, false);
	assert_val(t, ALLOC, 200);
	assert_val(t, GCSEC0, 1.75);
	free(t);

	/* exits reporting nulls: the last values it had stay */
	FRAME(p, T0 + 3,
	      proc(20, T0, "m.py", "", true,
		   "\"alloc_bytes_total\": null, \"gc_seconds_total\": null"));
	t = render(p, NULL, false);
	assert_val(t, ALLOC, 200);
	assert_val(t, GCSEC0, 1.75);
	assert_val(t, GCSEC1, 0.25);
	assert_val(t, "pymemtop_python_processes{group=\"m.py\",container=\"\"}", 0);
	free(t);
	prom_free(p);
}

#define ALLOCS "pymemtop_allocations_total{group=\"r.py\",container=\"\"}"

static void test_pid_reuse(void **state)
{
	struct prom *p = new_prom(0);
	char *t;

	(void)state;
	FRAME(p, T0, proc(30, 1000, "r.py", "", false, "\"allocs_total\": 1000"));
	t = render(p, NULL, false);
	assert_val(t, ALLOCS, 1000);
	free(t);

	/* same PID, new start time: a new process from a small value */
	FRAME(p, T0 + 1, proc(30, 2000, "r.py", "", false, "\"allocs_total\": 10"));
	t = render(p, NULL, false);
	assert_val(t, ALLOCS, 1010);
	assert_val(t, "pymemtop_python_processes{group=\"r.py\",container=\"\"}", 1);
	free(t);

	FRAME(p, T0 + 2, proc(30, 2000, "r.py", "", false, "\"allocs_total\": 20"));
	t = render(p, NULL, false);
	assert_val(t, ALLOCS, 1020);
	free(t);

	/* it exits, and the PID is reused once more */
	FRAME(p, T0 + 3, proc(30, 2000, "r.py", "", true, "\"allocs_total\": 25"));
	FRAME(p, T0 + 4, proc(30, 3000, "r.py", "", false, "\"allocs_total\": 1"));
	t = render(p, NULL, false);
	assert_val(t, ALLOCS, 1026);
	free(t);
	prom_free(p);
}

/* ---- groups without processes -------------------------------------------------------- */

static void test_group_expiry(void **state)
{
	struct prom *p = new_prom(0);
	char *t;

	(void)state;
	/* job.py first (the older group), web.py lives on */
	FRAME(p, 1000, proc(1, 1, "job.py", "", false, "\"rss_bytes\": 10, \"allocs_total\": 5"),
	      proc(2, 2, "web.py", "", false, "\"rss_bytes\": 20, \"allocs_total\": 100"));
	FRAME(p, 1100, proc(2, 2, "web.py", "", false, "\"rss_bytes\": 20, \"allocs_total\": 110"));
	t = render(p, NULL, false);
	assert_val(t, "pymemtop_python_processes{group=\"job.py\",container=\"\"}", 0);
	assert_val(t, "pymemtop_steady_growth_processes{group=\"job.py\",container=\"\"}", 0);
	assert_val(t, "pymemtop_allocations_total{group=\"job.py\",container=\"\"}", 5);
	assert_no_series(t, "pymemtop_resident_memory_bytes{group=\"job.py\",container=\"\"}");
	free(t);

	FRAME(p, 1000 + PROM_GROUP_KEEP_S - 0.5,
	      proc(2, 2, "web.py", "", false, "\"rss_bytes\": 20, \"allocs_total\": 120"));
	t = render(p, NULL, false);
	assert_val(t, "pymemtop_python_processes{group=\"job.py\",container=\"\"}", 0);
	assert_val(t, "pymemtop_allocations_total{group=\"job.py\",container=\"\"}", 5);
	free(t);

	FRAME(p, 1000 + PROM_GROUP_KEEP_S,
	      proc(2, 2, "web.py", "", false, "\"rss_bytes\": 20, \"allocs_total\": 130"));
	t = render(p, NULL, false);
	assert_absent(t, "job.py");
	/* the group that stays keeps its own values */
	assert_val(t, "pymemtop_allocations_total{group=\"web.py\",container=\"\"}", 130);
	assert_val(t, "pymemtop_python_processes{group=\"web.py\",container=\"\"}", 1);
	free(t);

	/* and still adds up after it moved: an exit, then a newcomer */
	FRAME(p, 1700, proc(2, 2, "web.py", "", true, "\"rss_bytes\": 20, \"allocs_total\": 140"),
	      proc(3, 3, "web.py", "", false, "\"rss_bytes\": 30, \"allocs_total\": 1"));
	t = render(p, NULL, false);
	assert_val(t, "pymemtop_allocations_total{group=\"web.py\",container=\"\"}", 141);
	assert_val(t, "pymemtop_python_processes{group=\"web.py\",container=\"\"}", 1);
	assert_val(t, "pymemtop_resident_memory_bytes{group=\"web.py\",container=\"\"}", 30);
	assert_absent(t, "job.py");
	free(t);

	/* every process gone: the empty group stays, then goes */
	prom_update(p, NULL, 0, 1800);
	t = render(p, NULL, false);
	assert_val(t, "pymemtop_python_processes{group=\"web.py\",container=\"\"}", 0);
	assert_val(t, "pymemtop_allocations_total{group=\"web.py\",container=\"\"}", 141);
	free(t);
	prom_update(p, NULL, 0, 1700 + PROM_GROUP_KEEP_S);
	t = render(p, NULL, false);
	assert_absent(t, "group=");
	/* the family headers of the always-present gauges stay */
	assert_has_line(t, "# TYPE pymemtop_python_processes gauge");
	free(t);
	prom_free(p);
}

/* ---- --prom-pids --------------------------------------------------------------------- */

static void test_prom_pids(void **state)
{
	struct prom *p = new_prom(1);
	struct json_object *big, *mid, *small;
	static struct expo e; /* large: not on the stack */
	char *t;

	(void)state;
	/* the largest has exited: not chosen */
	big = proc(1, T0 + 1, "big.py", "", true,
		   "\"rss_bytes\": 5000000, \"heap_arena_bytes\": 1048576");
	mid = proc(2, T0 + 2.75, "/srv/mid.py --x", "0123456789ab", false,
		   "\"rss_bytes\": 3000000, \"heap_arena_bytes\": null, \"heap_live_bytes\": 900,"
		   " \"alloc_bytes_total\": 4096, \"gc_collections_total\": [7, 8, 9],"
		   " \"gc_seconds_total\": [0.5, 0.25, 0.125]");
	set_str(mid, "user", "bob");
	set_str(mid, "python_version", "3.12.1");
	set_str(mid, "heap_allocator", "pymalloc+hooks");
	small = proc(3, T0 + 3, "small.py", "", false,
		     "\"rss_bytes\": 1000000, \"heap_arena_bytes\": 1048576");
	FRAME(p, T0 + 10, small, big, mid);
	t = render(p, NULL, false);
	check_expo(t, false, &e);
	assert_unique(&e);
	assert_has_line(t,
			"pymemtop_process_info{pid=\"2\",start_time=\"1700000003\","
			"group=\"mid.py\",container=\"0123456789ab\","
			"python_version=\"3.12.1\",user=\"bob\",allocator=\"pymalloc+hooks\"} 1");
	assert_has_line(t, "# TYPE pymemtop_process_info gauge");
	assert_has_line(t, "pymemtop_process_resident_memory_bytes{pid=\"2\","
			   "start_time=\"1700000003\"} 3000000");
	assert_has_line(t, "pymemtop_process_heap_live_bytes{pid=\"2\",start_time=\"1700000003\"} "
			   "900");
	assert_has_line(t, "pymemtop_process_allocated_bytes_total{pid=\"2\","
			   "start_time=\"1700000003\"} 4096");
	assert_has_line(t, "pymemtop_process_gc_collections_total{pid=\"2\","
			   "start_time=\"1700000003\",generation=\"2\"} 9");
	assert_has_line(t, "pymemtop_process_gc_seconds_total{pid=\"2\","
			   "start_time=\"1700000003\",generation=\"1\"} 0.25");
	/* its heap is unreadable: no per-PID heap family at all */
	assert_absent(t, "pymemtop_process_heap_bytes");
	assert_absent(t, "pid=\"1\"");
	assert_absent(t, "pid=\"3\"");
	assert_int_equal(find_fam(&e, "pymemtop_process_info")->samples, 1);
	free(t);

	/* the next frame chooses again: only small.py is left */
	FRAME(p, T0 + 11,
	      proc(3, T0 + 3, "small.py", "", false,
		   "\"rss_bytes\": 1000000, \"heap_arena_bytes\": 1048576"));
	t = render(p, NULL, false);
	assert_absent(t, "pid=\"2\"");
	assert_has_line(t, "pymemtop_process_heap_bytes{pid=\"3\",start_time=\"1700000003\"} "
			   "1048576");
	free(t);
	prom_free(p);

	/* without --prom-pids: no per-PID family */
	p = new_prom(0);
	FRAME(p, T0, proc(3, T0, "small.py", "", false, "\"rss_bytes\": 1000000"));
	t = render(p, NULL, false);
	assert_absent(t, "pymemtop_process_");
	assert_absent(t, "pid=");
	free(t);
	prom_free(p);
}

/* --prom-sites: each per-PID process's first N sites (the JSON's order,
 * heaviest first), label values valid UTF-8 and escaped, "" for null,
 * sites that read alike summed into one series; none for a process whose
 * sites are null, and none without --prom-sites. */
static void test_prom_sites(void **state)
{
	struct prom *p = prom_new(2, 3);
	static struct expo e; /* large: not on the stack */
	struct json_object *app;
	char *t;

	(void)state;
	assert_non_null(p);
	app = proc(2, T0 + 2, "app.py", "", false,
		   "\"rss_bytes\": 3000000, \"sites\": ["
		   "{\"function\": \"load\", \"file\": \"/srv/app.py\", \"line\": 7,"
		   " \"source\": \"pool_refill\", \"estimated_bytes\": 9000},"
		   "{\"function\": \"load\", \"file\": \"/srv/app.py\", \"line\": 7,"
		   " \"source\": \"pool_refill\", \"estimated_bytes\": 1000},"
		   "{\"function\": \"[no Python frames]\", \"file\": null, \"line\": null,"
		   " \"source\": \"malloc\", \"estimated_bytes\": 500},"
		   "{\"function\": \"q\\\"x\\\\y\\nz\", \"file\": \"\\u00ff\", \"line\": 3,"
		   " \"source\": \"arena\", \"estimated_bytes\": 400},"
		   "{\"function\": \"fifth\", \"file\": \"f.py\", \"line\": 1,"
		   " \"source\": \"arena\", \"estimated_bytes\": 300}]");
	/* a name that is not UTF-8 (from the process's memory) */
	json_object_object_add(json_object_array_get_idx(json_object_object_get(app, "sites"), 3),
			       "file", json_object_new_string("a\xff.py"));
	FRAME(p, T0 + 10, app,
	      proc(3, T0 + 3, "other.py", "", false, "\"rss_bytes\": 2000000, \"sites\": null"));
	t = render(p, NULL, false);
	check_expo(t, false, &e);
	assert_unique(&e);
	assert_has_line(t, "# TYPE pymemtop_process_site_allocated_bytes_total counter");
	assert_has_line(t, "pymemtop_process_site_allocated_bytes_total{pid=\"2\","
			   "start_time=\"1700000002\",function=\"load\",file=\"/srv/app.py\","
			   "line=\"7\",source=\"pool_refill\"} 10000");
	assert_has_line(t, "pymemtop_process_site_allocated_bytes_total{pid=\"2\","
			   "start_time=\"1700000002\",function=\"[no Python frames]\",file=\"\","
			   "line=\"\",source=\"malloc\"} 500");
	assert_has_line(t, "pymemtop_process_site_allocated_bytes_total{pid=\"2\","
			   "start_time=\"1700000002\",function=\"q\\\"x\\\\y\\nz\","
			   "file=\"a\xef\xbf\xbd.py\",line=\"3\",source=\"arena\"} 400");
	/* the first three of the JSON's sites, two of them one series */
	assert_absent(t, "fifth");
	assert_int_equal(find_fam(&e, "pymemtop_process_site_allocated_bytes_total")->samples, 3);
	assert_absent(t, "pid=\"3\",start_time=\"1700000003\",function");
	free(t);
	t = render(p, NULL, true);
	assert_has_line(t, "# TYPE pymemtop_process_site_allocated_bytes counter");
	assert_has_line(t, "# UNIT pymemtop_process_site_allocated_bytes bytes");
	free(t);
	prom_free(p);

	/* without --prom-sites: no site series */
	p = new_prom(2);
	FRAME(p, T0, full(1, "app.py", "", 1));
	t = render(p, NULL, false);
	assert_absent(t, "pymemtop_process_site");
	free(t);
	prom_free(p);
}

/* ---- steady growth ------------------------------------------------------------------- */

#define STEADY(h, r) "\"growth\": {\"heap_live_bytes\": " h ", \"rss_bytes\": " r "}"
#define G(s)	     "{\"window_seconds\": 60, \"bytes_per_s\": 4096, \"steady\": " s "}"

static void test_steady_growth(void **state)
{
	struct prom *p = new_prom(0);
	char *t;

	(void)state;
	FRAME(p, T0,
	      /* the heap grows steadily */
	      proc(1, T0, "s.py", "", false,
		   "\"heap_live_bytes\": 100, " STEADY(G("true"), "null")),
	      /* no heap: RSS grows steadily */
	      proc(2, T0, "s.py", "", false,
		   "\"heap_live_bytes\": null, " STEADY("null", G("true"))),
	      /* no heap, no heap growth member at all */
	      proc(3, T0, "s.py", "", false,
		   "\"heap_live_bytes\": null, \"growth\": {\"rss_bytes\": " G("true") "}"),
	      /* the heap is read and flat: RSS growth does not count */
	      proc(4, T0, "s.py", "", false,
		   "\"heap_live_bytes\": 100, " STEADY(G("false"), G("true"))),
	      /* the heap is read, its growth not known yet: not RSS's */
	      proc(5, T0, "s.py", "", false,
		   "\"heap_live_bytes\": 100, " STEADY("null", G("true"))),
	      proc(6, T0, "s.py", "", false, "\"heap_live_bytes\": 100, \"growth\": null"),
	      proc(7, T0, "s.py", "", false, "\"heap_live_bytes\": null"),
	      /* exited: not a process of the group any more */
	      proc(8, T0, "s.py", "", true, "\"heap_live_bytes\": 100, " STEADY(G("true"), "null")),
	      /* another group */
	      proc(9, T0, "q.py", "", false, "\"heap_live_bytes\": 1, " STEADY(G("true"), "null")));
	t = render(p, NULL, false);
	assert_val(t, "pymemtop_steady_growth_processes{group=\"s.py\",container=\"\"}", 3);
	assert_val(t, "pymemtop_python_processes{group=\"s.py\",container=\"\"}", 7);
	assert_val(t, "pymemtop_steady_growth_processes{group=\"q.py\",container=\"\"}", 1);
	free(t);

	/* recomputed every frame */
	FRAME(p, T0 + 1,
	      proc(1, T0, "s.py", "", false,
		   "\"heap_live_bytes\": 100, " STEADY(G("false"), "null")));
	t = render(p, NULL, false);
	assert_val(t, "pymemtop_steady_growth_processes{group=\"s.py\",container=\"\"}", 0);
	assert_val(t, "pymemtop_steady_growth_processes{group=\"q.py\",container=\"\"}", 0);
	free(t);
	prom_free(p);
}

/* ---- pymemtop's own families ---------------------------------------------------------- */

static void test_self_families(void **state)
{
	struct prom *p = new_prom(0);
	struct prom_self s = self_all();
	static struct expo e; /* large: not on the stack */
	char *t;

	(void)state;
	prom_update(p, NULL, 0, T0);
	t = render(p, &s, false);
	check_expo(t, false, &e);
	assert_has_line(t, "pymemtop_build_info{version=\"1.2.3\"} 1");
	assert_has_line(t, "# TYPE pymemtop_build_info gauge");
	assert_val(t, "pymemtop_last_update_timestamp_seconds", T0 + 0.5);
	assert_has_line(t, "# TYPE pymemtop_last_update_timestamp_seconds gauge");
	assert_has_line(t, "pymemtop_dropped_events_total{reason=\"events_lost\"} 3");
	assert_has_line(t, "pymemtop_dropped_events_total{reason=\"mm_map_full\"} 0");
	assert_has_line(t, "pymemtop_dropped_events_total{reason=\"proc_read_failed\"} 9");
	assert_int_equal(find_fam(&e, "pymemtop_dropped_events_total")->samples, 3);
	assert_has_line(t, "pymemtop_attach_failures_total{probe=\"gc\"} 1");
	assert_has_line(t, "pymemtop_attach_failures_total{probe=\"heap\"} 2");
	assert_has_line(t, "pymemtop_proc_read_failures_total 6");
	assert_has_line(t, "pymemtop_heap_snapshots_total 7");
	assert_has_line(t, "pymemtop_heap_snapshots_dropped_total 8");
	assert_has_line(t, "pymemtop_bpf_run_seconds_total 0.25");
	assert_has_line(t, "# TYPE pymemtop_bpf_run_seconds_total counter");
	assert_has_line(t, "pymemtop_textfile_write_errors_total 4");
	assert_has_line(t, "pymemtop_http_errors_total 5");
	free(t);

	/* BPF statistics unavailable, no --prom-file, no --listen, no drops */
	s.bpf_ok = false;
	s.has_write_errors = false;
	s.has_http_errors = false;
	s.ndrops = 0;
	s.version = NULL;
	t = render(p, &s, false);
	check_expo(t, false, &e);
	assert_absent(t, "pymemtop_bpf_run_seconds");
	assert_absent(t, "pymemtop_textfile_write_errors");
	assert_absent(t, "pymemtop_http_errors");
	assert_absent(t, "pymemtop_dropped_events");
	assert_has_line(t, "pymemtop_build_info{version=\"\"} 1");
	/* always there, 0 included */
	assert_has_line(t, "pymemtop_attach_failures_total{probe=\"gc\"} 1");
	assert_has_line(t, "pymemtop_proc_read_failures_total 6");
	free(t);

	/* bpf_ok alone, with a 0 */
	s.bpf_ok = true;
	s.bpf_seconds = 0;
	t = render(p, &s, false);
	assert_has_line(t, "pymemtop_bpf_run_seconds_total 0");
	assert_absent(t, "pymemtop_textfile_write_errors");
	free(t);
	s.bpf_ok = false;
	s.has_write_errors = true;
	s.write_errors = 0;
	t = render(p, &s, false);
	assert_absent(t, "pymemtop_bpf_run_seconds");
	assert_has_line(t, "pymemtop_textfile_write_errors_total 0");
	free(t);
	prom_free(p);
}

/* ---- OpenMetrics ----------------------------------------------------------------------- */

static void test_openmetrics(void **state)
{
	struct prom *p = new_prom(2);
	struct prom_self s = self_all();
	static struct expo e; /* large: not on the stack */
	size_t n;
	char *t;

	(void)state;
	FRAME(p, T0, full(100, "app.py --port 80", "", 1), full(101, "app.py --port 81", "", 2),
	      full(102, "-m celery worker", "0123456789ab", 3));
	t = render(p, &s, true);
	check_expo(t, true, &e);
	assert_unique(&e);
	n = strlen(t);
	assert_true(n > 6);
	assert_string_equal(t + n - 6, "# EOF\n");
	assert_ptr_equal(strstr(t, "# EOF"), t + n - 6);

	/* counters: family without _total, samples with it */
	assert_has_line(t, "# TYPE pymemtop_gc_collections counter");
	assert_has_line(t, "# HELP pymemtop_gc_collections Completed garbage collections per "
			   "generation");
	assert_has_line(t, "pymemtop_gc_collections_total{group=\"app.py\",container=\"\","
			   "generation=\"0\"} 300");
	assert_has_line(t, "# TYPE pymemtop_allocated_bytes counter");
	assert_has_line(t, "# UNIT pymemtop_allocated_bytes bytes");
	assert_has_line(t, "# UNIT pymemtop_gc_seconds seconds");
	assert_has_line(t, "# UNIT pymemtop_resident_memory_bytes bytes");
	assert_has_line(t, "# UNIT pymemtop_last_update_timestamp_seconds seconds");
	assert_has_line(t, "# UNIT pymemtop_bpf_run_seconds seconds");
	assert_has_line(t, "# TYPE pymemtop_dropped_events counter");
	assert_has_line(t, "pymemtop_dropped_events_total{reason=\"events_lost\"} 3");
	assert_has_line(t, "pymemtop_heap_snapshots_dropped_total 8");
	assert_absent(t, "_total counter");
	assert_absent(t, "# HELP pymemtop_gc_collections_total");
	assert_absent(t, "# UNIT pymemtop_python_processes");
	assert_absent(t, "# UNIT pymemtop_heap_live_blocks");
	/* the same samples as the classic text */
	{
		static struct expo c;
		char *ct = render(p, &s, false);

		check_expo(ct, false, &c);
		assert_int_equal(c.nsamples, e.nsamples);
		assert_int_equal(c.nfams, e.nfams);
		for (int i = 0; i < c.nsamples; i++) {
			assert_string_equal(c.samples[i].name, e.samples[i].name);
			assert_string_equal(c.samples[i].labels, e.samples[i].labels);
			assert_true(c.samples[i].v == e.samples[i].v);
		}
		free(ct);
	}
	free(t);

	/* nothing observed: still "# EOF" last */
	prom_free(p);
	p = new_prom(0);
	t = render(p, NULL, true);
	check_expo(t, true, &e);
	free(t);
	prom_free(p);
}

/* ---- a long container label --------------------------------------------------------------- */

/* prom.c keeps a container label in 16 bytes; one that is longer (a
 * full 64-hex-digit ID, a pod name) must still be one group: the same
 * series frame after frame, never duplicates. */
static void test_long_container(void **state)
{
	struct prom *p = new_prom(0);
	const char *ctr = "0123456789abcdef0123"; /* 20 bytes */
	static struct expo e; /* large: not on the stack */
	char *t;

	(void)state;
	for (int i = 0; i < 3; i++)
		FRAME(p, T0 + i,
		      proc(1, T0, "app.py", ctr, false, "\"rss_bytes\": 100, \"allocs_total\": 7"));
	t = render(p, NULL, false);
	check_expo(t, false, &e);
	assert_unique(&e);
	assert_int_equal(find_fam(&e, "pymemtop_python_processes")->samples, 1);
	free(t);
	prom_free(p);
}

/* ---- external parsers -------------------------------------------------------------------- */

static int run(const char *cmd, char *out, size_t outlen)
{
	FILE *f = popen(cmd, "r");
	size_t n = 0, r;
	int st;

	assert_non_null(f);
	while (n + 1 < outlen && (r = fread(out + n, 1, outlen - 1 - n, f)) > 0)
		n += r;
	out[n] = '\0';
	st = pclose(f);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void write_tmp(char *path, const char *text)
{
	int fd = mkstemp(path);
	size_t n = strlen(text);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, n), (ssize_t)n);
	close(fd);
}

/* A realistic exposition: several groups, an exited process, an empty
 * group, per-PID series, every self family. */
static struct prom *realistic(void)
{
	struct prom *p = prom_new(3, 2); /* with --prom-sites */

	assert_non_null(p);
	struct json_object *ex = full(9, "old.py", "", 1);

	json_object_object_add(ex, "exited", json_object_new_boolean(true));
	FRAME(p, T0, full(1, "app.py --port 80", "", 1), full(5, "batch.py", "", 1));
	FRAME(p, T0 + 5, full(1, "app.py --port 80", "", 1.5), full(2, "app.py --port 81", "", 2),
	      full(3, "-m celery worker -A proj", "0123456789ab", 3),
	      full(4, "gunicorn: worker [app]", "fedcba987654", 0.5),
	      full(6, "we\\\"ird\\\\na\\nme.py x", "", 0.25),
	      proc(7, T0, "-c import time", "", false, "\"rss_bytes\": 9000000"), ex);
	return p;
}

static void test_promtool(void **state)
{
	char path[] = "/tmp/test_prom.XXXXXX", cmd[256], out[16384];
	struct prom_self s = self_all();
	struct prom *p;
	char *t;
	int rc;

	(void)state;
	if (access("/usr/bin/promtool", X_OK)) {
		print_message("SKIP: promtool not installed\n");
		skip();
	}
	p = realistic();
	t = render(p, &s, false);
	write_tmp(path, t);
	snprintf(cmd, sizeof(cmd), "/usr/bin/promtool check metrics < %s 2>&1", path);
	rc = run(cmd, out, sizeof(out));
	unlink(path);
	if (rc || out[0])
		fail_msg("promtool check metrics: exit %d, output:\n%s\non:\n%s", rc, out, t);
	free(t);
	prom_free(p);

	/* before any process: families without samples */
	p = new_prom(0);
	prom_update(p, NULL, 0, T0);
	s.bpf_ok = s.has_http_errors = s.has_write_errors = false;
	s.ndrops = 0;
	t = render(p, &s, false);
	strcpy(path, "/tmp/test_prom.XXXXXX");
	write_tmp(path, t);
	snprintf(cmd, sizeof(cmd), "/usr/bin/promtool check metrics < %s 2>&1", path);
	rc = run(cmd, out, sizeof(out));
	unlink(path);
	if (rc || out[0])
		fail_msg("promtool check metrics: exit %d, output:\n%s\non:\n%s", rc, out, t);
	free(t);
	prom_free(p);
}

static const char OM_CHECK[] =
	"import sys\n"
	"from prometheus_client.openmetrics.parser import text_string_to_metric_families\n"
	"fams = list(text_string_to_metric_families(open(sys.argv[1]).read()))\n"
	"seen = set()\n"
	"for f in fams:\n"
	"    for s in f.samples:\n"
	"        k = (s.name, tuple(sorted(s.labels.items())))\n"
	"        assert k not in seen, k\n"
	"        assert s.timestamp is None, s\n"
	"        seen.add(k)\n"
	"print(len(fams), len(seen))\n";

static void test_openmetrics_parser(void **state)
{
	static const char *const pythons[] = { "python3", "/usr/bin/python3" };
	char path[] = "/tmp/test_prom.XXXXXX", script[] = "/tmp/test_prom_om.XXXXXX";
	char cmd[512], out[16384];
	struct prom_self s = self_all();
	const char *py = NULL;
	int rc, nfams = -1, nsamples = -1;
	static struct expo e; /* large: not on the stack */
	struct prom *p;
	char *t;

	(void)state;
	for (size_t i = 0; i < sizeof(pythons) / sizeof(pythons[0]) && !py; i++) {
		snprintf(cmd, sizeof(cmd),
			 "%s -c 'import prometheus_client.openmetrics.parser' >/dev/null 2>&1",
			 pythons[i]);
		if (system(cmd) == 0)
			py = pythons[i];
	}
	if (!py) {
		print_message(
			"SKIP: python3 has no prometheus_client (python3-prometheus-client)\n");
		skip();
	}
	p = realistic();
	t = render(p, &s, true);
	check_expo(t, true, &e);
	write_tmp(path, t);
	write_tmp(script, OM_CHECK);
	snprintf(cmd, sizeof(cmd), "%s %s %s 2>&1", py, script, path);
	rc = run(cmd, out, sizeof(out));
	unlink(path);
	unlink(script);
	if (rc || sscanf(out, "%d %d", &nfams, &nsamples) != 2)
		fail_msg("%s: exit %d, output:\n%s\non:\n%s", cmd, rc, out, t);
	/* every family and sample understood */
	assert_int_equal(nfams, e.nfams);
	assert_int_equal(nsamples, e.nsamples);
	free(t);
	prom_free(p);
}

/* The model holds what the process has, bytes as they are: every label
 * from it (group, user, version, container) is made valid UTF-8 (U+FFFD)
 * in the exposition. */
static void test_labels_from_invalid_utf8(void **state)
{
	struct prom *p = new_prom(1);
	struct pm_proc m;
	char *t;

	(void)state;
	assert_non_null(p);
	fixture_model("{\"pid\": 5, \"start_time\": 1700000000, \"exited\": false,"
		      " \"rss_bytes\": 1, \"container\": \"\"}",
		      &m);
	pm_set_str(&m, PM_COMMAND, "bad\xff\xfe.py");
	pm_set_str(&m, PM_USER, "u\xc3");
	pm_set_str(&m, PM_PYTHON_VERSION, "3.11\x80");
	prom_update(p, &m, 1, T0);
	model_free(&m);
	t = render(p, NULL, false);
	assert_true(valid_utf8(t));
	assert_non_null(strstr(t, "group=\"bad\xef\xbf\xbd\xef\xbf\xbd.py\""));
	assert_non_null(strstr(t, "user=\"u\xef\xbf\xbd\""));
	free(t);
	prom_free(p);
}

/* --prom-types N: per group the N types with the most bytes, summed over
 * its running processes; none without the option. */
static void test_heap_types_family(void **state)
{
	static const char *const types =
		"\"heap_types\": [{\"type\": \"dict\", \"objects\": 10, \"bytes\": 1000},"
		" {\"type\": \"Rec\", \"objects\": 20, \"bytes\": 900},"
		" {\"type\": \"str\", \"objects\": 5, \"bytes\": 100}]";
	struct prom *p = new_prom(0);
	char *t, more[512];

	(void)state;
	snprintf(more, sizeof(more), "\"rss_bytes\": 1, %s", types);
	FRAME(p, T0, proc(1, T0, "app.py", "", false, more), proc(2, T0, "app.py", "", false, more),
	      proc(3, T0, "other.py", "", false, more));
	t = render(p, NULL, false);
	assert_null(strstr(t, "pymemtop_heap_type_bytes"));
	free(t);
	prom_set_types(p, 2);
	FRAME(p, T0 + 1, proc(1, T0, "app.py", "", false, more),
	      proc(2, T0, "app.py", "", false, more), proc(3, T0, "other.py", "", false, more),
	      proc(4, T0, "app.py", "", true, more)); /* exited: not summed */
	t = render(p, NULL, false);
	assert_has_line(t, "# TYPE pymemtop_heap_type_bytes gauge");
	assert_has_line(
		t, "pymemtop_heap_type_bytes{group=\"app.py\",container=\"\",type=\"dict\"} 2000");
	assert_has_line(
		t, "pymemtop_heap_type_bytes{group=\"app.py\",container=\"\",type=\"Rec\"} 1800");
	assert_has_line(
		t,
		"pymemtop_heap_type_bytes{group=\"other.py\",container=\"\",type=\"dict\"} 1000");
	assert_null(strstr(t, "type=\"str\"")); /* the third: over N */
	free(t);
	prom_free(p);
}

/* docs/prometheus.md names the field each summed family comes from, as
 * the model has it. */
static void test_families_documented(void **state)
{
	const char *name;
	bool counter;
	enum pm_id id;
	char path[160], head[160], want[200], line[2048];

	(void)state;
	for (int i = 0; prom_group_family(i, &name, &counter, &id); i++) {
		FILE *f = fopen("docs/prometheus.md", "r");
		bool found = false;

		assert_non_null(f);
		snprintf(head, sizeof(head), "| `%s%s` |", name, counter ? "_total" : "");
		snprintf(want, sizeof(want), "`%s", pm_path(id, path, sizeof(path)));
		while (!found && fgets(line, sizeof(line), f))
			found = !strncmp(line, head, strlen(head)) && strstr(line, want);
		fclose(f);
		if (!found)
			fail_msg("docs/prometheus.md: no row %s naming %s`", head, want);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_group_shapes),
		cmocka_unit_test(test_group_celery_title),
		cmocka_unit_test(test_group_length),
		cmocka_unit_test(test_classic_format),
		cmocka_unit_test(test_label_escaping),
		cmocka_unit_test(test_no_duplicates),
		cmocka_unit_test(test_sums),
		cmocka_unit_test(test_counters_across_exit),
		cmocka_unit_test(test_counters_beyond_2_53),
		cmocka_unit_test(test_families_documented),
		cmocka_unit_test(test_labels_from_invalid_utf8),
		cmocka_unit_test(test_heap_types_family),
		cmocka_unit_test(test_counters_missing_and_null),
		cmocka_unit_test(test_pid_reuse),
		cmocka_unit_test(test_group_expiry),
		cmocka_unit_test(test_prom_pids),
		cmocka_unit_test(test_prom_sites),
		cmocka_unit_test(test_steady_growth),
		cmocka_unit_test(test_self_families),
		cmocka_unit_test(test_openmetrics),
		cmocka_unit_test(test_long_container),
		cmocka_unit_test(test_promtool),
		cmocka_unit_test(test_openmetrics_parser),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
