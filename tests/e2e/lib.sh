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
. "$top_srcdir/tests/e2e/tally.sh"

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# FIXED_PORT: once a test sets it (after a first relay_start), relayd
# comes back on that port each time it is started again.
FIXED_PORT=""
relay_port() {
	if [ -n "$FIXED_PORT" ]; then echo "$FIXED_PORT"; else free_port; fi
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
	PORT=$(relay_port)
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

# wait_secs SECONDS COMMAND...: wait_for counted in seconds, with the
# command's complaints silenced
wait_secs() {
	ws_n=$(($1 * 10))
	shift
	wait_for "$ws_n" "$@" 2>/dev/null
}

# PIDS: what a test started besides relayd (servers, clients); the
# trap stops each by its PID.
PIDS=""

# bg COMMAND...: COMMAND in the background, its PID in LAST_PID and PIDS
bg() {
	"$@" &
	LAST_PID=$!
	PIDS="$PIDS $LAST_PID"
}

# client_home: a HOME of the test's own under $T, for relay-client's
# keys and known_relays, and no XDG_CONFIG_HOME to lead it elsewhere
client_home() {
	HOME="$T/home"
	export HOME
	unset XDG_CONFIG_HOME
	mkdir -p "$HOME"
}

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
	tally
}

# ---- for the attack tests (hostile.sh, respawn.sh) ----

HOSTILE="$top_builddir/tests/e2e/hostile"
# The system's python3 when there is one: a version manager's shim on
# PATH can take a second or more to start, and these run in polls.
PY3=python3
[ -x /usr/bin/python3 ] && PY3=/usr/bin/python3

# need_hostile: a hard error (status 99) when the attacker is not built
need_hostile() {
	[ -x "$HOSTILE" ] && return 0
	echo "$HOSTILE is missing: make check builds it (or make tests/e2e/hostile)" >&2
	exit 99
}

# legit_session: a new relay-client ($RC) session with the key
# $LEGIT_KEY to the lease echo through the relay $R: 64 KiB, checked
LS=0
legit_session() {
	LS=$((LS + 1))
	head -c 65536 /dev/urandom >"$T/ls$LS.in"
	"$RC" connect -r "$R" -K "$RELAY_ID" -f "$LEGIT_KEY" echo \
	    <"$T/ls$LS.in" >"$T/ls$LS.out" 2>"$T/ls$LS.err" &&
	    cmp -s "$T/ls$LS.in" "$T/ls$LS.out"
}

# val FILE KEY: the value of KEY=value on the last line of FILE with it
# (-1 when there is none)
val() {
	v_v=$(grep "$2=" "$1" 2>/dev/null | tail -n 1 | tr ' ' '\n' |
	    sed -n "s/^$2=//p" | head -n 1)
	echo "${v_v:--1}"
}

# poll_for SECONDS COMMAND...: COMMAND every 0.1 s until it succeeds;
# status 1 if it did not within SECONDS of the clock (a slow COMMAND
# does not stretch the bound).
poll_for() {
	pf_end=$(($(date +%s) + $1))
	shift
	while ! "$@" 2>/dev/null; do
		[ "$(date +%s)" -ge "$pf_end" ] && return 1
		sleep 0.1
	done
}

# ctl_json EXPR ARGS...: relay-ctl -j ARGS, then the Python expression
# EXPR on the document d. Nothing on stdout if either fails.
ctl_json() {
	cj_expr=$1
	shift
	"$RELAYCTL" -s "$SOCK" -j "$@" 2>/dev/null | "$PY3" -c '
import json, sys
try:
    d = json.load(sys.stdin)
    print(eval(sys.argv[1]))
except Exception as e:
    sys.exit(1)' "$cj_expr"
}

# relay_stats FILE: every counter of show stats as "name value" lines
# (errors_sent.CODE for the errors by code); status 1 if none.
relay_stats() {
	ctl_json '"\n".join(["%s %d" % (k, v) for k, v in d["stats"].items() if not isinstance(v, dict)] + ["errors_sent.%s %d" % (k, v) for k, v in d["stats"]["errors_sent"].items()])' \
	    show stats >"$1" && [ -s "$1" ]
}

# stat_delta OLDFILE NEWFILE NAME: how much NAME grew (a missing
# counter counts as 0)
stat_delta() {
	awk -v k="$3" 'FNR == NR { if ($1 == k) o = $2; next }
	    $1 == k { n = $2 } END { print n - o }' "$1" "$2"
}

# relay_workers: "role index pid respawns" for each worker, from
# show summary
relay_workers() {
	ctl_json '"\n".join("%s %d %d %d" % (w["role"], w["index"], w["pid"], w.get("respawns", 0)) for w in d["summary"]["workers"])' \
	    show summary
}

# worker_pid ROLE INDEX: the PID of that worker as show summary says
worker_pid() {
	relay_workers | awk -v r="$1" -v i="$2" '$1 == r && $2 == i { print $3 }'
}

# relay_tree: relayd's PID and its children's, sorted: to compare before
# and after an attack
relay_tree() {
	{
		echo "$RELAYD_PID"
		cat "/proc/$RELAYD_PID/task/$RELAYD_PID/children" 2>/dev/null |
		    tr ' ' '\n'
	} | grep . | sort -n | tr '\n' ' '
}

# relay_start_nofile N [relayd args]: relay_start with RLIMIT_NOFILE
# set to N, soft and hard (relayd raises its soft limit to the hard one).
relay_start_nofile() {
	rsn_saved=$AS_RELAY_USER
	AS_RELAY_USER="prlimit --nofile=$1:$1 -- $rsn_saved"
	shift
	relay_start "$@"
	rsn_st=$?
	AS_RELAY_USER=$rsn_saved
	return $rsn_st
}

# rss_start: sample the RSS of relayd and its workers in the background
# (tests/e2e/rss.py) into $T/rss.out; rss_phase NAME starts a phase.
# A relayd started again gets a sampler of its own: $T/rss.N.out, all of
# them together in $T/rss.out once rss_report runs.
RSS_N=0
rss_start() {
	RSS_N=$((RSS_N + 1))
	RSS_OUT="$T/rss.$RSS_N.out"
	[ -f "$T/rss.phase" ] || echo start >"$T/rss.phase"
	"$PY3" "$top_srcdir/tests/e2e/rss.py" "$RELAYD_PID" "$T/rss.phase" \
	    "$RSS_OUT" &
	RSS_PID=$!
	PIDS="$PIDS $RSS_PID"
	poll_for 10 test -s "$RSS_OUT"
}

rss_phase() {
	echo "$1" >"$T/rss.phase"
	# the sampler has seen the phase once it wrote a line for it
	poll_for 5 grep -q "^$1 " "$RSS_OUT"
}

rss_report() {
	cat "$T"/rss.[0-9]*.out >"$T/rss.out" 2>/dev/null
}
