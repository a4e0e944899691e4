#!/bin/sh
# SPDX-License-Identifier: ISC
# tests/system/run.sh: the packaged relayd under a real systemd. Builds the
# .debs from a clean copy of the tree (dpkg-buildpackage) and checks them
# with lintian; debootstraps a minimal Debian 12 with the mirror of this
# machine's own apt sources; boots it with systemd-nspawn in a private
# network namespace; installs the .debs there with apt (dependencies
# resolve from the archive) and checks, inside: the service and its socket
# are active, relay-ctl answers (root, a member of _relayd; not others),
# the relay ID is logged once, journal lines carry no tag of their own and
# have their priority, every worker runs as _relayd, chrooted, with
# NoNewPrivs and a seccomp filter, a relay-client session carries 10 MB
# intact, reload (good and bad file) and restart are clean and sessions
# work after each, relayd refuses to run without its sockets and works
# without socket activation as relayd(8) documents, the systemd-analyze
# security exposure is at most the figure README.md commits to, a
# reinstall keeps the relay ID, and purge leaves no file and no process.
# Then it powers the container off and removes everything.
#
# Root only (exit 77 otherwise); run by `./quickstart.sh test`. Needs
# debootstrap, systemd-container, debhelper, lintian, dpkg-dev, and the
# Debian archive: an unreachable archive is a failure that says so.
# Everything it starts is stopped by PID in the trap; every wait is a
# bounded poll.
#
# Environment: SYSTEM_TEST_PREFIX names the temporary directory and the
# machine (default relayd-systest); SYSTEM_TEST_DEBS=DIR tests the .debs
# in DIR instead of building them (lintian still runs on them);
# SYSTEM_TEST_CACHE=DIR keeps debootstrap's downloads in DIR.
set -u

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
PREFIX=${SYSTEM_TEST_PREFIX:-relayd-systest}
SUITE=bookworm
T0=$(date +%s)

say() { printf 'system: %s\n' "$*"; }
die() {
	printf 'system: FAIL: %s\n' "$*" >&2
	exit 1
}

if [ "$(id -u)" -ne 0 ]; then
	say "SKIP: needs root (debootstrap, systemd-nspawn): NOT RUN"
	exit 77
fi
for t in debootstrap systemd-nspawn nsenter dpkg-buildpackage lintian \
    wget; do
	command -v "$t" >/dev/null 2>&1 ||
	    die "$t is missing: apt-get install debootstrap systemd-container debhelper dh-sequence-installsysusers lintian dpkg-dev wget"
done

W=$(mktemp -d "/var/tmp/$PREFIX.XXXXXX") || die "mktemp"
TREE="$W/tree"
MACHINE="$PREFIX-$$"
NSPAWN_PID=""
BG_PIDS=""
PID1=""
FAILS=0

# Nothing may be mounted below the tree when it is removed.
remove_tree() {
	if [ -d "$TREE" ] && grep -q " ${TREE}[/ ]" /proc/self/mountinfo; then
		say "still mounted below $TREE: left in place"
		return 1
	fi
	rm -rf "$W"
}

# stop_pid PID [TENTHS]: SIGTERM, then SIGKILL if PID is still there
# after TENTHS tenths of a second (default 100)
stop_pid() {
	kill -0 "$1" 2>/dev/null || return 0
	kill -TERM "$1" 2>/dev/null
	n=${2:-100}
	while kill -0 "$1" 2>/dev/null && [ "$n" -gt 0 ]; do
		sleep 0.1
		n=$((n - 1))
	done
	kill -KILL "$1" 2>/dev/null
	wait "$1" 2>/dev/null
}

cleanup() {
	st=$?
	trap - EXIT INT TERM
	for p in $BG_PIDS; do
		stop_pid "$p"
	done
	# SIGTERM makes nspawn shut the container down in order
	[ -n "$NSPAWN_PID" ] && stop_pid "$NSPAWN_PID" 300
	remove_tree
	exit "$st"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

check() {
	name=$1
	shift
	if "$@"; then
		say "ok - $name"
	else
		say "FAIL - $name"
		FAILS=$((FAILS + 1))
	fi
}

# poll SECONDS COMMAND...: until the command succeeds
poll() {
	n=$(($1 * 10))
	shift
	until "$@" 2>/dev/null; do
		n=$((n - 1))
		[ "$n" -le 0 ] && return 1
		sleep 0.1
	done
}

elapsed() { echo "$(($(date +%s) - T0)) s"; }

# ---- the mirror: this machine's own apt sources, Debian 12 main ----

# One "URI SUITE..." line per deb source: one-line and deb822 formats.
apt_sources() {
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -f "$f" ] || continue
		sed -n 's/^[[:space:]]*deb[[:space:]]\{1,\}\(\[[^]]*\][[:space:]]*\)\{0,1\}\([^[:space:]]*\)[[:space:]]\{1,\}\([^[:space:]]*\).*/\2 \3/p' "$f"
	done
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		awk 'function flush() {
			if (deb && uris != "" && enabled)
				print uris "|" suites
			deb = 0; uris = ""; suites = ""; enabled = 1
		}
		BEGIN { enabled = 1 }
		/^[[:space:]]*$/ { flush(); next }
		/^#/ { next }
		tolower($1) == "types:" { for (i = 2; i <= NF; i++) if ($i == "deb") deb = 1 }
		tolower($1) == "uris:" { $1 = ""; uris = $0 }
		tolower($1) == "suites:" { $1 = ""; suites = $0 }
		tolower($1) == "enabled:" { enabled = (tolower($2) != "no") }
		END { flush() }' "$f" | while IFS='|' read -r uris suites; do
			for u in $uris; do
				for s in $suites; do
					echo "$u $s"
				done
			done
		done
	done
}

MIRROR=$(apt_sources | awk -v s="$SUITE" '$2 == s { print $1; exit }')
[ -n "$MIRROR" ] ||
    die "no deb source for Debian 12 ($SUITE) in /etc/apt/sources.list or /etc/apt/sources.list.d: the test takes its mirror from there"
MIRROR=${MIRROR%/}
say "mirror $MIRROR (from this machine's apt sources)"

case "$MIRROR" in
http://* | https://*)
	wget -q -T 20 -t 2 -O /dev/null "$MIRROR/dists/$SUITE/Release" ||
	    die "the package archive $MIRROR cannot be reached ($MIRROR/dists/$SUITE/Release does not download): the system test needs it to debootstrap Debian 12 and to resolve the packages' dependencies; it did not run"
	;;
file:* | copy:*)
	[ -f "${MIRROR#*:}/dists/$SUITE/Release" ] ||
	    die "the package archive $MIRROR has no dists/$SUITE/Release: the system test did not run"
	;;
*)
	die "mirror $MIRROR: only http, https, file and copy archives are supported"
	;;
esac

# ---- debootstrap (in the background) while the packages build ----

cache=""
if [ -n "${SYSTEM_TEST_CACHE:-}" ]; then
	mkdir -p "$SYSTEM_TEST_CACHE" || die "mkdir $SYSTEM_TEST_CACHE"
	cache="--cache-dir=$(cd "$SYSTEM_TEST_CACHE" && pwd)"
fi
# shellcheck disable=SC2086
debootstrap $cache --variant=minbase --include=systemd,systemd-sysv,dbus \
    "$SUITE" "$TREE" "$MIRROR" >"$W/debootstrap.log" 2>&1 &
DEBOOTSTRAP_PID=$!
BG_PIDS="$BG_PIDS $DEBOOTSTRAP_PID"

if [ -n "${SYSTEM_TEST_DEBS:-}" ]; then
	DEBS=$(cd "$SYSTEM_TEST_DEBS" && pwd) || die "$SYSTEM_TEST_DEBS"
	say "testing the packages in $DEBS"
else
	DEBS="$W/debs"
	mkdir -p "$DEBS/relayd"
	# A clean tree: what git tracks (with its working-copy changes) and
	# new files it does not ignore; from a release tarball, all of it.
	if git -C "$top_srcdir" rev-parse --is-inside-work-tree \
	    >/dev/null 2>&1; then
		(cd "$top_srcdir" && git ls-files -z --cached --others \
		    --exclude-standard) | (cd "$top_srcdir" &&
		    tar -cf - --null -T -) | tar -xf - -C "$DEBS/relayd" ||
		    die "copying the tree"
	else
		(cd "$top_srcdir" && tar -cf - --exclude=./build .) |
		    tar -xf - -C "$DEBS/relayd" || die "copying the tree"
	fi
	say "building the packages (dpkg-buildpackage -us -uc -b)"
	# nocheck: the test suite ran already in this CI run (quickstart.sh
	# test runs make check and distcheck first), and the test
	# dependencies are not needed (the nocheck profile); parallel=2:
	# the CI machine has 2 cores.
	if ! (cd "$DEBS/relayd" && DEB_BUILD_OPTIONS="nocheck parallel=2" \
	    DEB_BUILD_PROFILES=nocheck dpkg-buildpackage -us -uc -b) \
	    >"$W/build.log" 2>&1; then
		grep -E 'error|Error' "$W/build.log" | tail -15
		die "dpkg-buildpackage failed (log above)"
	fi
	say "packages built after $(elapsed)"
fi
RELAYD_DEB=$(ls "$DEBS"/relayd_*.deb 2>/dev/null | head -1)
CLIENT_DEB=$(ls "$DEBS"/relay-client_*.deb 2>/dev/null | head -1)
[ -f "$RELAYD_DEB" ] && [ -f "$CLIENT_DEB" ] ||
    die "no relayd_*.deb and relay-client_*.deb in $DEBS"

# lintian: no error; every warning kept is explained in debian/README.source
lintian --pedantic -I "$DEBS"/*.changes >"$W/lintian.out" 2>&1
sed 's/^/lintian: /' "$W/lintian.out" | grep -v 'running with root'
check "lintian reports no error" sh -c "! grep -q '^E: ' '$W/lintian.out'"
unexplained=""
for tag in $(sed -n 's/^W: [^:]*: \([^ ]*\).*/\1/p' "$W/lintian.out" |
    sort -u); do
	grep -q -- "$tag" "$top_srcdir/debian/README.source" ||
	    unexplained="$unexplained $tag"
done
check "every lintian warning is explained in debian/README.source${unexplained:+ (not:$unexplained)}" \
    [ -z "$unexplained" ]

if ! wait "$DEBOOTSTRAP_PID"; then
	tail -20 "$W/debootstrap.log"
	if grep -qiE 'Failed getting release|Couldn.t download|unable to fetch|Temporary failure|Could not resolve' \
	    "$W/debootstrap.log"; then
		die "debootstrap could not download from the package archive $MIRROR: the archive cannot be reached"
	fi
	die "debootstrap failed (log above)"
fi
BG_PIDS=""
say "Debian 12 tree ready after $(elapsed)"

# ---- inside the tree, before booting: dependencies come from the archive
# now (the container has no network); apt installs them offline later ----

mkdir -p "$TREE/root/systest"
cp "$RELAYD_DEB" "$CLIENT_DEB" "$TREE/root/systest/" || die "copy the .debs"
R=/root/systest/$(basename "$RELAYD_DEB")
C=/root/systest/$(basename "$CLIENT_DEB")
echo "$MACHINE" >"$TREE/etc/hostname"
if ! chroot "$TREE" sh -c "apt-get -o DPkg::Lock::Timeout=300 -qq update &&
    apt-get -o DPkg::Lock::Timeout=300 -qq install -y --download-only \
    $R $C" >"$W/download.log" 2>&1; then
	tail -20 "$W/download.log"
	die "apt in the tree could not download the packages' dependencies from $MIRROR: the archive cannot be reached (log above)"
fi

# An echo service for relay-client expose (perl-base is in minbase).
cat >"$TREE/root/systest/echo.pl" <<'EOF'
use strict;
use IO::Socket::INET;
my $l = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
    LocalPort => $ARGV[0], Listen => 16, ReuseAddr => 1) or die "listen: $!";
$SIG{CHLD} = 'IGNORE';
while (1) {
	my $c = $l->accept or next;
	if (fork() == 0) {
		my $b;
		while (my $n = sysread($c, $b, 65536)) {
			my $o = 0;
			while ($o < $n) {
				my $w = syswrite($c, $b, $n - $o, $o);
				die "write: $!" unless defined $w;
				$o += $w;
			}
		}
		shutdown($c, 1);
		exit 0;
	}
	close $c;
}
EOF

# ---- boot ----

say "booting the tree with systemd-nspawn"
# nspawn's own seccomp allowlist (systemd 252) answers the Landlock calls
# with EPERM, and relayd refuses to start without the Landlock the kernel
# has (relayd(8)): let them through, as a host's systemd does for the unit.
systemd-nspawn --boot --register=no --keep-unit --private-network \
    --system-call-filter="landlock_create_ruleset landlock_add_rule landlock_restrict_self" \
    --console=read-only --machine="$MACHINE" -D "$TREE" \
    >"$W/nspawn.log" 2>&1 </dev/null &
NSPAWN_PID=$!

find_pid1() {
	for c in $(cat /proc/"$NSPAWN_PID"/task/*/children 2>/dev/null); do
		if [ "$(cat /proc/"$c"/comm 2>/dev/null)" = systemd ]; then
			PID1=$c
			return 0
		fi
	done
	return 1
}
poll 60 find_pid1 || { tail -20 "$W/nspawn.log"; die "no systemd in the container after 60 s"; }

# in the container: c CMD ARGS..., csh 'shell text'
c() { nsenter -t "$PID1" -a "$@"; }
csh() { nsenter -t "$PID1" -a sh -c "$1"; }

# PID 1 answers on its private socket once it has set itself up
poll 60 sh -c "nsenter -t $PID1 -a systemctl show -P Version >/dev/null" ||
    die "systemd in the container does not answer after 60 s"
state=$(c timeout 120 systemctl is-system-running --wait 2>&1)
case "$state" in
running) ;;
degraded)
	say "the container booted degraded:"
	c systemctl --failed --no-pager
	;;
*)
	tail -20 "$W/nspawn.log"
	die "the container did not boot: systemctl is-system-running says '$state'"
	;;
esac
say "container running after $(elapsed) (PID 1 is $PID1 here)"

# ---- install ----

if ! c apt-get -o DPkg::Lock::Timeout=300 install -y -q "$R" "$C" \
    >"$W/install.log" 2>&1; then
	tail -30 "$W/install.log"
	die "apt-get install of the .debs failed (log above)"
fi
sed -n 's/^\(Setting up\|Creating\|Created\)/install: &/p' "$W/install.log"
check "relayd.service is active after install" \
    [ "$(c systemctl is-active relayd.service)" = active ]
check "relayd.socket is active after install" \
    [ "$(c systemctl is-active relayd.socket)" = active ]
check "relayd.service is enabled" \
    [ "$(c systemctl is-enabled relayd.service)" = enabled ]
check "the _relayd user and group exist" \
    csh 'getent passwd _relayd >/dev/null && getent group _relayd >/dev/null'
RUID=$(c id -u _relayd)
RGID=$(c id -g _relayd)

# ---- journal: the relay ID once, no repeated tags, priorities ----

RELAY_ID=$(c relay-ctl show summary | sed -n 's/^relay ID: *//p')
c relay-ctl show summary | sed 's/^/summary: /'
check "relay-ctl show summary answers, with the relay ID" \
    sh -c "echo '$RELAY_ID' | grep -Eqx '[a-z2-7]{32}'"
check "relay-ctl -j show stats answers" \
    sh -c "nsenter -t $PID1 -a relay-ctl -j show stats | grep -q '^{\"stats\":{\"conn_accepted\":[0-9]'"
c journalctl -u relayd -o cat --no-pager >"$W/journal1"
check "the first start logs the relay ID once" \
    [ "$(grep -c "created the relay identity.*$RELAY_ID" "$W/journal1")" -eq 1 ]
check "relayd's journal lines have no tag of their own" \
    sh -c "! grep -Eq '^(relayd|parent)\\[[0-9]+\\]: ' '$W/journal1'"
check "relayd took its listeners from relayd.socket" \
    grep -q "socket.* from systemd" "$W/journal1"

# ---- relay-ctl: root, a member of _relayd, nobody else ----

c useradd -M -N -G _relayd relaytest 2>/dev/null
c useradd -M -N relayother 2>/dev/null
check "a member of _relayd may use relay-ctl" \
    sh -c "nsenter -t $PID1 -a setpriv --reuid=relaytest --regid=users \
    --init-groups relay-ctl -s /run/relayd/relayd.sock show summary |
    grep -q '^relay ID: *$RELAY_ID'"
check "a user outside _relayd may not (permission denied)" \
    sh -c "nsenter -t $PID1 -a setpriv --reuid=relayother --regid=users \
    --init-groups relay-ctl -s /run/relayd/relayd.sock show summary \
    2>&1 >/dev/null | grep -qi 'permission denied'"

# ---- the processes: workers sandboxed, parent titled ----

MAINPID=$(c systemctl show -P MainPID relayd)
workers() { c cat /proc/"$MAINPID"/task/"$MAINPID"/children; }
EMPTY=$(c stat -c %d:%i /run/relayd/empty)
check_procs() {
	ok=0
	nw=0
	for p in $(workers); do
		nw=$((nw + 1))
		title=$(c cat /proc/"$p"/cmdline | tr '\0' ' ')
		st=$(c cat /proc/"$p"/status)
		root=$(c readlink /proc/"$p"/root)
		rootid=$(c stat -L -c %d:%i /proc/"$p"/root)
		say "proc $p: $title"
		echo "$st" | grep -E '^(Uid|Gid|Groups|NoNewPrivs|Seccomp):' |
		    sed 's/^/system:     /'
		say "    root -> $root ($(c ls -A /proc/"$p"/root | wc -l) entries)"
		echo "$st" | grep -Eq "^Uid:[[:space:]]+${RUID}[[:space:]]+${RUID}[[:space:]]+${RUID}[[:space:]]+${RUID}\$" &&
		    echo "$st" | grep -Eq "^Gid:[[:space:]]+${RGID}[[:space:]]+${RGID}[[:space:]]+${RGID}[[:space:]]+${RGID}\$" &&
		    echo "$st" | grep -Eq "^Groups:[[:space:]]*${RGID}[[:space:]]*\$" &&
		    echo "$st" | grep -Eq '^NoNewPrivs:[[:space:]]+1$' &&
		    echo "$st" | grep -Eq '^Seccomp:[[:space:]]+2$' &&
		    [ "$rootid" = "$EMPTY" ] && [ "$root" = /run/relayd/empty ] ||
		    ok=1
	done
	[ "$nw" -ge 3 ] && [ "$ok" -eq 0 ]
}
check "every worker: _relayd, its group alone, NoNewPrivs 1, Seccomp 2, root at /run/relayd/empty" \
    check_procs
check "the parent runs as root, its title is \"relayd: parent\"" \
    sh -c "nsenter -t $PID1 -a grep -Eq '^Uid:[[:space:]]+0[[:space:]]' /proc/$MAINPID/status &&
    [ \"\$(nsenter -t $PID1 -a cat /proc/$MAINPID/cmdline | tr '\\0' '|')\" = 'relayd: parent|' ]"

# ---- a session through the packaged relayd ----

csh 'head -c 10485760 /dev/urandom >/root/systest/data &&
    relay-client keygen >/dev/null 2>&1 &&
    relay-client keygen -f /root/systest/key2 >/dev/null 2>&1'
ECHO_PID=$(csh 'perl /root/systest/echo.pl 9000 </dev/null \
    >/root/systest/echo.log 2>&1 & echo $!')
EXPOSE_PID=""
start_expose() {
	EXPOSE_PID=$(csh 'relay-client expose -r 127.0.0.1 -n echo \
	    127.0.0.1:9000 </dev/null >>/root/systest/expose.log 2>&1 &
	    echo $!')
	poll 30 csh 'relay-ctl show leases echo | grep -q echo'
}
stop_expose() {
	[ -n "$EXPOSE_PID" ] && c kill "$EXPOSE_PID" 2>/dev/null
	EXPOSE_PID=""
}
# session LABEL: 10 MB through the relay to the echo service and back
session() {
	rm -f "$TREE/root/systest/out"
	csh 'relay-client connect -r 127.0.0.1 -f /root/systest/key2 echo \
	    </root/systest/data >/root/systest/out 2>/root/systest/connect.log'
	st=$?
	sums=$(csh 'sha256sum /root/systest/data /root/systest/out' |
	    awk '{ print $1 }' | uniq | wc -l)
	[ "$st" -eq 0 ] && [ "$sums" -eq 1 ] &&
	    [ "$(stat -c %s "$TREE/root/systest/out")" -eq 10485760 ] || {
		say "connect exited $st:"
		cat "$TREE/root/systest/connect.log"
		return 1
	}
}
check "relay-client expose registers a lease" start_expose
c relay-ctl log verbose >/dev/null
since=$(c date '+%Y-%m-%d %H:%M:%S')
check "a session carries 10 MB both ways intact (sha256)" session
# a worker's debug line reaches the journal through the parent, with its
# tag and at priority debug
worker_debug() {
	c journalctl -u relayd -p debug..debug --since "$since" -o cat \
	    --no-pager | grep -Eq '^fwd [0-9]+\[[0-9]+\]: session ended'
}
check "a worker's debug line is in the journal at priority debug" \
    poll 10 worker_debug
c relay-ctl log brief >/dev/null

# ---- reload ----

workers_before=$(workers | tr '\n' ' ')
since=$(c date '+%Y-%m-%d %H:%M:%S')
check "systemctl reload relayd succeeds" c systemctl reload relayd
reloaded() {
	[ "$(c journalctl -u relayd -o cat --since "$since" --no-pager |
	    grep -Ec '^(lease|conn [0-9]+|fwd [0-9]+)\[[0-9]+\]: configuration reloaded')" -eq \
	    "$(echo "$workers_before" | wc -w)" ]
}
check "... every worker reloaded" poll 10 reloaded
check "... the same processes serve on" \
    [ "$(c systemctl show -P MainPID relayd)" = "$MAINPID" ] \
    && [ "$(workers | tr '\n' ' ')" = "$workers_before" ]
check "... and nothing went to priority err or worse" \
    sh -c "[ -z \"\$(nsenter -t $PID1 -a journalctl -u relayd -p err \
    --since '$since' -o cat --no-pager)\" ]"
check "a session after the reload" session

csh 'cp /etc/relayd.conf /root/systest/relayd.conf &&
    echo "no such keyword" >>/etc/relayd.conf'
since=$(c date '+%Y-%m-%d %H:%M:%S')
check "a reload with a bad file fails" \
    sh -c "! nsenter -t $PID1 -a systemctl reload relayd 2>/dev/null"
check "... the journal says why at priority err" \
    sh -c "nsenter -t $PID1 -a journalctl -u relayd -p err --since '$since' \
    -o cat --no-pager | grep -q 'reload failed'"
check "... and relayd serves on" \
    [ "$(c systemctl is-active relayd)" = active ]
csh 'cp /root/systest/relayd.conf /etc/relayd.conf'
check "a session after the failed reload" session

# ---- restart ----

since=$(c date '+%Y-%m-%d %H:%M:%S')
check "systemctl restart relayd succeeds" c systemctl restart relayd
check "... relayd is active again, a new parent" \
    sh -c "[ \"\$(nsenter -t $PID1 -a systemctl is-active relayd)\" = active ] &&
    [ \"\$(nsenter -t $PID1 -a systemctl show -P MainPID relayd)\" != '$MAINPID' ]"
c journalctl -u relayd --since "$since" -o cat --no-pager >"$W/journal2"
check "... the workers stopped when asked (no SIGKILL, no 'did not stop')" \
    sh -c "! grep -Eq 'SIGKILL|did not stop|CAP_KILL' '$W/journal2'"
check "... with the same relay ID" \
    [ "$(c relay-ctl show summary | sed -n 's/^relay ID: *//p')" = "$RELAY_ID" ]
MAINPID=$(c systemctl show -P MainPID relayd)
stop_expose
check "relay-client expose registers again" start_expose
check "a session after the restart" session

# ---- the exposure systemd-analyze gives the unit, against README.md ----

LIMIT=$(sed -n 's/.*overall exposure level of at most \([0-9]*\.[0-9]\).*/\1/p' \
    "$top_srcdir/README.md" | head -1)
c systemd-analyze security relayd.service >"$W/security.out" 2>&1
grep '✗' "$W/security.out" | sed 's/^/security: /'
EXPOSURE=$(sed -n 's/.*Overall exposure level for relayd.service: \([0-9]*\.[0-9]\).*/\1/p' \
    "$W/security.out")
say "systemd-analyze security relayd.service: $EXPOSURE (README.md: at most ${LIMIT:-?})"
check "README.md commits to an exposure figure of 2.0 or better" \
    awk -v l="${LIMIT:-99}" 'BEGIN { exit !(l + 0 <= 2.0) }'
check "the unit's exposure $EXPOSURE is at most that figure" \
    awk -v e="${EXPOSURE:-99}" -v l="${LIMIT:-0}" 'BEGIN { exit !(e + 0 <= l + 0) }'

# ---- without relayd.socket: refused as it is, working as documented ----

stop_expose
c systemctl stop relayd.socket relayd.service
c systemctl mask -q relayd.socket
since=$(c date '+%Y-%m-%d %H:%M:%S')
c systemctl start relayd.service 2>/dev/null
check "with relayd.socket masked the stock unit refuses to start" \
    sh -c "[ \"\$(nsenter -t $PID1 -a systemctl is-active relayd)\" != active ] &&
    nsenter -t $PID1 -a journalctl -u relayd --since '$since' -o cat \
    --no-pager | grep -q 'without the sockets of relayd.socket'"
c systemctl reset-failed relayd.service
# the drop-in of relayd(8), SYSTEMD
c mkdir -p /etc/systemd/system/relayd.service.d
sed -n '/^\.\\" BEGIN no-socket drop-in/,/^\.\\" END no-socket drop-in/p' \
    "$top_srcdir/man/relayd.8" | grep -v '^\.' | sed 's/\\e/\\/g' \
    >"$TREE/etc/systemd/system/relayd.service.d/no-socket.conf"
sed 's/^/drop-in: /' "$TREE/etc/systemd/system/relayd.service.d/no-socket.conf"
c systemctl daemon-reload
check "with the drop-in of relayd(8) relayd runs without relayd.socket" \
    c systemctl start relayd.service
check "... listening itself, as relayd.conf says" \
    sh -c "nsenter -t $PID1 -a relay-ctl show summary | grep -q '^listening: *127.0.0.1:7420'"
check "... and serving" start_expose
check "a session without socket activation" session
stop_expose
c rm -rf /etc/systemd/system/relayd.service.d
c systemctl unmask -q relayd.socket
c systemctl daemon-reload
c systemctl stop relayd.service
c systemctl start relayd.socket relayd.service
check "back to socket activation" \
    sh -c "[ \"\$(nsenter -t $PID1 -a systemctl is-active relayd.socket relayd.service | sort -u)\" = active ]"

# ---- reinstall (upgrade to the same version) keeps the identity ----

if c apt-get -o DPkg::Lock::Timeout=300 install -y -q --reinstall "$R" \
    >"$W/reinstall.log" 2>&1; then
	check "reinstalling the package works" true
else
	tail -20 "$W/reinstall.log"
	check "reinstalling the package works" false
fi
check "... relayd is active after it" \
    [ "$(c systemctl is-active relayd)" = active ]
check "... with the same relay ID" \
    [ "$(c relay-ctl show summary | sed -n 's/^relay ID: *//p')" = "$RELAY_ID" ]
check "relay-client expose registers after the reinstall" start_expose
check "a session after the reinstall" session
stop_expose
c kill "$ECHO_PID" 2>/dev/null

# ---- purge ----

c dpkg -L relayd >"$W/relayd.files"
if c apt-get -o DPkg::Lock::Timeout=300 purge -y -q relayd \
    >"$W/purge.log" 2>&1; then
	check "apt-get purge relayd works" true
else
	tail -20 "$W/purge.log"
	check "apt-get purge relayd works" false
fi
ours() {
	# files of the package that are still there (shared directories
	# belong to other packages too)
	while read -r f; do
		[ "$f" = /. ] && continue
		[ -e "$TREE$f" ] || [ -L "$TREE$f" ] || continue
		[ -d "$TREE$f" ] && c dpkg -S "$f" >/dev/null 2>&1 && continue
		echo "$f"
	done <"$W/relayd.files"
	# and anything named after relayd (the test's own files are in /root)
	c find / -xdev \( -path /proc -o -path /root -o -path /var/log/journal \
	    -o -path /var/cache/apt \) -prune -o -name '*relayd*' -print
}
left=$(ours)
[ -z "$left" ] || echo "$left" | sed 's/^/left after purge: /'
check "purge leaves no file of relayd's" [ -z "$left" ]
procs() {
	for p in $(c sh -c 'ls -d /proc/[0-9]*' | sed 's|/proc/||'); do
		c cat /proc/"$p"/cmdline 2>/dev/null | tr '\0' ' ' |
		    grep -q '^relayd' && echo "$p"
	done
}
check "purge leaves no relayd process" [ -z "$(procs)" ]
# a unit systemd still remembers after the daemon-reload is "not-found
# inactive": gone; anything else is left over
units=$(c systemctl list-units --all --no-legend --plain 'relayd*')
[ -z "$units" ] || echo "$units" | sed 's/^/units after purge: /'
check "... and no relayd unit left but as not-found and inactive" \
    sh -c "! echo '$units' | grep relayd | grep -Evq '^ *relayd[^ ]* +not-found +inactive'"

# ---- power off ----

c systemctl poweroff
if poll 60 sh -c "! kill -0 $NSPAWN_PID"; then
	wait "$NSPAWN_PID"
	NSPAWN_PID=""
	check "the container powered off" true
else
	check "the container powered off" false
fi
say "done after $(elapsed): $FAILS failure(s)"
[ "$FAILS" -eq 0 ]
