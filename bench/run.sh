#!/bin/sh
# SPDX-License-Identifier: ISC
#
# bench/run.sh: throughput figures for relayd, each against peers measured
# in the same run on the same machine, reported as ratios (the machine is
# shared and noisy: absolute figures mean little). Run from a build
# directory after make: top_builddir=. top_srcdir=SRC sh SRC/bench/run.sh
# Optional peers are used when installed: socat (apt-get install socat).
#   BENCH_MIB   MiB per transfer (default 1024)
#   BENCH_RUNS  runs per figure, the best is kept (default 3)
set -u
: "${top_builddir:=$(pwd)}"
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
. "$top_srcdir/tests/e2e/lib.sh"
MIB=${BENCH_MIB:-1024}
RUNS=${BENCH_RUNS:-3}
FWD_BENCH="$top_builddir/bench/fwd_bench"

best() {	# best MB/s of RUNS runs of a command
	b=0
	for i in $(seq "$RUNS"); do
		v=$("$@" | sed -n 's/.*: \([0-9.]*\) MB\/s$/\1/p')
		b=$(echo "$v $b" | awk '{print ($1 > $2) ? $1 : $2}')
	done
	echo "$b"
}

relay_start </dev/null || exit 1
direct=$(best "$FWD_BENCH" direct "$MIB")
relay=$(best "$FWD_BENCH" relay "$PORT" "$RELAY_ID" "$MIB")
echo "data path, $MIB MiB, best of $RUNS:"
echo "  direct loopback TCP   $direct MB/s"
echo "  through relayd        $relay MB/s   ratio $(echo "$relay $direct" | awk '{printf "%.2f", $1 / $2}') of direct"
if command -v socat >/dev/null; then
	sp=$(free_port)
	kp=$(free_port)
	socat TCP-LISTEN:"$sp",bind=127.0.0.1,reuseaddr,fork TCP:127.0.0.1:"$kp" &
	SOCAT_PID=$!
	sleep 0.3
	socat_v=$(best "$FWD_BENCH" via "$sp" "$kp" "$MIB")
	kill "$SOCAT_PID"
	echo "  through socat         $socat_v MB/s   ratio $(echo "$relay $socat_v" | awk '{printf "%.2f", $1 / $2}') relayd/socat"
else
	echo "  (socat not installed: apt-get install socat for that peer)"
fi
relay_stop
