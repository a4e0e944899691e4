/* SPDX-License-Identifier: ISC */
/*
 * handshake.c: the authenticated key exchange of DESIGN 4.2 as a state
 * machine without I/O, used for control connections (client-relay) and
 * end-to-end sessions (client-client).
 *
 * The long-term key is never needed here: the caller signs hs_sigmsg().
 * On any failure the state becomes HS_S_FAILED, hs->error says why, and
 * every secret is wiped; the caller closes the connection and sends
 * nothing more.
 */
#include "config.h"

#include <string.h>

#include "buffer.h"
#include "crypto.h"
#include "crypto_int.h"

static int
hs_fail(struct handshake *hs, const char *why)
{
	hs->error = why;
	/* failed first: hs_clear() keeps the traffic keys of a done one */
	hs->state = HS_S_FAILED;
	hs_clear(hs);
	return -1;
}

/* "relay/1 e2e" || session_id || u8 len || alpn; returns its length. */
int
hs_ctx_e2e(uint8_t *out, size_t outlen,
    const uint8_t session_id[SESSION_ID_LEN], const char *alpn)
{
	size_t	 alen = strlen(alpn), lab = sizeof(HS_CTX_E2E) - 1;

	if (alen == 0 || alen > ALPN_MAX_LEN ||
	    outlen < lab + SESSION_ID_LEN + 1 + alen)
		return -1;
	memcpy(out, HS_CTX_E2E, lab);
	memcpy(out + lab, session_id, SESSION_ID_LEN);
	out[lab + SESSION_ID_LEN] = (uint8_t)alen;
	memcpy(out + lab + SESSION_ID_LEN + 1, alpn, alen);
	return (int)(lab + SESSION_ID_LEN + 1 + alen);
}

int
hs_init(struct handshake *hs, enum hs_role role, const uint8_t *ctx,
    size_t ctxlen, const uint8_t local_pk[ED25519_PK_LEN],
    const char *expect_id)
{
	memset(hs, 0, sizeof(*hs));
	hs->role = role;
	hs->state = HS_S_START;
	memcpy(hs->local_pk, local_pk, ED25519_PK_LEN);
	if (expect_id != NULL && expect_id[0] != '\0' &&
	    id_normalize(expect_id, hs->expect_id) == -1)
		return hs_fail(hs, "malformed expected ID");
	if (sha256_parts(hs->h, ctx, ctxlen, NULL, 0, NULL, 0) == -1)
		return hs_fail(hs, "hash failure");
	return 0;
}

/* For tests and vectors only: fix the ephemeral secret. */
int
hs_set_ephemeral(struct handshake *hs, const uint8_t sk[X25519_LEN])
{
	if (hs->state != HS_S_START)
		return -1;
	memcpy(hs->e_sk, sk, X25519_LEN);
	if (x25519_keypair(hs->e_sk, hs->e_pk) == -1)
		return hs_fail(hs, "bad ephemeral key");
	hs->e_set = 1;
	return 0;
}

static int
hs_make_ephemeral(struct handshake *hs)
{
	if (hs->e_set)
		return 0;
	if (crypto_random(hs->e_sk, X25519_LEN) == -1 ||
	    x25519_keypair(hs->e_sk, hs->e_pk) == -1)
		return -1;
	hs->e_set = 1;
	return 0;
}

/* h1, ss and the two handshake keys, from both ephemerals. */
static int
hs_derive_hs_keys(struct handshake *hs, const uint8_t eI[X25519_LEN],
    const uint8_t eR[X25519_LEN])
{
	uint8_t	 hk[32];
	int	 r = -1;

	if (sha256_parts(hs->h, hs->h, HS_HASH_LEN, eI, X25519_LEN, eR,
	    X25519_LEN) == -1)
		return -1;
	if (x25519_shared(hs->ss, hs->e_sk, hs->e_pk, hs->peer_e) == -1)
		return -2;
	crypto_wipe(hs->e_sk, sizeof(hs->e_sk));
	if (hkdf_extract(hk, hs->h, hs->ss, X25519_LEN) == 0 &&
	    hkdf_expand(hs->k_r, HS_KEY_LEN, hk, HS_KDF_R_HS) == 0 &&
	    hkdf_expand(hs->k_i, HS_KEY_LEN, hk, HS_KDF_I_HS) == 0)
		r = 0;
	crypto_wipe(hk, sizeof(hk));
	return r;
}

/* After the last message: h3 is hs->h; derive the traffic keys. */
static int
hs_derive_traffic_keys(struct handshake *hs)
{
	uint8_t	 ak[32];
	uint8_t	 i2r[HS_KEY_LEN], r2i[HS_KEY_LEN];
	int	 ok;

	ok = hkdf_extract(ak, hs->h, hs->ss, X25519_LEN) == 0 &&
	    hkdf_expand(i2r, HS_KEY_LEN, ak, HS_KDF_I2R) == 0 &&
	    hkdf_expand(r2i, HS_KEY_LEN, ak, HS_KDF_R2I) == 0;
	if (ok) {
		memcpy(hs->key_send, hs->role == HS_INITIATOR ? i2r : r2i,
		    HS_KEY_LEN);
		memcpy(hs->key_recv, hs->role == HS_INITIATOR ? r2i : i2r,
		    HS_KEY_LEN);
	}
	crypto_wipe(ak, sizeof(ak));
	crypto_wipe(i2r, sizeof(i2r));
	crypto_wipe(r2i, sizeof(r2i));
	crypto_wipe(hs->ss, sizeof(hs->ss));
	crypto_wipe(hs->k_r, sizeof(hs->k_r));
	crypto_wipe(hs->k_i, sizeof(hs->k_i));
	return ok ? 0 : -1;
}

static void
frame_put(uint8_t *out, const uint8_t *body, size_t len)
{
	put_be16(out, (uint16_t)len);
	memcpy(out + FRAME_HDR_LEN, body, len);
}

/*
 * Whether this is the role and state for the step, and fits says the
 * buffer or body has its size; a step out of turn fails the handshake.
 */
static int
hs_turn(struct handshake *hs, enum hs_role role, enum hs_state state,
    int fits, const char *order, const char *size)
{
	if (hs->role != role || hs->state != state)
		return hs_fail(hs, order);
	if (!fits)
		return hs_fail(hs, size);
	return 0;
}

/* The peer's ephemeral key, from M1 or M2, and the handshake keys. */
static int
hs_take_peer_e(struct handshake *hs, const uint8_t *e)
{
	int	 r;

	memcpy(hs->peer_e, e, X25519_LEN);
	if (hs->role == HS_INITIATOR)
		r = hs_derive_hs_keys(hs, hs->e_pk, hs->peer_e);
	else
		r = hs_derive_hs_keys(hs, hs->peer_e, hs->e_pk);
	if (r != 0)
		return hs_fail(hs, r == -2 ? "X25519 result is all zero" :
		    "key derivation failed");
	return 0;
}

/* Initiator: M1 frame (34 bytes). */
int
hs_write_m1(struct handshake *hs, uint8_t *out, size_t outlen)
{
	if (hs_turn(hs, HS_INITIATOR, HS_S_START, outlen >= HS_FRAME_M1,
	    "M1 out of order", "M1 buffer too small") == -1)
		return -1;
	if (hs_make_ephemeral(hs) == -1)
		return hs_fail(hs, "cannot make an ephemeral key");
	frame_put(out, hs->e_pk, X25519_LEN);
	hs->state = HS_S_WAIT_M2;
	return HS_FRAME_M1;
}

/* Responder: takes M1's body; next, the caller signs hs_sigmsg(). */
int
hs_read_m1(struct handshake *hs, const uint8_t *body, size_t len)
{
	if (hs_turn(hs, HS_RESPONDER, HS_S_START, len == HS_M1_LEN,
	    "M1 out of order", "M1 has a bad length") == -1)
		return -1;
	if (hs_make_ephemeral(hs) == -1)
		return hs_fail(hs, "cannot make an ephemeral key");
	if (hs_take_peer_e(hs, body) == -1)
		return -1;
	hs->state = HS_S_NEED_SIG;
	return 0;
}

void
hs_build_sigmsg(enum hs_role role, const uint8_t h[HS_HASH_LEN],
    const uint8_t pk[ED25519_PK_LEN], uint8_t msg[HS_SIGMSG_LEN])
{
	memcpy(msg, role == HS_RESPONDER ? HS_SIG_LABEL_R : HS_SIG_LABEL_I,
	    HS_SIG_LABEL_LEN);
	memcpy(msg + HS_SIG_LABEL_LEN, h, HS_HASH_LEN);
	memcpy(msg + HS_SIG_LABEL_LEN + HS_HASH_LEN, pk, ED25519_PK_LEN);
}

/* The 73-byte message this side must sign, valid in HS_S_NEED_SIG. */
void
hs_sigmsg(const struct handshake *hs, uint8_t msg[HS_SIGMSG_LEN])
{
	hs_build_sigmsg(hs->role, hs->h, hs->local_pk, msg);
}

static void
hs_take_sig(struct handshake *hs, const uint8_t sig[ED25519_SIG_LEN])
{
	memcpy(hs->sig, sig, ED25519_SIG_LEN);
	hs->have_sig = 1;
	hs->state = HS_S_WRITE;
}

int
hs_set_sig(struct handshake *hs, const uint8_t sig[ED25519_SIG_LEN])
{
	uint8_t	 msg[HS_SIGMSG_LEN];

	if (hs->state != HS_S_NEED_SIG)
		return hs_fail(hs, "signature out of order");
	/*
	 * A signature from a remote signer (the relay's parent) is checked
	 * before it goes out, so a signer with the wrong key fails here
	 * with a clear reason rather than at the peer.
	 */
	hs_sigmsg(hs, msg);
	if (ed25519_verify(hs->local_pk, msg, sizeof(msg), sig) == -1)
		return hs_fail(hs, "own signature does not verify");
	hs_take_sig(hs, sig);
	return 0;
}

/*
 * Signed here with the identity itself: nothing to check (hs_set_sig's
 * verification, a third of a handshake's CPU, is for a remote signer).
 * The identity's public key must be the one given to hs_init(); a
 * mismatch fails at the peer.
 */
int
hs_sign(struct handshake *hs, const struct identity *ident)
{
	uint8_t	 msg[HS_SIGMSG_LEN], sig[ED25519_SIG_LEN];

	if (hs->state != HS_S_NEED_SIG)
		return hs_fail(hs, "signature out of order");
	if (memcmp(ident->pk, hs->local_pk, ED25519_PK_LEN) != 0)
		return hs_fail(hs, "signing identity is not the local key");
	hs_sigmsg(hs, msg);
	if (identity_sign(ident, msg, sizeof(msg), sig) == -1)
		return hs_fail(hs, "signing failed");
	hs_take_sig(hs, sig);
	return 0;
}

/* M2 and M3 carry the sender's key and signature, sealed with key. */
static int
hs_seal_proof(struct handshake *hs, const uint8_t *key, uint8_t *out)
{
	uint8_t	 pt[ED25519_PK_LEN + ED25519_SIG_LEN];

	memcpy(pt, hs->local_pk, ED25519_PK_LEN);
	memcpy(pt + ED25519_PK_LEN, hs->sig, ED25519_SIG_LEN);
	return aead_seal_once(key, hs->h, HS_HASH_LEN, pt, sizeof(pt), out);
}

/*
 * The peer's key and signature out of M2 or M3, signed in the role of
 * signer: 0, -1 if it does not decrypt, -2 if the signature is wrong.
 */
static int
hs_open_proof(struct handshake *hs, const uint8_t *key,
    enum hs_role signer, const uint8_t *in, size_t inlen)
{
	uint8_t	 pt[ED25519_PK_LEN + ED25519_SIG_LEN];
	uint8_t	 msg[HS_SIGMSG_LEN];

	if (aead_open_once(key, hs->h, HS_HASH_LEN, in, inlen, pt) == -1)
		return -1;
	memcpy(hs->peer_pk, pt, ED25519_PK_LEN);
	hs_build_sigmsg(signer, hs->h, hs->peer_pk, msg);
	if (ed25519_verify(hs->peer_pk, msg, sizeof(msg),
	    pt + ED25519_PK_LEN) == -1)
		return -2;
	id_from_pk(hs->peer_pk, hs->peer_id);
	return 0;
}

/* M2, sent or taken: into the hash; its key is not needed again. */
static int
hs_m2_done(struct handshake *hs, const uint8_t *m2)
{
	if (sha256_parts(hs->h, hs->h, HS_HASH_LEN, m2, HS_M2_LEN, NULL,
	    0) == -1)
		return hs_fail(hs, "hash failure");
	crypto_wipe(hs->k_r, sizeof(hs->k_r));
	return 0;
}

/* M3, sent or taken: into the hash, and the traffic keys from it. */
static int
hs_m3_done(struct handshake *hs, const uint8_t *m3)
{
	if (sha256_parts(hs->h, hs->h, HS_HASH_LEN, m3, HS_M3_LEN, NULL,
	    0) == -1 || hs_derive_traffic_keys(hs) == -1)
		return hs_fail(hs, "key derivation failed");
	hs->state = HS_S_DONE;
	return 0;
}

/* Responder: M2 frame (146 bytes). */
int
hs_write_m2(struct handshake *hs, uint8_t *out, size_t outlen)
{
	uint8_t	 m2[HS_M2_LEN];

	if (hs_turn(hs, HS_RESPONDER, HS_S_WRITE, outlen >= HS_FRAME_M2,
	    "M2 out of order", "M2 buffer too small") == -1)
		return -1;
	memcpy(m2, hs->e_pk, X25519_LEN);
	if (hs_seal_proof(hs, hs->k_r, m2 + X25519_LEN) == -1)
		return hs_fail(hs, "encryption failed");
	if (hs_m2_done(hs, m2) == -1)
		return -1;
	frame_put(out, m2, sizeof(m2));
	hs->state = HS_S_WAIT_M3;
	return HS_FRAME_M2;
}

/* Initiator: takes M2's body; checks it and the responder's ID. */
int
hs_read_m2(struct handshake *hs, const uint8_t *body, size_t len)
{
	int	 r;

	if (hs_turn(hs, HS_INITIATOR, HS_S_WAIT_M2, len == HS_M2_LEN,
	    "M2 out of order", "M2 has a bad length") == -1)
		return -1;
	if (hs_take_peer_e(hs, body) == -1)
		return -1;
	r = hs_open_proof(hs, hs->k_r, HS_RESPONDER, body + X25519_LEN,
	    HS_M2_LEN - X25519_LEN);
	if (r == -1)
		return hs_fail(hs, "M2 does not decrypt");
	if (r == -2) {
		hs->peer_unproven = 1;
		return hs_fail(hs, "responder signature does not verify");
	}
	if (hs->expect_id[0] != '\0' &&
	    strcmp(hs->expect_id, hs->peer_id) != 0)
		return hs_fail(hs, "responder ID differs from the expected ID");
	if (hs_m2_done(hs, body) == -1)
		return -1;
	hs->state = HS_S_NEED_SIG;
	return 0;
}

/* Initiator: M3 frame (114 bytes); the handshake is done after it. */
int
hs_write_m3(struct handshake *hs, uint8_t *out, size_t outlen)
{
	uint8_t	 m3[HS_M3_LEN];

	if (hs_turn(hs, HS_INITIATOR, HS_S_WRITE, outlen >= HS_FRAME_M3,
	    "M3 out of order", "M3 buffer too small") == -1)
		return -1;
	if (hs_seal_proof(hs, hs->k_i, m3) == -1)
		return hs_fail(hs, "encryption failed");
	if (hs_m3_done(hs, m3) == -1)
		return -1;
	frame_put(out, m3, sizeof(m3));
	return HS_FRAME_M3;
}

/* Responder: takes M3's body; the handshake is done after it. */
int
hs_read_m3(struct handshake *hs, const uint8_t *body, size_t len)
{
	int	 r;

	if (hs_turn(hs, HS_RESPONDER, HS_S_WAIT_M3, len == HS_M3_LEN,
	    "M3 out of order", "M3 has a bad length") == -1)
		return -1;
	r = hs_open_proof(hs, hs->k_i, HS_INITIATOR, body, HS_M3_LEN);
	if (r == -1)
		return hs_fail(hs, "M3 does not decrypt");
	if (r == -2)
		return hs_fail(hs, "initiator signature does not verify");
	return hs_m3_done(hs, body);
}

/* The body length of the next frame this side must read, 0 if none. */
size_t
hs_next_frame_len(const struct handshake *hs)
{
	if (hs->role == HS_RESPONDER && hs->state == HS_S_START)
		return HS_M1_LEN;
	if (hs->role == HS_INITIATOR && hs->state == HS_S_WAIT_M2)
		return HS_M2_LEN;
	if (hs->role == HS_RESPONDER && hs->state == HS_S_WAIT_M3)
		return HS_M3_LEN;
	return 0;
}

/* Wipe every secret; the peer's identity and the result stay readable. */
void
hs_clear(struct handshake *hs)
{
	crypto_wipe(hs->e_sk, sizeof(hs->e_sk));
	crypto_wipe(hs->ss, sizeof(hs->ss));
	crypto_wipe(hs->k_r, sizeof(hs->k_r));
	crypto_wipe(hs->k_i, sizeof(hs->k_i));
	if (hs->state != HS_S_DONE) {
		crypto_wipe(hs->key_send, sizeof(hs->key_send));
		crypto_wipe(hs->key_recv, sizeof(hs->key_recv));
	}
}

/* Write what this side sends next, if it sends anything now. */
static int
hs_drive_write(struct handshake *hs, uint8_t *out, size_t outlen,
    size_t *written)
{
	ssize_t	 n;

	if (hs->role == HS_INITIATOR && hs->state == HS_S_START)
		n = hs_write_m1(hs, out + *written, outlen - *written);
	else if (hs->role == HS_RESPONDER && hs->state == HS_S_WRITE)
		n = hs_write_m2(hs, out + *written, outlen - *written);
	else if (hs->role == HS_INITIATOR && hs->state == HS_S_WRITE)
		n = hs_write_m3(hs, out + *written, outlen - *written);
	else
		return 0;
	if (n < 0)
		return -1;
	*written += n;
	return 1;
}

/* Read the next frame: 1 when one was read, 0 when it is not complete. */
static int
hs_drive_read(struct handshake *hs, const uint8_t *in, size_t inlen,
    size_t *consumed)
{
	const uint8_t	*p;
	size_t		 left = inlen - *consumed, want;
	int		 r;

	/* an empty buffer may have no memory yet: no arithmetic on NULL */
	p = in != NULL ? in + *consumed : in;

	if ((want = hs_next_frame_len(hs)) == 0) {
		hs_fail(hs, "handshake step out of order");
		return -1;
	}
	if (left < FRAME_HDR_LEN)
		return 0;
	/* the one length rule: exactly the size of the expected message */
	if ((size_t)((p[0] << 8) | p[1]) != want) {
		hs_fail(hs, "handshake frame with a bad length");
		return -1;
	}
	if (left < FRAME_HDR_LEN + want)
		return 0;
	p += FRAME_HDR_LEN;
	if (hs->role == HS_RESPONDER && hs->state == HS_S_START)
		r = hs_read_m1(hs, p, want);
	else if (hs->role == HS_INITIATOR)
		r = hs_read_m2(hs, p, want);
	else
		r = hs_read_m3(hs, p, want);
	*consumed += FRAME_HDR_LEN + want;
	return r == -1 ? -1 : 1;
}

int
hs_drive(struct handshake *hs, const struct identity *ident,
    const uint8_t *in, size_t inlen, size_t *consumed, uint8_t *out,
    size_t outlen, size_t *written)
{
	int	 r;

	*consumed = 0;
	*written = 0;
	for (;;) {
		switch (hs->state) {
		case HS_S_DONE:
			return HS_DRIVE_DONE;
		case HS_S_FAILED:
			return HS_DRIVE_FAILED;
		case HS_S_NEED_SIG:
			if (ident == NULL)
				return HS_DRIVE_SIGN;
			if (hs_sign(hs, ident) == -1)
				return HS_DRIVE_FAILED;
			continue;
		default:
			break;
		}
		if ((r = hs_drive_write(hs, out, outlen, written)) == -1)
			return HS_DRIVE_FAILED;
		if (r == 1)
			continue;
		if ((r = hs_drive_read(hs, in, inlen, consumed)) == -1)
			return HS_DRIVE_FAILED;
		if (r == 0)
			return HS_DRIVE_AGAIN;
	}
}
