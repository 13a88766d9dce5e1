/*
 * Unit tests of the policy lint (IAM_SEMANTICS.md section 7): errors are
 * exactly the engine's refusals, each finding has its code, severity and
 * JSON Pointer, and clean documents have no finding.
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

static json_t *
load(const char *text)
{
	json_error_t je;
	json_t *j = json_loads(text, JSON_REJECT_DUPLICATES, &je);

	if (j == NULL)
		print_message("bad test JSON: %s\n", je.text);
	assert_non_null(j);
	return j;
}

static void
lint(const char *text, enum policy_kind kind, const char *prefix,
    struct policy_lint *l)
{
	json_t *j = load(text);

	memset(l, 0, sizeof(*l));
	assert_int_equal(policy_lint_document(j, kind, prefix, l), 0);
	json_decref(j);
}

static int
has(const struct policy_lint *l, const char *code,
    enum policy_lint_severity sev, const char *path)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (strcmp(l->v[i].code, code) == 0 && l->v[i].severity == sev &&
		    (path == NULL || strcmp(l->v[i].path, path) == 0))
			return 1;
	return 0;
}

static void
dump(const struct policy_lint *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		print_message("  %s %s %s: %s\n",
		    policy_lint_severity_name(l->v[i].severity), l->v[i].code,
		    l->v[i].path, l->v[i].msg);
}

static void
expect_one(const char *text, enum policy_kind kind, const char *code,
    enum policy_lint_severity sev, const char *path)
{
	struct policy_lint l;

	lint(text, kind, NULL, &l);
	if (!has(&l, code, sev, path)) {
		print_message("expected %s at %s in %s\n", code, path, text);
		dump(&l);
	}
	assert_true(has(&l, code, sev, path));
	policy_lint_free(&l);
}

#define V "\"Version\":\"2012-10-17\","

static void
test_clean(void **state)
{
	static const char *docs[] = {
		"{" V "\"Statement\":{\"Effect\":\"Allow\",\"Action\":"
		    "\"registry:Pull\",\"Resource\":\"repository/team-a/*\"}}",
		"{" V "\"Statement\":[{\"Sid\":\"A\",\"Effect\":\"Allow\","
		    "\"Action\":[\"registry:Pull\",\"registry:Push\"],"
		    "\"Resource\":\"repository/home/${aws:username}/*\"},"
		    "{\"Effect\":\"Deny\",\"Action\":\"registry:*\","
		    "\"Resource\":\"*\",\"Condition\":{\"NotIpAddress\":"
		    "{\"aws:SourceIp\":[\"10.0.0.0/8\",\"2001:db8::/32\"]}}}]}",
		"{" V "\"Statement\":{\"Effect\":\"Allow\",\"Action\":"
		    "[\"registry:Catalog\",\"ecr:GetAuthorizationToken\"],"
		    "\"Resource\":\"*\"}}",
	};
	struct policy_lint l;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
		lint(docs[i], POLICY_IDENTITY, NULL, &l);
		if (l.n != 0)
			dump(&l);
		assert_int_equal(l.n, 0);
		policy_lint_free(&l);
	}
	lint("{" V "\"Statement\":{\"Effect\":\"Allow\",\"Principal\":"
	    "{\"regauth\":[\"user/alice\"]},\"Action\":\"registry:Pull\"}}",
	    POLICY_RESOURCE, NULL, &l);
	assert_int_equal(l.n, 0);
	policy_lint_free(&l);
}

/* Lint reports an error exactly when the engine refuses the document. */
static void
test_errors_are_verdicts(void **state)
{
	static const char *docs[] = {
		"{" V "\"Statement\":{\"Effect\":\"allow\",\"Action\":\"a:b\","
		    "\"Resource\":\"*\"}}",
		"{\"Version\":\"2013-01-01\",\"Statement\":{\"Effect\":\"Allow\","
		    "\"Action\":\"a:b\",\"Resource\":\"*\"}}",
		"{" V "\"Statement\":[]}",
		"{" V "\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"ab\","
		    "\"Resource\":\"*\"}}",
		"{" V "\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"a:b\","
		    "\"Resource\":\"*\",\"Condition\":{\"Foo\":{\"k\":\"v\"}}}}",
		"{" V "\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"a:b\","
		    "\"Resource\":\"*\",\"Condition\":{\"NumericEquals\":"
		    "{\"k\":\"${aws:username}\"}}}}",
		"{" V "\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"a:b\","
		    "\"Resource\":\"*\"}}",
		"{\"Statement\":{\"Effect\":\"Deny\",\"NotAction\":\"a:b\","
		    "\"NotResource\":\"*\"}}",
	};
	struct policy_parse_opts opts = { NULL, 1 };
	struct policy_lint l;
	struct policy *p;
	struct err e;
	size_t i, k;
	json_t *j;
	int errs;

	(void)state;
	for (i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
		j = load(docs[i]);
		p = policy_parse(j, POLICY_IDENTITY, &opts, &e);
		lint(docs[i], POLICY_IDENTITY, NULL, &l);
		for (errs = 0, k = 0; k < l.n; k++)
			errs += l.v[k].severity == POLICY_LINT_ERROR;
		assert_int_equal(p == NULL, errs > 0);
		policy_free(p);
		policy_lint_free(&l);
		json_decref(j);
	}
}

static void
test_error_codes_and_paths(void **state)
{
	struct policy_lint l;

	(void)state;
	expect_one("{" V "\"Statement\":[{\"Effect\":\"Allow\",\"Action\":"
	    "\"a:b\",\"Resource\":\"*\"},{\"Effect\":\"allow\",\"Action\":"
	    "\"a:b\",\"Resource\":\"*\"}]}", POLICY_IDENTITY, "INVALID_EFFECT",
	    POLICY_LINT_ERROR, "/Statement/1/Effect");
	expect_one("{" V "\"Statement\":{\"Effect\":\"Allow\",\"Action\":"
	    "[\"a:b\",\"a:b:c\"],\"Resource\":\"*\"}}", POLICY_IDENTITY,
	    "INVALID_ACTION", POLICY_LINT_ERROR, "/Statement/Action/1");
	expect_one("{" V "\"Statement\":{\"Effect\":\"Allow\",\"Action\":"
	    "\"a:b\",\"Resource\":\"*\",\"Condition\":{\"StringEquals\":"
	    "{\"a/b\":\"x\",\"A/B\":\"y\"}}}}", POLICY_IDENTITY,
	    "DUPLICATE_CONDITION_KEY", POLICY_LINT_ERROR,
	    "/Statement/Condition/StringEquals/A~1B");
	expect_one("{" V "\"Statement\":{\"Effect\":\"Allow\",\"Principal\":"
	    "\"*\",\"Action\":\"a:b\",\"Resource\":\"*\"}}", POLICY_BOUNDARY,
	    "PRINCIPAL_NOT_ALLOWED", POLICY_LINT_ERROR, "/Statement/Principal");
	expect_one("{" V "\"Statement\":{\"Effect\":\"Allow\",\"Action\":"
	    "\"a:b\"}}", POLICY_RESOURCE, "MISSING_PRINCIPAL",
	    POLICY_LINT_ERROR, "/Statement");
	expect_one("{" V "\"Foo\":1,\"Statement\":{\"Effect\":\"Allow\","
	    "\"Action\":\"a:b\",\"Resource\":\"*\"}}", POLICY_IDENTITY,
	    "UNKNOWN_ELEMENT", POLICY_LINT_ERROR, "/Foo");
	/* Every statement's first error, and duplicate Sids beside them. */
	lint("{" V "\"Statement\":[{\"Sid\":\"A\",\"Effect\":\"x\",\"Action\":"
	    "\"a:b\",\"Resource\":\"*\"},{\"Sid\":\"A\",\"Effect\":\"Allow\","
	    "\"Action\":\"nocolon\",\"Resource\":\"*\"},{\"Effect\":\"Allow\","
	    "\"Action\":\"a:b\",\"Resource\":\"bad\"}]}", POLICY_IDENTITY, NULL,
	    &l);
	assert_true(has(&l, "INVALID_EFFECT", POLICY_LINT_ERROR,
	    "/Statement/0/Effect"));
	assert_true(has(&l, "INVALID_ACTION", POLICY_LINT_ERROR,
	    "/Statement/1/Action"));
	assert_true(has(&l, "INVALID_RESOURCE", POLICY_LINT_ERROR,
	    "/Statement/2/Resource"));
	assert_true(has(&l, "DUPLICATE_SID", POLICY_LINT_ERROR,
	    "/Statement/1/Sid"));
	policy_lint_free(&l);
	/* A prefix for documents inside another (repository policy files). */
	lint("{" V "\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"a:b\"}}",
	    POLICY_IDENTITY, "/policy", &l);
	assert_true(has(&l, "MISSING_RESOURCE", POLICY_LINT_ERROR,
	    "/policy/Statement"));
	policy_lint_free(&l);
}

static void
test_warnings(void **state)
{
	(void)state;
	expect_one("{\"Statement\":{\"Effect\":\"Allow\",\"Action\":"
	    "\"registry:Pull\",\"Resource\":\"repository/${aws:username}\"}}",
	    POLICY_IDENTITY, "VARIABLE_UNSUPPORTED_VERSION",
	    POLICY_LINT_WARNING, "/Statement/Resource");
	expect_one("{\"Statement\":{\"Effect\":\"Allow\",\"Action\":"
	    "\"registry:Pull\",\"Resource\":\"repository/x\"}}",
	    POLICY_IDENTITY, "MISSING_VERSION", POLICY_LINT_WARNING, "");
	expect_one("{" V "\"Statement\":{\"Effect\":\"Deny\",\"Action\":"
	    "\"registry:Pull\",\"Resource\":\"repository/x\",\"Condition\":"
	    "{\"ForAllValues:StringEquals\":{\"aws:PrincipalTag/team\":"
	    "\"a\"}}}}", POLICY_IDENTITY, "FORALLVALUES_SINGLE_VALUED_KEY",
	    POLICY_LINT_WARNING,
	    "/Statement/Condition/ForAllValues:StringEquals/"
	    "aws:PrincipalTag~1team");
	expect_one("{" V "\"Statement\":{\"Effect\":\"Deny\",\"Action\":"
	    "\"registry:Pull\",\"Resource\":\"repository/x\",\"Condition\":"
	    "{\"StringEquals\":{\"aws:TagKeys\":[\"a\",\"b\"]}}}}",
	    POLICY_IDENTITY, "MISSING_QUALIFIER", POLICY_LINT_WARNING,
	    "/Statement/Condition/StringEquals/aws:TagKeys");
	expect_one("{" V "\"Statement\":{\"Effect\":\"Deny\",\"Action\":"
	    "\"registry:Pull\",\"Resource\":\"repository/x\",\"Condition\":"
	    "{\"DateLessThan\":{\"aws:CurrentTime\":[\"2020-01-01\","
	    "\"yesterday\"]}}}}", POLICY_IDENTITY, "MISMATCHED_TYPE",
	    POLICY_LINT_WARNING,
	    "/Statement/Condition/DateLessThan/aws:CurrentTime/1");
	expect_one("{" V "\"Statement\":{\"Effect\":\"Allow\",\"Action\":"
	    "[\"ecr:BatchGetImage\",\"ecr:BatchGetImages\"],\"Resource\":"
	    "\"repository/x\"}}", POLICY_IDENTITY, "UNKNOWN_ACTION",
	    POLICY_LINT_WARNING, "/Statement/Action/1");
	expect_one("{" V "\"Statement\":{\"Effect\":\"Allow\",\"Action\":"
	    "\"registry:Pull\",\"Resource\":\"*\"}}", POLICY_IDENTITY,
	    "RESOURCE_STAR", POLICY_LINT_WARNING, "/Statement/Resource");
	expect_one("{" V "\"Statement\":{\"Effect\":\"Allow\",\"Principal\":"
	    "{\"Federated\":\"https://token.actions.githubusercontent.com\"},"
	    "\"Action\":\"sts:AssumeRoleWithWebIdentity\",\"Condition\":"
	    "{\"StringEquals\":{\"oidc:aud\":\"regauth\"}}}}", POLICY_RESOURCE,
	    "TRUST_WITHOUT_SUBJECT", POLICY_LINT_WARNING, "/Statement");
}

static void
test_suggestions(void **state)
{
	struct policy_lint l;

	(void)state;
	expect_one("{" V "\"Statement\":{\"Effect\":\"Deny\",\"Action\":"
	    "\"registry:Pull\",\"Resource\":\"repository/x\",\"Condition\":"
	    "{\"IpAddress\":{\"aws:SourceIp\":\"10.1.2.3/8\"}}}}",
	    POLICY_IDENTITY, "CIDR_HOST_BITS", POLICY_LINT_SUGGESTION,
	    "/Statement/Condition/IpAddress/aws:SourceIp");
	expect_one("{" V "\"Statement\":{\"Effect\":\"Allow\",\"Action\":"
	    "[\"registry:*\",\"registry:Pull\"],\"Resource\":\"repository/x\"}}",
	    POLICY_IDENTITY, "REDUNDANT_ACTION", POLICY_LINT_SUGGESTION,
	    "/Statement/Action/1");
	expect_one("{" V "\"Statement\":[{\"Sid\":\"A\",\"Effect\":\"Allow\","
	    "\"Action\":\"registry:Pull\",\"Resource\":\"repository/x\"},"
	    "{\"Sid\":\"B\",\"Effect\":\"Allow\",\"Action\":\"registry:Pull\","
	    "\"Resource\":\"repository/x\"}]}", POLICY_IDENTITY,
	    "REDUNDANT_STATEMENT", POLICY_LINT_SUGGESTION, "/Statement/1");
	/* Overlapping wildcards are not redundant unless one covers all. */
	lint("{" V "\"Statement\":{\"Effect\":\"Allow\",\"Action\":"
	    "[\"ecr:Batch?etImage\",\"ecr:Batch*\"],\"Resource\":"
	    "[\"repository/a?\",\"repository/a*x\"]}}", POLICY_IDENTITY, NULL,
	    &l);
	assert_false(has(&l, "REDUNDANT_RESOURCE", POLICY_LINT_SUGGESTION,
	    NULL));
	/* ecr:Batch* does cover ecr:Batch?etImage. */
	assert_true(has(&l, "REDUNDANT_ACTION", POLICY_LINT_SUGGESTION,
	    "/Statement/Action/0"));
	assert_false(has(&l, "REDUNDANT_ACTION", POLICY_LINT_SUGGESTION,
	    "/Statement/Action/1"));
	policy_lint_free(&l);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_clean),
		cmocka_unit_test(test_errors_are_verdicts),
		cmocka_unit_test(test_error_codes_and_paths),
		cmocka_unit_test(test_warnings),
		cmocka_unit_test(test_suggestions),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
