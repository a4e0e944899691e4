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

pass=0
fail=0

ok() {
	pass=$((pass + 1))
	echo "ok: $1"
}

not_ok() {
	fail=$((fail + 1))
	echo "FAIL: $1: $2"
	if [ -s "$tmp/err" ]; then
		sed 's/^/	stderr: /' "$tmp/err"
	fi
}

cd "$testdir" || exit 1

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
		not_ok "$name" "relayd -nv failed"
		continue
	fi
	if ! diff -u "$name.ok" "$tmp/out" >"$tmp/diff"; then
		not_ok "$name" "output differs from $name.ok"
		sed 's/^/	/' "$tmp/diff"
		continue
	fi
	cp "$tmp/out" "$tmp/round.conf"
	if ! "$RELAYD" -nv -f "$tmp/round.conf" >"$tmp/out2" 2>"$tmp/err"; then
		not_ok "$name" "printed configuration does not parse"
		continue
	fi
	if ! diff -u "$tmp/out" "$tmp/out2" >"$tmp/diff"; then
		not_ok "$name" "printed configuration does not round-trip"
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
		not_ok "$name" "$name.err is missing"
		continue
	fi
	if "$RELAYD" -n -f "$bad" >"$tmp/out" 2>"$tmp/err"; then
		not_ok "$name" "relayd -n accepted $bad"
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
		not_ok "$name" "expected messages not on stderr"
		cat "$tmp/missing"
		continue
	fi
	ok "$name"
done

# The shipped example must stay valid.
example=$top_srcdir/etc/relayd.conf.example
if [ -f "$example" ]; then
	if "$RELAYD" -n -f "$example" >"$tmp/out" 2>"$tmp/err"; then
		ok "relayd.conf.example"
	else
		not_ok "relayd.conf.example" "relayd -n rejects it"
	fi
fi

echo "config: $pass passed, $fail failed"
[ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
