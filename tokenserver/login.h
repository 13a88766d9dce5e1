/*
 * POST /v1/login with a service-account assertion (RFC 7523 JWT bearer
 * grant): the checks of the assertion, and the replay cache of its jti.
 * And with an OIDC token (RFC 8693 token exchange) for a role.
 */
#ifndef REGAUTHD_LOGIN_H
#define REGAUTHD_LOGIN_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "authn.h"
#include "oidc.h"
#include "policy/policy.h"
#include "util.h"

struct config;
struct principal;

#define LOGIN_ASSERTION_MAX	8192	/* bytes of an assertion */
#define LOGIN_ASSERTION_TTL	300	/* exp - iat, and exp - now, at most */
#define LOGIN_IAT_LEEWAY	60	/* iat may be this far in the future */
#define LOGIN_JTI_MAX		128
#define LOGIN_REPLAY_SLOTS	65536	/* jti remembered at once */

/*
 * Check an assertion against `cfg`: header alg ES256 and kid naming an
 * enabled key of the enabled service account that iss names; iss == sub;
 * aud the server's issuer (a string, or an array holding it); iat at most
 * LOGIN_IAT_LEEWAY s ahead; now < exp <= iat + 300 and exp <= now + 300;
 * a jti of 1..128 bytes never seen before (it is then remembered until
 * exp). On success *p borrows the principal from `cfg` and key_id holds the
 * key's id. -1: refused, `e` says why (for the log; never a secret). -2:
 * refused because the shared replay cache (Redis) is unavailable: the
 * assertion may be good; the client should try again later.
 */
int login_assertion_check(struct config *cfg, const char *assertion,
    const struct principal **p, char key_id[64], struct err *e);

/*
 * The whole grant: check the assertion and answer the JSON of a 200
 * ({"access_token","token_type","expires_in","principal"}, new reference),
 * or NULL with *status 401 (refused), 503 (the shared replay cache is
 * unavailable) or 500, and `e` saying why. *p as above, set on success.
 */
json_t *login_assertion(struct config *cfg, const char *assertion,
    const struct principal **p, int *status, struct err *e);

/*
 * The replay cache: it lives outside the configuration snapshot, so a
 * reload does not forget a jti. Record `sub`+`jti` until `exp`: 0 if new,
 * -1 if seen before or if the cache is full of unexpired entries (then
 * refused, never evicted: `e` says which). Thread-safe.
 */
int login_replay_record(const char *sub, const char *jti, int64_t exp,
    int64_t now, struct err *e);

/* Empty the cache and bound it to `slots` entries (tests; 0: default). */
void login_replay_reset(size_t slots);

struct login_exchange_req {
	const char	*subject_token;
	const char	*subject_token_type;
	const char	*role;
	const char	*session;	/* NULL: from the token's sub */
	const char	*source_ip;	/* may be NULL */
};

/*
 * The token exchange: verify the OIDC token (oidc.c), let the role's trust
 * policy decide (principal: the issuer URL; action
 * sts:AssumeRoleWithWebIdentity; resource: the role's ARN; context: the
 * claims as oidc:CLAIM and ISSUER:CLAIM), and answer the JSON of a 200 with
 * a login token for the session (new reference; `id` filled: clear it).
 * NULL with *status 400 (bad request), 401 (bad token), 403 (no such role,
 * or its trust refuses) or 500, and `e` saying why (for the log).
 */
json_t *login_exchange(struct config *cfg, const struct login_exchange_req *rq,
    struct identity *id, int *status, struct err *e);

/*
 * The trust decision alone (also `policy simulate`): 1 allowed, 0 refused,
 * -1 out of memory. `res` (may be NULL) gets the deciding statements.
 */
int login_trust_decide(const struct config *cfg, const struct principal *role,
    const struct oidc_issuer *iss, const json_t *claims,
    const char *source_ip, struct policy_result *res, struct err *e);

#endif
