/* SPDX-License-Identifier: ISC */
/*
 * test_proto.c: the control messages of DESIGN 4.4 through libcommon/proto.c.
 * Every ClientMessage and RelayMessage kind must survive pack and unpack
 * field for field and pass the checks; oversized, truncated, malformed and
 * random input must be refused or at least not crash; a crafted message
 * must not get past the bounded arena; and every field rule must reject
 * what it should and accept what it should.
 */
#include "config.h"

#include <sys/types.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto.h"
#include "protocol.h"
#include "util.h"
#include "unit.h"

#define BUFSZ		(REC_MAX_PAYLOAD + 64)
#define ERRSZ		256
#define FUZZ_ROUNDS	20000
#define FUZZ_MAXLEN	512

/* A valid 32-character relay ID (base32 alphabet a-z, 2-7) and variants. */
#define ID_OK		"abcdefghijklmnopqrstuvwxyz234567"
#define ID_OK_UPPER	"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
#define ID_OK_MIXED	"AbCdEfGhIjKlMnOpQrStUvWxYz234567"

static struct proto_arena	 arena;
static uint8_t			 pkbuf[BUFSZ];
static uint8_t			 pkbuf2[BUFSZ];
static char			 errbuf[ERRSZ];
static int			 saved_stderr = -1;

static uint8_t	 ip4[4] = { 192, 168, 1, 10 };
static uint8_t	 ip6[16] = { 0xfe, 0x80, 0, 0, 0, 0, 0, 0,
		    0, 0, 0, 0, 0, 0, 0, 1 };
static uint8_t	 id16[16] = { 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16,
		    0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f };
static uint8_t	 id16b[16] = { 0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6,
		    0xa7, 0xa8, 0xa9, 0xaa, 0xab, 0xac, 0xad, 0xae, 0x00 };
static uint8_t	 tok32[32] = { 0x00, 0xff, 0x01, 0xfe, 0x02, 0xfd, 0x03,
		    0xfc, 0x04, 0xfb, 0x05, 0xfa, 0x06, 0xf9, 0x07, 0xf8,
		    0x08, 0xf7, 0x09, 0xf6, 0x0a, 0xf5, 0x0b, 0xf4,
		    0x0c, 0xf3, 0x0d, 0xf2, 0x0e, 0xf1, 0x0f, 0xf0 };
static uint8_t	 zeros[64];

/* ---- helpers ---- */

/*
 * Some protobuf-c builds (PRINT_UNPACK_ERRORS) report each unpack failure
 * on stderr: keep the thousands of expected failures quiet.
 */
static void
quiet(void)
{
	int	 fd;

	if (saved_stderr != -1)
		return;
	fflush(stderr);
	saved_stderr = dup(STDERR_FILENO);
	if ((fd = open("/dev/null", O_WRONLY)) != -1) {
		dup2(fd, STDERR_FILENO);
		close(fd);
	}
}

static void
unquiet(void)
{
	fflush(stderr);
	if (saved_stderr != -1) {
		dup2(saved_stderr, STDERR_FILENO);
		close(saved_stderr);
		saved_stderr = -1;
	}
}

static void
setup(void)
{
	ck_assert_int_eq(proto_arena_init(&arena, PROTO_ARENA_RELAY), 0);
}

static void
setup_client(void)
{
	ck_assert_int_eq(proto_arena_init(&arena, PROTO_ARENA_CLIENT), 0);
}

static void
teardown(void)
{
	unquiet();
	proto_arena_free(&arena);
}

static uint64_t	 rng;

static uint64_t
xorshift(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static ProtobufCBinaryData
bin(const uint8_t *p, size_t len)
{
	ProtobufCBinaryData	 b = { len, (uint8_t *)p };

	return b;
}

static void
addr_set(Relay__V1__Address *a, const uint8_t *ip, size_t iplen,
    uint32_t port)
{
	Relay__V1__Address	 init = RELAY__V1__ADDRESS__INIT;

	*a = init;
	a->ip = bin(ip, iplen);
	a->port = port;
}

/* The n addresses a as the list ap a message points to. */
static Relay__V1__Address **
addr_list(Relay__V1__Address *a, Relay__V1__Address **ap, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		ap[i] = &a[i];
	return ap;
}

static int
in_arena(const void *p)
{
	const uint8_t	*q = p;

	return q >= arena.mem && q < arena.mem + arena.size;
}

static void
assert_bytes(const ProtobufCBinaryData *got, const ProtobufCBinaryData *want,
    const char *what)
{
	ck_assert_msg(got->len == want->len, "%s: length %zu, want %zu", what,
	    got->len, want->len);
	if (want->len > 0) {
		ck_assert_msg(memcmp(got->data, want->data, want->len) == 0,
		    "%s differs", what);
		ck_assert_msg(in_arena(got->data), "%s not in the arena", what);
	}
}

static void
assert_addr(const Relay__V1__Address *got, const Relay__V1__Address *want)
{
	if (want == NULL) {
		ck_assert_ptr_null(got);
		return;
	}
	ck_assert_ptr_nonnull(got);
	ck_assert_msg(in_arena(got), "address not in the arena");
	assert_bytes(&got->ip, &want->ip, "ip");
	ck_assert_uint_eq(got->port, want->port);
}

static void
assert_addrs(Relay__V1__Address **got, size_t ngot,
    Relay__V1__Address **want, size_t nwant)
{
	size_t	 i;

	ck_assert_uint_eq(ngot, nwant);
	for (i = 0; i < nwant; i++)
		assert_addr(got[i], want[i]);
}

static void
assert_strv(char **got, size_t ngot, char **want, size_t nwant)
{
	size_t	 i;

	ck_assert_uint_eq(ngot, nwant);
	for (i = 0; i < nwant; i++)
		ck_assert_str_eq(got[i], want[i]);
}

/*
 * The two kinds of message, so that one helper serves both: each begins
 * with its ProtobufCMessage, and SIDE() writes the lines that know the
 * type once for both.
 */
struct side {
	const char	*what;
	ssize_t		(*pack)(const void *, uint8_t *, size_t);
	void		*(*unpack)(struct proto_arena *, const uint8_t *,
			    size_t);
	int		(*check)(const void *, char *, size_t);
	int		(*msg_case)(const void *);
	const char	*(*msg_name)(int);
};

#define SIDE(kind, type)						\
static ssize_t								\
kind##_pack(const void *m, uint8_t *buf, size_t len)			\
{									\
	return proto_pack_##kind(m, buf, len);				\
}									\
									\
static void *								\
kind##_unpack(struct proto_arena *a, const uint8_t *buf, size_t len)	\
{									\
	return proto_unpack_##kind(a, buf, len);			\
}									\
									\
static int								\
kind##_check(const void *m, char *err, size_t errlen)			\
{									\
	return proto_check_##kind(m, err, errlen);			\
}									\
									\
static int								\
kind##_msg_case(const void *m)						\
{									\
	return ((const type *)m)->msg_case;				\
}									\
									\
static const struct side kind##_side = { #kind, kind##_pack,		\
    kind##_unpack, kind##_check, kind##_msg_case, proto_##kind##_msg_name }

SIDE(client, ClientMessage);
SIDE(relay, RelayMessage);

static const struct side *const sides[] = { &client_side, &relay_side };

/*
 * Pack m, check the size against protobuf-c, unpack it into the arena,
 * check it, pack the result again and compare the bytes.
 */
static void *
rt(const struct side *sd, const void *m)
{
	void	*u;
	ssize_t	 n, n2;

	memset(pkbuf, 0xa5, sizeof(pkbuf));
	n = sd->pack(m, pkbuf, sizeof(pkbuf));
	ck_assert_int_gt(n, 0);
	ck_assert_uint_eq((size_t)n, protobuf_c_message_get_packed_size(m));
	u = sd->unpack(&arena, pkbuf, (size_t)n);
	ck_assert_ptr_nonnull(u);
	ck_assert_int_eq(arena.exhausted, 0);
	ck_assert_msg(in_arena(u), "message not in the arena");
	ck_assert_int_eq(sd->msg_case(u), sd->msg_case(m));
	errbuf[0] = '\0';
	ck_assert_msg(sd->check(u, errbuf, sizeof(errbuf)) == 0,
	    "check refused %s: %s", sd->msg_name(sd->msg_case(u)), errbuf);
	ck_assert_int_eq(sd->check(m, errbuf, sizeof(errbuf)), 0);
	n2 = sd->pack(u, pkbuf2, sizeof(pkbuf2));
	ck_assert_int_eq(n2, n);
	ck_assert_mem_eq(pkbuf2, pkbuf, (size_t)n);
	return u;
}

/*
 * Check m as built and as it comes off the wire: both must agree. want is
 * NULL if m must be accepted, else a word the error text must contain; at
 * is the line of the caller or the row of a table.
 */
static void
expect(const struct side *sd, const void *m, const char *want, int at)
{
	char		 err1[ERRSZ], err2[ERRSZ];
	void		*u;
	ssize_t		 n;
	int		 r1, r2;

	err1[0] = err2[0] = '\0';
	r1 = sd->check(m, err1, sizeof(err1));
	n = sd->pack(m, pkbuf, sizeof(pkbuf));
	ck_assert_msg(n >= 0, "%d: pack failed", at);
	u = sd->unpack(&arena, pkbuf, (size_t)n);
	ck_assert_msg(u != NULL, "%d: unpack failed", at);
	r2 = sd->check(u, err2, sizeof(err2));
	ck_assert_msg(r1 == r2, "%d: built %d, unpacked %d", at, r1,
	    r2);
	if (want == NULL) {
		ck_assert_msg(r1 == 0, "%d: refused: %s", at, err1);
		return;
	}
	ck_assert_msg(r1 == -1, "%d: accepted, want \"%s\"", at, want);
	ck_assert_msg(strstr(err1, want) != NULL,
	    "%d: error \"%s\", want \"%s\"", at, err1, want);
	ck_assert_str_eq(err1, err2);
}

#define CLIENT_OK(m)		expect(&client_side, (m), NULL, __LINE__)
#define CLIENT_BAD(m, w)	expect(&client_side, (m), (w), __LINE__)
#define RELAY_OK(m)		expect(&relay_side, (m), NULL, __LINE__)
#define RELAY_BAD(m, w)		expect(&relay_side, (m), (w), __LINE__)

/*
 * The list that *n counts is accepted with max entries and refused, with
 * the word want, with one more.
 */
static void
expect_count(const struct side *sd, const void *m, size_t *n, size_t max,
    const char *want, int at)
{
	*n = max;
	expect(sd, m, NULL, at);
	*n = max + 1;
	expect(sd, m, want, at);
}

/* Put body in the envelope m as its member f, of the case c. */
#define ENVELOPE_CLIENT(m, c, f, body)					\
	((m)->msg_case = RELAY__V1__CLIENT_MESSAGE__MSG_##c, (m)->f = (body))
#define ENVELOPE_RELAY(m, c, f, body)					\
	((m)->msg_case = RELAY__V1__RELAY_MESSAGE__MSG_##c, (m)->f = (body))

/* ---- valid messages to start from ---- */

static char	*reg_alpn[] = { "tcp", "h2", "ssh" };
static char	 reg_desc[] =
		    "Caf\xc3\xa9 \xe2\x98\x95 service \xf0\x9f\x98\x80";

struct reg_msg {
	ClientMessage		 m;
	Relay__V1__Register	 r;
	Relay__V1__Address	 a[2];
	Relay__V1__Address	*ap[2];
};

static void
reg_init(struct reg_msg *s)
{
	s->m = (ClientMessage)RELAY__V1__CLIENT_MESSAGE__INIT;
	s->r = (Relay__V1__Register)RELAY__V1__REGISTER__INIT;
	s->r.request_id = 0xdeadbeef;
	s->r.name = "my-service-1";
	s->r.n_alpn = 3;
	s->r.alpn = reg_alpn;
	s->r.ttl_seconds = 3600;
	s->r.description = reg_desc;
	s->r.hidden = 1;
	addr_set(&s->a[0], ip4, sizeof(ip4), 22);
	addr_set(&s->a[1], ip6, sizeof(ip6), 65535);
	s->r.n_local_addrs = 2;
	s->r.local_addrs = addr_list(s->a, s->ap, 2);
	ENVELOPE_CLIENT(&s->m, REGISTER, register_, &s->r);
}

struct conn_msg {
	ClientMessage		 m;
	Relay__V1__Connect	 c;
};

static void
conn_init(struct conn_msg *s, int by_id, const char *target)
{
	s->m = (ClientMessage)RELAY__V1__CLIENT_MESSAGE__INIT;
	s->c = (Relay__V1__Connect)RELAY__V1__CONNECT__INIT;
	s->c.request_id = 77;
	s->c.alpn = "tcp";
	if (by_id) {
		s->c.target_case = RELAY__V1__CONNECT__TARGET_ID;
		s->c.id = (char *)target;
	} else {
		s->c.target_case = RELAY__V1__CONNECT__TARGET_NAME;
		s->c.name = (char *)target;
	}
	ENVELOPE_CLIENT(&s->m, CONNECT, connect, &s->c);
}

struct inc_msg {
	RelayMessage		 m;
	Relay__V1__Incoming	 in;
	Relay__V1__Address	 from, local[2];
	Relay__V1__Address	*lp[2];
};

static void
inc_init(struct inc_msg *s)
{
	s->m = (RelayMessage)RELAY__V1__RELAY_MESSAGE__INIT;
	s->in = (Relay__V1__Incoming)RELAY__V1__INCOMING__INIT;
	s->in.session_id = bin(id16, sizeof(id16));
	s->in.lease_id = bin(id16b, sizeof(id16b));
	s->in.alpn = "h2";
	s->in.from_id = ID_OK;
	addr_set(&s->from, ip6, sizeof(ip6), 40000);
	s->in.from_addr = &s->from;
	s->in.token = bin(tok32, sizeof(tok32));
	s->in.deadline_ms = 5000;
	addr_set(&s->local[0], ip4, sizeof(ip4), 1);
	addr_set(&s->local[1], ip6, sizeof(ip6), 7420);
	s->in.n_from_local_addrs = 2;
	s->in.from_local_addrs = addr_list(s->local, s->lp, 2);
	ENVELOPE_RELAY(&s->m, INCOMING, incoming, &s->in);
}

struct cd_msg {
	RelayMessage		 m;
	Relay__V1__Connected	 c;
	Relay__V1__Address	 peer, local[1];
	Relay__V1__Address	*lp[1];
};

static void
cd_init(struct cd_msg *s)
{
	s->m = (RelayMessage)RELAY__V1__RELAY_MESSAGE__INIT;
	s->c = (Relay__V1__Connected)RELAY__V1__CONNECTED__INIT;
	s->c.request_id = 0xffffffff;
	s->c.session_id = bin(id16b, sizeof(id16b));
	s->c.id = ID_OK_MIXED;
	addr_set(&s->peer, ip4, sizeof(ip4), 443);
	s->c.peer_addr = &s->peer;
	s->c.token = bin(tok32, sizeof(tok32));
	addr_set(&s->local[0], ip6, sizeof(ip6), 8443);
	s->c.n_peer_local_addrs = 1;
	s->c.peer_local_addrs = addr_list(s->local, s->lp, 1);
	ENVELOPE_RELAY(&s->m, CONNECTED, connected, &s->c);
}

static char	*li_alpn0[] = { "tcp" };
static char	*li_alpn1[] = { "h2", "http/1.1", "ssh", "x" };

/* The three leases of the page ll_init() builds. */
static const struct {
	char		*name;
	char		*id;
	size_t		 n_alpn;
	char		**alpn;
	char		*description;
	uint64_t	 expires_unix;
} ll_rows[3] = {
	{ "alpha", ID_OK, 1, li_alpn0, "first", 1700000000 },
	{ "b-2", ID_OK_UPPER, 4, li_alpn1, reg_desc,
	    UINT64_C(0x1122334455667788) },
	{ "z", ID_OK, 1, li_alpn0, "", 1 },
};

struct ll_msg {
	RelayMessage		 m;
	Relay__V1__LeaseList	 ll;
	Relay__V1__LeaseInfo	 li[3];
	Relay__V1__LeaseInfo	*lp[3];
};

static void
ll_init(struct ll_msg *s)
{
	size_t	 i;

	s->m = (RelayMessage)RELAY__V1__RELAY_MESSAGE__INIT;
	s->ll = (Relay__V1__LeaseList)RELAY__V1__LEASE_LIST__INIT;
	for (i = 0; i < 3; i++) {
		s->li[i] = (Relay__V1__LeaseInfo)RELAY__V1__LEASE_INFO__INIT;
		s->li[i].name = ll_rows[i].name;
		s->li[i].id = ll_rows[i].id;
		s->li[i].n_alpn = ll_rows[i].n_alpn;
		s->li[i].alpn = ll_rows[i].alpn;
		s->li[i].description = ll_rows[i].description;
		s->li[i].expires_unix = ll_rows[i].expires_unix;
		s->lp[i] = &s->li[i];
	}
	s->ll.request_id = 12;
	s->ll.n_leases = 3;
	s->ll.leases = s->lp;
	s->ll.more = 1;
	ENVELOPE_RELAY(&s->m, LEASE_LIST, lease_list, &s->ll);
}

/* ---- round trips: client messages ---- */

START_TEST(test_rt_register)
{
	struct reg_msg		 s;
	ClientMessage		*u;
	Relay__V1__Register	*r;

	reg_init(&s);
	u = rt(&client_side, &s.m);
	r = u->register_;
	ck_assert_ptr_nonnull(r);
	ck_assert_uint_eq(r->request_id, 0xdeadbeef);
	ck_assert_str_eq(r->name, "my-service-1");
	assert_strv(r->alpn, r->n_alpn, reg_alpn, 3);
	ck_assert_uint_eq(r->ttl_seconds, 3600);
	ck_assert_str_eq(r->description, reg_desc);
	ck_assert_int_eq(r->hidden, 1);
	assert_addrs(r->local_addrs, r->n_local_addrs, s.ap, 2);
	ck_assert_uint_eq(r->local_addrs[0]->ip.len, 4);
	ck_assert_uint_eq(r->local_addrs[1]->ip.len, 16);
}
END_TEST

START_TEST(test_rt_renew_unregister)
{
	ClientMessage		 m = RELAY__V1__CLIENT_MESSAGE__INIT, *u;
	Relay__V1__Renew	 rn = RELAY__V1__RENEW__INIT;
	Relay__V1__Unregister	 ur = RELAY__V1__UNREGISTER__INIT;

	rn.request_id = 1;
	rn.lease_id = bin(id16, sizeof(id16));
	ENVELOPE_CLIENT(&m, RENEW, renew, &rn);
	u = rt(&client_side, &m);
	ck_assert_uint_eq(u->renew->request_id, 1);
	assert_bytes(&u->renew->lease_id, &rn.lease_id, "renew lease_id");

	ur.request_id = 0x7fffffff;
	ur.lease_id = bin(id16b, sizeof(id16b));
	ENVELOPE_CLIENT(&m, UNREGISTER, unregister, &ur);
	u = rt(&client_side, &m);
	ck_assert_uint_eq(u->unregister->request_id, 0x7fffffff);
	assert_bytes(&u->unregister->lease_id, &ur.lease_id,
	    "unregister lease_id");
}
END_TEST

START_TEST(test_rt_connect)
{
	struct conn_msg	 s;
	ClientMessage	*u;

	conn_init(&s, 1, ID_OK);
	u = rt(&client_side, &s.m);
	ck_assert_uint_eq(u->connect->request_id, 77);
	ck_assert_int_eq(u->connect->target_case,
	    RELAY__V1__CONNECT__TARGET_ID);
	ck_assert_str_eq(u->connect->id, ID_OK);
	ck_assert_str_eq(u->connect->alpn, "tcp");

	conn_init(&s, 0, "web-1");
	s.c.alpn = "http/1.1";
	u = rt(&client_side, &s.m);
	ck_assert_uint_eq(u->connect->request_id, 77);
	ck_assert_int_eq(u->connect->target_case,
	    RELAY__V1__CONNECT__TARGET_NAME);
	ck_assert_str_eq(u->connect->name, "web-1");
	ck_assert_str_eq(u->connect->alpn, "http/1.1");
}
END_TEST

START_TEST(test_rt_accept_reject)
{
	ClientMessage		 m = RELAY__V1__CLIENT_MESSAGE__INIT, *u;
	Relay__V1__Accept	 ac = RELAY__V1__ACCEPT__INIT;
	Relay__V1__Reject	 rj = RELAY__V1__REJECT__INIT;

	ac.session_id = bin(id16, sizeof(id16));
	ENVELOPE_CLIENT(&m, ACCEPT, accept, &ac);
	u = rt(&client_side, &m);
	assert_bytes(&u->accept->session_id, &ac.session_id, "session_id");

	rj.session_id = bin(id16b, sizeof(id16b));
	rj.reason = "busy: try \xc3\xa0 later";
	ENVELOPE_CLIENT(&m, REJECT, reject, &rj);
	u = rt(&client_side, &m);
	assert_bytes(&u->reject->session_id, &rj.session_id, "session_id");
	ck_assert_str_eq(u->reject->reason, rj.reason);
}
END_TEST

START_TEST(test_rt_list_ping)
{
	ClientMessage		 m = RELAY__V1__CLIENT_MESSAGE__INIT, *u;
	Relay__V1__ListLeases	 ll = RELAY__V1__LIST_LEASES__INIT;
	Relay__V1__Ping		 p = RELAY__V1__PING__INIT;

	ll.request_id = 5;
	ll.offset = 300;
	ENVELOPE_CLIENT(&m, LIST_LEASES, list_leases, &ll);
	u = rt(&client_side, &m);
	ck_assert_uint_eq(u->list_leases->request_id, 5);
	ck_assert_uint_eq(u->list_leases->offset, 300);

	p.nonce = UINT64_MAX;
	ENVELOPE_CLIENT(&m, PING, ping, &p);
	u = rt(&client_side, &m);
	ck_assert_uint_eq(u->ping->nonce, UINT64_MAX);

	/* An empty member is still a member. */
	p.nonce = 0;
	u = rt(&client_side, &m);
	ck_assert_ptr_nonnull(u->ping);
	ck_assert_uint_eq(u->ping->nonce, 0);
}
END_TEST

/* ---- round trips: relay messages ---- */

START_TEST(test_rt_registered)
{
	RelayMessage		 m = RELAY__V1__RELAY_MESSAGE__INIT, *u;
	Relay__V1__Registered	 r = RELAY__V1__REGISTERED__INIT;
	Relay__V1__Address	 obs;
	Relay__V1__Registered	*g;

	r.request_id = 9;
	r.lease_id = bin(id16, sizeof(id16));
	r.name = "my-service-1";
	r.ttl_seconds = 600;
	r.expires_unix = UINT64_C(0x100000001);
	addr_set(&obs, ip4, sizeof(ip4), 51234);
	r.observed_addr = &obs;
	ENVELOPE_RELAY(&m, REGISTERED, registered, &r);
	u = rt(&relay_side, &m);
	g = u->registered;
	ck_assert_uint_eq(g->request_id, 9);
	assert_bytes(&g->lease_id, &r.lease_id, "lease_id");
	ck_assert_str_eq(g->name, "my-service-1");
	ck_assert_uint_eq(g->ttl_seconds, 600);
	ck_assert_uint_eq(g->expires_unix, UINT64_C(0x100000001));
	assert_addr(g->observed_addr, &obs);

	/* Without observed_addr it stays absent. */
	r.observed_addr = NULL;
	u = rt(&relay_side, &m);
	ck_assert_ptr_null(u->registered->observed_addr);
}
END_TEST

START_TEST(test_rt_ack_pong)
{
	RelayMessage		 m = RELAY__V1__RELAY_MESSAGE__INIT, *u;
	Relay__V1__Ack		 a = RELAY__V1__ACK__INIT;
	Relay__V1__Pong		 p = RELAY__V1__PONG__INIT;

	a.request_id = 4242;
	ENVELOPE_RELAY(&m, ACK, ack, &a);
	u = rt(&relay_side, &m);
	ck_assert_uint_eq(u->ack->request_id, 4242);

	p.nonce = UINT64_C(0x8000000000000001);
	ENVELOPE_RELAY(&m, PONG, pong, &p);
	u = rt(&relay_side, &m);
	ck_assert_uint_eq(u->pong->nonce, UINT64_C(0x8000000000000001));
}
END_TEST

START_TEST(test_rt_incoming)
{
	struct inc_msg		 s;
	RelayMessage		*u;
	Relay__V1__Incoming	*g;

	inc_init(&s);
	u = rt(&relay_side, &s.m);
	g = u->incoming;
	assert_bytes(&g->session_id, &s.in.session_id, "session_id");
	assert_bytes(&g->lease_id, &s.in.lease_id, "lease_id");
	ck_assert_str_eq(g->alpn, "h2");
	ck_assert_str_eq(g->from_id, ID_OK);
	assert_addr(g->from_addr, &s.from);
	assert_bytes(&g->token, &s.in.token, "token");
	ck_assert_uint_eq(g->deadline_ms, 5000);
	assert_addrs(g->from_local_addrs, g->n_from_local_addrs, s.lp, 2);
}
END_TEST

START_TEST(test_rt_connected)
{
	struct cd_msg		 s;
	RelayMessage		*u;
	Relay__V1__Connected	*g;

	cd_init(&s);
	u = rt(&relay_side, &s.m);
	g = u->connected;
	ck_assert_uint_eq(g->request_id, 0xffffffff);
	assert_bytes(&g->session_id, &s.c.session_id, "session_id");
	ck_assert_str_eq(g->id, ID_OK_MIXED);
	assert_addr(g->peer_addr, &s.peer);
	assert_bytes(&g->token, &s.c.token, "token");
	assert_addrs(g->peer_local_addrs, g->n_peer_local_addrs, s.lp, 1);
}
END_TEST

START_TEST(test_rt_lease_list)
{
	struct ll_msg		 s;
	RelayMessage		*u;
	Relay__V1__LeaseList	*g;
	size_t			 i;

	ll_init(&s);
	u = rt(&relay_side, &s.m);
	g = u->lease_list;
	ck_assert_uint_eq(g->request_id, 12);
	ck_assert_int_eq(g->more, 1);
	ck_assert_uint_eq(g->n_leases, 3);
	for (i = 0; i < 3; i++) {
		ck_assert_msg(in_arena(g->leases[i]), "lease %zu", i);
		ck_assert_str_eq(g->leases[i]->name, s.li[i].name);
		ck_assert_str_eq(g->leases[i]->id, s.li[i].id);
		assert_strv(g->leases[i]->alpn, g->leases[i]->n_alpn,
		    s.li[i].alpn, s.li[i].n_alpn);
		ck_assert_str_eq(g->leases[i]->description,
		    s.li[i].description);
		ck_assert_uint_eq(g->leases[i]->expires_unix,
		    s.li[i].expires_unix);
	}

	/* An empty page. */
	s.ll.n_leases = 0;
	s.ll.more = 0;
	u = rt(&relay_side, &s.m);
	ck_assert_uint_eq(u->lease_list->n_leases, 0);
	ck_assert_int_eq(u->lease_list->more, 0);
}
END_TEST

START_TEST(test_rt_error_notice)
{
	RelayMessage		 m = RELAY__V1__RELAY_MESSAGE__INIT, *u;
	Relay__V1__Error	 e = RELAY__V1__ERROR__INIT;
	Relay__V1__Notice	 n = RELAY__V1__NOTICE__INIT;

	e.request_id = 31;
	e.code = RELAY__V1__ERROR_CODE__ERR_NAME_TAKEN;
	e.message = "name held by another ID";
	ENVELOPE_RELAY(&m, ERROR, error, &e);
	u = rt(&relay_side, &m);
	ck_assert_uint_eq(u->error->request_id, 31);
	ck_assert_int_eq(u->error->code, RELAY__V1__ERROR_CODE__ERR_NAME_TAKEN);
	ck_assert_str_eq(u->error->message, e.message);

	n.kind = RELAY__V1__NOTICE__KIND__SHUTTING_DOWN;
	n.message = "relay stopping";
	ENVELOPE_RELAY(&m, NOTICE, notice, &n);
	u = rt(&relay_side, &m);
	ck_assert_int_eq(u->notice->kind,
	    RELAY__V1__NOTICE__KIND__SHUTTING_DOWN);
	ck_assert_uint_eq(u->notice->lease_id.len, 0);
	ck_assert_str_eq(u->notice->message, "relay stopping");

	n.kind = RELAY__V1__NOTICE__KIND__LEASE_REVOKED;
	n.lease_id = bin(id16, sizeof(id16));
	n.message = "revoked by the operator";
	u = rt(&relay_side, &m);
	ck_assert_int_eq(u->notice->kind,
	    RELAY__V1__NOTICE__KIND__LEASE_REVOKED);
	assert_bytes(&u->notice->lease_id, &n.lease_id, "lease_id");
	ck_assert_str_eq(u->notice->message, "revoked by the operator");
}
END_TEST

/* ---- sizes ---- */

static char	 bigtext[REC_MAX_PAYLOAD + 256];

/* A Register whose ClientMessage packs to exactly total bytes. */
static void
big_register(struct reg_msg *s, size_t total)
{
	size_t	 len, got;

	reg_init(s);
	s->r.n_local_addrs = 0;
	memset(bigtext, 'x', sizeof(bigtext) - 1);
	bigtext[sizeof(bigtext) - 1] = '\0';
	for (len = sizeof(bigtext) - 1; len > 0; len--) {
		bigtext[len] = '\0';
		s->r.description = bigtext;
		got = protobuf_c_message_get_packed_size(&s->m.base);
		bigtext[len] = 'x';
		if (got == total)
			break;
	}
	ck_assert_msg(len > 0, "no description gives %zu bytes", total);
	bigtext[len] = '\0';
}

static void
big_error(RelayMessage *m, Relay__V1__Error *e, size_t total)
{
	RelayMessage		 im = RELAY__V1__RELAY_MESSAGE__INIT;
	Relay__V1__Error	 ie = RELAY__V1__ERROR__INIT;
	size_t			 len, got;

	*m = im;
	*e = ie;
	ENVELOPE_RELAY(m, ERROR, error, e);
	e->code = RELAY__V1__ERROR_CODE__ERR_INTERNAL;
	memset(bigtext, 'y', sizeof(bigtext) - 1);
	bigtext[sizeof(bigtext) - 1] = '\0';
	for (len = sizeof(bigtext) - 1; len > 0; len--) {
		bigtext[len] = '\0';
		e->message = bigtext;
		got = protobuf_c_message_get_packed_size(&m->base);
		bigtext[len] = 'y';
		if (got == total)
			break;
	}
	ck_assert_msg(len > 0, "no message gives %zu bytes", total);
	bigtext[len] = '\0';
}

START_TEST(test_pack_oversized)
{
	struct reg_msg		 s;
	RelayMessage		 m;
	Relay__V1__Error	 e;

	/* The largest message that fits one record packs... */
	big_register(&s, REC_MAX_PAYLOAD);
	ck_assert_int_eq(proto_pack_client(&s.m, pkbuf, sizeof(pkbuf)),
	    REC_MAX_PAYLOAD);
	/* ...one byte more does not, whatever the buffer. */
	big_register(&s, REC_MAX_PAYLOAD + 1);
	memset(pkbuf, 0xa5, sizeof(pkbuf));
	errno = 0;
	ck_assert_int_eq(proto_pack_client(&s.m, pkbuf, sizeof(pkbuf)), -1);
	ck_assert_int_eq(errno, EMSGSIZE);
	ck_assert_uint_eq(pkbuf[0], 0xa5);

	big_error(&m, &e, REC_MAX_PAYLOAD);
	ck_assert_int_eq(proto_pack_relay(&m, pkbuf, sizeof(pkbuf)),
	    REC_MAX_PAYLOAD);
	big_error(&m, &e, REC_MAX_PAYLOAD + 1);
	errno = 0;
	ck_assert_int_eq(proto_pack_relay(&m, pkbuf, sizeof(pkbuf)), -1);
	ck_assert_int_eq(errno, EMSGSIZE);
	big_error(&m, &e, REC_MAX_PAYLOAD + 100);
	ck_assert_int_eq(proto_pack_relay(&m, pkbuf, sizeof(pkbuf)), -1);
}
END_TEST

START_TEST(test_pack_short_buffer)
{
	struct reg_msg	 s;
	struct inc_msg	 in;
	size_t		 n, i;

	reg_init(&s);
	n = protobuf_c_message_get_packed_size(&s.m.base);
	ck_assert_uint_gt(n, 10);
	for (i = 0; i < n; i += (i < 4 ? 1 : 7)) {
		memset(pkbuf, 0xa5, sizeof(pkbuf));
		errno = 0;
		ck_assert_int_eq(proto_pack_client(&s.m, pkbuf, i), -1);
		ck_assert_int_eq(errno, EMSGSIZE);
		ck_assert_uint_eq(pkbuf[0], 0xa5);
		ck_assert_uint_eq(pkbuf[i], 0xa5);
	}
	ck_assert_int_eq(proto_pack_client(&s.m, pkbuf, n - 1), -1);
	memset(pkbuf, 0xa5, sizeof(pkbuf));
	ck_assert_int_eq(proto_pack_client(&s.m, pkbuf, n), (ssize_t)n);
	ck_assert_uint_eq(pkbuf[n], 0xa5);

	inc_init(&in);
	n = protobuf_c_message_get_packed_size(&in.m.base);
	ck_assert_int_eq(proto_pack_relay(&in.m, pkbuf, n - 1), -1);
	ck_assert_int_eq(proto_pack_relay(&in.m, pkbuf, 0), -1);
	ck_assert_int_eq(proto_pack_relay(&in.m, pkbuf, n), (ssize_t)n);
}
END_TEST

START_TEST(test_unpack_oversized)
{
	struct reg_msg	 s;
	RelayMessage	 m;
	Relay__V1__Error e;
	ProtobufCMessage *pm;
	ssize_t		 n;

	/* 16383 bytes: unpacks. */
	big_register(&s, REC_MAX_PAYLOAD);
	n = proto_pack_client(&s.m, pkbuf, sizeof(pkbuf));
	ck_assert_int_eq(n, REC_MAX_PAYLOAD);
	ck_assert_ptr_nonnull(proto_unpack_client(&arena, pkbuf, (size_t)n));

	/*
	 * 16384 bytes of a well-formed message: protobuf-c itself would
	 * take it, proto_unpack_client must not.
	 */
	big_register(&s, REC_MAX_PAYLOAD + 1);
	ck_assert_uint_eq(protobuf_c_message_pack(&s.m.base, pkbuf),
	    REC_MAX_PAYLOAD + 1);
	pm = protobuf_c_message_unpack(&relay__v1__client_message__descriptor,
	    NULL, REC_MAX_PAYLOAD + 1, pkbuf);
	ck_assert_ptr_nonnull(pm);
	protobuf_c_message_free_unpacked(pm, NULL);
	errno = 0;
	ck_assert_ptr_null(proto_unpack_client(&arena, pkbuf,
	    REC_MAX_PAYLOAD + 1));
	ck_assert_int_eq(errno, EMSGSIZE);
	ck_assert_ptr_null(proto_unpack_client(&arena, pkbuf, SIZE_MAX));

	big_error(&m, &e, REC_MAX_PAYLOAD);
	n = proto_pack_relay(&m, pkbuf, sizeof(pkbuf));
	ck_assert_int_eq(n, REC_MAX_PAYLOAD);
	ck_assert_ptr_nonnull(proto_unpack_relay(&arena, pkbuf, (size_t)n));
	big_error(&m, &e, REC_MAX_PAYLOAD + 1);
	ck_assert_uint_eq(protobuf_c_message_pack(&m.base, pkbuf),
	    REC_MAX_PAYLOAD + 1);
	errno = 0;
	ck_assert_ptr_null(proto_unpack_relay(&arena, pkbuf,
	    REC_MAX_PAYLOAD + 1));
	ck_assert_int_eq(errno, EMSGSIZE);
}
END_TEST

/* ---- truncation ---- */

/*
 * The envelope has a single length-delimited member, so any prefix but
 * the empty one cuts inside a nested field and must fail; the empty one
 * is an empty envelope.
 */
static void
expect_truncated(const struct side *sd, const void *m, int k)
{
	void	*u;
	ssize_t	 n, i;

	n = sd->pack(m, pkbuf, sizeof(pkbuf));
	ck_assert_int_gt(n, 40);
	/* The empty prefix: an envelope with no member set. */
	u = sd->unpack(&arena, pkbuf, 0);
	ck_assert_ptr_nonnull(u);
	ck_assert_int_eq(sd->msg_case(u), 0);
	for (i = 1; i < n; i++) {
		u = sd->unpack(&arena, pkbuf, (size_t)i);
		if (u != NULL)
			(void)sd->check(u, errbuf, sizeof(errbuf));
		ck_assert_msg(u == NULL, "%s msg %d: prefix %zd of %zd "
		    "unpacked", sd->what, k, i, n);
	}
	ck_assert_ptr_nonnull(sd->unpack(&arena, pkbuf, (size_t)n));
}

START_TEST(test_truncated_client)
{
	struct reg_msg	 s;
	struct conn_msg	 c;

	reg_init(&s);
	conn_init(&c, 1, ID_OK);
	quiet();
	expect_truncated(&client_side, &s.m, 0);
	expect_truncated(&client_side, &c.m, 1);
	unquiet();
}
END_TEST

START_TEST(test_truncated_relay)
{
	struct inc_msg	 in;
	struct ll_msg	 ll;
	struct cd_msg	 cd;

	inc_init(&in);
	ll_init(&ll);
	cd_init(&cd);
	quiet();
	expect_truncated(&relay_side, &in.m, 0);
	expect_truncated(&relay_side, &ll.m, 1);
	expect_truncated(&relay_side, &cd.m, 2);
	unquiet();
}
END_TEST

/* A varint at p, or 0 if it does not end within len bytes. */
static size_t
varint_len(const uint8_t *p, size_t len, uint64_t *v)
{
	size_t	 i;

	*v = 0;
	for (i = 0; i < len && i < 10; i++) {
		*v |= (uint64_t)(p[i] & 0x7f) << (7 * i);
		if ((p[i] & 0x80) == 0)
			return i + 1;
	}
	return 0;
}

/*
 * A whole envelope around a Register cut after every byte: the frame is
 * right, the Register is short. A cut on a field boundary of the Register
 * is a valid Register with fewer fields and must unpack; any other cut
 * falls inside a field (a string, an ALPN, an Address) and must fail.
 */
START_TEST(test_truncated_inner)
{
	struct reg_msg		 s;
	uint8_t			 inner[512], env[520], boundary[512];
	ClientMessage		*u;
	size_t			 n, i, off, k, nb = 0, nfield = 0;
	uint64_t		 tag, flen;

	reg_init(&s);
	n = protobuf_c_message_get_packed_size(&s.r.base);
	ck_assert_uint_lt(n, 128);
	ck_assert_uint_eq(protobuf_c_message_pack(&s.r.base, inner), n);

	/* Where each field of the Register ends. */
	memset(boundary, 0, sizeof(boundary));
	boundary[0] = 1;
	for (off = 0; off < n; nfield++) {
		k = varint_len(inner + off, n - off, &tag);
		ck_assert_uint_gt(k, 0);
		off += k;
		ck_assert_msg((tag & 7) == 0 || (tag & 7) == 2, "wire type");
		k = varint_len(inner + off, n - off, &flen);
		ck_assert_uint_gt(k, 0);
		off += k;
		if ((tag & 7) == 2)
			off += flen;
		ck_assert_uint_le(off, n);
		boundary[off] = 1;
	}
	/* request_id, name, 3 alpn, ttl, description, hidden, 2 addrs */
	ck_assert_uint_eq(nfield, 10);

	quiet();
	for (i = 0; i <= n; i++) {
		env[0] = 0x0a;
		env[1] = (uint8_t)i;
		memcpy(env + 2, inner, i);
		u = proto_unpack_client(&arena, env, 2 + i);
		if (u != NULL) {
			nb++;
			ck_assert_int_eq(u->msg_case,
			    RELAY__V1__CLIENT_MESSAGE__MSG_REGISTER);
			(void)proto_check_client(u, errbuf, sizeof(errbuf));
		}
		ck_assert_msg((u != NULL) == boundary[i],
		    "Register cut at %zu of %zu: %s", i, n,
		    u != NULL ? "unpacked" : "refused");
	}
	unquiet();
	ck_assert_uint_eq(nb, nfield + 1);
	/* The whole one is the whole message. */
	ck_assert_str_eq(u->register_->name, "my-service-1");
	ck_assert_uint_eq(u->register_->n_local_addrs, 2);
}
END_TEST

/* ---- garbage ---- */

START_TEST(test_garbage_random)
{
	uint8_t		 buf[FUZZ_MAXLEN];
	const struct side *sd;
	void		*m;
	size_t		 len, j, k, nunpacked[2] = { 0, 0 };
	int		 i;

	rng = UINT64_C(0x9e3779b97f4a7c15);
	quiet();
	for (i = 0; i < FUZZ_ROUNDS; i++) {
		len = (size_t)(xorshift() % (FUZZ_MAXLEN + 1));
		for (j = 0; j < len; j++)
			buf[j] = (uint8_t)xorshift();
		for (k = 0; k < 2; k++) {
			sd = sides[k];
			if ((m = sd->unpack(&arena, buf, len)) == NULL)
				continue;
			nunpacked[k]++;
			ck_assert(!arena.exhausted && !arena.bad_string);
			ck_assert_ptr_nonnull(sd->msg_name(sd->msg_case(m)));
			if (sd->check(m, errbuf, sizeof(errbuf)) != 0)
				ck_assert_uint_gt(strlen(errbuf), 0);
		}
	}
	unquiet();
	/* At least the empty buffers unpack (to an empty envelope). */
	ck_assert_uint_gt(nunpacked[0], 0);
	ck_assert_uint_gt(nunpacked[1], 0);
}
END_TEST

/* Random edits of valid messages reach much deeper than random bytes. */
START_TEST(test_garbage_mutated)
{
	struct reg_msg	 reg;
	struct conn_msg	 conn;
	struct inc_msg	 inc;
	struct ll_msg	 ll;
	struct cd_msg	 cd;
	uint8_t		 seed[5][1024], buf[1100];
	size_t		 seedlen[5], len, j, pos, edits, nrej = 0;
	size_t		 nunpacked[2] = { 0, 0 };
	const void	*msg[5] = { &reg.m, &conn.m, &inc.m, &ll.m, &cd.m };
	const struct side *sd;
	void		*m;
	ssize_t		 n;
	int		 i, k;

	reg_init(&reg);
	conn_init(&conn, 0, "web-1");
	inc_init(&inc);
	ll_init(&ll);
	cd_init(&cd);
	for (k = 0; k < 5; k++) {
		sd = k < 2 ? &client_side : &relay_side;
		n = sd->pack(msg[k], seed[k], sizeof(seed[k]));
		ck_assert_int_gt(n, 0);
		seedlen[k] = (size_t)n;
	}

	rng = UINT64_C(0x0123456789abcdef);
	quiet();
	for (i = 0; i < FUZZ_ROUNDS; i++) {
		k = (int)(xorshift() % 5);
		len = seedlen[k];
		memcpy(buf, seed[k], len);
		edits = 1 + xorshift() % 4;
		for (j = 0; j < edits && len > 0; j++) {
			pos = xorshift() % len;
			switch (xorshift() % 4) {
			case 0:
				buf[pos] = (uint8_t)xorshift();
				break;
			case 1:
				buf[pos] ^= (uint8_t)(1 << (xorshift() % 8));
				break;
			case 2:
				len = pos;
				break;
			default:
				if (len < sizeof(buf)) {
					memmove(buf + pos + 1, buf + pos,
					    len - pos);
					buf[pos] = (uint8_t)xorshift();
					len++;
				}
				break;
			}
		}
		for (k = 0; k < 2; k++) {
			sd = sides[k];
			if ((m = sd->unpack(&arena, buf, len)) == NULL)
				continue;
			nunpacked[k]++;
			if (sd->check(m, errbuf, sizeof(errbuf)) != 0)
				nrej++;
		}
	}
	unquiet();
	ck_assert_uint_gt(nunpacked[0], 100);
	ck_assert_uint_gt(nunpacked[1], 100);
	ck_assert_uint_gt(nrej, 100);
}
END_TEST

/*
 * buf unpacks, or not, as each kind of message; at is the line of the
 * caller or the row of a table.
 */
static void
expect_unpack(const uint8_t *buf, size_t len, int client_ok, int relay_ok,
    int at)
{
	const int	 ok[2] = { client_ok, relay_ok };
	void		*m;
	size_t		 k;

	for (k = 0; k < 2; k++) {
		quiet();
		m = sides[k]->unpack(&arena, buf, len);
		unquiet();
		if (m != NULL)
			(void)sides[k]->check(m, errbuf, sizeof(errbuf));
		ck_assert_msg((m != NULL) == ok[k], "%d: %s unpack %s", at,
		    sides[k]->what, m != NULL ? "succeeded" : "failed");
	}
}

#define UNPACK(b, c, r)	expect_unpack((b), sizeof(b), (c), (r), __LINE__)

/* Input as it came off the wire. */
struct wire {
	const uint8_t	*buf;
	size_t		 len;
};

#define WIRE(b)		{ (b), sizeof(b) }
#define GARBAGE(w)	expect_garbage((w), sizeof(w) / sizeof((w)[0]))

/* Neither kind of message unpacks from any of the n inputs w. */
static void
expect_garbage(const struct wire *w, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		expect_unpack(w[i].buf, w[i].len, 0, 0, (int)i);
}

/* buf unpacks as either kind of message: the ClientMessage it is. */
static ClientMessage *
expect_both(const uint8_t *buf, size_t len, int line)
{
	ClientMessage	*cm;

	expect_unpack(buf, len, 1, 1, line);
	cm = proto_unpack_client(&arena, buf, len);
	ck_assert_ptr_nonnull(cm);
	return cm;
}

#define BOTH(b)		expect_both((b), sizeof(b), __LINE__)

START_TEST(test_malformed_varint)
{
	static const uint8_t ff11[11] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	    0xff, 0xff, 0xff, 0xff, 0xff };
	/* Ping{nonce} with an 11-byte varint that never ends. */
	static const uint8_t nonce_bad[] = { 0x42, 0x0c, 0x08, 0xff, 0xff,
	    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	/* The same field, 10 bytes, terminated: UINT64_MAX, valid. */
	static const uint8_t nonce_max[] = { 0x42, 0x0b, 0x08, 0xff, 0xff,
	    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01 };
	/* A length prefix that never ends. */
	static const uint8_t len_bad[] = { 0x0a, 0xff, 0xff, 0xff, 0xff,
	    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	/* A tag varint cut short. */
	static const uint8_t tag_cut[] = { 0x80 };
	static const struct wire garbage[] = { WIRE(ff11), WIRE(nonce_bad),
	    WIRE(len_bad), WIRE(tag_cut) };
	ClientMessage	*cm;

	GARBAGE(garbage);
	cm = BOTH(nonce_max);
	ck_assert_int_eq(cm->msg_case, RELAY__V1__CLIENT_MESSAGE__MSG_PING);
	ck_assert_uint_eq(cm->ping->nonce, UINT64_MAX);
}
END_TEST

START_TEST(test_malformed_length)
{
	/* Register announcing 5 bytes, 3 present. */
	static const uint8_t outer_long[] = { 0x0a, 0x05, 0x12, 0x01, 'a' };
	/* Register of the right length, its name announcing 5 bytes. */
	static const uint8_t inner_long[] = { 0x0a, 0x03, 0x12, 0x05, 'a' };
	/* A length of 2^32 - 1. */
	static const uint8_t huge[] = { 0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f,
	    0x12, 0x01, 'a' };
	/* A length of 2^63: past any size_t arithmetic. */
	static const uint8_t huge64[] = { 0x0a, 0x80, 0x80, 0x80, 0x80, 0x80,
	    0x80, 0x80, 0x80, 0x80, 0x01, 0x12, 0x01, 'a' };
	/*
	 * Register.local_addrs[0].ip announcing 200 bytes; to a relay
	 * message the same bytes are Registered with an unknown field 7.
	 */
	static const uint8_t addr_long[] = { 0x0a, 0x06, 0x3a, 0x04, 0x0a,
	    0xc8, 0x01, 0x01 };
	/* Incoming.from_addr.ip likewise; to a client, Unregister field 5. */
	static const uint8_t from_long[] = { 0x1a, 0x06, 0x2a, 0x04, 0x0a,
	    0xc8, 0x01, 0x01 };
	/* The correct one. */
	static const uint8_t good[] = { 0x0a, 0x03, 0x12, 0x01, 'a' };
	static const struct wire garbage[] = { WIRE(outer_long),
	    WIRE(inner_long), WIRE(huge), WIRE(huge64) };
	ClientMessage	*cm;

	GARBAGE(garbage);
	UNPACK(addr_long, 0, 1);
	UNPACK(from_long, 1, 0);
	cm = BOTH(good);
	ck_assert_int_eq(cm->msg_case,
	    RELAY__V1__CLIENT_MESSAGE__MSG_REGISTER);
	ck_assert_str_eq(cm->register_->name, "a");
}
END_TEST

START_TEST(test_malformed_wiretype)
{
	/* Field 1 (a message) as a varint. */
	static const uint8_t env_varint[] = { 0x08, 0x01 };
	/* Field 1 as fixed32 and as fixed64. */
	static const uint8_t env_fixed32[] = { 0x0d, 0, 0, 0, 0 };
	static const uint8_t env_fixed64[] = { 0x09, 0, 0, 0, 0, 0, 0, 0, 0 };
	/* Register.name (a string) as a varint. */
	static const uint8_t name_varint[] = { 0x0a, 0x02, 0x10, 0x01 };
	/* Ping.nonce (a uint64) length-delimited. */
	static const uint8_t nonce_len[] = { 0x42, 0x03, 0x0a, 0x01, 0x00 };
	/* Wire types 6 and 7 do not exist; 3 and 4 are groups. */
	static const uint8_t wt6[] = { 0x0e, 0x00 };
	static const uint8_t wt7[] = { 0x0f, 0x00 };
	static const uint8_t wt3[] = { 0x0b, 0x0c };
	/* Field number 0 is reserved. */
	static const uint8_t field0[] = { 0x02, 0x00 };
	/* An unknown field with a valid wire type is skipped. */
	static const uint8_t unknown[] = { 0x78, 0x01 };
	static const struct wire garbage[] = { WIRE(env_varint),
	    WIRE(env_fixed32), WIRE(env_fixed64), WIRE(name_varint),
	    WIRE(nonce_len), WIRE(wt6), WIRE(wt7), WIRE(wt3), WIRE(field0) };
	ClientMessage	*cm;

	GARBAGE(garbage);
	cm = BOTH(unknown);
	ck_assert_int_eq(cm->msg_case,
	    RELAY__V1__CLIENT_MESSAGE__MSG__NOT_SET);
	ck_assert_int_eq(proto_check_client(cm, errbuf, sizeof(errbuf)), -1);
}
END_TEST

/* ---- strings with a NUL inside ---- */

/*
 * Unpack buf as a ClientMessage (client != 0) or a RelayMessage: NULL with
 * bad_string set if bad, else a message with neither flag set.
 */
static void *
expect_strings(const uint8_t *buf, size_t len, int client, int bad,
    int line)
{
	void	*m;

	arena.bad_string = !bad;
	quiet();
	m = sides[client ? 0 : 1]->unpack(&arena, buf, len);
	unquiet();
	if (bad) {
		ck_assert_msg(m == NULL, "line %d: unpacked", line);
		ck_assert_msg(arena.bad_string == 1, "line %d: bad_string %d",
		    line, arena.bad_string);
	} else {
		ck_assert_msg(m != NULL, "line %d: not unpacked", line);
		ck_assert_msg(arena.bad_string == 0, "line %d: bad_string %d",
		    line, arena.bad_string);
	}
	ck_assert_msg(arena.exhausted == 0, "line %d: exhausted", line);
	return m;
}

#define NUL_BAD(b, c)	expect_strings((b), sizeof(b), (c), 1, __LINE__)
#define NUL_OK(b, c)	expect_strings((b), sizeof(b), (c), 0, __LINE__)

START_TEST(test_nul_in_string)
{
	/* Register.name "a\0b", then "a\0", "\0", and "a_b" as control. */
	static const uint8_t name_mid[] = { 0x0a, 0x05, 0x12, 0x03, 'a', 0,
	    'b' };
	static const uint8_t name_end[] = { 0x0a, 0x04, 0x12, 0x02, 'a', 0 };
	static const uint8_t name_nul[] = { 0x0a, 0x03, 0x12, 0x01, 0 };
	static const uint8_t name_ok[] = { 0x0a, 0x05, 0x12, 0x03, 'a', '_',
	    'b' };
	/* Register.alpn: the second of two repeated strings. */
	static const uint8_t alpn_two[] = { 0x0a, 0x08, 0x1a, 0x01, 'a', 0x1a,
	    0x03, 'h', 0, '2' };
	/* Reject.reason. */
	static const uint8_t reason[] = { 0x32, 0x06, 0x12, 0x04, 'n', 'o', 0,
	    '!' };
	/* Incoming.alpn and Error.message. */
	static const uint8_t inc_alpn[] = { 0x1a, 0x05, 0x1a, 0x03, 't', 0,
	    'p' };
	static const uint8_t err_msg[] = { 0x3a, 0x07, 0x1a, 0x05, 'o', 'k',
	    0, 'x', 'y' };
	/* LeaseList.leases[1].description: two levels down. */
	static const uint8_t ll_desc[] = { 0x2a, 0x0e, 0x12, 0x03, 0x0a, 0x01,
	    'a', 0x12, 0x07, 0x0a, 0x01, 'b', 0x22, 0x02, 'd', 0 };
	static const uint8_t ll_ok[] = { 0x2a, 0x0e, 0x12, 0x03, 0x0a, 0x01,
	    'a', 0x12, 0x07, 0x0a, 0x01, 'b', 0x22, 0x02, 'd', 'e' };
	/* Bytes may hold NULs: Renew.lease_id. */
	static const uint8_t renew_nul[] = { 0x12, 0x12, 0x12, 0x10, 0, 0, 0,
	    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 };
	uint8_t		 conn[2 + 2 + ID_STRLEN + 5];
	ClientMessage	*cm;
	RelayMessage	*rm;

	NUL_BAD(name_mid, 1);
	NUL_BAD(name_end, 1);
	NUL_BAD(name_nul, 1);
	NUL_BAD(alpn_two, 1);
	NUL_BAD(reason, 1);
	NUL_BAD(inc_alpn, 0);
	NUL_BAD(err_msg, 0);
	NUL_BAD(ll_desc, 0);

	cm = NUL_OK(name_ok, 1);
	ck_assert_str_eq(cm->register_->name, "a_b");
	rm = NUL_OK(ll_ok, 0);
	ck_assert_uint_eq(rm->lease_list->n_leases, 2);
	ck_assert_str_eq(rm->lease_list->leases[1]->description, "de");
	cm = NUL_OK(renew_nul, 1);
	ck_assert_uint_eq(cm->renew->lease_id.len, LEASE_ID_LEN);
	ck_assert_int_eq(proto_check_client(cm, errbuf, sizeof(errbuf)), 0);
	/* The same bytes are a Registered.lease_id to a client: fine too. */
	NUL_OK(name_mid, 0);

	/*
	 * Connect{id: 31 good characters then a NUL}: as a C string it
	 * would be 31 characters; it must not reach the check at all.
	 */
	conn[0] = 0x22;
	conn[1] = 2 + ID_STRLEN + 5;
	conn[2] = 0x12;
	conn[3] = ID_STRLEN;
	memcpy(conn + 4, ID_OK, ID_STRLEN);
	conn[4 + ID_STRLEN - 1] = '\0';
	memcpy(conn + 4 + ID_STRLEN, "\x22\x03tcp", 5);
	NUL_BAD(conn, 1);
	conn[4 + ID_STRLEN - 1] = '7';
	cm = NUL_OK(conn, 1);
	ck_assert_int_eq(cm->connect->target_case,
	    RELAY__V1__CONNECT__TARGET_ID);
	ck_assert_str_eq(cm->connect->id, ID_OK);
	ck_assert_str_eq(cm->connect->alpn, "tcp");
	ck_assert_int_eq(proto_check_client(cm, errbuf, sizeof(errbuf)), 0);
}
END_TEST

/* ---- bounded allocator ---- */

/*
 * Tag then a two-byte length then count copies of a two-byte empty
 * member: at most 16383 bytes, each member a whole struct once unpacked.
 */
static size_t
many_empty(uint8_t *buf, uint8_t outer, uint8_t inner, size_t count)
{
	size_t	 i, body = 2 * count;

	ck_assert_uint_ge(body, 128);
	ck_assert_uint_lt(body, 16384);
	buf[0] = outer;
	buf[1] = (uint8_t)(0x80 | (body & 0x7f));
	buf[2] = (uint8_t)(body >> 7);
	for (i = 0; i < count; i++) {
		buf[3 + 2 * i] = inner;
		buf[4 + 2 * i] = 0;
	}
	return 3 + body;
}

/* buf does not fit the arena as sd's kind of message. */
static void
expect_exhausted(const struct side *sd, const uint8_t *buf, size_t len)
{
	void	*u;

	quiet();
	u = sd->unpack(&arena, buf, len);
	unquiet();
	ck_assert_ptr_null(u);
	ck_assert_int_eq(arena.exhausted, 1);
}

/* m, packed into pkbuf2, unpacks whole into the arena. */
static void *
expect_fits(const struct side *sd, const void *m)
{
	void	*u;
	ssize_t	 n;

	n = sd->pack(m, pkbuf2, sizeof(pkbuf2));
	ck_assert_int_gt(n, 0);
	u = sd->unpack(&arena, pkbuf2, (size_t)n);
	ck_assert_ptr_nonnull(u);
	ck_assert_int_eq(arena.exhausted, 0);
	return u;
}

START_TEST(test_arena_client)
{
	struct reg_msg	 s;
	ClientMessage	*cm;
	ProtobufCMessage *pm;
	size_t		 len;

	/* Register{local_addrs: 8190 x Address{}}: exactly 16383 bytes. */
	len = many_empty(pkbuf, 0x0a, 0x3a, (REC_MAX_PAYLOAD - 3) / 2);
	ck_assert_uint_eq(len, REC_MAX_PAYLOAD);

	/* Well-formed: protobuf-c with malloc takes it. */
	pm = protobuf_c_message_unpack(&relay__v1__client_message__descriptor,
	    NULL, len, pkbuf);
	ck_assert_ptr_nonnull(pm);
	ck_assert_uint_eq(((ClientMessage *)pm)->register_->n_local_addrs,
	    (REC_MAX_PAYLOAD - 3) / 2);
	protobuf_c_message_free_unpacked(pm, NULL);

	/* The arena does not. */
	expect_exhausted(&client_side, pkbuf, len);
	ck_assert_int_eq(arena.bad_string, 0);
	ck_assert_uint_le(arena.used, arena.size);
	ck_assert_uint_eq(arena.size, PROTO_ARENA_RELAY);

	/* The same arena serves the next message whole. */
	reg_init(&s);
	cm = expect_fits(&client_side, &s.m);
	ck_assert_msg(in_arena(cm), "not in the arena");
	ck_assert_str_eq(cm->register_->name, "my-service-1");
	ck_assert_uint_eq(cm->register_->n_local_addrs, 2);
	ck_assert_int_eq(proto_check_client(cm, errbuf, sizeof(errbuf)), 0);

	/* And fails again, and recovers again. */
	expect_exhausted(&client_side, pkbuf, len);
	(void)expect_fits(&client_side, &s.m);

	/* Many repeated empty ALPN strings (tag 0x1a) likewise. */
	len = many_empty(pkbuf, 0x0a, 0x1a, (REC_MAX_PAYLOAD - 3) / 2);
	expect_exhausted(&client_side, pkbuf, len);
}
END_TEST

START_TEST(test_arena_relay)
{
	struct ll_msg	 s;
	RelayMessage	*rm;
	size_t		 len;

	/* LeaseList{leases: 8190 x LeaseInfo{}} in the client arena. */
	len = many_empty(pkbuf, 0x2a, 0x12, (REC_MAX_PAYLOAD - 3) / 2);
	ck_assert_uint_eq(len, REC_MAX_PAYLOAD);
	expect_exhausted(&relay_side, pkbuf, len);
	ck_assert_uint_eq(arena.size, PROTO_ARENA_CLIENT);

	ll_init(&s);
	rm = expect_fits(&relay_side, &s.m);
	ck_assert_uint_eq(rm->lease_list->n_leases, 3);
	ck_assert_str_eq(rm->lease_list->leases[2]->name, "z");
}
END_TEST

/*
 * Nothing is ever written outside the arena: give it S bytes followed by
 * a guard and unpack Registers whose description grows a byte at a time
 * past the end (the local addresses are allocated after it), for sizes S
 * on and off the alignment.
 */
#define GUARD_LEN	64
#define GUARD_BYTE	0xcd

START_TEST(test_arena_bounds)
{
	static const size_t	 sizes[] = { 1000, 1009, 1017, 1024, 1531,
				    2047 };
	struct proto_arena	 a;
	struct reg_msg		 s;
	ClientMessage		*cm;
	uint8_t			*mem;
	char			 desc[2047 + 32 + 1];
	const char		*d;
	size_t			 i, k, len, nok, nfail;
	ssize_t			 n;

	for (k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		ck_assert_uint_lt(sizes[k] + 32, sizeof(desc));
		mem = malloc(sizes[k] + GUARD_LEN);
		ck_assert_ptr_nonnull(mem);
		memset(mem + sizes[k], GUARD_BYTE, GUARD_LEN);
		memset(&a, 0, sizeof(a));
		a.mem = mem;
		a.size = sizes[k];
		nok = nfail = 0;
		for (len = 0; len < sizes[k] + 32; len++) {
			reg_init(&s);
			memset(desc, 'd', len);
			desc[len] = '\0';
			s.r.description = desc;
			n = proto_pack_client(&s.m, pkbuf, sizeof(pkbuf));
			ck_assert_int_gt(n, 0);
			cm = proto_unpack_client(&a, pkbuf, (size_t)n);
			if (cm != NULL) {
				nok++;
				ck_assert_int_eq(a.exhausted, 0);
				d = cm->register_->description;
				ck_assert_uint_eq(strlen(d), len);
				ck_assert((const uint8_t *)d + len <
				    mem + sizes[k]);
			} else {
				nfail++;
				ck_assert_int_eq(a.exhausted, 1);
			}
			ck_assert_uint_le(a.used, a.size);
			for (i = 0; i < GUARD_LEN; i++)
				ck_assert_msg(mem[sizes[k] + i] == GUARD_BYTE,
				    "arena %zu, description %zu: byte %zu past "
				    "the end written", sizes[k], len, i);
		}
		/* Both sides of the edge were reached. */
		ck_assert_uint_gt(nok, 0);
		ck_assert_uint_gt(nfail, 16);
		free(mem);
	}
}
END_TEST

/* ---- field checks: client ---- */

START_TEST(test_check_envelope)
{
	static const uint8_t	 empty[1];
	ClientMessage		 m = RELAY__V1__CLIENT_MESSAGE__INIT, *u;
	RelayMessage		 rm = RELAY__V1__RELAY_MESSAGE__INIT, *ru;

	u = proto_unpack_client(&arena, empty, 0);
	ck_assert_ptr_nonnull(u);
	ck_assert_int_eq(u->msg_case, RELAY__V1__CLIENT_MESSAGE__MSG__NOT_SET);
	errbuf[0] = '\0';
	ck_assert_int_eq(proto_check_client(u, errbuf, sizeof(errbuf)), -1);
	ck_assert_ptr_nonnull(strstr(errbuf, "no message"));
	CLIENT_BAD(&m, "no message");

	ru = proto_unpack_relay(&arena, empty, 0);
	ck_assert_ptr_nonnull(ru);
	ck_assert_int_eq(ru->msg_case, RELAY__V1__RELAY_MESSAGE__MSG__NOT_SET);
	ck_assert_int_eq(proto_check_relay(ru, errbuf, sizeof(errbuf)), -1);
	RELAY_BAD(&rm, "no message");

	/* A case no schema knows. */
	m.msg_case = (Relay__V1__ClientMessage__MsgCase)10;
	ck_assert_int_eq(proto_check_client(&m, errbuf, sizeof(errbuf)), -1);
	rm.msg_case = (Relay__V1__RelayMessage__MsgCase)9;
	ck_assert_int_eq(proto_check_relay(&rm, errbuf, sizeof(errbuf)), -1);

	/* A short error buffer is cut, still terminated. */
	memset(errbuf, 'Q', sizeof(errbuf));
	ck_assert_int_eq(proto_check_client(&m, errbuf, 4), -1);
	ck_assert_uint_eq(strlen(errbuf), 3);
	ck_assert_int_eq(errbuf[4], 'Q');
}
END_TEST

START_TEST(test_check_register_alpn)
{
	struct reg_msg	 s;
	char		*alpn[9] = { "a", "b", "c", "d", "e", "f", "g", "h",
			    "i" };
	char		*one[1];
	char		 a32[33], a33[34];

	reg_init(&s);
	CLIENT_OK(&s.m);

	s.r.n_alpn = 0;
	s.r.alpn = NULL;
	CLIENT_BAD(&s.m, "ALPN");
	s.r.alpn = alpn;
	s.r.n_alpn = 9;
	CLIENT_BAD(&s.m, "ALPN");
	s.r.n_alpn = 8;
	CLIENT_OK(&s.m);
	s.r.n_alpn = 1;
	CLIENT_OK(&s.m);

	memset(a32, 'p', 32);
	a32[32] = '\0';
	memset(a33, 'p', 33);
	a33[33] = '\0';
	s.r.alpn = one;
	one[0] = a32;
	CLIENT_OK(&s.m);
	one[0] = a33;
	CLIENT_BAD(&s.m, "ALPN");
	one[0] = "h 2";
	CLIENT_BAD(&s.m, "ALPN");
	one[0] = "";
	CLIENT_BAD(&s.m, "ALPN");
	one[0] = "h2\x7f";
	CLIENT_BAD(&s.m, "ALPN");
	one[0] = "\xc3\xa9";
	CLIENT_BAD(&s.m, "ALPN");
	one[0] = "!~";
	CLIENT_OK(&s.m);
	/* A bad one after good ones. */
	alpn[7] = "bad alpn";
	s.r.alpn = alpn;
	s.r.n_alpn = 8;
	CLIENT_BAD(&s.m, "ALPN");

	ck_assert_int_eq(proto_alpn_valid(NULL), 0);
	ck_assert_int_eq(proto_alpn_valid("tcp"), 1);
	ck_assert_int_eq(proto_alpn_valid(a32), 1);
	ck_assert_int_eq(proto_alpn_valid(a33), 0);
	ck_assert_int_eq(proto_alpn_valid("a\tb"), 0);
}
END_TEST

START_TEST(test_check_names)
{
	static const char *bad_names[] = { "", "-a", "a-", "-", "A", "a_b",
	    "a.b", "a b", "caf\xc3\xa9", "aB" };
	static const char *good_names[] = { "a", "a-b", "0", "a--b",
	    "my-service-1", "9z" };
	struct reg_msg	 s;
	struct conn_msg	 c;
	char		 n63[64], n64[65];
	size_t		 i;

	memset(n63, 'a', 63);
	n63[63] = '\0';
	memset(n64, 'a', 64);
	n64[64] = '\0';
	n63[1] = '-';

	reg_init(&s);
	conn_init(&c, 0, "a");
	for (i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
		ck_assert_msg(proto_name_valid(bad_names[i]) == 0,
		    "\"%s\" accepted", bad_names[i]);
		s.r.name = (char *)bad_names[i];
		CLIENT_BAD(&s.m, "name");
		c.c.name = (char *)bad_names[i];
		CLIENT_BAD(&c.m, "name");
	}
	for (i = 0; i < sizeof(good_names) / sizeof(good_names[0]); i++) {
		ck_assert_msg(proto_name_valid(good_names[i]) == 1,
		    "\"%s\" refused", good_names[i]);
		s.r.name = (char *)good_names[i];
		CLIENT_OK(&s.m);
		c.c.name = (char *)good_names[i];
		CLIENT_OK(&c.m);
	}
	ck_assert_int_eq(proto_name_valid(n63), 1);
	s.r.name = n63;
	CLIENT_OK(&s.m);
	ck_assert_int_eq(proto_name_valid(n64), 0);
	s.r.name = n64;
	CLIENT_BAD(&s.m, "name");
	c.c.name = n64;
	CLIENT_BAD(&c.m, "name");
	ck_assert_int_eq(proto_name_valid(NULL), 0);
}
END_TEST

START_TEST(test_check_text)
{
	static const char *bad_text[] = {
		"\xc0\xaf",			/* overlong '/' */
		"\xc1\xbf",			/* overlong */
		"\xe0\x80\xaf",			/* overlong, 3 bytes */
		"\xf0\x80\x80\xaf",		/* overlong, 4 bytes */
		"ok \x80 no",			/* lone continuation */
		"\xbf",
		"\xed\xa0\x80",			/* surrogate U+D800 */
		"\xed\xbf\xbf",			/* surrogate U+DFFF */
		"\xc3",				/* truncated */
		"\xe2\x98",
		"\xf0\x9f\x98",
		"abc\xe2\x98",
		"\xe2\x98x",			/* bad continuation */
		"\xf4\x90\x80\x80",		/* above U+10FFFF */
		"\xf8\x88\x80\x80\x80",		/* 5 bytes */
		"\xfe", "\xff",
	};
	static const char *good_text[] = {
		"", "plain ascii", "caf\xc3\xa9", "\xe2\x98\x95",
		"\xf0\x9f\x98\x80", "\xed\x9f\xbf", "\xee\x80\x80",
		"\xf4\x8f\xbf\xbf", "\xc2\x80", "\xdf\xbf", "\xe0\xa0\x80",
		"\xf0\x90\x80\x80",
	};
	struct reg_msg		 s;
	ClientMessage		 m = RELAY__V1__CLIENT_MESSAGE__INIT;
	Relay__V1__Reject	 rj = RELAY__V1__REJECT__INIT;
	char			 d256[257], d257[258], u256[257];
	size_t			 i;

	reg_init(&s);
	rj.session_id = bin(id16, sizeof(id16));
	ENVELOPE_CLIENT(&m, REJECT, reject, &rj);
	CLIENT_OK(&m);

	for (i = 0; i < sizeof(bad_text) / sizeof(bad_text[0]); i++) {
		ck_assert_msg(proto_text_valid(bad_text[i], 256) == 0,
		    "bad text %zu accepted", i);
		s.r.description = (char *)bad_text[i];
		CLIENT_BAD(&s.m, "description");
		rj.reason = (char *)bad_text[i];
		CLIENT_BAD(&m, "reason");
	}
	for (i = 0; i < sizeof(good_text) / sizeof(good_text[0]); i++) {
		ck_assert_msg(proto_text_valid(good_text[i], 256) == 1,
		    "good text %zu refused", i);
		s.r.description = (char *)good_text[i];
		CLIENT_OK(&s.m);
		rj.reason = (char *)good_text[i];
		CLIENT_OK(&m);
	}

	memset(d256, 'd', 256);
	d256[256] = '\0';
	memset(d257, 'd', 257);
	d257[257] = '\0';
	for (i = 0; i < 256; i += 2)
		memcpy(u256 + i, "\xc3\xa9", 2);
	u256[256] = '\0';
	s.r.description = d256;
	CLIENT_OK(&s.m);
	s.r.description = u256;
	CLIENT_OK(&s.m);
	s.r.description = d257;
	CLIENT_BAD(&s.m, "description");
	rj.reason = d256;
	CLIENT_OK(&m);
	rj.reason = u256;
	CLIENT_OK(&m);
	rj.reason = d257;
	CLIENT_BAD(&m, "reason");

	ck_assert_int_eq(proto_text_valid(NULL, 0), 1);
	ck_assert_int_eq(proto_text_valid("ab", 1), 0);
	ck_assert_int_eq(proto_text_valid("ab", 2), 1);
}
END_TEST

START_TEST(test_check_local_addrs)
{
	static const struct {
		uint8_t		*ip;
		size_t		 len;
		uint32_t	 port;
		int		 ok;
	} second[] = {
		{ ip6, 5, 1000, 0 }, { ip6, 0, 1000, 0 }, { ip6, 15, 1000, 0 },
		{ zeros, 17, 1000, 0 }, { ip6, 16, 0, 0 },
		{ ip4, 4, 65536, 0 }, { ip4, 4, UINT32_MAX, 0 },
		{ ip4, 4, 1, 1 }, { ip6, 16, 65535, 1 },
	};
	struct reg_msg		 s;
	Relay__V1__Address	 a[9], *ap[9];
	size_t			 i;

	reg_init(&s);
	for (i = 0; i < 9; i++)
		addr_set(&a[i], ip4, sizeof(ip4), (uint32_t)(1000 + i));
	s.r.local_addrs = addr_list(a, ap, 9);
	expect_count(&client_side, &s.m, &s.r.n_local_addrs, 8, "address",
	    __LINE__);
	s.r.n_local_addrs = 2;

	/* the second address, as each of these */
	for (i = 0; i < sizeof(second) / sizeof(second[0]); i++) {
		addr_set(&a[1], second[i].ip, second[i].len, second[i].port);
		expect(&client_side, &s.m, second[i].ok ? NULL : "address",
		    (int)i);
	}

	ck_assert_int_eq(proto_addr_valid(NULL), 0);
	ck_assert_int_eq(proto_addr_valid(&a[0]), 1);
}
END_TEST

/* A local address must be one a peer could connect to. */
START_TEST(test_check_local_addr_kinds)
{
	static uint8_t	 unspec4[4], unspec6[16], bcast[4] = { 255, 255, 255,
			    255 }, mc4[4] = { 224, 0, 0, 1 }, mc4b[4] = { 239,
			    1, 2, 3 }, mc6[16] = { 0xff, 0x02, [15] = 1 },
			    lan[4] = { 10, 1, 0, 2 }, pub6[16] = { 0x20, 0x01,
			    0x0d, 0xb8, [15] = 1 };
	static const struct {
		uint8_t	*ip;
		size_t	 len;
		int	 ok;
	} cases[] = {
		{ unspec4, 4, 0 }, { unspec6, 16, 0 }, { bcast, 4, 0 },
		{ mc4, 4, 0 }, { mc4b, 4, 0 }, { mc6, 16, 0 },
		{ lan, 4, 1 }, { pub6, 16, 1 },
	};
	struct reg_msg		 s;
	struct conn_msg		 c;
	Relay__V1__Address	 a, *ap = &a, nine[9], *np[9];
	size_t			 i;

	reg_init(&s);
	s.r.local_addrs = &ap;
	s.r.n_local_addrs = 1;
	conn_init(&c, 1, ID_OK);
	c.c.local_addrs = &ap;
	c.c.n_local_addrs = 1;
	c.c.direct = 1;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		addr_set(&a, cases[i].ip, cases[i].len, 4242);
		ck_assert_int_eq(proto_local_addr_valid(&a), cases[i].ok);
		ck_assert_int_eq(proto_addr_valid(&a), 1);
		if (cases[i].ok) {
			CLIENT_OK(&s.m);
			CLIENT_OK(&c.m);
		} else {
			CLIENT_BAD(&s.m, "local address");
			CLIENT_BAD(&c.m, "local address");
		}
	}
	/* Connect: at most 8 */
	for (i = 0; i < 9; i++)
		addr_set(&nine[i], lan, 4, (uint32_t)(2000 + i));
	c.c.local_addrs = addr_list(nine, np, 9);
	expect_count(&client_side, &c.m, &c.c.n_local_addrs, 8,
	    "local address", __LINE__);
}
END_TEST

START_TEST(test_check_path_report)
{
	ClientMessage		 m = RELAY__V1__CLIENT_MESSAGE__INIT;
	Relay__V1__PathReport	 pr = RELAY__V1__PATH_REPORT__INIT;
	int			 o;

	ENVELOPE_CLIENT(&m, PATH_REPORT, path_report, &pr);
	pr.session_id = bin(id16, 16);
	for (o = RELAY__V1__PATH_OUTCOME__PATH_DIRECT;
	    o <= RELAY__V1__PATH_OUTCOME__PATH_ENDED; o++) {
		pr.outcome = o;
		CLIENT_OK(&m);
	}
	pr.outcome = RELAY__V1__PATH_OUTCOME__PATH_UNSPECIFIED;
	CLIENT_BAD(&m, "outcome");
	pr.outcome = 4;
	CLIENT_BAD(&m, "outcome");
	pr.outcome = RELAY__V1__PATH_OUTCOME__PATH_DIRECT;
	pr.session_id = bin(id16, 15);
	CLIENT_BAD(&m, "session_id");
}
END_TEST

START_TEST(test_check_id_lengths)
{
	ClientMessage		 m = RELAY__V1__CLIENT_MESSAGE__INIT;
	Relay__V1__Renew	 rn = RELAY__V1__RENEW__INIT;
	Relay__V1__Unregister	 ur = RELAY__V1__UNREGISTER__INIT;
	Relay__V1__Accept	 ac = RELAY__V1__ACCEPT__INIT;
	Relay__V1__Reject	 rj = RELAY__V1__REJECT__INIT;
	static const size_t	 bad_len[] = { 0, 1, 15, 17, 32 };
	ProtobufCBinaryData	*field[4];
	size_t			 i, k;

	m.renew = &rn;
	field[0] = &rn.lease_id;
	field[1] = &ur.lease_id;
	field[2] = &ac.session_id;
	field[3] = &rj.session_id;
	for (k = 0; k < 4; k++) {
		switch (k) {
		case 0:
			ENVELOPE_CLIENT(&m, RENEW, renew, &rn);
			break;
		case 1:
			ENVELOPE_CLIENT(&m, UNREGISTER, unregister, &ur);
			break;
		case 2:
			ENVELOPE_CLIENT(&m, ACCEPT, accept, &ac);
			break;
		default:
			ENVELOPE_CLIENT(&m, REJECT, reject, &rj);
			break;
		}
		*field[k] = bin(tok32, 16);
		CLIENT_OK(&m);
		for (i = 0; i < sizeof(bad_len) / sizeof(bad_len[0]); i++) {
			*field[k] = bin(tok32, bad_len[i]);
			CLIENT_BAD(&m, k < 2 ? "lease_id" : "session_id");
		}
		*field[k] = bin(tok32, 16);
		CLIENT_OK(&m);
	}
}
END_TEST

START_TEST(test_check_connect)
{
	static const char *bad_ids[] = {
		"abcdefghijklmnopqrstuvwxyz23456",	/* 31 */
		"abcdefghijklmnopqrstuvwxyz2345677",	/* 33 */
		"abcdefghijklmnopqrstuvwxyz234561",	/* '1' */
		"abcdefghijklmnopqrstuvwxyz234560",	/* '0' */
		"abcdefghijklmnopqrstuvwxyz234568",	/* '8' */
		"abcdefghijklmnopqrstuvwxyz23456=",
		"abcdefghijklmnopqrstuvwxyz23456 ",
		"",
	};
	static const char *good_ids[] = { ID_OK, ID_OK_UPPER, ID_OK_MIXED,
	    "22222222222222222222222222222222" };
	struct conn_msg	 c;
	size_t		 i;

	conn_init(&c, 1, ID_OK);
	CLIENT_OK(&c.m);
	for (i = 0; i < sizeof(bad_ids) / sizeof(bad_ids[0]); i++) {
		c.c.id = (char *)bad_ids[i];
		CLIENT_BAD(&c.m, "relay ID");
	}
	for (i = 0; i < sizeof(good_ids) / sizeof(good_ids[0]); i++) {
		c.c.id = (char *)good_ids[i];
		CLIENT_OK(&c.m);
	}

	/* Neither id nor name. */
	c.c.target_case = RELAY__V1__CONNECT__TARGET__NOT_SET;
	c.c.id = NULL;
	CLIENT_BAD(&c.m, "id or a name");

	/* A bad ALPN, by id and by name; a missing one. */
	conn_init(&c, 1, ID_OK);
	c.c.alpn = "h 2";
	CLIENT_BAD(&c.m, "ALPN");
	c.c.alpn = "";
	CLIENT_BAD(&c.m, "ALPN");
	conn_init(&c, 0, "web");
	c.c.alpn = "0123456789abcdef0123456789abcdefX";
	CLIENT_BAD(&c.m, "ALPN");
	c.c.alpn = "0123456789abcdef0123456789abcdef";
	CLIENT_OK(&c.m);

	/* A name is not an id and an id is not a name. */
	conn_init(&c, 0, ID_OK_UPPER);
	CLIENT_BAD(&c.m, "name");
	conn_init(&c, 1, "web");
	CLIENT_BAD(&c.m, "relay ID");
}
END_TEST

START_TEST(test_check_reject_reason)
{
	ClientMessage		 m = RELAY__V1__CLIENT_MESSAGE__INIT;
	Relay__V1__Reject	 rj = RELAY__V1__REJECT__INIT;
	char			 r256[257], r257[258];

	memset(r256, 'r', 256);
	r256[256] = '\0';
	memset(r257, 'r', 257);
	r257[257] = '\0';
	rj.session_id = bin(id16, sizeof(id16));
	ENVELOPE_CLIENT(&m, REJECT, reject, &rj);
	CLIENT_OK(&m);
	rj.reason = r256;
	CLIENT_OK(&m);
	rj.reason = r257;
	CLIENT_BAD(&m, "reason");
	rj.reason = "\xed\xa0\x80";
	CLIENT_BAD(&m, "reason");
}
END_TEST

/* ---- field checks: relay ---- */

START_TEST(test_check_registered)
{
	RelayMessage		 m = RELAY__V1__RELAY_MESSAGE__INIT;
	Relay__V1__Registered	 r = RELAY__V1__REGISTERED__INIT;
	Relay__V1__Address	 obs;

	r.lease_id = bin(id16, sizeof(id16));
	r.name = "svc";
	addr_set(&obs, ip6, 4, 1234);
	r.observed_addr = &obs;
	ENVELOPE_RELAY(&m, REGISTERED, registered, &r);
	RELAY_OK(&m);
	r.lease_id = bin(id16, 15);
	RELAY_BAD(&m, "lease_id");
	r.lease_id = bin(id16, 16);
	r.name = "Svc";
	RELAY_BAD(&m, "name");
	r.name = "svc";
	obs.port = 0;
	RELAY_BAD(&m, "address");
	obs.port = 1234;
	obs.ip.len = 5;
	RELAY_BAD(&m, "address");
	r.observed_addr = NULL;
	RELAY_OK(&m);
}
END_TEST

START_TEST(test_check_incoming)
{
	struct inc_msg	 s;

	inc_init(&s);
	RELAY_OK(&s.m);
	s.in.token = bin(tok32, 31);
	RELAY_BAD(&s.m, "token");
	s.in.token = bin(tok32, 0);
	RELAY_BAD(&s.m, "token");
	s.in.token = bin(tok32, 32);
	s.in.session_id = bin(tok32, 17);
	RELAY_BAD(&s.m, "length");
	s.in.session_id = bin(id16, 16);
	s.in.lease_id = bin(id16, 15);
	RELAY_BAD(&s.m, "length");
	s.in.lease_id = bin(id16, 16);
	RELAY_OK(&s.m);

	s.in.alpn = "";
	RELAY_BAD(&s.m, "alpn");
	s.in.alpn = "tcp";
	s.in.from_id = "abcdefghijklmnopqrstuvwxyz234561";
	RELAY_BAD(&s.m, "from_id");
	s.in.from_id = ID_OK_UPPER;
	RELAY_OK(&s.m);

	s.from.port = 65536;
	RELAY_BAD(&s.m, "address");
	s.from.port = 1;
	s.local[1].ip.len = 5;
	RELAY_BAD(&s.m, "address");
	s.local[1].ip.len = 16;
	s.in.from_addr = NULL;
	RELAY_OK(&s.m);
}
END_TEST

START_TEST(test_check_connected)
{
	struct cd_msg	 s;

	cd_init(&s);
	RELAY_OK(&s.m);
	s.c.id = "abcdefghijklmnopqrstuvwxyz23456";
	RELAY_BAD(&s.m, "peer id");
	s.c.id = "abcdefghijklmnopqrstuvwxyz234568";
	RELAY_BAD(&s.m, "peer id");
	s.c.id = "";
	RELAY_BAD(&s.m, "peer id");
	s.c.id = ID_OK;
	RELAY_OK(&s.m);
	s.c.token = bin(tok32, 31);
	RELAY_BAD(&s.m, "token");
	s.c.token = bin(tok32, 32);
	s.c.session_id = bin(id16, 15);
	RELAY_BAD(&s.m, "length");
	s.c.session_id = bin(id16, 16);
	s.peer.port = 0;
	RELAY_BAD(&s.m, "address");
	s.peer.port = 9;
	s.local[0].port = 65536;
	RELAY_BAD(&s.m, "address");
	s.local[0].port = 9;
	RELAY_OK(&s.m);
}
END_TEST

START_TEST(test_check_lease_list)
{
	struct ll_msg	 s;
	char		*nine[9] = { "a", "b", "c", "d", "e", "f", "g", "h",
			    "i" };

	ll_init(&s);
	RELAY_OK(&s.m);
	s.li[1].name = "Bad_Name";
	RELAY_BAD(&s.m, "lease entry");
	s.li[1].name = "";
	RELAY_BAD(&s.m, "lease entry");
	s.li[1].name = "b-2";
	RELAY_OK(&s.m);
	s.li[2].id = "abcdefghijklmnopqrstuvwxyz23456";
	RELAY_BAD(&s.m, "lease entry");
	s.li[2].id = ID_OK;
	s.li[0].description = "\xc0\xaf";
	RELAY_BAD(&s.m, "lease entry");
	s.li[0].description = "fine";
	s.li[0].alpn = nine;
	s.li[0].n_alpn = 9;
	RELAY_BAD(&s.m, "lease entry");
	s.li[0].n_alpn = 8;
	RELAY_OK(&s.m);
	nine[3] = "b d";
	RELAY_BAD(&s.m, "alpn");
}
END_TEST

START_TEST(test_check_error_notice)
{
	RelayMessage		 m = RELAY__V1__RELAY_MESSAGE__INIT;
	Relay__V1__Error	 e = RELAY__V1__ERROR__INIT;
	Relay__V1__Notice	 n = RELAY__V1__NOTICE__INIT;
	char			 t257[258];

	memset(t257, 't', 257);
	t257[257] = '\0';

	ENVELOPE_RELAY(&m, NOTICE, notice, &n);
	n.message = "x";
	RELAY_OK(&m);
	n.lease_id = bin(id16, 16);
	RELAY_OK(&m);
	n.lease_id = bin(id16, 5);
	RELAY_BAD(&m, "lease_id");
	n.lease_id = bin(tok32, 17);
	RELAY_BAD(&m, "lease_id");
	n.lease_id = bin(id16, 0);
	n.message = t257;
	RELAY_BAD(&m, "notice");
	n.message = "\xed\xa0\x80";
	RELAY_BAD(&m, "notice");

	ENVELOPE_RELAY(&m, ERROR, error, &e);
	e.code = RELAY__V1__ERROR_CODE__ERR_BAD_REQUEST;
	e.message = "bad";
	RELAY_OK(&m);
	e.message = t257;
	RELAY_BAD(&m, "error");
	e.message = "\x80";
	RELAY_BAD(&m, "error");
}
END_TEST

/* ---- names ---- */

START_TEST(test_names_error)
{
	const ProtobufCEnumDescriptor	*d;
	unsigned int			 i;

	d = &relay__v1__error_code__descriptor;
	ck_assert_str_eq(proto_error_name(0), "ERR_NONE");
	ck_assert_str_eq(proto_error_name(
	    RELAY__V1__ERROR_CODE__ERR_BAD_REQUEST), "ERR_BAD_REQUEST");
	ck_assert_str_eq(proto_error_name(11), "ERR_INTERNAL");
	ck_assert_str_eq(proto_error_name(12), "ERR_UNKNOWN");
	ck_assert_str_eq(proto_error_name(-1), "ERR_UNKNOWN");
	ck_assert_str_eq(proto_error_name(1000), "ERR_UNKNOWN");
	/* Every value the schema knows, under the schema's name. */
	ck_assert_uint_eq(d->n_values, 12);
	for (i = 0; i < d->n_values; i++)
		ck_assert_str_eq(proto_error_name(d->values[i].value),
		    d->values[i].name);
}
END_TEST

START_TEST(test_names_msg)
{
	const ProtobufCMessageDescriptor *cd =
	    &relay__v1__client_message__descriptor;
	const ProtobufCMessageDescriptor *rd =
	    &relay__v1__relay_message__descriptor;
	unsigned int			 i;

	ck_assert_str_eq(proto_client_msg_name(0), "none");
	ck_assert_str_eq(proto_client_msg_name(
	    RELAY__V1__CLIENT_MESSAGE__MSG_REGISTER), "register");
	ck_assert_str_eq(proto_client_msg_name(
	    RELAY__V1__CLIENT_MESSAGE__MSG_PING), "ping");
	ck_assert_str_eq(proto_client_msg_name(
	    RELAY__V1__CLIENT_MESSAGE__MSG_PATH_REPORT), "path_report");
	ck_assert_str_eq(proto_client_msg_name(10), "unknown");
	ck_assert_str_eq(proto_client_msg_name(-1), "unknown");
	ck_assert_str_eq(proto_relay_msg_name(0), "none");
	ck_assert_str_eq(proto_relay_msg_name(
	    RELAY__V1__RELAY_MESSAGE__MSG_REGISTERED), "registered");
	ck_assert_str_eq(proto_relay_msg_name(
	    RELAY__V1__RELAY_MESSAGE__MSG_NOTICE), "notice");
	ck_assert_str_eq(proto_relay_msg_name(9), "unknown");
	ck_assert_str_eq(proto_relay_msg_name(-7), "unknown");
	/* The oneof members under their field names, by field number. */
	ck_assert_uint_eq(cd->n_fields, 9);
	for (i = 0; i < cd->n_fields; i++)
		ck_assert_str_eq(proto_client_msg_name(
		    (int)cd->fields[i].id), cd->fields[i].name);
	ck_assert_uint_eq(rd->n_fields, 8);
	for (i = 0; i < rd->n_fields; i++)
		ck_assert_str_eq(proto_relay_msg_name(
		    (int)rd->fields[i].id), rd->fields[i].name);
}
END_TEST

/* Text from the network, made safe to show: nothing can drive a terminal. */
START_TEST(test_text_safe)
{
	static const struct {
		const char	*in;
		size_t		 size;
		const char	*out;
	} t[] = {
		{ "plain text", 64, "plain text" },
		{ "", 64, "" },
		{ "\x1b[2J\x1b]0;owned\x07", 64, "?[2J?]0;owned?" },
		{ "tab\there\r\n\x7f", 64, "tab?here???" },
		{ "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91", 64,
		    "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91" },
		{ "c1 \xc2\x9b" "31m \xc2\x85", 64, "c1 ?31m ?" },
		{ "\xc2\xa0nbsp", 64, "\xc2\xa0nbsp" },
		{ "bad \xff\xfe \xc3", 64, "bad ?? ?" },
		{ "overlong \xc0\xaf \xe0\x80\xaf", 64, "overlong ?? ???" },
		{ "surrogate \xed\xa0\x80", 64, "surrogate ???" },
		{ "\xf4\x90\x80\x80", 64, "????" },
		{ "truncated \xe2\x82", 64, "truncated ??" },
		{ "abcdef", 4, "abc" },
		{ "ab\xc3\xa9", 4, "ab" },	/* never half a character */
		{ "x", 1, "" },
	};
	char	 out[64];
	size_t	 i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		memset(out, 'Z', sizeof(out));
		ck_assert_ptr_eq(text_safe(out, t[i].size, t[i].in), out);
		ck_assert_msg(strcmp(out, t[i].out) == 0,
		    "case %zu: got \"%s\"", i, out);
	}
	ck_assert_str_eq(text_safe(out, sizeof(out), NULL), "");
	/* a zero size writes nothing at all */
	memset(out, 'Z', sizeof(out));
	text_safe(out, 0, "abc");
	ck_assert_int_eq(out[0], 'Z');
}
END_TEST

UNIT_MAIN("proto",
	{ "roundtrip", { { test_rt_register },
	    { test_rt_renew_unregister }, { test_rt_connect },
	    { test_rt_accept_reject }, { test_rt_list_ping } },
	    setup, teardown },
	{ "roundtrip_relay", { { test_rt_registered },
	    { test_rt_ack_pong }, { test_rt_incoming },
	    { test_rt_connected }, { test_rt_lease_list },
	    { test_rt_error_notice } }, setup_client, teardown },
	{ "limits", { { test_pack_oversized },
	    { test_pack_short_buffer }, { test_unpack_oversized },
	    { test_truncated_client }, { test_truncated_relay },
	    { test_truncated_inner }, { test_garbage_random },
	    { test_garbage_mutated }, { test_malformed_varint },
	    { test_malformed_length }, { test_malformed_wiretype },
	    { test_nul_in_string }, { test_arena_client },
	    { test_arena_bounds } }, setup, teardown, 120 },
	{ "arena_client", { { test_arena_relay } }, setup_client,
	    teardown },
	{ "check", { { test_check_envelope },
	    { test_check_register_alpn }, { test_check_names },
	    { test_check_text }, { test_check_local_addrs },
	    { test_check_local_addr_kinds }, { test_check_path_report },
	    { test_check_id_lengths }, { test_check_connect },
	    { test_check_reject_reason }, { test_check_registered },
	    { test_check_incoming }, { test_check_connected },
	    { test_check_lease_list }, { test_check_error_notice },
	    { test_names_error }, { test_names_msg },
	    { test_text_safe } }, setup, teardown });
