#!/bin/sh
# inroot.sh - the checks `make check-rootfs` runs inside a debootstrapped
# Debian arm64 root file system (under qemu-user), as root, as a user on a
# freshly set up Pi would run them. scripts/check-rootfs.sh starts it in a
# throwaway overlay of the cached root, so every run begins from a clean
# minimal system. One line per check, "PASS RELEASE: what" or "FAIL
# RELEASE: what" (with the tail of the relevant log), nothing else counted.
#
#   inroot.sh package RELEASE DEB SIMDIR PORT
#       apt install ./DEB; the user; --check; systemd-analyze verify; the
#       daemon as user mqttgw against a mosquitto on 127.0.0.1:PORT, the motor
#       simulator on a pty and the GPIO stand-in (SIMDIR/lib_gpiosim.so, built
#       for this release's libgpiod) preloaded; SIGTERM; apt purge
#   inroot.sh source RELEASE SRCDIR
#       scripts/install-deps.sh --build, make, make install, as README says
#
# Shaped so: POSIX sh and the tools of a minimal Debian (dash, coreutils,
# util-linux, procps once the package pulled it in), since that is all a
# root made with debootstrap --variant=minbase has. Waits poll a condition
# (a line in a log) with a deadline; qemu-user makes everything 5-20x
# slower than on a Pi, so the deadlines are generous.
set -u

MODE=$1 REL=$2
T=/tmp/rootfs-check
rm -rf "$T"
mkdir -p "$T"
chmod 0755 "$T"
PIDS=""
cleanup() {
	for p in $PIDS; do kill "$p" 2>/dev/null || true; done
	for p in $PIDS; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT INT TERM

pass() { echo "PASS $REL: $*"; }
fail() {
	echo "FAIL $REL: $1"
	[ -n "${2:-}" ] && [ -e "$2" ] && tail -n "${3:-15}" "$2" | sed 's/^/    | /'
	return 0
}
# wait_for FILE ERE SECONDS: until a line of FILE matches
wait_for() {
	end=$(($(date +%s) + $3))
	until grep -qE "$2" "$1" 2>/dev/null; do
		[ "$(date +%s)" -ge "$end" ] && return 1
		sleep 0.05
	done
}

check_package() {
	DEB=$1 SIM=$2 PORT=$3
	d=$(basename "$DEB")
	cp "$DEB" "$T/"

	# -- apt install, as README says; apt fetches the libraries ------------
	if (cd "$T" && apt install -y "./$d") >"$T/apt.log" 2>&1; then
		libs=$(sed -n 's/^Setting up \(lib\(gpiod\|config\|paho\|serialport\)[^ ]*\) (\([^)]*\)).*/\1 \3/p' \
			"$T/apt.log" | sed 's/:arm64//' | tr '\n' ',' | sed 's/,$//; s/,/, /g')
		pass "apt install ./$d (with it from $REL: $libs)"
	else
		fail "apt install ./$d" "$T/apt.log" 25
		return 0
	fi

	# -- the system user ------------------------------------------------------
	groups=" $(id -nG mqttgw 2>/dev/null) "
	case $groups in
	*" dialout "*) case $groups in
		*" gpio "*) pass "user mqttgw exists: $(id mqttgw)" ;;
		*) fail "user mqttgw is not in group gpio: $(id mqttgw)" ;;
		esac ;;
	*) fail "user mqttgw in group dialout (id: $(id mqttgw 2>&1))" ;;
	esac

	# -- the shipped config ---------------------------------------------------
	if mqttgw --check -c /etc/mqttgw/mqttgw.cfg >"$T/check.log" 2>&1; then
		pass "mqttgw --check -c /etc/mqttgw/mqttgw.cfg: $(head -1 "$T/check.log") [$(mqttgw --version 2>&1 | tr '\n' ' ')]"
	else
		fail "mqttgw --check -c /etc/mqttgw/mqttgw.cfg (exit $?)" "$T/check.log"
	fi

	# -- the unit -------------------------------------------------------------
	# --man=no: Documentation= is checked by running man(1), which a
	# minimal root does not have; the pages themselves are checked instead
	unit=$(dpkg -L mqttgw | grep '/systemd/system/mqttgw\.service$' | head -1)
	pages=$(dpkg -L mqttgw | grep -c '/man/man[58]/mqttgw[.a-z]*\.[58]\.gz$')
	if [ -z "$unit" ]; then
		fail "systemd unit: the package ships no mqttgw.service"
	elif systemd-analyze verify --man=no "$unit" >"$T/verify.log" 2>&1 && [ "$pages" = 2 ]; then
		if [ -s "$T/verify.log" ]; then
			pass "systemd-analyze verify $unit (exit 0, it said: $(tr '\n' ' ' <"$T/verify.log")); mqttgw(8), mqttgw.cfg(5) installed"
		else
			pass "systemd-analyze verify $unit: no complaints; mqttgw(8), mqttgw.cfg(5) installed"
		fi
	else
		fail "systemd-analyze verify --man=no $unit (and $pages of 2 man pages)" "$T/verify.log"
	fi

	# the dashboard and the mosquitto snippet that serves it
	if [ -s /usr/share/mqttgw/www/index.html ] && [ -s /usr/share/mqttgw/www/app.js ] &&
		grep -q 'http_dir /usr/share/mqttgw/www' /usr/share/doc/mqttgw/examples/mosquitto-websockets.conf 2>/dev/null; then
		pass "dashboard: /usr/share/mqttgw/www ($(ls /usr/share/mqttgw/www | tr '\n' ' ')), examples/mosquitto-websockets.conf"
	else
		dpkg -L mqttgw >"$T/files.log" 2>&1
		fail "dashboard: /usr/share/mqttgw/www/index.html, app.js or examples/mosquitto-websockets.conf missing" "$T/files.log"
	fi

	run_daemon "$SIM" "$PORT"

	# -- purge ----------------------------------------------------------------
	if apt purge -y mqttgw >"$T/purge.log" 2>&1; then
		left=$(find / -xdev \( -path /tmp -o -path /mnt -o -path /var/cache/apt -o -path /proc \) -prune \
			-o -name '*mqttgw*' -print 2>/dev/null)
		st=$(dpkg-query -W -f='${db:Status-Abbrev}' mqttgw 2>/dev/null || true)
		if [ -z "$left" ] && { [ -z "$st" ] || [ "$st" = "un " ]; }; then
			kept=$(getent passwd mqttgw >/dev/null && echo "user mqttgw and groups $(id -nG mqttgw | tr ' ' ',')")
			pass "apt purge mqttgw: no file named *mqttgw* left, dpkg has no record; kept, as Debian policy has it: ${kept:-nothing}"
		else
			fail "apt purge mqttgw left: status '$st', files: $(echo "$left" | tr '\n' ' ')"
		fi
	else
		fail "apt purge mqttgw" "$T/purge.log"
	fi
}

run_daemon() {
	SIM=$1 PORT=$2
	# a broker from this release, on the host's loopback
	cat >"$T/mosquitto.conf" <<-EOF
		listener $PORT 127.0.0.1
		allow_anonymous true
		persistence false
		max_queued_messages 0
	EOF
	mosquitto -c "$T/mosquitto.conf" >"$T/mosquitto.log" 2>&1 &
	PIDS="$PIDS $!"
	if ! wait_for "$T/mosquitto.log" "Opening ipv4 listen socket|running" 60; then
		fail "mosquitto on 127.0.0.1:$PORT did not start" "$T/mosquitto.log"
		return 0
	fi

	# the motor on a pty, group dialout as a USB adapter's node would be
	"$SIM/prog_motorsim" --link "$T/ttyMOT01" --delay-ms 5 >"$T/sim.out" 2>"$T/sim.log" &
	PIDS="$PIDS $!"
	if ! wait_for "$T/sim.out" "^ready" 60; then
		fail "motor simulator did not start" "$T/sim.log"
		return 0
	fi
	pts=$(readlink -f "$T/ttyMOT01")
	chgrp dialout "$pts" && chmod 0660 "$pts"

	sed -e "s|tcp://127.0.0.1:1883|tcp://127.0.0.1:$PORT|" -e "s|/tmp/mqttgw-demo/ttyMOT01|$T/ttyMOT01|" \
		/usr/share/doc/mqttgw/examples/demo.cfg >"$T/mqttgw.cfg"
	mkdir -p "$T/gpio"
	chown mqttgw "$T/gpio"

	# the daemon, as the unit runs it: user mqttgw with its supplementary
	# groups (setpriv execs, so $! is the daemon itself)
	setpriv --reuid=mqttgw --regid=mqttgw --init-groups -- env \
		LD_PRELOAD="$SIM/lib_gpiosim.so" \
		MQTTGW_GPIOSIM="gpiochip0:pinctrl-bcm2835:54:GPIO17=17,GPIO27=27" \
		MQTTGW_GPIOSIM_SOCKET="$T/gpio/sock" \
		mqttgw -f -c "$T/mqttgw.cfg" >"$T/gw.log" 2>&1 &
	GW=$!
	PIDS="$PIDS $GW"
	if ! wait_for "$T/gw.log" "connected to" 90; then
		fail "mqttgw as user mqttgw did not connect to the broker" "$T/gw.log"
		return 0
	fi
	uid=$(awk '/^Uid:/ { print $2 "," $3 }' "/proc/$GW/status")
	gids=$(awk '/^Groups:/ { $1 = ""; print }' "/proc/$GW/status")
	want=$(id -u mqttgw)
	names=""
	for g in $gids; do names="$names $(getent group "$g" | cut -d: -f1)"; done
	if [ "$uid" = "$want,$want" ]; then
		pass "mqttgw -f runs as user mqttgw (uid $want, not root), groups:$names"
	else
		fail "mqttgw runs as uid $uid, want $want"
	fi

	mosquitto_sub -h 127.0.0.1 -p "$PORT" -v -t 'S013/#' >"$T/sub.out" 2>&1 &
	PIDS="$PIDS $!"
	wait_for "$T/sub.out" "^S013/gateway/status online" 60 ||
		fail "S013/gateway/status online never arrived" "$T/sub.out"

	mosquitto_pub -h 127.0.0.1 -p "$PORT" -q 1 -t S013/MOT01/RECM -m DRVZ+1000
	if wait_for "$T/sub.out" '^S013/MOT01/POS/Z \+001000$' 60 && grep -q 'DRVZ+1000' "$T/sim.log"; then
		pass "DRVZ+1000 down to the motor on $pts, POSZ+001000 up as 'S013/MOT01/POS/Z +001000'"
	else
		fail "DRVZ+1000 / POSZ+001000 round trip" "$T/sub.out"
		tail -5 "$T/gw.log" "$T/sim.log" | sed 's/^/    | /'
	fi

	ctl="$SIM/prog_gpioctl -t 30000 $T/gpio/sock"
	if $ctl wait gpiochip0 17 used 30000 >/dev/null && $ctl set gpiochip0 17 0 >/dev/null &&
		wait_for "$T/sub.out" '^S013/MOT01/LIMZ 1$' 60; then
		pass "GPIO edge: line 17 pulled low (active low) -> 'S013/MOT01/LIMZ 1'"
	else
		fail "GPIO input edge on line 17 -> S013/MOT01/LIMZ 1" "$T/sub.out"
		tail -5 "$T/gw.log" | sed 's/^/    | /'
	fi
	mosquitto_pub -h 127.0.0.1 -p "$PORT" -q 1 -t S013/MOT01/BRAKE/set -m 1
	if r=$($ctl wait gpiochip0 27 1 60000); then
		pass "GPIO output: 'S013/MOT01/BRAKE/set 1' -> line 27 high ($r)"
	else
		fail "GPIO output S013/MOT01/BRAKE/set 1 -> line 27 ($r)" "$T/gw.log"
	fi

	kill -TERM "$GW"
	wait "$GW"
	rc=$?
	if [ $rc -eq 0 ] && wait_for "$T/sub.out" '^S013/gateway/status offline$' 30; then
		pass "SIGTERM: exit 0, 'S013/gateway/status offline'"
	else
		fail "SIGTERM: exit $rc" "$T/gw.log"
	fi
	cleanup
	PIDS=""
}

check_source() {
	SRC=$1
	cp -r "$SRC" /root/mqttgw
	cd /root/mqttgw || return 0
	if scripts/install-deps.sh --build >"$T/deps.log" 2>&1; then
		pass "scripts/install-deps.sh --build ($(grep -m1 'installing' "$T/deps.log" || echo 'nothing missing'))"
	else
		fail "scripts/install-deps.sh --build" "$T/deps.log"
		return 0
	fi
	if make -j2 >"$T/make.log" 2>&1; then
		pass "make: build/mqttgw --version: $(build/mqttgw --version 2>&1 | tr '\n' ' ')"
	else
		fail "make" "$T/make.log" 30
		return 0
	fi
	if make install >"$T/install.log" 2>&1; then
		if /usr/local/bin/mqttgw --check -c /etc/mqttgw/mqttgw.cfg >"$T/check.log" 2>&1 &&
			id -nG mqttgw | grep -qw dialout && id -nG mqttgw | grep -qw gpio &&
			[ -e /usr/local/lib/systemd/system/mqttgw.service ]; then
			pass "make install: /usr/local/bin/mqttgw --check passes on /etc/mqttgw/mqttgw.cfg, user mqttgw in $(id -nG mqttgw | tr ' ' ','), unit in /usr/local/lib/systemd/system"
		else
			fail "make install: installed files, user or --check" "$T/check.log"
		fi
	else
		fail "make install" "$T/install.log"
	fi
}

case $MODE in
package) check_package "$3" "$4" "$5" ;;
source) check_source "$3" ;;
*) echo "usage: inroot.sh package RELEASE DEB SIMDIR PORT | source RELEASE SRCDIR" >&2; exit 2 ;;
esac
exit 0
