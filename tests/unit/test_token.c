/* token: decisions per scope action, the claims, the answer's shape. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "fixture.h"
#include "jws.h"
#include "token.h"

struct fx {
	char		*dir;
	struct config	*cfg;
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct err e;

	f->dir = fx_config_dir();
	fx_write(f->dir, "policies/cat.json", "{\"Version\":\"2012-10-17\","
	    "\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"registry:Catalog\","
	    "\"Resource\":\"*\"},{\"Effect\":\"Allow\",\"Action\":\"ecr:*\","
	    "\"Resource\":\"repository/ecr/*\"}]}");
	fx_write(f->dir, "users/cat.json", "{\"policies\":[\"cat\"]}");
	fx_write(f->dir, "repositories/public.json", "{\"repositories\":"
	    "[\"public/*\"],\"policy\":{\"Version\":\"2012-10-17\",\"Statement\":"
	    "[{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":"
	    "\"registry:Pull\"}]}}");
	if ((f->cfg = config_load(f->dir, &e)) == NULL)
		fail_msg("%s", e.msg);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	config_release(f->cfg);
	fx_remove(f->dir);
	free(f);
	return 0;
}

/*
 * Issue a token for `who` (NULL: anonymous) with the scope strings in
 * `scopes`; return its verified claims' access list as compact JSON.
 */
static char *
access_of(struct config *cfg, const char *who, const char *service,
    const char *scopes, int oauth, json_t **answer)
{
	struct scope_list sl;
	struct token_request rq;
	struct identity id;
	struct buf out;
	struct err e;
	json_t *resp, *h = NULL, *claims = NULL;
	const char *tok;
	char *s;
	int status;

	memset(&id, 0, sizeof(id));
	memset(&rq, 0, sizeof(rq));
	if (who != NULL) {
		id.principal = config_principal(cfg, who);
		assert_non_null(id.principal);
		snprintf(id.method, sizeof(id.method), "password");
	}
	scope_list_init(&sl, 100);
	if (scope_parse(&sl, scopes, &e) == -1)
		fail_msg("%s", e.msg);
	rq.service = service;
	rq.scopes = &sl;
	rq.source_ip = "127.0.0.1";
	rq.oauth = oauth;
	buf_init(&out);
	e.msg[0] = '\0';
	if (token_issue(cfg, &id, &rq, &out, &status, &e) == -1) {
		scope_list_free(&sl);
		buf_release(&out);
		return NULL;
	}
	assert_int_equal(status, 200);
	resp = json_loads(out.p, JSON_REJECT_DUPLICATES, NULL);
	assert_non_null(resp);
	tok = json_string_value(json_object_get(resp, "access_token"));
	assert_non_null(tok);
	assert_int_equal(jws_verify(tok, strlen(tok), keys_lookup, cfg->keys,
	    &h, &claims, &e), 0);
	assert_string_equal(json_string_value(json_object_get(claims, "iss")),
	    "test-issuer");
	assert_string_equal(json_string_value(json_object_get(claims, "aud")),
	    "reg");
	assert_string_equal(json_string_value(json_object_get(claims, "sub")),
	    who ? who : "");
	assert_int_equal(json_integer_value(json_object_get(claims, "exp")) -
	    json_integer_value(json_object_get(claims, "iat")), 300);
	assert_true(json_integer_value(json_object_get(claims, "nbf")) <
	    json_integer_value(json_object_get(claims, "iat")));
	assert_int_equal(strlen(json_string_value(json_object_get(claims,
	    "jti"))), 32);
	assert_int_equal(json_integer_value(json_object_get(resp,
	    "expires_in")), 300);
	assert_non_null(json_object_get(resp, "issued_at"));
	s = json_dumps(json_object_get(claims, "access"), JSON_COMPACT);
	if (answer != NULL)
		*answer = resp;
	else
		json_decref(resp);
	json_decref(h);
	json_decref(claims);
	scope_list_free(&sl);
	buf_release(&out);
	return s;
}

#define EXPECT_ACCESS(cfg, who, scopes, want) do {			\
	char *got_ = access_of(cfg, who, "reg", scopes, 0, NULL);	\
	assert_non_null(got_);						\
	assert_string_equal(got_, want);				\
	free(got_);							\
} while (0)

static void
test_intersection(void **state)
{
	struct fx *f = *state;

	EXPECT_ACCESS(f->cfg, "user/alice", "repository:team-a/app:pull,push",
	    "[{\"type\":\"repository\",\"name\":\"team-a/app\",\"actions\":"
	    "[\"pull\",\"push\"]}]");
	/* explicit Deny of push on frozen: a partial grant, not an error */
	EXPECT_ACCESS(f->cfg, "user/alice", "repository:team-a/frozen:pull,push",
	    "[{\"type\":\"repository\",\"name\":\"team-a/frozen\",\"actions\":"
	    "[\"pull\"]}]");
	/* nothing allowed: the entry is left out */
	EXPECT_ACCESS(f->cfg, "user/alice", "repository:team-b/app:pull", "[]");
	/* "*" is granted only in its allowed parts */
	EXPECT_ACCESS(f->cfg, "user/alice", "repository:team-a/app:*",
	    "[{\"type\":\"repository\",\"name\":\"team-a/app\",\"actions\":"
	    "[\"pull\",\"push\"]}]");
	/* unknown actions and types grant nothing */
	EXPECT_ACCESS(f->cfg, "user/alice",
	    "repository:team-a/app:scanner-pull foo:bar:pull", "[]");
	EXPECT_ACCESS(f->cfg, "user/alice", "registry:catalog:*", "[]");
}

static void
test_catalog_ecr_and_resource_policies(void **state)
{
	struct fx *f = *state;

	EXPECT_ACCESS(f->cfg, "user/cat", "registry:catalog:*",
	    "[{\"type\":\"registry\",\"name\":\"catalog\",\"actions\":[\"*\"]}]");
	/* ecr:* covers every action of the ECR sets */
	EXPECT_ACCESS(f->cfg, "user/cat", "repository:ecr/x:pull,push,delete",
	    "[{\"type\":\"repository\",\"name\":\"ecr/x\",\"actions\":"
	    "[\"pull\",\"push\",\"delete\"]}]");
	/* a repository policy with Principal "*" lets anyone pull */
	EXPECT_ACCESS(f->cfg, NULL, "repository:public/x:pull,push",
	    "[{\"type\":\"repository\",\"name\":\"public/x\",\"actions\":"
	    "[\"pull\"]}]");
	EXPECT_ACCESS(f->cfg, NULL, "repository:team-a/app:pull", "[]");
}

static void
test_services_and_oauth(void **state)
{
	struct fx *f = *state;
	json_t *resp = NULL;
	char *a;

	/* no service: the only configured one */
	a = access_of(f->cfg, "user/alice", NULL, "", 0, NULL);
	assert_string_equal(a, "[]");
	free(a);
	assert_null(access_of(f->cfg, "user/alice", "other", "", 0, NULL));
	a = access_of(f->cfg, "user/alice", "reg",
	    "repository:team-a/a:pull repository:team-a/frozen:push,pull", 1,
	    &resp);
	assert_string_equal(json_string_value(json_object_get(resp, "scope")),
	    "repository:team-a/a:pull repository:team-a/frozen:pull");
	assert_null(json_object_get(resp, "token"));
	assert_null(json_object_get(resp, "refresh_token"));
	json_decref(resp);
	free(a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_intersection),
		cmocka_unit_test(test_catalog_ecr_and_resource_policies),
		cmocka_unit_test(test_services_and_oauth),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
