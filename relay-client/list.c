/* SPDX-License-Identifier: ISC */
/*
 * list.c: relay-client list, the relay's public leases: name, holder ID,
 * ALPNs, expiry and description, as a table or (-j) as one JSON document.
 * ListLeases is asked page by page, the offset advancing by what came,
 * until more is false.
 *
 * The output is built in memory and printed only when the whole list has
 * arrived, so a failure half-way never leaves a truncated table or
 * invalid JSON on stdout. Text from the relay is escaped for the
 * terminal (control characters) and for JSON.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "relay-client.h"

/* A relay that says "more" forever is cut off here. */
#define LIST_MAX_PAGES	100000
/* the table is held until it is whole: a relay cannot make it endless */
#define LIST_MAX_BYTES	(32 * 1024 * 1024)

struct lister {
	struct event_base	*base;
	struct client_opts	 opts;
	struct relay_client	*rc;
	int			 json;
	uint32_t		 offset;
	unsigned int		 pages;
	FILE			*out;
	char			*outbuf;
	size_t			 outlen;
	int			 exit_code;
	int			 done;
};

static void	list_ready(struct relay_client *, void *);
static void	list_message(struct relay_client *, RelayMessage *, void *);
static void	list_closed(struct relay_client *, int, const char *, void *);

static const struct relay_cb list_relay_cb = {
	.ready = list_ready,
	.message = list_message,
	.closed = list_closed
};

static void
list_usage(FILE *f)
{
	fprintf(f, "usage: relay-client list [-hjv] -r host[:port] "
	    "[-K relay-id] [-f key]\n"
	    "  List the relay's public leases.\n"
	    "  -j              JSON output\n");
	opts_usage(f, OPT_RELAY | OPT_KEY);
}

static int
list_option(void *arg, int ch, char *value)
{
	struct lister	*l = arg;

	if (ch != 'j')
		return -1;
	l->json = 1;
	return 0;
}

static const struct option list_longopts[] = {
	{ "json",	no_argument,	NULL,	'j' },
	{ NULL,		0,		NULL,	0 }
};

static const struct command_opts list_command = {
	.name = "list",
	.shared = OPT_RELAY | OPT_KEY,
	.optstring = "j",
	.longopts = list_longopts,
	.option = list_option,
	.usage = list_usage
};

/* Text for a terminal: control characters become '?' (text_safe). */
static void
list_text(FILE *f, const char *s)
{
	char	 safe[1024];

	fputs(text_safe(safe, sizeof(safe), s), f);
}

/* A JSON string; the text is valid UTF-8 (proto_check_relay). */
static void
list_json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			fprintf(f, "\\%c", *s);
		else if ((unsigned char)*s < 0x20 || *s == 0x7f)
			fprintf(f, "\\u%04x", (unsigned char)*s);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}

static void
list_time(uint64_t t, char *out, size_t outlen)
{
	time_t		 tt = (time_t)t;
	struct tm	 tm;

	if (gmtime_r(&tt, &tm) == NULL ||
	    strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		strlcpy(out, "", outlen);
}

static void
list_entry(struct lister *l, const Relay__V1__LeaseInfo *li, int first)
{
	char		 alpn[ALPN_MAX_COUNT * (ALPN_MAX_LEN + 1)], when[32];
	time_t		 now;
	size_t		 i;

	if (l->json) {
		fprintf(l->out, "%s{\"name\":", first ? "" : ",");
		list_json_string(l->out, li->name);
		fprintf(l->out, ",\"id\":");
		list_json_string(l->out, li->id);
		fprintf(l->out, ",\"alpn\":[");
		for (i = 0; i < li->n_alpn; i++) {
			if (i > 0)
				fputc(',', l->out);
			list_json_string(l->out, li->alpn[i]);
		}
		fprintf(l->out, "],\"description\":");
		list_json_string(l->out, li->description != NULL ?
		    li->description : "");
		list_time(li->expires_unix, when, sizeof(when));
		fprintf(l->out, ",\"expires\":%" PRIu64
		    ",\"expires_iso\":\"%s\"}", li->expires_unix, when);
		return;
	}
	alpn[0] = '\0';
	for (i = 0; i < li->n_alpn; i++) {
		if (i > 0)
			strlcat(alpn, ",", sizeof(alpn));
		strlcat(alpn, li->alpn[i], sizeof(alpn));
	}
	now = time(NULL);
	if (now < 0 || li->expires_unix <= (uint64_t)now)
		strlcpy(when, "expired", sizeof(when));
	else
		snprintf(when, sizeof(when), "%" PRIu64 "s",
		    li->expires_unix - (uint64_t)now);
	fprintf(l->out, "%-20s %-32s %-16s %-8s ", li->name, li->id, alpn,
	    when);
	list_text(l->out, li->description != NULL ? li->description : "");
	fputc('\n', l->out);
}

/* Done: close the control connection politely if it is still open. */
static void
list_end(struct lister *l, int code)
{
	relay_end(l->rc, l->base, &l->done, &l->exit_code, code);
}

static void	list_ask(struct lister *);

static void
list_reply(struct relay_client *rc, RelayMessage *m, int code,
    const char *why, void *arg)
{
	struct lister			*l = arg;
	const Relay__V1__LeaseList	*ll;
	char				 err[300];
	size_t				 i;

	if (m == NULL) {
		log_warnx("list: %s", why);
		list_end(l, code);
		return;
	}
	if (m->msg_case == RELAY__V1__RELAY_MESSAGE__MSG_ERROR) {
		relay_error_message(m->error, err, sizeof(err));
		log_warnx("list: the relay %s refused: %s",
		    l->opts.relay_name, err);
		list_end(l, exit_for_error(m->error->code));
		return;
	}
	if (m->msg_case != RELAY__V1__RELAY_MESSAGE__MSG_LEASE_LIST) {
		log_warnx("list: unexpected %s from the relay",
		    proto_relay_msg_name(m->msg_case));
		list_end(l, EXIT_ERROR);
		return;
	}
	ll = m->lease_list;
	for (i = 0; i < ll->n_leases; i++) {
		if (!l->json && l->offset == 0 && i == 0)
			fprintf(l->out, "%-20s %-32s %-16s %-8s %s\n", "NAME",
			    "ID", "ALPN", "EXPIRES", "DESCRIPTION");
		list_entry(l, ll->leases[i], l->offset == 0 && i == 0);
	}
	if (fflush(l->out) != 0 || l->outlen > LIST_MAX_BYTES) {
		log_warnx("list: more than %d MiB of leases from the relay %s; "
		    "stopped", LIST_MAX_BYTES / (1024 * 1024),
		    l->opts.relay_name);
		list_end(l, EXIT_ERROR);
		return;
	}
	if (ll->more && ll->n_leases > 0 && ++l->pages < LIST_MAX_PAGES &&
	    l->offset + ll->n_leases > l->offset) {
		l->offset += ll->n_leases;
		list_ask(l);
		return;
	}
	if (ll->more) {
		log_warnx("list: the relay keeps saying there is more; "
		    "stopped after %u leases", l->offset);
		list_end(l, EXIT_ERROR);
		return;
	}
	l->offset += ll->n_leases;
	if (l->json)
		fprintf(l->out, "]}\n");
	else if (l->offset == 0)	/* a message, not a table row */
		log_info("no public leases on the relay %s",
		    l->opts.relay_name);
	list_end(l, EXIT_OK);
}

static void
list_ask(struct lister *l)
{
	ClientMessage		 m = RELAY__V1__CLIENT_MESSAGE__INIT;
	Relay__V1__ListLeases	 ll = RELAY__V1__LIST_LEASES__INIT;

	ll.offset = l->offset;
	m.msg_case = RELAY__V1__CLIENT_MESSAGE__MSG_LIST_LEASES;
	m.list_leases = &ll;
	if (relay_request(l->rc, &m, NULL, list_reply, l) == -1) {
		log_warnx("list: cannot send the request");
		list_end(l, EXIT_ERROR);
	}
}

static void
list_ready(struct relay_client *rc, void *arg)
{
	struct lister	*l = arg;

	if (l->json) {
		fprintf(l->out, "{\"relay\":");
		list_json_string(l->out, l->opts.relay_name);
		fprintf(l->out, ",\"relay_id\":");
		list_json_string(l->out, rc->relay_id);
		fprintf(l->out, ",\"leases\":[");
	}
	list_ask(l);
}

static void
list_message(struct relay_client *rc, RelayMessage *m, void *arg)
{
	log_debug("ignored %s from the relay",
	    proto_relay_msg_name(m->msg_case));
}

static void
list_closed(struct relay_client *rc, int code, const char *why, void *arg)
{
	struct lister	*l = arg;

	if (code != EXIT_OK && !l->done)
		log_warnx("%s", why);
	list_end(l, code);
}

int
cmd_list(int argc, char *argv[])
{
	struct lister	 l;
	int		 i;

	memset(&l, 0, sizeof(l));
	l.opts.direct = DIRECT_OFF;	/* no session: no port to share */
	if ((i = opts_parse(&list_command, &l.opts, &l, argc, argv)) < 0)
		return i == OPTS_HELP ? EXIT_OK : EXIT_ERROR;
	if (argc != i) {
		log_warnx("list takes no arguments: '%s'", argv[i]);
		list_usage(stderr);
		return EXIT_ERROR;
	}
	if (opts_prepare(&l.opts, 1) == -1)
		return EXIT_ERROR;
	if ((l.out = open_memstream(&l.outbuf, &l.outlen)) == NULL)
		fatal("open_memstream");
	l.base = client_event_base(0);
	if ((l.rc = relay_new(l.base, &l.opts, &list_relay_cb, &l)) == NULL)
		fatal("relay_new");
	relay_connect(l.rc);
	event_base_dispatch(l.base);

	relay_free(l.rc);
	event_base_free(l.base);
	fclose(l.out);
	if (l.exit_code == EXIT_OK && l.outlen > 0 &&
	    (fwrite(l.outbuf, 1, l.outlen, stdout) != l.outlen ||
	    fflush(stdout) != 0)) {
		log_warn("stdout");
		l.exit_code = EXIT_ERROR;
	}
	free(l.outbuf);
	opts_clear(&l.opts);
	return l.exit_code;
}
