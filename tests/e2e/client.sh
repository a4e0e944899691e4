#!/bin/sh
# SPDX-License-Identifier: ISC
# client.sh: relay-client against a private relayd: keygen and id; expose
# and connect carrying bytes both ways with half-close; the exit status
# and message of each refusal; connect by ID; known_relays trust on first
# use; a shim that records the relay's bytes (no plaintext) and one that
# flips a byte (integrity error, no altered output); a dishonest relay
# answering with another lease holder (refused); list as text and JSON;
# forward -L carrying HTTP; ssh and scp through connect as ProxyCommand
# to a private sshd; many sessions at once through one expose; lease
# renewal past several TTLs; re-registration after a relayd restart; a
# changed relay ID refused.
#
# CLIENT_SESSIONS sets how many concurrent sessions (default 200);
# BIG_MIB the size of the transfer each way (default 256).
# RELAY_CLIENT names the binary under test.
. "$(dirname "$0")/lib.sh"

RELAY_CLIENT=${RELAY_CLIENT:-"$top_builddir/relay-client/relay-client"}
HELPER="$top_srcdir/tests/e2e/client-helper.py"
SESSIONS=${CLIENT_SESSIONS:-200}
RC=$RELAY_CLIENT

client_home

# Everything this script starts goes into PIDS (bg): lib.sh's trap stops
# it. After the first start, relayd comes back on the same port
# (FIXED_PORT).

# ttl 2 for the renewal test; after it, relayd comes back with a TTL that
# no delay of a loaded machine makes expire between renewals
RELAY_LIMITS="connect rate 1000 burst 2000
connection limit 5000 per address, 10000 total
session limit 1000 per lease, 10000 total"
RELAY_CONF="lease ttl 2 max 2
$RELAY_LIMITS"
RELAY_CONF_LATER="lease ttl 60 max 60
$RELAY_LIMITS"

# ---- keygen and id ----
id1=$("$RC" keygen 2>"$T/keygen.err")
check "keygen prints an ID" sh -c "echo '$id1' | grep -Eqx '[a-z2-7]{32}'"
check "keygen makes ~/.config/relay 0700" \
    sh -c "[ \$(stat -c %a '$HOME/.config/relay') = 700 ]"
check "keygen writes the key 0600" \
    sh -c "[ \$(stat -c %a '$HOME/.config/relay/identity') = 600 ]"
check "id prints the same ID" [ "$("$RC" id)" = "$id1" ]
"$RC" keygen >/dev/null 2>"$T/keygen2.err"
st=$?
check "keygen refuses to overwrite (status $st)" [ "$st" -eq 1 ]
check "... and says so" grep -q "refusing to overwrite" "$T/keygen2.err"
id2=$("$RC" keygen -f "$T/key2" 2>/dev/null)
id3=$("$RC" keygen -f "$T/key3" 2>/dev/null)
check "keygen -f: another ID" sh -c "[ -n '$id2' ] && [ '$id2' != '$id1' ]"
cp "$T/key2" "$T/key-open"
chmod 644 "$T/key-open"
"$RC" id -f "$T/key-open" >/dev/null 2>"$T/id-open.err"
st=$?
check "id refuses a key others can read (status $st)" [ "$st" -eq 1 ]
check "... saying how to fix it" grep -q "chmod 600" "$T/id-open.err"
ln -s "$T/key2" "$T/key-link"
"$RC" id -f "$T/key-link" >/dev/null 2>"$T/id-link.err"
st=$?
check "id refuses a symbolic link, saying so (status $st)" \
    sh -c "[ $st -eq 1 ] && grep -q 'symbolic link' '$T/id-link.err'"
"$RC" keygen -f "$T/no/such/dir/key" >/dev/null 2>"$T/keygen-nodir.err"
st=$?
check "keygen -f into a missing directory: status $st, the file named" \
    sh -c "[ $st -eq 1 ] && grep -q 'cannot create $T/no/such/dir/key: .*directory must exist' '$T/keygen-nodir.err'"

# ---- OpenSSL's configuration file is not read ----
# This one names a provider that does not exist, with diagnostics on: any
# program that reads it fails to set OpenSSL up. relay-client and relayd
# (every worker too) start with it all the same.
cat >"$T/bad-openssl.cnf" <<'EOT'
config_diagnostics = 1
openssl_conf = openssl_init
[openssl_init]
providers = provider_sect
[provider_sect]
nosuch = nosuch_sect
[nosuch_sect]
activate = 1
EOT
id4=$(OPENSSL_CONF="$T/bad-openssl.cnf" "$RC" keygen -f "$T/key4" \
    2>"$T/keygen-conf.err")
check "keygen with a broken OPENSSL_CONF, which it does not read" \
    sh -c "echo '$id4' | grep -Eqx '[a-z2-7]{32}'"

# ---- relayd, targets, exposes ----
OPENSSL_CONF="$T/bad-openssl.cnf"
export OPENSSL_CONF
relay_start <<EOT
$RELAY_CONF
EOT
st=$?
unset OPENSSL_CONF
check "relayd starts with a broken OPENSSL_CONF, which it does not read" \
    [ "$st" -eq 0 ]
[ "$st" -eq 0 ] || exit 1
FIXED_PORT=$PORT
R="127.0.0.1:$PORT"

"$RC" list -r "$R" -K "$RELAY_ID" -f "$T/key2" >"$T/list-empty.out" \
    2>"$T/list-empty.err"
st=$?
check "list on a relay with no leases: status $st, nothing on stdout" \
    sh -c "[ $st -eq 0 ] && [ ! -s '$T/list-empty.out' ] &&
	grep -q 'no public leases' '$T/list-empty.err'"

bg python3 "$HELPER" echo "$T/echo.port"
bg python3 "$HELPER" sum "$T/sum.port"
if ! wait_secs 5 test -s "$T/echo.port" ||
    ! wait_secs 5 test -s "$T/sum.port"; then
	echo "test servers did not start" >&2
	exit 1
fi
ECHO_PORT=$(cat "$T/echo.port")
SUM_PORT=$(cat "$T/sum.port")

bg "$RC" -v expose -r "$R" -n echo -a tcp -a echo -d "an echo service" \
    "127.0.0.1:$ECHO_PORT" 2>"$T/expose-echo.log"
EXPOSE_ECHO=$LAST_PID
check "expose registers the lease" \
    wait_secs 10 grep -q "lease echo registered" "$T/expose-echo.log"
check "the first use of the relay is stored and said loudly" \
    grep -q "first connection to the relay $R: its ID is $RELAY_ID" \
    "$T/expose-echo.log"
check "known_relays holds the relay's ID" \
    grep -qx "$R $RELAY_ID" "$HOME/.config/relay/known_relays"

# the sum service, exposed with key3 and an allow list naming key2 only
printf '# who may connect\n\n%s   # key2\n' "$id2" >"$T/allow"
bg "$RC" expose -r "$R" -f "$T/key3" -n sum --allow "$T/allow" \
    "127.0.0.1:$SUM_PORT" 2>"$T/expose-sum.log"
wait_secs 10 grep -q "lease sum registered" "$T/expose-sum.log"

# ---- bytes both ways, half-close ----
head -c 1048576 /dev/urandom >"$T/data"
"$RC" connect -r "$R" -f "$T/key2" echo <"$T/data" >"$T/data.out" \
    2>"$T/connect1.err"
st=$?
check "connect by name: exit 0 (status $st)" [ "$st" -eq 0 ]
check "1 MiB through expose and back, unchanged" cmp -s "$T/data" "$T/data.out"

want="$(wc -c <"$T/data" | tr -d ' ') $(sha256sum "$T/data" | cut -d' ' -f1)"
got=$("$RC" connect -r "$R" -f "$T/key2" sum <"$T/data" 2>"$T/connect2.err")
check "half-close: the target sees the end, then answers ($got)" \
    [ "$got" = "$want" ]
got=$("$RC" connect -r "$R" -f "$T/key2" sum </dev/null 2>/dev/null)
check "half-close with no input at all" \
    [ "$got" = "0 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" ]

# ---- BIG_MIB (default 256) MiB each way at once, checked by SHA-256 ----
# The target sends its own stream while it hashes what arrives; connect's
# input is another stream, hashed where it is made, and its output is
# hashed by sha256sum. The MB/s shown is information, not a check: the
# comparison with ssh is bench/client.sh.
BIG_MIB=${BIG_MIB:-256}
bg python3 "$HELPER" duplex "$T/big.port" 2 "$BIG_MIB" "$T/big.target"
wait_secs 5 test -s "$T/big.port"
bg "$RC" expose -r "$R" -f "$T/key3" -n big --hidden "127.0.0.1:$(cat "$T/big.port")" \
    2>"$T/expose-big.log"
wait_secs 10 grep -q "lease big registered" "$T/expose-big.log"
t0=$(date +%s%N)
{
	python3 "$HELPER" gen 1 "$BIG_MIB" "$T/big.sent" |
	    "$RC" connect -r "$R" -f "$T/key2" big 2>"$T/big.err"
	echo $? >"$T/big.st"
} | sha256sum | cut -d' ' -f1 >"$T/big.got"
t1=$(date +%s%N)
wait_secs 10 test -s "$T/big.target"
bytes=$((BIG_MIB * 1048576))
mbs=$(echo "$t0 $t1 $BIG_MIB" |
    awk '{ printf "%.0f", 2 * $3 * 1048576 / (($2 - $1) / 1e3) }')
check "$BIG_MIB MiB each way at once: connect exits 0 ($mbs MB/s both ways together)" \
    [ "$(cat "$T/big.st")" = 0 ]
check "... the target got the SHA-256 that connect's input had" \
    sh -c "[ \"received \$(cat '$T/big.sent')\" = \"\$(grep ^received '$T/big.target')\" ]"
check "... connect's output has the SHA-256 the target sent" \
    sh -c "[ \"sent $bytes \$(cat '$T/big.got')\" = \"\$(grep ^sent '$T/big.target')\" ]"
[ "$(cat "$T/big.st")" = 0 ] || cat "$T/big.err" "$T/expose-big.log" >&2

# ---- a slow reader: the peer's last records and its close wait in
# connect's buffers after the relay has ended the connection; that is
# not a truncation ----
bg python3 "$HELPER" duplex "$T/tail.port" 3 6 "$T/tail.target"
wait_secs 5 test -s "$T/tail.port"
bg "$RC" expose -r "$R" -f "$T/key3" -n tail --hidden \
    "127.0.0.1:$(cat "$T/tail.port")" 2>"$T/expose-tail.log"
wait_secs 10 grep -q "lease tail registered" "$T/expose-tail.log"
python3 "$HELPER" gen 3 6 "$T/tail.want" >/dev/null
{
	"$RC" connect -r "$R" -f "$T/key2" tail </dev/null 2>"$T/tail.err"
	echo $? >"$T/tail.st"
} | python3 "$HELPER" slow >"$T/tail.got"
check "a slow reader gets all 6 MiB and exit 0 ($(cat "$T/tail.st"))" \
    sh -c "[ \"\$(cat '$T/tail.st') \$(cat '$T/tail.got')\" = \"0 \$(cat '$T/tail.want')\" ]"
[ "$(cat "$T/tail.st")" = 0 ] || cat "$T/tail.err" >&2

got=$(echo "by id" | "$RC" connect -r "$R" -f "$T/key2" -a echo "$id1" 2>&1)
check "connect by ID ($got)" [ "$got" = "by id" ]
upper=$(echo "$id1" | tr '[:lower:]' '[:upper:]')
got=$(echo "by ID" | "$RC" connect -r "$R" -f "$T/key2" "$upper" 2>&1)
check "connect by ID in upper case" [ "$got" = "by ID" ]

# connect shares its stdout with whatever comes next in a pipeline: it
# must leave it blocking, or a slow reader makes the next writer fail.
# The reader waits until the pipe is full (the next writer must block).
got=$({
	echo hello | "$RC" connect -r "$R" -f "$T/key2" echo 2>/dev/null
	head -c 4194304 /dev/zero
} | python3 "$HELPER" count-when-full)
check "connect leaves a shared stdout blocking ($got)" \
    [ "$got" = "full 4194310" ]

# ---- refusals: status and message ----
"$RC" connect -r "$R" -f "$T/key2" nosuchlease </dev/null >/dev/null \
    2>"$T/e-nf.err"
st=$?
check "unknown name: status 3 ($st)" [ "$st" -eq 3 ]
check "... message says not found" grep -q "not found" "$T/e-nf.err"

"$RC" connect -r "$R" -f "$T/key2" -a ssh echo </dev/null >/dev/null \
    2>"$T/e-alpn.err"
st=$?
check "ALPN mismatch: status 5 ($st)" [ "$st" -eq 5 ]
check "... message says ALPN mismatch" grep -q "ALPN mismatch" "$T/e-alpn.err"

"$RC" connect -r "$R" sum </dev/null >/dev/null 2>"$T/e-rej.err"
st=$?
check "an ID not on the allow list: status 4 ($st)" [ "$st" -eq 4 ]
check "... rejected, with the reason" \
    grep -q "rejected by the lease holder: ID $id1 is not on the holder's allow list" \
    "$T/e-rej.err"
check "expose logs the refusal" grep -q "refused" "$T/expose-sum.log"

"$RC" connect -r "$R" -f "$T/key2" aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa \
    </dev/null >/dev/null 2>"$T/e-id.err"
st=$?
check "an ID with no lease: status 3 ($st)" [ "$st" -eq 3 ]

"$RC" connect -r "$R" -f "$T/key2" 'Bad_Name' </dev/null >/dev/null 2>&1
st=$?
check "a malformed target: status 1 ($st)" [ "$st" -eq 1 ]

"$RC" connect -r "127.0.0.1:$(free_port)" -K "$RELAY_ID" echo \
    </dev/null >/dev/null 2>"$T/e-unreach.err"
st=$?
check "no relay there: status 2 ($st)" [ "$st" -eq 2 ]
check "... message says cannot connect" grep -q "cannot connect" "$T/e-unreach.err"

"$RC" connect -r "$R" -K aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa echo </dev/null \
    >/dev/null 2>"$T/e-k.err"
st=$?
check "-K with another relay ID: status 7 ($st)" [ "$st" -eq 7 ]

# ---- the relay sees only ciphertext and cannot alter it unnoticed ----
# A shim between connect and relayd records every byte it carries; a
# second one also flips one byte the relay sends on the data connection.
bg python3 "$HELPER" shim "$T/shim.port" "$PORT" "$T/shim.dump"
bg python3 "$HELPER" shim "$T/flip.port" "$PORT" "$T/flip.dump" 300
wait_secs 5 test -s "$T/shim.port" && wait_secs 5 test -s "$T/flip.port"
SHIM="127.0.0.1:$(cat "$T/shim.port")"
FLIP="127.0.0.1:$(cat "$T/flip.port")"
python3 -c 'import sys; sys.stdout.write("PLAINTEXT-MARKER-7f3a " * 5000)' \
    >"$T/marker"
"$RC" connect -r "$SHIM" -K "$RELAY_ID" -f "$T/key2" echo <"$T/marker" \
    >"$T/marker.out" 2>"$T/shim.err"
check "a session through a recording shim carries the data" \
    cmp -s "$T/marker" "$T/marker.out"
check "the shim recorded the session" \
    sh -c "[ \$(wc -c <'$T/shim.dump') -gt \$(wc -c <'$T/marker') ]"
check "the plaintext marker never crossed the relay" \
    sh -c "! grep -q PLAINTEXT-MARKER '$T/shim.dump'"
"$RC" connect -r "$FLIP" -K "$RELAY_ID" -f "$T/key2" echo <"$T/marker" \
    >"$T/flip.out" 2>"$T/flip.err"
st=$?
check "one flipped byte on the way: the session fails, status 13 ($st)" \
    [ "$st" -eq 13 ]
check "... with the integrity error" grep -q "integrity failure" "$T/flip.err"
check "... and no altered byte reaches stdout" sh -c \
    "head -c \$(wc -c <'$T/flip.out') '$T/marker' | cmp -s - '$T/flip.out'"

# ---- a relay that answers with another lease holder is refused ----
# The fake relay needs python3's cryptography package (Debian's
# python3-cryptography); a python3 first on PATH may lack it.
FAKE_PY=""
for py in python3 /usr/bin/python3; do
	if "$py" -c 'import cryptography.hazmat.primitives.asymmetric.ed25519' \
	    2>/dev/null; then
		FAKE_PY=$py
		break
	fi
done
if [ -n "$FAKE_PY" ]; then
	for mode in swap lie; do
		case $mode in
		swap)	what="answers the handshake as the holder" ;;
		lie)	what="names another holder in Connected" ;;
		esac
		bg "$FAKE_PY" "$top_srcdir/tests/e2e/client-fakerelay.py" \
		    "$T/fake-$mode.port" "$mode"
		wait_secs 5 test -s "$T/fake-$mode.port"
		read -r fport fid <"$T/fake-$mode.port"
		"$RC" connect -r "127.0.0.1:$fport" -K "$fid" -f "$T/key2" "$id3" \
		    </dev/null >"$T/fake-$mode.out" 2>"$T/fake-$mode.err"
		st=$?
		check "a relay that $what: status 6 ($st)" \
		    [ "$st" -eq 6 ]
		check "... refused as an ID mismatch, nothing on stdout" sh -c \
		    "grep -q 'ID mismatch' '$T/fake-$mode.err' &&
		    [ ! -s '$T/fake-$mode.out' ]"
	done
	bg "$FAKE_PY" "$top_srcdir/tests/e2e/client-fakerelay.py" \
	    "$T/fake-escape.port" escape
	wait_secs 5 test -s "$T/fake-escape.port"
	read -r fport fid <"$T/fake-escape.port"
	"$RC" connect -r "127.0.0.1:$fport" -K "$fid" -f "$T/key2" "$id3" \
	    </dev/null >/dev/null 2>"$T/fake-escape.err"
	st=$?
	check "a reject reason with terminal escapes: status 4 ($st), defanged" \
	    sh -c "[ $st -eq 4 ] &&
	    grep -q 'rejected by the lease holder: ?\[2J?\]0;owned? why ?31m??' \
	    '$T/fake-escape.err' && ! LC_ALL=C grep -q \"\$(printf '\\033')\" \
	    '$T/fake-escape.err'"
else
	not_ok "dishonest relay: no python3 with the cryptography package" \
	    "(apt-get install python3-cryptography)"
fi

# ---- list ----
"$RC" list -r "$R" >"$T/list.txt" 2>"$T/list.err"
st=$?
check "list: exit 0 ($st)" [ "$st" -eq 0 ]
check "list shows echo with its ID, ALPNs and description" \
    grep -Eq "^echo +$id1 +tcp,echo +[0-9]+s +an echo service$" "$T/list.txt"
check "list shows sum" grep -q "^sum " "$T/list.txt"
"$RC" list -r "$R" -j >"$T/list.json" 2>>"$T/list.err"
check "list -j is valid JSON" python3 -m json.tool "$T/list.json" >/dev/null
check "list -j has both leases, not the hidden one" python3 -c "
import json, sys
d = json.load(open('$T/list.json'))
names = sorted(l['name'] for l in d['leases'])
sys.exit(not (names == ['echo', 'sum'] and d['relay_id'] == '$RELAY_ID'))"

# ---- forward -L carrying HTTP ----
mkdir -p "$T/www"
head -c 300000 /dev/urandom >"$T/www/blob"
HTTP_PORT=$(free_port)
bg python3 -m http.server --bind 127.0.0.1 --directory "$T/www" \
    "$HTTP_PORT" >"$T/http.log" 2>&1
bg "$RC" expose -r "$R" -f "$T/key3" -n web -a http "127.0.0.1:$HTTP_PORT" \
    2>"$T/expose-web.log"
wait_secs 10 grep -q "lease web registered" "$T/expose-web.log"
FWD_PORT=$(free_port)
bg "$RC" forward -r "$R" -f "$T/key2" -L "$FWD_PORT" -a http web \
    2>"$T/forward.log"
wait_secs 10 grep -q "forwarding" "$T/forward.log"
fetch() {
	if command -v curl >/dev/null 2>&1; then
		curl -sf -o "$2" "$1"
	else
		python3 "$HELPER" fetch "$1" "$2"
	fi
}
wait_secs 5 sh -c "python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", $HTTP_PORT))'"
fetch "http://127.0.0.1:$FWD_PORT/blob" "$T/blob.got"
check "forward -L: an HTTP GET through the relay" cmp -s "$T/www/blob" "$T/blob.got"
fetch "http://127.0.0.1:$FWD_PORT/blob" "$T/blob.got2"
check "forward -L: a second GET on the same forward" cmp -s "$T/www/blob" "$T/blob.got2"

# ---- OpenSSH through connect as ProxyCommand, to a private sshd ----
. "$top_srcdir/tests/e2e/sshd.sh"
if ! sshd_start "$T/ssh"; then
	not_ok "ssh through connect: $SSHD_MISSING" \
	    "(apt-get install openssh-server openssh-client)"
else
	PIDS="$PIDS $SSHD_PID"
	bg "$RC" expose -r "$R" -f "$T/key3" -n myhost -a ssh \
	    --allow "$T/allow" "127.0.0.1:$SSH_PORT" 2>"$T/expose-ssh.log"
	wait_secs 10 grep -q "lease myhost registered" "$T/expose-ssh.log"
	PROXY="ProxyCommand=$RC connect -r $R -f $T/key2 -a ssh myhost"
	# shellcheck disable=SC2086
	got=$(ssh $SSH_OPTS -o "$PROXY" "$SSH_USER@myhost" 'echo ssh-ok; hostname' \
	    </dev/null 2>"$T/ssh.err" | head -n 1)
	check "ssh runs a command through connect as ProxyCommand ($got)" \
	    [ "$got" = "ssh-ok" ]
	head -c 2000000 /dev/urandom >"$T/scp.src"
	# shellcheck disable=SC2086
	scp -q $SSH_OPTS -o "$PROXY" "$T/scp.src" "$SSH_USER@myhost:$S/scp.dst" \
	    </dev/null 2>>"$T/ssh.err"
	check "scp copies a file through the relay" cmp -s "$T/scp.src" "$S/scp.dst"
	[ -s "$S/scp.dst" ] || cat "$T/ssh.err" "$S/sshd.log" >&2
fi

# ---- forward out of file descriptors: it pauses, it does not spin ----
FWD_FD=$(free_port)
(
	ulimit -n 20
	exec "$RC" forward -r "$R" -f "$T/key2" -L "127.0.0.1:$FWD_FD" echo
) 2>"$T/forward-fd.log" &
FWD_FD_PID=$!
PIDS="$PIDS $FWD_FD_PID"
wait_secs 10 grep -q "forwarding" "$T/forward-fd.log"
cpu() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
# 40 connections held open until forward has paused its listener twice
# (a second at least between the two): CPU in that time is the measure.
c0=$(cpu "$FWD_FD_PID")
t0=$(date +%s%N)
python3 -c '
import socket, subprocess, sys, time
held = [socket.create_connection(("127.0.0.1", int(sys.argv[1])))
        for _ in range(40)]
deadline = time.monotonic() + 20
while time.monotonic() < deadline:
    if open(sys.argv[2]).read().count("pausing the listener") >= 2:
        break
    time.sleep(0.05)
' "$FWD_FD" "$T/forward-fd.log"
c1=$(cpu "$FWD_FD_PID")
t1=$(date +%s%N)
ticks=$(getconf CLK_TCK)
wall=$(( (t1 - t0) * ticks / 1000000000 ))
check "forward out of descriptors: paused, $((c1 - c0)) ticks of CPU in $wall" \
    sh -c "[ \$(grep -c 'pausing the listener' '$T/forward-fd.log') -ge 2 ] &&
	[ $((4 * (c1 - c0))) -lt $wall ]"
check "... and says so a few times, not in a loop" \
    sh -c "n=\$(grep -c 'pausing the listener' '$T/forward-fd.log');
	[ \$n -ge 1 ] && [ \$n -le 10 ]"
got=$(python3 -c '
import socket, sys, time
for _ in range(50):
    try:
        c = socket.create_connection(("127.0.0.1", int(sys.argv[1])), 5)
        c.settimeout(10)
        c.sendall(b"fds back")
        c.shutdown(socket.SHUT_WR)
        d = c.recv(100)
        if d:
            print(d.decode())
            break
    except OSError:
        pass
    time.sleep(0.2)
' "$FWD_FD")
check "... and serves again once they are free ($got)" [ "$got" = "fds back" ]
kill "$FWD_FD_PID" 2>/dev/null

# ---- many sessions at once through one expose ----
FWD_ECHO=$(free_port)
bg "$RC" forward -r "$R" -f "$T/key2" -L "127.0.0.1:$FWD_ECHO" echo \
    2>"$T/forward-echo.log"
wait_secs 10 grep -q "forwarding" "$T/forward-echo.log"
out=$(python3 "$HELPER" load "$FWD_ECHO" "$SESSIONS" 65536 2>&1)
st=$?
check "$SESSIONS concurrent sessions through one forward and one expose ($out)" [ "$st" -eq 0 ]
if [ "$st" -ne 0 ]; then
	echo "---- forward (what failed):" >&2
	grep -v "renewed\|local connection from\|closed cleanly" \
	    "$T/forward-echo.log" | tail -n 20 >&2
	echo "---- expose echo (what failed):" >&2
	grep -Ev "renewed|accepted from|connecting to|closed cleanly|handshake done" \
	    "$T/expose-echo.log" | tail -n 20 >&2
	"$RELAYCTL" -s "$SOCK" show stats | grep -Ev " 0$" >&2
fi
i=0
pids=""
while [ $i -lt "$SESSIONS" ]; do
	head -c 20000 /dev/urandom >"$T/c$i.in"
	"$RC" connect -r "$R" -f "$T/key2" echo <"$T/c$i.in" >"$T/c$i.out" \
	    2>"$T/c$i.err" &
	pids="$pids $!"
	i=$((i + 1))
done
bad=0
for p in $pids; do wait "$p" || bad=$((bad + 1)); done
i=0
while [ $i -lt "$SESSIONS" ]; do
	cmp -s "$T/c$i.in" "$T/c$i.out" || bad=$((bad + 1))
	i=$((i + 1))
done
check "$SESSIONS concurrent connect processes, all data correct ($bad bad)" [ "$bad" -eq 0 ]
[ "$bad" -ne 0 ] && cat "$T"/c*.err | sort | uniq -c | head >&2

# ---- renewal: ttl 2, renewed at half ----
check "the lease was renewed again and again (ttl 2)" \
    wait_secs 30 sh -c "[ \$(grep -c 'lease echo renewed' '$T/expose-echo.log') -ge 3 ]"
check "relay-ctl still shows the lease" \
    sh -c "'$RELAYCTL' -s '$SOCK' show leases | grep -q '^echo '"
got=$(echo renewed | "$RC" connect -r "$R" -f "$T/key2" echo 2>&1)
check "connect works after several TTLs" [ "$got" = "renewed" ]

# ---- relayd restarts: expose registers again by itself ----
# (a lease that expired under load may have been registered again
# already: count the lines from here on)
rereg() { grep -c "lease $1 re-registered" "$T/expose-$1.log"; }
rereg_since() { [ "$(rereg "$1")" -gt "$2" ]; }
n_echo=$(rereg echo)
n_web=$(rereg web)
relay_stop
relay_start <<EOT || exit 1
$RELAY_CONF_LATER
EOT
check "relayd is back on the same port" \
    sh -c "'$RELAYCTL' -s '$SOCK' show summary | grep -q '^listening: .*:$FIXED_PORT\$'"
check "expose re-registers after the restart" \
    wait_secs 30 rereg_since echo "$n_echo"
wait_secs 30 rereg_since web "$n_web"
got=$(echo "after restart" | "$RC" connect -r "$R" -f "$T/key2" echo 2>&1)
check "connect works after the restart ($got)" [ "$got" = "after restart" ]
fetch "http://127.0.0.1:$FWD_PORT/blob" "$T/blob.got3"
check "the forward reconnects on the next connection" \
    cmp -s "$T/www/blob" "$T/blob.got3"

# ---- a different relay identity on the same address is refused ----
relay_stop
mv "$T/identity" "$T/identity.orig"
relay_start <<EOT || exit 1
$RELAY_CONF_LATER
EOT
NEW_ID=$RELAY_ID
"$RC" connect -r "$R" -f "$T/key2" echo </dev/null >/dev/null 2>"$T/e-changed.err"
st=$?
check "a changed relay ID: status 7 ($st)" [ "$st" -eq 7 ]
check "... the message names the new ID and how to fix it" \
    sh -c "grep -q 'RELAY ID CHANGED' '$T/e-changed.err' &&
	grep -q 'remove line 1' '$T/e-changed.err' &&
	grep -q -- '-K $NEW_ID' '$T/e-changed.err'"
check "expose refuses the changed relay and stops" \
    wait_secs 20 sh -c "! kill -0 $EXPOSE_ECHO"
wait "$EXPOSE_ECHO"
st=$?
check "... with status 7 ($st)" [ "$st" -eq 7 ]
"$RC" connect -r "$R" -f "$T/key2" -K "$NEW_ID" echo </dev/null >/dev/null \
    2>"$T/e-newk.err"
st=$?
check "-K with the new ID gets through the handshake (not found: $st)" [ "$st" -eq 3 ]

finish
