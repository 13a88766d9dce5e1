/*
 * Unit tests of tokenserver/keys.c: keys_create writes a CA and a CA-issued
 * signing key with the right modes and certificate fields; keys_load refuses
 * readable private keys and mismatched files; the token header, JWKS,
 * lookup and signing, including from several threads at once.
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
	if ((ks = keys_load(d, fmt, &e)) == NULL)
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
	assert_null(keys_load(d, KEYS_KID_THUMBPRINT, &e));
	assert_non_null(strstr(e.msg, "signing.key"));
	assert_non_null(strstr(e.msg, "0644"));
	assert_int_equal(chmod(p, 0600), 0);

	sub(p, sizeof(p), "cfg/keys", "ca.key");
	assert_int_equal(chmod(p, 0640), 0);
	assert_null(keys_load(d, KEYS_KID_THUMBPRINT, &e));
	assert_non_null(strstr(e.msg, "ca.key"));
	assert_non_null(strstr(e.msg, "0640"));
	/* The CA key may be kept offline: absent is fine. */
	assert_int_equal(unlink(p), 0);
	ks = keys_load(d, KEYS_KID_THUMBPRINT, &e);
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
	assert_null(keys_load(d, KEYS_KID_THUMBPRINT, &e));
	assert_non_null(strstr(e.msg, "does not match"));
	copy_file("/tmp/test_keys_saved.crt", to);
	unlink("/tmp/test_keys_saved.crt");

	/* A bundle that did not issue the signing certificate. */
	sub(from, sizeof(from), "b/keys", "bundle.pem");
	sub(to, sizeof(to), "a/keys", "bundle.pem");
	copy_file(from, to);
	assert_null(keys_load(d, KEYS_KID_THUMBPRINT, &e));
	assert_non_null(strstr(e.msg, "not issued"));

	/* Missing files. */
	assert_null(keys_load("/nonexistent", KEYS_KID_THUMBPRINT, &e));
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
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
