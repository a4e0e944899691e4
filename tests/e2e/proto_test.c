/* SPDX-License-Identifier: ISC */
/*
 * proto_test.c: drives a running relayd through the control protocol and
 * data connections, as relay-client will, and checks every answer:
 * register, list, connect by name and by ID, accept, reject, pairing and
 * forwarding both ways with half-close, the end-to-end handshake through
 * the relay, and each refusal (not found, ALPN mismatch, name taken,
 * reserved name, limits, rate limit, timeout, bad requests).
 *
 * usage: proto_test PORT RELAY_ID RESERVED_NAME RESERVED_KEYFILE
 * The relay must run with: lease limit 3 per id; timeout accept 2;
 * connect rate 5 burst 10; reserve name RESERVED_NAME for the key's ID.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/wait.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buffer.h"
#include "tclient.h"
#include "util.h"

static int	 port;
static char	 relay_id[ID_BUFSZ];
static int	 passed, failed;
static uint32_t	 next_req = 1;

#define CHECK(cond, ...) do {						\
	if (cond) {							\
		passed++;						\
		printf("ok - ");					\
	} else {							\
		failed++;						\
		printf("not ok - ");					\
	}								\
	printf(__VA_ARGS__);						\
	printf("\n");							\
	fflush(stdout);							\
} while (0)

/* Every identity a test makes, freed at the end (LeakSanitizer runs). */
static struct identity	*idents[32];
static size_t		 nidents;

static struct identity *
new_ident(void)
{
	struct identity	*id = calloc(1, sizeof(*id));

	if (id == NULL || identity_generate(id) == -1 ||
	    nidents == sizeof(idents) / sizeof(idents[0]))
		abort();
	idents[nidents++] = id;
	return id;
}

static void
free_idents(void)
{
	while (nidents > 0) {
		identity_clear(idents[--nidents]);
		free(idents[nidents]);
	}
}

static int
ctl(struct tconn *t, const struct identity *id)
{
	return t_ctl_open(t, port, id, relay_id);
}

/* Register; returns the answer (Registered or Error). */
static RelayMessage *
do_register(struct tconn *t, const char *name, const char *alpn, int hidden,
    uint32_t ttl)
{
	ClientMessage		 m = RELAY__V1__CLIENT_MESSAGE__INIT;
	Relay__V1__Register	 r = RELAY__V1__REGISTER__INIT;
	char			*alpns[2];
	char			 a0[64], a1[] = "extra";

	strlcpy(a0, alpn, sizeof(a0));
	alpns[0] = a0;
	alpns[1] = a1;
	r.request_id = next_req++;
	r.name = (char *)name;
	r.alpn = alpns;
	r.n_alpn = 2;
	r.ttl_seconds = ttl;
	r.hidden = hidden;
	r.description = (char *)"a test lease";
	m.msg_case = RELAY__V1__CLIENT_MESSAGE__MSG_REGISTER;
	m.register_ = &r;
	if (t_send(t, &m) == -1)
		return NULL;
	return t_recv(t, 3000);
}

static int
do_connect(struct tconn *t, int by_name, const char *target, const char *alpn)
{
	ClientMessage		 m = RELAY__V1__CLIENT_MESSAGE__INIT;
	Relay__V1__Connect	 c = RELAY__V1__CONNECT__INIT;

	c.request_id = next_req++;
	if (by_name) {
		c.target_case = RELAY__V1__CONNECT__TARGET_NAME;
		c.name = (char *)target;
	} else {
		c.target_case = RELAY__V1__CONNECT__TARGET_ID;
		c.id = (char *)target;
	}
	c.alpn = (char *)alpn;
	m.msg_case = RELAY__V1__CLIENT_MESSAGE__MSG_CONNECT;
	m.connect = &c;
	return t_send(t, &m);
}

static int
is_error(RelayMessage *m, int code)
{
	return m != NULL && m->msg_case == RELAY__V1__RELAY_MESSAGE__MSG_ERROR &&
	    (int)m->error->code == code;
}

static const char *
describe(RelayMessage *m)
{
	static char	 buf[400];

	if (m == NULL)
		return "no answer";
	if (m->msg_case == RELAY__V1__RELAY_MESSAGE__MSG_ERROR) {
		snprintf(buf, sizeof(buf), "%s: %s",
		    proto_error_name(m->error->code), m->error->message);
		return buf;
	}
	return proto_relay_msg_name(m->msg_case);
}

static void
test_pinning(void)
{
	struct identity	*a = new_ident();
	struct tconn	 t;
	char		 wrong[ID_BUFSZ];

	CHECK(ctl(&t, a) == 0 && strcmp(t.peer_id, relay_id) == 0,
	    "control handshake with the pinned relay ID");
	t_close(&t);
	strlcpy(wrong, relay_id, sizeof(wrong));
	wrong[0] = wrong[0] == 'a' ? 'b' : 'a';
	CHECK(t_ctl_open(&t, port, a, wrong) == -1,
	    "a different pinned relay ID is refused by the client");
	t_close(&t);
}

static void
test_ping_list(void)
{
	struct identity		*a = new_ident(), *b = new_ident();
	struct tconn		 t, u;
	ClientMessage		 m = RELAY__V1__CLIENT_MESSAGE__INIT;
	Relay__V1__Ping		 p = RELAY__V1__PING__INIT;
	Relay__V1__ListLeases	 l = RELAY__V1__LIST_LEASES__INIT;
	RelayMessage		*r;
	size_t			 i;
	int			 seen_pub = 0, seen_hidden = 0;

	ctl(&t, a);
	p.nonce = 0x1234567890abcdefULL;
	m.msg_case = RELAY__V1__CLIENT_MESSAGE__MSG_PING;
	m.ping = &p;
	t_send(&t, &m);
	r = t_recv(&t, 3000);
	CHECK(r != NULL && r->msg_case == RELAY__V1__RELAY_MESSAGE__MSG_PONG &&
	    r->pong->nonce == p.nonce, "ping is answered by pong with the nonce");

	r = do_register(&t, "listed-one", "tcp", 0, 1);
	CHECK(r != NULL &&
	    r->msg_case == RELAY__V1__RELAY_MESSAGE__MSG_REGISTERED &&
	    r->registered->lease_id.len == LEASE_ID_LEN &&
	    strcmp(r->registered->name, "listed-one") == 0 &&
	    r->registered->ttl_seconds >= 2 &&
	    r->registered->observed_addr != NULL &&
	    r->registered->observed_addr->ip.len == 4 &&
	    r->registered->observed_addr->ip.data[0] == 127,
	    "register: lease id, name, clamped TTL, observed address (%s)",
	    describe(r));
	ctl(&u, b);
	r = do_register(&u, "hidden-one", "tcp", 1, 60);
	CHECK(r != NULL &&
	    r->msg_case == RELAY__V1__RELAY_MESSAGE__MSG_REGISTERED,
	    "register a hidden lease");

	l.request_id = 77;
	m.msg_case = RELAY__V1__CLIENT_MESSAGE__MSG_LIST_LEASES;
	m.list_leases = &l;
	t_send(&t, &m);
	r = t_recv(&t, 3000);
	if (r != NULL && r->msg_case == RELAY__V1__RELAY_MESSAGE__MSG_LEASE_LIST)
		for (i = 0; i < r->lease_list->n_leases; i++) {
			if (strcmp(r->lease_list->leases[i]->name,
			    "listed-one") == 0 &&
			    strcmp(r->lease_list->leases[i]->id, a->id) == 0 &&
			    r->lease_list->leases[i]->n_alpn == 2)
				seen_pub = 1;
			if (strcmp(r->lease_list->leases[i]->name,
			    "hidden-one") == 0)
				seen_hidden = 1;
		}
	CHECK(r != NULL && r->msg_case ==
	    RELAY__V1__RELAY_MESSAGE__MSG_LEASE_LIST &&
	    r->lease_list->request_id == 77 && seen_pub && !seen_hidden,
	    "list shows the public lease with its ID and ALPNs, not the "
	    "hidden one");
	t_close(&t);
	t_close(&u);
}

/*
 * The whole path: holder registers, requester connects, holder accepts,
 * both open data connections, run the e2e handshake through the relay and
 * exchange records both ways, then half-close.
 */
static void
test_session(int by_name)
{
	struct identity		*h = new_ident(), *q = new_ident();
	struct tconn		 th, tq, eh, eq;
	ClientMessage		 m = RELAY__V1__CLIENT_MESSAGE__INIT;
	Relay__V1__Accept	 acc = RELAY__V1__ACCEPT__INIT;
	RelayMessage		*r;
	uint8_t			 sid[SESSION_ID_LEN], tok_h[TOKEN_LEN];
	uint8_t			 tok_q[TOKEN_LEN], frame[REC_MAX_FRAME];
	uint8_t			 pt[REC_MAX_PAYLOAD];
	char			 name[32], from[ID_BUFSZ];
	size_t			 plen;
	ssize_t			 f;
	int			 fh, fq, ok;

	snprintf(name, sizeof(name), "svc-%d", by_name);
	ctl(&th, h);
	r = do_register(&th, name, "ssh", 0, 60);
	CHECK(r != NULL &&
	    r->msg_case == RELAY__V1__RELAY_MESSAGE__MSG_REGISTERED,
	    "holder registers %s", name);
	ctl(&tq, q);
	do_connect(&tq, by_name, by_name ? name : h->id, "ssh");
	r = t_recv(&th, 3000);
	ok = r != NULL && r->msg_case == RELAY__V1__RELAY_MESSAGE__MSG_INCOMING &&
	    r->incoming->token.len == TOKEN_LEN &&
	    r->incoming->session_id.len == SESSION_ID_LEN &&
	    strcmp(r->incoming->from_id, q->id) == 0 &&
	    strcmp(r->incoming->alpn, "ssh") == 0 &&
	    r->incoming->deadline_ms > 0;
	CHECK(ok, "holder gets Incoming with the requester's ID (%s, by %s)",
	    describe(r), by_name ? "name" : "id");
	if (!ok)
		goto out;
	memcpy(sid, r->incoming->session_id.data, SESSION_ID_LEN);
	memcpy(tok_h, r->incoming->token.data, TOKEN_LEN);
	strlcpy(from, r->incoming->from_id, sizeof(from));

	acc.session_id.data = sid;
	acc.session_id.len = SESSION_ID_LEN;
	m.msg_case = RELAY__V1__CLIENT_MESSAGE__MSG_ACCEPT;
	m.accept = &acc;
	t_send(&th, &m);
	r = t_recv(&tq, 3000);
	ok = r != NULL &&
	    r->msg_case == RELAY__V1__RELAY_MESSAGE__MSG_CONNECTED &&
	    strcmp(r->connected->id, h->id) == 0 &&
	    memcmp(r->connected->session_id.data, sid, SESSION_ID_LEN) == 0 &&
	    r->connected->token.len == TOKEN_LEN &&
	    memcmp(r->connected->token.data, tok_h, TOKEN_LEN) != 0;
	CHECK(ok, "requester gets Connected with the holder's ID, the same "
	    "session and its own token");
	if (!ok)
		goto out;
	memcpy(tok_q, r->connected->token.data, TOKEN_LEN);

	/* the requester sends M1 right after its token (DESIGN 4.5) */
	fq = t_data_open(port, tok_q);
	fh = t_data_open(port, tok_h);
	CHECK(fq != -1 && fh != -1, "both data connections open");
	{
		pid_t	 pid = fork();

		if (pid == 0) {
			/* the holder side in a child: responder */
			if (t_e2e(&eh, fh, 0, h, sid, "ssh", NULL) == -1 ||
			    strcmp(eh.peer_id, from) != 0)
				_exit(1);
			/* echo one record back, then close */
			f = 0;
			while (t_read_full(fh, frame, 2, 5000) == 0) {
				size_t	 n = get_be16(frame);

				if (t_read_full(fh, frame + 2, n, 5000) != 0)
					_exit(2);
				if (rec_open(&eh.rec, frame, n + 2, pt,
				    sizeof(pt), &plen) == REC_CLOSE)
					break;
				f = rec_seal(&eh.rec, REC_TYPE_DATA, pt, plen,
				    frame, sizeof(frame));
				t_write_full(fh, frame, f);
			}
			f = rec_seal(&eh.rec, REC_TYPE_CLOSE, NULL, 0, frame,
			    sizeof(frame));
			t_write_full(fh, frame, f);
			shutdown(fh, SHUT_WR);
			_exit(0);
		}
		close(fh);
		ok = t_e2e(&eq, fq, 1, q, sid, "ssh", h->id) == 0;
		CHECK(ok, "end-to-end handshake through the relay, holder ID "
		    "checked");
		if (ok) {
			static const char msg[] = "hello through the relay";
			int	 st, got = 0, closed = 0;

			f = rec_seal(&eq.rec, REC_TYPE_DATA,
			    (const uint8_t *)msg, sizeof(msg), frame,
			    sizeof(frame));
			t_write_full(fq, frame, f);
			f = rec_seal(&eq.rec, REC_TYPE_CLOSE, NULL, 0, frame,
			    sizeof(frame));
			t_write_full(fq, frame, f);
			shutdown(fq, SHUT_WR);	/* half-close */
			while (t_read_full(fq, frame, 2, 5000) == 0) {
				size_t	 n = get_be16(frame);

				if (t_read_full(fq, frame + 2, n, 5000) != 0)
					break;
				r = NULL;
				switch (rec_open(&eq.rec, frame, n + 2, pt,
				    sizeof(pt), &plen)) {
				case REC_DATA:
					got = plen == sizeof(msg) &&
					    memcmp(pt, msg, plen) == 0;
					break;
				case REC_CLOSE:
					closed = 1;
					break;
				default:
					break;
				}
				if (closed)
					break;
			}
			CHECK(got, "data crosses both ways after the "
			    "requester's half-close");
			CHECK(closed && t_read_full(fq, frame, 1, 5000) == -2,
			    "close record, then end of stream");
			waitpid(pid, &st, 0);
			CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0,
			    "the holder saw the requester's ID and echoed");
		} else {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
		}
		rec_clear(&eq.rec);
		close(fq);
	}
out:
	t_close(&th);
	t_close(&tq);
}

static void
test_refusals(const char *reserved_name, const struct identity *resv)
{
	struct identity		*a = new_ident(), *b = new_ident();
	struct tconn		 ta, tb;
	ClientMessage		 m = RELAY__V1__CLIENT_MESSAGE__INIT;
	Relay__V1__Reject	 rj = RELAY__V1__REJECT__INIT;
	Relay__V1__Renew	 rn = RELAY__V1__RENEW__INIT;
	Relay__V1__Unregister	 un = RELAY__V1__UNREGISTER__INIT;
	RelayMessage		*r;
	uint8_t			 lid[LEASE_ID_LEN], sid[SESSION_ID_LEN];
	char			 name[32];
	int			 i;

	ctl(&ta, a);
	ctl(&tb, b);
	do_connect(&tb, 1, "no-such-lease", "tcp");
	r = t_recv(&tb, 3000);
	CHECK(is_error(r, RELAY__V1__ERROR_CODE__ERR_NOT_FOUND),
	    "connect to an unknown name: ERR_NOT_FOUND (%s)", describe(r));
	do_connect(&tb, 0, a->id, "tcp");
	r = t_recv(&tb, 3000);
	CHECK(is_error(r, RELAY__V1__ERROR_CODE__ERR_NOT_FOUND),
	    "connect to an ID without leases: ERR_NOT_FOUND");

	r = do_register(&ta, "refuse-me", "tcp", 0, 60);
	CHECK(r != NULL &&
	    r->msg_case == RELAY__V1__RELAY_MESSAGE__MSG_REGISTERED,
	    "register refuse-me");
	memcpy(lid, r->registered->lease_id.data, LEASE_ID_LEN);
	do_connect(&tb, 1, "refuse-me", "http");
	r = t_recv(&tb, 3000);
	CHECK(is_error(r, RELAY__V1__ERROR_CODE__ERR_ALPN_MISMATCH),
	    "ALPN not served: ERR_ALPN_MISMATCH (%s)", describe(r));
	do_connect(&tb, 0, a->id, "http");
	r = t_recv(&tb, 3000);
	CHECK(is_error(r, RELAY__V1__ERROR_CODE__ERR_ALPN_MISMATCH),
	    "by ID, ALPN not served: ERR_ALPN_MISMATCH");

	r = do_register(&tb, "refuse-me", "tcp", 0, 60);
	CHECK(is_error(r, RELAY__V1__ERROR_CODE__ERR_NAME_TAKEN),
	    "a name held by another ID: ERR_NAME_TAKEN (%s)", describe(r));
	r = do_register(&tb, reserved_name, "tcp", 0, 60);
	CHECK(is_error(r, RELAY__V1__ERROR_CODE__ERR_UNAUTHORIZED),
	    "a name reserved for another ID: ERR_UNAUTHORIZED (%s)",
	    describe(r));
	if (resv != NULL) {
		struct tconn	 tr;

		ctl(&tr, resv);
		r = do_register(&tr, reserved_name, "tcp", 0, 60);
		CHECK(r != NULL && r->msg_case ==
		    RELAY__V1__RELAY_MESSAGE__MSG_REGISTERED,
		    "the reserved name for its own ID (%s)", describe(r));
		t_close(&tr);
	}

	/* reject with a reason */
	do_connect(&tb, 1, "refuse-me", "tcp");
	r = t_recv(&ta, 3000);
	CHECK(r != NULL && r->msg_case == RELAY__V1__RELAY_MESSAGE__MSG_INCOMING,
	    "incoming for the reject test");
	if (r != NULL && r->msg_case == RELAY__V1__RELAY_MESSAGE__MSG_INCOMING) {
		memcpy(sid, r->incoming->session_id.data, SESSION_ID_LEN);
		rj.session_id.data = sid;
		rj.session_id.len = SESSION_ID_LEN;
		rj.reason = (char *)"not today";
		m.msg_case = RELAY__V1__CLIENT_MESSAGE__MSG_REJECT;
		m.reject = &rj;
		t_send(&ta, &m);
		r = t_recv(&tb, 3000);
		CHECK(is_error(r, RELAY__V1__ERROR_CODE__ERR_REJECTED) &&
		    strstr(r->error->message, "not today") != NULL,
		    "reject: ERR_REJECTED with the holder's reason (%s)",
		    describe(r));
		/* b cannot accept a's session */
		t_send(&tb, &m);
		r = t_recv(&tb, 3000);
		CHECK(is_error(r, RELAY__V1__ERROR_CODE__ERR_NOT_FOUND),
		    "only the holder can answer a session");
	}

	/* no answer: timeout (accept deadline 2 s) */
	do_connect(&tb, 1, "refuse-me", "tcp");
	r = t_recv(&ta, 3000);
	r = t_recv(&tb, 5000);
	CHECK(is_error(r, RELAY__V1__ERROR_CODE__ERR_TIMEOUT),
	    "holder silent: ERR_TIMEOUT (%s)", describe(r));

	/* renew, unregister, and not found afterwards */
	rn.request_id = 900;
	rn.lease_id.data = lid;
	rn.lease_id.len = LEASE_ID_LEN;
	m.msg_case = RELAY__V1__CLIENT_MESSAGE__MSG_RENEW;
	m.renew = &rn;
	t_send(&ta, &m);
	r = t_recv(&ta, 3000);
	CHECK(r != NULL &&
	    r->msg_case == RELAY__V1__RELAY_MESSAGE__MSG_REGISTERED &&
	    r->registered->request_id == 900, "renew answers Registered");
	t_send(&tb, &m);
	r = t_recv(&tb, 3000);
	CHECK(is_error(r, RELAY__V1__ERROR_CODE__ERR_NOT_FOUND),
	    "renewing another connection's lease: ERR_NOT_FOUND");
	un.request_id = 901;
	un.lease_id.data = lid;
	un.lease_id.len = LEASE_ID_LEN;
	m.msg_case = RELAY__V1__CLIENT_MESSAGE__MSG_UNREGISTER;
	m.unregister = &un;
	t_send(&ta, &m);
	r = t_recv(&ta, 3000);
	CHECK(r != NULL && r->msg_case == RELAY__V1__RELAY_MESSAGE__MSG_ACK &&
	    r->ack->request_id == 901, "unregister answers Ack");
	do_connect(&tb, 1, "refuse-me", "tcp");
	r = t_recv(&tb, 3000);
	CHECK(is_error(r, RELAY__V1__ERROR_CODE__ERR_NOT_FOUND),
	    "after unregister: ERR_NOT_FOUND");

	/* lease limit: 3 per ID */
	for (i = 0; i < 4; i++) {
		snprintf(name, sizeof(name), "lim-%d", i);
		r = do_register(&ta, name, "tcp", 0, 60);
	}
	CHECK(is_error(r, RELAY__V1__ERROR_CODE__ERR_LIMIT),
	    "the fourth lease of one ID: ERR_LIMIT (%s)", describe(r));

	/* a lease ends with its control connection */
	t_close(&ta);
	usleep(200 * 1000);
	do_connect(&tb, 1, "lim-0", "tcp");
	r = t_recv(&tb, 3000);
	CHECK(is_error(r, RELAY__V1__ERROR_CODE__ERR_NOT_FOUND),
	    "leases end when the holder's connection closes (%s)",
	    describe(r));

	t_close(&tb);

	/* rate limit: burst 10, then 5 a second */
	ctl(&tb, new_ident());
	for (i = 0; i < 20; i++) {
		do_connect(&tb, 1, "nothing-here", "tcp");
		r = t_recv(&tb, 3000);
		if (is_error(r, RELAY__V1__ERROR_CODE__ERR_RATE_LIMITED))
			break;
	}
	CHECK(i >= 10 && i < 13, "rapid connects: ERR_RATE_LIMITED after the "
	    "burst of 10 (at connect %d)", i + 1);
	t_close(&tb);
}

static void
test_bad_input(void)
{
	struct identity	*a = new_ident();
	struct tconn	 t;
	RelayMessage	*r;
	uint8_t		 junk[] = { 0xff, 0xff, 0xff, 0xff, 0xff };
	uint8_t		 nul[] = { 0x0a, 0x07, 0x12, 0x05, 'a', 0, 'b', 'c', 'd' };
	uint8_t		 buf[64];
	int		 fd, n;

	ctl(&t, a);
	t_send_raw_record(&t, junk, sizeof(junk));
	r = t_recv(&t, 3000);
	CHECK(is_error(r, RELAY__V1__ERROR_CODE__ERR_BAD_REQUEST),
	    "garbage in a record: ERR_BAD_REQUEST (%s)", describe(r));
	/* Register{name = "a\0bcd"}: a NUL inside a string */
	t_send_raw_record(&t, nul, sizeof(nul));
	r = t_recv(&t, 3000);
	CHECK(is_error(r, RELAY__V1__ERROR_CODE__ERR_BAD_REQUEST) &&
	    strstr(r->error->message, "NUL") != NULL,
	    "a NUL inside a string: ERR_BAD_REQUEST (%s)", describe(r));
	t_send_raw_record(&t, junk, 0);
	r = t_recv(&t, 3000);
	CHECK(is_error(r, RELAY__V1__ERROR_CODE__ERR_BAD_REQUEST),
	    "an empty envelope: ERR_BAD_REQUEST");
	CHECK(t_wait_closed(&t, 3000) == 0,
	    "the third bad request in a row closes the connection");
	t_close(&t);

	/* a bad preamble is closed without an answer */
	fd = t_tcp_connect(port);
	t_write_full(fd, "GET / HTTP/1.0\r\n\r\n", 18);
	n = t_read_full(fd, buf, 1, 3000);
	/* closed with unread input: a reset (-1) or an end of stream (-2) */
	CHECK(n == -2 || (n == -1 && errno == ECONNRESET),
	    "a bad preamble is closed, nothing sent");
	close(fd);

	/* a broken M1 frame length */
	fd = t_tcp_connect(port);
	t_write_full(fd, "RLY\x01" "C\x00\x21", 7);
	CHECK(t_read_full(fd, buf, 1, 3000) == -2,
	    "a handshake frame of the wrong length is closed");
	close(fd);

	/* an unknown token */
	memset(buf, 0x42, TOKEN_LEN);
	fd = t_data_open(port, buf);
	CHECK(fd != -1 && t_read_full(fd, buf, 1, 6000) == -2,
	    "a data connection with an unknown token is closed");
	close(fd);

	/* forged record on the control connection: closed */
	ctl(&t, a);
	memset(buf, 0, 40);
	buf[1] = 30;
	t_write_full(t.fd, buf, 32);
	CHECK(t_wait_closed(&t, 3000) == 0,
	    "a record that fails authentication closes the connection");
	t_close(&t);
}

int
main(int argc, char *argv[])
{
	struct identity	 resv;
	char		 err[256];
	int		 have_resv;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 3 && strcmp(argv[1], "keygen") == 0) {
		if (identity_generate(&resv) == -1 ||
		    identity_save(&resv, argv[2], err, sizeof(err)) == -1) {
			fprintf(stderr, "keygen: %s\n", err);
			return 1;
		}
		printf("%s\n", resv.id);
		identity_clear(&resv);
		return 0;
	}
	if (argc == 5 && strcmp(argv[1], "hold") == 0) {
		/* hold PORT RELAY_ID NAME: keep a lease, report notices */
		struct tconn	 t;
		RelayMessage	*r;

		port = atoi(argv[2]);
		if (id_normalize(argv[3], relay_id) == -1 ||
		    ctl(&t, new_ident()) == -1)
			return 1;
		r = do_register(&t, argv[4], "ssh", 0, 60);
		if (r == NULL ||
		    r->msg_case != RELAY__V1__RELAY_MESSAGE__MSG_REGISTERED)
			return 1;
		printf("registered %s\n", argv[4]);
		for (;;) {
			if ((r = t_recv(&t, 60000)) == NULL)
				break;
			if (r->msg_case == RELAY__V1__RELAY_MESSAGE__MSG_NOTICE)
				printf("notice %d: %s\n", r->notice->kind,
				    r->notice->message);
		}
		printf("closed\n");
		t_close(&t);
		free_idents();
		return 0;
	}
	if (argc != 5) {
		fprintf(stderr, "usage: proto_test port relay-id reserved-name "
		    "reserved-keyfile\n");
		return 2;
	}
	port = atoi(argv[1]);
	if (id_normalize(argv[2], relay_id) == -1) {
		fprintf(stderr, "bad relay id %s\n", argv[2]);
		return 2;
	}
	have_resv = identity_load(&resv, argv[4], err, sizeof(err)) == 0;
	if (!have_resv)
		fprintf(stderr, "%s\n", err);
	test_pinning();
	test_ping_list();
	test_session(1);
	test_session(0);
	test_refusals(argv[3], have_resv ? &resv : NULL);
	test_bad_input();
	free_idents();
	if (have_resv)
		identity_clear(&resv);
	printf("%d passed, %d failed\n", passed, failed);
	return failed == 0 && passed > 0 ? 0 : 1;
}
