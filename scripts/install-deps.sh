#!/bin/sh
# install-deps.sh - install every build, test and demo dependency from
# Debian / Raspberry Pi OS packages, only the ones missing. Idempotent:
# when everything is there it runs no apt at all, so `make check` and
# `make demo` can call it every time.
#
#   scripts/install-deps.sh          build + test + demo dependencies
#   scripts/install-deps.sh --build  only what building the daemon needs
set -eu

BUILD="gcc make pkg-config libserialport-dev libpaho-mqtt-dev libconfig-dev libgpiod-dev libpcre2-dev"
TEST="mosquitto mosquitto-clients socat python3 clang libclang-rt-14-dev valgrind openssl util-linux passwd"

pkgs=$BUILD
[ "${1:-}" = "--build" ] || pkgs="$pkgs $TEST"

missing=""
for p in $pkgs; do
	# an installed package reports "install ok installed"
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

echo "install-deps: installing:$missing"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
		echo "install-deps: need root (or sudo) to install:$missing" >&2
		exit 1
	fi
fi
export DEBIAN_FRONTEND=noninteractive
# an old or missing package list cannot find anything: refresh once
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
echo "install-deps: done"
