// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "fake_collector.h"

struct fake_proc *fake_proc(struct collector *c, int pid, bool create)
{
	struct fake_proc *free_slot = NULL;

	for (int i = 0; i < FAKE_PROCS; i++) {
		if (c->procs[i].pid == pid)
			return &c->procs[i];
		if (!c->procs[i].pid && !free_slot)
			free_slot = &c->procs[i];
	}
	if (!create || !free_slot)
		return NULL;
	memset(free_slot, 0, sizeof(*free_slot));
	free_slot->pid = pid;
	return free_slot;
}

void fake_add_key(struct collector *c, int pid, uint32_t image, uint64_t hash, uint64_t bytes)
{
	if (c->nkeys == FAKE_KEYS)
		return;
	c->keys[c->nkeys] = (struct pmt_site_key){
		.tgid = (uint32_t)pid, .image = image, .kind = PMT_SITE_ARENA, .hash = hash
	};
	c->counts[c->nkeys] = (struct pmt_site_counts){ .samples = 1, .bytes = bytes };
	c->nkeys++;
}

int fake_keys_of(const struct collector *c, int pid)
{
	int n = 0;

	for (int i = 0; i < c->nkeys; i++)
		n += c->keys[i].tgid == (uint32_t)pid;
	return n;
}

/* ---- user/collector.h -------------------------------------------------- */

int collector_open(const struct env *env, struct collector **out)
{
	(void)env;
	*out = calloc(1, sizeof(**out));
	return *out ? 0 : -ENOMEM;
}

void collector_close(struct collector *c)
{
	free(c);
}

int collector_attach_gc(struct collector *c, struct interp *in, const char *path)
{
	(void)path;
	c->gc_attaches++;
	in->attach_tried = true;
	in->attach_err = -ENOTSUP;
	snprintf(in->gc_reason, sizeof(in->gc_reason), "fake collector");
	return -ENOTSUP;
}

int collector_watch(struct collector *c, int pid)
{
	struct fake_proc *p;

	if (c->watch_fail) {
		c->watch_fail--;
		return -E2BIG;
	}
	p = fake_proc(c, pid, true);
	if (!p)
		return -E2BIG;
	p->watched = true;
	p->watch = (struct pmt_watch){ PMT_WATCH_PYTHON, 0 };
	return 0;
}

int collector_execs(struct collector *c, int pid, uint32_t *execs)
{
	struct fake_proc *p = fake_proc(c, pid, false);

	if (!p || !p->watched)
		return -ENOENT;
	*execs = p->watch.execs;
	return 0;
}

void collector_release(struct collector *c, int pid)
{
	struct fake_proc *p = fake_proc(c, pid, false);

	if (!p)
		return;
	p->sites_cfg = p->precise_cfg = p->precise = p->flow = false;
	if (p->watched && p->watch.state != PMT_WATCH_FORKED)
		p->watched = false;
}

/* a link is a token that knows its collector, which counts the live ones */
struct fake_link {
	struct collector *c;
};

static void *new_link(struct collector *c)
{
	struct fake_link *l = malloc(sizeof(*l));

	if (l) {
		l->c = c;
		c->live_links++;
	}
	return l;
}

int collector_attach_refill(struct collector *c, int pid, const char *path, uint64_t offset,
			    int arg, void **link)
{
	(void)pid;
	(void)path;
	(void)offset;
	(void)arg;
	*link = new_link(c);
	return 0;
}

/* A precise_cfg entry and n links for pid (precise: with counts). */
static int fake_attach_cfg(struct collector *c, int pid, int n, bool precise, void **links)
{
	struct fake_proc *p = fake_proc(c, pid, true);

	if (!p)
		return -E2BIG;
	p->precise_cfg = true;
	p->precise = p->precise || precise;
	for (int i = 0; i < n; i++)
		links[i] = new_link(c);
	return 0;
}

int collector_attach_precise(struct collector *c, int pid, const char *path,
			     const uint64_t offsets[PYHEAP_PRECISE_NFN],
			     const struct pmt_precise_cfg *cfg, void **links)
{
	(void)path;
	(void)offsets;
	(void)cfg;
	return fake_attach_cfg(c, pid, PYHEAP_PRECISE_NFN, true, links);
}

int collector_attach_precise_ret(struct collector *c, int pid, const char *path,
				 const uint64_t offsets[PMT_PRECISE_RET_NFN], void **links)
{
	int n = 0;

	(void)pid;
	(void)path;
	for (int i = 0; i < PMT_PRECISE_RET_NFN; i++)
		if (offsets[i])
			links[n++] = new_link(c);
	return n;
}

int collector_attach_instances(struct collector *c, int pid, const char *path,
			       const uint64_t offsets[3], const struct pmt_precise_cfg *cfg,
			       void **links)
{
	(void)path;
	(void)offsets;
	(void)cfg;
	return fake_attach_cfg(c, pid, 4, false, links);
}

void collector_release_objs(struct collector *c, int pid)
{
	(void)c;
	(void)pid;
}

void collector_detach(void **links, int n)
{
	for (int i = 0; i < n; i++) {
		struct fake_link *l = links[i];

		if (l) {
			l->c->live_links--;
			free(l);
			links[i] = NULL;
		}
	}
}

int collector_measure_precise(struct collector *c, double *alloc_s, double *free_s)
{
	(void)c;
	*alloc_s = *free_s = 1e-6;
	return 0;
}

int collector_read_mm(struct collector *c, int pid, struct pmt_mm_stats *out)
{
	struct fake_proc *p = fake_proc(c, pid, false);

	if (!p || !p->has_mm)
		return -ENOENT;
	*out = p->mm;
	return 0;
}

int collector_read_gc(struct collector *c, int pid, struct pmt_gc_stats *out)
{
	(void)c;
	(void)pid;
	(void)out;
	return -ENOENT;
}

int collector_read_flow(struct collector *c, int pid, struct pmt_heap_flow *out)
{
	(void)c;
	(void)pid;
	(void)out;
	return -ENOENT;
}

int collector_read_precise(struct collector *c, int pid, struct pmt_precise_stats *out)
{
	struct fake_proc *p = fake_proc(c, pid, false);

	if (!p || !p->precise)
		return -ENOENT;
	memset(out, 0, sizeof(*out));
	return 0;
}

void collector_read_drops(struct collector *c, uint64_t out[PMT_DROP_NR])
{
	memcpy(out, c->drops, sizeof(c->drops));
}

int collector_sites_set(struct collector *c, int pid, const struct pmt_sites_cfg *cfg)
{
	struct fake_proc *p = fake_proc(c, pid, true);

	if (!p)
		return -E2BIG;
	p->sites_cfg = true;
	p->scfg = *cfg;
	return 0;
}

void collector_sites_delete(struct collector *c, const struct pmt_site_key *k)
{
	for (int i = 0; i < c->nkeys; i++)
		if (!memcmp(&c->keys[i], k, sizeof(*k))) {
			c->keys[i] = c->keys[c->nkeys - 1];
			c->counts[i] = c->counts[c->nkeys - 1];
			c->nkeys--;
			c->key_deletes++;
			return;
		}
}

int collector_sites_read(struct collector *c, collector_site_cb cb, void *ctx)
{
	c->sites_reads++;
	for (int i = 0; i < c->nkeys; i++)
		cb(&c->keys[i], &c->counts[i], ctx);
	return c->nkeys;
}

int collector_sites_stack(struct collector *c, const struct pmt_site_key *k,
			  struct pmt_site_stack *out)
{
	(void)c;
	(void)k;
	memset(out, 0, sizeof(*out));
	return 0;
}

int collector_poll(struct collector *c, int timeout_ms, collector_event_cb cb, void *ctx)
{
	(void)c;
	(void)timeout_ms;
	(void)cb;
	(void)ctx;
	return 0;
}

void collector_on_sample(struct collector *c, collector_sample_cb cb, void *ctx)
{
	(void)c;
	(void)cb;
	(void)ctx;
}

int collector_fd(struct collector *c)
{
	(void)c;
	return -1;
}

int collector_enable_stats(struct collector *c)
{
	(void)c;
	return -ENOTSUP;
}

int collector_bpf_runtime(struct collector *c, uint64_t *run_ns, uint64_t *run_cnt)
{
	(void)c;
	*run_ns = *run_cnt = 0;
	return -ENODATA;
}

const char *collector_drop_name(int i)
{
	static const char *const names[PMT_DROP_NR] = {
		"mm_map_full",	    "gc_map_full",	"gc_stash_full",     "gc_unmatched",
		"events_lost",	    "user_read_failed", "watched_map_full",  "heap_flow_map_full",
		"refill_bad_class", "sites_map_full",	"sites_walk_failed",
	};
	return i >= 0 && i < PMT_DROP_NR ? names[i] : NULL;
}

const char *collector_drop_hint(int i)
{
	(void)i;
	return NULL;
}
