/* cache: entries, modes, atomic replacement, eviction and refresh times. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache.h"
#include "discover.h"

static char tmpl[64];

static int
setup(void **state)
{
	(void)state;
	snprintf(tmpl, sizeof(tmpl), "/tmp/regauth-cache-test.XXXXXX");
	if (mkdtemp(tmpl) == NULL)
		return -1;
	strcat(tmpl, "/c");
	setenv("REGAUTH_CACHE_DIR", tmpl, 1);
	return 0;
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%.*s'", (int)strlen(tmpl) - 2,
	    tmpl);
	return system(cmd) == 0 ? 0 : -1;
}

static void
put(struct cache *c, const char *kind, const char *id, const char *tok,
    long long exp)
{
	struct cache_entry en = { (char *)id, (char *)"reg.example", NULL,
		NULL, (char *)tok, 1000, exp };
	struct err e;

	assert_int_equal(cache_put(c, kind, &en, &e), 0);
}

static void
test_put_get_remove(void **state)
{
	struct cache c;
	struct cache_entry en;
	struct stat st;
	struct err e;

	(void)state;
	assert_int_equal(cache_init(&c, &e), 0);
	assert_int_equal(cache_get(&c, CACHE_LOGIN, "reg.example", &en, &e),
	    0);
	put(&c, CACHE_LOGIN, "reg.example", "tok-1", 5000);
	assert_int_equal(stat(tmpl, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	assert_int_equal(cache_get(&c, CACHE_LOGIN, "reg.example", &en, &e),
	    1);
	assert_string_equal(en.token, "tok-1");
	assert_int_equal(en.exp, 5000);
	cache_entry_clear(&en);
	/* replaced atomically: no temporary file left behind */
	put(&c, CACHE_LOGIN, "reg.example", "tok-2", 6000);
	assert_int_equal(cache_get(&c, CACHE_LOGIN, "reg.example", &en, &e),
	    1);
	assert_string_equal(en.token, "tok-2");
	cache_entry_clear(&en);
	assert_int_equal(cache_get(&c, CACHE_TOKEN, "reg.example", &en, &e),
	    0);
	assert_int_equal(cache_remove(&c, CACHE_LOGIN, "reg.example", &e), 1);
	assert_int_equal(cache_remove(&c, CACHE_LOGIN, "reg.example", &e), 0);
	cache_close(&c);
}

static void
count(const struct cache_entry *en, void *arg)
{
	(void)en;
	(*(int *)arg)++;
}

static void
test_eviction_and_modes(void **state)
{
	struct cache c;
	struct dirent *de;
	struct stat st;
	char id[32], path[512];
	struct err e;
	int i, n = 0;
	DIR *d;

	(void)state;
	assert_int_equal(cache_init(&c, &e), 0);
	for (i = 0; i < CACHE_MAX_TOKENS + 10; i++) {
		snprintf(id, sizeof(id), "key-%d", i);
		put(&c, CACHE_TOKEN, id, "t", 9999999999LL);
		assert_int_equal(cache_evict(&c, CACHE_TOKEN,
		    CACHE_MAX_TOKENS), 0);
	}
	assert_int_equal(cache_list(&c, CACHE_TOKEN, count, &n), 0);
	assert_int_equal(n, CACHE_MAX_TOKENS);
	d = opendir(tmpl);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' && strcmp(de->d_name, ".lock") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", tmpl, de->d_name);
		assert_int_equal(stat(path, &st), 0);
		assert_int_equal(st.st_mode & 0777, 0600);
		assert_null(strstr(de->d_name, ".tmp."));
	}
	closedir(d);
	cache_close(&c);
}

static void
test_lock(void **state)
{
	struct cache c;
	struct err e;

	(void)state;
	assert_int_equal(cache_init(&c, &e), 0);
	assert_int_equal(cache_lock(&c, &e), 0);
	assert_int_equal(cache_lock(&c, &e), 0); /* held: no-op */
	cache_unlock(&c);
	cache_close(&c);
}

static void
test_states(void **state)
{
	struct cache_entry en;
	time_t now = 1000000;

	(void)state;
	memset(&en, 0, sizeof(en));
	en.exp = 0;
	assert_int_equal(cache_state(&en, now), CACHE_FRESH);
	/* one hour: refresh in the last quarter (15 min) */
	en.iat = now - 100;
	en.exp = en.iat + 3600;
	assert_int_equal(cache_state(&en, now), CACHE_FRESH);
	assert_int_equal(cache_state(&en, en.exp - 901), CACHE_FRESH);
	assert_int_equal(cache_state(&en, en.exp - 899), CACHE_STALE);
	/* never an expired one, nor one about to expire */
	assert_int_equal(cache_state(&en, en.exp - 10), CACHE_EXPIRED);
	assert_int_equal(cache_state(&en, en.exp + 10), CACHE_EXPIRED);
	/* twelve hours: a quarter (3 h) */
	en.exp = en.iat + 12 * 3600;
	assert_int_equal(cache_state(&en, en.exp - 3 * 3600 - 1), CACHE_FRESH);
	assert_int_equal(cache_state(&en, en.exp - 3 * 3600 + 1), CACHE_STALE);
	/* ten minutes: 5 minutes, at most half the life */
	en.exp = en.iat + 600;
	assert_int_equal(cache_state(&en, en.exp - 301), CACHE_FRESH);
	assert_int_equal(cache_state(&en, en.exp - 299), CACHE_STALE);
	/* two minutes: half of it */
	en.exp = en.iat + 120;
	assert_int_equal(cache_state(&en, en.exp - 61), CACHE_FRESH);
	assert_int_equal(cache_state(&en, en.exp - 59), CACHE_STALE);
}

static void
test_realm(void **state)
{
	char *r, *b;

	(void)state;
	r = discover_realm("Bearer realm=\"http://127.0.0.1:5001/token\","
	    "service=\"reg\"");
	assert_string_equal(r, "http://127.0.0.1:5001/token");
	b = discover_base(r);
	assert_string_equal(b, "http://127.0.0.1:5001");
	free(r);
	free(b);
	r = discover_realm("bearer service=\"x\", realm=https://a.example/auth/token");
	assert_string_equal(r, "https://a.example/auth/token");
	free(r);
	assert_null(discover_realm("Basic realm=\"x\""));
	assert_null(discover_realm("Bearer realm=\"unterminated"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_put_get_remove, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_eviction_and_modes, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_lock, setup, teardown),
		cmocka_unit_test(test_states),
		cmocka_unit_test(test_realm),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
