/* SPDX-License-Identifier: ISC */
/*
 * fwd_bench.c: throughput of relayd's data path (a paired session,
 * forwarded with splice by a fwd worker) against a peer measured in the
 * same run: a direct loopback TCP connection, or any TCP forwarder given
 * by port (socat, HAProxy). The bytes are opaque to the relay, so no
 * encryption is involved here: this measures the forwarder alone.
 *
 * usage: fwd_bench relay PORT RELAY_ID MIB
 *        fwd_bench direct MIB
 *        fwd_bench via FWDPORT SINKPORT MIB   (FWDPORT forwards to SINKPORT)
 * Prints one line: "<what> <MiB> MiB in <s> s: <MB/s> MB/s".
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/wait.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tclient.h"

#define CHUNK	(256 * 1024)

static double
now(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Write mib MiB into wfd from a child; read them all from rfd; time it. */
static double
pump(int wfd, int rfd, long mib)
{
	static char	 buf[CHUNK];
	long long	 total = mib * 1024LL * 1024, got = 0;
	double		 t0;
	ssize_t		 n;
	pid_t		 pid;

	memset(buf, 'x', sizeof(buf));
	t0 = now();
	if ((pid = fork()) == 0) {
		long long	 left = total;

		close(rfd);
		while (left > 0) {
			n = write(wfd, buf, left < CHUNK ? left : CHUNK);
			if (n <= 0)
				_exit(1);
			left -= n;
		}
		shutdown(wfd, SHUT_WR);
		_exit(0);
	}
	close(wfd);
	while (got < total && (n = read(rfd, buf, sizeof(buf))) > 0)
		got += n;
	waitpid(pid, NULL, 0);
	if (got != total) {
		fprintf(stderr, "short transfer: %lld of %lld bytes\n", got,
		    total);
		exit(1);
	}
	return now() - t0;
}

static int
listener(int *port)
{
	struct sockaddr_in	 sin;
	socklen_t		 len = sizeof(sin);
	int			 fd = socket(AF_INET, SOCK_STREAM, 0);

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons(*port);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    listen(fd, 4) == -1 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) == -1) {
		perror("listener");
		exit(1);
	}
	*port = ntohs(sin.sin_port);
	return fd;
}

static void
report(const char *what, long mib, double secs)
{
	printf("%s %ld MiB in %.3f s: %.1f MB/s\n", what, mib, secs,
	    mib * 1048576.0 / secs / 1e6);
}

/* A paired session through the relay: two control clients, two halves. */
static void
via_relay(int port, const char *relay_id, long mib)
{
	struct identity		 h, q;
	struct tconn		 th, tq;
	ClientMessage		 m = RELAY__V1__CLIENT_MESSAGE__INIT;
	Relay__V1__Register	 reg = RELAY__V1__REGISTER__INIT;
	Relay__V1__Connect	 con = RELAY__V1__CONNECT__INIT;
	Relay__V1__Accept	 acc = RELAY__V1__ACCEPT__INIT;
	RelayMessage		*r;
	uint8_t			 sid[SESSION_ID_LEN], tok_h[TOKEN_LEN];
	uint8_t			 tok_q[TOKEN_LEN];
	char			*alpn[] = { (char *)"bench" };
	int			 fh, fq;

	if (identity_generate(&h) == -1 || identity_generate(&q) == -1 ||
	    t_ctl_open(&th, port, &h, relay_id) == -1 ||
	    t_ctl_open(&tq, port, &q, relay_id) == -1) {
		fprintf(stderr, "cannot reach the relay\n");
		exit(1);
	}
	reg.name = (char *)"bench";
	reg.alpn = alpn;
	reg.n_alpn = 1;
	m.msg_case = RELAY__V1__CLIENT_MESSAGE__MSG_REGISTER;
	m.register_ = &reg;
	t_send(&th, &m);
	if ((r = t_recv(&th, 5000)) == NULL ||
	    r->msg_case != RELAY__V1__RELAY_MESSAGE__MSG_REGISTERED)
		exit(1);
	con.target_case = RELAY__V1__CONNECT__TARGET_NAME;
	con.name = (char *)"bench";
	con.alpn = (char *)"bench";
	m.msg_case = RELAY__V1__CLIENT_MESSAGE__MSG_CONNECT;
	m.connect = &con;
	t_send(&tq, &m);
	if ((r = t_recv(&th, 5000)) == NULL ||
	    r->msg_case != RELAY__V1__RELAY_MESSAGE__MSG_INCOMING)
		exit(1);
	memcpy(sid, r->incoming->session_id.data, SESSION_ID_LEN);
	memcpy(tok_h, r->incoming->token.data, TOKEN_LEN);
	acc.session_id.data = sid;
	acc.session_id.len = SESSION_ID_LEN;
	m.msg_case = RELAY__V1__CLIENT_MESSAGE__MSG_ACCEPT;
	m.accept = &acc;
	t_send(&th, &m);
	if ((r = t_recv(&tq, 5000)) == NULL ||
	    r->msg_case != RELAY__V1__RELAY_MESSAGE__MSG_CONNECTED)
		exit(1);
	memcpy(tok_q, r->connected->token.data, TOKEN_LEN);
	fq = t_data_open(port, tok_q);
	fh = t_data_open(port, tok_h);
	report("relayd", mib, pump(fq, fh, mib));
}

int
main(int argc, char *argv[])
{
	int	 lfd, a, b, port = 0;
	long	 mib;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 5 && strcmp(argv[1], "relay") == 0) {
		via_relay(atoi(argv[2]), argv[3], atol(argv[4]));
		return 0;
	}
	if (argc == 3 && strcmp(argv[1], "direct") == 0) {
		mib = atol(argv[2]);
		lfd = listener(&port);
		a = t_tcp_connect(port);
		b = accept(lfd, NULL, NULL);
		report("direct", mib, pump(a, b, mib));
		return 0;
	}
	if (argc == 5 && strcmp(argv[1], "via") == 0) {
		/* a forwarder listening on FWDPORT sends to our SINKPORT */
		port = atoi(argv[3]);
		mib = atol(argv[4]);
		lfd = listener(&port);
		a = t_tcp_connect(atoi(argv[2]));
		b = accept(lfd, NULL, NULL);
		report("forwarder", mib, pump(a, b, mib));
		return 0;
	}
	fprintf(stderr, "usage: fwd_bench relay PORT RELAY_ID MIB | "
	    "direct MIB | via FWDPORT SINKPORT MIB\n");
	return 2;
}
