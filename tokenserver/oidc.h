/*
 * Trusted OIDC issuers (oidc/NAME.json), their keys, and the checks of a
 * CI or Kubernetes OIDC token (issue 5; POLICY.md "Roles and federation").
 *
 * Keys come from a local JWKS file (air-gapped clusters), loaded with the
 * configuration, or from the issuer's /.well-known/openid-configuration and
 * its jwks_uri, fetched with libcurl (TLS verified, timeouts, a size bound)
 * and cached process-wide by issuer URL: a reload does not forget them.
 */
#ifndef REGAUTHD_OIDC_H
#define REGAUTHD_OIDC_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "jws.h"
#include "util.h"

#define OIDC_TOKEN_MAX		16384	/* bytes of a subject token */
#define OIDC_LEEWAY		60	/* exp, nbf and iat, seconds */
#define OIDC_MAX_AUDIENCES	16
#define OIDC_JWKS_MAX		(256 * 1024)	/* bytes of a JWKS or discovery */
#define OIDC_JWKS_KEYS_MAX	64
#define OIDC_JWKS_TTL		3600	/* default cache lifetime, seconds */
#define OIDC_REFETCH_MIN	30	/* unknown kid: refetch at most this often */
#define OIDC_CLAIMS_MAX		128	/* flattened claims kept */
#define OIDC_CLAIM_VALUE_MAX	1024	/* bytes of one claim value */
#define OIDC_CLAIM_NAME_MAX	255	/* bytes of a flattened name, and of a prefix */

struct oidc_keys;	/* a parsed JWKS: public keys by kid (refcounted) */

/*
 * oidc/NAME.json: {"issuer": URL, "audiences": [AUD, ...],
 * "jwks_file": FILE, "ca_file": FILE, "jwks_cache_seconds": N}
 * FILE names are relative to DIR/oidc/ (the commands copy them there).
 */
struct oidc_issuer {
	char		 *name;		/* file name without .json */
	char		 *issuer;	/* exact URL, as tokens' iss must read */
	char		 *key_prefix;	/* issuer without "https://": AWS-style keys */
	char		**audiences;
	size_t		  naudiences;
	char		 *ca_file;	/* absolute path or NULL (system CAs) */
	int64_t		  cache_ttl;	/* fetched JWKS lifetime */
	struct oidc_keys *keys;		/* from jwks_file; NULL: fetched */
};

/*
 * An issuer URL regauth accepts: https://HOST[:PORT][/PATH] with no query,
 * fragment or user info, no trailing '/', at most 255 bytes; http:// only
 * for loopback hosts (127.0.0.0/8, ::1, localhost). -1 and `e` otherwise.
 */
int oidc_issuer_url_ok(const char *url, struct err *e);

/*
 * A file name for an issuer (its host, port and path with every other
 * character replaced by '-'; at most 64 bytes): "token.actions.
 * githubusercontent.com", "127.0.0.1-8443-oidc".
 */
void oidc_issuer_file_name(const char *url, char out[65]);

/*
 * Load oidc/NAME.json (parsed already as `doc`) of configuration directory
 * `dir`; a jwks_file is read and parsed now, so a bad one fails the load.
 * Errors start with "oidc/NAME.json: ".
 */
int oidc_issuer_load(struct oidc_issuer *out, const char *dir,
    const char *name, const json_t *doc, struct err *e);
void oidc_issuer_clear(struct oidc_issuer *iss);

/*
 * A JWKS document ({"keys": [...]}) to keys: RSA (n, e; at least 2048
 * bits) for RS256 and EC P-256 (x, y) for ES256; "alg", when present, must
 * be one of those and fit the key; "use", when present, must be "sig".
 * Keys of other types (and oct keys) are skipped, never used. At most
 * OIDC_JWKS_KEYS_MAX keys; at least one usable key.
 */
struct oidc_keys *oidc_keys_parse(const json_t *jwks, struct err *e);
struct oidc_keys *oidc_keys_ref(struct oidc_keys *k);
void oidc_keys_unref(struct oidc_keys *k);
/* The key named `kid` (NULL: the only key, when there is exactly one). */
EVP_PKEY *oidc_keys_find(const struct oidc_keys *k, const char *kid,
    enum jws_alg *alg);

/*
 * Verify an OIDC token against the trusted issuers: the issuer whose URL
 * equals the token's iss exactly; a signature by the key its kid names
 * (fetching the JWKS when the cache has none, is stale, or lacks the kid,
 * at most once per OIDC_REFETCH_MIN seconds per issuer), alg RS256 or
 * ES256 and the key's own; aud (string or array) holding one of the
 * issuer's audiences; exp > now - leeway; nbf (when present) <= now +
 * leeway; iat (when present) <= now + leeway; sub a non-empty string.
 * On success *which borrows the issuer and *claims is a new reference.
 * -1: refused; `e` says why (for the log; never the token).
 */
int oidc_verify(const struct oidc_issuer *issuers, size_t n,
    const char *token, int64_t now, const struct oidc_issuer **which,
    json_t **claims, struct err *e);

/*
 * Add the claims to context object `ctx` under `prefix` ("oidc:" or
 * "token.actions.githubusercontent.com:"): strings as they are, numbers and
 * booleans as their JSON text, arrays of scalars as arrays of strings,
 * objects flattened with '/' ("kubernetes.io/namespace"), nulls skipped. At
 * most OIDC_CLAIMS_MAX keys and values of OIDC_CLAIM_VALUE_MAX bytes, names
 * (without the prefix) of OIDC_CLAIM_NAME_MAX: -1 when the claims exceed
 * them, or when a key is set already; `ctx` is then left as it was.
 */
int oidc_flatten_claims(const json_t *claims, const char *prefix,
    json_t *ctx, struct err *e);

/* Forget every fetched JWKS (tests). */
void oidc_cache_reset(void);

#endif
