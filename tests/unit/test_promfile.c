// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * promfile.c: the Prometheus textfile writer. New and replaced files (by
 * rename: the inode changes), mode 0644 under umask 077, refusal of a
 * symlink, a dangling symlink, a directory and a fifo at the path, bad
 * names, a missing directory, a 4 MiB payload, a full and a read-only
 * filesystem (tmpfs, root only), and a reader racing 200 rewrites. After
 * every failure the directory holds no temporary file.
 */
#define _GNU_SOURCE /* nftw */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "promfile.h"

#define MIB (1024 * 1024)

struct tdir {
	char dir[64];
	char path[128]; /* dir/pymemtop.prom */
	char err[512];
	bool mounted;
};

static int setup(void **state)
{
	struct tdir *t = calloc(1, sizeof(*t));

	if (!t)
		return -1;
	strcpy(t->dir, "/tmp/test_promfile.XXXXXX");
	if (!mkdtemp(t->dir)) {
		free(t);
		return -1;
	}
	snprintf(t->path, sizeof(t->path), "%s/pymemtop.prom", t->dir);
	*state = t;
	return 0;
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(p);
}

static int teardown(void **state)
{
	struct tdir *t = *state;

	if (t->mounted)
		umount2(t->dir, MNT_DETACH);
	chmod(t->dir, 0700);
	nftw(t->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(t);
	return 0;
}

static void write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, s, strlen(s)), (ssize_t)strlen(s));
	assert_int_equal(close(fd), 0);
}

/* The whole file into a malloc'd buffer; its size in *len. NULL if absent. */
static char *read_file(const char *path, size_t *len)
{
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap);
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
	ssize_t r;

	if (fd < 0 || !buf) {
		free(buf);
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	while ((r = read(fd, buf + n, cap - n)) > 0) {
		n += r;
		if (n == cap)
			buf = realloc(buf, cap *= 2);
	}
	close(fd);
	*len = n;
	return buf;
}

static void assert_content(const char *path, const char *data, size_t len)
{
	size_t n;
	char *got = read_file(path, &n);

	assert_non_null(got);
	assert_int_equal(n, len);
	assert_memory_equal(got, data, len);
	free(got);
}

/* No temporary file (nor anything else unexpected) left in dir. */
static void assert_no_tmp(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	assert_non_null(d);
	while ((de = readdir(d))) {
		size_t n = strlen(de->d_name);

		if (n >= 4 && !strcmp(de->d_name + n - 4, ".tmp"))
			fail_msg("temporary file left behind: %s/%s", dir, de->d_name);
	}
	closedir(d);
}

static void test_new_file_mode_0644(void **state)
{
	struct tdir *t = *state;
	const char *data = "# TYPE x gauge\nx 1\n";
	mode_t old = umask(077);
	struct stat st;
	int r = promfile_write(t->path, data, strlen(data), t->err, sizeof(t->err));

	umask(old);
	assert_int_equal(r, 0);
	assert_content(t->path, data, strlen(data));
	assert_int_equal(lstat(t->path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0644);
	assert_no_tmp(t->dir);
}

static void test_replace_is_rename(void **state)
{
	struct tdir *t = *state;
	struct stat before, after;

	write_file(t->path, "old content that is longer than the new\n");
	assert_int_equal(stat(t->path, &before), 0);
	assert_int_equal(promfile_write(t->path, "new\n", 4, t->err, sizeof(t->err)), 0);
	assert_content(t->path, "new\n", 4);
	assert_int_equal(stat(t->path, &after), 0);
	assert_true(before.st_ino != after.st_ino);
	assert_no_tmp(t->dir);
}

static void test_symlink_refused(void **state)
{
	struct tdir *t = *state;
	char target[160];

	snprintf(target, sizeof(target), "%s/target", t->dir);
	write_file(target, "precious\n");
	assert_int_equal(symlink(target, t->path), 0);
	assert_int_equal(promfile_write(t->path, "evil\n", 5, t->err, sizeof(t->err)), -ELOOP);
	assert_non_null(strstr(t->err, t->path));
	assert_non_null(strstr(t->err, "symlink"));
	assert_content(target, "precious\n", 9);
	assert_no_tmp(t->dir);
}

static void test_dangling_symlink_refused(void **state)
{
	struct tdir *t = *state;
	char target[160];
	struct stat st;

	snprintf(target, sizeof(target), "%s/nowhere", t->dir);
	assert_int_equal(symlink(target, t->path), 0);
	assert_int_equal(promfile_write(t->path, "evil\n", 5, t->err, sizeof(t->err)), -ELOOP);
	assert_int_equal(lstat(target, &st), -1);
	assert_int_equal(errno, ENOENT);
	assert_no_tmp(t->dir);
}

static void test_directory_refused(void **state)
{
	struct tdir *t = *state;

	assert_int_equal(mkdir(t->path, 0755), 0);
	assert_int_equal(promfile_write(t->path, "x\n", 2, t->err, sizeof(t->err)), -EISDIR);
	assert_non_null(strstr(t->err, t->path));
	assert_no_tmp(t->dir);
}

/* A fifo nobody writes to: an open() of it would block forever. */
static void test_fifo_refused(void **state)
{
	struct tdir *t = *state;
	struct stat st;

	assert_int_equal(mkfifo(t->path, 0644), 0);
	alarm(10); /* a hang becomes a failure (SIGALRM kills the test) */
	assert_int_equal(promfile_write(t->path, "x\n", 2, t->err, sizeof(t->err)), -EINVAL);
	alarm(0);
	assert_non_null(strstr(t->err, t->path));
	assert_int_equal(lstat(t->path, &st), 0);
	assert_true(S_ISFIFO(st.st_mode));
	assert_no_tmp(t->dir);
}

static void test_missing_directory(void **state)
{
	struct tdir *t = *state;
	char path[160];

	snprintf(path, sizeof(path), "%s/nodir/pymemtop.prom", t->dir);
	assert_int_equal(promfile_write(path, "x\n", 2, t->err, sizeof(t->err)), -ENOENT);
	assert_non_null(strstr(t->err, path));
	assert_null(strchr(t->err, '\n'));
	assert_no_tmp(t->dir);
}

static void test_bad_names(void **state)
{
	struct tdir *t = *state;
	const char *tails[] = { "/", "/.", "/..", "/sub/" };
	char path[320];

	for (size_t i = 0; i < sizeof(tails) / sizeof(tails[0]); i++) {
		snprintf(path, sizeof(path), "%s%s", t->dir, tails[i]);
		t->err[0] = '\0';
		assert_int_equal(promfile_write(path, "x\n", 2, t->err, sizeof(t->err)), -EINVAL);
		assert_non_null(strstr(t->err, path));
		assert_no_tmp(t->dir);
	}
	assert_int_equal(promfile_write("", "x\n", 2, t->err, sizeof(t->err)), -EINVAL);
	/* no room for ".<base>.<16 hex>.tmp" within NAME_MAX */
	snprintf(path, sizeof(path), "%s/%0240d", t->dir, 0);
	assert_int_equal(promfile_write(path, "x\n", 2, t->err, sizeof(t->err)), -ENAMETOOLONG);
	/* NULL err is allowed */
	assert_int_equal(promfile_write(path, "x\n", 2, NULL, 0), -ENAMETOOLONG);
	assert_no_tmp(t->dir);
}

static void test_large_payload(void **state)
{
	struct tdir *t = *state;
	size_t len = 4 * MIB;
	char *data = malloc(len);

	assert_non_null(data);
	for (size_t i = 0; i < len; i++)
		data[i] = 'a' + (i * 7 + i / 4096) % 26;
	assert_int_equal(promfile_write(t->path, data, len, t->err, sizeof(t->err)), 0);
	assert_content(t->path, data, len);
	assert_no_tmp(t->dir);
	free(data);
}

/* Mount a 64 KiB tmpfs on the test directory; false (and a SKIP line) when
 * that is not possible here. */
static bool mount_tmpfs(struct tdir *t, const char *test)
{
	if (geteuid() != 0) {
		print_message("SKIP %s: needs root to mount a tmpfs\n", test);
		return false;
	}
	if (mount("tmpfs", t->dir, "tmpfs", 0, "size=64k")) {
		print_message("SKIP %s: mount tmpfs: %s\n", test, strerror(errno));
		return false;
	}
	t->mounted = true;
	return true;
}

static void test_full_filesystem(void **state)
{
	struct tdir *t = *state;
	const char *good = "# good\nx 1\n";
	size_t len = MIB;
	char *big;

	if (!mount_tmpfs(t, "full filesystem")) {
		skip();
		return;
	}
	assert_int_equal(promfile_write(t->path, good, strlen(good), t->err, sizeof(t->err)), 0);
	big = malloc(len);
	assert_non_null(big);
	memset(big, 'x', len);
	assert_int_equal(promfile_write(t->path, big, len, t->err, sizeof(t->err)), -ENOSPC);
	free(big);
	print_message("ENOSPC: %s\n", t->err);
	assert_non_null(strstr(t->err, t->path));
	assert_non_null(strstr(t->err, strerror(ENOSPC)));
	assert_non_null(strstr(t->err, ".tmp"));
	assert_content(t->path, good, strlen(good));
	assert_no_tmp(t->dir);
}

static void test_readonly_filesystem(void **state)
{
	struct tdir *t = *state;
	const char *good = "# good\nx 1\n";

	if (!mount_tmpfs(t, "read-only filesystem")) {
		skip();
		return;
	}
	assert_int_equal(promfile_write(t->path, good, strlen(good), t->err, sizeof(t->err)), 0);
	assert_int_equal(mount(NULL, t->dir, NULL, MS_REMOUNT | MS_RDONLY, "size=64k"), 0);
	assert_int_equal(promfile_write(t->path, "new\n", 4, t->err, sizeof(t->err)), -EROFS);
	print_message("EROFS: %s\n", t->err);
	assert_non_null(strstr(t->err, t->path));
	assert_non_null(strstr(t->err, strerror(EROFS)));
	assert_content(t->path, good, strlen(good));
	assert_no_tmp(t->dir);
}

/* A child reads the file in a loop while the parent rewrites it 200 times
 * with two payloads of different sizes: every read is one of them whole. */
static void test_concurrent_reader(void **state)
{
	struct tdir *t = *state;
	size_t la = 100 * 1024 + 17, lb = 3000;
	char *a = malloc(la), *b = malloc(lb);
	int stop[2], status;
	pid_t pid;

	assert_non_null(a);
	assert_non_null(b);
	memset(a, 'a', la);
	memset(b, 'b', lb);
	a[la - 1] = b[lb - 1] = '\n';
	assert_int_equal(promfile_write(t->path, a, la, t->err, sizeof(t->err)), 0);
	assert_int_equal(pipe(stop), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct pollfd pfd = { .fd = stop[0], .events = POLLIN };
		long reads = 0, bad = 0;

		close(stop[1]);
		while (poll(&pfd, 1, 0) == 0) {
			size_t n;
			char *got = read_file(t->path, &n);

			reads++;
			if (!got ||
			    !((n == la && !memcmp(got, a, la)) || (n == lb && !memcmp(got, b, lb))))
				bad++;
			free(got);
		}
		_exit(bad ? 1 : reads ? 0 : 2);
	}
	close(stop[0]);
	for (int i = 0; i < 200; i++) {
		int r = i % 2 ? promfile_write(t->path, a, la, t->err, sizeof(t->err))
			      : promfile_write(t->path, b, lb, t->err, sizeof(t->err));

		assert_int_equal(r, 0);
	}
	close(stop[1]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_no_tmp(t->dir);
	free(a);
	free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_new_file_mode_0644, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replace_is_rename, setup, teardown),
		cmocka_unit_test_setup_teardown(test_symlink_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dangling_symlink_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_directory_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fifo_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_directory, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_large_payload, setup, teardown),
		cmocka_unit_test_setup_teardown(test_full_filesystem, setup, teardown),
		cmocka_unit_test_setup_teardown(test_readonly_filesystem, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_reader, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
