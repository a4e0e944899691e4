/* SPDX-License-Identifier: ISC */
/*
 * connect.c: relay-client connect, one session between stdin/stdout and
 * a lease, e.g. as an ssh ProxyCommand. A RelayClient asks for the
 * session (Connect by ID or by name, with an ALPN); on Connected the
 * control connection is closed and a SecureConnection, initiator, carries
 * the bytes, expecting the holder's ID from Connected in the handshake.
 *
 * A connect by ID also checks that Connected names that ID, so a relay
 * that answers with another lease holder is refused twice over. Every
 * refusal has its own message and exit status (relay-client(1)), and
 * stdout carries session bytes only: messages go to stderr.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "relay-client.h"

struct connector {
	struct event_base	*base;
	struct client_opts	 opts;
	struct relay_client	*rc;
	struct secure_conn	*sc;
	const char		*target;
	char			 id[ID_BUFSZ];		/* by ID, or "" */
	char			 name[NAME_MAX_LEN + 1];	/* or by name */
	const char		*alpn;
	int			 exit_code;
	int			 done;
};

static int	connect_established(struct secure_conn *, const char *, void *,
		    int *, const char **);
static void	connect_done(struct secure_conn *, int, const char *, void *);
static void	connect_ready(struct relay_client *, void *);
static void	connect_message(struct relay_client *, RelayMessage *, void *);
static void	connect_closed(struct relay_client *, int, const char *,
		    void *);

static const struct relay_cb connect_relay_cb = {
	.ready = connect_ready,
	.message = connect_message,
	.closed = connect_closed
};

static void	connect_path(struct secure_conn *, int, void *);

static const struct secure_cb connect_secure_cb = {
	.established = connect_established,
	.done = connect_done,
	.path = connect_path
};

/* ID or lease name: an ID is 32 characters of a-z and 2-7. */
int
connect_target_parse(const char *arg, char *id, char *name)
{
	id[0] = name[0] = '\0';
	if (id_normalize(arg, id) == 0)
		return 0;
	if (proto_name_valid(arg)) {
		strlcpy(name, arg, NAME_MAX_LEN + 1);
		return 0;
	}
	log_warnx("'%s' is neither a client ID (32 characters of a-z and 2-7) "
	    "nor a lease name (1-63 of a-z, 0-9 and '-')", arg);
	return -1;
}

/* Say why a Connect failed, in words; returns the exit status. */
int
connect_report_error(const char *target, const char *alpn, const char *relay,
    RelayMessage *m, int code, const char *why)
{
	const Relay__V1__Error	*e;
	const char		*msg;
	char			 safe[512];

	if (m == NULL) {
		log_warnx("connect %s: %s", target, why);
		return code;
	}
	if (m->msg_case != RELAY__V1__RELAY_MESSAGE__MSG_ERROR) {
		log_warnx("connect %s: unexpected %s from the relay", target,
		    proto_relay_msg_name(m->msg_case));
		return EXIT_ERROR;
	}
	e = m->error;
	/* the relay's words (a holder's reject reason among them): shown */
	msg = text_safe(safe, sizeof(safe), e->message != NULL ?
	    e->message : "");
	switch (e->code) {
	case RELAY__V1__ERROR_CODE__ERR_NOT_FOUND:
		log_warnx("connect %s: not found: no lease %s on the relay %s "
		    "(relay-client list -r %s shows the public ones)", target,
		    target, relay, relay);
		break;
	case RELAY__V1__ERROR_CODE__ERR_ALPN_MISMATCH:
		log_warnx("connect %s: ALPN mismatch: the lease does not serve "
		    "\"%s\"; ask for one it serves with -a (relay-client list "
		    "shows them)", target, alpn);
		break;
	case RELAY__V1__ERROR_CODE__ERR_REJECTED:
		log_warnx("connect %s: rejected by the lease holder: %s",
		    target, msg[0] != '\0' ? msg : "no reason given");
		break;
	case RELAY__V1__ERROR_CODE__ERR_TIMEOUT:
		log_warnx("connect %s: timeout: the lease holder did not "
		    "answer in time", target);
		break;
	case RELAY__V1__ERROR_CODE__ERR_RATE_LIMITED:
		log_warnx("connect %s: rate limited: too many connects from "
		    "this ID; try again in a moment (%s)", target, msg);
		break;
	case RELAY__V1__ERROR_CODE__ERR_LIMIT:
		log_warnx("connect %s: limit reached on the relay %s: %s; try "
		    "again later", target, relay, msg);
		break;
	case RELAY__V1__ERROR_CODE__ERR_UNAUTHORIZED:
		log_warnx("connect %s: not authorized: %s", target, msg);
		break;
	default:
		log_warnx("connect %s: the relay %s refused: %s%s%s", target,
		    relay, proto_error_name(e->code), msg[0] ? ": " : "", msg);
		break;
	}
	return exit_for_error(e->code);
}

static void
connect_usage(FILE *f)
{
	fprintf(f, "usage: relay-client connect [-hv] -r host[:port] "
	    "[-K relay-id] [-f key] [-a alpn] ID|name\n"
	    "  Open one end-to-end session with a lease and carry it on "
	    "stdin and stdout.\n"
	    "  For ssh: ssh -o ProxyCommand='relay-client connect -r relay "
	    "-a ssh myhost' user@myhost\n");
	opts_usage(f, OPT_RELAY | OPT_KEY | OPT_ALPN | OPT_DIRECT);
}

static const struct command_opts connect_command = {
	.name = "connect",
	.shared = OPT_RELAY | OPT_KEY | OPT_ALPN | OPT_DIRECT,
	.optstring = "",
	.usage = connect_usage
};

/* Done: close the control connection politely if it is still open. */
static void
connect_end(struct connector *c, int code)
{
	relay_end(c->rc, c->base, &c->done, &c->exit_code, code);
}

/*
 * The answer to a Connect for target (by ID when want_id is not ""):
 * check it and set up the initiator's side of the session from it, the
 * holder's ID (holder) expected in the handshake, and its direct paths
 * (into dp) when the holder and the relay offer them. EXIT_OK, or the
 * exit status after saying why not. what is "connect" or "forward".
 */
int
connect_session_params(const char *what, const char *target,
    const char *want_id, const char *alpn, struct relay_client *rc,
    Relay__V1__Connected *cd, char holder[ID_BUFSZ], struct secure_params *p,
    struct direct_params *dp)
{
	socklen_t	 len;

	/* lengths were checked by proto_check_relay(); checked again here */
	if (cd->session_id.len != SESSION_ID_LEN ||
	    cd->token.len != TOKEN_LEN ||
	    id_normalize(cd->id, holder) == -1) {
		log_warnx("%s %s: malformed Connected from the relay", what,
		    target);
		return EXIT_ERROR;
	}
	if (want_id[0] != '\0' && strcmp(holder, want_id) != 0) {
		log_warnx("%s %s: ID mismatch: the relay answered with the "
		    "lease of %s; refusing (the relay may be swapping lease "
		    "holders)", what, target, holder);
		return EXIT_ID_MISMATCH;
	}
	memset(p, 0, sizeof(*p));
	p->role = HS_INITIATOR;
	p->ident = &rc->opts->ident;
	p->session_id = cd->session_id.data;
	p->token = cd->token.data;
	p->alpn = alpn;
	p->expect_id = holder;		/* always: by name too */
	p->relay = relay_peer_addr(rc, &len);
	p->relaylen = len;
	if (cd->direct && direct_possible(rc->opts, rc)) {
		memset(dp, 0, sizeof(*dp));
		dp->only = rc->opts->direct == DIRECT_ONLY;
		dp->local = relay_local_addr(rc, &dp->locallen);
		dp->observed = cd->peer_addr;
		dp->locals = cd->peer_local_addrs;
		dp->nlocals = cd->n_peer_local_addrs;
		p->direct = dp;
	} else if (rc->opts->direct == DIRECT_ONLY) {
		log_warnx("%s %s: --direct-only, but %s", what, target,
		    !direct_possible(rc->opts, rc) ? "this host reaches the "
		    "relay over loopback" : "the holder or the relay does not "
		    "offer direct paths");
		return EXIT_SESSION;
	}
	return EXIT_OK;
}

static void
connect_reply(struct relay_client *rc, RelayMessage *m, int code,
    const char *why, void *arg)
{
	struct connector		*c = arg;
	Relay__V1__Connected		*cd;
	struct secure_params		 p;
	struct direct_params		 dp;
	char				 holder[ID_BUFSZ];

	if (m == NULL ||
	    m->msg_case != RELAY__V1__RELAY_MESSAGE__MSG_CONNECTED) {
		connect_end(c, connect_report_error(c->target, c->alpn,
		    c->opts.relay_name, m, code, why));
		return;
	}
	cd = m->connected;
	if ((code = connect_session_params("connect", c->target, c->id,
	    c->alpn, rc, cd, holder, &p, &dp)) != EXIT_OK) {
		connect_end(c, code);
		return;
	}
	log_debug("connect %s: accepted by %s, session %02x%02x%02x%02x...",
	    c->target, holder, cd->session_id.data[0],
	    cd->session_id.data[1], cd->session_id.data[2],
	    cd->session_id.data[3]);
	if ((c->sc = secure_open(c->base, &p, &connect_secure_cb, c)) ==
	    NULL) {
		int	 local = errno == EMFILE || errno == ENFILE ||
		    errno == ENOMEM || errno == ENOBUFS;

		log_warnx("connect %s: cannot open a data connection to the "
		    "relay: %s", c->target, strerror(errno));
		connect_end(c, local ? EXIT_ERROR : EXIT_UNREACHABLE);
		return;
	}
	secure_set_plain(c->sc, STDIN_FILENO, STDOUT_FILENO, 0);
	/*
	 * The session does not need the control connection; while direct
	 * paths are tried, its port stays ours (connect_path ends it).
	 */
	if (p.direct == NULL)
		relay_finish(rc);
}

static void
connect_path(struct secure_conn *sc, int direct, void *arg)
{
	struct connector	*c = arg;

	if (relay_is_ready(c->rc))
		relay_finish(c->rc);
}

/*
 * Ask for a session with the lease of id (if not "") or name, offering
 * direct paths from this control connection unless they are off.
 */
int
connect_request(struct relay_client *rc, const char *id, const char *name,
    const char *alpn, uint32_t *reqid, relay_reply_cb cb, void *arg)
{
	ClientMessage		 m = RELAY__V1__CLIENT_MESSAGE__INIT;
	Relay__V1__Connect	 cn = RELAY__V1__CONNECT__INIT;
	Relay__V1__Address	 local, *plocal = &local;
	uint8_t			 ip[16];

	if (direct_possible(rc->opts, rc)) {
		cn.direct = 1;
		if (relay_local_proto(rc, &local, ip) == 0) {
			cn.local_addrs = &plocal;
			cn.n_local_addrs = 1;
		}
	}

	proto_connect_target(&cn, id, name);
	cn.alpn = (char *)alpn;
	m.msg_case = RELAY__V1__CLIENT_MESSAGE__MSG_CONNECT;
	m.connect = &cn;
	return relay_request(rc, &m, reqid, cb, arg);
}

static void
connect_ready(struct relay_client *rc, void *arg)
{
	struct connector	*c = arg;

	if (connect_request(rc, c->id, c->name, c->alpn, NULL, connect_reply,
	    c) == -1) {
		log_warnx("connect %s: cannot send the request", c->target);
		connect_end(c, EXIT_ERROR);
	}
}

static void
connect_message(struct relay_client *rc, RelayMessage *m, void *arg)
{
	if (m->msg_case == RELAY__V1__RELAY_MESSAGE__MSG_ERROR)
		relay_log_error(rc, m->error);
	else
		log_debug("ignored %s from the relay",
		    proto_relay_msg_name(m->msg_case));
}

/* Stop, so that stdin and stdout get their flags back. */
static void
connect_signal(int sig, short ev, void *arg)
{
	struct connector	*c = arg;

	log_debug("signal %d: stopping", sig);
	c->done = 1;
	c->exit_code = EXIT_ERROR;
	event_base_loopbreak(c->base);
}

static void
connect_closed(struct relay_client *rc, int code, const char *why, void *arg)
{
	struct connector	*c = arg;

	relay_free(rc);
	c->rc = NULL;
	if (c->sc != NULL)
		return;		/* the session goes on without it */
	if (!c->done && code != EXIT_OK)
		log_warnx("%s", why);
	connect_end(c, code);
}

static int
connect_established(struct secure_conn *sc, const char *peer, void *arg,
    int *code, const char **why)
{
	struct connector	*c = arg;

	log_debug("connect %s: end-to-end session with %s", c->target, peer);
	return 0;
}

static void
connect_done(struct secure_conn *sc, int code, const char *why, void *arg)
{
	struct connector	*c = arg;

	if (code != EXIT_OK)
		log_warnx("connect %s: %s", c->target, why);
	secure_free(sc);
	c->sc = NULL;
	connect_end(c, code);
}

int
cmd_connect(int argc, char *argv[])
{
	struct connector	 c;
	struct event		*evsig[CLIENT_NSIGNALS];
	int			 i, fl0, fl1;

	memset(&c, 0, sizeof(c));
	if ((i = opts_parse(&connect_command, &c.opts, &c, argc, argv)) < 0)
		return i == OPTS_HELP ? EXIT_OK : EXIT_ERROR;
	c.alpn = c.opts.alpn[0];
	if (argc - i != 1) {
		log_warnx(argc == i ? "connect to which lease? give an ID "
		    "or a name" : "connect takes one ID or name");
		connect_usage(stderr);
		return EXIT_ERROR;
	}
	c.target = argv[i];
	if (connect_target_parse(c.target, c.id, c.name) == -1 ||
	    opts_prepare(&c.opts, 1) == -1)
		return EXIT_ERROR;

	/* stdin and stdout go non-blocking: put them back at the end */
	fl0 = fcntl(STDIN_FILENO, F_GETFL);
	fl1 = fcntl(STDOUT_FILENO, F_GETFL);
	if (fl0 == -1 || fl1 == -1) {
		log_warnx("connect needs stdin and stdout open");
		return EXIT_ERROR;
	}
	c.base = client_event_base(1);
	client_signals(c.base, connect_signal, &c, evsig);
	if ((c.rc = relay_new(c.base, &c.opts, &connect_relay_cb, &c)) == NULL)
		fatal("relay_new");
	relay_connect(c.rc);
	event_base_dispatch(c.base);

	(void)fcntl(STDIN_FILENO, F_SETFL, fl0);
	(void)fcntl(STDOUT_FILENO, F_SETFL, fl1);
	secure_free(c.sc);
	relay_free(c.rc);
	client_signals_free(evsig);
	event_base_free(c.base);
	opts_clear(&c.opts);
	return c.exit_code;
}
