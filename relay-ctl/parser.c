/* SPDX-License-Identifier: ISC */
/*
 * parser.c: relay-ctl's command line as token tables. Each table lists
 * the words allowed at one position; a keyword may be shortened to any
 * unambiguous prefix ("sh su" is "show summary"). A word that matches
 * nothing, or more than one keyword, is answered with the list of what
 * would have been valid there. The same tables print the usage (-h), so
 * a command cannot be added without appearing in it.
 *
 * Arguments are checked here, before anything is sent: a lease target
 * must be an ID or a lease name, a session ID 32 hex digits.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "proto.h"
#include "util.h"

#include "relay-ctl.h"

enum token_type {
	ENDTOKEN,	/* end of a table */
	NOTOKEN,	/* the command may end here */
	KEYWORD,
	LEASE_TARGET,	/* a lease ID or name */
	SESSION_ID	/* 32 hex digits */
};

struct token {
	enum token_type		 type;
	const char		*keyword;	/* or a placeholder */
	enum actions		 value;
	const struct token	*next;		/* NULL: the end */
	const char		*help;		/* -h, with an action */
};

static const struct token t_main[];
static const struct token t_show[];
static const struct token t_show_leases[];
static const struct token t_lease[];
static const struct token t_lease_target[];
static const struct token t_session[];
static const struct token t_session_id[];
static const struct token t_log[];

static const struct token t_main[] = {
	{ KEYWORD, "show", NONE, t_show, NULL },
	{ KEYWORD, "lease", NONE, t_lease, NULL },
	{ KEYWORD, "session", NONE, t_session, NULL },
	{ KEYWORD, "reload", RELOAD, NULL,
	    "reload relayd.conf" },
	{ KEYWORD, "log", NONE, t_log, NULL },
	{ KEYWORD, "monitor", MONITOR, NULL,
	    "print lease and session events as they happen" },
	{ ENDTOKEN, "", NONE, NULL, NULL }
};

static const struct token t_show[] = {
	{ KEYWORD, "summary", SHOW_SUMMARY, NULL,
	    "version, uptime, listeners, processes, counts" },
	{ KEYWORD, "leases", SHOW_LEASES, t_show_leases,
	    "leases, all or those of one ID or name" },
	{ KEYWORD, "sessions", SHOW_SESSIONS, NULL,
	    "sessions and the bytes they forwarded" },
	{ KEYWORD, "stats", SHOW_STATS, NULL,
	    "counters since relayd started" },
	{ KEYWORD, "metrics", SHOW_METRICS, NULL,
	    "summary and counters as OpenMetrics text" },
	{ ENDTOKEN, "", NONE, NULL, NULL }
};

static const struct token t_show_leases[] = {
	{ NOTOKEN, "", NONE, NULL, NULL },
	{ LEASE_TARGET, "ID|NAME", NONE, NULL, NULL },
	{ ENDTOKEN, "", NONE, NULL, NULL }
};

static const struct token t_lease[] = {
	{ KEYWORD, "revoke", LEASE_REVOKE, t_lease_target,
	    "end a lease; its holder gets a notice" },
	{ ENDTOKEN, "", NONE, NULL, NULL }
};

static const struct token t_lease_target[] = {
	{ LEASE_TARGET, "ID|NAME", NONE, NULL, NULL },
	{ ENDTOKEN, "", NONE, NULL, NULL }
};

static const struct token t_session[] = {
	{ KEYWORD, "kill", SESSION_KILL, t_session_id,
	    "end a session (closes both halves)" },
	{ ENDTOKEN, "", NONE, NULL, NULL }
};

static const struct token t_session_id[] = {
	{ SESSION_ID, "SESSION-ID", NONE, NULL, NULL },
	{ ENDTOKEN, "", NONE, NULL, NULL }
};

static const struct token t_log[] = {
	{ KEYWORD, "verbose", LOG_VERBOSE, NULL,
	    "log debug messages too" },
	{ KEYWORD, "brief", LOG_BRIEF, NULL,
	    "stop logging debug messages" },
	{ ENDTOKEN, "", NONE, NULL, NULL }
};

/* Why a value token refused a word, said once in the error. */
static const char *
value_rule(enum token_type type)
{
	switch (type) {
	case LEASE_TARGET:
		return "a lease ID is 32 characters of [a-z2-7], a name 1-63 "
		    "of [a-z0-9-]";
	case SESSION_ID:
		return "a session ID is 32 hexadecimal digits, as in "
		    "show sessions";
	default:
		return NULL;
	}
}

/* An ID (either case, sent in lower case) or a lease name. */
static int
parse_lease_target(const char *word, struct parse_result *res)
{
	char	 id[ID_BUFSZ];

	if (id_normalize(word, id) == 0) {
		strlcpy(res->target, id, sizeof(res->target));
		return 0;
	}
	if (proto_name_valid(word)) {
		strlcpy(res->target, word, sizeof(res->target));
		return 0;
	}
	return -1;
}

/* 32 hex digits, sent in lower case. */
static int
parse_session_id(const char *word, struct parse_result *res)
{
	uint8_t	 sid[SESSION_ID_LEN];

	if (hex_parse(word, sid, sizeof(sid)) == -1)
		return -1;
	hex_encode(sid, sizeof(sid), res->target, sizeof(res->target));
	return 0;
}

static void
show_valid_args(const struct token *table)
{
	size_t	 i;

	fprintf(stderr, "valid commands/arguments are:\n");
	for (i = 0; table[i].type != ENDTOKEN; i++) {
		switch (table[i].type) {
		case NOTOKEN:
			fprintf(stderr, "  <cr>\n");
			break;
		case KEYWORD:
			fprintf(stderr, "  %s\n", table[i].keyword);
			break;
		default:
			fprintf(stderr, "  <%s>\n", table[i].keyword);
			break;
		}
	}
}

/*
 * The entry of table that word selects, or NULL after saying why not.
 * An exact keyword wins over longer keywords it is a prefix of.
 */
static const struct token *
match_token(const char *word, const struct token *table,
    struct parse_result *res)
{
	const struct token	*t = NULL;
	const char		*rule = NULL;
	size_t			 i, matches = 0;
	int			 exact = 0;

	for (i = 0; table[i].type != ENDTOKEN && !exact; i++) {
		switch (table[i].type) {
		case ENDTOKEN:
			break;
		case NOTOKEN:
			if (word == NULL) {
				t = &table[i];
				matches++;
			}
			break;
		case KEYWORD:
			if (word == NULL || word[0] == '\0')
				break;
			if (strcmp(word, table[i].keyword) == 0) {
				t = &table[i];
				matches = 1;
				exact = 1;
			} else if (strncmp(word, table[i].keyword,
			    strlen(word)) == 0) {
				t = &table[i];
				matches++;
			}
			break;
		case LEASE_TARGET:
		case SESSION_ID:
			if (word == NULL)
				break;
			rule = value_rule(table[i].type);
			if ((table[i].type == LEASE_TARGET ?
			    parse_lease_target(word, res) :
			    parse_session_id(word, res)) == 0) {
				t = &table[i];
				matches++;
			}
			break;
		}
	}

	if (matches == 1) {
		if (t->value != NONE)
			res->action = t->value;
		return t;
	}
	if (word == NULL)
		fprintf(stderr, "relay-ctl: missing argument\n");
	else if (matches > 1)
		fprintf(stderr, "relay-ctl: ambiguous argument: %s\n", word);
	else if (rule != NULL)
		fprintf(stderr, "relay-ctl: invalid argument: %s (%s)\n",
		    word, rule);
	else
		fprintf(stderr, "relay-ctl: unknown argument: %s\n", word);
	show_valid_args(table);
	return NULL;
}

/*
 * Walk the tables with argv. Returns the parsed command, or NULL after
 * an error message on stderr.
 */
struct parse_result *
parse(int argc, char *argv[])
{
	static struct parse_result	 res;
	const struct token		*table = t_main, *match;

	memset(&res, 0, sizeof(res));
	for (;;) {
		match = match_token(argc > 0 ? argv[0] : NULL, table, &res);
		if (match == NULL)
			return NULL;
		if (match->type == NOTOKEN)
			break;
		argc--;
		argv++;
		if ((table = match->next) == NULL)
			break;
	}
	if (argc > 0) {
		fprintf(stderr, "relay-ctl: superfluous argument: %s\n",
		    argv[0]);
		return NULL;
	}
	return &res;
}

/* Does table accept nothing more than one optional value? */
static const struct token *
optional_value(const struct token *table)
{
	const struct token	*value = NULL;
	size_t			 i;
	int			 optional = 0;

	for (i = 0; table[i].type != ENDTOKEN; i++) {
		if (table[i].type == NOTOKEN)
			optional = 1;
		else if (table[i].type == KEYWORD || value != NULL ||
		    table[i].next != NULL)
			return NULL;
		else
			value = &table[i];
	}
	return optional ? value : NULL;
}

static void
print_line(FILE *fp, const char *command, const char *help)
{
	fprintf(fp, "  %-28s%s\n", command, help != NULL ? help : "");
}

/* Each path through table; help is the nearest one set on the way. */
static void
print_table(FILE *fp, const struct token *table, const char *prefix,
    const char *help)
{
	const struct token	*t, *opt;
	const char		*h;
	char			 line[128];
	size_t			 i, len;

	for (i = 0; table[i].type != ENDTOKEN; i++) {
		t = &table[i];
		if (t->type == NOTOKEN) {
			print_line(fp, prefix, help);
			continue;
		}
		h = t->help != NULL ? t->help : help;
		snprintf(line, sizeof(line), "%s%s%s", prefix,
		    prefix[0] != '\0' ? " " : "", t->keyword);
		if (t->next == NULL)
			print_line(fp, line, h);
		else if ((opt = optional_value(t->next)) != NULL) {
			len = strlen(line);
			snprintf(line + len, sizeof(line) - len, " [%s]",
			    opt->keyword);
			print_line(fp, line, h);
		} else
			print_table(fp, t->next, line, h);
	}
}

/* Every command, one a line, from the tables. */
void
print_commands(FILE *fp)
{
	print_table(fp, t_main, "", NULL);
}
