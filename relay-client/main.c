/* SPDX-License-Identifier: ISC */
/*
 * main.c: relay-client's command line. It picks the subcommand, parses
 * the options the subcommands share (-h, -v, -r, -K, -f, -a and their
 * long forms) in one place, each command adding its own through a small
 * table (struct command_opts), maps relay error codes to exit statuses,
 * and sets up the event loop and signals. Nothing here touches the
 * network.
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
static int
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
static int
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

/* -a ALPN: one to ask for (the last one counts), or one more served. */
static int
opts_alpn(struct client_opts *o, unsigned int shared, const char *arg)
{
	size_t	 i;

	if (!proto_alpn_valid(arg)) {
		log_warnx("-a %s: an ALPN name is 1-32 printable characters "
		    "without spaces", arg);
		return -1;
	}
	if (!(shared & OPT_ALPNS)) {
		o->alpn[0] = arg;
		o->nalpn = 1;
		return 0;
	}
	for (i = 0; i < o->nalpn; i++)
		if (strcmp(o->alpn[i], arg) == 0)
			return 0;
	if (o->nalpn == ALPN_MAX_COUNT) {
		log_warnx("at most %d -a options", ALPN_MAX_COUNT);
		return -1;
	}
	o->alpn[o->nalpn++] = arg;
	return 0;
}

#define OPT_CH_NO_DIRECT	256	/* long options only */
#define OPT_CH_DIRECT_ONLY	257

/* The shared options: which command takes them, as getopt sees them. */
static const struct shared_opt {
	unsigned int	 shared;	/* 0: every command */
	const char	*optstring;
	struct option	 longopt;
} shared_opts[] = {
	{ 0, "h", { "help", no_argument, NULL, 'h' } },
	{ 0, "v", { "verbose", no_argument, NULL, 'v' } },
	{ OPT_RELAY, "r:", { "relay", required_argument, NULL, 'r' } },
	{ OPT_RELAY, "K:", { "relay-id", required_argument, NULL, 'K' } },
	{ OPT_KEY, "f:", { "file", required_argument, NULL, 'f' } },
	{ OPT_ALPN | OPT_ALPNS, "a:", { "alpn", required_argument, NULL,
	    'a' } },
	{ OPT_DIRECT, "", { "no-direct", no_argument, NULL,
	    OPT_CH_NO_DIRECT } },
	{ OPT_DIRECT, "", { "direct-only", no_argument, NULL,
	    OPT_CH_DIRECT_ONLY } },
};
#define NSHARED		(sizeof(shared_opts) / sizeof(shared_opts[0]))
#define OPTS_MAX	32	/* long options of one command, all told */

static int
opts_shared(struct client_opts *o, unsigned int shared, int ch,
    const char *arg)
{
	switch (ch) {
	case 'v':
		log_setverbose(log_getverbose() + 1);
		return 0;
	case 'r':
		return opts_relay(o, arg);
	case 'K':
		return opts_pin(o, arg);
	case 'f':
		if (strlcpy(o->key_path, arg, sizeof(o->key_path)) >=
		    sizeof(o->key_path)) {
			log_warnx("-f: the key path is too long");
			return -1;
		}
		o->key_path_given = 1;
		return 0;
	case 'a':
		return opts_alpn(o, shared, arg);
	case OPT_CH_NO_DIRECT:
	case OPT_CH_DIRECT_ONLY:
		if (o->direct != DIRECT_AUTO) {
			log_warnx("--no-direct and --direct-only: one of them, "
			    "once");
			return -1;
		}
		o->direct = ch == OPT_CH_NO_DIRECT ? DIRECT_OFF : DIRECT_ONLY;
		return 0;
	default:
		return 1;	/* not a shared option */
	}
}

/*
 * Parse a command's options, the shared ones (into o) and its own
 * (through cmd->option, with arg). Returns the index of the first
 * argument after the options, OPTS_HELP when -h printed the usage, or
 * -1 after saying what is wrong.
 */
int
opts_parse(const struct command_opts *cmd, struct client_opts *o, void *arg,
    int argc, char *argv[])
{
	struct option	 longopts[OPTS_MAX + 1];
	char		 optstring[2 * OPTS_MAX + 1];
	const struct option *lo;
	size_t		 i, n = 0;
	int		 ch, r;

	optstring[0] = '\0';
	for (i = 0; i < NSHARED; i++) {
		if (shared_opts[i].shared != 0 &&
		    !(shared_opts[i].shared & cmd->shared))
			continue;
		strlcat(optstring, shared_opts[i].optstring,
		    sizeof(optstring));
		longopts[n++] = shared_opts[i].longopt;
	}
	strlcat(optstring, cmd->optstring, sizeof(optstring));
	for (lo = cmd->longopts; lo != NULL && lo->name != NULL; lo++)
		if (n < OPTS_MAX)
			longopts[n++] = *lo;
	memset(&longopts[n], 0, sizeof(longopts[n]));

	optind = 0;
	while ((ch = getopt_long(argc, argv, optstring, longopts,
	    NULL)) != -1) {
		if (ch == 'h') {
			cmd->usage(stdout);
			return OPTS_HELP;
		}
		if (ch == '?' || ch == ':') {
			cmd->usage(stderr);
			return -1;
		}
		if ((r = opts_shared(o, cmd->shared, ch, optarg)) == 1)
			r = cmd->option != NULL ? cmd->option(arg, ch, optarg) :
			    -1;
		if (r == -1)
			return -1;
	}
	if (o->nalpn == 0 && (cmd->shared & (OPT_ALPN | OPT_ALPNS))) {
		o->alpn[0] = DEFAULT_ALPN;
		o->nalpn = 1;
	}
	return optind;
}

/* The lines of -h for the shared options a command takes. */
void
opts_usage(FILE *f, unsigned int shared)
{
	if (shared & OPT_RELAY)
		fprintf(f, "  -r host[:port]  the relay (default port %d)\n"
		    "  -K relay-id     the relay's ID (default: from "
		    "~/.config/relay/known_relays)\n", RELAY_DEFAULT_PORT);
	if (shared & OPT_KEY)
		fprintf(f, "  -f key          identity key (default "
		    "~/.config/relay/identity)\n");
	if (shared & OPT_ALPN)
		fprintf(f, "  -a alpn         the protocol to ask for (default "
		    "\"%s\")\n", DEFAULT_ALPN);
	if (shared & OPT_ALPNS)
		fprintf(f, "  -a alpn         a protocol served, up to %d "
		    "(default \"%s\")\n", ALPN_MAX_COUNT, DEFAULT_ALPN);
	if (shared & OPT_DIRECT)
		fprintf(f, "  --no-direct     every session through the relay: "
		    "no direct path\n"
		    "  --direct-only   direct paths only, never the relay (a "
		    "test aid)\n");
	fprintf(f, "  -v              more messages on stderr (repeat for "
	    "more)\n");
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
		client_event_free(&ev[i]);
}

/* Free *evp if it was set up, and forget it. */
void
client_event_free(struct event **evp)
{
	if (*evp == NULL)
		return;
	event_free(*evp);
	*evp = NULL;
}

/*
 * Add ev to the loop or take it out, as want says; bit is its flag in
 * *on, which remembers which it is. An event not set up (NULL) is left.
 */
void
client_event_want(struct event *ev, unsigned int *on, unsigned int bit,
    int want)
{
	if (ev == NULL || ((*on & bit) != 0) == (want != 0))
		return;
	if (want) {
		event_add(ev, NULL);
		*on |= bit;
	} else {
		event_del(ev);
		*on &= ~bit;
	}
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
	if (crypto_setup() == -1)
		fatalx("OpenSSL could not start");

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
