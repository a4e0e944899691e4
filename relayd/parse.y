/* SPDX-License-Identifier: ISC */
/*
 * parse.y: the relayd.conf(5) grammar and its lexer: keywords, quoted
 * strings, macros ($name, also from relayd -D), include files, and
 * "file:line: message" errors. parse_config() fills a struct
 * relayd_config from built-in defaults and the file.
 *
 * This file only reads text: it never looks up users, creates sockets or
 * directories, or opens the files the configuration names; the parent
 * does that when it starts. It keeps going after an error so that one
 * run reports every mistake in the file.
 */

%{
#include "config.h"

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "log.h"
#include "proto.h"
#include "relayd.h"

#define MAX_INCLUDE_DEPTH	8	/* include files open at once */
#define MAX_INCLUDES		64	/* include statements in one parse */
#define MAX_WORD_LEN		8192
#define MAX_PUSHBACK		8

#define USER_MAX_LEN		31

struct file {
	struct file	*parent;	/* the file that included this one */
	FILE		*stream;
	char		*name;		/* as opened: errors quote it */
	int		 lineno;	/* line of the next character read */
	int		 depth;		/* 0 for the main file */
	dev_t		 dev;		/* which file: no include cycles */
	ino_t		 ino;
};

struct sym {
	TAILQ_ENTRY(sym)	 entry;
	int			 persist;	/* from -D: kept, and wins */
	char			*name;
	char			*val;
};

typedef struct {
	union {
		long long	 number;
		char		*string;
	} v;
	char		 numtext[24];	/* a NUMBER as written */
} YYSTYPE;
#define YYSTYPE_IS_DECLARED 1

static TAILQ_HEAD(, sym)	 symhead = TAILQ_HEAD_INITIALIZER(symhead);

/* The state of one parse_config() call. */
static struct relayd_config	*conf;
static struct file		*file;
static int			 errors;
static char			 first_error[512];	/* for reload replies */
static int			 cur_line;	/* line of the last token */
static int			 lex_error;	/* the lexer has said why */
static int			 saw_listen;
static int			 nincludes;
static int			 parse_as_root;	/* included files checked too */
static int			 saw_allow_any;
static int			 saw_allow_id;
static unsigned int		 seen;		/* options of this statement */

/*
 * Every string the lexer returns lives until the end of the parse, so
 * the tokens that error recovery throws away are not leaked.
 */
static char			**pool;
static size_t			 npool, poolsize;

/* Lexer state. */
static int			 pushback[MAX_PUSHBACK];
static int			 npushback;
static char			*macro_buf;	/* the macro being read again */
static size_t			 macro_pos;
static int			 last_token;
static int			 stmt_ntokens;	/* read in this statement */
static char			 stmt_word[64];	/* its first word, if STRING */

#define SEEN_CONN		0x01
#define SEEN_FWD		0x02
#define SEEN_HANDSHAKE		0x04
#define SEEN_PAIRING		0x08
#define SEEN_IDLE		0x10
#define SEEN_SESSION		0x20
#define SEEN_ACCEPT		0x40

static char	*pool_strdup(const char *);
static void	 pool_free(void);
static int	 yylex(void);
static int	 yyerror(const char *);
static void	 parse_verror(const char *, va_list)
		    __attribute__((format(printf, 1, 0)));
static void	 parse_error(const char *, ...)
		    __attribute__((format(printf, 1, 2)));
static int	 check_range(const char *, long long, long long, long long);
static int	 limit_set(const char *, long long);
static int	 once(unsigned int, const char *);
static void	 listen_add(const char *, long long);
static void	 set_path(const char *, char *, size_t, const char *);
static void	 set_user(const char *);
static void	 allow_add(const char *);
static void	 reserve_add(const char *, const char *);
static int	 symset(const char *, const char *, int);
static const char *symget(const char *);
static int	 macro_name_valid(const char *);
static int	 macro_value_valid(const char *);
static void	 macros_clear_file(void);
static struct file *pushfile(const char *, int);
static void	 popfile(void);
%}

%token	ACCEPT ADDRESS ALLOW ANY BURST CHROOT CONN CONNECT CONNECTION DEBUG
%token	DIRECTPATHS FOR FWD HANDSHAKE ID IDENTITY IDLE INCLUDE LEASE LIMIT
%token	LISTEN LISTING MAX NAME NO OFF ON PAIRING PENDING PER PORT RATE REGISTER
%token	RESERVE SANDBOX SESSION SOCKET TIMEOUT TOTAL TTL USER WORKERS YES
%token	ERROR
%token	<v.string>	STRING
%token	<v.number>	NUMBER
%type	<v.string>	word
%type	<v.number>	port

%%

grammar		: /* empty */
		| grammar '\n'
		| grammar include
		| grammar varset '\n'
		| grammar main '\n'
		| grammar error '\n'	{ yyerrok; }
		;

/*
 * The newline is part of the rule so that the parser reduces it, and
 * opens the file, before it reads the next token.
 */
include		: INCLUDE word '\n'	{
			struct file	*nfile;

			if ((nfile = pushfile($2, 1)) != NULL)
				file = nfile;
		}
		;

word		: STRING
		| NUMBER		{
			$$ = pool_strdup($<numtext>1);
		}
		;

varset		: STRING '=' word	{
			if (!macro_name_valid($1))
				parse_error("invalid macro name \"%s\": use "
				    "letters, digits and _", $1);
			else if (!macro_value_valid($3))
				parse_error("macro %s: a value may not contain "
				    "'\"', '#', '$', '\\' or a newline", $1);
			else if (symset($1, $3, 0) == -1)
				fatal("macro %s", $1);
		}
		;

port		: /* empty */		{ $$ = RELAY_DEFAULT_PORT; }
		| PORT NUMBER		{
			$$ = $2;
			if (check_range("port", $2, 1, 65535) == -1)
				$$ = -1;
		}
		;

main		: LISTEN ON word port	{
			if ($4 != -1)
				listen_add($3, $4);
		}
		| IDENTITY word		{
			set_path("identity", conf->identity,
			    sizeof(conf->identity), $2);
		}
		| SOCKET word		{
			set_path("socket", conf->socket, sizeof(conf->socket),
			    $2);
		}
		| CHROOT word		{
			set_path("chroot", conf->chroot, sizeof(conf->chroot),
			    $2);
		}
		| USER word		{
			set_user($2);
		}
		| WORKERS { seen = 0; } workers_list
		| LEASE TTL NUMBER MAX NUMBER	{
			if ($3 > $5)
				parse_error("lease ttl %lld is greater than "
				    "max %lld", $3, $5);
			else if (limit_set("lease ttl", $3) == 0)
				limit_set("lease ttl max", $5);
		}
		| LEASE LIMIT NUMBER PER ID comma NUMBER TOTAL	{
			if ($3 > $7)
				parse_error("lease limit %lld per id "
				    "is greater than %lld total", $3, $7);
			else if (limit_set("lease limit per id", $3) == 0)
				limit_set("lease limit total", $7);
		}
		| SESSION LIMIT NUMBER PER LEASE comma NUMBER TOTAL	{
			if ($3 > $7)
				parse_error("session limit %lld per lease "
				    "is greater than %lld total", $3, $7);
			else if (limit_set("session limit per lease", $3) ==
			    0)
				limit_set("session limit total", $7);
		}
		| PENDING LIMIT NUMBER PER LEASE comma NUMBER PER ADDRESS {
			if ($7 > $3)
				parse_error("pending limit %lld per address "
				    "is greater than %lld per lease", $7, $3);
			else if (limit_set("pending limit per address", $7) ==
			    0)
				limit_set("pending limit per lease", $3);
		}
		| CONNECTION LIMIT NUMBER PER ADDRESS comma NUMBER TOTAL	{
			if ($3 > $7)
				parse_error("connection limit %lld per address "
				    "is greater than %lld total", $3, $7);
			else if (limit_set("connection limit per address",
			    $3) == 0)
				limit_set("connection limit total", $7);
		}
		| CONNECTION RATE NUMBER	{
			limit_set("connection rate", $3);
		}
		| TIMEOUT { seen = 0; } timeout_list
		| CONNECT RATE NUMBER BURST NUMBER	{
			if ($5 < $3)
				parse_error("connect burst %lld is less than "
				    "rate %lld", $5, $3);
			else if (limit_set("connect rate", $3) == 0)
				limit_set("connect burst", $5);
		}
		| DIRECTPATHS YES	{ conf->lim.direct_paths = 1; }
		| DIRECTPATHS NO	{ conf->lim.direct_paths = 0; }
		| REGISTER ALLOW ANY	{
			if (saw_allow_id)
				parse_error("register allow any conflicts "
				    "with register allow id");
			saw_allow_any = 1;
			conf->lim.register_any = 1;
		}
		| REGISTER ALLOW allow_list
		| RESERVE NAME word FOR ID word	{
			reserve_add($3, $6);
		}
		| LISTING ON		{ conf->lim.listing = 1; }
		| LISTING OFF		{ conf->lim.listing = 0; }
		| SANDBOX ON		{ conf->lim.sandbox_debug = 0; }
		| SANDBOX DEBUG		{
			/* a test mode: a production host must not keep it */
			parse_error("\"sandbox debug\" is no longer a "
			    "setting: a forbidden system call must stay fatal "
			    "on a host; to find a missing filter entry, run "
			    "relayd -d -S by hand (remove the line, or write "
			    "\"sandbox on\")");
		}
		;

comma		: /* empty */
		| ','
		;

workers_list	: workers_item
		| workers_list workers_item
		;

workers_item	: CONN NUMBER		{
			if (once(SEEN_CONN, "conn") == 0)
				limit_set("workers conn", $2);
		}
		| FWD NUMBER		{
			if (once(SEEN_FWD, "fwd") == 0)
				limit_set("workers fwd", $2);
		}
		;

timeout_list	: timeout_item
		| timeout_list timeout_item
		;

timeout_item	: HANDSHAKE NUMBER	{
			if (once(SEEN_HANDSHAKE, "handshake") == 0)
				limit_set("timeout handshake", $2);
		}
		| PAIRING NUMBER	{
			if (once(SEEN_PAIRING, "pairing") == 0)
				limit_set("timeout pairing", $2);
		}
		| IDLE NUMBER		{
			if (once(SEEN_IDLE, "idle") == 0)
				limit_set("timeout idle", $2);
		}
		| SESSION NUMBER	{
			if (once(SEEN_SESSION, "session") == 0)
				limit_set("timeout session", $2);
		}
		| ACCEPT NUMBER		{
			if (once(SEEN_ACCEPT, "accept") == 0)
				limit_set("timeout accept", $2);
		}
		;

allow_list	: allow_item
		| allow_list allow_item
		;

allow_item	: ID word		{
			allow_add($2);
		}
		;

%%

struct keyword {
	const char	*k_name;
	int		 k_val;
};

/* Sorted: looked up with bsearch(). */
static const struct keyword keywords[] = {
	{ "accept",	ACCEPT },
	{ "address",	ADDRESS },
	{ "allow",	ALLOW },
	{ "any",	ANY },
	{ "burst",	BURST },
	{ "chroot",	CHROOT },
	{ "conn",	CONN },
	{ "connect",	CONNECT },
	{ "connection",	CONNECTION },
	{ "debug",	DEBUG },
	{ "direct-paths", DIRECTPATHS },
	{ "for",	FOR },
	{ "fwd",	FWD },
	{ "handshake",	HANDSHAKE },
	{ "id",		ID },
	{ "identity",	IDENTITY },
	{ "idle",	IDLE },
	{ "include",	INCLUDE },
	{ "lease",	LEASE },
	{ "limit",	LIMIT },
	{ "listen",	LISTEN },
	{ "listing",	LISTING },
	{ "max",	MAX },
	{ "name",	NAME },
	{ "no",		NO },
	{ "off",	OFF },
	{ "on",		ON },
	{ "pairing",	PAIRING },
	{ "pending",	PENDING },
	{ "per",	PER },
	{ "port",	PORT },
	{ "rate",	RATE },
	{ "register",	REGISTER },
	{ "reserve",	RESERVE },
	{ "sandbox",	SANDBOX },
	{ "session",	SESSION },
	{ "socket",	SOCKET },
	{ "timeout",	TIMEOUT },
	{ "total",	TOTAL },
	{ "ttl",	TTL },
	{ "user",	USER },
	{ "workers",	WORKERS },
	{ "yes",	YES }
};

static void
parse_verror(const char *fmt, va_list ap)
{
	char	 msg[1024];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (errors++ == 0) {
		first_error[0] = '\0';
		if (file != NULL)
			snprintf(first_error, sizeof(first_error), "%s:%d: ",
			    file->name, cur_line);
		strlcat(first_error, msg, sizeof(first_error));
	}
	if (file != NULL)
		log_warnx("%s:%d: %s", file->name, cur_line, msg);
	else
		log_warnx("%s", msg);
}

static void
parse_error(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	parse_verror(fmt, ap);
	va_end(ap);
}

/*
 * Called by the parser only; the lexer's own errors are already said.
 * A statement that starts with a plain word not followed by '=' (a
 * macro) is most likely a misspelt keyword: say so.
 */
static int
yyerror(const char *msg)
{
	if (lex_error) {
		lex_error = 0;
		return 0;
	}
	if (stmt_ntokens == 2 && stmt_word[0] != '\0')
		parse_error("unknown keyword \"%s\"", stmt_word);
	else
		parse_error("%s", msg);
	return 0;
}

static int
check_range(const char *what, long long v, long long min, long long max)
{
	if (v < min || v > max) {
		parse_error("%s %lld out of range (%lld-%lld)", what, v, min,
		    max);
		return -1;
	}
	return 0;
}

/* A number of the limit table (config.c), in its range. */
static int
limit_set(const char *name, long long v)
{
	size_t	 i;

	for (i = 0; i < nlimit_defs; i++)
		if (strcmp(limit_defs[i].name, name) == 0)
			break;
	if (i == nlimit_defs)
		fatalx("limit_set: no limit %s", name);
	if (check_range(limit_defs[i].what, v, limit_defs[i].min,
	    limit_defs[i].max) == -1)
		return -1;
	*limit_field(&conf->lim, &limit_defs[i]) = v;
	return 0;
}

/* An option given twice in one statement is a mistake, not an override. */
static int
once(unsigned int bit, const char *what)
{
	if (seen & bit) {
		parse_error("%s given twice", what);
		return -1;
	}
	seen |= bit;
	return 0;
}

static int
listen_fill(struct listen_addr *la, const char *host, long long port)
{
	struct sockaddr_in	*sin = (struct sockaddr_in *)&la->ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)&la->ss;

	memset(la, 0, sizeof(*la));
	if (strcmp(host, "*") == 0)
		host = "0.0.0.0";
	if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		la->sslen = sizeof(*sin);
		if (inet_ntop(AF_INET, &sin->sin_addr, la->host,
		    sizeof(la->host)) == NULL)
			return -1;
	} else if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		la->sslen = sizeof(*sin6);
		if (inet_ntop(AF_INET6, &sin6->sin6_addr, la->host,
		    sizeof(la->host)) == NULL)
			return -1;
	} else
		return -1;
	la->port = port;
	return 0;
}

static void
listen_add(const char *host, long long port)
{
	struct listen_addr	*la, *old;

	if ((la = malloc(sizeof(*la))) == NULL)
		fatal("listen");
	if (listen_fill(la, host, port) == -1) {
		parse_error("invalid address \"%s\": a numeric IPv4 or IPv6 "
		    "address or * is needed", host);
		free(la);
		return;
	}
	TAILQ_FOREACH(old, &conf->listens, entry) {
		if (old->port == la->port && strcmp(old->host, la->host) == 0) {
			parse_error("duplicate listener %s port %u", la->host,
			    la->port);
			free(la);
			return;
		}
	}
	TAILQ_INSERT_TAIL(&conf->listens, la, entry);
	saw_listen = 1;
}

static void
set_path(const char *what, char *dst, size_t dstlen, const char *path)
{
	if (path[0] != '/')
		parse_error("%s path must be absolute: \"%s\"", what, path);
	else if (strlcpy(dst, path, dstlen) >= dstlen)
		parse_error("%s path too long", what);
}

static void
set_user(const char *name)
{
	size_t	 i, len = strlen(name);

	for (i = 0; i < len; i++)
		if (!isalnum((unsigned char)name[i]) &&
		    strchr("_.-", name[i]) == NULL)
			break;
	if (len == 0 || len > USER_MAX_LEN || i < len ||
	    len >= sizeof(conf->user)) {
		parse_error("invalid user name \"%s\": 1-%d of "
		    "[A-Za-z0-9_.-]", name, USER_MAX_LEN);
		return;
	}
	strlcpy(conf->user, name, sizeof(conf->user));
}

static void
allow_add(const char *text)
{
	struct allowed_id	*a, *old;
	char			 id[ID_BUFSZ];

	if (saw_allow_any && !saw_allow_id)
		parse_error("register allow id conflicts with register "
		    "allow any");
	saw_allow_id = 1;
	if (id_normalize(text, id) == -1) {
		parse_error("invalid ID \"%s\"", text);
		return;
	}
	TAILQ_FOREACH(old, &conf->allowed, entry) {
		if (strcmp(old->id, id) == 0) {
			parse_error("ID %s allowed twice", id);
			return;
		}
	}
	if ((a = calloc(1, sizeof(*a))) == NULL)
		fatal("register allow");
	strlcpy(a->id, id, sizeof(a->id));
	TAILQ_INSERT_TAIL(&conf->allowed, a, entry);
	conf->lim.register_any = 0;
}

static void
reserve_add(const char *name, const char *text)
{
	struct reservation	*r, *old;
	char			 id[ID_BUFSZ];
	int			 bad = 0;

	if (!proto_name_valid(name)) {
		parse_error("invalid name \"%s\": 1-%d of [a-z0-9-], not "
		    "starting or ending with '-'", name, NAME_MAX_LEN);
		bad = 1;
	}
	if (id_normalize(text, id) == -1) {
		parse_error("invalid ID \"%s\"", text);
		bad = 1;
	}
	if (bad)
		return;
	TAILQ_FOREACH(old, &conf->reserved, entry) {
		if (strcmp(old->name, name) == 0) {
			parse_error("name \"%s\" reserved twice", name);
			return;
		}
	}
	if ((r = calloc(1, sizeof(*r))) == NULL)
		fatal("reserve");
	strlcpy(r->name, name, sizeof(r->name));
	strlcpy(r->id, id, sizeof(r->id));
	TAILQ_INSERT_TAIL(&conf->reserved, r, entry);
}

/* ---- lexer ---- */

static char *
pool_strdup(const char *s)
{
	char	**np;
	char	 *p;

	if (npool == poolsize) {
		if ((np = reallocarray(pool, poolsize + 64,
		    sizeof(*pool))) == NULL)
			fatal("parse");
		pool = np;
		poolsize += 64;
	}
	if ((p = strdup(s)) == NULL)
		fatal("parse");
	pool[npool++] = p;
	return p;
}

static void
pool_free(void)
{
	while (npool > 0)
		free(pool[--npool]);
	free(pool);
	pool = NULL;
	poolsize = 0;
}

static int
kw_cmp(const void *k, const void *e)
{
	return strcmp(k, ((const struct keyword *)e)->k_name);
}

static int
lookup(const char *s)
{
	const struct keyword	*p;

	p = bsearch(s, keywords, sizeof(keywords) / sizeof(keywords[0]),
	    sizeof(keywords[0]), kw_cmp);
	return p != NULL ? p->k_val : STRING;
}

static int
lungetc(int c)
{
	if (c == EOF)
		return EOF;
	if (npushback >= MAX_PUSHBACK)
		fatalx("parse: pushback buffer full");
	pushback[npushback++] = c;
	return c;
}

/* The next character: pushed back, from a macro's value, or the file. */
static int
lgetc_raw(void)
{
	int	 c;

	if (npushback > 0)
		return pushback[--npushback];
	if (macro_buf != NULL) {
		if (macro_buf[macro_pos] != '\0')
			return (unsigned char)macro_buf[macro_pos++];
		free(macro_buf);
		macro_buf = NULL;
	}
	c = getc(file->stream);
	if (c == '\n')
		file->lineno++;
	return c;
}

/* Outside quotes, a backslash before a newline joins the two lines. */
static int
lgetc(int quoted)
{
	int	 c, next;

	c = lgetc_raw();
	if (quoted)
		return c;
	while (c == '\\') {
		next = lgetc_raw();
		if (next != '\n') {
			lungetc(next);
			break;
		}
		c = lgetc_raw();
	}
	return c;
}

/* Skip the rest of a bad line but leave its newline to end the statement. */
static int
findeol(void)
{
	int	 c;

	while ((c = lgetc(0)) != '\n' && c != EOF)
		;
	lungetc(c);
	lex_error = 1;
	return ERROR;
}

static int
word_char(int c)
{
	return c != EOF && c != '\0' &&
	    (isalnum(c) || strchr("-_.:/*@%+~", c) != NULL);
}

static int
is_number(const char *s)
{
	if (*s == '-')
		s++;
	if (*s == '\0')
		return 0;
	for (; *s != '\0'; s++)
		if (!isdigit((unsigned char)*s))
			return 0;
	return 1;
}

/*
 * $name: the macro's value is read again as input, so it may hold a
 * number, a keyword or several words. The character read after the name
 * is still pending: it must come after the value, not before.
 */
static int
macro_expand(void)
{
	char		 name[64];
	const char	*val, *rest;
	char		*buf;
	size_t		 len = 0, vlen;
	int		 c;

	while ((c = lgetc(0)) != EOF && (isalnum(c) || c == '_')) {
		if (len >= sizeof(name) - 1) {
			parse_error("macro name too long");
			return -1;
		}
		name[len++] = c;
	}
	lungetc(c);
	name[len] = '\0';
	if (len == 0) {
		parse_error("macro name expected after '$'");
		return -1;
	}
	if ((val = symget(name)) == NULL) {
		parse_error("macro \"%s\" not defined", name);
		return -1;
	}
	/* Values hold no '$': only the pending input can expand again. */
	rest = macro_buf != NULL ? macro_buf + macro_pos : "";
	vlen = strlen(val);
	if ((buf = malloc(vlen + 2 + npushback + strlen(rest))) == NULL)
		fatal("macro");
	memcpy(buf, val, vlen);
	buf[vlen++] = ' ';
	while (npushback > 0)
		buf[vlen++] = pushback[--npushback];
	strcpy(buf + vlen, rest);
	free(macro_buf);
	macro_buf = buf;
	macro_pos = 0;
	return 0;
}

static int
lex_quoted(char *buf, size_t buflen)
{
	size_t	 len = 0;
	int	 c, next;

	for (;;) {
		if ((c = lgetc(1)) == EOF || c == '\n') {
			parse_error("unterminated quoted string");
			if (c == '\n')
				lungetc(c);
			lex_error = 1;
			return ERROR;
		}
		if (c == '"')
			break;
		if (c == '\\') {
			next = lgetc(1);
			if (next == '\n')
				continue;
			if (next != '"' && next != '\\') {
				parse_error("invalid escape \\%c in quoted "
				    "string", next == EOF ? ' ' : next);
				lungetc(next);
				return findeol();
			}
			c = next;
		} else if (c == '\0') {
			parse_error("NUL character in quoted string");
			return findeol();
		}
		if (len >= buflen - 1) {
			parse_error("quoted string too long");
			return findeol();
		}
		buf[len++] = c;
	}
	buf[len] = '\0';
	yylval.v.string = pool_strdup(buf);
	return STRING;
}

static int
lex_word(char *buf, size_t buflen, int c)
{
	const char	*errstr;
	size_t		 len = 0;
	int		 token;

	do {
		if (len >= buflen - 1) {
			parse_error("word too long");
			return findeol();
		}
		buf[len++] = c;
	} while (word_char(c = lgetc(0)));
	lungetc(c);
	buf[len] = '\0';

	if (is_number(buf)) {
		yylval.v.number = strtonum(buf, LLONG_MIN, LLONG_MAX, &errstr);
		if (errstr != NULL) {
			parse_error("number %s is %s", buf, errstr);
			return findeol();
		}
		strlcpy(yylval.numtext, buf, sizeof(yylval.numtext));
		return NUMBER;
	}
	token = lookup(buf);
	/*
	 * In "name = value" both words are plain strings, keywords or not:
	 * "port = 7420" and "state = off" define macros.
	 */
	if (token != STRING && last_token == '\n') {
		while ((c = lgetc(0)) == ' ' || c == '\t')
			;
		lungetc(c);
		if (c == '=')
			token = STRING;
	} else if (token != STRING && last_token == '=' && stmt_ntokens == 2)
		token = STRING;
	if (token == STRING)
		yylval.v.string = pool_strdup(buf);
	return token;
}

static int
lex_token(void)
{
	static char	 buf[MAX_WORD_LEN];
	int		 c;

top:
	while ((c = lgetc(0)) == ' ' || c == '\t')
		;
	if (c == '#') {
		while ((c = lgetc(0)) != '\n' && c != EOF)
			;
	}
	cur_line = c == '\n' ? file->lineno - 1 : file->lineno;
	if (c == '$') {
		if (macro_expand() == -1)
			return findeol();
		goto top;
	}
	if (c == EOF) {
		/* A last line without its newline still ends a statement. */
		if (last_token != '\n')
			return '\n';
		if (file->parent != NULL) {
			popfile();
			goto top;
		}
		return 0;
	}
	if (c == '"')
		return lex_quoted(buf, sizeof(buf));
	if (word_char(c))
		return lex_word(buf, sizeof(buf), c);
	return c;
}

static int
yylex(void)
{
	int	 token;

	lex_error = 0;
	token = lex_token();
	if (last_token == '\n')
		stmt_ntokens = 0;
	if (++stmt_ntokens == 1) {
		stmt_word[0] = '\0';
		if (token == STRING)
			strlcpy(stmt_word, yylval.v.string, sizeof(stmt_word));
	}
	last_token = token;
	return token;
}

/* ---- files ---- */

/*
 * A relative include is relative to the directory of the file that
 * includes it, so a configuration can be moved as a whole.
 */
static struct file *
pushfile(const char *name, int is_include)
{
	struct file	*nfile, *p;
	struct stat	 st;
	const char	*slash, *why = NULL;
	char		 secure[PATH_MAX + 128];
	int		 n;

	if (is_include && ++nincludes > MAX_INCLUDES) {
		parse_error("include \"%s\": more than %d includes in one "
		    "configuration", name, MAX_INCLUDES);
		return NULL;
	}
	if (is_include && file->depth >= MAX_INCLUDE_DEPTH) {
		parse_error("include \"%s\": nested too deeply (at most %d "
		    "levels)", name, MAX_INCLUDE_DEPTH);
		return NULL;
	}
	if ((nfile = calloc(1, sizeof(*nfile))) == NULL)
		fatal("include");
	if (is_include && name[0] != '/' &&
	    (slash = strrchr(file->name, '/')) != NULL) {
		n = asprintf(&nfile->name, "%.*s/%s",
		    (int)(slash - file->name), file->name, name);
		if (n == -1)
			nfile->name = NULL;
	} else
		nfile->name = strdup(name);
	if (nfile->name == NULL)
		fatal("include");

	if ((nfile->stream = fopen(nfile->name, "r")) == NULL)
		why = strerror(errno);
	else if (fstat(fileno(nfile->stream), &st) == -1)
		why = strerror(errno);
	else if (S_ISDIR(st.st_mode))
		why = "is a directory";
	else if (config_file_secure(nfile->name, parse_as_root, secure,
	    sizeof(secure)) == -1)
		why = secure;
	if (why != NULL) {
		if (is_include)
			parse_error("include \"%s\": %s", nfile->name, why);
		else {
			log_warnx("%s: %s", nfile->name, why);
			snprintf(first_error, sizeof(first_error), "%s: ",
			    nfile->name);
			strlcat(first_error, why, sizeof(first_error));
			errors++;
		}
		if (nfile->stream != NULL)
			fclose(nfile->stream);
		free(nfile->name);
		free(nfile);
		return NULL;
	}
	nfile->lineno = 1;
	nfile->parent = is_include ? file : NULL;
	nfile->depth = is_include ? file->depth + 1 : 0;
	nfile->dev = st.st_dev;
	nfile->ino = st.st_ino;
	/* a file that includes itself, directly or not, is read once */
	for (p = file; is_include && p != NULL; p = p->parent)
		if (p->dev == nfile->dev && p->ino == nfile->ino) {
			parse_error("include \"%s\": it includes itself",
			    name);
			fclose(nfile->stream);
			free(nfile->name);
			free(nfile);
			return NULL;
		}
	return nfile;
}

static void
popfile(void)
{
	struct file	*parent = file->parent;

	fclose(file->stream);
	free(file->name);
	free(file);
	file = parent;
}

/* ---- macros ---- */

static int
macro_name_valid(const char *s)
{
	if (*s == '\0' || strlen(s) >= 64)
		return 0;
	for (; *s != '\0'; s++)
		if (!isalnum((unsigned char)*s) && *s != '_')
			return 0;
	return 1;
}

/* The value is read again as input: it must not run past its own end. */
static int
macro_value_valid(const char *s)
{
	return strpbrk(s, "\"#$\\\n") == NULL;
}

static int
symset(const char *name, const char *val, int persist)
{
	struct sym	*sym;

	TAILQ_FOREACH(sym, &symhead, entry) {
		if (strcmp(sym->name, name) == 0)
			break;
	}
	if (sym != NULL) {
		if (sym->persist && !persist)
			return 0;
		TAILQ_REMOVE(&symhead, sym, entry);
		free(sym->name);
		free(sym->val);
		free(sym);
	}
	if ((sym = calloc(1, sizeof(*sym))) == NULL)
		return -1;
	if ((sym->name = strdup(name)) == NULL ||
	    (sym->val = strdup(val)) == NULL) {
		free(sym->name);
		free(sym);
		return -1;
	}
	sym->persist = persist;
	TAILQ_INSERT_TAIL(&symhead, sym, entry);
	return 0;
}

static const char *
symget(const char *name)
{
	struct sym	*sym;

	TAILQ_FOREACH(sym, &symhead, entry) {
		if (strcmp(sym->name, name) == 0)
			return sym->val;
	}
	return NULL;
}

/* Macros of one file end with it; those given with -D last. */
static void
macros_clear_file(void)
{
	struct sym	*sym, *next;

	TAILQ_FOREACH_SAFE(sym, &symhead, entry, next) {
		if (sym->persist)
			continue;
		TAILQ_REMOVE(&symhead, sym, entry);
		free(sym->name);
		free(sym->val);
		free(sym);
	}
}

int
cmdline_symset(const char *s)
{
	const char	*eq;
	char		*name;
	int		 ret = -1;

	if ((eq = strchr(s, '=')) == NULL)
		return -1;
	if ((name = strndup(s, eq - s)) == NULL)
		return -1;
	if (macro_name_valid(name) && macro_value_valid(eq + 1))
		ret = symset(name, eq + 1, 1);
	free(name);
	return ret;
}

int
parse_config(const char *path, struct relayd_config *c, int as_root)
{
	config_defaults(c, as_root);
	conf = c;
	parse_as_root = as_root;
	errors = 0;
	first_error[0] = '\0';
	cur_line = 0;
	lex_error = 0;
	saw_listen = saw_allow_any = saw_allow_id = 0;
	nincludes = 0;
	seen = 0;
	npushback = 0;
	free(macro_buf);
	macro_buf = NULL;
	last_token = '\n';
	stmt_ntokens = 0;
	file = NULL;

	if (path != NULL) {
		if (strlcpy(c->path, path, sizeof(c->path)) >= sizeof(c->path)) {
			log_warnx("%s: path too long", path);
			return -1;
		}
		if ((file = pushfile(path, 0)) == NULL)
			return -1;
		yyparse();
		/* An error can leave the parser inside an include. */
		while (file != NULL)
			popfile();
		free(macro_buf);
		macro_buf = NULL;
		macros_clear_file();
		pool_free();
	}

	if (!saw_listen)
		listen_add("127.0.0.1", RELAY_DEFAULT_PORT);
	conf = NULL;
	return errors ? -1 : 0;
}

/* The first error of the last parse_config() and how many there were. */
const char *
parse_first_error(int *count)
{
	*count = errors;
	return first_error;
}
