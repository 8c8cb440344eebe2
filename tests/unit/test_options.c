// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * options.c: options_parse() on good and bad command lines. Error output
 * goes to a memory stream so each error can be checked to be exactly one
 * line naming the culprit. Every test parses afresh (options_parse resets
 * getopt), several in one test on purpose.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "options.h"
#include "pymemtop.h"

/* argv with the program name first and the NULL getopt may look at. */
#define ARGV(...)	   ((char *[]){ "pymemtop", __VA_ARGS__, NULL })
#define ARGC(...)	   ((int)(sizeof((char *[]){ "pymemtop", __VA_ARGS__ }) / sizeof(char *)))
#define PARSE_OK(env, ...) parse_ok(ARGC(__VA_ARGS__), ARGV(__VA_ARGS__), env)
#define PARSE_ERR(needle, ...)                                                                     \
	parse_err(needle, ARGC(__VA_ARGS__), ARGV(__VA_ARGS__), __FILE__, __LINE__)

/* What the last parse printed to its err stream. */
static char *msg;
static size_t msg_len;

static int parse(int argc, char **argv, struct env *env)
{
	FILE *err;
	int rc;

	free(msg);
	msg = NULL;
	msg_len = 0;
	err = open_memstream(&msg, &msg_len);
	assert_non_null(err);
	rc = options_parse(argc, argv, env, err);
	assert_int_equal(fclose(err), 0);
	return rc;
}

static void parse_ok(int argc, char **argv, struct env *env)
{
	assert_int_equal(parse(argc, argv, env), 0);
	assert_int_equal(msg_len, 0); /* silent on success */
}

/* -EINVAL, and exactly one line (no NUL bytes) that contains needle.
 * Failures name the caller's line. */
static void parse_err(const char *needle, int argc, char **argv, const char *file, int line)
{
	struct env env;
	int rc = parse(argc, argv, &env);
	const char *why = NULL;

	if (rc != -EINVAL)
		why = "did not return -EINVAL";
	else if (msg_len < 2 || msg[msg_len - 1] != '\n')
		why = "no message, or it does not end in a newline";
	else if (strlen(msg) != msg_len)
		why = "message contains a NUL byte";
	else if (strchr(msg, '\n') != msg + msg_len - 1)
		why = "message is more than one line";
	else if (strncmp(msg, "pymemtop: ", 10))
		why = "message does not start with 'pymemtop: '";
	else if (!strstr(msg, needle))
		why = "message does not contain the expected text";
	if (why)
		fail_msg("%s:%d: %s (rc %d, expected '%s', got %zu bytes: '%.*s')", file, line, why,
			 rc, needle, msg_len, (int)msg_len, msg ? msg : "");
}

static void assert_defaults(const struct env *env)
{
	assert_false(env->batch);
	assert_false(env->json);
	assert_int_equal(env->frames, 0);
	assert_true(env->interval_s == 1.0);
	assert_int_equal(env->npids, 0);
	assert_int_equal(env->verbose, 0);
	assert_int_equal(env->max_procs, PMT_DEFAULT_MAX_PROCS);
	assert_int_equal(env->max_threads, PMT_DEFAULT_MAX_THREADS);
	assert_false(env->help);
	assert_false(env->version);
	assert_false(env->precise);
	assert_false(env->pool_refills);
	assert_true(env->sites);
	assert_false(env->sites_report);
	assert_int_equal(env->sites_depth, 16);
	assert_int_equal(env->sites_max_stacks, 8192);
	assert_int_equal(env->sites_top, 10);
	assert_int_equal(env->sites_max_rate, 1000);
	assert_null(env->folded);
}

/* ---- accepted command lines --------------------------------------------- */

static void test_defaults(void **state)
{
	char *argv[] = { "pymemtop", NULL };
	struct env env;

	(void)state;
	memset(&env, 0xa5, sizeof(env)); /* garbage that must be overwritten */
	parse_ok(1, argv, &env);
	assert_defaults(&env);
	assert_int_equal(env.max_procs, 32768);
	assert_int_equal(env.max_threads, 16384);
}

static void test_batch(void **state)
{
	struct env env;

	(void)state;
	PARSE_OK(&env, "-b");
	assert_true(env.batch);
	assert_false(env.json);
	PARSE_OK(&env, "--batch");
	assert_true(env.batch);
}

static void test_json(void **state)
{
	struct env env;

	(void)state;
	PARSE_OK(&env, "--json");
	assert_true(env.json);
	assert_false(env.batch);
	assert_int_equal(env.frames, 0);
}

static void test_iterations(void **state)
{
	struct env env;

	(void)state;
	PARSE_OK(&env, "-n", "5");
	assert_int_equal(env.frames, 5);
	PARSE_OK(&env, "-n12");
	assert_int_equal(env.frames, 12);
	PARSE_OK(&env, "--iterations", "7");
	assert_int_equal(env.frames, 7);
	PARSE_OK(&env, "--iterations=9223372036854775807");
	assert_int_equal(env.frames, 9223372036854775807L);
}

static void test_delay_fractions(void **state)
{
	struct env env;

	(void)state;
	PARSE_OK(&env, "-d", "0.5");
	assert_true(env.interval_s == 0.5);
	PARSE_OK(&env, "--delay=2.25");
	assert_true(env.interval_s == 2.25);
	PARSE_OK(&env, "-d", "3");
	assert_true(env.interval_s == 3.0);
	PARSE_OK(&env, "-d", "0.05"); /* both ends of [0.05, 86400] */
	assert_true(env.interval_s == 0.05);
	PARSE_OK(&env, "-d", "86400");
	assert_true(env.interval_s == 86400.0);
}

static void test_once_sets_one_frame(void **state)
{
	struct env env;

	(void)state;
	PARSE_OK(&env, "--once");
	assert_int_equal(env.frames, 1);
	assert_true(env.interval_s == 1.0);
}

static void test_pid_list(void **state)
{
	struct env env;

	(void)state;
	PARSE_OK(&env, "-p", "1,2,3");
	assert_int_equal(env.npids, 3);
	assert_int_equal(env.pids[0], 1);
	assert_int_equal(env.pids[1], 2);
	assert_int_equal(env.pids[2], 3);
	PARSE_OK(&env, "-p", "2147483647");
	assert_int_equal(env.npids, 1);
	assert_int_equal(env.pids[0], 2147483647);
}

static void test_pid_repeated(void **state)
{
	struct env env;

	(void)state;
	PARSE_OK(&env, "-p", "10,20", "-p", "30", "--pid=40", "-p50");
	assert_int_equal(env.npids, 5);
	assert_int_equal(env.pids[0], 10);
	assert_int_equal(env.pids[1], 20);
	assert_int_equal(env.pids[2], 30);
	assert_int_equal(env.pids[3], 40);
	assert_int_equal(env.pids[4], 50);
}

static void test_pid_64_accepted(void **state)
{
	char list[1024], *p = list;
	struct env env;

	(void)state;
	for (int i = 1; i <= OPT_MAX_PIDS; i++)
		p += sprintf(p, "%s%d", i > 1 ? "," : "", 100000 + i);
	PARSE_OK(&env, "-p", list);
	assert_int_equal(env.npids, 64);
	assert_int_equal(env.pids[0], 100001);
	assert_int_equal(env.pids[63], 100064);
}

static void test_verbose_repeated(void **state)
{
	struct env env;

	(void)state;
	PARSE_OK(&env, "-v");
	assert_int_equal(env.verbose, 1);
	PARSE_OK(&env, "-v", "-v");
	assert_int_equal(env.verbose, 2);
	PARSE_OK(&env, "-vvv", "--verbose");
	assert_int_equal(env.verbose, 4);
}

static void test_max_procs_threads(void **state)
{
	struct env env;

	(void)state;
	PARSE_OK(&env, "--max-procs", "1024");
	assert_int_equal(env.max_procs, 1024);
	assert_int_equal(env.max_threads, PMT_DEFAULT_MAX_THREADS);
	PARSE_OK(&env, "--max-threads=64", "--max-procs=4194304");
	assert_int_equal(env.max_threads, 64);
	assert_int_equal(env.max_procs, 4194304);
}

static void test_help_version(void **state)
{
	struct env env;

	(void)state;
	PARSE_OK(&env, "--help");
	assert_true(env.help);
	assert_false(env.version);
	PARSE_OK(&env, "-h");
	assert_true(env.help);
	PARSE_OK(&env, "--version");
	assert_true(env.version);
	assert_false(env.help);
}

static void test_everything_together(void **state)
{
	struct env env;

	(void)state;
	PARSE_OK(&env, "-bv", "-n", "3", "-d", "0.25", "--json", "-p", "42", "--max-threads",
		 "128");
	assert_true(env.batch);
	assert_true(env.json);
	assert_int_equal(env.verbose, 1);
	assert_int_equal(env.frames, 3);
	assert_true(env.interval_s == 0.25);
	assert_int_equal(env.npids, 1);
	assert_int_equal(env.pids[0], 42);
	assert_int_equal(env.max_threads, 128);
	assert_int_equal(env.max_procs, PMT_DEFAULT_MAX_PROCS);
}

/* A second parse starts from the defaults, not from the last result. */
static void test_reparse_starts_fresh(void **state)
{
	char *argv[] = { "pymemtop", NULL };
	struct env env;

	(void)state;
	PARSE_OK(&env, "-b", "-v", "-p", "7", "-n", "2", "-d", "9");
	assert_int_equal(env.npids, 1);
	parse_ok(1, argv, &env);
	assert_defaults(&env);
}

/*
 * An error in the middle of a group of short options ("-xv": 'x' is bad,
 * 'v' not read yet) leaves getopt pointing into that argv. The next parse
 * must not go on from there. The vectors are static so that a stale
 * pointer is not also a dangling one.
 */
static void test_reparse_after_error_inside_option_group(void **state)
{
	static char *bad[] = { "pymemtop", "-xv", NULL };
	static char *none[] = { "pymemtop", NULL };
	static char *batch[] = { "pymemtop", "-b", NULL };
	struct env env;

	(void)state;
	assert_int_equal(parse(2, bad, &env), -EINVAL);
	parse_ok(1, none, &env);
	assert_defaults(&env);
	assert_int_equal(parse(2, bad, &env), -EINVAL);
	parse_ok(2, batch, &env);
	assert_true(env.batch);
	assert_int_equal(env.verbose, 0);
}

/* ---- rejected command lines: -EINVAL and one line -------------------------- */

static void test_error_unknown_long_option(void **state)
{
	(void)state;
	PARSE_ERR("'--bogus'", "--bogus");
	PARSE_ERR("'--bogus'", "-b", "--bogus", "-v");
}

static void test_error_unknown_short_option(void **state)
{
	(void)state;
	PARSE_ERR("'-x'", "-x");
	PARSE_ERR("'-z'", "-bz");
	/* after a short one, a long one is still named as such */
	PARSE_ERR("'--nope'", "--nope");
}

static void test_error_option_with_unexpected_argument(void **state)
{
	(void)state;
	PARSE_ERR("--json", "--json=1");
	PARSE_ERR("--batch", "--batch=yes");
}

static void test_error_iterations_zero(void **state)
{
	(void)state;
	PARSE_ERR("-n: '0'", "-n", "0");
}

static void test_error_iterations_negative(void **state)
{
	(void)state;
	PARSE_ERR("-n: '-1'", "-n", "-1");
	PARSE_ERR("'+1'", "-n", "+1");
}

static void test_error_iterations_not_a_number(void **state)
{
	(void)state;
	PARSE_ERR("-n: 'abc'", "-n", "abc");
	PARSE_ERR("'5x'", "-n", "5x");
	PARSE_ERR("-n: ''", "-n", "");
	PARSE_ERR("'1.5'", "--iterations=1.5");
	PARSE_ERR("-n: ' 5'", "-n", " 5"); /* strtoul would skip the blank */
}

static void test_error_iterations_overflow(void **state)
{
	(void)state;
	PARSE_ERR("'99999999999999999999'", "-n", "99999999999999999999");
	PARSE_ERR("'9223372036854775808'", "-n", "9223372036854775808"); /* LONG_MAX + 1 */
}

static void test_error_iterations_missing_argument(void **state)
{
	(void)state;
	PARSE_ERR("'-n' needs an argument", "-n");
	PARSE_ERR("'--iterations' needs an argument", "-b", "--iterations");
}

static void test_error_delay_zero(void **state)
{
	(void)state;
	PARSE_ERR("-d: '0'", "-d", "0");
	PARSE_ERR("'0.049'", "-d", "0.049");
	PARSE_ERR("'-1'", "-d", "-1");
}

static void test_error_delay_nan_inf(void **state)
{
	(void)state;
	PARSE_ERR("-d: 'nan'", "-d", "nan");
	PARSE_ERR("-d: 'inf'", "-d", "inf");
	PARSE_ERR("'-inf'", "-d", "-inf");
	PARSE_ERR("'infinity'", "--delay=infinity");
}

static void test_error_delay_too_big(void **state)
{
	(void)state;
	PARSE_ERR("-d: '1e9'", "-d", "1e9");
	PARSE_ERR("'86401'", "-d", "86401");
	PARSE_ERR("'1e999'", "-d", "1e999"); /* ERANGE */
}

static void test_error_delay_empty_or_garbage(void **state)
{
	(void)state;
	PARSE_ERR("-d: ''", "-d", "");
	PARSE_ERR("'1s'", "-d", "1s");
	PARSE_ERR("'x'", "-d", "x");
}

static void test_error_delay_missing_argument(void **state)
{
	(void)state;
	PARSE_ERR("'-d' needs an argument", "-d");
	PARSE_ERR("'--delay' needs an argument", "--delay");
}

static void test_precise_with_pids(void **state)
{
	struct env env;

	(void)state;
	PARSE_OK(&env, "-p", "42");
	assert_false(env.precise);
	PARSE_OK(&env, "--precise", "-p", "42,43"); /* order does not matter */
	assert_true(env.precise);
	assert_int_equal(env.npids, 2);
}

static void test_pool_refills(void **state)
{
	struct env env;

	(void)state;
	PARSE_OK(&env, "--pool-refills"); /* system-wide is fine: rare events */
	assert_true(env.pool_refills);
	assert_false(env.precise);
	PARSE_ERR("takes no value", "--pool-refills=yes");
}

static void test_error_precise_without_pid(void **state)
{
	(void)state;
	PARSE_ERR("--precise needs -p PID", "--precise");
	PARSE_ERR("--precise needs -p PID", "--precise", "-b", "--json");
	PARSE_ERR("takes no value", "--precise=1", "-p", "42");
}

static void test_error_pid_zero(void **state)
{
	(void)state;
	PARSE_ERR("'0' is not a PID", "-p", "0");
	PARSE_ERR("'0' is not a PID", "-p", "5,0,6");
}

static void test_error_pid_garbage(void **state)
{
	(void)state;
	PARSE_ERR("'12x' is not a PID", "-p", "12x");
	PARSE_ERR("'-3' is not a PID", "-p", "-3");
	PARSE_ERR("'2147483648' is not a PID", "-p", "2147483648"); /* INT_MAX + 1 */
}

static void test_error_pid_empty(void **state)
{
	(void)state;
	PARSE_ERR("no PID given", "-p", "");
}

static void test_error_pid_only_commas(void **state)
{
	(void)state;
	PARSE_ERR("no PID given", "-p", ",");
	PARSE_ERR("no PID given", "-p", ",,,");
}

/* An empty list after a good one is still an empty list. */
static void test_error_pid_empty_after_good_list(void **state)
{
	(void)state;
	PARSE_ERR("no PID given", "-p", "1", "-p", ",");
}

static void test_error_pid_65(void **state)
{
	char list[1024], *p = list;

	(void)state;
	for (int i = 1; i <= OPT_MAX_PIDS + 1; i++)
		p += sprintf(p, "%s%d", i > 1 ? "," : "", i);
	PARSE_ERR("at most 64 PIDs", "-p", list);
}

static void test_error_pid_65_over_repeats(void **state)
{
	char list[1024], *p = list;

	(void)state;
	for (int i = 1; i <= OPT_MAX_PIDS; i++)
		p += sprintf(p, "%s%d", i > 1 ? "," : "", i);
	PARSE_ERR("at most 64 PIDs", "-p", list, "-p", "65");
}

static void test_error_pid_list_too_long(void **state)
{
	char list[2048];

	(void)state;
	memset(list, '1', sizeof(list) - 1);
	list[sizeof(list) - 1] = '\0';
	PARSE_ERR("-p: list too long", "-p", list);
}

static void test_error_stray_argument(void **state)
{
	(void)state;
	PARSE_ERR("unexpected argument 'stray'", "stray");
	PARSE_ERR("unexpected argument 'top'", "-b", "top", "-n", "2");
}

static void test_error_max_procs_range(void **state)
{
	(void)state;
	PARSE_ERR("'63' is not a number in [64, 4194304]", "--max-procs=63");
	PARSE_ERR("'4194305'", "--max-threads=4194305");
	PARSE_ERR("'-64'", "--max-procs=-64");
}

/* The message names the option also when its value is a separate word. */
static void test_error_max_procs_names_option(void **state)
{
	(void)state;
	PARSE_ERR("--max-procs: '10'", "--max-procs", "10");
	PARSE_ERR("--max-threads: 'many'", "--max-threads", "many");
}

/* ---- allocation sites ------------------------------------------------------ */

static void test_no_sites(void **state)
{
	struct env env;

	(void)state;
	PARSE_OK(&env, "--no-sites");
	assert_false(env.sites);
	assert_false(env.sites_report);
	assert_null(env.folded);
	assert_false(env.batch); /* the live display still runs */
	PARSE_OK(&env, "--no-sites", "--json", "-n", "2");
	assert_false(env.sites);
	assert_true(env.json);
}

/* --sites is the batch report: it means -b, also with the exports. */
static void test_sites_report(void **state)
{
	struct env env;

	(void)state;
	PARSE_OK(&env, "--sites");
	assert_true(env.sites);
	assert_true(env.sites_report);
	assert_true(env.batch);
	assert_false(env.json);
	PARSE_OK(&env, "-b", "--sites", "-n", "3");
	assert_true(env.sites_report && env.batch);
	assert_int_equal(env.frames, 3);
	PARSE_OK(&env, "--prom-file", "/tmp/x.prom", "--sites");
	assert_true(env.batch);
	assert_false(env.quiet); /* frames and the report on stdout */
}

static void test_sites_numbers(void **state)
{
	struct env env;

	(void)state;
	PARSE_OK(&env, "--sites-depth", "1", "--sites-max-stacks", "64", "--sites-top", "1");
	assert_int_equal(env.sites_depth, 1);
	assert_int_equal(env.sites_max_stacks, 64);
	assert_int_equal(env.sites_top, 1);
	PARSE_OK(&env, "--sites-depth=32", "--sites-max-stacks=1048576", "--sites-top=1000");
	assert_int_equal(env.sites_depth, OPT_SITES_DEPTH_MAX);
	assert_int_equal(env.sites_max_stacks, 1048576);
	assert_int_equal(env.sites_top, 1000);
	assert_true(env.sites);
	assert_false(env.sites_report);
	assert_false(env.batch);
	/* the last one wins */
	PARSE_OK(&env, "--sites-top", "5", "--sites-top", "7", "--sites", "--sites-depth", "4");
	assert_int_equal(env.sites_top, 7);
	assert_int_equal(env.sites_depth, 4);
	assert_int_equal(env.sites_max_stacks, OPT_SITES_STACKS_DEFAULT);
	/* 0: no limit */
	PARSE_OK(&env, "--sites-max-rate", "0");
	assert_int_equal(env.sites_max_rate, 0);
	PARSE_OK(&env, "--sites-max-rate=1000000", "--sites-max-rate", "5");
	assert_int_equal(env.sites_max_rate, 5);
	assert_int_equal(env.prom_sites, 0);
	PARSE_OK(&env, "--listen", "9", "--prom-pids", "2", "--prom-sites", "20", "--sites-top",
		 "20");
	assert_int_equal(env.prom_sites, 20);
}

static void test_folded(void **state)
{
	struct env env;

	(void)state;
	PARSE_OK(&env, "--folded", "/tmp/pymemtop.folded");
	assert_string_equal(env.folded, "/tmp/pymemtop.folded");
	assert_true(env.sites);
	assert_false(env.batch); /* any mode: a file beside the frames */
	PARSE_OK(&env, "--folded=out.folded", "--json", "--sites-depth", "32");
	assert_string_equal(env.folded, "out.folded");
	assert_true(env.json);
	PARSE_ERR("--sites prints on stdout", "--folded", "f", "--sites", "--quiet");
}

static void test_error_sites_numbers_range(void **state)
{
	(void)state;
	PARSE_ERR("--sites-depth: '0' is not a number in [1, 32]", "--sites-depth", "0");
	PARSE_ERR("--sites-depth: '33' is not a number in [1, 32]", "--sites-depth=33");
	PARSE_ERR("--sites-depth: '-1'", "--sites-depth", "-1");
	PARSE_ERR("--sites-max-stacks: '63' is not a number in [64, 1048576]", "--sites-max-stacks",
		  "63");
	PARSE_ERR("--sites-max-stacks: '1048577'", "--sites-max-stacks=1048577");
	PARSE_ERR("--sites-top: '0' is not a number in [1, 1000]", "--sites-top", "0");
	PARSE_ERR("--sites-top: '1001'", "--sites-top=1001");
	PARSE_ERR("--sites-top: '99999999999999999999'", "--sites-top", "99999999999999999999");
	PARSE_ERR("--sites-max-rate: '1000001' is not a number in [0, 1000000]", "--sites-max-rate",
		  "1000001");
	PARSE_ERR("--sites-max-rate: '-1'", "--sites-max-rate=-1");
	PARSE_ERR("--prom-sites: '0' is not a number in [1, 100]", "--prom-pids", "1", "--listen",
		  "9", "--prom-sites", "0");
	PARSE_ERR("--prom-sites: '101'", "--prom-sites=101");
	PARSE_ERR("--prom-sites needs --prom-pids N", "--listen", "9", "--prom-sites", "3");
	PARSE_ERR("--prom-sites 11: only --sites-top (10) sites are kept per process", "--listen",
		  "9", "--prom-pids", "2", "--prom-sites", "11");
	PARSE_ERR("--prom-sites: allocation sites are turned off by --no-sites", "--listen", "9",
		  "--prom-pids", "2", "--prom-sites", "3", "--no-sites");
	PARSE_ERR("--sites-max-rate: allocation sites are turned off by --no-sites", "--no-sites",
		  "--sites-max-rate", "10");
}

static void test_error_sites_numbers_garbage(void **state)
{
	(void)state;
	PARSE_ERR("--sites-depth: ''", "--sites-depth", "");
	PARSE_ERR("--sites-depth: '8x'", "--sites-depth", "8x");
	PARSE_ERR("--sites-depth: '+8'", "--sites-depth", "+8");
	PARSE_ERR("--sites-max-stacks: '1e4'", "--sites-max-stacks", "1e4");
	PARSE_ERR("--sites-top: '2.5'", "--sites-top=2.5");
	PARSE_ERR("--sites-top: ' 3'", "--sites-top", " 3");
	PARSE_ERR("'--sites-depth' needs an argument", "--sites-depth");
	PARSE_ERR("'--sites-max-stacks' needs an argument", "-b", "--sites-max-stacks");
	PARSE_ERR("'--sites-top' needs an argument", "--sites-top");
}

static void test_error_folded(void **state)
{
	(void)state;
	PARSE_ERR("--folded: empty path", "--folded", "");
	PARSE_ERR("--folded: empty path", "--folded=");
	PARSE_ERR("'--folded' needs an argument", "--folded");
}

static void test_error_sites_flags_take_no_value(void **state)
{
	(void)state;
	PARSE_ERR("option '--sites' takes no value", "--sites=1");
	PARSE_ERR("option '--no-sites' takes no value", "--no-sites=yes");
}

/* What needs the sampling cannot go with --no-sites, in either order. */
static void test_error_sites_with_no_sites(void **state)
{
	(void)state;
	PARSE_ERR("--sites: allocation sites are turned off by --no-sites", "--sites",
		  "--no-sites");
	PARSE_ERR("--sites: allocation sites are turned off by --no-sites", "--no-sites",
		  "--sites");
	PARSE_ERR("--folded: allocation sites are turned off by --no-sites", "--no-sites",
		  "--folded", "x.folded");
	PARSE_ERR("--folded: allocation sites are turned off by --no-sites", "--folded", "x.folded",
		  "--no-sites");
	PARSE_ERR("--sites-depth: allocation sites are turned off", "--sites-depth", "8",
		  "--no-sites");
	PARSE_ERR("--sites-max-stacks: allocation sites are turned off", "--no-sites",
		  "--sites-max-stacks", "64");
	PARSE_ERR("--sites-top: allocation sites are turned off", "--no-sites", "--sites-top", "3");
	/* several: one line, naming the last number given */
	PARSE_ERR("--sites-top: allocation sites", "--sites-depth", "2", "--sites-top", "3",
		  "--no-sites");
}

/* --sites writes text on stdout: not with --json (which has the sites)
 * nor --quiet. */
static void test_error_sites_report_stdout(void **state)
{
	(void)state;
	PARSE_ERR("--sites is a text report; with --json", "--sites", "--json");
	PARSE_ERR("--sites is a text report; with --json", "--json", "-b", "--sites");
	PARSE_ERR("--sites prints on stdout, which --quiet keeps empty", "--quiet", "--sites");
	/* --no-sites is the first thing said when it is there */
	PARSE_ERR("--sites: allocation sites are turned off", "--sites", "--json", "--no-sites");
}

/* ---- usage ----------------------------------------------------------------- */

/* --help fits an 80-column terminal: every line under 80 columns, ASCII
 * only, and names every long option. */
static void test_usage_fits_80_columns(void **state)
{
	static const char *const names[] = {
		"--batch",	  "--json",
		"--iterations",	  "--delay",
		"--pid",	  "--once",
		"--verbose",	  "--help",
		"--version",	  "--max-procs",
		"--max-threads",  "--precise",
		"--pool-refills", "--no-color",
		"--prom-file",	  "--listen",
		"--prom-pids",	  "--quiet",
		"--sites",	  "--no-sites",
		"--sites-depth",  "--sites-max-stacks",
		"--sites-top",	  "--folded",
	};
	char *text = NULL, *line, *save = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	int n = 0;

	(void)state;
	assert_non_null(f);
	options_usage(f);
	assert_int_equal(fclose(f), 0);
	assert_true(len > 0 && text[len - 1] == '\n');
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strstr(text, names[i]))
			fail_msg("usage does not mention %s", names[i]);
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)text[i] > 126 || (text[i] < ' ' && text[i] != '\n'))
			fail_msg("usage byte %zu is 0x%02x, not printable ASCII", i,
				 (unsigned char)text[i]);
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save), n++)
		if (strlen(line) >= 80)
			fail_msg("usage line %d has %zu columns: '%s'", n, strlen(line), line);
	assert_true(n > 20);
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_batch),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_iterations),
		cmocka_unit_test(test_delay_fractions),
		cmocka_unit_test(test_once_sets_one_frame),
		cmocka_unit_test(test_pid_list),
		cmocka_unit_test(test_pid_repeated),
		cmocka_unit_test(test_pid_64_accepted),
		cmocka_unit_test(test_verbose_repeated),
		cmocka_unit_test(test_max_procs_threads),
		cmocka_unit_test(test_precise_with_pids),
		cmocka_unit_test(test_error_precise_without_pid),
		cmocka_unit_test(test_pool_refills),
		cmocka_unit_test(test_help_version),
		cmocka_unit_test(test_everything_together),
		cmocka_unit_test(test_reparse_starts_fresh),
		cmocka_unit_test(test_reparse_after_error_inside_option_group),
		cmocka_unit_test(test_error_unknown_long_option),
		cmocka_unit_test(test_error_unknown_short_option),
		cmocka_unit_test(test_error_option_with_unexpected_argument),
		cmocka_unit_test(test_error_iterations_zero),
		cmocka_unit_test(test_error_iterations_negative),
		cmocka_unit_test(test_error_iterations_not_a_number),
		cmocka_unit_test(test_error_iterations_overflow),
		cmocka_unit_test(test_error_iterations_missing_argument),
		cmocka_unit_test(test_error_delay_zero),
		cmocka_unit_test(test_error_delay_nan_inf),
		cmocka_unit_test(test_error_delay_too_big),
		cmocka_unit_test(test_error_delay_empty_or_garbage),
		cmocka_unit_test(test_error_delay_missing_argument),
		cmocka_unit_test(test_error_pid_zero),
		cmocka_unit_test(test_error_pid_garbage),
		cmocka_unit_test(test_error_pid_empty),
		cmocka_unit_test(test_error_pid_only_commas),
		cmocka_unit_test(test_error_pid_empty_after_good_list),
		cmocka_unit_test(test_error_pid_65),
		cmocka_unit_test(test_error_pid_65_over_repeats),
		cmocka_unit_test(test_error_pid_list_too_long),
		cmocka_unit_test(test_error_stray_argument),
		cmocka_unit_test(test_error_max_procs_range),
		cmocka_unit_test(test_error_max_procs_names_option),
		cmocka_unit_test(test_no_sites),
		cmocka_unit_test(test_sites_report),
		cmocka_unit_test(test_sites_numbers),
		cmocka_unit_test(test_folded),
		cmocka_unit_test(test_error_sites_numbers_range),
		cmocka_unit_test(test_error_sites_numbers_garbage),
		cmocka_unit_test(test_error_folded),
		cmocka_unit_test(test_error_sites_flags_take_no_value),
		cmocka_unit_test(test_error_sites_with_no_sites),
		cmocka_unit_test(test_error_sites_report_stdout),
		cmocka_unit_test(test_usage_fits_80_columns),
	};
	int rc;

	rc = cmocka_run_group_tests(tests, NULL, NULL);
	free(msg);
	return rc;
}
