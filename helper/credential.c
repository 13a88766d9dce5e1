/*
 * credential: which source answers a registry, and the cached login token
 * from it (see credential.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "regauth/wire.h"
#include "credential.h"
#include "discover.h"
#include "exchange.h"
#include "normalize.h"
#include "source_key.h"
#include "source_oidc.h"

/* A source does not serve this registry: try the next one. */
#define NOT_MINE 2

static const char *
env(const char *name)
{
	const char *v = getenv(name);

	return v != NULL && v[0] != '\0' ? v : NULL;
}

static int
no_cache_env(void)
{
	const char *v = getenv(REGAUTH_ENV_NO_CACHE);

	return v != NULL && v[0] != '\0' && strcmp(v, "0") != 0;
}

const char *
credential_role(const struct config *cfg, const char *key)
{
	const char *r = env(REGAUTH_ENV_ROLE);

	return r != NULL ? r : config_setting(cfg, key, "role");
}

/*
 * The token server for a registry: REGAUTH_SERVER, the configuration's
 * entry or default, else (when discover) the registry's challenge.
 * *explicit says it was configured. 0, DISCOVER_NOT_TOKEN, NOT_MINE (not
 * configured and no discovery) or -1 (e set).
 */
static int
server_for(const struct config *cfg, const char *key, int discover,
    char **server, int *explicit, struct err *e)
{
	const char *s = env(REGAUTH_ENV_SERVER);

	if (s == NULL)
		s = config_setting(cfg, key, "server");
	if (s != NULL) {
		*explicit = 1;
		if ((*server = strdup(s)) == NULL) {
			util_err(e, "out of memory");
			return -1;
		}
		util_debug("token server %s (configured)", s);
		return 0;
	}
	*explicit = 0;
	if (!discover)
		return NOT_MINE;
	return discover_server(key, config_registry_insecure(cfg, key), server,
	    e);
}

int
credential_server(const struct config *cfg, const char *key, char **server,
    int *explicit, struct err *e)
{
	return server_for(cfg, key, 1, server, explicit, e);
}

void
credential_token_times(const char *tok, long long expires_in,
    long long *iat, long long *exp)
{
	long long now = (long long)time(NULL);

	if (util_jwt_times(tok, iat, exp) == -1 || *exp == 0) {
		*iat = now;
		*exp = expires_in > 0 ? now + expires_in : 0;
	}
	if (*iat == 0)
		*iat = now;
}

/* ------------------------------------------------------------------ */
/* the cache around an exchange */

/* A token just made by a source. */
struct fresh {
	char *token;    /* a secret */
	char *server;
	char *username; /* for the cache entry; may be NULL */
	long long iat, exp;
};

/* 0 (f filled), NOT_MINE, EXCHANGE_REFUSED or -1. */
typedef int (*fresh_fn)(void *arg, struct fresh *f, struct err *e);

static void
fresh_clear(struct fresh *f)
{
	util_free_secret(f->token);
	free(f->server);
	free(f->username);
	memset(f, 0, sizeof(*f));
}

static void
take(struct cache_entry *en, struct credential *out)
{
	out->token = en->token;
	out->exp = en->exp;
	en->token = NULL;
}

/*
 * The cached token for id while fresh, else one from fn under the cache
 * lock (parallel helpers wait and reuse it). When fn fails other than by a
 * refusal, a stale (still valid) cached token is handed out instead.
 * 0 (out filled), NOT_MINE, -1.
 */
static int
cached(struct cache *cache, const char *id, const char *key,
    const char *what, fresh_fn fn, void *arg, struct credential *out,
    struct err *e)
{
	struct cache_entry old, en;
	struct fresh f;
	time_t now = time(NULL);
	int nocache = cache == NULL || no_cache_env(), have_old = 0, rc;
	int ret = -1;
	struct err ce;

	memset(&old, 0, sizeof(old));
	memset(&en, 0, sizeof(en));
	memset(&f, 0, sizeof(f));
	if (!nocache) {
		rc = cache_get(cache, CACHE_TOKEN, id, &old, &ce);
		if (rc == 1 && cache_state(&old, now) == CACHE_FRESH) {
			util_debug("cached token for %s (%s)", key, what);
			take(&old, out);
			ret = 0;
			goto out;
		}
		cache_entry_clear(&old);
		if (cache_lock(cache, e) == -1)
			goto out;
		now = time(NULL);
		rc = cache_get(cache, CACHE_TOKEN, id, &old, &ce);
		if (rc == 1) {
			enum cache_state st = cache_state(&old, now);

			if (st == CACHE_FRESH) {
				util_debug("token for %s made by another helper",
				    key);
				take(&old, out);
				ret = 0;
				goto out;
			}
			have_old = st == CACHE_STALE;
		}
	}
	rc = fn(arg, &f, e);
	if (rc == NOT_MINE) {
		ret = NOT_MINE;
		goto out;
	}
	if (rc != 0) {
		if (have_old && rc != EXCHANGE_REFUSED) {
			util_debug("%s; handing out the cached token", e->msg);
			take(&old, out);
			ret = 0;
		}
		goto out;
	}
	if (!nocache) {
		en.id = (char *)id;
		en.registry = (char *)key;
		en.username = f.username;
		en.server = f.server;
		en.token = f.token;
		en.iat = f.iat;
		en.exp = f.exp;
		if (cache_put(cache, CACHE_TOKEN, &en, &ce) == -1)
			util_debug("cache: %s", ce.msg);
		(void)cache_evict(cache, CACHE_TOKEN, CACHE_MAX_TOKENS);
	}
	out->token = f.token;
	out->exp = f.exp;
	f.token = NULL;
	ret = 0;
out:
	if (cache != NULL)
		cache_unlock(cache);
	cache_entry_clear(&old);
	fresh_clear(&f);
	return ret;
}

/* "a|b|c..." of n parts; caller frees. */
static char *
join_id(const char *const *parts, size_t n)
{
	size_t len = 1, i;
	char *id;

	for (i = 0; i < n; i++)
		len += strlen(parts[i]) + 1;
	if ((id = malloc(len)) == NULL)
		return NULL;
	id[0] = '\0';
	for (i = 0; i < n; i++) {
		if (i > 0)
			strncat(id, "|", len - strlen(id) - 1);
		strncat(id, parts[i], len - strlen(id) - 1);
	}
	return id;
}

/* ------------------------------------------------------------------ */
/* a service-account key */

struct key_arg {
	const char *key;
	const struct config *cfg;
	struct source_key *sk;
};

static char *
assertion_cb(void *arg, struct err *e)
{
	return source_key_assertion(arg, e);
}

static int
key_fresh(void *arg, struct fresh *f, struct err *e)
{
	struct key_arg *a = arg;
	struct exchange_login lg;
	char *server = NULL;
	int explicit = 0, rc;

	memset(&lg, 0, sizeof(lg));
	rc = server_for(a->cfg, a->key, 1, &server, &explicit, e);
	if (rc == DISCOVER_NOT_TOKEN) {
		util_debug("%s", e->msg);
		return NOT_MINE;
	}
	if (rc != 0)
		return -1;
	if (!explicit && a->sk->server != NULL) {
		char x[NORMALIZE_MAX + 32], y[NORMALIZE_MAX + 32];

		/* The key's assertion goes only to the key's own server. */
		if (normalize_origin(server, x, sizeof(x)) == -1 ||
		    normalize_origin(a->sk->server, y, sizeof(y)) == -1 ||
		    strcmp(x, y) != 0) {
			util_debug("registry %s uses token server %s, not the "
			    "key's %s: not using the key (set REGAUTH_SERVER "
			    "or a configuration entry to override)", a->key,
			    server, a->sk->server);
			free(server);
			return NOT_MINE;
		}
	}
	rc = exchange_login_assertion(server, assertion_cb, a->sk, &lg, e);
	if (rc != 0) {
		free(server);
		return rc;
	}
	util_debug("login token for %s from %s", lg.principal ?
	    lg.principal : a->sk->principal, server);
	f->token = lg.token;
	lg.token = NULL;
	f->server = server;
	f->username = strdup(a->sk->principal);
	credential_token_times(f->token, lg.expires_in, &f->iat, &f->exp);
	exchange_login_clear(&lg);
	return 0;
}

static int
from_key(const char *key, const char *keyfile, const struct config *cfg,
    struct cache *cache, struct credential *out, struct err *e)
{
	struct source_key sk;
	struct key_arg a = { key, cfg, &sk };
	const char *parts[4];
	char *id = NULL;
	int ret;

	memset(&sk, 0, sizeof(sk));
	if (source_key_load(keyfile, &sk, e) == -1)
		return -1;
	parts[0] = "key";
	parts[1] = key;
	parts[2] = sk.principal;
	parts[3] = sk.key_id;
	if ((id = join_id(parts, 4)) == NULL) {
		util_err(e, "out of memory");
		ret = -1;
	} else
		ret = cached(cache, id, key, sk.principal, key_fresh, &a, out,
		    e);
	source_key_free(&sk);
	free(id);
	return ret;
}

/* ------------------------------------------------------------------ */
/* an OIDC token and a role */

struct oidc_arg {
	const struct source_oidc *src;
	const char *server;
	const char *role;
	char *token;       /* read already (files, the environment) */
	long long oidc_exp;
};

/* Exchange tok for role; the login never outlives the OIDC token. */
static int
oidc_exchange(const char *server, const char *tok, const char *role,
    long long oidc_exp, struct fresh *f, struct err *e)
{
	struct exchange_login lg;
	int rc;

	memset(&lg, 0, sizeof(lg));
	rc = exchange_login_oidc(server, tok, role, NULL, &lg, e);
	if (rc != 0)
		return rc;
	util_debug("login token for %s (role %s) from %s", lg.principal ?
	    lg.principal : "?", role, server);
	f->token = lg.token;
	lg.token = NULL;
	f->username = lg.principal;
	lg.principal = NULL;
	credential_token_times(f->token, lg.expires_in, &f->iat, &f->exp);
	if (oidc_exp > 0 && (f->exp == 0 || oidc_exp < f->exp)) {
		util_debug("kept until the OIDC token's exp (%lld s from now)",
		    oidc_exp - (long long)time(NULL));
		f->exp = oidc_exp;
	}
	exchange_login_clear(&lg);
	return 0;
}

static int
oidc_fresh(void *arg, struct fresh *f, struct err *e)
{
	struct oidc_arg *a = arg;
	struct source_oidc_claims c;
	char *tok = a->token;
	long long exp = a->oidc_exp;
	int refused = 0, rc;

	if (tok == NULL) {
		/* GitHub Actions: asked only now, when no cached login serves */
		tok = source_oidc_token(a->src, a->server, &refused, e);
		if (tok == NULL)
			return refused ? EXCHANGE_REFUSED : -1;
		if (source_oidc_decode(tok, "GitHub Actions' answer", &c, e)
		    == -1) {
			util_free_secret(tok);
			return -1;
		}
		exp = c.exp;
	}
	rc = oidc_exchange(a->server, tok, a->role, exp, f, e);
	if (rc == 0 && (f->server = strdup(a->server)) == NULL) {
		util_err(e, "out of memory");
		rc = -1;
	}
	if (tok != a->token)
		util_free_secret(tok);
	return rc;
}

static int
from_oidc(const char *key, const struct source_oidc *src, const char *role,
    const struct config *cfg, struct cache *cache, int flags,
    struct credential *out, struct err *e)
{
	struct oidc_arg a;
	struct source_oidc_claims c;
	const char *parts[5];
	char name[300], *server = NULL, *id = NULL;
	int explicit = 0, rc, ret = -1;

	memset(&a, 0, sizeof(a));
	memset(&c, 0, sizeof(c));
	source_oidc_name(src, name, sizeof(name));
	rc = server_for(cfg, key, flags & CREDENTIAL_DISCOVER_OIDC, &server,
	    &explicit, e);
	if (rc == NOT_MINE) {
		util_debug("%s: no token server configured for %s (an OIDC "
		    "token goes only to REGAUTH_SERVER or the configuration's "
		    "server): not using it", name, key);
		return NOT_MINE;
	}
	if (rc == DISCOVER_NOT_TOKEN) {
		util_debug("%s", e->msg);
		return NOT_MINE;
	}
	if (rc != 0)
		return -1;
	a.src = src;
	a.server = server;
	a.role = role;
	if (src->kind == SOURCE_OIDC_ACTIONS) {
		if (source_oidc_actions_identity(src, c.identity, e) == -1)
			goto out;
	} else {
		/* read again on every use: the kubelet rotates the file */
		if ((a.token = source_oidc_token(src, server, NULL, e)) == NULL ||
		    source_oidc_decode(a.token, name, &c, e) == -1)
			goto out;
		a.oidc_exp = c.exp;
		if (c.exp > 0 && c.exp <= (long long)time(NULL))
			util_debug("%s: the OIDC token expired %lld s ago",
			    name, (long long)time(NULL) - c.exp);
	}
	util_debug("OIDC token from %s for role %s", name, role);
	parts[0] = "oidc";
	parts[1] = key;
	parts[2] = server;
	parts[3] = role;
	parts[4] = c.identity;
	if ((id = join_id(parts, 5)) == NULL) {
		util_err(e, "out of memory");
		goto out;
	}
	ret = cached(cache, id, key, role, oidc_fresh, &a, out, e);
out:
	util_free_secret(a.token);
	free(server);
	free(id);
	return ret;
}

int
credential_exchange(const char *key, const struct config *cfg,
    const char *oidc_token, const char *role, struct credential *out,
    struct err *e)
{
	struct source_oidc_claims c;
	struct fresh f;
	char *server = NULL;
	int explicit = 0, rc;

	memset(&f, 0, sizeof(f));
	if (source_oidc_decode(oidc_token, "the serviceAccountToken", &c, e)
	    == -1)
		return -1;
	rc = server_for(cfg, key, 1, &server, &explicit, e);
	if (rc == DISCOVER_NOT_TOKEN) {
		util_err(e, "registry %s does not use a token server: set %s",
		    key, REGAUTH_ENV_SERVER);
		return -1;
	}
	if (rc != 0)
		return -1;
	rc = oidc_exchange(server, oidc_token, role, c.exp, &f, e);
	free(server);
	if (rc != 0)
		return -1;
	out->token = f.token;
	out->exp = f.exp;
	f.token = NULL;
	fresh_clear(&f);
	return 0;
}

/* ------------------------------------------------------------------ */

static int
from_login(const char *key, struct cache *cache, struct credential *out)
{
	struct cache_entry en;
	struct err ce;
	int rc;

	memset(&en, 0, sizeof(en));
	if (cache == NULL)
		return NOT_MINE;
	rc = cache_get(cache, CACHE_LOGIN, key, &en, &ce);
	if (rc == 1) {
		if (cache_state(&en, time(NULL)) != CACHE_EXPIRED) {
			util_debug("stored login for %s", key);
			take(&en, out);
			cache_entry_clear(&en);
			return 0;
		}
		util_debug("the stored login for %s has expired: log in "
		    "again", key);
	} else if (rc == -1)
		util_debug("cache: %s", ce.msg);
	cache_entry_clear(&en);
	return NOT_MINE;
}

int
credential_get(const char *key, const struct config *cfg,
    struct cache *cache, int flags, struct credential *out, struct err *e)
{
	struct source_oidc src;
	const char *role = credential_role(cfg, key), *keyfile;
	int have_oidc, key_env, oidc_first, i, rc;
	char name[300];

	e->msg[0] = '\0';
	have_oidc = source_oidc_find(cfg, key, &src);
	keyfile = env(REGAUTH_ENV_KEY_FILE);
	key_env = keyfile != NULL;
	if (keyfile == NULL)
		keyfile = config_registry_str(cfg, key, "key_file");
	source_oidc_name(&src, name, sizeof(name));
	if (have_oidc && role == NULL)
		util_debug("%s, but no role (%s): not using it", name,
		    REGAUTH_ENV_ROLE);
	/* the environment before the configuration; the role on a tie */
	oidc_first = !(key_env && !src.from_env);
	if (have_oidc && role != NULL && keyfile != NULL)
		util_debug("both %s and %s: trying the %s first", name,
		    key_env ? REGAUTH_ENV_KEY_FILE : "key_file", oidc_first ?
		    "OIDC role" : "key file");
	for (i = 0; i < 2; i++) {
		if (i == (oidc_first ? 0 : 1)) {
			if (!have_oidc || role == NULL)
				continue;
			rc = from_oidc(key, &src, role, cfg, cache, flags, out,
			    e);
		} else {
			if (keyfile == NULL)
				continue;
			rc = from_key(key, keyfile, cfg, cache, out, e);
		}
		if (rc != NOT_MINE)
			return rc;
	}
	if (from_login(key, cache, out) == 0)
		return 0;
	if (role != NULL && !have_oidc) {
		util_err(e, "role %s but no OIDC token: set %s or %s (in GitHub "
		    "Actions, give the job `permissions: id-token: write`)",
		    role, REGAUTH_ENV_OIDC_TOKEN_FILE, REGAUTH_ENV_OIDC_TOKEN);
		return -1;
	}
	util_err(e, "no credential for %s", key);
	return CREDENTIAL_NOT_FOUND;
}

void
credential_clear(struct credential *c)
{
	if (c == NULL)
		return;
	util_free_secret(c->token);
	memset(c, 0, sizeof(*c));
}
