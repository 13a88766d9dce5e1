/* authn: Basic parsing, passwords, login tokens and their refusals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "regauth/wire.h"
#include "fixture.h"

static void
basic_ok(const char *h, const char *wu, const char *wp)
{
	char *u = NULL, *p = NULL;

	if (authn_parse_basic(h, &u, &p) != 0)
		fail_msg("refused: %s", h);
	assert_string_equal(u, wu);
	assert_string_equal(p, wp);
	free(u);
	util_secure_free_str(p);
}

static void
basic_bad(const char *h)
{
	char *u = NULL, *p = NULL;

	if (authn_parse_basic(h, &u, &p) != -1)
		fail_msg("accepted: %s", h);
	assert_null(u);
	assert_null(p);
}

static void
test_parse_basic(void **state)
{
	(void)state;
	basic_ok("Basic YWxpY2U6cHc=", "alice", "pw");
	basic_ok("basic YWxpY2U6cHc=", "alice", "pw");
	basic_ok("Basic YTpiOmM=", "a", "b:c");		/* a:b:c */
	basic_ok("Basic OnB3", "", "pw");		/* :pw */
	basic_ok("Basic YWxpY2U6", "alice", "");	/* alice: */
	basic_bad("Bearer abc");
	basic_bad("Basic");
	basic_bad("Basic ");
	basic_bad("Basic YWxpY2U");			/* bad length */
	basic_bad("Basic YWxpY2U=");			/* no colon: "alice" */
	basic_bad("Basic ****");
	basic_bad("Basic YW=pY2U6cHc=");		/* '=' inside */
	basic_bad("Basic YQBiOmM=");			/* NUL inside: a\0b:c */
}

static void
test_passwords(void **state)
{
	char *dir = fx_config_dir();
	struct identity id;
	struct config *cfg;
	struct err e;

	(void)state;
	assert_non_null(cfg = config_load(dir, &e));
	assert_int_equal(authn_credentials(cfg, "alice", "pw", &id, &e), 0);
	assert_string_equal(id.principal->short_name, "user/alice");
	assert_string_equal(id.method, "password");
	assert_int_equal(authn_credentials(cfg, "alice", "PW", &id, &e), -1);
	assert_int_equal(authn_credentials(cfg, "alice", "", &id, &e), -1);
	assert_int_equal(authn_credentials(cfg, "nobody", "pw", &id, &e), -1);
	assert_int_equal(authn_credentials(cfg, "../users/alice", "pw", &id,
	    &e), -1);
	/* carol has the right password but is disabled */
	assert_int_equal(authn_credentials(cfg, "carol", "pw", &id, &e), -1);
	config_release(cfg);
	fx_remove(dir);
}

/*
 * A verified password is remembered: twenty checks cost one yescrypt. A
 * wrong password, another user with the same password, and a new snapshot
 * (a reload) still hash.
 */
static void
test_password_cache(void **state)
{
	char *dir = fx_config_dir();
	struct identity id;
	struct config *cfg;
	struct err e;
	uint64_t before;
	char user[512], *hash;
	int i;

	(void)state;
	/* bob has the same password as alice. */
	assert_non_null(hash = authn_hash_password("pw", &e));
	snprintf(user, sizeof(user), "{\"name\":\"bob\",\"password\":\"%s\"}",
	    hash);
	free(hash);
	fx_write(dir, "users/bob.json", user);
	assert_non_null(cfg = config_load(dir, &e));
	before = authn_password_hashes();
	for (i = 0; i < 20; i++) {
		assert_int_equal(authn_password(cfg, "alice", "pw", &id, &e), 0);
		assert_string_equal(id.principal->short_name, "user/alice");
	}
	assert_int_equal(authn_password_hashes() - before, 1);
	/* Wrong passwords are never cached, and always hashed. */
	assert_int_equal(authn_password(cfg, "alice", "pw2", &id, &e), -1);
	assert_int_equal(authn_password(cfg, "alice", "pw2", &id, &e), -1);
	assert_int_equal(authn_password_hashes() - before, 3);
	/* The key is the pair: bob's first check hashes. */
	assert_int_equal(authn_password(cfg, "bob", "pw", &id, &e), 0);
	assert_string_equal(id.principal->short_name, "user/bob");
	assert_int_equal(authn_password_hashes() - before, 4);
	/* carol (disabled) is refused even once her password is cached. */
	assert_int_equal(authn_password(cfg, "carol", "pw", &id, &e), -1);
	assert_int_equal(authn_password(cfg, "carol", "pw", &id, &e), -1);
	config_release(cfg);
	/* A reload starts empty. */
	assert_non_null(cfg = config_load(dir, &e));
	before = authn_password_hashes();
	assert_int_equal(authn_password(cfg, "alice", "pw", &id, &e), 0);
	assert_int_equal(authn_password_hashes() - before, 1);
	config_release(cfg);
	fx_remove(dir);
}

/* A password shaped like a JWT is still checked as a password. */
static void
test_password_shaped_like_a_token(void **state)
{
	char *dir = fx_config_dir(), *hash, user[512];
	struct identity id;
	struct config *cfg;
	struct err e;

	(void)state;
	assert_non_null(hash = authn_hash_password("eyJpw.with.dots", &e));
	snprintf(user, sizeof(user), "{\"password\":\"%s\"}", hash);
	free(hash);
	fx_write(dir, "users/dan.json", user);
	assert_non_null(cfg = config_load(dir, &e));
	assert_true(authn_looks_like_jwt("eyJpw.with.dots"));
	assert_int_equal(authn_credentials(cfg, "dan", "eyJpw.with.dots", &id,
	    &e), 0);
	assert_string_equal(id.principal->short_name, "user/dan");
	assert_int_equal(authn_credentials(cfg, "dan", "eyJpw.with.dotz", &id,
	    &e), -1);
	config_release(cfg);
	fx_remove(dir);
}

static char *
sign_claims(struct config *cfg, const char *aud, const char *use,
    long long exp_delta, const char *sub)
{
	int64_t now = util_now();
	struct err e;
	json_t *c;
	char *t;

	c = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:s}", "iss",
	    cfg->issuer, "sub", sub, "aud", aud, "exp",
	    (json_int_t)(now + exp_delta), "nbf", (json_int_t)(now - 30), "iat",
	    (json_int_t)now, "jti", "0123456789abcdef0123456789abcdef");
	if (use != NULL)
		json_object_set_new(c, REGAUTH_CLAIM_TOKEN_USE, json_string(use));
	t = keys_sign(cfg->keys, c, &e);
	json_decref(c);
	assert_non_null(t);
	return t;
}

static void
test_login_tokens(void **state)
{
	char *dir = fx_config_dir(), *tok, *t;
	const struct principal *alice;
	struct identity id;
	struct config *cfg;
	struct err e;

	(void)state;
	assert_non_null(cfg = config_load(dir, &e));
	alice = config_principal(cfg, "user/alice");
	tok = authn_issue_login_token(cfg, alice, "password", 3600, 0, &e);
	assert_non_null(tok);
	assert_true(authn_looks_like_jwt(tok));
	/* twice: the second answer comes from the verified-token cache */
	assert_int_equal(authn_login_token(cfg, tok, &id, &e), 0);
	assert_int_equal(authn_login_token(cfg, tok, &id, &e), 0);
	assert_ptr_equal(id.principal, alice);
	assert_true(id.not_after >= util_now() + 3590);
	/* a login token made from a login token never outlives it */
	t = authn_issue_login_token(cfg, alice, "password", 3600,
	    util_now() + 100, &e);
	assert_int_equal(authn_login_token(cfg, t, &id, &e), 0);
	assert_true(id.not_after <= util_now() + 100);
	free(t);
	/* as a Basic password with any user name */
	assert_int_equal(authn_credentials(cfg, "whoever", tok, &id, &e), 0);
	/* one flipped signature character */
	tok[strlen(tok) - 3] ^= 1;
	assert_int_equal(authn_login_token(cfg, tok, &id, &e), -1);
	util_secure_free_str(tok);

	/* a registry token (aud = service, no token_use) is not a login token */
	t = sign_claims(cfg, "reg", NULL, 300, "user/alice");
	assert_int_equal(authn_login_token(cfg, t, &id, &e), -1);
	assert_non_null(strstr(e.msg, "audience"));
	free(t);
	/* right audience but no token_use claim */
	t = sign_claims(cfg, REGAUTH_LOGIN_AUDIENCE, NULL, 300, "user/alice");
	assert_int_equal(authn_login_token(cfg, t, &id, &e), -1);
	free(t);
	/* expired */
	t = sign_claims(cfg, REGAUTH_LOGIN_AUDIENCE, "login", -10, "user/alice");
	assert_int_equal(authn_login_token(cfg, t, &id, &e), -1);
	assert_non_null(strstr(e.msg, "expired"));
	free(t);
	/* a principal that does not exist, and a disabled one */
	t = sign_claims(cfg, REGAUTH_LOGIN_AUDIENCE, "login", 300, "user/zed");
	assert_int_equal(authn_login_token(cfg, t, &id, &e), -1);
	free(t);
	t = sign_claims(cfg, REGAUTH_LOGIN_AUDIENCE, "login", 300, "user/carol");
	assert_int_equal(authn_login_token(cfg, t, &id, &e), -1);
	assert_non_null(strstr(e.msg, "disabled"));
	free(t);
	/* garbage */
	assert_int_equal(authn_login_token(cfg, "eyJ.x.y", &id, &e), -1);
	assert_int_equal(authn_login_token(cfg, "not a token", &id, &e), -1);
	config_release(cfg);
	fx_remove(dir);
}

/* A token verified (and cached) under one snapshot stops working when the
 * principal is removed from the next. */
static void
test_revocation(void **state)
{
	char *dir = fx_config_dir(), path[1100], *tok;
	struct identity id;
	struct config *a, *b;
	struct err e;

	(void)state;
	assert_non_null(a = config_load(dir, &e));
	tok = authn_issue_login_token(a, config_principal(a, "user/alice"),
	    "password", 3600, 0, &e);
	assert_int_equal(authn_login_token(a, tok, &id, &e), 0);
	snprintf(path, sizeof(path), "%s/users/alice.json", dir);
	assert_int_equal(unlink(path), 0);
	assert_non_null(b = config_load(dir, &e));
	assert_int_equal(authn_login_token(b, tok, &id, &e), -1);
	util_secure_free_str(tok);
	config_release(a);
	config_release(b);
	fx_remove(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_basic),
		cmocka_unit_test(test_passwords),
		cmocka_unit_test(test_password_cache),
		cmocka_unit_test(test_password_shaped_like_a_token),
		cmocka_unit_test(test_login_tokens),
		cmocka_unit_test(test_revocation),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
