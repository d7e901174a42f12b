#!/bin/sh
# install-cross-deps.sh - install what `make deb` and `make check-cross`
# need on a Debian bookworm amd64 box: Debian's cross toolchains for arm64
# (Pi 3/4/5 with a 64-bit OS) and armhf (32-bit Raspberry Pi OS), the four
# libraries as foreign-architecture -dev packages (multiarch: they land in
# /usr/lib/aarch64-linux-gnu and /usr/lib/arm-linux-gnueabihf, where the
# cross gcc finds them), qemu-user-static to run the cross-built tests,
# and the packaging tools (debhelper, lintian).
#
# Idempotent, like install-deps.sh: architectures are added only when
# missing, and apt runs only when a package is missing.
#
#   scripts/install-cross-deps.sh            everything
#   scripts/install-cross-deps.sh --deb      only what `make deb` needs
#   scripts/install-cross-deps.sh --check    only what `make check-cross` needs
#
# Note (armhf): Debian's armhf is ARMv7 + VFPv3-D16. It runs on Pi 2/3/4/5
# and Zero 2 W, not on the ARMv6 Pi 1 / Zero / Zero W (Raspberry Pi OS's own
# "armhf" is ARMv6); build on such a Pi itself (README, from source).
set -eu

ARCHS="arm64 armhf"
LIBS="libpaho-mqtt-dev libserialport-dev libconfig-dev libgpiod-dev libpcre2-dev"

# the native side: build deps of the daemon itself, and the packaging tools
NATIVE="gcc make pkg-config $LIBS"
DEB_TOOLS="dpkg-dev debhelper lintian fakeroot"
CROSS="crossbuild-essential-arm64 crossbuild-essential-armhf"
QEMU="qemu-user-static"

case "${1:-}" in
--deb) want="$NATIVE $DEB_TOOLS $CROSS" ;;
--check) want="$NATIVE $CROSS $QEMU" ;;
"") want="$NATIVE $DEB_TOOLS $CROSS $QEMU" ;;
*) echo "usage: $0 [--deb|--check]" >&2; exit 2 ;;
esac
for a in $ARCHS; do
	for l in $LIBS; do want="$want $l:$a"; done
done

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else SUDO="need-root"; fi
fi

need_update=0
for a in $ARCHS; do
	if ! dpkg --print-foreign-architectures | grep -qx "$a"; then
		[ "$SUDO" = need-root ] && { echo "install-cross-deps: need root to add architecture $a" >&2; exit 1; }
		echo "install-cross-deps: dpkg --add-architecture $a"
		$SUDO dpkg --add-architecture "$a"
		need_update=1
	fi
done

installed() {
	# "install ok installed"; a foreign one is queried as name:arch
	dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "ok installed"
}

missing=""
for p in $want; do
	installed "$p" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

[ "$SUDO" = need-root ] && { echo "install-cross-deps: need root (or sudo) to install:$missing" >&2; exit 1; }
echo "install-cross-deps: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
# other apt runs (install-deps.sh, a colleague) may hold the lock: wait for it
APT="$SUDO apt-get -o DPkg::Lock::Timeout=600"
NATIVE_ARCH=$(dpkg --print-architecture)

# Every version of package NAME:ARCH that apt knows (installed or downloadable).
versions_of() {
	apt-cache policy "$1" 2>/dev/null |
		awk '/^ +(\*\*\* )?[^ ]+ -?[0-9]+$/ { print ($1 == "***") ? $2 : $1 }' | sort -u
}

# Multi-Arch: same libraries must have one version across architectures.
# The foreign ones come from the archive, the native ones may be at a
# version the archive no longer carries for arm64/armhf (an image built
# from a snapshot, a security index that failed to download), and then
# apt gives up ("libssl3:arm64 ... is not going to be installed") or
# offers to remove half the system. So: for each library in the foreign
# closure, pick the highest version every involved architecture can have
# and pin all of them (with the native packages built from the same
# source at the same version, e.g. libssl-dev and openssl) to it.
align() {
	pins=""
	closure=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts \
		--no-breaks --no-replaces --no-enhances "$@" 2>/dev/null | grep -v '^ ' | grep ':' | sort -u)
	for name in $(printf '%s\n' $closure | sed 's/:.*//' | sort -u); do
		archs=$(printf '%s\n' $closure | sed -n "s/^$name:\(.*\)/\1/p")
		nv=$(dpkg-query -W -f='${Version}' "$name:$NATIVE_ARCH" 2>/dev/null || true)
		[ -n "$nv" ] && archs="$NATIVE_ARCH $archs"
		cands=$(for a in $archs; do
			if [ "$a" = "$NATIVE_ARCH" ]; then echo "$nv"; else
				apt-cache policy "$name:$a" | awk '/Candidate:/ { print $2 }'; fi
		done | sort -u)
		[ "$(echo "$cands" | wc -l)" -le 1 ] && continue
		common=""
		for a in $archs; do
			v=$(versions_of "$name:$a")
			if [ -z "$common" ]; then common=$v; else
				common=$(printf '%s\n%s\n' "$common" "$v" | sort | uniq -d); fi
		done
		best=""
		for v in $common; do
			if [ -z "$best" ] || dpkg --compare-versions "$v" gt "$best"; then best=$v; fi
		done
		if [ -z "$best" ]; then
			echo "install-cross-deps: no version of $name exists for all of: $archs" >&2
			continue
		fi
		for a in $archs; do pins="$pins $name:$a=$best"; done
		# native packages from the same source at the same version follow
		if [ -n "$nv" ] && [ "$nv" != "$best" ]; then
			src=$(dpkg-query -W -f='${source:Package}' "$name:$NATIVE_ARCH")
			for sib in $(dpkg-query -W -f='${binary:Package} ${source:Package} ${Version} ${db:Status-Abbrev}\n' |
				awk -v s="$src" -v v="$nv" '$2 == s && $3 == v && $4 == "ii" { print $1 }'); do
				[ "${sib%%:*}" = "$name" ] && continue
				if versions_of "$sib" | grep -qxF "$best"; then pins="$pins $sib=$best"; fi
			done
		fi
	done
	echo "$pins"
}

[ "$need_update" = 1 ] && $APT update -qq || true
# shellcheck disable=SC2086
if ! $APT install -s -qq --no-install-recommends $missing >/dev/null 2>&1; then
	# an old package list first, then version alignment
	$APT update -qq || echo "install-cross-deps: apt-get update had errors (carrying on with what it got)" >&2
	if ! $APT install -s -qq --no-install-recommends $missing >/dev/null 2>&1; then
		foreign=$(for p in $missing; do case $p in *:*) echo "$p" ;; esac; done)
		pins=$(align $foreign)
		[ -n "$pins" ] && echo "install-cross-deps: aligning multiarch versions:$pins"
		missing="$missing $pins"
	fi
fi
# shellcheck disable=SC2086
$APT install -y -qq --no-install-recommends $missing >/dev/null
echo "install-cross-deps: done"
