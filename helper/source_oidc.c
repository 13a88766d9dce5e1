/*
 * source_oidc: OIDC tokens from files, the environment and GitHub Actions
 * (see source_oidc.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "regauth/wire.h"
#include "crypto_lazy.h"
#include "exchange.h"
#include "source_oidc.h"

static const char *
env(const char *name)
{
	const char *v = getenv(name);

	return v != NULL && v[0] != '\0' ? v : NULL;
}

int
source_oidc_find(const struct config *cfg, const char *key,
    struct source_oidc *s)
{
	memset(s, 0, sizeof(*s));
	s->audience = env(REGAUTH_ENV_OIDC_AUDIENCE);
	if (s->audience == NULL)
		s->audience = config_setting(cfg, key, "audience");
	s->from_env = 1;
	if ((s->file = env(REGAUTH_ENV_OIDC_TOKEN_FILE)) != NULL) {
		s->kind = SOURCE_OIDC_FILE;
		return 1;
	}
	if ((s->token = env(REGAUTH_ENV_OIDC_TOKEN)) != NULL) {
		s->kind = SOURCE_OIDC_ENV;
		return 1;
	}
	s->actions_url = env(REGAUTH_ENV_GHA_URL);
	s->actions_token = env(REGAUTH_ENV_GHA_TOKEN);
	if (s->actions_url != NULL && s->actions_token != NULL) {
		s->kind = SOURCE_OIDC_ACTIONS;
		return 1;
	}
	s->actions_url = s->actions_token = NULL;
	s->from_env = 0;
	if ((s->file = config_setting(cfg, key, "oidc_token_file")) != NULL) {
		s->kind = SOURCE_OIDC_FILE;
		return 1;
	}
	s->kind = SOURCE_OIDC_NONE;
	return 0;
}

const char *
source_oidc_name(const struct source_oidc *s, char *buf, size_t bufsz)
{
	switch (s->kind) {
	case SOURCE_OIDC_FILE:
		snprintf(buf, bufsz, "%s %s", s->from_env ?
		    REGAUTH_ENV_OIDC_TOKEN_FILE : "oidc_token_file", s->file);
		break;
	case SOURCE_OIDC_ENV:
		snprintf(buf, bufsz, "%s", REGAUTH_ENV_OIDC_TOKEN);
		break;
	case SOURCE_OIDC_ACTIONS:
		snprintf(buf, bufsz, "GitHub Actions");
		break;
	default:
		snprintf(buf, bufsz, "no OIDC token");
	}
	return buf;
}

/* Hex SHA-256 of n bytes; -1 with e set. */
static int
sha256_hex(const void *p, size_t n, char out[65], struct err *e)
{
	unsigned char md[32];
	int i;

	if (crypto_lazy_sha256(p, n, md, e) == -1)
		return -1;
	for (i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	return 0;
}

int
source_oidc_actions_identity(const struct source_oidc *s, char identity[65],
    struct err *e)
{
	char *text;
	size_t n;
	int ret;

	identity[0] = '\0';
	if (s->kind != SOURCE_OIDC_ACTIONS)
		return 0;
	/* the URL names the job; no secret goes into the hash */
	n = strlen(s->actions_url) + (s->audience ? strlen(s->audience) : 0) +
	    16;
	if ((text = malloc(n)) == NULL) {
		util_err(e, "out of memory");
		return -1;
	}
	snprintf(text, n, "actions\n%s\n%s", s->actions_url,
	    s->audience ? s->audience : "");
	if ((ret = sha256_hex(text, strlen(text), identity, e)) == -1)
		identity[0] = '\0';
	free(text);
	return ret;
}

/* A JWT is three base64url parts: refuse anything else before sending it. */
static int
jwt_shaped(const char *t)
{
	int dots = 0;

	for (; *t != '\0'; t++) {
		if (*t == '.')
			dots++;
		else if (!((*t >= 'A' && *t <= 'Z') || (*t >= 'a' && *t <= 'z') ||
		    (*t >= '0' && *t <= '9') || *t == '-' || *t == '_' ||
		    *t == '='))
			return 0;
	}
	return dots == 2;
}

int
source_oidc_decode(const char *token, const char *what,
    struct source_oidc_claims *c, struct err *e)
{
	static const char *const varying[] = { "exp", "iat", "nbf", "jti",
		NULL };
	const char *p1, *p2;
	unsigned char *raw = NULL;
	json_t *o = NULL, *k8s;
	char *canon = NULL;
	size_t n = 0, i;
	int ret = -1;

	memset(c, 0, sizeof(*c));
	if (!jwt_shaped(token) || (p1 = strchr(token, '.')) == NULL ||
	    (p2 = strchr(p1 + 1, '.')) == NULL)
		goto bad;
	raw = util_b64url_decode(p1 + 1, (size_t)(p2 - p1 - 1), &n);
	if (raw == NULL)
		goto bad;
	o = json_loadb((const char *)raw, n, 0, NULL);
	if (!json_is_object(o))
		goto bad;
	c->exp = json_integer_value(json_object_get(o, "exp"));
	c->iat = json_integer_value(json_object_get(o, "iat"));
	for (i = 0; varying[i] != NULL; i++)
		(void)json_object_del(o, varying[i]);
	/* Kubernetes' own refresh hint changes with every token too */
	k8s = json_object_get(o, "kubernetes.io");
	if (json_is_object(k8s))
		(void)json_object_del(k8s, "warnafter");
	canon = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	if (canon == NULL) {
		util_err(e, "out of memory");
		goto out;
	}
	if (sha256_hex(canon, strlen(canon), c->identity, e) == -1)
		goto out;
	ret = 0;
	goto out;
bad:
	util_err(e, "%s does not hold a JWT (three base64url parts with a "
	    "JSON payload)", what);
out:
	free(canon);
	json_decref(o);
	if (raw != NULL) {
		util_wipe(raw, n);
		free(raw);
	}
	return ret;
}

static char *
read_token_file(const char *name, const char *path, struct err *e)
{
	char *text = NULL, *t, *tok = NULL;
	size_t len = 0;

	if (util_read_file(path, SOURCE_OIDC_TOKEN_MAX, &text, &len, e) == -1) {
		char m[sizeof(e->msg)];

		snprintf(m, sizeof(m), "%s", e->msg);
		if (errno == ENOENT)
			util_err(e, "%s: the OIDC token file %s does not exist",
			    name, path);
		else
			util_err(e, "%s: %s", name, m);
		return NULL;
	}
	t = util_trim(text);
	if (t[0] == '\0')
		util_err(e, "%s: the OIDC token file %s is empty", name, path);
	else if ((tok = strdup(t)) == NULL)
		util_err(e, "out of memory");
	util_wipe(text, len);
	free(text);
	return tok;
}

static char *
env_token(const char *value, struct err *e)
{
	char *copy, *t, *tok = NULL;

	if (strlen(value) > SOURCE_OIDC_TOKEN_MAX) {
		util_err(e, "%s is larger than %d bytes", REGAUTH_ENV_OIDC_TOKEN,
		    SOURCE_OIDC_TOKEN_MAX);
		return NULL;
	}
	if ((copy = strdup(value)) == NULL) {
		util_err(e, "out of memory");
		return NULL;
	}
	t = util_trim(copy);
	if (t[0] == '\0')
		util_err(e, "%s is empty", REGAUTH_ENV_OIDC_TOKEN);
	else if ((tok = strdup(t)) == NULL)
		util_err(e, "out of memory");
	util_wipe(copy, strlen(value));
	free(copy);
	return tok;
}

char *
source_oidc_token(const struct source_oidc *s, const char *server,
    int *refused, struct err *e)
{
	char *tok = NULL, *issuer = NULL;
	const char *aud;
	int rc;

	if (refused != NULL)
		*refused = 0;
	switch (s->kind) {
	case SOURCE_OIDC_FILE:
		return read_token_file(s->from_env ?
		    REGAUTH_ENV_OIDC_TOKEN_FILE : "oidc_token_file", s->file, e);
	case SOURCE_OIDC_ENV:
		return env_token(s->token, e);
	case SOURCE_OIDC_ACTIONS:
		aud = s->audience;
		if (aud == NULL) {
			if (exchange_server_issuer(server, &issuer, e) == -1)
				return NULL;
			aud = issuer;
			util_debug("audience %s: the issuer of %s", aud, server);
		} else
			util_debug("audience %s (configured)", aud);
		rc = exchange_actions_token(s->actions_url, s->actions_token,
		    aud, SOURCE_OIDC_TOKEN_MAX, &tok, e);
		if (rc == EXCHANGE_REFUSED && refused != NULL)
			*refused = 1;
		free(issuer);
		return rc == 0 ? tok : NULL;
	default:
		util_err(e, "no OIDC token");
		return NULL;
	}
}
