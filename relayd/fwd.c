/* SPDX-License-Identifier: ISC */
/*
 * fwd.c: the fwd worker. It learns each session's two tokens from the
 * lease worker, receives the data connections from the conn workers
 * (their preamble and token already read), pairs the two halves and
 * forwards bytes both ways with splice(2) through one pipe per direction,
 * passing half-closes on. It parses nothing the clients send: the bytes
 * are end-to-end ciphertext it cannot read and does not look at.
 *
 * A direction holds a pipe only while bytes are in it (read from one
 * socket, not yet written to the other): an idle session holds none, so
 * neither descriptors nor the user's pipe page allowance
 * (pipe-user-pages-soft, 64 MiB by default for all of relayd's workers)
 * grow with the number of sessions. Drained pipes go back to a small
 * pool of large ones; a direction whose receiver is slow keeps its pipe,
 * and past the budget of large pipes new ones keep the default size.
 *
 * Tokens are single use. A half whose session does not exist yet waits a
 * moment (the lease worker's message may still be on its way), then is
 * closed; a session not paired by its deadline is closed and reported.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/tree.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "compat.h"
#include "log.h"
#include "relayd.h"

#define SPLICE_CHUNK	(1024 * 1024)
#define FWD_PIPE_SIZE	(1024 * 1024)	/* a splice moves up to this */
/*
 * Large pipes alive at once, all fwd workers together: half the default
 * allowance of pipe-user-pages-soft (16384 pages), whatever the number of
 * workers; each has 2 to 16 of them.
 */
#define PIPE_BUDGET	32
#define PIPE_BIG_MIN	2
#define PIPE_BIG_MAX	16
#define PIPE_POOL_MAX	PIPE_BIG_MAX	/* drained ones kept for reuse */
/* splices from one source per wakeup, at most: then the other sessions */
#define PUMP_READS	16
#define ORPHAN_WAIT_MS	2000
#define ORPHAN_MAX	1024

struct fsession;

/*
 * Tokens are looked up by a keyed hash of them (fw.key is this worker's
 * secret): how long a lookup takes depends on the hash, which says
 * nothing about a token an attacker guesses; a match is then confirmed
 * in constant time.
 */
struct tokref {
	RB_ENTRY(tokref)	 entry;
	uint8_t			 index[32];	/* keyed hash of the token */
	uint8_t			 token[TOKEN_LEN];
	struct fsession		*s;
	int			 side;		/* 0: requester (I), 1: holder (R) */
	int			 inserted;
};

struct fdir {				/* one direction: src -> pipe -> dst */
	struct fsession		*s;
	int			 src;
	int			 dst;
	int			 pipe[2];	/* -1 while nothing is in flight */
	int			 pipe_big;	/* of FWD_PIPE_SIZE, counted */
	int			 pipe_wait;	/* on fw.pipe_waiters */
	TAILQ_ENTRY(fdir)	 wait_entry;
	size_t			 inpipe;
	int			 eof;
	int			 done;
	uint64_t		 bytes;
	struct event		*ev_read;	/* src readable */
	struct event		*ev_write;	/* dst writable */
};

struct fsession {
	RB_ENTRY(fsession)	 entry;
	uint8_t			 session_id[SESSION_ID_LEN];
	struct tokref		 tok[2];
	int			 fd[2];
	int			 paired;
	struct fdir		 dir[2];	/* 0: I -> R, 1: R -> I */
	struct event		*ev_timer;
	time_t			 last_active;
};

struct orphan {
	TAILQ_ENTRY(orphan)	 entry;
	uint8_t			 token[TOKEN_LEN];
	int			 fd;
	struct event		*ev;
};

RB_HEAD(tok_tree, tokref);
RB_HEAD(fsession_tree, fsession);
TREE_CMP_BYTES(tokref_cmp, tokref, index)
TREE_CMP_BYTES(fsession_cmp, fsession, session_id)
RB_GENERATE_LOCAL(tok_tree, tokref, entry, tokref_cmp)
RB_GENERATE_LOCAL(fsession_tree, fsession, entry, fsession_cmp)

struct fpipe {
	int			 fd[2];
};

static struct {
	uint8_t			 key[32];
	struct tok_tree		 tokens;
	struct fsession_tree	 sessions;
	TAILQ_HEAD(, orphan)	 orphans;
	int			 norphans;
	struct fpipe		 pool[PIPE_POOL_MAX];	/* large, empty */
	int			 npool;
	int			 nbig;		/* large pipes alive */
	TAILQ_HEAD(, fdir)	 pipe_waiters;	/* no descriptor for a pipe */
	struct event		*ev_pipe_retry;
} fw;

static void	fwd_end(struct fsession *, const char *);
static void	fdir_pump(struct fdir *);
static void	pipe_retry_cb(int, short, void *);

static void
tok_index(uint8_t index[32], const uint8_t token[TOKEN_LEN])
{
	if (crypto_keyed_hash(index, fw.key, token, TOKEN_LEN) == -1)
		fatalx("token hash");
}

static void
fwd_init(void)
{
	uint8_t	 warm[32];

	/* the secret, and OpenSSL's digest ready before the sandbox */
	if (crypto_random(fw.key, sizeof(fw.key)) == -1)
		fatalx("no randomness");
	tok_index(warm, fw.key);
	RB_INIT(&fw.tokens);
	RB_INIT(&fw.sessions);
	TAILQ_INIT(&fw.orphans);
	TAILQ_INIT(&fw.pipe_waiters);
	if ((fw.ev_pipe_retry = evtimer_new(worker->base, pipe_retry_cb,
	    NULL)) == NULL)
		fatalx("evtimer_new");
}

/* ---- pipes, held only while bytes are in flight ---- */

static void
pipe_close(int fd[2], int big)
{
	close(fd[0]);
	close(fd[1]);
	if (big)
		fw.nbig--;
}

static int
pipe_big_max(void)
{
	int	 n = worker->lim.workers_fwd > 0 ?
	    PIPE_BUDGET / worker->lim.workers_fwd : PIPE_BIG_MIN;

	return n < PIPE_BIG_MIN ? PIPE_BIG_MIN : n > PIPE_BIG_MAX ?
	    PIPE_BIG_MAX : n;
}

/* A pipe for d, from the pool or new; -1 when out of descriptors. */
static int
pipe_get(struct fdir *d)
{
	if (fw.npool > 0) {
		fw.npool--;
		d->pipe[0] = fw.pool[fw.npool].fd[0];
		d->pipe[1] = fw.pool[fw.npool].fd[1];
		d->pipe_big = 1;
		return 0;
	}
	if (pipe2(d->pipe, O_NONBLOCK | O_CLOEXEC) == -1) {
		d->pipe[0] = d->pipe[1] = -1;
		return -1;
	}
	/*
	 * A large pipe moves more per splice. Only a few: past the user's
	 * allowance the kernel gives new pipes a single page or two.
	 */
	d->pipe_big = 0;
	if (fw.nbig < pipe_big_max() &&
	    fcntl(d->pipe[1], F_SETPIPE_SZ, FWD_PIPE_SIZE) != -1) {
		d->pipe_big = 1;
		fw.nbig++;
	}
	return 0;
}

/* d's pipe is empty, or d is going: keep it in the pool or close it. */
static void
pipe_put(struct fdir *d)
{
	struct fdir	*w;

	if (d->pipe[0] == -1)
		return;
	if (d->inpipe == 0 && d->pipe_big && fw.npool < PIPE_POOL_MAX) {
		fw.pool[fw.npool].fd[0] = d->pipe[0];
		fw.pool[fw.npool].fd[1] = d->pipe[1];
		fw.npool++;
	} else
		pipe_close(d->pipe, d->pipe_big);
	d->pipe[0] = d->pipe[1] = -1;
	d->pipe_big = 0;
	/* a direction that found no descriptor may go on now */
	if ((w = TAILQ_FIRST(&fw.pipe_waiters)) != NULL &&
	    w->ev_read != NULL)
		event_active(w->ev_read, EV_READ, 1);
}

static void
pipe_wait(struct fdir *d)
{
	struct timeval	 tv = { 1, 0 };

	if (!d->pipe_wait) {
		TAILQ_INSERT_TAIL(&fw.pipe_waiters, d, wait_entry);
		d->pipe_wait = 1;
	}
	if (!evtimer_pending(fw.ev_pipe_retry, NULL))
		evtimer_add(fw.ev_pipe_retry, &tv);
}

static void
pipe_unwait(struct fdir *d)
{
	if (d->pipe_wait) {
		TAILQ_REMOVE(&fw.pipe_waiters, d, wait_entry);
		d->pipe_wait = 0;
	}
}

/* Descriptors may have been freed since: every waiter tries again. */
static void
pipe_retry_cb(int fd, short ev, void *arg)
{
	struct fdir	*d;

	TAILQ_FOREACH(d, &fw.pipe_waiters, wait_entry)
		if (d->ev_read != NULL)
			event_active(d->ev_read, EV_READ, 1);
}

/* After a reload: paired sessions follow the new idle limit. */
static void
fwd_configured(int first)
{
	struct fsession	*s;
	struct timeval	 tv = { 1, 0 };

	if (first)
		return;
	RB_FOREACH(s, fsession_tree, &fw.sessions)
		if (s->paired && worker->lim.timeout_session > 0)
			evtimer_add(s->ev_timer, &tv);
}

static struct fsession *
fsession_find(const uint8_t *sid)
{
	struct fsession	 key;

	memcpy(key.session_id, sid, SESSION_ID_LEN);
	return RB_FIND(fsession_tree, &fw.sessions, &key);
}

static void
tok_remove(struct tokref *t)
{
	if (t->inserted) {
		RB_REMOVE(tok_tree, &fw.tokens, t);
		t->inserted = 0;
	}
}

static void
fwd_report(struct fsession *s, const char *why)
{
	struct f_ended	 fe;

	memset(&fe, 0, sizeof(fe));
	memcpy(fe.session_id, s->session_id, SESSION_ID_LEN);
	fe.bytes_i2r = s->dir[0].bytes;
	fe.bytes_r2i = s->dir[1].bytes;
	fe.paired = s->paired;
	strlcpy(fe.reason, why, sizeof(fe.reason));
	peer_compose(worker->lease, IMSG_F_ENDED, 0, -1, &fe, sizeof(fe));
}

static void
fsession_free(struct fsession *s)
{
	int	 i;

	tok_remove(&s->tok[0]);
	tok_remove(&s->tok[1]);
	for (i = 0; i < 2; i++) {
		struct fdir	*d = &s->dir[i];

		event_free_opt(d->ev_read);
		event_free_opt(d->ev_write);
		d->ev_read = d->ev_write = NULL;
		pipe_unwait(d);
		pipe_put(d);
		if (s->fd[i] != -1)
			close(s->fd[i]);
	}
	event_free_opt(s->ev_timer);
	RB_REMOVE(fsession_tree, &fw.sessions, s);
	free(s);
}

static void
fwd_end(struct fsession *s, const char *why)
{
	log_debug("session ended: %s (%llu bytes I>R, %llu R>I)", why,
	    (unsigned long long)s->dir[0].bytes,
	    (unsigned long long)s->dir[1].bytes);
	worker->stats.sessions_ended++;
	fwd_report(s, why);
	fsession_free(s);
}

static void
fwd_timer(int fd, short ev, void *arg)
{
	struct fsession	*s = arg;
	struct timeval	 tv;
	time_t		 idle;

	if (!s->paired) {
		worker->stats.sessions_expired++;
		fwd_end(s, "not paired before the deadline");
		return;
	}
	if (worker->lim.timeout_session == 0)
		return;		/* no idle limit (any more) */
	idle = time(NULL) - s->last_active;
	if (idle >= (time_t)worker->lim.timeout_session) {
		fwd_end(s, "idle timeout");
		return;
	}
	tv.tv_sec = worker->lim.timeout_session - idle;
	tv.tv_usec = 0;
	evtimer_add(s->ev_timer, &tv);
}

/* ---- forwarding ---- */

static void
fdir_read_cb(int fd, short ev, void *arg)
{
	fdir_pump(arg);
}

static void
fdir_finish(struct fdir *d)
{
	struct fsession	*s = d->s;

	d->done = 1;
	event_del(d->ev_read);
	event_del(d->ev_write);
	pipe_put(d);
	/* pass the half-close on */
	shutdown(d->dst, SHUT_WR);
	if (s->dir[0].done && s->dir[1].done)
		fwd_end(s, "closed by both ends");
}

/*
 * Move what is in the pipe to dst, then what src has into the pipe,
 * until one of them would block. Reading stops while the pipe is not
 * empty: that is the backpressure from a slow receiver.
 */
static void
fdir_pump(struct fdir *d)
{
	struct fsession	*s = d->s;
	ssize_t		 n;
	int		 reads = 0;

	for (;;) {
		while (d->inpipe > 0) {
			n = splice(d->pipe[0], NULL, d->dst, NULL, d->inpipe,
			    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
			if (n == -1) {
				if (errno == EINTR)
					continue;
				if (errno == EAGAIN) {
					event_del(d->ev_read);
					event_add(d->ev_write, NULL);
					return;
				}
				fwd_end(s, "write error");
				return;
			}
			d->inpipe -= n;
			d->bytes += n;
			worker->stats.bytes_forwarded += n;
			s->last_active = time(NULL);
		}
		event_del(d->ev_write);
		if (d->eof) {
			fdir_finish(d);
			return;
		}
		/* a fast pair must not starve the others: back to the loop */
		if (reads++ == PUMP_READS) {
			pipe_put(d);
			event_add(d->ev_read, NULL);
			return;
		}
		if (d->pipe[0] == -1) {
			if (pipe_get(d) == -1) {
				/* out of descriptors: wait for one, unread */
				event_del(d->ev_read);
				pipe_wait(d);
				return;
			}
			pipe_unwait(d);
		}
		n = splice(d->src, NULL, d->pipe[1], NULL, SPLICE_CHUNK,
		    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				/* nothing in flight: the pipe is not needed */
				pipe_put(d);
				event_add(d->ev_read, NULL);
				return;
			}
			fwd_end(s, errno == ECONNRESET ? "connection reset" :
			    "read error");
			return;
		}
		if (n == 0) {
			d->eof = 1;
			continue;
		}
		d->inpipe += n;
	}
}

static void
fdir_write_cb(int fd, short ev, void *arg)
{
	fdir_pump(arg);
}

static int
fdir_setup(struct fsession *s, int i, int src, int dst)
{
	struct fdir	*d = &s->dir[i];

	d->s = s;
	d->src = src;
	d->dst = dst;
	/* no pipe yet: the first bytes take one */
	d->ev_read = event_new(worker->base, src, EV_READ, fdir_read_cb, d);
	d->ev_write = event_new(worker->base, dst, EV_WRITE, fdir_write_cb, d);
	if (d->ev_read == NULL || d->ev_write == NULL)
		return -1;
	return 0;
}

static void
fwd_pair(struct fsession *s)
{
	struct f_session_id	 fs;
	struct timeval		 tv;

	s->paired = 1;
	s->last_active = time(NULL);
	worker->stats.sessions_paired++;
	evtimer_del(s->ev_timer);
	if (fdir_setup(s, 0, s->fd[0], s->fd[1]) == -1 ||
	    fdir_setup(s, 1, s->fd[1], s->fd[0]) == -1) {
		/* no pipe or no memory: this session is refused, not the rest */
		worker->stats.sessions_refused_nofile++;
		log_warn("session setup");
		fwd_end(s, "out of descriptors");
		return;
	}
	memcpy(fs.session_id, s->session_id, SESSION_ID_LEN);
	peer_compose(worker->lease, IMSG_F_PAIRED, 0, -1, &fs, sizeof(fs));
	if (worker->lim.timeout_session > 0) {
		tv.tv_sec = worker->lim.timeout_session;
		tv.tv_usec = 0;
		evtimer_add(s->ev_timer, &tv);
	}
	event_add(s->dir[0].ev_read, NULL);
	event_add(s->dir[1].ev_read, NULL);
}

/* A data connection with its token: attach it to its session. */
static int
fwd_attach(const uint8_t *token, int fd)
{
	struct tokref	 key, *t;
	struct fsession	*s;

	tok_index(key.index, token);
	if ((t = RB_FIND(tok_tree, &fw.tokens, &key)) == NULL ||
	    !crypto_equal(t->token, token, TOKEN_LEN))
		return -1;
	s = t->s;
	tok_remove(t);		/* single use */
	s->fd[t->side] = fd;
	if (s->fd[0] != -1 && s->fd[1] != -1)
		fwd_pair(s);
	return 0;
}

static void
orphan_free(struct orphan *o, int close_fd)
{
	TAILQ_REMOVE(&fw.orphans, o, entry);
	fw.norphans--;
	if (close_fd)
		close(o->fd);
	event_free(o->ev);
	free(o);
}

static void
orphan_expire(int fd, short ev, void *arg)
{
	worker->stats.tokens_unknown++;
	log_debug("data connection with an unknown or used token: closed");
	orphan_free(arg, 1);
}

/* Halves waiting for their session: a quarter of the descriptors at most. */
static int
fwd_orphan_max(void)
{
	uint32_t	 room = worker->lim.nofile > NOFILE_RESERVE ?
	    (worker->lim.nofile - NOFILE_RESERVE) / 4 : ORPHAN_MAX;

	return room < ORPHAN_MAX ? (int)room : ORPHAN_MAX;
}

static void
fwd_data_fd(struct peer *p, struct imsg *imsg)
{
	struct f_data	 fd;
	struct orphan	*o;
	struct timeval	 tv = { 0, ORPHAN_WAIT_MS * 1000 };
	int		 s;

	peer_get_data(p, imsg, &fd, sizeof(fd));
	if (imsg->fd_lost) {
		/* this worker had no descriptor left: the kernel dropped it */
		worker->stats.sessions_refused_nofile++;
		log_debug("a data connection from %s: no descriptor left",
		    fd.addr);
		return;
	}
	if ((s = imsg_take_fd(imsg)) == -1)
		bad_imsg(p, imsg, "no descriptor");
	if (fwd_attach(fd.token, s) == 0)
		return;
	/* maybe the lease worker's word on this session is still coming */
	if (fw.norphans >= fwd_orphan_max() ||
	    (o = calloc(1, sizeof(*o))) == NULL) {
		worker->stats.tokens_unknown++;
		close(s);
		return;
	}
	memcpy(o->token, fd.token, TOKEN_LEN);
	o->fd = s;
	if ((o->ev = evtimer_new(worker->base, orphan_expire, o)) == NULL) {
		free(o);
		close(s);
		return;
	}
	TAILQ_INSERT_TAIL(&fw.orphans, o, entry);
	fw.norphans++;
	tv.tv_sec = tv.tv_usec / 1000000;
	tv.tv_usec %= 1000000;
	evtimer_add(o->ev, &tv);
}

static void
fwd_session(struct peer *p, struct imsg *imsg)
{
	struct f_session	 fs;
	struct fsession		*s;
	struct orphan		*o, *next;
	struct timeval		 tv;
	int			 i;

	peer_get_data(p, imsg, &fs, sizeof(fs));
	if (fsession_find(fs.session_id) != NULL)
		bad_imsg(p, imsg, "duplicate session");
	if ((s = calloc(1, sizeof(*s))) == NULL)
		fatal("calloc");
	memcpy(s->session_id, fs.session_id, SESSION_ID_LEN);
	s->fd[0] = s->fd[1] = -1;
	for (i = 0; i < 2; i++)
		s->dir[i].pipe[0] = s->dir[i].pipe[1] = -1;
	if ((s->ev_timer = evtimer_new(worker->base, fwd_timer, s)) == NULL)
		fatalx("evtimer_new");
	RB_INSERT(fsession_tree, &fw.sessions, s);
	memcpy(s->tok[0].token, fs.token_i, TOKEN_LEN);
	memcpy(s->tok[1].token, fs.token_r, TOKEN_LEN);
	for (i = 0; i < 2; i++) {
		s->tok[i].s = s;
		s->tok[i].side = i;
		tok_index(s->tok[i].index, s->tok[i].token);
		if (RB_INSERT(tok_tree, &fw.tokens, &s->tok[i]) != NULL)
			bad_imsg(p, imsg, "duplicate token");
		s->tok[i].inserted = 1;
	}
	tv.tv_sec = fs.deadline_ms / 1000;
	tv.tv_usec = (fs.deadline_ms % 1000) * 1000;
	evtimer_add(s->ev_timer, &tv);
	/* halves that arrived first */
	TAILQ_FOREACH_SAFE(o, &fw.orphans, entry, next)
		if (crypto_equal(o->token, fs.token_i, TOKEN_LEN) ||
		    crypto_equal(o->token, fs.token_r, TOKEN_LEN)) {
			int	 ofd = o->fd;
			uint8_t	 tok[TOKEN_LEN];

			memcpy(tok, o->token, TOKEN_LEN);
			orphan_free(o, 0);
			if (fwd_attach(tok, ofd) == -1)
				close(ofd);
		}
}

static void
fwd_dispatch_parent(struct peer *p, struct imsg *imsg)
{
	if (imsg->hdr.type != IMSG_CFG_LIMITS)
		bad_imsg(p, imsg, "unexpected from the parent");
}

/* show sessions: the live byte counts of every paired session. */
static void
fwd_bytes(struct peer *p, uint32_t ctlid)
{
	struct fsession	*s;
	struct f_bytes	 fb;

	RB_FOREACH(s, fsession_tree, &fw.sessions) {
		if (!s->paired)
			continue;
		memset(&fb, 0, sizeof(fb));
		memcpy(fb.session_id, s->session_id, SESSION_ID_LEN);
		fb.bytes_i2r = s->dir[0].bytes;
		fb.bytes_r2i = s->dir[1].bytes;
		peer_compose(p, IMSG_F_BYTES, ctlid, -1, &fb, sizeof(fb));
	}
	peer_compose(p, IMSG_F_BYTES_END, ctlid, -1, NULL, 0);
}

static void
fwd_dispatch_lease(struct peer *p, struct imsg *imsg)
{
	struct f_session_id	 fs;
	struct fsession		*s;

	switch (imsg->hdr.type) {
	case IMSG_F_SESSION:
		fwd_session(p, imsg);
		break;
	case IMSG_F_BYTES_REQ:
		fwd_bytes(p, imsg->hdr.peerid);
		break;
	case IMSG_F_CANCEL:
	case IMSG_F_KILL:
		peer_get_data(p, imsg, &fs, sizeof(fs));
		if ((s = fsession_find(fs.session_id)) == NULL)
			break;
		if (imsg->hdr.type == IMSG_F_CANCEL && !s->paired)
			fsession_free(s);	/* the lease knows */
		else
			fwd_end(s, "ended by the relay operator");
		break;
	default:
		bad_imsg(p, imsg, "unexpected from the lease worker");
	}
}

static void
fwd_dispatch_conn(struct peer *p, struct imsg *imsg)
{
	if (imsg->hdr.type != IMSG_F_DATA_FD)
		bad_imsg(p, imsg, "unexpected from a conn worker");
	fwd_data_fd(p, imsg);
}

const struct proc fwd_proc = {
	.peers = R_LEASE | R_CONN,
	.fd_peers = R_CONN,
	.init = fwd_init,
	.configured = fwd_configured,
	.dispatch = {
		[ROLE_PARENT] = fwd_dispatch_parent,
		[ROLE_LEASE] = fwd_dispatch_lease,
		[ROLE_CONN] = fwd_dispatch_conn,
	},
};
