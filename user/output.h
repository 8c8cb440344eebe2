/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Frame writers: NDJSON (--json) and plain text (-b). Every field is
 * documented in docs/metrics.md. A value that cannot be had is JSON null
 * (text "-"), never a made-up 0.
 */
#ifndef PMT_OUTPUT_H
#define PMT_OUTPUT_H

#include <stdio.h>
#include <json-c/json.h>
#include "table.h"

struct frame {
	double time; /* unix seconds */
	double interval_s; /* measured monotonic seconds since the last frame */
	const struct table *table;
	uint64_t drops[PMT_DROP_NR]; /* BPF drop counters, cumulative */
};

/* One JSON object for one process (caller puts it). */
struct json_object *output_process_json(const struct proc_entry *e);
/* How many allocation sites a process object lists (--sites-top). */
void output_sites_top(int n);
/* One frame as a single line of JSON. 0 or -errno (e.g. -EPIPE). */
int output_json(FILE *f, const struct frame *fr);
/* One frame as a text table, like top -b. */
int output_text(FILE *f, const struct frame *fr);
/* --sites: after a text frame, the sites of every running process, most
 * sampled bytes first (sites_report). 0 or -errno of the write. */
int output_sites_reports(FILE *f, struct table *t, int top);

/* Copy process-controlled text (cmdline, comm, paths) into buf as valid
 * UTF-8, each byte of an invalid sequence replaced by U+FFFD; with text,
 * also control characters (C0, DEL, C1) by '?', so that nothing reaches a
 * terminal that it would act on. Truncated to fit len. Returns buf. */
const char *output_clean_string(const char *in, bool text, char *buf, size_t len);

/* "12.3M"-style size with 1024-based units, "-" handled by callers. */
void output_human_bytes(double v, char *buf, size_t len);

#endif
