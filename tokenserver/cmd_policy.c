/*
 * `regauthd policy check -c DIR | FILE... [--kind identity|resource|boundary]`:
 * lint policy files (policy_lint_document) and print one line per finding,
 * `FILE:LINE:COLUMN: severity: CODE: message`, sorted by file and position.
 * Exit 1 when any finding is an error, else 0; 2 on a usage error.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cmd_policy.h"
#include "config.h"
#include "jsonpos.h"
#include "policy/policy.h"
#include "util.h"


struct finding {
	char				*file;
	int				 line, col;
	size_t				 seq;
	enum policy_lint_severity	 sev;
	const char			*code;
	char				 msg[200];
};

struct report {
	struct finding	*v;
	size_t		 n, cap;
	int		 errors;
};

/* One file read for linting: its text, positions and JSON. */
struct doc {
	const char	*file;
	char		*buf;
	size_t		 len;
	struct jsonpos	*jp;
	json_t		*j;
};

/* Names of DIR/SUB/ *.json, sorted; a missing folder is empty. */
struct names {
	char	**v;
	size_t	  n;
};

static int cmp_str(const void *, const void *);

static void
report_add(struct report *r, const char *file, int line, int col,
    enum policy_lint_severity sev, const char *code, const char *msg)
{
	struct finding *f, *nv;
	size_t cap;
	char *p;

	if (r->n == r->cap) {
		cap = r->cap ? r->cap * 2 : 32;
		if ((nv = realloc(r->v, cap * sizeof(*nv))) == NULL)
			abort();
		r->v = nv;
		r->cap = cap;
	}
	f = &r->v[r->n];
	if ((f->file = strdup(file)) == NULL)
		abort();
	f->line = line;
	f->col = col;
	f->seq = r->n++;
	f->sev = sev;
	f->code = code;
	snprintf(f->msg, sizeof(f->msg), "%s", msg);
	/* One finding, one line. */
	for (p = f->msg; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	if (sev == POLICY_LINT_ERROR)
		r->errors++;
}

/* A finding about the element at JSON Pointer `path` of `d`. */
static void
report_at(struct report *r, const struct doc *d, const char *path,
    enum policy_lint_severity sev, const char *code, const char *msg)
{
	struct jsonpos_loc loc = { 1, 1, 0, 0 };

	if (jsonpos_find(d->jp, path, &loc) == -1)
		loc.line = loc.col = 1;
	if (loc.key_line > 0)
		report_add(r, d->file, loc.key_line, loc.key_col, sev, code,
		    msg);
	else
		report_add(r, d->file, loc.line, loc.col, sev, code, msg);
}

static void
doc_free(struct doc *d)
{
	/* users/ files hold password hashes. */
	if (d->buf != NULL)
		util_secure_free(d->buf, d->len);
	jsonpos_free(d->jp);
	json_decref(d->j);
	memset(d, 0, sizeof(*d));
}

/*
 * Read and parse `file`. Unreadable files and invalid JSON (a syntax error,
 * a duplicate key, too deep, too large) are reported as errors and -1
 * returned.
 */
static int
doc_load(struct report *r, const char *file, struct doc *d)
{
	struct jsonpos_loc loc = { 1, 1, 0, 0 };
	json_error_t je;
	struct err e;

	memset(d, 0, sizeof(*d));
	d->file = file;
	if ((d->buf = util_read_file(file, UTIL_JSON_MAX_BYTES, &d->len, &e))
	    == NULL) {
		report_add(r, file, 1, 1, POLICY_LINT_ERROR, "UNREADABLE",
		    e.msg);
		return -1;
	}
	if ((d->jp = jsonpos_new(d->buf, d->len, &loc, &e)) == NULL) {
		/* e.msg is "LINE:COL: what". */
		const char *m = strstr(e.msg, ": ");

		report_add(r, file, loc.line, loc.col, POLICY_LINT_ERROR,
		    "INVALID_JSON", m != NULL ? m + 2 : e.msg);
		goto fail;
	}
	if ((d->j = json_loadb(d->buf, d->len, JSON_REJECT_DUPLICATES, &je))
	    == NULL) {
		report_add(r, file, je.line > 0 ? je.line : 1,
		    je.column > 0 ? je.column : 1, POLICY_LINT_ERROR,
		    strstr(je.text, "duplicate") != NULL ? "DUPLICATE_KEY" :
		    "INVALID_JSON", je.text);
		goto fail;
	}
	return 0;
fail:
	doc_free(d);
	return -1;
}

/* Lint `doc` (at `prefix` inside d) and report its findings. */
static void
lint_into(struct report *r, const struct doc *d, const json_t *doc,
    enum policy_kind kind, const char *prefix)
{
	struct policy_lint l = { NULL, 0, 0 };
	size_t i;

	if (policy_lint_document(doc, kind, prefix, &l) == -1)
		report_add(r, d->file, 1, 1, POLICY_LINT_ERROR, "INTERNAL",
		    "out of memory");
	for (i = 0; i < l.n; i++)
		report_at(r, d, l.v[i].path, l.v[i].severity, l.v[i].code,
		    l.v[i].msg);
	policy_lint_free(&l);
}

/* roles/NAME.json: {"trust": {...}, "policies": [...], ...}. */
static int
is_role(const json_t *j)
{
	return json_is_object(j) && json_object_get(j, "trust") != NULL &&
	    json_object_get(j, "Statement") == NULL;
}

static int
is_wrapper(const json_t *j)
{
	return json_is_object(j) && json_object_get(j, "policy") != NULL &&
	    json_object_get(j, "Statement") == NULL;
}

/* Any statement with Principal or NotPrincipal: a resource policy. */
static int
has_principal(const json_t *j)
{
	const json_t *st = json_object_get(j, "Statement"), *s;
	size_t i, n = json_is_array(st) ? json_array_size(st) : 1;

	for (i = 0; i < n; i++) {
		s = json_is_array(st) ? json_array_get(st, i) : st;
		if (json_object_get(s, "Principal") != NULL ||
		    json_object_get(s, "NotPrincipal") != NULL)
			return 1;
	}
	return 0;
}

/* repositories/NAME.json: {"repositories": [...], "policy": {...}}. */
static void
lint_wrapper(struct report *r, const struct doc *d, int kind)
{
	static const char *const known[] = { "repositories", "policy",
	    "description" };
	char path[256], msg[200];
	const json_t *pats, *v, *pol;
	const char *key;
	size_t i, k;

	if (!json_is_object(d->j)) {
		report_at(r, d, "", POLICY_LINT_ERROR, "INVALID_DOCUMENT",
		    "a repository policy file must be a JSON object");
		return;
	}
	json_object_foreach(d->j, key, v) {
		for (k = 0; k < 3 && strcmp(known[k], key) != 0; k++)
			;
		if (k < 3)
			continue;
		path[0] = '\0';
		jsonpos_path_add(path, sizeof(path), key);
		snprintf(msg, sizeof(msg), "unknown field \"%.60s\"", key);
		report_at(r, d, path, POLICY_LINT_ERROR, "UNKNOWN_ELEMENT",
		    msg);
	}
	pats = json_object_get(d->j, "repositories");
	if (!json_is_array(pats) || json_array_size(pats) == 0) {
		report_at(r, d, pats != NULL ? "/repositories" : "",
		    POLICY_LINT_ERROR, "INVALID_REPOSITORIES", "\"repositories\""
		    " must be a non-empty array of names or patterns");
	} else {
		json_array_foreach(pats, i, v) {
			if (json_is_string(v) &&
			    strlen(json_string_value(v)) ==
			    json_string_length(v) &&
			    config_valid_repo_pattern(json_string_value(v)))
				continue;
			snprintf(path, sizeof(path), "/repositories/%zu", i);
			snprintf(msg, sizeof(msg), "repositories[%zu] must be "
			    "a repository name or a pattern with * and ?", i);
			report_at(r, d, path, POLICY_LINT_ERROR,
			    "INVALID_REPOSITORIES", msg);
		}
	}
	pol = json_object_get(d->j, "policy");
	lint_into(r, d, pol, kind >= 0 ? (enum policy_kind)kind :
	    POLICY_RESOURCE, "/policy");
}

void
cmd_policy_federated(const json_t *doc, const char *prefix,
    void (*fn)(void *, const char *, const char *), void *arg)
{
	const json_t *st = json_object_get(doc, "Statement"), *s, *fed, *v;
	char path[256];
	size_t i, k, n = json_is_array(st) ? json_array_size(st) : 1, m;

	for (i = 0; i < n; i++) {
		s = json_is_array(st) ? json_array_get(st, i) : st;
		fed = json_object_get(json_object_get(s, "Principal"),
		    "Federated");
		m = json_is_array(fed) ? json_array_size(fed) : 1;
		for (k = 0; fed != NULL && k < m; k++) {
			v = json_is_array(fed) ? json_array_get(fed, k) : fed;
			if (!json_is_string(v))
				continue;
			snprintf(path, sizeof(path), "%s/Statement", prefix);
			if (json_is_array(st))
				jsonpos_path_add_index(path, sizeof(path), i);
			jsonpos_path_add(path, sizeof(path), "Principal");
			jsonpos_path_add(path, sizeof(path), "Federated");
			if (json_is_array(fed))
				jsonpos_path_add_index(path, sizeof(path), k);
			fn(arg, json_string_value(v), path);
		}
	}
}

struct issuer_check {
	struct report		*r;
	const struct doc	*d;
	const struct names	*issuers;
};

static void
unknown_issuer(void *arg, const char *url, const char *path)
{
	struct issuer_check *c = arg;
	char msg[200];

	if (c->issuers->n > 0 && bsearch(&url, c->issuers->v, c->issuers->n,
	    sizeof(*c->issuers->v), cmp_str) != NULL)
		return;
	snprintf(msg, sizeof(msg), "issuer \"%.100s\" is not trusted: add it "
	    "with regauthd oidc add", url);
	report_at(c->r, c->d, path, POLICY_LINT_WARNING, "UNKNOWN_ISSUER", msg);
}

/*
 * A role's trust policy: linted as a resource policy (TRUST_WITHOUT_SUBJECT
 * and the rest), and each Federated principal must be a trusted issuer
 * (`issuers`: their URLs, sorted; NULL when not known).
 */
static void
lint_role(struct report *r, const struct doc *d, const struct names *issuers)
{
	const json_t *trust = json_object_get(d->j, "trust");

	if (!json_is_object(trust)) {
		report_at(r, d, "/trust", POLICY_LINT_ERROR, "INVALID_DOCUMENT",
		    "\"trust\" must be an IAM policy document");
		return;
	}
	lint_into(r, d, trust, POLICY_RESOURCE, "/trust");
	if (issuers != NULL)
		cmd_policy_federated(trust, "/trust", unknown_issuer,
		    &(struct issuer_check){ r, d, issuers });
}

/* A FILE given on the command line; `kind` -1 means "detect". */
static void
check_file(struct report *r, const char *file, int kind)
{
	struct doc d;

	if (doc_load(r, file, &d) == -1)
		return;
	if (is_wrapper(d.j))
		lint_wrapper(r, &d, kind);
	else if (is_role(d.j))
		lint_role(r, &d, NULL);
	else
		lint_into(r, &d, d.j, kind >= 0 ? (enum policy_kind)kind :
		    has_principal(d.j) ? POLICY_RESOURCE : POLICY_IDENTITY, "");
	doc_free(&d);
}


static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
names_list(const char *dir, const char *sub, struct names *out)
{
	char path[4096];
	struct dirent *de;
	size_t len, cap = 0;
	char **nv;
	DIR *dp;

	memset(out, 0, sizeof(*out));
	if (config_path(path, sizeof(path), dir, sub, NULL) == -1)
		return -1;
	if ((dp = opendir(path)) == NULL)
		return errno == ENOENT ? 0 : -1;
	while ((de = readdir(dp)) != NULL) {
		len = strlen(de->d_name);
		if (de->d_name[0] == '.' || len <= 5 ||
		    strcmp(de->d_name + len - 5, ".json") != 0)
			continue;
		if (out->n == cap) {
			cap = cap ? cap * 2 : 16;
			if ((nv = realloc(out->v, cap * sizeof(*nv))) == NULL)
				abort();
			out->v = nv;
		}
		if ((out->v[out->n] = strndup(de->d_name, len - 5)) == NULL)
			abort();
		out->n++;
	}
	closedir(dp);
	if (out->n > 0)
		qsort(out->v, out->n, sizeof(*out->v), cmp_str);
	return 0;
}

static int
names_has(const struct names *n, const char *name)
{
	return n->n > 0 && config_valid_name(name) && bsearch(&name, n->v,
	    n->n, sizeof(*n->v), cmp_str) != NULL;
}

static void
names_free(struct names *n)
{
	size_t i;

	for (i = 0; i < n->n; i++)
		free(n->v[i]);
	free(n->v);
	memset(n, 0, sizeof(*n));
}

/* The URLs of the trusted issuers (oidc/NAME.json "issuer"), sorted. */
static int
issuer_urls(const char *dir, struct names *out)
{
	struct names files;
	char path[4096];
	const json_t *u;
	struct err e;
	json_t *j;
	size_t i;

	memset(out, 0, sizeof(*out));
	if (names_list(dir, "oidc", &files) == -1)
		return -1;
	if ((out->v = calloc(files.n ? files.n : 1, sizeof(*out->v))) == NULL)
		abort();
	for (i = 0; i < files.n; i++) {
		if (config_path(path, sizeof(path), dir, "oidc", files.v[i]) ==
		    -1 || (j = util_json_load_file(path, &e)) == NULL)
			continue;
		u = json_object_get(j, "issuer");
		if (json_is_string(u) && (out->v[out->n] =
		    strdup(json_string_value(u))) != NULL)
			out->n++;
		json_decref(j);
	}
	names_free(&files);
	if (out->n > 0)
		qsort(out->v, out->n, sizeof(*out->v), cmp_str);
	return 0;
}

/* The policy names of a "policies" list (string or array) or "boundary". */
static void
check_refs(struct report *r, const struct doc *d, const char *field,
    const struct names *known, const char *code, const char *what)
{
	const json_t *list = json_object_get(d->j, field), *v;
	char path[256], msg[200];
	size_t i, n;

	if (list == NULL || json_is_null(list))
		return;
	n = json_is_array(list) ? json_array_size(list) : 1;
	for (i = 0; i < n; i++) {
		v = json_is_array(list) ? json_array_get(list, i) : list;
		path[0] = '\0';
		jsonpos_path_add(path, sizeof(path), field);
		if (json_is_array(list))
			jsonpos_path_add_index(path, sizeof(path), i);
		if (!json_is_string(v)) {
			snprintf(msg, sizeof(msg), "\"%s\" must name %ss", field,
			    what);
			report_at(r, d, path, POLICY_LINT_ERROR,
			    "INVALID_ELEMENT", msg);
		} else if (!names_has(known, json_string_value(v))) {
			snprintf(msg, sizeof(msg), "unknown %s \"%.80s\"",
			    what, json_string_value(v));
			report_at(r, d, path, POLICY_LINT_ERROR, code, msg);
		}
	}
}

static int
file_path(char *buf, size_t sz, const char *dir, const char *sub,
    const char *name)
{
	return config_path(buf, sz, dir, sub, name);
}

/* Everything of a configuration directory. */
static void
check_dir(struct report *r, const char *dir)
{
	static const char *const psubs[] = { "users", "serviceaccounts",
	    "roles" };
	struct names pols, groups, prin, repos, issuers;
	struct names boundaries = { NULL, 0 };
	char file[4096];
	struct doc d;
	size_t i, k, cap = 0;
	const json_t *b;
	char **nv;

	if (names_list(dir, "policies", &pols) == -1 ||
	    names_list(dir, "groups", &groups) == -1 ||
	    names_list(dir, "repositories", &repos) == -1 ||
	    issuer_urls(dir, &issuers) == -1) {
		report_add(r, dir, 1, 1, POLICY_LINT_ERROR, "UNREADABLE",
		    strerror(errno));
		return;
	}
	/* Principals first: which policies are boundaries, and references. */
	for (k = 0; k < 3; k++) {
		if (names_list(dir, psubs[k], &prin) == -1)
			continue;
		for (i = 0; i < prin.n; i++) {
			if (file_path(file, sizeof(file), dir, psubs[k],
			    prin.v[i]) == -1 || doc_load(r, file, &d) == -1)
				continue;
			check_refs(r, &d, "policies", &pols, "UNKNOWN_POLICY",
			    "policy");
			check_refs(r, &d, "boundary", &pols, "UNKNOWN_POLICY",
			    "policy");
			check_refs(r, &d, "groups", &groups, "UNKNOWN_GROUP",
			    "group");
			if (k == 2)
				lint_role(r, &d, &issuers);
			b = json_object_get(d.j, "boundary");
			if (json_is_string(b)) {
				if (boundaries.n == cap) {
					cap = cap ? cap * 2 : 8;
					if ((nv = realloc(boundaries.v, cap *
					    sizeof(*nv))) == NULL)
						abort();
					boundaries.v = nv;
				}
				if ((boundaries.v[boundaries.n++] =
				    strdup(json_string_value(b))) == NULL)
					abort();
			}
			doc_free(&d);
		}
		names_free(&prin);
	}
	if (boundaries.n > 0)
		qsort(boundaries.v, boundaries.n, sizeof(*boundaries.v),
		    cmp_str);
	for (i = 0; i < groups.n; i++) {
		if (file_path(file, sizeof(file), dir, "groups",
		    groups.v[i]) == -1 || doc_load(r, file, &d) == -1)
			continue;
		check_refs(r, &d, "policies", &pols, "UNKNOWN_POLICY",
		    "policy");
		doc_free(&d);
	}
	for (i = 0; i < pols.n; i++) {
		if (file_path(file, sizeof(file), dir, "policies",
		    pols.v[i]) == -1 || doc_load(r, file, &d) == -1)
			continue;
		if (!config_valid_name(pols.v[i]))
			report_add(r, file, 1, 1, POLICY_LINT_ERROR,
			    "INVALID_NAME", "invalid policy name");
		lint_into(r, &d, d.j, boundaries.n > 0 && bsearch(&pols.v[i],
		    boundaries.v, boundaries.n, sizeof(*boundaries.v),
		    cmp_str) != NULL ? POLICY_BOUNDARY : POLICY_IDENTITY, "");
		doc_free(&d);
	}
	for (i = 0; i < repos.n; i++) {
		if (file_path(file, sizeof(file), dir, "repositories",
		    repos.v[i]) == -1 || doc_load(r, file, &d) == -1)
			continue;
		lint_wrapper(r, &d, -1);
		doc_free(&d);
	}
	names_free(&pols);
	names_free(&groups);
	names_free(&repos);
	names_free(&issuers);
	names_free(&boundaries);
}

static int
cmp_finding(const void *a, const void *b)
{
	const struct finding *x = a, *y = b;
	int c;

	if ((c = strcmp(x->file, y->file)) != 0)
		return c;
	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	if (x->col != y->col)
		return x->col < y->col ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void
check_usage(void)
{
	fputs("usage: regauthd policy check -c DIR | FILE... "
	    "[--kind identity|resource|boundary]\n", stderr);
}

int
cmd_policy_check(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "kind", required_argument, NULL, 'k' },
		{ NULL, 0, NULL, 0 }
	};
	struct report r = { NULL, 0, 0, 0 };
	const char *dir = NULL;
	int c, kind = -1, i;
	size_t k;

	optind = 1;
	while ((c = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			dir = optarg;
			break;
		case 'k':
			if (strcmp(optarg, "identity") == 0)
				kind = POLICY_IDENTITY;
			else if (strcmp(optarg, "resource") == 0)
				kind = POLICY_RESOURCE;
			else if (strcmp(optarg, "boundary") == 0)
				kind = POLICY_BOUNDARY;
			else {
				check_usage();
				return EXIT_USAGE;
			}
			break;
		default:
			check_usage();
			return EXIT_USAGE;
		}
	}
	if ((dir == NULL) == (optind == argc) || (dir != NULL && kind >= 0)) {
		check_usage();
		return EXIT_USAGE;
	}
	if (dir != NULL)
		check_dir(&r, dir);
	for (i = optind; i < argc; i++)
		check_file(&r, argv[i], kind);
	if (r.n > 0)
		qsort(r.v, r.n, sizeof(*r.v), cmp_finding);
	for (k = 0; k < r.n; k++) {
		printf("%s:%d:%d: %s: %s: %s\n", r.v[k].file, r.v[k].line,
		    r.v[k].col, policy_lint_severity_name(r.v[k].sev),
		    r.v[k].code, r.v[k].msg);
		free(r.v[k].file);
	}
	free(r.v);
	if (fflush(stdout) != 0)
		return EXIT_USAGE;
	return r.errors > 0 ? 1 : 0;
}
