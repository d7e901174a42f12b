#!/bin/bash
# demo.sh - the whole round trip in under a minute, on this machine alone.
#
# Starts a private mosquitto on a free 127.0.0.1 port, the motor controller
# simulator on a pseudo-terminal and mqttgw with config/demo.cfg (a copy
# pointed at that broker and pty), then plays a user: publishes commands
# with mosquitto_pub and shows what comes back with mosquitto_sub -v.
# Everything it started is stopped on exit, whatever happens.
#
#   make demo                 (builds first)
#   MQTTGW_BUILD=build scripts/demo.sh
set -euo pipefail

cd "$(dirname "$0")/.."
B=${MQTTGW_BUILD:-build}
GW=$B/mqttgw
SIM=$B/sim/prog_motorsim
for f in "$GW" "$SIM"; do
	[ -x "$f" ] || { echo "demo: $f is missing; run 'make demo' (it builds first)" >&2; exit 1; }
done

TMP=$(mktemp -d /tmp/mqttgw-demo.XXXXXX)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

# wait_for FILE REGEX SECONDS: poll a log file with a deadline
wait_for() {
	local end=$((SECONDS + $3))
	while ! grep -qE "$2" "$1" 2>/dev/null; do
		if [ $SECONDS -ge $end ]; then
			echo "demo: timed out waiting for /$2/ in $1" >&2
			return 1
		fi
		sleep 0.05
	done
}

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

say "1. a private broker on 127.0.0.1:$PORT"
cat >"$TMP/mosquitto.conf" <<EOF
listener $PORT 127.0.0.1
allow_anonymous true
persistence false
user $(id -un)
EOF
mosquitto -c "$TMP/mosquitto.conf" >"$TMP/mosquitto.log" 2>&1 &
PIDS+=($!)
wait_for "$TMP/mosquitto.log" "running|Opening ipv4 listen socket" 10

say "2. the motor controller simulator on a pty ($TMP/ttyMOT01)"
"$SIM" --link "$TMP/ttyMOT01" --delay-ms 5 >"$TMP/sim.out" 2>"$TMP/sim.log" &
PIDS+=($!)
wait_for "$TMP/sim.out" "^ready" 10

say "3. mqttgw with config/demo.cfg"
sed -e "s|tcp://127.0.0.1:1883|tcp://127.0.0.1:$PORT|" -e "s|/tmp/mqttgw-demo/ttyMOT01|$TMP/ttyMOT01|" \
	config/demo.cfg >"$TMP/demo.cfg"
run "$GW" --check -c "$TMP/demo.cfg"
"$GW" -f -c "$TMP/demo.cfg" --allow-root 2>"$TMP/mqttgw.log" &
GWPID=$!
PIDS+=($GWPID)
wait_for "$TMP/mqttgw.log" "connected to" 15
sed 's/^/  log| /' "$TMP/mqttgw.log"

say "4. watching every topic of the station"
echo "\$ mosquitto_sub -v -t 'S013/#'"
mosquitto_sub -h 127.0.0.1 -p "$PORT" -v -t 'S013/#' >"$TMP/sub.out" 2>&1 &
PIDS+=($!)
wait_for "$TMP/sub.out" "S013/gateway/status online" 10
show_new() { # print subscriber lines not shown yet
	local n
	n=$(wc -l <"$TMP/sub.out")
	sed -n "$((SHOWN + 1)),${n}p" "$TMP/sub.out" | sed 's/^/  sub> /'
	SHOWN=$n
}
SHOWN=0
show_new

pub() { run mosquitto_pub -h 127.0.0.1 -p "$PORT" -q 1 -t "$1" -m "$2"; }

say "5. move axis Z by +1000 steps"
pub S013/MOT01/RECM DRVZ+1000
wait_for "$TMP/sub.out" "S013/MOT01/POS/Z \+001000" 10
show_new

say "6. move X back, then ask for the status of every axis"
pub S013/MOT01/RECM DRVX-250
wait_for "$TMP/sub.out" "S013/MOT01/POS/X -000250" 10
pub S013/MOT01/RECM STAT
wait_for "$TMP/sub.out" "S013/MOT01/POS/Y" 10
show_new

say "7. STOP: the controller's answer is not a position, so it takes the catch-all route"
pub S013/MOT01/RECM STOP
wait_for "$TMP/sub.out" "S013/MOT01/SEND OK STOP" 10
show_new

say "8. a command the route does not accept is refused, never written to the port"
pub S013/MOT01/RECM 'RM -RF /'
wait_for "$TMP/mqttgw.log" "refused" 10
grep refused "$TMP/mqttgw.log" | sed 's/^/  log| /'

say "9. the retained position, as a dashboard that connects now sees it"
run mosquitto_sub -h 127.0.0.1 -p "$PORT" -v -C 1 -W 5 -t S013/MOT01/POS/Z

say "10. stop mqttgw: it publishes \"offline\" on its status topic"
kill -TERM "$GWPID"
wait "$GWPID" || true
wait_for "$TMP/sub.out" "S013/gateway/status offline" 10
show_new

say "done: broker, simulator and gateway stopped"
