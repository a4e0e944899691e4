/* SPDX-License-Identifier: ISC */
/*
 * direct.c: the DirectPath of a session, the TCP paths it tries beside
 * the relay (relay-protocol(7), DIRECT PATHS). From the local address and
 * port of its own control connection (the port its NAT already maps to
 * the observed address the relay saw) it connects to each address the
 * relay gave for the peer, its observed one and its local ones, while a
 * listener on that same port takes the peer's connects: when both sides
 * do this at once, the two NATs let the SYNs through (TCP simultaneous
 * open). A refused connect is tried again every DIRECT_RETRY_MS.
 *
 * Every connection that comes up, either way, opens with the preamble
 * "RLY" 01 "P" and the session id from both sides, then runs the same
 * end-to-end handshake as the relayed path (requester = initiator). The
 * requester takes the first one whose handshake completes, says so with
 * a path record, and hands it to its SecureConnection; if none completes
 * within DIRECT_WINDOW_MS it opens the relayed path instead, never both.
 * The holder follows: the connection that carries the path record, or
 * the relayed path if the requester's handshake arrives there first.
 *
 * A connection counts only once the handshake proved the expected peer:
 * the lease holder's ID for the requester, Incoming.from_id for the
 * holder. Nothing from a connection is believed before that; inbound
 * connections are bounded per listener and per session and must show
 * their preamble within DIRECT_PREAMBLE_WAIT_MS. This file never decides
 * anything about the session's data: it only hands over a proven socket.
 */
#include "config.h"

#include <sys/socket.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "relay-client.h"

#define DIRECT_IN_MAX	SECURE_CIN_MAX	/* what is left goes to the session */
#define DIRECT_OUT_MAX	512		/* preamble, M1-M3, the path record */

struct dcand;
struct dpending;

/* A listener on a control connection's address, shared by its sessions. */
struct dlistener {
	TAILQ_ENTRY(dlistener)	 entry;
	struct event_base	*base;
	struct sockaddr_storage	 addr;
	socklen_t		 addrlen;
	int			 fd;
	struct event		*ev;
	TAILQ_HEAD(, direct)	 directs;
	TAILQ_HEAD(, dpending)	 pending;
	unsigned int		 npending;
};

/* An inbound connection whose preamble (which session?) is not read yet. */
struct dpending {
	TAILQ_ENTRY(dpending)	 entry;
	struct dlistener	*l;
	int			 fd;
	char			 peer[HOSTPORT_MAX];
	uint8_t			 pre[DIRECT_PREAMBLE_TOTAL];
	size_t			 prelen;
	struct event		*ev, *ev_timer;
};

/* An address of the peer, and the connect to it under way. */
struct dtarget {
	struct direct		*d;
	struct sockaddr_storage	 addr;
	socklen_t		 addrlen;
	char			 str[HOSTPORT_MAX];
	const char		*kind;		/* "observed" or "local" */
	struct dcand		*cand;
	struct event		*ev_retry;
	unsigned int		 attempts;
	char			 last[80];	/* why the last one failed */
};

enum dcand_state {
	DC_CONNECTING,		/* outbound, TCP not up yet */
	DC_PREAMBLE,		/* the peer's preamble */
	DC_HANDSHAKE,
	DC_WAIT_CHOSEN		/* holder: proven, the path record next */
};

struct dcand {
	TAILQ_ENTRY(dcand)	 entry;
	struct direct		*d;
	struct dtarget		*t;		/* outbound, else NULL */
	int			 fd;
	enum dcand_state	 state;
	char			 peer[HOSTPORT_MAX];
	struct buf		*in, *out;
	struct handshaker	 hsk;
	struct rec_layer	 rec;
	int			 rec_ready;
	struct event		*ev_read, *ev_write;
	unsigned int		 write_on;
};

struct direct {
	TAILQ_ENTRY(direct)	 lentry;	/* in its listener's list */
	struct secure_conn	*sc;
	struct event_base	*base;
	enum hs_role		 role;
	int			 only;
	uint8_t			 session_id[SESSION_ID_LEN];
	uint8_t			 ctx[HS_MAX_CTX_LEN];
	size_t			 ctxlen;
	const struct identity	*ident;
	char			 expect_id[ID_BUFSZ];	/* the peer's */
	struct sockaddr_storage	 local;
	socklen_t		 locallen;
	char			 local_str[HOSTPORT_MAX];
	struct dtarget		 targets[DIRECT_MAX_TARGETS];
	size_t			 ntargets;
	TAILQ_HEAD(, dcand)	 cands;
	unsigned int		 ninbound;
	struct dlistener	*listener;
	struct event		*ev_window;
	int			 retry_stop;
	struct timespec		 t0;
	const char		*label;
};

static TAILQ_HEAD(, dlistener) dlisteners =
    TAILQ_HEAD_INITIALIZER(dlisteners);

static void	dcand_read_cb(int, short, void *);
static void	dcand_write_cb(int, short, void *);
static void	dcand_process(struct dcand *);
static void	dtarget_retry_cb(int, short, void *);

static int
addr_equal(const struct sockaddr_storage *a, socklen_t alen,
    const struct sockaddr_storage *b, socklen_t blen)
{
	return alen == blen && memcmp(a, b, alen) == 0;
}

static long
direct_ms(const struct direct *d)
{
	return (long)(mono_since(&d->t0) * 1000);
}

/* ---- candidates ---- */

static void
dcand_free(struct dcand *c)
{
	struct direct	*d = c->d;

	TAILQ_REMOVE(&d->cands, c, entry);
	if (c->t != NULL)
		c->t->cand = NULL;
	else
		d->ninbound--;
	client_event_free(&c->ev_read);
	client_event_free(&c->ev_write);
	net_close(&c->fd);
	handshaker_clear(&c->hsk);
	if (c->rec_ready)
		rec_clear(&c->rec);
	buf_free(c->in);
	buf_free(c->out);
	free(c);
}

static struct dcand *
dcand_new(struct direct *d, int fd, struct dtarget *t, const char *peer)
{
	struct dcand	*c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->d = d;
	c->t = t;
	c->fd = fd;
	strlcpy(c->peer, peer, sizeof(c->peer));
	TAILQ_INSERT_TAIL(&d->cands, c, entry);
	if (t != NULL)
		t->cand = c;
	else
		d->ninbound++;
	if ((c->in = buf_new(0, DIRECT_IN_MAX)) == NULL ||
	    (c->out = buf_new(0, DIRECT_OUT_MAX)) == NULL ||
	    handshaker_init(&c->hsk, d->role, d->ctx, d->ctxlen, d->ident,
	    d->role == HS_INITIATOR ? d->expect_id : NULL) == -1 ||
	    (c->ev_read = event_new(d->base, fd, EV_READ | EV_PERSIST,
	    dcand_read_cb, c)) == NULL ||
	    (c->ev_write = event_new(d->base, fd, EV_WRITE | EV_PERSIST,
	    dcand_write_cb, c)) == NULL) {
		c->fd = -1;	/* the caller closes it */
		dcand_free(c);
		return NULL;
	}
	return c;
}

static void
dcand_write_on(struct dcand *c, int on)
{
	client_event_want(c->ev_write, &c->write_on, 1, on);
}

/* A connection that will not do: why, then another try if one is due. */
static void
dcand_fail(struct dcand *c, const char *why)
{
	struct dtarget	*t = c->t;
	struct timeval	 tv = { 0, DIRECT_RETRY_MS * 1000 };

	log_trace("session %s: direct %s: %s", c->d->label, c->peer, why);
	if (t != NULL)
		strlcpy(t->last, why, sizeof(t->last));
	dcand_free(c);
	if (t != NULL && !t->d->retry_stop)
		evtimer_add(t->ev_retry, &tv);
}

/* Our preamble, and M1 when we are the requester. */
static int
dcand_hello(struct dcand *c)
{
	uint8_t	*p;

	if ((p = iobuf_space(c->out, DIRECT_PREAMBLE_TOTAL)) == NULL)
		return -1;
	memcpy(p, PREAMBLE_MAGIC, PREAMBLE_MAGIC_LEN);
	p[PREAMBLE_MAGIC_LEN] = PREAMBLE_PEER;
	memcpy(p + PREAMBLE_LEN, c->d->session_id, SESSION_ID_LEN);
	iobuf_commit(c->out, DIRECT_PREAMBLE_TOTAL);
	if (handshaker_start(&c->hsk, c->out) == -1)
		return -1;
	dcand_write_on(c, 1);
	return 0;
}

static void
dcand_flush(struct dcand *c)
{
	if (iobuf_write(c->out, c->fd) == -1 && errno != EAGAIN) {
		dcand_fail(c, strerror(errno));
		return;
	}
	dcand_write_on(c, buf_len(c->out) > 0);
}

/* TCP is up: read, and send our preamble (with M1: the requester). */
static void
dcand_up(struct dcand *c, enum dcand_state state)
{
	c->state = state;
	event_add(c->ev_read, NULL);
	if (dcand_hello(c) == -1) {
		dcand_fail(c, "no room for the preamble");
		return;
	}
	dcand_flush(c);
}

static void
dcand_write_cb(int fd, short ev, void *arg)
{
	struct dcand	*c = arg;

	if (c->state == DC_CONNECTING) {
		if (net_connect_result(c->fd) == -1) {
			dcand_fail(c, errno == ECONNREFUSED ? "refused" :
			    strerror(errno));
			return;
		}
		log_trace("session %s: direct %s: connected", c->d->label,
		    c->peer);
		dcand_up(c, DC_PREAMBLE);
		return;
	}
	dcand_flush(c);
}

static void
dcand_read_cb(int fd, short ev, void *arg)
{
	struct dcand	*c = arg;
	ssize_t		 n;

	n = iobuf_read(c->in, c->fd, iobuf_free(c->in));
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n == -1) {
		dcand_fail(c, errno == ENOBUFS ? "too much before the "
		    "handshake ended" : strerror(errno));
		return;
	}
	if (n == 0) {
		dcand_fail(c, "closed by the other end");
		return;
	}
	dcand_process(c);
}

/*
 * The session takes this connection. The SecureConnection copies what
 * is buffered here and frees this DirectPath: nothing of it may be
 * touched after.
 */
static void
dcand_adopt(struct dcand *c, struct rec_layer *rec)
{
	struct direct	*d = c->d;
	int		 fd = c->fd;

	log_debug("session %s: direct %s %s (%s %s, %ld ms)", d->label,
	    d->role == HS_INITIATOR ? "to" : "from", c->peer,
	    c->t != NULL ? "its" : "inbound,", c->t != NULL ? c->t->kind :
	    "our listener", direct_ms(d));
	if (c->t != NULL)
		log_trace("session %s: connects made: %u", d->label,
		    c->t->attempts);
	client_event_free(&c->ev_read);
	client_event_free(&c->ev_write);
	c->fd = -1;
	rec->path_ok = 0;
	secure_path_direct(d->sc, fd, rec, handshaker_peer_id(&c->hsk),
	    buf_rptr(c->in), buf_len(c->in), buf_rptr(c->out),
	    buf_len(c->out));
}

/* Requester: the first proven connection is the path. Say so on it. */
static void
dcand_choose(struct dcand *c)
{
	struct rec_layer	 rec;
	uint8_t			 chosen = DIRECT_CHOSEN, *p;
	const size_t		 flen = FRAME_HDR_LEN + 1 + 1 + AEAD_TAG_LEN;
	ssize_t			 n;

	if (rec_init_from_hs(&rec, &c->hsk.hs) == -1) {
		dcand_fail(c, "cannot set up the record layer");
		return;
	}
	rec.path_ok = 1;
	if ((p = iobuf_space(c->out, flen)) == NULL ||
	    (n = rec_seal(&rec, REC_TYPE_PATH, &chosen, 1, p, flen)) < 0) {
		rec_clear(&rec);
		dcand_fail(c, "cannot seal the path record");
		return;
	}
	iobuf_commit(c->out, n);
	dcand_adopt(c, &rec);
}

/* Holder: the first record on a proven connection must choose it. */
static int
dcand_chosen(struct dcand *c)
{
	uint8_t		 pt[REC_MAX_PAYLOAD];
	ssize_t		 flen;
	size_t		 plen;
	int		 r;

	flen = rec_frame_len(buf_rptr(c->in), buf_len(c->in));
	if (flen < 0) {
		dcand_fail(c, "a record with a bad length");
		return -1;
	}
	if (flen == 0 || (size_t)flen > buf_len(c->in))
		return 0;
	r = rec_open(&c->rec, buf_rptr(c->in), flen, pt, sizeof(pt), &plen);
	iobuf_consume(c->in, flen);
	if (r != REC_PATH || plen != 1 || pt[0] != DIRECT_CHOSEN) {
		dcand_fail(c, r == REC_ERR ? c->rec.error : "its first record "
		    "is not a path record");
		return -1;
	}
	c->rec_ready = 0;	/* the session has it now */
	dcand_adopt(c, &c->rec);
	return 1;
}

static int
dcand_preamble(struct dcand *c)
{
	const uint8_t	*p = buf_rptr(c->in);

	if (buf_len(c->in) < DIRECT_PREAMBLE_TOTAL)
		return 0;
	if (memcmp(p, PREAMBLE_MAGIC, PREAMBLE_MAGIC_LEN) != 0 ||
	    p[PREAMBLE_MAGIC_LEN] != PREAMBLE_PEER ||
	    memcmp(p + PREAMBLE_LEN, c->d->session_id, SESSION_ID_LEN) != 0) {
		dcand_fail(c, "not a direct path of this session");
		return -1;
	}
	iobuf_consume(c->in, DIRECT_PREAMBLE_TOTAL);
	c->state = DC_HANDSHAKE;
	return 1;
}

/* The handshake proved someone: the peer expected, or not. */
static int
dcand_proven(struct dcand *c)
{
	struct direct	*d = c->d;
	const char	*peer = handshaker_peer_id(&c->hsk);
	char		 why[128];

	if (d->role == HS_INITIATOR) {
		dcand_choose(c);
		return 1;
	}
	if (strcmp(peer, d->expect_id) != 0) {
		log_warnx("session %s: direct %s: the peer proved ID %s, not "
		    "the requester's %s: refused", d->label, c->peer, peer,
		    d->expect_id);
		snprintf(why, sizeof(why), "proved ID %.32s", peer);
		dcand_fail(c, why);
		return -1;
	}
	if (rec_init_from_hs(&c->rec, &c->hsk.hs) == -1) {
		dcand_fail(c, "cannot set up the record layer");
		return -1;
	}
	c->rec_ready = 1;
	c->rec.path_ok = 1;
	c->state = DC_WAIT_CHOSEN;
	log_trace("session %s: direct %s: proven, waiting for the "
	    "requester's choice", d->label, c->peer);
	return 0;
}

/* Everything the buffered input allows. Returns with c possibly gone. */
static void
dcand_process(struct dcand *c)
{
	int	 r;

	for (;;) {
		switch (c->state) {
		case DC_CONNECTING:
			return;
		case DC_PREAMBLE:
			if ((r = dcand_preamble(c)) <= 0)
				return;
			break;
		case DC_HANDSHAKE:
			r = handshaker_step(&c->hsk, c->in, c->out);
			if (r == HSK_FAILED) {
				dcand_fail(c, handshaker_error(&c->hsk));
				return;
			}
			if (buf_len(c->out) > 0)
				dcand_write_on(c, 1);
			if (r == HSK_AGAIN)
				return;
			if (dcand_proven(c) != 0)
				return;
			break;
		case DC_WAIT_CHOSEN:
			(void)dcand_chosen(c);
			return;
		}
	}
}

/* ---- targets: the peer's addresses ---- */

static void
dtarget_start(struct dtarget *t)
{
	struct direct	*d = t->d;
	struct timeval	 tv = { 0, DIRECT_RETRY_MS * 1000 };
	int		 fd;

	if (t->cand != NULL || d->retry_stop)
		return;
	t->attempts++;
	if ((fd = net_connect_reuse((struct sockaddr *)&t->addr, t->addrlen,
	    (struct sockaddr *)&d->local, d->locallen)) == -1) {
		snprintf(t->last, sizeof(t->last), "%s", strerror(errno));
		log_trace("session %s: direct %s: %s", d->label, t->str,
		    t->last);
		/*
		 * EADDRINUSE, EADDRNOTAVAIL: the same two ports carry
		 * another session already; ENETUNREACH: no route (a local
		 * address of another network). Neither will change.
		 */
		if (errno != EADDRINUSE && errno != EADDRNOTAVAIL &&
		    errno != ENETUNREACH)
			evtimer_add(t->ev_retry, &tv);
		return;
	}
	if (dcand_new(d, fd, t, t->str) == NULL) {
		close(fd);
		snprintf(t->last, sizeof(t->last), "out of memory");
		return;
	}
	dcand_write_on(t->cand, 1);
}

static void
dtarget_retry_cb(int fd, short ev, void *arg)
{
	dtarget_start(arg);
}

/* One of the peer's addresses, if it is one to try. */
static void
direct_add_target(struct direct *d, const Relay__V1__Address *a,
    const char *kind)
{
	struct dtarget		*t;
	struct sockaddr_storage	 ss;
	socklen_t		 len;
	size_t			 i;

	if (d->ntargets == DIRECT_MAX_TARGETS ||
	    net_addr_from_proto(a, &ss, &len) == -1 ||
	    ss.ss_family != d->local.ss_family ||
	    !net_addr_usable((struct sockaddr *)&ss) ||
	    addr_equal(&ss, len, &d->local, d->locallen))
		return;
	for (i = 0; i < d->ntargets; i++)
		if (addr_equal(&ss, len, &d->targets[i].addr,
		    d->targets[i].addrlen))
			return;
	t = &d->targets[d->ntargets];
	if ((t->ev_retry = evtimer_new(d->base, dtarget_retry_cb, t)) == NULL)
		return;
	t->d = d;
	t->addr = ss;
	t->addrlen = len;
	t->kind = kind;
	sockaddr_fmt((struct sockaddr *)&ss, t->str, sizeof(t->str));
	strlcpy(t->last, "no answer", sizeof(t->last));
	d->ntargets++;
}

/* ---- the listener ---- */

static void	dlistener_put(struct dlistener *);

static void
dpending_free(struct dpending *p)
{
	TAILQ_REMOVE(&p->l->pending, p, entry);
	p->l->npending--;
	client_event_free(&p->ev);
	client_event_free(&p->ev_timer);
	net_close(&p->fd);
	free(p);
}

/* The preamble is complete: the session it names takes the connection. */
static void
dpending_done(struct dpending *p)
{
	struct direct	*d;
	struct dcand	*c;
	char		 peer[HOSTPORT_MAX];
	int		 fd;

	strlcpy(peer, p->peer, sizeof(peer));	/* p is freed before the end */
	if (memcmp(p->pre, PREAMBLE_MAGIC, PREAMBLE_MAGIC_LEN) != 0 ||
	    p->pre[PREAMBLE_MAGIC_LEN] != PREAMBLE_PEER) {
		log_trace("direct: %s: not a direct path preamble", peer);
		dpending_free(p);
		return;
	}
	TAILQ_FOREACH(d, &p->l->directs, lentry)
		if (memcmp(d->session_id, p->pre + PREAMBLE_LEN,
		    SESSION_ID_LEN) == 0)
			break;
	if (d == NULL || d->ninbound >= DIRECT_MAX_INBOUND) {
		log_trace("direct: %s: %s", peer, d == NULL ? "no such session "
		    "here (any more)" : "too many inbound connections");
		dpending_free(p);
		return;
	}
	fd = p->fd;
	p->fd = -1;
	dpending_free(p);
	if ((c = dcand_new(d, fd, NULL, peer)) == NULL) {
		close(fd);
		return;
	}
	log_trace("session %s: direct %s: inbound", d->label, peer);
	dcand_up(c, DC_HANDSHAKE);	/* its preamble is read */
}

static void
dpending_read_cb(int fd, short ev, void *arg)
{
	struct dpending	*p = arg;
	ssize_t		 n;

	if (ev & EV_TIMEOUT) {
		dpending_free(p);
		return;
	}
	/* exactly the preamble: the rest belongs to the handshake */
	n = read(p->fd, p->pre + p->prelen, sizeof(p->pre) - p->prelen);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		dpending_free(p);
		return;
	}
	if ((p->prelen += n) == sizeof(p->pre))
		dpending_done(p);
}

static void
dlistener_accept_cb(int lfd, short ev, void *arg)
{
	struct dlistener	*l = arg;
	struct dpending		*p;
	char			 peer[HOSTPORT_MAX];
	struct timeval		 tv = { DIRECT_PREAMBLE_WAIT_MS / 1000,
	    DIRECT_PREAMBLE_WAIT_MS % 1000 * 1000 };
	int			 fd;

	if ((fd = net_accept(lfd, peer, sizeof(peer))) == -1)
		return;
	if (l->npending >= DIRECT_MAX_PENDING ||
	    (p = calloc(1, sizeof(*p))) == NULL) {
		close(fd);
		return;
	}
	p->l = l;
	p->fd = fd;
	strlcpy(p->peer, peer, sizeof(p->peer));
	TAILQ_INSERT_TAIL(&l->pending, p, entry);
	l->npending++;
	if ((p->ev = event_new(l->base, fd, EV_READ | EV_PERSIST,
	    dpending_read_cb, p)) == NULL ||
	    (p->ev_timer = evtimer_new(l->base, dpending_read_cb, p)) == NULL) {
		dpending_free(p);
		return;
	}
	event_add(p->ev, NULL);
	evtimer_add(p->ev_timer, &tv);
}

/* The listener on this address: the one there is, or a new one. */
static struct dlistener *
dlistener_get(struct direct *d)
{
	struct dlistener	*l;
	int			 on = 1;

	TAILQ_FOREACH(l, &dlisteners, entry)
		if (l->base == d->base && addr_equal(&l->addr, l->addrlen,
		    &d->local, d->locallen))
			return l;
	if ((l = calloc(1, sizeof(*l))) == NULL)
		return NULL;
	l->base = d->base;
	l->addr = d->local;
	l->addrlen = d->locallen;
	TAILQ_INIT(&l->directs);
	TAILQ_INIT(&l->pending);
	if ((l->fd = socket(d->local.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0)) == -1 ||
	    setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) ==
	    -1 ||
	    setsockopt(l->fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) ==
	    -1 ||
	    bind(l->fd, (struct sockaddr *)&l->addr, l->addrlen) == -1 ||
	    listen(l->fd, DIRECT_MAX_PENDING) == -1 ||
	    (l->ev = event_new(l->base, l->fd, EV_READ | EV_PERSIST,
	    dlistener_accept_cb, l)) == NULL) {
		log_debug("direct: cannot listen on %s: %s", d->local_str,
		    strerror(errno));
		net_close(&l->fd);
		free(l);
		return NULL;
	}
	event_add(l->ev, NULL);
	TAILQ_INSERT_TAIL(&dlisteners, l, entry);
	return l;
}

/* A session is done with it: the last one closes it. */
static void
dlistener_put(struct dlistener *l)
{
	if (!TAILQ_EMPTY(&l->directs))
		return;
	while (!TAILQ_EMPTY(&l->pending))
		dpending_free(TAILQ_FIRST(&l->pending));
	TAILQ_REMOVE(&dlisteners, l, entry);
	event_free(l->ev);
	close(l->fd);
	free(l);
}

/* ---- a session's direct paths ---- */

/* Why no direct path came, one line for the log. */
static void
direct_why(const struct direct *d, char *out, size_t outlen)
{
	size_t	 i;
	int	 n;

	n = snprintf(out, outlen, "no direct path in %ld ms", direct_ms(d));
	for (i = 0; i < d->ntargets && n > 0 && (size_t)n < outlen; i++)
		n += snprintf(out + n, outlen - n, "%s%s %s: %s",
		    i == 0 ? " (" : "; ", d->targets[i].kind,
		    d->targets[i].str, d->targets[i].last);
	if (d->ntargets > 0 && n > 0 && (size_t)n < outlen)
		snprintf(out + n, outlen - n, ")");
}

/*
 * The requester's window closed with no proven connection: the relayed
 * path. The holder stops making new connects then (what is under way
 * and the listener stay until the requester's choice is known).
 */
static void
direct_window_cb(int fd, short ev, void *arg)
{
	struct direct	*d = arg;
	char		 why[512];

	d->retry_stop = 1;
	if (d->role == HS_RESPONDER)
		return;
	direct_why(d, why, sizeof(why));
	if (d->only) {
		secure_path_failed(d->sc, why);
		return;
	}
	log_debug("session %s: relayed: %s", d->label, why);
	secure_path_relayed(d->sc);	/* frees d */
}

static void
direct_log_start(const struct direct *d)
{
	char	 line[DIRECT_MAX_TARGETS * (HOSTPORT_MAX + 16)];
	size_t	 i;
	int	 n = 0;

	line[0] = '\0';
	for (i = 0; i < d->ntargets && n >= 0 && (size_t)n < sizeof(line);
	    i++)
		n += snprintf(line + n, sizeof(line) - n, "%s%s %s",
		    i == 0 ? "" : ", ", d->targets[i].kind, d->targets[i].str);
	log_debug("session %s: trying direct paths from %s: %s%s", d->label,
	    d->local_str, d->ntargets > 0 ? line : "no address to connect to",
	    d->listener != NULL ? ", and listening" : "");
}

/*
 * Start trying. NULL (errno set) when there is nothing to try: no
 * address of the peer to connect to and no listener for its connects.
 */
struct direct *
direct_new(struct secure_conn *sc, const struct secure_params *p,
    const uint8_t *ctx, size_t ctxlen)
{
	const struct direct_params	*dp = p->direct;
	struct direct			*d;
	struct timeval			 tv;
	size_t				 i;
	long				 ms;

	if (dp->locallen == 0 || dp->locallen > sizeof(d->local) ||
	    ctxlen > sizeof(d->ctx) || (d = calloc(1, sizeof(*d))) == NULL) {
		errno = EINVAL;
		return NULL;
	}
	d->sc = sc;
	d->base = sc->base;
	d->role = p->role;
	d->only = dp->only;
	d->ident = p->ident;
	d->label = sc->label;
	memcpy(d->session_id, p->session_id, SESSION_ID_LEN);
	memcpy(d->ctx, ctx, ctxlen);
	d->ctxlen = ctxlen;
	if (id_normalize(p->role == HS_INITIATOR ? p->expect_id :
	    dp->peer_id, d->expect_id) == -1) {
		free(d);
		errno = EINVAL;
		return NULL;
	}
	memcpy(&d->local, dp->local, dp->locallen);
	d->locallen = dp->locallen;
	sockaddr_fmt(dp->local, d->local_str, sizeof(d->local_str));
	TAILQ_INIT(&d->cands);
	mono_now(&d->t0);
	if (dp->observed != NULL)
		direct_add_target(d, dp->observed, "observed");
	for (i = 0; i < dp->nlocals; i++)
		direct_add_target(d, dp->locals[i], "local");
	if ((d->listener = dlistener_get(d)) != NULL)
		TAILQ_INSERT_TAIL(&d->listener->directs, d, lentry);
	if (d->ntargets == 0 && d->listener == NULL) {
		direct_free(d);
		errno = ENOENT;
		return NULL;
	}
	/* the holder keeps connecting for twice the requester's window */
	ms = dp->only ? HANDSHAKE_DEADLINE * 1000 : p->role == HS_INITIATOR ?
	    DIRECT_WINDOW_MS : 2 * DIRECT_WINDOW_MS;
	tv.tv_sec = ms / 1000;
	tv.tv_usec = ms % 1000 * 1000;
	if ((d->ev_window = evtimer_new(d->base, direct_window_cb, d)) ==
	    NULL) {
		direct_free(d);
		errno = ENOMEM;
		return NULL;
	}
	evtimer_add(d->ev_window, &tv);
	direct_log_start(d);
	for (i = 0; i < d->ntargets; i++)
		dtarget_start(&d->targets[i]);
	return d;
}

void
direct_free(struct direct *d)
{
	size_t	 i;

	if (d == NULL)
		return;
	while (!TAILQ_EMPTY(&d->cands))
		dcand_free(TAILQ_FIRST(&d->cands));
	for (i = 0; i < d->ntargets; i++)
		client_event_free(&d->targets[i].ev_retry);
	client_event_free(&d->ev_window);
	if (d->listener != NULL) {
		TAILQ_REMOVE(&d->listener->directs, d, lentry);
		dlistener_put(d->listener);
	}
	free(d);
}

/*
 * Direct paths are worth offering: not turned off, and the control
 * connection's own address is one a peer elsewhere could reach (not
 * loopback: a relay on this host is reached that way, and so is nobody
 * else).
 */
int
direct_possible(const struct client_opts *o, const struct relay_client *rc)
{
	const struct sockaddr	*sa;
	socklen_t		 len;

	if (o->direct == DIRECT_OFF || rc == NULL)
		return 0;
	sa = relay_local_addr(rc, &len);
	return len > 0 && net_addr_usable(sa);
}
