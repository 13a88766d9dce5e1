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
	char *principal;      /* "user/NAME", "serviceaccount/NAME" */
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
 * GET url; the status and the WWW-Authenticate header (caller frees) of the
 * answer. No retry. -1 if no HTTP answer arrived.
 */
int exchange_challenge(const char *url, long *status, char **www_auth,
    struct err *e);
void exchange_login_clear(struct exchange_login *l);

#endif
