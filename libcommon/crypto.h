/* SPDX-License-Identifier: ISC */
/*
 * crypto.h: identities (DESIGN 4.1), the handshake (4.2) and the record
 * layer (4.3). Nothing here does I/O: callers move the frames, so the
 * relay's conn worker, relay-client and the tests all drive the same code.
 *
 * The handshake never needs the long-term private key itself: it asks the
 * caller to sign a 73-byte message (hs_sigmsg()), so the relay can have
 * its parent process sign while the network-facing worker holds no key.
 */
#ifndef RELAY_CRYPTO_H
#define RELAY_CRYPTO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "protocol.h"

/* ---- identities ---- */

struct identity {
	void		*pkey;		/* EVP_PKEY, NULL for a public-only identity */
	uint8_t		 pk[ED25519_PK_LEN];
	char		 id[ID_BUFSZ];
};

void	 id_from_pk(const uint8_t pk[ED25519_PK_LEN], char out[ID_BUFSZ]);
int	 id_normalize(const char *in, char out[ID_BUFSZ]);
int	 identity_generate(struct identity *);
int	 identity_from_seed(struct identity *, const uint8_t seed[ED25519_SEED_LEN]);
int	 identity_load(struct identity *, const char *path, char *err, size_t errlen);
int	 identity_save(const struct identity *, const char *path, char *err, size_t errlen);
int	 identity_setup(struct identity *, const char *path, int *created,
	    char *err, size_t errlen);
int	 identity_sign(const struct identity *, const uint8_t *, size_t,
	    uint8_t sig[ED25519_SIG_LEN]);
void	 identity_clear(struct identity *);
int	 ed25519_pk_usable(const uint8_t pk[ED25519_PK_LEN]);
int	 ed25519_verify(const uint8_t pk[ED25519_PK_LEN], const uint8_t *, size_t,
	    const uint8_t sig[ED25519_SIG_LEN]);
int	 crypto_setup(void);
int	 crypto_init(void);
int	 crypto_random(void *, size_t);
int	 crypto_keyed_hash(uint8_t out[32], const uint8_t key[32],
	    const void *, size_t);
int	 crypto_equal(const void *, const void *, size_t);
void	 crypto_wipe(void *, size_t);

/* ---- handshake ---- */

enum hs_role {
	HS_INITIATOR,
	HS_RESPONDER
};

/* What the state machine waits for next. */
enum hs_state {
	HS_S_START,		/* I: hs_write_m1 / R: hs_read_m1 */
	HS_S_WAIT_M2,		/* I: hs_read_m2 */
	HS_S_NEED_SIG,		/* both: hs_sigmsg + hs_set_sig (or hs_sign) */
	HS_S_WRITE,		/* I: hs_write_m3 / R: hs_write_m2 */
	HS_S_WAIT_M3,		/* R: hs_read_m3 */
	HS_S_DONE,
	HS_S_FAILED
};

struct handshake {
	enum hs_role	 role;
	enum hs_state	 state;
	const char	*error;		/* why it failed, for logs and counters */
	uint8_t		 h[HS_HASH_LEN];	/* running transcript hash */
	uint8_t		 e_sk[X25519_LEN];	/* own ephemeral private */
	uint8_t		 e_pk[X25519_LEN];
	int		 e_set;
	uint8_t		 peer_e[X25519_LEN];
	uint8_t		 ss[X25519_LEN];
	uint8_t		 k_r[HS_KEY_LEN];
	uint8_t		 k_i[HS_KEY_LEN];
	uint8_t		 local_pk[ED25519_PK_LEN];
	uint8_t		 sig[ED25519_SIG_LEN];
	int		 have_sig;
	char		 expect_id[ID_BUFSZ];	/* I only; empty = any (TOFU) */
	uint8_t		 peer_pk[ED25519_PK_LEN];
	char		 peer_id[ID_BUFSZ];
	int		 peer_unproven;	/* I: M2 opened, its signature bad */
	uint8_t		 key_send[HS_KEY_LEN];	/* valid in HS_S_DONE */
	uint8_t		 key_recv[HS_KEY_LEN];
};

int	 hs_ctx_e2e(uint8_t *out, size_t outlen,
	    const uint8_t session_id[SESSION_ID_LEN], const char *alpn);
int	 hs_init(struct handshake *, enum hs_role, const uint8_t *ctx,
	    size_t ctxlen, const uint8_t local_pk[ED25519_PK_LEN],
	    const char *expect_id);
int	 hs_set_ephemeral(struct handshake *, const uint8_t sk[X25519_LEN]);
int	 hs_write_m1(struct handshake *, uint8_t *out, size_t outlen);
int	 hs_read_m1(struct handshake *, const uint8_t *body, size_t len);
int	 hs_read_m2(struct handshake *, const uint8_t *body, size_t len);
int	 hs_write_m2(struct handshake *, uint8_t *out, size_t outlen);
int	 hs_write_m3(struct handshake *, uint8_t *out, size_t outlen);
int	 hs_read_m3(struct handshake *, const uint8_t *body, size_t len);
void	 hs_sigmsg(const struct handshake *, uint8_t msg[HS_SIGMSG_LEN]);
void	 hs_build_sigmsg(enum hs_role, const uint8_t h[HS_HASH_LEN],
	    const uint8_t pk[ED25519_PK_LEN], uint8_t msg[HS_SIGMSG_LEN]);
int	 hs_set_sig(struct handshake *, const uint8_t sig[ED25519_SIG_LEN]);
int	 hs_sign(struct handshake *, const struct identity *);
size_t	 hs_next_frame_len(const struct handshake *);
void	 hs_clear(struct handshake *);

/* Frame helpers: u16 length || body. */
#define HS_FRAME_M1	(FRAME_HDR_LEN + HS_M1_LEN)
#define HS_FRAME_M2	(FRAME_HDR_LEN + HS_M2_LEN)
#define HS_FRAME_M3	(FRAME_HDR_LEN + HS_M3_LEN)

/*
 * The one driver of the handshake over bytes, for the relay's conn worker
 * and for relay-client alike: it reads the complete frames the state
 * machine expects from in (never a byte more: records may follow), writes
 * what this side sends into out, and signs with ident, or stops at
 * HS_DRIVE_SIGN when ident is NULL (the relay's parent signs; the caller
 * then gives hs_set_sig() the signature and drives again).
 */
enum hs_drive_result {
	HS_DRIVE_FAILED = -1,	/* hs->error says why; send nothing more */
	HS_DRIVE_AGAIN = 0,	/* more bytes are needed */
	HS_DRIVE_SIGN,		/* a signature of hs_sigmsg() is needed */
	HS_DRIVE_DONE		/* the traffic keys are ready */
};
int	 hs_drive(struct handshake *, const struct identity *,
	    const uint8_t *in, size_t inlen, size_t *consumed,
	    uint8_t *out, size_t outlen, size_t *written);

/* ---- records ---- */

/*
 * A direction holds its raw key: every record is sealed or opened with
 * the process's one cipher context, keyed for that record (a ChaCha20-
 * Poly1305 key setup is a copy), so that an idle connection costs its 64
 * bytes of keys and no cipher state of its own.
 */
struct rec_dir {
	uint8_t		 key[HS_KEY_LEN];
	uint64_t	 counter;
	int		 closed;	/* close record sent / received */
};

struct rec_layer {
	struct rec_dir	 send;
	struct rec_dir	 recv;
	int		 failed;
	const char	*error;
	int		 path_ok;	/* type 2 (path) records allowed */
};

enum rec_result {
	REC_ERR = -1,
	REC_DATA = 0,
	REC_CLOSE = 1,
	REC_PATH = 2		/* only while path_ok is set */
};

int	 rec_init(struct rec_layer *, const uint8_t send_key[HS_KEY_LEN],
	    const uint8_t recv_key[HS_KEY_LEN]);
int	 rec_init_from_hs(struct rec_layer *, struct handshake *);
void	 rec_clear(struct rec_layer *);
ssize_t	 rec_seal(struct rec_layer *, int type, const uint8_t *, size_t,
	    uint8_t *out, size_t outlen);
ssize_t	 rec_frame_len(const uint8_t *, size_t);
int	 rec_open(struct rec_layer *, const uint8_t *frame, size_t framelen,
	    uint8_t *out, size_t outlen, size_t *plen);
int	 rec_eof(struct rec_layer *);

#endif /* RELAY_CRYPTO_H */
