// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Allocation sites as text. Function and file names are the observed
 * process's (its code objects), so they pass through output_clean_string()
 * before anything else; widths are counted in characters of that clean
 * UTF-8, and every cut falls on a character boundary.
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <string.h>
#include "output.h"
#include "sitesreport.h"

#define FILE_TAIL_MIN 8 /* characters of a shortened file kept at least */
#define FILE_RAW_MAX  400 /* bytes of a file name looked at: its tail */
#define REPORT_COLS   160 /* "function (file:line)" in the report, characters */
/* "  EST.BYTES  LAST 60s  SAMPLES  SOURCE       ": callers go 2 further */
#define REPORT_FMT    "  %9s  %9s  %8s  %7s  %-11s  %s\n"
#define CALLER_INDENT (2 + 9 + 2 + 9 + 2 + 8 + 2 + 7 + 2 + 11 + 2 + 2)

/* ---- characters ---------------------------------------------------------- */

/* Characters of a valid UTF-8 string. */
static int nchars(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

/* Bytes of the first n characters of s (all of it if shorter). */
static size_t head_bytes(const char *s, int n)
{
	size_t i = 0;

	for (; s[i]; i++)
		if (((unsigned char)s[i] & 0xc0) != 0x80 && n-- <= 0)
			break;
	return i;
}

/* The last n characters of s. */
static const char *tail(const char *s, int n)
{
	int have = nchars(s);

	return have > n ? s + head_bytes(s, have - n) : s;
}

/* At most cols characters of src into dst (len bytes), whole characters. */
static void copy_chars(char *dst, size_t len, const char *src, int cols)
{
	size_t n = head_bytes(src, cols > 0 ? cols : 0);

	if (!len)
		return;
	if (n >= len) {
		n = len - 1;
		while (n && ((unsigned char)src[n] & 0xc0) == 0x80)
			n--; /* src[n] would start the next character: cut before it */
	}
	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* ---- one frame ------------------------------------------------------------- */

/* fn (file loc) when the file has no room: keep a short tail of the file
 * and cut the function instead. */
static void frame_text_tight(char *fn, const char *file, const char *loc, int cols, char *out,
			     size_t len)
{
	int nf = nchars(file), keep = nf < FILE_TAIL_MIN ? nf : FILE_TAIL_MIN;
	const char *dots = keep < nf ? "..." : "";
	int fnroom = cols - (2 + (int)strlen(dots) + keep + nchars(loc) + 1);

	if (fnroom >= 4 && nchars(fn) > fnroom)
		strcpy(fn + head_bytes(fn, fnroom - 3), "...");
	snprintf(out, len, "%s (%s%s%s)", fn, dots, tail(file, keep), loc);
}

/* The file name, clean; a very long one's tail after "...". len: at
 * least 3 * FILE_RAW_MAX + 4 (invalid bytes become 3-byte U+FFFD). */
static void clean_file(const char *p, char *buf, size_t len)
{
	size_t n = strlen(p), d = 0;

	if (n > FILE_RAW_MAX) {
		p += n - FILE_RAW_MAX;
		while (((unsigned char)*p & 0xc0) == 0x80)
			p++; /* to the next character */
		strcpy(buf, "...");
		d = 3;
	}
	output_clean_string(p, true, buf + d, len - d);
}

const char *sites_frame_text(const struct pm_frame *frame, int cols, char *buf, size_t len)
{
	char fn[256], file[3 * FILE_RAW_MAX + 8], loc[32] = "", out[sizeof(fn) + sizeof(file) + 64];
	const char *f = frame->function, *p = frame->file;
	int room;

	output_clean_string(f ? f : "?", true, fn, sizeof(fn));
	if (!p) {
		copy_chars(buf, len, fn, cols);
		return buf;
	}
	clean_file(p, file, sizeof(file));
	if (frame->line >= 0)
		snprintf(loc, sizeof(loc), ":%d", frame->line);
	room = cols - (nchars(fn) + 2 + nchars(loc) + 1);
	if (nchars(file) <= room)
		snprintf(out, sizeof(out), "%s (%s%s)", fn, file, loc);
	else if (room >= 3 + FILE_TAIL_MIN)
		snprintf(out, sizeof(out), "%s (...%s%s)", fn, tail(file, room - 3), loc);
	else
		frame_text_tight(fn, file, loc, cols, out, sizeof(out));
	copy_chars(buf, len, out, cols);
	return buf;
}

/* ---- the report ------------------------------------------------------------ */

static void cell_bytes(bool ok, uint64_t v, char *buf, size_t len)
{
	if (ok)
		output_human_bytes((double)v, buf, len);
	else
		snprintf(buf, len, "-");
}

static void cell_count(bool ok, uint64_t v, char *buf, size_t len)
{
	if (ok)
		snprintf(buf, len, "%llu", (unsigned long long)v);
	else
		snprintf(buf, len, "-");
}

/* "1234 app.py (Python 3.12.1)" */
static void who(const struct pm_proc *proc, char *buf, size_t len)
{
	const char *cmd = pm_str(proc, PM_COMMAND), *py = pm_str(proc, PM_PYTHON_VERSION);
	char c[128], v[32];

	if (!cmd || !*cmd)
		cmd = pm_str(proc, PM_CMDLINE);
	output_clean_string(cmd && *cmd ? cmd : "-", true, c, sizeof(c));
	snprintf(buf, len, "%lld %s", pm_ok(proc, PM_PID) ? (long long)pm_get(proc, PM_PID)->i : -1,
		 c);
	if (py) {
		output_clean_string(py, true, v, sizeof(v));
		snprintf(buf + strlen(buf), len - strlen(buf), " (Python %s)", v);
	}
}

static void total_cell(const struct pm_proc *p, enum pm_id id, bool bytes, char *buf, size_t len)
{
	if (bytes)
		cell_bytes(pm_ok(p, id), pm_get(p, id)->u, buf, len);
	else
		cell_count(pm_ok(p, id), pm_get(p, id)->u, buf, len);
}

/* The SITES line of a process with sites: totals, source, recent bytes
 * (when the totals carry them). */
static void report_totals(FILE *out, const struct pm_proc *proc, const char *name)
{
	const char *src = pm_str(proc, PM_SITES_SOURCE);
	char bytes[32], samples[32], s[64], recent[32];
	double secs = pm_num(proc, PM_SITES_RECENT_SECONDS);

	total_cell(proc, PM_SITES_TOTAL_BYTES, true, bytes, sizeof(bytes));
	total_cell(proc, PM_SITES_TOTAL_SAMPLES, false, samples, sizeof(samples));
	fprintf(out, "SITES %s: %s sampled in %s samples", name, bytes, samples);
	if (src)
		fprintf(out, " (%s)", output_clean_string(src, true, s, sizeof(s)));
	if (pm_ok(proc, PM_SITES_TOTAL_RECENT_BYTES) && !isnan(secs)) {
		total_cell(proc, PM_SITES_TOTAL_RECENT_BYTES, true, recent, sizeof(recent));
		fprintf(out, "; last %.0fs: %s", secs, recent);
	}
	fputc('\n', out);
}

static void report_site(FILE *out, const struct pm_site *site)
{
	char live[32], est[32], rec[32], n[32], s[16], text[1024];

	cell_bytes(site->live_ok, site->live_bytes, live, sizeof(live));
	cell_bytes(true, site->bytes, est, sizeof(est));
	cell_bytes(true, site->recent_bytes, rec, sizeof(rec));
	cell_count(true, site->samples, n, sizeof(n));
	output_clean_string(site->source ? site->source : "-", true, s, sizeof(s));
	fprintf(out, REPORT_FMT, live, est, rec, n, s,
		sites_frame_text(&site->where, REPORT_COLS, text, sizeof(text)));
	/* stack[0] is the site itself */
	for (int i = 1; i <= SITES_CALLERS && i < site->nframes; i++)
		fprintf(out, "%*s<- %s\n", CALLER_INDENT, "",
			sites_frame_text(&site->stack[i], REPORT_COLS, text, sizeof(text)));
}

int sites_report(FILE *out, const struct pm_proc *proc, int top)
{
	const char *reason = pm_reason(proc, PM_SITES), *src = pm_str(proc, PM_SITES_SOURCE);
	char name[256], buf[256], col[16] = "RECENT";
	double secs = pm_num(proc, PM_SITES_RECENT_SECONDS);

	who(proc, name, sizeof(name));
	if (!pm_ok(proc, PM_SITES)) {
		fprintf(out, "SITES %s: unavailable: %s\n", name,
			output_clean_string(reason, true, buf, sizeof(buf)));
	} else if (!proc->nsites) {
		fprintf(out, "SITES %s: no samples yet%s%s%s\n", name, src ? " (" : "",
			src ? output_clean_string(src, true, buf, sizeof(buf)) : "",
			src ? ")" : "");
	} else {
		report_totals(out, proc, name);
		if (secs >= 0 && secs < 1e6)
			snprintf(col, sizeof(col), "LAST %.0fs", secs);
		fprintf(out, REPORT_FMT, "LIVE", "EST.BYTES", col, "SAMPLES", "SOURCE", "SITE");
		for (int i = 0; i < proc->nsites && i < top; i++)
			report_site(out, &proc->sites[i]);
		fputc('\n', out);
	}
	return fflush(out) ? -errno : 0;
}
