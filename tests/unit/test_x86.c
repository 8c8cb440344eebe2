// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * x86.c: what the decoder reports for hand-assembled instructions (the
 * ones pymemtop's stub decoders and probe placement rely on), and that
 * random and truncated byte strings never crash it or produce an
 * instruction longer than its input.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "x86.h"

#define BASE 0x401000ull

static struct x86_dec one(const uint8_t *code, size_t len)
{
	struct x86_dec d[2];

	assert_int_equal(x86_decode(code, len, BASE, false, d, 1), 1);
	assert_int_equal(d[0].len, len);
	return d[0];
}

static void test_emulated_or_single_stepped(void **state)
{
	static const uint8_t push_rbx[] = { 0x53 }, push_r13[] = { 0x41, 0x55 }, nop[] = { 0x90 },
			     nopl[] = { 0x0f, 0x1f, 0x44, 0x00, 0x00 },
			     call[] = { 0xe8, 0x10, 0x00, 0x00, 0x00 }, jcc[] = { 0x74, 0x05 },
			     endbr[] = { 0xf3, 0x0f, 0x1e, 0xfa },
			     sub_rsp[] = { 0x48, 0x83, 0xec, 0x18 }, test[] = { 0x48, 0x85, 0xff },
			     lea[] = { 0x8d, 0x46, 0xff },
			     push_mem[] = { 0xff, 0x35, 0x00, 0x10, 0x00, 0x00 };
	struct x86_dec d;

	(void)state;
	d = one(push_rbx, sizeof(push_rbx));
	assert_true(d.uprobe_emulated);
	assert_int_equal(d.kind, X86_K_PUSH);
	assert_true(one(push_r13, sizeof(push_r13)).uprobe_emulated);
	assert_true(one(nop, sizeof(nop)).uprobe_emulated);
	assert_true(one(nopl, sizeof(nopl)).uprobe_emulated);
	d = one(call, sizeof(call));
	assert_true(d.uprobe_emulated);
	assert_int_equal(d.kind, X86_K_CALL);
	assert_int_equal(d.target, BASE + 5 + 0x10);
	d = one(jcc, sizeof(jcc));
	assert_true(d.uprobe_emulated);
	assert_int_equal(d.kind, X86_K_JCC);
	assert_int_equal(d.target, BASE + 2 + 5);
	d = one(endbr, sizeof(endbr));
	assert_int_equal(d.kind, X86_K_ENDBR);
	assert_false(d.uprobe_emulated);
	assert_false(one(sub_rsp, sizeof(sub_rsp)).uprobe_emulated);
	d = one(test, sizeof(test));
	assert_false(d.uprobe_emulated);
	assert_false(d.regs_written & (1u << X86_R_RDI));
	d = one(lea, sizeof(lea));
	assert_false(d.uprobe_emulated);
	assert_true(d.regs_written & (1u << X86_R_RAX));
	assert_false(one(push_mem, sizeof(push_mem)).uprobe_emulated);
}

static void test_static_operands(void **state)
{
	/* mov 0x100(%rip),%rdx ; mov 0xabf0f8,%r9d (absolute) ;
	 * mov 0x954d20(,%rax,8),%rdx ; mov (%rdi),%rax ; cmp $0x4d0be0,%rax ;
	 * addq $1,0x200(%rip) */
	static const uint8_t code[] = {
		0x48, 0x8b, 0x15, 0x00, 0x01, 0x00, 0x00, 0x44, 0x8b, 0x0c, 0x25, 0xf8, 0xf0, 0xab,
		0x00, 0x48, 0x8b, 0x14, 0xc5, 0x20, 0x4d, 0x95, 0x00, 0x48, 0x8b, 0x07, 0x48, 0x3d,
		0xe0, 0x0b, 0x4d, 0x00, 0x48, 0x83, 0x05, 0x00, 0x02, 0x00, 0x00, 0x01, 0xc3,
	};
	struct x86_dec d[16];
	int n = x86_decode(code, sizeof(code), BASE, true, d, 16);

	(void)state;
	assert_int_equal(n, 7);
	assert_true(d[0].mem_static && d[0].mem_read && !d[0].mem_indexed);
	assert_int_equal(d[0].mem_addr, BASE + 7 + 0x100);
	assert_int_equal(d[0].mem_size, 8);
	assert_int_equal(d[0].dst_reg, X86_R_RDX);
	assert_true(d[1].mem_static);
	assert_int_equal(d[1].mem_addr, 0xabf0f8);
	assert_int_equal(d[1].mem_size, 4);
	assert_int_equal(d[1].dst_reg, X86_R_R9);
	assert_true(d[2].mem_indexed);
	assert_int_equal(d[2].mem_addr, 0x954d20);
	assert_false(d[3].mem_static);
	assert_int_equal(d[3].mem_base, X86_R_RDI);
	assert_int_equal(d[4].kind, X86_K_CMP);
	assert_true(d[4].has_imm);
	assert_int_equal(d[4].imm, 0x4d0be0);
	assert_true(d[5].mem_static && d[5].mem_write);
	assert_int_equal(d[5].mem_addr, BASE + 40 + 0x200);
	assert_int_equal(d[6].kind, X86_K_RET);
}

static void test_bad_input(void **state)
{
	static const uint8_t garbage[] = { 0x0f, 0x0b, 0x06 }; /* ud2; invalid in 64-bit */
	struct x86_dec d[4];

	(void)state;
	assert_int_equal(x86_decode(NULL, 4, BASE, false, d, 4), -EINVAL);
	assert_int_equal(x86_decode(garbage, sizeof(garbage), BASE, false, d, 0), -EINVAL);
	/* ud2 decodes; the lone 0x06 does not and ends the walk */
	assert_int_equal(x86_decode(garbage, sizeof(garbage), BASE, false, d, 4), 1);
	/* a call cut short is not an instruction */
	assert_int_equal(x86_decode((const uint8_t *)"\xe8\x10\x00", 3, BASE, false, d, 4), 0);
}

/* Random and truncated bytes: never more bytes than given, addresses in
 * order, no crash (run under ASan/UBSan with make SAN=...). */
static void test_fuzz(void **state)
{
	uint8_t buf[64];
	struct x86_dec d[64];

	(void)state;
	srand(12345);
	for (int it = 0; it < 20000; it++) {
		size_t len = 1 + rand() % sizeof(buf);
		uint64_t end;
		int n;

		for (size_t i = 0; i < len; i++)
			buf[i] = rand();
		n = x86_decode(buf, len, BASE, it & 1, d, 64);
		assert_true(n >= 0 && n <= 64);
		end = BASE;
		for (int i = 0; i < n; i++) {
			assert_int_equal(d[i].addr, end);
			assert_true(d[i].len >= 1 && d[i].len <= 15);
			end += d[i].len;
		}
		assert_true(end - BASE <= len);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_emulated_or_single_stepped),
		cmocka_unit_test(test_static_operands),
		cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_fuzz),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
