#!/bin/sh
# SPDX-License-Identifier: ISC
# hostile.sh: relayd attacked as the open internet would, while a
# legitimate relay-client stream runs through it with a SHA-256 check
# both ways and new legitimate sessions keep being asked for. The
# attacker is tests/e2e/hostile (C, on libcommon), from many 127.x
# source addresses:
#  - regressions of issue 9: a client registers its 16 leases, sends
#    20000 ListLeases back to back (483 KB) and never reads (bug 1); the
#    same with a malformed record after each request (bug 2, seen by
#    ASan); relay-ctl reload of a broken file answers with the parse
#    error and keeps the old configuration (bug 6);
#  - floods of ListLeases and bad requests from 20+ clients that never
#    read (bugs 1-3): relayd stops reading from them, a client that
#    reads again is answered in full, the lease worker stays bounded and
#    the legitimate lease keeps being renewed;
#  - pending-session squatting (bug 5), from many addresses and from one,
#    against a holder that answers only its friend and against an
#    auto-accepting relay-client expose;
#  - slowloris, random data tokens, a Connect request flood, a TCP
#    connection flood (connection rate);
#  - descriptor exhaustion on a relayd started with 64 descriptors
#    (bug 4).
# Passing means: relayd still runs with the same worker PIDs, the
# stream's bytes are intact both ways, new sessions are served during
# and after, the refusals are accounted for in relay-ctl show stats, and
# every relayd process's RSS stays within RSS_PEAK_MIB of its baseline
# during an attack and comes back within RSS_AFTER_MIB of it after.
. "$(dirname "$0")/lib.sh"

RC="$top_builddir/relay-client/relay-client"
HELPER="$top_srcdir/tests/e2e/client-helper.py"
H=$HOSTILE
RSS_PEAK_MIB=${RSS_PEAK_MIB:-64}
RSS_AFTER_MIB=${RSS_AFTER_MIB:-16}
# Under AddressSanitizer a process keeps up to 256 MiB of freed memory in
# its quarantine: the RSS figures are printed but the bounds not checked.
SANITIZED=0
if ldd "$RELAYD" 2>/dev/null | grep -q libasan ||
    nm "$RELAYD" 2>/dev/null | grep -q __asan_init; then
	SANITIZED=1
fi
STREAM_KBPS=${STREAM_KBPS:-160}
STREAM_MIB=${STREAM_MIB:-6}

need_hostile
client_home

# wait_pids SECONDS PID...: until every PID has exited (bounded)
wait_pids() {
	wp_s=$1
	shift
	for wp_p in "$@"; do
		poll_for "$wp_s" sh -c "! kill -0 $wp_p" || return 1
	done
}

# probe SRC: another control client is answered (quietly)
probe() {
	"$H" "$PORT" "$RELAY_ID" probe "$1" 3 >/dev/null 2>&1
}

delta() { stat_delta "$T/stats.$1" "$T/stats.$2" "$3"; }

T_START=$(date +%s)
# phase NAME: an attack begins (the RSS sampler's phases too)
phase() {
	rss_phase "$1"
	echo "# ---- $1 (+$(($(date +%s) - T_START)) s)"
}

# ---- the relay: small limits, so that every refusal is reached ----
CONF_BASE="lease ttl 2 max 600
lease limit 16 per id, 1000 total
session limit 20 per lease, 400 total
connection limit 16 per address, 300 total
connect rate 5 burst 20
timeout handshake 3 pairing 5 idle 30 accept 10"
CONF_NEW="pending limit 6 per lease, 3 per address
connection rate 300"
P_LEASE=6
P_ADDR=3
if printf '%s\n%s\n' "$CONF_BASE" "$CONF_NEW" >"$T/try.conf" &&
    "$RELAYD" -n -f "$T/try.conf" >"$T/try.out" 2>&1; then
	ok "relayd.conf takes \"pending limit\" and \"connection rate\""
	NEW_KEYWORDS=1
else
	not_ok "relayd.conf takes \"pending limit\" and \"connection rate\"" \
	    "($(head -n 1 "$T/try.out")); the rest runs without them"
	CONF_NEW=""
	NEW_KEYWORDS=0
fi
relay_start <<EOT || exit 1
$CONF_BASE
$CONF_NEW
EOT
R="127.0.0.1:$PORT"
cp "$T/relayd.conf" "$T/good.conf"

# After a first start relayd comes back on the same port, so that the
# exposes find it again: revive restarts a relayd an attack killed, so
# that the next attack still says something (the one that killed it has
# failed already).
FIXED_PORT=$PORT
REVIVED=0
revive() {
	kill -0 "$RELAYD_PID" 2>/dev/null && return 0
	echo "# relayd is gone after $1: started again for the next attack"
	wait "$RELAYD_PID" 2>/dev/null
	RELAYD_PID=""
	REVIVED=$((REVIVED + 1))
	relay_start <<EOT || exit 1
$CONF_BASE
$CONF_NEW
EOT
	TREE0=$(relay_tree)
	rss_start
	poll_for 20 sh -c "[ \$(grep -c 'lease echo re-registered' '$T/expose-echo.log') -ge $REVIVED ]"
}

# ---- the legitimate side: services, exposes, a long stream ----
LEGIT_KEY="$T/legit.key"
LEGIT_ID=$("$RC" keygen -f "$LEGIT_KEY" 2>/dev/null)
"$RC" keygen >/dev/null 2>&1
bg "$PY3" "$HELPER" echo "$T/echo.port"
bg "$PY3" "$HELPER" duplex "$T/dup.port" 11 "$STREAM_MIB" "$T/dup.result"
poll_for 10 test -s "$T/echo.port" && poll_for 10 test -s "$T/dup.port" ||
    { echo "test servers did not start" >&2; exit 1; }
bg "$RC" -v expose -r "$R" -K "$RELAY_ID" -t 2 -n echo \
    "127.0.0.1:$(cat "$T/echo.port")" 2>"$T/expose-echo.log"
bg "$RC" -v expose -r "$R" -K "$RELAY_ID" -t 2 -n stream --hidden \
    "127.0.0.1:$(cat "$T/dup.port")" 2>"$T/expose-stream.log"
check "the legitimate exposes register" poll_for 10 sh -c \
    "grep -q 'lease echo registered' '$T/expose-echo.log' &&
    grep -q 'lease stream registered' '$T/expose-stream.log'"

check "a legitimate session before the attacks" legit_session

# The stream: paced at STREAM_KBPS both ways so it lasts through the
# attacks; every piece runs by its own PID.
mkfifo "$T/stream.in" "$T/stream.out"
# (no bg here: a function's redirection to a FIFO would block the shell)
"$H" gen 5 $((STREAM_MIB * 1048576)) "$STREAM_KBPS" "$T/stream.sent" \
    >"$T/stream.in" &
PIDS="$PIDS $!"
"$RC" connect -r "$R" -K "$RELAY_ID" -f "$T/legit.key" stream \
    <"$T/stream.in" >"$T/stream.out" 2>"$T/stream.err" &
STREAM_PID=$!
PIDS="$PIDS $!"
"$H" sum "$STREAM_KBPS" <"$T/stream.out" >"$T/stream.got" &
PIDS="$PIDS $!"
STREAM_T0=$(date +%s)

rss_start
rss_phase baseline
poll_for 10 grep -q "^baseline .*lease" "$T/rss.out"
TREE0=$(relay_tree)
relay_stats "$T/stats.0" || not_ok "relay-ctl -j show stats answers"
echo "# relayd tree: $TREE0"
summary_has() {
	ctl_json "all(k in d['summary'] for k in ('nofile', 'conns_max', 'sessions_max', 'respawns'))" \
	    show summary | grep -qx True
}
check "show summary has nofile, conns_max, sessions_max, respawns" summary_has

still_up() {
	kill -0 "$RELAYD_PID" 2>/dev/null && [ "$(relay_tree)" = "$TREE0" ]
}

# ---- bug 1, exactly as the issue found it ----
phase bug1
"$H" "$PORT" "$RELAY_ID" listflood 127.0.9.1 1 16 20000 0 4000 0 \
    >"$T/bug1.out" 2>&1
relay_stats "$T/stats.1"
echo "# bug 1: $(grep '^flood ' "$T/bug1.out")"
check "bug 1: 16 leases, then 20000 ListLeases ($(val "$T/bug1.out" bytes) bytes), never read: relayd survives, same workers" \
    still_up
check "bug 1: ... and the client was paused or closed (read_paused +$(delta 0 1 conn_read_paused), overflow +$(delta 0 1 conn_output_overflow))" \
    [ $(($(delta 0 1 conn_read_paused) + $(delta 0 1 conn_output_overflow))) -ge 1 ]
check "bug 1: ... and another client is served" probe 127.0.3.1
revive "bug 1"

# ---- bug 2: a malformed record after each ListLeases, never read ----
phase bug2
"$H" "$PORT" "$RELAY_ID" listflood 127.0.9.2 1 16 10000 1 4000 0 \
    >"$T/bug2.out" 2>&1
relay_stats "$T/stats.2"
check "bug 2: 10000 x (ListLeases + a bad record), never read: relayd survives, same workers" \
    still_up
check "bug 2: ... bad requests counted (+$(delta 1 2 bad_requests))" \
    [ "$(delta 1 2 bad_requests)" -ge 1 ]
check "bug 2: ... and another client is served" probe 127.0.3.2
revive "bug 2"

# ---- bug 6: reload with a broken file ----
# "listing off" would take effect if the broken file were half applied
{ cat "$T/good.conf"; echo "listing off"; echo "lease ttl banana"; } \
    >"$T/relayd.conf"
[ "$(id -u)" -eq 0 ] && [ "$ROOT_MODE" = 0 ] && chown 65534 "$T/relayd.conf"
"$RELAYCTL" -s "$SOCK" reload >"$T/reload.out" 2>&1
st=$?
echo "# reload answered: $(cat "$T/reload.out")"
check "bug 6: reload of a broken file fails (status $st)" [ "$st" -ne 0 ]
check "bug 6: ... naming file and line of the error" \
    grep -q "relayd.conf:$(($(wc -l <"$T/good.conf") + 2)):" "$T/reload.out"
check "bug 6: ... with nothing but printable text (no stack bytes)" \
    sh -c "! LC_ALL=C grep -q '[^[:print:][:space:]]' '$T/reload.out' &&
    ! grep -q 'relay/1' '$T/reload.out'"
"$RC" list -r "$R" -K "$RELAY_ID" >"$T/list6.out" 2>&1
check "bug 6: ... the old configuration is kept (listing still on)" \
    grep -q "^echo " "$T/list6.out"
cp "$T/good.conf" "$T/relayd.conf"
[ "$(id -u)" -eq 0 ] && [ "$ROOT_MODE" = 0 ] && chown 65534 "$T/relayd.conf"
check "bug 6: ... and relayd keeps serving" legit_session
revive "bug 6"

# ---- floods (bugs 1-3): 20 clients x 3000 ListLeases, never reading;
# bad requests; and one client that reads again after a while ----
phase flood
relay_stats "$T/stats.3"
R0=$(grep -c "lease echo renewed" "$T/expose-echo.log")
bg "$H" "$PORT" "$RELAY_ID" listflood 127.0.11.1+10 20 16 3000 0 8000 0 \
    >"$T/flood.out" 2>&1
F1=$LAST_PID
bg "$H" "$PORT" "$RELAY_ID" listflood 127.0.12.1+2 4 16 5000 1 8000 0 \
    >"$T/floodbad.out" 2>&1
F2=$LAST_PID
bg "$H" "$PORT" "$RELAY_ID" listflood 127.0.13.1 1 0 3000 0 3000 1 \
    >"$T/drain.out" 2>&1
F3=$LAST_PID
poll_for 20 sh -c "grep -q ^flooding '$T/flood.out' &&
    grep -q ^flooding '$T/floodbad.out'"
check "floods: another client is served meanwhile" probe 127.0.3.3
check "floods: a new legitimate session meanwhile" legit_session
wait_pids 60 "$F1" "$F2" "$F3"
relay_stats "$T/stats.4"
R1=$(grep -c "lease echo renewed" "$T/expose-echo.log")
echo "# floods: $(grep '^flood ' "$T/flood.out"); bad: $(grep '^flood ' "$T/floodbad.out")"
echo "# the reader: $(grep '^drain ' "$T/drain.out")"
check "floods: relayd survives, same workers" still_up
n=$(($(delta 3 4 conn_read_paused) + $(delta 3 4 conn_output_overflow)))
check "floods: every one of the 25 non-reading clients paused or closed (read_paused +$(delta 3 4 conn_read_paused), overflow +$(delta 3 4 conn_output_overflow))" \
    [ "$n" -ge 25 ]
check "floods: a client that reads again gets all 3000 answers, in order" \
    grep -q "^drained clients=1 complete=1 in_order=1" "$T/drain.out"
check "floods: the legitimate lease kept being renewed (+$((R1 - R0)))" \
    [ $((R1 - R0)) -ge 3 ]
check "floods: no lease expired (+$(delta 3 4 leases_expired))" \
    [ "$(delta 3 4 leases_expired)" -eq 0 ]
revive "the floods"

# ---- pending-session squatting (bug 5) ----
phase squat
relay_stats "$T/stats.5"
bg "$H" "$PORT" "$RELAY_ID" holder 127.0.0.1 squat-a "$LEGIT_ID" 30000 \
    >"$T/holder-a.out" 2>&1
HA=$LAST_PID
bg "$H" "$PORT" "$RELAY_ID" holder 127.0.0.1 squat-b "$LEGIT_ID" 30000 \
    >"$T/holder-b.out" 2>&1
HB=$LAST_PID
poll_for 10 sh -c "grep -q registered '$T/holder-a.out' &&
    grep -q registered '$T/holder-b.out'"
bg "$H" "$PORT" "$RELAY_ID" squat 127.0.30.1+14 14 20 squat-a 6000 \
    >"$T/squat-a.out" 2>&1
S1=$LAST_PID
bg "$H" "$PORT" "$RELAY_ID" squat 127.0.31.1 14 20 squat-b 6000 \
    >"$T/squat-b.out" 2>&1
S2=$LAST_PID
bg "$H" "$PORT" "$RELAY_ID" squat 127.0.32.1+14 14 20 echo 6000 \
    >"$T/squat-e.out" 2>&1
S3=$LAST_PID
poll_for 20 sh -c "grep -q ^squatting '$T/squat-a.out' &&
    grep -q ^squatting '$T/squat-b.out' && grep -q ^squatting '$T/squat-e.out'"
# The friend comes from an address of its own: 127.0.0.1 carries the
# stream and the holders, and its per-address connection limit (16 per
# conn worker here) is not what this checks.
"$H" "$PORT" "$RELAY_ID" request 127.0.40.1 "$T/legit.key" squat-a 65536 \
    8000 >"$T/req-a.out" 2>&1
check "squatting from 14 addresses: the holder's friend still connects ($(cat "$T/req-a.out"))" \
    grep -q "^request=ok" "$T/req-a.out"
"$H" "$PORT" "$RELAY_ID" request 127.0.40.1 "$T/legit.key" squat-b 65536 \
    8000 >"$T/req-b.out" 2>&1
check "squatting from one address: the holder's friend still connects ($(cat "$T/req-b.out"))" \
    grep -q "^request=ok" "$T/req-b.out"
check "squatting an auto-accepting expose: relay-client connect still works" \
    legit_session
wait_pids 30 "$S1" "$S2" "$S3"
relay_stats "$T/stats.6"
for s in a b e; do echo "# squat-$s: $(grep '^answers' "$T/squat-$s.out")"; done
check "squatting: relayd survives, same workers" still_up
# each Connect is answered, but for those still pending at the end
for s in a b; do
	sent=$(val "$T/squat-$s.out" sent)
	ans=$(grep '^answers' "$T/squat-$s.out" | tr ' ' '\n' |
	    awk -F= '$1 == "connected" || $1 ~ /^ERR_/ { n += $2 }
	    END { print n + 0 }')
	if [ $s = a ]; then room=$P_LEASE; else room=$P_ADDR; fi
	check "squat-$s: $ans of $sent Connects answered at once, at most $room left pending" \
	    sh -c "[ $sent -eq 280 ] && [ $((sent - ans)) -le $room ]"
done
lim=$(($(val "$T/squat-a.out" ERR_LIMIT) + $(val "$T/squat-b.out" ERR_LIMIT) +
    $(val "$T/squat-e.out" ERR_LIMIT)))
check "squatting: sessions_refused_pending counted (+$(delta 5 6 sessions_refused_pending))" \
    [ "$(delta 5 6 sessions_refused_pending)" -ge 1 ]
check "squatting: sessions_pending_dropped counted (+$(delta 5 6 sessions_pending_dropped))" \
    [ "$(delta 5 6 sessions_pending_dropped)" -ge 1 ]
check "squatting: every ERR_LIMIT the squatters got was counted ($lim <= +$(delta 5 6 errors_sent.ERR_LIMIT))" \
    [ "$lim" -le "$(delta 5 6 errors_sent.ERR_LIMIT)" ]
kill "$HA" "$HB" 2>/dev/null
revive "the squatting"

# ---- slowloris, random tokens, a Connect request flood ----
phase slowloris
relay_stats "$T/stats.7"
bg "$H" "$PORT" "$RELAY_ID" slowloris 127.0.40.1+30 180 8000 300 \
    >"$T/slow-many.out" 2>&1
L1=$LAST_PID
bg "$H" "$PORT" "$RELAY_ID" slowloris 127.0.41.1 40 8000 300 \
    >"$T/slow-one.out" 2>&1
L2=$LAST_PID
bg "$H" "$PORT" "$RELAY_ID" tokens 127.0.42.1+10 200 8000 \
    >"$T/tokens.out" 2>&1
L3=$LAST_PID
poll_for 20 sh -c "grep -q started_ms '$T/slow-many.out' &&
    grep -q started_ms '$T/slow-one.out'"
check "slowloris: another client is served meanwhile" probe 127.0.3.4
check "slowloris: a new legitimate session meanwhile" legit_session
"$H" "$PORT" "$RELAY_ID" reqflood 127.0.43.1 60 >"$T/reqflood.out" 2>&1
wait_pids 30 "$L1" "$L2" "$L3"
relay_stats "$T/stats.8"
for f in slow-many slow-one tokens reqflood; do
	echo "# $f: $(tail -n 1 "$T/$f.out")"
done
check "slowloris: relayd survives, same workers" still_up
check "slowloris: every slow connection was closed by the relay ($(($(val "$T/slow-many.out" connected) + $(val "$T/slow-one.out" connected))) connected)" \
    sh -c "[ $(val "$T/slow-many.out" connected) -ge 100 ] &&
    [ $(val "$T/slow-one.out" connected) -ge 20 ] &&
    [ $(val "$T/slow-many.out" still_open) -eq 0 ] &&
    [ $(val "$T/slow-one.out" still_open) -eq 0 ]"
# refused at accept time: by the per-address limit, or (slowloris and the
# tokens arrive at once) by the accept rate
fast=$(($(val "$T/slow-many.out" refused_at_once) +
    $(val "$T/slow-one.out" refused_at_once) +
    $(val "$T/tokens.out" refused_at_once)))
late=$(($(val "$T/slow-many.out" closed_later) +
    $(val "$T/slow-one.out" closed_later)))
refused=$(($(delta 7 8 conn_refused_limit) + $(delta 7 8 conn_refused_rate) +
    $(delta 7 8 conn_refused_nofile)))
check "slowloris from one address: the per-address limit refused some ($(val "$T/slow-one.out" refused_at_once) of 40)" \
    [ "$(val "$T/slow-one.out" refused_at_once)" -ge 1 ]
check "slowloris and tokens: $fast refused at once, counted (+$refused refused by a limit or the rate)" \
    [ "$fast" -le "$refused" ]
check "slowloris: $late closed at the handshake deadline, counted (+$(delta 7 8 handshake_timeouts))" \
    [ "$late" -le "$(delta 7 8 handshake_timeouts)" ]
check "random tokens: every one closed, nothing sent back ($(tail -n 1 "$T/tokens.out" | cut -d' ' -f3-))" \
    sh -c "[ $(val "$T/tokens.out" connected) -ge 100 ] &&
    grep -q 'still_open=0 relay_sent_bytes=0 ' '$T/tokens.out'"
# The tokens arrive with the slowloris waves, so how many the accept rate
# refuses first depends on the machine's load (103 of 200 under ASan once):
# every token is either refused at once or reaches the token check, and
# each one that reaches it is counted.
check "random tokens: those that got to the token check counted (+$(delta 7 8 tokens_unknown) of $(val "$T/tokens.out" closed_later), $(val "$T/tokens.out" refused_at_once) refused at accept)" \
    sh -c "[ $(val "$T/tokens.out" closed_later) -ge 20 ] &&
    [ $(($(val "$T/tokens.out" closed_later) + $(val "$T/tokens.out" refused_at_once))) -eq $(val "$T/tokens.out" connected) ] &&
    [ $(delta 7 8 tokens_unknown) -ge $(val "$T/tokens.out" closed_later) ]"
check "Connect flood of one ID: rate limited ($(val "$T/reqflood.out" ERR_RATE_LIMITED) of 60), counted" \
    sh -c "[ $(val "$T/reqflood.out" ERR_RATE_LIMITED) -ge 30 ] &&
    [ $(val "$T/reqflood.out" ERR_RATE_LIMITED) -le $(delta 7 8 errors_sent.ERR_RATE_LIMITED) ]"
revive "slowloris"

# ---- a TCP connection flood ----
phase connflood
relay_stats "$T/stats.9"
"$H" "$PORT" "$RELAY_ID" connflood 127.0.50.1+100 2000 4000 \
    >"$T/connflood.out" 2>&1
relay_stats "$T/stats.10"
echo "# connflood: $(tail -n 1 "$T/connflood.out")"
check "connection flood: relayd survives, same workers" still_up
revive "the connection flood"
check "connection flood: it happened ($(val "$T/connflood.out" connected) of 2000 connected)" \
    [ "$(val "$T/connflood.out" connected)" -ge 500 ]
check "connection flood: refused by the accept rate (+$(delta 9 10 conn_refused_rate))" \
    [ "$(delta 9 10 conn_refused_rate)" -ge 1 ]
check "connection flood: every refusal counted ($(val "$T/connflood.out" refused_at_once) <= +$(($(delta 9 10 conn_refused_rate) + $(delta 9 10 conn_refused_limit) + $(delta 9 10 conn_refused_nofile))))" \
    [ "$(val "$T/connflood.out" refused_at_once)" -le $(($(delta 9 10 conn_refused_rate) + $(delta 9 10 conn_refused_limit) + $(delta 9 10 conn_refused_nofile))) ]
check "after the connection flood: new sessions again (bounded poll)" \
    poll_for 10 legit_session

# ---- after: the stream, new sessions, the counters, memory ----
phase after
left=$((STREAM_MIB * 1024 / STREAM_KBPS - ($(date +%s) - STREAM_T0) + 30))
[ "$left" -lt 30 ] && left=30
poll_for "$left" test -s "$T/stream.got"
poll_for 10 test -s "$T/dup.result"
wait "$STREAM_PID"
st=$?
check "the legitimate stream through all of it: connect exits 0 ($st)" \
    [ "$st" -eq 0 ]
[ "$st" -eq 0 ] || tail -n 5 "$T/stream.err" >&2
check "... the service got every byte connect was given (SHA-256)" sh -c \
    "[ \"received \$(cat '$T/stream.sent')\" = \"\$(grep ^received '$T/dup.result')\" ]"
check "... connect's output is every byte the service sent (SHA-256)" sh -c \
    "[ \"sent \$(cat '$T/stream.got')\" = \"\$(grep ^sent '$T/dup.result')\" ]"
check "a new legitimate session after the attacks" legit_session
check "relayd survived everything with the same workers" still_up
check "relayd was never started again ($REVIVED)" [ "$REVIVED" -eq 0 ]

# memory: each process back within RSS_AFTER_MIB of its baseline
rss_ok() {
	awk -v a=$((RSS_AFTER_MIB * 1024)) '
	    $1 == "baseline" { base[$2] = $4 }
	    $1 == "after" { last[$2] = $6 }
	    END { for (p in base) if (!(p in last) || last[p] > base[p] + a) exit 1 }
	' "$RSS_OUT"
}
[ "$SANITIZED" = 1 ] || poll_for 10 rss_ok
rss_report
echo "# RSS in KiB per attack and process: before peak after (baseline: the first sample)"
awk '{ printf "# %-10s %-7s pid %-6s %7d %7d %7d\n", $1, $3, $2, $4, $5, $6 }' \
    "$T/rss.out"
# a process's baseline: its first sample (a relayd started again by
# revive has no baseline phase)
peak_bad=$(awk -v b=$((RSS_PEAK_MIB * 1024)) '
    !($2 in base) { base[$2] = $4 }
    $5 > base[$2] + b { print $1 ":" $3 "=" $5 "KiB" }
    ' "$T/rss.out" | tr '\n' ' ')
rss_after_ok() {
	[ "$REVIVED" -eq 0 ] && grep -q '^after ' "$RSS_OUT" && rss_ok
}
if [ "$SANITIZED" = 1 ]; then
	echo "# sanitizer build: RSS bounds not checked (not counted as passed)"
else
	check "every process's peak RSS within $RSS_PEAK_MIB MiB of its baseline in every attack ${peak_bad:+(over: $peak_bad)}" \
	    [ -z "$peak_bad" ]
	check "every process's RSS back within $RSS_AFTER_MIB MiB of its baseline after" \
	    rss_after_ok
fi
relay_stats "$T/stats.end"
echo "# counters at the end, refusals and outcomes:"
grep -E "refused|paused|overflow|pending|timeouts|bad|unknown|expired|errors_sent.ERR_(LIMIT|RATE|BAD)" \
    "$T/stats.end" | tr ' ' '=' | paste -sd' ' | fold -s -w 100 |
    sed 's/^/#   /'

# ---- descriptor exhaustion (bug 4): its own relayd, 64 descriptors ----
relay_stop
check "SIGTERM stops the attacked relayd with status 0" \
    [ "${RELAYD_STATUS:-1}" -eq 0 ]
kill "$RSS_PID" 2>/dev/null
echo "# ---- descriptors (+$(($(date +%s) - T_START)) s)"
relay_start_nofile 64 <<EOT || { not_ok "relayd starts with 64 descriptors"; finish; exit 1; }
lease ttl 60 max 600
connect rate 1000 burst 1000
connection limit 1000 per address, 1000 total
session limit 1000 per lease, 1000 total
timeout handshake 3 pairing 5 idle 30 accept 10
EOT
TREE0=$(relay_tree)
ctl_json 'd["summary"]' show summary >"$T/fd-summary" 2>&1
nofile=$(ctl_json 'd["summary"].get("nofile", -1)' show summary)
cmax=$(ctl_json 'd["summary"].get("conns_max", -1)' show summary)
smax=$(ctl_json 'd["summary"].get("sessions_max", -1)' show summary)
echo "# with 64 descriptors: nofile $nofile, conns_max $cmax, sessions_max $smax"
check "show summary: nofile is the limit relayd runs with (64: $nofile)" \
    [ "${nofile:-0}" -eq 64 ]
check "show summary: conns_max and sessions_max derived from it ($cmax, $smax)" \
    sh -c "[ ${cmax:-0} -ge 1 ] && [ ${cmax:-0} -le 128 ] &&
    [ ${smax:-0} -ge 1 ] && [ ${smax:-0} -le 64 ]"
grep -iE "descriptor|nofile|sessions max|limit" "$T/relayd.log" | head -n 3 |
    sed 's/^/# log: /'
relay_stats "$T/stats.fd0"
bg "$H" "$PORT" "$RELAY_ID" fdsessions 127.0.60.1 40 2 4 "$T/fd.go" \
    >"$T/fd.out" 2>&1
FD=$LAST_PID
poll_for 60 grep -q "^fd_phase1" "$T/fd.out"
# more connections than it can hold, while those sessions are up
"$H" "$PORT" "$RELAY_ID" connflood 127.0.61.1+20 200 2000 \
    >"$T/fd-conn.out" 2>&1
touch "$T/fd.go"
wait_pids 60 "$FD"
relay_stats "$T/stats.fd1"
cat "$T/fd.out" | sed 's/^/# /'
echo "# connections beyond capacity: $(tail -n 1 "$T/fd-conn.out")"
check "64 descriptors: relayd survives, same workers" still_up
check "64 descriptors: some of 40 sessions established ($(val "$T/fd.out" established))" \
    [ "$(val "$T/fd.out" established)" -ge 1 ]
check "64 descriptors: sessions beyond capacity refused ($(grep fd_phase1 "$T/fd.out" | sed 's/.*refused=//'))" \
    sh -c "grep fd_phase1 '$T/fd.out' | grep -qv 'refused=0'"
check "64 descriptors: refusals counted (conn_refused_nofile +$(stat_delta "$T/stats.fd0" "$T/stats.fd1" conn_refused_nofile), sessions_refused_nofile +$(stat_delta "$T/stats.fd0" "$T/stats.fd1" sessions_refused_nofile))" \
    [ $(($(stat_delta "$T/stats.fd0" "$T/stats.fd1" conn_refused_nofile) + $(stat_delta "$T/stats.fd0" "$T/stats.fd1" sessions_refused_nofile))) -ge 1 ]
fdref=$(($(stat_delta "$T/stats.fd0" "$T/stats.fd1" conn_refused_nofile) +
    $(stat_delta "$T/stats.fd0" "$T/stats.fd1" conn_refused_limit) +
    $(stat_delta "$T/stats.fd0" "$T/stats.fd1" conn_refused_rate)))
check "64 descriptors: connections beyond capacity refused and counted ($(val "$T/fd-conn.out" refused_at_once) <= +$fdref)" \
    sh -c "[ $(val "$T/fd-conn.out" refused_at_once) -ge 1 ] &&
    [ $(val "$T/fd-conn.out" refused_at_once) -le $fdref ]"
est=$(val "$T/fd.out" established)
check "64 descriptors: the $est established sessions stay intact ($(val "$T/fd.out" intact))" \
    sh -c "[ $est -ge 1 ] && [ $(val "$T/fd.out" intact) -eq $est ]"
check "64 descriptors: new sessions once the load is gone ($(grep fd_phase3 "$T/fd.out"))" \
    grep -q "^fd_phase3 wanted=4 ok=4 " "$T/fd.out"
check "64 descriptors: a new control client is served" \
    poll_for 10 probe 127.0.3.5
echo "# ---- done (+$(($(date +%s) - T_START)) s)"
finish
