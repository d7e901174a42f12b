#!/bin/sh
# debroot.sh - cached Debian root file systems for `make deb` and `make
# check-rootfs`: one per release and architecture, made with debootstrap from
# the Debian archive, kept in build/debroot/RELEASE-ARCH, and commands run in
# them with chroot (foreign architectures under qemu-user via binfmt_misc).
#
#   scripts/debroot.sh ensure RELEASE ARCH [PKG...]
#       make the root if it is not there (debootstrap --variant=minbase, with
#       --foreign and a second stage under qemu for arm64/armhf), point apt at
#       RELEASE, RELEASE-updates and RELEASE-security, refresh the package
#       lists when they are a day old, and install the PKGs that are missing
#   scripts/debroot.sh run [OPTIONS] RELEASE ARCH CMD [ARG...]
#       run CMD in the root as root, in a private mount namespace:
#         --overlay DIR     the root is a throwaway overlay (upper layer in
#                           DIR, emptied first): the cached root stays pristine
#         --bind HOST:PATH  bind-mount HOST at PATH inside the root
#         --netns           a private network namespace with only loopback
#   scripts/debroot.sh binfmt ARCH
#       register qemu-user-static for ARCH with binfmt_misc if it is not
#
# Shaped so: every mount (proc, dev, dev/pts, the overlay, binds) is made
# inside `unshare --mount`, so the host's mount table never sees one: when the
# command ends, however it ends, the kernel drops them all (the trap that
# unmounts them is a second line of defence), and `rm -rf build` can never
# walk into a bind-mounted /dev. The host's apt and dpkg are never touched;
# it only needs debootstrap, qemu-user-static and util-linux. A lock file per
# root keeps two makes from building the same root at once. The downloaded
# .debs of each root are kept in build/debroot/cache/RELEASE-ARCH (bound at
# /var/cache/apt/archives), so a warm run downloads nothing.
#
# Root needed. DEBROOT_DIR (default build/debroot) and DEBIAN_MIRROR
# (default http://deb.debian.org/debian) can be set.
set -eu

SELF=$(realpath "$0")
DEBROOT_DIR=${DEBROOT_DIR:-build/debroot}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
SECURITY=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
ROOT_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

die() { echo "debroot: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "needs root (debootstrap, chroot, mounts)"

qemu_name() {
	case $1 in
	arm64) echo aarch64 ;;
	armhf|armel) echo arm ;;
	*) echo "" ;;
	esac
}

# foreign ARCH: true if binaries of ARCH do not run natively here
foreign() { [ "$1" != "$(dpkg --print-architecture)" ]; }

# the host's tools: the only packages this script installs on the host
tools() {
	command -v debootstrap >/dev/null && [ -e /usr/lib/binfmt.d/qemu-aarch64.conf ] && return 0
	echo "debroot: installing debootstrap qemu-user-static on the host"
	DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
		--no-install-recommends debootstrap qemu-user-static >/dev/null
}

binfmt() {
	q=$(qemu_name "$1")
	[ -n "$q" ] || die "no qemu-user for architecture $1"
	tools
	if [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
		mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
	fi
	if [ ! -e "/proc/sys/fs/binfmt_misc/qemu-$q" ]; then
		# the Debian entry carries the F flag: the kernel opens the
		# interpreter now, so it works inside any chroot
		echo "debroot: registering qemu-$q with binfmt_misc"
		cat "/usr/lib/binfmt.d/qemu-$q.conf" > /proc/sys/fs/binfmt_misc/register
	fi
}

# inside a private mount namespace (see `run`): mount what a chroot needs
# below $1 and run the rest of the arguments there
in_ns() {
	root=$1
	shift
	mounted=""
	cleanup() {
		for m in $mounted; do umount -l "$m" 2>/dev/null || true; done
	}
	trap cleanup EXIT INT TERM
	mount --make-rprivate / 2>/dev/null || true
	if [ -n "${NS_OVERLAY:-}" ]; then
		rm -rf "$NS_OVERLAY"
		mkdir -p "$NS_OVERLAY/upper" "$NS_OVERLAY/work" "$NS_OVERLAY/merged"
		mount -t overlay overlay -o "lowerdir=$root,upperdir=$NS_OVERLAY/upper,workdir=$NS_OVERLAY/work" \
			"$NS_OVERLAY/merged"
		root=$NS_OVERLAY/merged
		mounted="$root $mounted"
	fi
	mount -t proc proc "$root/proc"
	mounted="$root/proc $mounted"
	mount --bind /dev "$root/dev"
	mounted="$root/dev $mounted"
	mount --bind /dev/pts "$root/dev/pts"
	mounted="$root/dev/pts $mounted"
	mkdir -p "$root/var/cache/apt/archives" "$CACHE"
	mount --bind "$CACHE" "$root/var/cache/apt/archives"
	mounted="$root/var/cache/apt/archives $mounted"
	for b in ${NS_BINDS:-}; do
		mkdir -p "$root/${b#*:}"
		mount --bind "${b%%:*}" "$root/${b#*:}"
		mounted="$root/${b#*:} $mounted"
	done
	[ -n "${NS_NET:-}" ] && ip link set lo up
	# mounts done: a fresh /tmp-like state for apt's resolver
	cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
	rc=0
	chroot "$root" /usr/bin/env -i PATH=$ROOT_PATH HOME=/root LANG=C.UTF-8 TERM=dumb \
		DEBIAN_FRONTEND=noninteractive "$@" || rc=$?
	cleanup
	trap - EXIT INT TERM
	return $rc
}

# run [options] RELEASE ARCH CMD...
run() {
	NS_OVERLAY="" NS_BINDS="" NS_NET=""
	while [ $# -gt 0 ]; do
		case $1 in
		--overlay) NS_OVERLAY=$(realpath -m "$2"); shift 2 ;;
		--bind) NS_BINDS="$NS_BINDS $(realpath "${2%%:*}"):${2#*:}"; shift 2 ;;
		--netns) NS_NET=1; shift ;;
		*) break ;;
		esac
	done
	[ $# -ge 3 ] || die "usage: debroot.sh run [--overlay DIR] [--bind HOST:PATH] [--netns] RELEASE ARCH CMD..."
	rel=$1 arch=$2
	shift 2
	root=$(realpath -m "$DEBROOT_DIR/$rel-$arch")
	[ -x "$root/bin/sh" ] && [ -e "$root/.debroot-ok" ] || die "no root $root: run debroot.sh ensure $rel $arch"
	if foreign "$arch"; then binfmt "$arch"; fi
	CACHE=$(realpath -m "$DEBROOT_DIR/cache/$rel-$arch")
	export NS_OVERLAY NS_BINDS NS_NET CACHE
	# re-enter this script in new namespaces; $0 __ns does the mounting
	if [ -n "$NS_NET" ]; then
		unshare --mount --net --propagation private "$SELF" __ns "$root" "$@"
	else
		unshare --mount --propagation private "$SELF" __ns "$root" "$@"
	fi
}

ensure() {
	rel=$1 arch=$2
	shift 2
	root=$(realpath -m "$DEBROOT_DIR/$rel-$arch")
	mkdir -p "$DEBROOT_DIR/cache/$rel-$arch"
	tools
	if foreign "$arch"; then binfmt "$arch"; fi
	exec 9>"$root.lock"
	flock 9
	if [ ! -e "$root/.debroot-ok" ]; then
		rm -rf "$root"
		echo "debroot: debootstrap $rel $arch into $root (a few minutes, once)"
		# --variant=minbase: essential packages and apt, no more; what a
		# user's system has beyond that must come from the package's
		# Depends, which is what the checks are after
		if foreign "$arch"; then
			debootstrap --foreign --arch="$arch" --variant=minbase "$rel" "$root" "$MIRROR" \
				> "$root.log" 2>&1 || { tail -20 "$root.log"; die "debootstrap $rel $arch failed (log: $root.log)"; }
			echo "debroot: second stage under qemu-$(qemu_name "$arch")"
			unshare --mount --propagation private chroot "$root" /debootstrap/debootstrap --second-stage \
				>> "$root.log" 2>&1 || { tail -20 "$root.log"; die "second stage $rel $arch failed (log: $root.log)"; }
		else
			debootstrap --arch="$arch" --variant=minbase "$rel" "$root" "$MIRROR" \
				> "$root.log" 2>&1 || { tail -20 "$root.log"; die "debootstrap $rel $arch failed (log: $root.log)"; }
		fi
		cat > "$root/etc/apt/sources.list" <<-EOF
			deb $MIRROR $rel main
			deb $MIRROR $rel-updates main
			deb $SECURITY $rel-security main
		EOF
		# no documentation in these roots (smaller, faster), but keep
		# /usr/share/doc/mqttgw so the purge check sees it go
		cat > "$root/etc/dpkg/dpkg.cfg.d/01-debroot-nodoc" <<-EOF
			path-exclude=/usr/share/man/*
			path-exclude=/usr/share/locale/*
			path-exclude=/usr/share/doc/*
			path-include=/usr/share/doc/mqttgw/*
			path-include=/usr/share/man/man8/mqttgw.8*
			path-include=/usr/share/man/man5/mqttgw.cfg.5*
		EOF
		rm -f "$root/var/cache/apt/archives/"*.deb
		touch "$root/.debroot-new"
		echo "$rel $arch" > "$root/.debroot-ok"
	fi
	# the lists: fresh on a new root, refreshed once a day after that (the
	# archive drops superseded .debs that old lists still point at)
	if [ -e "$root/.debroot-new" ] || [ -z "$(find "$root/.debroot-ok" -mmin -1440)" ]; then
		run "$rel" "$arch" apt-get -qq update >/dev/null || die "apt-get update in $rel-$arch failed"
		run "$rel" "$arch" apt-get -qq -y dist-upgrade >/dev/null || die "apt-get dist-upgrade in $rel-$arch failed"
		rm -f "$root/.debroot-new"
		touch "$root/.debroot-ok"
	fi
	missing=""
	for p in "$@"; do
		case $p in *:*) a=${p#*:}
			grep -qx "$a" "$root/var/lib/dpkg/arch" 2>/dev/null || {
				run "$rel" "$arch" dpkg --add-architecture "$a"
				run "$rel" "$arch" apt-get -qq update >/dev/null; } ;;
		esac
		chroot "$root" dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
			missing="$missing $p"
	done
	if [ -n "$missing" ]; then
		echo "debroot: $rel-$arch: installing$missing"
		# shellcheck disable=SC2086
		run "$rel" "$arch" apt-get -qq -y --no-install-recommends install $missing >/dev/null ||
			die "apt-get install$missing in $rel-$arch failed"
	fi
}

case ${1:-} in
ensure) shift; [ $# -ge 2 ] || die "usage: debroot.sh ensure RELEASE ARCH [PKG...]"; ensure "$@" ;;
run) shift; run "$@" ;;
binfmt) shift; binfmt "${1:?ARCH}" ;;
__ns) shift; root=$1; shift; in_ns "$root" "$@" ;;
*) sed -n '2,/^set -eu/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 2 ;;
esac
