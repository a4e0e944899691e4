/* SPDX-License-Identifier: ISC */
/*
 * test_crypto.c: identities, the handshake and the record layer against
 * the fixed transcript in protocol-vectors.json and against each other:
 * every tampered byte, wrong ID, low-order point, reorder, replay and
 * truncation must fail.
 */
#include "config.h"

#include <sys/stat.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "buffer.h"
#include "crypto.h"
#include "crypto_int.h"
#include "vectors.h"
#include "unit.h"

static const char *cases[] = { "control", "e2e" };

static void
load_vectors(void)
{
	ck_assert_msg(vec_load(vec_path()) == 0, "cannot read %s", vec_path());
}

static void
vec_ident(const char *seedkey, struct identity *id)
{
	uint8_t	 seed[32];

	ck_assert_int_eq(vec_bytes("", seedkey, seed, sizeof(seed)), 32);
	ck_assert_int_eq(identity_from_seed(id, seed), 0);
}

static void
assert_vec(const char *c, const char *key, const uint8_t *got, size_t len)
{
	uint8_t	 want[512];
	int	 n = vec_bytes(c, key, want, sizeof(want));

	ck_assert_msg(n >= 0, "vector %s/%s missing", c, key);
	ck_assert_msg((size_t)n == len, "%s/%s: length %zu, want %d", c, key,
	    len, n);
	ck_assert_msg(memcmp(want, got, len) == 0, "%s/%s differs", c, key);
}

START_TEST(test_vector_identities)
{
	struct identity	 i, r;
	uint8_t		 pk[32];

	load_vectors();
	vec_ident("identity_I_seed", &i);
	vec_ident("identity_R_seed", &r);
	ck_assert_int_eq(vec_bytes("", "identity_I_pk", pk, sizeof(pk)), 32);
	ck_assert_mem_eq(i.pk, pk, 32);
	ck_assert_int_eq(vec_bytes("", "identity_R_pk", pk, sizeof(pk)), 32);
	ck_assert_mem_eq(r.pk, pk, 32);
	ck_assert_str_eq(i.id, vec_get("", "identity_I_id"));
	ck_assert_str_eq(r.id, vec_get("", "identity_R_id"));
	identity_clear(&i);
	identity_clear(&r);
}
END_TEST

/* The whole transcript of one case, byte for byte. */
START_TEST(test_vector_transcript)
{
	const char		*c = cases[_i];
	struct identity		 idI, idR;
	struct handshake	 I, R;
	struct rec_layer	 rI, rR;
	uint8_t			 ctx[128], eI[32], eR[32], sid[16];
	uint8_t			 m1[HS_FRAME_M1], m2[HS_FRAME_M2], m3[HS_FRAME_M3];
	uint8_t			 rec[64], pt[64];
	size_t			 ctxlen, plen;
	ssize_t			 n;
	int			 k;

	load_vectors();
	vec_ident("identity_I_seed", &idI);
	vec_ident("identity_R_seed", &idR);
	ck_assert_int_eq(vec_bytes("", "ephemeral_I_secret", eI, 32), 32);
	ck_assert_int_eq(vec_bytes("", "ephemeral_R_secret", eR, 32), 32);

	if (strcmp(c, "control") == 0) {
		ctxlen = strlen(HS_CTX_CONTROL);
		memcpy(ctx, HS_CTX_CONTROL, ctxlen);
	} else {
		for (k = 0; k < 16; k++)
			sid[k] = 0x80 + k;
		k = hs_ctx_e2e(ctx, sizeof(ctx), sid, "ssh");
		ck_assert_int_gt(k, 0);
		ctxlen = k;
	}
	assert_vec(c, "ctx", ctx, ctxlen);

	ck_assert_int_eq(hs_init(&I, HS_INITIATOR, ctx, ctxlen, idI.pk,
	    idR.id), 0);
	ck_assert_int_eq(hs_init(&R, HS_RESPONDER, ctx, ctxlen, idR.pk,
	    NULL), 0);
	assert_vec(c, "h0", I.h, 32);
	ck_assert_int_eq(hs_set_ephemeral(&I, eI), 0);
	ck_assert_int_eq(hs_set_ephemeral(&R, eR), 0);

	ck_assert_int_eq(hs_write_m1(&I, m1, sizeof(m1)), HS_FRAME_M1);
	assert_vec(c, "M1_frame", m1, sizeof(m1));
	assert_vec(c, "M1", m1 + 2, 32);

	ck_assert_int_eq(hs_next_frame_len(&R), HS_M1_LEN);
	ck_assert_int_eq(hs_read_m1(&R, m1 + 2, HS_M1_LEN), 0);
	assert_vec(c, "h1", R.h, 32);
	assert_vec(c, "ss", R.ss, 32);
	assert_vec(c, "kR", R.k_r, 32);
	assert_vec(c, "kI", R.k_i, 32);
	ck_assert_int_eq(R.state, HS_S_NEED_SIG);
	ck_assert_int_eq(hs_sign(&R, &idR), 0);
	ck_assert_int_eq(hs_write_m2(&R, m2, sizeof(m2)), HS_FRAME_M2);
	assert_vec(c, "M2_frame", m2, sizeof(m2));
	assert_vec(c, "h2", R.h, 32);

	ck_assert_int_eq(hs_read_m2(&I, m2 + 2, HS_M2_LEN), 0);
	ck_assert_str_eq(I.peer_id, idR.id);
	assert_vec(c, "h2", I.h, 32);
	ck_assert_int_eq(hs_sign(&I, &idI), 0);
	ck_assert_int_eq(hs_write_m3(&I, m3, sizeof(m3)), HS_FRAME_M3);
	assert_vec(c, "M3_frame", m3, sizeof(m3));
	assert_vec(c, "h3", I.h, 32);
	assert_vec(c, "key_i2r", I.key_send, 32);
	assert_vec(c, "key_r2i", I.key_recv, 32);

	ck_assert_int_eq(hs_read_m3(&R, m3 + 2, HS_M3_LEN), 0);
	ck_assert_int_eq(R.state, HS_S_DONE);
	ck_assert_str_eq(R.peer_id, idI.id);
	assert_vec(c, "h3", R.h, 32);
	assert_vec(c, "key_i2r", R.key_recv, 32);
	assert_vec(c, "key_r2i", R.key_send, 32);

	ck_assert_int_eq(rec_init_from_hs(&rI, &I), 0);
	ck_assert_int_eq(rec_init_from_hs(&rR, &R), 0);
	n = rec_seal(&rI, REC_TYPE_DATA, (const uint8_t *)"hello from I", 12,
	    rec, sizeof(rec));
	ck_assert_int_eq(n, 2 + 1 + 12 + 16);
	assert_vec(c, "i2r_record0_data_hello_from_I", rec, n);
	ck_assert_int_eq(rec_open(&rR, rec, n, pt, sizeof(pt), &plen),
	    REC_DATA);
	ck_assert_uint_eq(plen, 12);
	ck_assert_mem_eq(pt, "hello from I", 12);
	n = rec_seal(&rI, REC_TYPE_CLOSE, NULL, 0, rec, sizeof(rec));
	assert_vec(c, "i2r_record1_close", rec, n);
	ck_assert_int_eq(rec_open(&rR, rec, n, pt, sizeof(pt), &plen),
	    REC_CLOSE);

	n = rec_seal(&rR, REC_TYPE_DATA, (const uint8_t *)"hello from R", 12,
	    rec, sizeof(rec));
	assert_vec(c, "r2i_record0_data_hello_from_R", rec, n);
	ck_assert_int_eq(rec_open(&rI, rec, n, pt, sizeof(pt), &plen),
	    REC_DATA);
	n = rec_seal(&rR, REC_TYPE_CLOSE, NULL, 0, rec, sizeof(rec));
	assert_vec(c, "r2i_record1_close", rec, n);
	ck_assert_int_eq(rec_open(&rI, rec, n, pt, sizeof(pt), &plen),
	    REC_CLOSE);
	ck_assert_int_eq(rec_eof(&rI), 0);
	ck_assert_int_eq(rec_eof(&rR), 0);

	rec_clear(&rI);
	rec_clear(&rR);
	identity_clear(&idI);
	identity_clear(&idR);
}
END_TEST

/*
 * Run a handshake between fresh identities. tamper_msg (1-3) and
 * tamper_byte flip one bit of a frame body in flight. Returns 0 when both
 * sides finish with matching keys, -1 when any side fails.
 */
struct hs_pair {
	struct identity		 a, b;
	struct handshake	 I, R;
};

/*
 * The three frames of a handshake in order: the initiator writes the
 * first and the last, and the reader of the first two signs after it.
 */
static const struct hs_frame {
	int	(*write)(struct handshake *, uint8_t *, size_t);
	int	(*read)(struct handshake *, const uint8_t *, size_t);
	size_t	 framelen;
	size_t	 bodylen;
} hs_frames[3] = {
	{ hs_write_m1, hs_read_m1, HS_FRAME_M1, HS_M1_LEN },
	{ hs_write_m2, hs_read_m2, HS_FRAME_M2, HS_M2_LEN },
	{ hs_write_m3, hs_read_m3, HS_FRAME_M3, HS_M3_LEN },
};

static int
run_handshake(struct hs_pair *p, const char *expect, int tamper_msg,
    size_t tamper_byte)
{
	uint8_t			 frame[HS_FRAME_M1 + HS_FRAME_M2 +
				    HS_FRAME_M3];
	const uint8_t		*ctx = (const uint8_t *)HS_CTX_CONTROL;
	size_t			 ctxlen = strlen(HS_CTX_CONTROL);
	const struct hs_frame	*f;
	struct handshake	*from, *to;
	int			 k;

	if (hs_init(&p->I, HS_INITIATOR, ctx, ctxlen, p->a.pk, expect) == -1 ||
	    hs_init(&p->R, HS_RESPONDER, ctx, ctxlen, p->b.pk, NULL) == -1)
		return -1;
	for (k = 0; k < 3; k++) {
		f = &hs_frames[k];
		from = k == 1 ? &p->R : &p->I;
		to = k == 1 ? &p->I : &p->R;
		if (f->write(from, frame, f->framelen) < 0)
			return -1;
		if (tamper_msg == k + 1)
			frame[2 + tamper_byte] ^= 0x01;
		if (f->read(to, frame + 2, f->bodylen) == -1)
			return -1;
		if (k < 2 && hs_sign(to, k == 0 ? &p->b : &p->a) == -1)
			return -1;
	}
	if (memcmp(p->I.key_send, p->R.key_recv, 32) != 0 ||
	    memcmp(p->I.key_recv, p->R.key_send, 32) != 0)
		return -1;
	return 0;
}

static struct hs_pair *
pair_new(void)
{
	struct hs_pair	*p = calloc(1, sizeof(*p));

	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(identity_generate(&p->a), 0);
	ck_assert_int_eq(identity_generate(&p->b), 0);
	return p;
}

static void
pair_free(struct hs_pair *p)
{
	identity_clear(&p->a);
	identity_clear(&p->b);
	free(p);
}

START_TEST(test_handshake_full)
{
	struct hs_pair	*p = pair_new();

	ck_assert_int_eq(run_handshake(p, p->b.id, 0, 0), 0);
	ck_assert_str_eq(p->I.peer_id, p->b.id);
	ck_assert_str_eq(p->R.peer_id, p->a.id);
	ck_assert_int_eq(p->I.state, HS_S_DONE);
	ck_assert_int_eq(p->R.state, HS_S_DONE);
	pair_free(p);
}
END_TEST

START_TEST(test_handshake_tofu)
{
	struct hs_pair	*p = pair_new();

	/* No pin: any responder ID is accepted and reported. */
	ck_assert_int_eq(run_handshake(p, NULL, 0, 0), 0);
	ck_assert_str_eq(p->I.peer_id, p->b.id);
	pair_free(p);
}
END_TEST

START_TEST(test_handshake_tamper)
{
	static const size_t	 lens[] = { 0, HS_M1_LEN, HS_M2_LEN, HS_M3_LEN };
	struct hs_pair		*p = pair_new();
	int			 msg;
	size_t			 b;

	for (msg = 1; msg <= 3; msg++)
		for (b = 0; b < lens[msg]; b++)
			ck_assert_msg(run_handshake(p, p->b.id, msg, b) == -1,
			    "flipped byte %zu of M%d was not detected", b, msg);
	pair_free(p);
}
END_TEST

START_TEST(test_handshake_wrong_id)
{
	struct hs_pair	*p = pair_new();

	/* Expecting the initiator's own ID: the responder is somebody else. */
	ck_assert_int_eq(run_handshake(p, p->a.id, 0, 0), -1);
	ck_assert_int_eq(p->I.state, HS_S_FAILED);
	ck_assert_ptr_nonnull(strstr(p->I.error, "expected ID"));
	/* An ID in upper case is the same ID. */
	{
		char	 up[ID_BUFSZ];
		size_t	 i;

		for (i = 0; i < ID_STRLEN; i++)
			up[i] = (p->b.id[i] >= 'a' && p->b.id[i] <= 'z') ?
			    p->b.id[i] - 'a' + 'A' : p->b.id[i];
		up[ID_STRLEN] = '\0';
		ck_assert_int_eq(run_handshake(p, up, 0, 0), 0);
	}
	pair_free(p);
}
END_TEST

START_TEST(test_handshake_zero_point)
{
	struct identity		 r;
	struct handshake	 R;
	uint8_t			 zero[32] = { 0 }, one[32] = { 1 };

	ck_assert_int_eq(identity_generate(&r), 0);
	ck_assert_int_eq(hs_init(&R, HS_RESPONDER,
	    (const uint8_t *)HS_CTX_CONTROL, strlen(HS_CTX_CONTROL), r.pk,
	    NULL), 0);
	ck_assert_int_eq(hs_read_m1(&R, zero, 32), -1);
	ck_assert_int_eq(R.state, HS_S_FAILED);
	ck_assert_ptr_nonnull(strstr(R.error, "all zero"));
	/* u = 1 is another low-order point. */
	ck_assert_int_eq(hs_init(&R, HS_RESPONDER,
	    (const uint8_t *)HS_CTX_CONTROL, strlen(HS_CTX_CONTROL), r.pk,
	    NULL), 0);
	ck_assert_int_eq(hs_read_m1(&R, one, 32), -1);
	identity_clear(&r);
}
END_TEST

START_TEST(test_handshake_bad_lengths_and_order)
{
	struct identity		 r;
	struct handshake	 R, I;
	uint8_t			 body[200] = { 9 }, out[200];

	ck_assert_int_eq(identity_generate(&r), 0);
	ck_assert_int_eq(hs_init(&R, HS_RESPONDER,
	    (const uint8_t *)HS_CTX_CONTROL, 15, r.pk, NULL), 0);
	ck_assert_int_eq(hs_read_m1(&R, body, 31), -1);
	ck_assert_int_eq(hs_init(&R, HS_RESPONDER,
	    (const uint8_t *)HS_CTX_CONTROL, 15, r.pk, NULL), 0);
	ck_assert_int_eq(hs_read_m1(&R, body, 33), -1);
	/* A responder does not write M1; an initiator does not read M3. */
	ck_assert_int_eq(hs_init(&R, HS_RESPONDER,
	    (const uint8_t *)HS_CTX_CONTROL, 15, r.pk, NULL), 0);
	ck_assert_int_eq(hs_write_m1(&R, out, sizeof(out)), -1);
	ck_assert_int_eq(hs_init(&I, HS_INITIATOR,
	    (const uint8_t *)HS_CTX_CONTROL, 15, r.pk, NULL), 0);
	ck_assert_int_eq(hs_read_m3(&I, body, HS_M3_LEN), -1);
	/* M2 with a bad length. */
	ck_assert_int_eq(hs_init(&I, HS_INITIATOR,
	    (const uint8_t *)HS_CTX_CONTROL, 15, r.pk, NULL), 0);
	ck_assert_int_eq(hs_write_m1(&I, out, sizeof(out)), HS_FRAME_M1);
	ck_assert_int_eq(hs_read_m2(&I, body, HS_M2_LEN - 1), -1);
	/* A signature by the wrong key is refused before it goes out. */
	{
		struct identity	 other;
		uint8_t		 msg[HS_SIGMSG_LEN], sig[64];

		ck_assert_int_eq(identity_generate(&other), 0);
		ck_assert_int_eq(hs_init(&R, HS_RESPONDER,
		    (const uint8_t *)HS_CTX_CONTROL, 15, r.pk, NULL), 0);
		ck_assert_int_eq(hs_read_m1(&R, out + 2, HS_M1_LEN), 0);
		hs_sigmsg(&R, msg);
		ck_assert_int_eq(identity_sign(&other, msg, sizeof(msg), sig), 0);
		ck_assert_int_eq(hs_set_sig(&R, sig), -1);
		identity_clear(&other);
	}
	identity_clear(&r);
}
END_TEST

START_TEST(test_handshake_misuse_after_done)
{
	static const uint8_t	 zero[HS_KEY_LEN];
	struct hs_pair		*p = pair_new();
	uint8_t			 out[HS_FRAME_M2];

	/*
	 * A finished handshake called again fails, and like every failure
	 * leaves no secret behind: the traffic keys go too (found by
	 * tests/fuzz/fuzz_handshake).
	 */
	ck_assert_int_eq(run_handshake(p, p->b.id, 0, 0), 0);
	ck_assert_int_eq(hs_write_m3(&p->I, out, sizeof(out)), -1);
	ck_assert_int_eq(p->I.state, HS_S_FAILED);
	ck_assert_mem_eq(p->I.key_send, zero, HS_KEY_LEN);
	ck_assert_mem_eq(p->I.key_recv, zero, HS_KEY_LEN);
	ck_assert_str_eq(p->I.peer_id, p->b.id);
	ck_assert_int_eq(hs_read_m3(&p->R, out + 2, HS_M3_LEN), -1);
	ck_assert_int_eq(p->R.state, HS_S_FAILED);
	ck_assert_mem_eq(p->R.key_send, zero, HS_KEY_LEN);
	ck_assert_mem_eq(p->R.key_recv, zero, HS_KEY_LEN);
	pair_free(p);
}
END_TEST

/* ---- records ---- */

static void
rec_pair(struct rec_layer *a, struct rec_layer *b)
{
	uint8_t	 k1[32], k2[32];

	ck_assert_int_eq(crypto_random(k1, 32), 0);
	ck_assert_int_eq(crypto_random(k2, 32), 0);
	ck_assert_int_eq(rec_init(a, k1, k2), 0);
	ck_assert_int_eq(rec_init(b, k2, k1), 0);
}

/*
 * a seals a record of type holding text (none if NULL) into rec[64], its
 * length in *n; b opens it: what rec_open() says.
 */
static int
seal_open(struct rec_layer *a, struct rec_layer *b, uint8_t type,
    const char *text, uint8_t *rec, ssize_t *n)
{
	uint8_t	 pt[64];
	size_t	 plen, len = text != NULL ? strlen(text) : 0;

	*n = rec_seal(a, type, (const uint8_t *)text, len, rec, 64);
	ck_assert_int_gt(*n, 0);
	return rec_open(b, rec, *n, pt, sizeof(pt), &plen);
}

START_TEST(test_record_roundtrip)
{
	struct rec_layer	 a, b;
	static uint8_t		 buf[REC_MAX_FRAME], pt[REC_MAX_PAYLOAD];
	static uint8_t		 msg[REC_MAX_PAYLOAD];
	/* around 63: the type byte and 63 payload bytes open as one block */
	size_t			 lens[] = { 0, 1, 62, 63, 64, 65, 100, 4096,
	    REC_MAX_PAYLOAD };
	size_t			 i, plen;
	ssize_t			 n;

	rec_pair(&a, &b);
	ck_assert_int_eq(crypto_random(msg, sizeof(msg)), 0);
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		n = rec_seal(&a, REC_TYPE_DATA, msg, lens[i], buf, sizeof(buf));
		ck_assert_int_eq(n, 2 + 1 + lens[i] + 16);
		ck_assert_int_eq(rec_frame_len(buf, 2), n);
		ck_assert_int_eq(rec_open(&b, buf, n, pt, sizeof(pt), &plen),
		    REC_DATA);
		ck_assert_uint_eq(plen, lens[i]);
		ck_assert_int_eq(memcmp(pt, msg, plen), 0);
	}
	ck_assert_uint_eq(a.send.counter, 9);
	ck_assert_uint_eq(b.recv.counter, 9);
	/* sealed in place: the payload already in its slot of the frame */
	memcpy(buf + 3, msg, 4096);
	n = rec_seal(&a, REC_TYPE_DATA, buf + 3, 4096, buf, sizeof(buf));
	ck_assert_int_eq(n, 2 + 1 + 4096 + 16);
	ck_assert_int_eq(rec_open(&b, buf, n, pt, sizeof(pt), &plen), REC_DATA);
	ck_assert_uint_eq(plen, 4096);
	ck_assert_int_eq(memcmp(pt, msg, plen), 0);
	/* The other direction has its own counter, from 0. */
	ck_assert_uint_eq(b.send.counter, 0);
	n = rec_seal(&b, REC_TYPE_DATA, msg, 10, buf, sizeof(buf));
	ck_assert_int_eq(rec_open(&a, buf, n, pt, sizeof(pt), &plen), REC_DATA);
	rec_clear(&a);
	rec_clear(&b);
}
END_TEST

START_TEST(test_record_limit)
{
	struct rec_layer	 a, b;
	static uint8_t		 buf[REC_MAX_FRAME + 16], pt[REC_MAX_FRAME];
	static uint8_t		 msg[REC_MAX_PAYLOAD + 1];
	size_t			 plen;

	rec_pair(&a, &b);
	/* One byte over the 16 KiB plaintext limit is refused... */
	ck_assert_int_eq(rec_seal(&a, REC_TYPE_DATA, msg, REC_MAX_PAYLOAD + 1,
	    buf, sizeof(buf)), REC_ERR);
	rec_clear(&a);
	rec_clear(&b);
	rec_pair(&a, &b);
	/* ...and a frame announcing more than 16400 bytes is refused. */
	put_be16(buf, REC_MAX_CIPHERTEXT + 1);
	ck_assert_int_eq(rec_frame_len(buf, 2), REC_ERR);
	ck_assert_int_eq(rec_open(&b, buf, 2 + REC_MAX_CIPHERTEXT + 1, pt,
	    sizeof(pt), &plen), REC_ERR);
	/* Shorter than type byte + tag. */
	put_be16(buf, 16);
	ck_assert_int_eq(rec_frame_len(buf, 2), REC_ERR);
	ck_assert_int_eq(rec_frame_len(buf, 1), 0);
	rec_clear(&a);
	rec_clear(&b);
}
END_TEST

/* OpenSSL's own verdict, without the protocol's key rule. */
static int
openssl_verify(const uint8_t pk[32], const uint8_t *msg, size_t len,
    const uint8_t sig[64])
{
	EVP_PKEY	*k;
	EVP_MD_CTX	*md;
	int		 ok;

	k = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pk, 32);
	ck_assert_ptr_nonnull(k);
	ck_assert_ptr_nonnull(md = EVP_MD_CTX_new());
	ok = EVP_DigestVerifyInit(md, NULL, NULL, NULL, k) == 1 &&
	    EVP_DigestVerify(md, sig, 64, msg, len) == 1;
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(k);
	return ok;
}

static void
hex32(const char *h, uint8_t out[32])
{
	int	 i;

	for (i = 0; i < 32; i++)
		ck_assert_int_eq(sscanf(h + 2 * i, "%2hhx", &out[i]), 1);
}

/*
 * relay-protocol(7), Signatures: a public key of small order or with a
 * non-canonical y is refused whatever the signature; S must be below L;
 * a valid signature verifies.
 */
START_TEST(test_ed25519_key_rule)
{
	static const char *refused[] = {
	    /* order 1, 2, 4, 8, each with and without the sign bit */
	    "0100000000000000000000000000000000000000000000000000000000000000",
	    "0100000000000000000000000000000000000000000000000000000000000080",
	    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
	    "0000000000000000000000000000000000000000000000000000000000000000",
	    "0000000000000000000000000000000000000000000000000000000000000080",
	    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
	    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
	    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
	    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
	    /* y >= p: p, p + 1 (= 1), 2^255 - 1 */
	    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	    "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	    "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
	};
	/* L = 2^252 + 27742317777372353535851937790883648493, little-endian */
	static const uint8_t L[32] = { 0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63,
	    0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14, 0, 0,
	    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10 };
	static const uint8_t msg[] = "any message at all";
	struct identity	 a;
	uint8_t		 pk[32], sig[64], big[64];
	size_t		 i;
	int		 carry, v;

	for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		hex32(refused[i], pk);
		ck_assert_msg(!ed25519_pk_usable(pk), "key %zu usable", i);
		/* R = the neutral point, S = 0: a signature by anyone */
		memset(sig, 0, sizeof(sig));
		sig[0] = 1;
		ck_assert_int_eq(ed25519_verify(pk, msg, sizeof(msg), sig), -1);
	}
	/* OpenSSL alone takes that forgery for the neutral point and for
	 * its non-canonical encoding p + 1: the rule is the protocol's */
	hex32(refused[0], pk);
	ck_assert_int_eq(openssl_verify(pk, msg, sizeof(msg), sig), 1);
	hex32(refused[11], pk);
	ck_assert_int_eq(openssl_verify(pk, msg, sizeof(msg), sig), 1);

	ck_assert_int_eq(identity_generate(&a), 0);
	ck_assert(ed25519_pk_usable(a.pk));
	ck_assert_int_eq(identity_sign(&a, msg, sizeof(msg), sig), 0);
	ck_assert_int_eq(ed25519_verify(a.pk, msg, sizeof(msg), sig), 0);
	/* S + L: the same point, a non-canonical scalar: refused */
	memcpy(big, sig, sizeof(big));
	for (i = 0, carry = 0; i < 32; i++) {
		v = big[32 + i] + L[i] + carry;
		big[32 + i] = v & 0xff;
		carry = v >> 8;
	}
	ck_assert_int_eq(ed25519_verify(a.pk, msg, sizeof(msg), big), -1);
	/* a tampered R */
	memcpy(big, sig, sizeof(big));
	big[0] ^= 1;
	ck_assert_int_eq(ed25519_verify(a.pk, msg, sizeof(msg), big), -1);
	identity_clear(&a);
}
END_TEST

/* An initiator with the neutral point as key and the forgery in M3. */
START_TEST(test_handshake_small_order_key)
{
	struct identity		 r;
	struct handshake	 I, R;
	uint8_t			 m1[HS_FRAME_M1], m2[HS_FRAME_M2];
	uint8_t			 m3[HS_FRAME_M3], pk[32] = { 1 };
	uint8_t			 msg[HS_SIGMSG_LEN], sig[64] = { 1 };
	const uint8_t		*ctx = (const uint8_t *)HS_CTX_CONTROL;
	size_t			 ctxlen = strlen(HS_CTX_CONTROL);

	ck_assert_int_eq(identity_generate(&r), 0);
	ck_assert_int_eq(hs_init(&I, HS_INITIATOR, ctx, ctxlen, pk, r.id), 0);
	ck_assert_int_eq(hs_init(&R, HS_RESPONDER, ctx, ctxlen, r.pk, NULL),
	    0);
	ck_assert_int_ge(hs_write_m1(&I, m1, sizeof(m1)), 0);
	ck_assert_int_eq(hs_read_m1(&R, m1 + 2, HS_M1_LEN), 0);
	ck_assert_int_eq(hs_sign(&R, &r), 0);
	ck_assert_int_ge(hs_write_m2(&R, m2, sizeof(m2)), 0);
	ck_assert_int_eq(hs_read_m2(&I, m2 + 2, HS_M2_LEN), 0);
	/* the message the initiator signs: it "verifies" for OpenSSL */
	memcpy(msg, HS_SIG_LABEL_I, HS_SIG_LABEL_LEN);
	memcpy(msg + HS_SIG_LABEL_LEN, I.h, 32);
	memcpy(msg + HS_SIG_LABEL_LEN + 32, pk, 32);
	ck_assert_int_eq(openssl_verify(pk, msg, sizeof(msg), sig), 1);
	/* hs_set_sig() would refuse it: put it in place by hand */
	memcpy(I.sig, sig, sizeof(sig));
	I.have_sig = 1;
	I.state = HS_S_WRITE;
	ck_assert_int_ge(hs_write_m3(&I, m3, sizeof(m3)), 0);
	ck_assert_int_eq(hs_read_m3(&R, m3 + 2, HS_M3_LEN), -1);
	ck_assert_msg(strstr(R.error, "does not verify") != NULL, "%s", R.error);
	identity_clear(&r);
}
END_TEST

/* relay-protocol(7): the last counter a direction uses is 2^64 - 2. */
START_TEST(test_record_last_counter)
{
	struct rec_layer	 a, b;
	uint8_t			 buf[64], pt[64];
	size_t			 plen;
	ssize_t			 n;

	rec_pair(&a, &b);
	a.send.counter = b.recv.counter = UINT64_MAX - 1;
	ck_assert_int_eq(seal_open(&a, &b, REC_TYPE_DATA, "x", buf, &n),
	    REC_DATA);
	ck_assert_uint_eq(a.send.counter, UINT64_MAX);
	/* 2^64 - 1 is never used: sealing fails, and so does opening */
	ck_assert_int_eq(rec_seal(&a, REC_TYPE_CLOSE, NULL, 0, buf,
	    sizeof(buf)), REC_ERR);
	ck_assert_int_eq(rec_open(&b, buf, n, pt, sizeof(pt), &plen),
	    REC_ERR);
	ck_assert_ptr_nonnull(strstr(b.error, "exhausted"));
	rec_clear(&a);
	rec_clear(&b);
}
END_TEST

START_TEST(test_record_reorder_replay_tamper)
{
	struct rec_layer	 a, b;
	uint8_t			 r0[64], r1[64], pt[64];
	ssize_t			 n0, n1;
	size_t			 plen, i;

	rec_pair(&a, &b);
	n0 = rec_seal(&a, REC_TYPE_DATA, (const uint8_t *)"zero", 4, r0, 64);
	n1 = rec_seal(&a, REC_TYPE_DATA, (const uint8_t *)"one!", 4, r1, 64);
	/* reorder */
	ck_assert_int_eq(rec_open(&b, r1, n1, pt, 64, &plen), REC_ERR);
	ck_assert_int_eq(rec_open(&b, r0, n0, pt, 64, &plen), REC_ERR);
	rec_clear(&b);

	/* replay */
	{
		uint8_t	 k[32];

		rec_clear(&a);
		ck_assert_int_eq(crypto_random(k, 32), 0);
		ck_assert_int_eq(rec_init(&a, k, k), 0);
		ck_assert_int_eq(rec_init(&b, k, k), 0);
		n0 = rec_seal(&a, REC_TYPE_DATA, (const uint8_t *)"zero", 4,
		    r0, 64);
		ck_assert_int_eq(rec_open(&b, r0, n0, pt, 64, &plen), REC_DATA);
		ck_assert_int_eq(rec_open(&b, r0, n0, pt, 64, &plen), REC_ERR);
		rec_clear(&b);

		/* every flipped bit of a record fails it */
		for (i = 0; i < (size_t)n0; i++) {
			uint8_t	 t[64];

			ck_assert_int_eq(rec_init(&b, k, k), 0);
			memcpy(t, r0, n0);
			t[i] ^= 0x80;
			ck_assert_msg(rec_open(&b, t, n0, pt, 64, &plen) ==
			    REC_ERR, "flipped byte %zu accepted", i);
			ck_assert_ptr_nonnull(b.error);
			rec_clear(&b);
		}
	}
	rec_clear(&a);
}
END_TEST

START_TEST(test_record_close_and_truncation)
{
	struct rec_layer	 a, b;
	uint8_t			 r[64];
	ssize_t			 n;

	rec_pair(&a, &b);
	/* End of stream before close is a truncation... */
	ck_assert_int_eq(seal_open(&a, &b, REC_TYPE_DATA, "data", r, &n),
	    REC_DATA);
	ck_assert_int_eq(rec_eof(&b), REC_ERR);
	ck_assert_ptr_nonnull(strstr(b.error, "truncated"));
	rec_clear(&a);
	rec_clear(&b);

	/* ...after close it is clean; nothing may follow a close. */
	rec_pair(&a, &b);
	ck_assert_int_eq(seal_open(&a, &b, REC_TYPE_CLOSE, NULL, r, &n),
	    REC_CLOSE);
	ck_assert_int_eq(n, 2 + 1 + 16);
	ck_assert_int_eq(rec_eof(&b), 0);
	ck_assert_int_eq(rec_seal(&a, REC_TYPE_DATA, (const uint8_t *)"x", 1,
	    r, 64), REC_ERR);
	/* a close record may not carry a payload, and types are 0 or 1 */
	ck_assert_int_eq(rec_seal(&b, REC_TYPE_CLOSE, (const uint8_t *)"x", 1,
	    r, 64), REC_ERR);
	rec_clear(&a);
	rec_clear(&b);
	rec_pair(&a, &b);
	ck_assert_int_eq(rec_seal(&a, 2, NULL, 0, r, 64), REC_ERR);
	rec_clear(&a);
	rec_clear(&b);
}
END_TEST

/*
 * Records a conforming sender never makes (close with payload, unknown
 * type, data after close), sealed by hand with the right key and counter:
 * the receiver must refuse each.
 */
static size_t
raw_seal(const uint8_t key[32], uint64_t ctr, uint8_t type,
    const uint8_t *p, size_t len, uint8_t *out)
{
	EVP_CIPHER_CTX	*c = EVP_CIPHER_CTX_new();
	uint8_t		 nonce[12] = { 0 };
	int		 n;

	put_be64(nonce + 4, ctr);
	put_be16(out, (uint16_t)(1 + len + 16));
	ck_assert(EVP_EncryptInit_ex(c, EVP_chacha20_poly1305(), NULL, key,
	    nonce) == 1);
	ck_assert(EVP_EncryptUpdate(c, NULL, &n, out, 2) == 1);
	ck_assert(EVP_EncryptUpdate(c, out + 2, &n, &type, 1) == 1);
	if (len > 0)
		ck_assert(EVP_EncryptUpdate(c, out + 3, &n, p, (int)len) == 1);
	ck_assert(EVP_EncryptFinal_ex(c, out + 3 + len, &n) == 1);
	ck_assert(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, 16,
	    out + 3 + len) == 1);
	EVP_CIPHER_CTX_free(c);
	return 2 + 1 + len + 16;
}

START_TEST(test_record_bad_types)
{
	struct rec_layer	 b;
	uint8_t			 k[32], r[64], pt[64];
	size_t			 n, plen;

	ck_assert_int_eq(crypto_random(k, 32), 0);

	ck_assert_int_eq(rec_init(&b, k, k), 0);
	n = raw_seal(k, 0, REC_TYPE_DATA, (const uint8_t *)"ok", 2, r);
	ck_assert_int_eq(rec_open(&b, r, n, pt, 64, &plen), REC_DATA);
	rec_clear(&b);

	ck_assert_int_eq(rec_init(&b, k, k), 0);
	n = raw_seal(k, 0, REC_TYPE_CLOSE, (const uint8_t *)"x", 1, r);
	ck_assert_int_eq(rec_open(&b, r, n, pt, 64, &plen), REC_ERR);
	rec_clear(&b);

	ck_assert_int_eq(rec_init(&b, k, k), 0);
	n = raw_seal(k, 0, 7, NULL, 0, r);
	ck_assert_int_eq(rec_open(&b, r, n, pt, 64, &plen), REC_ERR);
	rec_clear(&b);

	ck_assert_int_eq(rec_init(&b, k, k), 0);
	n = raw_seal(k, 0, REC_TYPE_CLOSE, NULL, 0, r);
	ck_assert_int_eq(rec_open(&b, r, n, pt, 64, &plen), REC_CLOSE);
	n = raw_seal(k, 1, REC_TYPE_DATA, (const uint8_t *)"late", 4, r);
	ck_assert_int_eq(rec_open(&b, r, n, pt, 64, &plen), REC_ERR);
	rec_clear(&b);
}
END_TEST

/* Path records (type 2) exist only where a layer allows them. */
START_TEST(test_record_path_type)
{
	struct rec_layer	 a, b;
	uint8_t			 r[64], pt[64], chosen = DIRECT_CHOSEN;
	size_t			 plen;
	ssize_t			 n;

	rec_pair(&a, &b);
	ck_assert_int_eq(rec_seal(&a, REC_TYPE_PATH, &chosen, 1, r, sizeof(r)),
	    REC_ERR);
	ck_assert_str_eq(a.error, "unknown record type");
	rec_clear(&a);
	rec_clear(&b);

	rec_pair(&a, &b);
	a.path_ok = b.path_ok = 1;
	n = rec_seal(&a, REC_TYPE_PATH, &chosen, 1, r, sizeof(r));
	ck_assert_int_eq(n, 2 + 1 + 1 + 16);
	ck_assert_int_eq(rec_open(&b, r, n, pt, sizeof(pt), &plen), REC_PATH);
	ck_assert_uint_eq(plen, 1);
	ck_assert_int_eq(pt[0], DIRECT_CHOSEN);
	/* the same record to a layer that does not allow it: fatal */
	b.path_ok = 0;
	a.path_ok = 1;
	n = rec_seal(&a, REC_TYPE_PATH, &chosen, 1, r, sizeof(r));
	ck_assert_int_eq(rec_open(&b, r, n, pt, sizeof(pt), &plen), REC_ERR);
	ck_assert_str_eq(b.error, "unknown record type");
	ck_assert_uint_eq(plen, 0);
	rec_clear(&a);
	rec_clear(&b);
}
END_TEST

/* ---- identities and key files ---- */

static char tmpdir[256];

/* A fresh directory, and in path the file name in it. */
static void
mk_tmpdir(char *path, size_t len, const char *name)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/relay-test-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	snprintf(path, len, "%s/%s", tmpdir, name);
}

static void
rm_tmpdir(void)
{
	char	 cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	ck_assert_int_eq(system(cmd), 0);
}

/* A key file of a then b, mode 0600, in place of any file at path. */
static void
write_file(const char *path, const char *a, size_t alen, const char *b,
    size_t blen)
{
	int	 fd;

	(void)unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, a, alen), (ssize_t)alen);
	if (blen > 0)
		ck_assert_int_eq(write(fd, b, blen), (ssize_t)blen);
	close(fd);
}

/* The key at path loads, and is the identity id. */
static void
expect_load(const char *path, const char *id)
{
	struct identity	 b;
	char		 err[512];

	ck_assert_int_eq(identity_load(&b, path, err, sizeof(err)), 0);
	ck_assert_str_eq(b.id, id);
	identity_clear(&b);
}

/* The key at path is refused, saying why when why is given. */
static void
expect_refused(const char *path, const char *why)
{
	struct identity	 b;
	char		 err[512];

	ck_assert_int_eq(identity_load(&b, path, err, sizeof(err)), -1);
	if (why != NULL)
		ck_assert_ptr_nonnull(strstr(err, why));
}

/* `openssl genpkey -algorithm ed25519` of the seed 00..1f: identity I. */
static const char seed_pem[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MC4CAQAwBQYDK2VwBCIEIAABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4f\n"
    "-----END PRIVATE KEY-----\n";

START_TEST(test_identity_files)
{
	static const char garbage[] =
	    "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
	struct identity	 a, b;
	struct stat	 st;
	char		 path[300], link[300], err[512];

	mk_tmpdir(path, sizeof(path), "key");
	ck_assert_int_eq(identity_generate(&a), 0);
	ck_assert_int_eq(identity_save(&a, path, err, sizeof(err)), 0);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0600);
	ck_assert_int_eq(identity_load(&b, path, err, sizeof(err)), 0);
	ck_assert_str_eq(a.id, b.id);
	ck_assert_mem_eq(a.pk, b.pk, 32);
	identity_clear(&b);

	/* never overwrite */
	ck_assert_int_eq(identity_save(&a, path, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "already exists"));

	/* too open */
	ck_assert_int_eq(chmod(path, 0640), 0);
	expect_refused(path, "too open");
	ck_assert_int_eq(chmod(path, 0604), 0);
	expect_refused(path, NULL);
	ck_assert_int_eq(chmod(path, 0600), 0);

	/* a symlink and a directory are not key files */
	snprintf(link, sizeof(link), "%s/link", tmpdir);
	ck_assert_int_eq(symlink(path, link), 0);
	expect_refused(link, NULL);
	expect_refused(tmpdir, NULL);

	/* garbage */
	snprintf(path, sizeof(path), "%s/garbage", tmpdir);
	write_file(path, garbage, sizeof(garbage) - 1, NULL, 0);
	expect_refused(path, "not a PEM");

	identity_clear(&a);
	rm_tmpdir();
}
END_TEST

/* A key written by `openssl genpkey -algorithm ed25519` loads as is. */
START_TEST(test_identity_openssl_pem)
{
	char		 path[300];

	load_vectors();
	mk_tmpdir(path, sizeof(path), "pem");
	write_file(path, seed_pem, sizeof(seed_pem) - 1, NULL, 0);
	expect_load(path, vec_get("", "identity_I_id"));
	rm_tmpdir();
}
END_TEST

/* What bio holds, then b, as the key file at path. */
static void
write_key(const char *path, BIO *bio, const char *b, size_t blen)
{
	char		*mem;
	long		 len;

	len = BIO_get_mem_data(bio, &mem);
	ck_assert_int_gt(len, 0);
	write_file(path, mem, (size_t)len, b, blen);
}

/*
 * relay-protocol(7), Key files: the first private-key PEM block counts,
 * text and other blocks around it are ignored, CRLF line ends are fine,
 * an encrypted key is refused (without asking for a passphrase).
 */
START_TEST(test_identity_pem_variants)
{
	static const char crlf[] =
	    "-----BEGIN PRIVATE KEY-----\r\n"
	    "MC4CAQAwBQYDK2VwBCIEIAABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4f\r\n"
	    "-----END PRIVATE KEY-----\r\n";
	static const char other[] =
	    "a comment before the key\n"
	    "-----BEGIN PUBLIC KEY-----\n"
	    "MCowBQYDK2VwAyEAA6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg=\n"
	    "-----END PUBLIC KEY-----\n";
	struct identity	 a;
	BIO		*bio;
	char		 path[300], *mem;

	load_vectors();
	mk_tmpdir(path, sizeof(path), "pem");

	write_file(path, crlf, sizeof(crlf) - 1, NULL, 0);
	expect_load(path, vec_get("", "identity_I_id"));
	write_file(path, other, sizeof(other) - 1, seed_pem,
	    sizeof(seed_pem) - 1);
	expect_load(path, vec_get("", "identity_I_id"));

	/* two keys: the first one */
	ck_assert_int_eq(identity_generate(&a), 0);
	ck_assert_ptr_nonnull(bio = BIO_new(BIO_s_mem()));
	ck_assert_int_eq(PEM_write_bio_PrivateKey(bio, a.pkey, NULL, NULL, 0,
	    NULL, NULL), 1);
	write_key(path, bio, seed_pem, sizeof(seed_pem) - 1);
	expect_load(path, a.id);
	BIO_free(bio);

	/* encrypted: refused, saying so, with no prompt (stdin is unused) */
	ck_assert_ptr_nonnull(bio = BIO_new(BIO_s_mem()));
	ck_assert_int_eq(PEM_write_bio_PKCS8PrivateKey(bio, a.pkey,
	    EVP_aes_256_cbc(), NULL, 0, NULL, (void *)"secret"), 1);
	(void)BIO_get_mem_data(bio, &mem);
	ck_assert_ptr_nonnull(strstr(mem, "ENCRYPTED PRIVATE KEY"));
	write_key(path, bio, NULL, 0);
	expect_refused(path, "encrypted");
	BIO_free(bio);

	/* a public key alone is no key file */
	write_file(path, other, sizeof(other) - 1, NULL, 0);
	expect_refused(path, "not a PEM");
	identity_clear(&a);
	rm_tmpdir();
}
END_TEST

START_TEST(test_id_normalize)
{
	char	 out[ID_BUFSZ];

	ck_assert_int_eq(id_normalize("LGZLOCEAB4O4LRJNQHVBGYQKMDAV5NIO",
	    out), 0);
	ck_assert_str_eq(out, "lgzloceab4o4lrjnqhvbgyqkmdav5nio");
	ck_assert_int_eq(id_normalize("lgzloceab4o4lrjnqhvbgyqkmdav5ni",
	    out), -1);
	ck_assert_int_eq(id_normalize("lgzloceab4o4lrjnqhvbgyqkmdav5nioo",
	    out), -1);
	ck_assert_int_eq(id_normalize("lgzloceab4o4lrjnqhvbgyqkmdav5ni1",
	    out), -1);
	ck_assert_int_eq(id_normalize("lgzloceab4o4lrjnqhvbgyqkmdav5ni=",
	    out), -1);
	ck_assert_int_eq(id_normalize("", out), -1);
	ck_assert_int_eq(id_normalize(NULL, out), -1);
}
END_TEST

/* The token index: SHA-256(key || token), different for another key. */
START_TEST(test_keyed_hash_and_equal)
{
	uint8_t		 key[32], key2[32], tok[TOKEN_LEN], h1[32], h2[32];
	uint8_t		 cat[32 + TOKEN_LEN], ref[32];
	unsigned int	 len = 0;

	memset(key, 1, sizeof(key));
	memset(key2, 2, sizeof(key2));
	memset(tok, 7, sizeof(tok));
	ck_assert_int_eq(crypto_keyed_hash(h1, key, tok, sizeof(tok)), 0);
	memcpy(cat, key, 32);
	memcpy(cat + 32, tok, sizeof(tok));
	ck_assert_int_eq(EVP_Digest(cat, sizeof(cat), ref, &len, EVP_sha256(),
	    NULL), 1);
	ck_assert_mem_eq(h1, ref, 32);
	ck_assert_int_eq(crypto_keyed_hash(h2, key2, tok, sizeof(tok)), 0);
	ck_assert(memcmp(h1, h2, 32) != 0);
	ck_assert_int_eq(crypto_equal(h1, ref, 32), 1);
	ck_assert_int_eq(crypto_equal(h1, h2, 32), 0);
	ref[31] ^= 1;
	ck_assert_int_eq(crypto_equal(h1, ref, 32), 0);
}
END_TEST

UNIT_MAIN("crypto",
	{ "vectors", { { test_vector_identities },
	    { test_keyed_hash_and_equal },
	    { test_vector_transcript, 2 } } },
	{ "handshake", { { test_handshake_full },
	    { test_handshake_tofu }, { test_handshake_tamper },
	    { test_handshake_wrong_id }, { test_handshake_zero_point },
	    { test_ed25519_key_rule },
	    { test_handshake_small_order_key },
	    { test_handshake_bad_lengths_and_order },
	    { test_handshake_misuse_after_done } } },
	{ "records", { { test_record_roundtrip }, { test_record_limit },
	    { test_record_last_counter },
	    { test_record_reorder_replay_tamper },
	    { test_record_close_and_truncation },
	    { test_record_bad_types } } },
	{ "identity", { { test_record_path_type },
	    { test_identity_files }, { test_identity_openssl_pem },
	    { test_identity_pem_variants }, { test_id_normalize } } });
