/* SPDX-License-Identifier: ISC */
/*
 * fuzz_conn.c: relayd's conn worker (relayd/conn.c), the process that
 * reads the network. Built twice:
 *
 *   fuzz_preamble  (-DFUZZ_PREAMBLE) one connection's bytes as they
 *                  arrive, in chunks: preamble, a data connection's
 *                  token, handshake frames. The parent signs every
 *                  request, so M2 comes back and M3 is read too.
 *   fuzz_conn      a session of operations over several connections:
 *                  honest control handshakes, records carrying any
 *                  ClientMessage (raw, or a valid one of each kind, or a
 *                  burst of ListLeases), tampered records, the lease
 *                  worker's answers (each request answered once, as
 *                  lease.c does, with input-filled fields; page after
 *                  page of leases; floods of Incoming and Notice for a
 *                  client that never reads), timeouts, closes, and a
 *                  client reading its replies or not.
 *
 * conn.c is compiled into this file; what it needs from proc.c (the
 * channels to the other processes, a few helpers) is replaced here:
 * peer_compose() hands the message to the parent, lease worker or fwd
 * worker played by this file. Connections come through conn.c's own
 * conn_accept() on an AF_UNIX listener; the conn side's send buffer is
 * small, so a client that does not read fills conn.c's own queue soon.
 *
 * Beyond "no crash" (use-after-free, leaks: ASan): a data connection is
 * handed to the fwd worker named by its token with exactly the bytes
 * after the token still unread; every message to the lease worker is
 * one it accepts (strings terminated, counts in range, valid names and
 * IDs, from an established client) and a client has at most
 * CONN_INFLIGHT_MAX requests waiting; a client's queue never passes
 * CONN_OUT_MAX; every record a client receives opens and carries a
 * RelayMessage that passes proto_check_relay(); after a run no client,
 * address count or descriptor is left.
 *
 * Written against conn.c of main 112f3a2 (clients freed from the event
 * loop, CL_DEAD); conn.c's next restructuring will need this file
 * adapted: fz_find_new_client(), the lease answers and the stubs.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/un.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <signal.h>
#include <poll.h>

#include "../../relayd/conn.c"

#include "fuzz.h"

/* ---- what proc.c gives a worker ---- */

static struct relayd_worker	 fz_worker;
struct relayd_worker		*worker = &fz_worker;
uint8_t				 relay_pk[ED25519_PK_LEN];
const char			*role_names[] = { "parent", "lease", "conn", "fwd" };
static struct peer		 peer_lease, peer_fwd[2];

int
str_terminated(const char *s, size_t len)
{
	return memchr(s, '\0', len) != NULL;
}

void
bad_imsg(struct peer *p, struct imsg *imsg, const char *why)
{
	/* the harness sent conn.c a message the real peer would not */
	dprintf(2, "bad_imsg: type %u from %d: %s\n", imsg->hdr.type,
	    p->role, why);
	abort();
}

void
wire_addr_from_sockaddr(struct wire_addr *wa, const struct sockaddr *sa)
{
	memset(wa, 0, sizeof(*wa));
	if (sa->sa_family == AF_INET) {
		memcpy(wa->ip, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		wa->len = 4;
		wa->port = ntohs(((const struct sockaddr_in *)sa)->sin_port);
	}
}

void
sockaddr_str(const struct sockaddr *sa, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s", sa->sa_family == AF_UNIX ? "unix" :
	    "unknown");
}

/* ---- the other processes, played here ---- */

#define PENDING_MAX	256

struct pending {			/* a request the lease must answer */
	uint32_t	 type;
	uint32_t	 cid;
	uint32_t	 request_id;
};

static struct {
	struct pending	 lease[PENDING_MAX];
	int		 nlease;
	uint32_t	 sign_reqid[PENDING_MAX];
	uint8_t		 sign_h[PENDING_MAX][HS_HASH_LEN];
	int		 nsign;
	int		 data_fds;		/* handed to fwd */
	const uint8_t	*stream;		/* fuzz_preamble: the bytes */
	size_t		 written;		/* ... sent so far */
} fz;

static int
inflight_of(uint32_t cid)
{
	int	 i, n = 0;

	for (i = 0; i < fz.nlease; i++)
		if (fz.lease[i].cid == cid &&
		    fz.lease[i].type != IMSG_L_CONNECT)
			n++;
	return n;
}

static void
check_alpn(const char *a, size_t size)
{
	FZ_CHECK(str_terminated(a, size));
	FZ_CHECK(proto_alpn_valid(a));
}

/* What lease.c would refuse with bad_imsg(), or find nonsense in. */
static void
check_to_lease(uint32_t type, const void *data, size_t len)
{
	const struct l_register	*lr = data;
	const struct l_connect	*lc = data;
	const struct l_reject	*rj = data;
	const struct l_hello	*h = data;
	struct client		*c;
	char			 norm[ID_BUFSZ];
	uint32_t		 cid, i;

	FZ_CHECK(len >= sizeof(uint32_t));
	memcpy(&cid, data, sizeof(cid));
	c = client_find(cid);
	if (type != IMSG_L_GONE)
		FZ_CHECK(c != NULL && c->state == CL_ESTABLISHED);
	switch (type) {
	case IMSG_L_HELLO:
		FZ_CHECK(len == sizeof(*h));
		FZ_CHECK(str_terminated(h->id, sizeof(h->id)) &&
		    id_normalize(h->id, norm) == 0);
		FZ_CHECK(str_terminated(h->addr, sizeof(h->addr)));
		break;
	case IMSG_L_GONE:
		FZ_CHECK(len == sizeof(struct l_client));
		break;
	case IMSG_L_REGISTER:
		FZ_CHECK(len == sizeof(*lr));
		FZ_CHECK(str_terminated(lr->name, sizeof(lr->name)) &&
		    proto_name_valid(lr->name));
		FZ_CHECK(lr->nalpn >= 1 && lr->nalpn <= ALPN_MAX_COUNT);
		for (i = 0; i < lr->nalpn; i++)
			check_alpn(lr->alpn[i], sizeof(lr->alpn[i]));
		FZ_CHECK(str_terminated(lr->description,
		    sizeof(lr->description)));
		FZ_CHECK(lr->nlocal <= ADDR_MAX_COUNT);
		for (i = 0; i < lr->nlocal; i++)
			FZ_CHECK(lr->local[i].len == 4 ||
			    lr->local[i].len == 16);
		break;
	case IMSG_L_RENEW:
	case IMSG_L_UNREGISTER:
		FZ_CHECK(len == sizeof(struct l_lease_op));
		break;
	case IMSG_L_CONNECT:
		FZ_CHECK(len == sizeof(*lc));
		FZ_CHECK(str_terminated(lc->target, sizeof(lc->target)));
		if (lc->by_name)
			FZ_CHECK(proto_name_valid(lc->target));
		else
			FZ_CHECK(id_normalize(lc->target, norm) == 0 &&
			    strcmp(norm, lc->target) == 0);
		check_alpn(lc->alpn, sizeof(lc->alpn));
		break;
	case IMSG_L_ACCEPT:
		FZ_CHECK(len == sizeof(struct l_session_op));
		break;
	case IMSG_L_REJECT:
		FZ_CHECK(len == sizeof(*rj));
		FZ_CHECK(str_terminated(rj->reason, sizeof(rj->reason)));
		break;
	case IMSG_L_LIST:
		FZ_CHECK(len == sizeof(struct l_list));
		break;
	default:
		FZ_CHECK(!"conn.c sent the lease worker an unknown message");
	}
}

/* A data connection: the token's fwd worker, and the rest left unread. */
static void
check_data_fd(struct peer *p, int fd, const struct f_data *d)
{
	uint8_t	 rest[4096];
	ssize_t	 n;
	size_t	 want;

	FZ_CHECK(fd != -1);
	FZ_CHECK(p == &peer_fwd[d->token[0] % worker->lim.workers_fwd]);
	FZ_CHECK(str_terminated(d->addr, sizeof(d->addr)));
	if (fz.stream != NULL) {
		FZ_CHECK(memcmp(d->token, fz.stream + PREAMBLE_LEN,
		    TOKEN_LEN) == 0);
		want = fz.written - DATA_PREAMBLE_TOTAL;
		n = recv(fd, rest, sizeof(rest), MSG_DONTWAIT);
		if (want == 0)
			FZ_CHECK(n == -1);
		else
			FZ_CHECK(n == (ssize_t)(want < sizeof(rest) ? want :
			    sizeof(rest)) && memcmp(rest, fz.stream +
			    DATA_PREAMBLE_TOTAL, n) == 0);
	}
	close(fd);	/* the fwd worker's now */
	fz.data_fds++;
}

void
peer_compose(struct peer *p, uint32_t type, int fd, const void *data,
    size_t len)
{
	const struct sign_req	*sr = data;
	struct l_list		 ll;

	if (p == &worker->parent) {
		FZ_CHECK(type == IMSG_SIGN_REQ && len == sizeof(*sr) &&
		    fd == -1);
		if (fz.nsign < PENDING_MAX) {
			fz.sign_reqid[fz.nsign] = sr->reqid;
			memcpy(fz.sign_h[fz.nsign++], sr->h, HS_HASH_LEN);
		}
		return;
	}
	if (p == &peer_fwd[0] || p == &peer_fwd[1]) {
		FZ_CHECK(type == IMSG_F_DATA_FD && len == sizeof(struct f_data));
		check_data_fd(p, fd, data);
		return;
	}
	FZ_CHECK(p == &peer_lease && fd == -1);
	check_to_lease(type, data, len);
	if (type == IMSG_L_HELLO)
		return;
	if (type == IMSG_L_GONE) {
		uint32_t	 cid;
		int		 i, k = 0;

		/* its requests die with it, as in lease.c */
		memcpy(&cid, data, sizeof(cid));
		for (i = 0; i < fz.nlease; i++)
			if (fz.lease[i].cid != cid)
				fz.lease[k++] = fz.lease[i];
		fz.nlease = k;
		return;
	}
	FZ_CHECK(fz.nlease < PENDING_MAX);
	fz.lease[fz.nlease].type = type;
	memcpy(&fz.lease[fz.nlease].cid, data, sizeof(uint32_t));
	/* request_id is the second field of every request that has one */
	memcpy(&ll, data, len < sizeof(ll) ? len : sizeof(ll));
	fz.lease[fz.nlease].request_id = type == IMSG_L_ACCEPT ||
	    type == IMSG_L_REJECT ? 0 : ll.request_id;
	fz.nlease++;
	FZ_CHECK(inflight_of(fz.lease[fz.nlease - 1].cid) <=
	    CONN_INFLIGHT_MAX);
}

/* ---- the harness ---- */

static const uint8_t	 seed_relay[32] = {
	0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2a,
	0x2b, 0x2c, 0x2d, 0x2e, 0x2f, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35,
	0x36, 0x37, 0x38, 0x39, 0x3a, 0x3b, 0x3c, 0x3d, 0x3e, 0x3f };
static const uint8_t	 seed_client[32] = {
	0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a,
	0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15,
	0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f };
static const uint8_t	 eph_client[32] __attribute__((unused)) =
    "an ephemeral key, fixed for fuzz";

static struct identity	 relay_ident, client_ident;
static struct proto_arena arena;
static int		 lfd = -1;
static struct listener	 fz_listener;
static int		 devnull = -1;

#define NCLIENTS	8

enum fzc_state { FZC_NONE, FZC_OPEN, FZC_HS, FZC_READY, FZC_DEAD };

struct fzc {				/* the client side of a connection */
	enum fzc_state	 state;
	int		 fd;
	uint32_t	 cid;		/* conn.c's name for it */
	struct handshake hs;
	struct rec_layer rec;
	int		 rec_ready;
	uint8_t		 in[2 * REC_MAX_FRAME];
	size_t		 inlen;
	int		 closed;	/* conn's close record came */
};

static struct fzc	 fzc[NCLIENTS];

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct sockaddr_un	 sun;
	socklen_t		 len;

	fz_quiet();
	signal(SIGPIPE, SIG_IGN);	/* as the program does */
	if (identity_from_seed(&relay_ident, seed_relay) == -1 ||
	    identity_from_seed(&client_ident, seed_client) == -1 ||
	    proto_arena_init(&arena, PROTO_ARENA_CLIENT) == -1 ||
	    (devnull = open("/dev/null", O_RDONLY | O_CLOEXEC)) == -1)
		abort();
	memcpy(relay_pk, relay_ident.pk, sizeof(relay_pk));
	if (getenv("FUZZ_VERBOSE") != NULL)
		log_setverbose(2);
	if ((worker->base = event_base_new()) == NULL)
		abort();
	worker->role = ROLE_CONN;
	worker->parent.role = ROLE_PARENT;
	worker->parent.connected = 1;
	peer_lease.role = ROLE_LEASE;
	peer_lease.connected = 1;
	peer_fwd[0].role = peer_fwd[1].role = ROLE_FWD;
	worker->lease = &peer_lease;
	worker->fwd[0] = &peer_fwd[0];
	worker->fwd[1] = &peer_fwd[1];
	worker->lim.workers_conn = 1;
	worker->lim.workers_fwd = 2;
	worker->lim.conns_per_addr = NCLIENTS - 2;
	worker->lim.conns_total = NCLIENTS;
	worker->lim.timeout_handshake = 10;
	worker->lim.timeout_idle = 90;
	conn_init();

	/* a listener in the abstract namespace: no file, gone with us */
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	len = offsetof(struct sockaddr_un, sun_path) + 1 +
	    snprintf(sun.sun_path + 1, sizeof(sun.sun_path) - 1,
	    "fzrl-conn-%ld", (long)getpid());
	if ((lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1 || bind(lfd, (struct sockaddr *)&sun, len) == -1 ||
	    listen(lfd, 64) == -1)
		abort();
	fz_listener.fd = lfd;
	return 0;
}

/* The descriptors open before a run are open after it, and no other. */
#define FD_WINDOW	64

static uint64_t	fd_open_mask(int) __attribute__((unused));
static int	fd_lowest(void) __attribute__((unused));

static uint64_t
fd_open_mask(int lo)
{
	struct pollfd	 p[FD_WINDOW];
	uint64_t	 m = 0;
	int		 i;

	for (i = 0; i < FD_WINDOW; i++) {
		p[i].fd = lo + i;
		p[i].events = 0;
		p[i].revents = 0;
	}
	FZ_CHECK(poll(p, FD_WINDOW, 0) != -1);
	for (i = 0; i < FD_WINDOW; i++)
		if (!(p[i].revents & POLLNVAL))
			m |= (uint64_t)1 << i;
	return m;
}

static int
fd_lowest(void)
{
	int	 fd = dup(devnull);

	FZ_CHECK(fd != -1);
	close(fd);
	return fd;
}

static void
loop_run(void)
{
	int	 i;

	for (i = 0; i < 3; i++)
		event_base_loop(worker->base, EVLOOP_NONBLOCK);
}

/* conn.c's client for one of ours, NULL once it is gone */
static struct client *
conn_client(const struct fzc *k)
{
	struct client	*c;

	if (k->state == FZC_NONE || k->cid == 0 ||
	    (c = client_find(k->cid)) == NULL || c->state == CL_DEAD)
		return NULL;
	FZ_CHECK(c->out == NULL ||
	    evbuffer_get_length(c->out) <= CONN_OUT_MAX);
	return c;
}

/* A new connection, accepted by conn_accept() itself. */
static struct fzc *
fz_connect(int small_buffer)
{
	struct sockaddr_un	 sun;
	struct fzc		*k;
	struct client		*c;
	socklen_t		 len = sizeof(sun);
	uint32_t		 before = cs.next_cid;
	int			 i, sz = 4096;

	for (i = 0; i < NCLIENTS && fzc[i].state != FZC_NONE; i++)
		;
	if (i == NCLIENTS)
		return NULL;
	k = &fzc[i];
	memset(k, 0, sizeof(*k));
	/*
	 * A connection still queued on the listener (its client end closed
	 * before conn.c accepted it) would be taken for ours: accept it
	 * first; it is one of conn.c's clients without a slot here.
	 */
	conn_accept(lfd, EV_READ, &fz_listener);
	before = cs.next_cid;
	if (getsockname(lfd, (struct sockaddr *)&sun, &len) == -1 ||
	    (k->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0)) == -1 ||
	    connect(k->fd, (struct sockaddr *)&sun, len) == -1)
		abort();
	k->state = FZC_OPEN;
	conn_accept(lfd, EV_READ, &fz_listener);
	log_debug("fuzz: slot %d: cids %u..%u, %u clients, fd %d conn fd %d",
	    i, before, cs.next_cid, cs.nclients, k->fd,
	    cs.next_cid != before && client_find(cs.next_cid - 1) != NULL ?
	    client_find(cs.next_cid - 1)->fd : -2);
	if (cs.next_cid != before) {
		k->cid = cs.next_cid - 1;
		if ((c = client_find(k->cid)) != NULL) {
			char	 b = 0;

			/* the two ends are one connection */
			FZ_CHECK(send(c->fd, "p", 1, MSG_NOSIGNAL) == 1);
			FZ_CHECK(recv(k->fd, &b, 1, MSG_DONTWAIT) == 1 &&
			    b == 'p');
		}
		if (small_buffer && (c = client_find(k->cid)) != NULL)
			(void)setsockopt(c->fd, SOL_SOCKET, SO_SNDBUF, &sz,
			    sizeof(sz));
	}
	return k;
}

static void
fz_write(struct fzc *k, const void *p, size_t len)
{
	/* a slot not in use has no descriptor: its old number is another's */
	if (k->state != FZC_NONE && k->state != FZC_DEAD && len > 0)
		(void)send(k->fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
}

/* Everything the relay sent this client: authentic, and valid messages. */
static void	fz_read(struct fzc *) __attribute__((unused));
static void
fz_read(struct fzc *k)
{
	uint8_t		 pt[REC_MAX_PAYLOAD];
	char		 err[128];
	RelayMessage	*m;
	ssize_t		 n, flen;
	size_t		 plen;
	int		 r;

	if (k->state == FZC_NONE || k->state == FZC_DEAD)
		return;
	for (;;) {
		n = recv(k->fd, k->in + k->inlen, sizeof(k->in) - k->inlen,
		    MSG_DONTWAIT);
		if (n == 0 || (n == -1 && errno != EAGAIN))
			k->state = FZC_DEAD;	/* the relay closed it */
		if (n <= 0)
			break;
		k->inlen += n;
		if (!k->rec_ready) {
			if (k->state != FZC_HS)
				k->inlen = 0;	/* nothing to read yet */
			continue;	/* M2: fz_handshake() reads it */
		}
		while (!k->closed) {
			flen = rec_frame_len(k->in, k->inlen);
			if (flen < 0)
				dprintf(2, "client %d cid %u: %zu bytes: "
				    "%02x %02x %02x %02x\n", (int)(k - fzc),
				    k->cid, k->inlen, k->in[0], k->in[1],
				    k->in[2], k->in[3]);
			FZ_CHECK(flen >= 0);
			if (flen == 0 || (size_t)flen > k->inlen)
				break;
			r = rec_open(&k->rec, k->in, flen, pt, sizeof(pt),
			    &plen);
			if (r == REC_ERR)
				dprintf(2, "client %d cid %u: record %llu of "
				    "%zd bytes does not open: %s\n",
				    (int)(k - fzc), k->cid,
				    (unsigned long long)k->rec.recv.counter,
				    flen, k->rec.error);
			FZ_CHECK(r != REC_ERR);
			memmove(k->in, k->in + flen, k->inlen - flen);
			k->inlen -= flen;
			if (r == REC_CLOSE) {
				k->closed = 1;
				break;
			}
			m = proto_unpack_relay(&arena, pt, plen);
			FZ_CHECK(m != NULL);
			if (proto_check_relay(m, err, sizeof(err)) == -1) {
				dprintf(2, "relayd sent a bad %s: %s\n",
				    proto_relay_msg_name(m->msg_case), err);
				FZ_CHECK(!"relayd sent a bad message");
			}
		}
		if (k->closed)
			k->inlen = 0;
	}
}

/* The parent: sign (or not) every request it was sent. */
static void
fz_parent(struct fz *f)
{
	struct sign_resp	 resp;
	struct imsg		 imsg;
	uint8_t			 msg[HS_SIGMSG_LEN];
	uint8_t			 how;
	int			 i;

	for (i = 0; i < fz.nsign; i++) {
		how = f != NULL ? fz_u8(f) : 0;
		memset(&resp, 0, sizeof(resp));
		resp.reqid = how == 0xfe ? fz.sign_reqid[i] + 1 :
		    fz.sign_reqid[i];
		hs_build_sigmsg(HS_RESPONDER, fz.sign_h[i], relay_pk, msg);
		if (identity_sign(&relay_ident, msg, sizeof(msg), resp.sig) ==
		    -1)
			abort();
		if (how == 0xff)
			resp.sig[0] ^= 1;	/* a signer with another key */
		memset(&imsg, 0, sizeof(imsg));
		imsg.hdr.type = IMSG_SIGN_RESP;
		imsg.fd = -1;
		imsg.data = (uint8_t *)&resp;
		imsg.len = sizeof(resp);
		conn_dispatch(&worker->parent, &imsg);
	}
	fz.nsign = 0;
}

static void	to_conn(uint32_t, void *, size_t) __attribute__((unused));
static void
to_conn(uint32_t type, void *data, size_t len)
{
	struct imsg	 imsg;

	memset(&imsg, 0, sizeof(imsg));
	imsg.hdr.type = type;
	imsg.fd = -1;
	imsg.data = data;
	imsg.len = len;
	conn_dispatch(&peer_lease, &imsg);
}

#ifdef FUZZ_PREAMBLE

/* One connection's bytes, in chunks, the parent signing everything. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fzc	*k;
	struct client	*c;
	size_t		 off = 1, chunk;
	uint8_t		 pattern;
	int		 i;

	if (size < 1)
		return 0;
	pattern = data[0];
	memset(&fz, 0, sizeof(fz));
	fz.stream = data + 1;
	size--;
	k = fz_connect(0);
	FZ_CHECK(k != NULL && k->cid != 0);
	for (i = 0; off - 1 < size; i++) {
		chunk = (pattern >> (i % 8) & 1) ? 1 : (size_t)pattern + 1;
		if (chunk > size - (off - 1))
			chunk = size - (off - 1);
		fz_write(k, data + off, chunk);
		off += chunk;
		fz.written = off - 1;
		loop_run();
		fz_parent(NULL);
		loop_run();
		if (conn_client(k) == NULL)
			break;
	}
	/* what the stream says about the connection */
	if (size >= PREAMBLE_LEN && memcmp(fz.stream, PREAMBLE_MAGIC,
	    PREAMBLE_MAGIC_LEN) == 0 && fz.stream[4] == PREAMBLE_DATA) {
		FZ_CHECK(fz.data_fds == (size >= DATA_PREAMBLE_TOTAL));
		if (size < DATA_PREAMBLE_TOTAL)
			FZ_CHECK(conn_client(k) != NULL);
	} else
		FZ_CHECK(fz.data_fds == 0);
	if (size >= PREAMBLE_LEN && (memcmp(fz.stream, PREAMBLE_MAGIC,
	    PREAMBLE_MAGIC_LEN) != 0 || (fz.stream[4] != PREAMBLE_DATA &&
	    fz.stream[4] != PREAMBLE_CONTROL)))
		FZ_CHECK(conn_client(k) == NULL);
	if ((c = conn_client(k)) != NULL)
		client_close(c, NULL);
	close(k->fd);
	k->state = FZC_NONE;
	hs_clear(&k->hs);
	conn_reap(-1, 0, NULL);
	FZ_CHECK(cs.nclients == 0 && RB_EMPTY(&cs.addrs));
	return 0;
}

#else	/* fuzz_conn */

/* An honest handshake as the client, up to HELLO. */
static void
fz_handshake(struct fzc *k, struct fz *f)
{
	uint8_t	 frame[HS_FRAME_M2 + 8], pre[PREAMBLE_LEN];
	int	 n;

	if (k->state != FZC_OPEN)
		return;
	memcpy(pre, PREAMBLE_MAGIC, PREAMBLE_MAGIC_LEN);
	pre[4] = PREAMBLE_CONTROL;
	fz_write(k, pre, sizeof(pre));
	if (hs_init(&k->hs, HS_INITIATOR, (const uint8_t *)HS_CTX_CONTROL,
	    sizeof(HS_CTX_CONTROL) - 1, client_ident.pk,
	    relay_ident.id) == -1 || hs_set_ephemeral(&k->hs, eph_client) ==
	    -1 || (n = hs_write_m1(&k->hs, frame, sizeof(frame))) < 0)
		abort();
	fz_write(k, frame, n);
	k->state = FZC_HS;
	loop_run();
	fz_parent(f);
	loop_run();
	fz_read(k);
	if (k->state != FZC_HS || k->inlen < HS_FRAME_M2)
		return;
	FZ_CHECK(get_be16(k->in) == HS_M2_LEN);
	if (hs_read_m2(&k->hs, k->in + FRAME_HDR_LEN, HS_M2_LEN) == -1 ||
	    hs_sign(&k->hs, &client_ident) == -1 ||
	    (n = hs_write_m3(&k->hs, frame, sizeof(frame))) < 0)
		return;		/* the parent's signature was bad */
	memmove(k->in, k->in + HS_FRAME_M2, k->inlen - HS_FRAME_M2);
	k->inlen -= HS_FRAME_M2;
	if (fz_u8(f) == 0xff)
		frame[2 + fz_u8(f) % HS_M3_LEN] ^= 1;
	fz_write(k, frame, n);
	if (rec_init_from_hs(&k->rec, &k->hs) == -1)
		abort();
	k->rec_ready = 1;
	k->state = FZC_READY;
	loop_run();
}

static void
fz_send_record(struct fzc *k, int type, const uint8_t *p, size_t len,
    int tamper)
{
	uint8_t	 frame[REC_MAX_FRAME];
	ssize_t	 n;

	/* nothing after our close: rec_seal would fail both directions */
	if (k->state != FZC_READY || k->rec.send.closed ||
	    (n = rec_seal(&k->rec, type, p, len, frame, sizeof(frame))) < 0)
		return;
	if (tamper)
		frame[n - 1] ^= 1;
	fz_write(k, frame, n);
}

/* A valid ClientMessage of the kind the input picks. */
static size_t
fz_client_msg(struct fz *f, uint8_t *out, size_t outlen)
{
	ClientMessage		 m = RELAY__V1__CLIENT_MESSAGE__INIT;
	Relay__V1__Register	 reg = RELAY__V1__REGISTER__INIT;
	Relay__V1__Renew	 ren = RELAY__V1__RENEW__INIT;
	Relay__V1__Unregister	 unr = RELAY__V1__UNREGISTER__INIT;
	Relay__V1__Connect	 con = RELAY__V1__CONNECT__INIT;
	Relay__V1__Accept	 acc = RELAY__V1__ACCEPT__INIT;
	Relay__V1__Reject	 rej = RELAY__V1__REJECT__INIT;
	Relay__V1__ListLeases	 lst = RELAY__V1__LIST_LEASES__INIT;
	Relay__V1__Ping		 png = RELAY__V1__PING__INIT;
	uint8_t			 id16[16];
	char			*alpn[] = { "ssh", "h2" };
	char			 name[16];
	ssize_t			 n;

	fz_fill(f, id16, sizeof(id16));
	snprintf(name, sizeof(name), "lease-%u", fz_u8(f));
	switch (fz_u8(f) % 8) {
	case 0:
		reg.request_id = fz_u8(f);
		reg.name = name;
		reg.alpn = alpn;
		reg.n_alpn = 1 + fz_u8(f) % 2;
		reg.description = "fuzz";
		reg.ttl_seconds = fz_u8(f);
		m.msg_case = RELAY__V1__CLIENT_MESSAGE__MSG_REGISTER;
		m.register_ = &reg;
		break;
	case 1:
		ren.request_id = fz_u8(f);
		ren.lease_id.data = id16;
		ren.lease_id.len = sizeof(id16);
		m.msg_case = RELAY__V1__CLIENT_MESSAGE__MSG_RENEW;
		m.renew = &ren;
		break;
	case 2:
		unr.request_id = fz_u8(f);
		unr.lease_id.data = id16;
		unr.lease_id.len = sizeof(id16);
		m.msg_case = RELAY__V1__CLIENT_MESSAGE__MSG_UNREGISTER;
		m.unregister = &unr;
		break;
	case 3:
		con.request_id = fz_u8(f);
		if (fz_u8(f) & 1) {
			con.target_case = RELAY__V1__CONNECT__TARGET_NAME;
			con.name = name;
		} else {
			con.target_case = RELAY__V1__CONNECT__TARGET_ID;
			con.id = "P6NZZ6HZRA46CM6AEEJ3BLMWJYYJBBIB";
		}
		con.alpn = "ssh";
		m.msg_case = RELAY__V1__CLIENT_MESSAGE__MSG_CONNECT;
		m.connect = &con;
		break;
	case 4:
		acc.session_id.data = id16;
		acc.session_id.len = sizeof(id16);
		m.msg_case = RELAY__V1__CLIENT_MESSAGE__MSG_ACCEPT;
		m.accept = &acc;
		break;
	case 5:
		rej.session_id.data = id16;
		rej.session_id.len = sizeof(id16);
		rej.reason = "busy";
		m.msg_case = RELAY__V1__CLIENT_MESSAGE__MSG_REJECT;
		m.reject = &rej;
		break;
	case 6:
		lst.request_id = fz_u8(f);
		lst.offset = fz_u8(f);
		m.msg_case = RELAY__V1__CLIENT_MESSAGE__MSG_LIST_LEASES;
		m.list_leases = &lst;
		break;
	default:
		png.nonce = fz_u8(f);
		m.msg_case = RELAY__V1__CLIENT_MESSAGE__MSG_PING;
		m.ping = &png;
		break;
	}
	n = proto_pack_client(&m, out, outlen);
	FZ_CHECK(n > 0);
	return n;
}

static void
fill_str(struct fz *f, char *s, size_t size)
{
	size_t	 i, len = fz_u8(f) % size;

	for (i = 0; i < len; i++)
		s[i] = (char)('a' + fz_u8(f) % 26);
	s[len] = '\0';
}

static void
fill_wire_addrs(struct fz *f, struct wire_addr *a, uint32_t *n)
{
	uint32_t	 i;

	*n = fz_u8(f) % (ADDR_MAX_COUNT + 1);
	for (i = 0; i < *n; i++) {
		fz_fill(f, a[i].ip, sizeof(a[i].ip));
		a[i].len = (uint8_t[]){ 0, 4, 16, 7 }[fz_u8(f) % 4];
		/* what lease.c holds: ports of checked Registers, sockets */
		a[i].port = 1 + fz_u16(f) % 65535;
	}
}

/* The lease worker answers the oldest request, as lease.c would. */
static void
fz_lease_answer(struct fz *f)
{
	struct pending	 q;
	uint8_t		 how = fz_u8(f);
	uint32_t	 n;

	if (fz.nlease == 0)
		return;
	q = fz.lease[0];
	memmove(fz.lease, fz.lease + 1, --fz.nlease * sizeof(fz.lease[0]));
	if (how & 1 && q.type != IMSG_L_CONNECT) {
		struct l_error	 e;

		memset(&e, 0, sizeof(e));
		e.cid = q.cid;
		e.request_id = q.request_id;
		e.code = fz_u8(f) % 14;		/* 12, 13: unknown codes */
		e.answer = 1;
		fill_str(f, e.message, sizeof(e.message));
		to_conn(IMSG_L_ERROR, &e, sizeof(e));
		return;
	}
	switch (q.type) {
	case IMSG_L_REGISTER:
	case IMSG_L_RENEW: {
		struct l_registered	 r;

		memset(&r, 0, sizeof(r));
		r.cid = q.cid;
		r.request_id = q.request_id;
		fz_fill(f, r.lease_id, sizeof(r.lease_id));
		snprintf(r.name, sizeof(r.name), "lease-%u", fz_u8(f));
		r.ttl = fz_u32(f);
		r.expires = fz_u64(f);
		to_conn(IMSG_L_REGISTERED, &r, sizeof(r));
		break;
	}
	case IMSG_L_UNREGISTER: {
		struct l_ack	 a = { q.cid, q.request_id };

		to_conn(IMSG_L_ACK, &a, sizeof(a));
		break;
	}
	case IMSG_L_ACCEPT:
	case IMSG_L_REJECT: {
		struct l_client	 lc = { q.cid };

		to_conn(IMSG_L_DONE, &lc, sizeof(lc));
		break;
	}
	case IMSG_L_CONNECT: {
		struct l_connected	 c;

		memset(&c, 0, sizeof(c));
		c.cid = q.cid;
		c.request_id = q.request_id;
		fz_fill(f, c.session_id, sizeof(c.session_id));
		strlcpy(c.id, relay_ident.id, sizeof(c.id));
		fz_fill(f, c.token, sizeof(c.token));
		c.peer_addr.len = fz_u8(f) & 1 ? 4 : 0;
		c.peer_addr.port = 1 + fz_u16(f) % 65535;
		fill_wire_addrs(f, c.peer_local, &c.npeer_local);
		to_conn(IMSG_L_CONNECTED, &c, sizeof(c));
		break;
	}
	case IMSG_L_LIST: {
		struct l_leaseinfo	 li;
		struct l_list_end	 le;
		uint32_t		 k, j;

		/* a page of up to LIST_PAGE, as long as they can be */
		n = fz_u8(f) % (LIST_PAGE + 1);
		for (k = 0; k < n; k++) {
			memset(&li, 0, sizeof(li));
			li.cid = q.cid;
			li.request_id = q.request_id;
			memset(li.name, 'n', NAME_MAX_LEN);
			strlcpy(li.id, client_ident.id, sizeof(li.id));
			li.nalpn = 1 + fz_u8(f) % ALPN_MAX_COUNT;
			for (j = 0; j < li.nalpn; j++)
				memset(li.alpn[j], 'a', ALPN_MAX_LEN);
			memset(li.description, 'd', fz_u8(f) & 1 ?
			    DESC_MAX_LEN : 4);
			li.expires = fz_u64(f);
			to_conn(IMSG_L_LEASEINFO, &li, sizeof(li));
		}
		memset(&le, 0, sizeof(le));
		le.cid = q.cid;
		le.request_id = q.request_id;
		le.more = fz_u8(f) & 1;
		to_conn(IMSG_L_LIST_END, &le, sizeof(le));
		break;
	}
	default:
		FZ_CHECK(!"a request the harness does not know");
	}
}

/* What the lease worker sends unasked: Incoming, Notice, Kick, Error. */
static void
fz_lease_news(struct fz *f, struct fzc *k)
{
	uint8_t		 kind = fz_u8(f);
	uint32_t	 count = fz_u8(f), i;

	/* now and then a flood: past CONN_OUT_MAX for one that never reads */
	if (kind & 0x80)
		count *= 16;
	kind %= 4;

	for (i = 0; i < count && conn_client(k) != NULL; i++) {
		switch (kind) {
		case 0: {
			struct l_incoming	 in;

			memset(&in, 0, sizeof(in));
			in.cid = k->cid;
			memset(in.session_id, i, sizeof(in.session_id));
			strlcpy(in.alpn, "ssh", sizeof(in.alpn));
			strlcpy(in.from_id, client_ident.id,
			    sizeof(in.from_id));
			in.from_addr.len = 4;
			in.from_addr.port = 7420;
			in.nfrom_local = ADDR_MAX_COUNT;
			for (uint32_t j = 0; j < ADDR_MAX_COUNT; j++) {
				in.from_local[j].len = 16;
				in.from_local[j].port = 1 + j;
			}
			to_conn(IMSG_L_INCOMING, &in, sizeof(in));
			break;
		}
		case 1: {
			struct l_notice	 n;

			memset(&n, 0, sizeof(n));
			n.cid = k->cid;
			n.kind = i & 1;
			memset(n.message, 'm', REASON_MAX_LEN);
			to_conn(IMSG_L_NOTICE, &n, sizeof(n));
			break;
		}
		case 2: {
			struct l_client	 lc = { k->cid };

			to_conn(IMSG_L_KICK, &lc, sizeof(lc));
			break;
		}
		default: {
			struct l_error	 e;

			memset(&e, 0, sizeof(e));
			e.cid = k->cid;
			e.code = RELAY__V1__ERROR_CODE__ERR_TIMEOUT;
			strlcpy(e.message, "the holder did not answer",
			    sizeof(e.message));
			to_conn(IMSG_L_ERROR, &e, sizeof(e));
			break;
		}
		}
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t	 msg[REC_MAX_PAYLOAD];
	struct fzc	*k;
	struct client	*c;
	struct fz	 f;
	const uint8_t	*p;
	size_t		 len, got;
	uint8_t		 op;
	uint64_t	 open_before;
	int		 i, steps = 0, j, lo;

	fz_init(&f, data, size);
	memset(&fz, 0, sizeof(fz));
	/* every run alike: the previous one left no client behind */
	cs.next_cid = 1;
	lo = fd_lowest();
	open_before = fd_open_mask(lo);
	while (fz_more(&f) && steps++ < 64) {
		op = fz_u8(&f);
		k = &fzc[(op >> 4) % NCLIENTS];
		log_debug("fuzz: step %d: op %02x (client %d) %u pending, "
		    "%zu left, %d signs", steps, op, (op >> 4) % NCLIENTS,
		    fz.nlease, f.n, fz.nsign);
		switch (op & 0x0f) {
		case 0:		/* a new connection */
			(void)fz_connect(op & 0x80);
			break;
		case 1:		/* an honest handshake */
			fz_handshake(k, &f);
			break;
		case 2:		/* a record with the input's ClientMessage */
			len = fz_u16(&f) % 2048;
			p = fz_take(&f, len, &got);
			fz_send_record(k, REC_TYPE_DATA, p, got, 0);
			break;
		case 3:		/* valid requests, up to 64 in one write */
			j = fz_u8(&f) % 64 + 1;
			len = fz_client_msg(&f, msg, sizeof(msg));
			while (j-- > 0)
				fz_send_record(k, REC_TYPE_DATA, msg, len, 0);
			break;
		case 4:		/* a tampered record, or our close */
			fz_send_record(k, op & 0x80 ? REC_TYPE_CLOSE :
			    REC_TYPE_DATA, (const uint8_t *)"x", op & 0x80 ?
			    0 : 1, !(op & 0x80));
			break;
		case 5:		/* raw bytes */
			p = fz_take(&f, fz_u8(&f), &got);
			fz_write(k, p, got);
			break;
		case 6:		/* the lease worker answers */
		case 7:
			fz_lease_answer(&f);
			break;
		case 8:		/* ... or speaks unasked */
			fz_lease_news(&f, k);
			break;
		case 9:		/* the client reads what it got */
			fz_read(k);
			break;
		case 10:	/* a deadline passes */
			if ((c = conn_client(k)) != NULL) {
				if (fz_u8(&f) & 1)
					c->last_active -= 3600;
				client_read(c->fd, EV_TIMEOUT, c);
			}
			break;
		case 11:	/* the client goes away */
			if (k->state != FZC_NONE && k->state != FZC_DEAD) {
				shutdown(k->fd, op & 0x80 ? SHUT_WR : SHUT_RDWR);
				if (!(op & 0x80))
					k->state = FZC_DEAD;
			}
			break;
		case 12:	/* the parent signs what it was asked */
			fz_parent(&f);
			break;
		case 13: {	/* a data connection */
			uint8_t	 pre[DATA_PREAMBLE_TOTAL];

			if (k->state != FZC_OPEN)
				break;
			memcpy(pre, PREAMBLE_MAGIC, PREAMBLE_MAGIC_LEN);
			pre[4] = PREAMBLE_DATA;
			fz_fill(&f, pre + PREAMBLE_LEN, TOKEN_LEN);
			fz_write(k, pre, sizeof(pre));
			break;
		}
		default:
			break;
		}
		loop_run();
		for (i = 0; i < NCLIENTS; i++)
			(void)conn_client(&fzc[i]);

	}

	/* the end: every client closed, nothing left behind */
	for (i = 0; i < NCLIENTS; i++) {
		k = &fzc[i];
		if (k->state == FZC_NONE)
			continue;
		fz_read(k);
		if ((c = conn_client(k)) != NULL)
			client_close(c, NULL);
		close(k->fd);
		k->fd = -1;
		hs_clear(&k->hs);
		if (k->rec_ready)
			rec_clear(&k->rec);
		k->rec_ready = 0;
		k->state = FZC_NONE;
	}
	/* and the clients no slot knows of (see fz_connect()) */
	while ((c = RB_MIN(client_tree, &cs.clients)) != NULL)
		client_close(c, NULL);
	conn_reap(-1, 0, NULL);
	loop_run();
	FZ_CHECK(cs.nclients == 0 && RB_EMPTY(&cs.clients) &&
	    RB_EMPTY(&cs.addrs) && TAILQ_EMPTY(&cs.dead));
	FZ_CHECK(fz.nlease == 0);
	FZ_CHECK(fd_open_mask(lo) == open_before);
	if (getenv("FUZZ_STATS") != NULL)
		dprintf(2, "handshakes %llu, bad requests %llu, paused %llu, "
		    "overflow %llu, records bad %llu\n",
		    (unsigned long long)worker->stats.handshakes_ok,
		    (unsigned long long)worker->stats.bad_requests,
		    (unsigned long long)worker->stats.conn_read_paused,
		    (unsigned long long)worker->stats.conn_output_overflow,
		    (unsigned long long)worker->stats.records_bad);
	return 0;
}

#endif
