/*
 * Scope parsing. Everything here handles attacker bytes: lengths are
 * bounded before copying and every character class is checked.
 */
#include <stdlib.h>
#include <string.h>

#include "scope.h"

void
scope_list_init(struct scope_list *l, size_t max)
{
	memset(l, 0, sizeof(*l));
	l->max = max;
}

void
scope_list_free(struct scope_list *l)
{
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static int
is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* type := [a-z0-9]+ ( '(' [a-z0-9]+ ')' )? ; the class is dropped. */
static int
parse_type(const char *s, size_t n, char out[SCOPE_TYPE_MAX + 1])
{
	size_t i = 0, t;

	while (i < n && is_lower_alnum(s[i]))
		i++;
	if (i == 0 || i > SCOPE_TYPE_MAX)
		return -1;
	t = i;
	if (i < n) {
		size_t c = ++i;
		if (s[t] != '(')
			return -1;
		while (i < n && is_lower_alnum(s[i]))
			i++;
		if (i == c || i + 1 != n || s[i] != ')')
			return -1;
	}
	memcpy(out, s, t);
	out[t] = '\0';
	return 0;
}

/* One path component: [a-z0-9]+ joined by '.', '_', '__' or runs of '-'. */
static int
valid_component(const char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		size_t start = i;
		while (i < n && is_lower_alnum(s[i]))
			i++;
		if (i == start)
			return 0;
		if (i == n)
			return 1;
		if (s[i] == '.')
			i++;
		else if (s[i] == '_')
			i += (i + 1 < n && s[i + 1] == '_') ? 2 : 1;
		else if (s[i] == '-')
			while (i < n && s[i] == '-')
				i++;
		else
			return 0;
		if (i == n)
			return 0;
	}
	return n > 0;
}

/* hostname [':' port]: labels of [A-Za-z0-9-] joined by dots, port digits. */
static int
valid_host(const char *s, size_t n)
{
	size_t i, colon = n, digits;

	for (i = 0; i < n; i++)
		if (s[i] == ':') {
			colon = i;
			break;
		}
	if (colon == 0)
		return 0;
	for (i = 0; i < colon; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '.'))
			return 0;
		if (c == '.' && (i == 0 || s[i - 1] == '.' || i + 1 == colon))
			return 0;
	}
	if (colon == n)
		return 1;
	digits = n - colon - 1;
	if (digits == 0 || digits > 5)
		return 0;
	for (i = colon + 1; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

int
scope_valid_repository(const char *name)
{
	size_t n = strlen(name), i, start = 0;
	int first = 1;

	if (n == 0 || n > SCOPE_NAME_MAX)
		return 0;
	for (i = 0; i <= n; i++) {
		if (i < n && name[i] != '/')
			continue;
		/*
		 * The first component is a host when it holds a '.' or ':',
		 * is "localhost", or has upper case (docker's reference rule),
		 * and more components follow.
		 */
		if (first && i < n) {
			const char *c = name;
			size_t len = i;
			if ((memchr(c, '.', len) || memchr(c, ':', len) ||
			    (len == 9 && memcmp(c, "localhost", 9) == 0)) &&
			    valid_host(c, len)) {
				first = 0;
				start = i + 1;
				continue;
			}
		}
		if (!valid_component(name + start, i - start))
			return 0;
		first = 0;
		start = i + 1;
	}
	return 1;
}

/* action := [a-z0-9_-]+ | '*' ; an empty list is legal and grants nothing. */
static int
valid_action(const char *s, size_t n)
{
	size_t i;

	if (n == 1 && s[0] == '*')
		return 1;
	if (n == 0 || n > SCOPE_ACTION_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (!is_lower_alnum(s[i]) && s[i] != '-' && s[i] != '_')
			return 0;
	return 1;
}

static void
add_action(struct scope *sc, const char *a, size_t n)
{
	size_t i;

	for (i = 0; i < sc->nactions; i++)
		if (strlen(sc->actions[i]) == n &&
		    memcmp(sc->actions[i], a, n) == 0)
			return;
	memcpy(sc->actions[sc->nactions], a, n);
	sc->actions[sc->nactions][n] = '\0';
	sc->nactions++;
}

static int
parse_one(struct scope_list *l, const char *s, size_t n, struct err *e)
{
	const char *first, *last, *a, *end = s + n;
	struct scope sc, *dst = NULL;
	size_t namelen, i;

	memset(&sc, 0, sizeof(sc));
	first = memchr(s, ':', n);
	last = memrchr(s, ':', n);
	if (first == NULL || first == last) {
		err_set(e, "malformed scope: want type:name:actions");
		return -1;
	}
	if (parse_type(s, (size_t)(first - s), sc.type) == -1) {
		err_set(e, "malformed scope: invalid resource type");
		return -1;
	}
	namelen = (size_t)(last - first - 1);
	if (namelen == 0 || namelen > SCOPE_NAME_MAX) {
		err_set(e, "malformed scope: invalid resource name");
		return -1;
	}
	memcpy(sc.name, first + 1, namelen);
	sc.name[namelen] = '\0';
	if (strcmp(sc.type, "repository") == 0 &&
	    !scope_valid_repository(sc.name)) {
		err_set(e, "malformed scope: invalid repository name");
		return -1;
	}
	if (strcmp(sc.type, "repository") != 0) {
		for (i = 0; i < namelen; i++)
			if ((unsigned char)sc.name[i] <= ' ' ||
			    (unsigned char)sc.name[i] >= 0x7f) {
				err_set(e, "malformed scope: invalid resource "
				    "name");
				return -1;
			}
	}
	for (i = 0; i < l->n; i++)
		if (strcmp(l->v[i].type, sc.type) == 0 &&
		    strcmp(l->v[i].name, sc.name) == 0) {
			dst = &l->v[i];
			break;
		}
	if (dst == NULL)
		dst = &sc;
	for (a = last + 1; a <= end;) {
		const char *comma = memchr(a, ',', (size_t)(end - a));
		const char *ae = comma ? comma : end;
		if (ae == a && comma == NULL && a == last + 1)
			break;		/* "type:name:" asks for nothing */
		if (!valid_action(a, (size_t)(ae - a))) {
			err_set(e, "malformed scope: invalid action");
			return -1;
		}
		if (dst->nactions == SCOPE_ACTIONS_MAX) {
			err_set(e, "malformed scope: too many actions");
			return -1;
		}
		add_action(dst, a, (size_t)(ae - a));
		if (comma == NULL)
			break;
		a = comma + 1;
	}
	if (dst != &sc)
		return 0;
	if (l->n == l->max) {
		err_set(e, "too many scopes (at most %zu)", l->max);
		return -1;
	}
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 4;
		struct scope *v;
		if (cap > l->max)
			cap = l->max;
		if ((v = realloc(l->v, cap * sizeof(*v))) == NULL) {
			err_set(e, "out of memory");
			return -1;
		}
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = sc;
	return 0;
}

int
scope_parse(struct scope_list *l, const char *value, struct err *e)
{
	const char *p = value, *sp;

	while (*p != '\0') {
		if (*p == ' ') {
			p++;
			continue;
		}
		sp = strchr(p, ' ');
		if (sp == NULL)
			sp = p + strlen(p);
		if (parse_one(l, p, (size_t)(sp - p), e) == -1)
			return -1;
		p = sp;
	}
	return 0;
}
