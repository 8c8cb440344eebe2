// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * pymemtop: top for CPython memory. main() only orchestrates: options,
 * the BPF collector, discovery of CPython processes (a /proc scan at
 * start, then exec events), the process table, and one frame of output
 * per interval.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include "collector.h"
#include "discover.h"
#include "inspect.h"
#include "lifecycle.h"
#include "log.h"
#include "options.h"
#include "output.h"
#include "procfs.h"
#include "prom.h"
#include "sitesreport.h"
#include "promfile.h"
#include "httpd.h"
#include "rate.h"
#include "table.h"
#include "tui.h"

struct app {
	struct env env;
	struct collector *col;
	struct table table;
	struct lifecycle lc; /* which processes are in the table */
	uint64_t drops_reported[PMT_DROP_NR]; /* values already warned about */
	struct tui *tui; /* the live display, or NULL (batch, JSON) */
	struct prom *prom; /* --prom-file / --listen */
	struct httpd *httpd; /* --listen */
	uint64_t write_errors; /* --prom-file writes that failed */
	char last_write_err[256]; /* said once until it changes or clears */
	char last_folded_err[256]; /* --folded: the same */
	double next; /* when the next frame is due (CLOCK_MONOTONIC) */
	/* pymemtop's own cost at the last frame, for the live display */
	double self_t, self_cpu_s;
	uint64_t bpf_ns, bpf_runs;
	bool bpf_ok;
};

static volatile sig_atomic_t exiting;

/* Where stdout goes once a stop signal found pymemtop blocked writing a
 * frame to a pipe nobody reads (opened at start: -1 if it could not be). */
static int devnull_fd = -1;

#define STOP_GRACE_S 2 /* a frame being written may finish this long */

/* A stop signal ends the loop. If a frame is still being written a
 * grace period later, its reader is not reading: glibc's stdio retries
 * a partly written block (a signal only shortens the write(2) it
 * interrupts), so stdout is pointed at /dev/null for the rest, and the
 * loop sees the flag. */
static void on_signal(int sig)
{
	if (sig == SIGALRM) {
		if (devnull_fd >= 0)
			dup2(devnull_fd, STDOUT_FILENO);
		return;
	}
	if (!exiting)
		alarm(STOP_GRACE_S);
	exiting = 1;
}

/* Data loss is never silent: say what was lost and what would avoid it. */
static void warn_new_drops(struct app *a, const uint64_t drops[PMT_DROP_NR])
{
	for (int i = 0; i < PMT_DROP_NR; i++) {
		const char *hint = collector_drop_hint(i);
		uint64_t n = drops[i] - a->drops_reported[i];

		if (!n)
			continue;
		a->drops_reported[i] = drops[i];
		if (hint)
			log_warn("%llu events dropped (%s): raise %s", (unsigned long long)n,
				 collector_drop_name(i), hint);
		else
			log_info("%llu events dropped (%s)", (unsigned long long)n,
				 collector_drop_name(i));
	}
}

static double cpu_seconds(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru))
		return NAN;
	return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
	       ru.ru_stime.tv_usec / 1e6;
}

/* pymemtop's CPU and its BPF programs' run time since the last frame. */
static void self_cost(struct app *a, const struct frame *fr, struct tui_self *s)
{
	double now = rate_now(), cpu = cpu_seconds(), dt = now - a->self_t;
	uint64_t ns, runs;
	bool bpf = !collector_bpf_runtime(a->col, &ns, &runs);

	memset(s, 0, sizeof(*s));
	if (a->self_t > 0 && dt > 0) {
		s->cpu = (struct view_val){ isfinite(cpu - a->self_cpu_s),
					    (cpu - a->self_cpu_s) / dt };
		if (bpf && a->bpf_ok && ns >= a->bpf_ns && runs >= a->bpf_runs) {
			s->bpf = (struct view_val){ true, (ns - a->bpf_ns) / 1e9 / dt };
			s->bpf_runs = (struct view_val){ true, (runs - a->bpf_runs) / dt };
		}
	}
	a->self_t = now;
	a->self_cpu_s = cpu;
	a->bpf_ok = bpf;
	a->bpf_ns = ns;
	a->bpf_runs = runs;
	s->drops = a->table.read_failures;
	for (int i = 0; i < PMT_DROP_NR; i++)
		s->drops += fr->drops[i];
}

/* pymemtop's own health for the Prometheus families. */
static void prom_self_fill(struct app *a, const struct frame *fr, struct prom_self *s)
{
	const struct table *t = &a->table;
	uint64_t ns, runs;

	memset(s, 0, sizeof(*s));
	s->version = PYMEMTOP_VERSION;
	s->last_update = fr->time;
	for (int i = 0;
	     i < PMT_DROP_NR && s->ndrops < (int)(sizeof(s->drops) / sizeof(s->drops[0])); i++)
		s->drops[s->ndrops++] =
			(struct prom_counter){ collector_drop_name(i), fr->drops[i] };
	s->gc_attach_failures = t->attach_failures;
	s->heap_attach_failures = t->heap_attach_failures;
	s->proc_read_failures = t->read_failures;
	s->out_of_memory = t->out_of_memory;
	s->snapshots = t->heap_stats.snapshots;
	s->snapshots_dropped = t->heap_stats.dropped;
	s->bpf_ok = !collector_bpf_runtime(a->col, &ns, &runs);
	s->bpf_seconds = ns / 1e9;
	s->has_write_errors = a->env.prom_file != NULL;
	s->write_errors = a->write_errors;
	s->has_http_errors = a->httpd != NULL;
	s->http_errors = a->httpd ? httpd_errors(a->httpd) : 0;
}

/* Replace path atomically (promfile's rules); on failure keep running and
 * retry every interval, saying it once per new reason in last_err. False
 * when the write failed. */
static bool write_file(const char *path, const char *text, size_t len, char *last_err,
		       size_t last_len)
{
	char err[256];

	if (!promfile_write(path, text, len, err, sizeof(err))) {
		if (last_err[0])
			log_warn("%s written again", path);
		last_err[0] = '\0';
		return true;
	}
	if (strcmp(err, last_err))
		log_warn("%s (the previous file stays; retrying every interval)", err);
	snprintf(last_err, last_len, "%s", err);
	return false;
}

static void write_prom_file(struct app *a, const char *text, size_t len)
{
	if (!write_file(a->env.prom_file, text, len, a->last_write_err, sizeof(a->last_write_err)))
		a->write_errors++;
}

/* --prom-file / --listen: fold the frame in, render, write and publish. */
static void export_frame(struct app *a, const struct frame *fr)
{
	char *text = NULL, *om = NULL;
	size_t tlen = 0, olen = 0;
	struct prom_self self;

	prom_update(a->prom, fr->models->p, fr->models->n, fr->time);
	prom_self_fill(a, fr, &self);
	if (prom_render(a->prom, &self, false, &text, &tlen)) {
		log_warn("Prometheus metrics: out of memory");
		return;
	}
	if (a->env.prom_file)
		write_prom_file(a, text, tlen);
	if (a->httpd && !prom_render(a->prom, &self, true, &om, &olen))
		httpd_publish(a->httpd, text, tlen, om, olen);
	free(text);
	free(om);
}

/* --folded: every process's sampled stacks, rewritten atomically (the
 * textfile writer's rules: no symlinks, no partial file). */
static void write_folded(struct app *a)
{
	char *text = NULL, root[300];
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (!f)
		return;
	for (const struct proc_entry *e = a->table.head; e; e = e->next) {
		if (!e->sites)
			continue;
		/* the flame graph's root frame: what the process is, and its PID */
		snprintf(root, sizeof(root), "%.280s [%d]", e->command[0] ? e->command : e->comm,
			 e->pid);
		for (char *p = root; *p; p++)
			if (*p == ';' || *p == '\n' || (unsigned char)*p < 0x20)
				*p = ' ';
		sites_proc_folded(e->sites, root,
				  a->env.sites_by_flow ? SITES_BY_FLOW : SITES_BY_LIVE, f);
	}
	if (fclose(f)) {
		free(text);
		return;
	}
	write_file(a->env.folded, text, len, a->last_folded_err, sizeof(a->last_folded_err));
	free(text);
}

/* Every consumer of the frame. */
static int consume_frame(struct app *a, struct frame *fr)
{
	struct tui_self self;
	int err;

	if (a->prom)
		export_frame(a, fr);
	if (a->env.folded)
		write_folded(a);
	if (a->env.quiet)
		return 0;
	if (a->tui) {
		self_cost(a, fr, &self);
		tui_frame(a->tui, fr, &self);
		tui_draw(a->tui);
		return 0;
	}
	if (a->env.json)
		return output_json(stdout, fr);
	err = output_text(stdout, fr);
	if (!err && a->env.sites_report)
		err = output_sites_reports(stdout, fr, a->env.sites_top, &a->table.out_of_memory);
	return err;
}

/* One frame: the typed model of every process, built once, then read by
 * every consumer. */
static int emit_frame(struct app *a, double interval_s)
{
	struct frame fr = { .time = rate_wall_now(), .interval_s = interval_s, .table = &a->table };
	struct frame_models m;
	int err;

	collector_read_drops(a->col, fr.drops);
	warn_new_drops(a, fr.drops);
	if (output_models(&a->table, a->env.sites_top, &m) == -ENOMEM) {
		a->table.out_of_memory++;
		if (!m.p) {
			log_warn("out of memory: frame skipped");
			return 0;
		}
	}
	fr.models = &m;
	err = consume_frame(a, &fr);
	output_models_free(&m);
	return err;
}

/* Wait up to timeout_ms for BPF events and, in the live display, keys.
 * -ECANCELED: time to stop (q, the terminal closed); -EINTR: a signal
 * (a stop signal sets exiting; SIGWINCH, or SIGSTOP and SIGCONT, after
 * which epoll_wait(2) fails with EINTR even without a handler, do not). */
static int wait_events(struct app *a, int timeout_ms)
{
	struct pollfd p[2] = { { collector_fd(a->col), POLLIN, 0 }, { STDIN_FILENO, POLLIN, 0 } };
	int err;

	if (!a->tui)
		return collector_poll(a->col, timeout_ms, lifecycle_event, &a->lc);
	if (poll(p, 2, timeout_ms) < 0 && errno != EINTR) /* EINTR: SIGWINCH, or exiting */
		return -errno;
	if (exiting)
		return -EINTR;
	err = collector_poll(a->col, 0, lifecycle_event, &a->lc);
	if (err < 0 && err != -EINTR)
		return err;
	if (p[1].revents & (POLLHUP | POLLERR | POLLNVAL)) {
		log_info("terminal closed");
		return -ECANCELED;
	}
	switch (tui_keys(a->tui, &a->env.interval_s)) {
	case TUI_QUIT:
		return -ECANCELED;
	case TUI_INTERVAL:
		a->next = rate_now() + a->env.interval_s;
		break;
	default:
		break;
	}
	return 0;
}

static int run(struct app *a)
{
	double start = rate_now(), last = start;
	long frames = 0;
	int err = 0;

	a->next = start + a->env.interval_s;
	if (a->tui) {
		/* Rows at once (rates need one interval and show "-" until
		 * then); not a frame for -n. */
		table_refresh(&a->table, a->col, start);
		err = emit_frame(a, 0);
		if (err)
			return err;
		lifecycle_reap(&a->lc);
	}
	while (!exiting) {
		double now = rate_now();
		int timeout_ms = a->next > now ? (int)((a->next - now) * 1000) + 1 : 0;

		if (lifecycle_busy(&a->lc) && timeout_ms > LIFECYCLE_PENDING_POLL_MS)
			timeout_ms = LIFECYCLE_PENDING_POLL_MS;
		err = wait_events(a, timeout_ms);
		if (err == -ECANCELED || exiting)
			break;
		if (err < 0 && err != -EINTR) {
			log_error("polling events: %s", strerror(-err));
			return err;
		}
		now = rate_now();
		lifecycle_retry(&a->lc, now);
		if (now < a->next)
			continue;
		/* Events that arrived since the poll: the final counters of a
		 * process that just exited must be in before it is sampled. */
		err = collector_poll(a->col, 0, lifecycle_event, &a->lc);
		if (err < 0 && err != -EINTR) {
			log_error("polling events: %s", strerror(-err));
			return err;
		}
		lifecycle_frame(&a->lc, now);
		table_refresh(&a->table, a->col, now);
		err = emit_frame(a, now - last);
		/* a reader gone, or a stop signal while blocked on a full pipe:
		 * a clean end, not an error */
		if (err)
			return err == -EPIPE || (err == -EINTR && exiting) ? 0 : err;
		lifecycle_reap(&a->lc);
		last = now;
		a->next += a->env.interval_s;
		if (a->next < now)
			a->next = now + a->env.interval_s;
		if (a->env.frames && ++frames >= a->env.frames)
			break;
		if (lifecycle_all_selected_gone(&a->lc)) {
			/* the screen closes: say why */
			log_msg(a->tui ? LOG_WARN : LOG_INFO, "all selected processes have exited");
			break;
		}
	}
	return 0;
}

/* --prom-file / --listen. The listener is opened before anything is
 * attached: a port in use is a clear error at once. */
static int start_exports(struct app *a)
{
	char err[256];
	const char *base;
	int rc;

	if (!a->env.prom_file && !a->env.listen)
		return 0;
	a->prom = prom_new(a->env.prom_pids, a->env.prom_sites);
	if (a->prom)
		prom_set_types(a->prom, a->env.prom_types);
	if (!a->prom)
		return -ENOMEM;
	if (a->env.prom_file) {
		base = strrchr(a->env.prom_file, '/');
		base = base ? base + 1 : a->env.prom_file;
		if (strlen(base) < 6 || strcmp(base + strlen(base) - 5, ".prom"))
			log_warn("--prom-file %s: node_exporter's textfile collector reads only "
				 "*.prom files",
				 a->env.prom_file);
	}
	if (a->env.listen) {
		rc = httpd_start(a->env.listen, false, &a->httpd, err, sizeof(err));
		if (rc) {
			log_error("--listen: %s", err);
			return rc;
		}
	}
	/* BPF run time is one of the exported health metrics */
	rc = collector_enable_stats(a->col);
	if (rc)
		log_info("BPF run-time stats unavailable: %s", strerror(-rc));
	return 0;
}

/* top's rule: the live display needs a terminal on both ends; anything
 * else (a pipe, a file, cron) gets batch text. */
static void start_display(struct app *a)
{
	int err;

	if (a->env.batch || a->env.json || a->env.quiet || !isatty(STDOUT_FILENO) ||
	    !isatty(STDIN_FILENO))
		return;
	err = tui_start(&a->tui, !a->env.no_color, a->env.interval_s);
	if (err) {
		log_warn("cannot set up the terminal (TERM=%s): falling back to text frames",
			 getenv("TERM") ? getenv("TERM") : "");
		return;
	}
	err = collector_enable_stats(a->col);
	if (err)
		log_info("BPF run-time stats unavailable: %s", strerror(-err));
}

/* --precise slows what it watches: say by how much, measured here. */
static void measure_precise(struct app *a)
{
	struct table *t = &a->table;
	int err = collector_measure_precise(a->col, &t->precise_alloc_s, &t->precise_free_s);

	if (err) {
		log_warn("--precise: could not measure the probe cost: %s", strerror(-err));
		return;
	}
	t->precise_cost_ok = true;
	log_warn(
		"--precise: each allocator call now costs %.2f us more (frees %.2f us), measured "
		"here; a process making 1M calls/s spends about %.1f s of CPU per second in probes",
		t->precise_alloc_s * 1e6, t->precise_free_s * 1e6,
		(t->precise_alloc_s + t->precise_free_s) / 2 * 1e6);
}

static int setup_signals(void)
{
	struct sigaction sa = { .sa_handler = on_signal };

	sigemptyset(&sa.sa_mask);
	devnull_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	/* No SA_RESTART: the poll must return so that we exit promptly. */
	if (sigaction(SIGINT, &sa, NULL) || sigaction(SIGTERM, &sa, NULL) ||
	    sigaction(SIGHUP, &sa, NULL) || sigaction(SIGALRM, &sa, NULL))
		return -errno;
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

int main(int argc, char **argv)
{
	static struct app a;
	int err;

	if (options_parse(argc, argv, &a.env, stderr))
		return 2;
	if (a.env.help) {
		options_usage(stdout);
		return 0;
	}
	if (a.env.version) {
		printf("pymemtop %s\n", PYMEMTOP_VERSION);
		return 0;
	}
	if (a.env.inspect)
		return inspect_file(a.env.inspect, stdout, stderr) ? 1 : 0;
	log_set_level(LOG_WARN + a.env.verbose);
	if (setup_signals())
		return 1;
	err = collector_open(&a.env, &a.col);
	if (err)
		return 1;
	a.table.col = a.col;
	a.table.sites = a.env.sites;
	a.table.sites_depth = a.env.sites_depth;
	a.table.sites_max_rate = a.env.sites_max_rate;
	output_sites_top(a.env.sites_top);
	model_sites_order(a.env.sites_by_flow ? SITES_BY_FLOW : SITES_BY_LIVE);
	collector_on_sample(a.col, table_site_sample, &a.table);
	err = start_exports(&a);
	if (err) {
		collector_close(a.col);
		return 1;
	}
	if (a.env.precise)
		measure_precise(&a);
	lifecycle_init(&a.lc, &a.table, a.col,
		       &(struct lifecycle_opts){ .pids = a.env.pids,
						 .npids = a.env.npids,
						 .precise = a.env.precise,
						 .refills = a.env.pool_refills });
	err = a.env.npids ? lifecycle_select(&a.lc) : lifecycle_scan(&a.lc);
	if (!err) {
		start_display(&a);
		err = run(&a);
	}
	alarm(0); /* the loop is over: stdout stays what it is (the terminal's restore) */
	tui_stop(a.tui); /* the terminal back first: later messages must be seen */
	httpd_stop(a.httpd);
	prom_free(a.prom);
	lifecycle_free(&a.lc);
	collector_close(a.col);
	discover_free_all();
	return err ? 1 : 0;
}
