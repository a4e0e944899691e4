/* SPDX-License-Identifier: ISC */
/*
 * fuzz_client.c: relay-client's handling of what a relay sends on a
 * control connection: relay.c (records, unpacking, checks, matching
 * answers to requests, the owner's callbacks) and the owners that act on
 * RelayMessages: the LeaseManager (lease.c: Registered, renewals, Error,
 * Incoming, Notice), list (list.c: LeaseList pages) and connect
 * (connect.c: Connected, Error).
 *
 * relay.c, lease.c, list.c and connect.c are compiled into this file, so
 * their static functions can be reached; the rest of relay-client is
 * linked as it is (main() renamed). The control connection is a
 * socketpair whose record keys are fixed; the handshake is the
 * handshake target's business, so the connection starts established,
 * the way relay_established() leaves it. The relay is played by the
 * input: messages (most of them answering a request that is waiting, by
 * its request_id), raw bytes, a close record, the end of the
 * connection, reading what the client sent or letting it pile up, and
 * the renewal timer.
 *
 * Beyond "no crash": every record relay-client sends opens and carries a
 * ClientMessage that passes proto_check_client() (a client never sends
 * what a relay must refuse); list prints a terminal-safe table, or with
 * -j one valid JSON document, whenever it ends with success.
 */
#include "config.h"

#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "../../relay-client/relay.c"
#include "../../relay-client/lease.c"
#include "../../relay-client/list.c"
#include "../../relay-client/connect.c"

#include "fuzz.h"
#include "json_check.h"

#define RELAY_ID_TEXT	"p6nzz6hzra46cm6aeej3blmwjyyjbbib"

static const uint8_t	 key_c2r[HS_KEY_LEN] = "client to relay, fuzzing keys..";
static const uint8_t	 key_r2c[HS_KEY_LEN] = "relay to client, fuzzing keys..";
static const uint8_t	 seed_i[32] = "the client identity of fuzzing.";

static struct identity	 client_ident;
static struct proto_arena arena;

struct fake_relay {
	int			 fd;		/* our end of the socketpair */
	struct rec_layer	 tx, rx;	/* r2c, c2r: an error in one
						   direction (a record after
						   our close) stays there */
	uint8_t			 in[2 * REC_MAX_FRAME];
	size_t			 inlen;
	int			 in_broken;	/* the client's stream ended */
	int			 eof_sent;
};

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	int	 fd;

	fz_quiet();
	signal(SIGPIPE, SIG_IGN);	/* as the program does */
	/* a Connected could give connect.c the terminal: give it nothing */
	if ((fd = open("/dev/null", O_RDWR | O_CLOEXEC)) == -1 ||
	    dup2(fd, STDIN_FILENO) == -1 || dup2(fd, STDOUT_FILENO) == -1)
		abort();
	close(fd);
	log_init(LOG_TO_STDERR, 2, 0);
	setenv("TZ", "UTC", 1);
	tzset();
	if (identity_from_seed(&client_ident, seed_i) == -1 ||
	    proto_arena_init(&arena, PROTO_ARENA_RELAY) == -1)
		abort();
	return 0;
}

static void
opts_fake(struct client_opts *o)
{
	memset(o, 0, sizeof(*o));
	strlcpy(o->relay_host, "127.0.0.1", sizeof(o->relay_host));
	strlcpy(o->relay_port, "1", sizeof(o->relay_port));
	strlcpy(o->relay_name, "fuzz:1", sizeof(o->relay_name));
	strlcpy(o->pin, RELAY_ID_TEXT, sizeof(o->pin));
	o->pin_given = 1;
	o->ident = client_ident;	/* shares the key; never cleared */
}

/*
 * What relay_try_next() and relay_established() leave behind for a
 * relay that answered the handshake, then the owner's ready callback,
 * as relay_process() calls it.
 */
static int
fake_connect(struct relay_client *rc, struct fake_relay *fr)
{
	int	 sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
	    sv) == -1)
		abort();
	rc->fd = sv[0];
	fr->fd = sv[1];
	fr->inlen = 0;
	fr->in_broken = fr->eof_sent = 0;
	if (rec_init(&rc->rec, key_c2r, key_r2c) == -1 ||
	    rec_init(&fr->tx, key_r2c, key_c2r) == -1 ||
	    rec_init(&fr->rx, key_r2c, key_c2r) == -1)
		abort();
	rc->rec_ready = 1;
	strlcpy(rc->addr_str, "fuzz", sizeof(rc->addr_str));
	strlcpy(rc->relay_id, RELAY_ID_TEXT, sizeof(rc->relay_id));
	if ((rc->ev_read = event_new(rc->base, rc->fd, EV_READ | EV_PERSIST,
	    relay_read_cb, rc)) == NULL ||
	    (rc->ev_write = event_new(rc->base, rc->fd, EV_WRITE | EV_PERSIST,
	    relay_write_cb, rc)) == NULL)
		abort();
	event_add(rc->ev_read, NULL);
	rc->state = RC_READY;
	mono_now(&rc->last_heard);
	mono_now(&rc->last_sent);
	relay_arm_timer(rc, 1);
	rc->in_cb++;
	rc->cb->ready(rc, rc->arg);
	rc->in_cb--;
	return relay_gone(rc) ? -1 : 0;
}

/* Read what the client sent: every record authentic, every message valid. */
static void
relay_drain(struct fake_relay *fr)
{
	ssize_t	 n;

	for (;;) {
		n = read(fr->fd, fr->in + fr->inlen, sizeof(fr->in) - fr->inlen);
		if (n <= 0)
			break;
		fr->inlen += n;
		fz_rec_drain(&fr->rx, fr->in, &fr->inlen, &fr->in_broken,
		    &arena, 0);
	}
}

static void
relay_send_record(struct fake_relay *fr, int type, const uint8_t *p,
    size_t len)
{
	uint8_t	 frame[REC_MAX_FRAME];
	ssize_t	 n;

	if (fr->eof_sent ||
	    (n = rec_seal(&fr->tx, type, p, len, frame, sizeof(frame))) < 0)
		return;
	(void)write(fr->fd, frame, n);	/* a full socket drops it: fine */
}

/*
 * The request_id of the message in m's envelope, NULL for a kind without
 * one: the oneof's case is its field number (protobuf-c), and every kind
 * that answers a request has a request_id field.
 */
static uint32_t *
reply_request_id(RelayMessage *m)
{
	const ProtobufCFieldDescriptor	*fd;
	ProtobufCMessage		*sub;

	fd = protobuf_c_message_descriptor_get_field(m->base.descriptor,
	    m->msg_case);
	if (fd == NULL || fd->type != PROTOBUF_C_TYPE_MESSAGE)
		return NULL;
	memcpy(&sub, (uint8_t *)m + fd->offset, sizeof(sub));
	fd = protobuf_c_message_descriptor_get_field_by_name(sub->descriptor,
	    "request_id");
	return fd != NULL ? (uint32_t *)(void *)((uint8_t *)sub + fd->offset) :
	    NULL;
}

/* Give a RelayMessage the request_id of a request that waits for one. */
static size_t
answer_request(struct relay_client *rc, uint8_t *buf, size_t len,
    size_t max, unsigned int which)
{
	RelayMessage		*m;
	struct relay_request	*rq;
	uint32_t		 id = 0, *f = NULL;
	size_t			 n;

	TAILQ_FOREACH(rq, &rc->requests, entry)
		if (which-- == 0 || TAILQ_NEXT(rq, entry) == NULL) {
			id = rq->id;
			break;
		}
	if (id == 0 ||
	    (m = relay__v1__relay_message__unpack(NULL, len, buf)) == NULL)
		return len;
	f = reply_request_id(m);
	if (f != NULL)
		*f = id;
	n = len;
	if (protobuf_c_message_get_packed_size(&m->base) <= max)
		n = protobuf_c_message_pack(&m->base, buf);
	relay__v1__relay_message__free_unpacked(m, NULL);
	return n;
}

static void
loop_run(struct event_base *base)
{
	int	 i;

	for (i = 0; i < 4; i++)
		event_base_loop(base, EVLOOP_NONBLOCK);
}

/* The owners' side: what the LeaseManager tells expose. */
static int	lease_ended_code = -1;

static void
fz_incoming(struct lease_mgr *lm, Relay__V1__Incoming *in, void *arg)
{
	int	*choice = arg;

	FZ_CHECK(in->session_id.len == SESSION_ID_LEN);
	if (*choice & 1)
		(void)lease_mgr_accept(lm, in->session_id.data,
		    (*choice & 2) != 0);
	else
		(void)lease_mgr_reject(lm, in->session_id.data, "not now");
}

static void
fz_ended(struct lease_mgr *lm, int code, const char *why, void *arg)
{
	lease_ended_code = code;
}

static const struct lease_cb fz_lease_cb = {
	.incoming = fz_incoming,
	.ended = fz_ended
};

/* The relay, played by the input, until the input or the client ends. */
static void
play_relay(struct fz *f, struct event_base *base,
    struct relay_client **rcp, struct fake_relay *fr,
    struct lease_mgr *lm)
{
	static uint8_t	 msg[REC_MAX_PAYLOAD];
	size_t		 len, got;
	const uint8_t	*p;
	uint8_t		 op;
	int		 steps = 0;

	while (fz_more(f) && steps++ < 48) {
		struct relay_client *rc = lm != NULL ? lm->rc : *rcp;

		if (rc == NULL || rc->dead || rc->state == RC_CLOSED)
			break;
		op = fz_u8(f);
		switch (op % 8) {
		case 0:		/* a message answering a waiting request */
		case 1:
		case 2:		/* a message as it is */
			len = fz_u16(f) % 2048;
			p = fz_take(f, len, &got);
			memcpy(msg, p, got);
			if (op % 8 != 2)
				got = answer_request(rc, msg, got, sizeof(msg),
				    op / 8 % 4);
			relay_send_record(fr, REC_TYPE_DATA, msg, got);
			break;
		case 3:		/* raw bytes on the connection */
			p = fz_take(f, fz_u8(f), &got);
			if (!fr->eof_sent)
				(void)write(fr->fd, p, got);
			break;
		case 4:		/* the relay's close record */
			relay_send_record(fr, REC_TYPE_CLOSE, NULL, 0);
			break;
		case 5:		/* the end of the connection */
			shutdown(fr->fd, SHUT_WR);
			fr->eof_sent = 1;
			break;
		case 6:		/* time for the renewal */
			if (lm != NULL)
				lease_renew_cb(-1, EV_TIMEOUT, lm);
			break;
		case 7:		/* the relay stops reading for a while */
			loop_run(base);
			continue;
		}
		loop_run(base);
		relay_drain(fr);
	}
	loop_run(base);
	relay_drain(fr);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct event_base	*base;
	struct fake_relay	 fr;
	struct fz		 f;
	uint8_t			 mode;
	int			 choice;

	fz_init(&f, data, size);
	mode = fz_u8(&f);
	choice = mode >> 2;
	if ((base = event_base_new()) == NULL)
		abort();
	memset(&fr, 0, sizeof(fr));
	fr.fd = -1;

	switch (mode % 4) {
	case 0: {	/* expose's LeaseManager */
		static struct client_opts	 opts;
		struct lease_params		 lp;
		struct lease_mgr		*lm;

		opts_fake(&opts);
		memset(&lp, 0, sizeof(lp));
		lp.name = "myssh";
		lp.alpn[0] = "ssh";
		lp.nalpn = 1;
		lp.description = "fuzzing";
		lp.ttl = 60;
		lease_ended_code = -1;
		if ((lm = lease_mgr_new(base, &opts, &lp, &fz_lease_cb,
		    &choice)) == NULL ||
		    (lm->rc = relay_new(base, &opts, &lease_relay_cb, lm)) ==
		    NULL)
			abort();
		if (fake_connect(lm->rc, &fr) == 0) {
			play_relay(&f, base, NULL, &fr, lm);
			if (choice & 2) {
				lease_mgr_stop(lm);
				loop_run(base);
				relay_drain(&fr);
			}
		}
		lease_mgr_free(lm);
		break;
	}
	case 1: {	/* relay-client list [-j] */
		static struct lister	 l;
		char			*out;

		memset(&l, 0, sizeof(l));
		opts_fake(&l.opts);
		l.json = choice & 1;
		l.base = base;
		if ((l.out = open_memstream(&l.outbuf, &l.outlen)) == NULL ||
		    (l.rc = relay_new(base, &l.opts, &list_relay_cb, &l)) ==
		    NULL)
			abort();
		if (fake_connect(l.rc, &fr) == 0)
			play_relay(&f, base, &l.rc, &fr, NULL);
		relay_free(l.rc);
		if (fclose(l.out) != 0)
			abort();
		out = l.outbuf;
		if (l.done && l.exit_code == EXIT_OK) {
			if (l.json && !json_lines_valid(out, l.outlen, 0)) {
				dprintf(2, "not JSON:\n%.*s\n", (int)l.outlen,
				    out);
				FZ_CHECK(!"list -j printed what is not JSON");
			}
			if (!l.json)
				FZ_CHECK(terminal_text_valid(out, l.outlen));
		}
		free(out);
		break;
	}
	default: {	/* relay-client connect, by name or by ID */
		static struct connector	 c;

		memset(&c, 0, sizeof(c));
		opts_fake(&c.opts);
		c.base = base;
		c.target = mode % 4 == 2 ? "myssh" : RELAY_ID_TEXT;
		c.alpn = "ssh";
		if (connect_target_parse(c.target, c.id, c.name) == -1 ||
		    (c.rc = relay_new(base, &c.opts, &connect_relay_cb, &c)) ==
		    NULL)
			abort();
		if (fake_connect(c.rc, &fr) == 0)
			play_relay(&f, base, &c.rc, &fr, NULL);
		FZ_CHECK(!c.done || (c.exit_code >= EXIT_OK &&
		    c.exit_code <= EXIT_SESSION));
		if (c.sc != NULL)
			secure_free(c.sc);
		relay_free(c.rc);
		break;
	}
	}
	if (fr.fd != -1)
		close(fr.fd);
	rec_clear(&fr.tx);
	rec_clear(&fr.rx);
	event_base_free(base);
	return 0;
}
