// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <stdarg.h>
#include <stdio.h>
#include "log.h"

static int log_level = LOG_WARN;
static log_sink_fn log_sink;

void log_set_sink(log_sink_fn fn)
{
	log_sink = fn;
}

void log_set_level(int level)
{
	log_level = level;
}

int log_get_level(void)
{
	return log_level;
}

void log_msg(int level, const char *fmt, ...)
{
	va_list ap;

	if (level > log_level)
		return;
	va_start(ap, fmt);
	if (log_sink) {
		char buf[512];

		vsnprintf(buf, sizeof(buf), fmt, ap);
		va_end(ap);
		log_sink(level, buf);
		return;
	}
	fputs("pymemtop: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}
