/*
 * The key set of a configuration directory: the local CA (keys/ca.key,
 * keys/bundle.pem) and the signing key (keys/signing.key, keys/signing.crt)
 * that the CA certifies. Loaded once into EVP_PKEYs; the protected header
 * (alg, typ, kid, x5c) of each signing key is encoded once at load.
 */
#ifndef REGAUTHD_KEYS_H
#define REGAUTHD_KEYS_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <jansson.h>
#include "jws.h"

enum keys_kid_format {
	KEYS_KID_THUMBPRINT,	/* RFC 7638 (default; distribution 3) */
	KEYS_KID_LIBTRUST,	/* libtrust fingerprint (distribution 2.x) */
};

struct signing_key {
	EVP_PKEY	*pkey;
	enum jws_alg	 alg;
	char		 kid[64];
	X509		*cert;
	char		*header_b64;	/* {"alg","typ":"JWT","kid","x5c":[leaf]} */
};

struct keyset;

/*
 * Create keys/ under `dir` (0700): a CA (P-256, key 0600, 10 years), its
 * certificate as keys/bundle.pem, and a signing key of `alg` (0600) with a
 * CA-issued certificate (keys/signing.crt). Certificates are backdated by
 * one hour. Existing key files are an error.
 */
int keys_create(const char *dir, enum jws_alg alg, const char *issuer,
    struct err *e);

/*
 * Load dir/keys. Refuses a private key file readable by group or others.
 */
struct keyset *keys_load(const char *dir, enum keys_kid_format fmt,
    struct err *e);
void keys_free(struct keyset *ks);

/* The key that signs new tokens (borrowed). */
const struct signing_key *keys_active(const struct keyset *ks);

/*
 * A public key for verifying our own tokens (login tokens): the header's kid
 * must name one of our signing keys and its alg must match that key.
 * Suitable as a jws_key_lookup_fn (arg = the keyset).
 */
EVP_PKEY *keys_lookup(void *ks, const json_t *header, enum jws_alg *alg);

/* {"keys":[JWK...]} of every published key (new reference). */
json_t *keys_jwks(const struct keyset *ks);
/* The PEM bundle a registry's rootcertbundle holds (borrowed, NUL-terminated). */
const char *keys_bundle_pem(const struct keyset *ks);

/* Sign `claims` with the active key: a compact JWS (malloc'ed). */
char *keys_sign(const struct keyset *ks, const json_t *claims, struct err *e);

#endif
