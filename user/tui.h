/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The live display (ncurses): header, status line, process table, detail
 * and help screens, keys after top/htop. What is shown comes from view.c;
 * this file only draws it and reads keys. While it runs, log messages go
 * to the status line and are repeated on stderr once the terminal is
 * restored — on quit, on SIGINT/SIGTERM/SIGHUP (main's loop ends) and on a
 * fatal signal or exit() (handlers installed here).
 */
#ifndef PMT_TUI_H
#define PMT_TUI_H

#include <stdbool.h>
#include "output.h"
#include "view.h"

struct tui;

/* pymemtop's own cost, for the header. */
struct tui_self {
	struct view_val cpu; /* share of one core, 0-1 */
	struct view_val bpf; /* share of one core in pymemtop's BPF programs */
	struct view_val bpf_runs; /* BPF program runs per second */
	uint64_t drops; /* events and reads lost since start */
};

/* Take over the terminal. color false: attributes only (--no-color,
 * NO_COLOR). -ENOTTY when the terminal cannot be set up. */
int tui_start(struct tui **out, bool color, double interval_s);
/* Restore the terminal and print the messages shown in the status line
 * to stderr. NULL-safe. */
void tui_stop(struct tui *t);

/* A new frame: rows (unless paused), summary, the detail view's data. */
void tui_frame(struct tui *t, const struct frame *fr, const struct tui_self *self);
/* Redraw everything. */
void tui_draw(struct tui *t);

enum tui_action { TUI_NONE, TUI_QUIT, TUI_INTERVAL };
/* Handle the keys waiting on stdin (redrawing as needed). TUI_INTERVAL:
 * the user set a new interval, in *interval_s. */
enum tui_action tui_keys(struct tui *t, double *interval_s);

#endif
