/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * pymemtop --inspect FILE: what pymemtop makes of one interpreter file,
 * without BPF and without a process: CPython or not, its exact version and
 * build, the layout registry row it resolves to (and why not), every
 * offset of that row with what the file's _Py_DebugOffsets replaced, and
 * what will be hooked or read: GC source, heap source, pool-refill and
 * --precise probe points, allocation sites. One JSON object on out.
 */
#ifndef PMT_INSPECT_H
#define PMT_INSPECT_H

#include <stdio.h>

/* 0 (printed, also for a file that is not CPython), or -errno when the
 * file cannot be read as ELF (a one-line error was printed on err). */
int inspect_file(const char *path, FILE *out, FILE *err);

#endif
