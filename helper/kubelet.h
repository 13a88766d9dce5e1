/*
 * kubelet: `docker-credential-regauth kubelet`, a kubelet image credential
 * provider (PROTOCOLS.md 3). A CredentialProviderRequest (apiVersion
 * credentialprovider.kubelet.k8s.io/v1, v1beta1 or v1alpha1) on stdin; on
 * stdout a CredentialProviderResponse of the same apiVersion whose "auth"
 * maps the image's host[:port] to username "regauth" and a login token as
 * password, with cacheKeyType "Registry" and a cacheDuration a little under
 * the token's remaining life. A request's serviceAccountToken is exchanged
 * for the role (REGAUTH_ROLE, else the configuration's); without one, the
 * sources of `get` apply (credential.h), the registry's challenge allowed
 * to name the token server.
 */
#ifndef HELPER_KUBELET_H
#define HELPER_KUBELET_H

#include <stddef.h>

#include "util.h"

#define KUBELET_REQUEST_MAX (1024 * 1024)

struct kubelet_request {
	char *api_version; /* one of the three accepted */
	char *image;
	char *sa_token;    /* serviceAccountToken (a secret), else NULL */
};

/*
 * Parse a request of len bytes: strict JSON (no duplicate keys, nothing
 * after the object), at most KUBELET_REQUEST_MAX bytes; kind
 * "CredentialProviderRequest"; a known apiVersion; image a non-empty
 * string; serviceAccountToken, when present, a string (empty: absent);
 * serviceAccountAnnotations, when present, an object. Other members are
 * ignored. 0 with out filled, -1 with e saying what is wrong.
 */
int kubelet_parse_request(const char *text, size_t len,
    struct kubelet_request *out, struct err *e);
void kubelet_request_clear(struct kubelet_request *r);

/*
 * The registry of an image reference: its first component when the
 * reference has a '/' and that component holds '.' or ':' or is
 * "localhost", else docker.io. host is that host[:port] as written
 * (lowercased; the kubelet matches "auth" keys by exact port), key its
 * normalized form (normalize.h) for credentials. -1 if not a registry name.
 */
int kubelet_registry(const char *image, char *host, size_t hostsz,
    char *key, size_t keysz, struct err *e);

/*
 * Seconds the kubelet may cache a token valid until exp: the remaining life
 * less max(60 s, 10 %), never negative; 0 when exp is unknown (0) or past.
 */
long long kubelet_cache_seconds(long long exp, long long now);

/*
 * The response JSON (caller frees with util_free_secret: it holds the
 * token). sa_token: add serviceAccountTokenCacheType "ServiceAccount".
 */
char *kubelet_response(const char *api_version, const char *host,
    const char *token, long long cache_seconds, int sa_token);

/*
 * The command: the request on stdin, the response on stdout. Exit status 0,
 * or 1 on any failure with one line on stderr and nothing on stdout.
 */
int kubelet_main(void);

#endif
