#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "buf.h"

void
buf_init(struct buf *b)
{
	b->p = b->small;
	b->len = 0;
	b->cap = sizeof(b->small);
	b->failed = 0;
	b->small[0] = '\0';
}

void
buf_release(struct buf *b)
{
	OPENSSL_cleanse(b->p, b->len);
	if (b->p != b->small)
		free(b->p);
	buf_init(b);
}

static int
reserve(struct buf *b, size_t n)
{
	size_t cap;
	char *p;

	if (b->failed)
		return -1;
	if (b->len + n + 1 <= b->cap)
		return 0;
	cap = (b->len + n + 1) * 2;
	if (b->p == b->small) {
		if ((p = malloc(cap)) != NULL)
			memcpy(p, b->small, b->len + 1);
	} else
		p = realloc(b->p, cap);
	if (p == NULL) {
		b->failed = 1;
		return -1;
	}
	b->p = p;
	b->cap = cap;
	return 0;
}

void
buf_add(struct buf *b, const char *s, size_t n)
{
	if (reserve(b, n) == -1)
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void
buf_adds(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

void
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || reserve(b, (size_t)n) == -1)
		return;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void
buf_json_string(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *u = (const unsigned char *)s;
	const unsigned char *run = u;

	buf_add(b, "\"", 1);
	for (; *u != '\0'; u++) {
		char esc[6] = { '\\', 'u', '0', '0', 0, 0 };
		if (*u >= 0x20 && *u < 0x7f && *u != '"' && *u != '\\')
			continue;
		buf_add(b, (const char *)run, (size_t)(u - run));
		run = u + 1;
		if (*u == '"' || *u == '\\') {
			esc[1] = (char)*u;
			buf_add(b, esc, 2);
		} else {
			esc[4] = hex[*u >> 4];
			esc[5] = hex[*u & 15];
			buf_add(b, esc, 6);
		}
	}
	buf_add(b, (const char *)run, (size_t)(u - run));
	buf_add(b, "\"", 1);
}

const char *
buf_str(struct buf *b)
{
	return b->failed ? NULL : b->p;
}
