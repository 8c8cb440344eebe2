// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Defensive ELF reader, see elf.h.
 *
 * libelf runs in ELF_C_READ mode: it preads what it needs from our fd into
 * its own buffers, so a file that shrinks while we read it gives a read
 * error, not the SIGBUS an mmap would. The section and program header
 * tables, every section and every segment are checked against the file
 * size at open time, so later code can trust offsets and sizes (but not
 * contents). Whatever is read into memory is also capped, since a big but
 * consistent file must not make us allocate without bound.
 */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "elf_file.h"

/* Interpreter symbol and string tables are a few MiB at most (a libpython
 * with DWARF: ~20k symbols, < 1 MiB); notes and .dynamic a few KiB. */
#define ELF_MAX_TABLE_BYTES (64u << 20) /* a symbol or string table */
#define ELF_MAX_META_BYTES  (1u << 20) /* a note section or segment, .dynamic */

#define NO_SYM UINT32_MAX

#define NT_STAPSDT	   3
#define STAPSDT_ADDRS_SIZE (3 * sizeof(uint64_t)) /* pc, base, semaphore */

struct sym_table {
	Elf_Data *syms; /* owned by libelf */
	const char *strs; /* its string table; strs[strs_size - 1] == '\0' */
	size_t strs_size;
	uint32_t count; /* entries in syms, the null entry 0 included */
	uint32_t mask; /* hash buckets - 1 */
	uint32_t *heads; /* bucket -> its lowest symbol index, or NO_SYM */
	uint32_t *next; /* symbol index -> next index in its bucket, or NO_SYM */
};

struct elf_file {
	int fd;
	Elf *elf;
	uint64_t file_size; /* at open time; all ranges were checked against it */
	GElf_Half type; /* e_type */
	size_t shnum;
	size_t shstrndx;
	size_t phnum;
	struct sym_table symtab;
	struct sym_table dynsym;
};

typedef int (*note_fn)(const GElf_Nhdr *nh, const char *owner, const unsigned char *desc,
		       void *ctx);

static pthread_once_t libelf_once = PTHREAD_ONCE_INIT;
static bool libelf_ok;

static void libelf_init(void)
{
	libelf_ok = elf_version(EV_CURRENT) != EV_NONE;
}

static bool in_file(const struct elf_file *ef, uint64_t off, uint64_t size)
{
	return off <= ef->file_size && size <= ef->file_size - off;
}

static int pread_full(int fd, void *buf, size_t len, uint64_t off)
{
	unsigned char *p = buf;

	while (len) {
		ssize_t n = pread(fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) /* a short file is as bad as an I/O error here */
			return -EIO;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

static const char *scn_name(const struct elf_file *ef, const GElf_Shdr *sh)
{
	return elf_strptr(ef->elf, ef->shstrndx, sh->sh_name);
}

/* First section of this type, or NULL. */
static Elf_Scn *find_scn_type(const struct elf_file *ef, GElf_Word type, GElf_Shdr *sh)
{
	Elf_Scn *scn = NULL;

	while ((scn = elf_nextscn(ef->elf, scn)))
		if (gelf_getshdr(scn, sh) && sh->sh_type == type)
			return scn;
	return NULL;
}

/* Section contents through libelf (cached until elf_end), NULL when over
 * max or unreadable. */
static Elf_Data *scn_data(Elf_Scn *scn, const GElf_Shdr *sh, size_t max)
{
	if (sh->sh_type == SHT_NOBITS || sh->sh_size > max)
		return NULL;
	return elf_getdata(scn, NULL);
}

/* 0 when ndx is a string table we may load, 1 when it is one but over the
 * cap, -EINVAL when it is not a string table at all. */
static int strtab_check(const struct elf_file *ef, size_t ndx)
{
	GElf_Shdr sh;
	Elf_Scn *scn;

	if (ndx == SHN_UNDEF || ndx >= ef->shnum)
		return -EINVAL;
	scn = elf_getscn(ef->elf, ndx);
	if (!scn || !gelf_getshdr(scn, &sh) || sh.sh_type != SHT_STRTAB)
		return -EINVAL;
	return sh.sh_size > ELF_MAX_TABLE_BYTES;
}

/* --- open-time validation ------------------------------------------------ */

/* Our own look at e_ident, before libelf: tells "not ELF" and "unsupported
 * ELF" (-ENOEXEC) from "ELF but broken" (-EINVAL, decided later). */
static int check_ident(int fd)
{
	unsigned char id[EI_NIDENT];

	if (pread_full(fd, id, sizeof(id), 0) || memcmp(id, ELFMAG, SELFMAG))
		return -ENOEXEC;
	if (id[EI_CLASS] != ELFCLASS64 || id[EI_DATA] != ELFDATA2LSB)
		return -ENOEXEC;
	return 0;
}

/* Header tables: libelf treats a section header table that does not fit
 * in the file as empty, so compare its count with e_shnum ourselves. */
static int check_ehdr(struct elf_file *ef)
{
	GElf_Ehdr eh;

	if (elf_kind(ef->elf) != ELF_K_ELF || !gelf_getehdr(ef->elf, &eh))
		return -EINVAL;
	if (eh.e_machine != EM_X86_64 || (eh.e_type != ET_EXEC && eh.e_type != ET_DYN))
		return -ENOEXEC;
	ef->type = eh.e_type;
	if (elf_getshdrnum(ef->elf, &ef->shnum) || elf_getphdrnum(ef->elf, &ef->phnum))
		return -EINVAL;
	if (ef->shnum > INT_MAX || ef->phnum > INT_MAX)
		return -EINVAL;
	if (eh.e_shnum && eh.e_shnum != ef->shnum)
		return -EINVAL;
	if (ef->shnum && (eh.e_shentsize != sizeof(Elf64_Shdr) ||
			  !in_file(ef, eh.e_shoff, ef->shnum * sizeof(Elf64_Shdr))))
		return -EINVAL;
	if (ef->phnum && (eh.e_phentsize != sizeof(Elf64_Phdr) ||
			  !in_file(ef, eh.e_phoff, ef->phnum * sizeof(Elf64_Phdr))))
		return -EINVAL;
	return 0;
}

static int check_sections(struct elf_file *ef)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;

	if (!ef->shnum)
		return 0; /* no section headers (sstrip'ed): only segments work */
	if (elf_getshdrstrndx(ef->elf, &ef->shstrndx) || strtab_check(ef, ef->shstrndx))
		return -EINVAL;
	/* Load the section names now: libelf would read them on first use,
	 * and a file that shrank by then would lose them all. */
	if (!elf_getdata(elf_getscn(ef->elf, ef->shstrndx), NULL))
		return -EINVAL;
	while ((scn = elf_nextscn(ef->elf, scn))) {
		if (!gelf_getshdr(scn, &sh))
			return -EINVAL;
		if (sh.sh_type != SHT_NOBITS && !in_file(ef, sh.sh_offset, sh.sh_size))
			return -EINVAL;
	}
	return 0;
}

static int check_segments(struct elf_file *ef)
{
	GElf_Phdr ph;
	size_t i;

	for (i = 0; i < ef->phnum; i++) {
		if (!gelf_getphdr(ef->elf, (int)i, &ph))
			return -EINVAL;
		if (!in_file(ef, ph.p_offset, ph.p_filesz))
			return -EINVAL;
	}
	return 0;
}

/* --- symbol tables ------------------------------------------------------- */

static uint32_t name_hash(const char *s)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	while (*s) {
		h ^= (unsigned char)*s++;
		h *= 16777619u;
	}
	return h;
}

/* Defined, and not a FILE/SECTION bookkeeping entry (no useful address). */
static bool sym_usable(const GElf_Sym *s)
{
	unsigned char type = GELF_ST_TYPE(s->st_info);

	return s->st_shndx != SHN_UNDEF && type != STT_FILE && type != STT_SECTION;
}

/* The name, or NULL when st_name is outside the table. The table ends in
 * NUL (checked at load), so any in-range offset gives a terminated string. */
static const char *sym_name(const struct sym_table *t, const GElf_Sym *s)
{
	return s->st_name < t->strs_size ? t->strs + s->st_name : NULL;
}

static void to_elf_sym(const GElf_Sym *s, struct elf_sym *out)
{
	out->vaddr = s->st_value;
	out->size = s->st_size;
	out->type = GELF_ST_TYPE(s->st_info);
	out->bind = GELF_ST_BIND(s->st_info);
}

/* Chained hash of usable named symbols, so that lookups cost O(1) instead
 * of a walk over ~20k entries. */
static int build_index(struct sym_table *t)
{
	uint32_t nbuckets = 16, i;

	while (nbuckets < t->count)
		nbuckets <<= 1;
	t->heads = malloc(nbuckets * sizeof(*t->heads));
	t->next = malloc(t->count * sizeof(*t->next));
	if (!t->heads || !t->next)
		return -ENOMEM;
	memset(t->heads, 0xff, nbuckets * sizeof(*t->heads));
	t->mask = nbuckets - 1;
	/* Backwards, so each bucket lists symbols in table order and a lookup
	 * returns the first definition. */
	for (i = t->count; i-- > 1;) {
		const char *name;
		GElf_Sym s;
		uint32_t b;

		t->next[i] = NO_SYM;
		if (!gelf_getsym(t->syms, (int)i, &s) || !sym_usable(&s))
			continue;
		name = sym_name(t, &s);
		if (!name || !*name)
			continue;
		b = name_hash(name) & t->mask;
		t->next[i] = t->heads[b];
		t->heads[b] = i;
	}
	return 0;
}

/* Load the first section of this type. Absent or over the cap: left empty
 * (lookups fall through to the other table). Malformed: -EINVAL. */
static int load_sym_table(struct elf_file *ef, GElf_Word type, struct sym_table *t)
{
	Elf_Data *strs;
	GElf_Shdr sh;
	Elf_Scn *scn;
	int err;

	scn = find_scn_type(ef, type, &sh);
	if (!scn || sh.sh_size == 0 || sh.sh_size > ELF_MAX_TABLE_BYTES)
		return 0;
	if (sh.sh_entsize != sizeof(Elf64_Sym) || sh.sh_size % sizeof(Elf64_Sym))
		return -EINVAL;
	err = strtab_check(ef, sh.sh_link);
	if (err)
		return err > 0 ? 0 : err; /* over the cap: ignored, like the table */
	t->syms = elf_getdata(scn, NULL);
	strs = elf_getdata(elf_getscn(ef->elf, sh.sh_link), NULL);
	if (!t->syms || !strs || !strs->d_buf || !strs->d_size)
		return -EINVAL;
	t->strs = strs->d_buf;
	t->strs_size = strs->d_size;
	if (t->strs[t->strs_size - 1] != '\0')
		return -EINVAL;
	t->count = (uint32_t)(t->syms->d_size / sizeof(Elf64_Sym));
	return build_index(t);
}

static void free_sym_table(struct sym_table *t)
{
	free(t->heads);
	free(t->next);
}

/* The first usable symbol called name (and at *vaddr, when not NULL). */
static int table_find(const struct sym_table *t, const char *name, const uint64_t *vaddr,
		      GElf_Sym *out)
{
	uint32_t i;

	if (!t->heads)
		return -ENOENT;
	for (i = t->heads[name_hash(name) & t->mask]; i != NO_SYM; i = t->next[i]) {
		if (!gelf_getsym(t->syms, (int)i, out))
			continue;
		if (strcmp(t->strs + out->st_name, name))
			continue;
		if (!vaddr || out->st_value == *vaddr)
			return 0;
	}
	return -ENOENT;
}

/* Walk t's functions; those also in seen (same name and address) are
 * skipped, so that an exported function is reported once. */
static int table_foreach_func(const struct sym_table *t, const struct sym_table *seen,
			      const char *prefix, elf_sym_cb cb, void *ctx)
{
	size_t plen = strlen(prefix);
	struct elf_sym es;
	GElf_Sym s, dup;
	uint32_t i;
	int ret;

	for (i = 1; i < t->count; i++) {
		const char *name;

		if (!gelf_getsym(t->syms, (int)i, &s) || !sym_usable(&s) ||
		    GELF_ST_TYPE(s.st_info) != STT_FUNC)
			continue;
		name = sym_name(t, &s);
		if (!name || !*name || strncmp(name, prefix, plen))
			continue;
		if (seen && !table_find(seen, name, &s.st_value, &dup))
			continue;
		to_elf_sym(&s, &es);
		ret = cb(name, &es, ctx);
		if (ret)
			return ret;
	}
	return 0;
}

/* --- notes ---------------------------------------------------------------- */

static bool note_owner_is(const GElf_Nhdr *nh, const char *owner, const char *want)
{
	size_t len = strlen(want) + 1;

	return nh->n_namesz == len && !memcmp(owner, want, len);
}

/* gelf_getnote checks each header, name and desc against d_size. */
static int walk_notes(Elf_Data *data, note_fn fn, void *ctx)
{
	size_t off = 0, next, name_off, desc_off;
	const unsigned char *base = data->d_buf;
	GElf_Nhdr nh;
	int ret;

	while ((next = gelf_getnote(data, off, &nh, &name_off, &desc_off)) > 0) {
		ret = fn(&nh, (const char *)base + name_off, base + desc_off, ctx);
		if (ret)
			return ret;
		off = next;
	}
	return 0;
}

/* Notes of every SHT_NOTE section (named name, unless NULL). An over-cap
 * or unreadable section gives -EFBIG / -EINVAL but does not stop the walk. */
static int walk_note_sections(const struct elf_file *ef, const char *name, note_fn fn, void *ctx)
{
	Elf_Scn *scn = NULL;
	int ret, err = 0;
	const char *sname;
	Elf_Data *data;
	GElf_Shdr sh;

	while ((scn = elf_nextscn(ef->elf, scn))) {
		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_NOTE)
			continue;
		sname = scn_name(ef, &sh);
		if (name && (!sname || strcmp(sname, name)))
			continue;
		data = scn_data(scn, &sh, ELF_MAX_META_BYTES);
		if (!data) {
			err = sh.sh_size > ELF_MAX_META_BYTES ? -EFBIG : -EINVAL;
			continue;
		}
		ret = walk_notes(data, fn, ctx);
		if (ret)
			return ret;
	}
	return err;
}

/* For files without section headers: the PT_NOTE segments. */
static int walk_note_segments(const struct elf_file *ef, note_fn fn, void *ctx)
{
	Elf_Data *data;
	GElf_Phdr ph;
	size_t i;
	int ret;

	for (i = 0; i < ef->phnum; i++) {
		if (!gelf_getphdr(ef->elf, (int)i, &ph) || ph.p_type != PT_NOTE)
			continue;
		if (ph.p_filesz > ELF_MAX_META_BYTES)
			continue;
		data = elf_getdata_rawchunk(ef->elf, (int64_t)ph.p_offset, ph.p_filesz,
					    ph.p_align == 8 ? ELF_T_NHDR8 : ELF_T_NHDR);
		if (!data)
			continue;
		ret = walk_notes(data, fn, ctx);
		if (ret)
			return ret;
	}
	return 0;
}

struct build_id_ctx {
	char *buf;
	size_t buflen;
};

static int build_id_note(const GElf_Nhdr *nh, const char *owner, const unsigned char *desc,
			 void *ctx)
{
	static const char hex[] = "0123456789abcdef";
	struct build_id_ctx *b = ctx;
	size_t i;

	if (nh->n_type != NT_GNU_BUILD_ID || !note_owner_is(nh, owner, ELF_NOTE_GNU) ||
	    !nh->n_descsz)
		return 0;
	if (b->buflen < 1 || (b->buflen - 1) / 2 < nh->n_descsz)
		return -ENOSPC;
	for (i = 0; i < nh->n_descsz; i++) {
		b->buf[2 * i] = hex[desc[i] >> 4];
		b->buf[2 * i + 1] = hex[desc[i] & 0xf];
	}
	b->buf[2 * i] = '\0';
	return 1;
}

/* The NUL-terminated string at *p, advancing *p past it; NULL if the NUL
 * is not before end. */
static const char *next_str(const char **p, const char *end)
{
	const char *s = *p, *nul;

	if (s >= end)
		return NULL;
	nul = memchr(s, '\0', (size_t)(end - s));
	if (!nul)
		return NULL;
	*p = nul + 1;
	return s;
}

struct usdt_ctx {
	const char *provider;
	const char *name; /* NULL: any */
	int count;
};

static int usdt_note(const GElf_Nhdr *nh, const char *owner, const unsigned char *desc, void *ctx)
{
	const char *p, *end, *prov, *probe, *args;
	struct usdt_ctx *u = ctx;

	if (nh->n_type != NT_STAPSDT || !note_owner_is(nh, owner, "stapsdt") ||
	    nh->n_descsz < STAPSDT_ADDRS_SIZE)
		return 0;
	p = (const char *)desc + STAPSDT_ADDRS_SIZE;
	end = (const char *)desc + nh->n_descsz;
	prov = next_str(&p, end);
	probe = prov ? next_str(&p, end) : NULL;
	args = probe ? next_str(&p, end) : NULL;
	if (!args) /* all three strings must be terminated inside desc */
		return 0;
	if (!strcmp(prov, u->provider) && (!u->name || !strcmp(probe, u->name)))
		u->count++;
	return 0;
}

/* --- public API ------------------------------------------------------------ */

bool elf_is_dyn(const struct elf_file *ef)
{
	return ef && ef->type == ET_DYN;
}

bool elf_has_symtab(const struct elf_file *ef)
{
	return ef && ef->symtab.count > 1;
}

bool elf_has_section(const struct elf_file *ef, const char *name)
{
	Elf_Scn *scn = NULL;
	const char *sname;
	GElf_Shdr sh;

	if (!ef || !name)
		return false;
	while ((scn = elf_nextscn(ef->elf, scn))) {
		if (!gelf_getshdr(scn, &sh))
			continue;
		sname = scn_name(ef, &sh);
		if (sname && !strcmp(sname, name))
			return true;
	}
	return false;
}

int elf_section_addr(const struct elf_file *ef, const char *name, uint64_t *vaddr, uint64_t *size)
{
	Elf_Scn *scn = NULL;
	const char *sname;
	GElf_Shdr sh;

	if (!ef || !name)
		return -EINVAL;
	while ((scn = elf_nextscn(ef->elf, scn))) {
		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_PROGBITS ||
		    !(sh.sh_flags & SHF_ALLOC))
			continue;
		sname = scn_name(ef, &sh);
		if (!sname || strcmp(sname, name))
			continue;
		*vaddr = sh.sh_addr;
		*size = sh.sh_size;
		return 0;
	}
	return -ENOENT;
}

int elf_find_symbol(const struct elf_file *ef, const char *name, struct elf_sym *out)
{
	GElf_Sym s;

	if (!ef || !name || !out)
		return -EINVAL;
	if (table_find(&ef->symtab, name, NULL, &s) && table_find(&ef->dynsym, name, NULL, &s))
		return -ENOENT;
	to_elf_sym(&s, out);
	return 0;
}

int elf_foreach_func(const struct elf_file *ef, const char *prefix, elf_sym_cb cb, void *ctx)
{
	int ret;

	if (!ef || !cb)
		return -EINVAL;
	if (!prefix)
		prefix = "";
	ret = table_foreach_func(&ef->symtab, NULL, prefix, cb, ctx);
	if (ret)
		return ret;
	return table_foreach_func(&ef->dynsym, &ef->symtab, prefix, cb, ctx);
}

/* The PT_LOAD whose file-backed part holds vaddr. */
static int find_load(const struct elf_file *ef, uint64_t vaddr, GElf_Phdr *ph)
{
	size_t i;

	for (i = 0; i < ef->phnum; i++) {
		if (!gelf_getphdr(ef->elf, (int)i, ph) || ph->p_type != PT_LOAD)
			continue;
		if (vaddr >= ph->p_vaddr && vaddr - ph->p_vaddr < ph->p_filesz)
			return 0;
	}
	return -ENOENT;
}

int elf_vaddr_to_offset(const struct elf_file *ef, uint64_t vaddr, uint64_t *off)
{
	GElf_Phdr ph;

	if (!ef || !off)
		return -EINVAL;
	if (find_load(ef, vaddr, &ph))
		return -ENOENT;
	/* in range: p_offset + p_filesz was checked against the file size */
	*off = ph.p_offset + (vaddr - ph.p_vaddr);
	return 0;
}

int elf_offset_to_vaddr(const struct elf_file *ef, uint64_t off, uint64_t *vaddr)
{
	GElf_Phdr ph;

	if (!ef || !vaddr)
		return -EINVAL;
	for (size_t i = 0; i < ef->phnum; i++) {
		if (!gelf_getphdr(ef->elf, (int)i, &ph) || ph.p_type != PT_LOAD)
			continue;
		if (off >= ph.p_offset && off - ph.p_offset < ph.p_filesz) {
			*vaddr = ph.p_vaddr + (off - ph.p_offset);
			return 0;
		}
	}
	return -ENOENT;
}

int elf_read_vaddr(const struct elf_file *ef, uint64_t vaddr, void *buf, size_t len)
{
	GElf_Phdr ph;
	uint64_t rel;

	if (!ef || (!buf && len))
		return -EINVAL;
	if (find_load(ef, vaddr, &ph))
		return -ENOENT;
	rel = vaddr - ph.p_vaddr;
	if (len > ph.p_filesz - rel)
		return -ENOENT;
	return pread_full(ef->fd, buf, len, ph.p_offset + rel);
}

/* ---- function bounds from the unwind tables ------------------------------- */

#define DW_EH_PE_OMIT	 0xff
#define DW_EH_PE_UDATA4	 0x03
#define DW_EH_PE_SDATA4	 0x0b
#define DW_EH_PE_PCREL	 0x10
#define DW_EH_PE_DATAREL 0x30
#define EH_HDR_MAX	 (8u << 20) /* a libpython's has ~40 000 entries: 320 KiB */

/* A 4-byte encoded pointer at p (vaddr at, data base dbase). */
static int eh_ptr(const uint8_t *p, uint8_t enc, uint64_t at, uint64_t dbase, uint64_t *out)
{
	int32_t v;

	memcpy(&v, p, 4);
	switch (enc & 0x0f) {
	case DW_EH_PE_SDATA4:
		break;
	case DW_EH_PE_UDATA4:
		*out = (uint32_t)v;
		if (enc & 0x70)
			return -EINVAL;
		return 0;
	default:
		return -ENOTSUP;
	}
	switch (enc & 0x70) {
	case DW_EH_PE_PCREL:
		*out = at + (int64_t)v;
		return 0;
	case DW_EH_PE_DATAREL:
		*out = dbase + (int64_t)v;
		return 0;
	case 0:
		*out = (uint64_t)(int64_t)v;
		return 0;
	default:
		return -ENOTSUP;
	}
}

static int uleb(const uint8_t *p, size_t len, size_t *i, uint64_t *out)
{
	uint64_t v = 0;

	for (unsigned shift = 0; *i < len && shift < 64; shift += 7) {
		uint8_t b = p[(*i)++];

		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*out = v;
			return 0;
		}
	}
	return -EINVAL;
}

/* The FDE pointer encoding its CIE (at vaddr cie) declares ("zR..."). */
static int cie_fde_enc(const struct elf_file *ef, uint64_t cie, uint8_t *enc)
{
	uint8_t c[64];
	size_t i = 9, n;
	uint64_t skip;
	const char *aug;

	/* length, CIE id 0, version, then the augmentation string */
	if (elf_read_vaddr(ef, cie, c, sizeof(c)) || c[8] != 1 || memcmp(c + 4, "\0\0\0\0", 4))
		return -EINVAL;
	aug = (const char *)c + i;
	n = strnlen(aug, sizeof(c) - i);
	if (n == sizeof(c) - i || aug[0] != 'z')
		return -ENOTSUP;
	i += n + 1;
	if (uleb(c, sizeof(c), &i, &skip) || uleb(c, sizeof(c), &i, &skip)) /* code, data align */
		return -EINVAL;
	i++; /* return register (version 1: a byte) */
	if (uleb(c, sizeof(c), &i, &skip)) /* augmentation data length */
		return -EINVAL;
	for (const char *a = aug + 1; *a && i < sizeof(c); a++) {
		if (*a == 'R') {
			*enc = c[i];
			return 0;
		}
		if (*a == 'P') /* personality: an encoding byte, then a pointer */
			return -ENOTSUP;
		if (*a == 'L')
			i++;
		else if (*a != 'S')
			return -ENOTSUP;
	}
	return -ENOTSUP;
}

int elf_func_bounds(const struct elf_file *ef, uint64_t vaddr, uint64_t *start, uint64_t *end)
{
	uint64_t hdr, size, count, base, fde, cie, pc, range;
	uint8_t h[12], f[16], enc;
	uint8_t *tab = NULL;
	size_t lo, hi;
	int err = -ENOENT;

	if (!ef || elf_section_addr(ef, ".eh_frame_hdr", &hdr, &size) || size < 12 ||
	    size > EH_HDR_MAX || elf_read_vaddr(ef, hdr, h, sizeof(h)))
		return -ENOENT;
	/* version 1; count udata4; table (initial pc, FDE) datarel sdata4 */
	if (h[0] != 1 || h[2] != DW_EH_PE_UDATA4 || h[3] != (DW_EH_PE_DATAREL | DW_EH_PE_SDATA4))
		return -ENOTSUP;
	memcpy(&count, h + 8, 4);
	count &= 0xffffffffu;
	if (!count || 12 + count * 8 > size)
		return -EINVAL;
	tab = malloc(count * 8);
	if (!tab)
		return -ENOMEM;
	if (elf_read_vaddr(ef, hdr + 12, tab, count * 8))
		goto out;
	lo = 0, hi = count; /* the last entry whose initial pc <= vaddr */
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		if (eh_ptr(tab + mid * 8, h[3], 0, hdr, &base) || base > vaddr)
			hi = mid;
		else
			lo = mid;
	}
	if (eh_ptr(tab + lo * 8 + 4, h[3], 0, hdr, &fde) || elf_read_vaddr(ef, fde, f, sizeof(f)))
		goto out;
	memcpy(&cie, f + 4, 4);
	cie = fde + 4 - (cie & 0xffffffffu);
	if (cie_fde_enc(ef, cie, &enc) || eh_ptr(f + 8, enc, fde + 8, 0, &pc) ||
	    eh_ptr(f + 12, enc & 0x0f, 0, 0, &range)) {
		err = -EINVAL;
		goto out;
	}
	if (vaddr < pc || vaddr - pc >= range)
		goto out; /* in no function the unwind table knows */
	*start = pc;
	*end = pc + range;
	err = 0;
out:
	free(tab);
	return err;
}

int elf_build_id(const struct elf_file *ef, char *buf, size_t buflen)
{
	struct build_id_ctx b = { .buf = buf, .buflen = buflen };
	int ret;

	if (!ef || !buf)
		return -EINVAL;
	ret = walk_note_sections(ef, NULL, build_id_note, &b);
	if (ret <= 0) /* not in a readable section: try the segments */
		ret = walk_note_segments(ef, build_id_note, &b);
	if (ret < 0)
		return ret;
	return ret ? 0 : -ENOENT;
}

int elf_usdt_count(const struct elf_file *ef, const char *provider, const char *name)
{
	struct usdt_ctx u = { .provider = provider, .name = name };
	int err;

	if (!ef || !provider)
		return -EINVAL;
	err = walk_note_sections(ef, ".note.stapsdt", usdt_note, &u);
	return err ? err : u.count;
}

/* The first tag entry of .dynamic whose string starts with prefix. */
static const char *dyn_string(const struct elf_file *ef, int64_t tag, const char *prefix)
{
	size_t plen = strlen(prefix);
	const char *s;
	Elf_Data *data;
	GElf_Shdr sh;
	Elf_Scn *scn;
	GElf_Dyn dyn;
	int i;

	scn = find_scn_type(ef, SHT_DYNAMIC, &sh);
	if (!scn || strtab_check(ef, sh.sh_link))
		return NULL;
	data = scn_data(scn, &sh, ELF_MAX_META_BYTES);
	if (!data)
		return NULL;
	/* gelf_getdyn fails past the end of data */
	for (i = 0; gelf_getdyn(data, i, &dyn) && dyn.d_tag != DT_NULL; i++) {
		if (dyn.d_tag != tag)
			continue;
		s = elf_strptr(ef->elf, sh.sh_link, dyn.d_un.d_val);
		if (s && !strncmp(s, prefix, plen))
			return s;
	}
	return NULL;
}

const char *elf_soname(const struct elf_file *ef)
{
	return ef ? dyn_string(ef, DT_SONAME, "") : NULL;
}

bool elf_needs(const struct elf_file *ef, const char *prefix)
{
	return ef && prefix && dyn_string(ef, DT_NEEDED, prefix);
}

/* Read into our own buffer, not through libelf, so the memory is given
 * back as soon as cb returns. */
static int read_section(const struct elf_file *ef, const GElf_Shdr *sh, elf_data_cb cb, void *ctx)
{
	unsigned char *buf;
	int ret;

	buf = malloc(sh->sh_size ? sh->sh_size : 1);
	if (!buf)
		return -ENOMEM;
	ret = pread_full(ef->fd, buf, sh->sh_size, sh->sh_offset);
	if (!ret)
		ret = cb(buf, sh->sh_size, ctx);
	free(buf);
	return ret;
}

int elf_section_data(const struct elf_file *ef, const char *name, size_t max_bytes, elf_data_cb cb,
		     void *ctx)
{
	Elf_Scn *scn = NULL;
	const char *sname;
	int ret = -ENOENT, err;
	GElf_Shdr sh;

	if (!ef || !name || !cb)
		return -EINVAL;
	while ((scn = elf_nextscn(ef->elf, scn))) {
		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_PROGBITS)
			continue;
		sname = scn_name(ef, &sh);
		if (!sname || strcmp(sname, name))
			continue;
		if (sh.sh_size > max_bytes) {
			ret = -EFBIG;
			continue;
		}
		err = read_section(ef, &sh, cb, ctx);
		if (err)
			return err;
		if (ret == -ENOENT)
			ret = 0;
	}
	return ret;
}

/* --- open / close ---------------------------------------------------------- */

/* Takes ownership of fd. */
static int file_init(int fd, struct elf_file **out)
{
	struct elf_file *ef = NULL;
	struct stat st;
	int err;

	pthread_once(&libelf_once, libelf_init);
	err = libelf_ok ? 0 : -ENOSYS;
	if (!err && fstat(fd, &st))
		err = -errno;
	if (!err && !S_ISREG(st.st_mode))
		err = -ENOEXEC;
	if (!err)
		err = check_ident(fd);
	if (err)
		goto cleanup;
	ef = calloc(1, sizeof(*ef));
	if (!ef) {
		err = -ENOMEM;
		goto cleanup;
	}
	ef->fd = fd;
	fd = -1;
	ef->file_size = (uint64_t)st.st_size;
	/* ELF_C_READ, never ELF_C_READ_MMAP: see the top of this file */
	ef->elf = elf_begin(ef->fd, ELF_C_READ, NULL);
	err = ef->elf ? check_ehdr(ef) : -EINVAL;
	if (!err)
		err = check_sections(ef);
	if (!err)
		err = check_segments(ef);
	if (!err)
		err = load_sym_table(ef, SHT_SYMTAB, &ef->symtab);
	if (!err)
		err = load_sym_table(ef, SHT_DYNSYM, &ef->dynsym);
	if (err)
		goto cleanup;
	*out = ef;
	ef = NULL;
cleanup:
	if (fd >= 0)
		close(fd);
	elf_file_close(ef);
	return err;
}

int elf_file_open(const char *path, struct elf_file **out)
{
	int fd;

	if (!path || !out)
		return -EINVAL;
	*out = NULL;
	/* O_NONBLOCK: a FIFO put in the file's place must not hang us */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	return file_init(fd, out);
}

int elf_file_open_fd(int fd, struct elf_file **out)
{
	int dup_fd;

	if (!out)
		return -EINVAL;
	*out = NULL;
	dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (dup_fd < 0)
		return -errno;
	return file_init(dup_fd, out);
}

void elf_file_close(struct elf_file *ef)
{
	if (!ef)
		return;
	free_sym_table(&ef->symtab);
	free_sym_table(&ef->dynsym);
	if (ef->elf)
		elf_end(ef->elf);
	close(ef->fd);
	free(ef);
}
