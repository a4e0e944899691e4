#!/bin/sh
# SPDX-License-Identifier: ISC
# protocol.sh: the control protocol and forwarding through a running
# relayd, driven by proto_test (a client built on libcommon).
. "$(dirname "$0")/lib.sh"

RESV_ID=$("$PROTO_TEST" keygen "$T/reserved.key") || exit 1
relay_start <<EOT || exit 1
lease limit 3 per id, 1000 total
timeout handshake 5 pairing 5 idle 30 accept 2
connect rate 5 burst 10
reserve name "reserved-name" for id "$RESV_ID"
EOT

"$PROTO_TEST" "$PORT" "$RELAY_ID" reserved-name "$T/reserved.key" \
    >"$T/proto.out" 2>&1
st=$?
cat "$T/proto.out"
grep -q "^ok - " "$T/proto.out" || not_ok "proto_test ran no check"
grep -q "^not ok" "$T/proto.out" && not_ok "proto_test has failures"
[ $st -eq 0 ] && ok "proto_test exit status" || not_ok "proto_test exit status $st"
check "relayd is still running after all that" kill -0 "$RELAYD_PID"
relay_stop
check "SIGTERM stops relayd with status 0" [ "${RELAYD_STATUS:-1}" -eq 0 ]
finish
