/*
 * redisstore against a real redis-server (Debian's), started here on a unix
 * socket in a mkdtemp folder and stopped by its PID: the settings grammar,
 * the shared replay cache (SET NX EXAT, hashed keys, one winner among
 * threads), failed-login counters shared by two replicas' tables, a Redis
 * restart behind a live connection, and the failure policy: replay checks
 * fail closed, counters fail open to memory, a hung server costs only the
 * timeout.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <cmocka.h>

#include <hiredis.h>
#include <openssl/evp.h>

#include "ratelimit.h"
#include "redisstore.h"

static char	dir[] = "/tmp/regauth-redis-XXXXXX";
static char	sock[256];
static pid_t	server = -1;

/* ---- the server ------------------------------------------------------------ */

static redisContext *
direct(void)
{
	struct timeval tv = { 1, 0 };

	return redisConnectUnixWithTimeout(sock, tv);
}

static void
server_start(void)
{
	char logf[300];
	redisContext *c;
	int i;

	snprintf(logf, sizeof(logf), "%s/redis.log", dir);
	if ((server = fork()) == 0) {
		execlp("redis-server", "redis-server", "--port", "0",
		    "--unixsocket", sock, "--unixsocketperm", "700",
		    "--save", "", "--appendonly", "no", "--dir", dir,
		    "--logfile", logf, (char *)NULL);
		_exit(127);
	}
	assert_true(server > 0);
	for (i = 0; i < 200; i++) {
		if ((c = direct()) != NULL && c->err == 0) {
			redisFree(c);
			return;
		}
		if (c != NULL)
			redisFree(c);
		usleep(25 * 1000);
	}
	fail_msg("redis-server did not start (is it installed? see %s)", logf);
}

static void
server_stop(void)
{
	int st;

	if (server <= 0)
		return;
	kill(server, SIGTERM);
	waitpid(server, &st, 0);
	server = -1;
	unlink(sock);
}

static int
group_setup(void **state)
{
	(void)state;
	signal(SIGPIPE, SIG_IGN);
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(sock, sizeof(sock), "%s/r.sock", dir);
	server_start();
	return 0;
}

static int
group_teardown(void **state)
{
	char p[300];

	(void)state;
	server_stop();
	redisstore_thread_close();
	snprintf(p, sizeof(p), "%s/redis.log", dir);
	unlink(p);
	rmdir(dir);
	return 0;
}

static struct redisstore_settings *
settings(const char *json)
{
	struct redisstore_settings *s = NULL;
	struct err e;
	json_t *j = json_loads(json, 0, NULL);

	assert_non_null(j);
	if (redisstore_settings_parse(j, &s, &e) == -1)
		fail_msg("%s: %s", json, e.msg);
	json_decref(j);
	return s;
}

static struct redisstore_settings *
unix_settings(const char *prefix)
{
	char json[512];

	snprintf(json, sizeof(json), "{\"address\":\"unix:%s\","
	    "\"prefix\":\"%s\"}", sock, prefix);
	return settings(json);
}

/* The keys matching `pattern`, joined by spaces, into out. */
static size_t
keys(const char *pattern, char *out, size_t sz)
{
	redisContext *c = direct();
	redisReply *r;
	size_t i, n;

	assert_true(c != NULL && c->err == 0);
	r = redisCommand(c, "KEYS %s", pattern);
	assert_non_null(r);
	assert_int_equal(r->type, REDIS_REPLY_ARRAY);
	out[0] = '\0';
	for (i = 0; i < r->elements; i++) {
		strncat(out, r->element[i]->str, sz - strlen(out) - 2);
		strncat(out, " ", sz - strlen(out) - 1);
	}
	n = r->elements;
	freeReplyObject(r);
	redisFree(c);
	return n;
}

static long long
expiretime(const char *key)
{
	redisContext *c = direct();
	redisReply *r;
	long long t;

	assert_true(c != NULL && c->err == 0);
	r = redisCommand(c, "EXPIRETIME %s", key);
	assert_non_null(r);
	assert_int_equal(r->type, REDIS_REPLY_INTEGER);
	t = r->integer;
	freeReplyObject(r);
	redisFree(c);
	return t;
}

static int64_t
now_s(void)
{
	return (int64_t)time(NULL);
}

static double
mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
hex_sha256(const void *p, size_t n, char out[65])
{
	unsigned char d[32];
	size_t i;

	assert_int_equal(EVP_Digest(p, n, d, NULL, EVP_sha256(), NULL), 1);
	for (i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/* ---- settings ---------------------------------------------------------------- */

static void
test_settings(void **state)
{
	static const char *bad[] = {
		"[]", "{}", "{\"address\":\"\"}", "{\"address\":7}",
		"{\"address\":\"localhost\"}", "{\"address\":\"h:0\"}",
		"{\"address\":\"h:65536\"}", "{\"address\":\":6379\"}",
		"{\"address\":\"::1:6379\"}", "{\"address\":\"[::1:6379\"}",
		"{\"address\":\"unix:rel/path\"}", "{\"address\":\"a b:1\"}",
		"{\"address\":\"h:1\",\"prefix\":\"a b\"}",
		"{\"address\":\"h:1\",\"timeout_ms\":0}",
		"{\"address\":\"h:1\",\"timeout_ms\":\"5\"}",
		"{\"address\":\"h:1\",\"password\":\"x\"}", NULL };
	struct redisstore_settings *s;
	struct err e;
	json_t *j;
	size_t i;

	(void)state;
	assert_int_equal(redisstore_settings_parse(NULL, &s, &e), 0);
	assert_null(s);
	s = settings("{\"address\":\"127.0.0.1:6379\"}");
	assert_string_equal(s->host, "127.0.0.1");
	assert_int_equal(s->port, 6379);
	assert_null(s->path);
	assert_string_equal(s->prefix, "regauth:");
	assert_int_equal(s->timeout_ms, 200);
	redisstore_settings_free(s);
	s = settings("{\"address\":\"[::1]:7000\",\"prefix\":\"\","
	    "\"timeout_ms\":50}");
	assert_string_equal(s->host, "::1");
	assert_int_equal(s->port, 7000);
	assert_string_equal(s->prefix, "");
	assert_int_equal(s->timeout_ms, 50);
	redisstore_settings_free(s);
	s = settings("{\"address\":\"unix:/run/redis/redis.sock\"}");
	assert_string_equal(s->path, "/run/redis/redis.sock");
	assert_null(s->host);
	redisstore_settings_free(s);
	for (i = 0; bad[i] != NULL; i++) {
		j = json_loads(bad[i], JSON_DECODE_ANY, NULL);
		assert_non_null(j);
		s = NULL;
		if (redisstore_settings_parse(j, &s, &e) != -1)
			fail_msg("accepted: %s", bad[i]);
		assert_null(s);
		assert_non_null(strstr(e.msg, "redis"));
		json_decref(j);
	}
	redisstore_settings_free(NULL);
}

/* ---- the replay cache -------------------------------------------------------- */

static void
test_replay_shared(void **state)
{
	struct redisstore_settings *s = unix_settings("t1:");
	char buf[4096], hex[65], key[128], in[256];
	int64_t now = now_s(), exp = now + 60;
	struct err e;

	(void)state;
	assert_int_equal(redisstore_replay_record(s, "serviceaccount/ci",
	    "jti-secret-1", exp, now, &e), 0);
	assert_int_equal(redisstore_replay_record(s, "serviceaccount/ci",
	    "jti-secret-1", exp, now, &e), -1);
	assert_non_null(strstr(e.msg, "replay"));
	/* Another account may use the same jti. */
	assert_int_equal(redisstore_replay_record(s, "serviceaccount/cd",
	    "jti-secret-1", exp, now, &e), 0);
	/* The key: PREFIX jti: SHA-256(sub NUL jti), nothing in clear. */
	memcpy(in, "serviceaccount/ci\0jti-secret-1", 30);
	hex_sha256(in, 30, hex);
	snprintf(key, sizeof(key), "t1:jti:%s", hex);
	assert_int_equal(keys("t1:*", buf, sizeof(buf)), 2);
	assert_non_null(strstr(buf, key));
	assert_null(strstr(buf, "secret"));
	assert_null(strstr(buf, "serviceaccount"));
	/* It lives until exp plus the clock-skew margin. */
	assert_int_equal(expiretime(key), exp + REDISSTORE_SKEW);
	/* A replica with another prefix (another deployment) is separate. */
	redisstore_settings_free(s);
	s = unix_settings("t1b:");
	assert_int_equal(redisstore_replay_record(s, "serviceaccount/ci",
	    "jti-secret-1", exp, now, &e), 0);
	redisstore_settings_free(s);
}

struct race {
	const struct redisstore_settings	*s;
	int					 won;
};

static void *
racer(void *arg)
{
	struct race *r = arg;
	struct err e;
	int64_t now = now_s();

	r->won = redisstore_replay_record(r->s, "serviceaccount/race",
	    "the-one-jti", now + 30, now, &e) == 0;
	redisstore_thread_close();
	return NULL;
}

static void
test_replay_one_winner(void **state)
{
	struct redisstore_settings *s = unix_settings("t2:");
	struct race r[16];
	pthread_t t[16];
	int i, won = 0;

	(void)state;
	for (i = 0; i < 16; i++) {
		r[i].s = s;
		r[i].won = 0;
		assert_int_equal(pthread_create(&t[i], NULL, racer, &r[i]), 0);
	}
	for (i = 0; i < 16; i++) {
		pthread_join(t[i], NULL);
		won += r[i].won;
	}
	assert_int_equal(won, 1);
	redisstore_settings_free(s);
}

/* ---- failed-login counters ------------------------------------------------------ */

static void
test_limits_shared(void **state)
{
	struct redisstore_settings *s = unix_settings("t3:");
	struct ratelimit *a = ratelimit_new(64), *b = ratelimit_new(64);
	char buf[4096], hex[65], key[160];
	int64_t now = now_s(), n;
	struct err e;

	(void)state;
	assert_non_null(a);
	assert_non_null(b);
	/* Two failures at replica A, one at B: not yet locked (limit 4). */
	assert_int_equal(redisstore_limit_fail(s, a, RATELIMIT_USER, "alice",
	    4, now), 0);
	assert_int_equal(redisstore_limit_fail(s, a, RATELIMIT_USER, "alice",
	    4, now), 0);
	assert_int_equal(redisstore_limit_fail(s, b, RATELIMIT_USER, "alice",
	    4, now), 0);
	assert_int_equal(redisstore_limit_locked(s, b, RATELIMIT_USER,
	    "alice", 4, now), 0);
	/* The fourth, at B, starts the lock, seen by both replicas. */
	assert_int_equal(redisstore_limit_fail(s, b, RATELIMIT_USER, "alice",
	    4, now), ratelimit_retry_after(now));
	assert_int_equal(redisstore_limit_locked(s, a, RATELIMIT_USER,
	    "alice", 4, now), ratelimit_retry_after(now));
	assert_int_equal(redisstore_limit_locked(s, b, RATELIMIT_USER,
	    "alice", 4, now), ratelimit_retry_after(now));
	/* Neither table alone would have locked. */
	assert_int_equal(ratelimit_locked(a, RATELIMIT_USER, "alice", 4, now),
	    0);
	assert_int_equal(ratelimit_locked(b, RATELIMIT_USER, "alice", 4, now),
	    0);
	/* No second "lock started" from a fifth failure. */
	assert_int_equal(redisstore_limit_fail(s, a, RATELIMIT_USER, "alice",
	    4, now), 0);
	assert_int_equal(redisstore_limit_count(s, RATELIMIT_USER, "alice",
	    now, &n, &e), 0);
	assert_int_equal(n, 5);
	/* Kinds, names and minutes are separate. */
	assert_int_equal(redisstore_limit_locked(s, a, RATELIMIT_ADDRESS,
	    "alice", 4, now), 0);
	assert_int_equal(redisstore_limit_locked(s, a, RATELIMIT_USER,
	    "alicf", 4, now), 0);
	assert_int_equal(redisstore_limit_locked(s, a, RATELIMIT_USER,
	    "alice", 4, now + 60), 0);
	/* An address counts likewise; keys hold hashes only. */
	assert_int_equal(redisstore_limit_fail(s, a, RATELIMIT_ADDRESS,
	    "192.0.2.7", 100, now), 0);
	assert_int_equal(keys("t3:*", buf, sizeof(buf)), 2);
	assert_null(strstr(buf, "alice"));
	assert_null(strstr(buf, "192.0.2.7"));
	hex_sha256("alice", 5, hex);
	snprintf(key, sizeof(key), "t3:fail:user:%s:%lld", hex,
	    (long long)(now / 60));
	assert_non_null(strstr(buf, key));
	/* The counter expires at the end of its minute. */
	assert_int_equal(expiretime(key), (now / 60 + 1) * 60);
	/* Off (limit 0), an empty or overlong key: never counted. */
	assert_int_equal(redisstore_limit_fail(s, a, RATELIMIT_USER, "bob",
	    0, now), 0);
	assert_int_equal(redisstore_limit_fail(s, a, RATELIMIT_USER, "",
	    1, now), 0);
	assert_int_equal(keys("t3:*", buf, sizeof(buf)), 2);
	ratelimit_free(a);
	ratelimit_free(b);
	redisstore_settings_free(s);
}

/* ---- failures ---------------------------------------------------------------- */

static void
test_restart_behind_live_connection(void **state)
{
	struct redisstore_settings *s = unix_settings("t4:");
	int64_t now = now_s();
	struct err e;

	(void)state;
	assert_int_equal(redisstore_replay_record(s, "serviceaccount/r",
	    "before", now + 60, now, &e), 0);
	server_stop();
	server_start();
	/* The dead link is remade at once: no refusal. */
	if (redisstore_replay_record(s, "serviceaccount/r", "after",
	    now + 60, now, &e) != 0)
		fail_msg("after a restart: %s", e.msg);
	redisstore_settings_free(s);
}

static void
test_redis_down(void **state)
{
	struct redisstore_settings *s = unix_settings("t5:");
	struct ratelimit *rl = ratelimit_new(64);
	int64_t now = now_s();
	struct err e;
	double t0;
	int i;

	(void)state;
	assert_int_equal(redisstore_replay_record(s, "serviceaccount/d",
	    "up", now + 60, now, &e), 0);
	server_stop();
	/* Replay checks fail closed (-2: refused, not the client's fault). */
	assert_int_equal(redisstore_replay_record(s, "serviceaccount/d",
	    "down-1", now + 60, now, &e), -2);
	assert_non_null(strstr(e.msg, "fail closed"));
	t0 = mono();
	for (i = 0; i < 100; i++)
		assert_int_equal(redisstore_replay_record(s,
		    "serviceaccount/d", "down-2", now + 60, now, &e), -2);
	/* Within the backoff no new connection is tried. */
	assert_true(mono() - t0 < 0.5);
	assert_non_null(strstr(e.msg, "unavailable"));
	/* Counters fail open to this replica's table, which still locks. */
	for (i = 0; i < 2; i++)
		assert_int_equal(redisstore_limit_fail(s, rl, RATELIMIT_USER,
		    "carol", 3, now), 0);
	assert_int_equal(redisstore_limit_locked(s, rl, RATELIMIT_USER,
	    "carol", 3, now), 0);
	assert_int_equal(redisstore_limit_fail(s, rl, RATELIMIT_USER,
	    "carol", 3, now), ratelimit_retry_after(now));
	assert_int_equal(redisstore_limit_locked(s, rl, RATELIMIT_USER,
	    "carol", 3, now), ratelimit_retry_after(now));
	/* Back up: after the backoff, Redis serves again. */
	server_start();
	usleep((REDISSTORE_BACKOFF_MS + 100) * 1000);
	if (redisstore_replay_record(s, "serviceaccount/d", "down-3",
	    now + 60, now, &e) != 0)
		fail_msg("after Redis came back: %s", e.msg);
	ratelimit_free(rl);
	redisstore_settings_free(s);
}

static void
test_hung_server_times_out(void **state)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	struct redisstore_settings *s;
	char json[200];
	struct err e;
	double t0, took;
	int fd;

	(void)state;
	/* A listener that never answers: connect succeeds, replies never come. */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 8), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	snprintf(json, sizeof(json), "{\"address\":\"127.0.0.1:%d\","
	    "\"timeout_ms\":150}", ntohs(sa.sin_port));
	s = settings(json);
	t0 = mono();
	assert_int_equal(redisstore_replay_record(s, "serviceaccount/h", "j",
	    now_s() + 60, now_s(), &e), -2);
	took = mono() - t0;
	assert_true(took >= 0.1 && took < 1.0);
	assert_non_null(strstr(e.msg, "fail closed"));
	close(fd);
	redisstore_settings_free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_settings),
		cmocka_unit_test(test_replay_shared),
		cmocka_unit_test(test_replay_one_winner),
		cmocka_unit_test(test_limits_shared),
		cmocka_unit_test(test_restart_behind_live_connection),
		cmocka_unit_test(test_redis_down),
		cmocka_unit_test(test_hung_server_times_out),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
