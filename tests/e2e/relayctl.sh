#!/bin/sh
# SPDX-License-Identifier: ISC
# relayctl.sh: relay-ctl against a running relayd: show summary, leases,
# sessions, stats and metrics in text and JSON, lease revoke (the holder
# gets a notice), log levels, reload, and the permission model.
. "$(dirname "$0")/lib.sh"

json() {
	python3 -c 'import json, sys; d = json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"
}

relay_start <<EOT || exit 1
lease ttl 60 max 600
EOT
ctl() { "$RELAYCTL" -s "$SOCK" "$@"; }

ctl show summary >"$T/sum.txt" 2>&1
check "show summary names the relay ID" grep -q "relay ID: *$RELAY_ID" "$T/sum.txt"
check "show summary lists the listener" grep -q "127.0.0.1:$PORT" "$T/sum.txt"
check "show summary lists every process" \
    grep -Eq "parent $RELAYD_PID, lease [0-9]+, conn 0 [0-9]+, conn 1 [0-9]+, fwd 0 [0-9]+, fwd 1 [0-9]+" "$T/sum.txt"
ctl -j show summary >"$T/sum.json" 2>&1
check "show summary -j is JSON with the relay ID" \
    [ "$(json 'd["summary"]["relay_id"]' <"$T/sum.json")" = "$RELAY_ID" ]
check "prefix matching: relay-ctl sh su" \
    sh -c "'$RELAYCTL' -s '$SOCK' sh su | grep -q '$RELAY_ID'"
"$RELAYCTL" -s "$SOCK" show bogus >"$T/bogus" 2>&1
check "an unknown command fails and says what is valid" \
    sh -c "grep -q 'valid' '$T/bogus'"

# a client holding a lease
"$PROTO_TEST" hold "$PORT" "$RELAY_ID" held-svc >"$T/hold.out" 2>&1 &
HOLD_PID=$!
i=0
while ! grep -q registered "$T/hold.out" && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
ctl show leases >"$T/leases.txt" 2>&1
check "show leases lists the lease" grep -q "^held-svc " "$T/leases.txt"
ctl -j show leases >"$T/leases.json" 2>&1
check "show leases -j: name and ALPN" \
    [ "$(json '[l["name"] + ":" + ",".join(l["alpn"]) for l in d["leases"]][0]' <"$T/leases.json")" = "held-svc:ssh,extra" ]
ctl show leases held-svc >"$T/one.txt" 2>&1
check "show leases NAME filters" grep -q "^held-svc " "$T/one.txt"
ctl show leases nothing-like-it >"$T/none.txt" 2>&1
check "show leases with no match lists nothing" sh -c "! grep -q held-svc '$T/none.txt'"
ctl -j show sessions >"$T/sess.json" 2>&1
check "show sessions -j is a JSON list, empty with no session" \
    [ "$(json 'type(d["sessions"]).__name__ + str(len(d["sessions"]))' <"$T/sess.json")" = list0 ]
# A failure with -j is still one JSON document on stdout, never half of one.
"$RELAYCTL" -j -s "$T/no-such.sock" show leases >"$T/err.json" 2>"$T/err.txt"
check "-j: a failure exits non-zero" [ $? -ne 0 ]
check "-j: a failure is a JSON error document" \
    sh -c "[ \"\$(python3 -c 'import json,sys; print(sorted(json.load(sys.stdin)))' <'$T/err.json')\" = \"['error']\" ]"
check "-j: the error says what failed" grep -q "no-such.sock" "$T/err.json"
check "-j: the error is on stderr too" grep -q "^relay-ctl: connect" "$T/err.txt"

ctl show stats >"$T/stats.txt" 2>&1
check "show stats counts the registration" grep -Eq "registrations +[1-9]" "$T/stats.txt"
ctl -j show stats >"$T/stats.json" 2>&1
check "show stats -j: handshakes_ok counted over all workers" \
    [ "$(json 'd["stats"]["handshakes_ok"]' <"$T/stats.json")" -ge 1 ]
ctl show metrics >"$T/metrics.txt" 2>&1
check "show metrics: OpenMetrics text ending with # EOF" \
    sh -c "grep -q '^relayd_up 1' '$T/metrics.txt' && tail -n 1 '$T/metrics.txt' | grep -qx '# EOF'"
check "show metrics: registrations counter" \
    grep -Eq '^relayd_lease_registrations_total [1-9]' "$T/metrics.txt"

# changing commands
ctl log verbose >"$T/logv" 2>&1
check "log verbose" grep -q "verbose" "$T/logv"
ctl log brief >/dev/null 2>&1
ctl reload >"$T/reload" 2>&1
check "reload through relay-ctl" grep -q "reloaded" "$T/reload"
# A broken file: the answer is the parse error with its file and line
# (it once was leftover stack bytes), and the old configuration stays.
cp "$T/relayd.conf" "$T/relayd.conf.good"
echo "lease ttl banana" >>"$T/relayd.conf"
ctl -j reload >"$T/reload.bad.json" 2>/dev/null
check "reload -j of a broken file: a JSON error with the file and line" \
    sh -c "python3 -c 'import json,sys; print(json.load(sys.stdin)[\"error\"])' <'$T/reload.bad.json' | grep -q 'relayd.conf:[0-9]*:'"
ctl reload >"$T/reload.bad" 2>&1
check "reload of a broken file fails" [ $? -ne 0 ]
check "reload of a broken file names the file and line" \
    grep -Eq "relay-ctl: .*relayd\.conf:[0-9]+: .*keeping the old configuration" "$T/reload.bad"
check "the reload answer is printable text" \
    sh -c "! LC_ALL=C grep -q '[^[:print:][:space:]]' '$T/reload.bad'"
cp "$T/relayd.conf.good" "$T/relayd.conf"
ctl show summary >/dev/null 2>&1
check "relayd still answers after the failed reload" [ $? -eq 0 ]
ctl lease revoke held-svc >"$T/revoke" 2>&1
check "lease revoke answers" grep -q "revoked 1 lease" "$T/revoke"
i=0
while ! grep -q "notice 0" "$T/hold.out" && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
check "the holder gets a LEASE_REVOKED notice" grep -q "notice 0: lease held-svc revoked" "$T/hold.out"
ctl show leases >"$T/leases2.txt" 2>&1
check "the revoked lease is gone" sh -c "! grep -q held-svc '$T/leases2.txt'"
ctl lease revoke no-such-lease >"$T/revoke2" 2>&1
st=$?
check "revoking an unknown lease fails with a message" \
    sh -c "[ $st -ne 0 ] && grep -q 'no lease' '$T/revoke2'"
kill "$HOLD_PID" 2>/dev/null
wait "$HOLD_PID" 2>/dev/null

# permissions: a user who may connect but is neither root nor relayd's uid
if [ "$(id -u)" -eq 0 ]; then
	# let a third uid reach and connect, for this test only
	chmod 0711 "$T"
	chmod 0666 "$SOCK"
	setpriv --reuid=4242 --regid=4242 --clear-groups -- \
	    "$RELAYCTL" -s "$SOCK" show summary >"$T/p1" 2>&1
	check "read-only commands for a user who can connect" grep -q "$RELAY_ID" "$T/p1"
	setpriv --reuid=4242 --regid=4242 --clear-groups -- \
	    "$RELAYCTL" -s "$SOCK" reload >"$T/p2" 2>&1
	st=$?
	check "changing commands refused for that user" \
	    sh -c "[ $st -ne 0 ] && grep -q 'permission denied' '$T/p2'"
else
	echo "# permission checks need a second uid (root): not run"
fi
"$RELAYCTL" -s "$T/no-such.sock" show summary >"$T/nosock" 2>&1
check "a missing socket says whether relayd runs" grep -q "is relayd running" "$T/nosock"
finish
