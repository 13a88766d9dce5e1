/*
 * discover: a registry's token server from its challenge (see discover.h).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "discover.h"
#include "exchange.h"
#include "normalize.h"

char *
discover_realm(const char *h)
{
	const char *p = h;
	char name[32], *val;
	size_t n, i;

	if (strncasecmp(p, "Bearer", 6) != 0 || (p[6] != ' ' && p[6] != '\t'))
		return NULL;
	p += 6;
	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '\0')
			return NULL;
		n = strcspn(p, "=, \t");
		if (p[n] != '=' || n == 0 || n >= sizeof(name))
			return NULL;
		for (i = 0; i < n; i++)
			name[i] = (char)tolower((unsigned char)p[i]);
		name[n] = '\0';
		p += n + 1;
		val = malloc(strlen(p) + 1);
		if (val == NULL)
			return NULL;
		i = 0;
		if (*p == '"') {
			for (p++; *p != '\0' && *p != '"'; p++) {
				if (*p == '\\' && p[1] != '\0')
					p++;
				val[i++] = *p;
			}
			if (*p != '"') {
				free(val);
				return NULL;
			}
			p++;
		} else
			while (*p != '\0' && *p != ',' && *p != ' ')
				val[i++] = *p++;
		val[i] = '\0';
		if (strcmp(name, "realm") == 0)
			return val;
		free(val);
	}
}

char *
discover_base(const char *realm)
{
	const char *auth = strstr(realm, "://"), *slash;
	size_t n;
	char *b;

	if (auth == NULL)
		return NULL;
	slash = strrchr(auth + 3, '/');
	n = slash != NULL ? (size_t)(slash - realm) : strlen(realm);
	b = strndup(realm, n);
	return b;
}

static int
try_scheme(const char *scheme, const char *key, char **server, struct err *e)
{
	char url[NORMALIZE_MAX + 32], *wa = NULL, *realm = NULL;
	long status = 0;
	int ret;

	snprintf(url, sizeof(url), "%s://%s/v2/", scheme,
	    normalize_endpoint(key));
	if (exchange_challenge(url, &status, &wa, e) == -1)
		return -1;
	realm = wa != NULL ? discover_realm(wa) : NULL;
	if (status != 401 || realm == NULL) {
		util_debug("%s answered %ld without a Bearer realm: not a "
		    "token-auth registry", url, status);
		util_err(e, "registry %s asks for no Bearer token", key);
		ret = DISCOVER_NOT_TOKEN;
		goto out;
	}
	*server = discover_base(realm);
	if (*server == NULL) {
		util_err(e, "registry %s names a malformed realm", key);
		ret = DISCOVER_NOT_TOKEN;
		goto out;
	}
	util_debug("registry %s: realm %s, token server %s", key, realm,
	    *server);
	ret = 0;
out:
	free(realm);
	free(wa);
	return ret;
}

int
discover_server(const char *key, int allow_http, char **server,
    struct err *e)
{
	int rc;

	rc = try_scheme("https", key, server, e);
	if (rc == -1 && (allow_http || normalize_is_loopback(key))) {
		util_debug("https failed for %s; trying plain http", key);
		rc = try_scheme("http", key, server, e);
	}
	return rc;
}
