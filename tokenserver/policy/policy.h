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

/* Where a document was refused, and why, as a stable lint code. */
struct policy_diag {
	char		 path[256];	/* JSON Pointer into the document */
	const char	*code;		/* "INVALID_EFFECT"...; NULL if none */
};

/*
 * policy_parse(), and when it refuses the document, also `d` (may be
 * NULL): the JSON Pointer of the offending element ("" for the document;
 * an ancestor when the full pointer would not fit) and its lint code.
 */
struct policy *policy_parse_diag(const json_t *doc, enum policy_kind kind,
    const struct policy_parse_opts *opts, struct err *e,
    struct policy_diag *d);
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
	int		 stmt;		/* index of the statement in its document */
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
/* "identity", "resource", "boundary". */
const char *policy_kind_name(enum policy_kind k);

/*
 * The shortest decimal text that reads back as `d` (0.1 is "0.1"), as
 * condition values and OIDC claims compare it.
 */
const char *policy_real_text(double d, char *buf, size_t cap);

/* `regauthd policy check` (IAM_SEMANTICS.md section 7). */
enum policy_lint_severity {
	POLICY_LINT_ERROR,		/* the engine refuses the document */
	POLICY_LINT_WARNING,
	POLICY_LINT_SUGGESTION,
};

struct policy_lint_finding {
	enum policy_lint_severity	 severity;
	const char			*code;		/* static, UPPER_SNAKE */
	char				 path[256];	/* JSON Pointer */
	char				 msg[200];
};

/* A growing list of findings; zero-initialise, release with _free. */
struct policy_lint {
	struct policy_lint_finding	*v;
	size_t				 n, cap;
};

/*
 * Lint one IAM document read as `kind` and append its findings to `out`,
 * each naming its element by JSON Pointer with `prefix` (may be NULL) in
 * front ("/policy" for the document inside a repository policy file). The
 * errors are exactly the documents policy_parse() refuses. Returns 0, or
 * -1 when out of memory (findings so far are kept).
 */
int policy_lint_document(const json_t *doc, enum policy_kind kind,
    const char *prefix, struct policy_lint *out);
int policy_lint_add(struct policy_lint *l, enum policy_lint_severity sev,
    const char *code, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
void policy_lint_free(struct policy_lint *l);
const char *policy_lint_severity_name(enum policy_lint_severity s);

/*
 * IAM glob: '*' any run of bytes, '?' exactly one, nothing else special
 * (a '\\' makes the next byte literal). 1 on a match.
 */
int policy_glob(const char *pat, const char *s, int icase);

/*
 * A set of globs (policy_glob's syntax, case-sensitive), each with a
 * caller's id, indexed by literal prefix: matching a string globs only the
 * patterns whose literal prefix starts it. Read-only once built.
 */
struct policy_globset;
struct policy_globset *policy_globset_new(const char *const *patterns,
    const size_t *ids, size_t n, struct err *e);
void policy_globset_free(struct policy_globset *g);
/*
 * Calls fn(arg, id) (fn may be NULL) once for each id that has a pattern
 * matching `s`, in ascending id order; returns how many ids matched.
 */
size_t policy_globset_match(const struct policy_globset *g, const char *s,
    void (*fn)(void *arg, size_t id), void *arg);

/*
 * For tests and benchmarks only: 1 makes every decision and glob set scan
 * all statements and patterns, one evaluation per IAM action with every
 * pattern globbed (the reference); 0 uses the indexes and the precomputed
 * fast paths. Not thread-safe; set it before deciding.
 */
void policy_index_disable(int off);

#endif
