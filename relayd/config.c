/* SPDX-License-Identifier: ISC */
/*
 * config.c: the table of every number relayd.conf(5) sets (its range and
 * default, read by parse.y, the defaults and the tests), the checks that
 * span several statements (the grammar checks each statement against the
 * table), the merge of a reloaded file into the running configuration,
 * sending a configuration to a worker, and freeing one.
 *
 * Nothing here reads the configuration file or logs: the caller decides
 * what to do with an error message.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "relayd.h"
#include "util.h"

static int
config_error(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
config_error(char *err, size_t errlen, const char *fmt, ...)
{
	va_list	 ap;

	if (errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

static uint32_t
config_cpus(void)
{
	long	 n = sysconf(_SC_NPROCESSORS_ONLN);

	if (n < 1)
		return 1;
	if (n > RELAYD_MAX_WORKERS)
		return RELAYD_MAX_WORKERS;
	return n;
}

#define L(field)	offsetof(struct relayd_limits, field)
#define LIMIT_MAX	10000000	/* lease, session and connection limits */
#define TTL_MAX		604800		/* one week */
#define TIMEOUT_MAX	86400
#define SESSION_MAX	604800
#define RATE_MAX	100000
#define BURST_MAX	1000000

/*
 * Every number of relayd.conf(5): the statement's words, where it goes,
 * its default and its range. A default of 0 for the worker counts means
 * "one per CPU". relayd.conf(5) must say the same (tests/config checks).
 */
const struct limit_def limit_defs[] = {
	/* name				in errors
	   field			default	min	max */
	{ "lease ttl", "lease ttl",
	    L(lease_ttl_min), 60, 1, TTL_MAX },
	{ "lease ttl max", "lease max",
	    L(lease_ttl_max), 3600, 1, TTL_MAX },
	{ "lease limit per id", "lease limit",
	    L(leases_per_id), 16, 1, LIMIT_MAX },
	{ "lease limit total", "lease limit",
	    L(leases_total), 100000, 1, LIMIT_MAX },
	{ "session limit per lease", "session limit",
	    L(sessions_per_lease), 256, 1, LIMIT_MAX },
	{ "session limit total", "session limit",
	    L(sessions_total), 100000, 1, LIMIT_MAX },
	{ "pending limit per lease", "pending limit",
	    L(pending_per_lease), 256, 1, LIMIT_MAX },
	{ "pending limit per address", "pending limit",
	    L(pending_per_addr), 256, 1, LIMIT_MAX },
	{ "connection limit per address", "connection limit",
	    L(conns_per_addr), 64, 1, LIMIT_MAX },
	{ "connection limit total", "connection limit",
	    L(conns_total), 10000, 1, LIMIT_MAX },
	{ "connection rate", "connection rate",
	    L(conn_rate), 5000, 1, RATE_MAX },
	{ "timeout handshake", "timeout handshake",
	    L(timeout_handshake), HANDSHAKE_DEADLINE, 1, TIMEOUT_MAX },
	{ "timeout pairing", "timeout pairing",
	    L(timeout_pairing), TOKEN_LIFETIME, 1, TIMEOUT_MAX },
	{ "timeout idle", "timeout idle",
	    L(timeout_idle), DEFAULT_IDLE_TIMEOUT, 1, TIMEOUT_MAX },
	{ "timeout session", "timeout session",
	    L(timeout_session), 3600, 0, SESSION_MAX },
	{ "timeout accept", "timeout accept",
	    L(timeout_accept), 10, 1, TIMEOUT_MAX },
	{ "connect rate", "connect rate",
	    L(connect_rate), 10, 1, RATE_MAX },
	{ "connect burst", "connect burst",
	    L(connect_burst), 20, 1, BURST_MAX },
	{ "workers conn", "workers conn",
	    L(workers_conn), 0, 1, RELAYD_MAX_WORKERS },
	{ "workers fwd", "workers fwd",
	    L(workers_fwd), 0, 1, RELAYD_MAX_WORKERS },
};
const size_t nlimit_defs = sizeof(limit_defs) / sizeof(limit_defs[0]);

uint32_t *
limit_field(struct relayd_limits *lim, const struct limit_def *d)
{
	return (uint32_t *)((char *)lim + d->offset);
}

void
config_defaults(struct relayd_config *conf, int as_root)
{
	struct relayd_limits	*lim = &conf->lim;
	size_t			 i;

	memset(conf, 0, sizeof(*conf));
	TAILQ_INIT(&conf->listens);
	TAILQ_INIT(&conf->reserved);
	TAILQ_INIT(&conf->allowed);

	for (i = 0; i < nlimit_defs; i++)
		*limit_field(lim, &limit_defs[i]) = limit_defs[i].def != 0 ||
		    limit_defs[i].min == 0 ? limit_defs[i].def : config_cpus();
	lim->register_any = 1;
	lim->listing = 1;
	lim->direct_paths = 1;
	lim->sandbox_debug = 0;

	strlcpy(conf->user, RELAYD_USER, sizeof(conf->user));
	strlcpy(conf->chroot, RELAYD_CHROOT, sizeof(conf->chroot));
	if (as_root) {
		strlcpy(conf->identity, RELAYD_IDENTITY,
		    sizeof(conf->identity));
		strlcpy(conf->socket, RELAYD_SOCKET, sizeof(conf->socket));
	} else {
		/* Left empty when unknown: config_check() says so. */
		if (default_state_path(conf->identity, sizeof(conf->identity),
		    "identity") == -1)
			conf->identity[0] = '\0';
		if (default_socket_path(conf->socket, sizeof(conf->socket), 0,
		    RELAYD_SOCKET) == -1)
			conf->socket[0] = '\0';
	}
}

/* Leaves the lists empty and usable: calling it twice is harmless. */
void
config_clear(struct relayd_config *conf)
{
	struct listen_addr	*la;
	struct reservation	*r;
	struct allowed_id	*a;

	while ((la = TAILQ_FIRST(&conf->listens)) != NULL) {
		TAILQ_REMOVE(&conf->listens, la, entry);
		free(la);
	}
	while ((r = TAILQ_FIRST(&conf->reserved)) != NULL) {
		TAILQ_REMOVE(&conf->reserved, r, entry);
		free(r);
	}
	while ((a = TAILQ_FIRST(&conf->allowed)) != NULL) {
		TAILQ_REMOVE(&conf->allowed, a, entry);
		free(a);
	}
}

static int
check_path(char *err, size_t errlen, const char *what, const char *path,
    const char *hint)
{
	if (path[0] == '\0')
		return config_error(err, errlen, "no %s path: %s", what, hint);
	if (path[0] != '/')
		return config_error(err, errlen, "%s path must be absolute: "
		    "\"%s\"", what, path);
	return 0;
}

static int
id_allowed(const struct relayd_config *conf, const char *id)
{
	const struct allowed_id	*a;

	TAILQ_FOREACH(a, &conf->allowed, entry) {
		if (strcmp(a->id, id) == 0)
			return 1;
	}
	return 0;
}

int
config_check(struct relayd_config *conf, char *err, size_t errlen)
{
	const struct relayd_limits	*lim = &conf->lim;
	const struct listen_addr	*la;
	const struct reservation	*r;
	struct sockaddr_un		 sun;
	size_t				 nlisten = 0;

	TAILQ_FOREACH(la, &conf->listens, entry)
		nlisten++;
	if (nlisten == 0)
		return config_error(err, errlen, "no listen address");
	if (nlisten > CTL_MAX_LISTENERS)
		return config_error(err, errlen, "%zu listen addresses: at most "
		    "%d", nlisten, CTL_MAX_LISTENERS);

	if (check_path(err, errlen, "identity", conf->identity,
	    "set HOME or XDG_STATE_HOME, or identity in relayd.conf") == -1 ||
	    check_path(err, errlen, "socket", conf->socket,
	    "set socket in relayd.conf") == -1 ||
	    check_path(err, errlen, "chroot", conf->chroot,
	    "set chroot in relayd.conf") == -1)
		return -1;
	if (strlen(conf->socket) >= sizeof(sun.sun_path))
		return config_error(err, errlen, "socket path too long for a "
		    "unix socket (at most %zu bytes): \"%s\"",
		    sizeof(sun.sun_path) - 1, conf->socket);
	if (conf->user[0] == '\0')
		return config_error(err, errlen, "no user");

	/* relay-ctl's summary lists every worker, the lease process too. */
	if (lim->workers_conn + lim->workers_fwd + 1 > CTL_MAX_WORKERS)
		return config_error(err, errlen, "workers conn %u fwd %u: at "
		    "most %d workers in all", lim->workers_conn,
		    lim->workers_fwd, CTL_MAX_WORKERS - 1);

	if (!lim->register_any && TAILQ_EMPTY(&conf->allowed))
		return config_error(err, errlen, "register allow: no ID may "
		    "register");
	if (lim->register_any && !TAILQ_EMPTY(&conf->allowed))
		return config_error(err, errlen, "register allow any and an "
		    "ID list cannot both be used");
	if (!lim->register_any) {
		TAILQ_FOREACH(r, &conf->reserved, entry) {
			if (!id_allowed(conf, r->id))
				return config_error(err, errlen, "name \"%s\" "
				    "is reserved for %s, which may not "
				    "register (add it to register allow id)",
				    r->name, r->id);
		}
	}
	return 0;
}

/*
 * A reloaded file (next) replaces the running one (cur), except what needs
 * new processes or sockets: that stays as it runs until a restart. Returns
 * 1 when the file asked for such a change, else 0.
 */
int
config_merge(struct relayd_config *cur, struct relayd_config *next)
{
	struct listen_addr	*a, *b;
	int			 same;

	same = next->lim.workers_conn == cur->lim.workers_conn &&
	    next->lim.workers_fwd == cur->lim.workers_fwd &&
	    strcmp(next->user, cur->user) == 0 &&
	    strcmp(next->chroot, cur->chroot) == 0 &&
	    strcmp(next->socket, cur->socket) == 0 &&
	    strcmp(next->identity, cur->identity) == 0 &&
	    next->lim.sandbox_debug == cur->lim.sandbox_debug;
	for (a = TAILQ_FIRST(&next->listens), b = TAILQ_FIRST(&cur->listens);
	    same && (a != NULL || b != NULL);
	    a = TAILQ_NEXT(a, entry), b = TAILQ_NEXT(b, entry))
		if (a == NULL || b == NULL || a->sslen != b->sslen ||
		    memcmp(&a->ss, &b->ss, a->sslen) != 0)
			same = 0;
	/* what the parent derived at start and the processes that run */
	next->lim.workers_conn = cur->lim.workers_conn;
	next->lim.workers_fwd = cur->lim.workers_fwd;
	next->lim.sandbox_debug = cur->lim.sandbox_debug;
	next->lim.nofile = cur->lim.nofile;
	next->lim.conns_per_worker = cur->lim.conns_per_worker;
	next->lim.sessions_per_fwd = cur->lim.sessions_per_fwd;
	strlcpy(next->user, cur->user, sizeof(next->user));
	strlcpy(next->chroot, cur->chroot, sizeof(next->chroot));
	strlcpy(next->socket, cur->socket, sizeof(next->socket));
	strlcpy(next->identity, cur->identity, sizeof(next->identity));
	while ((a = TAILQ_FIRST(&next->listens)) != NULL) {
		TAILQ_REMOVE(&next->listens, a, entry);
		free(a);
	}
	TAILQ_CONCAT(&next->listens, &cur->listens, entry);
	return !same;
}

/* A worker's configuration: the numbers, its lists, then the end mark. */
void
config_send(struct child *c, const struct relayd_config *conf,
    uint32_t generation)
{
	struct reservation	*r;
	struct allowed_id	*a;
	struct reservation_msg	 rm;
	struct allow_msg	 am;

	proc_child_send(c, IMSG_CFG_LIMITS, 0, -1, &conf->lim,
	    sizeof(conf->lim));
	if (c->role == ROLE_LEASE) {
		TAILQ_FOREACH(r, &conf->reserved, entry) {
			memset(&rm, 0, sizeof(rm));
			strlcpy(rm.name, r->name, sizeof(rm.name));
			strlcpy(rm.id, r->id, sizeof(rm.id));
			proc_child_send(c, IMSG_CFG_RESERVE, 0, -1, &rm,
			    sizeof(rm));
		}
		TAILQ_FOREACH(a, &conf->allowed, entry) {
			memset(&am, 0, sizeof(am));
			strlcpy(am.id, a->id, sizeof(am.id));
			proc_child_send(c, IMSG_CFG_ALLOW, 0, -1, &am,
			    sizeof(am));
		}
	}
	proc_child_send(c, IMSG_CFG_END, 0, -1, &generation,
	    sizeof(generation));
}

/*
 * When relayd runs as root, a file it reads its configuration from must
 * belong to root and be writable by nobody else: whoever may write it
 * decides who may register names.
 */
int
config_file_secure(const char *path, int as_root, char *err, size_t errlen)
{
	struct stat	 st;

	if (!as_root)
		return 0;
	if (stat(path, &st) == -1)
		return config_error(err, errlen, "%s: %s", path,
		    strerror(errno));
	if (st.st_uid != 0)
		return config_error(err, errlen, "%s is owned by uid %u, not "
		    "root: chown root %s", path, (unsigned)st.st_uid, path);
	if (st.st_mode & (S_IWGRP | S_IWOTH))
		return config_error(err, errlen, "%s is writable by %s: chmod "
		    "go-w %s", path, (st.st_mode & S_IWOTH) ? "others" :
		    "its group", path);
	return 0;
}
