/*
 * exchange: the helper's HTTP calls, with libcurl (initialised lazily: a
 * cached answer never loads it). Connect timeout 3 s, total 10 s, one retry
 * on transient failures (no connection, timeout, 502/503/504).
 */
#ifndef HELPER_EXCHANGE_H
#define HELPER_EXCHANGE_H

#include "util.h"

#define EXCHANGE_REFUSED (-2) /* the server said no (4xx) */

struct exchange_login {
	char *token;          /* the login token (a secret) */
	long long expires_in; /* seconds */
	char *principal;      /* "user/NAME", "serviceaccount/NAME",
	                         "assumed-role/ROLE/SESSION" */
};

/* Makes a fresh assertion per attempt (a server refuses a replayed jti). */
typedef char *(*exchange_assertion_fn)(void *arg, struct err *e);

/*
 * POST {server}/v1/login grant_type=password with Basic user:password.
 * 0 with out filled; EXCHANGE_REFUSED (e says the server's message) or -1.
 */
int exchange_login_password(const char *server, const char *user,
    const char *password, struct exchange_login *out, struct err *e);
/* POST {server}/v1/login with the JWT bearer grant. */
int exchange_login_assertion(const char *server, exchange_assertion_fn fn,
    void *arg, struct exchange_login *out, struct err *e);
/*
 * POST {server}/v1/login with the token exchange grant (RFC 8693):
 * subject_token (a JWT), role and, when not NULL, session. 0 with out
 * filled; EXCHANGE_REFUSED with e saying whether the token (401) or the
 * role's trust policy (403) refused it, and the server's message; -1.
 */
int exchange_login_oidc(const char *server, const char *subject_token,
    const char *role, const char *session, struct exchange_login *out,
    struct err *e);
/* The "issuer" of GET {server}/v1/info (caller frees). 0 or -1. */
int exchange_server_issuer(const char *server, char **issuer, struct err *e);
/*
 * GitHub Actions' OIDC token (PROTOCOLS.md 4.1): GET request_url +
 * "&audience=AUD" with "Authorization: bearer REQUEST_TOKEN"; the answer's
 * "value" (at most max bytes; caller frees with util_free_secret).
 * 0; EXCHANGE_REFUSED (4xx); -1.
 */
int exchange_actions_token(const char *request_url, const char *request_token,
    const char *audience, size_t max, char **token, struct err *e);
/*
 * GET url; the status and the WWW-Authenticate header (caller frees) of the
 * answer. No retry. -1 if no HTTP answer arrived.
 */
int exchange_challenge(const char *url, long *status, char **www_auth,
    struct err *e);
void exchange_login_clear(struct exchange_login *l);

#endif
