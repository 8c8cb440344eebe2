// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * rate.c: per-second rates from cumulative counters and gauges, and the
 * clocks. A function that returns false must leave *out alone.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>

#include "rate.h"

#define UNTOUCHED -12345.0 /* sentinel: *out is not written on false */
#define MIB	  (1024 * 1024)

static void test_per_s_basic(void **state)
{
	double r = UNTOUCHED;

	(void)state;
	assert_true(rate_per_s(150, 100, 2.0, &r));
	assert_true(r == 25.0);
	assert_true(rate_per_s(MIB, 0, 0.5, &r));
	assert_true(r == 2097152.0);
	assert_true(rate_per_s(3, 0, 4.0, &r)); /* fractional result */
	assert_true(r == 0.75);
}

static void test_per_s_unchanged_counter_is_zero(void **state)
{
	double r = UNTOUCHED;

	(void)state;
	assert_true(rate_per_s(42, 42, 1.0, &r));
	assert_true(r == 0.0);
}

/* The difference is taken in 64-bit integers, then divided: counters near
 * 2^64 lose nothing (as doubles, 1000 apart would be 2048 apart). */
static void test_per_s_huge_counters(void **state)
{
	const uint64_t cur = 18446744073709551000ull;
	double r = UNTOUCHED;

	(void)state;
	assert_true(rate_per_s(cur, cur - 1000, 0.5, &r));
	assert_true(r == 2000.0);
	assert_true(rate_per_s(UINT64_MAX, 0, 1.0, &r));
	assert_true(r == 18446744073709551615.0);
}

static void test_per_s_counter_backwards_is_no_rate(void **state)
{
	double r = UNTOUCHED;

	(void)state;
	assert_false(rate_per_s(99, 100, 1.0, &r));
	assert_false(rate_per_s(0, UINT64_MAX, 1.0, &r));
	assert_true(r == UNTOUCHED);
}

static void test_per_s_bad_period_is_no_rate(void **state)
{
	double r = UNTOUCHED;

	(void)state;
	assert_false(rate_per_s(200, 100, 0.0, &r));
	assert_false(rate_per_s(200, 100, -0.0, &r));
	assert_false(rate_per_s(200, 100, -1.0, &r));
	assert_false(rate_per_s(200, 100, NAN, &r));
	assert_false(rate_per_s(200, 100, -INFINITY, &r));
	assert_true(r == UNTOUCHED);
}

static void test_time_ratio_ns_to_share(void **state)
{
	double r = UNTOUCHED;

	(void)state;
	/* 250 ms of GC in a 0.5 s period */
	assert_true(rate_time_ratio(1250000000ull, 1000000000ull, 0.5, &r));
	assert_true(r == 0.5);
	/* 1 ms in 2 s */
	assert_true(rate_time_ratio(1000000ull, 0, 2.0, &r));
	assert_true(fabs(r - 0.0005) < 1e-15);
	assert_true(rate_time_ratio(7, 7, 1.0, &r));
	assert_true(r == 0.0);
}

/* Threads overlap: 3 s of GC in a 1 s period is still "all of it". */
static void test_time_ratio_clamped_to_one(void **state)
{
	double r = UNTOUCHED;

	(void)state;
	assert_true(rate_time_ratio(3000000000ull, 0, 1.0, &r));
	assert_true(r == 1.0);
	assert_true(rate_time_ratio(1000000001ull, 0, 1.0, &r));
	assert_true(r == 1.0);
	assert_true(rate_time_ratio(1000000000ull, 0, 1.0, &r)); /* exactly all */
	assert_true(r == 1.0);
	assert_true(rate_time_ratio(999000000ull, 0, 1.0, &r)); /* just below: not clamped */
	assert_true(fabs(r - 0.999) < 1e-12);
}

static void test_time_ratio_no_rate(void **state)
{
	double r = UNTOUCHED;

	(void)state;
	assert_false(rate_time_ratio(5, 10, 1.0, &r)); /* counter went backwards */
	assert_false(rate_time_ratio(10, 5, 0.0, &r));
	assert_false(rate_time_ratio(10, 5, -2.0, &r));
	assert_false(rate_time_ratio(10, 5, NAN, &r));
	assert_true(r == UNTOUCHED);
}

static void test_gauge_rising(void **state)
{
	double r = UNTOUCHED;

	(void)state;
	assert_true(rate_gauge_per_s(300 * MIB, 100 * MIB, 2.0, &r));
	assert_true(r == 100.0 * MIB);
}

/* Unlike a counter, a gauge may go down: a negative rate, not "none". */
static void test_gauge_falling_is_negative(void **state)
{
	double r = UNTOUCHED;

	(void)state;
	assert_true(rate_gauge_per_s(100, 300, 2.0, &r));
	assert_true(r == -100.0);
	assert_true(rate_gauge_per_s(0, MIB, 0.5, &r));
	assert_true(r == -2097152.0);
}

static void test_gauge_bad_period_is_no_rate(void **state)
{
	double r = UNTOUCHED;

	(void)state;
	assert_false(rate_gauge_per_s(300, 100, 0.0, &r));
	assert_false(rate_gauge_per_s(300, 100, -1.0, &r));
	assert_false(rate_gauge_per_s(300, 100, NAN, &r));
	assert_true(r == UNTOUCHED);
}

static void test_now_monotonic_non_decreasing(void **state)
{
	struct timespec ts = { .tv_nsec = 20 * 1000 * 1000 };
	double prev = rate_now(), t;

	(void)state;
	assert_true(prev > 0);
	for (int i = 0; i < 100000; i++) {
		t = rate_now();
		assert_true(t >= prev);
		prev = t;
	}
	nanosleep(&ts, NULL);
	t = rate_now();
	assert_true(t - prev >= 0.019); /* seconds, not ms or ns */
	assert_true(t - prev < 5.0);
}

static void test_now_matches_clock_monotonic(void **state)
{
	struct timespec a, b;
	double t;

	(void)state;
	clock_gettime(CLOCK_MONOTONIC, &a);
	t = rate_now();
	clock_gettime(CLOCK_MONOTONIC, &b);
	assert_true(t >= a.tv_sec + a.tv_nsec / 1e9 - 1e-6);
	assert_true(t <= b.tv_sec + b.tv_nsec / 1e9 + 1e-6);
}

static void test_wall_now_is_unix_time(void **state)
{
	time_t before = time(NULL);
	double t = rate_wall_now();
	time_t after = time(NULL);

	(void)state;
	assert_true(t >= (double)before);
	assert_true(t < (double)after + 1.0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_per_s_basic),
		cmocka_unit_test(test_per_s_unchanged_counter_is_zero),
		cmocka_unit_test(test_per_s_huge_counters),
		cmocka_unit_test(test_per_s_counter_backwards_is_no_rate),
		cmocka_unit_test(test_per_s_bad_period_is_no_rate),
		cmocka_unit_test(test_time_ratio_ns_to_share),
		cmocka_unit_test(test_time_ratio_clamped_to_one),
		cmocka_unit_test(test_time_ratio_no_rate),
		cmocka_unit_test(test_gauge_rising),
		cmocka_unit_test(test_gauge_falling_is_negative),
		cmocka_unit_test(test_gauge_bad_period_is_no_rate),
		cmocka_unit_test(test_now_monotonic_non_decreasing),
		cmocka_unit_test(test_now_matches_clock_monotonic),
		cmocka_unit_test(test_wall_now_is_unix_time),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
