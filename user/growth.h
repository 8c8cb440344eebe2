/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Is a process growing? A window of (time, size) samples per process and
 * metric: the least-squares slope over the window, and a "steady growth"
 * verdict (a suspected leak) when the size has gone up consistently,
 * not in one step and not in a GC sawtooth. Pure; unit-tested.
 */
#ifndef PMT_GROWTH_H
#define PMT_GROWTH_H

#include <stdbool.h>
#include <stdint.h>

#define GROWTH_SAMPLES 64

struct growth {
	double t[GROWTH_SAMPLES]; /* CLOCK_MONOTONIC seconds */
	double v[GROWTH_SAMPLES]; /* bytes */
	int n, head; /* head: next slot to write */
};

struct growth_verdict {
	double window_s; /* time span of the samples used */
	double bytes_per_s; /* least-squares slope over them */
	bool steady; /* suspected leak, see growth_eval() */
};

/* Add a sample; a sample not later than the newest is ignored. */
void growth_add(struct growth *g, double t, double v);

/* Evaluate the samples of the last window_s seconds before now. false
 * when there are fewer than 3 or they span less than a quarter of the
 * window. steady: span >= half the window, slope > 0, at least 75% of
 * the steps between samples did not shrink, and the rise is at least
 * max(1 MiB, 1% of the first value) and more than half of it did not
 * come in one step. */
bool growth_eval(const struct growth *g, double now, double window_s, struct growth_verdict *out);

/* The last HISTORY_SAMPLES frames of a process's heap and RSS, for the
 * live display's sparklines (one sample per frame; NAN = unavailable). */
#define HISTORY_SAMPLES 240

struct history {
	double t[HISTORY_SAMPLES]; /* CLOCK_MONOTONIC seconds */
	double heap[HISTORY_SAMPLES], rss[HISTORY_SAMPLES]; /* bytes or NAN */
	int n, head; /* head: next slot to write */
};

void history_add(struct history *h, double t, double heap, double rss);
/* Copy the samples oldest first into t/heap/rss (each HISTORY_SAMPLES
 * long; any may be NULL). Returns how many. */
int history_get(const struct history *h, double *t, double *heap, double *rss);

#endif
