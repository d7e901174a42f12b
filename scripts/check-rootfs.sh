#!/bin/sh
# check-rootfs.sh - `make check-rootfs`: the arm64 package of each release in
# ROOTFS_RELEASES (bookworm trixie) installed and run in a minimal Debian
# arm64 root file system of that release, under qemu-user, as on a Pi; and
# the build from source (install-deps.sh --build, make, make install) in the
# same kind of root. The checks themselves are tests/rootfs/inroot.sh; this
# script prepares what they need and counts.
#
#   ROOTFS_RELEASES="bookworm trixie" ROOTFS_SOURCE=1 VERSION=0.1.0 scripts/check-rootfs.sh
#
# Per release:
#   1. build-deb/mqttgw_VERSION~debNN_arm64.deb, rebuilt (scripts/build-debs.sh)
#      when missing or older than a tracked file
#   2. prog_motorsim, prog_gpioctl and the GPIO stand-in cross-built for arm64
#      in the release's amd64 build root (its gcc, its libgpiod headers:
#      1.6 on bookworm, 2.x on trixie), in build/rootfs/RELEASE-arm64/
#   3. the cached arm64 root build/debroot/RELEASE-arm64 (debootstrap
#      --variant=minbase, plus systemd for systemd-analyze and mosquitto)
#   4. inroot.sh package ... in a throwaway overlay of that root, then
#      inroot.sh source ... in another (ROOTFS_SOURCE=0 skips it: it compiles
#      under qemu, the slowest part)
# Output: the PASS/FAIL lines of every check, then "N passed, N failed".
set -u

cd "$(dirname "$0")/.." || exit 2
RELEASES=${ROOTFS_RELEASES:-bookworm trixie}
VERSION=${VERSION:?VERSION not set}
SOURCE=${ROOTFS_SOURCE:-1}
DEBROOT=scripts/debroot.sh
W=build/rootfs
mkdir -p "$W"
LOG=$W/check.log
: >"$LOG"
npass=0
nfail=0

# note LINE...: count and print the PASS/FAIL lines of a run
tally() {
	while IFS= read -r line; do
		case $line in
		"PASS "*) npass=$((npass + 1)) ;;
		"FAIL "*) nfail=$((nfail + 1)) ;;
		esac
		printf '%s\n' "$line"
	done
}
step_fail() { echo "FAIL $1"; nfail=$((nfail + 1)); [ -n "${2:-}" ] && tail -20 "$2" | sed 's/^/    | /'; }

# a free port on the host's loopback for the test broker
free_port() {
	/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

started=$(date +%s)
for rel in $RELEASES; do
	case $rel in bookworm) n=12 ;; trixie) n=13 ;; *) echo "check-rootfs: unknown release $rel"; exit 2 ;; esac
	deb=build-deb/mqttgw_$VERSION~deb${n}_arm64.deb

	# 1. the package
	if [ ! -e "$deb" ] || [ -n "$(git ls-files -co --exclude-standard gateway drivers common raspbian config Makefile |
		xargs -d '\n' find 2>/dev/null -newer "$deb" -type f | head -1)" ]; then
		echo "check-rootfs: $rel: building $deb"
		if ! DEB_RELEASES=$rel DEB_ARCHS=arm64 DEB_NO_LINTIAN=1 VERSION=$VERSION scripts/build-debs.sh >>"$LOG" 2>&1; then
			step_fail "$rel: make deb DEB_RELEASES=$rel DEB_ARCHS=arm64" "$LOG"
			continue
		fi
	fi
	echo "check-rootfs: $rel: $deb, Depends: $(dpkg-deb -f "$deb" Depends)"

	# 2. the simulators for arm64, against this release's headers
	B=$W/$rel-arm64/sim-build
	if ! $DEBROOT run --bind .:/src "$rel" amd64 sh -ec "
		cd /src
		make -s B=$B CC=aarch64-linux-gnu-gcc PKG_CONFIG=aarch64-linux-gnu-pkg-config \
			$B/sim/prog_motorsim $B/sim/prog_gpioctl $B/sim/lib_gpiosim.so
		aarch64-linux-gnu-pkg-config --modversion libgpiod > $B/sim/gpiod-version" >>"$LOG" 2>&1; then
		step_fail "$rel: cross-building the simulators for arm64" "$LOG"
		continue
	fi
	echo "check-rootfs: $rel: motor simulator and GPIO stand-in cross-built for arm64 against $rel's libgpiod $(cat "$B/sim/gpiod-version") headers"

	# 3. the root
	if ! $DEBROOT ensure "$rel" arm64 systemd mosquitto mosquitto-clients >>"$LOG" 2>&1; then
		step_fail "$rel: debootstrap $rel arm64" "$LOG"
		continue
	fi

	# 4. the checks, each in a fresh overlay of the cached root
	echo "check-rootfs: $rel: the package in a fresh $rel arm64 root (qemu-user)"
	$DEBROOT run --overlay "$W/$rel-arm64/overlay" --bind build-deb:/mnt/debs --bind "$B/sim:/mnt/sim" \
		--bind tests/rootfs:/mnt/check "$rel" arm64 \
		sh /mnt/check/inroot.sh package "$rel" "/mnt/debs/$(basename "$deb")" /mnt/sim "$(free_port)" \
		>"$W/$rel-arm64/package.out" 2>&1
	tally <"$W/$rel-arm64/package.out"
	grep -q '^PASS\|^FAIL' "$W/$rel-arm64/package.out" ||
		step_fail "$rel: package checks printed nothing" "$W/$rel-arm64/package.out"

	if [ "$SOURCE" = 1 ]; then
		echo "check-rootfs: $rel: from source in a fresh $rel arm64 root (qemu-user)"
		rm -rf "$W/$rel-arm64/src"
		mkdir -p "$W/$rel-arm64/src"
		git ls-files -z -co --exclude-standard |
			tar --null --ignore-failed-read -T - -cf - 2>/dev/null | tar -xf - -C "$W/$rel-arm64/src"
		$DEBROOT run --overlay "$W/$rel-arm64/overlay" --bind "$W/$rel-arm64/src:/mnt/src" \
			--bind tests/rootfs:/mnt/check "$rel" arm64 \
			sh /mnt/check/inroot.sh source "$rel" /mnt/src >"$W/$rel-arm64/source.out" 2>&1
		tally <"$W/$rel-arm64/source.out"
		grep -q '^PASS\|^FAIL' "$W/$rel-arm64/source.out" ||
			step_fail "$rel: source checks printed nothing" "$W/$rel-arm64/source.out"
	fi
	rm -rf "$W/$rel-arm64/overlay"
done
echo "check-rootfs: $(($(date +%s) - started)) s (log of the preparation: $LOG)"
echo "$npass passed, $nfail failed"
[ "$nfail" -eq 0 ]
