/*
 * Addresses, blocks and the client behind trusted proxies. Pure functions
 * over strings: the HTTP layer hands in the peer and the header.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "netaddr.h"

#define ENTRY_MAX	64	/* "[v6]:port" fits with room to spare */

static const unsigned char v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0xff, 0xff };

/* inet_pton of a bare address; IPv4-mapped IPv6 becomes IPv4. */
static int
parse_bare(const char *s, struct netaddr_cidr *out)
{
	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, s, out->addr) == 1) {
		out->family = AF_INET;
		out->bits = 32;
		return 0;
	}
	if (inet_pton(AF_INET6, s, out->addr) != 1)
		return -1;
	if (memcmp(out->addr, v4mapped, sizeof(v4mapped)) == 0) {
		memmove(out->addr, out->addr + 12, 4);
		memset(out->addr + 4, 0, 12);
		out->family = AF_INET;
		out->bits = 32;
		return 0;
	}
	out->family = AF_INET6;
	out->bits = 128;
	return 0;
}

static int
all_digits(const char *s, size_t min, size_t max)
{
	size_t n = strlen(s);

	return n >= min && n <= max && strspn(s, "0123456789") == n;
}

/*
 * One X-Forwarded-For entry, already trimmed: ADDR, [V6], [V6]:PORT or
 * V4:PORT. -1 on anything else.
 */
static int
parse_entry(const char *s, size_t len, struct netaddr_cidr *out)
{
	char buf[ENTRY_MAX + 1], *end, *colon;

	if (len == 0 || len > ENTRY_MAX || memchr(s, '\0', len) != NULL)
		return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (buf[0] == '[') {
		if ((end = strchr(buf, ']')) == NULL)
			return -1;
		if (end[1] != '\0' && (end[1] != ':' ||
		    !all_digits(end + 2, 1, 5)))
			return -1;
		*end = '\0';
		if (parse_bare(buf + 1, out) == -1 || out->family != AF_INET6)
			return -1;
		return 0;
	}
	colon = strchr(buf, ':');
	if (colon != NULL && strchr(colon + 1, ':') == NULL) {
		/* exactly one colon: IPv4 with a port */
		if (!all_digits(colon + 1, 1, 5))
			return -1;
		*colon = '\0';
		if (parse_bare(buf, out) == -1 || out->family != AF_INET)
			return -1;
		return 0;
	}
	return parse_bare(buf, out);
}

int
netaddr_parse_cidr(const char *s, struct netaddr_cidr *out)
{
	char buf[ENTRY_MAX + 1];
	const char *slash = strchr(s, '/');
	size_t len = slash ? (size_t)(slash - s) : strlen(s), i;
	unsigned int bits = 0, max;
	struct netaddr_cidr c;

	if (len == 0 || len > ENTRY_MAX)
		return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	/* A mapped address keeps its IPv6 prefix length meaning: refuse it. */
	if (parse_bare(buf, &c) == -1 ||
	    (c.family == AF_INET && strchr(buf, ':') != NULL && slash != NULL))
		return -1;
	max = c.family == AF_INET ? 32 : 128;
	if (slash != NULL) {
		if (!all_digits(slash + 1, 1, 3))
			return -1;
		for (i = 1; slash[i] != '\0'; i++)
			bits = bits * 10 + (unsigned int)(slash[i] - '0');
		if (bits > max)
			return -1;
	} else
		bits = max;
	for (i = 0; i < 16; i++) {
		unsigned int keep = bits > i * 8 ? bits - (unsigned int)i * 8 : 0;
		if (keep < 8)
			c.addr[i] &= (unsigned char)(0xff00u >> keep);
	}
	c.bits = bits;
	*out = c;
	return 0;
}

static int
in_block(const struct netaddr_cidr *a, const struct netaddr_cidr *b)
{
	unsigned int full = b->bits / 8, rest = b->bits % 8;

	if (a->family != b->family)
		return 0;
	if (memcmp(a->addr, b->addr, full) != 0)
		return 0;
	return rest == 0 ||
	    (a->addr[full] & (unsigned char)(0xff00u >> rest)) == b->addr[full];
}

static int
in_set(const struct netaddr_cidr *a, const struct netaddr_cidr *set,
    size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (in_block(a, &set[i]))
			return 1;
	return 0;
}

int
netaddr_in(const char *s, const struct netaddr_cidr *set, size_t n)
{
	struct netaddr_cidr a;

	return parse_entry(s, strlen(s), &a) == 0 && in_set(&a, set, n);
}

static int
text(const struct netaddr_cidr *a, char *out, size_t sz)
{
	char buf[NETADDR_TEXT_MAX];

	if (inet_ntop(a->family, a->addr, buf, sizeof(buf)) == NULL ||
	    strlen(buf) >= sz)
		return -1;
	memcpy(out, buf, strlen(buf) + 1);
	return 0;
}

static int
is_ows(char c)
{
	return c == ' ' || c == '\t';
}

int
netaddr_client(const char *peer, const char *xff,
    const struct netaddr_cidr *trusted, size_t n, char *out, size_t sz)
{
	struct netaddr_cidr cur, a;
	const char *end, *start, *s, *e;
	size_t hops = 0;

	if (sz == 0)
		return -1;
	out[0] = '\0';
	if (parse_entry(peer, strlen(peer), &cur) == -1) {
		/* Not an address at all ("-"): passed on as it is. */
		if (strlen(peer) >= sz)
			return -1;
		memcpy(out, peer, strlen(peer) + 1);
		return 0;
	}
	/* Not behind a proxy we trust: the peer; anyone can send the header. */
	if (!in_set(&cur, trusted, n))
		xff = NULL;
	end = xff != NULL ? xff + strlen(xff) : NULL;
	while (end != NULL) {
		for (start = end; start > xff && start[-1] != ','; start--)
			;
		for (s = start; s < end && is_ows(*s); s++)
			;
		for (e = end; e > s && is_ows(e[-1]); e--)
			;
		if (e > s) {	/* an empty list element is ignored */
			if (++hops > NETADDR_MAX_HOPS ||
			    parse_entry(s, (size_t)(e - s), &a) == -1)
				goto unknown;
			cur = a;
			if (!in_set(&a, trusted, n))
				break;
		}
		end = start > xff ? start - 1 : NULL;
	}
	/* The right-most untrusted address, or the left-most trusted one. */
	if (text(&cur, out, sz) == -1)
		goto unknown;
	return 0;
unknown:
	out[0] = '\0';
	return -1;
}
