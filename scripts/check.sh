#!/bin/bash
# check.sh - everything `make check` runs, in phases, and one total at the end.
#
#   plain     unit + integration tests against the normal build (build/),
#             the dashboard's browser tests (test_dashboard) among them
#   mqtt5     the end-to-end suites (bridge, reliability, serial world, first hour,
#             hostile input, GPIO, safety) again with every gateway on MQTT 5
#             (MQTTGW_PROTOCOL=5: configs that name no protocol get 5)
#   gpiod2    the GPIO tests (unit and integration, and the demo) again
#             against libgpiod 2: build-gpiod2/ is built with the 2.x backend
#             and the 2.x GPIO stand-in, from bookworm-backports' libgpiod
#             unpacked into build-gpiod2/prefix by install-deps.sh (or the
#             system's libgpiod when that is 2.x already)
#   san       the same suite built and run with ASan + UBSan (build-san/)
#   valgrind  the integration tests of the bridge, the config and serial
#             ports with every daemon under valgrind: zero errors, zero
#             definite leaks
#   fuzz      every libFuzzer target for FUZZ_SECONDS (default 30) from its
#             corpus, regression inputs included
#   soak      the soak (tests/soak/soak.py) for SOAK_CHECK_MINUTES (default 3):
#             the real daemon under traffic, reloads, a broker restart and
#             two unplugs; each of its checks counts as one case; about 3 min
#             (`make soak` is the 30-minute run, RELIABILITY.md)
#
# CHECK_PHASES picks phases ("plain mqtt5 gpiod2 san valgrind fuzz soak" by default; `make
# check SAN=1` runs "san"). Each test case counts once per phase it runs in,
# each fuzz target as one case; the last line is the total:
# "N passed, N failed". Exit status 1 if anything failed.
set -uo pipefail

cd "$(dirname "$0")/.."
PHASES=${CHECK_PHASES:-plain mqtt5 gpiod2 san valgrind fuzz soak}
MQTT5_TESTS=${MQTT5_TESTS:-test_bridge. test_mqtt_reliability. test_mqtt_connection. test_serial_world. test_serial_failsafe. test_hostile_input. test_hostile_flood. test_hostile_privilege. test_gpio. test_firsthour. test_safety. test_sensors_values. test_sensors_poll.}
PY=/usr/bin/python3
# Under valgrind's 20x slowdown the 10,000-frame reliability and flood
# tests would take most of the time budget, and test_gpio's 5 s pin waits
# fail now and then; they run under ASan instead.
VALGRIND_TESTS=${VALGRIND_TESTS:-test_bridge. test_config. test_serial_world. test_serial_failsafe.}
# Every test that drives GPIO: the unit tests of the driver's pure half,
# the end-to-end GPIO suite and the demo (a GPIO edge and a pulse).
GPIOD2_TESTS=${GPIOD2_TESTS:-test_gpio. test_demo.}
TOTAL_PASS=0
TOTAL_FAIL=0
TOTAL_SKIP=0
SUMMARY=""

# count PHASE LOGFILE: add the "N passed, N failed" line of a run.
count() {
	local line p f k
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$2" | tail -1)
	if [ -z "$line" ]; then
		echo "check: phase $1 printed no result line: counted as one failure"
		line="no result line (counted as 1 failed)"
		p=0
		f=1
		k=0
	else
		p=${line%% passed*}
		f=${line#*passed, }
		f=${f%% failed*}
		k=0
		case $line in *skipped*) k=${line#*failed, }; k=${k%% skipped*} ;; esac
	fi
	TOTAL_PASS=$((TOTAL_PASS + p))
	TOTAL_FAIL=$((TOTAL_FAIL + f))
	TOTAL_SKIP=$((TOTAL_SKIP + k))
	SUMMARY="$SUMMARY  $1: $line ($(($(date +%s) - PHASE_START)) s)\n"
}

CHECK_START=$(date +%s)
LOGDIR=$(mktemp -d /tmp/mqttgw-check.XXXXXX)
trap 'rm -rf "$LOGDIR"' EXIT

# The dashboard page (build/web) for test_dashboard: npm ci from the lockfile, esbuild.
case " $PHASES " in *" plain "* | *" san "*)
	make --no-print-directory -s web || { echo "check: make web failed"; exit 1; } ;;
esac

for phase in $PHASES; do
	echo "== phase $phase"
	PHASE_START=$(date +%s)
	case $phase in
	plain)
		make --no-print-directory -s tests >/dev/null || { echo "check: build failed"; exit 1; }
		# the bench programs link the daemon's core: an API change must not leave them unbuilt
		make --no-print-directory -s bench-progs >/dev/null || { echo "check: bench programs build failed"; exit 1; }
		MQTTGW_BUILD=build $PY tests/run.py 2>&1 | tee "$LOGDIR/$phase"
		;;
	mqtt5)
		make --no-print-directory -s tests >/dev/null || { echo "check: build failed"; exit 1; }
		# shellcheck disable=SC2086
		MQTTGW_BUILD=build MQTTGW_PROTOCOL=5 $PY tests/run.py --integration $MQTT5_TESTS 2>&1 |
			tee "$LOGDIR/$phase"
		;;
	san)
		make --no-print-directory -s SAN=1 tests >/dev/null || { echo "check: SAN build failed"; exit 1; }
		MQTTGW_BUILD=build-san SAN=1 $PY tests/run.py 2>&1 | tee "$LOGDIR/$phase"
		;;
	gpiod2)
		gpiod2_make="B=build-gpiod2"
		sysmajor=$(pkg-config --modversion libgpiod 2>/dev/null | cut -d. -f1)
		if [ "${sysmajor:-0}" -lt 2 ] 2>/dev/null; then
			[ -f build-gpiod2/prefix/usr/include/gpiod.h ] ||
				{ echo "check: no libgpiod 2 in build-gpiod2/prefix (scripts/install-deps.sh gets it)"; exit 1; }
			gpiod2_make="$gpiod2_make GPIOD_PREFIX=build-gpiod2/prefix"
		fi
		# shellcheck disable=SC2086
		make --no-print-directory -s $gpiod2_make tests >/dev/null || { echo "check: gpiod2 build failed"; exit 1; }
		build-gpiod2/mqttgw --version | grep -q "(libgpiod 2\." ||
			{ echo "check: build-gpiod2/mqttgw is not on libgpiod 2: $(build-gpiod2/mqttgw --version)"; exit 1; }
		# shellcheck disable=SC2086
		MQTTGW_BUILD=build-gpiod2 $PY tests/run.py $GPIOD2_TESTS 2>&1 | tee "$LOGDIR/$phase"
		;;
	valgrind)
		make --no-print-directory -s tests >/dev/null || { echo "check: build failed"; exit 1; }
		# shellcheck disable=SC2086
		MQTTGW_BUILD=build MQTTGW_VALGRIND=1 $PY tests/run.py --integration $VALGRIND_TESTS 2>&1 |
			tee "$LOGDIR/$phase"
		;;
	fuzz)
		make --no-print-directory -s fuzz-build >"$LOGDIR/fuzz-build" 2>&1 ||
			{ tail -30 "$LOGDIR/fuzz-build"; echo "check: fuzz build failed"; exit 1; }
		make --no-print-directory -s fuzz FUZZ_SECONDS="${FUZZ_SECONDS:-30}" 2>&1 | tee "$LOGDIR/fuzz.raw"
		# one case per target: "== fuzz_X" followed by stats (ok) or FAILED
		awk '/^== fuzz_/ { if (t) n++; t = $2 } /FAILED \(log/ { f++ } END { if (t) n++; printf "%d passed, %d failed\n", n - f, f }' \
			"$LOGDIR/fuzz.raw" | tee "$LOGDIR/$phase"
		;;
	soak)
		make --no-print-directory -s tests >/dev/null || { echo "check: build failed"; exit 1; }
		MQTTGW_BUILD=build $PY tests/soak/soak.py --minutes "${SOAK_CHECK_MINUTES:-3}" 2>&1 |
			tee "$LOGDIR/$phase"
		;;
	*)
		echo "check: unknown phase $phase"
		exit 2
		;;
	esac
	count "$phase" "$LOGDIR/$phase"
done

printf '\n== summary (%d s in all; the time of each phase after it)\n%b' "$(($(date +%s) - CHECK_START))" "$SUMMARY"
if [ "$TOTAL_SKIP" -gt 0 ]; then
	echo "$TOTAL_PASS passed, $TOTAL_FAIL failed, $TOTAL_SKIP skipped"
else
	echo "$TOTAL_PASS passed, $TOTAL_FAIL failed"
fi
[ "$TOTAL_FAIL" -eq 0 ]
