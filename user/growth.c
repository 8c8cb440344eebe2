// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <string.h>
#include "growth.h"

#define MIB (1024.0 * 1024.0)

void growth_add(struct growth *g, double t, double v)
{
	int newest = (g->head + GROWTH_SAMPLES - 1) % GROWTH_SAMPLES;

	if ((g->n && t <= g->t[newest]) || (g->has_last && t <= g->last_t))
		return;
	if (g->n && t - g->t[newest] < GROWTH_STEP_S) {
		g->has_last = true;
		g->last_t = t;
		g->last_v = v;
		return;
	}
	g->has_last = false;
	g->t[g->head] = t;
	g->v[g->head] = v;
	g->head = (g->head + 1) % GROWTH_SAMPLES;
	if (g->n < GROWTH_SAMPLES)
		g->n++;
}

bool growth_eval(const struct growth *g, double now, double window_s, struct growth_verdict *out)
{
	double t[GROWTH_SAMPLES + 1], v[GROWTH_SAMPLES + 1];
	double mt = 0, mv = 0, sxx = 0, sxy = 0, rise, max_step = 0;
	int n = 0, up = 0;

	memset(out, 0, sizeof(*out));
	/* oldest to newest, inside the window */
	for (int k = 0; k < g->n; k++) {
		int i = (g->head - g->n + k + 2 * GROWTH_SAMPLES) % GROWTH_SAMPLES;

		if (g->t[i] < now - window_s || g->t[i] > now)
			continue;
		t[n] = g->t[i];
		v[n++] = g->v[i];
	}
	if (g->has_last && g->last_t >= now - window_s && g->last_t <= now) {
		t[n] = g->last_t;
		v[n++] = g->last_v;
	}
	if (n < 3 || t[n - 1] - t[0] < window_s / 4)
		return false;
	for (int i = 0; i < n; i++) {
		mt += t[i] / n;
		mv += v[i] / n;
	}
	for (int i = 0; i < n; i++) {
		sxx += (t[i] - mt) * (t[i] - mt);
		sxy += (t[i] - mt) * (v[i] - mv);
	}
	out->window_s = t[n - 1] - t[0];
	out->bytes_per_s = sxx > 0 ? sxy / sxx : 0;
	for (int i = 1; i < n; i++) {
		double step = v[i] - v[i - 1];

		up += step >= 0;
		if (step > max_step)
			max_step = step;
	}
	rise = v[n - 1] - v[0];
	out->steady = out->window_s >= window_s / 2 && out->bytes_per_s > 0 &&
		      up * 4 >= (n - 1) * 3 && rise >= MIB && rise >= v[0] / 100 &&
		      max_step * 2 < rise;
	return true;
}

void history_add(struct history *h, double t, double heap, double rss)
{
	h->t[h->head] = t;
	h->heap[h->head] = heap;
	h->rss[h->head] = rss;
	h->head = (h->head + 1) % HISTORY_SAMPLES;
	if (h->n < HISTORY_SAMPLES)
		h->n++;
}

int history_get(const struct history *h, double *t, double *heap, double *rss)
{
	for (int k = 0; k < h->n; k++) {
		int i = (h->head - h->n + k + HISTORY_SAMPLES) % HISTORY_SAMPLES;

		if (t)
			t[k] = h->t[i];
		if (heap)
			heap[k] = h->heap[i];
		if (rss)
			rss[k] = h->rss[i];
	}
	return h->n;
}
