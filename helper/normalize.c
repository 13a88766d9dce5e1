/*
 * normalize: server strings to one key (see normalize.h).
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "normalize.h"

static const char *const hub_names[] = {
	"docker.io", "index.docker.io", "registry-1.docker.io",
	"registry.hub.docker.com", NULL
};

static int
host_char(int c)
{
	return isalnum(c) || c == '.' || c == '-' || c == '_';
}

/*
 * Split "host[:port]" (host may be "[v6]") from the authority in s, of n
 * bytes. Lowercases into host; port is "" when absent.
 */
static int
split_authority(const char *s, size_t n, char *host, size_t hostsz,
    char *port, size_t portsz)
{
	const char *colon = NULL, *end = s + n;
	size_t hl, i;

	if (n == 0)
		return -1;
	if (s[0] == '[') {
		const char *rb = memchr(s, ']', n);

		if (rb == NULL)
			return -1;
		hl = (size_t)(rb - s) + 1;
		for (i = 1; i < hl - 1; i++)
			if (!isxdigit((unsigned char)s[i]) && s[i] != ':' &&
			    s[i] != '.')
				return -1;
		if (rb + 1 < end) {
			if (rb[1] != ':')
				return -1;
			colon = rb + 1;
		}
	} else {
		colon = memchr(s, ':', n);
		hl = colon != NULL ? (size_t)(colon - s) : n;
		for (i = 0; i < hl; i++)
			if (!host_char((unsigned char)s[i]))
				return -1;
	}
	if (hl == 0 || hl >= hostsz)
		return -1;
	for (i = 0; i < hl; i++)
		host[i] = (char)tolower((unsigned char)s[i]);
	host[hl] = '\0';
	port[0] = '\0';
	if (colon != NULL) {
		size_t pl = (size_t)(end - colon - 1);

		if (pl == 0 || pl > 5 || pl >= portsz)
			return -1;
		for (i = 0; i < pl; i++)
			if (!isdigit((unsigned char)colon[1 + i]))
				return -1;
		memcpy(port, colon + 1, pl);
		port[pl] = '\0';
	}
	return 0;
}

/* Skip "scheme://" and "userinfo@"; return the authority and its length. */
static const char *
authority(const char *in, size_t *len, char *scheme, size_t schemesz)
{
	const char *p = in, *s, *at;
	size_t n;

	scheme[0] = '\0';
	s = strstr(p, "://");
	if (s != NULL && s > p && (size_t)(s - p) < schemesz &&
	    strcspn(p, "/") > (size_t)(s - p)) {
		size_t i;

		for (i = 0; p + i < s; i++)
			scheme[i] = (char)tolower((unsigned char)p[i]);
		scheme[i] = '\0';
		p = s + 3;
	}
	n = strcspn(p, "/?#");
	at = memchr(p, '@', n);
	if (at != NULL) {
		n -= (size_t)(at + 1 - p);
		p = at + 1;
	}
	*len = n;
	return p;
}

int
normalize_server(const char *in, char *out, size_t outsz)
{
	char host[NORMALIZE_MAX], port[8], scheme[16];
	const char *a;
	size_t n, i;
	int w;

	while (*in == ' ' || *in == '\t' || *in == '\n' || *in == '\r')
		in++;
	a = authority(in, &n, scheme, sizeof(scheme));
	while (n > 0 && (a[n - 1] == ' ' || a[n - 1] == '\n' ||
	    a[n - 1] == '\r' || a[n - 1] == '\t'))
		n--;
	if (split_authority(a, n, host, sizeof(host), port, sizeof(port)) ==
	    -1)
		return -1;
	if (strcmp(port, "443") == 0)
		port[0] = '\0';
	for (i = 0; hub_names[i] != NULL; i++)
		if (strcmp(host, hub_names[i]) == 0 && port[0] == '\0') {
			snprintf(host, sizeof(host), "docker.io");
			break;
		}
	w = snprintf(out, outsz, "%s%s%s", host, port[0] ? ":" : "", port);
	if (w < 0 || (size_t)w >= outsz)
		return -1;
	return 0;
}

int
normalize_is_loopback(const char *key)
{
	char host[NORMALIZE_MAX], port[8];
	size_t n = strlen(key);

	if (split_authority(key, n, host, sizeof(host), port,
	    sizeof(port)) == -1)
		return 0;
	if (strcmp(host, "localhost") == 0 || strcmp(host, "[::1]") == 0)
		return 1;
	n = strlen(host);
	if (n > 10 && strcmp(host + n - 10, ".localhost") == 0)
		return 1;
	if (strncmp(host, "127.", 4) == 0) {
		unsigned a, b, c, d;
		char extra;

		return sscanf(host, "%u.%u.%u.%u%c", &a, &b, &c, &d,
		    &extra) == 4 && a == 127 && b < 256 && c < 256 && d < 256;
	}
	return 0;
}

const char *
normalize_endpoint(const char *key)
{
	return strcmp(key, "docker.io") == 0 ? "registry-1.docker.io" : key;
}

int
normalize_origin(const char *url, char *out, size_t outsz)
{
	char host[NORMALIZE_MAX], port[8], scheme[16];
	const char *a;
	size_t n;
	int w;

	a = authority(url, &n, scheme, sizeof(scheme));
	if (scheme[0] == '\0' ||
	    split_authority(a, n, host, sizeof(host), port, sizeof(port)) == -1)
		return -1;
	if ((strcmp(scheme, "https") == 0 && strcmp(port, "443") == 0) ||
	    (strcmp(scheme, "http") == 0 && strcmp(port, "80") == 0))
		port[0] = '\0';
	w = snprintf(out, outsz, "%s://%s%s%s", scheme, host,
	    port[0] ? ":" : "", port);
	if (w < 0 || (size_t)w >= outsz)
		return -1;
	return 0;
}
