# SPDX-License-Identifier: ISC
#
# profile.sh: sourced by bench/run --profile once its servers are up.
# perf record (sampling, no call graphs) of the processes that do the
# work, while one workload runs, then the top symbols and the split by
# process and library: the data path (relayd's workers), the end-to-end
# tunnel (both relay-clients and relayd) and session setup (relayd for
# raw pairing; relay-client forward and expose for forward).
#
# libcrypto has no symbols here (no debug package): its samples show as
# addresses and are summed under its DSO line.

PSECS=5
[ "$QUICK" = 1 ] && PSECS=2

# profile NAME PIDS WORKLOAD...: perf on PIDS while WORKLOAD runs
profile() {
	name=$1; pids=$2
	shift 2
	command -v perf >/dev/null || { say "(perf is not installed: no profiles)"; return; }
	perf record -q -F 1999 -o "$T/$name.perf" -p "$pids" >/dev/null 2>&1 &
	pp=$!
	sleep 0.5
	"$@" >"$T/$name.out" 2>&1
	kill -INT "$pp" 2>/dev/null
	wait "$pp" 2>/dev/null
	say ""
	say "### $name"
	say ""
	say "workload: $(echo "$*" | sed "s|$TOOLS/||g; s|$BUILD/||g; s|$T|\$T|g")"
	say "result: $(tail -n 1 "$T/$name.out")"
	say ""
	say '```'
	say "by process and library:"
	perf report -i "$T/$name.perf" --stdio --no-children --sort comm,dso \
	    --percent-limit 2 2>/dev/null | grep '%' | head -n 12
	say ""
	say "top symbols:"
	perf report -i "$T/$name.perf" --stdio --no-children --sort comm,sym \
	    --percent-limit 1 2>/dev/null | grep '%' | head -n 25
	say '```'
}

say ""
say "## Profiles (perf record -F 1999, $(date -u '+%Y-%m-%d %H:%M UTC'))"
RTREE=$(tree_pids "$RELAYD_PID")
profile "data path: relayd, 1 session" "$RTREE" \
    "$FWD" -c "$RELAYD_PID" -m $((MIB * 2)) relay "$PORT" "$RELAY_ID"
profile "data path: relayd, 8 sessions" "$RTREE" \
    "$FWD" -c "$RELAYD_PID" -n 8 -m $((MIB * 2)) relay "$PORT" "$RELAY_ID"
profile "tunnel: relay-client forward, expose and relayd" \
    "$FW_BULK,$EXP_BULK,$RTREE" "$FWD" -c "$FW_BULK,$EXP_BULK,$RELAYD_PID" -m "$TMIB" via "$FWD_BULK" "$SINK"
profile "session setup: relayd, raw pairing, 16 requesters" "$RTREE" \
    "$SETUP" -c "$RELAYD_PID" -n 16 -t $PSECS relay "$PORT" "$RELAY_ID"
profile "session setup: relay-client forward and expose, 16 requesters" \
    "$FW_SETUP,$EXP_SETUP" \
    "$SETUP" -C "$FW_SETUP,$EXP_SETUP" -n 16 -t $PSECS tcp "$FWD_SETUP"
say ""
say "### libcommon's crypto per call (crypto_bench), against openssl speed"
say ""
say '```'
"$TOOLS/bench/crypto_bench"
openssl speed -seconds 1 ed25519 ecdhx25519 2>/dev/null | grep -E "X25519|Ed25519"
say '```'
