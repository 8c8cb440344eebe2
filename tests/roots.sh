#!/usr/bin/env bash
# Build the Debian roots the tests run CPython builds in (`make roots`).
#
#   trixie: python3.13 (3.13.5) with its -dbg package and gdb
#   sid:    python3.13, python3.14, python3.15 with their -dbg packages,
#           gdb (which embeds libpython3.14.so) and dwarves (pahole)
#
# Integration tests run workloads in them with chroot, in a mount
# namespace of their own: this is also how pymemtop meets containers.
# The -dbg packages carry the DWARF that tests compare the layout
# registry with (by build-id).
#
# The roots live outside the checkout ($PMT_ROOTS, default
# /var/cache/pymemtop/roots), are built once per machine and left alone
# when complete: a root is complete when its stamp file names the same
# package list. A root without a stamp (an interrupted build, a changed
# list) is removed and built again. The package mirror is the one the
# host's own apt sources use, read at run time.
set -euo pipefail

ROOTS=${PMT_ROOTS:-/var/cache/pymemtop/roots}
TRIXIE_PKGS="python3.13 python3.13-dbg gdb"
SID_PKGS="python3.13 python3.13-dbg python3.14 python3.14-dbg python3.15 python3.15-dbg gdb dwarves"

# The archive may serve a frozen sid whose Release is past its
# Valid-Until date (seen here: expired 25 days); the signature is still
# checked.
APT_OPTS="-o Acquire::Check-Valid-Until=false"

say() { echo "roots: $*"; }
die() { echo "roots: $*" >&2; exit 1; }

# The first Debian archive URI of the host's apt sources (deb822
# .sources files or one-line sources.list), security archives excluded.
host_mirror() {
	local f uri
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -r "$f" ] || continue
		uri=$(awk 'tolower($1)=="uris:" { for (i = 2; i <= NF; i++) print $i }' "$f" |
			grep -v -- '-security' | grep -E '/debian/?$' | head -1 || true)
		[ -n "$uri" ] && { echo "$uri"; return; }
	done
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -r "$f" ] || continue
		uri=$(awk '$1=="deb" { for (i = 2; i <= NF; i++) if ($i ~ /^(https?|ftp|file):/) { print $i; break } }' "$f" |
			grep -v -- '-security' | grep -E '/debian/?$' | head -1 || true)
		[ -n "$uri" ] && { echo "$uri"; return; }
	done
	return 1
}

# Unmount whatever is mounted under $1 (deepest first).
umount_under() {
	local m
	for m in $(awk -v r="$1" '$2 == r || index($2, r "/") == 1 { print $2 }' /proc/self/mounts | sort -r); do
		umount -l "$m" 2>/dev/null || true
	done
}

build_root() { # build_root NAME SUITE PACKAGES
	local name=$1 suite=$2 pkgs=$3 dir="$ROOTS/$1" stamp t0 mirror
	stamp="suite=$suite packages=$pkgs"
	if [ -f "$dir/.pymemtop-root" ] && [ "$(cat "$dir/.pymemtop-root")" = "$stamp" ]; then
		say "$name: present ($dir)"
		return
	fi
	mirror=$(host_mirror) || die "no Debian archive in the host's apt sources"
	t0=$(date +%s)
	say "$name: building $suite in $dir (packages: $pkgs)"
	umount_under "$dir"
	rm -rf --one-file-system "$dir"
	mkdir -p "$dir"
	debootstrap --variant=minbase --components=main "$suite" "$dir" "$mirror" \
		>"$ROOTS/$name.debootstrap.log" 2>&1 ||
		{ tail -20 "$ROOTS/$name.debootstrap.log" >&2; die "$name: debootstrap failed (log: $ROOTS/$name.debootstrap.log)"; }
	cp /etc/resolv.conf "$dir/etc/resolv.conf" 2>/dev/null || true
	printf '#!/bin/sh\nexit 101\n' >"$dir/usr/sbin/policy-rc.d"
	chmod 755 "$dir/usr/sbin/policy-rc.d"
	mount -t proc proc "$dir/proc"
	trap 'umount_under "$dir"' EXIT
	if ! chroot "$dir" env DEBIAN_FRONTEND=noninteractive LC_ALL=C sh -c \
		"apt-get $APT_OPTS update -qq && apt-get $APT_OPTS install -y -qq --no-install-recommends $pkgs" \
		>"$ROOTS/$name.apt.log" 2>&1; then
		tail -20 "$ROOTS/$name.apt.log" >&2
		die "$name: installing packages failed (log: $ROOTS/$name.apt.log)"
	fi
	chroot "$dir" apt-get clean
	umount_under "$dir"
	trap - EXIT
	# The root is a test fixture, never updated in place: its sources
	# are dropped with the package lists, so it names no mirror.
	rm -rf "$dir/var/lib/apt/lists/"* "$dir/etc/apt/sources.list" "$dir/etc/apt/sources.list.d/"*
	mkdir -p "$dir/pmt"
	echo "$stamp" >"$dir/.pymemtop-root"
	say "$name: built in $(($(date +%s) - t0)) s"
}

[ "$(id -u)" = 0 ] || die "run as root (debootstrap and chroot)"
command -v debootstrap >/dev/null || die "debootstrap not installed (make deps installs it)"
mkdir -p "$ROOTS"
exec 9>"$ROOTS/.lock"
flock 9
build_root trixie trixie "$TRIXIE_PKGS"
build_root sid sid "$SID_PKGS"
