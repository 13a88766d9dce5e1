/*
 * credential: the login token for a registry, from the first source that
 * answers, for `get` and `kubelet` alike:
 *
 *   1. an OIDC token (source_oidc.h) exchanged for a role (REGAUTH_ROLE,
 *      else the configuration's "role"), and a service-account key file
 *      (REGAUTH_KEY_FILE, else the configuration's "key_file"), in this
 *      order: a source named in the environment comes before one named in
 *      the configuration file; at the same level, the OIDC role comes first
 *      (with a debug line when a key was given too). A source that does not
 *      serve the registry passes to the next one;
 *   2. a stored login (store, login).
 *
 * Tokens from keys and OIDC tokens are cached (cache.h) unless
 * REGAUTH_NO_CACHE is set; an OIDC login is cached under the registry, the
 * server, the role and a hash of the OIDC token's workload identity, and
 * never past the OIDC token's own exp.
 */
#ifndef HELPER_CREDENTIAL_H
#define HELPER_CREDENTIAL_H

#include "cache.h"
#include "config.h"
#include "util.h"

#define CREDENTIAL_NOT_FOUND 1

/*
 * An OIDC token goes only to a configured token server (REGAUTH_SERVER or
 * the configuration), unless this flag allows the registry's challenge to
 * name it: `kubelet` sets it, since its matchImages chose the registries.
 */
#define CREDENTIAL_DISCOVER_OIDC 0x1

struct credential {
	char *token;   /* the login token (a secret) */
	long long exp; /* when to stop handing it out (0: unknown) */
};

/*
 * The login token for registry key (cache NULL: no cache, no stored
 * logins). 0 with out filled; CREDENTIAL_NOT_FOUND
 * (no source applies; e says why, for the debug trace, or is empty);
 * -1 on a real failure (e set: refused, unreachable, a bad key file...).
 */
int credential_get(const char *key, const struct config *cfg,
    struct cache *cache, int flags, struct credential *out, struct err *e);
/*
 * Exchange a given OIDC token (the kubelet's service-account token) for
 * role at the registry's token server (configured, else discovered). Not
 * cached. 0, or -1 with e set.
 */
int credential_exchange(const char *key, const struct config *cfg,
    const char *oidc_token, const char *role, struct credential *out,
    struct err *e);
/*
 * The token server for a registry: REGAUTH_SERVER, the configuration's
 * entry or default, else discovery (discover.h). *explicit says it was
 * configured. 0 with *server (caller frees), DISCOVER_NOT_TOKEN, or -1.
 */
int credential_server(const struct config *cfg, const char *key,
    char **server, int *explicit, struct err *e);
/* iat/exp of a fresh login token: its claims, else now + expires_in. */
void credential_token_times(const char *tok, long long expires_in,
    long long *iat, long long *exp);
/* The role to assume for key: REGAUTH_ROLE, else the configuration's. */
const char *credential_role(const struct config *cfg, const char *key);
void credential_clear(struct credential *c);

#endif
