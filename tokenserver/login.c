/*
 * POST /v1/login grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer: a
 * service account proves itself with a short ES256 assertion signed by one
 * of its keys (the server holds only the public halves), and gets a login
 * token bound to that key. Every refusal reaches the client as the same
 * 401; the reason goes to the log only.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include "regauth/wire.h"
#include "authn.h"
#include "config.h"
#include "jws.h"
#include "login.h"
#include "redisstore.h"

/* ---- the replay cache --------------------------------------------------- */

/*
 * Seen assertions by SHA-256 of sub NUL jti, each until its exp. A fixed
 * pool of entries chained from hash buckets; an expired entry is unlinked
 * when a walk meets it, and all are swept (at most once a second) when the
 * pool runs out. A full pool of unexpired entries refuses new assertions:
 * evicting one would let its jti be replayed. Indexes are stored plus one,
 * so 0 ends a chain.
 */
struct replay_entry {
	unsigned char	digest[SHA256_DIGEST_LENGTH];
	int64_t		exp;
	uint32_t	next;
};

static struct {
	pthread_mutex_t		 lock;
	struct replay_entry	*pool;
	uint32_t		*bucket;
	uint32_t		 free;		/* free list head */
	size_t			 cap, used, nbuckets;
	int64_t			 swept;		/* time of the last sweep */
	int64_t			 warned;	/* time of the last "full" log */
} replay = { PTHREAD_MUTEX_INITIALIZER, NULL, NULL, 0, LOGIN_REPLAY_SLOTS,
    0, 0, 0, 0 };

/* Allocate the pool on first use (lock held). */
static int
replay_init(void)
{
	size_t i, nb = 1;

	if (replay.pool != NULL)
		return 0;
	while (nb < replay.cap)
		nb *= 2;
	if ((replay.pool = calloc(replay.cap, sizeof(*replay.pool))) == NULL ||
	    (replay.bucket = calloc(nb, sizeof(*replay.bucket))) == NULL) {
		free(replay.pool);
		replay.pool = NULL;
		return -1;
	}
	replay.nbuckets = nb;
	for (i = 0; i < replay.cap; i++)
		replay.pool[i].next = i + 1 < replay.cap ? (uint32_t)(i + 2) : 0;
	replay.free = 1;
	replay.used = 0;
	return 0;
}

/* Unlink every expired entry of chain `b` (lock held). */
static void
replay_prune(size_t b, int64_t now)
{
	uint32_t *link = &replay.bucket[b], i;

	while ((i = *link) != 0) {
		struct replay_entry *en = &replay.pool[i - 1];
		if (en->exp > now) {
			link = &en->next;
			continue;
		}
		*link = en->next;
		en->next = replay.free;
		replay.free = i;
		replay.used--;
	}
}

int
login_replay_record(const char *sub, const char *jti, int64_t exp,
    int64_t now, struct err *e)
{
	unsigned char d[SHA256_DIGEST_LENGTH];
	char key[2 * CONFIG_NAME_MAX + 2 + LOGIN_JTI_MAX + 2];
	struct replay_entry *en;
	size_t b, sl = strlen(sub), jl = strlen(jti);
	uint32_t i;
	int rc = -1, full = 0;

	if (sl + 1 + jl > sizeof(key)) {
		err_set(e, "assertion: sub or jti too long");
		return -1;
	}
	memcpy(key, sub, sl + 1);
	memcpy(key + sl + 1, jti, jl);
	if (EVP_Digest(key, sl + 1 + jl, d, NULL, EVP_sha256(), NULL) != 1) {
		err_set(e, "assertion: SHA-256 failed");
		return -1;
	}
	pthread_mutex_lock(&replay.lock);
	if (replay_init() == -1) {
		err_set(e, "assertion: replay cache: out of memory");
		goto out;
	}
	b = (size_t)(((uint32_t)d[0] << 24 | (uint32_t)d[1] << 16 |
	    (uint32_t)d[2] << 8 | d[3]) & (replay.nbuckets - 1));
	replay_prune(b, now);
	for (i = replay.bucket[b]; i != 0; i = replay.pool[i - 1].next)
		if (CRYPTO_memcmp(replay.pool[i - 1].digest, d,
		    sizeof(d)) == 0) {
			err_set(e, "assertion: jti already used (replay)");
			goto out;
		}
	if (replay.free == 0 && replay.swept != now) {
		replay.swept = now;
		for (b = 0; b < replay.nbuckets; b++)
			replay_prune(b, now);
		b = (size_t)(((uint32_t)d[0] << 24 | (uint32_t)d[1] << 16 |
		    (uint32_t)d[2] << 8 | d[3]) & (replay.nbuckets - 1));
	}
	if (replay.free == 0) {
		err_set(e, "assertion: replay cache full (%zu unexpired "
		    "assertions); refused", replay.cap);
		full = replay.warned != now;
		replay.warned = now;
		goto out;
	}
	i = replay.free;
	en = &replay.pool[i - 1];
	replay.free = en->next;
	memcpy(en->digest, d, sizeof(d));
	en->exp = exp;
	en->next = replay.bucket[b];
	replay.bucket[b] = i;
	replay.used++;
	rc = 0;
out:
	pthread_mutex_unlock(&replay.lock);
	/* Once a second at most: a flood must not flood the log too. */
	if (full)
		fprintf(stderr, "{\"level\":\"error\",\"msg\":\"%s: replay cache "
		    "full: assertions refused until entries expire\"}\n",
		    __func__);
	return rc;
}

void
login_replay_reset(size_t slots)
{
	pthread_mutex_lock(&replay.lock);
	free(replay.pool);
	free(replay.bucket);
	replay.pool = NULL;
	replay.bucket = NULL;
	replay.free = 0;
	replay.used = 0;
	replay.swept = replay.warned = 0;
	replay.cap = slots > 0 && slots <= UINT32_MAX - 1 ? slots :
	    LOGIN_REPLAY_SLOTS;
	pthread_mutex_unlock(&replay.lock);
}

/* ---- the assertion -------------------------------------------------------- */

/* jws_verify's key lookup: an enabled key of one principal, ES256 only. */
struct sa_lookup {
	const struct principal		*p;
	const struct principal_key	*key;
	const char			*why;
};

static EVP_PKEY *
sa_key_lookup(void *arg, const json_t *header, enum jws_alg *alg)
{
	struct sa_lookup *sl = arg;
	const char *a = json_string_value(json_object_get(header, "alg"));
	const char *kid = json_string_value(json_object_get(header, "kid"));
	const struct principal_key *k;

	if (a == NULL || strcmp(a, "ES256") != 0) {
		sl->why = "header alg is not ES256";
		return NULL;
	}
	if (kid == NULL) {
		sl->why = "header has no kid";
		return NULL;
	}
	if ((k = config_principal_key(sl->p, kid)) == NULL) {
		sl->why = "kid names no key of the service account";
		return NULL;
	}
	if (!k->enabled) {
		sl->why = "kid names a disabled key";
		return NULL;
	}
	sl->key = k;
	*alg = JWS_ES256;
	return k->pkey;
}

/*
 * iss of the claims before the signature is checked: it only says whose
 * keys to try, and is compared again once verified. malloc'ed or NULL.
 */
static char *
unverified_iss(const char *tok, size_t len)
{
	const char *d1, *d2;
	unsigned char *pl = NULL;
	size_t plen = 0;
	json_t *c = NULL;
	struct err e;
	char *iss = NULL;

	if ((d1 = memchr(tok, '.', len)) == NULL ||
	    (d2 = memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - tok))) == NULL)
		return NULL;
	if ((pl = jws_b64url_decode_new(d1 + 1, (size_t)(d2 - d1 - 1),
	    &plen)) == NULL)
		return NULL;
	if ((c = util_json_loadb((const char *)pl, plen, "claims", &e)) != NULL &&
	    json_is_string(json_object_get(c, "iss")))
		iss = strdup(json_string_value(json_object_get(c, "iss")));
	json_decref(c);
	util_secure_free(pl, plen);
	return iss;
}

/* aud: our issuer, or a list (of at most 16 strings) that holds it. */
static int
aud_ok(const json_t *aud, const char *issuer)
{
	const json_t *v;
	size_t i;

	if (json_is_string(aud))
		return strcmp(json_string_value(aud), issuer) == 0;
	if (!json_is_array(aud) || json_array_size(aud) > 16)
		return 0;
	json_array_foreach(aud, i, v)
		if (json_is_string(v) && strcmp(json_string_value(v),
		    issuer) == 0)
			return 1;
	return 0;
}

int
login_assertion_check(struct config *cfg, const char *assertion,
    const struct principal **pout, char key_id[64], struct err *e)
{
	struct sa_lookup sl = { NULL, NULL, NULL };
	json_t *header = NULL, *claims = NULL;
	const json_t *v;
	const struct principal *p;
	const char *sub, *jti;
	json_int_t iat, exp;
	int64_t now = util_now();
	char *iss = NULL;
	size_t len;
	int rc = -1;

	if (assertion == NULL || assertion[0] == '\0') {
		err_set(e, "assertion: missing");
		goto out;
	}
	len = strlen(assertion);
	if (len > LOGIN_ASSERTION_MAX || !authn_looks_like_jwt(assertion)) {
		err_set(e, "assertion: not a JWT of at most %d bytes",
		    LOGIN_ASSERTION_MAX);
		goto out;
	}
	if ((iss = unverified_iss(assertion, len)) == NULL) {
		err_set(e, "assertion: no iss");
		goto out;
	}
	if ((p = config_principal(cfg, iss)) == NULL ||
	    strcmp(p->type, "serviceaccount") != 0) {
		err_set(e, "assertion: iss %.100s is not a service account", iss);
		goto out;
	}
	if (!p->enabled) {
		err_set(e, "assertion: %.100s is disabled", p->short_name);
		goto out;
	}
	sl.p = p;
	if (jws_verify(assertion, len, sa_key_lookup, &sl, &header, &claims,
	    e) == -1) {
		if (sl.why != NULL)
			err_set(e, "assertion: %s (%.100s)", sl.why,
			    p->short_name);
		else {
			struct err te = *e;
			err_set(e, "assertion: %.120s (%.60s)", te.msg,
			    p->short_name);
		}
		goto out;
	}
	/* From here on the claims are authenticated. */
	sub = json_string_value(json_object_get(claims, "sub"));
	if (!json_is_string(json_object_get(claims, "iss")) ||
	    strcmp(json_string_value(json_object_get(claims, "iss")),
	    p->short_name) != 0 || sub == NULL ||
	    strcmp(sub, p->short_name) != 0) {
		err_set(e, "assertion: iss and sub must both be %.100s",
		    p->short_name);
		goto out;
	}
	if (!aud_ok(json_object_get(claims, "aud"), cfg->issuer)) {
		err_set(e, "assertion: aud is not this server's issuer (%.100s)",
		    p->short_name);
		goto out;
	}
	if (!json_is_integer(json_object_get(claims, "iat")) ||
	    !json_is_integer(json_object_get(claims, "exp"))) {
		err_set(e, "assertion: iat and exp must be integers (%.100s)",
		    p->short_name);
		goto out;
	}
	iat = json_integer_value(json_object_get(claims, "iat"));
	exp = json_integer_value(json_object_get(claims, "exp"));
	/* exp is bounded first, so that no subtraction below can overflow. */
	if (exp <= now) {
		err_set(e, "assertion: expired (%.100s)", p->short_name);
		goto out;
	}
	if (exp > now + LOGIN_ASSERTION_TTL) {
		err_set(e, "assertion: exp more than %d s ahead (%.100s)",
		    LOGIN_ASSERTION_TTL, p->short_name);
		goto out;
	}
	if (iat > now + LOGIN_IAT_LEEWAY) {
		err_set(e, "assertion: iat in the future (%.100s)",
		    p->short_name);
		goto out;
	}
	if (iat < exp - LOGIN_ASSERTION_TTL || exp <= iat) {
		err_set(e, "assertion: exp must be after iat, by at most %d s "
		    "(%.100s)", LOGIN_ASSERTION_TTL, p->short_name);
		goto out;
	}
	v = json_object_get(claims, "nbf");
	if (v != NULL && (!json_is_integer(v) ||
	    json_integer_value(v) > now + LOGIN_IAT_LEEWAY)) {
		err_set(e, "assertion: not yet valid (nbf) (%.100s)",
		    p->short_name);
		goto out;
	}
	v = json_object_get(claims, "jti");
	jti = json_string_value(v);
	if (jti == NULL || strlen(jti) != json_string_length(v) ||
	    jti[0] == '\0' || strlen(jti) > LOGIN_JTI_MAX) {
		err_set(e, "assertion: jti must be 1 to %d bytes (%.100s)",
		    LOGIN_JTI_MAX, p->short_name);
		goto out;
	}
	/*
	 * Last: only an assertion that passed everything uses up its jti,
	 * in Redis when replicas share it (redisstore.c: fails closed).
	 */
	if ((rc = cfg->redis != NULL ? redisstore_replay_record(cfg->redis,
	    p->short_name, jti, exp, now, e) : login_replay_record(
	    p->short_name, jti, exp, now, e)) < 0)
		goto out;
	memcpy(key_id, sl.key->key_id, sizeof(sl.key->key_id));
	*pout = p;
	rc = 0;
out:
	free(iss);
	json_decref(header);
	json_decref(claims);
	return rc;
}

json_t *
login_assertion(struct config *cfg, const char *assertion,
    const struct principal **pout, int *status, struct err *e)
{
	const struct principal *p = NULL;
	char kid[64];
	char *tok;
	json_t *j;
	int rc;

	*status = 401;
	if ((rc = login_assertion_check(cfg, assertion, &p, kid, e)) < 0) {
		if (rc == -2)
			*status = 503;
		return NULL;
	}
	*status = 500;
	if ((tok = authn_issue_key_login_token(cfg, p, kid,
	    cfg->key_login_token_ttl, e)) == NULL)
		return NULL;
	j = json_pack("{s:s, s:s, s:I, s:s}", "access_token", tok,
	    "token_type", "Bearer", "expires_in",
	    (json_int_t)cfg->key_login_token_ttl, "principal", p->short_name);
	util_secure_free_str(tok);
	if (j == NULL) {
		err_set(e, "%s: out of memory", __func__);
		return NULL;
	}
	*status = 200;
	*pout = p;
	return j;
}

/* ---- token exchange: an OIDC token for a role ----------------------------- */

#define TRUST_ACTION	"sts:AssumeRoleWithWebIdentity"
#define SESSION_CLAIMS_MAX 8192	/* bytes of the claims a session carries */

#define REFUSE(code, ...) do {		\
	*status = (code);			\
	err_set(e, __VA_ARGS__);		\
} while (0)

/*
 * The context a trust policy sees: every claim as oidc:CLAIM and as
 * ISSUER-WITHOUT-SCHEME:CLAIM, the issuer, the time and the client.
 */
static json_t *
trust_context(const struct oidc_issuer *iss, const json_t *claims,
    const char *source_ip, int64_t now, struct err *e)
{
	char t[32], epoch[24], prefix[300];
	json_t *ctx;

	util_rfc3339(now, t);
	snprintf(epoch, sizeof(epoch), "%lld", (long long)now);
	snprintf(prefix, sizeof(prefix), "%s:", iss->key_prefix);
	if ((ctx = json_pack("{s:s, s:s, s:s}", "aws:CurrentTime", t,
	    "aws:EpochTime", epoch, "aws:FederatedProvider", iss->issuer)) ==
	    NULL) {
		err_set(e, "out of memory");
		return NULL;
	}
	if (source_ip != NULL) {
		json_object_set_new(ctx, "aws:SourceIp", json_string(source_ip));
		json_object_set_new(ctx, "regauth:SourceIp",
		    json_string(source_ip));
	}
	if (oidc_flatten_claims(claims, "oidc:", ctx, e) == -1 ||
	    oidc_flatten_claims(claims, prefix, ctx, e) == -1) {
		json_decref(ctx);
		return NULL;
	}
	return ctx;
}

int
login_trust_decide(const struct config *cfg, const struct principal *role,
    const struct oidc_issuer *iss, const json_t *claims,
    const char *source_ip, struct policy_result *res, struct err *e)
{
	struct policy_ref ref = { role->trust, POLICY_RESOURCE, 0 };
	struct policy_request rq;
	json_t *ctx;
	enum policy_decision d;

	if ((ctx = trust_context(iss, claims, source_ip, util_now(), e)) ==
	    NULL)
		return -1;
	memset(&rq, 0, sizeof(rq));
	rq.principal = iss->issuer;
	rq.action = TRUST_ACTION;
	rq.resource = role->arn;
	rq.context = ctx;
	rq.account = cfg->account;
	d = policy_evaluate(&ref, 1, &rq, res);
	json_decref(ctx);
	return d == POLICY_ALLOW ? 1 : 0;
}

json_t *
login_exchange(struct config *cfg, const struct login_exchange_req *rq,
    struct identity *id, int *status, struct err *e)
{
	const struct oidc_issuer *iss = NULL;
	const struct principal *role;
	char name[CONFIG_NAME_MAX + 8], session[AUTHN_SESSION_MAX + 1];
	json_t *claims = NULL, *flat = NULL, *j = NULL;
	const char *sub;
	char *tok = NULL, *text;
	size_t textlen;
	int64_t ttl;
	int trusted;

	memset(id, 0, sizeof(*id));
	*status = 400;
	if (rq->subject_token == NULL || rq->subject_token[0] == '\0') {
		REFUSE(400, "subject_token required");
		return NULL;
	}
	if (rq->subject_token_type == NULL ||
	    (strcmp(rq->subject_token_type, REGAUTH_TOKEN_TYPE_JWT) != 0 &&
	    strcmp(rq->subject_token_type, REGAUTH_TOKEN_TYPE_ID_TOKEN) != 0)) {
		REFUSE(400, "subject_token_type must be %s",
		    REGAUTH_TOKEN_TYPE_JWT);
		return NULL;
	}
	if (rq->role == NULL || !config_valid_name(rq->role)) {
		REFUSE(400, "role required: the name of a role");
		return NULL;
	}
	if (rq->session != NULL && !authn_valid_session(rq->session)) {
		REFUSE(400, "session must be 2 to 64 characters of "
		    "[A-Za-z0-9+=,.@-]");
		return NULL;
	}
	if (oidc_verify(cfg->issuers, cfg->nissuers, rq->subject_token,
	    util_now(), &iss, &claims, e) == -1) {
		*status = 401;
		return NULL;
	}
	sub = json_string_value(json_object_get(claims, "sub"));
	snprintf(name, sizeof(name), "role/%s", rq->role);
	role = config_principal(cfg, name);
	if (role == NULL || !role->enabled || role->trust == NULL) {
		REFUSE(403, "no enabled role %.64s", rq->role);
		goto out;
	}
	/* Claims a session cannot carry refuse the token, before any trust. */
	if ((flat = json_object()) == NULL ||
	    oidc_flatten_claims(claims, "", flat, e) == -1) {
		*status = 401;
		goto out;
	}
	if ((text = json_dumps(flat, JSON_COMPACT)) == NULL) {
		*status = 500;
		err_set(e, "out of memory");
		goto out;
	}
	textlen = strlen(text);
	free(text);
	if (textlen > SESSION_CLAIMS_MAX) {
		*status = 401;
		err_set(e, "the token's claims exceed %d bytes",
		    SESSION_CLAIMS_MAX);
		goto out;
	}
	if ((trusted = login_trust_decide(cfg, role, iss, claims,
	    rq->source_ip, NULL, e)) == -1) {
		*status = 401;
		goto out;
	}
	if (!trusted) {
		*status = 403;
		err_set(e, "the trust policy of role %.64s refuses %.200s "
		    "(sub %.200s)", rq->role, iss->issuer, sub ? sub : "");
		goto out;
	}
	if (rq->session != NULL)
		snprintf(session, sizeof(session), "%s", rq->session);
	else
		authn_session_from_sub(sub, session);
	*status = 500;
	if (authn_session_identity(cfg, role, session, iss->issuer, flat, id,
	    e) == -1)
		goto out;
	ttl = cfg->key_login_token_ttl < role->max_session ?
	    cfg->key_login_token_ttl : role->max_session;
	id->not_after = util_now() + ttl;	/* the session ends then */
	if ((tok = authn_issue_login_token_for(cfg, id, ttl, e)) == NULL)
		goto out;
	j = json_pack("{s:s, s:s, s:s, s:I, s:s}", "access_token", tok,
	    "issued_token_type", REGAUTH_TOKEN_TYPE_ACCESS, "token_type",
	    "Bearer", "expires_in", (json_int_t)ttl, "principal",
	    id->session_name);
	if (j == NULL)
		err_set(e, "out of memory");
	else
		*status = 200;
out:
	if (j == NULL)
		authn_identity_clear(id);
	util_secure_free_str(tok);
	json_decref(flat);
	json_decref(claims);
	return j;
}
