/*
 * Failed-login counters: per user name and per client address, counted in
 * fixed one-minute windows (a window is now / RATELIMIT_WINDOW). A key whose
 * count reached the limit is locked for the rest of its window. The table
 * has a fixed size per kind (bounded memory; when a set is full the entry of
 * the oldest window, else the one with fewest failures, is evicted), is
 * thread-safe (striped mutexes) and lives outside the configuration
 * snapshot, so it survives reloads. Time is passed in, for tests.
 */
#ifndef REGAUTHD_RATELIMIT_H
#define REGAUTHD_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

#define RATELIMIT_WINDOW	60	/* seconds, aligned on the minute */
#define RATELIMIT_ENTRIES	16384	/* per kind */
#define RATELIMIT_KEY_MAX	72	/* longest key + 1 */

enum ratelimit_kind {
	RATELIMIT_USER,
	RATELIMIT_ADDRESS
};

struct ratelimit;

/* A table of `entries` counters per kind (rounded up); NULL on failure. */
struct ratelimit *ratelimit_new(size_t entries);
void ratelimit_free(struct ratelimit *rl);

/*
 * Is `key` locked at `now` (count >= limit in the current window)? The
 * seconds left in the window (1..60) when it is, else 0. A limit <= 0, an
 * empty key or one of RATELIMIT_KEY_MAX bytes or more is never locked.
 */
int64_t ratelimit_locked(struct ratelimit *rl, enum ratelimit_kind kind,
    const char *key, int64_t limit, int64_t now);

/*
 * Count one failure of `key` at `now`. Returns the seconds left in the
 * window when this failure started the lock (the count reached `limit`),
 * else 0. Counts stop at `limit`. Nothing is counted for a limit <= 0 or a
 * key ratelimit_locked() would ignore.
 */
int64_t ratelimit_fail(struct ratelimit *rl, enum ratelimit_kind kind,
    const char *key, int64_t limit, int64_t now);

/* The failures of `key` in the window of `now` (for tests and logs). */
uint32_t ratelimit_count(struct ratelimit *rl, enum ratelimit_kind kind,
    const char *key, int64_t now);

/* Seconds from `now` to the end of its window: 1..RATELIMIT_WINDOW. */
int64_t ratelimit_retry_after(int64_t now);

#endif
