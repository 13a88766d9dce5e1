/*
 * The decision (IAM_SEMANTICS.md section 3): one pass over the statements
 * of every document that may apply (all of them, or the candidates of the
 * document's index, in statement order), then the pseudo-code of section 3
 * on what applied. No allocation unless a variable expands past a stack
 * buffer.
 *
 * Two paths give the same answers. The reference matches every part of
 * every candidate statement for one action (policy_evaluate_req with the
 * indexes off, and any action outside the registry's). The RA_ path
 * (policy_evaluate_ra) decides a set of the registry's actions at once: a
 * statement's actions are a bit mask computed at parse time, so the pass
 * matches each candidate's resource, principal and conditions once for all
 * the actions, with the request's lengths and accounts derived once.
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
policy_kind_name(enum policy_kind k)
{
	switch (k) {
	case POLICY_RESOURCE:
		return "resource";
	case POLICY_BOUNDARY:
		return "boundary";
	case POLICY_IDENTITY:
		break;
	}
	return "identity";
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
 * What a request says about its parties, derived once per decision: the
 * caller (NULL when anonymous), its account, and whether the resource is
 * in another account (section 3).
 */
struct prep {
	const char	*caller, *cacct;
	int		 anonymous, cross;
	char		 cbuf[ACCT_MAX], rbuf[ACCT_MAX];
};

static void
prep_request(const struct policy_request *req, struct prep *pr)
{
	const char *racct;

	pr->caller = req->principal;
	pr->cacct = NULL;
	pr->anonymous = pr->caller == NULL ||
	    strcmp(pr->caller, "anonymous") == 0;
	if (pr->anonymous)
		pr->caller = NULL;
	else if ((pr->cacct = policy_arn_account(pr->caller, pr->cbuf,
	    sizeof(pr->cbuf))) == NULL && strncmp(pr->caller, "arn:", 4) != 0)
		pr->cacct = req->account;
	if (strcmp(req->resource, "*") == 0)
		racct = NULL;
	else if (strncmp(req->resource, "arn:", 4) == 0)
		racct = policy_arn_account(req->resource, pr->rbuf,
		    sizeof(pr->rbuf));
	else
		racct = req->account;
	if (racct != NULL && racct[0] == '\0')
		racct = NULL;
	pr->cross = !pr->anonymous && pr->cacct != NULL && racct != NULL &&
	    strcmp(pr->cacct, racct) != 0;
}

/* What applied, by kind (section 3). */
enum hit_class {
	C_DENY,		/* a Deny of any policy type */
	C_ID,		/* identity Allow */
	C_BD,		/* boundary Allow */
	C_RPD,		/* resource-policy Allow naming the caller directly */
	C_RPR,		/* ... through its role */
	C_RPA,		/* ... through its account */
	C_N
};

static enum hit_class
classify(const struct policy_stmt *st, enum policy_kind kind,
    enum policy_pmatch pm)
{
	if (st->deny)
		return C_DENY;
	if (kind == POLICY_IDENTITY)
		return C_ID;
	if (kind == POLICY_BOUNDARY)
		return C_BD;
	if (pm == PMATCH_DIRECT)
		return C_RPD;
	if (pm == PMATCH_ROLE)
		return C_RPR;
	return C_RPA;
}

/*
 * The pseudo-code of section 3 on the counts of what applied (`cnt`, by
 * class); `emit` appends the recorded statements of a class to `res`.
 */
static enum policy_decision
conclude(const size_t cnt[C_N], int have_boundary, const struct prep *pr,
    struct policy_result *res,
    void (*emitc)(struct policy_result *, const void *, enum hit_class),
    const void *arg)
{
	enum policy_decision d = POLICY_IMPLICIT_DENY;
	int bok = !have_boundary || cnt[C_BD] > 0;

	res->nmatches = 0;
	if (cnt[C_DENY] > 0) {
		d = POLICY_DENY;
		emitc(res, arg, C_DENY);
	} else if (pr->anonymous) {
		if (cnt[C_RPD] > 0) {
			d = POLICY_ALLOW;
			emitc(res, arg, C_RPD);
		}
	} else if (pr->cross) {
		if (cnt[C_ID] > 0 && bok &&
		    cnt[C_RPD] + cnt[C_RPR] + cnt[C_RPA] > 0) {
			d = POLICY_ALLOW;
			emitc(res, arg, C_ID);
			emitc(res, arg, C_BD);
			emitc(res, arg, C_RPD);
			emitc(res, arg, C_RPR);
			emitc(res, arg, C_RPA);
		}
	} else if (cnt[C_RPD] > 0) {
		d = POLICY_ALLOW;
		emitc(res, arg, C_RPD);
	} else if (cnt[C_RPR] > 0 && bok) {
		d = POLICY_ALLOW;
		emitc(res, arg, C_RPR);
		emitc(res, arg, C_BD);
	} else if (cnt[C_ID] > 0 && bok) {
		d = POLICY_ALLOW;
		emitc(res, arg, C_ID);
		emitc(res, arg, C_BD);
	}
	res->decision = d;
	return d;
}

static void
emit_hits(struct policy_result *res, const void *arg, enum hit_class c)
{
	emit(res, &((const struct hits *)arg)[c]);
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

	if (!policy_index_off() && policy_ra_lookup(req->action) >= 0)
		return policy_evaluate_req(set, n, req, res, NULL);
	policy_index_req_init(&iq, req->resource);
	return policy_evaluate_req(set, n, req, res, &iq);
}

static enum policy_decision evaluate_one_ra(const struct policy_ref *set,
    size_t n, const struct policy_request *req, int a,
    struct policy_result *res);

/* `iq` may be NULL when req->action is an RA_ action and fast paths are on. */
enum policy_decision
policy_evaluate_req(const struct policy_ref *set, size_t n,
    const struct policy_request *req, struct policy_result *res,
    struct policy_index_req *iq)
{
	struct hits h[C_N];
	const struct policy_stmt *st;
	const struct policy *p;
	struct prep pr;
	enum policy_pmatch pm;
	struct policy_result local;
	struct policy_index_iter it;
	size_t i, k, cnt[C_N];
	int have_boundary = 0, a;

	if (res == NULL)
		res = &local;
	if (!policy_index_off() && (a = policy_ra_lookup(req->action)) >= 0)
		return evaluate_one_ra(set, n, req, a, res);
	for (i = 0; i < C_N; i++)
		h[i].n = 0;
	prep_request(req, &pr);

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
			    (pm = principal_match(st, pr.caller, pr.cacct)) ==
			    PMATCH_NONE)
				continue;
			if (!action_match(st, req->action) ||
			    !resource_match(st, req->resource, req->context) ||
			    !conds_match(st, req->context))
				continue;
			hit(&h[classify(st, set[i].kind, pm)], set[i].index,
			    st->sid, k);
		}
	}
	for (i = 0; i < C_N; i++)
		cnt[i] = h[i].n;
	return conclude(cnt, have_boundary, &pr, res, emit_hits, h);
}

/*
 * The RA_ path.
 */

/*
 * Precomputed per statement (policy_parse): the RA_ actions it matches,
 * exactly as action_match() decides them, whether its Resource covers
 * every resource, and its resource patterns compiled (policy_cglob).
 */
int
policy_prepare(struct policy *p)
{
	struct policy_stmt *st;
	struct policy_tmpl *t;
	size_t k, i;
	int a;

	for (k = 0; k < p->nstmts; k++) {
		st = &p->stmts[k];
		st->amask = 0;
		st->flags = 0;
		for (a = 0; a < RA_COUNT; a++)
			if (action_match(st, policy_ra_names[a]))
				st->amask |= (uint16_t)(1u << a);
		if (!st->has_resource)
			st->flags |= STMT_RES_ANY;
		for (i = 0; !st->not_resource && i < st->nresources; i++)
			if (st->resources[i].nparts == 0 &&
			    strcmp(st->resources[i].glob, "*") == 0)
				st->flags |= STMT_RES_ANY;
		/*
		 * One block per statement: its compiled patterns, then their
		 * runs (policy_cglob_compile), so that matching a candidate
		 * touches few cache lines.
		 */
		if (st->nresources > 0 && (st->rcg = policy_arena_alloc(
		    &p->arena, st->nresources * sizeof(*st->rcg))) == NULL)
			return -1;
		for (i = 0; i < st->nresources; i++) {
			t = &st->resources[i];
			if (t->nparts > 0) {
				memset(&st->rcg[i], 0, sizeof(st->rcg[i]));
				st->rcg[i].vars = 1;
			} else if (policy_cglob_compile(&p->arena, t->glob,
			    t->globlen, &st->rcg[i]) == -1)
				return -1;
		}
	}
	return 0;
}

/* resource_match() with the resource's length known. */
static int
resource_match_n(const struct policy_stmt *st, const char *resource,
    size_t rlen, const json_t *ctx)
{
	size_t i;
	int any = 0, unresolved = 0;

	if (st->flags & STMT_RES_ANY)
		return 1;
	for (i = 0; i < st->nresources && !any; i++) {
		if (!st->rcg[i].vars)
			any = policy_cglob_match(&st->rcg[i], resource, rlen);
		else
			any = resource_hit(&st->resources[i], resource, ctx,
			    &unresolved);
	}
	if (!st->not_resource)
		return any;
	if (unresolved && !any)
		return st->deny;
	return !any;
}

/*
 * Statements that applied, by class, each with the RA_ actions it applied
 * to; n[c][a] counts them per action, and a statement is recorded only
 * while one of its actions has fewer than POLICY_MAX_MATCHES recorded, so
 * the statements recorded for an action are its first ones, as in `hits`.
 */
struct ra_hit {
	int		 policy;
	uint32_t	 stmt;
	const char	*sid;
	unsigned	 mask;
};

struct ra_hits {
	unsigned	 full[C_N];		/* actions with n >= max */
	uint32_t	 n[C_N][RA_COUNT];
	size_t		 ne[C_N];
	struct ra_hit	 e[C_N][POLICY_MAX_MATCHES * RA_COUNT];
};

static void
ra_hit(struct ra_hits *h, enum hit_class c, unsigned m, int policy,
    const char *sid, size_t stmt)
{
	unsigned rec = m & ~h->full[c], b = m;
	struct ra_hit *e;
	int a;

	while (b != 0) {
		a = __builtin_ctz(b);
		b &= b - 1;
		if (++h->n[c][a] >= POLICY_MAX_MATCHES)
			h->full[c] |= 1u << a;
	}
	if (rec == 0)
		return;
	e = &h->e[c][h->ne[c]++];
	e->policy = policy;
	e->stmt = (uint32_t)stmt;
	e->sid = sid;
	e->mask = rec;
}

struct ra_emit {
	const struct ra_hits	*h;
	unsigned		 bit;
};

static void
emit_ra(struct policy_result *res, const void *arg, enum hit_class c)
{
	const struct ra_emit *x = arg;
	const struct ra_hit *e = x->h->e[c], *end = e + x->h->ne[c];
	size_t taken = 0;

	for (; e < end && taken < POLICY_MAX_MATCHES &&
	    res->nmatches < POLICY_MAX_MATCHES; e++) {
		if (!(e->mask & x->bit))
			continue;
		res->matches[res->nmatches].policy = e->policy;
		res->matches[res->nmatches].sid = e->sid;
		res->matches[res->nmatches].stmt = (int)e->stmt;
		res->nmatches++;
		taken++;
	}
}

/* One pass for the actions of `amask`; *have_boundary as in the reference. */
static void
scan_ra(const struct policy_ref *set, size_t n,
    const struct policy_request *req, const struct prep *pr, unsigned amask,
    struct ra_hits *h, int *have_boundary)
{
	struct policy_index_req iq;
	struct policy_index_iter it;
	const struct policy_stmt *st;
	const struct policy *p;
	enum policy_pmatch pm;
	size_t i, k, rlen = strlen(req->resource);
	unsigned m;

	for (i = 0; i < C_N; i++) {
		h->full[i] = 0;
		h->ne[i] = 0;
		memset(h->n[i], 0, sizeof(h->n[i]));
	}
	*have_boundary = 0;
	policy_index_req_init(&iq, req->resource);
	for (i = 0; i < n; i++) {
		if ((p = set[i].policy) == NULL)
			continue;
		if (set[i].kind == POLICY_BOUNDARY)
			*have_boundary = 1;
		policy_index_begin_ra(&it, p, &iq, amask);
		while (policy_index_next(&it, &k)) {
			st = &p->stmts[k];
			if ((m = st->amask & amask) == 0)
				continue;
			pm = PMATCH_DIRECT;
			if (set[i].kind == POLICY_RESOURCE &&
			    (pm = principal_match(st, pr->caller, pr->cacct)) ==
			    PMATCH_NONE)
				continue;
			if (!resource_match_n(st, req->resource, rlen,
			    req->context) ||
			    (st->nconds > 0 && !conds_match(st, req->context)))
				continue;
			ra_hit(h, classify(st, set[i].kind, pm), m,
			    set[i].index, st->sid, k);
		}
	}
}

static enum policy_decision
finish_ra(const struct ra_hits *h, int a, int have_boundary,
    const struct prep *pr, struct policy_result *res)
{
	struct ra_emit x = { h, 1u << a };
	size_t c, cnt[C_N];

	for (c = 0; c < C_N; c++)
		cnt[c] = h->n[c][a];
	return conclude(cnt, have_boundary, pr, res, emit_ra, &x);
}

static enum policy_decision
evaluate_one_ra(const struct policy_ref *set, size_t n,
    const struct policy_request *req, int a, struct policy_result *res)
{
	struct ra_hits h;
	struct prep pr;
	int have_boundary;

	prep_request(req, &pr);
	scan_ra(set, n, req, &pr, 1u << a, &h, &have_boundary);
	return finish_ra(&h, a, have_boundary, &pr, res);
}

void
policy_evaluate_ra(const struct policy_ref *set, size_t n,
    const struct policy_request *req, unsigned amask,
    struct policy_result *out)
{
	struct ra_hits h;
	struct prep pr;
	unsigned b;
	int have_boundary, a;

	prep_request(req, &pr);
	scan_ra(set, n, req, &pr, amask, &h, &have_boundary);
	for (b = amask; b != 0; b &= b - 1) {
		a = __builtin_ctz(b);
		finish_ra(&h, a, have_boundary, &pr, &out[a]);
	}
}
