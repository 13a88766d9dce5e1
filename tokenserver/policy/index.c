/*
 * The statement index of one document (DESIGN.md: "an index by action and
 * resource prefix"), and the same idea for sets of globs (repository
 * patterns). A statement can only apply when the literal prefix of one of
 * its action patterns starts the request action and the literal prefix of
 * one of its resource patterns starts the request resource, so statements
 * are bucketed by those prefixes and a request visits only the buckets
 * whose key starts its strings. Candidates come out in statement order and
 * eval.c then matches them exactly as it matches every statement without
 * the index: the index changes the cost of a decision, never its result.
 *
 * Keys of a statement (one per pattern; a statement may sit in several
 * buckets):
 *  - action: "service:" and the lower-cased literal prefix of the name; the
 *    literal prefix of the service when the service has a wildcard; "" for
 *    "*" and for NotAction.
 *  - resource: L1, the literal text before the first '*', '?' or variable;
 *    "" for NotResource and for a repository statement without Resource.
 *    Canonical registry patterns (arn:regauth:registry:*:ACCOUNT:...) all
 *    share L1 "arn:regauth:registry:", so a pattern also keys on L2: the
 *    longest literal run after its first wildcard taken from a ':' on
 *    (":ACCOUNT:repository/team-a/"). That run must occur in the resource
 *    at one of its ':' past L1, and an ARN has few.
 * Every level is a hash table of keys plus the list of distinct key
 * lengths, so finding the keys that start a string costs one probe per
 * distinct length. Keys hash polynomially, so the hashes of a request's
 * substrings come from its prefix hashes, computed once per request
 * (struct policy_index_req; registry.c keeps the resource's across the
 * evaluations of a scope) for every document and every level. Everything
 * lives in the policy's arena.
 *
 * A second index serves the registry's own actions (RA_, internal.h): the
 * same L1/L2 tables keyed by resource alone, over the statements matching
 * one of them, each list carrying the union of its statements' RA_ masks.
 * A registry decision walks it once per document for all the IAM actions
 * of its scope action (policy_index_begin_ra) and skips the lists for none
 * of them; the statement's own mask then filters exactly.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/*
 * Smaller documents are scanned. From four statements on, the probes cost
 * less than matching every action pattern (bench/policy.c), and one or two
 * statements do not pay for the index's memory.
 */
#define INDEX_MIN_STMTS	4
/*
 * A statement of na actions and nr resources has na * nr keys; beyond
 * 4 (na + nr) + CROSS_SLACK of them it is keyed by its actions alone.
 */
#define CROSS_SLACK	64
/*
 * The RA_ index pays from more statements: without it a statement costs a
 * load of its amask, and only those for the request's actions are matched.
 */
#ifndef RA_INDEX_MIN_STMTS
#define RA_INDEX_MIN_STMTS	16
#endif

static int index_off;

void
policy_index_disable(int off)
{
	index_off = off != 0;
}

int
policy_index_off(void)
{
	return index_off;
}

struct ix_slot {
	const char	*key;		/* NULL: empty slot */
	uint32_t	 len;
	uint64_t	 hash;
	const void	*val;
};

/*
 * A lookup compares the key itself only when two keys of the table share
 * a hash (`verify`): otherwise a probe that matches the hash and length
 * is the key, or a string no key equals, which only adds candidates that
 * the evaluation then matches exactly (the index may list too much, never
 * too little). That saves touching the key, one cache miss per hit.
 */
struct ix_table {
	struct ix_slot	*slots;
	uint32_t	 mask, nlens;
	int		 verify;
	uint32_t	*lens;		/* distinct key lengths, ascending */
	uint64_t	*pows;		/* HASH_BASE ** lens[i] */
};

struct ix_ids {				/* one allocation: the ids follow */
	uint32_t	 n;
	unsigned	 amask;		/* union of the statements' amask */
	uint32_t	 ids[];		/* ascending */
};

struct ix_rbucket {			/* one L1 */
	uint32_t	 len;		/* of L1 */
	const struct ix_ids *plain;	/* patterns without L2; may be NULL */
	struct ix_table	 colon;		/* L2 -> struct ix_ids */
};

struct policy_index {
	struct ix_table	 actions;	/* key -> struct ix_table (L1 -> rbucket) */
	int		 has_ra;
	struct ix_table	 ra;		/* L1 -> rbucket: statements with amask */
};

/* h(s) = sum s[i] * BASE ** (n - 1 - i), modulo 2 ** 64. */
#define HASH_BASE	0x100000001b3ull
#define HASH_MIX	0x9e3779b97f4a7c15ull

static unsigned char
lc(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c - 'A' + 'a') : c;
}

static uint64_t
hash_bytes(const char *s, size_t n)
{
	uint64_t h = 0;
	size_t i;

	for (i = 0; i < n; i++)
		h = h * HASH_BASE + (unsigned char)s[i];
	return h;
}

static uint64_t
hash_pow(uint32_t n)
{
	uint64_t p = 1;

	while (n-- > 0)
		p *= HASH_BASE;
	return p;
}

/* Prefix hashes of s[0..n) into h[0..n], lower-cased with `icase`. */
static void
prefix_hashes(const char *s, size_t n, int icase, uint64_t *h)
{
	size_t i;

	h[0] = 0;
	for (i = 0; i < n; i++)
		h[i + 1] = h[i] * HASH_BASE + (icase ?
		    lc((unsigned char)s[i]) : (unsigned char)s[i]);
}

/* Keys of case-insensitive tables are stored lower-case. */
static const struct ix_slot *
tab_get(const struct ix_table *t, uint64_t h, const char *s, uint32_t len,
    int icase)
{
	const struct ix_slot *sl;
	uint32_t i = (uint32_t)((h * HASH_MIX) >> 32) & t->mask, k;

	for (;; i = (i + 1) & t->mask) {
		sl = &t->slots[i];
		if (sl->key == NULL)
			return NULL;
		if (sl->hash != h || sl->len != len)
			continue;
		if (!t->verify)
			return sl;
		if (!icase) {
			if (memcmp(sl->key, s, len) == 0)
				return sl;
			continue;
		}
		for (k = 0; k < len; k++)
			if ((unsigned char)sl->key[k] != lc((unsigned char)s[k]))
				break;
		if (k == len)
			return sl;
	}
}

/*
 * The keys of `t` that are prefixes of s[j..n), shortest first, where
 * h[0..n] are the prefix hashes of s.
 */
struct ix_walk {
	const struct ix_table	*t;
	const char		*s;
	const uint64_t		*h;
	size_t			 j, n;
	uint32_t		 li;
	int			 icase;
};

static void
walk_init(struct ix_walk *w, const struct ix_table *t, const char *s,
    const uint64_t *h, size_t j, size_t n, int icase)
{
	w->t = t;
	w->s = s;
	w->h = h;
	w->j = j;
	w->n = n;
	w->li = 0;
	w->icase = icase;
}

static const struct ix_slot *
walk_next(struct ix_walk *w)
{
	const struct ix_slot *sl;
	uint32_t len;
	uint64_t h;

	while (w->li < w->t->nlens) {
		len = w->t->lens[w->li];
		if (len > w->n - w->j) {
			w->li = w->t->nlens;
			return NULL;
		}
		h = w->h[w->j + len] - w->h[w->j] * w->t->pows[w->li];
		w->li++;
		if ((sl = tab_get(w->t, h, w->s + w->j, len, w->icase)) != NULL)
			return sl;
	}
	return NULL;
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Room for `n` distinct keys; then tab_put each, then tab_seal. */
static int
tab_init(struct policy_arena *a, struct ix_table *t, size_t n)
{
	size_t cap = 4;

	while (cap < 2 * n)
		cap *= 2;
	memset(t, 0, sizeof(*t));
	if ((t->slots = policy_arena_alloc(a, cap * sizeof(*t->slots))) ==
	    NULL || (t->lens = policy_arena_alloc(a, (n ? n : 1) *
	    sizeof(*t->lens))) == NULL || (t->pows = policy_arena_alloc(a,
	    (n ? n : 1) * sizeof(*t->pows))) == NULL)
		return -1;
	memset(t->slots, 0, cap * sizeof(*t->slots));
	t->mask = (uint32_t)(cap - 1);
	return 0;
}

/* `key` is unique in `t`, already lower-case in case-insensitive tables. */
static void
tab_put(struct ix_table *t, const char *key, uint32_t len, const void *val)
{
	uint64_t h = hash_bytes(key, len);
	uint32_t i = (uint32_t)((h * HASH_MIX) >> 32) & t->mask;

	while (t->slots[i].key != NULL) {
		if (t->slots[i].hash == h && t->slots[i].len == len)
			t->verify = 1;	/* same hash, same start */
		i = (i + 1) & t->mask;
	}
	t->slots[i].key = key;
	t->slots[i].len = len;
	t->slots[i].hash = h;
	t->slots[i].val = val;
	t->lens[t->nlens++] = len;
}

static void
tab_seal(struct ix_table *t)
{
	uint32_t i, o = 0;

	qsort(t->lens, t->nlens, sizeof(*t->lens), cmp_u32);
	for (i = 0; i < t->nlens; i++)
		if (o == 0 || t->lens[o - 1] != t->lens[i])
			t->lens[o++] = t->lens[i];
	t->nlens = o;
	for (i = 0; i < o; i++)
		t->pows[i] = hash_pow(t->lens[i]);
}

/*
 * The statement index.
 */

struct ix_key {
	const char	*s;
	uint32_t	 len;
};

struct ix_entry {
	struct ix_key	 a, r1, r2;	/* r2.s NULL: no L2 */
	uint32_t	 stmt;
};

static int
key_cmp(const struct ix_key *x, const struct ix_key *y)
{
	uint32_t n = x->len < y->len ? x->len : y->len;
	int c;

	if ((x->s == NULL) != (y->s == NULL))
		return x->s == NULL ? -1 : 1;
	if (n > 0 && (c = memcmp(x->s, y->s, n)) != 0)
		return c;
	return x->len < y->len ? -1 : x->len > y->len;
}

static int
entry_cmp(const void *a, const void *b)
{
	const struct ix_entry *x = a, *y = b;
	int c;

	if ((c = key_cmp(&x->a, &y->a)) != 0 ||
	    (c = key_cmp(&x->r1, &y->r1)) != 0 ||
	    (c = key_cmp(&x->r2, &y->r2)) != 0)
		return c;
	return x->stmt < y->stmt ? -1 : x->stmt > y->stmt;
}

/* Literal prefix of a glob-form pattern, escapes resolved, into the arena. */
static int
glob_prefix(struct policy_arena *ar, const char *g, int lower,
    struct ix_key *k)
{
	size_t i, o = 0, n = strlen(g);
	char *out;

	if ((out = policy_arena_alloc(ar, n + 1)) == NULL)
		return -1;
	for (i = 0; i < n; i++) {
		char c = g[i];
		if (c == '*' || c == '?')
			break;
		if (c == POLICY_GLOB_ESC && i + 1 < n)
			c = g[++i];
		out[o++] = lower ? (char)lc((unsigned char)c) : c;
	}
	k->s = out;
	k->len = (uint32_t)o;
	return 0;
}

static int
action_key(struct policy_arena *ar, const struct policy_action *pa,
    struct ix_key *k)
{
	struct ix_key name;
	size_t sl, w;
	char *out;

	k->s = "";
	k->len = 0;
	if (pa->service == NULL)
		return 0;
	sl = strlen(pa->service);
	if ((w = strcspn(pa->service, "*?")) < sl) {
		k->s = pa->service;
		k->len = (uint32_t)w;
		return 0;
	}
	if (glob_prefix(ar, pa->name, 1, &name) == -1 ||
	    (out = policy_arena_alloc(ar, sl + 1 + name.len + 1)) == NULL)
		return -1;
	memcpy(out, pa->service, sl);
	out[sl] = ':';
	memcpy(out + sl + 1, name.s, name.len);
	k->s = out;
	k->len = (uint32_t)(sl + 1 + name.len);
	return 0;
}

/* Literal runs of a resource pattern (see the head of the file). */
struct runs {
	int		 seen;		/* a wildcard or a variable so far */
	struct ix_key	 l1, l2;
};

static void
run_end(struct runs *r, const char *s, size_t len)
{
	const char *c;
	size_t n;

	if (!r->seen) {
		r->l1.s = s;
		r->l1.len = (uint32_t)len;
		return;
	}
	if ((c = memchr(s, ':', len)) == NULL)
		return;
	n = len - (size_t)(c - s);
	if (r->l2.s == NULL || n > r->l2.len) {
		r->l2.s = c;
		r->l2.len = (uint32_t)n;
	}
}

/* Plain text of a pattern: '*' and '?' are wildcards, the rest literal. */
static void
runs_text(struct runs *r, const char *s, size_t n)
{
	size_t i, start = 0;

	for (i = 0; i < n; i++) {
		if (s[i] != '*' && s[i] != '?')
			continue;
		run_end(r, s + start, i - start);
		r->seen = 1;
		start = i + 1;
	}
	run_end(r, s + start, n - start);
}

static void
resource_keys(const struct policy_tmpl *t, struct ix_key *l1,
    struct ix_key *l2)
{
	struct runs r;
	size_t i;

	memset(&r, 0, sizeof(r));
	r.l1.s = "";
	if (t->nparts == 0) {
		runs_text(&r, t->raw, t->rawlen);
	} else {
		for (i = 0; i < t->nparts; i++) {
			if (t->parts[i].kind == TPART_LIT)
				runs_text(&r, t->parts[i].s, t->parts[i].len);
			else
				r.seen = 1;	/* unknown or escaped text */
		}
	}
	*l1 = r.l1;
	*l2 = r.l2;
}

struct entries {
	struct ix_entry	*v;
	size_t		 n, cap;
};

static int
push(struct entries *es, struct ix_key a, struct ix_key r1, struct ix_key r2,
    uint32_t stmt)
{
	struct ix_entry *v;
	size_t cap;

	if (es->n == es->cap) {
		cap = es->cap ? es->cap * 2 : 256;
		if ((v = realloc(es->v, cap * sizeof(*v))) == NULL)
			return -1;
		es->v = v;
		es->cap = cap;
	}
	es->v[es->n].a = a;
	es->v[es->n].r1 = r1;
	es->v[es->n].r2 = r2;
	es->v[es->n].stmt = stmt;
	es->n++;
	return 0;
}

/* Every (action key, resource key) pair of statement `k`. */
static int
stmt_entries(struct policy *p, uint32_t k, struct entries *es)
{
	const struct policy_stmt *st = &p->stmts[k];
	struct ix_key any = { "", 0 }, none = { NULL, 0 };
	struct ix_key *ak = NULL, *r1 = NULL, *r2 = NULL;
	size_t na, nr, i, j;
	int rc = -1;

	na = st->not_action ? 1 : st->nactions;
	nr = !st->has_resource || st->not_resource ? 1 : st->nresources;
	if (na == 0 || nr == 0)
		return 0;	/* an empty Action or Resource matches nothing */
	if ((ak = calloc(na, sizeof(*ak))) == NULL ||
	    (r1 = calloc(nr, sizeof(*r1))) == NULL ||
	    (r2 = calloc(nr, sizeof(*r2))) == NULL)
		goto out;
	if (st->not_action)
		ak[0] = any;
	for (i = 0; !st->not_action && i < na; i++)
		if (action_key(&p->arena, &st->actions[i], &ak[i]) == -1)
			goto out;
	if (!st->has_resource || st->not_resource) {
		r1[0] = any;
		r2[0] = none;
	}
	for (j = 0; st->has_resource && !st->not_resource && j < nr; j++)
		resource_keys(&st->resources[j], &r1[j], &r2[j]);
	/* Many actions times many resources: index by action only. */
	if (na * nr > 4 * (na + nr) + CROSS_SLACK) {
		nr = 1;
		r1[0] = any;
		r2[0] = none;
	}
	for (i = 0; i < na; i++)
		for (j = 0; j < nr; j++)
			if (push(es, ak[i], r1[j], r2[j], k) == -1)
				goto out;
	rc = 0;
out:
	free(ak);
	free(r1);
	free(r2);
	return rc;
}

/* Statement numbers of v[lo..hi) (sorted, duplicates already gone). */
static struct ix_ids *
make_ids(struct policy *p, const struct ix_entry *v, size_t lo, size_t hi)
{
	struct ix_ids *ids;
	size_t i;

	if ((ids = policy_arena_alloc(&p->arena, sizeof(*ids) + (hi - lo) *
	    sizeof(ids->ids[0]))) == NULL)
		return NULL;
	ids->amask = 0;
	for (i = lo; i < hi; i++) {
		ids->ids[i - lo] = v[i].stmt;
		ids->amask |= p->stmts[v[i].stmt].amask;
	}
	ids->n = (uint32_t)(hi - lo);
	return ids;
}

/* Entries [lo, hi) share the action key and L1. */
static int
build_rbucket(struct policy *p, const struct ix_entry *v, size_t lo,
    size_t hi, struct ix_rbucket *rb)
{
	struct policy_arena *ar = &p->arena;
	struct ix_ids *ids;
	size_t i, g, ng = 0;

	memset(rb, 0, sizeof(*rb));
	rb->len = v[lo].r1.len;
	for (i = lo; i < hi && v[i].r2.s == NULL; i++)
		;
	if (i > lo && (rb->plain = make_ids(p, v, lo, i)) == NULL)
		return -1;
	lo = i;
	for (i = lo; i < hi; i++)
		ng += i == lo || key_cmp(&v[i].r2, &v[i - 1].r2) != 0;
	if (ng == 0)
		return 0;
	if (tab_init(ar, &rb->colon, ng) == -1)
		return -1;
	for (g = lo; g < hi; g = i) {
		for (i = g + 1; i < hi && key_cmp(&v[i].r2, &v[g].r2) == 0; i++)
			;
		if ((ids = make_ids(p, v, g, i)) == NULL)
			return -1;
		tab_put(&rb->colon, v[g].r2.s, v[g].r2.len, ids);
	}
	tab_seal(&rb->colon);
	return 0;
}

/* Entries [lo, hi) share the action key: a table of L1. */
static int
build_restab(struct policy *p, const struct ix_entry *v, size_t lo,
    size_t hi, struct ix_table *t)
{
	struct policy_arena *ar = &p->arena;
	struct ix_rbucket *rb;
	size_t i, g, ng = 0;

	for (i = lo; i < hi; i++)
		ng += i == lo || key_cmp(&v[i].r1, &v[i - 1].r1) != 0;
	if (tab_init(ar, t, ng) == -1)
		return -1;
	for (g = lo; g < hi; g = i) {
		for (i = g + 1; i < hi && key_cmp(&v[i].r1, &v[g].r1) == 0; i++)
			;
		if ((rb = policy_arena_alloc(ar, sizeof(*rb))) == NULL ||
		    build_rbucket(p, v, g, i, rb) == -1)
			return -1;
		tab_put(t, v[g].r1.s, v[g].r1.len, rb);
	}
	tab_seal(t);
	return 0;
}

/* Every resource key of statement `k`, for the RA_ index. */
static int
stmt_ra_entries(struct policy *p, uint32_t k, struct entries *es)
{
	const struct policy_stmt *st = &p->stmts[k];
	struct ix_key any = { "", 0 }, none = { NULL, 0 }, r1, r2;
	size_t j;

	if (st->amask == 0)
		return 0;
	if (!st->has_resource || st->not_resource)
		return push(es, any, any, none, k);
	for (j = 0; j < st->nresources; j++) {
		resource_keys(&st->resources[j], &r1, &r2);
		if (push(es, any, r1, r2, k) == -1)
			return -1;
	}
	return 0;
}

static void
sort_unique(struct entries *es)
{
	size_t i, o;

	if (es->n > 0)
		qsort(es->v, es->n, sizeof(*es->v), entry_cmp);
	for (i = 0, o = 0; i < es->n; i++)
		if (o == 0 || entry_cmp(&es->v[o - 1], &es->v[i]) != 0)
			es->v[o++] = es->v[i];
	es->n = o;
}

/*
 * Build p->index once the statements are parsed and prepared
 * (policy_parse): the index by action and resource, and the RA_ index by
 * resource. Small documents get none. -1 with `e` set when out of memory.
 */
int
policy_index_build(struct policy *p, struct err *e)
{
	struct policy_arena *ar = &p->arena;
	struct policy_index *ix;
	struct entries es = { NULL, 0, 0 };
	struct ix_table *rt;
	size_t i, g, ng = 0;
	int rc = -1;

	p->index = NULL;
	if (p->nstmts < INDEX_MIN_STMTS || p->nstmts > UINT32_MAX)
		return 0;
	if ((ix = policy_arena_alloc(ar, sizeof(*ix))) == NULL)
		goto out;
	memset(ix, 0, sizeof(*ix));
	for (i = 0; i < p->nstmts; i++)
		if (stmt_entries(p, (uint32_t)i, &es) == -1)
			goto out;
	sort_unique(&es);
	for (i = 0; i < es.n; i++)
		ng += i == 0 || key_cmp(&es.v[i].a, &es.v[i - 1].a) != 0;
	if (tab_init(ar, &ix->actions, ng) == -1)
		goto out;
	for (g = 0; g < es.n; g = i) {
		for (i = g + 1; i < es.n && key_cmp(&es.v[i].a, &es.v[g].a) ==
		    0; i++)
			;
		if ((rt = policy_arena_alloc(ar, sizeof(*rt))) == NULL ||
		    build_restab(p, es.v, g, i, rt) == -1)
			goto out;
		tab_put(&ix->actions, es.v[g].a.s, es.v[g].a.len, rt);
	}
	tab_seal(&ix->actions);
	es.n = 0;
	if (p->nstmts >= RA_INDEX_MIN_STMTS) {
		for (i = 0; i < p->nstmts; i++)
			if (stmt_ra_entries(p, (uint32_t)i, &es) == -1)
				goto out;
		sort_unique(&es);
		if (build_restab(p, es.v, 0, es.n, &ix->ra) == -1)
			goto out;
		ix->has_ra = 1;
	}
	p->index = ix;
	rc = 0;
out:
	if (rc == -1)
		err_set(e, "out of memory");
	free(es.v);
	return rc;
}

static int
add_cursor(struct policy_index_iter *it, const struct ix_ids *ids)
{
	if (ids == NULL || ids->n == 0)
		return 0;
	if (it->nc == POLICY_INDEX_CURSORS)
		return -1;
	it->c[it->nc].ids = ids->ids;
	it->c[it->nc].end = ids->ids + ids->n;
	it->nc++;
	return 0;
}

/* The candidate lists of the RA_ index for the actions of `amask`. */
static int
gather_ra(struct policy_index_iter *it, const struct ix_table *t,
    const struct policy_index_req *q, unsigned amask)
{
	const struct ix_slot *rs, *cs;
	const struct ix_rbucket *rb;
	const struct ix_ids *ids;
	struct ix_walk rw, cw;
	size_t i;

	walk_init(&rw, t, q->resource, q->rh, 0, q->rlen, 0);
	while ((rs = walk_next(&rw)) != NULL) {
		rb = rs->val;
		if (rb->plain != NULL && (rb->plain->amask & amask) &&
		    add_cursor(it, rb->plain) == -1)
			return -1;
		for (i = 0; i < q->ncolons && rb->colon.nlens > 0; i++) {
			if (q->colons[i] < rb->len)
				continue;
			walk_init(&cw, &rb->colon, q->resource, q->rh,
			    q->colons[i], q->rlen, 0);
			while ((cs = walk_next(&cw)) != NULL) {
				ids = cs->val;
				if ((ids->amask & amask) &&
				    add_cursor(it, ids) == -1)
					return -1;
			}
		}
	}
	return 0;
}

/* The candidate lists of every bucket keyed by a prefix of the request. */
static int
gather(struct policy_index_iter *it, const struct policy_index *ix,
    const struct policy_index_req *q)
{
	const struct ix_slot *as, *rs, *cs;
	const struct ix_rbucket *rb;
	struct ix_walk aw, rw, cw;
	size_t i;

	walk_init(&aw, &ix->actions, q->action, q->ah, 0, q->alen, 1);
	while ((as = walk_next(&aw)) != NULL) {
		walk_init(&rw, as->val, q->resource, q->rh, 0, q->rlen, 0);
		while ((rs = walk_next(&rw)) != NULL) {
			rb = rs->val;
			if (add_cursor(it, rb->plain) == -1)
				return -1;
			for (i = 0; i < q->ncolons && rb->colon.nlens > 0;
			    i++) {
				if (q->colons[i] < rb->len)
					continue;
				walk_init(&cw, &rb->colon, q->resource, q->rh,
				    q->colons[i], q->rlen, 0);
				while ((cs = walk_next(&cw)) != NULL)
					if (add_cursor(it, cs->val) == -1)
						return -1;
			}
		}
	}
	return 0;
}

/*
 * A request's strings for the indexes of every document of one
 * evaluation; the hashes are computed when a document first needs them.
 */
void
policy_index_req_init(struct policy_index_req *q, const char *resource)
{
	q->rstate = 0;
	q->astate = 0;
	q->resource = resource;
	q->action = "";
}

void
policy_index_req_action(struct policy_index_req *q, const char *action)
{
	q->astate = 0;
	q->action = action;
}

static int
req_ready_resource(struct policy_index_req *q)
{
	const unsigned char *r;
	const char *c, *end;
	uint64_t h = 0;
	size_t i;

	if (q->rstate == 0) {
		q->rstate = 2;
		q->rlen = strlen(q->resource);
		if (q->rlen > POLICY_INDEX_RMAX)
			return 0;	/* too long for the buffer: scan */
		q->ncolons = 0;
		end = q->resource + q->rlen;
		for (c = q->resource; (c = memchr(c, ':', (size_t)(end - c))) !=
		    NULL; c++) {
			if (q->ncolons == POLICY_INDEX_COLONS)
				return 0;
			q->colons[q->ncolons++] = (uint32_t)(c - q->resource);
		}
		r = (const unsigned char *)q->resource;
		q->rh[0] = 0;
		for (i = 0; i < q->rlen; i++)
			q->rh[i + 1] = h = h * HASH_BASE + r[i];
		q->rstate = 1;
	}
	return q->rstate == 1;
}

static int
req_ready(struct policy_index_req *q)
{
	if (!req_ready_resource(q))
		return 0;
	if (q->astate == 0) {
		q->astate = 2;
		q->alen = strlen(q->action);
		if (q->alen > POLICY_INDEX_AMAX)
			return 0;
		prefix_hashes(q->action, q->alen, 1, q->ah);
		q->astate = 1;
	}
	return q->rstate == 1 && q->astate == 1;
}

/*
 * Start listing the statements of `p` that may apply to the request `q`:
 * all of them without an index, else the candidates of the buckets, each
 * once, in statement order.
 */
void
policy_index_begin(struct policy_index_iter *it, const struct policy *p,
    struct policy_index_req *q)
{
	it->k = 0;
	it->n = p->nstmts;
	it->nc = 0;
	it->scan = 1;
	if (p->index == NULL || index_off || !req_ready(q))
		return;
	if (gather(it, p->index, q) == -1)
		return;		/* too many buckets: scan */
	it->scan = 0;
}

/*
 * The same for the actions of `amask` (RA_ bits), from the RA_ index:
 * every statement that may apply to one of them, each once, in statement
 * order.
 */
void
policy_index_begin_ra(struct policy_index_iter *it, const struct policy *p,
    struct policy_index_req *q, unsigned amask)
{
	it->k = 0;
	it->n = p->nstmts;
	it->nc = 0;
	it->scan = 1;
	if (p->index == NULL || !p->index->has_ra || index_off ||
	    !req_ready_resource(q))
		return;
	if (gather_ra(it, &p->index->ra, q, amask) == -1) {
		it->nc = 0;
		return;		/* too many buckets: scan */
	}
	it->scan = 0;
}

/*
 * Glob sets (policy.h): the same literal-prefix table over one level.
 */

/* Longer strings are matched against every pattern. */
#define GLOBSET_MAX 512

struct gs_pat {
	const char		*glob;
	struct policy_cglob	 cg;
	size_t			 id;
};

struct policy_globset {
	struct policy_arena	 arena;
	struct gs_pat		*pats;		/* sorted by id, then given order */
	size_t			 n;
	struct ix_table		 tab;		/* literal prefix -> ix_ids */
};

struct gs_sort {
	size_t		 id, order;
	struct ix_key	 key;
};

static int
gs_cmp_id(const void *a, const void *b)
{
	const struct gs_sort *x = a, *y = b;

	if (x->id != y->id)
		return x->id < y->id ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

static int
gs_cmp_key(const void *a, const void *b)
{
	const struct gs_sort *x = a, *y = b;
	int c;

	if ((c = key_cmp(&x->key, &y->key)) != 0)
		return c;
	return x->order < y->order ? -1 : x->order > y->order;
}

struct policy_globset *
policy_globset_new(const char *const *patterns, const size_t *ids, size_t n,
    struct err *e)
{
	struct policy_globset *g = NULL, *ret = NULL;
	struct gs_sort *v = NULL;
	struct ix_ids *list;
	size_t i, j, k, ng = 0;

	if (n > UINT32_MAX) {
		err_set(e, "too many patterns");
		return NULL;
	}
	if ((g = calloc(1, sizeof(*g))) == NULL ||
	    (v = calloc(n ? n : 1, sizeof(*v))) == NULL ||
	    (g->pats = policy_arena_alloc(&g->arena, (n ? n : 1) *
	    sizeof(*g->pats))) == NULL)
		goto nomem;
	for (i = 0; i < n; i++) {
		v[i].id = ids[i];
		v[i].order = i;
	}
	qsort(v, n, sizeof(*v), gs_cmp_id);
	for (i = 0; i < n; i++) {
		if ((g->pats[i].glob = policy_arena_strdup(&g->arena,
		    patterns[v[i].order])) == NULL ||
		    glob_prefix(&g->arena, g->pats[i].glob, 0, &v[i].key) == -1 ||
		    policy_cglob_compile(&g->arena, g->pats[i].glob,
		    strlen(g->pats[i].glob), &g->pats[i].cg) == -1)
			goto nomem;
		g->pats[i].id = v[i].id;
		v[i].order = i;		/* now: the place in g->pats */
	}
	g->n = n;
	qsort(v, n, sizeof(*v), gs_cmp_key);
	for (i = 0; i < n; i++)
		ng += i == 0 || key_cmp(&v[i].key, &v[i - 1].key) != 0;
	if (tab_init(&g->arena, &g->tab, ng) == -1)
		goto nomem;
	for (i = 0; i < n; i = j) {
		for (j = i + 1; j < n && key_cmp(&v[j].key, &v[i].key) == 0;
		    j++)
			;
		if ((list = policy_arena_alloc(&g->arena, sizeof(*list) +
		    (j - i) * sizeof(list->ids[0]))) == NULL)
			goto nomem;
		for (k = i; k < j; k++)
			list->ids[k - i] = (uint32_t)v[k].order;
		list->n = (uint32_t)(j - i);
		list->amask = 0;
		tab_put(&g->tab, v[i].key.s, v[i].key.len, list);
	}
	tab_seal(&g->tab);
	ret = g;
	g = NULL;
	goto out;
nomem:
	err_set(e, "out of memory");
out:
	policy_globset_free(g);
	free(v);
	return ret;
}

void
policy_globset_free(struct policy_globset *g)
{
	if (g == NULL)
		return;
	policy_arena_release(&g->arena);
	free(g);
}

size_t
policy_globset_match(const struct policy_globset *g, const char *s,
    void (*fn)(void *arg, size_t id), void *arg)
{
	struct policy_index_iter it;
	const struct ix_slot *sl;
	struct ix_walk w;
	uint64_t h[GLOBSET_MAX + 1];
	size_t k, count = 0, last = 0, n = strlen(s);
	int have = 0;

	it.k = 0;
	it.n = g->n;
	it.nc = 0;
	it.scan = 1;
	if (!index_off && n <= GLOBSET_MAX) {
		it.scan = 0;
		prefix_hashes(s, n, 0, h);
		walk_init(&w, &g->tab, s, h, 0, n, 0);
		while ((sl = walk_next(&w)) != NULL)
			if (add_cursor(&it, sl->val) == -1) {
				it.nc = 0;
				it.scan = 1;
				break;
			}
	}
	/* Patterns in id order: an id is counted at its first match. */
	while (policy_index_next(&it, &k)) {
		if (have && g->pats[k].id == last)
			continue;
		if (!policy_cglob_match(&g->pats[k].cg, s, n))
			continue;
		have = 1;
		last = g->pats[k].id;
		count++;
		if (fn != NULL)
			fn(arg, last);
	}
	return count;
}
