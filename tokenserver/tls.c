/*
 * HTTPS: the certificate chain and key of a configuration snapshot, and the
 * GnuTLS callback through which libmicrohttpd asks for them at every
 * handshake.
 *
 * Each handshake gets its own copies (GNUTLS_CERT_RETR_DEINIT_ALL: GnuTLS
 * frees them with the session), so a snapshot may be released by a reload
 * while handshakes that started with it are still running.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <microhttpd.h>

#include "config.h"
#include "tls.h"

struct tls_creds {
	gnutls_datum_t		 der[TLS_MAX_CHAIN];	/* leaf first */
	unsigned int		 n;
	gnutls_x509_privkey_t	 key;
	char			 subject[128];
	time_t			 not_after;
};

void
tls_creds_free(struct tls_creds *tc)
{
	unsigned int i;

	if (tc == NULL)
		return;
	for (i = 0; i < tc->n; i++)
		gnutls_free(tc->der[i].data);
	if (tc->key != NULL)
		gnutls_x509_privkey_deinit(tc->key);
	free(tc);
}

/* `file` as given when absolute, else DIR/file. */
static int
resolve(const char *dir, const char *file, char *out, size_t sz,
    struct err *e)
{
	int n;

	if (file[0] == '/')
		n = snprintf(out, sz, "%s", file);
	else
		n = snprintf(out, sz, "%s/%s", dir, file);
	if (n < 0 || (size_t)n >= sz) {
		err_set(e, "%s: path too long", file);
		return -1;
	}
	return 0;
}

/* The chain, leaf first, as DER copies; the leaf's subject and expiry. */
static int
load_chain(struct tls_creds *tc, const char *path, struct err *e)
{
	gnutls_x509_crt_t *crts = NULL;
	gnutls_datum_t pem, dn = { NULL, 0 };
	unsigned int n = 0, i;
	size_t len = 0;
	char *buf;
	int rc = -1, r;

	if ((buf = util_read_file(path, TLS_MAX_FILE, &len, e)) == NULL)
		return -1;
	pem.data = (unsigned char *)buf;
	pem.size = (unsigned int)len;
	r = gnutls_x509_crt_list_import2(&crts, &n, &pem, GNUTLS_X509_FMT_PEM,
	    GNUTLS_X509_CRT_LIST_FAIL_IF_UNSORTED);
	if (r < 0) {
		err_set(e, "%s: not a PEM certificate chain, leaf first (%s)",
		    path, gnutls_strerror(r));
		goto out;
	}
	if (n == 0 || n > TLS_MAX_CHAIN) {
		err_set(e, "%s: %u certificates (want 1 to %d)", path, n,
		    TLS_MAX_CHAIN);
		goto out;
	}
	for (i = 0; i < n; i++) {
		if ((r = gnutls_x509_crt_export2(crts[i], GNUTLS_X509_FMT_DER,
		    &tc->der[i])) < 0) {
			err_set(e, "%s: certificate %u: %s", path, i + 1,
			    gnutls_strerror(r));
			goto out;
		}
		tc->n++;
	}
	tc->not_after = gnutls_x509_crt_get_expiration_time(crts[0]);
	if (gnutls_x509_crt_get_dn3(crts[0], &dn, 0) >= 0)
		snprintf(tc->subject, sizeof(tc->subject), "%.*s",
		    (int)dn.size, (const char *)dn.data);
	rc = 0;
out:
	gnutls_free(dn.data);
	for (i = 0; i < n; i++)
		gnutls_x509_crt_deinit(crts[i]);
	gnutls_free(crts);
	free(buf);
	return rc;
}

/*
 * The private key: the file a symbolic link leads to (certificate managers
 * keep links to the current key) must be private like every key file.
 */
static int
load_key(struct tls_creds *tc, const char *path, struct err *e)
{
	char real[PATH_MAX], *buf;
	gnutls_datum_t pem;
	size_t len = 0;
	int r, rc = -1;

	if (realpath(path, real) == NULL)
		snprintf(real, sizeof(real), "%s", path);	/* open says why */
	if ((buf = util_read_secret_file(real, TLS_MAX_FILE, &len, e)) == NULL)
		return -1;
	pem.data = (unsigned char *)buf;
	pem.size = (unsigned int)len;
	if ((r = gnutls_x509_privkey_init(&tc->key)) < 0) {
		err_set(e, "%s: %s", path, gnutls_strerror(r));
		goto out;
	}
	if ((r = gnutls_x509_privkey_import2(tc->key, &pem,
	    GNUTLS_X509_FMT_PEM, NULL, 0)) < 0) {
		err_set(e, "%s: not an unencrypted PEM private key (%s)", path,
		    gnutls_strerror(r));
		goto out;
	}
	rc = 0;
out:
	util_secure_free(buf, len);
	return rc;
}

/* Is the key the leaf certificate's? (SHA-256 key ids compared.) */
static int
key_matches(const struct tls_creds *tc, const char *key_path,
    const char *cert_path, struct err *e)
{
	unsigned char a[64], b[64];
	size_t na = sizeof(a), nb = sizeof(b);
	gnutls_x509_crt_t leaf = NULL;
	int rc = -1;

	if (gnutls_x509_crt_init(&leaf) < 0 ||
	    gnutls_x509_crt_import(leaf, &tc->der[0], GNUTLS_X509_FMT_DER) < 0 ||
	    gnutls_x509_crt_get_key_id(leaf, GNUTLS_KEYID_USE_SHA256, a,
	    &na) < 0 ||
	    gnutls_x509_privkey_get_key_id(tc->key, GNUTLS_KEYID_USE_SHA256, b,
	    &nb) < 0) {
		err_set(e, "%s: cannot compare with %s", key_path, cert_path);
		goto out;
	}
	if (na != nb || memcmp(a, b, na) != 0) {
		err_set(e, "%s: not the key of the certificate in %s",
		    key_path, cert_path);
		goto out;
	}
	rc = 0;
out:
	if (leaf != NULL)
		gnutls_x509_crt_deinit(leaf);
	return rc;
}

struct tls_creds *
tls_creds_load(const char *dir, const char *cert_file, const char *key_file,
    struct err *e)
{
	char cpath[PATH_MAX], kpath[PATH_MAX];
	struct tls_creds *tc;

	if ((tc = calloc(1, sizeof(*tc))) == NULL) {
		err_set(e, "out of memory");
		return NULL;
	}
	if (resolve(dir, cert_file, cpath, sizeof(cpath), e) == -1 ||
	    resolve(dir, key_file, kpath, sizeof(kpath), e) == -1 ||
	    load_chain(tc, cpath, e) == -1 ||
	    load_key(tc, kpath, e) == -1 ||
	    key_matches(tc, kpath, cpath, e) == -1) {
		tls_creds_free(tc);
		return NULL;
	}
	return tc;
}

void
tls_creds_describe(const struct tls_creds *tc, char *out, size_t sz)
{
	struct tm tm;
	char t[32] = "?";

	if (gmtime_r(&tc->not_after, &tm) != NULL)
		strftime(t, sizeof(t), "%Y-%m-%dT%H:%M:%SZ", &tm);
	snprintf(out, sz, "%s, %u certificate%s, expires %s", tc->subject,
	    tc->n, tc->n == 1 ? "" : "s", t);
}

/*
 * gnutls_certificate_retrieve_function3: the running snapshot's chain and
 * key, copied for this session. No snapshot or no TLS in it: the handshake
 * fails.
 */
static int
cert_callback(gnutls_session_t session, const struct gnutls_cert_retr_st *info,
    gnutls_pcert_st **certs, unsigned int *ncerts, gnutls_ocsp_data_st **ocsp,
    unsigned int *nocsp, gnutls_privkey_t *privkey, unsigned int *flags)
{
	struct config *cfg = config_acquire();
	const struct tls_creds *tc = cfg != NULL ? cfg->tls : NULL;
	gnutls_pcert_st *pc = NULL;
	gnutls_privkey_t pk = NULL;
	unsigned int i, done = 0;
	int rc = -1;

	(void)session;
	(void)info;
	if (tc == NULL)
		goto out;
	if ((pc = gnutls_calloc(tc->n, sizeof(*pc))) == NULL)
		goto out;
	for (; done < tc->n; done++)
		if (gnutls_pcert_import_x509_raw(&pc[done], &tc->der[done],
		    GNUTLS_X509_FMT_DER, 0) < 0)
			goto out;
	if (gnutls_privkey_init(&pk) < 0 ||
	    gnutls_privkey_import_x509(pk, tc->key,
	    GNUTLS_PRIVKEY_IMPORT_COPY) < 0)
		goto out;
	*certs = pc;
	*ncerts = tc->n;
	*ocsp = NULL;
	*nocsp = 0;
	*privkey = pk;
	*flags = GNUTLS_CERT_RETR_DEINIT_ALL;
	pc = NULL;
	pk = NULL;
	rc = 0;
out:
	if (pc != NULL) {
		for (i = 0; i < done; i++)
			gnutls_pcert_deinit(&pc[i]);
		gnutls_free(pc);
	}
	if (pk != NULL)
		gnutls_privkey_deinit(pk);
	config_release(cfg);
	return rc;
}

int
tls_mhd_options(int on, struct MHD_OptionItem *opts, struct err *e)
{
	opts[0].option = MHD_OPTION_END;
	opts[0].value = 0;
	opts[0].ptr_value = NULL;
	opts[1] = opts[0];
	if (!on)
		return 0;
	if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES ||
	    MHD_is_feature_supported(MHD_FEATURE_HTTPS_CERT_CALLBACK2) !=
	    MHD_YES) {
		err_set(e, "this libmicrohttpd has no TLS (GnuTLS) support: "
		    "remove tls_cert_file and tls_key_file, or install a "
		    "libmicrohttpd built with GnuTLS");
		return -1;
	}
	opts[0].option = MHD_OPTION_HTTPS_CERT_CALLBACK2;
	opts[0].ptr_value = (void *)cert_callback;
	return 0;
}
