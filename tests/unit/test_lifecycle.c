// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * lifecycle.c, table.c and discover.c against real processes (Debian's
 * python3.11, a shell) with a fake collector (fake_collector.c) in place
 * of BPF: what a process owns is taken once and released once, by its
 * entry; identity catches exits and execs whose events were lost; a
 * forked worker is taken with its parent's interpreter; site keys are
 * freed by their owner and orphans by the poll, with no other walk of
 * the map; running out of memory is counted as such.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include "fake_collector.h"
#include "lifecycle.h"
#include "rate.h"

#define PYTHON "/usr/bin/python3.11"

struct world {
	struct collector *c;
	struct table t;
	struct lifecycle lc;
	int pids[2];
	pid_t kids[2];
};

/* A python3.11 that sleeps until killed; it has mapped everything once
 * it prints. */
static pid_t spawn_python(void)
{
	int fd[2];
	char b;
	pid_t pid;

	assert_int_equal(pipe(fd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (!pid) {
		dup2(fd[1], STDOUT_FILENO);
		close(fd[0]);
		execl(PYTHON, PYTHON, "-c",
		      /* one byte, one write: with PYTHONUNBUFFERED a print() writes
		       * "1" and "\n" apart, and the second one can meet the pipe
		       * closed (EPIPE: the child exits before it is discovered) */
		      "import os, time; os.write(1, b'1'); time.sleep(60)", (char *)NULL);
		_exit(127);
	}
	close(fd[1]);
	assert_int_equal(read(fd[0], &b, 1), 1);
	close(fd[0]);
	return pid;
}

static void reap(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

static int setup(void **state)
{
	struct world *w = calloc(1, sizeof(*w));

	if (access(PYTHON, X_OK)) {
		print_error("%s is not installed (make deps installs it)\n", PYTHON);
		free(w);
		return -1;
	}
	collector_open(NULL, &w->c);
	w->t.col = w->c;
	w->t.sites = true;
	w->t.sites_depth = 4;
	for (int i = 0; i < 2; i++)
		w->pids[i] = w->kids[i] = spawn_python();
	lifecycle_init(&w->lc, &w->t, w->c,
		       &(struct lifecycle_opts){ .pids = w->pids, .npids = 2, .refills = true });
	*state = w;
	return 0;
}

static int teardown(void **state)
{
	struct world *w = *state;

	for (int i = 0; i < 2; i++)
		if (w->kids[i] > 0)
			reap(w->kids[i]);
	lifecycle_free(&w->lc);
	collector_close(w->c);
	free(w);
	return 0;
}

static int live_entries(const struct table *t, int pid)
{
	int n = 0;

	for (const struct proc_entry *e = t->head; e; e = e->next)
		n += e->pid == pid && !e->exited;
	return n;
}

/* -p: both are taken, each with its own image id, watch, refill probe and
 * sites configuration under that id. */
static void test_take(void **state)
{
	struct world *w = *state;
	struct proc_entry *a, *b;

	assert_int_equal(lifecycle_select(&w->lc), 0);
	assert_int_equal(w->t.count, 2);
	a = table_find(&w->t, w->pids[0]);
	b = table_find(&w->t, w->pids[1]);
	assert_non_null(a);
	assert_non_null(b);
	assert_true(a->interp == b->interp); /* one interpreter file, inspected once */
	assert_true(a->interp->attach_tried);
	assert_true(w->c->gc_attaches <= 1); /* 0 when an earlier test attached */
	assert_true(a->image && b->image && a->image != b->image);
	assert_true(a->watched && a->exe_ino);
	assert_true(fake_proc(w->c, a->pid, false)->watched);
	assert_true(fake_proc(w->c, a->pid, false)->sites_cfg);
	assert_int_equal(fake_proc(w->c, a->pid, false)->scfg.image, a->image);
	assert_int_equal(w->c->live_links, 2); /* --pool-refills: one uprobe each */
	assert_true(lifecycle_same_process(&w->lc, a));
	/* a second look finds the same entries */
	lifecycle_frame(&w->lc, rate_now());
	assert_int_equal(w->t.count, 2);
}

/* An exit event releases everything the entry took at once; its site
 * keys go when it is reaped, after the frame that polled its last
 * samples; keys of images no entry owns are freed by the poll. Nothing
 * else walks the site map. */
static void test_exit_releases(void **state)
{
	struct world *w = *state;
	struct proc_entry *a, *b;
	struct proc_event ev = { .type = PMT_EV_EXIT, .has_mm = true };

	assert_int_equal(lifecycle_select(&w->lc), 0);
	a = table_find(&w->t, w->pids[0]);
	b = table_find(&w->t, w->pids[1]);
	fake_add_key(w->c, a->pid, a->image, 1, 1 << 20);
	fake_add_key(w->c, a->pid, a->image, 2, 1 << 20);
	fake_add_key(w->c, b->pid, b->image, 3, 1 << 20);
	fake_add_key(w->c, a->pid, a->image + 100, 4, 1 << 20); /* an older image of the pid */
	fake_add_key(w->c, 1, 77, 5, 1 << 20); /* a process reaped long ago */
	table_refresh(&w->t, w->c, rate_now());
	assert_int_equal(w->c->sites_reads, 1);
	assert_int_equal(w->c->nkeys, 3); /* the two orphans freed */
	assert_int_equal(w->c->key_deletes, 2);

	fake_add_key(w->c, a->pid, a->image, 6, 1 << 20); /* sampled before it exited */
	reap(w->kids[0]);
	w->kids[0] = 0;
	ev.pid = a->pid;
	ev.mm.mmap_calls = 42;
	lifecycle_event(&ev, &w->lc);
	assert_true(a->exited);
	assert_true(a->has_final);
	assert_int_equal(a->final_mm.mmap_calls, 42);
	assert_int_equal(w->c->live_links, 1);
	assert_false(fake_proc(w->c, a->pid, false)->sites_cfg);
	assert_false(fake_proc(w->c, a->pid, false)->watched);
	assert_null(table_find(&w->t, a->pid));
	assert_int_equal(w->c->sites_reads, 1); /* no walk at the exit */

	table_refresh(&w->t, w->c, rate_now()); /* the exited entry's last frame */
	assert_int_equal(a->cur.mm.mmap_calls, 42);
	assert_int_equal(fake_keys_of(w->c, a->pid), 3);
	lifecycle_reap(&w->lc);
	assert_int_equal(fake_keys_of(w->c, a->pid), 0);
	assert_int_equal(fake_keys_of(w->c, b->pid), 1);
	assert_int_equal(w->t.count, 1);
	assert_int_equal(w->c->sites_reads, 2);
	assert_false(lifecycle_all_selected_gone(&w->lc));
}

/* An exec whose event was lost: same PID, start time and executable,
 * but BPF counted an exec. The entry is released at the next frame and
 * the new image (python again here) is taken afresh under a new image
 * id. */
static void test_lost_exec(void **state)
{
	struct world *w = *state;
	struct proc_entry *a, *again;
	uint32_t old_image;

	assert_int_equal(lifecycle_select(&w->lc), 0);
	a = table_find(&w->t, w->pids[0]);
	old_image = a->image;
	fake_proc(w->c, a->pid, false)->watch = (struct pmt_watch){ PMT_WATCH_EXECED, 1 };
	assert_false(lifecycle_same_process(&w->lc, a));
	lifecycle_frame(&w->lc, rate_now());
	assert_true(a->exited);
	again = table_find(&w->t, w->pids[0]);
	assert_non_null(again);
	assert_true(again != a);
	assert_true(again->image != old_image);
	assert_int_equal(fake_proc(w->c, a->pid, false)->watch.execs, 0); /* watched anew */
	assert_int_equal(fake_proc(w->c, a->pid, false)->scfg.image, again->image);
	assert_int_equal(w->c->live_links, 2);
	assert_int_equal(live_entries(&w->t, w->pids[0]), 1);
}

/* A PID reused after both events were lost: another start time. */
static void test_reused_pid(void **state)
{
	struct world *w = *state;
	struct proc_entry *b;

	assert_int_equal(lifecycle_select(&w->lc), 0);
	b = table_find(&w->t, w->pids[1]);
	b->start_ticks++;
	assert_false(lifecycle_same_process(&w->lc, b));
	b->start_ticks--;
	b->exe_ino++; /* another executable */
	assert_false(lifecycle_same_process(&w->lc, b));
	b->exe_ino--;
	assert_true(lifecycle_same_process(&w->lc, b));
	reap(w->kids[1]);
	w->kids[1] = 0;
	assert_false(lifecycle_same_process(&w->lc, b));
	lifecycle_frame(&w->lc, rate_now()); /* exit event lost: seen here */
	assert_true(b->exited);
	assert_int_equal(w->c->live_links, 1);
	lifecycle_reap(&w->lc);
	assert_int_equal(w->t.count, 1);
}

/* An exec event: the old image's final counters, its release, and the
 * new image looked at at once. */
static void test_exec_event(void **state)
{
	struct world *w = *state;
	struct proc_event ev = { .type = PMT_EV_EXEC, .has_mm = true };
	struct proc_entry *a;

	assert_int_equal(lifecycle_select(&w->lc), 0);
	a = table_find(&w->t, w->pids[0]);
	ev.pid = a->pid;
	ev.mm.brk_calls = 9;
	lifecycle_event(&ev, &w->lc);
	assert_true(a->exited);
	assert_int_equal(a->final_mm.brk_calls, 9);
	/* still python3.11, so taken again */
	assert_non_null(table_find(&w->t, a->pid));
	assert_true(table_find(&w->t, a->pid) != a);
}

/* A fork event of a taken process: the child is taken at the next frame
 * with its parent's interpreter (no ELF file read), with the fork time;
 * a child that execs first is not taken. */
static void test_forked_worker(void **state)
{
	struct world *w = *state;
	struct proc_event fork_ev = { .type = PMT_EV_FORK, .ts_ns = 12345 };
	struct proc_entry *parent, *child;
	int child_pid = w->pids[1], attaches;

	/* only the first is taken at start */
	w->lc.o.npids = 1;
	assert_int_equal(lifecycle_select(&w->lc), 0);
	w->lc.o.npids = 2;
	attaches = w->c->gc_attaches;
	parent = table_find(&w->t, w->pids[0]);
	fork_ev.pid = child_pid;
	fork_ev.ppid = parent->pid;
	lifecycle_event(&fork_ev, &w->lc);
	assert_null(table_find(&w->t, child_pid)); /* not before the frame */
	lifecycle_frame(&w->lc, rate_now());
	child = table_find(&w->t, child_pid);
	assert_non_null(child);
	assert_true(child->interp == parent->interp);
	assert_int_equal(child->fork_ns, 12345);
	assert_false(child->image_fresh);
	assert_int_equal(w->c->gc_attaches, attaches);

	/* fork, then exec before the frame: not a worker */
	fork_ev.pid = 999999;
	lifecycle_event(&fork_ev, &w->lc);
	lifecycle_event(&(struct proc_event){ .type = PMT_EV_EXEC, .pid = 999999 }, &w->lc);
	lifecycle_frame(&w->lc, rate_now());
	assert_null(table_find(&w->t, 999999));
	assert_int_equal(w->lc.nforked, 0);
}

/* A watch that BPF refused (its map full): counted, and the process is
 * still taken; its identity then rests on /proc alone. */
static void test_watch_refused(void **state)
{
	struct world *w = *state;
	struct proc_entry *a;

	w->c->watch_fail = 1;
	w->lc.o.npids = 1;
	assert_int_equal(lifecycle_select(&w->lc), 0);
	a = table_find(&w->t, w->pids[0]);
	assert_false(a->watched);
	assert_int_equal(w->t.read_failures, 1);
	assert_true(lifecycle_same_process(&w->lc, a));
}

/* Out of memory while taking a process is said and counted as such, not
 * as a process that went away. Run in a child whose address space is
 * filled up first. */
static void test_out_of_memory_is_not_gone(void **state)
{
	struct world *w = *state;
	int status;
	pid_t pid;

	w->lc.o.npids = 1;
	assert_int_equal(lifecycle_select(&w->lc), 0);
	w->lc.o.npids = 2;
	pid = fork();
	assert_true(pid >= 0);
	if (!pid) {
		struct rlimit rl = { 0 };
		struct proc_entry *parent = table_find(&w->t, w->pids[0]);
		struct proc_event ev = { .type = PMT_EV_FORK, .pid = w->pids[1] };

		getrlimit(RLIMIT_AS, &rl);
		rl.rlim_cur = 1ULL << 30;
		if (setrlimit(RLIMIT_AS, &rl))
			_exit(3);
		while (malloc(4096))
			; /* what is left is under one entry */
		ev.ppid = parent->pid;
		lifecycle_event(&ev, &w->lc);
		lifecycle_frame(&w->lc, rate_now());
		_exit(w->t.out_of_memory == 1 && !w->t.vanished && !table_find(&w->t, w->pids[1])
			      ? 0
			      : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* discover.c on its own: CPython, not CPython, gone; one interpreter per
 * file. */
static void test_discover(void **state)
{
	struct world *w = *state;
	struct interp *in, *in2;
	char path[96];
	pid_t sh;

	assert_int_equal(discover_pid(w->pids[0], false, &in, path, sizeof(path)), DISC_PYTHON);
	assert_int_equal(in->info.minor, 11);
	assert_non_null(strstr(path, "/proc/"));
	assert_int_equal(discover_pid(w->pids[1], false, &in2, path, sizeof(path)), DISC_PYTHON);
	assert_true(in == in2);
	sh = fork();
	if (!sh) {
		execl("/bin/sleep", "sleep", "30", (char *)NULL);
		_exit(127);
	}
	usleep(100 * 1000);
	assert_int_equal(discover_pid(sh, false, &in, path, sizeof(path)), DISC_NOT_PYTHON);
	reap(sh);
	assert_int_equal(discover_pid(sh, false, &in, path, sizeof(path)), DISC_GONE);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_take),	       T(test_exit_releases),
		T(test_lost_exec),     T(test_reused_pid),
		T(test_exec_event),    T(test_forked_worker),
		T(test_watch_refused), T(test_out_of_memory_is_not_gone),
		T(test_discover),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
