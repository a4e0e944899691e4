/* SPDX-License-Identifier: ISC */
/*
 * lease.c: the lease worker. It holds the lease table (by lease id, by
 * name, by holder), the session table (pending connects, tokens,
 * deadlines) and the per-ID rate limiters; it answers the conn workers'
 * requests, routes Incoming to the conn worker of the lease holder, tells
 * the fwd workers which tokens to pair, and serves the control socket
 * (control.c).
 *
 * It reads no network input: requests arrive already parsed and checked
 * by a conn worker, and are checked again here for what only this table
 * knows (ownership, limits, reservations).
 */
#include "config.h"

#include <sys/tree.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "log.h"
#include "proto.h"
#include "relayd.h"
#include "util.h"

RB_GENERATE(lease_id_tree, lease, id_entry, lease_id_cmp)
RB_GENERATE(lease_name_tree, lease, name_entry, lease_name_cmp)
RB_GENERATE(holder_tree, holder, entry, holder_cmp)
RB_GENERATE(session_tree, session, entry, session_cmp)
RB_GENERATE(bucket_tree, bucket, entry, bucket_cmp)

struct lease_state	 ls;

int
lease_id_cmp(struct lease *a, struct lease *b)
{
	return memcmp(a->lease_id, b->lease_id, LEASE_ID_LEN);
}

int
lease_name_cmp(struct lease *a, struct lease *b)
{
	return strcmp(a->name, b->name);
}

int
holder_cmp(struct holder *a, struct holder *b)
{
	if (a->conn != b->conn)
		return a->conn < b->conn ? -1 : 1;
	return a->cid < b->cid ? -1 : a->cid > b->cid;
}

int
session_cmp(struct session *a, struct session *b)
{
	return memcmp(a->session_id, b->session_id, SESSION_ID_LEN);
}

int
bucket_cmp(struct bucket *a, struct bucket *b)
{
	return strcmp(a->id, b->id);
}

void
lease_init(void)
{
	RB_INIT(&ls.by_id);
	RB_INIT(&ls.by_name);
	RB_INIT(&ls.holders);
	RB_INIT(&ls.sessions);
	RB_INIT(&ls.buckets);
	TAILQ_INIT(&ls.all);
	TAILQ_INIT(&ls.reserved);
	TAILQ_INIT(&ls.allowed);
	TAILQ_INIT(&ls.new_reserved);
	TAILQ_INIT(&ls.new_allowed);
}

void
lease_configured(void)
{
	/* the first configuration: the lists were built into new_* */
	lease_swap_lists();
	control_start();
}

void
lease_swap_lists(void)
{
	struct reservation	*r;
	struct allowed_id	*a;

	while ((r = TAILQ_FIRST(&ls.reserved)) != NULL) {
		TAILQ_REMOVE(&ls.reserved, r, entry);
		free(r);
	}
	while ((a = TAILQ_FIRST(&ls.allowed)) != NULL) {
		TAILQ_REMOVE(&ls.allowed, a, entry);
		free(a);
	}
	TAILQ_CONCAT(&ls.reserved, &ls.new_reserved, entry);
	TAILQ_CONCAT(&ls.allowed, &ls.new_allowed, entry);
}

static struct holder *
holder_find(int conn, uint32_t cid)
{
	struct holder	 key;

	key.conn = conn;
	key.cid = cid;
	return RB_FIND(holder_tree, &ls.holders, &key);
}

struct lease *
lease_find_id(const uint8_t *id)
{
	struct lease	 key;

	memcpy(key.lease_id, id, LEASE_ID_LEN);
	return RB_FIND(lease_id_tree, &ls.by_id, &key);
}

struct lease *
lease_find_name(const char *name)
{
	struct lease	 key;

	if (strlcpy(key.name, name, sizeof(key.name)) >= sizeof(key.name))
		return NULL;
	return RB_FIND(lease_name_tree, &ls.by_name, &key);
}

struct session *
session_find(const uint8_t *id)
{
	struct session	 key;

	memcpy(key.session_id, id, SESSION_ID_LEN);
	return RB_FIND(session_tree, &ls.sessions, &key);
}

/* ---- replies to a conn worker ---- */

static void
reply_verror(int answer, int conn, uint32_t cid, uint32_t request_id,
    int code, const char *fmt, va_list ap)
{
	struct l_error	 e;

	memset(&e, 0, sizeof(e));
	e.cid = cid;
	e.request_id = request_id;
	e.code = code;
	e.answer = answer;
	vsnprintf(e.message, sizeof(e.message), fmt, ap);
	peer_compose(worker->conn[conn], IMSG_L_ERROR, -1, &e, sizeof(e));
}

/* An error about a session or lease, not the answer to a request. */
static void
reply_error(int conn, uint32_t cid, uint32_t request_id, int code,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void
reply_error(int conn, uint32_t cid, uint32_t request_id, int code,
    const char *fmt, ...)
{
	va_list		 ap;

	va_start(ap, fmt);
	reply_verror(0, conn, cid, request_id, code, fmt, ap);
	va_end(ap);
}

/*
 * The answer to a Register, Renew, Unregister, Accept, Reject or
 * ListLeases: the conn worker counts those in flight per client.
 */
static void
answer_error(int conn, uint32_t cid, uint32_t request_id, int code,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void
answer_error(int conn, uint32_t cid, uint32_t request_id, int code,
    const char *fmt, ...)
{
	va_list		 ap;

	va_start(ap, fmt);
	reply_verror(1, conn, cid, request_id, code, fmt, ap);
	va_end(ap);
}

static void
answer_done(int conn, uint32_t cid)
{
	struct l_client	 lc;

	memset(&lc, 0, sizeof(lc));
	lc.cid = cid;
	peer_compose(worker->conn[conn], IMSG_L_DONE, -1, &lc, sizeof(lc));
}

static void
reply_registered(struct holder *h, uint32_t request_id, struct lease *l)
{
	struct l_registered	 r;

	memset(&r, 0, sizeof(r));
	r.cid = h->cid;
	r.request_id = request_id;
	memcpy(r.lease_id, l->lease_id, LEASE_ID_LEN);
	strlcpy(r.name, l->name, sizeof(r.name));
	r.ttl = l->ttl;
	r.expires = l->expires;
	peer_compose(worker->conn[h->conn], IMSG_L_REGISTERED, -1, &r,
	    sizeof(r));
}

/* ---- leases ---- */

static void
lease_expire_cb(int fd, short ev, void *arg)
{
	struct lease	*l = arg;

	log_debug("lease %s (%s) expired", l->name, l->id);
	worker->stats.leases_expired++;
	lease_remove(l, "expired");
}

static void
lease_arm(struct lease *l)
{
	struct timeval	 tv;

	tv.tv_sec = l->ttl;
	tv.tv_usec = 0;
	evtimer_add(l->ev_expire, &tv);
}

static uint32_t
leases_of_id(const char *id)
{
	struct lease	*l;
	uint32_t	 n = 0;

	TAILQ_FOREACH(l, &ls.all, all_entry)
		if (strcmp(l->id, id) == 0)
			n++;
	return n;
}

void
lease_remove(struct lease *l, const char *why)
{
	struct session	*s, *next;

	control_event(CTL_EV_LEASE_DEL, l->name, l->id, l->lease_id, why);
	/* connects still waiting for this holder's answer fail now */
	RB_FOREACH_SAFE(s, session_tree, &ls.sessions, next)
		if (s->lease == l && s->state == SESS_PENDING) {
			reply_error(s->req_conn, s->req_cid, s->request_id,
			    RELAY__V1__ERROR_CODE__ERR_NOT_FOUND,
			    "the lease ended before its holder answered");
			session_remove(s, 1);
		} else if (s->lease == l && s->on_direct)
			session_remove(s, 0);	/* nothing of it is here */
		else if (s->lease == l)
			s->lease = NULL;
	RB_REMOVE(lease_id_tree, &ls.by_id, l);
	RB_REMOVE(lease_name_tree, &ls.by_name, l);
	TAILQ_REMOVE(&ls.all, l, all_entry);
	TAILQ_REMOVE(&l->holder->leases, l, holder_entry);
	ls.nleases--;
	event_free(l->ev_expire);
	free(l);
}

static int
id_allowed(const char *id)
{
	struct allowed_id	*a;

	if (worker->lim.register_any)
		return 1;
	TAILQ_FOREACH(a, &ls.allowed, entry)
		if (strcmp(a->id, id) == 0)
			return 1;
	return 0;
}

static const char *
name_reserved_for(const char *name)
{
	struct reservation	*r;

	TAILQ_FOREACH(r, &ls.reserved, entry)
		if (strcmp(r->name, name) == 0)
			return r->id;
	return NULL;
}

static void
lease_register(int conn, struct l_register *lr)
{
	struct holder	*h;
	struct lease	*l, *old;
	const char	*owner;
	uint32_t	 ttl, i;

	if ((h = holder_find(conn, lr->cid)) == NULL)
		return;		/* gone meanwhile */
	if (!id_allowed(h->id)) {
		answer_error(conn, lr->cid, lr->request_id,
		    RELAY__V1__ERROR_CODE__ERR_UNAUTHORIZED,
		    "this relay does not let ID %s register leases", h->id);
		return;
	}
	if ((owner = name_reserved_for(lr->name)) != NULL &&
	    strcmp(owner, h->id) != 0) {
		answer_error(conn, lr->cid, lr->request_id,
		    RELAY__V1__ERROR_CODE__ERR_UNAUTHORIZED,
		    "the name %s is reserved for another ID", lr->name);
		return;
	}
	if ((old = lease_find_name(lr->name)) != NULL) {
		if (strcmp(old->id, h->id) != 0) {
			answer_error(conn, lr->cid, lr->request_id,
			    RELAY__V1__ERROR_CODE__ERR_NAME_TAKEN,
			    "the name %s is held by another ID", lr->name);
			return;
		}
		/* the same key registers again (a reconnect): it replaces */
		lease_remove(old, "replaced");
	}
	if (leases_of_id(h->id) >= worker->lim.leases_per_id) {
		answer_error(conn, lr->cid, lr->request_id,
		    RELAY__V1__ERROR_CODE__ERR_LIMIT,
		    "this ID holds %u leases: the limit", worker->lim.leases_per_id);
		return;
	}
	if (ls.nleases >= worker->lim.leases_total) {
		answer_error(conn, lr->cid, lr->request_id,
		    RELAY__V1__ERROR_CODE__ERR_LIMIT,
		    "the relay holds its maximum of leases");
		return;
	}
	if ((l = calloc(1, sizeof(*l))) == NULL) {
		answer_error(conn, lr->cid, lr->request_id,
		    RELAY__V1__ERROR_CODE__ERR_INTERNAL, "out of memory");
		return;
	}
	do {
		if (crypto_random(l->lease_id, LEASE_ID_LEN) == -1)
			fatalx("random");
	} while (lease_find_id(l->lease_id) != NULL);
	strlcpy(l->name, lr->name, sizeof(l->name));
	strlcpy(l->id, h->id, sizeof(l->id));
	for (i = 0; i < lr->nalpn; i++)
		strlcpy(l->alpn[i], lr->alpn[i], sizeof(l->alpn[i]));
	l->nalpn = lr->nalpn;
	strlcpy(l->description, lr->description, sizeof(l->description));
	l->hidden = lr->hidden != 0;
	memcpy(l->local, lr->local, sizeof(l->local));
	l->nlocal = lr->nlocal;
	ttl = lr->ttl;
	if (ttl < worker->lim.lease_ttl_min)
		ttl = worker->lim.lease_ttl_min;
	if (ttl > worker->lim.lease_ttl_max)
		ttl = worker->lim.lease_ttl_max;
	l->ttl = ttl;
	l->created = time(NULL);
	l->expires = l->created + ttl;
	l->holder = h;
	if ((l->ev_expire = evtimer_new(worker->base, lease_expire_cb, l)) ==
	    NULL)
		fatalx("evtimer_new");
	RB_INSERT(lease_id_tree, &ls.by_id, l);
	RB_INSERT(lease_name_tree, &ls.by_name, l);
	TAILQ_INSERT_TAIL(&ls.all, l, all_entry);
	TAILQ_INSERT_TAIL(&h->leases, l, holder_entry);
	ls.nleases++;
	lease_arm(l);
	worker->stats.registrations++;
	log_debug("lease %s registered by %s for %us", l->name, l->id, ttl);
	control_event(CTL_EV_LEASE_ADD, l->name, l->id, l->lease_id, h->addr);
	reply_registered(h, lr->request_id, l);
}

/* Renew and Unregister: only the lease's own control connection may. */
static struct lease *
lease_owned(int conn, struct l_lease_op *op, struct holder **hp)
{
	struct lease	*l;

	if ((*hp = holder_find(conn, op->cid)) == NULL)
		return NULL;
	l = lease_find_id(op->lease_id);
	if (l == NULL || l->holder != *hp) {
		answer_error(conn, op->cid, op->request_id,
		    RELAY__V1__ERROR_CODE__ERR_NOT_FOUND,
		    "no such lease on this connection");
		return NULL;
	}
	return l;
}

/* ---- sessions ---- */

static int
bucket_take(const char *id)
{
	struct bucket	 key, *b;
	struct timespec	 ts;
	double		 now, tokens;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = ts.tv_sec + ts.tv_nsec / 1e9;
	strlcpy(key.id, id, sizeof(key.id));
	if ((b = RB_FIND(bucket_tree, &ls.buckets, &key)) == NULL) {
		if ((b = calloc(1, sizeof(*b))) == NULL)
			return 0;
		strlcpy(b->id, id, sizeof(b->id));
		b->tokens = worker->lim.connect_burst;
		b->last = now;
		RB_INSERT(bucket_tree, &ls.buckets, b);
	}
	tokens = b->tokens + (now - b->last) * worker->lim.connect_rate;
	if (tokens > worker->lim.connect_burst)
		tokens = worker->lim.connect_burst;
	b->last = now;
	if (tokens < 1.0) {
		b->tokens = tokens;
		return 0;
	}
	b->tokens = tokens - 1.0;
	return 1;
}

/* Drop buckets that are full again: they hold no information. */
static void
bucket_sweep(void)
{
	struct bucket	*b, *next;
	struct timespec	 ts;
	double		 now;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = ts.tv_sec + ts.tv_nsec / 1e9;
	RB_FOREACH_SAFE(b, bucket_tree, &ls.buckets, next)
		if (b->tokens + (now - b->last) * worker->lim.connect_rate >=
		    worker->lim.connect_burst) {
			RB_REMOVE(bucket_tree, &ls.buckets, b);
			free(b);
		}
}

void
session_remove(struct session *s, int tell_fwd)
{
	struct f_session_id	 fs;
	struct lease		*l;

	if (tell_fwd) {
		memcpy(fs.session_id, s->session_id, SESSION_ID_LEN);
		peer_compose(worker->fwd[s->fwd], IMSG_F_CANCEL, -1, &fs,
		    sizeof(fs));
	}
	if ((l = lease_find_id(s->lease_id)) != NULL && l->nsessions > 0)
		l->nsessions--;
	RB_REMOVE(session_tree, &ls.sessions, s);
	ls.nsessions--;
	if (s->ev_timer != NULL)
		event_free(s->ev_timer);
	free(s);
}

static void
session_timeout_cb(int fd, short ev, void *arg)
{
	struct session	*s = arg;

	if (s->state != SESS_PENDING)
		return;
	worker->stats.sessions_timed_out++;
	reply_error(s->req_conn, s->req_cid, s->request_id,
	    RELAY__V1__ERROR_CODE__ERR_TIMEOUT,
	    "the lease holder did not answer in time");
	control_event(CTL_EV_SESSION_END, s->lease_name, s->from_id,
	    s->session_id, "timed out waiting for the holder");
	session_remove(s, 1);
}

static void
random_token_for(uint8_t token[TOKEN_LEN], unsigned int fwd, unsigned int nfwd)
{
	/* token[0] mod nfwd names the fwd worker: both halves must agree */
	do {
		if (crypto_random(token, TOKEN_LEN) == -1)
			fatalx("random");
	} while (token[0] % nfwd != fwd || token[0] >= 256 - 256 % nfwd);
}

static struct lease *
lease_for_connect(struct l_connect *lc, int *code, const char **why)
{
	struct lease	*l;
	uint32_t	 i;
	int		 seen = 0;

	if (lc->by_name) {
		if ((l = lease_find_name(lc->target)) == NULL) {
			*code = RELAY__V1__ERROR_CODE__ERR_NOT_FOUND;
			*why = "no lease with that name";
			return NULL;
		}
		for (i = 0; i < l->nalpn; i++)
			if (strcmp(l->alpn[i], lc->alpn) == 0)
				return l;
		*code = RELAY__V1__ERROR_CODE__ERR_ALPN_MISMATCH;
		*why = "the lease does not serve that ALPN";
		return NULL;
	}
	/* by ID: the oldest lease of that ID that serves the ALPN */
	TAILQ_FOREACH(l, &ls.all, all_entry) {
		if (strcmp(l->id, lc->target) != 0)
			continue;
		seen = 1;
		for (i = 0; i < l->nalpn; i++)
			if (strcmp(l->alpn[i], lc->alpn) == 0)
				return l;
	}
	*code = seen ? RELAY__V1__ERROR_CODE__ERR_ALPN_MISMATCH :
	    RELAY__V1__ERROR_CODE__ERR_NOT_FOUND;
	*why = seen ? "no lease of that ID serves that ALPN" :
	    "no lease of that ID";
	return NULL;
}

/*
 * Direct paths (relay-protocol(7), DIRECT PATHS): the relay passes each
 * side's addresses to the other and says whether both will try; it never
 * connects anywhere itself. With direct-paths off it passes no address
 * and says no.
 */
static void
session_direct_offer(struct session *s, const struct l_connect *lc,
    const struct holder *req, struct l_incoming *in)
{
	if (!worker->lim.direct_paths)
		return;
	in->from_addr = req->waddr;
	memcpy(in->from_local, lc->local, sizeof(in->from_local));
	in->nfrom_local = lc->nlocal;
	s->direct_offer = lc->direct != 0;
	in->direct = s->direct_offer;
}

static void
session_direct_agree(struct session *s, const struct l_session_op *op,
    const struct holder *h, struct l_connected *c)
{
	if (!worker->lim.direct_paths)
		return;
	c->peer_addr = h->waddr;
	memcpy(c->peer_local, s->lease->local, sizeof(c->peer_local));
	c->npeer_local = s->lease->nlocal;
	s->direct = s->direct_offer && op->direct;
	c->direct = s->direct;
}

/*
 * The holder's PathReport. Direct: the relayed halves are not needed
 * (the requester never opens its own), so the fwd worker drops the
 * session, while the table keeps it, marked, until the holder says it
 * ended or its lease goes. Relayed: the attempt failed, counted once.
 */
static void
lease_path(int conn, const struct l_path *lp)
{
	struct session		*s;
	struct f_session_id	 fs;

	if ((s = session_find(lp->session_id)) == NULL || !s->direct ||
	    s->lease == NULL || s->lease->holder->conn != conn ||
	    s->lease->holder->cid != lp->cid)
		return;		/* not this holder's, or ended meanwhile */
	switch (lp->outcome) {
	case RELAY__V1__PATH_OUTCOME__PATH_DIRECT:
		if (s->path_reported)
			return;
		s->path_reported = s->on_direct = 1;
		worker->stats.sessions_direct++;
		memcpy(fs.session_id, s->session_id, SESSION_ID_LEN);
		peer_compose(worker->fwd[s->fwd], IMSG_F_CANCEL, -1, &fs,
		    sizeof(fs));
		control_event(CTL_EV_SESSION_PAIRED, s->lease_name,
		    s->from_id, s->session_id, "direct path");
		break;
	case RELAY__V1__PATH_OUTCOME__PATH_RELAYED:
		if (s->path_reported)
			return;
		s->path_reported = 1;
		worker->stats.punch_failures++;
		break;
	case RELAY__V1__PATH_OUTCOME__PATH_ENDED:
		if (!s->on_direct)
			return;
		control_event(CTL_EV_SESSION_END, s->lease_name, s->from_id,
		    s->session_id, "direct session ended");
		session_remove(s, 0);
		break;
	}
}

static void
lease_connect(int conn, struct l_connect *lc)
{
	struct holder		*req;
	struct lease		*l;
	struct session		*s;
	struct l_incoming	 in;
	struct f_session	 fs;
	struct timeval		 tv;
	const char		*why = NULL;
	int			 code = 0;

	if ((req = holder_find(conn, lc->cid)) == NULL)
		return;
	if (!bucket_take(req->id)) {
		reply_error(conn, lc->cid, lc->request_id,
		    RELAY__V1__ERROR_CODE__ERR_RATE_LIMITED,
		    "too many connects from this ID: at most %u a second",
		    worker->lim.connect_rate);
		return;
	}
	if ((l = lease_for_connect(lc, &code, &why)) == NULL) {
		reply_error(conn, lc->cid, lc->request_id, code, "%s", why);
		return;
	}
	if (l->nsessions >= worker->lim.sessions_per_lease ||
	    ls.nsessions >= worker->lim.sessions_total) {
		reply_error(conn, lc->cid, lc->request_id,
		    RELAY__V1__ERROR_CODE__ERR_LIMIT,
		    l->nsessions >= worker->lim.sessions_per_lease ?
		    "the lease has its maximum of sessions" :
		    "the relay has its maximum of sessions");
		return;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL ||
	    (s->ev_timer = evtimer_new(worker->base, session_timeout_cb,
	    s)) == NULL) {
		free(s);
		reply_error(conn, lc->cid, lc->request_id,
		    RELAY__V1__ERROR_CODE__ERR_INTERNAL, "out of memory");
		return;
	}
	do {
		if (crypto_random(s->session_id, SESSION_ID_LEN) == -1)
			fatalx("random");
	} while (session_find(s->session_id) != NULL);
	if (crypto_random(&s->fwd, sizeof(s->fwd)) == -1)
		fatalx("random");
	s->fwd %= worker->lim.workers_fwd;
	random_token_for(s->token_i, s->fwd, worker->lim.workers_fwd);
	random_token_for(s->token_r, s->fwd, worker->lim.workers_fwd);
	s->lease = l;
	memcpy(s->lease_id, l->lease_id, LEASE_ID_LEN);
	strlcpy(s->lease_name, l->name, sizeof(s->lease_name));
	strlcpy(s->to_id, l->id, sizeof(s->to_id));
	strlcpy(s->from_id, req->id, sizeof(s->from_id));
	strlcpy(s->alpn, lc->alpn, sizeof(s->alpn));
	s->req_conn = conn;
	s->req_cid = lc->cid;
	s->request_id = lc->request_id;
	s->created = time(NULL);
	s->state = SESS_PENDING;
	RB_INSERT(session_tree, &ls.sessions, s);
	ls.nsessions++;
	l->nsessions++;

	/* the fwd worker learns the tokens before anyone can use them */
	memset(&fs, 0, sizeof(fs));
	memcpy(fs.session_id, s->session_id, SESSION_ID_LEN);
	memcpy(fs.token_i, s->token_i, TOKEN_LEN);
	memcpy(fs.token_r, s->token_r, TOKEN_LEN);
	fs.deadline_ms = worker->lim.timeout_pairing * 1000;
	peer_compose(worker->fwd[s->fwd], IMSG_F_SESSION, -1, &fs, sizeof(fs));

	memset(&in, 0, sizeof(in));
	in.cid = l->holder->cid;
	memcpy(in.session_id, s->session_id, SESSION_ID_LEN);
	memcpy(in.lease_id, l->lease_id, LEASE_ID_LEN);
	strlcpy(in.alpn, lc->alpn, sizeof(in.alpn));
	strlcpy(in.from_id, req->id, sizeof(in.from_id));
	session_direct_offer(s, lc, req, &in);
	memcpy(in.token, s->token_r, TOKEN_LEN);
	in.deadline_ms = worker->lim.timeout_accept * 1000;
	peer_compose(worker->conn[l->holder->conn], IMSG_L_INCOMING, -1, &in,
	    sizeof(in));

	tv.tv_sec = worker->lim.timeout_accept;
	tv.tv_usec = 0;
	evtimer_add(s->ev_timer, &tv);
	control_event(CTL_EV_SESSION_NEW, l->name, req->id, s->session_id,
	    lc->alpn);
	bucket_sweep();
}

/* Accept and Reject: only from the control connection holding the lease. */
static struct session *
session_for_holder(int conn, uint32_t cid, const uint8_t *sid)
{
	struct session	*s;

	if ((s = session_find(sid)) == NULL || s->state != SESS_PENDING ||
	    s->lease == NULL || s->lease->holder->conn != conn ||
	    s->lease->holder->cid != cid) {
		answer_error(conn, cid, 0, RELAY__V1__ERROR_CODE__ERR_NOT_FOUND,
		    "no pending session with that id for this connection");
		return NULL;
	}
	return s;
}

static void
lease_accept(int conn, struct l_session_op *op)
{
	struct session		*s;
	struct holder		*h;
	struct l_connected	 c;

	if ((s = session_for_holder(conn, op->cid, op->session_id)) == NULL)
		return;
	h = s->lease->holder;
	s->state = SESS_ACCEPTED;
	evtimer_del(s->ev_timer);
	worker->stats.sessions_accepted++;
	memset(&c, 0, sizeof(c));
	c.cid = s->req_cid;
	c.request_id = s->request_id;
	memcpy(c.session_id, s->session_id, SESSION_ID_LEN);
	strlcpy(c.id, h->id, sizeof(c.id));
	memcpy(c.token, s->token_i, TOKEN_LEN);
	session_direct_agree(s, op, h, &c);
	peer_compose(worker->conn[s->req_conn], IMSG_L_CONNECTED, -1, &c,
	    sizeof(c));
	control_event(CTL_EV_SESSION_ACCEPT, s->lease_name, s->from_id,
	    s->session_id, "accepted");
	answer_done(conn, op->cid);
}

static void
lease_reject(int conn, struct l_reject *rj)
{
	struct session	*s;

	if ((s = session_for_holder(conn, rj->cid, rj->session_id)) == NULL)
		return;
	worker->stats.sessions_rejected++;
	reply_error(s->req_conn, s->req_cid, s->request_id,
	    RELAY__V1__ERROR_CODE__ERR_REJECTED, "%s", rj->reason[0] ?
	    rj->reason : "rejected by the lease holder");
	control_event(CTL_EV_SESSION_END, s->lease_name, s->from_id,
	    s->session_id, "rejected");
	session_remove(s, 1);
	answer_done(conn, rj->cid);
}

static void
lease_list(int conn, struct l_list *ll)
{
	struct lease		*l;
	struct l_leaseinfo	 li;
	struct l_list_end	 le;
	uint32_t		 skip = ll->offset, n = 0, i;

	if (!worker->lim.listing) {
		answer_error(conn, ll->cid, ll->request_id,
		    RELAY__V1__ERROR_CODE__ERR_UNAUTHORIZED,
		    "lease listing is off on this relay");
		return;
	}
	memset(&le, 0, sizeof(le));
	TAILQ_FOREACH(l, &ls.all, all_entry) {
		if (l->hidden)
			continue;
		if (skip > 0) {
			skip--;
			continue;
		}
		if (n == LIST_PAGE) {
			le.more = 1;
			break;
		}
		memset(&li, 0, sizeof(li));
		li.cid = ll->cid;
		li.request_id = ll->request_id;
		strlcpy(li.name, l->name, sizeof(li.name));
		strlcpy(li.id, l->id, sizeof(li.id));
		for (i = 0; i < l->nalpn; i++)
			strlcpy(li.alpn[i], l->alpn[i], sizeof(li.alpn[i]));
		li.nalpn = l->nalpn;
		strlcpy(li.description, l->description, sizeof(li.description));
		li.expires = l->expires;
		peer_compose(worker->conn[conn], IMSG_L_LEASEINFO, -1, &li,
		    sizeof(li));
		n++;
	}
	le.cid = ll->cid;
	le.request_id = ll->request_id;
	peer_compose(worker->conn[conn], IMSG_L_LIST_END, -1, &le, sizeof(le));
}

static void
holder_gone(int conn, uint32_t cid)
{
	struct holder	*h;
	struct lease	*l;
	struct session	*s, *next;

	if ((h = holder_find(conn, cid)) == NULL)
		return;
	while ((l = TAILQ_FIRST(&h->leases)) != NULL)
		lease_remove(l, "control connection closed");
	/* its own connects that nobody answered yet are void */
	RB_FOREACH_SAFE(s, session_tree, &ls.sessions, next)
		if (s->state == SESS_PENDING && s->req_conn == conn &&
		    s->req_cid == cid)
			session_remove(s, 1);
	RB_REMOVE(holder_tree, &ls.holders, h);
	ls.nholders--;
	free(h);
}

/* Revoke by name or by ID (every lease of that ID). */
int
lease_revoke(const char *target)
{
	struct lease	*l, *next;
	struct l_notice	 n;
	char		 id[ID_BUFSZ];
	int		 count = 0, by_id;

	by_id = id_normalize(target, id) == 0;
	TAILQ_FOREACH_SAFE(l, &ls.all, all_entry, next) {
		if (by_id ? strcmp(l->id, id) != 0 :
		    strcmp(l->name, target) != 0)
			continue;
		memset(&n, 0, sizeof(n));
		n.cid = l->holder->cid;
		n.kind = RELAY__V1__NOTICE__KIND__LEASE_REVOKED;
		memcpy(n.lease_id, l->lease_id, LEASE_ID_LEN);
		snprintf(n.message, sizeof(n.message),
		    "lease %s revoked by the relay operator", l->name);
		peer_compose(worker->conn[l->holder->conn], IMSG_L_NOTICE, -1,
		    &n, sizeof(n));
		worker->stats.leases_revoked++;
		log_info("lease %s (%s) revoked", l->name, l->id);
		lease_remove(l, "revoked");
		count++;
	}
	return count;
}

/* Kill a session: cancel it if pending, else have its fwd worker end it. */
int
session_kill(const uint8_t *sid)
{
	struct session		*s;
	struct f_session_id	 fs;

	if ((s = session_find(sid)) == NULL)
		return -1;
	if (s->state == SESS_PENDING) {
		reply_error(s->req_conn, s->req_cid, s->request_id,
		    RELAY__V1__ERROR_CODE__ERR_REJECTED,
		    "the session was ended by the relay operator");
		session_remove(s, 1);
		return 0;
	}
	memcpy(fs.session_id, sid, SESSION_ID_LEN);
	peer_compose(worker->fwd[s->fwd], IMSG_F_KILL, -1, &fs, sizeof(fs));
	return 0;
}

/* ---- dispatch ---- */

static void
lease_check_strings(struct peer *p, struct imsg *imsg, const char *s,
    size_t len)
{
	if (!str_terminated(s, len))
		bad_imsg(p, imsg, "unterminated string");
}

static void
lease_dispatch_conn(struct peer *p, struct imsg *imsg)
{
	int	 conn = p->index;
	uint32_t i;

	switch (imsg->hdr.type) {
	case IMSG_L_HELLO: {
		struct l_hello	 hm;
		struct holder	*h;

		if (imsg_get_data(imsg, &hm, sizeof(hm)) == -1)
			bad_imsg(p, imsg, "size");
		lease_check_strings(p, imsg, hm.id, sizeof(hm.id));
		lease_check_strings(p, imsg, hm.addr, sizeof(hm.addr));
		if (holder_find(conn, hm.cid) != NULL)
			bad_imsg(p, imsg, "duplicate client");
		if ((h = calloc(1, sizeof(*h))) == NULL)
			fatal("calloc");
		h->conn = conn;
		h->cid = hm.cid;
		strlcpy(h->id, hm.id, sizeof(h->id));
		strlcpy(h->addr, hm.addr, sizeof(h->addr));
		h->waddr = hm.waddr;
		h->since = time(NULL);
		TAILQ_INIT(&h->leases);
		RB_INSERT(holder_tree, &ls.holders, h);
		ls.nholders++;
		break;
	}
	case IMSG_L_GONE: {
		struct l_client	 lc;

		if (imsg_get_data(imsg, &lc, sizeof(lc)) == -1)
			bad_imsg(p, imsg, "size");
		holder_gone(conn, lc.cid);
		break;
	}
	case IMSG_L_REGISTER: {
		struct l_register	 lr;

		if (imsg_get_data(imsg, &lr, sizeof(lr)) == -1)
			bad_imsg(p, imsg, "size");
		lease_check_strings(p, imsg, lr.name, sizeof(lr.name));
		lease_check_strings(p, imsg, lr.description,
		    sizeof(lr.description));
		if (lr.nalpn < 1 || lr.nalpn > ALPN_MAX_COUNT ||
		    lr.nlocal > ADDR_MAX_COUNT)
			bad_imsg(p, imsg, "counts");
		for (i = 0; i < lr.nalpn; i++)
			lease_check_strings(p, imsg, lr.alpn[i],
			    sizeof(lr.alpn[i]));
		if (!proto_name_valid(lr.name))
			bad_imsg(p, imsg, "name");
		lease_register(conn, &lr);
		break;
	}
	case IMSG_L_RENEW:
	case IMSG_L_UNREGISTER: {
		struct l_lease_op	 op;
		struct l_ack		 ack;
		struct holder		*h;
		struct lease		*l;

		if (imsg_get_data(imsg, &op, sizeof(op)) == -1)
			bad_imsg(p, imsg, "size");
		if ((l = lease_owned(conn, &op, &h)) == NULL)
			break;
		if (imsg->hdr.type == IMSG_L_RENEW) {
			l->expires = time(NULL) + l->ttl;
			lease_arm(l);
			worker->stats.renewals++;
			control_event(CTL_EV_LEASE_RENEW, l->name, l->id,
			    l->lease_id, "renewed");
			reply_registered(h, op.request_id, l);
		} else {
			worker->stats.unregistrations++;
			lease_remove(l, "unregistered");
			memset(&ack, 0, sizeof(ack));
			ack.cid = op.cid;
			ack.request_id = op.request_id;
			peer_compose(p, IMSG_L_ACK, -1, &ack, sizeof(ack));
		}
		break;
	}
	case IMSG_L_CONNECT: {
		struct l_connect	 lc;

		if (imsg_get_data(imsg, &lc, sizeof(lc)) == -1)
			bad_imsg(p, imsg, "size");
		lease_check_strings(p, imsg, lc.target, sizeof(lc.target));
		lease_check_strings(p, imsg, lc.alpn, sizeof(lc.alpn));
		if (lc.nlocal > ADDR_MAX_COUNT)
			bad_imsg(p, imsg, "counts");
		lease_connect(conn, &lc);
		break;
	}
	case IMSG_L_PATH: {
		struct l_path		 lp;

		if (imsg_get_data(imsg, &lp, sizeof(lp)) == -1)
			bad_imsg(p, imsg, "size");
		lease_path(conn, &lp);
		answer_done(conn, lp.cid);	/* no answer to the client */
		break;
	}
	case IMSG_L_ACCEPT: {
		struct l_session_op	 op;

		if (imsg_get_data(imsg, &op, sizeof(op)) == -1)
			bad_imsg(p, imsg, "size");
		lease_accept(conn, &op);
		break;
	}
	case IMSG_L_REJECT: {
		struct l_reject		 rj;

		if (imsg_get_data(imsg, &rj, sizeof(rj)) == -1)
			bad_imsg(p, imsg, "size");
		lease_check_strings(p, imsg, rj.reason, sizeof(rj.reason));
		lease_reject(conn, &rj);
		break;
	}
	case IMSG_L_LIST: {
		struct l_list		 ll;

		if (imsg_get_data(imsg, &ll, sizeof(ll)) == -1)
			bad_imsg(p, imsg, "size");
		lease_list(conn, &ll);
		break;
	}
	case IMSG_STATS:
		control_stats_reply(p, imsg);
		break;
	default:
		bad_imsg(p, imsg, "unexpected from a conn worker");
	}
}

static void
lease_dispatch_fwd(struct peer *p, struct imsg *imsg)
{
	struct f_session_id	 fs;
	struct f_ended		 fe;
	struct session		*s;

	switch (imsg->hdr.type) {
	case IMSG_F_PAIRED:
		if (imsg_get_data(imsg, &fs, sizeof(fs)) == -1)
			bad_imsg(p, imsg, "size");
		if ((s = session_find(fs.session_id)) == NULL)
			break;
		s->state = SESS_PAIRED;
		control_event(CTL_EV_SESSION_PAIRED, s->lease_name, s->from_id,
		    s->session_id, "paired");
		break;
	case IMSG_F_ENDED:
		if (imsg_get_data(imsg, &fe, sizeof(fe)) == -1)
			bad_imsg(p, imsg, "size");
		lease_check_strings(p, imsg, fe.reason, sizeof(fe.reason));
		if ((s = session_find(fe.session_id)) == NULL || s->on_direct)
			break;	/* a direct session ends by its holder's word */
		control_event(CTL_EV_SESSION_END, s->lease_name, s->from_id,
		    s->session_id, fe.reason);
		session_remove(s, 0);
		break;
	case IMSG_STATS:
		control_stats_reply(p, imsg);
		break;
	case IMSG_F_BYTES:
	case IMSG_F_BYTES_END:
		control_bytes_reply(p, imsg);
		break;
	default:
		bad_imsg(p, imsg, "unexpected from a fwd worker");
	}
}

static void
lease_dispatch_parent(struct peer *p, struct imsg *imsg)
{
	struct reservation_msg	 rm;
	struct allow_msg	 am;
	struct reservation	*r;
	struct allowed_id	*a;
	struct ctl_fwd_reply	 reply;

	switch (imsg->hdr.type) {
	case IMSG_CONTROL_FD:
		if (imsg->fd == -1 || imsg->len != 0)
			bad_imsg(p, imsg, "no descriptor");
		control_init(imsg_take_fd(imsg));
		break;
	case IMSG_CFG_INFO:
		if (imsg_get_data(imsg, &ls.info, sizeof(ls.info)) == -1 ||
		    !str_terminated(ls.info.relay_id, sizeof(ls.info.relay_id)) ||
		    ls.info.nlisteners > CTL_MAX_LISTENERS)
			bad_imsg(p, imsg, "size");
		break;
	case IMSG_CFG_WORKER:
		if (ls.nworkers == CTL_MAX_WORKERS)
			bad_imsg(p, imsg, "too many workers");
		if (imsg_get_data(imsg, &ls.workers[ls.nworkers],
		    sizeof(ls.workers[0])) == -1 ||
		    !str_terminated(ls.workers[ls.nworkers].role,
		    sizeof(ls.workers[0].role)))
			bad_imsg(p, imsg, "size");
		ls.nworkers++;
		break;
	case IMSG_CFG_LIMITS:
		/* a new configuration begins: collect its lists aside */
		while ((r = TAILQ_FIRST(&ls.new_reserved)) != NULL) {
			TAILQ_REMOVE(&ls.new_reserved, r, entry);
			free(r);
		}
		while ((a = TAILQ_FIRST(&ls.new_allowed)) != NULL) {
			TAILQ_REMOVE(&ls.new_allowed, a, entry);
			free(a);
		}
		break;
	case IMSG_CFG_RESERVE:
		if (imsg_get_data(imsg, &rm, sizeof(rm)) == -1)
			bad_imsg(p, imsg, "size");
		lease_check_strings(p, imsg, rm.name, sizeof(rm.name));
		lease_check_strings(p, imsg, rm.id, sizeof(rm.id));
		if ((r = calloc(1, sizeof(*r))) == NULL)
			fatal("calloc");
		strlcpy(r->name, rm.name, sizeof(r->name));
		strlcpy(r->id, rm.id, sizeof(r->id));
		TAILQ_INSERT_TAIL(&ls.new_reserved, r, entry);
		break;
	case IMSG_CFG_ALLOW:
		if (imsg_get_data(imsg, &am, sizeof(am)) == -1)
			bad_imsg(p, imsg, "size");
		lease_check_strings(p, imsg, am.id, sizeof(am.id));
		if ((a = calloc(1, sizeof(*a))) == NULL)
			fatal("calloc");
		strlcpy(a->id, am.id, sizeof(a->id));
		TAILQ_INSERT_TAIL(&ls.new_allowed, a, entry);
		break;
	case IMSG_CFG_END:
		/* a reload: limits apply from now on; nothing is dropped */
		lease_swap_lists();
		break;
	case IMSG_CTL_REPLY:
		if (imsg_get_data(imsg, &reply, sizeof(reply)) == -1 ||
		    !str_terminated(reply.result.message,
		    sizeof(reply.result.message)))
			bad_imsg(p, imsg, "size");
		control_reply_from_parent(&reply);
		break;
	default:
		bad_imsg(p, imsg, "unexpected from the parent");
	}
}

void
lease_dispatch(struct peer *p, struct imsg *imsg)
{
	switch (p->role) {
	case ROLE_PARENT:
		lease_dispatch_parent(p, imsg);
		break;
	case ROLE_CONN:
		lease_dispatch_conn(p, imsg);
		break;
	case ROLE_FWD:
		lease_dispatch_fwd(p, imsg);
		break;
	default:
		bad_imsg(p, imsg, "unexpected sender");
	}
}
