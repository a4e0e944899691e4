/* SPDX-License-Identifier: ISC */
/*
 * fwd_bench.c: bulk throughput through a forwarder, for relayd's data
 * path and the peers it is compared with in the same run. The bytes are
 * opaque to every forwarder here (no encryption is added): this measures
 * the forwarder alone, and the CPU it burns (-c: the process trees whose
 * CPU time is counted).
 *
 * usage: fwd_bench [-c PIDS] [-n sessions] [-m MiB] direct
 *        fwd_bench [-c PIDS] [-n sessions] [-m MiB] [-k idle,...] [-r rounds]
 *            relay PORT RELAY_ID
 *        fwd_bench [-c PIDS] [-n sessions] [-m MiB] via FWDPORT SINKPORT
 *        fwd_bench [-c PIDS] [-m MiB] fds W1 R1 [W2 R2 ...]
 *        fwd_bench port | wait PORT
 *
 * direct: loopback TCP, no forwarder. relay: sessions paired through
 * relayd's control protocol. via: a TCP forwarder on FWDPORT that
 * connects to SINKPORT, where this listens (HAProxy, socat, ssh -L,
 * relay-client forward to expose). fds: descriptor pairs set up by
 * someone else (the strelaysrv helper), written into W and read from R.
 * With -k, relay mode first holds that many idle paired sessions open and
 * measures one new session next to them, for each count, -r rounds over
 * the counts in turn.
 *
 * port prints a free loopback port; wait waits (10 s at most) until
 * something accepts connections on PORT: helpers for bench/run.
 *
 * Each measurement prints one line of key=value pairs:
 *   gbps= secs= cpu= cpu_s_per_gib= sessions= mib= [idle=]
 * The MiB are split evenly over the sessions; every byte is counted.
 */
#include "config.h"

#include <sys/socket.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

static pid_t	 roots[MAX_ROOTS];
static int	 nroots;

static void
usage(void)
{
	fprintf(stderr, "usage: fwd_bench [-c PIDS] [-n sessions] [-m MiB] "
	    "direct\n"
	    "       fwd_bench [-c PIDS] [-n sessions] [-m MiB] [-k idle,...] "
	    "[-r rounds] relay PORT RELAY_ID\n"
	    "       fwd_bench [-c PIDS] [-n sessions] [-m MiB] via FWDPORT "
	    "SINKPORT\n"
	    "       fwd_bench [-c PIDS] [-m MiB] fds W1 R1 [W2 R2 ...]\n"
	    "       fwd_bench port | wait PORT\n");
	exit(2);
}

static void
measure(int *w, int *r, int n, long mib, int idle)
{
	long long	 bytes = (long long)mib * 1048576;
	double		 c0, c1, secs;

	c0 = tree_cpu(roots, nroots);
	if ((secs = pump(w, r, n, bytes)) < 0)
		die("transfer failed");
	c1 = tree_cpu(roots, nroots);
	printf("gbps=%.3f secs=%.3f cpu=%.3f cpu_s_per_gib=%.3f sessions=%d "
	    "mib=%ld", bytes * 8 / secs / 1e9, secs, c1 - c0,
	    (c1 - c0) / (bytes / 1073741824.0), n, mib);
	if (idle >= 0)
		printf(" idle=%d", idle);
	printf("\n");
}

static int
accept_timeout(int lfd)
{
	struct pollfd	 pfd = { lfd, POLLIN, 0 };
	int		 fd;

	if (poll(&pfd, 1, BENCH_TIMEOUT_MS) <= 0)
		die("the forwarder did not connect to the sink");
	if ((fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) == -1)
		die("accept: %s", strerror(errno));
	return fd;
}

static int *
fd_array(int n)
{
	int	*a;

	if ((a = calloc(n, sizeof(int))) == NULL)
		die("calloc");
	return a;
}

static void
parse_counts(const char *s, int *k, int *nk, int max)
{
	char	*copy, *p, *tok;

	if ((copy = strdup(s)) == NULL)
		die("strdup");
	*nk = 0;
	for (p = copy; (tok = strsep(&p, ",")) != NULL;) {
		if (*nk == max || atoi(tok) < 0)
			die("bad idle list: %s", s);
		k[(*nk)++] = atoi(tok);
	}
	free(copy);
}

/* One new session next to k idle ones, for each k, round after round. */
static void
relay_idle(struct pairer *pr, const int *k, int nk, int rounds, long mib)
{
	int	 maxk = 0, open = 0, i, r, w, rd;
	int	*iq, *ih;

	for (i = 0; i < nk; i++)
		if (k[i] > maxk)
			maxk = k[i];
	iq = fd_array(maxk + 1);
	ih = fd_array(maxk + 1);
	for (r = 0; r < rounds; r++)
		for (i = 0; i < nk; i++) {
			while (open > k[i]) {
				open--;
				close(iq[open]);
				close(ih[open]);
			}
			if (open < k[i]) {
				if (pair_many(pr, k[i] - open, 64, iq + open,
				    ih + open) == -1)
					die("cannot open %d idle sessions",
					    k[i]);
				open = k[i];
			}
			if (pair_session(pr, &w, &rd) == -1)
				die("pairing failed");
			measure(&w, &rd, 1, mib, k[i]);
		}
}

int
main(int argc, char *argv[])
{
	struct pairer	 pr;
	int		 n = 1, lfd, port, i, nk = 0, rounds = 1;
	int		 k[16];
	int		*w, *r;
	long		 mib = 1024;
	const char	*idle = NULL;
	struct bench_opt opts[] = {
		{ 'c', OPT_PIDS, roots, &nroots },
		{ 'k', OPT_STR, &idle, NULL },
		{ 'm', OPT_LONG, &mib, NULL },
		{ 'n', OPT_INT, &n, NULL },
		{ 'r', OPT_INT, &rounds, NULL },
		{ 0, OPT_INT, NULL, NULL }
	};

	bench_start(&argc, &argv, "", opts, usage);
	if (argc == 1 && strcmp(argv[0], "port") == 0) {
		port = 0;
		close(tcp_listen(&port));
		printf("%d\n", port);
		return 0;
	}
	if (argc == 2 && strcmp(argv[0], "wait") == 0) {
		double	 until = now() + 10;

		while ((lfd = tcp_connect(atoi(argv[1]), -1)) == -1)
			if (now() > until)
				return 1;
			else
				usleep(20000);
		close(lfd);
		return 0;
	}
	if (idle != NULL)
		parse_counts(idle, k, &nk, 16);
	if (argc < 1 || n < 1 || n > 4096 || mib < 1 || rounds < 1)
		usage();
	w = fd_array(n);
	r = fd_array(n);
	if (strcmp(argv[0], "direct") == 0 && argc == 1) {
		port = 0;
		lfd = tcp_listen(&port);
		for (i = 0; i < n; i++) {
			if ((w[i] = tcp_connect(port, -1)) == -1)
				die("connect: %s", strerror(errno));
			r[i] = accept_timeout(lfd);
		}
		measure(w, r, n, mib, -1);
	} else if (strcmp(argv[0], "relay") == 0 && argc == 3) {
		if (pairer_open(&pr, atoi(argv[1]), argv[2], "bench") == -1)
			exit(1);
		if (nk > 0)
			relay_idle(&pr, k, nk, rounds, mib);
		else {
			if (pair_many(&pr, n, 64, w, r) == -1)
				die("pairing failed");
			measure(w, r, n, mib, -1);
		}
		pairer_close(&pr);
	} else if (strcmp(argv[0], "via") == 0 && argc == 3) {
		port = atoi(argv[2]);
		lfd = tcp_listen(&port);
		for (i = 0; i < n; i++)
			if ((w[i] = tcp_connect(atoi(argv[1]), -1)) == -1)
				die("connect to the forwarder: %s",
				    strerror(errno));
		for (i = 0; i < n; i++)
			r[i] = accept_timeout(lfd);
		measure(w, r, n, mib, -1);
	} else if (strcmp(argv[0], "fds") == 0 && argc >= 3 &&
	    (argc - 1) % 2 == 0) {
		n = (argc - 1) / 2;
		free(w);
		free(r);
		w = fd_array(n);
		r = fd_array(n);
		for (i = 0; i < n; i++) {
			w[i] = atoi(argv[1 + 2 * i]);
			r[i] = atoi(argv[2 + 2 * i]);
		}
		measure(w, r, n, mib, -1);
	} else
		usage();
	return 0;
}
