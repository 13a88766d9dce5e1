/*
 * login: service-account assertions (RFC 7523) and the login tokens they
 * give. Assertions are signed with libjwt, as the helper signs them: an
 * implementation independent of the server's jws.c. Service accounts and
 * keys are made with `regauthd sa` itself (cmd_sa).
 */
#include <getopt.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <jwt.h>
#include <openssl/pem.h>

#include "regauth/wire.h"
#include "cmd_sa.h"
#include "fixture.h"
#include "jws.h"
#include "login.h"

struct keyfile {
	char	*pem;		/* private key, PKCS#8 */
	char	 kid[64];
};

struct fx {
	char		*dir;
	struct config	*cfg;
	struct keyfile	 k;
	char		 keypath[1100];
};

static int jti_counter;

/* Run `regauthd sa ARGS...` in-process; returns its exit status. */
static int
sa(const char *a0, ...)
{
	char *argv[24];
	va_list ap;
	int argc = 0, rc;
	const char *s;

	argv[argc++] = (char *)"sa";
	va_start(ap, a0);
	for (s = a0; s != NULL && argc < 23; s = va_arg(ap, const char *))
		argv[argc++] = (char *)s;
	va_end(ap);
	argv[argc] = NULL;
	optind = 0;	/* GNU getopt: start over */
	rc = cmd_sa(argc, argv);
	fflush(stdout);
	return rc;
}

static void
keyfile_read(const char *path, struct keyfile *k)
{
	struct err e;
	json_t *j;

	j = util_json_load_file(path, &e);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "type")),
	    REGAUTH_KEYFILE_TYPE);
	k->pem = strdup(json_string_value(json_object_get(j, "private_key")));
	snprintf(k->kid, sizeof(k->kid), "%s",
	    json_string_value(json_object_get(j, "key_id")));
	json_decref(j);
}

static struct config *
reload(struct fx *f)
{
	struct err e;
	struct config *cfg = config_load(f->dir, &e);

	if (cfg == NULL)
		fail_msg("config_load: %s", e.msg);
	return cfg;
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct stat st;

	f->dir = fx_config_dir();
	snprintf(f->keypath, sizeof(f->keypath), "%s/ci.key", f->dir);
	assert_int_equal(sa("create", "-c", f->dir, "ci", "--group", "devs",
	    "--key-out", f->keypath, NULL), 0);
	assert_int_equal(stat(f->keypath, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	keyfile_read(f->keypath, &f->k);
	f->cfg = reload(f);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	config_release(f->cfg);
	util_secure_free_str(f->k.pem);
	fx_remove(f->dir);
	free(f);
	return 0;
}

/* What an assertion says; NULL strings are left out. */
struct spec {
	const char	*iss, *sub, *kid;
	const char	*aud;		/* raw JSON */
	const char	*jti;		/* "" -> a fresh one; NULL -> none */
	long		 iat, exp;	/* relative to now */
	int		 no_iat, no_exp;
	jwt_alg_t	 alg;
	const unsigned char *key;
	size_t		 keylen;
};

static void
spec_init(struct spec *s, const struct fx *f)
{
	memset(s, 0, sizeof(*s));
	s->iss = s->sub = "serviceaccount/ci";
	s->kid = f->k.kid;
	s->aud = "\"test-issuer\"";
	s->jti = "";
	s->iat = 0;
	s->exp = 60;
	s->alg = JWT_ALG_ES256;
	s->key = (const unsigned char *)f->k.pem;
	s->keylen = strlen(f->k.pem);
}

static char *
mint(const struct spec *s)
{
	char jti[64], aud[256];
	long now = (long)util_now();
	jwt_t *jwt = NULL;
	char *tok, *ret;

	assert_int_equal(jwt_new(&jwt), 0);
	if (s->iss != NULL)
		assert_int_equal(jwt_add_grant(jwt, "iss", s->iss), 0);
	if (s->sub != NULL)
		assert_int_equal(jwt_add_grant(jwt, "sub", s->sub), 0);
	if (s->aud != NULL) {
		snprintf(aud, sizeof(aud), "{\"aud\":%s}", s->aud);
		assert_int_equal(jwt_add_grants_json(jwt, aud), 0);
	}
	if (!s->no_iat)
		assert_int_equal(jwt_add_grant_int(jwt, "iat", now + s->iat), 0);
	if (!s->no_exp)
		assert_int_equal(jwt_add_grant_int(jwt, "exp", now + s->exp), 0);
	if (s->jti != NULL) {
		if (s->jti[0] == '\0')
			snprintf(jti, sizeof(jti), "jti-%d-%ld", ++jti_counter,
			    (long)getpid());
		assert_int_equal(jwt_add_grant(jwt, "jti", s->jti[0] ? s->jti :
		    jti), 0);
	}
	if (s->kid != NULL)
		assert_int_equal(jwt_add_header(jwt, "kid", s->kid), 0);
	assert_int_equal(jwt_set_alg(jwt, s->alg, s->key, (int)s->keylen), 0);
	tok = jwt_encode_str(jwt);
	assert_non_null(tok);
	ret = strdup(tok);
	free(tok);
	jwt_free(jwt);
	return ret;
}

/* The verdict on one assertion; on refusal the log reason holds `why`. */
static void
expect(struct config *cfg, const char *assertion, int ok, const char *why)
{
	const struct principal *p = NULL;
	char kid[64];
	struct err e;
	int rc;

	e.msg[0] = '\0';
	rc = login_assertion_check(cfg, assertion, &p, kid, &e);
	if (ok && rc != 0)
		fail_msg("refused: %s", e.msg);
	if (!ok && rc == 0)
		fail_msg("accepted, expected a refusal for %s", why);
	if (!ok && why != NULL && strstr(e.msg, why) == NULL)
		fail_msg("refused for \"%s\", expected \"%s\"", e.msg, why);
}

static void
expect_spec(struct fx *f, const struct spec *s, int ok, const char *why)
{
	char *t = mint(s);

	expect(f->cfg, t, ok, why);
	free(t);
}

static void
test_good(void **state)
{
	struct fx *f = *state;
	const struct principal *p = NULL;
	struct identity id;
	struct spec s;
	json_t *j, *h = NULL, *c = NULL;
	struct err e;
	const char *tok;
	char *t;
	int status;

	spec_init(&s, f);
	t = mint(&s);
	j = login_assertion(f->cfg, t, &p, &status, &e);
	if (j == NULL)
		fail_msg("refused: %s", e.msg);
	assert_int_equal(status, 200);
	assert_string_equal(p->short_name, "serviceaccount/ci");
	assert_string_equal(json_string_value(json_object_get(j, "principal")),
	    "serviceaccount/ci");
	assert_string_equal(json_string_value(json_object_get(j,
	    "token_type")), "Bearer");
	assert_int_equal(json_integer_value(json_object_get(j, "expires_in")),
	    f->cfg->key_login_token_ttl);
	tok = json_string_value(json_object_get(j, "access_token"));
	assert_int_equal(jws_verify(tok, strlen(tok), keys_lookup,
	    f->cfg->keys, &h, &c, &e), 0);
	assert_string_equal(json_string_value(json_object_get(c, "key_id")),
	    f->k.kid);
	assert_string_equal(json_string_value(json_object_get(c,
	    "auth_method")), "key");
	assert_string_equal(json_string_value(json_object_get(c, "sub")),
	    "serviceaccount/ci");
	/* usable as a Basic password with any user name, and as itself */
	assert_int_equal(authn_credentials(f->cfg, "whoever", tok, &id, &e), 0);
	assert_string_equal(id.method, "key");
	assert_string_equal(id.key_id, f->k.kid);
	assert_int_equal(authn_login_token(f->cfg, tok, &id, &e), 0);
	assert_string_equal(id.principal->short_name, "serviceaccount/ci");
	json_decref(h);
	json_decref(c);
	json_decref(j);
	free(t);
	/* aud as a list that holds our issuer */
	s.aud = "[\"elsewhere\",\"test-issuer\"]";
	expect_spec(f, &s, 1, NULL);
	/* the longest jti */
	s.jti = "0123456789012345678901234567890123456789012345678901234567890123"
	    "4567890123456789012345678901234567890123456789012345678901234567";
	expect_spec(f, &s, 1, NULL);
	/* exp - iat exactly 300, iat a little ahead (within 60 s) */
	s.jti = "";
	s.iat = -100;
	s.exp = 200;
	expect_spec(f, &s, 1, NULL);
	s.iat = 30;
	s.exp = 90;
	expect_spec(f, &s, 1, NULL);
}

static void
test_wrong_alg(void **state)
{
	struct fx *f = *state;
	struct spec s;
	char *t, *h, *nt;
	const char *dot, *hdr;
	size_t n;

	/* "none": no signature at all */
	spec_init(&s, f);
	s.alg = JWT_ALG_NONE;
	s.key = NULL;
	s.keylen = 0;
	expect_spec(f, &s, 0, "not a JWT");
	/* a good ES256 signature under a header that says ES384 */
	spec_init(&s, f);
	t = mint(&s);
	hdr = "{\"alg\":\"ES384\",\"typ\":\"JWT\",\"kid\":\"x\"}";
	h = jws_b64url_encode_new((const unsigned char *)hdr, strlen(hdr));
	assert_non_null(dot = strchr(t, '.'));
	n = strlen(h) + strlen(dot) + 1;
	nt = malloc(n);
	snprintf(nt, n, "%s%s", h, dot);
	expect(f->cfg, nt, 0, "alg");
	free(nt);
	free(h);
	free(t);
}

/* HS256 with the account's public key as the HMAC secret. */
static void
test_hs256_confusion(void **state)
{
	struct fx *f = *state;
	const struct principal *p = config_principal(f->cfg,
	    "serviceaccount/ci");
	char *pem = NULL;
	BIO *b = BIO_new(BIO_s_mem());
	struct spec s;
	long n;

	assert_non_null(p);
	assert_int_equal(p->nkeys, 1);
	assert_int_equal(PEM_write_bio_PUBKEY(b, p->keys[0].pkey), 1);
	n = BIO_get_mem_data(b, &pem);
	spec_init(&s, f);
	s.alg = JWT_ALG_HS256;
	s.key = (const unsigned char *)pem;
	s.keylen = (size_t)n;
	expect_spec(f, &s, 0, "alg");
	BIO_free(b);
}

static void
test_unknown_kid(void **state)
{
	struct fx *f = *state;
	struct spec s;

	spec_init(&s, f);
	s.kid = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
	expect_spec(f, &s, 0, "no key");
	s.kid = NULL;
	expect_spec(f, &s, 0, "no kid");
}

static void
test_claims(void **state)
{
	struct fx *f = *state;
	struct spec s;

	spec_init(&s, f);
	s.aud = "\"other-issuer\"";
	expect_spec(f, &s, 0, "aud");
	s.aud = "[\"other\",\"urn:regauth:login\"]";
	expect_spec(f, &s, 0, "aud");
	s.aud = NULL;
	expect_spec(f, &s, 0, "aud");

	spec_init(&s, f);		/* expired */
	s.iat = -200;
	s.exp = -10;
	expect_spec(f, &s, 0, "expired");
	spec_init(&s, f);		/* exp too far ahead */
	s.exp = 301;
	expect_spec(f, &s, 0, "ahead");
	spec_init(&s, f);		/* exp - iat > 300 */
	s.iat = -100;
	s.exp = 201;
	expect_spec(f, &s, 0, "after iat");
	spec_init(&s, f);		/* iat in the future */
	s.iat = 120;
	s.exp = 200;
	expect_spec(f, &s, 0, "future");
	spec_init(&s, f);
	s.no_iat = 1;
	expect_spec(f, &s, 0, "iat and exp");
	spec_init(&s, f);
	s.no_exp = 1;
	expect_spec(f, &s, 0, "iat and exp");

	spec_init(&s, f);		/* jti: missing, empty, too long */
	s.jti = NULL;
	expect_spec(f, &s, 0, "jti");
	s.jti = "0123456789012345678901234567890123456789012345678901234567890123"
	    "45678901234567890123456789012345678901234567890123456789012345678";
	expect_spec(f, &s, 0, "jti");

	spec_init(&s, f);		/* iss != sub */
	s.sub = "serviceaccount/other";
	expect_spec(f, &s, 0, "iss and sub");
	s.sub = NULL;
	expect_spec(f, &s, 0, "iss and sub");
	/* a user as iss (and sub), signed with the account's key */
	spec_init(&s, f);
	s.iss = s.sub = "user/alice";
	expect_spec(f, &s, 0, "not a service account");
	s.iss = s.sub = "serviceaccount/nobody";
	expect_spec(f, &s, 0, "not a service account");
	s.iss = NULL;
	expect_spec(f, &s, 0, "no iss");
	expect(f->cfg, NULL, 0, "missing");
	expect(f->cfg, "", 0, "missing");
	expect(f->cfg, "eyJ.e30.AAAA", 0, NULL);
}

static void
test_replay(void **state)
{
	struct fx *f = *state;
	struct config *next;
	struct spec s;
	char *t;

	spec_init(&s, f);
	t = mint(&s);
	expect(f->cfg, t, 1, NULL);
	expect(f->cfg, t, 0, "replay");
	/* the same jti in another assertion */
	s.jti = "fixed-jti";
	expect_spec(f, &s, 1, NULL);
	s.exp = 120;
	expect_spec(f, &s, 0, "replay");
	/* a reload forgets nothing */
	next = reload(f);
	expect(next, t, 0, "replay");
	config_release(next);
	free(t);
	/* a refused assertion does not use up its jti */
	spec_init(&s, f);
	s.jti = "kept-jti";
	s.aud = "\"other\"";
	expect_spec(f, &s, 0, "aud");
	s.aud = "\"test-issuer\"";
	expect_spec(f, &s, 1, NULL);
}

static void
test_replay_bound(void **state)
{
	struct err e;
	int64_t now = 1000000;
	int i;
	char jti[16];

	(void)state;
	login_replay_reset(4);
	for (i = 0; i < 4; i++) {
		snprintf(jti, sizeof(jti), "j%d", i);
		assert_int_equal(login_replay_record("serviceaccount/a", jti,
		    now + 100 + i, now, &e), 0);
	}
	/* full of unexpired entries: refused, nothing evicted */
	assert_int_equal(login_replay_record("serviceaccount/a", "j9",
	    now + 100, now, &e), -1);
	assert_non_null(strstr(e.msg, "full"));
	assert_int_equal(login_replay_record("serviceaccount/a", "j0",
	    now + 100, now, &e), -1);
	assert_non_null(strstr(e.msg, "replay"));
	/* same jti, another account: a different entry (but no room) */
	assert_int_equal(login_replay_record("serviceaccount/b", "j0",
	    now + 100, now, &e), -1);
	assert_non_null(strstr(e.msg, "full"));
	/* once two have expired, there is room for two */
	assert_int_equal(login_replay_record("serviceaccount/a", "j9",
	    now + 300, now + 101, &e), 0);
	assert_int_equal(login_replay_record("serviceaccount/b", "j0",
	    now + 300, now + 101, &e), 0);
	assert_int_equal(login_replay_record("serviceaccount/b", "j1",
	    now + 300, now + 101, &e), -1);
	assert_int_equal(login_replay_record("serviceaccount/a", "j3",
	    now + 300, now + 101, &e), -1);
	assert_non_null(strstr(e.msg, "replay"));
	login_replay_reset(0);
}

/* Disabling (or deleting) a key revokes the login tokens it gave, also a
 * login token derived from one, across a reload. */
static void
test_key_disable_revokes(void **state)
{
	struct fx *f = *state;
	const struct principal *p = NULL;
	struct config *next, *third;
	struct identity id;
	struct spec s;
	struct err e;
	char *t, *tok, *derived;
	json_t *j;
	int status;

	spec_init(&s, f);
	t = mint(&s);
	assert_non_null(j = login_assertion(f->cfg, t, &p, &status, &e));
	tok = strdup(json_string_value(json_object_get(j, "access_token")));
	json_decref(j);
	free(t);
	assert_int_equal(authn_login_token(f->cfg, tok, &id, &e), 0);
	assert_int_equal(authn_login_token(f->cfg, tok, &id, &e), 0);	/* cached */
	derived = authn_issue_login_token_for(f->cfg, &id, 3600, &e);
	assert_non_null(derived);

	assert_int_equal(sa("key", "disable", "-c", f->dir, "ci", f->k.kid,
	    NULL), 0);
	next = reload(f);
	assert_int_equal(authn_login_token(next, tok, &id, &e), -1);
	assert_non_null(strstr(e.msg, "disabled"));
	assert_int_equal(authn_credentials(next, "x", tok, &id, &e), -1);
	assert_int_equal(authn_login_token(next, derived, &id, &e), -1);
	/* and new assertions are refused */
	spec_init(&s, f);
	t = mint(&s);
	expect(next, t, 0, "disabled");
	free(t);
	/* enabled again: the same token works (it was never the token's fault) */
	assert_int_equal(sa("key", "enable", "-c", f->dir, "ci", f->k.kid,
	    NULL), 0);
	third = reload(f);
	assert_int_equal(authn_login_token(third, tok, &id, &e), 0);
	config_release(third);
	assert_int_equal(sa("key", "delete", "-c", f->dir, "ci", f->k.kid,
	    NULL), 0);
	third = reload(f);
	assert_int_equal(authn_login_token(third, tok, &id, &e), -1);
	assert_non_null(strstr(e.msg, "no longer exists"));
	config_release(third);
	config_release(next);
	util_secure_free_str(tok);
	util_secure_free_str(derived);
}

/* A cached verification still checks the key (same snapshot, key state
 * rewritten in memory as a reload would present it). */
static void
test_cache_checks_key(void **state)
{
	struct fx *f = *state;
	const struct principal *p = NULL;
	struct principal *mp;
	struct identity id;
	struct spec s;
	struct err e;
	char *t;
	json_t *j;
	int status;

	spec_init(&s, f);
	t = mint(&s);
	assert_non_null(j = login_assertion(f->cfg, t, &p, &status, &e));
	free(t);
	t = strdup(json_string_value(json_object_get(j, "access_token")));
	json_decref(j);
	assert_int_equal(authn_login_token(f->cfg, t, &id, &e), 0);
	mp = (struct principal *)p;
	mp->keys[0].enabled = 0;
	assert_int_equal(authn_login_token(f->cfg, t, &id, &e), -1);
	assert_non_null(strstr(e.msg, "disabled"));
	mp->keys[0].enabled = 1;
	assert_int_equal(authn_login_token(f->cfg, t, &id, &e), 0);
	free(t);
}

static void
test_second_key(void **state)
{
	struct fx *f = *state;
	struct keyfile k2;
	struct config *next;
	char path[1200];
	struct spec s;
	char *t;

	snprintf(path, sizeof(path), "%s/ci-2.key", f->dir);
	assert_int_equal(sa("key", "add", "-c", f->dir, "ci", "--key-out", path,
	    NULL), 0);
	/* never over an existing file; a folder that does not exist */
	assert_int_equal(sa("key", "add", "-c", f->dir, "ci", "--key-out", path,
	    NULL), 1);
	assert_int_equal(sa("key", "add", "-c", f->dir, "ci", "--key-out",
	    "/nonexistent-folder/k", NULL), 1);
	assert_int_equal(sa("key", "add", "-c", f->dir, "nobody", "--key-out",
	    "/tmp/never-written", NULL), 1);
	assert_int_equal(sa("key", "add", "-c", f->dir, "ci", NULL), 2);
	keyfile_read(path, &k2);
	assert_string_not_equal(k2.kid, f->k.kid);
	next = reload(f);
	spec_init(&s, f);
	s.kid = k2.kid;
	s.key = (const unsigned char *)k2.pem;
	s.keylen = strlen(k2.pem);
	t = mint(&s);
	expect(next, t, 1, NULL);
	free(t);
	/* the second key's kid with the first key's signature */
	spec_init(&s, f);
	s.kid = k2.kid;
	t = mint(&s);
	expect(next, t, 0, "signature");
	free(t);
	config_release(next);
	util_secure_free_str(k2.pem);
}

/* What the loader refuses, and what a service account cannot do. */
static void
test_config_rules(void **state)
{
	struct fx *f = *state;
	struct identity id;
	struct config *cfg;
	struct err e;
	char *hash, buf[2048];
	json_t *j;
	char path[1200];

	/* a service account has no password: Basic with its name fails */
	assert_int_equal(authn_credentials(f->cfg, "ci", "anything", &id, &e),
	    -1);
	assert_non_null(hash = authn_hash_password("pw", &e));
	snprintf(buf, sizeof(buf), "{\"name\":\"pwsa\",\"password\":\"%s\"}",
	    hash);
	free(hash);
	fx_write(f->dir, "serviceaccounts/pwsa.json", buf);
	assert_null(cfg = config_load(f->dir, &e));
	assert_non_null(strstr(e.msg, "no password"));
	snprintf(path, sizeof(path), "%s/serviceaccounts/pwsa.json", f->dir);
	unlink(path);
	/* users cannot have keys */
	snprintf(path, sizeof(path), "%s/serviceaccounts/ci.json", f->dir);
	j = util_json_load_file(path, &e);
	assert_non_null(j);
	json_object_set_new(j, "name", json_string("bob"));
	snprintf(path, sizeof(path), "%s/users/bob.json", f->dir);
	assert_int_equal(util_json_write_file(path, j, 0600, 0, &e), 0);
	assert_null(cfg = config_load(f->dir, &e));
	assert_non_null(strstr(e.msg, "only service accounts"));
	unlink(path);
	/* a key_id that is not the key's thumbprint */
	json_object_set_new(j, "name", json_string("ci"));
	json_object_set_new(json_array_get(json_object_get(j, "keys"), 0),
	    "key_id", json_string("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
	snprintf(path, sizeof(path), "%s/serviceaccounts/ci2.json", f->dir);
	json_object_set_new(j, "name", json_string("ci2"));
	assert_int_equal(util_json_write_file(path, j, 0600, 0, &e), 0);
	assert_null(cfg = config_load(f->dir, &e));
	assert_non_null(strstr(e.msg, "thumbprint"));
	/* a key that is not P-256 (P-384), and a certificate */
	{
		EVP_PKEY *k384 = EVP_EC_gen("P-384");
		BIO *b = BIO_new(BIO_s_mem());
		char *pem = NULL;
		long n;

		assert_int_equal(PEM_write_bio_PUBKEY(b, k384), 1);
		n = BIO_get_mem_data(b, &pem);
		json_object_set_new(json_array_get(json_object_get(j, "keys"),
		    0), "public_key", json_stringn(pem, (size_t)n));
		BIO_free(b);
		EVP_PKEY_free(k384);
	}
	assert_int_equal(util_json_write_file(path, j, 0600, 0, &e), 0);
	assert_null(cfg = config_load(f->dir, &e));
	assert_non_null(strstr(e.msg, "P-256"));
	json_object_set_new(json_array_get(json_object_get(j, "keys"), 0),
	    "public_key", json_string(keys_bundle_pem(f->cfg->keys)));
	assert_int_equal(util_json_write_file(path, j, 0600, 0, &e), 0);
	assert_null(cfg = config_load(f->dir, &e));
	/* "enabled" must be a boolean */
	json_decref(j);
	unlink(path);
	snprintf(path, sizeof(path), "%s/serviceaccounts/ci.json", f->dir);
	j = util_json_load_file(path, &e);
	json_object_set_new(json_array_get(json_object_get(j, "keys"), 0),
	    "enabled", json_string("yes"));
	snprintf(path, sizeof(path), "%s/serviceaccounts/ci3.json", f->dir);
	json_object_set_new(j, "name", json_string("ci3"));
	assert_int_equal(util_json_write_file(path, j, 0600, 0, &e), 0);
	assert_null(cfg = config_load(f->dir, &e));
	assert_non_null(strstr(e.msg, "enabled"));
	unlink(path);
	json_decref(j);
	/* and the directory loads again */
	assert_non_null(cfg = config_load(f->dir, &e));
	config_release(cfg);
}

/* The key file: 0600, the server's files hold no private key. */
static void
test_key_file(void **state)
{
	struct fx *f = *state;
	char path[1200], *text;
	struct err e;
	json_t *j;
	size_t len;

	j = util_json_load_file(f->keypath, &e);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "principal")),
	    "serviceaccount/ci");
	assert_string_equal(json_string_value(json_object_get(j, "issuer")),
	    "test-issuer");
	assert_non_null(strstr(json_string_value(json_object_get(j,
	    "private_key")), "-----BEGIN PRIVATE KEY-----"));
	json_decref(j);
	snprintf(path, sizeof(path), "%s/serviceaccounts/ci.json", f->dir);
	text = util_read_file(path, 1 << 20, &len, &e);
	assert_non_null(text);
	assert_null(strstr(text, "PRIVATE"));
	assert_null(strstr(text, f->k.pem + 28));
	free(text);
	/* create refuses an existing key file and an existing account */
	assert_int_equal(sa("create", "-c", f->dir, "ci9", "--key-out",
	    f->keypath, NULL), 1);
	assert_int_equal(sa("create", "-c", f->dir, "ci", "--key-out",
	    "/tmp/never-written", NULL), 1);
	assert_int_equal(sa("create", "-c", f->dir, "ci9", "--policy",
	    "nope", "--key-out", "/tmp/never-written", NULL), 1);
	assert_int_equal(access("/tmp/never-written", F_OK), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_good, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_alg, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hs256_confusion, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_unknown_kid, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_claims, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replay, setup, teardown),
		cmocka_unit_test(test_replay_bound),
		cmocka_unit_test_setup_teardown(test_key_disable_revokes, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_cache_checks_key, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_second_key, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_config_rules, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_key_file, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
