/*
 * Unit tests of tokenserver/keys.c: keys_create writes a CA and a CA-issued
 * signing key with the right modes and certificate fields; keys_load refuses
 * readable private keys and mismatched files; the token header, JWKS,
 * lookup and signing, including from several threads at once. Rotation
 * (keys_rotate, keys_prune, keys_list) on an injected clock: immediate and
 * delayed activation, JWKS contents and lookups over time, retirement,
 * malformed keys.json, a reload that fails on it, a new CA.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "config.h"
#include "keys.h"

static char tmpdir[PATH_MAX];

static int
setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_keys.XXXXXX");
	return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	char cmd[PATH_MAX + 16];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static void
sub(char *out, size_t n, const char *a, const char *b)
{
	int r;

	if (b == NULL)
		r = snprintf(out, n, "%s/%s", tmpdir, a);
	else
		r = snprintf(out, n, "%s/%s/%s", tmpdir, a, b);
	assert_true(r > 0 && (size_t)r < n);
}

static void
create(const char *name, enum jws_alg alg, const char *issuer)
{
	char d[PATH_MAX];
	struct err e = { "" };

	sub(d, sizeof(d), name, NULL);
	if (keys_create(d, alg, issuer, &e) != 0)
		fail_msg("keys_create: %s", e.msg);
}

static struct keyset *
load(const char *name, enum keys_kid_format fmt)
{
	char d[PATH_MAX];
	struct err e = { "" };
	struct keyset *ks;

	sub(d, sizeof(d), name, NULL);
	if ((ks = keys_load(d, fmt, 3600, &e)) == NULL)
		fail_msg("keys_load: %s", e.msg);
	return ks;
}

static int
file_mode(const char *path)
{
	struct stat st;

	assert_int_equal(lstat(path, &st), 0);
	return (int)(st.st_mode & 07777);
}

static X509 *
read_cert(const char *path)
{
	FILE *f = fopen(path, "r");
	X509 *x;

	assert_non_null(f);
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	assert_non_null(x);
	return x;
}

static void
copy_file(const char *from, const char *to)
{
	char cmd[3 * PATH_MAX];

	snprintf(cmd, sizeof(cmd), "cp -p '%s' '%s'", from, to);
	assert_int_equal(system(cmd), 0);
}

static char *
cn_of(X509 *x)
{
	static char buf[128];

	X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, buf,
	    sizeof(buf));
	return buf;
}

/* Seconds from now to an ASN1_TIME (negative: in the past). */
static long
secs_from_now(const ASN1_TIME *t)
{
	int days = 0, secs = 0;

	assert_int_equal(ASN1_TIME_diff(&days, &secs, NULL, t), 1);
	return (long)days * 86400 + secs;
}

static void
test_create_files_and_modes(void **state)
{
	char p[PATH_MAX], d[PATH_MAX];
	struct err e = { "" };

	(void)state;
	create("cfg", JWS_ES256, "regauth");
	sub(p, sizeof(p), "cfg", "keys");
	assert_int_equal(file_mode(p), 0700);
	sub(p, sizeof(p), "cfg/keys", "ca.key");
	assert_int_equal(file_mode(p), 0600);
	sub(p, sizeof(p), "cfg/keys", "signing.key");
	assert_int_equal(file_mode(p), 0600);
	sub(p, sizeof(p), "cfg/keys", "bundle.pem");
	assert_int_equal(file_mode(p) & 077 & ~044, 0);
	sub(p, sizeof(p), "cfg/keys", "signing.crt");
	assert_int_equal(file_mode(p) & 077 & ~044, 0);

	/* Existing key files are an error, and nothing is overwritten. */
	sub(d, sizeof(d), "cfg", NULL);
	assert_int_equal(keys_create(d, JWS_ES256, "regauth", &e), -1);
	assert_non_null(strstr(e.msg, "exists"));
}

static void
test_certificates(void **state)
{
	char p[PATH_MAX];
	X509 *ca, *leaf;
	X509_STORE *store;
	X509_STORE_CTX *ctx;
	BASIC_CONSTRAINTS *bc;
	ASN1_BIT_STRING *ku;
	const ASN1_INTEGER *serial;
	BIGNUM *bn;
	int crit = 0;
	long nb, na;

	(void)state;
	create("cfg", JWS_ES256, "ref-issuer");
	sub(p, sizeof(p), "cfg/keys", "bundle.pem");
	ca = read_cert(p);
	sub(p, sizeof(p), "cfg/keys", "signing.crt");
	leaf = read_cert(p);

	/* The CA. */
	assert_string_equal(cn_of(ca), "ref-issuer CA");
	bc = X509_get_ext_d2i(ca, NID_basic_constraints, &crit, NULL);
	assert_non_null(bc);
	assert_true(bc->ca);
	assert_int_equal(crit, 1);
	BASIC_CONSTRAINTS_free(bc);
	ku = X509_get_ext_d2i(ca, NID_key_usage, &crit, NULL);
	assert_non_null(ku);
	assert_int_equal(X509_get_key_usage(ca), KU_KEY_CERT_SIGN | KU_CRL_SIGN);
	ASN1_BIT_STRING_free(ku);
	nb = secs_from_now(X509_get0_notBefore(ca));
	na = secs_from_now(X509_get0_notAfter(ca));
	assert_true(nb <= -3590 && nb >= -3700);
	assert_true(na > 3650L * 86400 && na < 3660L * 86400);
	serial = X509_get0_serialNumber(ca);
	bn = ASN1_INTEGER_to_BN(serial, NULL);
	assert_int_equal(BN_num_bits(bn), 127);
	assert_false(BN_is_negative(bn));
	BN_free(bn);
	assert_int_equal(EVP_PKEY_get_base_id(X509_get0_pubkey(ca)),
	    EVP_PKEY_EC);
	assert_int_equal(X509_check_issued(ca, ca), X509_V_OK);

	/* The leaf. */
	assert_string_equal(cn_of(leaf), "ref-issuer signing key");
	bc = X509_get_ext_d2i(leaf, NID_basic_constraints, &crit, NULL);
	assert_non_null(bc);
	assert_false(bc->ca);
	BASIC_CONSTRAINTS_free(bc);
	assert_int_equal(X509_get_key_usage(leaf), KU_DIGITAL_SIGNATURE);
	assert_non_null(X509_get0_subject_key_id(leaf));
	assert_non_null(X509_get0_authority_key_id(leaf));
	assert_int_equal(ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(leaf),
	    X509_get0_subject_key_id(ca)), 0);
	nb = secs_from_now(X509_get0_notBefore(leaf));
	na = secs_from_now(X509_get0_notAfter(leaf));
	assert_true(nb <= -3590 && nb >= -3700);
	assert_true(na > 1820L * 86400 && na < 1830L * 86400);
	assert_int_equal(ASN1_INTEGER_cmp(X509_get0_serialNumber(leaf),
	    X509_get0_serialNumber(ca)) != 0, 1);

	/* The chain verifies as a registry would check it: the CA as root. */
	store = X509_STORE_new();
	ctx = X509_STORE_CTX_new();
	assert_int_equal(X509_STORE_add_cert(store, ca), 1);
	assert_int_equal(X509_STORE_CTX_init(ctx, store, leaf, NULL), 1);
	assert_int_equal(X509_verify_cert(ctx), 1);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	X509_free(ca);
	X509_free(leaf);
}

static void
test_long_issuer(void **state)
{
	char issuer[200], p[PATH_MAX];
	X509 *ca;

	(void)state;
	memset(issuer, 'i', sizeof(issuer) - 1);
	issuer[sizeof(issuer) - 1] = '\0';
	create("cfg", JWS_ES256, issuer);
	sub(p, sizeof(p), "cfg/keys", "bundle.pem");
	ca = read_cert(p);
	assert_int_equal(strlen(cn_of(ca)), 64);
	assert_non_null(strstr(cn_of(ca), " CA"));
	X509_free(ca);
}

static void
test_load_header_and_sign(void **state)
{
	struct keyset *ks;
	const struct signing_key *sk;
	struct err e = { "" };
	json_t *hdr, *x5c, *claims, *h = NULL, *c = NULL;
	unsigned char *text, *der;
	const unsigned char *dp;
	const char *prefix;
	char p[PATH_MAX], *tok;
	size_t n;
	int dn;
	X509 *leaf, *fromx5c;

	(void)state;
	create("cfg", JWS_ES256, "regauth");
	ks = load("cfg", KEYS_KID_THUMBPRINT);
	sk = keys_active(ks);
	assert_int_equal(sk->alg, JWS_ES256);
	assert_int_equal(strlen(sk->kid), 43);

	/* header_b64 = {"alg","typ","kid","x5c":[leaf]} in that order. */
	text = jws_b64url_decode_new(sk->header_b64, strlen(sk->header_b64), &n);
	assert_non_null(text);
	prefix = "{\"alg\":\"ES256\",\"typ\":\"JWT\",\"kid\":\"";
	assert_memory_equal(text, prefix, strlen(prefix));
	hdr = json_loadb((char *)text, n, 0, NULL);
	assert_non_null(hdr);
	assert_string_equal(json_string_value(json_object_get(hdr, "kid")),
	    sk->kid);
	x5c = json_object_get(hdr, "x5c");
	assert_int_equal(json_array_size(x5c), 1);
	/* Standard base64 with padding, the DER of signing.crt. */
	der = malloc(strlen(json_string_value(json_array_get(x5c, 0))));
	dn = EVP_DecodeBlock(der, (const unsigned char *)json_string_value(
	    json_array_get(x5c, 0)), (int)strlen(json_string_value(
	    json_array_get(x5c, 0))));
	assert_true(dn > 0);
	dp = der;
	fromx5c = d2i_X509(NULL, &dp, dn);
	assert_non_null(fromx5c);
	sub(p, sizeof(p), "cfg/keys", "signing.crt");
	leaf = read_cert(p);
	assert_int_equal(X509_cmp(leaf, fromx5c), 0);
	X509_free(leaf);
	X509_free(fromx5c);
	free(der);
	json_decref(hdr);
	free(text);

	/* Sign, verify through keys_lookup. */
	claims = json_pack("{s:s,s:s,s:I,s:[{s:s,s:s,s:[s]}]}", "iss", "regauth",
	    "aud", "registry", "exp", (json_int_t)4000000000LL, "access",
	    "type", "repository", "name", "foo/bar", "actions", "pull");
	tok = keys_sign(ks, claims, &e);
	assert_non_null(tok);
	assert_memory_equal(tok, sk->header_b64, strlen(sk->header_b64));
	assert_int_equal(jws_verify(tok, strlen(tok), keys_lookup, ks, &h, &c,
	    &e), 0);
	assert_true(json_equal(c, claims));
	assert_string_equal(json_string_value(json_object_get(h, "typ")), "JWT");
	json_decref(h);
	json_decref(c);
	free(tok);
	/* Claims must be an object. */
	x5c = json_array();
	assert_null(keys_sign(ks, x5c, &e));
	json_decref(x5c);
	json_decref(claims);

	/* The bundle is the CA certificate. */
	assert_non_null(keys_bundle_pem(ks));
	assert_memory_equal(keys_bundle_pem(ks), "-----BEGIN CERTIFICATE-----",
	    27);
	keys_free(ks);
	keys_free(NULL);
}

static void
test_lookup(void **state)
{
	struct keyset *ks;
	const struct signing_key *sk;
	enum jws_alg alg = JWS_RS256;
	json_t *h;

	(void)state;
	create("cfg", JWS_ES256, "regauth");
	ks = load("cfg", KEYS_KID_THUMBPRINT);
	sk = keys_active(ks);
	h = json_pack("{s:s,s:s}", "alg", "ES256", "kid", sk->kid);
	assert_ptr_equal(keys_lookup(ks, h, &alg), sk->pkey);
	assert_int_equal(alg, JWS_ES256);
	json_decref(h);
	/* Wrong kid, wrong alg, missing fields. */
	h = json_pack("{s:s,s:s}", "alg", "ES256", "kid", "nope");
	assert_null(keys_lookup(ks, h, &alg));
	json_decref(h);
	h = json_pack("{s:s,s:s}", "alg", "RS256", "kid", sk->kid);
	assert_null(keys_lookup(ks, h, &alg));
	json_decref(h);
	h = json_pack("{s:s,s:s}", "alg", "HS256", "kid", sk->kid);
	assert_null(keys_lookup(ks, h, &alg));
	json_decref(h);
	h = json_pack("{s:s}", "alg", "ES256");
	assert_null(keys_lookup(ks, h, &alg));
	json_decref(h);
	h = json_pack("{s:s,s:i}", "alg", "ES256", "kid", 3);
	assert_null(keys_lookup(ks, h, &alg));
	json_decref(h);
	keys_free(ks);
}

static void
test_libtrust_kid_and_jwks(void **state)
{
	struct keyset *ks;
	const struct signing_key *sk;
	json_t *jwks, *k;
	char tp[64];
	struct err e = { "" };

	(void)state;
	create("cfg", JWS_ES256, "regauth");
	ks = load("cfg", KEYS_KID_LIBTRUST);
	sk = keys_active(ks);
	assert_int_equal(strlen(sk->kid), 59);
	assert_int_equal(sk->kid[4], ':');
	assert_int_equal(jws_kid_thumbprint(sk->pkey, tp, &e), 0);

	jwks = keys_jwks(ks);
	assert_non_null(jwks);
	assert_int_equal(json_array_size(json_object_get(jwks, "keys")), 1);
	k = json_array_get(json_object_get(jwks, "keys"), 0);
	assert_string_equal(json_string_value(json_object_get(k, "kid")),
	    sk->kid);
	assert_string_equal(json_string_value(json_object_get(k, "alg")),
	    "ES256");
	assert_string_equal(json_string_value(json_object_get(k, "use")), "sig");
	assert_string_equal(json_string_value(json_object_get(k, "kty")), "EC");
	assert_string_equal(json_string_value(json_object_get(k, "crv")),
	    "P-256");
	assert_int_equal(json_array_size(json_object_get(k, "x5c")), 1);
	assert_null(json_object_get(k, "d"));
	json_decref(jwks);
	keys_free(ks);

	ks = load("cfg", KEYS_KID_THUMBPRINT);
	assert_string_equal(keys_active(ks)->kid, tp);
	keys_free(ks);
}

static void
test_rs256(void **state)
{
	struct keyset *ks;
	struct err e = { "" };
	json_t *claims, *h = NULL;
	char *tok, p[PATH_MAX];
	X509 *ca;

	(void)state;
	create("cfg", JWS_RS256, "regauth");
	ks = load("cfg", KEYS_KID_THUMBPRINT);
	assert_int_equal(keys_active(ks)->alg, JWS_RS256);
	assert_int_equal(EVP_PKEY_get_bits(keys_active(ks)->pkey), 2048);
	/* The CA stays P-256 whatever the signing algorithm. */
	sub(p, sizeof(p), "cfg/keys", "bundle.pem");
	ca = read_cert(p);
	assert_int_equal(EVP_PKEY_get_base_id(X509_get0_pubkey(ca)),
	    EVP_PKEY_EC);
	X509_free(ca);
	claims = json_pack("{s:s}", "sub", "x");
	tok = keys_sign(ks, claims, &e);
	assert_non_null(tok);
	assert_int_equal(jws_verify(tok, strlen(tok), keys_lookup, ks, &h, NULL,
	    &e), 0);
	assert_string_equal(json_string_value(json_object_get(h, "alg")),
	    "RS256");
	json_decref(h);
	json_decref(claims);
	free(tok);
	keys_free(ks);
}

static void
test_refuse_readable_keys(void **state)
{
	char d[PATH_MAX], p[PATH_MAX];
	struct err e = { "" };
	struct keyset *ks;

	(void)state;
	create("cfg", JWS_ES256, "regauth");
	sub(d, sizeof(d), "cfg", NULL);
	sub(p, sizeof(p), "cfg/keys", "signing.key");
	assert_int_equal(chmod(p, 0644), 0);
	assert_null(keys_load(d, KEYS_KID_THUMBPRINT, 3600, &e));
	assert_non_null(strstr(e.msg, "signing.key"));
	assert_non_null(strstr(e.msg, "0644"));
	assert_int_equal(chmod(p, 0600), 0);

	sub(p, sizeof(p), "cfg/keys", "ca.key");
	assert_int_equal(chmod(p, 0640), 0);
	assert_null(keys_load(d, KEYS_KID_THUMBPRINT, 3600, &e));
	assert_non_null(strstr(e.msg, "ca.key"));
	assert_non_null(strstr(e.msg, "0640"));
	/* The CA key may be kept offline: absent is fine. */
	assert_int_equal(unlink(p), 0);
	ks = keys_load(d, KEYS_KID_THUMBPRINT, 3600, &e);
	assert_non_null(ks);
	keys_free(ks);
}

static void
test_refuse_mismatches(void **state)
{
	char d[PATH_MAX], from[PATH_MAX], to[PATH_MAX];
	struct err e = { "" };

	(void)state;
	create("a", JWS_ES256, "regauth");
	create("b", JWS_ES256, "regauth");
	sub(d, sizeof(d), "a", NULL);

	/* A certificate of another key. */
	sub(from, sizeof(from), "b/keys", "signing.crt");
	sub(to, sizeof(to), "a/keys", "signing.crt");
	copy_file(to, "/tmp/test_keys_saved.crt");
	copy_file(from, to);
	assert_null(keys_load(d, KEYS_KID_THUMBPRINT, 3600, &e));
	assert_non_null(strstr(e.msg, "does not match"));
	copy_file("/tmp/test_keys_saved.crt", to);
	unlink("/tmp/test_keys_saved.crt");

	/* A bundle that did not issue the signing certificate. */
	sub(from, sizeof(from), "b/keys", "bundle.pem");
	sub(to, sizeof(to), "a/keys", "bundle.pem");
	copy_file(from, to);
	assert_null(keys_load(d, KEYS_KID_THUMBPRINT, 3600, &e));
	assert_non_null(strstr(e.msg, "not issued"));

	/* Missing files. */
	assert_null(keys_load("/nonexistent", KEYS_KID_THUMBPRINT, 3600, &e));
	assert_true(e.msg[0] != '\0');
}

struct worker {
	struct keyset	*ks;
	int		 ok;
};

static void *
work(void *arg)
{
	struct worker *w = arg;
	struct err e = { "" };
	json_t *claims, *c;
	char *tok;
	int i;

	claims = json_pack("{s:s}", "sub", "thread");
	for (i = 0; i < 200; i++) {
		c = NULL;
		tok = keys_sign(w->ks, claims, &e);
		if (tok != NULL && jws_verify(tok, strlen(tok), keys_lookup, w->ks,
		    NULL, &c, &e) == 0 && json_equal(c, claims))
			w->ok++;
		json_decref(c);
		free(tok);
	}
	json_decref(claims);
	return NULL;
}

static void
test_threads(void **state)
{
	struct keyset *ks;
	struct worker w[4];
	pthread_t t[4];
	int i;

	(void)state;
	create("cfg", JWS_ES256, "regauth");
	ks = load("cfg", KEYS_KID_THUMBPRINT);
	for (i = 0; i < 4; i++) {
		w[i].ks = ks;
		w[i].ok = 0;
		assert_int_equal(pthread_create(&t[i], NULL, work, &w[i]), 0);
	}
	for (i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(w[i].ok, 200);
	}
	keys_free(ks);
}

/*
 * Rotation. The key set's clock is this test's: no sleeping.
 */

#define RETIRE	3600	/* the longest token lifetime of these tests */

static int64_t fake_now;

static int64_t
fake_clock(void)
{
	return fake_now;
}

static int
setup_clock(void **state)
{
	fake_now = (int64_t)time(NULL);
	keys_set_clock(fake_clock);
	return setup(state);
}

static int
teardown_clock(void **state)
{
	keys_set_clock(NULL);
	return teardown(state);
}

static json_t *
rotate(const char *name, int64_t after, int alg)
{
	struct keys_rotate_args a = { alg, after, RETIRE, "regauth",
	    KEYS_KID_THUMBPRINT };
	char d[PATH_MAX];
	struct err e = { "" };
	json_t *r;

	sub(d, sizeof(d), name, NULL);
	if ((r = keys_rotate(d, &a, &e)) == NULL)
		fail_msg("keys_rotate: %s", e.msg);
	return r;
}

static struct keyset *
load_ra(const char *name)
{
	char d[PATH_MAX];
	struct err e = { "" };
	struct keyset *ks;

	sub(d, sizeof(d), name, NULL);
	if ((ks = keys_load(d, KEYS_KID_THUMBPRINT, RETIRE, &e)) == NULL)
		fail_msg("keys_load: %s", e.msg);
	return ks;
}

/* Is `kid` in the key set's JWKS; how many keys does it hold? */
static int
jwks_has(const struct keyset *ks, const char *kid, size_t *n)
{
	json_t *j = keys_jwks(ks), *k;
	size_t i;
	int found = 0;

	assert_non_null(j);
	*n = json_array_size(json_object_get(j, "keys"));
	json_array_foreach(json_object_get(j, "keys"), i, k) {
		if (strcmp(json_string_value(json_object_get(k, "kid")),
		    kid) == 0)
			found = 1;
		assert_int_equal(json_array_size(json_object_get(k, "x5c")), 1);
		assert_null(json_object_get(k, "d"));
	}
	json_decref(j);
	return found;
}

static EVP_PKEY *
lookup(const struct keyset *ks, const char *kid, const char *alg)
{
	enum jws_alg a;
	json_t *h = json_pack("{s:s,s:s}", "alg", alg, "kid", kid);
	EVP_PKEY *k = keys_lookup((void *)ks, h, &a);

	json_decref(h);
	return k;
}

/* The kid in a token's header. */
static const char *
token_kid(const char *tok)
{
	static char kid[64];
	unsigned char *t;
	json_t *h;
	size_t n;

	t = jws_b64url_decode_new(tok, strcspn(tok, "."), &n);
	assert_non_null(t);
	h = json_loadb((char *)t, n, 0, NULL);
	assert_non_null(h);
	snprintf(kid, sizeof(kid), "%s",
	    json_string_value(json_object_get(h, "kid")));
	json_decref(h);
	free(t);
	return kid;
}

static char *
sign(const struct keyset *ks)
{
	struct err e = { "" };
	json_t *c = json_pack("{s:s}", "sub", "user/alice");
	char *tok = keys_sign(ks, c, &e);

	assert_non_null(tok);
	json_decref(c);
	return tok;
}

static int
verifies(const struct keyset *ks, const char *tok)
{
	struct err e = { "" };

	return jws_verify(tok, strlen(tok), keys_lookup, (void *)ks, NULL,
	    NULL, &e) == 0;
}

static const char *
state_of(const char *name, const char *file)
{
	static char st[16];
	char d[PATH_MAX];
	struct err e = { "" };
	json_t *arr, *k;
	size_t i;

	sub(d, sizeof(d), name, NULL);
	arr = keys_list(d, KEYS_KID_THUMBPRINT, RETIRE, &e);
	if (arr == NULL)
		fail_msg("keys_list: %s", e.msg);
	st[0] = '\0';
	json_array_foreach(arr, i, k)
		if (strcmp(json_string_value(json_object_get(k, "file")),
		    file) == 0)
			snprintf(st, sizeof(st), "%s", json_string_value(
			    json_object_get(k, "state")));
	json_decref(arr);
	return st;
}

static void
test_rotate_now(void **state)
{
	struct keyset *ks0, *ks1, *ks2;
	char oldkid[64], newkid[64], p[PATH_MAX], d[PATH_MAX], *told, *tnew;
	struct err e = { "" };
	json_t *r;
	size_t n;

	(void)state;
	create("cfg", JWS_ES256, "regauth");
	ks0 = load_ra("cfg");
	snprintf(oldkid, sizeof(oldkid), "%s", keys_active(ks0)->kid);
	told = sign(ks0);		/* a login token from before */

	r = rotate("cfg", 0, -1);
	assert_string_equal(json_string_value(json_object_get(r, "file")),
	    "signing-2");
	assert_string_equal(json_string_value(json_object_get(r, "alg")),
	    "ES256");
	assert_int_equal(json_integer_value(json_object_get(r,
	    "activate_at")), fake_now);
	assert_int_equal(json_array_size(json_object_get(r, "pruned")), 0);
	snprintf(newkid, sizeof(newkid), "%s",
	    json_string_value(json_object_get(r, "kid")));
	json_decref(r);
	assert_string_not_equal(oldkid, newkid);
	sub(p, sizeof(p), "cfg/keys", "signing-2.key");
	assert_int_equal(file_mode(p), 0600);
	sub(p, sizeof(p), "cfg", "keys");
	assert_int_equal(file_mode(p), 0700);
	/* The old snapshot signs on with the old key until a reload. */
	assert_string_equal(keys_active(ks0)->kid, oldkid);

	ks1 = load_ra("cfg");
	assert_string_equal(keys_active(ks1)->kid, newkid);
	tnew = sign(ks1);
	assert_string_equal(token_kid(tnew), newkid);
	/* Tokens of both keys verify; both are published. */
	assert_true(verifies(ks1, told));
	assert_true(verifies(ks1, tnew));
	assert_non_null(lookup(ks1, oldkid, "ES256"));
	assert_true(jwks_has(ks1, oldkid, &n) && jwks_has(ks1, newkid, &n));
	assert_int_equal(n, 2);
	assert_string_equal(state_of("cfg", "signing"), "previous");
	assert_string_equal(state_of("cfg", "signing-2"), "active");

	/* One second before retirement: still there. At it: gone. */
	fake_now += RETIRE - 1;
	assert_true(verifies(ks1, told));
	assert_true(jwks_has(ks1, oldkid, &n));
	assert_int_equal(n, 2);
	fake_now += 1;
	assert_false(verifies(ks1, told));
	assert_null(lookup(ks1, oldkid, "ES256"));
	assert_false(jwks_has(ks1, oldkid, &n));
	assert_int_equal(n, 1);
	assert_true(verifies(ks1, tnew));
	assert_string_equal(state_of("cfg", "signing"), "retired");

	/* A retired key is not loaded: its files may go. */
	sub(p, sizeof(p), "cfg/keys", "signing.key");
	assert_int_equal(unlink(p), 0);
	ks2 = load_ra("cfg");
	assert_false(jwks_has(ks2, oldkid, &n));
	assert_int_equal(n, 1);
	keys_free(ks2);

	/* prune drops it from keys.json and removes its certificate. */
	sub(d, sizeof(d), "cfg", NULL);
	r = keys_prune(d, RETIRE, &e);
	assert_non_null(r);
	assert_int_equal(json_array_size(r), 1);
	assert_string_equal(json_string_value(json_array_get(r, 0)), "signing");
	json_decref(r);
	sub(p, sizeof(p), "cfg/keys", "signing.crt");
	assert_int_equal(access(p, F_OK), -1);
	assert_string_equal(state_of("cfg", "signing"), "");
	ks2 = load_ra("cfg");
	assert_string_equal(keys_active(ks2)->kid, newkid);
	keys_free(ks2);

	free(told);
	free(tnew);
	keys_free(ks0);
	keys_free(ks1);
}

static void
test_activate_after(void **state)
{
	struct keyset *ks;
	struct keys_rotate_args a = { -1, 0, RETIRE, "regauth",
	    KEYS_KID_THUMBPRINT };
	char oldkid[64], newkid[64], d[PATH_MAX], *tok, *told;
	struct err e = { "" };
	int64_t t0 = fake_now;
	json_t *r;
	size_t n;

	(void)state;
	create("cfg", JWS_ES256, "regauth");
	ks = load_ra("cfg");
	snprintf(oldkid, sizeof(oldkid), "%s", keys_active(ks)->kid);
	keys_free(ks);

	r = rotate("cfg", 100, -1);
	assert_int_equal(json_integer_value(json_object_get(r,
	    "activate_at")), t0 + 100);
	snprintf(newkid, sizeof(newkid), "%s",
	    json_string_value(json_object_get(r, "kid")));
	json_decref(r);
	ks = load_ra("cfg");

	/* Before: the old key signs; the JWKS already lists the new one. */
	tok = sign(ks);
	assert_string_equal(token_kid(tok), oldkid);
	told = tok;
	assert_true(jwks_has(ks, oldkid, &n) && jwks_has(ks, newkid, &n));
	assert_int_equal(n, 2);
	assert_string_equal(state_of("cfg", "signing"), "active");
	assert_string_equal(state_of("cfg", "signing-2"), "pending");
	/* A second rotation waits for the pending key. */
	sub(d, sizeof(d), "cfg", NULL);
	assert_null(keys_rotate(d, &a, &e));
	assert_non_null(strstr(e.msg, "pending"));

	/* At activate_at the same key set signs with the new key. */
	fake_now = t0 + 99;
	assert_string_equal(keys_active(ks)->kid, oldkid);
	fake_now = t0 + 100;
	assert_string_equal(keys_active(ks)->kid, newkid);
	tok = sign(ks);
	assert_string_equal(token_kid(tok), newkid);
	assert_true(verifies(ks, told) && verifies(ks, tok));
	assert_true(jwks_has(ks, oldkid, &n));
	assert_int_equal(n, 2);
	assert_string_equal(state_of("cfg", "signing"), "previous");
	assert_string_equal(state_of("cfg", "signing-2"), "active");

	/* The old key retires RETIRE seconds after it stopped signing. */
	fake_now = t0 + 100 + RETIRE;
	assert_false(jwks_has(ks, oldkid, &n));
	assert_int_equal(n, 1);
	assert_false(verifies(ks, told));
	assert_true(verifies(ks, tok));
	assert_string_equal(state_of("cfg", "signing"), "retired");

	/* Rotating again now prunes the retired key. */
	r = rotate("cfg", 0, -1);
	assert_string_equal(json_string_value(json_object_get(r, "file")),
	    "signing-3");
	assert_int_equal(json_array_size(json_object_get(r, "pruned")), 1);
	json_decref(r);
	assert_string_equal(state_of("cfg", "signing"), "");
	assert_string_equal(state_of("cfg", "signing-2"), "previous");
	assert_string_equal(state_of("cfg", "signing-3"), "active");
	free(tok);
	free(told);
	keys_free(ks);
}

static void
test_rotate_algorithm(void **state)
{
	struct keyset *ks;
	char rskid[64];
	json_t *r;

	(void)state;
	create("cfg", JWS_RS256, "regauth");
	r = rotate("cfg", 0, -1);	/* as the active key */
	assert_string_equal(json_string_value(json_object_get(r, "alg")),
	    "RS256");
	snprintf(rskid, sizeof(rskid), "%s",
	    json_string_value(json_object_get(r, "kid")));
	json_decref(r);
	r = rotate("cfg", 0, JWS_ES256);
	assert_string_equal(json_string_value(json_object_get(r, "alg")),
	    "ES256");
	json_decref(r);
	ks = load_ra("cfg");
	assert_int_equal(keys_active(ks)->alg, JWS_ES256);
	assert_non_null(lookup(ks, rskid, "RS256"));
	assert_null(lookup(ks, rskid, "ES256"));	/* no alg confusion */
	keys_free(ks);
}

static void
write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

static void
test_bad_state_file(void **state)
{
	static const struct { const char *text, *want; } cases[] = {
		{ "{\"keys\": [", "keys/keys.json:1:" },
		{ "{\"keys\": []}", "keys/keys.json:1:2: want 1 to 16 keys" },
		{ "[]", "keys/keys.json:1:1: want {\"keys\":[...]}" },
		{ "{\"keys\": [\n  {\"file\": \"signing\", \"activate_at\": 0},\n"
		  "  {\"file\": \"../../etc/x\", \"activate_at\": 5}\n]}",
		  "keys/keys.json:3:4: \"file\" must be" },
		{ "{\"keys\": [\n  {\"file\": \"signing-2\", \"activate_at\": 9},\n"
		  "  {\"file\": \"signing\", \"activate_at\": 5}\n]}",
		  "keys/keys.json:3:3: \"activate_at\" is earlier" },
		{ "{\"keys\": [{\"file\": \"signing\", \"activ_at\": 0}]}",
		  "keys/keys.json:1:31: unknown member \"activ_at\"" },
		{ "{\"keys\": [{\"file\": \"signing\"}]}",
		  "needs \"file\" and \"activate_at\"" },
		{ "{\"keys\": [{\"file\": \"signing\", \"activate_at\": -1}]}",
		  "\"activate_at\" must be seconds" },
		{ "{\"keys\": [{\"file\": \"signing\", \"activate_at\": 0},"
		  " {\"file\": \"signing\", \"activate_at\": 0}]}",
		  "listed twice" },
		{ "{\"keys\": [{\"file\": \"signing-07\", \"activate_at\": 0}]}",
		  "\"file\" must be" },
		{ "{\"keys\": [{\"file\": \"signing\", \"activate_at\": 0,"
		  " \"alg\": \"none\"}]}", "\"alg\" must be" },
		/* Well-formed, but the key it names is not there. */
		{ "{\"keys\": [{\"file\": \"signing\", \"activate_at\": 0},"
		  " {\"file\": \"signing-7\", \"activate_at\": 1}]}",
		  "keys/signing-7.key: No such file" },
	};
	struct keys_rotate_args a = { -1, 0, RETIRE, "regauth",
	    KEYS_KID_THUMBPRINT };
	char d[PATH_MAX], p[PATH_MAX];
	struct err e;
	size_t i;

	(void)state;
	create("cfg", JWS_ES256, "regauth");
	sub(d, sizeof(d), "cfg", NULL);
	sub(p, sizeof(p), "cfg/keys", "keys.json");
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		write_text(p, cases[i].text);
		memset(&e, 0, sizeof(e));
		assert_null(keys_load(d, KEYS_KID_THUMBPRINT, RETIRE, &e));
		if (strstr(e.msg, cases[i].want) == NULL)
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i, e.msg,
			    cases[i].want);
		if (i == sizeof(cases) / sizeof(cases[0]) - 1)
			break;	/* a missing file is list's business */
		memset(&e, 0, sizeof(e));
		assert_null(keys_list(d, KEYS_KID_THUMBPRINT, RETIRE, &e));
		assert_non_null(strstr(e.msg, cases[i].want));
		memset(&e, 0, sizeof(e));
		assert_null(keys_rotate(d, &a, &e));
		assert_non_null(strstr(e.msg, cases[i].want));
		/* Nothing was written by the refused rotation. */
		sub(p, sizeof(p), "cfg/keys", "signing-2.key");
		assert_int_equal(access(p, F_OK), -1);
		sub(p, sizeof(p), "cfg/keys", "keys.json");
	}
}

static void
write_settings(const char *dir)
{
	static const char *subs[] = { "policies", "users", "groups",
	    "serviceaccounts", "repositories" };
	char p[PATH_MAX];
	struct err e = { "" };
	json_t *s = config_default_settings();
	size_t i;

	assert_true(snprintf(p, sizeof(p), "%s/regauthd.json", dir) <
	    (int)sizeof(p));
	assert_int_equal(util_json_write_file(p, s, 0600, 1, &e), 0);
	json_decref(s);
	for (i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
		assert_true(snprintf(p, sizeof(p), "%s/%s", dir, subs[i]) <
		    (int)sizeof(p));
		assert_int_equal(mkdir(p, 0700), 0);
	}
}

static void
test_reload_with_broken_state(void **state)
{
	struct config *cfg, *next;
	char d[PATH_MAX], p[PATH_MAX], *tok;
	struct err e = { "" };
	json_t *r;

	(void)state;
	create("cfg", JWS_ES256, "regauth");
	sub(d, sizeof(d), "cfg", NULL);
	write_settings(d);
	r = rotate("cfg", 0, -1);
	json_decref(r);
	cfg = config_load(d, &e);
	if (cfg == NULL)
		fail_msg("config_load: %s", e.msg);

	/* The reload fails naming the file; the caller keeps `cfg`. */
	sub(p, sizeof(p), "cfg/keys", "keys.json");
	write_text(p, "{\"keys\": [{\"file\": \"signing\", \"activate_at\": 0},"
	    " {\"file\": \"signing-2\"}]}");
	next = config_load(d, &e);
	assert_null(next);
	assert_non_null(strstr(e.msg, "keys/keys.json:1:"));
	tok = sign(cfg->keys);
	assert_true(verifies(cfg->keys, tok));
	free(tok);
	config_release(cfg);
}

static void
test_rotate_needs_the_ca_key(void **state)
{
	struct keys_rotate_args a = { -1, 0, RETIRE, "regauth",
	    KEYS_KID_THUMBPRINT };
	char d[PATH_MAX], p[PATH_MAX];
	struct err e = { "" };

	(void)state;
	create("cfg", JWS_ES256, "regauth");
	sub(d, sizeof(d), "cfg", NULL);
	sub(p, sizeof(p), "cfg/keys", "ca.key");
	assert_int_equal(unlink(p), 0);
	assert_null(keys_rotate(d, &a, &e));
	assert_non_null(strstr(e.msg, "ca.key"));
	sub(p, sizeof(p), "cfg/keys", "signing-2.key");
	assert_int_equal(access(p, F_OK), -1);
	sub(p, sizeof(p), "cfg/keys", "keys.json");
	assert_int_equal(access(p, F_OK), -1);
}

static void
test_rotate_to_a_new_ca(void **state)
{
	struct keyset *ks;
	char a[PATH_MAX], b[PATH_MAX], cmd[4 * PATH_MAX], oldkid[64];
	X509 *leaf, *newca;
	json_t *r;
	size_t n;

	(void)state;
	/* docs: both CA certificates in bundle.pem, then the new CA key. */
	create("cfg", JWS_ES256, "regauth");
	create("newca", JWS_ES256, "regauth");
	ks = load_ra("cfg");
	snprintf(oldkid, sizeof(oldkid), "%s", keys_active(ks)->kid);
	keys_free(ks);
	sub(a, sizeof(a), "cfg", "keys");
	sub(b, sizeof(b), "newca", "keys");
	assert_true(snprintf(cmd, sizeof(cmd), "cat '%s/bundle.pem' >> "
	    "'%s/bundle.pem' && cp -p '%s/ca.key' '%s/ca.key'", b, a, b, a) <
	    (int)sizeof(cmd));
	assert_int_equal(system(cmd), 0);
	r = rotate("cfg", 0, -1);
	json_decref(r);
	snprintf(cmd, sizeof(cmd), "%s/signing-2.crt", a);
	leaf = read_cert(cmd);
	snprintf(cmd, sizeof(cmd), "%s/bundle.pem", b);
	newca = read_cert(cmd);
	assert_int_equal(X509_verify(leaf, X509_get0_pubkey(newca)), 1);
	X509_free(leaf);
	X509_free(newca);
	ks = load_ra("cfg");
	assert_true(jwks_has(ks, oldkid, &n));
	assert_int_equal(n, 2);
	keys_free(ks);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create_files_and_modes, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_certificates, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_long_issuer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_header_and_sign, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_lookup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_libtrust_kid_and_jwks, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_rs256, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuse_readable_keys, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_refuse_mismatches, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rotate_now, setup_clock,
		    teardown_clock),
		cmocka_unit_test_setup_teardown(test_activate_after, setup_clock,
		    teardown_clock),
		cmocka_unit_test_setup_teardown(test_rotate_algorithm,
		    setup_clock, teardown_clock),
		cmocka_unit_test_setup_teardown(test_bad_state_file, setup_clock,
		    teardown_clock),
		cmocka_unit_test_setup_teardown(test_reload_with_broken_state,
		    setup_clock, teardown_clock),
		cmocka_unit_test_setup_teardown(test_rotate_needs_the_ca_key,
		    setup_clock, teardown_clock),
		cmocka_unit_test_setup_teardown(test_rotate_to_a_new_ca,
		    setup_clock, teardown_clock),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
