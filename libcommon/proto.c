/* SPDX-License-Identifier: ISC */
/*
 * proto.c: control message (un)packing and field checks (see proto.h).
 * Everything here treats its input as hostile: sizes are checked before
 * anything is unpacked, unpacking allocates only from a bounded arena,
 * and every field is checked against DESIGN 4.4 before a caller acts.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "proto.h"
#include "protocol.h"

#define ARENA_ALIGN	16

int
proto_arena_init(struct proto_arena *a, size_t size)
{
	memset(a, 0, sizeof(*a));
	if ((a->mem = malloc(size)) == NULL)
		return -1;
	a->size = size;
	return 0;
}

void
proto_arena_reset(struct proto_arena *a)
{
	a->used = 0;
	a->exhausted = 0;
	a->bad_string = 0;
	a->refused = NULL;
}

void
proto_arena_free(struct proto_arena *a)
{
	free(a->mem);
	memset(a, 0, sizeof(*a));
}

/*
 * Each allocation is preceded by its size, so that strings can be checked
 * after unpacking: protobuf-c allocates len + 1 bytes for a string of
 * len bytes, and a NUL inside would make the C string shorter.
 */
static void *
arena_alloc(void *data, size_t len)
{
	struct proto_arena	*a = data;
	size_t			 off;

	off = (a->used + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
	if (off > a->size || ARENA_ALIGN > a->size - off ||
	    len > a->size - off - ARENA_ALIGN) {
		a->exhausted = 1;
		return NULL;
	}
	memcpy(a->mem + off, &len, sizeof(len));
	a->used = off + ARENA_ALIGN + len;
	return a->mem + off + ARENA_ALIGN;
}

static int
arena_owns(const struct proto_arena *a, const void *p)
{
	const uint8_t	*u = p;

	return u >= a->mem + ARENA_ALIGN && u < a->mem + a->size;
}

/* A string from the arena must be exactly as long as what was sent. */
static int
arena_string_ok(const struct proto_arena *a, const char *s)
{
	size_t	 len;

	if (s == NULL || !arena_owns(a, s))
		return 1;	/* protobuf-c's shared empty string */
	memcpy(&len, s - ARENA_ALIGN, sizeof(len));
	return len >= 1 && strnlen(s, len) == len - 1;
}

/*
 * The values a field of m holds: their count, and in *vals the array of
 * pointers (for a string or message field). A oneof member that is not
 * the one set holds none.
 */
size_t
proto_field_values(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f,
    void * const **vals)
{
	const uint8_t	*base = (const uint8_t *)m;
	uint32_t	 qc;
	size_t		 n;

	if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
		memcpy(&qc, base + f->quantifier_offset, sizeof(qc));
		if (qc != f->id)
			return 0;
	}
	if (f->label != PROTOBUF_C_LABEL_REPEATED) {
		*vals = (void * const *)(base + f->offset);
		return 1;
	}
	memcpy(&n, base + f->quantifier_offset, sizeof(n));
	memcpy(vals, base + f->offset, sizeof(*vals));
	return n;
}

/* Walk every string field, nested messages and repeated fields included. */
static int
strings_ok(const struct proto_arena *a, const ProtobufCMessage *m, int depth)
{
	const ProtobufCMessageDescriptor	*d = m->descriptor;
	const ProtobufCFieldDescriptor		*f;
	unsigned int				 i;
	size_t					 n, k;
	void * const				*vals;

	if (depth > 8)
		return 0;
	for (i = 0; i < d->n_fields; i++) {
		f = &d->fields[i];
		if (f->type != PROTOBUF_C_TYPE_STRING &&
		    f->type != PROTOBUF_C_TYPE_MESSAGE)
			continue;
		n = proto_field_values(m, f, &vals);
		for (k = 0; k < n; k++) {
			if (vals[k] == NULL)
				continue;
			if (f->type == PROTOBUF_C_TYPE_STRING) {
				if (!arena_string_ok(a, vals[k]))
					return 0;
			} else if (!strings_ok(a, vals[k], depth + 1))
				return 0;
		}
	}
	return 1;
}

static void
arena_free(void *data, void *p)
{
	/* released all at once by proto_arena_reset() */
}

/*
 * Unpack within the arena. Fails on malformed input, on input that needs
 * more memory than the arena has (a->exhausted), and on a string field
 * with a NUL byte inside (a->bad_string; a->refused is then the message
 * as unpacked, to be read for nothing but its request_id).
 */
static ProtobufCMessage *
proto_unpack(const ProtobufCMessageDescriptor *d, struct proto_arena *a,
    const uint8_t *in, size_t len)
{
	ProtobufCAllocator	 alloc = { arena_alloc, arena_free, a };
	ProtobufCMessage	*m;

	proto_arena_reset(a);
	if (len > REC_MAX_PAYLOAD) {
		errno = EMSGSIZE;
		return NULL;
	}
	if ((m = protobuf_c_message_unpack(d, &alloc, len, in)) == NULL)
		return NULL;
	if (!strings_ok(a, m, 0)) {
		/* refused; kept until the next reset so that its
		 * request_id can be echoed (relay-protocol(7)) */
		a->bad_string = 1;
		a->refused = m;
		return NULL;
	}
	return m;
}

ClientMessage *
proto_unpack_client(struct proto_arena *a, const uint8_t *in, size_t len)
{
	return (ClientMessage *)proto_unpack(
	    &relay__v1__client_message__descriptor, a, in, len);
}

RelayMessage *
proto_unpack_relay(struct proto_arena *a, const uint8_t *in, size_t len)
{
	return (RelayMessage *)proto_unpack(
	    &relay__v1__relay_message__descriptor, a, in, len);
}

static ssize_t
proto_pack(const ProtobufCMessage *m, uint8_t *out, size_t outlen)
{
	size_t	 n = protobuf_c_message_get_packed_size(m);

	if (n > REC_MAX_PAYLOAD || n > outlen) {
		errno = EMSGSIZE;
		return -1;
	}
	return (ssize_t)protobuf_c_message_pack(m, out);
}

ssize_t
proto_pack_client(const ClientMessage *m, uint8_t *out, size_t outlen)
{
	return proto_pack(&m->base, out, outlen);
}

ssize_t
proto_pack_relay(const RelayMessage *m, uint8_t *out, size_t outlen)
{
	return proto_pack(&m->base, out, outlen);
}

/* A bytes field of an outgoing message, pointing at the caller's copy. */
ProtobufCBinaryData
proto_bytes(const uint8_t *p, size_t len)
{
	ProtobufCBinaryData	 b;

	b.data = (uint8_t *)p;
	b.len = len;
	return b;
}

static int
name_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

static int
alpn_char(unsigned char c)
{
	return c >= 0x21 && c <= 0x7e;
}

/* The length of s when it is 1 to max bytes that ok accepts, else 0. */
static size_t
chars_valid(const char *s, size_t max, int (*ok)(unsigned char))
{
	size_t	 i, len;

	if (s == NULL)
		return 0;
	len = strnlen(s, max + 1);
	if (len == 0 || len > max)
		return 0;
	for (i = 0; i < len; i++)
		if (!ok((unsigned char)s[i]))
			return 0;
	return len;
}

/* 1-63 of [a-z0-9-], not starting or ending with '-'. */
int
proto_name_valid(const char *s)
{
	size_t	 len = chars_valid(s, NAME_MAX_LEN, name_char);

	return len > 0 && s[0] != '-' && s[len - 1] != '-';
}

/* 1-32 bytes of 0x21-0x7e. */
int
proto_alpn_valid(const char *s)
{
	return chars_valid(s, ALPN_MAX_LEN, alpn_char) > 0;
}

/* At most max bytes of well-formed UTF-8 (no overlongs, no surrogates). */
int
proto_text_valid(const char *str, size_t max)
{
	const unsigned char	*s = (const unsigned char *)str;
	size_t			 i = 0, len, need, k;
	uint32_t		 cp;

	if (str == NULL)
		return 1;
	len = strnlen(str, max + 1);
	if (len > max)
		return 0;
	while (i < len) {
		if (s[i] < 0x80) {
			i++;
			continue;
		} else if ((s[i] & 0xe0) == 0xc0) {
			need = 1;
			cp = s[i] & 0x1f;
		} else if ((s[i] & 0xf0) == 0xe0) {
			need = 2;
			cp = s[i] & 0x0f;
		} else if ((s[i] & 0xf8) == 0xf0) {
			need = 3;
			cp = s[i] & 0x07;
		} else
			return 0;
		if (need > len - i - 1)
			return 0;
		for (k = 1; k <= need; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if ((need == 1 && cp < 0x80) || (need == 2 && cp < 0x800) ||
		    (need == 3 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += need + 1;
	}
	return 1;
}

int
proto_addr_valid(const Relay__V1__Address *a)
{
	if (a == NULL)
		return 0;
	if (a->ip.len != 4 && a->ip.len != 16)
		return 0;
	return a->port >= 1 && a->port <= 65535;
}

/*
 * A local address a client reports for direct paths: an address a peer
 * could connect to. Not unspecified, not multicast (nor the IPv4
 * broadcast address), and with a port.
 */
int
proto_local_addr_valid(const Relay__V1__Address *a)
{
	static const uint8_t	 zero[16];
	const uint8_t		*ip;

	if (!proto_addr_valid(a))
		return 0;
	ip = a->ip.data;
	if (memcmp(ip, zero, a->ip.len) == 0)
		return 0;
	if (a->ip.len == 4)
		return (ip[0] & 0xf0) != 0xe0 &&
		    !(ip[0] == 255 && ip[1] == 255 && ip[2] == 255 &&
		    ip[3] == 255);
	return ip[0] != 0xff;
}

static int
bad(char *err, size_t errlen, const char *why)
{
	snprintf(err, errlen, "%s", why);
	return -1;
}

static int
id_text_valid(const char *s)
{
	char	 norm[ID_BUFSZ];

	return s != NULL && id_normalize(s, norm) == 0;
}

static int
check_addrs(Relay__V1__Address **a, size_t n)
{
	size_t	 i;

	if (n > ADDR_MAX_COUNT)
		return 0;
	for (i = 0; i < n; i++)
		if (!proto_local_addr_valid(a[i]))
			return 0;
	return 1;
}

#define BYTES_LEN_IS(f, n)	((f).len == (n))

/* A lease or session ID of len bytes; what names it in the error. */
static int
check_id_len(ProtobufCBinaryData b, size_t len, const char *what,
    char *err, size_t errlen)
{
	if (b.len == len)
		return 0;
	snprintf(err, errlen, "%s must be %zu bytes", what, len);
	return -1;
}

/* A lease_id or session_id field: its name and length written once. */
#define check_lease_id(b, err, errlen)					\
	check_id_len((b), LEASE_ID_LEN, "lease_id", (err), (errlen))
#define check_session_id(b, err, errlen)				\
	check_id_len((b), SESSION_ID_LEN, "session_id", (err), (errlen))

/* The ALPN names of a Register or the one of a Connect. */
static int
check_alpns(char * const *alpn, size_t n, char *err, size_t errlen)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		if (!proto_alpn_valid(alpn[i]))
			return bad(err, errlen, "an ALPN name must be 1-32 "
			    "bytes of 0x21-0x7e");
	return 0;
}

/* The local addresses a Register or a Connect offers for direct paths. */
static int
check_local_addrs(Relay__V1__Address **a, size_t n, char *err,
    size_t errlen)
{
	if (!check_addrs(a, n))
		return bad(err, errlen, "bad local address (at most "
		    "8, none unspecified or multicast)");
	return 0;
}

static int
check_register(const Relay__V1__Register *r, char *err, size_t errlen)
{
	if (!proto_name_valid(r->name))
		return bad(err, errlen, "name must be 1-63 of [a-z0-9-], "
		    "not starting or ending with '-'");
	if (r->n_alpn < 1 || r->n_alpn > ALPN_MAX_COUNT)
		return bad(err, errlen, "a lease needs 1-8 ALPN names");
	if (check_alpns(r->alpn, r->n_alpn, err, errlen) == -1)
		return -1;
	if (!proto_text_valid(r->description, DESC_MAX_LEN))
		return bad(err, errlen, "description must be at most "
		    "256 bytes of UTF-8");
	return check_local_addrs(r->local_addrs, r->n_local_addrs, err,
	    errlen);
}

static int
check_connect(const Relay__V1__Connect *c, char *err, size_t errlen)
{
	if (c->target_case == RELAY__V1__CONNECT__TARGET_ID) {
		if (!id_text_valid(c->id))
			return bad(err, errlen, "id must be a "
			    "32-character relay ID");
	} else if (c->target_case == RELAY__V1__CONNECT__TARGET_NAME) {
		if (!proto_name_valid(c->name))
			return bad(err, errlen, "bad lease name");
	} else
		return bad(err, errlen, "connect needs an id or a name");
	if (check_alpns(&c->alpn, 1, err, errlen) == -1)
		return -1;
	return check_local_addrs(c->local_addrs, c->n_local_addrs, err,
	    errlen);
}

int
proto_check_client(const ClientMessage *m, char *err, size_t errlen)
{
	switch (m->msg_case) {
	case RELAY__V1__CLIENT_MESSAGE__MSG_REGISTER:
		return check_register(m->register_, err, errlen);
	case RELAY__V1__CLIENT_MESSAGE__MSG_RENEW:
		return check_lease_id(m->renew->lease_id, err, errlen);
	case RELAY__V1__CLIENT_MESSAGE__MSG_UNREGISTER:
		return check_lease_id(m->unregister->lease_id, err, errlen);
	case RELAY__V1__CLIENT_MESSAGE__MSG_CONNECT:
		return check_connect(m->connect, err, errlen);
	case RELAY__V1__CLIENT_MESSAGE__MSG_ACCEPT:
		return check_session_id(m->accept->session_id, err, errlen);
	case RELAY__V1__CLIENT_MESSAGE__MSG_REJECT:
		if (check_session_id(m->reject->session_id, err, errlen) == -1)
			return -1;
		if (!proto_text_valid(m->reject->reason, REASON_MAX_LEN))
			return bad(err, errlen, "reason must be at most 256 "
			    "bytes of UTF-8");
		return 0;
	case RELAY__V1__CLIENT_MESSAGE__MSG_PATH_REPORT:
		if (check_session_id(m->path_report->session_id, err,
		    errlen) == -1)
			return -1;
		if (m->path_report->outcome < RELAY__V1__PATH_OUTCOME__PATH_DIRECT ||
		    m->path_report->outcome > RELAY__V1__PATH_OUTCOME__PATH_ENDED)
			return bad(err, errlen, "unknown path outcome");
		return 0;
	case RELAY__V1__CLIENT_MESSAGE__MSG_LIST_LEASES:
	case RELAY__V1__CLIENT_MESSAGE__MSG_PING:
		return 0;
	default:
		return bad(err, errlen, "no message in the envelope");
	}
}

int
proto_check_relay(const RelayMessage *m, char *err, size_t errlen)
{
	size_t	 i, j;

	switch (m->msg_case) {
	case RELAY__V1__RELAY_MESSAGE__MSG_REGISTERED: {
		const Relay__V1__Registered	*r = m->registered;

		if (check_lease_id(r->lease_id, err, errlen) == -1)
			return -1;
		if (!proto_name_valid(r->name))
			return bad(err, errlen, "bad lease name");
		if (r->observed_addr != NULL &&
		    !proto_addr_valid(r->observed_addr))
			return bad(err, errlen, "bad observed address");
		return 0;
	}
	case RELAY__V1__RELAY_MESSAGE__MSG_ACK:
	case RELAY__V1__RELAY_MESSAGE__MSG_PONG:
		return 0;
	case RELAY__V1__RELAY_MESSAGE__MSG_INCOMING: {
		const Relay__V1__Incoming	*in = m->incoming;

		if (!BYTES_LEN_IS(in->session_id, SESSION_ID_LEN) ||
		    !BYTES_LEN_IS(in->lease_id, LEASE_ID_LEN) ||
		    !BYTES_LEN_IS(in->token, TOKEN_LEN))
			return bad(err, errlen, "bad id or token length");
		if (!proto_alpn_valid(in->alpn) || !id_text_valid(in->from_id))
			return bad(err, errlen, "bad alpn or from_id");
		if ((in->from_addr != NULL &&
		    !proto_addr_valid(in->from_addr)) ||
		    !check_addrs(in->from_local_addrs, in->n_from_local_addrs))
			return bad(err, errlen, "bad address");
		return 0;
	}
	case RELAY__V1__RELAY_MESSAGE__MSG_CONNECTED: {
		const Relay__V1__Connected	*c = m->connected;

		if (!BYTES_LEN_IS(c->session_id, SESSION_ID_LEN) ||
		    !BYTES_LEN_IS(c->token, TOKEN_LEN))
			return bad(err, errlen, "bad id or token length");
		if (!id_text_valid(c->id))
			return bad(err, errlen, "bad peer id");
		if ((c->peer_addr != NULL && !proto_addr_valid(c->peer_addr)) ||
		    !check_addrs(c->peer_local_addrs, c->n_peer_local_addrs))
			return bad(err, errlen, "bad address");
		return 0;
	}
	case RELAY__V1__RELAY_MESSAGE__MSG_LEASE_LIST:
		for (i = 0; i < m->lease_list->n_leases; i++) {
			const Relay__V1__LeaseInfo *l = m->lease_list->leases[i];

			if (!proto_name_valid(l->name) || !id_text_valid(l->id) ||
			    !proto_text_valid(l->description, DESC_MAX_LEN) ||
			    l->n_alpn < 1 || l->n_alpn > ALPN_MAX_COUNT)
				return bad(err, errlen, "bad lease entry");
			for (j = 0; j < l->n_alpn; j++)
				if (!proto_alpn_valid(l->alpn[j]))
					return bad(err, errlen, "bad lease alpn");
		}
		return 0;
	case RELAY__V1__RELAY_MESSAGE__MSG_ERROR:
		if (!proto_text_valid(m->error->message, REASON_MAX_LEN))
			return bad(err, errlen, "bad error message text");
		return 0;
	case RELAY__V1__RELAY_MESSAGE__MSG_NOTICE:
		if (!proto_text_valid(m->notice->message, REASON_MAX_LEN))
			return bad(err, errlen, "bad notice text");
		if (m->notice->lease_id.len == 0)
			return 0;
		return check_lease_id(m->notice->lease_id, err, errlen);
	default:
		return bad(err, errlen, "no message in the envelope");
	}
}

/* names[i], or unknown for an i outside the table. */
static const char *
name_of(const char * const *names, size_t n, int i, const char *unknown)
{
	if (i < 0 || (size_t)i >= n)
		return unknown;
	return names[i];
}

const char *
proto_error_name(int code)
{
	static const char *names[] = {
		"ERR_NONE", "ERR_NOT_FOUND", "ERR_ALPN_MISMATCH",
		"ERR_REJECTED", "ERR_NAME_TAKEN", "ERR_LIMIT",
		"ERR_RATE_LIMITED", "ERR_BAD_REQUEST", "ERR_UNAUTHORIZED",
		"ERR_TIMEOUT", "ERR_SHUTTING_DOWN", "ERR_INTERNAL"
	};

	return name_of(names, sizeof(names) / sizeof(names[0]), code,
	    "ERR_UNKNOWN");
}

const char *
proto_client_msg_name(int which)
{
	static const char *names[] = {
		"none", "register", "renew", "unregister", "connect", "accept",
		"reject", "list_leases", "ping", "path_report"
	};

	return name_of(names, sizeof(names) / sizeof(names[0]), which,
	    "unknown");
}

const char *
proto_relay_msg_name(int which)
{
	static const char *names[] = {
		"none", "registered", "ack", "incoming", "connected",
		"lease_list", "pong", "error", "notice"
	};

	return name_of(names, sizeof(names) / sizeof(names[0]), which,
	    "unknown");
}

/*
 * A Connect's target: the lease of id when one is given (not NULL or
 * ""), else the lease named name.
 */
void
proto_connect_target(Relay__V1__Connect *c, const char *id, const char *name)
{
	if (id != NULL && id[0] != '\0') {
		c->target_case = RELAY__V1__CONNECT__TARGET_ID;
		c->id = (char *)id;
	} else {
		c->target_case = RELAY__V1__CONNECT__TARGET_NAME;
		c->name = (char *)name;
	}
}
