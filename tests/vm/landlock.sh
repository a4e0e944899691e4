#!/bin/sh
# SPDX-License-Identifier: ISC
#
# landlock.sh: the workers' Landlock rules on Debian's own kernels. Boots
# each kernel under qemu-system-x86_64 (TCG; KVM with RELAYD_VM_ACCEL=kvm)
# with a tiny initramfs made here: busybox-static, test_sandbox and
# the shared libraries ldd lists. Its init runs the sandbox unit tests,
# whose "landlock" case applies each role's sandbox with the seccomp
# filter left out, so that every forbidden file, TCP, abstract socket and
# signal operation is refused by Landlock itself; then it powers off.
#
#   Debian 12's kernel (6.1, Landlock ABI 2): the filesystem rules;
#   bookworm-backports' kernel (6.12, ABI 6): the filesystem rules, TCP
#     bind and connect (ABI 4) and the scoping of abstract unix sockets
#     and signals (ABI 6);
#   the same 6.12 kernel booted with Landlock left out of lsm=: the probe
#     must find EOPNOTSUPP ("no Landlock", not an error).
#
# Kernels and busybox come from the Debian archive named in this
# machine's own apt sources, with apt-get download; backports through a
# private apt configuration in the cache directory (the machine's sources
# are never changed). Downloads are kept in RELAYD_VM_CACHE (default
# /var/tmp/relayd-vm-cache). If the archive cannot be reached, or qemu is
# missing, the test fails and says so: it never passes without booting.
#
# Environment: top_builddir (default: the current directory) holds
# tests/unit/test_sandbox; RELAYD_VM_TIMEOUT bounds each boot (seconds,
# default 300: TCG on a loaded machine is slow); RELAYD_VM_ACCEL=kvm boots
# under KVM instead of TCG (where nested KVM works); RELAYD_VM_KEEP=1 keeps
# the work directory (initramfs, console logs) for a look.
set -u

: "${top_builddir:=$(pwd)}"
CACHE=${RELAYD_VM_CACHE:-/var/tmp/relayd-vm-cache}
TIMEOUT=${RELAYD_VM_TIMEOUT:-300}
TEST_BIN="$top_builddir/tests/unit/test_sandbox"
ROLES="lease conn fwd"

fail() {
	echo "landlock.sh: $*" >&2
	exit 1
}

for tool in qemu-system-x86_64 apt-get apt-cache dpkg-deb cpio gzip ldd; do
	command -v "$tool" >/dev/null ||
	    fail "$tool not found: install qemu-system-x86 and cpio (apt-get install qemu-system-x86 cpio)"
done
[ -x "$TEST_BIN" ] ||
    fail "$TEST_BIN not found: build it first (make tests/unit/test_sandbox)"

T=$(mktemp -d "${TMPDIR:-/tmp}/relayd-vm.XXXXXX") || exit 1
QEMU_PID=""
cleanup() {
	if [ -n "$QEMU_PID" ]; then
		kill "$QEMU_PID" 2>/dev/null
		wait "$QEMU_PID" 2>/dev/null
	fi
	if [ "${RELAYD_VM_KEEP:-0}" = 1 ]; then
		echo "landlock.sh: kept $T" >&2
	else
		rm -rf "$T"
	fi
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

# ---- downloads ----

codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
[ -n "$codename" ] || fail "no VERSION_CODENAME in /etc/os-release"
mirror=$(apt-get indextargets --format '$(SITE) $(RELEASE)' 2>/dev/null |
    awk -v r="$codename" '$2 == r { print $1; exit }')
[ -n "$mirror" ] ||
    fail "the machine's apt sources name no archive for $codename (run apt-get update): cannot download the kernels"

mkdir -p "$CACHE/debs" "$CACHE/apt/lists/partial" \
    "$CACHE/apt/cache/archives/partial" || fail "cannot create $CACHE"
# apt-get download runs as the _apt user where it can
chmod 0777 "$CACHE/debs" 2>/dev/null
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror $codename-backports main" \
    >"$CACHE/apt/sources.list"
BPO="-o Dir::Etc::SourceList=$CACHE/apt/sources.list
    -o Dir::Etc::SourceParts=/nonexistent -o Dir::State::Lists=$CACHE/apt/lists
    -o Dir::Cache=$CACHE/apt/cache -o Debug::NoLocking=1"

# shellcheck disable=SC2086
apt-get $BPO -qq --error-on=any update >"$T/apt.log" 2>&1 ||
    { cat "$T/apt.log" >&2; fail "cannot reach $mirror $codename-backports: no 6.12 kernel, the TCP and scoping rules cannot be proven"; }

# kernel_pkg [APT OPTIONS]: the cloud kernel the metapackage points to
kernel_pkg() {
	# shellcheck disable=SC2068
	apt-cache $@ depends linux-image-cloud-amd64 2>/dev/null |
	    awk '/Depends: linux-image-[0-9]/ { print $2; exit }'
}

# fetch PACKAGE [APT OPTIONS]: the .deb in the cache, downloaded once
fetch() {
	pkg=$1
	shift
	set -- "$CACHE"/debs/"${pkg}"_*.deb
	if [ ! -f "$1" ]; then
		(cd "$CACHE/debs" && apt-get $APT_OPTS download "$pkg") \
		    >"$T/dl.log" 2>&1 || {
			cat "$T/dl.log" >&2
			fail "cannot download $pkg from the Debian archive ($mirror)"
		}
		set -- "$CACHE"/debs/"${pkg}"_*.deb
	fi
	[ -f "$1" ] || fail "no .deb for $pkg after apt-get download"
	echo "$1"
}

APT_OPTS=""
k61=$(kernel_pkg)
[ -n "$k61" ] || fail "no linux-image-cloud-amd64 in the apt lists for $codename (run apt-get update)"
deb61=$(fetch "$k61") || exit 1
debbb=$(fetch busybox-static) || exit 1
APT_OPTS=$BPO
# shellcheck disable=SC2086
k612=$(kernel_pkg $BPO)
[ -n "$k612" ] || fail "no linux-image-cloud-amd64 in $codename-backports"
deb612=$(fetch "$k612") || exit 1
APT_OPTS=""

# vmlinuz DEB: the kernel image out of the package, cached
vmlinuz() {
	dir="$CACHE/boot/$(basename "$1" .deb)"
	if ! ls "$dir"/boot/vmlinuz-* >/dev/null 2>&1; then
		mkdir -p "$dir" &&
		    dpkg-deb --fsys-tarfile "$1" | tar -xf - -C "$dir" ./boot ||
		    fail "cannot extract the kernel from $1"
	fi
	ls "$dir"/boot/vmlinuz-*
}
img61=$(vmlinuz "$deb61") || exit 1
img612=$(vmlinuz "$deb612") || exit 1

# ---- the initramfs ----

R="$T/root"
mkdir -p "$R/bin" "$R/etc" "$R/proc" "$R/sys" "$R/dev" "$R/tmp" "$R/tests"
dpkg-deb --fsys-tarfile "$debbb" | tar -xf - -C "$T" ./bin/busybox ||
    fail "cannot extract busybox from $debbb"
mv "$T/bin/busybox" "$R/bin/busybox"
cp "$TEST_BIN" "$R/tests/test_sandbox"
for lib in $(ldd "$TEST_BIN" | awk '$2 == "=>" && $3 ~ /^\// { print $3 }
    $1 ~ /^\// { print $1 }'); do
	mkdir -p "$R$(dirname "$lib")"
	cp -L "$lib" "$R$lib"
done
echo "root:x:0:0:root:/:/bin/sh" >"$R/etc/passwd"
cat >"$R/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t devtmpfs dev /dev
exec </dev/console >/dev/console 2>&1
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t securityfs security /sys/kernel/security
ip link set lo up
echo "RELAYD-VM: kernel $(uname -r), lsm $(cat /sys/kernel/security/lsm)"
cd /tests
if [ "${relayd_vm:-}" = probe ]; then
	CK_RUN_CASE=probe ./test_sandbox
else
	./test_sandbox
fi
echo "RELAYD-VM: test_sandbox exit $?"
poweroff -f
EOF
chmod 0755 "$R/init"
(cd "$R" && find . | cpio -o -H newc --quiet | gzip -1) >"$T/initrd.gz" ||
    fail "cannot make the initramfs"

# ---- boots ----

# TCG unless RELAYD_VM_ACCEL=kvm: on this kind of machine /dev/kvm opens
# but is nested and broken (the guest stops on "KVM internal error ...
# emulation failure" at its first XRSTOR, or qemu asserts setting an MSR
# with -cpu host), while TCG boots each kernel in 10-20 s.
case ${RELAYD_VM_ACCEL:-tcg} in
kvm)	ACCEL="-accel kvm"; ACCEL_NAME=kvm ;;
tcg)	ACCEL="-accel tcg"; ACCEL_NAME=tcg ;;
*)	fail "RELAYD_VM_ACCEL is kvm or tcg, not ${RELAYD_VM_ACCEL}" ;;
esac

# boot NAME KERNEL LSM EXTRA: output in $T/NAME.out. slub_debug=F: under
# this qemu's TCG (7.2), 6.12 crashes at random in SLUB's lockless fast
# path (double faults in kmem_cache_alloc, 9 boots in 10); the debug
# caches take the locked path and boot every time (10 of 10).
boot() {
	name=$1
	out="$T/$name.out"
	start=$(date +%s)
	# shellcheck disable=SC2086
	qemu-system-x86_64 $ACCEL -m 512 -smp 1 -nographic \
	    -no-reboot -nic none -kernel "$2" -initrd "$T/initrd.gz" \
	    -append "console=ttyS0 panic=-1 loglevel=3 slub_debug=F lsm=$3 $4" \
	    </dev/null >"$out" 2>&1 &
	QEMU_PID=$!
	while kill -0 "$QEMU_PID" 2>/dev/null; do
		if [ $(($(date +%s) - start)) -gt "$TIMEOUT" ]; then
			kill "$QEMU_PID"
			wait "$QEMU_PID" 2>/dev/null
			QEMU_PID=""
			tail -n 40 "$out" >&2
			fail "$name: no power-off within $TIMEOUT s"
		fi
		grep -q "RELAYD-VM: test_sandbox exit" "$out" && break
		if grep -q "KVM internal error" "$out"; then
			kill "$QEMU_PID"
			wait "$QEMU_PID" 2>/dev/null
			QEMU_PID=""
			tail -n 40 "$out" >&2
			fail "$name: KVM cannot run this guest (run without RELAYD_VM_ACCEL=kvm: TCG)"
		fi
		sleep 1
	done
	# after the exit line, the power-off follows at once
	n=0
	while kill -0 "$QEMU_PID" 2>/dev/null && [ $n -lt 30 ]; do
		n=$((n + 1))
		sleep 1
	done
	kill "$QEMU_PID" 2>/dev/null
	wait "$QEMU_PID" 2>/dev/null
	QEMU_PID=""
	tr -d '\r' <"$out" >"$out.txt"
	echo "$name: booted and tested in $(($(date +%s) - start)) s ($ACCEL_NAME)"
}

passed=0
failed=0
check() {
	desc=$1
	shift
	if "$@"; then
		passed=$((passed + 1))
		echo "ok - $desc"
	else
		failed=$((failed + 1))
		echo "not ok - $desc"
	fi
}

has() {
	grep -qF -e "$2" "$T/$1.out.txt"
}

FS_OPS="read /etc/passwd|open a file for writing|list a directory|create a file|make a directory|remove a file|make a symbolic link|hard-link a file|execute /bin/true"

# verify NAME ABI: what the landlock case must show on a kernel of that ABI
verify() {
	name=$1
	abi=$2
	sed -n "s/.*\(RELAYD-VM: kernel\)/\1/p" "$T/$name.out.txt"
	check "$name: Landlock is among the kernel's LSMs" \
	    grep -q "RELAYD-VM: kernel .*lsm .*landlock" "$T/$name.out.txt"
	check "$name: test_sandbox passes" has "$name" \
	    "RELAYD-VM: test_sandbox exit 0"
	check "$name: Landlock ABI $abi" has "$name" \
	    "Landlock ABI of this kernel: $abi (available)"
	for role in $ROLES; do
		check "$name: $role: sandbox without seccomp, ABI $abi" \
		    has "$name" "landlock $role: ABI $abi, no seccomp filter"
		IFS='|'
		for op in $FS_OPS; do
			check "$name: $role: $op refused by Landlock" has \
			    "$name" "landlock $role: $op: refused (EACCES)"
		done
		unset IFS
		if [ "$abi" -ge 3 ]; then
			check "$name: $role: truncate refused by Landlock" has \
			    "$name" "landlock $role: truncate a file: refused (EACCES)"
		fi
		if [ "$abi" -ge 4 ]; then
			check "$name: $role: TCP connect refused by Landlock" \
			    has "$name" "landlock $role: TCP connect to 127.0.0.1: refused (EACCES)"
			check "$name: $role: TCP bind refused by Landlock" \
			    has "$name" "landlock $role: TCP bind to 127.0.0.1: refused (EACCES)"
		else
			check "$name: $role: TCP is beyond ABI $abi, and the test says so" \
			    has "$name" "landlock $role: TCP connect to 127.0.0.1: not handled by ABI $abi (needs 4)"
		fi
		if [ "$abi" -ge 6 ]; then
			check "$name: $role: abstract unix connect refused by Landlock" \
			    has "$name" "landlock $role: connect to an abstract unix socket: refused (EPERM)"
			check "$name: $role: signal outside the domain refused by Landlock" \
			    has "$name" "landlock $role: signal a process outside: refused (EPERM)"
		fi
		check "$name: $role: nothing let through" has "$name" \
		    "landlock $role: done, 0 not refused"
	done
}

LSM_ON="landlock,lockdown,yama,apparmor"
boot debian-6.1 "$img61" "$LSM_ON" ""
boot backports-6.12 "$img612" "$LSM_ON" ""
boot no-landlock "$img612" "lockdown,yama,apparmor" "relayd_vm=probe"

verify debian-6.1 2
verify backports-6.12 6
check "no-landlock: the probe cases pass" has no-landlock \
    "RELAYD-VM: test_sandbox exit 0"
check "no-landlock: Landlock off at boot reads as EOPNOTSUPP, not an error" \
    has no-landlock "Landlock ABI of this kernel: 0 (EOPNOTSUPP)"

if [ "$failed" -ne 0 ]; then
	for f in "$T"/*.out.txt; do
		echo "==== $(basename "$f" .out.txt)"
		cat "$f"
	done
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
