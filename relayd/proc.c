/* SPDX-License-Identifier: ISC */
/*
 * proc.c: relayd's process launcher and the channels between processes.
 *
 * The parent's side: start the workers of every role in procs[]
 * (fork, then re-execute relayd -P role -I index with the channel on fd
 * 3), link every pair of roles that name each other, let the parent's
 * role (relayd.c) hand each worker its descriptors and configuration,
 * reap workers, respawn a dead conn or fwd worker in place (a dead lease
 * worker restarts the whole tree), give up past RESPAWN_MAX restarts in
 * RESPAWN_WINDOW seconds, and stop everything in order over the channels.
 *
 * The worker's side: the start-up message, the privilege drop and the
 * sandbox, then an event loop over the channel to the parent and the
 * mesh channels, every message checked against the message table
 * (msgtab.c) and handed to the role's dispatcher for its sender.
 *
 * A worker never opens a file or creates a socket: it receives every
 * descriptor from the parent.
 */
#include "config.h"

#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"
#include "relayd.h"

const struct proc *const procs[ROLE_MAX] = {
	[ROLE_LEASE] = &lease_proc,
	[ROLE_CONN] = &conn_proc,
	[ROLE_FWD] = &fwd_proc,
};
const char		*role_names[] = { "parent", "lease", "conn", "fwd" };

/* The workers of role r the limits ask for: one lease worker. */
static uint32_t
proc_role_count(enum proc_role r, const struct relayd_limits *lim)
{
	switch (r) {
	case ROLE_CONN:
		return lim->workers_conn;
	case ROLE_FWD:
		return lim->workers_fwd;
	default:
		return 1;
	}
}

struct relayd_worker	*worker;
uint8_t			 relay_pk[ED25519_PK_LEN];

/* ==== the parent's side ==== */

#define MAX_CHILDREN	(1 + 2 * RELAYD_MAX_WORKERS)

static struct {
	struct event_base	*base;
	const char		*self;
	struct priv_msg		 priv;
	struct relayd_limits	 lim;
	const struct parent_ops	*ops;
	struct child		 children[MAX_CHILDREN];
	int			 nchildren;
	int			 tree_ready;
	int			 restarting;	/* the whole tree, after the lease */
	int			 stopping;
	time_t			 deaths[RESPAWN_MAX + 1];
	int			 ndeaths;
	uint64_t		 respawns;
	int			 logpipe[2];
	struct event		*ev_log;
	struct event		*ev_restart;
} pr;

static void	child_event(int, short, void *);
static void	child_disconnect(struct child *);

static void
child_update(struct child *c)
{
	short	 want = EV_READ | EV_PERSIST;

	if (!c->alive)
		return;
	if (c->ibuf.queued > 0)
		want |= EV_WRITE;
	if (c->ev != NULL && want == c->events)
		return;
	event_free_opt(c->ev);
	c->events = want;
	c->ev = event_new(pr.base, c->ibuf.fd, want, child_event, c);
	if (c->ev == NULL || event_add(c->ev, NULL) == -1)
		fatalx("cannot add a channel event");
}

static const char *
child_name(const struct child *c, char *buf, size_t len)
{
	if (c->role == ROLE_LEASE)
		snprintf(buf, len, "lease");
	else
		snprintf(buf, len, "%s %d", role_names[c->role], c->index);
	return buf;
}

void
proc_child_send(struct child *c, uint32_t type, uint32_t peerid, int fd,
    const void *data, size_t len)
{
	if (!c->alive) {
		/* it died: what it would have got is void; it is respawned */
		if (fd != -1)
			close(fd);
		return;
	}
	if (imsg_compose(&c->ibuf, type, peerid, fd, data, len) == -1)
		fatal("imsg_compose %s", msg_name(type));
	/* at once: a write event only when the channel is full */
	if (imsgbuf_flush(&c->ibuf) == -1) {
		child_disconnect(c);	/* SIGCHLD tells which and why */
		return;
	}
	child_update(c);
}

void
proc_broadcast(uint32_t type, const void *data, size_t len)
{
	int	 i;

	for (i = 0; i < pr.nchildren; i++)
		proc_child_send(&pr.children[i], type, 0, -1, data, len);
}

struct child *
proc_child(enum proc_role role, int index)
{
	int	 i;

	for (i = 0; i < pr.nchildren; i++)
		if (pr.children[i].role == role &&
		    pr.children[i].index == index)
			return &pr.children[i];
	return NULL;
}

int
proc_nchildren(void)
{
	return pr.nchildren;
}

struct child *
proc_child_at(int i)
{
	return i >= 0 && i < pr.nchildren ? &pr.children[i] : NULL;
}

uint64_t
proc_respawns(void)
{
	return pr.respawns;
}

/* The channel is gone (closed, or the worker broke a rule): drop it. */
static void
child_disconnect(struct child *c)
{
	if (!c->alive)
		return;
	c->alive = 0;
	event_free_opt(c->ev);
	c->ev = NULL;
	c->events = 0;
	imsgbuf_clear(&c->ibuf);
	close(c->ibuf.fd);
	c->ibuf.fd = -1;
}

/* A worker that broke the protocol is stopped; the reaper restarts it. */
void
proc_child_kill(struct child *c, const char *why)
{
	char	 name[32];

	log_warnx("%s (pid %ld): %s: stopping it", child_name(c, name,
	    sizeof(name)), (long)c->pid, why);
	child_disconnect(c);
	if (c->pid > 0 && kill(c->pid, SIGKILL) == -1 && errno != ESRCH)
		log_warn("kill %s", name);
}

static void
child_dispatch(struct child *c, struct imsg *imsg)
{
	const char	*why;
	uint32_t	 gen;
	int		 now, i;
	char		 buf[96];

	now = !c->running ? PH_START : pr.tree_ready ? PH_RUN | PH_TREE :
	    PH_RUN;
	if (msg_check(ROLE_PARENT, c->role, now, imsg, &why) == -1) {
		snprintf(buf, sizeof(buf), "bad message %s (%zu bytes): %s",
		    msg_name(imsg->hdr.type), imsg->len, why);
		proc_child_kill(c, buf);
		return;
	}
	if (imsg->hdr.type != IMSG_CFG_DONE) {
		pr.ops->dispatch(c, imsg);
		return;
	}
	memcpy(&gen, imsg->data, sizeof(gen));
	c->generation = gen;
	if (!c->running) {
		c->running = 1;
		if (pr.tree_ready)	/* a respawned worker: serve at once */
			proc_child_send(c, IMSG_TREE_READY, 0, -1, NULL, 0);
	}
	pr.ops->dispatch(c, imsg);
	if (pr.tree_ready || pr.stopping)
		return;
	for (i = 0; i < pr.nchildren; i++)
		if (!pr.children[i].running)
			return;
	pr.tree_ready = 1;
	proc_broadcast(IMSG_TREE_READY, NULL, 0);
	pr.ops->tree_ready();
}

/* One message read; the next is read while the channel stands. */
static int
child_take(struct imsg *imsg, void *arg)
{
	struct child	*c = arg;

	child_dispatch(c, imsg);
	return c->alive;
}

static void
child_event(int fd, short ev, void *arg)
{
	struct child	*c = arg;
	int		 r = 0;

	if ((ev & EV_WRITE) && imsgbuf_flush(&c->ibuf) == -1) {
		child_disconnect(c);	/* SIGCHLD tells which and why */
		return;
	}
	if (ev & EV_READ)
		r = imsgbuf_read_each(&c->ibuf, child_take, c);
	if (r == -1) {
		child_disconnect(c);
		return;
	}
	if (r == -2) {
		proc_child_kill(c, "malformed message");
		return;
	}
	child_update(c);
}

/* Link two workers with a socketpair, each end passed to one of them. */
static void
mesh_link(struct child *a, struct child *b)
{
	struct peer_msg	 pm;
	int		 sp[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
	    sp) == -1)
		fatal("socketpair");
	pm.role = b->role;
	pm.index = b->index;
	proc_child_send(a, IMSG_PEER_FD, 0, sp[0], &pm, sizeof(pm));
	pm.role = a->role;
	pm.index = a->index;
	proc_child_send(b, IMSG_PEER_FD, 0, sp[1], &pm, sizeof(pm));
}

static void
child_spawn(struct child *c)
{
	char	 idx[16], *argv[8];
	int	 sp[2], argc = 0, i;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == -1)
		fatal("socketpair");
	snprintf(idx, sizeof(idx), "%d", c->index);
	argv[argc++] = (char *)"relayd";
	argv[argc++] = (char *)"-P";
	argv[argc++] = (char *)role_names[c->role];
	argv[argc++] = (char *)"-I";
	argv[argc++] = idx;
	argv[argc] = NULL;

	switch (c->pid = fork()) {
	case -1:
		fatal("fork");
	case 0:
		if (dup2(sp[1], PARENT_FD) == -1 ||
		    dup2(pr.logpipe[1], STDERR_FILENO) == -1)
			fatal("dup2");
		for (i = PARENT_FD + 1; i < 1024; i++)
			close(i);
		execv(pr.self, argv);
		fatal("execv %s", pr.self);
	default:
		break;
	}
	close(sp[1]);
	if (fcntl(sp[0], F_SETFL, O_NONBLOCK) == -1)
		fatal("fcntl");
	imsgbuf_init(&c->ibuf, sp[0], 1);
	c->alive = 1;
	c->running = 0;
	c->generation = 0;
	c->started = time(NULL);
	c->ev = NULL;
	c->events = 0;
	child_update(c);
	proc_child_send(c, IMSG_PRIV, 0, -1, &pr.priv, sizeof(pr.priv));
	/* the mesh: this worker and every running one it has a channel to */
	for (i = 0; i < pr.nchildren; i++) {
		struct child	*o = &pr.children[i];

		if (o != c && o->alive &&
		    (procs[c->role]->peers & (1 << o->role)))
			mesh_link(c, o);
	}
}

/*
 * Workers write their log lines into a pipe that the parent copies to its
 * own stderr: a worker may write no file (RLIMIT_FSIZE 0), and stderr
 * can be one when relayd's output is redirected.
 */
static void
proc_log_relay(int fd, short ev, void *arg)
{
	char	 buf[8192];
	ssize_t	 n;

	while ((n = read(fd, buf, sizeof(buf))) > 0)
		if (write(STDERR_FILENO, buf, n) == -1)
			break;
}

void
proc_init(struct event_base *base, const char *self,
    const struct priv_msg *priv, const struct relayd_limits *lim,
    const struct parent_ops *ops)
{
	enum proc_role	 r;
	uint32_t	 i, n;

	pr.base = base;
	pr.self = self;
	pr.priv = *priv;
	pr.lim = *lim;
	pr.ops = ops;
	for (r = ROLE_LEASE; r < ROLE_MAX; r++) {
		n = proc_role_count(r, lim);
		for (i = 0; i < n; i++) {
			if (pr.nchildren == MAX_CHILDREN)
				fatalx("too many workers");
			pr.children[pr.nchildren].role = r;
			pr.children[pr.nchildren].index = i;
			pr.children[pr.nchildren].ibuf.fd = -1;
			pr.nchildren++;
		}
	}
	if (pipe2(pr.logpipe, O_CLOEXEC) == -1 ||
	    fcntl(pr.logpipe[0], F_SETFL, O_NONBLOCK) == -1)
		fatal("log pipe");
	pr.ev_log = event_new(base, pr.logpipe[0], EV_READ | EV_PERSIST,
	    proc_log_relay, NULL);
	if (pr.ev_log == NULL || event_add(pr.ev_log, NULL) == -1)
		fatalx("log pipe event");
}

/* The sandbox debug flag and the verbosity of workers started later. */
void
proc_set_limits(const struct relayd_limits *lim)
{
	pr.lim = *lim;
	pr.priv.sandbox_debug = lim->sandbox_debug;
}

void
proc_start(void)
{
	int	 i;

	pr.tree_ready = 0;
	pr.restarting = 0;
	pr.priv.verbose = log_getverbose();
	for (i = 0; i < pr.nchildren; i++)
		child_spawn(&pr.children[i]);
	for (i = 0; i < pr.nchildren; i++)
		pr.ops->setup(&pr.children[i]);
}

/* Past RESPAWN_MAX deaths within RESPAWN_WINDOW seconds: give up. */
static int
respawn_allowed(void)
{
	time_t	 now = time(NULL);
	int	 i, n = 0;

	for (i = 0; i < pr.ndeaths; i++)
		if (now - pr.deaths[i] < RESPAWN_WINDOW)
			pr.deaths[n++] = pr.deaths[i];
	pr.ndeaths = n;
	if (pr.ndeaths > RESPAWN_MAX)
		return 0;
	pr.deaths[pr.ndeaths++] = now;
	return pr.ndeaths <= RESPAWN_MAX;
}

/* A conn or fwd worker died: the others drop what was on it, then a new one. */
static void
child_respawn(struct child *c)
{
	struct peer_msg	 pm;
	char		 name[32];
	int		 i;

	pm.role = c->role;
	pm.index = c->index;
	for (i = 0; i < pr.nchildren; i++)
		if (&pr.children[i] != c &&
		    (procs[pr.children[i].role]->peers & (1 << c->role)))
			proc_child_send(&pr.children[i], IMSG_PEER_GONE, 0, -1,
			    &pm, sizeof(pm));
	pr.respawns++;
	c->respawns++;
	child_spawn(c);
	pr.ops->setup(c);
	log_info("%s restarted (pid %ld), restart %llu", child_name(c, name,
	    sizeof(name)), (long)c->pid, (unsigned long long)pr.respawns);
}

/* The lease worker died: every worker goes, then a new tree. */
static void
tree_restart_check(int fd, short ev, void *arg)
{
	int	 i;

	for (i = 0; i < pr.nchildren; i++)
		if (pr.children[i].pid > 0)
			return;		/* still waiting for it */
	if (pr.ev_restart != NULL)
		evtimer_del(pr.ev_restart);
	pr.respawns++;
	for (i = 0; i < pr.nchildren; i++)
		pr.children[i].respawns++;
	log_info("starting a new set of workers, restart %llu",
	    (unsigned long long)pr.respawns);
	proc_start();
}

static void
tree_restart_timeout(int fd, short ev, void *arg)
{
	char	 name[32];
	int	 i;

	for (i = 0; i < pr.nchildren; i++)
		if (pr.children[i].pid > 0) {
			log_warnx("%s (pid %ld) did not stop: killing it",
			    child_name(&pr.children[i], name, sizeof(name)),
			    (long)pr.children[i].pid);
			kill(pr.children[i].pid, SIGKILL);
		}
}

static void
tree_restart(void)
{
	struct timeval	 tv = { STOP_WAIT_MS / 1000,
			    (STOP_WAIT_MS % 1000) * 1000 };
	int		 i;

	pr.restarting = 1;
	pr.tree_ready = 0;
	for (i = 0; i < pr.nchildren; i++) {
		pr.children[i].running = 0;
		proc_child_send(&pr.children[i], IMSG_STOP, 0, -1, NULL, 0);
	}
	if (pr.ev_restart == NULL &&
	    (pr.ev_restart = evtimer_new(pr.base, tree_restart_timeout,
	    NULL)) == NULL)
		fatalx("evtimer_new");
	evtimer_add(pr.ev_restart, &tv);
	tree_restart_check(-1, 0, NULL);
}

/* Say how a worker ended; the others that were told to stop, quietly. */
static void
child_reaped(struct child *c, int status)
{
	char	 name[32];

	child_name(c, name, sizeof(name));
	if (WIFSIGNALED(status))
		log_warnx("%s (pid %ld) was killed by signal %d (%s)%s", name,
		    (long)c->pid, WTERMSIG(status), strsignal(WTERMSIG(status)),
		    WTERMSIG(status) == SIGSYS ? ": a forbidden system call; "
		    "run relayd -d -S to see which" : "");
	else if (pr.stopping || pr.restarting)
		log_debug("%s (pid %ld) stopped", name, (long)c->pid);
	else
		log_warnx("%s (pid %ld) exited with status %d", name,
		    (long)c->pid, WEXITSTATUS(status));
	child_disconnect(c);
	c->pid = 0;
	c->running = 0;
}

void
proc_reap(void)
{
	struct child	*c;
	int		 status, i;
	pid_t		 pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		c = NULL;
		for (i = 0; i < pr.nchildren; i++)
			if (pr.children[i].pid == pid)
				c = &pr.children[i];
		if (c == NULL)
			continue;
		child_reaped(c, status);
		if (pr.stopping)
			continue;
		if (pr.restarting) {
			tree_restart_check(-1, 0, NULL);
			continue;
		}
		if (!respawn_allowed()) {
			log_warnx("more than %d workers died within %d "
			    "seconds: stopping relayd", RESPAWN_MAX,
			    RESPAWN_WINDOW);
			pr.ops->shutdown(1);
		}
		if (c->role == ROLE_LEASE) {
			log_warnx("the lease worker died: restarting every "
			    "worker");
			tree_restart();
		} else
			child_respawn(c);
	}
}

/*
 * An orderly stop: every worker is told over its channel (the parent
 * needs no right to signal them), gets STOP_WAIT_MS to finish what it
 * owes its clients, and is killed past that.
 */
void
proc_shutdown(int status)
{
	struct timespec	 ts = { 0, 20 * 1000 * 1000 };
	char		 name[32];
	int		 i, alive, tries, wstatus;
	pid_t		 pid;

	pr.stopping = 1;
	for (i = 0; i < pr.nchildren; i++) {
		proc_child_send(&pr.children[i], IMSG_STOP, 0, -1, NULL, 0);
		if (pr.children[i].alive)
			(void)imsgbuf_flush(&pr.children[i].ibuf);
	}
	for (tries = 0; tries < STOP_WAIT_MS / 20; tries++) {
		while ((pid = waitpid(-1, &wstatus, WNOHANG)) > 0)
			for (i = 0; i < pr.nchildren; i++)
				if (pr.children[i].pid == pid)
					child_reaped(&pr.children[i], wstatus);
		alive = 0;
		for (i = 0; i < pr.nchildren; i++)
			if (pr.children[i].pid > 0) {
				alive++;
				if (pr.children[i].alive &&
				    pr.children[i].ibuf.queued > 0)
					(void)imsgbuf_flush(
					    &pr.children[i].ibuf);
			}
		proc_log_relay(pr.logpipe[0], EV_READ, NULL);
		if (alive == 0)
			break;
		nanosleep(&ts, NULL);
	}
	for (i = 0; i < pr.nchildren; i++)
		if (pr.children[i].pid > 0) {
			log_warnx("%s (pid %ld) did not stop: killing it",
			    child_name(&pr.children[i], name, sizeof(name)),
			    (long)pr.children[i].pid);
			if (kill(pr.children[i].pid, SIGKILL) == 0)
				waitpid(pr.children[i].pid, NULL, 0);
			else
				log_warn("kill %s", name);
		}
	proc_log_relay(pr.logpipe[0], EV_READ, NULL);
	log_info("%s", status == 0 ? "stopped" : "stopped after an error");
	exit(status);
}

/* ==== the worker's side ==== */

static void	peer_event(int, short, void *);
static void	peer_gone(struct peer *);
static void	peer_backlog(struct peer *);

__attribute__((noreturn)) void
bad_imsg(struct peer *p, struct imsg *imsg, const char *why)
{
	fatalx("%s: bad message %s (%zu bytes) from %s %d: %s",
	    role_names[worker->role], msg_name(imsg->hdr.type), imsg->len,
	    role_names[p->role], p->index, why);
}

/*
 * _exit, not exit: a worker has nothing to flush, and library cleanup at
 * exit would need system calls the sandbox does not allow.
 */
__attribute__((noreturn)) void
worker_exit(void)
{
	_exit(0);
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
	default:
		return NULL;
	}
}

static struct peer **
peer_slot(enum proc_role role, int index)
{
	switch (role) {
	case ROLE_LEASE:
		return &worker->lease;
	case ROLE_CONN:
		return &worker->conn[index];
	case ROLE_FWD:
		return &worker->fwd[index];
	default:
		return NULL;
	}
}

int
peer_up(const struct peer *p)
{
	return p != NULL && p->connected;
}

size_t
peer_queued(const struct peer *p)
{
	return p != NULL ? p->ibuf.queued_bytes : 0;
}

/* Read the channel unless paused. */
static void
peer_update(struct peer *p)
{
	if (!p->connected)
		return;
	if (p->ev_read == NULL &&
	    ((p->ev_read = event_new(worker->base, p->ibuf.fd,
	    EV_READ | EV_PERSIST, peer_event, p)) == NULL ||
	    (p->ev_write = event_new(worker->base, p->ibuf.fd,
	    EV_WRITE | EV_PERSIST, peer_event, p)) == NULL))
		fatalx("cannot make a channel event");
	if (!p->paused && !p->reading) {
		if (event_add(p->ev_read, NULL) == -1)
			fatalx("cannot add a channel event");
		p->reading = 1;
	} else if (p->paused && p->reading) {
		event_del(p->ev_read);
		p->reading = 0;
	}
}

/*
 * Messages are queued and written once per turn of the event loop, all
 * of a channel's in one sendmsg(): a write event only while the socket
 * is full, so no epoll change per message.
 */
static TAILQ_HEAD(, peer)	 flushq = TAILQ_HEAD_INITIALIZER(flushq);
static struct event		*ev_flush;

static int
peer_flush(struct peer *p)
{
	int	 r;

	if ((r = imsgbuf_flush(&p->ibuf)) == -1) {
		if (p == &worker->parent)
			_exit(0);	/* the parent is gone */
		peer_gone(p);
		return -1;
	}
	if (r == 1 && !p->writing) {
		if (event_add(p->ev_write, NULL) == -1)
			fatalx("cannot add a channel event");
		p->writing = 1;
	} else if (r == 0 && p->writing) {
		event_del(p->ev_write);
		p->writing = 0;
	}
	if (p != &worker->parent)
		peer_backlog(p);
	return 0;
}

static void
peer_flush_all(int fd, short ev, void *arg)
{
	struct peer	*p;

	while ((p = TAILQ_FIRST(&flushq)) != NULL) {
		TAILQ_REMOVE(&flushq, p, flush_entry);
		p->flush_queued = 0;
		(void)peer_flush(p);
	}
}

static void
peer_flush_later(struct peer *p)
{
	if (p->flush_queued || p->writing)
		return;
	if (ev_flush == NULL && (ev_flush = event_new(worker->base, -1, 0,
	    peer_flush_all, NULL)) == NULL)
		fatalx("event_new");
	p->flush_queued = 1;
	TAILQ_INSERT_TAIL(&flushq, p, flush_entry);
	event_active(ev_flush, EV_TIMEOUT, 0);
}

void
peer_pause(struct peer *p, int on)
{
	p->paused = on;
	peer_update(p);
}

/*
 * Backpressure between workers: past CHANNEL_QUEUE_MAX queued bytes to a
 * peer, a role that answers it (the lease worker) stops reading its
 * requests until half of that is gone; a role that asks (conn) learns
 * from peer_backlogged() and its drained() hook when to ask again.
 */
static void
peer_backlog(struct peer *p)
{
	const struct proc	*me = procs[worker->role];
	size_t			 q = p->ibuf.queued_bytes;

	if (q > CHANNEL_QUEUE_MAX && !p->backlog) {
		p->backlog = 1;
		if (me->pause_peers & (1 << p->role))
			peer_pause(p, 1);
	} else if (q < CHANNEL_QUEUE_MAX / 2 && p->backlog) {
		p->backlog = 0;
		if (me->pause_peers & (1 << p->role))
			peer_pause(p, 0);
		if (me->drained != NULL)
			me->drained(p);
	}
}

int
peer_backlogged(const struct peer *p)
{
	return p != NULL && p->backlog;
}

void
peer_compose(struct peer *p, uint32_t type, uint32_t peerid, int fd,
    const void *data, size_t len)
{
	if (!peer_up(p)) {
		/* that worker died: the parent restarts it; nothing is owed */
		log_debug("%s: %s to a worker that is gone: dropped",
		    role_names[worker->role], msg_name(type));
		if (fd != -1)
			close(fd);
		return;
	}
	if (imsg_compose(&p->ibuf, type, peerid, fd, data, len) == -1)
		fatal("imsg_compose %s", msg_name(type));
	if (p != &worker->parent)
		peer_backlog(p);
	peer_flush_later(p);
}

static void
peer_init(struct peer *p, enum proc_role role, int index, int fd,
    int allow_fd)
{
	p->role = role;
	p->index = index;
	p->ev_read = p->ev_write = NULL;
	p->reading = p->writing = 0;
	p->flush_queued = 0;
	p->connected = 1;
	p->paused = 0;
	p->backlog = 0;
	imsgbuf_init(&p->ibuf, fd, allow_fd);
	peer_update(p);
}

static void
peer_free(struct peer *p)
{
	if (p->flush_queued)
		TAILQ_REMOVE(&flushq, p, flush_entry);
	event_free_opt(p->ev_read);
	event_free_opt(p->ev_write);
	imsgbuf_clear(&p->ibuf);
	close(p->ibuf.fd);
	free(p);
}

/* A mesh channel closed or its worker died: the role drops what was there. */
static void
peer_gone(struct peer *p)
{
	struct peer	**slot;
	enum proc_role	 role = p->role;
	int		 index = p->index;

	if ((slot = peer_slot(role, index)) == NULL || *slot != p)
		fatalx("peer_gone: not a mesh channel");
	log_debug("%s %d is gone", role_names[role], index);
	*slot = NULL;
	p->connected = 0;
	peer_free(p);
	if (procs[worker->role]->peer_gone != NULL)
		procs[worker->role]->peer_gone(role, index);
}

/*
 * The slot of the peer that pm names, emptied: a replacement's old one
 * died and its end may be unread yet.
 */
static struct peer **
worker_peer_clear(struct peer *p, struct imsg *imsg,
    const struct peer_msg *pm)
{
	struct peer	**slot;

	if (!(procs[worker->role]->peers & (1 << pm->role)))
		bad_imsg(p, imsg, "no channel to that role");
	slot = peer_slot(pm->role, pm->index);
	if (*slot != NULL)
		peer_gone(*slot);
	return slot;
}

static void
worker_peer_fd(struct peer *p, struct imsg *imsg)
{
	struct peer_msg	 pm;
	struct peer	**slot, *np;
	int		 fd;

	if (imsg_get_data(imsg, &pm, sizeof(pm)) == -1 ||
	    (fd = imsg_take_fd(imsg)) == -1)
		bad_imsg(p, imsg, "no descriptor");
	slot = worker_peer_clear(p, imsg, &pm);
	if ((np = calloc(1, sizeof(*np))) == NULL)
		fatal("calloc");
	peer_init(np, pm.role, pm.index, fd,
	    (procs[worker->role]->fd_peers & (1 << pm.role)) != 0);
	*slot = np;
}

static void
worker_send_stats(struct peer *p, uint32_t peerid)
{
	peer_compose(p, IMSG_STATS, peerid, -1, &worker->stats,
	    sizeof(worker->stats));
}

/* What every worker does with the parent's messages; the rest: its role. */
static int
worker_generic(struct peer *p, struct imsg *imsg)
{
	struct peer_msg	 pm;
	uint32_t	 gen;
	int32_t		 v;

	switch (imsg->hdr.type) {
	case IMSG_PEER_FD:
		worker_peer_fd(p, imsg);
		return 1;
	case IMSG_PEER_GONE:
		peer_get_data(p, imsg, &pm, sizeof(pm));
		worker_peer_clear(p, imsg, &pm);
		return 1;
	case IMSG_CFG_LIMITS:
		peer_get_data(p, imsg, &worker->lim, sizeof(worker->lim));
		return 0;	/* the role may start collecting its lists */
	case IMSG_CFG_END:
		peer_get_data(p, imsg, &gen, sizeof(gen));
		procs[worker->role]->configured(!worker->configured);
		if (worker->configured)
			log_info("configuration reloaded");
		worker->configured = 1;
		worker->generation = gen;
		peer_compose(&worker->parent, IMSG_CFG_DONE, 0, -1, &gen,
		    sizeof(gen));
		return 1;
	case IMSG_TREE_READY:
		if (!worker->serving) {
			worker->serving = 1;
			if (procs[worker->role]->serve != NULL)
				procs[worker->role]->serve();
		}
		return 1;
	case IMSG_LOG_VERBOSE:
		peer_get_data(p, imsg, &v, sizeof(v));
		log_setverbose(v);
		return 1;
	case IMSG_STOP:
		if (worker->stopping)
			return 1;
		worker->stopping = 1;
		if (procs[worker->role]->stop != NULL)
			procs[worker->role]->stop();
		else
			worker_exit();
		return 1;
	default:
		return 0;
	}
}

/* Handle every complete message already read from this channel. */
static void
peer_drain(struct peer *p)
{
	const char	*why;
	struct imsg	 imsg;
	int		 r, now;
	peer_dispatch_fn fn;

	while (p->connected) {
		if ((r = imsg_get(&p->ibuf, &imsg)) == -1)
			fatal("%s: malformed message from %s %d",
			    role_names[worker->role], role_names[p->role],
			    p->index);
		if (r == 0)
			break;
		now = !worker->configured ? PH_START : PH_RUN | PH_TREE;
		if (msg_check(worker->role, p->role, now, &imsg, &why) == -1)
			bad_imsg(p, &imsg, why);
		if (imsg.hdr.type == IMSG_STATS_REQ)
			worker_send_stats(p, imsg.hdr.peerid);
		else if (p->role != ROLE_PARENT || !worker_generic(p, &imsg)) {
			if ((fn = procs[worker->role]->dispatch[p->role]) ==
			    NULL)
				bad_imsg(p, &imsg, "no dispatcher");
			fn(p, &imsg);
		}
		imsg_free(&imsg);
		/* the handler may have ended this channel (PEER_FD, GONE) */
		if (p != &worker->parent && peer_for(p->role, p->index) != p)
			return;
	}
}

static void
peer_event(int fd, short ev, void *arg)
{
	struct peer	*p = arg;
	ssize_t		 n;

	if ((ev & EV_WRITE) && peer_flush(p) == -1)
		return;
	if (ev & EV_READ) {
		n = imsgbuf_read(&p->ibuf);
		if (n == -1 && errno == EAGAIN)
			goto done;
		if (n == 0 || n == -1) {
			/* the parent went away: nothing is left to serve */
			if (p == &worker->parent)
				_exit(0);
			if (n == -1)
				log_warn("%s: read from %s %d",
				    role_names[worker->role],
				    role_names[p->role], p->index);
			peer_gone(p);
			return;
		}
		peer_drain(p);
		if (p != &worker->parent && peer_for(p->role, p->index) != p)
			return;
	}
done:
	peer_update(p);
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
	const char	*why;
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
	    msg_check(worker->role, ROLE_PARENT, PH_START, &imsg, &why) == -1 ||
	    imsg_get_data(&imsg, pm, sizeof(*pm)) == -1)
		fatalx("bad start-up message from the parent");
	imsg_free(&imsg);
}

void
worker_main(enum proc_role role, int index, int debug)
{
	struct priv_msg	 pm;
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
	proc_title(title);

	/*
	 * Ctrl-C in a terminal reaches the whole group and systemd signals
	 * the whole cgroup: the parent decides, and says so over the channel.
	 */
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);

	worker_read_priv(&pm);
	log_setverbose(pm.verbose);
	memcpy(relay_pk, pm.relay_pk, sizeof(relay_pk));
	if (fcntl(PARENT_FD, F_SETFL, O_NONBLOCK) == -1)
		fatal("fcntl");

	/* Everything that opens a descriptor happens before the sandbox. */
	if ((worker->base = event_base_new()) == NULL)
		fatalx("event_base_new");
	if (crypto_init() == -1)
		fatalx("OpenSSL could not set up its algorithms");
	procs[role]->init();

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

/* ==== helpers every role uses ==== */

static char	*title_base;	/* the argv strings, one after the other */
static size_t	 title_len;

void
proc_title_init(int argc, char *argv[])
{
	int	 i;

	if (argc < 1 || argv[0] == NULL)
		return;
	/* only the contiguous argv area: the environment stays as it is */
	for (i = 1; i < argc; i++)
		if (argv[i] != argv[i - 1] + strlen(argv[i - 1]) + 1)
			break;
	title_base = argv[0];
	title_len = argv[i - 1] + strlen(argv[i - 1]) + 1 - argv[0];
}

/*
 * The process title ps(1) shows: "relayd: <what>", nothing after it. The
 * title goes where argv was, NUL-padded; the last byte of that area is
 * made non-zero, which tells the kernel to show the title only up to its
 * NUL instead of the whole area.
 */
void
proc_title(const char *what)
{
	if (title_base == NULL || title_len < 2)
		return;
	memset(title_base, '\0', title_len);
	snprintf(title_base, title_len - 1, "relayd: %s", what);
	title_base[title_len - 1] = ' ';
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
