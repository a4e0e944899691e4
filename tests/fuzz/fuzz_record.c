/* SPDX-License-Identifier: ISC */
/*
 * fuzz_record.c: the record layer (libcommon/record.c, DESIGN 4.3)
 * against a model of its rules. One sender and one receiver share keys;
 * the input is a list of operations: seal a record and deliver it as it
 * is, altered (a flipped bit, a changed length, cut or extended), late,
 * twice or not at all; open raw bytes; ask a frame's length; end the
 * transport. The model says what each call must return: a record opens
 * only if it is the next one sealed and untouched, nothing opens after a
 * close or an error, a close carries no payload, every error is final,
 * and what opens is exactly what was sealed. Any difference is a crash.
 */
#include "config.h"

#include <string.h>

#include "buffer.h"
#include "crypto.h"
#include "fuzz.h"

#define HOLD_MAX	8	/* sealed frames kept for late or repeated delivery */

struct held {
	uint8_t		 frame[REC_MAX_FRAME];
	size_t		 len;
	uint64_t	 counter;
	int		 type;
	size_t		 plen;
	uint8_t		 fill;	/* payload byte i is fill + i, see payload_make */
};

static struct held	 held[HOLD_MAX];

static const uint8_t	 key_a[HS_KEY_LEN] = "fuzz key for direction one.....";
static const uint8_t	 key_b[HS_KEY_LEN] = "fuzz key for direction two.....";

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fz_quiet();
	return 0;
}

static void
payload_make(uint8_t *p, size_t len, uint8_t fill)
{
	size_t	 i;

	for (i = 0; i < len; i++)
		p[i] = (uint8_t)(fill + i);
}

static int
payload_is(const uint8_t *p, size_t len, uint8_t fill)
{
	size_t	 i;

	for (i = 0; i < len; i++)
		if (p[i] != (uint8_t)(fill + i))
			return 0;
	return 1;
}

/* The receiver's model. */
struct rx_model {
	uint64_t	 counter;
	int		 closed;
	int		 failed;
};

/* Open frame (maybe altered) and check the result against the model. */
static void
deliver(struct rec_layer *rx, struct rx_model *m, const uint8_t *frame,
    size_t flen, const struct held *h, int intact, size_t outlen)
{
	static uint8_t	 out[REC_MAX_PLAINTEXT + 64];
	size_t		 plen = 12345;
	int		 r, expect_ok;

	expect_ok = !m->failed && !m->closed && h != NULL && intact &&
	    h->counter == m->counter && outlen >= h->plen;
	r = rec_open(rx, frame, flen, out, outlen, &plen);
	if (!expect_ok) {
		FZ_CHECK(r == REC_ERR);
		FZ_CHECK(plen == 0);
		FZ_CHECK(rx->failed && rx->error != NULL);
		m->failed = 1;
		return;
	}
	FZ_CHECK(r == h->type);
	FZ_CHECK(!rx->failed);
	m->counter++;
	if (r == REC_CLOSE) {
		FZ_CHECK(plen == 0);
		m->closed = 1;
		return;
	}
	FZ_CHECK(plen == h->plen);
	FZ_CHECK(payload_is(out, plen, h->fill));
}

/* The newest frame held, copied into frame to be spoilt; NULL if none. */
static struct held *
newest_copy(size_t nheld, uint8_t *frame)
{
	struct held	*h;

	if (nheld == 0)
		return NULL;
	h = &held[(nheld - 1) % HOLD_MAX];
	memcpy(frame, h->frame, h->len);
	return h;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t		 payload[REC_MAX_PAYLOAD + 8];
	static uint8_t		 frame[REC_MAX_FRAME + 64];
	struct rec_layer	 tx, rx;
	struct rx_model		 m;
	struct fz		 f;
	uint64_t		 tx_counter = 0;
	size_t			 nheld = 0, i, len, outlen, n;
	const uint8_t		*raw;
	struct held		*h;
	int			 tx_failed = 0, tx_closed = 0, type, ops = 0;
	uint8_t			 fill;
	ssize_t			 r;

	fz_init(&f, data, size);
	memset(&m, 0, sizeof(m));
	if (rec_init(&tx, key_a, key_b) == -1 ||
	    rec_init(&rx, key_b, key_a) == -1)
		abort();

	while (fz_more(&f) && ops++ < 64) {
		switch (fz_u8(&f) % 9) {
		case 0:		/* seal a record */
		case 1:
			type = fz_u8(&f);
			type = type < 200 ? REC_TYPE_DATA : type < 250 ?
			    REC_TYPE_CLOSE : type - 248;	/* 2..7: unknown */
			len = fz_u16(&f);
			if (len > REC_MAX_PAYLOAD + 2 && len < 0xff00)
				len %= 600;	/* mostly small records */
			else if (len >= 0xff00)
				len = REC_MAX_PAYLOAD + (len & 3) - 1;
			outlen = FRAME_HDR_LEN + 1 + len + AEAD_TAG_LEN;
			if (fz_u8(&f) == 0xff)
				outlen -= 1 + fz_u8(&f) % 8;
			if (outlen > sizeof(frame))
				outlen = sizeof(frame);
			fill = fz_u8(&f);
			payload_make(payload, len, fill);
			r = rec_seal(&tx, type, payload, len, frame, outlen);
			if (tx_failed || tx_closed ||
			    (type != REC_TYPE_DATA && type != REC_TYPE_CLOSE) ||
			    (type == REC_TYPE_CLOSE && len != 0) ||
			    len > REC_MAX_PAYLOAD ||
			    outlen < FRAME_HDR_LEN + 1 + len + AEAD_TAG_LEN) {
				FZ_CHECK(r == REC_ERR);
				FZ_CHECK(tx.failed);
				tx_failed = 1;
				break;
			}
			FZ_CHECK(r == (ssize_t)(FRAME_HDR_LEN + 1 + len +
			    AEAD_TAG_LEN));
			FZ_CHECK(rec_frame_len(frame, r) == r);
			h = &held[nheld % HOLD_MAX];
			memcpy(h->frame, frame, r);
			h->len = r;
			h->fill = fill;
			h->counter = tx_counter++;
			h->type = type;
			h->plen = len;
			nheld++;
			if (type == REC_TYPE_CLOSE)
				tx_closed = 1;
			break;
		case 2:		/* deliver a held frame as it is */
		case 3:
			if (nheld == 0)
				break;
			i = fz_u8(&f);
			h = &held[(nheld - 1 - i % (nheld < HOLD_MAX ? nheld :
			    HOLD_MAX)) % HOLD_MAX];
			outlen = fz_u8(&f) == 0xff ? fz_u16(&f) % (h->plen + 1) :
			    REC_MAX_PLAINTEXT;
			deliver(&rx, &m, h->frame, h->len, h, 1, outlen);
			break;
		case 4:		/* deliver the newest frame with one bit flipped */
			if ((h = newest_copy(nheld, frame)) == NULL)
				break;
			i = fz_u16(&f) % (h->len * 8);
			frame[i / 8] ^= (uint8_t)(1 << (i % 8));
			deliver(&rx, &m, frame, h->len, h, 0, REC_MAX_PLAINTEXT);
			break;
		case 5:		/* deliver it cut short or with bytes added */
			if ((h = newest_copy(nheld, frame)) == NULL)
				break;
			n = fz_u8(&f) % 32 + 1;
			if (fz_u8(&f) & 1) {
				len = n < h->len ? h->len - n : 0;
			} else {
				len = h->len + n;
				memset(frame + h->len, fz_u8(&f), n);
			}
			if (fz_u8(&f) & 1 && len >= FRAME_HDR_LEN)
				put_be16(frame, (uint16_t)(len - FRAME_HDR_LEN));
			deliver(&rx, &m, frame, len, h, 0, REC_MAX_PLAINTEXT);
			break;
		case 6:		/* raw bytes as a frame: never authentic */
			len = fz_u16(&f) % (REC_MAX_FRAME + 4);
			raw = fz_take(&f, len, &n);
			memset(frame, 0, len);
			memcpy(frame, raw, n);
			if (fz_u8(&f) & 1 && len >= FRAME_HDR_LEN)
				put_be16(frame, (uint16_t)(len - FRAME_HDR_LEN));
			deliver(&rx, &m, frame, len, NULL, 0, REC_MAX_PLAINTEXT);
			break;
		case 7: {	/* the length of a frame from its first bytes */
			uint8_t	 hdr[2];
			size_t	 avail = fz_u8(&f) % 3;
			ssize_t	 fl;
			uint16_t v;

			fz_fill(&f, hdr, sizeof(hdr));
			v = get_be16(hdr);
			fl = rec_frame_len(hdr, avail);
			if (avail < FRAME_HDR_LEN)
				FZ_CHECK(fl == 0);
			else if (v < REC_MIN_CIPHERTEXT ||
			    v > REC_MAX_CIPHERTEXT)
				FZ_CHECK(fl == REC_ERR);
			else
				FZ_CHECK(fl == FRAME_HDR_LEN + v);
			break;
		}
		case 8:		/* the transport ends */
			r = rec_eof(&rx);
			if (m.failed || !m.closed) {
				FZ_CHECK(r == REC_ERR);
				m.failed = 1;
			} else
				FZ_CHECK(r == 0);
			break;
		}
		FZ_CHECK(!!rx.failed == m.failed);
		FZ_CHECK(!!tx.failed == tx_failed);
	}
	rec_clear(&tx);
	rec_clear(&rx);
	return 0;
}
