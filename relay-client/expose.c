/* SPDX-License-Identifier: ISC */
/*
 * expose.c: relay-client expose, a local TCP service offered through the
 * relay. A LeaseManager keeps the lease registered; each Incoming is
 * checked (the ALPN is one of ours, from_id is on the allow list if there
 * is one, a session is free) and accepted or rejected with a reason.
 * An accepted session is a SecureConnection, responder, whose plaintext
 * side is a fresh connection to the target, made only once the peer has
 * proven its ID in the end-to-end handshake.
 *
 * The decision that counts is taken on the proven ID, never on from_id:
 * the early check only lets an unwanted requester learn why with a clear
 * Reject. After the handshake the peer's ID must equal from_id (else the
 * relay lied about who asked) and pass the allow list again.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "relay-client.h"

struct expose_session;

struct expose {
	struct event_base	*base;
	struct client_opts	 opts;
	struct lease_params	 params;
	struct lease_mgr	*lm;
	char			 target[HOSTPORT_MAX];
	struct addrinfo		*target_ai;
	const char		*allow_path;	/* --allow */
	struct allow_list	 allow;
	int			 have_allow;
	TAILQ_HEAD(, expose_session) sessions;
	unsigned int		 nsessions;
	uint64_t		 nserved;
	int			 exit_code;
	int			 stopping;
};

struct expose_session {
	TAILQ_ENTRY(expose_session) entry;
	struct expose		*ex;
	struct secure_conn	*sc;
	int			 tfd;		/* target, while connecting */
	struct event		*ev_target;
	struct addrinfo		*tai;		/* the address being tried */
	char			 from_id[ID_BUFSZ];
	char			 label[SESSION_LABEL_LEN];
	uint8_t			 session_id[SESSION_ID_LEN];
	int			 direct;	/* direct paths agreed */
};

static int	expose_established(struct secure_conn *, const char *, void *,
		    int *, const char **);
static void	expose_done(struct secure_conn *, int, const char *, void *);
static void	expose_incoming(struct lease_mgr *, Relay__V1__Incoming *,
		    void *);
static void	expose_ended(struct lease_mgr *, int, const char *, void *);
static void	expose_target_next(struct expose_session *);

static void	expose_path(struct secure_conn *, int, void *);

static const struct secure_cb expose_secure_cb = {
	.established = expose_established,
	.done = expose_done,
	.path = expose_path
};

static const struct lease_cb expose_lease_cb = {
	.incoming = expose_incoming,
	.ended = expose_ended
};

static void
expose_usage(FILE *f)
{
	fprintf(f, "usage: relay-client expose [-hv] -r host[:port] "
	    "[-K relay-id] [-f key] -n name\n"
	    "           [-a alpn]... [-d description] [--hidden] "
	    "[--allow file] [-t ttl] host:port\n"
	    "  Offer the TCP service at host:port through the relay, "
	    "under a lease named name.\n"
	    "  -n name         lease name: 1-63 of a-z, 0-9 and '-'\n"
	    "  -d description  shown by relay-client list (at most %d "
	    "bytes)\n"
	    "  --hidden        not listed by relay-client list\n"
	    "  --allow file    only these client IDs (one a line, # "
	    "comments) may connect\n"
	    "  -t ttl          lease lifetime asked for, in seconds "
	    "(default %d; renewed at half)\n", DESC_MAX_LEN,
	    DEFAULT_LEASE_TTL);
	opts_usage(f, OPT_RELAY | OPT_KEY | OPT_ALPNS | OPT_DIRECT);
}

static int
expose_option(void *arg, int ch, char *value)
{
	struct expose	*ex = arg;
	const char	*errstr;

	switch (ch) {
	case 'A':
		ex->allow_path = value;
		return 0;
	case 'd':
		if (!proto_text_valid(value, DESC_MAX_LEN)) {
			log_warnx("-d: a description is at most %d bytes of "
			    "UTF-8", DESC_MAX_LEN);
			return -1;
		}
		ex->params.description = value;
		return 0;
	case 'H':
		ex->params.hidden = 1;
		return 0;
	case 'n':
		if (!proto_name_valid(value)) {
			log_warnx("-n %s: a lease name is 1-63 of a-z, 0-9 and "
			    "'-', not starting or ending with '-'", value);
			return -1;
		}
		ex->params.name = value;
		return 0;
	case 't':
		ex->params.ttl = strtonum(value, 1, 604800, &errstr);
		if (errstr != NULL) {
			log_warnx("-t %s: the TTL is 1-604800 seconds: %s",
			    value, errstr);
			return -1;
		}
		return 0;
	default:
		return -1;
	}
}

static const struct option expose_longopts[] = {
	{ "allow",	 required_argument,	NULL,	'A' },
	{ "description", required_argument,	NULL,	'd' },
	{ "hidden",	 no_argument,		NULL,	'H' },
	{ "name",	 required_argument,	NULL,	'n' },
	{ "ttl",	 required_argument,	NULL,	't' },
	{ NULL,		 0,			NULL,	0 }
};

static const struct command_opts expose_command = {
	.name = "expose",
	.shared = OPT_RELAY | OPT_KEY | OPT_ALPNS | OPT_DIRECT,
	.optstring = "A:d:Hn:t:",
	.longopts = expose_longopts,
	.option = expose_option,
	.usage = expose_usage
};

static void
expose_session_free(struct expose_session *s)
{
	struct expose	*ex = s->ex;

	TAILQ_REMOVE(&ex->sessions, s, entry);
	ex->nsessions--;
	client_event_free(&s->ev_target);
	net_close(&s->tfd);
	secure_free(s->sc);
	free(s);
}

/* Why an Incoming is refused at once, or NULL. */
static const char *
expose_refusal(struct expose *ex, Relay__V1__Incoming *in, const char *from,
    int direct, char *why, size_t whylen)
{
	size_t	 i;

	for (i = 0; i < ex->params.nalpn; i++)
		if (strcmp(ex->params.alpn[i], in->alpn) == 0)
			break;
	if (i == ex->params.nalpn)
		return "this lease does not serve that ALPN";
	if (ex->have_allow && !allow_list_has(&ex->allow, from)) {
		snprintf(why, whylen, "ID %s is not on the holder's allow list",
		    from);
		return why;
	}
	if (ex->nsessions >= CLIENT_MAX_SESSIONS)
		return "the holder has too many sessions";
	if (ex->stopping)
		return "the holder is shutting down";
	if (ex->opts.direct == DIRECT_ONLY && !direct)
		return "the holder takes direct paths only (--direct-only)";
	return NULL;
}

/* The session: its relayed path now, its direct ones too if agreed. */
static struct expose_session *
expose_session_open(struct expose *ex, struct lease_mgr *lm,
    Relay__V1__Incoming *in, const char *from, int direct)
{
	struct relay_client	*rc = lease_mgr_relay(lm);
	struct expose_session	*s;
	struct secure_params	 p;
	struct direct_params	 dp;
	socklen_t		 len;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->ex = ex;
	s->tfd = -1;
	strlcpy(s->from_id, from, sizeof(s->from_id));
	memset(&p, 0, sizeof(p));
	p.role = HS_RESPONDER;
	p.ident = &ex->opts.ident;
	p.session_id = in->session_id.data;
	p.token = in->token.data;
	p.alpn = in->alpn;
	p.relay = relay_peer_addr(rc, &len);
	p.relaylen = len;
	if (direct) {
		memset(&dp, 0, sizeof(dp));
		dp.only = ex->opts.direct == DIRECT_ONLY;
		dp.local = relay_local_addr(rc, &dp.locallen);
		dp.observed = in->from_addr;
		dp.locals = in->from_local_addrs;
		dp.nlocals = in->n_from_local_addrs;
		dp.peer_id = from;
		p.direct = &dp;
	}
	if ((s->sc = secure_open(ex->base, &p, &expose_secure_cb, s)) == NULL) {
		log_warnx("cannot open a data connection to the relay: %s",
		    strerror(errno));
		free(s);
		return NULL;
	}
	memcpy(s->session_id, in->session_id.data, SESSION_ID_LEN);
	strlcpy(s->label, s->sc->label, sizeof(s->label));
	TAILQ_INSERT_TAIL(&ex->sessions, s, entry);
	ex->nsessions++;
	return s;
}

static void
expose_incoming(struct lease_mgr *lm, Relay__V1__Incoming *in, void *arg)
{
	struct expose		*ex = arg;
	struct expose_session	*s;
	const char		*reason;
	char			 from[ID_BUFSZ], why[128];
	int			 direct;

	/* proto_check_relay() checked these; a client checks for itself */
	if (in->session_id.len != SESSION_ID_LEN ||
	    in->token.len != TOKEN_LEN ||
	    id_normalize(in->from_id, from) == -1) {
		log_warnx("malformed Incoming from the relay: ignored");
		return;
	}
	direct = in->direct && direct_possible(&ex->opts, lease_mgr_relay(lm));
	if ((reason = expose_refusal(ex, in, from, direct, why,
	    sizeof(why))) != NULL) {
		log_info("session from %s refused: %s", from, reason);
		(void)lease_mgr_reject(lm, in->session_id.data, reason);
		return;
	}
	if ((s = expose_session_open(ex, lm, in, from, direct)) == NULL) {
		(void)lease_mgr_reject(lm, in->session_id.data,
		    "the holder cannot reach the relay");
		return;
	}
	s->direct = direct;
	if (lease_mgr_accept(lm, in->session_id.data, direct) == -1) {
		expose_session_free(s);
		return;		/* the control connection is failing */
	}
	log_debug("session %s: accepted from %s (alpn %s%s)", s->label, from,
	    in->alpn, direct ? ", direct paths too" : "");
}

/* Direct paths were tried: the relay counts what came of them. */
static void
expose_path(struct secure_conn *sc, int direct, void *arg)
{
	struct expose_session	*s = arg;

	(void)lease_mgr_path(s->ex->lm, s->session_id, direct ?
	    RELAY__V1__PATH_OUTCOME__PATH_DIRECT :
	    RELAY__V1__PATH_OUTCOME__PATH_RELAYED);
}

/* The peer proved its ID: decide, then connect to the target. */
static int
expose_established(struct secure_conn *sc, const char *peer, void *arg,
    int *code, const char **why)
{
	struct expose_session	*s = arg;
	struct expose		*ex = s->ex;

	if (strcmp(peer, s->from_id) != 0) {
		log_warnx("session %s: the peer proved ID %s, but the relay "
		    "announced %s: refused", s->label, peer, s->from_id);
		*code = EXIT_ID_MISMATCH;
		*why = "the peer's ID differs from the relay's from_id";
		return -1;
	}
	if (ex->have_allow && !allow_list_has(&ex->allow, peer)) {
		log_warnx("session %s: ID %s is not on the allow list: "
		    "refused", s->label, peer);
		*code = EXIT_UNAUTHORIZED;
		*why = "not on the allow list";
		return -1;
	}
	log_info("session %s: from %s, connecting to %s", s->label, peer,
	    ex->target);
	ex->nserved++;
	s->tai = ex->target_ai;
	expose_target_next(s);
	return 0;
}

static void
expose_target_cb(int fd, short ev, void *arg)
{
	struct expose_session	*s = arg;
	char			 addr[HOSTPORT_MAX];

	client_event_free(&s->ev_target);
	if (net_connect_result(s->tfd) == -1) {
		sockaddr_fmt(s->tai->ai_addr, addr, sizeof(addr));
		log_debug("session %s: target %s: %s", s->label, addr,
		    strerror(errno));
		net_close(&s->tfd);
		s->tai = s->tai->ai_next;
		expose_target_next(s);
		return;
	}
	secure_set_plain(s->sc, s->tfd, s->tfd, 1);
	s->tfd = -1;		/* the session owns it now */
}

/* Connect to the next address of the target; none left: end it. */
static void
expose_target_next(struct expose_session *s)
{
	char	 why[HOSTPORT_MAX + 128];
	int	 saved = ECONNREFUSED;

	for (; s->tai != NULL; s->tai = s->tai->ai_next) {
		if ((s->tfd = net_connect_start(s->tai->ai_addr,
		    s->tai->ai_addrlen)) == -1) {
			saved = errno;
			continue;
		}
		if ((s->ev_target = event_new(s->ex->base, s->tfd, EV_WRITE,
		    expose_target_cb, s)) == NULL)
			fatalx("event_new");
		event_add(s->ev_target, NULL);
		return;
	}
	snprintf(why, sizeof(why), "the target %s is unreachable: %s",
	    s->ex->target, strerror(saved));
	secure_abort(s->sc, EXIT_ERROR, why);	/* expose_done logs it */
}

static void
expose_done(struct secure_conn *sc, int code, const char *why, void *arg)
{
	struct expose_session	*s = arg;

	/* a direct session leaves the relay's table only by our word */
	if (sc->on_direct)
		(void)lease_mgr_path(s->ex->lm, s->session_id,
		    RELAY__V1__PATH_OUTCOME__PATH_ENDED);
	/* a clean end was logged by the session itself (-v) */
	if (code != EXIT_OK)
		log_warnx("session %s from %s: %s", s->label, s->from_id, why);
	expose_session_free(s);
}

static void
expose_ended(struct lease_mgr *lm, int code, const char *why, void *arg)
{
	struct expose	*ex = arg;

	if (code != EXIT_OK)
		log_warnx("%s", why);
	ex->exit_code = code;
	event_base_loopbreak(ex->base);
}

static void
expose_signal(int sig, short ev, void *arg)
{
	struct expose		*ex = arg;
	struct expose_session	*s;

	if (ex->stopping) {
		ex->exit_code = EXIT_ERROR;
		event_base_loopbreak(ex->base);
		return;
	}
	if (lease_mgr_registered(ex->lm))
		log_info("shutting down: unregistering lease %s",
		    ex->params.name);
	else
		log_info("shutting down (lease %s is not registered)",
		    ex->params.name);
	ex->stopping = 1;
	while ((s = TAILQ_FIRST(&ex->sessions)) != NULL)
		expose_session_free(s);
	lease_mgr_stop(ex->lm);
}

/* The operands: the target HOST:PORT; then the allow list. */
static int
expose_setup(struct expose *ex, int argc, char *argv[])
{
	char	 host[HOST_MAX], port[8], err[HOSTPORT_MAX + 64];
	size_t	 i;

	if (ex->params.name == NULL) {
		log_warnx("expose needs a lease name: -n NAME");
		expose_usage(stderr);
		return -1;
	}
	if (argc != 1) {
		log_warnx("expose needs one target HOST:PORT, the service to "
		    "offer");
		expose_usage(stderr);
		return -1;
	}
	for (i = 0; i < ex->opts.nalpn; i++)
		ex->params.alpn[i] = ex->opts.alpn[i];
	ex->params.nalpn = ex->opts.nalpn;
	if (net_parse_hostport(argv[0], "", host, sizeof(host), port,
	    sizeof(port)) == -1) {
		log_warnx("target %s: expected HOST:PORT (or [IPV6]:PORT)",
		    argv[0]);
		return -1;
	}
	if (net_resolve(host, port, 0, &ex->target_ai, err, sizeof(err)) ==
	    -1) {
		log_warnx("target: cannot resolve %s", err);
		return -1;
	}
	snprintf(ex->target, sizeof(ex->target), strchr(host, ':') != NULL ?
	    "[%s]:%s" : "%s:%s", host, port);
	if (ex->allow_path != NULL) {
		if (allow_list_load(&ex->allow, ex->allow_path) == -1)
			return -1;
		ex->have_allow = 1;
	}
	return 0;
}

/* The lease, the signals: then the loop until a signal or the end. */
static void
expose_run(struct expose *ex)
{
	struct event	*evsig[CLIENT_NSIGNALS];

	if (nofile_raise() == -1)
		log_debug("cannot raise the open file limit: %s",
		    strerror(errno));
	ex->base = client_event_base(0);
	client_signals(ex->base, expose_signal, ex, evsig);
	if ((ex->lm = lease_mgr_new(ex->base, &ex->opts, &ex->params,
	    &expose_lease_cb, ex)) == NULL)
		fatal("lease_mgr_new");
	log_debug("exposing %s as %s for ID %s", ex->target, ex->params.name,
	    ex->opts.ident.id);
	lease_mgr_start(ex->lm);
	event_base_dispatch(ex->base);

	while (!TAILQ_EMPTY(&ex->sessions))
		expose_session_free(TAILQ_FIRST(&ex->sessions));
	lease_mgr_free(ex->lm);
	client_signals_free(evsig);
	event_base_free(ex->base);
}

int
cmd_expose(int argc, char *argv[])
{
	struct expose	 ex;
	int		 i;

	memset(&ex, 0, sizeof(ex));
	TAILQ_INIT(&ex.sessions);
	ex.params.ttl = DEFAULT_LEASE_TTL;
	if ((i = opts_parse(&expose_command, &ex.opts, &ex, argc, argv)) < 0)
		return i == OPTS_HELP ? EXIT_OK : EXIT_ERROR;
	if (expose_setup(&ex, argc - i, argv + i) == 0 &&
	    opts_prepare(&ex.opts, 1) == 0)
		expose_run(&ex);
	else
		ex.exit_code = EXIT_ERROR;
	if (ex.target_ai != NULL)
		freeaddrinfo(ex.target_ai);
	allow_list_free(&ex.allow);
	opts_clear(&ex.opts);
	return ex.exit_code;
}
