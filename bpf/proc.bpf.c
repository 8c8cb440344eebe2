// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Process lifecycle; defines the maps shared by all pymemtop programs.
 *
 * Hooks: sched:sched_process_{exec,exit} tracepoints and the BTF-typed
 * sched_process_fork (it hands over both task_structs).
 * exec: every exec on the host is sent to userspace in a 40-byte event
 * (it decides whether the new image is CPython); the per-process
 * counters and configuration restart, since the address space is new: a
 * uprobe of the old image that still matches the new one (the same
 * interpreter file, exec'd again) finds no configuration and does
 * nothing. exit: per-thread stashes are freed; when the whole thread
 * group is gone its counters are freed too. A process userspace has
 * taken (PMT_WATCH_PYTHON) sends its final counters at exec and exit, so
 * no count is lost between the last poll and the end; its exec also
 * counts in the watched entry (execs), so that userspace sees an exec
 * whose event was lost. fork: a new process (not a thread) forked by a
 * taken one runs the same interpreter, and no exec will announce it
 * (gunicorn and multiprocessing workers); it is watched from its first
 * instruction (PMT_WATCH_FORKED) and userspace is told.
 * Maps written: events (ring buffer), watched, and deletes from the
 * per-process maps. Ring buffer full: PMT_DROP_RINGBUF_FULL (userspace
 * notices exits and lost execs at its next refresh and rescans /proc for
 * the rest). watched full: PMT_DROP_WATCHED_FULL.
 */
#define PMT_DEFINE_MAPS
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "maps.bpf.h"

static __always_inline struct pmt_event *reserve(__u64 size)
{
	void *ev = bpf_ringbuf_reserve(&events, size, 0);

	if (!ev)
		drop(PMT_DROP_RINGBUF_FULL);
	return ev;
}

static __always_inline void fill(struct pmt_event *ev, __u32 type, __u32 tgid, __u32 ppid,
				 __u32 final)
{
	ev->type = type;
	ev->pid = tgid;
	ev->ts_ns = bpf_ktime_get_ns();
	ev->ppid = ppid;
	ev->final = final;
	bpf_get_current_comm(ev->comm, sizeof(ev->comm));
}

static __always_inline void emit(__u32 type, __u32 tgid, __u32 ppid)
{
	struct pmt_event *ev = reserve(sizeof(*ev));

	if (!ev)
		return;
	fill(ev, type, tgid, ppid, 0);
	bpf_ringbuf_submit(ev, 0);
}

/* A taken process's last counters: its pool refills (when it has any)
 * in a record of their own, then the event with the rest. */
static __always_inline void emit_final(__u32 type, __u32 tgid)
{
	struct pmt_heap_flow *flow = bpf_map_lookup_elem(&heap_flow, &tgid);
	struct pmt_mm_stats *mm = bpf_map_lookup_elem(&mm_stats, &tgid);
	struct pmt_gc_stats *gc = bpf_map_lookup_elem(&gc_stats, &tgid);
	struct pmt_event_final *ev;
	struct pmt_event_flow *fl;

	if (flow) {
		fl = (struct pmt_event_flow *)reserve(sizeof(*fl));
		if (fl) {
			fill(&fl->ev, PMT_EV_FINAL_FLOW, tgid, 0, 0);
			fl->flow = *flow;
			bpf_ringbuf_submit(fl, 0);
		}
	}
	ev = (struct pmt_event_final *)reserve(sizeof(*ev));
	if (!ev)
		return;
	fill(&ev->ev, type, tgid, 0, 1);
	ev->has_mm = mm != NULL;
	ev->has_gc = gc != NULL;
	if (mm)
		ev->mm = *mm;
	else
		__builtin_memset(&ev->mm, 0, sizeof(ev->mm));
	if (gc)
		ev->gc = *gc;
	else
		__builtin_memset(&ev->gc, 0, sizeof(ev->gc));
	bpf_ringbuf_submit(ev, 0);
}

/* Counters and configuration of an address space that has ended. The
 * --precise counts stay for userspace, which reads the last of them and
 * frees them (their probes go with the old image's owner). */
static __always_inline void forget_process(__u32 tgid)
{
	bpf_map_delete_elem(&mm_stats, &tgid);
	bpf_map_delete_elem(&gc_stats, &tgid);
	bpf_map_delete_elem(&heap_flow, &tgid);
	bpf_map_delete_elem(&sites_cfg, &tgid);
	bpf_map_delete_elem(&precise_cfg, &tgid);
}

SEC("tp/sched/sched_process_exec")
int handle_exec(void *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct pmt_watch *w = bpf_map_lookup_elem(&watched, &tgid);

	/* The final counters of the old image go out with the event. */
	if (w && w->state == PMT_WATCH_PYTHON)
		emit_final(PMT_EV_EXEC, tgid);
	else
		emit(PMT_EV_EXEC, tgid, 0);
	forget_process(tgid);
	if (w && w->state == PMT_WATCH_FORKED) {
		bpf_map_delete_elem(&watched, &tgid); /* a fork+exec: not a worker */
	} else if (w) {
		w->state = PMT_WATCH_EXECED;
		w->execs++;
	}
	return 0;
}

/* Is the thread group dead? Kernels from 6.16 pass group_dead in the
 * tracepoint. Before that, read what do_exit() has just decided: it
 * decrements signal->live before this tracepoint fires, so 0 means this
 * was the last thread, whichever thread it is (the leader may have left
 * first with pthread_exit()). */
static __always_inline bool group_dead(struct trace_event_raw_sched_process_exit *ctx)
{
	struct task_struct *task;

	if (bpf_core_field_exists(ctx->group_dead))
		return BPF_CORE_READ(ctx, group_dead);
	task = (struct task_struct *)bpf_get_current_task();
	return BPF_CORE_READ(task, signal, live.counter) == 0;
}

SEC("tp/sched/sched_process_exit")
int handle_exit(struct trace_event_raw_sched_process_exit *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32, tid = (__u32)id;
	struct pmt_watch *w;

	bpf_map_delete_elem(&gc_inflight, &tid);
	if (!group_dead(ctx))
		return 0;
	w = bpf_map_lookup_elem(&watched, &tgid);
	if (w && w->state == PMT_WATCH_PYTHON)
		emit_final(PMT_EV_EXIT, tgid);
	else if (w)
		emit(PMT_EV_EXIT, tgid, 0);
	if (w)
		bpf_map_delete_elem(&watched, &tgid);
	forget_process(tgid);
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(handle_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid = parent->tgid, ctgid = child->tgid;
	struct pmt_watch val = { PMT_WATCH_FORKED, 0 }, *w;

	if (child->pid != ctgid)
		return 0; /* a new thread */
	w = bpf_map_lookup_elem(&watched, &ptgid);
	if (!w || w->state != PMT_WATCH_PYTHON)
		return 0; /* not ours */
	/* Watched before it runs: its exit or exec is reported even if
	 * userspace has not looked at it yet. */
	if (bpf_map_update_elem(&watched, &ctgid, &val, BPF_ANY))
		drop(PMT_DROP_WATCHED_FULL);
	emit(PMT_EV_FORK, ctgid, ptgid);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
