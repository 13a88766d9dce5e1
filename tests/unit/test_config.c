/* config: loading, validation errors, lookups, snapshots. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "fixture.h"

static void
test_load_good(void **state)
{
	char *dir = fx_config_dir();
	struct config *cfg;
	struct policy_ref refs[8];
	const struct principal *p;
	struct err e;
	size_t n = 0;

	(void)state;
	cfg = config_load(dir, &e);
	if (cfg == NULL)
		fail_msg("%s", e.msg);
	assert_string_equal(cfg->issuer, "test-issuer");
	assert_string_equal(cfg->account, "123456789012");
	assert_int_equal(cfg->registry_token_ttl, 300);
	assert_true(config_has_service(cfg, "reg"));
	assert_false(config_has_service(cfg, "other"));
	p = config_principal(cfg, "user/alice");
	assert_non_null(p);
	assert_string_equal(p->arn, "arn:regauth:iam::123456789012:user/alice");
	assert_int_equal(p->npolicies, 1);	/* from group devs */
	assert_true(p->enabled);
	assert_false(config_principal(cfg, "user/carol")->enabled);
	assert_null(config_principal(cfg, "user/nobody"));
	assert_non_null(config_policy(cfg, "dev"));
	config_repo_policies(cfg, "team-a/x", refs, 8, &n);
	assert_int_equal(n, 0);
	config_release(cfg);
	fx_remove(dir);
}

/* Each broken file must fail to load with a message naming it. */
static void
expect_fail(const char *rel, const char *json, const char *needle)
{
	char *dir = fx_config_dir();
	struct config *cfg;
	struct err e;

	fx_write(dir, rel, json);
	cfg = config_load(dir, &e);
	if (cfg != NULL)
		fail_msg("%s: loaded, want an error", rel);
	if (strstr(e.msg, needle) == NULL)
		fail_msg("%s: error \"%s\" lacks \"%s\"", rel, e.msg, needle);
	fx_remove(dir);
}

static void
test_load_errors(void **state)
{
	(void)state;
	expect_fail("regauthd.json", "{\"issuer\":\"x\",\"bogus\":1}", "bogus");
	expect_fail("regauthd.json", "{\"account\":\"12\"}", "account");
	expect_fail("regauthd.json", "{\"services\":[]}", "services");
	expect_fail("regauthd.json", "{\"services\":[\"urn:regauth:login\"]}",
	    "services");
	expect_fail("regauthd.json", "{\"registry_token_lifetime\":5}",
	    "registry_token_lifetime");
	expect_fail("regauthd.json", "{\"kid_format\":\"x\"}", "kid_format");
	expect_fail("regauthd.json", "{\"max_failed_logins_per_user\":-1}",
	    "max_failed_logins_per_user");
	expect_fail("regauthd.json", "{\"max_failed_logins_per_address\":"
	    "\"100\"}", "max_failed_logins_per_address");
	expect_fail("regauthd.json", "{\"issuer\":\"a\\u0001b\"}", "issuer");
	expect_fail("regauthd.json", "{\"services\":[\"caf\\u00e9\"]}",
	    "services");
	expect_fail("repositories/r.json", "{\"repositories\":[\"a/[b]\"],"
	    "\"policy\":{}}", "pattern");
	expect_fail("users/bob.json", "{\"policies\":[\"missing\"]}",
	    "unknown policy");
	expect_fail("users/bob.json", "{\"groups\":[\"nogroup\"]}",
	    "unknown group");
	expect_fail("users/bob.json", "{\"password\":\"plain\"}", "password");
	expect_fail("users/bob.json", "{\"enabled\":\"yes\"}", "enabled");
	expect_fail("users/bob.json", "{\"extra\":1}", "extra");
	expect_fail("users/bob.json", "{\"name\":\"alice\"}", "file name");
	expect_fail("policies/bad.json", "{\"Statement\":[{\"Effect\":\"allow\","
	    "\"Action\":\"registry:Pull\",\"Resource\":\"*\"}]}", "bad.json");
	expect_fail("repositories/r.json", "{\"repositories\":[],"
	    "\"policy\":{}}", "repositories");
}

static void
test_duplicate_keys(void **state)
{
	char *dir = fx_config_dir(), path[1024];
	struct config *cfg;
	struct err e;
	FILE *f;

	(void)state;
	snprintf(path, sizeof(path), "%s/users/dup.json", dir);
	f = fopen(path, "w");
	fputs("{\"name\":\"dup\",\"enabled\":true,\"enabled\":false}", f);
	fclose(f);
	assert_null(cfg = config_load(dir, &e));
	assert_non_null(strstr(e.msg, "dup.json"));
	fx_remove(dir);
}

static void
test_snapshot(void **state)
{
	char *dir = fx_config_dir();
	struct config *a, *b, *held;
	struct err e;

	(void)state;
	assert_non_null(a = config_load(dir, &e));
	config_install(a);
	held = config_acquire();
	assert_ptr_equal(held, a);
	assert_non_null(b = config_load(dir, &e));
	config_install(b);		/* a lives on while held */
	assert_string_equal(held->issuer, "test-issuer");
	config_release(held);		/* now a is freed */
	held = config_acquire();
	assert_ptr_equal(held, b);
	config_release(held);
	config_install(NULL);
	fx_remove(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_load_good),
		cmocka_unit_test(test_load_errors),
		cmocka_unit_test(test_duplicate_keys),
		cmocka_unit_test(test_snapshot),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
