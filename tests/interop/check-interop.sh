#!/bin/bash
# check-interop.sh - the interoperability round (make check-interop), issue 18:
# mqttgw against the brokers people run, beyond the system's mosquitto 2.0.11
# that make check uses. Slow (see README: "Interoperability round"), so it is
# its own target, run before releases, not part of make check.
#
#   mosq2021    mosquitto 2.0.21 (bookworm-backports, as on trixie), unpacked
#               into build/mosquitto-2.0.21 by fetch-mosquitto.sh (the system's
#               2.0.11 stays): the bridge, reliability and interop suites, and
#               the interop suite again on MQTT 5
#   rabbitmq    a two-node RabbitMQ cluster (Debian's rabbitmq-server, MQTT
#               plugin) on loopback: tests/interop/test_rabbitmq.py
#
# INTEROP_PHASES picks phases ("mosq2021 rabbitmq" by default). Last line:
# "N passed, N failed" over all phases; exit 1 if anything failed.
set -uo pipefail

cd "$(dirname "$0")/../.."
PHASES=${INTEROP_PHASES:-mosq2021 rabbitmq}
B=${MQTTGW_BUILD:-build}
PY=/usr/bin/python3
MOSQ_TESTS=${MOSQ_TESTS:-test_bridge. test_mqtt_reliability. test_mqtt_connection. test_interop_pub.}
TOTAL_PASS=0
TOTAL_FAIL=0
SUMMARY=""
LOGDIR=$(mktemp -d /tmp/mqttgw-interop.XXXXXX)
trap 'rm -rf "$LOGDIR"' EXIT

# count NAME LOG SECONDS: add a run's "N passed, N failed" line.
count() {
	local line p f
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$2" | tail -1)
	if [ -z "$line" ]; then
		line="no result line (counted as 1 failed)"
		p=0
		f=1
	else
		p=${line%% passed*}
		f=${line#*passed, }
		f=${f%% failed*}
	fi
	TOTAL_PASS=$((TOTAL_PASS + p))
	TOTAL_FAIL=$((TOTAL_FAIL + f))
	SUMMARY="$SUMMARY  $1: $line ($3 s)\n"
}

# run NAME CMD...: run a test command, its output shown and kept for count.
run() {
	local name=$1 t0=$SECONDS
	shift
	echo "== $name"
	"$@" 2>&1 | tee "$LOGDIR/$name.log"
	count "$name" "$LOGDIR/$name.log" $((SECONDS - t0))
}

for phase in $PHASES; do
	case $phase in
	mosq2021)
		if ! tests/interop/fetch-mosquitto.sh build/mosquitto-2.0.21; then
			TOTAL_FAIL=$((TOTAL_FAIL + 1))
			SUMMARY="$SUMMARY  mosq2021: mosquitto 2.0.21 not available (counted as 1 failed)\n"
			continue
		fi
		# shellcheck disable=SC2086
		run mosq2021 env MQTTGW_BUILD="$B" MQTTGW_MOSQUITTO="$PWD/build/mosquitto-2.0.21/mosquitto" \
			$PY tests/run.py --integration $MOSQ_TESTS
		run mosq2021-mqtt5 env MQTTGW_BUILD="$B" MQTTGW_PROTOCOL=5 \
			MQTTGW_MOSQUITTO="$PWD/build/mosquitto-2.0.21/mosquitto" $PY tests/run.py --integration test_interop_pub.
		;;
	rabbitmq)
		if [ ! -x /usr/lib/rabbitmq/bin/rabbitmq-server ]; then
			TOTAL_FAIL=$((TOTAL_FAIL + 1))
			SUMMARY="$SUMMARY  rabbitmq: rabbitmq-server not installed (apt-get install rabbitmq-server; counted as 1 failed)\n"
			continue
		fi
		run rabbitmq env MQTTGW_BUILD="$B" $PY tests/interop/run.py -v
		;;
	*)
		echo "check-interop: unknown phase $phase" >&2
		exit 2
		;;
	esac
done

echo "== summary"
printf "%b" "$SUMMARY"
echo "$TOTAL_PASS passed, $TOTAL_FAIL failed"
[ "$TOTAL_FAIL" -eq 0 ]
