/*
 * `regauthd policy simulate`: every asked scope action decided by the
 * server's own code (token_decide), with the statements that decided it
 * named by file, Sid and line.
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "authn.h"
#include "cmd_simulate.h"
#include "config.h"
#include "jsonpos.h"
#include "policy/policy.h"
#include "scope.h"
#include "token.h"
#include "util.h"



/*
 * The principal --principal names: TYPE/NAME, anonymous, or a role's
 * session (role/NAME is its session "simulated"; assumed-role/NAME/SESSION
 * names one), whose oidc:CLAIM keys come from --context.
 */
static int
simulated_identity(const struct config *cfg, const char *who,
    struct identity *id)
{
	char name[CONFIG_NAME_MAX + 8], session[AUTHN_SESSION_MAX + 1];
	const char *slash;
	json_t *none;
	struct err e;
	int rc;

	if (strcmp(who, "anonymous") == 0)
		return 0;
	snprintf(session, sizeof(session), "simulated");
	if (strncmp(who, "assumed-role/", 13) == 0 &&
	    (slash = strchr(who + 13, '/')) != NULL) {
		snprintf(name, sizeof(name), "role/%.*s",
		    (int)(slash - who - 13), who + 13);
		snprintf(session, sizeof(session), "%s", slash + 1);
		who = name;
	}
	if ((id->principal = config_principal(cfg, who)) == NULL) {
		cli_complain("principal \"%s\" not found (TYPE/NAME: "
		    "user/alice, serviceaccount/ci, role/deploy, "
		    "assumed-role/deploy/SESSION; or anonymous)", who);
		return -1;
	}
	if (!id->principal->enabled) {
		cli_complain("%s is disabled: the server refuses its "
		    "credentials", who);
		return -1;
	}
	if (strcmp(id->principal->type, "role") != 0) {
		snprintf(id->method, sizeof(id->method), "%s",
		    strcmp(id->principal->type, "user") == 0 ? "password" :
		    "key");
		return 0;
	}
	if ((none = json_object()) == NULL)
		return -1;
	rc = authn_session_identity(cfg, id->principal, session,
	    cfg->nissuers > 0 ? cfg->issuers[0].issuer : "", none, id, &e);
	json_decref(none);
	if (rc == -1)
		cli_complain("%s: %s", who, e.msg);
	return rc;
}

static int
usage(void)
{
	fputs("usage: regauthd policy simulate -c DIR --principal "
	    "TYPE/NAME|anonymous --scope SCOPE...\n"
	    "                [--service S] [--context KEY=VALUE]... [--json]\n",
	    stderr);
	return EXIT_USAGE;
}

/* Where a deciding statement is written. */
struct where {
	char	file[CONFIG_NAME_MAX + 32];	/* policies/NAME.json */
	char	pointer[64];			/* JSON Pointer of it */
	int	line;				/* 0: unknown */
};

/* The file of a loaded document, and the JSON Pointer of its statement. */
static int
locate(const struct config *cfg, const struct policy *p, int stmt,
    int stmt_array, struct where *w)
{
	const char *doc;

	memset(w, 0, sizeof(*w));
	if ((doc = config_policy_file(cfg, p, w->file, sizeof(w->file))) ==
	    NULL)
		return -1;
	snprintf(w->pointer, sizeof(w->pointer), "%s/Statement", doc);
	if (stmt_array)
		jsonpos_path_add_index(w->pointer, sizeof(w->pointer),
		    (size_t)stmt);
	return 0;
}

/*
 * The line of the statement: the file is scanned again (jsonpos). A
 * "Statement" that is one object rather than an array has no element
 * /N: jsonpos then names the nearest ancestor, the object itself, which is
 * that statement.
 */
static void
find_line(const char *dir, struct where *w)
{
	char path[4096], *text;
	struct jsonpos_loc loc;
	struct jsonpos *jp;
	struct err e;
	size_t len;

	if (snprintf(path, sizeof(path), "%s/%s", dir, w->file) >=
	    (int)sizeof(path) ||
	    (text = util_read_file(path, UTIL_JSON_MAX_BYTES, &len, &e)) == NULL)
		return;
	if ((jp = jsonpos_new(text, len, NULL, &e)) != NULL &&
	    jsonpos_find(jp, w->pointer, &loc) >= 0)
		w->line = loc.line;
	jsonpos_free(jp);
	free(text);
}

/* --context KEY=VALUE: a repeated key becomes a set of values. */
static int
add_context(json_t *ctx, char *arg)
{
	char *eq = strchr(arg, '=');
	json_t *cur, *v;

	if (eq == NULL || eq == arg)
		return -1;
	*eq = '\0';
	v = json_string(eq + 1);
	if (v == NULL)
		return -1;
	cur = json_object_get(ctx, arg);
	if (cur == NULL)
		return json_object_set_new(ctx, arg, v);
	if (json_is_string(cur)) {
		json_t *set = json_pack("[O]", cur);
		if (set == NULL || json_object_set_new(ctx, arg, set) == -1) {
			json_decref(v);
			return -1;
		}
		cur = set;
	}
	return json_array_append_new(cur, v);
}

/*
 * Does `p` (a statement array or object) hold its statements in an array?
 * The loaded document does not say, so ask the file's own JSON.
 */
static int
statement_is_array(const char *dir, const char *file)
{
	char path[4096];
	const json_t *st;
	struct err e;
	json_t *j;
	int r = 1;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	if ((j = util_json_load_file(path, &e)) == NULL)
		return 1;
	st = strncmp(file, "repositories/", 13) == 0 ?
	    json_object_get(json_object_get(j, "policy"), "Statement") :
	    json_object_get(j, "Statement");
	r = !json_is_object(st);
	json_decref(j);
	return r;
}

/* The deciding statements of one scope action, once each, as JSON. */
static json_t *
statements(const struct config *cfg, const struct token_why *why)
{
	json_t *arr = json_array();
	size_t i, k;

	if (arr == NULL)
		return NULL;
	for (i = 0; i < why->result.nmatches; i++) {
		const struct policy_match *m = &why->result.matches[i];
		struct where w;
		int dup = 0;

		for (k = 0; k < i; k++)
			dup |= why->policies[k] == why->policies[i] &&
			    why->result.matches[k].stmt == m->stmt;
		if (dup || why->policies[i] == NULL ||
		    locate(cfg, why->policies[i], m->stmt, 0, &w) == -1)
			continue;
		if (locate(cfg, why->policies[i], m->stmt,
		    statement_is_array(cfg->dir, w.file), &w) == -1)
			continue;
		find_line(cfg->dir, &w);
		json_array_append_new(arr, json_pack("{s:s, s:s, s:o, s:i, s:o}",
		    "file", w.file, "kind", policy_kind_name(why->kinds[i]),
		    "sid", m->sid != NULL ? json_string(m->sid) : json_null(),
		    "statement", m->stmt,
		    "line", w.line > 0 ? json_integer(w.line) : json_null()));
	}
	return arr;
}

static void
print_human(const json_t *r)
{
	const json_t *st = json_object_get(r, "statements"), *s;
	size_t i;

	printf("%s  %s", json_string_value(json_object_get(r, "scope")),
	    json_string_value(json_object_get(r, "decision")));
	if (json_array_size(st) == 0) {
		printf("  no statement allows it\n");
		return;
	}
	json_array_foreach(st, i, s) {
		const json_t *sid = json_object_get(s, "sid");
		const json_t *line = json_object_get(s, "line");
		printf("%s%s Sid=%s", i == 0 ? "  " : "; ",
		    json_string_value(json_object_get(s, "file")),
		    json_is_string(sid) ? json_string_value(sid) : "(none)");
		if (json_is_integer(line))
			printf(" line %lld", (long long)json_integer_value(line));
		if (strcmp(json_string_value(json_object_get(s, "kind")),
		    "boundary") == 0)
			printf(" (boundary)");
	}
	putchar('\n');
}

int
cmd_policy_simulate(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "principal", required_argument, NULL, 'p' },
		{ "scope", required_argument, NULL, 's' },
		{ "service", required_argument, NULL, 'S' },
		{ "context", required_argument, NULL, 'x' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	const char *dir = NULL, *who = NULL, *service = NULL;
	const char **scopev = NULL;
	struct config *cfg = NULL;
	struct scope_list scopes;
	struct token_request rq;
	struct identity id;
	struct err e;
	json_t *ctx = json_object(), *results = json_array(), *out = NULL;
	size_t nscopes = 0, i, k;
	int c, json = 0, rc = EXIT_USAGE, all = 1;

	scope_list_init(&scopes, 0);
	memset(&id, 0, sizeof(id));	/* cleared on every path to out */
	if (ctx == NULL || results == NULL ||
	    (scopev = calloc((size_t)argc + 1, sizeof(*scopev))) == NULL) {
		cli_complain("out of memory");
		goto out;
	}
	while ((c = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			dir = optarg;
			break;
		case 'p':
			who = optarg;
			break;
		case 's':
			scopev[nscopes++] = optarg;
			break;
		case 'S':
			service = optarg;
			break;
		case 'x':
			if (add_context(ctx, optarg) == -1) {
				cli_complain("--context wants KEY=VALUE");
				goto out;
			}
			break;
		case 'j':
			json = 1;
			break;
		default:
			rc = usage();
			goto out;
		}
	}
	if (dir == NULL || who == NULL || nscopes == 0 || optind != argc) {
		rc = usage();
		goto out;
	}
	if ((cfg = config_load(dir, &e)) == NULL) {
		cli_complain("%s", e.msg);
		goto out;
	}
	if (simulated_identity(cfg, who, &id) == -1) {
		rc = EXIT_DENIED;
		goto out;
	}
	if ((service = token_service(cfg, service, &e)) == NULL) {
		if (cfg->nservices != 1 && strcmp(e.msg, "unknown service") != 0)
			cli_complain("--service required: %s serves several "
			    "services", dir);
		else
			cli_complain("unknown service (configured: %s%s)",
			    cfg->services[0], cfg->nservices > 1 ? ", ..." : "");
		rc = EXIT_DENIED;
		goto out;
	}
	scope_list_init(&scopes, (size_t)cfg->max_scopes);
	for (i = 0; i < nscopes; i++)
		if (scope_parse(&scopes, scopev[i], &e) == -1) {
			cli_complain("--scope %s: %s", scopev[i], e.msg);
			rc = EXIT_DENIED;
			goto out;
		}
	memset(&rq, 0, sizeof(rq));
	rq.service = service;
	rq.scopes = &scopes;
	for (i = 0; i < scopes.n; i++) {
		const struct scope *sc = &scopes.v[i];
		for (k = 0; k < sc->nactions; k++) {
			struct token_why why;
			char name[SCOPE_TYPE_MAX + SCOPE_NAME_MAX +
			    SCOPE_ACTION_MAX + 3];
			json_t *r;

			if (token_decide(cfg, &id, &rq, sc, sc->actions[k],
			    json_object_size(ctx) > 0 ? ctx : NULL, &why,
			    &e) == -1) {
				cli_complain("%s", e.msg);
				goto out;
			}
			snprintf(name, sizeof(name), "%s:%s:%s", sc->type,
			    sc->name, sc->actions[k]);
			r = json_pack("{s:s, s:s, s:s, s:s, s:s, s:o}",
			    "scope", name, "type", sc->type, "name", sc->name,
			    "action", sc->actions[k], "decision",
			    policy_decision_name(why.result.decision),
			    "statements", statements(cfg, &why));
			if (r == NULL || json_array_append_new(results, r) == -1) {
				cli_complain("out of memory");
				goto out;
			}
			all &= why.result.decision == POLICY_ALLOW;
			if (!json)
				print_human(r);
		}
	}
	if (json) {
		char *s;
		out = json_pack("{s:s, s:s, s:b, s:O, s:O}", "principal",
		    id.principal ? authn_subject(&id) : "anonymous",
		    "service", service, "allowed", all, "context", ctx,
		    "results", results);
		if (out == NULL || (s = json_dumps(out, JSON_COMPACT)) == NULL) {
			cli_complain("out of memory");
			goto out;
		}
		printf("%s\n", s);
		free(s);
	}
	rc = all ? 0 : EXIT_DENIED;
out:
	if (fflush(stdout) != 0 && rc != EXIT_USAGE) {
		cli_complain("stdout: write error");
		rc = EXIT_USAGE;
	}
	json_decref(out);
	json_decref(results);
	json_decref(ctx);
	authn_identity_clear(&id);
	scope_list_free(&scopes);
	free(scopev);
	config_release(cfg);
	return rc;
}
