/*
 * The registry token: one decision per scope action through the policy
 * engine, the granted intersection in `access`, signed with the active key.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "buf.h"
#include "jws.h"
#include "keys.h"
#include "policy/policy.h"
#include "token.h"

#define REFS_INLINE 32	/* policies of one decision without an allocation */

static const char *const repo_actions[] = { "pull", "push", "delete" };

/* The request context of POLICY.md "Context keys regauth sets". */
static json_t *
make_context(const struct config *cfg, const struct identity *id,
    const struct token_request *rq, const char *service, int64_t now)
{
	char t[32], epoch[24], key[300];
	const struct principal *p = id->principal;
	const char *k;
	json_t *ctx, *v;

	util_rfc3339(now, t);
	snprintf(epoch, sizeof(epoch), "%lld", (long long)now);
	ctx = json_pack("{s:s, s:s, s:s, s:s, s:s}",
	    "aws:CurrentTime", t,
	    "aws:EpochTime", epoch,
	    "aws:SecureTransport", rq->secure ? "true" : "false",
	    "regauth:Service", service,
	    "regauth:AuthMethod", p ? id->method : "anonymous");
	if (ctx == NULL)
		return NULL;
	/* An unknown client address is absent: IpAddress fails closed. */
	if (rq->source_ip != NULL && rq->source_ip[0] != '\0') {
		json_object_set_new(ctx, "aws:SourceIp",
		    json_string(rq->source_ip));
		json_object_set_new(ctx, "regauth:SourceIp",
		    json_string(rq->source_ip));
	}
	if (rq->client_id != NULL)
		json_object_set_new(ctx, "regauth:ClientId",
		    json_string(rq->client_id));
	if (p != NULL) {
		/* As in IAM, only users have a user name. */
		if (strcmp(p->type, "user") == 0)
			json_object_set_new(ctx, "aws:username",
			    json_string(p->name));
		/* A session: its role's ARN, and userid "role/R:SESSION". */
		if (id->session[0] != '\0') {
			snprintf(key, sizeof(key), "%s:%s", p->short_name,
			    id->session);
			json_object_set_new(ctx, "aws:userid", json_string(key));
		} else
			json_object_set_new(ctx, "aws:userid",
			    json_string(p->short_name));
		json_object_set_new(ctx, "aws:PrincipalArn", json_string(p->arn));
		json_object_set_new(ctx, "aws:PrincipalType",
		    json_string(id->session[0] != '\0' ? "AssumedRole" :
		    strcmp(p->type, "user") == 0 ? "User" : "ServiceAccount"));
		json_object_foreach(p->tags, k, v) {
			snprintf(key, sizeof(key), "aws:PrincipalTag/%s", k);
			json_object_set(ctx, key, v);
		}
		/* The session's oidc:CLAIM keys and aws:FederatedProvider. */
		if (id->claims != NULL && json_object_update(ctx,
		    id->claims) == -1) {
			json_decref(ctx);
			return NULL;
		}
	}
	(void)cfg;
	return ctx;
}

/* What one token request decides with; the context is built on demand. */
struct env {
	const struct config		*cfg;
	const struct identity		*id;
	const struct token_request	*rq;
	const char			*service;
	int64_t				 now;
	const json_t			*overrides;	/* policy simulate --context */
	json_t				*ctx;	/* NULL until a policy needs it */
	int				 nomem;
	struct policy_ref		 inline_refs[REFS_INLINE];
	struct policy_ref		*refs;	/* inline_refs or malloc'ed */
	size_t				 cap;
};

/* Room for `want` policy references; -1 (and env->nomem) when out of memory. */
static int
grow_refs(struct env *env, size_t want)
{
	struct policy_ref *r;

	if ((r = malloc(want * sizeof(*r))) == NULL) {
		env->nomem = 1;
		return -1;
	}
	if (env->refs != env->inline_refs)
		free(env->refs);
	env->refs = r;
	env->cap = want;
	return 0;
}

/*
 * The decision of one scope action: the repository policies matching the
 * repository and the principal's own, through policy_registry_decide.
 * `why` (may be NULL) gets the deciding statements and their documents.
 * Implicit deny (with env->nomem set) when out of memory.
 */
static enum policy_decision
decide(struct env *env, const struct scope *sc, const char *action,
    struct token_why *why)
{
	const struct config *cfg = env->cfg;
	const struct identity *id = env->id;
	const char *service = env->service;
	int need = 0;
	char resource[SCOPE_NAME_MAX + 300];
	const struct principal *p = id->principal;
	struct policy_ref *refs;
	size_t n = 0, i, want, np = p ? p->npolicies : 0;
	int catalog = 0;
	struct policy_result local, *res = why ? &why->result : &local;
	enum policy_decision d;

	memset(res, 0, sizeof(*res));
	res->decision = POLICY_IMPLICIT_DENY;
	if (strcmp(sc->type, "registry") == 0) {
		if (strcmp(sc->name, "catalog") != 0 || strcmp(action, "*") != 0)
			return POLICY_IMPLICIT_DENY;
		catalog = 1;
		snprintf(resource, sizeof(resource), "*");
	} else if (strcmp(sc->type, "repository") == 0) {
		snprintf(resource, sizeof(resource),
		    "arn:regauth:registry:%s:%s:repository/%s", service,
		    cfg->account, sc->name);
		want = config_repo_policies(cfg, sc->name, env->refs,
		    env->cap, &n) + np;
		if (want > env->cap) {
			if (grow_refs(env, want) == -1)
				return POLICY_IMPLICIT_DENY;
			n = 0;
			config_repo_policies(cfg, sc->name, env->refs, env->cap,
			    &n);
		}
	} else
		return POLICY_IMPLICIT_DENY;
	/* A repository's room was made above; the catalog needs np. */
	if (n + np > env->cap && grow_refs(env, n + np) == -1)
		return POLICY_IMPLICIT_DENY;
	refs = env->refs;
	for (i = 0; i < np; i++) {
		refs[n] = p->policies[i];
		refs[n].index = (int)n;
		n++;
	}
	for (i = 0; i < n && !need; i++)
		need = policy_uses_context(refs[i].policy);
	if (need) {
		if (env->ctx == NULL && (env->ctx = make_context(cfg, id,
		    env->rq, service, env->now)) == NULL) {
			env->nomem = 1;
			return POLICY_IMPLICIT_DENY;
		}
		json_object_set_new(env->ctx, "regauth:Repository",
		    json_string(catalog ? "" : sc->name));
		if (env->overrides != NULL &&
		    json_object_update(env->ctx, (json_t *)env->overrides) == -1) {
			env->nomem = 1;
			return POLICY_IMPLICIT_DENY;
		}
	}
	d = policy_registry_decide(refs, n, authn_arn(id),
	    resource, catalog, action, need ? env->ctx : NULL, cfg->account,
	    res);
	if (why != NULL)
		for (i = 0; i < res->nmatches; i++) {
			size_t k = (size_t)res->matches[i].policy;
			why->policies[i] = k < n ? refs[k].policy : NULL;
			why->kinds[i] = k < n ? refs[k].kind : POLICY_IDENTITY;
		}
	return d;
}

/*
 * Set up `env` for one request: resolve the service and start with the
 * inline room for policy references.
 */
static int
env_init(struct env *env, const struct config *cfg, const struct identity *id,
    const struct token_request *rq, int64_t now, struct err *e)
{
	memset(env, 0, sizeof(*env));
	env->refs = env->inline_refs;
	env->cap = REFS_INLINE;
	env->cfg = cfg;
	env->id = id;
	env->rq = rq;
	env->now = now;
	if ((env->service = token_service(cfg, rq->service, e)) == NULL)
		return -1;
	return 0;
}

static void
env_clear(struct env *env)
{
	json_decref(env->ctx);
	env->ctx = NULL;
	if (env->refs != env->inline_refs)
		free(env->refs);
	env->refs = env->inline_refs;
}

const char *
token_service(const struct config *cfg, const char *asked, struct err *e)
{
	if (asked == NULL || *asked == '\0') {
		if (cfg->nservices != 1) {
			err_set(e, "service parameter required");
			return NULL;
		}
		return cfg->services[0];
	}
	if (!config_has_service(cfg, asked)) {
		err_set(e, "unknown service");
		return NULL;
	}
	return asked;
}

int
token_decide(const struct config *cfg, const struct identity *id,
    const struct token_request *rq, const struct scope *sc,
    const char *action, const json_t *overrides, struct token_why *why,
    struct err *e)
{
	struct env env;
	int rc = -1;

	memset(why, 0, sizeof(*why));
	why->result.decision = POLICY_IMPLICIT_DENY;
	if (env_init(&env, cfg, id, rq, util_now(), e) == -1)
		goto out;
	env.overrides = overrides;
	decide(&env, sc, action, why);
	if (env.nomem) {
		err_set(e, "out of memory");
		goto out;
	}
	rc = 0;
out:
	env_clear(&env);
	return rc;
}

void
token_audit_free(struct token_audit *a)
{
	if (a == NULL)
		return;
	free(a->v);
	a->v = NULL;
	a->n = a->cap = 0;
}

/*
 * Where to keep the reasons of one decision for the audit log: NULL when
 * not recording (the hot path) or out of memory (then a->nomem).
 */
static struct token_why *
audit_slot(struct token_audit *a, size_t scope, const char *action, int part)
{
	struct token_audit_entry *v;
	size_t cap;

	if (a == NULL || !a->record)
		return NULL;
	if (a->n == a->cap) {
		cap = a->cap ? a->cap * 2 : 8;
		if ((v = realloc(a->v, cap * sizeof(*v))) == NULL) {
			a->nomem = 1;
			return NULL;
		}
		a->v = v;
		a->cap = cap;
	}
	v = &a->v[a->n++];
	v->scope = scope;
	v->action = action;
	v->part = part;
	return &v->why;
}

/*
 * Append the granted actions of scope `sc` (number `idx` of the request)
 * to `access` (the claim) and, for OAuth answers, to `scopestr`. Nothing is
 * appended when nothing is granted.
 */
static void
grant(struct env *env, size_t idx, const struct scope *sc, struct buf *access,
    struct buf *scopestr)
{
	struct token_audit *au = env->rq->audit;
	const char *granted[SCOPE_ACTIONS_MAX + 3];
	size_t i, k, n = 0;

	if (au != NULL)
		au->asked += sc->nactions;
	for (i = 0; i < sc->nactions; i++) {
		const char *a = sc->actions[i];
		if (decide(env, sc, a, audit_slot(au, idx, a, 0)) ==
		    POLICY_ALLOW) {
			granted[n++] = a;
			continue;
		}
		if (au != NULL)
			au->denied++;
		/* "*" not wholly allowed: grant the parts that are. */
		if (strcmp(a, "*") != 0 || strcmp(sc->type, "repository") != 0)
			continue;
		for (k = 0; k < 3; k++) {
			size_t j;
			int asked = 0;
			for (j = 0; j < sc->nactions; j++)
				asked |= strcmp(sc->actions[j],
				    repo_actions[k]) == 0;
			if (!asked && decide(env, sc, repo_actions[k],
			    audit_slot(au, idx, repo_actions[k], 1)) ==
			    POLICY_ALLOW)
				granted[n++] = repo_actions[k];
		}
	}
	if (n == 0)
		return;
	buf_adds(access, access->len > 1 ? ",{\"type\":" : "{\"type\":");
	buf_json_string(access, sc->type);
	buf_adds(access, ",\"name\":");
	buf_json_string(access, sc->name);
	buf_adds(access, ",\"actions\":[");
	if (scopestr->len > 0)
		buf_add(scopestr, " ", 1);
	buf_printf(scopestr, "%s:%s:", sc->type, sc->name);
	for (i = 0; i < n; i++) {
		if (i > 0) {
			buf_add(access, ",", 1);
			buf_add(scopestr, ",", 1);
		}
		buf_json_string(access, granted[i]);
		buf_adds(scopestr, granted[i]);
	}
	buf_adds(access, "]}");
}

/*
 * Claims and answer are written as text: every string in them is either
 * validated ASCII (scopes, names) or escaped by buf_json_string.
 */
int
token_issue(const struct config *cfg, const struct identity *id,
    const struct token_request *rq, struct buf *resp, int *status,
    struct err *e)
{
	const struct signing_key *key = keys_active(cfg->keys);
	unsigned char r[16];
	char jti[33], issued[32], *tok = NULL, *refresh = NULL;
	const char *service;
	struct buf access, scopestr, claims;
	struct env env;
	int64_t now = util_now();
	size_t i;
	int rc = -1;

	*status = 500;
	buf_init(&access);
	buf_init(&scopestr);
	buf_init(&claims);
	if (env_init(&env, cfg, id, rq, now, e) == -1) {
		*status = 400;
		goto out;
	}
	service = env.service;
	if (rq->audit != NULL)
		rq->audit->service = service;
	buf_add(&access, "[", 1);
	for (i = 0; i < rq->scopes->n; i++)
		grant(&env, i, &rq->scopes->v[i], &access, &scopestr);
	buf_add(&access, "]", 1);
	if (env.nomem) {
		err_set(e, "out of memory");
		goto out;
	}
	if (RAND_bytes(r, sizeof(r)) != 1) {
		err_set(e, "RAND_bytes failed");
		goto out;
	}
	for (i = 0; i < sizeof(r); i++) {
		jti[2 * i] = "0123456789abcdef"[r[i] >> 4];
		jti[2 * i + 1] = "0123456789abcdef"[r[i] & 15];
	}
	jti[32] = '\0';
	buf_adds(&claims, "{\"iss\":");
	buf_json_string(&claims, cfg->issuer);
	buf_adds(&claims, ",\"sub\":");
	buf_json_string(&claims, authn_subject(id));
	buf_adds(&claims, ",\"aud\":");
	buf_json_string(&claims, service);
	buf_printf(&claims, ",\"exp\":%lld,\"nbf\":%lld,\"iat\":%lld,"
	    "\"jti\":\"%s\",\"access\":", (long long)(now +
	    cfg->registry_token_ttl), (long long)(now - 30), (long long)now, jti);
	buf_add(&claims, access.p, access.len);
	buf_add(&claims, "}", 1);
	if (buf_str(&claims) == NULL || buf_str(&access) == NULL ||
	    buf_str(&scopestr) == NULL) {
		err_set(e, "out of memory");
		goto out;
	}
	tok = jws_sign_new(key->pkey, key->alg, key->header_b64, claims.p,
	    claims.len, e);
	if (tok == NULL)
		goto out;
	if (rq->refresh_token != NULL) {
		if ((refresh = strdup(rq->refresh_token)) == NULL)
			goto out;
	} else if (rq->offline && id->principal != NULL) {
		if ((refresh = authn_issue_login_token_for(cfg, id,
		    cfg->login_token_ttl, e)) == NULL)
			goto out;
	}
	util_rfc3339(now, issued);
	if (rq->oauth) {
		buf_adds(resp, "{\"access_token\":\"");
		buf_adds(resp, tok);
		buf_adds(resp, "\",\"token_type\":\"Bearer\",\"scope\":");
		buf_json_string(resp, scopestr.p);
	} else {
		buf_adds(resp, "{\"token\":\"");
		buf_adds(resp, tok);
		buf_adds(resp, "\",\"access_token\":\"");
		buf_adds(resp, tok);
		buf_adds(resp, "\"");
	}
	buf_printf(resp, ",\"expires_in\":%lld,\"issued_at\":\"%s\"",
	    (long long)cfg->registry_token_ttl, issued);
	if (refresh != NULL) {
		buf_adds(resp, ",\"refresh_token\":");
		buf_json_string(resp, refresh);
	}
	buf_add(resp, "}", 1);
	if (buf_str(resp) == NULL) {
		buf_release(resp);
		err_set(e, "out of memory");
		goto out;
	}
	*status = 200;
	rc = 0;
out:
	if (rc == -1 && *status == 500 && e->msg[0] == '\0')
		err_set(e, "out of memory");
	util_secure_free_str(tok);
	util_secure_free_str(refresh);
	buf_release(&access);
	buf_release(&scopestr);
	buf_release(&claims);
	env_clear(&env);
	return rc;
}
