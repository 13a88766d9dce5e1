/*
 * Unit tests of the policy engine: the glob, every family of condition
 * operators, the evaluation rules of IAM_SEMANTICS.md section 3, the
 * registry mapping and canonicalisation, policy eval's I/O, and documents
 * that must be refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "policy/policy.h"
#include "policy/internal.h"

#define ACCT "111122223333"
#define ALICE "arn:aws:iam::111122223333:user/alice"
#define REPO "arn:aws:ecr:us-east-1:111122223333:repository/team-a/api"

static struct policy *
parse_kind(const char *text, enum policy_kind kind, int registry,
    struct err *e)
{
	struct policy_parse_opts opts = { ACCT, registry };
	json_error_t jerr;
	json_t *doc = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
	struct policy *p;

	assert_non_null(doc);
	p = policy_parse(doc, kind, &opts, e);
	json_decref(doc);
	return p;
}

/*
 * Decide one request against up to four documents given as (kind, text)
 * pairs, terminated by a NULL text.
 */
static enum policy_decision
decide_ctx(const char *principal, const char *action, const char *resource,
    const char *context, ...)
{
	struct policy_ref refs[4];
	struct policy_request req;
	struct err e;
	enum policy_decision d;
	json_t *ctx = NULL;
	size_t n = 0, i;
	va_list ap;
	const char *text;
	enum policy_kind kind;

	va_start(ap, context);
	for (;;) {
		kind = (enum policy_kind)va_arg(ap, int);
		if ((text = va_arg(ap, const char *)) == NULL)
			break;
		assert_true(n < 4);
		memset(&e, 0, sizeof(e));
		refs[n].policy = parse_kind(text, kind, 0, &e);
		if (refs[n].policy == NULL)
			fail_msg("parse: %s: %s", e.msg, text);
		refs[n].kind = kind;
		refs[n].index = (int)n;
		n++;
	}
	va_end(ap);
	if (context != NULL)
		assert_non_null(ctx = json_loads(context, 0, NULL));
	memset(&req, 0, sizeof(req));
	req.principal = principal;
	req.action = action;
	req.resource = resource;
	req.context = ctx;
	req.account = ACCT;
	d = policy_evaluate(refs, n, &req, NULL);
	for (i = 0; i < n; i++)
		policy_free((struct policy *)refs[i].policy);
	json_decref(ctx);
	return d;
}

#define ID POLICY_IDENTITY
#define RP POLICY_RESOURCE
#define BD POLICY_BOUNDARY
#define END 0, (const char *)NULL

/* An identity policy with one Allow of ecr:BatchGetImage on * and `cond`. */
static enum policy_decision
cond_decide(const char *cond, const char *context)
{
	char doc[2048];

	snprintf(doc, sizeof(doc), "{\"Version\":\"2012-10-17\",\"Statement\":"
	    "{\"Effect\":\"Allow\",\"Action\":\"ecr:BatchGetImage\","
	    "\"Resource\":\"*\",\"Condition\":%s}}", cond);
	return decide_ctx(ALICE, "ecr:BatchGetImage", REPO, context, ID, doc,
	    END);
}

#define ALLOWS(c, x) assert_int_equal(cond_decide(c, x), POLICY_ALLOW)
#define REFUSES(c, x) assert_int_equal(cond_decide(c, x), POLICY_IMPLICIT_DENY)

static void
test_glob(void **state)
{
	static const struct {
		const char *pat, *s;
		int icase, want;
	} t[] = {
		{ "*", "", 0, 1 },
		{ "*", "a/b:c", 0, 1 },
		{ "a*", "a", 0, 1 },
		{ "a?", "a", 0, 0 },
		{ "a?", "ab", 0, 1 },
		{ "a?c", "a/c", 0, 1 },
		{ "team-a/*", "team-a/x/y", 0, 1 },
		{ "team-a", "team-a/api", 0, 0 },
		{ "team-a*", "team-admin/x", 0, 1 },
		{ "arn:aws:ecr:*", "arn:aws:ecr:r:1:repository/x", 0, 1 },
		{ "*a*b*c*", "xxaxxbxxcxx", 0, 1 },
		{ "*a*b*c", "xxaxxbxxcxx", 0, 0 },
		{ "Team", "team", 0, 0 },
		{ "Team", "team", 1, 1 },
		{ "a\\*", "a*", 0, 1 },
		{ "a\\*", "ab", 0, 0 },
		{ "a\\?", "a?", 0, 1 },
		{ "a\\\\b", "a\\b", 0, 1 },
		{ "**", "x", 0, 1 },
		{ "", "", 0, 1 },
		{ "", "x", 0, 0 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (policy_glob(t[i].pat, t[i].s, t[i].icase) != t[i].want)
			fail_msg("glob(%s, %s, %d) != %d", t[i].pat, t[i].s,
			    t[i].icase, t[i].want);
}

static const char *
idp(const char *action, const char *resource)
{
	static char buf[1024];

	snprintf(buf, sizeof(buf), "{\"Version\":\"2012-10-17\",\"Statement\":"
	    "[{\"Effect\":\"Allow\",\"Action\":%s,\"Resource\":%s}]}", action,
	    resource);
	return buf;
}

static void
test_actions_resources(void **state)
{
	(void)state;
	assert_int_equal(decide_ctx(ALICE, "ecr:BatchGetImage", REPO, NULL,
	    ID, idp("\"ECR:batchgetimage\"", "\"*\""), END), POLICY_ALLOW);
	assert_int_equal(decide_ctx(ALICE, "ecr:BatchDeleteImage", REPO, NULL,
	    ID, idp("\"ecr:Batch*\"", "\"*\""), END), POLICY_ALLOW);
	assert_int_equal(decide_ctx(ALICE, "registry:Pull", REPO, NULL,
	    ID, idp("\"ecr:*\"", "\"*\""), END), POLICY_IMPLICIT_DENY);
	assert_int_equal(decide_ctx(ALICE, "ecr:BatchGetImage", REPO, NULL,
	    ID, idp("\"ecr:BatchGetImage \"", "\"*\""), END),
	    POLICY_IMPLICIT_DENY);
	assert_int_equal(decide_ctx(ALICE, "ecr:BatchGetImage", REPO, NULL,
	    ID, idp("\"ecr:BatchGetImage,PutImage\"", "\"*\""), END),
	    POLICY_IMPLICIT_DENY);
	assert_int_equal(decide_ctx(ALICE, "ecr:BatchGetImage", REPO, NULL,
	    ID, idp("\"ecr:BatchGetImage?\"", "\"*\""), END),
	    POLICY_IMPLICIT_DENY);
	assert_int_equal(decide_ctx(ALICE, "ecr:BatchGetImage", REPO, NULL,
	    ID, idp("\"*\"", "\"arn:aws:ecr:*\""), END), POLICY_ALLOW);
	assert_int_equal(decide_ctx(ALICE, "ecr:BatchGetImage", REPO, NULL,
	    ID, idp("\"*\"", "\"arn:aws:ecr:us-east-1:111122223333:"
	    "repository/Team-A/api\""), END), POLICY_IMPLICIT_DENY);
	assert_int_equal(decide_ctx(ALICE, "ecr:GetAuthorizationToken", "*",
	    NULL, ID, idp("\"*\"", "\"repository/*\""), END),
	    POLICY_IMPLICIT_DENY);
	assert_int_equal(decide_ctx(ALICE, "ecr:GetAuthorizationToken", "*",
	    NULL, ID, idp("\"*\"", "\"*\""), END), POLICY_ALLOW);
	/* NotAction stays limited by Resource; NotResource excludes. */
	assert_int_equal(decide_ctx(ALICE, "ecr:BatchGetImage",
	    "repository/team-b/x", NULL, ID,
	    "{\"Version\":\"2012-10-17\",\"Statement\":{\"Effect\":\"Allow\","
	    "\"NotAction\":\"ecr:PutImage\",\"Resource\":\"repository/team-a/"
	    "*\"}}", END), POLICY_IMPLICIT_DENY);
	assert_int_equal(decide_ctx(ALICE, "ecr:BatchGetImage",
	    "repository/team-b/x", NULL, ID,
	    "{\"Version\":\"2012-10-17\",\"Statement\":{\"Effect\":\"Allow\","
	    "\"Action\":\"*\",\"NotResource\":\"repository/team-a/*\"}}", END),
	    POLICY_ALLOW);
}

static void
test_string_bool_null(void **state)
{
	(void)state;
	ALLOWS("{\"StringEquals\":{\"aws:PrincipalTag/Team\":\"a\"}}",
	    "{\"aws:principaltag/team\":\"a\"}");
	REFUSES("{\"StringEquals\":{\"k:k\":\"A\"}}", "{\"k:k\":\"a\"}");
	REFUSES("{\"StringEquals\":{\"k:k\":\"a*\"}}", "{\"k:k\":\"ab\"}");
	ALLOWS("{\"StringEqualsIgnoreCase\":{\"k:k\":\"A\"}}", "{\"k:k\":\"a\"}");
	ALLOWS("{\"StringLike\":{\"k:k\":[\"x\",\"a*\"]}}", "{\"k:k\":\"ab\"}");
	REFUSES("{\"StringLike\":{\"k:k\":\"a*\"}}", "{}");
	ALLOWS("{\"StringLikeIfExists\":{\"k:k\":\"a*\"}}", "{}");
	REFUSES("{\"StringLikeIfExists\":{\"k:k\":\"a*\"}}", "{\"k:k\":\"b\"}");
	/* Negated: missing key true, several values NOR. */
	ALLOWS("{\"StringNotEquals\":{\"k:k\":[\"a\",\"b\"]}}", "{}");
	ALLOWS("{\"StringNotEquals\":{\"k:k\":[\"a\",\"b\"]}}", "{\"k:k\":\"c\"}");
	REFUSES("{\"StringNotEquals\":{\"k:k\":[\"a\",\"b\"]}}", "{\"k:k\":\"b\"}");
	REFUSES("{\"StringNotLike\":{\"k:k\":\"a*\"}}", "{\"k:k\":\"ab\"}");
	ALLOWS("{\"StringNotEqualsIgnoreCase\":{\"k:k\":\"A\"}}", "{\"k:k\":\"b\"}");
	/* Plain operators on a multi-valued key do not match. */
	REFUSES("{\"StringEquals\":{\"k:k\":\"a\"}}", "{\"k:k\":[\"a\"]}");
	REFUSES("{\"StringNotEquals\":{\"k:k\":\"a\"}}", "{\"k:k\":[\"b\"]}");
	/* Bool */
	ALLOWS("{\"Bool\":{\"aws:SecureTransport\":true}}",
	    "{\"aws:SecureTransport\":\"True\"}");
	REFUSES("{\"Bool\":{\"aws:SecureTransport\":\"true\"}}",
	    "{\"aws:SecureTransport\":\"false\"}");
	REFUSES("{\"Bool\":{\"aws:SecureTransport\":\"false\"}}", "{}");
	ALLOWS("{\"BoolIfExists\":{\"aws:SecureTransport\":\"false\"}}", "{}");
	REFUSES("{\"Bool\":{\"aws:SecureTransport\":\"true\"}}",
	    "{\"aws:SecureTransport\":\"yes\"}");
	/* Null */
	ALLOWS("{\"Null\":{\"k:k\":\"true\"}}", "{}");
	REFUSES("{\"Null\":{\"k:k\":\"true\"}}", "{\"k:k\":\"x\"}");
	ALLOWS("{\"Null\":{\"k:k\":false}}", "{\"k:k\":\"x\"}");
	REFUSES("{\"Null\":{\"k:k\":\"false\"}}", "{}");
	ALLOWS("{\"ForAllValues:Null\":{\"k:k\":\"false\"}}", "{}");
	REFUSES("{\"ForAnyValue:Null\":{\"k:k\":\"true\"}}", "{}");
	/* AND across operators and keys. */
	REFUSES("{\"StringEquals\":{\"a:a\":\"1\",\"b:b\":\"2\"}}",
	    "{\"a:a\":\"1\",\"b:b\":\"3\"}");
	ALLOWS("{\"StringEquals\":{\"a:a\":\"1\"},\"StringLike\":{\"b:b\":\"*\"}}",
	    "{\"a:a\":\"1\",\"b:b\":\"3\"}");
}

static void
test_numeric_date(void **state)
{
	(void)state;
	ALLOWS("{\"NumericGreaterThan\":{\"n:n\":\"9\"}}", "{\"n:n\":\"10\"}");
	ALLOWS("{\"NumericEquals\":{\"n:n\":1.5}}", "{\"n:n\":\"1.50\"}");
	ALLOWS("{\"NumericEquals\":{\"n:n\":0.1}}", "{\"n:n\":\"0.1\"}");
	ALLOWS("{\"NumericEquals\":{\"n:n\":\"007\"}}", "{\"n:n\":\"7.\"}");
	ALLOWS("{\"NumericEquals\":{\"n:n\":\"0\"}}", "{\"n:n\":\"-0.0\"}");
	ALLOWS("{\"NumericLessThan\":{\"n:n\":\"-1\"}}", "{\"n:n\":\"-1.5\"}");
	REFUSES("{\"NumericLessThan\":{\"n:n\":\"-2\"}}", "{\"n:n\":\"-1.5\"}");
	ALLOWS("{\"NumericLessThanEquals\":{\"n:n\":3600}}", "{\"n:n\":\"3600\"}");
	REFUSES("{\"NumericLessThanEquals\":{\"n:n\":3600}}", "{\"n:n\":\"7200\"}");
	ALLOWS("{\"NumericGreaterThanEquals\":{\"n:n\":\"0.001\"}}",
	    "{\"n:n\":\"0.01\"}");
	ALLOWS("{\"NumericNotEquals\":{\"n:n\":[\"1\",\"2\"]}}", "{\"n:n\":\"3\"}");
	REFUSES("{\"NumericNotEquals\":{\"n:n\":[\"1\",\"2\"]}}", "{\"n:n\":\"2.0\"}");
	REFUSES("{\"NumericEquals\":{\"n:n\":\"1\"}}", "{\"n:n\":\"one\"}");
	REFUSES("{\"NumericEquals\":{\"n:n\":\"x\"}}", "{\"n:n\":\"1\"}");
	ALLOWS("{\"DateLessThan\":{\"aws:CurrentTime\":\"2030-01-01T00:00:00Z\"}}",
	    "{\"aws:CurrentTime\":\"2029-12-31T23:59:59Z\"}");
	REFUSES("{\"DateLessThan\":{\"aws:CurrentTime\":\"2030-01-01T00:00:00Z\"}}",
	    "{\"aws:CurrentTime\":\"2030-01-01T00:00:00Z\"}");
	ALLOWS("{\"DateLessThanEquals\":{\"aws:CurrentTime\":\"2030-01-01\"}}",
	    "{\"aws:CurrentTime\":\"2030-01-01T00:00:00Z\"}");
	ALLOWS("{\"DateEquals\":{\"aws:CurrentTime\":\"2030-01-01T02:00:00+02:00\"}}",
	    "{\"aws:CurrentTime\":\"2030-01-01T00:00:00Z\"}");
	ALLOWS("{\"DateEquals\":{\"aws:CurrentTime\":\"1700000000\"}}",
	    "{\"aws:CurrentTime\":\"2023-11-14T22:13:20Z\"}");
	ALLOWS("{\"DateGreaterThan\":{\"aws:CurrentTime\":\"2030-01-01T00:00:00Z\"}}",
	    "{\"aws:CurrentTime\":\"2030-01-01T00:00:00.5Z\"}");
	ALLOWS("{\"DateNotEquals\":{\"aws:CurrentTime\":\"2030-01-01T00:00:00Z\"}}",
	    "{\"aws:CurrentTime\":\"2030-01-02T00:00:00Z\"}");
	REFUSES("{\"DateGreaterThan\":{\"aws:CurrentTime\":\"2000-01-01\"}}",
	    "{\"aws:CurrentTime\":\"2030-02-30T00:00:00Z\"}");
	REFUSES("{\"DateGreaterThan\":{\"aws:CurrentTime\":\"not a date\"}}",
	    "{\"aws:CurrentTime\":\"2030-01-01T00:00:00Z\"}");
}

static void
test_ip_binary_arn(void **state)
{
	(void)state;
	ALLOWS("{\"IpAddress\":{\"aws:SourceIp\":\"203.0.113.0/24\"}}",
	    "{\"aws:SourceIp\":\"203.0.113.200\"}");
	REFUSES("{\"IpAddress\":{\"aws:SourceIp\":\"203.0.113.0/24\"}}",
	    "{\"aws:SourceIp\":\"203.0.114.1\"}");
	ALLOWS("{\"IpAddress\":{\"aws:SourceIp\":\"203.0.113.77/24\"}}",
	    "{\"aws:SourceIp\":\"203.0.113.1\"}");
	ALLOWS("{\"IpAddress\":{\"aws:SourceIp\":\"10.0.0.0/9\"}}",
	    "{\"aws:SourceIp\":\"10.127.0.1\"}");
	REFUSES("{\"IpAddress\":{\"aws:SourceIp\":\"10.0.0.0/9\"}}",
	    "{\"aws:SourceIp\":\"10.128.0.1\"}");
	ALLOWS("{\"IpAddress\":{\"aws:SourceIp\":\"2001:db8::/32\"}}",
	    "{\"aws:SourceIp\":\"2001:db8::1\"}");
	REFUSES("{\"IpAddress\":{\"aws:SourceIp\":\"2001:db8::/32\"}}",
	    "{\"aws:SourceIp\":\"203.0.113.5\"}");
	REFUSES("{\"IpAddress\":{\"aws:SourceIp\":\"0.0.0.0/0\"}}",
	    "{\"aws:SourceIp\":\"::1\"}");
	ALLOWS("{\"IpAddress\":{\"aws:SourceIp\":\"192.0.2.1\"}}",
	    "{\"aws:SourceIp\":\"192.0.2.1\"}");
	REFUSES("{\"IpAddress\":{\"aws:SourceIp\":\"192.0.2.1/33\"}}",
	    "{\"aws:SourceIp\":\"192.0.2.1\"}");
	ALLOWS("{\"NotIpAddress\":{\"aws:SourceIp\":[\"203.0.113.0/24\","
	    "\"2001:db8::/32\"]}}", "{\"aws:SourceIp\":\"198.51.100.1\"}");
	REFUSES("{\"NotIpAddress\":{\"aws:SourceIp\":[\"203.0.113.0/24\","
	    "\"2001:db8::/32\"]}}", "{\"aws:SourceIp\":\"2001:db8::5\"}");
	ALLOWS("{\"BinaryEquals\":{\"k:b\":\"aGVsbG8=\"}}", "{\"k:b\":\"aGVsbG8=\"}");
	REFUSES("{\"BinaryEquals\":{\"k:b\":\"aGVsbG8=\"}}", "{\"k:b\":\"d29ybGQ=\"}");
	REFUSES("{\"BinaryEquals\":{\"k:b\":\"aGVsbG8=\"}}", "{\"k:b\":\"!!\"}");
	ALLOWS("{\"ArnLike\":{\"aws:PrincipalArn\":\"arn:aws:iam::*:role/ci-*\"}}",
	    "{\"aws:PrincipalArn\":\"arn:aws:iam::111122223333:role/ci-x\"}");
	ALLOWS("{\"ArnEquals\":{\"aws:PrincipalArn\":\"arn:aws:iam::*:role/ci-*\"}}",
	    "{\"aws:PrincipalArn\":\"arn:aws:iam::111122223333:role/ci-x\"}");
	REFUSES("{\"ArnLike\":{\"aws:PrincipalArn\":\"arn:aws:iam::*:role/CI-*\"}}",
	    "{\"aws:PrincipalArn\":\"arn:aws:iam::111122223333:role/ci-x\"}");
	REFUSES("{\"ArnLike\":{\"aws:SourceArn\":\"arn:aws:ecr:*:111122223333:"
	    "repository/*\"}}", "{\"aws:SourceArn\":\"arn:aws:ecr:r:"
	    "444455556666:repository/x:111122223333:repository/y\"}");
	ALLOWS("{\"StringLike\":{\"aws:SourceArn\":\"arn:aws:ecr:*:111122223333:"
	    "repository/*\"}}", "{\"aws:SourceArn\":\"arn:aws:ecr:r:"
	    "444455556666:repository/x:111122223333:repository/y\"}");
	ALLOWS("{\"ArnNotEquals\":{\"aws:PrincipalArn\":\"" ALICE "\"}}",
	    "{\"aws:PrincipalArn\":\"arn:aws:iam::111122223333:user/bob\"}");
	REFUSES("{\"ArnLike\":{\"aws:SourceArn\":\"arn:aws:ecr:*:*:*\"}}",
	    "{\"aws:SourceArn\":\"arn:aws:ecr\"}");
}

static void
test_set_operators(void **state)
{
	static const char *fav = "{\"ForAllValues:StringEquals\":{\"k:t\":"
	    "[\"a\",\"b\"]}}";
	static const char *favn = "{\"ForAllValues:StringNotEquals\":{\"k:t\":"
	    "[\"a\",\"b\"]}}";
	static const char *fany = "{\"ForAnyValue:StringEquals\":{\"k:t\":"
	    "[\"a\",\"b\"]}}";
	static const char *fanyn = "{\"ForAnyValue:StringNotEquals\":{\"k:t\":"
	    "[\"a\",\"b\"]}}";

	(void)state;
	/* The truth table of section 4, row by row. */
	ALLOWS(fav, "{}");
	ALLOWS(favn, "{}");
	REFUSES(fany, "{}");
	REFUSES(fanyn, "{}");
	ALLOWS(fav, "{\"k:t\":[]}");
	ALLOWS(favn, "{\"k:t\":[]}");
	REFUSES(fany, "{\"k:t\":[]}");
	REFUSES(fanyn, "{\"k:t\":[]}");
	ALLOWS(fav, "{\"k:t\":\"a\"}");
	REFUSES(favn, "{\"k:t\":\"a\"}");
	ALLOWS(fany, "{\"k:t\":\"a\"}");
	REFUSES(fanyn, "{\"k:t\":\"a\"}");
	REFUSES(fav, "{\"k:t\":\"c\"}");
	ALLOWS(favn, "{\"k:t\":\"c\"}");
	REFUSES(fany, "{\"k:t\":\"c\"}");
	ALLOWS(fanyn, "{\"k:t\":\"c\"}");
	ALLOWS(fav, "{\"k:t\":[\"a\",\"b\"]}");
	REFUSES(favn, "{\"k:t\":[\"a\",\"b\"]}");
	ALLOWS(fany, "{\"k:t\":[\"a\",\"b\"]}");
	REFUSES(fanyn, "{\"k:t\":[\"a\",\"b\"]}");
	REFUSES(fav, "{\"k:t\":[\"a\",\"c\"]}");
	REFUSES(favn, "{\"k:t\":[\"a\",\"c\"]}");
	ALLOWS(fany, "{\"k:t\":[\"a\",\"c\"]}");
	ALLOWS(fanyn, "{\"k:t\":[\"a\",\"c\"]}");
	REFUSES(fav, "{\"k:t\":[\"c\",\"d\"]}");
	ALLOWS(favn, "{\"k:t\":[\"c\",\"d\"]}");
	REFUSES(fany, "{\"k:t\":[\"c\",\"d\"]}");
	ALLOWS(fanyn, "{\"k:t\":[\"c\",\"d\"]}");
	ALLOWS("{\"ForAllValues:StringNotLike\":{\"k:t\":\"key1*\"}}",
	    "{\"k:t\":[\"key2:audit\"]}");
	REFUSES("{\"ForAllValues:StringNotLike\":{\"k:t\":\"key1*\"}}",
	    "{\"k:t\":[\"key1a\",\"key2\"]}");
	ALLOWS("{\"ForAnyValue:IpAddress\":{\"k:ip\":\"10.0.0.0/8\"}}",
	    "{\"k:ip\":[\"192.0.2.1\",\"10.1.1.1\"]}");
	ALLOWS("{\"ForAllValues:StringEqualsIfExists\":{\"k:t\":\"a\"}}", "{}");
}

static void
test_variables(void **state)
{
	static const char *res = "{\"Version\":\"2012-10-17\",\"Statement\":"
	    "{\"Effect\":\"Allow\",\"Action\":\"*\",\"Resource\":"
	    "\"repository/users/${aws:username}/*\"}}";
	static const char *res08 = "{\"Version\":\"2008-10-17\",\"Statement\":"
	    "{\"Effect\":\"Allow\",\"Action\":\"*\",\"Resource\":"
	    "\"repository/users/${aws:username}/*\"}}";
	static const char *def = "{\"Version\":\"2012-10-17\",\"Statement\":"
	    "{\"Effect\":\"Allow\",\"Action\":\"*\",\"Resource\":"
	    "\"repository/${aws:PrincipalTag/team, 'shared'}/*\"}}";
	static const char *esc = "{\"Version\":\"2012-10-17\",\"Statement\":"
	    "{\"Effect\":\"Allow\",\"Action\":\"*\",\"Resource\":"
	    "\"repository/${$}x${?}${*}\"}}";

	(void)state;
	assert_int_equal(decide_ctx(ALICE, "ecr:PutImage",
	    "repository/users/alice/app", "{\"AWS:USERNAME\":\"alice\"}", ID,
	    res, END), POLICY_ALLOW);
	assert_int_equal(decide_ctx(ALICE, "ecr:PutImage",
	    "repository/users/alice/app", "{}", ID, res, END),
	    POLICY_IMPLICIT_DENY);
	assert_int_equal(decide_ctx(ALICE, "ecr:PutImage",
	    "repository/users/bob/app", "{\"aws:username\":\"*\"}", ID, res,
	    END), POLICY_IMPLICIT_DENY);
	assert_int_equal(decide_ctx(ALICE, "ecr:PutImage",
	    "repository/users/*/app", "{\"aws:username\":\"*\"}", ID, res,
	    END), POLICY_ALLOW);
	assert_int_equal(decide_ctx(ALICE, "ecr:PutImage",
	    "repository/users/alice/app", "{\"aws:username\":\"alice\"}", ID,
	    res08, END), POLICY_IMPLICIT_DENY);
	assert_int_equal(decide_ctx(ALICE, "ecr:PutImage",
	    "repository/users/${aws:username}/app", "{}", ID, res08, END),
	    POLICY_ALLOW);
	assert_int_equal(decide_ctx(ALICE, "ecr:PutImage",
	    "repository/shared/x", "{}", ID, def, END), POLICY_ALLOW);
	assert_int_equal(decide_ctx(ALICE, "ecr:PutImage",
	    "repository/shared/x", "{\"aws:PrincipalTag/team\":\"web\"}", ID,
	    def, END), POLICY_IMPLICIT_DENY);
	assert_int_equal(decide_ctx(ALICE, "ecr:PutImage",
	    "repository/$x?*", "{}", ID, esc, END), POLICY_ALLOW);
	assert_int_equal(decide_ctx(ALICE, "ecr:PutImage",
	    "repository/$xyz", "{}", ID, esc, END), POLICY_IMPLICIT_DENY);
	/* Conditions: unresolved is null; negated operators are true. */
	ALLOWS("{\"StringEquals\":{\"k:a\":\"${k:b}\"}}",
	    "{\"k:a\":\"v\",\"k:b\":\"v\"}");
	REFUSES("{\"StringEquals\":{\"k:a\":\"${k:b}\"}}", "{\"k:a\":\"v\"}");
	ALLOWS("{\"StringNotEquals\":{\"k:a\":\"${k:b}\"}}", "{\"k:a\":\"v\"}");
	REFUSES("{\"StringLike\":{\"k:a\":\"${k:b}\"}}",
	    "{\"k:a\":\"ab\",\"k:b\":\"a*\"}");
	ALLOWS("{\"StringLike\":{\"k:a\":\"${k:b}*\"}}",
	    "{\"k:a\":\"a*b\",\"k:b\":\"a*\"}");
	ALLOWS("{\"StringEquals\":{\"k:a\":\"${k:b, 'd'}\"}}", "{\"k:a\":\"d\"}");
	ALLOWS("{\"ArnLike\":{\"k:a\":\"arn:aws:iam::*:user/${aws:username}\"}}",
	    "{\"k:a\":\"" ALICE "\",\"aws:username\":\"alice\"}");
}

static void
test_evaluation(void **state)
{
	static const char *allow_all = "{\"Version\":\"2012-10-17\",\"Statement\""
	    ":{\"Effect\":\"Allow\",\"Action\":\"ecr:*\",\"Resource\":\"*\"}}";
	static const char *deny = "{\"Version\":\"2012-10-17\",\"Statement\""
	    ":{\"Effect\":\"Deny\",\"Action\":\"ecr:BatchGetImage\","
	    "\"Resource\":\"*\"}}";
	static const char *bound_put = "{\"Version\":\"2012-10-17\",\"Statement\""
	    ":{\"Effect\":\"Allow\",\"Action\":\"ecr:PutImage\",\"Resource\":"
	    "\"*\"}}";
	static const char *rp_alice = "{\"Version\":\"2012-10-17\",\"Statement\""
	    ":{\"Effect\":\"Allow\",\"Action\":\"ecr:*\",\"Principal\":{\"AWS\":"
	    "\"" ALICE "\"}}}";
	static const char *rp_acct = "{\"Version\":\"2012-10-17\",\"Statement\""
	    ":{\"Effect\":\"Allow\",\"Action\":\"ecr:*\",\"Principal\":{\"AWS\":"
	    "\"444455556666\"}}}";
	static const char *rp_role = "{\"Version\":\"2012-10-17\",\"Statement\""
	    ":{\"Effect\":\"Allow\",\"Action\":\"ecr:*\",\"Principal\":{\"AWS\":"
	    "\"arn:aws:iam::111122223333:role/ci\"}}}";
	static const char *rp_star = "{\"Version\":\"2012-10-17\",\"Statement\""
	    ":{\"Effect\":\"Allow\",\"Action\":\"ecr:*\",\"Principal\":\"*\"}}";
	static const char *rp_root = "{\"Version\":\"2012-10-17\",\"Statement\""
	    ":{\"Effect\":\"Allow\",\"Action\":\"ecr:*\",\"Principal\":{\"AWS\":"
	    "\"arn:aws:iam::111122223333:root\"}}}";
	static const char *rp_notp = "{\"Version\":\"2012-10-17\",\"Statement\""
	    ":{\"Effect\":\"Deny\",\"Action\":\"ecr:*\",\"NotPrincipal\":"
	    "{\"AWS\":\"" ALICE "\"}}}";
	const char *carol = "arn:aws:iam::444455556666:user/carol";
	const char *sess = "arn:aws:sts::111122223333:assumed-role/ci/s1";

	(void)state;
	assert_int_equal(decide_ctx(ALICE, "ecr:BatchGetImage", REPO, NULL,
	    END), POLICY_IMPLICIT_DENY);
	assert_int_equal(decide_ctx(ALICE, "ecr:BatchGetImage", REPO, NULL,
	    ID, allow_all, ID, deny, END), POLICY_DENY);
	assert_int_equal(decide_ctx(ALICE, "ecr:BatchGetImage", REPO, NULL,
	    ID, allow_all, BD, deny, END), POLICY_DENY);
	/* Boundaries narrow. */
	assert_int_equal(decide_ctx(ALICE, "ecr:BatchGetImage", REPO, NULL,
	    ID, allow_all, BD, bound_put, END), POLICY_IMPLICIT_DENY);
	assert_int_equal(decide_ctx(ALICE, "ecr:PutImage", REPO, NULL,
	    ID, allow_all, BD, bound_put, END), POLICY_ALLOW);
	assert_int_equal(decide_ctx(ALICE, "ecr:PutImage", REPO, NULL,
	    BD, bound_put, END), POLICY_IMPLICIT_DENY);
	/* Same account: union; a user grant bypasses the boundary. */
	assert_int_equal(decide_ctx(ALICE, "ecr:BatchGetImage", REPO, NULL,
	    RP, rp_alice, END), POLICY_ALLOW);
	assert_int_equal(decide_ctx(ALICE, "ecr:BatchGetImage", REPO, NULL,
	    RP, rp_alice, BD, bound_put, END), POLICY_ALLOW);
	/* A role grant covers sessions but not past the boundary. */
	assert_int_equal(decide_ctx(sess, "ecr:BatchGetImage", REPO, NULL,
	    RP, rp_role, END), POLICY_ALLOW);
	assert_int_equal(decide_ctx(sess, "ecr:BatchGetImage", REPO, NULL,
	    RP, rp_role, BD, bound_put, END), POLICY_IMPLICIT_DENY);
	assert_int_equal(decide_ctx(
	    "arn:aws:sts::111122223333:assumed-role/cix/s1", "ecr:BatchGetImage",
	    REPO, NULL, RP, rp_role, END), POLICY_IMPLICIT_DENY);
	/* Account principals delegate. */
	assert_int_equal(decide_ctx(ALICE, "ecr:BatchGetImage", REPO, NULL,
	    RP, rp_root, END), POLICY_IMPLICIT_DENY);
	assert_int_equal(decide_ctx(ALICE, "ecr:BatchGetImage", REPO, NULL,
	    RP, rp_root, ID, allow_all, END), POLICY_ALLOW);
	/* Cross-account: intersection. */
	assert_int_equal(decide_ctx(carol, "ecr:BatchGetImage", REPO, NULL,
	    RP, rp_acct, END), POLICY_IMPLICIT_DENY);
	assert_int_equal(decide_ctx(carol, "ecr:BatchGetImage", REPO, NULL,
	    ID, allow_all, END), POLICY_IMPLICIT_DENY);
	assert_int_equal(decide_ctx(carol, "ecr:BatchGetImage", REPO, NULL,
	    ID, allow_all, RP, rp_acct, END), POLICY_ALLOW);
	assert_int_equal(decide_ctx(carol, "ecr:BatchGetImage", REPO, NULL,
	    ID, allow_all, RP, rp_star, END), POLICY_ALLOW);
	assert_int_equal(decide_ctx(carol, "ecr:BatchGetImage", REPO, NULL,
	    RP, rp_star, END), POLICY_IMPLICIT_DENY);
	assert_int_equal(decide_ctx(carol, "ecr:BatchGetImage", REPO, NULL,
	    ID, allow_all, RP, rp_acct, BD, bound_put, END),
	    POLICY_IMPLICIT_DENY);
	/* Anonymous: only a direct resource grant. */
	assert_int_equal(decide_ctx("anonymous", "ecr:BatchGetImage", REPO,
	    NULL, RP, rp_star, END), POLICY_ALLOW);
	assert_int_equal(decide_ctx("anonymous", "ecr:BatchGetImage", REPO,
	    NULL, ID, allow_all, END), POLICY_IMPLICIT_DENY);
	/* NotPrincipal. */
	assert_int_equal(decide_ctx(ALICE, "ecr:BatchGetImage", REPO, NULL,
	    ID, allow_all, RP, rp_notp, END), POLICY_ALLOW);
	assert_int_equal(decide_ctx("arn:aws:iam::111122223333:user/bob",
	    "ecr:BatchGetImage", REPO, NULL, ID, allow_all, RP, rp_notp, END),
	    POLICY_DENY);
	assert_int_equal(decide_ctx("anonymous", "ecr:BatchGetImage", REPO,
	    NULL, RP, rp_star, RP, rp_notp, END), POLICY_DENY);
}

static void
test_matches(void **state)
{
	struct policy_ref refs[2];
	struct policy_request req;
	struct policy_result res;
	struct err e;

	(void)state;
	refs[0].policy = parse_kind("{\"Version\":\"2012-10-17\",\"Statement\":"
	    "[{\"Sid\":\"One\",\"Effect\":\"Allow\",\"Action\":\"*\","
	    "\"Resource\":\"*\"},{\"Effect\":\"Allow\",\"Action\":\"x:y\","
	    "\"Resource\":\"*\"}]}", ID, 0, &e);
	refs[1].policy = parse_kind("{\"Statement\":{\"Sid\":\"Two\",\"Effect\""
	    ":\"Deny\",\"Action\":\"x:*\",\"Resource\":\"*\"}}", ID, 0, &e);
	assert_non_null(refs[0].policy);
	assert_non_null(refs[1].policy);
	refs[0].kind = refs[1].kind = ID;
	refs[0].index = 3;
	refs[1].index = 7;
	memset(&req, 0, sizeof(req));
	req.principal = ALICE;
	req.action = "ecr:PutImage";
	req.resource = REPO;
	req.account = ACCT;
	assert_int_equal(policy_evaluate(refs, 2, &req, &res), POLICY_ALLOW);
	assert_int_equal(res.decision, POLICY_ALLOW);
	assert_int_equal(res.nmatches, 1);
	assert_int_equal(res.matches[0].policy, 3);
	assert_string_equal(res.matches[0].sid, "One");
	req.action = "x:y";
	assert_int_equal(policy_evaluate(refs, 2, &req, &res), POLICY_DENY);
	assert_int_equal(res.nmatches, 1);
	assert_int_equal(res.matches[0].policy, 7);
	assert_string_equal(res.matches[0].sid, "Two");
	req.action = "z:z";
	refs[0].kind = BD;
	assert_int_equal(policy_evaluate(refs, 1, &req, &res),
	    POLICY_IMPLICIT_DENY);
	assert_int_equal(res.nmatches, 0);
	assert_string_equal(policy_decision_name(POLICY_IMPLICIT_DENY),
	    "ImplicitDeny");
	policy_free((struct policy *)refs[0].policy);
	policy_free((struct policy *)refs[1].policy);
	policy_free(NULL);
}

/* Registry decisions: one document, canonicalised. */
static enum policy_decision
reg(const char *text, enum policy_kind kind, const char *principal,
    const char *repo, const char *scope)
{
	struct policy_ref ref;
	struct err e;
	char resource[256];
	enum policy_decision d;

	memset(&e, 0, sizeof(e));
	ref.policy = parse_kind(text, kind, 1, &e);
	if (ref.policy == NULL)
		fail_msg("parse: %s", e.msg);
	ref.kind = kind;
	ref.index = 0;
	snprintf(resource, sizeof(resource),
	    "arn:regauth:registry:reg1:%s:repository/%s", ACCT, repo);
	d = policy_registry_decide(&ref, 1, principal, resource,
	    strcmp(scope, "catalog") == 0, scope, NULL, ACCT, NULL);
	policy_free((struct policy *)ref.policy);
	return d;
}

static void
test_registry(void **state)
{
	const char *ra = "arn:regauth:iam::111122223333:user/alice";
	const char *native = "{\"Version\":\"2012-10-17\",\"Statement\":{"
	    "\"Effect\":\"Allow\",\"Action\":\"registry:Pull\",\"Resource\":"
	    "\"repository/team-a/*\"}}";
	const char *ecr_pull = "{\"Version\":\"2012-10-17\",\"Statement\":{"
	    "\"Effect\":\"Allow\",\"Action\":[\"ecr:BatchGetImage\","
	    "\"ecr:GetDownloadUrlForLayer\",\"ecr:BatchCheckLayerAvailability\""
	    "],\"Resource\":\"arn:aws:ecr:us-east-1:999999999999:repository/"
	    "team-a/*\"}}";
	const char *ecr_partial = "{\"Version\":\"2012-10-17\",\"Statement\":{"
	    "\"Effect\":\"Allow\",\"Action\":[\"ecr:BatchGetImage\"],"
	    "\"Resource\":\"*\"}}";
	const char *deny_ecr = "{\"Version\":\"2012-10-17\",\"Statement\":["
	    "{\"Effect\":\"Allow\",\"Action\":\"registry:*\",\"Resource\":\"*\"},"
	    "{\"Effect\":\"Deny\",\"Action\":\"ecr:PutImage\",\"Resource\":"
	    "\"*\"}]}";
	const char *all = "{\"Version\":\"2012-10-17\",\"Statement\":{"
	    "\"Effect\":\"Allow\",\"Action\":[\"registry:Pull\","
	    "\"registry:Push\",\"registry:Delete\"],\"Resource\":"
	    "\"repository/*\"}}";
	const char *catalog = "{\"Version\":\"2012-10-17\",\"Statement\":{"
	    "\"Effect\":\"Allow\",\"Action\":\"registry:Catalog\",\"Resource\":"
	    "\"*\"}}";
	const char *rp_short = "{\"Version\":\"2012-10-17\",\"Statement\":{"
	    "\"Effect\":\"Allow\",\"Action\":\"registry:Pull\",\"Principal\":"
	    "{\"regauth\":[\"user/alice\"]}}}";
	const char *rp_ecr = "{\"Version\":\"2008-10-17\",\"Statement\":{"
	    "\"Effect\":\"Allow\",\"Action\":\"ecr:*\",\"Principal\":{\"AWS\":"
	    "\"arn:aws:iam::999999999999:user/alice\"}}}";
	const char *vars = "{\"Version\":\"2012-10-17\",\"Statement\":{"
	    "\"Effect\":\"Allow\",\"Action\":\"registry:*\",\"Resource\":"
	    "\"repository/${aws:username, 'alice'}/*\"}}";
	const char *single = "{\"Version\":\"2012-10-17\",\"Statement\":{"
	    "\"Effect\":\"Allow\",\"Action\":\"registry:*\",\"Resource\":"
	    "\"arn:regauth:registry:reg2:111122223333:repository/*\"}}";

	(void)state;
	assert_int_equal(reg(native, ID, ra, "team-a/api", "pull"),
	    POLICY_ALLOW);
	assert_int_equal(reg(native, ID, ra, "team-b/api", "pull"),
	    POLICY_IMPLICIT_DENY);
	assert_int_equal(reg(native, ID, ra, "team-a/api", "push"),
	    POLICY_IMPLICIT_DENY);
	assert_int_equal(reg(ecr_pull, ID, ra, "team-a/api", "pull"),
	    POLICY_ALLOW);
	assert_int_equal(reg(ecr_partial, ID, ra, "team-a/api", "pull"),
	    POLICY_IMPLICIT_DENY);
	assert_int_equal(reg(deny_ecr, ID, ra, "team-a/api", "pull"),
	    POLICY_ALLOW);
	assert_int_equal(reg(deny_ecr, ID, ra, "team-a/api", "push"),
	    POLICY_DENY);
	assert_int_equal(reg(deny_ecr, ID, ra, "team-a/api", "*"),
	    POLICY_DENY);
	assert_int_equal(reg(all, ID, ra, "x", "*"), POLICY_ALLOW);
	assert_int_equal(reg(native, ID, ra, "team-a/x", "*"),
	    POLICY_IMPLICIT_DENY);
	assert_int_equal(reg(all, ID, ra, "x", "tag"), POLICY_IMPLICIT_DENY);
	assert_int_equal(reg(catalog, ID, ra, "x", "catalog"), POLICY_ALLOW);
	assert_int_equal(reg(all, ID, ra, "x", "catalog"),
	    POLICY_IMPLICIT_DENY);
	assert_int_equal(reg(rp_short, RP, ra, "x", "pull"), POLICY_ALLOW);
	assert_int_equal(reg(rp_short, RP,
	    "arn:regauth:iam::111122223333:user/bob", "x", "pull"),
	    POLICY_IMPLICIT_DENY);
	assert_int_equal(reg(rp_ecr, RP, ra, "x", "pull"), POLICY_ALLOW);
	assert_int_equal(reg(rp_ecr, RP, ra, "x", "delete"), POLICY_ALLOW);
	assert_int_equal(reg(vars, ID, ra, "alice/app", "push"),
	    POLICY_ALLOW);
	assert_int_equal(reg(single, ID, ra, "x", "pull"),
	    POLICY_IMPLICIT_DENY);
}

static void
test_invalid(void **state)
{
	static const struct {
		enum policy_kind kind;
		const char *doc;
	} bad[] = {
		{ ID, "[]" },
		{ ID, "{\"Version\":\"2012-10-17\"}" },
		{ ID, "{\"Statement\":[]}" },
		{ ID, "{\"Statement\":\"x\"}" },
		{ ID, "{\"Version\":\"2012-10-18\",\"Statement\":{\"Effect\":"
		    "\"Allow\",\"Action\":\"*\",\"Resource\":\"*\"}}" },
		{ ID, "{\"Version\":1,\"Statement\":{\"Effect\":"
		    "\"Allow\",\"Action\":\"*\",\"Resource\":\"*\"}}" },
		{ ID, "{\"Extra\":1,\"Statement\":{\"Effect\":"
		    "\"Allow\",\"Action\":\"*\",\"Resource\":\"*\"}}" },
		{ ID, "{\"Id\":\"x\",\"Statement\":{\"Effect\":"
		    "\"Allow\",\"Action\":\"*\",\"Resource\":\"*\"}}" },
		{ ID, "{\"Statement\":{\"Effect\":\"allow\",\"Action\":\"*\","
		    "\"Resource\":\"*\"}}" },
		{ ID, "{\"Statement\":{\"Action\":\"*\",\"Resource\":\"*\"}}" },
		{ ID, "{\"Statement\":{\"Effect\":\"Allow\",\"Resource\":\"*\"}}" },
		{ ID, "{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"*\"}}" },
		{ ID, "{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"*\","
		    "\"NotAction\":\"*\",\"Resource\":\"*\"}}" },
		{ ID, "{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"*\","
		    "\"NotResource\":\"*\",\"Resource\":\"*\"}}" },
		{ ID, "{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"*\","
		    "\"Resource\":\"*\",\"Principal\":\"*\"}}" },
		{ BD, "{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"*\","
		    "\"Resource\":\"*\",\"NotPrincipal\":{\"AWS\":\"*\"}}}" },
		{ ID, "{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"ecr\","
		    "\"Resource\":\"*\"}}" },
		{ ID, "{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"a:b:c\","
		    "\"Resource\":\"*\"}}" },
		{ ID, "{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"e cr:x\","
		    "\"Resource\":\"*\"}}" },
		{ ID, "{\"Statement\":{\"Effect\":\"Allow\",\"Action\":[],"
		    "\"Resource\":[1]}}" },
		{ ID, "{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"*\","
		    "\"Resource\":\"team-a/*\"}}" },
		{ ID, "{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"*\","
		    "\"Resource\":\"arn:aws:ECR:r:1:repository/x\"}}" },
		{ ID, "{\"Statement\":{\"Sid\":\"a-b\",\"Effect\":\"Allow\","
		    "\"Action\":\"*\",\"Resource\":\"*\"}}" },
		{ ID, "{\"Statement\":[{\"Sid\":\"A\",\"Effect\":\"Allow\","
		    "\"Action\":\"*\",\"Resource\":\"*\"},{\"Sid\":\"A\","
		    "\"Effect\":\"Deny\",\"Action\":\"*\",\"Resource\":\"*\"}]}" },
		{ ID, "{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"*\","
		    "\"Resource\":\"*\",\"Condition\":{\"StringEqual\":{}}}}" },
		{ ID, "{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"*\","
		    "\"Resource\":\"*\",\"Condition\":{\"NullIfExists\":"
		    "{\"a\":\"true\"}}}}" },
		{ ID, "{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"*\","
		    "\"Resource\":\"*\",\"Condition\":{\"Bool\":{\"a\":[true,"
		    "false]}}}}" },
		{ ID, "{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"*\","
		    "\"Resource\":\"*\",\"Condition\":{\"DateLessThan\":"
		    "{\"a\":\"${aws:CurrentTime}\"}}}}" },
		{ ID, "{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"*\","
		    "\"Resource\":\"*\",\"Condition\":{\"StringLike\":"
		    "{\"a:b\":\"x\",\"A:B\":\"y\"}}}}" },
		{ ID, "{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"*\","
		    "\"Resource\":\"*\",\"Condition\":{\"StringLike\":"
		    "{\"a:b\":{\"x\":1}}}}}" },
		{ ID, "{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"*\","
		    "\"Resource\":\"*\",\"Condition\":{\"ForAnyValue:"
		    "StringLikeIfExists\":{\"a:b\":\"x\"}}}}" },
		{ ID, "{\"Version\":\"2012-10-17\",\"Statement\":{\"Effect\":"
		    "\"Allow\",\"Action\":\"*\",\"Resource\":\"repository/${a\"}}" },
		{ ID, "{\"Version\":\"2012-10-17\",\"Statement\":{\"Effect\":"
		    "\"Allow\",\"Action\":\"*\",\"Resource\":\"repository/${}\"}}" },
		{ ID, "{\"Version\":\"2012-10-17\",\"Statement\":{\"Effect\":"
		    "\"Allow\",\"Action\":\"*\",\"Resource\":\"repository/${a, b}"
		    "\"}}" },
		{ ID, "{\"Version\":\"2012-10-17\",\"Statement\":{\"Effect\":"
		    "\"Allow\",\"Action\":\"*\",\"Resource\":\"arn:aws:ecr:${a:b}:"
		    "1:repository/x\"}}" },
		{ RP, "{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"*\"}}" },
		{ RP, "{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"*\","
		    "\"Principal\":{\"AWS\":\"arn:aws:iam::1:user/*\"}}}" },
		{ RP, "{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"*\","
		    "\"Principal\":{\"Other\":\"x\"}}}" },
		{ RP, "{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"*\","
		    "\"Principal\":{\"regauth\":\"user/x\"}}}" },
		{ RP, "{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"*\","
		    "\"Principal\":\"*\",\"NotPrincipal\":\"*\"}}" },
	};
	struct err e;
	struct policy *p;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&e, 0, sizeof(e));
		p = parse_kind(bad[i].doc, bad[i].kind, 0, &e);
		if (p != NULL) {
			policy_free(p);
			fail_msg("accepted invalid document %zu: %s", i,
			    bad[i].doc);
		}
		if (e.msg[0] == '\0')
			fail_msg("no message for document %zu", i);
	}
	/* And ones that must load. */
	memset(&e, 0, sizeof(e));
	p = parse_kind("{\"Id\":\"x\",\"Version\":\"2008-10-17\",\"Statement\""
	    ":{\"Sid\":\"any text\",\"Effect\":\"Allow\",\"Action\":[],"
	    "\"Principal\":{\"AWS\":[]},\"Condition\":{}}}", RP, 0, &e);
	assert_non_null(p);
	policy_free(p);
	p = parse_kind("{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"*\","
	    "\"Resource\":\"repository/${a\"}}", ID, 0, &e);
	assert_non_null(p);	/* no Version: literal text */
	policy_free(p);
}

/* Run policy_eval_stream over `in`; return its output (caller frees). */
static char *
run_stream(const char *in)
{
	FILE *fin, *fout;
	char *out = NULL;
	size_t len = 0;

	assert_non_null(fin = fmemopen((void *)in, strlen(in), "r"));
	assert_non_null(fout = open_memstream(&out, &len));
	assert_int_equal(policy_eval_stream(fin, fout, ACCT), 0);
	fclose(fin);
	fclose(fout);
	return out;
}

static void
test_eval_stream(void **state)
{
	char *out, *big;
	size_t n = 2 * 1024 * 1024, off;
	const char *line =
	    "{\"policies\":[{\"type\":\"identity\",\"policy\":{\"Version\":"
	    "\"2012-10-17\",\"Statement\":{\"Sid\":\"S1\",\"Effect\":\"Allow\","
	    "\"Action\":\"ecr:*\",\"Resource\":\"*\"}}},{\"type\":\"identity\","
	    "\"policy\":{\"Statement\":{\"Effect\":\"allow\"}}}],\"request\":"
	    "{\"principal\":\"" ALICE "\",\"action\":\"ecr:PutImage\","
	    "\"resource\":\"repository/x\",\"context\":{}}}\n"
	    "not json\n"
	    "{\"policies\":[{\"type\":\"identity\",\"policy\":{\"Statement\":"
	    "{\"Effect\":\"Allow\",\"Effect\":\"Allow\",\"Action\":\"*\","
	    "\"Resource\":\"*\"}}},{\"type\":\"identity\",\"policy\":"
	    "{\"Statement\":{\"Effect\":\"Deny\",\"Action\":\"x:y\","
	    "\"Resource\":\"*\"}}}],\"request\":{\"principal\":\"" ALICE "\","
	    "\"action\":\"x:y\",\"resource\":\"*\"}}\n"
	    "{\"request\":{\"principal\":\"a\",\"principal\":\"b\","
	    "\"action\":\"x:y\",\"resource\":\"*\"}}\n"
	    "{\"request\":{\"principal\":\"anonymous\",\"action\":\"x:y\","
	    "\"resource\":\"*\",\"context\":{\"k\":{}}}}\n";

	(void)state;
	out = run_stream(line);
	assert_string_equal(out,
	    "{\"decision\":\"Allow\",\"statements\":[{\"policy\":0,\"sid\":"
	    "\"S1\"}],\"errors\":[{\"policy\":1,\"message\":\"statement 0: "
	    "Effect must be \\\"Allow\\\" or \\\"Deny\\\", not \\\"allow\\\""
	    "\"}]}\n"
	    "{\"error\":\"invalid JSON: '[' or '{' expected near 'not' "
	    "(column 3)\"}\n"
	    "{\"decision\":\"Deny\",\"statements\":[{\"policy\":1,\"sid\":null}],"
	    "\"errors\":[{\"policy\":0,\"message\":\"duplicate key in policy "
	    "document\"}]}\n"
	    "{\"error\":\"invalid JSON: duplicate object key\"}\n"
	    "{\"error\":\"context key \\\"k\\\" must be a string or an array of "
	    "strings\"}\n");
	free(out);

	/* A line longer than 1 MiB is read whole. */
	assert_non_null(big = malloc(n + 512));
	off = (size_t)snprintf(big, 512, "{\"policies\":[],\"request\":{"
	    "\"principal\":\"anonymous\",\"action\":\"x:y\",\"resource\":\"*\","
	    "\"context\":{\"k:k\":\"");
	memset(big + off, 'a', n);
	off += n;
	snprintf(big + off, 512, "\"}}}\n");
	out = run_stream(big);
	assert_string_equal(out, "{\"decision\":\"ImplicitDeny\","
	    "\"statements\":[],\"errors\":[]}\n");
	free(out);
	free(big);
}

static void
test_performance(void **state)
{
	struct policy_ref ref;
	struct policy_request req;
	struct policy_result res;
	struct err e;
	json_t *ctx;
	struct timespec t0, t1;
	double us;
	int i, iters = 100000;

	(void)state;
	ref.policy = parse_kind("{\"Version\":\"2012-10-17\",\"Statement\":["
	    "{\"Effect\":\"Allow\",\"Action\":[\"ecr:BatchGetImage\","
	    "\"ecr:GetDownloadUrlForLayer\"],\"Resource\":\"repository/users/"
	    "${aws:username}/*\",\"Condition\":{\"IpAddress\":{\"aws:SourceIp\""
	    ":\"10.0.0.0/8\"},\"StringEquals\":{\"aws:PrincipalTag/team\":"
	    "[\"a\",\"b\"]}}},{\"Effect\":\"Deny\",\"Action\":\"*\",\"Resource\""
	    ":\"*\",\"Condition\":{\"Bool\":{\"aws:SecureTransport\":\"false\""
	    "}}}]}", ID, 0, &e);
	assert_non_null(ref.policy);
	ref.kind = ID;
	ref.index = 0;
	assert_non_null(ctx = json_loads("{\"aws:username\":\"alice\","
	    "\"aws:SourceIp\":\"10.1.2.3\",\"aws:PrincipalTag/team\":\"b\","
	    "\"aws:SecureTransport\":\"true\"}", 0, NULL));
	memset(&req, 0, sizeof(req));
	req.principal = ALICE;
	req.action = "ecr:BatchGetImage";
	req.resource = "repository/users/alice/app";
	req.context = ctx;
	req.account = ACCT;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < iters; i++)
		assert_int_equal(policy_evaluate(&ref, 1, &req, &res),
		    POLICY_ALLOW);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	us = ((double)(t1.tv_sec - t0.tv_sec) * 1e6 +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e3) / iters;
	print_message("policy_evaluate: %.3f us per decision\n", us);
	assert_true(us < 50.0);
	json_decref(ctx);
	policy_free((struct policy *)ref.policy);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_glob),
		cmocka_unit_test(test_actions_resources),
		cmocka_unit_test(test_string_bool_null),
		cmocka_unit_test(test_numeric_date),
		cmocka_unit_test(test_ip_binary_arn),
		cmocka_unit_test(test_set_operators),
		cmocka_unit_test(test_variables),
		cmocka_unit_test(test_evaluation),
		cmocka_unit_test(test_matches),
		cmocka_unit_test(test_registry),
		cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_eval_stream),
		cmocka_unit_test(test_performance),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
