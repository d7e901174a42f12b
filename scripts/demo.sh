#!/bin/bash
# demo.sh - the whole round trip in under a minute, on this machine alone.
#
# Starts a private mosquitto on a free 127.0.0.1 port, the motor controller
# simulator and a temperature/humidity sensor simulator on pseudo-terminals
# and mqttgw with config/demo.cfg (a copy pointed at that broker and those
# ptys), then plays a user: publishes commands
# with mosquitto_pub and shows what comes back with mosquitto_sub -v.
# Everything it started is stopped on exit, whatever happens.
#
#   make demo                 (builds first)
#   MQTTGW_BUILD=build scripts/demo.sh
set -euo pipefail

cd "$(dirname "$0")/.."
B=${MQTTGW_BUILD:-build}
case $B in /*) ;; *) B=$PWD/$B ;; esac
GW=$B/mqttgw
SIM=$B/sim/prog_motorsim
SENSOR=$B/sim/prog_sensorsim
GPIOSIM=$B/sim/lib_gpiosim.so
GPIOCTL=$B/sim/prog_gpioctl
for f in "$GW" "$SIM" "$SENSOR" "$GPIOSIM" "$GPIOCTL"; do
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

if [ -t 1 ]; then
	say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
else
	say() { printf '\n== %s\n' "$*"; }
fi
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

# wait_count FILE REGEX N SECONDS: until N lines match
wait_count() {
	local end=$((SECONDS + $4))
	while [ "$(grep -cE "$2" "$1" 2>/dev/null)" -lt "$3" ]; do
		if [ $SECONDS -ge $end ]; then
			echo "demo: timed out waiting for $3 lines /$2/ in $1" >&2
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

say "2. two simulated devices on ptys: a motor controller ($TMP/ttyMOT01) and a sensor that answers READ only when asked ($TMP/ttyTH01)"
"$SIM" --link "$TMP/ttyMOT01" --delay-ms 5 >"$TMP/sim.out" 2>"$TMP/sim.log" &
PIDS+=($!)
wait_for "$TMP/sim.out" "^ready" 10
"$SENSOR" --link "$TMP/ttyTH01" --vary >"$TMP/sensor.out" 2>"$TMP/sensor.log" &
PIDS+=($!)
wait_for "$TMP/sensor.out" "^ready" 10

say "3. mqttgw with config/demo.cfg (GPIO on the libgpiod stand-in: a Pi 4's gpiochip0)"
sed -e "s|tcp://127.0.0.1:1883|tcp://127.0.0.1:$PORT|" -e "s|/tmp/mqttgw-demo/ttyMOT01|$TMP/ttyMOT01|" \
	-e "s|/tmp/mqttgw-demo/ttyTH01|$TMP/ttyTH01|" config/demo.cfg >"$TMP/demo.cfg"
run "${GW#"$PWD"/}" --check -c "$TMP/demo.cfg"
export MQTTGW_GPIOSIM="gpiochip0:pinctrl-bcm2835:54:GPIO17=17,GPIO27=27"
export MQTTGW_GPIOSIM_SOCKET="$TMP/gpio.sock"
export MQTTGW_GPIOSIM_TRACE="$TMP/gpio.trace"
gpio() { "$GPIOCTL" -t 5000 "$MQTTGW_GPIOSIM_SOCKET" "$@"; }
LD_PRELOAD="$GPIOSIM" "$GW" -f -c "$TMP/demo.cfg" --allow-root 2>"$TMP/mqttgw.log" &
GWPID=$!
PIDS+=("$GWPID")
wait_for "$TMP/mqttgw.log" "connected to" 15 || { sed 's/^/  log| /' "$TMP/mqttgw.log" >&2; exit 1; }
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
wait_for "$TMP/sub.out" "S013/MOT01/RECM RM -RF /" 10
show_new
grep refused "$TMP/mqttgw.log" | sed 's/^/  log| /'
echo "  what the controller received, all of it:"
grep "^motorsim: rx " "$TMP/sim.log" | sed 's/^/  port| /'

say "9. the retained position, as a dashboard that connects now sees it"
run mosquitto_sub -h 127.0.0.1 -p "$PORT" -v -C 1 -W 5 -t S013/MOT01/POS/Z

say "10. the limit switch (GPIO17, active low): pressed with contact bounce, then released"
echo "\$ gpioctl bounce gpiochip0 17 0 6 2000    # 6 bounces 2 ms apart, ending pressed"
gpio bounce gpiochip0 17 0 6 2000 >/dev/null
wait_for "$TMP/sub.out" "S013/MOT01/LIMZ 1" 10
N0=$(grep -c "S013/MOT01/LIMZ 0" "$TMP/sub.out" || true)
gpio set gpiochip0 17 1 >/dev/null
wait_count "$TMP/sub.out" "S013/MOT01/LIMZ 0" $((N0 + 1)) 10
show_new
echo "  (one message per stable change: the bounces publish nothing)"

say "11. the brake output (GPIO27): on, toggle, a 300 ms pulse"
pub S013/MOT01/BRAKE/set on
wait_for "$TMP/sub.out" "S013/MOT01/BRAKE 1" 10
echo "  pin: $(gpio get gpiochip0 27)"
pub S013/MOT01/BRAKE/set toggle
pub S013/MOT01/BRAKE/set 'pulse 300'
wait_count "$TMP/sub.out" "^S013/MOT01/BRAKE [01]" 5 10
show_new
echo "  pin after the pulse: $(gpio get gpiochip0 27)"

say "12. the sensor: mqttgw asks it every 2 s (poll), the answers are published as JSON"
N0=$(grep -c "^S013/TH01/state " "$TMP/sub.out" || true)
wait_count "$TMP/sub.out" "^S013/TH01/state " $((N0 + 2)) 10
show_new
echo "  what the sensor received and answered, the last four lines:"
grep -E "^sensorsim: [0-9]+ (rx|tx) " "$TMP/sensor.log" | tail -4 | sed -E 's/^sensorsim: ([0-9]+) /sensorsim: /; s/^/  port| /'

say "13. stop mqttgw: it publishes \"offline\" on its status topic, the motor gets STOP, the brake its fail-safe"
kill -TERM "$GWPID"
GWRC=0
wait "$GWPID" || GWRC=$?
echo "  mqttgw exit status: $GWRC"
wait_for "$TMP/sub.out" "S013/gateway/status offline" 10
show_new
wait_count "$TMP/sim.log" "^motorsim: rx 'STOP'" 2 10
grep "^motorsim: rx " "$TMP/sim.log" | tail -1 | sed 's/^/  port| /'
grep -a "27 value" "$TMP/gpio.trace" | tail -1 | sed 's/^/  gpio trace| /' || true

say "done: broker, simulators and gateway stopped"
