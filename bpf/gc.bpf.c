// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * CPython garbage collector: collections, objects collected and time per
 * generation, per process.
 *
 * Hooks, attached once per interpreter file (system-wide, so processes
 * started later are covered):
 *  - USDT python:gc__start(int generation) / python:gc__done(ssize_t n)
 *    where the build has them (--with-dtrace builds, e.g. Debian's);
 *  - otherwise a uprobe + uretprobe on the collector function found in
 *    the ELF symbol table (gc_collect_main, collect, collect.constprop.N).
 *    The attach cookie says where the generation is (enum pmt_gc_gen_kind).
 * Maps written: gc_inflight (tid), gc_stats (tgid).
 * Full maps: PMT_DROP_GC_INFLIGHT_FULL / PMT_DROP_GC_MAP_FULL; a "done"
 * without a "start" (attached mid-collection, or a lost stash) counts
 * PMT_DROP_GC_UNMATCHED.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/usdt.bpf.h>
#include "maps.bpf.h"

static const struct pmt_gc_stats zero_gc;

static __always_inline void gc_begin(__s32 generation, __u64 stats_addr)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct pmt_gc_inflight in = {
		.start_ns = bpf_ktime_get_ns(),
		.generation = generation,
		.stats_addr = stats_addr,
	};

	if (stats_addr) {
		/* Read the collection counters before; exit compares. */
		for (int i = 0; i < PMT_NGEN; i++) {
			if (bpf_probe_read_user(&in.before[i], sizeof(__u64),
						(void *)(stats_addr + i * PMT_GC_STATS_STRIDE))) {
				drop(PMT_DROP_READ_FAILED);
				return;
			}
		}
	}
	if (bpf_map_update_elem(&gc_inflight, &tid, &in, BPF_ANY))
		drop(PMT_DROP_GC_INFLIGHT_FULL);
}

/* Which generation's collection counter went up since gc_begin(); -1 if
 * none did (the collector returned without collecting). */
static __always_inline __s32 gen_from_stats(const struct pmt_gc_inflight *in)
{
	__u64 after;

	for (int i = PMT_NGEN - 1; i >= 0; i--) {
		if (bpf_probe_read_user(&after, sizeof(after),
					(void *)(in->stats_addr + i * PMT_GC_STATS_STRIDE))) {
			drop(PMT_DROP_READ_FAILED);
			return -1;
		}
		if (after != in->before[i])
			return i;
	}
	return -1;
}

static __always_inline void gc_end(__s64 collected)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id, tgid = id >> 32;
	struct pmt_gc_inflight in, *inp;
	struct pmt_gc_stats *st;
	__u64 dur;
	__s32 gen;
	__u32 g;

	inp = bpf_map_lookup_elem(&gc_inflight, &tid);
	if (!inp) {
		drop(PMT_DROP_GC_UNMATCHED);
		return;
	}
	in = *inp;
	bpf_map_delete_elem(&gc_inflight, &tid);
	dur = bpf_ktime_get_ns() - in.start_ns;
	gen = in.generation;
	if (in.stats_addr) {
		gen = gen_from_stats(&in);
		if (gen < 0)
			return; /* nothing was collected: not a collection */
	}
	st = lookup_or_init(&gc_stats, tgid, &zero_gc, PMT_DROP_GC_MAP_FULL);
	if (!st)
		return;
	if (gen < 0 || gen >= PMT_NGEN) {
		__sync_fetch_and_add(&st->unknown_gen, 1);
		return;
	}
	/* Unsigned and masked: a bound the verifier can see. */
	g = (__u32)gen & 3;
	if (g >= PMT_NGEN)
		return;
	__sync_fetch_and_add(&st->collections[g], 1);
	if (collected > 0)
		__sync_fetch_and_add(&st->collected[g], collected);
	__sync_fetch_and_add(&st->time_ns[g], dur);
}

SEC("usdt")
int BPF_USDT(gc_start_usdt, int generation)
{
	gc_begin(generation, 0);
	return 0;
}

SEC("usdt")
int BPF_USDT(gc_done_usdt, long collected)
{
	gc_end(collected);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(gc_enter_uprobe, long arg1, long arg2)
{
	__u64 cookie = bpf_get_attach_cookie(ctx);

	switch (PMT_GC_COOKIE_KIND(cookie)) {
	case PMT_GC_GEN_ARG1:
		gc_begin((int)arg1, 0);
		break;
	case PMT_GC_GEN_ARG2:
		gc_begin((int)arg2, 0);
		break;
	case PMT_GC_GEN_STATS_DIFF:
		/* The probe address and the GC state are in one ELF file, so
		 * their distance is fixed whatever the load address. */
		gc_begin(-1, PT_REGS_IP(ctx) + PMT_GC_COOKIE_DELTA(cookie));
		break;
	}
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(gc_exit_uretprobe, long ret)
{
	gc_end(ret);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
