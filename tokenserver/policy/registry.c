/*
 * The registry mapping (POLICY.md "Registry requests"): a token-scope
 * action is granted when its native registry: action, or every action of
 * its ECR set, is allowed, and none of them is explicitly denied.
 *
 * Every IAM action of a scope action (and of "*", all three) is decided
 * in one pass over the candidate statements (policy_evaluate_ra); the
 * per-action decisions are then combined exactly as the reference does,
 * one policy_evaluate per IAM action (decide_one, kept for the indexes-off
 * mode the equivalence tests and the benchmark compare with).
 */
#include <string.h>

#include "internal.h"

const char *const policy_ra_names[RA_COUNT] = {
	[RA_PULL] = "registry:Pull",
	[RA_PUSH] = "registry:Push",
	[RA_DELETE] = "registry:Delete",
	[RA_CATALOG] = "registry:Catalog",
	[RA_BATCH_GET_IMAGE] = "ecr:BatchGetImage",
	[RA_GET_DOWNLOAD_URL] = "ecr:GetDownloadUrlForLayer",
	[RA_BATCH_CHECK_LAYER] = "ecr:BatchCheckLayerAvailability",
	[RA_INITIATE_UPLOAD] = "ecr:InitiateLayerUpload",
	[RA_UPLOAD_PART] = "ecr:UploadLayerPart",
	[RA_COMPLETE_UPLOAD] = "ecr:CompleteLayerUpload",
	[RA_PUT_IMAGE] = "ecr:PutImage",
	[RA_BATCH_DELETE_IMAGE] = "ecr:BatchDeleteImage",
};

static unsigned char
fold(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c - 'A' + 'a') : c;
}

/*
 * Two actions equal but for ASCII case match the same patterns: the glob
 * folds exactly ASCII letters (match.c) and splits both at the same ':'.
 */
int
policy_ra_lookup(const char *action)
{
	const char *s;
	size_t i;
	int a;

	if (action == NULL)
		return -1;
	for (a = 0; a < RA_COUNT; a++) {
		s = policy_ra_names[a];
		for (i = 0; s[i] != '\0' && fold((unsigned char)action[i]) ==
		    fold((unsigned char)s[i]); i++)
			;
		if (s[i] == '\0' && action[i] == '\0')
			return a;
	}
	return -1;
}

struct scope_map {
	const char	*scope;
	const char	*native;
	const char	*ecr[6];
	int		 ra_native;
	int		 ra_ecr[6];	/* -1 ends */
};

static const struct scope_map scope_maps[] = {
	{ "pull", "registry:Pull", { "ecr:BatchGetImage",
	    "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability",
	    NULL }, RA_PULL, { RA_BATCH_GET_IMAGE, RA_GET_DOWNLOAD_URL,
	    RA_BATCH_CHECK_LAYER, -1 } },
	{ "push", "registry:Push", { "ecr:InitiateLayerUpload",
	    "ecr:UploadLayerPart", "ecr:CompleteLayerUpload",
	    "ecr:BatchCheckLayerAvailability", "ecr:PutImage", NULL },
	    RA_PUSH, { RA_INITIATE_UPLOAD, RA_UPLOAD_PART, RA_COMPLETE_UPLOAD,
	    RA_BATCH_CHECK_LAYER, RA_PUT_IMAGE, -1 } },
	{ "delete", "registry:Delete", { "ecr:BatchDeleteImage", NULL },
	    RA_DELETE, { RA_BATCH_DELETE_IMAGE, -1 } },
};

#define NMAPS (sizeof(scope_maps) / sizeof(scope_maps[0]))

static void
merge(struct policy_result *dst, const struct policy_result *src)
{
	size_t i, j;

	for (i = 0; i < src->nmatches && dst->nmatches < POLICY_MAX_MATCHES;
	    i++) {
		for (j = 0; j < dst->nmatches; j++)
			if (dst->matches[j].policy == src->matches[i].policy &&
			    dst->matches[j].stmt == src->matches[i].stmt)
				break;
		if (j == dst->nmatches)
			dst->matches[dst->nmatches++] = src->matches[i];
	}
}

/*
 * One scope action of the table: native, else the whole ECR set. `iq`
 * carries the resource's index hashes from one evaluation to the next.
 */
static enum policy_decision
decide_one(const struct policy_ref *set, size_t n,
    const struct policy_request *base, const struct scope_map *m,
    struct policy_result *res, struct policy_index_req *iq)
{
	struct policy_request req = *base;
	struct policy_result r, native, ecr;
	enum policy_decision dn, d;
	size_t i;
	int all = 1;

	memset(&ecr, 0, sizeof(ecr));
	req.action = m->native;
	dn = policy_evaluate_req(set, n, &req, &native, iq);
	if (dn == POLICY_DENY) {
		*res = native;
		return POLICY_DENY;
	}
	for (i = 0; m->ecr[i] != NULL; i++) {
		req.action = m->ecr[i];
		d = policy_evaluate_req(set, n, &req, &r, iq);
		if (d == POLICY_DENY) {
			*res = r;
			return POLICY_DENY;
		}
		if (d != POLICY_ALLOW)
			all = 0;
		else
			merge(&ecr, &r);
	}
	if (dn == POLICY_ALLOW) {
		*res = native;
		return POLICY_ALLOW;
	}
	if (all) {
		ecr.decision = POLICY_ALLOW;
		*res = ecr;
		return POLICY_ALLOW;
	}
	memset(res, 0, sizeof(*res));
	res->decision = POLICY_IMPLICIT_DENY;
	return POLICY_IMPLICIT_DENY;
}

/* The IAM actions of a scope map, as RA_ bits. */
static unsigned
map_mask(const struct scope_map *m)
{
	unsigned mask = 1u << m->ra_native;
	size_t i;

	for (i = 0; m->ra_ecr[i] >= 0; i++)
		mask |= 1u << m->ra_ecr[i];
	return mask;
}

/* decide_one() on the per-action results `r` of one pass. */
static enum policy_decision
combine_one(const struct policy_result *r, const struct scope_map *m,
    struct policy_result *res)
{
	const struct policy_result *native = &r[m->ra_native], *e;
	size_t i;
	int all = 1;

	if (native->decision == POLICY_DENY) {
		*res = *native;
		return POLICY_DENY;
	}
	for (i = 0; m->ra_ecr[i] >= 0; i++) {
		e = &r[m->ra_ecr[i]];
		if (e->decision == POLICY_DENY) {
			*res = *e;
			return POLICY_DENY;
		}
		if (e->decision != POLICY_ALLOW)
			all = 0;
	}
	if (native->decision == POLICY_ALLOW) {
		*res = *native;
		return POLICY_ALLOW;
	}
	memset(res, 0, sizeof(*res));
	if (all) {
		for (i = 0; m->ra_ecr[i] >= 0; i++)
			merge(res, &r[m->ra_ecr[i]]);
		res->decision = POLICY_ALLOW;
		return POLICY_ALLOW;
	}
	res->decision = POLICY_IMPLICIT_DENY;
	return POLICY_IMPLICIT_DENY;
}

/* The reference: one policy_evaluate per IAM action (decide_one). */
static enum policy_decision
registry_decide_ref(const struct policy_ref *set, size_t n,
    struct policy_request *req, const char *scope_action,
    struct policy_result *res)
{
	struct policy_result r, acc;
	struct policy_index_req iq;
	enum policy_decision d, worst = POLICY_ALLOW;
	size_t i;

	memset(&acc, 0, sizeof(acc));
	policy_index_req_init(&iq, req->resource);
	for (i = 0; i < NMAPS; i++)
		if (strcmp(scope_maps[i].scope, scope_action) == 0)
			return decide_one(set, n, req, &scope_maps[i], res,
			    &iq);
	if (strcmp(scope_action, "*") != 0)
		goto implicit;
	/* "*" on a repository: pull, push and delete must all be granted. */
	for (i = 0; i < NMAPS; i++) {
		d = decide_one(set, n, req, &scope_maps[i], &r, &iq);
		if (d == POLICY_DENY) {
			*res = r;
			return POLICY_DENY;
		}
		if (d == POLICY_IMPLICIT_DENY)
			worst = POLICY_IMPLICIT_DENY;
		else
			merge(&acc, &r);
	}
	if (worst == POLICY_ALLOW) {
		acc.decision = POLICY_ALLOW;
		*res = acc;
		return POLICY_ALLOW;
	}
implicit:
	memset(res, 0, sizeof(*res));
	res->decision = POLICY_IMPLICIT_DENY;
	return POLICY_IMPLICIT_DENY;
}

enum policy_decision
policy_registry_decide(const struct policy_ref *set, size_t n,
    const char *principal, const char *resource, int catalog,
    const char *scope_action, const json_t *context, const char *account,
    struct policy_result *res)
{
	struct policy_request req;
	struct policy_result local, r[RA_COUNT], one, acc;
	const struct scope_map *m = NULL;
	enum policy_decision d, worst = POLICY_ALLOW;
	unsigned mask = 0;
	size_t i;

	if (res == NULL)
		res = &local;
	memset(res, 0, sizeof(*res));
	memset(&req, 0, sizeof(req));
	req.principal = principal;
	req.resource = resource;
	req.context = context;
	req.account = account;
	if (catalog) {
		req.action = "registry:Catalog";
		req.resource = "*";
		return policy_evaluate(set, n, &req, res);
	}
	if (scope_action == NULL || resource == NULL)
		goto implicit;
	if (policy_index_off())
		return registry_decide_ref(set, n, &req, scope_action, res);
	for (i = 0; i < NMAPS; i++)
		if (strcmp(scope_maps[i].scope, scope_action) == 0)
			m = &scope_maps[i];
	if (m != NULL) {
		policy_evaluate_ra(set, n, &req, map_mask(m), r);
		return combine_one(r, m, res);
	}
	if (strcmp(scope_action, "*") != 0)
		goto implicit;
	/* "*" on a repository: pull, push and delete must all be granted. */
	for (i = 0; i < NMAPS; i++)
		mask |= map_mask(&scope_maps[i]);
	policy_evaluate_ra(set, n, &req, mask, r);
	memset(&acc, 0, sizeof(acc));
	for (i = 0; i < NMAPS; i++) {
		d = combine_one(r, &scope_maps[i], &one);
		if (d == POLICY_DENY) {
			*res = one;
			return POLICY_DENY;
		}
		if (d == POLICY_IMPLICIT_DENY)
			worst = POLICY_IMPLICIT_DENY;
		else if (worst == POLICY_ALLOW)
			merge(&acc, &one);
	}
	if (worst == POLICY_ALLOW) {
		acc.decision = POLICY_ALLOW;
		*res = acc;
		return POLICY_ALLOW;
	}
implicit:
	memset(res, 0, sizeof(*res));
	res->decision = POLICY_IMPLICIT_DENY;
	return POLICY_IMPLICIT_DENY;
}
