// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#define _XOPEN_SOURCE_EXTENDED /* ncursesw, wcwidth */
#define _GNU_SOURCE
#include <errno.h>
#include <langinfo.h>
#include <locale.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include <wchar.h>
#include <ncurses.h>
#include <term.h>
#include "log.h"
#include "table.h"
#include "tui.h"

#define HEADER_LINES 5 /* title, python summary, own cost, status, column names */
#define MAX_MESSAGES 64
#define FILTER_LEN   128

enum tui_screen { SCR_TABLE, SCR_DETAIL, SCR_HELP };
enum prompt { PROMPT_NONE, PROMPT_FILTER, PROMPT_DELAY };
enum pair { PAIR_BAR = 1, PAIR_ALERT, PAIR_HEADING, PAIR_SELECT, PAIR_WARN };

struct tui {
	bool color, utf8;
	double interval_s;
	/* the frame shown */
	struct view_row *rows;
	int nrows;
	struct view_summary sum;
	struct tui_self self;
	double frame_time; /* unix seconds */
	const struct table *table; /* for the detail view's history */
	/* what the user chose */
	enum view_col sort;
	bool invert, full_cmd, paused;
	enum view_units units;
	char filter[FILTER_LEN];
	enum tui_screen screen;
	SCREEN *term;
	int sel_pid, sel, top; /* selection by PID, its index in the view, first row shown */
	int scroll; /* detail/help first line */
	/* detail view */
	int detail_pid;
	struct pm_proc detail; /* its own copy: kept when the process is gone */
	bool has_detail;
	struct history detail_hist;
	bool detail_has_hist, detail_gone;
	/* prompt in the status line */
	enum prompt prompt;
	char input[FILTER_LEN];
	char filter_before[FILTER_LEN];
	/* messages: the newest is the status line; all are repeated at exit */
	char msgs[MAX_MESSAGES][256];
	int msg_levels[MAX_MESSAGES];
	int nmsgs; /* total ever; the ring holds the last MAX_MESSAGES */
	char status[256];
	int status_level;
};

static struct tui *active;
static struct termios saved_tio;
static bool saved_tio_ok;
static char restore_seq[256]; /* terminfo rmcup, cnorm, sgr0 */

/* ---- terminal restore on every path ------------------------------------- */

static void append_cap(const char *cap)
{
	char *s = tigetstr((char *)cap);

	if (s && s != (char *)-1 && strlen(restore_seq) + strlen(s) < sizeof(restore_seq))
		strcat(restore_seq, s);
}

/* A fatal signal: no endwin (not async-signal-safe); write the saved
 * sequences, put the tty modes back, die of the same signal. */
static void on_fatal(int sig)
{
	ssize_t r = write(STDOUT_FILENO, restore_seq, strlen(restore_seq));

	(void)r;
	if (saved_tio_ok)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved_tio);
	signal(sig, SIG_DFL);
	raise(sig);
}

static void restore_at_exit(void)
{
	if (active && !isendwin())
		endwin();
}

static const int fatal_signals[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT };

static void install_restore(void)
{
	static bool registered;
	struct sigaction sa = { .sa_handler = on_fatal };

	restore_seq[0] = '\0';
	append_cap("rmcup");
	append_cap("cnorm");
	append_cap("sgr0");
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESETHAND;
	for (size_t i = 0; i < sizeof(fatal_signals) / sizeof(fatal_signals[0]); i++)
		sigaction(fatal_signals[i], &sa, NULL);
	if (!registered && !atexit(restore_at_exit))
		registered = true;
}

static void remove_restore(void)
{
	for (size_t i = 0; i < sizeof(fatal_signals) / sizeof(fatal_signals[0]); i++)
		signal(fatal_signals[i], SIG_DFL);
}

/* ---- messages --------------------------------------------------------------- */

static void on_log(int level, const char *msg)
{
	struct tui *t = active;
	time_t now = time(NULL);
	char hms[16] = "";
	struct tm tm;
	int slot;

	if (!t)
		return;
	slot = t->nmsgs % MAX_MESSAGES;
	snprintf(t->msgs[slot], sizeof(t->msgs[slot]), "%s", msg);
	t->msg_levels[slot] = level;
	t->nmsgs++;
	if (localtime_r(&now, &tm))
		strftime(hms, sizeof(hms), "%H:%M:%S ", &tm);
	snprintf(t->status, sizeof(t->status), "%s%s", hms, msg); /* when it happened */
	t->status_level = level;
}

/* ---- start / stop ------------------------------------------------------------ */

int tui_start(struct tui **out, bool color, double interval_s)
{
	struct tui *t = calloc(1, sizeof(*t));
	const char *cs;

	if (!t)
		return -ENOMEM;
	setlocale(LC_CTYPE, ""); /* UTF-8 for ncursesw; numbers stay "C" (LC_NUMERIC) */
	cs = nl_langinfo(CODESET);
	t->utf8 = cs && !strcmp(cs, "UTF-8");
	saved_tio_ok = !tcgetattr(STDIN_FILENO, &saved_tio);
	t->term = newterm(NULL, stdout, stdin);
	if (!t->term) {
		free(t);
		return -ENOTTY;
	}
	active = t;
	install_restore();
	cbreak(); /* Ctrl-C stays a signal: main's handler ends the loop */
	noecho();
	nonl();
	keypad(stdscr, TRUE);
	nodelay(stdscr, TRUE);
	set_escdelay(25);
	curs_set(0);
	t->color = color && has_colors();
	if (t->color) {
		start_color();
		use_default_colors();
		init_pair(PAIR_BAR, COLOR_BLACK, COLOR_GREEN);
		init_pair(PAIR_ALERT, COLOR_RED, -1);
		init_pair(PAIR_HEADING, COLOR_CYAN, -1);
		init_pair(PAIR_SELECT, COLOR_BLACK, COLOR_CYAN);
		init_pair(PAIR_WARN, COLOR_YELLOW, -1);
	}
	t->interval_s = interval_s;
	t->sort = COL_HEAP;
	t->sel_pid = -1;
	log_set_sink(on_log);
	*out = t;
	return 0;
}

static void free_rows(struct view_row *rows, int n)
{
	for (int i = 0; i < n; i++)
		view_row_release(&rows[i]);
	free(rows);
}

static void drop_detail(struct tui *t)
{
	if (t->has_detail)
		model_free(&t->detail);
	t->has_detail = false;
}

void tui_stop(struct tui *t)
{
	int first;

	if (!t)
		return;
	if (!isendwin())
		endwin();
	delscreen(t->term); /* after endwin: the terminal is back as it was */
	remove_restore();
	log_set_sink(NULL);
	active = NULL;
	first = t->nmsgs > MAX_MESSAGES ? t->nmsgs - MAX_MESSAGES : 0;
	if (first)
		fprintf(stderr, "pymemtop: (%d earlier messages not repeated)\n", first);
	for (int i = first; i < t->nmsgs; i++)
		log_msg(t->msg_levels[i % MAX_MESSAGES], "%s", t->msgs[i % MAX_MESSAGES]);
	free_rows(t->rows, t->nrows);
	drop_detail(t);
	free(t);
}

/* ---- data ------------------------------------------------------------------------ */

static const struct proc_entry *find_entry(const struct table *tb, int pid)
{
	for (const struct proc_entry *e = tb ? tb->head : NULL; e; e = e->next)
		if (e->pid == pid)
			return e;
	return NULL;
}

static void load_detail(struct tui *t)
{
	const struct proc_entry *e = find_entry(t->table, t->detail_pid);

	t->detail_has_hist = e != NULL;
	if (e)
		t->detail_hist = e->hist;
	for (int i = 0; i < t->nrows; i++)
		if (t->rows[i].pid == t->detail_pid) {
			drop_detail(t);
			model_copy(&t->detail, &t->rows[i].m); /* short of memory: what fitted */
			t->has_detail = true;
			t->detail_gone = false;
			return;
		}
	t->detail_gone = true; /* keep the last data shown */
}

void tui_frame(struct tui *t, const struct frame *fr, const struct tui_self *self)
{
	const struct frame_models *m = fr->models;
	struct view_row *rows;
	int n = 0;

	t->self = *self;
	t->table = fr->table;
	if (t->paused || !m)
		return;
	rows = calloc(m->n ? m->n : 1, sizeof(*rows));
	if (!rows)
		return;
	for (; n < m->n; n++)
		view_row_from_model(&rows[n], &m->p[n]); /* short of memory: what fitted */
	free_rows(t->rows, t->nrows);
	t->rows = rows;
	t->nrows = n;
	t->frame_time = fr->time;
	view_summarize(rows, n, &t->sum);
	if (t->screen == SCR_DETAIL)
		load_detail(t);
}

/* ---- drawing helpers ----------------------------------------------------------- */

static attr_t attr_of(const struct tui *t, enum view_attr a)
{
	switch (a) {
	case VA_TITLE:
		return A_BOLD;
	case VA_HEADING:
		return A_BOLD | (t->color ? COLOR_PAIR(PAIR_HEADING) : 0);
	case VA_DIM:
		return A_DIM;
	case VA_ALERT:
		return A_BOLD | (t->color ? COLOR_PAIR(PAIR_ALERT) : 0);
	default:
		return A_NORMAL;
	}
}

/* Bytes of s that fit in cols terminal cells (UTF-8 aware). */
static int fit_bytes(const char *s, int cols, int *used)
{
	mbstate_t st = { 0 };
	int bytes = 0, w = 0;

	while (s[bytes]) {
		wchar_t wc;
		size_t n = mbrtowc(&wc, s + bytes, MB_CUR_MAX, &st);
		int cw;

		if (n == (size_t)-1 || n == (size_t)-2 || n == 0) {
			n = 1; /* not valid here: one byte, one cell */
			cw = 1;
			memset(&st, 0, sizeof(st));
		} else {
			cw = wcwidth(wc);
			if (cw < 0)
				cw = 1;
		}
		if (w + cw > cols)
			break;
		w += cw;
		bytes += (int)n;
	}
	if (used)
		*used = w;
	return bytes;
}

/* s at (y, x), at most cols cells. */
static void put(int y, int x, const char *s, int cols)
{
	if (cols <= 0)
		return;
	mvaddnstr(y, x, s, fit_bytes(s, cols, NULL));
}

/* One table cell: right- or left-aligned in w cells; too long: cut with
 * '+' as top does. */
static void put_cell(int y, int x, const char *s, int w, bool left)
{
	char buf[64];
	int len = (int)strlen(s);

	if (len > w) {
		snprintf(buf, sizeof(buf), "%.*s+", w - 1, s);
		s = buf;
		len = w;
	}
	mvprintw(y, x, left ? "%-*s" : "%*s", w, s);
}

static void fill_line(int y, attr_t a)
{
	attron(a);
	mvhline(y, 0, ' ', COLS);
	attroff(a);
}

/* ---- the table screen ----------------------------------------------------------- */

/* Row indexes shown, filtered, in sort order (rows are sorted in place). */
static int visible_rows(struct tui *t, int *idx)
{
	int n = 0;

	view_sort(t->rows, t->nrows, t->sort, t->invert);
	for (int i = 0; i < t->nrows; i++)
		if (view_match(&t->rows[i], t->filter))
			idx[n++] = i;
	return n;
}

static void header(struct tui *t)
{
	const struct view_summary *s = &t->sum;
	char line[512], a[32], b[32], c[32], tb[16];
	time_t now = (time_t)t->frame_time;
	struct tm tm;
	int len;

	tb[0] = '\0';
	if (t->frame_time > 0 && localtime_r(&now, &tm))
		strftime(tb, sizeof(tb), "%H:%M:%S", &tm);
	len = snprintf(line, sizeof(line), "pymemtop - %s  every %gs  sort %s %s  units %s", tb,
		       t->interval_s, view_col_name(t->sort),
		       view_col_descending(t->sort) != t->invert ? "desc" : "asc",
		       view_units_name(t->units));
	if (t->filter[0] && len < (int)sizeof(line))
		len += snprintf(line + len, sizeof(line) - len, "  filter \"%s\"", t->filter);
	attron(A_BOLD);
	put(0, 0, line, COLS);
	attroff(A_BOLD);
	if (t->paused) {
		attron(A_BOLD | A_REVERSE);
		put(0, len + 2 < COLS - 8 ? len + 2 : COLS - 8, " PAUSED ", 8);
		attroff(A_BOLD | A_REVERSE);
	}
	if (COLS - 18 > len + 12)
		put(0, COLS - 17, "h help   q quit", 17);

	view_bytes(s->rss, t->units, a, sizeof(a));
	view_bytes(s->heap, t->units, b, sizeof(b));
	view_bytes(s->alloc, t->units, c, sizeof(c));
	len = snprintf(line, sizeof(line), "Python: %d processes", s->procs);
	if (s->exited)
		len += snprintf(line + len, sizeof(line) - len, " (+%d exited)", s->exited);
	len += snprintf(line + len, sizeof(line) - len, "  RSS %s  heap %s", a, b);
	if (s->heap_known < s->procs && s->heap.ok)
		len += snprintf(line + len, sizeof(line) - len, " (%d of %d)", s->heap_known,
				s->procs);
	len += snprintf(line + len, sizeof(line) - len, "  alloc %s/s", c);
	if (s->alloc_known < s->procs && s->alloc.ok)
		len += snprintf(line + len, sizeof(line) - len, " (%d of %d)", s->alloc_known,
				s->procs);
	if (s->gc_share.ok)
		len += snprintf(line + len, sizeof(line) - len, "  GC time %.1f%%",
				s->gc_share.v * 100);
	else
		len += snprintf(line + len, sizeof(line) - len, "  GC time -");
	if (s->mm_calls.ok)
		len += snprintf(line + len, sizeof(line) - len, "  mm calls %.0f/s", s->mm_calls.v);
	else
		len += snprintf(line + len, sizeof(line) - len, "  mm calls -");
	put(1, 0, line, COLS);
	if (s->steady) {
		snprintf(line, sizeof(line), "  %c%d growing", VIEW_STEADY_MARK, s->steady);
		attron(attr_of(t, VA_ALERT));
		put(1, len, line, COLS - len);
		attroff(attr_of(t, VA_ALERT));
	}

	len = snprintf(line, sizeof(line), "pymemtop itself: cpu ");
	len += t->self.cpu.ok
		       ? snprintf(line + len, sizeof(line) - len, "%.1f%%", t->self.cpu.v * 100)
		       : snprintf(line + len, sizeof(line) - len, "-");
	len += snprintf(line + len, sizeof(line) - len, "  bpf ");
	if (t->self.bpf.ok)
		len += snprintf(line + len, sizeof(line) - len, "%.2f%% (%.0f runs/s)",
				t->self.bpf.v * 100, t->self.bpf_runs.v);
	else
		len += snprintf(line + len, sizeof(line) - len, "- (kernel stats off)");
	snprintf(line + len, sizeof(line) - len, "  dropped %llu",
		 (unsigned long long)t->self.drops);
	attron(A_DIM);
	put(2, 0, line, COLS);
	attroff(A_DIM);
	if (t->self.drops) {
		attron(attr_of(t, VA_ALERT));
		put(2, len + 2, "dropped", 7);
		attroff(attr_of(t, VA_ALERT));
	}
}

static void status_line(struct tui *t, int y)
{
	char line[300];

	if (t->prompt == PROMPT_FILTER) {
		snprintf(line, sizeof(line),
			 "Filter (command substring, Enter keeps, Esc clears): %s", t->input);
	} else if (t->prompt == PROMPT_DELAY) {
		snprintf(line, sizeof(line), "Interval in seconds [%g]: %s", t->interval_s,
			 t->input);
	} else if (t->status[0]) {
		attr_t a = t->status_level <= LOG_WARN
				   ? A_BOLD | (t->color ? COLOR_PAIR(PAIR_WARN) : 0)
				   : A_NORMAL;

		attron(a);
		put(y, 0, t->status, COLS);
		attroff(a);
		return;
	} else {
		return;
	}
	put(y, 0, line, COLS);
	if (t->prompt != PROMPT_NONE) {
		int used;

		fit_bytes(line, COLS - 1, &used);
		move(y, used);
	}
}

static void draw_table(struct tui *t)
{
	enum view_col cols[COL_NR];
	int width[COL_NR], ncols = view_layout(COLS, cols, width);
	int *idx = calloc(t->nrows ? t->nrows : 1, sizeof(*idx));
	int n, rows_space = LINES - HEADER_LINES, x;
	attr_t bar = t->color ? COLOR_PAIR(PAIR_BAR) : A_REVERSE;
	char cell[4096];

	if (!idx)
		return;
	header(t);
	status_line(t, 3);
	n = visible_rows(t, idx);
	/* the selection follows its process through re-sorting */
	t->sel = n ? 0 : -1;
	for (int i = 0; i < n; i++)
		if (t->rows[idx[i]].pid == t->sel_pid)
			t->sel = i;
	if (t->sel >= 0) {
		if (t->rows[idx[t->sel]].pid != t->sel_pid && t->sel_pid >= 0) {
			/* its process is gone or filtered out: stay at the old place */
			t->sel = t->top < n ? t->top : n - 1;
		}
		t->sel_pid = t->rows[idx[t->sel]].pid;
	}
	if (rows_space < 1)
		rows_space = 1;
	if (t->sel >= 0 && t->sel < t->top)
		t->top = t->sel;
	if (t->sel >= t->top + rows_space)
		t->top = t->sel - rows_space + 1;
	if (t->top > n - rows_space)
		t->top = n - rows_space > 0 ? n - rows_space : 0;

	if (LINES > 4) {
		fill_line(4, bar);
		attron(bar);
		x = 0;
		for (int c = 0; c < ncols && x < COLS; c++) {
			bool left =
				cols[c] == COL_USER || cols[c] == COL_PY || cols[c] == COL_COMMAND;
			char name[16];

			snprintf(name, sizeof(name), "%s", view_col_name(cols[c]));
			if (cols[c] == t->sort)
				attron(A_BOLD | A_UNDERLINE);
			put_cell(4, x, name, cols[c] == COL_COMMAND ? (int)strlen(name) : width[c],
				 left);
			if (cols[c] == t->sort)
				attroff(A_BOLD | A_UNDERLINE);
			x += width[c] + 1;
		}
		attroff(bar);
	}
	for (int r = 0; r < rows_space && t->top + r < n; r++) {
		const struct view_row *row = &t->rows[idx[t->top + r]];
		int y = HEADER_LINES + r;
		bool selected = t->top + r == t->sel;
		attr_t base = selected ? (t->color ? COLOR_PAIR(PAIR_SELECT) : A_REVERSE)
				       : (row->exited ? A_DIM : A_NORMAL);

		if (selected)
			fill_line(y, base);
		attron(base);
		x = 0;
		for (int c = 0; c < ncols && x < COLS; c++) {
			bool left = cols[c] == COL_USER || cols[c] == COL_PY;
			attr_t extra = 0;

			view_cell(row, cols[c], t->units, t->full_cmd, cell, sizeof(cell));
			if (cols[c] == COL_GROWTH && row->growth_steady && !selected)
				extra = attr_of(t, VA_ALERT);
			attron(extra);
			if (cols[c] == COL_COMMAND)
				put(y, x, cell, COLS - x);
			else
				put_cell(y, x, cell, width[c], left);
			attroff(extra);
			x += width[c] + 1;
		}
		attroff(base);
	}
	if (!n && LINES > HEADER_LINES) {
		attron(A_DIM);
		put(HEADER_LINES, 1,
		    t->nrows ? "no process matches the filter (/ then Esc clears it)"
			     : "no CPython process found yet: new ones appear within one interval",
		    COLS - 1);
		attroff(A_DIM);
	}
	free(idx);
}

/* ---- detail and help ------------------------------------------------------------ */

static void draw_lines(struct tui *t, const struct view_lines *l, const char *footer)
{
	int space = LINES - 1;

	if (t->scroll > l->n - space)
		t->scroll = l->n - space > 0 ? l->n - space : 0;
	if (t->scroll < 0)
		t->scroll = 0;
	for (int i = 0; i < space && t->scroll + i < l->n; i++) {
		const struct view_line *v = &l->v[t->scroll + i];
		attr_t a = attr_of(t, v->attr);

		attron(a);
		put(i, 0, v->text, COLS);
		attroff(a);
	}
	fill_line(LINES - 1, t->color ? COLOR_PAIR(PAIR_BAR) : A_REVERSE);
	attron(t->color ? COLOR_PAIR(PAIR_BAR) : A_REVERSE);
	put(LINES - 1, 0, footer, COLS);
	attroff(t->color ? COLOR_PAIR(PAIR_BAR) : A_REVERSE);
}

static void draw_detail(struct tui *t)
{
	struct view_lines l = { 0 };
	char footer[160];

	if (t->has_detail)
		view_detail(&t->detail, t->detail_has_hist ? &t->detail_hist : NULL, COLS, t->utf8,
			    t->units, &l);
	else
		view_lines_add(&l, VA_DIM, "no data for PID %d", t->detail_pid);
	snprintf(footer, sizeof(footer),
		 " PID %d%s%s - Esc back  Up/Down PgUp/PgDn Home/End scroll", t->detail_pid,
		 t->detail_gone ? " (no longer running: last data)" : "",
		 t->paused ? " PAUSED" : "");
	draw_lines(t, &l, footer);
	view_lines_free(&l);
}

static void draw_help(struct tui *t)
{
	struct view_lines l = { 0 };

	view_help(&l);
	draw_lines(t, &l, " any key returns (Up/Down scroll)");
	view_lines_free(&l);
}

void tui_draw(struct tui *t)
{
	erase();
	switch (t->screen) {
	case SCR_DETAIL:
		draw_detail(t);
		break;
	case SCR_HELP:
		draw_help(t);
		break;
	default:
		draw_table(t);
	}
	curs_set(t->prompt != PROMPT_NONE && t->screen == SCR_TABLE ? 1 : 0);
	refresh();
}

/* ---- keys ---------------------------------------------------------------------- */

static bool is_enter(int ch)
{
	return ch == '\n' || ch == '\r' || ch == KEY_ENTER;
}

static bool is_backspace(int ch)
{
	return ch == KEY_BACKSPACE || ch == 127 || ch == 8;
}

static enum tui_action prompt_key(struct tui *t, int ch, double *interval_s)
{
	size_t n = strlen(t->input);
	char *end;
	double v;

	if (ch == 27) { /* Esc */
		if (t->prompt == PROMPT_FILTER)
			t->filter[0] = '\0';
		t->prompt = PROMPT_NONE;
		return TUI_NONE;
	}
	if (is_backspace(ch)) {
		if (n)
			t->input[n - 1] = '\0';
	} else if (is_enter(ch)) {
		enum prompt p = t->prompt;

		t->prompt = PROMPT_NONE;
		if (p == PROMPT_DELAY && n) {
			errno = 0;
			v = strtod(t->input, &end);
			if (errno || *end || end == t->input || !isfinite(v) || v < 0.05 ||
			    v > 86400) {
				on_log(LOG_WARN,
				       "interval: not a number of seconds from 0.05 to 86400");
				return TUI_NONE;
			}
			t->interval_s = *interval_s = v;
			return TUI_INTERVAL;
		}
		return TUI_NONE;
	} else if (ch >= 0x20 && ch < 0x7f && n + 1 < sizeof(t->input)) {
		t->input[n] = (char)ch;
		t->input[n + 1] = '\0';
	}
	if (t->prompt == PROMPT_FILTER) /* the table follows as one types */
		snprintf(t->filter, sizeof(t->filter), "%s", t->input);
	return TUI_NONE;
}

static void set_sort(struct tui *t, enum view_col c)
{
	t->sort = c;
	t->invert = false;
}

static void open_detail(struct tui *t)
{
	if (t->sel_pid < 0)
		return;
	t->screen = SCR_DETAIL;
	t->detail_pid = t->sel_pid;
	t->scroll = 0;
	drop_detail(t);
	load_detail(t);
}

static enum tui_action table_key(struct tui *t, int ch, double *interval_s)
{
	int rows_space = LINES - HEADER_LINES > 1 ? LINES - HEADER_LINES : 1;
	int *idx, n, move = 0;

	(void)interval_s;
	switch (ch) {
	case 'q':
	case 27:
		return TUI_QUIT;
	case 'h':
	case '?':
	case KEY_F(1):
		t->screen = SCR_HELP;
		t->scroll = 0;
		return TUI_NONE;
	case 'M':
		set_sort(t, COL_HEAP);
		return TUI_NONE;
	case 'R':
		set_sort(t, COL_RSS);
		return TUI_NONE;
	case 'P':
		set_sort(t, COL_ALLOC);
		return TUI_NONE;
	case 'G':
		set_sort(t, COL_GCP);
		return TUI_NONE;
	case 'N':
		set_sort(t, COL_PID);
		return TUI_NONE;
	case '<':
		set_sort(t, t->sort > 0 ? t->sort - 1 : COL_NR - 1);
		return TUI_NONE;
	case '>':
		set_sort(t, t->sort + 1 < COL_NR ? t->sort + 1 : 0);
		return TUI_NONE;
	case 'I':
		t->invert = !t->invert;
		return TUI_NONE;
	case ' ':
		t->paused = !t->paused;
		return TUI_NONE;
	case 'E':
		t->units = (t->units + 1) % UNITS_NR;
		return TUI_NONE;
	case 'c':
		t->full_cmd = !t->full_cmd;
		return TUI_NONE;
	case '/':
		t->prompt = PROMPT_FILTER;
		snprintf(t->input, sizeof(t->input), "%s", t->filter);
		return TUI_NONE;
	case 'd':
	case 's':
		t->prompt = PROMPT_DELAY;
		t->input[0] = '\0';
		return TUI_NONE;
	case '\n':
	case '\r':
	case KEY_ENTER:
		open_detail(t);
		return TUI_NONE;
	case KEY_UP:
	case 'k':
		move = -1;
		break;
	case KEY_DOWN:
	case 'j':
		move = 1;
		break;
	case KEY_PPAGE:
		move = -rows_space;
		break;
	case KEY_NPAGE:
		move = rows_space;
		break;
	case KEY_HOME:
	case 'g':
		move = -1000000;
		break;
	case KEY_END:
		move = 1000000;
		break;
	default:
		return TUI_NONE;
	}
	idx = calloc(t->nrows ? t->nrows : 1, sizeof(*idx));
	if (!idx)
		return TUI_NONE;
	n = visible_rows(t, idx);
	if (n) {
		int s = t->sel < 0 ? 0 : t->sel;

		for (int i = 0; i < n; i++)
			if (t->rows[idx[i]].pid == t->sel_pid)
				s = i;
		s += move;
		s = s < 0 ? 0 : s >= n ? n - 1 : s;
		t->sel_pid = t->rows[idx[s]].pid;
	}
	free(idx);
	return TUI_NONE;
}

static void scroll_key(struct tui *t, int ch)
{
	int page = LINES - 2 > 1 ? LINES - 2 : 1;

	switch (ch) {
	case KEY_UP:
	case 'k':
		t->scroll--;
		break;
	case KEY_DOWN:
	case 'j':
		t->scroll++;
		break;
	case KEY_PPAGE:
		t->scroll -= page;
		break;
	case KEY_NPAGE:
	case ' ':
		t->scroll += page;
		break;
	case KEY_HOME:
		t->scroll = 0;
		break;
	case KEY_END:
		t->scroll = 1 << 20;
		break;
	}
}

enum tui_action tui_keys(struct tui *t, double *interval_s)
{
	enum tui_action act = TUI_NONE;
	bool any = false;
	int ch;

	while (act == TUI_NONE && (ch = getch()) != ERR) {
		any = true;
		if (ch == KEY_RESIZE)
			continue;
		if (t->prompt != PROMPT_NONE) {
			act = prompt_key(t, ch, interval_s);
		} else if (t->screen == SCR_HELP) {
			if (ch == KEY_UP || ch == KEY_DOWN || ch == KEY_PPAGE || ch == KEY_NPAGE ||
			    ch == KEY_HOME || ch == KEY_END || ch == 'j' || ch == 'k') {
				scroll_key(t, ch);
			} else {
				t->screen = SCR_TABLE;
			}
		} else if (t->screen == SCR_DETAIL) {
			if (ch == 27 || is_backspace(ch) || ch == 'q' || is_enter(ch) ||
			    ch == KEY_LEFT) {
				t->screen = SCR_TABLE;
			} else if (ch == 'E') {
				t->units = (t->units + 1) % UNITS_NR;
			} else if (ch == 'h' || ch == '?') {
				t->screen = SCR_HELP;
				t->scroll = 0;
			} else {
				scroll_key(t, ch);
			}
		} else {
			act = table_key(t, ch, interval_s);
		}
	}
	if (any && act != TUI_QUIT)
		tui_draw(t);
	return act;
}
