/*
 * Who is asking: passwords (crypt(3) yescrypt hashes), login tokens (our
 * own ES256 JWTs with the login audience) and the cache of verified login
 * tokens. Every use re-checks that the principal exists and is enabled,
 * and for a token made from a service-account key, that the key does.
 */
#ifndef REGAUTHD_AUTHN_H
#define REGAUTHD_AUTHN_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "util.h"

struct config;
struct principal;
struct logincache;

#define AUTHN_SESSION_MAX	64	/* bytes of a session name */

struct identity {
	const struct principal	*principal;	/* NULL: anonymous; a session: its role */
	char			 method[16];	/* password, key, oidc */
	int64_t			 not_after;	/* from a login token: its exp */
	char			 key_id[64];	/* method "key": the key; else "" */
	/*
	 * A federated session (a role assumed with an OIDC token): its name,
	 * "assumed-role/ROLE/SESSION", its ARN
	 * arn:regauth:sts::ACCOUNT:assumed-role/ROLE/SESSION, and the context
	 * keys it carries into every decision ("oidc:CLAIM",
	 * "aws:FederatedProvider"; a reference). Empty and NULL otherwise.
	 */
	char			 session[AUTHN_SESSION_MAX + 1];
	char			 session_name[160];
	char			 session_arn[320];
	json_t			*claims;
};

/* Drop what an identity holds (its claims); it is then anonymous. */
void authn_identity_clear(struct identity *id);
/* The short form tokens name it by: "user/alice", "assumed-role/R/S", "". */
const char *authn_subject(const struct identity *id);
/* The ARN policies see ("anonymous" when there is no principal). */
const char *authn_arn(const struct identity *id);

/*
 * A session name as CONTRACT.md derives it from a token's sub: every
 * character outside [A-Za-z0-9+=,.@-] becomes '-', cut to 64 bytes.
 */
void authn_session_from_sub(const char *sub, char out[AUTHN_SESSION_MAX + 1]);
/* Is `s` a session name a client may ask for: 2..64 of [A-Za-z0-9+=,.@-]? */
int authn_valid_session(const char *s);

/*
 * Fill `id` as the session SESSION of role `p`, carrying `flat` (claims
 * as oidc_flatten_claims made them with an empty prefix; borrowed) from
 * `issuer`. -1 when out of memory or the names do not fit.
 */
int authn_session_identity(const struct config *cfg,
    const struct principal *p, const char *session, const char *issuer,
    const json_t *flat, struct identity *id, struct err *e);

/* A new PHC hash of `password` (yescrypt), malloc'ed; NULL on failure. */
char *authn_hash_password(const char *password, struct err *e);

/*
 * Credentials from Basic auth or a password grant. `secret` may be a
 * password (then `user` names the user) or a login token (any `user`).
 * Returns 0 and fills `id`, or -1 (bad credentials; `e` says why, for the
 * log only: never sent to clients).
 */
int authn_credentials(struct config *cfg, const char *user,
    const char *secret, struct identity *id, struct err *e);

/*
 * A password alone (never a login token): the user's yescrypt hash, or the
 * same cost spent on a dummy hash for an unknown user. 0 fills `id`; -1 as
 * authn_credentials.
 */
int authn_password(struct config *cfg, const char *user, const char *secret,
    struct identity *id, struct err *e);

/* A login token (refresh token, Basic password) alone. */
int authn_login_token(struct config *cfg, const char *token,
    struct identity *id, struct err *e);

/*
 * Issue a login token for `p`, valid `ttl` seconds but never past
 * `not_after` (when not 0): a login token obtained with a login token
 * cannot outlive it. malloc'ed.
 */
char *authn_issue_login_token(const struct config *cfg,
    const struct principal *p, const char *method, int64_t ttl,
    int64_t not_after, struct err *e);

/*
 * The same for an authenticated identity: its method, its key_id (a login
 * token made from a key-made login token stays bound to that key, so
 * disabling the key revokes both) and its session. Never past
 * id->not_after when set.
 */
char *authn_issue_login_token_for(const struct config *cfg,
    const struct identity *id, int64_t ttl, struct err *e);

/*
 * A login token from service-account key `key_id` of `p` (auth_method
 * "key", claim "key_id"): accepted only while that key exists and is
 * enabled.
 */
char *authn_issue_key_login_token(const struct config *cfg,
    const struct principal *p, const char *key_id, int64_t ttl,
    struct err *e);

/*
 * Decode "Basic BASE64(user:pass)". Both outputs malloc'ed; the password is
 * a secret (util_secure_free_str). -1 on anything malformed.
 */
int authn_parse_basic(const char *header, char **user, char **pass);

/* Does this look like one of our JWTs (three base64url parts)? */
int authn_looks_like_jwt(const char *s);

/*
 * Verified passwords are remembered this long (per configuration snapshot,
 * keyed by a salted HMAC of user and password), so that the twenty token
 * requests of one push cost one yescrypt.
 */
#define AUTHN_PWCACHE_TTL	60

/* yescrypt computations so far (tests, metrics). */
uint64_t authn_password_hashes(void);

struct logincache *authn_cache_new(size_t slots);
void authn_cache_free(struct logincache *c);

#endif
