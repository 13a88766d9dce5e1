/*
 * Unit tests of tokenserver/watch.c and privs.c: which names count as
 * changes; a live watcher on a temporary directory that reloads once per
 * burst, sees folders made after it started and files outside the
 * directory by name alone; user and group resolution and its refusals.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "privs.h"
#include "watch.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int reloads;

static void
count_reload(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&lock);
	reloads++;
	pthread_mutex_unlock(&lock);
}

static int
reload_count(void)
{
	int n;

	pthread_mutex_lock(&lock);
	n = reloads;
	pthread_mutex_unlock(&lock);
	return n;
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Wait (up to 5 s) until the count reaches `want`; the count then. */
static int
wait_count(int want)
{
	double end = now_s() + 5;

	while (reload_count() < want && now_s() < end)
		usleep(10 * 1000);
	return reload_count();
}

static void
put(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

static void
test_name_filter(void **state)
{
	(void)state;
	assert_true(watch_name_matters("alice.json"));
	assert_true(watch_name_matters("bundle.pem"));
	assert_true(watch_name_matters("server.key"));
	assert_false(watch_name_matters(".alice.json.1f2e3d4c5b6a7988"));
	assert_false(watch_name_matters(".alice.json.swp"));
	assert_false(watch_name_matters("alice.json~"));
	assert_false(watch_name_matters("alice.json.swx"));
	assert_false(watch_name_matters("4913"));
	assert_false(watch_name_matters("regauthd.log"));
	assert_false(watch_name_matters(""));
}

static void
test_live(void **state)
{
	char dir[] = "/tmp/test_watch.XXXXXX", out[] = "/tmp/test_watch.XXXXXX";
	char path[PATH_MAX], other[PATH_MAX], tmp[PATH_MAX], cmd[PATH_MAX * 2];
	const char *files[2];
	struct watch *w;
	struct err e;
	int n;

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_non_null(mkdtemp(out));
	snprintf(path, sizeof(path), "%s/policies", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(other, sizeof(other), "%s/server.crt", out);
	files[0] = other;
	files[1] = NULL;
	w = watch_start(dir, files, count_reload, NULL, &e);
	assert_non_null(w);

	/* A burst of writes is one reload. */
	snprintf(path, sizeof(path), "%s/policies/a.json", dir);
	put(path, "{}");
	put(path, "{ }");
	snprintf(path, sizeof(path), "%s/policies/b.json", dir);
	put(path, "{}");
	assert_int_equal(wait_count(1), 1);
	usleep((WATCH_QUIET_MS + WATCH_MIN_GAP_MS) * 1000);
	assert_int_equal(reload_count(), 1);

	/* An atomic rename (editor's save) of a dot file onto a name counts. */
	snprintf(tmp, sizeof(tmp), "%s/policies/.a.json.tmp1", dir);
	put(tmp, "{\"x\":1}");
	snprintf(path, sizeof(path), "%s/policies/a.json", dir);
	assert_int_equal(rename(tmp, path), 0);
	assert_int_equal(wait_count(2), 2);

	/* A folder made later is watched: a file in it counts. */
	snprintf(path, sizeof(path), "%s/roles", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	n = wait_count(3);
	assert_int_equal(n, 3);
	snprintf(path, sizeof(path), "%s/roles/r.json", dir);
	put(path, "{}");
	assert_int_equal(wait_count(4), 4);

	/* Deleting counts; a swap file does not. */
	assert_int_equal(unlink(path), 0);
	assert_int_equal(wait_count(5), 5);
	snprintf(path, sizeof(path), "%s/policies/.a.json.swp", dir);
	put(path, "x");
	/* Outside the directory only the named file counts. */
	snprintf(path, sizeof(path), "%s/unrelated.pem", out);
	put(path, "x");
	usleep((WATCH_QUIET_MS + WATCH_MIN_GAP_MS) * 1000);
	assert_int_equal(reload_count(), 5);
	put(other, "x");
	assert_int_equal(wait_count(6), 6);

	/*
	 * A Kubernetes volume update: a new timestamped folder (a dot name:
	 * ignored), then a "..data_tmp" symlink renamed onto "..data".
	 */
	snprintf(path, sizeof(path), "%s/..2026_11_29_21_00_00.1", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(tmp, sizeof(tmp), "%s/..data_tmp", dir);
	assert_int_equal(symlink("..2026_11_29_21_00_00.1", tmp), 0);
	snprintf(path, sizeof(path), "%s/..data", dir);
	assert_int_equal(rename(tmp, path), 0);
	assert_int_equal(wait_count(7), 7);

	watch_stop(w);
	watch_stop(NULL);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s'", dir, out);
	assert_int_equal(system(cmd), 0);
}

static void
test_missing_dir(void **state)
{
	struct err e;

	(void)state;
	assert_null(watch_start("/nonexistent/regauth", NULL, count_reload,
	    NULL, &e));
	assert_non_null(strstr(e.msg, "/nonexistent/regauth"));
}

static void
test_privs_resolve(void **state)
{
	struct err e;
	uid_t uid;
	gid_t gid;

	(void)state;
	assert_int_equal(privs_resolve(NULL, NULL, &uid, &gid, &e), 0);
	assert_int_equal(uid, (uid_t)-1);
	assert_int_equal(privs_resolve("nobody", NULL, &uid, &gid, &e), 0);
	assert_true(uid != 0 && uid != (uid_t)-1);
	assert_int_equal(privs_resolve("nobody", "root", &uid, &gid, &e), 0);
	assert_int_equal(gid, 0);
	assert_int_equal(privs_resolve("no-such-user-here", NULL, &uid, &gid,
	    &e), -1);
	assert_non_null(strstr(e.msg, "no-such-user-here"));
	assert_int_equal(privs_resolve("nobody", "no-such-group-here", &uid,
	    &gid, &e), -1);
	assert_non_null(strstr(e.msg, "no-such-group-here"));
	assert_int_equal(privs_resolve("root", NULL, &uid, &gid, &e), -1);
	assert_non_null(strstr(e.msg, "is root"));
	assert_int_equal(privs_resolve(NULL, "nogroup", &uid, &gid, &e), -1);
	assert_int_equal(privs_drop(0, 0, &e), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_name_filter),
		cmocka_unit_test(test_live),
		cmocka_unit_test(test_missing_dir),
		cmocka_unit_test(test_privs_resolve),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
