/*
 * discover: the token server of a registry, from its 401 challenge.
 * GET https://HOST/v2/ must answer 401 with `WWW-Authenticate: Bearer
 * realm="URL/token",...`; the server is the realm without its last path
 * element. Loopback registries (127.0.0.0/8, ::1, localhost) and those the
 * configuration marks "insecure" are retried over plain http://.
 */
#ifndef HELPER_DISCOVER_H
#define HELPER_DISCOVER_H

#include "util.h"

#define DISCOVER_NOT_TOKEN 1 /* answered, but asks for no Bearer token */

/* 0 with *server (caller frees); DISCOVER_NOT_TOKEN; -1 unreachable. */
int discover_server(const char *key, int allow_http, char **server,
    struct err *e);
/* The realm parameter of a Bearer challenge (caller frees), else NULL. */
char *discover_realm(const char *www_authenticate);
/* The server base of a realm URL (caller frees). */
char *discover_base(const char *realm);

#endif
