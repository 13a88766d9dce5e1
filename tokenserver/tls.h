/*
 * HTTPS for regauthd: the certificate chain and private key named by
 * regauthd.json (tls_cert_file, tls_key_file), loaded with the rest of a
 * configuration snapshot, and the GnuTLS certificate callback that hands
 * each new handshake the running snapshot's pair. A reload that installs a
 * new snapshot therefore changes the certificate without touching the
 * listening socket or the connections already open.
 */
#ifndef REGAUTHD_TLS_H
#define REGAUTHD_TLS_H

#include <stddef.h>
#include "util.h"

struct tls_creds;
struct MHD_OptionItem;

#define TLS_MAX_CHAIN		8		/* certificates in tls_cert_file */
#define TLS_MAX_FILE		(256 * 1024)	/* bytes of either PEM file */

/*
 * Load and check a certificate chain (PEM, leaf first) and its private key
 * (PEM; refused when group or others may read it). Relative paths are taken
 * from `dir`. The key must be the leaf's. Errors name the file.
 */
struct tls_creds *tls_creds_load(const char *dir, const char *cert_file,
    const char *key_file, struct err *e);
void tls_creds_free(struct tls_creds *tc);

/* Subject and notAfter of the leaf, for the start-up log line. */
void tls_creds_describe(const struct tls_creds *tc, char *out, size_t sz);

/*
 * libmicrohttpd options for a daemon: with `on`, the certificate callback
 * (checks that this libmicrohttpd has TLS and the callback); without, just
 * MHD_OPTION_END. `opts` must have room for 2 items.
 */
int tls_mhd_options(int on, struct MHD_OptionItem *opts, struct err *e);

#endif
