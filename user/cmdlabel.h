/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * What a Python process *is*, from its argv: the script, `-m module`,
 * `-c code`, or the entry point (gunicorn, celery...) rather than the
 * interpreter's name. Pure; argv is untrusted process memory.
 */
#ifndef PMT_CMDLABEL_H
#define PMT_CMDLABEL_H

#include <stddef.h>

/* argv: /proc/PID/cmdline bytes (NUL-separated, len bytes, not
 * necessarily NUL-terminated). Writes a NUL-terminated label into out
 * (truncated to outlen): for an interpreter invocation its interpreter
 * options are dropped ("app.py --port 80", "-m celery worker",
 * "gunicorn app:app" for a .../bin/ entry point); a process that renamed
 * itself (setproctitle) or is not run by a python binary keeps its argv
 * joined by spaces; an empty argv gives "[comm]". Returns out. */
const char *cmdlabel(const char *argv, size_t len, const char *comm, char *out, size_t outlen);

#endif
