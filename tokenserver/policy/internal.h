/*
 * Declarations shared by the files of the policy engine, never outside it.
 * A parsed document is immutable: every byte of it lives in one arena that
 * policy_free() releases at once, so evaluation never allocates for it.
 */
#ifndef REGAUTHD_POLICY_INTERNAL_H
#define REGAUTHD_POLICY_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "policy.h"

/* Glob patterns are stored in "glob form": '\\' makes the next byte literal. */
#define POLICY_GLOB_ESC '\\'

struct policy_arena_chunk;
struct policy_arena {
	struct policy_arena_chunk *head;
};

void *policy_arena_alloc(struct policy_arena *a, size_t n);
char *policy_arena_strndup(struct policy_arena *a, const char *s, size_t n);
char *policy_arena_strdup(struct policy_arena *a, const char *s);
void policy_arena_release(struct policy_arena *a);

/* A string that may hold policy variables (IAM_SEMANTICS.md section 5). */
enum policy_tpart_kind {
	TPART_LIT,		/* policy text: '*' and '?' are wildcards */
	TPART_CHAR,		/* ${*} ${?} ${$}: always literal */
	TPART_VAR,		/* ${key} or ${key, 'default'} */
};

struct policy_tpart {
	enum policy_tpart_kind	 kind;
	const char		*s;	/* literal text, or the key */
	size_t			 len;
	const char		*def;	/* default value, NULL if none */
	size_t			 deflen;
};

struct policy_tmpl {
	const char		*raw;	/* when nparts == 0: the text as written */
	size_t			 rawlen;
	const char		*glob;	/* when nparts == 0: raw in glob form */
	size_t			 globlen;	/* when nparts == 0 */
	struct policy_tpart	*parts;
	size_t			 nparts;	/* > 0 when variables appear */
};

/* Parse `s` into `t`; `vars` enables variables (Version 2012-10-17). */
int policy_tmpl_parse(struct policy_arena *a, const char *s, int vars,
    struct policy_tmpl *t, struct err *e);
int policy_tmpl_has_vars(const char *s);

/*
 * Expand `t` against `ctx` into `buf` (NUL-terminated). In glob mode the
 * substituted text and escapes are made literal. Returns 0 and the length
 * in *need when it fits, 1 when a variable is unresolved, 2 when `cap` is
 * too small (*need then holds the length).
 */
int policy_tmpl_expand(const struct policy_tmpl *t, const json_t *ctx,
    int glob, char *buf, size_t cap, size_t *need);

/* Case-insensitive context lookup: the value, or NULL when absent. */
const json_t *policy_ctx_get(const json_t *ctx, const char *key);

/* Matching (match.c). */
int policy_glob(const char *pat, const char *s, int icase);
int policy_glob_n(const char *pat, size_t plen, const char *s, size_t slen,
    int icase);

/*
 * A glob (glob form, case-sensitive) compiled to match many strings: its
 * literal head, then literal runs (escapes resolved), runs of '?' and
 * '*'. policy_cglob_match(g, s, n) == policy_glob_n(glob, len, s, n, 0).
 */
enum policy_gseg_kind {
	GSEG_LIT,		/* s[0..len) */
	GSEG_ONE,		/* len times '?' */
	GSEG_STAR,
};

struct policy_gseg {
	enum policy_gseg_kind	 kind;
	uint32_t		 len;
	const char		*s;
};

struct policy_cglob {
	int			 vars;		/* not compiled: has variables */
	const char		*head;		/* leading literal */
	size_t			 headlen;
	size_t			 minlen;	/* shortest string matched */
	struct policy_gseg	*segs;		/* after the head */
	size_t			 nsegs;
	size_t			 last_star;	/* index in segs; SIZE_MAX: none */
	size_t			 taillen;	/* length matched after it */
};

int policy_cglob_compile(struct policy_arena *a, const char *glob,
    size_t len, struct policy_cglob *g);
int policy_cglob_match(const struct policy_cglob *g, const char *s,
    size_t n);

struct policy_action {
	const char	*service;	/* glob form, lower-case; NULL for "*" */
	const char	*name;		/* glob form */
};

int policy_action_match(const struct policy_action *p, const char *action);

enum policy_pkind {
	PRIN_ANY,		/* "*" */
	PRIN_ACCOUNT,		/* 12-digit ID or arn:P:iam::A:root */
	PRIN_ARN,		/* an exact ARN (a role ARN also covers sessions) */
	PRIN_OTHER,		/* Service, Federated, CanonicalUser: exact */
};

struct policy_principal {
	enum policy_pkind	 kind;
	const char		*value;		/* the ARN or name as compared */
	const char		*account;	/* PRIN_ACCOUNT, and roles */
	const char		*role;		/* role name when a role ARN */
};

/* How strongly a principal entry names the caller (section 3). */
enum policy_pmatch {
	PMATCH_NONE,
	PMATCH_ACCOUNT,
	PMATCH_ROLE,
	PMATCH_DIRECT,
};

enum policy_pmatch policy_principal_match(const struct policy_principal *p,
    const char *caller, const char *caller_account);
int policy_principal_listed(const struct policy_principal *p,
    const char *caller);

/* Conditions (condition.c). */
enum policy_cop {
	COP_STRING_EQUALS,
	COP_STRING_NOT_EQUALS,
	COP_STRING_EQUALS_IC,
	COP_STRING_NOT_EQUALS_IC,
	COP_STRING_LIKE,
	COP_STRING_NOT_LIKE,
	COP_NUMERIC_EQ,
	COP_NUMERIC_NE,
	COP_NUMERIC_LT,
	COP_NUMERIC_LE,
	COP_NUMERIC_GT,
	COP_NUMERIC_GE,
	COP_DATE_EQ,
	COP_DATE_NE,
	COP_DATE_LT,
	COP_DATE_LE,
	COP_DATE_GT,
	COP_DATE_GE,
	COP_BOOL,
	COP_BINARY_EQUALS,
	COP_IP,
	COP_NOT_IP,
	COP_ARN_LIKE,
	COP_ARN_NOT_LIKE,
	COP_NULL,
};

enum policy_cset {
	CSET_NONE,
	CSET_ALL,
	CSET_ANY,
};

struct policy_cvalue {
	int			 ok;	/* parsed (numbers, dates, IPs, ...) */
	struct policy_tmpl	 t;	/* String and Arn operators */
	/* Numeric: normalised decimal. */
	int			 neg;
	const char		*ipart;	/* no leading zeros, may be "" */
	size_t			 ilen;
	const char		*fpart;	/* no trailing zeros */
	size_t			 flen;
	/* Date. */
	int64_t			 sec;
	int32_t			 nsec;
	/* Bool and Null. */
	int			 b;
	/* Binary. */
	unsigned char		*bytes;
	size_t			 nbytes;
	/* IP. */
	int			 family;
	unsigned char		 addr[16];
	int			 prefix;
};

struct policy_cond {
	enum policy_cop		 op;
	enum policy_cset	 set;
	int			 ifexists;
	const char		*key;
	struct policy_cvalue	*vals;
	size_t			 nvals;
};

int policy_cond_parse_op(const char *name, enum policy_cop *op,
    enum policy_cset *set, int *ifexists);
int policy_cond_parse_value(struct policy_arena *a, enum policy_cop op,
    const char *s, int vars, struct policy_cvalue *v, struct err *e);
int policy_cond_eval(const struct policy_cond *c, const json_t *ctx);
int policy_cop_allows_vars(enum policy_cop op);

/*
 * The registry's IAM actions (POLICY.md "Registry requests"), numbered so
 * that a statement can carry the set it matches as a bit mask computed at
 * parse time (struct policy_stmt's amask): deciding one of them needs no
 * action glob, and a scope action's whole set is decided in one pass.
 */
enum policy_ra {
	RA_PULL,		/* registry:Pull */
	RA_PUSH,
	RA_DELETE,
	RA_CATALOG,
	RA_BATCH_GET_IMAGE,	/* ecr:BatchGetImage */
	RA_GET_DOWNLOAD_URL,
	RA_BATCH_CHECK_LAYER,
	RA_INITIATE_UPLOAD,
	RA_UPLOAD_PART,
	RA_COMPLETE_UPLOAD,
	RA_PUT_IMAGE,
	RA_BATCH_DELETE_IMAGE,
	RA_COUNT
};

extern const char *const policy_ra_names[RA_COUNT];

/* The RA_ number of `action` (ASCII case ignored, as matching does), or -1. */
int policy_ra_lookup(const char *action);

/* Statement flags (struct policy_stmt's flags), set at parse time. */
#define STMT_RES_ANY	0x1	/* Resource matches every request resource */

/* The parsed form of a document. */
struct policy_stmt {
	uint16_t		 amask;		/* RA_ actions matched (1 << RA_) */
	uint16_t		 flags;		/* STMT_ */
	int			 deny;
	const char		*sid;
	int			 not_action;
	struct policy_action	*actions;
	size_t			 nactions;
	int			 has_resource;
	int			 not_resource;
	struct policy_tmpl	*resources;
	struct policy_cglob	*rcg;		/* resources compiled, side by side */
	size_t			 nresources;
	int			 has_principal;
	int			 not_principal;
	struct policy_principal	*principals;
	size_t			 nprincipals;
	struct policy_cond	*conds;
	size_t			 nconds;
};

/*
 * Precompute amask and flags of every statement and compile its resource
 * patterns (policy_parse). -1 when out of memory.
 */
int policy_prepare(struct policy *p);

struct policy {
	struct policy_arena	 arena;
	enum policy_kind	 kind;
	int			 version;	/* 0 none, 2008, 2012 */
	struct policy_stmt	*stmts;
	size_t			 nstmts;
	int			 uses_context;	/* conditions or variables */
	struct policy_index	*index;		/* NULL: scan (index.c) */
};

/*
 * The statement index (index.c): built by policy_parse; an evaluation
 * lists the statements of each document that may apply, in statement
 * order, with
 *	policy_index_req_init(&q, resource);	(once per resource)
 *	policy_index_req_action(&q, action);	(once per evaluation)
 *	policy_index_begin(&it, p, &q);		(per document)
 *	while (policy_index_next(&it, &k)) ...
 * (every statement when the document has no index). The request's hashes
 * are computed once, when a document with an index first needs them.
 * Requests for RA_ actions use the document's second index, by resource
 * alone, whose lists carry the RA_ actions of their statements:
 *	policy_index_begin_ra(&it, p, &q, amask);	(per document)
 * lists, once for all the actions of `amask`, the statements that may
 * apply to one of them (statements matching none of them may be listed;
 * callers test amask).
 */
struct policy_index;
int policy_index_build(struct policy *p, struct err *e);

#define POLICY_INDEX_CURSORS	64
#define POLICY_INDEX_AMAX	128	/* longer actions: scan */
#define POLICY_INDEX_RMAX	640	/* longer resources: scan */
#define POLICY_INDEX_COLONS	16	/* more colons in a resource: scan */

struct policy_index_req {
	int		 rstate, astate;	/* 0 not yet, 1 ready, 2 scan */
	const char	*action, *resource;
	size_t		 alen, rlen, ncolons;
	uint32_t	 colons[POLICY_INDEX_COLONS];
	uint64_t	 ah[POLICY_INDEX_AMAX + 1];	/* prefix hashes */
	uint64_t	 rh[POLICY_INDEX_RMAX + 1];
};

struct policy_index_iter {
	int		 scan;		/* no index: k < n */
	size_t		 k, n;
	size_t		 nc;		/* else: merge of bucket lists */
	struct {
		const uint32_t	*ids, *end;
	}		 c[POLICY_INDEX_CURSORS];
};

void policy_index_req_init(struct policy_index_req *q, const char *resource);
void policy_index_req_action(struct policy_index_req *q, const char *action);
void policy_index_begin(struct policy_index_iter *it, const struct policy *p,
    struct policy_index_req *q);
void policy_index_begin_ra(struct policy_index_iter *it,
    const struct policy *p, struct policy_index_req *q, unsigned amask);
/* policy_index_disable's setting: 1 when every fast path is off. */
int policy_index_off(void);

/* The next statement number into *k; 0 when there is none. */
static inline int
policy_index_next(struct policy_index_iter *it, size_t *k)
{
	uint32_t min;
	size_t i;

	if (it->scan) {
		if (it->k >= it->n)
			return 0;
		*k = it->k++;
		return 1;
	}
	if (it->nc == 1) {
		*k = *it->c[0].ids;
		if (++it->c[0].ids == it->c[0].end)
			it->nc = 0;
		return 1;
	}
	if (it->nc == 0)
		return 0;
	min = *it->c[0].ids;
	for (i = 1; i < it->nc; i++)
		if (*it->c[i].ids < min)
			min = *it->c[i].ids;
	for (i = 0; i < it->nc; ) {
		if (*it->c[i].ids == min && ++it->c[i].ids == it->c[i].end) {
			it->c[i] = it->c[--it->nc];
			continue;
		}
		i++;
	}
	*k = min;
	return 1;
}

/*
 * policy_evaluate with the request's index state `q` (policy_index_req_init
 * on req->resource), kept across the evaluations of one resource
 * (registry.c's reference path).
 */
enum policy_decision policy_evaluate_req(const struct policy_ref *set,
    size_t n, const struct policy_request *req, struct policy_result *res,
    struct policy_index_req *q);

/*
 * Decide every RA_ action of `amask` at once (req->action is ignored): one
 * pass over the candidate statements of each document, each statement
 * matched against the resource, principal and conditions once; out[a]
 * receives exactly what policy_evaluate gives for action a, for each a in
 * amask (other entries are left alone).
 */
void policy_evaluate_ra(const struct policy_ref *set, size_t n,
    const struct policy_request *req, unsigned amask,
    struct policy_result *out);

/*
 * A condition value as text: a string's own text, or an unquoted number or
 * boolean written into `buf`; NULL for anything else.
 */
const char *policy_scalar_text(const json_t *v, char *buf, size_t cap);

/* The account of an ARN (5th field), or NULL; written into buf. */
const char *policy_arn_account(const char *arn, char *buf, size_t cap);

#endif
