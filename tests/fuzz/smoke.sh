#!/bin/sh
# SPDX-License-Identifier: ISC
#
# smoke.sh: make fuzz-smoke. Runs each libFuzzer target for FUZZ_TIME
# seconds (default 15), starting from its committed seed corpus
# (tests/fuzz/corpus/NAME, regression inputs included: they run first),
# with ASan and UBSan. Any crash, leak, timeout or broken invariant fails
# the run; its input is kept as BUILDDIR/crash-NAME-* for a reproducer
# (./tests/fuzz/fuzz_NAME crash-NAME-...). Prints per target the execs,
# execs per second, coverage (cov) and features (ft).
#
# usage: smoke.sh BUILDDIR/tests/fuzz SRCDIR/tests/fuzz NAME ...
set -u

bin=$1
src=$2
shift 2
time=${FUZZ_TIME:-15}
work=$(mktemp -d "${TMPDIR:-/tmp}/fzrl-smoke.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT INT TERM

if [ -z "${ASAN_SYMBOLIZER_PATH:-}" ]; then
	for s in /usr/lib/llvm-14/bin/llvm-symbolizer \
	    "$(command -v llvm-symbolizer 2>/dev/null)"; do
		if [ -n "$s" ] && [ -x "$s" ]; then
			ASAN_SYMBOLIZER_PATH=$s
			export ASAN_SYMBOLIZER_PATH
			break
		fi
	done
fi
UBSAN_OPTIONS=print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}
export UBSAN_OPTIONS

failed=""
ntargets=$#
start=$(date +%s)
for name in "$@"; do
	prog="$bin/fuzz_$name"
	seeds="$src/corpus/$name"
	mkdir -p "$work/$name"
	set -- -max_total_time="$time" -timeout=10 -rss_limit_mb=2048 \
	    -print_final_stats=1 -artifact_prefix="$bin/crash-$name-"
	[ -f "$src/$name.dict" ] && set -- "$@" -dict="$src/$name.dict"
	[ -f "$src/$name.options" ] && set -- "$@" $(cat "$src/$name.options")
	[ -d "$seeds" ] || seeds=""
	"$prog" "$@" "$work/$name" $seeds >"$work/$name.log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$name.log")
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/$name.log")
	last=$(grep -E '^#[0-9]+' "$work/$name.log" | tail -1)
	cov=$(echo "$last" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
	ft=$(echo "$last" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
	corp=$(echo "$last" | sed -n 's/.* corp: \([0-9]*\).*/\1/p')
	if [ "$rc" -ne 0 ]; then
		echo "==== fuzz_$name failed (exit $rc):"
		tail -80 "$work/$name.log"
		failed="$failed $name"
		status=FAIL
	else
		status=ok
	fi
	printf 'fuzz %-14s %10s execs %8s/s  cov %6s  ft %6s  corpus %5s  %s\n' \
	    "$name" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" \
	    "${corp:-?}" "$status"
done
echo "fuzz-smoke: $ntargets targets, ${time}s each, $(($(date +%s) - start))s in all"
if [ -n "$failed" ]; then
	echo "fuzz-smoke: FAILED:$failed" >&2
	exit 1
fi
