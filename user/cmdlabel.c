// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include "cmdlabel.h"

#define MAX_ARGS       256
#define MAX_ARGV_BYTES 4096 /* what pymemtop reads of /proc/PID/cmdline */

/* A label built into out without overflowing it. */
struct sink {
	char *out;
	size_t len, cap;
};

static void put(struct sink *s, const char *str, size_t n)
{
	if (s->len && s->len + 1 < s->cap)
		s->out[s->len++] = ' ';
	while (n-- && *str && s->len + 1 < s->cap)
		s->out[s->len++] = *str++;
	s->out[s->len] = '\0';
}

static const char *base_name(const char *p)
{
	const char *slash = strrchr(p, '/');

	return slash ? slash + 1 : p;
}

/* "python", "python3", "python3.11", "python3.13t", "python3.12d",
 * "pypy3"... but not "pythonista-helper". */
static bool is_python(const char *arg)
{
	const char *b = base_name(arg);

	if (strncmp(b, "python", 6) && strncmp(b, "pypy", 4))
		return false;
	for (b += b[1] == 'y' && b[2] == 'p' ? 4 : 6; *b; b++)
		if (!strchr("0123456789.dtmuw", *b))
			return false;
	return true;
}

/* The script: a .../bin/ entry point is named by its basename. */
static const char *script_name(const char *path)
{
	const char *b = base_name(path);

	if (b - path >= 5 && !strncmp(b - 5, "/bin/", 5))
		return b;
	return path;
}

const char *cmdlabel(const char *argv, size_t len, const char *comm, char *out, size_t outlen)
{
	char copy[MAX_ARGV_BYTES + 1];
	const char *args[MAX_ARGS];
	struct sink s = { out, 0, outlen };
	int argc = 0, i;

	if (!out || !outlen)
		return out;
	out[0] = '\0';
	/* a NUL-terminated copy: a cut last argument ends at len */
	if (len > MAX_ARGV_BYTES)
		len = MAX_ARGV_BYTES;
	if (len)
		memcpy(copy, argv, len);
	copy[len] = '\0';
	for (size_t p = 0; p < len && argc < MAX_ARGS; p += strlen(copy + p) + 1)
		args[argc++] = copy + p;
	while (argc && !args[argc - 1][0])
		argc--; /* trailing empty arguments (setproctitle padding) */
	if (!argc) {
		snprintf(out, outlen, "[%s]", comm ? comm : "");
		return out;
	}
	i = 1;
	if (is_python(args[0])) {
		/* interpreter options, up to the script / -m / -c / - / -- */
		for (; i < argc; i++) {
			const char *a = args[i];

			if (!strcmp(a, "--")) {
				i++;
				break;
			}
			if (a[0] != '-' || !a[1])
				break; /* the script, or "-" (stdin) */
			if (a[1] == '-') {
				if (!strcmp(a, "--check-hash-based-pycs"))
					i++; /* takes a value */
				continue;
			}
			for (const char *c = a + 1; *c; c++) {
				if (*c == 'm' || *c == 'c') {
					/* -m mod / -mmod, -c code: the label starts here */
					put(&s, c[0] == 'm' ? "-m" : "-c", 2);
					if (c[1])
						put(&s, c + 1, strlen(c + 1));
					else if (++i < argc)
						put(&s, args[i], strlen(args[i]));
					i++;
					goto rest;
				}
				if (*c == 'W' || *c == 'X') {
					if (!c[1])
						i++; /* the value is the next argument */
					break;
				}
			}
		}
		if (i < argc) {
			const char *script = !strcmp(args[i], "-") ? "-" : script_name(args[i]);

			put(&s, script, strlen(script));
			i++;
		} else {
			put(&s, base_name(args[0]), strlen(base_name(args[0]))); /* a REPL */
		}
	} else {
		i = 0; /* named itself, or an embedding program: as it is */
	}
rest:
	for (; i < argc && s.len + 1 < s.cap; i++)
		put(&s, args[i], strlen(args[i]));
	return out;
}
