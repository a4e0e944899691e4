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
#include <time.h>
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
static struct identity	*idents[128];
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

/*
 * Register with the ALPNs alpn and "extra" and a description; returns the
 * answer (Registered or Error).
 */
static RelayMessage *
do_register(struct tconn *t, const char *name, const char *alpn, int hidden,
    uint32_t ttl)
{
	ClientMessage		 m;
	Relay__V1__Register	 r;
	char			*alpns[2];
	char			 a0[64], a1[] = "extra";

	strlcpy(a0, alpn, sizeof(a0));
	alpns[0] = a0;
	alpns[1] = a1;
	t_msg_register(&m, &r, next_req++, name, alpns, 2, ttl);
	r.hidden = hidden;
	r.description = (char *)"a test lease";
	return t_ask(t, &m, 3000);
}

static int
do_connect(struct tconn *t, int by_name, const char *target, const char *alpn)
{
	ClientMessage		 m;
	Relay__V1__Connect	 c;

	t_msg_connect(&m, &c, next_req++, by_name, target, alpn);
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

/* An Error with this code and this request_id. */
static int
is_error_id(RelayMessage *m, int code, uint32_t request_id)
{
	return is_error(m, code) && m->error->request_id == request_id;
}

/* Register with the given ALPNs and request_id. */
static RelayMessage *
do_register_alpns(struct tconn *t, uint32_t rid, const char *name,
    char **alpns, size_t nalpn, int hidden, uint32_t ttl)
{
	ClientMessage		 m;
	Relay__V1__Register	 r;

	t_msg_register(&m, &r, rid, name, alpns, nalpn, ttl);
	r.hidden = hidden;
	return t_ask(t, &m, 3000);
}

/* Renew (or Unregister) a lease_id of any length; returns the answer. */
static RelayMessage *
do_lease_op(struct tconn *t, int renew, uint32_t rid, const uint8_t *lid,
    size_t lidlen)
{
	ClientMessage		 m = RELAY__V1__CLIENT_MESSAGE__INIT;
	Relay__V1__Renew	 rn = RELAY__V1__RENEW__INIT;
	Relay__V1__Unregister	 un = RELAY__V1__UNREGISTER__INIT;

	if (renew) {
		rn.request_id = rid;
		rn.lease_id.data = (uint8_t *)lid;
		rn.lease_id.len = lidlen;
		m.msg_case = RELAY__V1__CLIENT_MESSAGE__MSG_RENEW;
		m.renew = &rn;
	} else {
		un.request_id = rid;
		un.lease_id.data = (uint8_t *)lid;
		un.lease_id.len = lidlen;
		m.msg_case = RELAY__V1__CLIENT_MESSAGE__MSG_UNREGISTER;
		m.unregister = &un;
	}
	return t_ask(t, &m, 3000);
}

static RelayMessage *
do_list(struct tconn *t, uint32_t rid, uint32_t offset)
{
	ClientMessage		 m;
	Relay__V1__ListLeases	 l;

	t_msg_list(&m, &l, rid, offset);
	return t_ask(t, &m, 3000);
}

static RelayMessage *
do_ping(struct tconn *t, uint64_t nonce)
{
	if (t_send_ping(t, nonce) == -1)
		return NULL;
	return t_recv(t, 3000);
}

static int
pong_ok(RelayMessage *m, uint64_t nonce)
{
	return IS_PONG(m) && m->pong->nonce == nonce;
}

/*
 * The two halves of a session over data connections fi (the end-to-end
 * initiator, run by ident qi) and fr (the responder, ident hr): the
 * handshake, one record each way, close records. 0 when all of it works
 * and each side saw the other's ID.
 */
static int
pair_and_talk(int fi, int fr, const struct identity *qi,
    const struct identity *hr, const uint8_t sid[SESSION_ID_LEN],
    const char *alpn)
{
	struct tconn	 ei, er;
	uint8_t		 frame[REC_MAX_FRAME], pt[REC_MAX_PAYLOAD];
	size_t		 plen, n;
	ssize_t		 f;
	pid_t		 pid;
	int		 st, got = 0;

	if (fi == -1 || fr == -1)
		return -1;
	if ((pid = fork()) == -1)
		return -1;
	if (pid == 0) {
		close(fi);
		if (t_e2e(&er, fr, 0, hr, sid, alpn, NULL) == -1 ||
		    strcmp(er.peer_id, qi->id) != 0)
			_exit(1);
		if (t_read_full(fr, frame, 2, 5000) != 0 ||
		    t_read_full(fr, frame + 2, get_be16(frame), 5000) != 0 ||
		    rec_open(&er.rec, frame, get_be16(frame) + 2, pt,
		    sizeof(pt), &plen) != REC_DATA)
			_exit(2);
		f = rec_seal(&er.rec, REC_TYPE_DATA, pt, plen, frame,
		    sizeof(frame));
		if (f < 0 || t_write_full(fr, frame, f) == -1)
			_exit(3);
		f = rec_seal(&er.rec, REC_TYPE_CLOSE, NULL, 0, frame,
		    sizeof(frame));
		if (f < 0 || t_write_full(fr, frame, f) == -1)
			_exit(3);
		_exit(0);
	}
	close(fr);
	if (t_e2e(&ei, fi, 1, qi, sid, alpn, hr->id) == 0) {
		f = rec_seal(&ei.rec, REC_TYPE_DATA, (const uint8_t *)"ping", 4,
		    frame, sizeof(frame));
		if (f > 0 && t_write_full(fi, frame, f) == 0 &&
		    t_read_full(fi, frame, 2, 5000) == 0 &&
		    (n = get_be16(frame)) > 0 &&
		    t_read_full(fi, frame + 2, n, 5000) == 0 &&
		    rec_open(&ei.rec, frame, n + 2, pt, sizeof(pt), &plen) ==
		    REC_DATA && plen == 4 && memcmp(pt, "ping", 4) == 0)
			got = 1;
		rec_clear(&ei.rec);
	}
	if (!got)
		kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	close(fi);
	return got && WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

/* Seconds until the relay closes fd (end of stream, no byte sent), or -1. */
static double
time_to_close(int fd, double start, int timeout_ms)
{
	uint8_t	 b;
	int	 r;

	errno = 0;
	r = t_read_full(fd, &b, 1, timeout_ms);
	if (r == -2 || (r == -1 && errno == ECONNRESET))
		return t_now() - start;
	return -1;
}

/* time_to_close from now, within 6 s; fd is closed then. */
static double
close_delay(int fd)
{
	double	 el = time_to_close(fd, t_now(), 6000);

	close(fd);
	return el;
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
	RelayMessage		*r;
	size_t			 i;
	int			 seen_pub = 0, seen_hidden = 0;

	ctl(&t, a);
	r = do_ping(&t, 0x1234567890abcdefULL);
	CHECK(pong_ok(r, 0x1234567890abcdefULL),
	    "ping is answered by pong with the nonce");

	r = do_register(&t, "listed-one", "tcp", 0, 1);
	CHECK(IS_REGISTERED(r) && r->registered->lease_id.len == LEASE_ID_LEN &&
	    strcmp(r->registered->name, "listed-one") == 0 &&
	    r->registered->ttl_seconds >= 2 &&
	    r->registered->observed_addr != NULL &&
	    r->registered->observed_addr->ip.len == 4 &&
	    r->registered->observed_addr->ip.data[0] == 127,
	    "register: lease id, name, clamped TTL, observed address (%s)",
	    describe(r));
	ctl(&u, b);
	r = do_register(&u, "hidden-one", "tcp", 1, 60);
	CHECK(IS_REGISTERED(r),
	    "register a hidden lease");

	r = do_list(&t, 77, 0);
	if (IS_LIST(r))
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
	CHECK(IS_LIST(r) && r->lease_list->request_id == 77 && seen_pub &&
	    !seen_hidden,
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
	RelayMessage		*r;
	uint8_t			 sid[SESSION_ID_LEN], tok_h[TOKEN_LEN];
	uint8_t			 tok_q[TOKEN_LEN], frame[REC_MAX_FRAME];
	uint8_t			 lid[LEASE_ID_LEN];
	uint8_t			 pt[REC_MAX_PAYLOAD];
	char			 name[32], from[ID_BUFSZ];
	size_t			 plen;
	ssize_t			 f;
	int			 fh, fq, ok;

	snprintf(name, sizeof(name), "svc-%d", by_name);
	ctl(&th, h);
	r = do_register(&th, name, "ssh", 0, 60);
	CHECK(IS_REGISTERED(r),
	    "holder registers %s", name);
	if (IS_REGISTERED(r))
		memcpy(lid, r->registered->lease_id.data, LEASE_ID_LEN);
	ctl(&tq, q);
	do_connect(&tq, by_name, by_name ? name : h->id, "ssh");
	r = t_recv(&th, 3000);
	ok = IS_INCOMING(r) && r->incoming->token.len == TOKEN_LEN &&
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

	t_session_op(&th, 1, sid, SESSION_ID_LEN, NULL);
	r = t_recv(&tq, 3000);
	ok = IS_CONNECTED(r) && strcmp(r->connected->id, h->id) == 0 &&
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
			/* item 23: the end of a session is not announced */
			close(fq);
			fq = -1;
			r = do_lease_op(&th, 1, 4000 + by_name, lid,
			    LEASE_ID_LEN);
			CHECK(IS_REGISTERED(r) &&
			    r->registered->request_id == 4000u + by_name,
			    "after the session, the holder's control "
			    "connection carries nothing about it (%s)",
			    describe(r));
		} else {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
		}
		rec_clear(&eq.rec);
		if (fq != -1)
			close(fq);
	}
out:
	t_close(&th);
	t_close(&tq);
}

/* A Connect the relay refuses with an Error of this code. */
struct refusal {
	int		 by_name;
	const char	*target, *alpn;
	int		 code;
	const char	*what;
};

static void
check_refusals(struct tconn *t, const struct refusal *rf, size_t n)
{
	RelayMessage	*r;
	size_t		 i;

	for (i = 0; i < n; i++) {
		do_connect(t, rf[i].by_name, rf[i].target, rf[i].alpn);
		r = t_recv(t, 3000);
		CHECK(is_error(r, rf[i].code), "%s (%s)", rf[i].what,
		    describe(r));
	}
}

static void
test_refusals(const char *reserved_name, const struct identity *resv)
{
	struct identity		*a = new_ident(), *b = new_ident();
	struct tconn		 ta, tb;
	RelayMessage		*r;
	uint8_t			 lid[LEASE_ID_LEN], sid[SESSION_ID_LEN];
	char			 name[32];
	int			 i;
	const struct refusal	 unknown[] = {
		{ 1, "no-such-lease", "tcp",
		    RELAY__V1__ERROR_CODE__ERR_NOT_FOUND,
		    "connect to an unknown name: ERR_NOT_FOUND" },
		{ 0, a->id, "tcp", RELAY__V1__ERROR_CODE__ERR_NOT_FOUND,
		    "connect to an ID without leases: ERR_NOT_FOUND" },
	}, alpn[] = {
		{ 1, "refuse-me", "http",
		    RELAY__V1__ERROR_CODE__ERR_ALPN_MISMATCH,
		    "ALPN not served: ERR_ALPN_MISMATCH" },
		{ 0, a->id, "http", RELAY__V1__ERROR_CODE__ERR_ALPN_MISMATCH,
		    "by ID, ALPN not served: ERR_ALPN_MISMATCH" },
	};

	ctl(&ta, a);
	ctl(&tb, b);
	check_refusals(&tb, unknown, sizeof(unknown) / sizeof(unknown[0]));

	r = do_register(&ta, "refuse-me", "tcp", 0, 60);
	CHECK(IS_REGISTERED(r), "register refuse-me");
	memcpy(lid, r->registered->lease_id.data, LEASE_ID_LEN);
	check_refusals(&tb, alpn, sizeof(alpn) / sizeof(alpn[0]));

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
		CHECK(IS_REGISTERED(r),
		    "the reserved name for its own ID (%s)", describe(r));
		t_close(&tr);
	}

	/* reject with a reason */
	do_connect(&tb, 1, "refuse-me", "tcp");
	r = t_recv(&ta, 3000);
	CHECK(IS_INCOMING(r), "incoming for the reject test");
	if (IS_INCOMING(r)) {
		memcpy(sid, r->incoming->session_id.data, SESSION_ID_LEN);
		t_session_op(&ta, 0, sid, SESSION_ID_LEN, "not today");
		r = t_recv(&tb, 3000);
		CHECK(is_error(r, RELAY__V1__ERROR_CODE__ERR_REJECTED) &&
		    strstr(r->error->message, "not today") != NULL,
		    "reject: ERR_REJECTED with the holder's reason (%s)",
		    describe(r));
		/* b cannot answer a's session */
		t_session_op(&tb, 0, sid, SESSION_ID_LEN, "not today");
		r = t_recv(&tb, 3000);
		CHECK(is_error(r, RELAY__V1__ERROR_CODE__ERR_NOT_FOUND),
		    "only the holder can answer a session");
	}

	/* no answer: timeout (accept deadline 2 s) */
	do_connect(&tb, 1, "refuse-me", "tcp");
	r = t_recv(&ta, 3000);
	if (IS_INCOMING(r))
		memcpy(sid, r->incoming->session_id.data, SESSION_ID_LEN);
	r = t_recv(&tb, 5000);
	CHECK(is_error(r, RELAY__V1__ERROR_CODE__ERR_TIMEOUT),
	    "holder silent: ERR_TIMEOUT (%s)", describe(r));
	/* the holder was told nothing; its late Accept finds no session */
	t_session_op(&ta, 1, sid, SESSION_ID_LEN, NULL);
	r = t_recv(&ta, 3000);
	CHECK(is_error_id(r, RELAY__V1__ERROR_CODE__ERR_NOT_FOUND, 0),
	    "the holder's Accept after the deadline: ERR_NOT_FOUND (%s)",
	    describe(r));

	/* renew, unregister, and not found afterwards */
	r = do_lease_op(&ta, 1, 900, lid, LEASE_ID_LEN);
	CHECK(IS_REGISTERED(r) && r->registered->request_id == 900,
	    "renew answers Registered");
	r = do_lease_op(&tb, 1, 900, lid, LEASE_ID_LEN);
	CHECK(is_error(r, RELAY__V1__ERROR_CODE__ERR_NOT_FOUND),
	    "renewing another connection's lease: ERR_NOT_FOUND");
	r = do_lease_op(&ta, 0, 901, lid, LEASE_ID_LEN);
	CHECK(IS_ACK(r) && r->ack->request_id == 901,
	    "unregister answers Ack");
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

	/*
	 * A lease ends with its control connection. No wait is needed: a
	 * connect that reaches the lease worker before it hears of the close
	 * waits on the lease, and is answered ERR_NOT_FOUND when it ends.
	 */
	t_close(&ta);
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

/* Items 1 and 14: which Error answers carry the request's id. */
static void
test_request_ids(void)
{
	/* Register{request_id = 4242, name = "a\0bcd"} */
	static const uint8_t reg_nul[] = { 0x0a, 0x0a, 0x08, 0x92, 0x21,
	    0x12, 0x05, 'a', 0, 'b', 'c', 'd' };
	/* Connect{request_id = 99, name = "a\0b", alpn = "tcp"} */
	static const uint8_t conn_nul[] = { 0x22, 0x0c, 0x08, 0x63, 0x1a,
	    0x03, 'a', 0, 'b', 0x22, 0x03, 't', 'c', 'p' };
	/* Accept{session_id = "x\0"}: no request_id in Accept */
	uint8_t		 junk[] = { 0xff, 0xff, 0xff };
	uint8_t		 three[3] = { 1, 2, 3 };
	struct tconn	 t;
	RelayMessage	*r;

	ctl(&t, new_ident());
	t_send_raw_record(&t, reg_nul, sizeof(reg_nul));
	r = t_recv(&t, 3000);
	CHECK(is_error_id(r, RELAY__V1__ERROR_CODE__ERR_BAD_REQUEST, 4242) &&
	    strstr(r->error->message, "NUL") != NULL,
	    "a NUL in Register's name: ERR_BAD_REQUEST with its request_id "
	    "(%s, id %u)", describe(r), r != NULL &&
	    r->msg_case == RELAY__V1__RELAY_MESSAGE__MSG_ERROR ?
	    r->error->request_id : 0);
	t_send_raw_record(&t, conn_nul, sizeof(conn_nul));
	r = t_recv(&t, 3000);
	CHECK(is_error_id(r, RELAY__V1__ERROR_CODE__ERR_BAD_REQUEST, 99),
	    "a NUL in Connect's name: ERR_BAD_REQUEST with its request_id");
	/* a valid message in between keeps the connection open */
	r = do_ping(&t, 5);
	CHECK(pong_ok(r, 5), "a Ping after two bad requests is answered");
	r = do_lease_op(&t, 1, 777, three, sizeof(three));
	CHECK(is_error_id(r, RELAY__V1__ERROR_CODE__ERR_BAD_REQUEST, 777),
	    "Renew with a 3-byte lease_id: ERR_BAD_REQUEST with its "
	    "request_id (%s)", describe(r));
	r = do_lease_op(&t, 0, 778, three, sizeof(three));
	CHECK(is_error_id(r, RELAY__V1__ERROR_CODE__ERR_BAD_REQUEST, 778),
	    "Unregister with a 3-byte lease_id: its request_id");
	r = do_ping(&t, 6);
	CHECK(pong_ok(r, 6), "a Ping resets the count again");
	t_session_op(&t, 1, three, sizeof(three), NULL);
	r = t_recv(&t, 3000);
	CHECK(is_error_id(r, RELAY__V1__ERROR_CODE__ERR_BAD_REQUEST, 0),
	    "Accept with a 3-byte session_id: request_id 0 (Accept has none)");
	t_session_op(&t, 0, three, sizeof(three), "no");
	r = t_recv(&t, 3000);
	CHECK(is_error_id(r, RELAY__V1__ERROR_CODE__ERR_BAD_REQUEST, 0),
	    "Reject with a 3-byte session_id: request_id 0");
	r = do_ping(&t, 7);
	t_send_raw_record(&t, junk, sizeof(junk));
	r = t_recv(&t, 3000);
	CHECK(is_error_id(r, RELAY__V1__ERROR_CODE__ERR_BAD_REQUEST, 0),
	    "a message that does not unpack: request_id 0");
	t_close(&t);
}

/* Item 9: what counts, what resets, what the third one gets. */
static void
test_bad_counter(void)
{
	uint8_t		 junk[] = { 0xff, 0xff, 0xff };
	uint8_t		 lid[LEASE_ID_LEN];
	struct tconn	 t;
	RelayMessage	*r;
	int		 i, ok = 1;

	ctl(&t, new_ident());
	memset(lid, 0x5a, sizeof(lid));
	for (i = 0; i < 2; i++) {
		t_send_raw_record(&t, junk, sizeof(junk));
		ok &= is_error(t_recv(&t, 3000),
		    RELAY__V1__ERROR_CODE__ERR_BAD_REQUEST);
	}
	/* a well-formed request whose answer is an error resets it too */
	r = do_lease_op(&t, 1, 31, lid, sizeof(lid));
	CHECK(ok && is_error_id(r, RELAY__V1__ERROR_CODE__ERR_NOT_FOUND, 31),
	    "two bad requests, then a Renew of an unknown lease: "
	    "ERR_NOT_FOUND (%s)", describe(r));
	for (i = 0; i < 2; i++) {
		t_send_raw_record(&t, junk, sizeof(junk));
		ok &= is_error(t_recv(&t, 3000),
		    RELAY__V1__ERROR_CODE__ERR_BAD_REQUEST);
	}
	r = do_ping(&t, 9);
	CHECK(ok && pong_ok(r, 9), "... which reset the count: two more "
	    "bad ones leave the connection open");
	for (i = 0; i < 2; i++) {
		t_send_raw_record(&t, junk, sizeof(junk));
		(void)t_recv(&t, 3000);
	}
	t_send_raw_record(&t, junk, sizeof(junk));
	r = t_recv(&t, 3000);
	CHECK(is_error(r, RELAY__V1__ERROR_CODE__ERR_BAD_REQUEST),
	    "the third bad request in a row is answered too (%s)",
	    describe(r));
	CHECK(t_wait_close_record(&t, 3000) == 0,
	    "then the relay sends its close record and closes");
	t_close(&t);
}

/* Item 24: a client's close record, answered by the relay's. */
static void
test_client_close(void)
{
	struct tconn	 t;
	RelayMessage	*r;

	ctl(&t, new_ident());
	t_send_ping(&t, 11);
	t_send_close(&t);
	shutdown(t.fd, SHUT_WR);
	r = t_recv(&t, 3000);
	CHECK(pong_ok(r, 11), "a Ping sent right before the close record is "
	    "still answered (%s)", describe(r));
	CHECK(t_wait_close_record(&t, 3000) == 0,
	    "the relay answers a close record with its own, then closes");
	t_close(&t);
}

/* Items 3, 4, 5: Renew's expiry, a takeover, other connections' leases. */
static void
test_lease_rules(void)
{
	struct identity	*a = new_ident(), *b = new_ident();
	struct tconn	 t1, t2, tb;
	RelayMessage	*r;
	uint8_t		 lid1[LEASE_ID_LEN], lid2[LEASE_ID_LEN];
	uint8_t		 sid[SESSION_ID_LEN], rnd[LEASE_ID_LEN];
	char		*alpn[] = { (char *)"tcp" };
	time_t		 now;
	int		 ok;

	ctl(&t1, a);
	r = do_register_alpns(&t1, 41, "renew-me", alpn, 1, 0, 100);
	ok = IS_REGISTERED(r) && r->registered->ttl_seconds == 100 &&
	    r->registered->request_id == 41;
	CHECK(ok, "register with a TTL of 100 s (%s)", describe(r));
	if (!ok)
		goto out1;
	memcpy(lid1, r->registered->lease_id.data, LEASE_ID_LEN);
	r = do_lease_op(&t1, 1, 42, lid1, LEASE_ID_LEN);
	now = time(NULL);
	CHECK(IS_REGISTERED(r) && r->registered->request_id == 42 &&
	    r->registered->ttl_seconds == 100 &&
	    memcmp(r->registered->lease_id.data, lid1, LEASE_ID_LEN) == 0 &&
	    r->registered->expires_unix + 2 >= (uint64_t)now + 100 &&
	    r->registered->expires_unix <= (uint64_t)now + 100 + 2,
	    "renew: the same lease, its granted TTL, expiry now + TTL "
	    "(%llu vs now %lld)", IS_REGISTERED(r) ?
	    (unsigned long long)r->registered->expires_unix : 0ULL,
	    (long long)now);

	/* the same ID registers the name again on another connection */
	ctl(&t2, a);
	r = do_register_alpns(&t2, 43, "renew-me", alpn, 1, 0, 100);
	ok = IS_REGISTERED(r) &&
	    memcmp(r->registered->lease_id.data, lid1, LEASE_ID_LEN) != 0;
	CHECK(ok, "the same ID registers its name again: a new lease (%s)",
	    describe(r));
	if (!ok)
		goto out2;
	memcpy(lid2, r->registered->lease_id.data, LEASE_ID_LEN);
	r = t_recv(&t1, 3000);
	CHECK(IS_NOTICE(r) &&
	    r->notice->kind == RELAY__V1__NOTICE__KIND__LEASE_REPLACED &&
	    r->notice->lease_id.len == LEASE_ID_LEN &&
	    memcmp(r->notice->lease_id.data, lid1, LEASE_ID_LEN) == 0,
	    "the old connection gets Notice LEASE_REPLACED for the old "
	    "lease (%s)", describe(r));
	r = do_lease_op(&t1, 1, 44, lid1, LEASE_ID_LEN);
	CHECK(is_error_id(r, RELAY__V1__ERROR_CODE__ERR_NOT_FOUND, 44),
	    "the replaced lease is gone: Renew gives ERR_NOT_FOUND");

	/* another connection cannot renew or end it; an unknown one */
	ctl(&tb, b);
	r = do_lease_op(&tb, 1, 45, lid2, LEASE_ID_LEN);
	CHECK(is_error_id(r, RELAY__V1__ERROR_CODE__ERR_NOT_FOUND, 45),
	    "Renew of another ID's lease: ERR_NOT_FOUND with its request_id");
	r = do_lease_op(&tb, 0, 46, lid2, LEASE_ID_LEN);
	CHECK(is_error_id(r, RELAY__V1__ERROR_CODE__ERR_NOT_FOUND, 46),
	    "Unregister of another ID's lease: ERR_NOT_FOUND");
	r = do_lease_op(&t1, 0, 47, lid2, LEASE_ID_LEN);
	CHECK(is_error_id(r, RELAY__V1__ERROR_CODE__ERR_NOT_FOUND, 47),
	    "Unregister of the same ID's lease from another connection: "
	    "ERR_NOT_FOUND");
	memset(rnd, 0xa5, sizeof(rnd));
	r = do_lease_op(&tb, 1, 48, rnd, sizeof(rnd));
	CHECK(is_error_id(r, RELAY__V1__ERROR_CODE__ERR_NOT_FOUND, 48),
	    "Renew of an unknown lease: ERR_NOT_FOUND");
	/* the lease survived all that: it is reached through t2 */
	do_connect(&tb, 1, "renew-me", "tcp");
	r = t_recv(&t2, 3000);
	ok = IS_INCOMING(r) &&
	    memcmp(r->incoming->lease_id.data, lid2, LEASE_ID_LEN) == 0;
	CHECK(ok, "the new lease serves connects (%s)", describe(r));
	if (ok) {
		memcpy(sid, r->incoming->session_id.data, SESSION_ID_LEN);
		t_session_op(&t2, 0, sid, SESSION_ID_LEN, "done");
		(void)t_recv(&tb, 3000);
	}
	/* item 6: Accept and Reject of a session nobody has */
	memset(sid, 0x3c, sizeof(sid));
	t_session_op(&t2, 1, sid, SESSION_ID_LEN, NULL);
	r = t_recv(&t2, 3000);
	CHECK(is_error_id(r, RELAY__V1__ERROR_CODE__ERR_NOT_FOUND, 0),
	    "Accept of an unknown session: ERR_NOT_FOUND, request_id 0");
	t_session_op(&t2, 0, sid, SESSION_ID_LEN, "no");
	r = t_recv(&t2, 3000);
	CHECK(is_error_id(r, RELAY__V1__ERROR_CODE__ERR_NOT_FOUND, 0),
	    "Reject of an unknown session: ERR_NOT_FOUND, request_id 0");
	t_close(&tb);
out2:
	t_close(&t2);
out1:
	t_close(&t1);
}

/* A length-delimited protobuf field (len < 128) at raw + n; the new n. */
static size_t
put_field(uint8_t *raw, size_t n, uint8_t key, const char *p, size_t len)
{
	raw[n++] = key;
	raw[n++] = len;
	memcpy(raw + n, p, len);
	return n + len;
}

/* Item 8: a Connect with both id and name: the last one on the wire. */
static void
test_oneof(void)
{
	struct identity	*h = new_ident(), *q = new_ident(), *nobody;
	struct tconn	 th, tq;
	RelayMessage	*r;
	uint8_t		 raw[128];
	size_t		 n;
	int		 order;

	nobody = new_ident();
	ctl(&th, h);
	r = do_register(&th, "oneof-x", "tcp", 0, 60);
	ctl(&tq, q);
	for (order = 0; order < 2; order++) {
		/* Connect{request_id, id, name, alpn} in either order */
		n = 0;
		raw[n++] = 0x22;
		raw[n++] = 2 + 34 + 9 + 5;
		raw[n++] = 0x08;
		raw[n++] = 60 + order;
		if (order == 1)
			n = put_field(raw, n, 0x1a, "oneof-x", 7);
		n = put_field(raw, n, 0x12, nobody->id, 32);
		if (order == 0)
			n = put_field(raw, n, 0x1a, "oneof-x", 7);
		n = put_field(raw, n, 0x22, "tcp", 3);
		t_send_raw_record(&tq, raw, n);
		if (order == 0) {
			/* name last: the lease is asked */
			r = t_recv(&th, 3000);
			CHECK(IS_INCOMING(r), "Connect with an id, then a name: "
			    "the name counts (%s)", describe(r));
			if (IS_INCOMING(r)) {
				t_session_op(&th, 0,
				    r->incoming->session_id.data,
				    SESSION_ID_LEN, "no");
				r = t_recv(&tq, 3000);
				CHECK(is_error_id(r,
				    RELAY__V1__ERROR_CODE__ERR_REJECTED, 60),
				    "... answered for that request");
			}
		} else {
			r = t_recv(&tq, 3000);
			CHECK(is_error_id(r, RELAY__V1__ERROR_CODE__ERR_NOT_FOUND,
			    61) && strstr(r->error->message, "ID") != NULL,
			    "Connect with a name, then an id: the id counts "
			    "(%s)", describe(r));
		}
	}
	t_close(&th);
	t_close(&tq);
}

/* Items 12 and 18: listing order, pages, offsets; duplicate ALPNs. */
#define NPG	25
static void
test_listing(void)
{
	struct tconn	 t[NPG / 3 + 1], tq;
	struct identity	*ids[NPG / 3 + 1];
	RelayMessage	*r;
	char		*dup[] = { (char *)"tcp", (char *)"tcp" };
	char		*one[] = { (char *)"tcp" };
	char		 name[32], seen[NPG * 2][64];
	uint8_t		 lid5[LEASE_ID_LEN];
	uint32_t	 off, total;
	size_t		 i, k, nseen;
	int		 ok, pages_ok, more_ok, pos[NPG + 1], dup_ok = 0;
	int		 hidden_seen = 0, j, pass;

	for (i = 0; i < NPG / 3 + 1; i++) {
		ids[i] = new_ident();
		ctl(&t[i], ids[i]);
	}
	ok = 1;
	for (i = 0; i < NPG; i++) {
		snprintf(name, sizeof(name), "pg-%02zu", i);
		r = do_register_alpns(&t[i / 3], 100 + i, name,
		    i == 0 ? dup : one, i == 0 ? 2 : 1, 0, 600);
		ok &= IS_REGISTERED(r);
		if (i == 5 && IS_REGISTERED(r))
			memcpy(lid5, r->registered->lease_id.data,
			    LEASE_ID_LEN);
	}
	CHECK(ok, "register %d public leases (the first with ALPN tcp "
	    "twice: accepted)", NPG);
	r = do_register_alpns(&t[NPG / 3], 200, "pgh-0", one, 1, 1, 600);
	ctl(&tq, new_ident());
	for (pass = 0; pass < 3; pass++) {
		if (pass == 1) {
			/* a renewal keeps a lease's place */
			r = do_lease_op(&t[1], 1, 300, lid5, LEASE_ID_LEN);
		} else if (pass == 2) {
			/* registering again (replacing) moves it to the end */
			r = do_register_alpns(&t[1], 301, "pg-03", one, 1, 0,
			    600);
			(void)t_recv(&t[1], 3000);	/* LEASE_REPLACED */
		}
		nseen = 0;
		pages_ok = more_ok = 1;
		for (off = 0; off < 10000;) {
			r = do_list(&tq, 400 + off, off);
			if (!IS_LIST(r) || r->lease_list->request_id !=
			    400 + off) {
				pages_ok = 0;
				break;
			}
			if (r->lease_list->n_leases > 20)
				pages_ok = 0;
			/* more: a full page and one more lease after it */
			if (r->lease_list->more &&
			    r->lease_list->n_leases != 20)
				more_ok = 0;
			for (k = 0; k < r->lease_list->n_leases &&
			    nseen < NPG * 2; k++) {
				Relay__V1__LeaseInfo *li =
				    r->lease_list->leases[k];

				strlcpy(seen[nseen++], li->name,
				    sizeof(seen[0]));
				if (strncmp(li->name, "pgh-", 4) == 0)
					hidden_seen = 1;
				if (strcmp(li->name, "pg-00") == 0 &&
				    li->n_alpn == 2 &&
				    strcmp(li->alpn[0], "tcp") == 0 &&
				    strcmp(li->alpn[1], "tcp") == 0)
					dup_ok = 1;
			}
			off += r->lease_list->n_leases;
			if (!r->lease_list->more)
				break;
		}
		for (j = 0; j <= NPG; j++)
			pos[j] = -1;
		for (k = 0; k < nseen; k++)
			if (strncmp(seen[k], "pg-", 3) == 0)
				pos[atoi(seen[k] + 3)] = k;
		ok = pages_ok && more_ok;
		for (j = 0; j < NPG; j++)
			if (pos[j] == -1)
				ok = 0;
		if (ok && pass < 2) {
			for (j = 1; j < NPG; j++)
				if (pos[j] < pos[j - 1])
					ok = 0;
			CHECK(ok && !hidden_seen, "%s: every page at most 20, "
			    "more only on full pages, registration order, no "
			    "hidden lease", pass == 0 ? "listing" :
			    "after a renewal");
		} else if (ok) {
			for (j = 1; j < NPG; j++)
				if (j != 3 && j != 4 && pos[j] < pos[j - 1])
					ok = 0;
			CHECK(ok && pos[3] > pos[NPG - 1] && pos[4] > pos[2],
			    "a re-registered lease moves to the end of the list");
		} else
			CHECK(0, "listing pass %d: pages %d, more %d, %zu seen",
			    pass, pages_ok, more_ok, nseen);
	}
	CHECK(dup_ok, "a lease registered with ALPN tcp twice lists it twice");
	total = off;
	r = do_list(&tq, 500, total);
	CHECK(IS_LIST(r) && r->lease_list->n_leases == 0 &&
	    !r->lease_list->more && r->lease_list->request_id == 500,
	    "offset at the end: an empty page, more false");
	r = do_list(&tq, 501, 4000000000U);
	CHECK(IS_LIST(r) && r->lease_list->n_leases == 0 &&
	    !r->lease_list->more, "offset far past the end: an empty page");
	for (i = 0; i < NPG / 3 + 1; i++)
		t_close(&t[i]);
	t_close(&tq);
}

/* An IPv4 loopback address with this port. */
static int
loopback_at(const Relay__V1__Address *a, int want_port)
{
	return a != NULL && a->ip.len == 4 && a->ip.data[0] == 127 &&
	    (int)a->port == want_port;
}

/*
 * Items 19, 27, 28: the addresses in Incoming and Connected; an accepted
 * session outlives both control connections; swapped tokens still pair;
 * a token works once.
 */
static void
test_session_rules(void)
{
	struct identity	*h = new_ident(), *q = new_ident();
	struct tconn	 th, tq;
	RelayMessage	*r;
	uint8_t		 sid[SESSION_ID_LEN], tok_h[TOKEN_LEN];
	uint8_t		 tok_q[TOKEN_LEN];
	double		 el;
	int		 ok, qport, hport;

	ctl(&th, h);
	r = do_register(&th, "rules-x", "tcp", 0, 60);
	ctl(&tq, q);
	qport = t_local_port(tq.fd);
	hport = t_local_port(th.fd);
	do_connect(&tq, 1, "rules-x", "tcp");
	r = t_recv(&th, 3000);
	ok = IS_INCOMING(r);
	CHECK(ok && loopback_at(r->incoming->from_addr, qport),
	    "Incoming.from_addr is the requester's control connection "
	    "address (port %d)", qport);
	if (!ok)
		goto out;
	memcpy(sid, r->incoming->session_id.data, SESSION_ID_LEN);
	memcpy(tok_h, r->incoming->token.data, TOKEN_LEN);
	t_session_op(&th, 1, sid, SESSION_ID_LEN, NULL);
	r = t_recv(&tq, 3000);
	ok = IS_CONNECTED(r);
	CHECK(ok && loopback_at(r->connected->peer_addr, hport),
	    "Connected.peer_addr is the holder's control connection address "
	    "(port %d)", hport);
	if (!ok)
		goto out;
	memcpy(tok_q, r->connected->token.data, TOKEN_LEN);
	/* both control connections go; the accepted session does not */
	t_close(&th);
	t_close(&tq);
	/* the requester presents the holder's token and the reverse */
	CHECK(pair_and_talk(t_data_open(port, tok_h), t_data_open(port, tok_q),
	    q, h, sid, "tcp") == 0,
	    "after both control connections closed, the accepted session "
	    "pairs with swapped tokens and carries data both ways");
	/* a token used once is unknown afterwards */
	el = close_delay(t_data_open(port, tok_q));
	CHECK(el >= 1.9 && el < 5.0, "a used token: closed without a byte "
	    "after 2 s (%.2f s)", el);
	return;
out:
	t_close(&th);
	t_close(&tq);
}

/* Item 28: a pending Connect whose lease ends; item 25: unknown token. */
static void
test_lease_end(void)
{
	struct identity	*h = new_ident(), *q = new_ident();
	struct tconn	 th, tq;
	RelayMessage	*r;
	uint8_t		 tok[TOKEN_LEN];
	double		 el;

	ctl(&th, h);
	r = do_register(&th, "ends-x", "tcp", 0, 60);
	ctl(&tq, q);
	do_connect(&tq, 1, "ends-x", "tcp");
	r = t_recv(&th, 3000);
	CHECK(IS_INCOMING(r), "incoming for the lease-end test");
	t_close(&th);
	r = t_recv(&tq, 3000);
	CHECK(is_error_id(r, RELAY__V1__ERROR_CODE__ERR_NOT_FOUND,
	    next_req - 1), "the lease ends before its holder answered: the "
	    "requester gets ERR_NOT_FOUND for its Connect (%s)", describe(r));
	t_close(&tq);

	memset(tok, 0x42, sizeof(tok));
	el = close_delay(t_data_open(port, tok));
	CHECK(el >= 1.9 && el < 5.0, "an unknown token: closed without a "
	    "byte after 2 s (%.2f s)", el);
}

/*
 * The relay's deadlines and switches, against a relay run with
 * "timeout handshake 2 pairing 4 idle 6 accept 3" and "listing off".
 * Every wait polls the condition with a bound a little above the
 * deadline; lower bounds hold because the relay never acts early.
 */
static void
test_timing(void)
{
	struct identity	*h = new_ident(), *q = new_ident();
	struct tconn	 ta, tb, th, tq;
	RelayMessage	*r;
	uint8_t		 sid[SESSION_ID_LEN], tok[TOKEN_LEN];
	double		 t0, el, closed_at = -1;
	int		 fd, i, alive = 1, ok;

	/* item 13: listing off */
	ctl(&ta, new_ident());
	r = do_list(&ta, 9, 0);
	CHECK(is_error_id(r, RELAY__V1__ERROR_CODE__ERR_UNAUTHORIZED, 9),
	    "listing off: ListLeases gets ERR_UNAUTHORIZED (%s)", describe(r));
	t_close(&ta);

	/*
	 * Items 10 and 11: a silent control connection is closed, with a
	 * close record, after the idle timeout (6 s); one that sends a Ping
	 * every second is not: only what the relay receives counts.
	 */
	ctl(&ta, new_ident());
	t0 = t_now();
	ctl(&tb, new_ident());
	/* a second apart: ta is watched, or tb's next second awaited */
	for (i = 0; i < 12 && alive && t_now() - t0 < 8.0; i++) {
		if (closed_at < 0) {
			r = t_recv(&ta, 1000);
			if (r != NULL || ta.peer_closed)
				closed_at = t_now() - t0;
		} else
			(void)t_recv(&tb, 1000);
		alive = pong_ok(do_ping(&tb, 100 + i), 100 + i);
	}
	CHECK(closed_at >= 5.5 && closed_at < 9.0 && ta.close_record,
	    "a silent control connection: closed after the idle timeout, "
	    "with a close record (%.2f s)", closed_at);
	CHECK(ta.close_record && t_wait_close_record(&ta, 3000) == 0,
	    "... then the end of the stream");
	CHECK(alive && t_now() - t0 > 6.5, "one that sends a Ping every "
	    "second stays open past the idle timeout");
	t_close(&ta);
	t_close(&tb);

	/* item 15: a data connection that stalls inside its token */
	fd = t_tcp_connect(port);
	t_write_full(fd, "RLY\x01" "D0123456789", 15);
	el = close_delay(fd);
	CHECK(el >= 1.9 && el < 5.0, "a data connection stalled inside its "
	    "token: closed at the handshake timeout (%.2f s)", el);
	/* and a control connection stalled inside its handshake */
	fd = t_tcp_connect(port);
	t_write_full(fd, "RLY\x01" "C\x00\x20" "0123", 11);
	el = close_delay(fd);
	CHECK(el >= 1.9 && el < 5.0, "a control connection stalled inside "
	    "M1: closed at the handshake timeout (%.2f s)", el);

	/*
	 * Item 16: the pairing timeout (4 s) counts from the Connect that
	 * made the tokens, not from the Accept: the holder accepts 2 s
	 * late, opens its data connection at once, and it is closed about
	 * 4 s after the Connect (6 s if the count began at the Accept).
	 */
	ctl(&th, h);
	r = do_register(&th, "late-x", "tcp", 0, 60);
	ctl(&tq, q);
	do_connect(&tq, 1, "late-x", "tcp");
	t0 = t_now();
	r = t_recv(&th, 3000);
	ok = IS_INCOMING(r);
	CHECK(ok, "incoming for the pairing test (%s)", describe(r));
	if (ok) {
		memcpy(sid, r->incoming->session_id.data, SESSION_ID_LEN);
		memcpy(tok, r->incoming->token.data, TOKEN_LEN);
		/* the stimulus: a late answer (nothing else is expected) */
		r = t_recv(&th, 2000);
		CHECK(r == NULL && !th.peer_closed, "nothing else comes for "
		    "2 s");
		t_session_op(&th, 1, sid, SESSION_ID_LEN, NULL);
		r = t_recv(&tq, 3000);
		CHECK(IS_CONNECTED(r), "Connected after a late Accept (%s)",
		    describe(r));
		fd = t_data_open(port, tok);
		el = time_to_close(fd, t0, 8000);
		CHECK(el >= 3.8 && el < 5.9, "an unpaired half is closed at "
		    "the pairing timeout counted from the Connect (%.2f s)",
		    el);
		close(fd);
	}
	t_close(&th);
	t_close(&tq);
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
	if ((argc == 5 || argc == 6) && strcmp(argv[1], "hold") == 0) {
		/*
		 * hold PORT RELAY_ID NAME [KEYFILE]: keep a lease, report
		 * notices and how the relay ends the connection.
		 */
		struct tconn	 t;
		struct identity	 loaded, *id;
		RelayMessage	*r;

		port = atoi(argv[2]);
		if (argc == 6) {
			if (identity_load(&loaded, argv[5], err,
			    sizeof(err)) == -1) {
				fprintf(stderr, "%s\n", err);
				return 1;
			}
			id = &loaded;
		} else
			id = new_ident();
		if (id_normalize(argv[3], relay_id) == -1 || ctl(&t, id) == -1)
			return 1;
		r = do_register(&t, argv[4], "ssh", 0, 60);
		/* a takeover: the old lease's Notice may come first */
		while (IS_NOTICE(r))
			r = t_recv(&t, 3000);
		if (!IS_REGISTERED(r))
			return 1;
		printf("registered %s\n", argv[4]);
		for (;;) {
			if ((r = t_recv(&t, 60000)) == NULL)
				break;
			if (r->msg_case == RELAY__V1__RELAY_MESSAGE__MSG_NOTICE)
				printf("notice %d: %s\n", r->notice->kind,
				    r->notice->message);
		}
		if (t.close_record && t_wait_close_record(&t, 5000) == 0)
			printf("closed: close record, then end of stream\n");
		else
			printf("closed: %s\n", t.close_record ?
			    "close record, then more" : "no close record");
		t_close(&t);
		if (id == &loaded)
			identity_clear(&loaded);
		free_idents();
		return 0;
	}
	if (argc == 4 && strcmp(argv[1], "timing") == 0) {
		port = atoi(argv[2]);
		if (id_normalize(argv[3], relay_id) == -1)
			return 2;
		test_timing();
		free_idents();
		printf("%d passed, %d failed\n", passed, failed);
		return failed == 0 && passed > 0 ? 0 : 1;
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
	test_request_ids();
	test_bad_counter();
	test_client_close();
	test_lease_rules();
	test_oneof();
	test_listing();
	test_session_rules();
	test_lease_end();
	free_idents();
	if (have_resv)
		identity_clear(&resv);
	printf("%d passed, %d failed\n", passed, failed);
	return failed == 0 && passed > 0 ? 0 : 1;
}
