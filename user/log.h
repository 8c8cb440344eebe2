/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* One-line diagnostics on stderr, prefixed "pymemtop: ". */
#ifndef PMT_LOG_H
#define PMT_LOG_H

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

void log_set_level(int level);
int log_get_level(void);
/* While a sink is set (the live display), messages go to it instead of
 * stderr: nothing may be printed over a curses screen. NULL restores. */
typedef void (*log_sink_fn)(int level, const char *msg);
void log_set_sink(log_sink_fn fn);
void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
