/*
 * exchange: libcurl calls to regauthd and registries (see exchange.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define CURL_DISABLE_TYPECHECK
#include <curl/curl.h>
#include <dlfcn.h>
#include <jansson.h>

#include "regauth/wire.h"
#include "exchange.h"

#define BODY_MAX (256 * 1024)
#define CONNECT_TIMEOUT_MS 3000L
#define TOTAL_TIMEOUT_MS 10000L

struct reply {
	long status;
	char *body;
	size_t len;
	char *www_auth;
	int overflow;
};

/*
 * libcurl is opened with dlopen on first use: loading it (and the TLS,
 * LDAP, SSH and Kerberos libraries it pulls in, whose constructors run at
 * load) costs ~10 ms, five times a whole cached `get`.
 */
static struct {
	void *lib;
	CURLcode (*global_init)(long);
	CURL *(*easy_init)(void);
	CURLcode (*setopt)(CURL *, CURLoption, ...);
	CURLcode (*perform)(CURL *);
	CURLcode (*getinfo)(CURL *, CURLINFO, ...);
	void (*cleanup)(CURL *);
	const char *(*strerror)(CURLcode);
	char *(*escape)(CURL *, const char *, int);
	void (*free)(void *);
} C;

#define SYM(field, name) \
	(*(void **)(&C.field) = dlsym(C.lib, name)) == NULL

static int
lazy_init(struct err *e)
{
	if (C.lib != NULL)
		return 0;
	C.lib = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
	if (C.lib == NULL) {
		util_err(e, "cannot load libcurl: %s", dlerror());
		return -1;
	}
	if (SYM(global_init, "curl_global_init") ||
	    SYM(easy_init, "curl_easy_init") ||
	    SYM(setopt, "curl_easy_setopt") ||
	    SYM(perform, "curl_easy_perform") ||
	    SYM(getinfo, "curl_easy_getinfo") ||
	    SYM(cleanup, "curl_easy_cleanup") ||
	    SYM(strerror, "curl_easy_strerror") ||
	    SYM(escape, "curl_easy_escape") || SYM(free, "curl_free") ||
	    C.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		util_err(e, "libcurl failed to initialise");
		dlclose(C.lib);
		C.lib = NULL;
		return -1;
	}
	return 0;
}

static size_t
on_body(char *p, size_t size, size_t n, void *arg)
{
	struct reply *r = arg;
	size_t add = size * n;
	char *nb;

	if (r->len + add > BODY_MAX) {
		r->overflow = 1;
		return 0;
	}
	nb = realloc(r->body, r->len + add + 1);
	if (nb == NULL)
		return 0;
	r->body = nb;
	memcpy(r->body + r->len, p, add);
	r->len += add;
	r->body[r->len] = '\0';
	return add;
}

static size_t
on_header(char *p, size_t size, size_t n, void *arg)
{
	struct reply *r = arg;
	size_t len = size * n, k = strlen("WWW-Authenticate:");

	if (len > k && strncasecmp(p, "WWW-Authenticate:", k) == 0 &&
	    r->www_auth == NULL) {
		size_t s = k, end = len;

		while (s < end && (p[s] == ' ' || p[s] == '\t'))
			s++;
		while (end > s && (p[end - 1] == '\r' || p[end - 1] == '\n' ||
		    p[end - 1] == ' '))
			end--;
		r->www_auth = strndup(p + s, end - s);
	}
	/* a new status line (after 100 Continue or a redirect) resets it */
	if (len >= 5 && strncmp(p, "HTTP/", 5) == 0) {
		free(r->www_auth);
		r->www_auth = NULL;
	}
	return len;
}

static void
reply_clear(struct reply *r)
{
	if (r->body != NULL) {
		util_wipe(r->body, r->len);
		free(r->body);
	}
	free(r->www_auth);
	memset(r, 0, sizeof(*r));
}

static int
transient(CURLcode rc, long status)
{
	switch (rc) {
	case CURLE_OK:
		return status == 502 || status == 503 || status == 504;
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_GOT_NOTHING:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_COULDNT_RESOLVE_HOST:
		return 1;
	default:
		return 0;
	}
}

/*
 * One request. form NULL: GET. user NULL: no Basic. header NULL: none, else
 * one more request header (say, "Authorization: bearer ..."): it is linked
 * in place, so libcurl's list holds no copy of a secret to leave unwiped.
 */
static CURLcode
perform(const char *url, const char *form, const char *user,
    const char *password, const char *header, struct reply *r, char *errbuf)
{
	struct curl_slist accept = { (char *)"Accept: application/json", NULL };
	struct curl_slist extra = { (char *)header, NULL };
	struct timespec t0, t1;
	CURLcode rc;
	CURL *h;

	memset(r, 0, sizeof(*r));
	h = C.easy_init();
	if (h == NULL)
		return CURLE_FAILED_INIT;
	errbuf[0] = '\0';
	C.setopt(h, CURLOPT_URL, url);
	C.setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	C.setopt(h, CURLOPT_NOSIGNAL, 1L);
	C.setopt(h, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
	C.setopt(h, CURLOPT_TIMEOUT_MS, TOTAL_TIMEOUT_MS);
	C.setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	C.setopt(h, CURLOPT_USERAGENT,
	    "docker-credential-regauth/" REGAUTH_VERSION);
	C.setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	C.setopt(h, CURLOPT_WRITEDATA, r);
	C.setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	C.setopt(h, CURLOPT_HEADERDATA, r);
	if (header != NULL)
		accept.next = &extra;
	C.setopt(h, CURLOPT_HTTPHEADER, &accept);
	if (form != NULL) {
		C.setopt(h, CURLOPT_POSTFIELDS, form);
		C.setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(form));
	}
	if (user != NULL) {
		C.setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		C.setopt(h, CURLOPT_USERNAME, user);
		C.setopt(h, CURLOPT_PASSWORD, password);
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = C.perform(h);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	C.getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
	util_debug("%s %s -> %s%ld (%ld ms)", form ? "POST" : "GET", url,
	    rc == CURLE_OK ? "" : "error, status ", r->status,
	    (long)((t1.tv_sec - t0.tv_sec) * 1000 +
	    (t1.tv_nsec - t0.tv_nsec) / 1000000));
	if (rc != CURLE_OK)
		util_debug("libcurl: %s", errbuf[0] ? errbuf :
		    C.strerror(rc));
	C.cleanup(h);
	return rc;
}

/*
 * The server's errors[0].message (regauthd, distribution), else an OAuth
 * error_description or error, else a "message" (GitHub), else a generic text.
 */
static void
server_message(const struct reply *r, char *out, size_t outsz)
{
	json_t *o = r->body ? json_loadb(r->body, r->len, 0, NULL) : NULL;
	const char *m = json_string_value(json_object_get(json_array_get(
	    json_object_get(o, "errors"), 0), "message"));

	if (m == NULL)
		m = json_string_value(json_object_get(o, "error_description"));
	if (m == NULL)
		m = json_string_value(json_object_get(o, "error"));
	if (m == NULL)
		m = json_string_value(json_object_get(o, "message"));
	snprintf(out, outsz, "%s", m != NULL ? m : "no reason given");
	json_decref(o);
}

static int
parse_login(const struct reply *r, struct exchange_login *out, struct err *e)
{
	json_t *o = json_loadb(r->body ? r->body : "", r->len, 0, NULL);
	const char *tok, *pr;
	json_t *ei;
	int ret = -1;

	tok = json_string_value(json_object_get(o, "access_token"));
	pr = json_string_value(json_object_get(o, "principal"));
	ei = json_object_get(o, "expires_in");
	if (tok == NULL || tok[0] == '\0') {
		util_err(e, "the token server's answer holds no access_token");
		goto out;
	}
	out->token = strdup(tok);
	out->principal = pr ? strdup(pr) : NULL;
	out->expires_in = json_is_integer(ei) ? json_integer_value(ei) : 0;
	if (out->token == NULL) {
		util_err(e, "out of memory");
		goto out;
	}
	ret = 0;
out:
	if (tok != NULL)
		util_wipe((void *)tok, strlen(tok));
	json_decref(o);
	return ret;
}

/* server (trailing '/' dropped) + path; caller frees. */
static char *
server_url(const char *server, const char *path)
{
	size_t n = strlen(server), pl = strlen(path);
	char *u;

	while (n > 0 && server[n - 1] == '/')
		n--;
	u = malloc(n + pl + 1);
	if (u != NULL) {
		memcpy(u, server, n);
		memcpy(u + n, path, pl + 1);
	}
	return u;
}

static char *
login_url(const char *server)
{
	return server_url(server, REGAUTH_PATH_LOGIN);
}

static int
login(const char *server, const char *user, const char *password,
    exchange_assertion_fn fn, void *arg, struct exchange_login *out,
    struct err *e)
{
	char errbuf[CURL_ERROR_SIZE], msg[160], *url = NULL, *form = NULL;
	char *assertion = NULL, *esc = NULL;
	struct reply r;
	CURLcode rc = CURLE_OK;
	CURL *h = NULL;
	int attempt, ret = -1;
	size_t n;

	memset(&r, 0, sizeof(r));
	memset(out, 0, sizeof(*out));
	if (lazy_init(e) == -1)
		return -1;
	url = login_url(server);
	if (url == NULL || (h = C.easy_init()) == NULL) {
		util_err(e, "out of memory");
		goto out;
	}
	for (attempt = 0; attempt < 2; attempt++) {
		if (attempt > 0) {
			util_debug("retrying once after a transient failure");
			usleep(200 * 1000);
		}
		if (fn != NULL) {
			assertion = fn(arg, e);
			if (assertion == NULL)
				goto out;
			esc = C.escape(h, assertion, 0);
			n = strlen(esc ? esc : "") + 128;
			form = malloc(n);
			if (esc == NULL || form == NULL) {
				util_err(e, "out of memory");
				goto out;
			}
			snprintf(form, n, "grant_type=%s&assertion=%s",
			    "urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer",
			    esc);
		} else {
			form = strdup("grant_type=" REGAUTH_GRANT_PASSWORD);
			if (form == NULL) {
				util_err(e, "out of memory");
				goto out;
			}
		}
		rc = perform(url, form, user, password, NULL, &r, errbuf);
		util_free_secret(form);
		form = NULL;
		util_free_secret(assertion);
		assertion = NULL;
		if (esc != NULL) {
			util_wipe(esc, strlen(esc));
			C.free(esc);
			esc = NULL;
		}
		if (!transient(rc, r.status) || attempt == 1)
			break;
		reply_clear(&r);
	}
	if (rc != CURLE_OK) {
		util_err(e, "cannot reach the token server %s: %s", server,
		    errbuf[0] ? errbuf : C.strerror(rc));
		goto out;
	}
	if (r.status == 200) {
		ret = parse_login(&r, out, e);
		goto out;
	}
	server_message(&r, msg, sizeof(msg));
	if (r.status >= 400 && r.status < 500) {
		util_err(e, "the token server %s refused the %s (HTTP %ld: %s)",
		    server, fn != NULL ? "service-account key" : "password",
		    r.status, msg);
		ret = EXCHANGE_REFUSED;
	} else
		util_err(e, "the token server %s answered HTTP %ld: %s",
		    server, r.status, msg);
out:
	util_free_secret(form);
	util_free_secret(assertion);
	if (esc != NULL)
		C.free(esc);
	if (h != NULL)
		C.cleanup(h);
	reply_clear(&r);
	free(url);
	return ret;
}

int
exchange_login_password(const char *server, const char *user,
    const char *password, struct exchange_login *out, struct err *e)
{
	return login(server, user, password, NULL, NULL, out, e);
}

int
exchange_login_assertion(const char *server, exchange_assertion_fn fn,
    void *arg, struct exchange_login *out, struct err *e)
{
	return login(server, NULL, NULL, fn, arg, out, e);
}

/*
 * application/x-www-form-urlencoded (and query) encoding: RFC 3986
 * unreserved characters as they are, every other byte as %XX. Caller frees.
 */
static char *
form_escape(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(s), i, o = 0;
	char *out = malloc(n * 3 + 1);
	unsigned char c;

	if (out == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		c = (unsigned char)s[i];
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '.' ||
		    c == '_' || c == '~')
			out[o++] = (char)c;
		else {
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	out[o] = '\0';
	return out;
}

/*
 * One request to `url`, retried once after a transient failure. 0 with r
 * filled (whatever the status); -1 when no answer came (e names `what`).
 */
static int
request(const char *url, const char *form, const char *header,
    const char *what, struct reply *r, struct err *e)
{
	char errbuf[CURL_ERROR_SIZE];
	CURLcode rc = CURLE_OK;
	int attempt;

	memset(r, 0, sizeof(*r));
	if (lazy_init(e) == -1)
		return -1;
	for (attempt = 0; attempt < 2; attempt++) {
		if (attempt > 0) {
			util_debug("retrying once after a transient failure");
			usleep(200 * 1000);
		}
		rc = perform(url, form, NULL, NULL, header, r, errbuf);
		if (!transient(rc, r->status) || attempt == 1)
			break;
		reply_clear(r);
	}
	if (rc != CURLE_OK) {
		util_err(e, "cannot reach %s: %s", what,
		    errbuf[0] ? errbuf : C.strerror(rc));
		reply_clear(r);
		return -1;
	}
	return 0;
}

int
exchange_login_oidc(const char *server, const char *subject_token,
    const char *role, const char *session, struct exchange_login *out,
    struct err *e)
{
	char msg[160], what[300], *url = NULL, *form = NULL;
	char *tok = NULL, *rl = NULL, *ses = NULL;
	struct reply r;
	size_t n;
	int ret = -1;

	memset(&r, 0, sizeof(r));
	memset(out, 0, sizeof(*out));
	url = login_url(server);
	tok = form_escape(subject_token);
	rl = form_escape(role);
	ses = session != NULL ? form_escape(session) : NULL;
	if (url == NULL || tok == NULL || rl == NULL ||
	    (session != NULL && ses == NULL)) {
		util_err(e, "out of memory");
		goto out;
	}
	n = strlen(tok) + strlen(rl) + (ses ? strlen(ses) : 0) + 256;
	if ((form = malloc(n)) == NULL) {
		util_err(e, "out of memory");
		goto out;
	}
	/* the two URNs hold only ':' to escape */
	snprintf(form, n, "grant_type=%s&subject_token=%s"
	    "&subject_token_type=%s&" REGAUTH_FORM_ROLE "=%s%s%s",
	    "urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange", tok,
	    "urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Ajwt", rl,
	    ses ? "&" REGAUTH_FORM_SESSION "=" : "", ses ? ses : "");
	snprintf(what, sizeof(what), "the token server %s", server);
	if (request(url, form, NULL, what, &r, e) == -1)
		goto out;
	if (r.status == 200) {
		ret = parse_login(&r, out, e);
		goto out;
	}
	server_message(&r, msg, sizeof(msg));
	if (r.status == 401) {
		util_err(e, "the token server %s refused the OIDC token "
		    "(HTTP 401: %s)", server, msg);
		ret = EXCHANGE_REFUSED;
	} else if (r.status == 403) {
		util_err(e, "role %s refused this token: check its trust "
		    "policy (HTTP 403: %s)", role, msg);
		ret = EXCHANGE_REFUSED;
	} else if (r.status >= 400 && r.status < 500) {
		util_err(e, "the token server %s refused the token exchange "
		    "for role %s (HTTP %ld: %s)", server, role, r.status, msg);
		ret = EXCHANGE_REFUSED;
	} else
		util_err(e, "the token server %s answered HTTP %ld: %s",
		    server, r.status, msg);
out:
	util_free_secret(form);
	util_free_secret(tok);
	free(rl);
	free(ses);
	reply_clear(&r);
	free(url);
	return ret;
}

int
exchange_server_issuer(const char *server, char **issuer, struct err *e)
{
	char msg[160], what[300], *url = server_url(server, REGAUTH_PATH_INFO);
	const char *iss;
	struct reply r;
	json_t *o = NULL;
	int ret = -1;

	memset(&r, 0, sizeof(r));
	if (url == NULL) {
		util_err(e, "out of memory");
		return -1;
	}
	snprintf(what, sizeof(what), "the token server %s", server);
	if (request(url, NULL, NULL, what, &r, e) == -1)
		goto out;
	if (r.status != 200) {
		server_message(&r, msg, sizeof(msg));
		util_err(e, "the token server %s answered HTTP %ld to "
		    REGAUTH_PATH_INFO ": %s", server, r.status, msg);
		goto out;
	}
	o = json_loadb(r.body ? r.body : "", r.len, 0, NULL);
	iss = json_string_value(json_object_get(o, "issuer"));
	if (iss == NULL || iss[0] == '\0') {
		util_err(e, "the token server %s names no issuer at "
		    REGAUTH_PATH_INFO, server);
		goto out;
	}
	if ((*issuer = strdup(iss)) == NULL) {
		util_err(e, "out of memory");
		goto out;
	}
	ret = 0;
out:
	json_decref(o);
	reply_clear(&r);
	free(url);
	return ret;
}

int
exchange_actions_token(const char *request_url, const char *request_token,
    const char *audience, size_t max, char **token, struct err *e)
{
	static const char auth[] = "Authorization: bearer ";
	char msg[160], *aud = NULL, *url = NULL, *hdr = NULL;
	const char *v;
	struct reply r;
	json_t *o = NULL;
	size_t n;
	int ret = -1;

	memset(&r, 0, sizeof(r));
	aud = form_escape(audience);
	n = strlen(request_url) + (aud ? strlen(aud) : 0) + 16;
	url = malloc(n);
	hdr = malloc(sizeof(auth) + strlen(request_token));
	if (aud == NULL || url == NULL || hdr == NULL) {
		util_err(e, "out of memory");
		goto out;
	}
	/* the runner's URL already has a query string */
	snprintf(url, n, "%s%caudience=%s", request_url,
	    strchr(request_url, '?') != NULL ? '&' : '?', aud);
	memcpy(hdr, auth, sizeof(auth) - 1);
	memcpy(hdr + sizeof(auth) - 1, request_token,
	    strlen(request_token) + 1);
	if (request(url, NULL, hdr, "GitHub Actions' OIDC token endpoint "
	    "(" REGAUTH_ENV_GHA_URL ")", &r, e) == -1)
		goto out;
	if (r.status != 200) {
		server_message(&r, msg, sizeof(msg));
		util_err(e, "GitHub Actions refused the OIDC token request "
		    "(HTTP %ld: %s)", r.status, msg);
		ret = r.status >= 400 && r.status < 500 ? EXCHANGE_REFUSED : -1;
		goto out;
	}
	o = json_loadb(r.body ? r.body : "", r.len, 0, NULL);
	v = json_string_value(json_object_get(o, "value"));
	if (v == NULL || v[0] == '\0' || strlen(v) > max) {
		util_err(e, "GitHub Actions answered no usable OIDC token "
		    "(\"value\" missing, empty or over %zu bytes)", max);
		goto out;
	}
	if ((*token = strdup(v)) == NULL) {
		util_err(e, "out of memory");
		goto out;
	}
	ret = 0;
out:
	if (o != NULL) {
		v = json_string_value(json_object_get(o, "value"));
		if (v != NULL)
			util_wipe((void *)v, strlen(v));
		json_decref(o);
	}
	util_free_secret(hdr);
	reply_clear(&r);
	free(url);
	free(aud);
	return ret;
}

int
exchange_challenge(const char *url, long *status, char **www_auth,
    struct err *e)
{
	char errbuf[CURL_ERROR_SIZE];
	struct reply r;
	CURLcode rc;

	if (lazy_init(e) == -1)
		return -1;
	rc = perform(url, NULL, NULL, NULL, NULL, &r, errbuf);
	if (rc != CURLE_OK) {
		util_err(e, "cannot reach %s: %s", url,
		    errbuf[0] ? errbuf : C.strerror(rc));
		reply_clear(&r);
		return -1;
	}
	*status = r.status;
	*www_auth = r.www_auth;
	r.www_auth = NULL;
	reply_clear(&r);
	return 0;
}

void
exchange_login_clear(struct exchange_login *l)
{
	if (l == NULL)
		return;
	util_free_secret(l->token);
	free(l->principal);
	memset(l, 0, sizeof(*l));
}
