/*
 * A strict RFC 8259 scanner that records where every value and key is
 * (jsonpos.h). Iterative, with an explicit stack bounded by
 * JSONPOS_MAX_DEPTH; the nodes form a tree (first child, next sibling) that
 * jsonpos_find() walks one pointer token at a time.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonpos.h"

#define NONE UINT32_MAX

struct node {
	uint32_t	first, last, next;	/* children, siblings */
	uint32_t	nchildren;
	uint32_t	key_off, key_len;	/* decoded key in the pool */
	uint32_t	index;			/* position in the parent */
	int		line, col, key_line, key_col;
	char		type;			/* '{', '[', or 'v' */
};

struct jsonpos {
	struct node	*nodes;
	size_t		 nnodes, cap;
	char		*pool;			/* decoded member keys */
	size_t		 poollen, poolcap;
};

struct scan {
	const char	*buf;
	size_t		 len, pos, line_start;
	int		 line;
	struct jsonpos	*jp;
	struct err	*e;
	struct jsonpos_loc *errloc;
};

static int
fail(struct scan *s, const char *what)
{
	int col = (int)(s->pos - s->line_start) + 1;

	err_set(s->e, "%d:%d: %s", s->line, col, what);
	if (s->errloc != NULL) {
		s->errloc->line = s->line;
		s->errloc->col = col;
		s->errloc->key_line = s->errloc->key_col = 0;
	}
	return -1;
}

static void
skip_ws(struct scan *s)
{
	while (s->pos < s->len) {
		char c = s->buf[s->pos];

		if (c == '\n') {
			s->line++;
			s->line_start = s->pos + 1;
		} else if (c != ' ' && c != '\t' && c != '\r') {
			break;
		}
		s->pos++;
	}
}

static int
peek(const struct scan *s)
{
	return s->pos < s->len ? (unsigned char)s->buf[s->pos] : -1;
}

static int
pool_put(struct scan *s, const char *p, size_t n)
{
	struct jsonpos *jp = s->jp;
	char *np;
	size_t cap;

	if (jp->poolcap - jp->poollen < n) {
		cap = jp->poolcap ? jp->poolcap : 256;
		while (cap - jp->poollen < n)
			cap *= 2;
		if ((np = realloc(jp->pool, cap)) == NULL)
			return fail(s, "out of memory");
		jp->pool = np;
		jp->poolcap = cap;
	}
	memcpy(jp->pool + jp->poollen, p, n);
	jp->poollen += n;
	return 0;
}

static int
hex4(const char *p, unsigned *out)
{
	unsigned v = 0;
	int i;

	for (i = 0; i < 4; i++) {
		char c = p[i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned)(c - 'A' + 10);
		else
			return -1;
	}
	*out = v;
	return 0;
}

static size_t
utf8_put(unsigned cp, char out[4])
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | (cp >> 18));
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* Length of the valid UTF-8 sequence at p (n bytes left), or 0. */
static size_t
utf8_len(const unsigned char *p, size_t n)
{
	unsigned cp;
	size_t k, i;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		k = 2, cp = p[0] & 0x1f;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		k = 3, cp = p[0] & 0x0f;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		k = 4, cp = p[0] & 0x07;
	else
		return 0;
	if (n < k)
		return 0;
	for (i = 1; i < k; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if ((k == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (k == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return k;
}

/*
 * A string at s->pos (the opening quote). With `keep`, its decoded bytes
 * are appended to the pool.
 */
static int
scan_string(struct scan *s, int keep)
{
	const unsigned char *b = (const unsigned char *)s->buf;
	unsigned cp, lo;
	char u[4];
	size_t k;

	s->pos++;
	for (;;) {
		if (s->pos >= s->len)
			return fail(s, "unterminated string");
		if (b[s->pos] == '"') {
			s->pos++;
			return 0;
		}
		if (b[s->pos] < 0x20)
			return fail(s, "control character in a string");
		if (b[s->pos] != '\\') {
			if ((k = utf8_len(b + s->pos, s->len - s->pos)) == 0)
				return fail(s, "invalid UTF-8");
			if (keep && pool_put(s, s->buf + s->pos, k) == -1)
				return -1;
			s->pos += k;
			continue;
		}
		if (s->pos + 1 >= s->len)
			return fail(s, "unterminated string");
		switch (b[s->pos + 1]) {
		case '"': case '\\': case '/':
			u[0] = (char)b[s->pos + 1];
			k = 1;
			break;
		case 'b': u[0] = '\b'; k = 1; break;
		case 'f': u[0] = '\f'; k = 1; break;
		case 'n': u[0] = '\n'; k = 1; break;
		case 'r': u[0] = '\r'; k = 1; break;
		case 't': u[0] = '\t'; k = 1; break;
		case 'u':
			if (s->len - s->pos < 6 ||
			    hex4(s->buf + s->pos + 2, &cp) == -1)
				return fail(s, "invalid \\u escape");
			if (cp >= 0xdc00 && cp <= 0xdfff)
				return fail(s, "invalid \\u escape");
			if (cp >= 0xd800 && cp <= 0xdbff) {
				if (s->len - s->pos < 12 ||
				    s->buf[s->pos + 6] != '\\' ||
				    s->buf[s->pos + 7] != 'u' ||
				    hex4(s->buf + s->pos + 8, &lo) == -1 ||
				    lo < 0xdc00 || lo > 0xdfff)
					return fail(s, "invalid \\u escape");
				cp = 0x10000 + ((cp - 0xd800) << 10) +
				    (lo - 0xdc00);
				s->pos += 6;
			}
			k = utf8_put(cp, u);
			s->pos += 4;
			break;
		default:
			return fail(s, "invalid escape");
		}
		s->pos += 2;
		if (keep && pool_put(s, u, k) == -1)
			return -1;
	}
}

static int
digits(struct scan *s)
{
	size_t start = s->pos;

	while (s->pos < s->len && s->buf[s->pos] >= '0' &&
	    s->buf[s->pos] <= '9')
		s->pos++;
	return s->pos > start ? 0 : fail(s, "invalid number");
}

static int
scan_number(struct scan *s)
{
	if (peek(s) == '-')
		s->pos++;
	if (peek(s) == '0')
		s->pos++;
	else if (digits(s) == -1)
		return -1;
	if (peek(s) == '.') {
		s->pos++;
		if (digits(s) == -1)
			return -1;
	}
	if (peek(s) == 'e' || peek(s) == 'E') {
		s->pos++;
		if (peek(s) == '+' || peek(s) == '-')
			s->pos++;
		if (digits(s) == -1)
			return -1;
	}
	return 0;
}

static int
scan_scalar(struct scan *s)
{
	static const char *const words[] = { "true", "false", "null" };
	size_t i, n;
	int c = peek(s);

	if (c == '"')
		return scan_string(s, 0);
	if (c == '-' || (c >= '0' && c <= '9'))
		return scan_number(s);
	for (i = 0; i < 3; i++) {
		n = strlen(words[i]);
		if (s->len - s->pos >= n &&
		    memcmp(s->buf + s->pos, words[i], n) == 0) {
			s->pos += n;
			return 0;
		}
	}
	return fail(s, c == -1 ? "unexpected end of input" :
	    "unexpected character");
}

static uint32_t
add_node(struct scan *s, uint32_t parent)
{
	struct jsonpos *jp = s->jp;
	struct node *n, *nn;
	size_t cap;

	if (jp->nnodes == jp->cap) {
		cap = jp->cap ? jp->cap * 2 : 64;
		if (cap >= NONE || (nn = realloc(jp->nodes,
		    cap * sizeof(*nn))) == NULL) {
			fail(s, "out of memory");
			return NONE;
		}
		jp->nodes = nn;
		jp->cap = cap;
	}
	n = &jp->nodes[jp->nnodes];
	memset(n, 0, sizeof(*n));
	n->first = n->last = n->next = NONE;
	n->line = s->line;
	n->col = (int)(s->pos - s->line_start) + 1;
	n->type = 'v';
	if (parent != NONE) {
		struct node *p = &jp->nodes[parent];

		n->index = p->nchildren++;
		if (p->last == NONE)
			p->first = (uint32_t)jp->nnodes;
		else
			jp->nodes[p->last].next = (uint32_t)jp->nnodes;
		p->last = (uint32_t)jp->nnodes;
	}
	return (uint32_t)jp->nnodes++;
}

/* A member key and its ':' at s->pos; remembered for the next value. */
static int
scan_key(struct scan *s, uint32_t *off, uint32_t *len, int *line, int *col)
{
	if (peek(s) != '"')
		return fail(s, "expected a member name");
	*line = s->line;
	*col = (int)(s->pos - s->line_start) + 1;
	*off = (uint32_t)s->jp->poollen;
	if (scan_string(s, 1) == -1)
		return -1;
	*len = (uint32_t)(s->jp->poollen - *off);
	skip_ws(s);
	if (peek(s) != ':')
		return fail(s, "expected ':'");
	s->pos++;
	skip_ws(s);
	return 0;
}

struct jsonpos *
jsonpos_new(const char *buf, size_t len, struct jsonpos_loc *errloc,
    struct err *e)
{
	struct jsonpos *jp = NULL, *ret = NULL;
	struct scan s;
	uint32_t stack[JSONPOS_MAX_DEPTH], koff = 0, klen = 0, id;
	int depth = 0, kline = 0, kcol = 0, c;

	memset(&s, 0, sizeof(s));
	s.buf = buf;
	s.len = len;
	s.line = 1;
	s.e = e;
	s.errloc = errloc;
	if (len > UTIL_JSON_MAX_BYTES) {
		fail(&s, "document too large");
		goto out;
	}
	if ((jp = calloc(1, sizeof(*jp))) == NULL) {
		fail(&s, "out of memory");
		goto out;
	}
	s.jp = jp;
	skip_ws(&s);
	for (;;) {
		/* A value is expected here. */
		if ((id = add_node(&s, depth ? stack[depth - 1] : NONE)) ==
		    NONE)
			goto out;
		if (depth > 0 && jp->nodes[stack[depth - 1]].type == '{') {
			jp->nodes[id].key_off = koff;
			jp->nodes[id].key_len = klen;
			jp->nodes[id].key_line = kline;
			jp->nodes[id].key_col = kcol;
		}
		c = peek(&s);
		if (c == '{' || c == '[') {
			if (depth == JSONPOS_MAX_DEPTH) {
				fail(&s, "nested too deeply");
				goto out;
			}
			jp->nodes[id].type = (char)c;
			stack[depth++] = id;
			s.pos++;
			skip_ws(&s);
			if (peek(&s) != (c == '{' ? '}' : ']')) {
				if (c == '{' && scan_key(&s, &koff, &klen,
				    &kline, &kcol) == -1)
					goto out;
				continue;
			}
			s.pos++;
			depth--;
		} else if (scan_scalar(&s) == -1) {
			goto out;
		}
		/* After a value: ',' or the end of containers. */
		for (;;) {
			skip_ws(&s);
			if (depth == 0) {
				if (s.pos != s.len) {
					fail(&s, "text after the document");
					goto out;
				}
				ret = jp;
				jp = NULL;
				goto out;
			}
			c = peek(&s);
			if (c == ',') {
				s.pos++;
				skip_ws(&s);
				if (jp->nodes[stack[depth - 1]].type == '{' &&
				    scan_key(&s, &koff, &klen, &kline,
				    &kcol) == -1)
					goto out;
				break;
			}
			if (c != (jp->nodes[stack[depth - 1]].type == '{' ?
			    '}' : ']')) {
				fail(&s, c == -1 ? "unexpected end of input" :
				    "expected ',' or the end of the container");
				goto out;
			}
			s.pos++;
			depth--;
		}
	}
out:
	jsonpos_free(jp);
	return ret;
}

void
jsonpos_free(struct jsonpos *jp)
{
	if (jp == NULL)
		return;
	free(jp->nodes);
	free(jp->pool);
	free(jp);
}

static void
fill(const struct node *n, struct jsonpos_loc *loc)
{
	loc->line = n->line;
	loc->col = n->col;
	loc->key_line = n->key_line;
	loc->key_col = n->key_col;
}

/*
 * The unescaped token at p (up to '/' or the end) into buf; -1 when it is
 * malformed, -2 when it does not fit.
 */
static int
token(const char *p, const char **end, char *buf, size_t cap, size_t *n)
{
	size_t o = 0;

	for (; *p != '\0' && *p != '/'; p++) {
		char c = *p;

		if (c == '~') {
			if (p[1] == '0')
				c = '~';
			else if (p[1] == '1')
				c = '/';
			else
				return -1;
			p++;
		}
		if (o + 1 >= cap)
			return -2;
		buf[o++] = c;
	}
	buf[o] = '\0';
	*n = o;
	*end = p;
	return 0;
}

int
jsonpos_find(const struct jsonpos *jp, const char *path,
    struct jsonpos_loc *loc)
{
	char tok[1024];
	const struct node *cur;
	const char *p = path, *end;
	uint32_t k;
	size_t n, idx, i;

	if (jp == NULL || jp->nnodes == 0)
		return -1;
	cur = &jp->nodes[0];
	fill(cur, loc);
	while (*p != '\0') {
		if (*p != '/')
			return -1;
		switch (token(p + 1, &end, tok, sizeof(tok), &n)) {
		case -1:
			return -1;
		case -2:
			return 1;	/* longer than any key we compare */
		}
		p = end;
		if (cur->type == '{') {
			for (k = cur->first; k != NONE; k = jp->nodes[k].next)
				if (jp->nodes[k].key_len == n &&
				    memcmp(jp->pool + jp->nodes[k].key_off,
				    tok, n) == 0)
					break;
		} else if (cur->type == '[') {
			k = NONE;
			if (n == 0 || n > 9 || (n > 1 && tok[0] == '0'))
				return 1;
			for (idx = 0, i = 0; i < n; i++) {
				if (tok[i] < '0' || tok[i] > '9')
					return 1;
				idx = idx * 10 + (size_t)(tok[i] - '0');
			}
			for (k = cur->first; k != NONE && idx > 0;
			    k = jp->nodes[k].next)
				idx--;
		} else {
			k = NONE;
		}
		if (k == NONE)
			return 1;
		cur = &jp->nodes[k];
		fill(cur, loc);
	}
	return 0;
}

int
jsonpos_path_add(char *path, size_t sz, const char *tok)
{
	size_t n = strlen(path), o = n;

	if (o + 1 >= sz)
		return -1;
	path[o++] = '/';
	for (; *tok != '\0'; tok++) {
		if (o + 3 >= sz) {
			path[n] = '\0';
			return -1;
		}
		if (*tok == '~' || *tok == '/') {
			path[o++] = '~';
			path[o++] = *tok == '~' ? '0' : '1';
		} else {
			path[o++] = *tok;
		}
	}
	path[o] = '\0';
	return 0;
}

int
jsonpos_path_add_index(char *path, size_t sz, size_t index)
{
	size_t n = strlen(path);
	int w;

	if (n >= sz)
		return -1;
	w = snprintf(path + n, sz - n, "/%zu", index);
	if (w < 0 || (size_t)w >= sz - n) {
		path[n] = '\0';
		return -1;
	}
	return 0;
}
