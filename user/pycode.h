/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Naming a sampled Python frame out of process: a code object's address
 * and the instruction the BPF walker read with it become
 * "function (file:line)".
 *
 * pycode_read() reads the code object, its name, qualified name, file
 * name and line table through a caller-supplied reader (process_vm_readv
 * in pymemtop). Everything it reads belongs to another process and may be
 * stale, racing or hostile: every pointer is checked before it is
 * followed, every length is bounded, and what is not plausibly a live
 * code object is refused (-EINVAL), not guessed at. Names come back as
 * valid UTF-8 without control characters.
 *
 * pycode_offset() turns the walker's raw instruction value into a byte
 * offset into the bytecode; pycode_line() decodes the line table at that
 * offset: co_lnotab (3.8/3.9), the 3.10 co_linetable, or the 3.11+
 * location table (CPython's Objects/locations.md).
 *
 * The layout of each version is part of its row of the layout registry
 * (registry.c); for 3.13+ its offsets come from the interpreter's own
 * _Py_DebugOffsets.
 */
#ifndef PMT_PYCODE_H
#define PMT_PYCODE_H

#include <stddef.h>
#include <stdint.h>

#define PYCODE_MAX_LINETABLE  (1u << 20) /* bytes: a longer line table is not copied */
#define PYCODE_MAX_CODE_BYTES (1u << 28) /* bytes: larger bytecode is taken as garbage */

enum pycode_table_kind {
	PYCODE_LNOTAB, /* 3.8/3.9: (byte delta, signed line delta) pairs */
	PYCODE_LINETABLE310, /* 3.10: (byte length, line delta or -128) pairs */
	PYCODE_LOCATIONS, /* 3.11+: location entries, lengths in code units */
};

enum pycode_instr_kind {
	PYCODE_LASTI_BYTES, /* 3.8/3.9: f_lasti, a byte offset, -1 before the first */
	PYCODE_LASTI_UNITS, /* 3.10: f_lasti in 2-byte code units, -1 before the first */
	PYCODE_INSTR_ADDR, /* 3.11+: address of the instruction (prev_instr, instr_ptr) */
};

/* One minor version's layout; offsets in bytes from the object's start. */
struct pycode_layout {
	int major, minor;
	enum pycode_table_kind table;
	enum pycode_instr_kind instr;
	uint32_t code_size; /* bytes of the code object read at once (covers the fields) */
	uint32_t co_firstlineno; /* int */
	uint32_t co_filename, co_name; /* str pointers */
	int32_t co_qualname; /* str pointer (3.11+), -1 before */
	uint32_t co_linetable; /* bytes pointer: co_lnotab (3.8/3.9) or co_linetable */
	int32_t co_code; /* bytes pointer to the bytecode (3.8-3.10), -1 after */
	int32_t co_code_adaptive; /* inline bytecode (3.11+), -1 before; ob_size: its code units */
	uint32_t str_ascii_data; /* sizeof(PyASCIIObject): compact ASCII characters */
	uint32_t str_compact_data; /* sizeof(PyCompactUnicodeObject): other compact strings */
	int str_ready_bit; /* state bit 7 is "ready" and must be set (3.8-3.11) */
	/* bits of ob_refcnt that are the count: 64, or 48 from 3.14, whose
	 * top 16 bits are ob_flags (statically allocated, ...) */
	int refcnt_bits;
};

/* Reads len bytes at addr in the target: 0, or -errno with nothing
 * promised in buf (all or nothing). */
typedef int (*pycode_read_fn)(void *ctx, uint64_t addr, void *buf, size_t len);

/* Addresses of PyCode_Type, PyUnicode_Type and PyBytes_Type in the target;
 * 0: unknown, that type is not checked (the other checks still are). */
struct pycode_types {
	uint64_t code, unicode, bytes;
};

struct pycode_info {
	char function[256]; /* co_qualname (3.11+) else co_name */
	char file[1024]; /* co_filename */
	int firstlineno;
	uint32_t fp; /* pmt_code_fp(co_filename pointer, co_name pointer, co_firstlineno) */
	uint32_t code_bytes; /* size of the bytecode, bytes */
	uint8_t *linetable; /* malloc'd copy; NULL when longer than PYCODE_MAX_LINETABLE */
	size_t linetable_len; /* bytes */
};

/* Strings are UTF-8: characters the format cannot carry (lone surrogates,
 * code points past U+10FFFF, non-ASCII bytes in an ASCII string) become
 * U+FFFD, C0/C1 control characters and DEL become '?', and a string too
 * long for its buffer is cut at a character boundary.
 *
 * Returns 0, or -EFAULT (something could not be read), -EINVAL (not a
 * live code object: wrong type, a refcount a live object cannot have, a
 * pointer that cannot be one, absurd sizes or string state), -ENOMEM.
 * On error *out holds nothing to free; on success free it with
 * pycode_info_free(). */
int pycode_read(const struct pycode_layout *l, const struct pycode_types *t, pycode_read_fn rd,
		void *ctx, uint64_t code_addr, struct pycode_info *out);
void pycode_info_free(struct pycode_info *info); /* NULL-safe, idempotent */

/* The byte offset into the bytecode of the walker's raw instruction value
 * (enum pycode_instr_kind). A frame that has not started (f_lasti -1, or
 * on 3.11/3.12 prev_instr one code unit before the first instruction) is
 * at offset 0. Returns 0, -ERANGE outside [0, code_bytes), -EINVAL when
 * not on a code unit boundary. */
int pycode_offset(const struct pycode_layout *l, uint64_t code_addr, uint64_t instr,
		  uint32_t code_bytes, uint32_t *byte_offset);

/* The line of the instruction at byte_offset, or -1: the instruction has
 * no line (3.10+), the offset is past the table, or the table is NULL,
 * malformed or truncated. */
int pycode_line(const struct pycode_layout *l, const uint8_t *table, size_t len, int firstlineno,
		uint32_t byte_offset);

#endif
