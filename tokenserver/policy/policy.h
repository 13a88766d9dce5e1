/*
 * The policy engine: AWS IAM JSON policies evaluated as IAM_SEMANTICS.md
 * describes. The engine is generic (principal ARN, action, resource ARN,
 * context); registry.c maps token scopes onto it (POLICY.md).
 */
#ifndef REGAUTHD_POLICY_H
#define REGAUTHD_POLICY_H

#include <stddef.h>
#include <stdio.h>
#include <jansson.h>
#include "../util.h"

enum policy_kind {
	POLICY_IDENTITY,
	POLICY_RESOURCE,
	POLICY_BOUNDARY,
};

enum policy_decision {
	POLICY_IMPLICIT_DENY,
	POLICY_ALLOW,
	POLICY_DENY,
};

struct policy;		/* one parsed, validated, immutable document */

struct policy_parse_opts {
	const char	*account;	/* default account of short forms */
	/*
	 * Canonicalise registry resources and principals once at load
	 * (POLICY.md "Registry requests"): repository/P and
	 * arn:aws:ecr:*:*:repository/P become
	 * arn:regauth:registry:*:ACCOUNT:repository/P; user/N, serviceaccount/N,
	 * role/N and arn:aws:iam::ACCT:user|role/N become regauth ARNs.
	 * Off for `policy eval`, which compares the strings it is given.
	 */
	int		 registry;
};

/*
 * Parse and validate one document of `kind`. A document the engine would
 * have to refuse (IAM_SEMANTICS.md section 7 errors) returns NULL with the
 * reason in `e`. The result does not reference `doc`.
 */
struct policy *policy_parse(const json_t *doc, enum policy_kind kind,
    const struct policy_parse_opts *opts, struct err *e);
void policy_free(struct policy *p);

/*
 * Does any statement read the request context (a condition or a policy
 * variable)? When no policy of a request does, the caller may skip
 * building the context and pass NULL.
 */
int policy_uses_context(const struct policy *p);

/* One input of an evaluation: a document, its kind and its caller's index. */
struct policy_ref {
	const struct policy	*policy;
	enum policy_kind	 kind;
	int			 index;
};

struct policy_request {
	const char	*principal;	/* ARN, or "anonymous" */
	const char	*action;	/* "service:Name" */
	const char	*resource;	/* ARN, short form, or "*" */
	const json_t	*context;	/* object of string | [string]; may be NULL */
	const char	*account;	/* account of short forms (eval: --account) */
};

#define POLICY_MAX_MATCHES 16

struct policy_match {
	int		 policy;	/* policy_ref.index */
	const char	*sid;		/* borrowed from the policy; NULL if none */
};

struct policy_result {
	enum policy_decision	decision;
	size_t			nmatches;
	struct policy_match	matches[POLICY_MAX_MATCHES];
};

/*
 * Decide one request against a set of documents (identity, resource and
 * boundary, pooled as IAM does). `res` may be NULL. Thread-safe: documents
 * are read-only.
 */
enum policy_decision policy_evaluate(const struct policy_ref *set, size_t n,
    const struct policy_request *req, struct policy_result *res);

/*
 * The registry mapping (POLICY.md): may `principal` perform the token-scope
 * action `scope_action` ("pull", "push", "delete", "*") on the repository
 * resource `resource` (arn:regauth:registry:SERVICE:ACCOUNT:repository/NAME),
 * or, with `catalog` set, the registry:catalog:* scope (resource "*")?
 * A native action (registry:Pull...) or the whole ECR set must be allowed and
 * none of them explicitly denied. Returns the decision; `res` says why.
 */
enum policy_decision policy_registry_decide(const struct policy_ref *set,
    size_t n, const char *principal, const char *resource, int catalog,
    const char *scope_action, const json_t *context, const char *account,
    struct policy_result *res);

/*
 * `regauthd policy eval`: JSON lines in, one decision per line out
 * (POLICY.md). Returns 0, or -1 when `in` cannot be read.
 */
int policy_eval_stream(FILE *in, FILE *out, const char *account);

const char *policy_decision_name(enum policy_decision d);

/*
 * IAM glob: '*' any run of bytes, '?' exactly one, nothing else special
 * (a '\\' makes the next byte literal). 1 on a match.
 */
int policy_glob(const char *pat, const char *s, int icase);

#endif
