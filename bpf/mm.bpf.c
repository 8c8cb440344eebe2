// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Memory syscalls of every process on the host.
 *
 * Hooks: syscalls:sys_{enter,exit}_{mmap,munmap,mremap,brk} tracepoints
 * (no kprobes on the kernels we target). Arguments are stashed per thread
 * at enter and accounted at exit only when the call succeeded.
 * Maps written: sc_inflight (tid), mm_stats (tgid).
 * Full maps: the event is not accounted and PMT_DROP_SC_INFLIGHT_FULL /
 * PMT_DROP_MM_MAP_FULL count it.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "maps.bpf.h"

#define PAGE_SIZE     4096ULL
#define PAGE_ALIGN(x) (((x) + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1))
/* A syscall returning an address fails with -4095..-1. */
#define IS_ERR_VALUE(x) ((unsigned long)(x) >= (unsigned long)-4095)

static const struct pmt_mm_stats zero_mm;

static __always_inline struct pmt_mm_stats *mm_of_current(void)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;

	return lookup_or_init(&mm_stats, tgid, &zero_mm, PMT_DROP_MM_MAP_FULL);
}

static __always_inline void stash(__u32 kind, __u64 len, __u64 new_len)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct pmt_sc_inflight sc = { .len = len, .new_len = new_len, .kind = kind };

	if (bpf_map_update_elem(&sc_inflight, &tid, &sc, BPF_ANY))
		drop(PMT_DROP_SC_INFLIGHT_FULL);
}

/* Pop the stashed arguments of this thread's syscall; false if none or if
 * the syscall failed. */
static __always_inline bool unstash(__u32 kind, long ret, struct pmt_sc_inflight *out)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct pmt_sc_inflight *sc = bpf_map_lookup_elem(&sc_inflight, &tid);

	if (!sc)
		return false;
	*out = *sc;
	bpf_map_delete_elem(&sc_inflight, &tid);
	return out->kind == kind && !IS_ERR_VALUE(ret);
}

SEC("tp/syscalls/sys_enter_mmap")
int mmap_enter(struct trace_event_raw_sys_enter *ctx)
{
	stash(PMT_SC_MMAP, ctx->args[1], 0);
	return 0;
}

SEC("tp/syscalls/sys_exit_mmap")
int mmap_exit(struct trace_event_raw_sys_exit *ctx)
{
	struct pmt_sc_inflight sc;
	struct pmt_mm_stats *mm;

	if (!unstash(PMT_SC_MMAP, ctx->ret, &sc) || !(mm = mm_of_current()))
		return 0;
	__sync_fetch_and_add(&mm->mmap_calls, 1);
	__sync_fetch_and_add(&mm->mmap_bytes, PAGE_ALIGN(sc.len));
	return 0;
}

SEC("tp/syscalls/sys_enter_munmap")
int munmap_enter(struct trace_event_raw_sys_enter *ctx)
{
	stash(PMT_SC_MUNMAP, ctx->args[1], 0);
	return 0;
}

SEC("tp/syscalls/sys_exit_munmap")
int munmap_exit(struct trace_event_raw_sys_exit *ctx)
{
	struct pmt_sc_inflight sc;
	struct pmt_mm_stats *mm;

	if (!unstash(PMT_SC_MUNMAP, ctx->ret, &sc) || !(mm = mm_of_current()))
		return 0;
	__sync_fetch_and_add(&mm->munmap_calls, 1);
	__sync_fetch_and_add(&mm->munmap_bytes, PAGE_ALIGN(sc.len));
	return 0;
}

SEC("tp/syscalls/sys_enter_mremap")
int mremap_enter(struct trace_event_raw_sys_enter *ctx)
{
	/* mremap(old_addr, old_len, new_len, flags, new_addr) */
	stash(PMT_SC_MREMAP, ctx->args[1], ctx->args[2]);
	return 0;
}

SEC("tp/syscalls/sys_exit_mremap")
int mremap_exit(struct trace_event_raw_sys_exit *ctx)
{
	struct pmt_sc_inflight sc;
	struct pmt_mm_stats *mm;
	__u64 old_len, new_len;

	if (!unstash(PMT_SC_MREMAP, ctx->ret, &sc) || !(mm = mm_of_current()))
		return 0;
	old_len = PAGE_ALIGN(sc.len);
	new_len = PAGE_ALIGN(sc.new_len);
	__sync_fetch_and_add(&mm->mremap_calls, 1);
	if (new_len > old_len)
		__sync_fetch_and_add(&mm->mremap_grow_bytes, new_len - old_len);
	else
		__sync_fetch_and_add(&mm->mremap_shrink_bytes, old_len - new_len);
	return 0;
}

/* brk needs no stash: the heap size is read from the mm after the call. */
SEC("tp/syscalls/sys_exit_brk")
int brk_exit(struct trace_event_raw_sys_exit *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct pmt_mm_stats *mm = mm_of_current();
	unsigned long brk, start_brk;

	if (!mm)
		return 0;
	brk = BPF_CORE_READ(task, mm, brk);
	start_brk = BPF_CORE_READ(task, mm, start_brk);
	__sync_fetch_and_add(&mm->brk_calls, 1);
	/* Plain stores: brk(2) is serialised by the mmap lock. */
	mm->brk_bytes = brk >= start_brk ? brk - start_brk : 0;
	mm->brk_valid = 1;
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
