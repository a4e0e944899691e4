/* SPDX-License-Identifier: ISC */
/*
 * crypto_int.h: primitives shared by crypto.c, handshake.c and record.c;
 * not for use outside libcommon's crypto files.
 */
#ifndef RELAY_CRYPTO_INT_H
#define RELAY_CRYPTO_INT_H

#include <stddef.h>
#include <stdint.h>

int	sha256_parts(uint8_t out[32], const void *, size_t, const void *,
	    size_t, const void *, size_t);
int	hkdf_extract(uint8_t prk[32], const uint8_t salt[32], const uint8_t *,
	    size_t);
int	hkdf_expand(uint8_t *, size_t, const uint8_t prk[32], const char *);
int	x25519_keypair(const uint8_t sk[32], uint8_t pk[32]);
int	x25519_shared(uint8_t out[32], const uint8_t sk[32],
	    const uint8_t pk[32], const uint8_t peer[32]);
int	aead_seal_once(const uint8_t key[32], const uint8_t *, size_t,
	    const uint8_t *, size_t, uint8_t *);
int	aead_open_once(const uint8_t key[32], const uint8_t *, size_t,
	    const uint8_t *, size_t, uint8_t *);

#endif /* RELAY_CRYPTO_INT_H */
