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

/* The window of the verdicts, and the samples kept for it: at most one
 * every GROWTH_STEP_S, so that the window is the same at any refresh
 * interval (-d 0.1 filled 64 samples in 6.4 s otherwise). */
#define GROWTH_WINDOW_S 60.0
#define GROWTH_SAMPLES	64
#define GROWTH_STEP_S	(GROWTH_WINDOW_S / 60)

struct growth {
	double t[GROWTH_SAMPLES]; /* CLOCK_MONOTONIC seconds, >= GROWTH_STEP_S apart */
	double v[GROWTH_SAMPLES]; /* bytes */
	int n, head; /* head: next slot to write */
	/* the newest sample, while it is under GROWTH_STEP_S after the ring's */
	bool has_last;
	double last_t, last_v;
};

struct growth_verdict {
	double window_s; /* time span of the samples used */
	double bytes_per_s; /* least-squares slope over them */
	bool steady; /* suspected leak, see growth_eval() */
};

/* Add a sample; a sample not later than the newest is ignored. One
 * under GROWTH_STEP_S after the ring's newest is kept apart, as the
 * newest, until a later one replaces it or goes into the ring. */
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
