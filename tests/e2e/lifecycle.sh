#!/bin/sh
# SPDX-License-Identifier: ISC
# lifecycle.sh: the process tree, reload with a good and a bad file,
# SIGTERM leaving nothing behind, a dying worker restarted in place, and
# nothing left running once relayd stops.
. "$(dirname "$0")/lib.sh"

children() {
	ps -o pid= --ppid "$1" 2>/dev/null | tr -d ' '
}

relay_start <<EOT || exit 1
lease ttl 30 max 600
EOT

# ---- the process tree ----
ps -o args= --ppid "$RELAYD_PID" >"$T/ps.out"
for role in "lease" "conn 0" "conn 1" "fwd 0" "fwd 1"; do
	check "a worker titled \"relayd: $role\"" \
	    grep -qx "relayd: $role *" "$T/ps.out"
done
check "five workers, no more" [ "$(wc -l <"$T/ps.out")" -eq 5 ]
check "the parent is titled relayd: parent" \
    sh -c "ps -o args= -p $RELAYD_PID | grep -q '^relayd: parent'"
pids="$RELAYD_PID $(children "$RELAYD_PID")"
nnp=0
for p in $(children "$RELAYD_PID"); do
	grep -q '^NoNewPrivs:[[:space:]]*1' "/proc/$p/status" && nnp=$((nnp + 1))
done
check "every worker has NoNewPrivs set" [ "$nnp" -eq 5 ]

# ---- a listening socket per conn worker, the address not shared ----
# The LISTEN sockets on the port (/proc/net/tcp: state 0A), by inode.
listen_inodes() {
	awk -v p=":$(printf '%04X' "$PORT")" \
	    'substr($2, length($2) - 4) == p && $4 == "0A" { print $10 }' \
	    /proc/net/tcp | sort
}
# The listening sockets a process holds.
held_listeners() {
	links=$(for f in "/proc/$1/fd/"*; do readlink "$f"; done 2>/dev/null)
	for i in $(listen_inodes); do
		echo "$links" | grep -qx "socket:\[$i\]" && echo "$i"
	done
}
c0=$(ps -o pid=,args= --ppid "$RELAYD_PID" | awk '/relayd: conn 0/ { print $1 }')
c1=$(ps -o pid=,args= --ppid "$RELAYD_PID" | awk '/relayd: conn 1/ { print $1 }')
check "two listening sockets on the port, one per conn worker ($(listen_inodes | wc -l))" \
    [ "$(listen_inodes | wc -l)" -eq 2 ]
one_each() {
	[ "$(held_listeners "$c0" | wc -l)" -eq 1 ] &&
	    [ "$(held_listeners "$c1" | wc -l)" -eq 1 ] &&
	    [ "$(held_listeners "$c0")" != "$(held_listeners "$c1")" ]
}
check "conn 0 and conn 1 each hold one, not the same" one_each
cat >"$T/second.conf" <<EOT
listen on 127.0.0.1 port $PORT
identity "$T/identity2"
socket "$T/second.sock"
EOT
if [ "$ROOT_MODE" = 1 ]; then
	printf 'user _relayd\nchroot "%s"\n' "$T/empty" >>"$T/second.conf"
fi
[ "$(id -u)" -eq 0 ] && [ "$ROOT_MODE" = 0 ] && chown 65534:65534 "$T/second.conf"
timeout 10 $AS_RELAY_USER "$RELAYD" -d -f "$T/second.conf" >"$T/second.log" 2>&1
st=$?
check "a second relayd on the same port, as the same user, is refused (status $st)" \
    [ "$st" -eq 1 ]
check "... saying the address is in use" grep -q "Address already in use" "$T/second.log"
first_listens() {
	kill -0 "$RELAYD_PID" && [ "$(listen_inodes | wc -l)" -eq 2 ]
}
check "... and the first still listens on both sockets" first_listens

# ---- reload: a good file ----
sed -i 's/^lease ttl 30 max 600/lease ttl 45 max 900/' "$T/relayd.conf"
kill -HUP "$RELAYD_PID"
wait_for 100 grep -q "configuration reloaded from" "$T/relayd.log"
check "SIGHUP with a good file reloads" grep -q "configuration reloaded from" "$T/relayd.log"
workers_reloaded() {
	[ "$(grep -c 'configuration reloaded$' "$T/relayd.log")" -ge 5 ]
}
wait_for 100 workers_reloaded
check "the workers took the new configuration" workers_reloaded

# ---- reload: a bad file keeps the old configuration and says why ----
cp "$T/relayd.conf" "$T/good.conf"
echo "lease ttl banana" >>"$T/relayd.conf"
kill -HUP "$RELAYD_PID"
wait_for 100 grep -q "reload failed" "$T/relayd.log"
check "SIGHUP with a bad file is refused" grep -q "reload failed" "$T/relayd.log"
check "the refusal names file and line" \
    grep -q "relayd.conf:[0-9]*:" "$T/relayd.log"
check "relayd keeps running after a bad reload" kill -0 "$RELAYD_PID"
cp "$T/good.conf" "$T/relayd.conf"

# ---- SIGTERM: everything stops, status 0, socket removed ----
relay_stop
check "SIGTERM: exit status 0" [ "${RELAYD_STATUS:-1}" -eq 0 ]
left=0
for p in $pids; do kill -0 "$p" 2>/dev/null && left=$((left + 1)); done
check "SIGTERM leaves no process behind" [ "$left" -eq 0 ]
check "SIGTERM removes the control socket" [ ! -e "$SOCK" ]

# ---- a worker dies: it is restarted in place, the others keep running ----
relay_start </dev/null || exit 1
victim=$(ps -o pid=,args= --ppid "$RELAYD_PID" | awk '/conn 0/ {print $1}')
others=$(ps -o pid=,args= --ppid "$RELAYD_PID" | awk '!/conn 0/ {print $1}')
kill -KILL "$victim"
wait_for 100 grep -q "conn 0 restarted (pid [0-9]*)" "$T/relayd.log"
check "the log names the dead worker" \
    grep -q "conn 0 (pid $victim) was killed by signal 9" "$T/relayd.log"
check "a dead conn worker is restarted" \
    grep -q "conn 0 restarted (pid [0-9]*)" "$T/relayd.log"
newpid=$(sed -n 's/.*conn 0 restarted (pid \([0-9]*\)).*/\1/p' \
    "$T/relayd.log" | tail -n 1)
check "relayd keeps running" kill -0 "$RELAYD_PID"
check "the new conn 0 runs" kill -0 "${newpid:-0}"
alive=0
for p in $others; do kill -0 "$p" 2>/dev/null && alive=$((alive + 1)); done
check "the other workers kept running" [ "$alive" -eq 4 ]
summary_shows_new() {
	"$RELAYCTL" -s "$SOCK" -j show summary >"$T/summary.json" 2>/dev/null &&
	    grep -q "\"pid\": *$newpid" "$T/summary.json" &&
	    grep -Eq '"respawns": *1' "$T/summary.json"
}
wait_for 100 summary_shows_new
check "show summary has the new pid and one respawn" summary_shows_new
pids="$RELAYD_PID $(children "$RELAYD_PID")"
relay_stop
check "relayd then stops with status 0" [ "${RELAYD_STATUS:-1}" -eq 0 ]
left=0
for p in $pids; do kill -0 "$p" 2>/dev/null && left=$((left + 1)); done
check "nothing is left running after relayd stopped" [ "$left" -eq 0 ]

finish
