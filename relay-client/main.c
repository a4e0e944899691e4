/* SPDX-License-Identifier: ISC */
/*
 * main.c: relay-client's command line. It picks the subcommand, owns
 * the options every subcommand that talks to a relay shares (-r, -K, -f,
 * -v), maps relay error codes to exit statuses, and sets up the event
 * loop and signals. Nothing here touches the network.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "log.h"
#include "relay-client.h"

static const struct command {
	const char	*name;
	int		(*run)(int, char *[]);
	const char	*synopsis;
	const char	*what;
} commands[] = {
	{ "keygen", cmd_keygen, "[-f key]",
	    "create an identity key, print its ID" },
	{ "id", cmd_id, "[-f key]", "print the ID of a key" },
	{ "expose", cmd_expose, "-r relay -n name host:port",
	    "offer a local TCP service" },
	{ "connect", cmd_connect, "-r relay ID|name",
	    "a session on stdin/stdout (ProxyCommand)" },
	{ "forward", cmd_forward, "-r relay -L port ID|name",
	    "a local port, a session per connection" },
	{ "list", cmd_list, "-r relay [-j]", "the relay's public leases" },
};

static void
usage(FILE *f)
{
	size_t	 i;

	fprintf(f, "usage: relay-client [-hv] command [option ...] "
	    "[argument ...]\ncommands:\n");
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-8s %-27s %s\n", commands[i].name,
		    commands[i].synopsis, commands[i].what);
	fprintf(f, "Common options: -r host[:port] (default port %d), "
	    "-K relay-id, -f key, -v.\n"
	    "'relay-client command -h' lists the options of a command; "
	    "relay-client(1) has the details.\n", RELAY_DEFAULT_PORT);
}

static const char *const exit_names[] = {
	[EXIT_OK] = "ok",
	[EXIT_ERROR] = "error",
	[EXIT_UNREACHABLE] = "relay unreachable",
	[EXIT_NOT_FOUND] = "not found",
	[EXIT_REJECTED] = "rejected",
	[EXIT_ALPN] = "ALPN mismatch",
	[EXIT_ID_MISMATCH] = "ID mismatch",
	[EXIT_RELAY_KEY] = "relay ID changed",
	[EXIT_TIMEOUT] = "timeout",
	[EXIT_RATE_LIMITED] = "rate limited",
	[EXIT_LIMIT] = "limit reached",
	[EXIT_UNAUTHORIZED] = "unauthorized",
	[EXIT_NAME_TAKEN] = "name taken",
	[EXIT_SESSION] = "session failed",
};

const char *
exit_code_name(int code)
{
	if (code < 0 || (size_t)code >= sizeof(exit_names) /
	    sizeof(exit_names[0]) || exit_names[code] == NULL)
		return "unknown";
	return exit_names[code];
}

/* The exit status for an ErrorCode from the relay. */
int
exit_for_error(int code)
{
	switch (code) {
	case RELAY__V1__ERROR_CODE__ERR_NOT_FOUND:
		return EXIT_NOT_FOUND;
	case RELAY__V1__ERROR_CODE__ERR_ALPN_MISMATCH:
		return EXIT_ALPN;
	case RELAY__V1__ERROR_CODE__ERR_REJECTED:
		return EXIT_REJECTED;
	case RELAY__V1__ERROR_CODE__ERR_NAME_TAKEN:
		return EXIT_NAME_TAKEN;
	case RELAY__V1__ERROR_CODE__ERR_LIMIT:
		return EXIT_LIMIT;
	case RELAY__V1__ERROR_CODE__ERR_RATE_LIMITED:
		return EXIT_RATE_LIMITED;
	case RELAY__V1__ERROR_CODE__ERR_UNAUTHORIZED:
		return EXIT_UNAUTHORIZED;
	case RELAY__V1__ERROR_CODE__ERR_TIMEOUT:
		return EXIT_TIMEOUT;
	case RELAY__V1__ERROR_CODE__ERR_SHUTTING_DOWN:
		return EXIT_UNREACHABLE;
	default:
		return EXIT_ERROR;
	}
}

/* -r HOST[:PORT]: also the "host:port" key of known_relays. */
int
opts_relay(struct client_opts *o, const char *arg)
{
	char	 port[8], *p;

	snprintf(port, sizeof(port), "%d", RELAY_DEFAULT_PORT);
	if (net_parse_hostport(arg, port, o->relay_host,
	    sizeof(o->relay_host), o->relay_port,
	    sizeof(o->relay_port)) == -1) {
		log_warnx("-r %s: expected HOST, HOST:PORT, [IPV6] or "
		    "[IPV6]:PORT, with a port of 1-65535", arg);
		return -1;
	}
	for (p = o->relay_host; *p != '\0'; p++)
		*p = tolower((unsigned char)*p);
	snprintf(o->relay_name, sizeof(o->relay_name),
	    strchr(o->relay_host, ':') != NULL ? "[%s]:%s" : "%s:%s",
	    o->relay_host, o->relay_port);
	return 0;
}

/* -K RELAY_ID */
int
opts_pin(struct client_opts *o, const char *arg)
{
	if (id_normalize(arg, o->pin) == -1) {
		log_warnx("-K %s: not a relay ID (32 characters of a-z and "
		    "2-7, as relayd logs it at start)", arg);
		return -1;
	}
	o->pin_given = 1;
	return 0;
}

/* After option parsing: the key, and the pinned relay ID if any. */
int
opts_prepare(struct client_opts *o, int need_relay)
{
	if (need_relay && o->relay_host[0] == '\0') {
		log_warnx("which relay? give it with -r HOST[:PORT]");
		return -1;
	}
	if (!o->key_path_given && keys_default_path(o->key_path,
	    sizeof(o->key_path), "identity") == -1)
		return -1;
	if (keys_load_identity(o) == -1)
		return -1;
	if (o->pin_given)
		return 0;
	if (keys_default_path(o->known_path, sizeof(o->known_path),
	    "known_relays") == -1) {
		log_warnx("cannot find known_relays: pass the relay's ID "
		    "with -K");
		return -1;
	}
	return known_relays_lookup(o);
}

void
opts_clear(struct client_opts *o)
{
	identity_clear(&o->ident);
}

/*
 * any_fd: the loop must also watch descriptors that are not sockets
 * (connect's stdin and stdout may be files or terminals), which epoll
 * refuses; poll takes anything.
 */
struct event_base *
client_event_base(int any_fd)
{
	struct event_config	*cfg;
	struct event_base	*base;

	if (!any_fd) {
		if ((base = event_base_new()) == NULL)
			fatalx("event_base_new");
		return base;
	}
	if ((cfg = event_config_new()) == NULL)
		fatalx("event_config_new");
	(void)event_config_require_features(cfg, EV_FEATURE_FDS);
	if ((base = event_base_new_with_config(cfg)) == NULL)
		fatalx("no event backend for non-socket descriptors");
	event_config_free(cfg);
	return base;
}

/* SIGHUP, SIGINT and SIGTERM all mean "stop": cb decides how. */
void
client_signals(struct event_base *base, void (*cb)(int, short, void *),
    void *arg, struct event *ev[CLIENT_NSIGNALS])
{
	static const int	 sigs[CLIENT_NSIGNALS] = {
		SIGHUP, SIGINT, SIGTERM
	};
	int			 i;

	for (i = 0; i < CLIENT_NSIGNALS; i++) {
		if ((ev[i] = evsignal_new(base, sigs[i], cb, arg)) == NULL)
			fatalx("evsignal_new");
		evsignal_add(ev[i], NULL);
	}
}

void
client_signals_free(struct event *ev[CLIENT_NSIGNALS])
{
	int	 i;

	for (i = 0; i < CLIENT_NSIGNALS; i++)
		if (ev[i] != NULL)
			event_free(ev[i]);
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "help",	no_argument,	NULL,	'h' },
		{ "verbose",	no_argument,	NULL,	'v' },
		{ NULL,		0,		NULL,	0 }
	};
	static char	 progname[] = "relay-client";
	size_t		 i;
	int		 ch, status, verbose = 0;

	argv[0] = progname;	/* getopt's messages: not the whole path */
	log_procname("relay-client");
	log_init(LOG_TO_STDERR, 0, LOG_USER);
	/* a peer that goes away is an error to handle, not a signal */
	signal(SIGPIPE, SIG_IGN);

	while ((ch = getopt_long(argc, argv, "+hv", longopts, NULL)) != -1) {
		switch (ch) {
		case 'h':
			usage(stdout);
			return EXIT_OK;
		case 'v':
			verbose++;
			break;
		default:
			usage(stderr);
			return EXIT_ERROR;
		}
	}
	argc -= optind;
	argv += optind;
	log_setverbose(verbose);
	if (argc < 1) {
		usage(stderr);
		return EXIT_ERROR;
	}
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[0], commands[i].name) == 0) {
			status = commands[i].run(argc, argv);
			log_debug("exit status %d (%s)", status,
			    exit_code_name(status));
			return status;
		}
	log_warnx("unknown command '%s'", argv[0]);
	usage(stderr);
	return EXIT_ERROR;
}
