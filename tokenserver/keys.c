/*
 * The key set of a configuration directory (keys.h): a local CA whose
 * certificate is the registries' rootcertbundle, and a signing key that the
 * CA certifies. Everything a signature needs (the EVP_PKEY, the encoded
 * protected header with kid and x5c) is computed once at load; afterwards the
 * key set is read-only, so any number of threads may sign and look up keys.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "keys.h"

#define KEYS_DIR	"keys"
#define CA_KEY		"ca.key"
#define CA_CERT		"bundle.pem"
#define SIGN_KEY	"signing.key"
#define SIGN_CERT	"signing.crt"
#define KEY_FILE_MAX	(64 * 1024)
#define BUNDLE_MAX	(1024 * 1024)
#define CA_DAYS		3652		/* 10 years */
#define LEAF_DAYS	1826		/* 5 years */
#define BACKDATE	3600		/* registries check nbf; clocks drift */
#define CN_MAX		64		/* RFC 5280 ub-common-name */

struct keyset {
	struct signing_key	 active;
	char			*x5c;		/* std base64 DER of active.cert */
	char			*bundle_pem;
	STACK_OF(X509)		*cas;
};

/* Refuse to prompt on a terminal for an encrypted key. */
static int
no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

static int
keypath(char *out, size_t outlen, const char *dir, const char *name)
{
	int n;

	n = name == NULL ? snprintf(out, outlen, "%s/" KEYS_DIR, dir) :
	    snprintf(out, outlen, "%s/" KEYS_DIR "/%s", dir, name);
	return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

/* "ISSUER SUFFIX", the issuer cut at a UTF-8 boundary to fit a CN. */
static void
make_cn(char out[CN_MAX + 1], const char *issuer, const char *suffix)
{
	size_t room = CN_MAX - strlen(suffix) - 1, n = strlen(issuer);

	if (n > room) {
		n = room;
		while (n > 0 && ((unsigned char)issuer[n] & 0xc0) == 0x80)
			n--;
	}
	snprintf(out, CN_MAX + 1, "%.*s %s", (int)n, issuer, suffix);
}

static int
add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
	X509_EXTENSION *ext;
	int ok;

	if ((ext = X509V3_EXT_conf_nid(NULL, ctx, nid, value)) == NULL)
		return -1;
	ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok == 1 ? 0 : -1;
}

/*
 * A certificate for `key`, named `cn`, signed by `ca_key` on behalf of
 * `ca_cert` (NULL: self-signed by `key`, a CA). Random 128-bit serial,
 * backdated by BACKDATE, valid `days`.
 */
static X509 *
cert_new(EVP_PKEY *key, const char *cn, X509 *ca_cert, EVP_PKEY *ca_key,
    long days, struct err *e)
{
	X509V3_CTX ctx;
	X509 *x = NULL, *ret = NULL;
	X509_NAME *name;
	BIGNUM *bn = NULL;
	unsigned char serial[16];
	int is_ca = ca_cert == NULL;

	if ((x = X509_new()) == NULL || X509_set_version(x, X509_VERSION_3) != 1)
		goto fail;
	if (RAND_bytes(serial, sizeof(serial)) != 1)
		goto fail;
	serial[0] = (serial[0] & 0x7f) | 0x40;	/* positive, never zero */
	if ((bn = BN_bin2bn(serial, sizeof(serial), NULL)) == NULL ||
	    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL)
		goto fail;
	if (X509_gmtime_adj(X509_getm_notBefore(x), -BACKDATE) == NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(x), (int)days, 0, NULL) == NULL)
		goto fail;
	name = X509_get_subject_name(x);
	if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
	    (const unsigned char *)cn, -1, -1, 0) != 1)
		goto fail;
	if (X509_set_issuer_name(x, is_ca ? name :
	    X509_get_subject_name(ca_cert)) != 1)
		goto fail;
	if (X509_set_pubkey(x, key) != 1)
		goto fail;
	X509V3_set_ctx(&ctx, is_ca ? x : ca_cert, x, NULL, NULL, 0);
	if (is_ca) {
		if (add_ext(x, &ctx, NID_basic_constraints, "critical,CA:TRUE") ||
		    add_ext(x, &ctx, NID_key_usage,
		    "critical,keyCertSign,cRLSign") ||
		    add_ext(x, &ctx, NID_subject_key_identifier, "hash"))
			goto fail;
	} else {
		if (add_ext(x, &ctx, NID_basic_constraints, "critical,CA:FALSE") ||
		    add_ext(x, &ctx, NID_key_usage,
		    "critical,digitalSignature") ||
		    add_ext(x, &ctx, NID_subject_key_identifier, "hash") ||
		    add_ext(x, &ctx, NID_authority_key_identifier,
		    "keyid:always"))
			goto fail;
	}
	if (X509_sign(x, is_ca ? key : ca_key, EVP_sha256()) <= 0)
		goto fail;
	ret = x;
	x = NULL;
	goto out;
fail:
	err_set(e, "cannot make the certificate \"%s\"", cn);
out:
	BN_free(bn);
	X509_free(x);
	return ret;
}

/* PEM PKCS#8 of a private key, written 0600, never replacing a file. */
static int
write_key(const char *path, EVP_PKEY *key, struct err *e)
{
	BIO *bio = NULL;
	char *p = NULL;
	long n;
	int ret = -1;

	/* A secure-memory BIO wipes its buffer when freed. */
	if ((bio = BIO_new(BIO_s_secmem())) == NULL ||
	    PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) != 1 ||
	    (n = BIO_get_mem_data(bio, &p)) <= 0) {
		err_set(e, "%s: cannot encode the key", path);
		goto out;
	}
	ret = util_write_file(path, p, (size_t)n, 0600, 1, e);
out:
	BIO_free(bio);
	return ret;
}

static int
write_cert(const char *path, X509 *x, struct err *e)
{
	BIO *bio = NULL;
	char *p = NULL;
	long n;
	int ret = -1;

	if ((bio = BIO_new(BIO_s_mem())) == NULL ||
	    PEM_write_bio_X509(bio, x) != 1 ||
	    (n = BIO_get_mem_data(bio, &p)) <= 0) {
		err_set(e, "%s: cannot encode the certificate", path);
		goto out;
	}
	ret = util_write_file(path, p, (size_t)n, 0644, 1, e);
out:
	BIO_free(bio);
	return ret;
}

int
keys_create(const char *dir, enum jws_alg alg, const char *issuer,
    struct err *e)
{
	static const char *const names[] = { CA_KEY, CA_CERT, SIGN_KEY,
	    SIGN_CERT };
	char paths[4][PATH_MAX], kdir[PATH_MAX], cn[CN_MAX + 1];
	EVP_PKEY *ca_key = NULL, *sign_key = NULL;
	X509 *ca_cert = NULL, *sign_cert = NULL;
	struct stat st;
	int written = 0, ret = -1;
	size_t i;

	if (dir == NULL || issuer == NULL || *issuer == '\0') {
		err_set(e, "%s: missing directory or issuer", __func__);
		goto out;
	}
	if (keypath(kdir, sizeof(kdir), dir, NULL) == -1) {
		err_set(e, "%s: path too long", dir);
		goto out;
	}
	for (i = 0; i < 4; i++) {
		if (keypath(paths[i], sizeof(paths[i]), dir, names[i]) == -1) {
			err_set(e, "%s: path too long", dir);
			goto out;
		}
		if (lstat(paths[i], &st) == 0) {
			err_set(e, "%s: exists", paths[i]);
			goto out;
		}
	}
	if (util_mkdirs(kdir, 0700, e) == -1)
		goto out;
	/* A keys/ folder that existed already is narrowed too. */
	if (chmod(kdir, 0700) == -1) {
		err_set(e, "%s: %s", kdir, strerror(errno));
		goto out;
	}

	if ((ca_key = EVP_EC_gen("P-256")) == NULL) {
		err_set(e, "cannot generate the CA key");
		goto out;
	}
	sign_key = alg == JWS_ES256 ? EVP_EC_gen("P-256") : EVP_RSA_gen(2048);
	if (sign_key == NULL) {
		err_set(e, "cannot generate the %s signing key",
		    jws_alg_name(alg));
		goto out;
	}
	make_cn(cn, issuer, "CA");
	if ((ca_cert = cert_new(ca_key, cn, NULL, NULL, CA_DAYS, e)) == NULL)
		goto out;
	make_cn(cn, issuer, "signing key");
	if ((sign_cert = cert_new(sign_key, cn, ca_cert, ca_key, LEAF_DAYS,
	    e)) == NULL)
		goto out;

	if (write_key(paths[0], ca_key, e) == -1)
		goto out;
	written++;
	if (write_cert(paths[1], ca_cert, e) == -1)
		goto out;
	written++;
	if (write_key(paths[2], sign_key, e) == -1)
		goto out;
	written++;
	if (write_cert(paths[3], sign_cert, e) == -1)
		goto out;
	written++;
	ret = 0;
out:
	/* All or nothing: a half-made key set would not load anyway. */
	if (ret == -1)
		while (written > 0)
			unlink(paths[--written]);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(sign_key);
	X509_free(ca_cert);
	X509_free(sign_cert);
	ERR_clear_error();
	return ret;
}

static EVP_PKEY *
load_private_key(const char *path, struct err *e)
{
	EVP_PKEY *key = NULL;
	BIO *bio = NULL;
	char *buf = NULL;
	size_t len = 0;

	if ((buf = util_read_secret_file(path, KEY_FILE_MAX, &len, e)) == NULL)
		goto out;
	if ((bio = BIO_new_mem_buf(buf, (int)len)) == NULL ||
	    (key = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase,
	    NULL)) == NULL)
		err_set(e, "%s: not an unencrypted PEM private key", path);
out:
	BIO_free(bio);
	util_secure_free(buf, len);
	return key;
}

static X509 *
load_cert(const char *path, struct err *e)
{
	X509 *x = NULL;
	BIO *bio = NULL;
	char *buf = NULL;
	size_t len = 0;

	if ((buf = util_read_file(path, KEY_FILE_MAX, &len, e)) == NULL)
		goto out;
	if ((bio = BIO_new_mem_buf(buf, (int)len)) == NULL ||
	    (x = PEM_read_bio_X509(bio, NULL, no_passphrase, NULL)) == NULL)
		err_set(e, "%s: not a PEM certificate", path);
out:
	BIO_free(bio);
	free(buf);
	return x;
}

/* Every certificate of a PEM bundle; at least one. */
static STACK_OF(X509) *
load_bundle(const char *path, const char *pem, size_t len, struct err *e)
{
	STACK_OF(X509_INFO) *infos = NULL;
	STACK_OF(X509) *cas = NULL, *ret = NULL;
	X509_INFO *xi;
	BIO *bio = NULL;
	int i;

	if ((bio = BIO_new_mem_buf(pem, (int)len)) == NULL ||
	    (infos = PEM_X509_INFO_read_bio(bio, NULL, no_passphrase,
	    NULL)) == NULL || (cas = sk_X509_new_null()) == NULL) {
		err_set(e, "%s: not a PEM certificate bundle", path);
		goto out;
	}
	for (i = 0; i < sk_X509_INFO_num(infos); i++) {
		xi = sk_X509_INFO_value(infos, i);
		if (xi->x509 == NULL)
			continue;
		if (sk_X509_push(cas, xi->x509) <= 0) {
			err_set(e, "%s: out of memory", path);
			goto out;
		}
		xi->x509 = NULL;
	}
	if (sk_X509_num(cas) == 0) {
		err_set(e, "%s: no certificate", path);
		goto out;
	}
	ret = cas;
	cas = NULL;
out:
	sk_X509_pop_free(cas, X509_free);
	sk_X509_INFO_pop_free(infos, X509_INFO_free);
	BIO_free(bio);
	return ret;
}

/* The algorithm a signing key can serve, from its type and size. */
static int
key_alg(EVP_PKEY *key, enum jws_alg *alg)
{
	char group[64];
	size_t n = 0;

	switch (EVP_PKEY_get_base_id(key)) {
	case EVP_PKEY_EC:
		if (EVP_PKEY_get_utf8_string_param(key,
		    OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), &n) != 1 ||
		    strcmp(group, "prime256v1") != 0)
			return -1;
		*alg = JWS_ES256;
		return 0;
	case EVP_PKEY_RSA:
		if (EVP_PKEY_get_bits(key) < 2048 ||
		    EVP_PKEY_get_bits(key) > 8192)
			return -1;
		*alg = JWS_RS256;
		return 0;
	}
	return -1;
}

/* The protected header, once: base64url({"alg","typ","kid","x5c":[leaf]}). */
static char *
header_b64_new(const struct signing_key *sk, const char *x5c)
{
	json_t *h = NULL;
	char *text = NULL, *ret = NULL;

	h = json_pack("{s:s,s:s,s:s,s:[s]}", "alg", jws_alg_name(sk->alg),
	    "typ", "JWT", "kid", sk->kid, "x5c", x5c);
	if (h == NULL || (text = json_dumps(h, JSON_COMPACT)) == NULL)
		goto out;
	ret = jws_b64url_encode_new((const unsigned char *)text, strlen(text));
out:
	free(text);
	json_decref(h);
	return ret;
}

/* Standard base64 (with padding, RFC 7515 4.1.6) of a certificate's DER. */
static char *
x5c_new(X509 *x)
{
	unsigned char *der = NULL;
	char *ret = NULL;
	int n;

	if ((n = i2d_X509(x, &der)) <= 0)
		goto out;
	if ((ret = malloc(4 * (((size_t)n + 2) / 3) + 1)) == NULL)
		goto out;
	EVP_EncodeBlock((unsigned char *)ret, der, n);
out:
	OPENSSL_free(der);
	return ret;
}

struct keyset *
keys_load(const char *dir, enum keys_kid_format fmt, struct err *e)
{
	char path[PATH_MAX], *buf = NULL;
	struct keyset *ks = NULL, *ret = NULL;
	struct signing_key *sk;
	size_t len = 0;
	int i, issued = 0;

	if ((ks = calloc(1, sizeof(*ks))) == NULL) {
		err_set(e, "%s: out of memory", __func__);
		goto out;
	}
	sk = &ks->active;

	/* The CA key may live offline; when present it must be private. */
	if (keypath(path, sizeof(path), dir, CA_KEY) == -1) {
		err_set(e, "%s: path too long", dir);
		goto out;
	}
	if (access(path, F_OK) == 0) {
		if ((buf = util_read_secret_file(path, KEY_FILE_MAX, &len,
		    e)) == NULL)
			goto out;
		util_secure_free(buf, len);
		buf = NULL;
	}

	if (keypath(path, sizeof(path), dir, SIGN_KEY) == -1 ||
	    (sk->pkey = load_private_key(path, e)) == NULL)
		goto out;
	if (key_alg(sk->pkey, &sk->alg) == -1) {
		err_set(e, "%s: not a P-256 or RSA (2048 to 8192 bits) key",
		    path);
		goto out;
	}
	if (keypath(path, sizeof(path), dir, SIGN_CERT) == -1 ||
	    (sk->cert = load_cert(path, e)) == NULL)
		goto out;
	if (EVP_PKEY_eq(X509_get0_pubkey(sk->cert), sk->pkey) != 1) {
		err_set(e, "%s: certificate does not match " SIGN_KEY, path);
		goto out;
	}

	if (keypath(path, sizeof(path), dir, CA_CERT) == -1 ||
	    (ks->bundle_pem = util_read_file(path, BUNDLE_MAX, &len,
	    e)) == NULL ||
	    (ks->cas = load_bundle(path, ks->bundle_pem, len, e)) == NULL)
		goto out;
	/* A registry trusting the bundle must accept the x5c leaf. */
	for (i = 0; i < sk_X509_num(ks->cas) && !issued; i++) {
		X509 *ca = sk_X509_value(ks->cas, i);

		issued = X509_check_issued(ca, sk->cert) == X509_V_OK &&
		    X509_verify(sk->cert, X509_get0_pubkey(ca)) == 1;
	}
	if (!issued) {
		err_set(e, "%s/" KEYS_DIR "/" SIGN_CERT ": not issued by a "
		    "certificate in " CA_CERT, dir);
		goto out;
	}

	if ((fmt == KEYS_KID_LIBTRUST ? jws_kid_libtrust(sk->pkey, sk->kid, e) :
	    jws_kid_thumbprint(sk->pkey, sk->kid, e)) == -1)
		goto out;
	if ((ks->x5c = x5c_new(sk->cert)) == NULL ||
	    (sk->header_b64 = header_b64_new(sk, ks->x5c)) == NULL) {
		err_set(e, "%s: cannot encode the token header", __func__);
		goto out;
	}
	ret = ks;
	ks = NULL;
out:
	keys_free(ks);
	ERR_clear_error();
	return ret;
}

void
keys_free(struct keyset *ks)
{
	if (ks == NULL)
		return;
	EVP_PKEY_free(ks->active.pkey);
	X509_free(ks->active.cert);
	free(ks->active.header_b64);
	free(ks->x5c);
	free(ks->bundle_pem);
	sk_X509_pop_free(ks->cas, X509_free);
	free(ks);
}

const struct signing_key *
keys_active(const struct keyset *ks)
{
	return ks == NULL ? NULL : &ks->active;
}

EVP_PKEY *
keys_lookup(void *arg, const json_t *header, enum jws_alg *alg)
{
	const struct keyset *ks = arg;
	const char *kid, *name;
	enum jws_alg halg;

	if (ks == NULL || header == NULL)
		return NULL;
	kid = json_string_value(json_object_get(header, "kid"));
	name = json_string_value(json_object_get(header, "alg"));
	if (kid == NULL || name == NULL || jws_alg_parse(name, &halg) == -1)
		return NULL;
	if (strcmp(kid, ks->active.kid) != 0 || halg != ks->active.alg)
		return NULL;
	*alg = ks->active.alg;
	return ks->active.pkey;
}

json_t *
keys_jwks(const struct keyset *ks)
{
	json_t *jwks = NULL, *arr, *jwk = NULL, *ret = NULL;

	if (ks == NULL)
		goto out;
	if ((jwk = jws_jwk_new(ks->active.pkey, ks->active.alg,
	    ks->active.kid)) == NULL ||
	    json_object_set_new(jwk, "x5c", json_pack("[s]", ks->x5c)) != 0)
		goto out;
	if ((jwks = json_pack("{s:[]}", "keys")) == NULL)
		goto out;
	arr = json_object_get(jwks, "keys");
	if (json_array_append_new(arr, jwk) != 0) {
		jwk = NULL;
		goto out;
	}
	jwk = NULL;
	ret = jwks;
	jwks = NULL;
out:
	json_decref(jwk);
	json_decref(jwks);
	return ret;
}

const char *
keys_bundle_pem(const struct keyset *ks)
{
	return ks == NULL ? NULL : ks->bundle_pem;
}

char *
keys_sign(const struct keyset *ks, const json_t *claims, struct err *e)
{
	char stackbuf[8192], *heap = NULL, *ret = NULL;
	const char *text = stackbuf;
	size_t n;

	if (ks == NULL || !json_is_object(claims)) {
		err_set(e, "%s: claims must be a JSON object", __func__);
		goto out;
	}
	/* Claims usually fit on the stack: no allocation but the token's. */
	n = json_dumpb(claims, stackbuf, sizeof(stackbuf), JSON_COMPACT);
	if (n == 0 || n > JWS_MAX_TOKEN) {
		err_set(e, "%s: cannot encode the claims", __func__);
		goto out;
	}
	if (n > sizeof(stackbuf)) {
		if ((heap = malloc(n)) == NULL ||
		    json_dumpb(claims, heap, n, JSON_COMPACT) != n) {
			err_set(e, "%s: cannot encode the claims", __func__);
			goto out;
		}
		text = heap;
	}
	ret = jws_sign_new(ks->active.pkey, ks->active.alg,
	    ks->active.header_b64, text, n, e);
out:
	free(heap);
	return ret;
}
