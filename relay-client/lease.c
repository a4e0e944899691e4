/* SPDX-License-Identifier: ISC */
/*
 * lease.c: the LeaseManager of expose. It keeps one lease registered on
 * the relay for as long as it runs: Register on a fresh control
 * connection, Renew at half the granted TTL, and after any failure (the
 * relay restarting, the network going away, a request left unanswered,
 * a refused renewal) a new connection after a capped exponential backoff
 * with jitter, then Register again. Incoming requests for the lease go to
 * the owner (expose.c), which accepts or rejects them through here.
 *
 * Some failures are not worth retrying and end the manager: a changed
 * relay ID (never silently accepted), a revocation by the relay's
 * operator, and on the very first registration a refusal that will not
 * change by itself (name taken, not authorized, bad request).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "relay-client.h"

static void	lease_ready(struct relay_client *, void *);
static void	lease_message(struct relay_client *, RelayMessage *, void *);
static void	lease_closed(struct relay_client *, int, const char *, void *);
static void	lease_register(struct lease_mgr *);
static void	lease_retry_cb(int, short, void *);
static void	lease_renew_cb(int, short, void *);

static const struct relay_cb lease_relay_cb = {
	.ready = lease_ready,
	.message = lease_message,
	.closed = lease_closed
};

struct lease_mgr *
lease_mgr_new(struct event_base *base, struct client_opts *opts,
    const struct lease_params *params, const struct lease_cb *cb, void *arg)
{
	struct lease_mgr	*lm;

	if ((lm = calloc(1, sizeof(*lm))) == NULL)
		return NULL;
	lm->base = base;
	lm->opts = opts;
	lm->params = *params;
	lm->cb = cb;
	lm->arg = arg;
	lm->backoff_ms = BACKOFF_MIN_MS;
	if ((lm->ev_renew = evtimer_new(base, lease_renew_cb, lm)) == NULL ||
	    (lm->ev_retry = evtimer_new(base, lease_retry_cb, lm)) == NULL) {
		lease_mgr_free(lm);
		return NULL;
	}
	return lm;
}

void
lease_mgr_free(struct lease_mgr *lm)
{
	if (lm == NULL)
		return;
	relay_free(lm->rc);
	client_event_free(&lm->ev_renew);
	client_event_free(&lm->ev_retry);
	free(lm);
}

static void
lease_connect(struct lease_mgr *lm)
{
	if ((lm->rc = relay_new(lm->base, lm->opts, &lease_relay_cb,
	    lm)) == NULL)
		fatal("relay_new");
	relay_connect(lm->rc);
}

void
lease_mgr_start(struct lease_mgr *lm)
{
	lease_connect(lm);
}

struct relay_client *
lease_mgr_relay(struct lease_mgr *lm)
{
	return lm->rc;
}

/* Give up for good; the owner decides what happens next. */
static void
lease_end(struct lease_mgr *lm, int code, const char *why)
{
	evtimer_del(lm->ev_renew);
	evtimer_del(lm->ev_retry);
	relay_free(lm->rc);
	lm->rc = NULL;
	lm->registered = 0;
	lm->cb->ended(lm, code, why, lm->arg);
}

/*
 * Drop the connection and try again after the backoff, with jitter; a
 * relay that said it was stopping is no failure (logged as information).
 */
static void
lease_lost_how(struct lease_mgr *lm, const char *why, int clean)
{
	struct timeval	 tv;
	uint32_t	 delay;
	char		 msg[1024];

	strlcpy(msg, why, sizeof(msg));		/* why may live in rc */
	why = msg;
	relay_free(lm->rc);
	lm->rc = NULL;
	evtimer_del(lm->ev_renew);
	if (lm->stopping) {
		lease_end(lm, EXIT_OK, NULL);
		return;
	}
	/* between half the backoff and all of it, so clients spread out */
	delay = lm->backoff_ms / 2 + arc4random_uniform(lm->backoff_ms / 2 + 1);
	if (lm->backoff_ms < BACKOFF_MAX_MS / 2)
		lm->backoff_ms *= 2;
	else
		lm->backoff_ms = BACKOFF_MAX_MS;
	if (clean)
		log_info("%s; registering lease %s again in %.1f s", why,
		    lm->params.name, delay / 1000.0);
	else if (lm->registered)
		log_warnx("lease %s lost: %s; registering again in %.1f s",
		    lm->params.name, why, delay / 1000.0);
	else
		log_warnx("%s; connecting again in %.1f s", why,
		    delay / 1000.0);
	lm->registered = 0;
	tv.tv_sec = delay / 1000;
	tv.tv_usec = (delay % 1000) * 1000;
	evtimer_add(lm->ev_retry, &tv);
}

static void
lease_lost(struct lease_mgr *lm, const char *why)
{
	lease_lost_how(lm, why, 0);
}

static void
lease_retry_cb(int fd, short ev, void *arg)
{
	struct lease_mgr	*lm = arg;

	if (lm->stopping) {
		lease_end(lm, EXIT_OK, NULL);
		return;
	}
	lease_connect(lm);
}

static void
lease_schedule_renew(struct lease_mgr *lm)
{
	struct timeval	 tv;
	uint64_t	 ms;

	/* at half the TTL: a lost renewal still leaves time for another */
	ms = (uint64_t)lm->ttl * 1000 / 2;
	if (ms < 200)
		ms = 200;
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(lm->ev_renew, &tv);
}

/* Registered, as the answer to Register or Renew. */
static void
lease_granted(struct lease_mgr *lm, Relay__V1__Registered *r, int renewal)
{
	memcpy(lm->lease_id, r->lease_id.data, LEASE_ID_LEN);
	lm->ttl = r->ttl_seconds > 0 ? r->ttl_seconds : 1;
	if (!renewal) {
		log_info("lease %s %sregistered on the relay %s (relay ID %s) "
		    "for ID %s, ttl %u s", r->name, lm->ever_registered ?
		    "re-" : "", lm->opts->relay_name, lm->opts->pin,
		    lm->opts->ident.id, lm->ttl);
		lm->ever_registered = 1;
	} else
		log_debug("lease %s renewed for %u s", r->name, lm->ttl);
	lm->registered = 1;
	lm->backoff_ms = BACKOFF_MIN_MS;
	lease_schedule_renew(lm);
}

static int
lease_permanent_error(int code)
{
	return code == RELAY__V1__ERROR_CODE__ERR_NAME_TAKEN ||
	    code == RELAY__V1__ERROR_CODE__ERR_UNAUTHORIZED ||
	    code == RELAY__V1__ERROR_CODE__ERR_BAD_REQUEST;
}

/*
 * What answers to Register and Renew have in common: none came, or the
 * lease was granted. 1 when that was it, 0 for the caller to go on.
 */
static int
lease_reply_common(struct lease_mgr *lm, RelayMessage *m, const char *why,
    int renewal)
{
	if (m == NULL) {
		lease_lost(lm, why);
		return 1;
	}
	if (m->msg_case == RELAY__V1__RELAY_MESSAGE__MSG_REGISTERED) {
		lease_granted(lm, m->registered, renewal);
		return 1;
	}
	return 0;
}

static void
lease_register_reply(struct relay_client *rc, RelayMessage *m, int code,
    const char *why, void *arg)
{
	struct lease_mgr	*lm = arg;
	char			 msg[1024], err[300];

	if (lease_reply_common(lm, m, why, 0))
		return;
	if (m->msg_case != RELAY__V1__RELAY_MESSAGE__MSG_ERROR) {
		lease_lost(lm, "unexpected answer to Register");
		return;
	}
	relay_error_message(m->error, err, sizeof(err));
	snprintf(msg, sizeof(msg), "the relay %s refused to register lease "
	    "%s: %s", lm->opts->relay_name, lm->params.name, err);
	if (lease_permanent_error(m->error->code) && !lm->ever_registered) {
		lease_end(lm, exit_for_error(m->error->code), msg);
		return;
	}
	lease_lost(lm, msg);
}

static void
lease_register(struct lease_mgr *lm)
{
	ClientMessage		 m = RELAY__V1__CLIENT_MESSAGE__INIT;
	Relay__V1__Register	 r = RELAY__V1__REGISTER__INIT;
	Relay__V1__Address	 local, *plocal = &local;
	uint8_t			 ip[16];

	/* where a peer on the same network finds our direct-path listener */
	if (direct_possible(lm->opts, lm->rc) &&
	    relay_local_proto(lm->rc, &local, ip) == 0) {
		r.local_addrs = &plocal;
		r.n_local_addrs = 1;
	}
	r.name = (char *)lm->params.name;
	r.alpn = (char **)lm->params.alpn;
	r.n_alpn = lm->params.nalpn;
	r.ttl_seconds = lm->params.ttl;
	r.description = (char *)(lm->params.description != NULL ?
	    lm->params.description : "");
	r.hidden = lm->params.hidden;
	m.msg_case = RELAY__V1__CLIENT_MESSAGE__MSG_REGISTER;
	m.register_ = &r;
	if (relay_request(lm->rc, &m, NULL, lease_register_reply, lm) == -1)
		log_warnx("cannot send Register");	/* the close follows */
}

static void
lease_ready(struct relay_client *rc, void *arg)
{
	lease_register(arg);
}

static void
lease_renew_reply(struct relay_client *rc, RelayMessage *m, int code,
    const char *why, void *arg)
{
	struct lease_mgr	*lm = arg;
	char			 err[300];

	if (lease_reply_common(lm, m, why, 1))
		return;
	if (m->msg_case == RELAY__V1__RELAY_MESSAGE__MSG_ERROR &&
	    m->error->code == RELAY__V1__ERROR_CODE__ERR_NOT_FOUND) {
		/* it expired before the renewal arrived: register again */
		log_warnx("lease %s expired on the relay; registering again",
		    lm->params.name);
		lm->registered = 0;
		lease_register(lm);
		return;
	}
	if (m->msg_case == RELAY__V1__RELAY_MESSAGE__MSG_ERROR) {
		relay_error_message(m->error, err, sizeof(err));
		lease_lost(lm, err);
	} else
		lease_lost(lm, "unexpected answer to Renew");
}

static void
lease_renew_cb(int fd, short ev, void *arg)
{
	struct lease_mgr	*lm = arg;
	ClientMessage		 m = RELAY__V1__CLIENT_MESSAGE__INIT;
	Relay__V1__Renew	 r = RELAY__V1__RENEW__INIT;

	if (!relay_is_ready(lm->rc) || !lm->registered)
		return;
	r.lease_id.data = lm->lease_id;
	r.lease_id.len = LEASE_ID_LEN;
	m.msg_case = RELAY__V1__CLIENT_MESSAGE__MSG_RENEW;
	m.renew = &r;
	if (relay_request(lm->rc, &m, NULL, lease_renew_reply, lm) == -1)
		log_warnx("cannot send Renew");		/* the close follows */
}

/* A lease ID from the relay names the lease we hold. */
static int
lease_is_ours(const struct lease_mgr *lm, const ProtobufCBinaryData *id)
{
	return id->len == LEASE_ID_LEN && memcmp(id->data, lm->lease_id,
	    LEASE_ID_LEN) == 0;
}

static void
lease_message(struct relay_client *rc, RelayMessage *m, void *arg)
{
	struct lease_mgr	*lm = arg;
	Relay__V1__Incoming	*in;
	Relay__V1__Notice	*n;
	char			 msg[1024], err[300];

	switch (m->msg_case) {
	case RELAY__V1__RELAY_MESSAGE__MSG_INCOMING:
		in = m->incoming;
		/* lengths were checked by proto_check_relay() */
		if (!lm->registered || !lease_is_ours(lm, &in->lease_id)) {
			(void)lease_mgr_reject(lm, in->session_id.data,
			    "no such lease here");
			return;
		}
		lm->cb->incoming(lm, in, lm->arg);
		return;
	case RELAY__V1__RELAY_MESSAGE__MSG_NOTICE:
		n = m->notice;
		text_safe(err, sizeof(err), n->message);
		if (n->kind == RELAY__V1__NOTICE__KIND__SHUTTING_DOWN) {
			log_info("the relay %s is shutting down%s%s",
			    lm->opts->relay_name, err[0] ? ": " : "",
			    err);
			return;
		}
		if (n->kind == RELAY__V1__NOTICE__KIND__LEASE_REVOKED &&
		    lease_is_ours(lm, &n->lease_id)) {
			snprintf(msg, sizeof(msg), "the relay's operator "
			    "revoked lease %s%s%s; not registering it again "
			    "(start expose again when allowed)",
			    lm->params.name, err[0] ? ": " : "",
			    err);
			lease_end(lm, EXIT_UNAUTHORIZED, msg);
			return;
		}
		if (n->kind == RELAY__V1__NOTICE__KIND__LEASE_REPLACED &&
		    lease_is_ours(lm, &n->lease_id)) {
			/* another connection with this key took the name */
			snprintf(msg, sizeof(msg), "lease %s was registered "
			    "again with this key from another connection "
			    "(is another expose running with it?); not "
			    "registering it again", lm->params.name);
			lease_end(lm, EXIT_NAME_TAKEN, msg);
			return;
		}
		log_debug("notice %d from the relay: %s", n->kind, err);
		return;
	case RELAY__V1__RELAY_MESSAGE__MSG_ERROR:
		if (lm->stopping) {	/* the answer to Unregister, at most */
			relay_error_message(m->error, err, sizeof(err));
			log_debug("the relay %s says: %s",
			    lm->opts->relay_name, err);
			return;
		}
		relay_log_error(rc, m->error);
		return;
	default:
		log_debug("unexpected %s from the relay",
		    proto_relay_msg_name(m->msg_case));
		return;
	}
}

static void
lease_closed(struct relay_client *rc, int code, const char *why, void *arg)
{
	struct lease_mgr	*lm = arg;
	char			 msg[1024];

	if (code == EXIT_RELAY_KEY) {
		lease_end(lm, code, why);
		return;
	}
	if (lm->stopping) {
		lease_end(lm, EXIT_OK, NULL);
		return;
	}
	strlcpy(msg, why, sizeof(msg));
	lease_lost_how(lm, msg, relay_stopped(rc));
}

/* direct: the holder will try direct paths for this session too. */
int
lease_mgr_accept(struct lease_mgr *lm, const uint8_t *session_id, int direct)
{
	ClientMessage		 m = RELAY__V1__CLIENT_MESSAGE__INIT;
	Relay__V1__Accept	 a = RELAY__V1__ACCEPT__INIT;

	a.session_id.data = (uint8_t *)session_id;
	a.session_id.len = SESSION_ID_LEN;
	a.direct = direct != 0;
	m.msg_case = RELAY__V1__CLIENT_MESSAGE__MSG_ACCEPT;
	m.accept = &a;
	return relay_send(lm->rc, &m);
}

/* Tell the relay what became of a session's direct path (PathOutcome). */
int
lease_mgr_path(struct lease_mgr *lm, const uint8_t *session_id, int outcome)
{
	ClientMessage		 m = RELAY__V1__CLIENT_MESSAGE__INIT;
	Relay__V1__PathReport	 r = RELAY__V1__PATH_REPORT__INIT;

	if (!relay_is_ready(lm->rc))
		return -1;
	r.session_id.data = (uint8_t *)session_id;
	r.session_id.len = SESSION_ID_LEN;
	r.outcome = outcome;
	m.msg_case = RELAY__V1__CLIENT_MESSAGE__MSG_PATH_REPORT;
	m.path_report = &r;
	return relay_send(lm->rc, &m);
}

int
lease_mgr_reject(struct lease_mgr *lm, const uint8_t *session_id,
    const char *reason)
{
	ClientMessage		 m = RELAY__V1__CLIENT_MESSAGE__INIT;
	Relay__V1__Reject	 r = RELAY__V1__REJECT__INIT;

	r.session_id.data = (uint8_t *)session_id;
	r.session_id.len = SESSION_ID_LEN;
	r.reason = (char *)reason;
	m.msg_case = RELAY__V1__CLIENT_MESSAGE__MSG_REJECT;
	m.reject = &r;
	return relay_send(lm->rc, &m);
}

/* Registered on a relay right now. */
int
lease_mgr_registered(const struct lease_mgr *lm)
{
	return lm->registered && relay_is_ready(lm->rc);
}

/*
 * Unregister and close; the owner hears ended(EXIT_OK) when done. The
 * relay ends the lease with the connection anyway: Unregister says so
 * explicitly and at once.
 */
void
lease_mgr_stop(struct lease_mgr *lm)
{
	ClientMessage		 m = RELAY__V1__CLIENT_MESSAGE__INIT;
	Relay__V1__Unregister	 u = RELAY__V1__UNREGISTER__INIT;
	struct timeval		 tv = { 0, 0 };

	if (lm->stopping)
		return;
	lm->stopping = 1;
	evtimer_del(lm->ev_renew);
	if (relay_is_ready(lm->rc)) {
		if (lm->registered) {
			u.lease_id.data = lm->lease_id;
			u.lease_id.len = LEASE_ID_LEN;
			m.msg_case = RELAY__V1__CLIENT_MESSAGE__MSG_UNREGISTER;
			m.unregister = &u;
			(void)relay_send(lm->rc, &m);
		}
		relay_finish(lm->rc);	/* closed() follows */
		return;
	}
	relay_free(lm->rc);
	lm->rc = NULL;
	evtimer_del(lm->ev_retry);
	evtimer_add(lm->ev_retry, &tv);
}
