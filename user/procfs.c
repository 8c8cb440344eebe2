// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * /proc readers, see procfs.h.
 *
 * Everything under /proc/PID is written by, or about, a process we do not
 * trust: comm is any 15 bytes the process chose, paths in maps are any
 * file name. Numbers are parsed by hand (strtoull takes "-1" and leading
 * blanks, and reports overflow through errno), every buffer is bounded,
 * and a file that is cut short is treated as missing data, never as a
 * smaller value.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "procfs.h"

/* stat is ~300 bytes (52 numbers and a 15-byte comm); status ~1.5 KiB,
 * and the fields we need come before the long CPU and node masks. */
#define STAT_BUF_LEN   4096
#define STATUS_BUF_LEN 8192
/* A maps line is ~75 bytes of fields plus padding plus the path: PATH_MAX
 * and " (deleted)" fit with room to spare. */
#define MAPS_BUF_LEN	 8192
#define PID_PATH_LEN	 64
#define USER_CACHE_SLOTS 64
#define USER_NAME_LEN	 64
#define PW_BUF_LEN	 4096

/* procfs_parse_status: the lines every task has */
#define SEEN_UID  1u
#define SEEN_TGID 2u

/* ---- small helpers ------------------------------------------------------ */

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Unsigned number at *p in base 10 or 16, at least one digit, no sign;
 * *p is left on the first byte after it. Overflow is -EINVAL. */
static int parse_u64(const char **p, unsigned int base, uint64_t *out)
{
	const char *s = *p;
	uint64_t v = 0;
	int d;

	if (hex_digit(*s) < 0 || (unsigned int)hex_digit(*s) >= base)
		return -EINVAL;
	while ((d = hex_digit(*s)) >= 0 && (unsigned int)d < base) {
		if (v > (UINT64_MAX - d) / base)
			return -EINVAL;
		v = v * base + d;
		s++;
	}
	*p = s;
	*out = v;
	return 0;
}

static int expect_char(const char **p, char c)
{
	if (**p != c)
		return -EINVAL;
	(*p)++;
	return 0;
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static void skip_blanks(const char **p)
{
	while (is_blank(**p))
		(*p)++;
}

/* End of a field: a separator or the end of the line/text. */
static bool at_field_end(const char *p)
{
	return *p == ' ' || *p == '\t' || *p == '\n' || *p == '\0';
}

/* The *_pid wrappers cannot tell "never existed" from "exited meanwhile"
 * and the caller does not care: both are "gone". */
static int gone(int err)
{
	return err == -ENOENT ? -ESRCH : err;
}

static bool all_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

static int pid_path(char *buf, int pid, const char *name)
{
	if (pid <= 0)
		return -EINVAL;
	snprintf(buf, PID_PATH_LEN, "/proc/%d/%s", pid, name);
	return 0;
}

static int open_at(int dirfd, const char *name)
{
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

/* Read until EOF or until size bytes; /proc hands out short reads. */
static int read_full(int fd, char *buf, size_t size, size_t *len)
{
	ssize_t n;

	*len = 0;
	while (*len < size) {
		n = read(fd, buf + *len, size - *len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		*len += n;
	}
	return 0;
}

/* Whole small file as a NUL-terminated string. A file bigger than the
 * buffer is cut: the callers only need its head. */
static int read_text_at(int dirfd, const char *name, char *buf, size_t size)
{
	size_t len = 0;
	int fd, err;

	fd = open_at(dirfd, name);
	if (fd < 0)
		return fd;
	err = read_full(fd, buf, size - 1, &len);
	close(fd);
	buf[len] = '\0';
	return err;
}

/* ---- stat ---------------------------------------------------------------- */

static void skip_field(const char **p)
{
	while (!at_field_end(*p))
		(*p)++;
}

/* Fields 4..24 after "pid (comm) S": keep the ones we report. */
static int parse_stat_numbers(const char *p, struct proc_stat *out)
{
	uint64_t v;
	int field;

	for (field = 4; field <= 24; field++) {
		if (expect_char(&p, ' '))
			return -EINVAL;
		if (field != 4 && field != 14 && field != 15 && field != 22 && field != 24) {
			/* signed or unused: only require something there */
			if (at_field_end(p))
				return -EINVAL;
			skip_field(&p);
			continue;
		}
		if (parse_u64(&p, 10, &v) || !at_field_end(p))
			return -EINVAL;
		if (field == 4 && v > INT_MAX)
			return -EINVAL;
		if (field == 4)
			out->ppid = (int)v;
		else if (field == 14)
			out->utime_ticks = v;
		else if (field == 15)
			out->stime_ticks = v;
		else if (field == 22)
			out->start_time_ticks = v;
		else
			out->rss_pages = v;
	}
	return 0;
}

int procfs_parse_stat(const char *buf, struct proc_stat *out)
{
	const char *p = buf, *lparen, *rparen;
	uint64_t pid;
	size_t len;

	memset(out, 0, sizeof(*out));
	if (parse_u64(&p, 10, &pid) || pid == 0 || pid > INT_MAX || expect_char(&p, ' '))
		return -EINVAL;
	/* comm is whatever the process chose, ')' and '\n' included, so it
	 * ends at the last ')': the fields after it are only numbers. */
	lparen = p;
	rparen = strrchr(p, ')');
	if (*lparen != '(' || !rparen)
		return -EINVAL;
	len = rparen - lparen - 1;
	if (len > PROCFS_COMM_LEN - 1)
		len = PROCFS_COMM_LEN - 1;
	memcpy(out->comm, lparen + 1, len);
	out->comm[len] = '\0';
	out->pid = (int)pid;

	p = rparen + 1;
	if (expect_char(&p, ' ') || at_field_end(p) || !at_field_end(p + 1))
		return -EINVAL;
	out->state = *p++;
	return parse_stat_numbers(p, out);
}

/* ---- status -------------------------------------------------------------- */

/* "   48948 kB" at the end of a line, in bytes. */
static int parse_kb(const char *p, uint64_t *bytes)
{
	uint64_t kb;

	skip_blanks(&p);
	if (parse_u64(&p, 10, &kb) || strncmp(p, " kB", 3) || (p[3] != '\n' && p[3] != '\0'))
		return -EINVAL;
	if (kb > UINT64_MAX / 1024)
		return -EINVAL;
	*bytes = kb * 1024;
	return 0;
}

/* First number of the value, then a separator ("Uid:\t1000\t1000..."). */
static int parse_first_u64(const char *p, uint64_t max, uint64_t *v)
{
	skip_blanks(&p);
	if (parse_u64(&p, 10, v) || !at_field_end(p) || *v > max)
		return -EINVAL;
	return 0;
}

static bool key_is(const char *line, size_t key_len, const char *key)
{
	return strlen(key) == key_len && !memcmp(line, key, key_len);
}

/* One complete line "Key:\tvalue\n"; unknown keys are ignored. Later
 * lines overwrite earlier ones (the kernel escapes '\n' in Name:, so a
 * crafted comm cannot add a line anyway). */
static int parse_status_line(const char *line, struct proc_status *out, unsigned int *seen)
{
	const char *colon = memchr(line, ':', strcspn(line, "\n"));
	const char *v;
	size_t klen;
	uint64_t n;

	if (!colon)
		return 0;
	klen = colon - line;
	v = colon + 1;
	if (key_is(line, klen, "Uid")) {
		if (parse_first_u64(v, UINT32_MAX, &n))
			return -EINVAL;
		out->uid = (uid_t)n;
		*seen |= SEEN_UID;
	} else if (key_is(line, klen, "Tgid")) {
		if (parse_first_u64(v, INT_MAX, &n))
			return -EINVAL;
		out->tgid = (int)n;
		*seen |= SEEN_TGID;
	} else if (key_is(line, klen, "Threads")) {
		if (parse_first_u64(v, INT_MAX, &n))
			return -EINVAL;
		out->threads = (int)n;
	} else if (key_is(line, klen, "VmRSS")) {
		if (parse_kb(v, &out->vm_rss_bytes))
			return -EINVAL;
		out->has_rss = true;
	} else if (key_is(line, klen, "RssAnon")) {
		return parse_kb(v, &out->rss_anon_bytes);
	} else if (key_is(line, klen, "RssFile")) {
		return parse_kb(v, &out->rss_file_bytes);
	} else if (key_is(line, klen, "RssShmem")) {
		return parse_kb(v, &out->rss_shmem_bytes);
	} else if (key_is(line, klen, "VmSwap")) {
		return parse_kb(v, &out->vm_swap_bytes);
	} else if (key_is(line, klen, "VmPeak")) {
		return parse_kb(v, &out->vm_peak_bytes);
	}
	return 0;
}

int procfs_parse_status(const char *buf, struct proc_status *out)
{
	const char *line = buf, *nl;
	unsigned int seen = 0;
	int err;

	memset(out, 0, sizeof(*out));
	/* Only '\n'-terminated lines: the last one may have been cut. */
	while ((nl = strchr(line, '\n'))) {
		err = parse_status_line(line, out, &seen);
		if (err)
			return err;
		line = nl + 1;
	}
	return seen == (SEEN_UID | SEEN_TGID) ? 0 : -EINVAL;
}

int procfs_read_stat_at(int dirfd, struct proc_stat *out)
{
	char buf[STAT_BUF_LEN];
	int err;

	err = read_text_at(dirfd, "stat", buf, sizeof(buf));
	return err ? err : procfs_parse_stat(buf, out);
}

int procfs_read_status_at(int dirfd, struct proc_status *out)
{
	char buf[STATUS_BUF_LEN];
	int err;

	err = read_text_at(dirfd, "status", buf, sizeof(buf));
	return err ? err : procfs_parse_status(buf, out);
}

int procfs_read_stat(int pid, struct proc_stat *out)
{
	char path[PID_PATH_LEN], buf[STAT_BUF_LEN];
	int err;

	err = pid_path(path, pid, "stat");
	if (!err)
		err = gone(read_text_at(AT_FDCWD, path, buf, sizeof(buf)));
	return err ? err : procfs_parse_stat(buf, out);
}

int procfs_read_status(int pid, struct proc_status *out)
{
	char path[PID_PATH_LEN], buf[STATUS_BUF_LEN];
	int err;

	err = pid_path(path, pid, "status");
	if (!err)
		err = gone(read_text_at(AT_FDCWD, path, buf, sizeof(buf)));
	return err ? err : procfs_parse_status(buf, out);
}

/* The first other thread of pid whose status has memory lines. */
static int read_thread_mm(int pid, struct proc_status *out)
{
	char path[PID_PATH_LEN], buf[STATUS_BUF_LEN];
	struct proc_status ts;
	struct dirent *de;
	int err = -ESRCH;
	uint64_t tid;
	DIR *dir;

	if (pid_path(path, pid, "task"))
		return -EINVAL;
	dir = opendir(path);
	if (!dir)
		return gone(-errno);
	while ((de = readdir(dir))) {
		const char *p = de->d_name;

		if (!all_digits(p) || parse_u64(&p, 10, &tid) || tid == (uint64_t)pid ||
		    tid > INT_MAX)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%d/status", pid, (int)tid);
		if (read_text_at(AT_FDCWD, path, buf, sizeof(buf)) ||
		    procfs_parse_status(buf, &ts) || !ts.has_rss)
			continue;
		out->has_rss = true;
		out->vm_rss_bytes = ts.vm_rss_bytes;
		out->rss_anon_bytes = ts.rss_anon_bytes;
		out->rss_file_bytes = ts.rss_file_bytes;
		out->rss_shmem_bytes = ts.rss_shmem_bytes;
		out->vm_swap_bytes = ts.vm_swap_bytes;
		err = 0;
		break;
	}
	closedir(dir);
	return err;
}

int procfs_read_status_mm(int pid, struct proc_status *out)
{
	int err = procfs_read_status(pid, out);

	if (err || out->has_rss || out->threads <= 1)
		return err;
	/* A leader-less group: no memory figures is still a valid answer. */
	read_thread_mm(pid, out);
	return 0;
}

/* ---- maps ---------------------------------------------------------------- */

static int parse_perms(const char **p, struct proc_map *out)
{
	const char *s = *p;

	if ((s[0] != 'r' && s[0] != '-') || (s[1] != 'w' && s[1] != '-') ||
	    (s[2] != 'x' && s[2] != '-') || (s[3] != 's' && s[3] != 'p'))
		return -EINVAL;
	out->r = s[0] == 'r';
	out->w = s[1] == 'w';
	out->x = s[2] == 'x';
	out->shared = s[3] == 's';
	*p = s + 4;
	return 0;
}

/* "start-end perms offset major:minor inode": all fixed-format numbers. */
static int parse_map_fields(const char **p, struct proc_map *out)
{
	uint64_t major, minor;

	if (parse_u64(p, 16, &out->start) || expect_char(p, '-') || parse_u64(p, 16, &out->end) ||
	    expect_char(p, ' ') || parse_perms(p, out) || expect_char(p, ' ') ||
	    parse_u64(p, 16, &out->offset) || expect_char(p, ' ') || parse_u64(p, 16, &major) ||
	    expect_char(p, ':') || parse_u64(p, 16, &minor) || expect_char(p, ' ') ||
	    parse_u64(p, 10, &out->inode))
		return -EINVAL;
	if (out->end < out->start || major > UINT_MAX || minor > UINT_MAX)
		return -EINVAL;
	out->dev_major = (unsigned int)major;
	out->dev_minor = (unsigned int)minor;
	return 0;
}

int procfs_parse_maps_line(const char *line, struct proc_map *out)
{
	const char *p = line;

	memset(out, 0, sizeof(*out));
	if (parse_map_fields(&p, out))
		return -EINVAL;
	if (*p == '\0' || *p == '\n') {
		out->path = "";
		return 0;
	}
	if (*p != ' ')
		return -EINVAL;
	/* The kernel pads to a column with spaces; paths start with '/' or
	 * '[' (or "anon_inode:"), so leading blanks are never part of them.
	 * Trailing ones are, and so is " (deleted)". */
	skip_blanks(&p);
	out->path_len = strcspn(p, "\n");
	out->path = out->path_len ? p : "";
	return 0;
}

static int map_line(char *line, procfs_map_cb cb, void *ctx)
{
	struct proc_map m;

	if (procfs_parse_maps_line(line, &m))
		return -EINVAL;
	return cb(&m, ctx);
}

/* Streams maps through one bounded buffer: a big process has thousands of
 * lines. Complete lines are cut in place at '\n' and handed to map_line;
 * the partial tail moves to the front before the next read. A line that
 * fills the whole buffer is dropped up to its '\n' (skipping), so the
 * next line is still parsed from its first byte. */
static int maps_stream(int fd, procfs_map_cb cb, void *ctx)
{
	char buf[MAPS_BUF_LEN];
	size_t len = 0, start;
	bool skipping = false;
	char *nl;
	ssize_t n;
	int err;

	for (;;) {
		n = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		len += n;
		start = 0;
		while ((nl = memchr(buf + start, '\n', len - start))) {
			*nl = '\0';
			err = skipping ? 0 : map_line(buf + start, cb, ctx);
			skipping = false;
			if (err)
				return err;
			start = nl + 1 - buf;
		}
		memmove(buf, buf + start, len - start);
		len -= start;
		if (n == 0)
			break;
		if (len == sizeof(buf) - 1) {
			skipping = true;
			len = 0;
		}
	}
	/* A last line without '\n' (never from the kernel, but a fixture). */
	buf[len] = '\0';
	return len && !skipping ? map_line(buf, cb, ctx) : 0;
}

static int foreach_map_at(int dirfd, const char *name, procfs_map_cb cb, void *ctx)
{
	int fd, err;

	fd = open_at(dirfd, name);
	if (fd < 0)
		return fd;
	err = maps_stream(fd, cb, ctx);
	close(fd);
	return err;
}

int procfs_foreach_map_at(int dirfd, procfs_map_cb cb, void *ctx)
{
	return foreach_map_at(dirfd, "maps", cb, ctx);
}

int procfs_foreach_map(int pid, procfs_map_cb cb, void *ctx)
{
	char path[PID_PATH_LEN];
	int err;

	err = pid_path(path, pid, "maps");
	return err ? err : gone(foreach_map_at(AT_FDCWD, path, cb, ctx));
}

/* ---- cmdline ------------------------------------------------------------- */

/* argv as the process set it (NULs kept), NUL-terminated, *lenp bytes. */
static int read_argv(int dirfd, const char *name, char *buf, size_t buflen, size_t *lenp)
{
	size_t len = 0;
	int fd, err;

	*lenp = 0;
	if (!buf || !buflen)
		return -EINVAL;
	buf[0] = '\0';
	fd = open_at(dirfd, name);
	if (fd < 0)
		return fd;
	/* Only what fits: argv can be megabytes. */
	err = read_full(fd, buf, buflen - 1, &len);
	close(fd);
	if (err)
		len = 0; /* no half-read argv shown for a process that vanished */
	buf[len] = '\0';
	*lenp = len;
	return err;
}

void procfs_argv_to_line(char *buf, size_t len)
{
	while (len && buf[len - 1] == '\0')
		len--;
	for (size_t i = 0; i < len; i++)
		if (buf[i] == '\0')
			buf[i] = ' ';
	buf[len] = '\0';
}

static int read_cmdline(int dirfd, const char *name, char *buf, size_t buflen)
{
	size_t len;
	int err = read_argv(dirfd, name, buf, buflen, &len);

	if (buf && buflen)
		procfs_argv_to_line(buf, len);
	return err;
}

int procfs_read_argv(int pid, char *buf, size_t buflen, size_t *len)
{
	char path[PID_PATH_LEN];
	int err;

	*len = 0;
	if (buf && buflen)
		buf[0] = '\0';
	err = pid_path(path, pid, "cmdline");
	return err ? err : gone(read_argv(AT_FDCWD, path, buf, buflen, len));
}

int procfs_read_cmdline_at(int dirfd, char *buf, size_t buflen)
{
	return read_cmdline(dirfd, "cmdline", buf, buflen);
}

int procfs_read_cmdline(int pid, char *buf, size_t buflen)
{
	char path[PID_PATH_LEN];
	int err;

	if (buf && buflen)
		buf[0] = '\0';
	err = pid_path(path, pid, "cmdline");
	return err ? err : gone(read_cmdline(AT_FDCWD, path, buf, buflen));
}

/* ---- cgroup ---------------------------------------------------------------- */

static bool is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

void procfs_container_id(const char *cgroup, char *out, size_t outlen)
{
	const char *id = NULL;

	if (outlen)
		out[0] = '\0';
	/* the last run of exactly 64 hex digits: docker-<id>.scope,
	 * /docker/<id>, cri-containerd-<id>.scope, crio-<id>, libpod-<id> */
	for (const char *p = cgroup; *p;) {
		size_t n = 0;

		while (is_hex(p[n]))
			n++;
		if (n == 64)
			id = p;
		p += n ? n : 1;
	}
	if (id && outlen)
		snprintf(out, outlen, "%.12s", id);
}

int procfs_read_container(int pid, char *out, size_t outlen)
{
	char path[PID_PATH_LEN], buf[4096];
	int err;

	if (outlen)
		out[0] = '\0';
	err = pid_path(path, pid, "cgroup");
	if (!err)
		err = gone(read_text_at(AT_FDCWD, path, buf, sizeof(buf)));
	if (!err)
		procfs_container_id(buf, out, outlen);
	return err;
}

/* ---- system -------------------------------------------------------------- */

/* "12345.67 23456.78\n". By hand, not strtod: the UI may setlocale() and
 * make ',' the decimal separator. */
int procfs_uptime(double *secs)
{
	char buf[128];
	const char *p = buf;
	uint64_t whole, frac = 0;
	double scale = 1;
	int err;

	err = read_text_at(AT_FDCWD, "/proc/uptime", buf, sizeof(buf));
	if (err)
		return err;
	if (parse_u64(&p, 10, &whole))
		return -EINVAL;
	if (*p == '.') {
		for (p++; *p >= '0' && *p <= '9' && scale < 1e9; p++) {
			frac = frac * 10 + (*p - '0');
			scale *= 10;
		}
	}
	*secs = (double)whole + (double)frac / scale;
	return 0;
}

long procfs_clk_tck(void)
{
	static long tck;

	/* 100 on every Linux ABI we run on; the fallback avoids a divide
	 * by zero if sysconf ever fails. */
	if (tck <= 0) {
		tck = sysconf(_SC_CLK_TCK);
		if (tck <= 0)
			tck = 100;
	}
	return tck;
}

int procfs_foreach_pid(procfs_pid_cb cb, void *ctx)
{
	const char *p;
	struct dirent *de;
	uint64_t pid;
	int err = 0;
	DIR *dir;

	dir = opendir("/proc");
	if (!dir)
		return -errno;
	for (;;) {
		errno = 0;
		de = readdir(dir);
		if (!de) {
			err = -errno;
			goto cleanup;
		}
		p = de->d_name;
		if (!all_digits(p) || parse_u64(&p, 10, &pid) || pid == 0 || pid > INT_MAX)
			continue;
		err = cb((int)pid, ctx);
		if (err)
			goto cleanup;
	}
cleanup:
	closedir(dir);
	return err;
}

/* ---- user names ---------------------------------------------------------- */

struct user_slot {
	bool valid;
	uid_t uid;
	char name[USER_NAME_LEN];
};

/* Called for every process every second; getpwuid_r may go to NSS (LDAP,
 * sssd). Direct-mapped: a host has few distinct uids. Unknown uids are
 * cached as their number too, so a missing user costs one lookup. */
static struct user_slot user_cache[USER_CACHE_SLOTS];

/* Fills name; false when the lookup failed (NSS down, ERANGE) rather than
 * answered "no such user", so that the number is not cached for good. */
static bool lookup_user(uid_t uid, char *name, size_t len)
{
	char pwbuf[PW_BUF_LEN];
	struct passwd pw, *res = NULL;
	int err;

	err = getpwuid_r(uid, &pw, pwbuf, sizeof(pwbuf), &res);
	if (!err && res && res->pw_name[0])
		snprintf(name, len, "%s", res->pw_name);
	else
		snprintf(name, len, "%" PRIu32, (uint32_t)uid);
	/* getpwuid_r(3): these also mean "no such user" with some NSS modules */
	return !err || err == ENOENT || err == ESRCH || err == EBADF || err == EPERM;
}

const char *procfs_user_name(uid_t uid, char *buf, size_t buflen)
{
	struct user_slot *s = &user_cache[uid % USER_CACHE_SLOTS];

	if (!buf || !buflen)
		return "";
	if (!s->valid || s->uid != uid) {
		s->uid = uid;
		s->valid = lookup_user(uid, s->name, sizeof(s->name));
	}
	snprintf(buf, buflen, "%s", s->name);
	return buf;
}
