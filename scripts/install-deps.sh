#!/bin/sh
# install-deps.sh - install every build, test and demo dependency from
# Debian / Raspberry Pi OS packages, only the ones missing. Idempotent:
# when everything is there it runs no apt at all, so `make check` and
# `make demo` can call it every time.
#
#   scripts/install-deps.sh          build + test + demo dependencies
#   scripts/install-deps.sh --build  only what building the daemon needs
#
# Tests also run the GPIO suite against libgpiod 2 (check.sh's gpiod2
# phase). On a system whose libgpiod is 1.x (bookworm) the 2.x header and
# library come from bookworm-backports (libgpiod-dev 2.1.3, libgpiod3),
# unpacked into build-gpiod2/prefix with dpkg-deb: nothing is installed, so
# the system's libgpiod-dev 1.6, which the normal build uses, stays. For
# that a bookworm-backports source is added (pinned to 1: nothing is ever
# upgraded from it unless asked by name). Skipped when build-gpiod2/prefix
# holds a 2.x already, or when the system's libgpiod is 2.x itself.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
GPIOD2_PREFIX=$ROOT/build-gpiod2/prefix

# libc6-dev: gcc only recommends it (the headers), and recommends are not installed
BUILD="gcc libc6-dev make pkg-config libserialport-dev libpaho-mqtt-dev libconfig-dev libgpiod-dev libpcre2-dev libcjson-dev"
# libclang-rt-dev: the fuzzers' runtime for the release's default clang (14 on bookworm, 19 on trixie)
TEST="mosquitto mosquitto-clients socat python3 clang libclang-rt-dev valgrind openssl util-linux passwd"
# the soak's MQTT client (tests/soak/mqttlink.py: one persistent session across broker restarts)
TEST="$TEST python3-paho-mqtt"

# The dashboard (make web, its browser tests): node and npm build it from
# web/package-lock.json, Debian's chromium runs it headless. nodejs builds
# that bring their own npm (nodesource) conflict with Debian's npm package.
WEB="nodejs chromium"
command -v npm >/dev/null 2>&1 || WEB="$WEB npm"

pkgs=$BUILD
[ "${1:-}" = "--build" ] || pkgs="$pkgs $TEST $WEB"

missing=""
for p in $pkgs; do
	# an installed package reports "install ok installed"
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
		missing="$missing $p"
	fi
done
SUDO=""
need_root() {
	[ "$(id -u)" -eq 0 ] && return 0
	if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
		echo "install-deps: need root (or sudo) to $1" >&2
		exit 1
	fi
}
export DEBIAN_FRONTEND=noninteractive

if [ -n "$missing" ]; then
	echo "install-deps: installing:$missing"
	need_root "install:$missing"
	# an old or missing package list cannot find anything: refresh once
	$SUDO apt-get update -qq
	# shellcheck disable=SC2086
	$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
	echo "install-deps: done"
fi
[ "${1:-}" = "--build" ] && exit 0

# ---- libgpiod 2 for the gpiod2 test round (see the head of this file) ----
major() { echo "${1%%.*}"; }
sysver=$(pkg-config --modversion libgpiod 2>/dev/null || echo 0)
[ "$(major "$sysver")" -ge 2 ] && exit 0
pc=""
for f in "$GPIOD2_PREFIX"/usr/lib/*/pkgconfig/libgpiod.pc; do [ -f "$f" ] && pc=$f; done
if [ -n "$pc" ] && [ "$(major "$(PKG_CONFIG_PATH=$(dirname "$pc") pkg-config --modversion libgpiod)")" -ge 2 ] &&
	[ -f "$GPIOD2_PREFIX/usr/include/gpiod.h" ]; then
	exit 0
fi
# shellcheck disable=SC1091
. /etc/os-release
if [ "${VERSION_CODENAME:-}" != bookworm ]; then
	echo "install-deps: libgpiod $sysver on ${VERSION_CODENAME:-this system}: no libgpiod 2 for the gpiod2 round" \
		"(put one under $GPIOD2_PREFIX)" >&2
	exit 1
fi
echo "install-deps: libgpiod 2 from bookworm-backports into $GPIOD2_PREFIX"
if ! grep -rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
	need_root "add a bookworm-backports apt source"
	printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' |
		$SUDO tee /etc/apt/sources.list.d/mqttgw-backports.sources >/dev/null
fi
if [ ! -f /etc/apt/preferences.d/mqttgw-backports ]; then
	need_root "pin bookworm-backports"
	printf 'Package: *\nPin: release n=bookworm-backports\nPin-Priority: 1\n' |
		$SUDO tee /etc/apt/preferences.d/mqttgw-backports >/dev/null
fi
tmp=$(mktemp -d /tmp/mqttgw-gpiod2.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
chmod 755 "$tmp"
if ! (cd "$tmp" && apt-get download -qq libgpiod-dev/bookworm-backports libgpiod3/bookworm-backports 2>/dev/null); then
	need_root "refresh the package lists"
	$SUDO apt-get update -qq
	(cd "$tmp" && apt-get download -qq -o APT::Sandbox::User=root libgpiod-dev/bookworm-backports libgpiod3/bookworm-backports)
fi
# unpack beside it, then swap: a build linked against it (rpath) never sees it half there
new=$GPIOD2_PREFIX.new
rm -rf "$new" "$GPIOD2_PREFIX.old"
mkdir -p "$new"
for deb in "$tmp"/*.deb; do
	dpkg-deb -x "$deb" "$new"
done
[ ! -e "$GPIOD2_PREFIX" ] || mv "$GPIOD2_PREFIX" "$GPIOD2_PREFIX.old"
mv "$new" "$GPIOD2_PREFIX"
rm -rf "$GPIOD2_PREFIX.old"
for f in "$GPIOD2_PREFIX"/usr/lib/*/pkgconfig/libgpiod.pc; do pc=$f; done
echo "install-deps: libgpiod $(PKG_CONFIG_PATH=$(dirname "$pc") pkg-config --modversion libgpiod) in $GPIOD2_PREFIX"
