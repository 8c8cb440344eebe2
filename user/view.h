/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * What the live display shows, without ncurses: rows built from the same
 * typed per-process models --json prints (model.h; so the screen and the
 * JSON cannot disagree), column layout for a terminal width, cell formatting
 * in the chosen units, sorting, filtering, the host summary, the detail
 * view's lines and the help text. Pure; unit-tested (tests/unit/test_view.c).
 */
#ifndef PMT_VIEW_H
#define PMT_VIEW_H

#include <stdbool.h>
#include <stddef.h>
#include "growth.h"
#include "model.h"

enum view_col {
	COL_PID,
	COL_USER,
	COL_PY,
	COL_RSS,
	COL_HEAP,
	COL_LIVE,
	COL_GROWTH,
	COL_ALLOC,
	COL_GCS,
	COL_GCP,
	COL_COMMAND,
	COL_NR,
};

/* E cycles: sizes scaled to fit (K/M/G), or all in one unit. */
enum view_units { UNITS_AUTO, UNITS_KIB, UNITS_MIB, UNITS_GIB, UNITS_NR };

/* A value that may be unavailable (shown "-", never 0). */
struct view_val {
	bool ok;
	double v;
};

struct view_row {
	int pid;
	bool exited;
	const char *user, *py, *command, *cmdline; /* owned by m */
	struct view_val rss, heap, live, growth, alloc, gcs, gcp, mm_calls;
	bool growth_steady; /* suspected leak */
	bool growth_rss; /* growth is RSS's: the heap is not readable */
	struct pm_proc m; /* its own copy of the process's model (model_copy) */
};

/* Fill r from a process model, copied (it outlives the frame): released
 * by view_row_release. 0, or -ENOMEM (r holds what fitted). */
int view_row_from_model(struct view_row *r, const struct pm_proc *m);
void view_row_release(struct view_row *r);

const char *view_col_name(enum view_col c);
/* The model field a column shows (docs/display.md, "Columns"). */
enum pm_id view_col_field(enum view_col c);
/* Default direction: sizes and rates largest first, PID/USER/PY/COMMAND
 * ascending. */
bool view_col_descending(enum view_col c);
/* Sort by column c (invert flips the direction); unavailable values go
 * last either way; ties by PID. */
void view_sort(struct view_row *rows, int n, enum view_col c, bool invert);
/* Case-insensitive substring of the command label or the full command
 * line; an empty filter matches everything. */
bool view_match(const struct view_row *r, const char *filter);

/* Columns shown at this width, in order, COMMAND last with the rest of
 * the line (at least VIEW_COMMAND_MIN). Low-priority columns are dropped
 * first on narrow terminals. Returns the count; widths in width[]. */
#define VIEW_COMMAND_MIN 16
int view_layout(int term_width, enum view_col cols[COL_NR], int width[COL_NR]);
/* The column header (right-aligned like the cells) of c. */
int view_col_width(enum view_col c);

/* One cell's text (without padding). full: COMMAND is the whole command
 * line, not the label. The GROWTH cell of a steady grower starts with
 * VIEW_STEADY_MARK. */
#define VIEW_STEADY_MARK '!'
void view_cell(const struct view_row *r, enum view_col c, enum view_units u, bool full, char *buf,
	       size_t len);
/* A size in the given units ("12.3M", "-" when !v.ok). */
void view_bytes(struct view_val v, enum view_units u, char *buf, size_t len);
const char *view_units_name(enum view_units u);

/* Host summary of the header, over the rows given (the unfiltered set). */
struct view_summary {
	int procs, exited;
	struct view_val rss, heap, alloc, gc_share; /* sums; gc_share: GC s per s */
	int heap_known, alloc_known, gc_known; /* processes the sums cover */
	int steady; /* processes marked as steady growers */
	struct view_val mm_calls; /* memory syscalls per second, all processes */
};
void view_summarize(const struct view_row *rows, int n, struct view_summary *s);

/* Lines of text with an attribute hint for the renderer. */
enum view_attr { VA_NORMAL, VA_TITLE, VA_HEADING, VA_DIM, VA_ALERT };

struct view_lines {
	struct view_line {
		enum view_attr attr;
		char text[1024]; /* a sparkline of HISTORY_SAMPLES 3-byte glyphs fits */
	} * v;
	int n, cap;
};
void view_lines_add(struct view_lines *l, enum view_attr a, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void view_lines_free(struct view_lines *l);

/* The detail view of one process: its sections with data first, in this
 * order: memory, Python heap, garbage collector (per generation), allocation
 * flow, allocation sites (two callers each), growth, memory syscalls,
 * heap/RSS history as sparklines (hist may be NULL), size classes, the
 * process (command line, build); each value with its accuracy, each
 * section's source in its title, unavailable values of a section on one
 * line per reason; then a section with nothing available as one line
 * with its reason. width is the terminal width (sparklines and site
 * names fit it); utf8 selects block glyphs. */
void view_detail(const struct pm_proc *proc, const struct history *hist, int width, bool utf8,
		 enum view_units u, struct view_lines *out);
/* The help screen. */
void view_help(struct view_lines *out);

/* Sparkline of v[0..n) (NAN = gap) in width cells; values bucketed by
 * max. Writes min and max of the shown values (NAN when none). */
void view_sparkline(const double *v, int n, int width, bool utf8, char *out, size_t len,
		    double *min, double *max);

#endif
