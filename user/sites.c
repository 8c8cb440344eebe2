// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include "sites.h"

#define MALLOC_MIN PMT_SITES_MMAP_MIN

static uint64_t sym(const struct elf_file *ef, const char *name)
{
	struct elf_sym s;

	return elf_find_symbol(ef, name, &s) ? 0 : s.vaddr;
}

void sites_layout_find(const struct elf_file *ef, const struct py_info *pi,
		       struct sites_layout *out)
{
	const struct reg_layout *r = &pi->reg.l;

	memset(out, 0, sizeof(*out));
	out->major = pi->major;
	out->minor = pi->minor;
	if (!pi->reg.ok) {
		snprintf(out->reason, sizeof(out->reason), "%s", pi->reg.reason);
		return;
	}
	out->runtime = pi->reg.runtime;
	if (!out->runtime) {
		snprintf(out->reason, sizeof(out->reason), "_PyRuntime not found");
		return;
	}
	out->code = r->code;
	out->types.code = sym(ef, "PyCode_Type");
	out->types.unicode = sym(ef, "PyUnicode_Type");
	out->types.bytes = sym(ef, "PyBytes_Type");
	out->cfg = (struct pmt_sites_cfg){
		.tstate_ptr = r->tstate_at == REG_TSTATE_CURRENT ? (uint32_t)r->rt_tstate_current
								 : r->rt_interp_main,
		.tstate_deref =
			r->tstate_at == REG_TSTATE_GIL_HOLDER ? (uint32_t)r->is_gil_holder : 0,
		.thread_id = r->ts_thread_id,
		.top_frame = r->ts_top_frame,
		.cframe_frame = r->cf_current_frame,
		.back = r->fr_previous,
		.code = r->fr_code,
		.instr = r->fr_instr,
		.instr_size = r->fr_instr_size,
		.owner = r->fr_owner,
		.owner_skip = r->fr_owner_skip,
		.co_filename = r->code.co_filename,
		.co_firstlineno = r->code.co_firstlineno,
		.malloc_min = MALLOC_MIN,
		.code_tag_mask = r->fr_code_tag_bits,
	};
	out->ok = true;
}

void sites_cfg(const struct sites_layout *l, const struct pyheap_layout *heap, uint64_t bias,
	       int depth, unsigned int max_rate, uint32_t flags, struct pmt_sites_cfg *out)
{
	*out = l->cfg;
	out->gap_ns = max_rate ? 1000000000ULL / max_rate : 0;
	out->tstate_ptr = l->runtime + bias + l->cfg.tstate_ptr;
	out->depth = depth < 1 ? 1 : depth > PMT_SITES_MAX_DEPTH ? PMT_SITES_MAX_DEPTH : depth;
	out->arena_size = heap->arena_size;
	out->pool_size = heap->pool_size;
	out->flags = flags;
}

/* ---- naming frames -------------------------------------------------------- */

#define CODE_BUCKETS 256
#define REC_BUCKETS  1024
#define HIST	     7 /* recent window: values at the last 7 ticks, 10 s apart */
#define TICK_S	     (SITES_RECENT_S / (HIST - 1))

struct code_ent {
	uint64_t code;
	uint32_t fp;
	bool ok; /* named; else "[unknown code]" */
	struct pycode_info info;
	struct code_ent *next;
};

struct site_frame {
	const struct code_ent *ce; /* NULL: unknown code */
	int line; /* -1: none */
};

struct site_rec {
	struct pmt_site_key key;
	uint64_t samples, bytes;
	uint64_t live_bytes, live_samples; /* of its followed samples, at the last check */
	uint64_t followed; /* samples whose object is followed (arena, mmap'd malloc) */
	uint64_t followed_dead; /* of those, seen gone (no longer in the list) */
	uint32_t class_samples[PMT_NCLASSES];
	uint64_t hist_bytes[HIST], hist_samples[HIST];
	int nframes;
	struct site_frame *frames; /* innermost first */
	struct site_rec *next;
};

/* A sample whose object is followed: the first block of its arena's
 * first pool, or its malloc'd mapping. */
enum { LS_NEW, LS_ALIVE, LS_DEAD };
struct live_sample {
	struct pmt_site_key key;
	uint64_t addr, bytes;
	uint64_t label[3]; /* the object's header words when first seen */
	uint64_t fp; /* and a hash of its first fields (its identity, not only its type) */
	uint8_t state, looks; /* looks: checks while LS_NEW */
};

/* An object sample (--precise): its block, which BPF follows to its free
 * (precise_objs); dead once the PMT_SITE_FREED record came, kept until
 * its site is counted. */
struct obj_ent {
	struct pmt_site_key key; /* its site's (kind PMT_SITE_OBJECT) */
	uint64_t addr, bytes;
	bool dead;
	struct obj_ent *next;
};

#define OBJ_BUCKETS 4096

static size_t obj_bucket(uint64_t addr)
{
	return (size_t)((addr >> 4) * 0x9e3779b97f4a7c15ull >> 52); /* 12 bits */
}

struct sites_proc {
	int pid;
	struct live_sample *live;
	size_t nlive, caplive;
	bool live_checked; /* a check ran: live figures mean something */
	size_t live_cursor; /* the next older sample a check reads (pick_checks) */
	const struct sites_layout *l;
	const struct pycode_layout *pl;
	struct pycode_types types; /* in this process (0: unknown) */
	bool refill, objects, instances;
	uint32_t pool_size;
	struct obj_ent **objs; /* object samples (--precise), by block; NULL until one */
	size_t nobjs;
	struct code_ent *codes[CODE_BUCKETS];
	struct site_rec *recs[REC_BUCKETS];
	size_t nrecs;
	int slot, ticks;
	double t0, last_tick;
};

static const struct code_ent unknown_code = { .ok = false };

static int read_target(void *ctx, uint64_t addr, void *buf, size_t len)
{
	int pid = *(int *)ctx;
	struct iovec local = { buf, len }, remote = { (void *)(uintptr_t)addr, len };
	ssize_t n = process_vm_readv(pid, &local, 1, &remote, 1, 0);

	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EFAULT;
}

static const struct code_ent *code_named(struct sites_proc *sp, uint64_t code, uint32_t fp)
{
	size_t b = ((code >> 4) ^ fp) % CODE_BUCKETS;
	struct code_ent *ce;

	for (ce = sp->codes[b]; ce; ce = ce->next)
		if (ce->code == code && ce->fp == fp)
			return ce;
	ce = calloc(1, sizeof(*ce));
	if (!ce)
		return &unknown_code;
	ce->code = code;
	ce->fp = fp;
	/* named only if it is still the code object that was sampled */
	ce->ok = !pycode_read(sp->pl, &sp->types, read_target, &sp->pid, code, &ce->info) &&
		 ce->info.fp == fp;
	if (!ce->ok)
		pycode_info_free(&ce->info);
	ce->next = sp->codes[b];
	sp->codes[b] = ce;
	return ce;
}

static int frame_line(const struct sites_proc *sp, const struct code_ent *ce, uint64_t instr)
{
	uint32_t off;

	if (!ce->ok)
		return -1;
	if (pycode_offset(sp->pl, ce->code, instr, ce->info.code_bytes, &off))
		return ce->info.firstlineno;
	return pycode_line(sp->pl, ce->info.linetable, ce->info.linetable_len, ce->info.firstlineno,
			   off);
}

struct sites_proc *sites_proc_new(int pid, const struct sites_layout *l, uint64_t bias,
				  const struct pmt_sites_cfg *cfg, double now)
{
	struct sites_proc *sp = calloc(1, sizeof(*sp));

	if (!sp)
		return NULL;
	sp->pid = pid;
	sp->l = l;
	sp->pl = &l->code;
	sp->types.code = l->types.code ? l->types.code + bias : 0;
	sp->types.unicode = l->types.unicode ? l->types.unicode + bias : 0;
	sp->types.bytes = l->types.bytes ? l->types.bytes + bias : 0;
	sp->refill = cfg->flags & PMT_SITES_F_REFILL;
	sp->objects = cfg->flags & PMT_SITES_F_OBJECTS;
	sp->instances = cfg->flags & PMT_SITES_F_INSTANCES;
	sp->pool_size = cfg->pool_size;
	sp->t0 = sp->last_tick = now;
	return sp;
}

void sites_proc_free(struct sites_proc *sp)
{
	if (!sp)
		return;
	free(sp->live);
	for (int b = 0; sp->objs && b < OBJ_BUCKETS; b++)
		while (sp->objs[b]) {
			struct obj_ent *next = sp->objs[b]->next;

			free(sp->objs[b]);
			sp->objs[b] = next;
		}
	free(sp->objs);
	for (int b = 0; b < CODE_BUCKETS; b++)
		while (sp->codes[b]) {
			struct code_ent *next = sp->codes[b]->next;

			pycode_info_free(&sp->codes[b]->info);
			free(sp->codes[b]);
			sp->codes[b] = next;
		}
	for (int b = 0; b < REC_BUCKETS; b++)
		while (sp->recs[b]) {
			struct site_rec *next = sp->recs[b]->next;

			free(sp->recs[b]->frames);
			free(sp->recs[b]);
			sp->recs[b] = next;
		}
	free(sp);
}

static size_t rec_bucket(const struct pmt_site_key *k)
{
	return (k->hash ^ ((uint64_t)k->kind << 40) ^ k->depth) % REC_BUCKETS;
}

static bool same_key(const struct pmt_site_key *a, const struct pmt_site_key *b)
{
	return a->tgid == b->tgid && a->image == b->image && a->kind == b->kind &&
	       a->depth == b->depth && a->hash == b->hash;
}

static struct site_rec *rec_find(const struct sites_proc *sp, const struct pmt_site_key *k)
{
	for (struct site_rec *r = sp->recs[rec_bucket(k)]; r; r = r->next)
		if (same_key(&r->key, k))
			return r;
	return NULL;
}

bool sites_proc_has(const struct sites_proc *sp, const struct pmt_site_key *k)
{
	return rec_find(sp, k) != NULL;
}

void sites_proc_update(struct sites_proc *sp, const struct pmt_site_key *k,
		       const struct pmt_site_counts *c, const struct pmt_site_stack *st)
{
	struct site_rec *r = rec_find(sp, k);

	if (!r) {
		int n = k->depth <= PMT_SITES_MAX_DEPTH ? k->depth : PMT_SITES_MAX_DEPTH;

		if (!st)
			return;
		r = calloc(1, sizeof(*r));
		if (!r)
			return;
		r->frames = n ? calloc(n, sizeof(*r->frames)) : NULL;
		if (n && !r->frames) {
			free(r);
			return;
		}
		r->key = *k;
		r->nframes = n;
		for (int i = 0; i < n; i++) {
			const struct pmt_site_frame *f = &st->frames[i];
			const struct code_ent *ce = code_named(sp, f->code, f->fp);

			r->frames[i].ce = ce->ok ? ce : NULL;
			r->frames[i].line = frame_line(sp, ce, f->instr);
		}
		r->next = sp->recs[rec_bucket(k)];
		sp->recs[rec_bucket(k)] = r;
		sp->nrecs++;
	}
	/* BPF counters only grow; a smaller value is a stale read */
	if (c->bytes >= r->bytes) {
		r->samples = c->samples;
		r->bytes = c->bytes;
		memcpy(r->class_samples, c->class_samples, sizeof(r->class_samples));
	}
}

void sites_proc_foreach_key(const struct sites_proc *sp,
			    void (*cb)(const struct pmt_site_key *k, void *ctx), void *ctx)
{
	for (int b = 0; b < REC_BUCKETS; b++)
		for (const struct site_rec *r = sp->recs[b]; r; r = r->next)
			cb(&r->key, ctx);
}

void sites_proc_tick(struct sites_proc *sp, double now)
{
	if (now - sp->last_tick < TICK_S)
		return;
	sp->last_tick = now;
	sp->slot = (sp->slot + 1) % HIST;
	sp->ticks++;
	for (int b = 0; b < REC_BUCKETS; b++)
		for (struct site_rec *r = sp->recs[b]; r; r = r->next) {
			r->hist_bytes[sp->slot] = r->bytes;
			r->hist_samples[sp->slot] = r->samples;
		}
}

double sites_proc_recent_seconds(const struct sites_proc *sp, double now)
{
	/* the oldest value kept is from HIST - 1 ticks ago, or the start */
	if (sp->ticks < HIST - 1)
		return now - sp->t0;
	return (HIST - 1) * TICK_S + (now - sp->last_tick);
}

static uint64_t recent(const struct sites_proc *sp, const uint64_t *hist, uint64_t now_v)
{
	uint64_t then = sp->ticks < HIST - 1 ? 0 : hist[(sp->slot + 1) % HIST];

	return now_v >= then ? now_v - then : 0;
}

void sites_proc_totals(const struct sites_proc *sp, uint64_t *bytes, uint64_t *samples,
		       uint64_t *recent_bytes, uint64_t *recent_samples)
{
	*bytes = *samples = *recent_bytes = *recent_samples = 0;
	for (int b = 0; b < REC_BUCKETS; b++)
		for (struct site_rec *r = sp->recs[b]; r; r = r->next) {
			*bytes += r->bytes;
			*samples += r->samples;
			*recent_bytes += recent(sp, r->hist_bytes, r->bytes);
			*recent_samples += recent(sp, r->hist_samples, r->samples);
		}
}

bool sites_proc_live_totals(const struct sites_proc *sp, uint64_t *bytes, uint64_t *samples)
{
	uint64_t followed = 0;

	*bytes = *samples = 0;
	for (int b = 0; b < REC_BUCKETS; b++)
		for (struct site_rec *r = sp->recs[b]; r; r = r->next) {
			*bytes += r->live_bytes;
			*samples += r->live_samples;
			followed += r->followed;
		}
	return sp->live_checked && followed;
}

const char *sites_proc_source(const struct sites_proc *sp)
{
	if (sp->objects)
		return sp->instances ? "instance" : "object";
	return sp->refill ? "pool_refill+malloc" : "arena+malloc";
}

/* ---- what stays alive --------------------------------------------------------- */

/* An object sample's record, or its free's. */
static int obj_record(struct sites_proc *sp, const struct pmt_site_sample *smp)
{
	struct obj_ent *o;
	size_t b = obj_bucket(smp->addr);

	if (!sp->objs && !(sp->objs = calloc(OBJ_BUCKETS, sizeof(*sp->objs))))
		return -ENOMEM;
	for (o = sp->objs[b]; o; o = o->next)
		if (o->addr == smp->addr && !o->dead)
			break;
	/* a new sample at a followed block: the free's record was lost
	 * (BPF sends it first), so that object is gone */
	if (o)
		o->dead = true;
	if (smp->key.kind == PMT_SITE_FREED || sp->nobjs >= PMT_PRECISE_OBJS)
		return 0;
	o = calloc(1, sizeof(*o));
	if (!o)
		return -ENOMEM;
	o->key = smp->key;
	o->addr = smp->addr;
	o->bytes = smp->bytes;
	o->next = sp->objs[b];
	sp->objs[b] = o;
	sp->nobjs++;
	return 0;
}

/* The object samples into their sites' live figures; the dead whose site
 * is counted go. */
static void obj_totals(struct sites_proc *sp)
{
	for (int b = 0; sp->objs && b < OBJ_BUCKETS; b++) {
		struct obj_ent **pp = &sp->objs[b];

		while (*pp) {
			struct obj_ent *o = *pp;
			struct site_rec *r = rec_find(sp, &o->key);

			if (!r) { /* its site's counts are not polled yet */
				pp = &o->next;
				continue;
			}
			r->followed++;
			if (o->dead) {
				r->followed_dead++;
				*pp = o->next;
				free(o);
				sp->nobjs--;
				continue;
			}
			r->live_bytes += o->bytes;
			r->live_samples++;
			pp = &o->next;
		}
	}
}

int sites_proc_add_sample(struct sites_proc *sp, const struct pmt_site_sample *smp)
{
	struct live_sample *ls;

	if (smp->key.kind == PMT_SITE_OBJECT || smp->key.kind == PMT_SITE_FREED)
		return obj_record(sp, smp);

	if (smp->key.kind == PMT_SITE_UNMAP) { /* their mappings went: so did they */
		for (size_t i = 0; i < sp->nlive; i++)
			if (sp->live[i].addr >= smp->addr &&
			    sp->live[i].addr < smp->addr + smp->bytes)
				sp->live[i].state = LS_DEAD;
		return 0;
	}
	if (smp->key.kind != PMT_SITE_ARENA && smp->key.kind != PMT_SITE_MALLOC)
		return 0;
	if (sp->nlive == SITES_LIVE_MAX)
		return 0; /* not followed */
	if (sp->nlive == sp->caplive) {
		size_t cap = sp->caplive ? 2 * sp->caplive : 256;

		ls = realloc(sp->live, cap * sizeof(*ls));
		if (!ls)
			return -ENOMEM;
		sp->live = ls;
		sp->caplive = cap;
	}
	ls = &sp->live[sp->nlive++];
	memset(ls, 0, sizeof(*ls));
	ls->key = smp->key;
	ls->addr = smp->addr;
	ls->bytes = smp->bytes;
	return 0;
}

/* Where a sample's object is read: an arena's first pool (CPython aligns
 * the arena's pool_address up to a pool, new_arena() in
 * Objects/obmalloc.c), whose first block is the allocation that asked
 * for the arena; a malloc'd mapping's first bytes. */
static uint64_t sample_pool(const struct live_sample *ls, uint32_t pool_size)
{
	return (ls->addr + pool_size - 1) & ~((uint64_t)pool_size - 1);
}

/* One sample's state from what was read: the pool header (48 bytes) and
 * the first block's first PYHEAP_FIRST_BYTES; or, for malloc, whether its
 * mapping could be read. */
#define LIVE_READ (48 + 96) /* a pool header, and its first block's first 96 bytes */

/* What tells one object from another of its type in the same block: its
 * type and first fields after the reference count (and after the
 * PyGC_Head, whose links change as other objects come and go), up to 40
 * bytes (FNV-1a). Two objects of one type made by one line of code in
 * turn (a request's dicts) still differ in them (their keys, values,
 * lengths), a kept object does not (unless it is changed in place). */
static uint64_t fingerprint(const struct reg_layout *r, const uint8_t *blk, uint32_t bs,
			    const uint64_t label[3])
{
	uint32_t off[3], from, to;
	int n = pyheap_header_offsets(r, bs, off), k = 0;
	uint64_t h = 0xcbf29ce484222325ull;

	while (k < n && !label[k])
		k++;
	if (k == n)
		return 0;
	from = off[k] + r->ob_type;
	to = from + 40 < bs ? from + 40 : bs;
	if (to > LIVE_READ - 48)
		to = LIVE_READ - 48;
	for (uint32_t i = from; i < to; i++)
		h = (h ^ blk[i]) * 0x100000001b3ull;
	return h;
}

static void judge(struct live_sample *ls, const struct reg_layout *r, const uint8_t *hdr,
		  bool read_ok)
{
	uint32_t count, szidx, next;
	uint64_t label[3], fp;

	if (ls->key.kind == PMT_SITE_MALLOC) {
		ls->state = read_ok ? LS_ALIVE : LS_DEAD;
		return;
	}
	memcpy(&count, hdr, 4);
	memcpy(&szidx, hdr + 36, 4);
	memcpy(&next, hdr + 40, 4);
	if (!read_ok || szidx >= PMT_NCLASSES || !count || next <= 48) {
		/* not carved yet right after the mmap; else gone */
		ls->state = ls->state == LS_NEW && read_ok && ++ls->looks < 3 ? LS_NEW : LS_DEAD;
		return;
	}
	pyheap_block_label(r, hdr + 48, (szidx + 1) * 16, label);
	if (!label[0] && !label[1] && !label[2]) {
		ls->state = ls->state == LS_NEW && ++ls->looks < 3 ? LS_NEW : LS_DEAD;
		return;
	}
	fp = fingerprint(r, hdr + 48, (szidx + 1) * 16, label);
	if (ls->state == LS_NEW) {
		memcpy(ls->label, label, sizeof(label));
		ls->fp = fp;
		ls->state = LS_ALIVE;
	} else if (memcmp(ls->label, label, sizeof(label)) || ls->fp != fp) {
		ls->state = LS_DEAD; /* another object in its block: the sample's is gone */
	}
}

/* Read up to SITES_LIVE_CHECK samples' objects at once; -ESRCH. */
static int read_samples(int pid, uint32_t pool_size, struct live_sample *const *v, size_t n,
			uint8_t (*buf)[LIVE_READ], bool *ok)
{
	struct iovec *lo = calloc(n ? n : 1, sizeof(*lo)), *re = calloc(n ? n : 1, sizeof(*re));
	int err = lo && re ? 0 : -ENOMEM;

	for (size_t i = 0; !err && i < n; i++) {
		lo[i] = (struct iovec){ buf[i],
					v[i]->key.kind == PMT_SITE_MALLOC ? 16 : sizeof(buf[i]) };
		re[i] = (struct iovec){ (void *)(uintptr_t)(v[i]->key.kind == PMT_SITE_MALLOC
								    ? v[i]->addr
								    : sample_pool(v[i], pool_size)),
					lo[i].iov_len };
	}
	/* batched; a mapping that is gone does not hide the rest */
	if (!err)
		err = pyheap_readv_each(pid, lo, re, (int)n, ok);
	free(lo);
	free(re);
	return err;
}

/* Sum the live samples into their records. */
static void live_totals(struct sites_proc *sp)
{
	for (int b = 0; b < REC_BUCKETS; b++)
		for (struct site_rec *r = sp->recs[b]; r; r = r->next) {
			r->live_bytes = r->live_samples = 0;
			r->followed = r->followed_dead;
		}
	obj_totals(sp);
	for (size_t i = 0; i < sp->nlive; i++) {
		struct site_rec *r = rec_find(sp, &sp->live[i].key);

		if (!r)
			continue;
		r->followed++;
		if (sp->live[i].state != LS_DEAD) { /* a new one counts until seen gone */
			r->live_bytes += sp->live[i].bytes;
			r->live_samples++;
		}
	}
}

/* The samples a check reads: all while they are at most SITES_LIVE_CHECK;
 * else the newest half of that (they are the ones that change) and as
 * many older ones in turn from a cursor that goes round, so each sample
 * is read again within SITES_LIVE_MAX / (SITES_LIVE_CHECK / 2) checks. */
static size_t pick_checks(struct sites_proc *sp, struct live_sample **sel)
{
	size_t half = SITES_LIVE_CHECK / 2, older, n = 0;

	if (sp->nlive <= SITES_LIVE_CHECK) {
		for (size_t i = 0; i < sp->nlive; i++)
			sel[n++] = &sp->live[i];
		return n;
	}
	older = sp->nlive - half; /* more than half: no sample twice */
	if (sp->live_cursor >= older)
		sp->live_cursor = 0;
	for (size_t i = 0; i < half; i++)
		sel[n++] = &sp->live[(sp->live_cursor + i) % older];
	sp->live_cursor = (sp->live_cursor + half) % older;
	for (size_t i = older; i < sp->nlive; i++)
		sel[n++] = &sp->live[i];
	return n;
}

int sites_proc_check_live(struct sites_proc *sp, const struct reg_layout *r, uint32_t pool_size)
{
	size_t n = sp->nlive < SITES_LIVE_CHECK ? sp->nlive : SITES_LIVE_CHECK, k = 0;
	uint8_t(*buf)[LIVE_READ] = calloc(n ? n : 1, sizeof(*buf));
	struct live_sample **sel = calloc(n ? n : 1, sizeof(*sel));
	bool *ok = calloc(n ? n : 1, sizeof(*ok));
	int err = !buf || !sel || !ok ? -ENOMEM : 0;

	if (!err) {
		n = pick_checks(sp, sel);
		err = read_samples(sp->pid, pool_size, sel, n, buf, ok);
	}
	for (size_t i = 0; !err && i < n; i++)
		judge(sel[i], r, buf[i], ok[i]);
	/* the dead go (their bytes are no longer live), the rest keep their order */
	for (size_t i = 0; !err && i < sp->nlive; i++) {
		struct site_rec *rec =
			sp->live[i].state == LS_DEAD ? rec_find(sp, &sp->live[i].key) : NULL;

		if (rec)
			rec->followed_dead++; /* its site shows 0 live, not unknown */
		else /* alive, or dead before its site's counts were polled: kept */
			sp->live[k++] = sp->live[i];
	}
	if (!err)
		sp->nlive = k;
	free(buf);
	free(sel);
	free(ok);
	if (!err) {
		sp->live_checked = true;
		live_totals(sp);
	}
	return err;
}

int sites_proc_look_newest(struct sites_proc *sp, const struct reg_layout *r, uint32_t pool_size)
{
	uint8_t buf[1][LIVE_READ];
	struct live_sample *newest;
	bool ok;
	int err;

	if (!sp->nlive || sp->live[sp->nlive - 1].state != LS_NEW)
		return 0;
	newest = &sp->live[sp->nlive - 1];
	err = read_samples(sp->pid, pool_size, &newest, 1, buf, &ok);
	if (!err)
		judge(newest, r, buf[0], ok);
	return err;
}

/* ---- output --------------------------------------------------------------- */

static const char *kind_name(int kind)
{
	switch (kind) {
	case PMT_SITE_POOL:
		return "pool_refill";
	case PMT_SITE_ARENA:
		return "arena";
	case PMT_SITE_OBJECT:
		return "object";
	default:
		return "malloc";
	}
}

/* The name of a stack without frames: hash 0, the thread had no Python
 * frames; PMT_SITE_HASH_LIMITED, events the rate limit kept from being
 * walked. NULL for a stack with frames. */
static const char *frameless_name(const struct site_rec *r)
{
	if (r->nframes)
		return NULL;
	return r->key.hash == PMT_SITE_HASH_LIMITED ? "[not walked: over --sites-max-rate]"
						    : "[no Python frames]";
}

/* A site: the innermost frame's (code, line) and the event kind; stacks
 * without frames by their name. */
struct group {
	const struct code_ent *ce;
	const char *frameless;
	int line, kind;
	uint64_t bytes, samples, recent_bytes, recent_samples;
	uint64_t live_bytes, live_samples, followed;
	uint64_t class_bytes[PMT_NCLASSES];
	const struct site_rec *heaviest;
};

static void group_key(const struct site_rec *r, struct group *g)
{
	g->kind = r->key.kind;
	g->frameless = frameless_name(r);
	g->ce = r->nframes ? r->frames[0].ce : NULL;
	g->line = r->nframes ? r->frames[0].line : -1;
}

static int cmp_key(const void *pa, const void *pb)
{
	const struct group *a = pa, *b = pb;

	if (a->kind != b->kind)
		return a->kind - b->kind;
	if (a->frameless != b->frameless) /* the same string constants */
		return !a->frameless ? -1 : !b->frameless ? 1 : strcmp(a->frameless, b->frameless);
	if (a->ce != b->ce)
		return (uintptr_t)a->ce < (uintptr_t)b->ce ? -1 : 1;
	return a->line - b->line;
}

static int cmp_live(const void *pa, const void *pb);

static int cmp_bytes(const void *pa, const void *pb)
{
	const struct group *a = pa, *b = pb;

	if (a->bytes != b->bytes)
		return a->bytes > b->bytes ? -1 : 1;
	if (a->samples != b->samples)
		return a->samples > b->samples ? -1 : 1;
	return cmp_key(pa, pb);
}

/* Most live bytes first, then most flow; a site none of whose samples
 * can be followed (pool refills, brk growth) by its flow. */
static uint64_t live_key(const struct group *g)
{
	return g->followed ? g->live_bytes : g->bytes;
}

static int cmp_live(const void *pa, const void *pb)
{
	const struct group *a = pa, *b = pb;

	if (live_key(a) != live_key(b))
		return live_key(a) > live_key(b) ? -1 : 1;
	return cmp_bytes(pa, pb);
}

/* Sites (grouped, largest first by order) into *out; returns how many. */
static size_t grouped(const struct sites_proc *sp, enum sites_order order, struct group **out)
{
	struct group *g = sp->nrecs ? calloc(sp->nrecs, sizeof(*g)) : NULL;
	size_t n = 0, m = 0;

	*out = NULL;
	if (!g)
		return 0;
	for (int b = 0; b < REC_BUCKETS; b++)
		for (const struct site_rec *r = sp->recs[b]; r && n < sp->nrecs; r = r->next) {
			struct group *x = &g[n++];

			group_key(r, x);
			x->bytes = r->bytes;
			x->samples = r->samples;
			x->recent_bytes = recent(sp, r->hist_bytes, r->bytes);
			x->recent_samples = recent(sp, r->hist_samples, r->samples);
			x->live_bytes = r->live_bytes;
			x->live_samples = r->live_samples;
			x->followed = r->followed;
			for (int c = 0; c < PMT_NCLASSES; c++)
				x->class_bytes[c] = (uint64_t)r->class_samples[c] *
						    pyheap_pool_capacity(c, sp->pool_size) *
						    (c + 1) * 16;
			x->heaviest = r;
		}
	qsort(g, n, sizeof(*g), cmp_key);
	for (size_t i = 0; i < n; i++) {
		if (m && !cmp_key(&g[m - 1], &g[i])) {
			struct group *d = &g[m - 1];

			if (g[i].bytes > d->heaviest->bytes)
				d->heaviest = g[i].heaviest;
			d->bytes += g[i].bytes;
			d->samples += g[i].samples;
			d->recent_bytes += g[i].recent_bytes;
			d->recent_samples += g[i].recent_samples;
			d->live_bytes += g[i].live_bytes;
			d->live_samples += g[i].live_samples;
			d->followed += g[i].followed;
			for (int c = 0; c < PMT_NCLASSES; c++)
				d->class_bytes[c] += g[i].class_bytes[c];
		} else {
			g[m++] = g[i];
		}
	}
	qsort(g, m, sizeof(*g), order == SITES_BY_LIVE && sp->live_checked ? cmp_live : cmp_bytes);
	*out = g;
	return m;
}

static void frame_info(const struct site_frame *f, struct pm_frame *out)
{
	out->function = f->ce ? f->ce->info.function : "[unknown code]";
	out->file = f->ce ? f->ce->info.file : NULL;
	out->line = f->ce && f->line >= 0 ? f->line : -1;
}

/* One site: its counts, and its heaviest stack in a block of its own. */
static int site_of(const struct group *g, struct pm_site *s)
{
	const struct site_rec *h = g->heaviest;

	memset(s, 0, sizeof(*s));
	if (h->nframes)
		frame_info(&h->frames[0], &s->where);
	else
		s->where = (struct pm_frame){ frameless_name(h), NULL, -1 };
	s->source = kind_name(g->kind);
	s->bytes = g->bytes;
	s->samples = g->samples;
	s->recent_bytes = g->recent_bytes;
	s->recent_samples = g->recent_samples;
	s->live_ok = g->followed > 0;
	s->live_bytes = g->live_bytes;
	s->live_samples = g->live_samples;
	s->has_classes = g->kind == PMT_SITE_POOL;
	if (s->has_classes)
		memcpy(s->class_bytes, g->class_bytes, sizeof(s->class_bytes));
	if (!h->nframes)
		return 0;
	if (!(s->stack = calloc(h->nframes, sizeof(*s->stack))))
		return -ENOMEM;
	s->nframes = h->nframes;
	for (int f = 0; f < h->nframes; f++)
		frame_info(&h->frames[f], &s->stack[f]);
	return 0;
}

int sites_proc_top(const struct sites_proc *sp, int top, enum sites_order order,
		   struct pm_site **out)
{
	struct group *g;
	size_t n = grouped(sp, order, &g);
	struct pm_site *s;
	int k = 0;

	*out = NULL;
	if (sp->nrecs && !g)
		return -ENOMEM;
	if (n > (size_t)(top > 0 ? top : 0))
		n = top > 0 ? top : 0;
	if (!n || !(s = calloc(n, sizeof(*s)))) {
		free(g);
		return n ? -ENOMEM : 0;
	}
	while ((size_t)k < n && !site_of(&g[k], &s[k]))
		k++;
	free(g);
	if ((size_t)k != n) {
		sites_top_free(s, (int)n);
		return -ENOMEM;
	}
	*out = s;
	return k;
}

void sites_top_free(struct pm_site *s, int n)
{
	for (int i = 0; s && i < n; i++)
		free(s[i].stack);
	free(s);
}

/* A folded-stack frame: no ';' (the separator) and no line breaks. */
static void folded_frame(FILE *out, const struct site_frame *f)
{
	char buf[1400];

	if (f->ce && f->line >= 0)
		snprintf(buf, sizeof(buf), "%s (%s:%d)", f->ce->info.function, f->ce->info.file,
			 f->line);
	else if (f->ce)
		snprintf(buf, sizeof(buf), "%s (%s)", f->ce->info.function, f->ce->info.file);
	else
		snprintf(buf, sizeof(buf), "[unknown code]");
	for (char *p = buf; *p; p++)
		if (*p == ';' || *p == '\n' || *p == '\r')
			*p = ' ';
	fputs(buf, out);
}

struct folded_line {
	char *stack;
	uint64_t bytes;
};

static int cmp_folded(const void *a, const void *b)
{
	return strcmp(((const struct folded_line *)a)->stack,
		      ((const struct folded_line *)b)->stack);
}

/* One stack's text, root first: NULL on ENOMEM. */
static char *folded_stack(const struct site_rec *r, const char *root)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (!f)
		return NULL;
	fputs(root, f);
	if (!r->nframes)
		fprintf(f, ";%s", frameless_name(r));
	for (int i = r->nframes - 1; i >= 0; i--) {
		fputc(';', f);
		folded_frame(f, &r->frames[i]);
	}
	if (fclose(f)) {
		free(text);
		return NULL;
	}
	return text;
}

/* Stacks that read alike (another instruction of the same line, another
 * event kind, a code object of the same name) are one line, summed:
 * flame graph tools expect each stack once. Sorted by text. */
void sites_proc_folded(const struct sites_proc *sp, const char *root, enum sites_order order,
		       FILE *out)
{
	struct folded_line *l = sp->nrecs ? calloc(sp->nrecs, sizeof(*l)) : NULL;
	size_t n = 0;

	if (!l)
		return;
	uint64_t lb, ls;

	/* nothing followed (pool-refill samples, brk growth): the flow */
	if (order == SITES_BY_LIVE && !sites_proc_live_totals(sp, &lb, &ls))
		order = SITES_BY_FLOW;
	for (int b = 0; b < REC_BUCKETS; b++)
		for (const struct site_rec *r = sp->recs[b]; r && n < sp->nrecs; r = r->next) {
			uint64_t w = order == SITES_BY_LIVE ? r->live_bytes : r->bytes;

			if (!w)
				continue;
			l[n].stack = folded_stack(r, root);
			l[n].bytes = w;
			if (l[n].stack)
				n++;
		}
	qsort(l, n, sizeof(*l), cmp_folded);
	for (size_t i = 0; i < n; i++) {
		uint64_t bytes = l[i].bytes;

		while (i + 1 < n && !strcmp(l[i].stack, l[i + 1].stack)) {
			free(l[i].stack);
			bytes += l[++i].bytes;
		}
		fprintf(out, "%s %llu\n", l[i].stack, (unsigned long long)bytes);
		free(l[i].stack);
	}
	free(l);
}
