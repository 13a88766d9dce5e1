/*
 * JWS in compact form, built with OpenSSL directly (DESIGN.md: libjwt parses
 * the PEM on every call, 25x slower). ES256 signatures are raw R||S (64 bytes),
 * as registry 2.8 requires; RS256 is PKCS#1 v1.5 with SHA-256.
 */
#ifndef REGAUTHD_JWS_H
#define REGAUTHD_JWS_H

#include <stddef.h>
#include <openssl/evp.h>
#include <jansson.h>
#include "util.h"

/* Longest compact token jws_verify accepts, and jws_sign_new makes. */
#define JWS_MAX_TOKEN 16384

enum jws_alg {
	JWS_ES256,
	JWS_RS256,
};

/* "ES256" / "RS256"; -1 for anything else (never "none", never HS*). */
int jws_alg_parse(const char *name, enum jws_alg *out);
const char *jws_alg_name(enum jws_alg alg);

/*
 * base64url without padding. encode: returns the length written (out needs
 * 4*ceil(n/3)+1 bytes), NUL-terminated. decode: returns a malloc'ed buffer
 * (NUL-terminated for convenience) or NULL on any invalid character.
 */
size_t jws_b64url_encode(const unsigned char *in, size_t n, char *out);
char *jws_b64url_encode_new(const unsigned char *in, size_t n);
unsigned char *jws_b64url_decode_new(const char *in, size_t n, size_t *outlen);

/* RFC 7638 JWK thumbprint of a public key (base64url SHA-256, 43 chars). */
int jws_kid_thumbprint(EVP_PKEY *pkey, char out[64], struct err *e);
/* libtrust key ID: SHA-256 of DER SPKI, first 240 bits, base32, 12x4 with ':'. */
int jws_kid_libtrust(EVP_PKEY *pkey, char out[64], struct err *e);

/* The public key as a JWK object (kty, crv/x/y or n/e, kid, alg, use "sig"). */
json_t *jws_jwk_new(EVP_PKEY *pkey, enum jws_alg alg, const char *kid);

/*
 * A public JWK to a key: RSA (n, e; 2048 to 8192 bits, e odd) for RS256,
 * or EC P-256 (x, y of 32 bytes each, a point on the curve) for ES256.
 * "alg", when present, must name that algorithm; other members (kid, use,
 * private parts) are not looked at. *alg receives the key's algorithm.
 */
EVP_PKEY *jws_jwk_to_pkey(const json_t *jwk, enum jws_alg *alg,
    struct err *e);

/*
 * Sign: `header_b64` is the already-encoded protected header (keys.c builds
 * it once per key); `payload` is the claims JSON text. Returns the compact
 * token "h.p.s" (malloc'ed) or NULL.
 */
char *jws_sign_new(EVP_PKEY *key, enum jws_alg alg, const char *header_b64,
    const char *payload, size_t payload_len, struct err *e);

/*
 * Verify a compact token. `lookup` picks the public key from the decoded
 * header (it must check `alg` against the key's own algorithm: no alg
 * confusion, no "none"). On success *header and *claims are new references.
 * Bounds: token length at most 16 KiB.
 */
typedef EVP_PKEY *(*jws_key_lookup_fn)(void *arg, const json_t *header,
    enum jws_alg *alg);
int jws_verify(const char *token, size_t len, jws_key_lookup_fn lookup,
    void *arg, json_t **header, json_t **claims, struct err *e);

#endif
