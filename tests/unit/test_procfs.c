// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * procfs.c on copies of real /proc files (tests/fixtures/proc/<case>/,
 * captured on Linux 6.18), on hand-written hostile ones, and live on this
 * process and on children that are zombies or already reaped.
 * Run from the repository root.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <pwd.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "procfs.h"

#define FIXTURES "tests/fixtures/proc"
#define KB	 1024ull
#define MAX_MAPS 64

static const char *argv0;

/* ---- helpers -------------------------------------------------------------- */

/* Fixture file as a NUL-terminated string (fixtures are a few KiB). */
static char *load(const char *name)
{
	char path[256];
	size_t len = 0, n;
	char *buf;
	FILE *f;

	snprintf(path, sizeof(path), FIXTURES "/%s", name);
	f = fopen(path, "rb");
	assert_non_null(f);
	buf = malloc(64 * 1024);
	assert_non_null(buf);
	while ((n = fread(buf + len, 1, 64 * 1024 - 1 - len, f)) > 0)
		len += n;
	assert_false(ferror(f));
	fclose(f);
	buf[len] = '\0';
	return buf;
}

static int open_case(const char *name)
{
	char path[256];
	int fd;

	snprintf(path, sizeof(path), FIXTURES "/%s", name);
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(fd >= 0);
	return fd;
}

struct maps_seen {
	int count;
	int stop_after; /* 0: never stop */
	struct proc_map maps[MAX_MAPS];
	char *paths[MAX_MAPS];
};

static int collect_cb(const struct proc_map *m, void *ctx)
{
	struct maps_seen *s = ctx;

	/* the readers hand out NUL-terminated paths without the newline */
	assert_int_equal(strlen(m->path), m->path_len);
	assert_null(strchr(m->path, '\n'));
	assert_true(s->count < MAX_MAPS);
	s->maps[s->count] = *m;
	s->paths[s->count] = strdup(m->path);
	s->maps[s->count].path = s->paths[s->count];
	s->count++;
	return s->stop_after && s->count == s->stop_after ? 42 : 0;
}

static void maps_seen_free(struct maps_seen *s)
{
	for (int i = 0; i < s->count; i++)
		free(s->paths[i]);
	s->count = 0;
}

static int foreach_map_case(const char *name, struct maps_seen *s)
{
	int dirfd = open_case(name), err;

	err = procfs_foreach_map_at(dirfd, collect_cb, s);
	close(dirfd);
	return err;
}

/* ---- stat ----------------------------------------------------------------- */

static void check_python_stat(const struct proc_stat *st)
{
	assert_int_equal(st->pid, 4228);
	assert_string_equal(st->comm, "python3");
	assert_int_equal(st->state, 'S');
	assert_int_equal(st->ppid, 1);
	assert_int_equal(st->utime_ticks, 1);
	assert_int_equal(st->stime_ticks, 2);
	assert_int_equal(st->start_time_ticks, 466031);
	assert_int_equal(st->rss_pages, 12204);
}

static void check_kthread_stat(const struct proc_stat *st)
{
	assert_int_equal(st->pid, 2);
	assert_string_equal(st->comm, "kthreadd");
	assert_int_equal(st->state, 'S');
	assert_int_equal(st->ppid, 0);
	assert_int_equal(st->start_time_ticks, 24);
	assert_int_equal(st->rss_pages, 0);
}

static void check_zombie_stat(const struct proc_stat *st)
{
	assert_int_equal(st->pid, 4230);
	assert_string_equal(st->comm, "python3");
	assert_int_equal(st->state, 'Z');
	assert_int_equal(st->ppid, 4228);
	assert_int_equal(st->start_time_ticks, 466035);
	assert_int_equal(st->rss_pages, 0);
}

/* Real stat of a process that set its comm to "(a) (b)" (prctl). */
static void check_parens_stat(const struct proc_stat *st)
{
	assert_int_equal(st->pid, 4436);
	assert_string_equal(st->comm, "(a) (b)");
	assert_int_equal(st->state, 'R');
	assert_int_equal(st->ppid, 4433);
	assert_int_equal(st->utime_ticks, 0);
	assert_int_equal(st->stime_ticks, 1);
	assert_int_equal(st->start_time_ticks, 474678);
	assert_int_equal(st->rss_pages, 2164);
}

/* Real stat of a process named "x\n) R 1 (y": stat prints it raw. */
static void check_newline_stat(const struct proc_stat *st)
{
	assert_int_equal(st->pid, 4437);
	assert_string_equal(st->comm, "x\n) R 1 (y");
	assert_int_equal(st->state, 'R');
	assert_int_equal(st->ppid, 4433);
	assert_int_equal(st->start_time_ticks, 474682);
	assert_int_equal(st->rss_pages, 2174);
}

static const struct {
	const char *name;
	void (*check)(const struct proc_stat *st);
} stat_cases[] = {
	{ "python", check_python_stat },	{ "kthread", check_kthread_stat },
	{ "zombie", check_zombie_stat },	{ "comm_parens", check_parens_stat },
	{ "comm_newline", check_newline_stat },
};

static void test_parse_stat_fixtures(void **state)
{
	struct proc_stat st;
	char path[64], *buf;

	(void)state;
	for (size_t i = 0; i < sizeof(stat_cases) / sizeof(stat_cases[0]); i++) {
		snprintf(path, sizeof(path), "%s/stat", stat_cases[i].name);
		buf = load(path);
		assert_int_equal(procfs_parse_stat(buf, &st), 0);
		stat_cases[i].check(&st);
		free(buf);
	}
}

static void test_read_stat_at_fixtures(void **state)
{
	struct proc_stat st;
	int dirfd;

	(void)state;
	for (size_t i = 0; i < sizeof(stat_cases) / sizeof(stat_cases[0]); i++) {
		dirfd = open_case(stat_cases[i].name);
		assert_int_equal(procfs_read_stat_at(dirfd, &st), 0);
		stat_cases[i].check(&st);
		close(dirfd);
	}
}

static void test_stat_too_few_fields(void **state)
{
	struct proc_stat st;
	char *buf = load("short_stat/stat");
	int dirfd;

	(void)state;
	assert_int_equal(procfs_parse_stat(buf, &st), -EINVAL);
	free(buf);
	dirfd = open_case("short_stat");
	assert_int_equal(procfs_read_stat_at(dirfd, &st), -EINVAL);
	/* no status, maps or cmdline in that directory */
	assert_int_equal(procfs_read_status_at(dirfd, &(struct proc_status){ 0 }), -ENOENT);
	close(dirfd);
}

#define TAIL " 0 -1 4194304 1 0 0 0 7 8 0 0 20 0 1 0 999 1000 55 18446744073709551615 0\n"

static void test_parse_stat_hostile(void **state)
{
	static const char *const bad[] = {
		"",
		"\n",
		"123",
		"123 (x",
		"123 (x)",
		"123 (x) ",
		"123 (x) S",
		"(x) S 1 1 1" TAIL,
		"abc (x) S 1 1 1" TAIL,
		"0 (x) S 1 1 1" TAIL,
		"-5 (x) S 1 1 1" TAIL,
		"99999999999999999999 (x) S 1 1 1" TAIL,
		"2147483648 (x) S 1 1 1" TAIL,
		"123 x) S 1 1 1" TAIL,
		"123  (x) S 1 1 1" TAIL,
		"123 (x)  S 1 1 1" TAIL,
		"123 (x) SS 1 1 1" TAIL,
		"123 (x) S -1 1 1" TAIL,
		"123 (x) S 1 1 1 0 -1 4194304 1 0 0 0 7x 8 0 0 20 0 1 0 999 1000 55\n",
		"123 (x) S 1 1 1 0 -1 4194304 1 0 0 0 7 8 0 0 20 0 1 0 "
		"99999999999999999999 1000 55\n",
		"123 (x) S 1 1 1 0 -1 4194304 1 0 0 0 7 8 0 0 20 0 1 0 999 1000\n",
		"123 (x) S 1 1 1 0 -1 4194304 1 0 0 0 7 8 0 0 20 0 1 0 999 1000 \n",
		/* a cut comm with a ')' in it must not pass for fields */
		"123 (a) 1 2 3",
	};
	char long_stat[512], comm[200];
	struct proc_stat st;
	const char *line;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&st, 0xa5, sizeof(st));
		if (procfs_parse_stat(bad[i], &st) != -EINVAL)
			fail_msg("accepted: \"%s\"", bad[i]);
	}

	/* the last ')' ends comm, even in a comm of only ')' */
	assert_int_equal(procfs_parse_stat("7 ()) S 1 1 1" TAIL, &st), 0);
	assert_string_equal(st.comm, ")");
	assert_int_equal(st.utime_ticks, 7);
	assert_int_equal(st.stime_ticks, 8);
	assert_int_equal(st.start_time_ticks, 999);
	assert_int_equal(st.rss_pages, 55);
	assert_int_equal(procfs_parse_stat("7 () S 1 1 1" TAIL, &st), 0);
	assert_string_equal(st.comm, "");
	/* fields 1-24 are enough; no newline is fine */
	line = "9 (y) D 3 1 1 0 -1 0 0 0 0 0 5 6 -1 -2 -100 -20 1 0 77 0 88";
	assert_int_equal(procfs_parse_stat(line, &st), 0);
	assert_int_equal(st.pid, 9);
	assert_int_equal(st.state, 'D');
	assert_int_equal(st.ppid, 3);
	assert_int_equal(st.start_time_ticks, 77);
	assert_int_equal(st.rss_pages, 88);

	/* comm longer than the kernel allows: cut to PROCFS_COMM_LEN - 1 */
	memset(comm, 'c', sizeof(comm) - 1);
	comm[sizeof(comm) - 1] = '\0';
	comm[10] = ')';
	snprintf(long_stat, sizeof(long_stat), "5 (%s) R 1 1 1" TAIL, comm);
	assert_int_equal(procfs_parse_stat(long_stat, &st), 0);
	assert_int_equal(strlen(st.comm), PROCFS_COMM_LEN - 1);
	assert_memory_equal(st.comm, comm, PROCFS_COMM_LEN - 1);
	assert_int_equal(st.state, 'R');
	assert_int_equal(st.rss_pages, 55);
}

/* ---- status --------------------------------------------------------------- */

static void check_python_status(const struct proc_status *s)
{
	assert_int_equal(s->threads, 1);
	assert_int_equal(s->uid, 0);
	assert_int_equal(s->tgid, 4228);
	assert_true(s->has_rss);
	assert_int_equal(s->vm_rss_bytes, 48948 * KB);
	assert_int_equal(s->rss_anon_bytes, 43460 * KB);
	assert_int_equal(s->rss_file_bytes, 5488 * KB);
	assert_int_equal(s->rss_shmem_bytes, 0);
	assert_int_equal(s->vm_swap_bytes, 0);
	assert_int_equal(s->vm_peak_bytes, 54612 * KB);
}

/* Kernel threads and zombies have no mm: no VmRSS/Rss* lines at all. */
static void check_no_mm(const struct proc_status *s, int tgid)
{
	assert_int_equal(s->uid, 0);
	assert_int_equal(s->tgid, tgid);
	assert_false(s->has_rss);
	assert_int_equal(s->vm_rss_bytes, 0);
	assert_int_equal(s->rss_anon_bytes, 0);
	assert_int_equal(s->vm_swap_bytes, 0);
}

static void check_kthread_status(const struct proc_status *s)
{
	check_no_mm(s, 2);
}

static void check_zombie_status(const struct proc_status *s)
{
	check_no_mm(s, 4230);
	assert_int_equal(s->threads, 1);
}

/* The leader called pthread_exit(); its other thread runs on. */
static void check_zombie_leader_status(const struct proc_status *s)
{
	check_no_mm(s, 28759);
	assert_int_equal(s->threads, 2);
}

/* Cut in the middle of "VmRSS:\t   48948 kB": not 489 kB, just unknown. */
static void check_truncated_status(const struct proc_status *s)
{
	check_no_mm(s, 4228);
}

static void check_parens_status(const struct proc_status *s)
{
	assert_int_equal(s->tgid, 4436);
	assert_int_equal(s->vm_rss_bytes, 8844 * KB);
	assert_int_equal(s->rss_anon_bytes, 3044 * KB);
	assert_int_equal(s->rss_file_bytes, 5800 * KB);
}

static void check_newline_status(const struct proc_status *s)
{
	assert_int_equal(s->tgid, 4437);
	assert_true(s->has_rss);
}

static const struct {
	const char *name;
	void (*check)(const struct proc_status *s);
} status_cases[] = {
	{ "python", check_python_status },
	{ "kthread", check_kthread_status },
	{ "zombie", check_zombie_status },
	{ "truncated_status", check_truncated_status },
	{ "comm_parens", check_parens_status },
	{ "comm_newline", check_newline_status },
	{ "zombie_leader", check_zombie_leader_status },
};

static void test_parse_status_fixtures(void **state)
{
	struct proc_status s;
	char path[64], *buf;

	(void)state;
	for (size_t i = 0; i < sizeof(status_cases) / sizeof(status_cases[0]); i++) {
		snprintf(path, sizeof(path), "%s/status", status_cases[i].name);
		buf = load(path);
		assert_int_equal(procfs_parse_status(buf, &s), 0);
		status_cases[i].check(&s);
		free(buf);
	}
}

static void test_read_status_at_fixtures(void **state)
{
	struct proc_status s;
	int dirfd;

	(void)state;
	for (size_t i = 0; i < sizeof(status_cases) / sizeof(status_cases[0]); i++) {
		dirfd = open_case(status_cases[i].name);
		assert_int_equal(procfs_read_status_at(dirfd, &s), 0);
		status_cases[i].check(&s);
		close(dirfd);
	}
}

#define ID "Tgid:\t77\nUid:\t1000\t1001\t1002\t1003\n"

static void test_parse_status_values(void **state)
{
	static const char *const bad[] = {
		"", "Name:\tx\n", "Uid:\t1000\t1000\t1000\t1000\n", "Tgid:\t77\n",
		/* cut before the Uid line ended: "Uid:\t10" is not uid 10 */
		"Tgid:\t77\nUid:\t10", "Tgid:\t77\nUid:\t-1\t0\t0\t0\n",
		"Tgid:\t77\nUid:\t4294967296\t0\t0\t0\n", "Tgid:\t77\nUid:\t10x\t0\t0\t0\n",
		"Tgid:\t2147483648\nUid:\t0\t0\t0\t0\n", ID "VmRSS:\t   12 MB\n",
		ID "VmRSS:\t   12\n", ID "VmRSS:\t kB\n", ID "VmRSS:\t   12 kB trailing\n",
		ID "VmSwap:\t18014398509481984 kB\n", /* * 1024 overflows */
	};
	struct proc_status s;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (procfs_parse_status(bad[i], &s) != -EINVAL)
			fail_msg("accepted: \"%s\"", bad[i]);
	}

	assert_int_equal(procfs_parse_status("Name:\tUid: 5\n" ID "VmRSS:\t  2048 kB\n"
					     "RssAnon:\t  1024 kB\nVmSwap:\t  1234 kB\n",
					     &s),
			 0);
	assert_int_equal(s.uid, 1000); /* real uid; "Uid:" inside Name: ignored */
	assert_int_equal(s.tgid, 77);
	assert_true(s.has_rss);
	assert_int_equal(s.vm_rss_bytes, 2048 * KB);
	assert_int_equal(s.rss_anon_bytes, 1024 * KB);
	assert_int_equal(s.rss_file_bytes, 0); /* no RssFile before Linux 4.5 */
	assert_int_equal(s.vm_swap_bytes, 1234 * KB);

	/* largest value that still fits in bytes */
	assert_int_equal(procfs_parse_status(ID "VmSwap:\t18014398509481983 kB\n", &s), 0);
	assert_int_equal(s.vm_swap_bytes, 18014398509481983ull * KB);
	assert_false(s.has_rss);
}

/* ---- maps ----------------------------------------------------------------- */

static void test_parse_maps_line(void **state)
{
	static const char *const bad[] = {
		"",
		"\n",
		"garbage",
		"00400000-0041f000",
		"00400000-0041f000 r--p 00000000 fe:00",
		"00400000-0041f000 r--p 00000000 fe:00 ",
		"00400000-0041f000 rwxq 00000000 fe:00 1 /x",
		"00400000-0041f000 r-- 00000000 fe:00 1 /x",
		"00400000 0041f000 r--p 00000000 fe:00 1 /x",
		"0041f000-00400000 r--p 00000000 fe:00 1 /x", /* end < start */
		"00400000-0041f000 r--p 00000000 fe00 1 /x",
		"00400000-0041f000 r--p 00000000 fe:00 1x /x",
		"00400000-0041f000 r--p 00000000 1fe00000000:00 1 /x",
		"10000000000000000-10000000000000001 r--p 00000000 fe:00 1 /x",
		" 00400000-0041f000 r--p 00000000 fe:00 1 /x",
	};
	struct proc_map m;
	const char *line;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (procfs_parse_maps_line(bad[i], &m) != -EINVAL)
			fail_msg("accepted: \"%s\"", bad[i]);
	}

	line = "7f887ebe2000-7f887ebf2000 r--s 00000000 fe:00 10952795                   "
	       "/tmp/pmtfx/data file (v2).bin (deleted)\n";
	assert_int_equal(procfs_parse_maps_line(line, &m), 0);
	assert_int_equal(m.start, 0x7f887ebe2000ull);
	assert_int_equal(m.end, 0x7f887ebf2000ull);
	assert_int_equal(m.offset, 0);
	assert_true(m.r);
	assert_false(m.w);
	assert_false(m.x);
	assert_true(m.shared);
	assert_int_equal(m.dev_major, 0xfe);
	assert_int_equal(m.dev_minor, 0);
	assert_int_equal(m.inode, 10952795);
	/* a const line keeps its '\n': path_len stops before it */
	assert_int_equal(m.path_len, strlen("/tmp/pmtfx/data file (v2).bin (deleted)"));
	assert_memory_equal(m.path, "/tmp/pmtfx/data file (v2).bin (deleted)", m.path_len);
	assert_int_equal(m.path[m.path_len], '\n');

	line = "0041f000-006cf000 r-xp 0001f000 fe:00 10977288 /usr/bin/python3.11";
	assert_int_equal(procfs_parse_maps_line(line, &m), 0);
	assert_true(m.r && !m.w && m.x && !m.shared);
	assert_int_equal(m.offset, 0x1f000);
	assert_string_equal(m.path, "/usr/bin/python3.11");
	assert_int_equal(m.path_len, strlen(m.path));

	/* anonymous: with the kernel's trailing space, with '\n', or bare */
	static const char *const anon[] = {
		"00a7f000-00ac4000 rw-p 00000000 00:00 0 \n",
		"00a7f000-00ac4000 rw-p 00000000 00:00 0 ",
		"00a7f000-00ac4000 rw-p 00000000 00:00 0\n",
		"00a7f000-00ac4000 rw-p 00000000 00:00 0",
	};
	for (size_t i = 0; i < sizeof(anon) / sizeof(anon[0]); i++) {
		assert_int_equal(procfs_parse_maps_line(anon[i], &m), 0);
		assert_string_equal(m.path, "");
		assert_int_equal(m.path_len, 0);
		assert_true(m.r && m.w && !m.x && !m.shared);
		assert_int_equal(m.end - m.start, 0x45000);
	}

	/* a trailing space that belongs to the file name is kept */
	line = "1000-2000 ---p 00000000 00:05 9 /tmp/x \n";
	assert_int_equal(procfs_parse_maps_line(line, &m), 0);
	assert_int_equal(m.path_len, 7);
	assert_memory_equal(m.path, "/tmp/x ", 7);
	assert_true(!m.r && !m.w && !m.x && !m.shared);

	line = "ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0         [vsyscall]";
	assert_int_equal(procfs_parse_maps_line(line, &m), 0);
	assert_int_equal(m.start, 0xffffffffff600000ull);
	assert_string_equal(m.path, "[vsyscall]");
}

static void test_foreach_map_python(void **state)
{
	struct maps_seen s = { 0 };
	struct proc_map *m;

	(void)state;
	assert_int_equal(foreach_map_case("python", &s), 0);
	assert_int_equal(s.count, 28);

	m = &s.maps[0];
	assert_int_equal(m->start, 0x400000);
	assert_int_equal(m->end, 0x41f000);
	assert_true(m->r && !m->w && !m->x && !m->shared);
	assert_int_equal(m->inode, 10977288);
	assert_string_equal(m->path, "/usr/bin/python3.11");
	assert_int_equal(s.maps[1].offset, 0x1f000);
	assert_true(s.maps[1].x);

	m = &s.maps[5]; /* anonymous, trailing space in the file */
	assert_string_equal(m->path, "");
	assert_int_equal(m->inode, 0);
	assert_int_equal(m->dev_major, 0);
	assert_string_equal(s.maps[6].path, "[heap]");

	m = &s.maps[7]; /* a real MAP_SHARED mapping of an unlinked file */
	assert_string_equal(m->path, "/tmp/pmtfx/data file (v2).bin (deleted)");
	assert_true(m->r && !m->w && !m->x && m->shared);
	assert_int_equal(m->start, 0x7f887ebe2000ull);
	assert_int_equal(m->end - m->start, 65536);
	assert_int_equal(m->dev_major, 0xfe);
	assert_int_equal(m->inode, 10952795);

	assert_string_equal(s.maps[11].path, "/usr/lib/x86_64-linux-gnu/libc.so.6");
	assert_int_equal(s.maps[11].offset, 0x26000);
	assert_true(s.maps[11].x);
	assert_string_equal(s.maps[26].path, "[stack]");
	m = &s.maps[27];
	assert_string_equal(m->path, "[vsyscall]");
	assert_int_equal(m->start, 0xffffffffff600000ull);
	assert_true(!m->r && !m->w && m->x);
	maps_seen_free(&s);
}

static void check_hostile_maps(struct maps_seen *s)
{
	struct proc_map *m;

	/* 8 lines; the 9 KiB one is skipped, nothing else is lost */
	assert_int_equal(s->count, 7);
	assert_string_equal(s->paths[0], "/usr/bin/python3.11");

	m = &s->maps[1];
	assert_string_equal(m->path, "/tmp/my dir/two  spaces (v1).so (deleted)");
	assert_true(m->r && m->w && !m->x && m->shared);
	assert_int_equal(m->offset, 0x1000);
	assert_int_equal(m->dev_minor, 5);
	assert_int_equal(m->inode, 4242);

	assert_string_equal(s->paths[2], "");
	assert_string_equal(s->paths[3], "");
	assert_true(!s->maps[3].r && !s->maps[3].w && !s->maps[3].x);

	/* PATH_MAX - 1 bytes of path plus " (deleted)": reported whole */
	m = &s->maps[4];
	assert_int_equal(m->path_len, PATH_MAX - 1 + strlen(" (deleted)"));
	assert_int_equal(m->path[0], '/');
	assert_int_equal(m->path[PATH_MAX - 2], 'd');
	assert_string_equal(m->path + PATH_MAX - 1, " (deleted)");
	assert_int_equal(m->inode, 777);

	/* the line right after the skipped one is parsed from its start */
	m = &s->maps[5];
	assert_string_equal(m->path, "/after long");
	assert_int_equal(m->start, 0x7f0000040000ull);
	assert_true(m->r && !m->w && m->x && !m->shared);
	assert_int_equal(m->offset, 0x2000);
	assert_int_equal(m->dev_major, 0x103);
	assert_int_equal(m->dev_minor, 7);
	assert_int_equal(m->inode, UINT64_MAX);

	/* last line, no newline */
	assert_string_equal(s->paths[6], "[stack]");
	assert_int_equal(s->maps[6].end, 0x7ffd00021000ull);
}

static void test_foreach_map_hostile(void **state)
{
	struct maps_seen s = { 0 };

	(void)state;
	assert_int_equal(foreach_map_case("hostile_maps", &s), 0);
	check_hostile_maps(&s);
	maps_seen_free(&s);
}

/* /proc hands maps out in page-sized pieces; a FIFO fed a few bytes at a
 * time cuts lines everywhere, including inside the skipped long line. */
static void test_foreach_map_short_reads(void **state)
{
	char dir[] = "/tmp/pmt_procfs_XXXXXX", fifo[64];
	struct maps_seen s = { 0 };
	char *text = load("hostile_maps/maps");
	int dirfd, status, err;
	pid_t pid;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(fifo, sizeof(fifo), "%s/maps", dir);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fd = open(fifo, O_WRONLY);
		size_t len = strlen(text);

		for (size_t off = 0; fd >= 0 && off < len; off += 7) {
			if (write(fd, text + off, len - off < 7 ? len - off : 7) < 0)
				_exit(1);
			if ((off / 7) % 64 == 0)
				usleep(50); /* let the reader see partial lines */
		}
		_exit(fd < 0);
	}
	dirfd = open(dir, O_RDONLY | O_DIRECTORY);
	assert_true(dirfd >= 0);
	err = procfs_foreach_map_at(dirfd, collect_cb, &s);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(err, 0);
	check_hostile_maps(&s);
	maps_seen_free(&s);
	close(dirfd);
	unlink(fifo);
	rmdir(dir);
	free(text);
}

static void test_foreach_map_stop_and_errors(void **state)
{
	struct maps_seen s = { 0 };

	(void)state;
	/* the callback's non-zero value stops the walk and is returned */
	s.stop_after = 3;
	assert_int_equal(foreach_map_case("python", &s), 42);
	assert_int_equal(s.count, 3);
	maps_seen_free(&s);
	s.stop_after = 0;

	/* a line that does not parse stops the walk */
	assert_int_equal(foreach_map_case("bad_maps", &s), -EINVAL);
	assert_int_equal(s.count, 1);
	maps_seen_free(&s);

	/* no mm: empty maps */
	assert_int_equal(foreach_map_case("kthread", &s), 0);
	assert_int_equal(s.count, 0);
	assert_int_equal(foreach_map_case("zombie", &s), 0);
	assert_int_equal(s.count, 0);
	assert_int_equal(foreach_map_case("short_stat", &s), -ENOENT);
}

/* ---- cmdline -------------------------------------------------------------- */

static void test_cmdline_fixtures(void **state)
{
	char buf[256];
	int dirfd;

	(void)state;
	dirfd = open_case("python");
	assert_int_equal(procfs_read_cmdline_at(dirfd, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/usr/bin/python3 /tmp/pmtfx/py.py --demo two words");
	/* truncated to buflen - 1, always terminated */
	assert_int_equal(procfs_read_cmdline_at(dirfd, buf, 10), 0);
	assert_string_equal(buf, "/usr/bin/");
	assert_int_equal(procfs_read_cmdline_at(dirfd, buf, 18), 0);
	assert_string_equal(buf, "/usr/bin/python3"); /* the cut-off NUL is dropped */
	assert_int_equal(procfs_read_cmdline_at(dirfd, buf, 1), 0);
	assert_string_equal(buf, "");
	assert_int_equal(procfs_read_cmdline_at(dirfd, buf, 0), -EINVAL);
	close(dirfd);

	/* kernel thread and zombie: empty file */
	strcpy(buf, "junk");
	dirfd = open_case("kthread");
	assert_int_equal(procfs_read_cmdline_at(dirfd, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "");
	close(dirfd);
	strcpy(buf, "junk");
	dirfd = open_case("zombie");
	assert_int_equal(procfs_read_cmdline_at(dirfd, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "");
	close(dirfd);

	strcpy(buf, "junk");
	dirfd = open_case("short_stat");
	assert_int_equal(procfs_read_cmdline_at(dirfd, buf, sizeof(buf)), -ENOENT);
	assert_string_equal(buf, "");
	close(dirfd);
}

/* Inner and repeated NULs become spaces, other bytes stay as they are. */
static void test_cmdline_bytes(void **state)
{
	static const char raw[] = "a\0\0b\x01\xff\tc\0\0\0";
	char dir[] = "/tmp/pmt_procfs_XXXXXX", path[64], buf[64];
	int dirfd, fd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/cmdline", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, raw, sizeof(raw) - 1), sizeof(raw) - 1);
	close(fd);
	dirfd = open(dir, O_RDONLY | O_DIRECTORY);
	assert_true(dirfd >= 0);
	assert_int_equal(procfs_read_cmdline_at(dirfd, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "a  b\x01\xff\tc");
	assert_int_equal(procfs_read_cmdline_at(dirfd, buf, 3), 0);
	assert_string_equal(buf, "a"); /* "a\0" cut: the trailing NUL goes */
	close(dirfd);
	unlink(path);
	rmdir(dir);
}

/* ---- live ----------------------------------------------------------------- */

static int find_map_cb(const struct proc_map *m, void *ctx)
{
	uintptr_t *addr = ctx;

	return m->start <= *addr && *addr < m->end ? (m->x ? 1 : 2) : 0;
}

static int find_stack_cb(const struct proc_map *m, void *ctx)
{
	(void)ctx;
	return !strcmp(m->path, "[stack]");
}

static void test_live_self(void **state)
{
	char comm[17] = { 0 }, cmdline[4096];
	uintptr_t addr = (uintptr_t)&test_live_self;
	struct proc_status s;
	struct proc_stat st;
	double up;

	(void)state;
	assert_int_equal(procfs_read_stat(getpid(), &st), 0);
	assert_int_equal(st.pid, getpid());
	assert_int_equal(st.ppid, getppid());
	assert_int_equal(st.state, 'R');
	assert_int_equal(prctl(PR_GET_NAME, comm), 0);
	assert_string_equal(st.comm, comm);
	assert_true(st.rss_pages > 0);
	assert_int_equal(procfs_uptime(&up), 0);
	assert_true((double)st.start_time_ticks / procfs_clk_tck() <= up + 1);

	assert_int_equal(procfs_read_status(getpid(), &s), 0);
	assert_int_equal(s.tgid, getpid());
	assert_int_equal(s.uid, getuid());
	assert_true(s.has_rss);
	assert_true(s.vm_rss_bytes > 0 && s.vm_rss_bytes % 1024 == 0);
	assert_true(s.rss_anon_bytes > 0 && s.rss_anon_bytes <= s.vm_rss_bytes);
	/* stat's rss in pages and status' VmRSS read a moment apart */
	assert_true(st.rss_pages * (uint64_t)sysconf(_SC_PAGESIZE) < 2 * s.vm_rss_bytes);

	assert_int_equal(procfs_read_cmdline(getpid(), cmdline, sizeof(cmdline)), 0);
	assert_memory_equal(cmdline, argv0, strlen(argv0));

	/* our own code is in an executable mapping; the stack is there */
	assert_int_equal(procfs_foreach_map(getpid(), find_map_cb, &addr), 1);
	assert_int_equal(procfs_foreach_map(getpid(), find_stack_cb, NULL), 1);
}

static pid_t reaped_child(void)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0)
		_exit(0);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	return pid;
}

static void test_live_gone(void **state)
{
	pid_t pid = reaped_child();
	struct proc_status s;
	struct proc_stat st;
	char buf[64] = "junk";
	int n = 0;

	(void)state;
	assert_int_equal(procfs_read_stat(pid, &st), -ESRCH);
	assert_int_equal(procfs_read_status(pid, &s), -ESRCH);
	assert_int_equal(procfs_read_cmdline(pid, buf, sizeof(buf)), -ESRCH);
	assert_string_equal(buf, "");
	assert_int_equal(procfs_foreach_map(pid, find_stack_cb, &n), -ESRCH);

	assert_int_equal(procfs_read_stat(0, &st), -EINVAL);
	assert_int_equal(procfs_read_stat(-1, &st), -EINVAL);
	assert_int_equal(procfs_read_status(INT_MIN, &s), -EINVAL);
}

/* The process exits after we opened its /proc directory. */
static void test_live_vanished_dirfd(void **state)
{
	struct maps_seen ms = { 0 };
	struct proc_status s;
	struct proc_stat st;
	char path[64], buf[64];
	int fds[2], dirfd, err;
	pid_t pid;

	(void)state;
	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char c;

		close(fds[1]);
		_exit(read(fds[0], &c, 1) < 0);
	}
	close(fds[0]);
	snprintf(path, sizeof(path), "/proc/%d", pid);
	dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(dirfd >= 0);
	assert_int_equal(procfs_read_stat_at(dirfd, &st), 0);
	assert_int_equal(st.pid, pid);
	assert_int_equal(st.ppid, getpid());

	close(fds[1]); /* the child reads EOF and exits */
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	err = procfs_read_stat_at(dirfd, &st);
	assert_true(err == -ENOENT || err == -ESRCH);
	err = procfs_read_status_at(dirfd, &s);
	assert_true(err == -ENOENT || err == -ESRCH);
	err = procfs_read_cmdline_at(dirfd, buf, sizeof(buf));
	assert_true(err == -ENOENT || err == -ESRCH);
	err = procfs_foreach_map_at(dirfd, collect_cb, &ms);
	assert_true(err == -ENOENT || err == -ESRCH);
	assert_int_equal(ms.count, 0);
	close(dirfd);
}

/* A live zombie: exited, not reaped yet (waitid WNOWAIT). */
static void test_live_zombie(void **state)
{
	struct maps_seen ms = { 0 };
	struct proc_status s;
	struct proc_stat st;
	char buf[64] = "junk";
	siginfo_t si;
	pid_t pid;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(0);
	assert_int_equal(waitid(P_PID, pid, &si, WEXITED | WNOWAIT), 0);

	assert_int_equal(procfs_read_stat(pid, &st), 0);
	assert_int_equal(st.state, 'Z');
	assert_int_equal(st.ppid, getpid());
	assert_int_equal(st.rss_pages, 0);
	assert_int_equal(procfs_read_status(pid, &s), 0);
	assert_int_equal(s.tgid, pid);
	assert_false(s.has_rss);
	assert_int_equal(procfs_read_cmdline(pid, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "");
	assert_int_equal(procfs_foreach_map(pid, collect_cb, &ms), 0);
	assert_int_equal(ms.count, 0);

	assert_int_equal(waitpid(pid, NULL, 0), pid);
}

struct pid_seen {
	int self, init, others, stop_at;
};

static int pid_cb(int pid, void *ctx)
{
	struct pid_seen *p = ctx;

	assert_true(pid > 0);
	if (pid == getpid())
		p->self++;
	else if (pid == 1)
		p->init++;
	else
		p->others++;
	return p->stop_at && p->self + p->init + p->others == p->stop_at ? -ECANCELED : 0;
}

static void *sleeper(void *arg)
{
	(void)arg;
	for (;;)
		pause();
	return NULL;
}

/* A leader that left with pthread_exit() is a zombie in stat, and its
 * status has no memory lines; the process lives on in its other thread,
 * which procfs_read_status_mm() reads the memory figures from. */
static void test_live_zombie_leader(void **state)
{
	struct proc_status s;
	struct proc_stat st;
	pthread_t th;
	pid_t pid;
	int tries;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (pthread_create(&th, NULL, sleeper, NULL))
			_exit(1);
		pthread_exit(NULL);
	}
	for (tries = 0; tries < 500; tries++) {
		if (!procfs_read_stat(pid, &st) && st.state == 'Z')
			break;
		usleep(10000);
	}
	assert_int_equal(st.state, 'Z');
	assert_int_equal(procfs_read_status(pid, &s), 0);
	assert_int_equal(s.threads, 2);
	assert_false(s.has_rss);
	assert_int_equal(procfs_read_status_mm(pid, &s), 0);
	assert_int_equal(s.threads, 2);
	assert_true(s.has_rss);
	assert_true(s.vm_rss_bytes > 0);

	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	/* reaped: gone, not an empty answer */
	assert_int_equal(procfs_read_status_mm(pid, &s), -ESRCH);
}

static void test_foreach_pid(void **state)
{
	struct pid_seen p = { 0 };

	(void)state;
	assert_int_equal(procfs_foreach_pid(pid_cb, &p), 0);
	assert_int_equal(p.self, 1);
	assert_int_equal(p.init, 1);
	memset(&p, 0, sizeof(p));
	p.stop_at = 1;
	assert_int_equal(procfs_foreach_pid(pid_cb, &p), -ECANCELED);
	assert_int_equal(p.self + p.init + p.others, 1);
}

static void test_uptime_clk_tck(void **state)
{
	struct timespec ts;
	double up;

	(void)state;
	assert_int_equal(procfs_clk_tck(), sysconf(_SC_CLK_TCK));
	assert_int_equal(procfs_clk_tck(), sysconf(_SC_CLK_TCK)); /* cached */
	assert_int_equal(procfs_uptime(&up), 0);
	assert_int_equal(clock_gettime(CLOCK_BOOTTIME, &ts), 0);
	assert_true(up > 0);
	assert_true(up <= ts.tv_sec + 1.0 && up >= ts.tv_sec - 1.0);
}

/* ---- user names ----------------------------------------------------------- */

static void test_user_name(void **state)
{
	char buf[64], small[3];
	struct passwd *pw;

	(void)state;
	assert_string_equal(procfs_user_name(0, buf, sizeof(buf)), "root");
	assert_null(getpwuid(4000000));
	assert_string_equal(procfs_user_name(4000000, buf, sizeof(buf)), "4000000");
	/* again, from the cache */
	assert_string_equal(procfs_user_name(4000000, buf, sizeof(buf)), "4000000");
	assert_string_equal(procfs_user_name(0, buf, sizeof(buf)), "root");
	/* a uid that shares root's cache slot must not take its name */
	pw = getpwuid(64);
	assert_string_equal(procfs_user_name(64, buf, sizeof(buf)), pw ? pw->pw_name : "64");
	assert_string_equal(procfs_user_name(0, buf, sizeof(buf)), "root");
	assert_string_equal(procfs_user_name(4294967295u, buf, sizeof(buf)), "4294967295");

	assert_ptr_equal(procfs_user_name(0, small, sizeof(small)), small);
	assert_string_equal(small, "ro");
	assert_string_equal(procfs_user_name(0, small, 0), "");
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_stat_fixtures),
		cmocka_unit_test(test_read_stat_at_fixtures),
		cmocka_unit_test(test_stat_too_few_fields),
		cmocka_unit_test(test_parse_stat_hostile),
		cmocka_unit_test(test_parse_status_fixtures),
		cmocka_unit_test(test_read_status_at_fixtures),
		cmocka_unit_test(test_parse_status_values),
		cmocka_unit_test(test_parse_maps_line),
		cmocka_unit_test(test_foreach_map_python),
		cmocka_unit_test(test_foreach_map_hostile),
		cmocka_unit_test(test_foreach_map_short_reads),
		cmocka_unit_test(test_foreach_map_stop_and_errors),
		cmocka_unit_test(test_cmdline_fixtures),
		cmocka_unit_test(test_cmdline_bytes),
		cmocka_unit_test(test_live_self),
		cmocka_unit_test(test_live_gone),
		cmocka_unit_test(test_live_vanished_dirfd),
		cmocka_unit_test(test_live_zombie),
		cmocka_unit_test(test_live_zombie_leader),
		cmocka_unit_test(test_foreach_pid),
		cmocka_unit_test(test_uptime_clk_tck),
		cmocka_unit_test(test_user_name),
	};

	(void)argc;
	argv0 = argv[0];
	return cmocka_run_group_tests(tests, NULL, NULL);
}
