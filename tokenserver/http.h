/*
 * libmicrohttpd glue: routing, limits, query/form/Basic parsing, replies,
 * one JSON log line per request.
 */
#ifndef REGAUTHD_HTTP_H
#define REGAUTHD_HTTP_H

#include "util.h"

#define HTTP_MAX_BODY		(64 * 1024)	/* POST bodies: 413 above */
#define HTTP_MAX_HEADERS	(32 * 1024)	/* URL + headers: MHD's 414/431 */

/*
 * Bind and listen on ADDR:PORT ("127.0.0.1:5001", "[::1]:5001") without
 * serving yet: serve binds as root, drops privileges, then starts.
 */
int http_bind(const char *addr, struct err *e);
/* Start serving (on the socket of http_bind, bound now if it was not). */
int http_start(const char *listen, struct err *e);
/* Does the daemon serve HTTPS (set by http_start from the snapshot)? */
int http_tls(void);
/* Stop accepting, let requests in flight finish (up to `wait_ms`), stop. */
void http_stop(int wait_ms);

#endif
