/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Rates from cumulative counters: BPF only adds, userspace divides the
 * delta by the measured monotonic period. A counter that went backwards
 * means the process was replaced: no rate for that interval.
 */
#ifndef PMT_RATE_H
#define PMT_RATE_H

#include <stdbool.h>
#include <stdint.h>

/* CLOCK_MONOTONIC in seconds. */
double rate_now(void);
/* CLOCK_REALTIME in seconds. */
double rate_wall_now(void);

/* (cur - prev) / dt_s. false (no rate) when dt_s <= 0 or cur < prev. */
bool rate_per_s(uint64_t cur, uint64_t prev, double dt_s, double *out);
/* Share of the period spent, from a nanosecond counter: (cur - prev) /
 * (dt_s * 1e9), clamped to [0, 1] (several threads can overlap). */
bool rate_time_ratio(uint64_t cur_ns, uint64_t prev_ns, double dt_s, double *out);
/* Signed change per second of a gauge (e.g. RSS). false when dt_s <= 0. */
bool rate_gauge_per_s(uint64_t cur, uint64_t prev, double dt_s, double *out);

#endif
