/* kubelet: CredentialProviderRequest parsing, registry keys, cacheDuration, the response. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>

#include "kubelet.h"
#include "source_oidc.h"

#define V1 "credentialprovider.kubelet.k8s.io/v1"

static int
parse(const char *text, struct kubelet_request *rq, struct err *e)
{
	memset(rq, 0, sizeof(*rq));
	e->msg[0] = '\0';
	return kubelet_parse_request(text, strlen(text), rq, e);
}

static void
refused(const char *text, const char *why)
{
	struct kubelet_request rq;
	struct err e;

	if (parse(text, &rq, &e) != -1)
		fail_msg("accepted: %s", text);
	if (strstr(e.msg, why) == NULL)
		fail_msg("%s: error \"%s\" does not say \"%s\"", text, e.msg,
		    why);
	assert_null(rq.image);
	assert_null(rq.sa_token);
}

static void
test_parse_ok(void **state)
{
	static const char *const versions[] = { V1,
		"credentialprovider.kubelet.k8s.io/v1beta1",
		"credentialprovider.kubelet.k8s.io/v1alpha1", NULL };
	struct kubelet_request rq;
	struct err e;
	char text[512];
	size_t i;

	(void)state;
	for (i = 0; versions[i] != NULL; i++) {
		snprintf(text, sizeof(text), "{\"apiVersion\":\"%s\","
		    "\"kind\":\"CredentialProviderRequest\","
		    "\"image\":\"reg.example.com:5000/team/app:1\"}",
		    versions[i]);
		assert_int_equal(parse(text, &rq, &e), 0);
		assert_string_equal(rq.api_version, versions[i]);
		assert_string_equal(rq.image, "reg.example.com:5000/team/app:1");
		assert_null(rq.sa_token);
		kubelet_request_clear(&rq);
	}
	/* a service-account token, annotations, and members of later versions */
	assert_int_equal(parse("{\"apiVersion\":\"" V1 "\",\"kind\":"
	    "\"CredentialProviderRequest\",\"image\":\"nginx\","
	    "\"serviceAccountToken\":\"a.b.c\",\"serviceAccountAnnotations\":"
	    "{\"x\":\"y\"},\"future\":[1,2]}", &rq, &e), 0);
	assert_string_equal(rq.sa_token, "a.b.c");
	kubelet_request_clear(&rq);
	/* an empty token is no token */
	assert_int_equal(parse("{\"apiVersion\":\"" V1 "\",\"kind\":"
	    "\"CredentialProviderRequest\",\"image\":\"nginx\","
	    "\"serviceAccountToken\":\"\"}", &rq, &e), 0);
	assert_null(rq.sa_token);
	kubelet_request_clear(&rq);
	kubelet_request_clear(NULL);
}

static void
test_parse_refusals(void **state)
{
	(void)state;
	refused("", "not JSON");
	refused("{", "not JSON");
	refused("{\"apiVersion\":\"" V1 "\"} trailing", "not JSON");
	refused("[]", "not a JSON object");
	refused("\"CredentialProviderRequest\"", "not JSON");
	refused("{\"apiVersion\":\"" V1 "\",\"image\":\"nginx\"}",
	    "kind");
	refused("{\"apiVersion\":\"" V1 "\",\"kind\":\"CredentialProvider"
	    "Response\",\"image\":\"nginx\"}", "kind");
	refused("{\"apiVersion\":\"" V1 "\",\"kind\":7,\"image\":\"x\"}",
	    "kind");
	refused("{\"kind\":\"CredentialProviderRequest\",\"image\":\"x\"}",
	    "apiVersion");
	refused("{\"apiVersion\":\"credentialprovider.kubelet.k8s.io/v2\","
	    "\"kind\":\"CredentialProviderRequest\",\"image\":\"x\"}",
	    "unknown apiVersion");
	refused("{\"apiVersion\":\"kubelet.config.k8s.io/v1\","
	    "\"kind\":\"CredentialProviderRequest\",\"image\":\"x\"}",
	    "unknown apiVersion");
	refused("{\"apiVersion\":\"" V1 "\",\"kind\":"
	    "\"CredentialProviderRequest\"}", "no image");
	refused("{\"apiVersion\":\"" V1 "\",\"kind\":"
	    "\"CredentialProviderRequest\",\"image\":\"\"}", "no image");
	refused("{\"apiVersion\":\"" V1 "\",\"kind\":"
	    "\"CredentialProviderRequest\",\"image\":[\"x\"]}", "no image");
	refused("{\"apiVersion\":\"" V1 "\",\"kind\":"
	    "\"CredentialProviderRequest\",\"image\":\"x\","
	    "\"serviceAccountToken\":5}", "serviceAccountToken");
	refused("{\"apiVersion\":\"" V1 "\",\"kind\":"
	    "\"CredentialProviderRequest\",\"image\":\"x\","
	    "\"serviceAccountAnnotations\":[]}", "serviceAccountAnnotations");
	/* duplicate keys: which image would the kubelet have meant? */
	refused("{\"apiVersion\":\"" V1 "\",\"kind\":"
	    "\"CredentialProviderRequest\",\"image\":\"a.example/x\","
	    "\"image\":\"b.example/x\"}", "not JSON");
}

static void
test_parse_oversized(void **state)
{
	struct kubelet_request rq;
	struct err e;
	size_t n = KUBELET_REQUEST_MAX + 64, i;
	char *big = malloc(n + 1);
	const char *head = "{\"apiVersion\":\"" V1 "\",\"kind\":"
	    "\"CredentialProviderRequest\",\"image\":\"x\",\"pad\":\"";

	(void)state;
	assert_non_null(big);
	memcpy(big, head, strlen(head));
	for (i = strlen(head); i < n - 2; i++)
		big[i] = 'a';
	big[n - 2] = '"';
	big[n - 1] = '}';
	big[n] = '\0';
	memset(&rq, 0, sizeof(rq));
	assert_int_equal(kubelet_parse_request(big, n, &rq, &e), -1);
	assert_non_null(strstr(e.msg, "larger than"));
	/* just under the bound is fine */
	n = KUBELET_REQUEST_MAX;
	big[n - 2] = '"';
	big[n - 1] = '}';
	assert_int_equal(kubelet_parse_request(big, n, &rq, &e), 0);
	kubelet_request_clear(&rq);
	free(big);
}

static void
same_registry(const char *image, const char *host, const char *key)
{
	char h[256], k[256];
	struct err e;

	if (kubelet_registry(image, h, sizeof(h), k, sizeof(k), &e) != 0)
		fail_msg("kubelet_registry(\"%s\") failed: %s", image, e.msg);
	if (strcmp(h, host) != 0 || strcmp(k, key) != 0)
		fail_msg("kubelet_registry(\"%s\") = \"%s\", \"%s\"; want "
		    "\"%s\", \"%s\"", image, h, k, host, key);
}

static void
test_registry(void **state)
{
	char h[256], k[256];
	struct err e;

	(void)state;
	/* Docker Hub, named or not */
	same_registry("nginx", "docker.io", "docker.io");
	same_registry("nginx:1.27", "docker.io", "docker.io");
	same_registry("library/nginx", "docker.io", "docker.io");
	same_registry("team/app:1", "docker.io", "docker.io");
	same_registry("nginx@sha256:0123abcd", "docker.io", "docker.io");
	same_registry("docker.io/library/nginx:latest", "docker.io",
	    "docker.io");
	same_registry("index.docker.io/library/nginx", "index.docker.io",
	    "docker.io");
	/* hosts, ports, digests */
	same_registry("registry.example.com/team-a/app:1",
	    "registry.example.com", "registry.example.com");
	same_registry("Registry.Example.COM/team-a/app",
	    "registry.example.com", "registry.example.com");
	same_registry("127.0.0.1:5000/team-a/app:v1", "127.0.0.1:5000",
	    "127.0.0.1:5000");
	same_registry("reg.example:5000/a/b/c@sha256:"
	    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	    "reg.example:5000", "reg.example:5000");
	same_registry("reg.example:443/a", "reg.example:443", "reg.example");
	same_registry("[::1]:5000/a", "[::1]:5000", "[::1]:5000");
	/* localhost, with and without a port; a dotless host with a port */
	same_registry("localhost/app", "localhost", "localhost");
	same_registry("localhost:5000/app:1", "localhost:5000",
	    "localhost:5000");
	same_registry("myregistry:5000/app", "myregistry:5000",
	    "myregistry:5000");
	same_registry("localhostx/app", "docker.io", "docker.io");
	/* not registry names */
	assert_int_equal(kubelet_registry("bad host.example/app", h, sizeof(h),
	    k, sizeof(k), &e), -1);
	assert_int_equal(kubelet_registry("reg.example:port/app", h, sizeof(h),
	    k, sizeof(k), &e), -1);
	assert_int_equal(kubelet_registry("user@reg.example/app", h,
	    sizeof(h), k, sizeof(k), &e), -1);
	assert_int_equal(kubelet_registry("reg.example?x/app", h,
	    sizeof(h), k, sizeof(k), &e), -1);
	assert_int_equal(kubelet_registry("https://reg.example/app", h,
	    sizeof(h), k, sizeof(k), &e), -1);
	assert_int_equal(kubelet_registry("/app", h, sizeof(h), k, sizeof(k),
	    &e), 0); /* no host: Docker Hub's rules */
	assert_int_equal(kubelet_registry("reg.example/app", h, 4, k,
	    sizeof(k), &e), -1);
}

static void
test_cache_seconds(void **state)
{
	(void)state;
	/* an hour: minus 10 % */
	assert_int_equal(kubelet_cache_seconds(1000 + 3600, 1000), 3240);
	/* 12 h */
	assert_int_equal(kubelet_cache_seconds(43200, 0), 38880);
	/* ten minutes: minus the 60 s floor */
	assert_int_equal(kubelet_cache_seconds(600, 0), 540);
	assert_int_equal(kubelet_cache_seconds(61, 0), 1);
	/* too short, past, unknown: 0 */
	assert_int_equal(kubelet_cache_seconds(60, 0), 0);
	assert_int_equal(kubelet_cache_seconds(30, 0), 0);
	assert_int_equal(kubelet_cache_seconds(1000, 1000), 0);
	assert_int_equal(kubelet_cache_seconds(999, 1000), 0);
	assert_int_equal(kubelet_cache_seconds(0, 1000), 0);
	assert_int_equal(kubelet_cache_seconds(-5, 1000), 0);
}

static void
test_response(void **state)
{
	json_t *o, *a;
	char *text;

	(void)state;
	text = kubelet_response(V1, "127.0.0.1:5000", "tok.en.x", 3240, 0);
	assert_non_null(text);
	o = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
	assert_non_null(o);
	assert_string_equal(json_string_value(json_object_get(o,
	    "apiVersion")), V1);
	assert_string_equal(json_string_value(json_object_get(o, "kind")),
	    "CredentialProviderResponse");
	assert_string_equal(json_string_value(json_object_get(o,
	    "cacheKeyType")), "Registry");
	assert_string_equal(json_string_value(json_object_get(o,
	    "cacheDuration")), "3240s");
	assert_null(json_object_get(o, "serviceAccountTokenCacheType"));
	a = json_object_get(json_object_get(o, "auth"), "127.0.0.1:5000");
	assert_string_equal(json_string_value(json_object_get(a, "username")),
	    "regauth");
	assert_string_equal(json_string_value(json_object_get(a, "password")),
	    "tok.en.x");
	assert_int_equal(json_object_size(json_object_get(o, "auth")), 1);
	assert_int_equal(json_object_size(o), 5);
	json_decref(o);
	free(text);
	text = kubelet_response("credentialprovider.kubelet.k8s.io/v1beta1",
	    "docker.io", "t", 0, 1);
	o = json_loads(text, 0, NULL);
	assert_string_equal(json_string_value(json_object_get(o,
	    "apiVersion")), "credentialprovider.kubelet.k8s.io/v1beta1");
	assert_string_equal(json_string_value(json_object_get(o,
	    "cacheDuration")), "0s");
	assert_string_equal(json_string_value(json_object_get(o,
	    "serviceAccountTokenCacheType")), "ServiceAccount");
	json_decref(o);
	free(text);
}

/* What an OIDC token says of itself: times, and an identity that ignores them. */
static char *
jwt_of(const char *payload)
{
	static const char tbl[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t n = strlen(payload), i, o = 0;
	char *out = malloc(n * 2 + 64);
	unsigned v;

	assert_non_null(out);
	o = (size_t)sprintf(out, "eyJhbGciOiJSUzI1NiJ9.");
	for (i = 0; i + 2 < n; i += 3) {
		v = (unsigned)(unsigned char)payload[i] << 16 |
		    (unsigned)(unsigned char)payload[i + 1] << 8 |
		    (unsigned char)payload[i + 2];
		out[o++] = tbl[v >> 18 & 63];
		out[o++] = tbl[v >> 12 & 63];
		out[o++] = tbl[v >> 6 & 63];
		out[o++] = tbl[v & 63];
	}
	if (n - i == 1) {
		v = (unsigned)(unsigned char)payload[i] << 16;
		out[o++] = tbl[v >> 18 & 63];
		out[o++] = tbl[v >> 12 & 63];
	} else if (n - i == 2) {
		v = (unsigned)(unsigned char)payload[i] << 16 |
		    (unsigned)(unsigned char)payload[i + 1] << 8;
		out[o++] = tbl[v >> 18 & 63];
		out[o++] = tbl[v >> 12 & 63];
		out[o++] = tbl[v >> 6 & 63];
	}
	strcpy(out + o, ".c2ln");
	return out;
}

static void
test_oidc_decode(void **state)
{
	struct source_oidc_claims a, b, c;
	struct err e;
	char *t1, *t2, *t3;

	(void)state;
	t1 = jwt_of("{\"iss\":\"https://k8s\",\"sub\":\"system:serviceaccount:"
	    "ns:sa\",\"exp\":2000,\"iat\":1000,\"jti\":\"1\",\"kubernetes.io\":"
	    "{\"namespace\":\"ns\",\"warnafter\":1500}}");
	t2 = jwt_of("{\"kubernetes.io\":{\"warnafter\":2500,\"namespace\":"
	    "\"ns\"},\"sub\":\"system:serviceaccount:ns:sa\",\"iss\":"
	    "\"https://k8s\",\"exp\":3000,\"iat\":2000,\"nbf\":2000,"
	    "\"jti\":\"2\"}");
	t3 = jwt_of("{\"iss\":\"https://k8s\",\"sub\":\"system:serviceaccount:"
	    "ns:other\",\"exp\":2000}");
	assert_int_equal(source_oidc_decode(t1, "t1", &a, &e), 0);
	assert_int_equal(source_oidc_decode(t2, "t2", &b, &e), 0);
	assert_int_equal(source_oidc_decode(t3, "t3", &c, &e), 0);
	assert_int_equal(a.exp, 2000);
	assert_int_equal(a.iat, 1000);
	assert_int_equal(b.exp, 3000);
	assert_int_equal(strlen(a.identity), 64);
	/* the same workload, a later token: one identity */
	assert_string_equal(a.identity, b.identity);
	assert_string_not_equal(a.identity, c.identity);
	assert_int_equal(source_oidc_decode("not-a-jwt", "X", &a, &e), -1);
	assert_non_null(strstr(e.msg, "X does not hold a JWT"));
	assert_int_equal(source_oidc_decode("a.b c.d", "X", &a, &e), -1);
	assert_int_equal(source_oidc_decode("a.!!!.d", "X", &a, &e), -1);
	assert_int_equal(source_oidc_decode("e30.W10.x", "X", &a, &e), -1);
	free(t1);
	free(t2);
	free(t3);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_ok),
		cmocka_unit_test(test_parse_refusals),
		cmocka_unit_test(test_parse_oversized),
		cmocka_unit_test(test_registry),
		cmocka_unit_test(test_cache_seconds),
		cmocka_unit_test(test_response),
		cmocka_unit_test(test_oidc_decode),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
