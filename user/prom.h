/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Prometheus exposition: series summed per group (what the process is,
 * prom_group()) and container, so sum() over them means something;
 * counters kept monotonic while processes come and go (an exited
 * process's last values stay in its group); optional per-PID series for
 * the largest processes and, asked for, their heaviest allocation sites
 * (bounded: pids x sites series); pymemtop's own health. Classic text
 * format (the textfile collector, /metrics) and OpenMetrics. Fed the
 * frame's typed models (model.h), the same ones --json prints; integer
 * counters stay integers end to end (exact above 2^53). Pure,
 * unit-tested (tests/unit/test_prom.c).
 * Every family is documented in docs/prometheus.md.
 */
#ifndef PMT_PROM_H
#define PMT_PROM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "model.h"

#define PROM_GROUP_LEN	   64
#define PROM_CONTAINER_LEN 72 /* a full 64-digit container ID fits */
#define PROM_GROUP_KEEP_S  600.0 /* a group without processes is kept this long */

struct prom;

/* max_pids: per-PID series for this many processes, largest RSS first
 * (--prom-pids; 0: none); max_sites: for each of them, series for its
 * heaviest allocation sites, at most this many (--prom-sites; 0: none).
 * NULL on ENOMEM. */
struct prom *prom_new(int max_pids, int max_sites);
/* --prom-types N: per group, the N types holding the most bytes
 * (pymemtop_heap_type_bytes); 0, the default: none. */
void prom_set_types(struct prom *p, int n);
void prom_free(struct prom *p);

/* The group of a process from its command label (JSON `command`): the
 * script's file name ("manage.py"), the module of -m ("celery"), the
 * entry point or renamed process ("gunicorn" from "gunicorn: worker
 * [app]"), "-c" for code, the interpreter's name for a REPL; never the
 * arguments, at most PROM_GROUP_LEN-1 bytes. */
void prom_group(const char *command, char *out, size_t outlen);

/* Fold in one frame at unix time now: every process model of the frame.
 * Exited processes (and ones missing from the frame) leave their last
 * counter values in their group. What the per-PID series need is copied:
 * procs can go once this returns. */
void prom_update(struct prom *p, const struct pm_proc *procs, int n, double now);

/* Summed family i per group: its name (without _total), whether it is a
 * counter, and the model field summed (docs/prometheus.md); false past
 * the last. */
bool prom_group_family(int i, const char **name, bool *counter, enum pm_id *field);

struct prom_counter {
	const char *label; /* value of the family's label */
	uint64_t value;
};

/* pymemtop's own state for the health families. */
struct prom_self {
	const char *version;
	double last_update; /* unix seconds */
	struct prom_counter drops[24]; /* by reason */
	int ndrops;
	uint64_t gc_attach_failures, heap_attach_failures, proc_read_failures;
	uint64_t out_of_memory; /* table.out_of_memory */
	uint64_t snapshots, snapshots_dropped;
	bool bpf_ok;
	double bpf_seconds; /* run time of pymemtop's BPF programs */
	bool has_write_errors, has_http_errors;
	uint64_t write_errors, http_errors;
};

/* The exposition, malloc'd into *out (NUL-terminated, *len bytes). 0 or
 * -ENOMEM. openmetrics: counter families without _total in TYPE/HELP,
 * UNIT lines, "# EOF" at the end. */
int prom_render(const struct prom *p, const struct prom_self *self, bool openmetrics, char **out,
		size_t *len);

#endif
