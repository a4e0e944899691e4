#!/bin/sh
# SPDX-License-Identifier: ISC
# protocol.sh: the rules of relay-protocol(7) through a running relayd,
# driven by proto_test (a client built on libcommon): the control
# protocol, forwarding, the edge cases of issue 13; then an orderly stop
# seen by a lease holder and by relay-client, a takeover that ends an
# expose, and the relay's deadlines against a relay with short timeouts.
. "$(dirname "$0")/lib.sh"

RC="$top_builddir/relay-client/relay-client"
client_home

# exited PID: the process is gone (it is our child: wait collects it)
exited() {
	! kill -0 "$1" 2>/dev/null
}

MAIN_CONF=$(cat <<EOT
lease limit 3 per id, 1000 total
timeout handshake 5 pairing 5 idle 30 accept 2
connect rate 5 burst 10
EOT
)

RESV_ID=$("$PROTO_TEST" keygen "$T/reserved.key") || exit 1
relay_start <<EOT || exit 1
$MAIN_CONF
reserve name "reserved-name" for id "$RESV_ID"
EOT
FIXED_PORT=$PORT

"$PROTO_TEST" "$PORT" "$RELAY_ID" reserved-name "$T/reserved.key" \
    >"$T/proto.out" 2>&1
st=$?
cat "$T/proto.out"
grep -q "^ok - " "$T/proto.out" || not_ok "proto_test ran no check"
grep -q "^not ok" "$T/proto.out" && not_ok "proto_test has failures"
[ $st -eq 0 ] && ok "proto_test exit status" || not_ok "proto_test exit status $st"
check "relayd is still running after all that" kill -0 "$RELAYD_PID"

# ---- a revocation keeps the connection; an orderly stop ends it ----
"$RC" keygen -f "$T/rc.key" >/dev/null 2>&1 || not_ok "relay-client keygen"
bg "$PROTO_TEST" hold "$PORT" "$RELAY_ID" held-x >"$T/hold.out" 2>&1
bg "$RC" -v expose -r "127.0.0.1:$PORT" -K "$RELAY_ID" -f "$T/rc.key" \
    -n rc-x 127.0.0.1:9 2>"$T/expose.log"
EXPOSE_PID=$LAST_PID
check "a holder registers held-x" wait_for 50 grep -q "registered held-x" \
    "$T/hold.out"
check "relay-client expose registers rc-x" \
    wait_for 50 grep -q "lease rc-x registered" "$T/expose.log"
FWD_PORT=$(free_port)
bg "$RC" forward -r "127.0.0.1:$PORT" -K "$RELAY_ID" -f "$T/rc.key" \
    -L "127.0.0.1:$FWD_PORT" rc-x 2>"$T/forward.log"
check "relay-client forward is ready" \
    wait_for 50 grep -q "forwarding" "$T/forward.log"
"$RELAYCTL" -s "$SOCK" lease revoke held-x >/dev/null 2>&1
check "a revoked lease's holder gets Notice LEASE_REVOKED" \
    wait_for 50 grep -q "^notice 0: " "$T/hold.out"
relay_stop
check "SIGTERM stops relayd with status 0" [ "${RELAYD_STATUS:-1}" -eq 0 ]
check "the holder gets Notice SHUTTING_DOWN, on the same connection" \
    wait_for 50 grep -q "^notice 1: " "$T/hold.out"
check "then the relay's close record and the end of the stream" \
    wait_for 50 grep -q "^closed: close record, then end of stream" \
    "$T/hold.out"
check "relay-client hears that the relay is stopping" \
    wait_for 50 grep -q "the relay 127.0.0.1:$PORT is shutting down" \
    "$T/expose.log"
check "and logs a clean stop, with a reconnect after its backoff" \
    wait_for 50 grep -q "the relay 127.0.0.1:$PORT stopped; registering lease rc-x again in" \
    "$T/expose.log"
check "not as a lost lease" sh -c "! grep -q 'lease rc-x lost' '$T/expose.log'"
check "relay-client forward says the relay stopped, and waits" \
    wait_for 50 grep -q "the relay 127.0.0.1:$PORT stopped; the next local connection will reconnect" \
    "$T/forward.log"

relay_start <<EOT || exit 1
$MAIN_CONF
EOT
check "relayd is back on the same port" [ "$PORT" = "$FIXED_PORT" ]
check "relay-client registers again after the restart" \
    wait_for 150 grep -q "lease rc-x re-registered" "$T/expose.log"

# ---- a takeover: the same key registers the same name elsewhere ----
bg "$PROTO_TEST" hold "$PORT" "$RELAY_ID" rc-x "$T/rc.key" >"$T/take.out" 2>&1
check "another connection with expose's key takes rc-x over" \
    wait_for 50 grep -q "registered rc-x" "$T/take.out"
if wait_for 50 exited "$EXPOSE_PID"; then
	wait "$EXPOSE_PID"
	st=$?
else
	st=running
fi
check "expose ends with status 12 on Notice LEASE_REPLACED (status $st)" \
    [ "$st" = 12 ]
check "and says why" grep -q "lease rc-x was registered again with this key" \
    "$T/expose.log"
relay_stop

# ---- deadlines and switches: a relay with short timeouts ----
relay_start <<EOT || exit 1
timeout handshake 2 pairing 4 idle 6 accept 3
listing off
EOT
"$PROTO_TEST" timing "$PORT" "$RELAY_ID" >"$T/timing.out" 2>&1
st=$?
cat "$T/timing.out"
grep -q "^ok - " "$T/timing.out" || not_ok "proto_test timing ran no check"
grep -q "^not ok" "$T/timing.out" && not_ok "proto_test timing has failures"
[ $st -eq 0 ] && ok "proto_test timing exit status" ||
    not_ok "proto_test timing exit status $st"
relay_stop
check "SIGTERM stops relayd with status 0" [ "${RELAYD_STATUS:-1}" -eq 0 ]
finish
