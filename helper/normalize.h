/*
 * normalize: every form of a registry name that docker, podman/skopeo and
 * nerdctl send reduces to one key: "host[:port]", lowercase, no scheme, no
 * path, no default ":443", and Docker Hub's names folded to "docker.io".
 */
#ifndef HELPER_NORMALIZE_H
#define HELPER_NORMALIZE_H

#include <stddef.h>

#define NORMALIZE_MAX 256

/* The key of a server string; -1 if empty, too long or not a host. */
int normalize_server(const char *in, char *out, size_t outsz);
/* 1 if the key's host is a loopback name or address (plain HTTP allowed). */
int normalize_is_loopback(const char *key);
/* The host[:port] to contact for a key ("registry-1.docker.io" for Hub). */
const char *normalize_endpoint(const char *key);
/* Origin ("scheme://host[:port]", default ports dropped) of a URL. */
int normalize_origin(const char *url, char *out, size_t outsz);

#endif
