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

/*
 * A non-blocking TCP connect. Returns the socket (the connect may still
 * be in progress: wait for writability, then net_connect_result()) or -1.
 */
int
net_connect_start(const struct sockaddr *sa, socklen_t salen)
{
	int	 fd, on = 1, saved;

	if ((fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, IPPROTO_TCP)) == -1)
		return -1;
	/* records are written whole: Nagle would only add latency */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
	if (connect(fd, sa, salen) == -1 && errno != EINPROGRESS) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
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
