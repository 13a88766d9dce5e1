/*
 * make bench, policy engine section: the cost of one registry decision as
 * token.c makes it (config_repo_policies, then policy_registry_decide on the
 * principal's policies and the repository's), in configurations of 100,
 * 10,000 and 100,000 statements shaped like a deployment, with the indexes
 * on and off (off: every statement and pattern scanned, the baseline).
 * Also writes the documents of two single decisions (52 and 100
 * statements, ECR form) for bench/iam-simulate.mjs and times regauth on
 * exactly those. Figures only; never pass/fail.
 *
 * usage: policy [-d DECISIONS] [-s OFF_SECONDS] [-n NODE_INPUT.json] [SIZE...]
 * (-s 0: no indexes-off run, e.g. under callgrind)
 *
 * A configuration of S statements has T = (S - 5) / 7 teams (7 T + 5
 * statements). Team t has ("..." is a trailing '*'):
 *   policies/team-t.json   Allow registry:Pull,Push on team-t/...; Allow
 *                          the ECR pull set on team-t/...; Deny Push,Delete
 *                          on team-t/release/... unless tag role=release;
 *                          Allow Delete on team-t/scratch/...
 *   users/dev-t.json       team-t, group everyone, boundary, tags team, role
 *   repositories/team-t    ["team-t/..."]: ci-t may pull and push; anyone
 *                          may pull team-t/public/...
 *   one statement in policies/org-K.json (group everyone): members of
 *   team-t may pull team-(t+1)/shared/...
 * plus org-0.json's own 3 (Deny all on any quarantine/ repository, Allow
 * pull on public/..., Deny push without TLS) and a boundary of 2. The org
 * statements are split into documents of ORG_CHUNK (a policy file must
 * stay under 1 MiB).
 */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "config.h"
#include "keys.h"
#include "policy/policy.h"
#include "util.h"

#define ACCOUNT		"000000000000"
#define SERVICE		"registry"
#define REFS_MAX	256
#define ORG_CHUNK	5000

static uint64_t rng = 0x2545f4914f6cdd1dull;

static uint32_t
rnd(uint32_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)((rng >> 11) % n);
}

static double
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static void
die(const char *what, const char *msg)
{
	fprintf(stderr, "bench/policy: %s: %s\n", what, msg);
	exit(2);
}

static void
write_json(const char *dir, const char *rel, json_t *j)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	if ((f = fopen(path, "w")) == NULL)
		die(path, strerror(errno));
	if (json_dumpf(j, f, JSON_COMPACT) == -1 || fclose(f) != 0)
		die(path, "cannot write");
	json_decref(j);
}

static json_t *
doc(json_t *stmts)
{
	return json_pack("{s:s, s:o}", "Version", "2012-10-17", "Statement",
	    stmts);
}

/*
 * The documents of the shape above. `ecr` writes ECR ARNs and actions
 * (for iam-simulate, which knows AWS services only); else regauth's short
 * forms and registry: actions.
 */
/* The pattern of team-T/REST. */
static const char *
res(char *buf, size_t cap, int ecr, size_t t, const char *rest)
{
	if (ecr)
		snprintf(buf, cap, "arn:aws:ecr:us-east-1:%s:repository/"
		    "team-%zu/%s", ACCOUNT, t, rest);
	else
		snprintf(buf, cap, "repository/team-%zu/%s", t, rest);
	return buf;
}

static json_t *
team_policy(size_t t, int ecr)
{
	char r1[300], r2[300], r3[300];

	return doc(json_pack("[{s:s, s:[s,s], s:s},"
	    " {s:s, s:[s,s,s], s:s},"
	    " {s:s, s:[s,s], s:s, s:{s:{s:s}}},"
	    " {s:s, s:s, s:s}]",
	    "Effect", "Allow", "Action",
	    ecr ? "ecr:InitiateLayerUpload" : "registry:Pull",
	    ecr ? "ecr:PutImage" : "registry:Push",
	    "Resource", res(r1, sizeof(r1), ecr, t, "*"),
	    "Effect", "Allow", "Action", "ecr:BatchGetImage",
	    "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability",
	    "Resource", r1,
	    "Effect", "Deny", "Action",
	    ecr ? "ecr:PutImage" : "registry:Push",
	    ecr ? "ecr:BatchDeleteImage" : "registry:Delete",
	    "Resource", res(r2, sizeof(r2), ecr, t, "release/*"),
	    "Condition", "StringNotEquals", "aws:PrincipalTag/role", "release",
	    "Effect", "Allow", "Action",
	    ecr ? "ecr:BatchDeleteImage" : "registry:Delete",
	    "Resource", res(r3, sizeof(r3), ecr, t, "scratch/*")));
}

/* The org statements of teams [first, first + count), of `teams`. */
static json_t *
org_policy(size_t teams, size_t first, size_t count, int ecr)
{
	char r[300], team[64];
	json_t *stmts;
	size_t t;

	stmts = first > 0 ? json_array() : json_pack("[{s:s, s:s, s:s},"
	    " {s:s, s:[s,s], s:s},"
	    " {s:s, s:s, s:s, s:{s:{s:s}}}]",
	    "Effect", "Deny", "Action", "*", "Resource",
	    ecr ? "arn:aws:ecr:us-east-1:" ACCOUNT ":repository/*/quarantine/*" :
	    "repository/*/quarantine/*",
	    "Effect", "Allow", "Action",
	    ecr ? "ecr:BatchGetImage" : "registry:Pull",
	    ecr ? "ecr:GetDownloadUrlForLayer" : "ecr:BatchGetImage",
	    "Resource", ecr ? "arn:aws:ecr:us-east-1:" ACCOUNT
	    ":repository/public/*" : "repository/public/*",
	    "Effect", "Deny", "Action",
	    ecr ? "ecr:PutImage" : "registry:Push", "Resource", "*",
	    "Condition", "Bool", "aws:SecureTransport", "false");
	for (t = first; t < first + count && t < teams; t++) {
		snprintf(team, sizeof(team), "team-%zu", t);
		json_array_append_new(stmts, json_pack("{s:s, s:s, s:s,"
		    " s:{s:{s:s}}}", "Effect", "Allow", "Action",
		    ecr ? "ecr:BatchGetImage" : "registry:Pull", "Resource",
		    res(r, sizeof(r), ecr, (t + 1) % teams, "shared/*"), "Condition", "StringEquals",
		    "aws:PrincipalTag/team", team));
	}
	return doc(stmts);
}

static json_t *
boundary_policy(int ecr)
{
	return doc(json_pack("[{s:[s,s], s:s, s:s}, {s:s, s:s, s:s}]",
	    "Action", ecr ? "ecr:*" : "registry:*", "ecr:*",
	    "Effect", "Allow", "Resource", "*",
	    "Effect", "Deny", "Action",
	    ecr ? "ecr:BatchDeleteImage" : "registry:Delete", "Resource",
	    ecr ? "arn:aws:ecr:us-east-1:" ACCOUNT ":repository/*/prod/*" :
	    "repository/*/prod/*"));
}

static json_t *
repo_policy(size_t t, int ecr)
{
	char ci[200], r[300];

	if (ecr)
		snprintf(ci, sizeof(ci), "arn:aws:iam::%s:role/ci-%zu", ACCOUNT,
		    t);
	else
		snprintf(ci, sizeof(ci), "serviceaccount/ci-%zu", t);
	return doc(json_pack("[{s:s, s:{s:s}, s:[s,s]},"
	    " {s:s, s:s, s:s, s:s}]",
	    "Effect", "Allow", "Principal", ecr ? "AWS" : "regauth", ci,
	    "Action", ecr ? "ecr:BatchGetImage" : "registry:Pull",
	    ecr ? "ecr:PutImage" : "registry:Push",
	    "Effect", "Allow", "Principal", "*",
	    "Action", ecr ? "ecr:BatchGetImage" : "registry:Pull",
	    "Resource", res(r, sizeof(r), ecr, t, "public/*")));
}

static size_t
teams_for(size_t statements)
{
	return statements > 12 ? (statements - 5) / 7 : 1;
}

/* A configuration directory of `teams` teams. */
static char *
make_config(size_t teams)
{
	static const char *const subs[] = { "policies", "users", "groups",
	    "serviceaccounts", "repositories" };
	char tmpl[] = "/tmp/regauth-bench-XXXXXX", rel[200], name[64], *dir;
	char user[64];
	struct err e;
	json_t *orgs;
	size_t i, t;

	if ((dir = mkdtemp(tmpl)) == NULL)
		die("mkdtemp", strerror(errno));
	dir = strdup(dir);
	if (keys_create(dir, JWS_ES256, "bench", &e) == -1)
		die("keys", e.msg);
	for (i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
		snprintf(rel, sizeof(rel), "%s/%s", dir, subs[i]);
		mkdir(rel, 0700);
	}
	write_json(dir, "regauthd.json", json_pack("{s:s, s:[s], s:s}",
	    "issuer", "bench", "services", SERVICE, "account", ACCOUNT));
	orgs = json_array();
	for (t = 0; t < teams; t += ORG_CHUNK) {
		snprintf(name, sizeof(name), "org-%zu", t / ORG_CHUNK);
		snprintf(rel, sizeof(rel), "policies/%s.json", name);
		write_json(dir, rel, org_policy(teams, t, ORG_CHUNK, 0));
		json_array_append_new(orgs, json_string(name));
	}
	write_json(dir, "policies/boundary.json", boundary_policy(0));
	write_json(dir, "groups/everyone.json", json_pack("{s:s, s:o}",
	    "name", "everyone", "policies", orgs));
	for (t = 0; t < teams; t++) {
		snprintf(rel, sizeof(rel), "policies/team-%zu.json", t);
		write_json(dir, rel, team_policy(t, 0));
		snprintf(name, sizeof(name), "team-%zu", t);
		snprintf(user, sizeof(user), "dev-%zu", t);
		snprintf(rel, sizeof(rel), "users/%s.json", user);
		write_json(dir, rel, json_pack("{s:s, s:[s], s:[s], s:s,"
		    " s:{s:s, s:s}}", "name", user, "policies", name,
		    "groups", "everyone", "boundary", "boundary", "tags",
		    "team", name, "role", t % 5 == 0 ? "release" : "dev"));
		snprintf(rel, sizeof(rel), "repositories/team-%zu.json", t);
		snprintf(name, sizeof(name), "team-%zu/*", t);
		write_json(dir, rel, json_pack("{s:[s], s:o}", "repositories",
		    name, "policy", repo_policy(t, 0)));
	}
	return dir;
}

static void
remove_dir(char *dir)
{
	char cmd[4200];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "bench/policy: cannot remove %s\n", dir);
	free(dir);
}

struct request {
	size_t		 user;
	char		 repo[96];
	const char	*action;
};

static void
make_requests(struct request *rq, size_t n, size_t teams)
{
	static const char *const acts[] = { "pull", "pull", "pull", "pull",
	    "pull", "pull", "push", "push", "push", "delete" };
	static const char *const own[] = { "app", "api/v2", "release/app",
	    "scratch/tmp", "public/base", "quarantine/x", "prod/db" };
	size_t i, t, u;

	for (i = 0; i < n; i++) {
		t = rnd((uint32_t)teams);
		u = (t + 1) % teams;
		rq[i].user = t;
		rq[i].action = acts[rnd(10)];
		switch (rnd(10)) {
		case 0:
		case 1:
			snprintf(rq[i].repo, sizeof(rq[i].repo),
			    "team-%zu/shared/lib", u);
			break;
		case 2:
			snprintf(rq[i].repo, sizeof(rq[i].repo),
			    "team-%u/app", rnd((uint32_t)teams));
			break;
		case 3:
			snprintf(rq[i].repo, sizeof(rq[i].repo), "public/base");
			break;
		default:
			snprintf(rq[i].repo, sizeof(rq[i].repo), "team-%zu/%s",
			    t, own[rnd(7)]);
			break;
		}
	}
}

struct decider {
	const struct config		*cfg;
	const struct principal		**users;
	json_t				**ctx;
	struct policy_ref		 refs[REFS_MAX];
};

/* One decision as token.c's decide() makes it. */
static enum policy_decision
decide(struct decider *d, const struct request *rq)
{
	const struct principal *p = d->users[rq->user];
	char resource[300];
	size_t n = 0, i, m;
	int need = 0;

	snprintf(resource, sizeof(resource),
	    "arn:regauth:registry:%s:%s:repository/%s", SERVICE, ACCOUNT,
	    rq->repo);
	m = config_repo_policies(d->cfg, rq->repo, d->refs, REFS_MAX, &n);
	if (m + p->npolicies > REFS_MAX)
		die("decide", "too many policies");
	for (i = 0; i < p->npolicies; i++) {
		d->refs[n] = p->policies[i];
		d->refs[n].index = (int)n;
		n++;
	}
	for (i = 0; i < n && !need; i++)
		need = policy_uses_context(d->refs[i].policy);
	if (need)
		json_object_set_new(d->ctx[rq->user], "regauth:Repository",
		    json_string(rq->repo));
	return policy_registry_decide(d->refs, n, p->arn, resource, 0,
	    rq->action, need ? d->ctx[rq->user] : NULL, ACCOUNT, NULL);
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

struct figures {
	size_t	n;
	double	median, p99, mean;
};

/*
 * Time decisions one by one, at most `max` of them or `seconds` long.
 * Their decisions go to `out` (compared between index on and off).
 */
static struct figures
run(struct decider *d, const struct request *rq, size_t max, double seconds,
    unsigned char *out)
{
	struct figures f = { 0, 0, 0, 0 };
	double *t, t0, t1, start = now_us(), sum = 0;
	size_t i;

	if ((t = malloc(max * sizeof(*t))) == NULL)
		die("run", "out of memory");
	for (i = 0; i < max; i++) {
		t0 = now_us();
		out[i] = (unsigned char)decide(d, &rq[i]);
		t1 = now_us();
		t[i] = t1 - t0;
		sum += t[i];
		if (t1 - start > seconds * 1e6 && i >= 100) {
			i++;
			break;
		}
	}
	f.n = i;
	qsort(t, f.n, sizeof(*t), cmp_double);
	f.median = t[f.n / 2];
	f.p99 = t[(size_t)((double)f.n * 0.99)];
	f.mean = sum / (double)f.n;
	free(t);
	return f;
}

static json_t *
user_context(const struct principal *p)
{
	json_t *ctx = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}",
	    "aws:SourceIp", "10.1.2.3", "aws:SecureTransport", "true",
	    "regauth:Service", SERVICE, "aws:username", p->name,
	    "aws:PrincipalArn", p->arn, "regauth:AuthMethod", "password");
	const char *k;
	json_t *v;
	char key[300];

	json_object_foreach(p->tags, k, v) {
		snprintf(key, sizeof(key), "aws:PrincipalTag/%s", k);
		json_object_set(ctx, key, v);
	}
	return ctx;
}

static void
bench_size(size_t statements, size_t decisions, double off_seconds)
{
	size_t teams = teams_for(statements), i, differ = 0, total;
	struct figures on, off;
	struct decider d;
	struct request *rq;
	unsigned char *don, *doff;
	char *dir, who[80];
	struct config *cfg;
	struct err e;
	double t0, load_ms;

	dir = make_config(teams);
	t0 = now_us();
	if ((cfg = config_load(dir, &e)) == NULL)
		die("config_load", e.msg);
	load_ms = (now_us() - t0) / 1e3;
	total = 7 * teams + 5;
	memset(&d, 0, sizeof(d));
	d.cfg = cfg;
	d.users = calloc(teams, sizeof(*d.users));
	d.ctx = calloc(teams, sizeof(*d.ctx));
	rq = calloc(decisions, sizeof(*rq));
	don = calloc(decisions, 1);
	doff = calloc(decisions, 1);
	if (d.users == NULL || d.ctx == NULL || rq == NULL || don == NULL ||
	    doff == NULL)
		die("bench", "out of memory");
	for (i = 0; i < teams; i++) {
		snprintf(who, sizeof(who), "user/dev-%zu", i);
		if ((d.users[i] = config_principal(cfg, who)) == NULL)
			die(who, "missing");
		d.ctx[i] = user_context(d.users[i]);
	}
	make_requests(rq, decisions, teams);
	policy_index_disable(0);
	run(&d, rq, decisions < 2000 ? decisions : 2000, 1, don);  /* warm */
	on = run(&d, rq, decisions, 60, don);
	printf("%-10zu %6zu %6zu  on   %7zu %9.2f %9.2f %9.2f\n", total,
	    teams, cfg->nrepo_policies, on.n, on.median, on.p99, on.mean);
	if (off_seconds > 0) {
		policy_index_disable(1);
		off = run(&d, rq, decisions, off_seconds, doff);
		policy_index_disable(0);
		for (i = 0; i < off.n && i < on.n; i++)
			differ += don[i] != doff[i];
		printf("%-10zu %6zu %6zu  off  %7zu %9.2f %9.2f %9.2f   (%.0fx "
		    "the median with the index)\n", total, teams,
		    cfg->nrepo_policies, off.n, off.median, off.p99, off.mean,
		    off.median / on.median);
	}
	printf("load %zu statements (%zu policies, %zu repository policies, "
	    "%zu users): config_load %.1f ms (read, parse, index)\n", total,
	    cfg->npolicies, cfg->nrepo_policies, cfg->nprincipals, load_ms);
	if (differ > 0)
		printf("WARNING: %zu decisions differ with and without the "
		    "index\n", differ);
	for (i = 0; i < teams; i++)
		json_decref(d.ctx[i]);
	free(d.ctx);
	free((void *)d.users);
	free(rq);
	free(don);
	free(doff);
	config_release(cfg);
	remove_dir(dir);
}

/*
 * One decision of the same documents for regauth (policy_evaluate) and
 * iam-simulate: dev-0 asks for ecr:BatchGetImage on team-0/app, with the
 * identity policies given (team policies and the org policy), the
 * boundary, and team-0's repository policy.
 */
static json_t *
node_case(size_t teams, size_t team_docs, const char *label)
{
	json_t *ids = json_array(), *c;
	char name[64];
	size_t t, n = 0;

	for (t = 0; t < team_docs; t++) {
		snprintf(name, sizeof(name), "team-%zu", t);
		json_array_append_new(ids, json_pack("{s:s, s:o}", "name", name,
		    "policy", team_policy(t, 1)));
		n += 4;
	}
	json_array_append_new(ids, json_pack("{s:s, s:o}", "name", "org",
	    "policy", org_policy(teams, 0, teams, 1)));
	n += teams + 3 + 2 + 2;
	c = json_pack("{s:s, s:I, s:o, s:[{s:s, s:o}], s:o, s:{s:s, s:s, s:s,"
	    " s:{s:s, s:s, s:s, s:s, s:s}}}",
	    "label", label, "statements", (json_int_t)n,
	    "identityPolicies", ids,
	    "permissionBoundaryPolicies", "name", "boundary", "policy",
	    boundary_policy(1),
	    "resourcePolicy", repo_policy(0, 1),
	    "request",
	    "principal", "arn:aws:iam::" ACCOUNT ":user/dev-0",
	    "action", "ecr:BatchGetImage",
	    "resource", "arn:aws:ecr:us-east-1:" ACCOUNT ":repository/team-0/app",
	    "context",
	    "aws:PrincipalTag/team", "team-0",
	    "aws:PrincipalTag/role", "release",
	    "aws:SecureTransport", "true",
	    "aws:SourceIp", "10.1.2.3",
	    "aws:username", "dev-0");
	return c;
}

/* regauth on the node case: parse once, then time policy_evaluate. */
static void
regauth_on_node_case(const json_t *c, size_t runs)
{
	struct policy_parse_opts opts = { ACCOUNT, 0 };
	struct policy_ref refs[64];
	struct policy_request req;
	const json_t *ids = json_object_get(c, "identityPolicies"), *v;
	const json_t *rqj = json_object_get(c, "request");
	double *t, t0;
	size_t i, n = 0;
	struct err e;
	enum policy_decision dec = POLICY_IMPLICIT_DENY;

	json_array_foreach(ids, i, v) {
		refs[n].kind = POLICY_IDENTITY;
		refs[n].index = (int)n;
		if ((refs[n].policy = policy_parse(json_object_get(v, "policy"),
		    POLICY_IDENTITY, &opts, &e)) == NULL)
			die("node case", e.msg);
		n++;
	}
	refs[n].kind = POLICY_BOUNDARY;
	refs[n].index = (int)n;
	refs[n].policy = policy_parse(json_object_get(json_array_get(
	    json_object_get(c, "permissionBoundaryPolicies"), 0), "policy"),
	    POLICY_BOUNDARY, &opts, &e);
	n++;
	refs[n].kind = POLICY_RESOURCE;
	refs[n].index = (int)n;
	refs[n].policy = policy_parse(json_object_get(c, "resourcePolicy"),
	    POLICY_RESOURCE, &opts, &e);
	n++;
	if (refs[n - 1].policy == NULL || refs[n - 2].policy == NULL)
		die("node case", e.msg);
	memset(&req, 0, sizeof(req));
	req.principal = json_string_value(json_object_get(rqj, "principal"));
	req.action = json_string_value(json_object_get(rqj, "action"));
	req.resource = json_string_value(json_object_get(rqj, "resource"));
	req.context = json_object_get(rqj, "context");
	req.account = ACCOUNT;
	if ((t = malloc(runs * sizeof(*t))) == NULL)
		die("node case", "out of memory");
	for (i = 0; i < runs; i++) {
		t0 = now_us();
		dec = policy_evaluate(refs, n, &req, NULL);
		t[i] = now_us() - t0;
	}
	qsort(t, runs, sizeof(*t), cmp_double);
	printf("same-as-node %s %lld statements: regauth policy_evaluate "
	    "median %.3f us p99 %.3f us (%s)\n",
	    json_string_value(json_object_get(c, "label")),
	    (long long)json_integer_value(json_object_get(c, "statements")),
	    t[runs / 2], t[(size_t)((double)runs * 0.99)],
	    policy_decision_name(dec));
	free(t);
	for (i = 0; i < n; i++)
		policy_free((struct policy *)refs[i].policy);
}

static void
usage(void)
{
	fprintf(stderr, "usage: policy [-d decisions] [-s off-seconds] "
	    "[-n node-input.json] [statements ...]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	size_t sizes[8] = { 100, 10000, 100000 }, nsizes = 3, i;
	size_t decisions = 200000;
	double off_seconds = 10;
	const char *node_out = NULL;
	json_t *cases;
	char *end;
	int ch;

	while ((ch = getopt(argc, argv, "d:s:n:")) != -1) {
		switch (ch) {
		case 'd':
			decisions = strtoul(optarg, &end, 10);
			if (*end != '\0' || decisions < 100)
				usage();
			break;
		case 's':
			off_seconds = strtod(optarg, &end);
			if (*end != '\0' || off_seconds < 0)
				usage();
			break;
		case 'n':
			node_out = optarg;
			break;
		default:
			usage();
		}
	}
	if (optind < argc) {
		nsizes = 0;
		for (; optind < argc && nsizes < 8; optind++) {
			sizes[nsizes++] = strtoul(argv[optind], &end, 10);
			if (*end != '\0' || sizes[nsizes - 1] < 12)
				usage();
		}
	}
	printf("registry decisions (config_repo_policies + "
	    "policy_registry_decide, as token.c): times in us\n");
	printf("%-10s %6s %6s  %-4s %7s %9s %9s %9s\n", "statements", "teams",
	    "repos", "idx", "runs", "median", "p99", "mean");
	for (i = 0; i < nsizes; i++)
		bench_size(sizes[i], decisions, off_seconds);
	/*
	 * 52 statements: an org policy of 45 teams (48), the boundary (2)
	 * and the repository policy (2). 100: 13 team policies (52), an org
	 * policy of 41 teams (44), the boundary and the repository policy.
	 */
	cases = json_array();
	json_array_append_new(cases, node_case(45, 0, "52-statement"));
	json_array_append_new(cases, node_case(41, 13, "100-statement"));
	for (i = 0; i < json_array_size(cases); i++)
		regauth_on_node_case(json_array_get(cases, i), 20000);
	if (node_out != NULL && json_dump_file(cases, node_out,
	    JSON_INDENT(1)) == -1)
		die(node_out, "cannot write");
	json_decref(cases);
	return 0;
}
