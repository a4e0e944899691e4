#!/bin/sh
# SPDX-License-Identifier: ISC
# respawn.sh: a worker killed with SIGKILL is restarted in place (issue
# 9, bug 7). Sessions are spread over two conn and two fwd workers
# (tests/e2e/hostile streams: each session's fwd worker is its token's
# first byte mod 2, checked against relay-ctl show sessions), streaming
# a checked pattern both ways. Then:
#  - kill -9 of fwd 0: its sessions end, those on fwd 1 go on; the
#    parent restarts fwd 0 (new PID and a respawn counter in show
#    summary) and new sessions work on both fwd workers within seconds;
#  - kill -9 of the conn worker that holds a relay-client expose's
#    control connection: the expose registers again by itself, the
#    leases of clients on the other conn worker are untouched, every
#    paired session goes on, new sessions work;
#  - at the end every session on the surviving fwd worker has all its
#    bytes, intact, both ways;
#  - kill -9 of the lease worker restarts the whole tree under the same
#    parent; the expose registers again and sessions work;
#  - a relayd whose worker dies a sixth time within 60 s gives up and
#    exits with a non-zero status, leaving nothing behind.
# Each wait is a bounded poll; the times from the kill to the new PID
# and to the first new session are printed.
. "$(dirname "$0")/lib.sh"

RC="$top_builddir/relay-client/relay-client"
HELPER="$top_srcdir/tests/e2e/client-helper.py"
H=$HOSTILE

need_hostile
client_home

now_ms() { echo $(($(date +%s%N) / 1000000)); }

CONF="lease ttl 2 max 600
connect rate 100 burst 200
session limit 100 per lease, 1000 total
timeout handshake 5 pairing 10 idle 60 accept 10"

relay_start <<EOT || exit 1
$CONF
EOT
R="127.0.0.1:$PORT"
FIXED_PORT=$PORT

relay_workers >"$T/w0"
echo "# workers: $(tr '\n' ',' <"$T/w0")"
respawns() { ctl_json 'd["summary"]["respawns"]' show summary; }
check "show summary lists two conn and two fwd workers, no respawn yet ($(respawns))" \
    sh -c "[ \$(grep -c '^conn ' '$T/w0') -eq 2 ] && [ \$(grep -c '^fwd ' '$T/w0') -eq 2 ] &&
    [ \$(awk '\$4 != 0' '$T/w0' | wc -l) -eq 0 ] && [ '$(respawns)' = 0 ]"

LEGIT_KEY="$T/user.key"
"$RC" keygen -f "$LEGIT_KEY" >/dev/null 2>&1
"$RC" keygen >/dev/null 2>&1
bg "$PY3" "$HELPER" echo "$T/echo.port"
poll_for 10 test -s "$T/echo.port" || { echo "no echo server" >&2; exit 1; }
bg "$RC" -v expose -r "$R" -K "$RELAY_ID" -t 2 -n echo \
    "127.0.0.1:$(cat "$T/echo.port")" 2>"$T/expose.log"
EXPOSE_PID=$LAST_PID
check "expose registers" poll_for 10 grep -q "lease echo registered" \
    "$T/expose.log"

check "a session before any kill" legit_session

# new_pid ROLE INDEX OLD: the slot has a live PID other than OLD
new_pid() {
	np_p=$(worker_pid "$1" "$2")
	[ -n "$np_p" ] && [ "$np_p" != "$3" ] && [ "$np_p" -gt 0 ] &&
	    kill -0 "$np_p" 2>/dev/null
}

# a few sessions on both fwd workers at once, each on its own slot
short_streams() {
	: >"$T/short.stop"
	"$H" "$PORT" "$RELAY_ID" streams "$1" 2 2 512 "$T/short.stop" 5000 \
	    >"$T/short.out" 2>&1 &&
	    grep -q "^streams sessions=[0-9]* ok=\([0-9]*\) cut=0 corrupt=0 down=0" \
	    "$T/short.out" &&
	    [ "$(val "$T/short.out" sessions)" = "$(val "$T/short.out" ok)" ]
}

# ---- the long sessions: at least 4 on each fwd worker ----
bg "$H" "$PORT" "$RELAY_ID" streams 127.0.70.1 8 2 256 "$T/streams.stop" \
    60000 >"$T/streams.out" 2>"$T/streams.err"
STREAMS=$LAST_PID
poll_for 30 grep -q "^flowing" "$T/streams.out"
echo "# $(grep '^flowing' "$T/streams.out")"
check "sessions flow on both fwd workers ($(grep '^flowing' "$T/streams.out" | cut -d' ' -f2-))" \
    sh -c "[ $(val "$T/streams.out" fwd0) -ge 4 ] && [ $(val "$T/streams.out" fwd1) -ge 4 ]"
nf0=$(ctl_json 'len([s for s in d["sessions"] if s["fwd"] == 0 and s["state"] == "paired"])' show sessions)
nf1=$(ctl_json 'len([s for s in d["sessions"] if s["fwd"] == 1 and s["state"] == "paired"])' show sessions)
check "show sessions puts them on the same fwd workers ($nf0 on fwd 0, $nf1 on fwd 1)" \
    sh -c "[ ${nf0:-0} -ge $(val "$T/streams.out" fwd0) ] &&
    [ ${nf1:-0} -ge $(val "$T/streams.out" fwd1) ]"

# ---- kill -9 fwd 0 ----
F0=$(worker_pid fwd 0)
t0=$(now_ms)
kill -KILL "$F0"
check "fwd 0 (pid $F0) is restarted in place" poll_for 10 new_pid fwd 0 "$F0"
t1=$(now_ms)
check "... while relayd runs on" kill -0 "$RELAYD_PID"
poll_for 10 legit_session
t2=$(now_ms)
echo "# fwd 0 killed: new pid after $((t1 - t0)) ms, first new session after $((t2 - t0)) ms"
check "... new sessions work within seconds" [ $((t2 - t0)) -lt 10000 ]
check "... and on both fwd workers, the new fwd 0 included" short_streams 127.0.71.1
relay_workers >"$T/w1"
check "show summary: the new fwd 0 pid, 1 respawn on its slot, 1 in all ($(respawns))" sh -c \
    "grep -q '^fwd 0 [0-9]* 1\$' '$T/w1' && ! grep -q '^fwd 0 $F0 ' '$T/w1' &&
    [ '$(respawns)' = 1 ]"
check "the other workers are the same processes" sh -c \
    "[ \"\$(grep -v '^fwd 0 ' '$T/w0' | cut -d' ' -f1-3)\" = \"\$(grep -v '^fwd 0 ' '$T/w1' | cut -d' ' -f1-3)\" ]"
check "the log says which worker died and why" \
    grep -q "fwd 0 (pid $F0) was killed by signal 9" "$T/relayd.log"

# ---- kill -9 the conn worker that holds the expose's control connection ----
CI=$(ctl_json '[l["conn"] for l in d["leases"] if l["name"] == "echo"][0]' show leases)
case $CI in 0|1) ;; *) not_ok "show leases names the lease's conn worker ($CI)"; CI=0 ;; esac
C0=$(worker_pid conn "$CI")
# control clients on the other conn worker must not notice: holders of
# leases until at least one sits there (the kernel picks the worker)
OTHER=$((1 - CI))
kept() {
	ctl_json "' '.join(sorted(l['lease_id'] for l in d['leases'] if l['conn'] == $OTHER and l['name'].startswith('keep-')))" \
	    show leases
}
k=0
while [ $k -lt 8 ] && [ -z "$(kept)" ]; do
	bg "$H" "$PORT" "$RELAY_ID" holder 127.0.72.1 "keep-$k" none 120000 \
	    >"$T/keep-$k.out" 2>&1
	poll_for 10 grep -q registered "$T/keep-$k.out"
	k=$((k + 1))
done
KEPT=$(kept)
echo "# leases on conn $OTHER, which lives on: $KEPT"
RR=$(grep -c "lease echo re-registered" "$T/expose.log")
t0=$(now_ms)
kill -KILL "$C0"
check "conn $CI (pid $C0, the expose's) is restarted in place" \
    poll_for 10 new_pid conn "$CI" "$C0"
t1=$(now_ms)
check "... the expose lost its connection and registers again by itself" \
    poll_for 20 sh -c "[ \$(grep -c 'lease echo re-registered' '$T/expose.log') -gt $RR ]"
poll_for 10 legit_session
t2=$(now_ms)
echo "# conn $CI killed: new pid after $((t1 - t0)) ms, expose back and a new session after $((t2 - t0)) ms"
check "... new sessions work within seconds" [ $((t2 - t0)) -lt 20000 ]
check "... the expose is the same process" kill -0 "$EXPOSE_PID"
check "... the leases of control clients on conn $OTHER are untouched" \
    sh -c "[ -n '$KEPT' ] && [ '$KEPT' = '$(kept)' ]"
relay_workers >"$T/w2"
check "show summary: the new conn $CI pid, 1 respawn on its slot, 2 in all ($(respawns))" sh -c \
    "grep -q '^conn $CI [0-9]* 1\$' '$T/w2' && ! grep -q '^conn $CI $C0 ' '$T/w2' &&
    [ '$(respawns)' = 2 ]"

# ---- the long sessions end: those on fwd 1 intact, those on fwd 0 cut ----
touch "$T/streams.stop"
poll_for 40 sh -c "! kill -0 $STREAMS"
grep "^session=" "$T/streams.out" | sed 's/^/# /'
echo "# $(grep '^streams' "$T/streams.out")"
check "every session on fwd 1 survived both kills with all its bytes, both ways" \
    sh -c "[ \$(grep -c '^session=[0-9]* fwd=1 verdict=ok ' '$T/streams.out') -eq $(val "$T/streams.out" fwd1) ] &&
    [ $(val "$T/streams.out" fwd1) -ge 4 ]"
check "the sessions on the killed fwd 0 ended, none with a wrong byte" \
    sh -c "[ \$(grep -c '^session=[0-9]* fwd=0 verdict=cut ' '$T/streams.out') -eq $(val "$T/streams.out" fwd0) ] &&
    [ $(val "$T/streams.out" corrupt) -eq 0 ]"

# ---- kill -9 the lease worker: the whole tree starts again ----
L0=$(worker_pid lease 0)
relay_workers >"$T/w3"
all_new() {
	relay_workers >"$T/w4" || return 1
	[ "$(wc -l <"$T/w4")" -eq 5 ] || return 1
	while read -r role idx pid n; do
		grep -q "^$role $idx $pid " "$T/w3" && return 1
		kill -0 "$pid" 2>/dev/null || return 1
	done <"$T/w4"
	return 0
}
RR=$(grep -c "lease echo re-registered" "$T/expose.log")
t0=$(now_ms)
kill -KILL "$L0"
check "a dead lease worker (pid $L0) restarts every worker" poll_for 15 all_new
t1=$(now_ms)
check "... under the same parent" \
    [ "$(ctl_json 'd["summary"]["parent_pid"]' show summary)" = "$RELAYD_PID" ]
check "... the expose registers again" poll_for 20 sh -c \
    "[ \$(grep -c 'lease echo re-registered' '$T/expose.log') -gt $RR ]"
poll_for 10 legit_session
t2=$(now_ms)
echo "# lease killed: a new tree after $((t1 - t0)) ms, expose back and a new session after $((t2 - t0)) ms"
check "... and sessions work again within seconds" [ $((t2 - t0)) -lt 25000 ]
check "the log says the lease worker died and the tree restarts" \
    grep -q "lease (pid $L0) was killed by signal 9" "$T/relayd.log"

# ---- the sixth death within 60 s: relayd gives up, non-zero ----
relay_stop
relay_start <<EOT || exit 1
$CONF
EOT
pids="$RELAYD_PID $(cat "/proc/$RELAYD_PID/task/$RELAYD_PID/children")"
k=1
while [ $k -le 5 ]; do
	p=$(worker_pid fwd 1)
	kill -KILL "$p"
	if ! poll_for 10 new_pid fwd 1 "$p"; then
		break
	fi
	pids="$pids $(worker_pid fwd 1)"
	k=$((k + 1))
done
check "five kills of fwd 1 within 60 s: five respawns ($((k - 1)))" [ "$k" -eq 6 ]
check "... show summary counts them ($(respawns))" [ "$(respawns)" = 5 ]
sixth_exits() {
	[ "$k" -eq 6 ] || return 1
	kill -KILL "$(worker_pid fwd 1)"
	poll_for 15 sh -c "! kill -0 $RELAYD_PID"
}
check "the sixth: relayd exits" sixth_exits
wait "$RELAYD_PID"
st=$?
RELAYD_PID=""
check "... with a non-zero status ($st)" [ "$st" -ne 0 ]
left=0
for p in $pids; do kill -0 "$p" 2>/dev/null && left=$((left + 1)); done
check "... and nothing left running" [ "$left" -eq 0 ]
check "... saying why" grep -Eqi "respawn|restart|too often|giving up" "$T/relayd.log"
finish
