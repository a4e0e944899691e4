/* SPDX-License-Identifier: ISC */
/*
 * fuzz_handshake.c: the handshake state machine (libcommon/handshake.c,
 * DESIGN 4.2), both roles. The side under test ("us") talks to a peer
 * that the harness plays with real keys, honest or not: every message
 * we read is the peer's own, the peer's with a bit flipped, raw input or
 * of a wrong length, every signature is ours, another key's or raw
 * bytes, and the calls come in any order. The peer can also claim any
 * public key and put any signature in its M2 or M3 (sealed properly, so
 * the check that matters is the signature, not the AEAD tag).
 *
 * After every call: a failure leaves HS_S_FAILED, a reason and no secret
 * behind; hs_next_frame_len() agrees with the state; a side that accepts
 * its peer names exactly the key that really signed the transcript (and
 * the expected ID, if one was given); two finished sides hold matching
 * traffic keys and a record sealed by one opens at the other. In "script"
 * mode a whole handshake runs in order with at most one deviation: it
 * must finish on both sides if and only if nothing deviated.
 *
 * Ephemeral keys are always fixed (from the input or the protocol
 * vectors), so a run is repeatable.
 */
#include "config.h"

#include <string.h>

#include "buffer.h"
#include "crypto.h"
#include "fuzz.h"
#include "protocol.h"

/*
 * The seeds and ephemerals of tests/unit/protocol-vectors.json (bytes
 * counting up from 0x00, 0x20, 0x40 and 0x60), and a third identity.
 */
static uint8_t		 seed_i[32], seed_r[32], eph_i[32], eph_r[32];
static const uint8_t	 seed_x[32] = "a third identity for the fuzzer";

static struct identity	 ids[3];	/* I, R, X */
static int		 keys_taken;	/* check_pair() moved them to records */

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fz_quiet();
	fz_counting(seed_i, sizeof(seed_i), 0x00);
	fz_counting(seed_r, sizeof(seed_r), 0x20);
	fz_counting(eph_i, sizeof(eph_i), 0x40);
	fz_counting(eph_r, sizeof(eph_r), 0x60);
	if (identity_from_seed(&ids[0], seed_i) == -1 ||
	    identity_from_seed(&ids[1], seed_r) == -1 ||
	    identity_from_seed(&ids[2], seed_x) == -1)
		abort();
	return 0;
}

static int
is_zero(const void *p, size_t len)
{
	const uint8_t	*u = p;
	size_t		 i;

	for (i = 0; i < len; i++)
		if (u[i] != 0)
			return 0;
	return 1;
}

/* What must hold of one side after every call. */
static void
check_side(const struct handshake *hs, int r)
{
	size_t	 next = hs_next_frame_len(hs);

	if (r == -1)
		FZ_CHECK(hs->state == HS_S_FAILED);
	if (hs->state == HS_S_FAILED) {
		FZ_CHECK(hs->error != NULL);
		FZ_CHECK(is_zero(hs->e_sk, sizeof(hs->e_sk)));
		FZ_CHECK(is_zero(hs->ss, sizeof(hs->ss)));
		FZ_CHECK(is_zero(hs->k_r, sizeof(hs->k_r)));
		FZ_CHECK(is_zero(hs->k_i, sizeof(hs->k_i)));
		FZ_CHECK(is_zero(hs->key_send, sizeof(hs->key_send)));
		FZ_CHECK(is_zero(hs->key_recv, sizeof(hs->key_recv)));
		FZ_CHECK(next == 0);
		return;
	}
	if (hs->role == HS_RESPONDER && hs->state == HS_S_START)
		FZ_CHECK(next == HS_M1_LEN);
	else if (hs->role == HS_INITIATOR && hs->state == HS_S_WAIT_M2)
		FZ_CHECK(next == HS_M2_LEN);
	else if (hs->role == HS_RESPONDER && hs->state == HS_S_WAIT_M3)
		FZ_CHECK(next == HS_M3_LEN);
	else
		FZ_CHECK(next == 0);
	if (hs->state == HS_S_DONE && !keys_taken) {
		FZ_CHECK(!is_zero(hs->key_send, sizeof(hs->key_send)));
		FZ_CHECK(memcmp(hs->key_send, hs->key_recv,
		    sizeof(hs->key_send)) != 0);
	}
	if (hs->state == HS_S_DONE) {
		FZ_CHECK(is_zero(hs->e_sk, sizeof(hs->e_sk)));
		FZ_CHECK(is_zero(hs->ss, sizeof(hs->ss)));
	}
}

/* The wire between the two sides: the last frame each one wrote. */
struct wire {
	uint8_t		 frame[HS_FRAME_M2 + 8];
	size_t		 len;
	int		 authentic;	/* its signature is its key's, over its h */
	uint8_t		 pk[ED25519_PK_LEN];	/* the key it claims */
};

struct run {
	struct handshake	 us, peer;
	struct wire		 from_us, from_peer;
	int			 ctx_same;
	char			 expect[ID_BUFSZ];	/* what "us" was told to expect */
	int			 deviated;
};

/* Does hs hold a signature that verifies for its own key over its h? */
static int
sig_authentic(const struct handshake *hs)
{
	uint8_t	 msg[HS_SIGMSG_LEN];

	if (!hs->have_sig)
		return 0;
	hs_sigmsg(hs, msg);
	return ed25519_verify(hs->local_pk, msg, sizeof(msg), hs->sig) == 0;
}

static int
do_write(struct handshake *hs, struct wire *w, size_t outlen)
{
	int	 r;

	w->authentic = sig_authentic(hs);
	memcpy(w->pk, hs->local_pk, sizeof(w->pk));
	if (outlen > sizeof(w->frame))
		outlen = sizeof(w->frame);
	if (hs->role == HS_INITIATOR && hs->state == HS_S_START)
		r = hs_write_m1(hs, w->frame, outlen);
	else if (hs->role == HS_INITIATOR)
		r = hs_write_m3(hs, w->frame, outlen);
	else
		r = hs_write_m2(hs, w->frame, outlen);
	w->len = r > 0 ? (size_t)r : 0;
	if (r > 0)
		FZ_CHECK(get_be16(w->frame) == r - FRAME_HDR_LEN);
	return r < 0 ? -1 : 0;
}

/*
 * Feed hs the body of a frame: the other side's (maybe altered), or raw
 * input. Which message it is depends on hs's role and state, so an
 * out-of-order call is made too. *tampered: it is not exactly what the
 * other side wrote.
 */
static int
do_read(struct handshake *hs, const struct wire *w, struct fz *f,
    int *tampered)
{
	uint8_t		 body[HS_M2_LEN + 8];
	size_t		 len, i;
	uint8_t		 how = fz_u8(f);

	if (how < 160 && w->len >= FRAME_HDR_LEN) {
		len = w->len - FRAME_HDR_LEN;
		memcpy(body, w->frame + FRAME_HDR_LEN, len);
		if (how >= 128) {	/* one bit flipped */
			i = fz_u16(f) % (len * 8);
			body[i / 8] ^= (uint8_t)(1 << (i % 8));
		}
	} else if (how < 220) {	/* raw bytes of the right length */
		len = hs_next_frame_len(hs);
		if (len == 0)
			len = fz_u8(f) % sizeof(body);
		fz_fill(f, body, len);
	} else {		/* a wrong length */
		len = fz_u8(f) % sizeof(body);
		fz_fill(f, body, len);
	}
	*tampered = w->len < FRAME_HDR_LEN || len != w->len - FRAME_HDR_LEN ||
	    memcmp(body, w->frame + FRAME_HDR_LEN, len) != 0;
	if (hs->role == HS_RESPONDER && hs->state == HS_S_START)
		return hs_read_m1(hs, body, len);
	if (hs->role == HS_RESPONDER)
		return hs_read_m3(hs, body, len);
	return hs_read_m2(hs, body, len);
}

/* Sign: with its own key, another key, raw bytes, or claim another key. */
static int
do_sign(struct handshake *hs, struct fz *f, int may_lie)
{
	uint8_t		 sig[ED25519_SIG_LEN];
	uint8_t		 msg[HS_SIGMSG_LEN];
	const struct identity *k;
	uint8_t		 how = fz_u8(f);

	if (how < 128) {
		for (k = &ids[0]; k < &ids[3]; k++)
			if (memcmp(k->pk, hs->local_pk, ED25519_PK_LEN) == 0)
				return hs_sign(hs, k);
		return hs_sign(hs, &ids[2]);
	}
	if (how < 160)		/* a key that is not ours: refused */
		return hs_sign(hs, &ids[fz_u8(f) % 3]);
	if (how < 176 || !may_lie || hs->state != HS_S_NEED_SIG) {
		fz_fill(f, sig, sizeof(sig));
		return hs_set_sig(hs, sig);
	}
	/*
	 * The peer lies about who it is: any public key, and a signature
	 * over the transcript with that key by one of ours, or raw bytes.
	 * Sealed properly, so only the signature check can refuse it.
	 */
	how = fz_u8(f);
	if (how < 128) {
		k = &ids[how % 3];
		memcpy(hs->local_pk, k->pk, ED25519_PK_LEN);
		hs_sigmsg(hs, msg);
		if (identity_sign(&ids[fz_u8(f) % 3], msg, sizeof(msg),
		    hs->sig) == -1)
			abort();
	} else {
		fz_fill(f, hs->local_pk, ED25519_PK_LEN);
		fz_fill(f, hs->sig, ED25519_SIG_LEN);
	}
	hs->have_sig = 1;
	hs->state = HS_S_WRITE;
	return 0;
}

static void
setup_side(struct handshake *hs, enum hs_role role, const uint8_t *ctx,
    size_t ctxlen, const char *expect, struct fz *f)
{
	uint8_t		 eph[X25519_LEN];
	const uint8_t	*pk;

	pk = ids[role == HS_INITIATOR ? 0 : 1].pk;
	FZ_CHECK(hs_init(hs, role, ctx, ctxlen, pk, expect) == 0 ||
	    (expect != NULL && hs->state == HS_S_FAILED));
	if (hs->state == HS_S_FAILED)
		return;
	if (fz_u8(f) < 200)
		memcpy(eph, role == HS_INITIATOR ? eph_i : eph_r, sizeof(eph));
	else
		fz_fill(f, eph, sizeof(eph));
	FZ_CHECK(hs_set_ephemeral(hs, eph) == 0);
}

/* A context: control, e2e with some session and ALPN, or raw bytes. */
static size_t
make_ctx(struct fz *f, uint8_t *ctx, size_t ctxmax)
{
	uint8_t		 sid[SESSION_ID_LEN];
	char		 alpn[ALPN_MAX_LEN + 8];
	uint8_t		 how = fz_u8(f);
	int		 n;
	size_t		 len;

	if (how < 128) {
		memcpy(ctx, HS_CTX_CONTROL, sizeof(HS_CTX_CONTROL) - 1);
		return sizeof(HS_CTX_CONTROL) - 1;
	}
	if (how < 224) {
		fz_fill(f, sid, sizeof(sid));
		fz_str(f, alpn, ALPN_MAX_LEN + 2);
		n = hs_ctx_e2e(ctx, ctxmax, sid, alpn);
		if (strlen(alpn) == 0 || strlen(alpn) > ALPN_MAX_LEN) {
			FZ_CHECK(n == -1);
		} else {
			FZ_CHECK(n == (int)(sizeof(HS_CTX_E2E) - 1 +
			    SESSION_ID_LEN + 1 + strlen(alpn)));
			return (size_t)n;
		}
	}
	len = fz_u8(f) % (ctxmax + 1);
	fz_fill(f, ctx, len);
	return len;
}

/* Both finished: the keys pair up and a record crosses each way. */
static void
check_pair(struct run *run)
{
	struct rec_layer	 a, b;
	uint8_t			 frame[64], out[64];
	size_t			 plen;
	ssize_t			 n;

	FZ_CHECK(memcmp(run->us.key_send, run->peer.key_recv, HS_KEY_LEN) ==
	    0);
	FZ_CHECK(memcmp(run->us.key_recv, run->peer.key_send, HS_KEY_LEN) ==
	    0);
	FZ_CHECK(rec_init_from_hs(&a, &run->us) == 0);
	FZ_CHECK(rec_init_from_hs(&b, &run->peer) == 0);
	FZ_CHECK(is_zero(run->us.key_send, HS_KEY_LEN));
	n = rec_seal(&a, REC_TYPE_DATA, (const uint8_t *)"ping", 4, frame,
	    sizeof(frame));
	FZ_CHECK(n > 0);
	FZ_CHECK(rec_open(&b, frame, n, out, sizeof(out), &plen) == REC_DATA);
	FZ_CHECK(plen == 4 && memcmp(out, "ping", 4) == 0);
	n = rec_seal(&b, REC_TYPE_CLOSE, NULL, 0, frame, sizeof(frame));
	FZ_CHECK(n > 0);
	FZ_CHECK(rec_open(&a, frame, n, out, sizeof(out), &plen) == REC_CLOSE);
	rec_clear(&a);
	rec_clear(&b);
	keys_taken = 1;
}

/*
 * After "us" read a message from the peer: if it accepted the peer's
 * identity, that identity signed the transcript and is the one expected.
 */
static void
check_accept(struct run *run, int before, int tampered)
{
	struct handshake	*hs = &run->us;
	char			 id[ID_BUFSZ];
	int			 accepted;

	accepted = hs->role == HS_INITIATOR ?
	    before == HS_S_WAIT_M2 && hs->state == HS_S_NEED_SIG :
	    before == HS_S_WAIT_M3 && hs->state == HS_S_DONE;
	if (!accepted)
		return;
	FZ_CHECK(!tampered);
	FZ_CHECK(run->ctx_same);
	FZ_CHECK(run->from_peer.authentic);
	FZ_CHECK(memcmp(hs->peer_pk, run->from_peer.pk, ED25519_PK_LEN) == 0);
	id_from_pk(hs->peer_pk, id);
	FZ_CHECK(strcmp(id, hs->peer_id) == 0);
	if (run->expect[0] != '\0')
		FZ_CHECK(strcmp(run->expect, hs->peer_id) == 0);
}

/*
 * A scripted step: hs reads what the other side wrote on w. 1 when that
 * went wrong or the message was not the one written; "us" accepting the
 * peer is checked.
 */
static int
script_read(struct run *run, struct handshake *hs, const struct wire *w,
    struct fz *f)
{
	int	 before = hs->state, tampered, r;

	r = do_read(hs, w, f, &tampered);
	if (hs == &run->us)
		check_accept(run, before, tampered);
	return r == -1 || tampered;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct run	 run;
	uint8_t			 ctx_us[HS_MAX_CTX_LEN], ctx_peer[HS_MAX_CTX_LEN];
	size_t			 ctxlen_us, ctxlen_peer;
	struct fz		 f;
	enum hs_role		 role;
	uint8_t			 mode, how, sigmsg[HS_SIGMSG_LEN];
	const char		*expect = NULL;
	char			 raw_expect[ID_BUFSZ + 8];
	int			 r, before, tampered, steps = 0, script;

	fz_init(&f, data, size);
	memset(&run, 0, sizeof(run));
	keys_taken = 0;
	mode = fz_u8(&f);
	role = mode & 1 ? HS_RESPONDER : HS_INITIATOR;
	script = (mode & 2) != 0;

	ctxlen_us = make_ctx(&f, ctx_us, sizeof(ctx_us));
	if (fz_u8(&f) < 230) {
		memcpy(ctx_peer, ctx_us, ctxlen_us);
		ctxlen_peer = ctxlen_us;
	} else
		ctxlen_peer = make_ctx(&f, ctx_peer, sizeof(ctx_peer));
	run.ctx_same = ctxlen_us == ctxlen_peer &&
	    memcmp(ctx_us, ctx_peer, ctxlen_us) == 0;

	/* the initiator may expect an ID: the responder's, another, junk */
	if (role == HS_INITIATOR) {
		how = fz_u8(&f);
		if (how < 64)
			expect = ids[1].id;
		else if (how < 96)
			expect = ids[2].id;
		else if (how < 112) {
			fz_str(&f, raw_expect, ID_BUFSZ + 2);
			expect = raw_expect;
		}
	}
	setup_side(&run.us, role, ctx_us, ctxlen_us, expect, &f);
	check_side(&run.us, 0);
	if (run.us.state == HS_S_FAILED) {
		FZ_CHECK(expect != NULL);
		return 0;
	}
	if (expect != NULL && expect[0] != '\0')
		strlcpy(run.expect, run.us.expect_id, sizeof(run.expect));
	setup_side(&run.peer, role == HS_INITIATOR ? HS_RESPONDER :
	    HS_INITIATOR, ctx_peer, ctxlen_peer, NULL, &f);

	if (script) {
		/*
		 * In order: M1, R signs, M2, I signs, M3, whatever happened
		 * before. Both finish if and only if nothing deviated: every
		 * message arrived as written, every signature is its
		 * key's, the contexts agree, and the initiator expected
		 * nothing or the key the responder really signed with.
		 */
		struct handshake *I = role == HS_INITIATOR ? &run.us : &run.peer;
		struct handshake *R = role == HS_INITIATOR ? &run.peer : &run.us;
		struct wire	 *wI = role == HS_INITIATOR ? &run.from_us :
		    &run.from_peer;
		struct wire	 *wR = role == HS_INITIATOR ? &run.from_peer :
		    &run.from_us;
		char		  rid[ID_BUFSZ] = "";
		int		  bad = !run.ctx_same;

		bad |= do_write(I, wI, HS_FRAME_M1) == -1;
		bad |= script_read(&run, R, wI, &f);
		bad |= do_sign(R, &f, R == &run.peer) == -1 ||
		    !sig_authentic(R);
		id_from_pk(R->local_pk, rid);
		bad |= do_write(R, wR, HS_FRAME_M2) == -1;
		bad |= script_read(&run, I, wR, &f);
		bad |= do_sign(I, &f, I == &run.peer) == -1 ||
		    !sig_authentic(I);
		bad |= do_write(I, wI, HS_FRAME_M3) == -1;
		bad |= script_read(&run, R, wI, &f);
		check_side(&run.us, 0);
		check_side(&run.peer, 0);
		if (run.expect[0] != '\0' && strcmp(run.expect, rid) != 0)
			bad = 1;
		FZ_CHECK((run.us.state == HS_S_DONE &&
		    run.peer.state == HS_S_DONE) == !bad);
		if (!bad)
			check_pair(&run);
		hs_clear(&run.us);
		hs_clear(&run.peer);
		return 0;
	}

	while (fz_more(&f) && steps++ < 24) {
		struct handshake *hs;
		struct wire	 *out, *in;
		int		  us;

		how = fz_u8(&f);
		us = (how & 0x80) == 0;
		hs = us ? &run.us : &run.peer;
		out = us ? &run.from_us : &run.from_peer;
		in = us ? &run.from_peer : &run.from_us;
		before = hs->state;
		tampered = 0;
		switch (how & 0x7f) {
		case 0 ... 31:
			r = do_write(hs, out, fz_u8(&f) < 240 ? HS_FRAME_M2 :
			    fz_u8(&f) % HS_FRAME_M2);
			break;
		case 32 ... 79:
			r = do_read(hs, in, &f, &tampered);
			if (us)
				check_accept(&run, before, tampered);
			break;
		case 80 ... 111:
			r = do_sign(hs, &f, !us);
			break;
		case 112 ... 119:
			hs_sigmsg(hs, sigmsg);
			r = 0;
			break;
		default:
			r = 0;
			if (run.us.state == HS_S_DONE &&
			    run.peer.state == HS_S_DONE) {
				check_pair(&run);
				goto out;
			}
			break;
		}
		check_side(hs, r);
		/* a call from a state it does not belong to fails */
		if (before == HS_S_FAILED || before == HS_S_DONE)
			FZ_CHECK(r == -1 || (how & 0x7f) >= 112);
	}
 out:
	check_side(&run.us, 0);
	check_side(&run.peer, 0);
	hs_clear(&run.us);
	hs_clear(&run.peer);
	return 0;
}
