/*
 * Counters for GET /metrics, written as Prometheus text (format 0.0.4).
 * Every counter is a C11 atomic in a fixed array indexed by small enums:
 * recording costs a few relaxed atomic adds and never allocates or locks.
 */
#ifndef REGAUTHD_METRICS_H
#define REGAUTHD_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include "buf.h"

struct keyset;

/* The known paths; anything else is "other". */
enum metrics_endpoint {
	METRICS_EP_TOKEN,
	METRICS_EP_LOGIN,
	METRICS_EP_JWKS,
	METRICS_EP_CERTS,
	METRICS_EP_INFO,
	METRICS_EP_HEALTHZ,
	METRICS_EP_METRICS,
	METRICS_EP_OTHER,
	METRICS_EP_COUNT
};

/* How a credential was presented. */
enum metrics_login_method {
	METRICS_LOGIN_PASSWORD,
	METRICS_LOGIN_KEY,	/* a service-account assertion */
	METRICS_LOGIN_OIDC,	/* a token exchange */
	METRICS_LOGIN_TOKEN,	/* a login token (Basic, password grant, refresh) */
	METRICS_LOGIN_COUNT
};

/* Upper bounds (seconds) of the latency histogram; +Inf is implied. */
#define METRICS_BUCKETS	13

/* The endpoint label of a request path (no query string). */
enum metrics_endpoint metrics_endpoint_of(const char *path);

/*
 * The login method named `name` ("password", "key", "oidc", "token");
 * -1 for anything else (anonymous, unknown).
 */
int metrics_login_method_of(const char *name);

/* Record the process start time (once; later calls keep the first). */
void metrics_init(void);

/*
 * One answered request: its status (0: none was sent) and how long it took
 * in nanoseconds.
 */
void metrics_request(enum metrics_endpoint ep, int status, uint64_t ns);

/* A /token answer with a token; `denied` asked scope actions not granted. */
void metrics_token_issued(uint64_t denied);

/* A credential checked: accepted (ok != 0) or refused. */
void metrics_login(enum metrics_login_method m, int ok);

/* A configuration reload (SIGHUP): loaded and installed, or refused. */
void metrics_reload(int ok);

/* An audit line that could not be written. */
void metrics_audit_error(void);

/*
 * Append the whole exposition to `out`: every counter, the histogram and,
 * when `keys` is not NULL, regauth_signing_key_info for its published keys.
 */
void metrics_render(struct buf *out, const struct keyset *keys);

/*
 * A Prometheus label value, quotes included: backslash, double quote and
 * line feed escaped as the text format requires.
 */
void metrics_label_value(struct buf *out, const char *s);

/* Zero every counter (unit tests). */
void metrics_reset(void);

#endif
