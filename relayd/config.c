/* SPDX-License-Identifier: ISC */
/*
 * config.c: the built-in defaults of relayd.conf(5), the checks that span
 * several settings (the grammar checks each statement on its own), and
 * freeing a configuration.
 *
 * Nothing here reads the configuration file, touches the paths it names
 * or logs: the caller decides what to do with an error message.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/un.h>

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

void
config_defaults(struct relayd_config *conf, int as_root)
{
	struct relayd_limits	*lim = &conf->lim;

	memset(conf, 0, sizeof(*conf));
	TAILQ_INIT(&conf->listens);
	TAILQ_INIT(&conf->reserved);
	TAILQ_INIT(&conf->allowed);

	lim->lease_ttl_min = DEF_LEASE_TTL_MIN;
	lim->lease_ttl_max = DEF_LEASE_TTL_MAX;
	lim->leases_per_id = DEF_LEASES_PER_ID;
	lim->leases_total = DEF_LEASES_TOTAL;
	lim->sessions_per_lease = DEF_SESSIONS_PER_LEASE;
	lim->sessions_total = DEF_SESSIONS_TOTAL;
	lim->conns_per_addr = DEF_CONNS_PER_ADDR;
	lim->conns_total = DEF_CONNS_TOTAL;
	lim->timeout_handshake = DEF_TIMEOUT_HANDSHAKE;
	lim->timeout_pairing = DEF_TIMEOUT_PAIRING;
	lim->timeout_idle = DEF_TIMEOUT_IDLE;
	lim->timeout_session = DEF_TIMEOUT_SESSION;
	lim->timeout_accept = DEF_TIMEOUT_ACCEPT;
	lim->connect_rate = DEF_CONNECT_RATE;
	lim->connect_burst = DEF_CONNECT_BURST;
	lim->register_any = 1;
	lim->listing = 1;
	lim->direct_paths = 1;
	lim->workers_conn = config_cpus();
	lim->workers_fwd = config_cpus();
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
check_limit_pair(char *err, size_t errlen, const char *what, uint32_t per,
    const char *per_what, uint32_t total)
{
	if (per == 0 || total == 0)
		return config_error(err, errlen, "%s must be at least 1", what);
	if (per > total)
		return config_error(err, errlen, "%s %u per %s is greater than "
		    "%u total", what, per, per_what, total);
	return 0;
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

	if (lim->workers_conn < 1 || lim->workers_conn > RELAYD_MAX_WORKERS ||
	    lim->workers_fwd < 1 || lim->workers_fwd > RELAYD_MAX_WORKERS)
		return config_error(err, errlen, "workers conn %u fwd %u: each "
		    "must be 1-%d", lim->workers_conn, lim->workers_fwd,
		    RELAYD_MAX_WORKERS);
	/* relay-ctl's summary lists every worker, the lease process too. */
	if (lim->workers_conn + lim->workers_fwd + 1 > CTL_MAX_WORKERS)
		return config_error(err, errlen, "workers conn %u fwd %u: at "
		    "most %d workers in all", lim->workers_conn,
		    lim->workers_fwd, CTL_MAX_WORKERS - 1);

	if (lim->lease_ttl_min < 1 || lim->lease_ttl_min > lim->lease_ttl_max)
		return config_error(err, errlen, "lease ttl %u max %u: need "
		    "1 <= ttl <= max", lim->lease_ttl_min, lim->lease_ttl_max);
	if (check_limit_pair(err, errlen, "lease limit", lim->leases_per_id,
	    "id", lim->leases_total) == -1 ||
	    check_limit_pair(err, errlen, "session limit",
	    lim->sessions_per_lease, "lease", lim->sessions_total) == -1 ||
	    check_limit_pair(err, errlen, "connection limit",
	    lim->conns_per_addr, "address", lim->conns_total) == -1)
		return -1;

	if (lim->timeout_handshake < 1 || lim->timeout_pairing < 1 ||
	    lim->timeout_idle < 1 || lim->timeout_accept < 1)
		return config_error(err, errlen, "timeouts handshake, pairing, "
		    "idle and accept must be at least 1 second");
	if (lim->connect_rate < 1 || lim->connect_burst < lim->connect_rate)
		return config_error(err, errlen, "connect rate %u burst %u: "
		    "need 1 <= rate <= burst", lim->connect_rate,
		    lim->connect_burst);

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
