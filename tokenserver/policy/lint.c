/*
 * `regauthd policy check`: the lint of IAM_SEMANTICS.md section 7. Errors
 * are the engine's own verdicts (policy_parse_diag), so lint and load can
 * never disagree about which documents are refused; warnings and
 * suggestions read the JSON document itself. Every finding names its
 * element by JSON Pointer; the caller turns that into a line and column.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "internal.h"
#include "../jsonpos.h"

#define PATH_MAX_LEN sizeof(((struct policy_lint_finding *)0)->path)

/* Actions regauth knows (IAM_SEMANTICS.md section 6); wc: no resource type. */
static const struct {
	const char	*name;
	int		 wc;
} known_actions[] = {
	{ "registry:Pull", 0 }, { "registry:Push", 0 },
	{ "registry:Delete", 0 }, { "registry:Catalog", 1 },
	{ "ecr:BatchGetImage", 0 }, { "ecr:GetDownloadUrlForLayer", 0 },
	{ "ecr:BatchCheckLayerAvailability", 0 },
	{ "ecr:InitiateLayerUpload", 0 }, { "ecr:UploadLayerPart", 0 },
	{ "ecr:CompleteLayerUpload", 0 }, { "ecr:PutImage", 0 },
	{ "ecr:BatchDeleteImage", 0 }, { "ecr:ListImages", 0 },
	{ "ecr:DescribeImages", 0 }, { "ecr:GetAuthorizationToken", 1 },
	{ "ecr:CreateRepository", 0 }, { "ecr:DeleteRepository", 0 },
	{ "ecr:DescribeRepositories", 0 }, { "ecr:SetRepositoryPolicy", 0 },
	{ "ecr:GetRepositoryPolicy", 0 }, { "ecr:DeleteRepositoryPolicy", 0 },
	{ "ecr:TagResource", 0 }, { "ecr:UntagResource", 0 },
	{ "ecr:ListTagsForResource", 0 }, { "ecr:PutImageTagMutability", 0 },
	{ "ecr:PutLifecyclePolicy", 0 }, { "ecr:GetLifecyclePolicy", 0 },
	{ "ecr:DeleteLifecyclePolicy", 0 },
	{ "ecr:GetLifecyclePolicyPreview", 0 },
	{ "ecr:StartLifecyclePolicyPreview", 0 },
	{ "ecr:StartImageScan", 0 }, { "ecr:DescribeImageScanFindings", 0 },
	{ "ecr:PutImageScanningConfiguration", 0 },
	{ "ecr:ReplicateImage", 0 }, { "ecr:DescribeRegistry", 1 },
	{ "ecr:GetRegistryPolicy", 1 }, { "ecr:PutRegistryPolicy", 1 },
	{ "ecr:DeleteRegistryPolicy", 1 },
	{ "ecr:PutReplicationConfiguration", 1 },
	{ "sts:AssumeRoleWithWebIdentity", 0 }, { "sts:AssumeRole", 0 },
	{ "sts:TagSession", 0 }, { "sts:GetCallerIdentity", 1 },
};

static const char *const known_services[] = { "registry", "ecr", "sts" };

/* Condition keys that hold one value, and prefixes of such keys. */
static const char *const single_keys[] = {
	"aws:SourceIp", "aws:username", "aws:userid", "aws:PrincipalArn",
	"aws:PrincipalType", "aws:PrincipalAccount", "aws:PrincipalOrgID",
	"aws:CurrentTime", "aws:EpochTime", "aws:SecureTransport",
	"aws:MultiFactorAuthPresent", "aws:MultiFactorAuthAge",
	"aws:TokenIssueTime", "aws:UserAgent", "aws:Referer",
	"aws:RequestedRegion", "aws:SourceArn", "aws:SourceAccount",
	"aws:SourceVpc", "aws:SourceVpce", "aws:ViaAWSService",
	"aws:FederatedProvider", "regauth:SourceIp", "regauth:Service",
	"regauth:Repository", "regauth:AuthMethod", "regauth:ClientId",
};
static const char *const single_prefixes[] = {
	"aws:PrincipalTag/", "aws:ResourceTag/", "aws:RequestTag/",
	"ecr:ResourceTag/",
};
static const char *const multi_keys[] = {
	"aws:TagKeys", "aws:CalledVia", "aws:PrincipalServiceNamesList",
	"aws:PrincipalOrgPaths", "aws:ResourceOrgPaths",
};

const char *
policy_lint_severity_name(enum policy_lint_severity s)
{
	switch (s) {
	case POLICY_LINT_ERROR:
		return "error";
	case POLICY_LINT_WARNING:
		return "warning";
	default:
		return "suggestion";
	}
}

void
policy_lint_free(struct policy_lint *l)
{
	if (l == NULL)
		return;
	free(l->v);
	l->v = NULL;
	l->n = l->cap = 0;
}

static int
has_finding(const struct policy_lint *l, size_t from, const char *code,
    const char *path)
{
	size_t i;

	for (i = from; i < l->n; i++)
		if (strcmp(l->v[i].code, code) == 0 &&
		    strcmp(l->v[i].path, path) == 0)
			return 1;
	return 0;
}

int
policy_lint_add(struct policy_lint *l, enum policy_lint_severity sev,
    const char *code, const char *path, const char *fmt, ...)
{
	struct policy_lint_finding *f, *nv;
	size_t cap;
	va_list ap;

	if (l->n == l->cap) {
		cap = l->cap ? l->cap * 2 : 16;
		if ((nv = realloc(l->v, cap * sizeof(*nv))) == NULL)
			return -1;
		l->v = nv;
		l->cap = cap;
	}
	f = &l->v[l->n++];
	memset(f, 0, sizeof(*f));
	f->severity = sev;
	f->code = code;
	snprintf(f->path, sizeof(f->path), "%s", path);
	va_start(ap, fmt);
	vsnprintf(f->msg, sizeof(f->msg), fmt, ap);
	va_end(ap);
	return 0;
}

/* The lint of one document: where findings go and what it knows. */
struct lctx {
	struct policy_lint	*out;
	size_t			 first;		/* this document's findings */
	const char		*prefix;
	enum policy_kind	 kind;
	int			 version;	/* 0 none, 2008, 2012, -1 bad */
	int			 oom;
};

/* prefix + the pointer of statement `si` (array or not) + members. */
static void
mkpath(const struct lctx *c, char *out, long si, int array, const char *k1,
    const char *k2, const char *k3)
{
	snprintf(out, PATH_MAX_LEN, "%s", c->prefix);
	if (si >= 0) {
		jsonpos_path_add(out, PATH_MAX_LEN, "Statement");
		if (array)
			jsonpos_path_add_index(out, PATH_MAX_LEN, (size_t)si);
	}
	if (k1 != NULL && jsonpos_path_add(out, PATH_MAX_LEN, k1) == 0 &&
	    k2 != NULL && jsonpos_path_add(out, PATH_MAX_LEN, k2) == 0 &&
	    k3 != NULL)
		jsonpos_path_add(out, PATH_MAX_LEN, k3);
}

/* `base`, then element i when `list` is an array. */
static void
elem_path(char *out, const char *base, const json_t *list, size_t i)
{
	snprintf(out, PATH_MAX_LEN, "%s", base);
	if (json_is_array(list))
		jsonpos_path_add_index(out, PATH_MAX_LEN, i);
}

static void
add(struct lctx *c, enum policy_lint_severity sev, const char *code,
    const char *path, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void
add(struct lctx *c, enum policy_lint_severity sev, const char *code,
    const char *path, const char *fmt, ...)
{
	char msg[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (policy_lint_add(c->out, sev, code, path, "%s", msg) == -1)
		c->oom = 1;
}

#define ERR(c, code, path, ...) add(c, POLICY_LINT_ERROR, code, path, __VA_ARGS__)
#define WARN(c, code, path, ...) add(c, POLICY_LINT_WARNING, code, path, __VA_ARGS__)
#define SUGGEST(c, code, path, ...) \
	add(c, POLICY_LINT_SUGGESTION, code, path, __VA_ARGS__)

/* Elements of a string-or-array element: count, and element i (or NULL). */
static size_t
list_n(const json_t *j)
{
	return json_is_array(j) ? json_array_size(j) : j != NULL ? 1 : 0;
}

static const json_t *
list_at(const json_t *j, size_t i)
{
	return json_is_array(j) ? json_array_get(j, i) : j;
}

static const char *
list_str(const json_t *j, size_t i)
{
	const json_t *v = list_at(j, i);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

static int
has_wild(const char *s)
{
	return strpbrk(s, "*?") != NULL;
}

/*
 * Does pattern `b` cover everything pattern `a` matches? Sound, not
 * complete: equal, "*", `a` a literal that `b` globs, or `b` a literal
 * prefix followed by one '*' that `a` starts with.
 */
static int
covers(const char *b, const char *a, int icase)
{
	size_t n = strlen(b);

	if (strchr(a, '\\') != NULL || strchr(b, '\\') != NULL)
		return 0;
	if (strcmp(b, "*") == 0)
		return 1;
	if (!has_wild(a))
		return policy_glob(b, a, icase);
	if (n > 0 && b[n - 1] == '*' && strpbrk(b, "*?") == b + n - 1)
		return icase ? strncasecmp(a, b, n - 1) == 0 :
		    strncmp(a, b, n - 1) == 0;
	return 0;
}

static int
same(const char *a, const char *b, int icase)
{
	return icase ? strcasecmp(a, b) == 0 : strcmp(a, b) == 0;
}

/* Flag list elements another element of the same list already covers. */
static void
redundant(struct lctx *c, const json_t *list, const char *base, int icase,
    const char *code, const char *what)
{
	char path[PATH_MAX_LEN];
	const char *a, *b;
	size_t i, j, n = list_n(list);

	if (!json_is_array(list))
		return;
	for (i = 0; i < n; i++) {
		if ((a = list_str(list, i)) == NULL)
			continue;
		for (j = 0; j < n; j++) {
			if (j == i || (b = list_str(list, j)) == NULL)
				continue;
			if (same(a, b, icase) ? j < i :
			    (strstr(a, "${") == NULL &&
			    strstr(b, "${") == NULL && covers(b, a, icase)))
				break;
		}
		if (j < n) {
			elem_path(path, base, list, i);
			SUGGEST(c, code, path, "%s \"%.60s\" is already "
			    "covered by \"%.60s\"", what, a, b);
		}
	}
}

static int
action_known(const char *pat, const char *svc, size_t svclen, int *wc_only)
{
	size_t i, n;
	const char *name;
	int any = 0;

	for (i = 0; i < sizeof(known_actions) / sizeof(known_actions[0]);
	    i++) {
		name = known_actions[i].name;
		n = (size_t)(strchr(name, ':') - name);
		if (svc != NULL && (n != svclen || strncasecmp(name, svc, n)
		    != 0))
			continue;
		if (policy_glob(pat, name + n + 1, 1)) {
			any = 1;
			if (known_actions[i].wc && wc_only != NULL)
				*wc_only = 1;
		}
	}
	return any;
}

static int
service_known(const char *svc, size_t n)
{
	size_t i;

	for (i = 0; i < sizeof(known_services) / sizeof(known_services[0]);
	    i++)
		if (strlen(known_services[i]) == n &&
		    strncasecmp(known_services[i], svc, n) == 0)
			return 1;
	return 0;
}

static void
lint_actions(struct lctx *c, const json_t *act, const char *base, int not)
{
	char path[PATH_MAX_LEN];
	const char *s, *colon;
	size_t i, n = list_n(act), svclen;

	if (json_is_array(act) && n == 0) {
		SUGGEST(c, "EMPTY_ARRAY", base, "empty %s list: the statement "
		    "matches no action", not ? "NotAction" : "Action");
		return;
	}
	for (i = 0; i < n; i++) {
		if ((s = list_str(act, i)) == NULL)
			continue;
		elem_path(path, base, act, i);
		if (strpbrk(s, ", \t\r\n") != NULL)
			WARN(c, "ACTION_SEPARATOR", path, "action \"%.80s\" "
			    "holds a comma or whitespace: it is one pattern "
			    "that matches nothing", s);
		if (strcmp(s, "*") == 0 || (colon = strchr(s, ':')) == NULL)
			continue;
		svclen = (size_t)(colon - s);
		/* Refused by the engine already (INVALID_ACTION). */
		if (strchr(colon + 1, ':') != NULL || svclen == 0 ||
		    strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "0123456789-_*?") != svclen)
			continue;
		if (strpbrk(s, "*?") != NULL && strpbrk(s, "*?") < colon) {
			SUGGEST(c, "WILDCARD_IN_SERVICE", path, "wildcard in "
			    "the service of \"%.80s\": name the service",
			    s);
			continue;
		}
		if (!service_known(s, svclen)) {
			WARN(c, "UNKNOWN_SERVICE", path, "unknown service "
			    "\"%.*s\" in \"%.80s\"", (int)(svclen > 40 ? 40 :
			    svclen), s, s);
			continue;
		}
		if (!action_known(colon + 1, s, svclen, NULL))
			WARN(c, "UNKNOWN_ACTION", path, "\"%.80s\" matches no "
			    "known action", s);
	}
	if (!c->oom)
		redundant(c, act, base, 1, "REDUNDANT_ACTION", "action");
}

/* A pattern other than "*" that matches (almost) everything anyway. */
static int
effectively_star(const char *s)
{
	if (strcmp(s, "*") == 0)
		return 0;
	if (strncmp(s, "arn:", 4) == 0)
		s += 4;
	if (*s == '\0' || strchr(s, '*') == NULL)
		return 0;
	return strspn(s, "*:") == strlen(s);
}

static void
lint_resources(struct lctx *c, const json_t *st, const json_t *res,
    const char *base, int not)
{
	char path[PATH_MAX_LEN];
	const json_t *act = json_object_get(st, "Action");
	const char *s, *a;
	size_t i, n = list_n(res), k;
	int wc = 0, unknown = 0, star = -1;

	if (json_is_array(res) && n == 0) {
		SUGGEST(c, "EMPTY_ARRAY", base, "empty %s list: the statement "
		    "matches no resource", not ? "NotResource" : "Resource");
		return;
	}
	for (i = 0; i < n; i++) {
		if ((s = list_str(res, i)) == NULL)
			continue;
		elem_path(path, base, res, i);
		if (strstr(s, "${") != NULL && c->version != 2012 &&
		    c->version != -1)
			WARN(c, "VARIABLE_UNSUPPORTED_VERSION", path,
			    "\"%.80s\": policy variables need Version "
			    "2012-10-17; this is literal text", s);
		if (effectively_star(s))
			WARN(c, "RESOURCE_EFFECTIVELY_STAR", path, "\"%.80s\" "
			    "matches every resource: write \"*\" or narrow it",
			    s);
		if (strcmp(s, "*") == 0 && star < 0)
			star = (int)i;
	}
	/* "*" where every action has a resource type. */
	if (!not && star >= 0 && act != NULL && list_n(act) > 0) {
		for (k = 0; k < list_n(act); k++) {
			if ((a = list_str(act, k)) == NULL)
				continue;
			if (strcmp(a, "*") == 0 || strchr(a, ':') == NULL ||
			    !service_known(a, (size_t)(strchr(a, ':') - a)))
				unknown = 1;
			else if (!action_known(strchr(a, ':') + 1, a,
			    (size_t)(strchr(a, ':') - a), &wc))
				unknown = 1;
		}
		if (!wc && !unknown) {
			elem_path(path, base, res, (size_t)star);
			WARN(c, "RESOURCE_STAR", path, "Resource \"*\" with "
			    "actions that take a resource: name the "
			    "repositories");
		}
	}
	if (!c->oom)
		redundant(c, res, base, 0, "REDUNDANT_RESOURCE", "resource");
}

static void
lint_principal(struct lctx *c, const json_t *pr, const char *base)
{
	char path[PATH_MAX_LEN];
	const char *key;
	json_t *v;

	if (!json_is_object(pr))
		return;
	if (json_object_size(pr) == 0)
		SUGGEST(c, "EMPTY_ARRAY", base, "empty principal: the "
		    "statement matches no one");
	json_object_foreach((json_t *)pr, key, v) {
		if (json_is_array(v) && json_array_size(v) == 0) {
			snprintf(path, sizeof(path), "%s", base);
			jsonpos_path_add(path, sizeof(path), key);
			SUGGEST(c, "EMPTY_ARRAY", path, "empty %.40s principal "
			    "list: it names no one", key);
		}
	}
}

static int
key_in(const char *key, const char *const *list, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcasecmp(key, list[i]) == 0)
			return 1;
	return 0;
}

static int
key_single(const char *key)
{
	size_t i;

	if (key_in(key, single_keys, sizeof(single_keys) /
	    sizeof(single_keys[0])))
		return 1;
	for (i = 0; i < sizeof(single_prefixes) / sizeof(single_prefixes[0]);
	    i++)
		if (strncasecmp(key, single_prefixes[i],
		    strlen(single_prefixes[i])) == 0)
			return 1;
	return 0;
}

/* `s` with every ${...} removed holds '*' or '?'. */
static int
wild_outside_vars(const char *s, int vars)
{
	const char *p;

	if (!vars)
		return has_wild(s);
	for (p = s; *p != '\0'; p++) {
		if (p[0] == '$' && p[1] == '{') {
			const char *q = strchr(p, '}');

			if (q == NULL)
				return 0;
			p = q;
			continue;
		}
		if (*p == '*' || *p == '?')
			return 1;
	}
	return 0;
}

static int
op_is(enum policy_cop op, int family)
{
	switch (family) {
	case 'S':	/* String comparisons without wildcards */
		return op == COP_STRING_EQUALS || op == COP_STRING_NOT_EQUALS ||
		    op == COP_STRING_EQUALS_IC ||
		    op == COP_STRING_NOT_EQUALS_IC;
	case 'D':
		return op >= COP_DATE_EQ && op <= COP_DATE_GE;
	case 'N':
		return op >= COP_NUMERIC_EQ && op <= COP_NUMERIC_GE;
	case 'I':
		return op == COP_IP || op == COP_NOT_IP;
	default:
		return 0;
	}
}

static void
lint_value(struct lctx *c, enum policy_cop op, const char *opname,
    const char *key, const json_t *v, const char *path)
{
	struct policy_arena a = { NULL };
	struct policy_cvalue cv;
	struct err e;
	char num[64];
	const char *s;
	int vars = c->version == 2012, full, rest;

	if ((s = policy_scalar_text(v, num, sizeof(num))) == NULL)
		return;
	if (strstr(s, "${") != NULL) {
		if (!vars && c->version != -1 && policy_cop_allows_vars(op))
			WARN(c, "VARIABLE_UNSUPPORTED_VERSION", path,
			    "\"%.80s\": policy variables need Version "
			    "2012-10-17; this is literal text", s);
		if (vars || !policy_cop_allows_vars(op))
			return;
	}
	if (op_is(op, 'S') && wild_outside_vars(s, vars))
		WARN(c, "WILDCARD_WITHOUT_LIKE", path, "\"%.80s\" under "
		    "%.40s: '*' and '?' are literal here; use a Like "
		    "operator", s, opname);
	if (op == COP_NULL || policy_cop_allows_vars(op))
		return;
	if (policy_cond_parse_value(&a, op, s, 0, &cv, &e) == -1)
		goto out;
	if (!cv.ok) {
		WARN(c, "MISMATCHED_TYPE", path, "\"%.80s\" is not a valid "
		    "%s value for %.40s: the comparison is always false", s,
		    op_is(op, 'D') ? "date" : op_is(op, 'N') ? "number" :
		    op_is(op, 'I') ? "IP address or CIDR" : op == COP_BOOL ?
		    "boolean" : "base64", opname);
		goto out;
	}
	if (op_is(op, 'D') && s[strspn(s, "0123456789")] == '\0')
		WARN(c, "EPOCH_DATE", path, "\"%.40s\" is epoch seconds "
		    "under %.40s: write an ISO 8601 date", s, opname);
	if (op_is(op, 'I')) {
		full = cv.prefix / 8;
		rest = cv.prefix % 8;
		size_t i, len = cv.family == AF_INET ? 4 : 16;
		int host = 0;

		if (rest != 0 && (cv.addr[full] & (0xff >> rest)) != 0)
			host = 1;
		for (i = (size_t)full + (rest != 0); i < len; i++)
			if (cv.addr[i] != 0)
				host = 1;
		if (host)
			SUGGEST(c, "CIDR_HOST_BITS", path, "\"%.60s\" has bits "
			    "set after the /%d mask; they are ignored",
			    s, cv.prefix);
	}
	(void)key;
out:
	policy_arena_release(&a);
}

static void
lint_condition(struct lctx *c, const json_t *st, const json_t *cond,
    const char *base, int allow)
{
	char path[PATH_MAX_LEN], kpath[PATH_MAX_LEN], vpath[PATH_MAX_LEN];
	const char *opname, *key, *s;
	json_t *block, *vals;
	enum policy_cop op;
	enum policy_cset set;
	int ifexists;
	size_t i, n;
	char num[64];

	if (!json_is_object(cond))
		return;
	if (json_object_size(cond) == 0) {
		SUGGEST(c, "EMPTY_CONDITION", base, "empty Condition: leave "
		    "it out");
		return;
	}
	json_object_foreach((json_t *)cond, opname, block) {
		snprintf(path, sizeof(path), "%s", base);
		jsonpos_path_add(path, sizeof(path), opname);
		if (!json_is_object(block) ||
		    policy_cond_parse_op(opname, &op, &set, &ifexists) != 0)
			continue;
		if (json_object_size(block) == 0)
			SUGGEST(c, "EMPTY_CONDITION", path, "empty %.60s "
			    "block: leave it out", opname);
		if (set != CSET_NONE && op == COP_NULL)
			WARN(c, "NULL_WITH_SET_OPERATOR", path, "%.60s: Null "
			    "under a set operator is always %s; use plain "
			    "Null", opname, set == CSET_ALL ? "true" : "false");
		if (set == CSET_ALL && ifexists)
			WARN(c, "IFEXISTS_WITH_SET_OPERATOR", path, "%.60s: "
			    "IfExists adds nothing to ForAllValues, which is "
			    "already true on a missing key", opname);
		json_object_foreach(block, key, vals) {
			snprintf(kpath, sizeof(kpath), "%s", path);
			jsonpos_path_add(kpath, sizeof(kpath), key);
			n = list_n(vals);
			if (json_is_array(vals) && n == 0)
				SUGGEST(c, "EMPTY_ARRAY", kpath, "no values for "
				    "\"%.60s\": the condition never matches",
				    key);
			if (set == CSET_ALL && key_single(key))
				WARN(c, "FORALLVALUES_SINGLE_VALUED_KEY", kpath,
				    "ForAllValues on the single-valued key "
				    "\"%.60s\" is true when the key is missing; "
				    "use the plain operator", key);
			if (set == CSET_NONE && op != COP_NULL &&
			    key_in(key, multi_keys, sizeof(multi_keys) /
			    sizeof(multi_keys[0])))
				WARN(c, "MISSING_QUALIFIER", kpath, "\"%.60s\" "
				    "is multi-valued: use ForAllValues: or "
				    "ForAnyValue:", key);
			if (allow && op == COP_BOOL &&
			    strcasecmp(key, "aws:MultiFactorAuthPresent") == 0 &&
			    n == 1 && (s = policy_scalar_text(list_at(vals, 0), num,
			    sizeof(num))) != NULL && strcasecmp(s, "false") == 0)
				WARN(c, "MFA_FALSE_IN_ALLOW", kpath, "Allow with "
				    "%.40s aws:MultiFactorAuthPresent false: the "
				    "key is absent, not false, without MFA; test "
				    "it with Null or BoolIfExists in a Deny",
				    opname);
			for (i = 0; i < n; i++) {
				elem_path(vpath, kpath, vals, i);
				lint_value(c, op, opname, key, list_at(vals, i),
				    vpath);
			}
		}
	}
	(void)st;
}

/*
 * Claims that pin a web-identity trust to one workload: the subject, a CI
 * repository or project, a Kubernetes namespace or service account.
 */
static const char *const trust_pins[] = {
	":sub", ":repository", ":repository_id", ":job_workflow_ref",
	":project_path", ":project_id", ":kubernetes.io/namespace",
	":kubernetes.io/serviceaccount/name", NULL
};

static int
pins_workload(const char *key)
{
	size_t n = strlen(key), k, m;

	for (k = 0; trust_pins[k] != NULL; k++) {
		m = strlen(trust_pins[k]);
		if (n > m && strcasecmp(key + n - m, trust_pins[k]) == 0)
			return 1;
	}
	return 0;
}

/* A Federated web-identity trust without a subject or repository test. */
static void
lint_trust(struct lctx *c, const json_t *st, const char *base, int allow)
{
	const json_t *pr = json_object_get(st, "Principal");
	const json_t *act = json_object_get(st, "Action");
	const json_t *cond = json_object_get(st, "Condition"), *block;
	const char *op, *key, *s;
	size_t i;
	int web = 0;
	json_t *v;

	if (!allow || !json_is_object(pr) ||
	    json_object_get(pr, "Federated") == NULL)
		return;
	for (i = 0; i < list_n(act); i++)
		if ((s = list_str(act, i)) != NULL &&
		    policy_glob(s, "sts:AssumeRoleWithWebIdentity", 1))
			web = 1;
	if (!web)
		return;
	if (json_is_object(cond)) {
		json_object_foreach((json_t *)cond, op, block) {
			if (!json_is_object(block))
				continue;
			json_object_foreach((json_t *)block, key, v)
				if (pins_workload(key))
					return;
		}
	}
	WARN(c, "TRUST_WITHOUT_SUBJECT", base, "a web-identity trust with no "
	    "condition on the subject or repository: any workload of that "
	    "issuer can assume the role");
}

static void
lint_statement(struct lctx *c, const json_t *st, long si, int array)
{
	char base[PATH_MAX_LEN], path[PATH_MAX_LEN];
	const json_t *eff = json_object_get(st, "Effect"), *v;
	int allow = json_is_string(eff) &&
	    strcmp(json_string_value(eff), "Allow") == 0;

	mkpath(c, base, si, array, NULL, NULL, NULL);
	if ((v = json_object_get(st, "Action")) != NULL) {
		mkpath(c, path, si, array, "Action", NULL, NULL);
		lint_actions(c, v, path, 0);
	}
	if ((v = json_object_get(st, "NotAction")) != NULL) {
		mkpath(c, path, si, array, "NotAction", NULL, NULL);
		if (allow)
			WARN(c, "ALLOW_WITH_NOT_ACTION", path, "Allow with "
			    "NotAction grants every action not listed");
		lint_actions(c, v, path, 1);
	}
	if ((v = json_object_get(st, "Resource")) != NULL) {
		mkpath(c, path, si, array, "Resource", NULL, NULL);
		lint_resources(c, st, v, path, 0);
	}
	if ((v = json_object_get(st, "NotResource")) != NULL) {
		mkpath(c, path, si, array, "NotResource", NULL, NULL);
		if (allow)
			WARN(c, "ALLOW_WITH_NOT_RESOURCE", path, "Allow with "
			    "NotResource grants on every resource not listed");
		lint_resources(c, st, v, path, 1);
	}
	if ((v = json_object_get(st, "Principal")) != NULL) {
		mkpath(c, path, si, array, "Principal", NULL, NULL);
		lint_principal(c, v, path);
	}
	if ((v = json_object_get(st, "NotPrincipal")) != NULL) {
		mkpath(c, path, si, array, "NotPrincipal", NULL, NULL);
		if (allow)
			WARN(c, "ALLOW_WITH_NOT_PRINCIPAL", path, "Allow with "
			    "NotPrincipal grants to everyone not listed");
		else
			WARN(c, "NOT_PRINCIPAL", path, "NotPrincipal is "
			    "ambiguous for account principals; prefer "
			    "Principal \"*\" with ArnNotEquals "
			    "aws:PrincipalArn");
		lint_principal(c, v, path);
	}
	if ((v = json_object_get(st, "Condition")) != NULL) {
		mkpath(c, path, si, array, "Condition", NULL, NULL);
		lint_condition(c, st, v, path, allow);
	}
	lint_trust(c, st, base, allow);
}

/* The engine's verdict on statement `si` alone, as statement `si`. */
static void
statement_error(struct lctx *c, const json_t *doc, const json_t *st,
    size_t si, const struct policy_parse_opts *opts)
{
	char path[PATH_MAX_LEN], msg[230];
	struct policy_diag d;
	struct policy *p;
	struct err e;
	const json_t *v;
	json_t *sub;
	const char *rest;
	int n;

	if ((sub = json_object()) == NULL) {
		c->oom = 1;
		return;
	}
	if (c->version > 0 && (v = json_object_get(doc, "Version")) != NULL)
		json_object_set(sub, "Version", (json_t *)v);
	json_object_set_new(sub, "Statement", json_pack("[O]", st));
	p = policy_parse_diag(sub, c->kind, opts, &e, &d);
	json_decref(sub);
	if (p != NULL) {
		policy_free(p);
		return;
	}
	/* "/Statement/0..." of the copy is "/Statement/si..." here. */
	if (strncmp(d.path, "/Statement/0", 12) != 0)
		return;
	mkpath(c, path, (long)si, 1, NULL, NULL, NULL);
	n = (int)strlen(path);
	snprintf(path + n, sizeof(path) - (size_t)n, "%s", d.path + 12);
	rest = strncmp(e.msg, "statement 0", 11) == 0 ? e.msg + 11 : NULL;
	if (rest != NULL)
		snprintf(msg, sizeof(msg), "statement %zu%.170s", si, rest);
	else
		snprintf(msg, sizeof(msg), "%s", e.msg);
	if (!has_finding(c->out, c->first, d.code ? d.code : "INVALID_POLICY",
	    path))
		ERR(c, d.code ? d.code : "INVALID_POLICY", path, "%s", msg);
}

int
policy_lint_document(const json_t *doc, enum policy_kind kind,
    const char *prefix, struct policy_lint *out)
{
	struct policy_parse_opts opts = { NULL, 1 };
	char path[PATH_MAX_LEN];
	const json_t *ver, *stmts, *st, *sid, *sid2;
	struct policy_diag d;
	struct policy *p;
	struct lctx c;
	struct err e;
	size_t i, j, n;
	int array;

	memset(&c, 0, sizeof(c));
	c.out = out;
	c.first = out->n;
	c.prefix = prefix != NULL ? prefix : "";
	c.kind = kind;
	ver = json_object_get(doc, "Version");
	if (ver == NULL)
		c.version = 0;
	else if (json_is_string(ver) && strcmp(json_string_value(ver),
	    "2012-10-17") == 0)
		c.version = 2012;
	else if (json_is_string(ver) && strcmp(json_string_value(ver),
	    "2008-10-17") == 0)
		c.version = 2008;
	else
		c.version = -1;

	/* Errors: the engine's verdict on the whole, then per statement. */
	p = policy_parse_diag(doc, kind, &opts, &e, &d);
	stmts = json_object_get(doc, "Statement");
	array = json_is_array(stmts);
	n = array ? json_array_size(stmts) : json_is_object(stmts) ? 1 : 0;
	if (p == NULL) {
		snprintf(path, sizeof(path), "%s%s", c.prefix, d.path);
		ERR(&c, d.code ? d.code : "INVALID_POLICY", path, "%s", e.msg);
		for (i = 0; array && n > 1 && i < n && !c.oom; i++)
			if (json_is_object(json_array_get(stmts, i)))
				statement_error(&c, doc,
				    json_array_get(stmts, i), i, &opts);
		for (i = 0; array && i < n; i++) {
			sid = json_object_get(json_array_get(stmts, i), "Sid");
			if (!json_is_string(sid) ||
			    json_string_length(sid) == 0)
				continue;
			for (j = 0; j < i; j++) {
				sid2 = json_object_get(json_array_get(stmts,
				    j), "Sid");
				if (json_is_string(sid2) && strcmp(
				    json_string_value(sid),
				    json_string_value(sid2)) == 0)
					break;
			}
			mkpath(&c, path, (long)i, 1, "Sid", NULL, NULL);
			if (j < i && !has_finding(out, c.first,
			    "DUPLICATE_SID", path))
				ERR(&c, "DUPLICATE_SID", path,
				    "duplicate Sid \"%.40s\"",
				    json_string_value(sid));
		}
	}
	policy_free(p);
	if (!json_is_object(doc))
		return c.oom ? -1 : 0;

	if (ver == NULL) {
		snprintf(path, sizeof(path), "%s", c.prefix);
		WARN(&c, "MISSING_VERSION", path, "no Version: add \"Version\": "
		    "\"2012-10-17\" (without it, policy variables are literal "
		    "text)");
	}
	for (i = 0; i < n && !c.oom; i++) {
		st = array ? json_array_get(stmts, i) : stmts;
		if (json_is_object(st))
			lint_statement(&c, st, (long)i, array);
	}
	/* Statements that repeat another (Sid aside). */
	for (i = 1; array && i < n && !c.oom; i++) {
		json_t *a = json_copy(json_array_get(stmts, i));

		if (!json_is_object(a)) {
			json_decref(a);
			continue;
		}
		json_object_del(a, "Sid");
		for (j = 0; j < i; j++) {
			json_t *b = json_copy(json_array_get(stmts, j));
			int eq;

			if (json_is_object(b))
				json_object_del(b, "Sid");
			eq = json_equal(a, b);
			json_decref(b);
			if (eq)
				break;
		}
		json_decref(a);
		if (j < i) {
			mkpath(&c, path, (long)i, 1, NULL, NULL, NULL);
			SUGGEST(&c, "REDUNDANT_STATEMENT", path, "statement "
			    "%zu repeats statement %zu", i, j);
		}
	}
	return c.oom ? -1 : 0;
}
