#!/bin/sh
# SPDX-License-Identifier: ISC
#
# run.sh: the relayd.conf(5) tests. For each NAME.in with a NAME.ok,
# `relayd -nv -f NAME.in` must succeed and print NAME.ok exactly, and that
# output must parse back and print the same (round trip). NAME.args, if
# present, holds extra options (e.g. -D macro=value). For each NAME.bad,
# `relayd -n -f NAME.bad` must fail and its stderr must contain every line
# of NAME.err. Files named *.conf are only included by others. Last,
# etc/relayd.conf.example must be accepted.
#
# Environment: RELAYD (default $top_builddir/relayd/relayd), top_srcdir,
# top_builddir (as set by `make check`; defaults for a run by hand).
# To regenerate an .ok file after a deliberate change:
#	cd tests/config/data && relayd -nv -f NAME.in > NAME.ok  (then read the diff)

LC_ALL=C
export LC_ALL

here=$(cd "$(dirname "$0")" && pwd)
: "${top_srcdir:=$here/../..}"
: "${top_builddir:=$top_srcdir}"
: "${RELAYD:=$top_builddir/relayd/relayd}"
case $RELAYD in
/*)	;;
*)	RELAYD=$(pwd)/$RELAYD ;;
esac
testdir=$top_srcdir/tests/config/data

if [ ! -x "$RELAYD" ]; then
	echo "config: $RELAYD not found or not executable" >&2
	exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/relayd-config.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM

. "$top_srcdir/tests/e2e/tally.sh"

# fail NAME REASON: not ok, with what relayd said on stderr
fail() {
	not_ok "$1: $2"
	if [ -s "$tmp/err" ]; then
		sed 's/^/	stderr: /' "$tmp/err"
	fi
}

# A copy the user running the tests owns: as root, relayd refuses files
# that another user owns or may write.
cp -R "$testdir" "$tmp/data" || exit 1
chmod -R go-w "$tmp/data"
cd "$tmp/data" || exit 1

for in in *.in; do
	[ -f "$in" ] || continue
	name=${in%.in}
	[ -f "$name.ok" ] || continue
	args=
	if [ -f "$name.args" ]; then
		args=$(cat "$name.args")
	fi
	# $args is split into words on purpose
	# shellcheck disable=SC2086
	if ! "$RELAYD" -nv $args -f "$in" >"$tmp/out" 2>"$tmp/err"; then
		fail "$name" "relayd -nv failed"
		continue
	fi
	if ! diff -u "$name.ok" "$tmp/out" >"$tmp/diff"; then
		fail "$name" "output differs from $name.ok"
		sed 's/^/	/' "$tmp/diff"
		continue
	fi
	cp "$tmp/out" "$tmp/round.conf"
	if ! "$RELAYD" -nv -f "$tmp/round.conf" >"$tmp/out2" 2>"$tmp/err"; then
		fail "$name" "printed configuration does not parse"
		continue
	fi
	if ! diff -u "$tmp/out" "$tmp/out2" >"$tmp/diff"; then
		fail "$name" "printed configuration does not round-trip"
		sed 's/^/	/' "$tmp/diff"
		continue
	fi
	ok "$name"
done

for bad in *.bad; do
	[ -f "$bad" ] || continue
	name=${bad%.bad}
	if [ ! -f "$name.err" ]; then
		: >"$tmp/err"
		fail "$name" "$name.err is missing"
		continue
	fi
	if "$RELAYD" -n -f "$bad" >"$tmp/out" 2>"$tmp/err"; then
		fail "$name" "relayd -n accepted $bad"
		continue
	fi
	: >"$tmp/missing"
	while IFS= read -r line || [ -n "$line" ]; do
		[ -n "$line" ] || continue
		if ! grep -F -e "$line" "$tmp/err" >/dev/null; then
			echo "	missing: $line" >>"$tmp/missing"
		fi
	done <"$name.err"
	if [ -s "$tmp/missing" ]; then
		fail "$name" "expected messages not on stderr"
		cat "$tmp/missing"
		continue
	fi
	ok "$name"
done

# refused NAME FILE REASON: relayd -n refuses FILE, saying REASON
refused() {
	if "$RELAYD" -n -f "$2" >"$tmp/out" 2>"$tmp/err" ||
	    ! grep -q "$3" "$tmp/err"; then
		fail "secrecy: $1" "not refused with its reason"
	else
		ok "secrecy: $1"
	fi
}

# As root, a file another user owns or may write is refused, includes too.
if [ "$(id -u)" -eq 0 ]; then
	printf 'listen on 127.0.0.1 port 7420\n' >"$tmp/secret.conf"
	chmod 0646 "$tmp/secret.conf"
	refused "world-writable" "$tmp/secret.conf" \
	    "secret.conf is writable by others: chmod go-w"
	chmod 0644 "$tmp/secret.conf"
	chown 65534 "$tmp/secret.conf"
	refused "not owned by root" "$tmp/secret.conf" \
	    "secret.conf is owned by uid 65534, not root"
	chown 0 "$tmp/secret.conf"
	printf 'listen on 127.0.0.1 port 7420\n' >"$tmp/inc.conf"
	chmod 0664 "$tmp/inc.conf"
	printf 'include "%s"\n' "$tmp/inc.conf" >"$tmp/top.conf"
	refused "included file" "$tmp/top.conf" \
	    "inc.conf is writable by its group"
	chmod 0644 "$tmp/inc.conf"
	if "$RELAYD" -n -f "$tmp/top.conf" >"$tmp/out" 2>"$tmp/err"; then
		ok "secrecy: a root-owned file is accepted"
	else
		fail "secrecy: a root-owned file is accepted" "refused"
	fi
fi

# relayd.conf(5) prints the built-in defaults: they must be the limit
# table's (the paths and the worker counts depend on the machine).
man5=$top_srcdir/man/relayd.conf.5
: >"$tmp/empty.conf"
sed -n '/^The built-in defaults/,/^\.Ed/p' "$man5" | sed '1,/^\.Bd/d;$d' |
    grep -Ev '^(identity|socket|workers) ' >"$tmp/man-defaults"
if "$RELAYD" -nv -f "$tmp/empty.conf" 2>/dev/null |
    grep -Ev '^(identity|socket|workers) ' >"$tmp/defaults" &&
    [ -s "$tmp/man-defaults" ] &&
    diff -u "$tmp/man-defaults" "$tmp/defaults" >"$tmp/diff"; then
	ok "relayd.conf(5) shows the built-in defaults"
else
	: >"$tmp/err"
	fail "relayd.conf(5) shows the built-in defaults" "they differ"
	sed 's/^/	/' "$tmp/diff"
fi

# The shipped example must stay valid.
example=$top_srcdir/etc/relayd.conf.example
if [ -f "$example" ]; then
	if "$RELAYD" -n -f "$example" >"$tmp/out" 2>"$tmp/err"; then
		ok "relayd.conf.example"
	else
		fail "relayd.conf.example" "relayd -n rejects it"
	fi
fi

tally "config: "
