// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Process lifecycle; defines the maps shared by all pymemtop programs.
 *
 * Hooks: sched:sched_process_{exec,exit} tracepoints and the BTF-typed
 * sched_process_fork (it hands over both task_structs).
 * exec: every exec on the host is sent to userspace (it decides whether
 * the new image is CPython); the per-process counters restart, since the
 * address space is new. exit: per-thread stashes are freed; when the
 * whole thread group is gone its counters are freed too. For processes
 * userspace watches, exec and exit send the final counters first, so no
 * count is lost between the last poll and the end. fork: a new process
 * (not a thread) forked by a watched one runs the same interpreter, and
 * no exec will announce it (gunicorn and multiprocessing workers); it is
 * watched from its first instruction and userspace is told.
 * Maps written: events (ring buffer), and deletes from all the others.
 * Ring buffer full: PMT_DROP_RINGBUF_FULL (userspace notices exits at
 * its next refresh and rescans /proc for the rest). watched full:
 * PMT_DROP_WATCHED_FULL.
 */
#define PMT_DEFINE_MAPS
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "maps.bpf.h"

static __always_inline void emit(__u32 type, __u32 tgid, __u32 ppid, bool with_final)
{
	struct pmt_mm_stats *mm;
	struct pmt_gc_stats *gc;
	struct pmt_heap_flow *flow;
	struct pmt_event *ev;

	ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
	if (!ev) {
		drop(PMT_DROP_RINGBUF_FULL);
		return;
	}
	ev->type = type;
	ev->pid = tgid;
	ev->ppid = ppid;
	ev->ts_ns = bpf_ktime_get_ns();
	bpf_get_current_comm(ev->comm, sizeof(ev->comm));
	mm = with_final ? bpf_map_lookup_elem(&mm_stats, &tgid) : NULL;
	gc = with_final ? bpf_map_lookup_elem(&gc_stats, &tgid) : NULL;
	flow = with_final ? bpf_map_lookup_elem(&heap_flow, &tgid) : NULL;
	ev->has_mm = mm != NULL;
	ev->has_gc = gc != NULL;
	ev->has_flow = flow != NULL;
	if (mm)
		ev->mm = *mm;
	else
		__builtin_memset(&ev->mm, 0, sizeof(ev->mm));
	if (gc)
		ev->gc = *gc;
	else
		__builtin_memset(&ev->gc, 0, sizeof(ev->gc));
	if (flow)
		ev->flow = *flow;
	else
		__builtin_memset(&ev->flow, 0, sizeof(ev->flow));
	bpf_ringbuf_submit(ev, 0);
}

static __always_inline void forget_process(__u32 tgid)
{
	bpf_map_delete_elem(&mm_stats, &tgid);
	bpf_map_delete_elem(&gc_stats, &tgid);
	bpf_map_delete_elem(&heap_flow, &tgid);
	/* precise and precise_cfg belong to the few --precise processes:
	 * userspace reads their last counts and frees them. */
}

SEC("tp/sched/sched_process_exec")
int handle_exec(void *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	bool was_watched = bpf_map_lookup_elem(&watched, &tgid) != NULL;

	/* The final counters of the old image go out with the event. */
	emit(PMT_EV_EXEC, tgid, 0, was_watched);
	forget_process(tgid);
	if (was_watched)
		bpf_map_delete_elem(&watched, &tgid);
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

	bpf_map_delete_elem(&gc_inflight, &tid);
	if (!group_dead(ctx))
		return 0;
	if (bpf_map_lookup_elem(&watched, &tgid)) {
		emit(PMT_EV_EXIT, tgid, 0, true);
		bpf_map_delete_elem(&watched, &tgid);
	}
	forget_process(tgid);
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(handle_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid = parent->tgid, ctgid = child->tgid, val = PMT_WATCH_PYTHON;

	if (child->pid != ctgid || !bpf_map_lookup_elem(&watched, &ptgid))
		return 0; /* a new thread, or not ours */
	/* Watched before it runs: its exit or exec reports final counters
	 * even if userspace has not looked at it yet. */
	if (bpf_map_update_elem(&watched, &ctgid, &val, BPF_ANY))
		drop(PMT_DROP_WATCHED_FULL);
	emit(PMT_EV_FORK, ctgid, ptgid, false);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
