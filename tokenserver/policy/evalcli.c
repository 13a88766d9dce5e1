/*
 * `regauthd policy eval` (POLICY.md): JSON lines in, one decision line out
 * per input line, in order. The strings are compared as given: no registry
 * canonicalisation and no context derived from the principal.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "internal.h"

#define LINE_MAX_BYTES	(64u * 1024 * 1024)
#define MAX_POLICIES	4096

/*
 * Duplicate keys. The line is decoded once with JSON_REJECT_DUPLICATES; if
 * that fails on a duplicate, this scanner walks the raw text to find where:
 * inside policies[i] (that document is rejected) or elsewhere (the whole
 * line is).
 */
enum scan_state {
	SC_ROOT,	/* the line's object */
	SC_POLICIES,	/* its "policies" array */
	SC_ENTRY,	/* policies[i] */
	SC_DOC,		/* within policies[i] */
	SC_OTHER,
};

struct scan {
	const char	*s;
	size_t		 len, pos;
	unsigned char	*bad;		/* per policy index */
	size_t		 nbad;
	int		 outside;	/* a duplicate outside any policy */
	int		 error;
};

struct keyref {
	const char	*p;
	size_t		 n;
};

static void
scan_ws(struct scan *sc)
{
	while (sc->pos < sc->len && (sc->s[sc->pos] == ' ' ||
	    sc->s[sc->pos] == '\t' || sc->s[sc->pos] == '\n' ||
	    sc->s[sc->pos] == '\r'))
		sc->pos++;
}

/* Skip a string at pos (on its '"'); its raw body in *k. */
static void
scan_string(struct scan *sc, struct keyref *k)
{
	size_t start = ++sc->pos;

	while (sc->pos < sc->len && sc->s[sc->pos] != '"') {
		if (sc->s[sc->pos] == '\\')
			sc->pos++;
		sc->pos++;
	}
	if (sc->pos >= sc->len) {
		sc->error = 1;
		return;
	}
	if (k != NULL) {
		k->p = sc->s + start;
		k->n = sc->pos - start;
	}
	sc->pos++;
}

static int
keycmp(const void *a, const void *b)
{
	const struct keyref *x = a, *y = b;
	size_t n = x->n < y->n ? x->n : y->n;
	int c = memcmp(x->p, y->p, n);

	if (c != 0)
		return c;
	return x->n < y->n ? -1 : x->n > y->n;
}

static void
mark(struct scan *sc, enum scan_state st, size_t idx)
{
	if ((st == SC_DOC || st == SC_ENTRY) && idx < sc->nbad)
		sc->bad[idx] = 1;
	else
		sc->outside = 1;
}

static void scan_value(struct scan *, enum scan_state, size_t, int);

static void
scan_object(struct scan *sc, enum scan_state st, size_t idx, int depth)
{
	struct keyref *keys = NULL, k, *nk;
	size_t nkeys = 0, cap = 0, i;
	enum scan_state child;

	sc->pos++;
	scan_ws(sc);
	if (sc->pos < sc->len && sc->s[sc->pos] == '}') {
		sc->pos++;
		return;
	}
	while (!sc->error && sc->pos < sc->len) {
		scan_ws(sc);
		if (sc->pos >= sc->len || sc->s[sc->pos] != '"') {
			sc->error = 1;
			break;
		}
		scan_string(sc, &k);
		if (nkeys == cap) {
			cap = cap ? cap * 2 : 16;
			if ((nk = realloc(keys, cap * sizeof(*keys))) == NULL) {
				sc->error = 1;
				break;
			}
			keys = nk;
		}
		keys[nkeys++] = k;
		scan_ws(sc);
		if (sc->pos >= sc->len || sc->s[sc->pos] != ':') {
			sc->error = 1;
			break;
		}
		sc->pos++;
		child = SC_OTHER;
		if (st == SC_ROOT && k.n == 8 && memcmp(k.p, "policies", 8) == 0)
			child = SC_POLICIES;
		else if (st == SC_ENTRY && k.n == 6 &&
		    memcmp(k.p, "policy", 6) == 0)
			child = SC_DOC;
		else if (st == SC_DOC)
			child = SC_DOC;
		scan_value(sc, child, idx, depth + 1);
		scan_ws(sc);
		if (sc->pos < sc->len && sc->s[sc->pos] == ',') {
			sc->pos++;
			continue;
		}
		if (sc->pos < sc->len && sc->s[sc->pos] == '}') {
			sc->pos++;
			break;
		}
		sc->error = 1;
	}
	if (nkeys > 1) {
		qsort(keys, nkeys, sizeof(*keys), keycmp);
		for (i = 1; i < nkeys; i++)
			if (keycmp(&keys[i - 1], &keys[i]) == 0) {
				mark(sc, st, idx);
				break;
			}
	}
	free(keys);
}

static void
scan_value(struct scan *sc, enum scan_state st, size_t idx, int depth)
{
	size_t i = 0;

	scan_ws(sc);
	if (sc->pos >= sc->len || depth > 4096) {
		sc->error = 1;
		return;
	}
	switch (sc->s[sc->pos]) {
	case '{':
		scan_object(sc, st, idx, depth);
		return;
	case '[':
		sc->pos++;
		scan_ws(sc);
		if (sc->pos < sc->len && sc->s[sc->pos] == ']') {
			sc->pos++;
			return;
		}
		while (!sc->error && sc->pos < sc->len) {
			scan_value(sc, st == SC_POLICIES ? SC_ENTRY :
			    st == SC_DOC ? SC_DOC : SC_OTHER,
			    st == SC_POLICIES ? i : idx, depth + 1);
			i++;
			scan_ws(sc);
			if (sc->pos < sc->len && sc->s[sc->pos] == ',') {
				sc->pos++;
				continue;
			}
			if (sc->pos < sc->len && sc->s[sc->pos] == ']') {
				sc->pos++;
				return;
			}
			sc->error = 1;
		}
		return;
	case '"':
		scan_string(sc, NULL);
		return;
	default:
		while (sc->pos < sc->len && strchr(",]} \t\r\n",
		    sc->s[sc->pos]) == NULL)
			sc->pos++;
		return;
	}
}

static void
put_line(FILE *out, json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);

	if (s == NULL) {
		fputs("{\"error\":\"out of memory\"}\n", out);
	} else {
		fputs(s, out);
		fputc('\n', out);
		free(s);
	}
	fflush(out);
}

static void
put_error(FILE *out, const char *msg)
{
	json_t *j = json_pack("{s:s}", "error", msg);

	if (j == NULL) {
		fputs("{\"error\":\"out of memory\"}\n", out);
		fflush(out);
		return;
	}
	put_line(out, j);
	json_decref(j);
}

/*
 * The context as the engine reads it: every value a string or an array of
 * strings (unquoted numbers and booleans become their text). Anything else
 * is refused at this boundary rather than evaluated.
 */
static json_t *
normalise_context(const json_t *ctx, struct err *e)
{
	json_t *out = NULL, *ret = NULL, *v, *x, *arr;
	const char *k;
	char buf[64];
	size_t i;

	if ((out = json_object()) == NULL)
		goto nomem;
	if (ctx == NULL || json_is_null(ctx)) {
		ret = out;
		out = NULL;
		goto done;
	}
	if (!json_is_object(ctx)) {
		err_set(e, "request.context must be an object");
		goto done;
	}
	json_object_foreach((json_t *)ctx, k, v) {
		if (json_is_array(v)) {
			if ((arr = json_array()) == NULL ||
			    json_object_set_new(out, k, arr) == -1)
				goto nomem;
			json_array_foreach(v, i, x) {
				const char *s = NULL;

				if (json_is_string(x))
					s = json_string_value(x);
				else if (json_is_integer(x))
					s = (snprintf(buf, sizeof(buf), "%"
					    JSON_INTEGER_FORMAT,
					    json_integer_value(x)), buf);
				else if (json_is_real(x))
					s = policy_real_text(json_real_value(x),
					    buf, sizeof(buf));
				else if (json_is_boolean(x))
					s = json_is_true(x) ? "true" : "false";
				if (s == NULL) {
					err_set(e, "context key \"%.60s\" holds "
					    "a value that is not a string", k);
					goto done;
				}
				if (json_array_append_new(arr,
				    json_string(s)) == -1)
					goto nomem;
			}
			continue;
		}
		if (json_is_string(v)) {
			if (json_object_set(out, k, v) == -1)
				goto nomem;
			continue;
		}
		if (json_is_integer(v)) {
			snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT,
			    json_integer_value(v));
		} else if (json_is_real(v)) {
			policy_real_text(json_real_value(v), buf, sizeof(buf));
		} else if (json_is_boolean(v)) {
			snprintf(buf, sizeof(buf), "%s", json_is_true(v) ?
			    "true" : "false");
		} else {
			err_set(e, "context key \"%.60s\" must be a string or "
			    "an array of strings", k);
			goto done;
		}
		if (json_object_set_new(out, k, json_string(buf)) == -1)
			goto nomem;
	}
	ret = out;
	out = NULL;
	goto done;
nomem:
	err_set(e, "out of memory");
done:
	json_decref(out);
	return ret;
}

static int
kind_of(const char *s, enum policy_kind *k)
{
	if (s == NULL)
		return -1;
	if (strcmp(s, "identity") == 0)
		*k = POLICY_IDENTITY;
	else if (strcmp(s, "resource") == 0)
		*k = POLICY_RESOURCE;
	else if (strcmp(s, "boundary") == 0)
		*k = POLICY_BOUNDARY;
	else
		return -1;
	return 0;
}

static const char *
req_str(const json_t *req, const char *key)
{
	const json_t *v = json_object_get(req, key);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* Decide one input line and write its output line. */
static void
eval_line(const char *line, size_t len, FILE *out, const char *account)
{
	json_error_t jerr;
	json_t *root = NULL, *pols, *req, *ctx = NULL, *errs = NULL;
	json_t *o = NULL, *stm = NULL, *sid;
	struct policy_ref *refs = NULL;
	struct policy_parse_opts opts = { account, 0 };
	struct policy_request rq;
	struct policy_result res;
	struct scan sc;
	struct err e;
	size_t i, n = 0, nrefs = 0;
	int dup = 0;

	memset(&sc, 0, sizeof(sc));
	memset(&e, 0, sizeof(e));
	root = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		if ((root = json_loadb(line, len, 0, &jerr)) == NULL) {
			char msg[240];

			snprintf(msg, sizeof(msg), "invalid JSON: %s "
			    "(column %d)", jerr.text, jerr.column);
			put_error(out, msg);
			goto out;
		}
		dup = 1;
	}
	if (!json_is_object(root)) {
		put_error(out, "a line must be a JSON object");
		goto out;
	}
	pols = json_object_get(root, "policies");
	if (pols != NULL && !json_is_array(pols)) {
		put_error(out, "\"policies\" must be an array");
		goto out;
	}
	n = pols != NULL ? json_array_size(pols) : 0;
	if (n > MAX_POLICIES) {
		put_error(out, "too many policies");
		goto out;
	}
	if (dup) {
		sc.s = line;
		sc.len = len;
		sc.nbad = n;
		if (n > 0 && (sc.bad = calloc(n, 1)) == NULL) {
			put_error(out, "out of memory");
			goto out;
		}
		scan_value(&sc, SC_ROOT, 0, 0);
		if (sc.outside || sc.error) {
			put_error(out, "invalid JSON: duplicate object key");
			goto out;
		}
	}
	req = json_object_get(root, "request");
	if (!json_is_object(req) || req_str(req, "principal") == NULL ||
	    req_str(req, "action") == NULL || req_str(req, "resource") ==
	    NULL) {
		put_error(out, "\"request\" needs string principal, action and "
		    "resource");
		goto out;
	}
	if ((ctx = normalise_context(json_object_get(req, "context"), &e)) ==
	    NULL) {
		put_error(out, e.msg);
		goto out;
	}
	if ((errs = json_array()) == NULL || (stm = json_array()) == NULL ||
	    (n > 0 && (refs = calloc(n, sizeof(*refs))) == NULL)) {
		put_error(out, "out of memory");
		goto out;
	}
	for (i = 0; i < n; i++) {
		json_t *ent = json_array_get(pols, i);
		enum policy_kind kind;
		struct policy *p;

		memset(&e, 0, sizeof(e));
		if (!json_is_object(ent) || kind_of(json_string_value(
		    json_object_get(ent, "type")), &kind) == -1) {
			err_set(&e, "an entry needs \"type\": identity, "
			    "resource or boundary");
		} else if (sc.bad != NULL && sc.bad[i]) {
			err_set(&e, "duplicate key in policy document");
		} else if ((p = policy_parse(json_object_get(ent, "policy"),
		    kind, &opts, &e)) != NULL) {
			refs[nrefs].policy = p;
			refs[nrefs].kind = kind;
			refs[nrefs].index = (int)i;
			nrefs++;
			continue;
		}
		if (json_array_append_new(errs, json_pack("{s:I,s:s}",
		    "policy", (json_int_t)i, "message", e.msg)) == -1) {
			put_error(out, "out of memory");
			goto out;
		}
	}
	memset(&rq, 0, sizeof(rq));
	rq.principal = req_str(req, "principal");
	rq.action = req_str(req, "action");
	rq.resource = req_str(req, "resource");
	rq.context = ctx;
	rq.account = account;
	policy_evaluate(refs, nrefs, &rq, &res);
	for (i = 0; i < res.nmatches; i++) {
		sid = res.matches[i].sid != NULL ?
		    json_string(res.matches[i].sid) : json_null();
		if (json_array_append_new(stm, json_pack("{s:i,s:o}",
		    "policy", res.matches[i].policy, "sid", sid)) == -1) {
			put_error(out, "out of memory");
			goto out;
		}
	}
	if ((o = json_pack("{s:s,s:O,s:O}", "decision",
	    policy_decision_name(res.decision), "statements", stm, "errors",
	    errs)) == NULL) {
		put_error(out, "out of memory");
		goto out;
	}
	put_line(out, o);
out:
	for (i = 0; i < nrefs; i++)
		policy_free((struct policy *)refs[i].policy);
	free(refs);
	free(sc.bad);
	json_decref(o);
	json_decref(stm);
	json_decref(errs);
	json_decref(ctx);
	json_decref(root);
}

/*
 * Read JSON lines from `in` until EOF, one output line each. A line that
 * is not valid JSON gets {"error": ...}. Returns -1 only when `in` fails.
 */
int
policy_eval_stream(FILE *in, FILE *out, const char *account)
{
	char *line = NULL;
	size_t cap = 0, len;
	ssize_t r;
	int rc = -1;

	if (account == NULL)
		account = "000000000000";
	while ((r = getline(&line, &cap, in)) != -1) {
		len = (size_t)r;
		while (len > 0 && (line[len - 1] == '\n' ||
		    line[len - 1] == '\r'))
			len--;
		if (len > LINE_MAX_BYTES) {
			put_error(out, "line too long");
			continue;
		}
		eval_line(line, len, out, account);
	}
	if (ferror(in))
		goto out;
	rc = 0;
out:
	free(line);
	return rc;
}
