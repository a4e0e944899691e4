#!/bin/sh
# SPDX-License-Identifier: ISC
# sandbox-debug.sh: the protocol, lifecycle and (smaller) relay-client
# suites again, with the
# sandbox in debug mode (relayd -S): a forbidden call is logged instead of
# killing, and any such line fails the run. This is how a missing
# allowlist entry is caught before it kills a worker in production.
dir=$(dirname "$0")
st=0
RELAYD_SANDBOX_DEBUG=1 sh "$dir/protocol.sh" || st=1
RELAYD_SANDBOX_DEBUG=1 sh "$dir/lifecycle.sh" || st=1
RELAYD_SANDBOX_DEBUG=1 CLIENT_SESSIONS=50 BIG_MIB=64 sh "$dir/client.sh" || st=1
exit $st
