/*
 * IP addresses and CIDR blocks: the `trusted_proxies` setting and the
 * client address behind them (X-Forwarded-For).
 */
#ifndef REGAUTHD_NETADDR_H
#define REGAUTHD_NETADDR_H

#include <stddef.h>

#define NETADDR_TEXT_MAX	46	/* INET6_ADDRSTRLEN */
#define NETADDR_MAX_HOPS	32	/* X-Forwarded-For entries looked at */

/* An address (bits 128 or 32) or a block. IPv4-mapped IPv6 is IPv4. */
struct netaddr_cidr {
	int		family;		/* AF_INET, AF_INET6 */
	unsigned char	addr[16];	/* network order, host bits cleared */
	unsigned int	bits;
};

/*
 * Parse "ADDR" or "ADDR/BITS" (IPv4 or IPv6, as inet_pton reads them).
 * Host bits beyond the prefix are cleared. 0, or -1 when malformed.
 */
int netaddr_parse_cidr(const char *s, struct netaddr_cidr *out);

/* Is the address `s` inside one of the `n` blocks of `set`? */
int netaddr_in(const char *s, const struct netaddr_cidr *set, size_t n);

/*
 * The client address of a request whose TCP peer is `peer` and whose
 * X-Forwarded-For header (every instance, joined with ",") is `xff` (may be
 * NULL). When the peer is not a trusted proxy, the client is the peer and
 * the header is ignored (anyone can send it). When it is, the header is
 * read from the right: the client is the right-most address that is not a
 * trusted proxy, or the left-most one when every address is trusted.
 * Entries may carry optional whitespace, brackets around IPv6 and a port;
 * empty entries are skipped.
 *
 * Writes the canonical text into `out` and returns 0. Returns -1 with
 * `out` empty when the address cannot be known: an entry that is not an
 * address where the client would be read, or more than NETADDR_MAX_HOPS
 * trusted hops. A caller treats that as an unknown client (fail closed),
 * never as the proxy's address.
 */
int netaddr_client(const char *peer, const char *xff,
    const struct netaddr_cidr *trusted, size_t n, char *out, size_t sz);

#endif
