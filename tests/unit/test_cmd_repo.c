/*
 * `repo-policy set` file names: one valid config name per pattern, never
 * the same name for two patterns.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "cmd_repo.h"
#include "config.h"

static const char *
name(const char *pattern)
{
	static char out[CONFIG_NAME_MAX + 1];

	if (cmd_repo_file_name(pattern, out, sizeof(out)) == -1)
		return "FAIL";
	assert_true(config_valid_name(out));
	return out;
}

static void
test_mapping(void **state)
{
	(void)state;
	assert_string_equal(name("team-a/app"), "team-a+app");
	assert_string_equal(name("team-a/*"), "team-a+@");
	assert_string_equal(name("team-?/x"), "team-,+x");
	assert_string_equal(name("a_b"), "a=5fb");
	assert_string_equal(name("host:5000/x"), "host=3a5000+x");
	assert_string_equal(name(".hidden"), "=2ehidden");
	assert_string_equal(name("a.b"), "a.b");
	assert_string_equal(name("*"), "@");
	assert_string_equal(name(""), "FAIL");
	assert_string_equal(name("a b"), "FAIL");
	assert_string_equal(name("a/[b]"), "FAIL");
	assert_string_equal(name("a=b"), "FAIL");
}

static void
test_distinct(void **state)
{
	static const char *pats[] = { "a_b", "a=5fb", "a/b", "a+b", "a*",
	    "a@", ".a", "=2ea", "a?", "a," };
	char seen[10][CONFIG_NAME_MAX + 1];
	size_t i, j, n = 0;

	(void)state;
	for (i = 0; i < sizeof(pats) / sizeof(pats[0]); i++) {
		const char *nm = name(pats[i]);
		if (strcmp(nm, "FAIL") == 0)
			continue;	/* not a pattern: nothing to collide */
		for (j = 0; j < n; j++)
			if (strcmp(seen[j], nm) == 0)
				fail_msg("%s and another pattern share %s",
				    pats[i], nm);
		snprintf(seen[n++], sizeof(seen[0]), "%s", nm);
	}
	assert_true(n >= 5);
}

static void
test_long(void **state)
{
	char a[256], b[256], na[CONFIG_NAME_MAX + 1];

	(void)state;
	memset(a, 'x', 255);
	a[255] = '\0';
	memcpy(b, a, sizeof(b));
	b[254] = 'y';
	snprintf(na, sizeof(na), "%s", name(a));
	assert_true(strlen(na) <= CONFIG_NAME_MAX);
	assert_non_null(strstr(na, "=="));
	assert_string_not_equal(na, name(b));
	/* cut on an escape boundary, never inside "=5f" */
	memset(a, '_', 255);
	snprintf(na, sizeof(na), "%s", name(a));
	assert_true(strlen(na) <= CONFIG_NAME_MAX);
	assert_int_equal(strstr(na, "==") - na, 45);
	/* 64 bytes exactly: no hash */
	memset(a, 'x', 64);
	a[64] = '\0';
	assert_string_equal(name(a), a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mapping),
		cmocka_unit_test(test_distinct),
		cmocka_unit_test(test_long),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
