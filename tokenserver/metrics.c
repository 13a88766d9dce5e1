/*
 * GET /metrics: counters kept as relaxed C11 atomics in fixed arrays, so a
 * request records itself without a lock or an allocation; the text is
 * built only when scraped. The histogram keeps per-bucket (non-cumulative)
 * counts and adds them up at render time, so _count always equals the
 * +Inf bucket of the same scrape.
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "regauth/wire.h"
#include "keys.h"
#include "authn.h"
#include "metrics.h"

#define STATUS_SLOTS	600	/* 100..599; slot 0: no answer was sent */

static const char *const ep_names[METRICS_EP_COUNT] = {
	REGAUTH_PATH_TOKEN, REGAUTH_PATH_LOGIN, REGAUTH_PATH_JWKS,
	REGAUTH_PATH_CERTS, REGAUTH_PATH_INFO, REGAUTH_PATH_HEALTHZ,
	REGAUTH_PATH_METRICS, "other",
};

static const char *const login_names[METRICS_LOGIN_COUNT] = {
	"password", "key", "oidc", "token",
};

/* Bucket bounds in nanoseconds and as the le label writes them. */
static const uint64_t bucket_ns[METRICS_BUCKETS] = {
	1000000ULL, 2500000ULL, 5000000ULL, 10000000ULL, 25000000ULL,
	50000000ULL, 100000000ULL, 250000000ULL, 500000000ULL, 1000000000ULL,
	2500000000ULL, 5000000000ULL, 10000000000ULL,
};
static const char *const bucket_le[METRICS_BUCKETS] = {
	"0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25",
	"0.5", "1", "2.5", "5", "10",
};

static struct {
	_Atomic uint64_t	requests[METRICS_EP_COUNT][STATUS_SLOTS];
	/* The last slot of each row: above the largest bound (+Inf only). */
	_Atomic uint64_t	latency[METRICS_EP_COUNT][METRICS_BUCKETS + 1];
	_Atomic uint64_t	latency_ns[METRICS_EP_COUNT];
	_Atomic uint64_t	tokens;
	_Atomic uint64_t	denied;
	_Atomic uint64_t	logins[METRICS_LOGIN_COUNT][2];	/* [m][ok] */
	_Atomic uint64_t	reloads[2];			/* [ok] */
	_Atomic uint64_t	audit_errors;
	_Atomic int64_t		start_ms;	/* 0: not yet recorded */
} m;

static void
inc(_Atomic uint64_t *c, uint64_t n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static uint64_t
get(_Atomic uint64_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

enum metrics_endpoint
metrics_endpoint_of(const char *path)
{
	int i;

	for (i = 0; i < METRICS_EP_OTHER; i++)
		if (strcmp(path, ep_names[i]) == 0)
			return (enum metrics_endpoint)i;
	return METRICS_EP_OTHER;
}

int
metrics_login_method_of(const char *name)
{
	int i;

	for (i = 0; name != NULL && i < METRICS_LOGIN_COUNT; i++)
		if (strcmp(name, login_names[i]) == 0)
			return i;
	return -1;
}

void
metrics_init(void)
{
	struct timespec ts;
	int64_t zero = 0, now;

	clock_gettime(CLOCK_REALTIME, &ts);
	now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	if (now <= 0)
		now = 1;
	atomic_compare_exchange_strong(&m.start_ms, &zero, now);
}

void
metrics_request(enum metrics_endpoint ep, int status, uint64_t ns)
{
	size_t b;

	if ((int)ep < 0 || ep >= METRICS_EP_COUNT)
		ep = METRICS_EP_OTHER;
	if (status < 100 || status >= STATUS_SLOTS)
		status = 0;
	inc(&m.requests[ep][status], 1);
	for (b = 0; b < METRICS_BUCKETS && ns > bucket_ns[b]; b++)
		;
	inc(&m.latency[ep][b], 1);
	inc(&m.latency_ns[ep], ns);
}

void
metrics_token_issued(uint64_t denied)
{
	inc(&m.tokens, 1);
	if (denied > 0)
		inc(&m.denied, denied);
}

void
metrics_login(enum metrics_login_method method, int ok)
{
	if ((int)method < 0 || method >= METRICS_LOGIN_COUNT)
		return;
	inc(&m.logins[method][ok != 0], 1);
}

void
metrics_reload(int ok)
{
	inc(&m.reloads[ok != 0], 1);
}

void
metrics_audit_error(void)
{
	inc(&m.audit_errors, 1);
}

void
metrics_reset(void)
{
	memset(&m, 0, sizeof(m));
}

void
metrics_label_value(struct buf *out, const char *s)
{
	const char *run = s;

	buf_add(out, "\"", 1);
	for (; *s != '\0'; s++) {
		const char *esc;
		if (*s == '\\')
			esc = "\\\\";
		else if (*s == '"')
			esc = "\\\"";
		else if (*s == '\n')
			esc = "\\n";
		else
			continue;
		buf_add(out, run, (size_t)(s - run));
		buf_adds(out, esc);
		run = s + 1;
	}
	buf_add(out, run, (size_t)(s - run));
	buf_add(out, "\"", 1);
}

static void
family(struct buf *out, const char *name, const char *type, const char *help)
{
	buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* The keys a registry may meet in tokens: every "kid" of the JWKS. */
static void
render_keys(struct buf *out, const struct keyset *keys)
{
	const struct signing_key *active = keys_active(keys);
	json_t *jwks = keys_jwks(keys), *k;
	size_t i;

	family(out, "regauth_signing_key_info", "gauge",
	    "Signing keys published in the JWKS; active=\"true\" signs new "
	    "tokens.");
	json_array_foreach(json_object_get(jwks, "keys"), i, k) {
		const char *kid = json_string_value(json_object_get(k, "kid"));
		if (kid == NULL)
			continue;
		buf_adds(out, "regauth_signing_key_info{kid=");
		metrics_label_value(out, kid);
		buf_printf(out, ",active=\"%s\"} 1\n", active != NULL &&
		    strcmp(active->kid, kid) == 0 ? "true" : "false");
	}
	json_decref(jwks);
}

static void
render_histogram(struct buf *out)
{
	uint64_t snap[METRICS_BUCKETS + 1], cum, ns;
	size_t ep, b;

	family(out, "regauth_http_request_duration_seconds", "histogram",
	    "Time from the first byte of a request to the end of its answer.");
	for (ep = 0; ep < METRICS_EP_COUNT; ep++) {
		for (b = 0, cum = 0; b <= METRICS_BUCKETS; b++)
			cum += snap[b] = get(&m.latency[ep][b]);
		if (cum == 0)
			continue;
		ns = get(&m.latency_ns[ep]);
		for (b = 0, cum = 0; b <= METRICS_BUCKETS; b++) {
			cum += snap[b];
			buf_printf(out, "regauth_http_request_duration_seconds_"
			    "bucket{endpoint=\"%s\",le=\"%s\"} %llu\n",
			    ep_names[ep], b < METRICS_BUCKETS ? bucket_le[b] :
			    "+Inf", (unsigned long long)cum);
		}
		buf_printf(out, "regauth_http_request_duration_seconds_sum"
		    "{endpoint=\"%s\"} %llu.%09llu\n", ep_names[ep],
		    (unsigned long long)(ns / 1000000000ULL),
		    (unsigned long long)(ns % 1000000000ULL));
		buf_printf(out, "regauth_http_request_duration_seconds_count"
		    "{endpoint=\"%s\"} %llu\n", ep_names[ep],
		    (unsigned long long)cum);
	}
}

void
metrics_render(struct buf *out, const struct keyset *keys)
{
	size_t ep, s, k;
	int64_t start;

	metrics_init();
	family(out, "regauth_build_info", "gauge",
	    "The running version of regauthd.");
	buf_printf(out, "regauth_build_info{version=\"%s\"} 1\n",
	    REGAUTH_VERSION);
	start = atomic_load(&m.start_ms);
	family(out, "regauth_process_start_time_seconds", "gauge",
	    "Start time of the process since the Unix epoch, in seconds.");
	buf_printf(out, "regauth_process_start_time_seconds %lld.%03lld\n",
	    (long long)(start / 1000), (long long)(start % 1000));

	family(out, "regauth_http_requests_total", "counter",
	    "HTTP requests by endpoint and status code (0: the client left "
	    "before an answer).");
	for (ep = 0; ep < METRICS_EP_COUNT; ep++)
		for (s = 0; s < STATUS_SLOTS; s++) {
			uint64_t v = get(&m.requests[ep][s]);
			if (v != 0)
				buf_printf(out, "regauth_http_requests_total"
				    "{endpoint=\"%s\",code=\"%zu\"} %llu\n",
				    ep_names[ep], s, (unsigned long long)v);
		}
	render_histogram(out);

	family(out, "regauth_tokens_issued_total", "counter",
	    "Registry tokens issued by /token.");
	buf_printf(out, "regauth_tokens_issued_total %llu\n",
	    (unsigned long long)get(&m.tokens));
	family(out, "regauth_scope_actions_denied_total", "counter",
	    "Scope actions asked of /token that the issued token does not "
	    "grant as asked.");
	buf_printf(out, "regauth_scope_actions_denied_total %llu\n",
	    (unsigned long long)get(&m.denied));

	family(out, "regauth_logins_total", "counter",
	    "Credentials checked, by how they were presented, and the "
	    "outcome.");
	for (k = 0; k < METRICS_LOGIN_COUNT; k++) {
		buf_printf(out, "regauth_logins_total{method=\"%s\","
		    "result=\"ok\"} %llu\n", login_names[k],
		    (unsigned long long)get(&m.logins[k][1]));
		buf_printf(out, "regauth_logins_total{method=\"%s\","
		    "result=\"refused\"} %llu\n", login_names[k],
		    (unsigned long long)get(&m.logins[k][0]));
	}

	family(out, "regauth_config_reloads_total", "counter",
	    "Configuration reloads: installed (ok) or refused (error; the "
	    "old configuration kept serving).");
	buf_printf(out, "regauth_config_reloads_total{result=\"ok\"} %llu\n",
	    (unsigned long long)get(&m.reloads[1]));
	buf_printf(out, "regauth_config_reloads_total{result=\"error\"} %llu\n",
	    (unsigned long long)get(&m.reloads[0]));

	family(out, "regauth_password_hashes_total", "counter",
	    "yescrypt password hashes computed (verified passwords are "
	    "cached for a minute).");
	buf_printf(out, "regauth_password_hashes_total %llu\n",
	    (unsigned long long)authn_password_hashes());

	family(out, "regauth_audit_write_errors_total", "counter",
	    "Audit lines that could not be written.");
	buf_printf(out, "regauth_audit_write_errors_total %llu\n",
	    (unsigned long long)get(&m.audit_errors));

	if (keys != NULL)
		render_keys(out, keys);
}
