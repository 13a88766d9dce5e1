/*
 * /token: scopes -> policy decisions -> a signed registry token.
 */
#ifndef REGAUTHD_TOKEN_H
#define REGAUTHD_TOKEN_H

#include <jansson.h>
#include "authn.h"
#include "buf.h"
#include "config.h"
#include "scope.h"

struct token_request {
	const char		*service;	/* NULL: the only configured one */
	const struct scope_list	*scopes;
	const char		*client_id;	/* may be NULL */
	const char		*source_ip;
	int			 secure;	/* over TLS */
	int			 oauth;		/* POST form: answer "scope" */
	int			 offline;	/* also return a refresh token */
	const char		*refresh_token;	/* refresh grant: return it */
};

/*
 * Decide every scope action for `id` and sign a token granting what is
 * allowed. On success the JSON answer is appended to `resp` (which the
 * caller initialised and releases); on a client error returns
 * -1 with *status 400 and a client-safe message in `e`, on a server error
 * *status 500.
 */
int token_issue(const struct config *cfg, const struct identity *id,
    const struct token_request *rq, struct buf *resp, int *status,
    struct err *e);

#endif
