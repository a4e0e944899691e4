/* SPDX-License-Identifier: ISC */
/*
 * handshaker.c: the Handshaker. It drives the I/O-free handshake state
 * machine of crypto.h (DESIGN 4.2) over two byte buffers, so that the
 * control connection (relay.c, initiator towards the relay) and the
 * end-to-end session (secure.c, initiator or responder) share one piece
 * of code and differ only in the context string and the expected ID.
 *
 * It consumes exactly the frames of the handshake and never a byte more:
 * the peer may send records right behind its last message, and those
 * belong to the record layer. A frame whose length field is not the one
 * expected next is a failure, as is anything the state machine refuses;
 * the caller then closes the connection and sends nothing more.
 */
#include "config.h"

#include <string.h>

#include "log.h"
#include "relay-client.h"

int
handshaker_init(struct handshaker *hk, enum hs_role role, const uint8_t *ctx,
    size_t ctxlen, const struct identity *ident, const char *expect_id)
{
	memset(hk, 0, sizeof(*hk));
	hk->ident = ident;
	return hs_init(&hk->hs, role, ctx, ctxlen, ident->pk, expect_id);
}

/* The initiator's first move: M1 into out. */
int
handshaker_start(struct handshaker *hk, struct buf *out)
{
	uint8_t	*p;

	if (hk->hs.role != HS_INITIATOR)
		return 0;
	if ((p = iobuf_space(out, HS_FRAME_M1)) == NULL) {
		hk->hs.error = "no room for M1";
		hk->hs.state = HS_S_FAILED;
		return -1;
	}
	if (hs_write_m1(&hk->hs, p, HS_FRAME_M1) < 0)
		return -1;
	iobuf_commit(out, HS_FRAME_M1);
	return 0;
}

/* Sign, then write M2 (responder) or M3 (initiator) into out. */
static int
handshaker_answer(struct handshaker *hk, struct buf *out)
{
	size_t	 len;
	uint8_t	*p;
	int	 r;

	if (hs_sign(&hk->hs, hk->ident) == -1)
		return -1;
	len = hk->hs.role == HS_RESPONDER ? HS_FRAME_M2 : HS_FRAME_M3;
	if ((p = iobuf_space(out, len)) == NULL) {
		hk->hs.error = "no room for the handshake answer";
		hk->hs.state = HS_S_FAILED;
		hs_clear(&hk->hs);
		return -1;
	}
	if (hk->hs.role == HS_RESPONDER)
		r = hs_write_m2(&hk->hs, p, len);
	else
		r = hs_write_m3(&hk->hs, p, len);
	if (r < 0)
		return -1;
	iobuf_commit(out, len);
	return 0;
}

/*
 * Take every complete frame the state machine expects from in, writing
 * answers to out. HSK_DONE once the handshake is complete (the traffic
 * keys are then in hk->hs), HSK_AGAIN for more bytes, HSK_FAILED.
 */
int
handshaker_step(struct handshaker *hk, struct buf *in, struct buf *out)
{
	struct handshake	*hs = &hk->hs;
	const uint8_t		*body;
	size_t			 want;
	uint16_t		 flen;
	int			 r;

	for (;;) {
		if (hs->state == HS_S_DONE)
			return HSK_DONE;
		if (hs->state == HS_S_FAILED)
			return HSK_FAILED;
		if ((want = hs_next_frame_len(hs)) == 0) {
			hs->error = "handshake step out of order";
			hs->state = HS_S_FAILED;
			hs_clear(hs);
			return HSK_FAILED;
		}
		if (buf_len(in) < FRAME_HDR_LEN)
			return HSK_AGAIN;
		flen = get_be16(buf_rptr(in));
		if (flen != want) {
			log_debug("handshake: frame length %u, expected %zu",
			    flen, want);
			hs->error = "handshake frame with a bad length";
			hs->state = HS_S_FAILED;
			hs_clear(hs);
			return HSK_FAILED;
		}
		if (buf_len(in) < FRAME_HDR_LEN + want)
			return HSK_AGAIN;
		body = buf_rptr(in) + FRAME_HDR_LEN;
		if (hs->role == HS_RESPONDER && hs->state == HS_S_START)
			r = hs_read_m1(hs, body, want);
		else if (hs->role == HS_INITIATOR)
			r = hs_read_m2(hs, body, want);
		else
			r = hs_read_m3(hs, body, want);
		iobuf_consume(in, FRAME_HDR_LEN + want);
		if (r == -1)
			return HSK_FAILED;
		if (hs->state == HS_S_NEED_SIG &&
		    handshaker_answer(hk, out) == -1)
			return HSK_FAILED;
	}
}

const char *
handshaker_error(const struct handshaker *hk)
{
	return hk->hs.error != NULL ? hk->hs.error : "handshake failed";
}

/*
 * The ID the peer proved, "" if it proved none. Set also when the
 * initiator's check of the expected ID failed: the caller says which.
 */
const char *
handshaker_peer_id(const struct handshaker *hk)
{
	return hk->hs.peer_id;
}

void
handshaker_clear(struct handshaker *hk)
{
	hs_clear(&hk->hs);
	crypto_wipe(hk->hs.key_send, sizeof(hk->hs.key_send));
	crypto_wipe(hk->hs.key_recv, sizeof(hk->hs.key_recv));
}
