/* SPDX-License-Identifier: ISC */
/*
 * fuzz_proto.c: control-message unpacking and field checks
 * (libcommon/proto.c): proto_unpack_client/relay over arbitrary bytes
 * with the real arena sizes, then proto_check_client/relay.
 *
 * Beyond "no crash": a message that unpacks packs again, and what that
 * packs to unpacks and packs to the same bytes with the same verdict; a
 * string never hides a NUL; and a message that passes the check really
 * has every property the relay's conn worker and relay-client rely on
 * when they copy fields into fixed arrays (lengths of ids, tokens and
 * addresses, counts of ALPNs and addresses, string lengths), checked
 * here independently of proto.c. The field validators are also compared
 * with independent implementations (UTF-8, names, ALPNs, IDs).
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "crypto.h"
#include "fuzz.h"
#include "proto.h"
#include "protocol.h"

static struct proto_arena	 arena_relay, arena_client, arena_again;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fz_quiet();
	if (proto_arena_init(&arena_relay, PROTO_ARENA_RELAY) == -1 ||
	    proto_arena_init(&arena_client, PROTO_ARENA_CLIENT) == -1 ||
	    proto_arena_init(&arena_again, PROTO_ARENA_CLIENT) == -1)
		abort();
	return 0;
}

/* UTF-8 by the table of RFC 3629 section 4, at most max bytes. */
static int
ref_utf8(const char *str, size_t max)
{
	const unsigned char	*s = (const unsigned char *)str;
	size_t			 i = 0, len = strlen(str), k, n;
	unsigned char		 lo, hi;

	if (len > max)
		return 0;
	while (i < len) {
		unsigned char	 c = s[i];

		lo = 0x80;
		hi = 0xbf;
		if (c <= 0x7f) {
			i++;
			continue;
		} else if (c >= 0xc2 && c <= 0xdf)
			n = 1;
		else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			if (c == 0xe0)
				lo = 0xa0;
			if (c == 0xed)
				hi = 0x9f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			if (c == 0xf0)
				lo = 0x90;
			if (c == 0xf4)
				hi = 0x8f;
		} else
			return 0;
		if (i + n >= len)	/* the sequence is cut short */
			return 0;
		for (k = 1; k <= n; k++) {
			unsigned char	 b = s[i + k];

			if (k == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xbf))
				return 0;
		}
		i += n + 1;
	}
	return 1;
}

static int
ref_name(const char *s)
{
	size_t	 len = strlen(s), i;

	if (len < 1 || len > NAME_MAX_LEN || s[0] == '-' || s[len - 1] == '-')
		return 0;
	for (i = 0; i < len; i++)
		if (strchr("abcdefghijklmnopqrstuvwxyz0123456789-", s[i]) ==
		    NULL)
			return 0;
	return 1;
}

static int
ref_alpn(const char *s)
{
	size_t	 len = strlen(s), i;

	if (len < 1 || len > ALPN_MAX_LEN)
		return 0;
	for (i = 0; i < len; i++)
		if (s[i] <= ' ' || s[i] >= 0x7f)
			return 0;
	return 1;
}

static int
ref_id(const char *s)
{
	size_t	 i;

	if (strlen(s) != ID_STRLEN)
		return 0;
	for (i = 0; i < ID_STRLEN; i++)
		if (strchr("abcdefghijklmnopqrstuvwxyz234567ABCDEFGHIJKLMNOPQRS"
		    "TUVWXYZ", s[i]) == NULL)
			return 0;
	return 1;
}

static void
check_validators(struct fz *f)
{
	char	 s[300], norm[ID_BUFSZ];
	size_t	 len = fz_u16(f) % (sizeof(s) - 1);

	fz_fill(f, s, len);
	s[len] = '\0';
	FZ_CHECK(!!proto_text_valid(s, DESC_MAX_LEN) ==
	    ref_utf8(s, DESC_MAX_LEN));
	FZ_CHECK(!!proto_text_valid(s, 7) == ref_utf8(s, 7));
	FZ_CHECK(!!proto_name_valid(s) == ref_name(s));
	FZ_CHECK(!!proto_alpn_valid(s) == ref_alpn(s));
	FZ_CHECK((id_normalize(s, norm) == 0) == ref_id(s));
}

static void
check_addr(const Relay__V1__Address *a)
{
	FZ_CHECK(a != NULL);
	FZ_CHECK(a->ip.len == 4 || a->ip.len == 16);
	FZ_CHECK(a->ip.data != NULL);
	FZ_CHECK(a->port >= 1 && a->port <= 65535);
}

static void
check_addrs(Relay__V1__Address * const *a, size_t n)
{
	size_t	 i;

	FZ_CHECK(n <= ADDR_MAX_COUNT);
	for (i = 0; i < n; i++)
		check_addr(a[i]);
}

/* A string of at most max bytes of UTF-8. */
static void
check_text(const char *s, size_t max)
{
	FZ_CHECK(s != NULL);
	FZ_CHECK(strlen(s) <= max);
	FZ_CHECK(ref_utf8(s, max));
}

/* The other end of a session: its ID, address as seen (if any), its own. */
static void
check_peer(const char *id, const Relay__V1__Address *seen,
    Relay__V1__Address * const *local, size_t nlocal)
{
	FZ_CHECK(ref_id(id));
	if (seen != NULL)
		check_addr(seen);
	check_addrs(local, nlocal);
}

#define CHECK_BYTES(b, n)	FZ_CHECK((b).len == (n) && (b).data != NULL)

/* The message in an envelope (the case is its field number). */
static const ProtobufCMessage *
envelope_msg(const ProtobufCMessage *m, uint32_t msg_case)
{
	const ProtobufCFieldDescriptor	*fd;
	const ProtobufCMessage		*sub;

	fd = protobuf_c_message_descriptor_get_field(m->descriptor, msg_case);
	FZ_CHECK(fd != NULL && fd->type == PROTOBUF_C_TYPE_MESSAGE);
	memcpy(&sub, (const uint8_t *)m + fd->offset, sizeof(sub));
	return sub;
}

static void
check_envelope(const ProtobufCMessage *m, uint32_t msg_case)
{
	FZ_CHECK(envelope_msg(m, msg_case) != NULL);
}

/* The bytes field name of the envelope's message, if it has one: len bytes. */
static void
check_id(const ProtobufCMessage *m, uint32_t msg_case, const char *name,
    size_t len)
{
	const ProtobufCMessage		*sub = envelope_msg(m, msg_case);
	const ProtobufCFieldDescriptor	*fd;
	ProtobufCBinaryData		 b;

	fd = protobuf_c_message_descriptor_get_field_by_name(sub->descriptor,
	    name);
	if (fd == NULL)
		return;
	FZ_CHECK(fd->type == PROTOBUF_C_TYPE_BYTES);
	memcpy(&b, (const uint8_t *)sub + fd->offset, sizeof(b));
	CHECK_BYTES(b, len);
}

/*
 * What conn.c's client_request() copies without looking again (every
 * lease or session ID a client sends is one of 16 bytes).
 */
static void
check_client_ok(const ClientMessage *m)
{
	size_t	 i;

	check_envelope(&m->base, m->msg_case);
	check_id(&m->base, m->msg_case, "lease_id", LEASE_ID_LEN);
	check_id(&m->base, m->msg_case, "session_id", SESSION_ID_LEN);
	switch (m->msg_case) {
	case RELAY__V1__CLIENT_MESSAGE__MSG_REGISTER:
		FZ_CHECK(ref_name(m->register_->name));
		FZ_CHECK(m->register_->n_alpn >= 1 &&
		    m->register_->n_alpn <= ALPN_MAX_COUNT);
		for (i = 0; i < m->register_->n_alpn; i++)
			FZ_CHECK(ref_alpn(m->register_->alpn[i]));
		check_text(m->register_->description, DESC_MAX_LEN);
		check_addrs(m->register_->local_addrs,
		    m->register_->n_local_addrs);
		break;
	case RELAY__V1__CLIENT_MESSAGE__MSG_CONNECT:
		if (m->connect->target_case == RELAY__V1__CONNECT__TARGET_ID)
			FZ_CHECK(ref_id(m->connect->id));
		else {
			FZ_CHECK(m->connect->target_case ==
			    RELAY__V1__CONNECT__TARGET_NAME);
			FZ_CHECK(ref_name(m->connect->name));
		}
		FZ_CHECK(ref_alpn(m->connect->alpn));
		check_addrs(m->connect->local_addrs,
		    m->connect->n_local_addrs);
		break;
	case RELAY__V1__CLIENT_MESSAGE__MSG_REJECT:
		if (m->reject->reason != NULL)
			FZ_CHECK(ref_utf8(m->reject->reason, REASON_MAX_LEN));
		break;
	case RELAY__V1__CLIENT_MESSAGE__MSG_PATH_REPORT:
		FZ_CHECK(m->path_report->outcome >=
		    RELAY__V1__PATH_OUTCOME__PATH_DIRECT &&
		    m->path_report->outcome <=
		    RELAY__V1__PATH_OUTCOME__PATH_ENDED);
		break;
	case RELAY__V1__CLIENT_MESSAGE__MSG_RENEW:
	case RELAY__V1__CLIENT_MESSAGE__MSG_UNREGISTER:
	case RELAY__V1__CLIENT_MESSAGE__MSG_ACCEPT:
	case RELAY__V1__CLIENT_MESSAGE__MSG_LIST_LEASES:
	case RELAY__V1__CLIENT_MESSAGE__MSG_PING:
		break;
	default:
		FZ_CHECK(!"a message without a case passed the check");
	}
}

/*
 * What relay-client's handlers use without looking again (every session
 * ID and token the relay sends has its length).
 */
static void
check_relay_ok(const RelayMessage *m)
{
	const Relay__V1__LeaseInfo	*l;
	size_t				 i, j;

	check_envelope(&m->base, m->msg_case);
	check_id(&m->base, m->msg_case, "session_id", SESSION_ID_LEN);
	check_id(&m->base, m->msg_case, "token", TOKEN_LEN);
	switch (m->msg_case) {
	case RELAY__V1__RELAY_MESSAGE__MSG_REGISTERED:
		CHECK_BYTES(m->registered->lease_id, LEASE_ID_LEN);
		FZ_CHECK(ref_name(m->registered->name));
		if (m->registered->observed_addr != NULL)
			check_addr(m->registered->observed_addr);
		break;
	case RELAY__V1__RELAY_MESSAGE__MSG_ACK:
	case RELAY__V1__RELAY_MESSAGE__MSG_PONG:
		break;
	case RELAY__V1__RELAY_MESSAGE__MSG_INCOMING:
		CHECK_BYTES(m->incoming->lease_id, LEASE_ID_LEN);
		FZ_CHECK(ref_alpn(m->incoming->alpn));
		check_peer(m->incoming->from_id, m->incoming->from_addr,
		    m->incoming->from_local_addrs,
		    m->incoming->n_from_local_addrs);
		break;
	case RELAY__V1__RELAY_MESSAGE__MSG_CONNECTED:
		check_peer(m->connected->id, m->connected->peer_addr,
		    m->connected->peer_local_addrs,
		    m->connected->n_peer_local_addrs);
		break;
	case RELAY__V1__RELAY_MESSAGE__MSG_LEASE_LIST:
		for (i = 0; i < m->lease_list->n_leases; i++) {
			l = m->lease_list->leases[i];
			FZ_CHECK(ref_name(l->name));
			FZ_CHECK(ref_id(l->id));
			check_text(l->description, DESC_MAX_LEN);
			FZ_CHECK(l->n_alpn >= 1 && l->n_alpn <= ALPN_MAX_COUNT);
			for (j = 0; j < l->n_alpn; j++)
				FZ_CHECK(ref_alpn(l->alpn[j]));
		}
		break;
	case RELAY__V1__RELAY_MESSAGE__MSG_ERROR:
		check_text(m->error->message, REASON_MAX_LEN);
		break;
	case RELAY__V1__RELAY_MESSAGE__MSG_NOTICE:
		check_text(m->notice->message, REASON_MAX_LEN);
		FZ_CHECK(m->notice->lease_id.len == 0 ||
		    m->notice->lease_id.len == LEASE_ID_LEN);
		break;
	default:
		FZ_CHECK(!"a message without a case passed the check");
	}
}

/*
 * protobuf-c keeps fields it does not know and packs them again as they
 * came; one with field number 0 unpacks (written as an overlong varint)
 * but its canonical form does not. Our code ignores unknown fields, so
 * the round trip is only required of messages without any.
 */
static int
has_unknown(const ProtobufCMessage *m, int depth)
{
	const ProtobufCMessageDescriptor	*d = m->descriptor;
	const ProtobufCFieldDescriptor		*fd;
	void * const				*vals;
	unsigned int				 i;
	size_t					 n, k;

	if (m->n_unknown_fields > 0 || depth > 8)
		return 1;
	for (i = 0; i < d->n_fields; i++) {
		fd = &d->fields[i];
		if (fd->type != PROTOBUF_C_TYPE_MESSAGE)
			continue;
		n = proto_field_values(m, fd, &vals);
		for (k = 0; k < n; k++)
			if (vals[k] != NULL && has_unknown(vals[k], depth + 1))
				return 1;
	}
	return 0;
}

/*
 * A message one way, from the input: unpacked within its arena (never
 * beyond it, nothing from more than a record), checked (a reason with
 * every refusal; an accepted one holds what proto.h promises), then
 * packed, unpacked and packed again: the same verdict, the same bytes.
 * One body for both directions (T: ClientMessage or RelayMessage).
 */
#define ROUND_TRIP(fn, T, dir)						\
static void								\
fn(struct proto_arena *a, const uint8_t *msg, size_t len)		\
{									\
	static uint8_t	 once[REC_MAX_PAYLOAD], twice[REC_MAX_PAYLOAD];	\
	char		 err[128], err2[128];				\
	ssize_t		 n1, n2;					\
	int		 r, r2;						\
	T		*m, *m2;					\
									\
	m = proto_unpack_##dir(a, msg, len);				\
	FZ_CHECK(a->used <= a->size);					\
	if (len > REC_MAX_PAYLOAD)					\
		FZ_CHECK(m == NULL);					\
	if (m == NULL)							\
		return;							\
	FZ_CHECK(!a->exhausted && !a->bad_string);			\
	FZ_CHECK(proto_##dir##_msg_name(m->msg_case) != NULL);		\
	memset(err, 0, sizeof(err));					\
	r = proto_check_##dir(m, err, sizeof(err));			\
	FZ_CHECK(r == 0 || (r == -1 && err[0] != '\0'));		\
	if (r == 0)							\
		check_##dir##_ok(m);					\
	n1 = proto_pack_##dir(m, once, sizeof(once));			\
	if (n1 == -1) {							\
		FZ_CHECK(errno == EMSGSIZE);				\
		return;							\
	}								\
	m2 = proto_unpack_##dir(&arena_again, once, n1);		\
	if (m2 == NULL && has_unknown(&m->base, 0))			\
		return;							\
	FZ_CHECK(m2 != NULL);						\
	r2 = proto_check_##dir(m2, err2, sizeof(err2));			\
	FZ_CHECK(r == r2);						\
	n2 = proto_pack_##dir(m2, twice, sizeof(twice));		\
	FZ_CHECK(n1 == n2 && memcmp(once, twice, n1) == 0);		\
}

ROUND_TRIP(round_trip_relay, RelayMessage, relay)
ROUND_TRIP(round_trip_client, ClientMessage, client)

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz	 f;
	const uint8_t	*msg;
	size_t		 len;
	uint8_t		 mode;

	fz_init(&f, data, size);
	mode = fz_u8(&f);
	if (mode >= 0xf0) {
		check_validators(&f);
		return 0;
	}
	msg = fz_take(&f, f.n, &len);
	/* what the relay sends is unpacked in a client's arena */
	if (mode & 1)
		round_trip_relay(&arena_client, msg, len);
	else
		round_trip_client(&arena_relay, msg, len);
	return 0;
}
