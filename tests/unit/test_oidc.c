/*
 * Unit tests of tokenserver/oidc.c: issuer URLs and file names, oidc/NAME.json
 * loading, JWKS parsing, token verification against a real HTTP issuer (a
 * libmicrohttpd daemon on 127.0.0.1 serving discovery and a JWKS, counting
 * requests): claim checks, the refetch and cache rules, refusals of alg
 * none, HS256 keyed with the public key and alg/key mismatches, discovery
 * and transport failures, TLS with a private CA, static jwks_file issuers,
 * concurrent verifiers, and the flattening of claims for policies.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "oidc.h"

#define T0	1700000000LL	/* "now" of the tests */
#define AUD	"regauth"
#define SUB	"repo:acme/app:ref:refs/heads/main"

/* ---- the issuer: a libmicrohttpd daemon */

struct srv {
	struct MHD_Daemon *d;
	unsigned short	 port;
	char		 base[64];	/* http(s)://127.0.0.1:PORT */
	pthread_mutex_t	 mu;
	int		 ndisc, njwks, nother;
	char		*jwks;		/* body of /jwks */
	char		*disc_issuer;	/* NULL: base */
	char		*jwks_uri;	/* NULL: base/jwks */
	int		 disc_status;
	int		 jwks_status;
	int		 redirect;	/* discovery answers 302 */
	int		 jwks_big;	/* 1: big with length; 2: chunked */
	int		 delay_ms;	/* before a discovery answer */
};

static struct srv web, tls;
static EVP_PKEY *rsa1, *rsa2, *ec1, *ec2;
static char tmpdir[64];
static char *tls_ca_path;

static int
counter(struct srv *s, int *which)
{
	int n;

	pthread_mutex_lock(&s->mu);
	n = *which;
	pthread_mutex_unlock(&s->mu);
	return n;
}

static void
set_str(struct srv *s, char **field, const char *v)
{
	pthread_mutex_lock(&s->mu);
	free(*field);
	*field = v != NULL ? strdup(v) : NULL;
	pthread_mutex_unlock(&s->mu);
}

static void
set_int(struct srv *s, int *field, int v)
{
	pthread_mutex_lock(&s->mu);
	*field = v;
	pthread_mutex_unlock(&s->mu);
}

static ssize_t
big_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
	(void)cls;
	if (pos > 2 * OIDC_JWKS_MAX)
		return MHD_CONTENT_READER_END_OF_STREAM;
	memset(buf, ' ', max);
	return (ssize_t)max;
}

static enum MHD_Result
answer(struct MHD_Connection *c, int status, const char *body,
    const char *location)
{
	struct MHD_Response *r;
	enum MHD_Result rc;

	r = MHD_create_response_from_buffer(strlen(body), (void *)body,
	    MHD_RESPMEM_MUST_COPY);
	MHD_add_response_header(r, "Content-Type", "application/json");
	if (location != NULL)
		MHD_add_response_header(r, "Location", location);
	rc = MHD_queue_response(c, (unsigned)status, r);
	MHD_destroy_response(r);
	return rc;
}

static enum MHD_Result
handler(void *cls, struct MHD_Connection *c, const char *url,
    const char *method, const char *version, const char *upload,
    size_t *upload_size, void **con_cls)
{
	static int started;
	struct srv *s = cls;
	struct MHD_Response *r;
	char body[1024], loc[128];
	char *copy = NULL;
	int status, delay, redirect, big;
	enum MHD_Result rc;

	(void)version;
	(void)upload;
	(void)upload_size;
	if (*con_cls == NULL) {
		*con_cls = &started;
		return MHD_YES;
	}
	if (strcmp(method, "GET") != 0)
		return answer(c, 405, "{}", NULL);
	if (strcmp(url, "/.well-known/openid-configuration") == 0) {
		pthread_mutex_lock(&s->mu);
		s->ndisc++;
		snprintf(body, sizeof(body), "{\"issuer\":\"%s\","
		    "\"jwks_uri\":\"%s%s\",\"response_types_supported\":"
		    "[\"id_token\"]}", s->disc_issuer ? s->disc_issuer : s->base,
		    s->jwks_uri ? s->jwks_uri : s->base,
		    s->jwks_uri ? "" : "/jwks");
		status = s->disc_status;
		delay = s->delay_ms;
		redirect = s->redirect;
		snprintf(loc, sizeof(loc), "%s/elsewhere", s->base);
		pthread_mutex_unlock(&s->mu);
		if (delay > 0)
			usleep((useconds_t)delay * 1000);
		if (redirect)
			return answer(c, 302, "{}", loc);
		return answer(c, status, body, NULL);
	}
	if (strcmp(url, "/jwks") == 0) {
		pthread_mutex_lock(&s->mu);
		s->njwks++;
		status = s->jwks_status;
		copy = strdup(s->jwks != NULL ? s->jwks : "{}");
		big = s->jwks_big;
		pthread_mutex_unlock(&s->mu);
		if (big == 1) {
			free(copy);
			copy = malloc(OIDC_JWKS_MAX + 2);
			memset(copy, ' ', OIDC_JWKS_MAX + 1);
			copy[OIDC_JWKS_MAX + 1] = '\0';
			memcpy(copy, "{\"keys\":[]}", 11);
		} else if (big == 2) {
			free(copy);
			r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN,
			    4096, big_reader, NULL, NULL);
			rc = MHD_queue_response(c, 200, r);
			MHD_destroy_response(r);
			return rc;
		}
		rc = answer(c, status, copy, NULL);
		free(copy);
		return rc;
	}
	pthread_mutex_lock(&s->mu);
	s->nother++;
	pthread_mutex_unlock(&s->mu);
	return answer(c, 404, "{}", NULL);
}

static int
srv_start(struct srv *s, int use_tls, const char *key_pem,
    const char *cert_pem)
{
	struct sockaddr_in sin;
	const union MHD_DaemonInfo *info;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD |
	    MHD_USE_THREAD_PER_CONNECTION;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = 0;
	pthread_mutex_init(&s->mu, NULL);
	if (use_tls)
		s->d = MHD_start_daemon(flags | MHD_USE_TLS, 0, NULL, NULL,
		    handler, s, MHD_OPTION_SOCK_ADDR, &sin,
		    MHD_OPTION_HTTPS_MEM_KEY, key_pem,
		    MHD_OPTION_HTTPS_MEM_CERT, cert_pem, MHD_OPTION_END);
	else
		s->d = MHD_start_daemon(flags, 0, NULL, NULL, handler, s,
		    MHD_OPTION_SOCK_ADDR, &sin, MHD_OPTION_END);
	if (s->d == NULL)
		return -1;
	if ((info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT)) ==
	    NULL || info->port == 0)
		return -1;
	s->port = info->port;
	snprintf(s->base, sizeof(s->base), "%s://127.0.0.1:%u",
	    use_tls ? "https" : "http", (unsigned)s->port);
	return 0;
}

static void
srv_stop(struct srv *s)
{
	if (s->d != NULL)
		MHD_stop_daemon(s->d);
	s->d = NULL;
	free(s->jwks);
	free(s->disc_issuer);
	free(s->jwks_uri);
	s->jwks = s->disc_issuer = s->jwks_uri = NULL;
}

/* ---- keys, JWKS and tokens */

static json_t *
jwk(EVP_PKEY *key, const char *kid)
{
	json_t *j = jws_jwk_new(key, EVP_PKEY_get_base_id(key) == EVP_PKEY_EC ?
	    JWS_ES256 : JWS_RS256, kid);

	assert_non_null(j);
	return j;
}

/* {"keys": [...]} of the keys given, NULL-terminated pairs (key, kid). */
static char *
jwks_text(EVP_PKEY *key, const char *kid, ...)
{
	json_t *keys = json_array(), *doc;
	va_list ap;
	char *text;

	va_start(ap, kid);
	while (key != NULL) {
		json_array_append_new(keys, jwk(key, kid));
		key = va_arg(ap, EVP_PKEY *);
		if (key != NULL)
			kid = va_arg(ap, const char *);
	}
	va_end(ap);
	doc = json_pack("{s:o}", "keys", keys);
	text = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	return text;
}

static void
serve_jwks(struct srv *s, char *text)
{
	set_str(s, &s->jwks, text);
	free(text);
}

static char *
b64(const void *p, size_t n)
{
	char *s = jws_b64url_encode_new(p, n);

	assert_non_null(s);
	return s;
}

/* A token signed by `key` with header alg `alg` and `kid` (NULL: none). */
static char *
mint(EVP_PKEY *key, const char *kid, json_t *claims)
{
	enum jws_alg alg = EVP_PKEY_get_base_id(key) == EVP_PKEY_EC ?
	    JWS_ES256 : JWS_RS256;
	json_t *h = json_pack("{s:s, s:s}", "alg", jws_alg_name(alg), "typ",
	    "JWT");
	char *htext, *hb, *ctext, *tok;
	struct err e;

	if (kid != NULL)
		json_object_set_new(h, "kid", json_string(kid));
	htext = json_dumps(h, JSON_COMPACT);
	hb = b64(htext, strlen(htext));
	ctext = json_dumps(claims, JSON_COMPACT);
	tok = jws_sign_new(key, alg, hb, ctext, strlen(ctext), &e);
	if (tok == NULL)
		fail_msg("jws_sign_new: %s", e.msg);
	free(htext);
	free(hb);
	free(ctext);
	json_decref(h);
	json_decref(claims);
	return tok;
}

/* A token by hand: header and claims text, signature bytes. */
static char *
forge(const char *header, json_t *claims, const unsigned char *sig,
    size_t siglen)
{
	char *ctext = json_dumps(claims, JSON_COMPACT);
	char *h = b64(header, strlen(header)), *c = b64(ctext, strlen(ctext));
	char *s = b64(sig, siglen), *tok;
	size_t n = strlen(h) + strlen(c) + strlen(s) + 3;

	tok = malloc(n);
	snprintf(tok, n, "%s.%s.%s", h, c, s);
	free(ctext);
	free(h);
	free(c);
	free(s);
	json_decref(claims);
	return tok;
}

/* Claims a GitHub Actions token would carry, issued at T0 for 5 minutes. */
static json_t *
claims_for(const char *iss)
{
	json_t *c = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:s, s:s}",
	    "iss", iss, "aud", AUD, "sub", SUB, "iat", (json_int_t)T0,
	    "nbf", (json_int_t)(T0 - 5), "exp", (json_int_t)(T0 + 300),
	    "repository", "acme/app", "ref", "refs/heads/main");

	assert_non_null(c);
	return c;
}

static json_t *
claims_set(json_t *c, const char *name, json_t *v)
{
	if (v == NULL)
		json_object_del(c, name);
	else
		json_object_set_new(c, name, v);
	return c;
}

/* ---- issuers */

static void
write_file(const char *rel, const char *text)
{
	char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, rel);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* oidc_issuer_load of the JSON text, asserting success. */
static void
load_issuer(struct oidc_issuer *out, const char *name, const char *json)
{
	struct err e = { "" };
	json_t *doc = json_loads(json, 0, NULL);

	assert_non_null(doc);
	if (oidc_issuer_load(out, tmpdir, name, doc, &e) == -1)
		fail_msg("oidc_issuer_load %s: %s", json, e.msg);
	json_decref(doc);
}

/* The issuer of server `s`, audiences regauth and other, TTL `ttl`. */
static void
issuer_of(struct oidc_issuer *out, struct srv *s, int ttl)
{
	char json[512];

	snprintf(json, sizeof(json), "{\"issuer\":\"%s\",\"audiences\":"
	    "[\"" AUD "\",\"other\"],\"jwks_cache_seconds\":%d}", s->base, ttl);
	load_issuer(out, "test", json);
}

/* oidc_verify; on success the claims' sub must be SUB. */
static int
verify_at(const struct oidc_issuer *is, size_t n, const char *tok,
    int64_t now, struct err *e)
{
	const struct oidc_issuer *which = NULL;
	json_t *claims = NULL;
	int rc;

	e->msg[0] = '\0';
	rc = oidc_verify(is, n, tok, now, &which, &claims, e);
	if (rc == 0) {
		assert_non_null(which);
		assert_true(which >= is && which < is + n);
		assert_string_equal(json_string_value(json_object_get(claims,
		    "sub")), SUB);
		json_decref(claims);
	} else {
		assert_null(claims);
		assert_true(e->msg[0] != '\0');
		/* The log line never holds the token's signature or claims. */
		if (tok != NULL && strrchr(tok, '.') != NULL &&
		    strlen(strrchr(tok, '.') + 1) >= 8)
			assert_null(strstr(e->msg, strrchr(tok, '.') + 1));
		if (tok != NULL && strchr(tok, '.') != NULL &&
		    strlen(strchr(tok, '.') + 1) >= 24) {
			char part[24];

			memcpy(part, strchr(tok, '.') + 1, 23);
			part[23] = '\0';
			assert_null(strstr(e->msg, part));
		}
	}
	return rc;
}

static void
expect_refused(const struct oidc_issuer *is, const char *tok, int64_t now,
    const char *words)
{
	struct err e;

	if (verify_at(is, 1, tok, now, &e) != -1)
		fail_msg("accepted a token that should fail with \"%s\"", words);
	if (strcasestr(e.msg, words) == NULL)
		fail_msg("error \"%s\" does not say \"%s\"", e.msg, words);
}

static void
expect_ok(const struct oidc_issuer *is, const char *tok, int64_t now)
{
	struct err e;

	if (verify_at(is, 1, tok, now, &e) != 0)
		fail_msg("refused: %s", e.msg);
}

/* ---- fixtures */

/* A self-signed certificate for 127.0.0.1, as PEM key and cert. */
static void
make_tls_cert(char **key_pem, char **cert_pem)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	BIO *bio;
	char *p;
	long n;

	assert_non_null(k);
	X509_set_version(x, X509_VERSION_3);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN",
	    MBSTRING_ASC, (const unsigned char *)"127.0.0.1", -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	X509_set_pubkey(x, k);
	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_alt_name,
	    "IP:127.0.0.1");
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_basic_constraints,
	    "critical,CA:TRUE");
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	assert_true(X509_sign(x, k, EVP_sha256()) > 0);

	bio = BIO_new(BIO_s_mem());
	PEM_write_bio_X509(bio, x);
	n = BIO_get_mem_data(bio, &p);
	*cert_pem = strndup(p, (size_t)n);
	BIO_free(bio);
	bio = BIO_new(BIO_s_mem());
	PEM_write_bio_PrivateKey(bio, k, NULL, NULL, 0, NULL, NULL);
	n = BIO_get_mem_data(bio, &p);
	*key_pem = strndup(p, (size_t)n);
	BIO_free(bio);
	X509_free(x);
	EVP_PKEY_free(k);
}

static int
group_setup(void **state)
{
	char path[PATH_MAX], *key_pem = NULL, *cert_pem = NULL;

	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_oidc.XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/oidc", tmpdir);
	if (mkdir(path, 0700) == -1)
		return -1;
	rsa1 = EVP_RSA_gen(2048);
	rsa2 = EVP_RSA_gen(2048);
	ec1 = EVP_EC_gen("P-256");
	ec2 = EVP_EC_gen("P-256");
	if (!rsa1 || !rsa2 || !ec1 || !ec2 || srv_start(&web, 0, NULL, NULL))
		return -1;
	if (MHD_is_feature_supported(MHD_FEATURE_TLS) == MHD_YES) {
		make_tls_cert(&key_pem, &cert_pem);
		snprintf(path, sizeof(path), "%s/oidc/tls-ca.pem", tmpdir);
		tls_ca_path = strdup(path);
		write_file("oidc/tls-ca.pem", cert_pem);
		if (srv_start(&tls, 1, key_pem, cert_pem) == -1)
			return -1;
		free(key_pem);
		free(cert_pem);
	}
	return 0;
}

static int
group_teardown(void **state)
{
	char cmd[PATH_MAX + 16];

	(void)state;
	srv_stop(&web);
	srv_stop(&tls);
	oidc_cache_reset();
	EVP_PKEY_free(rsa1);
	EVP_PKEY_free(rsa2);
	EVP_PKEY_free(ec1);
	EVP_PKEY_free(ec2);
	free(tls_ca_path);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static void
srv_reset(struct srv *s)
{
	pthread_mutex_lock(&s->mu);
	s->ndisc = s->njwks = s->nother = 0;
	free(s->jwks);
	free(s->disc_issuer);
	free(s->jwks_uri);
	s->jwks = s->disc_issuer = s->jwks_uri = NULL;
	s->disc_status = s->jwks_status = 200;
	s->redirect = s->jwks_big = s->delay_ms = 0;
	pthread_mutex_unlock(&s->mu);
}

/* Before each test: fresh servers publishing r1 (RSA) and e1 (EC), no cache. */
static int
setup(void **state)
{
	(void)state;
	oidc_cache_reset();
	srv_reset(&web);
	serve_jwks(&web, jwks_text(rsa1, "r1", ec1, "e1", NULL));
	if (tls.d != NULL) {
		srv_reset(&tls);
		serve_jwks(&tls, jwks_text(rsa1, "r1", ec1, "e1", NULL));
	}
	return 0;
}

/* ---- URL rule and file names */

static void
test_url_ok(void **state)
{
	static const char *good[] = {
		"https://token.actions.githubusercontent.com",
		"https://gitlab.com",
		"https://gitlab.example.com/group/sub",
		"https://oidc.eks.us-west-2.amazonaws.com/id/"
		    "EXAMPLED539D4633E53DE1B71EXAMPLE",
		"https://container.googleapis.com/v1/projects/p/locations/"
		    "europe-west1/clusters/c",
		"https://kubernetes.default.svc.cluster.local",
		"https://10.0.0.1:6443",
		"https://[2001:db8::1]:8443/oidc",
		"https://host:65535/a%2Fb/c~d",
		"https://my_service.internal",
		"http://127.0.0.1:8080",
		"http://127.1.2.3/x",
		"http://localhost:5556/dex",
		"http://[::1]:9000",
		"http://[0:0:0:0:0:0:0:1]",
		"https://x/", "https://x.com/a/",	/* AKS-style iss */
	};
	static const char *bad[] = {
		"", "ftp://x", "HTTPS://x.com", "https:x.com", "https://",
		"https://x//", "https://x.com/a//", "https://x?a=b", "https://x/a?",
		"https://x#f", "https://u@x", "https://u:p@x.com",
		"http://example.com", "http://10.0.0.1", "http://[::2]",
		"http://[::ffff:127.0.0.1]", "http://localhost.evil.com",
		"http://127.0.0.1.nip.io", "http://0.0.0.0", "https://x:0",
		"https://x:65536", "https://x:", "https://x:08", "https://x:8a",
		"https://x:-1", "https://Example.com", "https://x//a",
		"https://x/./a", "https://x/a/..", "https://x y",
		"https://x/\x01", "https://ex\xc3\xa9.com", "https://[::1",
		"https://[zz]:1", "https://[::1]x", "https://x/%zz",
		"https://x/%2", "https://a..b", "https://.a", "https://a.",
		"https://x/a\"b", "https://x/<a>", "https://x/a\\b",
		"https://x:443:443", "https://x.com\t",
	};
	char longurl[300];
	struct err e;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (oidc_issuer_url_ok(good[i], &e) != 0)
			fail_msg("refused %s: %s", good[i], e.msg);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		e.msg[0] = '\0';
		if (oidc_issuer_url_ok(bad[i], &e) != -1)
			fail_msg("accepted \"%s\"", bad[i]);
		assert_true(e.msg[0] != '\0');
	}
	assert_int_equal(oidc_issuer_url_ok(NULL, &e), -1);
	/* 255 bytes is the limit; a 64-byte label is too long. */
	memset(longurl, 'a', sizeof(longurl));
	memcpy(longurl, "https://x.com/", 14);
	longurl[255] = '\0';
	assert_int_equal(oidc_issuer_url_ok(longurl, &e), 0);
	longurl[255] = 'a';
	longurl[256] = '\0';
	assert_int_equal(oidc_issuer_url_ok(longurl, &e), -1);
	memset(longurl, 'a', sizeof(longurl));
	memcpy(longurl, "https://", 8);
	longurl[8 + 63] = '\0';
	assert_int_equal(oidc_issuer_url_ok(longurl, &e), 0);
	longurl[8 + 63] = 'a';
	longurl[8 + 64] = '\0';
	assert_int_equal(oidc_issuer_url_ok(longurl, &e), -1);
	/* The message says why http:// is refused. */
	assert_int_equal(oidc_issuer_url_ok("http://example.com", &e), -1);
	assert_non_null(strstr(e.msg, "https://"));
}

static void
test_file_name(void **state)
{
	static const struct {
		const char *url, *name;
	} v[] = {
		{ "https://token.actions.githubusercontent.com",
		    "token.actions.githubusercontent.com" },
		{ "https://127.0.0.1:8443/oidc", "127.0.0.1-8443-oidc" },
		{ "https://gitlab.example.com/group/sub",
		    "gitlab.example.com-group-sub" },
		{ "http://[::1]:9000", "---1--9000" },
		{ "http://localhost:5556/dex", "localhost-5556-dex" },
		{ "https://x/a%20b", "x-a-20b" },
		{ "https://my_service", "my_service" },
		{ "", "-" },
		{ ".hidden", "-hidden" },
		{ "https://..", "-." },
	};
	char out[65], url[300];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		memset(out, 'Z', sizeof(out));
		oidc_issuer_file_name(v[i].url, out);
		assert_string_equal(out, v[i].name);
	}
	/* At most 64 bytes. */
	memset(url, 'b', sizeof(url));
	memcpy(url, "https://", 8);
	url[200] = '\0';
	oidc_issuer_file_name(url, out);
	assert_int_equal(strlen(out), 64);
	assert_int_equal(strspn(out, "b"), 64);
}

/* ---- oidc/NAME.json */

static void
test_issuer_load(void **state)
{
	struct oidc_issuer is;
	char json[1024], cwd[PATH_MAX], rel[PATH_MAX], *text;
	struct err e;
	json_t *doc;

	(void)state;
	load_issuer(&is, "github", "{\"issuer\":"
	    "\"https://token.actions.githubusercontent.com\","
	    "\"audiences\":[\"" AUD "\"]}");
	assert_string_equal(is.name, "github");
	assert_string_equal(is.issuer,
	    "https://token.actions.githubusercontent.com");
	assert_string_equal(is.key_prefix,
	    "token.actions.githubusercontent.com");
	assert_int_equal(is.naudiences, 1);
	assert_string_equal(is.audiences[0], AUD);
	assert_null(is.ca_file);
	assert_null(is.keys);
	assert_int_equal(is.cache_ttl, OIDC_JWKS_TTL);
	oidc_issuer_clear(&is);
	oidc_issuer_clear(&is);		/* twice is harmless */
	oidc_issuer_clear(NULL);

	/* Every field; files relative to DIR/oidc/, ca_file made absolute. */
	write_file("oidc/ca.pem", "not checked at load\n");
	text = jwks_text(rsa1, "r1", ec1, "e1", NULL);
	write_file("oidc/k8s.jwks", text);
	free(text);
	load_issuer(&is, "k8s", "{\"issuer\":\"http://127.0.0.1:6443/k8s\","
	    "\"audiences\":[\"a\",\"b\",\"c\"],\"jwks_file\":\"k8s.jwks\","
	    "\"ca_file\":\"ca.pem\",\"jwks_cache_seconds\":60}");
	assert_string_equal(is.key_prefix, "127.0.0.1:6443/k8s");
	assert_int_equal(is.naudiences, 3);
	assert_string_equal(is.audiences[2], "c");
	snprintf(json, sizeof(json), "%s/oidc/ca.pem", tmpdir);
	assert_string_equal(is.ca_file, json);
	assert_non_null(is.keys);
	assert_non_null(oidc_keys_find(is.keys, "r1", NULL));
	assert_non_null(oidc_keys_find(is.keys, "e1", NULL));
	assert_int_equal(is.cache_ttl, 60);
	oidc_issuer_clear(&is);

	/* Absolute file names as they are; the TTL's upper bound. */
	snprintf(json, sizeof(json), "{\"issuer\":\"https://a.example\","
	    "\"audiences\":[\"x\"],\"jwks_file\":\"%s/oidc/k8s.jwks\","
	    "\"ca_file\":\"%s/oidc/ca.pem\",\"jwks_cache_seconds\":86400}",
	    tmpdir, tmpdir);
	load_issuer(&is, "abs", json);
	assert_int_equal(is.cache_ttl, 86400);
	assert_int_equal(strncmp(is.ca_file, tmpdir, strlen(tmpdir)), 0);
	oidc_issuer_clear(&is);

	/* A relative configuration directory still gives an absolute ca_file. */
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir("/tmp"), 0);
	snprintf(rel, sizeof(rel), "%s", tmpdir + strlen("/tmp/"));
	doc = json_loads("{\"issuer\":\"https://a.example\",\"audiences\":"
	    "[\"x\"],\"ca_file\":\"ca.pem\"}", 0, NULL);
	assert_int_equal(oidc_issuer_load(&is, rel, "rel", doc, &e), 0);
	snprintf(json, sizeof(json), "%s/oidc/ca.pem", tmpdir);
	assert_string_equal(is.ca_file, json);
	oidc_issuer_clear(&is);
	json_decref(doc);
	assert_int_equal(chdir(cwd), 0);
}

static void
test_issuer_load_bad(void **state)
{
	static const struct {
		const char *json, *words;
	} v[] = {
		{ "[]", "object" },
		{ "{\"audiences\":[\"a\"]}", "issuer" },
		{ "{\"issuer\":5,\"audiences\":[\"a\"]}", "issuer" },
		{ "{\"issuer\":\"\",\"audiences\":[\"a\"]}", "issuer" },
		{ "{\"issuer\":\"http://example.com\",\"audiences\":[\"a\"]}",
		    "https://" },
		{ "{\"issuer\":\"https://x.com//\",\"audiences\":[\"a\"]}",
		    "issuer" },
		{ "{\"issuer\":\"https://x.com\"}", "audiences" },
		{ "{\"issuer\":\"https://x.com\",\"audiences\":[]}",
		    "audiences" },
		{ "{\"issuer\":\"https://x.com\",\"audiences\":\"a\"}",
		    "audiences" },
		{ "{\"issuer\":\"https://x.com\",\"audiences\":[\"\"]}",
		    "audiences[0]" },
		{ "{\"issuer\":\"https://x.com\",\"audiences\":[\"a\",7]}",
		    "audiences[1]" },
		{ "{\"issuer\":\"https://x.com\",\"audiences\":[\"a\",null]}",
		    "audiences[1]" },
		{ "{\"issuer\":\"https://x.com\",\"audiences\":"
		    "[\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\",\"9\","
		    "\"10\",\"11\",\"12\",\"13\",\"14\",\"15\",\"16\",\"17\"]}",
		    "audiences" },
		{ "{\"issuer\":\"https://x.com\",\"audiences\":[\"a\"],"
		    "\"audience\":\"a\"}", "unknown field \"audience\"" },
		{ "{\"issuer\":\"https://x.com\",\"audiences\":[\"a\"],"
		    "\"jwks_cache_seconds\":59}", "jwks_cache_seconds" },
		{ "{\"issuer\":\"https://x.com\",\"audiences\":[\"a\"],"
		    "\"jwks_cache_seconds\":86401}", "jwks_cache_seconds" },
		{ "{\"issuer\":\"https://x.com\",\"audiences\":[\"a\"],"
		    "\"jwks_cache_seconds\":\"60\"}", "jwks_cache_seconds" },
		{ "{\"issuer\":\"https://x.com\",\"audiences\":[\"a\"],"
		    "\"jwks_cache_seconds\":600.0}", "jwks_cache_seconds" },
		{ "{\"issuer\":\"https://x.com\",\"audiences\":[\"a\"],"
		    "\"jwks_file\":\"\"}", "jwks_file" },
		{ "{\"issuer\":\"https://x.com\",\"audiences\":[\"a\"],"
		    "\"jwks_file\":\"missing.jwks\"}", "No such file" },
		{ "{\"issuer\":\"https://x.com\",\"audiences\":[\"a\"],"
		    "\"jwks_file\":\"bad.jwks\"}", "jwks_file" },
		{ "{\"issuer\":\"https://x.com\",\"audiences\":[\"a\"],"
		    "\"jwks_file\":\"notjson.jwks\"}", "jwks_file" },
		{ "{\"issuer\":\"https://x.com\",\"audiences\":[\"a\"],"
		    "\"jwks_file\":\"big.jwks\"}", "larger" },
		{ "{\"issuer\":\"https://x.com\",\"audiences\":[\"a\"],"
		    "\"ca_file\":\"missing.pem\"}", "ca_file" },
		{ "{\"issuer\":\"https://x.com\",\"audiences\":[\"a\"],"
		    "\"ca_file\":\".\"}", "not a regular file" },
		{ "{\"issuer\":\"https://x.com\",\"audiences\":[\"a\"],"
		    "\"ca_file\":[]}", "ca_file" },
	};
	struct oidc_issuer is;
	struct err e;
	json_t *doc;
	char *big;
	size_t i;

	(void)state;
	write_file("oidc/bad.jwks", "{\"keys\":[{\"kty\":\"RSA\",\"n\":\"AQAB\","
	    "\"e\":\"AQAB\"}]}");
	write_file("oidc/notjson.jwks", "{\"keys\":");
	big = malloc(OIDC_JWKS_MAX + 2);
	memset(big, ' ', OIDC_JWKS_MAX + 1);
	big[OIDC_JWKS_MAX + 1] = '\0';
	memcpy(big, "{}", 2);
	write_file("oidc/big.jwks", big);
	free(big);
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		doc = json_loads(v[i].json, 0, NULL);
		assert_non_null(doc);
		memset(&is, 0x5a, sizeof(is));
		e.msg[0] = '\0';
		if (oidc_issuer_load(&is, tmpdir, "bad", doc, &e) != -1)
			fail_msg("loaded %s", v[i].json);
		if (strncmp(e.msg, "oidc/bad.json: ", 15) != 0 ||
		    strstr(e.msg, v[i].words) == NULL)
			fail_msg("%s: error \"%s\" does not say \"%s\"",
			    v[i].json, e.msg, v[i].words);
		/* The out-parameter is untouched on failure. */
		assert_int_equal(((unsigned char *)&is)[0], 0x5a);
		json_decref(doc);
	}
}

/* ---- JWKS documents */

static json_t *
jwks_doc(json_t *keys)
{
	return json_pack("{s:o}", "keys", keys);
}

static void
test_keys_parse(void **state)
{
	struct oidc_keys *k, *k2;
	struct err e;
	enum jws_alg alg;
	json_t *keys, *doc, *j;

	(void)state;
	/* Ours among others' keys: oct, OKP, encryption, PS256, ES384. */
	keys = json_array();
	json_array_append_new(keys, json_pack("{s:s, s:s, s:s}", "kty", "oct",
	    "k", "c2VjcmV0", "kid", "hmac"));
	json_array_append_new(keys, json_pack("{s:s, s:s, s:s}", "kty", "OKP",
	    "crv", "Ed25519", "x", "AA"));
	j = jwk(rsa2, "enc");
	json_object_set_new(j, "use", json_string("enc"));
	json_object_set_new(j, "alg", json_string("RSA-OAEP"));
	json_array_append_new(keys, j);
	j = jwk(rsa2, "pss");
	json_object_set_new(j, "alg", json_string("PS256"));
	json_array_append_new(keys, j);
	json_array_append_new(keys, json_pack("{s:s, s:s, s:s, s:s, s:s}",
	    "kty", "EC", "crv", "P-384", "x", "AA", "y", "AA", "kid", "p384"));
	json_array_append_new(keys, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}",
	    "kty", "EC", "crv", "P-384", "x", "AA", "y", "AA", "kid", "es384",
	    "alg", "ES384"));
	json_array_append_new(keys, jwk(rsa1, "r1"));
	json_array_append_new(keys, jwk(ec1, "e1"));
	json_array_append_new(keys, jwk(ec2, NULL));	/* no kid: unreachable */
	doc = jwks_doc(keys);
	k = oidc_keys_parse(doc, &e);
	if (k == NULL)
		fail_msg("oidc_keys_parse: %s", e.msg);
	assert_int_equal(EVP_PKEY_eq(oidc_keys_find(k, "r1", &alg), rsa1), 1);
	assert_int_equal(alg, JWS_RS256);
	assert_int_equal(EVP_PKEY_eq(oidc_keys_find(k, "e1", &alg), ec1), 1);
	assert_int_equal(alg, JWS_ES256);
	assert_null(oidc_keys_find(k, "hmac", &alg));
	assert_null(oidc_keys_find(k, "enc", &alg));
	assert_null(oidc_keys_find(k, "pss", &alg));
	assert_null(oidc_keys_find(k, "p384", &alg));
	assert_null(oidc_keys_find(k, "es384", &alg));
	assert_null(oidc_keys_find(k, "", &alg));
	assert_null(oidc_keys_find(k, NULL, &alg));	/* three keys */
	/* References: the last unref frees (ASan would see a leak or a UAF). */
	k2 = oidc_keys_ref(k);
	assert_ptr_equal(k2, k);
	oidc_keys_unref(k);
	assert_non_null(oidc_keys_find(k2, "r1", NULL));
	oidc_keys_unref(k2);
	oidc_keys_unref(NULL);
	assert_null(oidc_keys_ref(NULL));
	assert_null(oidc_keys_find(NULL, "r1", &alg));
	json_decref(doc);

	/* One key without kid: found only by a token without kid. */
	doc = jwks_doc(json_pack("[o]", jwk(ec1, NULL)));
	k = oidc_keys_parse(doc, &e);
	assert_non_null(k);
	assert_int_equal(EVP_PKEY_eq(oidc_keys_find(k, NULL, &alg), ec1), 1);
	assert_null(oidc_keys_find(k, "e1", &alg));
	oidc_keys_unref(k);
	json_decref(doc);

	/* One key with a kid: a token without kid may use it too. */
	doc = jwks_doc(json_pack("[o]", jwk(rsa1, "r1")));
	k = oidc_keys_parse(doc, &e);
	assert_non_null(k);
	assert_non_null(oidc_keys_find(k, NULL, &alg));
	assert_non_null(oidc_keys_find(k, "r1", &alg));
	assert_null(oidc_keys_find(k, "r2", &alg));
	oidc_keys_unref(k);
	json_decref(doc);
}

static void
test_keys_parse_bad(void **state)
{
	EVP_PKEY *small = EVP_RSA_gen(1024), *p384 = EVP_EC_gen("P-384");
	struct {
		json_t *doc;
		const char *words;
	} v[32];
	size_t n = 0, i;
	struct oidc_keys *k;
	struct err e;
	json_t *j, *many;
	char *s;

	(void)state;
	assert_non_null(small);
	assert_non_null(p384);
	v[n].doc = json_array();
	v[n++].words = "keys";
	v[n].doc = json_object();
	v[n++].words = "keys";
	v[n].doc = json_pack("{s:{}}", "keys");
	v[n++].words = "keys";
	v[n].doc = jwks_doc(json_array());
	v[n++].words = "no RS256 or ES256";
	v[n].doc = jwks_doc(json_pack("[{s:s, s:s}]", "kty", "oct", "k", "AA"));
	v[n++].words = "no RS256 or ES256";
	/* RSA 1024 */
	v[n].doc = jwks_doc(json_pack("[o]", jws_jwk_new(small, JWS_RS256,
	    "small")));
	v[n++].words = "1024 bits";
	/* EC on another curve, claiming ES256 */
	j = jwk(ec1, "e1");
	json_object_set_new(j, "crv", json_string("P-384"));
	v[n].doc = jwks_doc(json_pack("[o]", j));
	v[n++].words = "P-256";
	/* P-384 without alg: someone else's, so no usable key */
	{
		BIGNUM *x = NULL;
		unsigned char b[48];

		EVP_PKEY_get_bn_param(p384, "qx", &x);
		BN_bn2binpad(x, b, 48);
		s = b64(b, 48);
		v[n].doc = jwks_doc(json_pack("[{s:s, s:s, s:s, s:s}]", "kty",
		    "EC", "crv", "P-384", "x", s, "y", s));
		v[n++].words = "no RS256 or ES256";
		free(s);
		BN_free(x);
	}
	/* A point off the curve */
	j = jwk(ec1, "e1");
	json_object_set_new(j, "y", json_string(json_string_value(
	    json_object_get(j, "x"))));
	v[n].doc = jwks_doc(json_pack("[o]", j));
	v[n++].words = "point";
	/* Bad base64url: padding, standard alphabet, NUL */
	j = jwk(rsa1, "r1");
	json_object_set_new(j, "e", json_string("AQAB=="));
	v[n].doc = jwks_doc(json_pack("[o]", j));
	v[n++].words = "base64url";
	j = jwk(ec1, "e1");
	s = strdup(json_string_value(json_object_get(j, "x")));
	s[5] = '+';
	json_object_set_new(j, "x", json_string(s));
	free(s);
	v[n].doc = jwks_doc(json_pack("[o]", j));
	v[n++].words = "base64url";
	j = jwk(rsa1, "r1");
	json_object_set_new(j, "e", json_stringn("AQ\0B", 4));
	v[n].doc = jwks_doc(json_pack("[o]", j));
	v[n++].words = "base64url";
	/* use "enc" only: nothing to verify with */
	j = jwk(rsa1, "r1");
	json_object_set_new(j, "use", json_string("enc"));
	v[n].doc = jwks_doc(json_pack("[o]", j));
	v[n++].words = "no RS256 or ES256";
	/* Malformed members */
	j = jwk(rsa1, "r1");
	json_object_set_new(j, "use", json_integer(1));
	v[n].doc = jwks_doc(json_pack("[o]", j));
	v[n++].words = "strings";
	j = jwk(ec1, "e1");
	json_object_set_new(j, "alg", json_string("RS256"));
	v[n].doc = jwks_doc(json_pack("[o]", j));
	v[n++].words = "alg";
	j = jwk(rsa1, "r1");
	json_object_del(j, "kty");
	v[n].doc = jwks_doc(json_pack("[o]", j));
	v[n++].words = "kty";
	j = jwk(rsa1, "r1");
	json_object_set_new(j, "kid", json_integer(1));
	v[n].doc = jwks_doc(json_pack("[o]", j));
	v[n++].words = "kid";
	v[n].doc = jwks_doc(json_pack("[o]", jwk(rsa1, "")));
	v[n++].words = "kid";
	v[n].doc = jwks_doc(json_pack("[o,o]", jwk(rsa1, "same"),
	    jwk(ec1, "same")));
	v[n++].words = "twice";
	v[n].doc = jwks_doc(json_pack("[o,s]", jwk(rsa1, "r1"), "key"));
	v[n++].words = "keys[1] is not an object";
	/* Too many keys */
	many = json_array();
	for (i = 0; i <= OIDC_JWKS_KEYS_MAX; i++) {
		char kid[16];

		snprintf(kid, sizeof(kid), "k%zu", i);
		json_array_append_new(many, jwk(ec1, kid));
	}
	v[n].doc = jwks_doc(many);
	v[n++].words = "at most";
	assert_true(n <= sizeof(v) / sizeof(v[0]));
	for (i = 0; i < n; i++) {
		assert_non_null(v[i].doc);
		e.msg[0] = '\0';
		if ((k = oidc_keys_parse(v[i].doc, &e)) != NULL) {
			s = json_dumps(v[i].doc, JSON_COMPACT);
			fail_msg("accepted JWKS %zu: %.300s", i, s);
		}
		if (strstr(e.msg, v[i].words) == NULL)
			fail_msg("JWKS %zu: error \"%s\" does not say \"%s\"",
			    i, e.msg, v[i].words);
		json_decref(v[i].doc);
	}
	/* Exactly OIDC_JWKS_KEYS_MAX is fine. */
	many = json_array();
	for (i = 0; i < OIDC_JWKS_KEYS_MAX; i++) {
		char kid[16];

		snprintf(kid, sizeof(kid), "k%zu", i);
		json_array_append_new(many, jwk(ec1, kid));
	}
	j = jwks_doc(many);
	k = oidc_keys_parse(j, &e);
	assert_non_null(k);
	assert_non_null(oidc_keys_find(k, "k63", NULL));
	oidc_keys_unref(k);
	json_decref(j);
	assert_null(oidc_keys_parse(NULL, &e));
	EVP_PKEY_free(small);
	EVP_PKEY_free(p384);
}

/* ---- verification against the HTTP issuer */

static void
test_verify_good(void **state)
{
	struct oidc_issuer is[2];
	const struct oidc_issuer *which = NULL;
	json_t *claims = NULL;
	struct err e;
	char *tok;

	(void)state;
	load_issuer(&is[0], "other", "{\"issuer\":\"https://gitlab.com\","
	    "\"audiences\":[\"" AUD "\"]}");
	issuer_of(&is[1], &web, 600);
	tok = mint(rsa1, "r1", claims_for(web.base));
	assert_int_equal(oidc_verify(is, 2, tok, T0, &which, &claims, &e), 0);
	assert_ptr_equal(which, &is[1]);
	assert_string_equal(json_string_value(json_object_get(claims,
	    "repository")), "acme/app");
	json_decref(claims);
	free(tok);
	assert_int_equal(counter(&web, &web.ndisc), 1);
	assert_int_equal(counter(&web, &web.njwks), 1);

	/* ES256; the cache serves it without another request. */
	tok = mint(ec1, "e1", claims_for(web.base));
	if (verify_at(&is[1], 1, tok, T0 + 10, &e) != 0)
		fail_msg("ES256: %s", e.msg);
	free(tok);
	assert_int_equal(counter(&web, &web.ndisc), 1);
	assert_int_equal(counter(&web, &web.njwks), 1);
	/* Another configuration snapshot of the same issuer shares the cache. */
	{
		struct oidc_issuer again;

		issuer_of(&again, &web, 600);
		tok = mint(ec1, "e1", claims_for(web.base));
		expect_ok(&again, tok, T0 + 20);
		free(tok);
		oidc_issuer_clear(&again);
	}
	assert_int_equal(counter(&web, &web.njwks), 1);
	/* which and claims may be NULL. */
	tok = mint(ec1, "e1", claims_for(web.base));
	assert_int_equal(oidc_verify(&is[1], 1, tok, T0, NULL, NULL, &e), 0);
	free(tok);
	assert_int_equal(counter(&web, &web.nother), 0);
	oidc_issuer_clear(&is[0]);
	oidc_issuer_clear(&is[1]);
}

static void
test_verify_times(void **state)
{
	struct oidc_issuer is;
	char *tok;

	(void)state;
	issuer_of(&is, &web, 600);
	/* exp: beyond the leeway refused, just within accepted. */
	tok = mint(rsa1, "r1", claims_set(claims_for(web.base), "exp",
	    json_integer(T0 - OIDC_LEEWAY)));
	expect_refused(&is, tok, T0, "expired");
	free(tok);
	tok = mint(rsa1, "r1", claims_set(claims_for(web.base), "exp",
	    json_integer(T0 - OIDC_LEEWAY + 1)));
	expect_ok(&is, tok, T0);
	expect_refused(&is, tok, T0 + 1, "expired");
	free(tok);
	tok = mint(rsa1, "r1", claims_for(web.base));
	expect_ok(&is, tok, T0 + 300 + OIDC_LEEWAY - 1);
	expect_refused(&is, tok, T0 + 300 + OIDC_LEEWAY, "expired");
	free(tok);
	/* nbf and iat in the future. */
	tok = mint(rsa1, "r1", claims_set(claims_for(web.base), "nbf",
	    json_integer(T0 + OIDC_LEEWAY + 1)));
	expect_refused(&is, tok, T0, "not valid yet");
	expect_ok(&is, tok, T0 + 1);
	free(tok);
	tok = mint(rsa1, "r1", claims_set(claims_for(web.base), "iat",
	    json_integer(T0 + OIDC_LEEWAY + 1)));
	expect_refused(&is, tok, T0, "future");
	expect_ok(&is, tok, T0 + 1);
	free(tok);
	/* nbf and iat are optional; exp is not. */
	tok = mint(rsa1, "r1", claims_set(claims_set(claims_for(web.base),
	    "nbf", NULL), "iat", NULL));
	expect_ok(&is, tok, T0);
	free(tok);
	tok = mint(rsa1, "r1", claims_set(claims_for(web.base), "exp", NULL));
	expect_refused(&is, tok, T0, "exp is missing");
	free(tok);
	/* Integers only. */
	tok = mint(rsa1, "r1", claims_set(claims_for(web.base), "exp",
	    json_real((double)T0 + 300)));
	expect_refused(&is, tok, T0, "exp is not an integer");
	free(tok);
	tok = mint(rsa1, "r1", claims_set(claims_for(web.base), "exp",
	    json_string("2000000000")));
	expect_refused(&is, tok, T0, "exp is not an integer");
	free(tok);
	tok = mint(rsa1, "r1", claims_set(claims_for(web.base), "nbf",
	    json_true()));
	expect_refused(&is, tok, T0, "nbf is not an integer");
	free(tok);
	tok = mint(rsa1, "r1", claims_set(claims_for(web.base), "iat",
	    json_real(1.5)));
	expect_refused(&is, tok, T0, "iat is not an integer");
	free(tok);
	oidc_issuer_clear(&is);
}

static void
test_verify_aud_iss_sub(void **state)
{
	struct oidc_issuer is;
	char *tok;

	(void)state;
	issuer_of(&is, &web, 600);
	tok = mint(rsa1, "r1", claims_set(claims_for(web.base), "aud",
	    json_string("sts.amazonaws.com")));
	expect_refused(&is, tok, T0, "aud");
	free(tok);
	tok = mint(rsa1, "r1", claims_set(claims_for(web.base), "aud",
	    json_pack("[s,s]", "x", AUD)));
	expect_ok(&is, tok, T0);
	free(tok);
	tok = mint(rsa1, "r1", claims_set(claims_for(web.base), "aud",
	    json_string("other")));		/* the second audience */
	expect_ok(&is, tok, T0);
	free(tok);
	tok = mint(rsa1, "r1", claims_set(claims_for(web.base), "aud",
	    json_pack("[s,s]", "x", "y")));
	expect_refused(&is, tok, T0, "aud");
	free(tok);
	tok = mint(rsa1, "r1", claims_set(claims_for(web.base), "aud",
	    json_array()));
	expect_refused(&is, tok, T0, "aud");
	free(tok);
	tok = mint(rsa1, "r1", claims_set(claims_for(web.base), "aud", NULL));
	expect_refused(&is, tok, T0, "aud is missing");
	free(tok);
	tok = mint(rsa1, "r1", claims_set(claims_for(web.base), "aud",
	    json_integer(7)));
	expect_refused(&is, tok, T0, "aud");
	free(tok);
	tok = mint(rsa1, "r1", claims_set(claims_for(web.base), "aud",
	    json_pack("[i,s]", 1, AUD)));
	expect_refused(&is, tok, T0, "non-string");
	free(tok);
	tok = mint(rsa1, "r1", claims_set(claims_for(web.base), "aud",
	    json_string(AUD "x")));
	expect_refused(&is, tok, T0, "aud");
	free(tok);
	/* A NUL in a claim: the claims do not even parse (jansson). */
	tok = mint(rsa1, "r1", claims_set(claims_for(web.base), "aud",
	    json_stringn(AUD "\0x", sizeof(AUD) + 1)));
	expect_refused(&is, tok, T0, "");
	free(tok);

	/* iss: exact match only, and required. */
	tok = mint(rsa1, "r1", claims_set(claims_for(web.base), "iss",
	    json_string("https://token.actions.githubusercontent.com")));
	expect_refused(&is, tok, T0, "not trusted");
	free(tok);
	{
		char other[128];

		snprintf(other, sizeof(other), "%s/", web.base);
		tok = mint(rsa1, "r1", claims_set(claims_for(web.base), "iss",
		    json_string(other)));
		expect_refused(&is, tok, T0, "not trusted");
		free(tok);
	}
	tok = mint(rsa1, "r1", claims_set(claims_for(web.base), "iss", NULL));
	expect_refused(&is, tok, T0, "no iss");
	free(tok);
	tok = mint(rsa1, "r1", claims_set(claims_for(web.base), "iss",
	    json_integer(1)));
	expect_refused(&is, tok, T0, "no iss");
	free(tok);
	/* An untrusted issuer's token never reaches the network. */
	assert_int_equal(counter(&web, &web.ndisc), 1);

	/* sub: a non-empty string. */
	tok = mint(rsa1, "r1", claims_set(claims_for(web.base), "sub", NULL));
	expect_refused(&is, tok, T0, "sub");
	free(tok);
	tok = mint(rsa1, "r1", claims_set(claims_for(web.base), "sub",
	    json_string("")));
	expect_refused(&is, tok, T0, "sub");
	free(tok);
	tok = mint(rsa1, "r1", claims_set(claims_for(web.base), "sub",
	    json_integer(42)));
	expect_refused(&is, tok, T0, "sub");
	free(tok);
	oidc_issuer_clear(&is);
}

/* An ES256 token with a claim of `pad` bytes. */
static char *
mint_padded(size_t pad)
{
	char *s = malloc(pad + 1), *tok;

	memset(s, 'x', pad);
	s[pad] = '\0';
	tok = mint(ec1, "e1", claims_set(claims_for(web.base), "pad",
	    json_string(s)));
	free(s);
	return tok;
}

static void
test_verify_malformed(void **state)
{
	struct oidc_issuer is;
	char *tok, *big;
	size_t n;

	(void)state;
	issuer_of(&is, &web, 600);
	expect_refused(&is, NULL, T0, "empty");
	expect_refused(&is, "", T0, "empty");
	expect_refused(&is, "abc", T0, "not a JWS");
	expect_refused(&is, "a.b.c", T0, "not a JWS");
	expect_refused(&is, "e30.W10.AA", T0, "not a JWS");	/* [] */
	/* OIDC_TOKEN_MAX bytes at most, signed all the same: padded up to it. */
	tok = mint_padded(0);
	n = (OIDC_TOKEN_MAX - strlen(tok)) * 3 / 4;
	free(tok);
	while (strlen(tok = mint_padded(n)) > OIDC_TOKEN_MAX) {
		free(tok);
		n--;
	}
	for (;;) {
		big = mint_padded(++n);
		if (strlen(big) > OIDC_TOKEN_MAX)
			break;
		free(tok);
		tok = big;
	}
	assert_true(strlen(tok) >= OIDC_TOKEN_MAX - 2);
	expect_ok(&is, tok, T0);
	expect_refused(&is, big, T0, "longer than");
	free(tok);
	free(big);
	/* A kid that is not a string. */
	{
		unsigned char junk[256];

		memset(junk, 1, sizeof(junk));
		tok = forge("{\"alg\":\"RS256\",\"kid\":7}",
		    claims_for(web.base), junk, sizeof(junk));
		expect_refused(&is, tok, T0, "kid must be");
		free(tok);
	}
	/* Tampered claims. */
	tok = mint(rsa1, "r1", claims_for(web.base));
	strchr(tok, '.')[5] ^= 0x01;
	expect_refused(&is, tok, T0, "");
	free(tok);
	oidc_issuer_clear(&is);
}

static void
test_refetch_unknown_kid(void **state)
{
	struct oidc_issuer is;
	char *tok;

	(void)state;
	issuer_of(&is, &web, 3600);
	tok = mint(rsa1, "r1", claims_for(web.base));
	expect_ok(&is, tok, T0);
	free(tok);
	assert_int_equal(counter(&web, &web.njwks), 1);
	/* Unknown kid right after a fetch: no new request. */
	tok = mint(rsa2, "stranger", claims_for(web.base));
	expect_refused(&is, tok, T0 + OIDC_REFETCH_MIN - 1, "no key for kid");
	assert_int_equal(counter(&web, &web.ndisc), 1);
	assert_int_equal(counter(&web, &web.njwks), 1);
	/* Later: exactly one refetch... */
	expect_refused(&is, tok, T0 + OIDC_REFETCH_MIN, "stranger");
	assert_int_equal(counter(&web, &web.ndisc), 2);
	assert_int_equal(counter(&web, &web.njwks), 2);
	/* ...and none again within OIDC_REFETCH_MIN of it. */
	expect_refused(&is, tok, T0 + OIDC_REFETCH_MIN + 1, "no key");
	expect_refused(&is, tok, T0 + 2 * OIDC_REFETCH_MIN - 1, "no key");
	assert_int_equal(counter(&web, &web.njwks), 2);
	free(tok);
	/* Known keys keep working from the cache meanwhile. */
	tok = mint(ec1, "e1", claims_for(web.base));
	expect_ok(&is, tok, T0 + OIDC_REFETCH_MIN + 2);
	free(tok);
	assert_int_equal(counter(&web, &web.njwks), 2);
	oidc_issuer_clear(&is);
}

static void
test_rotation(void **state)
{
	struct oidc_issuer is;
	char *old, *new;

	(void)state;
	issuer_of(&is, &web, 3600);
	old = mint(rsa1, "r1", claims_for(web.base));
	new = mint(rsa2, "r2", claims_for(web.base));
	expect_ok(&is, old, T0);
	/* The issuer rotates: r2 published, r1 withdrawn. */
	serve_jwks(&web, jwks_text(rsa2, "r2", ec1, "e1", NULL));
	expect_ok(&is, new, T0 + OIDC_REFETCH_MIN);
	assert_int_equal(counter(&web, &web.njwks), 2);
	/* The old key is gone with the old set, and not fetched for again. */
	expect_refused(&is, old, T0 + OIDC_REFETCH_MIN + 1, "no key");
	assert_int_equal(counter(&web, &web.njwks), 2);
	free(old);
	free(new);
	oidc_issuer_clear(&is);
}

static void
test_ttl_and_stale(void **state)
{
	struct oidc_issuer is;
	char *tok;

	(void)state;
	issuer_of(&is, &web, 60);
	tok = mint(rsa1, "r1", claims_for(web.base));
	expect_ok(&is, tok, T0);
	expect_ok(&is, tok, T0 + 59);
	assert_int_equal(counter(&web, &web.njwks), 1);
	/* Stale at the TTL: fetched again. */
	expect_ok(&is, tok, T0 + 60);
	assert_int_equal(counter(&web, &web.njwks), 2);
	/* The issuer fails: the stale keys keep working. */
	set_int(&web, &web.jwks_status, 500);
	expect_ok(&is, tok, T0 + 121);
	assert_int_equal(counter(&web, &web.njwks), 3);
	/* And the failed attempt is not repeated at once. */
	expect_ok(&is, tok, T0 + 122);
	assert_int_equal(counter(&web, &web.njwks), 3);
	/* A kid the stale keys lack: the fetch error is in the message. */
	free(tok);
	tok = mint(rsa2, "r2", claims_for(web.base));
	expect_refused(&is, tok, T0 + 160, "status 500");
	assert_int_equal(counter(&web, &web.njwks), 4);
	free(tok);
	/* The issuer recovers. */
	set_int(&web, &web.jwks_status, 200);
	tok = mint(ec1, "e1", claims_for(web.base));
	expect_ok(&is, tok, T0 + 200);
	assert_int_equal(counter(&web, &web.njwks), 5);
	free(tok);
	oidc_issuer_clear(&is);
}

static void
test_alg_attacks(void **state)
{
	struct oidc_issuer is;
	unsigned char mac[32], junk[256], *der = NULL;
	unsigned int maclen = 0;
	char *pem, *tok, *h, *c, *ctext, input[4096];
	json_t *claims;
	BIO *bio;
	long n;
	int dlen;

	(void)state;
	issuer_of(&is, &web, 3600);
	/* alg none, with or without a signature: refused before any fetch. */
	tok = forge("{\"alg\":\"none\",\"kid\":\"r1\"}", claims_for(web.base),
	    (const unsigned char *)"", 0);
	expect_refused(&is, tok, T0, "alg");
	free(tok);
	tok = forge("{\"alg\":\"none\"}", claims_for(web.base),
	    (const unsigned char *)"x", 1);
	expect_refused(&is, tok, T0, "alg");
	free(tok);
	tok = forge("{\"alg\":\"None\",\"kid\":\"r1\"}", claims_for(web.base),
	    (const unsigned char *)"", 0);
	expect_refused(&is, tok, T0, "alg");
	free(tok);
	assert_int_equal(counter(&web, &web.ndisc), 0);

	/* HS256 keyed with the RSA public key, as PEM and as DER. */
	bio = BIO_new(BIO_s_mem());
	PEM_write_bio_PUBKEY(bio, rsa1);
	n = BIO_get_mem_data(bio, &pem);
	claims = claims_for(web.base);
	ctext = json_dumps(claims, JSON_COMPACT);
	h = b64("{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"r1\"}",
	    strlen("{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"r1\"}"));
	c = b64(ctext, strlen(ctext));
	snprintf(input, sizeof(input), "%s.%s", h, c);
	assert_non_null(HMAC(EVP_sha256(), pem, (int)n, (unsigned char *)input,
	    strlen(input), mac, &maclen));
	tok = forge("{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"r1\"}",
	    json_incref(claims), mac, maclen);
	expect_refused(&is, tok, T0, "alg");
	free(tok);
	dlen = i2d_PUBKEY(rsa1, &der);
	assert_true(dlen > 0);
	assert_non_null(HMAC(EVP_sha256(), der, dlen, (unsigned char *)input,
	    strlen(input), mac, &maclen));
	tok = forge("{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"r1\"}",
	    json_incref(claims), mac, maclen);
	expect_refused(&is, tok, T0, "alg");
	free(tok);
	OPENSSL_free(der);
	BIO_free(bio);
	free(h);
	free(c);
	free(ctext);
	assert_int_equal(counter(&web, &web.ndisc), 0);

	/* RS256 in the header, kid naming the EC key: junk, then a real RSA
	 * signature by a key that is not e1. */
	memset(junk, 0x5a, sizeof(junk));
	tok = forge("{\"alg\":\"RS256\",\"kid\":\"e1\"}", json_incref(claims),
	    junk, sizeof(junk));
	expect_refused(&is, tok, T0, "alg does not match");
	free(tok);
	tok = mint(rsa1, "e1", json_incref(claims));
	expect_refused(&is, tok, T0, "alg does not match");
	free(tok);
	/* And ES256 on the RSA key. */
	tok = mint(ec1, "r1", json_incref(claims));
	expect_refused(&is, tok, T0, "alg does not match");
	free(tok);
	/* Signed by a key the issuer never published, under its kid. */
	tok = mint(rsa2, "r1", json_incref(claims));
	expect_refused(&is, tok, T0, "signature");
	free(tok);
	json_decref(claims);
	oidc_issuer_clear(&is);
}

static void
test_kidless(void **state)
{
	struct oidc_issuer is;
	char *tok;

	(void)state;
	issuer_of(&is, &web, 3600);
	serve_jwks(&web, jwks_text(ec1, NULL, NULL));
	tok = mint(ec1, NULL, claims_for(web.base));
	expect_ok(&is, tok, T0);
	free(tok);
	/* Two keys: a token without kid names neither. */
	oidc_cache_reset();
	serve_jwks(&web, jwks_text(ec1, NULL, rsa1, "r1", NULL));
	tok = mint(ec1, NULL, claims_for(web.base));
	expect_refused(&is, tok, T0, "no key for kid none");
	free(tok);
	oidc_issuer_clear(&is);
}

static void
test_discovery_refusals(void **state)
{
	struct oidc_issuer is;
	char *tok, url[128];

	(void)state;
	issuer_of(&is, &web, 3600);
	tok = mint(rsa1, "r1", claims_for(web.base));

	/* Discovery names another issuer. */
	snprintf(url, sizeof(url), "%s/", web.base);
	set_str(&web, &web.disc_issuer, url);
	expect_refused(&is, tok, T0, "another issuer");
	set_str(&web, &web.disc_issuer, "https://token.actions."
	    "githubusercontent.com");
	oidc_cache_reset();
	expect_refused(&is, tok, T0, "another issuer");
	set_str(&web, &web.disc_issuer, NULL);
	assert_int_equal(counter(&web, &web.njwks), 0);

	/* jwks_uri over http to a host that is not loopback; with a query. */
	oidc_cache_reset();
	set_str(&web, &web.jwks_uri, "http://example.com/jwks");
	expect_refused(&is, tok, T0, "jwks_uri refused");
	oidc_cache_reset();
	snprintf(url, sizeof(url), "%s/jwks?v=1", web.base);
	set_str(&web, &web.jwks_uri, url);
	expect_refused(&is, tok, T0, "jwks_uri refused");
	assert_int_equal(counter(&web, &web.njwks), 0);
	/* A jwks_uri on another path of the same loopback host is fine. */
	oidc_cache_reset();
	snprintf(url, sizeof(url), "%s/missing", web.base);
	set_str(&web, &web.jwks_uri, url);
	expect_refused(&is, tok, T0, "status 404");
	assert_int_equal(counter(&web, &web.nother), 1);
	set_str(&web, &web.jwks_uri, NULL);

	/* A redirect is not followed. */
	oidc_cache_reset();
	set_int(&web, &web.redirect, 1);
	expect_refused(&is, tok, T0, "status 302");
	set_int(&web, &web.redirect, 0);
	assert_int_equal(counter(&web, &web.nother), 1);

	/* Other statuses. */
	oidc_cache_reset();
	set_int(&web, &web.disc_status, 404);
	expect_refused(&is, tok, T0, "status 404");
	set_int(&web, &web.disc_status, 200);
	oidc_cache_reset();
	set_int(&web, &web.jwks_status, 503);
	expect_refused(&is, tok, T0, "status 503");
	set_int(&web, &web.jwks_status, 200);

	/* Oversized JWKS: with a Content-Length, and chunked without one. */
	oidc_cache_reset();
	set_int(&web, &web.jwks_big, 1);
	expect_refused(&is, tok, T0, "larger than");
	oidc_cache_reset();
	set_int(&web, &web.jwks_big, 2);
	expect_refused(&is, tok, T0, "larger than");
	set_int(&web, &web.jwks_big, 0);

	/* Not JSON, not an object. */
	oidc_cache_reset();
	set_str(&web, &web.jwks, "{\"keys\":");
	expect_refused(&is, tok, T0, "GET");
	oidc_cache_reset();
	set_str(&web, &web.jwks, "[]");
	expect_refused(&is, tok, T0, "not a JSON object");

	/* Everything restored: it works. */
	oidc_cache_reset();
	serve_jwks(&web, jwks_text(rsa1, "r1", NULL));
	expect_ok(&is, tok, T0);
	free(tok);
	oidc_issuer_clear(&is);
}

static void
test_bad_jwks_served(void **state)
{
	EVP_PKEY *small = EVP_RSA_gen(1024);
	struct oidc_issuer is;
	const char *words[8];
	char *text[8], *tok, *s;
	json_t *j;
	size_t n = 0, i;

	(void)state;
	issuer_of(&is, &web, 3600);
	text[n] = strdup("{\"keys\":[]}");
	words[n++] = "no RS256";
	text[n] = strdup("{\"nokeys\":1}");
	words[n++] = "\"keys\" array";
	text[n] = jwks_text(small, "r1", NULL);
	words[n++] = "1024";
	j = jwk(ec1, "r1");
	json_object_set_new(j, "crv", json_string("P-521"));
	s = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	text[n] = malloc(strlen(s) + 16);
	snprintf(text[n], strlen(s) + 16, "{\"keys\":[%s]}", s);
	free(s);
	words[n++] = "P-256";
	j = jwk(ec1, "r1");
	json_object_set_new(j, "x", json_string(json_string_value(
	    json_object_get(j, "y"))));
	s = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	text[n] = malloc(strlen(s) + 16);
	snprintf(text[n], strlen(s) + 16, "{\"keys\":[%s]}", s);
	free(s);
	words[n++] = "point";
	text[n] = strdup("{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"r1\","
	    "\"n\":\"!!!\",\"e\":\"AQAB\"}]}");
	words[n++] = "base64url";
	j = jwk(rsa1, "r1");
	json_object_set_new(j, "use", json_string("enc"));
	s = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	text[n] = malloc(strlen(s) + 16);
	snprintf(text[n], strlen(s) + 16, "{\"keys\":[%s]}", s);
	free(s);
	words[n++] = "no RS256";
	tok = mint(rsa1, "r1", claims_for(web.base));
	for (i = 0; i < n; i++) {
		oidc_cache_reset();
		set_str(&web, &web.jwks, text[i]);
		expect_refused(&is, tok, T0, words[i]);
		free(text[i]);
	}
	free(tok);
	EVP_PKEY_free(small);
	oidc_issuer_clear(&is);
}

static void
test_server_down(void **state)
{
	struct oidc_issuer is;
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	char json[256], url[64], *tok;
	struct err e;
	int fd;

	(void)state;
	/* A port nothing listens on: bound, then closed. */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	close(fd);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u",
	    (unsigned)ntohs(sin.sin_port));
	snprintf(json, sizeof(json), "{\"issuer\":\"%s\",\"audiences\":"
	    "[\"" AUD "\"]}", url);
	load_issuer(&is, "down", json);
	tok = mint(rsa1, "r1", claims_for(url));
	assert_int_equal(verify_at(&is, 1, tok, T0, &e), -1);
	if (strstr(e.msg, "oidc/down: no key for kid r1; last fetch: GET "
	    "http://127.0.0.1:") == NULL || strcasestr(e.msg, "connect") ==
	    NULL)
		fail_msg("unclear error: %s", e.msg);
	/* Within OIDC_REFETCH_MIN the error is repeated, not the attempt. */
	assert_int_equal(verify_at(&is, 1, tok, T0 + 1, &e), -1);
	assert_non_null(strcasestr(e.msg, "connect"));
	free(tok);
	oidc_issuer_clear(&is);
}

static void
test_static_jwks_file(void **state)
{
	struct oidc_issuer is;
	char json[512], *text, *tok;

	(void)state;
	text = jwks_text(rsa1, "r1", ec1, "e1", NULL);
	write_file("oidc/static.jwks", text);
	free(text);
	/* The issuer's URL is the live server: any fetch would be counted. */
	snprintf(json, sizeof(json), "{\"issuer\":\"%s\",\"audiences\":"
	    "[\"" AUD "\"],\"jwks_file\":\"static.jwks\"}", web.base);
	load_issuer(&is, "static", json);
	tok = mint(ec1, "e1", claims_for(web.base));
	expect_ok(&is, tok, T0);
	free(tok);
	tok = mint(rsa1, "r1", claims_set(claims_for(web.base), "exp",
	    json_integer(T0 + 10000)));
	expect_ok(&is, tok, T0 + 7200);
	free(tok);
	tok = mint(rsa2, "r2", claims_for(web.base));
	expect_refused(&is, tok, T0, "no key for kid r2");
	expect_refused(&is, tok, T0 + 3600, "no key for kid r2");
	free(tok);
	assert_int_equal(counter(&web, &web.ndisc), 0);
	assert_int_equal(counter(&web, &web.njwks), 0);
	oidc_issuer_clear(&is);
}

struct worker {
	const struct oidc_issuer *is;
	const char	*tok;
	int		 rc;
	struct err	 e;
	pthread_t	 t;
};

static void *
worker_run(void *arg)
{
	struct worker *w = arg;
	json_t *claims = NULL;

	w->rc = oidc_verify(w->is, 1, w->tok, T0, NULL, &claims, &w->e);
	json_decref(claims);
	return NULL;
}

static void
test_concurrent_fetch(void **state)
{
	struct worker w[8];
	struct oidc_issuer is;
	char *tok;
	size_t i;

	(void)state;
	issuer_of(&is, &web, 3600);
	tok = mint(rsa1, "r1", claims_for(web.base));
	set_int(&web, &web.delay_ms, 300);
	for (i = 0; i < 8; i++) {
		w[i].is = &is;
		w[i].tok = tok;
		assert_int_equal(pthread_create(&w[i].t, NULL, worker_run,
		    &w[i]), 0);
	}
	for (i = 0; i < 8; i++) {
		pthread_join(w[i].t, NULL);
		if (w[i].rc != 0)
			fail_msg("worker %zu: %s", i, w[i].e.msg);
	}
	assert_int_equal(counter(&web, &web.ndisc), 1);
	assert_int_equal(counter(&web, &web.njwks), 1);
	/* When that one fetch fails, the waiters share its error. */
	oidc_cache_reset();
	set_int(&web, &web.jwks_status, 500);
	for (i = 0; i < 8; i++)
		assert_int_equal(pthread_create(&w[i].t, NULL, worker_run,
		    &w[i]), 0);
	for (i = 0; i < 8; i++) {
		pthread_join(w[i].t, NULL);
		assert_int_equal(w[i].rc, -1);
		assert_non_null(strstr(w[i].e.msg, "status 500"));
	}
	assert_int_equal(counter(&web, &web.ndisc), 2);
	free(tok);
	oidc_issuer_clear(&is);
}

static void
test_tls(void **state)
{
	struct oidc_issuer is;
	char json[512], *tok;
	struct err e;

	(void)state;
	if (tls.d == NULL)
		skip();
	/* Trusted through ca_file. */
	snprintf(json, sizeof(json), "{\"issuer\":\"%s\",\"audiences\":"
	    "[\"" AUD "\"],\"ca_file\":\"tls-ca.pem\"}", tls.base);
	load_issuer(&is, "tls", json);
	assert_string_equal(is.ca_file, tls_ca_path);
	tok = mint(rsa1, "r1", claims_for(tls.base));
	expect_ok(&is, tok, T0);
	assert_int_equal(counter(&tls, &tls.njwks), 1);
	oidc_issuer_clear(&is);
	/* Without it the system CAs do not know the certificate. */
	oidc_cache_reset();
	snprintf(json, sizeof(json), "{\"issuer\":\"%s\",\"audiences\":"
	    "[\"" AUD "\"]}", tls.base);
	load_issuer(&is, "tls", json);
	assert_int_equal(verify_at(&is, 1, tok, T0, &e), -1);
	assert_non_null(strstr(e.msg, "last fetch: GET https://"));
	assert_non_null(strstr(e.msg, "certificate"));
	assert_int_equal(counter(&tls, &tls.ndisc), 1);
	free(tok);
	oidc_issuer_clear(&is);
	/* The right CA, the wrong name: localhost is not in the certificate. */
	oidc_cache_reset();
	snprintf(json, sizeof(json), "{\"issuer\":\"https://localhost:%u\","
	    "\"audiences\":[\"" AUD "\"],\"ca_file\":\"tls-ca.pem\"}",
	    (unsigned)tls.port);
	load_issuer(&is, "tls", json);
	snprintf(json, sizeof(json), "https://localhost:%u",
	    (unsigned)tls.port);
	tok = mint(rsa1, "r1", claims_for(json));
	assert_int_equal(verify_at(&is, 1, tok, T0, &e), -1);
	assert_non_null(strstr(e.msg, "last fetch: GET https://localhost"));
	assert_non_null(strstr(e.msg, "subject name"));
	free(tok);
	oidc_issuer_clear(&is);
}

/* ---- flattening */

static const char *
ctx_str(const json_t *ctx, const char *key)
{
	const json_t *v = json_object_get(ctx, key);

	if (!json_is_string(v))
		fail_msg("context has no string %s", key);
	return json_string_value(v);
}

static void
test_flatten(void **state)
{
	json_t *claims, *ctx, *a;
	struct err e;

	(void)state;
	claims = json_loads("{\"sub\":\"system:serviceaccount:ci:builder\","
	    "\"iss\":\"https://k8s\",\"aud\":[\"regauth\",\"other\"],"
	    "\"exp\":1700000300,\"iat\":-5,\"ratio\":0.1,\"big\":1e300,"
	    "\"neg\":-2.5,\"ok\":true,\"no\":false,\"gone\":null,"
	    "\"mixed\":[1,true,\"x\",null,0.5],\"objs\":[{\"a\":1}],"
	    "\"nested\":[[1]],\"empty\":[],"
	    "\"kubernetes.io\":{\"namespace\":\"ci\","
	    "\"serviceaccount\":{\"name\":\"builder\",\"uid\":\"u-1\"},"
	    "\"pod\":{\"name\":\"builder-7d9f\",\"uid\":\"u-2\"},"
	    "\"warnafter\":1700000100,\"nothing\":null},"
	    "\"deep\":{\"b\":{\"c\":{\"d\":\"kept\",\"e\":{\"f\":\"gone\"}}}}}",
	    0, NULL);
	assert_non_null(claims);
	ctx = json_pack("{s:s}", "aws:CurrentTime", "now");
	assert_int_equal(oidc_flatten_claims(claims, "oidc:", ctx, &e), 0);
	assert_string_equal(ctx_str(ctx, "aws:CurrentTime"), "now");
	assert_string_equal(ctx_str(ctx, "oidc:sub"),
	    "system:serviceaccount:ci:builder");
	assert_string_equal(ctx_str(ctx, "oidc:exp"), "1700000300");
	assert_string_equal(ctx_str(ctx, "oidc:iat"), "-5");
	assert_string_equal(ctx_str(ctx, "oidc:ratio"), "0.1");
	assert_string_equal(ctx_str(ctx, "oidc:big"), "1e+300");
	assert_string_equal(ctx_str(ctx, "oidc:neg"), "-2.5");
	assert_string_equal(ctx_str(ctx, "oidc:ok"), "true");
	assert_string_equal(ctx_str(ctx, "oidc:no"), "false");
	assert_null(json_object_get(ctx, "oidc:gone"));
	a = json_object_get(ctx, "oidc:aud");
	assert_int_equal(json_array_size(a), 2);
	assert_string_equal(json_string_value(json_array_get(a, 1)), "other");
	a = json_object_get(ctx, "oidc:mixed");
	assert_int_equal(json_array_size(a), 4);
	assert_string_equal(json_string_value(json_array_get(a, 0)), "1");
	assert_string_equal(json_string_value(json_array_get(a, 1)), "true");
	assert_string_equal(json_string_value(json_array_get(a, 2)), "x");
	assert_string_equal(json_string_value(json_array_get(a, 3)), "0.5");
	assert_null(json_object_get(ctx, "oidc:objs"));
	assert_null(json_object_get(ctx, "oidc:nested"));
	assert_true(json_is_array(json_object_get(ctx, "oidc:empty")));
	assert_string_equal(ctx_str(ctx, "oidc:kubernetes.io/namespace"), "ci");
	assert_string_equal(ctx_str(ctx,
	    "oidc:kubernetes.io/serviceaccount/name"), "builder");
	assert_string_equal(ctx_str(ctx,
	    "oidc:kubernetes.io/serviceaccount/uid"), "u-1");
	assert_string_equal(ctx_str(ctx, "oidc:kubernetes.io/pod/name"),
	    "builder-7d9f");
	assert_string_equal(ctx_str(ctx, "oidc:kubernetes.io/warnafter"),
	    "1700000100");
	assert_null(json_object_get(ctx, "oidc:kubernetes.io"));
	assert_null(json_object_get(ctx, "oidc:kubernetes.io/nothing"));
	/* Four levels kept, the fifth left out. */
	assert_string_equal(ctx_str(ctx, "oidc:deep/b/c/d"), "kept");
	assert_null(json_object_get(ctx, "oidc:deep/b/c/e/f"));
	assert_null(json_object_get(ctx, "oidc:deep/b/c/e"));
	/* 1 + 19 keys. */
	assert_int_equal(json_object_size(ctx), 20);
	/* A second prefix adds beside; the same one again collides. */
	assert_int_equal(oidc_flatten_claims(claims,
	    "token.actions.githubusercontent.com:", ctx, &e), 0);
	assert_string_equal(ctx_str(ctx,
	    "token.actions.githubusercontent.com:kubernetes.io/pod/uid"), "u-2");
	assert_int_equal(json_object_size(ctx), 39);
	assert_int_equal(oidc_flatten_claims(claims, "oidc:", ctx, &e), -1);
	assert_non_null(strstr(e.msg, "already set"));
	assert_int_equal(json_object_size(ctx), 39);
	json_decref(ctx);
	/* An empty prefix. */
	ctx = json_object();
	assert_int_equal(oidc_flatten_claims(claims, "", ctx, &e), 0);
	assert_string_equal(ctx_str(ctx, "kubernetes.io/namespace"), "ci");
	json_decref(ctx);
	json_decref(claims);
}

static void
test_flatten_limits(void **state)
{
	json_t *claims, *ctx, *arr;
	char name[OIDC_CLAIM_NAME_MAX + 2], *val;
	struct err e;
	size_t i;

	(void)state;
	ctx = json_pack("{s:s}", "keep", "me");

	/* OIDC_CLAIMS_MAX keys are fine, one more is not. */
	claims = json_object();
	for (i = 0; i < OIDC_CLAIMS_MAX; i++) {
		snprintf(name, sizeof(name), "c%zu", i);
		json_object_set_new(claims, name, json_integer((json_int_t)i));
	}
	assert_int_equal(oidc_flatten_claims(claims, "p:", ctx, &e), 0);
	assert_int_equal(json_object_size(ctx), 1 + OIDC_CLAIMS_MAX);
	json_decref(ctx);
	ctx = json_pack("{s:s}", "keep", "me");
	json_object_set_new(claims, "one-more", json_integer(1));
	assert_int_equal(oidc_flatten_claims(claims, "p:", ctx, &e), -1);
	assert_non_null(strstr(e.msg, "claims"));
	assert_int_equal(json_object_size(ctx), 1);	/* untouched */
	json_decref(claims);
	/* Nested keys count too. */
	claims = json_object();
	arr = json_object();
	for (i = 0; i <= OIDC_CLAIMS_MAX; i++) {
		snprintf(name, sizeof(name), "c%zu", i);
		json_object_set_new(arr, name, json_true());
	}
	json_object_set_new(claims, "o", arr);
	assert_int_equal(oidc_flatten_claims(claims, "p:", ctx, &e), -1);
	json_decref(claims);

	/* Values: OIDC_CLAIM_VALUE_MAX bytes fine, one more not. */
	val = malloc(OIDC_CLAIM_VALUE_MAX + 2);
	memset(val, 'v', OIDC_CLAIM_VALUE_MAX + 1);
	val[OIDC_CLAIM_VALUE_MAX] = '\0';
	claims = json_pack("{s:s}", "v", val);
	assert_int_equal(oidc_flatten_claims(claims, "p:", ctx, &e), 0);
	assert_int_equal(strlen(ctx_str(ctx, "p:v")), OIDC_CLAIM_VALUE_MAX);
	json_object_del(ctx, "p:v");
	json_decref(claims);
	val[OIDC_CLAIM_VALUE_MAX] = 'v';
	val[OIDC_CLAIM_VALUE_MAX + 1] = '\0';
	claims = json_pack("{s:s}", "v", val);
	assert_int_equal(oidc_flatten_claims(claims, "p:", ctx, &e), -1);
	json_decref(claims);
	claims = json_pack("{s:[s]}", "v", val);	/* in an array */
	assert_int_equal(oidc_flatten_claims(claims, "p:", ctx, &e), -1);
	json_decref(claims);
	claims = json_pack("{s:{s:s}}", "o", "v", val);	/* nested */
	assert_int_equal(oidc_flatten_claims(claims, "p:", ctx, &e), -1);
	json_decref(claims);
	free(val);
	/* A NUL inside a value. */
	claims = json_object();
	json_object_set_new(claims, "v", json_stringn("a\0b", 3));
	assert_int_equal(oidc_flatten_claims(claims, "p:", ctx, &e), -1);
	json_decref(claims);
	/* Arrays: at most OIDC_CLAIMS_MAX values. */
	arr = json_array();
	for (i = 0; i <= OIDC_CLAIMS_MAX; i++)
		json_array_append_new(arr, json_integer(1));
	claims = json_pack("{s:o}", "a", arr);
	assert_int_equal(oidc_flatten_claims(claims, "p:", ctx, &e), -1);
	json_decref(claims);
	/* Names: OIDC_CLAIM_NAME_MAX bytes, nested ones included. */
	memset(name, 'n', sizeof(name));
	name[OIDC_CLAIM_NAME_MAX] = '\0';
	claims = json_pack("{s:i}", name, 1);
	assert_int_equal(oidc_flatten_claims(claims, "", ctx, &e), 0);
	json_object_del(ctx, name);
	json_decref(claims);
	name[OIDC_CLAIM_NAME_MAX - 2] = '\0';
	claims = json_pack("{s:{s:i}}", name, "xy", 1);
	assert_int_equal(oidc_flatten_claims(claims, "", ctx, &e), -1);
	assert_non_null(strstr(e.msg, "longer than"));
	json_decref(claims);
	claims = json_pack("{s:i}", "", 1);
	assert_int_equal(oidc_flatten_claims(claims, "", ctx, &e), -1);
	json_decref(claims);
	/* "a/b" both as a claim and nested: refused, not chosen. */
	claims = json_loads("{\"a/b\":\"x\",\"a\":{\"b\":\"y\"}}", 0, NULL);
	assert_int_equal(oidc_flatten_claims(claims, "p:", ctx, &e), -1);
	assert_non_null(strstr(e.msg, "twice"));
	json_decref(claims);
	/* Bad arguments. */
	claims = json_object();
	assert_int_equal(oidc_flatten_claims(NULL, "p:", ctx, &e), -1);
	assert_int_equal(oidc_flatten_claims(claims, NULL, ctx, &e), -1);
	assert_int_equal(oidc_flatten_claims(claims, "p:", NULL, &e), -1);
	json_decref(claims);
	assert_int_equal(json_object_size(ctx), 1);
	assert_string_equal(ctx_str(ctx, "keep"), "me");
	json_decref(ctx);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_url_ok),
		cmocka_unit_test(test_file_name),
		cmocka_unit_test(test_issuer_load),
		cmocka_unit_test(test_issuer_load_bad),
		cmocka_unit_test(test_keys_parse),
		cmocka_unit_test(test_keys_parse_bad),
		cmocka_unit_test_setup(test_verify_good, setup),
		cmocka_unit_test_setup(test_verify_times, setup),
		cmocka_unit_test_setup(test_verify_aud_iss_sub, setup),
		cmocka_unit_test_setup(test_verify_malformed, setup),
		cmocka_unit_test_setup(test_refetch_unknown_kid, setup),
		cmocka_unit_test_setup(test_rotation, setup),
		cmocka_unit_test_setup(test_ttl_and_stale, setup),
		cmocka_unit_test_setup(test_alg_attacks, setup),
		cmocka_unit_test_setup(test_kidless, setup),
		cmocka_unit_test_setup(test_discovery_refusals, setup),
		cmocka_unit_test_setup(test_bad_jwks_served, setup),
		cmocka_unit_test_setup(test_server_down, setup),
		cmocka_unit_test_setup(test_static_jwks_file, setup),
		cmocka_unit_test_setup(test_concurrent_fetch, setup),
		cmocka_unit_test_setup(test_tls, setup),
		cmocka_unit_test(test_flatten),
		cmocka_unit_test(test_flatten_limits),
	};
	static const char *proxies[] = { "http_proxy", "https_proxy",
	    "HTTPS_PROXY", "all_proxy", "ALL_PROXY" };
	size_t i;

	/* The issuers are on 127.0.0.1: never through a proxy. */
	for (i = 0; i < sizeof(proxies) / sizeof(proxies[0]); i++)
		unsetenv(proxies[i]);
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
