/*
 * The statement index and glob sets change the cost of a decision, never
 * its result: random documents (wildcard and NotAction actions, resource
 * patterns with '*', '?', variables, escapes and NotResource, Allow and
 * Deny, conditions, principals) and random requests, each decided with the
 * index and with every statement scanned (policy_index_disable), must give
 * the same decision and the same recorded statements. The one-pass
 * evaluation of the registry's actions is checked action by action against
 * the reference, and the glob's shortcuts (and the compiled glob) against
 * its definition.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "policy/policy.h"
#include "policy/internal.h"

#define ACCT "111122223333"

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint32_t
rnd(uint32_t n)
{
	uint64_t x = rng_state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	rng_state = x;
	return n ? (uint32_t)((x >> 11) % n) : 0;
}

#define PICK(a) ((a)[rnd(sizeof(a) / sizeof((a)[0]))])

static const char *const services[] = { "registry", "ecr", "s3", "ECR",
	"Registry", "e?r", "ec*", "*cr", "reg*", "r?gistry" };
static const char *const names[] = { "Pull", "Push", "Delete", "Catalog",
	"BatchGetImage", "GetDownloadUrlForLayer", "BatchCheckLayerAvailability",
	"PutImage", "pull", "Batch*", "*", "Get*", "P?ll", "Pu*", "*Image",
	"batch\\x", "B*Get*", "InitiateLayerUpload", "UploadLayerPart" };
static const char *const req_actions[] = { "registry:Pull", "registry:Push",
	"registry:Delete", "registry:Catalog", "ecr:BatchGetImage",
	"ECR:batchgetimage", "ecr:PutImage", "ecr:GetDownloadUrlForLayer",
	"s3:GetObject", "ecr:Pull", "ecr:Batch", "noColon", "ecr:batch\\x",
	"Registry:PULL", "ecr:BatchCheckLayerAvailability" };

/* Resource patterns: a head, then tokens. */
static const char *const heads[] = {
	"arn:aws:ecr:us-east-1:" ACCT ":repository/",
	"arn:regauth:registry:*:" ACCT ":repository/",
	"arn:regauth:registry:reg:" ACCT ":repository/",
	"arn:aws:ecr:*:*:repository/", "repository/", "arn:aws:ecr:*",
	"arn:regauth:registry:?eg:*:repository/", "arn:aws:s3:::bucket/",
	"arn:aws:ecr:us-east-1:" ACCT ":repository/team-a",
};
static const char *const toks[] = { "team-a", "team-b", "team-ab", "/", "api",
	"*", "?", "${aws:username}", "${aws:PrincipalTag/team, 'b'}", "${*}",
	"${?}", ":", ":" ACCT ":repository/", "team-", "x\\y", "${$}", "a*b",
	"/*", "team-a/*", "${regauth:Repository}" };
/* Text that wildcards of request resources become. */
static const char *const fills[] = { "", "a", "team-a", "team-b", ":",
	"reg", "x:" ACCT ":repository/team-a/", "alice", "api/v1", "b", "*",
	"us-east-1", ACCT, "team-ab/api" };

/*
 * Patterns recently put in documents, so that requests are often made
 * from the documents' own patterns (and so often match them).
 */
#define POOL 64
static char res_pool[POOL][512], act_pool[POOL][512];

static void
pool_put(char *pool, size_t width, const char *s)
{
	snprintf(pool + (size_t)rnd(POOL) * width, width, "%s", s);
}

static const char *
pool_get(const char *pool, size_t width)
{
	return pool + (size_t)rnd(POOL) * width;
}

static char *
gen_pattern(char *buf, size_t cap)
{
	size_t n, i;

	if (rnd(12) == 0) {
		snprintf(buf, cap, "*");
		return buf;
	}
	snprintf(buf, cap, "%s", PICK(heads));
	n = rnd(4);
	for (i = 0; i < n; i++)
		strncat(buf, PICK(toks), cap - strlen(buf) - 1);
	return buf;
}

/*
 * Wildcards and variables of `pat` filled with text (request strings);
 * variables mostly with their value in `ctx`, so that they match.
 */
static void
instantiate(const char *pat, const json_t *ctx, char *buf, size_t cap)
{
	char *o = buf, key[128];
	const char *p, *f, *end;
	const json_t *v;
	size_t n, left = cap - 1;

	for (p = pat; *p != '\0' && left > 0; p++) {
		if (*p == '$' && p[1] == '{' && (end = strchr(p, '}')) !=
		    NULL) {
			n = strcspn(p + 2, ",}");
			snprintf(key, sizeof(key), "%.*s", (int)n, p + 2);
			v = policy_ctx_get(ctx, key);
			if (n == 1)
				f = key;	/* ${*} ${?} ${$} */
			else if (rnd(4) != 0 && json_is_string(v))
				f = json_string_value(v);
			else
				f = rnd(2) ? "alice" : "b";
			p = end;
		} else if (*p == '*') {
			f = PICK(fills);
		} else if (*p == '?') {
			f = rnd(2) ? "r" : ":";
		} else {
			*o++ = *p;
			left--;
			continue;
		}
		while (*f != '\0' && left > 0) {
			*o++ = *f++;
			left--;
		}
	}
	*o = '\0';
}

/* A resource a request names: a pattern with its wildcards filled in. */
static void
gen_request_resource(const json_t *ctx, char *buf, size_t cap)
{
	char pat[512];

	if (rnd(15) == 0) {
		snprintf(buf, cap, "*");
		return;
	}
	if (rnd(4) != 0)
		snprintf(pat, sizeof(pat), "%s", pool_get(&res_pool[0][0],
		    sizeof(res_pool[0])));
	else
		gen_pattern(pat, sizeof(pat));
	instantiate(pat, ctx, buf, cap);
}

static const char *
gen_request_action(char *buf, size_t cap)
{
	if (rnd(2))
		return PICK(req_actions);
	instantiate(pool_get(&act_pool[0][0], sizeof(act_pool[0])), NULL, buf,
	    cap);
	return buf;
}

static json_t *
str_or_list(json_t *items)
{
	json_t *one;

	if (json_array_size(items) == 1 && rnd(2)) {
		one = json_incref(json_array_get(items, 0));
		json_decref(items);
		return one;
	}
	return items;
}

static json_t *
gen_statement(enum policy_kind kind, size_t k)
{
	json_t *st = json_object(), *acts = json_array(), *res = json_array();
	json_t *cond, *prin;
	char buf[512], sid[32];
	size_t i, n;

	if (rnd(3) == 0) {
		snprintf(sid, sizeof(sid), "S%zu", k);
		json_object_set_new(st, "Sid", json_string(sid));
	}
	json_object_set_new(st, "Effect", json_string(rnd(12) == 0 ? "Deny" :
	    "Allow"));
	n = 1 + rnd(rnd(5) == 0 ? 6 : 2);
	for (i = 0; i < n; i++) {
		if (rnd(15) == 0)
			snprintf(buf, sizeof(buf), "*");
		else
			snprintf(buf, sizeof(buf), "%s:%s", PICK(services),
			    PICK(names));
		pool_put(&act_pool[0][0], sizeof(act_pool[0]), buf);
		json_array_append_new(acts, json_string(buf));
	}
	json_object_set_new(st, rnd(8) == 0 ? "NotAction" : "Action",
	    str_or_list(acts));
	if (kind == POLICY_RESOURCE && rnd(4) == 0) {
		json_decref(res);	/* the repository itself */
	} else {
		n = 1 + rnd(rnd(5) == 0 ? 8 : 2);
		for (i = 0; i < n; i++) {
			gen_pattern(buf, sizeof(buf));
			pool_put(&res_pool[0][0], sizeof(res_pool[0]), buf);
			json_array_append_new(res, json_string(buf));
		}
		json_object_set_new(st, rnd(8) == 0 ? "NotResource" :
		    "Resource", str_or_list(res));
	}
	if (kind == POLICY_RESOURCE) {
		switch (rnd(4)) {
		case 0:
			prin = json_string("*");
			break;
		case 1:
			prin = json_pack("{s:s}", "AWS",
			    "arn:aws:iam::" ACCT ":user/alice");
			break;
		case 2:
			prin = json_pack("{s:s}", "AWS", ACCT);
			break;
		default:
			prin = json_pack("{s:[s,s]}", "AWS",
			    "arn:aws:iam::444455556666:root",
			    "arn:aws:iam::" ACCT ":role/deploy");
			break;
		}
		json_object_set_new(st, rnd(10) == 0 ? "NotPrincipal" :
		    "Principal", prin);
	}
	if (rnd(5) == 0) {
		cond = json_pack("{s:{s:s}}", rnd(2) ? "StringEquals" :
		    "StringNotEquals", "aws:PrincipalTag/team", rnd(2) ? "a" :
		    "b");
		json_object_set_new(st, "Condition", cond);
	}
	return st;
}

static struct policy *
gen_policy(enum policy_kind kind, int registry, size_t *tries)
{
	static const char *const versions[] = { "2012-10-17", "2012-10-17",
		"2008-10-17", NULL };
	struct policy_parse_opts opts = { ACCT, registry };
	struct policy *p = NULL;
	const char *v;
	json_t *doc, *stmts;
	size_t n, k;
	struct err e;

	while (p == NULL) {
		(*tries)++;
		doc = json_object();
		if ((v = PICK(versions)) != NULL)
			json_object_set_new(doc, "Version", json_string(v));
		n = rnd(2) ? 16 + rnd(70) : 1 + rnd(20);
		stmts = json_array();
		for (k = 0; k < n; k++)
			json_array_append_new(stmts, gen_statement(kind, k));
		json_object_set_new(doc, "Statement", stmts);
		p = policy_parse(doc, kind, &opts, &e);
		json_decref(doc);
	}
	return p;
}

static json_t *
gen_context(void)
{
	json_t *ctx = json_object();

	if (rnd(4) != 0)
		json_object_set_new(ctx, "aws:username", json_string(rnd(2) ?
		    "alice" : "team-a"));
	if (rnd(2))
		json_object_set_new(ctx, "aws:PrincipalTag/team",
		    json_string(rnd(2) ? "a" : "b"));
	if (rnd(2))
		json_object_set_new(ctx, "regauth:Repository",
		    json_string("team-a/api"));
	return ctx;
}

static void
assert_same(const struct policy_result *a, const struct policy_result *b)
{
	size_t i;

	assert_int_equal(a->decision, b->decision);
	assert_int_equal(a->nmatches, b->nmatches);
	for (i = 0; i < a->nmatches; i++) {
		assert_int_equal(a->matches[i].policy, b->matches[i].policy);
		assert_ptr_equal(a->matches[i].sid, b->matches[i].sid);
		assert_int_equal(a->matches[i].stmt, b->matches[i].stmt);
	}
}

#define SETS		1500
#define REQUESTS	100

static const char *const principals[] = {
	"arn:aws:iam::" ACCT ":user/alice",
	"arn:regauth:iam::" ACCT ":user/alice",
	"arn:aws:sts::" ACCT ":assumed-role/deploy/s1",
	"arn:aws:iam::444455556666:user/bob", "anonymous",
	"arn:aws:iam::" ACCT ":root",
};

static void
test_random_equivalence(void **state)
{
	static const enum policy_kind kinds[] = { POLICY_IDENTITY,
		POLICY_IDENTITY, POLICY_RESOURCE, POLICY_BOUNDARY };
	struct policy_ref refs[4];
	struct policy_request req;
	struct policy_result with, without;
	char resource[1024], action[256];
	size_t set, r, i, n, tries = 0, indexed = 0, docs = 0;
	size_t decisions = 0, allow = 0, deny = 0, implicit = 0;
	json_t *ctx;

	(void)state;
	for (set = 0; set < SETS; set++) {
		int registry = rnd(2);

		n = 1 + rnd(4);
		for (i = 0; i < n; i++) {
			refs[i].kind = kinds[rnd(4)];
			refs[i].policy = gen_policy(refs[i].kind, registry,
			    &tries);
			refs[i].index = (int)i;
			indexed += refs[i].policy->index != NULL;
			docs++;
		}
		for (r = 0; r < REQUESTS; r++) {
			memset(&req, 0, sizeof(req));
			ctx = rnd(5) ? gen_context() : NULL;
			gen_request_resource(ctx, resource, sizeof(resource));
			req.principal = PICK(principals);
			req.action = gen_request_action(action,
			    sizeof(action));
			req.resource = resource;
			req.context = ctx;
			req.account = ACCT;
			policy_index_disable(1);
			policy_evaluate(refs, n, &req, &without);
			policy_index_disable(0);
			policy_evaluate(refs, n, &req, &with);
			assert_same(&with, &without);
			decisions++;
			allow += with.decision == POLICY_ALLOW;
			deny += with.decision == POLICY_DENY;
			implicit += with.decision == POLICY_IMPLICIT_DENY;
			json_decref(ctx);
		}
		for (i = 0; i < n; i++)
			policy_free((struct policy *)refs[i].policy);
	}
	print_message("policy_evaluate: %zu random decisions identical with "
	    "and without the index (%zu Allow, %zu Deny, %zu ImplicitDeny); "
	    "%zu documents, %zu indexed, %zu generated\n", decisions, allow,
	    deny, implicit, docs, indexed, tries);
	assert_true(decisions >= 100000);
	assert_true(indexed > docs / 4);
	assert_true(allow > decisions / 50 && deny > decisions / 50);
}

/* The registry mapping on canonical documents, as token.c calls it. */
static void
test_registry_equivalence(void **state)
{
	static const char *const scope_actions[] = { "pull", "push", "delete",
		"*", "bogus" };
	struct policy_ref refs[4];
	struct policy_result with, without;
	char resource[600];
	size_t set, r, i, n, tries = 0, decisions = 0, allow = 0;
	enum policy_decision d1, d2;
	json_t *ctx;

	(void)state;
	for (set = 0; set < 300; set++) {
		n = 1 + rnd(4);
		for (i = 0; i < n; i++) {
			refs[i].kind = i == 0 ? POLICY_IDENTITY :
			    (enum policy_kind)rnd(3);
			refs[i].policy = gen_policy(refs[i].kind, 1, &tries);
			refs[i].index = (int)i;
		}
		for (r = 0; r < 100; r++) {
			int catalog = rnd(10) == 0;
			const char *sa = PICK(scope_actions);
			const char *who = PICK(principals);

			snprintf(resource, sizeof(resource),
			    "arn:regauth:registry:%s:%s:repository/%s%s",
			    rnd(2) ? "reg" : "other", rnd(8) ? ACCT :
			    "444455556666", rnd(2) ? "team-a/" : "team-",
			    PICK(fills));
			ctx = gen_context();
			policy_index_disable(1);
			d1 = policy_registry_decide(refs, n, who, resource,
			    catalog, sa, ctx, ACCT, &without);
			policy_index_disable(0);
			d2 = policy_registry_decide(refs, n, who, resource,
			    catalog, sa, ctx, ACCT, &with);
			assert_int_equal(d1, d2);
			assert_same(&with, &without);
			decisions++;
			allow += d2 == POLICY_ALLOW;
			json_decref(ctx);
		}
		for (i = 0; i < n; i++)
			policy_free((struct policy *)refs[i].policy);
	}
	print_message("policy_registry_decide: %zu random decisions identical "
	    "(%zu Allow)\n", decisions, allow);
	assert_true(allow > 0);
}

/*
 * The one-pass evaluation of a set of registry actions (registry.c's fast
 * path): each action's result must be what the reference (indexes off,
 * one policy_evaluate per action, every statement scanned) gives.
 */
static void
test_ra_equivalence(void **state)
{
	struct policy_ref refs[4];
	struct policy_request req;
	struct policy_result out[RA_COUNT], ref;
	char resource[1024];
	size_t set, r, i, n, tries = 0, checks = 0, allow = 0, deny = 0;
	unsigned mask, b;
	json_t *ctx;
	int a;

	(void)state;
	for (set = 0; set < 600; set++) {
		int registry = rnd(2);

		n = 1 + rnd(4);
		for (i = 0; i < n; i++) {
			refs[i].kind = (enum policy_kind)rnd(3);
			refs[i].policy = gen_policy(refs[i].kind, registry,
			    &tries);
			refs[i].index = (int)i;
		}
		for (r = 0; r < 50; r++) {
			memset(&req, 0, sizeof(req));
			ctx = rnd(5) ? gen_context() : NULL;
			if (registry && rnd(2))
				snprintf(resource, sizeof(resource),
				    "arn:regauth:registry:%s:%s:repository/%s%s",
				    rnd(2) ? "reg" : "other", rnd(8) ? ACCT :
				    "444455556666", rnd(2) ? "team-a/" :
				    "team-", PICK(fills));
			else
				gen_request_resource(ctx, resource,
				    sizeof(resource));
			req.principal = PICK(principals);
			req.resource = resource;
			req.context = ctx;
			req.account = ACCT;
			mask = rnd(1u << RA_COUNT);
			if (mask == 0)
				mask = 1u << rnd(RA_COUNT);
			policy_index_disable(0);
			policy_evaluate_ra(refs, n, &req, mask, out);
			policy_index_disable(1);
			for (b = mask; b != 0; b &= b - 1) {
				a = __builtin_ctz(b);
				req.action = policy_ra_names[a];
				policy_evaluate(refs, n, &req, &ref);
				assert_same(&out[a], &ref);
				checks++;
				allow += ref.decision == POLICY_ALLOW;
				deny += ref.decision == POLICY_DENY;
			}
			policy_index_disable(0);
			json_decref(ctx);
		}
		for (i = 0; i < n; i++)
			policy_free((struct policy *)refs[i].policy);
	}
	/*
	 * Dense documents: more than POLICY_MAX_MATCHES statements apply to
	 * each action, so the recorded ones are capped per action.
	 */
	for (set = 0; set < 200; set++) {
		static const char *const dense[] = { "registry:*", "ecr:*",
			"*", "registry:Pull", "ecr:Batch*", "ecr:*Image",
			"registry:P*" };
		struct policy_parse_opts opts = { ACCT, 1 };
		struct err e;
		json_t *doc, *stmts = json_array();
		char sid[16];

		n = 40 + rnd(40);
		for (i = 0; i < n; i++) {
			snprintf(sid, sizeof(sid), "D%zu", i);
			json_array_append_new(stmts, json_pack("{s:s, s:s, s:s,"
			    " s:s}", "Sid", sid, "Effect", rnd(40) == 0 ?
			    "Deny" : "Allow", "Action", PICK(dense),
			    "Resource", rnd(3) ? "*" : "repository/team-*"));
		}
		doc = json_pack("{s:s, s:o}", "Version", "2012-10-17",
		    "Statement", stmts);
		refs[0].kind = POLICY_IDENTITY;
		refs[0].index = 0;
		assert_non_null(refs[0].policy = policy_parse(doc,
		    POLICY_IDENTITY, &opts, &e));
		json_decref(doc);
		memset(&req, 0, sizeof(req));
		req.principal = principals[0];
		req.resource = "arn:regauth:registry:reg:" ACCT
		    ":repository/team-a/api";
		req.account = ACCT;
		mask = (1u << RA_COUNT) - 1;
		policy_evaluate_ra(refs, 1, &req, mask, out);
		policy_index_disable(1);
		for (a = 0; a < RA_COUNT; a++) {
			req.action = policy_ra_names[a];
			policy_evaluate(refs, 1, &req, &ref);
			assert_same(&out[a], &ref);
			checks++;
		}
		policy_index_disable(0);
		policy_free((struct policy *)refs[0].policy);
	}
	print_message("policy_evaluate_ra: %zu per-action results identical "
	    "to the reference (%zu Allow, %zu Deny)\n", checks, allow, deny);
	assert_true(allow > checks / 50 && deny > checks / 100);
}

/* RA_ actions are recognised ignoring case, and only as whole actions. */
static void
test_ra_lookup(void **state)
{
	int a;

	(void)state;
	for (a = 0; a < RA_COUNT; a++)
		assert_int_equal(policy_ra_lookup(policy_ra_names[a]), a);
	assert_int_equal(policy_ra_lookup("REGISTRY:pull"), RA_PULL);
	assert_int_equal(policy_ra_lookup("ecr:batchgetimage"),
	    RA_BATCH_GET_IMAGE);
	assert_int_equal(policy_ra_lookup("registry:Pul"), -1);
	assert_int_equal(policy_ra_lookup("registry:Pulls"), -1);
	assert_int_equal(policy_ra_lookup("registry:Pull "), -1);
	assert_int_equal(policy_ra_lookup("s3:GetObject"), -1);
	assert_int_equal(policy_ra_lookup(""), -1);
	assert_int_equal(policy_ra_lookup(NULL), -1);
}

struct collect {
	size_t	ids[64];
	size_t	n;
};

static void
collect(void *arg, size_t id)
{
	struct collect *c = arg;

	if (c->n < 64)
		c->ids[c->n] = id;
	c->n++;
}

/* Glob sets (repository patterns): the same ids, in the same order. */
static void
test_globset_equivalence(void **state)
{
	static const char *const parts[] = { "team-a", "team-b", "team-", "/",
		"api", "*", "?", "x", "a*", "team-a/api", ":" };
	const char *pats[200];
	char store[200][64], name[128];
	size_t ids[200], set, i, k, n, r, m1, m2, checks = 0, hits = 0;
	struct collect with, without;
	struct policy_globset *g;
	struct err e;

	(void)state;
	for (set = 0; set < 300; set++) {
		n = rnd(200);
		for (i = 0; i < n; i++) {
			store[i][0] = '\0';
			for (k = 1 + rnd(3); k > 0; k--)
				strncat(store[i], PICK(parts),
				    sizeof(store[i]) - strlen(store[i]) - 1);
			pats[i] = store[i];
			ids[i] = rnd(60);
		}
		assert_non_null(g = policy_globset_new(pats, ids, n, &e));
		for (r = 0; r < 200; r++) {
			name[0] = '\0';
			for (k = 1 + rnd(4); k > 0; k--) {
				const char *s = PICK(parts);
				if (strcmp(s, "*") == 0 || strcmp(s, "?") == 0)
					s = PICK(fills);
				strncat(name, s, sizeof(name) - strlen(name) -
				    1);
			}
			memset(&with, 0, sizeof(with));
			memset(&without, 0, sizeof(without));
			policy_index_disable(1);
			m1 = policy_globset_match(g, name, collect, &without);
			policy_index_disable(0);
			m2 = policy_globset_match(g, name, collect, &with);
			assert_int_equal(m1, without.n);
			assert_int_equal(m2, with.n);
			assert_int_equal(with.n, without.n);
			for (i = 0; i < with.n && i < 64; i++) {
				assert_int_equal(with.ids[i], without.ids[i]);
				if (i > 0)
					assert_true(with.ids[i] >
					    with.ids[i - 1]);
			}
			/* The reference itself: one glob per pattern. */
			for (i = 0, k = 0; i < 60; i++) {
				size_t j;
				for (j = 0; j < n; j++)
					if (ids[j] == i && policy_glob(pats[j],
					    name, 0))
						break;
				k += j < n;
			}
			assert_int_equal(k, with.n);
			checks++;
			hits += with.n > 0;
		}
		policy_globset_free(g);
	}
	print_message("policy_globset_match: %zu random names identical "
	    "(%zu matched some pattern)\n", checks, hits);
	assert_true(hits > checks / 10);
}

/* The glob by its definition: recursive, quadratic, obviously right. */
static int
ref_glob(const char *p, const char *s, int icase)
{
	char a, b;

	if (*p == '\0')
		return *s == '\0';
	if (*p == '*')
		return ref_glob(p + 1, s, icase) ||
		    (*s != '\0' && ref_glob(p, s + 1, icase));
	if (*s == '\0')
		return 0;
	if (*p == '?')
		return ref_glob(p + 1, s + 1, icase);
	if (*p == '\\' && p[1] != '\0')
		p++;
	a = *p;
	b = *s;
	if (icase && a >= 'A' && a <= 'Z')
		a = (char)(a - 'A' + 'a');
	if (icase && b >= 'A' && b <= 'Z')
		b = (char)(b - 'A' + 'a');
	return a == b && ref_glob(p + 1, s + 1, icase);
}

/*
 * policy_glob (with its shortcuts) and the compiled glob of resource
 * patterns and glob sets (policy_cglob_match) against the definition.
 */
static void
test_glob_reference(void **state)
{
	static const char pchars[] = "ab:/*?\\A";
	static const char schars[] = "ab:/*?\\A";
	struct policy_arena arena = { NULL };
	struct policy_cglob cg;
	char pat[16], str[16];
	size_t i, n, checks, hits = 0, compiled = 0;
	int icase, want;

	(void)state;
	for (checks = 0; checks < 300000; checks++) {
		n = rnd(10);
		for (i = 0; i < n; i++)
			pat[i] = pchars[rnd(sizeof(pchars) - 1)];
		pat[n] = '\0';
		n = rnd(12);
		for (i = 0; i < n; i++)
			str[i] = schars[rnd(sizeof(schars) - 1)];
		str[n] = '\0';
		icase = (int)rnd(2);
		want = ref_glob(pat, str, icase);
		assert_int_equal(policy_glob(pat, str, icase), want);
		hits += (size_t)want;
		if (icase)
			continue;
		assert_int_equal(policy_cglob_compile(&arena, pat, strlen(pat),
		    &cg), 0);
		assert_int_equal(policy_cglob_match(&cg, str, strlen(str)),
		    want);
		compiled++;
		if (compiled % 1000 == 0)
			policy_arena_release(&arena);
	}
	policy_arena_release(&arena);
	print_message("policy_glob: %zu random globs as defined (%zu "
	    "matches), %zu of them compiled too\n", checks, hits, compiled);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_random_equivalence),
		cmocka_unit_test(test_registry_equivalence),
		cmocka_unit_test(test_ra_equivalence),
		cmocka_unit_test(test_ra_lookup),
		cmocka_unit_test(test_globset_equivalence),
		cmocka_unit_test(test_glob_reference),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
