/*
 * Policy variables (IAM_SEMANTICS.md section 5): `${key}`, `${key, 'def'}`
 * and the escapes `${*}` `${?}` `${$}`, parsed once into parts and expanded
 * per request into a caller's buffer. Substituted text is always literal.
 */
#include <string.h>
#include <strings.h>

#include "internal.h"

int
policy_tmpl_has_vars(const char *s)
{
	return strstr(s, "${") != NULL;
}

/* Copy `s` into the arena in glob form (only '\\' needs quoting). */
static const char *
glob_form(struct policy_arena *a, const char *s, size_t n)
{
	size_t i, extra = 0, o = 0;
	char *out;

	for (i = 0; i < n; i++)
		if (s[i] == POLICY_GLOB_ESC)
			extra++;
	if ((out = policy_arena_alloc(a, n + extra + 1)) == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		if (s[i] == POLICY_GLOB_ESC)
			out[o++] = POLICY_GLOB_ESC;
		out[o++] = s[i];
	}
	out[o] = '\0';
	return out;
}

static int
key_char_ok(char c)
{
	if ((unsigned char)c <= ' ' || (unsigned char)c >= 0x7f)
		return 0;
	return strchr("{}$',*?\"", c) == NULL;
}

/*
 * Parse the body of one `${...}` (without the braces) into `tp`.
 */
static int
parse_var(const char *b, size_t n, struct policy_tpart *tp, struct err *e)
{
	size_t i = 0, k;

	if (n == 1 && (b[0] == '*' || b[0] == '?' || b[0] == '$')) {
		tp->kind = TPART_CHAR;
		tp->s = b;
		tp->len = 1;
		return 0;
	}
	while (i < n && key_char_ok(b[i]))
		i++;
	if (i == 0) {
		err_set(e, "malformed policy variable \"${%.*s}\"", (int)n, b);
		return -1;
	}
	tp->kind = TPART_VAR;
	tp->s = b;
	tp->len = i;
	if (i == n)
		return 0;
	/* ", 'default'" */
	if (b[i] != ',')
		goto bad;
	i++;
	while (i < n && b[i] == ' ')
		i++;
	if (i >= n || b[i] != '\'')
		goto bad;
	k = ++i;
	while (i < n && b[i] != '\'')
		i++;
	if (i >= n)
		goto bad;
	tp->def = b + k;
	tp->deflen = i - k;
	i++;
	while (i < n && b[i] == ' ')
		i++;
	if (i != n)
		goto bad;
	return 0;
bad:
	err_set(e, "malformed policy variable \"${%.*s}\"", (int)n, b);
	return -1;
}

/*
 * Parse `s`: with `vars` off (or no "${" in it) the text is kept whole;
 * otherwise it is split into literal text, escapes and variables. Returns
 * 0, or -1 with `e` set on a malformed variable.
 */
int
policy_tmpl_parse(struct policy_arena *a, const char *s, int vars,
    struct policy_tmpl *t, struct err *e)
{
	const char *p, *q, *dup;
	size_t n = strlen(s), cap, np = 0;
	struct policy_tpart *parts;
	int rc = -1;

	memset(t, 0, sizeof(*t));
	if ((dup = policy_arena_strndup(a, s, n)) == NULL) {
		err_set(e, "out of memory");
		goto out;
	}
	if (!vars || !policy_tmpl_has_vars(s)) {
		t->raw = dup;
		t->rawlen = n;
		if ((t->glob = glob_form(a, dup, n)) == NULL) {
			err_set(e, "out of memory");
			goto out;
		}
		t->globlen = strlen(t->glob);
		rc = 0;
		goto out;
	}
	cap = 1;
	for (p = dup; (p = strstr(p, "${")) != NULL; p += 2)
		cap += 2;
	if ((parts = policy_arena_alloc(a, cap * sizeof(*parts))) == NULL) {
		err_set(e, "out of memory");
		goto out;
	}
	memset(parts, 0, cap * sizeof(*parts));
	p = dup;
	while (*p != '\0') {
		if ((q = strstr(p, "${")) == NULL)
			q = p + strlen(p);
		if (q > p) {
			parts[np].kind = TPART_LIT;
			parts[np].s = p;
			parts[np].len = (size_t)(q - p);
			np++;
		}
		if (*q == '\0')
			break;
		p = q + 2;
		if ((q = strchr(p, '}')) == NULL) {
			err_set(e, "policy variable without closing brace in "
			    "\"%.80s\"", s);
			goto out;
		}
		if (parse_var(p, (size_t)(q - p), &parts[np], e) == -1)
			goto out;
		np++;
		p = q + 1;
	}
	t->parts = parts;
	t->nparts = np;
	rc = 0;
out:
	return rc;
}

const json_t *
policy_ctx_get(const json_t *ctx, const char *key)
{
	const char *k;
	json_t *v;

	if (ctx == NULL || !json_is_object(ctx))
		return NULL;
	json_object_foreach((json_t *)ctx, k, v) {
		if (strcasecmp(k, key) == 0)
			return v;
	}
	return NULL;
}

/* Case-insensitive lookup of a key given as (s, n), not NUL-terminated. */
static const json_t *
ctx_get_n(const json_t *ctx, const char *key, size_t n)
{
	const char *k;
	json_t *v;

	if (ctx == NULL || !json_is_object(ctx))
		return NULL;
	json_object_foreach((json_t *)ctx, k, v) {
		if (strlen(k) == n && strncasecmp(k, key, n) == 0)
			return v;
	}
	return NULL;
}

static void
put(char *buf, size_t cap, size_t *o, char c)
{
	if (*o < cap)
		buf[*o] = c;
	(*o)++;
}

/* Append substituted (literal) text: quoted in glob mode. */
static void
put_lit(char *buf, size_t cap, size_t *o, const char *s, size_t n, int glob)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (glob && (s[i] == '*' || s[i] == '?' ||
		    s[i] == POLICY_GLOB_ESC))
			put(buf, cap, o, POLICY_GLOB_ESC);
		put(buf, cap, o, s[i]);
	}
}

int
policy_tmpl_expand(const struct policy_tmpl *t, const json_t *ctx, int glob,
    char *buf, size_t cap, size_t *need)
{
	const struct policy_tpart *tp;
	const json_t *v;
	size_t i, j, o = 0;

	if (t->nparts == 0) {
		const char *s = glob ? t->glob : t->raw;

		o = strlen(s);
		*need = o;
		if (o + 1 > cap)
			return 2;
		memcpy(buf, s, o + 1);
		return 0;
	}
	for (i = 0; i < t->nparts; i++) {
		tp = &t->parts[i];
		switch (tp->kind) {
		case TPART_LIT:
			for (j = 0; j < tp->len; j++) {
				if (glob && tp->s[j] == POLICY_GLOB_ESC)
					put(buf, cap, &o, POLICY_GLOB_ESC);
				put(buf, cap, &o, tp->s[j]);
			}
			break;
		case TPART_CHAR:
			put_lit(buf, cap, &o, tp->s, 1, glob);
			break;
		case TPART_VAR:
			v = ctx_get_n(ctx, tp->s, tp->len);
			if (v == NULL) {
				if (tp->def == NULL)
					return 1;
				put_lit(buf, cap, &o, tp->def, tp->deflen,
				    glob);
			} else if (json_is_string(v)) {
				put_lit(buf, cap, &o, json_string_value(v),
				    json_string_length(v), glob);
			} else {
				/* Only single-valued keys may be variables. */
				return 1;
			}
			break;
		}
	}
	*need = o;
	if (o + 1 > cap)
		return 2;
	buf[o] = '\0';
	return 0;
}
