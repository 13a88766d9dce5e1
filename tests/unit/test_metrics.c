/*
 * metrics: the exposition is well-formed Prometheus text 0.0.4 (every
 * sample under its # HELP and # TYPE, names regauth_*), label values are
 * escaped, the histogram's buckets are cumulative with _count equal to
 * +Inf and _sum the total, counters from many threads add up exactly, and
 * the signing keys of a real key set are listed.
 */
#include <ctype.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "regauth/wire.h"
#include "fixture.h"
#include "metrics.h"

/* The value of the sample line that starts with `series` + ' ', or -1. */
static double
sample(const char *text, const char *series)
{
	size_t n = strlen(series);
	const char *p = text;

	while ((p = strstr(p, series)) != NULL) {
		if ((p == text || p[-1] == '\n') && p[n] == ' ')
			return strtod(p + n + 1, NULL);
		p += n;
	}
	return -1;
}

static int
name_char(int c, int first)
{
	return isalpha(c) || c == '_' || c == ':' || (!first && isdigit(c));
}

/*
 * A strict reading of the text format: HELP then TYPE for each family,
 * once; every sample belongs to the family declared last (or its
 * _bucket/_sum/_count for a histogram); label values properly quoted;
 * the value a number. Returns the number of samples; fails otherwise.
 */
static int
check_exposition(const char *text)
{
	char family[128] = "", type[16] = "", line[1024];
	const char *p = text, *nl;
	int samples = 0;

	assert_true(strlen(text) > 0 && text[strlen(text) - 1] == '\n');
	for (; *p != '\0'; p = nl + 1) {
		size_t len, i = 0;
		char name[128], *end;

		nl = strchr(p, '\n');
		assert_non_null(nl);
		len = (size_t)(nl - p);
		assert_true(len > 0 && len < sizeof(line));
		memcpy(line, p, len);
		line[len] = '\0';
		if (strncmp(line, "# HELP ", 7) == 0) {
			assert_int_equal(sscanf(line + 7, "%127s", family), 1);
			assert_int_equal(strncmp(family, "regauth_", 8), 0);
			assert_true(strlen(line) > 8 + strlen(family));
			type[0] = '\0';
			continue;
		}
		if (strncmp(line, "# TYPE ", 7) == 0) {
			char fam[128];
			assert_int_equal(sscanf(line + 7, "%127s %15s", fam,
			    type), 2);
			assert_string_equal(fam, family);
			assert_true(strcmp(type, "counter") == 0 ||
			    strcmp(type, "gauge") == 0 ||
			    strcmp(type, "histogram") == 0);
			continue;
		}
		assert_true(line[0] != '#');
		assert_true(type[0] != '\0');
		while (name_char((unsigned char)line[i], i == 0))
			i++;
		assert_true(i > 0 && i < sizeof(name));
		memcpy(name, line, i);
		name[i] = '\0';
		if (strcmp(type, "histogram") == 0) {
			size_t fl = strlen(family);
			assert_int_equal(strncmp(name, family, fl), 0);
			assert_true(strcmp(name + fl, "_bucket") == 0 ||
			    strcmp(name + fl, "_sum") == 0 ||
			    strcmp(name + fl, "_count") == 0);
		} else
			assert_string_equal(name, family);
		if (line[i] == '{') {
			i++;
			for (;;) {
				size_t k = i;
				while (name_char((unsigned char)line[i], i == k))
					i++;
				assert_true(i > k);
				assert_true(line[i] == '=' && line[i + 1] == '"');
				i += 2;
				while (line[i] != '"') {
					assert_true(line[i] != '\0');
					if (line[i] == '\\') {
						assert_non_null(strchr("\\\"n",
						    line[i + 1]));
						i++;
					}
					i++;
				}
				i++;
				if (line[i] == '}')
					break;
				assert_true(line[i] == ',');
				i++;
			}
			i++;
		}
		assert_true(line[i] == ' ');
		strtod(line + i + 1, &end);
		assert_true(end > line + i + 1 && *end == '\0');
		samples++;
	}
	return samples;
}

static char *
render(const struct keyset *ks)
{
	struct buf b;
	char *s;

	buf_init(&b);
	metrics_render(&b, ks);
	assert_non_null(buf_str(&b));
	s = strdup(b.p);
	buf_release(&b);
	check_exposition(s);
	return s;
}

static void
test_endpoints(void **state)
{
	(void)state;
	assert_int_equal(metrics_endpoint_of("/token"), METRICS_EP_TOKEN);
	assert_int_equal(metrics_endpoint_of("/v1/login"), METRICS_EP_LOGIN);
	assert_int_equal(metrics_endpoint_of("/.well-known/jwks.json"),
	    METRICS_EP_JWKS);
	assert_int_equal(metrics_endpoint_of("/v1/certs"), METRICS_EP_CERTS);
	assert_int_equal(metrics_endpoint_of("/v1/info"), METRICS_EP_INFO);
	assert_int_equal(metrics_endpoint_of("/healthz"), METRICS_EP_HEALTHZ);
	assert_int_equal(metrics_endpoint_of("/metrics"), METRICS_EP_METRICS);
	assert_int_equal(metrics_endpoint_of("/token/"), METRICS_EP_OTHER);
	assert_int_equal(metrics_endpoint_of("/v2/"), METRICS_EP_OTHER);
	assert_int_equal(metrics_endpoint_of(""), METRICS_EP_OTHER);
	assert_int_equal(metrics_login_method_of("password"),
	    METRICS_LOGIN_PASSWORD);
	assert_int_equal(metrics_login_method_of("token"), METRICS_LOGIN_TOKEN);
	assert_int_equal(metrics_login_method_of("key"), METRICS_LOGIN_KEY);
	assert_int_equal(metrics_login_method_of("oidc"), METRICS_LOGIN_OIDC);
	assert_int_equal(metrics_login_method_of(""), -1);
	assert_int_equal(metrics_login_method_of("anonymous"), -1);
	assert_int_equal(metrics_login_method_of(NULL), -1);
}

static void
test_label_escaping(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b);
	metrics_label_value(&b, "a\"b\\c\nd");
	assert_string_equal(buf_str(&b), "\"a\\\"b\\\\c\\nd\"");
	buf_release(&b);
	buf_init(&b);
	metrics_label_value(&b, "");
	assert_string_equal(buf_str(&b), "\"\"");
	buf_release(&b);
	buf_init(&b);
	metrics_label_value(&b, "\n\n\\");
	assert_string_equal(buf_str(&b), "\"\\n\\n\\\\\"");
	buf_release(&b);
}

static void
test_counters(void **state)
{
	char *s;

	(void)state;
	metrics_reset();
	metrics_init();
	s = render(NULL);
	/* Fixed series are there from the start, at zero. */
	assert_true(sample(s, "regauth_tokens_issued_total") == 0);
	assert_true(sample(s, "regauth_scope_actions_denied_total") == 0);
	assert_true(sample(s, "regauth_logins_total{method=\"oidc\","
	    "result=\"refused\"}") == 0);
	assert_true(sample(s, "regauth_config_reloads_total{result=\"error\"}")
	    == 0);
	assert_true(sample(s, "regauth_process_start_time_seconds") >
	    1.6e9);
	assert_true(sample(s, "regauth_build_info{version=\"" REGAUTH_VERSION
	    "\"}") == 1);
	assert_null(strstr(s, "regauth_http_requests_total{"));
	assert_null(strstr(s, "regauth_signing_key_info{"));
	free(s);

	metrics_request(METRICS_EP_TOKEN, 200, 1000);
	metrics_request(METRICS_EP_TOKEN, 200, 1000);
	metrics_request(METRICS_EP_TOKEN, 401, 1000);
	metrics_request(METRICS_EP_OTHER, 404, 1000);
	metrics_request(METRICS_EP_LOGIN, 0, 1000);	/* client went away */
	metrics_request(METRICS_EP_LOGIN, 999, 1000);	/* out of range */
	metrics_request((enum metrics_endpoint)77, 200, 1000);
	metrics_token_issued(0);
	metrics_token_issued(3);
	metrics_login(METRICS_LOGIN_PASSWORD, 1);
	metrics_login(METRICS_LOGIN_PASSWORD, 0);
	metrics_login(METRICS_LOGIN_PASSWORD, 0);
	metrics_login(METRICS_LOGIN_KEY, 1);
	metrics_login((enum metrics_login_method)9, 1);	/* ignored */
	metrics_reload(1);
	metrics_reload(0);
	metrics_reload(1);
	metrics_audit_error();
	s = render(NULL);
	assert_true(sample(s, "regauth_http_requests_total{endpoint=\"/token\","
	    "code=\"200\"}") == 2);
	assert_true(sample(s, "regauth_http_requests_total{endpoint=\"/token\","
	    "code=\"401\"}") == 1);
	assert_true(sample(s, "regauth_http_requests_total{endpoint=\"other\","
	    "code=\"404\"}") == 1);
	assert_true(sample(s, "regauth_http_requests_total{endpoint=\"other\","
	    "code=\"200\"}") == 1);
	assert_true(sample(s, "regauth_http_requests_total{endpoint="
	    "\"/v1/login\",code=\"0\"}") == 2);
	assert_true(sample(s, "regauth_tokens_issued_total") == 2);
	assert_true(sample(s, "regauth_scope_actions_denied_total") == 3);
	assert_true(sample(s, "regauth_logins_total{method=\"password\","
	    "result=\"ok\"}") == 1);
	assert_true(sample(s, "regauth_logins_total{method=\"password\","
	    "result=\"refused\"}") == 2);
	assert_true(sample(s, "regauth_logins_total{method=\"key\","
	    "result=\"ok\"}") == 1);
	assert_true(sample(s, "regauth_logins_total{method=\"token\","
	    "result=\"ok\"}") == 0);
	assert_true(sample(s, "regauth_config_reloads_total{result=\"ok\"}")
	    == 2);
	assert_true(sample(s, "regauth_config_reloads_total{result=\"error\"}")
	    == 1);
	assert_true(sample(s, "regauth_audit_write_errors_total") == 1);
	free(s);
}

static void
test_histogram(void **state)
{
	/* ns, and the first bucket (index into les) that holds it. */
	static const uint64_t ns[] = { 0, 999999, 1000000, 1000001, 3000000,
	    70000000, 700000000, 2500000000ULL, 9999999999ULL, 10000000000ULL,
	    10000000001ULL, 60000000000ULL };
	static const char *les[] = { "0.001", "0.0025", "0.005", "0.01",
	    "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10",
	    "+Inf" };
	static const double bound[] = { 0.001, 0.0025, 0.005, 0.01, 0.025,
	    0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 1e300 };
	char series[200], *s;
	double prev = 0, sum = 0, v;
	size_t i, k, want;

	(void)state;
	metrics_reset();
	for (i = 0; i < sizeof(ns) / sizeof(ns[0]); i++) {
		metrics_request(METRICS_EP_INFO, 200, ns[i]);
		sum += (double)ns[i] / 1e9;
	}
	metrics_request(METRICS_EP_HEALTHZ, 200, 5);
	s = render(NULL);
	for (k = 0; k < sizeof(les) / sizeof(les[0]); k++) {
		snprintf(series, sizeof(series),
		    "regauth_http_request_duration_seconds_bucket{endpoint="
		    "\"/v1/info\",le=\"%s\"}", les[k]);
		v = sample(s, series);
		for (i = 0, want = 0; i < sizeof(ns) / sizeof(ns[0]); i++)
			want += (double)ns[i] / 1e9 <= bound[k];
		assert_true(v == (double)want);
		assert_true(v >= prev);		/* cumulative */
		prev = v;
	}
	assert_true(prev == sizeof(ns) / sizeof(ns[0]));
	assert_true(sample(s, "regauth_http_request_duration_seconds_count"
	    "{endpoint=\"/v1/info\"}") == prev);
	v = sample(s, "regauth_http_request_duration_seconds_sum"
	    "{endpoint=\"/v1/info\"}");
	assert_true(v > sum - 1e-6 && v < sum + 1e-6);
	assert_true(sample(s, "regauth_http_request_duration_seconds_bucket"
	    "{endpoint=\"/healthz\",le=\"0.001\"}") == 1);
	assert_true(sample(s, "regauth_http_request_duration_seconds_sum"
	    "{endpoint=\"/healthz\"}") == 5e-9);
	/* An endpoint with no requests has no series. */
	assert_null(strstr(s, "endpoint=\"/token\""));
	/* Buckets come in order, then _sum, then _count. */
	assert_true(strstr(s, "{endpoint=\"/v1/info\",le=\"0.001\"}") <
	    strstr(s, "{endpoint=\"/v1/info\",le=\"+Inf\"}"));
	assert_true(strstr(s, "{endpoint=\"/v1/info\",le=\"+Inf\"}") <
	    strstr(s, "_sum{endpoint=\"/v1/info\"}"));
	assert_true(strstr(s, "_sum{endpoint=\"/v1/info\"}") <
	    strstr(s, "_count{endpoint=\"/v1/info\"}"));
	free(s);
}

#define THREADS	8
#define ROUNDS	20000

static void *
hammer(void *arg)
{
	int i;

	(void)arg;
	for (i = 0; i < ROUNDS; i++) {
		metrics_request(METRICS_EP_TOKEN, 200, (uint64_t)i * 1000);
		metrics_token_issued(1);
		metrics_login(METRICS_LOGIN_TOKEN, i & 1);
	}
	return NULL;
}

static void
test_threads(void **state)
{
	pthread_t t[THREADS];
	char *s;
	int i;

	(void)state;
	metrics_reset();
	for (i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, hammer, NULL), 0);
	for (i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	s = render(NULL);
	assert_true(sample(s, "regauth_http_requests_total{endpoint=\"/token\","
	    "code=\"200\"}") == THREADS * ROUNDS);
	assert_true(sample(s, "regauth_http_request_duration_seconds_count"
	    "{endpoint=\"/token\"}") == THREADS * ROUNDS);
	assert_true(sample(s, "regauth_tokens_issued_total") ==
	    THREADS * ROUNDS);
	assert_true(sample(s, "regauth_scope_actions_denied_total") ==
	    THREADS * ROUNDS);
	assert_true(sample(s, "regauth_logins_total{method=\"token\","
	    "result=\"ok\"}") == THREADS * ROUNDS / 2);
	assert_true(sample(s, "regauth_logins_total{method=\"token\","
	    "result=\"refused\"}") == THREADS * ROUNDS / 2);
	free(s);
}

static void
test_signing_keys(void **state)
{
	char *dir = fx_config_dir(), *s, series[200];
	struct config *cfg;
	struct err e;

	(void)state;
	metrics_reset();
	if ((cfg = config_load(dir, &e)) == NULL)
		fail_msg("%s", e.msg);
	s = render(cfg->keys);
	snprintf(series, sizeof(series), "regauth_signing_key_info{kid=\"%s\","
	    "active=\"true\"}", keys_active(cfg->keys)->kid);
	assert_true(sample(s, series) == 1);
	/* One key: exactly one series, the active one. */
	assert_non_null(strstr(s, "regauth_signing_key_info{"));
	assert_null(strstr(strstr(s, "regauth_signing_key_info{") + 1,
	    "regauth_signing_key_info{"));
	free(s);
	config_release(cfg);
	fx_remove(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_endpoints),
		cmocka_unit_test(test_label_escaping),
		cmocka_unit_test(test_counters),
		cmocka_unit_test(test_histogram),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_signing_keys),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
