/*
 * /token: scopes -> policy decisions -> a signed registry token.
 */
#ifndef REGAUTHD_TOKEN_H
#define REGAUTHD_TOKEN_H

#include <jansson.h>
#include "authn.h"
#include "buf.h"
#include "config.h"
#include "policy/policy.h"
#include "scope.h"

struct token_audit;

struct token_request {
	const char		*service;	/* NULL: the only configured one */
	const struct scope_list	*scopes;
	const char		*client_id;	/* may be NULL */
	const char		*source_ip;
	int			 secure;	/* over TLS */
	int			 oauth;		/* POST form: answer "scope" */
	int			 offline;	/* also return a refresh token */
	const char		*refresh_token;	/* refresh grant: return it */
	struct token_audit	*audit;		/* NULL: report nothing */
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

/*
 * The service a request is for: `asked`, or the only configured one when
 * `asked` is NULL or empty. NULL with a client-safe message otherwise.
 */
const char *token_service(const struct config *cfg, const char *asked,
    struct err *e);

/* Why one scope action was decided. */
struct token_why {
	struct policy_result	 result;	/* decision and statements */
	/* The document and kind of result.matches[i]. */
	const struct policy	*policies[POLICY_MAX_MATCHES];
	enum policy_kind	 kinds[POLICY_MAX_MATCHES];
};

/*
 * What token_issue decided, for metrics and the audit log (audit.c). The
 * caller zeroes it and sets `record` to also keep every decision with its
 * deciding statements (allocates; only when auditing). `service` and the
 * counts are filled whenever rq->audit is set, on success and on a 400 for
 * the service; release with token_audit_free.
 */
struct token_audit_entry {
	size_t			 scope;		/* index in rq->scopes */
	const char		*action;	/* asked, or a part of "*" */
	int			 part;		/* a part of a "*" not wholly allowed */
	struct token_why	 why;
};

struct token_audit {
	int			 record;	/* in: keep the entries */
	const char		*service;	/* borrowed from the config */
	size_t			 asked;		/* scope actions asked */
	size_t			 denied;	/* of those, not granted as asked */
	struct token_audit_entry *v;
	size_t			 n, cap;
	int			 nomem;		/* some entries are missing */
};

void token_audit_free(struct token_audit *a);

/*
 * Decide one action of scope `sc` ("pull", "push", "delete", "*") for `id`
 * exactly as /token does (the same code), with the context /token would
 * build from `rq`, plus `overrides` (an object of context keys, may be
 * NULL) replacing or adding keys. `why` gets the decision and the deciding
 * statements. -1 (`e` says why) on an unknown service or out of memory.
 */
int token_decide(const struct config *cfg, const struct identity *id,
    const struct token_request *rq, const struct scope *sc,
    const char *action, const json_t *overrides, struct token_why *why,
    struct err *e);

#endif
