/* SPDX-License-Identifier: ISC */
/* tclient.c: the blocking test client of tclient.h; test code only. */
#include "config.h"

#include <sys/socket.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buffer.h"
#include "tclient.h"
#include "util.h"

int
t_tcp_connect(int port)
{
	return t_tcp_connect_from(NULL, port);
}

/* From the local address src (NULL: any), e.g. one of 127.0.0.0/8. */
int
t_tcp_connect_from(const char *src, int port)
{
	struct sockaddr_in	 sin;
	int			 fd;

	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	if (src != NULL) {
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		if (inet_pton(AF_INET, src, &sin.sin_addr) != 1 ||
		    bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1) {
			close(fd);
			return -1;
		}
	}
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return tcp_connect_nodelay(fd, (struct sockaddr *)&sin, sizeof(sin));
}

static int
t_handshake(struct tconn *t, int initiator, const struct identity *ident,
    const uint8_t *ctx, size_t ctxlen, const char *expect)
{
	struct handshake	 hs;
	uint8_t			 m1[HS_FRAME_M1], m2[HS_FRAME_M2];
	uint8_t			 m3[HS_FRAME_M3];
	int			 ok = -1;

	hs_init(&hs, initiator ? HS_INITIATOR : HS_RESPONDER, ctx, ctxlen,
	    ident->pk, expect);
	if (initiator) {
		if (hs_write_m1(&hs, m1, sizeof(m1)) < 0 ||
		    t_write_full(t->fd, m1, sizeof(m1)) == -1 ||
		    t_read_full(t->fd, m2, sizeof(m2), 5000) != 0 ||
		    get_be16(m2) != HS_M2_LEN ||
		    hs_read_m2(&hs, m2 + 2, HS_M2_LEN) == -1 ||
		    hs_sign(&hs, ident) == -1 ||
		    hs_write_m3(&hs, m3, sizeof(m3)) < 0 ||
		    t_write_full(t->fd, m3, sizeof(m3)) == -1)
			goto done;
	} else {
		if (t_read_full(t->fd, m1, sizeof(m1), 5000) != 0 ||
		    get_be16(m1) != HS_M1_LEN ||
		    hs_read_m1(&hs, m1 + 2, HS_M1_LEN) == -1 ||
		    hs_sign(&hs, ident) == -1 ||
		    hs_write_m2(&hs, m2, sizeof(m2)) < 0 ||
		    t_write_full(t->fd, m2, sizeof(m2)) == -1 ||
		    t_read_full(t->fd, m3, sizeof(m3), 5000) != 0 ||
		    get_be16(m3) != HS_M3_LEN ||
		    hs_read_m3(&hs, m3 + 2, HS_M3_LEN) == -1)
			goto done;
	}
	if (rec_init_from_hs(&t->rec, &hs) == -1)
		goto done;
	strlcpy(t->peer_id, hs.peer_id, sizeof(t->peer_id));
	ok = 0;
done:
	if (ok == -1 && hs.error != NULL)
		fprintf(stderr, "handshake: %s\n", hs.error);
	hs_clear(&hs);
	return ok;
}

int
t_ctl_open(struct tconn *t, int port, const struct identity *ident,
    const char *expect)
{
	return t_ctl_open_from(t, NULL, port, ident, expect);
}

int
t_ctl_open_from(struct tconn *t, const char *src, int port,
    const struct identity *ident, const char *expect)
{
	memset(t, 0, sizeof(*t));
	t->fd = -1;
	if (proto_arena_init(&t->arena, PROTO_ARENA_CLIENT) == -1)
		return -1;
	if ((t->fd = t_tcp_connect_from(src, port)) == -1)
		return -1;
	if (t_write_full(t->fd, "RLY\x01" "C", PREAMBLE_LEN) == -1)
		return -1;
	return t_handshake(t, 1, ident, (const uint8_t *)HS_CTX_CONTROL,
	    strlen(HS_CTX_CONTROL), expect);
}

int
t_e2e(struct tconn *t, int fd, int initiator, const struct identity *ident,
    const uint8_t sid[SESSION_ID_LEN], const char *alpn, const char *expect)
{
	uint8_t	 ctx[HS_MAX_CTX_LEN];
	int	 n;

	memset(t, 0, sizeof(*t));
	t->fd = fd;
	if ((n = hs_ctx_e2e(ctx, sizeof(ctx), sid, alpn)) < 0)
		return -1;
	return t_handshake(t, initiator, ident, ctx, n, expect);
}

int
t_send_raw_record(struct tconn *t, const uint8_t *p, size_t len)
{
	uint8_t	 frame[REC_MAX_FRAME];
	ssize_t	 f;

	if ((f = rec_seal(&t->rec, REC_TYPE_DATA, p, len, frame,
	    sizeof(frame))) < 0)
		return -1;
	return t_write_full(t->fd, frame, f);
}

int
t_send(struct tconn *t, const ClientMessage *m)
{
	uint8_t	 pt[REC_MAX_PAYLOAD];
	ssize_t	 n;

	if ((n = proto_pack_client(m, pt, sizeof(pt))) == -1)
		return -1;
	return t_send_raw_record(t, pt, n);
}

/* The next RelayMessage, or NULL (timeout, close, error). */
RelayMessage *
t_recv(struct tconn *t, int timeout_ms)
{
	uint8_t		 pt[REC_MAX_PAYLOAD];
	RelayMessage	*m;
	ssize_t		 flen, n;
	size_t		 plen;
	struct pollfd	 pfd;
	int		 r;

	for (;;) {
		flen = rec_frame_len(t->in, t->inlen);
		if (flen < 0)
			return NULL;
		if (flen > 0 && (size_t)flen <= t->inlen) {
			r = rec_open(&t->rec, t->in, flen, pt, sizeof(pt),
			    &plen);
			memmove(t->in, t->in + flen, t->inlen - flen);
			t->inlen -= flen;
			if (r == REC_CLOSE) {
				t->peer_closed = 1;
				t->close_record = 1;
				return NULL;
			}
			if (r != REC_DATA)
				return NULL;
			m = proto_unpack_relay(&t->arena, pt, plen);
			if (m == NULL)
				return NULL;
			return m;
		}
		pfd.fd = t->fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, timeout_ms) <= 0)
			return NULL;
		n = read(t->fd, t->in + t->inlen, sizeof(t->in) - t->inlen);
		if (n <= 0) {
			t->peer_closed = 1;
			return NULL;
		}
		t->inlen += n;
	}
}

/* 0 if the relay closes the connection (close record or EOF) in time. */
int
t_wait_closed(struct tconn *t, int timeout_ms)
{
	uint8_t		 buf[4096];
	struct pollfd	 pfd;
	ssize_t		 n;

	for (;;) {
		pfd.fd = t->fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, timeout_ms) <= 0)
			return -1;
		n = read(t->fd, buf, sizeof(buf));
		if (n == 0 || (n == -1 && errno == ECONNRESET))
			return 0;
		if (n < 0)
			return -1;
	}
}

void
t_close(struct tconn *t)
{
	if (t->fd != -1)
		close(t->fd);
	t->fd = -1;
	rec_clear(&t->rec);
	proto_arena_free(&t->arena);
}

int
t_data_open(int port, const uint8_t token[TOKEN_LEN])
{
	return t_data_open_from(NULL, port, token);
}

int
t_data_open_from(const char *src, int port, const uint8_t token[TOKEN_LEN])
{
	uint8_t	 pre[DATA_PREAMBLE_TOTAL];
	int	 fd;

	if ((fd = t_tcp_connect_from(src, port)) == -1)
		return -1;
	memcpy(pre, "RLY\x01" "D", PREAMBLE_LEN);
	memcpy(pre + PREAMBLE_LEN, token, TOKEN_LEN);
	if (t_write_full(fd, pre, sizeof(pre)) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * 0 if the relay's next record is its close record and the end of the
 * stream follows, all within timeout_ms; -1 if anything else comes first.
 */
int
t_wait_close_record(struct tconn *t, int timeout_ms)
{
	RelayMessage	*m;

	uint8_t		 b;
	struct pollfd	 pfd;
	ssize_t		 n;

	if (!t->close_record) {
		if ((m = t_recv(t, timeout_ms)) != NULL || !t->close_record)
			return -1;
	}
	if (t->inlen > 0)
		return -1;	/* bytes after the close record */
	pfd.fd = t->fd;
	pfd.events = POLLIN;
	if (poll(&pfd, 1, timeout_ms) <= 0)
		return -1;
	n = read(t->fd, &b, 1);
	return n == 0 || (n == -1 && errno == ECONNRESET) ? 0 : -1;
}

int
t_send_close(struct tconn *t)
{
	uint8_t	 frame[64];
	ssize_t	 f;

	if ((f = rec_seal(&t->rec, REC_TYPE_CLOSE, NULL, 0, frame,
	    sizeof(frame))) < 0)
		return -1;
	return t_write_full(t->fd, frame, f);
}

/* The local port of a connected socket: what the relay sees as ours. */
int
t_local_port(int fd)
{
	struct sockaddr_in	 sin;
	socklen_t		 len = sizeof(sin);

	if (getsockname(fd, (struct sockaddr *)&sin, &len) == -1)
		return -1;
	return ntohs(sin.sin_port);
}

double
t_now(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

void
t_msg_register(ClientMessage *m, Relay__V1__Register *r, uint32_t rid,
    const char *name, char **alpns, size_t nalpn, uint32_t ttl)
{
	relay__v1__client_message__init(m);
	relay__v1__register__init(r);
	r->request_id = rid;
	r->name = (char *)name;
	r->alpn = alpns;
	r->n_alpn = nalpn;
	r->ttl_seconds = ttl;
	m->msg_case = RELAY__V1__CLIENT_MESSAGE__MSG_REGISTER;
	m->register_ = r;
}

/* A Connect to the lease named target (by_name) or to the ID target. */
void
t_msg_connect(ClientMessage *m, Relay__V1__Connect *c, uint32_t rid,
    int by_name, const char *target, const char *alpn)
{
	relay__v1__client_message__init(m);
	relay__v1__connect__init(c);
	c->request_id = rid;
	proto_connect_target(c, by_name ? NULL : target, target);
	c->alpn = (char *)alpn;
	m->msg_case = RELAY__V1__CLIENT_MESSAGE__MSG_CONNECT;
	m->connect = c;
}

void
t_msg_list(ClientMessage *m, Relay__V1__ListLeases *l, uint32_t rid,
    uint32_t offset)
{
	relay__v1__client_message__init(m);
	relay__v1__list_leases__init(l);
	l->request_id = rid;
	l->offset = offset;
	m->msg_case = RELAY__V1__CLIENT_MESSAGE__MSG_LIST_LEASES;
	m->list_leases = l;
}

int
t_send_ping(struct tconn *t, uint64_t nonce)
{
	ClientMessage	 m = RELAY__V1__CLIENT_MESSAGE__INIT;
	Relay__V1__Ping	 p = RELAY__V1__PING__INIT;

	p.nonce = nonce;
	m.msg_case = RELAY__V1__CLIENT_MESSAGE__MSG_PING;
	m.ping = &p;
	return t_send(t, &m);
}

/* Send Accept (or Reject, with reason) for a session_id of any length. */
int
t_session_op(struct tconn *t, int accept, const uint8_t *sid, size_t len,
    const char *reason)
{
	ClientMessage		 m = RELAY__V1__CLIENT_MESSAGE__INIT;
	Relay__V1__Accept	 a = RELAY__V1__ACCEPT__INIT;
	Relay__V1__Reject	 r = RELAY__V1__REJECT__INIT;

	if (accept) {
		a.session_id.data = (uint8_t *)sid;
		a.session_id.len = len;
		m.msg_case = RELAY__V1__CLIENT_MESSAGE__MSG_ACCEPT;
		m.accept = &a;
	} else {
		r.session_id.data = (uint8_t *)sid;
		r.session_id.len = len;
		r.reason = (char *)reason;
		m.msg_case = RELAY__V1__CLIENT_MESSAGE__MSG_REJECT;
		m.reject = &r;
	}
	return t_send(t, &m);
}

/* Send m, then the answer: the next RelayMessage, or NULL. */
RelayMessage *
t_ask(struct tconn *t, const ClientMessage *m, int timeout_ms)
{
	if (t_send(t, m) == -1)
		return NULL;
	return t_recv(t, timeout_ms);
}

int
t_is_msg(const RelayMessage *m, int which)
{
	return m != NULL && (int)m->msg_case == which;
}
