/*
 * Shared replay cache and failed-login counters in Redis (redisstore.h),
 * with hiredis' blocking API on one connection per thread.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include "buf.h"
#include "redisstore.h"

#define ADDRESS_MAX	255
#define KEY_MAX		(REDISSTORE_PREFIX_MAX + 128)
#define MAX_ARGS	6
#define SUB_JTI_MAX	512	/* sub NUL jti */

/* ---- settings ------------------------------------------------------------ */

void
redisstore_settings_free(struct redisstore_settings *s)
{
	if (s == NULL)
		return;
	free(s->address);
	free(s->host);
	free(s->path);
	free(s->prefix);
	free(s);
}

static int
printable_nospace(const char *s)
{
	for (; *s != '\0'; s++)
		if (*s <= 0x20 || *s > 0x7e)
			return 0;
	return 1;
}

/* "HOST:PORT", "[V6]:PORT" or "unix:/PATH" into s->host/port or s->path. */
static int
address_parse(struct redisstore_settings *s, const char *a, struct err *e)
{
	const char *colon, *h = a;
	size_t hl;
	int64_t port;

	if (strncmp(a, "unix:", 5) == 0) {
		if (a[5] != '/' || strlen(a + 5) >= 108) {
			err_set(e, "regauthd.json: redis.address \"unix:PATH\" "
			    "needs an absolute PATH of at most 107 bytes");
			return -1;
		}
		if ((s->path = strdup(a + 5)) == NULL)
			goto oom;
		return 0;
	}
	colon = strrchr(a, ':');
	if (colon == NULL || colon == a ||
	    util_parse_i64(colon + 1, 1, 65535, &port) == -1) {
		err_set(e, "regauthd.json: redis.address must be HOST:PORT, "
		    "[IPV6]:PORT or unix:/PATH");
		return -1;
	}
	hl = (size_t)(colon - a);
	if (a[0] == '[') {
		if (hl < 3 || a[hl - 1] != ']') {
			err_set(e, "regauthd.json: redis.address: bad [IPV6]:PORT");
			return -1;
		}
		h = a + 1;
		hl -= 2;
	} else if (memchr(a, ':', hl) != NULL) {
		err_set(e, "regauthd.json: redis.address: write an IPv6 "
		    "address as [IPV6]:PORT");
		return -1;
	}
	if ((s->host = strndup(h, hl)) == NULL)
		goto oom;
	s->port = (int)port;
	return 0;
oom:
	err_set(e, "out of memory");
	return -1;
}

int
redisstore_settings_parse(const json_t *j, struct redisstore_settings **out,
    struct err *e)
{
	struct redisstore_settings *s = NULL;
	const char *key, *a, *p = REDISSTORE_DEFAULT_PREFIX;
	const json_t *v;
	json_int_t t = REDISSTORE_DEFAULT_TIMEOUT_MS;

	*out = NULL;
	if (j == NULL)
		return 0;
	if (!json_is_object(j)) {
		err_set(e, "regauthd.json: \"redis\" must be an object with "
		    "\"address\"");
		return -1;
	}
	json_object_foreach((json_t *)j, key, v) {
		if (strcmp(key, "address") != 0 && strcmp(key, "prefix") != 0 &&
		    strcmp(key, "timeout_ms") != 0) {
			err_set(e, "regauthd.json: unknown setting "
			    "\"redis.%.60s\"", key);
			return -1;
		}
	}
	v = json_object_get(j, "address");
	if (!json_is_string(v) || (a = json_string_value(v))[0] == '\0' ||
	    strlen(a) != json_string_length(v) || strlen(a) > ADDRESS_MAX ||
	    !printable_nospace(a)) {
		err_set(e, "regauthd.json: redis.address must be a string: "
		    "HOST:PORT or unix:/PATH");
		return -1;
	}
	if ((v = json_object_get(j, "prefix")) != NULL) {
		if (!json_is_string(v) ||
		    strlen(json_string_value(v)) != json_string_length(v) ||
		    json_string_length(v) > REDISSTORE_PREFIX_MAX ||
		    !printable_nospace(json_string_value(v))) {
			err_set(e, "regauthd.json: redis.prefix must be at most "
			    "%d printable characters, no space",
			    REDISSTORE_PREFIX_MAX);
			return -1;
		}
		p = json_string_value(v);
	}
	if ((v = json_object_get(j, "timeout_ms")) != NULL) {
		if (!json_is_integer(v) || json_integer_value(v) < 1 ||
		    json_integer_value(v) > 10000) {
			err_set(e, "regauthd.json: redis.timeout_ms must be an "
			    "integer from 1 to 10000");
			return -1;
		}
		t = json_integer_value(v);
	}
	if ((s = calloc(1, sizeof(*s))) == NULL ||
	    (s->address = strdup(a)) == NULL ||
	    (s->prefix = strdup(p)) == NULL) {
		err_set(e, "out of memory");
		goto fail;
	}
	s->timeout_ms = (int)t;
	if (address_parse(s, a, e) == -1)
		goto fail;
	*out = s;
	return 0;
fail:
	redisstore_settings_free(s);
	return -1;
}

/* ---- connections, one per thread ------------------------------------------ */

struct conn {
	redisContext	*ctx;
	char		 address[ADDRESS_MAX + 1];	/* of ctx, or of the last try */
	int		 timeout_ms;
	int64_t		 retry_at;	/* monotonic ms: no new try before */
	char		 why[120];	/* why the last try failed */
};

static pthread_key_t	conn_key;
static pthread_once_t	conn_once = PTHREAD_ONCE_INIT;
static int		conn_key_ok;

static void
conn_destroy(void *p)
{
	struct conn *c = p;

	if (c == NULL)
		return;
	if (c->ctx != NULL)
		redisFree(c->ctx);
	free(c);
}

static void
conn_key_init(void)
{
	conn_key_ok = pthread_key_create(&conn_key, conn_destroy) == 0;
}

static struct conn *
conn_self(void)
{
	struct conn *c;

	pthread_once(&conn_once, conn_key_init);
	if (!conn_key_ok)
		return NULL;
	if ((c = pthread_getspecific(conn_key)) != NULL)
		return c;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	if (pthread_setspecific(conn_key, c) != 0) {
		free(c);
		return NULL;
	}
	return c;
}

void
redisstore_thread_close(void)
{
	struct conn *c;

	pthread_once(&conn_once, conn_key_init);
	if (!conn_key_ok || (c = pthread_getspecific(conn_key)) == NULL)
		return;
	pthread_setspecific(conn_key, NULL);
	conn_destroy(c);
}

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
conn_drop(struct conn *c)
{
	if (c->ctx != NULL)
		redisFree(c->ctx);
	c->ctx = NULL;
}

/*
 * This thread's connection for `s`, made if need be; *reused says whether
 * it served before (a dead one is then worth one more try). NULL: `e`
 * says why, and no new try is made for REDISSTORE_BACKOFF_MS.
 */
static redisContext *
conn_get(struct conn *c, const struct redisstore_settings *s, int *reused,
    struct err *e)
{
	struct timeval tv;
	redisContext *ctx;
	int64_t t;

	*reused = 0;
	if (strcmp(c->address, s->address) != 0 ||
	    c->timeout_ms != s->timeout_ms) {
		/* New settings (a reload): forget the old link and backoff. */
		conn_drop(c);
		snprintf(c->address, sizeof(c->address), "%s", s->address);
		c->timeout_ms = s->timeout_ms;
		c->retry_at = 0;
	}
	if (c->ctx != NULL) {
		*reused = 1;
		return c->ctx;
	}
	t = mono_ms();
	if (t < c->retry_at) {
		err_set(e, "redis %.80s unavailable: %s", s->address, c->why);
		return NULL;
	}
	tv.tv_sec = s->timeout_ms / 1000;
	tv.tv_usec = (s->timeout_ms % 1000) * 1000;
	ctx = s->path != NULL ? redisConnectUnixWithTimeout(s->path, tv) :
	    redisConnectWithTimeout(s->host, s->port, tv);
	if (ctx == NULL || ctx->err != 0 ||
	    redisSetTimeout(ctx, tv) != REDIS_OK) {
		snprintf(c->why, sizeof(c->why), "%.100s", ctx == NULL ?
		    "out of memory" : ctx->err != 0 ? ctx->errstr :
		    "cannot set the timeout");
		if (ctx != NULL)
			redisFree(ctx);
		c->retry_at = t + REDISSTORE_BACKOFF_MS;
		err_set(e, "redis %.80s unavailable: %s", s->address, c->why);
		return NULL;
	}
	if (s->host != NULL)
		(void)redisEnableKeepAlive(ctx);
	c->ctx = ctx;
	return ctx;
}

struct cmd {
	int		 argc;
	const char	*argv[MAX_ARGS];
	size_t		 len[MAX_ARGS];
};

static void
cmd_arg(struct cmd *c, const char *s)
{
	c->argv[c->argc] = s;
	c->len[c->argc] = strlen(s);
	c->argc++;
}

/*
 * Send `n` pipelined commands and read their replies into r[0..n) (each
 * freeReplyObject'ed by the caller on 0). A dead connection that served
 * before is remade and the commands sent once more (Redis restarted); any
 * other failure drops the connection. -1: `e` says why, r[] all NULL.
 */
static int
run(const struct redisstore_settings *s, struct cmd *cmds, size_t n,
    redisReply **r, struct err *e)
{
	struct conn *c = conn_self();
	redisContext *ctx;
	size_t i;
	int attempt, reused, eno, timed_out;
	void *rep;

	for (i = 0; i < n; i++)
		r[i] = NULL;
	if (c == NULL) {
		err_set(e, "redis: out of memory");
		return -1;
	}
	for (attempt = 0; attempt < 2; attempt++) {
		if ((ctx = conn_get(c, s, &reused, e)) == NULL)
			return -1;
		for (i = 0; i < n; i++)
			if (redisAppendCommandArgv(ctx, cmds[i].argc,
			    cmds[i].argv, cmds[i].len) != REDIS_OK)
				break;
		if (i == n)
			for (i = 0; i < n; i++) {
				rep = NULL;
				if (redisGetReply(ctx, &rep) != REDIS_OK)
					break;
				r[i] = rep;
			}
		if (i == n && ctx->err == 0)
			return 0;
		eno = errno;
		timed_out = ctx->err == REDIS_ERR_IO && (eno == EAGAIN ||
		    eno == EWOULDBLOCK);
		if (timed_out)
			snprintf(c->why, sizeof(c->why), "no answer within "
			    "%d ms", s->timeout_ms);
		else
			snprintf(c->why, sizeof(c->why), "%.100s",
			    ctx->err != 0 ? ctx->errstr : "no reply");
		err_set(e, "redis %.80s: %s", s->address, c->why);
		for (i = 0; i < n; i++) {
			if (r[i] != NULL)
				freeReplyObject(r[i]);
			r[i] = NULL;
		}
		conn_drop(c);
		/* A timeout is not worth a second wait; a closed link is. */
		if (!reused || timed_out)
			break;
	}
	c->retry_at = mono_ms() + REDISSTORE_BACKOFF_MS;
	return -1;
}

/* ---- keys ------------------------------------------------------------------ */

static int
sha256_hex(const void *p, size_t n, char hex[2 * SHA256_DIGEST_LENGTH + 1])
{
	static const char x[] = "0123456789abcdef";
	unsigned char d[SHA256_DIGEST_LENGTH];
	size_t i;

	if (EVP_Digest(p, n, d, NULL, EVP_sha256(), NULL) != 1)
		return -1;
	for (i = 0; i < sizeof(d); i++) {
		hex[2 * i] = x[d[i] >> 4];
		hex[2 * i + 1] = x[d[i] & 15];
	}
	hex[2 * sizeof(d)] = '\0';
	return 0;
}

static int64_t
minute_of(int64_t now)
{
	return now >= 0 ? now / RATELIMIT_WINDOW :
	    -((-now + RATELIMIT_WINDOW - 1) / RATELIMIT_WINDOW);
}

/* PREFIX fail:user|addr:HEX:MINUTE. -1 for a key ratelimit.c ignores. */
static int
limit_key(const struct redisstore_settings *s, enum ratelimit_kind kind,
    const char *key, int64_t now, char out[KEY_MAX])
{
	char hex[2 * SHA256_DIGEST_LENGTH + 1];
	size_t n;

	if (key == NULL || key[0] == '\0' ||
	    (n = strnlen(key, RATELIMIT_KEY_MAX)) >= RATELIMIT_KEY_MAX ||
	    sha256_hex(key, n, hex) == -1)
		return -1;
	snprintf(out, KEY_MAX, "%sfail:%s:%s:%lld", s->prefix,
	    kind == RATELIMIT_USER ? "user" : "addr", hex,
	    (long long)minute_of(now));
	return 0;
}

static void
log_error(const char *msg)
{
	struct buf line;

	buf_init(&line);
	buf_adds(&line, "{\"level\":\"error\",\"msg\":");
	buf_json_string(&line, msg);
	buf_adds(&line, "}\n");
	if (buf_str(&line) != NULL)
		fwrite(line.p, 1, line.len, stderr);
	buf_release(&line);
}

/* Log `what` unless this was done already in the period of `stamp`. */
static void
log_once(int64_t *last, int64_t stamp, const char *func, const char *what,
    const struct err *e)
{
	char msg[sizeof(e->msg) + 200];

	if (__atomic_exchange_n(last, stamp, __ATOMIC_RELAXED) == stamp)
		return;
	snprintf(msg, sizeof(msg), "%s: %s: %s", func, e->msg, what);
	log_error(msg);
}

/* ---- the replay cache -------------------------------------------------------- */

static int64_t replay_logged = -1;	/* second of the last "refused" line */

int
redisstore_replay_record(const struct redisstore_settings *s,
    const char *sub, const char *jti, int64_t exp, int64_t now,
    struct err *e)
{
	char buf[SUB_JTI_MAX], hex[2 * SHA256_DIGEST_LENGTH + 1];
	char key[KEY_MAX], at[24];
	struct cmd cmd = { 0 };
	redisReply *r = NULL;
	struct err te;
	size_t sl = strlen(sub), jl = strlen(jti);

	if (sl + 1 + jl > sizeof(buf)) {
		err_set(e, "assertion: sub or jti too long");
		return -1;
	}
	memcpy(buf, sub, sl + 1);
	memcpy(buf + sl + 1, jti, jl);
	if (sha256_hex(buf, sl + 1 + jl, hex) == -1) {
		err_set(e, "assertion: SHA-256 failed");
		return -1;
	}
	snprintf(key, sizeof(key), "%sjti:%s", s->prefix, hex);
	/* Kept past exp: a replica whose clock lags still sees it. */
	snprintf(at, sizeof(at), "%lld", (long long)(exp + REDISSTORE_SKEW));
	cmd_arg(&cmd, "SET");
	cmd_arg(&cmd, key);
	cmd_arg(&cmd, "1");
	cmd_arg(&cmd, "NX");
	cmd_arg(&cmd, "EXAT");
	cmd_arg(&cmd, at);
	if (run(s, &cmd, 1, &r, e) == -1)
		goto closed;
	if (r->type == REDIS_REPLY_STATUS && strcmp(r->str, "OK") == 0) {
		freeReplyObject(r);
		return 0;
	}
	if (r->type == REDIS_REPLY_NIL) {
		freeReplyObject(r);
		err_set(e, "assertion: jti already used (replay)");
		return -1;
	}
	err_set(e, "redis %.80s: SET: %.100s", s->address,
	    r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
	freeReplyObject(r);
closed:
	log_once(&replay_logged, now, __func__, "service-account assertion "
	    "refused: the shared replay cache is unavailable (fail closed: "
	    "accepting could allow a replay)", e);
	te = *e;
	err_set(e, "assertion: replay cache unavailable, refused (fail "
	    "closed): %.140s", te.msg);
	return -2;
}

/* ---- failed-login counters ------------------------------------------------------ */

static int64_t limit_logged = -1;	/* minute of the last "fail open" line */

static void
limit_fail_open(int64_t now, const char *func, const struct err *e)
{
	log_once(&limit_logged, minute_of(now), func, "failed-login limits "
	    "counted by this replica only until Redis answers (fail open)", e);
}

/* The value of a GET reply: a count, 0 when the key is absent. */
static int
count_of(const redisReply *r, int64_t *count)
{
	if (r->type == REDIS_REPLY_NIL) {
		*count = 0;
		return 0;
	}
	if (r->type == REDIS_REPLY_INTEGER) {
		*count = r->integer;
		return 0;
	}
	if (r->type == REDIS_REPLY_STRING &&
	    util_parse_i64(r->str, 0, INT64_MAX, count) == 0)
		return 0;
	return -1;
}

int
redisstore_limit_count(const struct redisstore_settings *s,
    enum ratelimit_kind kind, const char *key, int64_t now, int64_t *count,
    struct err *e)
{
	char k[KEY_MAX];
	struct cmd cmd = { 0 };
	redisReply *r = NULL;
	int rc;

	if (limit_key(s, kind, key, now, k) == -1) {
		*count = 0;
		return 0;
	}
	cmd_arg(&cmd, "GET");
	cmd_arg(&cmd, k);
	if (run(s, &cmd, 1, &r, e) == -1)
		return -1;
	if ((rc = count_of(r, count)) == -1)
		err_set(e, "redis %.80s: GET: %.100s", s->address,
		    r->type == REDIS_REPLY_ERROR ? r->str : "not a count");
	freeReplyObject(r);
	return rc;
}

int64_t
redisstore_limit_locked(const struct redisstore_settings *s,
    struct ratelimit *rl, enum ratelimit_kind kind, const char *key,
    int64_t limit, int64_t now)
{
	struct err e;
	int64_t left, n;

	left = ratelimit_locked(rl, kind, key, limit, now);
	if (left > 0 || s == NULL || limit <= 0)
		return left;
	if (redisstore_limit_count(s, kind, key, now, &n, &e) == -1) {
		limit_fail_open(now, __func__, &e);
		return 0;
	}
	return n >= limit ? ratelimit_retry_after(now) : 0;
}

int64_t
redisstore_limit_fail(const struct redisstore_settings *s,
    struct ratelimit *rl, enum ratelimit_kind kind, const char *key,
    int64_t limit, int64_t now)
{
	char k[KEY_MAX], at[24];
	struct cmd cmd[2] = { { 0 }, { 0 } };
	redisReply *r[2] = { NULL, NULL };
	struct err e;
	int64_t left, n = 0;
	int bad;

	left = ratelimit_fail(rl, kind, key, limit, now);
	if (s == NULL || limit <= 0 || limit_key(s, kind, key, now, k) == -1)
		return left;
	snprintf(at, sizeof(at), "%lld",
	    (long long)((minute_of(now) + 1) * RATELIMIT_WINDOW));
	cmd_arg(&cmd[0], "INCR");
	cmd_arg(&cmd[0], k);
	cmd_arg(&cmd[1], "EXPIREAT");
	cmd_arg(&cmd[1], k);
	cmd_arg(&cmd[1], at);
	if (run(s, cmd, 2, r, &e) == -1) {
		limit_fail_open(now, __func__, &e);
		return left;
	}
	bad = count_of(r[0], &n) == -1 || r[1]->type == REDIS_REPLY_ERROR;
	if (bad)
		err_set(&e, "redis %.80s: INCR/EXPIREAT: %.100s", s->address,
		    r[0]->type == REDIS_REPLY_ERROR ? r[0]->str :
		    r[1]->type == REDIS_REPLY_ERROR ? r[1]->str : "not a count");
	freeReplyObject(r[0]);
	freeReplyObject(r[1]);
	if (bad) {
		limit_fail_open(now, __func__, &e);
		return left;
	}
	/* Redis decides when the lock starts: the count reached the limit. */
	return n == limit ? ratelimit_retry_after(now) : 0;
}
