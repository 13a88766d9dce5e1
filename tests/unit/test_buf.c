/* buf: growth past the inline buffer, JSON escaping, wiping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>

#include "buf.h"

static void
test_growth(void **state)
{
	struct buf b;
	size_t i;

	(void)state;
	buf_init(&b);
	for (i = 0; i < 5000; i++)
		buf_printf(&b, "%zu,", i % 10);
	assert_int_equal(b.len, 10000);
	assert_non_null(buf_str(&b));
	assert_int_equal(strlen(buf_str(&b)), 10000);
	assert_memory_equal(b.p, "0,1,2,3,", 8);
	buf_release(&b);
	assert_int_equal(b.len, 0);
}

/* Whatever bytes go in, the output parses as the JSON string we expect. */
static void
test_json_string(void **state)
{
	static const struct { const char *in, *want; } cases[] = {
		{ "plain", "\"plain\"" },
		{ "a\"b\\c", "\"a\\\"b\\\\c\"" },
		{ "\n\t\x01", "\"\\u000a\\u0009\\u0001\"" },
		{ "\x7f", "\"\\u007f\"" },
		{ "caf\xc3\xa9", "\"caf\\u00c3\\u00a9\"" },
		{ "", "\"\"" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct buf b;
		json_t *j;
		buf_init(&b);
		buf_json_string(&b, cases[i].in);
		assert_string_equal(buf_str(&b), cases[i].want);
		j = json_loads(buf_str(&b), JSON_DECODE_ANY, NULL);
		assert_non_null(j);
		assert_true(json_is_string(j));
		json_decref(j);
		buf_release(&b);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_growth),
		cmocka_unit_test(test_json_string),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
