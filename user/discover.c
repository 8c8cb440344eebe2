// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "discover.h"
#include "elf_file.h"
#include "log.h"
#include "procfs.h"

static struct interp *interps;

struct interp *discover_interps(void)
{
	return interps;
}

void discover_free_all(void)
{
	while (interps) {
		struct interp *next = interps->next;

		free(interps);
		interps = next;
	}
}

/* The cached interpreter for an open file, inspecting it the first time. */
static struct interp *interp_get(int fd, const char *path)
{
	struct elf_file *ef = NULL;
	struct interp *in;
	struct stat st;

	if (fstat(fd, &st))
		return NULL;
	for (in = interps; in; in = in->next)
		if (in->dev == (uint64_t)st.st_dev && in->ino == (uint64_t)st.st_ino)
			return in;
	in = calloc(1, sizeof(*in));
	if (!in)
		return NULL;
	in->dev = st.st_dev;
	in->ino = st.st_ino;
	snprintf(in->path, sizeof(in->path), "%s", path);
	in->inspect_err = elf_file_open_fd(fd, &ef);
	if (!in->inspect_err)
		in->inspect_err = python_inspect(ef, &in->info);
	if (!in->inspect_err && in->info.is_python) {
		pyheap_layout_find(ef, &in->info, &in->heap);
		sites_layout_find(ef, &in->info, &in->sites);
	}
	if (in->inspect_err && in->inspect_err != -ENOEXEC)
		log_debug("elf: %s: %s", path, strerror(-in->inspect_err));
	elf_file_close(ef);
	in->next = interps;
	interps = in;
	return in;
}

struct map_scan {
	int pid;
	const char *exe_path;
	struct interp *found;
	char *attach_path;
	size_t len;
};

static bool looks_like_python_file(const char *path)
{
	const char *base = strrchr(path, '/');

	base = base ? base + 1 : path;
	return strstr(base, "python") != NULL;
}

/* An executable file mapping named like a Python library: inspect it. */
static int map_cb(const struct proc_map *m, void *ctx)
{
	struct map_scan *ms = ctx;
	char mf[96], path[PATH_MAX];
	struct interp *in;
	int fd;

	if (!m->x || m->path[0] != '/' || !looks_like_python_file(m->path) ||
	    !strcmp(m->path, ms->exe_path))
		return 0;
	snprintf(mf, sizeof(mf), "/proc/%d/map_files/%llx-%llx", ms->pid,
		 (unsigned long long)m->start, (unsigned long long)m->end);
	fd = open(mf, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	snprintf(path, sizeof(path), "%s", m->path);
	in = interp_get(fd, path);
	close(fd);
	if (in && in->info.is_python) {
		ms->found = in;
		snprintf(ms->attach_path, ms->len, "%s", mf);
		return 1;
	}
	return 0;
}

enum discover_result discover_pid(int pid, bool just_execed, struct interp **out, char *attach_path,
				  size_t len)
{
	char exe_link[64], exe_path[PATH_MAX];
	struct map_scan ms = { .pid = pid, .attach_path = attach_path, .len = len };
	struct interp *exe;
	ssize_t n;
	int fd, err;

	snprintf(exe_link, sizeof(exe_link), "/proc/%d/exe", pid);
	n = readlink(exe_link, exe_path, sizeof(exe_path) - 1);
	fd = open(exe_link, O_RDONLY | O_CLOEXEC);
	if (n < 0 || fd < 0) {
		char dir[32];

		if (fd >= 0)
			close(fd);
		/* Kernel threads have no exe; a gone process has no /proc entry. */
		snprintf(dir, sizeof(dir), "/proc/%d", pid);
		return access(dir, F_OK) ? DISC_GONE : DISC_NOT_PYTHON;
	}
	exe_path[n] = '\0';
	exe = interp_get(fd, exe_path);
	close(fd);
	if (!exe)
		return DISC_ERROR;
	if (exe->info.is_python) {
		*out = exe;
		snprintf(attach_path, len, "%s", exe_link);
		return DISC_PYTHON;
	}
	if (just_execed && !exe->info.needs_libpython)
		return DISC_NOT_PYTHON;
	ms.exe_path = exe_path;
	err = procfs_foreach_map(pid, map_cb, &ms);
	if (ms.found) {
		*out = ms.found;
		return DISC_PYTHON;
	}
	if (err == -ESRCH)
		return DISC_GONE;
	return exe->info.needs_libpython ? DISC_PENDING : DISC_NOT_PYTHON;
}
