/*
 * The audit log. A line is built in a struct buf with every outside string
 * escaped by buf_json_string, then written with one write(2) while holding
 * the lock that also guards the descriptor, so a SIGUSR1 reopen never cuts
 * a line and lines from the thread pool never interleave. The descriptor is
 * swapped only after the new file opened: a failed reopen loses nothing.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "audit.h"
#include "config.h"
#include "metrics.h"
#include "policy/policy.h"
#include "scope.h"
#include "token.h"

static struct {
	pthread_mutex_t	 lock;
	int		 fd;		/* -1: off */
	char		*path;		/* NULL: stderr or off */
	int64_t		 warned;	/* time of the last write-error line */
} au = { PTHREAD_MUTEX_INITIALIZER, -1, NULL, 0 };

static _Atomic int enabled;

/* ---- request ids ---------------------------------------------------------- */

static char id_prefix[13];
static pthread_once_t id_once = PTHREAD_ONCE_INIT;
static _Atomic uint64_t id_counter;

static void
hex(char *out, const unsigned char *p, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
}

static void
id_init(void)
{
	unsigned char r[6];
	uint64_t v;
	size_t i;

	if (RAND_bytes(r, sizeof(r)) != 1) {
		/* Uniqueness within the run still holds: the counter. */
		v = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
		for (i = 0; i < sizeof(r); i++)
			r[i] = (unsigned char)(v >> (8 * i));
	}
	hex(id_prefix, r, sizeof(r));
	id_prefix[12] = '\0';
}

void
audit_request_id(char out[AUDIT_ID_SIZE])
{
	unsigned char c[6];
	uint64_t n;
	size_t i;

	pthread_once(&id_once, id_init);
	n = atomic_fetch_add_explicit(&id_counter, 1, memory_order_relaxed) + 1;
	for (i = 0; i < sizeof(c); i++)
		c[i] = (unsigned char)(n >> (8 * (sizeof(c) - 1 - i)));
	memcpy(out, id_prefix, 12);
	hex(out + 12, c, sizeof(c));
	out[24] = '\0';
}

/* ---- the destination -------------------------------------------------------- */

static int
open_file(const char *path, struct err *e)
{
	int fd;

	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY,
	    0600);
	if (fd == -1)
		err_set(e, "audit_log %.150s: %s", path, strerror(errno));
	return fd;
}

int
audit_open(const char *path, struct err *e)
{
	char *copy = NULL;
	int fd = -1, old;

	pthread_mutex_lock(&au.lock);
	if (path == NULL ? au.fd == -1 : strcmp(path, "-") == 0 ?
	    (au.fd == STDERR_FILENO && au.path == NULL) :
	    (au.path != NULL && strcmp(au.path, path) == 0)) {
		pthread_mutex_unlock(&au.lock);
		return 0;
	}
	pthread_mutex_unlock(&au.lock);
	if (path != NULL && strcmp(path, "-") != 0) {
		if ((copy = strdup(path)) == NULL) {
			err_set(e, "audit_log: out of memory");
			return -1;
		}
		if ((fd = open_file(path, e)) == -1) {
			free(copy);
			return -1;
		}
	} else if (path != NULL)
		fd = STDERR_FILENO;
	pthread_mutex_lock(&au.lock);
	old = au.path != NULL ? au.fd : -1;
	free(au.path);
	au.path = copy;
	au.fd = fd;
	atomic_store(&enabled, fd != -1);
	pthread_mutex_unlock(&au.lock);
	if (old != -1)
		close(old);
	return 0;
}

int
audit_reopen(struct err *e)
{
	char *path = NULL;
	int fd, old = -1;

	pthread_mutex_lock(&au.lock);
	if (au.path != NULL && (path = strdup(au.path)) == NULL) {
		pthread_mutex_unlock(&au.lock);
		err_set(e, "audit_log: out of memory");
		return -1;
	}
	pthread_mutex_unlock(&au.lock);
	if (path == NULL)
		return 0;
	if ((fd = open_file(path, e)) == -1) {
		free(path);
		return -1;
	}
	pthread_mutex_lock(&au.lock);
	/* Still the same file setting (no reload in between)? */
	if (au.path != NULL && strcmp(au.path, path) == 0) {
		old = au.fd;
		au.fd = fd;
		fd = -1;
	}
	pthread_mutex_unlock(&au.lock);
	if (old != -1)
		close(old);
	if (fd != -1)
		close(fd);
	free(path);
	return 0;
}

void
audit_close(void)
{
	struct err e;

	audit_open(NULL, &e);
}

int
audit_enabled(void)
{
	return atomic_load_explicit(&enabled, memory_order_relaxed);
}

static void
write_line(const char *p, size_t len)
{
	ssize_t w;
	int failed = 0, warn = 0;
	int64_t now;

	pthread_mutex_lock(&au.lock);
	while (len > 0 && au.fd != -1) {
		if ((w = write(au.fd, p, len)) < 0) {
			if (errno == EINTR)
				continue;
			failed = errno;
			break;
		}
		p += w;
		len -= (size_t)w;
	}
	if (failed && au.fd != STDERR_FILENO &&
	    au.warned != (now = util_now())) {
		au.warned = now;
		warn = 1;
	}
	pthread_mutex_unlock(&au.lock);
	if (!failed)
		return;
	metrics_audit_error();
	/* Once a second at most, to the log beside it. */
	if (warn)
		fprintf(stderr, "{\"level\":\"error\",\"msg\":\"%s: audit_log: "
		    "%s\"}\n", __func__, strerror(failed));
}

/* ---- the line -------------------------------------------------------------- */

static void
rfc3339_ms(const struct timespec *ts, char out[40])
{
	struct tm tm;
	time_t t = ts->tv_sec;
	char s[24];

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%S", &tm) == 0)
		snprintf(s, sizeof(s), "1970-01-01T00:00:00");
	snprintf(out, 40, "%s.%03dZ", s, (int)(ts->tv_nsec / 1000000 % 1000));
}

static void
str_or_null(struct buf *b, const char *s)
{
	if (s == NULL || s[0] == '\0')
		buf_adds(b, "null");
	else
		buf_json_string(b, s);
}

/* "TYPE:NAME:" of a scope, without printf: this runs per decision. */
static void
scope_prefix(struct buf *t, const struct scope *sc)
{
	buf_adds(t, sc->type);
	buf_add(t, ":", 1);
	buf_adds(t, sc->name);
	buf_add(t, ":", 1);
}

/* "type:name:a,b" of a parsed scope. */
static void
scope_text(struct buf *b, const struct scope *sc)
{
	struct buf t;
	size_t i;

	buf_init(&t);
	scope_prefix(&t, sc);
	for (i = 0; i < sc->nactions; i++) {
		if (i > 0)
			buf_add(&t, ",", 1);
		buf_adds(&t, sc->actions[i]);
	}
	if (buf_str(&t) != NULL)
		buf_json_string(b, t.p);
	else
		b->failed = 1;
	buf_release(&t);
}

static void
scopes_asked(struct buf *b, const struct audit_event *ev)
{
	char cut[AUDIT_RAW_SCOPE_MAX + 1];
	size_t i;

	buf_adds(b, ",\"scopes_asked\":[");
	if (ev->scopes != NULL)
		for (i = 0; i < ev->scopes->n; i++) {
			if (i > 0)
				buf_add(b, ",", 1);
			scope_text(b, &ev->scopes->v[i]);
		}
	else
		for (i = 0; i < ev->nraw && i < AUDIT_RAW_SCOPES; i++) {
			if (i > 0)
				buf_add(b, ",", 1);
			snprintf(cut, sizeof(cut), "%s", ev->raw_scopes[i]);
			buf_json_string(b, cut);
		}
	buf_add(b, "]", 1);
	if (ev->scopes == NULL && (ev->raw_more || ev->nraw > AUDIT_RAW_SCOPES))
		buf_adds(b, ",\"scopes_asked_truncated\":true");
}

/* The granted actions of each scope, from the recorded decisions. */
static void
scopes_granted(struct buf *b, const struct audit_event *ev)
{
	const struct token_audit *d = ev->decided;
	size_t i, k, first = 1, n;

	buf_adds(b, ",\"scopes_granted\":[");
	for (i = 0; ev->status == 200 && d != NULL && ev->scopes != NULL &&
	    i < ev->scopes->n; i++) {
		const struct scope *sc = &ev->scopes->v[i];
		struct buf t;

		buf_init(&t);
		scope_prefix(&t, sc);
		for (k = 0, n = 0; k < d->n; k++)
			if (d->v[k].scope == i &&
			    d->v[k].why.result.decision == POLICY_ALLOW) {
				if (n++ > 0)
					buf_add(&t, ",", 1);
				buf_adds(&t, d->v[k].action);
			}
		if (n > 0 && buf_str(&t) != NULL) {
			if (!first)
				buf_add(b, ",", 1);
			buf_json_string(b, t.p);
			first = 0;
		}
		buf_release(&t);
	}
	buf_add(b, "]", 1);
}

/* The deciding statements of one decision, each once, as cmd_simulate names them. */
static void
statements(struct buf *b, const struct config *cfg, const struct token_why *why)
{
	size_t i, k, n = 0;

	buf_adds(b, "[");
	for (i = 0; i < why->result.nmatches && i < POLICY_MAX_MATCHES; i++) {
		const struct policy_match *m = &why->result.matches[i];
		char file[CONFIG_NAME_MAX + 32];
		int dup = 0;

		for (k = 0; k < i; k++)
			dup |= why->policies[k] == why->policies[i] &&
			    why->result.matches[k].stmt == m->stmt;
		if (dup)
			continue;
		if (n++ > 0)
			buf_add(b, ",", 1);
		buf_adds(b, "{\"file\":");
		if (why->policies[i] != NULL && config_policy_file(cfg,
		    why->policies[i], file, sizeof(file)) != NULL)
			buf_json_string(b, file);
		else
			buf_adds(b, "null");
		buf_adds(b, ",\"kind\":\"");
		buf_adds(b, policy_kind_name(why->kinds[i]));
		buf_adds(b, "\",\"sid\":");
		str_or_null(b, m->sid);
		buf_printf(b, ",\"statement\":%d}", m->stmt);
	}
	buf_adds(b, "]");
}

static void
decisions(struct buf *b, const struct audit_event *ev)
{
	const struct token_audit *d = ev->decided;
	size_t k, n = 0;

	buf_adds(b, ",\"decisions\":[");
	for (k = 0; d != NULL && ev->scopes != NULL && k < d->n; k++) {
		const struct token_audit_entry *en = &d->v[k];
		const struct scope *sc;
		struct buf t;

		if (en->scope >= ev->scopes->n)
			continue;
		sc = &ev->scopes->v[en->scope];
		if (n++ > 0)
			buf_add(b, ",", 1);
		buf_init(&t);
		scope_prefix(&t, sc);
		buf_adds(&t, en->action);
		buf_adds(b, "{\"scope\":");
		if (buf_str(&t) != NULL)
			buf_json_string(b, t.p);
		else
			buf_adds(b, "null");
		buf_release(&t);
		if (en->part)
			buf_adds(b, ",\"part_of\":\"*\"");
		buf_adds(b, ",\"decision\":");
		buf_json_string(b, policy_decision_name(en->why.result.decision));
		buf_adds(b, ",\"statements\":");
		statements(b, ev->cfg, &en->why);
		buf_add(b, "}", 1);
	}
	buf_add(b, "]", 1);
	if (d != NULL && d->nomem)
		buf_adds(b, ",\"decisions_incomplete\":true");
}

static const char *
result_of(const struct audit_event *ev)
{
	const struct token_audit *d = ev->decided;
	size_t k;

	if (ev->status != 200)
		return "refused";
	if (strcmp(ev->event, "token") != 0 || d == NULL || d->denied == 0)
		return "granted";
	for (k = 0; k < d->n; k++)
		if (d->v[k].why.result.decision == POLICY_ALLOW)
			return "partial";
	return "denied";
}

void
audit_format(struct buf *b, const struct audit_event *ev,
    const struct timespec *now)
{
	char t[40];
	int token = strcmp(ev->event, "token") == 0;

	rfc3339_ms(now, t);
	buf_printf(b, "{\"time\":\"%s\",\"event\":", t);
	buf_json_string(b, ev->event);
	buf_adds(b, ",\"request_id\":");
	str_or_null(b, ev->request_id);
	buf_adds(b, ",\"client\":");
	str_or_null(b, ev->client);
	buf_adds(b, ",\"principal\":");
	str_or_null(b, ev->principal);
	buf_adds(b, ",\"auth_method\":");
	buf_json_string(b, ev->auth_method != NULL && ev->auth_method[0] ?
	    ev->auth_method : "anonymous");
	if (token) {
		buf_adds(b, ",\"service\":");
		str_or_null(b, ev->service);
		scopes_asked(b, ev);
		scopes_granted(b, ev);
		decisions(b, ev);
	}
	buf_printf(b, ",\"result\":\"%s\",\"status\":%d", result_of(ev),
	    ev->status);
	if (ev->error != NULL) {
		buf_adds(b, ",\"error\":");
		buf_json_string(b, ev->error);
	}
	buf_adds(b, "}\n");
}

void
audit_emit(const struct audit_event *ev)
{
	struct timespec now;
	struct buf line;

	if (!audit_enabled())
		return;
	clock_gettime(CLOCK_REALTIME, &now);
	buf_init(&line);
	audit_format(&line, ev, &now);
	if (buf_str(&line) != NULL)
		write_line(line.p, line.len);
	else
		metrics_audit_error();
	buf_release(&line);
}
