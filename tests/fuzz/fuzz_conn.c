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
 *                  burst of them), tampered records, the lease worker's
 *                  answers (each request answered once, as lease.c does,
 *                  with input-filled fields; full pages of leases;
 *                  floods of Incoming and Notice for a client that never
 *                  reads), the lease channel backlogged and drained, a
 *                  fwd worker gone (its data connections refused),
 *                  timeouts, closes, and a client reading its replies or
 *                  not.
 *
 * conn.c is compiled into this file; what it needs from proc.c (the
 * channels to the other processes, a few helpers) is replaced here:
 * peer_compose() hands the message to the parent, lease worker or fwd
 * worker played by this file, and the messages played back reach conn.c
 * through its dispatchers (conn_proc.dispatch), as proc.c's peer_drain()
 * hands them. Every message either way first passes msgtab.c's
 * msg_check(), as in relayd. Connections come through conn.c's own
 * conn_accept() on an AF_UNIX listener; the conn side's send buffer is
 * small, so a client that does not read fills conn.c's own queue soon.
 *
 * Beyond "no crash" (use-after-free, leaks: ASan): a data connection is
 * handed to the fwd worker named by its token with exactly the bytes
 * after the token still unread; every message to the lease worker is
 * one it accepts (msgtab.c's rules, and valid names, ALPN names, IDs and
 * addresses, from an established client) and a client has at most
 * CONN_INFLIGHT_MAX requests waiting; a client's queue never passes
 * CONN_OUT_MAX; every record a client receives opens and carries a
 * RelayMessage that passes proto_check_relay(); after a run no client,
 * address count or descriptor is left.
 *
 * Input (fuzz_conn): steps of one op byte, slot << 4 | kind, and the
 * bytes that kind reads (LLVMFuzzerTestOneInput(), fz_step()); the kinds
 * are listed in tests/fuzz/mkcorpus.py too.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/un.h>

#include <fcntl.h>
#include <signal.h>

#include "../../relayd/conn.c"

#include "fuzz.h"

/* ---- what proc.c gives a worker ---- */

static struct relayd_worker	 fz_worker;
struct relayd_worker		*worker = &fz_worker;
uint8_t				 relay_pk[ED25519_PK_LEN];
const char			*role_names[] = { "parent", "lease", "conn", "fwd" };
static struct peer		 peer_lease, peer_fwd[2];

void
bad_imsg(struct peer *p, struct imsg *imsg, const char *why)
{
	/* the harness sent conn.c a message the real peer would not */
	dprintf(2, "bad_imsg: %s from %s: %s\n", msg_name(imsg->hdr.type),
	    role_names[p->role], why);
	abort();
}

void
worker_exit(void)
{
	/* only an orderly stop ends the worker, and the harness starts none */
	dprintf(2, "worker_exit: the conn worker stopped\n");
	abort();
}

int
peer_up(const struct peer *p)
{
	return p != NULL && p->connected;
}

int
peer_backlogged(const struct peer *p)
{
	return p != NULL && p->backlog;
}

void
wire_addr_from_sockaddr(struct wire_addr *wa, const struct sockaddr *sa)
{
	/* the harness's connections are AF_UNIX: there is no address */
	FZ_CHECK(sa->sa_family == AF_UNIX);
	memset(wa, 0, sizeof(*wa));
}

/* ---- the other processes, played here ---- */

/* at most 64 steps of up to 64 requests each */
#define PENDING_MAX	(64 * 64 + 64)

struct pending {			/* a request the lease must answer */
	uint32_t	 type;
	uint32_t	 cid;
	uint32_t	 request_id;
};

static struct {
	struct pending	 lease[PENDING_MAX];
	int		 nlease;
	uint32_t	 sign_cid[PENDING_MAX];
	uint8_t		 sign_h[PENDING_MAX][HS_HASH_LEN];
	int		 nsign;
	int		 data_fds;		/* handed to fwd */
	const uint8_t	*stream;		/* fuzz_preamble: the bytes */
	size_t		 written;		/* ... sent so far */
} fz;

static struct identity	 relay_ident, client_ident;

/* A message as proc.c reads it, checked as proc.c checks it. */
static void
fz_imsg(struct imsg *imsg, enum proc_role to, enum proc_role from,
    uint32_t type, uint32_t peerid, int fd, const void *data, size_t len)
{
	const char	*why;

	memset(imsg, 0, sizeof(*imsg));
	imsg->hdr.type = type;
	imsg->hdr.peerid = peerid;
	imsg->fd = fd;
	imsg->data = (uint8_t *)data;
	imsg->len = len;
	if (msg_check(to, from, PH_RUN | PH_TREE, imsg, &why) == -1) {
		dprintf(2, "%s from %s to %s: %s\n", msg_name(type),
		    role_names[from], role_names[to], why);
		FZ_CHECK(!"a message msgtab.c refuses");
	}
}

/* A message from the parent or the lease worker, handed to conn.c. */
static void
to_conn(struct peer *from, uint32_t type, uint32_t cid, const void *data,
    size_t len)
{
	struct imsg	 imsg;

	fz_imsg(&imsg, ROLE_CONN, from->role, type, cid, -1, data, len);
	conn_proc.dispatch[from->role](from, &imsg);
}

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
check_addrs(const struct wire_addr *a, uint32_t n)
{
	uint32_t	 i;

	for (i = 0; i < n; i++)
		FZ_CHECK((a[i].len == 4 || a[i].len == 16) && a[i].port != 0);
}

/* What lease.c would find nonsense in (msg_check() saw to the rest). */
static void
check_to_lease(uint32_t type, uint32_t cid, const void *data)
{
	const struct l_register	*lr = data;
	const struct l_connect	*lc = data;
	const struct l_hello	*h = data;
	const struct l_path	*lp = data;
	struct client		*c = client_find(cid);
	char			 norm[ID_BUFSZ];
	uint32_t		 i;

	if (type != IMSG_L_GONE)
		FZ_CHECK(c != NULL && c->state == CL_ESTABLISHED);
	switch (type) {
	case IMSG_L_HELLO:
		FZ_CHECK(id_normalize(h->id, norm) == 0);
		break;
	case IMSG_L_REGISTER:
		FZ_CHECK(proto_name_valid(lr->name));
		for (i = 0; i < lr->nalpn; i++)
			FZ_CHECK(proto_alpn_valid(lr->alpn[i]));
		check_addrs(lr->local, lr->nlocal);
		break;
	case IMSG_L_CONNECT:
		if (lc->by_name)
			FZ_CHECK(proto_name_valid(lc->target));
		else
			FZ_CHECK(id_normalize(lc->target, norm) == 0 &&
			    strcmp(norm, lc->target) == 0);
		FZ_CHECK(proto_alpn_valid(lc->alpn));
		check_addrs(lc->local, lc->nlocal);
		break;
	case IMSG_L_PATH:
		FZ_CHECK(lp->outcome >= RELAY__V1__PATH_OUTCOME__PATH_DIRECT &&
		    lp->outcome <= RELAY__V1__PATH_OUTCOME__PATH_ENDED);
		break;
	default:
		break;
	}
}

/* A request the lease worker answers later (fz_lease_answer()). */
static void
lease_pending(uint32_t type, uint32_t cid, const void *data)
{
	struct pending	*q;
	int		 i, k = 0;

	if (type == IMSG_L_HELLO)
		return;
	if (type == IMSG_L_GONE) {
		/* its requests die with it, as in lease.c */
		for (i = 0; i < fz.nlease; i++)
			if (fz.lease[i].cid != cid)
				fz.lease[k++] = fz.lease[i];
		fz.nlease = k;
		return;
	}
	FZ_CHECK(fz.nlease < PENDING_MAX);
	q = &fz.lease[fz.nlease++];
	q->type = type;
	q->cid = cid;
	q->request_id = 0;
	/* request_id is the first field of every request that has one */
	if (type != IMSG_L_ACCEPT && type != IMSG_L_REJECT &&
	    type != IMSG_L_PATH)
		memcpy(&q->request_id, data, sizeof(q->request_id));
	FZ_CHECK(inflight_of(cid) <= CONN_INFLIGHT_MAX);
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
peer_compose(struct peer *p, uint32_t type, uint32_t peerid, int fd,
    const void *data, size_t len)
{
	const struct sign_req	*sr = data;
	struct imsg		 imsg;

	fz_imsg(&imsg, p->role, ROLE_CONN, type, peerid, fd, data, len);
	if (p == &worker->parent) {
		FZ_CHECK(type == IMSG_SIGN_REQ);
		if (fz.nsign < PENDING_MAX) {
			fz.sign_cid[fz.nsign] = peerid;
			memcpy(fz.sign_h[fz.nsign++], sr->h, HS_HASH_LEN);
		}
		return;
	}
	if (p == &peer_fwd[0] || p == &peer_fwd[1]) {
		FZ_CHECK(type == IMSG_F_DATA_FD);
		check_data_fd(p, fd, data);
		return;
	}
	FZ_CHECK(p == &peer_lease);
	check_to_lease(type, peerid, data);
	lease_pending(type, peerid, data);
}

/* The parent: sign (or not) every request it was sent. */
static void
fz_parent(struct fz *f)
{
	struct sign_resp	 resp;
	uint8_t			 msg[HS_SIGMSG_LEN];
	uint8_t			 how;
	int			 i;

	for (i = 0; i < fz.nsign; i++) {
		how = f != NULL ? fz_u8(f) : 0;
		hs_build_sigmsg(HS_RESPONDER, fz.sign_h[i], relay_pk, msg);
		if (identity_sign(&relay_ident, msg, sizeof(msg), resp.sig) ==
		    -1)
			abort();
		if (how == 0xff)
			resp.sig[0] ^= 1;	/* a signer with another key */
		/* 0xfe: the answer names another client */
		to_conn(&worker->parent, IMSG_SIGN_RESP, fz.sign_cid[i] +
		    (how == 0xfe), &resp, sizeof(resp));
	}
	fz.nsign = 0;
}

/* ---- the harness ---- */

static struct proto_arena arena;
static int		 lfd = -1;
static struct listener	 fz_listener;

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

static void
fz_listen(void)
{
	struct sockaddr_un	 sun;
	socklen_t		 len;

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
	strlcpy(fz_listener.name, "fuzz", sizeof(fz_listener.name));
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	uint8_t	 seed[32];

	fz_quiet();
	signal(SIGPIPE, SIG_IGN);	/* as the program does */
	/* the seeds of tests/unit/protocol-vectors.json */
	fz_counting(seed, sizeof(seed), 0x20);
	if (identity_from_seed(&relay_ident, seed) == -1)
		abort();
	fz_counting(seed, sizeof(seed), 0x00);
	if (identity_from_seed(&client_ident, seed) == -1 ||
	    proto_arena_init(&arena, PROTO_ARENA_CLIENT) == -1)
		abort();
	memcpy(relay_pk, relay_ident.pk, sizeof(relay_pk));
	if (getenv("FUZZ_VERBOSE") != NULL)
		log_setverbose(2);
	if ((worker->base = event_base_new()) == NULL)
		abort();
	worker->role = ROLE_CONN;
	worker->configured = worker->serving = 1;
	worker->parent.role = ROLE_PARENT;
	worker->parent.connected = 1;
	peer_lease.role = ROLE_LEASE;
	peer_lease.connected = 1;
	peer_fwd[0].role = peer_fwd[1].role = ROLE_FWD;
	peer_fwd[0].connected = peer_fwd[1].connected = 1;
	peer_fwd[1].index = 1;
	worker->lease = &peer_lease;
	worker->fwd[0] = &peer_fwd[0];
	worker->fwd[1] = &peer_fwd[1];
	worker->lim.workers_conn = 1;
	worker->lim.workers_fwd = 2;
	worker->lim.conns_per_addr = NCLIENTS - 2;
	worker->lim.conns_total = NCLIENTS;
	worker->lim.conn_rate = 1000000;
	worker->lim.timeout_handshake = 10;
	worker->lim.timeout_idle = 90;
	worker->lim.direct_paths = 1;
	conn_init();
	fz_listen();
	return 0;
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
	FZ_CHECK(evbuffer_get_length(c->out) <= CONN_OUT_MAX);
	return c;
}

/* conn.c's end of a new connection is ours: one socket pair. */
static void
check_ends(struct fzc *k, int small_buffer)
{
	struct client	*c;
	char		 b = 0;
	int		 sz = 4096;

	if ((c = client_find(k->cid)) == NULL)
		return;
	FZ_CHECK(send(c->fd, "p", 1, MSG_NOSIGNAL) == 1);
	FZ_CHECK(recv(k->fd, &b, 1, MSG_DONTWAIT) == 1 && b == 'p');
	if (small_buffer)
		(void)setsockopt(c->fd, SOL_SOCKET, SO_SNDBUF, &sz,
		    sizeof(sz));
}

/* A new connection, accepted by conn_accept() itself. */
static struct fzc *
fz_connect(int small_buffer)
{
	struct sockaddr_un	 sun;
	struct fzc		*k;
	socklen_t		 len = sizeof(sun);
	uint32_t		 before;
	int			 i;

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
	log_debug("fuzz: slot %d: cids %u..%u, %u clients, fd %d", i, before,
	    cs.next_cid, cs.nclients, k->fd);
	if (cs.next_cid != before) {
		k->cid = cs.next_cid - 1;
		check_ends(k, small_buffer);
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

/* A slot's connection closed from our side; conn.c's end too. */
static void
fz_hangup(struct fzc *k)
{
	struct client	*c;

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

/* The end of a run: no client, address count or request is left. */
static void
fz_finish(void)
{
	struct client	*c;

	/* and the clients no slot knows of (see fz_connect()) */
	while ((c = RB_MIN(client_tree, &cs.clients)) != NULL)
		client_close(c, NULL);
	conn_reap(-1, 0, NULL);
	loop_run();
	FZ_CHECK(cs.nclients == 0 && RB_EMPTY(&cs.clients) &&
	    RB_EMPTY(&cs.addrs) && TAILQ_EMPTY(&cs.dead));
	FZ_CHECK(fz.nlease == 0);
}

#ifdef FUZZ_PREAMBLE

/* One connection's bytes, in chunks, the parent signing everything. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_fds	 fds;
	struct fzc	*k;
	size_t		 off = 1, chunk;
	uint8_t		 pattern;
	int		 i;

	if (size < 1)
		return 0;
	pattern = data[0];
	memset(&fz, 0, sizeof(fz));
	fz_fd_snapshot(&fds);
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
	fz_hangup(k);
	fz_finish();
	fz_fd_check(&fds);
	return 0;
}

#else	/* fuzz_conn */

static const uint8_t	 eph_client[32] = "an ephemeral key, fixed for fuzz";

/* Everything the relay sent this client: authentic, and valid messages. */
static void
fz_read(struct fzc *k)
{
	ssize_t		 n;

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
		fz_rec_drain(&k->rec, k->in, &k->inlen, &k->closed, &arena, 1);
		if (k->closed)
			k->inlen = 0;
	}
}

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

/*
 * Up to 8 local addresses, alternately IPv4 and IPv6, none refused (the
 * input's byte >> 1), and the flag of the request (its bit 0).
 */
static Relay__V1__Address	 local_addr[ADDR_MAX_COUNT];
static Relay__V1__Address	*local_addrp[ADDR_MAX_COUNT];

static Relay__V1__Address **
fz_local_addrs(struct fz *f, protobuf_c_boolean *flag, size_t *n)
{
	static uint8_t	 ip4[4] = { 192, 0, 2, 1 };
	static uint8_t	 ip6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };
	uint8_t		 how = fz_u8(f);
	size_t		 i;

	*flag = how & 1;
	*n = (how >> 1) % (ADDR_MAX_COUNT + 1);
	for (i = 0; i < *n; i++) {
		relay__v1__address__init(&local_addr[i]);
		local_addr[i].ip.data = i & 1 ? ip6 : ip4;
		local_addr[i].ip.len = i & 1 ? sizeof(ip6) : sizeof(ip4);
		local_addr[i].port = 1 + i;
		local_addrp[i] = &local_addr[i];
	}
	return local_addrp;
}

/* A valid ClientMessage of each kind: the envelope and its contents. */
struct fz_req {
	ClientMessage		 m;
	Relay__V1__Register	 reg;
	Relay__V1__Renew	 ren;
	Relay__V1__Unregister	 unr;
	Relay__V1__Connect	 con;
	Relay__V1__Accept	 acc;
	Relay__V1__Reject	 rej;
	Relay__V1__ListLeases	 lst;
	Relay__V1__Ping		 png;
	Relay__V1__PathReport	 path;
	uint8_t			 id16[16];	/* a lease or session ID */
	char			 name[16];
};

static const struct fz_req	 fz_req_init = {
	RELAY__V1__CLIENT_MESSAGE__INIT, RELAY__V1__REGISTER__INIT,
	RELAY__V1__RENEW__INIT, RELAY__V1__UNREGISTER__INIT,
	RELAY__V1__CONNECT__INIT, RELAY__V1__ACCEPT__INIT,
	RELAY__V1__REJECT__INIT, RELAY__V1__LIST_LEASES__INIT,
	RELAY__V1__PING__INIT, RELAY__V1__PATH_REPORT__INIT, { 0 }, ""
};

static char	*alpn_names[] = { "ssh", "h2" };

static void
fz_req_register(struct fz *f, struct fz_req *q)
{
	q->reg.request_id = fz_u8(f);
	q->reg.name = q->name;
	q->reg.alpn = alpn_names;
	q->reg.n_alpn = 1 + fz_u8(f) % 2;
	q->reg.description = "fuzz";
	q->reg.ttl_seconds = fz_u8(f);
	q->reg.local_addrs = fz_local_addrs(f, &q->reg.hidden,
	    &q->reg.n_local_addrs);
	q->m.register_ = &q->reg;
}

static void
fz_req_connect(struct fz *f, struct fz_req *q)
{
	q->con.request_id = fz_u8(f);
	if (fz_u8(f) & 1) {
		q->con.target_case = RELAY__V1__CONNECT__TARGET_NAME;
		q->con.name = q->name;
	} else {
		q->con.target_case = RELAY__V1__CONNECT__TARGET_ID;
		q->con.id = "P6NZZ6HZRA46CM6AEEJ3BLMWJYYJBBIB";
	}
	q->con.alpn = "ssh";
	q->con.local_addrs = fz_local_addrs(f, &q->con.direct,
	    &q->con.n_local_addrs);
	q->m.connect = &q->con;
}

/* The kinds of few fields; a lease or session ID is the input's. */
static void
fz_req_small(struct fz *f, struct fz_req *q)
{
	ProtobufCBinaryData	 id = { sizeof(q->id16), q->id16 };

	switch (q->m.msg_case) {
	case RELAY__V1__CLIENT_MESSAGE__MSG_RENEW:
		q->ren.request_id = fz_u8(f);
		q->ren.lease_id = id;
		q->m.renew = &q->ren;
		break;
	case RELAY__V1__CLIENT_MESSAGE__MSG_UNREGISTER:
		q->unr.request_id = fz_u8(f);
		q->unr.lease_id = id;
		q->m.unregister = &q->unr;
		break;
	case RELAY__V1__CLIENT_MESSAGE__MSG_ACCEPT:
		q->acc.session_id = id;
		q->acc.direct = fz_u8(f) & 1;
		q->m.accept = &q->acc;
		break;
	case RELAY__V1__CLIENT_MESSAGE__MSG_REJECT:
		q->rej.session_id = id;
		q->rej.reason = "busy";
		q->m.reject = &q->rej;
		break;
	case RELAY__V1__CLIENT_MESSAGE__MSG_LIST_LEASES:
		q->lst.request_id = fz_u8(f);
		q->lst.offset = fz_u8(f);
		q->m.list_leases = &q->lst;
		break;
	case RELAY__V1__CLIENT_MESSAGE__MSG_PING:
		q->png.nonce = fz_u8(f);
		q->m.ping = &q->png;
		break;
	default:
		q->path.session_id = id;
		q->path.outcome = RELAY__V1__PATH_OUTCOME__PATH_DIRECT +
		    fz_u8(f) % 3;
		q->m.path_report = &q->path;
		break;
	}
}

/* A valid ClientMessage of the kind the input picks (% 9, in this order). */
static size_t
fz_client_msg(struct fz *f, uint8_t *out, size_t outlen)
{
	static const Relay__V1__ClientMessage__MsgCase kinds[] = {
		RELAY__V1__CLIENT_MESSAGE__MSG_REGISTER,
		RELAY__V1__CLIENT_MESSAGE__MSG_RENEW,
		RELAY__V1__CLIENT_MESSAGE__MSG_UNREGISTER,
		RELAY__V1__CLIENT_MESSAGE__MSG_CONNECT,
		RELAY__V1__CLIENT_MESSAGE__MSG_ACCEPT,
		RELAY__V1__CLIENT_MESSAGE__MSG_REJECT,
		RELAY__V1__CLIENT_MESSAGE__MSG_LIST_LEASES,
		RELAY__V1__CLIENT_MESSAGE__MSG_PING,
		RELAY__V1__CLIENT_MESSAGE__MSG_PATH_REPORT
	};
	struct fz_req	 q = fz_req_init;
	ssize_t		 n;

	fz_fill(f, q.id16, sizeof(q.id16));
	snprintf(q.name, sizeof(q.name), "lease-%u", fz_u8(f));
	q.m.msg_case = kinds[fz_u8(f) % (sizeof(kinds) / sizeof(kinds[0]))];
	if (q.m.msg_case == RELAY__V1__CLIENT_MESSAGE__MSG_REGISTER)
		fz_req_register(f, &q);
	else if (q.m.msg_case == RELAY__V1__CLIENT_MESSAGE__MSG_CONNECT)
		fz_req_connect(f, &q);
	else
		fz_req_small(f, &q);
	n = proto_pack_client(&q.m, out, outlen);
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
		/*
		 * What lease.c holds: the addresses of checked Registers and
		 * Connects (unicast, with a port); lengths conn.c must skip.
		 */
		a[i].ip[0] = 1 + a[i].ip[0] % 0xdf;
		a[i].len = (uint8_t[]){ 0, 4, 16, 7 }[fz_u8(f) % 4];
		a[i].port = 1 + fz_u16(f) % 65535;
	}
}

static void
answer_error(struct fz *f, const struct pending *q)
{
	struct l_error	 e;

	memset(&e, 0, sizeof(e));
	e.request_id = q->request_id;
	e.code = fz_u8(f) % (CTL_NERR + 2);	/* the last two: unknown */
	/* a Connect's failure is not counted in flight (lease.c) */
	e.answer = q->type != IMSG_L_CONNECT;
	fill_str(f, e.message, sizeof(e.message));
	to_conn(&peer_lease, IMSG_L_ERROR, q->cid, &e, sizeof(e));
}

static void
answer_registered(struct fz *f, const struct pending *q)
{
	struct l_registered	 r;

	memset(&r, 0, sizeof(r));
	r.request_id = q->request_id;
	fz_fill(f, r.lease_id, sizeof(r.lease_id));
	snprintf(r.name, sizeof(r.name), "lease-%u", fz_u8(f));
	r.ttl = fz_u32(f);
	r.expires = fz_u64(f);
	to_conn(&peer_lease, IMSG_L_REGISTERED, q->cid, &r, sizeof(r));
}

static void
answer_connected(struct fz *f, const struct pending *q)
{
	struct l_connected	 c;
	uint8_t			 how;

	memset(&c, 0, sizeof(c));
	c.request_id = q->request_id;
	fz_fill(f, c.session_id, sizeof(c.session_id));
	strlcpy(c.id, relay_ident.id, sizeof(c.id));
	fz_fill(f, c.token, sizeof(c.token));
	how = fz_u8(f);
	c.peer_addr.len = how & 1 ? 4 : 0;
	c.direct = how >> 1 & 1;
	c.peer_addr.port = 1 + fz_u16(f) % 65535;
	fill_wire_addrs(f, c.peer_local, &c.npeer_local);
	to_conn(&peer_lease, IMSG_L_CONNECTED, q->cid, &c, sizeof(c));
}

/* A page of up to LIST_PAGE leases, as long as they can be. */
static void
answer_list(struct fz *f, const struct pending *q)
{
	static struct {
		struct l_leaselist	 hdr;
		struct l_leaseinfo	 e[LIST_PAGE];
	}			 page;
	struct l_leaseinfo	*li;
	uint32_t		 k, j;

	_Static_assert(offsetof(__typeof__(page), e) ==
	    sizeof(struct l_leaselist), "entries follow the header");
	memset(&page, 0, sizeof(page));
	page.hdr.request_id = q->request_id;
	page.hdr.n = fz_u8(f) % (LIST_PAGE + 1);
	for (k = 0; k < page.hdr.n; k++) {
		li = &page.e[k];
		memset(li->name, 'n', NAME_MAX_LEN);
		strlcpy(li->id, client_ident.id, sizeof(li->id));
		li->nalpn = 1 + fz_u8(f) % ALPN_MAX_COUNT;
		for (j = 0; j < li->nalpn; j++)
			memset(li->alpn[j], 'a', ALPN_MAX_LEN);
		memset(li->description, 'd', fz_u8(f) & 1 ? DESC_MAX_LEN : 4);
		li->expires = fz_u64(f);
	}
	page.hdr.more = fz_u8(f) & 1;
	to_conn(&peer_lease, IMSG_L_LEASELIST, q->cid, &page,
	    sizeof(page.hdr) + page.hdr.n * sizeof(page.e[0]));
}

/* The lease worker answers the oldest request, as lease.c would. */
static void
fz_lease_answer(struct fz *f)
{
	struct pending	 q;
	struct l_ack	 a;
	uint8_t		 how = fz_u8(f);

	if (fz.nlease == 0)
		return;
	q = fz.lease[0];
	memmove(fz.lease, fz.lease + 1, --fz.nlease * sizeof(fz.lease[0]));
	if (how & 1 && q.type != IMSG_L_PATH) {
		answer_error(f, &q);
		return;
	}
	switch (q.type) {
	case IMSG_L_REGISTER:
	case IMSG_L_RENEW:
		answer_registered(f, &q);
		break;
	case IMSG_L_UNREGISTER:
		a.request_id = q.request_id;
		to_conn(&peer_lease, IMSG_L_ACK, q.cid, &a, sizeof(a));
		break;
	case IMSG_L_ACCEPT:
	case IMSG_L_REJECT:
	case IMSG_L_PATH:
		to_conn(&peer_lease, IMSG_L_DONE, q.cid, NULL, 0);
		break;
	case IMSG_L_CONNECT:
		answer_connected(f, &q);
		break;
	case IMSG_L_LIST:
		answer_list(f, &q);
		break;
	default:
		FZ_CHECK(!"a request the harness does not know");
	}
}

static void
news_incoming(uint32_t cid, uint32_t i)
{
	struct l_incoming	 in;
	uint32_t		 j;

	memset(&in, 0, sizeof(in));
	memset(in.session_id, i, sizeof(in.session_id));
	strlcpy(in.alpn, "ssh", sizeof(in.alpn));
	strlcpy(in.from_id, client_ident.id, sizeof(in.from_id));
	in.from_addr.len = 4;
	in.from_addr.port = 7420;
	in.nfrom_local = ADDR_MAX_COUNT;
	for (j = 0; j < ADDR_MAX_COUNT; j++) {
		in.from_local[j].ip[0] = 0xfd;	/* unique local */
		in.from_local[j].ip[15] = 1 + j;
		in.from_local[j].len = 16;
		in.from_local[j].port = 1 + j;
	}
	in.direct = i & 1;
	to_conn(&peer_lease, IMSG_L_INCOMING, cid, &in, sizeof(in));
}

/* What the lease worker sends unasked: Incoming, Notice, Kick, Error. */
static void
fz_lease_news(struct fz *f, struct fzc *k)
{
	struct l_notice	 n;
	struct l_error	 e;
	uint8_t		 kind = fz_u8(f);
	uint32_t	 count = fz_u8(f), i;

	/* now and then a flood: past CONN_OUT_MAX for one that never reads */
	if (kind & 0x80)
		count *= 16;
	kind %= 4;
	memset(&n, 0, sizeof(n));
	memset(n.message, 'm', REASON_MAX_LEN);
	memset(&e, 0, sizeof(e));
	e.code = RELAY__V1__ERROR_CODE__ERR_TIMEOUT;
	strlcpy(e.message, "the holder did not answer", sizeof(e.message));
	for (i = 0; i < count && conn_client(k) != NULL; i++) {
		n.kind = i & 1;
		if (kind == 0)
			news_incoming(k->cid, i);
		else if (kind == 1)
			to_conn(&peer_lease, IMSG_L_NOTICE, k->cid, &n,
			    sizeof(n));
		else if (kind == 2)
			to_conn(&peer_lease, IMSG_L_KICK, k->cid, NULL, 0);
		else
			to_conn(&peer_lease, IMSG_L_ERROR, k->cid, &e,
			    sizeof(e));
	}
}

/* The lease worker's channel fills up (conn.c stops reading), or drains. */
static void
fz_lease_backlog(int on)
{
	if (peer_lease.backlog == on)
		return;
	peer_lease.backlog = on;
	if (!on)
		conn_proc.drained(&peer_lease);
}

/* A data connection: the preamble and the input's token. */
static void
fz_data(struct fzc *k, struct fz *f)
{
	uint8_t	 pre[DATA_PREAMBLE_TOTAL];

	if (k->state != FZC_OPEN)
		return;
	memcpy(pre, PREAMBLE_MAGIC, PREAMBLE_MAGIC_LEN);
	pre[4] = PREAMBLE_DATA;
	fz_fill(f, pre + PREAMBLE_LEN, TOKEN_LEN);
	fz_write(k, pre, sizeof(pre));
}

/* A deadline passes: the handshake's, or (with 1) idle time. */
static void
fz_deadline(struct fzc *k, struct fz *f)
{
	struct client	*c;

	if ((c = conn_client(k)) == NULL)
		return;
	if (fz_u8(f) & 1)
		c->last_active -= 3600;
	client_read(c->fd, EV_TIMEOUT, c);
}

/* The client goes away, or (0x80) stops writing. */
static void
fz_shutdown(struct fzc *k, uint8_t op)
{
	if (k->state == FZC_NONE || k->state == FZC_DEAD)
		return;
	shutdown(k->fd, op & 0x80 ? SHUT_WR : SHUT_RDWR);
	if (!(op & 0x80))
		k->state = FZC_DEAD;
}

/* One step: op is slot << 4 | kind. */
static void
fz_step(struct fz *f, uint8_t op)
{
	static uint8_t	 msg[REC_MAX_PAYLOAD];
	struct fzc	*k = &fzc[(op >> 4) % NCLIENTS];
	const uint8_t	*p;
	size_t		 len, got;
	int		 j;

	switch (op & 0x0f) {
	case 0:		/* a new connection (0x80: small send buffer) */
		(void)fz_connect(op & 0x80);
		break;
	case 1:		/* an honest handshake */
		fz_handshake(k, f);
		break;
	case 2:		/* a record with the input's ClientMessage */
		len = fz_u16(f) % 2048;
		p = fz_take(f, len, &got);
		fz_send_record(k, REC_TYPE_DATA, p, got, 0);
		break;
	case 3:		/* valid requests, up to 64 in one write */
		j = fz_u8(f) % 64 + 1;
		len = fz_client_msg(f, msg, sizeof(msg));
		while (j-- > 0)
			fz_send_record(k, REC_TYPE_DATA, msg, len, 0);
		break;
	case 4:		/* a tampered record, or (0x80) our close */
		fz_send_record(k, op & 0x80 ? REC_TYPE_CLOSE : REC_TYPE_DATA,
		    (const uint8_t *)"x", op & 0x80 ? 0 : 1, !(op & 0x80));
		break;
	case 5:		/* raw bytes */
		p = fz_take(f, fz_u8(f), &got);
		fz_write(k, p, got);
		break;
	case 6:		/* the lease worker answers */
	case 7:
		fz_lease_answer(f);
		break;
	case 8:		/* ... or speaks unasked */
		fz_lease_news(f, k);
		break;
	case 9:		/* the client reads what it got */
		fz_read(k);
		break;
	case 10:
		fz_deadline(k, f);
		break;
	case 11:
		fz_shutdown(k, op);
		break;
	case 12:	/* the parent signs what it was asked */
		fz_parent(f);
		break;
	case 13:
		fz_data(k, f);
		break;
	case 14:	/* the lease channel backlogged (0x80) or drained, */
		if (op & 0x40)	/* or the second fwd worker gone or back */
			peer_fwd[1].connected = !peer_fwd[1].connected;
		else
			fz_lease_backlog(!!(op & 0x80));
		break;
	default:	/* a record of a type control connections never take */
		k->rec.path_ok = 1;	/* our side may seal it */
		fz_send_record(k, REC_TYPE_PATH, (const uint8_t *)"x", 1, 0);
		k->rec.path_ok = 0;
		break;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_fds	 fds;
	struct fz	 f;
	uint8_t		 op;
	int		 i, steps = 0;

	fz_init(&f, data, size);
	memset(&fz, 0, sizeof(fz));
	/* every run alike: the previous one left no client behind */
	cs.next_cid = 1;
	fz_fd_snapshot(&fds);
	while (fz_more(&f) && steps++ < 64) {
		op = fz_u8(&f);
		log_debug("fuzz: step %d: op %02x (client %d) %d pending, "
		    "%zu left, %d signs", steps, op, (op >> 4) % NCLIENTS,
		    fz.nlease, f.n, fz.nsign);
		fz_step(&f, op);
		loop_run();
		for (i = 0; i < NCLIENTS; i++)
			(void)conn_client(&fzc[i]);
	}

	/* the end: every client closed, nothing left behind */
	fz_lease_backlog(0);
	peer_fwd[1].connected = 1;
	for (i = 0; i < NCLIENTS; i++) {
		if (fzc[i].state == FZC_NONE)
			continue;
		fz_read(&fzc[i]);
		fz_hangup(&fzc[i]);
	}
	fz_finish();
	fz_fd_check(&fds);
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
