/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Which processes run CPython, and in which interpreter file.
 * Interpreter files are identified by (device, inode) and inspected once;
 * they are opened through /proc/PID/exe or /proc/PID/map_files/, which
 * works for processes in other mount namespaces (containers) and for
 * files deleted since the process started.
 */
#ifndef PMT_DISCOVER_H
#define PMT_DISCOVER_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include "python.h"
#include "pyheap.h"
#include "sites.h"

#define INTERP_MAX_LINKS (2 * PY_MAX_GC_FUNCS)

struct interp {
	uint64_t dev, ino; /* cache key */
	char path[PATH_MAX]; /* path as the process sees it */
	int inspect_err; /* 0, or why the ELF file could not be read */
	struct py_info info;
	struct pyheap_layout heap; /* where its heap and GC state are */
	struct sites_layout sites; /* where a thread's frames are */
	/* GC attach state, owned by the collector. */
	bool attach_tried;
	int attach_err;
	char gc_desc[96]; /* "usdt", "uprobe:gc_collect_main" */
	char gc_reason[288]; /* why there is no GC data */
	void *links[INTERP_MAX_LINKS]; /* struct bpf_link * */
	int nlinks;
	struct interp *next;
};

enum discover_result {
	DISC_PYTHON, /* *out and attach_path are set */
	DISC_NOT_PYTHON,
	DISC_PENDING, /* executable links libpython, not mapped yet: ask again soon */
	DISC_GONE, /* the process exited */
	DISC_ERROR, /* could not be read (counted by the caller) */
};

/* Classify a running process. attach_path receives a path under /proc
 * that opens the interpreter file while the process lives. just_execed:
 * the process has only just called exec, so no library can be mapped yet
 * and /proc/PID/maps is read only if the executable links libpython
 * (this keeps an exec storm on the host cheap). */
enum discover_result discover_pid(int pid, bool just_execed, struct interp **out, char *attach_path,
				  size_t len);

/* Iterate the interpreter cache (for detaching). */
struct interp *discover_interps(void);
void discover_free_all(void);

#endif
