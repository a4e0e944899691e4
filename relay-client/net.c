/* SPDX-License-Identifier: ISC */
/*
 * net.c: the plumbing under RelayClient and SecureConnection: HOST[:PORT]
 * parsing (names, IPv4, bracketed IPv6), name resolution, non-blocking
 * connects, and reads and writes between sockets and bounded buffers.
 *
 * Name resolution (getaddrinfo) is the one blocking call of the client;
 * it is made once per control connection and once for a target at start,
 * never per session. A buffer here never grows past the maximum it was
 * created with: a reader that finds no room reads nothing.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/stat.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "relay-client.h"

/*
 * HOST, HOST:PORT, [V6], [V6]:PORT, or a bare IPv6 literal (two colons
 * or more, then no port). The port must be 1-65535.
 */
int
net_parse_hostport(const char *s, const char *defport, char *host,
    size_t hostlen, char *port, size_t portlen)
{
	const char	*p, *colon, *end;
	char		*ep;
	long		 n;
	size_t		 hl;

	if (s == NULL || *s == '\0')
		return -1;
	if (s[0] == '[') {
		if ((end = strchr(s, ']')) == NULL)
			return -1;
		hl = end - s - 1;
		p = end + 1;
		if (*p == ':')
			p++;
		else if (*p != '\0')
			return -1;
		else
			p = NULL;
		s++;
	} else if ((colon = strchr(s, ':')) != NULL &&
	    strchr(colon + 1, ':') != NULL) {
		hl = strlen(s);		/* bare IPv6 literal */
		p = NULL;
	} else if (colon != NULL) {
		hl = colon - s;
		p = colon + 1;
	} else {
		hl = strlen(s);
		p = NULL;
	}
	if (hl == 0 || hl >= hostlen)
		return -1;
	memcpy(host, s, hl);
	host[hl] = '\0';
	if (p == NULL)
		p = defport;
	errno = 0;
	n = strtol(p, &ep, 10);
	if (*p == '\0' || *ep != '\0' || errno != 0 || n < 1 || n > 65535)
		return -1;
	if ((size_t)snprintf(port, portlen, "%ld", n) >= portlen)
		return -1;
	return 0;
}

int
net_resolve(const char *host, const char *port, int passive,
    struct addrinfo **res, char *err, size_t errlen)
{
	struct addrinfo	 hints;
	int		 r;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
	if ((r = getaddrinfo(host, port, &hints, res)) != 0) {
		snprintf(err, errlen, "%s: %s", host,
		    r == EAI_SYSTEM ? strerror(errno) : gai_strerror(r));
		return -1;
	}
	return 0;
}

int
net_set_nonblock(int fd)
{
	int	 fl;

	if ((fl = fcntl(fd, F_GETFL)) == -1)
		return -1;
	if (fl & O_NONBLOCK)
		return 0;
	return fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

int
net_is_socket(int fd)
{
	struct stat	 st;

	return fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
}

/* Close *fdp if it is open, and mark it closed. */
void
net_close(int *fdp)
{
	if (*fdp == -1)
		return;
	close(*fdp);
	*fdp = -1;
}

/*
 * Accept a connection on lfd, non-blocking and close-on-exec, its peer's
 * address as text into peer. The socket, or -1 (errno set).
 */
int
net_accept(int lfd, char *peer, size_t peerlen)
{
	struct sockaddr_storage	 ss;
	socklen_t		 len = sizeof(ss);
	int			 fd;

	if ((fd = accept4(lfd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK |
	    SOCK_CLOEXEC)) == -1)
		return -1;
	sockaddr_fmt((struct sockaddr *)&ss, peer, peerlen);
	return fd;
}

/*
 * A non-blocking TCP connect. Returns the socket (the connect may still
 * be in progress: wait for writability, then net_connect_result()) or -1.
 */
int
net_connect_start(const struct sockaddr *sa, socklen_t salen)
{
	return net_connect_reuse(sa, salen, NULL, (socklen_t)-1);
}

/*
 * The same, from a socket that shares its port (SO_REUSEADDR and
 * SO_REUSEPORT): a control connection whose port direct paths reuse
 * (local NULL, locallen 0), or, bound to local, a direct path's connect
 * from that port. net_connect_start() passes locallen -1: no sharing.
 */
int
net_connect_reuse(const struct sockaddr *sa, socklen_t salen,
    const struct sockaddr *local, socklen_t locallen)
{
	int	 fd, on = 1, saved;

	if ((fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, IPPROTO_TCP)) == -1)
		return -1;
	/* records are written whole: Nagle would only add latency */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
	if ((locallen != (socklen_t)-1 &&
	    (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) == -1 ||
	    (local != NULL && bind(fd, local, locallen) == -1))) ||
	    (connect(fd, sa, salen) == -1 && errno != EINPROGRESS)) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

/* An Address from the relay as a socket address; -1 if it is none. */
int
net_addr_from_proto(const Relay__V1__Address *a, struct sockaddr_storage *ss,
    socklen_t *len)
{
	struct sockaddr_in	*sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (a == NULL || a->port < 1 || a->port > 65535)
		return -1;
	if (a->ip.len == 4) {
		sin->sin_family = AF_INET;
		memcpy(&sin->sin_addr, a->ip.data, 4);
		sin->sin_port = htons(a->port);
		*len = sizeof(*sin);
		return 0;
	}
	if (a->ip.len == 16) {
		sin6->sin6_family = AF_INET6;
		memcpy(&sin6->sin6_addr, a->ip.data, 16);
		sin6->sin6_port = htons(a->port);
		*len = sizeof(*sin6);
		return 0;
	}
	return -1;
}

/* A socket address as an Address (ip points into the caller's buffer). */
int
net_addr_to_proto(const struct sockaddr *sa, Relay__V1__Address *a,
    uint8_t ip[16])
{
	relay__v1__address__init(a);
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;

		memcpy(ip, &sin->sin_addr, 4);
		a->ip.len = 4;
		a->port = ntohs(sin->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;

		memcpy(ip, &s6->sin6_addr, 16);
		a->ip.len = 16;
		a->port = ntohs(s6->sin6_port);
	} else
		return -1;
	a->ip.data = ip;
	return 0;
}

/*
 * An address a peer elsewhere could reach us at, or we it: not loopback
 * (that names the host that reads it), not unspecified, multicast or
 * broadcast, not IPv6 link-local (it needs an interface), and a port.
 */
int
net_addr_usable(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
		uint32_t		  a = ntohl(sin->sin_addr.s_addr);

		return sin->sin_port != 0 && a != 0 && a != 0xffffffff &&
		    (a >> 24) != 127 && (a >> 28) != 0xe;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
		const struct in6_addr	  *a = &s6->sin6_addr;

		return s6->sin6_port != 0 && !IN6_IS_ADDR_UNSPECIFIED(a) &&
		    !IN6_IS_ADDR_LOOPBACK(a) && !IN6_IS_ADDR_MULTICAST(a) &&
		    !IN6_IS_ADDR_LINKLOCAL(a) && !IN6_IS_ADDR_V4MAPPED(a);
	}
	return 0;
}

/* 0 when the connect completed, else -1 with errno set to why not. */
int
net_connect_result(int fd)
{
	int		 err = 0;
	socklen_t	 len = sizeof(err);

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
		return -1;
	if (err != 0) {
		errno = err;
		return -1;
	}
	return 0;
}

/* ---- bounded buffers for I/O ---- */

size_t
iobuf_free(const struct buf *b)
{
	return b->max - buf_len(b);
}

/*
 * need contiguous writable bytes at the end of b, or NULL if b cannot
 * hold them. The caller writes at most need bytes, then commits.
 */
uint8_t *
iobuf_space(struct buf *b, size_t need)
{
	static uint8_t	 none;
	uint8_t		*p;

	/* room for nothing (an empty record) even before any allocation */
	if (need == 0)
		return b->data != NULL ? b->data + b->wpos : &none;
	if (need > iobuf_free(b))
		return NULL;
	if (need > b->max - b->wpos)
		buf_compact(b);
	if (buf_reserve(b, need, &p) == -1)
		return NULL;
	b->wpos -= need;
	return p;
}

void
iobuf_commit(struct buf *b, size_t n)
{
	b->wpos += n;
}

void
iobuf_consume(struct buf *b, size_t n)
{
	(void)buf_skip(b, n);
	if (buf_len(b) == 0)
		b->rpos = b->wpos = 0;
}

/* read(2) at most max bytes into b; 0 at end of stream, -1 with errno. */
ssize_t
iobuf_read(struct buf *b, int fd, size_t max)
{
	uint8_t	*p;
	size_t	 want = iobuf_free(b);
	ssize_t	 n;

	if (want > max)
		want = max;
	if (want == 0 || (p = iobuf_space(b, want)) == NULL) {
		errno = ENOBUFS;
		return -1;
	}
	do {
		n = read(fd, p, want);
	} while (n == -1 && errno == EINTR);
	if (n > 0)
		iobuf_commit(b, n);
	return n;
}

/* write(2) what b holds; the number of bytes written or -1 with errno. */
ssize_t
iobuf_write(struct buf *b, int fd)
{
	ssize_t	 n;

	if (buf_len(b) == 0)
		return 0;
	do {
		n = write(fd, buf_rptr(b), buf_len(b));
	} while (n == -1 && errno == EINTR);
	if (n > 0)
		iobuf_consume(b, n);
	return n;
}

void
mono_now(struct timespec *ts)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
}

double
mono_since(const struct timespec *ts)
{
	struct timespec	 now;

	mono_now(&now);
	return (now.tv_sec - ts->tv_sec) + (now.tv_nsec - ts->tv_nsec) / 1e9;
}
