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

/*
 * Take every complete frame the state machine expects from in, writing
 * what this side sends to out (libcommon's hs_drive(): the frame rules
 * are written once, there). HSK_DONE once the handshake is complete (the
 * traffic keys are then in hk->hs), HSK_AGAIN for more bytes, HSK_FAILED.
 */
int
handshaker_step(struct handshaker *hk, struct buf *in, struct buf *out)
{
	size_t	 consumed, written;
	uint8_t	*p;
	int	 r;

	/* one call writes at most one message, M2 the largest */
	if ((p = iobuf_space(out, HS_FRAME_M2)) == NULL) {
		hk->hs.error = "no room for the handshake";
		hk->hs.state = HS_S_FAILED;
		hs_clear(&hk->hs);
		return HSK_FAILED;
	}
	r = hs_drive(&hk->hs, hk->ident, in != NULL ? buf_rptr(in) : NULL,
	    in != NULL ? buf_len(in) : 0, &consumed, p, HS_FRAME_M2, &written);
	if (consumed > 0)
		iobuf_consume(in, consumed);
	iobuf_commit(out, written);
	switch (r) {
	case HS_DRIVE_DONE:
		return HSK_DONE;
	case HS_DRIVE_AGAIN:
		return HSK_AGAIN;
	default:
		log_debug("handshake: %s", handshaker_error(hk));
		return HSK_FAILED;
	}
}

/* The initiator's first move: M1 into out. */
int
handshaker_start(struct handshaker *hk, struct buf *out)
{
	if (hk->hs.role != HS_INITIATOR)
		return 0;
	return handshaker_step(hk, NULL, out) == HSK_FAILED ? -1 : 0;
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
