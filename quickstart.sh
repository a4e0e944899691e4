#!/bin/sh
# SPDX-License-Identifier: ISC
#
# quickstart.sh: the README's two commands on a fresh Debian 12 machine.
#   ./quickstart.sh run    install build dependencies, build, start relayd
#                          in the foreground with its built-in defaults
#   ./quickstart.sh test   install build and test dependencies, build with
#                          warnings as errors, run the whole test suite and
#                          make distcheck; as root also tests/system/run.sh:
#                          the Debian packages under a real systemd
# It installs packages with apt-get when run as root (waiting for another
# package manager to finish); otherwise it expects them to be installed
# already and says which are missing.
set -eu

cd "$(dirname "$0")"
top=$(pwd)
build="$top/build"

BUILD_DEPS="build-essential autoconf automake pkg-config bison \
libssl-dev libbsd-dev libevent-dev libprotobuf-c-dev protobuf-c-compiler \
libseccomp-dev check"
TEST_DEPS="mandoc valgrind procps openssh-server openssh-client curl python3 \
iproute2 nftables python3-cryptography"
# fuzz_smoke: clang and its libFuzzer and sanitizer runtimes
FUZZ_DEPS="clang-14 libclang-rt-14-dev"
TEST_DEPS="$TEST_DEPS $FUZZ_DEPS"
# tests/system: build the .debs, check them, boot Debian 12 in a container
SYSTEM_DEPS="debhelper dpkg-dev lintian debootstrap systemd-container wget"
# wait up to 5 minutes for another apt or dpkg to let go of its lock
APT_LOCK="-o DPkg::Lock::Timeout=300"

usage() {
	echo "usage: $0 run|test" >&2
	exit 2
}

install_deps() {
	if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
		export DEBIAN_FRONTEND=noninteractive
		# shellcheck disable=SC2086
		if ! apt-get $APT_LOCK update -qq; then
			echo "apt-get update failed: the package archive in" \
			    "/etc/apt/sources.list* cannot be reached (or the" \
			    "package lock stayed taken for 5 minutes)" >&2
			exit 1
		fi
		# shellcheck disable=SC2086
		apt-get $APT_LOCK install -y -qq --no-install-recommends \
		    $BUILD_DEPS "$@" >/dev/null || {
			echo "apt-get install failed: see its messages above" >&2
			exit 1
		}
	else
		missing=""
		for p in $BUILD_DEPS "$@"; do
			dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
		done
		if [ -n "$missing" ]; then
			echo "missing packages:$missing" >&2
			echo "run as root, or: sudo apt-get install$missing" >&2
			exit 1
		fi
	fi
}

configure_build() {
	./autogen.sh >/dev/null 2>&1 || { ./autogen.sh; exit 1; }
	mkdir -p "$build"
	(cd "$build" && "$top/configure" "$@" >/dev/null) || {
		echo "configure failed: see $build/config.log" >&2
		exit 1
	}
	make -C "$build" -j"$(nproc)" >/dev/null
}

# Every libFuzzer target of tests/fuzz for FUZZ_TIME seconds (15) each,
# ASan and UBSan on, from its own clang build in build-fuzz: make
# fuzz-smoke. Any crash fails; the input is kept in build-fuzz/tests/fuzz.
fuzz_smoke() {
	fuzzbuild="$top/build-fuzz"
	mkdir -p "$fuzzbuild"
	(cd "$fuzzbuild" && CC=clang-14 "$top/configure" --enable-fuzz \
	    --enable-werror >/dev/null) || {
		echo "configure --enable-fuzz failed: see $fuzzbuild/config.log" >&2
		exit 1
	}
	make -C "$fuzzbuild" -j"$(nproc)" fuzz-smoke \
	    FUZZ_TIME="${FUZZ_TIME:-15}" >"$fuzzbuild/fuzz-smoke.out" 2>&1 || {
		cat "$fuzzbuild/fuzz-smoke.out"
		echo "make fuzz-smoke failed" >&2
		exit 1
	}
	grep -E '^fuzz' "$fuzzbuild/fuzz-smoke.out"
}

# The sanitizer job: a second build with ASan and UBSan (build-asan),
# `make check-sanitizers` there: the unit tests and the end-to-end suite
# against a relayd whose workers keep their sandbox (a sanitizer build
# adds what the runtime calls, relayd/sandbox.c). A leak, a memory error
# or undefined behaviour in any program fails it.
asan_check() {
	asan="$top/build-asan"
	t0=$(date +%s)
	mkdir -p "$asan"
	(cd "$asan" && "$top/configure" --enable-asan --enable-werror \
	    >/dev/null) || {
		echo "configure --enable-asan failed: see $asan/config.log" >&2
		exit 1
	}
	make -C "$asan" -j"$(nproc)" >/dev/null
	make -C "$asan" -j"$(nproc)" check-sanitizers >"$asan/check.out" \
	    2>&1 || {
		grep -E '^(PASS|FAIL|ERROR|SKIP)' "$asan/check.out"
		find "$asan/tests" -name '*.log' -newer "$asan/config.status" \
		    -exec grep -l -E '^(FAIL|ERROR)' {} + 2>/dev/null |
		    while read -r f; do echo "==== $f"; cat "$f"; done
		echo "the ASan+UBSan build fails its tests" >&2
		exit 1
	}
	grep -E '^(PASS|FAIL|ERROR|SKIP)' "$asan/check.out" |
	    sed 's/^/asan+ubsan: /'
	echo "asan+ubsan: $(grep -c '^PASS' "$asan/check.out") passed in" \
	    "$(($(date +%s) - t0)) s (build included)"
}

# The Landlock job: tests/vm/landlock.sh boots Debian's own kernels
# (6.1, and 6.12 from bookworm-backports) under qemu and runs the sandbox
# unit tests there, each role's Landlock rules with seccomp left out.
VM_DEPS="qemu-system-x86 cpio"

vm_check() {
	if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
		# shellcheck disable=SC2086
		DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 \
		    install -y -qq --no-install-recommends $VM_DEPS >/dev/null
	fi
	make -C "$build" check-vm >"$build/vm.out" 2>&1 || {
		cat "$build/vm.out"
		echo "the Landlock test on Debian's kernels failed" >&2
		exit 1
	}
	grep -E '^(not ok|[a-z0-9.-]+: booted|RELAYD-VM: kernel|[0-9]+ passed)' \
	    "$build/vm.out" | sed 's/^/landlock-vm: /'
}

case "${1:-}" in
run)
	install_deps
	configure_build --enable-werror
	if [ "$(id -u)" -eq 0 ] && ! getent passwd _relayd >/dev/null; then
		# the unprivileged user the workers run as
		useradd --system --no-create-home --home-dir /nonexistent \
		    --shell /usr/sbin/nologin _relayd
		echo "created the system user _relayd"
	fi
	cat <<EOT
relayd is starting in the foreground on 127.0.0.1:7420 (Ctrl-C stops it).
In another shell:
  $build/relay-ctl/relay-ctl show summary
  $build/relay-client/relay-client keygen
  $build/relay-client/relay-client expose -r 127.0.0.1 -n myssh 127.0.0.1:22
  ssh -o ProxyCommand='$build/relay-client/relay-client connect -r 127.0.0.1 myssh' localhost
EOT
	exec "$build/relayd/relayd" -d
	;;
test)
	if [ "$(id -u)" -eq 0 ]; then
		# shellcheck disable=SC2086
		install_deps $TEST_DEPS $SYSTEM_DEPS
	else
		# shellcheck disable=SC2086
		install_deps $TEST_DEPS
	fi
	configure_build --enable-werror
	make -C "$build" -j"$(nproc)" check || {
		find "$build/tests" -name '*.log' -newer "$build/config.status" \
		    -exec grep -l -E '^(FAIL|ERROR)' {} + 2>/dev/null |
		    while read -r f; do echo "==== $f"; cat "$f"; done
		exit 1
	}
	make -C "$build" check-valgrind >"$build/valgrind.out" 2>&1 || {
		cat "$build/valgrind.out"
		find "$build/tests/unit" -name '*.log' -exec grep -l ERROR {} + |
		    xargs cat
		echo "the unit tests fail under valgrind" >&2
		exit 1
	}
	grep -E '^(PASS|FAIL|ERROR)' "$build/valgrind.out" | sed 's/^/valgrind: /'
	fuzz_smoke
	make -C "$build" -j"$(nproc)" distcheck >/dev/null 2>"$build/distcheck.err" || {
		tail -50 "$build/distcheck.err"
		echo "make distcheck failed" >&2
		exit 1
	}
	echo "distcheck: $(ls "$build"/relayd-*.tar.gz) builds and passes its tests"
	asan_check
	vm_check
	if [ "$(id -u)" -ne 0 ]; then
		cat >&2 <<'EOT'
********************************************************************
* THE SYSTEM TEST DID NOT RUN: tests/system/run.sh needs root (it  *
* builds the Debian packages and boots Debian 12 under systemd in  *
* a container). Run ./quickstart.sh test as root to run it.        *
********************************************************************
EOT
		exit 0
	fi
	top_srcdir="$top" sh "$top/tests/system/run.sh" || {
		echo "the system test (tests/system/run.sh) failed" >&2
		exit 1
	}
	;;
*)
	usage
	;;
esac
