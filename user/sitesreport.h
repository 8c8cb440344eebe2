/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Allocation sites as text, from the sites of a process's typed model
 * (model.h; the fields of docs/metrics.md): one site or
 * stack frame as "function (file:line)" fitted to a width (the detail
 * view uses it too), and the report --sites prints after each text
 * frame. Names come from the observed process and are cleaned like a
 * command line. Pure; unit-tested (tests/unit/test_sitesreport.c).
 */
#ifndef PMT_SITESREPORT_H
#define PMT_SITESREPORT_H

#include <stddef.h>
#include <stdio.h>
#include "model.h"

#define SITES_CALLERS 2 /* caller frames shown under each site */

/* "function (file:line)" of a site or stack frame: "function
 * (file)" without a line, the function alone without a file; "?" for a
 * missing function. Control characters become '?', invalid UTF-8 U+FFFD.
 * At most cols characters: the file is shortened from the left first
 * ("...tail", at least 8 characters of it kept), then the function from
 * the right ("name..."), then the whole is cut; always on a character
 * boundary and within len. Returns buf. */
const char *sites_frame_text(const struct pm_frame *frame, int cols, char *buf, size_t len);

/* What --sites prints for one process: the line "SITES PID COMMAND
 * (Python X.Y.Z): ..." with the totals, a column header and up to top
 * sites (largest first, as in the JSON), each followed by its
 * SITES_CALLERS callers and the block by an empty line. One line only
 * when the sites are unavailable (with the reason) or have no samples
 * yet. 0, or -errno when writing failed (-EPIPE: the reader went away). */
int sites_report(FILE *out, const struct pm_proc *proc, int top);

#endif
