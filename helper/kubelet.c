/*
 * kubelet: the kubelet credential provider command (see kubelet.h).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "regauth/wire.h"
#include "cache.h"
#include "config.h"
#include "credential.h"
#include "kubelet.h"
#include "normalize.h"

static const char *const api_versions[] = {
	REGAUTH_KUBELET_API,
	"credentialprovider.kubelet.k8s.io/v1beta1",
	"credentialprovider.kubelet.k8s.io/v1alpha1",
	NULL
};

void
kubelet_request_clear(struct kubelet_request *r)
{
	if (r == NULL)
		return;
	free(r->api_version);
	free(r->image);
	util_free_secret(r->sa_token);
	memset(r, 0, sizeof(*r));
}

int
kubelet_parse_request(const char *text, size_t len,
    struct kubelet_request *out, struct err *e)
{
	struct kubelet_request rq;
	json_error_t je;
	json_t *o = NULL, *v;
	const char *s;
	size_t i;
	int ret = -1;

	memset(&rq, 0, sizeof(rq));
	if (len > KUBELET_REQUEST_MAX) {
		util_err(e, "the request is larger than %d bytes",
		    KUBELET_REQUEST_MAX);
		return -1;
	}
	o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (o == NULL) {
		util_err(e, "the request is not JSON: %d:%d: %s", je.line,
		    je.column, je.text);
		return -1;
	}
	if (!json_is_object(o)) {
		util_err(e, "the request is not a JSON object");
		goto out;
	}
	s = json_string_value(json_object_get(o, "kind"));
	if (s == NULL || strcmp(s, "CredentialProviderRequest") != 0) {
		util_err(e, "the request's kind is not CredentialProviderRequest");
		goto out;
	}
	s = json_string_value(json_object_get(o, "apiVersion"));
	for (i = 0; s != NULL && api_versions[i] != NULL; i++)
		if (strcmp(s, api_versions[i]) == 0)
			break;
	if (s == NULL || api_versions[i] == NULL) {
		util_err(e, "unknown apiVersion (%s expected)",
		    REGAUTH_KUBELET_API);
		goto out;
	}
	rq.api_version = strdup(s);
	s = json_string_value(json_object_get(o, "image"));
	if (s == NULL || s[0] == '\0') {
		util_err(e, "the request has no image (a string)");
		goto out;
	}
	rq.image = strdup(s);
	v = json_object_get(o, "serviceAccountToken");
	if (v != NULL && !json_is_string(v) && !json_is_null(v)) {
		util_err(e, "the request's serviceAccountToken is not a string");
		goto out;
	}
	s = json_string_value(v);
	if (s != NULL && s[0] != '\0' && (rq.sa_token = strdup(s)) == NULL) {
		util_err(e, "out of memory");
		goto out;
	}
	v = json_object_get(o, "serviceAccountAnnotations");
	if (v != NULL && !json_is_object(v) && !json_is_null(v)) {
		util_err(e, "the request's serviceAccountAnnotations is not an "
		    "object");
		goto out;
	}
	if (rq.api_version == NULL || rq.image == NULL) {
		util_err(e, "out of memory");
		goto out;
	}
	*out = rq;
	memset(&rq, 0, sizeof(rq));
	ret = 0;
out:
	s = json_string_value(json_object_get(o, "serviceAccountToken"));
	if (s != NULL)
		util_wipe((void *)s, strlen(s));
	json_decref(o);
	kubelet_request_clear(&rq);
	return ret;
}

int
kubelet_registry(const char *image, char *host, size_t hostsz, char *key,
    size_t keysz, struct err *e)
{
	const char *slash = strchr(image, '/');
	size_t n = slash != NULL ? (size_t)(slash - image) : 0, i;
	int named;

	/* "nginx", "library/nginx", "team/app:1": Docker Hub */
	named = slash != NULL && (memchr(image, '.', n) != NULL ||
	    memchr(image, ':', n) != NULL ||
	    (n == 9 && strncmp(image, "localhost", 9) == 0));
	if (!named) {
		if (snprintf(host, hostsz, "docker.io") >= (int)hostsz ||
		    snprintf(key, keysz, "docker.io") >= (int)keysz) {
			util_err(e, "out of memory");
			return -1;
		}
		return 0;
	}
	if (n == 0 || n >= hostsz) {
		util_err(e, "image %.100s: not a registry name", image);
		return -1;
	}
	for (i = 0; i < n; i++) {
		host[i] = (char)tolower((unsigned char)image[i]);
		if (!isalnum((unsigned char)host[i]) &&
		    strchr(".-_:[]", host[i]) == NULL)
			break;
	}
	host[i] = '\0';
	if (i < n || normalize_server(host, key, keysz) == -1) {
		util_err(e, "image %.100s: %s is not a registry name", image,
		    host);
		return -1;
	}
	return 0;
}

long long
kubelet_cache_seconds(long long exp, long long now)
{
	long long left, margin;

	if (exp <= 0 || exp <= now)
		return 0;
	left = exp - now;
	margin = left / 10 > 60 ? left / 10 : 60;
	return left > margin ? left - margin : 0;
}

char *
kubelet_response(const char *api_version, const char *host,
    const char *token, long long cache_seconds, int sa_token)
{
	char dur[32];
	json_t *o, *cred;
	const char *t;
	char *text = NULL;

	snprintf(dur, sizeof(dur), "%llds", cache_seconds > 0 ?
	    cache_seconds : 0);
	o = json_pack("{s:s, s:s, s:s, s:s, s:{}}", "apiVersion", api_version,
	    "kind", "CredentialProviderResponse", "cacheKeyType", "Registry",
	    "cacheDuration", dur, "auth");
	cred = json_pack("{s:s, s:s}", "username", REGAUTH_KUBELET_USERNAME,
	    "password", token);
	if (o == NULL || cred == NULL ||
	    json_object_set(json_object_get(o, "auth"), host, cred) != 0 ||
	    (sa_token && json_object_set_new(o, "serviceAccountTokenCacheType",
	    json_string("ServiceAccount")) != 0))
		goto out;
	text = json_dumps(o, JSON_COMPACT);
out:
	t = json_string_value(json_object_get(cred, "password"));
	if (t != NULL)
		util_wipe((void *)t, strlen(t));
	json_decref(cred);
	json_decref(o);
	return text;
}

static int
fail(const char *msg)
{
	fprintf(stderr, "docker-credential-regauth: kubelet: %s\n", msg);
	return 1;
}

int
kubelet_main(void)
{
	struct kubelet_request rq;
	struct config cfg = { NULL, NULL };
	struct cache cache = { NULL, -1 };
	struct credential cr = { NULL, 0 };
	char host[NORMALIZE_MAX], key[NORMALIZE_MAX], *in, *text = NULL;
	const char *role;
	size_t len = 0;
	struct err e;
	int ret = 1, rc, have_cache = 1;

	memset(&rq, 0, sizeof(rq));
	in = util_read_stdin(KUBELET_REQUEST_MAX, &len);
	if (in == NULL)
		return fail("cannot read the request on stdin (larger than "
		    "1 MiB?)");
	rc = kubelet_parse_request(in, len, &rq, &e);
	util_wipe(in, len);
	free(in);
	if (rc == -1)
		return fail(e.msg);
	if (kubelet_registry(rq.image, host, sizeof(host), key, sizeof(key),
	    &e) == -1) {
		ret = fail(e.msg);
		goto out;
	}
	util_debug("kubelet: image %s, registry %s", rq.image, key);
	if (config_load(&cfg, &e) == -1) {
		ret = fail(e.msg);
		goto out;
	}
	/* a kubelet often runs without HOME: then without a cache */
	if (cache_init(&cache, &e) == -1) {
		util_debug("kubelet: %s; no cache", e.msg);
		cache_close(&cache);
		have_cache = 0;
	}
	if (rq.sa_token != NULL) {
		if ((role = credential_role(&cfg, key)) == NULL) {
			ret = fail("the request carries a serviceAccountToken: "
			    "set " REGAUTH_ENV_ROLE " to the role to assume "
			    "with it");
			goto out;
		}
		util_debug("kubelet: exchanging the pod's service-account "
		    "token for role %s", role);
		rc = credential_exchange(key, &cfg, rq.sa_token, role, &cr, &e);
	} else
		rc = credential_get(key, &cfg, have_cache ? &cache : NULL,
		    CREDENTIAL_DISCOVER_OIDC, &cr, &e);
	if (rc != 0) {
		ret = fail(e.msg[0] != '\0' ? e.msg : "no credential");
		goto out;
	}
	text = kubelet_response(rq.api_version, host, cr.token,
	    kubelet_cache_seconds(cr.exp, (long long)time(NULL)),
	    rq.sa_token != NULL);
	if (text == NULL) {
		ret = fail("out of memory");
		goto out;
	}
	if (printf("%s\n", text) < 0 || fflush(stdout) != 0) {
		ret = fail("cannot write the response");
		goto out;
	}
	ret = 0;
out:
	util_free_secret(text);
	credential_clear(&cr);
	cache_close(&cache);
	config_free(&cfg);
	kubelet_request_clear(&rq);
	return ret;
}
