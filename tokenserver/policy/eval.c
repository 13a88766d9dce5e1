/*
 * The decision (IAM_SEMANTICS.md section 3): one pass over the statements
 * of every document that may apply (all of them, or the candidates of the
 * document's index, in statement order), then the pseudo-code of section 3
 * on what applied. No allocation unless a variable expands past a stack
 * buffer.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define ACCT_MAX 64

struct hits {
	size_t			n;
	struct policy_match	m[POLICY_MAX_MATCHES];
};

static void
hit(struct hits *h, int policy, const char *sid, size_t stmt)
{
	if (h->n < POLICY_MAX_MATCHES) {
		h->m[h->n].policy = policy;
		h->m[h->n].sid = sid;
		h->m[h->n].stmt = (int)stmt;
	}
	h->n++;
}

static void
emit(struct policy_result *res, const struct hits *h)
{
	size_t i, n = h->n < POLICY_MAX_MATCHES ? h->n : POLICY_MAX_MATCHES;

	for (i = 0; i < n && res->nmatches < POLICY_MAX_MATCHES; i++)
		res->matches[res->nmatches++] = h->m[i];
}

/* Does pattern `t` (glob form after expansion) cover `resource`? */
static int
resource_hit(const struct policy_tmpl *t, const char *resource,
    const json_t *ctx, int *unresolved)
{
	char stackbuf[1024], *buf = stackbuf, *heap = NULL;
	size_t need = 0;
	int r, m = 0;

	if (t->nparts == 0)
		return policy_glob(t->glob, resource, 0);
	r = policy_tmpl_expand(t, ctx, 1, buf, sizeof(stackbuf), &need);
	if (r == 2) {
		if ((heap = malloc(need + 1)) == NULL) {
			*unresolved = 1;
			return 0;
		}
		buf = heap;
		r = policy_tmpl_expand(t, ctx, 1, buf, need + 1, &need);
	}
	if (r == 0)
		m = policy_glob(buf, resource, 0);
	else
		*unresolved = 1;
	free(heap);
	return m;
}

static int
resource_match(const struct policy_stmt *st, const char *resource,
    const json_t *ctx)
{
	size_t i;
	int any = 0, unresolved = 0;

	/* A repository policy statement without Resource: its resource. */
	if (!st->has_resource)
		return 1;
	for (i = 0; i < st->nresources && !any; i++)
		any = resource_hit(&st->resources[i], resource, ctx,
		    &unresolved);
	if (!st->not_resource)
		return any;
	/*
	 * An unresolved variable in NotResource is ambiguous (section 5):
	 * fail closed, so a Deny applies and an Allow does not.
	 */
	if (unresolved && !any)
		return st->deny;
	return !any;
}

static int
action_match(const struct policy_stmt *st, const char *action)
{
	size_t i;
	int any = 0;

	for (i = 0; i < st->nactions && !any; i++)
		any = policy_action_match(&st->actions[i], action);
	return st->not_action ? !any : any;
}

static enum policy_pmatch
principal_match(const struct policy_stmt *st, const char *caller,
    const char *caller_account)
{
	enum policy_pmatch best = PMATCH_NONE, m;
	size_t i;

	if (!st->has_principal)
		return PMATCH_NONE;
	if (st->not_principal) {
		for (i = 0; i < st->nprincipals; i++)
			if (policy_principal_listed(&st->principals[i], caller))
				return PMATCH_NONE;
		return PMATCH_DIRECT;
	}
	for (i = 0; i < st->nprincipals; i++) {
		m = policy_principal_match(&st->principals[i], caller,
		    caller_account);
		if (m > best)
			best = m;
	}
	return best;
}

static int
conds_match(const struct policy_stmt *st, const json_t *ctx)
{
	size_t i;

	for (i = 0; i < st->nconds; i++)
		if (!policy_cond_eval(&st->conds[i], ctx))
			return 0;
	return 1;
}

const char *
policy_decision_name(enum policy_decision d)
{
	switch (d) {
	case POLICY_ALLOW:
		return "Allow";
	case POLICY_DENY:
		return "Deny";
	case POLICY_IMPLICIT_DENY:
		break;
	}
	return "ImplicitDeny";
}

/*
 * Decide `req` against the pooled documents `set` (section 3). An explicit
 * Deny anywhere wins; then the same-account union or the cross-account
 * intersection of identity (capped by boundaries) and resource Allows.
 */
enum policy_decision
policy_evaluate(const struct policy_ref *set, size_t n,
    const struct policy_request *req, struct policy_result *res)
{
	struct policy_index_req iq;

	policy_index_req_init(&iq, req->resource);
	return policy_evaluate_req(set, n, req, res, &iq);
}

enum policy_decision
policy_evaluate_req(const struct policy_ref *set, size_t n,
    const struct policy_request *req, struct policy_result *res,
    struct policy_index_req *iq)
{
	struct hits deny, id, bd, rpd, rpr, rpa;
	const struct policy_stmt *st;
	const struct policy *p;
	const char *caller = req->principal, *cacct = NULL, *racct = NULL;
	char cbuf[ACCT_MAX], rbuf[ACCT_MAX];
	enum policy_decision d = POLICY_IMPLICIT_DENY;
	enum policy_pmatch pm;
	struct policy_result local;
	struct policy_index_iter it;
	size_t i, k;
	int anonymous, cross, have_boundary = 0, bok;

	if (res == NULL)
		res = &local;
	res->nmatches = 0;
	deny.n = id.n = bd.n = rpd.n = rpr.n = rpa.n = 0;
	anonymous = caller == NULL || strcmp(caller, "anonymous") == 0;
	if (anonymous)
		caller = NULL;
	else if ((cacct = policy_arn_account(caller, cbuf, sizeof(cbuf))) ==
	    NULL && strncmp(caller, "arn:", 4) != 0)
		cacct = req->account;
	if (strcmp(req->resource, "*") == 0)
		racct = NULL;
	else if (strncmp(req->resource, "arn:", 4) == 0)
		racct = policy_arn_account(req->resource, rbuf, sizeof(rbuf));
	else
		racct = req->account;
	if (racct != NULL && racct[0] == '\0')
		racct = NULL;
	cross = !anonymous && cacct != NULL && racct != NULL &&
	    strcmp(cacct, racct) != 0;

	if (iq->resource != req->resource)
		policy_index_req_init(iq, req->resource);
	policy_index_req_action(iq, req->action);
	for (i = 0; i < n; i++) {
		if ((p = set[i].policy) == NULL)
			continue;
		if (set[i].kind == POLICY_BOUNDARY)
			have_boundary = 1;
		policy_index_begin(&it, p, iq);
		while (policy_index_next(&it, &k)) {
			st = &p->stmts[k];
			pm = PMATCH_DIRECT;
			if (set[i].kind == POLICY_RESOURCE &&
			    (pm = principal_match(st, caller, cacct)) ==
			    PMATCH_NONE)
				continue;
			if (!action_match(st, req->action) ||
			    !resource_match(st, req->resource, req->context) ||
			    !conds_match(st, req->context))
				continue;
			if (st->deny)
				hit(&deny, set[i].index, st->sid, k);
			else if (set[i].kind == POLICY_IDENTITY)
				hit(&id, set[i].index, st->sid, k);
			else if (set[i].kind == POLICY_BOUNDARY)
				hit(&bd, set[i].index, st->sid, k);
			else if (pm == PMATCH_DIRECT)
				hit(&rpd, set[i].index, st->sid, k);
			else if (pm == PMATCH_ROLE)
				hit(&rpr, set[i].index, st->sid, k);
			else
				hit(&rpa, set[i].index, st->sid, k);
		}
	}

	bok = !have_boundary || bd.n > 0;
	if (deny.n > 0) {
		d = POLICY_DENY;
		emit(res, &deny);
	} else if (anonymous) {
		if (rpd.n > 0) {
			d = POLICY_ALLOW;
			emit(res, &rpd);
		}
	} else if (cross) {
		if (id.n > 0 && bok && rpd.n + rpr.n + rpa.n > 0) {
			d = POLICY_ALLOW;
			emit(res, &id);
			emit(res, &bd);
			emit(res, &rpd);
			emit(res, &rpr);
			emit(res, &rpa);
		}
	} else if (rpd.n > 0) {
		d = POLICY_ALLOW;
		emit(res, &rpd);
	} else if (rpr.n > 0 && bok) {
		d = POLICY_ALLOW;
		emit(res, &rpr);
		emit(res, &bd);
	} else if (id.n > 0 && bok) {
		d = POLICY_ALLOW;
		emit(res, &id);
		emit(res, &bd);
	}
	res->decision = d;
	return d;
}
