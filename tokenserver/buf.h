/*
 * A growable byte buffer for the hot path: JSON built by appending, without
 * a jansson tree per request. Strings from outside go through
 * buf_json_string, which escapes them as RFC 8259 requires.
 */
#ifndef REGAUTHD_BUF_H
#define REGAUTHD_BUF_H

#include <stddef.h>

struct buf {
	char	*p;
	size_t	 len, cap;
	int	 failed;	/* an allocation failed: the content is void */
	char	 small[1024];	/* no allocation for most requests */
};

void buf_init(struct buf *b);
/* Wipe (the buffer may hold a token) and free. */
void buf_release(struct buf *b);
void buf_add(struct buf *b, const char *s, size_t n);
void buf_adds(struct buf *b, const char *s);
void buf_printf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/*
 * A JSON string literal, quotes included. Bytes outside printable ASCII are
 * escaped one by one (\u00XX), so the output is valid JSON whatever the input;
 * pass only ASCII where the exact value matters (config.c enforces it for
 * issuer and service names, scope.c for scopes).
 */
void buf_json_string(struct buf *b, const char *s);
/* NUL-terminated contents, or NULL after a failed allocation. */
const char *buf_str(struct buf *b);

#endif
