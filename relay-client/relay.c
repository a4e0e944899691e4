/* SPDX-License-Identifier: ISC */
/*
 * relay.c: the RelayClient, one control connection to a relay
 * (relay-protocol(7)): a non-blocking TCP connect (each address of the
 * relay's name in turn), the preamble "RLY" 01 "C", the handshake as
 * initiator with the relay's pinned ID expected (or, on a first use,
 * any ID, then stored in known_relays), then records each carrying one
 * protobuf message.
 *
 * Requests get a non-zero request_id and a callback; answers are matched
 * by it. Messages that answer nothing (Incoming, Notice, an Error with
 * request_id 0) go to the owner's message callback. A Ping goes out after
 * 30 seconds without sending anything; a relay silent for longer than
 * CLIENT_DEAD_AFTER is given up on.
 *
 * Every RelayMessage is unpacked with the bounded arena and checked with
 * proto_check_relay() before anyone looks at it; a malformed one ends the
 * connection. Owners' callbacks are only called from this file's event
 * handlers, never from a function an owner calls, so an owner may free
 * the client from inside any callback: the handlers notice and stop.
 */
#include "config.h"

#include <sys/socket.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "relay-client.h"

static void	relay_read_cb(int, short, void *);
static void	relay_write_cb(int, short, void *);
static void	relay_timer_cb(int, short, void *);
static void	relay_fail(struct relay_client *, int, const char *, ...)
		    __attribute__((format(printf, 3, 4)));
static int	relay_gone(struct relay_client *);
static void	relay_destroy(struct relay_client *);
static void	relay_try_next(struct relay_client *);

/*
 * A failure found where no callback may run (in a function an owner
 * called): it is reported from the timer handler, right away.
 */
static void
relay_fail_later(struct relay_client *rc, int code, const char *why)
{
	if (rc->pending)
		return;
	rc->pending = 1;
	rc->pending_code = code;
	strlcpy(rc->why, why, sizeof(rc->why));
	event_active(rc->ev_timer, EV_TIMEOUT, 1);
}

struct relay_client *
relay_new(struct event_base *base, struct client_opts *opts,
    const struct relay_cb *cb, void *arg)
{
	struct relay_client	*rc;

	if ((rc = calloc(1, sizeof(*rc))) == NULL)
		return NULL;
	rc->base = base;
	rc->opts = opts;
	rc->cb = cb;
	rc->arg = arg;
	rc->fd = -1;
	rc->state = RC_IDLE;
	TAILQ_INIT(&rc->requests);
	rc->next_request_id = 1;
	if ((rc->in = buf_new(0, 2 * REC_MAX_FRAME)) == NULL ||
	    (rc->out = buf_new(0, CONTROL_OUT_MAX)) == NULL ||
	    proto_arena_init(&rc->arena, PROTO_ARENA_CLIENT) == -1 ||
	    (rc->ev_timer = evtimer_new(base, relay_timer_cb, rc)) == NULL) {
		relay_destroy(rc);
		return NULL;
	}
	return rc;
}

/*
 * Start connecting. Everything that follows, failures included, is
 * reported through the callbacks, from the event loop.
 */
void
relay_connect(struct relay_client *rc)
{
	char	 err[512], why[600];

	if (net_resolve(rc->opts->relay_host, rc->opts->relay_port, 0,
	    &rc->ai_list, err, sizeof(err)) == -1) {
		snprintf(why, sizeof(why), "cannot resolve the relay %s", err);
		relay_fail_later(rc, EXIT_UNREACHABLE, why);
		return;
	}
	rc->ai_next = rc->ai_list;
	rc->state = RC_IDLE;
	event_active(rc->ev_timer, EV_TIMEOUT, 1);
}

static void
relay_close_fd(struct relay_client *rc)
{
	client_event_free(&rc->ev_read);
	client_event_free(&rc->ev_write);
	rc->write_on = 0;
	net_close(&rc->fd);
}

static void
relay_write_on(struct relay_client *rc, int on)
{
	client_event_want(rc->ev_write, &rc->write_on, 1, on);
}

static void
relay_arm_timer(struct relay_client *rc, int seconds)
{
	struct timeval	 tv = { seconds, 0 };

	evtimer_add(rc->ev_timer, &tv);
}

/* Connect to the next address of the relay's name, if any is left. */
static void
relay_try_next(struct relay_client *rc)
{
	struct addrinfo	*ai;
	uint8_t		*p;

	relay_close_fd(rc);
	while ((ai = rc->ai_next) != NULL) {
		rc->ai_next = ai->ai_next;
		sockaddr_fmt(ai->ai_addr, rc->addr_str, sizeof(rc->addr_str));
		/* direct paths start from this connection's port */
		if ((rc->fd = rc->opts->direct == DIRECT_OFF ?
		    net_connect_start(ai->ai_addr, ai->ai_addrlen) :
		    net_connect_reuse(ai->ai_addr, ai->ai_addrlen, NULL,
		    0)) == -1) {
			rc->connect_errno = errno;
			log_debug("relay %s: %s", rc->addr_str,
			    strerror(errno));
			continue;
		}
		memcpy(&rc->addr, ai->ai_addr, ai->ai_addrlen);
		rc->addrlen = ai->ai_addrlen;
		break;
	}
	if (rc->fd == -1) {
		relay_fail(rc, EXIT_UNREACHABLE, "cannot connect to the relay "
		    "%s: %s", rc->opts->relay_name,
		    strerror(rc->connect_errno ? rc->connect_errno :
		    EHOSTUNREACH));
		return;
	}
	log_debug("relay %s: connecting to %s", rc->opts->relay_name,
	    rc->addr_str);
	rc->state = RC_CONNECTING;
	buf_reset(rc->in);
	buf_reset(rc->out);
	/* preamble and M1 together: the relay never answers the preamble */
	if (handshaker_init(&rc->hsk, HS_INITIATOR,
	    (const uint8_t *)HS_CTX_CONTROL, sizeof(HS_CTX_CONTROL) - 1,
	    &rc->opts->ident, rc->opts->pin) == -1 ||
	    (p = iobuf_space(rc->out, PREAMBLE_LEN)) == NULL) {
		relay_fail(rc, EXIT_ERROR, "handshake setup: %s",
		    handshaker_error(&rc->hsk));
		return;
	}
	memcpy(p, PREAMBLE_MAGIC, PREAMBLE_MAGIC_LEN);
	p[PREAMBLE_MAGIC_LEN] = PREAMBLE_CONTROL;
	iobuf_commit(rc->out, PREAMBLE_LEN);
	if (handshaker_start(&rc->hsk, rc->out) == -1) {
		relay_fail(rc, EXIT_ERROR, "handshake setup: %s",
		    handshaker_error(&rc->hsk));
		return;
	}
	if ((rc->ev_read = event_new(rc->base, rc->fd, EV_READ | EV_PERSIST,
	    relay_read_cb, rc)) == NULL ||
	    (rc->ev_write = event_new(rc->base, rc->fd, EV_WRITE | EV_PERSIST,
	    relay_write_cb, rc)) == NULL) {
		relay_fail(rc, EXIT_ERROR, "event_new failed");
		return;
	}
	relay_write_on(rc, 1);
	relay_arm_timer(rc, CLIENT_CONNECT_TIMEOUT);
}

/* Seal one record into the output; -1 if it does not fit. */
static int
relay_queue_record(struct relay_client *rc, int type, const uint8_t *pt,
    size_t len)
{
	uint8_t	*p;
	ssize_t	 n;

	if ((p = iobuf_space(rc->out, FRAME_HDR_LEN + 1 + len +
	    AEAD_TAG_LEN)) == NULL)
		return -1;
	if ((n = rec_seal(&rc->rec, type, pt, len, p,
	    FRAME_HDR_LEN + 1 + len + AEAD_TAG_LEN)) < 0)
		return -1;
	iobuf_commit(rc->out, n);
	mono_now(&rc->last_sent);
	relay_write_on(rc, 1);
	return 0;
}

/* Queue one message. -1 if the connection is not ready or is broken. */
int
relay_send(struct relay_client *rc, ClientMessage *m)
{
	uint8_t	 pt[REC_MAX_PAYLOAD];
	ssize_t	 n;

	if (rc->dead || rc->state != RC_READY)
		return -1;
	if ((n = proto_pack_client(m, pt, sizeof(pt))) < 0) {
		log_warnx("cannot pack a %s message",
		    proto_client_msg_name(m->msg_case));
		return -1;
	}
	if (relay_queue_record(rc, REC_TYPE_DATA, pt, n) == -1) {
		relay_fail_later(rc, EXIT_UNREACHABLE, rc->rec.failed ?
		    rc->rec.error : "the relay does not read its control "
		    "connection");
		return -1;
	}
	log_trace("relay %s: sent %s (%zd bytes)", rc->opts->relay_name,
	    proto_client_msg_name(m->msg_case), n);
	return 0;
}

/* The request_id field of each message that has one. */
static uint32_t *
request_id_field(ClientMessage *m)
{
	switch (m->msg_case) {
	case RELAY__V1__CLIENT_MESSAGE__MSG_REGISTER:
		return &m->register_->request_id;
	case RELAY__V1__CLIENT_MESSAGE__MSG_RENEW:
		return &m->renew->request_id;
	case RELAY__V1__CLIENT_MESSAGE__MSG_UNREGISTER:
		return &m->unregister->request_id;
	case RELAY__V1__CLIENT_MESSAGE__MSG_CONNECT:
		return &m->connect->request_id;
	case RELAY__V1__CLIENT_MESSAGE__MSG_LIST_LEASES:
		return &m->list_leases->request_id;
	default:
		return NULL;
	}
}

/*
 * Send a request; cb gets the answer (Error included), or NULL if the
 * connection ends or the relay does not answer in time.
 */
int
relay_request(struct relay_client *rc, ClientMessage *m, uint32_t *idp,
    relay_reply_cb cb, void *arg)
{
	struct relay_request	*rq;
	uint32_t		*f;

	if ((f = request_id_field(m)) == NULL)
		return -1;
	if ((rq = calloc(1, sizeof(*rq))) == NULL)
		return -1;
	rq->id = rc->next_request_id++;
	if (rc->next_request_id == 0)
		rc->next_request_id = 1;
	*f = rq->id;
	if (relay_send(rc, m) == -1) {
		free(rq);
		return -1;
	}
	rq->cb = cb;
	rq->arg = arg;
	mono_now(&rq->deadline);
	rq->deadline.tv_sec += CLIENT_REQUEST_TIMEOUT;
	TAILQ_INSERT_TAIL(&rc->requests, rq, entry);
	if (idp != NULL)
		*idp = rq->id;
	return 0;
}

/* Forget a request: its answer, if one comes, is dropped. */
void
relay_cancel(struct relay_client *rc, uint32_t id)
{
	struct relay_request	*rq;

	TAILQ_FOREACH(rq, &rc->requests, entry)
		if (rq->id == id) {
			TAILQ_REMOVE(&rc->requests, rq, entry);
			free(rq);
			return;
		}
}

/* End the connection cleanly: our close record, then the relay's. */
void
relay_finish(struct relay_client *rc)
{
	if (rc->dead)
		return;
	if (rc->state != RC_READY) {
		relay_fail_later(rc, EXIT_OK, "closed");
		return;
	}
	rc->state = RC_CLOSING;
	if (relay_queue_record(rc, REC_TYPE_CLOSE, NULL, 0) == -1) {
		relay_fail_later(rc, EXIT_OK, "closed");
		return;
	}
	relay_arm_timer(rc, CLIENT_CLOSE_TIMEOUT);
}

int
relay_is_ready(const struct relay_client *rc)
{
	return rc != NULL && !rc->dead && rc->state == RC_READY;
}

/* The relay said it was stopping (Notice SHUTTING_DOWN): a clean end. */
int
relay_stopped(const struct relay_client *rc)
{
	return rc != NULL && rc->relay_stopping;
}

const struct sockaddr *
relay_peer_addr(const struct relay_client *rc, socklen_t *len)
{
	*len = rc->addrlen;
	return (const struct sockaddr *)&rc->addr;
}

/* Our end of the control connection (length 0 if unknown). */
const struct sockaddr *
relay_local_addr(const struct relay_client *rc, socklen_t *len)
{
	*len = rc->locallen;
	return (const struct sockaddr *)&rc->local;
}

/* relay_local_addr() as a message's Address (ip its bytes): 0, or -1. */
int
relay_local_proto(const struct relay_client *rc, Relay__V1__Address *a,
    uint8_t ip[16])
{
	socklen_t	 len;

	return net_addr_to_proto(relay_local_addr(rc, &len), a, ip);
}

/*
 * A command that needs rc no more ends with status code, the first one
 * set counting (*done says whether one was): rc, if it is still open,
 * closes politely and its closed callback ends the loop; else the loop
 * ends now.
 */
void
relay_end(struct relay_client *rc, struct event_base *base, int *done,
    int *exit_code, int code)
{
	if (!*done) {
		*done = 1;
		*exit_code = code;
	}
	if (relay_is_ready(rc)) {
		relay_finish(rc);
		return;
	}
	event_base_loopbreak(base);
}

/* Free now, or once the callback that called us has returned. */
void
relay_free(struct relay_client *rc)
{
	struct relay_request	*rq;

	if (rc == NULL || rc->dead)
		return;
	rc->dead = 1;
	relay_close_fd(rc);
	while ((rq = TAILQ_FIRST(&rc->requests)) != NULL) {
		TAILQ_REMOVE(&rc->requests, rq, entry);
		free(rq);
	}
	if (rc->in_cb == 0)
		relay_destroy(rc);
}

static void
relay_destroy(struct relay_client *rc)
{
	relay_close_fd(rc);
	client_event_free(&rc->ev_timer);
	if (rc->ai_list != NULL)
		freeaddrinfo(rc->ai_list);
	handshaker_clear(&rc->hsk);
	if (rc->rec_ready)
		rec_clear(&rc->rec);
	buf_free(rc->in);
	buf_free(rc->out);
	proto_arena_free(&rc->arena);
	free(rc);
}

/* After calling out: 1 if the owner freed us (and we are gone now). */
static int
relay_gone(struct relay_client *rc)
{
	if (!rc->dead)
		return 0;
	if (rc->in_cb == 0)
		relay_destroy(rc);
	return 1;
}

/*
 * The end: fail what is pending, then tell the owner. The caller returns
 * right after, touching nothing of rc.
 */
static void
relay_fail(struct relay_client *rc, int code, const char *fmt, ...)
{
	struct relay_request	*rq;
	va_list			 ap;

	if (rc->dead || rc->state == RC_CLOSED)
		return;
	va_start(ap, fmt);
	vsnprintf(rc->why, sizeof(rc->why), fmt, ap);
	va_end(ap);
	log_debug("relay %s: %s", rc->opts->relay_name, rc->why);
	relay_close_fd(rc);
	evtimer_del(rc->ev_timer);
	rc->state = RC_CLOSED;
	rc->in_cb++;
	while ((rq = TAILQ_FIRST(&rc->requests)) != NULL && !rc->dead) {
		TAILQ_REMOVE(&rc->requests, rq, entry);
		rq->cb(rc, NULL, code == EXIT_OK ? EXIT_UNREACHABLE : code,
		    rc->why, rq->arg);
		free(rq);
	}
	if (!rc->dead)
		rc->cb->closed(rc, code, rc->why, rc->arg);
	rc->in_cb--;
	(void)relay_gone(rc);
}

/* The handshake failed: say why in the words a user can act on. */
static void
relay_handshake_failed(struct relay_client *rc)
{
	struct client_opts	*o = rc->opts;
	const char		*peer = handshaker_peer_id(&rc->hsk);

	if (peer[0] != '\0' && o->pin[0] != '\0' && strcmp(peer, o->pin) != 0) {
		if (o->pin_given)
			relay_fail(rc, EXIT_RELAY_KEY, "the relay %s has ID "
			    "%s, not the ID given with -K (%s): check -K, or "
			    "this is not the relay you meant", o->relay_name,
			    peer, o->pin);
		else
			relay_fail(rc, EXIT_RELAY_KEY, "RELAY ID CHANGED: "
			    "the relay %s now has ID %s, but %s:%d pins %s. "
			    "Someone may be intercepting the connection, or "
			    "the relay's identity was replaced. Only if the "
			    "relay's operator confirms that its ID is now %s, "
			    "remove line %d (%s) from %s, or pass -K %s",
			    o->relay_name, peer, o->known_path, o->pin_line,
			    o->pin, peer, o->pin_line, o->relay_name,
			    o->known_path, peer);
		return;
	}
	relay_fail(rc, EXIT_UNREACHABLE, "control handshake with the relay "
	    "%s (%s) failed: %s", o->relay_name, rc->addr_str,
	    handshaker_error(&rc->hsk));
}

/* The handshake is done: keys, the relay's ID (stored on first use). */
static int
relay_established(struct relay_client *rc)
{
	struct client_opts	*o = rc->opts;
	const char		*peer = handshaker_peer_id(&rc->hsk);

	if (rec_init_from_hs(&rc->rec, &rc->hsk.hs) == -1) {
		relay_fail(rc, EXIT_ERROR, "cannot set up the record layer");
		return -1;
	}
	rc->rec_ready = 1;
	handshaker_clear(&rc->hsk);
	strlcpy(rc->relay_id, peer, sizeof(rc->relay_id));
	if (o->pin[0] == '\0') {
		/* trust on first use, loudly */
		log_warnx("first connection to the relay %s: its ID is %s",
		    o->relay_name, peer);
		if (known_relays_store(o, peer) == 0)
			log_warnx("stored in %s: from now on a different relay "
			    "ID for %s is refused. Compare it with the ID "
			    "the relay's operator publishes.", o->known_path,
			    o->relay_name);
		strlcpy(o->pin, peer, sizeof(o->pin));
	}
	rc->state = RC_READY;
	mono_now(&rc->last_heard);
	mono_now(&rc->last_sent);
	relay_arm_timer(rc, 1);
	log_debug("relay %s (%s): connected, relay ID %s", o->relay_name,
	    rc->addr_str, peer);
	return 0;
}

static void
relay_dispatch(struct relay_client *rc, RelayMessage *m)
{
	struct relay_request	*rq;
	uint32_t		 id = 0;

	switch (m->msg_case) {
	case RELAY__V1__RELAY_MESSAGE__MSG_PONG:
		return;
	case RELAY__V1__RELAY_MESSAGE__MSG_NOTICE:
		/* its close record follows: an orderly end, not a loss */
		if (m->notice->kind == RELAY__V1__NOTICE__KIND__SHUTTING_DOWN)
			rc->relay_stopping = 1;
		break;
	case RELAY__V1__RELAY_MESSAGE__MSG_REGISTERED:
		id = m->registered->request_id;
		break;
	case RELAY__V1__RELAY_MESSAGE__MSG_ACK:
		id = m->ack->request_id;
		break;
	case RELAY__V1__RELAY_MESSAGE__MSG_CONNECTED:
		id = m->connected->request_id;
		break;
	case RELAY__V1__RELAY_MESSAGE__MSG_LEASE_LIST:
		id = m->lease_list->request_id;
		break;
	case RELAY__V1__RELAY_MESSAGE__MSG_ERROR:
		id = m->error->request_id;
		break;
	default:
		break;
	}
	if (id != 0) {
		TAILQ_FOREACH(rq, &rc->requests, entry)
			if (rq->id == id)
				break;
		if (rq == NULL) {
			log_debug("relay %s: %s for request %u, which nobody "
			    "waits for", rc->opts->relay_name,
			    proto_relay_msg_name(m->msg_case), id);
			return;
		}
		TAILQ_REMOVE(&rc->requests, rq, entry);
		rc->in_cb++;
		rq->cb(rc, m, EXIT_OK, NULL, rq->arg);
		rc->in_cb--;
		free(rq);
		return;
	}
	rc->in_cb++;
	rc->cb->message(rc, m, rc->arg);
	rc->in_cb--;
}

/* Take every complete record from the input. */
static void
relay_process(struct relay_client *rc)
{
	uint8_t		 pt[REC_MAX_PAYLOAD];
	char		 err[128];
	RelayMessage	*m;
	ssize_t		 flen;
	size_t		 plen;
	int		 r;

	if (rc->state == RC_HANDSHAKE) {
		r = handshaker_step(&rc->hsk, rc->in, rc->out);
		if (buf_len(rc->out) > 0)
			relay_write_on(rc, 1);
		if (r == HSK_FAILED) {
			relay_handshake_failed(rc);
			return;
		}
		if (r == HSK_AGAIN)
			return;
		if (relay_established(rc) == -1)
			return;
		rc->in_cb++;
		rc->cb->ready(rc, rc->arg);
		rc->in_cb--;
		if (relay_gone(rc) || rc->state == RC_CLOSED)
			return;
	}
	while (rc->state == RC_READY || rc->state == RC_CLOSING) {
		if ((flen = rec_frame_len(buf_rptr(rc->in),
		    buf_len(rc->in))) < 0) {
			relay_fail(rc, EXIT_UNREACHABLE, "the relay sent a "
			    "record with a bad length");
			return;
		}
		if (flen == 0 || (size_t)flen > buf_len(rc->in))
			return;
		r = rec_open(&rc->rec, buf_rptr(rc->in), flen, pt,
		    sizeof(pt), &plen);
		iobuf_consume(rc->in, flen);
		if (r == REC_ERR) {
			relay_fail(rc, EXIT_UNREACHABLE, "control connection: "
			    "%s", rc->rec.error);
			return;
		}
		if (r == REC_CLOSE) {
			if (rc->state == RC_CLOSING)
				relay_fail(rc, EXIT_OK, "closed");
			else if (rc->relay_stopping)
				relay_fail(rc, EXIT_UNREACHABLE, "the relay %s "
				    "stopped", rc->opts->relay_name);
			else
				relay_fail(rc, EXIT_UNREACHABLE, "the relay %s "
				    "closed the control connection",
				    rc->opts->relay_name);
			return;
		}
		if ((m = proto_unpack_relay(&rc->arena, pt, plen)) == NULL) {
			relay_fail(rc, EXIT_UNREACHABLE, "the relay sent a "
			    "message that does not unpack%s",
			    rc->arena.exhausted ? " (too large)" : "");
			return;
		}
		if (proto_check_relay(m, err, sizeof(err)) == -1) {
			relay_fail(rc, EXIT_UNREACHABLE, "the relay sent a "
			    "bad %s message: %s",
			    proto_relay_msg_name(m->msg_case), err);
			return;
		}
		log_trace("relay %s: received %s", rc->opts->relay_name,
		    proto_relay_msg_name(m->msg_case));
		relay_dispatch(rc, m);
		if (relay_gone(rc) || rc->state == RC_CLOSED)
			return;
	}
}

static void
relay_read_cb(int fd, short ev, void *arg)
{
	struct relay_client	*rc = arg;
	ssize_t			 n;

	n = iobuf_read(rc->in, rc->fd, iobuf_free(rc->in));
	if (n == -1) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		if (errno == ENOBUFS) {
			relay_fail(rc, EXIT_UNREACHABLE, "control input "
			    "buffer full");
			return;
		}
		relay_fail(rc, EXIT_UNREACHABLE, "control connection to %s: "
		    "%s", rc->opts->relay_name, strerror(errno));
		return;
	}
	if (n == 0) {
		if (rc->state == RC_HANDSHAKE || rc->state == RC_CONNECTING)
			relay_fail(rc, EXIT_UNREACHABLE, "the relay %s closed "
			    "the connection during the handshake (is it a "
			    "relayd of the same protocol version?)",
			    rc->opts->relay_name);
		else if (rc->state == RC_CLOSING)
			relay_fail(rc, EXIT_OK, "closed");
		else
			relay_fail(rc, EXIT_UNREACHABLE, "the relay %s closed "
			    "the control connection", rc->opts->relay_name);
		return;
	}
	mono_now(&rc->last_heard);
	relay_process(rc);
}

static void
relay_write_cb(int fd, short ev, void *arg)
{
	struct relay_client	*rc = arg;

	if (rc->state == RC_CONNECTING) {
		if (net_connect_result(rc->fd) == -1) {
			rc->connect_errno = errno;
			log_debug("relay %s: %s", rc->addr_str,
			    strerror(errno));
			relay_try_next(rc);
			return;
		}
		rc->state = RC_HANDSHAKE;
		rc->locallen = sizeof(rc->local);
		if (getsockname(rc->fd, (struct sockaddr *)&rc->local,
		    &rc->locallen) == -1)
			rc->locallen = 0;
		event_add(rc->ev_read, NULL);
	}
	if (iobuf_write(rc->out, rc->fd) == -1) {
		if (errno == EAGAIN)
			return;
		relay_fail(rc, EXIT_UNREACHABLE, "control connection to %s: "
		    "%s", rc->opts->relay_name, strerror(errno));
		return;
	}
	if (buf_len(rc->out) > 0)
		return;
	relay_write_on(rc, 0);
	if (rc->state == RC_CLOSING && rc->rec.send.closed)
		(void)shutdown(rc->fd, SHUT_WR);
}

/* Deadlines, keepalive, answers that never came, deferred failures. */
static void
relay_timer_cb(int fd, short ev, void *arg)
{
	struct relay_client	*rc = arg;
	struct relay_request	*rq;
	struct timespec		 now;
	ClientMessage		 m = RELAY__V1__CLIENT_MESSAGE__INIT;
	Relay__V1__Ping		 ping = RELAY__V1__PING__INIT;

	if (rc->pending) {
		char	 why[sizeof(rc->why)];

		rc->pending = 0;
		strlcpy(why, rc->why, sizeof(why));
		relay_fail(rc, rc->pending_code, "%s", why);
		return;
	}
	switch (rc->state) {
	case RC_IDLE:
		relay_try_next(rc);
		return;
	case RC_CONNECTING:
	case RC_HANDSHAKE:
		if (rc->ai_next != NULL) {
			/* this address is silent: the next one may not be */
			log_debug("relay %s: no answer within %d seconds",
			    rc->addr_str, CLIENT_CONNECT_TIMEOUT);
			rc->connect_errno = ETIMEDOUT;
			relay_try_next(rc);
			return;
		}
		relay_fail(rc, EXIT_UNREACHABLE, "the relay %s (%s) did not "
		    "complete the handshake within %d seconds",
		    rc->opts->relay_name, rc->addr_str,
		    CLIENT_CONNECT_TIMEOUT);
		return;
	case RC_CLOSING:
		relay_fail(rc, EXIT_OK, "closed");
		return;
	case RC_CLOSED:
		return;
	case RC_READY:
		break;
	}
	mono_now(&now);
	while ((rq = TAILQ_FIRST(&rc->requests)) != NULL &&
	    (rq->deadline.tv_sec < now.tv_sec ||
	    (rq->deadline.tv_sec == now.tv_sec &&
	    rq->deadline.tv_nsec <= now.tv_nsec))) {
		TAILQ_REMOVE(&rc->requests, rq, entry);
		rc->in_cb++;
		rq->cb(rc, NULL, EXIT_TIMEOUT, "the relay did not answer in "
		    "time", rq->arg);
		rc->in_cb--;
		free(rq);
		if (relay_gone(rc) || rc->state == RC_CLOSED)
			return;
	}
	if (mono_since(&rc->last_heard) >= CLIENT_DEAD_AFTER) {
		relay_fail(rc, EXIT_UNREACHABLE, "the relay %s has not "
		    "answered for %d seconds", rc->opts->relay_name,
		    CLIENT_DEAD_AFTER);
		return;
	}
	if (mono_since(&rc->last_sent) >= KEEPALIVE_INTERVAL) {
		ping.nonce = ++rc->ping_nonce;
		m.msg_case = RELAY__V1__CLIENT_MESSAGE__MSG_PING;
		m.ping = &ping;
		(void)relay_send(rc, &m);
	}
	relay_arm_timer(rc, 1);
}

/* "code name: message" of an Error, for logs and users. */
int
relay_error_message(const Relay__V1__Error *e, char *out, size_t outlen)
{
	/* the relay's own words when it gave some, the code's name else */
	if (e->message != NULL && e->message[0] != '\0') {
		text_safe(out, outlen, e->message);
		return strlen(out);
	}
	return snprintf(out, outlen, "%s", proto_error_name(e->code));
}

/* An Error that answers no request of ours, for the log. */
void
relay_log_error(const struct relay_client *rc, const Relay__V1__Error *e)
{
	char	 err[300];

	relay_error_message(e, err, sizeof(err));
	log_warnx("the relay %s says: %s", rc->opts->relay_name, err);
}
