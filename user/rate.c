// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <time.h>
#include "rate.h"

static double clock_s(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

double rate_now(void)
{
	return clock_s(CLOCK_MONOTONIC);
}

double rate_wall_now(void)
{
	return clock_s(CLOCK_REALTIME);
}

bool rate_per_s(uint64_t cur, uint64_t prev, double dt_s, double *out)
{
	if (!(dt_s > 0) || cur < prev)
		return false;
	*out = (double)(cur - prev) / dt_s;
	return true;
}

bool rate_time_ratio(uint64_t cur_ns, uint64_t prev_ns, double dt_s, double *out)
{
	double r;

	if (!rate_per_s(cur_ns, prev_ns, dt_s, &r))
		return false;
	r /= 1e9;
	*out = r > 1.0 ? 1.0 : r;
	return true;
}

bool rate_gauge_per_s(uint64_t cur, uint64_t prev, double dt_s, double *out)
{
	if (!(dt_s > 0))
		return false;
	*out = ((double)cur - (double)prev) / dt_s;
	return true;
}
