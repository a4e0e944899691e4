/* SPDX-License-Identifier: ISC */
/*
 * record.c: the record layer of DESIGN 4.3. A record is u16 length ||
 * ChaCha20-Poly1305(type || payload) with a per-direction counter nonce
 * and the length bytes as associated data.
 *
 * Every error is final: after one, the layer refuses all further work,
 * so a caller cannot continue past a forged, reordered or truncated
 * stream by mistake. A counter is never reused: at its end, sealing fails.
 * Path records (type 2) exist only on direct connections between clients,
 * before their first data record: anywhere else, with path_ok clear, they
 * are an unknown type like any other.
 */
#include "config.h"

#include <string.h>

#include <openssl/evp.h>

#include "buffer.h"
#include "crypto.h"

static int
rec_fail(struct rec_layer *rl, const char *why)
{
	rl->failed = 1;
	if (rl->error == NULL)
		rl->error = why;
	return REC_ERR;
}

/*
 * The one cipher context of this thread (of the process, for the daemon
 * and relay-client, which have one thread each), made with its first
 * record layer and kept: each record keys it with its direction's key
 * and nonce.
 */
static _Thread_local EVP_CIPHER_CTX	*rec_ctx;

static int
rec_ctx_make(void)
{
	if (rec_ctx != NULL)
		return 0;
	if ((rec_ctx = EVP_CIPHER_CTX_new()) == NULL)
		return -1;
	if (EVP_CipherInit_ex(rec_ctx, EVP_chacha20_poly1305(), NULL, NULL,
	    NULL, 1) != 1) {
		EVP_CIPHER_CTX_free(rec_ctx);
		rec_ctx = NULL;
		return -1;
	}
	return 0;
}

/* The context, keyed for one record of this direction; NULL if it fails. */
static EVP_CIPHER_CTX *
rec_ctx_key(const struct rec_dir *d, const uint8_t nonce[AEAD_NONCE_LEN],
    int enc)
{
	if (rec_ctx_make() == -1 ||
	    EVP_CipherInit_ex(rec_ctx, NULL, NULL, d->key, nonce, enc) != 1)
		return NULL;
	return rec_ctx;
}

int
rec_init(struct rec_layer *rl, const uint8_t send_key[HS_KEY_LEN],
    const uint8_t recv_key[HS_KEY_LEN])
{
	memset(rl, 0, sizeof(*rl));
	if (rec_ctx_make() == -1)
		return -1;
	memcpy(rl->send.key, send_key, HS_KEY_LEN);
	memcpy(rl->recv.key, recv_key, HS_KEY_LEN);
	return 0;
}

/* Take the traffic keys of a finished handshake and wipe them there. */
int
rec_init_from_hs(struct rec_layer *rl, struct handshake *hs)
{
	int	 r;

	if (hs->state != HS_S_DONE)
		return -1;
	r = rec_init(rl, hs->key_send, hs->key_recv);
	crypto_wipe(hs->key_send, sizeof(hs->key_send));
	crypto_wipe(hs->key_recv, sizeof(hs->key_recv));
	return r;
}

/*
 * Wipe the layer's keys, and the shared context's last key with them
 * (whichever layer it was: the next record keys it again anyway).
 */
void
rec_clear(struct rec_layer *rl)
{
	static const uint8_t	 zero[HS_KEY_LEN], zero_nonce[AEAD_NONCE_LEN];

	crypto_wipe(rl, sizeof(*rl));
	if (rec_ctx != NULL)
		(void)EVP_CipherInit_ex(rec_ctx, NULL, NULL, zero, zero_nonce,
		    1);
}

static void
rec_nonce(uint8_t nonce[AEAD_NONCE_LEN], uint64_t counter)
{
	memset(nonce, 0, 4);
	put_be64(nonce + 4, counter);
}

/*
 * Seal one record of the given type into out. Returns the frame length
 * (2 + 1 + len + 16) or REC_ERR. After a close record nothing more may
 * be sent in this direction.
 */
ssize_t
rec_seal(struct rec_layer *rl, int type, const uint8_t *payload, size_t len,
    uint8_t *out, size_t outlen)
{
	EVP_CIPHER_CTX	*c;
	uint8_t		 nonce[AEAD_NONCE_LEN];
	size_t		 ctlen = 1 + len + AEAD_TAG_LEN;
	int		 n;

	if (rl->failed)
		return REC_ERR;
	if (rl->send.closed)
		return rec_fail(rl, "record sent after close");
	if (type != REC_TYPE_DATA && type != REC_TYPE_CLOSE &&
	    !(type == REC_TYPE_PATH && rl->path_ok))
		return rec_fail(rl, "unknown record type");
	if (type == REC_TYPE_CLOSE && len != 0)
		return rec_fail(rl, "close record with payload");
	if (len > REC_MAX_PAYLOAD)
		return rec_fail(rl, "record payload too long");
	if (outlen < FRAME_HDR_LEN + ctlen)
		return rec_fail(rl, "record buffer too small");
	if (rl->send.counter == UINT64_MAX)
		return rec_fail(rl, "record counter exhausted");

	/*
	 * The type byte and the payload side by side in out, sealed in
	 * place in one pass: a caller that read its payload into its slot
	 * (out + FRAME_HDR_LEN + 1) costs no copy.
	 */
	if (len > 0 && payload != out + FRAME_HDR_LEN + 1)
		memmove(out + FRAME_HDR_LEN + 1, payload, len);
	put_be16(out, (uint16_t)ctlen);
	out[FRAME_HDR_LEN] = (uint8_t)type;
	rec_nonce(nonce, rl->send.counter);
	if ((c = rec_ctx_key(&rl->send, nonce, 1)) == NULL ||
	    EVP_EncryptUpdate(c, NULL, &n, out, FRAME_HDR_LEN) != 1 ||
	    EVP_EncryptUpdate(c, out + FRAME_HDR_LEN, &n, out + FRAME_HDR_LEN,
	    (int)(1 + len)) != 1 ||
	    EVP_EncryptFinal_ex(c, out + FRAME_HDR_LEN + 1 + len, &n) != 1 ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, AEAD_TAG_LEN,
	    out + FRAME_HDR_LEN + 1 + len) != 1)
		return rec_fail(rl, "encryption failed");
	rl->send.counter++;
	if (type == REC_TYPE_CLOSE)
		rl->send.closed = 1;
	return (ssize_t)(FRAME_HDR_LEN + ctlen);
}

/*
 * Given the first bytes of a frame: its whole length, 0 if the length
 * bytes have not arrived, or REC_ERR if the length is out of range.
 */
ssize_t
rec_frame_len(const uint8_t *p, size_t avail)
{
	uint16_t	 len;

	if (avail < FRAME_HDR_LEN)
		return 0;
	len = get_be16(p);
	if (len < REC_MIN_CIPHERTEXT || len > REC_MAX_CIPHERTEXT)
		return REC_ERR;
	return FRAME_HDR_LEN + len;
}

/*
 * Open one whole frame. Returns REC_DATA with the payload in out and its
 * length in *plen, REC_CLOSE for the peer's close, or REC_ERR. Nothing of
 * a record that fails its tag is left in out. With a byte to spare in out
 * (outlen above the payload's length) the record opens in one pass, which
 * is faster; out[*plen] is then scratch.
 */
int
rec_open(struct rec_layer *rl, const uint8_t *frame, size_t framelen,
    uint8_t *out, size_t outlen, size_t *plen)
{
	EVP_CIPHER_CTX	*c;
	uint8_t		 nonce[AEAD_NONCE_LEN], tag[AEAD_TAG_LEN], tb = 0;
	ssize_t		 flen;
	size_t		 len;
	int		 n, whole;

	*plen = 0;
	if (rl->failed)
		return REC_ERR;
	if ((flen = rec_frame_len(frame, framelen)) <= 0 ||
	    (size_t)flen != framelen)
		return rec_fail(rl, "record has a bad length");
	if (rl->recv.closed)
		return rec_fail(rl, "record after close");
	if (rl->recv.counter == UINT64_MAX)
		return rec_fail(rl, "record counter exhausted");
	len = framelen - FRAME_HDR_LEN - 1 - AEAD_TAG_LEN;
	if (outlen < len)
		return rec_fail(rl, "record buffer too small");

	rec_nonce(nonce, rl->recv.counter);
	memcpy(tag, frame + framelen - AEAD_TAG_LEN, AEAD_TAG_LEN);
	/*
	 * The type byte and the payload open in one pass, a quarter faster
	 * than two: into out itself when it has a byte to spare, the payload
	 * then moved to its start; otherwise the type byte apart.
	 */
	whole = outlen > len;
	if ((c = rec_ctx_key(&rl->recv, nonce, 0)) == NULL ||
	    EVP_DecryptUpdate(c, NULL, &n, frame, FRAME_HDR_LEN) != 1 ||
	    (whole && EVP_DecryptUpdate(c, out, &n, frame + FRAME_HDR_LEN,
	    (int)(1 + len)) != 1) ||
	    (!whole && (EVP_DecryptUpdate(c, &tb, &n, frame + FRAME_HDR_LEN,
	    1) != 1 || (len > 0 && EVP_DecryptUpdate(c, out, &n,
	    frame + FRAME_HDR_LEN + 1, (int)len) != 1))) ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, AEAD_TAG_LEN,
	    tag) != 1 ||
	    EVP_DecryptFinal_ex(c, out + len + whole, &n) != 1) {
		crypto_wipe(out, len + whole);
		return rec_fail(rl, "record authentication failed");
	}
	if (whole) {
		tb = out[0];
		memmove(out, out + 1, len);
	}
	rl->recv.counter++;
	switch (tb) {
	case REC_TYPE_DATA:
		*plen = len;
		return REC_DATA;
	case REC_TYPE_CLOSE:
		if (len != 0) {
			crypto_wipe(out, len);
			return rec_fail(rl, "close record with payload");
		}
		rl->recv.closed = 1;
		return REC_CLOSE;
	case REC_TYPE_PATH:
		if (!rl->path_ok)
			goto unknown;
		*plen = len;
		return REC_PATH;
	default:
unknown:
		crypto_wipe(out, len);
		return rec_fail(rl, "unknown record type");
	}
}

/*
 * The transport ended. Clean only if the peer's close record came first;
 * otherwise the stream was truncated.
 */
int
rec_eof(struct rec_layer *rl)
{
	if (rl->failed)
		return REC_ERR;
	if (!rl->recv.closed)
		return rec_fail(rl, "truncated: connection ended before close");
	return 0;
}
