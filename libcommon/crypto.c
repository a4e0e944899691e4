/* SPDX-License-Identifier: ISC */
/*
 * crypto.c: Ed25519 identities and their IDs (DESIGN 4.1), plus the small
 * primitives the handshake and records share (X25519, HKDF, AEAD, SHA-256).
 *
 * Key files are PKCS#8 PEM, mode 0600; one with any group or other bit,
 * or that is not a regular file, is refused. A save never replaces an
 * existing file. Secrets are wiped with OPENSSL_cleanse.
 */
#include "config.h"

#include <sys/random.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/pem.h>

#include "crypto.h"
#include "util.h"
#include "crypto_int.h"

#define KEYFILE_MAX	(16 * 1024)

static const char b32_alphabet[] = "abcdefghijklmnopqrstuvwxyz234567";

void
crypto_wipe(void *p, size_t len)
{
	OPENSSL_cleanse(p, len);
}

/*
 * The kernel's generator, asked directly: no generator state of our own
 * to seed, and none of OpenSSL's, whose first use costs a process more
 * than half a millisecond of CPU (a relay-client per session pays it).
 */
int
crypto_random(void *p, size_t len)
{
	uint8_t	*b = p;
	ssize_t	 n;

	while (len > 0) {
		n = getrandom(b, len, 0);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		b += n;
		len -= (size_t)n;
	}
	return 0;
}

int
sha256_parts(uint8_t out[32], const void *a, size_t alen, const void *b,
    size_t blen, const void *c, size_t clen)
{
	EVP_MD_CTX	*md;
	unsigned int	 olen = 0;
	int		 ok;

	if ((md = EVP_MD_CTX_new()) == NULL)
		return -1;
	ok = EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
	    (alen == 0 || EVP_DigestUpdate(md, a, alen) == 1) &&
	    (blen == 0 || EVP_DigestUpdate(md, b, blen) == 1) &&
	    (clen == 0 || EVP_DigestUpdate(md, c, clen) == 1) &&
	    EVP_DigestFinal_ex(md, out, &olen) == 1 && olen == 32;
	EVP_MD_CTX_free(md);
	return ok ? 0 : -1;
}

/*
 * SHA-256(key || data): an index for secrets (tokens) in a lookup table,
 * so the time a lookup takes says nothing about the secret itself.
 */
int
crypto_keyed_hash(uint8_t out[32], const uint8_t key[32], const void *data,
    size_t len)
{
	return sha256_parts(out, key, 32, data, len, NULL, 0);
}

/* Equal in constant time: 1 when they are. */
int
crypto_equal(const void *a, const void *b, size_t len)
{
	return CRYPTO_memcmp(a, b, len) == 0;
}

/* RFC 5869 Extract or Expand alone, as the protocol uses them. */
static int
hkdf_mode(int mode, uint8_t *out, size_t outlen, const uint8_t *key,
    size_t keylen, const uint8_t *saltinfo, size_t silen)
{
	EVP_KDF		*kdf;
	EVP_KDF_CTX	*kctx;
	OSSL_PARAM	 params[5], *p = params;
	int		 ok;

	if ((kdf = EVP_KDF_fetch(NULL, "HKDF", NULL)) == NULL)
		return -1;
	kctx = EVP_KDF_CTX_new(kdf);
	EVP_KDF_free(kdf);
	if (kctx == NULL)
		return -1;
	*p++ = OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode);
	*p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
	    (char *)"SHA256", 0);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
	    (void *)(uintptr_t)key, keylen);
	if (mode == EVP_KDF_HKDF_MODE_EXTRACT_ONLY)
		*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT,
		    (void *)(uintptr_t)saltinfo, silen);
	else
		*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO,
		    (void *)(uintptr_t)saltinfo, silen);
	*p = OSSL_PARAM_construct_end();
	ok = EVP_KDF_derive(kctx, out, outlen, params) == 1;
	EVP_KDF_CTX_free(kctx);
	return ok ? 0 : -1;
}

int
hkdf_extract(uint8_t prk[32], const uint8_t salt[32], const uint8_t *ikm,
    size_t ikmlen)
{
	return hkdf_mode(EVP_KDF_HKDF_MODE_EXTRACT_ONLY, prk, 32, ikm, ikmlen,
	    salt, 32);
}

int
hkdf_expand(uint8_t *out, size_t outlen, const uint8_t prk[32],
    const char *label)
{
	return hkdf_mode(EVP_KDF_HKDF_MODE_EXPAND_ONLY, out, outlen, prk, 32,
	    (const uint8_t *)label, strlen(label));
}

int
x25519_keypair(const uint8_t sk[32], uint8_t pk[32])
{
	EVP_PKEY	*k;
	size_t		 len = 32;
	int		 ok;

	k = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, sk, 32);
	if (k == NULL)
		return -1;
	ok = EVP_PKEY_get_raw_public_key(k, pk, &len) == 1 && len == 32;
	EVP_PKEY_free(k);
	return ok ? 0 : -1;
}

/*
 * Our key pair as an EVP_PKEY. Given the public half, OpenSSL does not
 * compute it again from the private one (a scalar multiplication, as
 * costly as the exchange itself); pk only saves that work: the exchange
 * uses sk alone.
 */
static EVP_PKEY *
x25519_own(const uint8_t sk[32], const uint8_t pk[32])
{
	EVP_PKEY_CTX	*pc;
	EVP_PKEY	*k = NULL;
	OSSL_PARAM	 p[3];

	if ((pc = EVP_PKEY_CTX_new_from_name(NULL, "X25519", NULL)) == NULL)
		return NULL;
	p[0] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PRIV_KEY,
	    (void *)(uintptr_t)sk, 32);
	p[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY,
	    (void *)(uintptr_t)pk, 32);
	p[2] = OSSL_PARAM_construct_end();
	if (EVP_PKEY_fromdata_init(pc) != 1 ||
	    EVP_PKEY_fromdata(pc, &k, EVP_PKEY_KEYPAIR, p) != 1)
		k = NULL;
	EVP_PKEY_CTX_free(pc);
	return k;
}

/*
 * X25519(sk, peer), pk being sk's public key; fails on an all-zero
 * result (a low-order point).
 */
int
x25519_shared(uint8_t out[32], const uint8_t sk[32], const uint8_t pk[32],
    const uint8_t peer[32])
{
	EVP_PKEY	*own = NULL, *pub = NULL;
	EVP_PKEY_CTX	*ctx = NULL;
	size_t		 len = 32;
	uint8_t		 acc = 0;
	int		 i, ok = 0;

	own = x25519_own(sk, pk);
	pub = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, peer, 32);
	if (own == NULL || pub == NULL)
		goto done;
	if ((ctx = EVP_PKEY_CTX_new(own, NULL)) == NULL)
		goto done;
	/*
	 * OpenSSL itself refuses an all-zero output; either way the
	 * result is the same failure, checked here once more.
	 */
	if (EVP_PKEY_derive_init(ctx) != 1 ||
	    EVP_PKEY_derive_set_peer_ex(ctx, pub, 0) != 1 ||
	    EVP_PKEY_derive(ctx, out, &len) != 1 || len != 32)
		goto done;
	for (i = 0; i < 32; i++)
		acc |= out[i];
	ok = acc != 0;
done:
	if (!ok)
		OPENSSL_cleanse(out, 32);
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(own);
	EVP_PKEY_free(pub);
	return ok ? 0 : -1;
}

/*
 * One-shot ChaCha20-Poly1305 with a zero nonce, as the handshake uses it
 * (each handshake key seals exactly one message). enc seals in and puts
 * the tag in tag; else it opens in against tag.
 */
static int
aead_once(int enc, const uint8_t key[32], const uint8_t *ad, size_t adlen,
    const uint8_t *in, size_t inlen, uint8_t *out, uint8_t *tag)
{
	static const uint8_t	 nonce[AEAD_NONCE_LEN];
	EVP_CIPHER_CTX		*c;
	int			 n, ok;

	if ((c = EVP_CIPHER_CTX_new()) == NULL)
		return -1;
	ok = EVP_CipherInit_ex(c, EVP_chacha20_poly1305(), NULL, key,
	    nonce, enc) == 1 &&
	    EVP_CipherUpdate(c, NULL, &n, ad, (int)adlen) == 1 &&
	    EVP_CipherUpdate(c, out, &n, in, (int)inlen) == 1 &&
	    (enc || EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG,
	    AEAD_TAG_LEN, tag) == 1) &&
	    EVP_CipherFinal_ex(c, out + n, &n) == 1 &&
	    (!enc || EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG,
	    AEAD_TAG_LEN, tag) == 1);
	EVP_CIPHER_CTX_free(c);
	return ok ? 0 : -1;
}

int
aead_seal_once(const uint8_t key[32], const uint8_t *ad, size_t adlen,
    const uint8_t *in, size_t inlen, uint8_t *out)
{
	return aead_once(1, key, ad, adlen, in, inlen, out, out + inlen);
}

int
aead_open_once(const uint8_t key[32], const uint8_t *ad, size_t adlen,
    const uint8_t *in, size_t inlen, uint8_t *out)
{
	uint8_t	 tag[AEAD_TAG_LEN];

	if (inlen < AEAD_TAG_LEN)
		return -1;
	inlen -= AEAD_TAG_LEN;
	memcpy(tag, in + inlen, AEAD_TAG_LEN);
	if (aead_once(0, key, ad, adlen, in, inlen, out, tag) == -1) {
		OPENSSL_cleanse(out, inlen);
		return -1;
	}
	return 0;
}

/* ID(pk) = lower(base32(SHA-256("relay-id-v1" || pk)[0:20])). */
void
id_from_pk(const uint8_t pk[ED25519_PK_LEN], char out[ID_BUFSZ])
{
	uint8_t		 d[32];
	uint32_t	 acc = 0;
	int		 bits = 0, o = 0;
	size_t		 i;

	if (sha256_parts(d, ID_LABEL, sizeof(ID_LABEL) - 1, pk,
	    ED25519_PK_LEN, NULL, 0) == -1) {
		out[0] = '\0';
		return;
	}
	for (i = 0; i < ID_HASH_BYTES; i++) {
		acc = (acc << 8) | d[i];
		bits += 8;
		while (bits >= 5) {
			out[o++] = b32_alphabet[(acc >> (bits - 5)) & 31];
			bits -= 5;
		}
	}
	out[o] = '\0';
}

/* Accept an ID in either case; write it in canonical lower case. */
int
id_normalize(const char *in, char out[ID_BUFSZ])
{
	size_t	 i;
	char	 c;

	if (in == NULL || strnlen(in, ID_STRLEN + 1) != ID_STRLEN)
		return -1;
	for (i = 0; i < ID_STRLEN; i++) {
		c = in[i];
		if (c >= 'A' && c <= 'Z')
			c = c - 'A' + 'a';
		if (!((c >= 'a' && c <= 'z') || (c >= '2' && c <= '7')))
			return -1;
		out[i] = c;
	}
	out[ID_STRLEN] = '\0';
	return 0;
}

/* ident takes k; an unfit k is freed and ident left cleared. */
static int
identity_fill(struct identity *ident, EVP_PKEY *k)
{
	size_t	 len = ED25519_PK_LEN;

	if (EVP_PKEY_get_id(k) == EVP_PKEY_ED25519 &&
	    EVP_PKEY_get_raw_public_key(k, ident->pk, &len) == 1 &&
	    len == ED25519_PK_LEN) {
		ident->pkey = k;
		id_from_pk(ident->pk, ident->id);
		if (ident->id[0] != '\0')
			return 0;
	}
	EVP_PKEY_free(k);
	memset(ident, 0, sizeof(*ident));
	return -1;
}

/* A new key from the kernel's generator, like every other secret here. */
int
identity_generate(struct identity *ident)
{
	uint8_t	 seed[ED25519_SEED_LEN];
	int	 r;

	memset(ident, 0, sizeof(*ident));
	if (crypto_random(seed, sizeof(seed)) == -1)
		return -1;
	r = identity_from_seed(ident, seed);
	crypto_wipe(seed, sizeof(seed));
	return r;
}

int
identity_from_seed(struct identity *ident, const uint8_t seed[ED25519_SEED_LEN])
{
	EVP_PKEY	*k;

	memset(ident, 0, sizeof(*ident));
	k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed,
	    ED25519_SEED_LEN);
	if (k == NULL)
		return -1;
	return identity_fill(ident, k);
}

#define PEM_ENCRYPTED_LABEL	"-----BEGIN ENCRYPTED PRIVATE KEY-----"

/* An encrypted key is refused, never a prompt on a terminal. */
static int
no_passphrase(char *buf, int size, int rwflag, void *arg)
{
	return -1;
}

/*
 * An Ed25519 key as identity_save() writes it: PKCS#8 in PEM, one line
 * of base64 for the 48 bytes of DER, a fixed prefix and the 32-byte
 * seed. Anything else (or NULL here) goes through PEM_read_bio_PrivateKey,
 * whose first use makes OpenSSL build every decoder it has: milliseconds
 * for each relay-client process.
 */
#define PEM_ED25519_HEAD	"-----BEGIN PRIVATE KEY-----\n"
#define PEM_ED25519_TAIL	"\n-----END PRIVATE KEY-----\n"
#define PEM_ED25519_B64		64
#define PEM_ED25519_LEN		(sizeof(PEM_ED25519_HEAD) - 1 + \
				    PEM_ED25519_B64 + sizeof(PEM_ED25519_TAIL) - 1)

static EVP_PKEY *
ed25519_pem_fast(const char *pem)
{
	static const uint8_t	 prefix[16] = {
		0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06,
		0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20
	};
	const char		*b64 = pem + sizeof(PEM_ED25519_HEAD) - 1;
	uint8_t			 der[PEM_ED25519_B64 / 4 * 3];
	EVP_PKEY		*k = NULL;
	int			 i;

	if (memcmp(pem, PEM_ED25519_HEAD, sizeof(PEM_ED25519_HEAD) - 1) != 0 ||
	    memcmp(b64 + PEM_ED25519_B64, PEM_ED25519_TAIL,
	    sizeof(PEM_ED25519_TAIL) - 1) != 0)
		return NULL;
	for (i = 0; i < PEM_ED25519_B64; i++)
		if (b64[i] == '=' || b64[i] == '\n')
			return NULL;	/* not 48 bytes: the general way */
	if (EVP_DecodeBlock(der, (const unsigned char *)b64,
	    PEM_ED25519_B64) == (int)sizeof(der) &&
	    memcmp(der, prefix, sizeof(prefix)) == 0)
		k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL,
		    der + sizeof(prefix), ED25519_SEED_LEN);
	OPENSSL_cleanse(der, sizeof(der));
	return k;
}

int
identity_load(struct identity *ident, const char *path, char *err,
    size_t errlen)
{
	struct stat	 st;
	EVP_PKEY	*k = NULL;
	BIO		*bio = NULL;
	char		*mem = NULL;
	ssize_t		 n;
	size_t		 got = 0;
	int		 fd, ret = -1;

	memset(ident, 0, sizeof(*ident));
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1) {
		if (errno == ELOOP)
			snprintf(err, errlen, "%s: a symbolic link: refusing "
			    "it (name the key file itself)", path);
		else
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto done;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		goto done;
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		snprintf(err, errlen, "%s: permissions %04o are too open: "
		    "a private key must not be accessible by others "
		    "(chmod 600 %s)", path, (unsigned)(st.st_mode & 07777),
		    path);
		goto done;
	}
	if (st.st_size <= 0 || st.st_size > KEYFILE_MAX) {
		snprintf(err, errlen, "%s: not a key file (size %lld)", path,
		    (long long)st.st_size);
		goto done;
	}
	if ((mem = malloc(st.st_size)) == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		goto done;
	}
	while (got < (size_t)st.st_size) {
		n = read(fd, mem + got, st.st_size - got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(err, errlen, "%s: short read", path);
			goto done;
		}
		got += n;
	}
	/* the file keygen writes, without OpenSSL's decoders (costly);
	 * else the first private-key block, and no passphrase is asked for */
	if (got == PEM_ED25519_LEN && (k = ed25519_pem_fast(mem)) != NULL)
		;
	else if ((bio = BIO_new_mem_buf(mem, (int)got)) == NULL ||
	    (k = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase,
	    NULL)) == NULL) {
		if (memmem(mem, got, PEM_ENCRYPTED_LABEL,
		    sizeof(PEM_ENCRYPTED_LABEL) - 1) != NULL)
			snprintf(err, errlen, "%s: an encrypted key, which is "
			    "not supported (decrypt it: openssl pkey -in %s "
			    "-out NEWFILE)", path, path);
		else
			snprintf(err, errlen, "%s: not a PEM private key "
			    "(expected PKCS#8 Ed25519, as written by "
			    "relay-client keygen)", path);
		goto done;
	}
	if (identity_fill(ident, k) == -1) {
		snprintf(err, errlen, "%s: not an Ed25519 key", path);
		goto done;
	}
	ret = 0;
done:
	BIO_free(bio);
	if (mem != NULL) {
		OPENSSL_cleanse(mem, got);
		free(mem);
	}
	close(fd);
	return ret;
}

/*
 * Write the key to a temporary file beside path, then link it into place:
 * an existing file is never replaced and a crash leaves no half key.
 */
/*
 * Load the identity at path, or create it (and the directories above it,
 * mode 0700) when it does not exist yet: a daemon's first start.
 */
int
identity_setup(struct identity *ident, const char *path, int *created,
    char *err, size_t errlen)
{
	*created = 0;
	if (access(path, F_OK) == -1 && errno == ENOENT) {
		if (mkdir_parent(path, 0700) == -1) {
			snprintf(err, errlen, "cannot create the directory of "
			    "%s: %s", path, strerror(errno));
			return -1;
		}
		if (identity_generate(ident) == -1) {
			snprintf(err, errlen, "cannot generate a key");
			return -1;
		}
		if (identity_save(ident, path, err, errlen) == -1)
			return -1;
		*created = 1;
		return 0;
	}
	return identity_load(ident, path, err, errlen);
}

int
identity_save(const struct identity *ident, const char *path, char *err,
    size_t errlen)
{
	char		 tmp[4096];
	BIO		*bio = NULL;
	char		*pem;
	long		 pemlen;
	ssize_t		 n;
	size_t		 off = 0;
	int		 fd = -1, ret = -1;

	if (ident->pkey == NULL) {
		snprintf(err, errlen, "no private key to save");
		return -1;
	}
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path,
	    (long)getpid()) >= sizeof(tmp)) {
		snprintf(err, errlen, "%s: path too long", path);
		return -1;
	}
	if ((bio = BIO_new(BIO_s_mem())) == NULL ||
	    PEM_write_bio_PrivateKey(bio, ident->pkey, NULL, NULL, 0, NULL,
	    NULL) != 1) {
		snprintf(err, errlen, "cannot encode the key");
		goto done;
	}
	pemlen = BIO_get_mem_data(bio, &pem);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    0600);
	if (fd == -1) {
		/* name the file asked for, not the temporary one */
		snprintf(err, errlen, "cannot create %s: %s%s", path,
		    strerror(errno), errno == ENOENT ?
		    " (its directory must exist)" : "");
		goto done;
	}
	while (off < (size_t)pemlen) {
		n = write(fd, pem + off, pemlen - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
			goto done;
		}
		off += n;
	}
	if (fsync(fd) == -1) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		goto done;
	}
	if (link(tmp, path) == -1) {
		if (errno == EEXIST)
			snprintf(err, errlen, "%s already exists: refusing to "
			    "overwrite a key (remove it first if you mean it)",
			    path);
		else
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto done;
	}
	ret = 0;
done:
	if (fd != -1) {
		close(fd);
		unlink(tmp);
	}
	BIO_free(bio);
	return ret;
}

int
identity_sign(const struct identity *ident, const uint8_t *msg, size_t len,
    uint8_t sig[ED25519_SIG_LEN])
{
	EVP_MD_CTX	*md;
	size_t		 siglen = ED25519_SIG_LEN;
	int		 ok;

	if (ident->pkey == NULL || (md = EVP_MD_CTX_new()) == NULL)
		return -1;
	ok = EVP_DigestSignInit(md, NULL, NULL, NULL, ident->pkey) == 1 &&
	    EVP_DigestSign(md, sig, &siglen, msg, len) == 1 &&
	    siglen == ED25519_SIG_LEN;
	EVP_MD_CTX_free(md);
	return ok ? 0 : -1;
}

/*
 * The y coordinates (little-endian, sign bit masked off) of the points of
 * order 1, 2, 4 and 8 (relay-protocol(7), Signatures): a public key with
 * one of them lets anyone sign, so it proves nothing.
 */
static const uint8_t small_order_y[][ED25519_PK_LEN] = {
	{ 0 },						/* 0: order 4 */
	{ 1 },						/* 1: order 1 */
	{ 0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	  0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	  0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f },
							/* p-1: order 2 */
	{ 0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4,
	  0x89, 0xf2, 0xef, 0x98, 0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6,
	  0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53, 0xfc, 0x05 },
							/* order 8 */
	{ 0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b,
	  0x76, 0x0d, 0x10, 0x67, 0x0f, 0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39,
	  0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac, 0x03, 0x7a },
							/* order 8 */
};

/*
 * A public key is usable when its y is canonical (below p = 2^255 - 19)
 * and it is not a point of small order (any sign bit).
 */
int
ed25519_pk_usable(const uint8_t pk[ED25519_PK_LEN])
{
	uint8_t	 y[ED25519_PK_LEN];
	size_t	 i;
	int	 high = 1;

	memcpy(y, pk, sizeof(y));
	y[31] &= 0x7f;
	/* y >= p: bytes 1..30 all ff, byte 31 7f, byte 0 at least ed */
	for (i = 1; i < 31; i++)
		if (y[i] != 0xff)
			high = 0;
	if (high && y[31] == 0x7f && y[0] >= 0xed)
		return 0;
	for (i = 0; i < sizeof(small_order_y) / sizeof(small_order_y[0]); i++)
		if (memcmp(y, small_order_y[i], sizeof(y)) == 0)
			return 0;
	return 1;
}

int
ed25519_verify(const uint8_t pk[ED25519_PK_LEN], const uint8_t *msg,
    size_t len, const uint8_t sig[ED25519_SIG_LEN])
{
	EVP_PKEY	*k;
	EVP_MD_CTX	*md;
	int		 ok = 0;

	/* OpenSSL takes these keys; the protocol does not */
	if (!ed25519_pk_usable(pk))
		return -1;
	k = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pk,
	    ED25519_PK_LEN);
	if (k == NULL)
		return -1;
	if ((md = EVP_MD_CTX_new()) != NULL) {
		ok = EVP_DigestVerifyInit(md, NULL, NULL, NULL, k) == 1 &&
		    EVP_DigestVerify(md, sig, ED25519_SIG_LEN, msg, len) == 1;
		EVP_MD_CTX_free(md);
	}
	EVP_PKEY_free(k);
	return ok ? 0 : -1;
}

void
identity_clear(struct identity *ident)
{
	EVP_PKEY_free(ident->pkey);
	memset(ident, 0, sizeof(*ident));
}

/*
 * The first call into OpenSSL, before anything else uses it. Its
 * configuration file is not read: the protocol's algorithms are fixed
 * and come from the default provider, so the file has nothing for us,
 * and a broken or hostile one cannot change what we run. Its error
 * strings are not loaded (nothing here prints OpenSSL's error queue),
 * and nothing is freed at exit (the memory goes with the process).
 * Each of the three cost a short-lived process such as relay-client
 * connect about 0.2 ms of CPU.
 */
int
crypto_setup(void)
{
	return OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CONFIG |
	    OPENSSL_INIT_NO_LOAD_CRYPTO_STRINGS | OPENSSL_INIT_NO_ATEXIT,
	    NULL) == 1 ? 0 : -1;
}

/*
 * OpenSSL sets up its algorithms on first use, and may open files for
 * it: a sandboxed process calls this before its sandbox, so that no
 * later first use needs a file. Every algorithm of the protocol is used
 * once here, on throwaway values.
 */
int
crypto_init(void)
{
	struct rec_layer	 rl;
	uint8_t			 k[32], pk[32], out[32], sig[ED25519_SIG_LEN];

	if (crypto_setup() == -1)
		return -1;
	memset(k, 7, sizeof(k));
	memset(sig, 0, sizeof(sig));
	if (x25519_keypair(k, pk) == -1 ||
	    sha256_parts(out, k, sizeof(k), NULL, 0, NULL, 0) == -1 ||
	    hkdf_extract(out, k, pk, sizeof(pk)) == -1 ||
	    hkdf_expand(out, sizeof(out), k, "init") == -1 ||
	    crypto_keyed_hash(out, k, pk, sizeof(pk)) == -1 ||
	    rec_init(&rl, k, k) == -1)
		return -1;
	rec_clear(&rl);
	(void)ed25519_verify(pk, k, sizeof(k), sig);	/* fails: fetched */
	crypto_wipe(k, sizeof(k));
	return 0;
}
