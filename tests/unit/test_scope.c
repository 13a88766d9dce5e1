/*
 * Scope grammar: unit tests, plus the data-driven cases of
 * tests/cases/scopes/ (run from the repository root).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "scope.h"
#include "util.h"

#define CASES "tests/cases/scopes/grammar.json"

static void
test_repository_names(void **state)
{
	(void)state;
	assert_true(scope_valid_repository("a"));
	assert_true(scope_valid_repository("team-a/api"));
	assert_true(scope_valid_repository("registry.example.com:443/x/y"));
	assert_true(scope_valid_repository("Example.COM/x"));
	assert_false(scope_valid_repository(""));
	assert_false(scope_valid_repository("/x"));
	assert_false(scope_valid_repository("x/"));
	assert_false(scope_valid_repository("a..b"));
	assert_false(scope_valid_repository("a_-b"));
	assert_false(scope_valid_repository("host:/x"));
	assert_false(scope_valid_repository("host:123456/x"));
}

static void
test_merge_limit(void **state)
{
	struct scope_list l;
	struct err e;

	(void)state;
	scope_list_init(&l, 2);
	assert_int_equal(scope_parse(&l, "repository:a:pull", &e), 0);
	assert_int_equal(scope_parse(&l, "repository:a:push", &e), 0);
	assert_int_equal(scope_parse(&l, "repository:b:pull", &e), 0);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.v[0].nactions, 2);
	assert_int_equal(scope_parse(&l, "repository:c:pull", &e), -1);
	assert_non_null(strstr(e.msg, "too many scopes"));
	scope_list_free(&l);
}

static void
test_cases(void **state)
{
	json_t *doc, *c;
	struct err e;
	size_t i, ran = 0;

	(void)state;
	doc = util_json_load_file(CASES, &e);
	if (doc == NULL)
		fail_msg("%s", e.msg);
	json_array_foreach(json_object_get(doc, "cases"), i, c) {
		const char *id = json_string_value(json_object_get(c, "id"));
		int want_err = json_is_true(json_object_get(c, "error"));
		json_t *in = json_object_get(c, "input"), *v, *exp;
		struct scope_list l;
		size_t k, a;
		int rc = 0;

		scope_list_init(&l, strcmp(id, "N16") == 0 ? 4 : 100);
		json_array_foreach(in, k, v)
			if ((rc = scope_parse(&l, json_string_value(v), &e)) == -1)
				break;
		if (want_err) {
			if (rc != -1)
				fail_msg("%s: accepted, want an error", id);
		} else {
			if (rc == -1)
				fail_msg("%s: %s", id, e.msg);
			exp = json_object_get(c, "expect");
			if (json_array_size(exp) != l.n)
				fail_msg("%s: %zu scopes, want %zu", id, l.n,
				    json_array_size(exp));
			json_array_foreach(exp, k, v) {
				json_t *acts = json_object_get(v, "actions");
				assert_string_equal(l.v[k].type, json_string_value(
				    json_object_get(v, "type")));
				assert_string_equal(l.v[k].name, json_string_value(
				    json_object_get(v, "name")));
				if (json_array_size(acts) != l.v[k].nactions)
					fail_msg("%s: action count", id);
				for (a = 0; a < l.v[k].nactions; a++)
					assert_string_equal(l.v[k].actions[a],
					    json_string_value(json_array_get(acts,
					    a)));
			}
		}
		scope_list_free(&l);
		ran++;
	}
	json_decref(doc);
	assert_true(ran >= 20);
	printf("scope cases: %zu passed\n", ran);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_repository_names),
		cmocka_unit_test(test_merge_limit),
		cmocka_unit_test(test_cases),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
