/* SPDX-License-Identifier: ISC */
/*
 * bench_util.c: the helpers of bench.h shared by the benchmark tools:
 * process accounting from /proc, loopback sockets, a light blocking or
 * polled client of the control protocol on libcommon (handshake, records,
 * messages), session pairing and a bulk transfer. Benchmark code only:
 * it trusts the relay it measures no more than a test does (every length
 * is checked, every wait bounded) but it is not part of any product.
 */
#include "config.h"

#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buffer.h"
#include "bench.h"
#include "util.h"

#define PUMP_CHUNK	(256 * 1024)
#define MAX_PROCS	65536

double
now(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* As many descriptors as the hard limit allows. */
static void
raise_nofile(void)
{
	struct rlimit	 rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return;
	rl.rlim_cur = rl.rlim_max;
	(void)setrlimit(RLIMIT_NOFILE, &rl);
}

int
parse_pids(const char *s, pid_t *roots, int max)
{
	char	*copy, *p, *tok, *end;
	int	 n = 0;
	long	 v;

	if (s == NULL || *s == '\0')
		return 0;
	if ((copy = strdup(s)) == NULL)
		die("strdup");
	for (p = copy; (tok = strsep(&p, ",")) != NULL;) {
		if (*tok == '\0')
			continue;
		v = strtol(tok, &end, 10);
		if (*end != '\0' || v <= 0 || n == max)
			die("bad PID list: %s", s);
		roots[n++] = (pid_t)v;
	}
	free(copy);
	return n;
}

static void
opt_set(const struct bench_opt *o, const char *arg)
{
	switch (o->kind) {
	case OPT_INT:
		*(int *)o->val = atoi(arg);
		break;
	case OPT_LONG:
		*(long *)o->val = atol(arg);
		break;
	case OPT_DOUBLE:
		*(double *)o->val = atof(arg);
		break;
	case OPT_PIDS:
		*o->n = parse_pids(arg, o->val, MAX_ROOTS);
		break;
	case OPT_STR:
		*(const char **)o->val = arg;
		break;
	}
}

void
bench_start(int *argc, char ***argv, const char *flags,
    const struct bench_opt *opts, void (*usage)(void))
{
	const struct bench_opt	*o;
	char			 optstring[64];
	size_t			 len;
	int			 ch;

	len = strlcpy(optstring, flags, sizeof(optstring));
	for (o = opts; o->ch != 0 && len + 2 < sizeof(optstring); o++) {
		optstring[len++] = (char)o->ch;
		optstring[len++] = ':';
	}
	optstring[len] = '\0';
	setvbuf(stdout, NULL, _IOLBF, 0);
	raise_nofile();
	while ((ch = getopt(*argc, *argv, optstring)) != -1) {
		for (o = opts; o->ch != 0 && o->ch != ch; o++)
			;
		if (o->ch == 0)
			usage();
		else
			opt_set(o, optarg);
	}
	*argc -= optind;
	*argv += optind;
}

struct procinfo {
	pid_t	 pid, ppid;
	long	 ticks;		/* utime + stime */
	long	 rss_pages;
};

static int
procinfo_cmp(const void *a, const void *b)
{
	const struct procinfo	*x = a, *y = b;

	return (x->pid > y->pid) - (x->pid < y->pid);
}

/* Every process of the system, sorted by PID; returns how many. */
static int
proc_scan(struct procinfo *pi, int max)
{
	DIR		*d;
	struct dirent	*de;
	char		 path[300], buf[1024], *p;
	unsigned long	 ut, st;
	long		 rss, cut, cst;
	int		 fd, ppid, n = 0;
	ssize_t		 len;

	if ((d = opendir("/proc")) == NULL)
		die("/proc: %s", strerror(errno));
	while ((de = readdir(d)) != NULL && n < max) {
		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
			continue;
		len = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (len <= 0)
			continue;
		buf[len] = '\0';
		/* the command may hold spaces and parentheses: after the last ')' */
		if ((p = strrchr(buf, ')')) == NULL)
			continue;
		/* state ppid pgrp session tty tpgid flags minflt cminflt
		 * majflt cmajflt utime stime cutime cstime priority nice
		 * threads itrealvalue starttime vsize rss */
		if (sscanf(p + 2, "%*c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
		    "%lu %lu %ld %ld %*d %*d %*d %*d %*u %*u %ld", &ppid, &ut,
		    &st, &cut, &cst, &rss) != 6)
			continue;
		pi[n].pid = (pid_t)atol(de->d_name);
		pi[n].ppid = ppid;
		/* reaped children count too: socat forks one per connection */
		pi[n].ticks = (long)(ut + st) + cut + cst;
		pi[n].rss_pages = rss;
		n++;
	}
	closedir(d);
	qsort(pi, n, sizeof(*pi), procinfo_cmp);
	return n;
}

static int
under_roots(const struct procinfo *pi, int n, pid_t pid, const pid_t *roots,
    int nroots)
{
	struct procinfo	 key, *e;
	int		 depth, i;

	for (depth = 0; depth < 64 && pid > 1; depth++) {
		for (i = 0; i < nroots; i++)
			if (roots[i] == pid)
				return 1;
		key.pid = pid;
		e = bsearch(&key, pi, n, sizeof(*pi), procinfo_cmp);
		if (e == NULL)
			return 0;
		pid = e->ppid;
	}
	return 0;
}

static void
tree_sum(const pid_t *roots, int nroots, long *ticks, long *pages)
{
	static struct procinfo	*pi;
	int			 n, i;

	*ticks = *pages = 0;
	if (nroots == 0)
		return;
	if (pi == NULL && (pi = calloc(MAX_PROCS, sizeof(*pi))) == NULL)
		die("calloc");
	n = proc_scan(pi, MAX_PROCS);
	for (i = 0; i < n; i++)
		if (under_roots(pi, n, pi[i].pid, roots, nroots)) {
			*ticks += pi[i].ticks;
			*pages += pi[i].rss_pages;
		}
}

double
tree_cpu(const pid_t *roots, int nroots)
{
	long	 ticks, pages;

	tree_sum(roots, nroots, &ticks, &pages);
	return (double)ticks / sysconf(_SC_CLK_TCK);
}

long
tree_rss_kib(const pid_t *roots, int nroots)
{
	long	 ticks, pages;

	tree_sum(roots, nroots, &ticks, &pages);
	return pages * (sysconf(_SC_PAGESIZE) / 1024);
}

/* ---- sockets ---- */

int
set_nonblock(int fd, int on)
{
	int	 fl = fcntl(fd, F_GETFL);

	if (fl == -1)
		return -1;
	return fcntl(fd, F_SETFL, on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK);
}

int
tcp_listen(int *port)
{
	struct sockaddr_in	 sin;
	socklen_t		 len = sizeof(sin);
	int			 fd, on = 1;

	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		die("socket: %s", strerror(errno));
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons(*port);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    listen(fd, 4096) == -1 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) == -1)
		die("listen on 127.0.0.1:%d: %s", *port, strerror(errno));
	*port = ntohs(sin.sin_port);
	return fd;
}

int
tcp_connect(int port, int src)
{
	struct sockaddr_in	 sin;
	int			 fd, on = 1;

	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	if (src >= 0) {
		/* the port is chosen at connect time, per destination */
		(void)setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &on,
		    sizeof(on));
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK + 1 + src % 200);
		if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1) {
			close(fd);
			return -1;
		}
	}
	sin.sin_port = htons(port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return tcp_connect_nodelay(fd, (struct sockaddr *)&sin, sizeof(sin));
}

/* ---- control connections ---- */

static int
bc_handshake(struct bconn *bc, const struct identity *ident,
    const char *expect)
{
	struct handshake	 hs;
	uint8_t			 m1[HS_FRAME_M1], m2[HS_FRAME_M2];
	uint8_t			 m3[HS_FRAME_M3];
	int			 ok = -1;

	hs_init(&hs, HS_INITIATOR, (const uint8_t *)HS_CTX_CONTROL,
	    strlen(HS_CTX_CONTROL), ident->pk, expect);
	if (hs_write_m1(&hs, m1, sizeof(m1)) < 0 ||
	    write_full(bc->fd, m1, sizeof(m1)) == -1 ||
	    read_full(bc->fd, m2, sizeof(m2), BENCH_TIMEOUT_MS) != 0 ||
	    get_be16(m2) != HS_M2_LEN ||
	    hs_read_m2(&hs, m2 + 2, HS_M2_LEN) == -1 ||
	    hs_sign(&hs, ident) == -1 ||
	    hs_write_m3(&hs, m3, sizeof(m3)) < 0 ||
	    write_full(bc->fd, m3, sizeof(m3)) == -1 ||
	    rec_init_from_hs(&bc->rec, &hs) == -1)
		goto done;
	ok = 0;
done:
	if (ok == -1 && hs.error != NULL)
		fprintf(stderr, "handshake: %s\n", hs.error);
	hs_clear(&hs);
	return ok;
}

int
bc_open(struct bconn *bc, int port, int src, const struct identity *ident,
    const char *relay_id)
{
	memset(bc, 0, sizeof(*bc));
	if ((bc->in = malloc(BC_INBUF)) == NULL)
		return -1;
	if ((bc->fd = tcp_connect(port, src)) == -1)
		goto fail;
	if (write_full(bc->fd, PREAMBLE_MAGIC "C", PREAMBLE_LEN) == -1 ||
	    bc_handshake(bc, ident, relay_id) == -1) {
		close(bc->fd);
		goto fail;
	}
	(void)set_nonblock(bc->fd, 1);
	return 0;
fail:
	free(bc->in);
	bc->in = NULL;
	bc->fd = -1;
	return -1;
}

int
bc_send(struct bconn *bc, const ClientMessage *m)
{
	uint8_t	 pt[1024], frame[1024 + FRAME_HDR_LEN + 1 + AEAD_TAG_LEN];
	ssize_t	 n, f;

	if ((n = proto_pack_client(m, pt, sizeof(pt))) == -1)
		return -1;
	if ((f = rec_seal(&bc->rec, REC_TYPE_DATA, pt, n, frame,
	    sizeof(frame))) < 0)
		return -1;
	return write_full(bc->fd, frame, f);
}

int
bc_fill(struct bconn *bc)
{
	ssize_t	 n;

	while (bc->inlen < BC_INBUF) {
		n = read(bc->fd, bc->in + bc->inlen, BC_INBUF - bc->inlen);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			return 0;
		if (n <= 0) {
			bc->closed = 1;
			return -1;
		}
		bc->inlen += n;
	}
	return 0;
}

RelayMessage *
bc_next(struct bconn *bc, struct proto_arena *a, int *err)
{
	uint8_t		 pt[BC_INBUF];
	RelayMessage	*m;
	ssize_t		 flen;
	size_t		 plen;
	int		 r;

	*err = 0;
	flen = rec_frame_len(bc->in, bc->inlen);
	if (flen < 0 || flen > BC_INBUF) {
		*err = 1;
		return NULL;
	}
	if (flen == 0 || (size_t)flen > bc->inlen)
		return NULL;
	r = rec_open(&bc->rec, bc->in, flen, pt, sizeof(pt), &plen);
	memmove(bc->in, bc->in + flen, bc->inlen - flen);
	bc->inlen -= flen;
	if (r != REC_DATA || (m = proto_unpack_relay(a, pt, plen)) == NULL) {
		*err = 1;
		return NULL;
	}
	return m;
}

RelayMessage *
bc_recv(struct bconn *bc, struct proto_arena *a, int timeout_ms)
{
	struct pollfd	 pfd;
	RelayMessage	*m;
	int		 err;

	for (;;) {
		if ((m = bc_next(bc, a, &err)) != NULL || err)
			return m;
		pfd.fd = bc->fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, timeout_ms) <= 0)
			return NULL;
		if (bc_fill(bc) == -1 && bc->inlen == 0)
			return NULL;
	}
}

void
bc_close(struct bconn *bc)
{
	if (bc->fd != -1)
		close(bc->fd);
	bc->fd = -1;
	rec_clear(&bc->rec);
	free(bc->in);
	bc->in = NULL;
}

int
send_register(struct bconn *bc, const char *name, uint32_t reqid,
    uint32_t ttl)
{
	ClientMessage		 m = RELAY__V1__CLIENT_MESSAGE__INIT;
	Relay__V1__Register	 reg = RELAY__V1__REGISTER__INIT;
	char			*alpn[] = { (char *)"bench" };

	reg.request_id = reqid;
	reg.name = (char *)name;
	reg.alpn = alpn;
	reg.n_alpn = 1;
	reg.ttl_seconds = ttl;
	m.msg_case = RELAY__V1__CLIENT_MESSAGE__MSG_REGISTER;
	m.register_ = &reg;
	return bc_send(bc, &m);
}

int
send_connect(struct bconn *bc, const char *name, uint32_t reqid)
{
	ClientMessage		 m = RELAY__V1__CLIENT_MESSAGE__INIT;
	Relay__V1__Connect	 con = RELAY__V1__CONNECT__INIT;

	con.request_id = reqid;
	con.target_case = RELAY__V1__CONNECT__TARGET_NAME;
	con.name = (char *)name;
	con.alpn = (char *)"bench";
	m.msg_case = RELAY__V1__CLIENT_MESSAGE__MSG_CONNECT;
	m.connect = &con;
	return bc_send(bc, &m);
}

int
send_accept(struct bconn *bc, const uint8_t *sid)
{
	ClientMessage		 m = RELAY__V1__CLIENT_MESSAGE__INIT;
	Relay__V1__Accept	 acc = RELAY__V1__ACCEPT__INIT;

	acc.session_id.data = (uint8_t *)sid;
	acc.session_id.len = SESSION_ID_LEN;
	m.msg_case = RELAY__V1__CLIENT_MESSAGE__MSG_ACCEPT;
	m.accept = &acc;
	return bc_send(bc, &m);
}

int
data_open(int port, int src, const uint8_t token[TOKEN_LEN])
{
	uint8_t	 pre[DATA_PREAMBLE_TOTAL];
	int	 fd;

	if ((fd = tcp_connect(port, src)) == -1)
		return -1;
	memcpy(pre, PREAMBLE_MAGIC "D", PREAMBLE_LEN);
	memcpy(pre + PREAMBLE_LEN, token, TOKEN_LEN);
	if (write_full(fd, pre, sizeof(pre)) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

/* ---- pairing ---- */

static void
print_error(const char *what, RelayMessage *m)
{
	if (m != NULL && m->msg_case == RELAY__V1__RELAY_MESSAGE__MSG_ERROR)
		fprintf(stderr, "%s: relay error %s: %s\n", what,
		    proto_error_name(m->error->code),
		    m->error->message != NULL ? m->error->message : "");
	else
		fprintf(stderr, "%s: no answer from the relay\n", what);
}

int
pairer_open(struct pairer *pr, int port, const char *relay_id,
    const char *name)
{
	RelayMessage	*m = NULL;

	memset(pr, 0, sizeof(*pr));
	pr->port = port;
	pr->reqid = 1;
	strlcpy(pr->name, name, sizeof(pr->name));
	if (proto_arena_init(&pr->arena, PROTO_ARENA_CLIENT) == -1 ||
	    identity_generate(&pr->hid) == -1 ||
	    identity_generate(&pr->qid) == -1 ||
	    bc_open(&pr->h, port, 0, &pr->hid, relay_id) == -1 ||
	    bc_open(&pr->q, port, 1, &pr->qid, relay_id) == -1) {
		fprintf(stderr, "cannot open control connections to the "
		    "relay on port %d\n", port);
		return -1;
	}
	if (send_register(&pr->h, name, pr->reqid++, 3600) == -1 ||
	    (m = bc_recv(&pr->h, &pr->arena, BENCH_TIMEOUT_MS)) == NULL ||
	    m->msg_case != RELAY__V1__RELAY_MESSAGE__MSG_REGISTERED) {
		print_error("register", pr->h.closed ? NULL : m);
		return -1;
	}
	return 0;
}

struct half {
	uint8_t	 sid[SESSION_ID_LEN];
	int	 fd;
};

/* pair_many's state: the halves waiting for their other half, by side */
struct pairing {
	struct half	*pend[2];	/* HALF_H: holder, HALF_Q: requester */
	int		 npend[2];
	int		*fq, *fh;
	int		 done, inflight;
};
#define HALF_H	0
#define HALF_Q	1

/*
 * One side of a session got its token (the holder first accepts on
 * accept_on): open its data connection, and put both halves at slot
 * done when the other side's came first, else keep it waiting.
 */
static int
half_arrive(struct pairer *pr, struct pairing *pg, int side,
    struct bconn *accept_on, const ProtobufCBinaryData *sid,
    const ProtobufCBinaryData *token)
{
	struct half	*other = pg->pend[!side];
	int		*nother = &pg->npend[!side];
	int		 fd, i;

	if (sid->len != SESSION_ID_LEN || token->len != TOKEN_LEN)
		return -1;
	if (accept_on != NULL && send_accept(accept_on, sid->data) == -1)
		return -1;
	if ((fd = data_open(pr->port, 2 + pg->done % 8, token->data)) == -1)
		return -1;
	for (i = 0; i < *nother; i++)
		if (memcmp(other[i].sid, sid->data, SESSION_ID_LEN) == 0) {
			pg->fq[pg->done] = side == HALF_Q ? fd : other[i].fd;
			pg->fh[pg->done] = side == HALF_Q ? other[i].fd : fd;
			pg->done++;
			pg->inflight--;
			other[i] = other[--*nother];
			return 0;
		}
	memcpy(pg->pend[side][pg->npend[side]].sid, sid->data,
	    SESSION_ID_LEN);
	pg->pend[side][pg->npend[side]++].fd = fd;
	return 0;
}

/* What both control connections have brought: -1 on a failure. */
static int
pairing_read(struct pairer *pr, struct pairing *pg)
{
	RelayMessage	*m;
	int		 err;

	if (bc_fill(&pr->h) == -1 || bc_fill(&pr->q) == -1) {
		fprintf(stderr, "pairing: the relay closed a control "
		    "connection\n");
		return -1;
	}
	while ((m = bc_next(&pr->h, &pr->arena, &err)) != NULL)
		if (m->msg_case == RELAY__V1__RELAY_MESSAGE__MSG_INCOMING &&
		    half_arrive(pr, pg, HALF_H, &pr->h,
		    &m->incoming->session_id, &m->incoming->token) == -1)
			return -1;
	if (err)
		return -1;
	while ((m = bc_next(&pr->q, &pr->arena, &err)) != NULL) {
		if (m->msg_case == RELAY__V1__RELAY_MESSAGE__MSG_ERROR) {
			print_error("connect", m);
			return -1;
		}
		if (m->msg_case == RELAY__V1__RELAY_MESSAGE__MSG_CONNECTED &&
		    half_arrive(pr, pg, HALF_Q, NULL,
		    &m->connected->session_id, &m->connected->token) == -1)
			return -1;
	}
	return err ? -1 : 0;
}

int
pair_many(struct pairer *pr, int n, int w, int *fq, int *fh)
{
	struct pairing	 pg;
	struct pollfd	 pfd[2];
	int		 sent = 0, i;
	uint8_t		 c;

	memset(&pg, 0, sizeof(pg));
	pg.fq = fq;
	pg.fh = fh;
	if ((pg.pend[HALF_H] = calloc(w + 1, sizeof(struct half))) == NULL ||
	    (pg.pend[HALF_Q] = calloc(w + 1, sizeof(struct half))) == NULL)
		die("calloc");
	while (pg.done < n) {
		while (sent < n && pg.inflight < w) {
			if (send_connect(&pr->q, pr->name, pr->reqid++) == -1)
				return -1;
			sent++;
			pg.inflight++;
		}
		pfd[0].fd = pr->h.fd;
		pfd[1].fd = pr->q.fd;
		pfd[0].events = pfd[1].events = POLLIN;
		if (poll(pfd, 2, BENCH_TIMEOUT_MS) <= 0) {
			fprintf(stderr, "pairing: the relay went silent "
			    "(%d of %d paired)\n", pg.done, n);
			return -1;
		}
		if (pairing_read(pr, &pg) == -1)
			return -1;
	}
	free(pg.pend[HALF_H]);
	free(pg.pend[HALF_Q]);
	/* paired for real: a byte goes through each */
	for (i = 0; i < n; i++)
		if (write_full(fq[i], "p", 1) == -1)
			return -1;
	for (i = 0; i < n; i++)
		if (read_full(fh[i], &c, 1, BENCH_TIMEOUT_MS) != 0) {
			fprintf(stderr, "pairing: session %d carries no "
			    "bytes\n", i);
			return -1;
		}
	return 0;
}

int
pair_session(struct pairer *pr, int *fq, int *fh)
{
	return pair_many(pr, 1, 1, fq, fh);
}

void
pairer_close(struct pairer *pr)
{
	bc_close(&pr->h);
	bc_close(&pr->q);
	identity_clear(&pr->hid);
	identity_clear(&pr->qid);
	proto_arena_free(&pr->arena);
}

/* ---- bulk transfer ---- */

static void
pump_writer(int *wfds, int n, long long share)
{
	static uint8_t	 buf[PUMP_CHUNK];
	struct pollfd	*pfd;
	long long	*left;
	int		 i, active = n, k;
	ssize_t		 w;

	memset(buf, 'x', sizeof(buf));
	if ((pfd = calloc(n, sizeof(*pfd))) == NULL ||
	    (left = calloc(n, sizeof(*left))) == NULL)
		_exit(1);
	for (i = 0; i < n; i++) {
		if (n > 1)
			(void)set_nonblock(wfds[i], 1);
		else
			(void)set_nonblock(wfds[i], 0);
		pfd[i].fd = wfds[i];
		pfd[i].events = POLLOUT;
		left[i] = share;
	}
	while (active > 0) {
		if (n > 1 && poll(pfd, n, BENCH_TIMEOUT_MS) <= 0)
			_exit(1);
		for (i = 0; i < n; i++) {
			if (pfd[i].fd == -1 || (n > 1 && pfd[i].revents == 0))
				continue;
			for (k = 0; k < 4 && left[i] > 0; k++) {
				w = write(wfds[i], buf, left[i] < PUMP_CHUNK ?
				    left[i] : PUMP_CHUNK);
				if (w == -1 && (errno == EAGAIN ||
				    errno == EINTR))
					break;
				if (w <= 0)
					_exit(1);
				left[i] -= w;
			}
			if (left[i] == 0) {
				(void)shutdown(wfds[i], SHUT_WR);
				close(wfds[i]);
				pfd[i].fd = -1;
				active--;
			}
		}
	}
	_exit(0);
}

double
pump(int *wfds, int *rfds, int n, long long bytes)
{
	static uint8_t	 buf[PUMP_CHUNK];
	struct pollfd	*pfd;
	long long	 share = bytes / n, *got;
	double		 t0, t;
	pid_t		 pid;
	ssize_t		 r;
	int		 i, active = n, status, failed = 0;

	if ((pfd = calloc(n, sizeof(*pfd))) == NULL ||
	    (got = calloc(n, sizeof(*got))) == NULL)
		die("calloc");
	t0 = now();
	if ((pid = fork()) == -1)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		for (i = 0; i < n; i++)
			close(rfds[i]);
		pump_writer(wfds, n, share);
	}
	for (i = 0; i < n; i++) {
		close(wfds[i]);
		(void)set_nonblock(rfds[i], 1);
		pfd[i].fd = rfds[i];
		pfd[i].events = POLLIN;
	}
	while (active > 0 && !failed) {
		if (poll(pfd, n, BENCH_TIMEOUT_MS) <= 0) {
			fprintf(stderr, "transfer: no progress for %d ms\n",
			    BENCH_TIMEOUT_MS);
			failed = 1;
			break;
		}
		for (i = 0; i < n; i++) {
			if (pfd[i].fd == -1 || pfd[i].revents == 0)
				continue;
			r = read(rfds[i], buf, sizeof(buf));
			if (r == -1 && (errno == EAGAIN || errno == EINTR))
				continue;
			if (r <= 0 || got[i] + r > share) {
				fprintf(stderr, "transfer: stream %d ended or "
				    "overran at %lld of %lld bytes\n", i,
				    got[i] + (r > 0 ? r : 0), share);
				failed = 1;
				break;
			}
			got[i] += r;
			if (got[i] == share) {
				pfd[i].fd = -1;
				active--;
			}
		}
	}
	t = now() - t0;
	if (failed)
		kill(pid, SIGKILL);
	if (waitpid(pid, &status, 0) == -1 || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0)
		failed = 1;
	for (i = 0; i < n; i++)
		close(rfds[i]);
	free(pfd);
	free(got);
	return failed ? -1 : t;
}
