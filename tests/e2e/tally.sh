# SPDX-License-Identifier: ISC
#
# tally.sh: sourced by the tests that print a line for each check
# (tests/e2e/lib.sh, tests/config/run.sh): counts what passed and what
# failed, and says so at the end.

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

# tally [PREFIX]: "N passed, M failed"; status 0 when nothing failed and
# something passed
tally() {
	echo "${1:-}$tests_passed passed, $tests_failed failed"
	[ "$tests_failed" -eq 0 ] && [ "$tests_passed" -gt 0 ]
}
