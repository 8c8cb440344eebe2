// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Process lifecycle; defines the maps shared by all pymemtop programs.
 *
 * Hooks: sched:sched_process_exec, sched:sched_process_exit tracepoints.
 * exec: every exec on the host is sent to userspace (it decides whether
 * the new image is CPython); the per-process counters restart, since the
 * address space is new. exit: per-thread stashes are freed; when the
 * whole thread group is gone its counters are freed too. For processes
 * userspace watches, exec and exit send the final counters first, so no
 * count is lost between the last poll and the end.
 * Maps written: events (ring buffer), and deletes from all the others.
 * Ring buffer full: PMT_DROP_RINGBUF_FULL (userspace still notices the
 * exit at its next /proc scan).
 */
#define PMT_DEFINE_MAPS
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "maps.bpf.h"

static __always_inline void emit(__u32 type, __u32 tgid, bool with_final)
{
	struct pmt_mm_stats *mm;
	struct pmt_gc_stats *gc;
	struct pmt_event *ev;

	ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
	if (!ev) {
		drop(PMT_DROP_RINGBUF_FULL);
		return;
	}
	ev->type = type;
	ev->pid = tgid;
	ev->ts_ns = bpf_ktime_get_ns();
	bpf_get_current_comm(ev->comm, sizeof(ev->comm));
	mm = with_final ? bpf_map_lookup_elem(&mm_stats, &tgid) : NULL;
	gc = with_final ? bpf_map_lookup_elem(&gc_stats, &tgid) : NULL;
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

static __always_inline void forget_process(__u32 tgid)
{
	bpf_map_delete_elem(&mm_stats, &tgid);
	bpf_map_delete_elem(&gc_stats, &tgid);
}

SEC("tp/sched/sched_process_exec")
int handle_exec(void *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	bool was_watched = bpf_map_lookup_elem(&watched, &tgid) != NULL;

	/* The final counters of the old image go out with the event. */
	emit(PMT_EV_EXEC, tgid, was_watched);
	forget_process(tgid);
	if (was_watched)
		bpf_map_delete_elem(&watched, &tgid);
	return 0;
}

/* Is the thread group dead? Kernels from 6.16 pass group_dead in the
 * tracepoint; before that, take the thread-group leader's exit. */
static __always_inline bool group_dead(struct trace_event_raw_sched_process_exit *ctx, __u32 tid,
				       __u32 tgid)
{
	if (bpf_core_field_exists(ctx->group_dead))
		return BPF_CORE_READ(ctx, group_dead);
	return tid == tgid;
}

SEC("tp/sched/sched_process_exit")
int handle_exit(struct trace_event_raw_sched_process_exit *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32, tid = (__u32)id;

	bpf_map_delete_elem(&gc_inflight, &tid);
	if (!group_dead(ctx, tid, tgid))
		return 0;
	if (bpf_map_lookup_elem(&watched, &tgid)) {
		emit(PMT_EV_EXIT, tgid, true);
		bpf_map_delete_elem(&watched, &tgid);
	}
	forget_process(tgid);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
