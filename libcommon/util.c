/* SPDX-License-Identifier: ISC */
/*
 * util.c: default paths (the same rules for relayd and relay-ctl, so the
 * two find each other without options), hex encoding, text from a peer
 * made safe to show, and the few system chores every program has: an
 * address as text, the open-file limit, the directories above a file.
 *
 * Nothing here touches the network, logs or exits: errors are returned.
 */
#include "config.h"

#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <arpa/inet.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

/*
 * The control socket: root_path when running as root, else
 * $XDG_RUNTIME_DIR/relayd.sock, else /tmp/relayd-UID/relayd.sock.
 */
int
default_socket_path(char *out, size_t outlen, int as_root,
    const char *root_path)
{
	const char	*rt = getenv("XDG_RUNTIME_DIR");
	int		 n;

	if (as_root)
		n = snprintf(out, outlen, "%s", root_path);
	else if (rt != NULL && rt[0] == '/')
		n = snprintf(out, outlen, "%s/relayd.sock", rt);
	else
		n = snprintf(out, outlen, "/tmp/relayd-%u/relayd.sock",
		    (unsigned)getuid());
	return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

/* $XDG_STATE_HOME/relayd/FILE, XDG_STATE_HOME defaulting to ~/.local/state. */
int
default_state_path(char *out, size_t outlen, const char *file)
{
	const char	*st = getenv("XDG_STATE_HOME");
	const char	*home = getenv("HOME");
	int		 n;

	if (st != NULL && st[0] == '/')
		n = snprintf(out, outlen, "%s/relayd/%s", st, file);
	else if (home != NULL && home[0] == '/')
		n = snprintf(out, outlen, "%s/.local/state/relayd/%s", home,
		    file);
	else
		return -1;
	return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

void
hex_encode(const uint8_t *in, size_t len, char *out, size_t outlen)
{
	static const char	 digits[] = "0123456789abcdef";
	size_t			 i;

	if (outlen == 0)
		return;
	for (i = 0; i < len && 2 * i + 2 < outlen; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * i] = '\0';
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Exactly 2 * len hex digits into len bytes. */
int
hex_parse(const char *in, uint8_t *out, size_t len)
{
	size_t	 i;
	int	 hi, lo;

	if (strlen(in) != 2 * len)
		return -1;
	for (i = 0; i < len; i++) {
		if ((hi = hexval(in[2 * i])) == -1 ||
		    (lo = hexval(in[2 * i + 1])) == -1)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

/*
 * Copy text a peer sent into dst for a terminal or a log: well-formed
 * UTF-8 passes; control characters (C0, DEL, and C1 as U+0080-U+009F)
 * and malformed bytes each become '?', so no peer can drive the
 * terminal. A character that does not fit whole is left out; dst is
 * always terminated. Returns dst.
 */
char *
text_safe(char *dst, size_t dstlen, const char *src)
{
	const unsigned char	*s = (const unsigned char *)src;
	size_t			 o = 0, need, k;
	uint32_t		 cp, min;

	if (dstlen == 0)
		return dst;
	if (s == NULL)
		s = (const unsigned char *)"";
	while (*s != '\0' && o + 1 < dstlen) {
		if (*s < 0x80) {
			dst[o++] = (*s < 0x20 || *s == 0x7f) ? '?' : (char)*s;
			s++;
			continue;
		}
		if ((*s & 0xe0) == 0xc0) {
			need = 1;
			cp = *s & 0x1f;
			min = 0x80;
		} else if ((*s & 0xf0) == 0xe0) {
			need = 2;
			cp = *s & 0x0f;
			min = 0x800;
		} else if ((*s & 0xf8) == 0xf0) {
			need = 3;
			cp = *s & 0x07;
			min = 0x10000;
		} else
			goto bad;
		for (k = 1; k <= need; k++) {
			if ((s[k] & 0xc0) != 0x80)	/* the NUL stops it too */
				goto bad;
			cp = (cp << 6) | (s[k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			goto bad;
		if (cp <= 0x9f) {		/* C1 controls */
			dst[o++] = '?';
			s += need + 1;
			continue;
		}
		if (o + need + 1 >= dstlen)
			break;
		memcpy(dst + o, s, need + 1);
		o += need + 1;
		s += need + 1;
		continue;
bad:
		dst[o++] = '?';
		s++;
	}
	dst[o] = '\0';
	return dst;
}

/* "192.0.2.1:7420" or "[2001:db8::1]:7420"; "unknown" for other families. */
void
sockaddr_fmt(const struct sockaddr *sa, char *out, size_t outlen)
{
	char	 host[INET6_ADDRSTRLEN];

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;

		inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
		snprintf(out, outlen, "%s:%u", host, ntohs(sin->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;

		inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
		snprintf(out, outlen, "[%s]:%u", host, ntohs(s6->sin6_port));
	} else
		snprintf(out, outlen, "unknown");
}

/*
 * Raise the soft open-file limit to the hard one: a process holding a
 * few descriptors per connection needs many. -1 with errno if refused.
 */
int
nofile_raise(void)
{
	struct rlimit	 rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return -1;
	if (rl.rlim_cur >= rl.rlim_max)
		return 0;
	rl.rlim_cur = rl.rlim_max;
	return setrlimit(RLIMIT_NOFILE, &rl);
}

/*
 * Create the directories above path that do not exist yet, with mode.
 * Returns -1 with errno set (the failing directory's) on an error.
 */
int
mkdir_parent(const char *path, mode_t mode)
{
	char	 dir[PATH_MAX], *p;

	if (strlcpy(dir, path, sizeof(dir)) >= sizeof(dir)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	p = dirname(dir);
	if (access(p, F_OK) == 0 || strcmp(p, "/") == 0 || strcmp(p, ".") == 0)
		return 0;
	if (mkdir_parent(p, mode) == -1)
		return -1;
	if (mkdir(p, mode) == -1 && errno != EEXIST)
		return -1;
	return 0;}

/* Wait up to timeout_ms for events on fd: 0 when they came, -1 if not. */
static int
fd_wait(int fd, short events, int timeout_ms)
{
	struct pollfd	 pfd;

	pfd.fd = fd;
	pfd.events = events;
	return poll(&pfd, 1, timeout_ms) > 0 ? 0 : -1;
}

/*
 * All of len bytes to fd, blocking or not: 0, or -1 on an error or when
 * the descriptor takes nothing for timeout_ms.
 */
int
fd_write_full(int fd, const void *p, size_t len, int timeout_ms)
{
	const uint8_t	*b = p;
	ssize_t		 n;

	while (len > 0) {
		n = write(fd, b, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN) {
			if (fd_wait(fd, POLLOUT, timeout_ms) == -1)
				return -1;
			continue;
		}
		if (n <= 0)
			return -1;
		b += n;
		len -= n;
	}
	return 0;
}

/*
 * Exactly len bytes from fd, each read waiting at most timeout_ms: 0,
 * -1 on an error or a timeout, -2 at the end of the stream.
 */
int
fd_read_full(int fd, void *p, size_t len, int timeout_ms)
{
	uint8_t		*b = p;
	ssize_t		 n;

	while (len > 0) {
		if (fd_wait(fd, POLLIN, timeout_ms) == -1)
			return -1;
		n = read(fd, b, len);
		if (n == -1 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n == 0)
			return -2;
		if (n < 0)
			return -1;
		b += n;
		len -= n;
	}
	return 0;
}

/*
 * Connect the TCP socket fd to dst with Nagle off: fd, or -1 with fd
 * closed.
 */
int
tcp_connect_nodelay(int fd, const struct sockaddr *dst, socklen_t len)
{
	int	 on = 1;

	if (connect(fd, dst, len) == -1) {
		close(fd);
		return -1;
	}
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
	return fd;
}
