/*
 * The registry mapping (POLICY.md "Registry requests"): a token-scope
 * action is granted when its native registry: action, or every action of
 * its ECR set, is allowed, and none of them is explicitly denied.
 */
#include <string.h>

#include "internal.h"

struct scope_map {
	const char	*scope;
	const char	*native;
	const char	*ecr[6];
};

static const struct scope_map scope_maps[] = {
	{ "pull", "registry:Pull", { "ecr:BatchGetImage",
	    "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability",
	    NULL } },
	{ "push", "registry:Push", { "ecr:InitiateLayerUpload",
	    "ecr:UploadLayerPart", "ecr:CompleteLayerUpload",
	    "ecr:BatchCheckLayerAvailability", "ecr:PutImage", NULL } },
	{ "delete", "registry:Delete", { "ecr:BatchDeleteImage", NULL } },
};

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

enum policy_decision
policy_registry_decide(const struct policy_ref *set, size_t n,
    const char *principal, const char *resource, int catalog,
    const char *scope_action, const json_t *context, const char *account,
    struct policy_result *res)
{
	struct policy_request req;
	struct policy_result local, r, acc;
	struct policy_index_req iq;
	enum policy_decision d, worst = POLICY_ALLOW;
	size_t i;

	if (res == NULL)
		res = &local;
	memset(res, 0, sizeof(*res));
	memset(&acc, 0, sizeof(acc));
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
	policy_index_req_init(&iq, resource);
	for (i = 0; i < sizeof(scope_maps) / sizeof(scope_maps[0]); i++)
		if (strcmp(scope_maps[i].scope, scope_action) == 0)
			return decide_one(set, n, &req, &scope_maps[i], res,
			    &iq);
	if (strcmp(scope_action, "*") != 0)
		goto implicit;
	/* "*" on a repository: pull, push and delete must all be granted. */
	for (i = 0; i < sizeof(scope_maps) / sizeof(scope_maps[0]); i++) {
		d = decide_one(set, n, &req, &scope_maps[i], &r, &iq);
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
