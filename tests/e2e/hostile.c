/* SPDX-License-Identifier: ISC */
/*
 * hostile.c: the attacker of tests/e2e/hostile.sh and respawn.sh, built
 * on tclient.c and libcommon so that floods go as fast as C goes. Every
 * mode opens its connections from chosen loopback source addresses
 * (127.x.y.z, bound before connect) so per-address limits are exercised,
 * prints what it saw as "key=value" lines for the shell to judge, and is
 * bounded in time: nothing here waits without a deadline.
 *
 * It never judges relayd itself (the shell does, from relay-ctl and
 * these lines), and it is test code only: it is not installed.
 *
 * usage: hostile PORT RELAY_ID MODE ARGS...  (see modes[] below)
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/stat.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "buffer.h"
#include "tclient.h"
#include "util.h"

/* relay.v1 ErrorCode values */
#define NCODES	(RELAY__V1__ERROR_CODE__ERR_INTERNAL + 1)

static int	 port;
static char	 relay_id[ID_BUFSZ];
static const char *mode;		/* the mode's name */
static uint32_t	 next_req = 1;

/*
 * The attacker exits without freeing what its modes allocated: in a
 * sanitizer build, LeakSanitizer would otherwise turn every mode's exit
 * status into a failure that says nothing about relayd. Only a build with
 * AddressSanitizer calls this.
 */
const char	*__asan_default_options(void);
const char *
__asan_default_options(void)
{
	return "detect_leaks=0";
}

/* ---- small helpers ---- */

static int64_t
now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void __attribute__((noreturn, format(printf, 1, 2)))
die(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	fprintf(stderr, "hostile: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(2);
}

/* calloc, or the end of the attacker */
static void *
xcalloc(size_t n, size_t size)
{
	void	*p;

	if ((p = calloc(n, size)) == NULL)
		die("calloc");
	return p;
}

static struct identity *
new_ident(void)
{
	struct identity	*id = xcalloc(1, sizeof(*id));

	if (identity_generate(id) == -1)
		die("identity_generate");
	return id;
}

static int
set_nonblock(int fd, int on)
{
	int	 fl = fcntl(fd, F_GETFL);

	if (fl == -1)
		return -1;
	return fcntl(fd, F_SETFL, on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK);
}

/*
 * A source address spec "A.B.C.D+N" names N consecutive addresses from
 * A.B.C.D (N defaults to 1); src_addr() gives the i-th, round robin.
 */
struct srcspec {
	uint32_t	 base;		/* host order */
	uint32_t	 count;
};

static void
src_parse(const char *s, struct srcspec *sp)
{
	char		 buf[64], *plus;
	struct in_addr	 a;
	const char	*errstr;

	if (strlcpy(buf, s, sizeof(buf)) >= sizeof(buf))
		die("source spec too long: %s", s);
	sp->count = 1;
	if ((plus = strchr(buf, '+')) != NULL) {
		*plus++ = '\0';
		sp->count = strtonum(plus, 1, 65536, &errstr);
		if (errstr != NULL)
			die("source count %s: %s", plus, errstr);
	}
	if (inet_pton(AF_INET, buf, &a) != 1)
		die("bad source address %s", buf);
	sp->base = ntohl(a.s_addr);
	if ((sp->base >> 24) != 127)
		die("source %s is not in 127.0.0.0/8", buf);
}

static const char *
src_addr(const struct srcspec *sp, uint32_t i, char out[INET_ADDRSTRLEN])
{
	struct in_addr	 a;

	a.s_addr = htonl(sp->base + i % sp->count);
	return inet_ntop(AF_INET, &a, out, INET_ADDRSTRLEN);
}

static long long
num(const char *s, long long min, long long max)
{
	const char	*errstr;
	long long	 v;

	v = strtonum(s, min, max, &errstr);
	if (errstr != NULL)
		die("number %s: %s", s, errstr);
	return v;
}

/*
 * A control connection of a new identity from the i-th address of sp;
 * -1, said on stderr (who i), if the handshake fails.
 */
static int
ctl_from(struct tconn *t, const struct srcspec *sp, uint32_t i,
    const char *who)
{
	char	 a[INET_ADDRSTRLEN];

	t->fd = -1;
	if (t_ctl_open_from(t, src_addr(sp, i, a), port, new_ident(),
	    relay_id) == -1) {
		fprintf(stderr, "%s %u from %s: no handshake\n", who, i, a);
		return -1;
	}
	return 0;
}

/* A connection that stays unread: a tiny receive buffer, no autotuning. */
static void
small_rcvbuf(int fd)
{
	int	 sz = 4096;

	(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
}

/* A TCP connection from src, not waited for: -1 if it cannot start. */
static int
tcp_start(const char *src)
{
	struct sockaddr_in	 sin;
	int			 fd, on = 1;

	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0)) == -1)
		return -1;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	if (inet_pton(AF_INET, src, &sin.sin_addr) != 1 ||
	    bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1)
		goto fail;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 &&
	    errno != EINPROGRESS)
		goto fail;
	return fd;
fail:
	close(fd);
	return -1;
}

/* ---- a growing byte buffer of sealed records ---- */

struct obuf {
	uint8_t		*p;
	size_t		 len, cap, off;		/* off: written so far */
	size_t		*ends;			/* end offset of each record */
	size_t		 nrec, caprec;
};

static void
obuf_add(struct obuf *b, const uint8_t *p, size_t len)
{
	while (b->len + len > b->cap) {
		b->cap = b->cap ? b->cap * 2 : 65536;
		if ((b->p = realloc(b->p, b->cap)) == NULL)
			die("realloc");
	}
	memcpy(b->p + b->len, p, len);
	b->len += len;
	if (b->nrec == b->caprec) {
		b->caprec = b->caprec ? b->caprec * 2 : 1024;
		if ((b->ends = reallocarray(b->ends, b->caprec,
		    sizeof(*b->ends))) == NULL)
			die("reallocarray");
	}
	b->ends[b->nrec++] = b->len;
}

static void
obuf_record(struct obuf *b, struct tconn *t, const uint8_t *pt, size_t len)
{
	uint8_t	 frame[REC_MAX_FRAME];
	ssize_t	 f;

	if ((f = rec_seal(&t->rec, REC_TYPE_DATA, pt, len, frame,
	    sizeof(frame))) < 0)
		die("rec_seal");
	obuf_add(b, frame, f);
}

static void
obuf_msg(struct obuf *b, struct tconn *t, const ClientMessage *m)
{
	uint8_t	 pt[REC_MAX_PAYLOAD];
	ssize_t	 n;

	if ((n = proto_pack_client(m, pt, sizeof(pt))) == -1)
		die("proto_pack_client");
	obuf_record(b, t, pt, n);
}

/* Records wholly written so far. */
static size_t
obuf_records_done(const struct obuf *b)
{
	size_t	 lo = 0, hi = b->nrec;

	while (lo < hi) {
		size_t	 mid = (lo + hi) / 2;

		if (b->ends[mid] <= b->off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Write what the socket takes now: -1 when the peer is gone. */
static int
obuf_write(struct obuf *b, int fd)
{
	ssize_t	 n;

	while (b->off < b->len) {
		n = send(fd, b->p + b->off, b->len - b->off, MSG_NOSIGNAL);
		if (n == -1) {
			if (errno == EAGAIN || errno == EINTR)
				return 0;
			return -1;
		}
		b->off += n;
	}
	return 0;
}

/* ---- control messages ---- */

/* A Connect to the lease name, ALPN tcp. */
static void
msg_connect(ClientMessage *m, Relay__V1__Connect *c, const char *name)
{
	t_msg_connect(m, c, next_req++, 1, name, "tcp");
}

static int
send_connect(struct tconn *t, const char *name)
{
	ClientMessage		 m;
	Relay__V1__Connect	 c;

	msg_connect(&m, &c, name);
	return t_send(t, &m);
}

static RelayMessage *
do_register(struct tconn *t, const char *name)
{
	ClientMessage		 m;
	Relay__V1__Register	 r;
	char			*alpns[1] = { (char *)"tcp" };

	t_msg_register(&m, &r, next_req++, name, alpns, 1, 3600);
	r.description = (char *)"hostile.c: a lease of the attacker";
	return t_ask(t, &m, 5000);
}

static const char *
err_name(const RelayMessage *r)
{
	if (r == NULL)
		return "none";
	if (r->msg_case != RELAY__V1__RELAY_MESSAGE__MSG_ERROR)
		return proto_relay_msg_name(r->msg_case);
	return proto_error_name(r->error->code);
}

/* ---- a data pattern both ends can check at any offset ---- */

static uint64_t
splitmix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static void
pattern(uint64_t seed, uint64_t off, uint8_t *p, size_t len)
{
	uint64_t	 w = 0;
	size_t		 i;

	for (i = 0; i < len; i++, off++) {
		if (i == 0 || off % 8 == 0)
			w = splitmix64(seed ^ (off / 8));
		p[i] = (uint8_t)(w >> (8 * (off % 8)));
	}
}

static int
pattern_check(uint64_t seed, uint64_t off, const uint8_t *p, size_t len)
{
	uint8_t	 want[65536];
	size_t	 n;

	while (len > 0) {
		n = len < sizeof(want) ? len : sizeof(want);
		pattern(seed, off, want, n);
		if (memcmp(want, p, n) != 0)
			return -1;
		p += n;
		off += n;
		len -= n;
	}
	return 0;
}

/* ---- probe: a control handshake and pings, answered in time ---- */

static int
mode_probe(char *argv[])
{
	struct tconn		 t;
	RelayMessage		*r;
	uint64_t		 nonce;
	int64_t			 t0 = now_ms();
	int			 i, n;

	n = num(argv[1], 1, 1000);
	if (t_ctl_open_from(&t, argv[0], port, new_ident(), relay_id) == -1) {
		printf("probe=fail why=handshake\n");
		return 1;
	}
	for (i = 0; i < n; i++) {
		nonce = 0x5eed0000ULL + i;
		if (t_send_ping(&t, nonce) == -1 ||
		    !IS_PONG(r = t_recv(&t, 5000)) || r->pong->nonce != nonce) {
			printf("probe=fail why=ping%d\n", i);
			return 1;
		}
	}
	printf("probe=ok ms=%lld\n", (long long)(now_ms() - t0));
	t_close(&t);
	return 0;
}

/*
 * ---- listflood: clients that register leases, then send ListLeases
 * (and with BAD, a malformed record after each) back to back and never
 * read; with DRAIN they read at the end and count the answers ----
 */

struct flooder {
	struct tconn	 t;
	struct obuf	 b;
	int		 ok;
	int64_t		 closed_at;	/* ms after the start, 0: open */
	size_t		 answers;
	size_t		 lists;
	int		 in_order;
	uint32_t	 last_list;
};

static int
mode_listflood(char *argv[])
{
	struct srcspec		 sp;
	struct flooder		*f;
	struct pollfd		*pfd;
	ClientMessage		 m;
	Relay__V1__ListLeases	 l;
	RelayMessage		*r;
	static const uint8_t	 junk[] = { 0xff, 0xff, 0xff, 0xff, 0xff };
	char			 name[64];
	int64_t			 t0, deadline, drain_end;
	size_t			 nreq, k, nleases;
	size_t			 setup_ok = 0, closed = 0, full = 0;
	size_t			 complete = 0, in_order = 0, bytes = 0;
	size_t			 want;
	int			 nclients, hold_ms, bad, drain, c, drain_wait;

	src_parse(argv[0], &sp);
	nclients = num(argv[1], 1, 1000);
	nleases = num(argv[2], 0, 16);
	nreq = num(argv[3], 1, 1000000);
	bad = num(argv[4], 0, 1);
	hold_ms = num(argv[5], 0, 600000);
	drain = num(argv[6], 0, 1);
	f = xcalloc(nclients, sizeof(*f));
	pfd = xcalloc(nclients, sizeof(*pfd));

	for (c = 0; c < nclients; c++) {
		if (ctl_from(&f[c].t, &sp, c, "listflood: client") == -1)
			continue;
		for (k = 0; k < nleases; k++) {
			snprintf(name, sizeof(name), "flood-%d-%d-%zu",
			    (int)getpid(), c, k);
			r = do_register(&f[c].t, name);
			if (!IS_REGISTERED(r))
				fprintf(stderr, "listflood: register %s: %s\n",
				    name, err_name(r));
		}
		/*
		 * One that never reads gets a tiny receive buffer, so the
		 * answers pile up in relayd and not in our kernel. One that
		 * drains later keeps the default: a window smaller than the
		 * loopback MSS would leave the sender waiting on its
		 * zero-window probe timer, which says nothing about relayd.
		 */
		if (!drain)
			small_rcvbuf(f[c].t.fd);
		for (k = 1; k <= nreq; k++) {
			t_msg_list(&m, &l, k, 0);
			obuf_msg(&f[c].b, &f[c].t, &m);
			if (bad)
				obuf_record(&f[c].b, &f[c].t, junk,
				    sizeof(junk));
		}
		set_nonblock(f[c].t.fd, 1);
		f[c].ok = 1;
		f[c].in_order = 1;
		setup_ok++;
	}
	printf("flooding clients=%zu\n", setup_ok);
	fflush(stdout);

	/* write without reading; the relay may stop reading from us */
	t0 = now_ms();
	deadline = t0 + hold_ms;
	for (;;) {
		int64_t	 left = deadline - now_ms();

		if (left <= 0)
			break;
		for (c = 0; c < nclients; c++) {
			pfd[c].fd = f[c].ok && !f[c].closed_at ? f[c].t.fd : -1;
			pfd[c].events = POLLRDHUP;
			if (f[c].b.off < f[c].b.len)
				pfd[c].events |= POLLOUT;
			pfd[c].revents = 0;
		}
		if (poll(pfd, nclients, left > 100 ? 100 : left) == -1 &&
		    errno != EINTR)
			die("poll");
		for (c = 0; c < nclients; c++) {
			if (pfd[c].fd == -1)
				continue;
			if ((pfd[c].revents & (POLLOUT | POLLHUP | POLLERR)) &&
			    obuf_write(&f[c].b, f[c].t.fd) == -1)
				pfd[c].revents |= POLLHUP;
			if (pfd[c].revents & (POLLRDHUP | POLLHUP | POLLERR))
				f[c].closed_at = now_ms() - t0 + 1;
		}
	}
	for (c = 0; c < nclients; c++) {
		if (!f[c].ok)
			continue;
		bytes += f[c].b.off;
		if (f[c].b.off == f[c].b.len)
			full++;
		if (f[c].closed_at)
			closed++;
		printf("client=%d wrote=%zu of=%zu requests_sent=%zu "
		    "closed_by_relay_ms=%lld\n", c, f[c].b.off, f[c].b.len,
		    obuf_records_done(&f[c].b) / (bad ? 2 : 1),
		    (long long)f[c].closed_at);
	}
	printf("flood clients=%zu bytes=%zu all_written=%zu "
	    "closed_by_relay=%zu\n", setup_ok, bytes, full, closed);
	fflush(stdout);
	if (!drain)
		goto out;

	/* now read: every request must be answered, in order */
	want = nreq * (bad ? 2 : 1);
	drain_end = now_ms() + 30000;
	/* how long a silence ends the drain (HOSTILE_DRAIN_MS, for a
	 * diagnosis; the tests keep the default) */
	drain_wait = getenv("HOSTILE_DRAIN_MS") != NULL ?
	    num(getenv("HOSTILE_DRAIN_MS"), 1, 600000) : 5000;
	for (c = 0; c < nclients; c++) {
		if (!f[c].ok)
			continue;
		while (f[c].answers < want && now_ms() < drain_end) {
			if (obuf_write(&f[c].b, f[c].t.fd) == -1)
				break;
			r = t_recv(&f[c].t, f[c].b.off < f[c].b.len ? 50 :
			    drain_wait);
			if (r == NULL) {
				if (f[c].t.peer_closed ||
				    f[c].b.off == f[c].b.len)
					break;
				continue;
			}
			f[c].answers++;
			if (IS_LIST(r)) {
				f[c].lists++;
				if (r->lease_list->request_id !=
				    f[c].last_list + 1)
					f[c].in_order = 0;
				f[c].last_list = r->lease_list->request_id;
			} else if (!IS_ERROR(r) || r->error->code !=
			    RELAY__V1__ERROR_CODE__ERR_BAD_REQUEST)
				f[c].in_order = 0;
			proto_arena_reset(&f[c].t.arena);
		}
		if (f[c].answers == want)
			complete++;
		if (f[c].answers == want && f[c].in_order &&
		    f[c].lists == nreq)
			in_order++;
		printf("drain client=%d answers=%zu of=%zu lists=%zu "
		    "in_order=%d closed=%d\n", c, f[c].answers, want,
		    f[c].lists, f[c].in_order, f[c].t.peer_closed);
	}
	printf("drained clients=%zu complete=%zu in_order=%zu\n", setup_ok,
	    complete, in_order);
out:
	for (c = 0; c < nclients; c++)
		if (f[c].ok)
			t_close(&f[c].t);
	return setup_ok == (size_t)nclients ? 0 : 1;
}

/*
 * ---- squat: fresh identities fire Connect requests at one lease and
 * never open a data connection; they count the answers ----
 */

static int
mode_squat(char *argv[])
{
	struct srcspec		 sp;
	struct tconn		*t;
	struct pollfd		*pfd;
	RelayMessage		*r;
	char			 line[400];
	char			 msgs[8][200];
	size_t			 nmsgs = 0, counts[8] = { 0 };
	size_t			 per_code[NCODES] = { 0 };
	size_t			 connected = 0, other = 0, sent = 0, j;
	int64_t			 deadline;
	int			 nids, nreq, hold_ms, i, k, ok = 0;

	src_parse(argv[0], &sp);
	nids = num(argv[1], 1, 1000);
	nreq = num(argv[2], 1, 10000);
	hold_ms = num(argv[4], 0, 600000);
	t = xcalloc(nids, sizeof(*t));
	pfd = xcalloc(nids, sizeof(*pfd));
	for (i = 0; i < nids; i++)
		if (ctl_from(&t[i], &sp, i, "squat: identity") == 0)
			ok++;
	/* all at once, so they are pending together */
	for (k = 0; k < nreq; k++)
		for (i = 0; i < nids; i++) {
			if (t[i].fd == -1)
				continue;
			if (send_connect(&t[i], argv[3]) == 0)
				sent++;
		}
	printf("squatting identities=%d sent=%zu\n", ok, sent);
	fflush(stdout);
	deadline = now_ms() + hold_ms;
	while (now_ms() < deadline) {
		for (i = 0; i < nids; i++) {
			pfd[i].fd = t[i].fd;
			pfd[i].events = POLLIN;
			pfd[i].revents = 0;
		}
		if (poll(pfd, nids, 100) <= 0)
			continue;
		for (i = 0; i < nids; i++) {
			if (!(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			/* drain what came without blocking for more */
			while ((r = t_recv(&t[i], 0)) != NULL) {
				if (IS_CONNECTED(r))
					connected++;
				else if (IS_ERROR(r)) {
					if (r->error->code < NCODES)
						per_code[r->error->code]++;
					snprintf(line, sizeof(line), "%s: %s",
					    proto_error_name(r->error->code),
					    r->error->message);
					for (j = 0; j < nmsgs; j++)
						if (strcmp(msgs[j], line) == 0)
							break;
					if (j == nmsgs && nmsgs < 8)
						strlcpy(msgs[nmsgs++], line,
						    sizeof(msgs[0]));
					if (j < 8)
						counts[j]++;
				} else
					other++;
				proto_arena_reset(&t[i].arena);
			}
			if (t[i].peer_closed) {
				close(t[i].fd);
				t[i].fd = -1;
			}
		}
	}
	for (j = 0; j < nmsgs; j++)
		printf("error count=%zu message=\"%s\"\n", counts[j], msgs[j]);
	printf("answers sent=%zu connected=%zu", sent, connected);
	for (j = 1; j < NCODES; j++)
		printf(" %s=%zu", proto_error_name(j), per_code[j]);
	printf(" other=%zu\n", other);
	for (i = 0; i < nids; i++)
		if (t[i].fd != -1)
			t_close(&t[i]);
	return ok == nids ? 0 : 1;
}

/*
 * ---- holder: a lease whose holder answers only one ID (or any, or
 * none) and echoes on the sessions it accepted ----
 */

#define HOLD_MAXDATA	256

static int
mode_holder(char *argv[])
{
	struct tconn		 t;
	RelayMessage		*r;
	struct pollfd		 pfd[1 + HOLD_MAXDATA];
	uint8_t			 sid[SESSION_ID_LEN], buf[65536];
	int			 data[HOLD_MAXDATA], ndata = 0, i, n;
	size_t			 incoming = 0, accepted = 0, ignored = 0;
	int64_t			 deadline;
	const char		*allow;

	allow = argv[2];
	deadline = now_ms() + num(argv[3], 0, 3600000);
	if (t_ctl_open_from(&t, argv[0], port, new_ident(), relay_id) == -1)
		die("holder: no handshake");
	r = do_register(&t, argv[1]);
	if (!IS_REGISTERED(r))
		die("holder: register %s: %s", argv[1], err_name(r));
	printf("registered %s\n", argv[1]);
	fflush(stdout);
	while (now_ms() < deadline) {
		pfd[0].fd = t.fd;
		pfd[0].events = POLLIN;
		for (i = 0; i < ndata; i++) {
			pfd[1 + i].fd = data[i];
			pfd[1 + i].events = POLLIN;
		}
		if (poll(pfd, 1 + ndata, 100) <= 0)
			continue;
		for (i = 0; i < ndata; i++) {
			if (!(pfd[1 + i].revents & (POLLIN | POLLHUP |
			    POLLERR)) || data[i] == -1)
				continue;
			n = read(data[i], buf, sizeof(buf));
			if (n <= 0) {
				close(data[i]);
				data[i] = -1;
			} else if (t_write_full(data[i], buf, n) == -1) {
				close(data[i]);
				data[i] = -1;
			}
		}
		if (!(pfd[0].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		while ((r = t_recv(&t, 0)) != NULL) {
			if (!IS_INCOMING(r)) {
				proto_arena_reset(&t.arena);
				continue;
			}
			incoming++;
			if (strcmp(allow, "none") == 0 ||
			    (strcmp(allow, "any") != 0 &&
			    strcasecmp(allow, r->incoming->from_id) != 0) ||
			    ndata == HOLD_MAXDATA) {
				ignored++;
				proto_arena_reset(&t.arena);
				continue;
			}
			memcpy(sid, r->incoming->session_id.data,
			    SESSION_ID_LEN);
			if ((data[ndata] = t_data_open_from(argv[0], port,
			    r->incoming->token.data)) != -1)
				ndata++;
			proto_arena_reset(&t.arena);
			if (t_session_op(&t, 1, sid, SESSION_ID_LEN, NULL) == 0)
				accepted++;
		}
		if (t.peer_closed)
			die("holder: the relay closed the control connection");
	}
	printf("holder incoming=%zu accepted=%zu ignored=%zu\n", incoming,
	    accepted, ignored);
	return 0;
}

/* ---- request: one connect with a given key, then an echo checked ---- */

static int
mode_request(char *argv[])
{
	struct identity		 id;
	struct tconn		 t;
	RelayMessage		*r;
	uint8_t			*out, *in;
	char			 err[256];
	size_t			 len;
	int64_t			 t0 = now_ms();
	int			 fd, timeout;

	if (identity_load(&id, argv[1], err, sizeof(err)) == -1)
		die("%s", err);
	len = num(argv[3], 1, 64 * 1024 * 1024);
	timeout = num(argv[4], 1, 600000);
	if (t_ctl_open_from(&t, argv[0], port, &id, relay_id) == -1) {
		printf("request=fail why=handshake\n");
		return 1;
	}
	if (send_connect(&t, argv[2]) == -1)
		die("send");
	while (IS_NOTICE(r = t_recv(&t, timeout)))
		;
	if (!IS_CONNECTED(r)) {
		printf("request=fail why=%s message=\"%s\" ms=%lld\n",
		    err_name(r), IS_ERROR(r) ? r->error->message : "",
		    (long long)(now_ms() - t0));
		return 1;
	}
	if ((fd = t_data_open_from(argv[0], port, r->connected->token.data))
	    == -1)
		die("data connection");
	if ((out = malloc(len)) == NULL || (in = malloc(len)) == NULL)
		die("malloc");
	pattern(len, 0, out, len);
	if (t_write_full(fd, out, len) == -1 ||
	    t_read_full(fd, in, len, timeout) != 0 ||
	    memcmp(in, out, len) != 0) {
		printf("request=fail why=echo ms=%lld\n",
		    (long long)(now_ms() - t0));
		return 1;
	}
	printf("request=ok bytes=%zu ms=%lld\n", len,
	    (long long)(now_ms() - t0));
	close(fd);
	t_close(&t);
	return 0;
}

/*
 * ---- raw connections: slowloris (a byte now and then, the handshake
 * never finished), connflood (as many as fast as possible, each holding
 * a preamble) and tokens (data connections with random tokens) ----
 */

struct rawc {
	int		 fd;
	int		 up;		/* connect completed */
	size_t		 sent;
	int64_t		 opened;
	int64_t		 closed;	/* ms after opened, 0: open */
	size_t		 got;		/* bytes the relay sent */
};

static const uint8_t	 slow_script[] = "RLY\x01" "C" "\x00\x20"
    "0123456789abcdef0123456789abcdef";

static void
raw_poll(struct rawc *rc, int n, struct pollfd *pfd, int timeout)
{
	uint8_t	 buf[4096];
	ssize_t	 k;
	int	 i;

	for (i = 0; i < n; i++) {
		pfd[i].fd = rc[i].closed || rc[i].fd == -1 ? -1 : rc[i].fd;
		pfd[i].events = POLLIN | POLLRDHUP;
		if (!rc[i].up)
			pfd[i].events |= POLLOUT;
		pfd[i].revents = 0;
	}
	if (poll(pfd, n, timeout) <= 0)
		return;
	for (i = 0; i < n; i++) {
		if (pfd[i].fd == -1 || pfd[i].revents == 0)
			continue;
		if (!rc[i].up && (pfd[i].revents & POLLOUT)) {
			int		 e = 0;
			socklen_t	 el = sizeof(e);

			getsockopt(rc[i].fd, SOL_SOCKET, SO_ERROR, &e, &el);
			if (e != 0) {
				rc[i].closed = -1;	/* never connected */
				continue;
			}
			rc[i].up = 1;
			rc[i].opened = now_ms();
		}
		if (pfd[i].revents & (POLLIN | POLLRDHUP | POLLHUP | POLLERR)) {
			while ((k = read(rc[i].fd, buf, sizeof(buf))) > 0)
				rc[i].got += k;
			if (k == 0 || (k == -1 && errno != EAGAIN))
				rc[i].closed = now_ms() - rc[i].opened + 1;
		}
	}
}

static int
mode_raw(char *argv[])
{
	struct srcspec	 sp;
	struct rawc	*rc;
	struct pollfd	*pfd;
	char		 a[INET_ADDRSTRLEN];
	uint8_t		 pre[DATA_PREAMBLE_TOTAL];
	int64_t		 t0, deadline, next_byte = 0, maxclose = 0;
	int		 n, i, hold_ms, interval = 0, fast_ms;
	size_t		 up = 0, failed = 0, fast = 0, late = 0, open = 0;
	size_t		 spoke = 0;
	int		 slow = strcmp(mode, "slowloris") == 0;
	int		 tokens = strcmp(mode, "tokens") == 0;

	src_parse(argv[0], &sp);
	n = num(argv[1], 1, 20000);
	hold_ms = num(argv[2], 0, 600000);
	if (slow)
		interval = num(argv[3], 1, 60000);
	/*
	 * A refusal at accept time comes at once (within 1.5 s on a loaded
	 * machine); the deadlines tested are 2 s (orphan tokens) and more.
	 */
	fast_ms = 1500;
	rc = xcalloc(n, sizeof(*rc));
	pfd = xcalloc(n, sizeof(*pfd));
	t0 = now_ms();
	for (i = 0; i < n; i++) {
		rc[i].fd = tcp_start(src_addr(&sp, i, a));
		if (rc[i].fd == -1)
			rc[i].closed = -1;
		/* do not let the connects outrun the kernel's backlog */
		if (i % 64 == 63)
			raw_poll(rc, i + 1, pfd, 0);
	}
	/* wait for the connects, a bounded while */
	deadline = now_ms() + 5000;
	while (now_ms() < deadline) {
		size_t	 pending = 0;

		for (i = 0; i < n; i++)
			if (!rc[i].up && rc[i].closed == 0)
				pending++;
		if (pending == 0)
			break;
		raw_poll(rc, n, pfd, 50);
	}
	/* the first bytes: a control preamble, or a data one with a token */
	for (i = 0; i < n; i++) {
		if (!rc[i].up || rc[i].closed)
			continue;
		if (tokens) {
			memcpy(pre, "RLY\x01" "D", PREAMBLE_LEN);
			crypto_random(pre + PREAMBLE_LEN, TOKEN_LEN);
			if (send(rc[i].fd, pre, sizeof(pre), MSG_NOSIGNAL) ==
			    (ssize_t)sizeof(pre))
				rc[i].sent = sizeof(pre);
		} else if (slow) {
			if (send(rc[i].fd, slow_script, 1, MSG_NOSIGNAL) == 1)
				rc[i].sent = 1;
		} else if (send(rc[i].fd, "RLY\x01" "C", PREAMBLE_LEN,
		    MSG_NOSIGNAL) == PREAMBLE_LEN)
			rc[i].sent = PREAMBLE_LEN;
	}
	printf("%s connections=%d started_ms=%lld\n", mode, n,
	    (long long)(now_ms() - t0));
	fflush(stdout);
	next_byte = now_ms() + interval;
	deadline = now_ms() + hold_ms;
	while (now_ms() < deadline) {
		int	 all_closed = 1;

		raw_poll(rc, n, pfd, 50);
		if (slow && now_ms() >= next_byte) {
			next_byte += interval;
			for (i = 0; i < n; i++)
				if (rc[i].up && !rc[i].closed &&
				    rc[i].sent < sizeof(slow_script) - 1 &&
				    send(rc[i].fd, slow_script + rc[i].sent, 1,
				    MSG_NOSIGNAL) == 1)
					rc[i].sent++;
		}
		for (i = 0; i < n; i++)
			if (rc[i].up && !rc[i].closed)
				all_closed = 0;
		if (all_closed && (tokens || slow))
			break;
	}
	for (i = 0; i < n; i++) {
		if (rc[i].fd != -1)
			close(rc[i].fd);
		if (!rc[i].up) {
			failed++;
			continue;
		}
		up++;
		if (rc[i].got > 0)
			spoke++;
		if (rc[i].closed == 0)
			open++;
		else if (rc[i].closed <= fast_ms)
			fast++;
		else
			late++;
		if (rc[i].closed > maxclose)
			maxclose = rc[i].closed;
	}
	printf("%s connections=%d connected=%zu connect_failed=%zu "
	    "refused_at_once=%zu closed_later=%zu still_open=%zu "
	    "relay_sent_bytes=%zu max_close_ms=%lld\n", mode, n, up, failed,
	    fast, late, open, spoke, (long long)maxclose);
	return 0;
}

/* ---- reqflood: one identity sends Connect requests back to back ---- */

static int
mode_reqflood(char *argv[])
{
	struct tconn		 t;
	struct obuf		 b;
	ClientMessage		 m;
	Relay__V1__Connect	 cn;
	RelayMessage		*r;
	size_t			 per_code[NCODES] = { 0 }, answers = 0;
	int			 n, i;

	n = num(argv[1], 1, 100000);
	memset(&b, 0, sizeof(b));
	if (t_ctl_open_from(&t, argv[0], port, new_ident(), relay_id) == -1)
		die("reqflood: no handshake");
	for (i = 0; i < n; i++) {
		msg_connect(&m, &cn, "hostile-nobody-here");
		obuf_msg(&b, &t, &m);
	}
	if (t_write_full(t.fd, b.p, b.len) == -1)
		die("reqflood: write");
	while (answers < (size_t)n && (r = t_recv(&t, 5000)) != NULL) {
		if (IS_ERROR(r) && r->error->code < NCODES)
			per_code[r->error->code]++;
		answers++;
		proto_arena_reset(&t.arena);
	}
	printf("reqflood sent=%d answers=%zu", n, answers);
	for (i = 1; i < NCODES; i++)
		printf(" %s=%zu", proto_error_name(i), per_code[i]);
	printf("\n");
	t_close(&t);
	return 0;
}

/*
 * ---- sessions: one holder and one requester in this process make
 * sessions through the relay (each paired half a data connection of
 * ours), then carry a checked pattern both ways ----
 */

struct sdir {
	int		 fd_src;		/* we write here */
	int		 fd_dst;		/* the other end reads here */
	uint64_t	 seed;
	uint64_t	 sent, recvd;
	int		 shut;		/* we half-closed fd_src */
	int		 eof;		/* fd_dst saw the end */
	int		 corrupt;
	int		 error;		/* reset or error */
};

struct sess {
	int		 ok;		/* set up: both data connections */
	int		 fwd;
	int		 fd_i, fd_r;	/* requester, holder halves */
	struct sdir	 d[2];		/* 0: i2r, 1: r2i */
	const char	*why;		/* not set up: why */
	int64_t		 t_open;
};

struct sessctx {
	struct tconn	 th, tq;
	struct identity	*h, *q;
	char		 name[64];
	const char	*src;
	int		 nfwd;
};

static int
sess_ctl_setup(struct sessctx *sc, const char *src, int nfwd)
{
	RelayMessage	*r;

	memset(sc, 0, sizeof(*sc));
	sc->src = src;
	sc->nfwd = nfwd;
	sc->h = new_ident();
	sc->q = new_ident();
	snprintf(sc->name, sizeof(sc->name), "sessions-%d", (int)getpid());
	if (t_ctl_open_from(&sc->th, src, port, sc->h, relay_id) == -1 ||
	    t_ctl_open_from(&sc->tq, src, port, sc->q, relay_id) == -1)
		return -1;
	r = do_register(&sc->th, sc->name);
	if (!IS_REGISTERED(r)) {
		fprintf(stderr, "sessions: register: %s\n", err_name(r));
		return -1;
	}
	proto_arena_reset(&sc->th.arena);
	return 0;
}

/* s is not set up: what did not come, and what came instead */
static void
sess_why(struct sess *s, const char *what, const RelayMessage *r)
{
	static char	 why[128];

	snprintf(why, sizeof(why), "no %s (%s%s%s)", what, err_name(r),
	    IS_ERROR(r) ? ": " : "", IS_ERROR(r) ? r->error->message : "");
	s->why = why;
}

/* One session: connect, accept, both data connections opened. */
static void
sess_open(struct sessctx *sc, struct sess *s, int idx)
{
	RelayMessage		*r;
	uint8_t			 sid[SESSION_ID_LEN], tok_h[TOKEN_LEN];
	int64_t			 deadline;

	memset(s, 0, sizeof(*s));
	s->fd_i = s->fd_r = -1;
	s->fwd = -1;
	if (send_connect(&sc->tq, sc->name) == -1) {
		s->why = "connect: send";
		return;
	}
	/* the holder's Incoming, or at once the requester's refusal */
	r = NULL;
	deadline = now_ms() + 5000;
	while (now_ms() < deadline) {
		struct pollfd	 pfd[2];

		if ((r = t_recv(&sc->th, 0)) != NULL ||
		    (r = t_recv(&sc->tq, 0)) != NULL ||
		    sc->th.peer_closed || sc->tq.peer_closed)
			break;
		pfd[0].fd = sc->th.fd;
		pfd[1].fd = sc->tq.fd;
		pfd[0].events = pfd[1].events = POLLIN;
		(void)poll(pfd, 2, 100);
	}
	if (!IS_INCOMING(r)) {
		proto_arena_reset(&sc->th.arena);
		sess_why(s, "incoming", r);
		proto_arena_reset(&sc->tq.arena);
		return;
	}
	memcpy(sid, r->incoming->session_id.data, SESSION_ID_LEN);
	memcpy(tok_h, r->incoming->token.data, TOKEN_LEN);
	proto_arena_reset(&sc->th.arena);
	t_session_op(&sc->th, 1, sid, SESSION_ID_LEN, NULL);
	r = t_recv(&sc->tq, 5000);
	if (!IS_CONNECTED(r)) {
		sess_why(s, "connected", r);
		proto_arena_reset(&sc->tq.arena);
		return;
	}
	s->fwd = r->connected->token.data[0] % sc->nfwd;
	s->fd_i = t_data_open_from(sc->src, port, r->connected->token.data);
	proto_arena_reset(&sc->tq.arena);
	s->fd_r = t_data_open_from(sc->src, port, tok_h);
	if (s->fd_i == -1 || s->fd_r == -1) {
		s->why = "data connection refused";
		return;
	}
	set_nonblock(s->fd_i, 1);
	set_nonblock(s->fd_r, 1);
	s->d[0].fd_src = s->fd_i;
	s->d[0].fd_dst = s->fd_r;
	s->d[1].fd_src = s->fd_r;
	s->d[1].fd_dst = s->fd_i;
	s->d[0].seed = (uint64_t)getpid() << 32 | (uint64_t)idx << 1;
	s->d[1].seed = s->d[0].seed | 1;
	s->t_open = now_ms();
	s->ok = 1;
}

static void
sess_close(struct sess *s)
{
	if (s->fd_i != -1)
		close(s->fd_i);
	if (s->fd_r != -1)
		close(s->fd_r);
	s->fd_i = s->fd_r = -1;
	s->ok = 0;
}

/*
 * Move bytes on every live session. Each direction sends the pattern
 * until it has sent `until` bytes (0: no end, until *stopped), at most
 * rate_kbps KiB/s when that is not 0; *stopped is set once stopfile
 * exists. With finish, each end half-closes once it is done sending and
 * the pump waits for every end of stream. Returns when every direction
 * has nothing left to do, or at the deadline.
 */
static void
sess_pump(struct sess *s, int n, uint64_t until, int64_t deadline,
    int rate_kbps, const char *stopfile, int finish, int *stopped)
{
	struct pollfd	*pfd;
	uint8_t		 buf[65536];
	struct stat	 st;
	int64_t		 t0 = now_ms(), next_check = 0;
	uint64_t	 allowed;
	ssize_t		 k;
	size_t		 want;
	int		 i, j, np, busy;

	pfd = xcalloc(n * 4 + 1, sizeof(*pfd));
	for (;;) {
		int64_t	 now = now_ms();

		if (now >= deadline)
			break;
		if (stopfile != NULL && now >= next_check) {
			next_check = now + 100;
			if (stat(stopfile, &st) == 0)
				*stopped = 1;
		}
		allowed = rate_kbps > 0 ?
		    (uint64_t)(now - t0 + 100) * rate_kbps * 1024 / 1000 :
		    UINT64_MAX;
		busy = 0;
		np = 0;
		for (i = 0; i < n; i++) {
			if (!s[i].ok)
				continue;
			for (j = 0; j < 2; j++) {
				struct sdir	*d = &s[i].d[j];
				int		 sending;

				sending = !d->shut && !d->error && !*stopped &&
				    (until == 0 || d->sent < until);
				if (finish && !sending && !d->shut &&
				    !d->error) {
					shutdown(d->fd_src, SHUT_WR);
					d->shut = 1;
				}
				if (sending || (!d->eof && !d->error &&
				    (d->recvd < d->sent || finish)))
					busy = 1;
				if (sending && d->sent < allowed) {
					pfd[np].fd = d->fd_src;
					pfd[np].events = POLLOUT;
					pfd[np].revents = 0;
					np++;
				}
				if (!d->eof && !d->error) {
					pfd[np].fd = d->fd_dst;
					pfd[np].events = POLLIN;
					pfd[np].revents = 0;
					np++;
				}
			}
		}
		if (!busy)
			break;
		if (poll(pfd, np, 20) < 0 && errno != EINTR)
			die("poll");
		for (i = 0; i < n; i++) {
			if (!s[i].ok)
				continue;
			for (j = 0; j < 2; j++) {
				struct sdir	*d = &s[i].d[j];

				if (!d->shut && !d->error && !*stopped &&
				    (until == 0 || d->sent < until) &&
				    d->sent < allowed) {
					want = sizeof(buf);
					if (until != 0 && until - d->sent < want)
						want = until - d->sent;
					if (allowed - d->sent < want)
						want = allowed - d->sent;
					pattern(d->seed, d->sent, buf, want);
					k = send(d->fd_src, buf, want,
					    MSG_NOSIGNAL);
					if (k > 0)
						d->sent += k;
					else if (k == -1 && errno != EAGAIN &&
					    errno != EINTR)
						d->error = 1;
				}
				while (!d->eof && !d->error) {
					k = read(d->fd_dst, buf, sizeof(buf));
					if (k > 0) {
						if (d->recvd + k > d->sent ||
						    pattern_check(d->seed,
						    d->recvd, buf, k) == -1)
							d->corrupt = 1;
						d->recvd += k;
						continue;
					}
					if (k == 0)
						d->eof = 1;
					else if (errno != EAGAIN &&
					    errno != EINTR)
						d->error = 1;
					break;
				}
			}
		}
	}
	free(pfd);
}

/* A session's verdict after a finishing pump. */
static const char *
sess_verdict(const struct sess *s)
{
	int	 j;

	if (!s->ok)
		return "down";
	for (j = 0; j < 2; j++)
		if (s->d[j].corrupt)
			return "corrupt";
	for (j = 0; j < 2; j++)
		if (s->d[j].error || !s->d[j].eof ||
		    s->d[j].recvd != s->d[j].sent)
			return "cut";
	return "ok";
}

/*
 * streams SRC NSESS NFWD RATE_KBPS STOPFILE MAX_MS: at least NSESS/NFWD
 * sessions on each fwd worker, streams both ways until STOPFILE exists,
 * then each end half-closes and every byte is checked.
 */
static int
mode_streams(char *argv[])
{
	struct sessctx	 sc;
	struct sess	*s;
	int		 nsess, nfwd, rate, i, per_fwd[32] = { 0 };
	int		 n = 0, attempts = 0, want, stopped = 0, j;
	int		 nok = 0, ncut = 0, ncorrupt = 0, ndown = 0;
	int64_t		 maxms, t0;

	nsess = num(argv[1], 1, 1000);
	nfwd = num(argv[2], 1, 32);
	rate = num(argv[3], 1, 1000000);
	maxms = num(argv[5], 1, 3600000);
	want = (nsess + nfwd - 1) / nfwd;
	s = xcalloc(nsess * 4, sizeof(*s));
	if (sess_ctl_setup(&sc, argv[0], nfwd) == -1)
		die("streams: control setup");
	for (;;) {
		int	 covered = 1;

		for (j = 0; j < nfwd; j++)
			if (per_fwd[j] < want)
				covered = 0;
		if ((covered && n >= nsess) || attempts >= nsess * 4)
			break;
		attempts++;
		sess_open(&sc, &s[n], n);
		if (!s[n].ok) {
			fprintf(stderr, "streams: session %d: %s\n", n,
			    s[n].why);
			sess_close(&s[n]);
			continue;
		}
		per_fwd[s[n].fwd]++;
		n++;
	}
	/* a first exchange proves every session paired */
	sess_pump(s, n, 4096, now_ms() + 10000, 0, NULL, 0, &stopped);
	for (i = 0; i < n; i++)
		if (s[i].d[0].recvd < 4096 || s[i].d[1].recvd < 4096) {
			fprintf(stderr, "streams: session %d did not pair\n",
			    i);
			s[i].why = "not paired";
		}
	printf("flowing sessions=%d", n);
	for (j = 0; j < nfwd; j++)
		printf(" fwd%d=%d", j, per_fwd[j]);
	printf("\n");
	fflush(stdout);
	t0 = now_ms();
	sess_pump(s, n, 0, t0 + maxms, rate, argv[4], 0, &stopped);
	/* the end: half-close, everything must arrive */
	stopped = 1;
	sess_pump(s, n, 0, now_ms() + 15000, 0, NULL, 1, &stopped);
	for (i = 0; i < n; i++) {
		const char	*v = sess_verdict(&s[i]);

		printf("session=%d fwd=%d verdict=%s i2r=%llu/%llu "
		    "r2i=%llu/%llu\n", i, s[i].fwd, v,
		    (unsigned long long)s[i].d[0].recvd,
		    (unsigned long long)s[i].d[0].sent,
		    (unsigned long long)s[i].d[1].recvd,
		    (unsigned long long)s[i].d[1].sent);
		if (strcmp(v, "ok") == 0)
			nok++;
		else if (strcmp(v, "corrupt") == 0)
			ncorrupt++;
		else if (strcmp(v, "cut") == 0)
			ncut++;
		else
			ndown++;
	}
	printf("streams sessions=%d ok=%d cut=%d corrupt=%d down=%d "
	    "stopped_by_file=%d ms=%lld\n", n, nok, ncut, ncorrupt, ndown,
	    stopped, (long long)(now_ms() - t0));
	return 0;
}

/*
 * fdsessions SRC NSESS NFWD NAFTER: open NSESS sessions while the relay
 * is short of descriptors and check each with a little data both ways;
 * the ones that work must keep working after the refusals; then all
 * close and NAFTER new sessions must work again within a bounded time.
 */
static int
mode_fdsessions(char *argv[])
{
	struct sessctx	 sc;
	struct sess	*s;
	int		 nsess, nfwd, nafter, i, est = 0, refused = 0;
	int		 intact = 0, after_ok = 0, stopped = 0;
	int64_t		 t0, deadline;
	char		 whys[4][128];
	struct stat	 st;
	int		 nwhy = 0, w;

	nsess = num(argv[1], 1, 10000);
	nfwd = num(argv[2], 1, 32);
	nafter = num(argv[3], 0, 100);
	s = xcalloc(nsess + nafter, sizeof(*s));
	if (sess_ctl_setup(&sc, argv[0], nfwd) == -1)
		die("fdsessions: control setup");
	for (i = 0; i < nsess; i++)
		sess_open(&sc, &s[i], i);
	/* a little both ways; what does not get through is refused */
	sess_pump(s, nsess, 1024, now_ms() + 8000, 0, NULL, 0, &stopped);
	for (i = 0; i < nsess; i++) {
		if (s[i].ok && s[i].d[0].recvd == 1024 &&
		    s[i].d[1].recvd == 1024 && !s[i].d[0].corrupt &&
		    !s[i].d[1].corrupt) {
			est++;
			continue;
		}
		refused++;
		if (!s[i].ok && s[i].why != NULL && nwhy < 4) {
			for (w = 0; w < nwhy; w++)
				if (strcmp(whys[w], s[i].why) == 0)
					break;
			if (w == nwhy)
				strlcpy(whys[nwhy++], s[i].why,
				    sizeof(whys[0]));
		}
		sess_close(&s[i]);
	}
	for (w = 0; w < nwhy; w++)
		printf("refusal why=\"%s\"\n", whys[w]);
	printf("fd_phase1 attempted=%d established=%d refused=%d\n", nsess,
	    est, refused);
	fflush(stdout);
	/* the shell attacks some more meanwhile, then says go */
	deadline = now_ms() + 30000;
	while (stat(argv[4], &st) == -1 && now_ms() < deadline)
		usleep(50 * 1000);
	/* the established ones still carry data after all those refusals */
	sess_pump(s, nsess, 1024 + 65536, now_ms() + 10000, 0, NULL, 0,
	    &stopped);
	for (i = 0; i < nsess; i++)
		if (s[i].ok && s[i].d[0].recvd == 1024 + 65536 &&
		    s[i].d[1].recvd == 1024 + 65536 &&
		    !s[i].d[0].corrupt && !s[i].d[1].corrupt)
			intact++;
	printf("fd_phase2 established=%d intact=%d\n", est, intact);
	fflush(stdout);
	for (i = 0; i < nsess; i++)
		sess_close(&s[i]);
	/* load is gone: new sessions work again (bounded retries) */
	t0 = now_ms();
	deadline = t0 + 15000;
	for (i = nsess; i < nsess + nafter && now_ms() < deadline; ) {
		sess_open(&sc, &s[i], i);
		if (s[i].ok) {
			sess_pump(&s[i], 1, 65536, now_ms() + 5000, 0, NULL, 0,
			    &stopped);
			if (s[i].d[0].recvd == 65536 &&
			    s[i].d[1].recvd == 65536 &&
			    !s[i].d[0].corrupt && !s[i].d[1].corrupt) {
				after_ok++;
				sess_close(&s[i]);
				i++;
				continue;
			}
		}
		sess_close(&s[i]);
		usleep(100 * 1000);
	}
	printf("fd_phase3 wanted=%d ok=%d ms=%lld\n", nafter, after_ok,
	    (long long)(now_ms() - t0));
	return 0;
}

/*
 * ---- gen and sum: the two ends of a legitimate stream, each paced to
 * KBPS KiB/s so the stream lasts through the attacks; both hash what
 * they carry with SHA-256 ----
 */

static void
sha_hex(EVP_MD_CTX *md, char out[65])
{
	uint8_t		 h[32];
	unsigned int	 hl = sizeof(h);

	EVP_DigestFinal_ex(md, h, &hl);
	hex_encode(h, sizeof(h), out, 65);
}

static void
pace(int64_t t0, uint64_t done, int kbps)
{
	int64_t	 due = t0 + (int64_t)(done * 1000 / ((uint64_t)kbps * 1024));
	int64_t	 now = now_ms();

	if (due > now)
		usleep((due - now) * 1000);
}

static int
mode_gen(char *argv[])
{
	EVP_MD_CTX	*md;
	uint8_t		 buf[16384];
	char		 hex[65];
	uint64_t	 seed, total, done = 0;
	int64_t		 t0 = now_ms();
	size_t		 n;
	FILE		*f;
	int		 kbps;

	seed = num(argv[0], 0, INT32_MAX);
	total = num(argv[1], 0, (long long)1 << 40);
	kbps = num(argv[2], 1, 10000000);
	if ((md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
		die("sha256");
	while (done < total) {
		n = total - done < sizeof(buf) ? total - done : sizeof(buf);
		pattern(seed, done, buf, n);
		if (t_write_full(STDOUT_FILENO, buf, n) == -1)
			die("gen: write: %s", strerror(errno));
		EVP_DigestUpdate(md, buf, n);
		done += n;
		pace(t0, done, kbps);
	}
	sha_hex(md, hex);
	if ((f = fopen(argv[3], "w")) == NULL)
		die("%s: %s", argv[3], strerror(errno));
	fprintf(f, "%llu %s\n", (unsigned long long)done, hex);
	fclose(f);
	return 0;
}

static int
mode_sum(char *argv[])
{
	EVP_MD_CTX	*md;
	uint8_t		 buf[16384];
	char		 hex[65];
	uint64_t	 done = 0;
	int64_t		 t0 = now_ms();
	ssize_t		 n;
	int		 kbps;

	kbps = num(argv[0], 1, 10000000);
	if ((md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
		die("sha256");
	for (;;) {
		n = read(STDIN_FILENO, buf, sizeof(buf));
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		EVP_DigestUpdate(md, buf, n);
		done += n;
		pace(t0, done, kbps);
	}
	sha_hex(md, hex);
	printf("%llu %s\n", (unsigned long long)done, hex);
	return 0;
}

/*
 * The modes: those with relay need PORT RELAY_ID before their name; the
 * others come first.
 */
static const struct mode {
	const char	*name;
	int		 relay;
	int		 nargs;
	const char	*args;
	int		(*run)(char *[]);
} modes[] = {
	{ "gen", 0, 4, "SEED BYTES KBPS HASHFILE", mode_gen },
	{ "sum", 0, 1, "KBPS", mode_sum },
	{ "probe", 1, 2, "SRC NPINGS", mode_probe },
	{ "listflood", 1, 7, "SRCSPEC NCLIENTS NLEASES NREQ BAD HOLD_MS DRAIN",
	    mode_listflood },
	{ "squat", 1, 5, "SRCSPEC NIDS NREQ TARGET HOLD_MS", mode_squat },
	{ "holder", 1, 4, "SRC NAME ALLOW_ID|any|none HOLD_MS", mode_holder },
	{ "request", 1, 5, "SRC KEYFILE TARGET NBYTES TIMEOUT_MS",
	    mode_request },
	{ "slowloris", 1, 4, "SRCSPEC N HOLD_MS INTERVAL_MS", mode_raw },
	{ "connflood", 1, 3, "SRCSPEC N HOLD_MS", mode_raw },
	{ "tokens", 1, 3, "SRCSPEC N HOLD_MS", mode_raw },
	{ "reqflood", 1, 2, "SRC N", mode_reqflood },
	{ "streams", 1, 6, "SRC NSESS NFWD RATE_KBPS STOPFILE MAX_MS",
	    mode_streams },
	{ "fdsessions", 1, 5, "SRC NSESS NFWD NAFTER GOFILE", mode_fdsessions },
};
#define NMODES	(sizeof(modes) / sizeof(modes[0]))

static void __attribute__((noreturn))
usage(void)
{
	size_t	 i;

	fprintf(stderr, "usage: hostile PORT RELAY_ID MODE ARGS...\n");
	/* the table lists the modes without relay first */
	for (i = 0; i < NMODES; i++)
		fprintf(stderr, "%s%s %s\n", modes[i].relay ? "  " :
		    "       hostile ", modes[i].name, modes[i].args);
	fprintf(stderr, "SRCSPEC is A.B.C.D[+N]: N source addresses from "
	    "A.B.C.D, in 127/8.\n");
	exit(2);
}

static const struct mode *
find_mode(const char *name, int relay)
{
	size_t	 i;

	for (i = 0; i < NMODES; i++)
		if (modes[i].relay == relay && strcmp(modes[i].name, name) == 0)
			return &modes[i];
	return NULL;
}

int
main(int argc, char *argv[])
{
	const struct mode	*md;
	int			 skip = 2;

	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	if (argc < 2)
		usage();
	if ((md = find_mode(argv[1], 0)) == NULL) {
		if (argc < 4 || (md = find_mode(argv[3], 1)) == NULL)
			usage();
		port = num(argv[1], 1, 65535);
		if (id_normalize(argv[2], relay_id) == -1)
			die("bad relay ID %s", argv[2]);
		skip = 4;
	}
	if (argc - skip != md->nargs)
		die("%s %s", md->name, md->args);
	mode = md->name;
	return md->run(argv + skip);
}
