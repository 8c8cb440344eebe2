/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * x86-64 instruction decoding (Capstone) reduced to what pymemtop needs
 * from machine code: the static data addresses a small function reads
 * or writes, its direct calls, and whether the kernel's uprobe code can
 * emulate an instruction (a probe there costs ~0.7 us a hit) or must
 * single-step it (~10 us). Code bytes come from untrusted files: any
 * byte string is accepted, undecodable bytes end the walk.
 */
#ifndef PMT_X86_H
#define PMT_X86_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* 64-bit register families (rax..r15), X86_R_NONE when none. */
enum x86_reg64 {
	X86_R_NONE = -1,
	X86_R_RAX,
	X86_R_RCX,
	X86_R_RDX,
	X86_R_RBX,
	X86_R_RSP,
	X86_R_RBP,
	X86_R_RSI,
	X86_R_RDI,
	X86_R_R8,
	X86_R_R9,
	X86_R_R10,
	X86_R_R11,
	X86_R_R12,
	X86_R_R13,
	X86_R_R14,
	X86_R_R15,
	X86_R_NR,
};

enum x86_kind {
	X86_K_OTHER,
	X86_K_MOV, /* mov/movzx/movsx/movsxd */
	X86_K_LEA,
	X86_K_CMP,
	X86_K_ADD, /* add/sub/inc/dec on memory or registers */
	X86_K_CALL,
	X86_K_JMP,
	X86_K_JCC,
	X86_K_RET,
	X86_K_PUSH,
	X86_K_NOP,
	X86_K_ENDBR,
};

struct x86_dec {
	uint64_t addr;
	uint8_t len;
	enum x86_kind kind;
	bool uprobe_emulated; /* the kernel emulates it: no single-step */
	/* call/jmp/jcc rel: the target; 0 for indirect branches */
	uint64_t target;
	/* The memory operand, if any. static_addr is set when its address
	 * does not depend on a register other than an index: RIP-relative,
	 * or an absolute displacement (non-PIE code). */
	bool has_mem;
	bool mem_static;
	bool mem_indexed; /* static base + index*scale (an array) */
	bool mem_read, mem_write;
	uint64_t mem_addr; /* static address (mem_static) */
	uint8_t mem_size; /* bytes accessed */
	enum x86_reg64 mem_base; /* base register of a non-static operand */
	/* The first operand when it is a register (the destination of mov,
	 * lea, add...), and whether the instruction writes it. */
	enum x86_reg64 dst_reg;
	uint8_t dst_size;
	bool dst_written;
	bool has_imm;
	uint64_t imm;
	/* Registers written (bit per enum x86_reg64), implicit ones included. */
	uint32_t regs_written;
};

/* Decode up to max instructions of code (len bytes at address addr),
 * stopping after the first ret or indirect jmp when stop_at_end.
 * Returns the number decoded (0 when the first bytes do not decode),
 * or -ENOMEM/-EINVAL. */
int x86_decode(const uint8_t *code, size_t len, uint64_t addr, bool stop_at_end,
	       struct x86_dec *out, int max);

#endif
