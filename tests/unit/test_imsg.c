/* SPDX-License-Identifier: ISC */
/*
 * test_imsg.c: the internal message framing of libcommon/imsg.c over real
 * AF_UNIX stream socketpairs. Messages must arrive whole, in order and
 * with the header the sender wrote, however the bytes are split on the
 * way; descriptors must travel only where allowed, match their messages
 * in order and never leak; a malformed, oversized or truncated message
 * must never be delivered.
 */
#include "config.h"

#include <sys/resource.h>
#include <sys/socket.h>

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "imsg.h"
#include "unit.h"

#define POLL_MS		5000

/* Descriptors open in this process (the directory's own one included). */
static int
count_fds(void)
{
	DIR		*d;
	struct dirent	*de;
	int		 n = 0;

	d = opendir("/proc/self/fd");
	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static int
fd_is_open(int fd)
{
	return fcntl(fd, F_GETFD) != -1;
}

static void
set_nonblock(int fd)
{
	int	 fl = fcntl(fd, F_GETFL);

	ck_assert_int_ne(fl, -1);
	ck_assert_int_ne(fcntl(fd, F_SETFL, fl | O_NONBLOCK), -1);
}

static void
mk_pair(int sv[2])
{
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	set_nonblock(sv[0]);
	set_nonblock(sv[1]);
}

/*
 * A channel on a new socket pair sv: tx writes on one end, rx reads the
 * other; each passes descriptors if its fds is set.
 */
static void
chan_open(struct imsgbuf *tx, int txfds, struct imsgbuf *rx, int rxfds,
    int sv[2])
{
	mk_pair(sv);
	imsgbuf_init(tx, sv[0], txfds);
	imsgbuf_init(rx, sv[1], rxfds);
}

static void
close_pair(int sv[2])
{
	close(sv[0]);
	close(sv[1]);
}

static void
chan_close(struct imsgbuf *tx, struct imsgbuf *rx, int sv[2])
{
	imsgbuf_clear(tx);
	imsgbuf_clear(rx);
	close_pair(sv);
}

static void
mk_pipe(int p[2])
{
	ck_assert_int_eq(pipe(p), 0);
}

static void
write_all(int fd, const void *data, size_t len)
{
	const uint8_t	*p = data;
	ssize_t		 n;

	while (len > 0) {
		n = write(fd, p, len);
		ck_assert_int_gt(n, 0);
		p += n;
		len -= n;
	}
}

/* A raw message as a misbehaving peer could write it. */
static size_t
raw_msg(uint8_t *out, uint32_t type, uint32_t len, uint32_t peerid,
    uint32_t flags, const void *payload, size_t plen)
{
	const struct imsg_hdr	 hdr = { type, len, peerid, flags };

	memcpy(out, &hdr, IMSG_HDR_LEN);
	if (plen > 0)
		memcpy(out + IMSG_HDR_LEN, payload, plen);
	return IMSG_HDR_LEN + plen;
}

static void
fill(uint8_t *p, size_t len, unsigned int seed)
{
	size_t	 i;

	for (i = 0; i < len; i++)
		p[i] = (uint8_t)(seed * 31 + i * 7 + (i >> 8));
}

static void
wait_readable(int fd)
{
	struct pollfd	 pfd;

	pfd.fd = fd;
	pfd.events = POLLIN;
	pfd.revents = 0;
	ck_assert_msg(poll(&pfd, 1, POLL_MS) == 1, "nothing to read");
}

/*
 * Deliver the next message from rx, flushing tx (if any) and reading as
 * needed. Fails the test if none arrives or if anything errors.
 */
static void
pump(struct imsgbuf *tx, struct imsgbuf *rx, struct imsg *imsg)
{
	ssize_t	 n;
	int	 r, tries;

	for (tries = 0; tries < 10000; tries++) {
		r = imsg_get(rx, imsg);
		ck_assert_int_ne(r, -1);
		if (r == 1)
			return;
		if (tx != NULL)
			ck_assert_int_ne(imsgbuf_flush(tx), -1);
		wait_readable(rx->fd);
		n = imsgbuf_read(rx);
		ck_assert_msg(n > 0, "imsgbuf_read: %zd", n);
	}
	ck_abort_msg("no message after %d reads", tries);
}

/* Read everything the socket has now, without taking messages. */
static void
read_all(struct imsgbuf *rx)
{
	ssize_t	 n;

	while ((n = imsgbuf_read(rx)) > 0)
		;
	ck_assert_int_eq(n, -1);
	ck_assert_int_eq(errno, EAGAIN);
}

static void
assert_msg(const struct imsg *imsg, uint32_t type, uint32_t peerid,
    const uint8_t *payload, size_t plen)
{
	ck_assert_uint_eq(imsg->hdr.type, type);
	ck_assert_uint_eq(imsg->hdr.peerid, peerid);
	ck_assert_uint_eq(imsg->hdr.len, IMSG_HDR_LEN + plen);
	ck_assert_uint_eq(imsg->len, plen);
	if (plen == 0)
		ck_assert_ptr_null(imsg->data);
	else {
		ck_assert_ptr_nonnull(imsg->data);
		ck_assert_msg(memcmp(imsg->data, payload, plen) == 0,
		    "payload of type %u differs", type);
	}
}

static void
ignore_sigpipe(void)
{
	ck_assert(signal(SIGPIPE, SIG_IGN) != SIG_ERR);
}

/* Writing to a pipe fails with EPIPE once every read end is closed. */
static int
pipe_widowed(int wfd)
{
	ignore_sigpipe();
	return write(wfd, "x", 1) == -1 && errno == EPIPE;
}

/*
 * n new pipes p, the read end of each queued on tx in a message of type
 * i with data (one byte of it, if any) and, with plain, a message without
 * a descriptor after each.
 */
static void
queue_pipes(struct imsgbuf *tx, int p[][2], int n, const char *data,
    int plain)
{
	int	 i;

	for (i = 0; i < n; i++) {
		mk_pipe(p[i]);
		ck_assert_int_eq(imsg_compose(tx, i, 0, p[i][0], data,
		    data != NULL ? 1 : 0), 0);
		if (plain)
			ck_assert_int_eq(imsg_compose(tx, i, 1, -1, NULL, 0),
			    0);
	}
}

/* The write ends of the n pipes p have no reader left: close them. */
static void
close_widowed(int p[][2], int n)
{
	int	 i;

	for (i = 0; i < n; i++) {
		ck_assert(pipe_widowed(p[i][1]));
		close(p[i][1]);
	}
}

START_TEST(test_roundtrip)
{
	static const struct {
		uint32_t	 type, peerid;
		size_t		 len;
	} m[] = {
		{ 1, 0, 0 },
		{ 2, 7, 5 },
		{ 0xfffffffeU, 0xffffffffU, IMSG_MAX_PAYLOAD },
		{ 3, 42, 1 },
		{ 0, 1, IMSG_MAX_PAYLOAD - 1 },
		{ 4, 0x80000000U, 0 },
		{ 5, 9, IMSG_MAX_PAYLOAD },
		{ 6, 10, 300 },
	};
	const size_t	 nm = sizeof(m) / sizeof(m[0]);
	struct imsgbuf	 tx, rx;
	struct imsg	 imsg;
	struct iovec	 iov[3];
	uint8_t		*data;
	size_t		 i;
	int		 sv[2];

	chan_open(&tx, 0, &rx, 0, sv);
	data = malloc(IMSG_MAX_PAYLOAD);
	ck_assert_ptr_nonnull(data);

	for (i = 0; i < nm; i++) {
		fill(data, m[i].len, i);
		ck_assert_int_eq(imsg_compose(&tx, m[i].type, m[i].peerid, -1,
		    m[i].len ? data : NULL, m[i].len), 0);
		ck_assert_uint_eq(tx.queued, i + 1);
	}
	for (i = 0; i < nm; i++) {
		pump(&tx, &rx, &imsg);
		fill(data, m[i].len, i);
		assert_msg(&imsg, m[i].type, m[i].peerid, data,
		    m[i].len);
		ck_assert_uint_eq(imsg.hdr.flags, 0);
		ck_assert_int_eq(imsg.fd, -1);
		imsg_free(&imsg);
		ck_assert_ptr_null(imsg.data);
	}
	ck_assert_int_eq(imsg_get(&rx, &imsg), 0);
	ck_assert_uint_eq(rx.rlen - rx.rpos, 0);
	ck_assert_int_eq(imsgbuf_flush(&tx), 0);
	ck_assert_uint_eq(tx.queued, 0);
	ck_assert(TAILQ_EMPTY(&tx.outq));

	/* the other way, with a scattered payload */
	iov[0].iov_base = (void *)"abc";
	iov[0].iov_len = 3;
	iov[1].iov_base = NULL;
	iov[1].iov_len = 0;
	iov[2].iov_base = (void *)"defgh";
	iov[2].iov_len = 5;
	ck_assert_int_eq(imsg_composev(&rx, 99, 100, -1, iov, 3), 0);
	pump(&rx, &tx, &imsg);
	assert_msg(&imsg, 99, 100, (const uint8_t *)"abcdefgh", 8);
	imsg_free(&imsg);

	imsgbuf_clear(&tx);
	imsgbuf_clear(&rx);
	free(data);
	close_pair(sv);
}
END_TEST

START_TEST(test_get_data)
{
	struct payload {
		uint32_t	 a;
		uint64_t	 b;
		char		 name[12];
	} in, out, zero;
	struct imsgbuf	 tx, rx;
	struct imsg	 imsg;
	uint8_t		 big[sizeof(in) + 8];
	int		 sv[2];

	chan_open(&tx, 0, &rx, 0, sv);
	memset(&in, 0, sizeof(in));
	in.a = 0xdeadbeef;
	in.b = 0x0123456789abcdefULL;
	strcpy(in.name, "relay");
	ck_assert_int_eq(imsg_compose(&tx, 1, 0, -1, &in, sizeof(in)), 0);
	ck_assert_int_eq(imsg_compose(&tx, 2, 0, -1, NULL, 0), 0);

	pump(&tx, &rx, &imsg);
	ck_assert_uint_eq(imsg.len, sizeof(in));
	memset(&out, 0x5a, sizeof(out));
	memset(&zero, 0x5a, sizeof(zero));
	errno = 0;
	ck_assert_int_eq(imsg_get_data(&imsg, &out, sizeof(out) - 1), -1);
	ck_assert_int_eq(errno, EBADMSG);
	ck_assert_mem_eq(&out, &zero, sizeof(out));
	errno = 0;
	ck_assert_int_eq(imsg_get_data(&imsg, big, sizeof(big)), -1);
	ck_assert_int_eq(errno, EBADMSG);
	ck_assert_int_eq(imsg_get_data(&imsg, &out, 0), -1);
	ck_assert_mem_eq(&out, &zero, sizeof(out));
	ck_assert_int_eq(imsg_get_data(&imsg, &out, sizeof(out)), 0);
	ck_assert_mem_eq(&out, &in, sizeof(in));
	imsg_free(&imsg);

	/* an empty payload matches only an empty read */
	pump(&tx, &rx, &imsg);
	ck_assert_uint_eq(imsg.hdr.type, 2);
	ck_assert_int_eq(imsg_get_data(&imsg, &out, 0), 0);
	errno = 0;
	ck_assert_int_eq(imsg_get_data(&imsg, &out, 1), -1);
	ck_assert_int_eq(errno, EBADMSG);
	ck_assert_int_eq(imsg_get_data(&imsg, &out, sizeof(out)), -1);
	imsg_free(&imsg);

	chan_close(&tx, &rx, sv);
}
END_TEST

/* One descriptor: it works on the other side and ownership moves with it. */
START_TEST(test_fd_pass)
{
	struct imsgbuf	 tx, rx;
	struct imsg	 imsg;
	char		 got[8];
	int		 sv[2], p[2], fd, fd0, base;

	base = count_fds();
	chan_open(&tx, 1, &rx, 1, sv);
	mk_pipe(p);

	ck_assert_int_eq(imsg_compose(&tx, 10, 3, p[0], "x", 1), 0);
	ck_assert_int_eq(imsg_compose(&tx, 11, 3, -1, "y", 1), 0);
	ck_assert_int_eq(imsgbuf_flush(&tx), 0);
	/* the sender's copy is closed once the kernel has it */
	ck_assert(!fd_is_open(p[0]));

	pump(NULL, &rx, &imsg);
	assert_msg(&imsg, 10, 3, (const uint8_t *)"x", 1);
	ck_assert_uint_eq(imsg.hdr.flags, IMSGF_HASFD);
	ck_assert_int_ge(imsg.fd, 0);
	ck_assert(fcntl(imsg.fd, F_GETFD) & FD_CLOEXEC);
	ck_assert_int_eq(rx.nrfds, 0);
	write_all(p[1], "ping", 4);
	ck_assert_int_eq(read(imsg.fd, got, sizeof(got)), 4);
	ck_assert_mem_eq(got, "ping", 4);

	fd0 = imsg.fd;
	fd = imsg_take_fd(&imsg);
	ck_assert_int_eq(fd, fd0);
	ck_assert_int_eq(imsg.fd, -1);
	ck_assert_int_eq(imsg_take_fd(&imsg), -1);
	imsg_free(&imsg);
	/* taken: imsg_free must not have closed it */
	ck_assert(fd_is_open(fd));
	write_all(p[1], "pong", 4);
	ck_assert_int_eq(read(fd, got, sizeof(got)), 4);
	ck_assert_mem_eq(got, "pong", 4);

	pump(NULL, &rx, &imsg);
	assert_msg(&imsg, 11, 3, (const uint8_t *)"y", 1);
	ck_assert_uint_eq(imsg.hdr.flags, 0);
	ck_assert_int_eq(imsg.fd, -1);
	ck_assert_int_eq(imsg_take_fd(&imsg), -1);
	imsg_free(&imsg);

	close(fd);
	close_widowed(&p, 1);
	chan_close(&tx, &rx, sv);
	ck_assert_int_eq(count_fds(), base);
}
END_TEST

/* An unclaimed descriptor is closed by imsg_free(). */
START_TEST(test_fd_free_closes)
{
	struct imsgbuf	 tx, rx;
	struct imsg	 imsg;
	int		 sv[2], p[2], base;

	base = count_fds();
	chan_open(&tx, 1, &rx, 1, sv);
	mk_pipe(p);
	ck_assert_int_eq(imsg_compose(&tx, 1, 0, p[0], NULL, 0), 0);
	pump(&tx, &rx, &imsg);
	ck_assert_int_ge(imsg.fd, 0);
	ck_assert_uint_eq(imsg.len, 0);
	/* sv[0], sv[1], p[1] and the received copy of p[0] */
	ck_assert_int_eq(count_fds(), base + 4);
	imsg_free(&imsg);
	ck_assert_int_eq(imsg.fd, -1);
	ck_assert_int_eq(count_fds(), base + 3);
	close_widowed(&p, 1);
	close_pair(sv);
	ck_assert_int_eq(count_fds(), base);
}
END_TEST

/* Several descriptors, mixed with plain messages, match in order. */
START_TEST(test_fd_order)
{
	static const int	 hasfd[] = { 1, 0, 1, 1, 0, 1, 0 };
	const int		 nm = sizeof(hasfd) / sizeof(hasfd[0]);
	struct imsgbuf		 tx, rx;
	struct imsg		 imsg;
	int			 sv[2], p[7][2], i, nfd = 0, base;
	char			 c;

	base = count_fds();
	chan_open(&tx, 1, &rx, 1, sv);
	for (i = 0; i < nm; i++) {
		c = 'A' + i;
		if (hasfd[i]) {
			mk_pipe(p[i]);
			write_all(p[i][1], &c, 1);
			nfd++;
		}
		ck_assert_int_eq(imsg_compose(&tx, 100 + i, i,
		    hasfd[i] ? p[i][0] : -1, &c, 1), 0);
	}
	ck_assert_int_eq(imsgbuf_flush(&tx), 0);
	ck_assert_uint_eq(tx.queued, 0);

	/* everything is read before any message is taken */
	read_all(&rx);
	ck_assert_int_eq(rx.nrfds, nfd);
	ck_assert_uint_eq(rx.rlen, nm * (IMSG_HDR_LEN + 1));

	for (i = 0; i < nm; i++) {
		char	 want = 'A' + i, got = 0;

		ck_assert_int_eq(imsg_get(&rx, &imsg), 1);
		assert_msg(&imsg, 100 + i, i,
		    (const uint8_t *)&want, 1);
		if (hasfd[i]) {
			ck_assert_uint_eq(imsg.hdr.flags, IMSGF_HASFD);
			ck_assert_int_ge(imsg.fd, 0);
			ck_assert_int_eq(read(imsg.fd, &got, 1), 1);
			ck_assert_msg(got == want, "message %d got the "
			    "descriptor of %c", i, got);
			nfd--;
		} else {
			ck_assert_uint_eq(imsg.hdr.flags, 0);
			ck_assert_int_eq(imsg.fd, -1);
		}
		ck_assert_int_eq(rx.nrfds, nfd);
		imsg_free(&imsg);
	}
	ck_assert_int_eq(imsg_get(&rx, &imsg), 0);
	for (i = 0; i < nm; i++)
		if (hasfd[i]) {
			ck_assert(pipe_widowed(p[i][1]));
			close(p[i][1]);
		}
	close_pair(sv);
	ck_assert_int_eq(count_fds(), base);
}
END_TEST

/* A sender that may not pass descriptors refuses at compose time. */
START_TEST(test_fd_sender_not_allowed)
{
	struct imsgbuf	 tx, rx;
	struct imsg	 imsg;
	int		 sv[2], p[2];

	chan_open(&tx, 0, &rx, 1, sv);
	mk_pipe(p);
	errno = 0;
	ck_assert_int_eq(imsg_compose(&tx, 1, 0, p[0], "a", 1), -1);
	ck_assert_int_eq(errno, EPERM);
	ck_assert_uint_eq(tx.queued, 0);
	ck_assert(TAILQ_EMPTY(&tx.outq));
	/* refused: the caller still owns the descriptor */
	ck_assert(fd_is_open(p[0]));

	ck_assert_int_eq(imsg_compose(&tx, 2, 0, -1, "b", 1), 0);
	pump(&tx, &rx, &imsg);
	assert_msg(&imsg, 2, 0, (const uint8_t *)"b", 1);
	ck_assert_uint_eq(imsg.hdr.flags, 0);
	ck_assert_int_eq(imsg.fd, -1);
	ck_assert_int_eq(rx.nrfds, 0);
	imsg_free(&imsg);
	ck_assert_int_eq(imsg_get(&rx, &imsg), 0);

	close(p[0]);
	close(p[1]);
	close_pair(sv);
}
END_TEST

/* A receiver that may not get descriptors rejects one and leaks nothing. */
START_TEST(test_fd_receiver_not_allowed)
{
	struct imsgbuf	 tx, rx;
	int		 sv[2], p[2], before;

	chan_open(&tx, 1, &rx, 0, sv);
	mk_pipe(p);
	ck_assert_int_eq(imsg_compose(&tx, 1, 0, p[0], "a", 1), 0);
	ck_assert_int_eq(imsgbuf_flush(&tx), 0);
	ck_assert(!fd_is_open(p[0]));

	before = count_fds();
	errno = 0;
	ck_assert_int_eq(imsgbuf_read(&rx), -1);
	ck_assert_int_eq(errno, EBADMSG);
	ck_assert_int_eq(count_fds(), before);
	ck_assert_int_eq(rx.nrfds, 0);
	/* the descriptor that came in was closed: no read end is left */
	ck_assert(pipe_widowed(p[1]));

	close(p[1]);
	close_pair(sv);
}
END_TEST

/* More unclaimed descriptors than the queue holds: EBADMSG, no leak. */
START_TEST(test_fd_queue_full)
{
	struct imsgbuf	 tx, rx;
	int		 sv[2], p[2], i, base;
	ssize_t		 n;

	base = count_fds();
	chan_open(&tx, 1, &rx, 1, sv);
	mk_pipe(p);
	for (i = 0; i < IMSG_MAX_FDQUEUE + 1; i++) {
		int	 d = dup(p[0]);

		ck_assert_int_ge(d, 0);
		ck_assert_int_eq(imsg_compose(&tx, 1, i, d, NULL, 0), 0);
	}
	ck_assert_int_eq(imsgbuf_flush(&tx), 0);
	while ((n = imsgbuf_read(&rx)) > 0)
		;
	ck_assert_int_eq(n, -1);
	ck_assert_int_eq(errno, EBADMSG);
	ck_assert_int_eq(rx.nrfds, IMSG_MAX_FDQUEUE);
	imsgbuf_clear(&rx);
	ck_assert_int_eq(rx.nrfds, 0);
	close(p[0]);
	close_widowed(&p, 1);
	close_pair(sv);
	ck_assert_int_eq(count_fds(), base);
}
END_TEST

/* A message fed one byte at a time appears only when it is complete. */
START_TEST(test_partial_read)
{
	struct imsgbuf	 rx;
	struct imsg	 imsg;
	uint8_t		 raw[2 * (IMSG_HDR_LEN + 300)], payload[300];
	size_t		 len, len2, i;
	int		 sv[2];

	mk_pair(sv);
	imsgbuf_init(&rx, sv[1], 0);
	fill(payload, sizeof(payload), 5);
	len = raw_msg(raw, 77, IMSG_HDR_LEN + 300, 5, 0, payload, 300);

	for (i = 0; i < len; i++) {
		write_all(sv[0], raw + i, 1);
		ck_assert_int_eq(imsgbuf_read(&rx), 1);
		ck_assert_uint_eq(rx.rlen, i + 1);
		if (i + 1 < len) {
			ck_assert_msg(imsg_get(&rx, &imsg) == 0,
			    "message delivered after %zu of %zu bytes", i + 1,
			    len);
			ck_assert_int_eq(imsg.fd, -1);
		}
	}
	ck_assert_int_eq(imsg_get(&rx, &imsg), 1);
	assert_msg(&imsg, 77, 5, payload, 300);
	imsg_free(&imsg);
	ck_assert_uint_eq(rx.rlen - rx.rpos, 0);
	ck_assert_int_eq(imsg_get(&rx, &imsg), 0);

	/* a whole message and the start of the next in one read */
	len = raw_msg(raw, 1, IMSG_HDR_LEN + 3, 0, 0, "abc", 3);
	len2 = raw_msg(raw + len, 2, IMSG_HDR_LEN + 4, 0, 0, "defg", 4);
	write_all(sv[0], raw, len + 7);
	ck_assert_int_eq(imsgbuf_read(&rx), len + 7);
	ck_assert_int_eq(imsg_get(&rx, &imsg), 1);
	assert_msg(&imsg, 1, 0, (const uint8_t *)"abc", 3);
	imsg_free(&imsg);
	ck_assert_int_eq(imsg_get(&rx, &imsg), 0);
	ck_assert_uint_eq(rx.rlen - rx.rpos, 7);
	write_all(sv[0], raw + len + 7, len2 - 7);
	ck_assert_int_eq(imsgbuf_read(&rx), len2 - 7);
	ck_assert_int_eq(imsg_get(&rx, &imsg), 1);
	assert_msg(&imsg, 2, 0, (const uint8_t *)"defg", 4);
	imsg_free(&imsg);
	ck_assert_int_eq(imsg_get(&rx, &imsg), 0);

	close_pair(sv);
}
END_TEST

/*
 * A small send buffer: the queue drains over many partial writes, and
 * the messages still arrive whole and in order.
 */
START_TEST(test_partial_write)
{
	enum { NMSG = 24 };
	struct imsgbuf	 tx, rx;
	struct imsg	 imsg;
	uint8_t		*data;
	size_t		 plen;
	ssize_t		 n;
	int		 sv[2], sz = 4096, got = 0, r, tries, partial = 0;
	int		 i;

	chan_open(&tx, 0, &rx, 0, sv);
	ck_assert_int_eq(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz,
	    sizeof(sz)), 0);
	ck_assert_int_eq(setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &sz,
	    sizeof(sz)), 0);
	data = malloc(IMSG_MAX_PAYLOAD);
	ck_assert_ptr_nonnull(data);
	for (i = 0; i < NMSG; i++) {
		plen = IMSG_MAX_PAYLOAD - i * 997;
		fill(data, plen, i);
		ck_assert_int_eq(imsg_compose(&tx, i, i * 3, -1, data, plen),
		    0);
	}
	ck_assert_uint_eq(tx.queued, NMSG);

	/* nobody reads: the queue cannot drain */
	ck_assert_int_eq(imsgbuf_flush(&tx), 1);
	ck_assert_uint_gt(tx.queued, 0);
	ck_assert_int_eq(imsgbuf_flush(&tx), 1);
	ck_assert_uint_gt(tx.queued, 0);

	for (tries = 0; got < NMSG && tries < 1000000; tries++) {
		n = imsgbuf_read(&rx);
		if (n == -1)
			ck_assert_int_eq(errno, EAGAIN);
		else
			ck_assert_int_gt(n, 0);
		while ((r = imsg_get(&rx, &imsg)) == 1) {
			plen = IMSG_MAX_PAYLOAD - got * 997;
			fill(data, plen, got);
			assert_msg(&imsg, got, got * 3, data, plen);
			imsg_free(&imsg);
			got++;
		}
		ck_assert_int_eq(r, 0);
		r = imsgbuf_flush(&tx);
		ck_assert_int_ne(r, -1);
		if (r == 1 && !TAILQ_EMPTY(&tx.outq) &&
		    TAILQ_FIRST(&tx.outq)->off > 0)
			partial++;
	}
	ck_assert_int_eq(got, NMSG);
	/* some message went out in pieces */
	ck_assert_int_gt(partial, 0);
	ck_assert_int_eq(imsgbuf_flush(&tx), 0);
	ck_assert_uint_eq(tx.queued, 0);
	ck_assert(TAILQ_EMPTY(&tx.outq));
	ck_assert_uint_eq(rx.rlen - rx.rpos, 0);
	ck_assert_int_eq(imsgbuf_read(&rx), -1);
	ck_assert_int_eq(errno, EAGAIN);

	free(data);
	close_pair(sv);
}
END_TEST

/* The read buffer holds one largest message; it reports when full. */
START_TEST(test_read_buffer_full)
{
	struct imsgbuf	 tx, rx;
	struct imsg	 imsg;
	uint8_t		*data;
	ssize_t		 n;
	int		 sv[2], i;

	chan_open(&tx, 0, &rx, 0, sv);
	data = malloc(IMSG_MAX_PAYLOAD);
	ck_assert_ptr_nonnull(data);
	for (i = 0; i < 2; i++) {
		fill(data, IMSG_MAX_PAYLOAD, i);
		ck_assert_int_eq(imsg_compose(&tx, i, 0, -1, data,
		    IMSG_MAX_PAYLOAD), 0);
	}
	for (i = 0; i < 2; i++) {
		while ((n = imsgbuf_read(&rx)) > 0 || errno == EAGAIN) {
			ck_assert_int_ne(imsgbuf_flush(&tx), -1);
			if (n == -1)
				wait_readable(rx.fd);
		}
		ck_assert_int_eq(n, -1);
		ck_assert_int_eq(errno, ENOBUFS);
		ck_assert_uint_eq(rx.rlen, IMSG_RBUF_LEN);
		ck_assert_int_eq(imsg_get(&rx, &imsg), 1);
		fill(data, IMSG_MAX_PAYLOAD, i);
		assert_msg(&imsg, i, 0, data, IMSG_MAX_PAYLOAD);
		imsg_free(&imsg);
		ck_assert_uint_eq(rx.rlen - rx.rpos, 0);
	}
	free(data);
	close_pair(sv);
}
END_TEST

START_TEST(test_oversized_compose)
{
	struct imsgbuf	 tx;
	struct iovec	 iov[3];
	uint8_t		*data;
	int		 sv[2];

	mk_pair(sv);
	imsgbuf_init(&tx, sv[0], 0);
	data = calloc(1, IMSG_MAX_PAYLOAD + 1);
	ck_assert_ptr_nonnull(data);

	errno = 0;
	ck_assert_int_eq(imsg_compose(&tx, 1, 0, -1, data,
	    IMSG_MAX_PAYLOAD + 1), -1);
	ck_assert_int_eq(errno, EMSGSIZE);
	ck_assert_uint_eq(tx.queued, 0);
	ck_assert(TAILQ_EMPTY(&tx.outq));
	errno = 0;
	ck_assert_int_eq(imsg_compose(&tx, 1, 0, -1, data, SIZE_MAX), -1);
	ck_assert_int_eq(errno, EMSGSIZE);

	/* the sum counts, not each piece, and it must not wrap */
	iov[0].iov_base = data;
	iov[0].iov_len = IMSG_MAX_PAYLOAD / 2;
	iov[1].iov_base = data;
	iov[1].iov_len = IMSG_MAX_PAYLOAD / 2 + 1;
	errno = 0;
	ck_assert_int_eq(imsg_composev(&tx, 1, 0, -1, iov, 2), -1);
	ck_assert_int_eq(errno, EMSGSIZE);
	iov[1].iov_len = SIZE_MAX - IMSG_MAX_PAYLOAD / 2 + 2;
	ck_assert_int_eq(imsg_composev(&tx, 1, 0, -1, iov, 2), -1);
	ck_assert_int_eq(errno, EMSGSIZE);
	ck_assert_uint_eq(tx.queued, 0);

	/* exactly the maximum is fine, split or not */
	iov[1].iov_len = IMSG_MAX_PAYLOAD / 2 - 1;
	iov[2].iov_base = data;
	iov[2].iov_len = 1;
	ck_assert_int_eq(imsg_composev(&tx, 1, 0, -1, iov, 3), 0);
	ck_assert_int_eq(imsg_compose(&tx, 1, 0, -1, data, IMSG_MAX_PAYLOAD),
	    0);
	ck_assert_uint_eq(tx.queued, 2);
	ck_assert_uint_eq(TAILQ_FIRST(&tx.outq)->len, IMSG_RBUF_LEN);
	imsgbuf_clear(&tx);
	ck_assert_uint_eq(tx.queued, 0);
	ck_assert(TAILQ_EMPTY(&tx.outq));
	free(data);
	close_pair(sv);
}
END_TEST

/* Malformed headers from the peer: never delivered, EBADMSG. */
static const struct {
	const char	*name;
	uint32_t	 len;
	uint32_t	 flags;
	size_t		 plen;	/* payload bytes actually written */
} bad_hdr[] = {
	{ "len over max", IMSG_HDR_LEN + IMSG_MAX_PAYLOAD + 1, 0, 0 },
	{ "len over max, body sent", IMSG_HDR_LEN + IMSG_MAX_PAYLOAD + 1, 0,
	    IMSG_MAX_PAYLOAD + 1 },
	{ "len huge", UINT32_MAX, 0, 0 },
	{ "len below header", IMSG_HDR_LEN - 1, 0, 0 },
	{ "len zero", 0, 0, 0 },
	{ "unknown flag", IMSG_HDR_LEN + 4, 0x2, 4 },
	{ "high flag with fd flag", IMSG_HDR_LEN, 0x80000000U | IMSGF_HASFD,
	    0 },
	{ "fd flag without fd", IMSG_HDR_LEN + 4, IMSGF_HASFD, 4 },
	{ "fd flag without fd, empty", IMSG_HDR_LEN, IMSGF_HASFD, 0 },
};

START_TEST(test_bad_header)
{
	struct imsgbuf	 rx;
	struct imsg	 imsg;
	uint8_t		*raw, *payload;
	size_t		 len, off;
	ssize_t		 n;
	int		 sv[2], r = 0, tries;

	mk_pair(sv);
	imsgbuf_init(&rx, sv[1], 1);
	payload = calloc(1, IMSG_MAX_PAYLOAD + 1);
	raw = malloc(2 * IMSG_HDR_LEN + 4 + IMSG_MAX_PAYLOAD + 1);
	ck_assert_ptr_nonnull(payload);
	ck_assert_ptr_nonnull(raw);

	/* a good message first: it is delivered, the bad one is not */
	off = raw_msg(raw, 1, IMSG_HDR_LEN + 4, 2, 0, "good", 4);
	len = off + raw_msg(raw + off, 7, bad_hdr[_i].len, 0,
	    bad_hdr[_i].flags, payload, bad_hdr[_i].plen);
	off = 0;
	for (tries = 0; tries < 1000; tries++) {
		if (off < len) {
			n = write(sv[0], raw + off, len - off);
			if (n > 0)
				off += n;
		}
		n = imsgbuf_read(&rx);
		ck_assert(n > 0 || (n == -1 && errno == EAGAIN));
		if (tries == 0) {
			ck_assert_int_eq(imsg_get(&rx, &imsg), 1);
			assert_msg(&imsg, 1, 2, (const uint8_t *)"good", 4);
			imsg_free(&imsg);
		}
		errno = 0;
		if ((r = imsg_get(&rx, &imsg)) != 0 || off == len)
			break;
	}
	ck_assert_msg(r == -1, "%s: imsg_get %d", bad_hdr[_i].name, r);
	ck_assert_int_eq(errno, EBADMSG);
	ck_assert_int_eq(imsg.fd, -1);
	ck_assert_ptr_null(imsg.data);
	/* and it stays refused */
	ck_assert_int_eq(imsg_get(&rx, &imsg), -1);

	free(raw);
	free(payload);
	close_pair(sv);
}
END_TEST

/* The peer writes part of a message and goes away: nothing is delivered. */
static const size_t	 trunc_at[] = { 1, IMSG_HDR_LEN - 1, IMSG_HDR_LEN,
    IMSG_HDR_LEN + 50, IMSG_HDR_LEN + 99 };

START_TEST(test_truncated)
{
	struct imsgbuf	 rx;
	struct imsg	 imsg;
	uint8_t		 raw[IMSG_HDR_LEN + 100], payload[100];
	size_t		 cut = trunc_at[_i];
	int		 sv[2];

	mk_pair(sv);
	imsgbuf_init(&rx, sv[1], 0);
	fill(payload, sizeof(payload), 1);
	raw_msg(raw, 5, sizeof(raw), 0, 0, payload, sizeof(payload));
	write_all(sv[0], raw, cut);
	close(sv[0]);

	ck_assert_int_eq(imsgbuf_read(&rx), cut);
	ck_assert_int_eq(imsg_get(&rx, &imsg), 0);
	ck_assert_int_eq(imsgbuf_read(&rx), 0);
	ck_assert_int_eq(imsg_get(&rx, &imsg), 0);
	ck_assert_ptr_null(imsg.data);
	ck_assert_uint_eq(rx.rlen, cut);
	close(sv[1]);
}
END_TEST

/* Writing to a closed peer fails, without a SIGPIPE. */
START_TEST(test_flush_peer_closed)
{
	struct imsgbuf	 tx;
	void		(*old)(int);
	int		 sv[2];

	old = signal(SIGPIPE, SIG_DFL);
	ck_assert(old != SIG_ERR);
	mk_pair(sv);
	imsgbuf_init(&tx, sv[0], 0);
	close(sv[1]);
	ck_assert_int_eq(imsg_compose(&tx, 1, 0, -1, "a", 1), 0);
	errno = 0;
	ck_assert_int_eq(imsgbuf_flush(&tx), -1);
	ck_assert_int_eq(errno, EPIPE);
	ck_assert_uint_eq(tx.queued, 1);
	imsgbuf_clear(&tx);
	close(sv[0]);
	signal(SIGPIPE, old);
}
END_TEST

/* imsgbuf_clear() closes the descriptors of messages never sent. */
START_TEST(test_clear_outq_fds)
{
	struct imsgbuf	 tx, rx;
	int		 sv[2], p[3][2], i, before;

	chan_open(&tx, 1, &rx, 1, sv);
	queue_pipes(&tx, p, 3, "z", 1);
	ck_assert_uint_eq(tx.queued, 6);
	before = count_fds();
	imsgbuf_clear(&tx);
	ck_assert_int_eq(count_fds(), before - 3);
	ck_assert_uint_eq(tx.queued, 0);
	ck_assert(TAILQ_EMPTY(&tx.outq));
	for (i = 0; i < 3; i++)
		ck_assert(!fd_is_open(p[i][0]));
	close_widowed(p, 3);
	/* nothing was sent, and the socket still works */
	ck_assert_int_eq(imsgbuf_read(&rx), -1);
	ck_assert_int_eq(errno, EAGAIN);
	ck_assert_int_eq(imsg_compose(&tx, 9, 0, -1, NULL, 0), 0);
	ck_assert_int_eq(imsgbuf_flush(&tx), 0);
	ck_assert_int_gt(imsgbuf_read(&rx), 0);
	close_pair(sv);
}
END_TEST

/* imsgbuf_clear() closes descriptors received but never claimed. */
START_TEST(test_clear_rfds)
{
	struct imsgbuf	 tx, rx;
	int		 sv[2], p[2][2], before;

	chan_open(&tx, 1, &rx, 1, sv);
	queue_pipes(&tx, p, 2, NULL, 0);
	ck_assert_int_eq(imsgbuf_flush(&tx), 0);
	read_all(&rx);
	ck_assert_int_eq(rx.nrfds, 2);
	ck_assert_uint_eq(rx.rlen, 2 * IMSG_HDR_LEN);
	before = count_fds();
	imsgbuf_clear(&rx);
	ck_assert_int_eq(count_fds(), before - 2);
	ck_assert_int_eq(rx.nrfds, 0);
	ck_assert_uint_eq(rx.rlen - rx.rpos, 0);
	close_widowed(p, 2);
	close_pair(sv);
}
END_TEST

/*
 * A receiver out of descriptors: the kernel drops the one passed with a
 * message. The message still arrives, its descriptor marked lost, and the
 * channel goes on: the next message and its descriptor are fine.
 */
START_TEST(test_fd_lost)
{
	struct imsgbuf	 tx, rx;
	struct imsg	 imsg;
	struct rlimit	 rl, saved;
	int		 sv[2], p[2], q[2], n, fd;

	chan_open(&tx, 1, &rx, 1, sv);
	mk_pipe(p);
	mk_pipe(q);
	ck_assert_int_eq(imsg_compose(&tx, 1, 10, p[0], "a", 1), 0);
	ck_assert_int_eq(imsgbuf_flush(&tx), 0);

	/* the lowest free descriptor is the limit: none can be had */
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &saved), 0);
	for (fd = 0; fcntl(fd, F_GETFD) != -1; fd++)
		;
	rl.rlim_cur = fd;
	rl.rlim_max = saved.rlim_max;
	n = count_fds();
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
	ck_assert_int_eq(imsgbuf_read(&rx), IMSG_HDR_LEN + 1);
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &saved), 0);
	ck_assert_int_eq(imsg_get(&rx, &imsg), 1);
	assert_msg(&imsg, 1, 10, (const uint8_t *)"a", 1);
	ck_assert_int_eq(imsg.fd, -1);
	ck_assert_int_eq(imsg.fd_lost, 1);
	imsg_free(&imsg);
	ck_assert_int_eq(count_fds(), n);

	ck_assert_int_eq(imsg_compose(&tx, 2, 11, q[0], "b", 1), 0);
	ck_assert_int_eq(imsgbuf_flush(&tx), 0);
	read_all(&rx);
	ck_assert_int_eq(imsg_get(&rx, &imsg), 1);
	assert_msg(&imsg, 2, 11, (const uint8_t *)"b", 1);
	ck_assert_int_ne(imsg.fd, -1);
	ck_assert_int_eq(imsg.fd_lost, 0);
	imsg_free(&imsg);
	close(p[1]);
	close(q[1]);
	close_pair(sv);
}
END_TEST

/*
 * "kernel limits" is the kernel's descriptor limit: valgrind keeps its own
 * limit apart from the program's, so `make check-valgrind` leaves this case
 * out (CK_EXCLUDE_TAGS) and `make check` runs it.
 */
UNIT_MAIN("imsg",
	{ "messages", { { test_roundtrip }, { test_get_data },
	    { test_partial_read }, { test_partial_write },
	    { test_read_buffer_full }, { test_flush_peer_closed } } },
	{ "descriptors", { { test_fd_pass }, { test_fd_free_closes },
	    { test_fd_order }, { test_fd_sender_not_allowed },
	    { test_fd_receiver_not_allowed }, { test_fd_queue_full },
	    { test_clear_outq_fds }, { test_clear_rfds } } },
	{ "kernel limits", { { test_fd_lost } }, .tags = "rlimit" },
	{ "malformed", { { test_oversized_compose },
	    { test_bad_header, sizeof(bad_hdr) / sizeof(bad_hdr[0]) },
	    { test_truncated,
	    sizeof(trunc_at) / sizeof(trunc_at[0]) } } });
