// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * promfile.c: replace the Prometheus textfile atomically (see promfile.h).
 * A temporary file created with O_EXCL|O_NOFOLLOW beside the target,
 * written, chmod 0644, fsync'd, renamed over the target, all relative to
 * one fd of the directory so that renaming the directory (or a symlink
 * swapped in for one of its components) half-way cannot redirect us.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/random.h>
#include <sys/stat.h>

#include "promfile.h"

#define TMP_TRIES 8
/* ".<base>.<16 hex>.tmp" adds 22 characters to the base name */
#define TMP_EXTRA 22

/* Format the message into err on one line (a newline in a path would make
 * two) and return -e. */
static int fail(char *err, size_t errlen, int e, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
		for (char *p = err; *p; p++)
			if (*p == '\n' || *p == '\r')
				*p = '?';
	}
	return -e;
}

/* Random bits for the temporary name. Unpredictability only keeps another
 * user from squatting on the names (O_EXCL makes a guessed name harmless),
 * so do not block at early boot: fall back to the clock and the pid. */
static uint64_t tmp_random(int attempt)
{
	struct timespec ts;
	uint64_t v;

	if (getrandom(&v, sizeof(v), GRND_NONBLOCK) == sizeof(v))
		return v;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_nsec << 32) ^ (uint64_t)ts.tv_sec ^ ((uint64_t)getpid() << 16) ^
	       (uint64_t)attempt * 0x9e3779b97f4a7c15ULL;
}

/* Create the temporary file in dfd; its name goes to tmp. -1 with errno. */
static int tmp_create(int dfd, const char *base, char *tmp, size_t tmplen)
{
	int fd = -1;

	for (int i = 0; i < TMP_TRIES; i++) {
		snprintf(tmp, tmplen, ".%s.%016llx.tmp", base, (unsigned long long)tmp_random(i));
		fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
		if (fd >= 0 || errno != EEXIST)
			break;
	}
	return fd;
}

static int write_all(int fd, const char *data, size_t len)
{
	while (len) {
		ssize_t n = write(fd, data, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			return -1;
		}
		data += n;
		len -= n;
	}
	return 0;
}

int promfile_write(const char *path, const char *data, size_t len, char *err, size_t errlen)
{
	const char *slash = strrchr(path, '/'), *base = slash ? slash + 1 : path;
	int dlen = base - path; /* "dir/" as written in path, for messages */
	char dir[PATH_MAX], tmp[NAME_MAX + 1];
	const char *what;
	struct stat st;
	int dfd, fd, e;

	if (!*base || !strcmp(base, ".") || !strcmp(base, ".."))
		return fail(err, errlen, EINVAL,
			    "%s: not a file name (empty, ends in '/', \".\" or \"..\")", path);
	if (strlen(base) + TMP_EXTRA > NAME_MAX || dlen >= PATH_MAX)
		return fail(err, errlen, ENAMETOOLONG, "%s: name too long", path);
	if (!slash) {
		strcpy(dir, ".");
	} else {
		memcpy(dir, path, dlen > 1 ? dlen - 1 : 1); /* "/x" from "/x/", "/" from "/" */
		dir[dlen > 1 ? dlen - 1 : 1] = '\0';
	}

	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		e = errno;
		return fail(err, errlen, e, "%s: cannot open directory %s: %s", path, dir,
			    strerror(e));
	}

	/* Advisory: renameat() replaces a symlink or file that a racing user
	 * puts at base without following it, and fails on a directory, so a
	 * race after this check can never make us write through a link. */
	if (fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		e = 0;
		if (S_ISLNK(st.st_mode))
			e = fail(err, errlen, ELOOP,
				 "%s is a symlink: refusing to write through it", path);
		else if (S_ISDIR(st.st_mode))
			e = fail(err, errlen, EISDIR, "%s is a directory: refusing to replace it",
				 path);
		else if (!S_ISREG(st.st_mode))
			e = fail(err, errlen, EINVAL,
				 "%s is not a regular file (fifo, socket or device): refusing to "
				 "replace it",
				 path);
		if (e) {
			close(dfd);
			return e;
		}
	} else if (errno != ENOENT) {
		e = errno;
		close(dfd);
		return fail(err, errlen, e, "%s: cannot stat: %s", path, strerror(e));
	}

	fd = tmp_create(dfd, base, tmp, sizeof(tmp));
	if (fd < 0) {
		e = errno;
		close(dfd);
		return fail(err, errlen, e, "%s: cannot create %.*s%s: %s", path, dlen, path, tmp,
			    strerror(e));
	}

	what = "writing";
	if (write_all(fd, data, len))
		goto fail_tmp;
	what = "chmod 0644 of"; /* the umask may have taken bits from 0644 */
	if (fchmod(fd, 0644))
		goto fail_tmp;
	what = "fsync of";
	if (fsync(fd))
		goto fail_tmp;
	what = "closing";
	e = close(fd);
	fd = -1; /* closed even when close() fails */
	if (e)
		goto fail_tmp;
	what = "renaming";
	if (renameat(dfd, tmp, dfd, base))
		goto fail_tmp;

	/* Make the rename durable. A failure here is not reported: the rename
	 * has happened, readers already see the complete new file and the
	 * temporary name is gone, so there is nothing to undo; at worst a
	 * crash now brings back the previous complete file. Some filesystems
	 * also refuse fsync on a directory (EINVAL). */
	(void)fsync(dfd);
	close(dfd);
	return 0;

fail_tmp:
	e = errno;
	if (fd >= 0)
		close(fd);
	unlinkat(dfd, tmp, 0);
	close(dfd);
	return fail(err, errlen, e, "%s: %s %.*s%s: %s%s", path, what, dlen, path, tmp, strerror(e),
		    e == ENOSPC || e == EDQUOT ? " (previous file left unchanged)" : "");
}
