/* SPDX-License-Identifier: ISC */
/*
 * control.c: relayd's control socket, served by the lease worker. The
 * parent created the socket (mode 0660, the relay's group) and passed it
 * here. Who may change things is decided from SO_PEERCRED, never from
 * anything the client sends: read-only commands for anyone who could
 * connect, changing commands for root or the uid relayd runs as.
 *
 * Requests and replies are imsgs with the fixed structs of ctl.h; every
 * reply stream ends with CTL_END or CTL_RESULT.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"
#include "relayd.h"
#include "util.h"

#define CTL_MAX_CONNS		64
#define CTL_MAX_QUEUED		4096	/* messages: a monitor that never reads */

struct ctl_conn {
	TAILQ_ENTRY(ctl_conn)	 entry;
	uint32_t		 id;
	struct imsgbuf		 ibuf;
	struct event		*ev;
	short			 events;
	uid_t			 uid;
	int			 privileged;
	int			 monitor;
	int			 closing;
	uint64_t		 stats_wait;	/* workers whose answer is due */
	struct ctl_stats	 stats;
	uint64_t		 bytes_wait;	/* show sessions: fwd answers due */
	struct f_bytes		*bytes;
	size_t			 nbytes;
	size_t			 capbytes;
};

static struct {
	int			 fd;
	struct event		*ev;
	TAILQ_HEAD(, ctl_conn)	 conns;
	int			 nconns;
	uint32_t		 next_id;
} ctl;

static void	control_conn_event(int, short, void *);

/*
 * In the parent: create the control socket, mode 0660 and the group of
 * the user the workers run as; a socket that answers belongs to a running
 * relayd and is left alone.
 */
int
control_open(const char *path, int as_root, gid_t gid)
{
	struct sockaddr_un	 sun;
	mode_t			 old;
	int			 fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlcpy(sun.sun_path, path, sizeof(sun.sun_path)) >=
	    sizeof(sun.sun_path))
		fatalx("control socket path too long: %s", path);
	if (mkdir_parent(path, as_root ? 0755 : 0700) == -1)
		fatal("cannot create the directory of %s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		fatal("socket");
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0)
		fatalx("%s: another relayd is running on this control socket",
		    path);
	close(fd);
	if (unlink(path) == -1 && errno != ENOENT)
		fatal("unlink %s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		fatal("socket");
	old = umask(0117);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1)
		fatal("bind %s", path);
	umask(old);
	if (chmod(path, 0660) == -1)
		fatal("chmod %s", path);
	if (as_root && chown(path, 0, gid) == -1)
		fatal("chown %s", path);
	if (listen(fd, 16) == -1)
		fatal("listen %s", path);
	return fd;
}

void
control_init(int fd)
{
	ctl.fd = fd;
	TAILQ_INIT(&ctl.conns);
	ctl.next_id = 1;
}

static void
control_close(struct ctl_conn *c)
{
	TAILQ_REMOVE(&ctl.conns, c, entry);
	ctl.nconns--;
	event_free(c->ev);
	imsgbuf_clear(&c->ibuf);
	close(c->ibuf.fd);
	free(c->bytes);
	free(c);
	if (ctl.nconns == CTL_MAX_CONNS - 1)
		event_add(ctl.ev, NULL);
}

static void
control_update(struct ctl_conn *c)
{
	short	 want = EV_READ | EV_PERSIST;

	if (c->ibuf.queued > 0)
		want |= EV_WRITE;
	if (want == c->events)
		return;
	event_free(c->ev);
	c->events = want;
	c->ev = event_new(worker->base, c->ibuf.fd, want, control_conn_event, c);
	if (c->ev == NULL || event_add(c->ev, NULL) == -1)
		fatalx("control event");
}

static void
control_send(struct ctl_conn *c, int type, const void *p, size_t len)
{
	if (c->ibuf.queued > CTL_MAX_QUEUED) {
		log_warnx("control client (uid %u) does not read: dropped",
		    (unsigned)c->uid);
		c->closing = 1;
		return;
	}
	if (imsg_compose(&c->ibuf, type, 0, -1, p, len) == -1)
		fatal("imsg_compose");
	control_update(c);
}

static void
control_result(struct ctl_conn *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void
control_result(struct ctl_conn *c, int code, const char *fmt, ...)
{
	struct ctl_result	 r;
	va_list			 ap;

	memset(&r, 0, sizeof(r));
	r.code = code;
	va_start(ap, fmt);
	vsnprintf(r.message, sizeof(r.message), fmt, ap);
	va_end(ap);
	control_send(c, CTL_RESULT, &r, sizeof(r));
}

static struct ctl_conn *
control_find(uint32_t id)
{
	struct ctl_conn	*c;

	TAILQ_FOREACH(c, &ctl.conns, entry)
		if (c->id == id)
			return c;
	return NULL;
}

static void
control_accept(int fd, short ev, void *arg)
{
	struct ucred	 cred;
	socklen_t	 len = sizeof(cred);
	struct ctl_conn	*c;
	int		 s;

	if ((s = accept4(ctl.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) ==
	    -1) {
		if (errno != EAGAIN && errno != EINTR)
			log_warn("control accept");
		return;
	}
	if (getsockopt(s, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1) {
		log_warn("SO_PEERCRED");
		close(s);
		return;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		close(s);
		return;
	}
	c->id = ctl.next_id++;
	c->uid = cred.uid;
	c->privileged = cred.uid == 0 || cred.uid == (uid_t)ls.info.relay_uid;
	imsgbuf_init(&c->ibuf, s, 0);
	c->ev = event_new(worker->base, s, EV_READ | EV_PERSIST,
	    control_conn_event, c);
	c->events = EV_READ | EV_PERSIST;
	if (c->ev == NULL || event_add(c->ev, NULL) == -1)
		fatalx("control event");
	TAILQ_INSERT_TAIL(&ctl.conns, c, entry);
	if (++ctl.nconns == CTL_MAX_CONNS)
		event_del(ctl.ev);
}

void
control_start(void)
{
	if ((ctl.ev = event_new(worker->base, ctl.fd, EV_READ | EV_PERSIST,
	    control_accept, NULL)) == NULL || event_add(ctl.ev, NULL) == -1)
		fatalx("control socket event");
}

static void
control_summary(struct ctl_conn *c)
{
	struct ctl_summary	 s;
	uint32_t		 i;

	memset(&s, 0, sizeof(s));
	strlcpy(s.version, PACKAGE_VERSION, sizeof(s.version));
	s.protocol = RELAY_PROTOCOL_VERSION;
	s.started = ls.info.started;
	s.now = time(NULL);
	strlcpy(s.relay_id, ls.info.relay_id, sizeof(s.relay_id));
	s.parent_pid = ls.info.parent_pid;
	s.nlisteners = ls.info.nlisteners;
	for (i = 0; i < s.nlisteners; i++)
		strlcpy(s.listeners[i], ls.info.listeners[i],
		    sizeof(s.listeners[i]));
	s.nworkers = ls.nworkers;
	memcpy(s.workers, ls.workers, sizeof(s.workers));
	s.leases = ls.nleases;
	s.sessions = ls.nsessions;
	s.control_conns = ls.nholders;
	s.verbose = log_getverbose();
	s.respawns = ls.info.respawns;
	s.nofile = worker->lim.nofile;
	s.conns_max = (uint64_t)worker->lim.conns_per_worker *
	    worker->lim.workers_conn;
	if (s.conns_max == 0 || s.conns_max > worker->lim.conns_total)
		s.conns_max = worker->lim.conns_total;
	s.sessions_max = (uint64_t)worker->lim.sessions_per_fwd *
	    worker->lim.workers_fwd;
	if (s.sessions_max == 0 || s.sessions_max > worker->lim.sessions_total)
		s.sessions_max = worker->lim.sessions_total;
	control_send(c, CTL_SUMMARY, &s, sizeof(s));
	control_send(c, CTL_END, NULL, 0);
}

static void
control_leases(struct ctl_conn *c, const char *filter)
{
	struct ctl_lease	 cl;
	struct lease		*l;
	char			 id[ID_BUFSZ];
	uint32_t		 i;
	int			 by_id;

	by_id = id_normalize(filter, id) == 0;
	TAILQ_FOREACH(l, &ls.all, all_entry) {
		if (filter[0] != '\0' && (by_id ? strcmp(l->id, id) != 0 :
		    strcmp(l->name, filter) != 0))
			continue;
		memset(&cl, 0, sizeof(cl));
		memcpy(cl.lease_id, l->lease_id, LEASE_ID_LEN);
		strlcpy(cl.name, l->name, sizeof(cl.name));
		strlcpy(cl.id, l->id, sizeof(cl.id));
		for (i = 0; i < l->nalpn; i++)
			strlcpy(cl.alpn[i], l->alpn[i], sizeof(cl.alpn[i]));
		cl.nalpn = l->nalpn;
		strlcpy(cl.description, l->description,
		    sizeof(cl.description));
		cl.hidden = l->hidden;
		cl.created = l->created;
		cl.expires = l->expires;
		cl.ttl = l->ttl;
		cl.sessions = l->nsessions;
		strlcpy(cl.addr, l->holder->addr, sizeof(cl.addr));
		cl.conn = l->holder->conn;
		control_send(c, CTL_LEASE, &cl, sizeof(cl));
	}
	control_send(c, CTL_END, NULL, 0);
}

static int
bytes_cmp(const void *a, const void *b)
{
	return memcmp(((const struct f_bytes *)a)->session_id,
	    ((const struct f_bytes *)b)->session_id, SESSION_ID_LEN);
}

/* Every fwd worker answered: list the sessions with their live counts. */
static void
control_sessions_send(struct ctl_conn *c)
{
	static const char	*states[] = { "pending", "accepted", "paired" };
	struct ctl_session	 cs;
	struct session		*s;
	struct f_bytes		 key, *fb;

	if (c->nbytes > 0)
		qsort(c->bytes, c->nbytes, sizeof(*c->bytes), bytes_cmp);
	RB_FOREACH(s, session_tree, &ls.sessions) {
		memset(&cs, 0, sizeof(cs));
		memcpy(cs.session_id, s->session_id, SESSION_ID_LEN);
		strlcpy(cs.lease_name, s->lease_name, sizeof(cs.lease_name));
		strlcpy(cs.from_id, s->from_id, sizeof(cs.from_id));
		strlcpy(cs.to_id, s->to_id, sizeof(cs.to_id));
		strlcpy(cs.alpn, s->alpn, sizeof(cs.alpn));
		strlcpy(cs.state, states[s->state], sizeof(cs.state));
		cs.created = s->created;
		cs.fwd = s->fwd;
		cs.direct = s->direct;
		memcpy(key.session_id, s->session_id, SESSION_ID_LEN);
		if (c->nbytes > 0 && (fb = bsearch(&key, c->bytes, c->nbytes,
		    sizeof(*c->bytes), bytes_cmp)) != NULL) {
			cs.bytes_i2r = fb->bytes_i2r;
			cs.bytes_r2i = fb->bytes_r2i;
		}
		control_send(c, CTL_SESSION, &cs, sizeof(cs));
	}
	free(c->bytes);
	c->bytes = NULL;
	c->nbytes = c->capbytes = 0;
	control_send(c, CTL_END, NULL, 0);
}

/* A bit per worker an answer is due from: conn i is i, fwd i is 32 + i. */
static uint64_t
control_bit(enum proc_role role, int index)
{
	return 1ULL << (index + (role == ROLE_FWD ? RELAYD_MAX_WORKERS : 0));
}

/* The byte counts live in the fwd workers: ask each, then answer. */
static void
control_sessions(struct ctl_conn *c)
{
	int	 i;

	if (c->bytes_wait != 0) {
		control_result(c, EBUSY, "a sessions request is already "
		    "running");
		return;
	}
	for (i = 0; i < (int)worker->lim.workers_fwd; i++)
		if (peer_up(worker->fwd[i])) {
			peer_compose(worker->fwd[i], IMSG_F_BYTES_REQ, c->id,
			    -1, NULL, 0);
			c->bytes_wait |= control_bit(ROLE_FWD, i);
		}
	if (c->bytes_wait == 0)
		control_sessions_send(c);
}

void
control_bytes_reply(struct peer *p, struct imsg *imsg)
{
	struct f_bytes		 fb, *nb;
	struct ctl_conn		*c;

	if ((c = control_find(imsg->hdr.peerid)) == NULL ||
	    !(c->bytes_wait & control_bit(p->role, p->index)))
		return;
	if (imsg->hdr.type == IMSG_F_BYTES_END) {
		c->bytes_wait &= ~control_bit(p->role, p->index);
		if (c->bytes_wait == 0)
			control_sessions_send(c);
		return;
	}
	peer_get_data(p, imsg, &fb, sizeof(fb));
	if (c->nbytes >= ls.nsessions + 1024)
		return;		/* more than there are sessions: ignore */
	if (c->nbytes == c->capbytes) {
		nb = reallocarray(c->bytes, c->capbytes ? c->capbytes * 2 : 64,
		    sizeof(*c->bytes));
		if (nb == NULL)
			return;
		c->bytes = nb;
		c->capbytes = c->capbytes ? c->capbytes * 2 : 64;
	}
	c->bytes[c->nbytes++] = fb;
}

static void
control_stats(struct ctl_conn *c)
{
	int	 i;

	if (c->stats_wait != 0) {
		control_result(c, EBUSY, "a stats request is already running");
		return;
	}
	c->stats = worker->stats;
	for (i = 0; i < (int)worker->lim.workers_conn; i++)
		if (peer_up(worker->conn[i])) {
			peer_compose(worker->conn[i], IMSG_STATS_REQ, c->id,
			    -1, NULL, 0);
			c->stats_wait |= control_bit(ROLE_CONN, i);
		}
	for (i = 0; i < (int)worker->lim.workers_fwd; i++)
		if (peer_up(worker->fwd[i])) {
			peer_compose(worker->fwd[i], IMSG_STATS_REQ, c->id,
			    -1, NULL, 0);
			c->stats_wait |= control_bit(ROLE_FWD, i);
		}
	if (c->stats_wait == 0) {
		control_send(c, CTL_STATS, &c->stats, sizeof(c->stats));
		control_send(c, CTL_END, NULL, 0);
	}
}

void
control_stats_reply(struct peer *p, struct imsg *imsg)
{
	struct ctl_stats	 st;
	struct ctl_conn		*c;

	peer_get_data(p, imsg, &st, sizeof(st));
	if ((c = control_find(imsg->hdr.peerid)) == NULL ||
	    !(c->stats_wait & control_bit(p->role, p->index)))
		return;
	stats_add(&c->stats, &st);
	c->stats_wait &= ~control_bit(p->role, p->index);
	if (c->stats_wait == 0) {
		control_send(c, CTL_STATS, &c->stats, sizeof(c->stats));
		control_send(c, CTL_END, NULL, 0);
	}
}

/*
 * A worker died: its answers will not come. What it counted goes with it
 * (the counters restart with the new worker).
 */
void
control_peer_gone(enum proc_role role, int index)
{
	struct ctl_conn	*c;
	uint64_t	 bit = control_bit(role, index);

	TAILQ_FOREACH(c, &ctl.conns, entry) {
		if (c->stats_wait & bit) {
			c->stats_wait &= ~bit;
			if (c->stats_wait == 0) {
				control_send(c, CTL_STATS, &c->stats,
				    sizeof(c->stats));
				control_send(c, CTL_END, NULL, 0);
			}
		}
		if (c->bytes_wait & bit) {
			c->bytes_wait &= ~bit;
			if (c->bytes_wait == 0)
				control_sessions_send(c);
		}
	}
}

void
control_reply_from_parent(uint32_t ctlid, const struct ctl_result *r)
{
	struct ctl_conn	*c;

	if ((c = control_find(ctlid)) == NULL)
		return;
	control_send(c, CTL_RESULT, r, sizeof(*r));
}

/* A live event for every monitor client. */
void
control_event(int kind, const char *name, const char *id,
    const uint8_t *object_id, const char *detail)
{
	struct ctl_event	 ev;
	struct ctl_conn		*c;

	memset(&ev, 0, sizeof(ev));
	ev.time = time(NULL);
	ev.kind = kind;
	strlcpy(ev.name, name, sizeof(ev.name));
	strlcpy(ev.id, id, sizeof(ev.id));
	memcpy(ev.object_id, object_id, sizeof(ev.object_id));
	strlcpy(ev.detail, detail != NULL ? detail : "", sizeof(ev.detail));
	TAILQ_FOREACH(c, &ctl.conns, entry)
		if (c->monitor && !c->closing)
			control_send(c, CTL_EVENT, &ev, sizeof(ev));
}

static int
control_need_priv(struct ctl_conn *c)
{
	if (c->privileged)
		return 1;
	control_result(c, EPERM, "permission denied: this command is for "
	    "root or the user relayd runs as (uid %d)", ls.info.relay_uid);
	return 0;
}

static void
control_request(struct ctl_conn *c, struct imsg *imsg)
{
	struct ctl_request	 req;
	uint8_t			 sid[SESSION_ID_LEN];
	int32_t			 level;
	int			 n;

	if (imsg->hdr.type < CTL_SHOW_SUMMARY ||
	    imsg->hdr.type > CTL_MONITOR ||
	    imsg_get_data(imsg, &req, sizeof(req)) == -1 ||
	    memchr(req.target, '\0', sizeof(req.target)) == NULL) {
		control_result(c, EINVAL, "malformed request");
		c->closing = 1;
		return;
	}
	if (req.version != CTL_VERSION) {
		control_result(c, EPROTO, "relay-ctl speaks control version "
		    "%u, relayd %u: use the relay-ctl of this relayd",
		    req.version, CTL_VERSION);
		c->closing = 1;
		return;
	}
	switch (imsg->hdr.type) {
	case CTL_SHOW_SUMMARY:
		control_summary(c);
		break;
	case CTL_SHOW_LEASES:
		control_leases(c, req.target);
		break;
	case CTL_SHOW_SESSIONS:
		control_sessions(c);
		break;
	case CTL_SHOW_STATS:
		control_stats(c);
		break;
	case CTL_LEASE_REVOKE:
		if (!control_need_priv(c))
			break;
		if ((n = lease_revoke(req.target)) == 0)
			control_result(c, ENOENT, "no lease named %s or held "
			    "by that ID", req.target);
		else
			control_result(c, 0, "revoked %d lease%s", n,
			    n == 1 ? "" : "s");
		break;
	case CTL_SESSION_KILL:
		if (!control_need_priv(c))
			break;
		if (hex_parse(req.target, sid, sizeof(sid)) == -1)
			control_result(c, EINVAL, "a session id is 32 hex "
			    "digits (see relay-ctl show sessions)");
		else if (session_kill(sid) == -1)
			control_result(c, ENOENT, "no session %s", req.target);
		else
			control_result(c, 0, "session %s ended", req.target);
		break;
	case CTL_RELOAD:
		if (!control_need_priv(c))
			break;
		peer_compose(&worker->parent, IMSG_CTL_RELOAD, c->id, -1, NULL,
		    0);
		break;
	case CTL_LOG_VERBOSE:
	case CTL_LOG_BRIEF:
		if (!control_need_priv(c))
			break;
		level = imsg->hdr.type == CTL_LOG_VERBOSE;
		peer_compose(&worker->parent, IMSG_CTL_LOG, c->id, -1, &level,
		    sizeof(level));
		break;
	case CTL_MONITOR:
		c->monitor = 1;
		break;
	}
}

/* One request read; the next is read while the client is not closing. */
static int
control_take(struct imsg *imsg, void *arg)
{
	struct ctl_conn	*c = arg;

	control_request(c, imsg);
	return !c->closing;
}

static void
control_conn_event(int fd, short ev, void *arg)
{
	struct ctl_conn	*c = arg;

	if (ev & EV_WRITE) {
		if (imsgbuf_flush(&c->ibuf) == -1) {
			control_close(c);
			return;
		}
	}
	if ((ev & EV_READ) && !c->closing &&
	    imsgbuf_read_each(&c->ibuf, control_take, c) != 0) {
		control_close(c);
		return;
	}
	if (c->closing && c->ibuf.queued == 0) {
		control_close(c);
		return;
	}
	control_update(c);
}
