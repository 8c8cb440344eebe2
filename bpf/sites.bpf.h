/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Allocation sites: the allocating thread's Python stack, recorded at rare
 * events that stand for a known number of bytes of heap growth (a pool
 * refill, a new arena, malloc heap growth). Included by the programs that
 * see those events (heap.bpf.c's refill uprobe, mm.bpf.c's mmap and brk
 * tracepoints); each inlines its own copy.
 *
 * The thread's state is the GIL holder's (every pymalloc call and every
 * arena mmap holds the GIL); it is checked to be this thread's by its
 * thread_id (pthread_self(), i.e. the fs base on x86-64 glibc), so a
 * thread growing the malloc heap without the GIL is recorded with no
 * frames rather than with another thread's. Frames are recorded as (code
 * pointer, instruction, fingerprint of the code object); userspace names
 * them, and a code object freed and reused since has another fingerprint.
 * Maps read: sites_cfg (its rate limiter's state written); written:
 * site_stacks, site_counts (full: PMT_DROP_SITES_FULL). A frame that
 * cannot be read ends the stack there (PMT_DROP_SITES_WALK). Arena and
 * malloc-growth events over the process's rate (--sites-max-rate) are not
 * walked but counted under a depth-0 key of hash PMT_SITE_HASH_LIMITED.
 */
#ifndef PMT_SITES_BPF_H
#define PMT_SITES_BPF_H

#include <bpf/bpf_core_read.h>
#include "maps.bpf.h"

#define SITES_PRIME 0x100000001b3ULL
#define POOL_HEADER 48 /* struct pool_header */

static __always_inline __u64 read_u64(__u64 addr, bool *ok)
{
	__u64 v = 0;

	if (bpf_probe_read_user(&v, sizeof(v), (void *)addr))
		*ok = false;
	return v;
}

/* The calling thread's innermost Python frame, or 0. */
static __always_inline __u64 top_frame(const struct pmt_sites_cfg *cfg, bool *ok)
{
	struct task_struct *task = bpf_get_current_task_btf();
	__u64 tstate, frame, tid;

	tstate = read_u64(cfg->tstate_ptr, ok);
	if (cfg->tstate_deref && tstate)
		tstate = read_u64(tstate + cfg->tstate_deref, ok);
	if (!tstate)
		return 0;
	tid = read_u64(tstate + cfg->thread_id, ok);
	if (!*ok || tid != BPF_CORE_READ(task, thread.fsbase))
		return 0; /* the GIL is another thread's */
	frame = read_u64(tstate + cfg->top_frame, ok);
	if (cfg->cframe_frame >= 0 && frame)
		frame = read_u64(frame + cfg->cframe_frame, ok);
	return frame;
}

struct walk_ctx {
	const struct pmt_sites_cfg *cfg;
	struct pmt_site_stack *st;
	__u64 frame, hash;
	__u32 n, depth;
	bool ok;
};

/* One frame (a bpf_loop callback: verified once, not per iteration). */
static long walk_step(__u32 i, void *arg)
{
	struct walk_ctx *w = arg;
	const struct pmt_sites_cfg *cfg = w->cfg;
	struct pmt_site_frame *f;
	__u64 names[2] = {};
	__u64 code, instr = 0;
	__s32 firstlineno = 0;
	__u8 owner = 0;

	if (!w->frame || w->n >= w->depth || w->n >= PMT_SITES_MAX_DEPTH)
		return 1;
	if (cfg->owner >= 0 &&
	    !bpf_probe_read_user(&owner, sizeof(owner), (void *)(w->frame + cfg->owner)) &&
	    owner >= cfg->owner_skip) {
		w->frame = read_u64(w->frame + cfg->back, &w->ok);
		return w->ok ? 0 : 1;
	}
	code = read_u64(w->frame + cfg->code, &w->ok) & ~(__u64)cfg->code_tag_mask;
	if (bpf_probe_read_user(&instr, cfg->instr_size == 4 ? 4 : 8,
				(void *)(w->frame + cfg->instr)) ||
	    bpf_probe_read_user(names, sizeof(names), (void *)(code + cfg->co_filename)) ||
	    bpf_probe_read_user(&firstlineno, sizeof(firstlineno),
				(void *)(code + cfg->co_firstlineno)))
		w->ok = false;
	if (!w->ok)
		return 1;
	if (cfg->instr_size == 4)
		instr = (__u64)(__s64)(__s32)instr; /* f_lasti is -1 before the first */
	f = &w->st->frames[w->n & (PMT_SITES_MAX_DEPTH - 1)];
	f->code = code;
	f->instr = instr;
	f->fp = pmt_code_fp(names[0], names[1], (__u32)firstlineno);
	f->pad = 0;
	w->hash = (w->hash ^ code) * SITES_PRIME;
	w->hash = (w->hash ^ instr) * SITES_PRIME;
	w->hash = (w->hash ^ f->fp) * SITES_PRIME;
	w->n++;
	w->frame = read_u64(w->frame + cfg->back, &w->ok);
	return w->ok ? 0 : 1;
}

/* Walk the frames into st; returns how many were recorded and their hash. */
static __always_inline __u32 walk(const struct pmt_sites_cfg *cfg, struct pmt_site_stack *st,
				  __u64 *hash)
{
	struct walk_ctx w = { .cfg = cfg, .st = st, .hash = 0xcbf29ce484222325ULL, .ok = true };

	w.depth = cfg->depth < PMT_SITES_MAX_DEPTH ? cfg->depth : PMT_SITES_MAX_DEPTH;
	w.frame = top_frame(cfg, &w.ok);
	if (w.ok && w.frame)
		bpf_loop(PMT_SITES_MAX_WALK, walk_step, &w, 0);
	if (!w.ok)
		drop(PMT_DROP_SITES_WALK);
	*hash = w.n ? w.hash : 0;
	return w.n;
}

/* Count one event of weight bytes under key (cls: size class of a pool
 * refill, else PMT_NCLASSES); st: the key's frames, stored with it when
 * the key is new. False: not counted (the maps are full). */
static __always_inline bool site_count(const struct pmt_site_key *key,
				       const struct pmt_site_stack *st, __u32 cls, __u64 bytes)
{
	struct pmt_site_counts *c, fresh = {};

	c = bpf_map_lookup_elem(&site_counts, key);
	if (!c) {
		/* frames first: userspace reads them for every counted key */
		if (bpf_map_update_elem(&site_stacks, key, st, BPF_NOEXIST) &&
		    !bpf_map_lookup_elem(&site_stacks, key)) {
			drop(PMT_DROP_SITES_FULL);
			return false;
		}
		fresh.samples = 1;
		fresh.bytes = bytes;
		if (cls < PMT_NCLASSES)
			fresh.class_samples[cls] = 1;
		if (!bpf_map_update_elem(&site_counts, key, &fresh, BPF_NOEXIST))
			return true;
		c = bpf_map_lookup_elem(&site_counts, key); /* another CPU won */
		if (!c) {
			drop(PMT_DROP_SITES_FULL);
			return false;
		}
	}
	__sync_fetch_and_add(&c->samples, 1);
	__sync_fetch_and_add(&c->bytes, bytes);
	if (cls < PMT_NCLASSES)
		__sync_fetch_and_add(&c->class_samples[cls], 1);
	return true;
}

/* A sample's mapping goes to userspace, which follows its object. */
static __always_inline void site_record(const struct pmt_site_key *key, __u64 addr, __u64 bytes)
{
	struct pmt_site_sample *r = bpf_ringbuf_reserve(&site_samples, sizeof(*r), 0);

	if (!r) {
		drop(PMT_DROP_SAMPLES_FULL);
		return;
	}
	r->key = *key;
	r->addr = addr;
	r->bytes = bytes;
	bpf_ringbuf_submit(r, 0);
}

/* One sample of weight bytes for process tgid: the thread's stack is
 * walked and counted (cls as for site_count); addr: the new mapping
 * (arena, malloc chunk) whose object userspace follows, 0 none. */
static __always_inline void site_sample(__u32 tgid, const struct pmt_sites_cfg *cfg, __u32 kind,
					__u32 cls, __u64 bytes, __u64 addr)
{
	struct pmt_site_key key = { .tgid = tgid, .image = cfg->image, .kind = kind };
	struct pmt_site_stack *st;
	__u32 zero = 0;

	st = bpf_map_lookup_elem(&site_scratch, &zero);
	if (!st)
		return;
	key.depth = walk(cfg, st, &key.hash);
	site_count(&key, st, cls, bytes);
	if (addr) {
		struct pmt_obj_key mk = { .tgid = tgid, .addr = addr };

		bpf_map_update_elem(&site_maps, &mk, &bytes, BPF_ANY);
		site_record(&key, addr, bytes);
	}
}

/* Whether an arena or malloc-growth event may be walked under the
 * process's rate limit (generic cell rate algorithm: tat_ns is when the
 * next walk is due if walks came exactly every gap_ns; a walk is allowed
 * while that is at most a burst ahead of now). Two threads of a process
 * may race on tat_ns: then one walk more passes, never one fewer. */
static __always_inline bool site_rate_ok(struct pmt_sites_cfg *cfg)
{
	__u64 now, tat;

	if (!cfg->gap_ns)
		return true;
	now = bpf_ktime_get_ns();
	tat = cfg->tat_ns;
	if (tat > now + PMT_SITES_BURST_NS)
		return false;
	cfg->tat_ns = (tat > now ? tat : now) + cfg->gap_ns;
	return true;
}

/* An arena or malloc-growth event: sampled, or counted under the
 * process's rate-limited key when over the limit. */
static __always_inline void site_event(__u32 tgid, struct pmt_sites_cfg *cfg, __u32 kind,
				       __u64 bytes, __u64 addr)
{
	struct pmt_site_key key = { .tgid = tgid,
				     .image = cfg->image,
				     .kind = kind,
				     .hash = PMT_SITE_HASH_LIMITED };
	struct pmt_site_stack *st;
	__u32 zero = 0;

	if (site_rate_ok(cfg)) {
		site_sample(tgid, cfg, kind, PMT_NCLASSES, bytes, addr);
		return;
	}
	st = bpf_map_lookup_elem(&site_scratch, &zero); /* stored as the key's (empty) frames */
	if (st)
		site_count(&key, st, PMT_NCLASSES, bytes);
}

/* Bytes a fresh pool of class cls holds. */
static __always_inline __u64 pool_capacity(const struct pmt_sites_cfg *cfg, __u32 cls)
{
	__u32 block = (cls + 1) * 16;

	if (cfg->pool_size <= POOL_HEADER)
		return 0;
	return (__u64)((cfg->pool_size - POOL_HEADER) / block) * block;
}

#endif /* PMT_SITES_BPF_H */
