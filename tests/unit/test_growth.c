// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * growth.c: slope and the steady-growth (suspected leak) verdict on
 * synthetic series shaped like real ones: a leak, a flat service with
 * noise, a GC sawtooth, a one-off step (a cache filled once), too few
 * samples, the window, and the ring wrapping.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "growth.h"

#define MIB (1024.0 * 1024.0)

static struct growth g;

static int reset(void **state)
{
	(void)state;
	memset(&g, 0, sizeof(g));
	return 0;
}

static void test_linear_leak_is_steady(void **state)
{
	struct growth_verdict v;

	(void)state;
	for (int i = 0; i <= 60; i++)
		growth_add(&g, i, 100 * MIB + i * 0.5 * MIB); /* 0.5 MiB/s */
	assert_true(growth_eval(&g, 60, 60, &v));
	assert_true(fabs(v.bytes_per_s - 0.5 * MIB) < 1);
	assert_true(v.window_s == 60);
	assert_true(v.steady);
}

static void test_flat_with_noise_is_not(void **state)
{
	struct growth_verdict v;

	(void)state;
	srand(7);
	for (int i = 0; i <= 60; i++)
		growth_add(&g, i, 200 * MIB + (rand() % 1000) * 1024.0);
	assert_true(growth_eval(&g, 60, 60, &v));
	assert_false(v.steady);
	assert_true(fabs(v.bytes_per_s) < 0.05 * MIB);
}

/* A GC sawtooth: up 1 MiB/s for 9 s, then back down. */
static void test_sawtooth_is_not(void **state)
{
	struct growth_verdict v;

	(void)state;
	for (int i = 0; i <= 60; i++)
		growth_add(&g, i, 50 * MIB + (i % 10) * MIB);
	assert_true(growth_eval(&g, 60, 60, &v));
	assert_false(v.steady);
}

/* One step (a cache filled once), flat otherwise: slope > 0, not steady. */
static void test_single_step_is_not(void **state)
{
	struct growth_verdict v;

	(void)state;
	for (int i = 0; i <= 60; i++)
		growth_add(&g, i, i < 30 ? 50 * MIB : 150 * MIB);
	assert_true(growth_eval(&g, 60, 60, &v));
	assert_true(v.bytes_per_s > 0);
	assert_false(v.steady);
}

/* Growth too small to matter (a few KiB on a big heap). */
static void test_tiny_rise_is_not(void **state)
{
	struct growth_verdict v;

	(void)state;
	for (int i = 0; i <= 60; i++)
		growth_add(&g, i, 1024 * MIB + i * 1024.0);
	assert_true(growth_eval(&g, 60, 60, &v));
	assert_true(v.bytes_per_s > 0);
	assert_false(v.steady);
}

static void test_too_few_or_too_short(void **state)
{
	struct growth_verdict v;

	(void)state;
	assert_false(growth_eval(&g, 0, 60, &v));
	growth_add(&g, 1, MIB);
	growth_add(&g, 2, 2 * MIB);
	assert_false(growth_eval(&g, 2, 60, &v)); /* 2 samples */
	growth_add(&g, 3, 3 * MIB);
	assert_false(growth_eval(&g, 3, 60, &v)); /* 2 s of a 60 s window */
	for (int i = 4; i <= 20; i++)
		growth_add(&g, i, i * MIB);
	assert_true(growth_eval(&g, 20, 60, &v)); /* a slope, */
	assert_false(v.steady); /* but under half the window: no verdict yet */
	growth_add(&g, 20, 999 * MIB); /* not later: ignored */
	assert_true(growth_eval(&g, 20, 60, &v) && v.bytes_per_s < 2 * MIB);
}

/* The ring keeps the newest 64; the window drops older ones. */
static void test_ring_and_window(void **state)
{
	struct growth_verdict v;

	(void)state;
	for (int i = 0; i < 200; i++)
		growth_add(&g, i, i < 150 ? 10 * MIB : 10 * MIB + (i - 150) * MIB);
	assert_int_equal(g.n, GROWTH_SAMPLES);
	assert_true(growth_eval(&g, 199, 40, &v)); /* only the rising part */
	assert_true(v.window_s == 40);
	assert_true(fabs(v.bytes_per_s - MIB) < 1);
	assert_true(v.steady);
}

/* The window does not depend on the refresh interval: at -d 0.1 (and
 * 0.05) a minute of steady growth is steady, and RSS growth has a slope
 * after 15 s. With one sample kept per frame, 64 samples spanned 6.4 s
 * (3.2 s): no slope below -d 0.24, never steady below -d 0.48. */
static void test_short_intervals(void **state)
{
	static const double steps[] = { 0.1, 0.05, 0.3, 1.0, 2.0 };
	struct growth_verdict v;

	(void)state;
	for (unsigned int k = 0; k < sizeof(steps) / sizeof(steps[0]); k++) {
		double d = steps[k];
		int n = (int)(60 / d + 0.5);

		memset(&g, 0, sizeof(g));
		for (int i = 0; i <= n; i++)
			growth_add(&g, i * d, 100 * MIB + i * d * 0.5 * MIB);
		assert_true(growth_eval(&g, n * d, 60, &v));
		assert_true(fabs(v.bytes_per_s - 0.5 * MIB) < 0.01 * MIB);
		assert_true(v.window_s >= 59);
		assert_true(v.steady);
		/* a slope from 15 s on */
		memset(&g, 0, sizeof(g));
		for (int i = 0; i * d <= 16.01; i++)
			growth_add(&g, i * d, 100 * MIB + (i % 2) * MIB);
		assert_true(growth_eval(&g, 16.01, 60, &v));
		assert_false(v.steady);
	}
	/* the newest sample counts even between two kept ones */
	memset(&g, 0, sizeof(g));
	for (int i = 0; i <= 600; i++)
		growth_add(&g, i * 0.1, i < 600 ? 100 * MIB : 900 * MIB);
	assert_true(growth_eval(&g, 60, 60, &v));
	assert_false(v.steady); /* one step */
	assert_true(v.bytes_per_s > 0);
	assert_true(v.window_s == 60);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_linear_leak_is_steady, reset),
		cmocka_unit_test_setup(test_flat_with_noise_is_not, reset),
		cmocka_unit_test_setup(test_sawtooth_is_not, reset),
		cmocka_unit_test_setup(test_single_step_is_not, reset),
		cmocka_unit_test_setup(test_tiny_rise_is_not, reset),
		cmocka_unit_test_setup(test_too_few_or_too_short, reset),
		cmocka_unit_test_setup(test_ring_and_window, reset),
		cmocka_unit_test_setup(test_short_intervals, reset),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
