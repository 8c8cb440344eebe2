# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
# pymemtop build. Everything generated goes under $(OUTPUT) (ignored by git).
#
#   make            build ./pymemtop
#   make run        install missing Debian packages, build, start pymemtop
#   make test       install missing Debian packages, build, run every test
#   make deps       install missing Debian packages only
#   make vmlinux    regenerate vmlinux/vmlinux.h from this kernel's BTF
#   make SAN=address,undefined test   sanitizer build
#   make check      clang-format check

OUTPUT   := .output
CC       := gcc
CLANG    ?= clang
BPFTOOL  ?= bpftool
ARCH     := x86
VERSION  := $(shell git describe --always --dirty 2>/dev/null || echo unknown)

# Debian packages the build, the tests and the tool need. `make deps`
# installs the missing ones and is silent when all are present. The tests
# run their own prometheus and node_exporter on loopback ports: while
# installing, a policy-rc.d (unless the host has one) keeps the packages'
# services from starting on all interfaces. debootstrap builds the Debian
# roots the tests run newer CPython builds in (`make roots`).
DEB_PKGS := clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev \
	libcmocka-dev pkg-config libjson-c-dev python3 python3.11 \
	systemtap-sdt-dev binutils util-linux procps libcapstone-dev \
	libncurses-dev libmicrohttpd-dev tmux gdb \
	prometheus prometheus-node-exporter python3-prometheus-client python3-pytest \
	debootstrap

# Debian roots with the CPython builds the tests need beyond the host's
# (tests/roots.sh): built once per machine, outside the checkout.
PMT_ROOTS ?= /var/cache/pymemtop/roots
export PMT_ROOTS

CFLAGS   ?= -O2 -g
CFLAGS   += -std=gnu11 -Wall -Wextra -Werror -Wno-missing-field-initializers \
	    -Iinclude -Iuser -I$(OUTPUT) -DPYMEMTOP_VERSION='"$(VERSION)"' \
	    -D_FILE_OFFSET_BITS=64
LDLIBS   += -lbpf -lelf -lz -ljson-c -lcapstone -lncursesw -ltinfo -lmicrohttpd -lm
ifneq ($(SAN),)
CFLAGS   += -fsanitize=$(SAN) -fno-omit-frame-pointer
LDFLAGS  += -fsanitize=$(SAN)
endif

# clang -target bpf does not search the host's multiarch include dirs
# (asm/errno.h); add the system include path it would use (libbpf-tools).
CLANG_BPF_SYS_INCLUDES ?= $(shell $(CLANG) -v -E - </dev/null 2>&1 \
	| sed -n '/<...> search starts here:/,/End of search list./{ s| \(/.*\)|-idirafter \1|p }')
BPF_CFLAGS := -g -O2 -Wall -Werror -target bpf -D__TARGET_ARCH_$(ARCH) \
	      -Iinclude -Ivmlinux -I$(OUTPUT) $(CLANG_BPF_SYS_INCLUDES)

# proc.bpf.c defines the shared maps and must come first: libbpf 1.1's
# linker cannot resolve an extern map that precedes its definition.
BPF_SRCS  := bpf/proc.bpf.c $(filter-out bpf/proc.bpf.c,$(wildcard bpf/*.bpf.c))
BPF_OBJS  := $(patsubst bpf/%.bpf.c,$(OUTPUT)/bpf/%.bpf.o,$(BPF_SRCS))
USER_SRCS := $(wildcard user/*.c)
USER_OBJS := $(patsubst user/%.c,$(OUTPUT)/user/%.o,$(USER_SRCS))
LIB_OBJS  := $(filter-out $(OUTPUT)/user/main.o,$(USER_OBJS))
SKEL      := $(OUTPUT)/pymemtop.skel.h

UNIT_SRCS  := $(wildcard tests/unit/test_*.c)
UNIT_BINS  := $(patsubst tests/unit/%.c,$(OUTPUT)/tests/%,$(UNIT_SRCS))
FIXTURE_SRCS := $(wildcard tests/fixtures/*.c)
FIXTURE_BINS := $(patsubst tests/fixtures/%.c,$(OUTPUT)/fixtures/%,$(FIXTURE_SRCS))

.DELETE_ON_ERROR:
.PHONY: all run test unit integration bench deps roots vmlinux check clean

all: pymemtop

pymemtop: $(USER_OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(OUTPUT)/user/%.o: user/%.c $(SKEL) $(wildcard include/*.h user/*.h) | $(OUTPUT)/user
	$(CC) $(CFLAGS) -c -o $@ $<

$(OUTPUT)/bpf/%.bpf.o: bpf/%.bpf.c $(wildcard include/*.h bpf/*.h) vmlinux/vmlinux.h | $(OUTPUT)/bpf
	$(CLANG) $(BPF_CFLAGS) -c -o $@ $<

# Several .bpf.c files linked into one object, then one skeleton.
$(OUTPUT)/pymemtop.bpf.o: $(BPF_OBJS)
	$(BPFTOOL) gen object $@ $^

$(SKEL): $(OUTPUT)/pymemtop.bpf.o
	$(BPFTOOL) gen skeleton $< name pymemtop_bpf > $@

$(OUTPUT)/user $(OUTPUT)/bpf $(OUTPUT)/tests $(OUTPUT)/fixtures:
	mkdir -p $@

# --- tests -----------------------------------------------------------------
$(OUTPUT)/tests/test_%: tests/unit/test_%.c $(wildcard tests/unit/*.h) $(LIB_OBJS) | $(OUTPUT)/tests
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB_OBJS) $(LDLIBS) -lcmocka

# The lifecycle and table tests run without BPF: a fake collector
# (tests/unit/fake_collector.c) instead of collector.o.
FAKE_COL_OBJS := $(filter-out $(OUTPUT)/user/collector.o,$(LIB_OBJS))
$(OUTPUT)/tests/test_lifecycle: tests/unit/test_lifecycle.c tests/unit/fake_collector.c \
		$(wildcard tests/unit/*.h) $(FAKE_COL_OBJS) | $(OUTPUT)/tests
	$(CC) $(CFLAGS) -Itests/unit $(LDFLAGS) -o $@ $< tests/unit/fake_collector.c \
		$(FAKE_COL_OBJS) $(LDLIBS) -lcmocka

# Fixture programs: small ELF files with known symbols, notes and strings.
# fake_libpython*.c are shared libraries named like the real ones, not
# programs: keep them out of FIXTURE_BINS and build them below.
FIXTURE_BINS := $(filter-out $(OUTPUT)/fixtures/fake_libpython%,$(FIXTURE_BINS))
FIXTURE_LIBS := $(OUTPUT)/fixtures/libpython3.9.so.1.0 $(OUTPUT)/fixtures/libpython3.8.so.1.0

$(OUTPUT)/fixtures/%: tests/fixtures/%.c | $(OUTPUT)/fixtures
	$(CC) -O0 -g -rdynamic -o $@ $<

$(OUTPUT)/fixtures/libpython3.9.so.1.0: tests/fixtures/fake_libpython39.c | $(OUTPUT)/fixtures
	$(CC) -O0 -g -shared -fPIC -Wl,-soname,$(notdir $@) -o $@ $<

$(OUTPUT)/fixtures/libpython3.8.so.1.0: tests/fixtures/fake_libpython38.c | $(OUTPUT)/fixtures
	$(CC) -O0 -g -shared -fPIC -Wl,-soname,$(notdir $@) -o $@ $<

FIXTURES := $(FIXTURE_BINS) $(FIXTURE_LIBS) $(OUTPUT)/fixtures/truncated.elf \
	    $(OUTPUT)/fixtures/stripped.elf $(OUTPUT)/fixtures/notelf.bin

$(OUTPUT)/fixtures/stripped.elf: $(OUTPUT)/fixtures/fake_python
	strip -o $@ $<

$(OUTPUT)/fixtures/truncated.elf: $(OUTPUT)/fixtures/fake_python
	head -c 3000 $< > $@

$(OUTPUT)/fixtures/notelf.bin: | $(OUTPUT)/fixtures
	printf 'not an ELF file at all\n' > $@

unit: $(UNIT_BINS) $(FIXTURES)
integration: pymemtop

test: deps roots
	@$(MAKE) --no-print-directory all $(UNIT_BINS) $(FIXTURES)
	@tests/run-all.sh

bench: deps roots
	@$(MAKE) --no-print-directory all
	@tests/bench.sh

roots: deps
	@tests/roots.sh

run: deps
	@$(MAKE) --no-print-directory all
	./pymemtop $(ARGS)

deps:
	@missing=""; for p in $(DEB_PKGS); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "deps: installing$$missing"; \
		if [ "$$(id -u)" != 0 ]; then echo "deps: run as root to install packages" >&2; exit 1; fi; \
		export DEBIAN_FRONTEND=noninteractive; \
		guard=""; if [ ! -e /usr/sbin/policy-rc.d ]; then \
			printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; \
			chmod 755 /usr/sbin/policy-rc.d; guard=1; \
		fi; \
		apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
		rc=$$?; [ -n "$$guard" ] && rm -f /usr/sbin/policy-rc.d; [ $$rc = 0 ] || exit 1; \
	fi

vmlinux:
	$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > vmlinux/vmlinux.h

check:
	clang-format --dry-run --Werror bpf/*.c include/*.h user/*.c user/*.h tests/unit/*.c tests/unit/*.h

clean:
	rm -rf $(OUTPUT) pymemtop
