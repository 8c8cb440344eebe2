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
 *
 * --precise object samples (with sites on): about one allocation per
 * precise_cfg.sample_bytes requested is sampled (sample_object()): its
 * stack is walked and counted as a PMT_SITE_OBJECT site sample weighing
 * max(its size, sample_bytes), and its block is kept in
 * precise_objs until the free or realloc probe sees that block go (then
 * a PMT_SITE_FREED record tells userspace). A realloc counts as a new
 * allocation of its new size (tracemalloc's accounting too). What stays
 * alive is exact for each sample, not inferred from what a block holds
 * later.
 * Maps written: precise_cfg (the sampler's state), precise_objs,
 * precise_raw, site_counts, site_stacks, site_samples.
 *
 * --precise on an LTO build (per-call probes refused: the allocator is
 * compiled into its callers) samples class instances instead: the type
 * slots still call the exported PyType_GenericAlloc (tp_alloc), whose
 * return gives the object, and PyObject_GC_Del / PyObject_Free (tp_free),
 * which end it. Objects made without tp_alloc (lists, dicts, strs from
 * their own constructors) are not sampled.
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
	if (sc && !(sc->flags & PMT_SITES_F_OBJECTS))
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

/* The block pymalloc_alloc() is about to hand out for a request of class
 * cls: the free list head of the class's first used pool
 * (usedpools[2 * cls]->freeblock, Objects/obmalloc.c 3.8-3.15); 0 when
 * the class has no used pool (the allocation takes a new one) or what is
 * read is not a block of that pool. */
static __always_inline __u64 next_block(const struct pmt_precise_cfg *cfg, __u32 cls)
{
	__u64 slot = cfg->usedpools + (__u64)cls * 16, pool, bp;

	if (bpf_probe_read_user(&pool, sizeof(pool), (void *)slot) || pool == slot - 16 || !pool ||
	    pool & (cfg->pool_size - 1) || bpf_probe_read_user(&bp, sizeof(bp), (void *)(pool + 8)))
		return 0;
	if (bp < pool + POOL_HEADER || bp >= pool + cfg->pool_size)
		return 0;
	return bp;
}

/* Tell userspace that sample o at addr is gone: its site's key, with
 * the kind PMT_SITE_FREED. */
static __always_inline void send_freed(const struct pmt_obj *o, __u64 addr)
{
	struct pmt_site_key gone = o->key;

	gone.kind = PMT_SITE_FREED;
	site_record(&gone, addr, o->bytes);
}

/* Follow sample o at block addr until it is freed. */
static __always_inline void follow(__u32 tgid, __u64 addr, const struct pmt_obj *o)
{
	struct pmt_obj_key k = { .tgid = tgid, .addr = addr };
	struct pmt_obj *old = bpf_map_lookup_elem(&precise_objs, &k);

	if (old) /* its free was not seen: it ends now */
		send_freed(old, addr);
	if (bpf_map_update_elem(&precise_objs, &k, o, BPF_ANY)) {
		drop(PMT_DROP_OBJS_FULL);
		return;
	}
	site_record(&o->key, addr, o->bytes);
}

/* A sampled block goes (free, or realloc: a moved or resized block is
 * another object for the sampler). */
static __always_inline void unfollow(__u32 tgid, __u64 addr)
{
	struct pmt_obj_key k = { .tgid = tgid, .addr = addr };
	struct pmt_obj *o = bpf_map_lookup_elem(&precise_objs, &k), copy;

	if (!o)
		return;
	copy = *o; /* the entry's memory may be reused once deleted */
	if (bpf_map_delete_elem(&precise_objs, &k))
		return; /* another thread's free of it won */
	send_freed(&copy, addr);
}

/* Bytes to the next sampling point: uniform in 0.5..1.5 * sample_bytes. */
static __always_inline __s64 next_interval(const struct pmt_precise_cfg *cfg)
{
	return cfg->sample_bytes / 2 + bpf_get_prandom_u32() % (cfg->sample_bytes + 1);
}

/* An allocation of size bytes: sampled when it holds one of the sampling
 * points, which lie in the stream of bytes requested at intervals
 * uniform in 0.5..1.5 * sample_bytes (random, so that no allocation
 * pattern lines up with them). An allocation of s bytes then holds one
 * with probability s / sample_bytes while s <= sample_bytes / 2, and
 * surely from 1.5 * sample_bytes: its sample weighs max(s, sample_bytes),
 * the bytes it stands for. (Weighing a sample by the bytes since the
 * last one instead over-weighs large allocations and under-weighs what
 * follows them: measured, a leak made right after each response's body
 * read 0.7x of tracemalloc.) A small request's block is known now; a
 * large one's, and a realloc's (at_return), when the raw allocator or
 * _PyObject_Realloc returns (precise_raw). A sample due on a small
 * request whose class needs a new pool passes to the next allocation. */
static __always_inline void sample_object(struct pmt_precise_cfg *cfg, __u32 tgid, __u64 size,
					  bool at_return)
{
	struct pmt_obj o = { .key = { .tgid = tgid, .kind = PMT_SITE_OBJECT } };
	struct pmt_site_stack *st;
	struct pmt_sites_cfg *sc;
	__u64 addr = 0, tid;
	__u32 zero = 0;
	__s64 left;
	__u64 over;

	if (!cfg->sample_bytes)
		return;
	cfg->sample_left -= (__s64)size; /* under the GIL: no race with the other threads */
	if (cfg->sample_left > 0)
		return;
	if (!at_return && size - 1 < SMALL_REQUEST_THRESHOLD) {
		addr = next_block(cfg, (size - 1) >> 4);
		if (!addr)
			return;
	}
	sc = bpf_map_lookup_elem(&sites_cfg, &tgid);
	st = bpf_map_lookup_elem(&site_scratch, &zero);
	if (!sc || !st)
		return;
	o.bytes = size > cfg->sample_bytes ? size : cfg->sample_bytes;
	/* The next point counts from this one, not from the end of this
	 * allocation: restarting there would leave the 8 KiB after every
	 * large allocation unsampled (measured: a leak made right after each
	 * response's body read 0.45-0.74x of tracemalloc). */
	over = (__u64)-cfg->sample_left; /* bytes past the point, >= 0 */
	if (over >= cfg->sample_bytes)
		over %= cfg->sample_bytes; /* points passed inside one allocation: one sample */
	left = next_interval(cfg) - (__s64)over;
	if (left <= 0)
		left += next_interval(cfg);
	cfg->sample_left = left;
	o.key.image = sc->image;
	o.key.depth = walk(sc, st, &o.key.hash);
	if (!site_count(&o.key, st, PMT_NCLASSES, o.bytes))
		return;
	if (addr) {
		follow(tgid, addr, &o);
		return;
	}
	tid = (__u32)bpf_get_current_pid_tgid();
	bpf_map_update_elem(&precise_raw, &tid, &o, BPF_ANY);
}

/* The raw allocator or _PyObject_Realloc returned (a uretprobe): the
 * block of the object sample this thread is making, if any. (A realloc
 * that moves a small block to a large one calls the raw allocator
 * first: its return takes the sample, with the block realloc returns.) */
SEC("uprobe")
int BPF_KPROBE(heap_precise_ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id, tgid = id >> 32;
	struct pmt_obj *o = bpf_map_lookup_elem(&precise_raw, &tid);
	struct pmt_obj copy;
	__u64 addr = PT_REGS_RC(ctx);

	if (!o)
		return 0;
	copy = *o;
	bpf_map_delete_elem(&precise_raw, &tid);
	if (addr && copy.key.tgid == tgid)
		follow(tgid, addr, &copy);
	return 0;
}

#define TP_BASICSIZE	32 /* PyTypeObject, 3.8-3.15 */
#define TP_FLAGS	168
#define TPFLAGS_HAVE_GC (1UL << 14)

/* The bytes PyType_GenericAlloc(type, nitems) asks for, as
 * _PyObject_VAR_SIZE(type, nitems + 1) plus the GC header
 * (Objects/typeobject.c); the 3.11+ pre-header of managed dicts is not
 * counted. 0 if the type cannot be read. */
static __always_inline __u64 instance_size(__u64 type, __u64 nitems)
{
	__s64 size[2]; /* tp_basicsize, tp_itemsize */
	__u64 flags, n;

	if (bpf_probe_read_user(size, sizeof(size), (void *)(type + TP_BASICSIZE)) ||
	    bpf_probe_read_user(&flags, sizeof(flags), (void *)(type + TP_FLAGS)) || size[0] <= 0 ||
	    size[0] > (1 << 20) || size[1] < 0 || size[1] > (1 << 20) || nitems > (1 << 24))
		return 0;
	n = size[0] + (nitems + 1) * size[1];
	n = (n + 7) & ~7ULL;
	return n + (flags & TPFLAGS_HAVE_GC ? 16 : 0);
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
	switch (fn) {
	case PMT_PRECISE_TPALLOC:
		sample_object(cfg, tgid, instance_size((__u64)octx, a1), true);
		return 0;
	case PMT_PRECISE_GCDEL:
	case PMT_PRECISE_OBJFREE:
		if (octx && cfg->sample_bytes)
			unfollow(tgid, (__u64)octx);
		return 0;
	}
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
		sample_object(cfg, tgid, a1, false);
		break;
	case PMT_PRECISE_CALLOC:
		/* PyObject_Calloc() rejected overflowing products before
		 * calling through the table. */
		b = clamp(request_bucket(a1 * a2));
		__sync_fetch_and_add(&st->allocs[b], 1);
		__sync_fetch_and_add(&st->alloc_bytes, a1 * a2);
		sample_object(cfg, tgid, a1 * a2, false);
		break;
	case PMT_PRECISE_REALLOC:
		if (!a1 && cfg->realloc_null_jumps)
			break; /* _PyObject_Malloc's probe counts it */
		if (!a1) {
			b = clamp(request_bucket(a2));
			__sync_fetch_and_add(&st->allocs[b], 1);
			__sync_fetch_and_add(&st->alloc_bytes, a2);
			sample_object(cfg, tgid, a2, true);
		} else {
			__sync_fetch_and_add(&st->reallocs, 1);
			__sync_fetch_and_add(&st->realloc_bytes, a2);
			/* the block as resized is a new object of a2 bytes for the
			 * sampler, as for tracemalloc */
			if (cfg->sample_bytes) {
				unfollow(tgid, a1);
				sample_object(cfg, tgid, a2, true);
			}
		}
		break;
	case PMT_PRECISE_FREE:
		if (!a1)
			break;
		b = clamp(block_bucket(cfg, a1));
		__sync_fetch_and_add(&st->frees[b], 1);
		if (cfg->sample_bytes)
			unfollow(tgid, a1);
		break;
	}
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
