/*
 * The HTTP face of regauthd. Everything a client sends is bounded here:
 * URL and headers by libmicrohttpd's connection memory limit (it answers
 * 414/431 itself), bodies by HTTP_MAX_BODY (413), scopes by max_scopes
 * (400). Replies are JSON and go out in one write (libmicrohttpd sends
 * header and body together).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>
#include <openssl/crypto.h>

#include "regauth/wire.h"
#include "audit.h"
#include "authn.h"
#include "buf.h"
#include "config.h"
#include "http.h"
#include "login.h"
#include "metrics.h"
#include "netaddr.h"
#include "ratelimit.h"
#include "redisstore.h"
#include "scope.h"
#include "tls.h"
#include "token.h"

#define MAX_FORM_FIELDS	256

struct form_field {
	char	*key;
	char	*value;
};

struct form {
	struct form_field	v[MAX_FORM_FIELDS];
	size_t			n;
};

/* Per-request state (MHD's con_cls). */
struct request {
	struct timespec	 start;
	char		*body;
	size_t		 len;
	int		 too_big;
	int		 status;
	char		 principal[160];	/* authn_subject: up to assumed-role/R/S */
	char		 client[INET6_ADDRSTRLEN];	/* "-": unknown */
	char		 peer[INET6_ADDRSTRLEN];	/* the TCP peer */
	char		 method[12];
	char		 path[128];
	char		 id[AUDIT_ID_SIZE];	/* X-Request-Id, in both logs */
	char		 authn[12];	/* credential shown: password, token, key, oidc */
	const char	*error;		/* the refusal's code (static) */
	int		 audited;	/* the audit line is written */
};

static struct MHD_Daemon *daemon_;
static int serving_tls;		/* every connection is HTTPS */
static int listen_fd = -1;	/* bound by http_bind */
static struct ratelimit *limits;	/* failed logins; outlives reloads */

/* ---- replies ---------------------------------------------------------- */

static enum MHD_Result
reply(struct MHD_Connection *con, struct request *rq, unsigned int status,
    const char *ctype, const char *body, size_t len, const char *challenge)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(len, (void *)body,
	    MHD_RESPMEM_MUST_COPY);
	if (r == NULL)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	MHD_add_response_header(r, "X-Request-Id", rq->id);
	if (challenge != NULL)
		MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
		    challenge);
	rq->status = (int)status;
	ret = MHD_queue_response(con, status, r);
	MHD_destroy_response(r);
	return ret;
}

/* Send `j` (stolen) as JSON. Token bodies are wiped after the copy. */
static enum MHD_Result
reply_json(struct MHD_Connection *con, struct request *rq,
    unsigned int status, json_t *j, const char *challenge)
{
	enum MHD_Result ret;
	char *s;

	s = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	if (s == NULL)
		return MHD_NO;
	ret = reply(con, rq, status, "application/json", s, strlen(s),
	    challenge);
	util_secure_free_str(s);
	return ret;
}

static enum MHD_Result
reply_error(struct MHD_Connection *con, struct request *rq,
    unsigned int status, const char *code, const char *message)
{
	char challenge[300];
	struct config *cfg;
	const char *ch = NULL;

	rq->error = code;
	if (status == MHD_HTTP_UNAUTHORIZED) {
		cfg = config_acquire();
		snprintf(challenge, sizeof(challenge), "Basic realm=\"%s\"",
		    cfg ? cfg->issuer : "regauth");
		config_release(cfg);
		ch = challenge;
	}
	return reply_json(con, rq, status, json_pack("{s:[{s:s, s:s}]}",
	    "errors", "code", code, "message", message), ch);
}

/* 429 with Retry-After: too many failed logins (ratelimit.c). */
static enum MHD_Result
reply_locked(struct MHD_Connection *con, struct request *rq, int64_t retry)
{
	static const char body[] = "{\"errors\":[{\"code\":"
	    "\"TOO_MANY_REQUESTS\",\"message\":\"too many failed logins; "
	    "try again later\"}]}";
	struct MHD_Response *r;
	enum MHD_Result ret;
	char ra[24];

	r = MHD_create_response_from_buffer(sizeof(body) - 1, (void *)body,
	    MHD_RESPMEM_PERSISTENT);
	if (r == NULL)
		return MHD_NO;
	snprintf(ra, sizeof(ra), "%lld", (long long)retry);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
	    "application/json");
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, ra);
	MHD_add_response_header(r, "X-Request-Id", rq->id);
	rq->error = "TOO_MANY_REQUESTS";
	rq->status = MHD_HTTP_TOO_MANY_REQUESTS;
	ret = MHD_queue_response(con, MHD_HTTP_TOO_MANY_REQUESTS, r);
	MHD_destroy_response(r);
	return ret;
}

/* ---- failed-login limits ---------------------------------------------- */

/*
 * Seconds until the client's address, or user name `user` (may be NULL),
 * may try a password again; 0 when neither is locked. Only names that could
 * name a user have a counter.
 */
static int64_t
guard_locked(const struct config *cfg, const struct request *rq,
    const char *user)
{
	int64_t now = util_now(), a, u = 0;

	a = redisstore_limit_locked(cfg->redis, limits, RATELIMIT_ADDRESS,
	    rq->client, cfg->max_failed_address, now);
	if (user != NULL && config_valid_name(user))
		u = redisstore_limit_locked(cfg->redis, limits,
		    RATELIMIT_USER, user, cfg->max_failed_user, now);
	return a > u ? a : u;
}

static void
log_lock(const char *kind, const char *key, const struct request *rq,
    int64_t seconds)
{
	struct buf line;

	buf_init(&line);
	buf_printf(&line, "{\"level\":\"warning\",\"msg\":\"too many failed "
	    "logins: %s locked\",\"%s\":", kind, kind);
	buf_json_string(&line, key);
	buf_printf(&line, ",\"client\":\"%s\",\"seconds\":%lld}\n",
	    rq->client, (long long)seconds);
	if (buf_str(&line) != NULL)
		fwrite(line.p, 1, line.len, stderr);
	buf_release(&line);
}

/*
 * Count a failed login from the client's address and, when a password was
 * checked for it, for user name `user` (NULL: none); log a lock that starts.
 */
static void
guard_failed(const struct config *cfg, const struct request *rq,
    const char *user)
{
	int64_t now = util_now(), left;

	left = redisstore_limit_fail(cfg->redis, limits, RATELIMIT_ADDRESS,
	    rq->client, cfg->max_failed_address, now);
	if (left > 0)
		log_lock("address", rq->client, rq, left);
	if (user != NULL && config_valid_name(user) &&
	    (left = redisstore_limit_fail(cfg->redis, limits, RATELIMIT_USER,
	    user, cfg->max_failed_user, now)) > 0)
		log_lock("user", user, rq, left);
}

/* ---- forms and arguments --------------------------------------------- */

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decode s[0..n) with '+' as space; NULL on a bad escape or NUL. */
static char *
urldecode(const char *s, size_t n)
{
	char *out = malloc(n + 1), *o = out;
	size_t i;

	if (out == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		if (s[i] == '+')
			*o++ = ' ';
		else if (s[i] == '%') {
			int h, l;
			if (i + 2 >= n)
				goto bad;
			h = hexval(s[i + 1]);
			l = hexval(s[i + 2]);
			if (h < 0 || l < 0 || (h == 0 && l == 0))
				goto bad;
			*o++ = (char)(h * 16 + l);
			i += 2;
		} else
			*o++ = s[i];
	}
	*o = '\0';
	return out;
bad:
	free(out);
	return NULL;
}

static void
form_clear(struct form *f)
{
	size_t i;

	for (i = 0; i < f->n; i++) {
		free(f->v[i].key);
		util_secure_free_str(f->v[i].value);
	}
	f->n = 0;
}

/* application/x-www-form-urlencoded; repeated fields kept in order. */
static int
form_parse(struct form *f, const char *body, size_t len)
{
	const char *p = body, *end = body + len;

	f->n = 0;
	while (p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *fe = amp ? amp : end, *eq;

		if (fe > p) {
			if (f->n == MAX_FORM_FIELDS)
				return -1;
			eq = memchr(p, '=', (size_t)(fe - p));
			f->v[f->n].key = urldecode(p, (size_t)((eq ? eq : fe) - p));
			f->v[f->n].value = eq ? urldecode(eq + 1,
			    (size_t)(fe - eq - 1)) : strdup("");
			f->n++;
			if (f->v[f->n - 1].key == NULL ||
			    f->v[f->n - 1].value == NULL)
				return -1;
		}
		p = fe + 1;
	}
	return 0;
}

/* The first value of `key`, or NULL. */
static const char *
form_get(const struct form *f, const char *key)
{
	size_t i;

	for (i = 0; i < f->n; i++)
		if (strcmp(f->v[i].key, key) == 0)
			return f->v[i].value;
	return NULL;
}

/* GET arguments as a form (MHD has already percent-decoded them). */
static enum MHD_Result
collect_arg(void *cls, enum MHD_ValueKind kind, const char *key,
    const char *value)
{
	struct form *f = cls;

	(void)kind;
	if (f->n == MAX_FORM_FIELDS) {
		f->n = MAX_FORM_FIELDS + 1;	/* overflow marker */
		return MHD_NO;
	}
	f->v[f->n].key = strdup(key);
	f->v[f->n].value = strdup(value ? value : "");
	if (f->v[f->n].key == NULL || f->v[f->n].value == NULL) {
		free(f->v[f->n].key);
		free(f->v[f->n].value);
		return MHD_NO;
	}
	f->n++;
	return MHD_YES;
}

static int
is_true(const char *v)
{
	return v != NULL && (strcmp(v, "true") == 0 || strcmp(v, "1") == 0);
}

/* ---- handlers --------------------------------------------------------- */

/*
 * Authenticate from the Authorization header, or from username/password
 * form fields. No credentials at all is anonymous (0 with no principal).
 * A valid login token is accepted before any failed-login limit is looked
 * at; a password is checked only while neither the address nor the user
 * name is locked. -1: bad credentials (the caller answers 401); -2: locked,
 * *retry the seconds left (the caller answers 429).
 */
static int
authenticate(struct config *cfg, struct MHD_Connection *con,
    const char *user, const char *pass, struct identity *id,
    struct request *rq, int64_t *retry)
{
	const char *h;
	char *u = NULL, *p = NULL;
	struct err e, te;
	int rc = -1, jwt;

	memset(id, 0, sizeof(*id));
	e.msg[0] = '\0';
	te.msg[0] = '\0';
	h = MHD_lookup_connection_value(con, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_AUTHORIZATION);
	if (h != NULL) {
		if (authn_parse_basic(h, &u, &p) == -1) {
			if ((*retry = guard_locked(cfg, rq, NULL)) > 0) {
				rc = -2;
				goto out;
			}
			err_set(&e, "malformed Authorization header");
			guard_failed(cfg, rq, NULL);
			goto out;
		}
		user = u;
		pass = p;
	}
	if (pass == NULL) {
		rc = 0;		/* anonymous */
		goto out;
	}
	if (user == NULL)
		user = "";
	/* A password that merely looks like a token still gets its check. */
	jwt = authn_looks_like_jwt(pass);
	snprintf(rq->authn, sizeof(rq->authn), "token");
	if (jwt && authn_login_token(cfg, pass, id, &te) == 0)
		goto ok;
	snprintf(rq->authn, sizeof(rq->authn), "password");
	if ((*retry = guard_locked(cfg, rq, user)) > 0) {
		rc = -2;
		goto out;
	}
	authn_identity_clear(id);
	if (authn_password(cfg, user, pass, id, &e) == -1) {
		if (jwt)
			e = te;
		guard_failed(cfg, rq, user);
		goto out;
	}
ok:
	snprintf(rq->principal, sizeof(rq->principal), "%s",
	    authn_subject(id));
	rc = 0;
out:
	if (rc == -1)
		fprintf(stderr, "{\"level\":\"info\",\"msg\":\"%s: %s\","
		    "\"client\":\"%s\"}\n", __func__, e.msg, rq->client);
	free(u);
	util_secure_free_str(p);
	return rc;
}

/*
 * The audit line of a /token request or a /v1/login outcome, once: the
 * scopes as parsed (NULL: not parsed, the raw values then) and what
 * token_issue decided (`ta`, may be NULL). Names only, never a secret.
 */
static void
audit_request(struct request *rq, const struct config *cfg,
    const struct form *f, const struct scope_list *scopes,
    const struct token_audit *ta)
{
	struct audit_event ev;
	size_t i;

	if (rq->audited || !audit_enabled())
		return;
	rq->audited = 1;
	memset(&ev, 0, sizeof(ev));
	ev.event = strcmp(rq->path, REGAUTH_PATH_TOKEN) == 0 ? "token" : "login";
	ev.request_id = rq->id;
	ev.client = rq->client;
	ev.principal = rq->principal;
	ev.auth_method = rq->authn;
	ev.status = rq->status;
	ev.error = rq->error;
	ev.cfg = cfg;
	ev.scopes = scopes;
	ev.decided = ta;
	ev.service = ta != NULL && ta->service != NULL ? ta->service :
	    f != NULL ? form_get(f, "service") : NULL;
	for (i = 0; scopes == NULL && f != NULL && i < f->n; i++)
		if (strcmp(f->v[i].key, "scope") != 0)
			continue;
		else if (ev.nraw < AUDIT_RAW_SCOPES)
			ev.raw_scopes[ev.nraw++] = f->v[i].value;
		else
			ev.raw_more = 1;
	audit_emit(&ev);
}

static enum MHD_Result
issue(struct MHD_Connection *con, struct request *rq, struct config *cfg,
    const struct form *f, int oauth)
{
	struct token_request tr;
	struct token_audit ta;
	struct scope_list scopes;
	struct identity id;
	struct err e;
	struct buf resp;
	const char *grant = NULL, *refresh = NULL;
	enum MHD_Result ret;
	int64_t retry = 0;
	size_t i;
	int status, rc, parsed = 0;

	memset(&tr, 0, sizeof(tr));
	memset(&ta, 0, sizeof(ta));
	memset(&id, 0, sizeof(id));
	e.msg[0] = '\0';
	buf_init(&resp);
	scope_list_init(&scopes, (size_t)cfg->max_scopes);
	for (i = 0; i < f->n; i++)
		if (strcmp(f->v[i].key, "scope") == 0 &&
		    scope_parse(&scopes, f->v[i].value, &e) == -1) {
			ret = reply_error(con, rq, MHD_HTTP_BAD_REQUEST,
			    "INVALID_SCOPE", e.msg);
			goto out;
		}
	parsed = 1;
	if (oauth) {
		grant = form_get(f, "grant_type");
		if (grant == NULL) {
			ret = reply_error(con, rq, MHD_HTTP_BAD_REQUEST,
			    "INVALID_REQUEST", "grant_type required");
			goto out;
		}
		if (strcmp(grant, REGAUTH_GRANT_REFRESH) == 0) {
			snprintf(rq->authn, sizeof(rq->authn), "token");
			refresh = form_get(f, "refresh_token");
			if (refresh == NULL || authn_login_token(cfg, refresh,
			    &id, &e) == -1) {
				if ((retry = guard_locked(cfg, rq, NULL)) > 0) {
					ret = reply_locked(con, rq, retry);
					goto out;
				}
				guard_failed(cfg, rq, NULL);
				fprintf(stderr, "{\"level\":\"info\",\"msg\":"
				    "\"refresh_token: %s\",\"client\":\"%s\"}\n",
				    refresh ? e.msg : "missing", rq->client);
				ret = reply_error(con, rq,
				    MHD_HTTP_UNAUTHORIZED, "UNAUTHORIZED",
				    "invalid refresh token");
				goto out;
			}
			snprintf(rq->principal, sizeof(rq->principal), "%s",
			    authn_subject(&id));
		} else if (strcmp(grant, REGAUTH_GRANT_PASSWORD) == 0) {
			if (form_get(f, "password") == NULL) {
				ret = reply_error(con, rq,
				    MHD_HTTP_BAD_REQUEST, "INVALID_REQUEST",
				    "password required");
				goto out;
			}
			rc = authenticate(cfg, con, form_get(f, "username"),
			    form_get(f, "password"), &id, rq, &retry);
			if (rc == -2) {
				ret = reply_locked(con, rq, retry);
				goto out;
			}
			if (rc == -1 || id.principal == NULL) {
				ret = reply_error(con, rq,
				    MHD_HTTP_UNAUTHORIZED, "UNAUTHORIZED",
				    "invalid username or password");
				goto out;
			}
		} else {
			ret = reply_error(con, rq, MHD_HTTP_BAD_REQUEST,
			    "UNSUPPORTED_GRANT_TYPE", "unsupported grant_type");
			goto out;
		}
	} else if ((rc = authenticate(cfg, con, NULL, NULL, &id, rq,
	    &retry)) == -2) {
		ret = reply_locked(con, rq, retry);
		goto out;
	} else if (rc == -1) {
		ret = reply_error(con, rq, MHD_HTTP_UNAUTHORIZED,
		    "UNAUTHORIZED", "invalid username or password");
		goto out;
	}
	tr.service = form_get(f, "service");
	tr.scopes = &scopes;
	tr.client_id = form_get(f, "client_id");
	tr.source_ip = strcmp(rq->client, "-") != 0 ? rq->client : NULL;
	tr.secure = serving_tls;
	tr.oauth = oauth;
	tr.refresh_token = refresh;
	ta.record = audit_enabled();
	tr.audit = &ta;
	tr.offline = oauth ? (form_get(f, "access_type") != NULL &&
	    strcmp(form_get(f, "access_type"), "offline") == 0) :
	    is_true(form_get(f, "offline_token"));
	if (token_issue(cfg, &id, &tr, &resp, &status, &e) == -1) {
		if (status == 400)
			ret = reply_error(con, rq, MHD_HTTP_BAD_REQUEST,
			    "INVALID_REQUEST", e.msg);
		else {
			fprintf(stderr, "{\"level\":\"error\",\"msg\":\"%s: "
			    "%s\"}\n", __func__, e.msg);
			ret = reply_error(con, rq,
			    MHD_HTTP_INTERNAL_SERVER_ERROR, "SERVER_ERROR",
			    "internal error");
		}
		goto out;
	}
	ret = reply(con, rq, MHD_HTTP_OK, "application/json", resp.p, resp.len,
	    NULL);
	metrics_token_issued(ta.denied);
out:
	audit_request(rq, cfg, f, parsed ? &scopes : NULL, &ta);
	token_audit_free(&ta);
	authn_identity_clear(&id);
	buf_release(&resp);
	scope_list_free(&scopes);
	return ret;
}

/* A refusal's reason to the log; it may quote a token's JSON: escaped. */
static void
log_refusal(const struct request *rq, const char *what, const char *msg)
{
	char text[sizeof(((struct err *)0)->msg) + 64];
	struct buf line;

	/* Reasons often name their stage already ("assertion: ..."). */
	if (strncmp(msg, what, strlen(what)) == 0 && msg[strlen(what)] == ':')
		snprintf(text, sizeof(text), "%s", msg);
	else
		snprintf(text, sizeof(text), "%s: %s", what, msg);
	buf_init(&line);
	buf_adds(&line, "{\"level\":\"info\",\"msg\":");
	buf_json_string(&line, text);
	buf_printf(&line, ",\"client\":\"%s\"}\n", rq->client);
	if (buf_str(&line) != NULL)
		fwrite(line.p, 1, line.len, stderr);
	buf_release(&line);
}

/* The token-exchange grant (login.c): an OIDC token for a role. */
static enum MHD_Result
login_oidc(struct MHD_Connection *con, struct request *rq, struct config *cfg,
    const struct form *f)
{
	struct login_exchange_req xr;
	struct identity id;
	struct err e;
	int64_t retry;
	int status;
	json_t *j;
	enum MHD_Result ret;

	e.msg[0] = '\0';
	snprintf(rq->authn, sizeof(rq->authn), "oidc");
	/* An OIDC token is no login token: a locked address is refused. */
	if ((retry = guard_locked(cfg, rq, NULL)) > 0)
		return reply_locked(con, rq, retry);
	memset(&xr, 0, sizeof(xr));
	xr.subject_token = form_get(f, "subject_token");
	xr.subject_token_type = form_get(f, "subject_token_type");
	xr.role = form_get(f, REGAUTH_FORM_ROLE);
	xr.session = form_get(f, REGAUTH_FORM_SESSION);
	xr.source_ip = strcmp(rq->client, "-") != 0 ? rq->client : NULL;
	if ((j = login_exchange(cfg, &xr, &id, &status, &e)) != NULL) {
		snprintf(rq->principal, sizeof(rq->principal), "%s",
		    authn_subject(&id));
		ret = reply_json(con, rq, MHD_HTTP_OK, j, NULL);
		authn_identity_clear(&id);
		return ret;
	}
	log_refusal(rq, "token exchange", e.msg);
	switch (status) {
	case 400:
		return reply_error(con, rq, MHD_HTTP_BAD_REQUEST,
		    "INVALID_REQUEST", e.msg);
	case 401:
		guard_failed(cfg, rq, NULL);
		return reply_error(con, rq, MHD_HTTP_UNAUTHORIZED,
		    "UNAUTHORIZED", "invalid subject token");
	case 403:
		guard_failed(cfg, rq, NULL);
		return reply_error(con, rq, MHD_HTTP_FORBIDDEN, "DENIED",
		    "not authorized to assume the role with this token");
	default:
		return reply_error(con, rq, MHD_HTTP_INTERNAL_SERVER_ERROR,
		    "SERVER_ERROR", "internal error");
	}
}

/*
 * POST /v1/login: a login token for a service-account assertion (login.c),
 * an OIDC token (token exchange), or a password (or a login token) with
 * grant_type=password.
 */
static enum MHD_Result
login(struct MHD_Connection *con, struct request *rq, struct config *cfg,
    const struct form *f)
{
	const char *grant = form_get(f, "grant_type");
	const struct principal *p = NULL;
	struct identity id;
	struct err e;
	char *tok;
	json_t *j;
	enum MHD_Result ret;
	int64_t retry = 0, ttl;
	int rc, status;

	e.msg[0] = '\0';
	if (grant != NULL && strcmp(grant, REGAUTH_GRANT_EXCHANGE) == 0)
		return login_oidc(con, rq, cfg, f);
	if (grant != NULL && strcmp(grant, REGAUTH_GRANT_JWT_BEARER) == 0) {
		snprintf(rq->authn, sizeof(rq->authn), "key");
		/* An assertion is no login token: a locked address is refused. */
		if ((retry = guard_locked(cfg, rq, NULL)) > 0)
			return reply_locked(con, rq, retry);
		if ((j = login_assertion(cfg, form_get(f, "assertion"), &p,
		    &status, &e)) == NULL) {
			log_refusal(rq, "assertion", e.msg);
			/* Not the client's fault: not a failed login. */
			if (status == 503)
				return reply_error(con, rq,
				    MHD_HTTP_SERVICE_UNAVAILABLE, "UNAVAILABLE",
				    "the replay cache is unavailable; try again "
				    "later");
			if (status == 500)
				return reply_error(con, rq,
				    MHD_HTTP_INTERNAL_SERVER_ERROR,
				    "SERVER_ERROR", "internal error");
			guard_failed(cfg, rq, NULL);
			return reply_error(con, rq, MHD_HTTP_UNAUTHORIZED,
			    "UNAUTHORIZED", "invalid assertion");
		}
		snprintf(rq->principal, sizeof(rq->principal), "%s",
		    p->short_name);
		return reply_json(con, rq, MHD_HTTP_OK, j, NULL);
	}
	if (grant == NULL || strcmp(grant, REGAUTH_GRANT_PASSWORD) != 0)
		return reply_error(con, rq, MHD_HTTP_BAD_REQUEST,
		    "UNSUPPORTED_GRANT_TYPE", "unsupported grant_type");
	rc = authenticate(cfg, con, form_get(f, "username"),
	    form_get(f, "password"), &id, rq, &retry);
	if (rc == -2)
		return reply_locked(con, rq, retry);
	if (rc == -1 || id.principal == NULL) {
		authn_identity_clear(&id);
		return reply_error(con, rq, MHD_HTTP_UNAUTHORIZED,
		    "UNAUTHORIZED", "invalid username or password");
	}
	tok = authn_issue_login_token_for(cfg, &id, cfg->login_token_ttl, &e);
	if (tok == NULL) {
		authn_identity_clear(&id);
		return reply_error(con, rq, MHD_HTTP_INTERNAL_SERVER_ERROR,
		    "SERVER_ERROR", "internal error");
	}
	/* A token made from a login token lives no longer than it. */
	ttl = cfg->login_token_ttl;
	if (id.not_after != 0 && id.not_after - util_now() < ttl)
		ttl = id.not_after - util_now();
	j = json_pack("{s:s, s:s, s:I, s:s}", "access_token", tok,
	    "token_type", "Bearer", "expires_in", (json_int_t)ttl,
	    "principal", authn_subject(&id));
	ret = reply_json(con, rq, MHD_HTTP_OK, j, NULL);
	util_secure_free_str(tok);
	authn_identity_clear(&id);
	return ret;
}

static enum MHD_Result
info(struct MHD_Connection *con, struct request *rq, struct config *cfg)
{
	json_t *svc = json_array();
	size_t i;

	for (i = 0; i < cfg->nservices; i++)
		json_array_append_new(svc, json_string(cfg->services[i]));
	return reply_json(con, rq, MHD_HTTP_OK, json_pack("{s:s, s:o, s:s, "
	    "s:s, s:s}", "issuer", cfg->issuer, "services", svc, "account",
	    cfg->account, "realm", cfg->realm, "version", REGAUTH_VERSION),
	    NULL);
}

/* Is the body a form? "application/x-www-form-urlencoded[; params]". */
static int
is_form(struct MHD_Connection *con)
{
	const char *ct = MHD_lookup_connection_value(con, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_CONTENT_TYPE);
	size_t n = strlen("application/x-www-form-urlencoded");

	return ct != NULL &&
	    strncasecmp(ct, "application/x-www-form-urlencoded", n) == 0 &&
	    (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

static enum MHD_Result
collect_xff(void *cls, enum MHD_ValueKind kind, const char *key,
    const char *value)
{
	struct buf *b = cls;

	(void)kind;
	if (strcasecmp(key, "X-Forwarded-For") != 0 || value == NULL)
		return MHD_YES;
	if (b->len > 0)
		buf_add(b, ",", 1);
	buf_adds(b, value);
	return MHD_YES;
}

/*
 * Behind a trusted proxy the client is read from X-Forwarded-For
 * (netaddr_client); an unusable header makes it unknown ("-"), never the
 * proxy's address.
 */
static void
forwarded_client(struct MHD_Connection *con, struct request *rq,
    const struct config *cfg)
{
	struct buf xff;
	const char *h = NULL;

	if (cfg->ntrusted_proxies == 0)
		return;
	buf_init(&xff);
	MHD_get_connection_values(con, MHD_HEADER_KIND, collect_xff, &xff);
	if ((xff.len > 0 || xff.failed) && (h = buf_str(&xff)) == NULL)
		snprintf(rq->client, sizeof(rq->client), "-");
	else if (netaddr_client(rq->peer, h, cfg->trusted_proxies,
	    cfg->ntrusted_proxies, rq->client, sizeof(rq->client)) == -1)
		snprintf(rq->client, sizeof(rq->client), "-");
	buf_release(&xff);
}

/* GET /metrics: Prometheus text format 0.0.4 (metrics.c). */
static enum MHD_Result
serve_metrics(struct MHD_Connection *con, struct request *rq,
    const struct config *cfg)
{
	struct buf text;
	enum MHD_Result ret;

	buf_init(&text);
	metrics_render(&text, cfg->keys);
	if (buf_str(&text) == NULL)
		ret = reply_error(con, rq, MHD_HTTP_INTERNAL_SERVER_ERROR,
		    "SERVER_ERROR", "internal error");
	else
		ret = reply(con, rq, MHD_HTTP_OK, "text/plain; version=0.0.4",
		    text.p, text.len, NULL);
	buf_release(&text);
	return ret;
}

/* Is this request a decision the audit log records? */
static int
audited_path(const struct request *rq)
{
	int post = strcmp(rq->method, "POST") == 0;

	if (strcmp(rq->path, REGAUTH_PATH_LOGIN) == 0)
		return post;
	return strcmp(rq->path, REGAUTH_PATH_TOKEN) == 0 && (post ||
	    strcmp(rq->method, "GET") == 0 || strcmp(rq->method, "HEAD") == 0);
}

static enum MHD_Result
route(struct MHD_Connection *con, struct request *rq, const char *url,
    const char *method)
{
	struct config *cfg = config_acquire();
	struct form f;
	enum MHD_Result ret;
	int get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
	int post = strcmp(method, "POST") == 0;

	f.n = 0;
	if (cfg == NULL)
		return reply_error(con, rq, MHD_HTTP_SERVICE_UNAVAILABLE,
		    "UNAVAILABLE", "no configuration loaded");
	forwarded_client(con, rq, cfg);
	if (strcmp(url, REGAUTH_PATH_TOKEN) == 0 && get) {
		MHD_get_connection_values(con, MHD_GET_ARGUMENT_KIND,
		    collect_arg, &f);
		if (f.n > MAX_FORM_FIELDS) {
			f.n = MAX_FORM_FIELDS;
			ret = reply_error(con, rq, MHD_HTTP_BAD_REQUEST,
			    "INVALID_REQUEST", "too many parameters");
		} else
			ret = issue(con, rq, cfg, &f, 0);
	} else if ((strcmp(url, REGAUTH_PATH_TOKEN) == 0 ||
	    strcmp(url, REGAUTH_PATH_LOGIN) == 0) && post) {
		if (rq->too_big)
			ret = reply_error(con, rq, MHD_HTTP_CONTENT_TOO_LARGE,
			    "TOO_LARGE", "request body too large");
		else if (!is_form(con))
			ret = reply_error(con, rq, MHD_HTTP_BAD_REQUEST,
			    "INVALID_REQUEST", "expected an "
			    "application/x-www-form-urlencoded body");
		else if (form_parse(&f, rq->body ? rq->body : "",
		    rq->len) == -1)
			ret = reply_error(con, rq, MHD_HTTP_BAD_REQUEST,
			    "INVALID_REQUEST", "malformed form body");
		else if (strcmp(url, REGAUTH_PATH_TOKEN) == 0)
			ret = issue(con, rq, cfg, &f, 1);
		else
			ret = login(con, rq, cfg, &f);
	} else if (strcmp(url, REGAUTH_PATH_HEALTHZ) == 0 && get)
		ret = reply(con, rq, MHD_HTTP_OK, "text/plain", "ok\n", 3, NULL);
	else if (strcmp(url, REGAUTH_PATH_JWKS) == 0 && get)
		ret = reply_json(con, rq, MHD_HTTP_OK, keys_jwks(cfg->keys),
		    NULL);
	else if (strcmp(url, REGAUTH_PATH_CERTS) == 0 && get)
		ret = reply(con, rq, MHD_HTTP_OK, "application/x-pem-file",
		    keys_bundle_pem(cfg->keys), strlen(keys_bundle_pem(cfg->keys)),
		    NULL);
	else if (strcmp(url, REGAUTH_PATH_INFO) == 0 && get)
		ret = info(con, rq, cfg);
	else if (strcmp(url, REGAUTH_PATH_METRICS) == 0 && get)
		ret = serve_metrics(con, rq, cfg);
	else if (strcmp(url, REGAUTH_PATH_TOKEN) == 0 ||
	    strcmp(url, REGAUTH_PATH_LOGIN) == 0 ||
	    strcmp(url, REGAUTH_PATH_HEALTHZ) == 0 ||
	    strcmp(url, REGAUTH_PATH_JWKS) == 0 ||
	    strcmp(url, REGAUTH_PATH_CERTS) == 0 ||
	    strcmp(url, REGAUTH_PATH_INFO) == 0 ||
	    strcmp(url, REGAUTH_PATH_METRICS) == 0)
		ret = reply_error(con, rq, MHD_HTTP_METHOD_NOT_ALLOWED,
		    "METHOD_NOT_ALLOWED", "method not allowed");
	else
		ret = reply_error(con, rq, MHD_HTTP_NOT_FOUND, "NOT_FOUND",
		    "not found");
	/* A login's outcome, or a /token request refused before issue(). */
	if (audited_path(rq))
		audit_request(rq, cfg, &f, NULL, NULL);
	form_clear(&f);
	config_release(cfg);
	return ret;
}

static void
client_addr(struct MHD_Connection *con, char *out, size_t sz)
{
	const union MHD_ConnectionInfo *ci;
	const struct sockaddr *sa;

	snprintf(out, sz, "-");
	ci = MHD_get_connection_info(con, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci == NULL || (sa = ci->client_addr) == NULL)
		return;
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)
		    (const void *)sa)->sin_addr, out, (socklen_t)sz);
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)
		    (const void *)sa)->sin6_addr, out, (socklen_t)sz);
}

static enum MHD_Result
handler(void *cls, struct MHD_Connection *con, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **con_cls)
{
	struct request *rq = *con_cls;
	const char *cl;
	int64_t clen;

	(void)cls;
	(void)version;
	if (rq == NULL) {
		if ((rq = calloc(1, sizeof(*rq))) == NULL)
			return MHD_NO;
		clock_gettime(CLOCK_MONOTONIC, &rq->start);
		audit_request_id(rq->id);
		client_addr(con, rq->peer, sizeof(rq->peer));
		memcpy(rq->client, rq->peer, sizeof(rq->client));
		snprintf(rq->method, sizeof(rq->method), "%s", method);
		snprintf(rq->path, sizeof(rq->path), "%s", url);
		*con_cls = rq;
		cl = MHD_lookup_connection_value(con, MHD_HEADER_KIND,
		    MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl != NULL && (util_parse_i64(cl, 0, INT64_MAX, &clen) == -1
		    || clen > HTTP_MAX_BODY))
			return reply_error(con, rq, MHD_HTTP_CONTENT_TOO_LARGE,
			    "TOO_LARGE", "request body too large");
		return MHD_YES;
	}
	if (rq->status != 0) {		/* answered early (413) */
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		size_t n = *upload_data_size;
		if (!rq->too_big && rq->len + n > HTTP_MAX_BODY) {
			rq->too_big = 1;
			util_secure_free(rq->body, rq->len);
			rq->body = NULL;
			rq->len = 0;
		}
		if (!rq->too_big) {
			char *b = realloc(rq->body, rq->len + n + 1);
			if (b == NULL)
				return MHD_NO;
			memcpy(b + rq->len, upload_data, n);
			rq->body = b;
			rq->len += n;
			rq->body[rq->len] = '\0';
		}
		*upload_data_size = 0;
		return MHD_YES;
	}
	return route(con, rq, url, method);
}

/*
 * Metrics of a finished request; and its audit line if no handler wrote
 * one (answered before routing: 413 on Content-Length, 503).
 */
static void
observe(struct request *rq, const struct timespec *now)
{
	int64_t ns;
	int m;

	ns = (int64_t)(now->tv_sec - rq->start.tv_sec) * 1000000000 +
	    (now->tv_nsec - rq->start.tv_nsec);
	metrics_request(metrics_endpoint_of(rq->path), rq->status,
	    ns > 0 ? (uint64_t)ns : 0);
	if ((m = metrics_login_method_of(rq->authn)) >= 0)
		metrics_login((enum metrics_login_method)m,
		    rq->principal[0] != '\0');
	if (audited_path(rq))
		audit_request(rq, NULL, NULL, NULL, NULL);
}

/* One JSON log line per request; never the query string, never a secret. */
static void
completed(void *cls, struct MHD_Connection *con, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct request *rq = *con_cls;
	struct timespec now;
	struct buf line;
	char t[32];
	double ms;

	(void)cls;
	(void)con;
	if (rq == NULL)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (double)(now.tv_sec - rq->start.tv_sec) * 1e3 +
	    (double)(now.tv_nsec - rq->start.tv_nsec) / 1e6;
	util_rfc3339(util_now(), t);
	buf_init(&line);
	buf_printf(&line, "{\"time\":\"%s\",\"request_id\":\"%s\","
	    "\"method\":", t, rq->id);
	buf_json_string(&line, rq->method);
	buf_adds(&line, ",\"path\":");
	buf_json_string(&line, rq->path);
	buf_printf(&line, ",\"status\":%d,\"client\":\"%s\"", rq->status,
	    rq->client);
	if (strcmp(rq->client, rq->peer) != 0)
		buf_printf(&line, ",\"peer\":\"%s\"", rq->peer);
	if (rq->principal[0] != '\0') {
		buf_adds(&line, ",\"principal\":");
		buf_json_string(&line, rq->principal);
	}
	if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
		buf_printf(&line, ",\"terminated\":%d", (int)toe);
	buf_printf(&line, ",\"ms\":%.3f}\n", ms);
	if (buf_str(&line) != NULL)
		fwrite(line.p, 1, line.len, stderr);
	buf_release(&line);
	observe(rq, &now);
	util_secure_free(rq->body, rq->len);
	free(rq);
	*con_cls = NULL;
}

/*
 * libmicrohttpd's own messages (a refused oversized request, a failed
 * accept) as JSON log lines like ours.
 */
static void mhd_log(void *, const char *, va_list)
    __attribute__((format(printf, 2, 0)));

static void
mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	struct buf line;
	size_t n;

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
		msg[--n] = '\0';
	buf_init(&line);
	buf_adds(&line, "{\"level\":\"info\",\"msg\":");
	buf_json_string(&line, msg);
	buf_adds(&line, ",\"source\":\"libmicrohttpd\"}\n");
	if (buf_str(&line) != NULL)
		fwrite(line.p, 1, line.len, stderr);
	buf_release(&line);
}

static int
parse_listen(const char *listen, struct sockaddr_storage *ss, socklen_t *len,
    struct err *e)
{
	struct addrinfo hints, *res = NULL;
	char host[256];
	const char *colon, *port;
	size_t hl;
	int rc;

	colon = strrchr(listen, ':');
	if (colon == NULL || colon[1] == '\0') {
		err_set(e, "listen address %s: want HOST:PORT", listen);
		return -1;
	}
	port = colon + 1;
	hl = (size_t)(colon - listen);
	if (hl >= 2 && listen[0] == '[' && listen[hl - 1] == ']') {
		listen++;
		hl -= 2;
	}
	if (hl >= sizeof(host)) {
		err_set(e, "listen address too long");
		return -1;
	}
	memcpy(host, listen, hl);
	host[hl] = '\0';
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV | AI_PASSIVE;
	rc = getaddrinfo(hl ? host : NULL, port, &hints, &res);
	if (rc != 0) {
		err_set(e, "listen address %s: %s", listen, gai_strerror(rc));
		return -1;
	}
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

int
http_bind(const char *addr, struct err *e)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int fd, one = 1;

	if (listen_fd != -1)
		return 0;
	if (parse_listen(addr, &ss, &sl, e) == -1)
		return -1;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one,
	    sizeof(one)) == -1 || (ss.ss_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) == -1) ||
	    bind(fd, (struct sockaddr *)&ss, sl) == -1 ||
	    listen(fd, SOMAXCONN) == -1) {
		err_set(e, "cannot listen on %s: %s", addr, strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	listen_fd = fd;
	return 0;
}

int
http_start(const char *listen, struct err *e)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	/*
	 * poll(2), not epoll: with a worker pool, libmicrohttpd 0.9.75's
	 * MHD_quiesce_daemon races a busy worker removing the listening socket
	 * from its epoll set itself, and aborts ("Failed to remove listen FD
	 * from epoll set"; seen on SIGTERM under HTTPS load). poll measured as
	 * fast here: 13,463 against 12,486 tokens/s.
	 */
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL |
	    MHD_USE_TURBO | MHD_USE_ITC | MHD_USE_ERROR_LOG;
	struct MHD_OptionItem tlsopts[2];
	struct config *cfg;

	if (http_bind(listen, e) == -1)
		return -1;
	/* HTTPS when the installed snapshot has a certificate (tls.c). */
	cfg = config_acquire();
	serving_tls = cfg != NULL && cfg->tls != NULL;
	config_release(cfg);
	if (tls_mhd_options(serving_tls, tlsopts, e) == -1)
		return -1;
	if (serving_tls)
		flags |= MHD_USE_TLS;
	if (ncpu < 1)
		ncpu = 1;
	if (limits == NULL &&
	    (limits = ratelimit_new(RATELIMIT_ENTRIES)) == NULL) {
		err_set(e, "out of memory");
		return -1;
	}
	metrics_init();
	daemon_ = MHD_start_daemon(flags, 0, NULL, NULL, handler, NULL,
	    MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
	    MHD_OPTION_LISTEN_SOCKET, (MHD_socket)listen_fd,
	    MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)ncpu,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_MAX_HEADERS,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned int)4096,
	    MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int)1024,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)30,
	    MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
	    MHD_OPTION_ARRAY, tlsopts,
	    MHD_OPTION_END);
	if (daemon_ == NULL) {
		err_set(e, "cannot listen on %s", listen);
		return -1;
	}
	return 0;
}

int
http_tls(void)
{
	return serving_tls;
}

void
http_stop(int wait_ms)
{
	const union MHD_DaemonInfo *di;
	int waited = 0;
	MHD_socket s;

	if (daemon_ == NULL)
		return;
	s = MHD_quiesce_daemon(daemon_);
	if (s != MHD_INVALID_SOCKET)
		close(s);
	listen_fd = -1;
	while (waited < wait_ms) {
		di = MHD_get_daemon_info(daemon_,
		    MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
		if (di == NULL || di->num_connections == 0)
			break;
		usleep(20 * 1000);
		waited += 20;
	}
	MHD_stop_daemon(daemon_);
	daemon_ = NULL;
	ratelimit_free(limits);
	limits = NULL;
}
