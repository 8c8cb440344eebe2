// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * pymalloc activity seen from uprobes attached to one process at a time
 * (the pid filter keeps other users of the same libpython at zero cost).
 *
 * Default mode: one uprobe on the pool refill (allocate_from_new_pool, or
 * the call LTO left of it), a rare event: it runs when a size class has
 * no partly used pool left, i.e. once per pool's worth of allocations.
 * The attach cookie says which argument holds the size class (1 before
 * 3.12, 2 from 3.12 where the state comes first).
 * Maps written: heap_flow (tgid). Full: PMT_DROP_FLOW_MAP_FULL. With a
 * sites_cfg entry, each refill is also an allocation-site sample weighing
 * the pool's capacity (sites.bpf.h).
 *
 * --precise: uprobes on the object allocator's own functions
 * (_PyObject_Malloc/Calloc/Realloc/Free), every call. A freed block is
 * sized from its pool header, checked against the arena array the way
 * CPython's address_in_range() does; no hash map of live pointers. The
 * calls _PyObject_Realloc itself makes to Malloc/Free when it moves a
 * block are recognised by their return address and not counted twice.
 * Maps read: precise_cfg; written: precise (tgid).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "maps.bpf.h"
#include "sites.bpf.h"

#define SMALL_REQUEST_THRESHOLD 512
#define ARENA_OBJECT_SIZE	48 /* struct arena_object; address at +0 */
#define POOL_ARENAINDEX		32 /* struct pool_header: arenaindex, szidx */

static const struct pmt_heap_flow zero_flow;
static const struct pmt_precise_stats zero_precise;

SEC("uprobe")
int BPF_KPROBE(heap_refill, long arg1, long arg2)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u64 cls = bpf_get_attach_cookie(ctx) == 2 ? (__u32)arg2 : (__u32)arg1;
	struct pmt_sites_cfg *sc;
	struct pmt_heap_flow *f;

	if (cls >= PMT_NCLASSES) {
		drop(PMT_DROP_BAD_CLASS);
		return 0;
	}
	f = lookup_or_init(&heap_flow, tgid, &zero_flow, PMT_DROP_FLOW_MAP_FULL);
	if (f)
		__sync_fetch_and_add(&f->refills[cls], 1);
	sc = bpf_map_lookup_elem(&sites_cfg, &tgid);
	if (sc)
		site_sample(tgid, sc, PMT_SITE_POOL, cls, pool_capacity(sc, cls), 0);
	return 0;
}

/* Size class of a request, as pymalloc_alloc() decides it. */
static __always_inline __u32 request_bucket(__u64 size)
{
	if (size - 1 >= SMALL_REQUEST_THRESHOLD) /* 0 wraps: raw, like CPython */
		return PMT_BUCKET_OTHER;
	return (size - 1) >> 4;
}

/* Size class of the block p points to, or PMT_BUCKET_OTHER when p is not
 * inside a pymalloc arena (raw fallback). Unreadable memory is "not". */
static __always_inline __u32 block_bucket(const struct pmt_precise_cfg *cfg, __u64 p)
{
	__u64 pool, arenas, address;
	__u32 hdr[2], maxarenas;

	if (!cfg->pool_size)
		return PMT_BUCKET_OTHER;
	pool = p & ~((__u64)cfg->pool_size - 1);
	if (bpf_probe_read_user(hdr, sizeof(hdr), (void *)(pool + POOL_ARENAINDEX)) ||
	    bpf_probe_read_user(&maxarenas, sizeof(maxarenas), (void *)cfg->maxarenas_var) ||
	    hdr[0] >= maxarenas ||
	    bpf_probe_read_user(&arenas, sizeof(arenas), (void *)cfg->arenas_var) ||
	    bpf_probe_read_user(&address, sizeof(address),
				(void *)(arenas + (__u64)hdr[0] * ARENA_OBJECT_SIZE)))
		return PMT_BUCKET_OTHER;
	if (!address || p - address >= cfg->arena_size || hdr[1] >= PMT_NCLASSES)
		return PMT_BUCKET_OTHER;
	return hdr[1];
}

static __always_inline __u32 clamp(__u32 b)
{
	return b < PMT_BUCKET_OTHER ? b : PMT_BUCKET_OTHER;
}

/* Is this malloc/free hit a call from inside _PyObject_Realloc? The
 * probe sits before anything moves the stack pointer, so the return
 * address is at the top of the stack. */
static __always_inline bool nested_in_realloc(const struct pmt_precise_cfg *cfg,
					      struct pt_regs *ctx)
{
	__u64 ret;

	if (!cfg->nested_ret[0] || bpf_probe_read_user(&ret, sizeof(ret), (void *)PT_REGS_SP(ctx)))
		return false;
	for (int i = 0; i < PMT_PRECISE_NESTED; i++)
		if (cfg->nested_ret[i] && cfg->nested_ret[i] == ret)
			return true;
	return false;
}

SEC("uprobe")
int BPF_KPROBE(heap_precise, void *octx, __u64 a1, __u64 a2)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u64 fn = bpf_get_attach_cookie(ctx);
	struct pmt_precise_stats *st;
	struct pmt_precise_cfg *cfg;
	__u32 b;

	cfg = bpf_map_lookup_elem(&precise_cfg, &tgid);
	if (!cfg)
		return 0; /* being attached or detached */
	if ((fn == PMT_PRECISE_MALLOC || fn == PMT_PRECISE_FREE) && nested_in_realloc(cfg, ctx))
		return 0;
	st = lookup_or_init(&precise, tgid, &zero_precise, PMT_DROP_FLOW_MAP_FULL);
	if (!st)
		return 0;
	/* Every bucket index below goes through clamp(): a bound the
	 * verifier sees whatever the compiler does to the branches above. */
	switch (fn) {
	case PMT_PRECISE_MALLOC:
		b = clamp(request_bucket(a1));
		__sync_fetch_and_add(&st->allocs[b], 1);
		__sync_fetch_and_add(&st->alloc_bytes, a1);
		break;
	case PMT_PRECISE_CALLOC:
		/* PyObject_Calloc() rejected overflowing products before
		 * calling through the table. */
		b = clamp(request_bucket(a1 * a2));
		__sync_fetch_and_add(&st->allocs[b], 1);
		__sync_fetch_and_add(&st->alloc_bytes, a1 * a2);
		break;
	case PMT_PRECISE_REALLOC:
		if (!a1 && cfg->realloc_null_jumps)
			break; /* _PyObject_Malloc's probe counts it */
		if (!a1) {
			b = clamp(request_bucket(a2));
			__sync_fetch_and_add(&st->allocs[b], 1);
			__sync_fetch_and_add(&st->alloc_bytes, a2);
		} else {
			__sync_fetch_and_add(&st->reallocs, 1);
			__sync_fetch_and_add(&st->realloc_bytes, a2);
		}
		break;
	case PMT_PRECISE_FREE:
		if (!a1)
			break;
		b = clamp(block_bucket(cfg, a1));
		__sync_fetch_and_add(&st->frees[b], 1);
		break;
	}
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
