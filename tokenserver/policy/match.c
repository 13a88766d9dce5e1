/*
 * Matching (IAM_SEMANTICS.md section 2): the glob, actions, principals.
 * Nothing here allocates: these run for every statement of every decision.
 */
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

static int
ch_eq(char a, char b, int icase)
{
	if (a == b)
		return 1;
	if (!icase)
		return 0;
	if (a >= 'A' && a <= 'Z')
		a = (char)(a - 'A' + 'a');
	if (b >= 'A' && b <= 'Z')
		b = (char)(b - 'A' + 'a');
	return a == b;
}

/*
 * After a '*' a match can only go on where `s` holds the plain byte that
 * follows the '*' in the pattern: the next such place from star_s, or
 * SIZE_MAX when there is none (then nothing matches). Case-sensitive
 * globs only; otherwise star_s as it is.
 */
static size_t
star_seek(const char *pat, size_t plen, size_t star_p, const char *s,
    size_t slen, size_t star_s, int icase)
{
	const char *q;
	char c;

	if (icase || star_p >= plen || star_s >= slen)
		return star_s;
	c = pat[star_p];
	if (c == '*' || c == '?' || c == POLICY_GLOB_ESC)
		return star_s;
	if ((q = memchr(s + star_s, c, slen - star_s)) == NULL)
		return SIZE_MAX;
	return (size_t)(q - s);
}

/*
 * Glob `pat` (glob form: '*' any run, '?' one byte, '\\' quotes the next
 * byte) against the whole of `s`. Neither '/' nor ':' is special. Linear
 * backtracking to the last '*' keeps the worst case at plen * slen; a
 * '*' skips to where the literal after it occurs (star_seek).
 */
int
policy_glob_n(const char *pat, size_t plen, const char *s, size_t slen,
    int icase)
{
	size_t pi = 0, si = 0, star_p = SIZE_MAX, star_s = 0;

	while (si < slen) {
		if (pi < plen) {
			char c = pat[pi];
			size_t adv = 1;

			if (c == '*') {
				star_p = ++pi;
				if (star_p == plen)
					return 1;	/* a final '*': the rest */
				if ((star_s = star_seek(pat, plen, star_p, s,
				    slen, si, icase)) == SIZE_MAX)
					return 0;
				si = star_s;
				continue;
			}
			if (c == '?') {
				pi++;
				si++;
				continue;
			}
			if (!icase && c != POLICY_GLOB_ESC) {
				/* A run of plain bytes at once. */
				size_t e = pi + 1;

				while (e < plen && pat[e] != '*' &&
				    pat[e] != '?' && pat[e] != POLICY_GLOB_ESC)
					e++;
				if (e - pi <= slen - si &&
				    memcmp(pat + pi, s + si, e - pi) == 0) {
					si += e - pi;
					pi = e;
					continue;
				}
				goto mismatch;
			}
			if (c == POLICY_GLOB_ESC && pi + 1 < plen) {
				c = pat[pi + 1];
				adv = 2;
			}
			if (ch_eq(c, s[si], icase)) {
				pi += adv;
				si++;
				continue;
			}
		}
mismatch:
		if (star_p == SIZE_MAX)
			return 0;
		pi = star_p;
		if ((star_s = star_seek(pat, plen, star_p, s, slen, star_s + 1,
		    icase)) == SIZE_MAX)
			return 0;
		si = star_s;
	}
	while (pi < plen && pat[pi] == '*')
		pi++;
	return pi == plen;
}

/*
 * Compile glob-form `glob` (len bytes) into `g`, in the arena: the same
 * reading as policy_glob_n's (a '\\' quotes the next byte; a final one is
 * itself). -1 when out of memory.
 */
int
policy_cglob_compile(struct policy_arena *a, const char *glob, size_t len,
    struct policy_cglob *g)
{
	struct policy_gseg *segs;
	size_t i, n = 0, o = 0, max = 1;
	char *lit, prev = 0, k;

	/* Room: a segment where the kind changes (at most). */
	for (i = 0; i < len; i++) {
		k = glob[i] == '*' || glob[i] == '?' ? glob[i] : 'l';
		if (glob[i] == POLICY_GLOB_ESC)
			i++;
		max += k != prev;
		prev = k;
	}
	memset(g, 0, sizeof(*g));
	g->last_star = SIZE_MAX;
	if ((segs = policy_arena_alloc(a, max * sizeof(*segs))) == NULL ||
	    (lit = policy_arena_alloc(a, len + 1)) == NULL)
		return -1;
	i = 0;
	while (i < len) {
		char c = glob[i];

		if (c == '*') {
			if (n == 0 || segs[n - 1].kind != GSEG_STAR) {
				segs[n].kind = GSEG_STAR;
				segs[n].len = 0;
				segs[n].s = NULL;
				g->last_star = n++;
			}
			i++;
			continue;
		}
		if (c == '?') {
			if (n == 0 || segs[n - 1].kind != GSEG_ONE) {
				segs[n].kind = GSEG_ONE;
				segs[n].len = 0;
				segs[n].s = NULL;
				n++;
			}
			segs[n - 1].len++;
			g->minlen++;
			i++;
			continue;
		}
		if (c == POLICY_GLOB_ESC && i + 1 < len)
			c = glob[++i];
		if (n == 0 || segs[n - 1].kind != GSEG_LIT) {
			segs[n].kind = GSEG_LIT;
			segs[n].len = 0;
			segs[n].s = lit + o;
			n++;
		}
		lit[o++] = c;
		segs[n - 1].len++;
		g->minlen++;
		i++;
	}
	lit[o] = '\0';
	/* The head: a leading literal run. */
	if (n > 0 && segs[0].kind == GSEG_LIT) {
		g->head = segs[0].s;
		g->headlen = segs[0].len;
		segs++;
		n--;
		if (g->last_star != SIZE_MAX)
			g->last_star--;
	} else {
		g->head = lit;
		g->headlen = 0;
	}
	g->segs = segs;
	g->nsegs = n;
	if (g->last_star != SIZE_MAX)
		for (i = g->last_star + 1; i < n; i++)
			g->taillen += segs[i].len;
	return 0;
}

/* Segments without a '*' against s, which has exactly their length. */
static int
fixed_match(const struct policy_gseg *g, size_t n, const char *s)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (g[i].kind == GSEG_LIT && memcmp(g[i].s, s, g[i].len) != 0)
			return 0;
		s += g[i].len;
	}
	return 1;
}

/* Where a match may go on after a '*' followed by `next`: as star_seek. */
static size_t
seg_seek(const struct policy_gseg *next, const char *s, size_t slen,
    size_t from)
{
	const char *q;

	if (from > slen)
		return SIZE_MAX;
	if (next->kind != GSEG_LIT)
		return from;
	if (from >= slen ||
	    (q = memchr(s + from, next->s[0], slen - from)) == NULL)
		return SIZE_MAX;
	return (size_t)(q - s);
}

/*
 * policy_glob_n's algorithm a run at a time: backtracking to the last '*'
 * only; after the last '*' the rest has a fixed length, so it can only
 * match at the end of `s`.
 */
int
policy_cglob_match(const struct policy_cglob *g, const char *s, size_t slen)
{
	const struct policy_gseg *sg = g->segs;
	size_t n = g->nsegs, i = 0, si, star_i = SIZE_MAX, star_si = 0;

	if (slen < g->minlen || memcmp(g->head, s, g->headlen) != 0)
		return 0;
	si = g->headlen;
	for (;;) {
		if (i == n) {
			if (si == slen)
				return 1;
			goto fail;
		}
		switch (sg[i].kind) {
		case GSEG_STAR:
			if (i == g->last_star)
				return slen - si >= g->taillen &&
				    fixed_match(sg + i + 1, n - i - 1,
				    s + slen - g->taillen);
			star_i = ++i;
			if ((star_si = seg_seek(&sg[i], s, slen, si)) ==
			    SIZE_MAX)
				return 0;
			si = star_si;
			continue;
		case GSEG_ONE:
			if (slen - si >= sg[i].len) {
				si += sg[i].len;
				i++;
				continue;
			}
			goto fail;
		case GSEG_LIT:
			if (slen - si >= sg[i].len &&
			    memcmp(sg[i].s, s + si, sg[i].len) == 0) {
				si += sg[i].len;
				i++;
				continue;
			}
			goto fail;
		}
fail:
		if (star_i == SIZE_MAX)
			return 0;
		if ((star_si = seg_seek(&sg[star_i], s, slen, star_si + 1)) ==
		    SIZE_MAX)
			return 0;
		si = star_si;
		i = star_i;
	}
}

int
policy_glob(const char *pat, const char *s, int icase)
{
	return policy_glob_n(pat, strlen(pat), s, strlen(s), icase);
}

/*
 * `*` matches every action; otherwise the service prefix and the name are
 * globbed separately, both ignoring case.
 */
int
policy_action_match(const struct policy_action *p, const char *action)
{
	const char *colon;

	if (p->service == NULL)
		return 1;
	if ((colon = strchr(action, ':')) == NULL)
		return 0;
	if (!policy_glob_n(p->service, strlen(p->service), action,
	    (size_t)(colon - action), 1))
		return 0;
	return policy_glob(p->name, colon + 1, 1);
}

/*
 * The account (5th field) of `arn`, copied into `buf`; NULL when `arn` is
 * not an ARN with at least five fields or the field does not fit.
 */
const char *
policy_arn_account(const char *arn, char *buf, size_t cap)
{
	const char *p = arn, *end;
	int i;

	if (arn == NULL || strncmp(arn, "arn:", 4) != 0)
		return NULL;
	for (i = 0; i < 4; i++) {
		if ((p = strchr(p, ':')) == NULL)
			return NULL;
		p++;
	}
	if ((end = strchr(p, ':')) == NULL)
		return NULL;
	if ((size_t)(end - p) >= cap)
		return NULL;
	memcpy(buf, p, (size_t)(end - p));
	buf[end - p] = '\0';
	return buf;
}

/* Is `caller` arn:*:sts::ACCOUNT:assumed-role/ROLE/SESSION? */
static int
is_session_of(const char *caller, const char *account, const char *role)
{
	const char *p;
	size_t alen = strlen(account), rlen = strlen(role);

	if (strncmp(caller, "arn:", 4) != 0)
		return 0;
	if ((p = strchr(caller + 4, ':')) == NULL)
		return 0;
	p++;
	if (strncmp(p, "sts::", 5) != 0)
		return 0;
	p += 5;
	if (strncmp(p, account, alen) != 0 || p[alen] != ':')
		return 0;
	p += alen + 1;
	if (strncmp(p, "assumed-role/", 13) != 0)
		return 0;
	p += 13;
	if (strncmp(p, role, rlen) != 0 || p[rlen] != '/')
		return 0;
	return p[rlen + 1] != '\0';
}

/*
 * How one Principal entry names `caller` (section 2): "*" everyone, an
 * account every principal of it (delegation), an ARN exactly, a role ARN
 * also its sessions.
 */
enum policy_pmatch
policy_principal_match(const struct policy_principal *p, const char *caller,
    const char *caller_account)
{
	switch (p->kind) {
	case PRIN_ANY:
		return PMATCH_DIRECT;
	case PRIN_ACCOUNT:
		if (caller_account != NULL &&
		    strcmp(caller_account, p->account) == 0)
			return PMATCH_ACCOUNT;
		return PMATCH_NONE;
	case PRIN_ARN:
		if (caller == NULL)
			return PMATCH_NONE;
		if (strcmp(p->value, caller) == 0)
			return PMATCH_DIRECT;
		if (p->role != NULL && is_session_of(caller, p->account,
		    p->role))
			return PMATCH_ROLE;
		return PMATCH_NONE;
	case PRIN_OTHER:
		if (caller != NULL && strcmp(p->value, caller) == 0)
			return PMATCH_DIRECT;
		return PMATCH_NONE;
	}
	return PMATCH_NONE;
}

/*
 * NotPrincipal: is `caller` listed? regauth takes AWS's documented reading:
 * an account entry lists the account principal itself, not its users, and a
 * role entry lists the role, not its sessions.
 */
int
policy_principal_listed(const struct policy_principal *p, const char *caller)
{
	const char *q;
	size_t alen;

	switch (p->kind) {
	case PRIN_ANY:
		return 1;
	case PRIN_ACCOUNT:
		if (caller == NULL)
			return 0;
		if (strcmp(caller, p->account) == 0)
			return 1;
		/* arn:PARTITION:iam::ACCOUNT:root */
		if (strncmp(caller, "arn:", 4) != 0 ||
		    (q = strchr(caller + 4, ':')) == NULL)
			return 0;
		q++;
		alen = strlen(p->account);
		return strncmp(q, "iam::", 5) == 0 &&
		    strncmp(q + 5, p->account, alen) == 0 &&
		    strcmp(q + 5 + alen, ":root") == 0;
	case PRIN_ARN:
	case PRIN_OTHER:
		return caller != NULL && strcmp(p->value, caller) == 0;
	}
	return 0;
}
