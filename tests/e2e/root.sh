#!/bin/sh
# SPDX-License-Identifier: ISC
# root.sh: the privileged path, when the tests run as root (CI does).
# relayd starts as root: every worker must run as the unprivileged user
# with no other group, inside the empty chroot, while the parent stays
# root; then the protocol and relay-client suites run against it. The
# user is created if missing; nothing else on the system is changed.
# Not root: skipped (exit 77), which automake reports as SKIP, never as
# a pass.
if [ "$(id -u)" -ne 0 ]; then
	echo "root.sh: needs root for chroot and the user switch: skipped"
	exit 77
fi
RELAYD_AS_ROOT=1
export RELAYD_AS_ROOT
. "$(dirname "$0")/lib.sh"

if ! getent passwd _relayd >/dev/null; then
	useradd --system --no-create-home --home-dir /nonexistent \
	    --shell /usr/sbin/nologin _relayd || exit 1
	echo "created the system user _relayd"
fi
uid=$(id -u _relayd)
gid=$(id -g _relayd)

relay_start </dev/null || exit 1
check "the parent runs as root" \
    grep -q "^Uid:[[:space:]]*0[[:space:]]" "/proc/$RELAYD_PID/status"
n=0
for p in $(ps -o pid= --ppid "$RELAYD_PID"); do
	n=$((n + 1))
	title=$(ps -o args= -p "$p")
	check "$title: real, effective, saved and fs uid are _relayd" \
	    grep -Eq "^Uid:[[:space:]]+$uid[[:space:]]+$uid[[:space:]]+$uid[[:space:]]+$uid\$" "/proc/$p/status"
	check "$title: gids are _relayd's" \
	    grep -Eq "^Gid:[[:space:]]+$gid[[:space:]]+$gid[[:space:]]+$gid[[:space:]]+$gid\$" "/proc/$p/status"
	check "$title: no supplementary group but its own" \
	    grep -Eq "^Groups:[[:space:]]*($gid[[:space:]]*)?\$" "/proc/$p/status"
	check "$title: root directory is the empty chroot" \
	    [ "$(readlink "/proc/$p/root")" = "$T/empty" ]
	check "$title: Seccomp 2, NoNewPrivs 1" \
	    sh -c "grep -q '^Seccomp:[[:space:]]*2' /proc/$p/status && grep -q '^NoNewPrivs:[[:space:]]*1' /proc/$p/status"
done
check "five workers were checked" [ "$n" -eq 5 ]
check "the chroot is empty and root-owned" \
    sh -c "[ -z \"\$(ls -A '$T/empty')\" ] && [ \"\$(stat -c %u:%a '$T/empty')\" = 0:755 ]"
check "the control socket is 0660, group _relayd" \
    [ "$(stat -c '%a %g' "$SOCK")" = "660 $gid" ]
check "the identity is 0600 root" \
    [ "$(stat -c '%a %u' "$T/identity")" = "600 0" ]
"$PROTO_TEST" keygen "$T/resv.key" >/dev/null
"$RELAYCTL" -s "$SOCK" show summary >"$T/summary" 2>&1
check "relay-ctl answers a relayd started as root" grep -q "$RELAY_ID" "$T/summary"
relay_stop
check "SIGTERM: status 0" [ "${RELAYD_STATUS:-1}" -eq 0 ]

# the whole protocol suite against a relayd started as root
if sh "$(dirname "$0")/protocol.sh" >"$T/proto-root.out" 2>&1; then
	ok "the protocol suite passes against relayd started as root"
else
	cat "$T/proto-root.out"
	not_ok "the protocol suite against relayd started as root"
fi
# and relay-client's suite, smaller: real sessions through the chroot
if CLIENT_SESSIONS=50 BIG_MIB=64 sh "$(dirname "$0")/client.sh" \
    >"$T/client-root.out" 2>&1; then
	ok "the relay-client suite passes against relayd started as root"
else
	cat "$T/client-root.out"
	not_ok "the relay-client suite against relayd started as root"
fi
finish
