/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The real interpreters of the test matrix, for the unit tests that check
 * pymemtop against them: Debian's python3.11, each pyenv 3.8-3.13, and
 * every python3.X in the Debian roots `make roots` builds (trixie, sid;
 * found by name, so sid's next patch release is picked up), plus the
 * libpython3.X.so.1.0 of each root. A root's file is read at
 * ROOT/usr/bin/python3.X and run with chroot(ROOT).
 */
#ifndef PMT_TEST_INTERPS_H
#define PMT_TEST_INTERPS_H

#include <dirent.h>
#include <glob.h>
#include <limits.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TI_MAX 32

struct test_interp {
	char name[64]; /* "sid-3.14", "pyenv-3.12", "debian-3.11" */
	char root[PATH_MAX]; /* "" on the host */
	char path[PATH_MAX]; /* as the process sees it (inside root) */
	char file[2 * PATH_MAX]; /* the interpreter's ELF file as this test opens it:
				  * root + path, or a pyenv build's libpython */
	int minor;
	int shared; /* a libpython, not an executable */
};

static inline const char *ti_roots(void)
{
	const char *r = getenv("PMT_ROOTS");

	return r && *r ? r : "/var/cache/pymemtop/roots";
}

static inline void ti_add(struct test_interp *out, int *n, const char *name, const char *root,
			  const char *path, int minor, int shared)
{
	struct test_interp *t;

	if (*n >= TI_MAX)
		return;
	t = &out[(*n)++];
	snprintf(t->name, sizeof(t->name), "%s", name);
	snprintf(t->root, sizeof(t->root), "%s", root);
	snprintf(t->path, sizeof(t->path), "%s", path);
	snprintf(t->file, sizeof(t->file), "%s%s", root, path);
	t->minor = minor;
	t->shared = shared;
}

/* python3.X in root/usr/bin (not -dbg, -config or d builds), and the
 * roots' libpython3.X.so.1.0. */
static inline void ti_scan_root(struct test_interp *out, int *n, const char *rname, bool libs)
{
	char root[PATH_MAX], dir[PATH_MAX + 32], name[64], path[320];
	struct dirent *de;
	regex_t re;
	DIR *d;

	snprintf(root, sizeof(root), "%s/%s", ti_roots(), rname);
	snprintf(dir, sizeof(dir), "%s%s", root, libs ? "/usr/lib/x86_64-linux-gnu" : "/usr/bin");
	if (regcomp(&re, libs ? "^libpython3\\.([0-9]+)\\.so\\.1\\.0$" : "^python3\\.([0-9]+)$",
		    REG_EXTENDED))
		return;
	d = opendir(dir);
	while (d && (de = readdir(d))) {
		regmatch_t m[2];

		if (regexec(&re, de->d_name, 2, m, 0))
			continue;
		snprintf(name, sizeof(name), "%.16s-3.%d%s", rname, atoi(de->d_name + m[1].rm_so),
			 libs ? "-so" : "");
		snprintf(path, sizeof(path), "%s/%s",
			 libs ? "/usr/lib/x86_64-linux-gnu" : "/usr/bin", de->d_name);
		ti_add(out, n, name, root, path, atoi(de->d_name + m[1].rm_so), libs);
	}
	if (d)
		closedir(d);
	regfree(&re);
}

/* Every interpreter present. With libs, the roots' shared libpythons too. */
static inline int ti_find(struct test_interp *out, bool libs)
{
	const char *home = getenv("PYENV_ROOT");
	char pattern[PATH_MAX], name[32];
	int n = 0;

	if (!access("/usr/bin/python3.11", X_OK))
		ti_add(out, &n, "debian-3.11", "", "/usr/bin/python3.11", 11, 0);
	for (int m = 8; m <= 13; m++) {
		glob_t g;

		snprintf(pattern, sizeof(pattern), "%s/versions/3.%d.*/bin/python3.%d",
			 home ? home : "/root/.pyenv", m, m);
		if (glob(pattern, 0, NULL, &g))
			continue;
		for (size_t i = 0; i < g.gl_pathc; i++) {
			if (strstr(g.gl_pathv[i], "t/bin/")) /* free-threaded build */
				continue;
			snprintf(name, sizeof(name), "pyenv-3.%d", m);
			ti_add(out, &n, name, "", g.gl_pathv[i], m, 0);
			/* the interpreter is in its shared libpython */
			snprintf(out[n - 1].file, sizeof(out[n - 1].file),
				 "%.*s/lib/libpython3.%d.so.1.0",
				 (int)(strstr(g.gl_pathv[i], "/bin/") - g.gl_pathv[i]),
				 g.gl_pathv[i], m);
			break;
		}
		globfree(&g);
	}
	ti_scan_root(out, &n, "trixie", false);
	ti_scan_root(out, &n, "sid", false);
	if (libs) {
		ti_scan_root(out, &n, "trixie", true);
		ti_scan_root(out, &n, "sid", true);
	}
	return n;
}

/* The roots the matrix needs: a test that finds one missing fails (make
 * test builds them first), it does not skip. */
static inline int ti_roots_present(void)
{
	char p[PATH_MAX];

	for (int i = 0; i < 2; i++) {
		snprintf(p, sizeof(p), "%s/%s/.pymemtop-root", ti_roots(), i ? "sid" : "trixie");
		if (access(p, R_OK))
			return 0;
	}
	return 1;
}

#endif
