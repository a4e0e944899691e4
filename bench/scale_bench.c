/* SPDX-License-Identifier: ISC */
/*
 * scale_bench.c: what idle state costs relayd, and how fast leases
 * register when there are many.
 *
 * usage: scale_bench -p PIDS [-T secs] leases PORT RELAY_ID STEPS PERCONN
 *        scale_bench -p PIDS sessions PORT RELAY_ID STEPS
 *
 * leases: control connections, each with its own identity, registering
 * PERCONN leases each, up to every count of STEPS in turn (e.g.
 * 1000,10000,30000). At each step: relayd's RSS over its baseline per
 * lease, and the registration time so far (connections are opened
 * first and not counted; registrations are pipelined, up to 1024 in
 * flight) with relayd's CPU time for them. -T caps the registration time
 * of a step: past it the step is reported incomplete and the run ends.
 * sessions: idle paired sessions (one holder, one requester, one lease)
 * up to every count of STEPS; relayd's RSS over its baseline per
 * session. -p names relayd's process tree (its PID).
 *
 * Each step prints one line of key=value pairs.
 */
#include "config.h"

#include <sys/epoll.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

#define REG_WINDOW	1024
#define OPEN_THREADS	4

static pid_t	 roots[MAX_ROOTS];
static int	 nroots;
static double	 reg_timeout = 600;

struct lconn {
	struct bconn	 bc;
	int		 nreg;		/* leases asked for */
	int		 ndone;		/* leases granted */
};

static struct lconn	*lc;
static int		 worker_idx;	/* in a worker: names are unique */
static int		 port;
static const char	*relay_id;

static void
usage(void)
{
	fprintf(stderr, "usage: scale_bench -p PIDS [-T secs] leases PORT "
	    "RELAY_ID STEPS PERCONN\n"
	    "       scale_bench -p PIDS sessions PORT RELAY_ID STEPS\n");
	exit(2);
}

static int
parse_steps(const char *s, int *steps, int max)
{
	char	*copy, *p, *tok;
	int	 n = 0, prev = 0;

	if ((copy = strdup(s)) == NULL)
		die("strdup");
	for (p = copy; (tok = strsep(&p, ",")) != NULL;) {
		if (n == max || atoi(tok) <= prev)
			die("steps must increase: %s", s);
		prev = steps[n++] = atoi(tok);
	}
	free(copy);
	return n;
}

struct opener {
	int	 from, to, src;
	int	 failed;
};

static void *
open_range(void *arg)
{
	struct opener	*o = arg;
	struct identity	 id;
	int		 i;

	for (i = o->from; i < o->to; i++) {
		if (identity_generate(&id) == -1 ||
		    bc_open(&lc[i].bc, port, o->src * 16 + i % 16, &id,
		    relay_id) == -1) {
			o->failed = 1;
			fprintf(stderr, "control connection %d: cannot open "
			    "it\n", i);
			return NULL;
		}
		identity_clear(&id);
	}
	return NULL;
}

/* Connections [from, to), in parallel; the seconds it took. */
static double
open_conns(int from, int to, int src)
{
	struct opener	 o[OPEN_THREADS];
	pthread_t	 t[OPEN_THREADS];
	double		 t0 = now();
	int		 i, n = to - from;

	for (i = 0; i < OPEN_THREADS; i++) {
		o[i].from = from + n * i / OPEN_THREADS;
		o[i].to = from + n * (i + 1) / OPEN_THREADS;
		o[i].failed = 0;
		o[i].src = src;
		if (pthread_create(&t[i], NULL, open_range, &o[i]) != 0)
			die("pthread_create");
	}
	for (i = 0; i < OPEN_THREADS; i++) {
		pthread_join(t[i], NULL);
		if (o[i].failed)
			die("could not open the control connections");
	}
	return now() - t0;
}

static int
ep_add(int ep, int fd, int idx)
{
	struct epoll_event	 ev;

	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.u32 = idx;
	return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

/*
 * Register leases until `total` are held over conns [0, nconns), each
 * conn up to perconn. Returns 0, or -1 past the time limit (*held says
 * how many were granted).
 */
static int
register_up_to(int ep, struct proto_arena *a, int nconns, int perconn,
    int total, int *held, double limit)
{
	struct epoll_event	 evs[256];
	RelayMessage		*m;
	char			 name[32];
	int			 inflight = 0, next = 0, n, i, err, idx;
	int			 asked = *held;

	while (*held < total) {
		/* keep the window full, round robin over the connections */
		while (inflight < REG_WINDOW && asked < total) {
			struct lconn	*c = &lc[next];

			if (c->nreg < perconn) {
				snprintf(name, sizeof(name), "l%d-%d-%d",
				    worker_idx, next, c->nreg);
				if (send_register(&c->bc, name, c->nreg + 1,
				    3600) == -1)
					die("register: cannot write to the "
					    "relay");
				c->nreg++;
				asked++;
				inflight++;
			}
			next = (next + 1) % nconns;
		}
		if (now() > limit)
			return -1;
		if ((n = epoll_wait(ep, evs, 256, 1000)) == -1) {
			if (errno == EINTR)
				continue;
			die("epoll_wait: %s", strerror(errno));
		}
		for (i = 0; i < n; i++) {
			idx = evs[i].data.u32;
			if (bc_fill(&lc[idx].bc) == -1 && lc[idx].bc.inlen == 0)
				die("the relay closed control connection %d",
				    idx);
			while ((m = bc_next(&lc[idx].bc, a, &err)) != NULL) {
				if (m->msg_case ==
				    RELAY__V1__RELAY_MESSAGE__MSG_ERROR)
					die("register refused: %s: %s",
					    proto_error_name(m->error->code),
					    m->error->message);
				if (m->msg_case !=
				    RELAY__V1__RELAY_MESSAGE__MSG_REGISTERED)
					continue;
				lc[idx].ndone++;
				(*held)++;
				inflight--;
			}
			if (err)
				die("a bad message on connection %d", idx);
		}
	}
	return 0;
}

/*
 * One process holds at most FDS_PER_WORKER descriptors (the hard limit
 * may be low, 20000 here): the work is split over worker processes that
 * each take a share and obey one-word commands from the parent, so that
 * the parent can time a step over all of them and read relayd's RSS
 * between steps.
 */
#define FDS_PER_WORKER	15000

struct worker {
	pid_t	 pid;
	int	 cmd, reply;
};

static struct worker	*wk;
static int		 nwk;

static int
share(int total, int i, int n)
{
	return total * (i + 1) / n - total * i / n;
}

static void
wk_send(int i, long a, long b)
{
	long	 msg[2] = { a, b };

	if (write(wk[i].cmd, msg, sizeof(msg)) != sizeof(msg))
		die("worker %d is gone", i);
}

/*
 * Every worker's answer: the sum of their numbers; -1 if one failed
 * (wk_partial then holds the sum of what the failed ones had done).
 */
static long	 wk_partial;

static long
wk_wait_all(void)
{
	long	 v, sum = 0;
	int	 i, bad = 0;

	wk_partial = 0;
	for (i = 0; i < nwk; i++) {
		if (read(wk[i].reply, &v, sizeof(v)) != sizeof(v))
			bad = 1;
		else if (v < 0) {
			bad = 1;
			wk_partial += -v - 1;
		} else {
			sum += v;
			wk_partial += v;
		}
	}
	return bad ? -1 : sum;
}

static void
wk_start(int n, void (*body)(int, int, int, int))
{
	int	 c[2], r[2], i, j;

	nwk = n;
	if ((wk = calloc(n, sizeof(*wk))) == NULL)
		die("calloc");
	for (i = 0; i < n; i++) {
		if (pipe2(c, O_CLOEXEC) == -1 || pipe2(r, O_CLOEXEC) == -1)
			die("pipe: %s", strerror(errno));
		if ((wk[i].pid = fork()) == -1)
			die("fork: %s", strerror(errno));
		if (wk[i].pid == 0) {
			for (j = 0; j < i; j++) {
				close(wk[j].cmd);
				close(wk[j].reply);
			}
			close(c[1]);
			close(r[0]);
			body(i, n, c[0], r[1]);
			_exit(0);
		}
		close(c[0]);
		close(r[1]);
		wk[i].cmd = c[1];
		wk[i].reply = r[0];
	}
}

static void
wk_stop(void)
{
	int	 i;

	for (i = 0; i < nwk; i++) {
		close(wk[i].cmd);
		close(wk[i].reply);
	}
	for (i = 0; i < nwk; i++)
		waitpid(wk[i].pid, NULL, 0);
	free(wk);
}

static int	 perconn_g;

/*
 * A leases worker: "open N" opens connections up to N of its own,
 * "reg N" registers until it holds N leases (answering how many it
 * holds, or -1 past its deadline).
 */
static void
lease_worker(int idx, int n, int cfd, int rfd)
{
	struct proto_arena	 a;
	long			 msg[2], v;
	int			 ep, nconns = 0, held = 0, i;

	worker_idx = idx;
	if ((lc = calloc(FDS_PER_WORKER, sizeof(*lc))) == NULL ||
	    (ep = epoll_create1(EPOLL_CLOEXEC)) == -1 ||
	    proto_arena_init(&a, PROTO_ARENA_CLIENT) == -1)
		_exit(1);
	while (read(cfd, msg, sizeof(msg)) == sizeof(msg)) {
		if (msg[0] == 'o') {
			if (msg[1] > FDS_PER_WORKER)
				die("too many connections for one worker");
			/* sources spread per worker: ports stay plentiful */
			(void)open_conns(nconns, msg[1], idx);
			for (i = nconns; i < msg[1]; i++)
				if (ep_add(ep, lc[i].bc.fd, i) == -1)
					die("epoll_ctl: %s", strerror(errno));
			nconns = msg[1];
			v = nconns;
		} else {
			/* past the deadline: -(held + 1), how far it got */
			v = register_up_to(ep, &a, nconns, perconn_g, msg[1],
			    &held, now() + reg_timeout) == -1 ? -held - 1 : held;
			if (v < 0) {
				/* say how far it got, then give up */
				fprintf(stderr, "worker %d: %d of %ld leases "
				    "registered in %.0f s\n", idx, held,
				    msg[1], reg_timeout);
			}
		}
		if (write(rfd, &v, sizeof(v)) != sizeof(v))
			_exit(1);
	}
	(void)n;
	_exit(0);
}

static void
leases(int *steps, int nsteps, int perconn)
{
	double		 reg_secs = 0, open_secs = 0, cpu = 0, t0, c0;
	long		 base, rss, got;
	int		 s, nconns, i, n;

	perconn_g = perconn;
	n = (steps[nsteps - 1] / perconn + FDS_PER_WORKER - 1) /
	    FDS_PER_WORKER;
	base = tree_rss_kib(roots, nroots);
	wk_start(n, lease_worker);
	for (s = 0; s < nsteps; s++) {
		nconns = (steps[s] + perconn - 1) / perconn;
		t0 = now();
		for (i = 0; i < nwk; i++)
			wk_send(i, 'o', share(nconns, i, nwk));
		if (wk_wait_all() != nconns)
			die("could not open %d control connections", nconns);
		open_secs += now() - t0;
		c0 = tree_cpu(roots, nroots);
		t0 = now();
		/* each worker's share of leases fits its connections */
		for (i = 0; i < nwk; i++)
			wk_send(i, 'r', (long)share(nconns, i, nwk) * steps[s] /
			    nconns);
		got = wk_wait_all();
		reg_secs += now() - t0;
		cpu += tree_cpu(roots, nroots) - c0;
		if (got == -1) {
			rss = tree_rss_kib(roots, nroots) - base;
			printf("leases=%d perconn=%d conns=%d incomplete=1 "
			    "held=%ld rss_kib=%ld kib_per_lease=%.2f "
			    "reg_secs=%.2f relay_cpu_s=%.2f\n", steps[s],
			    perconn, nconns, wk_partial, rss, wk_partial > 0 ?
			    (double)rss / wk_partial : 0, reg_secs, cpu);
			break;
		}
		rss = tree_rss_kib(roots, nroots) - base;
		printf("leases=%ld perconn=%d conns=%d rss_kib=%ld "
		    "kib_per_lease=%.2f reg_secs=%.3f reg_rate=%.0f "
		    "relay_cpu_s=%.3f open_per_s=%.0f\n", got, perconn,
		    nconns, rss, (double)rss / got, reg_secs, got / reg_secs,
		    cpu, nconns / open_secs);
	}
	wk_stop();
}

/* A sessions worker: "pair N" holds N idle sessions of its own. */
static void
session_worker(int idx, int n, int cfd, int rfd)
{
	struct pairer	 pr;
	long		 msg[2], v;
	int		*fq, *fh, open = 0;
	char		 name[32];

	if ((fq = calloc(FDS_PER_WORKER / 2, sizeof(int))) == NULL ||
	    (fh = calloc(FDS_PER_WORKER / 2, sizeof(int))) == NULL)
		_exit(1);
	snprintf(name, sizeof(name), "idle%d", idx);
	if (pairer_open(&pr, port, relay_id, name) == -1)
		_exit(1);
	v = 0;
	if (write(rfd, &v, sizeof(v)) != sizeof(v))
		_exit(1);
	while (read(cfd, msg, sizeof(msg)) == sizeof(msg)) {
		if (msg[1] > FDS_PER_WORKER / 2)
			die("too many sessions for one worker");
		if (msg[1] > open) {
			if (pair_many(&pr, msg[1] - open, 128, fq + open,
			    fh + open) == -1)
				v = -1;
			else
				v = open = msg[1];
		} else
			v = open;
		if (write(rfd, &v, sizeof(v)) != sizeof(v))
			_exit(1);
	}
	(void)n;
	_exit(0);
}

static void
sessions(int *steps, int nsteps)
{
	long	 base, rss, got;
	double	 t0;
	int	 s, i, n;

	n = (2 * steps[nsteps - 1] + FDS_PER_WORKER - 1) / FDS_PER_WORKER;
	wk_start(n, session_worker);
	if (wk_wait_all() == -1)
		die("cannot reach the relay");
	/* the baseline: relayd with the control connections and leases */
	base = tree_rss_kib(roots, nroots);
	for (s = 0; s < nsteps; s++) {
		t0 = now();
		for (i = 0; i < nwk; i++)
			wk_send(i, 'p', share(steps[s], i, nwk));
		if ((got = wk_wait_all()) != steps[s]) {
			printf("sessions=%d incomplete=1\n", steps[s]);
			break;
		}
		rss = tree_rss_kib(roots, nroots) - base;
		printf("sessions=%ld rss_kib=%ld kib_per_session=%.2f "
		    "pair_secs=%.2f\n", got, rss, (double)rss / got,
		    now() - t0);
	}
	wk_stop();
}

int
main(int argc, char *argv[])
{
	int	 steps[16], nsteps;
	struct bench_opt opts[] = {
		{ 'p', OPT_PIDS, roots, &nroots },
		{ 'T', OPT_DOUBLE, &reg_timeout, NULL },
		{ 0, OPT_INT, NULL, NULL }
	};

	bench_start(&argc, &argv, "", opts, usage);
	signal(SIGPIPE, SIG_IGN);
	if (argc < 4 || nroots == 0)
		usage();
	port = atoi(argv[1]);
	relay_id = argv[2];
	nsteps = parse_steps(argv[3], steps, 16);
	if (strcmp(argv[0], "leases") == 0 && argc == 5 && atoi(argv[4]) > 0)
		leases(steps, nsteps, atoi(argv[4]));
	else if (strcmp(argv[0], "sessions") == 0 && argc == 4)
		sessions(steps, nsteps);
	else
		usage();
	return 0;
}
