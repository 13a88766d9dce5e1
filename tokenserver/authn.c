/*
 * Authentication. Client-facing errors never say which check failed; the
 * struct err filled here goes to the log and never holds a secret.
 */
#include <crypt.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "regauth/wire.h"
#include "authn.h"
#include "config.h"
#include "jws.h"
#include "keys.h"

#define LOGIN_TOKEN_MAX	JWS_MAX_TOKEN	/* a session carries its claims */
#define NBF_LEEWAY	60
#define OIDC_PREFIX	"oidc:"
#define FEDERATED_KEY	"aws:FederatedProvider"

/*
 * Verified login tokens, by SHA-256 of the token text. ECDSA verification
 * costs three signatures, and docker asks for a token on every command.
 * Open addressing over a fixed array; a slot is overwritten when its
 * neighbourhood is full. One lock: the critical section is a few compares.
 */
#define CACHE_PROBE 8

struct cache_slot {
	unsigned char	digest[SHA256_DIGEST_LENGTH];
	int64_t		exp;		/* the token's exp; 0: empty */
	char		sub[CONFIG_NAME_MAX * 2 + 2];	/* "role/R" for a session */
	char		method[16];
	char		key_id[64];	/* "" unless made from a key */
	char		session[AUTHN_SESSION_MAX + 1];
	json_t		*claims;	/* a session's context keys; NULL */
};

/*
 * Verified passwords, for AUTHN_PWCACHE_TTL seconds: docker asks for a
 * token per layer and per scope, and each yescrypt costs ~20 ms of a core.
 * Keyed by HMAC-SHA256(per-process random salt, "user\0password"): the
 * table never holds a password, and a key reveals nothing without the
 * salt. Only successes are kept, per configuration snapshot (a reload that
 * changes a password starts empty), and a hit still requires the principal
 * to be enabled.
 */
#define PWCACHE_SLOTS	1024

struct pw_slot {
	unsigned char		 key[SHA256_DIGEST_LENGTH];
	int64_t			 exp;		/* 0: empty */
	const struct principal	*p;
};

struct logincache {
	pthread_mutex_t		 lock;
	size_t			 nslots;
	struct cache_slot	*slots;
	unsigned char		 salt[32];
	struct pw_slot		 pw[PWCACHE_SLOTS];
};

static _Atomic uint64_t password_hashes;	/* yescrypt computations */

uint64_t
authn_password_hashes(void)
{
	return password_hashes;
}

struct logincache *
authn_cache_new(size_t slots)
{
	struct logincache *c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	if ((c->slots = calloc(slots, sizeof(*c->slots))) == NULL) {
		free(c);
		return NULL;
	}
	c->nslots = slots;
	if (RAND_bytes(c->salt, sizeof(c->salt)) != 1) {
		free(c->slots);
		free(c);
		return NULL;
	}
	pthread_mutex_init(&c->lock, NULL);
	return c;
}

void
authn_cache_free(struct logincache *c)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < c->nslots; i++)
		json_decref(c->slots[i].claims);
	pthread_mutex_destroy(&c->lock);
	free(c->slots);
	OPENSSL_cleanse(c, sizeof(*c));
	free(c);
}

/* The cache key of a user name and password; -1 when it cannot be made. */
static int
pw_key(const struct logincache *c, const char *user, const char *password,
    unsigned char key[SHA256_DIGEST_LENGTH])
{
	size_t ul = strlen(user), pl = strlen(password);
	unsigned int len = 0;
	unsigned char *msg;
	int ok;

	if ((msg = malloc(ul + pl + 1)) == NULL)
		return -1;
	memcpy(msg, user, ul + 1);
	memcpy(msg + ul + 1, password, pl);
	ok = HMAC(EVP_sha256(), c->salt, sizeof(c->salt), msg, ul + pl + 1,
	    key, &len) != NULL && len == SHA256_DIGEST_LENGTH;
	OPENSSL_cleanse(msg, ul + pl + 1);
	free(msg);
	return ok ? 0 : -1;
}

static const struct principal *
pw_get(struct logincache *c, const unsigned char *key, int64_t now)
{
	const struct principal *p = NULL;
	struct pw_slot *s;
	uint64_t h;

	memcpy(&h, key, sizeof(h));
	s = &c->pw[h % PWCACHE_SLOTS];
	pthread_mutex_lock(&c->lock);
	if (s->exp > now && CRYPTO_memcmp(s->key, key, sizeof(s->key)) == 0)
		p = s->p;
	pthread_mutex_unlock(&c->lock);
	return p;
}

static void
pw_put(struct logincache *c, const unsigned char *key,
    const struct principal *p, int64_t now)
{
	struct pw_slot *s;
	uint64_t h;

	memcpy(&h, key, sizeof(h));
	s = &c->pw[h % PWCACHE_SLOTS];
	pthread_mutex_lock(&c->lock);
	memcpy(s->key, key, sizeof(s->key));
	s->exp = now + AUTHN_PWCACHE_TTL;
	s->p = p;
	pthread_mutex_unlock(&c->lock);
}

static size_t
cache_index(const struct logincache *c, const unsigned char *d)
{
	uint64_t h;

	memcpy(&h, d, sizeof(h));
	return (size_t)(h % c->nslots);
}

/*
 * A verified token's slot, copied into `out` (its claims a new reference);
 * 0 when absent or expired.
 */
static int
cache_get(struct logincache *c, const unsigned char *d, int64_t now,
    struct cache_slot *out)
{
	size_t i, idx = cache_index(c, d);
	int found = 0;

	pthread_mutex_lock(&c->lock);
	for (i = 0; i < CACHE_PROBE; i++) {
		struct cache_slot *s = &c->slots[(idx + i) % c->nslots];
		if (s->exp > now && CRYPTO_memcmp(s->digest, d,
		    SHA256_DIGEST_LENGTH) == 0) {
			*out = *s;
			json_incref(out->claims);
			found = 1;
			break;
		}
	}
	pthread_mutex_unlock(&c->lock);
	return found;
}

/* Remember `in` (its digest and exp set; its claims borrowed). */
static void
cache_put(struct logincache *c, const struct cache_slot *in, int64_t now)
{
	size_t i, idx = cache_index(c, in->digest), victim = idx;
	int64_t oldest = INT64_MAX;
	json_t *old;

	pthread_mutex_lock(&c->lock);
	for (i = 0; i < CACHE_PROBE; i++) {
		size_t k = (idx + i) % c->nslots;
		struct cache_slot *s = &c->slots[k];
		if (s->exp <= now) {
			victim = k;
			break;
		}
		if (s->exp < oldest) {
			oldest = s->exp;
			victim = k;
		}
	}
	old = c->slots[victim].claims;
	c->slots[victim] = *in;
	json_incref(c->slots[victim].claims);
	pthread_mutex_unlock(&c->lock);
	json_decref(old);
}

char *
authn_hash_password(const char *password, struct err *e)
{
	char salt[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data *cd;
	char *h, *out = NULL;

	if ((cd = calloc(1, sizeof(*cd))) == NULL) {
		err_set(e, "out of memory");
		return NULL;
	}
	/* yescrypt at libxcrypt's default cost; entropy from the OS. */
	if (crypt_gensalt_rn("$y$", 0, NULL, 0, salt, sizeof(salt)) == NULL) {
		err_set(e, "crypt_gensalt: yescrypt unavailable");
		goto out;
	}
	h = crypt_r(password, salt, cd);
	if (h == NULL || h[0] != '$') {
		err_set(e, "crypt: hashing failed");
		goto out;
	}
	out = strdup(h);
out:
	OPENSSL_cleanse(cd, sizeof(*cd));
	free(cd);
	return out;
}

/*
 * A hash of a random password, made once, so that an unknown user costs the
 * same time as a wrong password.
 */
static pthread_once_t	 dummy_once = PTHREAD_ONCE_INIT;
static char		*dummy;

static void
dummy_init(void)
{
	unsigned char r[16];
	char pw[33];
	struct err e;
	size_t i;

	if (RAND_bytes(r, sizeof(r)) != 1)
		memset(r, 0x5a, sizeof(r));
	for (i = 0; i < sizeof(r); i++)
		snprintf(pw + 2 * i, 3, "%02x", r[i]);
	dummy = authn_hash_password(pw, &e);
	OPENSSL_cleanse(pw, sizeof(pw));
}

static int
check_password(const char *hash, const char *password)
{
	struct crypt_data *cd;
	const char *h;
	int ok = 0;

	if ((cd = calloc(1, sizeof(*cd))) == NULL)
		return 0;
	password_hashes++;
	h = crypt_r(password, hash, cd);
	if (h != NULL && h[0] == '$' && strlen(h) == strlen(hash))
		ok = CRYPTO_memcmp(h, hash, strlen(hash)) == 0;
	OPENSSL_cleanse(cd, sizeof(*cd));
	free(cd);
	return ok;
}

/*
 * A cheap shape test (a JSON header's base64url start and exactly two dots)
 * that tells a login token from a password; jws_verify decides the rest.
 */
int
authn_looks_like_jwt(const char *s)
{
	const char *d1, *d2;

	if (strncmp(s, "eyJ", 3) != 0 || (d1 = strchr(s, '.')) == NULL ||
	    (d2 = strchr(d1 + 1, '.')) == NULL)
		return 0;
	return strchr(d2 + 1, '.') == NULL && d2[1] != '\0' && d2 > d1 + 1;
}

static const char *
claim_str(const json_t *claims, const char *key)
{
	const json_t *v = json_object_get(claims, key);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* Resolve "type/name" to an enabled principal of the current snapshot. */
static const struct principal *
live_principal(const struct config *cfg, const char *sub, struct err *e)
{
	const struct principal *p = config_principal(cfg, sub);

	if (p == NULL) {
		err_set(e, "login token: principal %.100s no longer exists", sub);
		return NULL;
	}
	if (!p->enabled) {
		err_set(e, "login token: principal %.100s is disabled", sub);
		return NULL;
	}
	return p;
}

/*
 * A login token made from a key (method "key") names it in "key_id"; it is
 * good only while that key of its principal exists and is enabled.
 */
static int
live_key(const struct principal *p, const char *method, const char *kid,
    struct err *e)
{
	const struct principal_key *k;

	if (kid[0] == '\0') {
		if (strcmp(method, "key") == 0) {
			err_set(e, "login token: method key without key_id");
			return -1;
		}
		return 0;
	}
	if ((k = config_principal_key(p, kid)) == NULL) {
		err_set(e, "login token: key %.64s of %.100s no longer exists",
		    kid, p->short_name);
		return -1;
	}
	if (!k->enabled) {
		err_set(e, "login token: key %.64s of %.100s is disabled", kid,
		    p->short_name);
		return -1;
	}
	return 0;
}

void
authn_identity_clear(struct identity *id)
{
	json_decref(id->claims);
	memset(id, 0, sizeof(*id));
}

const char *
authn_subject(const struct identity *id)
{
	if (id->principal == NULL)
		return "";
	return id->session[0] != '\0' ? id->session_name :
	    id->principal->short_name;
}

const char *
authn_arn(const struct identity *id)
{
	if (id->principal == NULL)
		return "anonymous";
	return id->session[0] != '\0' ? id->session_arn : id->principal->arn;
}

static int
session_char(int c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || strchr("+=,.@-", c) != NULL;
}

void
authn_session_from_sub(const char *sub, char out[AUTHN_SESSION_MAX + 1])
{
	size_t i;

	for (i = 0; sub[i] != '\0' && i < AUTHN_SESSION_MAX; i++)
		out[i] = session_char((unsigned char)sub[i]) ? sub[i] : '-';
	/* A session name has at least two characters. */
	while (i < 2)
		out[i++] = '-';
	out[i] = '\0';
}

int
authn_valid_session(const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++)
		if (i >= AUTHN_SESSION_MAX || !session_char((unsigned char)s[i]))
			return 0;
	return i >= 2;
}

/* Context keys of a session: "oidc:" + each flattened claim, the issuer. */
static json_t *
session_context(const json_t *flat, const char *issuer)
{
	char key[300];
	const char *k;
	json_t *ctx, *v;

	if ((ctx = json_object()) == NULL)
		return NULL;
	json_object_foreach((json_t *)flat, k, v) {
		if (strlen(k) + sizeof(OIDC_PREFIX) > sizeof(key))
			continue;	/* oidc_flatten_claims bounds keys */
		snprintf(key, sizeof(key), OIDC_PREFIX "%s", k);
		if (json_object_set(ctx, key, v) == -1)
			goto fail;
	}
	if (json_object_set_new(ctx, FEDERATED_KEY, json_string(issuer)) == -1)
		goto fail;
	return ctx;
fail:
	json_decref(ctx);
	return NULL;
}

/* The names of session `session` of role `p` into `id`. */
static int
session_names(const struct config *cfg, const struct principal *p,
    const char *session, struct identity *id, struct err *e)
{
	int n1, n2, n3;

	n1 = snprintf(id->session, sizeof(id->session), "%s", session);
	n2 = snprintf(id->session_name, sizeof(id->session_name),
	    "assumed-role/%s/%s", p->name, session);
	n3 = snprintf(id->session_arn, sizeof(id->session_arn),
	    "arn:regauth:sts::%s:assumed-role/%s/%s", cfg->account, p->name,
	    session);
	if (n1 < 0 || (size_t)n1 >= sizeof(id->session) || n2 < 0 ||
	    (size_t)n2 >= sizeof(id->session_name) || n3 < 0 ||
	    (size_t)n3 >= sizeof(id->session_arn)) {
		err_set(e, "session name too long");
		return -1;
	}
	return 0;
}

int
authn_session_identity(const struct config *cfg, const struct principal *p,
    const char *session, const char *issuer, const json_t *flat,
    struct identity *id, struct err *e)
{
	memset(id, 0, sizeof(*id));
	if (strcmp(p->type, "role") != 0 || !authn_valid_session(session)) {
		err_set(e, "%s: not a role or not a session name", __func__);
		return -1;
	}
	if (session_names(cfg, p, session, id, e) == -1)
		return -1;
	if ((id->claims = session_context(flat, issuer)) == NULL) {
		memset(id, 0, sizeof(*id));
		err_set(e, "out of memory");
		return -1;
	}
	id->principal = p;
	snprintf(id->method, sizeof(id->method), "oidc");
	return 0;
}

/*
 * A session's role, and the issuer its claims came from, must still be
 * configured: removing either ends the session at its next use.
 */
static int
live_session(const struct config *cfg, const struct principal *p,
    const json_t *claims, struct err *e)
{
	const json_t *iss = json_object_get(claims, FEDERATED_KEY);

	if (strcmp(p->type, "role") != 0) {
		err_set(e, "login token: session of %.100s, not a role",
		    p->short_name);
		return -1;
	}
	if (!json_is_string(iss) || config_issuer(cfg,
	    json_string_value(iss)) == NULL) {
		err_set(e, "login token: the session's issuer is no longer "
		    "trusted");
		return -1;
	}
	return 0;
}

/* Fill `id` from a verified (or cached) login token's slot. */
static int
identity_from_slot(const struct config *cfg, const struct cache_slot *sl,
    struct identity *id, struct err *e)
{
	const struct principal *p;

	if ((p = live_principal(cfg, sl->sub, e)) == NULL ||
	    live_key(p, sl->method, sl->key_id, e) == -1)
		return -1;
	memset(id, 0, sizeof(*id));
	if (sl->session[0] != '\0') {
		if (live_session(cfg, p, sl->claims, e) == -1 ||
		    session_names(cfg, p, sl->session, id, e) == -1)
			return -1;
		id->claims = json_incref(sl->claims);
	} else if (strcmp(p->type, "role") == 0) {
		err_set(e, "login token: a role without a session");
		return -1;
	}
	id->principal = p;
	id->not_after = sl->exp;
	snprintf(id->method, sizeof(id->method), "%s", sl->method);
	snprintf(id->key_id, sizeof(id->key_id), "%s", sl->key_id);
	return 0;
}

/*
 * The session claims of a login token: "role" and "session" naming it
 * (sub must read assumed-role/ROLE/SESSION), "oidc" the flattened claims,
 * "oidc_issuer" where they came from. Fills sl->sub ("role/ROLE"),
 * sl->session and sl->claims (a new reference).
 */
static int
session_claims(const json_t *claims, const char *sub, struct cache_slot *sl,
    struct err *e)
{
	const char *role = claim_str(claims, REGAUTH_CLAIM_ROLE);
	const char *session = claim_str(claims, REGAUTH_CLAIM_SESSION);
	const char *issuer = claim_str(claims, REGAUTH_CLAIM_OIDC_ISSUER);
	const json_t *flat = json_object_get(claims, REGAUTH_CLAIM_OIDC);
	char want[160];

	if (role == NULL || session == NULL || issuer == NULL ||
	    !json_is_object(flat) || !config_valid_name(role) ||
	    !authn_valid_session(session)) {
		err_set(e, "login token: bad session claims");
		return -1;
	}
	snprintf(want, sizeof(want), "assumed-role/%s/%s", role, session);
	if (strcmp(sub, want) != 0) {
		err_set(e, "login token: sub does not name its session");
		return -1;
	}
	snprintf(sl->sub, sizeof(sl->sub), "role/%s", role);
	snprintf(sl->session, sizeof(sl->session), "%s", session);
	if ((sl->claims = session_context(flat, issuer)) == NULL) {
		err_set(e, "out of memory");
		return -1;
	}
	return 0;
}

int
authn_login_token(struct config *cfg, const char *token,
    struct identity *id, struct err *e)
{
	struct cache_slot sl;
	json_t *header = NULL, *claims = NULL;
	const json_t *kv;
	const char *s, *use, *aud, *iss, *m;
	json_int_t exp, nbf;
	int64_t now = util_now();
	size_t len = strlen(token);
	int rc = -1;

	memset(id, 0, sizeof(*id));
	memset(&sl, 0, sizeof(sl));
	if (len > LOGIN_TOKEN_MAX || !authn_looks_like_jwt(token)) {
		err_set(e, "login token: not a JWT");
		return -1;
	}
	SHA256((const unsigned char *)token, len, sl.digest);
	if (cache_get(cfg->logincache, sl.digest, now, &sl)) {
		rc = identity_from_slot(cfg, &sl, id, e);
		goto out;
	}
	if (jws_verify(token, len, keys_lookup, cfg->keys, &header, &claims,
	    e) == -1)
		goto out;
	iss = claim_str(claims, "iss");
	aud = claim_str(claims, "aud");
	use = claim_str(claims, REGAUTH_CLAIM_TOKEN_USE);
	s = claim_str(claims, "sub");
	if (iss == NULL || strcmp(iss, cfg->issuer) != 0) {
		err_set(e, "login token: wrong issuer");
		goto out;
	}
	if (aud == NULL || strcmp(aud, REGAUTH_LOGIN_AUDIENCE) != 0 ||
	    use == NULL || strcmp(use, REGAUTH_TOKEN_USE_LOGIN) != 0) {
		err_set(e, "login token: not a login token (audience)");
		goto out;
	}
	if (!json_is_integer(json_object_get(claims, "exp")) ||
	    !json_is_integer(json_object_get(claims, "nbf"))) {
		err_set(e, "login token: exp and nbf required");
		goto out;
	}
	exp = json_integer_value(json_object_get(claims, "exp"));
	nbf = json_integer_value(json_object_get(claims, "nbf"));
	if (exp <= now) {
		err_set(e, "login token: expired");
		goto out;
	}
	if (nbf > now + NBF_LEEWAY) {
		err_set(e, "login token: not yet valid");
		goto out;
	}
	if (s == NULL || strlen(s) >= sizeof(id->session_name)) {
		err_set(e, "login token: bad subject");
		goto out;
	}
	m = claim_str(claims, "auth_method");
	snprintf(sl.method, sizeof(sl.method), "%s", m ? m : "token");
	kv = json_object_get(claims, REGAUTH_CLAIM_KEY_ID);
	if (kv != NULL && (!json_is_string(kv) || json_string_length(kv) == 0 ||
	    json_string_length(kv) >= sizeof(sl.key_id))) {
		err_set(e, "login token: bad key_id");
		goto out;
	}
	snprintf(sl.key_id, sizeof(sl.key_id), "%s",
	    kv ? json_string_value(kv) : "");
	if (strncmp(s, "assumed-role/", 13) == 0) {
		if (session_claims(claims, s, &sl, e) == -1)
			goto out;
	} else
		snprintf(sl.sub, sizeof(sl.sub), "%s", s);
	sl.exp = exp;
	if (identity_from_slot(cfg, &sl, id, e) == -1)
		goto out;
	cache_put(cfg->logincache, &sl, now);
	rc = 0;
out:
	json_decref(sl.claims);
	json_decref(header);
	json_decref(claims);
	return rc;
}

static int check_user_password(struct config *, const char *,
    const char *, struct identity *, struct err *);

int
authn_credentials(struct config *cfg, const char *user, const char *secret,
    struct identity *id, struct err *e)
{
	struct err te;

	/*
	 * A login token with any user name; a password that merely looks like
	 * one still gets its password check.
	 */
	if (authn_looks_like_jwt(secret)) {
		if (authn_login_token(cfg, secret, id, &te) == 0)
			return 0;
		if (check_user_password(cfg, user, secret, id, e) == 0)
			return 0;
		*e = te;
		return -1;
	}
	return check_user_password(cfg, user, secret, id, e);
}

int
authn_password(struct config *cfg, const char *user, const char *secret,
    struct identity *id, struct err *e)
{
	return check_user_password(cfg, user, secret, id, e);
}

static int
check_user_password(struct config *cfg, const char *user,
    const char *secret, struct identity *id, struct err *e)
{
	const struct principal *p = NULL;
	unsigned char key[SHA256_DIGEST_LENGTH];
	char sub[CONFIG_NAME_MAX + 8];
	int64_t now = util_now();
	int keyed;

	pthread_once(&dummy_once, dummy_init);
	if (config_valid_name(user)) {
		snprintf(sub, sizeof(sub), "user/%s", user);
		p = config_principal(cfg, sub);
	}
	if (p == NULL || p->password_hash == NULL) {
		if (dummy != NULL)
			(void)check_password(dummy, secret);
		err_set(e, "password: unknown user or no password");
		return -1;
	}
	keyed = pw_key(cfg->logincache, user, secret, key) == 0;
	if (!keyed || pw_get(cfg->logincache, key, now) != p) {
		if (!check_password(p->password_hash, secret)) {
			err_set(e, "password: wrong password for %s",
			    p->short_name);
			OPENSSL_cleanse(key, sizeof(key));
			return -1;
		}
		if (keyed)
			pw_put(cfg->logincache, key, p, now);
	}
	OPENSSL_cleanse(key, sizeof(key));
	if (!p->enabled) {
		err_set(e, "password: %s is disabled", p->short_name);
		return -1;
	}
	memset(id, 0, sizeof(*id));	/* an output: never read */
	id->principal = p;
	snprintf(id->method, sizeof(id->method), "password");
	return 0;
}

/* What a login token says beyond its principal. */
struct login_claims {
	const char	*method;
	const char	*key_id;	/* may be NULL */
	const struct identity *session;	/* a federated session, or NULL */
};

/* The session claims of a login token (session_claims reads them). */
static int
add_session_claims(json_t *claims, const struct identity *id)
{
	const json_t *iss = json_object_get(id->claims, FEDERATED_KEY);
	const char *k;
	json_t *flat, *v;

	if (!json_is_string(iss) || (flat = json_object()) == NULL)
		return -1;
	json_object_foreach(id->claims, k, v)
		if (strncmp(k, OIDC_PREFIX, strlen(OIDC_PREFIX)) == 0 &&
		    json_object_set(flat, k + strlen(OIDC_PREFIX), v) == -1) {
			json_decref(flat);
			return -1;
		}
	if (json_object_set_new(claims, REGAUTH_CLAIM_OIDC, flat) == -1 ||
	    json_object_set_new(claims, REGAUTH_CLAIM_ROLE,
	    json_string(id->principal->name)) == -1 ||
	    json_object_set_new(claims, REGAUTH_CLAIM_SESSION,
	    json_string(id->session)) == -1 ||
	    json_object_set(claims, REGAUTH_CLAIM_OIDC_ISSUER,
	    (json_t *)iss) == -1)
		return -1;
	return 0;
}

static char *
issue_login_token(const struct config *cfg, const struct principal *p,
    const struct login_claims *lc, int64_t ttl, int64_t not_after,
    struct err *e)
{
	unsigned char r[16];
	char jti[33];
	int64_t now = util_now(), exp = now + ttl;
	const struct identity *sid = lc->session;
	json_t *claims;
	char *tok;
	size_t i;

	if (RAND_bytes(r, sizeof(r)) != 1) {
		err_set(e, "RAND_bytes failed");
		return NULL;
	}
	for (i = 0; i < sizeof(r); i++)
		snprintf(jti + 2 * i, 3, "%02x", r[i]);
	if (not_after != 0 && not_after < exp)
		exp = not_after;
	claims = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:s, s:s, s:s, s:s}",
	    "iss", cfg->issuer,
	    "sub", sid ? sid->session_name : p->short_name,
	    "aud", REGAUTH_LOGIN_AUDIENCE,
	    "exp", (json_int_t)exp,
	    "nbf", (json_int_t)(now - 30),
	    "iat", (json_int_t)now,
	    "jti", jti,
	    REGAUTH_CLAIM_TOKEN_USE, REGAUTH_TOKEN_USE_LOGIN,
	    "auth_method", lc->method,
	    "principal_type", p->type);
	if (claims != NULL && lc->key_id != NULL && lc->key_id[0] != '\0' &&
	    json_object_set_new(claims, REGAUTH_CLAIM_KEY_ID,
	    json_string(lc->key_id)) == -1) {
		json_decref(claims);
		claims = NULL;
	}
	if (claims != NULL && sid != NULL &&
	    add_session_claims(claims, sid) == -1) {
		json_decref(claims);
		claims = NULL;
	}
	if (claims == NULL) {
		err_set(e, "out of memory");
		return NULL;
	}
	tok = keys_sign(cfg->keys, claims, e);
	json_decref(claims);
	return tok;
}

char *
authn_issue_login_token(const struct config *cfg, const struct principal *p,
    const char *method, int64_t ttl, int64_t not_after, struct err *e)
{
	struct login_claims lc = { method, NULL, NULL };

	return issue_login_token(cfg, p, &lc, ttl, not_after, e);
}

char *
authn_issue_login_token_for(const struct config *cfg,
    const struct identity *id, int64_t ttl, struct err *e)
{
	struct login_claims lc = { id->method, id->key_id, NULL };

	if (id->session[0] != '\0')
		lc.session = id;
	return issue_login_token(cfg, id->principal, &lc, ttl, id->not_after,
	    e);
}

char *
authn_issue_key_login_token(const struct config *cfg,
    const struct principal *p, const char *key_id, int64_t ttl,
    struct err *e)
{
	struct login_claims lc = { "key", key_id, NULL };

	if (key_id == NULL || key_id[0] == '\0') {
		err_set(e, "%s: no key", __func__);
		return NULL;
	}
	return issue_login_token(cfg, p, &lc, ttl, 0, e);
}

int
authn_parse_basic(const char *header, char **user, char **pass)
{
	unsigned char *buf = NULL;
	const char *b64;
	size_t n, dlen, pad = 0;
	char *colon;
	int len, rc = -1;

	if (strncasecmp(header, "Basic ", 6) != 0)
		return -1;
	b64 = header + 6;
	while (*b64 == ' ')
		b64++;
	n = strlen(b64);
	while (n > 0 && b64[n - 1] == ' ')
		n--;
	if (n == 0 || n % 4 != 0 || n > 8192)
		return -1;
	if (strspn(b64, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789+/=") < n)
		return -1;
	if (b64[n - 1] == '=')
		pad = (b64[n - 2] == '=') ? 2 : 1;
	if (memchr(b64, '=', n - pad) != NULL)
		return -1;
	if ((buf = malloc(n / 4 * 3 + 1)) == NULL)
		return -1;
	len = EVP_DecodeBlock(buf, (const unsigned char *)b64, (int)n);
	if (len < 0 || (size_t)len < pad)
		goto out;
	dlen = (size_t)len - pad;
	buf[dlen] = '\0';
	if (memchr(buf, '\0', dlen) != NULL)
		goto out;
	if ((colon = memchr(buf, ':', dlen)) == NULL)
		goto out;
	*colon = '\0';
	if ((*user = strdup((char *)buf)) == NULL)
		goto out;
	if ((*pass = strdup(colon + 1)) == NULL) {
		free(*user);
		*user = NULL;
		goto out;
	}
	rc = 0;
out:
	OPENSSL_cleanse(buf, n / 4 * 3 + 1);
	free(buf);
	return rc;
}
