// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * cmdlabel.c: what a process is, from argv as /proc/PID/cmdline gives it
 * (NUL-separated). Real command lines of Python services, interpreter
 * option forms, renamed processes, and hostile bytes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cmdlabel.h"

/* argv given as one string with '|' for the NULs. */
static const char *label(const char *bars, const char *comm, char *out, size_t outlen)
{
	char argv[4200];
	size_t len = strlen(bars);

	assert_true(len < sizeof(argv));
	for (size_t i = 0; i < len; i++)
		argv[i] = bars[i] == '|' ? '\0' : bars[i];
	return cmdlabel(argv, len, comm, out, outlen);
}

#define EXPECT(bars, want)                                                                         \
	do {                                                                                       \
		char out[256];                                                                     \
		assert_string_equal(label(bars, "python3", out, sizeof(out)), want);               \
	} while (0)

static void test_scripts_and_modules(void **state)
{
	(void)state;
	EXPECT("python3|app.py|--port|8080|", "app.py --port 8080");
	EXPECT("/usr/bin/python3.11|-u|/srv/app/server.py|", "/srv/app/server.py");
	EXPECT("python3|-m|celery|-A|proj|worker|", "-m celery -A proj worker");
	EXPECT("python3.12|-mhttp.server|8000|", "-m http.server 8000");
	EXPECT("python|-c|import time; time.sleep(9)|", "-c import time; time.sleep(9)");
	EXPECT("python3|-OO|-X|dev|-W|ignore|job.py|", "job.py");
	EXPECT("python3|-Wignore|-Xfrozen_modules=off|job.py|", "job.py");
	EXPECT("python3|-I|-S|-B|-E|-s|-q|job.py|a|", "job.py a");
	EXPECT("python3|--check-hash-based-pycs|never|job.py|", "job.py");
	EXPECT("python3|--|-weird.py|", "-weird.py");
	EXPECT("python3|-|", "-");
	EXPECT("python3.13t|-uc|pass|", "-c pass"); /* cluster ending in c */
}

/* Shebang entry points run as python .../bin/tool: named by the tool. */
static void test_entry_points(void **state)
{
	(void)state;
	EXPECT("/srv/venv/bin/python3|/srv/venv/bin/gunicorn|app:app|-w|4|",
	       "gunicorn app:app -w 4");
	EXPECT("/usr/bin/python3|/usr/local/bin/celery|-A|proj|beat|", "celery -A proj beat");
	EXPECT("python3|manage.py|runserver|", "manage.py runserver");
}

static void test_repl_and_renamed(void **state)
{
	(void)state;
	EXPECT("python3|", "python3");
	EXPECT("/usr/bin/python3.11|-i|", "python3.11");
	/* setproctitle: the process named itself */
	EXPECT("gunicorn: worker [app:app]|||||", "gunicorn: worker [app:app]");
	/* an embedding program (uwsgi) keeps its argv */
	EXPECT("uwsgi|--ini|app.ini|", "uwsgi --ini app.ini");
	/* not a python binary name */
	EXPECT("/opt/pythonista-helper|x|", "/opt/pythonista-helper x");
}

static void test_empty_and_hostile(void **state)
{
	char out[32], big[5000];

	(void)state;
	assert_string_equal(cmdlabel("", 0, "kworker", out, sizeof(out)), "[kworker]");
	assert_string_equal(cmdlabel("\0\0\0", 3, "zombie", out, sizeof(out)), "[zombie]");
	/* -m or -c as the last argument: no value, no overrun */
	EXPECT("python3|-m|", "-m");
	EXPECT("python3|-W|", "python3");
	EXPECT("python3|--check-hash-based-pycs|", "python3");
	/* no final NUL (cut read): the last argument ends at len */
	assert_string_equal(cmdlabel("python3\0app.py", 14, "x", out, sizeof(out)), "app.py");
	/* truncated to the buffer, always terminated */
	assert_string_equal(label("python3|aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa|", "x", out, 8),
			    "aaaaaaa");
	/* more than 4096 bytes and 256 arguments of garbage */
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = i % 3 ? (char)(0x80 + i % 100) : '\0';
	cmdlabel(big, sizeof(big), "x", out, sizeof(out));
	assert_true(strlen(out) < sizeof(out));
	cmdlabel(big, sizeof(big), "x", out, 1);
	assert_string_equal(out, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scripts_and_modules),
		cmocka_unit_test(test_entry_points),
		cmocka_unit_test(test_repl_and_renamed),
		cmocka_unit_test(test_empty_and_hostile),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
