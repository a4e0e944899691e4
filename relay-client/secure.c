/* SPDX-License-Identifier: ISC */
/*
 * secure.c: the SecureConnection, one end-to-end session over a data
 * connection (relay-protocol(7), DATA CONNECTIONS and RECORD LAYER).
 *
 * It connects to the relay, writes "RLY" 01 "D" and the token (exactly
 * 37 bytes, since the relay reads no more) and runs the end-to-end
 * handshake: the requester is the initiator and sends M1 right behind
 * the token, expecting the holder's ID from Connected; the holder is the
 * responder and answers once the relay has paired the halves. Then it
 * moves bytes between the ciphertext socket and a plaintext fd pair (a
 * target socket, a local client, or stdin/stdout) as records.
 *
 * Half-close both ways: the end of local input becomes a close record
 * and shutdown(SHUT_WR) towards the relay; the peer's close record
 * becomes end-of-stream on the local output once everything before it is
 * written. A TCP end before the peer's close record is a truncation, and
 * every record error is fatal: the session is closed, nothing written.
 *
 * Memory is bounded per session: SECURE_BATCH frames of ciphertext in,
 * as many out, and as many records of plaintext waiting for the local
 * side. When one side is slow, reading from the other stops:
 * backpressure, never buffering. A busy session moves up to a batch per
 * system call: local input is read with one readv(2) straight into the
 * payload slots of the frames in the output buffer and sealed there in
 * place, the frames go out in one write(2); ciphertext is read a buffer
 * at a time, every whole frame in it opened, the plaintext written out
 * at once. Nothing is copied in user space but by the cipher.
 *
 * With direct paths (direct.c) the ciphertext side is one of two: the
 * relayed data connection, or a direct connection to the peer that
 * direct.c hands over already proven (secure_path_direct). The requester
 * opens the relayed one only when no direct path came in time
 * (secure_path_relayed); the holder opens it at once and drops it if the
 * requester chose a direct path. Either way one path carries the
 * session, from its first record on.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/uio.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "util.h"
#include "relay-client.h"

#define EV_ON_CREAD	0x01
#define EV_ON_CWRITE	0x02
#define EV_ON_PREAD	0x04
#define EV_ON_PWRITE	0x08

static void	secure_cread_cb(int, short, void *);
static void	secure_cwrite_cb(int, short, void *);
static void	secure_pread_cb(int, short, void *);
static void	secure_pwrite_cb(int, short, void *);
static void	secure_deadline_cb(int, short, void *);
static void	secure_run(struct secure_conn *);
static void	secure_destroy(struct secure_conn *);

/* Record the first error; always -1, for "return secure_fail(...)". */
static int
secure_fail(struct secure_conn *sc, int code, const char *fmt, ...)
{
	va_list	 ap;

	if (sc->err_code != EXIT_OK)
		return -1;
	sc->err_code = code;
	va_start(ap, fmt);
	vsnprintf(sc->err, sizeof(sc->err), fmt, ap);
	va_end(ap);
	return -1;
}

/* The relayed data connection: preamble, token, M1 when initiator. */
static int
secure_relay_start(struct secure_conn *sc)
{
	uint8_t	*q;

	if ((q = iobuf_space(sc->cout, DATA_PREAMBLE_TOTAL)) == NULL) {
		errno = ENOBUFS;
		return -1;
	}
	memcpy(q, PREAMBLE_MAGIC, PREAMBLE_MAGIC_LEN);
	q[PREAMBLE_MAGIC_LEN] = PREAMBLE_DATA;
	memcpy(q + PREAMBLE_LEN, sc->token, TOKEN_LEN);
	iobuf_commit(sc->cout, DATA_PREAMBLE_TOTAL);
	if (handshaker_start(&sc->hsk, sc->cout) == -1) {
		errno = EINVAL;
		return -1;
	}
	if ((sc->cfd = net_connect_start((struct sockaddr *)&sc->relay,
	    sc->relaylen)) == -1)
		return -1;
	if ((sc->ev_cread = event_new(sc->base, sc->cfd, EV_READ | EV_PERSIST,
	    secure_cread_cb, sc)) == NULL ||
	    (sc->ev_cwrite = event_new(sc->base, sc->cfd, EV_WRITE | EV_PERSIST,
	    secure_cwrite_cb, sc)) == NULL) {
		errno = ENOMEM;
		return -1;
	}
	sc->state = SC_CONNECTING;
	event_add(sc->ev_cwrite, NULL);
	sc->ev_on |= EV_ON_CWRITE;
	log_trace("session %s: data connection started (%s)", sc->label,
	    sc->role == HS_INITIATOR ? "initiator" : "responder");
	return 0;
}

/* The owner hears which path the session took, when direct was tried. */
static void
secure_path_cb(struct secure_conn *sc, int direct)
{
	if (sc->cb->path == NULL)
		return;
	sc->in_cb++;
	sc->cb->path(sc, direct, sc->arg);
	sc->in_cb--;
}

struct secure_conn *
secure_open(struct event_base *base, const struct secure_params *p,
    const struct secure_cb *cb, void *arg)
{
	struct secure_conn	*sc;
	struct timeval		 tv = { HANDSHAKE_DEADLINE, 0 };
	uint8_t			 ctx[HS_MAX_CTX_LEN];
	int			 n, saved;

	if ((n = hs_ctx_e2e(ctx, sizeof(ctx), p->session_id, p->alpn)) < 0 ||
	    p->relaylen > sizeof(sc->relay)) {
		errno = EINVAL;
		return NULL;
	}
	if ((sc = calloc(1, sizeof(*sc))) == NULL)
		return NULL;
	sc->base = base;
	sc->cb = cb;
	sc->arg = arg;
	sc->role = p->role;
	sc->cfd = sc->rfd = sc->wfd = -1;
	sc->state = SC_CONNECTING;
	hex_encode(p->session_id, (SESSION_LABEL_LEN - 1) / 2, sc->label,
	    sizeof(sc->label));
	if ((sc->cin = buf_new(0, SECURE_CIN_MAX)) == NULL ||
	    (sc->cout = buf_new(0, SECURE_COUT_MAX)) == NULL ||
	    (sc->pout = buf_new(0, SECURE_POUT_MAX)) == NULL)
		goto fail;
	if (handshaker_init(&sc->hsk, p->role, ctx, n, p->ident,
	    p->role == HS_INITIATOR ? p->expect_id : NULL) == -1) {
		errno = EINVAL;
		goto fail;
	}
	memcpy(sc->session_id, p->session_id, SESSION_ID_LEN);
	memcpy(sc->token, p->token, TOKEN_LEN);
	memcpy(&sc->relay, p->relay, p->relaylen);
	sc->relaylen = p->relaylen;
	if ((sc->ev_deadline = evtimer_new(base, secure_deadline_cb,
	    sc)) == NULL)
		goto fail;
	evtimer_add(sc->ev_deadline, &tv);
	if (p->direct != NULL &&
	    (sc->dp = direct_new(sc, p, ctx, n)) == NULL && !p->direct->only)
		log_debug("session %s: relayed: no direct path to try",
		    sc->label);
	if (p->direct != NULL && p->direct->only && sc->dp == NULL) {
		sc->state = SC_PATH;
		secure_abort(sc, EXIT_SESSION, "--direct-only: no direct path "
		    "to try");
		return sc;
	}
	/* the requester opens the relayed path only if no direct one came */
	if (sc->dp != NULL && (p->role == HS_INITIATOR || p->direct->only)) {
		sc->state = SC_PATH;
		return sc;
	}
	if (secure_relay_start(sc) == -1)
		goto fail;
	return sc;
fail:
	saved = errno;
	secure_destroy(sc);
	errno = saved;
	return NULL;
}

/*
 * The plaintext side: read from rfd, write to wfd (the same socket, or
 * stdin and stdout). owned: close them when the session is freed.
 */
void
secure_set_plain(struct secure_conn *sc, int rfd, int wfd, int owned)
{
	sc->rfd = rfd;
	sc->wfd = wfd;
	sc->plain_owned = owned;
	sc->wflags = owned ? -1 : fcntl(wfd, F_GETFL);
	(void)net_set_nonblock(rfd);
	(void)net_set_nonblock(wfd);
	if ((sc->ev_pread = event_new(sc->base, rfd, EV_READ | EV_PERSIST,
	    secure_pread_cb, sc)) == NULL ||
	    (sc->ev_pwrite = event_new(sc->base, wfd, EV_WRITE | EV_PERSIST,
	    secure_pwrite_cb, sc)) == NULL) {
		secure_abort(sc, EXIT_ERROR, "event_new failed");
		return;
	}
	/* from the loop, like every other step */
	event_active(sc->ev_pwrite, EV_WRITE, 1);
}

/* End the session from outside: reported through done, from the loop. */
void
secure_abort(struct secure_conn *sc, int code, const char *why)
{
	if (sc->dead || sc->state == SC_DONE)
		return;
	(void)secure_fail(sc, code, "%s", why);
	sc->pending = 1;
	event_active(sc->ev_deadline, EV_TIMEOUT, 1);
}

/* Each direction reads only while the other side has room for it. */
static void
secure_update_events(struct secure_conn *sc)
{
	client_event_want(sc->ev_cread, &sc->ev_on, EV_ON_CREAD,
	    sc->state >= SC_HANDSHAKE && sc->state != SC_DONE &&
	    !sc->cipher_eof && iobuf_free(sc->cin) > 0);
	client_event_want(sc->ev_cwrite, &sc->ev_on, EV_ON_CWRITE,
	    sc->state == SC_CONNECTING || buf_len(sc->cout) > 0);
	client_event_want(sc->ev_pread, &sc->ev_on, EV_ON_PREAD,
	    sc->state == SC_OPEN && sc->rfd != -1 && !sc->plain_eof &&
	    !sc->rec.send.closed && iobuf_free(sc->cout) >= REC_MAX_FRAME);
	client_event_want(sc->ev_pwrite, &sc->ev_on, EV_ON_PWRITE,
	    sc->wfd != -1 && !sc->plain_shut && buf_len(sc->pout) > 0);
}

static int
secure_hs_failed(struct secure_conn *sc)
{
	const char	*peer = handshaker_peer_id(&sc->hsk);
	const char	*want = sc->hsk.hs.expect_id;

	if (sc->role == HS_INITIATOR && peer[0] != '\0' && want[0] != '\0' &&
	    strcmp(peer, want) != 0)
		return secure_fail(sc, EXIT_ID_MISMATCH, "ID mismatch: the "
		    "peer proved ID %s, but the relay said the lease is held "
		    "by %s; refusing (the relay may be swapping lease "
		    "holders)", peer, want);
	/* M2 decrypted, but its signature is not the holder's */
	if (sc->role == HS_INITIATOR && want[0] != '\0' &&
	    sc->hsk.hs.peer_unproven)
		return secure_fail(sc, EXIT_ID_MISMATCH, "ID mismatch: the "
		    "peer could not prove ID %s (its signature does not "
		    "verify); refusing", want);
	return secure_fail(sc, EXIT_SESSION, "end-to-end handshake failed: "
	    "%s", handshaker_error(&sc->hsk));
}

/* The session has its path and its keys: the owner decides. */
static int
secure_opened(struct secure_conn *sc)
{
	const char	*why = NULL;
	int		 code = EXIT_ERROR, r;

	sc->state = SC_OPEN;
	evtimer_del(sc->ev_deadline);
	log_debug("session %s: end-to-end handshake done, peer %s%s",
	    sc->label, sc->peer_id, sc->on_direct ? ", direct path" : "");
	sc->in_cb++;
	r = sc->cb->established(sc, sc->peer_id, sc->arg, &code, &why);
	sc->in_cb--;
	if (r == -1)
		return secure_fail(sc, code, "%s", why != NULL ? why :
		    "session refused");
	return 0;
}

/* The relayed path's handshake is done. */
static int
secure_established(struct secure_conn *sc)
{
	strlcpy(sc->peer_id, handshaker_peer_id(&sc->hsk),
	    sizeof(sc->peer_id));
	if (rec_init_from_hs(&sc->rec, &sc->hsk.hs) == -1)
		return secure_fail(sc, EXIT_ERROR, "cannot set up the record "
		    "layer");
	sc->rec_ready = 1;
	handshaker_clear(&sc->hsk);
	if (sc->dp != NULL) {
		/* the holder: the requester's handshake came by the relay */
		direct_free(sc->dp);
		sc->dp = NULL;
		log_debug("session %s: relayed: the requester chose the relay",
		    sc->label);
		secure_path_cb(sc, 0);
	}
	return secure_opened(sc);
}

/* The relayed data connection, if one is open, is the losing path. */
static void
secure_drop_cipher(struct secure_conn *sc)
{
	client_event_free(&sc->ev_cread);
	client_event_free(&sc->ev_cwrite);
	sc->ev_on &= ~(EV_ON_CREAD | EV_ON_CWRITE);
	net_close(&sc->cfd);
	buf_reset(sc->cin);
	buf_reset(sc->cout);
}

/* The requester's direct paths did not come in time: the relay, then. */
void
secure_path_relayed(struct secure_conn *sc)
{
	direct_free(sc->dp);
	sc->dp = NULL;
	secure_path_cb(sc, 0);
	if (sc->dead) {
		if (sc->in_cb == 0)
			secure_destroy(sc);
		return;
	}
	if (secure_relay_start(sc) == -1)
		(void)secure_fail(sc, EXIT_UNREACHABLE, "cannot open a data "
		    "connection to the relay: %s", strerror(errno));
	secure_run(sc);
}

/* --direct-only, and no direct path: the session fails. */
void
secure_path_failed(struct secure_conn *sc, const char *why)
{
	direct_free(sc->dp);
	sc->dp = NULL;
	(void)secure_fail(sc, EXIT_SESSION, "--direct-only: %s", why);
	secure_run(sc);
}

/*
 * direct.c proved a direct connection to the peer: it carries the
 * session, with the keys of its own handshake (rec, taken over). in and
 * out are what direct.c buffered (records that came behind the
 * handshake, our last handshake message and path record not yet sent);
 * they, rec and peer_id are copied before the DirectPath, which may hold
 * them, is freed.
 */
void
secure_path_direct(struct secure_conn *sc, int fd, struct rec_layer *rec,
    const char *peer_id, const uint8_t *in, size_t inlen, const uint8_t *out,
    size_t outlen)
{
	uint8_t	*p;

	secure_drop_cipher(sc);
	strlcpy(sc->peer_id, peer_id, sizeof(sc->peer_id));
	if ((p = iobuf_space(sc->cin, inlen)) != NULL)
		memcpy(p, in, inlen);
	iobuf_commit(sc->cin, p != NULL ? inlen : 0);
	if ((p = iobuf_space(sc->cout, outlen)) != NULL)
		memcpy(p, out, outlen);
	iobuf_commit(sc->cout, p != NULL ? outlen : 0);
	sc->rec = *rec;
	crypto_wipe(rec, sizeof(*rec));		/* the keys live here only */
	sc->rec_ready = 1;
	direct_free(sc->dp);	/* in, out, peer_id and rec lived there */
	sc->dp = NULL;
	handshaker_clear(&sc->hsk);
	sc->cfd = fd;
	sc->on_direct = 1;
	if ((sc->ev_cread = event_new(sc->base, fd, EV_READ | EV_PERSIST,
	    secure_cread_cb, sc)) == NULL ||
	    (sc->ev_cwrite = event_new(sc->base, fd, EV_WRITE | EV_PERSIST,
	    secure_cwrite_cb, sc)) == NULL)
		(void)secure_fail(sc, EXIT_ERROR, "event_new failed");
	secure_path_cb(sc, 1);
	/* a refusal is in err_code: secure_run reports it */
	if (sc->err_code == EXIT_OK && !sc->dead)
		(void)secure_opened(sc);
	if (sc->dead) {
		if (sc->in_cb == 0)
			secure_destroy(sc);
		return;
	}
	secure_run(sc);
}

/* Ciphertext in, plaintext out, as far as the plaintext buffer allows. */
static int
secure_open_records(struct secure_conn *sc)
{
	ssize_t		 flen;
	size_t		 maxp, plen;
	uint8_t		*p;
	int		 r, progress = 0;

	for (;;) {
		flen = rec_frame_len(buf_rptr(sc->cin), buf_len(sc->cin));
		if (flen < 0)
			return secure_fail(sc, EXIT_SESSION, "the peer sent a "
			    "record with a bad length");
		if (flen == 0 || (size_t)flen > buf_len(sc->cin))
			return progress;
		/* and a byte to spare: the record opens in one pass */
		maxp = flen - FRAME_HDR_LEN - 1 - AEAD_TAG_LEN + 1;
		if ((p = iobuf_space(sc->pout, maxp)) == NULL)
			return progress;	/* backpressure */
		r = rec_open(&sc->rec, buf_rptr(sc->cin), flen, p, maxp,
		    &plen);
		iobuf_consume(sc->cin, flen);
		switch (r) {
		case REC_DATA:
			iobuf_commit(sc->pout, plen);
			sc->bytes_in += plen;
			break;
		case REC_CLOSE:
			sc->peer_closed = 1;
			log_trace("session %s: the peer closed its direction",
			    sc->label);
			break;
		default:
			return secure_fail(sc, EXIT_SESSION, "integrity "
			    "failure: %s (the data was altered in transit, "
			    "or the peer is broken)", sc->rec.error);
		}
		progress = 1;
	}
}

/* A whole record is buffered but not yet opened (no room for it). */
static int
secure_frame_waiting(struct secure_conn *sc)
{
	ssize_t	 flen;

	if (sc->state != SC_OPEN || sc->peer_closed)
		return 0;
	flen = rec_frame_len(buf_rptr(sc->cin), buf_len(sc->cin));
	return flen > 0 && (size_t)flen <= buf_len(sc->cin);
}

/* The peer is done sending: end-of-stream for the local side. */
static void
secure_shut_plain(struct secure_conn *sc)
{
	int	 nul;

	sc->plain_shut = 1;
	client_event_free(&sc->ev_pwrite);
	sc->ev_on &= ~EV_ON_PWRITE;
	if (net_is_socket(sc->wfd)) {
		(void)shutdown(sc->wfd, SHUT_WR);
		return;
	}
	/*
	 * A pipe or a terminal: drop it, keep the descriptor number busy.
	 * Not ours: give it its flags back first, since whoever shares it
	 * (a shell pipeline) must not inherit O_NONBLOCK from us. Not a
	 * terminal still read from: its input side may be the same open
	 * file, which the loop must keep reading without blocking (the
	 * owner restores it at the end).
	 */
	if (!sc->plain_owned && sc->wflags != -1 &&
	    (sc->plain_eof || !isatty(sc->wfd)))
		(void)fcntl(sc->wfd, F_SETFL, sc->wflags);
	if ((nul = open("/dev/null", O_WRONLY | O_CLOEXEC)) != -1) {
		(void)dup2(nul, sc->wfd);
		close(nul);
	}
}

/*
 * Everything that can be done now without waiting. Returns -1 on an
 * error, 1 when the session is complete, 0 to wait for events.
 */
static int
secure_step(struct secure_conn *sc)
{
	uint8_t		*p;
	ssize_t		 n;
	int		 r, progress;

	if (sc->state == SC_PATH || sc->state == SC_CONNECTING)
		return 0;
	if (sc->state == SC_HANDSHAKE) {
		r = handshaker_step(&sc->hsk, sc->cin, sc->cout);
		if (r == HSK_FAILED)
			return secure_hs_failed(sc);
		if (r == HSK_DONE && secure_established(sc) == -1)
			return -1;
	}
	do {
		progress = 0;
		if (sc->state == SC_OPEN) {
			if ((r = secure_open_records(sc)) == -1)
				return -1;
			progress |= r;
			if (sc->plain_eof && !sc->rec.send.closed) {
				if ((p = iobuf_space(sc->cout, FRAME_HDR_LEN +
				    1 + AEAD_TAG_LEN)) != NULL) {
					if (rec_seal(&sc->rec, REC_TYPE_CLOSE,
					    NULL, 0, p, FRAME_HDR_LEN + 1 +
					    AEAD_TAG_LEN) < 0)
						return secure_fail(sc,
						    EXIT_SESSION, "%s",
						    sc->rec.error);
					iobuf_commit(sc->cout, FRAME_HDR_LEN +
					    1 + AEAD_TAG_LEN);
					log_trace("session %s: local input "
					    "ended, close sent", sc->label);
				}
			}
		}
		if (buf_len(sc->cout) > 0 &&
		    (n = iobuf_write(sc->cout, sc->cfd)) == -1 &&
		    errno != EAGAIN)
			return secure_fail(sc, EXIT_SESSION, "data connection "
			    "to the relay: %s", strerror(errno));
		if (buf_len(sc->cout) == 0 && sc->rec_ready &&
		    sc->rec.send.closed && !sc->cipher_shut) {
			(void)shutdown(sc->cfd, SHUT_WR);
			sc->cipher_shut = 1;
		}
		if (sc->wfd != -1 && !sc->plain_shut &&
		    buf_len(sc->pout) > 0) {
			n = iobuf_write(sc->pout, sc->wfd);
			if (n > 0)
				progress = 1;
			else if (n == -1 && errno != EAGAIN)
				return secure_fail(sc, EXIT_SESSION, "writing "
				    "to the local side: %s", strerror(errno));
		}
		if (sc->wfd != -1 && !sc->plain_shut && sc->peer_closed &&
		    buf_len(sc->pout) == 0)
			secure_shut_plain(sc);
	} while (progress);

	/*
	 * The end of the data connection is judged only once every whole
	 * record before it has been opened: with the local side slow, the
	 * peer's last records (its close among them) can still be waiting
	 * here for room in the plaintext buffer.
	 */
	if (sc->cipher_eof && !secure_frame_waiting(sc)) {
		if (sc->state != SC_OPEN)
			return secure_fail(sc, EXIT_SESSION, "the relay closed "
			    "the data connection before the end-to-end "
			    "handshake completed (the peer refused the session "
			    "or never came)");
		if (!sc->peer_closed) {
			(void)rec_eof(&sc->rec);
			return secure_fail(sc, EXIT_SESSION, "%s (%s)",
			    sc->rec.error != NULL ? sc->rec.error :
			    "truncated", sc->rec.recv.counter == 0 ?
			    "the peer ended the session before sending "
			    "anything: it may have refused this ID, or "
			    "could not reach its service" :
			    "the peer or the relay ended the session "
			    "abnormally");
		}
		if (buf_len(sc->cin) > 0)
			return secure_fail(sc, EXIT_SESSION, "bytes after the "
			    "peer's close record");
	}
	if (sc->state == SC_OPEN && sc->rec.send.closed && sc->cipher_shut &&
	    sc->peer_closed && sc->plain_shut)
		return 1;
	secure_update_events(sc);
	return 0;
}

static void
secure_stop(struct secure_conn *sc)
{
	direct_free(sc->dp);
	sc->dp = NULL;
	client_event_free(&sc->ev_cread);
	client_event_free(&sc->ev_cwrite);
	client_event_free(&sc->ev_pread);
	client_event_free(&sc->ev_pwrite);
	sc->ev_on = 0;
	if (sc->ev_deadline != NULL)
		evtimer_del(sc->ev_deadline);
	net_close(&sc->cfd);
	if (sc->plain_owned) {
		if (sc->rfd != -1)
			close(sc->rfd);
		if (sc->wfd != -1 && sc->wfd != sc->rfd)
			close(sc->wfd);
		sc->rfd = sc->wfd = -1;
	}
}

/* Run a step and, when the session is over, tell the owner. */
static void
secure_run(struct secure_conn *sc)
{
	int	 r;

	if (sc->dead || sc->state == SC_DONE)
		return;
	r = sc->err_code != EXIT_OK ? -1 : secure_step(sc);
	if (r == 0)
		return;
	secure_stop(sc);
	sc->state = SC_DONE;
	if (r == 1)
		log_debug("session %s: closed cleanly (%llu bytes in, %llu "
		    "out)", sc->label, (unsigned long long)sc->bytes_in,
		    (unsigned long long)sc->bytes_out);
	sc->in_cb++;
	sc->cb->done(sc, r == 1 ? EXIT_OK : sc->err_code,
	    r == 1 ? NULL : sc->err, sc->arg);
	sc->in_cb--;
	if (sc->dead && sc->in_cb == 0)
		secure_destroy(sc);
}

static void
secure_cread_cb(int fd, short ev, void *arg)
{
	struct secure_conn	*sc = arg;
	ssize_t			 n;

	n = iobuf_read(sc->cin, sc->cfd, iobuf_free(sc->cin));
	if (n == -1 && errno == ECONNRESET && sc->peer_closed)
		n = 0;	/* after the close record a reset loses nothing */
	if (n == -1) {
		if (errno == EAGAIN)
			return;
		if (errno != ENOBUFS)
			(void)secure_fail(sc, EXIT_SESSION, "data connection "
			    "to the relay: %s%s", strerror(errno),
			    sc->peer_closed ? "" : " (truncated)");
		else
			secure_update_events(sc);
	} else if (n == 0)
		sc->cipher_eof = 1;
	secure_run(sc);
}

static void
secure_cwrite_cb(int fd, short ev, void *arg)
{
	struct secure_conn	*sc = arg;

	if (sc->state == SC_CONNECTING) {
		if (net_connect_result(sc->cfd) == -1) {
			(void)secure_fail(sc, EXIT_UNREACHABLE, "cannot open "
			    "a data connection to the relay: %s",
			    strerror(errno));
		} else
			sc->state = SC_HANDSHAKE;
	}
	secure_run(sc);
}

/*
 * Local input: as many whole records as the output buffer has room for
 * (SECURE_BATCH at most) in one readv(2), each payload landing in its
 * frame's slot; only the last can be short, so the frames stay
 * contiguous. Each is sealed in place (the cipher allows its input and
 * output to be the same bytes).
 */
static void
secure_pread_cb(int fd, short ev, void *arg)
{
	struct secure_conn	*sc = arg;
	struct iovec		 iov[SECURE_BATCH];
	uint8_t			*p, *slot;
	size_t			 nslots, i, left, len, total;
	ssize_t			 n, f;

	while (!sc->plain_eof && sc->err_code == EXIT_OK) {
		nslots = iobuf_free(sc->cout) / REC_MAX_FRAME;
		if (nslots > SECURE_BATCH)
			nslots = SECURE_BATCH;
		if (nslots == 0 ||
		    (p = iobuf_space(sc->cout, nslots * REC_MAX_FRAME)) == NULL)
			break;
		for (i = 0; i < nslots; i++) {
			iov[i].iov_base = p + i * REC_MAX_FRAME + FRAME_HDR_LEN +
			    1;
			iov[i].iov_len = REC_MAX_PAYLOAD;
		}
		n = readv(sc->rfd, iov, (int)nslots);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			break;
		if (n == -1) {
			(void)secure_fail(sc, EXIT_SESSION, "reading from the "
			    "local side: %s", strerror(errno));
			break;
		}
		if (n == 0) {
			sc->plain_eof = 1;
			break;
		}
		total = 0;
		for (i = 0, left = n; left > 0; i++, left -= len) {
			len = left < REC_MAX_PAYLOAD ? left : REC_MAX_PAYLOAD;
			slot = p + i * REC_MAX_FRAME;
			if ((f = rec_seal(&sc->rec, REC_TYPE_DATA,
			    slot + FRAME_HDR_LEN + 1, len, slot,
			    REC_MAX_FRAME)) < 0) {
				(void)secure_fail(sc, EXIT_SESSION, "%s",
				    sc->rec.error);
				break;
			}
			total += f;
		}
		if (sc->err_code != EXIT_OK)
			break;
		iobuf_commit(sc->cout, total);
		sc->bytes_out += n;
		if ((size_t)n < nslots * REC_MAX_PAYLOAD)
			break;		/* most likely drained */
	}
	secure_run(sc);
}

static void
secure_pwrite_cb(int fd, short ev, void *arg)
{
	secure_run(arg);
}

/* The handshake deadline, and failures found outside secure_step(). */
static void
secure_deadline_cb(int fd, short ev, void *arg)
{
	struct secure_conn	*sc = arg;

	if (sc->dead || sc->state == SC_DONE)
		return;
	if (!sc->pending && sc->state != SC_OPEN)
		(void)secure_fail(sc, EXIT_TIMEOUT, "the end-to-end handshake "
		    "did not complete within %d seconds (the peer never came, "
		    "or the relay did not pair the session)",
		    HANDSHAKE_DEADLINE);
	if (sc->err_code != EXIT_OK)
		secure_run(sc);
}

/* Free now, or after the callback that called us returns. */
void
secure_free(struct secure_conn *sc)
{
	if (sc == NULL || sc->dead)
		return;
	sc->dead = 1;
	secure_stop(sc);
	if (sc->in_cb == 0)
		secure_destroy(sc);
}

static void
secure_destroy(struct secure_conn *sc)
{
	secure_stop(sc);
	client_event_free(&sc->ev_deadline);
	handshaker_clear(&sc->hsk);
	if (sc->rec_ready)
		rec_clear(&sc->rec);
	buf_free(sc->cin);
	buf_free(sc->cout);
	buf_free(sc->pout);
	free(sc);
}
