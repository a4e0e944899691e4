/* SPDX-License-Identifier: ISC */
/*
 * forward.c: relay-client forward, a local TCP listener whose every
 * accepted connection becomes one end-to-end session with a lease. One
 * RelayClient carries the Connect requests of all sessions; if it is
 * lost, the next local connection opens a new one, so a relay restart
 * costs the connections made while it was down, nothing more.
 *
 * The checks are those of connect: by ID, Connected must name that ID;
 * always, the handshake must prove the ID from Connected. A local client
 * is not read until its session is open, so nothing it sends is buffered
 * here.
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

#define FORWARD_MAX_LISTENERS	8

struct fwd_session;

struct forwarder {
	struct event_base	*base;
	struct client_opts	 opts;
	struct relay_client	*rc;
	int			 ever_ready;
	int			 lfd[FORWARD_MAX_LISTENERS];
	struct event		*ev_listen[FORWARD_MAX_LISTENERS];
	int			 nlisten;
	struct event		*ev_resume;	/* out of fds: pause */
	const char		*listen_spec;	/* -L */
	const char		*target;
	char			 id[ID_BUFSZ];
	char			 name[NAME_MAX_LEN + 1];
	const char		*alpn;
	TAILQ_HEAD(, fwd_session) sessions;
	unsigned int		 nsessions;
	int			 exit_code;
};

struct fwd_session {
	TAILQ_ENTRY(fwd_session) entry;
	struct forwarder	*fw;
	int			 lfd;		/* the local client */
	char			 peer[HOSTPORT_MAX];
	uint32_t		 reqid;		/* Connect sent, or 0 */
	struct secure_conn	*sc;
};

static void	forward_ready(struct relay_client *, void *);
static void	forward_message(struct relay_client *, RelayMessage *, void *);
static void	forward_closed(struct relay_client *, int, const char *,
		    void *);
static int	forward_established(struct secure_conn *, const char *, void *,
		    int *, const char **);
static void	forward_done(struct secure_conn *, int, const char *, void *);

static const struct relay_cb forward_relay_cb = {
	.ready = forward_ready,
	.message = forward_message,
	.closed = forward_closed
};

static const struct secure_cb forward_secure_cb = {
	.established = forward_established,
	.done = forward_done
};

static void
forward_usage(FILE *f)
{
	fprintf(f, "usage: relay-client forward [-hv] -r host[:port] "
	    "[-K relay-id] [-f key] -L [addr:]port\n"
	    "           [-a alpn] ID|name\n"
	    "  Listen on a local port; carry each connection to the lease in "
	    "its own session.\n"
	    "  -L [addr:]port  where to listen (default address "
	    "127.0.0.1)\n");
	opts_usage(f, OPT_RELAY | OPT_KEY | OPT_ALPN | OPT_DIRECT);
}

static int
forward_option(void *arg, int ch, char *value)
{
	struct forwarder	*fw = arg;

	switch (ch) {
	case 'L':
		fw->listen_spec = value;
		return 0;
	default:
		return -1;
	}
}

static const struct option forward_longopts[] = {
	{ "listen",	required_argument,	NULL,	'L' },
	{ NULL,		0,			NULL,	0 }
};

static const struct command_opts forward_command = {
	.name = "forward",
	.shared = OPT_RELAY | OPT_KEY | OPT_ALPN | OPT_DIRECT,
	.optstring = "L:",
	.longopts = forward_longopts,
	.option = forward_option,
	.usage = forward_usage
};

static void
forward_session_free(struct fwd_session *s)
{
	struct forwarder	*fw = s->fw;

	TAILQ_REMOVE(&fw->sessions, s, entry);
	fw->nsessions--;
	if (s->reqid != 0 && fw->rc != NULL)
		relay_cancel(fw->rc, s->reqid);
	net_close(&s->lfd);
	secure_free(s->sc);
	free(s);
}

static void
forward_reply(struct relay_client *rc, RelayMessage *m, int code,
    const char *why, void *arg)
{
	struct fwd_session	*s = arg;
	struct forwarder	*fw = s->fw;
	struct secure_params	 p;
	struct direct_params	 dp;
	char			 holder[ID_BUFSZ];

	s->reqid = 0;
	if (m == NULL ||
	    m->msg_case != RELAY__V1__RELAY_MESSAGE__MSG_CONNECTED) {
		(void)connect_report_error(fw->target, fw->alpn,
		    fw->opts.relay_name, m, code, why);
		forward_session_free(s);
		return;
	}
	if (connect_session_params("forward", fw->target, fw->id, fw->alpn,
	    rc, m->connected, holder, &p, &dp) != EXIT_OK) {
		forward_session_free(s);
		return;
	}
	if ((s->sc = secure_open(fw->base, &p, &forward_secure_cb, s)) ==
	    NULL) {
		log_warnx("forward %s: cannot open a data connection to the "
		    "relay: %s", fw->target, strerror(errno));
		forward_session_free(s);
		return;
	}
	log_debug("session %s: %s to %s (%s)", s->sc->label, s->peer,
	    fw->target, holder);
	secure_set_plain(s->sc, s->lfd, s->lfd, 1);
	s->lfd = -1;		/* the session owns it now */
}

static void
forward_send_connect(struct forwarder *fw, struct fwd_session *s)
{
	if (connect_request(fw->rc, fw->id, fw->name, fw->alpn, &s->reqid,
	    forward_reply, s) == -1) {
		log_warnx("forward %s: cannot send the request", fw->target);
		forward_session_free(s);
	}
}

static void
forward_relay_start(struct forwarder *fw)
{
	if ((fw->rc = relay_new(fw->base, &fw->opts, &forward_relay_cb,
	    fw)) == NULL)
		fatal("relay_new");
	relay_connect(fw->rc);
}

static void
forward_ready(struct relay_client *rc, void *arg)
{
	struct forwarder	*fw = arg;
	struct fwd_session	*s, *next;

	if (!fw->ever_ready)
		log_info("forwarding %d listener%s to %s (alpn %s) through "
		    "the relay %s", fw->nlisten, fw->nlisten > 1 ? "s" : "",
		    fw->target, fw->alpn, fw->opts.relay_name);
	fw->ever_ready = 1;
	TAILQ_FOREACH_SAFE(s, &fw->sessions, entry, next)
		if (s->sc == NULL && s->reqid == 0)
			forward_send_connect(fw, s);
}

static void
forward_message(struct relay_client *rc, RelayMessage *m, void *arg)
{
	struct forwarder	*fw = arg;

	if (m->msg_case == RELAY__V1__RELAY_MESSAGE__MSG_ERROR)
		relay_log_error(rc, m->error);
	else if (m->msg_case == RELAY__V1__RELAY_MESSAGE__MSG_NOTICE &&
	    m->notice->kind == RELAY__V1__NOTICE__KIND__SHUTTING_DOWN)
		log_info("the relay %s is shutting down",
		    fw->opts.relay_name);
}

static void
forward_closed(struct relay_client *rc, int code, const char *why,
    void *arg)
{
	struct forwarder	*fw = arg;
	struct fwd_session	*s, *next;
	int			 clean = relay_stopped(rc);

	relay_free(rc);
	fw->rc = NULL;
	if (code == EXIT_RELAY_KEY || !fw->ever_ready) {
		/* nothing worked yet, or never will: say so and stop */
		log_warnx("%s", why);
		fw->exit_code = code;
		event_base_loopbreak(fw->base);
		return;
	}
	/* a relay that said it was stopping: no failure of ours */
	if (clean)
		log_info("%s; the next local connection will reconnect", why);
	else
		log_warnx("%s; the next local connection will reconnect", why);
	/* those that waited for this connection cannot be served by it */
	TAILQ_FOREACH_SAFE(s, &fw->sessions, entry, next)
		if (s->sc == NULL)
			forward_session_free(s);
}

/* Stop accepting for a second; the resume timer turns them back on. */
static void
forward_pause(struct forwarder *fw)
{
	struct timeval	 tv = { 1, 0 };
	int		 i;

	for (i = 0; i < fw->nlisten; i++)
		event_del(fw->ev_listen[i]);
	evtimer_add(fw->ev_resume, &tv);
}

static void
forward_resume_cb(int fd, short ev, void *arg)
{
	struct forwarder	*fw = arg;
	int			 i;

	for (i = 0; i < fw->nlisten; i++)
		event_add(fw->ev_listen[i], NULL);
}

static void
forward_accept_cb(int fd, short ev, void *arg)
{
	struct forwarder	*fw = arg;
	struct fwd_session	*s;
	char			 peer[HOSTPORT_MAX];
	int			 cfd;

	if ((cfd = net_accept(fd, peer, sizeof(peer))) == -1) {
		if (errno == EMFILE || errno == ENFILE) {
			/* the connection stays queued: try again later */
			log_warn("accept: pausing the listener for a second");
			forward_pause(fw);
		} else if (errno != EAGAIN && errno != EINTR &&
		    errno != ECONNABORTED)
			log_warn("accept");
		return;
	}
	if (fw->nsessions >= CLIENT_MAX_SESSIONS ||
	    (s = calloc(1, sizeof(*s))) == NULL) {
		log_warnx("too many sessions: connection refused");
		close(cfd);
		return;
	}
	s->fw = fw;
	s->lfd = cfd;
	strlcpy(s->peer, peer, sizeof(s->peer));
	TAILQ_INSERT_TAIL(&fw->sessions, s, entry);
	fw->nsessions++;
	log_debug("local connection from %s", s->peer);
	if (relay_is_ready(fw->rc))
		forward_send_connect(fw, s);
	else if (fw->rc == NULL)
		forward_relay_start(fw);
	/* else: forward_ready() sends it */
}

static int
forward_established(struct secure_conn *sc, const char *peer, void *arg,
    int *code, const char **why)
{
	return 0;
}

static void
forward_done(struct secure_conn *sc, int code, const char *why, void *arg)
{
	struct fwd_session	*s = arg;

	if (code != EXIT_OK)
		log_warnx("session %s (%s): %s", sc->label, s->peer, why);
	else
		log_debug("session %s (%s): done (%llu bytes in, %llu out)",
		    sc->label, s->peer, (unsigned long long)sc->bytes_in,
		    (unsigned long long)sc->bytes_out);
	forward_session_free(s);
}

/* -L [ADDR:]PORT; without ADDR, loopback only. */
static int
forward_listen(struct forwarder *fw, const char *spec)
{
	struct addrinfo	*res, *ai;
	char		 host[HOST_MAX], port[8], err[HOSTPORT_MAX + 64];
	int		 fd, on = 1;

	if (strchr(spec, ':') == NULL) {
		strlcpy(host, "127.0.0.1", sizeof(host));
		if (strlcpy(port, spec, sizeof(port)) >= sizeof(port) ||
		    strtonum(port, 1, 65535, NULL) == 0) {
			log_warnx("-L %s: expected [ADDR:]PORT with a port of "
			    "1-65535", spec);
			return -1;
		}
	} else if (net_parse_hostport(spec, "", host, sizeof(host), port,
	    sizeof(port)) == -1) {
		log_warnx("-L %s: expected [ADDR:]PORT with a port of 1-65535 "
		    "(an IPv6 address in brackets)", spec);
		return -1;
	}
	if (net_resolve(host, port, 1, &res, err, sizeof(err)) == -1) {
		log_warnx("-L: %s", err);
		return -1;
	}
	for (ai = res; ai != NULL && fw->nlisten < FORWARD_MAX_LISTENERS;
	    ai = ai->ai_next) {
		if ((fd = socket(ai->ai_family, ai->ai_socktype |
		    SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol)) == -1)
			continue;
		(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
		if (ai->ai_family == AF_INET6)
			(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on,
			    sizeof(on));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == -1 ||
		    listen(fd, 128) == -1) {
			log_warn("-L %s", spec);
			close(fd);
			continue;
		}
		fw->lfd[fw->nlisten++] = fd;
	}
	freeaddrinfo(res);
	if (fw->nlisten == 0) {
		log_warnx("-L %s: nothing to listen on", spec);
		return -1;
	}
	return 0;
}

static void
forward_signal(int sig, short ev, void *arg)
{
	struct forwarder	*fw = arg;

	log_debug("signal %d: stopping", sig);
	fw->exit_code = EXIT_OK;
	event_base_loopbreak(fw->base);
}

/* The listeners, the signals, the relay: then the loop until a signal. */
static int
forward_run(struct forwarder *fw)
{
	struct event	*evsig[CLIENT_NSIGNALS];
	int		 i;

	if (nofile_raise() == -1)
		log_debug("cannot raise the open file limit: %s",
		    strerror(errno));
	fw->base = client_event_base(0);
	client_signals(fw->base, forward_signal, fw, evsig);
	if ((fw->ev_resume = evtimer_new(fw->base, forward_resume_cb,
	    fw)) == NULL)
		fatalx("evtimer_new");
	for (i = 0; i < fw->nlisten; i++) {
		if ((fw->ev_listen[i] = event_new(fw->base, fw->lfd[i],
		    EV_READ | EV_PERSIST, forward_accept_cb, fw)) == NULL)
			fatalx("event_new");
		event_add(fw->ev_listen[i], NULL);
	}
	/* connect now: a wrong relay or key shows at once, not later */
	forward_relay_start(fw);
	event_base_dispatch(fw->base);

	while (!TAILQ_EMPTY(&fw->sessions))
		forward_session_free(TAILQ_FIRST(&fw->sessions));
	relay_free(fw->rc);
	for (i = 0; i < fw->nlisten; i++) {
		event_free(fw->ev_listen[i]);
		close(fw->lfd[i]);
	}
	event_free(fw->ev_resume);
	client_signals_free(evsig);
	event_base_free(fw->base);
	return fw->exit_code;
}

int
cmd_forward(int argc, char *argv[])
{
	struct forwarder	 fw;
	int			 i, code;

	memset(&fw, 0, sizeof(fw));
	TAILQ_INIT(&fw.sessions);
	if ((i = opts_parse(&forward_command, &fw.opts, &fw, argc, argv)) < 0)
		return i == OPTS_HELP ? EXIT_OK : EXIT_ERROR;
	fw.alpn = fw.opts.alpn[0];
	if (fw.listen_spec == NULL) {
		log_warnx("forward needs a local port to listen on: "
		    "-L [ADDR:]PORT");
		forward_usage(stderr);
		return EXIT_ERROR;
	}
	if (argc - i != 1) {
		log_warnx("forward to which lease? give one ID or name");
		forward_usage(stderr);
		return EXIT_ERROR;
	}
	fw.target = argv[i];
	if (connect_target_parse(fw.target, fw.id, fw.name) == -1 ||
	    opts_prepare(&fw.opts, 1) == -1 ||
	    forward_listen(&fw, fw.listen_spec) == -1) {
		opts_clear(&fw.opts);
		return EXIT_ERROR;
	}
	code = forward_run(&fw);
	opts_clear(&fw.opts);
	return code;
}
