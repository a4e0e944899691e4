#!/bin/sh
# SPDX-License-Identifier: ISC
#
# bench/client.sh: end-to-end throughput of relay-client through relayd,
# next to OpenSSH moving the same file on the same machine in the same
# run (ratios mean more than MB/s on a shared, noisy machine):
#   relay-client   connect -> relayd -> expose -> a TCP sink, e2e encrypted
#   ssh direct     ssh -c chacha20-poly1305@openssh.com to a private sshd
#   ssh via relay  the same ssh with relay-client connect as ProxyCommand
# and, for a local port carried to a remote service:
#   forward        relay-client forward -L -> relayd -> expose -> the sink
#   ssh -L         ssh -c chacha20-poly1305@openssh.com -L to the sink
# Each figure is the best of BENCH_RUNS (default 3) uploads of one file
# of BENCH_MIB MiB (default 256); every transfer's byte count is checked.
# Run from a build directory after make: `make bench-client`.
set -u
: "${top_builddir:=$(pwd)}"
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
. "$top_srcdir/tests/e2e/lib.sh"
. "$top_srcdir/tests/e2e/sshd.sh"
MIB=${BENCH_MIB:-256}
RUNS=${BENCH_RUNS:-3}
RC="$top_builddir/relay-client/relay-client"
HELPER="$top_srcdir/tests/e2e/client-helper.py"
HOME="$T/home"
export HOME
mkdir -p "$HOME"
# what this starts goes into PIDS: lib.sh's trap stops it

BYTES=$((MIB * 1048576))
head -c "$BYTES" /dev/urandom >"$T/file"

# best MB/s of RUNS runs of a command that uploads $T/file and prints
# the byte count the far end received
best() {
	b=0
	for i in $(seq "$RUNS"); do
		t0=$(date +%s%N)
		got=$("$@" <"$T/file" 2>>"$T/bench.err" | tr -d ' ')
		t1=$(date +%s%N)
		if [ "$got" != "$BYTES" ]; then
			echo "a transfer moved '$got' bytes, not $BYTES: $*" >&2
			tail -n 5 "$T/bench.err" >&2
			exit 1
		fi
		b=$(echo "$t0 $t1 $BYTES $b" |
		    awk '{ v = $3 / (($2 - $1) / 1e3); print (v > $4) ? v : $4 }')
	done
	printf '%.0f\n' "$b"
}

relay_start </dev/null || exit 1
R="127.0.0.1:$PORT"
"$RC" keygen -f "$T/k1" >/dev/null 2>&1
"$RC" keygen -f "$T/k2" >/dev/null 2>&1
python3 "$HELPER" sink "$T/sink.port" &
PIDS="$PIDS $!"
i=0
while [ ! -s "$T/sink.port" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
"$RC" expose -r "$R" -K "$RELAY_ID" -f "$T/k1" -n sink \
    "127.0.0.1:$(cat "$T/sink.port")" 2>"$T/expose-sink.log" &
PIDS="$PIDS $!"
if ! sshd_start "$T/ssh"; then
	echo "bench/client.sh needs OpenSSH: $SSHD_MISSING" >&2
	exit 1
fi
PIDS="$PIDS $SSHD_PID"
"$RC" expose -r "$R" -K "$RELAY_ID" -f "$T/k1" -n myhost \
    "127.0.0.1:$SSH_PORT" 2>"$T/expose-ssh.log" &
PIDS="$PIDS $!"
i=0
until grep -q "lease sink registered" "$T/expose-sink.log" &&
    grep -q "lease myhost registered" "$T/expose-ssh.log"; do
	i=$((i + 1))
	if [ $i -gt 100 ]; then
		echo "expose did not register" >&2
		exit 1
	fi
	sleep 0.1
done

CIPHER="-c chacha20-poly1305@openssh.com -o Compression=no"
PROXY="ProxyCommand=$RC connect -r $R -K $RELAY_ID -f $T/k2 myhost"
# shellcheck disable=SC2086
rc=$(best "$RC" connect -r "$R" -K "$RELAY_ID" -f "$T/k2" sink)
# shellcheck disable=SC2086
direct=$(best ssh $SSH_OPTS $CIPHER -p "$SSH_PORT" "$SSH_USER@127.0.0.1" 'wc -c')
# shellcheck disable=SC2086
via=$(best ssh $SSH_OPTS $CIPHER -o "$PROXY" "$SSH_USER@myhost" 'wc -c')

# the tunnels: relay-client forward, and ssh -L, each to the sink
FWD_PORT=$(free_port)
"$RC" forward -r "$R" -K "$RELAY_ID" -f "$T/k2" -L "127.0.0.1:$FWD_PORT" sink \
    2>"$T/forward.log" &
PIDS="$PIDS $!"
SSHL_PORT=$(free_port)
# shellcheck disable=SC2086
ssh $SSH_OPTS $CIPHER -N -o ExitOnForwardFailure=yes \
    -L "127.0.0.1:$SSHL_PORT:127.0.0.1:$(cat "$T/sink.port")" \
    -p "$SSH_PORT" "$SSH_USER@127.0.0.1" 2>"$T/ssh-L.log" &
PIDS="$PIDS $!"
i=0
until grep -q forwarding "$T/forward.log" &&
    python3 -c "import socket; socket.create_connection(('127.0.0.1', $SSHL_PORT))" 2>/dev/null; do
	i=$((i + 1))
	if [ $i -gt 100 ]; then
		echo "forward or ssh -L did not start" >&2
		cat "$T/forward.log" "$T/ssh-L.log" >&2
		exit 1
	fi
	sleep 0.1
done
fwd=$(best python3 "$HELPER" upload "$FWD_PORT" "$T/file")
sshl=$(best python3 "$HELPER" upload "$SSHL_PORT" "$T/file")

ratio() { echo "$1 $2" | awk '{ printf "%.2f", $1 / $2 }'; }
echo "upload of one $MIB MiB file, best of $RUNS, MB/s (10^6 bytes/s):"
echo "  relay-client connect, e2e through relayd   $rc"
echo "  ssh -c chacha20-poly1305, direct           $direct"
echo "  ssh -c chacha20-poly1305, via relay-client $via"
echo "  relay-client / ssh direct: $(ratio "$rc" "$direct")"
echo "  ssh via relay-client / ssh direct: $(ratio "$via" "$direct")"
echo "a local port carried to the sink, same file, best of $RUNS, MB/s:"
echo "  relay-client forward -L, e2e through relayd $fwd"
echo "  ssh -c chacha20-poly1305 -L                 $sshl"
echo "  relay-client forward / ssh -L: $(ratio "$fwd" "$sshl")"
