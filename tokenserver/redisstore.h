/*
 * The state replicas may share through an optional Redis (regauthd.json
 * "redis"): the assertion replay cache and the failed-login counters.
 * Without the setting each replica keeps both in memory (login.c,
 * ratelimit.c) and this module is not used.
 *
 * Keys (PREFIX is the configured prefix, "regauth:" by default):
 *   PREFIX jti:HEX                      replay cache: SHA-256 of sub NUL jti,
 *                                       SET NX, EXAT exp + REDISSTORE_SKEW
 *   PREFIX fail:user:HEX:MINUTE         failed logins of a user name
 *   PREFIX fail:addr:HEX:MINUTE         failed logins from an address
 * HEX is a SHA-256 in hex (of the user name, the address): no name, address
 * or secret is stored. MINUTE is now / 60; a counter is INCR'ed and expires
 * (EXPIREAT) at the end of its minute.
 *
 * Failure policy: the replay check fails CLOSED (an assertion that cannot
 * be recorded is refused: accepting it could allow a replay); the
 * failed-login counters fail OPEN to the replica's in-memory counters
 * (which always count too), logged at most once a minute.
 *
 * Connections: one per thread (libmicrohttpd's worker threads), made on
 * first use, remade after any error and when the settings change (a
 * reload); connect and command timeouts are timeout_ms. After a failed
 * connection a thread waits REDISSTORE_BACKOFF_MS before trying again, so
 * an unreachable Redis costs a request nothing but the refusal.
 */
#ifndef REGAUTHD_REDISSTORE_H
#define REGAUTHD_REDISSTORE_H

#include <stdint.h>
#include <jansson.h>
#include "ratelimit.h"
#include "util.h"

#define REDISSTORE_DEFAULT_PREFIX	"regauth:"
#define REDISSTORE_DEFAULT_TIMEOUT_MS	200
#define REDISSTORE_PREFIX_MAX		64
#define REDISSTORE_SKEW			60	/* s a jti outlives exp in Redis */
#define REDISSTORE_BACKOFF_MS		1000

/* regauthd.json "redis", parsed. */
struct redisstore_settings {
	char	*address;	/* as configured: "HOST:PORT" or "unix:PATH" */
	char	*host;		/* TCP: host without brackets; else NULL */
	int	 port;
	char	*path;		/* unix socket; else NULL */
	char	*prefix;
	int	 timeout_ms;
};

/*
 * Parse the "redis" object of regauthd.json: "address" (required;
 * "HOST:PORT", "[V6]:PORT" or "unix:/ABSOLUTE/PATH"), "prefix" (default
 * "regauth:", up to 64 printable characters, no space), "timeout_ms"
 * (1..10000, default 200). `j` NULL: *out = NULL, 0. -1: `e` names the
 * setting. *out is new (redisstore_settings_free).
 */
int redisstore_settings_parse(const json_t *j, struct redisstore_settings **out,
    struct err *e);
void redisstore_settings_free(struct redisstore_settings *s);

/*
 * Record the assertion `sub`+`jti` until `exp` (+ REDISSTORE_SKEW) in Redis
 * with SET NX. 0: first use. -1: a replay (the key exists). -2: Redis
 * unreachable or failing: refused too (fail closed; also logged at level
 * error, at most once a second), but the client is not at fault. `e` says
 * why.
 */
int redisstore_replay_record(const struct redisstore_settings *s,
    const char *sub, const char *jti, int64_t exp, int64_t now,
    struct err *e);

/*
 * ratelimit_locked() and ratelimit_fail() across replicas: the in-memory
 * table `rl` always counts; with `s` (not NULL) the Redis counter of the
 * minute counts too and decides. When Redis fails, the in-memory answer
 * stands (fail open). Same arguments and results as ratelimit.h.
 */
int64_t redisstore_limit_locked(const struct redisstore_settings *s,
    struct ratelimit *rl, enum ratelimit_kind kind, const char *key,
    int64_t limit, int64_t now);
int64_t redisstore_limit_fail(const struct redisstore_settings *s,
    struct ratelimit *rl, enum ratelimit_kind kind, const char *key,
    int64_t limit, int64_t now);

/*
 * The Redis counter of `key` in the minute of `now`: 0 and the count in
 * *count, or -1 (Redis failed; `e` says why). For tests and logs.
 */
int redisstore_limit_count(const struct redisstore_settings *s,
    enum ratelimit_kind kind, const char *key, int64_t now, int64_t *count,
    struct err *e);

/* Close this thread's connection (tests; threads' own close at exit). */
void redisstore_thread_close(void);

#endif
