/* SPDX-License-Identifier: ISC */
/*
 * protocol.h: every constant of the relay wire protocol (relay-protocol(7),
 * DESIGN section 4) in one place.
 *
 * Bump RELAY_PROTOCOL_VERSION, the preamble version byte and the context
 * labels together on any change that an old peer could misread. Nothing
 * here may be changed to make an implementation easier: the values are
 * the protocol.
 */
#ifndef RELAY_PROTOCOL_H
#define RELAY_PROTOCOL_H

#define RELAY_PROTOCOL_VERSION	1
#define RELAY_DEFAULT_PORT	7420

/* Connection preamble: "RLY" 0x01 kind. */
#define PREAMBLE_LEN		5
#define PREAMBLE_MAGIC		"RLY\x01"
#define PREAMBLE_MAGIC_LEN	4
#define PREAMBLE_CONTROL	'C'
#define PREAMBLE_DATA		'D'

/* Identities (4.1). */
#define ED25519_PK_LEN		32
#define ED25519_SEED_LEN	32
#define ED25519_SIG_LEN		64
#define X25519_LEN		32
#define ID_LABEL		"relay-id-v1"
#define ID_HASH_BYTES		20	/* base32 of 20 bytes: 32 characters */
#define ID_STRLEN		32
#define ID_BUFSZ		(ID_STRLEN + 1)

/* Handshake (4.2). */
#define HS_CTX_CONTROL		"relay/1 control"
#define HS_CTX_E2E		"relay/1 e2e"
#define HS_SIG_LABEL_R		"relay/1 r"
#define HS_SIG_LABEL_I		"relay/1 i"
#define HS_SIG_LABEL_LEN	9
#define HS_SIGMSG_LEN		(HS_SIG_LABEL_LEN + 32 + ED25519_PK_LEN) /* 73 */
#define HS_KDF_R_HS		"r hs"
#define HS_KDF_I_HS		"i hs"
#define HS_KDF_I2R		"i2r"
#define HS_KDF_R2I		"r2i"
#define HS_HASH_LEN		32
#define HS_KEY_LEN		32
#define AEAD_TAG_LEN		16
#define AEAD_NONCE_LEN		12
#define HS_M1_LEN		X25519_LEN				/* 32 */
#define HS_M2_LEN		(X25519_LEN + ED25519_PK_LEN + \
				    ED25519_SIG_LEN + AEAD_TAG_LEN)	/* 144 */
#define HS_M3_LEN		(ED25519_PK_LEN + ED25519_SIG_LEN + \
				    AEAD_TAG_LEN)			/* 112 */
#define FRAME_HDR_LEN		2
#define HS_MAX_CTX_LEN		(sizeof(HS_CTX_E2E) - 1 + 16 + 1 + 255)

/* Records (4.3). */
#define REC_MAX_PLAINTEXT	16384	/* type byte included */
#define REC_MAX_PAYLOAD		(REC_MAX_PLAINTEXT - 1)
#define REC_MAX_CIPHERTEXT	(REC_MAX_PLAINTEXT + AEAD_TAG_LEN)	/* 16400 */
#define REC_MIN_CIPHERTEXT	(1 + AEAD_TAG_LEN)
#define REC_MAX_FRAME		(FRAME_HDR_LEN + REC_MAX_CIPHERTEXT)
#define REC_TYPE_DATA		0
#define REC_TYPE_CLOSE		1
#define REC_TYPE_PATH		2	/* direct paths only: see DIRECT_* */

/* Control message field limits (4.4). */
#define NAME_MAX_LEN		63
#define ALPN_MAX_LEN		32
#define ALPN_MAX_COUNT		8
#define DESC_MAX_LEN		256
#define REASON_MAX_LEN		256
#define ADDR_MAX_COUNT		8
#define LEASE_ID_LEN		16
#define SESSION_ID_LEN		16
#define TOKEN_LEN		32
#define BAD_REQUESTS_MAX	3	/* in a row, then the connection closes */
#define DEFAULT_ALPN		"tcp"

/* Timers (seconds). */
#define HANDSHAKE_DEADLINE	10
#define TOKEN_LIFETIME		15
#define KEEPALIVE_INTERVAL	30
#define DEFAULT_IDLE_TIMEOUT	90

/* Data connections (4.5): preamble then the token, nothing more. */
#define DATA_PREAMBLE_TOTAL	(PREAMBLE_LEN + TOKEN_LEN)	/* 37 */

/*
 * Direct paths (relay-protocol(7), DIRECT PATHS): a TCP connection
 * between the two clients opens with "RLY" 0x01 "P" and the session id
 * from each side; the requester's first record on the one it chooses is
 * a path record (type 2) whose payload is DIRECT_CHOSEN.
 */
#define PREAMBLE_PEER		'P'
#define DIRECT_PREAMBLE_TOTAL	(PREAMBLE_LEN + SESSION_ID_LEN)	/* 21 */
#define DIRECT_CHOSEN		0x01
#define DIRECT_WINDOW_MS	450	/* the requester's wait for one */

#endif /* RELAY_PROTOCOL_H */
