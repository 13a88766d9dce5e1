/*
 * Trusted OIDC issuers and the verification of their tokens (oidc.h).
 *
 * Fetched key sets live in one process-wide cache keyed by issuer URL, so a
 * configuration reload, which builds new issuers, finds the same entries.
 * The cache lock is never held during network I/O: one thread per issuer
 * fetches (ent->fetching) while the others wait on a condition variable
 * and then take its result rather than fetching again.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/evp.h>

#include "oidc.h"
#include "policy/policy.h"

#define URL_MAX		255
#define HOST_MAX	253
#define KID_MAX		256		/* bytes of a key ID */
#define AUD_MAX		255		/* bytes of a configured audience */
#define TTL_MIN		60
#define TTL_MAX		86400
#define CONNECT_MS	3000L
#define TOTAL_MS	5000L
#define CACHE_MAX	256		/* issuers remembered at once */
#define FLAT_DEPTH	4		/* "a/b/c/d": deeper objects are left out */
#define NEVER		INT64_MIN
#define DISCOVERY	"/.well-known/openid-configuration"

struct oidc_key {
	char		*kid;		/* NULL: the JWK has none */
	EVP_PKEY	*pkey;
	enum jws_alg	 alg;
};

struct oidc_keys {
	atomic_uint	 refs;
	size_t		 n;
	struct oidc_key	 v[];
};

/* Attacker-chosen text for a log line: printable ASCII, at most 64 bytes. */
static const char *
log_text(const char *s, char out[68])
{
	size_t i;

	for (i = 0; s != NULL && s[i] != '\0' && i < 64; i++)
		out[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
	if (s != NULL && s[i] != '\0') {
		memcpy(out + i, "...", 3);
		i += 3;
	}
	out[i] = '\0';
	return out;
}

static int
lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static int
is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
	    (c >= 'A' && c <= 'F');
}

/* A DNS name or dotted quad: lower-case labels of [a-z0-9_-]. */
static int
reg_name_ok(const char *h, size_t n)
{
	size_t i, label = 0;

	if (n == 0 || n > HOST_MAX)
		return 0;
	for (i = 0; i < n; i++) {
		if (h[i] == '.') {
			if (label == 0)
				return 0;
			label = 0;
		} else if (lower_alnum(h[i]) || h[i] == '-' || h[i] == '_') {
			if (++label > 63)
				return 0;
		} else
			return 0;
	}
	return label > 0;
}

/* "[IPv6]" of `n` bytes as an address; 0 when it is not one. */
static int
ipv6_literal(const char *h, size_t n, unsigned char a[16])
{
	char buf[64];

	if (n < 3 || n - 2 >= sizeof(buf) || h[0] != '[' || h[n - 1] != ']')
		return 0;
	memcpy(buf, h + 1, n - 2);
	buf[n - 2] = '\0';
	return inet_pton(AF_INET6, buf, a) == 1;
}

/* 127.0.0.0/8, [::1] or localhost. */
static int
host_loopback(const char *h, size_t n)
{
	unsigned char a[16];
	char buf[16];

	if (n == 9 && memcmp(h, "localhost", 9) == 0)
		return 1;
	if (h[0] == '[')
		return ipv6_literal(h, n, a) &&
		    memcmp(a, &in6addr_loopback, 16) == 0;
	if (n >= sizeof(buf))
		return 0;
	memcpy(buf, h, n);
	buf[n] = '\0';
	return inet_pton(AF_INET, buf, a) == 1 && a[0] == 127;
}

/*
 * RFC 3986 path characters, '@' left out; no empty, "." or ".." segment,
 * but for one trailing '/' (AKS and some other issuers end with one: iss
 * must match exactly, and discovery drops it as OIDC Discovery 4 says).
 */
static int
path_ok(const char *p)
{
	const char *seg = p + 1;
	size_t i;

	for (i = 1;; i++) {
		char c = p[i];

		if (c == '/' || c == '\0') {
			size_t n = (size_t)(p + i - seg);

			if (n == 0 && c == '\0' && (i == 1 || p[i - 2] != '/'))
				return 1;
			if (n == 0 || (n == 1 && seg[0] == '.') ||
			    (n == 2 && seg[0] == '.' && seg[1] == '.'))
				return 0;
			if (c == '\0')
				return 1;
			seg = p + i + 1;
			continue;
		}
		if (c == '%') {
			if (!is_hex(p[i + 1]) || !is_hex(p[i + 2]))
				return 0;
			i += 2;
			continue;
		}
		if (!(lower_alnum(c) || (c >= 'A' && c <= 'Z') ||
		    strchr("-._~!$&'()*+,;=:", c) != NULL))
			return 0;
	}
}

int
oidc_issuer_url_ok(const char *url, struct err *e)
{
	const char *host, *end, *hend, *port = NULL, *path, *p;
	unsigned char a[16];
	size_t len, hlen;
	long pv;
	int https;

	if (url == NULL || (len = strlen(url)) == 0 || len > URL_MAX) {
		err_set(e, "URL empty or longer than %d bytes", URL_MAX);
		return -1;
	}
	if (strncmp(url, "https://", 8) == 0) {
		https = 1;
		host = url + 8;
	} else if (strncmp(url, "http://", 7) == 0) {
		https = 0;
		host = url + 7;
	} else {
		err_set(e, "URL must start with https://");
		return -1;
	}
	for (p = url; *p != '\0'; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f) {
			err_set(e, "URL holds a space, control or non-ASCII "
			    "byte");
			return -1;
		}
	if (strpbrk(url, "?#@") != NULL) {
		err_set(e, "URL may not have a query, fragment or user info");
		return -1;
	}
	path = strchr(host, '/');
	end = path != NULL ? path : url + len;
	if (*host == '[') {
		if ((hend = memchr(host, ']', (size_t)(end - host))) == NULL) {
			err_set(e, "URL host has no closing ']'");
			return -1;
		}
		hend++;
		hlen = (size_t)(hend - host);
		if (!ipv6_literal(host, hlen, a)) {
			err_set(e, "URL host is not an IPv6 address");
			return -1;
		}
		if (hend != end && *hend != ':') {
			err_set(e, "URL has bytes after the IPv6 address");
			return -1;
		}
		if (hend != end)
			port = hend;
	} else {
		port = memchr(host, ':', (size_t)(end - host));
		hend = port != NULL ? port : end;
		hlen = (size_t)(hend - host);
		if (!reg_name_ok(host, hlen)) {
			err_set(e, "URL host must be a lower-case name or "
			    "address");
			return -1;
		}
	}
	if (port != NULL) {
		size_t n = (size_t)(end - port - 1), i;

		pv = 0;
		for (i = 0; i < n; i++) {
			if (port[1 + i] < '0' || port[1 + i] > '9')
				break;
			pv = pv * 10 + (port[1 + i] - '0');
			if (pv > 65535)
				break;
		}
		if (n == 0 || i != n || port[1] == '0' || pv < 1 ||
		    pv > 65535) {
			err_set(e, "URL port must be 1 to 65535");
			return -1;
		}
	}
	if (path != NULL && !path_ok(path)) {
		err_set(e, "URL path has an empty, \".\" or \"..\" segment, or "
		    "a character outside RFC 3986");
		return -1;
	}
	if (!https && !host_loopback(host, hlen)) {
		err_set(e, "URL must use https:// (http:// only for 127.0.0.1, "
		    "::1 or localhost)");
		return -1;
	}
	return 0;
}

/* The URL without its scheme. */
static const char *
strip_scheme(const char *url)
{
	if (strncmp(url, "https://", 8) == 0)
		return url + 8;
	if (strncmp(url, "http://", 7) == 0)
		return url + 7;
	return url;
}

void
oidc_issuer_file_name(const char *url, char out[65])
{
	const char *p = strip_scheme(url != NULL ? url : "");
	size_t o = 0;

	for (; *p != '\0' && o < 64; p++) {
		char c = *p;

		out[o++] = lower_alnum(c) || (c >= 'A' && c <= 'Z') ||
		    c == '.' || c == '_' || c == '-' ? c : '-';
	}
	/* Never a hidden file, ".", ".." or an empty name. */
	if (o == 0)
		out[o++] = '-';
	if (out[0] == '.')
		out[0] = '-';
	out[o] = '\0';
}

/* "oidc/NAME.json: " and the message. */
static void load_err(struct err *e, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
load_err(struct err *e, const char *name, const char *fmt, ...)
{
	char msg[sizeof(e->msg)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	err_set(e, "oidc/%s.json: %s", name, msg);
}

/* FILE as an absolute path: as it is, or DIR/oidc/FILE from the cwd. */
static int
resolve(char *out, size_t cap, const char *dir, const char *file)
{
	char cwd[PATH_MAX];
	int n;

	if (file[0] == '/')
		n = snprintf(out, cap, "%s", file);
	else if (dir[0] == '/')
		n = snprintf(out, cap, "%s/oidc/%s", dir, file);
	else if (getcwd(cwd, sizeof(cwd)) != NULL)
		n = snprintf(out, cap, "%s/%s/oidc/%s", cwd, dir, file);
	else
		return -1;
	return n < 0 || (size_t)n >= cap ? -1 : 0;
}

/* A non-empty string member without NUL, or NULL. */
static const char *
str_member(const json_t *doc, const char *key)
{
	const json_t *v = json_object_get(doc, key);
	const char *s = json_string_value(v);

	if (s == NULL || *s == '\0' || strlen(s) != json_string_length(v))
		return NULL;
	return s;
}

static struct oidc_keys *
load_jwks_file(const char *path, struct err *e)
{
	struct oidc_keys *k = NULL;
	json_t *j = NULL;
	char *buf;
	size_t len = 0;

	if ((buf = util_read_file(path, OIDC_JWKS_MAX, &len, e)) == NULL)
		return NULL;
	if ((j = util_json_loadb(buf, len, path, e)) != NULL)
		k = oidc_keys_parse(j, e);
	json_decref(j);
	free(buf);
	return k;
}

int
oidc_issuer_load(struct oidc_issuer *out, const char *dir, const char *name,
    const json_t *doc, struct err *e)
{
	static const char *const fields[] = { "issuer", "audiences",
	    "jwks_file", "ca_file", "jwks_cache_seconds" };
	struct oidc_issuer is;
	struct err le;
	struct stat st;
	char path[PATH_MAX];
	const char *key, *s;
	const json_t *v, *auds;
	json_t *val;
	size_t i;
	int ret = -1;

	memset(&is, 0, sizeof(is));
	if (name == NULL)
		name = "?";
	if (dir == NULL)
		dir = ".";
	if (!json_is_object(doc)) {
		load_err(e, name, "not a JSON object");
		goto out;
	}
	json_object_foreach((json_t *)doc, key, val) {
		for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
			if (strcmp(key, fields[i]) == 0)
				break;
		if (i == sizeof(fields) / sizeof(fields[0])) {
			load_err(e, name, "unknown field \"%.40s\"", key);
			goto out;
		}
	}
	if ((s = str_member(doc, "issuer")) == NULL) {
		load_err(e, name, "issuer must be a URL string");
		goto out;
	}
	if (oidc_issuer_url_ok(s, &le) == -1) {
		load_err(e, name, "issuer: %s", le.msg);
		goto out;
	}
	if ((is.issuer = strdup(s)) == NULL ||
	    (is.key_prefix = strdup(strip_scheme(s))) == NULL ||
	    (is.name = strdup(name)) == NULL) {
		load_err(e, name, "out of memory");
		goto out;
	}

	auds = json_object_get(doc, "audiences");
	if (!json_is_array(auds) || json_array_size(auds) == 0 ||
	    json_array_size(auds) > OIDC_MAX_AUDIENCES) {
		load_err(e, name, "audiences must be an array of 1 to %d "
		    "strings", OIDC_MAX_AUDIENCES);
		goto out;
	}
	if ((is.audiences = calloc(json_array_size(auds),
	    sizeof(*is.audiences))) == NULL) {
		load_err(e, name, "out of memory");
		goto out;
	}
	for (i = 0; i < json_array_size(auds); i++) {
		v = json_array_get(auds, i);
		s = json_string_value(v);
		if (s == NULL || *s == '\0' || strlen(s) > AUD_MAX ||
		    strlen(s) != json_string_length(v)) {
			load_err(e, name, "audiences[%zu] must be a string of "
			    "1 to %d bytes", i, AUD_MAX);
			goto out;
		}
		if ((is.audiences[i] = strdup(s)) == NULL) {
			load_err(e, name, "out of memory");
			goto out;
		}
		is.naudiences++;
	}

	is.cache_ttl = OIDC_JWKS_TTL;
	if ((v = json_object_get(doc, "jwks_cache_seconds")) != NULL) {
		if (!json_is_integer(v) || json_integer_value(v) < TTL_MIN ||
		    json_integer_value(v) > TTL_MAX) {
			load_err(e, name, "jwks_cache_seconds must be an "
			    "integer from %d to %d", TTL_MIN, TTL_MAX);
			goto out;
		}
		is.cache_ttl = json_integer_value(v);
	}

	if (json_object_get(doc, "ca_file") != NULL) {
		if ((s = str_member(doc, "ca_file")) == NULL) {
			load_err(e, name, "ca_file must be a file name");
			goto out;
		}
		if (resolve(path, sizeof(path), dir, s) == -1) {
			load_err(e, name, "ca_file: path too long");
			goto out;
		}
		/* Found now, not at the first token: a typo fails the load. */
		if (stat(path, &st) == -1) {
			load_err(e, name, "ca_file %s: %s", path,
			    strerror(errno));
			goto out;
		}
		if (!S_ISREG(st.st_mode)) {
			load_err(e, name, "ca_file %s: not a regular file",
			    path);
			goto out;
		}
		if ((is.ca_file = strdup(path)) == NULL) {
			load_err(e, name, "out of memory");
			goto out;
		}
	}

	if (json_object_get(doc, "jwks_file") != NULL) {
		if ((s = str_member(doc, "jwks_file")) == NULL) {
			load_err(e, name, "jwks_file must be a file name");
			goto out;
		}
		if (resolve(path, sizeof(path), dir, s) == -1) {
			load_err(e, name, "jwks_file: path too long");
			goto out;
		}
		if ((is.keys = load_jwks_file(path, &le)) == NULL) {
			load_err(e, name, "jwks_file: %s", le.msg);
			goto out;
		}
	}
	*out = is;
	memset(&is, 0, sizeof(is));
	ret = 0;
out:
	oidc_issuer_clear(&is);
	return ret;
}

void
oidc_issuer_clear(struct oidc_issuer *iss)
{
	size_t i;

	if (iss == NULL)
		return;
	for (i = 0; i < iss->naudiences; i++)
		free(iss->audiences[i]);
	free(iss->audiences);
	free(iss->name);
	free(iss->issuer);
	free(iss->key_prefix);
	free(iss->ca_file);
	oidc_keys_unref(iss->keys);
	memset(iss, 0, sizeof(*iss));
}

static void
keys_free(struct oidc_keys *k)
{
	size_t i;

	if (k == NULL)
		return;
	for (i = 0; i < k->n; i++) {
		free(k->v[i].kid);
		EVP_PKEY_free(k->v[i].pkey);
	}
	free(k);
}

struct oidc_keys *
oidc_keys_ref(struct oidc_keys *k)
{
	if (k != NULL)
		atomic_fetch_add_explicit(&k->refs, 1, memory_order_relaxed);
	return k;
}

void
oidc_keys_unref(struct oidc_keys *k)
{
	if (k != NULL &&
	    atomic_fetch_sub_explicit(&k->refs, 1, memory_order_acq_rel) == 1)
		keys_free(k);
}

/*
 * Is JWK `i` one to leave out? Keys of another type, use or algorithm are
 * someone else's (a JWKS may publish encryption keys and PS256 or ES384
 * ones beside ours): 1. Malformed members: -1 and `e`. Ours: 0.
 */
static int
jwk_skipped(const json_t *jwk, size_t i, struct err *e)
{
	const json_t *use, *alg;
	const char *kty, *crv;
	enum jws_alg a;

	if ((kty = json_string_value(json_object_get(jwk, "kty"))) == NULL) {
		err_set(e, "keys[%zu] has no kty string", i);
		return -1;
	}
	if (strcmp(kty, "RSA") != 0 && strcmp(kty, "EC") != 0)
		return 1;
	use = json_object_get(jwk, "use");
	alg = json_object_get(jwk, "alg");
	if ((use != NULL && !json_is_string(use)) ||
	    (alg != NULL && !json_is_string(alg))) {
		err_set(e, "keys[%zu]: use and alg must be strings", i);
		return -1;
	}
	if (use != NULL && strcmp(json_string_value(use), "sig") != 0)
		return 1;
	if (alg != NULL && jws_alg_parse(json_string_value(alg), &a) == -1)
		return 1;
	crv = json_string_value(json_object_get(jwk, "crv"));
	if (alg == NULL && strcmp(kty, "EC") == 0 && crv != NULL &&
	    strcmp(crv, "P-256") != 0)
		return 1;
	return 0;
}

struct oidc_keys *
oidc_keys_parse(const json_t *jwks, struct err *e)
{
	struct oidc_keys *k = NULL, *ret = NULL;
	struct oidc_key *key;
	const json_t *arr, *jwk, *kid;
	struct err ke;
	char lt[68];
	size_t i, j, n;
	int skip;

	arr = json_object_get(jwks, "keys");
	if (!json_is_object(jwks) || !json_is_array(arr)) {
		err_set(e, "JWKS is not an object with a \"keys\" array");
		goto out;
	}
	if ((n = json_array_size(arr)) > OIDC_JWKS_KEYS_MAX) {
		err_set(e, "JWKS has %zu keys (at most %d)", n,
		    OIDC_JWKS_KEYS_MAX);
		goto out;
	}
	if ((k = calloc(1, sizeof(*k) + n * sizeof(k->v[0]))) == NULL) {
		err_set(e, "out of memory");
		goto out;
	}
	atomic_init(&k->refs, 1);
	for (i = 0; i < n; i++) {
		jwk = json_array_get(arr, i);
		if (!json_is_object(jwk)) {
			err_set(e, "keys[%zu] is not an object", i);
			goto out;
		}
		if ((skip = jwk_skipped(jwk, i, e)) == -1)
			goto out;
		if (skip)
			continue;
		key = &k->v[k->n];
		if ((kid = json_object_get(jwk, "kid")) != NULL) {
			if (!json_is_string(kid) ||
			    json_string_length(kid) == 0 ||
			    json_string_length(kid) > KID_MAX ||
			    strlen(json_string_value(kid)) !=
			    json_string_length(kid)) {
				err_set(e, "keys[%zu]: kid must be a string of "
				    "1 to %d bytes", i, KID_MAX);
				goto out;
			}
			/* Two keys under one name: which one would sign? */
			for (j = 0; j < k->n; j++)
				if (k->v[j].kid != NULL && strcmp(k->v[j].kid,
				    json_string_value(kid)) == 0) {
					err_set(e, "keys[%zu]: kid \"%s\" is "
					    "used twice", i, log_text(
					    json_string_value(kid), lt));
					goto out;
				}
			if ((key->kid = strdup(json_string_value(kid))) ==
			    NULL) {
				err_set(e, "out of memory");
				goto out;
			}
		}
		/* k->n counts the slot now: keys_free frees its kid. */
		k->n++;
		if ((key->pkey = jws_jwk_to_pkey(jwk, &key->alg, &ke)) ==
		    NULL) {
			err_set(e, "keys[%zu]: %s", i, ke.msg);
			goto out;
		}
	}
	if (k->n == 0) {
		err_set(e, "JWKS has no RS256 or ES256 signing key");
		goto out;
	}
	ret = k;
	k = NULL;
out:
	keys_free(k);
	return ret;
}

EVP_PKEY *
oidc_keys_find(const struct oidc_keys *k, const char *kid, enum jws_alg *alg)
{
	size_t i;

	if (k == NULL || k->n == 0)
		return NULL;
	if (kid == NULL) {
		if (k->n != 1)
			return NULL;
		i = 0;
	} else {
		for (i = 0; i < k->n; i++)
			if (k->v[i].kid != NULL && strcmp(k->v[i].kid, kid) == 0)
				break;
		if (i == k->n)
			return NULL;
	}
	if (alg != NULL)
		*alg = k->v[i].alg;
	return k->v[i].pkey;
}

/* ---- fetching */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_FAILED_INIT;

static void
curl_init(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

struct body {
	char	*buf;
	size_t	 len;
	size_t	 cap;
	int	 over;
};

static size_t
body_write(char *p, size_t size, size_t nmemb, void *arg)
{
	struct body *b = arg;
	size_t n = size * nmemb, cap;
	char *nb;

	/* Returning less than n aborts the transfer. */
	if (n > OIDC_JWKS_MAX - b->len) {
		b->over = 1;
		return 0;
	}
	if (b->len + n + 1 > b->cap) {
		cap = b->cap == 0 ? 16384 : b->cap * 2;
		if (cap < b->len + n + 1)
			cap = b->len + n + 1;
		if (cap > OIDC_JWKS_MAX + 1)
			cap = OIDC_JWKS_MAX + 1;
		if ((nb = realloc(b->buf, cap)) == NULL)
			return 0;
		b->buf = nb;
		b->cap = cap;
	}
	memcpy(b->buf + b->len, p, n);
	b->len += n;
	b->buf[b->len] = '\0';
	return n;
}

/*
 * GET `url` (at most OIDC_JWKS_MAX bytes; 200 only; no redirect; TLS
 * verified against `ca_file` alone when set, else the system CAs). `what`
 * names the document in messages.
 */
static char *
http_get(const char *url, const char *ca_file, const char *what, size_t *len,
    struct err *e)
{
	char errbuf[CURL_ERROR_SIZE];
	struct body b = { NULL, 0, 0, 0 };
	struct curl_slist *hdr = NULL;
	CURL *c = NULL;
	CURLcode rc;
	long status = 0;
	char *ret = NULL;

	if (pthread_once(&curl_once, curl_init) != 0 ||
	    curl_init_rc != CURLE_OK || (c = curl_easy_init()) == NULL ||
	    (hdr = curl_slist_append(NULL, "Accept: application/json")) ==
	    NULL) {
		err_set(e, "%s: cannot start libcurl", what);
		goto out;
	}
	errbuf[0] = '\0';
	if (curl_easy_setopt(c, CURLOPT_URL, url) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https") !=
	    CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_MS) !=
	    CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, TOTAL_MS) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE,
	    (curl_off_t)OIDC_JWKS_MAX) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, body_write) !=
	    CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_USERAGENT, "regauthd") != CURLE_OK) {
		err_set(e, "%s: cannot set up libcurl", what);
		goto out;
	}
	/* A private CA replaces the system's, directory included. */
	if (ca_file != NULL &&
	    (curl_easy_setopt(c, CURLOPT_CAINFO, ca_file) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_CAPATH, NULL) != CURLE_OK)) {
		err_set(e, "%s: cannot set ca_file", what);
		goto out;
	}
	rc = curl_easy_perform(c);
	if (b.over || rc == CURLE_FILESIZE_EXCEEDED) {
		err_set(e, "%s: larger than %d bytes", what, OIDC_JWKS_MAX);
		goto out;
	}
	if (rc != CURLE_OK) {
		err_set(e, "%s: %s", what, errbuf[0] != '\0' ? errbuf :
		    curl_easy_strerror(rc));
		goto out;
	}
	if (curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status) !=
	    CURLE_OK || status != 200) {
		err_set(e, "%s: HTTP status %ld (want 200)", what, status);
		goto out;
	}
	if (b.buf == NULL && (b.buf = calloc(1, 1)) == NULL) {
		err_set(e, "%s: out of memory", what);
		goto out;
	}
	*len = b.len;
	ret = b.buf;
	b.buf = NULL;
out:
	free(b.buf);
	curl_slist_free_all(hdr);
	curl_easy_cleanup(c);
	return ret;
}

/* A JSON document by GET; `what` names it in messages. */
static json_t *
get_json(const char *url, const char *ca_file, const char *what,
    struct err *e)
{
	json_t *j = NULL;
	char *body;
	size_t len = 0;

	if ((body = http_get(url, ca_file, what, &len, e)) == NULL)
		return NULL;
	if ((j = util_json_loadb(body, len, what, e)) != NULL &&
	    !json_is_object(j)) {
		err_set(e, "%s: not a JSON object", what);
		json_decref(j);
		j = NULL;
	}
	free(body);
	return j;
}

/* Discovery, then its jwks_uri: the issuer's keys now. */
static struct oidc_keys *
fetch_keys(const struct oidc_issuer *iss, struct err *e)
{
	char url[URL_MAX + sizeof(DISCOVERY)], what[URL_MAX + 64];
	struct oidc_keys *k = NULL;
	json_t *disc = NULL, *jwks = NULL;
	const char *s, *uri;
	struct err ue;

	snprintf(url, sizeof(url), "%.*s" DISCOVERY, (int)(strlen(iss->issuer)
	    - (iss->issuer[strlen(iss->issuer) - 1] == '/')), iss->issuer);
	snprintf(what, sizeof(what), "GET %.120s", url);
	if ((disc = get_json(url, iss->ca_file, what, e)) == NULL)
		goto out;
	s = json_string_value(json_object_get(disc, "issuer"));
	if (s == NULL || strcmp(s, iss->issuer) != 0) {
		err_set(e, "%s: the document names another issuer", what);
		goto out;
	}
	uri = json_string_value(json_object_get(disc, "jwks_uri"));
	if (uri == NULL || oidc_issuer_url_ok(uri, &ue) == -1) {
		err_set(e, "%s: jwks_uri refused: %s", what, uri == NULL ?
		    "missing" : ue.msg);
		goto out;
	}
	snprintf(what, sizeof(what), "GET %.120s", uri);
	if ((jwks = get_json(uri, iss->ca_file, what, e)) == NULL)
		goto out;
	if ((k = oidc_keys_parse(jwks, &ue)) == NULL)
		err_set(e, "%s: %s", what, ue.msg);
out:
	json_decref(disc);
	json_decref(jwks);
	return k;
}

/* ---- the process-wide cache of fetched keys */

struct cache_ent {
	char			*issuer;
	struct oidc_keys	*keys;		/* NULL: none fetched yet */
	int64_t			 fetched_at;
	int64_t			 last_attempt;	/* NEVER, or a start */
	uint64_t		 gen;		/* fetches ended */
	unsigned		 users;		/* holders while unlocked */
	int			 fetching;
	char			 last_err[sizeof(((struct err *)0)->msg)];
};

static pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cache_cv = PTHREAD_COND_INITIALIZER;
static struct cache_ent *cache[CACHE_MAX];
static size_t ncache;

static void
ent_free(struct cache_ent *ent)
{
	if (ent == NULL)
		return;
	oidc_keys_unref(ent->keys);
	free(ent->issuer);
	free(ent);
}

/* The entry of `issuer`, made if need be (cache_mu held); NULL: full. */
static struct cache_ent *
cache_get(const char *issuer)
{
	struct cache_ent *ent;
	size_t i, victim = CACHE_MAX;

	for (i = 0; i < ncache; i++)
		if (strcmp(cache[i]->issuer, issuer) == 0)
			return cache[i];
	if (ncache == CACHE_MAX) {
		/* Issuers a reload dropped linger: reuse the oldest idle. */
		for (i = 0; i < ncache; i++)
			if (cache[i]->users == 0 && (victim == CACHE_MAX ||
			    cache[i]->last_attempt <
			    cache[victim]->last_attempt))
				victim = i;
		if (victim == CACHE_MAX)
			return NULL;
		ent_free(cache[victim]);
		cache[victim] = cache[--ncache];
	}
	if ((ent = calloc(1, sizeof(*ent))) == NULL ||
	    (ent->issuer = strdup(issuer)) == NULL) {
		free(ent);
		return NULL;
	}
	ent->last_attempt = NEVER;
	cache[ncache++] = ent;
	return ent;
}

/* Should this caller fetch (cache_mu held)? */
static int
need_fetch(const struct cache_ent *ent, const struct oidc_issuer *iss,
    const char *kid, int64_t now)
{
	int64_t ttl = iss->cache_ttl > 0 ? iss->cache_ttl : OIDC_JWKS_TTL;
	enum jws_alg alg;

	/* A clock stepped back counts as long ago, not as recent. */
	if (ent->last_attempt != NEVER && now >= ent->last_attempt &&
	    now - ent->last_attempt < OIDC_REFETCH_MIN)
		return 0;
	if (ent->keys == NULL || now < ent->fetched_at ||
	    now - ent->fetched_at >= ttl)
		return 1;
	return oidc_keys_find(ent->keys, kid, &alg) == NULL;
}

/*
 * The keys to check a token of `iss` signed by `kid`: a new reference, or
 * NULL. `why` receives the error of the last fetch when it failed (stale
 * keys, if any, are still returned).
 */
static struct oidc_keys *
issuer_keys(const struct oidc_issuer *iss, const char *kid, int64_t now,
    struct err *why)
{
	struct cache_ent *ent;
	struct oidc_keys *got = NULL, *fresh;
	struct err fe;
	uint64_t gen;
	int waited = 0;

	if (iss->keys != NULL)
		return oidc_keys_ref(iss->keys);
	pthread_mutex_lock(&cache_mu);
	if ((ent = cache_get(iss->issuer)) == NULL) {
		err_set(why, "JWKS cache full or out of memory");
		goto out;
	}
	ent->users++;
	for (;;) {
		if (ent->fetching) {
			gen = ent->gen;
			while (ent->fetching && ent->gen == gen)
				pthread_cond_wait(&cache_cv, &cache_mu);
			waited = 1;
			continue;
		}
		/* After waiting for another thread's fetch, use its result. */
		if (waited || !need_fetch(ent, iss, kid, now))
			break;
		ent->fetching = 1;
		ent->last_attempt = now;
		pthread_mutex_unlock(&cache_mu);
		fresh = fetch_keys(iss, &fe);
		pthread_mutex_lock(&cache_mu);
		ent->fetching = 0;
		ent->gen++;
		if (fresh != NULL) {
			oidc_keys_unref(ent->keys);
			ent->keys = fresh;
			ent->fetched_at = now;
			ent->last_err[0] = '\0';
		} else
			snprintf(ent->last_err, sizeof(ent->last_err), "%s",
			    fe.msg);
		pthread_cond_broadcast(&cache_cv);
		break;
	}
	if (ent->last_err[0] != '\0')
		err_set(why, "%s", ent->last_err);
	got = oidc_keys_ref(ent->keys);
	if (--ent->users == 0)
		pthread_cond_broadcast(&cache_cv);
out:
	pthread_mutex_unlock(&cache_mu);
	return got;
}

void
oidc_cache_reset(void)
{
	size_t i;
	int busy;

	pthread_mutex_lock(&cache_mu);
	for (;;) {
		for (busy = 0, i = 0; i < ncache; i++)
			busy |= cache[i]->users != 0;
		if (!busy)
			break;
		pthread_cond_wait(&cache_cv, &cache_mu);
	}
	for (i = 0; i < ncache; i++)
		ent_free(cache[i]);
	ncache = 0;
	pthread_mutex_unlock(&cache_mu);
}

/* ---- verification */

struct lookup_arg {
	const struct oidc_issuer *iss;
	int64_t			 now;
	struct oidc_keys	*keys;		/* held until jws_verify ends */
	struct err		 why;		/* of a failed fetch */
	char			 kid[68];	/* for messages */
	int			 looked_up;
	int			 found;
	int			 bad_kid;
};

/* jws_verify's key lookup: the header's kid among the issuer's keys. */
static EVP_PKEY *
lookup_key(void *arg, const json_t *header, enum jws_alg *alg)
{
	struct lookup_arg *la = arg;
	const json_t *k = json_object_get(header, "kid");
	const char *kid = NULL;
	EVP_PKEY *key;

	la->looked_up = 1;
	if (k != NULL) {
		kid = json_string_value(k);
		if (kid == NULL || *kid == '\0' ||
		    json_string_length(k) > KID_MAX ||
		    strlen(kid) != json_string_length(k)) {
			la->bad_kid = 1;
			return NULL;
		}
		log_text(kid, la->kid);
	} else
		snprintf(la->kid, sizeof(la->kid), "none");
	la->keys = issuer_keys(la->iss, kid, la->now, &la->why);
	key = oidc_keys_find(la->keys, kid, alg);
	la->found = key != NULL;
	return key;
}

/* The claims of a compact JWS, unverified: only to find the issuer. */
static json_t *
unverified_claims(const char *token, size_t len)
{
	const char *d1, *d2;
	unsigned char *p;
	size_t plen = 0;
	json_t *j = NULL;

	if ((d1 = memchr(token, '.', len)) == NULL ||
	    (d2 = memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - token))) == NULL)
		return NULL;
	if ((p = jws_b64url_decode_new(d1 + 1, (size_t)(d2 - d1 - 1),
	    &plen)) == NULL)
		return NULL;
	j = util_json_loadb((const char *)p, plen, "claims", NULL);
	util_secure_free(p, plen);
	if (j != NULL && !json_is_object(j)) {
		json_decref(j);
		j = NULL;
	}
	return j;
}

/* Does aud (a string or an array of strings) name one of our audiences? */
static int
aud_ok(const json_t *aud, const struct oidc_issuer *iss, struct err *e)
{
	const json_t *v;
	size_t i, j, n;

	if (json_is_string(aud))
		n = 1;
	else if (json_is_array(aud))
		n = json_array_size(aud);
	else {
		err_set(e, "token aud is missing or not a string or array");
		return 0;
	}
	for (i = 0; i < n; i++) {
		v = json_is_string(aud) ? aud : json_array_get(aud, i);
		if (!json_is_string(v)) {
			err_set(e, "token aud holds a non-string");
			return 0;
		}
		for (j = 0; j < iss->naudiences; j++)
			if (strlen(iss->audiences[j]) == json_string_length(v) &&
			    strcmp(iss->audiences[j], json_string_value(v)) == 0)
				return 1;
	}
	err_set(e, "token aud names none of the issuer's audiences");
	return 0;
}

/* A time claim: absent (0), an integer (1, *out), or anything else (-1). */
static int
time_claim(const json_t *c, const char *name, int64_t *out)
{
	const json_t *v = json_object_get(c, name);

	if (v == NULL)
		return 0;
	if (!json_is_integer(v))
		return -1;
	*out = json_integer_value(v);
	return 1;
}

/* The claim checks of oidc.h, after the signature. */
static int
claims_ok(const json_t *c, const struct oidc_issuer *iss, int64_t now,
    struct err *e)
{
	const json_t *sub;
	const char *s;
	int64_t exp = 0, nbf = 0, iat = 0;
	int r;

	s = json_string_value(json_object_get(c, "iss"));
	if (s == NULL || strcmp(s, iss->issuer) != 0) {
		err_set(e, "token iss changed under the signature");
		return 0;
	}
	if ((r = time_claim(c, "exp", &exp)) != 1) {
		err_set(e, "token exp is %s", r == 0 ? "missing" :
		    "not an integer");
		return 0;
	}
	if (exp <= now - OIDC_LEEWAY) {
		err_set(e, "token expired (exp %lld, now %lld)",
		    (long long)exp, (long long)now);
		return 0;
	}
	if ((r = time_claim(c, "nbf", &nbf)) == -1) {
		err_set(e, "token nbf is not an integer");
		return 0;
	}
	if (r == 1 && nbf > now + OIDC_LEEWAY) {
		err_set(e, "token not valid yet (nbf %lld, now %lld)",
		    (long long)nbf, (long long)now);
		return 0;
	}
	if ((r = time_claim(c, "iat", &iat)) == -1) {
		err_set(e, "token iat is not an integer");
		return 0;
	}
	if (r == 1 && iat > now + OIDC_LEEWAY) {
		err_set(e, "token issued in the future (iat %lld, now %lld)",
		    (long long)iat, (long long)now);
		return 0;
	}
	if (!aud_ok(json_object_get(c, "aud"), iss, e))
		return 0;
	sub = json_object_get(c, "sub");
	if (!json_is_string(sub) || json_string_length(sub) == 0) {
		err_set(e, "token sub is missing or empty");
		return 0;
	}
	return 1;
}

int
oidc_verify(const struct oidc_issuer *issuers, size_t n, const char *token,
    int64_t now, const struct oidc_issuer **which, json_t **claims,
    struct err *e)
{
	struct lookup_arg la;
	const struct oidc_issuer *iss = NULL;
	json_t *unver = NULL, *h = NULL, *c = NULL;
	struct err ve;
	const char *s;
	char lt[68];
	size_t len, i;
	int ret = -1;

	memset(&la, 0, sizeof(la));
	if (token == NULL || (len = strnlen(token, OIDC_TOKEN_MAX + 1)) == 0 ||
	    len > OIDC_TOKEN_MAX) {
		err_set(e, "oidc: token empty or longer than %d bytes",
		    OIDC_TOKEN_MAX);
		goto out;
	}
	if ((unver = unverified_claims(token, len)) == NULL) {
		err_set(e, "oidc: token is not a JWS with a JSON object "
		    "payload");
		goto out;
	}
	if ((s = json_string_value(json_object_get(unver, "iss"))) == NULL) {
		err_set(e, "oidc: token has no iss string");
		goto out;
	}
	for (i = 0; i < n && iss == NULL; i++)
		if (issuers[i].issuer != NULL &&
		    strcmp(issuers[i].issuer, s) == 0)
			iss = &issuers[i];
	if (iss == NULL) {
		err_set(e, "oidc: issuer \"%s\" is not trusted",
		    log_text(s, lt));
		goto out;
	}
	la.iss = iss;
	la.now = now;
	if (jws_verify(token, len, lookup_key, &la, &h, &c, &ve) == -1) {
		if (la.bad_kid)
			err_set(e, "oidc/%s: token kid must be a string of 1 "
			    "to %d bytes", iss->name, KID_MAX);
		else if (la.looked_up && !la.found)
			err_set(e, "oidc/%s: no key for kid %s%s%s", iss->name,
			    la.kid, la.why.msg[0] != '\0' ? "; last fetch: " :
			    "", la.why.msg);
		else
			err_set(e, "oidc/%s: %s", iss->name, ve.msg);
		goto out;
	}
	if (!claims_ok(c, iss, now, &ve)) {
		err_set(e, "oidc/%s: %s", iss->name, ve.msg);
		goto out;
	}
	if (which != NULL)
		*which = iss;
	if (claims != NULL) {
		*claims = c;
		c = NULL;
	}
	ret = 0;
out:
	oidc_keys_unref(la.keys);
	json_decref(unver);
	json_decref(h);
	json_decref(c);
	return ret;
}

/* ---- claims as policy context */

struct flat {
	json_t		*out;
	const char	*prefix;
	size_t		 nkeys;
	struct err	*e;
};

/*
 * A scalar as a new string: strings as they are, numbers and booleans as
 * their JSON text. NULL with *bad 0: not a scalar; with *bad 1: too long
 * or holding a NUL.
 */
static json_t *
scalar_text(const json_t *v, const char *name, struct err *e, int *bad)
{
	char buf[64];

	*bad = 0;
	if (json_is_string(v)) {
		if (json_string_length(v) > OIDC_CLAIM_VALUE_MAX ||
		    strlen(json_string_value(v)) != json_string_length(v)) {
			err_set(e, "claim %s is longer than %d bytes or holds "
			    "a NUL", name, OIDC_CLAIM_VALUE_MAX);
			*bad = 1;
			return NULL;
		}
		return json_string(json_string_value(v));
	}
	if (json_is_integer(v)) {
		snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT,
		    json_integer_value(v));
		return json_string(buf);
	}
	if (json_is_real(v))
		return json_string(policy_real_text(json_real_value(v), buf,
		    sizeof(buf)));
	if (json_is_true(v))
		return json_string("true");
	if (json_is_false(v))
		return json_string("false");
	return NULL;
}

/* An array of scalars as strings; NULL with *bad 0: not such an array. */
static json_t *
array_text(const json_t *a, const char *name, struct err *e, int *bad)
{
	json_t *out = NULL, *s;
	const json_t *v;
	size_t i;

	*bad = 0;
	for (i = 0; i < json_array_size(a); i++) {
		v = json_array_get(a, i);
		if (json_is_object(v) || json_is_array(v))
			return NULL;
	}
	if (json_array_size(a) > OIDC_CLAIMS_MAX) {
		err_set(e, "claim %s holds more than %d values", name,
		    OIDC_CLAIMS_MAX);
		*bad = 1;
		return NULL;
	}
	if ((out = json_array()) == NULL)
		goto oom;
	for (i = 0; i < json_array_size(a); i++) {
		v = json_array_get(a, i);
		if (json_is_null(v))
			continue;
		if ((s = scalar_text(v, name, e, bad)) == NULL) {
			if (*bad)
				goto fail;
			goto oom;
		}
		if (json_array_append_new(out, s) == -1)
			goto oom;
	}
	return out;
oom:
	err_set(e, "out of memory");
	*bad = 1;
fail:
	json_decref(out);
	return NULL;
}

static int
flatten(struct flat *f, const json_t *obj, const char *path, int depth)
{
	char name[OIDC_CLAIM_NAME_MAX + 1], key[2 * OIDC_CLAIM_NAME_MAX + 2];
	char lt[68];
	const char *k;
	json_t *v, *s;
	size_t klen;
	int n, bad;

	json_object_keylen_foreach((json_t *)obj, k, klen, v) {
		if (json_is_null(v))
			continue;
		n = snprintf(name, sizeof(name), "%s%s%s", path,
		    *path != '\0' ? "/" : "", k);
		if (klen == 0 || strlen(k) != klen || n < 0 ||
		    (size_t)n >= sizeof(name)) {
			err_set(f->e, "claim name \"%s\" is empty, longer than "
			    "%d bytes or holds a NUL", log_text(name, lt),
			    OIDC_CLAIM_NAME_MAX);
			return -1;
		}
		if (json_is_object(v)) {
			/* Deeper than FLAT_DEPTH: left out, not an error. */
			if (depth < FLAT_DEPTH &&
			    flatten(f, v, name, depth + 1) == -1)
				return -1;
			continue;
		}
		if (json_is_array(v))
			s = array_text(v, log_text(name, lt), f->e, &bad);
		else
			s = scalar_text(v, log_text(name, lt), f->e, &bad);
		if (s == NULL) {
			if (bad)
				return -1;
			if (json_is_array(v))
				continue;	/* holds objects: left out */
			err_set(f->e, "out of memory");
			return -1;
		}
		snprintf(key, sizeof(key), "%s%s", f->prefix, name);
		/* "a/b" as a claim and as a nested one: refuse to choose. */
		if (json_object_get(f->out, key) != NULL) {
			err_set(f->e, "claim %s appears twice", log_text(name,
			    lt));
			json_decref(s);
			return -1;
		}
		if (++f->nkeys > OIDC_CLAIMS_MAX) {
			err_set(f->e, "more than %d claims", OIDC_CLAIMS_MAX);
			json_decref(s);
			return -1;
		}
		if (json_object_set_new(f->out, key, s) == -1) {
			err_set(f->e, "out of memory");
			return -1;
		}
	}
	return 0;
}

int
oidc_flatten_claims(const json_t *claims, const char *prefix, json_t *ctx,
    struct err *e)
{
	struct flat f;
	const char *k;
	json_t *v;
	int ret = -1;

	memset(&f, 0, sizeof(f));
	if (!json_is_object(claims) || !json_is_object(ctx) || prefix == NULL ||
	    strlen(prefix) > OIDC_CLAIM_NAME_MAX) {
		err_set(e, "%s: bad arguments", __func__);
		return -1;
	}
	/* Into a new object first: on error `ctx` is left as it was. */
	if ((f.out = json_object()) == NULL) {
		err_set(e, "out of memory");
		return -1;
	}
	f.prefix = prefix;
	f.e = e;
	if (flatten(&f, claims, "", 1) == -1)
		goto out;
	json_object_foreach(f.out, k, v)
		if (json_object_get(ctx, k) != NULL) {
			err_set(e, "claim key %.100s is already set", k);
			goto out;
		}
	if (json_object_update(ctx, f.out) == -1) {
		err_set(e, "out of memory");
		goto out;
	}
	ret = 0;
out:
	json_decref(f.out);
	return ret;
}
