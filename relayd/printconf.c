/* SPDX-License-Identifier: ISC */
/*
 * printconf.c: print a configuration in relayd.conf(5) syntax, every
 * setting in a fixed order, defaults included (relayd -nv). The output
 * parses back to the same configuration: the config tests check that.
 *
 * It only writes to stdout; it must never print anything that the
 * grammar would read differently (hence the quoting rules below).
 */
#include "config.h"

#include <sys/types.h>
#include <sys/queue.h>

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "relayd.h"

static void
print_quoted(const char *s)
{
	putchar('"');
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			putchar('\\');
		putchar(*s);
	}
	putchar('"');
}

/*
 * A user name goes out bare only when it cannot read back as a keyword
 * (all keywords are lower-case letters) or a number.
 */
static void
print_user(const char *user)
{
	const char	*p;
	int		 bare = 0;

	if (isalpha((unsigned char)user[0]) || user[0] == '_') {
		for (p = user; *p != '\0'; p++)
			if (!islower((unsigned char)*p))
				bare = 1;
	}
	if (bare)
		printf("%s", user);
	else
		print_quoted(user);
}

void
print_config(const struct relayd_config *conf)
{
	const struct relayd_limits	*lim = &conf->lim;
	const struct listen_addr	*la;
	const struct allowed_id		*a;
	const struct reservation	*r;

	TAILQ_FOREACH(la, &conf->listens, entry)
		printf("listen on %s port %u\n", la->host, la->port);
	printf("identity ");
	print_quoted(conf->identity);
	printf("\nsocket ");
	print_quoted(conf->socket);
	printf("\nuser ");
	print_user(conf->user);
	printf("\nchroot ");
	print_quoted(conf->chroot);
	printf("\n");
	printf("workers conn %u fwd %u\n", lim->workers_conn,
	    lim->workers_fwd);
	printf("lease ttl %u max %u\n", lim->lease_ttl_min,
	    lim->lease_ttl_max);
	printf("lease limit %u per id, %u total\n", lim->leases_per_id,
	    lim->leases_total);
	printf("session limit %u per lease, %u total\n",
	    lim->sessions_per_lease, lim->sessions_total);
	printf("connection limit %u per address, %u total\n",
	    lim->conns_per_addr, lim->conns_total);
	printf("timeout handshake %u pairing %u idle %u session %u "
	    "accept %u\n", lim->timeout_handshake, lim->timeout_pairing,
	    lim->timeout_idle, lim->timeout_session, lim->timeout_accept);
	printf("connect rate %u burst %u\n", lim->connect_rate,
	    lim->connect_burst);
	printf("pending limit %u per lease, %u per address\n",
	    lim->pending_per_lease, lim->pending_per_addr);
	printf("connection rate %u\n", lim->conn_rate);
	printf("direct-paths %s\n", lim->direct_paths ? "yes" : "no");
	if (lim->register_any)
		printf("register allow any\n");
	TAILQ_FOREACH(a, &conf->allowed, entry)
		printf("register allow id \"%s\"\n", a->id);
	TAILQ_FOREACH(r, &conf->reserved, entry)
		printf("reserve name \"%s\" for id \"%s\"\n", r->name, r->id);
	printf("listing %s\n", lim->listing ? "on" : "off");
	/* relayd -S is not part of the file: print what the file can say */
	printf("sandbox on\n");
}
