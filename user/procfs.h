/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * /proc parsing. Each reader takes a directory fd or a root path so that
 * the unit tests can run on fixture copies of real files; the *_pid
 * wrappers read /proc/PID. All return 0 or a negative errno (-ENOENT /
 * -ESRCH when the process is gone, -EINVAL when the file is malformed).
 * The *_pid wrappers (procfs_read_stat/status/cmdline, procfs_foreach_map)
 * fold both into -ESRCH: a process can exit between open() and read(), and
 * the caller only needs to know it is gone. The *_at readers return the
 * errno as is (-ENOENT for a missing file in a fixture directory).
 * A short or empty read is never a crash: -EINVAL when a required field
 * is missing, has_rss = false for a status cut before VmRSS:, an empty
 * string for cmdline.
 * The parsers never trust the content: comm may contain spaces, ')' and
 * newlines; cmdline may contain arbitrary bytes.
 */
#ifndef PMT_PROCFS_H
#define PMT_PROCFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define PROCFS_COMM_LEN 64

struct proc_stat {
	int pid;
	char comm[PROCFS_COMM_LEN]; /* between the first '(' and the last ')' */
	char state;
	int ppid;
	uint64_t utime_ticks, stime_ticks; /* fields 14, 15 */
	uint64_t start_time_ticks; /* field 22: clock ticks after boot */
	uint64_t rss_pages; /* field 24 */
};

struct proc_status {
	uid_t uid; /* real uid (first field of Uid:) */
	uint64_t vm_rss_bytes; /* VmRSS */
	uint64_t rss_anon_bytes; /* RssAnon */
	uint64_t rss_file_bytes; /* RssFile */
	uint64_t rss_shmem_bytes; /* RssShmem */
	uint64_t vm_swap_bytes; /* VmSwap */
	uint64_t vm_peak_bytes; /* VmPeak: the most address space the process has had */
	int tgid; /* Tgid */
	int threads; /* Threads; 0 when the line is missing */
	bool has_rss; /* false for kernel threads / zombies (no Vm* lines) */
};

/* One line of /proc/PID/maps. path is "" for anonymous mappings, and is
 * kept as the kernel prints it (spaces, " (deleted)" suffix included). */
struct proc_map {
	uint64_t start, end, offset;
	bool r, w, x, shared;
	unsigned int dev_major, dev_minor;
	uint64_t inode;
	const char *path; /* points into the reader's line buffer; valid in the callback only */
	/* Length of path without the line's '\n'. The foreach readers always
	 * NUL-terminate path; procfs_parse_maps_line() on a const line that
	 * still ends in '\n' cannot, so there path[path_len] is that '\n'. */
	size_t path_len;
};

/* Parse the text of stat/status (buf is NUL-terminated). Pure functions.
 * stat needs fields 1-24 (-EINVAL otherwise). status needs Uid: and Tgid:;
 * its last line is ignored when it has no '\n' (a cut "VmRSS:\t 12" would
 * be a wrong number, not a missing one). */
int procfs_parse_stat(const char *buf, struct proc_stat *out);
int procfs_parse_status(const char *buf, struct proc_status *out);
/* Parse one maps line (without or with trailing newline). */
int procfs_parse_maps_line(const char *line, struct proc_map *out);

/* Read /proc/PID/<file>: stat, status. */
int procfs_read_stat(int pid, struct proc_stat *out);
int procfs_read_status(int pid, struct proc_status *out);

/* status, but when the thread-group leader has exited (a zombie, no Vm*
 * lines) while other threads run on, the memory lines come from one of
 * those threads: they share the one address space. */
int procfs_read_status_mm(int pid, struct proc_status *out);

/* Read a file relative to an open /proc/PID directory fd. */
int procfs_read_stat_at(int dirfd, struct proc_stat *out);
int procfs_read_status_at(int dirfd, struct proc_status *out);

/* Walk maps; cb returns 0 to go on, non-zero to stop (returned).
 * A line longer than 8 KiB (a path far beyond PATH_MAX, which could not be
 * opened anyway) is skipped; a line that does not parse stops the walk
 * with -EINVAL. */
typedef int (*procfs_map_cb)(const struct proc_map *m, void *ctx);
int procfs_foreach_map_at(int dirfd, procfs_map_cb cb, void *ctx);
int procfs_foreach_map(int pid, procfs_map_cb cb, void *ctx);

/* cmdline: NUL separators turned into spaces, trailing NULs dropped,
 * non-printable bytes kept as they are (the JSON writer escapes them);
 * truncated to buflen-1. Empty string for kernel threads. */
int procfs_read_cmdline_at(int dirfd, char *buf, size_t buflen);
int procfs_read_cmdline(int pid, char *buf, size_t buflen);
/* The same bytes with their NULs (argv as the process set it), *len of
 * them, NUL-terminated in buf; for cmdlabel(). */
int procfs_read_argv(int pid, char *buf, size_t buflen, size_t *len);
/* Turn len bytes of argv (buf has room for len + 1) into the one line
 * procfs_read_cmdline() gives: trailing NULs dropped, NULs as spaces. */
void procfs_argv_to_line(char *buf, size_t len);

/* Seconds since boot, from /proc/uptime; and clock ticks per second. */
int procfs_uptime(double *secs);
long procfs_clk_tck(void);

/* Iterate numeric entries of /proc (processes). */
typedef int (*procfs_pid_cb)(int pid, void *ctx);
int procfs_foreach_pid(procfs_pid_cb cb, void *ctx);

/* User name for uid (cached getpwuid_r); decimal uid when unknown.
 * Copies it into buf (truncated to buflen-1) and returns buf. The cache,
 * unknown uids included, lives until exit and is not thread-safe: call it
 * from one thread. */
const char *procfs_user_name(uid_t uid, char *buf, size_t buflen);

/* The container a process runs in, from /proc/PID/cgroup: the first 12
 * hex digits of the last 64-digit ID in the cgroup path (Docker,
 * containerd, CRI-O, Podman), "" on the host. */
void procfs_container_id(const char *cgroup, char *out, size_t outlen);
int procfs_read_container(int pid, char *out, size_t outlen);

#endif /* PMT_PROCFS_H */
