// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Memory syscalls of every process on the host.
 *
 * Hooks: syscalls:sys_exit_{mmap,munmap,mremap,brk} tracepoints (no
 * kprobes on the kernels we target). Only the exit is hooked: it knows
 * whether the call succeeded, and the arguments are still in the user
 * registers the kernel saved at syscall entry (x86-64 syscalls do not
 * modify them), so no enter hook and no per-thread stash are needed —
 * one BPF run per call instead of two plus a hash update and delete.
 * Maps written: mm_stats (tgid). Processes with a sites_cfg entry also
 * get allocation-site samples (sites.bpf.h) at new arenas and malloc heap
 * growth.
 * Full map: the call is not accounted and PMT_DROP_MM_MAP_FULL counts it.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "maps.bpf.h"
#include "sites.bpf.h"

#define PAGE_SIZE     4096ULL
#define PAGE_ALIGN(x) (((x) + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1))
/* uapi mman values (x86-64) */
#define PROT_WRITE    0x2
#define MAP_PRIVATE   0x02
#define MAP_TYPE      0x0f /* MAP_SHARED 0x01, MAP_PRIVATE 0x02, MAP_SHARED_VALIDATE 0x03 */
#define MAP_ANONYMOUS 0x20
#define MAP_STACK     0x20000
/* A syscall returning an address fails with -4095..-1. */
#define IS_ERR_VALUE(x) ((unsigned long)(x) >= (unsigned long)-4095)

static const struct pmt_mm_stats zero_mm;

/* This process's counters, or NULL when the call failed or the map is
 * full. */
static __always_inline struct pmt_mm_stats *mm_if_ok(long ret)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;

	if (IS_ERR_VALUE(ret))
		return NULL;
	return lookup_or_init(&mm_stats, tgid, &zero_mm, PMT_DROP_MM_MAP_FULL);
}

/* The user registers saved at syscall entry, where the arguments are
 * (x86-64 order: rdi rsi rdx r10 r8 r9). A BTF pointer: its fields are
 * read with direct loads, not a helper call each. */
static __always_inline struct pt_regs *syscall_regs(void)
{
	return (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
}

/* An anonymous private read/write mapping of a process whose sites are
 * sampled: a pymalloc arena (exactly arena_size; not when a refill probe
 * samples the pools already), or a large malloc (not a thread stack, not a
 * PROT_NONE reservation, not shared memory such as mmap.mmap(-1, n)). */
static __always_inline void mmap_site(const struct pt_regs *regs, __u64 len, __u64 addr)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct pmt_sites_cfg *sc;
	unsigned long prot, flags;

	/* what no process samples is left before the map lookup: the
	 * common small, file and shared mappings cost two register loads */
	if (len < PMT_SITES_MMAP_MIN)
		return;
	prot = regs->dx;
	flags = regs->r10;
	if ((flags & (MAP_ANONYMOUS | MAP_TYPE)) != (MAP_ANONYMOUS | MAP_PRIVATE) ||
	    (flags & MAP_STACK) || !(prot & PROT_WRITE))
		return;
	sc = bpf_map_lookup_elem(&sites_cfg, &tgid);
	if (!sc || sc->flags & PMT_SITES_F_OBJECTS)
		return;
	if (len == sc->arena_size) {
		if (!(sc->flags & PMT_SITES_F_REFILL))
			site_event(tgid, sc, PMT_SITE_ARENA, len, addr);
	} else if (len >= sc->malloc_min) {
		site_event(tgid, sc, PMT_SITE_MALLOC, len, addr);
	}
}

SEC("tp/syscalls/sys_exit_mmap")
int mmap_exit(struct trace_event_raw_sys_exit *ctx)
{
	struct pmt_mm_stats *mm = mm_if_ok(ctx->ret);
	struct pt_regs *regs;
	__u64 len;

	if (!mm)
		return 0;
	/* mmap(addr, len, prot, flags, ...) */
	regs = syscall_regs();
	len = PAGE_ALIGN(regs->si);
	__sync_fetch_and_add(&mm->mmap_calls, 1);
	__sync_fetch_and_add(&mm->mmap_bytes, len);
	mmap_site(regs, len, ctx->ret);
	return 0;
}

/* A sampled arena or large mapping (site_maps) of a process whose sites
 * are sampled went: its samples' objects are gone (the next mapping at
 * that address is another's). CPython unmaps an arena at its start
 * (_PyObject_ArenaMunmap, Objects/obmalloc.c), glibc an mmapped chunk
 * at the mapping's start (munmap_chunk, malloc/malloc.c): the address
 * mmap returned, which site_maps holds. */
static __always_inline void munmap_site(__u64 addr, __u64 len)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct pmt_obj_key mk = { .tgid = tgid, .addr = addr };
	struct pmt_site_key key = { .tgid = tgid, .kind = PMT_SITE_UNMAP };
	struct pmt_sites_cfg *sc;

	if (len < PMT_SITES_MMAP_MIN || bpf_map_delete_elem(&site_maps, &mk))
		return; /* not a sampled mapping's start */
	sc = bpf_map_lookup_elem(&sites_cfg, &tgid);
	if (!sc || sc->flags & PMT_SITES_F_OBJECTS)
		return;
	key.image = sc->image;
	site_record(&key, addr, len);
}

SEC("tp/syscalls/sys_exit_munmap")
int munmap_exit(struct trace_event_raw_sys_exit *ctx)
{
	struct pmt_mm_stats *mm = mm_if_ok(ctx->ret);
	struct pt_regs *regs;
	__u64 len;

	if (!mm)
		return 0;
	/* munmap(addr, len) */
	regs = syscall_regs();
	len = PAGE_ALIGN(regs->si);
	__sync_fetch_and_add(&mm->munmap_calls, 1);
	__sync_fetch_and_add(&mm->munmap_bytes, len);
	munmap_site(regs->di, len);
	return 0;
}

SEC("tp/syscalls/sys_exit_mremap")
int mremap_exit(struct trace_event_raw_sys_exit *ctx)
{
	struct pmt_mm_stats *mm = mm_if_ok(ctx->ret);
	struct pt_regs *regs;
	__u64 old_len, new_len;

	if (!mm)
		return 0;
	/* mremap(old_addr, old_len, new_len, flags, new_addr) */
	regs = syscall_regs();
	old_len = PAGE_ALIGN(regs->si);
	new_len = PAGE_ALIGN(regs->dx);
	__sync_fetch_and_add(&mm->mremap_calls, 1);
	if (new_len > old_len)
		__sync_fetch_and_add(&mm->mremap_grow_bytes, new_len - old_len);
	else
		__sync_fetch_and_add(&mm->mremap_shrink_bytes, old_len - new_len);
	/* a sampled mapping moved (glibc's mremap_chunk, a realloc of a large
	 * chunk): at its old address it is gone */
	if ((__u64)ctx->ret != regs->di)
		munmap_site(regs->di, old_len);
	return 0;
}

/* malloc heap growth of a process whose sites are sampled. */
static __always_inline void brk_site(__u64 grown)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct pmt_sites_cfg *sc = bpf_map_lookup_elem(&sites_cfg, &tgid);

	if (sc && !(sc->flags & PMT_SITES_F_OBJECTS))
		site_event(tgid, sc, PMT_SITE_MALLOC, grown, 0); /* somewhere in the heap */
}

/* The heap size is read from the mm after the call. brk() returns the
 * (possibly unchanged) break, never an error code. */
SEC("tp/syscalls/sys_exit_brk")
int brk_exit(struct trace_event_raw_sys_exit *ctx)
{
	struct pmt_mm_stats *mm = mm_if_ok(0);
	struct mm_struct *task_mm;
	unsigned long brk, start_brk;

	if (!mm)
		return 0;
	/* direct loads through the task's BTF pointer, as for the registers */
	task_mm = bpf_get_current_task_btf()->mm;
	if (!task_mm)
		return 0;
	brk = task_mm->brk;
	start_brk = task_mm->start_brk;
	__sync_fetch_and_add(&mm->brk_calls, 1);
	if (mm->brk_valid && brk >= start_brk && brk - start_brk > mm->brk_bytes)
		brk_site(brk - start_brk - mm->brk_bytes);
	/* Plain stores. brk(2) calls of two threads may finish in either
	 * order, so a stale size can win until the next brk(2) exit; both
	 * values are ones the heap really had, and brk calls are rare. */
	mm->brk_bytes = brk >= start_brk ? brk - start_brk : 0;
	mm->brk_valid = 1;
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
