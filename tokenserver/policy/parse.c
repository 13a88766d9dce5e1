/*
 * Parse and validate one IAM document (IAM_SEMANTICS.md sections 1 and 7)
 * into the immutable form evaluation reads: actions pre-split with the
 * service lower-cased, patterns in glob form, variables pre-parsed,
 * condition operators as enums, values pre-parsed. With opts->registry the
 * registry short forms are canonicalised once here (POLICY.md).
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"
#include "../jsonpos.h"

#define ARENA_CHUNK 4096
#define DEFAULT_ACCOUNT "000000000000"
#define NO_STMT SIZE_MAX	/* pctx.si outside the statements */

struct policy_arena_chunk {
	struct policy_arena_chunk	*next;
	size_t				 used, cap;
	_Alignas(16) unsigned char	 data[];
};

void *
policy_arena_alloc(struct policy_arena *a, size_t n)
{
	struct policy_arena_chunk *c = a->head;
	size_t cap;
	void *p;

	n = (n + 15) & ~(size_t)15;
	if (n == 0)
		n = 16;
	if (c == NULL || c->cap - c->used < n) {
		cap = n > ARENA_CHUNK ? n : ARENA_CHUNK;
		if ((c = malloc(sizeof(*c) + cap)) == NULL)
			return NULL;
		c->used = 0;
		c->cap = cap;
		c->next = a->head;
		a->head = c;
	}
	p = c->data + c->used;
	c->used += n;
	return p;
}

char *
policy_arena_strndup(struct policy_arena *a, const char *s, size_t n)
{
	char *p;

	if ((p = policy_arena_alloc(a, n + 1)) == NULL)
		return NULL;
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *
policy_arena_strdup(struct policy_arena *a, const char *s)
{
	return policy_arena_strndup(a, s, strlen(s));
}

void
policy_arena_release(struct policy_arena *a)
{
	struct policy_arena_chunk *c, *next;

	for (c = a->head; c != NULL; c = next) {
		next = c->next;
		free(c);
	}
	a->head = NULL;
}

void
policy_free(struct policy *p)
{
	if (p == NULL)
		return;
	policy_arena_release(&p->arena);
	free(p);
}

struct pctx {
	struct policy			*p;
	const struct policy_parse_opts	*opts;
	const char			*account;
	size_t				 si;	/* statement index, for messages */
	struct err			*e;
	/* Where an error is (policy_parse_diag): see here() and at(). */
	struct policy_diag		*d;
	int				 stmt_array;
	const char			*k[3];
	const json_t			*list;
	size_t				 idx;
};

/*
 * Name the element the next error would be about: the statement c->si
 * (the document when NO_STMT), up to three member names below it (NULL
 * ends them), then element `i` when `list` is an array.
 */
static void
here(struct pctx *c, const char *k1, const char *k2, const char *k3,
    const json_t *list, size_t i)
{
	c->k[0] = k1;
	c->k[1] = k1 != NULL ? k2 : NULL;
	c->k[2] = c->k[1] != NULL ? k3 : NULL;
	c->list = list;
	c->idx = i;
}

/* Record the code and JSON Pointer of the error just set. */
static void
at(struct pctx *c, const char *code)
{
	struct policy_diag *d = c->d;
	int full = 0, i;

	if (d == NULL)
		return;
	d->code = code;
	d->path[0] = '\0';
	if (c->si != NO_STMT) {
		full = jsonpos_path_add(d->path, sizeof(d->path), "Statement");
		if (c->stmt_array && full == 0)
			full = jsonpos_path_add_index(d->path, sizeof(d->path),
			    c->si);
	}
	for (i = 0; i < 3 && c->k[i] != NULL && full == 0; i++)
		full = jsonpos_path_add(d->path, sizeof(d->path), c->k[i]);
	if (full == 0 && c->list != NULL && json_is_array(c->list))
		jsonpos_path_add_index(d->path, sizeof(d->path), c->idx);
}

/* Name the statement in a message a helper wrote. Returns -1. */
static int
prefix_err(struct pctx *c)
{
	char tmp[sizeof(c->e->msg)];

	if (c->e == NULL)
		return -1;
	memcpy(tmp, c->e->msg, sizeof(tmp));
	err_set(c->e, "statement %zu: %.170s", c->si, tmp);
	return -1;
}

static void *
zalloc(struct pctx *c, size_t n)
{
	void *v;

	if ((v = policy_arena_alloc(&c->p->arena, n)) == NULL) {
		err_set(c->e, "out of memory");
		return NULL;
	}
	memset(v, 0, n);
	return v;
}

/*
 * A string or an array of strings: the count in *n, element i through
 * str_at(). IAM says non-empty, but an empty array only draws a lint
 * suggestion, so it loads (and matches nothing).
 */
static int
str_list(struct pctx *c, const json_t *j, const char *what, size_t *n)
{
	size_t i;

	if (json_is_string(j)) {
		*n = 1;
		return 0;
	}
	if (!json_is_array(j)) {
		err_set(c->e, "statement %zu: %s must be a string or an array "
		    "of strings", c->si, what);
		return -1;
	}
	for (i = 0; i < json_array_size(j); i++) {
		if (!json_is_string(json_array_get(j, i))) {
			err_set(c->e, "statement %zu: %s must be a string or "
			    "an array of strings", c->si, what);
			return -1;
		}
	}
	*n = json_array_size(j);
	return 0;
}

static const char *
str_at(const json_t *j, size_t i)
{
	if (json_is_string(j))
		return json_string_value(j);
	return json_string_value(json_array_get(j, i));
}

static int
parse_action(struct pctx *c, const char *s, struct policy_action *a)
{
	const char *colon = strchr(s, ':');
	struct policy_tmpl t;
	char *svc;
	size_t i, n;

	if (strcmp(s, "*") == 0)
		return 0;
	if (colon == NULL) {
		err_set(c->e, "statement %zu: action \"%.80s\" has no service "
		    "prefix", c->si, s);
		at(c, "INVALID_ACTION");
		return -1;
	}
	if (strchr(colon + 1, ':') != NULL) {
		err_set(c->e, "statement %zu: action \"%.80s\" has more than "
		    "one colon", c->si, s);
		at(c, "INVALID_ACTION");
		return -1;
	}
	n = (size_t)(colon - s);
	if (n == 0 || colon[1] == '\0') {
		err_set(c->e, "statement %zu: action \"%.80s\" is malformed",
		    c->si, s);
		at(c, "INVALID_ACTION");
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (!isalnum((unsigned char)s[i]) && s[i] != '-' &&
		    s[i] != '_' && s[i] != '*' && s[i] != '?') {
			err_set(c->e, "statement %zu: action \"%.80s\" has an "
			    "invalid service prefix", c->si, s);
			at(c, "INVALID_ACTION");
			return -1;
		}
	}
	if ((svc = policy_arena_strndup(&c->p->arena, s, n)) == NULL)
		goto nomem;
	for (i = 0; i < n; i++)
		svc[i] = (char)tolower((unsigned char)svc[i]);
	a->service = svc;
	if (policy_tmpl_parse(&c->p->arena, colon + 1, 0, &t, c->e) == -1)
		return -1;
	a->name = t.glob;
	return 0;
nomem:
	err_set(c->e, "out of memory");
	return -1;
}

/* Position of the n-th ':' of s (1-based), or NULL. */
static const char *
nth_colon(const char *s, int n)
{
	const char *p = s;

	while ((p = strchr(p, ':')) != NULL) {
		if (--n == 0)
			return p;
		p++;
	}
	return NULL;
}

/*
 * Canonicalise a registry resource pattern (POLICY.md): repository/P and
 * arn:PART:ecr:REGION:ACCT:repository/P become
 * arn:regauth:registry:*:ACCOUNT:repository/P. Returns `s` or a new copy.
 */
static const char *
canon_resource(struct pctx *c, const char *s)
{
	const char *p, *rest = NULL;
	char *out;
	size_t n;

	if (strncmp(s, "repository/", 11) == 0) {
		rest = s;
	} else if (strncmp(s, "arn:", 4) == 0 &&
	    (p = nth_colon(s, 2)) != NULL && strncmp(p, ":ecr:", 5) == 0 &&
	    (p = nth_colon(s, 5)) != NULL &&
	    strncmp(p + 1, "repository/", 11) == 0) {
		rest = p + 1;
	}
	if (rest == NULL)
		return s;
	n = strlen("arn:regauth:registry:*:") + strlen(c->account) + 1 +
	    strlen(rest) + 1;
	if ((out = policy_arena_alloc(&c->p->arena, n)) == NULL)
		return NULL;
	snprintf(out, n, "arn:regauth:registry:*:%s:%s", c->account, rest);
	return out;
}

static int
parse_resource(struct pctx *c, const char *s, struct policy_tmpl *t)
{
	const char *svc, *end, *v, *fifth;
	int vars = c->p->version == 2012;

	if (strcmp(s, "*") == 0) {
		/* fall through to the template */
	} else if (strncmp(s, "arn:", 4) == 0) {
		svc = nth_colon(s, 2);
		if (s[4] == ':' || svc == NULL || svc[1] == ':' ||
		    svc[1] == '\0') {
			err_set(c->e, "statement %zu: resource \"%.80s\" is "
			    "not a valid ARN", c->si, s);
			at(c, "INVALID_RESOURCE");
			return -1;
		}
		if ((end = strchr(svc + 1, ':')) == NULL)
			end = svc + strlen(svc);
		for (v = svc + 1; v < end; v++) {
			if (isupper((unsigned char)*v)) {
				err_set(c->e, "statement %zu: resource "
				    "\"%.80s\" has an upper-case service",
				    c->si, s);
				at(c, "UPPERCASE_SERVICE");
				return -1;
			}
		}
		fifth = nth_colon(s, 5);
		v = strstr(s, "${");
		if (vars && v != NULL && (fifth == NULL || v < fifth)) {
			err_set(c->e, "statement %zu: resource \"%.80s\": "
			    "variables are only allowed in the resource part",
			    c->si, s);
			at(c, "VARIABLE_NOT_ALLOWED");
			return -1;
		}
	} else if (strncmp(s, "repository/", 11) != 0) {
		err_set(c->e, "statement %zu: resource \"%.80s\" is neither "
		    "\"*\", an ARN nor repository/NAME", c->si, s);
		at(c, "INVALID_RESOURCE");
		return -1;
	}
	if (c->opts != NULL && c->opts->registry &&
	    (s = canon_resource(c, s)) == NULL) {
		err_set(c->e, "out of memory");
		return -1;
	}
	if (policy_tmpl_parse(&c->p->arena, s, vars, t, c->e) == -1) {
		at(c, "MALFORMED_VARIABLE");
		return prefix_err(c);
	}
	return 0;
}

static int
is_account_id(const char *s)
{
	size_t i;

	for (i = 0; i < 12; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return s[12] == '\0';
}

/*
 * Canonicalise a registry principal: user/N, serviceaccount/N, role/N and
 * arn:aws:iam::ACCT:user/N | role/N become arn:regauth:iam::ACCOUNT:...
 */
static const char *
canon_principal(struct pctx *c, const char *s)
{
	const char *rest = NULL, *p;
	char *out;
	size_t n;

	if (strncmp(s, "user/", 5) == 0 || strncmp(s, "role/", 5) == 0 ||
	    strncmp(s, "serviceaccount/", 15) == 0) {
		rest = s;
	} else if (strncmp(s, "arn:aws:iam::", 13) == 0 &&
	    (p = strchr(s + 13, ':')) != NULL &&
	    (strncmp(p + 1, "user/", 5) == 0 ||
	    strncmp(p + 1, "role/", 5) == 0)) {
		rest = p + 1;
	}
	if (rest == NULL)
		return s;
	n = strlen("arn:regauth:iam::") + strlen(c->account) + 1 +
	    strlen(rest) + 1;
	if ((out = policy_arena_alloc(&c->p->arena, n)) == NULL)
		return NULL;
	snprintf(out, n, "arn:regauth:iam::%s:%s", c->account, rest);
	return out;
}

static int
parse_one_principal(struct pctx *c, const char *key, const char *s,
    struct policy_principal *pr)
{
	struct policy_arena *a = &c->p->arena;
	const char *acct, *res, *slash;
	int aws = strcmp(key, "AWS") == 0 || strcmp(key, "regauth") == 0;

	if (strcmp(s, "*") == 0) {
		pr->kind = PRIN_ANY;
		pr->value = "*";
		return 0;
	}
	if (strchr(s, '*') != NULL || strchr(s, '?') != NULL) {
		err_set(c->e, "statement %zu: principal \"%.80s\" has a partial "
		    "wildcard", c->si, s);
		at(c, "PARTIAL_WILDCARD_PRINCIPAL");
		return -1;
	}
	if (s[0] == '\0') {
		err_set(c->e, "statement %zu: empty principal", c->si);
		at(c, "INVALID_PRINCIPAL");
		return -1;
	}
	if (!aws) {
		pr->kind = PRIN_OTHER;
		if ((pr->value = policy_arena_strdup(a, s)) == NULL)
			goto nomem;
		return 0;
	}
	if (c->opts != NULL && c->opts->registry &&
	    (s = canon_principal(c, s)) == NULL)
		goto nomem;
	if ((pr->value = policy_arena_strdup(a, s)) == NULL)
		goto nomem;
	if (is_account_id(s)) {
		pr->kind = PRIN_ACCOUNT;
		pr->account = pr->value;
		return 0;
	}
	pr->kind = PRIN_ARN;
	/* arn:PART:iam::ACCT:root | role/[PATH/]NAME */
	if (strncmp(s, "arn:", 4) != 0 || (acct = nth_colon(s, 4)) == NULL ||
	    (res = nth_colon(s, 5)) == NULL)
		return 0;
	if (strncmp(nth_colon(s, 2), ":iam::", 6) != 0)
		return 0;
	if ((pr->account = policy_arena_strndup(a, acct + 1,
	    (size_t)(res - acct - 1))) == NULL)
		goto nomem;
	if (strcmp(res + 1, "root") == 0) {
		pr->kind = PRIN_ACCOUNT;
		return 0;
	}
	if (strncmp(res + 1, "role/", 5) == 0) {
		slash = strrchr(res + 1, '/');
		if (slash[1] != '\0' &&
		    (pr->role = policy_arena_strdup(a, slash + 1)) == NULL)
			goto nomem;
	}
	return 0;
nomem:
	err_set(c->e, "out of memory");
	return -1;
}

static int
parse_principal(struct pctx *c, const json_t *j, struct policy_stmt *st)
{
	const char *key;
	json_t *v;
	size_t n, total = 0, i, k = 0;
	int registry = c->opts != NULL && c->opts->registry;

	if (json_is_string(j)) {
		if (strcmp(json_string_value(j), "*") != 0) {
			err_set(c->e, "statement %zu: Principal must be \"*\" "
			    "or an object", c->si);
			at(c, "INVALID_PRINCIPAL");
			return -1;
		}
		if ((st->principals = zalloc(c, sizeof(*st->principals))) ==
		    NULL)
			return -1;
		st->principals[0].kind = PRIN_ANY;
		st->principals[0].value = "*";
		st->nprincipals = 1;
		return 0;
	}
	if (!json_is_object(j)) {
		err_set(c->e, "statement %zu: Principal must be \"*\" or an "
		    "object", c->si);
		at(c, "INVALID_PRINCIPAL");
		return -1;
	}
	json_object_foreach((json_t *)j, key, v) {
		here(c, st->not_principal ? "NotPrincipal" : "Principal", key,
		    NULL, NULL, 0);
		if (strcmp(key, "AWS") != 0 && strcmp(key, "Service") != 0 &&
		    strcmp(key, "Federated") != 0 &&
		    strcmp(key, "CanonicalUser") != 0 &&
		    !(registry && strcmp(key, "regauth") == 0)) {
			err_set(c->e, "statement %zu: unknown principal type "
			    "\"%.40s\"", c->si, key);
			at(c, "INVALID_PRINCIPAL");
			return -1;
		}
		if (str_list(c, v, "a principal", &n) == -1) {
			at(c, "INVALID_PRINCIPAL");
			return -1;
		}
		total += n;
	}
	if ((st->principals = zalloc(c, (total ? total : 1) *
	    sizeof(*st->principals))) == NULL)
		return -1;
	json_object_foreach((json_t *)j, key, v) {
		n = json_is_string(v) ? 1 : json_array_size(v);
		for (i = 0; i < n; i++) {
			here(c, st->not_principal ? "NotPrincipal" :
			    "Principal", key, NULL, v, i);
			if (parse_one_principal(c, key, str_at(v, i),
			    &st->principals[k++]) == -1)
				return -1;
		}
	}
	st->nprincipals = k;
	return 0;
}

/*
 * The shortest text that reads back as `d` (0.1 is "0.1", not
 * "0.10000000000000001"), so unquoted decimals compare as written.
 */
const char *
policy_real_text(double d, char *buf, size_t cap)
{
	int prec;

	for (prec = 1; prec <= 17; prec++) {
		snprintf(buf, cap, "%.*g", prec, d);
		if (strtod(buf, NULL) == d)
			break;
	}
	return buf;
}

/* A condition value as text: strings, and unquoted numbers and booleans. */
const char *
policy_scalar_text(const json_t *v, char *buf, size_t cap)
{
	if (json_is_string(v))
		return json_string_value(v);
	if (json_is_integer(v)) {
		snprintf(buf, cap, "%" JSON_INTEGER_FORMAT,
		    json_integer_value(v));
		return buf;
	}
	if (json_is_real(v))
		return policy_real_text(json_real_value(v), buf, cap);
	if (json_is_true(v))
		return "true";
	if (json_is_false(v))
		return "false";
	return NULL;
}

static int
parse_condition(struct pctx *c, const json_t *j, struct policy_stmt *st)
{
	const char *opname, *key, *key2, *s;
	json_t *block, *vals, *v2;
	struct policy_cond *cd;
	size_t total = 0, k = 0, i, n;
	char num[64];
	int rc;

	if (!json_is_object(j)) {
		err_set(c->e, "statement %zu: Condition must be an object",
		    c->si);
		here(c, "Condition", NULL, NULL, NULL, 0);
		at(c, "INVALID_CONDITION");
		return -1;
	}
	json_object_foreach((json_t *)j, opname, block) {
		if (!json_is_object(block)) {
			err_set(c->e, "statement %zu: condition operator "
			    "\"%.60s\" must hold an object", c->si, opname);
			here(c, "Condition", opname, NULL, NULL, 0);
			at(c, "INVALID_CONDITION");
			return -1;
		}
		total += json_object_size(block);
	}
	if (total > 0 && (st->conds = zalloc(c, total * sizeof(*st->conds)))
	    == NULL)
		return -1;
	json_object_foreach((json_t *)j, opname, block) {
		enum policy_cop op;
		enum policy_cset set;
		int ifexists;

		rc = policy_cond_parse_op(opname, &op, &set, &ifexists);
		here(c, "Condition", opname, NULL, NULL, 0);
		if (rc == -1) {
			err_set(c->e, "statement %zu: unknown condition "
			    "operator \"%.60s\"", c->si, opname);
			at(c, "UNKNOWN_OPERATOR");
			return -1;
		}
		if (rc == -2) {
			err_set(c->e, "statement %zu: Null cannot take "
			    "IfExists", c->si);
			at(c, "NULL_WITH_IFEXISTS");
			return -1;
		}
		if (rc == -3) {
			err_set(c->e, "statement %zu: ForAnyValue with IfExists "
			    "is ambiguous on a missing key", c->si);
			at(c, "FORANYVALUE_WITH_IFEXISTS");
			return -1;
		}
		json_object_foreach(block, key, vals) {
			here(c, "Condition", opname, key, NULL, 0);
			json_object_foreach(block, key2, v2) {
				if (key2 == key)
					break;
				if (strcasecmp(key, key2) == 0) {
					err_set(c->e, "statement %zu: "
					    "condition keys \"%.40s\" and "
					    "\"%.40s\" differ only in case",
					    c->si, key, key2);
					at(c, "DUPLICATE_CONDITION_KEY");
					return -1;
				}
			}
			if (key[0] == '\0') {
				err_set(c->e, "statement %zu: empty condition "
				    "key", c->si);
				at(c, "INVALID_CONDITION");
				return -1;
			}
			cd = &st->conds[k++];
			cd->op = op;
			cd->set = set;
			cd->ifexists = ifexists;
			if ((cd->key = policy_arena_strdup(&c->p->arena, key))
			    == NULL)
				goto nomem;
			n = json_is_array(vals) ? json_array_size(vals) : 1;
			if (op == COP_BOOL && n > 1) {
				err_set(c->e, "statement %zu: Bool takes one "
				    "value", c->si);
				at(c, "BOOL_MULTIPLE_VALUES");
				return -1;
			}
			if (n > 0 && (cd->vals = zalloc(c, n *
			    sizeof(*cd->vals))) == NULL)
				return -1;
			cd->nvals = n;
			for (i = 0; i < n; i++) {
				v2 = json_is_array(vals) ?
				    json_array_get(vals, i) : vals;
				here(c, "Condition", opname, key, vals, i);
				if ((s = policy_scalar_text(v2, num, sizeof(num))) ==
				    NULL) {
					err_set(c->e, "statement %zu: "
					    "condition value of \"%.60s\" must "
					    "be a string, number or boolean",
					    c->si, key);
					at(c, "INVALID_CONDITION");
					return -1;
				}
				if (policy_cond_parse_value(&c->p->arena, op, s,
				    c->p->version == 2012, &cd->vals[i],
				    c->e) == -1) {
					at(c, !policy_cop_allows_vars(op) &&
					    policy_tmpl_has_vars(s) ?
					    "INVALID_VARIABLE_FOR_OPERATOR" :
					    op == COP_NULL ? "INVALID_NULL_VALUE" :
					    "MALFORMED_VARIABLE");
					return prefix_err(c);
				}
			}
		}
	}
	st->nconds = k;
	return 0;
nomem:
	err_set(c->e, "out of memory");
	return -1;
}

static int
sid_ok(const char *s, enum policy_kind kind)
{
	if (kind == POLICY_RESOURCE)
		return 1;
	for (; *s != '\0'; s++)
		if (!isalnum((unsigned char)*s))
			return 0;
	return 1;
}

static int
parse_statement(struct pctx *c, const json_t *j, struct policy_stmt *st)
{
	const char *key, *s;
	json_t *v, *act = NULL, *res = NULL, *prin = NULL, *cond = NULL;
	json_t *eff = NULL;
	size_t i, n;

	here(c, NULL, NULL, NULL, NULL, 0);
	if (!json_is_object(j)) {
		err_set(c->e, "statement %zu is not an object", c->si);
		at(c, "INVALID_STATEMENT");
		return -1;
	}
	json_object_foreach((json_t *)j, key, v) {
		here(c, key, NULL, NULL, NULL, 0);
		if (strcmp(key, "Sid") == 0) {
			if (!json_is_string(v) ||
			    !sid_ok(json_string_value(v), c->p->kind)) {
				err_set(c->e, "statement %zu: invalid Sid",
				    c->si);
				at(c, "INVALID_SID");
				return -1;
			}
			if ((st->sid = policy_arena_strdup(&c->p->arena,
			    json_string_value(v))) == NULL)
				goto nomem;
		} else if (strcmp(key, "Effect") == 0) {
			eff = v;
		} else if (strcmp(key, "Action") == 0 ||
		    strcmp(key, "NotAction") == 0) {
			if (act != NULL) {
				err_set(c->e, "statement %zu: Action and "
				    "NotAction are exclusive", c->si);
				at(c, "EXCLUSIVE_ELEMENTS");
				return -1;
			}
			act = v;
			st->not_action = key[0] == 'N';
		} else if (strcmp(key, "Resource") == 0 ||
		    strcmp(key, "NotResource") == 0) {
			if (res != NULL) {
				err_set(c->e, "statement %zu: Resource and "
				    "NotResource are exclusive", c->si);
				at(c, "EXCLUSIVE_ELEMENTS");
				return -1;
			}
			res = v;
			st->not_resource = key[0] == 'N';
		} else if (strcmp(key, "Principal") == 0 ||
		    strcmp(key, "NotPrincipal") == 0) {
			if (prin != NULL) {
				err_set(c->e, "statement %zu: Principal and "
				    "NotPrincipal are exclusive", c->si);
				at(c, "EXCLUSIVE_ELEMENTS");
				return -1;
			}
			prin = v;
			st->not_principal = key[0] == 'N';
		} else if (strcmp(key, "Condition") == 0) {
			cond = v;
		} else {
			err_set(c->e, "statement %zu: unknown element "
			    "\"%.40s\"", c->si, key);
			at(c, "UNKNOWN_ELEMENT");
			return -1;
		}
	}
	if (eff == NULL || !json_is_string(eff)) {
		err_set(c->e, "statement %zu: Effect is missing", c->si);
		here(c, eff != NULL ? "Effect" : NULL, NULL, NULL, NULL, 0);
		at(c, eff != NULL ? "INVALID_EFFECT" : "MISSING_EFFECT");
		return -1;
	}
	s = json_string_value(eff);
	if (strcmp(s, "Allow") == 0) {
		st->deny = 0;
	} else if (strcmp(s, "Deny") == 0) {
		st->deny = 1;
	} else {
		err_set(c->e, "statement %zu: Effect must be \"Allow\" or "
		    "\"Deny\", not \"%.40s\"", c->si, s);
		here(c, "Effect", NULL, NULL, NULL, 0);
		at(c, "INVALID_EFFECT");
		return -1;
	}
	if (act == NULL) {
		err_set(c->e, "statement %zu: Action or NotAction is required",
		    c->si);
		here(c, NULL, NULL, NULL, NULL, 0);
		at(c, "MISSING_ACTION");
		return -1;
	}
	here(c, st->not_action ? "NotAction" : "Action", NULL, NULL, NULL, 0);
	if (str_list(c, act, "Action", &n) == -1) {
		at(c, "INVALID_ACTION");
		return -1;
	}
	if (n > 0 && (st->actions = zalloc(c, n * sizeof(*st->actions))) ==
	    NULL)
		return -1;
	for (i = 0; i < n; i++) {
		here(c, st->not_action ? "NotAction" : "Action", NULL, NULL,
		    act, i);
		if (parse_action(c, str_at(act, i), &st->actions[i]) == -1)
			return -1;
	}
	st->nactions = n;
	if (res == NULL && c->p->kind != POLICY_RESOURCE) {
		err_set(c->e, "statement %zu: Resource or NotResource is "
		    "required", c->si);
		here(c, NULL, NULL, NULL, NULL, 0);
		at(c, "MISSING_RESOURCE");
		return -1;
	}
	if (res != NULL) {
		st->has_resource = 1;
		here(c, st->not_resource ? "NotResource" : "Resource", NULL,
		    NULL, NULL, 0);
		if (str_list(c, res, "Resource", &n) == -1) {
			at(c, "INVALID_RESOURCE");
			return -1;
		}
		if (n > 0 && (st->resources = zalloc(c, n *
		    sizeof(*st->resources))) == NULL)
			return -1;
		for (i = 0; i < n; i++) {
			here(c, st->not_resource ? "NotResource" : "Resource",
			    NULL, NULL, res, i);
			if (parse_resource(c, str_at(res, i),
			    &st->resources[i]) == -1)
				return -1;
		}
		st->nresources = n;
	}
	if (prin != NULL && c->p->kind != POLICY_RESOURCE) {
		err_set(c->e, "statement %zu: %s is only allowed in resource "
		    "policies", c->si, st->not_principal ? "NotPrincipal" :
		    "Principal");
		here(c, st->not_principal ? "NotPrincipal" : "Principal", NULL,
		    NULL, NULL, 0);
		at(c, "PRINCIPAL_NOT_ALLOWED");
		return -1;
	}
	if (prin == NULL && c->p->kind == POLICY_RESOURCE) {
		err_set(c->e, "statement %zu: a resource policy statement "
		    "needs Principal or NotPrincipal", c->si);
		here(c, NULL, NULL, NULL, NULL, 0);
		at(c, "MISSING_PRINCIPAL");
		return -1;
	}
	if (prin != NULL) {
		st->has_principal = 1;
		if (parse_principal(c, prin, st) == -1)
			return -1;
	}
	if (cond != NULL && parse_condition(c, cond, st) == -1)
		return -1;
	return 0;
nomem:
	err_set(c->e, "out of memory");
	return -1;
}

struct policy *
policy_parse(const json_t *doc, enum policy_kind kind,
    const struct policy_parse_opts *opts, struct err *e)
{
	return policy_parse_diag(doc, kind, opts, e, NULL);
}

struct policy *
policy_parse_diag(const json_t *doc, enum policy_kind kind,
    const struct policy_parse_opts *opts, struct err *e,
    struct policy_diag *d)
{
	struct policy *p = NULL, *ret = NULL;
	struct pctx c;
	const char *key, *ver;
	json_t *v, *stmts = NULL;
	size_t i, j, n;

	memset(&c, 0, sizeof(c));
	c.si = NO_STMT;
	c.d = d;
	if (d != NULL) {
		d->path[0] = '\0';
		d->code = NULL;
	}
	if (doc == NULL || !json_is_object(doc)) {
		err_set(e, "policy document is not a JSON object");
		at(&c, "INVALID_DOCUMENT");
		goto out;
	}
	if ((p = calloc(1, sizeof(*p))) == NULL) {
		err_set(e, "out of memory");
		goto out;
	}
	p->kind = kind;
	c.p = p;
	c.opts = opts;
	c.e = e;
	c.account = opts != NULL && opts->account != NULL ? opts->account :
	    DEFAULT_ACCOUNT;
	json_object_foreach((json_t *)doc, key, v) {
		here(&c, key, NULL, NULL, NULL, 0);
		if (strcmp(key, "Version") == 0) {
			ver = json_is_string(v) ? json_string_value(v) : "";
			if (strcmp(ver, "2012-10-17") == 0) {
				p->version = 2012;
			} else if (strcmp(ver, "2008-10-17") == 0) {
				p->version = 2008;
			} else {
				err_set(e, "unknown policy Version \"%.40s\"",
				    ver);
				at(&c, "INVALID_VERSION");
				goto out;
			}
		} else if (strcmp(key, "Statement") == 0) {
			stmts = v;
		} else if (strcmp(key, "Id") == 0 && kind == POLICY_RESOURCE) {
			if (!json_is_string(v)) {
				err_set(e, "Id must be a string");
				at(&c, "INVALID_ELEMENT");
				goto out;
			}
		} else {
			err_set(e, "unknown top-level element \"%.40s\"", key);
			at(&c, "UNKNOWN_ELEMENT");
			goto out;
		}
	}
	if (stmts == NULL || (json_is_array(stmts) &&
	    json_array_size(stmts) == 0)) {
		err_set(e, "Statement is missing or empty");
		here(&c, stmts != NULL ? "Statement" : NULL, NULL, NULL, NULL,
		    0);
		at(&c, "MISSING_STATEMENT");
		goto out;
	}
	if (!json_is_array(stmts) && !json_is_object(stmts)) {
		err_set(e, "Statement must be an object or an array");
		here(&c, "Statement", NULL, NULL, NULL, 0);
		at(&c, "INVALID_STATEMENT");
		goto out;
	}
	c.stmt_array = json_is_array(stmts);
	n = json_is_array(stmts) ? json_array_size(stmts) : 1;
	if ((p->stmts = policy_arena_alloc(&p->arena, n * sizeof(*p->stmts)))
	    == NULL) {
		err_set(e, "out of memory");
		goto out;
	}
	memset(p->stmts, 0, n * sizeof(*p->stmts));
	for (i = 0; i < n; i++) {
		c.si = i;
		if (parse_statement(&c, json_is_array(stmts) ?
		    json_array_get(stmts, i) : stmts, &p->stmts[i]) == -1)
			goto out;
		if (p->stmts[i].sid == NULL || p->stmts[i].sid[0] == '\0')
			continue;
		for (j = 0; j < i; j++) {
			if (p->stmts[j].sid != NULL &&
			    strcmp(p->stmts[j].sid, p->stmts[i].sid) == 0) {
				err_set(e, "duplicate Sid \"%.40s\"",
				    p->stmts[i].sid);
				here(&c, "Sid", NULL, NULL, NULL, 0);
				at(&c, "DUPLICATE_SID");
				goto out;
			}
		}
	}
	p->nstmts = n;
	for (i = 0; i < n; i++) {
		const struct policy_stmt *st = &p->stmts[i];
		p->uses_context |= st->nconds > 0;
		for (j = 0; j < st->nresources; j++)
			p->uses_context |= st->resources[j].nparts > 0;
	}
	if (policy_prepare(p) == -1) {
		err_set(e, "out of memory");
		goto out;
	}
	if (policy_index_build(p, e) == -1)
		goto out;
	ret = p;
	p = NULL;
out:
	policy_free(p);
	return ret;
}

int
policy_uses_context(const struct policy *p)
{
	return p->uses_context;
}
