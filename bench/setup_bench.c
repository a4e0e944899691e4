/* SPDX-License-Identifier: ISC */
/*
 * setup_bench.c: how fast sessions are set up, with N requesters at once
 * for a fixed time. A session is complete when the requester has sent a
 * byte and a half-close, received the far end's byte and its end of
 * stream: pairing, first bytes both ways and teardown, as an application
 * would see them.
 *
 * usage: setup_bench serve PORTFILE
 *        setup_bench [-c PIDS] [-C PIDS] [-n conc] [-t secs] tcp PORT
 *        setup_bench [-c PIDS] [-C PIDS] [-n conc] [-t secs] relay PORT ID
 *        setup_bench [-c PIDS] [-C PIDS] [-n conc] [-t secs] exec CMD...
 *
 * serve: the far end for forwarders (HAProxy, ssh -L, relay-client
 * expose): for each connection it writes one byte, half-closes, and
 * closes when the peer has half-closed; its port goes to PORTFILE.
 * tcp: each session a TCP connection to PORT (a forwarder in front of a
 * serve). relay: each session paired through relayd's control protocol
 * (Connect, Incoming, Accept, Connected and two data connections), a
 * built-in lease holder on the other side. exec: each session a process
 * (relay-client connect) carrying stdin and stdout.
 *
 * -c and -C name process trees whose CPU time is counted: the server
 * side (relayd, HAProxy, sshd) and the client side (ssh, relay-client
 * forward and expose; exec adds its children). One line of key=value:
 *   rate= p50_ms= p99_ms= cpu_ms= ccpu_ms= sessions= conc= errors=
 * where cpu_ms and ccpu_ms are CPU milliseconds per session.
 */
#include "config.h"

#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

#define MAX_CONC	256
#define MAX_SAMPLES	(1 << 20)

extern char	**environ;

static pid_t	 sroots[MAX_ROOTS], croots[MAX_ROOTS];
static int	 nsroots, ncroots;
static int	 conc = 1, port;
static double	 secs = 3, deadline;
static const char *relay_id;
static char	**exec_argv;

static pthread_mutex_t	 mtx = PTHREAD_MUTEX_INITIALIZER;
static double		*samples;
static int		 nsamples, errors;
static double		 child_cpu;
static volatile int	 stop_holder;
static int		 srv_ep = -1;

static void
usage(void)
{
	fprintf(stderr, "usage: setup_bench serve PORTFILE\n"
	    "       setup_bench [-c PIDS] [-C PIDS] [-n conc] [-t secs] "
	    "tcp PORT\n"
	    "       setup_bench [-c PIDS] [-C PIDS] [-n conc] [-t secs] "
	    "relay PORT RELAY_ID\n"
	    "       setup_bench [-c PIDS] [-C PIDS] [-n conc] [-t secs] "
	    "exec CMD [ARG...]\n");
	exit(2);
}

static void
record(double t0, int ok)
{
	double	 t = now() - t0;

	pthread_mutex_lock(&mtx);
	if (!ok)
		errors++;
	else if (nsamples < MAX_SAMPLES)
		samples[nsamples++] = t;
	pthread_mutex_unlock(&mtx);
}

/* The requester's half of a session on fd: a byte and EOF each way. */
static int
exchange(int wfd, int rfd)
{
	char	 c[2];
	int	 r;

	if (write_full(wfd, "Q", 1) == -1)
		return -1;
	if (wfd == rfd)
		(void)shutdown(wfd, SHUT_WR);
	else
		close(wfd);
	if (read_full(rfd, c, 1, BENCH_TIMEOUT_MS) != 0 || c[0] != 'B')
		return -1;
	r = read_full(rfd, c, 1, BENCH_TIMEOUT_MS);
	return r == -2 ? 0 : -1;
}

/* ---- the far end: one epoll loop, in its own thread or process ---- */

static void
serve_add(int fd)
{
	struct epoll_event	 ev;

	/* the byte first: it waits in the socket until the peer reads */
	if (write_full(fd, "B", 1) == -1) {
		close(fd);
		return;
	}
	(void)shutdown(fd, SHUT_WR);
	(void)set_nonblock(fd, 1);
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN | EPOLLRDHUP;
	ev.data.fd = fd;
	if (epoll_ctl(srv_ep, EPOLL_CTL_ADD, fd, &ev) == -1)
		close(fd);
}

static void *
serve_loop(void *arg)
{
	struct epoll_event	 evs[256];
	char			 buf[4096];
	int			 lfd = arg == NULL ? -1 : *(int *)arg;
	int			 n, i, fd;
	ssize_t			 r;

	for (;;) {
		if ((n = epoll_wait(srv_ep, evs, 256, -1)) == -1) {
			if (errno == EINTR)
				continue;
			die("epoll_wait: %s", strerror(errno));
		}
		for (i = 0; i < n; i++) {
			fd = evs[i].data.fd;
			if (fd == lfd) {
				while ((fd = accept4(lfd, NULL, NULL,
				    SOCK_CLOEXEC)) != -1)
					serve_add(fd);
				continue;
			}
			while ((r = read(fd, buf, sizeof(buf))) > 0)
				;
			if (r == 0 || (r == -1 && errno != EAGAIN)) {
				(void)epoll_ctl(srv_ep, EPOLL_CTL_DEL, fd, NULL);
				close(fd);
			}
		}
	}
	return NULL;
}

static void
serve_start(int lfd, int thread)
{
	struct epoll_event	 ev;
	static int		 l;
	pthread_t		 t;

	if ((srv_ep = epoll_create1(EPOLL_CLOEXEC)) == -1)
		die("epoll_create1: %s", strerror(errno));
	l = lfd;
	if (lfd != -1) {
		(void)set_nonblock(lfd, 1);
		memset(&ev, 0, sizeof(ev));
		ev.events = EPOLLIN;
		ev.data.fd = lfd;
		if (epoll_ctl(srv_ep, EPOLL_CTL_ADD, lfd, &ev) == -1)
			die("epoll_ctl: %s", strerror(errno));
	}
	if (!thread) {
		serve_loop(&l);
		return;
	}
	if (pthread_create(&t, NULL, serve_loop, lfd == -1 ? NULL : &l) != 0)
		die("pthread_create");
	pthread_detach(t);
}

static void
serve(const char *portfile)
{
	char	 tmp[4096];
	FILE	*f;
	int	 p = 0, lfd;

	signal(SIGPIPE, SIG_IGN);
	lfd = tcp_listen(&p);
	snprintf(tmp, sizeof(tmp), "%s.tmp", portfile);
	if ((f = fopen(tmp, "w")) == NULL || fprintf(f, "%d\n", p) < 0 ||
	    fclose(f) != 0 || rename(tmp, portfile) == -1)
		die("%s: %s", portfile, strerror(errno));
	serve_start(lfd, 0);
}

/* ---- requesters ---- */

static void *
tcp_requester(void *arg)
{
	double	 t0;
	int	 fd, ok;

	(void)arg;
	while (now() < deadline) {
		t0 = now();
		ok = (fd = tcp_connect(port, -1)) != -1 &&
		    exchange(fd, fd) == 0;
		if (fd != -1)
			close(fd);
		record(t0, ok);
	}
	return NULL;
}

static void *
holder_loop(void *arg)
{
	struct bconn		*h = arg;
	struct proto_arena	 a;
	RelayMessage		*m;
	int			 fd, n = 0;

	if (proto_arena_init(&a, PROTO_ARENA_CLIENT) == -1)
		die("arena");
	while (!stop_holder) {
		if ((m = bc_recv(h, &a, 200)) == NULL) {
			if (h->closed)
				die("the relay closed the holder's connection");
			continue;
		}
		if (m->msg_case != RELAY__V1__RELAY_MESSAGE__MSG_INCOMING ||
		    m->incoming->session_id.len != SESSION_ID_LEN ||
		    m->incoming->token.len != TOKEN_LEN)
			continue;
		if (send_accept(h, m->incoming->session_id.data) == -1)
			die("accept: cannot write to the relay");
		if ((fd = data_open(port, n++ % 8,
		    m->incoming->token.data)) == -1)
			continue;
		serve_add(fd);
	}
	proto_arena_free(&a);
	return NULL;
}

struct rq {
	struct identity	 id;
	struct bconn	 bc;
	int		 idx;
};

static void *
relay_requester(void *arg)
{
	struct rq		*rq = arg;
	struct proto_arena	 a;
	RelayMessage		*m;
	uint32_t		 reqid = 1;
	double			 t0;
	int			 fd, ok;

	if (proto_arena_init(&a, PROTO_ARENA_CLIENT) == -1)
		die("arena");
	while (now() < deadline) {
		t0 = now();
		ok = 0;
		fd = -1;
		if (send_connect(&rq->bc, "rawsetup", reqid) == -1)
			die("connect: cannot write to the relay");
		while ((m = bc_recv(&rq->bc, &a, BENCH_TIMEOUT_MS)) != NULL &&
		    m->msg_case != RELAY__V1__RELAY_MESSAGE__MSG_CONNECTED &&
		    m->msg_case != RELAY__V1__RELAY_MESSAGE__MSG_ERROR)
			;
		if (m == NULL)
			die("connect: no answer from the relay");
		if (m->msg_case == RELAY__V1__RELAY_MESSAGE__MSG_CONNECTED &&
		    m->connected->token.len == TOKEN_LEN &&
		    (fd = data_open(port, 8 + rq->idx % 8,
		    m->connected->token.data)) != -1)
			ok = exchange(fd, fd) == 0;
		else if (m->msg_case == RELAY__V1__RELAY_MESSAGE__MSG_ERROR &&
		    errors < 5)
			fprintf(stderr, "connect: %s: %s\n",
			    proto_error_name(m->error->code),
			    m->error->message != NULL ? m->error->message : "");
		if (fd != -1)
			close(fd);
		reqid++;
		record(t0, ok);
	}
	proto_arena_free(&a);
	return NULL;
}

static void *
exec_requester(void *arg)
{
	posix_spawn_file_actions_t	 fa;
	struct rusage			 ru;
	double				 t0;
	pid_t				 pid;
	int				 in[2], out[2], ok, status;

	(void)arg;
	while (now() < deadline) {
		t0 = now();
		ok = 0;
		if (pipe2(in, O_CLOEXEC) == -1 || pipe2(out, O_CLOEXEC) == -1)
			die("pipe: %s", strerror(errno));
		posix_spawn_file_actions_init(&fa);
		posix_spawn_file_actions_adddup2(&fa, in[0], 0);
		posix_spawn_file_actions_adddup2(&fa, out[1], 1);
		if (posix_spawn(&pid, exec_argv[0], &fa, NULL, exec_argv,
		    environ) != 0)
			die("spawn %s: %s", exec_argv[0], strerror(errno));
		posix_spawn_file_actions_destroy(&fa);
		close(in[0]);
		close(out[1]);
		ok = exchange(in[1], out[0]) == 0;
		close(out[0]);
		if (!ok)
			kill(pid, SIGTERM);
		if (wait4(pid, &status, 0, &ru) == -1)
			die("wait4: %s", strerror(errno));
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			ok = 0;
		pthread_mutex_lock(&mtx);
		child_cpu += ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
		    ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
		pthread_mutex_unlock(&mtx);
		record(t0, ok);
	}
	return NULL;
}

static int
dcmp(const void *a, const void *b)
{
	double	 x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int
main(int argc, char *argv[])
{
	pthread_t	 th[MAX_CONC], ht;
	struct rq	*rqs = NULL;
	struct identity	 hid;
	struct bconn	 h;
	struct proto_arena a;
	RelayMessage	*m;
	void		*(*fn)(void *);
	double		 t0, el, sc0, sc1, cc0, cc1, p50, p99;
	int		 i, relay = 0;
	struct bench_opt opts[] = {
		{ 'c', OPT_PIDS, sroots, &nsroots },
		{ 'C', OPT_PIDS, croots, &ncroots },
		{ 'n', OPT_INT, &conc, NULL },
		{ 't', OPT_DOUBLE, &secs, NULL },
		{ 0, OPT_INT, NULL, NULL }
	};

	bench_start(&argc, &argv, "+", opts, usage);
	signal(SIGPIPE, SIG_IGN);
	if (argc < 2 || conc < 1 || conc > MAX_CONC || secs <= 0)
		usage();
	if (strcmp(argv[0], "serve") == 0 && argc == 2) {
		serve(argv[1]);
		return 0;
	}
	if ((samples = calloc(MAX_SAMPLES, sizeof(double))) == NULL)
		die("calloc");
	if (strcmp(argv[0], "tcp") == 0 && argc == 2) {
		port = atoi(argv[1]);
		fn = tcp_requester;
	} else if (strcmp(argv[0], "relay") == 0 && argc == 3) {
		port = atoi(argv[1]);
		relay_id = argv[2];
		relay = 1;
		fn = relay_requester;
		if (proto_arena_init(&a, PROTO_ARENA_CLIENT) == -1 ||
		    identity_generate(&hid) == -1 ||
		    bc_open(&h, port, 0, &hid, relay_id) == -1)
			die("cannot reach the relay on port %d", port);
		if (send_register(&h, "rawsetup", 1, 3600) == -1 ||
		    (m = bc_recv(&h, &a, BENCH_TIMEOUT_MS)) == NULL ||
		    m->msg_case != RELAY__V1__RELAY_MESSAGE__MSG_REGISTERED)
			die("register: refused or no answer");
		proto_arena_free(&a);
		if ((rqs = calloc(conc, sizeof(*rqs))) == NULL)
			die("calloc");
		for (i = 0; i < conc; i++) {
			rqs[i].idx = i;
			if (identity_generate(&rqs[i].id) == -1 ||
			    bc_open(&rqs[i].bc, port, 1 + i % 8, &rqs[i].id,
			    relay_id) == -1)
				die("cannot open requester %d", i);
		}
		serve_start(-1, 1);
		if (pthread_create(&ht, NULL, holder_loop, &h) != 0)
			die("pthread_create");
	} else if (strcmp(argv[0], "exec") == 0) {
		exec_argv = argv + 1;
		fn = exec_requester;
	} else
		usage();

	sc0 = tree_cpu(sroots, nsroots);
	cc0 = tree_cpu(croots, ncroots);
	t0 = now();
	deadline = t0 + secs;
	for (i = 0; i < conc; i++)
		if (pthread_create(&th[i], NULL, fn,
		    relay ? (void *)&rqs[i] : NULL) != 0)
			die("pthread_create");
	for (i = 0; i < conc; i++)
		pthread_join(th[i], NULL);
	el = now() - t0;
	sc1 = tree_cpu(sroots, nsroots);
	cc1 = tree_cpu(croots, ncroots);
	if (relay) {
		stop_holder = 1;
		pthread_join(ht, NULL);
	}
	if (nsamples == 0)
		die("no session completed (%d errors)", errors);
	qsort(samples, nsamples, sizeof(double), dcmp);
	p50 = samples[nsamples / 2];
	p99 = samples[(int)(nsamples * 0.99)];
	printf("rate=%.1f p50_ms=%.2f p99_ms=%.2f cpu_ms=%.3f ccpu_ms=%.3f "
	    "sessions=%d conc=%d errors=%d\n", nsamples / el, p50 * 1e3,
	    p99 * 1e3, (sc1 - sc0) * 1e3 / nsamples,
	    (cc1 - cc0 + child_cpu) * 1e3 / nsamples, nsamples, conc, errors);
	return errors > nsamples / 100 ? 1 : 0;
}
