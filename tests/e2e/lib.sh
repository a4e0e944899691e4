# SPDX-License-Identifier: ISC
#
# lib.sh: sourced by the end-to-end tests. Starts a private relayd on a
# free loopback port with its own files under a temporary directory, and
# stops it by PID from a trap; nothing is left running. When the tests
# run as root, relayd runs as the unprivileged user "nobody" (the
# privileged paths have their own tests), so the default suite exercises
# the unprivileged mode with its sandbox, as a developer's machine does.

set -u
: "${top_builddir:=$(pwd)}"
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
RELAYD="$top_builddir/relayd/relayd"
RELAYCTL="$top_builddir/relay-ctl/relay-ctl"
PROTO_TEST="$top_builddir/tests/e2e/proto_test"

T=$(mktemp -d "${TMPDIR:-/tmp}/relayd-test.XXXXXX")
RELAYD_PID=""
tests_passed=0
tests_failed=0

ok() {
	tests_passed=$((tests_passed + 1))
	echo "ok - $*"
}

not_ok() {
	tests_failed=$((tests_failed + 1))
	echo "not ok - $*"
}

# check DESCRIPTION COMMAND...: passes when the command succeeds
check() {
	desc=$1
	shift
	if "$@"; then ok "$desc"; else not_ok "$desc"; fi
}

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# As root, relayd runs as "nobody" through setpriv, which execs it: $!
# is relayd's own PID either way. RELAYD_AS_ROOT=1 (root only) runs it as
# root instead, with the chroot and the user switch: the privileged path.
# RELAYD_SANDBOX_DEBUG=1 runs it with -S, and any forbidden call it logs
# fails the test.
AS_RELAY_USER=""
ROOT_MODE=0
if [ "$(id -u)" -eq 0 ]; then
	if [ "${RELAYD_AS_ROOT:-0}" = 1 ]; then
		ROOT_MODE=1
	else
		AS_RELAY_USER="setpriv --reuid=65534 --regid=65534 --clear-groups --"
	fi
fi
SANDBOX_FLAG=""
[ "${RELAYD_SANDBOX_DEBUG:-0}" = 1 ] && SANDBOX_FLAG="-S"

# relay_start [extra relayd args]: config lines are read from stdin.
relay_start() {
	PORT=$(free_port)
	SOCK="$T/relayd.sock"
	{
		echo "listen on 127.0.0.1 port $PORT"
		echo "identity \"$T/identity\""
		echo "socket \"$SOCK\""
		echo "workers conn 2 fwd 2"
		if [ "$ROOT_MODE" = 1 ]; then
			echo "user _relayd"
			echo "chroot \"$T/empty\""
		fi
		cat
	} >"$T/relayd.conf"
	if [ "$(id -u)" -eq 0 ] && [ "$ROOT_MODE" = 0 ]; then
		chown -R 65534:65534 "$T"
	fi
	[ -f "$T/relayd.log" ] && cat "$T/relayd.log" >>"$T/relayd.all.log"
	: >"$T/relayd.log"
	$AS_RELAY_USER "$RELAYD" -d -v $SANDBOX_FLAG -f "$T/relayd.conf" "$@" \
	    >>"$T/relayd.log" 2>&1 &
	RELAYD_PID=$!
	i=0
	while ! grep -q "ready:" "$T/relayd.log"; do
		i=$((i + 1))
		if [ $i -gt 100 ] || ! kill -0 "$RELAYD_PID" 2>/dev/null; then
			echo "relayd did not start:" >&2
			cat "$T/relayd.log" >&2
			return 1
		fi
		sleep 0.1
	done
	RELAY_ID=$(sed -n 's/.*ready: .* relay ID \([a-z2-7]*\).*/\1/p' \
	    "$T/relayd.log" | tail -n 1)
}

relay_stop() {
	if [ -n "$RELAYD_PID" ] && kill -0 "$RELAYD_PID" 2>/dev/null; then
		kill -TERM "$RELAYD_PID"
		wait "$RELAYD_PID" 2>/dev/null
		RELAYD_STATUS=$?
	fi
	RELAYD_PID=""
}

# wait_for TENTHS COMMAND...: poll COMMAND every tenth of a second until it
# succeeds or TENTHS tenths have passed; the status is COMMAND's last.
wait_for() {
	wf_n=$1
	shift
	while ! "$@"; do
		wf_n=$((wf_n - 1))
		[ "$wf_n" -gt 0 ] || return 1
		sleep 0.1
	done
	return 0
}

# PIDS: what a test started besides relayd (servers, clients); the
# trap stops each by its PID.
PIDS=""

cleanup() {
	for p in $PIDS; do
		kill "$p" 2>/dev/null
	done
	relay_stop
	if [ "$tests_failed" -ne 0 ] && [ -f "$T/relayd.log" ]; then
		echo "---- relayd log: what went wrong" >&2
		cat "$T/relayd.all.log" "$T/relayd.log" 2>/dev/null | grep -E \
		    "fatal|killed|exited|bad message|malformed|forbidden|stopping|failed|parent" >&2
		echo "---- relayd log: the end" >&2
		tail -n 30 "$T/relayd.log" >&2
	fi
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

finish() {
	if [ -n "$SANDBOX_FLAG" ]; then
		cat "$T/relayd.log" >>"$T/relayd.all.log" 2>/dev/null
		if grep -q "forbidden system call" "$T/relayd.all.log"; then
			grep "forbidden system call" "$T/relayd.all.log" | sort -u
			not_ok "sandbox debug: a worker made a forbidden call"
		else
			ok "sandbox debug: no forbidden call was logged"
		fi
	fi
	echo "$tests_passed passed, $tests_failed failed"
	[ "$tests_failed" -eq 0 ] && [ "$tests_passed" -gt 0 ]
}
