/* SPDX-License-Identifier: ISC */
/*
 * conn.c: the conn worker, the only process that parses untrusted remote
 * input. It accepts on the listeners it was given, reads each preamble,
 * runs the relay side of the control handshake (the parent signs: this
 * process never holds the relay key), turns control records into
 * requests to the lease worker and its answers back into records, and
 * hands data connections (preamble + token, nothing more read) to the fwd
 * worker that the token names. conn_listener_open() and
 * conn_listener_defer() run in the parent.
 *
 * Every length is checked before use, every client has a deadline, and a
 * misbehaving client is closed without disturbing the others. A closed
 * client is freed from the event loop, never under a caller. Memory per
 * client is bounded: a client whose answers are not drained is not read,
 * at most CONN_INFLIGHT_MAX of its requests wait for the lease worker, and
 * its input buffer exists only while a record is partial.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/tree.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "buffer.h"
#include "compat.h"
#include "log.h"
#include "proto.h"
#include "relayd.h"
#include "util.h"

_Static_assert(CTL_NERR == RELAY__V1__ERROR_CODE__ERR_INTERNAL + 1,
    "ctl.h CTL_NERR must count the relay.v1 error codes");

/*
 * A client's queued output: past CONN_OUT_PAUSE it is not read from until
 * the queue is back under CONN_OUT_RESUME; what is already on its way
 * (answers to requests in flight, Incoming for a lease it holds) may take
 * it further, up to CONN_OUT_MAX, where it is closed. Requests that wait
 * for the lease worker are at most CONN_INFLIGHT_MAX per client (Connect
 * apart: the lease worker bounds pending sessions itself).
 */
#define CONN_OUT_PAUSE		(64 * 1024)
#define CONN_OUT_RESUME		(16 * 1024)
#define CONN_OUT_MAX		(1024 * 1024)
#define CONN_INFLIGHT_MAX	8
#define CONN_IN_MAX		(REC_MAX_FRAME + 64)
#define ACCEPT_BATCH		64
#define DEFER_ACCEPT_SECS	1	/* conn_listener_defer() */
#define STOP_FLUSH_MS		1000	/* an orderly stop: time to say so */
#define NOFILE_PAUSE_MS		250

enum client_state {
	CL_PREAMBLE,
	CL_DATA_TOKEN,
	CL_HANDSHAKE,		/* hs_drive() reads and writes the frames */
	CL_HS_SIGN,		/* waiting for the parent's signature */
	CL_ESTABLISHED,
	CL_CLOSING,
	CL_DEAD			/* closed; freed from the event loop */
};

struct addr_count {
	RB_ENTRY(addr_count)	 entry;
	uint8_t			 key[17];	/* family byte + address */
	uint32_t		 count;
};

struct client {
	RB_ENTRY(client)	 entry;
	TAILQ_ENTRY(client)	 dead_entry;
	uint32_t		 cid;
	int			 fd;
	enum client_state	 state;
	struct sockaddr_storage	 ss;
	char			 addr[64];
	struct addr_count	*ac;
	struct event		*ev_read;
	struct event		*ev_write;
	struct event		*ev_timer;
	uint8_t			*in;		/* only while input is partial */
	uint8_t			*cur;		/* in, or the worker's scratch */
	size_t			 inlen;
	size_t			 incap;		/* of in */
	struct evbuffer		*out;
	struct handshake	*hs;		/* only during the handshake */
	struct rec_layer	 rec;
	int			 rec_ready;
	char			 id[ID_BUFSZ];
	int			 hello_sent;
	int			 bad_requests;
	uint32_t		 inflight;	/* requests the lease answers */
	int			 read_paused;
	time_t			 last_active;
};

struct listener {
	struct event		*ev;
	int			 fd;
	char			 name[64];
	double			 tokens;	/* accept rate */
	double			 last;
	int			 nodelay;	/* accepted ones inherit it */
};

RB_HEAD(client_tree, client);
RB_HEAD(addr_tree, addr_count);

static int	client_cmp(struct client *, struct client *);
TREE_CMP_BYTES(addr_cmp, addr_count, key)
RB_GENERATE_LOCAL(client_tree, client, entry, client_cmp)
RB_GENERATE_LOCAL(addr_tree, addr_count, entry, addr_cmp)

static struct {
	struct client_tree	 clients;
	struct addr_tree	 addrs;
	uint32_t		 nclients;
	uint32_t		 next_cid;
	struct listener		 listeners[CTL_MAX_LISTENERS];
	int			 nlisteners;
	int			 paused;
	struct event		*ev_resume;
	struct event		*ev_stop;
	struct proto_arena	 arena;
	time_t			 last_log[8];
	TAILQ_HEAD(, client)	 dead;		/* closed, not yet freed */
	struct event		*ev_reap;
	uint8_t			 scratch[CONN_IN_MAX];
} cs;

static void	client_close(struct client *, const char *);
static void	client_read(int, short, void *);
static void	client_write(int, short, void *);
static void	client_process(struct client *);
static void	conn_listeners_enable(int);
static void	conn_stop_check(void);

static int
client_cmp(struct client *a, struct client *b)
{
	return a->cid < b->cid ? -1 : a->cid > b->cid;
}

/* At most one line a second per kind of refusal. */
static void
conn_log_limited(int kind, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void
conn_log_limited(int kind, const char *fmt, ...)
{
	time_t	 now = time(NULL);
	va_list	 ap;

	if (cs.last_log[kind] == now)
		return;
	cs.last_log[kind] = now;
	va_start(ap, fmt);
	vlog(LOG_INFO, fmt, ap);
	va_end(ap);
}

static struct client *
client_find(uint32_t cid)
{
	struct client	 key;

	key.cid = cid;
	return RB_FIND(client_tree, &cs.clients, &key);
}

static double
conn_now(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ==== in the parent: the listening sockets ==== */

/* "127.0.0.1:7420" or "[::1]:7420"; an address is at most 45 characters. */
void
conn_listener_label(const struct listen_addr *la, char *out, size_t outlen)
{
	if (la->ss.ss_family == AF_INET6)
		snprintf(out, outlen, "[%.46s]:%u", la->host, la->port);
	else
		snprintf(out, outlen, "%.46s:%u", la->host, la->port);
}

static int
conn_listener_socket(const struct listen_addr *la)
{
	int	 fd, on = 1;

	fd = socket(la->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (fd == -1)
		fatal("socket for %s", la->host);
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == -1)
		fatal("SO_REUSEADDR");
	if (la->ss.ss_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6,
	    IPV6_V6ONLY, &on, sizeof(on)) == -1)
		fatal("IPV6_V6ONLY");
	return fd;
}

/*
 * One listening socket per conn worker, all bound to the address with
 * SO_REUSEPORT: the kernel gives each new connection to one of them, so
 * one connection wakes one worker, where a shared socket wakes them all
 * and all but one find nothing to accept. The first socket is bound
 * without SO_REUSEPORT, so that an address already in use (another
 * relayd) is refused as before, not shared; it keeps the address from
 * then on and is given SO_REUSEPORT only after its bind, so the rest of
 * the group, bound by this process as this user, can join it, and only
 * this user can. Returns how many sockets are in fds: count, or 1 when
 * the kernel will not take the others.
 */
int
conn_listener_open(const struct listen_addr *la, int *fds, int count)
{
	int	 i, on = 1;

	fds[0] = conn_listener_socket(la);
	if (bind(fds[0], (struct sockaddr *)&la->ss, la->sslen) == -1)
		fatal("cannot listen on %s port %u", la->host, la->port);
	if (count > 1 && setsockopt(fds[0], SOL_SOCKET, SO_REUSEPORT, &on,
	    sizeof(on)) == -1)
		count = 1;
	for (i = 1; i < count; i++) {
		fds[i] = conn_listener_socket(la);
		if (setsockopt(fds[i], SOL_SOCKET, SO_REUSEPORT, &on,
		    sizeof(on)) == -1 || bind(fds[i],
		    (struct sockaddr *)&la->ss, la->sslen) == -1) {
			log_debug("%s port %u: one socket for every conn "
			    "worker: %s", la->host, la->port, strerror(errno));
			/* the first socket serves them all, as without it */
			do
				close(fds[i]);
			while (--i > 0);
			count = 1;
			break;
		}
	}
	for (i = 0; i < count; i++)
		if (listen(fds[i], 512) == -1)
			fatal("listen %s port %u", la->host, la->port);
	return count;
}

/*
 * A client always speaks first (its preamble), so a connection is handed
 * to accept(2) only once its first bytes are in: conn_accept() reads
 * them at once, with no wait for the socket to become readable. The
 * kernel defers one that sends nothing for about a second only, then
 * hands it over as usual: its handshake timeout and the per-address
 * limits apply to it as to any other. The parent calls this on every
 * listener, systemd's included.
 */
void
conn_listener_defer(int fd)
{
	int	 secs = DEFER_ACCEPT_SECS;

	if (setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &secs,
	    sizeof(secs)) == -1)
		log_debug("TCP_DEFER_ACCEPT: %s", strerror(errno));
}

/* ==== the worker ==== */

/*
 * A closed client is freed here, from the event loop, never inside the
 * call that closed it: the callers up the stack may still hold it and
 * only look at its state (CL_DEAD) before they stop.
 */
static void
conn_reap(int fd, short ev, void *arg)
{
	struct client	*c;

	while ((c = TAILQ_FIRST(&cs.dead)) != NULL) {
		TAILQ_REMOVE(&cs.dead, c, dead_entry);
		free(c);
	}
}

static void
conn_init(void)
{
	RB_INIT(&cs.clients);
	RB_INIT(&cs.addrs);
	TAILQ_INIT(&cs.dead);
	cs.next_cid = 1;
	if ((cs.ev_reap = event_new(worker->base, -1, 0, conn_reap, NULL)) ==
	    NULL)
		fatalx("event_new");
	if (proto_arena_init(&cs.arena, PROTO_ARENA_RELAY) == -1)
		fatal("arena");
}

static void
conn_configured(int first)
{
	int	 i;

	for (i = 0; i < cs.nlisteners; i++)
		cs.listeners[i].tokens = worker->lim.conn_rate;
}

static void
conn_serve(void)
{
	conn_listeners_enable(1);
	log_debug("serving %d listeners", cs.nlisteners);
}

/* The most clients this worker holds: the limit, or what its descriptors allow. */
static uint32_t
conn_capacity(void)
{
	uint32_t	 n = worker->lim.conns_total;

	if (worker->lim.conns_per_worker > 0 &&
	    worker->lim.conns_per_worker < n)
		n = worker->lim.conns_per_worker;
	return n;
}

/* ---- per-address accounting ---- */

static void
addr_key(const struct sockaddr_storage *ss, uint8_t key[17])
{
	memset(key, 0, 17);
	if (ss->ss_family == AF_INET) {
		key[0] = 4;
		memcpy(key + 1, &((const struct sockaddr_in *)ss)->sin_addr, 4);
	} else if (ss->ss_family == AF_INET6) {
		key[0] = 6;
		memcpy(key + 1, &((const struct sockaddr_in6 *)ss)->sin6_addr,
		    16);
	}
}

static struct addr_count *
addr_take(const struct sockaddr_storage *ss)
{
	struct addr_count	 key, *ac;

	addr_key(ss, key.key);
	if ((ac = RB_FIND(addr_tree, &cs.addrs, &key)) == NULL) {
		if ((ac = calloc(1, sizeof(*ac))) == NULL)
			return NULL;
		memcpy(ac->key, key.key, sizeof(ac->key));
		RB_INSERT(addr_tree, &cs.addrs, ac);
	}
	if (ac->count >= worker->lim.conns_per_addr)
		return NULL;
	ac->count++;
	return ac;
}

static void
addr_release(struct addr_count *ac)
{
	if (ac == NULL)
		return;
	if (--ac->count == 0) {
		RB_REMOVE(addr_tree, &cs.addrs, ac);
		free(ac);
	}
}

/* ---- accepting ---- */

static void
conn_resume(int fd, short ev, void *arg)
{
	cs.paused = 0;
	conn_listeners_enable(1);
}

/* Out of descriptors: refuse what waits, then pause the listeners a moment. */
static void
conn_accept_nofile(void)
{
	struct timeval	 tv = { 0, NOFILE_PAUSE_MS * 1000 };

	worker->stats.conn_refused_nofile++;
	conn_log_limited(0, "accept: %s: refusing new connections for %d ms",
	    strerror(errno), NOFILE_PAUSE_MS);
	conn_listeners_enable(0);
	cs.paused = 1;
	if (cs.ev_resume == NULL &&
	    (cs.ev_resume = evtimer_new(worker->base, conn_resume, NULL)) ==
	    NULL)
		fatalx("evtimer_new");
	evtimer_add(cs.ev_resume, &tv);
}

/* A token of the listener's accept rate, or a refusal. */
static int
conn_rate_take(struct listener *l)
{
	double	 now = conn_now(), rate = worker->lim.conn_rate;

	l->tokens += (now - l->last) * rate;
	if (l->tokens > rate)
		l->tokens = rate;
	l->last = now;
	if (l->tokens < 1.0)
		return 0;
	l->tokens -= 1.0;
	return 1;
}

/* Is this new connection to be held? Else it is counted and closed. */
static struct addr_count *
conn_admit(struct listener *l, const struct sockaddr_storage *ss)
{
	struct addr_count	*ac;
	char			 a[64];

	if (!conn_rate_take(l)) {
		worker->stats.conn_refused_rate++;
		conn_log_limited(4, "%s: more than %u connections a second: "
		    "refusing", l->name, worker->lim.conn_rate);
		return NULL;
	}
	if (cs.nclients >= conn_capacity()) {
		worker->stats.conn_refused_limit++;
		conn_log_limited(1, "connection limit (%u) reached: refusing",
		    conn_capacity());
		return NULL;
	}
	if ((ac = addr_take(ss)) == NULL) {
		worker->stats.conn_refused_limit++;
		sockaddr_fmt((const struct sockaddr *)ss, a, sizeof(a));
		conn_log_limited(2, "%s: per-address connection limit (%u) "
		    "reached: refusing", a, worker->lim.conns_per_addr);
	}
	return ac;
}

static void
conn_accept(int lfd, short ev, void *arg)
{
	struct listener		*l = arg;
	struct sockaddr_storage	 ss;
	struct client		*c;
	struct addr_count	*ac;
	socklen_t		 sslen;
	struct timeval		 tv;
	int			 fd, i, one = 1;

	for (i = 0; i < ACCEPT_BATCH; i++) {
		sslen = sizeof(ss);
		fd = accept4(lfd, (struct sockaddr *)&ss, &sslen,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno == EMFILE || errno == ENFILE)
				conn_accept_nofile();
			else if (errno != EAGAIN && errno != EINTR &&
			    errno != ECONNABORTED)
				log_warn("accept");
			return;
		}
		worker->stats.conn_accepted++;
		if ((ac = conn_admit(l, &ss)) == NULL) {
			close(fd);
			continue;
		}
		/* small records and interactive sessions: no Nagle delay */
		if (!l->nodelay)
			(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
			    sizeof(one));
		if ((c = calloc(1, sizeof(*c))) == NULL ||
		    (c->out = evbuffer_new()) == NULL) {
			free(c);
			addr_release(ac);
			close(fd);
			continue;
		}
		c->fd = fd;
		c->ac = ac;
		c->ss = ss;
		sockaddr_fmt((struct sockaddr *)&ss, c->addr, sizeof(c->addr));
		c->state = CL_PREAMBLE;
		c->last_active = time(NULL);
		do {
			c->cid = cs.next_cid++;
		} while (c->cid == 0 || client_find(c->cid) != NULL);
		c->ev_read = event_new(worker->base, fd, EV_READ | EV_PERSIST,
		    client_read, c);
		c->ev_write = event_new(worker->base, fd, EV_WRITE,
		    client_write, c);
		c->ev_timer = evtimer_new(worker->base, client_read, c);
		RB_INSERT(client_tree, &cs.clients, c);
		cs.nclients++;
		if (c->ev_read == NULL || c->ev_write == NULL ||
		    c->ev_timer == NULL) {
			client_close(c, "out of memory");
			continue;
		}
		event_add(c->ev_read, NULL);
		tv.tv_sec = worker->lim.timeout_handshake;
		tv.tv_usec = 0;
		evtimer_add(c->ev_timer, &tv);
		/* the preamble is most likely in already (conn_listener_defer) */
		client_read(fd, EV_READ, c);
	}
}

static void
conn_listeners_enable(int on)
{
	int	 i;

	for (i = 0; i < cs.nlisteners; i++) {
		if (on && !cs.paused && worker->serving && !worker->stopping)
			event_add(cs.listeners[i].ev, NULL);
		else
			event_del(cs.listeners[i].ev);
	}
}

/* ---- output ---- */

/*
 * Output is written once per turn of the event loop, everything queued
 * for the client in one writev(2): the write callback is made active, not
 * polled for, and the socket's write event is armed only while the
 * socket is full.
 */
static void
client_flush_later(struct client *c)
{
	if (evbuffer_get_length(c->out) > 0 &&
	    !event_pending(c->ev_write, EV_WRITE, NULL))
		event_active(c->ev_write, EV_WRITE, 1);
}

/* Read from the client only while its answers drain and few are due. */
static void
client_read_update(struct client *c)
{
	size_t	 queued;
	int	 pause;

	if (c->state != CL_ESTABLISHED)
		return;
	queued = evbuffer_get_length(c->out);
	pause = queued > (c->read_paused ? CONN_OUT_RESUME : CONN_OUT_PAUSE) ||
	    c->inflight >= CONN_INFLIGHT_MAX ||
	    peer_backlogged(worker->lease);
	if (pause == c->read_paused)
		return;
	c->read_paused = pause;
	if (pause) {
		worker->stats.conn_read_paused++;
		event_del(c->ev_read);
	} else {
		event_add(c->ev_read, NULL);
		/* what was read already but not handled yet */
		client_process(c);
	}
}

/* Returns -1 when the client is closed (it may be CL_DEAD on return). */
static int
client_send_raw(struct client *c, const void *p, size_t len)
{
	if (c->state == CL_DEAD)
		return -1;
	if (evbuffer_get_length(c->out) + len > CONN_OUT_MAX) {
		worker->stats.conn_output_overflow++;
		client_close(c, "client does not read its data");
		return -1;
	}
	if (evbuffer_add(c->out, p, len) == -1) {
		client_close(c, "out of memory");
		return -1;
	}
	client_flush_later(c);
	if (evbuffer_get_length(c->out) > CONN_OUT_PAUSE && !c->read_paused)
		client_read_update(c);
	return 0;
}

static int
client_send(struct client *c, const RelayMessage *m)
{
	uint8_t		 pt[REC_MAX_PAYLOAD], frame[REC_MAX_FRAME];
	ssize_t		 n, f;

	if (c->state != CL_ESTABLISHED)
		return -1;
	if ((n = proto_pack_relay(m, pt, sizeof(pt))) == -1) {
		log_warnx("%s: reply too large for one record", c->addr);
		return -1;
	}
	if ((f = rec_seal(&c->rec, REC_TYPE_DATA, pt, n, frame,
	    sizeof(frame))) < 0) {
		client_close(c, c->rec.error);
		return -1;
	}
	if (m->msg_case == RELAY__V1__RELAY_MESSAGE__MSG_ERROR &&
	    m->error->code >= 0 && m->error->code < CTL_NERR)
		worker->stats.errors_sent[m->error->code]++;
	return client_send_raw(c, frame, f);
}

static void
client_send_error(struct client *c, uint32_t request_id, int code,
    const char *msg)
{
	RelayMessage		 m = RELAY__V1__RELAY_MESSAGE__INIT;
	Relay__V1__Error	 e = RELAY__V1__ERROR__INIT;

	e.request_id = request_id;
	e.code = code;
	e.message = (char *)msg;
	m.msg_case = RELAY__V1__RELAY_MESSAGE__MSG_ERROR;
	m.error = &e;
	client_send(c, &m);
}

static void
client_send_notice(struct client *c, int kind, const uint8_t *lease_id,
    const char *msg)
{
	RelayMessage		 m = RELAY__V1__RELAY_MESSAGE__INIT;
	Relay__V1__Notice	 n = RELAY__V1__NOTICE__INIT;

	n.kind = kind;
	if (lease_id != NULL) {
		n.lease_id = proto_bytes(lease_id, LEASE_ID_LEN);
	}
	n.message = (char *)msg;
	m.msg_case = RELAY__V1__RELAY_MESSAGE__MSG_NOTICE;
	m.notice = &n;
	client_send(c, &m);
}

static void
client_write(int fd, short ev, void *arg)
{
	struct client	*c = arg;
	int		 n;

	n = evbuffer_write(c->out, c->fd);
	if (n == -1 && errno != EAGAIN && errno != EINTR) {
		client_close(c, "write error");
		return;
	}
	if (c->read_paused)
		client_read_update(c);
	if (c->state == CL_DEAD)
		return;
	if (evbuffer_get_length(c->out) > 0) {
		event_add(c->ev_write, NULL);
		return;
	}
	if (c->state == CL_CLOSING)
		client_close(c, NULL);
}

/* Send our close record, flush, then close. */
static void
client_finish(struct client *c)
{
	uint8_t	 frame[64];
	ssize_t	 f;

	if (c->state == CL_DEAD || c->state == CL_CLOSING)
		return;
	if (c->state == CL_ESTABLISHED && !c->rec.send.closed &&
	    (f = rec_seal(&c->rec, REC_TYPE_CLOSE, NULL, 0, frame,
	    sizeof(frame))) > 0)
		evbuffer_add(c->out, frame, f);
	c->state = CL_CLOSING;
	event_del(c->ev_read);
	if (evbuffer_get_length(c->out) == 0)
		client_close(c, NULL);
	else
		client_flush_later(c);
}

static void
client_close(struct client *c, const char *why)
{
	if (c->state == CL_DEAD)
		return;
	if (why != NULL)
		log_debug("%s%s%s: closed: %s", c->addr, c->id[0] ? " " : "",
		    c->id, why);
	if (c->hello_sent)
		peer_compose(worker->lease, IMSG_L_GONE, c->cid, -1, NULL, 0);
	RB_REMOVE(client_tree, &cs.clients, c);
	cs.nclients--;
	addr_release(c->ac);
	event_free_opt(c->ev_read);
	event_free_opt(c->ev_write);
	event_free_opt(c->ev_timer);
	if (c->fd != -1)
		close(c->fd);
	if (c->out != NULL)
		evbuffer_free(c->out);
	if (c->hs != NULL) {
		hs_clear(c->hs);
		free(c->hs);
	}
	if (c->rec_ready)
		rec_clear(&c->rec);
	free(c->in);
	c->in = c->cur = NULL;
	c->inlen = 0;
	c->hs = NULL;
	c->rec_ready = 0;
	c->ev_read = c->ev_write = c->ev_timer = NULL;
	c->out = NULL;
	c->fd = -1;
	c->state = CL_DEAD;
	TAILQ_INSERT_TAIL(&cs.dead, c, dead_entry);
	event_active(cs.ev_reap, EV_TIMEOUT, 0);
	if (worker->stopping)
		conn_stop_check();
}

/* ---- input ---- */

static void
client_timeout(struct client *c)
{
	struct timeval	 tv;
	time_t		 idle;

	if (c->state == CL_ESTABLISHED) {
		idle = time(NULL) - c->last_active;
		if (idle < (time_t)worker->lim.timeout_idle) {
			tv.tv_sec = worker->lim.timeout_idle - idle;
			tv.tv_usec = 0;
			evtimer_add(c->ev_timer, &tv);
			return;
		}
		worker->stats.idle_timeouts++;
		log_debug("%s %s: idle for %lds", c->addr, c->id, (long)idle);
		client_finish(c);
		return;
	}
	if (c->state == CL_CLOSING) {
		client_close(c, "could not flush before closing");
		return;
	}
	worker->stats.handshake_timeouts++;
	if (c->state >= CL_HANDSHAKE)
		worker->stats.handshakes_failed++;
	client_close(c, "handshake deadline passed");
}

/*
 * How much input a client in this state may have buffered: the preamble
 * and token, two handshake frames, or one whole record. A connection that
 * stalls in its handshake holds a few hundred bytes, not a record's room.
 */
static size_t
client_in_max(const struct client *c)
{
	switch (c->state) {
	case CL_PREAMBLE:
	case CL_DATA_TOKEN:
		return DATA_PREAMBLE_TOTAL;
	case CL_HANDSHAKE:
	case CL_HS_SIGN:
		return 2 * HS_FRAME_M2;
	default:
		return CONN_IN_MAX;
	}
}

/* The client's own buffer holds at least what its state may buffer. */
static int
client_in_grow(struct client *c)
{
	size_t	 need = client_in_max(c);
	uint8_t	*p;

	if (c->in != NULL && c->incap >= need)
		return 0;
	if ((p = realloc(c->in, need)) == NULL) {
		client_close(c, "out of memory");
		return -1;
	}
	c->in = p;
	c->incap = need;
	return 0;
}

/*
 * Keep what is left of the input: in the client's own buffer when a
 * record is partial, nowhere when nothing is (most idle clients).
 */
static void
client_keep_input(struct client *c)
{
	if (c->state == CL_DEAD)
		return;
	if (c->inlen == 0) {
		free(c->in);
		c->in = c->cur = NULL;
		c->incap = 0;
		return;
	}
	if (c->cur == cs.scratch) {
		if (c->in == NULL && client_in_grow(c) == -1)
			return;
		memcpy(c->in, cs.scratch, c->inlen);
		c->cur = c->in;
	}
}

static void
client_read(int fd, short ev, void *arg)
{
	struct client	*c = arg;
	enum client_state prev;
	size_t		 want;
	ssize_t		 n;

	if (ev & EV_TIMEOUT) {
		client_timeout(c);
		return;
	}
again:
	/* Before the kind is known, read exactly the preamble (and a data
	 * connection's token): what follows belongs to the peer. */
	prev = c->state;
	switch (c->state) {
	case CL_PREAMBLE:
		want = PREAMBLE_LEN - c->inlen;
		break;
	case CL_DATA_TOKEN:
		want = DATA_PREAMBLE_TOTAL - c->inlen;
		break;
	default:
		want = client_in_max(c) - c->inlen;
		break;
	}
	if (want == 0) {
		/* a full buffer that could not be processed: a bug or abuse */
		client_close(c, "input buffer full");
		return;
	}
	/* a partial record after the handshake needs a record's room */
	if (c->in != NULL && client_in_grow(c) == -1)
		return;
	c->cur = c->in != NULL ? c->in : cs.scratch;
	n = read(c->fd, c->cur + c->inlen, want);
	if (n == -1) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		client_close(c, strerror(errno));
		return;
	}
	if (n == 0) {
		if (c->state == CL_ESTABLISHED) {
			if (rec_eof(&c->rec) == -1)
				log_debug("%s %s: %s", c->addr, c->id,
				    c->rec.error);
		} else if (c->state >= CL_HANDSHAKE && c->state < CL_ESTABLISHED)
			worker->stats.handshakes_failed++;
		client_close(c, "connection closed by peer");
		return;
	}
	c->inlen += n;
	client_process(c);
	client_keep_input(c);
	/* the token or the first handshake frame likely came with it */
	if (prev == CL_PREAMBLE && (size_t)n == want &&
	    (c->state == CL_DATA_TOKEN || c->state == CL_HANDSHAKE))
		goto again;
}

static void
client_consume(struct client *c, size_t len)
{
	memmove(c->cur, c->cur + len, c->inlen - len);
	c->inlen -= len;
}

static void
client_hand_to_fwd(struct client *c)
{
	struct f_data	 fd;
	struct peer	*p;
	int		 idx;

	memset(&fd, 0, sizeof(fd));
	memcpy(fd.token, c->cur + PREAMBLE_LEN, TOKEN_LEN);
	strlcpy(fd.addr, c->addr, sizeof(fd.addr));
	idx = fd.token[0] % worker->lim.workers_fwd;
	worker->stats.data_conns++;
	c->inlen = 0;
	if (!peer_up(p = worker->fwd[idx])) {
		/* that fwd worker is being restarted: its sessions are gone */
		worker->stats.tokens_unknown++;
		client_close(c, "its fwd worker is gone");
		return;
	}
	/* the descriptor travels to the fwd worker, which closes it */
	peer_compose(p, IMSG_F_DATA_FD, 0, c->fd, &fd, sizeof(fd));
	c->fd = -1;
	client_close(c, NULL);
}

static void
client_hs_fail(struct client *c)
{
	worker->stats.handshakes_failed++;
	client_close(c, c->hs->error);
}

/* M3 verified: the client is who it says; the lease worker learns of it. */
static void
client_established(struct client *c)
{
	struct l_hello	 hello;
	struct timeval	 tv;

	if (rec_init_from_hs(&c->rec, c->hs) == -1) {
		client_close(c, "record layer");
		return;
	}
	c->rec_ready = 1;
	strlcpy(c->id, c->hs->peer_id, sizeof(c->id));
	hs_clear(c->hs);
	free(c->hs);
	c->hs = NULL;
	worker->stats.handshakes_ok++;
	c->state = CL_ESTABLISHED;
	c->last_active = time(NULL);
	memset(&hello, 0, sizeof(hello));
	strlcpy(hello.id, c->id, sizeof(hello.id));
	strlcpy(hello.addr, c->addr, sizeof(hello.addr));
	wire_addr_from_sockaddr(&hello.waddr, (struct sockaddr *)&c->ss);
	peer_compose(worker->lease, IMSG_L_HELLO, c->cid, -1, &hello,
	    sizeof(hello));
	c->hello_sent = 1;
	tv.tv_sec = worker->lim.timeout_idle;
	tv.tv_usec = 0;
	evtimer_add(c->ev_timer, &tv);
	log_debug("%s: control client %s", c->addr, c->id);
}

/* The preamble: a control connection starts its handshake, data waits. */
static int
client_preamble(struct client *c)
{
	if (memcmp(c->cur, PREAMBLE_MAGIC, PREAMBLE_MAGIC_LEN) != 0 ||
	    (c->cur[4] != PREAMBLE_CONTROL && c->cur[4] != PREAMBLE_DATA)) {
		worker->stats.conn_bad_preamble++;
		client_close(c, "bad preamble");
		return -1;
	}
	if (c->cur[4] == PREAMBLE_DATA) {
		c->state = CL_DATA_TOKEN;
		return -1;		/* read the token next */
	}
	worker->stats.control_conns++;
	client_consume(c, PREAMBLE_LEN);
	if ((c->hs = calloc(1, sizeof(*c->hs))) == NULL) {
		client_close(c, "out of memory");
		return -1;
	}
	if (hs_init(c->hs, HS_RESPONDER, (const uint8_t *)HS_CTX_CONTROL,
	    sizeof(HS_CTX_CONTROL) - 1, relay_pk, NULL) == -1) {
		client_close(c, c->hs->error);
		return -1;
	}
	c->state = CL_HANDSHAKE;
	return 0;
}

/* The handshake's frames, both ways; the parent signs (hs_drive SIGN). */
static int
client_handshake(struct client *c)
{
	uint8_t		 out[HS_FRAME_M2];
	struct sign_req	 sr;
	size_t		 consumed, written;
	int		 r;

	r = hs_drive(c->hs, NULL, c->cur, c->inlen, &consumed, out,
	    sizeof(out), &written);
	if (consumed > 0)
		client_consume(c, consumed);
	if (written > 0 && client_send_raw(c, out, written) == -1)
		return -1;
	switch (r) {
	case HS_DRIVE_SIGN:
		memcpy(sr.h, c->hs->h, sizeof(sr.h));
		peer_compose(&worker->parent, IMSG_SIGN_REQ, c->cid, -1, &sr,
		    sizeof(sr));
		c->state = CL_HS_SIGN;
		return -1;
	case HS_DRIVE_DONE:
		client_established(c);
		return 0;
	case HS_DRIVE_AGAIN:
		return -1;
	default:
		client_hs_fail(c);
		return -1;
	}
}

static void	client_record(struct client *, const uint8_t *, size_t);

/* One step of the handshake or one record; -1 when there is no more to do. */
static int
client_step(struct client *c)
{
	ssize_t		 flen;

	switch (c->state) {
	case CL_PREAMBLE:
		if (c->inlen < PREAMBLE_LEN)
			return -1;
		return client_preamble(c);
	case CL_DATA_TOKEN:
		if (c->inlen == DATA_PREAMBLE_TOTAL)
			client_hand_to_fwd(c);
		return -1;
	case CL_HANDSHAKE:
		return client_handshake(c);
	case CL_HS_SIGN:
		return -1;		/* wait for the parent */
	case CL_ESTABLISHED:
		if (c->read_paused)
			return -1;	/* until its answers drain */
		if ((flen = rec_frame_len(c->cur, c->inlen)) < 0) {
			worker->stats.records_bad++;
			client_close(c, "record with a bad length");
			return -1;
		}
		if (flen == 0 || (size_t)flen > c->inlen)
			return -1;
		client_record(c, c->cur, flen);
		/* the client may be closing or closed now */
		if (c->state != CL_ESTABLISHED)
			return -1;
		client_consume(c, flen);
		return 0;
	case CL_CLOSING:
		c->inlen = 0;
		return -1;
	case CL_DEAD:
		return -1;
	}
	return -1;
}

static void
client_process(struct client *c)
{
	if (c->cur == NULL)
		c->cur = c->in;
	if (c->cur == NULL)
		return;
	while (client_step(c) == 0)
		;
}

/* The parent's signature over this client's handshake hash. */
static void
conn_signed(struct peer *p, struct imsg *imsg)
{
	struct sign_resp	 resp;
	struct client		*c;

	peer_get_data(p, imsg, &resp, sizeof(resp));
	worker->stats.signatures++;
	if ((c = client_find(imsg->hdr.peerid)) == NULL ||
	    c->state != CL_HS_SIGN)
		return;		/* gone meanwhile */
	if (hs_set_sig(c->hs, resp.sig) == -1) {
		client_hs_fail(c);
		return;
	}
	/* hs_drive() writes M2 now, then reads M3 when it comes */
	c->state = CL_HANDSHAKE;
	if (c->cur == NULL)
		c->cur = c->in != NULL ? c->in : cs.scratch;
	client_process(c);
	client_keep_input(c);
}

/* ---- control requests ---- */

static void
wire_addrs_copy(struct wire_addr *dst, uint32_t *n,
    Relay__V1__Address **src, size_t nsrc)
{
	size_t	 i;

	*n = 0;
	for (i = 0; i < nsrc && i < ADDR_MAX_COUNT; i++) {
		memset(&dst[i], 0, sizeof(dst[i]));
		memcpy(dst[i].ip, src[i]->ip.data, src[i]->ip.len);
		dst[i].len = src[i]->ip.len;
		dst[i].port = src[i]->port;
		(*n)++;
	}
}

/* A request the lease worker answers exactly once: it counts as in flight. */
static void
client_to_lease(struct client *c, uint32_t type, const void *p, size_t len)
{
	peer_compose(worker->lease, type, c->cid, -1, p, len);
	if (type == IMSG_L_CONNECT)
		return;		/* bounded by the pending-session limits */
	c->inflight++;
	client_read_update(c);
}

static void
client_register(struct client *c, const Relay__V1__Register *r)
{
	struct l_register	 lr;
	size_t			 i;

	memset(&lr, 0, sizeof(lr));
	lr.request_id = r->request_id;
	strlcpy(lr.name, r->name, sizeof(lr.name));
	for (i = 0; i < r->n_alpn && i < ALPN_MAX_COUNT; i++)
		strlcpy(lr.alpn[i], r->alpn[i], sizeof(lr.alpn[i]));
	lr.nalpn = i;
	lr.ttl = r->ttl_seconds;
	strlcpy(lr.description, r->description, sizeof(lr.description));
	lr.hidden = r->hidden;
	wire_addrs_copy(lr.local, &lr.nlocal, r->local_addrs,
	    r->n_local_addrs);
	client_to_lease(c, IMSG_L_REGISTER, &lr, sizeof(lr));
}

static void
client_lease_op(struct client *c, uint32_t type, uint32_t request_id,
    const ProtobufCBinaryData *lease_id)
{
	struct l_lease_op	 op;

	memset(&op, 0, sizeof(op));
	op.request_id = request_id;
	memcpy(op.lease_id, lease_id->data, LEASE_ID_LEN);
	client_to_lease(c, type, &op, sizeof(op));
}

static void
client_connect(struct client *c, const Relay__V1__Connect *cn)
{
	struct l_connect	 lc;

	memset(&lc, 0, sizeof(lc));
	lc.request_id = cn->request_id;
	if (cn->target_case == RELAY__V1__CONNECT__TARGET_NAME) {
		lc.by_name = 1;
		strlcpy(lc.target, cn->name, sizeof(lc.target));
	} else if (id_normalize(cn->id, lc.target) == -1) {
		client_send_error(c, cn->request_id,
		    RELAY__V1__ERROR_CODE__ERR_BAD_REQUEST, "bad id");
		return;
	}
	strlcpy(lc.alpn, cn->alpn, sizeof(lc.alpn));
	wire_addrs_copy(lc.local, &lc.nlocal, cn->local_addrs,
	    cn->n_local_addrs);
	lc.direct = cn->direct;
	worker->stats.connects++;
	client_to_lease(c, IMSG_L_CONNECT, &lc, sizeof(lc));
}

/* A lease holder's word on a session's direct path: for the lease worker. */
static void
conn_path_report(struct client *c, const Relay__V1__PathReport *pr)
{
	struct l_path	 lp;

	memset(&lp, 0, sizeof(lp));
	memcpy(lp.session_id, pr->session_id.data, SESSION_ID_LEN);
	lp.outcome = pr->outcome;
	client_to_lease(c, IMSG_L_PATH, &lp, sizeof(lp));
}

static void
client_request(struct client *c, const ClientMessage *m)
{
	RelayMessage		 rm = RELAY__V1__RELAY_MESSAGE__INIT;
	Relay__V1__Pong		 pong = RELAY__V1__PONG__INIT;
	struct l_session_op	 op;
	struct l_reject		 rj;
	struct l_list		 ll;

	switch (m->msg_case) {
	case RELAY__V1__CLIENT_MESSAGE__MSG_REGISTER:
		client_register(c, m->register_);
		break;
	case RELAY__V1__CLIENT_MESSAGE__MSG_RENEW:
		client_lease_op(c, IMSG_L_RENEW, m->renew->request_id,
		    &m->renew->lease_id);
		break;
	case RELAY__V1__CLIENT_MESSAGE__MSG_UNREGISTER:
		client_lease_op(c, IMSG_L_UNREGISTER,
		    m->unregister->request_id, &m->unregister->lease_id);
		break;
	case RELAY__V1__CLIENT_MESSAGE__MSG_CONNECT:
		client_connect(c, m->connect);
		break;
	case RELAY__V1__CLIENT_MESSAGE__MSG_ACCEPT:
		memset(&op, 0, sizeof(op));
		memcpy(op.session_id, m->accept->session_id.data,
		    SESSION_ID_LEN);
		op.direct = m->accept->direct;
		client_to_lease(c, IMSG_L_ACCEPT, &op, sizeof(op));
		break;
	case RELAY__V1__CLIENT_MESSAGE__MSG_PATH_REPORT:
		conn_path_report(c, m->path_report);
		break;
	case RELAY__V1__CLIENT_MESSAGE__MSG_REJECT:
		memset(&rj, 0, sizeof(rj));
		memcpy(rj.session_id, m->reject->session_id.data,
		    SESSION_ID_LEN);
		strlcpy(rj.reason, m->reject->reason, sizeof(rj.reason));
		client_to_lease(c, IMSG_L_REJECT, &rj, sizeof(rj));
		break;
	case RELAY__V1__CLIENT_MESSAGE__MSG_LIST_LEASES:
		memset(&ll, 0, sizeof(ll));
		ll.request_id = m->list_leases->request_id;
		ll.offset = m->list_leases->offset;
		client_to_lease(c, IMSG_L_LIST, &ll, sizeof(ll));
		break;
	case RELAY__V1__CLIENT_MESSAGE__MSG_PING:
		pong.nonce = m->ping->nonce;
		rm.msg_case = RELAY__V1__RELAY_MESSAGE__MSG_PONG;
		rm.pong = &pong;
		client_send(c, &rm);
		break;
	default:
		break;
	}
}

static uint32_t
client_msg_request_id(const ClientMessage *m)
{
	switch (m->msg_case) {
	case RELAY__V1__CLIENT_MESSAGE__MSG_REGISTER:
		return m->register_->request_id;
	case RELAY__V1__CLIENT_MESSAGE__MSG_RENEW:
		return m->renew->request_id;
	case RELAY__V1__CLIENT_MESSAGE__MSG_UNREGISTER:
		return m->unregister->request_id;
	case RELAY__V1__CLIENT_MESSAGE__MSG_CONNECT:
		return m->connect->request_id;
	case RELAY__V1__CLIENT_MESSAGE__MSG_LIST_LEASES:
		return m->list_leases->request_id;
	default:
		return 0;
	}
}

static void
client_bad_request(struct client *c, uint32_t request_id, const char *why)
{
	worker->stats.bad_requests++;
	conn_log_limited(3, "%s %s: bad request: %s", c->addr, c->id, why);
	client_send_error(c, request_id, RELAY__V1__ERROR_CODE__ERR_BAD_REQUEST,
	    why);
	if (c->state == CL_DEAD)
		return;		/* the answer could not be queued */
	if (++c->bad_requests >= BAD_REQUESTS_MAX)
		client_finish(c);
}

static void
client_record(struct client *c, const uint8_t *frame, size_t flen)
{
	uint8_t		 pt[REC_MAX_PAYLOAD];
	ClientMessage	*m;
	size_t		 plen;
	char		 err[128];
	int		 r;

	r = rec_open(&c->rec, frame, flen, pt, sizeof(pt), &plen);
	if (r == REC_ERR) {
		worker->stats.records_bad++;
		client_close(c, c->rec.error);
		return;
	}
	c->last_active = time(NULL);
	if (r == REC_CLOSE) {
		client_finish(c);
		return;
	}
	if ((m = proto_unpack_client(&cs.arena, pt, plen)) == NULL) {
		/* a NUL in a string breaks a field rule: its id is known */
		client_bad_request(c, cs.arena.refused != NULL ?
		    client_msg_request_id(cs.arena.refused) : 0,
		    cs.arena.exhausted ? "message needs too much memory" :
		    cs.arena.bad_string ? "a string field holds a NUL byte" :
		    "message does not unpack");
		proto_arena_reset(&cs.arena);
		return;
	}
	if (proto_check_client(m, err, sizeof(err)) == -1) {
		client_bad_request(c, client_msg_request_id(m), err);
		proto_arena_reset(&cs.arena);
		return;
	}
	c->bad_requests = 0;
	client_request(c, m);
	proto_arena_reset(&cs.arena);
}

/* ---- answers from the lease worker ---- */

/* An internal address to the wire; only 4 or 16 bytes are an address. */
static int
wire_addr_to_proto(const struct wire_addr *wa, Relay__V1__Address *a)
{
	relay__v1__address__init(a);
	if (wa->len != 4 && wa->len != 16)
		return -1;
	a->ip.data = (uint8_t *)wa->ip;
	a->ip.len = wa->len;
	a->port = wa->port;
	return 0;
}

/* A client's addresses in an Incoming or Connected, and their storage. */
struct pb_peer_addrs {
	Relay__V1__Address	 seen;
	Relay__V1__Address	 loc[ADDR_MAX_COUNT];
	Relay__V1__Address	*ploc[ADDR_MAX_COUNT];
	size_t			 nloc;
};

/* Its local addresses, and the one the relay saw: NULL if it has none. */
static Relay__V1__Address *
pb_peer_addrs(struct pb_peer_addrs *pa, const struct wire_addr *seen,
    const struct wire_addr *loc, uint32_t nloc)
{
	uint32_t	 i;

	pa->nloc = 0;
	for (i = 0; i < nloc && i < ADDR_MAX_COUNT; i++)
		if (wire_addr_to_proto(&loc[i], &pa->loc[pa->nloc]) == 0) {
			pa->ploc[pa->nloc] = &pa->loc[pa->nloc];
			pa->nloc++;
		}
	return wire_addr_to_proto(seen, &pa->seen) == 0 ? &pa->seen : NULL;
}

/* The answer to a request in flight: the client may be read again. */
static void
client_answered(struct client *c)
{
	if (c->inflight == 0) {
		log_warnx("%s %s: an answer to no request", c->addr, c->id);
		return;
	}
	c->inflight--;
	client_read_update(c);
}

static void
conn_registered(struct client *c, struct imsg *imsg)
{
	RelayMessage		 m = RELAY__V1__RELAY_MESSAGE__INIT;
	Relay__V1__Registered	 r = RELAY__V1__REGISTERED__INIT;
	Relay__V1__Address	 obs;
	struct l_registered	 lr;
	struct wire_addr	 wa;

	memcpy(&lr, imsg->data, sizeof(lr));
	r.request_id = lr.request_id;
	r.lease_id = proto_bytes(lr.lease_id, LEASE_ID_LEN);
	r.name = lr.name;
	r.ttl_seconds = lr.ttl;
	r.expires_unix = lr.expires;
	wire_addr_from_sockaddr(&wa, (struct sockaddr *)&c->ss);
	if (worker->lim.direct_paths && wire_addr_to_proto(&wa, &obs) == 0)
		r.observed_addr = &obs;
	m.msg_case = RELAY__V1__RELAY_MESSAGE__MSG_REGISTERED;
	m.registered = &r;
	client_send(c, &m);
}

static void
conn_incoming(struct client *c, struct imsg *imsg)
{
	RelayMessage		 m = RELAY__V1__RELAY_MESSAGE__INIT;
	Relay__V1__Incoming	 in = RELAY__V1__INCOMING__INIT;
	struct pb_peer_addrs	 pa;
	struct l_incoming	 li;

	memcpy(&li, imsg->data, sizeof(li));
	in.session_id = proto_bytes(li.session_id, SESSION_ID_LEN);
	in.lease_id = proto_bytes(li.lease_id, LEASE_ID_LEN);
	in.alpn = li.alpn;
	in.from_id = li.from_id;
	in.from_addr = pb_peer_addrs(&pa, &li.from_addr, li.from_local,
	    li.nfrom_local);
	in.token = proto_bytes(li.token, TOKEN_LEN);
	in.deadline_ms = li.deadline_ms;
	in.from_local_addrs = pa.ploc;
	in.n_from_local_addrs = pa.nloc;
	in.direct = li.direct != 0;
	m.msg_case = RELAY__V1__RELAY_MESSAGE__MSG_INCOMING;
	m.incoming = &in;
	client_send(c, &m);
}

static void
conn_connected(struct client *c, struct imsg *imsg)
{
	RelayMessage		 m = RELAY__V1__RELAY_MESSAGE__INIT;
	Relay__V1__Connected	 cn = RELAY__V1__CONNECTED__INIT;
	struct pb_peer_addrs	 pa;
	struct l_connected	 lc;

	memcpy(&lc, imsg->data, sizeof(lc));
	cn.request_id = lc.request_id;
	cn.session_id = proto_bytes(lc.session_id, SESSION_ID_LEN);
	cn.id = lc.id;
	cn.peer_addr = pb_peer_addrs(&pa, &lc.peer_addr, lc.peer_local,
	    lc.npeer_local);
	cn.token = proto_bytes(lc.token, TOKEN_LEN);
	cn.peer_local_addrs = pa.ploc;
	cn.n_peer_local_addrs = pa.nloc;
	cn.direct = lc.direct != 0;
	m.msg_case = RELAY__V1__RELAY_MESSAGE__MSG_CONNECTED;
	m.connected = &cn;
	client_send(c, &m);
}

/* One page of a listing: the entries came with it (msgtab.c counted them). */
static void
conn_lease_list(struct client *c, struct imsg *imsg)
{
	RelayMessage		 m = RELAY__V1__RELAY_MESSAGE__INIT;
	Relay__V1__LeaseList	 ll = RELAY__V1__LEASE_LIST__INIT;
	Relay__V1__LeaseInfo	 info[LIST_PAGE], *pinfo[LIST_PAGE];
	char			*alpn[LIST_PAGE][ALPN_MAX_COUNT];
	struct l_leaselist	 hdr;
	struct l_leaseinfo	 e[LIST_PAGE];
	size_t			 i, j;

	/* copied: the read buffer keeps no alignment */
	memcpy(&hdr, imsg->data, sizeof(hdr));
	if (hdr.n > LIST_PAGE)
		bad_imsg(worker->lease, imsg, "count");
	memcpy(e, imsg->data + sizeof(hdr), hdr.n * sizeof(e[0]));
	for (i = 0; i < hdr.n; i++) {
		relay__v1__lease_info__init(&info[i]);
		info[i].name = e[i].name;
		info[i].id = e[i].id;
		for (j = 0; j < e[i].nalpn && j < ALPN_MAX_COUNT; j++)
			alpn[i][j] = e[i].alpn[j];
		info[i].alpn = alpn[i];
		info[i].n_alpn = j;
		info[i].description = e[i].description;
		info[i].expires_unix = e[i].expires;
		pinfo[i] = &info[i];
	}
	ll.request_id = hdr.request_id;
	ll.leases = pinfo;
	ll.n_leases = i;
	ll.more = hdr.more;
	m.msg_case = RELAY__V1__RELAY_MESSAGE__MSG_LEASE_LIST;
	m.lease_list = &ll;
	client_send(c, &m);
}

static void
conn_dispatch_lease(struct peer *p, struct imsg *imsg)
{
	RelayMessage		 m = RELAY__V1__RELAY_MESSAGE__INIT;
	Relay__V1__Ack		 a = RELAY__V1__ACK__INIT;
	struct l_error		 le;
	struct l_notice		 ln;
	struct l_ack		 la;
	struct client		*c;

	/* the client may have gone since: its answer is void */
	if ((c = client_find(imsg->hdr.peerid)) == NULL ||
	    c->state != CL_ESTABLISHED)
		return;
	switch (imsg->hdr.type) {
	case IMSG_L_REGISTERED:
		conn_registered(c, imsg);
		client_answered(c);
		break;
	case IMSG_L_ACK:
		memcpy(&la, imsg->data, sizeof(la));
		a.request_id = la.request_id;
		m.msg_case = RELAY__V1__RELAY_MESSAGE__MSG_ACK;
		m.ack = &a;
		client_send(c, &m);
		client_answered(c);
		break;
	case IMSG_L_ERROR:
		memcpy(&le, imsg->data, sizeof(le));
		client_send_error(c, le.request_id, le.code, le.message);
		if (le.answer)
			client_answered(c);
		break;
	case IMSG_L_INCOMING:
		conn_incoming(c, imsg);
		break;
	case IMSG_L_CONNECTED:
		conn_connected(c, imsg);
		break;
	case IMSG_L_LEASELIST:
		conn_lease_list(c, imsg);
		client_answered(c);
		break;
	case IMSG_L_NOTICE:
		memcpy(&ln, imsg->data, sizeof(ln));
		client_send_notice(c, ln.kind, ln.lease_id, ln.message);
		break;
	case IMSG_L_KICK:
		client_finish(c);
		break;
	case IMSG_L_DONE:
		client_answered(c);
		break;
	default:
		bad_imsg(p, imsg, "unexpected from the lease worker");
	}
}

static void
conn_dispatch_parent(struct peer *p, struct imsg *imsg)
{
	struct listener_msg	 lm;
	struct listener		*l;
	int			 one = 1;

	switch (imsg->hdr.type) {
	case IMSG_LISTENER_FD:
		peer_get_data(p, imsg, &lm, sizeof(lm));
		if (cs.nlisteners == CTL_MAX_LISTENERS)
			bad_imsg(p, imsg, "too many listeners");
		l = &cs.listeners[cs.nlisteners++];
		l->fd = imsg_take_fd(imsg);
		/* set once here, every accepted connection inherits it */
		l->nodelay = setsockopt(l->fd, IPPROTO_TCP, TCP_NODELAY, &one,
		    sizeof(one)) == 0;
		strlcpy(l->name, lm.name, sizeof(l->name));
		l->last = conn_now();
		l->ev = event_new(worker->base, l->fd, EV_READ | EV_PERSIST,
		    conn_accept, l);
		if (l->ev == NULL)
			fatalx("event_new");
		break;
	case IMSG_SIGN_RESP:
		conn_signed(p, imsg);
		break;
	case IMSG_CFG_LIMITS:
		break;
	default:
		bad_imsg(p, imsg, "unexpected from the parent");
	}
}

/* The lease worker's queue drained: read the clients it paused. */
static void
conn_drained(struct peer *p)
{
	struct client	*c, *next;

	if (p->role != ROLE_LEASE)
		return;
	RB_FOREACH_SAFE(c, client_tree, &cs.clients, next)
		if (c->read_paused) {
			client_read_update(c);
			client_keep_input(c);
		}
}

/* ---- an orderly stop ---- */

static void
conn_stop_timeout(int fd, short ev, void *arg)
{
	worker_exit();
}

static void
conn_stop_check(void)
{
	if (cs.nclients == 0)
		worker_exit();
}

/*
 * relayd is stopping: every control client is told so (Notice
 * SHUTTING_DOWN, then a close record) and has STOP_FLUSH_MS to get it.
 */
static void
conn_stop(void)
{
	struct client	*c, *next;
	struct timeval	 tv = { STOP_FLUSH_MS / 1000,
			    (STOP_FLUSH_MS % 1000) * 1000 };

	conn_listeners_enable(0);
	RB_FOREACH_SAFE(c, client_tree, &cs.clients, next) {
		if (c->state == CL_ESTABLISHED) {
			c->hello_sent = 0;	/* the lease stops too */
			client_send_notice(c,
			    RELAY__V1__NOTICE__KIND__SHUTTING_DOWN, NULL,
			    "the relay is stopping");
			client_finish(c);
		} else if (c->state != CL_CLOSING)
			client_close(c, NULL);
	}
	if ((cs.ev_stop = evtimer_new(worker->base, conn_stop_timeout,
	    NULL)) == NULL)
		worker_exit();
	evtimer_add(cs.ev_stop, &tv);
	conn_stop_check();
}

const struct proc conn_proc = {
	.peers = R_LEASE | R_FWD,
	.fd_peers = R_FWD,
	.init = conn_init,
	.configured = conn_configured,
	.serve = conn_serve,
	.drained = conn_drained,
	.stop = conn_stop,
	.dispatch = {
		[ROLE_PARENT] = conn_dispatch_parent,
		[ROLE_LEASE] = conn_dispatch_lease,
	},
};
