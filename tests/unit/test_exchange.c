/*
 * Token exchange (issue 5): an OIDC token for a role, through the real
 * commands (`regauthd oidc add --jwks-file`, `regauthd role add`), the trust
 * policy, the session's login token, and the session in /token decisions.
 * OIDC tokens are signed here with OpenSSL keys whose JWKS the test writes;
 * the issuer is air-gapped (a JWKS file), so nothing is fetched.
 */
#include <getopt.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <openssl/ec.h>
#include <openssl/evp.h>

#include "regauth/wire.h"
#include "cmd_role.h"
#include "fixture.h"
#include "jws.h"
#include "login.h"
#include "oidc.h"
#include "token.h"

#define ISSUER	"http://127.0.0.1:9/ci"
#define AUD	"regauth-test"

struct fx {
	char		*dir;
	struct config	*cfg;
	EVP_PKEY	*key;		/* ES256, kid "k1", in the JWKS */
	EVP_PKEY	*stranger;	/* not in the JWKS */
	char		 hdr[512];	/* base64url header for key */
};

static int
run(int (*cmd)(int, char **), const char *a0, ...)
{
	char *argv[32];
	va_list ap;
	int argc = 0, rc;
	const char *s;

	va_start(ap, a0);
	for (s = a0; s != NULL && argc < 31; s = va_arg(ap, const char *))
		argv[argc++] = (char *)s;
	va_end(ap);
	argv[argc] = NULL;
	optind = 0;
	rc = cmd(argc, argv);
	fflush(stdout);
	return rc;
}

static EVP_PKEY *
ec_key(void)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");

	assert_non_null(k);
	return k;
}

static struct config *
reload(struct fx *f)
{
	struct err e;
	struct config *cfg = config_load(f->dir, &e);

	if (cfg == NULL)
		fail_msg("config_load: %s", e.msg);
	return cfg;
}

static void
write_text(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

/* A role trusting ISSUER for repository `repo` on branch main. */
static void
add_role(struct fx *f, const char *name, const char *cond, const char *extra)
{
	char path[1200], doc[2048];

	snprintf(path, sizeof(path), "%s/trust-%s.json", f->dir, name);
	snprintf(doc, sizeof(doc), "{\"Version\":\"2012-10-17\",\"Statement\":"
	    "[{\"Effect\":\"Allow\",\"Principal\":{\"Federated\":\"" ISSUER
	    "\"},\"Action\":\"sts:AssumeRoleWithWebIdentity\",\"Condition\":"
	    "%s}]}", cond);
	write_text(path, doc);
	if (extra != NULL)
		assert_int_equal(run(cmd_role, "role", "add", "-c", f->dir, name,
		    "--trust", path, "--policy", "ci", "--max-session", extra,
		    NULL), 0);
	else
		assert_int_equal(run(cmd_role, "role", "add", "-c", f->dir, name,
		    "--trust", path, "--policy", "ci", NULL), 0);
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char path[1200], *text, hjson[200], *hb;
	json_t *jwks, *jwk;
	struct err e;

	f->dir = fx_config_dir();
	f->key = ec_key();
	f->stranger = ec_key();
	jwk = jws_jwk_new(f->key, JWS_ES256, "k1");
	assert_non_null(jwk);
	jwks = json_pack("{s:[o]}", "keys", jwk);
	text = json_dumps(jwks, 0);
	snprintf(path, sizeof(path), "%s/ci.jwks", f->dir);
	write_text(path, text);
	free(text);
	json_decref(jwks);
	assert_int_equal(run(cmd_oidc, "oidc", "add", "-c", f->dir, ISSUER,
	    "--audience", AUD, "--jwks-file", path, NULL), 0);
	/* Each CI repository may push only below ci/ORG/REPO/. */
	fx_write(f->dir, "policies/ci.json", "{\"Version\":\"2012-10-17\","
	    "\"Statement\":[{\"Effect\":\"Allow\",\"Action\":[\"registry:Pull\","
	    "\"registry:Push\"],\"Resource\":"
	    "\"repository/ci/${oidc:repository}/*\"}]}");
	add_role(f, "deploy", "{\"StringEquals\":{\"oidc:repository\":"
	    "\"acme/app\",\"127.0.0.1:9/ci:aud\":\"" AUD "\"},\"StringLike\":"
	    "{\"oidc:ref\":\"refs/heads/main\"}}", NULL);
	add_role(f, "short", "{\"StringLike\":{\"oidc:sub\":\"repo:acme/*\"}}",
	    "900");
	add_role(f, "kube", "{\"StringEquals\":{\"oidc:kubernetes.io/"
	    "namespace\":\"ci\"}}", NULL);
	snprintf(hjson, sizeof(hjson), "{\"alg\":\"ES256\",\"typ\":\"JWT\","
	    "\"kid\":\"k1\"}");
	hb = jws_b64url_encode_new((const unsigned char *)hjson,
	    strlen(hjson));
	snprintf(f->hdr, sizeof(f->hdr), "%s", hb);
	free(hb);
	f->cfg = reload(f);
	(void)e;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	config_release(f->cfg);
	EVP_PKEY_free(f->key);
	EVP_PKEY_free(f->stranger);
	fx_remove(f->dir);
	free(f);
	return 0;
}

/* A GitHub-shaped token for `repo` and `ref`, signed by `key`. */
static char *
mint(struct fx *f, EVP_PKEY *key, const char *repo, const char *ref,
    long exp_in, const char *extra)
{
	char claims[2048];
	int64_t now = util_now();
	struct err e;
	char *tok;

	snprintf(claims, sizeof(claims), "{\"iss\":\"" ISSUER "\",\"aud\":\""
	    AUD "\",\"sub\":\"repo:%s:ref:%s\",\"repository\":\"%s\","
	    "\"ref\":\"%s\",\"repository_id\":\"4242\",\"run_id\":17,"
	    "\"ref_protected\":true,\"iat\":%lld,\"nbf\":%lld,\"exp\":%lld%s}",
	    repo, ref, repo, ref, (long long)now, (long long)now - 5,
	    (long long)(now + exp_in), extra ? extra : "");
	tok = jws_sign_new(key, JWS_ES256, f->hdr, claims, strlen(claims), &e);
	if (tok == NULL)
		fail_msg("sign: %s", e.msg);
	return tok;
}

static json_t *
exchange(struct fx *f, const char *tok, const char *role,
    const char *session, struct identity *id, int *status)
{
	struct login_exchange_req rq = { tok, REGAUTH_TOKEN_TYPE_JWT, role,
	    session, "10.0.0.1" };
	struct err e;

	return login_exchange(f->cfg, &rq, id, status, &e);
}

/* The decision for one scope action of `id`. */
static enum policy_decision
decide(struct fx *f, const struct identity *id, const char *scope,
    const char *action)
{
	struct scope_list sl;
	struct token_request rq;
	struct token_why why;
	struct err e;

	scope_list_init(&sl, 10);
	assert_int_equal(scope_parse(&sl, scope, &e), 0);
	memset(&rq, 0, sizeof(rq));
	rq.scopes = &sl;
	assert_int_equal(token_decide(f->cfg, id, &rq, &sl.v[0], action, NULL,
	    &why, &e), 0);
	scope_list_free(&sl);
	return why.result.decision;
}

static void
test_exchange_and_use(void **state)
{
	struct fx *f = *state;
	struct identity id, back;
	const char *login;
	char *tok = mint(f, f->key, "acme/app", "refs/heads/main", 600, NULL);
	struct err e;
	json_t *j;
	int status;

	j = exchange(f, tok, "deploy", NULL, &id, &status);
	assert_non_null(j);
	assert_int_equal(status, 200);
	assert_string_equal(json_string_value(json_object_get(j, "principal")),
	    "assumed-role/deploy/repo-acme-app-ref-refs-heads-main");
	assert_string_equal(json_string_value(json_object_get(j,
	    "issued_token_type")), REGAUTH_TOKEN_TYPE_ACCESS);
	assert_int_equal(json_integer_value(json_object_get(j, "expires_in")),
	    3600);
	login = json_string_value(json_object_get(j, "access_token"));
	/* The login token names the session and carries its claims. */
	assert_int_equal(authn_login_token(f->cfg, login, &back, &e), 0);
	assert_string_equal(authn_subject(&back),
	    "assumed-role/deploy/repo-acme-app-ref-refs-heads-main");
	assert_string_equal(authn_arn(&back), "arn:regauth:sts::123456789012:"
	    "assumed-role/deploy/repo-acme-app-ref-refs-heads-main");
	assert_string_equal(back.method, "oidc");
	assert_string_equal(json_string_value(json_object_get(back.claims,
	    "oidc:repository")), "acme/app");
	assert_string_equal(json_string_value(json_object_get(back.claims,
	    "oidc:run_id")), "17");
	assert_string_equal(json_string_value(json_object_get(back.claims,
	    "oidc:ref_protected")), "true");
	assert_string_equal(json_string_value(json_object_get(back.claims,
	    "aws:FederatedProvider")), ISSUER);
	/* ${oidc:repository}: its own namespace, nothing else. */
	assert_int_equal(decide(f, &back, "repository:ci/acme/app/web:push",
	    "push"), POLICY_ALLOW);
	assert_int_equal(decide(f, &back, "repository:ci/acme/other/web:pull",
	    "pull"), POLICY_IMPLICIT_DENY);
	assert_int_equal(decide(f, &back, "repository:team-a/x:pull", "pull"),
	    POLICY_IMPLICIT_DENY);
	/* The cached path gives the same identity. */
	authn_identity_clear(&back);
	assert_int_equal(authn_login_token(f->cfg, login, &back, &e), 0);
	assert_string_equal(json_string_value(json_object_get(back.claims,
	    "oidc:repository")), "acme/app");
	assert_int_equal(decide(f, &back, "repository:ci/acme/app/web:push",
	    "push"), POLICY_ALLOW);
	authn_identity_clear(&back);
	authn_identity_clear(&id);
	json_decref(j);
	free(tok);
}

/* A login token made from a session's login token is the same session. */
static void
test_reissue_keeps_session(void **state)
{
	struct fx *f = *state;
	struct identity id, again;
	char *tok = mint(f, f->key, "acme/app", "refs/heads/main", 600, NULL);
	char *second;
	struct err e;
	json_t *j;
	int status;

	j = exchange(f, tok, "deploy", "build-7", &id, &status);
	assert_non_null(j);
	second = authn_issue_login_token_for(f->cfg, &id, 86400, &e);
	assert_non_null(second);
	assert_int_equal(authn_login_token(f->cfg, second, &again, &e), 0);
	assert_string_equal(authn_subject(&again),
	    "assumed-role/deploy/build-7");
	assert_string_equal(json_string_value(json_object_get(again.claims,
	    "oidc:repository")), "acme/app");
	/* Never past the session it came from. */
	assert_true(again.not_after <= util_now() + 3600);
	authn_identity_clear(&again);
	authn_identity_clear(&id);
	util_secure_free_str(second);
	json_decref(j);
	free(tok);
}

static void
test_trust_refuses(void **state)
{
	struct fx *f = *state;
	struct identity id;
	char *other = mint(f, f->key, "acme/other", "refs/heads/main", 600,
	    NULL);
	char *branch = mint(f, f->key, "acme/app", "refs/heads/dev", 600, NULL);
	char *good = mint(f, f->key, "acme/app", "refs/heads/main", 600, NULL);
	int status;

	assert_null(exchange(f, other, "deploy", NULL, &id, &status));
	assert_int_equal(status, 403);
	assert_null(exchange(f, branch, "deploy", NULL, &id, &status));
	assert_int_equal(status, 403);
	assert_null(id.claims);
	/* No such role: the same 403. */
	assert_null(exchange(f, good, "nope", NULL, &id, &status));
	assert_int_equal(status, 403);
	/* A user is not a role. */
	assert_null(exchange(f, good, "alice", NULL, &id, &status));
	assert_int_equal(status, 403);
	free(other);
	free(branch);
	free(good);
}

static void
test_bad_tokens(void **state)
{
	struct fx *f = *state;
	struct identity id;
	char *expired = mint(f, f->key, "acme/app", "refs/heads/main", -120,
	    NULL);
	char *stranger = mint(f, f->stranger, "acme/app", "refs/heads/main",
	    600, NULL);
	char *good = mint(f, f->key, "acme/app", "refs/heads/main", 600, NULL);
	char *none, *dot;
	int status;

	assert_null(exchange(f, expired, "deploy", NULL, &id, &status));
	assert_int_equal(status, 401);
	assert_null(exchange(f, stranger, "deploy", NULL, &id, &status));
	assert_int_equal(status, 401);
	/* alg none: the same claims, no signature. */
	none = strdup(good);
	dot = strchr(none, '.');
	{
		const char *h = "{\"alg\":\"none\",\"typ\":\"JWT\"}";
		char *hb = jws_b64url_encode_new((const unsigned char *)h,
		    strlen(h));
		char *rest = strrchr(dot + 1, '.');
		char buf[8192];

		*rest = '\0';
		snprintf(buf, sizeof(buf), "%s%s.", hb, dot);
		free(hb);
		assert_null(exchange(f, buf, "deploy", NULL, &id, &status));
		assert_int_equal(status, 401);
	}
	assert_null(exchange(f, "not.a.jwt", "deploy", NULL, &id, &status));
	assert_int_equal(status, 401);
	assert_null(exchange(f, "", "deploy", NULL, &id, &status));
	assert_int_equal(status, 400);
	free(none);
	free(expired);
	free(stranger);
	free(good);
}

static void
test_bad_requests(void **state)
{
	struct fx *f = *state;
	struct login_exchange_req rq;
	struct identity id;
	struct err e;
	char *good = mint(f, f->key, "acme/app", "refs/heads/main", 600, NULL);
	int status;

	memset(&rq, 0, sizeof(rq));
	rq.subject_token = good;
	rq.role = "deploy";
	rq.subject_token_type = "urn:ietf:params:oauth:token-type:saml2";
	assert_null(login_exchange(f->cfg, &rq, &id, &status, &e));
	assert_int_equal(status, 400);
	rq.subject_token_type = NULL;
	assert_null(login_exchange(f->cfg, &rq, &id, &status, &e));
	assert_int_equal(status, 400);
	rq.subject_token_type = REGAUTH_TOKEN_TYPE_ID_TOKEN;
	rq.role = NULL;
	assert_null(login_exchange(f->cfg, &rq, &id, &status, &e));
	assert_int_equal(status, 400);
	rq.role = "../deploy";
	assert_null(login_exchange(f->cfg, &rq, &id, &status, &e));
	assert_int_equal(status, 400);
	rq.role = "deploy";
	rq.session = "has space";
	assert_null(login_exchange(f->cfg, &rq, &id, &status, &e));
	assert_int_equal(status, 400);
	rq.session = "x";
	assert_null(login_exchange(f->cfg, &rq, &id, &status, &e));
	assert_int_equal(status, 400);
	rq.session = "release@2026-11-29";
	{
		json_t *j = login_exchange(f->cfg, &rq, &id, &status, &e);
		assert_non_null(j);
		assert_string_equal(json_string_value(json_object_get(j,
		    "principal")), "assumed-role/deploy/release@2026-11-29");
		json_decref(j);
		authn_identity_clear(&id);
	}
	free(good);
}

static void
test_session_names(void **state)
{
	char out[AUTHN_SESSION_MAX + 1], longsub[200];

	(void)state;
	authn_session_from_sub("system:serviceaccount:ci:builder", out);
	assert_string_equal(out, "system-serviceaccount-ci-builder");
	authn_session_from_sub("a", out);
	assert_string_equal(out, "a-");
	memset(longsub, 'x', sizeof(longsub) - 1);
	longsub[sizeof(longsub) - 1] = '\0';
	authn_session_from_sub(longsub, out);
	assert_int_equal(strlen(out), 64);
	assert_true(authn_valid_session("build+7=a,b.c@d-e"));
	assert_false(authn_valid_session("a/b"));
	assert_false(authn_valid_session(""));
	assert_false(authn_valid_session(longsub));
}

static void
test_max_session(void **state)
{
	struct fx *f = *state;
	struct identity id;
	char *tok = mint(f, f->key, "acme/any", "refs/heads/x", 600, NULL);
	json_t *j;
	int status;

	j = exchange(f, tok, "short", NULL, &id, &status);
	assert_non_null(j);
	assert_int_equal(json_integer_value(json_object_get(j, "expires_in")),
	    900);
	authn_identity_clear(&id);
	json_decref(j);
	free(tok);
}

/* A claim that is an object is flattened: oidc:kubernetes.io/namespace. */
static void
test_kubernetes_claims(void **state)
{
	struct fx *f = *state;
	struct identity id;
	char *in = mint(f, f->key, "k", "r", 600, ",\"kubernetes.io\":"
	    "{\"namespace\":\"ci\",\"serviceaccount\":{\"name\":\"builder\","
	    "\"uid\":\"u-1\"}}");
	char *out = mint(f, f->key, "k", "r", 600, ",\"kubernetes.io\":"
	    "{\"namespace\":\"prod\"}");
	json_t *j;
	int status;

	j = exchange(f, in, "kube", NULL, &id, &status);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(id.claims,
	    "oidc:kubernetes.io/serviceaccount/name")), "builder");
	authn_identity_clear(&id);
	json_decref(j);
	assert_null(exchange(f, out, "kube", NULL, &id, &status));
	assert_int_equal(status, 403);
	free(in);
	free(out);
}

/* Removing the role, or distrusting the issuer, ends its sessions. */
static void
test_revocation(void **state)
{
	struct fx *f = *state;
	struct identity id, back;
	char *tok = mint(f, f->key, "acme/app", "refs/heads/main", 600, NULL);
	char path[1200], *login;
	struct err e;
	json_t *j;
	int status;

	j = exchange(f, tok, "deploy", NULL, &id, &status);
	assert_non_null(j);
	login = strdup(json_string_value(json_object_get(j, "access_token")));
	authn_identity_clear(&id);
	json_decref(j);
	snprintf(path, sizeof(path), "%s/oidc/127.0.0.1-9-ci.json", f->dir);
	assert_int_equal(unlink(path), 0);
	config_release(f->cfg);
	f->cfg = reload(f);
	assert_int_equal(authn_login_token(f->cfg, login, &back, &e), -1);
	assert_non_null(strstr(e.msg, "issuer"));
	snprintf(path, sizeof(path), "%s/roles/deploy.json", f->dir);
	assert_int_equal(unlink(path), 0);
	config_release(f->cfg);
	f->cfg = reload(f);
	assert_int_equal(authn_login_token(f->cfg, login, &back, &e), -1);
	free(login);
	free(tok);
}

/* The commands refuse what the server would. */
static void
test_commands(void **state)
{
	struct fx *f = *state;
	char path[1200], bad[1200];

	snprintf(path, sizeof(path), "%s/trust-deploy.json", f->dir);
	/* Exists already. */
	assert_int_equal(run(cmd_role, "role", "add", "-c", f->dir, "deploy",
	    "--trust", path, NULL), 1);
	/* Unknown policy. */
	assert_int_equal(run(cmd_role, "role", "add", "-c", f->dir, "r2",
	    "--trust", path, "--policy", "nope", NULL), 1);
	/* Out of range. */
	assert_int_equal(run(cmd_role, "role", "add", "-c", f->dir, "r3",
	    "--trust", path, "--max-session", "60", NULL), 2);
	/* An invalid trust document. */
	snprintf(bad, sizeof(bad), "%s/bad-trust.json", f->dir);
	write_text(bad, "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":"
	    "\"Maybe\",\"Principal\":\"*\",\"Action\":\"sts:*\"}]}");
	assert_int_equal(run(cmd_role, "role", "add", "-c", f->dir, "r4",
	    "--trust", bad, NULL), 1);
	write_text(bad, "{not json");
	assert_int_equal(run(cmd_role, "role", "add", "-c", f->dir, "r4",
	    "--trust", bad, NULL), 1);
	/* Issuers: the same one twice, http on a public host, no audience. */
	assert_int_equal(run(cmd_oidc, "oidc", "add", "-c", f->dir, ISSUER,
	    "--audience", "x", "--name", "other", NULL), 1);
	assert_int_equal(run(cmd_oidc, "oidc", "add", "-c", f->dir,
	    "http://ci.example.com", "--audience", "x", NULL), 1);
	assert_int_equal(run(cmd_oidc, "oidc", "add", "-c", f->dir,
	    "https://ci.example.com", NULL), 2);
	/* A JWKS file with no usable key. */
	write_text(bad, "{\"keys\":[{\"kty\":\"oct\",\"k\":\"c2VjcmV0\"}]}");
	assert_int_equal(run(cmd_oidc, "oidc", "add", "-c", f->dir,
	    "https://ci.example.com", "--audience", "x", "--jwks-file", bad,
	    NULL), 1);
	snprintf(path, sizeof(path), "%s/oidc/ci.example.com.jwks", f->dir);
	assert_int_equal(access(path, F_OK), -1);
	/* A CA file without a certificate. */
	write_text(bad, "not a certificate\n");
	assert_int_equal(run(cmd_oidc, "oidc", "add", "-c", f->dir,
	    "https://ci.example.com", "--audience", "x", "--ca-file", bad,
	    NULL), 1);
	snprintf(path, sizeof(path), "%s/oidc/ci.example.com.json", f->dir);
	assert_int_equal(access(path, F_OK), -1);
	/* A good https issuer fetched at first use. */
	assert_int_equal(run(cmd_oidc, "oidc", "add", "-c", f->dir,
	    "https://token.actions.githubusercontent.com", "--audience",
	    "regauth", NULL), 0);
	snprintf(path, sizeof(path),
	    "%s/oidc/token.actions.githubusercontent.com.json", f->dir);
	assert_int_equal(access(path, F_OK), 0);
	config_release(f->cfg);
	f->cfg = reload(f);
	assert_int_equal(f->cfg->nissuers, 2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_exchange_and_use, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_reissue_keeps_session,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_trust_refuses, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_bad_tokens, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_bad_requests, setup,
		    teardown),
		cmocka_unit_test(test_session_names),
		cmocka_unit_test_setup_teardown(test_max_session, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_kubernetes_claims, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_revocation, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_commands, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
