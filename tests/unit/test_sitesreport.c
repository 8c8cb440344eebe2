// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * sitesreport.c: "function (file:line)" fitted to a width (the file
 * shortened from the left, then the function from the right, cuts on
 * character boundaries), and the --sites report of process objects shaped
 * like `pymemtop --json` ones (read into typed models strictly,
 * model_fixture.h): the exact text of a full report, the special site
 * names, unavailable and empty sites, --sites-top, hostile names (control
 * characters, invalid and long UTF-8) and a failed write.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "model_fixture.h"
#include "sites_json.h"
#include "sitesreport.h"

static struct json_object *parse(const char *json)
{
	struct json_object *o = json_tokener_parse(json);

	if (!o)
		fail_msg("bad test JSON: %s", json);
	return o;
}

/* sites_frame_text of a frame object given as JSON, at cols. */
static const char *frame(const char *json, int cols)
{
	static char buf[1024];
	struct json_object *o = parse(json);
	struct pm_proc p = { 0 };
	struct pm_frame f;

	fx_frame(&p, o, &f);
	sites_frame_text(&f, cols, buf, sizeof(buf));
	json_object_put(o);
	model_free(&p);
	return buf;
}

static char *report_of(struct json_object *o, int top)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	struct pm_proc p;

	fixture_model_of(o, &p);
	assert_non_null(f);
	assert_int_equal(sites_report(f, &p, top), 0);
	assert_int_equal(fclose(f), 0);
	model_free(&p);
	return text;
}

/* The report of one process object given as JSON. */
static char *report(const char *json, int top)
{
	struct json_object *o = parse(json);
	char *text = report_of(o, top);

	json_object_put(o);
	return text;
}

static int utf8_chars(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

/* Valid UTF-8 without C0 (but '\n'), DEL or C1 controls. */
static void assert_terminal_safe(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p) {
		int n = *p < 0x80 ? 1 : (*p & 0xe0) == 0xc0 ? 2 : (*p & 0xf0) == 0xe0 ? 3 : 4;

		if ((*p < 0x20 && *p != '\n') || *p == 0x7f)
			fail_msg("control 0x%02x at %td", *p, (const char *)p - s);
		if (*p >= 0x80 && ((*p & 0xc0) == 0x80 || *p >= 0xf8))
			fail_msg("bad UTF-8 lead 0x%02x at %td", *p, (const char *)p - s);
		for (int i = 1; i < n; i++)
			if ((p[i] & 0xc0) != 0x80)
				fail_msg("cut UTF-8 sequence at %td", (const char *)p - s);
		if (n == 2 && *p == 0xc2 && p[1] < 0xa0)
			fail_msg("C1 control at %td", (const char *)p - s);
		p += n;
	}
}

/* ---- one frame ------------------------------------------------------------- */

#define CACHE "{\"function\": \"make_nodes\", \"file\": \"/srv/app/cache.py\", \"line\": 12}"

static void test_frame_fits(void **state)
{
	(void)state;
	assert_string_equal(frame(CACHE, 80), "make_nodes (/srv/app/cache.py:12)");
	assert_string_equal(frame(CACHE, 33), "make_nodes (/srv/app/cache.py:12)"); /* exactly */
	assert_string_equal(frame("{\"function\": \"f\", \"file\": \"a.py\", \"line\": null}", 80),
			    "f (a.py)");
	assert_string_equal(frame("{\"function\": \"f\", \"file\": \"a.py\"}", 80), "f (a.py)");
	assert_string_equal(
		frame("{\"function\": \"<module>\", \"file\": \"a.py\", \"line\": 0}", 80),
		"<module> (a.py:0)");
}

/* The special names have no file: the name alone. */
static void test_frame_special_names(void **state)
{
	(void)state;
	assert_string_equal(
		frame("{\"function\": \"[no Python frames]\", \"file\": null, \"line\": null}", 80),
		"[no Python frames]");
	assert_string_equal(
		frame("{\"function\": \"[unknown code]\", \"file\": null, \"line\": null}", 80),
		"[unknown code]");
	assert_string_equal(frame("{\"function\": \"[unknown code]\", \"file\": null}", 5),
			    "[unkn");
	/* no function: "?" */
	assert_string_equal(
		sites_frame_text(&(struct pm_frame){ NULL, "a.py", 3 }, 80, (char[32]){ 0 }, 32),
		"? (a.py:3)");
}

/* Narrower: the file loses its head first, keeping the line number. */
static void test_frame_file_shortened_from_left(void **state)
{
	(void)state;
	assert_string_equal(frame(CACHE, 32), "make_nodes (.../app/cache.py:12)");
	assert_string_equal(frame(CACHE, 28), "make_nodes (.../cache.py:12)");
	assert_string_equal(frame(CACHE, 27), "make_nodes (...cache.py:12)");
	for (int cols = 27; cols <= 33; cols++)
		assert_int_equal(utf8_chars(frame(CACHE, cols)), cols);
}

/* Narrower still: at least 8 characters of the file stay, the function
 * is cut; below that the text is just cut. */
static void test_frame_function_cut(void **state)
{
	(void)state;
	assert_string_equal(frame(CACHE, 26), "make_n... (...cache.py:12)");
	assert_string_equal(frame(CACHE, 24), "make... (...cache.py:12)");
	assert_string_equal(frame(CACHE, 20), "make_nodes (...cache");
	assert_string_equal(frame(CACHE, 6), "make_n");
	assert_string_equal(frame(CACHE, 0), "");
	assert_string_equal(frame(CACHE, -5), "");
	/* a short file is kept whole, never "..." and nothing */
	assert_string_equal(frame("{\"function\": \"a_rather_long_function_name\", "
				  "\"file\": \"x.py\", \"line\": 1234}",
				  24),
			    "a_rather_... (x.py:1234)");
}

/* A short buffer takes whole characters only. */
static void test_frame_buffer_boundary(void **state)
{
	const struct pm_frame *o = &(struct pm_frame){ "\u00e9\u00e9\u00e9", "a.py", -1 };
	char b[8];

	(void)state;
	assert_string_equal(sites_frame_text(o, 80, b, 4), "\xc3\xa9");
	assert_string_equal(sites_frame_text(o, 80, b, 5), "\xc3\xa9\xc3\xa9");
	assert_string_equal(sites_frame_text(o, 80, b, 8), "\xc3\xa9\xc3\xa9\xc3\xa9 ");
	assert_string_equal(sites_frame_text(o, 2, b, 8), "\xc3\xa9\xc3\xa9");
	assert_string_equal(sites_frame_text(o, 80, b, 1), "");
}

/* ---- the report ------------------------------------------------------------ */

/* A 3.12 process: pid, command and version, then the sites fields. */
#define PROC(sites_fields)                                                                         \
	"{\"pid\": 1234, \"command\": \"app.py\", \"cmdline\": \"python3 app.py\","                \
	" \"python_version\": \"3.12.1\", " sites_fields "}"

#define FULL PROC(SITES_FIELDS)

static const char FULL_TEXT[] =
	"SITES 1234 app.py (Python 3.12.1): 12M sampled in 577 samples (pool_refill+malloc)\n"
	"       LIVE  EST.BYTES  LAST 60s  SAMPLES  SOURCE       SITE\n"
	"       8.0M       9.0M      1.0M      512  pool_refill  make_nodes "
	"(/srv/app/cache.py:12)\n"
	"                                                          <- leaf_alloc "
	"(/srv/app/cache.py:20)\n"
	"                                                          <- fill (/srv/app/cache.py:31)\n"
	"          -       2.0M        0B       60  malloc       [no Python frames]\n"
	"          -       1.0M      256K        5  arena        [unknown code]\n"
	"                                                          <- run (/srv/app/main.py:7)\n"
	"\n";

static void test_report_full(void **state)
{
	char *t;

	(void)state;
	t = report(FULL, 10);
	assert_string_equal(t, FULL_TEXT);
	free(t);
	t = report(FULL, 10); /* deterministic */
	assert_string_equal(t, FULL_TEXT);
	free(t);
}

/* --sites-top: the first N of the array, which is largest first. */
static void test_report_top(void **state)
{
	char *t;

	(void)state;
	t = report(FULL, 1);
	assert_string_equal(
		t, "SITES 1234 app.py (Python 3.12.1): 12M sampled in 577 samples"
		   " (pool_refill+malloc)\n"
		   "       LIVE  EST.BYTES  LAST 60s  SAMPLES  SOURCE       SITE\n"
		   "       8.0M       9.0M      1.0M      512  pool_refill  make_nodes"
		   " (/srv/app/cache.py:12)\n"
		   "                                                          <- leaf_alloc"
		   " (/srv/app/cache.py:20)\n"
		   "                                                          <- fill"
		   " (/srv/app/cache.py:31)\n"
		   "\n");
	free(t);
	t = report(FULL, 2);
	assert_non_null(strstr(t, "[no Python frames]"));
	assert_null(strstr(t, "[unknown code]"));
	free(t);
}

/* The window so far, and the recent total when the totals carry it. */
static void test_report_recent(void **state)
{
	char *t;

	(void)state;
	t = report(PROC("\"sites_source\": \"arena+malloc\", \"sites_recent_seconds\": 12.4,"
			" \"sites_total\": {\"estimated_bytes\": 1048576, \"samples\": 1,"
			" \"recent_bytes\": 1048576},"
			" \"sites\": [" SITE_UNKNOWN "]"),
		   10);
	assert_string_equal(
		t, "SITES 1234 app.py (Python 3.12.1): 1.0M sampled in 1 samples"
		   " (arena+malloc); last 12s: 1.0M\n"
		   "       LIVE  EST.BYTES  LAST 12s  SAMPLES  SOURCE       SITE\n"
		   "          -       1.0M      256K        5  arena        [unknown code]\n"
		   "                                                          <- run"
		   " (/srv/app/main.py:7)\n"
		   "\n");
	free(t);
	/* no window, no totals, no source: "-" and RECENT */
	t = report(PROC("\"sites\": [" SITE_NOPY "]"), 10);
	assert_string_equal(
		t, "SITES 1234 app.py (Python 3.12.1): - sampled in - samples\n"
		   "       LIVE  EST.BYTES    RECENT  SAMPLES  SOURCE       SITE\n"
		   "          -       2.0M        0B       60  malloc       [no Python frames]\n"
		   "\n");
	free(t);
}

static void test_report_unavailable(void **state)
{
	char *t;

	(void)state;
	t = report(PROC("\"sites\": null, \"sites_source\": null, \"sites_total\": null,"
			" \"sites_recent_seconds\": null,"
			" \"sites_reason\": \"turned off (--no-sites)\""),
		   10);
	assert_string_equal(
		t, "SITES 1234 app.py (Python 3.12.1): unavailable: turned off (--no-sites)\n");
	free(t);
	/* without a reason, the field table's */
	t = report(PROC("\"sites\": null, \"sites_reason\": null"), 10);
	assert_string_equal(t, "SITES 1234 app.py (Python 3.12.1): unavailable: not sampled\n");
	free(t);
	t = report("{\"pid\": 5, \"command\": \"w.py\", \"python_version\": null}", 10);
	assert_string_equal(t, "SITES 5 w.py: unavailable: not sampled\n");
	free(t);
}

static void test_report_empty(void **state)
{
	char *t;

	(void)state;
	t = report(PROC("\"sites\": [], \"sites_source\": \"arena+malloc\","
			" \"sites_total\": {\"estimated_bytes\": 0, \"samples\": 0}"),
		   10);
	assert_string_equal(t,
			    "SITES 1234 app.py (Python 3.12.1): no samples yet (arena+malloc)\n");
	free(t);
	t = report("{\"pid\": 9, \"command\": \"\", \"cmdline\": \"python3 -c pass\","
		   " \"sites\": []}",
		   10);
	assert_string_equal(t, "SITES 9 python3 -c pass: no samples yet\n");
	free(t);
	t = report("{\"sites\": []}", 10); /* nothing to name it by */
	assert_string_equal(t, "SITES -1 -: no samples yet\n");
	free(t);
}

/* What the process named is shown, but nothing a terminal acts on. */
static void test_report_hostile_strings(void **state)
{
	char *t;

	(void)state;
	t = report(
		"{\"pid\": 66, \"command\": \"evil\\u001b[2J\\nx\", \"python_version\":"
		" \"3.12\\u0007\", \"sites_source\": \"arena+malloc\\r\","
		" \"sites_total\": {\"estimated_bytes\": 1024, \"samples\": 1},"
		" \"sites\": [{\"function\": \"f\\u009b31m\\u007f\", \"file\": \"/a\\nb\xff.py\","
		" \"line\": 3, \"source\": \"arena\\u001b\", \"estimated_bytes\": 1024,"
		" \"samples\": 1, \"recent_bytes\": 0, \"stack\": [{\"function\": \"f\"},"
		" {\"function\": \"g\\t\", \"file\": \"\\u001b]0;pwned\\u0007\", \"line\": "
		"null}]}]}",
		10);
	assert_terminal_safe(t);
	assert_string_equal(
		t, "SITES 66 evil?[2J?x (Python 3.12?): 1.0K sampled in 1 samples"
		   " (arena+malloc?)\n"
		   "       LIVE  EST.BYTES    RECENT  SAMPLES  SOURCE       SITE\n"
		   "          -       1.0K        0B        1  arena?       f?31m? "
		   "(/a?b\xef\xbf\xbd.py:3)\n"
		   "                                                          <- g? (?]0;pwned?)\n"
		   "\n");
	free(t);
	t = report(PROC("\"sites\": null, \"sites_reason\": \"no\\u001b[31m \\n\\u0085frames\""),
		   10);
	assert_terminal_safe(t);
	assert_string_equal(t,
			    "SITES 1234 app.py (Python 3.12.1): unavailable: no?[31m ??frames\n");
	free(t);
}

/* Names of hundreds of 2-byte characters: cut on a character boundary,
 * the file from the left, every line valid UTF-8 of bounded length. */
static void test_report_long_names(void **state)
{
	struct json_object *p = json_object_new_object(), *a = json_object_new_array(),
			   *site = json_object_new_object(), *tot = json_object_new_object();
	char fn[601] = "", file[1201] = "/", *text, *line, *save;

	(void)state;
	for (int i = 0; i < 300; i++)
		strcat(fn, "\xc3\xa9"); /* é */
	for (int i = 0; i < 399; i++)
		strcat(file, i == 398 ? "z" : "\xc3\xbc"); /* ü... then z */
	json_object_object_add(site, "function", json_object_new_string(fn));
	json_object_object_add(site, "file", json_object_new_string(file));
	json_object_object_add(site, "line", json_object_new_int(99));
	json_object_object_add(site, "source", json_object_new_string("pool_refill"));
	json_object_object_add(site, "estimated_bytes", json_object_new_int64(1LL << 40));
	json_object_array_add(a, site);
	json_object_object_add(tot, "estimated_bytes", json_object_new_int64(1LL << 40));
	json_object_object_add(tot, "samples", json_object_new_int(1));
	json_object_object_add(p, "pid", json_object_new_int(1));
	json_object_object_add(p, "command", json_object_new_string(fn));
	json_object_object_add(p, "sites_total", tot);
	json_object_object_add(p, "sites", a);
	text = report_of(p, 10);
	json_object_put(p);
	assert_terminal_safe(text);
	line = strtok_r(text, "\n", &save);
	assert_non_null(line);
	assert_true(strlen(line) < 200); /* the command is cut too */
	assert_non_null(strstr(line, ": 1.0T sampled in 1 samples"));
	line = strtok_r(NULL, "\n", &save); /* the column header */
	line = strtok_r(NULL, "\n", &save);
	assert_non_null(line);
	/* the site: 160 characters, the file's tail and the line kept */
	assert_int_equal(utf8_chars(strstr(line, "pool_refill  ") + 13), 160);
	assert_string_equal(line + strlen(line) - 9, "\xc3\xbc\xc3\xbcz:99)");
	assert_non_null(strstr(line, "\xc3\xa9 (...\xc3\xbc"));
	free(text);
}

/* A failed write is the caller's -errno. */
static void test_report_write_error(void **state)
{
	FILE *f = fopen("/dev/full", "w");
	struct pm_proc o;

	(void)state;
	if (!f)
		skip();
	fixture_model(FULL, &o);
	assert_int_equal(sites_report(f, &o, 10), -ENOSPC);
	fclose(f);
	model_free(&o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_frame_fits),
		cmocka_unit_test(test_frame_special_names),
		cmocka_unit_test(test_frame_file_shortened_from_left),
		cmocka_unit_test(test_frame_function_cut),
		cmocka_unit_test(test_frame_buffer_boundary),
		cmocka_unit_test(test_report_full),
		cmocka_unit_test(test_report_top),
		cmocka_unit_test(test_report_recent),
		cmocka_unit_test(test_report_unavailable),
		cmocka_unit_test(test_report_empty),
		cmocka_unit_test(test_report_hostile_strings),
		cmocka_unit_test(test_report_long_names),
		cmocka_unit_test(test_report_write_error),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
