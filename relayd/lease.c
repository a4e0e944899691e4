/* SPDX-License-Identifier: ISC */
/*
 * lease.c: the lease worker. It holds the lease table (by lease id, by
 * name, by holder, by ID), the session table (pending connects, tokens,
 * deadlines) and the per-ID rate limiters; it answers the conn workers'
 * requests, routes Incoming to the conn worker of the lease holder, tells
 * the fwd workers which tokens to pair, and serves the control socket
 * (control.c).
 *
 * It reads no network input: requests arrive already parsed and checked
 * by a conn worker (and by the message table), and are checked again here
 * for what only this table knows (ownership, limits, reservations). Every
 * operation on a lease or a session is O(log n) in the number of leases
 * and sessions; pending sessions are bounded per lease and per source
 * address, so nobody can fill a lease with requests that never pair.
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

struct lease_state	 ls;

TREE_CMP_BYTES(lease_id_cmp, lease, lease_id)
TREE_CMP_STRING(lease_name_cmp, lease, name)
TREE_CMP_BYTES(session_cmp, session, session_id)
TREE_CMP_STRING(bucket_cmp, bucket, id)
TREE_CMP_STRING(id_count_cmp, id_count, id)
TREE_CMP_BYTES(addr_pending_cmp, addr_pending, key)

static int
holder_cmp(struct holder *a, struct holder *b)
{
	if (a->conn != b->conn)
		return a->conn < b->conn ? -1 : 1;
	return a->cid < b->cid ? -1 : a->cid > b->cid;
}

LEASE_TREES(RB_GENERATE)

static void
lease_init(void)
{
	RB_INIT(&ls.by_id);
	RB_INIT(&ls.by_name);
	RB_INIT(&ls.holders);
	RB_INIT(&ls.sessions);
	RB_INIT(&ls.buckets);
	RB_INIT(&ls.ids);
	RB_INIT(&ls.pending_addrs);
	TAILQ_INIT(&ls.all);
	TAILQ_INIT(&ls.reserved);
	TAILQ_INIT(&ls.allowed);
	TAILQ_INIT(&ls.new_reserved);
	TAILQ_INIT(&ls.new_allowed);
}

static void
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

/* A configuration is complete: limits apply from now on; nothing is dropped. */
static void
lease_configured(int first)
{
	lease_swap_lists();
}

static void
lease_serve(void)
{
	control_start();
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

static struct id_count *
id_count_find(const char *id)
{
	struct id_count	 key;

	strlcpy(key.id, id, sizeof(key.id));
	return RB_FIND(id_count_tree, &ls.ids, &key);
}

int
lease_conn_up(int conn)
{
	return conn >= 0 && conn < RELAYD_MAX_WORKERS &&
	    peer_up(worker->conn[conn]);
}

/* ---- replies to a conn worker ---- */

/*
 * An IMSG_L_ERROR for the client cid on conn worker conn. answer says it
 * answers a Register, Renew, Unregister, Accept, Reject or ListLeases:
 * the conn worker counts those in flight per client.
 */
static void
send_error(int answer, int conn, uint32_t cid, uint32_t request_id,
    int code, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static void
send_error(int answer, int conn, uint32_t cid, uint32_t request_id,
    int code, const char *fmt, ...)
{
	struct l_error	 e;
	va_list		 ap;

	memset(&e, 0, sizeof(e));
	e.request_id = request_id;
	e.code = code;
	e.answer = answer;
	va_start(ap, fmt);
	vsnprintf(e.message, sizeof(e.message), fmt, ap);
	va_end(ap);
	peer_compose(worker->conn[conn], IMSG_L_ERROR, cid, -1, &e, sizeof(e));
}

/* An error about a session or lease, not the answer to a request. */
#define reply_error(...)	send_error(0, __VA_ARGS__)
/* The answer to a request, an error. */
#define answer_error(...)	send_error(1, __VA_ARGS__)

static void
answer_done(int conn, uint32_t cid)
{
	peer_compose(worker->conn[conn], IMSG_L_DONE, cid, -1, NULL, 0);
}

static void
reply_registered(struct holder *h, uint32_t request_id, struct lease *l)
{
	struct l_registered	 r;

	memset(&r, 0, sizeof(r));
	r.request_id = request_id;
	memcpy(r.lease_id, l->lease_id, LEASE_ID_LEN);
	strlcpy(r.name, l->name, sizeof(r.name));
	r.ttl = l->ttl;
	r.expires = l->expires;
	peer_compose(worker->conn[h->conn], IMSG_L_REGISTERED, h->cid, -1, &r,
	    sizeof(r));
}

/* ---- pending sessions per source address ---- */

static void
pending_key(const struct wire_addr *wa, uint8_t key[17])
{
	memset(key, 0, 17);
	key[0] = wa->len;
	/* an IPv6 client is counted by its /64, the unit it gets */
	memcpy(key + 1, wa->ip, wa->len == 16 ? 8 : wa->len == 4 ? 4 : 0);
}

static struct addr_pending *
pending_addr(const struct wire_addr *wa, int create)
{
	struct addr_pending	 key, *ap;

	pending_key(wa, key.key);
	if ((ap = RB_FIND(addr_pending_tree, &ls.pending_addrs, &key)) !=
	    NULL || !create)
		return ap;
	if ((ap = calloc(1, sizeof(*ap))) == NULL)
		return NULL;
	memcpy(ap->key, key.key, sizeof(ap->key));
	RB_INSERT(addr_pending_tree, &ls.pending_addrs, ap);
	return ap;
}

/* A session stops being pending: paired, or gone. */
static void
session_unpend(struct session *s)
{
	if (s->ap == NULL)
		return;
	if (--s->ap->count == 0) {
		RB_REMOVE(addr_pending_tree, &ls.pending_addrs, s->ap);
		free(s->ap);
	}
	s->ap = NULL;
	if (s->lease != NULL && s->lease->npending > 0)
		s->lease->npending--;
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

void
lease_remove(struct lease *l, const char *why)
{
	struct session	*s, *next;

	control_event(CTL_EV_LEASE_DEL, l->name, l->id, l->lease_id, why);
	/* connects still waiting for this holder's answer fail now */
	TAILQ_FOREACH_SAFE(s, &l->pending, lease_entry, next) {
		if (s->state == SESS_PENDING && s->requester != NULL) {
			reply_error(s->req_conn, s->req_cid, s->request_id,
			    RELAY__V1__ERROR_CODE__ERR_NOT_FOUND,
			    "the lease ended before its holder answered");
			session_remove(s, 1);
			continue;
		}
		/* accepted: the session outlives its lease */
		session_unpend(s);
		TAILQ_REMOVE(&l->pending, s, lease_entry);
		s->lease = NULL;
	}
	while ((s = TAILQ_FIRST(&l->paired)) != NULL) {
		if (s->direct) {
			session_remove(s, 0);	/* nothing of it is here */
			continue;
		}
		TAILQ_REMOVE(&l->paired, s, lease_entry);
		s->counted = 0;
		s->lease = NULL;
	}
	RB_REMOVE(lease_id_tree, &ls.by_id, l);
	RB_REMOVE(lease_name_tree, &ls.by_name, l);
	TAILQ_REMOVE(&ls.all, l, all_entry);
	TAILQ_REMOVE(&l->holder->leases, l, holder_entry);
	TAILQ_REMOVE(&l->idc->list, l, idc_entry);
	if (--l->idc->leases == 0) {
		RB_REMOVE(id_count_tree, &ls.ids, l->idc);
		free(l->idc);
	}
	ls.nleases--;
	event_free(l->ev_expire);
	free(l);
}

/*
 * Unsolicited news about a lease, to the connection holding it: "lease
 * NAME what".
 */
static void
lease_notice(struct lease *l, int kind, const char *what)
{
	struct l_notice	 n;

	memset(&n, 0, sizeof(n));
	n.kind = kind;
	memcpy(n.lease_id, l->lease_id, LEASE_ID_LEN);
	snprintf(n.message, sizeof(n.message), "lease %s %s", l->name, what);
	peer_compose(worker->conn[l->holder->conn], IMSG_L_NOTICE,
	    l->holder->cid, -1, &n, sizeof(n));
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

/* 0 when this holder may register this name now, else the error code. */
static int
lease_refused(struct holder *h, struct l_register *lr, char *why,
    size_t whylen)
{
	struct lease	*old;
	struct id_count	*idc;
	const char	*owner;

	if (!id_allowed(h->id)) {
		snprintf(why, whylen, "this relay does not let ID %s register "
		    "leases", h->id);
		return RELAY__V1__ERROR_CODE__ERR_UNAUTHORIZED;
	}
	if ((owner = name_reserved_for(lr->name)) != NULL &&
	    strcmp(owner, h->id) != 0) {
		snprintf(why, whylen, "the name %s is reserved for another ID",
		    lr->name);
		return RELAY__V1__ERROR_CODE__ERR_UNAUTHORIZED;
	}
	if ((old = lease_find_name(lr->name)) != NULL) {
		if (strcmp(old->id, h->id) != 0) {
			snprintf(why, whylen, "the name %s is held by another "
			    "ID", lr->name);
			return RELAY__V1__ERROR_CODE__ERR_NAME_TAKEN;
		}
		/*
		 * The same key registers again (a reconnect after a network
		 * change, before the old connection is known dead): it
		 * replaces, and the old lease's connection is told so.
		 */
		lease_notice(old, RELAY__V1__NOTICE__KIND__LEASE_REPLACED,
		    "was registered again by its ID");
		lease_remove(old, "replaced");
	}
	if ((idc = id_count_find(h->id)) != NULL &&
	    idc->leases >= worker->lim.leases_per_id) {
		snprintf(why, whylen, "this ID holds %u leases: the limit",
		    worker->lim.leases_per_id);
		return RELAY__V1__ERROR_CODE__ERR_LIMIT;
	}
	if (ls.nleases >= worker->lim.leases_total) {
		snprintf(why, whylen, "the relay holds its maximum of leases");
		return RELAY__V1__ERROR_CODE__ERR_LIMIT;
	}
	return 0;
}

static struct lease *
lease_new(struct holder *h, struct l_register *lr)
{
	struct lease	*l;
	struct id_count	*idc;
	uint32_t	 ttl, i;

	if ((idc = id_count_find(h->id)) == NULL) {
		if ((idc = calloc(1, sizeof(*idc))) == NULL)
			return NULL;
		strlcpy(idc->id, h->id, sizeof(idc->id));
		TAILQ_INIT(&idc->list);
		RB_INSERT(id_count_tree, &ls.ids, idc);
	}
	if ((l = calloc(1, sizeof(*l))) == NULL ||
	    (l->ev_expire = evtimer_new(worker->base, lease_expire_cb, l)) ==
	    NULL) {
		free(l);
		if (idc->leases == 0) {
			RB_REMOVE(id_count_tree, &ls.ids, idc);
			free(idc);
		}
		return NULL;
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
	l->idc = idc;
	TAILQ_INIT(&l->pending);
	TAILQ_INIT(&l->paired);
	RB_INSERT(lease_id_tree, &ls.by_id, l);
	RB_INSERT(lease_name_tree, &ls.by_name, l);
	TAILQ_INSERT_TAIL(&ls.all, l, all_entry);
	TAILQ_INSERT_TAIL(&h->leases, l, holder_entry);
	TAILQ_INSERT_TAIL(&idc->list, l, idc_entry);
	idc->leases++;
	ls.nleases++;
	lease_arm(l);
	return l;
}

static void
lease_register(int conn, uint32_t cid, struct l_register *lr)
{
	struct holder	*h;
	struct lease	*l;
	char		 why[REASON_MAX_LEN + 1];
	int		 code;

	if ((h = holder_find(conn, cid)) == NULL)
		return;		/* gone meanwhile */
	if (!proto_name_valid(lr->name))
		fatalx("a conn worker passed the lease name \"%s\"", lr->name);
	if ((code = lease_refused(h, lr, why, sizeof(why))) != 0) {
		answer_error(conn, cid, lr->request_id, code, "%s", why);
		return;
	}
	if ((l = lease_new(h, lr)) == NULL) {
		answer_error(conn, cid, lr->request_id,
		    RELAY__V1__ERROR_CODE__ERR_INTERNAL, "out of memory");
		return;
	}
	worker->stats.registrations++;
	log_debug("lease %s registered by %s for %us", l->name, l->id, l->ttl);
	control_event(CTL_EV_LEASE_ADD, l->name, l->id, l->lease_id, h->addr);
	reply_registered(h, lr->request_id, l);
}

/* Renew and Unregister: only the lease's own control connection may. */
static void
lease_op(int conn, uint32_t cid, int renew, struct l_lease_op *op)
{
	struct holder	*h;
	struct lease	*l;
	struct l_ack	 ack;

	if ((h = holder_find(conn, cid)) == NULL)
		return;
	l = lease_find_id(op->lease_id);
	if (l == NULL || l->holder != h) {
		answer_error(conn, cid, op->request_id,
		    RELAY__V1__ERROR_CODE__ERR_NOT_FOUND,
		    "no such lease on this connection");
		return;
	}
	if (renew) {
		l->expires = time(NULL) + l->ttl;
		lease_arm(l);
		worker->stats.renewals++;
		control_event(CTL_EV_LEASE_RENEW, l->name, l->id, l->lease_id,
		    "renewed");
		reply_registered(h, op->request_id, l);
		return;
	}
	worker->stats.unregistrations++;
	lease_remove(l, "unregistered");
	memset(&ack, 0, sizeof(ack));
	ack.request_id = op->request_id;
	peer_compose(worker->conn[conn], IMSG_L_ACK, cid, -1, &ack,
	    sizeof(ack));
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

/* Drop a few buckets that are full again: they hold no information. */
static void
bucket_sweep(void)
{
	struct bucket	*b, *next;
	struct timespec	 ts;
	double		 now;
	int		 n = 0;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = ts.tv_sec + ts.tv_nsec / 1e9;
	for (b = RB_MIN(bucket_tree, &ls.buckets); b != NULL && n < 4;
	    b = next, n++) {
		next = RB_NEXT(bucket_tree, &ls.buckets, b);
		if (b->tokens + (now - b->last) * worker->lim.connect_rate >=
		    worker->lim.connect_burst) {
			RB_REMOVE(bucket_tree, &ls.buckets, b);
			free(b);
		}
	}
}

void
session_remove(struct session *s, int tell_fwd)
{
	struct f_session_id	 fs;

	if (tell_fwd) {
		memcpy(fs.session_id, s->session_id, SESSION_ID_LEN);
		peer_compose(worker->fwd[s->fwd], IMSG_F_CANCEL, 0, -1, &fs,
		    sizeof(fs));
	}
	if (s->ap != NULL) {
		if (s->lease != NULL)
			TAILQ_REMOVE(&s->lease->pending, s, lease_entry);
		session_unpend(s);
	} else if (s->counted && s->lease != NULL) {
		TAILQ_REMOVE(&s->lease->paired, s, lease_entry);
		s->lease->nsessions--;
	}
	if (s->requester != NULL)
		TAILQ_REMOVE(&s->requester->requested, s, req_entry);
	if (ls.fwd_sessions[s->fwd] > 0)
		ls.fwd_sessions[s->fwd]--;
	RB_REMOVE(session_tree, &ls.sessions, s);
	ls.nsessions--;
	event_free_opt(s->ev_timer);
	free(s);
}

static void
session_timeout_cb(int fd, short ev, void *arg)
{
	struct session	*s = arg;

	if (s->state != SESS_PENDING)
		return;
	worker->stats.sessions_timed_out++;
	if (s->requester != NULL)
		reply_error(s->req_conn, s->req_cid, s->request_id,
		    RELAY__V1__ERROR_CODE__ERR_TIMEOUT,
		    "the lease holder did not answer in time");
	control_event(CTL_EV_SESSION_END, s->lease_name, s->from_id,
	    s->session_id, "timed out waiting for the holder");
	session_remove(s, 1);
}

/*
 * token[0] mod nfwd names the fwd worker: both halves must agree. A
 * random first byte below the largest multiple of nfwd is moved down to
 * the nearest value that names fwd: uniform over those values, as
 * drawing until one names fwd would be, from one draw.
 */
static void
token_name_fwd(uint8_t token[TOKEN_LEN], unsigned int fwd, unsigned int nfwd)
{
	unsigned int	 limit = 256 - 256 % nfwd;

	while (token[0] >= limit)
		if (crypto_random(token, 1) == -1)
			fatalx("random");
	token[0] = (uint8_t)(token[0] - token[0] % nfwd + fwd);
}

/* A live fwd worker with room for one more session, taken in turn. */
static int
session_pick_fwd(uint32_t *fwd)
{
	static uint32_t	 next;
	uint32_t	 n = worker->lim.workers_fwd, start = next++, i, k;

	for (i = 0; i < n; i++) {
		k = (start + i) % n;
		if (peer_up(worker->fwd[k]) &&
		    (worker->lim.sessions_per_fwd == 0 ||
		    ls.fwd_sessions[k] < worker->lim.sessions_per_fwd)) {
			*fwd = k;
			return 0;
		}
	}
	return -1;
}

static int
lease_has_alpn(const struct lease *l, const char *alpn)
{
	uint32_t	 i;

	for (i = 0; i < l->nalpn; i++)
		if (strcmp(l->alpn[i], alpn) == 0)
			return 1;
	return 0;
}

static struct lease *
lease_for_connect(struct l_connect *lc, int *code, const char **why)
{
	struct lease	*l;
	struct id_count	*idc;

	if (lc->by_name) {
		if ((l = lease_find_name(lc->target)) == NULL) {
			*code = RELAY__V1__ERROR_CODE__ERR_NOT_FOUND;
			*why = "no lease with that name";
			return NULL;
		}
		if (lease_has_alpn(l, lc->alpn))
			return l;
		*code = RELAY__V1__ERROR_CODE__ERR_ALPN_MISMATCH;
		*why = "the lease does not serve that ALPN";
		return NULL;
	}
	/* by ID: the oldest lease of that ID that serves the ALPN */
	if ((idc = id_count_find(lc->target)) == NULL) {
		*code = RELAY__V1__ERROR_CODE__ERR_NOT_FOUND;
		*why = "no lease of that ID";
		return NULL;
	}
	TAILQ_FOREACH(l, &idc->list, idc_entry)
		if (lease_has_alpn(l, lc->alpn))
			return l;
	*code = RELAY__V1__ERROR_CODE__ERR_ALPN_MISMATCH;
	*why = "no lease of that ID serves that ALPN";
	return NULL;
}

/*
 * The lease has its most pending sessions: the oldest one that nobody
 * answered yet (or that nobody paired) makes room for the new request.
 */
static void
lease_drop_oldest_pending(struct lease *l)
{
	struct session	*s;

	if ((s = TAILQ_FIRST(&l->pending)) == NULL)
		return;
	worker->stats.sessions_pending_dropped++;
	if (s->state == SESS_PENDING && s->requester != NULL)
		reply_error(s->req_conn, s->req_cid, s->request_id,
		    RELAY__V1__ERROR_CODE__ERR_LIMIT,
		    "the lease has too many pending sessions: this one was "
		    "dropped for a newer one");
	control_event(CTL_EV_SESSION_END, s->lease_name, s->from_id,
	    s->session_id, "dropped for a newer pending session");
	session_remove(s, 1);
}

/* The limits a Connect meets; 0 when it may go on. */
static int
connect_refused(struct holder *req, struct lease *l, uint32_t *fwd,
    const char **why)
{
	struct addr_pending	*ap;

	if ((ap = pending_addr(&req->waddr, 0)) != NULL &&
	    ap->count >= worker->lim.pending_per_addr) {
		worker->stats.sessions_refused_pending++;
		*why = "too many pending sessions from this address";
		return -1;
	}
	if (l->nsessions >= worker->lim.sessions_per_lease) {
		*why = "the lease has its maximum of sessions";
		return -1;
	}
	if (ls.nsessions >= worker->lim.sessions_total) {
		*why = "the relay has its maximum of sessions";
		return -1;
	}
	if (session_pick_fwd(fwd) == -1) {
		worker->stats.sessions_refused_nofile++;
		*why = "the relay has no room for another session now";
		return -1;
	}
	if (l->npending >= worker->lim.pending_per_lease)
		lease_drop_oldest_pending(l);
	return 0;
}

static struct session *
session_new(struct holder *req, struct lease *l, struct l_connect *lc,
    uint32_t fwd)
{
	struct session	*s;
	uint32_t	 nfwd = worker->lim.workers_fwd;
	uint8_t		 rnd[SESSION_ID_LEN + 2 * TOKEN_LEN];

	if ((s = calloc(1, sizeof(*s))) == NULL ||
	    (s->ev_timer = evtimer_new(worker->base, session_timeout_cb,
	    s)) == NULL ||
	    (s->ap = pending_addr(&req->waddr, 1)) == NULL) {
		if (s != NULL && s->ev_timer != NULL)
			event_free(s->ev_timer);
		free(s);
		return NULL;
	}
	/* the session's ID and both its tokens from one draw */
	do {
		if (crypto_random(rnd, sizeof(rnd)) == -1)
			fatalx("random");
		memcpy(s->session_id, rnd, SESSION_ID_LEN);
	} while (session_find(s->session_id) != NULL);
	memcpy(s->token_i, rnd + SESSION_ID_LEN, TOKEN_LEN);
	memcpy(s->token_r, rnd + SESSION_ID_LEN + TOKEN_LEN, TOKEN_LEN);
	crypto_wipe(rnd, sizeof(rnd));
	s->fwd = fwd;
	token_name_fwd(s->token_i, s->fwd, nfwd);
	token_name_fwd(s->token_r, s->fwd, nfwd);
	s->lease = l;
	s->requester = req;
	memcpy(s->lease_id, l->lease_id, LEASE_ID_LEN);
	strlcpy(s->lease_name, l->name, sizeof(s->lease_name));
	strlcpy(s->to_id, l->id, sizeof(s->to_id));
	strlcpy(s->from_id, req->id, sizeof(s->from_id));
	strlcpy(s->alpn, lc->alpn, sizeof(s->alpn));
	s->req_conn = req->conn;
	s->req_cid = req->cid;
	s->request_id = lc->request_id;
	memcpy(s->req_local, lc->local, sizeof(s->req_local));
	s->req_nlocal = lc->nlocal;
	s->direct_offer = lc->direct && worker->lim.direct_paths;
	s->created = time(NULL);
	s->state = SESS_PENDING;
	s->ap->count++;
	l->npending++;
	TAILQ_INSERT_TAIL(&l->pending, s, lease_entry);
	TAILQ_INSERT_TAIL(&req->requested, s, req_entry);
	RB_INSERT(session_tree, &ls.sessions, s);
	ls.nsessions++;
	ls.fwd_sessions[s->fwd]++;
	return s;
}

static void	lease_paired(struct session *);

/*
 * Direct paths (relay-protocol(7), DIRECT PATHS): the relay passes each
 * side's addresses to the other and says whether both will try; it never
 * connects anywhere itself. With direct-paths no it passes no address
 * and says no. The requester's wish and local addresses were kept from
 * its Connect (session_new).
 */
static void
session_direct_offer(struct session *s, const struct holder *req,
    struct l_incoming *in)
{
	if (!worker->lim.direct_paths)
		return;
	in->from_addr = req->waddr;
	memcpy(in->from_local, s->req_local, sizeof(in->from_local));
	in->nfrom_local = s->req_nlocal;
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
	s->direct_agreed = s->direct_offer && op->direct;
	c->direct = s->direct_agreed;
}

/*
 * The holder's PathReport. Direct: the relayed halves are not needed
 * (the requester never opens its own), so the fwd worker drops them,
 * while the table keeps the session, counted as its lease's and marked,
 * until the holder says it ended or its lease goes. Relayed: the attempt
 * failed, counted once.
 */
static void
lease_path(int conn, uint32_t cid, const struct l_path *lp)
{
	struct session		*s;
	struct f_session_id	 fs;

	if ((s = session_find(lp->session_id)) == NULL || !s->direct_agreed ||
	    s->lease == NULL || s->lease->holder->conn != conn ||
	    s->lease->holder->cid != cid)
		return;		/* not this holder's, or ended meanwhile */
	switch (lp->outcome) {
	case RELAY__V1__PATH_OUTCOME__PATH_DIRECT:
		if (s->path_reported || s->state != SESS_ACCEPTED)
			return;
		s->path_reported = 1;
		worker->stats.sessions_direct++;
		memcpy(fs.session_id, s->session_id, SESSION_ID_LEN);
		peer_compose(worker->fwd[s->fwd], IMSG_F_CANCEL, 0, -1, &fs,
		    sizeof(fs));
		lease_paired(s);	/* no longer pending: counted */
		s->direct = 1;
		break;
	case RELAY__V1__PATH_OUTCOME__PATH_RELAYED:
		if (s->path_reported)
			return;
		s->path_reported = 1;
		worker->stats.punch_failures++;
		break;
	case RELAY__V1__PATH_OUTCOME__PATH_ENDED:
		if (!s->direct)
			return;
		control_event(CTL_EV_SESSION_END, s->lease_name, s->from_id,
		    s->session_id, "direct session ended");
		session_remove(s, 0);
		break;
	}
}

static void
lease_incoming(struct session *s, struct holder *req, struct lease *l)
{
	struct l_incoming	 in;

	memset(&in, 0, sizeof(in));
	memcpy(in.session_id, s->session_id, SESSION_ID_LEN);
	memcpy(in.lease_id, l->lease_id, LEASE_ID_LEN);
	strlcpy(in.alpn, s->alpn, sizeof(in.alpn));
	strlcpy(in.from_id, req->id, sizeof(in.from_id));
	session_direct_offer(s, req, &in);
	memcpy(in.token, s->token_r, TOKEN_LEN);
	in.deadline_ms = worker->lim.timeout_accept * 1000;
	peer_compose(worker->conn[l->holder->conn], IMSG_L_INCOMING,
	    l->holder->cid, -1, &in, sizeof(in));
}

static void
lease_connect(int conn, uint32_t cid, struct l_connect *lc)
{
	struct holder		*req;
	struct lease		*l;
	struct session		*s;
	struct f_session	 fs;
	struct timeval		 tv;
	const char		*why = NULL;
	uint32_t		 fwd;
	int			 code = 0;

	if ((req = holder_find(conn, cid)) == NULL)
		return;
	if (!bucket_take(req->id)) {
		reply_error(conn, cid, lc->request_id,
		    RELAY__V1__ERROR_CODE__ERR_RATE_LIMITED,
		    "too many connects from this ID: at most %u a second",
		    worker->lim.connect_rate);
		return;
	}
	bucket_sweep();
	if ((l = lease_for_connect(lc, &code, &why)) == NULL) {
		reply_error(conn, cid, lc->request_id, code, "%s", why);
		return;
	}
	if (connect_refused(req, l, &fwd, &why) == -1) {
		reply_error(conn, cid, lc->request_id,
		    RELAY__V1__ERROR_CODE__ERR_LIMIT, "%s", why);
		return;
	}
	if ((s = session_new(req, l, lc, fwd)) == NULL) {
		reply_error(conn, cid, lc->request_id,
		    RELAY__V1__ERROR_CODE__ERR_INTERNAL, "out of memory");
		return;
	}

	/* the fwd worker learns the tokens before anyone can use them */
	memset(&fs, 0, sizeof(fs));
	memcpy(fs.session_id, s->session_id, SESSION_ID_LEN);
	memcpy(fs.token_i, s->token_i, TOKEN_LEN);
	memcpy(fs.token_r, s->token_r, TOKEN_LEN);
	fs.deadline_ms = worker->lim.timeout_pairing * 1000;
	peer_compose(worker->fwd[s->fwd], IMSG_F_SESSION, 0, -1, &fs,
	    sizeof(fs));
	lease_incoming(s, req, l);

	tv.tv_sec = worker->lim.timeout_accept;
	tv.tv_usec = 0;
	evtimer_add(s->ev_timer, &tv);
	control_event(CTL_EV_SESSION_NEW, l->name, req->id, s->session_id,
	    lc->alpn);
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
lease_accept(int conn, uint32_t cid, struct l_session_op *op)
{
	struct session		*s;
	struct holder		*h;
	struct l_connected	 c;

	if ((s = session_for_holder(conn, cid, op->session_id)) == NULL)
		return;
	h = s->lease->holder;
	s->state = SESS_ACCEPTED;
	evtimer_del(s->ev_timer);
	worker->stats.sessions_accepted++;
	if (s->requester != NULL) {
		memset(&c, 0, sizeof(c));
		c.request_id = s->request_id;
		memcpy(c.session_id, s->session_id, SESSION_ID_LEN);
		strlcpy(c.id, h->id, sizeof(c.id));
		memcpy(c.token, s->token_i, TOKEN_LEN);
		session_direct_agree(s, op, h, &c);
		peer_compose(worker->conn[s->req_conn], IMSG_L_CONNECTED,
		    s->req_cid, -1, &c, sizeof(c));
	}
	control_event(CTL_EV_SESSION_ACCEPT, s->lease_name, s->from_id,
	    s->session_id, "accepted");
	answer_done(conn, cid);
}

static void
lease_reject(int conn, uint32_t cid, struct l_reject *rj)
{
	struct session	*s;

	if ((s = session_for_holder(conn, cid, rj->session_id)) == NULL)
		return;
	worker->stats.sessions_rejected++;
	if (s->requester != NULL)
		reply_error(s->req_conn, s->req_cid, s->request_id,
		    RELAY__V1__ERROR_CODE__ERR_REJECTED, "%s",
		    rj->reason[0] ? rj->reason : "rejected by the lease holder");
	control_event(CTL_EV_SESSION_END, s->lease_name, s->from_id,
	    s->session_id, "rejected");
	session_remove(s, 1);
	answer_done(conn, cid);
}

/* One page of the public leases, as one message to the conn worker. */
static void
lease_list(int conn, uint32_t cid, struct l_list *ll)
{
	struct {
		struct l_leaselist	 hdr;
		struct l_leaseinfo	 e[LIST_PAGE];
	}			*page;

	_Static_assert(offsetof(__typeof__(*page), e) ==
	    sizeof(struct l_leaselist), "entries follow the header");
	struct l_leaseinfo	*li;
	struct lease		*l;
	uint32_t		 skip = ll->offset, i;

	if (!worker->lim.listing) {
		answer_error(conn, cid, ll->request_id,
		    RELAY__V1__ERROR_CODE__ERR_UNAUTHORIZED,
		    "lease listing is off on this relay");
		return;
	}
	if ((page = calloc(1, sizeof(*page))) == NULL) {
		answer_error(conn, cid, ll->request_id,
		    RELAY__V1__ERROR_CODE__ERR_INTERNAL, "out of memory");
		return;
	}
	page->hdr.request_id = ll->request_id;
	TAILQ_FOREACH(l, &ls.all, all_entry) {
		if (l->hidden)
			continue;
		if (skip > 0) {
			skip--;
			continue;
		}
		if (page->hdr.n == LIST_PAGE) {
			page->hdr.more = 1;
			break;
		}
		li = &page->e[page->hdr.n++];
		strlcpy(li->name, l->name, sizeof(li->name));
		strlcpy(li->id, l->id, sizeof(li->id));
		for (i = 0; i < l->nalpn; i++)
			strlcpy(li->alpn[i], l->alpn[i], sizeof(li->alpn[i]));
		li->nalpn = l->nalpn;
		strlcpy(li->description, l->description,
		    sizeof(li->description));
		li->expires = l->expires;
	}
	peer_compose(worker->conn[conn], IMSG_L_LEASELIST, cid, -1, page,
	    sizeof(page->hdr) + page->hdr.n * sizeof(page->e[0]));
	free(page);
}

static void
holder_new(int conn, uint32_t cid, struct l_hello *hm)
{
	struct holder	*h;

	if (holder_find(conn, cid) != NULL)
		fatalx("conn %d announced client %u twice", conn, cid);
	if ((h = calloc(1, sizeof(*h))) == NULL)
		fatal("calloc");
	h->conn = conn;
	h->cid = cid;
	strlcpy(h->id, hm->id, sizeof(h->id));
	strlcpy(h->addr, hm->addr, sizeof(h->addr));
	h->waddr = hm->waddr;
	h->since = time(NULL);
	TAILQ_INIT(&h->leases);
	TAILQ_INIT(&h->requested);
	RB_INSERT(holder_tree, &ls.holders, h);
	ls.nholders++;
}

static void
holder_remove(struct holder *h)
{
	struct lease	*l;
	struct session	*s, *next;

	while ((l = TAILQ_FIRST(&h->leases)) != NULL)
		lease_remove(l, "control connection closed");
	/* its own connects that nobody answered yet are void */
	TAILQ_FOREACH_SAFE(s, &h->requested, req_entry, next) {
		if (s->state == SESS_PENDING) {
			session_remove(s, 1);
			continue;
		}
		TAILQ_REMOVE(&h->requested, s, req_entry);
		s->requester = NULL;
	}
	RB_REMOVE(holder_tree, &ls.holders, h);
	ls.nholders--;
	free(h);
}

static void
lease_revoke_one(struct lease *l)
{
	lease_notice(l, RELAY__V1__NOTICE__KIND__LEASE_REVOKED,
	    "revoked by the relay operator");
	worker->stats.leases_revoked++;
	log_info("lease %s (%s) revoked", l->name, l->id);
	lease_remove(l, "revoked");
}

/* Revoke by name or by ID (every lease of that ID). */
int
lease_revoke(const char *target)
{
	struct lease	*l;
	struct id_count	*idc;
	char		 id[ID_BUFSZ];
	int		 count = 0;

	if (id_normalize(target, id) == 0) {
		/* the ID's list goes with its last lease: look it up again */
		while ((idc = id_count_find(id)) != NULL) {
			lease_revoke_one(TAILQ_FIRST(&idc->list));
			count++;
		}
		return count;
	}
	if ((l = lease_find_name(target)) == NULL)
		return 0;
	lease_revoke_one(l);
	return 1;
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
		if (s->requester != NULL)
			reply_error(s->req_conn, s->req_cid, s->request_id,
			    RELAY__V1__ERROR_CODE__ERR_REJECTED,
			    "the session was ended by the relay operator");
		session_remove(s, 1);
		return 0;
	}
	memcpy(fs.session_id, sid, SESSION_ID_LEN);
	peer_compose(worker->fwd[s->fwd], IMSG_F_KILL, 0, -1, &fs, sizeof(fs));
	return 0;
}

/* ---- a worker died: what was on it goes, nothing else ---- */

static void
lease_conn_gone(int conn)
{
	struct holder	 key, *h;
	int		 n = 0;

	/* holders are ordered by (conn, cid): the dead worker's come together */
	key.conn = conn;
	key.cid = 0;
	while ((h = RB_NFIND(holder_tree, &ls.holders, &key)) != NULL &&
	    h->conn == conn) {
		holder_remove(h);
		n++;
	}
	log_info("conn %d is gone: %d control connections dropped", conn, n);
}

static void
lease_fwd_gone(int fwd)
{
	struct session	*s, *next;
	int		 n = 0;

	RB_FOREACH_SAFE(s, session_tree, &ls.sessions, next) {
		if (s->fwd != (uint32_t)fwd)
			continue;
		if (s->state == SESS_PENDING && s->requester != NULL)
			reply_error(s->req_conn, s->req_cid, s->request_id,
			    RELAY__V1__ERROR_CODE__ERR_INTERNAL,
			    "a relay worker restarted: connect again");
		control_event(CTL_EV_SESSION_END, s->lease_name, s->from_id,
		    s->session_id, "its fwd worker died");
		session_remove(s, 0);
		n++;
	}
	ls.fwd_sessions[fwd] = 0;
	log_info("fwd %d is gone: %d sessions dropped", fwd, n);
}

static void
lease_peer_gone(enum proc_role role, int index)
{
	if (role == ROLE_CONN)
		lease_conn_gone(index);
	else if (role == ROLE_FWD)
		lease_fwd_gone(index);
	control_peer_gone(role, index);
}

/* ---- dispatch: msgtab.c has checked sizes, strings and counts ---- */

static void
lease_dispatch_conn(struct peer *p, struct imsg *imsg)
{
	union {
		struct l_hello		 hello;
		struct l_register	 reg;
		struct l_lease_op	 op;
		struct l_connect	 connect;
		struct l_session_op	 sop;
		struct l_reject		 reject;
		struct l_list		 list;
		struct l_path		 path;
	}		 u;
	struct holder	*h;
	uint32_t	 cid = imsg->hdr.peerid;
	int		 conn = p->index;

	if (imsg->len > sizeof(u))
		bad_imsg(p, imsg, "size");
	if (imsg->len > 0)
		memcpy(&u, imsg->data, imsg->len);
	switch (imsg->hdr.type) {
	case IMSG_L_HELLO:
		holder_new(conn, cid, &u.hello);
		break;
	case IMSG_L_GONE:
		if ((h = holder_find(conn, cid)) != NULL)
			holder_remove(h);
		break;
	case IMSG_L_REGISTER:
		lease_register(conn, cid, &u.reg);
		break;
	case IMSG_L_RENEW:
	case IMSG_L_UNREGISTER:
		lease_op(conn, cid, imsg->hdr.type == IMSG_L_RENEW, &u.op);
		break;
	case IMSG_L_CONNECT:
		lease_connect(conn, cid, &u.connect);
		break;
	case IMSG_L_ACCEPT:
		lease_accept(conn, cid, &u.sop);
		break;
	case IMSG_L_REJECT:
		lease_reject(conn, cid, &u.reject);
		break;
	case IMSG_L_LIST:
		lease_list(conn, cid, &u.list);
		break;
	case IMSG_L_PATH:
		lease_path(conn, cid, &u.path);
		answer_done(conn, cid);	/* no answer to the client */
		break;
	case IMSG_STATS:
		control_stats_reply(p, imsg);
		break;
	default:
		bad_imsg(p, imsg, "unexpected from a conn worker");
	}
}

/* Both halves are there: the session stops being pending. */
static void
lease_paired(struct session *s)
{
	s->state = SESS_PAIRED;
	if (s->ap != NULL) {
		if (s->lease != NULL)
			TAILQ_REMOVE(&s->lease->pending, s, lease_entry);
		session_unpend(s);
	}
	if (s->lease != NULL) {
		TAILQ_INSERT_TAIL(&s->lease->paired, s, lease_entry);
		s->lease->nsessions++;
		s->counted = 1;
	}
	control_event(CTL_EV_SESSION_PAIRED, s->lease_name, s->from_id,
	    s->session_id, "paired");
}

static void
lease_dispatch_fwd(struct peer *p, struct imsg *imsg)
{
	struct f_session_id	 fs;
	struct f_ended		 fe;
	struct session		*s;

	switch (imsg->hdr.type) {
	case IMSG_F_PAIRED:
		peer_get_data(p, imsg, &fs, sizeof(fs));
		if ((s = session_find(fs.session_id)) != NULL &&
		    s->state != SESS_PAIRED)
			lease_paired(s);
		break;
	case IMSG_F_ENDED:
		peer_get_data(p, imsg, &fe, sizeof(fe));
		if ((s = session_find(fe.session_id)) == NULL || s->direct)
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
lease_cfg_worker(struct peer *p, struct imsg *imsg)
{
	struct ctl_worker	 cw;
	uint32_t		 i;

	peer_get_data(p, imsg, &cw, sizeof(cw));
	/* a restarted worker replaces its own line */
	for (i = 0; i < ls.nworkers; i++)
		if (strcmp(ls.workers[i].role, cw.role) == 0 &&
		    ls.workers[i].index == cw.index) {
			ls.workers[i] = cw;
			return;
		}
	if (ls.nworkers == CTL_MAX_WORKERS)
		bad_imsg(p, imsg, "too many workers");
	ls.workers[ls.nworkers++] = cw;
}

static void
lease_dispatch_parent(struct peer *p, struct imsg *imsg)
{
	struct reservation_msg	 rm;
	struct allow_msg	 am;
	struct reservation	*r;
	struct allowed_id	*a;
	struct ctl_result	 res;

	switch (imsg->hdr.type) {
	case IMSG_CONTROL_FD:
		control_init(imsg_take_fd(imsg));
		break;
	case IMSG_CFG_INFO:
		peer_get_data(p, imsg, &ls.info, sizeof(ls.info));
		break;
	case IMSG_CFG_WORKER:
		lease_cfg_worker(p, imsg);
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
		peer_get_data(p, imsg, &rm, sizeof(rm));
		if ((r = calloc(1, sizeof(*r))) == NULL)
			fatal("calloc");
		strlcpy(r->name, rm.name, sizeof(r->name));
		strlcpy(r->id, rm.id, sizeof(r->id));
		TAILQ_INSERT_TAIL(&ls.new_reserved, r, entry);
		break;
	case IMSG_CFG_ALLOW:
		peer_get_data(p, imsg, &am, sizeof(am));
		if ((a = calloc(1, sizeof(*a))) == NULL)
			fatal("calloc");
		strlcpy(a->id, am.id, sizeof(a->id));
		TAILQ_INSERT_TAIL(&ls.new_allowed, a, entry);
		break;
	case IMSG_CTL_REPLY:
		peer_get_data(p, imsg, &res, sizeof(res));
		control_reply_from_parent(imsg->hdr.peerid, &res);
		break;
	default:
		bad_imsg(p, imsg, "unexpected from the parent");
	}
}

const struct proc lease_proc = {
	.peers = R_CONN | R_FWD,
	.fd_peers = 0,
	.pause_peers = R_CONN | R_FWD,
	.init = lease_init,
	.configured = lease_configured,
	.serve = lease_serve,
	.peer_gone = lease_peer_gone,
	.dispatch = {
		[ROLE_PARENT] = lease_dispatch_parent,
		[ROLE_CONN] = lease_dispatch_conn,
		[ROLE_FWD] = lease_dispatch_fwd,
	},
};
