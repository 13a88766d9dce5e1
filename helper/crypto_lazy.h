/*
 * crypto_lazy: libjwt and libcrypto, opened with dlopen on first use. Only
 * signing an assertion (source_key) and hashing an OIDC token's claims
 * (source_oidc) need them; a cached `get`, `list`, `erase` and `version`
 * never load them (their load and constructors cost more than the rest of
 * a cached answer).
 */
#ifndef HELPER_CRYPTO_LAZY_H
#define HELPER_CRYPTO_LAZY_H

#include <stddef.h>

#include <jwt.h>

#include "util.h"

/* The libjwt 1.10 functions the helper calls, typed from <jwt.h>. */
struct crypto_lazy_jwt {
	__typeof__(jwt_new) *new;
	__typeof__(jwt_set_alg) *set_alg;
	__typeof__(jwt_add_header) *add_header;
	__typeof__(jwt_add_grant) *add_grant;
	__typeof__(jwt_add_grant_int) *add_grant_int;
	__typeof__(jwt_encode_str) *encode_str;
	__typeof__(jwt_free) *free;
};

/* libjwt, loaded on the first call (borrowed); NULL with e set if missing. */
const struct crypto_lazy_jwt *crypto_lazy_jwt(struct err *e);
/* n bytes from libcrypto's RAND_bytes; -1 with e set. */
int crypto_lazy_random(void *buf, size_t n, struct err *e);
/* The SHA-256 of n bytes into md; -1 with e set. */
int crypto_lazy_sha256(const void *p, size_t n, unsigned char md[32],
    struct err *e);

#endif
