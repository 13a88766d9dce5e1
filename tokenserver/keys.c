/*
 * The key set of a configuration directory (keys.h): a local CA whose
 * certificate is the registries' rootcertbundle, and a signing key that the
 * CA certifies. Everything a signature needs (the EVP_PKEY, the encoded
 * protected header with kid and x5c) is computed once at load; afterwards the
 * key set is read-only, so any number of threads may sign and look up keys.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
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

#include "jsonpos.h"
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

#define STATE_FILE	"keys.json"
#define STATE_NAME	KEYS_DIR "/" STATE_FILE	/* in messages */
#define KEYS_MAX	16		/* keys in keys.json */
#define FILE_MAX	24		/* "signing-NNNNNNNNN" */
#define SERIAL_MAX	999999999

/* One key of keys.json (or the implied signing.key). */
struct key_entry {
	char		 file[FILE_MAX];	/* FILE.key, FILE.crt */
	char		 kid[64];		/* as recorded; informational */
	char		 alg[8];		/* as recorded; informational */
	int64_t		 created;
	int64_t		 activate_at;
};

struct key_state {
	struct key_entry v[KEYS_MAX + 1];	/* room for one more */
	size_t		 n;
	int		 from_file;	/* keys.json exists */
};

struct key_slot {
	struct signing_key	 sk;
	char			*x5c;		/* std base64 DER of sk.cert */
	int64_t			 activate_at;
	int64_t			 retire_at;	/* INT64_MAX: never (yet) */
};

struct keyset {
	struct key_slot		 slots[KEYS_MAX];	/* by activate_at */
	size_t			 n;
	char			*bundle_pem;
	STACK_OF(X509)		*cas;
};

static int64_t (*keys_clock)(void) = util_now;

void
keys_set_clock(int64_t (*now)(void))
{
	keys_clock = now != NULL ? now : util_now;
}

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

/* A certificate of the bundle issued `x` (and its signature checks). */
static int
issued_by_bundle(STACK_OF(X509) *cas, X509 *x)
{
	int i;

	for (i = 0; i < sk_X509_num(cas); i++) {
		X509 *ca = sk_X509_value(cas, i);

		if (X509_check_issued(ca, x) == X509_V_OK &&
		    X509_verify(x, X509_get0_pubkey(ca)) == 1)
			return 1;
	}
	return 0;
}

static int
kid_of(EVP_PKEY *pkey, enum keys_kid_format fmt, char out[64], struct err *e)
{
	return fmt == KEYS_KID_LIBTRUST ? jws_kid_libtrust(pkey, out, e) :
	    jws_kid_thumbprint(pkey, out, e);
}

/*
 * The state file: keys.json, or the one key signing.key when it is absent.
 */

/* "signing" (serial 1) or "signing-N", N in 2..SERIAL_MAX, no leading 0. */
static int
file_name_ok(const char *s, int64_t *serial)
{
	const char *p;
	int64_t n;

	if (strcmp(s, "signing") == 0) {
		*serial = 1;
		return 1;
	}
	if (strncmp(s, "signing-", 8) != 0)
		return 0;
	p = s + 8;
	if (*p < '1' || *p > '9' || strspn(p, "0123456789") != strlen(p) ||
	    util_parse_i64(p, 2, SERIAL_MAX, &n) == -1)
		return 0;
	*serial = n;
	return 1;
}

/* STATE_NAME[:LINE:COLUMN]: MESSAGE, the position of JSON Pointer `ptr`. */
static void state_fail(struct err *e, const char *text, size_t len,
    const char *ptr, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void
state_fail(struct err *e, const char *text, size_t len, const char *ptr,
    const char *fmt, ...)
{
	char where[32] = "", msg[160];
	struct jsonpos *jp;
	struct jsonpos_loc loc;
	struct err pe;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (text != NULL && (jp = jsonpos_new(text, len, NULL, &pe)) != NULL) {
		if (jsonpos_find(jp, ptr, &loc) != -1)
			snprintf(where, sizeof(where), ":%d:%d",
			    loc.key_line > 0 ? loc.key_line : loc.line,
			    loc.key_line > 0 ? loc.key_col : loc.col);
		jsonpos_free(jp);
	}
	err_set(e, STATE_NAME "%s: %s", where, msg);
}

#define TIME_MAX	((int64_t)1 << 40)	/* far enough; no overflow */

static int
state_parse(const char *text, size_t len, struct key_state *st,
    struct err *e)
{
	json_t *j = NULL, *arr, *k, *v;
	const char *name;
	char ptr[128];
	size_t i, m;
	int64_t serial;
	int have_file, have_act, ret = -1;

	memset(st, 0, sizeof(*st));
	st->from_file = 1;
	if ((j = util_json_loadb(text, len, STATE_NAME, e)) == NULL)
		goto out;
	arr = json_object_get(j, "keys");
	if (!json_is_object(j) || json_object_size(j) != 1 ||
	    !json_is_array(arr)) {
		state_fail(e, text, len, "", "want {\"keys\":[...]}");
		goto out;
	}
	if (json_array_size(arr) == 0 || json_array_size(arr) > KEYS_MAX) {
		state_fail(e, text, len, "/keys", "want 1 to %d keys",
		    KEYS_MAX);
		goto out;
	}
	json_array_foreach(arr, i, k) {
		struct key_entry *ke = &st->v[i];

		snprintf(ptr, sizeof(ptr), "/keys/%zu", i);
		if (!json_is_object(k)) {
			state_fail(e, text, len, ptr, "a key must be an object");
			goto out;
		}
		have_file = have_act = 0;
		json_object_foreach(k, name, v) {
			char vp[128];

			snprintf(vp, sizeof(vp), "%s", ptr);
			jsonpos_path_add(vp, sizeof(vp), name);
			if (strcmp(name, "file") == 0) {
				if (!json_is_string(v) ||
				    json_string_length(v) >= FILE_MAX ||
				    !file_name_ok(json_string_value(v),
				    &serial)) {
					state_fail(e, text, len, vp, "\"file\" "
					    "must be \"signing\" or "
					    "\"signing-N\"");
					goto out;
				}
				snprintf(ke->file, sizeof(ke->file), "%s",
				    json_string_value(v));
				have_file = 1;
			} else if (strcmp(name, "kid") == 0) {
				if (!json_is_string(v) ||
				    json_string_length(v) >= sizeof(ke->kid)) {
					state_fail(e, text, len, vp, "\"kid\" "
					    "must be a string of at most 63 "
					    "bytes");
					goto out;
				}
				snprintf(ke->kid, sizeof(ke->kid), "%s",
				    json_string_value(v));
			} else if (strcmp(name, "alg") == 0) {
				enum jws_alg a;

				if (!json_is_string(v) || jws_alg_parse(
				    json_string_value(v), &a) == -1) {
					state_fail(e, text, len, vp, "\"alg\" "
					    "must be \"ES256\" or \"RS256\"");
					goto out;
				}
				snprintf(ke->alg, sizeof(ke->alg), "%s",
				    jws_alg_name(a));
			} else if (strcmp(name, "created") == 0 ||
			    strcmp(name, "activate_at") == 0) {
				if (!json_is_integer(v) ||
				    json_integer_value(v) < 0 ||
				    json_integer_value(v) > TIME_MAX) {
					state_fail(e, text, len, vp, "\"%s\" "
					    "must be seconds since the epoch",
					    name);
					goto out;
				}
				if (name[0] == 'c')
					ke->created = json_integer_value(v);
				else {
					ke->activate_at = json_integer_value(v);
					have_act = 1;
				}
			} else {
				state_fail(e, text, len, vp, "unknown member "
				    "\"%s\"", name);
				goto out;
			}
		}
		if (!have_file || !have_act) {
			state_fail(e, text, len, ptr, "a key needs \"file\" and "
			    "\"activate_at\"");
			goto out;
		}
		for (m = 0; m < i; m++)
			if (strcmp(st->v[m].file, ke->file) == 0) {
				state_fail(e, text, len, ptr, "\"%s\" is listed "
				    "twice", ke->file);
				goto out;
			}
		if (i > 0 && ke->activate_at < st->v[i - 1].activate_at) {
			state_fail(e, text, len, ptr, "\"activate_at\" is "
			    "earlier than the key before (keys are listed in "
			    "the order they sign)");
			goto out;
		}
		st->n++;
	}
	ret = 0;
out:
	json_decref(j);
	return ret;
}

static int
state_read(const char *dir, struct key_state *st, struct err *e)
{
	char path[PATH_MAX], *text = NULL;
	struct stat sb;
	size_t len = 0;
	int ret = -1;

	if (keypath(path, sizeof(path), dir, STATE_FILE) == -1) {
		err_set(e, "%s: path too long", dir);
		return -1;
	}
	if (lstat(path, &sb) == -1 && errno == ENOENT) {
		/* A directory from before rotation: signing.key alone. */
		memset(st, 0, sizeof(*st));
		snprintf(st->v[0].file, sizeof(st->v[0].file), "signing");
		if (keypath(path, sizeof(path), dir, SIGN_CERT) == 0 &&
		    stat(path, &sb) == 0)
			st->v[0].created = (int64_t)sb.st_mtime;
		st->n = 1;
		return 0;
	}
	if ((text = util_read_file(path, UTIL_JSON_MAX_BYTES, &len,
	    e)) == NULL)
		goto out;
	ret = state_parse(text, len, st, e);
out:
	free(text);
	return ret;
}

static int
state_write(const char *dir, const struct key_state *st, struct err *e)
{
	char path[PATH_MAX];
	json_t *j = NULL, *arr, *k;
	size_t i;
	int ret = -1;

	if (keypath(path, sizeof(path), dir, STATE_FILE) == -1) {
		err_set(e, "%s: path too long", dir);
		goto out;
	}
	if ((j = json_pack("{s:[]}", "keys")) == NULL)
		goto oom;
	arr = json_object_get(j, "keys");
	for (i = 0; i < st->n; i++) {
		const struct key_entry *ke = &st->v[i];

		k = json_pack("{s:s, s:I, s:I}", "file", ke->file, "created",
		    (json_int_t)ke->created, "activate_at",
		    (json_int_t)ke->activate_at);
		if (k == NULL || json_array_append_new(arr, k) != 0)
			goto oom;
		if ((ke->kid[0] != '\0' && json_object_set_new(k, "kid",
		    json_string(ke->kid)) != 0) || (ke->alg[0] != '\0' &&
		    json_object_set_new(k, "alg", json_string(ke->alg)) != 0))
			goto oom;
	}
	ret = util_json_write_file(path, j, 0644, 0, e);
	goto out;
oom:
	err_set(e, "%s: out of memory", __func__);
out:
	json_decref(j);
	return ret;
}

/* When key i stops verifying: retire_after after the next one signs. */
static int64_t
retire_at(const struct key_state *st, size_t i, int64_t retire_after)
{
	if (i + 1 >= st->n)
		return INT64_MAX;
	if (retire_after < 0)
		retire_after = 0;
	if (retire_after > TIME_MAX)
		retire_after = TIME_MAX;
	return st->v[i + 1].activate_at + retire_after;
}

/* The key that signs at `now`: the last activated, else the first. */
static size_t
state_active(const struct key_state *st, int64_t now)
{
	size_t i;

	for (i = st->n; i-- > 1;)
		if (st->v[i].activate_at <= now)
			return i;
	return 0;
}

/* How many leading keys are retired at `now` (never the last one). */
static size_t
state_retired(const struct key_state *st, int64_t retire_after, int64_t now)
{
	size_t k = 0;

	while (k + 1 < st->n && now >= retire_at(st, k, retire_after))
		k++;
	return k;
}

/*
 * Loading.
 */

static int
slot_load(struct key_slot *sl, const char *dir, const char *file,
    STACK_OF(X509) *cas, enum keys_kid_format fmt, struct err *e)
{
	struct signing_key *sk = &sl->sk;
	char name[FILE_MAX + 8], path[PATH_MAX];

	snprintf(name, sizeof(name), "%s.key", file);
	if (keypath(path, sizeof(path), dir, name) == -1 ||
	    (sk->pkey = load_private_key(path, e)) == NULL)
		return -1;
	if (key_alg(sk->pkey, &sk->alg) == -1) {
		err_set(e, "%s: not a P-256 or RSA (2048 to 8192 bits) key",
		    path);
		return -1;
	}
	snprintf(name, sizeof(name), "%s.crt", file);
	if (keypath(path, sizeof(path), dir, name) == -1 ||
	    (sk->cert = load_cert(path, e)) == NULL)
		return -1;
	if (EVP_PKEY_eq(X509_get0_pubkey(sk->cert), sk->pkey) != 1) {
		err_set(e, "%s: certificate does not match %s.key", path,
		    file);
		return -1;
	}
	/* A registry trusting the bundle must accept the x5c leaf. */
	if (!issued_by_bundle(cas, sk->cert)) {
		err_set(e, "%s: not issued by a certificate in " CA_CERT, path);
		return -1;
	}
	if (kid_of(sk->pkey, fmt, sk->kid, e) == -1)
		return -1;
	if ((sl->x5c = x5c_new(sk->cert)) == NULL ||
	    (sk->header_b64 = header_b64_new(sk, sl->x5c)) == NULL) {
		err_set(e, "%s: cannot encode the token header", __func__);
		return -1;
	}
	return 0;
}

struct keyset *
keys_load(const char *dir, enum keys_kid_format fmt, int64_t retire_after,
    struct err *e)
{
	char path[PATH_MAX], *buf = NULL;
	struct keyset *ks = NULL, *ret = NULL;
	struct key_state st;
	size_t len = 0, i;
	int64_t now = keys_clock(), ra;

	if ((ks = calloc(1, sizeof(*ks))) == NULL) {
		err_set(e, "%s: out of memory", __func__);
		goto out;
	}

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
	if (keypath(path, sizeof(path), dir, CA_CERT) == -1 ||
	    (ks->bundle_pem = util_read_file(path, BUNDLE_MAX, &len,
	    e)) == NULL ||
	    (ks->cas = load_bundle(path, ks->bundle_pem, len, e)) == NULL)
		goto out;
	if (state_read(dir, &st, e) == -1)
		goto out;
	for (i = 0; i < st.n; i++) {
		struct key_slot *sl = &ks->slots[ks->n];

		/* Retired keys are not loaded: their files may be gone. */
		if ((ra = retire_at(&st, i, retire_after)) <= now)
			continue;
		sl->activate_at = st.v[i].activate_at;
		sl->retire_at = ra;
		ks->n++;
		if (slot_load(sl, dir, st.v[i].file, ks->cas, fmt, e) == -1)
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
	size_t i;

	if (ks == NULL)
		return;
	for (i = 0; i < ks->n; i++) {
		EVP_PKEY_free(ks->slots[i].sk.pkey);
		X509_free(ks->slots[i].sk.cert);
		free(ks->slots[i].sk.header_b64);
		free(ks->slots[i].x5c);
	}
	free(ks->bundle_pem);
	sk_X509_pop_free(ks->cas, X509_free);
	free(ks);
}

const struct signing_key *
keys_active(const struct keyset *ks)
{
	int64_t now;
	size_t i;

	if (ks == NULL || ks->n == 0)
		return NULL;
	now = keys_clock();
	for (i = ks->n; i-- > 1;)
		if (ks->slots[i].activate_at <= now)
			return &ks->slots[i].sk;
	return &ks->slots[0].sk;
}

EVP_PKEY *
keys_lookup(void *arg, const json_t *header, enum jws_alg *alg)
{
	const struct keyset *ks = arg;
	const struct key_slot *sl;
	const char *kid, *name;
	enum jws_alg halg;
	size_t i;

	if (ks == NULL || header == NULL)
		return NULL;
	kid = json_string_value(json_object_get(header, "kid"));
	name = json_string_value(json_object_get(header, "alg"));
	if (kid == NULL || name == NULL || jws_alg_parse(name, &halg) == -1)
		return NULL;
	for (i = 0; i < ks->n; i++) {
		sl = &ks->slots[i];
		if (strcmp(kid, sl->sk.kid) != 0)
			continue;
		if (halg != sl->sk.alg || keys_clock() >= sl->retire_at)
			return NULL;
		*alg = sl->sk.alg;
		return sl->sk.pkey;
	}
	return NULL;
}

json_t *
keys_jwks(const struct keyset *ks)
{
	json_t *jwks = NULL, *arr, *jwk = NULL, *ret = NULL;
	const struct key_slot *sl;
	int64_t now = keys_clock();
	size_t i;

	if (ks == NULL || (jwks = json_pack("{s:[]}", "keys")) == NULL)
		goto out;
	arr = json_object_get(jwks, "keys");
	for (i = 0; i < ks->n; i++) {
		sl = &ks->slots[i];
		if (now >= sl->retire_at)
			continue;
		if ((jwk = jws_jwk_new(sl->sk.pkey, sl->sk.alg,
		    sl->sk.kid)) == NULL || json_object_set_new(jwk, "x5c",
		    json_pack("[s]", sl->x5c)) != 0)
			goto out;
		if (json_array_append_new(arr, jwk) != 0) {
			jwk = NULL;
			goto out;
		}
		jwk = NULL;
	}
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
	const struct signing_key *sk = keys_active(ks);
	char stackbuf[8192], *heap = NULL, *ret = NULL;
	const char *text = stackbuf;
	size_t n;

	if (sk == NULL || !json_is_object(claims)) {
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
	ret = jws_sign_new(sk->pkey, sk->alg, sk->header_b64, text, n, e);
out:
	free(heap);
	return ret;
}

/*
 * The commands: rotate, prune, list. They hold an exclusive flock on keys/
 * so that two of them never interleave.
 */

static int
lock_keys(const char *dir, struct err *e)
{
	char kdir[PATH_MAX];
	int fd;

	if (keypath(kdir, sizeof(kdir), dir, NULL) == -1) {
		err_set(e, "%s: path too long", dir);
		return -1;
	}
	if ((fd = open(kdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		err_set(e, "%s: %s", kdir, strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX) == -1 || fchmod(fd, 0700) == -1) {
		err_set(e, "%s: %s", kdir, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* Remove FILE.key and FILE.crt of the first `k` keys; names into `out`. */
static void
remove_files(const char *dir, const struct key_state *st, size_t k,
    json_t *out)
{
	static const char *const ext[] = { ".key", ".crt" };
	char name[FILE_MAX + 8], path[PATH_MAX];
	size_t i, x;

	for (i = 0; i < k; i++) {
		for (x = 0; x < 2; x++) {
			snprintf(name, sizeof(name), "%s%s", st->v[i].file,
			    ext[x]);
			if (keypath(path, sizeof(path), dir, name) == 0)
				(void)unlink(path);
		}
		json_array_append_new(out, json_string(st->v[i].file));
	}
}

/* The certificate of the bundle whose key is `ca_key`. */
static X509 *
bundle_cert_of(const char *dir, EVP_PKEY *ca_key, struct err *e)
{
	char path[PATH_MAX], *pem = NULL;
	STACK_OF(X509) *cas = NULL;
	X509 *ret = NULL;
	size_t len = 0;
	int i;

	if (keypath(path, sizeof(path), dir, CA_CERT) == -1 ||
	    (pem = util_read_file(path, BUNDLE_MAX, &len, e)) == NULL ||
	    (cas = load_bundle(path, pem, len, e)) == NULL)
		goto out;
	for (i = 0; i < sk_X509_num(cas) && ret == NULL; i++)
		if (EVP_PKEY_eq(X509_get0_pubkey(sk_X509_value(cas, i)),
		    ca_key) == 1 && X509_up_ref(sk_X509_value(cas, i)) == 1)
			ret = sk_X509_value(cas, i);
	if (ret == NULL)
		err_set(e, "%s: no certificate for the key " CA_KEY, path);
out:
	sk_X509_pop_free(cas, X509_free);
	free(pem);
	return ret;
}

json_t *
keys_rotate(const char *dir, const struct keys_rotate_args *a,
    struct err *e)
{
	struct key_state st;
	struct key_entry *ne;
	char path[PATH_MAX], kpath[PATH_MAX], cpath[PATH_MAX], cn[CN_MAX + 1];
	char name[FILE_MAX + 8], when[32];
	EVP_PKEY *ca_key = NULL, *key = NULL;
	X509 *ca_cert = NULL, *cert = NULL, *cur = NULL;
	json_t *pruned = NULL, *ret = NULL;
	struct stat sb;
	enum jws_alg alg;
	int64_t now = keys_clock(), serial, top = 1;
	size_t i, k;
	int fd = -1, written = 0;

	if (a->activate_after < 0 || a->activate_after > TIME_MAX - now) {
		err_set(e, "activate-after: out of range");
		goto out;
	}
	if ((fd = lock_keys(dir, e)) == -1 || state_read(dir, &st, e) == -1)
		goto out;
	if (st.v[st.n - 1].activate_at > now) {
		util_rfc3339(st.v[st.n - 1].activate_at, when);
		err_set(e, "%s/" KEYS_DIR ": key %s is pending until %s; "
		    "rotate again once it signs", dir, st.v[st.n - 1].file,
		    when);
		goto out;
	}
	k = state_retired(&st, a->retire_after, now);
	if (st.n - k + 1 > KEYS_MAX) {
		err_set(e, "%s/" KEYS_DIR ": %d keys are not retired yet; "
		    "rotate again later", dir, KEYS_MAX);
		goto out;
	}

	/* The algorithm of the key that signs now, unless asked. */
	if (a->alg == JWS_ES256 || a->alg == JWS_RS256)
		alg = (enum jws_alg)a->alg;
	else {
		snprintf(name, sizeof(name), "%s.crt",
		    st.v[state_active(&st, now)].file);
		if (keypath(path, sizeof(path), dir, name) == -1 ||
		    (cur = load_cert(path, e)) == NULL)
			goto out;
		if (key_alg(X509_get0_pubkey(cur), &alg) == -1) {
			err_set(e, "%s: not a P-256 or RSA key", path);
			goto out;
		}
	}

	if (keypath(path, sizeof(path), dir, CA_KEY) == -1 ||
	    (ca_key = load_private_key(path, e)) == NULL)
		goto out;
	if ((ca_cert = bundle_cert_of(dir, ca_key, e)) == NULL)
		goto out;
	key = alg == JWS_ES256 ? EVP_EC_gen("P-256") : EVP_RSA_gen(2048);
	if (key == NULL) {
		err_set(e, "cannot generate the %s signing key",
		    jws_alg_name(alg));
		goto out;
	}
	make_cn(cn, a->issuer != NULL && *a->issuer != '\0' ? a->issuer :
	    "regauth", "signing key");
	if ((cert = cert_new(key, cn, ca_cert, ca_key, LEAF_DAYS, e)) == NULL)
		goto out;

	/* signing-N: one past every key listed, and no file in the way. */
	for (i = 0; i < st.n; i++)
		if (file_name_ok(st.v[i].file, &serial) && serial > top)
			top = serial;
	ne = &st.v[st.n];
	memset(ne, 0, sizeof(*ne));
	for (serial = top + 1; serial <= SERIAL_MAX; serial++) {
		snprintf(ne->file, sizeof(ne->file), "signing-%lld",
		    (long long)serial);
		snprintf(name, sizeof(name), "%s.key", ne->file);
		if (keypath(kpath, sizeof(kpath), dir, name) == -1)
			break;
		snprintf(name, sizeof(name), "%s.crt", ne->file);
		if (keypath(cpath, sizeof(cpath), dir, name) == -1)
			break;
		if (lstat(kpath, &sb) == -1 && lstat(cpath, &sb) == -1)
			break;
	}
	if (serial > SERIAL_MAX || lstat(kpath, &sb) == 0) {
		err_set(e, "%s/" KEYS_DIR ": no free name for a key", dir);
		goto out;
	}
	if (kid_of(key, a->fmt, ne->kid, e) == -1)
		goto out;
	snprintf(ne->alg, sizeof(ne->alg), "%s", jws_alg_name(alg));
	ne->created = now;
	ne->activate_at = now + a->activate_after;

	if (write_key(kpath, key, e) == -1)
		goto out;
	written++;
	if (write_cert(cpath, cert, e) == -1)
		goto out;
	written++;
	/* Record the first key too, so that it can retire. */
	if (!st.from_file) {
		snprintf(name, sizeof(name), "%s.crt", st.v[0].file);
		if (keypath(path, sizeof(path), dir, name) == 0 && cur == NULL)
			cur = load_cert(path, e);
		if (cur != NULL && st.n == 1) {
			(void)kid_of(X509_get0_pubkey(cur), a->fmt,
			    st.v[0].kid, e);
			if (key_alg(X509_get0_pubkey(cur), &alg) == 0)
				snprintf(st.v[0].alg, sizeof(st.v[0].alg),
				    "%s", jws_alg_name(alg));
		}
	}
	st.n++;
	/* Retired keys go: first from keys.json, then their files. */
	if ((pruned = json_array()) == NULL) {
		err_set(e, "%s: out of memory", __func__);
		goto out;
	}
	{
		struct key_state keep = st;

		memmove(keep.v, st.v + k, (st.n - k) * sizeof(st.v[0]));
		keep.n = st.n - k;
		if (state_write(dir, &keep, e) == -1)
			goto out;
	}
	written = 0;	/* the new key is recorded: keep it whatever comes */
	remove_files(dir, &st, k, pruned);
	ret = json_pack("{s:s, s:s, s:s, s:I, s:I, s:O}", "file", ne->file,
	    "kid", ne->kid, "alg", ne->alg, "created", (json_int_t)ne->created,
	    "activate_at", (json_int_t)ne->activate_at, "pruned", pruned);
	if (ret == NULL)
		err_set(e, "%s: out of memory", __func__);
out:
	if (written > 1)
		(void)unlink(cpath);
	if (written > 0)
		(void)unlink(kpath);
	json_decref(pruned);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(key);
	X509_free(ca_cert);
	X509_free(cert);
	X509_free(cur);
	if (fd != -1)
		close(fd);
	ERR_clear_error();
	return ret;
}

json_t *
keys_prune(const char *dir, int64_t retire_after, struct err *e)
{
	struct key_state st, keep;
	json_t *pruned = NULL, *ret = NULL;
	size_t k;
	int fd = -1;

	if ((fd = lock_keys(dir, e)) == -1 || state_read(dir, &st, e) == -1)
		goto out;
	if ((pruned = json_array()) == NULL) {
		err_set(e, "%s: out of memory", __func__);
		goto out;
	}
	k = state_retired(&st, retire_after, keys_clock());
	if (k > 0) {
		keep = st;
		memmove(keep.v, st.v + k, (st.n - k) * sizeof(st.v[0]));
		keep.n = st.n - k;
		if (state_write(dir, &keep, e) == -1)
			goto out;
		remove_files(dir, &st, k, pruned);
	}
	ret = pruned;
	pruned = NULL;
out:
	json_decref(pruned);
	if (fd != -1)
		close(fd);
	return ret;
}

json_t *
keys_list(const char *dir, enum keys_kid_format fmt, int64_t retire_after,
    struct err *e)
{
	struct key_state st;
	char name[FILE_MAX + 8], path[PATH_MAX], kid[64];
	const char *state, *algname;
	json_t *arr = NULL, *o, *ret = NULL;
	X509 *x = NULL;
	enum jws_alg alg;
	int64_t now = keys_clock(), ra;
	size_t i, act;

	if (state_read(dir, &st, e) == -1 || (arr = json_array()) == NULL)
		goto out;
	act = state_active(&st, now);
	for (i = 0; i < st.n; i++) {
		ra = retire_at(&st, i, retire_after);
		state = i == act ? "active" : st.v[i].activate_at > now ?
		    "pending" : now >= ra ? "retired" : "previous";
		snprintf(kid, sizeof(kid), "%s", st.v[i].kid);
		algname = st.v[i].alg[0] != '\0' ? st.v[i].alg : NULL;
		snprintf(name, sizeof(name), "%s.crt", st.v[i].file);
		X509_free(x);
		x = NULL;
		if (keypath(path, sizeof(path), dir, name) == 0 &&
		    (x = load_cert(path, e)) != NULL) {
			if (kid_of(X509_get0_pubkey(x), fmt, kid, e) == -1 ||
			    key_alg(X509_get0_pubkey(x), &alg) == -1) {
				err_set(e, "%s: not a P-256 or RSA key", path);
				goto out;
			}
			algname = jws_alg_name(alg);
		} else if (strcmp(state, "retired") != 0)
			goto out;	/* only a retired key may lack files */
		o = json_pack("{s:s, s:s, s:s?, s:s, s:I, s:I}", "file",
		    st.v[i].file, "kid", kid, "alg", algname, "state", state,
		    "created", (json_int_t)st.v[i].created, "activate_at",
		    (json_int_t)st.v[i].activate_at);
		if (o == NULL || json_array_append_new(arr, o) != 0 ||
		    json_object_set_new(o, "retire_at", ra == INT64_MAX ?
		    json_null() : json_integer((json_int_t)ra)) != 0) {
			err_set(e, "%s: out of memory", __func__);
			goto out;
		}
	}
	ret = arr;
	arr = NULL;
out:
	X509_free(x);
	json_decref(arr);
	ERR_clear_error();
	return ret;
}
