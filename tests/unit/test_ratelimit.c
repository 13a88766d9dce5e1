/*
 * ratelimit: failures counted per key in fixed minute windows, the lock at
 * the limit and its Retry-After, rollover at the next window (time is
 * injected), the fixed table size under many keys, and counting from
 * several threads at once.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "ratelimit.h"

#define T0	((int64_t)1700000040)	/* a window start (divisible by 60) */

static void
test_window_math(void **state)
{
	(void)state;
	assert_int_equal(ratelimit_retry_after(T0), 60);
	assert_int_equal(ratelimit_retry_after(T0 + 1), 59);
	assert_int_equal(ratelimit_retry_after(T0 + 59), 1);
	assert_int_equal(ratelimit_retry_after(T0 + 60), 60);
}

static void
test_counting_and_lock(void **state)
{
	struct ratelimit *rl = ratelimit_new(RATELIMIT_ENTRIES);
	int i;

	(void)state;
	assert_non_null(rl);
	for (i = 1; i < 10; i++) {
		assert_int_equal(ratelimit_fail(rl, RATELIMIT_USER, "alice",
		    10, T0 + 5), 0);
		assert_int_equal(ratelimit_count(rl, RATELIMIT_USER, "alice",
		    T0 + 5), i);
		assert_int_equal(ratelimit_locked(rl, RATELIMIT_USER, "alice",
		    10, T0 + 5), 0);
	}
	/* The tenth failure starts the lock, for the rest of the minute. */
	assert_int_equal(ratelimit_fail(rl, RATELIMIT_USER, "alice", 10,
	    T0 + 5), 55);
	assert_int_equal(ratelimit_locked(rl, RATELIMIT_USER, "alice", 10,
	    T0 + 20), 40);
	/* Counting stops at the limit; no second "lock started". */
	assert_int_equal(ratelimit_fail(rl, RATELIMIT_USER, "alice", 10,
	    T0 + 21), 0);
	assert_int_equal(ratelimit_count(rl, RATELIMIT_USER, "alice", T0 + 21),
	    10);
	/* Kinds and keys are separate. */
	assert_int_equal(ratelimit_locked(rl, RATELIMIT_ADDRESS, "alice", 10,
	    T0 + 20), 0);
	assert_int_equal(ratelimit_locked(rl, RATELIMIT_USER, "alicf", 10,
	    T0 + 20), 0);
	/* A higher limit (after a reload) unlocks. */
	assert_int_equal(ratelimit_locked(rl, RATELIMIT_USER, "alice", 11,
	    T0 + 20), 0);
	ratelimit_free(rl);
}

static void
test_rollover(void **state)
{
	struct ratelimit *rl = ratelimit_new(64);
	int i;

	(void)state;
	for (i = 0; i < 3; i++)
		ratelimit_fail(rl, RATELIMIT_ADDRESS, "192.0.2.1", 3, T0 + 58);
	assert_int_equal(ratelimit_locked(rl, RATELIMIT_ADDRESS, "192.0.2.1",
	    3, T0 + 59), 1);
	/* The next minute starts afresh: fixed windows. */
	assert_int_equal(ratelimit_locked(rl, RATELIMIT_ADDRESS, "192.0.2.1",
	    3, T0 + 60), 0);
	assert_int_equal(ratelimit_count(rl, RATELIMIT_ADDRESS, "192.0.2.1",
	    T0 + 60), 0);
	assert_int_equal(ratelimit_fail(rl, RATELIMIT_ADDRESS, "192.0.2.1", 3,
	    T0 + 61), 0);
	assert_int_equal(ratelimit_count(rl, RATELIMIT_ADDRESS, "192.0.2.1",
	    T0 + 61), 1);
	ratelimit_free(rl);
}

static void
test_off_and_bad_keys(void **state)
{
	struct ratelimit *rl = ratelimit_new(64);
	char big[RATELIMIT_KEY_MAX + 8];
	int i;

	(void)state;
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	for (i = 0; i < 5; i++) {
		assert_int_equal(ratelimit_fail(rl, RATELIMIT_USER, "bob", 0,
		    T0), 0);
		assert_int_equal(ratelimit_fail(rl, RATELIMIT_USER, big, 1,
		    T0), 0);
		assert_int_equal(ratelimit_fail(rl, RATELIMIT_USER, "", 1,
		    T0), 0);
	}
	assert_int_equal(ratelimit_locked(rl, RATELIMIT_USER, "bob", 0, T0), 0);
	assert_int_equal(ratelimit_locked(rl, RATELIMIT_USER, big, 1, T0), 0);
	assert_int_equal(ratelimit_count(rl, RATELIMIT_USER, "bob", T0), 0);
	assert_int_equal(ratelimit_locked(NULL, RATELIMIT_USER, "bob", 1, T0),
	    0);
	ratelimit_free(NULL);
	ratelimit_free(rl);
}

/*
 * 100,000 keys through a 64-entry table: memory stays fixed, and a locked
 * key is still remembered by the table when kept with fewer newcomers than
 * its set holds; stale windows go first.
 */
static void
test_table_bound(void **state)
{
	struct ratelimit *rl = ratelimit_new(64);
	char key[32];
	unsigned int kept = 0;
	int i;

	(void)state;
	assert_non_null(rl);
	for (i = 0; i < 100000; i++) {
		snprintf(key, sizeof(key), "u%d", i);
		ratelimit_fail(rl, RATELIMIT_USER, key, 10, T0);
	}
	for (i = 0; i < 100000; i++) {
		snprintf(key, sizeof(key), "u%d", i);
		kept += ratelimit_count(rl, RATELIMIT_USER, key, T0);
	}
	assert_true(kept <= 64);
	assert_true(kept >= 56);
	/* A locked key outlives newcomers with one failure each. */
	for (i = 0; i < 10; i++)
		ratelimit_fail(rl, RATELIMIT_USER, "target", 10, T0);
	for (i = 0; i < 1000; i++) {
		snprintf(key, sizeof(key), "v%d", i);
		ratelimit_fail(rl, RATELIMIT_USER, key, 10, T0 + 1);
	}
	assert_int_equal(ratelimit_locked(rl, RATELIMIT_USER, "target", 10,
	    T0 + 2), 58);
	/* In the next window every old entry is stale and replaceable. */
	for (i = 0; i < 1000; i++) {
		snprintf(key, sizeof(key), "w%d", i);
		ratelimit_fail(rl, RATELIMIT_USER, key, 10, T0 + 60);
	}
	kept = 0;
	for (i = 0; i < 1000; i++) {
		snprintf(key, sizeof(key), "w%d", i);
		kept += ratelimit_count(rl, RATELIMIT_USER, key, T0 + 60);
	}
	assert_true(kept >= 56 && kept <= 64);
	ratelimit_free(rl);
}

#define NTHREADS	8
#define NFAILS		5000

struct worker {
	struct ratelimit	*rl;
	int			 id;
};

static void *
work(void *arg)
{
	struct worker *w = arg;
	char key[32];
	int i;

	for (i = 0; i < NFAILS; i++) {
		ratelimit_fail(w->rl, RATELIMIT_ADDRESS, "198.51.100.7",
		    1000000, T0);
		snprintf(key, sizeof(key), "t%d-%d", w->id, i % 50);
		ratelimit_fail(w->rl, RATELIMIT_USER, key, 1000000, T0);
		(void)ratelimit_locked(w->rl, RATELIMIT_ADDRESS,
		    "198.51.100.7", 1000000, T0);
	}
	return NULL;
}

static void
test_threads(void **state)
{
	struct ratelimit *rl = ratelimit_new(RATELIMIT_ENTRIES);
	struct worker w[NTHREADS];
	pthread_t th[NTHREADS];
	char key[32];
	int i, j;

	(void)state;
	for (i = 0; i < NTHREADS; i++) {
		w[i].rl = rl;
		w[i].id = i;
		assert_int_equal(pthread_create(&th[i], NULL, work, &w[i]), 0);
	}
	for (i = 0; i < NTHREADS; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(ratelimit_count(rl, RATELIMIT_ADDRESS,
	    "198.51.100.7", T0), NTHREADS * NFAILS);
	for (i = 0; i < NTHREADS; i++)
		for (j = 0; j < 50; j++) {
			snprintf(key, sizeof(key), "t%d-%d", i, j);
			assert_int_equal(ratelimit_count(rl, RATELIMIT_USER,
			    key, T0), NFAILS / 50);
		}
	ratelimit_free(rl);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_window_math),
		cmocka_unit_test(test_counting_and_lock),
		cmocka_unit_test(test_rollover),
		cmocka_unit_test(test_off_and_bad_keys),
		cmocka_unit_test(test_table_bound),
		cmocka_unit_test(test_threads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
