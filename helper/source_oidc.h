/*
 * source_oidc: where a CI or Kubernetes OIDC token comes from, in this
 * order: REGAUTH_OIDC_TOKEN_FILE (a Kubernetes projected token; read again
 * on every use), REGAUTH_OIDC_TOKEN (a GitLab id_token), GitHub Actions
 * (ACTIONS_ID_TOKEN_REQUEST_URL and _TOKEN, asked for a token with the
 * audience REGAUTH_OIDC_AUDIENCE, else the configuration's "audience", else
 * the server's issuer from GET /v1/info), then the configuration file's
 * "oidc_token_file". Tokens are secrets: never logged, wiped after use.
 */
#ifndef HELPER_SOURCE_OIDC_H
#define HELPER_SOURCE_OIDC_H

#include <stddef.h>

#include "config.h"
#include "util.h"

#define SOURCE_OIDC_TOKEN_MAX (16 * 1024)

enum source_oidc_kind {
	SOURCE_OIDC_NONE = 0,
	SOURCE_OIDC_FILE,    /* REGAUTH_OIDC_TOKEN_FILE or "oidc_token_file" */
	SOURCE_OIDC_ENV,     /* REGAUTH_OIDC_TOKEN */
	SOURCE_OIDC_ACTIONS  /* GitHub Actions */
};

/* Every string is borrowed from the environment or the configuration. */
struct source_oidc {
	enum source_oidc_kind kind;
	int from_env;           /* the environment named it, not the file */
	const char *file;       /* SOURCE_OIDC_FILE */
	const char *token;      /* SOURCE_OIDC_ENV (a secret) */
	const char *actions_url, *actions_token; /* SOURCE_OIDC_ACTIONS */
	const char *audience;   /* asked of Actions; NULL: the server's issuer */
};

/* What an OIDC token says of itself, unverified. */
struct source_oidc_claims {
	long long exp, iat;     /* 0 when absent */
	/*
	 * Hex SHA-256 naming the workload: of the claims but the times and
	 * jti (which change with every token of the same workload), or, for
	 * GitHub Actions, of the request URL and audience (known before a
	 * token is fetched, so a cached login needs no request).
	 */
	char identity[65];
};

/* The source for registry key: 1 found (s filled), 0 none. */
int source_oidc_find(const struct config *cfg, const char *key,
    struct source_oidc *s);
/* A name for messages: "REGAUTH_OIDC_TOKEN_FILE /path", "GitHub Actions". */
const char *source_oidc_name(const struct source_oidc *s, char *buf,
    size_t bufsz);
/*
 * The identity of the source without fetching a token: set for
 * SOURCE_OIDC_ACTIONS (from the request URL and audience), else "" (the
 * token itself must be read and decoded). -1 with e set.
 */
int source_oidc_actions_identity(const struct source_oidc *s,
    char identity[65], struct err *e);
/*
 * The token now (caller frees with util_free_secret): the file read again,
 * at most SOURCE_OIDC_TOKEN_MAX bytes, white space trimmed; a missing or
 * empty file is an error naming it. Actions: a request to the runner, whose
 * default audience needs server. NULL with e set. *refused (when not NULL)
 * says GitHub refused the request.
 */
char *source_oidc_token(const struct source_oidc *s, const char *server,
    int *refused, struct err *e);
/*
 * Decode a JWT's payload, unverified (the token server verifies): exp, iat
 * and the identity hash. -1 if not a JWT (e names the source in `what`).
 */
int source_oidc_decode(const char *token, const char *what,
    struct source_oidc_claims *c, struct err *e);

#endif
