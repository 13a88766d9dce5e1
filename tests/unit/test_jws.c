/*
 * Unit tests of tokenserver/jws.c: base64url, RFC 7638 thumbprints, libtrust
 * key IDs, JWKs, sign/verify for ES256 and RS256, every refusal of jws_verify
 * (alg none, alg confusion, DER signatures, bounds), and a cross-check with
 * libjwt 1.10 in both directions.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jwt.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "jws.h"

/* RFC 7638 section 3.1. */
static const char rfc7638_n[] =
    "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aP"
    "FFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl9"
    "3lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdA"
    "ZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3"
    "XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
static const char rfc7638_thumbprint[] =
    "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";

static EVP_PKEY *ec_key, *ec_key2, *rsa_key;

/* The lookup the tests hand to jws_verify: the key named by "kid". */
struct keyring {
	EVP_PKEY	*key;
	enum jws_alg	 alg;
	const char	*kid;
};

static EVP_PKEY *
ring_lookup(void *arg, const json_t *header, enum jws_alg *alg)
{
	struct keyring *r = arg;
	const char *kid = json_string_value(json_object_get(header, "kid"));

	if (kid == NULL || strcmp(kid, r->kid) != 0)
		return NULL;
	*alg = r->alg;
	return r->key;
}

static int
group_setup(void **state)
{
	(void)state;
	ec_key = EVP_EC_gen("P-256");
	ec_key2 = EVP_EC_gen("P-256");
	rsa_key = EVP_RSA_gen(2048);
	return ec_key && ec_key2 && rsa_key ? 0 : -1;
}

static int
group_teardown(void **state)
{
	(void)state;
	EVP_PKEY_free(ec_key);
	EVP_PKEY_free(ec_key2);
	EVP_PKEY_free(rsa_key);
	return 0;
}

static char *
b64url(const char *s)
{
	char *out = jws_b64url_encode_new((const unsigned char *)s, strlen(s));

	assert_non_null(out);
	return out;
}

static char *
sign_text(EVP_PKEY *key, enum jws_alg alg, const char *header,
    const char *claims)
{
	struct err e = { "" };
	char *h = b64url(header), *tok;

	tok = jws_sign_new(key, alg, h, claims, strlen(claims), &e);
	if (tok == NULL)
		fail_msg("jws_sign_new: %s", e.msg);
	free(h);
	return tok;
}

/* jws_verify with the keyring; returns its result, e.msg in *msg. */
static int
verify(const char *tok, struct keyring *r, json_t **claims, struct err *e)
{
	json_t *h = NULL, *c = NULL;
	int rc;

	rc = jws_verify(tok, strlen(tok), ring_lookup, r, &h, &c, e);
	if (rc == 0) {
		assert_true(json_is_object(h));
		assert_true(json_is_object(c));
	}
	json_decref(h);
	if (claims != NULL)
		*claims = c;
	else
		json_decref(c);
	return rc;
}

static char *
pem_public(EVP_PKEY *key)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *p, *out;
	long n;

	assert_int_equal(PEM_write_bio_PUBKEY(bio, key), 1);
	n = BIO_get_mem_data(bio, &p);
	out = strndup(p, (size_t)n);
	BIO_free(bio);
	return out;
}

static char *
pem_private(EVP_PKEY *key)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *p, *out;
	long n;

	assert_int_equal(PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL,
	    NULL), 1);
	n = BIO_get_mem_data(bio, &p);
	out = strndup(p, (size_t)n);
	BIO_free(bio);
	return out;
}

static void
test_alg_names(void **state)
{
	enum jws_alg a;

	(void)state;
	assert_int_equal(jws_alg_parse("ES256", &a), 0);
	assert_int_equal(a, JWS_ES256);
	assert_int_equal(jws_alg_parse("RS256", &a), 0);
	assert_int_equal(a, JWS_RS256);
	assert_int_equal(jws_alg_parse("none", &a), -1);
	assert_int_equal(jws_alg_parse("HS256", &a), -1);
	assert_int_equal(jws_alg_parse("es256", &a), -1);
	assert_int_equal(jws_alg_parse(NULL, &a), -1);
	assert_string_equal(jws_alg_name(JWS_ES256), "ES256");
	assert_string_equal(jws_alg_name(JWS_RS256), "RS256");
}

static void
test_b64url_vectors(void **state)
{
	static const struct {
		const char *in;
		const char *out;
	} v[] = {
		{ "", "" }, { "f", "Zg" }, { "fo", "Zm8" }, { "foo", "Zm9v" },
		{ "foob", "Zm9vYg" }, { "fooba", "Zm9vYmE" },
		{ "foobar", "Zm9vYmFy" }, { "\xfb\xff", "-_8" },
		{ "\xff\xfe\xfd", "__79" },
	};
	char out[64];
	unsigned char *dec;
	size_t i, n;

	(void)state;
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		n = jws_b64url_encode((const unsigned char *)v[i].in,
		    strlen(v[i].in), out);
		assert_int_equal(n, strlen(v[i].out));
		assert_string_equal(out, v[i].out);
		dec = jws_b64url_decode_new(v[i].out, strlen(v[i].out), &n);
		assert_non_null(dec);
		assert_int_equal(n, strlen(v[i].in));
		assert_memory_equal(dec, v[i].in, n);
		assert_int_equal(dec[n], '\0');
		free(dec);
	}
}

static void
test_b64url_roundtrip(void **state)
{
	unsigned char in[20000], *dec;
	char *enc;
	size_t n, len, outlen;

	(void)state;
	for (n = 0; n < sizeof(in); n++)
		in[n] = (unsigned char)(n * 7 + (n >> 8));
	/* Every length modulo 3, and across the internal chunk sizes. */
	for (len = 0; len < sizeof(in); len = len < 80 ? len + 1 : len * 2 + 1) {
		enc = jws_b64url_encode_new(in, len);
		assert_non_null(enc);
		assert_int_equal(strlen(enc), (len * 4 + 2) / 3);
		assert_null(strpbrk(enc, "+/="));
		dec = jws_b64url_decode_new(enc, strlen(enc), &outlen);
		assert_non_null(dec);
		assert_int_equal(outlen, len);
		assert_memory_equal(dec, in, len);
		free(enc);
		free(dec);
	}
}

static void
test_b64url_invalid(void **state)
{
	static const char *bad[] = {
		"Z",		/* length 1 mod 4 */
		"Zg=",		/* padding */
		"Zg==",
		"Zm9v=",
		"Zh",		/* non-canonical trailing bits */
		"Zm9",		/* ditto ('9' has its low 2 bits set) */
		"a+bc",		/* standard alphabet */
		"a/bc",
		"ab cd",
		"ab\ncd",
		"Zm9v.",
		"\xc3\xa9\xc3\xa9",
	};
	size_t i, n;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (jws_b64url_decode_new(bad[i], strlen(bad[i]), &n) != NULL)
			fail_msg("accepted \"%s\"", bad[i]);
	}
	/* An embedded NUL within the given length. */
	assert_null(jws_b64url_decode_new("Zm\0v", 4, &n));
}

static EVP_PKEY *
rsa_from_jwk(const char *n64, const char *e64)
{
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params;
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	EVP_PKEY *key = NULL;
	unsigned char *nb, *eb;
	size_t nl, el;
	BIGNUM *n, *e;

	nb = jws_b64url_decode_new(n64, strlen(n64), &nl);
	eb = jws_b64url_decode_new(e64, strlen(e64), &el);
	assert_non_null(nb);
	assert_non_null(eb);
	n = BN_bin2bn(nb, (int)nl, NULL);
	e = BN_bin2bn(eb, (int)el, NULL);
	assert_int_equal(OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n),
	    1);
	assert_int_equal(OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e),
	    1);
	params = OSSL_PARAM_BLD_to_param(bld);
	assert_int_equal(EVP_PKEY_fromdata_init(ctx), 1);
	assert_int_equal(EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY,
	    params), 1);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	EVP_PKEY_CTX_free(ctx);
	BN_free(n);
	BN_free(e);
	free(nb);
	free(eb);
	return key;
}

static void
test_thumbprint_rfc7638(void **state)
{
	struct err e = { "" };
	EVP_PKEY *key = rsa_from_jwk(rfc7638_n, "AQAB");
	char kid[64];
	json_t *jwk;

	(void)state;
	assert_int_equal(jws_kid_thumbprint(key, kid, &e), 0);
	assert_string_equal(kid, rfc7638_thumbprint);
	/* The JWK carries the same n and e. */
	jwk = jws_jwk_new(key, JWS_RS256, kid);
	assert_non_null(jwk);
	assert_string_equal(json_string_value(json_object_get(jwk, "n")),
	    rfc7638_n);
	assert_string_equal(json_string_value(json_object_get(jwk, "e")),
	    "AQAB");
	assert_string_equal(json_string_value(json_object_get(jwk, "kty")),
	    "RSA");
	assert_string_equal(json_string_value(json_object_get(jwk, "kid")),
	    rfc7638_thumbprint);
	assert_string_equal(json_string_value(json_object_get(jwk, "alg")),
	    "RS256");
	assert_string_equal(json_string_value(json_object_get(jwk, "use")),
	    "sig");
	/* Wrong alg for the key type. */
	assert_null(jws_jwk_new(key, JWS_ES256, kid));
	json_decref(jwk);
	EVP_PKEY_free(key);
}

/* The EC thumbprint, computed here from the key's own coordinates. */
static void
expected_ec_thumbprint(EVP_PKEY *key, char out[64])
{
	BIGNUM *x = NULL, *y = NULL;
	unsigned char xb[32], yb[32], md[32];
	char xs[64], ys[64], canon[256];
	int n;

	assert_int_equal(EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_X,
	    &x), 1);
	assert_int_equal(EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_Y,
	    &y), 1);
	assert_int_equal(BN_bn2binpad(x, xb, 32), 32);
	assert_int_equal(BN_bn2binpad(y, yb, 32), 32);
	jws_b64url_encode(xb, 32, xs);
	jws_b64url_encode(yb, 32, ys);
	n = snprintf(canon, sizeof(canon),
	    "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}", xs, ys);
	assert_int_equal(EVP_Digest(canon, (size_t)n, md, NULL, EVP_sha256(),
	    NULL), 1);
	jws_b64url_encode(md, 32, out);
	BN_free(x);
	BN_free(y);
}

static void
test_thumbprint_ec_padding(void **state)
{
	struct err e = { "" };
	EVP_PKEY *key = NULL;
	BIGNUM *x = NULL;
	char kid[64], want[64];
	unsigned char *xb;
	json_t *jwk;
	size_t n;
	int tries;

	(void)state;
	/* Find a key whose x has a leading zero byte (1 in 256). */
	for (tries = 0; tries < 5000; tries++) {
		EVP_PKEY_free(key);
		key = EVP_EC_gen("P-256");
		assert_int_equal(EVP_PKEY_get_bn_param(key,
		    OSSL_PKEY_PARAM_EC_PUB_X, &x), 1);
		n = (size_t)BN_num_bytes(x);
		BN_free(x);
		x = NULL;
		if (n < 32)
			break;
	}
	assert_true(n < 32);
	assert_int_equal(jws_kid_thumbprint(key, kid, &e), 0);
	assert_int_equal(strlen(kid), 43);
	expected_ec_thumbprint(key, want);
	assert_string_equal(kid, want);
	jwk = jws_jwk_new(key, JWS_ES256, NULL);
	assert_non_null(jwk);
	assert_null(json_object_get(jwk, "kid"));
	assert_string_equal(json_string_value(json_object_get(jwk, "crv")),
	    "P-256");
	xb = jws_b64url_decode_new(json_string_value(json_object_get(jwk, "x")),
	    43, &n);
	assert_non_null(xb);
	assert_int_equal(n, 32);
	assert_int_equal(xb[0], 0);
	free(xb);
	json_decref(jwk);
	EVP_PKEY_free(key);

	/* A key on another curve is refused. */
	key = EVP_EC_gen("P-384");
	assert_int_equal(jws_kid_thumbprint(key, kid, &e), -1);
	assert_null(jws_jwk_new(key, JWS_ES256, NULL));
	EVP_PKEY_free(key);
}

static void
test_kid_libtrust(void **state)
{
	static const char b32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
	struct err e = { "" };
	unsigned char *der = NULL, md[32];
	char kid[64], want[64];
	int len, i, o = 0, bit;

	(void)state;
	assert_int_equal(jws_kid_libtrust(ec_key, kid, &e), 0);
	assert_int_equal(strlen(kid), 59);
	for (i = 0; i < 59; i++) {
		if (i % 5 == 4)
			assert_int_equal(kid[i], ':');
		else
			assert_non_null(strchr(b32, kid[i]));
	}
	/* Independent: bit by bit over SHA-256(DER SPKI), first 240 bits. */
	len = i2d_PUBKEY(ec_key, &der);
	assert_true(len > 0);
	EVP_Digest(der, (size_t)len, md, NULL, EVP_sha256(), NULL);
	OPENSSL_free(der);
	for (i = 0; i < 48; i++) {
		int v = 0;

		for (bit = 0; bit < 5; bit++) {
			int pos = i * 5 + bit;

			v = (v << 1) | ((md[pos / 8] >> (7 - pos % 8)) & 1);
		}
		if (i > 0 && i % 4 == 0)
			want[o++] = ':';
		want[o++] = b32[v];
	}
	want[o] = '\0';
	assert_string_equal(kid, want);
	/* RSA keys too. */
	assert_int_equal(jws_kid_libtrust(rsa_key, kid, &e), 0);
	assert_int_equal(strlen(kid), 59);
}

static void
test_sign_verify_es256(void **state)
{
	struct keyring r = { ec_key, JWS_ES256, "k1" };
	struct err e = { "" };
	json_t *c = NULL;
	char *tok, *dot;
	unsigned char *sig;
	size_t n;

	(void)state;
	tok = sign_text(ec_key, JWS_ES256,
	    "{\"alg\":\"ES256\",\"typ\":\"JWT\",\"kid\":\"k1\"}",
	    "{\"sub\":\"alice\",\"n\":1}");
	/* The signature is raw R||S: 64 bytes, 86 characters. */
	dot = strrchr(tok, '.');
	assert_int_equal(strlen(dot + 1), 86);
	sig = jws_b64url_decode_new(dot + 1, strlen(dot + 1), &n);
	assert_int_equal(n, 64);
	free(sig);
	assert_int_equal(verify(tok, &r, &c, &e), 0);
	assert_string_equal(json_string_value(json_object_get(c, "sub")),
	    "alice");
	json_decref(c);
	/* Another signature each time (random nonce), both valid. */
	free(tok);
	tok = sign_text(ec_key, JWS_ES256,
	    "{\"alg\":\"ES256\",\"kid\":\"k1\"}", "{}");
	assert_int_equal(verify(tok, &r, NULL, &e), 0);
	/* The other key does not verify it. */
	r.key = ec_key2;
	assert_int_equal(verify(tok, &r, NULL, &e), -1);
	assert_non_null(strstr(e.msg, "signature"));
	free(tok);
}

static void
test_sign_verify_rs256(void **state)
{
	struct keyring r = { rsa_key, JWS_RS256, "r1" };
	struct err e = { "" };
	json_t *c = NULL;
	char *tok;

	(void)state;
	tok = sign_text(rsa_key, JWS_RS256,
	    "{\"alg\":\"RS256\",\"typ\":\"JWT\",\"kid\":\"r1\"}",
	    "{\"sub\":\"bob\"}");
	assert_int_equal(verify(tok, &r, &c, &e), 0);
	assert_string_equal(json_string_value(json_object_get(c, "sub")), "bob");
	json_decref(c);
	free(tok);
}

static void
test_sign_refusals(void **state)
{
	struct err e = { "" };
	char *big;

	(void)state;
	/* Key type and alg must agree. */
	assert_null(jws_sign_new(ec_key, JWS_RS256, "e30", "{}", 2, &e));
	assert_null(jws_sign_new(rsa_key, JWS_ES256, "e30", "{}", 2, &e));
	assert_null(jws_sign_new(NULL, JWS_ES256, "e30", "{}", 2, &e));
	big = calloc(1, JWS_MAX_TOKEN + 2);
	memset(big, 'a', JWS_MAX_TOKEN + 1);
	assert_null(jws_sign_new(ec_key, JWS_ES256, "e30", big,
	    JWS_MAX_TOKEN + 1, &e));
	free(big);
}

/* A token made by hand: header and claims text, signature bytes. */
static char *
forge(const char *header, const char *claims, const unsigned char *sig,
    size_t siglen)
{
	char *h = b64url(header), *c = b64url(claims), *s, *tok;
	size_t n;

	s = jws_b64url_encode_new(sig, siglen);
	n = strlen(h) + strlen(c) + strlen(s) + 3;
	tok = malloc(n);
	snprintf(tok, n, "%s.%s.%s", h, c, s);
	free(h);
	free(c);
	free(s);
	return tok;
}

static void
test_verify_tampered(void **state)
{
	struct keyring r = { ec_key, JWS_ES256, "k1" };
	struct err e = { "" };
	char *tok, *other, *d1, *d2, *mix, saved;
	size_t n;

	(void)state;
	tok = sign_text(ec_key, JWS_ES256, "{\"alg\":\"ES256\",\"kid\":\"k1\"}",
	    "{\"sub\":\"alice\",\"admin\":false}");
	other = sign_text(ec_key, JWS_ES256, "{\"alg\":\"ES256\",\"kid\":\"k1\"}",
	    "{\"sub\":\"alice\",\"admin\":true}");
	/* Payload of the other, signature of the first (same header). */
	d1 = strchr(tok, '.');
	d2 = strrchr(tok, '.');
	n = strlen(tok) + strlen(other);
	mix = malloc(n);
	snprintf(mix, n, "%.*s%.*s%s", (int)(d1 - tok + 1), tok,
	    (int)(strrchr(other, '.') - strchr(other, '.') - 1),
	    strchr(other, '.') + 1, d2);
	assert_int_equal(verify(mix, &r, NULL, &e), -1);
	assert_non_null(strstr(e.msg, "signature"));
	free(mix);

	/* One flipped character in the payload. */
	d1 = strchr(tok, '.');
	saved = d1[3];
	d1[3] = saved == 'A' ? 'B' : 'A';
	assert_int_equal(verify(tok, &r, NULL, &e), -1);
	d1[3] = saved;
	assert_int_equal(verify(tok, &r, NULL, &e), 0);

	/* One flipped bit in the signature. */
	d2 = strrchr(tok, '.');
	saved = d2[5];
	d2[5] = saved == 'A' ? 'B' : 'A';
	assert_int_equal(verify(tok, &r, NULL, &e), -1);
	d2[5] = saved;
	assert_int_equal(verify(tok, &r, NULL, &e), 0);

	/* Truncated: last character gone, half the signature, no signature. */
	n = strlen(tok);
	tok[n - 1] = '\0';
	assert_int_equal(verify(tok, &r, NULL, &e), -1);
	d2[43] = '\0';
	assert_int_equal(verify(tok, &r, NULL, &e), -1);
	d2[1] = '\0';
	assert_int_equal(verify(tok, &r, NULL, &e), -1);
	d2[0] = '\0';
	assert_int_equal(verify(tok, &r, NULL, &e), -1);
	assert_non_null(strstr(e.msg, "three"));
	free(tok);
	free(other);
}

static void
test_verify_alg_none(void **state)
{
	struct keyring r = { ec_key, JWS_ES256, "k1" };
	struct err e = { "" };
	char *tok;

	(void)state;
	tok = forge("{\"alg\":\"none\",\"kid\":\"k1\"}", "{\"sub\":\"x\"}",
	    (const unsigned char *)"", 0);
	assert_int_equal(verify(tok, &r, NULL, &e), -1);
	assert_non_null(strstr(e.msg, "alg"));
	free(tok);
	tok = forge("{\"kid\":\"k1\"}", "{}", (const unsigned char *)"", 0);
	assert_int_equal(verify(tok, &r, NULL, &e), -1);
	free(tok);
	tok = forge("{\"alg\":null,\"kid\":\"k1\"}", "{}",
	    (const unsigned char *)"x", 1);
	assert_int_equal(verify(tok, &r, NULL, &e), -1);
	free(tok);
}

static void
test_verify_alg_confusion_hs256(void **state)
{
	struct keyring r = { ec_key, JWS_ES256, "k1" };
	struct err e = { "" };
	unsigned char mac[32];
	unsigned int maclen = 0;
	char *pem = pem_public(ec_key), *h, *c, *input, *tok;
	size_t n;

	(void)state;
	/* The classic attack: HMAC keyed with the public key's PEM text. */
	h = b64url("{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"k1\"}");
	c = b64url("{\"sub\":\"admin\"}");
	n = strlen(h) + strlen(c) + 2;
	input = malloc(n);
	snprintf(input, n, "%s.%s", h, c);
	assert_non_null(HMAC(EVP_sha256(), pem, (int)strlen(pem),
	    (unsigned char *)input, strlen(input), mac, &maclen));
	tok = forge("{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"k1\"}",
	    "{\"sub\":\"admin\"}", mac, maclen);
	assert_int_equal(verify(tok, &r, NULL, &e), -1);
	assert_non_null(strstr(e.msg, "alg"));
	free(tok);
	free(input);
	free(h);
	free(c);
	free(pem);
}

/* A careless lookup that believes the header's alg. */
static EVP_PKEY *
gullible_lookup(void *arg, const json_t *header, enum jws_alg *alg)
{
	const char *a = json_string_value(json_object_get(header, "alg"));

	if (jws_alg_parse(a, alg) == -1)
		return NULL;
	return arg;
}

static void
test_verify_alg_mismatch(void **state)
{
	struct keyring r = { ec_key, JWS_ES256, "k1" };
	struct err e = { "" };
	json_t *h = NULL, *c = NULL;
	unsigned char junk[256];
	char *tok;

	(void)state;
	memset(junk, 0x5a, sizeof(junk));
	/* RS256 header on an EC key: the key's alg decides. */
	tok = forge("{\"alg\":\"RS256\",\"kid\":\"k1\"}", "{}", junk, 256);
	assert_int_equal(verify(tok, &r, NULL, &e), -1);
	assert_non_null(strstr(e.msg, "alg"));
	/* Even a lookup that echoes the header cannot pair RS256 with EC. */
	assert_int_equal(jws_verify(tok, strlen(tok), gullible_lookup, ec_key,
	    &h, &c, &e), -1);
	free(tok);
	/* ES256 header on an RSA key. */
	r.key = rsa_key;
	r.alg = JWS_RS256;
	tok = forge("{\"alg\":\"ES256\",\"kid\":\"k1\"}", "{}", junk, 64);
	assert_int_equal(verify(tok, &r, NULL, &e), -1);
	assert_int_equal(jws_verify(tok, strlen(tok), gullible_lookup, rsa_key,
	    &h, &c, &e), -1);
	free(tok);
	assert_null(h);
	assert_null(c);
}

static void
test_verify_wrong_kid(void **state)
{
	struct keyring r = { ec_key, JWS_ES256, "k1" };
	struct err e = { "" };
	char *tok;

	(void)state;
	tok = sign_text(ec_key, JWS_ES256, "{\"alg\":\"ES256\",\"kid\":\"k2\"}",
	    "{}");
	assert_int_equal(verify(tok, &r, NULL, &e), -1);
	assert_non_null(strstr(e.msg, "unknown key"));
	free(tok);
	tok = sign_text(ec_key, JWS_ES256, "{\"alg\":\"ES256\"}", "{}");
	assert_int_equal(verify(tok, &r, NULL, &e), -1);
	free(tok);
}

static void
test_verify_der_signature(void **state)
{
	struct keyring r = { ec_key, JWS_ES256, "k1" };
	struct err e = { "" };
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char der[128];
	size_t derlen = sizeof(der);
	char *h = b64url("{\"alg\":\"ES256\",\"kid\":\"k1\"}"), *c = b64url("{}");
	char input[256], *tok;

	(void)state;
	snprintf(input, sizeof(input), "%s.%s", h, c);
	assert_int_equal(EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL,
	    ec_key), 1);
	assert_int_equal(EVP_DigestSign(ctx, der, &derlen,
	    (unsigned char *)input, strlen(input)), 1);
	assert_true(derlen != 64);	/* DER: 70 to 72 bytes */
	tok = forge("{\"alg\":\"ES256\",\"kid\":\"k1\"}", "{}", der, derlen);
	assert_int_equal(verify(tok, &r, NULL, &e), -1);
	assert_non_null(strstr(e.msg, "R||S"));
	free(tok);
	EVP_MD_CTX_free(ctx);
	free(h);
	free(c);
}

static void
test_verify_bounds(void **state)
{
	struct keyring r = { ec_key, JWS_ES256, "k1" };
	struct err e = { "" };
	char *tok, *big, *pad;
	size_t n;

	(void)state;
	/* A valid token just over 16 KiB is refused before any parsing. */
	pad = malloc(13000);
	memset(pad, 'x', 12999);
	pad[12999] = '\0';
	n = 13100;
	big = malloc(n);
	snprintf(big, n, "{\"pad\":\"%s\"}", pad);
	tok = sign_text(ec_key, JWS_ES256, "{\"alg\":\"ES256\",\"kid\":\"k1\"}",
	    big);
	assert_true(strlen(tok) > JWS_MAX_TOKEN);
	assert_int_equal(verify(tok, &r, NULL, &e), -1);
	assert_non_null(strstr(e.msg, "16384"));
	free(tok);
	free(big);
	free(pad);

	assert_int_equal(jws_verify("", 0, ring_lookup, &r, NULL, NULL, &e),
	    -1);
	assert_int_equal(jws_verify(NULL, 5, ring_lookup, &r, NULL, NULL, &e),
	    -1);
	assert_int_equal(verify("abc.def.ghi", &r, NULL, &e), -1);
	assert_int_equal(verify("a.b.c.d.e", &r, NULL, &e), -1);
	assert_int_equal(verify("onlyonepart", &r, NULL, &e), -1);
	assert_int_equal(verify("..", &r, NULL, &e), -1);
}

static void
test_verify_claims_not_object(void **state)
{
	struct keyring r = { ec_key, JWS_ES256, "k1" };
	struct err e = { "" };
	static const char *claims[] = { "[1,2]", "\"str\"", "42", "null",
	    "{\"a\":1,\"a\":2}", "{", "" };
	size_t i;
	char *tok;

	(void)state;
	for (i = 0; i < sizeof(claims) / sizeof(claims[0]); i++) {
		tok = sign_text(ec_key, JWS_ES256,
		    "{\"alg\":\"ES256\",\"kid\":\"k1\"}", claims[i]);
		if (verify(tok, &r, NULL, &e) != -1)
			fail_msg("accepted claims %s", claims[i]);
		free(tok);
	}
}

static void
test_verify_bad_headers(void **state)
{
	struct keyring r = { ec_key, JWS_ES256, "k1" };
	struct err e = { "" };
	static const char *headers[] = {
		"[\"ES256\"]",
		"{\"alg\":\"ES256\",\"kid\":\"k1\",\"crit\":[\"exp\"]}",
		"{\"alg\":\"ES256\",\"kid\":\"k1\",\"kid\":\"k1\"}",
		"{\"alg\":\"ES256\"",
	};
	size_t i;
	char *tok;

	(void)state;
	for (i = 0; i < sizeof(headers) / sizeof(headers[0]); i++) {
		tok = sign_text(ec_key, JWS_ES256, headers[i], "{}");
		if (verify(tok, &r, NULL, &e) != -1)
			fail_msg("accepted header %s", headers[i]);
		free(tok);
	}
}

static void
test_libjwt_verifies_ours(void **state)
{
	EVP_PKEY *keys[2] = { ec_key, rsa_key };
	enum jws_alg algs[2] = { JWS_ES256, JWS_RS256 };
	const char *hdrs[2] = { "{\"alg\":\"ES256\",\"typ\":\"JWT\",\"kid\":\"a\"}",
	    "{\"alg\":\"RS256\",\"typ\":\"JWT\",\"kid\":\"a\"}" };
	jwt_t *jwt = NULL;
	char *tok, *pem;
	int i;

	(void)state;
	for (i = 0; i < 2; i++) {
		tok = sign_text(keys[i], algs[i], hdrs[i],
		    "{\"sub\":\"alice\",\"exp\":4000000000}");
		pem = pem_public(keys[i]);
		assert_int_equal(jwt_decode(&jwt, tok,
		    (const unsigned char *)pem, (int)strlen(pem)), 0);
		assert_int_equal(jwt_get_alg(jwt),
		    i == 0 ? JWT_ALG_ES256 : JWT_ALG_RS256);
		assert_string_equal(jwt_get_grant(jwt, "sub"), "alice");
		jwt_free(jwt);
		jwt = NULL;
		/* And libjwt refuses it under the wrong key. */
		free(pem);
		pem = pem_public(i == 0 ? ec_key2 : ec_key);
		assert_int_not_equal(jwt_decode(&jwt, tok,
		    (const unsigned char *)pem, (int)strlen(pem)), 0);
		jwt_free(jwt);
		jwt = NULL;
		free(pem);
		free(tok);
	}
}

static void
test_we_verify_libjwt(void **state)
{
	EVP_PKEY *keys[2] = { ec_key, rsa_key };
	jwt_alg_t jalgs[2] = { JWT_ALG_ES256, JWT_ALG_RS256 };
	enum jws_alg algs[2] = { JWS_ES256, JWS_RS256 };
	struct err e = { "" };
	jwt_t *jwt = NULL;
	json_t *c = NULL;
	char *tok, *pem;
	int i;

	(void)state;
	for (i = 0; i < 2; i++) {
		struct keyring r = { keys[i], algs[i], "lj" };

		pem = pem_private(keys[i]);
		assert_int_equal(jwt_new(&jwt), 0);
		assert_int_equal(jwt_add_header(jwt, "kid", "lj"), 0);
		assert_int_equal(jwt_add_grant(jwt, "sub", "carol"), 0);
		assert_int_equal(jwt_add_grant_int(jwt, "exp", 4000000000L), 0);
		assert_int_equal(jwt_set_alg(jwt, jalgs[i],
		    (const unsigned char *)pem, (int)strlen(pem)), 0);
		tok = jwt_encode_str(jwt);
		assert_non_null(tok);
		if (verify(tok, &r, &c, &e) != 0)
			fail_msg("libjwt %s token refused: %s",
			    jws_alg_name(algs[i]), e.msg);
		assert_string_equal(json_string_value(json_object_get(c, "sub")),
		    "carol");
		json_decref(c);
		c = NULL;
		free(tok);
		jwt_free(jwt);
		jwt = NULL;
		OPENSSL_cleanse(pem, strlen(pem));
		free(pem);
	}
}

/* jws_jwk_new then jws_jwk_to_pkey gives the same public key back. */
static void
test_jwk_to_pkey_roundtrip(void **state)
{
	EVP_PKEY *keys[3], *back;
	enum jws_alg algs[3] = { JWS_ES256, JWS_ES256, JWS_RS256 }, alg;
	struct err e = { "" };
	json_t *jwk;
	size_t i;

	(void)state;
	keys[0] = ec_key;
	keys[1] = ec_key2;
	keys[2] = rsa_key;
	for (i = 0; i < 3; i++) {
		jwk = jws_jwk_new(keys[i], algs[i], "k");
		assert_non_null(jwk);
		alg = algs[i] == JWS_ES256 ? JWS_RS256 : JWS_ES256;
		back = jws_jwk_to_pkey(jwk, &alg, &e);
		if (back == NULL)
			fail_msg("jws_jwk_to_pkey: %s", e.msg);
		assert_int_equal(alg, algs[i]);
		assert_int_equal(EVP_PKEY_eq(back, keys[i]), 1);
		/* Public only, yet it verifies what the private key signed. */
		{
			struct keyring r = { back, algs[i], "k" };
			char *tok = sign_text(keys[i], algs[i], algs[i] ==
			    JWS_ES256 ? "{\"alg\":\"ES256\",\"kid\":\"k\"}" :
			    "{\"alg\":\"RS256\",\"kid\":\"k\"}", "{\"a\":1}");

			assert_int_equal(verify(tok, &r, NULL, &e), 0);
			free(tok);
		}
		EVP_PKEY_free(back);
		/* Without alg, kid and use: still the same key. */
		json_object_del(jwk, "alg");
		json_object_del(jwk, "kid");
		json_object_del(jwk, "use");
		back = jws_jwk_to_pkey(jwk, NULL, &e);
		assert_non_null(back);
		assert_int_equal(EVP_PKEY_eq(back, keys[i]), 1);
		EVP_PKEY_free(back);
		json_decref(jwk);
	}
	/* The RFC 7638 example key, whose n has no leading zero. */
	jwk = json_pack("{s:s, s:s, s:s}", "kty", "RSA", "n", rfc7638_n, "e",
	    "AQAB");
	back = jws_jwk_to_pkey(jwk, &alg, &e);
	assert_non_null(back);
	assert_int_equal(EVP_PKEY_get_bits(back), 2048);
	EVP_PKEY_free(back);
	json_decref(jwk);
}

/* A copy of the JWK of `key` with member `name` set to `value` (NULL: removed). */
static json_t *
jwk_with(EVP_PKEY *key, enum jws_alg alg, const char *name, json_t *value)
{
	json_t *jwk = jws_jwk_new(key, alg, "k");

	assert_non_null(jwk);
	if (value == NULL)
		json_object_del(jwk, name);
	else
		json_object_set_new(jwk, name, value);
	return jwk;
}

/* The JWK's base64url member `name` with its decoded bytes changed by `f`. */
static json_t *
jwk_bytes_with(EVP_PKEY *key, enum jws_alg alg, const char *name,
    void (*f)(unsigned char *, size_t *))
{
	json_t *jwk = jws_jwk_new(key, alg, "k");
	const char *s = json_string_value(json_object_get(jwk, name));
	unsigned char buf[2048], *b;
	size_t n;
	char *enc;

	b = jws_b64url_decode_new(s, strlen(s), &n);
	assert_non_null(b);
	assert_true(n + 1 < sizeof(buf));
	memcpy(buf, b, n);
	free(b);
	f(buf, &n);
	enc = jws_b64url_encode_new(buf, n);
	json_object_set_new(jwk, name, json_string(enc));
	free(enc);
	return jwk;
}

static void
flip_last(unsigned char *b, size_t *n)
{
	b[*n - 1] ^= 0x01;
}

static void
drop_first(unsigned char *b, size_t *n)
{
	memmove(b, b + 1, --*n);
}

static void
add_zero(unsigned char *b, size_t *n)
{
	memmove(b + 1, b, *n);
	b[0] = 0;
	++*n;
}

static void
even(unsigned char *b, size_t *n)
{
	b[*n - 1] &= 0xfe;
}

static void
test_jwk_to_pkey_bad(void **state)
{
	struct err e = { "" };
	EVP_PKEY *small, *p384, *k;
	json_t *bad[32], *j;
	size_t nbad = 0, i;
	enum jws_alg alg = JWS_ES256;

	(void)state;
	small = EVP_RSA_gen(1024);
	p384 = EVP_EC_gen("P-384");
	assert_non_null(small);
	assert_non_null(p384);

	bad[nbad++] = json_string("not an object");
	bad[nbad++] = json_object();
	bad[nbad++] = jwk_with(ec_key, JWS_ES256, "kty", json_string("oct"));
	bad[nbad++] = jwk_with(ec_key, JWS_ES256, "kty", json_string("OKP"));
	bad[nbad++] = jwk_with(ec_key, JWS_ES256, "kty", json_integer(1));
	bad[nbad++] = jwk_with(ec_key, JWS_ES256, "kty", NULL);
	/* alg that does not fit, or is not ours. */
	bad[nbad++] = jwk_with(ec_key, JWS_ES256, "alg", json_string("RS256"));
	bad[nbad++] = jwk_with(rsa_key, JWS_RS256, "alg", json_string("ES256"));
	bad[nbad++] = jwk_with(rsa_key, JWS_RS256, "alg", json_string("PS256"));
	bad[nbad++] = jwk_with(rsa_key, JWS_RS256, "alg", json_string("HS256"));
	bad[nbad++] = jwk_with(rsa_key, JWS_RS256, "alg", json_string("none"));
	bad[nbad++] = jwk_with(rsa_key, JWS_RS256, "alg", json_null());
	/* RSA: missing, malformed, too small, even. */
	bad[nbad++] = jwk_with(rsa_key, JWS_RS256, "n", NULL);
	bad[nbad++] = jwk_with(rsa_key, JWS_RS256, "e", NULL);
	bad[nbad++] = jwk_with(rsa_key, JWS_RS256, "n", json_integer(5));
	bad[nbad++] = jwk_with(rsa_key, JWS_RS256, "e", json_string("AQAB="));
	bad[nbad++] = jwk_with(rsa_key, JWS_RS256, "e", json_string("AQ+B"));
	bad[nbad++] = jwk_with(rsa_key, JWS_RS256, "e", json_string(""));
	bad[nbad++] = jwk_with(rsa_key, JWS_RS256, "e", json_string("AQ"));
	bad[nbad++] = jwk_with(rsa_key, JWS_RS256, "e",
	    json_string("AQABAQABAQAB"));	/* 9 bytes */
	bad[nbad++] = jwk_bytes_with(rsa_key, JWS_RS256, "n", even);
	bad[nbad++] = jwk_bytes_with(rsa_key, JWS_RS256, "n", drop_first);
	bad[nbad++] = jws_jwk_new(small, JWS_RS256, "k");
	/* EC: other curve, short or long coordinates, off the curve. */
	bad[nbad++] = jwk_with(ec_key, JWS_ES256, "crv", json_string("P-384"));
	bad[nbad++] = jwk_with(ec_key, JWS_ES256, "crv", NULL);
	bad[nbad++] = jwk_with(ec_key, JWS_ES256, "x", NULL);
	bad[nbad++] = jwk_bytes_with(ec_key, JWS_ES256, "y", flip_last);
	bad[nbad++] = jwk_bytes_with(ec_key, JWS_ES256, "x", drop_first);
	bad[nbad++] = jwk_bytes_with(ec_key, JWS_ES256, "x", add_zero);
	bad[nbad++] = jwk_with(ec_key, JWS_ES256, "y",
	    json_string("_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_"));
	j = json_pack("{s:s, s:s, s:s, s:s}", "kty", "EC", "crv", "P-384",
	    "x", "AA", "y", "AA");
	bad[nbad++] = j;
	assert_true(nbad <= sizeof(bad) / sizeof(bad[0]));
	for (i = 0; i < nbad; i++) {
		assert_non_null(bad[i]);
		e.msg[0] = '\0';
		alg = JWS_ES256;
		if ((k = jws_jwk_to_pkey(bad[i], &alg, &e)) != NULL) {
			char *t = json_dumps(bad[i], JSON_COMPACT);

			fail_msg("accepted JWK %zu: %.200s", i, t);
		}
		assert_true(e.msg[0] != '\0');
		assert_int_equal(alg, JWS_ES256);	/* untouched */
		json_decref(bad[i]);
	}
	/* A P-384 key's own JWK cannot be made, nor its P-256 disguise read. */
	assert_null(jws_jwk_new(p384, JWS_ES256, NULL));
	EVP_PKEY_free(small);
	EVP_PKEY_free(p384);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_alg_names),
		cmocka_unit_test(test_b64url_vectors),
		cmocka_unit_test(test_b64url_roundtrip),
		cmocka_unit_test(test_b64url_invalid),
		cmocka_unit_test(test_thumbprint_rfc7638),
		cmocka_unit_test(test_thumbprint_ec_padding),
		cmocka_unit_test(test_kid_libtrust),
		cmocka_unit_test(test_sign_verify_es256),
		cmocka_unit_test(test_sign_verify_rs256),
		cmocka_unit_test(test_sign_refusals),
		cmocka_unit_test(test_verify_tampered),
		cmocka_unit_test(test_verify_alg_none),
		cmocka_unit_test(test_verify_alg_confusion_hs256),
		cmocka_unit_test(test_verify_alg_mismatch),
		cmocka_unit_test(test_verify_wrong_kid),
		cmocka_unit_test(test_verify_der_signature),
		cmocka_unit_test(test_verify_bounds),
		cmocka_unit_test(test_verify_claims_not_object),
		cmocka_unit_test(test_verify_bad_headers),
		cmocka_unit_test(test_libjwt_verifies_ours),
		cmocka_unit_test(test_we_verify_libjwt),
		cmocka_unit_test(test_jwk_to_pkey_roundtrip),
		cmocka_unit_test(test_jwk_to_pkey_bad),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
