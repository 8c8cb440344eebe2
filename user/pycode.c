// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * pycode.c: a code object in another process to "function (file:line)".
 *
 * The target keeps running while it is read: the object may be freed and
 * its memory reused between the walker's sample and this read, or never
 * have been a code object at all. Each object read must look alive (a
 * refcount a live object can have, the expected type when known), each
 * pointer must be a plausible user address, each size is bounded before
 * it is used, and the caller compares the fingerprint with the one the
 * walker took when it sampled the frame.
 *
 * Offsets come from the layout registry (registry.c; for 3.13+ from the
 * interpreter's own _Py_DebugOffsets); tests/unit/test_pycode.c checks
 * every field on each real interpreter of the test matrix.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <linux/types.h>
#include "pycode.h"
#include "pymemtop.h"

/* Every version (x86-64 release builds, no Py_TRACE_REFS): */
#define OB_REFCNT  0
#define OB_TYPE	   8
#define OB_SIZE	   16 /* PyVarObject.ob_size; PyASCIIObject.length */
#define BYTES_HEAD 24 /* refcnt, type, size: what is checked of a bytes object */
#define BYTES_DATA 32 /* offsetof(PyBytesObject, ob_sval) */
#define STR_STATE  32 /* PyASCIIObject.state: only the low 8 bits are fields */

/* state bits: interned (2), kind (3), compact, ascii, then ready (3.8-3.11)
 * or statically_allocated (3.12+). The other 24 bits of the word are
 * padding left uninitialised: never look at them. */
#define STR_KIND(s)  (((s) >> 2) & 7)
#define STR_COMPACT  0x20
#define STR_ASCII    0x40
#define STR_READY    0x80
#define STR_HEAD_MAX 48 /* the largest sizeof(PyASCIIObject) */
#define STR_MAX_LEN  (1ull << 32) /* characters: longer is garbage */

/* Live refcounts: 3.12+ immortal objects hold 0xffffffff, and a stable-ABI
 * extension's 64-bit increment may push that just past 2^32. A freed
 * pymalloc block holds a free-list pointer (or 0) there, glibc's tcache a
 * mangled pointer: both far larger. */
#define REFCNT_MAX ((1ull << 33) - 1)

#define USER_MIN 0x1000ull
#define USER_END (1ull << 56) /* above any x86-64 user address, 5-level paging included */

#define CODE_SIZE_MAX	 160
#define TABLE_LEN_ABSURD (1ull << 31) /* bytes: a line table this long is garbage */

static uint64_t get_u64(const uint8_t *p, size_t off)
{
	uint64_t v;

	memcpy(&v, p + off, sizeof(v));
	return v;
}

/* An object pointer held by another object: aligned, in user space. */
static bool obj_ptr(uint64_t p)
{
	return p >= USER_MIN && p < USER_END && !(p & 7);
}

/* What a live object's header must look like. type 0: not checked, but
 * it must still be a pointer. From 3.14 the top 16 bits of the refcount
 * word are ob_flags (a statically allocated object has one set). */
static int check_head(const struct pycode_layout *l, const uint8_t *obj, uint64_t type)
{
	uint64_t refcnt = get_u64(obj, OB_REFCNT), ob_type = get_u64(obj, OB_TYPE);

	if (l->refcnt_bits > 0 && l->refcnt_bits < 64)
		refcnt &= (1ull << l->refcnt_bits) - 1;
	if (refcnt == 0 || refcnt > REFCNT_MAX)
		return -EINVAL;
	if (type ? ob_type != type : !obj_ptr(ob_type))
		return -EINVAL;
	return 0;
}

/* ---- strings ------------------------------------------------------------- */

struct utf8_out {
	char *p;
	size_t cap, n; /* cap includes the NUL */
	bool full;
};

static void put_cp(struct utf8_out *o, uint32_t cp)
{
	uint8_t e[4];
	size_t k;

	if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0))
		cp = '?';
	else if ((cp >= 0xd800 && cp < 0xe000) || cp > 0x10ffff)
		cp = 0xfffd;
	if (cp < 0x80) {
		e[0] = cp;
		k = 1;
	} else if (cp < 0x800) {
		e[0] = 0xc0 | cp >> 6;
		e[1] = 0x80 | (cp & 0x3f);
		k = 2;
	} else if (cp < 0x10000) {
		e[0] = 0xe0 | cp >> 12;
		e[1] = 0x80 | ((cp >> 6) & 0x3f);
		e[2] = 0x80 | (cp & 0x3f);
		k = 3;
	} else {
		e[0] = 0xf0 | cp >> 18;
		e[1] = 0x80 | ((cp >> 12) & 0x3f);
		e[2] = 0x80 | ((cp >> 6) & 0x3f);
		e[3] = 0x80 | (cp & 0x3f);
		k = 4;
	}
	if (o->full || o->n + k > o->cap - 1) {
		o->full = true; /* cut at a character boundary */
		return;
	}
	memcpy(o->p + o->n, e, k);
	o->n += k;
	o->p[o->n] = '\0';
}

/* n characters of kind 1, 2 or 4 bytes; ascii: bytes must be < 0x80. */
static void ucs_to_utf8(const uint8_t *data, size_t n, unsigned kind, bool ascii, char *out,
			size_t outsz)
{
	struct utf8_out o = { .p = out, .cap = outsz };

	out[0] = '\0';
	for (size_t i = 0; i < n && !o.full; i++) {
		uint32_t cp;

		if (kind == 1) {
			cp = data[i];
			if (ascii && cp >= 0x80)
				cp = 0xfffd;
		} else if (kind == 2) {
			uint16_t u;

			memcpy(&u, data + 2 * i, 2);
			cp = u;
		} else {
			memcpy(&cp, data + 4 * i, 4);
		}
		put_cp(&o, cp);
	}
}

struct str_head {
	uint64_t len; /* characters */
	unsigned kind; /* bytes per character */
	bool ascii;
	uint32_t data; /* offset of the characters */
};

/* A compact str's header: non-compact (legacy) strings are not read. */
static int str_head(const struct pycode_layout *l, uint64_t type, pycode_read_fn rd, void *ctx,
		    uint64_t addr, struct str_head *h)
{
	uint8_t head[STR_HEAD_MAX];
	unsigned state;
	int err;

	if (!obj_ptr(addr))
		return -EINVAL;
	err = rd(ctx, addr, head, l->str_ascii_data);
	if (err)
		return err;
	err = check_head(l, head, type);
	if (err)
		return err;
	h->len = get_u64(head, OB_SIZE);
	state = head[STR_STATE];
	h->kind = STR_KIND(state);
	h->ascii = state & STR_ASCII;
	if (h->len > STR_MAX_LEN || !(state & STR_COMPACT))
		return -EINVAL;
	if (l->str_ready_bit && !(state & STR_READY))
		return -EINVAL;
	if (h->ascii ? h->kind != 1 : h->kind != 1 && h->kind != 2 && h->kind != 4)
		return -EINVAL;
	h->data = h->ascii ? l->str_ascii_data : l->str_compact_data;
	return 0;
}

/* outsz <= 1024: at most 1023 characters are read, the most that fit. */
static int read_str(const struct pycode_layout *l, uint64_t type, pycode_read_fn rd, void *ctx,
		    uint64_t addr, char *out, size_t outsz)
{
	uint8_t data[1023 * 4];
	struct str_head h;
	size_t n;
	int err;

	out[0] = '\0';
	err = str_head(l, type, rd, ctx, addr, &h);
	if (err)
		return err;
	n = h.len < outsz - 1 ? h.len : outsz - 1;
	if (n * h.kind > sizeof(data))
		n = sizeof(data) / h.kind;
	if (n) {
		err = rd(ctx, addr + h.data, data, n * h.kind);
		if (err)
			return err;
	}
	ucs_to_utf8(data, n, h.kind, h.ascii, out, outsz);
	return 0;
}

/* ---- the code object ------------------------------------------------------ */

/* A bytes object's header; its size in *size. */
static int bytes_head(const struct pycode_layout *l, const struct pycode_types *t,
		      pycode_read_fn rd, void *ctx, uint64_t addr, uint64_t *size)
{
	uint8_t head[BYTES_HEAD];
	int err;

	if (!obj_ptr(addr))
		return -EINVAL;
	err = rd(ctx, addr, head, sizeof(head));
	if (err)
		return err;
	err = check_head(l, head, t->bytes);
	*size = get_u64(head, OB_SIZE);
	return err;
}

/* Bytecode size: a bytes object (3.8-3.10) or ob_size code units (3.11+). */
static int code_bytes(const struct pycode_layout *l, const struct pycode_types *t,
		      pycode_read_fn rd, void *ctx, const uint8_t *co, uint32_t *out)
{
	uint64_t n;
	int err;

	if (l->co_code >= 0) {
		err = bytes_head(l, t, rd, ctx, get_u64(co, l->co_code), &n);
		if (err)
			return err;
	} else {
		n = get_u64(co, OB_SIZE);
		if (n > PYCODE_MAX_CODE_BYTES / 2)
			return -EINVAL;
		n *= 2;
	}
	if (n == 0 || n > PYCODE_MAX_CODE_BYTES || (n & 1))
		return -EINVAL;
	*out = n;
	return 0;
}

/* A copy of the line table; none (NULL) when it is too long to keep. */
static int read_table(const struct pycode_layout *l, const struct pycode_types *t,
		      pycode_read_fn rd, void *ctx, const uint8_t *co, struct pycode_info *out)
{
	uint64_t addr = get_u64(co, l->co_linetable), n;
	int err;

	err = bytes_head(l, t, rd, ctx, addr, &n);
	if (err)
		return err;
	if (n >= TABLE_LEN_ABSURD)
		return -EINVAL;
	if (n > PYCODE_MAX_LINETABLE)
		return 0;
	out->linetable = malloc(n ? n : 1); /* an empty table is still a table */
	if (!out->linetable)
		return -ENOMEM;
	out->linetable_len = n;
	return n ? rd(ctx, addr + BYTES_DATA, out->linetable, n) : 0;
}

static int read_fields(const struct pycode_layout *l, const struct pycode_types *t,
		       pycode_read_fn rd, void *ctx, const uint8_t *co, struct pycode_info *out)
{
	uint64_t filename = get_u64(co, l->co_filename), name = get_u64(co, l->co_name);
	int32_t first;
	struct str_head h;
	int err;

	memcpy(&first, co + l->co_firstlineno, sizeof(first));
	if (first < 0) /* CPython refuses a negative co_firstlineno */
		return -EINVAL;
	err = code_bytes(l, t, rd, ctx, co, &out->code_bytes);
	if (!err)
		err = read_str(l, t->unicode, rd, ctx, filename, out->file, sizeof(out->file));
	if (!err && l->co_qualname >= 0) {
		/* co_name is only fingerprinted: check it is a str all the same */
		err = str_head(l, t->unicode, rd, ctx, name, &h);
		if (!err)
			err = read_str(l, t->unicode, rd, ctx, get_u64(co, l->co_qualname),
				       out->function, sizeof(out->function));
	} else if (!err) {
		err = read_str(l, t->unicode, rd, ctx, name, out->function, sizeof(out->function));
	}
	if (!err)
		err = read_table(l, t, rd, ctx, co, out);
	out->firstlineno = first;
	out->fp = pmt_code_fp(filename, name, (uint32_t)first);
	return err;
}

int pycode_read(const struct pycode_layout *l, const struct pycode_types *t, pycode_read_fn rd,
		void *ctx, uint64_t code_addr, struct pycode_info *out)
{
	static const struct pycode_types none;
	uint8_t co[CODE_SIZE_MAX];
	int err;

	memset(out, 0, sizeof(*out));
	if (!l || !rd || l->code_size > sizeof(co))
		return -EINVAL;
	if (!t)
		t = &none;
	if (code_addr < USER_MIN || code_addr >= USER_END)
		return -EFAULT;
	if (code_addr & 7)
		return -EINVAL;
	err = rd(ctx, code_addr, co, l->code_size);
	if (!err)
		err = check_head(l, co, t->code);
	if (!err)
		err = read_fields(l, t, rd, ctx, co, out);
	if (err) {
		pycode_info_free(out);
		memset(out, 0, sizeof(*out));
	}
	return err;
}

void pycode_info_free(struct pycode_info *info)
{
	if (!info)
		return;
	free(info->linetable);
	info->linetable = NULL;
	info->linetable_len = 0;
}

/* ---- instructions and lines ------------------------------------------------ */

int pycode_offset(const struct pycode_layout *l, uint64_t code_addr, uint64_t instr,
		  uint32_t code_bytes, uint32_t *byte_offset)
{
	uint64_t off, base;
	int32_t lasti;

	if (!l)
		return -EINVAL;
	if (l->instr == PYCODE_INSTR_ADDR) {
		base = code_addr + (uint32_t)l->co_code_adaptive;
		if (base < code_addr)
			return -ERANGE;
		if (instr == base - 2) /* 3.11/3.12 prev_instr before the first */
			instr = base;
		if (instr < base)
			return -ERANGE;
		off = instr - base;
	} else {
		/* an int the walker may have zero- or sign-extended */
		if (instr > 0xffffffffull && instr < 0xffffffff80000000ull)
			return -ERANGE;
		lasti = (int32_t)(uint32_t)instr;
		if (lasti < -1)
			return -ERANGE;
		off = lasti == -1 ? 0 : (uint64_t)lasti;
		if (l->instr == PYCODE_LASTI_UNITS)
			off *= 2;
	}
	if (off >= code_bytes)
		return -ERANGE;
	if (off & 1)
		return -EINVAL;
	*byte_offset = off;
	return 0;
}

static int valid_line(int64_t line)
{
	return line >= 0 && line <= 0x7fffffff ? (int)line : -1;
}

/* 3.8/3.9 co_lnotab: the line of the last entry starting at or before off. */
static int lnotab_line(const uint8_t *t, size_t len, int first, uint32_t off)
{
	int64_t line = first;
	uint64_t addr = 0;

	if (len & 1)
		return -1;
	for (size_t i = 0; i < len; i += 2) {
		addr += t[i];
		if (addr > off)
			break;
		line += (int8_t)t[i + 1];
	}
	return valid_line(line);
}

/* 3.10 co_linetable: consecutive ranges [start, start + t[i]) of line
 * (previous + (int8_t)t[i + 1]), -128 meaning none; empty ranges only
 * move the line. */
static int linetable310_line(const uint8_t *t, size_t len, int first, uint32_t off)
{
	int64_t line = first;
	uint64_t start, end = 0;

	if (len & 1)
		return -1;
	for (size_t i = 0; i < len; i += 2) {
		int8_t d = (int8_t)t[i + 1];

		start = end;
		end += t[i];
		if (d != -128)
			line += d;
		if (start <= off && off < end)
			return d == -128 ? -1 : valid_line(line);
	}
	return -1;
}

/* A varint of the location table: 6-bit chunks, least significant first,
 * bit 6 set on all but the last; a byte with bit 7 set starts the next
 * entry, so it cannot be part of one. */
static int read_varint(const uint8_t *t, size_t len, size_t *i, uint32_t *out)
{
	uint32_t v = 0;

	for (unsigned shift = 0;; shift += 6) {
		uint8_t b;

		if (*i >= len || shift > 30)
			return -1;
		b = t[(*i)++];
		if (b & 0x80)
			return -1;
		v |= (uint32_t)(b & 0x3f) << shift;
		if (!(b & 0x40))
			break;
	}
	*out = v;
	return 0;
}

/* One 3.11+ location entry at t[*i]: its length in code units and line
 * delta; the bytes it must hold for its form must be there. */
static int location_entry(const uint8_t *t, size_t len, size_t *i, unsigned *units, int64_t *delta,
			  bool *none)
{
	uint8_t b = t[(*i)++];
	unsigned code = (b >> 3) & 15, extra;
	uint32_t v;

	if (!(b & 0x80))
		return -1;
	*units = (b & 7) + 1;
	*delta = 0;
	*none = code == 15;
	if (code == 13 || code == 14) {
		if (read_varint(t, len, i, &v))
			return -1;
		*delta = (v & 1) ? -(int64_t)(v >> 1) : (int64_t)(v >> 1);
		for (int k = 0; code == 14 && k < 3; k++) /* end line, columns */
			if (read_varint(t, len, i, &v))
				return -1;
		return 0;
	}
	if (code >= 10 && code <= 12)
		*delta = code - 10;
	extra = code < 10 ? 1 : code < 13 ? 2 : 0; /* column bytes, all < 0x80 */
	for (; extra; extra--)
		if (*i >= len || (t[(*i)++] & 0x80))
			return -1;
	return 0;
}

/* 3.11+ location table (Objects/locations.md): entries cover consecutive
 * runs of code units; each moves the line by its delta from the previous
 * entry's (co_firstlineno before the first); "no location" leaves it. */
static int locations_line(const uint8_t *t, size_t len, int first, uint32_t off)
{
	int64_t line = first, delta;
	uint64_t end = 0;
	size_t i = 0;

	while (i < len) {
		unsigned units;
		bool none;

		if (location_entry(t, len, &i, &units, &delta, &none))
			return -1;
		line += delta;
		end += units * 2;
		if (off < end)
			return none ? -1 : valid_line(line);
	}
	return -1;
}

int pycode_line(const struct pycode_layout *l, const uint8_t *table, size_t len, int firstlineno,
		uint32_t byte_offset)
{
	if (!l || !table || firstlineno < 0)
		return -1;
	switch (l->table) {
	case PYCODE_LNOTAB:
		return lnotab_line(table, len, firstlineno, byte_offset);
	case PYCODE_LINETABLE310:
		return linetable310_line(table, len, firstlineno, byte_offset);
	case PYCODE_LOCATIONS:
		return locations_line(table, len, firstlineno, byte_offset);
	}
	return -1;
}
