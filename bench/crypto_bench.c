/* SPDX-License-Identifier: ISC */
/*
 * crypto_bench.c: what libcommon's crypto costs per call, next to the
 * primitives alone: each function of crypto.h and crypto_int.h that a
 * session setup uses, a whole handshake (both sides, in memory) and a
 * record layer set-up, in microseconds per call. openssl speed gives the
 * primitive's own limit in the same run; the difference is the price of
 * the EVP calls around it (fetching algorithms, making contexts).
 *
 * usage: crypto_bench [-t secs]
 * Prints one line per item: "name us_per_call calls_per_s".
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "crypto_int.h"

static double	 secs = 0.3;

#define TIME(name, body) TIMEB(name, 0, body)
#define TIMEB(name, bytes, body) do {						\
	double	 t0 = now(), t;						\
	long	 n = 0;							\
	do {								\
		int	 k_;						\
		for (k_ = 0; k_ < 16; k_++) {				\
			body;						\
		}							\
		n += 16;						\
	} while ((t = now() - t0) < secs);				\
	printf("%-28s %9.2f us %10.0f /s", name, t / n * 1e6, n / t);	\
	if ((bytes) > 0)						\
		printf(" %8.0f MB/s", (double)(bytes) * n / t / 1e6);	\
	printf("\n");							\
} while (0)

static int
handshake(const struct identity *i, const struct identity *r)
{
	struct handshake	 hi, hr;
	struct rec_layer	 ri, rr;
	uint8_t			 m1[HS_FRAME_M1], m2[HS_FRAME_M2];
	uint8_t			 m3[HS_FRAME_M3];
	int			 ok;

	hs_init(&hi, HS_INITIATOR, (const uint8_t *)HS_CTX_CONTROL,
	    strlen(HS_CTX_CONTROL), i->pk, r->id);
	hs_init(&hr, HS_RESPONDER, (const uint8_t *)HS_CTX_CONTROL,
	    strlen(HS_CTX_CONTROL), r->pk, NULL);
	ok = hs_write_m1(&hi, m1, sizeof(m1)) >= 0 &&
	    hs_read_m1(&hr, m1 + 2, HS_M1_LEN) == 0 &&
	    hs_sign(&hr, r) == 0 &&
	    hs_write_m2(&hr, m2, sizeof(m2)) >= 0 &&
	    hs_read_m2(&hi, m2 + 2, HS_M2_LEN) == 0 &&
	    hs_sign(&hi, i) == 0 &&
	    hs_write_m3(&hi, m3, sizeof(m3)) >= 0 &&
	    hs_read_m3(&hr, m3 + 2, HS_M3_LEN) == 0 &&
	    rec_init_from_hs(&ri, &hi) == 0 &&
	    rec_init_from_hs(&rr, &hr) == 0;
	if (ok) {
		rec_clear(&ri);
		rec_clear(&rr);
	}
	hs_clear(&hi);
	hs_clear(&hr);
	return ok ? 0 : -1;
}

int
main(int argc, char *argv[])
{
	struct identity		 a, b;
	struct rec_layer	 rl;
	uint8_t			 sk[32], pk[32], pk2[32], out[64], key[32];
	uint8_t			 sig[64], msg[73], buf[1024], frame[1100];
	static uint8_t		 big[REC_MAX_PAYLOAD], bframe[REC_MAX_FRAME];
	/* as relay-client opens: a byte to spare, one pass (rec_open) */
	static uint8_t		 bopen[REC_MAX_PAYLOAD + 1];
	struct rec_layer	 r2;
	size_t			 plen;
	ssize_t			 f;
	int			 ch;

	while ((ch = getopt(argc, argv, "t:")) != -1) {
		if (ch != 't') {
			fprintf(stderr, "usage: crypto_bench [-t secs]\n");
			return 2;
		}
		secs = atof(optarg);
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	memset(key, 7, sizeof(key));
	memset(msg, 1, sizeof(msg));
	memset(buf, 2, sizeof(buf));
	if (identity_generate(&a) == -1 || identity_generate(&b) == -1 ||
	    crypto_random(sk, 32) == -1 || x25519_keypair(sk, pk) == -1)
		die("setup");
	memset(pk2, 9, sizeof(pk2));
	(void)x25519_keypair(pk2, pk2);
	TIME("x25519_keypair", x25519_keypair(sk, pk));
	TIME("x25519_shared", x25519_shared(out, sk, pk, pk2));
	TIME("identity_sign (Ed25519)", identity_sign(&a, msg, 73, sig));
	TIME("ed25519_verify", ed25519_verify(a.pk, msg, 73, sig));
	TIME("sha256_parts", sha256_parts(out, msg, 73, NULL, 0, NULL, 0));
	TIME("hkdf_extract", hkdf_extract(out, key, msg, 32));
	TIME("hkdf_expand", hkdf_expand(out, 32, key, "i2r"));
	TIME("aead_seal_once (144 B)", aead_seal_once(key, msg, 2, buf, 128,
	    frame));
	TIME("id_from_pk", id_from_pk(a.pk, (char *)out));
	TIME("rec_init + rec_clear", rec_init(&rl, key, key); rec_clear(&rl));
	if (rec_init(&rl, key, key) == -1)
		die("rec_init");
	TIME("rec_seal (1 KiB)", f = rec_seal(&rl, REC_TYPE_DATA, buf, 1024,
	    frame, sizeof(frame)));
	TIMEB("rec_seal (16 KiB)", sizeof(big), f = rec_seal(&rl,
	    REC_TYPE_DATA, big, sizeof(big), bframe, sizeof(bframe)));
	/* open needs the peer's frames in order: seal, then open, each */
	if (rec_init(&r2, key, key) == -1)
		die("rec_init");
	TIMEB("rec_seal + rec_open (16 KiB)", sizeof(big),
	    f = rec_seal(&r2, REC_TYPE_DATA, big, sizeof(big), bframe,
	    sizeof(bframe));
	    if (rec_open(&rl, bframe, f, bopen, sizeof(bopen), &plen) !=
	    REC_DATA) die("rec_open"));
	rec_clear(&r2);
	TIME("whole handshake, both sides", handshake(&a, &b));
	(void)plen;
	(void)f;
	rec_clear(&rl);
	return 0;
}
