/*
 * The key set of a configuration directory: the local CA (keys/ca.key,
 * keys/bundle.pem) and the signing keys that the CA certifies. Loaded once
 * into EVP_PKEYs; the protected header (alg, typ, kid, x5c) of each signing
 * key is encoded once at load.
 *
 * Layout (docs/regauthd.json.5): keys/signing.key + keys/signing.crt is the
 * first key; `keys rotate` adds keys/signing-N.key + .crt (N = 2, 3, ...)
 * and records every key in keys/keys.json:
 *   {"keys":[{"file":"signing","kid":K,"alg":"ES256","created":T,
 *             "activate_at":T}, ...]}
 * in order of activate_at (non-decreasing). Without keys.json the one key
 * is signing.key, active since forever. At time t the key that signs is
 * the last one with activate_at <= t; a key stops signing when the next one
 * activates and retires `retire_after` seconds later (the longest token
 * lifetime): until then it verifies login tokens and stays in the JWKS.
 */
#ifndef REGAUTHD_KEYS_H
#define REGAUTHD_KEYS_H

#include <stdint.h>
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
 * Load dir/keys: every key of keys/keys.json not retired now (keys retired
 * already are skipped; their files may be gone). Refuses a private key file
 * readable by group or others, a certificate not issued by a certificate
 * of bundle.pem, and a malformed keys.json (the message names
 * keys/keys.json[:LINE:COLUMN]). `retire_after`: the longest token
 * lifetime, seconds.
 */
struct keyset *keys_load(const char *dir, enum keys_kid_format fmt,
    int64_t retire_after, struct err *e);
void keys_free(struct keyset *ks);

/*
 * The key that signs new tokens now (borrowed): chosen by the clock on
 * every call, so a pending key starts signing at its activate_at without a
 * reload. No allocation, no lock.
 */
const struct signing_key *keys_active(const struct keyset *ks);

/*
 * A public key for verifying our own tokens (login tokens): the header's kid
 * must name one of our signing keys not retired now and its alg must match
 * that key. Suitable as a jws_key_lookup_fn (arg = the keyset).
 */
EVP_PKEY *keys_lookup(void *ks, const json_t *header, enum jws_alg *alg);

/* {"keys":[JWK...]} of every key not retired now, pending ones included. */
json_t *keys_jwks(const struct keyset *ks);

/*
 * The clock of every decision above and of the commands below (seconds
 * since the epoch). Tests set their own; NULL restores the real one. Set it
 * before any other thread uses a key set.
 */
void keys_set_clock(int64_t (*now)(void));

struct keys_rotate_args {
	int		 alg;		/* enum jws_alg, or -1: as the active key */
	int64_t		 activate_after; /* seconds from now, >= 0 */
	int64_t		 retire_after;	/* the longest token lifetime */
	const char	*issuer;	/* for the certificate's CN */
	enum keys_kid_format fmt;	/* the kid recorded in keys.json */
};

/*
 * `regauthd keys rotate`: a new signing key (0600) with a certificate
 * issued by keys/ca.key (and the certificate of bundle.pem that matches
 * it), recorded in keys/keys.json (written atomically) to sign from now +
 * activate_after; then keys retired by now are dropped from keys.json and
 * their files removed. Refused while a key is still pending. Returns
 * {"file","kid","alg","created","activate_at","pruned":[FILE...]} (new
 * reference) or NULL.
 */
json_t *keys_rotate(const char *dir, const struct keys_rotate_args *a,
    struct err *e);

/*
 * `regauthd keys prune`: drop retired keys from keys.json and remove their
 * files. Returns the array of removed file names (new reference) or NULL.
 */
json_t *keys_prune(const char *dir, int64_t retire_after, struct err *e);

/*
 * `regauthd keys list`: [{"file","kid","alg","state","created",
 * "activate_at","retire_at"}] in keys.json order, state one of "active",
 * "pending", "previous" (stopped signing, still verifying) and "retired";
 * retire_at is null for a key that has not stopped signing. Reads only
 * certificates, never a private key.
 */
json_t *keys_list(const char *dir, enum keys_kid_format fmt,
    int64_t retire_after, struct err *e);
/* The PEM bundle a registry's rootcertbundle holds (borrowed, NUL-terminated). */
const char *keys_bundle_pem(const struct keyset *ks);

/* Sign `claims` with the active key: a compact JWS (malloc'ed). */
char *keys_sign(const struct keyset *ks, const json_t *claims, struct err *e);

#endif
