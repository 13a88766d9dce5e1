/*
 * Unit tests of tokenserver/util.c: number parsing, file reads and atomic
 * writes with their modes, folders, JSON limits, constant-time equality, time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

static char tmpdir[PATH_MAX];

static int
setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_util.XXXXXX");
	return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	char cmd[PATH_MAX + 16];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static void
path_in(char *out, size_t n, const char *name)
{
	int r = snprintf(out, n, "%s/%s", tmpdir, name);

	assert_true(r > 0 && (size_t)r < n);
}

static int
count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

static void
test_parse_i64(void **state)
{
	int64_t v = 7;

	(void)state;
	assert_int_equal(util_parse_i64("42", 0, 100, &v), 0);
	assert_int_equal(v, 42);
	assert_int_equal(util_parse_i64("-5", -10, 10, &v), 0);
	assert_int_equal(v, -5);
	assert_int_equal(util_parse_i64("9223372036854775807", 0, INT64_MAX,
	    &v), 0);
	assert_true(v == INT64_MAX);
	v = 7;
	assert_int_equal(util_parse_i64("", 0, 100, &v), -1);
	assert_int_equal(util_parse_i64(" 1", 0, 100, &v), -1);
	assert_int_equal(util_parse_i64("+1", 0, 100, &v), -1);
	assert_int_equal(util_parse_i64("1x", 0, 100, &v), -1);
	assert_int_equal(util_parse_i64("1 ", 0, 100, &v), -1);
	assert_int_equal(util_parse_i64("101", 0, 100, &v), -1);
	assert_int_equal(util_parse_i64("-1", 0, 100, &v), -1);
	assert_int_equal(util_parse_i64("99999999999999999999", 0, INT64_MAX,
	    &v), -1);
	assert_int_equal(util_parse_i64(NULL, 0, 100, &v), -1);
	assert_int_equal(v, 7);		/* untouched on failure */
}

static void
test_write_read(void **state)
{
	char p[PATH_MAX], *buf;
	struct err e = { "" };
	struct stat st;
	size_t len = 0;
	mode_t old;

	(void)state;
	path_in(p, sizeof(p), "a.txt");
	old = umask(077);
	/* The mode given wins over the umask. */
	assert_int_equal(util_write_file(p, "hello", 5, 0640, 1, &e), 0);
	umask(old);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	buf = util_read_file(p, 100, &len, &e);
	assert_non_null(buf);
	assert_int_equal(len, 5);
	assert_string_equal(buf, "hello");
	free(buf);

	/* excl: an existing file is an error and stays as it was. */
	assert_int_equal(util_write_file(p, "other", 5, 0600, 1, &e), -1);
	assert_non_null(strstr(e.msg, "a.txt"));
	buf = util_read_file(p, 100, &len, &e);
	assert_string_equal(buf, "hello");
	free(buf);

	/* Without excl it is replaced, with the new mode. */
	assert_int_equal(util_write_file(p, "bye", 3, 0600, 0, &e), 0);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	buf = util_read_file(p, 100, &len, &e);
	assert_string_equal(buf, "bye");
	free(buf);

	/* No temporary file is left behind. */
	assert_int_equal(count_entries(tmpdir), 1);

	/* Size cap: reject rather than truncate. */
	assert_null(util_read_file(p, 2, &len, &e));
	assert_non_null(strstr(e.msg, "larger than"));
	/* Missing file and a folder. */
	path_in(p, sizeof(p), "missing");
	assert_null(util_read_file(p, 100, &len, &e));
	assert_non_null(strstr(e.msg, "missing"));
	assert_null(util_read_file(tmpdir, 100, &len, &e));

	/* Empty file. */
	path_in(p, sizeof(p), "empty");
	assert_int_equal(util_write_file(p, "", 0, 0600, 1, &e), 0);
	buf = util_read_file(p, 100, &len, &e);
	assert_non_null(buf);
	assert_int_equal(len, 0);
	assert_string_equal(buf, "");
	free(buf);
}

static void
test_write_into_missing_dir(void **state)
{
	char p[PATH_MAX];
	struct err e = { "" };

	(void)state;
	path_in(p, sizeof(p), "nodir/x");
	assert_int_equal(util_write_file(p, "x", 1, 0600, 0, &e), -1);
	assert_true(e.msg[0] != '\0');
}

static void
test_read_secret(void **state)
{
	char p[PATH_MAX], link_path[PATH_MAX], *buf;
	struct err e = { "" };
	size_t len = 0;

	(void)state;
	path_in(p, sizeof(p), "secret");
	assert_int_equal(util_write_file(p, "s3cret", 6, 0600, 1, &e), 0);
	buf = util_read_secret_file(p, 100, &len, &e);
	assert_non_null(buf);
	assert_string_equal(buf, "s3cret");
	util_secure_free(buf, len);

	assert_int_equal(chmod(p, 0644), 0);
	assert_null(util_read_secret_file(p, 100, &len, &e));
	assert_non_null(strstr(e.msg, "secret"));
	assert_non_null(strstr(e.msg, "0644"));
	assert_int_equal(chmod(p, 0640), 0);
	assert_null(util_read_secret_file(p, 100, &len, &e));
	assert_non_null(strstr(e.msg, "0640"));

	/* A symbolic link is refused even to a private file. */
	assert_int_equal(chmod(p, 0600), 0);
	path_in(link_path, sizeof(link_path), "link");
	assert_int_equal(symlink(p, link_path), 0);
	assert_null(util_read_secret_file(link_path, 100, &len, &e));
}

static void
test_mkdirs(void **state)
{
	char p[PATH_MAX], f[PATH_MAX];
	struct err e = { "" };
	struct stat st;
	mode_t old;

	(void)state;
	path_in(p, sizeof(p), "a/b/c");
	old = umask(0);
	assert_int_equal(util_mkdirs(p, 0700, &e), 0);
	umask(old);
	assert_int_equal(stat(p, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0700);
	path_in(p, sizeof(p), "a");
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	/* Existing folders are fine; a trailing slash too. */
	path_in(p, sizeof(p), "a/b/c/");
	assert_int_equal(util_mkdirs(p, 0700, &e), 0);
	/* A file in the way is an error. */
	path_in(f, sizeof(f), "a/file");
	assert_int_equal(util_write_file(f, "x", 1, 0600, 1, &e), 0);
	path_in(p, sizeof(p), "a/file/d");
	assert_int_equal(util_mkdirs(p, 0700, &e), -1);
	assert_non_null(strstr(e.msg, "a/file"));
	assert_int_equal(util_mkdirs("", 0700, &e), -1);
}

static char *
nested(int depth, const char *open, const char *close)
{
	size_t n = (size_t)depth * (strlen(open) + strlen(close)) + 1;
	char *s = malloc(n);
	int i;

	assert_non_null(s);
	s[0] = '\0';
	for (i = 0; i < depth; i++)
		strncat(s, open, n - strlen(s) - 1);
	for (i = 0; i < depth; i++)
		strncat(s, close, n - strlen(s) - 1);
	return s;
}

static void
test_json_limits(void **state)
{
	struct err e = { "" };
	json_t *j;
	char *s, *big;
	const char *tricky = "{\"a\":\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\\\""
	    "{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{\"}";

	(void)state;
	j = util_json_loadb("{\"a\":1}", 7, "x.json", &e);
	assert_non_null(j);
	json_decref(j);

	/* Duplicate keys, with FILE:LINE:COLUMN. */
	j = util_json_loadb("{\"a\":1,\n \"a\":2}", 15, "dup.json", &e);
	assert_null(j);
	assert_non_null(strstr(e.msg, "dup.json:2:"));
	assert_non_null(strstr(e.msg, "duplicate"));

	/* Syntax error position. */
	assert_null(util_json_loadb("{\n\n  x}", 7, "bad.json", &e));
	assert_non_null(strstr(e.msg, "bad.json:3:3:"));

	/* Depth: 32 levels pass, 33 do not. */
	s = nested(32, "[", "]");
	j = util_json_loadb(s, strlen(s), "deep", &e);
	assert_non_null(j);
	json_decref(j);
	free(s);
	s = nested(33, "[", "]");
	assert_null(util_json_loadb(s, strlen(s), "deep", &e));
	assert_non_null(strstr(e.msg, "deep:1:33:"));
	assert_non_null(strstr(e.msg, "32"));
	free(s);
	s = nested(33, "{\"k\":", "}");
	assert_null(util_json_loadb(s, strlen(s), "deepobj", &e));
	free(s);
	s = nested(100000, "[", "]");
	assert_null(util_json_loadb(s, strlen(s), "deeper", &e));
	free(s);

	/* Brackets inside strings (escaped quote included) do not count. */
	j = util_json_loadb(tricky, strlen(tricky), "str", &e);
	assert_non_null(j);
	json_decref(j);

	/* Size cap. */
	big = malloc(UTIL_JSON_MAX_BYTES + 2);
	assert_non_null(big);
	memset(big, ' ', UTIL_JSON_MAX_BYTES + 1);
	big[0] = '1';
	big[UTIL_JSON_MAX_BYTES + 1] = '\0';
	assert_null(util_json_loadb(big, UTIL_JSON_MAX_BYTES + 1, "big", &e));
	assert_non_null(strstr(e.msg, "big:"));
	free(big);
}

static void
test_json_files(void **state)
{
	char p[PATH_MAX], *text;
	struct err e = { "" };
	struct stat st;
	json_t *j;
	size_t len;

	(void)state;
	path_in(p, sizeof(p), "c.json");
	j = json_pack("{s:i,s:s}", "zeta", 1, "alpha", "x");
	assert_int_equal(util_json_write_file(p, j, 0600, 1, &e), 0);
	json_decref(j);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	text = util_read_file(p, 1000, &len, &e);
	assert_string_equal(text, "{\n  \"alpha\": \"x\",\n  \"zeta\": 1\n}\n");
	free(text);
	j = util_json_load_file(p, &e);
	assert_non_null(j);
	assert_int_equal(json_integer_value(json_object_get(j, "zeta")), 1);
	/* excl */
	assert_int_equal(util_json_write_file(p, j, 0600, 1, &e), -1);
	json_decref(j);

	path_in(p, sizeof(p), "broken.json");
	assert_int_equal(util_write_file(p, "{\"a\":\n  1,,}", 12, 0600, 1, &e),
	    0);
	assert_null(util_json_load_file(p, &e));
	assert_non_null(strstr(e.msg, "broken.json:2:"));
	path_in(p, sizeof(p), "nope.json");
	assert_null(util_json_load_file(p, &e));
	assert_non_null(strstr(e.msg, "nope.json"));
}

static void
test_streq_ct(void **state)
{
	(void)state;
	assert_true(util_streq_ct("abc", "abc"));
	assert_true(util_streq_ct("", ""));
	assert_false(util_streq_ct("abc", "abd"));
	assert_false(util_streq_ct("abc", "ab"));
	assert_false(util_streq_ct("ab", "abc"));
	assert_false(util_streq_ct(NULL, "a"));
	assert_false(util_streq_ct("a", NULL));
}

static void
test_time(void **state)
{
	char out[32];
	int64_t now = util_now();

	(void)state;
	assert_true(now > 1700000000);
	util_rfc3339(1795978072, out);
	assert_string_equal(out, "2026-11-29T18:47:52Z");
	util_rfc3339(0, out);
	assert_string_equal(out, "1970-01-01T00:00:00Z");
}

static void
test_secure_free(void **state)
{
	char *s = strdup("password");

	(void)state;
	util_secure_free(NULL, 10);
	util_secure_free_str(NULL);
	util_secure_free_str(s);
}

static void
test_err_set(void **state)
{
	struct err e;
	char longstr[400];

	(void)state;
	err_set(&e, "%s: %d", "x", 3);
	assert_string_equal(e.msg, "x: 3");
	memset(longstr, 'a', sizeof(longstr) - 1);
	longstr[sizeof(longstr) - 1] = '\0';
	err_set(&e, "%s", longstr);
	assert_int_equal(strlen(e.msg), sizeof(e.msg) - 1);
	err_set(NULL, "ignored");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_i64),
		cmocka_unit_test_setup_teardown(test_write_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_into_missing_dir,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_secret, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_mkdirs, setup, teardown),
		cmocka_unit_test(test_json_limits),
		cmocka_unit_test_setup_teardown(test_json_files, setup, teardown),
		cmocka_unit_test(test_streq_ct),
		cmocka_unit_test(test_time),
		cmocka_unit_test(test_secure_free),
		cmocka_unit_test(test_err_set),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
