#!/bin/sh
# SPDX-License-Identifier: ISC
# lifecycle.sh: the process tree, reload with a good and a bad file,
# SIGTERM leaving nothing behind, and a dying worker stopping the daemon
# with a non-zero status and nothing left running.
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

# ---- reload: a good file ----
sed -i 's/^lease ttl 30 max 600/lease ttl 45 max 900/' "$T/relayd.conf"
kill -HUP "$RELAYD_PID"
i=0
while ! grep -q "configuration reloaded from" "$T/relayd.log" && [ $i -lt 50 ]; do
	sleep 0.1; i=$((i + 1))
done
check "SIGHUP with a good file reloads" grep -q "configuration reloaded from" "$T/relayd.log"
check "the workers took the new configuration" \
    sh -c "[ \$(grep -c 'configuration reloaded\$' '$T/relayd.log') -ge 5 ]"

# ---- reload: a bad file keeps the old configuration and says why ----
cp "$T/relayd.conf" "$T/good.conf"
echo "lease ttl banana" >>"$T/relayd.conf"
kill -HUP "$RELAYD_PID"
i=0
while ! grep -q "reload failed" "$T/relayd.log" && [ $i -lt 50 ]; do
	sleep 0.1; i=$((i + 1))
done
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

# ---- a worker dies: the daemon stops, non-zero, nothing left ----
relay_start </dev/null || exit 1
pids="$RELAYD_PID $(children "$RELAYD_PID")"
victim=$(ps -o pid=,args= --ppid "$RELAYD_PID" | awk '/conn 0/ {print $1}')
kill -KILL "$victim"
wait "$RELAYD_PID"
st=$?
RELAYD_PID=""
check "a killed worker stops relayd with a non-zero status ($st)" [ "$st" -ne 0 ]
check "the log names the dead worker" \
    grep -q "conn 0 (pid $victim) was killed by signal 9" "$T/relayd.log"
sleep 0.2
left=0
for p in $pids; do kill -0 "$p" 2>/dev/null && left=$((left + 1)); done
check "nothing is left running after a worker died" [ "$left" -eq 0 ]

finish
