// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <linux/capability.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "collector.h"
#include "log.h"
#include "procfs.h"
#include "pymemtop.skel.h"
#include "rate.h"

#ifndef CAP_PERFMON
#define CAP_PERFMON 38
#endif
#ifndef CAP_BPF
#define CAP_BPF 39
#endif

#define SYSFS_BTF "/sys/kernel/btf/vmlinux"
#define TRACEFS	  "/sys/kernel/tracing"

/* PMT_EV_FINAL_FLOW records waiting for their process's final event
 * (the next record of that pid; records of other CPUs may come between). */
#define FLOWS_WAITING 8

struct collector {
	struct pymemtop_bpf *skel;
	struct ring_buffer *rb;
	collector_event_cb cb;
	void *cb_ctx;
	collector_sample_cb scb; /* site samples (collector_on_sample) */
	void *scb_ctx;
	int handled;
	int stats_fd; /* BPF_ENABLE_STATS: run-time stats on while held; -1 */
	struct pmt_event_flow flows[FLOWS_WAITING];
	int nflows;
};

static const char *const drop_names[PMT_DROP_NR] = {
	[PMT_DROP_MM_MAP_FULL] = "mm_map_full",
	[PMT_DROP_GC_MAP_FULL] = "gc_map_full",
	[PMT_DROP_GC_INFLIGHT_FULL] = "gc_stash_full",
	[PMT_DROP_GC_UNMATCHED] = "gc_unmatched",
	[PMT_DROP_RINGBUF_FULL] = "events_lost",
	[PMT_DROP_READ_FAILED] = "user_read_failed",
	[PMT_DROP_WATCHED_FULL] = "watched_map_full",
	[PMT_DROP_FLOW_MAP_FULL] = "heap_flow_map_full",
	[PMT_DROP_BAD_CLASS] = "refill_bad_class",
	[PMT_DROP_SITES_FULL] = "sites_map_full",
	[PMT_DROP_SITES_WALK] = "sites_walk_failed",
	[PMT_DROP_SAMPLES_FULL] = "site_samples_lost",
	[PMT_DROP_OBJS_FULL] = "object_samples_unfollowed",
};

static const char *const drop_hints[PMT_DROP_NR] = {
	[PMT_DROP_MM_MAP_FULL] = "--max-procs",	       [PMT_DROP_GC_MAP_FULL] = "--max-procs",
	[PMT_DROP_GC_INFLIGHT_FULL] = "--max-threads", [PMT_DROP_WATCHED_FULL] = "--max-procs",
	[PMT_DROP_FLOW_MAP_FULL] = "--max-procs",      [PMT_DROP_SITES_FULL] = "--sites-max-stacks",
};

const char *collector_drop_name(int i)
{
	return i >= 0 && i < PMT_DROP_NR ? drop_names[i] : NULL;
}

const char *collector_drop_hint(int i)
{
	return i >= 0 && i < PMT_DROP_NR ? drop_hints[i] : NULL;
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	/* libbpf is chatty on expected failures; show it with -vv only. */
	char buf[512];
	size_t n;

	if (log_get_level() < LOG_DEBUG || level == LIBBPF_DEBUG)
		return 0;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	n = strlen(buf);
	if (n && buf[n - 1] == '\n')
		buf[n - 1] = '\0';
	log_debug("libbpf: %s", buf); /* through the log: never over the screen */
	return 0;
}

static bool has_cap(const struct __user_cap_data_struct *d, int cap)
{
	return d[cap / 32].effective & (1u << (cap % 32));
}

/* Root, or the capabilities BPF tracing and /proc reading need. */
static int check_privileges(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2] = {};

	if (syscall(SYS_capget, &hdr, data) == 0 &&
	    (has_cap(data, CAP_SYS_ADMIN) ||
	     (has_cap(data, CAP_BPF) && has_cap(data, CAP_PERFMON))) &&
	    has_cap(data, CAP_SYS_PTRACE))
		return 0;
	log_error("needs root (or CAP_BPF, CAP_PERFMON, CAP_SYS_PTRACE, CAP_SYS_ADMIN); running as "
		  "uid %u",
		  (unsigned int)geteuid());
	return -EPERM;
}

/* Syscall tracepoints need tracefs; mount it where libbpf looks if this
 * host has not (it is left mounted: other tools may start using it). */
static int ensure_tracefs(void)
{
	if (!access(TRACEFS "/events", F_OK) || !access("/sys/kernel/debug/tracing/events", F_OK))
		return 0;
	if (mount("tracefs", TRACEFS, "tracefs", 0, NULL)) {
		log_error("tracefs is not mounted and mounting it on %s failed: %s", TRACEFS,
			  strerror(errno));
		return -errno;
	}
	log_info("mounted tracefs on %s", TRACEFS);
	return 0;
}

static int resize_maps(struct pymemtop_bpf *skel, const struct env *env)
{
	struct bpf_map *procs[] = { skel->maps.mm_stats, skel->maps.gc_stats, skel->maps.watched,
				    skel->maps.heap_flow };
	struct bpf_map *threads[] = { skel->maps.gc_inflight };
	int err = 0;

	for (size_t i = 0; i < sizeof(procs) / sizeof(procs[0]) && !err; i++)
		err = bpf_map__set_max_entries(procs[i], env->max_procs);
	for (size_t i = 0; i < sizeof(threads) / sizeof(threads[0]) && !err; i++)
		err = bpf_map__set_max_entries(threads[i], env->max_threads);
	if (!err)
		err = bpf_map__set_max_entries(skel->maps.sites_cfg, env->max_procs);
	if (!err && env->sites_max_stacks)
		err = bpf_map__set_max_entries(skel->maps.site_counts, env->sites_max_stacks);
	if (!err && env->sites_max_stacks)
		err = bpf_map__set_max_entries(skel->maps.site_stacks, env->sites_max_stacks);
	return err;
}

/* The pool-refill counts a final event of pid was preceded by. */
static bool take_flow(struct collector *c, int pid, struct pmt_heap_flow *out)
{
	for (int i = 0; i < c->nflows; i++)
		if (c->flows[i].ev.pid == (__u32)pid) {
			*out = c->flows[i].flow;
			c->flows[i] = c->flows[--c->nflows];
			return true;
		}
	return false;
}

static void keep_flow(struct collector *c, const struct pmt_event_flow *f)
{
	if (c->nflows == FLOWS_WAITING) /* final events lost: the oldest goes */
		memmove(c->flows, c->flows + 1, --c->nflows * sizeof(c->flows[0]));
	c->flows[c->nflows++] = *f;
}

/* One ring record: a short or unknown one is ignored. */
static int samples_cb(void *ctx, void *data, size_t len)
{
	struct collector *c = ctx;

	if (len >= sizeof(struct pmt_site_sample) && c->scb)
		c->scb(data, c->scb_ctx);
	return 0;
}

void collector_on_sample(struct collector *c, collector_sample_cb cb, void *ctx)
{
	c->scb = cb;
	c->scb_ctx = ctx;
}

static int ringbuf_cb(void *ctx, void *data, size_t len)
{
	const struct pmt_event_final *fin = data;
	const struct pmt_event *raw = data;
	struct collector *c = ctx;
	struct proc_event ev = { 0 };

	if (len < sizeof(*raw))
		return 0;
	if (raw->type == PMT_EV_FINAL_FLOW) {
		if (len >= sizeof(struct pmt_event_flow))
			keep_flow(c, data);
		return 0;
	}
	if (raw->type != PMT_EV_EXEC && raw->type != PMT_EV_EXIT && raw->type != PMT_EV_FORK)
		return 0;
	ev.type = raw->type;
	ev.pid = raw->pid;
	ev.ppid = raw->ppid;
	ev.ts_ns = raw->ts_ns;
	if (raw->final && len >= sizeof(*fin)) {
		ev.has_mm = fin->has_mm;
		ev.has_gc = fin->has_gc;
		ev.mm = fin->mm;
		ev.gc = fin->gc;
		ev.has_flow = take_flow(c, ev.pid, &ev.flow);
	}
	c->cb(&ev, c->cb_ctx);
	c->handled++;
	return 0;
}

/* Host-wide programs attach through the skeleton; the GC programs are
 * attached per interpreter file by collector_attach_gc(). */
static int attach_tracepoints(struct pymemtop_bpf *skel)
{
	int err = pymemtop_bpf__attach(skel);

	if (err)
		log_error("attaching tracepoints: %s", strerror(-err));
	return err;
}

int collector_open(const struct env *env, struct collector **out)
{
	struct collector *c;
	int err;

	*out = NULL;
	err = check_privileges();
	if (err)
		return err;
	if (access(SYSFS_BTF, R_OK)) {
		log_error("kernel BTF not found at %s (needs CONFIG_DEBUG_INFO_BTF=y)", SYSFS_BTF);
		return -ENOENT;
	}
	err = ensure_tracefs();
	if (err)
		return err;
	libbpf_set_print(libbpf_print);
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->stats_fd = -1;
	c->skel = pymemtop_bpf__open();
	if (!c->skel) {
		err = -errno;
		log_error("opening BPF object: %s", strerror(errno));
		goto cleanup;
	}
	bpf_program__set_autoattach(c->skel->progs.gc_start_usdt, false);
	bpf_program__set_autoattach(c->skel->progs.gc_done_usdt, false);
	bpf_program__set_autoattach(c->skel->progs.gc_enter_uprobe, false);
	bpf_program__set_autoattach(c->skel->progs.gc_exit_uretprobe, false);
	bpf_program__set_autoattach(c->skel->progs.heap_refill, false);
	bpf_program__set_autoattach(c->skel->progs.heap_precise, false);
	err = resize_maps(c->skel, env);
	if (!err)
		err = pymemtop_bpf__load(c->skel);
	if (err) {
		log_error("loading BPF programs: %s (run with -vv for the verifier log)",
			  strerror(-err));
		goto cleanup;
	}
	err = attach_tracepoints(c->skel);
	if (err)
		goto cleanup;
	c->rb = ring_buffer__new(bpf_map__fd(c->skel->maps.events), ringbuf_cb, c, NULL);
	if (!c->rb ||
	    ring_buffer__add(c->rb, bpf_map__fd(c->skel->maps.site_samples), samples_cb, c)) {
		err = -errno;
		log_error("ring buffer: %s", strerror(errno));
		goto cleanup;
	}
	*out = c;
	return 0;
cleanup:
	collector_close(c);
	return err;
}

void collector_close(struct collector *c)
{
	if (!c)
		return;
	for (struct interp *in = discover_interps(); in; in = in->next) {
		for (int i = 0; i < in->nlinks; i++)
			bpf_link__destroy(in->links[i]);
		in->nlinks = 0;
		in->attach_tried = false;
	}
	ring_buffer__free(c->rb);
	pymemtop_bpf__destroy(c->skel);
	if (c->stats_fd >= 0)
		close(c->stats_fd);
	free(c);
}

int collector_enable_stats(struct collector *c)
{
	int fd;

	if (c->stats_fd >= 0)
		return 0;
	fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
	if (fd < 0)
		return fd;
	c->stats_fd = fd;
	return 0;
}

int collector_bpf_runtime(struct collector *c, uint64_t *run_ns, uint64_t *run_cnt)
{
	struct bpf_program *p;

	*run_ns = *run_cnt = 0;
	if (c->stats_fd < 0)
		return -ENODATA;
	bpf_object__for_each_program(p, c->skel->obj)
	{
		struct bpf_prog_info info = {};
		__u32 len = sizeof(info);
		int fd = bpf_program__fd(p);

		if (fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &len))
			continue;
		*run_ns += info.run_time_ns;
		*run_cnt += info.run_cnt;
	}
	return 0;
}

int collector_fd(struct collector *c)
{
	return ring_buffer__epoll_fd(c->rb);
}

static int add_link(struct interp *in, struct bpf_link *l)
{
	if (!l)
		return -errno;
	if (in->nlinks == INTERP_MAX_LINKS) {
		bpf_link__destroy(l);
		return -E2BIG;
	}
	in->links[in->nlinks++] = l;
	return 0;
}

static int attach_usdt(struct collector *c, struct interp *in, const char *path)
{
	int err;

	err = add_link(in, bpf_program__attach_usdt(c->skel->progs.gc_start_usdt, -1, path,
						    "python", "gc__start", NULL));
	if (!err)
		err = add_link(in, bpf_program__attach_usdt(c->skel->progs.gc_done_usdt, -1, path,
							    "python", "gc__done", NULL));
	return err;
}

static int attach_uprobes(struct collector *c, struct interp *in, const char *path)
{
	int err = 0;

	for (int i = 0; i < in->info.n_gc_funcs && !err; i++) {
		const struct py_gc_func *f = &in->info.gc_funcs[i];
		LIBBPF_OPTS(bpf_uprobe_opts, entry, .bpf_cookie = f->cookie);
		LIBBPF_OPTS(bpf_uprobe_opts, ret, .bpf_cookie = f->cookie, .retprobe = true);

		err = add_link(in, bpf_program__attach_uprobe_opts(c->skel->progs.gc_enter_uprobe,
								   -1, path, f->offset, &entry));
		if (!err)
			err = add_link(in, bpf_program__attach_uprobe_opts(
						   c->skel->progs.gc_exit_uretprobe, -1, path,
						   f->offset, &ret));
	}
	return err;
}

int collector_attach_gc(struct collector *c, struct interp *in, const char *path)
{
	char desc[sizeof(in->gc_desc)];
	int err;

	if (in->attach_tried)
		return in->attach_err;
	in->attach_tried = true;
	if (in->info.gc_hook == PY_GC_NONE) {
		snprintf(in->gc_reason, sizeof(in->gc_reason), "%s", in->info.gc_reason);
		return in->attach_err = -ENOTSUP;
	}
	if (in->info.gc_hook == PY_GC_MEMORY) { /* nothing to attach */
		snprintf(in->gc_desc, sizeof(in->gc_desc), "%s",
			 python_gc_desc(&in->info, desc, sizeof(desc)));
		log_info("gc: %s (%s): %s, no probe", in->path, in->info.version, in->gc_desc);
		return in->attach_err = 0;
	}
	err = in->info.gc_hook == PY_GC_USDT ? attach_usdt(c, in, path)
					     : attach_uprobes(c, in, path);
	if (err) {
		for (int i = 0; i < in->nlinks; i++)
			bpf_link__destroy(in->links[i]);
		in->nlinks = 0;
		snprintf(in->gc_reason, sizeof(in->gc_reason), "attaching GC probes failed: %s",
			 strerror(-err));
		log_warn("gc: %s: attaching probes failed: %s", in->path, strerror(-err));
		return in->attach_err = err;
	}
	snprintf(in->gc_desc, sizeof(in->gc_desc), "%s",
		 python_gc_desc(&in->info, desc, sizeof(desc)));
	log_info("gc: %s (%s): %s", in->path, in->info.version, in->gc_desc);
	return in->attach_err = 0;
}

int collector_watch(struct collector *c, int pid)
{
	struct pmt_watch val = { PMT_WATCH_PYTHON, 0 };
	__u32 key = pid;

	return bpf_map__update_elem(c->skel->maps.watched, &key, sizeof(key), &val, sizeof(val),
				    BPF_ANY);
}

int collector_execs(struct collector *c, int pid, uint32_t *execs)
{
	struct pmt_watch w;
	__u32 key = pid;

	if (bpf_map__lookup_elem(c->skel->maps.watched, &key, sizeof(key), &w, sizeof(w), 0))
		return -errno;
	*execs = w.execs;
	return 0;
}

void collector_release_objs(struct collector *c, int pid)
{
	const struct bpf_map *map = c->skel->maps.precise_objs;
	struct pmt_obj_key k, next, gone[256];
	const void *prev = NULL;
	int n = 0;

	/* deleting while walking would restart the walk: collect, then delete */
	for (;;) {
		while (n < 256 && !bpf_map__get_next_key(map, prev, &next, sizeof(next))) {
			if (next.tgid == (__u32)pid)
				gone[n++] = next;
			k = next;
			prev = &k;
		}
		for (int i = 0; i < n; i++)
			bpf_map__delete_elem(map, &gone[i], sizeof(gone[i]), 0);
		if (n < 256)
			return;
		n = 0;
		prev = NULL;
	}
}

void collector_release(struct collector *c, int pid)
{
	const struct bpf_map *maps[] = {
		c->skel->maps.heap_flow,
		c->skel->maps.precise,
		c->skel->maps.precise_cfg,
		c->skel->maps.sites_cfg,
	};
	struct pmt_watch w;
	__u32 key = pid;

	for (size_t i = 0; i < sizeof(maps) / sizeof(maps[0]); i++)
		bpf_map__delete_elem(maps[i], &key, sizeof(key), 0);
	/* not the entry of a newer process of this PID that a taken one
	 * forked (the PID reused after an exit event was lost) */
	if (!bpf_map__lookup_elem(c->skel->maps.watched, &key, sizeof(key), &w, sizeof(w), 0) &&
	    w.state != PMT_WATCH_FORKED)
		bpf_map__delete_elem(c->skel->maps.watched, &key, sizeof(key), 0);
}

/* pid's value in a tgid-keyed map: 0, or -ENOENT when it has none. */
static int read_pid(const struct bpf_map *map, int pid, void *out, size_t size)
{
	__u32 key = pid;

	return bpf_map__lookup_elem(map, &key, sizeof(key), out, size, 0) ? -errno : 0;
}

int collector_attach_refill(struct collector *c, int pid, const char *path, uint64_t offset,
			    int arg, void **link)
{
	LIBBPF_OPTS(bpf_uprobe_opts, opts, .bpf_cookie = (__u64)arg);
	struct bpf_link *l;

	l = bpf_program__attach_uprobe_opts(c->skel->progs.heap_refill, pid, path, offset, &opts);
	if (!l)
		return -errno;
	*link = l;
	return 0;
}

/* One probe of a set attached with its process's precise_cfg entry. */
struct probe_spec {
	const struct bpf_program *prog;
	uint64_t offset;
	__u64 cookie;
	bool retprobe;
};

/* cfg as pid's precise_cfg, then the n probes into links[n]; on a
 * failure none is kept (and no entry). */
static int attach_with_cfg(struct collector *c, int pid, const char *path,
			   const struct probe_spec *specs, int n, const struct pmt_precise_cfg *cfg,
			   void **links)
{
	__u32 key = pid;
	int err = bpf_map__update_elem(c->skel->maps.precise_cfg, &key, sizeof(key), cfg,
				       sizeof(*cfg), BPF_ANY);

	if (err)
		return err;
	for (int i = 0; i < n; i++) {
		LIBBPF_OPTS(bpf_uprobe_opts, opts, .bpf_cookie = specs[i].cookie,
			    .retprobe = specs[i].retprobe);

		links[i] = bpf_program__attach_uprobe_opts(specs[i].prog, pid, path,
							   specs[i].offset, &opts);
		if (!links[i]) {
			err = -errno;
			collector_detach(links, i);
			bpf_map__delete_elem(c->skel->maps.precise_cfg, &key, sizeof(key), 0);
			return err;
		}
	}
	return 0;
}

int collector_attach_precise(struct collector *c, int pid, const char *path,
			     const uint64_t offsets[PYHEAP_PRECISE_NFN],
			     const struct pmt_precise_cfg *cfg, void **links)
{
	struct probe_spec specs[PYHEAP_PRECISE_NFN];
	__u32 key = pid;

	/* A previous image of this PID may have left counts. */
	bpf_map__delete_elem(c->skel->maps.precise, &key, sizeof(key), 0);
	/* cookie: enum pmt_precise_fn, in the order of precise_offset[] */
	for (int i = 0; i < PYHEAP_PRECISE_NFN; i++)
		specs[i] = (struct probe_spec){ c->skel->progs.heap_precise, offsets[i],
						(__u64)i + 1, false };
	return attach_with_cfg(c, pid, path, specs, PYHEAP_PRECISE_NFN, cfg, links);
}

int collector_attach_precise_ret(struct collector *c, int pid, const char *path,
				 const uint64_t offsets[PMT_PRECISE_RET_NFN], void **links)
{
	LIBBPF_OPTS(bpf_uprobe_opts, opts, .retprobe = true);
	int n = 0;

	for (int i = 0; i < PMT_PRECISE_RET_NFN; i++) {
		if (!offsets[i])
			continue;
		links[n] = bpf_program__attach_uprobe_opts(c->skel->progs.heap_precise_ret, pid,
							   path, offsets[i], &opts);
		if (!links[n]) {
			int err = -errno;

			collector_detach(links, n);
			return err;
		}
		n++;
	}
	return n;
}

int collector_attach_instances(struct collector *c, int pid, const char *path,
			       const uint64_t offsets[3], const struct pmt_precise_cfg *cfg,
			       void **links)
{
	/* the return probe last: a sample it takes is one the entry made */
	const struct probe_spec specs[4] = {
		{ c->skel->progs.heap_precise, offsets[0], PMT_PRECISE_TPALLOC, false },
		{ c->skel->progs.heap_precise, offsets[1], PMT_PRECISE_GCDEL, false },
		{ c->skel->progs.heap_precise, offsets[2], PMT_PRECISE_OBJFREE, false },
		{ c->skel->progs.heap_precise_ret, offsets[0], 0, true },
	};

	return attach_with_cfg(c, pid, path, specs, 4, cfg, links);
}

static int collector_attach_precise_one(struct collector *c, const char *path, uint64_t offset,
					enum pmt_precise_fn fn, void **link)
{
	LIBBPF_OPTS(bpf_uprobe_opts, opts, .bpf_cookie = fn);

	*link = bpf_program__attach_uprobe_opts(c->skel->progs.heap_precise, getpid(), path, offset,
						&opts);
	return *link ? 0 : -errno;
}

void collector_detach(void **links, int n)
{
	for (int i = 0; i < n; i++) {
		bpf_link__destroy(links[i]);
		links[i] = NULL;
	}
}

int collector_sites_set(struct collector *c, int pid, const struct pmt_sites_cfg *cfg)
{
	__u32 key = pid;

	return bpf_map__update_elem(c->skel->maps.sites_cfg, &key, sizeof(key), cfg, sizeof(*cfg),
				    BPF_ANY);
}

void collector_sites_delete(struct collector *c, const struct pmt_site_key *k)
{
	bpf_map__delete_elem(c->skel->maps.site_counts, k, sizeof(*k), 0);
	bpf_map__delete_elem(c->skel->maps.site_stacks, k, sizeof(*k), 0);
}

int collector_sites_read(struct collector *c, collector_site_cb cb, void *ctx)
{
	const struct bpf_map *map = c->skel->maps.site_counts;
	struct pmt_site_key k, next;
	struct pmt_site_counts cnt;
	const void *prev = NULL;
	int n = 0;

	while (!bpf_map__get_next_key(map, prev, &next, sizeof(next))) {
		if (!bpf_map__lookup_elem(map, &next, sizeof(next), &cnt, sizeof(cnt), 0)) {
			cb(&next, &cnt, ctx);
			n++;
		}
		k = next;
		prev = &k;
	}
	return n;
}

int collector_sites_stack(struct collector *c, const struct pmt_site_key *k,
			  struct pmt_site_stack *out)
{
	if (bpf_map__lookup_elem(c->skel->maps.site_stacks, k, sizeof(*k), out, sizeof(*out), 0))
		return -errno;
	return 0;
}

int collector_read_flow(struct collector *c, int pid, struct pmt_heap_flow *out)
{
	return read_pid(c->skel->maps.heap_flow, pid, out, sizeof(*out));
}

int collector_read_precise(struct collector *c, int pid, struct pmt_precise_stats *out)
{
	return read_pid(c->skel->maps.precise, pid, out, sizeof(*out));
}

int collector_read_mm(struct collector *c, int pid, struct pmt_mm_stats *out)
{
	return read_pid(c->skel->maps.mm_stats, pid, out, sizeof(*out));
}

int collector_read_gc(struct collector *c, int pid, struct pmt_gc_stats *out)
{
	return read_pid(c->skel->maps.gc_stats, pid, out, sizeof(*out));
}

void collector_read_drops(struct collector *c, uint64_t out[PMT_DROP_NR])
{
	for (int i = 0; i < PMT_DROP_NR; i++)
		out[i] = __atomic_load_n(&c->skel->bss->drops[i], __ATOMIC_RELAXED);
}

int collector_poll(struct collector *c, int timeout_ms, collector_event_cb cb, void *ctx)
{
	int err;

	c->cb = cb;
	c->cb_ctx = ctx;
	c->handled = 0;
	err = ring_buffer__poll(c->rb, timeout_ms);
	if (err < 0)
		return err;
	return c->handled;
}

/* ---- --precise cost, measured on this machine ------------------------------ */

/* A function shaped like the allocator's entry: the probe goes on its
 * push, an instruction the kernel emulates, like the probes --precise
 * places. Called as (ctx, ptr-or-size). */
void *pmt_calib_fn(void *ctx, void *arg);
__asm__(".text\n"
	".globl pmt_calib_fn\n"
	".type pmt_calib_fn, @function\n"
	"pmt_calib_fn:\n"
	"	push %rbp\n"
	"	mov %rsi, %rax\n"
	"	pop %rbp\n"
	"	ret\n"
	".size pmt_calib_fn, .-pmt_calib_fn\n");

struct self_map {
	uint64_t addr, offset;
	char path[64];
	bool found;
};

static int self_map_cb(const struct proc_map *m, void *ctx)
{
	struct self_map *sm = ctx;

	if (sm->addr < m->start || sm->addr >= m->end)
		return 0;
	sm->offset = sm->addr - m->start + m->offset;
	snprintf(sm->path, sizeof(sm->path), "/proc/%d/map_files/%llx-%llx", getpid(),
		 (unsigned long long)m->start, (unsigned long long)m->end);
	sm->found = true;
	return 1;
}

/* The fastest of three runs of n calls (the machine is noisy). */
static double time_calls(void *ctx, void *arg, int n)
{
	void *(*volatile fn)(void *, void *) = pmt_calib_fn;
	double best = 0;

	for (int r = 0; r < 3; r++) {
		double t0 = rate_now(), t;

		for (int i = 0; i < n; i++)
			fn(ctx, arg);
		t = rate_now() - t0;
		if (!r || t < best)
			best = t;
	}
	return best;
}

#define CALIB_CALLS 20000

/* Seconds per probed call: the uprobe trap plus the BPF program, with the
 * free path sizing a block in a fake arena (all four user reads). */
int collector_measure_precise(struct collector *c, double *alloc_s, double *free_s)
{
	static uint8_t pool[2 * 4096] __attribute__((aligned(4096)));
	struct self_map sm = { .addr = (uint64_t)(uintptr_t)pmt_calib_fn };
	uint64_t arena[6] = { (uint64_t)(uintptr_t)pool };
	uint64_t arenas = (uint64_t)(uintptr_t)arena;
	uint32_t maxarenas = 1, hdr[2] = { 0, 3 };
	struct pmt_precise_cfg cfg = {
		.arenas_var = (uint64_t)(uintptr_t)&arenas,
		.maxarenas_var = (uint64_t)(uintptr_t)&maxarenas,
		.pool_size = 4096,
		.arena_size = sizeof(pool),
	};
	__u32 key = getpid();
	double base, with[2];
	void *link;

	memcpy(pool + 32, hdr, sizeof(hdr));
	procfs_foreach_map(getpid(), self_map_cb, &sm);
	if (!sm.found)
		return -ENOENT;
	if (bpf_map__update_elem(c->skel->maps.precise_cfg, &key, sizeof(key), &cfg, sizeof(cfg),
				 BPF_ANY))
		return -errno;
	base = time_calls(NULL, (void *)64, CALIB_CALLS);
	for (int k = 0; k < 2; k++) {
		int err;

		err = k ? collector_attach_precise_one(c, sm.path, sm.offset, PMT_PRECISE_FREE,
						       &link)
			: collector_attach_precise_one(c, sm.path, sm.offset, PMT_PRECISE_MALLOC,
						       &link);
		if (err) {
			collector_release(c, key);
			return err;
		}
		with[k] = time_calls(NULL, k ? (void *)(pool + 64) : (void *)64, CALIB_CALLS);
		collector_detach(&link, 1);
	}
	collector_release(c, key);
	*alloc_s = (with[0] - base) / CALIB_CALLS;
	*free_s = (with[1] - base) / CALIB_CALLS;
	return 0;
}
