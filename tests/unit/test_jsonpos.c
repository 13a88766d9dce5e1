/*
 * Unit tests of jsonpos: positions of values and keys by JSON Pointer,
 * pointer escapes, nearest ancestors, strict syntax, the depth bound.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "jsonpos.h"

static struct jsonpos *
scan(const char *text)
{
	struct err e;
	struct jsonpos *jp = jsonpos_new(text, strlen(text), NULL, &e);

	if (jp == NULL)
		print_message("jsonpos_new: %s\n", e.msg);
	assert_non_null(jp);
	return jp;
}

static void
expect(const struct jsonpos *jp, const char *path, int rc, int line, int col,
    int kline, int kcol)
{
	struct jsonpos_loc loc;

	memset(&loc, 0, sizeof(loc));
	assert_int_equal(jsonpos_find(jp, path, &loc), rc);
	assert_int_equal(loc.line, line);
	assert_int_equal(loc.col, col);
	assert_int_equal(loc.key_line, kline);
	assert_int_equal(loc.key_col, kcol);
}

static void
test_positions(void **state)
{
	const char *text =
	    "{\n"
	    "  \"Version\": \"2012-10-17\",\n"
	    "  \"Statement\": [\n"
	    "    {\"Effect\": \"allow\",\n"
	    "     \"Condition\": {\"StringEquals\": {\"aws:username\": [\"a\", 7]}}},\n"
	    "    {}, [], null, true, -1.5e3\n"
	    "  ]\n"
	    "}\n";
	struct jsonpos *jp = scan(text);

	(void)state;
	expect(jp, "", 0, 1, 1, 0, 0);
	expect(jp, "/Version", 0, 2, 14, 2, 3);
	expect(jp, "/Statement", 0, 3, 16, 3, 3);
	expect(jp, "/Statement/0", 0, 4, 5, 0, 0);
	expect(jp, "/Statement/0/Effect", 0, 4, 16, 4, 6);
	expect(jp, "/Statement/0/Condition/StringEquals/aws:username", 0,
	    5, 53, 5, 37);
	expect(jp, "/Statement/0/Condition/StringEquals/aws:username/1", 0,
	    5, 59, 0, 0);
	expect(jp, "/Statement/1", 0, 6, 5, 0, 0);
	expect(jp, "/Statement/2", 0, 6, 9, 0, 0);
	expect(jp, "/Statement/3", 0, 6, 13, 0, 0);
	expect(jp, "/Statement/4", 0, 6, 19, 0, 0);
	expect(jp, "/Statement/5", 0, 6, 25, 0, 0);
	/* Missing: the nearest ancestor. */
	expect(jp, "/Statement/9", 1, 3, 16, 3, 3);
	expect(jp, "/Statement/0/Nope/x", 1, 4, 5, 0, 0);
	expect(jp, "/Statement/01", 1, 3, 16, 3, 3);
	expect(jp, "/Statement/x", 1, 3, 16, 3, 3);
	expect(jp, "/Version/x", 1, 2, 14, 2, 3);
	/* Not a pointer. */
	{
		struct jsonpos_loc loc;

		assert_int_equal(jsonpos_find(jp, "Version", &loc), -1);
		assert_int_equal(jsonpos_find(jp, "/a~2", &loc), -1);
	}
	jsonpos_free(jp);
}

static void
test_escapes(void **state)
{
	/* Keys with '/', '~', escapes and UTF-8 (columns count bytes). */
	const char *text = "{\"a/b\": 1, \"c~d\": 2, \"\\u00e9\\\"\": 3, "
	    "\"\xc3\xa9x\": 4, \"\\ud83d\\ude00\": 5, \"\": 6}";
	struct jsonpos *jp = scan(text);
	char path[64];

	(void)state;
	expect(jp, "/a~1b", 0, 1, 9, 1, 2);
	expect(jp, "/c~0d", 0, 1, 19, 1, 12);
	expect(jp, "/\xc3\xa9\"", 0, 1, 34, 1, 22);
	expect(jp, "/\xc3\xa9x", 0, 1, 44, 1, 37);
	expect(jp, "/\xf0\x9f\x98\x80", 0, 1, 63, 1, 47);
	expect(jp, "/", 0, 1, 70, 1, 66);
	jsonpos_free(jp);

	path[0] = '\0';
	assert_int_equal(jsonpos_path_add(path, sizeof(path), "Statement"), 0);
	assert_int_equal(jsonpos_path_add_index(path, sizeof(path), 12), 0);
	assert_int_equal(jsonpos_path_add(path, sizeof(path), "a/b~c"), 0);
	assert_string_equal(path, "/Statement/12/a~1b~0c");
	/* No room: unchanged, so the pointer still names an ancestor. */
	assert_int_equal(jsonpos_path_add(path, 24, "toolong"), -1);
	assert_string_equal(path, "/Statement/12/a~1b~0c");
	assert_int_equal(jsonpos_path_add_index(path, 23, 123), -1);
	assert_string_equal(path, "/Statement/12/a~1b~0c");
}

static void
bad(const char *text, int line, int col)
{
	struct jsonpos_loc loc;
	struct err e;

	memset(&loc, 0, sizeof(loc));
	assert_null(jsonpos_new(text, strlen(text), &loc, &e));
	if (loc.line != line || loc.col != col)
		print_message("%s -> %d:%d %s\n", text, loc.line, loc.col,
		    e.msg);
	assert_int_equal(loc.line, line);
	assert_int_equal(loc.col, col);
}

static void
test_strict(void **state)
{
	(void)state;
	bad("", 1, 1);
	bad("{", 1, 2);
	bad("{\"a\" 1}", 1, 6);
	bad("{\"a\": 1,}", 1, 9);
	bad("[1,]", 1, 4);
	bad("[1 2]", 1, 4);
	bad("{\"a\": 01}", 1, 8);
	bad("{\"a\": 1.}", 1, 9);
	bad("{\"a\": tru}", 1, 7);
	bad("{\"a\": \"\\x\"}", 1, 8);
	bad("{\"a\": \"\\ud800\"}", 1, 8);
	bad("{\"a\": \"\t\"}", 1, 8);
	bad("{\"a\": \"\xff\"}", 1, 8);
	bad("{}\n x", 2, 2);
	bad("{\"a\": [1}", 1, 9);
	bad("[\"abc", 1, 6);
}

static void
test_depth(void **state)
{
	char buf[200];
	struct jsonpos *jp;
	struct err e;
	int i;

	(void)state;
	for (i = 0; i < 32; i++)
		buf[i] = '[';
	for (i = 0; i < 32; i++)
		buf[32 + i] = ']';
	jp = jsonpos_new(buf, 64, NULL, &e);
	assert_non_null(jp);
	jsonpos_free(jp);
	for (i = 0; i < 33; i++)
		buf[i] = '[';
	for (i = 0; i < 33; i++)
		buf[33 + i] = ']';
	assert_null(jsonpos_new(buf, 66, NULL, &e));
	assert_non_null(strstr(e.msg, "deep"));
}

static void
test_large(void **state)
{
	/* Many siblings and a long key: linear, bounded memory. */
	size_t n = 200000, i, o = 0;
	char *buf = malloc(n * 2 + 5000);
	char key[2100], path[64];
	struct jsonpos_loc loc;
	struct jsonpos *jp;
	struct err e;

	(void)state;
	assert_non_null(buf);
	buf[o++] = '[';
	for (i = 0; i < n; i++) {
		buf[o++] = '1';
		buf[o++] = ',';
	}
	memset(key, 'k', 2000);
	key[2000] = '\0';
	o += (size_t)sprintf(buf + o, "{\"%s\": 2}]", key);
	jp = jsonpos_new(buf, o, NULL, &e);
	assert_non_null(jp);
	snprintf(path, sizeof(path), "/%zu", n - 1);
	assert_int_equal(jsonpos_find(jp, path, &loc), 0);
	assert_int_equal(loc.col, (int)(2 * n));
	/* A token longer than any compared key: the ancestor. */
	snprintf(path, sizeof(path), "/%zu", n);
	{
		char *p = malloc(strlen(path) + 2100);

		assert_non_null(p);
		sprintf(p, "%s/%s", path, key);
		assert_int_equal(jsonpos_find(jp, p, &loc), 1);
		assert_int_equal(loc.col, (int)(2 * n + 2));
		free(p);
	}
	jsonpos_free(jp);
	free(buf);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_positions),
		cmocka_unit_test(test_escapes),
		cmocka_unit_test(test_strict),
		cmocka_unit_test(test_depth),
		cmocka_unit_test(test_large),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
