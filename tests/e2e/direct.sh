#!/bin/sh
# SPDX-License-Identifier: ISC
# direct.sh: direct paths (relay-protocol(7), DIRECT PATHS) through NATs
# built here from network namespaces, veth pairs and nftables:
#
#   public ---- relayd 203.0.113.1, a host without NAT (.30), an attacker (.66)
#     |  \
#   nat-a  nat-b          routers: masquerade, and (like any home router)
#     |      |            new inbound connections from the WAN dropped
#   lan-a  lan-b          10.1.0.0/24 (hosts .2 and .3), 10.2.0.0/24 (.2)
#
# A router is "easy" (masquerade persistent: the port a host used stays
# its port outside, whatever the destination), "hard" (masquerade
# fully-random: endpoint-dependent, a new port per destination) or
# "strict" (easy, and every inbound TCP segment with SYN set, SYN-ACKs
# included, dropped unless it comes from the relay: a stateful "drop
# unsolicited SYNs" rule alone lets a simultaneous open through, since
# the peer's SYN answers one of ours). There is no WAN delay: this kernel
# has no sch_netem, and the path choice does not depend on it (the
# requester waits a fixed window, relay-protocol(7)).
#
# Cases, each checked from relay-client's -v log and relayd's counters:
# easy x easy -> direct, 64 MiB each way intact, 0 bytes through relayd;
# easy x hard and hard x hard -> relayed, intact, the fallback decided
# within the window; two hosts on one LAN -> direct over the local
# address; a strict firewall -> relayed; --no-direct on either side and
# "direct-paths no" on the relay -> relayed; ssh through connect as
# ProxyCommand over a direct path; forward -L over one; an attacker that
# knows a holder's direct-path port and the session id gets no session;
# no process is left behind (each is stopped by its PID). It prints the
# matrix (NAT x NAT -> path, setup p50), the setup times and one direct
# session's throughput next to a relayed one's, measured in this run.
#
# Needs root (namespaces), nft and ip; not root: skipped (77).
# DIRECT_MIB: the big transfer, each way (default 64); DIRECT_RUNS: setup
# measurements per cell (default 5).
if [ "$(id -u)" -ne 0 ]; then
	echo "direct.sh: needs root for network namespaces: skipped"
	exit 77
fi
for tool in ip nft; do
	if ! command -v "$tool" >/dev/null; then
		echo "direct.sh: $tool is missing (apt-get install iproute2" \
		    "nftables)" >&2
		exit 1
	fi
done
. "$(dirname "$0")/lib.sh"

RC=${RELAY_CLIENT:-"$top_builddir/relay-client/relay-client"}
HELPER="$top_srcdir/tests/e2e/client-helper.py"
ATTACKER="$top_srcdir/tests/e2e/direct-attacker.py"
MIB=${DIRECT_MIB:-64}
RUNS=${DIRECT_RUNS:-5}

# ---- the network: every name carries the prefix and this PID ----
N="clrl$$"
NS_PUB=$N-pub NS_NATA=$N-nata NS_NATB=$N-natb NS_HA=$N-ha NS_HA2=$N-ha2
NS_HB=$N-hb NS_HP=$N-hp NS_ATK=$N-atk
ALL_NS="$NS_HA $NS_HA2 $NS_HB $NS_HP $NS_ATK $NS_NATA $NS_NATB $NS_PUB"
RELAY_IP=203.0.113.1

net_down() {
	for ns in $ALL_NS; do
		ip netns del "$ns" 2>/dev/null
	done
}

direct_cleanup() {
	[ -n "${DIRECT_KEEP:-}" ] && cp -r "$T" "$DIRECT_KEEP"
	cleanup		# lib.sh: every PID started, relayd, $T
	net_down
}
trap direct_cleanup EXIT

in_ns() {
	ns=$1
	shift
	ip netns exec "$ns" "$@"
}

# veth_pair NS1 IF1 NS2 IF2: created in place, never in this namespace
veth_pair() {
	ip link add "$2" netns "$1" type veth peer name "$4" netns "$3"
	ip -n "$1" link set "$2" up
	ip -n "$3" link set "$4" up
}

net_up() {
	for ns in $ALL_NS; do
		ip netns add "$ns" || return 1
		ip -n "$ns" link set lo up
	done
	ip -n "$NS_PUB" link add wan type bridge
	ip -n "$NS_PUB" link set wan up
	ip -n "$NS_PUB" addr add "$RELAY_IP/24" dev wan
	for r in a b; do
		ns=$N-nat$r
		veth_pair "$ns" wan "$NS_PUB" "p-$r"
		ip -n "$NS_PUB" link set "p-$r" master wan
		ip -n "$ns" link add lan type bridge
		ip -n "$ns" link set lan up
		in_ns "$ns" sysctl -qw net.ipv4.ip_forward=1
	done
	ip -n "$NS_NATA" addr add 203.0.113.10/24 dev wan
	ip -n "$NS_NATB" addr add 203.0.113.20/24 dev wan
	ip -n "$NS_NATA" addr add 10.1.0.1/24 dev lan
	ip -n "$NS_NATB" addr add 10.2.0.1/24 dev lan
	lan_host "$NS_HA" "$NS_NATA" l-a 10.1.0.2 10.1.0.1
	lan_host "$NS_HA2" "$NS_NATA" l-a2 10.1.0.3 10.1.0.1
	lan_host "$NS_HB" "$NS_NATB" l-b 10.2.0.2 10.2.0.1
	pub_host "$NS_HP" p-p 203.0.113.30
	pub_host "$NS_ATK" p-x 203.0.113.66
}

lan_host() {
	veth_pair "$1" eth0 "$2" "$3"
	ip -n "$2" link set "$3" master lan
	ip -n "$1" addr add "$4/24" dev eth0
	ip -n "$1" route add default via "$5"
}

pub_host() {
	veth_pair "$1" eth0 "$NS_PUB" "$2"
	ip -n "$NS_PUB" link set "$2" master wan
	ip -n "$1" addr add "$3/24" dev eth0
}

# nat ROUTER easy|hard|strict
nat() {
	case $2 in
	easy)	masq="masquerade persistent"; strict="" ;;
	hard)	masq="masquerade fully-random"; strict="" ;;
	strict)	masq="masquerade persistent"
		strict="iifname \"wan\" tcp flags syn ip saddr != $RELAY_IP drop" ;;
	esac
	in_ns "$1" nft -f - <<EOT
table ip clrl_nat {}
delete table ip clrl_nat
table ip clrl_nat {
	chain post {
		type nat hook postrouting priority srcnat;
		oifname "wan" $masq
	}
	chain wan_in {
		type filter hook input priority filter;
		$strict
		iifname "wan" ct state new drop
	}
	chain wan_fwd {
		type filter hook forward priority filter;
		$strict
		iifname "wan" ct state new drop
	}
}
EOT
}

if ! net_up; then
	echo "direct.sh: cannot build the test network" >&2
	exit 1
fi
nat "$NS_NATA" easy
nat "$NS_NATB" easy

# ---- relayd in the public namespace ----
AS_RELAY_USER="ip netns exec $NS_PUB $AS_RELAY_USER"
relay_start <<EOT || exit 1
listen on $RELAY_IP port 7420
connect rate 1000 burst 2000
EOT
R="$RELAY_IP:7420"
check "the test network: host a reaches relayd through nat-a" \
    in_ns "$NS_HA" python3 -c "import socket
socket.create_connection(('$RELAY_IP', 7420), 5)"
stat() {
	"$RELAYCTL" -s "$SOCK" show stats |
	    awk -v l="$1" 'index($0, l " ") == 1 { print $NF }'
}

# Each host: a key, an echo service and a duplex service on its loopback.
for h in ha ha2 hb hp; do
	eval "ns=\$NS_$(echo $h | tr a-z A-Z)"
	"$RC" keygen -f "$T/$h.key" >"$T/$h.id" 2>/dev/null
	bg ip netns exec "$ns" python3 "$HELPER" echo "$T/$h.echo"
	bg ip netns exec "$ns" python3 "$HELPER" duplex "$T/$h.duplex" 2 "$MIB" \
	    "$T/$h.duplex.result"
done
for h in ha ha2 hb hp; do
	wait_secs 10 test -s "$T/$h.echo" && wait_secs 10 test -s "$T/$h.duplex"
done

# expose HOST LEASE SERVICE [options...]: registered before it returns
expose() {
	h=$1 lease=$2 svc=$3
	shift 3
	eval "ns=\$NS_$(echo $h | tr a-z A-Z)"
	bg ip netns exec "$ns" "$RC" -v expose -r "$R" -K "$RELAY_ID" -f "$T/$h.key" \
	    -n "$lease" "$@" "127.0.0.1:$(cat "$T/$h.$svc")" \
	    2>"$T/expose-$lease.log"
	echo "$LAST_PID" >"$T/pid-$lease"
	wait_secs 20 grep -q "lease $lease registered" "$T/expose-$lease.log"
}

# unexpose LEASE: that expose stops
unexpose() {
	up=$(cat "$T/pid-$1")
	kill "$up" 2>/dev/null
	gone() { ! kill -0 "$up" 2>/dev/null; }
	wait_secs 20 gone || kill -KILL "$up" 2>/dev/null
	wait "$up" 2>/dev/null
}

# conn HOST LOG [options...] LEASE: connect with stdin and stdout as given
conn() {
	h=$1 log=$2
	shift 2
	eval "ns=\$NS_$(echo $h | tr a-z A-Z)"
	in_ns "$ns" "$RC" -v connect -r "$R" -K "$RELAY_ID" -f "$T/$h.key" \
	    "$@" 2>"$log"
}

# setup_ms HOST LEASE [options]: one echo round through a new session,
# in milliseconds; "fail" if the echo did not come back
setup_ms() {
	h=$1
	shift
	t0=$(date +%s%N)
	got=$(echo ping | conn "$h" "$T/setup.log" "$@")
	t1=$(date +%s%N)
	if [ "$got" = ping ]; then
		echo $(((t1 - t0) / 1000000))
	else
		echo fail
	fi
}

# p50 HOST LEASE [options]: the median of RUNS setups; $T/paths: the
# path each took
p50() {
	runs=""
	: >"$T/paths"
	i=0
	while [ $i -lt "$RUNS" ]; do
		runs="$runs $(setup_ms "$@")"
		path_of "$T/setup.log" >>"$T/paths"
		i=$((i + 1))
	done
	echo $runs | tr ' ' '\n' | sort -n | awk '
	    { v[NR] = $1 } END { print (NR ? v[int((NR + 1) / 2)] : "fail") }'
}

# path_of LOG: what the requester's log says the session took
path_of() {
	if grep -q ": direct to " "$1"; then
		echo direct
	elif grep -q ": relayed" "$1"; then
		echo relayed
	else
		echo none
	fi
}

# big HOST LEASE LOGNAME [options]: MIB each way at once, checked by
# SHA-256 on both ends; sets BIG_OK, BIG_MBS, and the relay's bytes
big() {
	h=$1 lease=$2 name=$3
	shift 3
	eval "svc_host=\$BIG_HOST_$(echo "$lease" | tr a-z- A-Z_)"
	rm -f "$T/$svc_host.duplex.result"
	b0=$(stat "bytes forwarded")
	t0=$(date +%s%N)
	{
		python3 "$HELPER" gen 1 "$MIB" "$T/$name.sent" |
		    conn "$h" "$T/$name.log" "$@" "$lease"
		echo $? >"$T/$name.st"
	} | sha256sum | cut -d' ' -f1 >"$T/$name.got"
	t1=$(date +%s%N)
	wait_secs 20 test -s "$T/$svc_host.duplex.result"
	BIG_RELAYED=$(($(stat "bytes forwarded") - b0))
	BIG_MBS=$(echo "$t0 $t1 $MIB" |
	    awk '{ printf "%.0f", 2 * $3 * 1048576 / (($2 - $1) / 1e3) }')
	bytes=$((MIB * 1048576))
	BIG_OK=0
	[ "$(cat "$T/$name.st")" = 0 ] &&
	    [ "received $(cat "$T/$name.sent")" = \
	    "$(grep ^received "$T/$svc_host.duplex.result")" ] &&
	    [ "sent $bytes $(cat "$T/$name.got")" = \
	    "$(grep ^sent "$T/$svc_host.duplex.result")" ] && BIG_OK=1
}

# ---- easy x easy: direct, the big transfer intact, nothing via relayd ----
# Linux NAT reuses a binding it already holds for a source port, even one
# made while the router was "hard": so each phase after a change of NAT
# type gets holders of its own (new ports), as a real NAT never changes.
expose hb echo-b echo
expose hb big-b duplex
BIG_HOST_BIG_B=hb
d0=$(stat "sessions moved to a direct path")
big ha big-b big-direct
check "easy x easy: $MIB MiB each way intact ($BIG_MBS MB/s both ways)" \
    [ "$BIG_OK" = 1 ]
DIRECT_MBS=$BIG_MBS
check "... over a direct path (the requester's log: $(grep -o 'direct to .*' "$T/big-direct.log" | head -n 1))" \
    [ "$(path_of "$T/big-direct.log")" = direct ]
check "... the holder took it too" \
    grep -q ": direct from " "$T/expose-big-b.log"
check "... relayd forwarded $BIG_RELAYED bytes of it" [ "$BIG_RELAYED" -eq 0 ]
check "... relayd counted a direct session" \
    [ "$(stat "sessions moved to a direct path")" -eq $((d0 + 1)) ]
[ "$BIG_OK" = 1 ] || cat "$T/big-direct.log" "$T/expose-big-b.log" >&2

# relay-ctl show sessions marks a running direct session; its end
# takes it out of the table (the holder says so)
mkfifo "$T/hold"
ip netns exec "$NS_HA" "$RC" -v connect -r "$R" -K "$RELAY_ID" \
    -f "$T/ha.key" echo-b <"$T/hold" >"$T/hold.out" 2>"$T/hold.log" &
HOLD_PID=$!
PIDS="$PIDS $HOLD_PID"
exec 4<>"$T/hold"	# read-write: never blocks, even with no reader
session_direct() {
	"$RELAYCTL" -s "$SOCK" show sessions | grep -q " echo-b .* direct "
}
check "relay-ctl show sessions marks the running session direct" \
    wait_secs 20 session_direct
SID=$("$RELAYCTL" -s "$SOCK" show sessions |
    awk '/ echo-b .* direct / { print $1 }')
echo done >&4
exec 4>&-
hold_done() { ! kill -0 "$HOLD_PID" 2>/dev/null; }
wait_secs 30 hold_done || kill "$HOLD_PID" 2>/dev/null
wait "$HOLD_PID" 2>/dev/null
session_gone() {
	! "$RELAYCTL" -s "$SOCK" show sessions | grep -q "^$SID "
}
check "... it ends cleanly ($(cat "$T/hold.out"))" \
    sh -c "[ \"\$(cat '$T/hold.out')\" = done ]"
check "... and leaves the table" wait_secs 20 session_gone

# ---- the matrix: NAT x NAT, path and setup p50 ----
cell() {
	nat "$NS_NATA" "$1"
	nat "$NS_NATB" "$2"
	expose hb "m-$1-$2" echo
	ms=$(p50 ha "m-$1-$2")
	unexpose "m-$1-$2"
	echo "$1 x $2: $ms ms, $(tr '\n' ' ' <"$T/paths")"
}
# matrix A: the cells with nat-a of type A, one line each in MATRIX
matrix() {
	for b in easy hard strict; do
		cell "$1" "$b" >"$T/cell"
		line=$(cat "$T/cell")
		MATRIX="$MATRIX
#   nat-a $line"
		case "$1 $b" in
		"easy easy")	want=direct ;;
		*)		want=relayed ;;
		esac
		got=$(sort -u "$T/paths" | tr '\n' ' ' | sed 's/ *$//')
		check "matrix $1 x $b: every session $want ($line)" \
		    [ "$got" = "$want" ]
	done
	nat "$NS_NATA" easy
	nat "$NS_NATB" easy
}
MATRIX=""
# nat-a stays easy until the end: a hard nat-a comes last (see above)
matrix easy
# ---- a failed punch: relayed, intact, decided within the window ----
nat "$NS_NATB" hard
expose hb big-h duplex
BIG_HOST_BIG_H=hb
big ha big-h big-hard
check "easy x hard: $MIB MiB each way intact, relayed ($BIG_MBS MB/s)" \
    sh -c "[ $BIG_OK = 1 ] && [ \"\$(grep -c ': relayed' '$T/big-hard.log')\" -ge 1 ]"
RELAYED_MBS=$BIG_MBS
win=$(sed -n 's/.*relayed: no direct path in \([0-9]*\) ms.*/\1/p' \
    "$T/big-hard.log" | head -n 1)
check "... the requester gave up on direct paths after ${win:-?} ms (window 450, bound 500 + scheduling)" \
    sh -c "[ -n '$win' ] && [ '$win' -ge 450 ] && [ '$win' -lt 1000 ]"
check "... relayd counted the failed punch" \
    [ "$(stat "direct path attempts failed")" -ge 1 ]
unexpose big-h
nat "$NS_NATB" easy
unexpose echo-b
unexpose big-b
expose hb echo-c echo

# ---- the same LAN behind one NAT: direct over the local address ----
expose ha2 echo-a2 echo
got=$(echo "same lan" | conn ha "$T/lan.log" echo-a2)
check "same LAN: the session works ($got)" [ "$got" = "same lan" ]
check "... direct over the holder's local address ($(grep -o 'direct to .*' "$T/lan.log"))" \
    grep -q ": direct to 10.1.0.3:.*its local" "$T/lan.log"

# ---- --no-direct on either side, direct-paths no on the relay ----
got=$(echo "no direct" | conn ha "$T/nodirect-c.log" --no-direct echo-c)
check "connect --no-direct: relayed, works ($got)" \
    sh -c "[ '$got' = 'no direct' ] && ! grep -q 'trying direct' '$T/nodirect-c.log'"
expose hb echo-old echo --no-direct
got=$(echo "old holder" | conn ha "$T/nodirect-e.log" echo-old)
check "expose --no-direct (an old holder): relayed, works ($got)" \
    sh -c "[ '$got' = 'old holder' ] && [ \"\$(cat '$T/nodirect-e.log' | grep -c 'trying direct')\" = 0 ] &&
	! grep -q 'direct from' '$T/expose-echo-old.log'"
cp "$T/relayd.conf" "$T/relayd.conf.on"
echo "direct-paths no" >>"$T/relayd.conf"
"$RELAYCTL" -s "$SOCK" reload >/dev/null
d0=$(stat "sessions moved to a direct path")
got=$(echo "relay says no" | conn ha "$T/relayoff.log" echo-c)
check "direct-paths no on the relay: relayed, works ($got)" \
    sh -c "[ '$got' = 'relay says no' ] && ! grep -q 'trying direct' '$T/relayoff.log' &&
	[ \"\$('$RELAYCTL' -s '$SOCK' show stats | awk '/^sessions moved to a direct path / { print \$NF }')\" = $d0 ]"
cp "$T/relayd.conf.on" "$T/relayd.conf"
"$RELAYCTL" -s "$SOCK" reload >/dev/null
got=$(echo "on again" | conn ha "$T/relayon.log" echo-c)
check "direct-paths on again after a reload: direct ($got)" \
    sh -c "[ '$got' = 'on again' ] && grep -q ': direct to' '$T/relayon.log'"

# ---- ssh through connect as ProxyCommand over a direct path ----
. "$top_srcdir/tests/e2e/sshd.sh"
SSHD_NETNS=$NS_HB
if ! sshd_start "$T/ssh"; then
	not_ok "ssh over a direct path: $SSHD_MISSING"
else
	PIDS="$PIDS $SSHD_PID"
	echo "$SSH_PORT" >"$T/hb.ssh"
	expose hb myhost ssh -a ssh
	PROXY="ProxyCommand=ip netns exec $NS_HA $RC -v connect -r $R -K $RELAY_ID -f $T/ha.key -a ssh myhost"
	# shellcheck disable=SC2086
	got=$(in_ns "$NS_HA" ssh $SSH_OPTS -o "$PROXY" "$SSH_USER@myhost" \
	    'echo ssh-ok' </dev/null 2>"$T/ssh.err" | head -n 1)
	check "ssh through connect as ProxyCommand ($got)" [ "$got" = ssh-ok ]
	check "... over a direct path" grep -q ": direct to " "$T/ssh.err"
fi

# ---- forward: each local connection its own session, direct too ----
bg ip netns exec "$NS_HA" "$RC" -v forward -r "$R" -K "$RELAY_ID" \
    -f "$T/ha.key" -L 127.0.0.1:7777 echo-c 2>"$T/forward.log"
wait_secs 20 grep -q "forwarding" "$T/forward.log"
printf 'via forward' >"$T/via-forward"
got=$(in_ns "$NS_HA" python3 "$HELPER" upload 7777 "$T/via-forward")
check "forward -L: a session through it works ($got)" [ "$got" = "via forward" ]
check "... over a direct path" grep -q ": direct to " "$T/forward.log"

# ---- an attacker on the public side: no session for it ----
# The holder is on the public network (its listener reachable by anyone);
# the requester is behind a strict firewall with --direct-only, so the
# holder keeps listening for the whole handshake deadline. The attacker
# knows the holder's address and port and the session id.
nat "$NS_NATA" strict
expose hp echo-p echo
bg ip netns exec "$NS_HA" "$RC" -v connect -r "$R" -K "$RELAY_ID" -f "$T/ha.key" \
    --direct-only echo-p </dev/null >/dev/null 2>"$T/victim.log"
VICTIM=$LAST_PID
wait_secs 20 sh -c "'$RELAYCTL' -s '$SOCK' show sessions | grep -q ' echo-p '"
ASID=$("$RELAYCTL" -s "$SOCK" show sessions | awk '/ echo-p / { print $1 }' | head -n 1)
HP_PORT=$("$RELAYCTL" -s "$SOCK" show leases |
    awk '/^echo-p / { n = split($6, a, ":"); print a[n] }')
in_ns "$NS_ATK" python3 "$ATTACKER" 203.0.113.30 "$HP_PORT" "$ASID" tcp 4 \
    >"$T/attacker.out" 2>&1
st=$?
check "an attacker with the session id: no session ($(tail -n 1 "$T/attacker.out"))" \
    [ "$st" -eq 0 ]
check "... the holder refused its proven ID" \
    grep -q "the peer proved ID .*, not the requester's .*: refused" \
    "$T/expose-echo-p.log"
check "... and no connection reached the holder's service" \
    sh -c "! grep -q 'session .*: from .*, connecting to' '$T/expose-echo-p.log'"
kill "$VICTIM" 2>/dev/null
nat "$NS_NATA" easy

# ---- the figures ----
nat "$NS_NATA" easy
nat "$NS_NATB" easy
s_direct=$(p50 ha echo-c)
s_relayed=$(p50 ha echo-c --no-direct)
nat "$NS_NATB" hard
expose hb echo-h echo
s_failed=$(p50 ha echo-h)
unexpose echo-h
nat "$NS_NATB" easy
matrix hard
cat <<EOT
# direct paths, measured in this run (no WAN delay; $RUNS runs each; setup
# = a new connect process until one echo came back):
# success matrix, NAT x NAT -> setup p50, path of each run:$MATRIX
# setup p50: relayed only (--no-direct) $s_relayed ms, direct $s_direct ms,
#   failed punch (easy x hard) then relayed $s_failed ms
# throughput, $MIB MiB each way at once: direct $DIRECT_MBS MB/s,
#   relayed $RELAYED_MBS MB/s (both directions together)
EOT
finish
