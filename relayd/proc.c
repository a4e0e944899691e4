/* SPDX-License-Identifier: ISC */
/*
 * proc.c: what every relayd worker shares: start-up after the re-exec
 * (read the privilege message from the parent, drop privileges, apply
 * the sandbox), the imsg channels to the parent and to the other workers,
 * configuration messages, statistics requests and a few address helpers.
 *
 * A worker never opens a file or creates a socket: it receives every
 * descriptor from the parent. An unknown or malformed internal message
 * is fatal (bad_imsg()).
 */
#include "config.h"

#include <sys/socket.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"
#include "relayd.h"

struct relayd_worker	*worker;
uint8_t			 relay_pk[ED25519_PK_LEN];
const char		*role_names[] = { "parent", "lease", "conn", "fwd" };

static peer_dispatch_fn	 role_dispatch;

/* A string field of an internal message: NUL inside its array? */
int
str_terminated(const char *s, size_t len)
{
	return memchr(s, '\0', len) != NULL;
}

void
bad_imsg(struct peer *p, struct imsg *imsg, const char *why)
{
	fatalx("%s: bad message type %u (%zu bytes) from %s %d: %s",
	    role_names[worker->role], imsg->hdr.type, imsg->len,
	    role_names[p->role], p->index, why);
}

void
peer_set_dispatch(peer_dispatch_fn fn)
{
	role_dispatch = fn;
}

struct peer *
peer_for(enum proc_role role, int index)
{
	switch (role) {
	case ROLE_PARENT:
		return &worker->parent;
	case ROLE_LEASE:
		return worker->lease;
	case ROLE_CONN:
		if (index < 0 || index >= RELAYD_MAX_WORKERS)
			return NULL;
		return worker->conn[index];
	case ROLE_FWD:
		if (index < 0 || index >= RELAYD_MAX_WORKERS)
			return NULL;
		return worker->fwd[index];
	}
	return NULL;
}

static void	peer_event(int, short, void *);

/* Re-arm the channel's event for what it needs: always read, write if queued. */
void
peer_update(struct peer *p)
{
	short	 want = EV_READ | EV_PERSIST;

	if (p->ibuf.queued > 0)
		want |= EV_WRITE;
	if (p->ev != NULL && want == p->events)
		return;
	if (p->ev != NULL)
		event_free(p->ev);
	p->events = want;
	p->ev = event_new(worker->base, p->ibuf.fd, want, peer_event, p);
	if (p->ev == NULL || event_add(p->ev, NULL) == -1)
		fatalx("cannot add a channel event");
}

void
peer_compose(struct peer *p, uint32_t type, int fd, const void *data,
    size_t len)
{
	if (p != NULL && !p->connected && worker->role == ROLE_PARENT)
		return;		/* a dead worker: the parent is stopping */
	if (p == NULL || !p->connected)
		fatalx("%s: message %u to a missing peer",
		    role_names[worker->role], type);
	if (imsg_compose(&p->ibuf, type, 0, fd, data, len) == -1)
		fatal("imsg_compose type %u", type);
	peer_update(p);
}

void
peer_init(struct peer *p, enum proc_role role, int index, int fd,
    int allow_fd, peer_dispatch_fn fn)
{
	p->role = role;
	p->index = index;
	p->ev = NULL;
	p->events = 0;
	p->connected = 1;
	imsgbuf_init(&p->ibuf, fd, allow_fd);
	peer_update(p);
}

static void
worker_dispatch_parent(struct peer *p, struct imsg *imsg)
{
	struct peer_msg		 pm;
	struct peer		*np, **slot;
	int32_t			 v;
	int			 fd;

	switch (imsg->hdr.type) {
	case IMSG_PEER_FD:
		if (imsg_get_data(imsg, &pm, sizeof(pm)) == -1)
			bad_imsg(p, imsg, "size");
		if ((fd = imsg_take_fd(imsg)) == -1)
			bad_imsg(p, imsg, "no descriptor");
		if (pm.index < 0 || pm.index >= RELAYD_MAX_WORKERS)
			bad_imsg(p, imsg, "index");
		switch (pm.role) {
		case ROLE_LEASE:
			slot = &worker->lease;
			break;
		case ROLE_CONN:
			slot = &worker->conn[pm.index];
			break;
		case ROLE_FWD:
			slot = &worker->fwd[pm.index];
			break;
		default:
			bad_imsg(p, imsg, "role");
		}
		if (*slot != NULL)
			bad_imsg(p, imsg, "duplicate peer");
		if ((np = calloc(1, sizeof(*np))) == NULL)
			fatal("calloc");
		/* only conn -> fwd carries descriptors (data connections) */
		peer_init(np, pm.role, pm.index, fd,
		    (worker->role == ROLE_CONN && pm.role == ROLE_FWD) ||
		    (worker->role == ROLE_FWD && pm.role == ROLE_CONN),
		    role_dispatch);
		*slot = np;
		break;
	case IMSG_CFG_LIMITS:
		if (imsg_get_data(imsg, &worker->lim, sizeof(worker->lim)) == -1)
			bad_imsg(p, imsg, "size");
		if (worker->lim.workers_conn < 1 ||
		    worker->lim.workers_conn > RELAYD_MAX_WORKERS ||
		    worker->lim.workers_fwd < 1 ||
		    worker->lim.workers_fwd > RELAYD_MAX_WORKERS)
			bad_imsg(p, imsg, "worker counts");
		role_dispatch(p, imsg);		/* a reload starts here */
		break;
	case IMSG_LOG_VERBOSE:
		if (imsg_get_data(imsg, &v, sizeof(v)) == -1)
			bad_imsg(p, imsg, "size");
		log_setverbose(v);
		break;
	case IMSG_CFG_END:
		if (imsg->len != 0)
			bad_imsg(p, imsg, "size");
		if (!worker->configured) {
			worker->configured = 1;
			switch (worker->role) {
			case ROLE_LEASE:
				lease_configured();
				break;
			case ROLE_CONN:
				conn_configured();
				break;
			case ROLE_FWD:
				fwd_configured();
				break;
			default:
				break;
			}
			peer_compose(&worker->parent, IMSG_READY, -1, NULL, 0);
		} else {
			role_dispatch(p, imsg);
			log_info("configuration reloaded");
		}
		break;
	default:
		role_dispatch(p, imsg);
		break;
	}
}

void
worker_send_stats(struct peer *p, uint32_t ctlid)
{
	struct stats_msg	 sm;

	memset(&sm, 0, sizeof(sm));
	sm.ctlid = ctlid;
	sm.stats = worker->stats;
	peer_compose(p, IMSG_STATS, -1, &sm, sizeof(sm));
}

/* Handle every complete message already read from this channel. */
static void
peer_drain(struct peer *p)
{
	struct imsg	 imsg;
	int		 r;

	for (;;) {
		if ((r = imsg_get(&p->ibuf, &imsg)) == -1)
			fatal("%s: malformed message from %s %d",
			    role_names[worker->role], role_names[p->role],
			    p->index);
		if (r == 0)
			break;
		if (imsg.hdr.type == IMSG_STATS_REQ &&
		    (worker->role == ROLE_CONN || worker->role == ROLE_FWD)) {
			struct stats_req	 sr;

			if (imsg_get_data(&imsg, &sr, sizeof(sr)) == -1)
				bad_imsg(p, &imsg, "size");
			worker_send_stats(p, sr.ctlid);
		} else if (p->role == ROLE_PARENT && worker->role != ROLE_PARENT)
			worker_dispatch_parent(p, &imsg);
		else
			role_dispatch(p, &imsg);
		imsg_free(&imsg);
	}
}

static void
peer_event(int fd, short ev, void *arg)
{
	struct peer	*p = arg;
	ssize_t		 n;

	if (ev & EV_WRITE) {
		if (imsgbuf_flush(&p->ibuf) == -1) {
			if (worker->role == ROLE_PARENT) {
				event_del(p->ev);
				p->connected = 0;
				return;
			}
			fatal("%s: write to %s %d", role_names[worker->role],
			    role_names[p->role], p->index);
		}
	}
	if (ev & EV_READ) {
		n = imsgbuf_read(&p->ibuf);
		if (n == -1 && errno != EAGAIN && worker->role != ROLE_PARENT)
			fatal("%s: read from %s %d", role_names[worker->role],
			    role_names[p->role], p->index);
		if ((n == 0 || (n == -1 && errno != EAGAIN)) &&
		    worker->role == ROLE_PARENT) {
			/* a worker died: SIGCHLD tells which and why */
			event_del(p->ev);
			p->connected = 0;
			return;
		}
		if (n == 0) {
			/* the parent went away, or a peer died: the parent
			 * notices that too and stops everything */
			if (p->role == ROLE_PARENT)
				_exit(0);
			log_debug("channel to %s %d closed: stopping",
			    role_names[p->role], p->index);
			_exit(EXIT_PEER_GONE);
		}
		peer_drain(p);
	}
	peer_update(p);
}

static void
worker_signal(int sig, short ev, void *arg)
{
	/*
	 * SIGTERM from the parent: leave without a word. _exit, not exit: a
	 * worker has nothing to flush, and library cleanup at exit would
	 * need system calls the sandbox does not allow.
	 */
	_exit(0);
}

/*
 * Block until the first message, which must be IMSG_PRIV. It is read
 * through the parent channel's own buffer: whatever the parent queued
 * after it (descriptors included) stays there for the event loop.
 */
static void
worker_read_priv(struct priv_msg *pm)
{
	struct imsgbuf	*ib = &worker->parent.ibuf;
	struct imsg	 imsg;
	int		 r;

	imsgbuf_init(ib, PARENT_FD, 1);
	for (;;) {
		if ((r = imsg_get(ib, &imsg)) == -1)
			fatal("start-up message");
		if (r == 1)
			break;
		if (imsgbuf_read(ib) <= 0)
			fatalx("no start-up message from the parent");
	}
	if (imsg.hdr.type != IMSG_PRIV ||
	    imsg_get_data(&imsg, pm, sizeof(*pm)) == -1 ||
	    !str_terminated(pm->user, sizeof(pm->user)) ||
	    !str_terminated(pm->chroot, sizeof(pm->chroot)))
		fatalx("bad start-up message from the parent");
	imsg_free(&imsg);
}

void
worker_main(enum proc_role role, int index, int debug)
{
	struct priv_msg	 pm;
	struct event	*ev_term;
	char		 title[32];

	if ((worker = calloc(1, sizeof(*worker))) == NULL)
		fatal("calloc");
	worker->role = role;
	worker->index = index;
	if (role == ROLE_LEASE)
		snprintf(title, sizeof(title), "%s", role_names[role]);
	else
		snprintf(title, sizeof(title), "%s %d", role_names[role], index);
	log_procname(title);
	log_exit_immediately(1);
	setproctitle("%s", title);

	/* Ctrl-C in a terminal reaches the whole group: the parent decides. */
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);

	worker_read_priv(&pm);
	log_setverbose(pm.verbose);
	memcpy(relay_pk, pm.relay_pk, sizeof(relay_pk));
	if (fcntl(PARENT_FD, F_SETFL, O_NONBLOCK) == -1)
		fatal("fcntl");

	/* Everything that opens a descriptor happens before the sandbox. */
	if ((worker->base = event_base_new()) == NULL)
		fatalx("event_base_new");
	switch (role) {
	case ROLE_LEASE:
		lease_init();
		peer_set_dispatch(lease_dispatch);
		break;
	case ROLE_CONN:
		conn_init();
		peer_set_dispatch(conn_dispatch);
		break;
	case ROLE_FWD:
		fwd_init();
		peer_set_dispatch(fwd_dispatch);
		break;
	default:
		fatalx("bad role");
	}
	ev_term = evsignal_new(worker->base, SIGTERM, worker_signal, NULL);
	if (ev_term == NULL || evsignal_add(ev_term, NULL) == -1)
		fatalx("signal event");

	privdrop(&pm, title);
	sandbox_apply(role, pm.sandbox_debug);

	/* the channel keeps what the start-up read buffered */
	worker->parent.role = ROLE_PARENT;
	worker->parent.connected = 1;
	peer_update(&worker->parent);
	peer_drain(&worker->parent);
	peer_update(&worker->parent);
	event_base_dispatch(worker->base);
	fatalx("event loop ended");
}

void
stats_add(struct ctl_stats *dst, const struct ctl_stats *src)
{
	const uint64_t	*s = (const uint64_t *)src;
	uint64_t	*d = (uint64_t *)dst;
	size_t		 i;

	/* struct ctl_stats is made of uint64_t counters only */
	for (i = 0; i < sizeof(*dst) / sizeof(uint64_t); i++)
		d[i] += s[i];
}

void
wire_addr_from_sockaddr(struct wire_addr *wa, const struct sockaddr *sa)
{
	memset(wa, 0, sizeof(*wa));
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;

		memcpy(wa->ip, &sin->sin_addr, 4);
		wa->len = 4;
		wa->port = ntohs(sin->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;

		memcpy(wa->ip, &s6->sin6_addr, 16);
		wa->len = 16;
		wa->port = ntohs(s6->sin6_port);
	}
}

void
sockaddr_str(const struct sockaddr *sa, char *out, size_t outlen)
{
	char	 host[INET6_ADDRSTRLEN];

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;

		inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
		snprintf(out, outlen, "%s:%u", host, ntohs(sin->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;

		inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
		snprintf(out, outlen, "[%s]:%u", host, ntohs(s6->sin6_port));
	} else
		snprintf(out, outlen, "unknown");
}
