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
#include "model.h"
#include "table.h"

/* The typed model of every process of a frame, built once per frame. */
struct frame_models {
	struct pm_proc *p;
	int n;
};

struct frame {
	double time; /* unix seconds */
	double interval_s; /* measured monotonic seconds since the last frame */
	const struct table *table;
	uint64_t drops[PMT_DROP_NR]; /* BPF drop counters, cumulative */
	const struct frame_models *models; /* NULL: each writer builds its own */
};

/* Models of every process in t, in table order, each with up to
 * sites_top sites. 0, or -ENOMEM (m->p NULL: none; else some model lacks
 * its sites, which say "out of memory"). Freed with output_models_free. */
int output_models(const struct table *t, int sites_top, struct frame_models *m);
void output_models_free(struct frame_models *m);
/* How many allocation sites a process lists when no frame models are
 * given (--sites-top). */
void output_sites_top(int n);
/* One frame as a single line of JSON. 0 or -errno (e.g. -EPIPE, -ENOMEM). */
int output_json(FILE *f, const struct frame *fr);
/* Column i of the -b table: its heading and field (docs/metrics.md,
 * "Text"); false past the last. */
bool output_text_column(int i, const char **head, enum pm_id *field);
/* One frame as a text table, like top -b. */
int output_text(FILE *f, const struct frame *fr);
/* --sites: after a text frame, the sites of every running process, most
 * sampled bytes first (sites_report). 0 or -errno of the write; out of
 * memory, no report and *out_of_memory counts it. */
int output_sites_reports(FILE *f, const struct frame *fr, int top, uint64_t *out_of_memory);

/* Copy process-controlled text (cmdline, comm, paths) into buf as valid
 * UTF-8, each byte of an invalid sequence replaced by U+FFFD; with text,
 * also control characters (C0, DEL, C1) by '?', so that nothing reaches a
 * terminal that it would act on. Truncated to fit len. Returns buf. */
const char *output_clean_string(const char *in, bool text, char *buf, size_t len);

/* "12.3M"-style size with 1024-based units, "-" handled by callers. */
void output_human_bytes(double v, char *buf, size_t len);

#endif
