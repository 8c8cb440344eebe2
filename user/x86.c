// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Capstone-backed decoder, see x86.h. Which instructions a uprobe
 * emulates follows the kernel's arch/x86/kernel/uprobes.c: relative
 * call/jmp/jcc, push of a register and nops (branch_setup_xol_ops,
 * push_setup_xol_ops); everything else, endbr64 included, is executed
 * out of line (single-stepped).
 */
#include <capstone/capstone.h>
#include <errno.h>
#include <string.h>
#include "x86.h"

/* Capstone register id -> 64-bit family. */
static enum x86_reg64 reg64(x86_reg r)
{
	static const x86_reg fam[X86_R_NR][4] = {
		{ X86_REG_RAX, X86_REG_EAX, X86_REG_AX, X86_REG_AL },
		{ X86_REG_RCX, X86_REG_ECX, X86_REG_CX, X86_REG_CL },
		{ X86_REG_RDX, X86_REG_EDX, X86_REG_DX, X86_REG_DL },
		{ X86_REG_RBX, X86_REG_EBX, X86_REG_BX, X86_REG_BL },
		{ X86_REG_RSP, X86_REG_ESP, X86_REG_SP, X86_REG_SPL },
		{ X86_REG_RBP, X86_REG_EBP, X86_REG_BP, X86_REG_BPL },
		{ X86_REG_RSI, X86_REG_ESI, X86_REG_SI, X86_REG_SIL },
		{ X86_REG_RDI, X86_REG_EDI, X86_REG_DI, X86_REG_DIL },
		{ X86_REG_R8, X86_REG_R8D, X86_REG_R8W, X86_REG_R8B },
		{ X86_REG_R9, X86_REG_R9D, X86_REG_R9W, X86_REG_R9B },
		{ X86_REG_R10, X86_REG_R10D, X86_REG_R10W, X86_REG_R10B },
		{ X86_REG_R11, X86_REG_R11D, X86_REG_R11W, X86_REG_R11B },
		{ X86_REG_R12, X86_REG_R12D, X86_REG_R12W, X86_REG_R12B },
		{ X86_REG_R13, X86_REG_R13D, X86_REG_R13W, X86_REG_R13B },
		{ X86_REG_R14, X86_REG_R14D, X86_REG_R14W, X86_REG_R14B },
		{ X86_REG_R15, X86_REG_R15D, X86_REG_R15W, X86_REG_R15B },
	};

	if (r == X86_REG_AH)
		return X86_R_RAX;
	if (r == X86_REG_CH)
		return X86_R_RCX;
	if (r == X86_REG_DH)
		return X86_R_RDX;
	if (r == X86_REG_BH)
		return X86_R_RBX;
	for (int i = 0; i < X86_R_NR; i++)
		for (int j = 0; j < 4; j++)
			if (fam[i][j] == r)
				return (enum x86_reg64)i;
	return X86_R_NONE;
}

static enum x86_kind kind_of(const cs_insn *ci)
{
	const cs_detail *d = ci->detail;

	switch (ci->id) {
	case X86_INS_MOV:
	case X86_INS_MOVZX:
	case X86_INS_MOVSX:
	case X86_INS_MOVSXD:
	case X86_INS_MOVABS:
		return X86_K_MOV;
	case X86_INS_LEA:
		return X86_K_LEA;
	case X86_INS_CMP:
		return X86_K_CMP;
	case X86_INS_ADD:
	case X86_INS_SUB:
	case X86_INS_INC:
	case X86_INS_DEC:
		return X86_K_ADD;
	case X86_INS_CALL:
		return X86_K_CALL;
	case X86_INS_JMP:
		return X86_K_JMP;
	case X86_INS_RET:
		return X86_K_RET;
	case X86_INS_PUSH:
		return X86_K_PUSH;
	case X86_INS_NOP:
		return X86_K_NOP;
	case X86_INS_ENDBR64:
		return X86_K_ENDBR;
	default:
		break;
	}
	for (int i = 0; i < d->groups_count; i++)
		if (d->groups[i] == CS_GRP_JUMP)
			return X86_K_JCC;
	return X86_K_OTHER;
}

/* Legacy prefixes other than REX make the kernel refuse or single-step. */
static bool plain_prefixes(const cs_x86 *x)
{
	for (int i = 0; i < 4; i++)
		if (x->prefix[i])
			return false;
	return true;
}

static void fill(const cs_insn *ci, struct x86_dec *o)
{
	const cs_x86 *x = &ci->detail->x86;

	memset(o, 0, sizeof(*o));
	o->addr = ci->address;
	o->len = ci->size;
	o->kind = kind_of(ci);
	o->mem_base = X86_R_NONE;
	o->dst_reg = X86_R_NONE;
	for (int i = 0; i < x->op_count && i < 8; i++) {
		const cs_x86_op *op = &x->operands[i];

		if (op->type == X86_OP_MEM && !o->has_mem) {
			o->has_mem = true;
			o->mem_size = op->size;
			o->mem_read = op->access & CS_AC_READ;
			o->mem_write = op->access & CS_AC_WRITE;
			o->mem_indexed = op->mem.index != X86_REG_INVALID;
			if (op->mem.base == X86_REG_RIP) {
				o->mem_static = !o->mem_indexed;
				o->mem_addr = ci->address + ci->size + (int64_t)op->mem.disp;
			} else if (op->mem.base == X86_REG_INVALID &&
				   op->mem.segment == X86_REG_INVALID) {
				o->mem_static = true;
				o->mem_addr = (uint64_t)op->mem.disp;
			} else {
				o->mem_base = reg64(op->mem.base);
			}
		} else if (op->type == X86_OP_REG && i == 0) {
			o->dst_reg = reg64(op->reg);
			o->dst_size = op->size;
			o->dst_written = op->access & CS_AC_WRITE;
		} else if (op->type == X86_OP_IMM && !o->has_imm) {
			o->has_imm = true;
			o->imm = (uint64_t)op->imm;
		}
	}
	/* lea computes an address and reads no memory. */
	if (o->kind == X86_K_LEA)
		o->mem_read = o->mem_write = false;
	if ((o->kind == X86_K_CALL || o->kind == X86_K_JMP || o->kind == X86_K_JCC) && o->has_imm &&
	    !o->has_mem && x->op_count == 1)
		o->target = o->imm;
	for (int i = 0; i < ci->detail->regs_write_count; i++) {
		enum x86_reg64 r = reg64(ci->detail->regs_write[i]);

		if (r != X86_R_NONE)
			o->regs_written |= 1u << r;
	}
	if (o->dst_reg != X86_R_NONE && o->dst_written)
		o->regs_written |= 1u << o->dst_reg;
	switch (o->kind) {
	case X86_K_CALL:
	case X86_K_JMP:
	case X86_K_JCC:
		o->uprobe_emulated = o->target && plain_prefixes(x);
		break;
	case X86_K_PUSH:
		o->uprobe_emulated = x->op_count == 1 && x->operands[0].type == X86_OP_REG &&
				     o->dst_size == 8 && plain_prefixes(x);
		break;
	case X86_K_NOP:
		o->uprobe_emulated = true;
		break;
	default:
		break;
	}
}

int x86_decode(const uint8_t *code, size_t len, uint64_t addr, bool stop_at_end,
	       struct x86_dec *out, int max)
{
	const uint8_t *p = code;
	uint64_t a = addr;
	size_t left = len;
	cs_insn *ci;
	csh h;
	int n = 0;

	if (!code || !out || max <= 0)
		return -EINVAL;
	if (cs_open(CS_ARCH_X86, CS_MODE_64, &h) != CS_ERR_OK)
		return -ENOMEM;
	cs_option(h, CS_OPT_DETAIL, CS_OPT_ON);
	ci = cs_malloc(h);
	if (!ci) {
		cs_close(&h);
		return -ENOMEM;
	}
	while (n < max && cs_disasm_iter(h, &p, &left, &a, ci)) {
		fill(ci, &out[n]);
		n++;
		if (stop_at_end && (out[n - 1].kind == X86_K_RET ||
				    (out[n - 1].kind == X86_K_JMP && !out[n - 1].target)))
			break;
	}
	cs_free(ci, 1);
	cs_close(&h);
	return n;
}
