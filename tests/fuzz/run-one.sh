#!/bin/sh
# run-one.sh - run one libFuzzer target for FUZZ_SECONDS on a copy of its
# seed corpus (`make fuzz` runs FUZZ_JOBS of these at once: libFuzzer is one
# busy core per target, so two cores fuzz twice as much in the same wall
# time). Writes its one-line result to build-fuzz/fuzz_TARGET.result, the
# whole run to build-fuzz/fuzz_TARGET.log; exit 1 if the target failed.
#
#   tests/fuzz/run-one.sh TARGET   (FB, FUZZ_SECONDS, FUZZ_ARGS from make)
set -u
t=$1
FB=${FB:-build-fuzz}
res=$FB/fuzz_$t.result
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cp -r "tests/fuzz/corpus/$t/." "$dir/" 2>/dev/null || true
dict=""
[ -f "tests/fuzz/$t.dict" ] && dict="-dict=tests/fuzz/$t.dict"
echo "== fuzz_$t: $FUZZ_SECONDS s" >"$res"
# shellcheck disable=SC2086
if LSAN_OPTIONS=suppressions=tests/fuzz/lsan.supp:print_suppressions=0 \
	"./$FB/fuzz_$t" "$dir" -max_total_time="$FUZZ_SECONDS" -timeout=10 $dict \
	-artifact_prefix="$FB/artifacts/$t-" -print_final_stats=1 ${FUZZ_ARGS:-} \
	>"$FB/fuzz_$t.log" 2>&1; then
	{
		grep -E '^(stat::number_of_executed_units|stat::average_exec_per_sec|Done)' "$FB/fuzz_$t.log" | tr '\n' ' '
		grep -Eo 'cov: [0-9]+ ft: [0-9]+' "$FB/fuzz_$t.log" | tail -1
	} >>"$res"
	exit 0
fi
{
	echo "FAILED (log: $FB/fuzz_$t.log)"
	grep -E '^(==[0-9]+==ERROR|SUMMARY|.*property broken|.*differs|artifact_prefix|Test unit written)' \
		"$FB/fuzz_$t.log" | head -5
} >>"$res"
exit 1
