#!/bin/sh
# build-debs.sh - `make deb`: the Debian packages for each release in
# DEB_RELEASES (bookworm trixie) and each architecture in DEB_ARCHS (amd64
# arm64 armhf), every one built inside a debootstrapped amd64 root of its
# own release (scripts/debroot.sh, cached in build/debroot/RELEASE-amd64)
# with that release's debhelper, gcc, cross compilers and multiarch -dev
# libraries, so dpkg-shlibdeps computes Depends from that release's arm64,
# armhf or amd64 libraries. Nothing is installed on the host but debootstrap.
#
#   DEB_RELEASES="bookworm trixie" DEB_ARCHS="amd64 arm64 armhf" VERSION=0.1.0 \
#       scripts/build-debs.sh
#
# Names: the version is VERSION~debNN (Debian 12 = bookworm, 13 = trixie),
# build-deb/mqttgw_0.1.0~deb12_arm64.deb and so on. 0.1.0~deb12 sorts before
# 0.1.0~deb13, which sorts before a plain 0.1.0: upgrading a Pi from bookworm
# to trixie and installing the ~deb13 package is an upgrade. The version
# comes from a changelog entry prepended to the copy's debian/changelog.
#
# Each build works in build-deb/RELEASE/ARCH/mqttgw-VERSION, a copy of every
# tracked and untracked-but-not-ignored file (what `make` builds, never
# build/), with raspbian/debian as debian/. The amd64 build runs the unit
# tests (DEB_BUILD_OPTIONS=nocheck skips them). Logs: build-deb/RELEASE/ARCH/build.log.
set -eu

cd "$(dirname "$0")/.."
RELEASES=${DEB_RELEASES:-bookworm trixie}
ARCHS=${DEB_ARCHS:-amd64 arm64 armhf}
VERSION=${VERSION:?VERSION not set}
OUT=${DEB_DIR:-build-deb}
DEBROOT=scripts/debroot.sh

release_number() {
	case $1 in
	bookworm) echo 12 ;;
	trixie) echo 13 ;;
	forky) echo 14 ;;
	*) echo "build-debs: unknown release $1 (bookworm, trixie)" >&2; exit 2 ;;
	esac
}

for rel in $RELEASES; do
	n=$(release_number "$rel")
	v="$VERSION~deb$n"
	cross=""
	for a in $ARCHS; do [ "$a" = amd64 ] || cross="$cross crossbuild-essential-$a libc6-dev:$a"; done
	# shellcheck disable=SC2086
	$DEBROOT ensure "$rel" amd64 build-essential dpkg-dev debhelper fakeroot lintian $cross
	mkdir -p "$OUT/$rel"
	for a in $ARCHS; do
		src=$OUT/$rel/$a/mqttgw-$VERSION
		rm -rf "${OUT:?}/$rel/$a"
		mkdir -p "$src"
		if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
			git ls-files -z -co --exclude-standard |
				tar --null --ignore-failed-read -T - -cf - 2>/dev/null | tar -xf - -C "$src"
		else
			tar --exclude='./build*' --exclude=./.git -cf - . | tar -xf - -C "$src"
		fi
		rm -rf "$src/debian"
		cp -r raspbian/debian "$src/debian"
		# the dashboard, built on this host by `make web` (npm needs the
		# network, a package build has none): debian/rules installs it from
		# web/dist (dh_auto_clean's `make clean` would remove build/web)
		if [ -f build/web/index.html ]; then
			mkdir -p "$src/web/dist"
			cp build/web/* "$src/web/dist/"
		else
			echo "build-debs: build/web missing (make web): packages without the dashboard" >&2
		fi
		# the release's entry on top, dated as the last commit (dpkg takes
		# SOURCE_DATE_EPOCH from it: the same tree builds the same package)
		date=$(git log -1 --format=%cD 2>/dev/null || date -R)
		maint=$(sed -n 's/^ -- \(.*>\)  .*/\1/p' raspbian/debian/changelog | head -1)
		{
			printf 'mqttgw (%s) %s; urgency=medium\n\n' "$v" "$rel"
			printf '  * Built for Debian %s %s and Raspberry Pi OS %s.\n\n' "$n" "$rel" "$rel"
			printf ' -- %s  %s\n\n' "$maint" "$date"
			cat raspbian/debian/changelog
		} > "$src/debian/changelog"
		echo "deb: $rel $a: dpkg-buildpackage -a$a in the $rel root (log: $OUT/$rel/$a/build.log)"
		if ! $DEBROOT run --bind "$OUT/$rel:/build" "$rel" amd64 sh -ec "
			cd /build/$a/mqttgw-$VERSION
			apt-get -qq -y --no-install-recommends build-dep -a$a ./ >/dev/null
			DEB_BUILD_OPTIONS='${DEB_BUILD_OPTIONS:-}' dpkg-buildpackage -a$a -b -us -uc -j2" \
			> "$OUT/$rel/$a/build.log" 2>&1; then
			tail -40 "$OUT/$rel/$a/build.log"
			echo "deb: $rel $a FAILED"
			exit 1
		fi
		mv -f "$OUT/$rel/$a/mqttgw_${v}_$a.deb" "$OUT/"
	done
	if [ -z "${DEB_NO_LINTIAN:-}" ]; then
		for a in $ARCHS; do
			echo "lintian ($rel's) mqttgw_${v}_$a.deb:"
			$DEBROOT run --bind "$OUT:/debs" "$rel" amd64 sh -c \
				"lintian --info --display-info --pedantic /debs/mqttgw_${v}_$a.deb 2>&1 | grep -v 'running with root privileges'" || true
		done
	fi
done
echo "deb: packages in $OUT/:"
for rel in $RELEASES; do
	n=$(release_number "$rel")
	for a in $ARCHS; do
		d=$OUT/mqttgw_$VERSION~deb${n}_$a.deb
		printf '  %s  %s bytes\n    Depends: %s\n' "$(basename "$d")" "$(stat -c %s "$d")" \
			"$(dpkg-deb -f "$d" Depends)"
	done
done
