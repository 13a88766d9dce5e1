/*
 * JWS compact serialization with OpenSSL EVP (jws.h). Keys arrive loaded;
 * nothing here parses PEM. ES256 signatures travel as raw R||S (RFC 7518
 * 3.4), which OpenSSL produces and consumes as DER, so both directions are
 * converted. Verification never trusts the header to choose the algorithm:
 * the lookup callback names the key's own alg and the header must agree.
 */
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "jws.h"

#define ES256_COORD	32		/* bytes of a P-256 coordinate / scalar */
#define ES256_SIG	(2 * ES256_COORD)
#define SIG_MAX		1024		/* an RSA-8192 signature fits */
#define B64_CHUNK	49152		/* multiple of 3: no padding mid-stream */
#define B64D_CHUNK	4096		/* multiple of 4 */

int
jws_alg_parse(const char *name, enum jws_alg *out)
{
	if (name == NULL)
		return -1;
	if (strcmp(name, "ES256") == 0) {
		*out = JWS_ES256;
		return 0;
	}
	if (strcmp(name, "RS256") == 0) {
		*out = JWS_RS256;
		return 0;
	}
	return -1;
}

const char *
jws_alg_name(enum jws_alg alg)
{
	switch (alg) {
	case JWS_ES256:
		return "ES256";
	case JWS_RS256:
		return "RS256";
	}
	return "?";
}

/* Padded standard base64 length of n bytes, with the NUL. */
static size_t
b64_size(size_t n)
{
	return 4 * ((n + 2) / 3) + 1;
}

size_t
jws_b64url_encode(const unsigned char *in, size_t n, char *out)
{
	size_t off = 0, o = 0, chunk, i;

	while (off < n) {
		chunk = n - off > B64_CHUNK ? B64_CHUNK : n - off;
		o += (size_t)EVP_EncodeBlock((unsigned char *)out + o, in + off,
		    (int)chunk);
		off += chunk;
	}
	while (o > 0 && out[o - 1] == '=')
		o--;
	out[o] = '\0';
	for (i = 0; i < o; i++) {
		if (out[i] == '+')
			out[i] = '-';
		else if (out[i] == '/')
			out[i] = '_';
	}
	return o;
}

char *
jws_b64url_encode_new(const unsigned char *in, size_t n)
{
	char *out;

	if (n > SIZE_MAX / 2 || (out = malloc(b64_size(n))) == NULL)
		return NULL;
	jws_b64url_encode(in, n, out);
	return out;
}

/* Value of a base64url character, -1 for anything else (padding included). */
static int
b64url_val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

unsigned char *
jws_b64url_decode_new(const char *in, size_t n, size_t *outlen)
{
	char buf[B64D_CHUNK];
	unsigned char *out = NULL, *ret = NULL;
	size_t rem = n % 4, off = 0, o = 0, chunk, i;
	int r, last;

	if (rem == 1 || n > SIZE_MAX / 2)
		goto out;
	for (i = 0; i < n; i++)
		if (b64url_val((unsigned char)in[i]) < 0)
			goto out;
	/* Unused low bits of the last character must be zero (canonical). */
	if (rem != 0) {
		last = b64url_val((unsigned char)in[n - 1]);
		if ((rem == 2 && (last & 0x0f) != 0) ||
		    (rem == 3 && (last & 0x03) != 0))
			goto out;
	}
	if ((out = malloc(3 * (n / 4 + 1) + 1)) == NULL)
		goto out;
	while (off < n) {
		chunk = n - off > B64D_CHUNK ? B64D_CHUNK : n - off;
		for (i = 0; i < chunk; i++) {
			char c = in[off + i];

			buf[i] = c == '-' ? '+' : c == '_' ? '/' : c;
		}
		off += chunk;
		/* Only the last chunk can be short of a multiple of 4. */
		while (chunk % 4 != 0)
			buf[chunk++] = '=';
		r = EVP_DecodeBlock(out + o, (unsigned char *)buf, (int)chunk);
		if (r < 0)
			goto out;
		o += (size_t)r;
	}
	/* EVP_DecodeBlock counts the zero bytes that padding stands for. */
	if (rem != 0)
		o -= 4 - rem;
	out[o] = '\0';
	if (outlen != NULL)
		*outlen = o;
	ret = out;
	out = NULL;
out:
	free(out);
	return ret;
}

/*
 * The public members of a key as base64url strings: EC (a = x, b = y, each
 * left-padded to 32 bytes) or RSA (a = n, b = e, minimal big-endian).
 */
struct pubparts {
	int	 is_ec;
	char	*a;
	char	*b;
};

static void
pubparts_clear(struct pubparts *pp)
{
	free(pp->a);
	free(pp->b);
	pp->a = pp->b = NULL;
}

static char *
bn_b64url_new(const BIGNUM *bn, int pad)
{
	unsigned char *bin = NULL;
	char *ret = NULL;
	int n = pad > 0 ? pad : BN_num_bytes(bn);

	if (n <= 0 || (bin = malloc((size_t)n)) == NULL)
		goto out;
	if (BN_bn2binpad(bn, bin, n) != n)
		goto out;
	ret = jws_b64url_encode_new(bin, (size_t)n);
out:
	free(bin);
	return ret;
}

static int
is_p256(EVP_PKEY *pkey)
{
	char name[64];
	size_t len = 0;

	if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME,
	    name, sizeof(name), &len) != 1)
		return 0;
	return strcmp(name, "prime256v1") == 0 || strcmp(name, "P-256") == 0 ||
	    strcmp(name, "secp256r1") == 0;
}

static int
pubparts_get(EVP_PKEY *pkey, struct pubparts *pp, struct err *e)
{
	BIGNUM *x = NULL, *y = NULL;
	const char *px, *py;
	int ret = -1;

	pp->a = pp->b = NULL;
	switch (EVP_PKEY_get_base_id(pkey)) {
	case EVP_PKEY_EC:
		if (!is_p256(pkey)) {
			err_set(e, "EC key is not on P-256");
			goto out;
		}
		pp->is_ec = 1;
		px = OSSL_PKEY_PARAM_EC_PUB_X;
		py = OSSL_PKEY_PARAM_EC_PUB_Y;
		break;
	case EVP_PKEY_RSA:
		pp->is_ec = 0;
		px = OSSL_PKEY_PARAM_RSA_N;
		py = OSSL_PKEY_PARAM_RSA_E;
		break;
	default:
		err_set(e, "unsupported key type");
		goto out;
	}
	if (EVP_PKEY_get_bn_param(pkey, px, &x) != 1 ||
	    EVP_PKEY_get_bn_param(pkey, py, &y) != 1) {
		err_set(e, "cannot read the public key");
		goto out;
	}
	pp->a = bn_b64url_new(x, pp->is_ec ? ES256_COORD : 0);
	pp->b = bn_b64url_new(y, pp->is_ec ? ES256_COORD : 0);
	if (pp->a == NULL || pp->b == NULL) {
		err_set(e, "cannot encode the public key");
		pubparts_clear(pp);
		goto out;
	}
	ret = 0;
out:
	BN_free(x);
	BN_free(y);
	return ret;
}

int
jws_kid_thumbprint(EVP_PKEY *pkey, char out[64], struct err *e)
{
	struct pubparts pp = { 0, NULL, NULL };
	unsigned char md[32];
	char *canon = NULL;
	size_t n;
	int len, ret = -1;

	if (pubparts_get(pkey, &pp, e) == -1)
		goto out;
	/* RFC 7638 3.2: required members only, sorted, no whitespace. */
	n = strlen(pp.a) + strlen(pp.b) + 64;
	if ((canon = malloc(n)) == NULL) {
		err_set(e, "out of memory");
		goto out;
	}
	if (pp.is_ec)
		len = snprintf(canon, n,
		    "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}",
		    pp.a, pp.b);
	else
		len = snprintf(canon, n,
		    "{\"e\":\"%s\",\"kty\":\"RSA\",\"n\":\"%s\"}", pp.b, pp.a);
	if (len < 0 || (size_t)len >= n ||
	    EVP_Digest(canon, (size_t)len, md, NULL, EVP_sha256(), NULL) != 1) {
		err_set(e, "cannot hash the key");
		goto out;
	}
	jws_b64url_encode(md, sizeof(md), out);
	ret = 0;
out:
	free(canon);
	pubparts_clear(&pp);
	return ret;
}

int
jws_kid_libtrust(EVP_PKEY *pkey, char out[64], struct err *e)
{
	static const char b32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
	unsigned char *der = NULL, md[32];
	char enc[49];
	size_t i, o = 0;
	int len, ret = -1;

	if ((len = i2d_PUBKEY(pkey, &der)) <= 0) {
		err_set(e, "cannot encode the public key");
		goto out;
	}
	if (EVP_Digest(der, (size_t)len, md, NULL, EVP_sha256(), NULL) != 1) {
		err_set(e, "cannot hash the key");
		goto out;
	}
	/* 30 bytes = 6 blocks of 5 bytes = 48 base32 characters, no padding. */
	for (i = 0; i < 30; i += 5) {
		uint64_t v = ((uint64_t)md[i] << 32) | ((uint64_t)md[i + 1] << 24) |
		    ((uint64_t)md[i + 2] << 16) | ((uint64_t)md[i + 3] << 8) |
		    (uint64_t)md[i + 4];
		int s;

		for (s = 35; s >= 0; s -= 5)
			enc[o++] = b32[(v >> s) & 31];
	}
	enc[o] = '\0';
	for (i = 0, o = 0; i < 48; i++) {
		if (i > 0 && i % 4 == 0)
			out[o++] = ':';
		out[o++] = enc[i];
	}
	out[o] = '\0';
	ret = 0;
out:
	OPENSSL_free(der);
	return ret;
}

json_t *
jws_jwk_new(EVP_PKEY *pkey, enum jws_alg alg, const char *kid)
{
	struct pubparts pp = { 0, NULL, NULL };
	json_t *j = NULL, *ret = NULL;
	int bad = 0;

	if (pubparts_get(pkey, &pp, NULL) == -1)
		goto out;
	if ((pp.is_ec && alg != JWS_ES256) || (!pp.is_ec && alg != JWS_RS256))
		goto out;
	if ((j = json_object()) == NULL)
		goto out;
	if (pp.is_ec) {
		bad |= json_object_set_new(j, "kty", json_string("EC"));
		bad |= json_object_set_new(j, "crv", json_string("P-256"));
		bad |= json_object_set_new(j, "x", json_string(pp.a));
		bad |= json_object_set_new(j, "y", json_string(pp.b));
	} else {
		bad |= json_object_set_new(j, "kty", json_string("RSA"));
		bad |= json_object_set_new(j, "n", json_string(pp.a));
		bad |= json_object_set_new(j, "e", json_string(pp.b));
	}
	if (kid != NULL)
		bad |= json_object_set_new(j, "kid", json_string(kid));
	bad |= json_object_set_new(j, "alg", json_string(jws_alg_name(alg)));
	bad |= json_object_set_new(j, "use", json_string("sig"));
	if (bad)
		goto out;
	ret = j;
	j = NULL;
out:
	json_decref(j);
	pubparts_clear(&pp);
	return ret;
}

/* A base64url member of a JWK, decoded (free it); NULL and `e` otherwise. */
static unsigned char *
jwk_bytes(const json_t *jwk, const char *name, size_t *len, struct err *e)
{
	const json_t *v = json_object_get(jwk, name);
	unsigned char *b;

	if (!json_is_string(v)) {
		err_set(e, "JWK has no \"%s\" string", name);
		return NULL;
	}
	/* The length, not strlen: an embedded NUL is refused by the decoder. */
	b = jws_b64url_decode_new(json_string_value(v), json_string_length(v),
	    len);
	if (b == NULL)
		err_set(e, "JWK \"%s\" is not base64url", name);
	return b;
}

/* A public key of `type` from the built parameters; NULL on failure. */
static EVP_PKEY *
pkey_fromdata(const char *type, OSSL_PARAM_BLD *bld)
{
	EVP_PKEY_CTX *ctx = NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY *pkey = NULL;

	if ((params = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
	    (ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1) {
		EVP_PKEY_free(pkey);
		pkey = NULL;
	}
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	return pkey;
}

static EVP_PKEY *
jwk_rsa(const json_t *jwk, struct err *e)
{
	OSSL_PARAM_BLD *bld = NULL;
	EVP_PKEY *ret = NULL;
	BIGNUM *n = NULL, *x = NULL;
	unsigned char *nb = NULL, *eb = NULL;
	size_t nl = 0, el = 0;
	int bits;

	if ((nb = jwk_bytes(jwk, "n", &nl, e)) == NULL ||
	    (eb = jwk_bytes(jwk, "e", &el, e)) == NULL)
		goto out;
	/* e of at most 64 bits: a huge exponent makes verifying slow. */
	if (nl == 0 || nl > 2 * SIG_MAX || el == 0 || el > 8) {
		err_set(e, "RSA JWK n or e has a bad length");
		goto out;
	}
	if ((n = BN_bin2bn(nb, (int)nl, NULL)) == NULL ||
	    (x = BN_bin2bn(eb, (int)el, NULL)) == NULL) {
		err_set(e, "out of memory");
		goto out;
	}
	bits = BN_num_bits(n);
	if (bits < 2048 || bits > 8 * SIG_MAX) {
		err_set(e, "RSA JWK of %d bits (want 2048 to %d)", bits,
		    8 * SIG_MAX);
		goto out;
	}
	if (!BN_is_odd(n) || !BN_is_odd(x) || BN_is_one(x)) {
		err_set(e, "RSA JWK n or e is not a valid public key");
		goto out;
	}
	if ((bld = OSSL_PARAM_BLD_new()) == NULL ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, x) != 1 ||
	    (ret = pkey_fromdata("RSA", bld)) == NULL)
		err_set(e, "RSA JWK is not a valid public key");
out:
	OSSL_PARAM_BLD_free(bld);
	BN_free(n);
	BN_free(x);
	free(nb);
	free(eb);
	return ret;
}

static EVP_PKEY *
jwk_ec(const json_t *jwk, struct err *e)
{
	OSSL_PARAM_BLD *bld = NULL;
	EVP_PKEY_CTX *cctx = NULL;
	EVP_PKEY *pkey = NULL, *ret = NULL;
	unsigned char *xb = NULL, *yb = NULL, point[1 + ES256_SIG];
	const char *crv;
	size_t xl = 0, yl = 0;

	crv = json_string_value(json_object_get(jwk, "crv"));
	if (crv == NULL || strcmp(crv, "P-256") != 0) {
		err_set(e, "EC JWK is not on P-256");
		goto out;
	}
	if ((xb = jwk_bytes(jwk, "x", &xl, e)) == NULL ||
	    (yb = jwk_bytes(jwk, "y", &yl, e)) == NULL)
		goto out;
	if (xl != ES256_COORD || yl != ES256_COORD) {
		err_set(e, "EC JWK x and y must be %d bytes each", ES256_COORD);
		goto out;
	}
	/* SEC 1 uncompressed point: 0x04 || x || y. */
	point[0] = 0x04;
	memcpy(point + 1, xb, ES256_COORD);
	memcpy(point + 1 + ES256_COORD, yb, ES256_COORD);
	if ((bld = OSSL_PARAM_BLD_new()) == NULL ||
	    OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
	    "prime256v1", 0) != 1 ||
	    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY,
	    point, sizeof(point)) != 1 ||
	    (pkey = pkey_fromdata("EC", bld)) == NULL) {
		err_set(e, "EC JWK is not a point on P-256");
		goto out;
	}
	/* The import checks the curve equation; say so explicitly anyway. */
	if ((cctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL)) == NULL ||
	    EVP_PKEY_public_check(cctx) != 1) {
		err_set(e, "EC JWK is not a point on P-256");
		goto out;
	}
	ret = pkey;
	pkey = NULL;
out:
	EVP_PKEY_CTX_free(cctx);
	EVP_PKEY_free(pkey);
	OSSL_PARAM_BLD_free(bld);
	free(xb);
	free(yb);
	return ret;
}

EVP_PKEY *
jws_jwk_to_pkey(const json_t *jwk, enum jws_alg *alg, struct err *e)
{
	const char *kty;
	const json_t *a;
	enum jws_alg kalg, named;
	EVP_PKEY *pkey;

	if (!json_is_object(jwk)) {
		err_set(e, "JWK is not an object");
		return NULL;
	}
	kty = json_string_value(json_object_get(jwk, "kty"));
	if (kty != NULL && strcmp(kty, "RSA") == 0)
		kalg = JWS_RS256;
	else if (kty != NULL && strcmp(kty, "EC") == 0)
		kalg = JWS_ES256;
	else {
		err_set(e, "JWK kty is not RSA or EC");
		return NULL;
	}
	if ((a = json_object_get(jwk, "alg")) != NULL &&
	    (jws_alg_parse(json_string_value(a), &named) == -1 ||
	    named != kalg)) {
		err_set(e, "JWK alg does not fit its %s key", kty);
		return NULL;
	}
	pkey = kalg == JWS_RS256 ? jwk_rsa(jwk, e) : jwk_ec(jwk, e);
	if (pkey != NULL && alg != NULL)
		*alg = kalg;
	return pkey;
}

/* Does the key's type fit the algorithm? */
static int
key_fits(EVP_PKEY *key, enum jws_alg alg)
{
	switch (alg) {
	case JWS_ES256:
		return EVP_PKEY_get_base_id(key) == EVP_PKEY_EC &&
		    EVP_PKEY_get_bits(key) == 256;
	case JWS_RS256:
		return EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA &&
		    EVP_PKEY_get_bits(key) >= 2048 &&
		    EVP_PKEY_get_size(key) <= SIG_MAX;
	}
	return 0;
}

/* DER ECDSA-Sig-Value -> 64-byte R||S, each half left-padded with zeros. */
static int
ecdsa_der_to_raw(const unsigned char *der, size_t len,
    unsigned char raw[ES256_SIG])
{
	const unsigned char *p = der;
	const BIGNUM *r, *s;
	ECDSA_SIG *sig;
	int ret = -1;

	if ((sig = d2i_ECDSA_SIG(NULL, &p, (long)len)) == NULL)
		return -1;
	ECDSA_SIG_get0(sig, &r, &s);
	if (BN_bn2binpad(r, raw, ES256_COORD) == ES256_COORD &&
	    BN_bn2binpad(s, raw + ES256_COORD, ES256_COORD) == ES256_COORD)
		ret = 0;
	ECDSA_SIG_free(sig);
	return ret;
}

/* 64-byte R||S -> DER (OPENSSL_malloc'ed), for EVP_DigestVerify. */
static int
ecdsa_raw_to_der(const unsigned char raw[ES256_SIG], unsigned char **der,
    size_t *len)
{
	ECDSA_SIG *sig = NULL;
	BIGNUM *r = NULL, *s = NULL;
	unsigned char *out = NULL;
	int n, ret = -1;

	if ((sig = ECDSA_SIG_new()) == NULL ||
	    (r = BN_bin2bn(raw, ES256_COORD, NULL)) == NULL ||
	    (s = BN_bin2bn(raw + ES256_COORD, ES256_COORD, NULL)) == NULL)
		goto out;
	if (ECDSA_SIG_set0(sig, r, s) != 1)
		goto out;
	r = s = NULL;
	if ((n = i2d_ECDSA_SIG(sig, &out)) <= 0)
		goto out;
	*der = out;
	*len = (size_t)n;
	ret = 0;
out:
	BN_free(r);
	BN_free(s);
	ECDSA_SIG_free(sig);
	return ret;
}

/*
 * SHA-256, fetched once: an implicit fetch per call (EVP_sha256() inside
 * EVP_DigestSign) costs a method-store lookup under a lock on every token.
 * The fetched EVP_MD is immutable and shared by all threads.
 */
static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void
sha256_fetch(void)
{
	sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

static int
digest(const void *data, size_t len, unsigned char md[32], struct err *e)
{
	unsigned int n = 0;

	if (pthread_once(&sha256_once, sha256_fetch) != 0 || sha256_md == NULL ||
	    EVP_Digest(data, len, md, &n, sha256_md, NULL) != 1 || n != 32) {
		err_set(e, "SHA-256 failed");
		return -1;
	}
	return 0;
}

/*
 * A fresh context over the shared, read-only key, set up to sign or verify
 * a SHA-256 digest: ECDSA, or RSA PKCS#1 v1.5 (DigestInfo with SHA-256).
 */
static EVP_PKEY_CTX *
pkey_ctx_new(EVP_PKEY *key, enum jws_alg alg, int sign)
{
	EVP_PKEY_CTX *pctx;

	if ((pctx = EVP_PKEY_CTX_new(key, NULL)) == NULL)
		return NULL;
	if ((sign ? EVP_PKEY_sign_init(pctx) : EVP_PKEY_verify_init(pctx)) != 1)
		goto fail;
	if (alg == JWS_RS256 &&
	    (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1 ||
	    EVP_PKEY_CTX_set_signature_md(pctx, sha256_md) != 1))
		goto fail;
	return pctx;
fail:
	EVP_PKEY_CTX_free(pctx);
	return NULL;
}

char *
jws_sign_new(EVP_PKEY *key, enum jws_alg alg, const char *header_b64,
    const char *payload, size_t payload_len, struct err *e)
{
	EVP_PKEY_CTX *pctx = NULL;
	unsigned char sig[SIG_MAX], raw[ES256_SIG], md[32];
	const unsigned char *sp;
	size_t hlen, total, o, siglen, outsig;
	char *tok = NULL, *ret = NULL;

	if (key == NULL || header_b64 == NULL || payload == NULL) {
		err_set(e, "%s: missing argument", __func__);
		goto out;
	}
	if (!key_fits(key, alg)) {
		err_set(e, "%s: key does not fit %s", __func__,
		    jws_alg_name(alg));
		goto out;
	}
	hlen = strlen(header_b64);
	if (payload_len > JWS_MAX_TOKEN || hlen > JWS_MAX_TOKEN) {
		err_set(e, "%s: token would exceed %d bytes", __func__,
		    JWS_MAX_TOKEN);
		goto out;
	}
	outsig = alg == JWS_ES256 ? ES256_SIG : (size_t)EVP_PKEY_get_size(key);
	/* One allocation: header '.' payload '.' signature NUL. */
	total = hlen + 1 + b64_size(payload_len) + 1 + b64_size(outsig);
	if ((tok = malloc(total)) == NULL) {
		err_set(e, "%s: out of memory", __func__);
		goto out;
	}
	memcpy(tok, header_b64, hlen);
	tok[hlen] = '.';
	o = hlen + 1 + jws_b64url_encode((const unsigned char *)payload,
	    payload_len, tok + hlen + 1);

	if (digest(tok, o, md, e) == -1 ||
	    (pctx = pkey_ctx_new(key, alg, 1)) == NULL) {
		err_set(e, "%s: cannot start signing", __func__);
		goto out;
	}
	siglen = sizeof(sig);
	if (EVP_PKEY_sign(pctx, sig, &siglen, md, sizeof(md)) != 1) {
		err_set(e, "%s: signing failed", __func__);
		goto out;
	}
	sp = sig;
	if (alg == JWS_ES256) {
		if (ecdsa_der_to_raw(sig, siglen, raw) == -1) {
			err_set(e, "%s: bad ECDSA signature", __func__);
			goto out;
		}
		sp = raw;
		siglen = ES256_SIG;
	}
	tok[o++] = '.';
	jws_b64url_encode(sp, siglen, tok + o);
	ret = tok;
	tok = NULL;
out:
	EVP_PKEY_CTX_free(pctx);
	free(tok);
	return ret;
}

int
jws_verify(const char *token, size_t len, jws_key_lookup_fn lookup,
    void *arg, json_t **header, json_t **claims, struct err *e)
{
	EVP_PKEY_CTX *pctx = NULL;
	EVP_PKEY *key;
	unsigned char md[32], *hbuf = NULL, *pbuf = NULL, *sbuf = NULL, *der = NULL;
	const unsigned char *sig;
	const char *d1, *d2, *algname;
	size_t hlen = 0, plen = 0, slen = 0, siglen;
	enum jws_alg halg, kalg;
	json_t *h = NULL, *c = NULL;
	int ret = -1;

	if (token == NULL || len == 0 || len > JWS_MAX_TOKEN) {
		err_set(e, "token empty or longer than %d bytes", JWS_MAX_TOKEN);
		goto out;
	}
	if ((d1 = memchr(token, '.', len)) == NULL ||
	    (d2 = memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - token))) == NULL ||
	    memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - token)) != NULL) {
		err_set(e, "token is not three dot-separated parts");
		goto out;
	}
	if ((hbuf = jws_b64url_decode_new(token, (size_t)(d1 - token),
	    &hlen)) == NULL) {
		err_set(e, "token header is not base64url");
		goto out;
	}
	if ((h = util_json_loadb((const char *)hbuf, hlen, "header", e)) == NULL)
		goto out;
	if (!json_is_object(h)) {
		err_set(e, "token header is not a JSON object");
		goto out;
	}
	algname = json_string_value(json_object_get(h, "alg"));
	if (algname == NULL || jws_alg_parse(algname, &halg) == -1) {
		err_set(e, "token alg not accepted");
		goto out;
	}
	/* RFC 7515 4.1.11: we understand no extension, so none may be critical. */
	if (json_object_get(h, "crit") != NULL) {
		err_set(e, "token header has crit");
		goto out;
	}
	if ((key = lookup(arg, h, &kalg)) == NULL) {
		err_set(e, "token signed by an unknown key");
		goto out;
	}
	if (kalg != halg || !key_fits(key, kalg)) {
		err_set(e, "token alg does not match the key");
		goto out;
	}
	if ((sbuf = jws_b64url_decode_new(d2 + 1,
	    len - (size_t)(d2 + 1 - token), &slen)) == NULL) {
		err_set(e, "token signature is not base64url");
		goto out;
	}
	sig = sbuf;
	siglen = slen;
	if (kalg == JWS_ES256) {
		if (slen != ES256_SIG || ecdsa_raw_to_der(sbuf, &der,
		    &siglen) == -1) {
			err_set(e, "token signature is not 64-byte R||S");
			goto out;
		}
		sig = der;
	} else if (slen != (size_t)EVP_PKEY_get_size(key)) {
		err_set(e, "token signature has the wrong length");
		goto out;
	}
	if (digest(token, (size_t)(d2 - token), md, e) == -1 ||
	    (pctx = pkey_ctx_new(key, kalg, 0)) == NULL) {
		err_set(e, "cannot start verifying");
		goto out;
	}
	if (EVP_PKEY_verify(pctx, sig, siglen, md, sizeof(md)) != 1) {
		err_set(e, "token signature does not verify");
		goto out;
	}
	/* Only now, authenticated, parse the claims. */
	if ((pbuf = jws_b64url_decode_new(d1 + 1, (size_t)(d2 - d1 - 1),
	    &plen)) == NULL) {
		err_set(e, "token claims are not base64url");
		goto out;
	}
	if ((c = util_json_loadb((const char *)pbuf, plen, "claims", e)) == NULL)
		goto out;
	if (!json_is_object(c)) {
		err_set(e, "token claims are not a JSON object");
		goto out;
	}
	if (header != NULL) {
		*header = h;
		h = NULL;
	}
	if (claims != NULL) {
		*claims = c;
		c = NULL;
	}
	ret = 0;
out:
	EVP_PKEY_CTX_free(pctx);
	OPENSSL_free(der);
	free(hbuf);
	free(sbuf);
	if (pbuf != NULL)
		util_secure_free(pbuf, plen);
	json_decref(h);
	json_decref(c);
	return ret;
}
