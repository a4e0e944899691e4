# SPDX-License-Identifier: ISC
#
# sshd.sh: sourced after lib.sh by tests and benchmarks that need an
# OpenSSH server. sshd_start DIR starts a private sshd on a free loopback
# port, with its own host key, user key and authorized_keys under DIR and
# no PAM; nothing outside DIR is touched. As root, sshd needs /run/sshd:
# when that is missing it gets one in a private mount namespace (unshare).
#
# SSHD_NETNS, if set, names a network namespace to run sshd in (its
# loopback then); the caller's ssh must run there too.
#
# On success it sets SSH_PORT, SSH_USER, SSHD_PID (stop it by that PID)
# and SSH_OPTS (ssh options for the key and known_hosts: the host is
# called "myhost"). On failure it returns 1 with SSHD_MISSING saying why.

sshd_start() {
	S=$1
	SSHD=$(command -v sshd || echo /usr/sbin/sshd)
	SSHD_MISSING=""
	SSHD_PID=""
	if [ ! -x "$SSHD" ] || ! command -v ssh >/dev/null ||
	    ! command -v scp >/dev/null || ! command -v ssh-keygen >/dev/null; then
		SSHD_MISSING="sshd, ssh, scp or ssh-keygen is not installed"
		return 1
	fi
	SSHD_WRAP=""
	if [ "$(id -u)" -eq 0 ] && [ ! -d /run/sshd ]; then
		if ! unshare -m true 2>/dev/null; then
			SSHD_MISSING="sshd needs /run/sshd and unshare -m is not allowed"
			return 1
		fi
		SSHD_WRAP="unshare -m sh -c 'mount -t tmpfs tmpfs /run && mkdir /run/sshd && exec \"\$0\" \"\$@\"'"
	fi
	mkdir -p "$S"
	ssh-keygen -q -t ed25519 -N '' -f "$S/host" </dev/null
	ssh-keygen -q -t ed25519 -N '' -f "$S/user" </dev/null
	cp "$S/user.pub" "$S/authorized_keys"
	SSH_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	SSH_USER=$(id -un)
	cat >"$S/sshd_config" <<EOT
ListenAddress 127.0.0.1
Port $SSH_PORT
HostKey $S/host
AuthorizedKeysFile $S/authorized_keys
PidFile $S/sshd.pid
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PermitRootLogin prohibit-password
Subsystem sftp internal-sftp
EOT
	echo "myhost $(cat "$S/host.pub")" >"$S/known_hosts"
	echo "[127.0.0.1]:$SSH_PORT $(cat "$S/host.pub")" >>"$S/known_hosts"
	NSX=""
	[ -n "${SSHD_NETNS:-}" ] && NSX="ip netns exec $SSHD_NETNS"
	eval "exec $NSX $SSHD_WRAP \"$SSHD\" -D -e -f \"$S/sshd_config\"" \
	    >/dev/null 2>"$S/sshd.log" &
	SSHD_PID=$!
	SSH_OPTS="-F /dev/null -i $S/user -o IdentitiesOnly=yes -o BatchMode=yes
	    -o UserKnownHostsFile=$S/known_hosts -o StrictHostKeyChecking=yes"
	i=0
	until $NSX python3 -c "import socket; socket.create_connection(('127.0.0.1', $SSH_PORT))" 2>/dev/null; do
		i=$((i + 1))
		if [ $i -gt 50 ] || ! kill -0 "$SSHD_PID" 2>/dev/null; then
			SSHD_MISSING="sshd did not start: $(tail -n 3 "$S/sshd.log")"
			return 1
		fi
		sleep 0.1
	done
}
