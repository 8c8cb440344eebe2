/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Defensive ELF reader (libelf) for interpreter files found through /proc.
 * Files are untrusted: every offset and size is checked, a truncated or
 * hostile file gives -EINVAL/-ENOEXEC, never a crash. Only 64-bit
 * little-endian x86-64 ELF is accepted (-ENOEXEC otherwise).
 *
 * Error rule: int functions return 0 or a negative errno.
 */

#ifndef PMT_ELF_H
#define PMT_ELF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct elf_file;

struct elf_sym {
	uint64_t vaddr; /* st_value */
	uint64_t size; /* st_size, bytes */
	unsigned char type; /* STT_* */
	unsigned char bind; /* STB_* */
};

/* Open by path (the file is read with pread, never mmap'ed, so a file that
 * shrinks under us cannot SIGBUS us). -ENOENT, -EACCES..., -ENOEXEC when
 * not a supported ELF, -EINVAL when malformed. */
int elf_file_open(const char *path, struct elf_file **out);
/* Same on an fd the caller owns (duplicated internally). */
int elf_file_open_fd(int fd, struct elf_file **out);
void elf_file_close(struct elf_file *ef); /* NULL-safe */

bool elf_is_dyn(const struct elf_file *ef); /* ET_DYN (PIE or shared object) */
bool elf_has_symtab(const struct elf_file *ef); /* a non-empty .symtab */
bool elf_has_section(const struct elf_file *ef, const char *name);

/* Address and size of the allocated SHT_PROGBITS section name (e.g.
 * ".PyRuntime", which CPython 3.10+ puts _PyRuntime in and which survives
 * stripping). 0, or -ENOENT. Contents are read with elf_read_vaddr(). */
int elf_section_addr(const struct elf_file *ef, const char *name, uint64_t *vaddr, uint64_t *size);

/* Defined symbol lookup (st_shndx != SHN_UNDEF): .symtab first, then
 * .dynsym. STT_FILE and STT_SECTION entries are ignored; the first
 * definition in table order wins. 0, or -ENOENT. */
int elf_find_symbol(const struct elf_file *ef, const char *name, struct elf_sym *out);

/* Call cb for every defined STT_FUNC symbol whose name starts with
 * prefix, in .symtab then .dynsym. A .dynsym entry that is also in
 * .symtab (same name and address) is reported once only. cb returns 0 to
 * go on, non-zero to stop (that value is returned). Returns 0 when the
 * walk completed. */
typedef int (*elf_sym_cb)(const char *name, const struct elf_sym *sym, void *ctx);
int elf_foreach_func(const struct elf_file *ef, const char *prefix, elf_sym_cb cb, void *ctx);

/* Virtual address -> file offset, through the PT_LOAD segment holding it
 * (inside p_filesz). 0, or -ENOENT. */
int elf_vaddr_to_offset(const struct elf_file *ef, uint64_t vaddr, uint64_t *off);
/* File offset -> virtual address (inverse of the above). 0, or -ENOENT. */
int elf_offset_to_vaddr(const struct elf_file *ef, uint64_t off, uint64_t *vaddr);
/* Read len bytes of file content at vaddr (must lie inside one PT_LOAD's
 * file-backed part). 0, -ENOENT, -EIO. */
int elf_read_vaddr(const struct elf_file *ef, uint64_t vaddr, void *buf, size_t len);

/* Bounds [start, end) of the function holding vaddr, from the unwind
 * table (.eh_frame_hdr and its FDE), which stripping keeps: how long a
 * function is in a stripped file. 0, -ENOENT (no table, or vaddr in no
 * function), -ENOTSUP (an encoding not handled), -EINVAL (malformed). */
int elf_func_bounds(const struct elf_file *ef, uint64_t vaddr, uint64_t *start, uint64_t *end);

/* GNU build-id as lowercase hex into buf (NUL-terminated). -ENOENT if none,
 * -ENOSPC if buf is too small. */
int elf_build_id(const struct elf_file *ef, char *buf, size_t buflen);

/* Number of SystemTap SDT notes (.note.stapsdt) with this provider, and
 * (if name is not NULL) this probe name. 0 when none or no such section;
 * malformed notes are not counted. -EINVAL (bad arguments, unreadable
 * section) or -EFBIG (section over the internal cap). */
int elf_usdt_count(const struct elf_file *ef, const char *provider, const char *name);

/* DT_SONAME, or NULL. The string lives as long as ef. */
const char *elf_soname(const struct elf_file *ef);
/* True if a DT_NEEDED entry starts with prefix. */
bool elf_needs(const struct elf_file *ef, const char *prefix);

/* Call cb once with the full contents of each SHT_PROGBITS section named
 * name (e.g. ".rodata"), read into a bounded buffer (sections larger than
 * max_bytes are skipped with -EFBIG). A non-zero cb return value stops the
 * walk and is returned. Otherwise -EFBIG if a section was skipped, -ENOENT
 * if there is no such section, -EIO on a short read, else 0. */
typedef int (*elf_data_cb)(const unsigned char *data, size_t len, void *ctx);
int elf_section_data(const struct elf_file *ef, const char *name, size_t max_bytes, elf_data_cb cb,
		     void *ctx);

#endif /* PMT_ELF_H */
