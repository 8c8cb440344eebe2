// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Python heap layout and out-of-process snapshots, see pyheap.h.
 *
 * Every version-specific offset comes from the interpreter's row of the
 * layout registry (registry.c); this file knows only structures that did
 * not change in 3.8-3.15 (Objects/obmalloc.c, Include/internal/pycore_obmalloc.h):
 *   struct pool_header (48 B): ref.count u32 @0, arenaindex u32 @32,
 *     szidx u32 @36. struct arena_object (48 B): address @0,
 *     pool_address @8, nfreepools u32 @16, ntotalpools u32 @20.
 *   struct _pymem_allocators (3.12+): standard.raw @8, .obj @88.
 * Every read is validated; nothing read from the target is trusted to be
 * in range, and a state that does not look like pymalloc's (the registry
 * row does not fit the build) is dropped, never reported.
 */
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <time.h>
#include "procfs.h"
#include "pyheap.h"
#include "x86.h"

#define ARENA_OBJ_SIZE 48
#define MAX_ARENAS     (1u << 22) /* 4 M arenas = 4 TiB of heap: beyond that, garbage */
#define STUB_BYTES     96
#define STUB_INSNS     32
#define FUNC_BYTES     1024
#define FUNC_INSNS     256
/* instructions a probe point is looked for in (PyObject_GC_Del on Debian 3.11: the 12th) */
#define PROBE_INSNS    16
#define REFILL_WINDOW  384 /* bytes of _PyObject_Malloc searched for the refill call */
#define SNAPSHOT_TRIES 3
#define RETRY_BELOW_NS (10 * 1000 * 1000) /* a walk this long is not retried */
#define IOV_BATCH      512
#define GC_STATE_MAX   512 /* bytes of struct _gc_runtime_state read */
#define GC_RING_MAX    2048 /* bytes of 3.15's struct gc_stats */
#define OBSTATE_MAX    2048 /* struct _obmalloc_state up to raw_allocated_blocks */
#define RODATA_MAX     (64u << 20)

uint32_t pyheap_pool_capacity(uint32_t szidx, uint32_t pool_size)
{
	if (szidx >= PYHEAP_NCLASSES || pool_size <= PYHEAP_POOL_OVERHEAD)
		return 0;
	return (pool_size - PYHEAP_POOL_OVERHEAD) / ((szidx + 1) * 16);
}

bool pyheap_pool_valid(uint32_t count, uint32_t szidx, uint32_t arenaindex, uint32_t want_index,
		       uint32_t pool_size)
{
	if (arenaindex != want_index)
		return false;
	if (count == 0)
		return true; /* an empty pool's class is stale: not used */
	return szidx < PYHEAP_NCLASSES && count <= pyheap_pool_capacity(szidx, pool_size);
}

const char *pyheap_allocator_name(enum pyheap_allocator a)
{
	switch (a) {
	case PYHEAP_ALLOC_PYMALLOC:
		return "pymalloc";
	case PYHEAP_ALLOC_PYMALLOC_HOOKED:
		return "pymalloc+hooks";
	case PYHEAP_ALLOC_MALLOC:
		return "malloc";
	case PYHEAP_ALLOC_MIMALLOC:
		return "mimalloc";
	default:
		return NULL;
	}
}

/* ---- finding things in the ELF file ------------------------------------- */

static uint64_t sym_addr(const struct elf_file *ef, const char *name)
{
	struct elf_sym s;

	return elf_find_symbol(ef, name, &s) ? 0 : s.vaddr;
}

/* Decode the function at vaddr (at most max_bytes, or its symbol size). */
static int decode_at(const struct elf_file *ef, uint64_t vaddr, size_t max_bytes,
		     struct x86_dec *insns, int max)
{
	uint8_t code[FUNC_BYTES];
	size_t len = max_bytes < sizeof(code) ? max_bytes : sizeof(code);

	/* the function may end near the segment's end: shrink until readable */
	while (len >= 16 && elf_read_vaddr(ef, vaddr, code, len))
		len /= 2;
	if (len < 16)
		return -ENOENT;
	return x86_decode(code, len, vaddr, true, insns, max);
}

static int decode_func(const struct elf_file *ef, const char *name, size_t max_bytes,
		       struct x86_dec *insns, int max, uint64_t *vaddr)
{
	struct elf_sym s;

	if (elf_find_symbol(ef, name, &s) || s.type != STT_FUNC)
		return -ENOENT;
	if (s.size && s.size < max_bytes)
		max_bytes = s.size;
	if (vaddr)
		*vaddr = s.vaddr;
	return decode_at(ef, s.vaddr, max_bytes, insns, max);
}

/* An exported allocator stub (PyObject_Malloc, PyMem_RawMalloc): the
 * table it calls through is the lowest static address it reads, and an
 * LTO build compares the table's function with the compiled-in default
 * (cmp $imm32 non-PIE, or lea+cmp PIE). */
int pyheap_decode_stub(const struct elf_file *ef, const char *name, uint64_t *table,
		       uint64_t *devirt)
{
	struct x86_dec in[STUB_INSNS];
	int n = decode_func(ef, name, STUB_BYTES, in, STUB_INSNS, NULL);

	*table = *devirt = 0;
	for (int i = 0; i < n; i++) {
		if (in[i].kind == X86_K_CALL || in[i].kind == X86_K_RET)
			break;
		if (in[i].has_mem && in[i].mem_static && !in[i].mem_indexed && in[i].mem_read &&
		    in[i].mem_size == 8 && (!*table || in[i].mem_addr < *table))
			*table = in[i].mem_addr;
		if (in[i].kind == X86_K_CMP && in[i].has_imm && !in[i].has_mem &&
		    in[i].imm > 0xffff)
			*devirt = in[i].imm;
		if (in[i].kind == X86_K_LEA && in[i].mem_static && !in[i].mem_indexed)
			*devirt = in[i].mem_addr; /* PIE: lea target(%rip),%reg; cmp %reg,... */
	}
	return *table ? 0 : -ENOENT;
}

/* Is the function at vaddr a PLT stub (jmp *GOT, after an endbr64)? */
static bool is_plt_stub(const struct elf_file *ef, uint64_t vaddr)
{
	struct x86_dec in[2];
	int n = decode_at(ef, vaddr, 16, in, 2);
	int i = n > 0 && in[0].kind == X86_K_ENDBR ? 1 : 0;

	return n <= i || (in[i].kind == X86_K_JMP && in[i].has_mem);
}

/* The first direct call in the real _PyObject_Malloc that is not to the
 * PLT: allocate_from_new_pool, which LTO never inlines (171 call sites). */
uint64_t pyheap_decode_refill(const struct elf_file *ef, uint64_t pymalloc)
{
	struct x86_dec in[FUNC_INSNS];
	uint8_t code[REFILL_WINDOW];
	int n;

	/* the slow path sits after the fast path's ret: do not stop there */
	if (!pymalloc || elf_read_vaddr(ef, pymalloc, code, sizeof(code)))
		return 0;
	n = x86_decode(code, sizeof(code), pymalloc, false, in, FUNC_INSNS);
	for (int i = 0; i < n; i++)
		if (in[i].kind == X86_K_CALL && in[i].target && !is_plt_stub(ef, in[i].target))
			return in[i].target;
	return 0;
}

/* _Py_GetAllocatedBlocks() (3.9-3.11) reads exactly the pymalloc state
 * we need: the 32-bit maxarenas, the arenas pointer (its register is
 * then dereferenced: arenas[i].address) and raw_allocated_blocks (the
 * sum's start, never dereferenced). The loop may be laid out with its
 * increment first, so a later write to the register does not end the
 * search; the result is validated against the live process anyway. */
int pyheap_decode_allocated_blocks(const struct elf_file *ef, struct pyheap_layout *l)
{
	struct x86_dec in[STUB_INSNS * 2];
	uint64_t loads[4];
	int n, nloads = 0, arenas = -1;

	n = decode_func(ef, "_Py_GetAllocatedBlocks", 256, in, STUB_INSNS * 2, NULL);
	l->maxarenas = 0;
	for (int i = 0; i < n; i++) {
		const struct x86_dec *x = &in[i];

		if (x->kind != X86_K_MOV || !x->has_mem || !x->mem_static || x->mem_indexed ||
		    !x->mem_read)
			continue;
		if (x->mem_size == 4 && x->dst_reg != X86_R_NONE) {
			if (l->maxarenas && l->maxarenas != x->mem_addr)
				return -EINVAL;
			l->maxarenas = x->mem_addr;
		} else if (x->mem_size == 8 && x->dst_reg != X86_R_NONE && nloads < 4) {
			loads[nloads++] = x->mem_addr;
			for (int j = i + 1; j < n; j++) {
				if (in[j].has_mem && !in[j].mem_static &&
				    in[j].mem_base == x->dst_reg) {
					if (arenas >= 0 && loads[arenas] != x->mem_addr)
						return -EINVAL;
					arenas = nloads - 1;
					break;
				}
			}
		}
	}
	if (!l->maxarenas || arenas < 0 || nloads != 2)
		return -ENOENT;
	l->arenas = loads[arenas];
	l->raw_blocks = loads[1 - arenas];
	return 0;
}

/* Does any direct branch in the function at fn land in (fn, at]? Then a
 * probe at `at` could fire more than once per call. */
static bool branch_into_prologue(const struct elf_file *ef, uint64_t fn, uint64_t at)
{
	struct x86_dec in[FUNC_INSNS];
	uint8_t code[FUNC_BYTES];
	size_t len = sizeof(code);
	int n;

	/* a window, not the symbol's size: stripped builds have none */
	while (len >= 16 && elf_read_vaddr(ef, fn, code, len))
		len /= 2;
	n = len >= 16 ? x86_decode(code, len, fn, false, in, FUNC_INSNS) : 0;
	for (int i = 0; i < n; i++)
		if ((in[i].kind == X86_K_JMP || in[i].kind == X86_K_JCC) && in[i].target > fn &&
		    in[i].target <= at)
			return true;
	return false;
}

/* Where a uprobe on fn costs least: the first instruction the kernel
 * emulates, among the first PROBE_INSNS (GCC 16's CET builds start
 * endbr64; sub $N,%rsp; three movs; test; je: the je is the first),
 * provided nothing before it writes one of
 * the argument registers in regs (bits of enum x86_reg64) or branches,
 * and no branch comes back to it. A conditional jump may be the probe
 * point (it still runs once per call); other branches only with
 * PROBE_ANY. 0 if there is no such instruction. */
enum probe_branches {
	PROBE_JCC, /* a conditional branch may carry the probe */
	PROBE_ANY, /* any emulated branch, a call or tail jump too (a uretprobe:
		    * the return address is at the top of the stack until it runs) */
};

static uint64_t emulated_probe_point(const struct elf_file *ef, uint64_t fn, uint32_t regs,
				     enum probe_branches branches)
{
	struct x86_dec in[PROBE_INSNS];
	int n = decode_at(ef, fn, 64, in, PROBE_INSNS);

	for (int i = 0; i < n; i++) {
		bool branch = in[i].kind == X86_K_CALL || in[i].kind == X86_K_JMP ||
			      in[i].kind == X86_K_JCC;

		if (in[i].uprobe_emulated &&
		    (!branch || branches == PROBE_ANY || in[i].kind == X86_K_JCC))
			return i && branch_into_prologue(ef, fn, in[i].addr) ? 0 : in[i].addr;
		if (in[i].uprobe_emulated || in[i].kind == X86_K_RET || (in[i].regs_written & regs))
			return 0;
	}
	return 0;
}

#define ARG_REG(n) (1u << ((n) == 1 ? X86_R_RDI : (n) == 2 ? X86_R_RSI : X86_R_RDX))

static void find_refill(const struct elf_file *ef, const struct py_info *pi,
			struct pyheap_layout *l)
{
	if (!l->reg.refill_arg) {
		snprintf(l->refill_reason, sizeof(l->refill_reason),
			 "CPython 3.%d inlines its pool refill (allocate_from_new_pool is 3.9+)",
			 pi->minor);
		return;
	}
	l->refill_arg = l->reg.refill_arg;
	l->refill_fn = sym_addr(ef, "allocate_from_new_pool");
	if (!l->refill_fn && l->pymalloc_fn)
		l->refill_fn = pyheap_decode_refill(ef, l->pymalloc_fn);
	if (!l->refill_fn) {
		snprintf(l->refill_reason, sizeof(l->refill_reason),
			 "pool refill function not found (no symbol, not decodable)");
		return;
	}
	l->refill_probe = emulated_probe_point(ef, l->refill_fn, ARG_REG(l->refill_arg), PROBE_JCC);
	if (l->refill_probe && elf_vaddr_to_offset(ef, l->refill_probe, &l->refill_offset)) {
		l->refill_probe = 0;
		snprintf(l->refill_reason, sizeof(l->refill_reason),
			 "pool refill at 0x%llx is outside the file's loadable segments",
			 (unsigned long long)l->refill_fn);
		return;
	}
	if (!l->refill_probe)
		snprintf(l->refill_reason, sizeof(l->refill_reason),
			 "pool refill at 0x%llx starts with instructions a uprobe must single-step",
			 (unsigned long long)l->refill_fn);
}

static const char *const precise_names[PYHEAP_PRECISE_NFN] = {
	"_PyObject_Malloc",
	"_PyObject_Calloc",
	"_PyObject_Realloc",
	"_PyObject_Free",
};
/* Argument registers each reads: (ctx, size) (ctx, nelem, elsize)
 * (ctx, ptr, size) (ctx, ptr). */
static const uint32_t precise_regs[PYHEAP_PRECISE_NFN] = {
	ARG_REG(2),
	ARG_REG(2) | ARG_REG(3),
	ARG_REG(2) | ARG_REG(3),
	ARG_REG(2),
};

#define REALLOC_BYTES 4096

/* The direct calls and jumps _PyObject_Realloc makes to _PyObject_Malloc
 * and _PyObject_Free (when it moves a block, or for a NULL pointer):
 * their return addresses, so these hits are not counted as allocations
 * of their own. -E2BIG when there are more call sites than slots. */
static int find_realloc_calls(const struct elf_file *ef, struct pyheap_layout *l,
			      const uint64_t fns[PYHEAP_PRECISE_NFN])
{
	uint64_t malloc_fn = fns[0], realloc_fn = fns[2], free_fn = fns[3], start, end;
	struct x86_dec *in = calloc(REALLOC_BYTES, sizeof(*in));
	uint8_t *code = malloc(REALLOC_BYTES);
	int n, k = 0, err = 0;
	struct elf_sym s;
	size_t len;

	if (!in || !code) {
		err = -ENOMEM;
		goto out;
	}
	/* its extent: the symbol's size, else (stripped) its unwind entry */
	if (!elf_find_symbol(ef, "_PyObject_Realloc", &s) && s.size && s.vaddr == realloc_fn)
		len = s.size;
	else if (!elf_func_bounds(ef, realloc_fn, &start, &end) && start == realloc_fn)
		len = end - start;
	else
		len = 0;
	if (!len || len > REALLOC_BYTES || elf_read_vaddr(ef, realloc_fn, code, len)) {
		err = -ENOENT;
		goto out;
	}
	n = x86_decode(code, len, realloc_fn, false, in, REALLOC_BYTES);
	for (int i = 0; i < n; i++) {
		if (in[i].target != malloc_fn && in[i].target != free_fn)
			continue;
		if (in[i].kind == X86_K_JMP && in[i].target == malloc_fn) {
			l->realloc_null_jumps = true;
		} else if (in[i].kind == X86_K_CALL) {
			if (k == PMT_PRECISE_NESTED) {
				err = -E2BIG;
				goto out;
			}
			l->precise_nested[k++] = in[i].addr + in[i].len;
		} else {
			err = -ENOTSUP; /* a conditional branch or a tail jump to free */
			goto out;
		}
	}
out:
	free(in);
	free(code);
	return err;
}

/* The raw allocator's malloc and calloc (which _PyObject_Malloc/Calloc
 * call for requests over 512 bytes, Objects/obmalloc.c): where a
 * uretprobe learns a large object sample's block. By name, else from the
 * raw allocator table in the file (PyMemAllocatorEx: ctx, malloc,
 * calloc, ...). Not found: large objects are sampled for the flow only. */
static void find_precise_raw(const struct elf_file *ef, struct pyheap_layout *l)
{
	static const char *const names[2] = { "_PyMem_RawMalloc", "_PyMem_RawCalloc" };
	uint64_t words[3];
	bool have_table = l->raw_table && !elf_read_vaddr(ef, l->raw_table, words, sizeof(words));

	for (int i = 0; i < 2; i++) {
		uint64_t fn = sym_addr(ef, names[i]), probe;

		if (!fn && have_table)
			fn = words[1 + i];
		/* the return address stays at the top of the stack up to the probe */
		probe = fn ? emulated_probe_point(ef, fn, 1u << X86_R_RSP, PROBE_ANY) : 0;
		if (!probe || elf_vaddr_to_offset(ef, probe, &l->precise_raw_offset[i])) {
			l->precise_raw_offset[0] = l->precise_raw_offset[1] = 0;
			return;
		}
	}
}

/* Instance samples (where per-call probes are refused): the exported
 * functions the type slots call, tp_alloc = PyType_GenericAlloc(type,
 * nitems) (a uretprobe too: %rsp untouched up to the probe) and tp_free
 * = PyObject_GC_Del(op) / PyObject_Free(op) (Objects/typeobject.c,
 * Modules/gcmodule.c or Python/gc.c, Objects/obmalloc.c). */
static void find_instances(const struct elf_file *ef, struct pyheap_layout *l)
{
	static const char *const names[3] = { "PyType_GenericAlloc", "PyObject_GC_Del",
					      "PyObject_Free" };
	static const uint32_t regs[3] = { ARG_REG(1) | ARG_REG(2) | 1u << X86_R_RSP, ARG_REG(1),
					  ARG_REG(1) };

	if (l->minor >= 13) {
		/* measured with uprobes on Debian's 3.13.5, 3.13.18, 3.15.2: 130-209
		 * PyType_GenericAlloc calls for 200 000 instances made (object_new
		 * calls an inlined copy) */
		snprintf(l->inst_reason, sizeof(l->inst_reason),
			 "3.13+ LTO builds call an inlined copy of PyType_GenericAlloc");
		return;
	}
	for (int i = 0; i < 3; i++) {
		uint64_t fn = sym_addr(ef, names[i]);
		uint64_t probe = fn ? emulated_probe_point(ef, fn, regs[i], PROBE_JCC) : 0;

		if (!probe || elf_vaddr_to_offset(ef, probe, &l->inst_offset[i])) {
			snprintf(l->inst_reason, sizeof(l->inst_reason), "%s %s", names[i],
				 fn ? "starts with instructions a uprobe must single-step"
				    : "not found");
			return;
		}
	}
	l->inst_ok = true;
}

/* Per-call probes see every allocation only where the allocator is
 * reached through its table: not where LTO compiled it into the callers
 * (the exported stub compares the table with a built-in copy). */
static void find_precise(const struct elf_file *ef, struct pyheap_layout *l, uint64_t devirt)
{
	uint64_t table, fns[PYHEAP_PRECISE_NFN], words[5];
	/* PyMemAllocatorEx: ctx, malloc, calloc, realloc, free */
	static const int slot[PYHEAP_PRECISE_NFN] = { 1, 2, 3, 4 };
	bool have_table;

	if (!devirt && pyheap_decode_stub(ef, "PyObject_Malloc", &table, &devirt))
		devirt = 0;
	if (devirt) {
		snprintf(l->precise_reason, sizeof(l->precise_reason),
			 "LTO build: PyObject_Malloc calls an inlined copy of the allocator, so "
			 "per-call probes would miss most allocations");
		return;
	}
	/* by name, else (stripped) what the object allocator table holds in
	 * the file: the default allocator's functions (x86-64 ld writes
	 * RELATIVE addends in place) */
	have_table = l->obj_table && !elf_read_vaddr(ef, l->obj_table, words, sizeof(words)) &&
		     words[1] == l->pymalloc_fn;
	for (int i = 0; i < PYHEAP_PRECISE_NFN; i++) {
		fns[i] = sym_addr(ef, precise_names[i]);
		if (!fns[i] && have_table)
			fns[i] = words[slot[i]];
		if (!fns[i]) {
			snprintf(l->precise_reason, sizeof(l->precise_reason),
				 "%s not found (stripped build, allocator table unreadable)",
				 precise_names[i]);
			return;
		}
		/* untouched %rsp: the return address is at the top of the stack */
		l->precise_probe[i] = emulated_probe_point(
			ef, fns[i], precise_regs[i] | 1u << X86_R_RSP, PROBE_JCC);
		if (!l->precise_probe[i] ||
		    elf_vaddr_to_offset(ef, l->precise_probe[i], &l->precise_offset[i])) {
			snprintf(l->precise_reason, sizeof(l->precise_reason),
				 "%s starts with instructions a uprobe must single-step",
				 precise_names[i]);
			return;
		}
	}
	if (find_realloc_calls(ef, l, fns)) {
		snprintf(l->precise_reason, sizeof(l->precise_reason),
			 "_PyObject_Realloc's calls to the allocator could not be decoded");
		return;
	}
	l->precise_ok = true;
	find_precise_raw(ef, l);
}

const char *pyheap_precise_name(int i)
{
	return i >= 0 && i < PYHEAP_PRECISE_NFN ? precise_names[i] : NULL;
}

/* The default object allocator function: _PyObject_Malloc by name, else
 * what the table holds in the file (x86-64 ld writes RELATIVE addends in
 * place), else the LTO stub's compiled-in comparison. */
static uint64_t find_pymalloc(const struct elf_file *ef, uint64_t table, uint64_t devirt)
{
	uint64_t fn = sym_addr(ef, "_PyObject_Malloc");

	if (!fn && table && elf_read_vaddr(ef, table + 8, &fn, sizeof(fn)))
		fn = 0;
	if (!fn)
		fn = devirt;
	return fn;
}

static void find_first_load(const struct elf_file *ef, struct pyheap_layout *l)
{
	l->pie = elf_is_dyn(ef);
	if (elf_offset_to_vaddr(ef, 0, &l->first_load_vaddr))
		l->first_load_vaddr = 0;
}

/* The label's string in the file: its vaddr (NUL-terminated, at the
 * start of a string or as the tail of a longer one). */
struct label_scan {
	const char *label;
	size_t len;
	uint64_t off;
	bool found;
};

static int label_cb(const unsigned char *data, size_t len, void *ctx)
{
	struct label_scan *ls = ctx;
	const unsigned char *p = data;

	while (len >= ls->len + 1 && (p = memmem(p, len - (p - data), ls->label, ls->len + 1))) {
		if (p == data || p[-1] == '\0') {
			ls->off = p - data;
			ls->found = true;
			return 1;
		}
		p++;
		if ((size_t)(p - data) + ls->len + 1 > len)
			break;
	}
	return 0;
}

/* In the function at fn (len bytes): the static loaded into %rdx for the
 * printone(out, label, value) call whose label (at str) goes into %rsi
 * (mov $imm, or a RIP-relative lea). 0, -ENOENT; *calls gets the direct
 * call and jump targets, for a search one level down. */
static int stat_in(const struct elf_file *ef, uint64_t fn, size_t len, uint64_t str, uint64_t *addr,
		   uint64_t *calls, int *ncalls)
{
	struct x86_dec *in = calloc(FUNC_INSNS * 8, sizeof(*in));
	uint8_t *code = malloc(len);
	int n = 0, err = -ENOENT;

	if (!in || !code)
		goto out;
	while (len >= 16 && elf_read_vaddr(ef, fn, code, len))
		len /= 2;
	n = len >= 16 ? x86_decode(code, len, fn, false, in, FUNC_INSNS * 8) : 0;
	for (int i = 0; i < n && err; i++) {
		bool is_label =
			in[i].dst_reg == X86_R_RSI &&
			((in[i].kind == X86_K_MOV && in[i].has_imm && in[i].imm == str) ||
			 (in[i].kind == X86_K_LEA && in[i].mem_static && in[i].mem_addr == str));

		if ((in[i].kind == X86_K_CALL || in[i].kind == X86_K_JMP) && in[i].target &&
		    *ncalls < 4)
			calls[(*ncalls)++] = in[i].target;
		if (!is_label)
			continue;
		for (int j = i - 1; j >= 0 && j >= i - 4; j--) {
			if (in[j].kind == X86_K_CALL)
				break;
			if (in[j].dst_reg != X86_R_RDX || !in[j].dst_written)
				continue;
			if (in[j].kind == X86_K_MOV && in[j].has_mem && in[j].mem_static &&
			    !in[j].mem_indexed && in[j].mem_read && in[j].mem_size == 8) {
				*addr = in[j].mem_addr;
				err = 0;
			}
			break; /* %rdx is computed: not a plain counter */
		}
		if (err)
			break;
	}
out:
	free(in);
	free(code);
	return err;
}

int pyheap_decode_debug_stat(const struct elf_file *ef, const char *label, uint64_t *addr)
{
	struct label_scan ls = { .label = label, .len = strlen(label) };
	uint64_t rodata, size, str, calls[4], deeper[4];
	struct elf_sym s;
	int ncalls = 0;

	*addr = 0;
	if (elf_find_symbol(ef, "_PyObject_DebugMallocStats", &s) || s.type != STT_FUNC ||
	    elf_section_addr(ef, ".rodata", &rodata, &size) ||
	    elf_section_data(ef, ".rodata", RODATA_MAX, label_cb, &ls) != 1 || !ls.found)
		return -ENOENT;
	str = rodata + ls.off;
	if (!stat_in(ef, s.vaddr, s.size && s.size < 8192 ? s.size : 8192, str, addr, calls,
		     &ncalls))
		return 0;
	/* GCC may split it: a small wrapper calling _PyObject_DebugMallocStats.part.0 */
	for (int i = 0; i < ncalls; i++) {
		int none = 0;

		if (!is_plt_stub(ef, calls[i]) &&
		    !stat_in(ef, calls[i], 8192, str, addr, deeper, &none))
			return 0;
	}
	return -ENOENT;
}

/* The 3.8-3.11 statics: named in .symtab, or decoded from exported
 * functions (_Py_GetAllocatedBlocks, the allocator stubs,
 * _PyObject_DebugMallocStats). */
static int find_statics(const struct elf_file *ef, const struct py_info *pi,
			struct pyheap_layout *out, uint64_t *devirt)
{
	uint64_t raw_devirt;

	out->obj_table = sym_addr(ef, "_PyObject");
	out->raw_table = sym_addr(ef, "_PyMem_Raw");
	if (!out->obj_table)
		pyheap_decode_stub(ef, "PyObject_Malloc", &out->obj_table, devirt);
	if (!out->raw_table)
		pyheap_decode_stub(ef, "PyMem_RawMalloc", &out->raw_table, &raw_devirt);
	out->pymalloc_fn = find_pymalloc(ef, out->obj_table, *devirt);
	out->arenas = sym_addr(ef, "arenas");
	out->maxarenas = sym_addr(ef, "maxarenas");
	out->usedpools = sym_addr(ef, "usedpools");
	out->narenas = sym_addr(ef, "narenas_currently_allocated");
	if (out->reg.statics_total_blocks)
		out->total_blocks = sym_addr(ef, "_Py_AllocatedBlocks");
	else
		out->raw_blocks = sym_addr(ef, "raw_allocated_blocks");
	/* CPython's count of arena allocations (3.8: also its flow) */
	out->arenas_allocated = sym_addr(ef, "ntimes_arena_allocated");
	out->where = PYHEAP_SYMTAB;
	if (!out->arenas || !out->maxarenas) {
		out->narenas = 0;
		if (out->reg.statics_decodable && !pyheap_decode_allocated_blocks(ef, out))
			out->where = PYHEAP_DECODED;
	}
	if (!out->arenas || !out->maxarenas) {
		out->where = PYHEAP_NONE;
		snprintf(out->reason, sizeof(out->reason),
			 "stripped %s build: pymalloc state not found (no .symtab%s)", pi->version,
			 out->reg.statics_decodable ? ", _Py_GetAllocatedBlocks not decodable"
						    : "");
		return -ENOENT;
	}
	if (!out->arenas_allocated &&
	    pyheap_decode_debug_stat(ef, "# arenas allocated total", &out->arenas_allocated))
		out->arenas_allocated = 0;
	return 0;
}

/* 3.12+: everything hangs off _PyRuntime: the allocator tables in it,
 * the main interpreter it points to, the pymalloc state in (3.12) or
 * pointed to by (3.13+) the interpreter. */
static void find_runtime_state(const struct elf_file *ef, uint64_t runtime,
			       struct pyheap_layout *out)
{
	const struct reg_layout *r = &out->reg;
	uint64_t alloc = runtime + r->rt_allocators;

	out->where = PYHEAP_RUNTIME;
	out->obm = (struct pyheap_ref){ .addr = runtime + r->rt_interp_main,
					.nderef = r->obm_at == REG_OBM_INTERP_PTR ? 2 : 1,
					.off = { r->is_obmalloc, 0 } };
	/* struct _pymem_allocators: standard.raw at +8, .mem +48, .obj +88 */
	out->obj_table = alloc + 88;
	out->raw_table = alloc + 8;
	out->pymalloc_fn = find_pymalloc(ef, out->obj_table, 0);
	out->mimalloc_fn = sym_addr(ef, "_PyObject_MiMalloc");
}

void pyheap_layout_find(const struct elf_file *ef, const struct py_info *pi,
			struct pyheap_layout *out)
{
	const struct reg_build *b = &pi->reg;
	const struct reg_layout *r;
	uint64_t devirt = 0;

	memset(out, 0, sizeof(*out));
	out->minor = pi->minor;
	find_first_load(ef, out);
	if (!b->ok) {
		snprintf(out->reason, sizeof(out->reason), "%s", b->reason);
		snprintf(out->refill_reason, sizeof(out->refill_reason), "%s", out->reason);
		return;
	}
	out->reg = b->l;
	r = &out->reg;
	out->arena_size = r->arena_size;
	out->pool_size = r->pool_size;
	if (b->runtime) {
		if (r->gc_at == REG_GC_IN_RUNTIME)
			out->gc = (struct pyheap_ref){ .addr = b->runtime + r->gc_state };
		else
			out->gc = (struct pyheap_ref){ .addr = b->runtime + r->rt_interp_main,
						       .nderef = 1,
						       .off = { r->gc_state } };
		out->gc_ok = true;
	}
	if (r->obm_at == REG_OBM_STATICS) {
		if (find_statics(ef, pi, out, &devirt))
			return;
	} else if (!b->runtime) {
		snprintf(out->reason, sizeof(out->reason), "_PyRuntime not found");
		return;
	} else {
		find_runtime_state(ef, b->runtime, out);
	}
	if (!out->obj_table || !out->pymalloc_fn) {
		snprintf(out->reason, sizeof(out->reason), "object allocator table not found");
		return;
	}
	out->heap_ok = true;
	out->type_type = sym_addr(ef, "PyType_Type");
	find_refill(ef, pi, out);
	find_precise(ef, out, devirt);
	if (!out->precise_ok)
		find_instances(ef, out);
}

/* ---- the process ---------------------------------------------------------- */

bool pyheap_bias_from_map(const struct pyheap_layout *l, uint64_t dev, uint64_t ino,
			  const struct proc_map *m, uint64_t *bias)
{
	if (m->offset != 0 || m->inode != ino || makedev(m->dev_major, m->dev_minor) != dev)
		return false;
	*bias = m->start - (l->first_load_vaddr & ~0xfffull);
	return true;
}

/* process_vm_readv of n pieces; all or nothing. */
static int readv_all(int pid, const struct iovec *local, const struct iovec *remote, int n)
{
	size_t want = 0;
	ssize_t got;

	for (int i = 0; i < n; i++)
		want += local[i].iov_len;
	got = process_vm_readv(pid, local, n, remote, n, 0);
	if (got < 0)
		return errno == ESRCH ? -ESRCH : errno == EPERM ? -EPERM : -EFAULT;
	return (size_t)got == want ? 0 : -EFAULT;
}

static int rd(int pid, uint64_t addr, void *buf, size_t len)
{
	struct iovec lo = { buf, len }, re = { (void *)(uintptr_t)addr, len };

	if (!addr)
		return -EFAULT;
	return readv_all(pid, &lo, &re, 1);
}

/* The address a reference names in the process: 0, -ESRCH, -EFAULT (a
 * pointer on the way could not be read, or was NULL). */
static int ref_addr(int pid, uint64_t bias, const struct pyheap_ref *r, uint64_t *out)
{
	uint64_t a = r->addr + bias, p;
	int err;

	if (!r->addr)
		return -EFAULT;
	for (int i = 0; i < r->nderef && i < 2; i++) {
		err = rd(pid, a, &p, sizeof(p));
		if (err)
			return err;
		if (!p || p & 7)
			return -EFAULT;
		a = p + r->off[i];
	}
	*out = a;
	return 0;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

/* Who serves PyObject_Malloc: the table's function, or through the ctx
 * of debug hooks ({char api_id; PyMemAllocatorEx alloc}: malloc at +16)
 * or tracemalloc (ctx is the saved PyMemAllocatorEx: malloc at +8).
 * *err: the table's read error (-ESRCH: the process is gone). */
static enum pyheap_allocator read_allocator(int pid, uint64_t bias, const struct pyheap_layout *l,
					    int *err)
{
	uint64_t table[2], raw[2], ctx;
	uint64_t pym = l->pymalloc_fn + bias;

	*err = rd(pid, l->obj_table + bias, table, sizeof(table));
	if (*err)
		return PYHEAP_ALLOC_UNKNOWN;
	if (table[1] == pym)
		return PYHEAP_ALLOC_PYMALLOC;
	if (l->mimalloc_fn && table[1] == l->mimalloc_fn + bias)
		return PYHEAP_ALLOC_MIMALLOC;
	ctx = table[0];
	for (int depth = 0; depth < 2 && ctx; depth++) {
		uint64_t pair[3];

		if (rd(pid, ctx, pair, sizeof(pair)))
			break;
		if (pair[1] == pym || pair[2] == pym)
			return PYHEAP_ALLOC_PYMALLOC_HOOKED;
		if (l->mimalloc_fn &&
		    (pair[1] == l->mimalloc_fn + bias || pair[2] == l->mimalloc_fn + bias))
			return PYHEAP_ALLOC_MIMALLOC;
		ctx = pair[0]; /* tracemalloc over debug hooks: its saved ctx */
	}
	if (l->raw_table && !rd(pid, l->raw_table + bias, raw, sizeof(raw)) && raw[1] &&
	    (table[1] == raw[1]))
		return PYHEAP_ALLOC_MALLOC;
	return PYHEAP_ALLOC_UNKNOWN;
}

static int32_t get_i32(const uint8_t *b, size_t off)
{
	int32_t v;

	memcpy(&v, b + off, sizeof(v));
	return v;
}

static int64_t get_i64(const uint8_t *b, size_t off)
{
	int64_t v;

	memcpy(&v, b + off, sizeof(v));
	return v;
}

/* 3.15's ring buffers, read whole under CPython's sequence lock
 * (update_seq is odd while it writes). 0, -EAGAIN (it kept writing),
 * -EFAULT, -ESRCH. */
static int read_ring(int pid, uint64_t addr, const struct reg_gc_ring *rg, uint8_t *buf)
{
	uint32_t seq, again;
	int err = -EAGAIN;

	if (!addr || addr & 7 || rg->size > GC_RING_MAX || rg->update_seq + 4 > rg->size)
		return -EFAULT;
	for (int t = 0; t < 3 && err == -EAGAIN; t++) {
		err = rd(pid, addr, buf, rg->size);
		if (err)
			return err;
		memcpy(&seq, buf + rg->update_seq, 4);
		err = rd(pid, addr + rg->update_seq, &again, 4);
		if (err)
			return err;
		err = seq & 1 || seq != again ? -EAGAIN : 0;
	}
	return err;
}

/* Generation g's buffer: its items, how many, the newest one's index. */
static const uint8_t *ring_gen(const uint8_t *buf, const struct reg_gc_ring *rg, int g,
			       uint32_t *nitems, int *newest)
{
	uint32_t base = g ? rg->old + (g - 1) * rg->old_size : 0;

	*nitems = g ? rg->old_items : rg->young_items;
	*newest = (int8_t)buf[base + (g ? rg->old_index : rg->young_index)];
	if (*newest < 0 || (uint32_t)*newest >= *nitems ||
	    base + *nitems * rg->item_size > rg->size)
		return NULL;
	return buf + base;
}

/* One item's cumulative counters into out's generation g; false when
 * they cannot be CPython's. */
static bool ring_item(const uint8_t *it, const struct reg_gc_ring *rg, int g, struct pyheap_gc *out)
{
	double d;

	out->collections[g] = get_i64(it, rg->collections);
	out->collected[g] = get_i64(it, rg->collected);
	out->uncollectable[g] = get_i64(it, rg->uncollectable);
	out->candidates[g] = get_i64(it, rg->candidates);
	memcpy(&d, it + rg->duration, sizeof(d));
	out->duration_s[g] = d;
	return out->collections[g] >= 0 && out->collected[g] >= 0 && out->uncollectable[g] >= 0 &&
	       out->candidates[g] >= 0 && d >= 0 && d < 1e9;
}

/* The newest item of each generation. */
static int read_gc_ring(int pid, uint64_t addr, const struct reg_gc_ring *rg, struct pyheap_gc *out)
{
	uint8_t buf[GC_RING_MAX];
	int err = read_ring(pid, addr, rg, buf);

	if (err)
		return err == -ESRCH ? err : 0; /* CPython kept collecting: not this frame */
	for (int g = 0; g < 3; g++) {
		uint32_t n;
		int newest;
		const uint8_t *items = ring_gen(buf, rg, g, &n, &newest);

		if (!items || !ring_item(items + newest * rg->item_size, rg, g, out))
			return 0;
	}
	out->stats_ok = out->ring_ok = true;
	return 0;
}

int pyheap_gc_at(int pid, uint64_t bias, const struct pyheap_layout *l, uint64_t ts_ns,
		 struct pyheap_gc *out)
{
	const struct reg_layout *r = &l->reg;
	uint8_t buf[GC_RING_MAX];
	uint64_t gc, ring;
	int err;

	memset(out, 0, sizeof(*out));
	if (!l->gc_ok || r->gc_stats_at != REG_GCSTATS_RING)
		return -ENOENT;
	err = ref_addr(pid, bias, &l->gc, &gc);
	if (!err)
		err = rd(pid, gc + r->gc_stats, &ring, sizeof(ring));
	if (!err)
		err = read_ring(pid, ring, &r->ring, buf);
	if (err)
		return err == -ESRCH ? err : -ENOENT;
	for (int g = 0; g < 3; g++) {
		const struct reg_gc_ring *rg = &r->ring;
		int64_t best = -1, stop;
		uint32_t n;
		int newest, at = -1;
		bool empty = false;
		const uint8_t *items = ring_gen(buf, rg, g, &n, &newest);

		if (!items)
			return -ENOENT;
		for (uint32_t i = 0; i < n; i++) {
			memcpy(&stop, items + i * rg->item_size + rg->ts_stop, 8);
			if (!stop)
				empty = true; /* never written: the ring has not wrapped */
			else if (stop <= (int64_t)ts_ns && stop > best)
				best = stop, at = i;
		}
		if (at >= 0 && !ring_item(items + at * rg->item_size, rg, g, out))
			return -ENOENT;
		if (at < 0 && !empty)
			return -ENOENT; /* everything it keeps is newer */
	}
	out->stats_ok = out->ring_ok = true;
	return 0;
}

int pyheap_read_gc(int pid, uint64_t bias, const struct pyheap_layout *l, struct pyheap_gc *out)
{
	const struct reg_layout *r = &l->reg;
	uint8_t g[GC_STATE_MAX];
	uint64_t addr, gen0;
	uint32_t gens, len;
	int err;

	memset(out, 0, sizeof(*out));
	if (!l->gc_ok)
		return 0;
	err = ref_addr(pid, bias, &l->gc, &addr);
	if (err)
		return err == -EFAULT ? 0 : err;
	len = r->gc_stats + (r->gc_stats_at == REG_GCSTATS_RING ? 8 : 3 * r->gc_stats_stride);
	if (r->gc_generation0 >= 0 && (uint32_t)r->gc_generation0 + 8 > len)
		len = r->gc_generation0 + 8;
	if (len > sizeof(g))
		return 0;
	err = rd(pid, addr, g, len);
	if (err)
		return err == -EFAULT ? 0 : err;
	out->enabled = get_i32(g, r->gc_enabled);
	if (out->enabled != 0 && out->enabled != 1)
		return 0; /* not a gc state: do not report garbage */
	/* generations[] where generation0 points (builds differ: Debian's
	 * 3.13 has them at 20, pyenv's at 24) */
	gens = r->gc_generations;
	if (r->gc_generation0 >= 0) {
		memcpy(&gen0, g + r->gc_generation0, 8);
		if (gen0 == addr + r->gc_generations_alt && r->gc_generations_alt)
			gens = r->gc_generations_alt;
		else if (gen0 != addr + r->gc_generations)
			return 0;
	}
	for (int i = 0; i < 3; i++) {
		int32_t th = get_i32(g, gens + i * r->gc_gen_size + r->gc_gen_threshold);
		int32_t cnt = get_i32(g, gens + i * r->gc_gen_size + r->gc_gen_count);

		if (th < 0)
			return 0;
		out->threshold[i] = th;
		out->count[i] = cnt;
	}
	out->ok = true;
	if (r->gc_stats_at == REG_GCSTATS_RING) {
		uint64_t ring;

		memcpy(&ring, g + r->gc_stats, 8);
		return read_gc_ring(pid, ring, &r->ring, out) == -ESRCH ? -ESRCH : 0;
	}
	for (int i = 0; i < 3; i++) {
		const uint8_t *s = g + r->gc_stats + i * r->gc_stats_stride;

		out->collections[i] = get_i64(s, 0);
		out->collected[i] = get_i64(s, 8);
		out->uncollectable[i] = get_i64(s, 16);
		if (out->collections[i] < 0 || out->collected[i] < 0 || out->uncollectable[i] < 0)
			return 0;
	}
	out->stats_ok = true;
	return 0;
}

int pyheap_state_vars(int pid, uint64_t bias, const struct pyheap_layout *l, uint64_t *arenas_var,
		      uint64_t *maxarenas_var)
{
	uint64_t base;
	int err;

	if (l->where != PYHEAP_RUNTIME) {
		*arenas_var = l->arenas + bias;
		*maxarenas_var = l->maxarenas + bias;
		return 0;
	}
	err = ref_addr(pid, bias, &l->obm, &base);
	if (err)
		return err;
	*arenas_var = base + l->reg.obm_arenas;
	*maxarenas_var = base + l->reg.obm_maxarenas;
	return 0;
}

int pyheap_usedpools_var(int pid, uint64_t bias, const struct pyheap_layout *l, uint64_t *out)
{
	*out = 0;
	if (l->where == PYHEAP_RUNTIME)
		return ref_addr(pid, bias, &l->obm, out); /* pools.used[] comes first */
	if (l->usedpools)
		*out = l->usedpools + bias;
	return 0;
}

/* The pymalloc state words: arenas pointer, maxarenas, narenas, raw or
 * total block counter. */
struct obstate {
	uint64_t arenas;
	uint32_t maxarenas;
	uint32_t arena_size; /* 3.15: the build's (1 or 2 MiB) */
	uint64_t narenas;
	bool has_narenas;
	int64_t blocks; /* raw (3.9+) or total (3.8) */
	bool has_blocks;
	uint64_t arenas_allocated; /* ntimes_arena_allocated */
	bool has_arenas_allocated;
};

/* usedpools: each class's pair of list pointers is its sentinel (an
 * empty class: both point 16 bytes before the pair, where the fake
 * pool header's nextpool/prevpool would put them) or pool headers,
 * which are pool-aligned. A pointer that is neither means the offsets
 * do not describe this build. */
static bool usedpools_valid(const uint8_t *st, uint64_t base, uint32_t pool_size)
{
	for (int i = 0; i < PYHEAP_NCLASSES; i++) {
		uint64_t sentinel = base + (uint64_t)i * 16 - 16;

		for (int k = 0; k < 2; k++) {
			uint64_t p;

			memcpy(&p, st + i * 16 + k * 8, 8);
			if (p != sentinel && (!p || p & (pool_size - 1)))
				return false;
		}
	}
	return true;
}

/* 3.15 builds may have 2 MiB arenas: pools per arena from an arena in
 * use (ntotalpools, one less when its address is not on a pool
 * boundary). */
static int arena_size_live(int pid, const struct pyheap_layout *l, uint64_t arenas, uint32_t max,
			   uint32_t *out)
{
	const struct reg_layout *r = &l->reg;
	uint8_t a[16 * ARENA_OBJ_SIZE];
	uint32_t n = max < 16 ? max : 16;
	int err;

	*out = r->arena_size;
	if (!r->arena_size_alt || !n)
		return 0;
	err = rd(pid, arenas, a, (size_t)n * ARENA_OBJ_SIZE);
	if (err)
		return err;
	for (uint32_t i = 0; i < n; i++) {
		uint64_t addr;
		uint32_t total, pools;

		memcpy(&addr, a + i * ARENA_OBJ_SIZE, 8);
		memcpy(&total, a + i * ARENA_OBJ_SIZE + 20, 4);
		if (!addr)
			continue;
		pools = total + ((addr & (l->pool_size - 1)) != 0);
		if ((uint64_t)pools * l->pool_size == r->arena_size ||
		    (uint64_t)pools * l->pool_size == r->arena_size_alt) {
			*out = pools * l->pool_size;
			return 0;
		}
		return -EAGAIN;
	}
	return 0;
}

static int read_runtime_obstate(int pid, uint64_t bias, const struct pyheap_layout *l,
				struct obstate *s)
{
	const struct reg_layout *r = &l->reg;
	uint8_t buf[OBSTATE_MAX];
	uint32_t ppa, mg;
	uint64_t base;
	size_t len;
	int err;

	err = ref_addr(pid, bias, &l->obm, &base);
	if (err)
		return err;
	ppa = (r->arena_size_alt > r->arena_size ? r->arena_size_alt : r->arena_size) /
	      l->pool_size;
	len = r->obm_nfp2lasta + (ppa + 1) * 8 + 32;
	if (len > sizeof(buf))
		return -EINVAL;
	err = rd(pid, base, buf, len);
	if (err)
		return err;
	if (!usedpools_valid(buf, base, l->pool_size))
		return -EAGAIN;
	memcpy(&s->arenas, buf + r->obm_arenas, 8);
	memcpy(&s->maxarenas, buf + r->obm_maxarenas, 4);
	if (s->maxarenas > MAX_ARENAS || (s->maxarenas && !s->arenas))
		return -EAGAIN;
	err = arena_size_live(pid, l, s->arenas, s->maxarenas, &s->arena_size);
	if (err)
		return err;
	/* narenas_currently_allocated, ntimes_arena_allocated,
	 * narenas_highwater, raw_allocated_blocks after nfp2lasta[] */
	mg = r->obm_nfp2lasta + (s->arena_size / l->pool_size + 1) * 8;
	{
		uint64_t cur, ntimes, high;

		memcpy(&cur, buf + mg, 8);
		memcpy(&ntimes, buf + mg + 8, 8);
		memcpy(&high, buf + mg + 16, 8);
		memcpy(&s->blocks, buf + mg + 24, 8);
		if (cur > s->maxarenas || high < cur || ntimes < high)
			return -EAGAIN;
		s->narenas = cur;
		s->arenas_allocated = ntimes;
	}
	s->has_narenas = s->has_blocks = s->has_arenas_allocated = true;
	return 0;
}

static int read_obstate(int pid, uint64_t bias, const struct pyheap_layout *l, struct obstate *s)
{
	struct iovec lo[5], re[5];
	int n = 0;

	memset(s, 0, sizeof(*s));
	if (l->where == PYHEAP_RUNTIME)
		return read_runtime_obstate(pid, bias, l, s);
	s->arena_size = l->arena_size;
#define PIECE(addr, field)                                                                         \
	do {                                                                                       \
		lo[n] = (struct iovec){ &(field), sizeof(field) };                                 \
		re[n] = (struct iovec){ (void *)(uintptr_t)((addr) + bias), sizeof(field) };       \
		n++;                                                                               \
	} while (0)
	PIECE(l->arenas, s->arenas);
	PIECE(l->maxarenas, s->maxarenas);
	if (l->narenas) {
		PIECE(l->narenas, s->narenas);
		s->has_narenas = true;
	}
	if (l->raw_blocks || l->total_blocks) {
		PIECE(l->raw_blocks ? l->raw_blocks : l->total_blocks, s->blocks);
		s->has_blocks = true;
	}
	if (l->arenas_allocated) {
		PIECE(l->arenas_allocated, s->arenas_allocated);
		s->has_arenas_allocated = true;
	}
#undef PIECE
	return readv_all(pid, lo, re, n);
}
/* Pool headers waiting to be read, up to IOV_BATCH per process_vm_readv;
 * the pools in use kept at random per size class. */
struct pool_batch {
	int n;
	uint32_t arena[IOV_BATCH]; /* the arena each header must name */
	/* the header (48 B) and the first block's first bytes */
	uint8_t hdr[IOV_BATCH][48 + PYHEAP_FIRST_BYTES];
	struct pyheap_census *census; /* NULL: not asked for */
	const struct reg_layout *reg;
	struct iovec lo[IOV_BATCH], re[IOV_BATCH];
	/* per class: the sample when there is no census or it is full */
	struct pyheap_pool_ref res[PYHEAP_NCLASSES][PYHEAP_SAMPLE_RESERVOIR];
	uint64_t rng;
};

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

int pyheap_readv_each(int pid, struct iovec *lo, struct iovec *re, int n, bool *ok)
{
	int i = 0;

	while (i < n) {
		int k = n - i < IOV_BATCH ? n - i : IOV_BATCH;
		ssize_t got = process_vm_readv(pid, lo + i, k, re + i, k, 0);

		if (got < 0 && errno == ESRCH)
			return -ESRCH;
		if (got < 0)
			got = 0;
		for (; k && (size_t)got >= lo[i].iov_len; k--, i++) {
			got -= lo[i].iov_len;
			if (ok)
				ok[i] = true;
		}
		if (!k)
			continue;
		/* the range that faulted (partly read: not trusted) */
		memset(lo[i].iov_base, 0, lo[i].iov_len);
		if (ok)
			ok[i] = false;
		i++;
	}
	return 0;
}

int pyheap_header_offsets(const struct reg_layout *r, uint32_t bs, uint32_t off[3])
{
	int n = 0;

	if (r->preheader_size && r->gc_head_size + r->preheader_size + 16 <= bs)
		off[n++] = r->gc_head_size + r->preheader_size;
	if (r->gc_head_size + 16 <= bs)
		off[n++] = r->gc_head_size;
	off[n++] = 0;
	return n;
}

bool pyheap_refcnt_plausible(uint64_t w)
{
	return w && w >> 32 < 0x100;
}

void pyheap_block_label(const struct reg_layout *r, const uint8_t *blk, uint32_t bs,
			uint64_t type[3])
{
	uint32_t off[3];
	int n = pyheap_header_offsets(r, bs, off);

	type[0] = type[1] = type[2] = 0;
	for (int k = 0; k < n; k++) {
		uint64_t w, t;

		if (off[k] + 16 > PYHEAP_FIRST_BYTES)
			continue;
		memcpy(&w, blk + off[k] + r->ob_refcnt, 8);
		memcpy(&t, blk + off[k] + r->ob_type, 8);
		type[k] = pyheap_refcnt_plausible(w) && !(t & 7) ? t : 0;
	}
}

static unsigned int label_hash(const struct pyheap_label *x)
{
	uint64_t h = x->szidx * 0x9e3779b97f4a7c15ull;

	for (int k = 0; k < 3; k++)
		h = (h ^ x->type[k]) * 0xff51afd7ed558ccdull;
	return (unsigned int)(h >> 40) % (2 * PYHEAP_CENSUS_MAX);
}

/* Draw pool r into a reservoir of seen pools so far (Vitter's algorithm R). */
static void reservoir_add(struct pyheap_pool_ref *res, uint64_t seen, uint64_t *rng,
			  struct pyheap_pool_ref r)
{
	uint64_t j;

	if (seen <= PYHEAP_SAMPLE_RESERVOIR)
		res[seen - 1] = r;
	else if ((j = xorshift(rng) % seen) < PYHEAP_SAMPLE_RESERVOIR)
		res[j] = r;
}

/* Count a pool in use under its first block's label, and draw it into
 * the label's reservoir. */
static void census_add(struct pyheap_census *c, const struct reg_layout *r, const uint8_t *hdr,
		       struct pyheap_pool_ref ref, uint64_t *rng)
{
	struct pyheap_label x = { .szidx = ref.szidx };
	unsigned int h;

	pyheap_block_label(r, hdr + 48, (ref.szidx + 1) * 16, x.type);
	for (h = label_hash(&x); c->index[h] >= 0; h = (h + 1) % (2 * PYHEAP_CENSUS_MAX)) {
		struct pyheap_label *v = &c->v[c->index[h]];

		if (v->szidx == ref.szidx && !memcmp(v->type, x.type, sizeof(x.type))) {
			v->blocks += ref.count;
			ref.label = c->index[h];
			reservoir_add(v->res, ++v->pools, rng, ref);
			return;
		}
	}
	if (c->n == PYHEAP_CENSUS_MAX) {
		c->lost_blocks += ref.count;
		return;
	}
	x.blocks = ref.count;
	x.pools = 1;
	ref.label = c->n;
	x.res[0] = ref;
	c->index[h] = (int16_t)c->n;
	c->v[c->n++] = x;
}

static void census_reset(struct pyheap_census *c)
{
	c->n = 0;
	c->lost_blocks = 0;
	memset(c->index, 0xff, sizeof(c->index));
}

/* How many pools the snapshot's sample holds (pyheap.h). */
static int sample_budget(const struct pyheap_snapshot *out)
{
	uint64_t in_use = 0;

	for (int c = 0; c < PYHEAP_NCLASSES; c++)
		in_use += out->class_pools[c];
	in_use = PYHEAP_SAMPLE_BASE + in_use / PYHEAP_SAMPLE_PER;
	return in_use < PYHEAP_SAMPLE_POOLS ? (int)in_use : PYHEAP_SAMPLE_POOLS;
}

/* The snapshot's sample: one pool of each class in use (most live bytes
 * first) while the budget lasts, then the class whose bytes per chosen
 * pool are highest, again and again. Without a census. */
static void choose_pools(const struct pool_batch *b, struct pyheap_snapshot *out)
{
	int take[PYHEAP_NCLASSES] = { 0 }, left = sample_budget(out);

	out->nsample = 0;
	while (left > 0) {
		int best = -1;
		double bw = 0;

		for (int c = 0; c < PYHEAP_NCLASSES; c++) {
			uint64_t have = out->class_pools[c] < PYHEAP_SAMPLE_RESERVOIR
						? out->class_pools[c]
						: PYHEAP_SAMPLE_RESERVOIR;
			/* the first pool of a class outweighs any second one */
			double w = (double)out->classes[c] * (c + 1) / (take[c] + 1) +
				   (take[c] ? 0 : 1e18);

			if ((uint64_t)take[c] < have && w > bw) {
				bw = w;
				best = c;
			}
		}
		if (best < 0)
			break;
		out->sample[out->nsample++] = b->res[best][take[best]++];
		left--;
	}
}

/* The same over the census's labels: first one pool of each class in
 * use, from its label with the most blocks; then the label whose live
 * bytes per chosen pool are highest, again and again (bytes per draw
 * even out, so no big stratum rests on a pool or two). */
static void choose_labelled(const struct pyheap_census *cs, struct pyheap_snapshot *out)
{
	uint8_t take[PYHEAP_CENSUS_MAX] = { 0 };
	int top[PYHEAP_NCLASSES], budget = sample_budget(out);

	out->nsample = 0;
	for (int c = 0; c < PYHEAP_NCLASSES; c++)
		top[c] = -1;
	for (int i = 0; i < cs->n; i++) {
		int *t = &top[cs->v[i].szidx];

		if (*t < 0 || cs->v[i].blocks > cs->v[*t].blocks)
			*t = i;
	}
	for (int n = 0; n < PYHEAP_NCLASSES && out->nsample < budget; n++) {
		int best = -1; /* the class of most bytes not yet drawn from */

		for (int c = 0; c < PYHEAP_NCLASSES; c++)
			if (top[c] >= 0 && !take[top[c]] &&
			    (best < 0 ||
			     out->classes[c] * (c + 1) > out->classes[best] * (best + 1)))
				best = c;
		if (best < 0)
			break;
		out->sample[out->nsample++] = cs->v[top[best]].res[take[top[best]]++];
	}
	while (out->nsample < budget) {
		int best = -1;
		double bw = 0;

		for (int i = 0; i < cs->n; i++) {
			const struct pyheap_label *v = &cs->v[i];
			double w = (double)v->blocks * (v->szidx + 1) / (take[i] + 1);

			if (take[i] < v->pools && take[i] < PYHEAP_SAMPLE_RESERVOIR && w > bw) {
				bw = w;
				best = i;
			}
		}
		if (best < 0)
			break;
		out->sample[out->nsample++] = cs->v[best].res[take[best]++];
	}
}

/* Read the batched headers, validate them and add them up. */
static int flush_pools(int pid, const struct pyheap_layout *l, struct pool_batch *b,
		       struct pyheap_snapshot *out)
{
	int err = b->n ? readv_all(pid, b->lo, b->re, b->n) : 0;

	for (int i = 0; !err && i < b->n; i++) {
		struct pyheap_pool_ref ref;
		uint32_t count, aidx, szidx;

		memcpy(&count, b->hdr[i], 4);
		memcpy(&aidx, b->hdr[i] + 32, 4);
		memcpy(&szidx, b->hdr[i] + 36, 4);
		if (!pyheap_pool_valid(count, szidx, aidx, b->arena[i], l->pool_size))
			return -EAGAIN;
		out->pools++;
		if (!count)
			continue;
		ref = (struct pyheap_pool_ref){ (uint64_t)(uintptr_t)b->re[i].iov_base, szidx,
						count, -1 };
		reservoir_add(b->res[szidx], ++out->class_pools[szidx], &b->rng, ref);
		if (b->census)
			census_add(b->census, b->reg, b->hdr[i], ref, &b->rng);
		out->classes[szidx] += count;
		out->live_blocks += count;
		out->live_bytes += (uint64_t)count * (szidx + 1) * 16;
	}
	b->n = 0;
	return err;
}

/* One pass over arenas and pool headers. -EAGAIN when something did not
 * validate (the target changed under us). */
/* Whether the process can have st->maxarenas arena objects, before
 * pymemtop allocates and reads that many: CPython doubles the array only
 * when every object in it holds an arena (new_arena() in
 * Objects/obmalloc.c, 3.8-3.15; 16 at first), so it never has more than
 * twice the most arenas ever mapped at once, which the process's peak
 * address space (VmPeak) holds. 0, -EAGAIN (not this process's state),
 * -ESRCH. */
#define INITIAL_ARENA_OBJECTS 16
static int maxarenas_plausible(int pid, const struct obstate *st)
{
	struct proc_status ps;
	int err;

	if (st->maxarenas > MAX_ARENAS || (st->maxarenas && !st->arenas))
		return -EAGAIN;
	if (st->maxarenas <= INITIAL_ARENA_OBJECTS)
		return 0;
	err = procfs_read_status_mm(pid, &ps);
	if (err)
		return err == -ESRCH ? -ESRCH : -EAGAIN;
	if (!st->arena_size || st->maxarenas / 2 > ps.vm_peak_bytes / st->arena_size)
		return -EAGAIN;
	return 0;
}

static int walk(int pid, const struct pyheap_layout *l, const struct obstate *st,
		struct pyheap_snapshot *out, struct pyheap_census *census)
{
	size_t arenas_len = (size_t)st->maxarenas * ARENA_OBJ_SIZE;
	struct pool_batch *b = NULL;
	uint8_t *arenas = NULL;
	uint64_t narenas = 0;
	int err = maxarenas_plausible(pid, st);

	if (err)
		return err;
	memset(out->classes, 0, sizeof(out->classes));
	memset(out->class_pools, 0, sizeof(out->class_pools));
	out->live_blocks = out->live_bytes = out->pools = 0;
	out->nsample = 0;
	b = calloc(1, sizeof(*b));
	if (b) {
		b->rng = now_ns() ^ ((uint64_t)pid << 32) ^ 0x9e3779b97f4a7c15ull;
		b->census = census;
		b->reg = &l->reg;
		if (census)
			census_reset(census);
	}
	arenas = malloc(arenas_len ? arenas_len : 1);
	if (!b || !arenas) {
		err = -ENOMEM;
		goto out;
	}
	err = arenas_len ? rd(pid, st->arenas, arenas, arenas_len) : 0;
	for (uint32_t i = 0; !err && i < st->maxarenas; i++) {
		uint64_t addr, pool_addr, base;

		memcpy(&addr, arenas + (size_t)i * ARENA_OBJ_SIZE, 8);
		memcpy(&pool_addr, arenas + (size_t)i * ARENA_OBJ_SIZE + 8, 8);
		if (!addr)
			continue;
		narenas++;
		base = (addr + l->pool_size - 1) & ~((uint64_t)l->pool_size - 1);
		if (pool_addr < base || pool_addr > addr + st->arena_size ||
		    (pool_addr - base) % l->pool_size) {
			err = -EAGAIN;
			break;
		}
		for (uint64_t p = base; !err && p < pool_addr; p += l->pool_size) {
			b->arena[b->n] = i;
			b->lo[b->n] = (struct iovec){ b->hdr[b->n], sizeof(b->hdr[0]) };
			b->re[b->n] = (struct iovec){ (void *)(uintptr_t)p, sizeof(b->hdr[0]) };
			if (++b->n == IOV_BATCH)
				err = flush_pools(pid, l, b, out);
		}
	}
	if (!err)
		err = flush_pools(pid, l, b, out);
	if (!err && st->has_narenas && narenas != st->narenas)
		err = -EAGAIN;
	/* CPython's count of arenas ever allocated cannot be below those in use */
	if (!err && st->has_arenas_allocated && st->arenas_allocated < narenas)
		err = -EAGAIN;
	out->narenas = narenas;
	out->arena_size = st->arena_size;
	out->arena_bytes = narenas * st->arena_size;
	if (!err && census && !census->lost_blocks)
		choose_labelled(census, out);
	else if (!err)
		choose_pools(b, out);
out:
	free(arenas);
	free(b);
	return err == -EFAULT ? -EAGAIN : err;
}

int pyheap_peek(int pid, uint64_t bias, const struct pyheap_layout *l, struct pyheap_peek *out)
{
	struct obstate st;
	int err;

	memset(out, 0, sizeof(*out));
	if (!l->heap_ok)
		return -ENOTSUP;
	err = read_obstate(pid, bias, l, &st);
	if (err)
		return err;
	out->narenas = st.narenas;
	out->narenas_ok = st.has_narenas;
	out->arenas_allocated = st.arenas_allocated;
	out->arenas_allocated_ok = st.has_arenas_allocated;
	return 0;
}

bool pyheap_peek_accept(const struct pyheap_peek *pk, uint64_t *count, uint64_t *mmaps,
			uint64_t mmaps_now)
{
	uint64_t c = pk->arenas_allocated;

	if (!pk->arenas_allocated_ok || c < *count || mmaps_now < *mmaps)
		return false;
	if (pk->narenas_ok && c < pk->narenas)
		return false;
	if (c - *count > mmaps_now - *mmaps)
		return false;
	*count = c;
	*mmaps = mmaps_now;
	return true;
}

int pyheap_snapshot(int pid, uint64_t bias, const struct pyheap_layout *l,
		    struct pyheap_snapshot *out, struct pyheap_stats *stats)
{
	return pyheap_snapshot_census(pid, bias, l, out, stats, NULL);
}

int pyheap_snapshot_census(int pid, uint64_t bias, const struct pyheap_layout *l,
			   struct pyheap_snapshot *out, struct pyheap_stats *stats,
			   struct pyheap_census *census)
{
	uint64_t t0 = now_ns();
	struct obstate before, after;
	int err = -EAGAIN;

	memset(out, 0, sizeof(*out));
	err = pyheap_read_gc(pid, bias, l, &out->gc);
	if (!l->heap_ok) {
		/* gone is gone, not an empty snapshot */
		err = err == -ESRCH || err == -EPERM ? err : 0;
		goto done;
	}
	out->allocator = read_allocator(pid, bias, l, &err);
	if (err == -ESRCH || err == -EPERM)
		goto done;
	if (out->allocator != PYHEAP_ALLOC_PYMALLOC &&
	    out->allocator != PYHEAP_ALLOC_PYMALLOC_HOOKED) {
		err = 0;
		goto done;
	}
	for (unsigned int t = 0; t < SNAPSHOT_TRIES; t++) {
		/* A big heap that changed during a long walk will likely change
		 * again: drop it rather than walk it three times. */
		if (t && now_ns() - t0 > RETRY_BELOW_NS)
			break;
		if (t)
			out->retries++;
		err = read_obstate(pid, bias, l, &before);
		if (err == -ESRCH || err == -EPERM)
			goto done;
		if (err) {
			err = -EAGAIN;
			continue;
		}
		err = walk(pid, l, &before, out, census);
		if (err == -ESRCH || err == -ENOMEM)
			goto done;
		if (err)
			continue;
		err = read_obstate(pid, bias, l, &after);
		if (err == -ESRCH)
			goto done;
		if (err || after.arenas != before.arenas || after.maxarenas != before.maxarenas ||
		    after.narenas != before.narenas || after.arena_size != before.arena_size ||
		    after.arenas_allocated < before.arenas_allocated) {
			err = -EAGAIN;
			continue;
		}
		out->heap_ok = true;
		if (before.has_blocks) {
			out->raw_ok = true;
			/* 3.8 counts pymalloc and raw blocks together */
			out->raw_blocks = l->total_blocks ? after.blocks - (int64_t)out->live_blocks
							  : after.blocks;
			if (out->raw_blocks < 0)
				out->raw_ok = false;
		}
		out->arenas_allocated_ok = after.has_arenas_allocated;
		out->arenas_allocated = after.arenas_allocated;
		break;
	}
done:
	out->read_ns = now_ns() - t0;
	if (stats) {
		stats->snapshots++;
		stats->retries += out->retries;
		stats->read_ns += out->read_ns;
		if (err == -EAGAIN)
			stats->dropped++;
	}
	return err;
}
