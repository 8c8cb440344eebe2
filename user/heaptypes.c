// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#define _GNU_SOURCE /* process_vm_readv */
/*
 * Live heap by type (heaptypes.h). Pool header (Objects/obmalloc.c,
 * 3.8-3.15): ref.count u32 at 0, freeblock at 8, szidx u32 at 36,
 * nextoffset u32 at 40; blocks start at POOL_OVERHEAD (48); a free
 * block's first word is the next free block.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <sys/uio.h>
#include "heaptypes.h"
#include "output.h"

#define POOL_OVERHEAD	 48
#define TYPE_READ	 176 /* up to and including tp_flags */
#define TPFLAGS_HAVE_GC	 (1ull << 14)
#define TPFLAGS_TYPE_SUB (1ull << 31) /* Py_TPFLAGS_TYPE_SUBCLASS: a metaclass */
#define MAX_BLOCKS	 (64 * 1024 / 16) /* blocks of the largest pool (3.15 hugepages: 16 KiB) */
#define KIND_FREE	 (-2)
#define KIND_BUFFER	 (-1)

static uint32_t u32_at(const uint8_t *b, size_t off)
{
	uint32_t v;

	memcpy(&v, b + off, 4);
	return v;
}

static uint64_t u64_at(const uint8_t *b, size_t off)
{
	uint64_t v;

	memcpy(&v, b + off, 8);
	return v;
}

void ht_cache_free(struct ht_cache *c)
{
	free(c->v);
	memset(c, 0, sizeof(*c));
}

static const struct ht_type *cache_find(const struct ht_cache *c, uint64_t addr)
{
	int lo = 0, hi = c->n - 1;

	while (lo <= hi) {
		int mid = (lo + hi) / 2;

		if (c->v[mid].addr == addr)
			return &c->v[mid];
		if (c->v[mid].addr < addr)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return NULL;
}

static int cmp_type(const void *a, const void *b)
{
	uint64_t x = ((const struct ht_type *)a)->addr, y = ((const struct ht_type *)b)->addr;

	return x < y ? -1 : x > y;
}

/* ---- one pool ---------------------------------------------------------------- */

/* Mark the pool's free blocks in kind[]; the allocated ones are the rest
 * below nextoffset. -1 when the header, the free list or the count do not
 * agree (the pool changed while it was read, or it is not a pool). */
static int pool_blocks(const struct pyheap_layout *l, const uint8_t *buf, uint64_t pool, int *kind,
		       uint32_t *bs)
{
	uint32_t count = u32_at(buf, 0), szidx = u32_at(buf, 36), next = u32_at(buf, 40);
	uint64_t fb = u64_at(buf, 8);
	int nblocks, nfree = 0;

	if (szidx >= PYHEAP_NCLASSES || next < POOL_OVERHEAD || next > l->pool_size)
		return -1;
	*bs = (szidx + 1) * 16;
	nblocks = (int)((next - POOL_OVERHEAD) / *bs);
	if (nblocks > MAX_BLOCKS)
		return -1;
	for (int i = 0; i < nblocks; i++)
		kind[i] = KIND_BUFFER;
	while (fb) {
		uint64_t off = fb - pool;
		int i;

		if (fb < pool + POOL_OVERHEAD || off >= next || (off - POOL_OVERHEAD) % *bs ||
		    nfree >= nblocks)
			return -1;
		i = (int)((off - POOL_OVERHEAD) / *bs);
		if (kind[i] == KIND_FREE)
			return -1; /* a loop */
		kind[i] = KIND_FREE;
		nfree++;
		fb = u64_at(buf, off);
	}
	return nblocks - nfree == (int)count ? nblocks : -1;
}

/* The pre-header a type's instances have. */
static uint32_t preheader(const struct reg_layout *r, uint64_t flags)
{
	return (flags & TPFLAGS_HAVE_GC ? r->gc_head_size : 0) +
	       (flags & r->preheader_flags ? r->preheader_size : 0);
}

/* The type of the object in the block at b (bs bytes), or NULL. */
static const struct ht_type *block_type(const struct reg_layout *r, const struct ht_cache *c,
					const uint8_t *b, uint32_t bs)
{
	uint32_t off[3];
	int n = pyheap_header_offsets(r, bs, off);

	for (int k = 0; k < n; k++) {
		const struct ht_type *t;

		if (!pyheap_refcnt_plausible(u64_at(b, off[k] + r->ob_refcnt)))
			continue;
		t = cache_find(c, u64_at(b, off[k] + r->ob_type));
		if (t && t->valid && preheader(r, t->flags) == off[k] &&
		    (uint64_t)t->basicsize + off[k] <= bs)
			return t;
	}
	return NULL;
}

int heaptypes_classify(const struct pyheap_layout *l, const uint8_t *buf, uint64_t pool,
		       const struct ht_cache *c, int *kind)
{
	uint32_t bs;
	int n = pool_blocks(l, buf, pool, kind, &bs);

	for (int i = 0; i < n; i++) {
		const struct ht_type *t;

		if (kind[i] == KIND_FREE)
			continue;
		t = block_type(&l->reg, c, buf + POOL_OVERHEAD + (size_t)i * bs, bs);
		kind[i] = t ? (int)(t - c->v) : KIND_BUFFER;
	}
	return n;
}

/* ---- type objects -------------------------------------------------------------- */

/* Add every candidate type address of the pool's allocated blocks that
 * the cache does not know to want[] (sorted, unique later). */
static int candidates(const struct pyheap_layout *l, const uint8_t *buf, const int *kind, int n,
		      const struct ht_cache *c, uint64_t *want, int nwant, int max)
{
	uint32_t bs = (u32_at(buf, 36) + 1) * 16, off[3];
	int no = pyheap_header_offsets(&l->reg, bs, off);

	for (int i = 0; i < n && nwant < max; i++) {
		const uint8_t *b = buf + POOL_OVERHEAD + (size_t)i * bs;

		if (kind[i] == KIND_FREE)
			continue;
		for (int k = 0; k < no && nwant < max; k++) {
			uint64_t t = u64_at(b, off[k] + l->reg.ob_type);

			if (pyheap_refcnt_plausible(u64_at(b, off[k] + l->reg.ob_refcnt)) && t &&
			    !(t & 7) && !cache_find(c, t))
				want[nwant++] = t;
		}
	}
	return nwant;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* A type's name: printable, NUL-terminated within HT_NAME_LEN. */
static bool name_ok(const char *raw, char *out)
{
	size_t n = strnlen(raw, HT_NAME_LEN);

	if (!n || n == HT_NAME_LEN)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)raw[i] < 0x20 || raw[i] == 0x7f)
			return false;
	output_clean_string(raw, true, out, HT_NAME_LEN);
	return true;
}

/* Read n type objects at want[] and their names into t[] (valid or not).
 * A type's type is PyType_Type (tt) or a metaclass: one whose own type is
 * PyType_Type and that has Py_TPFLAGS_TYPE_SUBCLASS (read here too). */
static int read_types(int pid, const struct reg_layout *r, uint64_t tt, const uint64_t *want, int n,
		      struct ht_type *t)
{
	uint8_t(*hdr)[TYPE_READ] = calloc(n ? n : 1, TYPE_READ);
	uint8_t(*meta)[TYPE_READ] = calloc(n ? n : 1, TYPE_READ);
	char(*names)[HT_NAME_LEN] = calloc(n ? n : 1, HT_NAME_LEN);
	struct iovec *lo = calloc(n ? n : 1, sizeof(*lo)), *re = calloc(n ? n : 1, sizeof(*re));
	int err = !hdr || !meta || !names || !lo || !re ? -ENOMEM : 0;

	for (int pass = 0; !err && pass < 3; pass++) {
		for (int i = 0; i < n; i++) {
			uint64_t a = pass == 0	 ? want[i]
				     : pass == 1 ? u64_at(hdr[i], r->ob_type)
						 : u64_at(hdr[i], r->ty_name);
			void *dst = pass == 0	? (void *)hdr[i]
				    : pass == 1 ? (void *)meta[i]
						: names[i];

			lo[i] = (struct iovec){ dst, pass == 2 ? HT_NAME_LEN : TYPE_READ };
			re[i] = (struct iovec){ (void *)(uintptr_t)a, lo[i].iov_len };
			if (pass == 1 && a == tt)
				re[i].iov_len = lo[i].iov_len = 0; /* PyType_Type: no need */
		}
		err = pyheap_readv_each(pid, lo, re, n, NULL);
	}
	for (int i = 0; !err && i < n; i++) {
		uint64_t mt = u64_at(hdr[i], r->ob_type);
		bool meta_ok = mt == tt || (u64_at(meta[i], r->ob_type) == tt &&
					    (u64_at(meta[i], r->ty_flags) & TPFLAGS_TYPE_SUB));
		int64_t bsz = (int64_t)u64_at(hdr[i], r->ty_basicsize);

		memset(&t[i], 0, sizeof(t[i]));
		t[i].addr = want[i];
		t[i].flags = u64_at(hdr[i], r->ty_flags);
		t[i].basicsize = bsz;
		t[i].valid = meta_ok && bsz >= 16 && bsz <= 1 << 20 && name_ok(names[i], t[i].name);
	}
	free(hdr);
	free(meta);
	free(names);
	free(lo);
	free(re);
	return err;
}

/* Learn the types of want[0..n) (sorted, made unique here). */
static int learn_types(int pid, uint64_t bias, const struct pyheap_layout *l, uint64_t *want, int n,
		       struct ht_cache *c)
{
	int u = 0, err;
	struct ht_type *nv;

	qsort(want, n, sizeof(*want), cmp_u64);
	for (int i = 0; i < n; i++)
		if (!u || want[i] != want[u - 1])
			want[u++] = want[i];
	if (!u)
		return 0;
	if (c->n + u > HT_CACHE_MAX)
		u = HT_CACHE_MAX - c->n;
	if (u <= 0)
		return 0;
	if (c->n + u > c->cap) {
		nv = realloc(c->v, (size_t)(c->n + u) * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		c->v = nv;
		c->cap = c->n + u;
	}
	err = read_types(pid, &l->reg, l->type_type + bias, want, u, c->v + c->n);
	if (err)
		return err;
	c->n += u;
	qsort(c->v, c->n, sizeof(*c->v), cmp_type);
	return 0;
}

static uint64_t name_hash(const char *name)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (; *name; name++)
		h = (h ^ (unsigned char)*name) * 0x100000001b3ull;
	return h;
}

bool heaptypes_growth(const struct heap_types *now, const struct heap_types *then, int i,
		      int64_t *objects)
{
	uint64_t h;

	if (!now->ok || !then->ok || i < 0 || i >= now->n)
		return false;
	h = name_hash(now->top[i].name);
	for (int k = 0; k < then->nkept; k++)
		if (then->kept[k].name_hash == h) {
			*objects = (int64_t)now->top[i].objects - (int64_t)then->kept[k].objects;
			return true;
		}
	if (then->nkept == HT_KEEP)
		return false;
	*objects = (int64_t)now->top[i].objects;
	return true;
}

/* ---- estimating ---------------------------------------------------------------- */

#define LABEL_ANY (-3) /* no census: one stratum per class */

/* The kind a label (or a block's first bytes) says: the cache index of a
 * type whose object header sits where the label has it, or buffer. */
static int label_kind(const struct reg_layout *r, const struct ht_cache *c, const uint64_t t[3],
		      uint32_t bs, int buffer)
{
	uint32_t off[3];
	int n = pyheap_header_offsets(r, bs, off);

	for (int k = 0; k < n; k++) {
		const struct ht_type *x = t[k] ? cache_find(c, t[k]) : NULL;

		if (x && x->valid && preheader(r, x->flags) == off[k] &&
		    (uint64_t)x->basicsize + off[k] <= bs)
			return (int)(x - c->v);
	}
	return buffer;
}

/* A stratum: the pools of one class whose first block says one kind. */
struct stratum {
	int cls, label;
	double weight; /* the class's live blocks in these pools (census share) */
	uint32_t pools;
	int first; /* its first pool read (pool_count.next chains the rest); -1 none */
};

/* A pool read whole: its stratum, allocated blocks, blocks per kind. */
struct pool_count {
	int stratum;
	uint32_t alloc;
	int next; /* the stratum's next pool read, -1 */
};

struct tally {
	int kinds; /* cache entries + 1 (the last: buffers) */
	uint32_t *n; /* [pool][kind] */
	struct pool_count *p;
	int npools;
	struct stratum *st;
	int nst;
	bool *present; /* [kind]: seen in a pool read */
};

/* Ratio estimate of kind k's share in stratum s and its variance, over the
 * stratum's pools read (cluster sampling without replacement); a stratum
 * none was read of is taken to be of its label's kind. */
static void stratum_share(const struct tally *t, int s, int k, double *r, double *var)
{
	double sum_n = 0, sum_a = 0, ss = 0;
	int m = 0;

	for (int i = t->st[s].first; i >= 0; i = t->p[i].next) {
		sum_n += t->n[(size_t)i * t->kinds + k];
		sum_a += t->p[i].alloc;
		m++;
	}
	*var = 0;
	if (!m || !sum_a) {
		*r = t->st[s].label == k;
		return;
	}
	*r = sum_n / sum_a;
	if (m >= (int)t->st[s].pools)
		return; /* every pool read: no sampling error */
	if (m == 1) { /* no spread to measure: the blocks as if drawn one by one */
		*var = *r * (1 - *r) / sum_a;
		return;
	}
	for (int i = t->st[s].first; i >= 0; i = t->p[i].next) {
		double d = t->n[(size_t)i * t->kinds + k] - *r * t->p[i].alloc;

		ss += d * d;
	}
	*var = (1 - (double)m / t->st[s].pools) * ss /
	       ((double)m * (m - 1) * (sum_a / m) * (sum_a / m));
}

static void kind_estimate(const struct tally *t, int k, double *objects, double *bytes, double *var)
{
	*objects = *bytes = *var = 0;
	for (int s = 0; s < t->nst; s++) {
		double r, v, w = t->st[s].weight;

		stratum_share(t, s, k, &r, &v);
		*objects += w * r;
		*bytes += w * r * (t->st[s].cls + 1) * 16;
		*var += w * w * v;
	}
}

static int cmp_entry(const void *a, const void *b)
{
	uint64_t x = ((const struct ht_entry *)a)->bytes, y = ((const struct ht_entry *)b)->bytes;

	return x > y ? -1 : x < y;
}

/* The top types by estimated bytes, the rest summed. Types are named, so
 * two type objects with one name (a class defined twice) are one entry. */
static int summarize(const struct tally *t, const struct ht_cache *c, struct heap_types *out)
{
	struct ht_entry *all = calloc(t->kinds, sizeof(*all));
	double *var = calloc(t->kinds, sizeof(*var)), o, b, v;
	int n = 0;

	if (!all || !var) {
		free(all);
		free(var);
		return -ENOMEM;
	}
	bool *present = t->present;

	/* only the kinds that the pools read or the labels name: the cache
	 * also holds every address that turned out to be no type */
	for (int s = 0; s < t->nst; s++)
		if (t->st[s].label >= 0)
			present[t->st[s].label] = true;
	for (int k = 0; k < t->kinds - 1; k++) {
		int j;

		if (!present[k])
			continue;
		kind_estimate(t, k, &o, &b, &v);
		if (o < 0.5)
			continue;
		for (j = 0; j < n && strcmp(all[j].name, c->v[k].name); j++)
			;
		if (j == n)
			snprintf(all[n++].name, HT_NAME_LEN, "%s", c->v[k].name);
		all[j].objects += (uint64_t)(o + 0.5);
		all[j].bytes += (uint64_t)(b + 0.5);
		var[j] += v;
	}
	for (int i = 0; i < n; i++) /* the variance travels with its entry */
		all[i].objects_error = (uint64_t)(2 * sqrt(var[i]) + 0.5);
	qsort(all, n, sizeof(*all), cmp_entry);
	out->n = n < HT_TOP ? n : HT_TOP;
	out->nkept = n < HT_KEEP ? n : HT_KEEP;
	for (int i = 0; i < out->nkept; i++)
		out->kept[i] = (struct ht_count){ name_hash(all[i].name), all[i].objects };
	for (int i = 0; i < n; i++)
		if (i < HT_TOP)
			out->top[i] = all[i];
		else
			out->other_bytes += all[i].bytes;
	kind_estimate(t, t->kinds - 1, &o, &b, &v);
	out->buffer_bytes = (uint64_t)(b + 0.5);
	free(all);
	free(var);
	return 0;
}

/* Pool i's blocks' kinds in kinds[]: as many as a pool can have. */
static size_t pool_kinds_len(const struct pyheap_layout *l)
{
	return (l->pool_size - POOL_OVERHEAD) / 16;
}

static int *pool_kinds(const struct pyheap_layout *l, int *kinds, int i)
{
	return kinds + (size_t)i * pool_kinds_len(l);
}

/* The census's candidate types and the sampled pools' blocks' go to the
 * cache; want holds up to max addresses at a time. */
static int learn_all(int pid, uint64_t bias, const struct pyheap_layout *l,
		     const struct pyheap_snapshot *s, const struct pyheap_census *cs,
		     struct ht_cache *c, const uint8_t *buf, int *kind, int *nb)
{
	const int max = 3 * MAX_BLOCKS;
	uint64_t *want = malloc(sizeof(*want) * max);
	int nwant = 0, err = 0;

	if (!want)
		return -ENOMEM;
	for (int i = 0; cs && i < cs->n; i++)
		for (int k = 0; k < 3; k++)
			if (cs->v[i].type[k] && !cache_find(c, cs->v[i].type[k]) && nwant < max)
				want[nwant++] = cs->v[i].type[k];
	for (int i = 0; !err && i < s->nsample; i++) {
		const uint8_t *pb = buf + (size_t)i * l->pool_size;
		uint32_t bs;

		nb[i] = u32_at(pb, 36) == s->sample[i].szidx
				? pool_blocks(l, pb, s->sample[i].addr, pool_kinds(l, kind, i), &bs)
				: -1;
		if (nb[i] < 0)
			continue;
		if (nwant > max - 3 * nb[i]) { /* learn them in parts */
			err = learn_types(pid, bias, l, want, nwant, c);
			nwant = 0;
		}
		nwant = candidates(l, pb, pool_kinds(l, kind, i), nb[i], c, want, nwant, max);
	}
	if (!err)
		err = learn_types(pid, bias, l, want, nwant, c);
	free(want);
	return err;
}

/* The strata: the census's labels (each drawn from on its own, pyheap.h),
 * each taken to be of the kind its label resolves to where none of its
 * pools was read; without a census, each class whole. */
static int make_strata(const struct pyheap_layout *l, const struct pyheap_snapshot *s,
		       const struct pyheap_census *cs, const struct ht_cache *c, struct tally *t)
{
	double total[PYHEAP_NCLASSES] = { 0 };

	t->st = calloc(cs ? cs->n + 1 : PYHEAP_NCLASSES, sizeof(*t->st));
	if (!t->st)
		return -ENOMEM;
	for (int i = 0; cs && i < cs->n; i++) {
		const struct pyheap_label *x = &cs->v[i];

		t->st[t->nst++] = (struct stratum){ (int)x->szidx,
						    label_kind(&l->reg, c, x->type,
							       (x->szidx + 1) * 16, t->kinds - 1),
						    (double)x->blocks, x->pools, -1 };
		total[x->szidx] += x->blocks;
	}
	for (int c2 = 0; !cs && c2 < PYHEAP_NCLASSES; c2++)
		if (s->classes[c2])
			t->st[t->nst++] = (struct stratum){ c2, LABEL_ANY, s->classes[c2],
							    (uint32_t)s->class_pools[c2], -1 };
	for (int j = 0; cs && j < t->nst; j++) /* census shares of the exact live count */
		t->st[j].weight = t->st[j].weight / total[t->st[j].cls] * s->classes[t->st[j].cls];
	return 0;
}

/* A sampled pool's stratum: its census label's, or its class's. */
static int stratum_of(const struct tally *t, const struct pyheap_census *cs,
		      const struct pyheap_pool_ref *ref)
{
	if (cs)
		return ref->label >= 0 && ref->label < t->nst ? ref->label : -1;
	for (int j = 0; j < t->nst; j++)
		if (t->st[j].cls == (int)ref->szidx)
			return j;
	return -1;
}

static int tally_pools(const struct pyheap_layout *l, const struct pyheap_snapshot *s,
		       const struct pyheap_census *cs, const struct ht_cache *c, const uint8_t *buf,
		       int *kinds, const int *nb, struct tally *t, struct heap_types *out)
{
	t->n = calloc((size_t)s->nsample * t->kinds, sizeof(*t->n));
	t->p = calloc(s->nsample ? s->nsample : 1, sizeof(*t->p));
	t->present = calloc(t->kinds, sizeof(*t->present));
	if (!t->n || !t->p || !t->present)
		return -ENOMEM;
	for (int i = 0; i < s->nsample; i++) {
		const uint8_t *pb = buf + (size_t)i * l->pool_size;
		uint32_t *row = t->n + (size_t)t->npools * t->kinds, alloc = 0;
		int st = stratum_of(t, cs, &s->sample[i]), *kind = pool_kinds(l, kinds, i);

		if (st < 0 || nb[i] < 0 ||
		    heaptypes_classify(l, pb, s->sample[i].addr, c, kind) < 0)
			continue;
		for (int b = 0; b < nb[i]; b++) {
			if (kind[b] == KIND_FREE)
				continue;
			alloc++;
			row[kind[b] >= 0 ? kind[b] : t->kinds - 1]++;
			t->present[kind[b] >= 0 ? kind[b] : t->kinds - 1] = true;
		}
		t->p[t->npools] = (struct pool_count){ st, alloc, t->st[st].first };
		t->st[st].first = t->npools++;
		out->sampled_blocks += alloc;
	}
	out->sampled_pools = t->npools;
	return 0;
}

/* Live bytes of classes with no stratum; whether every pool was read. */
static void coverage(const struct tally *t, const struct pyheap_snapshot *s, struct heap_types *out)
{
	out->exact = true;
	for (int c = 0; c < PYHEAP_NCLASSES; c++) {
		bool known = false;

		for (int j = 0; j < t->nst; j++)
			known |= t->st[j].cls == c;
		if (!known && s->classes[c])
			out->unsampled_bytes += s->classes[c] * (uint64_t)(c + 1) * 16;
	}
	for (int j = 0; j < t->nst; j++) {
		uint32_t m = 0;

		for (int i = 0; i < t->npools; i++)
			m += t->p[i].stratum == j;
		if (m < t->st[j].pools)
			out->exact = false;
		/* without a census, a class no pool was read of says nothing */
		if (!m && t->st[j].label == LABEL_ANY)
			out->unsampled_bytes += (uint64_t)t->st[j].weight * (t->st[j].cls + 1) * 16;
	}
}

static int why(struct heap_types *out, const char *reason)
{
	out->ok = false;
	snprintf(out->reason, sizeof(out->reason), "%s", reason);
	return 0;
}

int heaptypes_sample(int pid, uint64_t bias, const struct pyheap_layout *l,
		     const struct pyheap_snapshot *s, const struct pyheap_census *census,
		     struct ht_cache *c, struct heap_types *out)
{
	struct iovec lo[PYHEAP_SAMPLE_POOLS], re[PYHEAP_SAMPLE_POOLS];
	int nb[PYHEAP_SAMPLE_POOLS], *kind = NULL, err;
	struct tally t = { 0 };
	uint8_t *buf = NULL;

	memset(out, 0, sizeof(*out));
	if (census && census->lost_blocks)
		census = NULL; /* the sample was drawn per class (pyheap.h) */
	if (!s->heap_ok)
		return why(out, "no consistent heap snapshot");
	if (!l->type_type)
		return why(out, "PyType_Type not found in the interpreter file");
	if (!s->nsample)
		return why(out, "no pool in use");
	if (++c->uses > HT_CACHE_LIFE) { /* types come and go: learn them again */
		ht_cache_free(c);
		c->uses = 1;
	}
	buf = malloc((size_t)s->nsample * l->pool_size);
	kind = malloc(sizeof(*kind) * pool_kinds_len(l) * s->nsample);
	err = !buf || !kind ? -ENOMEM : 0;
	for (int i = 0; !err && i < s->nsample; i++) {
		lo[i] = (struct iovec){ buf + (size_t)i * l->pool_size, l->pool_size };
		re[i] = (struct iovec){ (void *)(uintptr_t)s->sample[i].addr, l->pool_size };
	}
	if (!err)
		err = pyheap_readv_each(pid, lo, re, s->nsample, NULL);
	if (!err)
		err = learn_all(pid, bias, l, s, census, c, buf, kind, nb);
	t.kinds = c->n + 1;
	if (!err)
		err = make_strata(l, s, census, c, &t);
	if (!err)
		err = tally_pools(l, s, census, c, buf, kind, nb, &t, out);
	if (!err && !t.npools)
		why(out, "every sampled pool changed while it was read");
	else if (!err) {
		coverage(&t, s, out);
		err = summarize(&t, c, out);
		out->ok = !err;
	}
	free(t.n);
	free(t.p);
	free(t.st);
	free(t.present);
	free(kind);
	free(buf);
	return err;
}

/* A list of n floats (ints) holds n pointers and n objects of a block each
 * (a float is 24 bytes in a 32-byte block, Objects/floatobject.c; an int
 * of up to 30 bits 28 in 32, Objects/longobject.c); array('d') and
 * array('q') hold n 8-byte values in place of the pointers: the objects'
 * blocks are what goes. */
bool heaptypes_hint(const struct ht_entry *t, char *buf, size_t n, uint64_t *saving)
{
	const char *what, *alt;

	if (t->objects < HT_HINT_MIN || t->objects_error * 4 > t->objects)
		return false;
	if (!strcmp(t->name, "float")) {
		what = "floats";
		alt = "array('d') or a NumPy float64 array";
	} else if (!strcmp(t->name, "int")) {
		what = "ints";
		alt = "array('q') or a NumPy int64 array (values that fit in 64 bits)";
	} else {
		return false;
	}
	*saving = t->bytes;
	snprintf(buf, n,
		 "%llu %s take a heap block each: held in lists, an %s would keep them as "
		 "8-byte values in place of the list's pointers, %llu bytes less",
		 (unsigned long long)t->objects, what, alt, (unsigned long long)t->bytes);
	return true;
}
