/*
 * `regauthd role add|list` and `regauthd oidc add|list`: roles that CI
 * jobs and Kubernetes workloads assume with an OIDC token, and the issuers
 * whose tokens regauthd trusts (POLICY.md "Roles and federation").
 * Everything is checked as the server will load it before a file is
 * written, so a running server never meets a file these commands made and
 * it refuses.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "cli.h"
#include "cmd_policy.h"
#include "cmd_role.h"
#include "config.h"
#include "jsonpos.h"
#include "oidc.h"
#include "policy/policy.h"
#include "util.h"

#define ROLE_USAGE \
"usage: regauthd role add -c DIR NAME --trust FILE [--policy P]... [--boundary P]\n" \
"                [--max-session SECONDS] [--tag K=V]... [--description TEXT]\n" \
"       regauthd role list -c DIR [--json]\n"
#define OIDC_USAGE \
"usage: regauthd oidc add -c DIR ISSUER_URL --audience AUD [--audience AUD]...\n" \
"                [--jwks-file FILE] [--ca-file FILE] [--name NAME]\n" \
"                [--cache-seconds N]\n" \
"       regauthd oidc list -c DIR [--json]\n"

static int
usage(const char *text)
{
	fputs(text, stderr);
	return EXIT_USAGE;
}

static int
exists(const char *dir, const char *sub, const char *name)
{
	char path[4096];
	struct stat st;

	return config_path(path, sizeof(path), dir, sub, name) == 0 &&
	    stat(path, &st) == 0;
}

/* Where JSON Pointer `ptr` is in `text`, as "FILE:LINE:COL" (or "FILE"). */
static void
position(const char *file, const char *text, size_t len, const char *ptr,
    char *out, size_t sz)
{
	struct jsonpos_loc loc;
	struct jsonpos *jp;
	struct err e;

	snprintf(out, sz, "%s", file);
	if ((jp = jsonpos_new(text, len, NULL, &e)) == NULL)
		return;
	if (jsonpos_find(jp, ptr, &loc) >= 0)
		snprintf(out, sz, "%s:%d:%d", file, loc.key_line > 0 ?
		    loc.key_line : loc.line, loc.key_line > 0 ? loc.key_col :
		    loc.col);
	jsonpos_free(jp);
}

static void
warn_untrusted(void *dir, const char *url, const char *pointer)
{
	(void)pointer;
	if (!config_issuer_in_dir(dir, url, NULL, 0))
		fprintf(stderr, "regauthd: warning: issuer %s is not trusted "
		    "yet: add it with regauthd oidc add\n", url);
}

/*
 * The trust document: a valid resource policy of the account. Its lint
 * findings are printed as `policy check` prints them, and a Federated
 * issuer not yet trusted is a warning (the role may be added first).
 */
static int
check_trust(const char *dir, const char *file, const json_t *doc,
    const char *text, size_t len)
{
	struct policy_parse_opts popts;
	struct policy_lint l = { NULL, 0, 0 };
	struct policy_diag diag;
	struct policy *pol;
	char account[64], where[4200];
	struct err e;
	size_t i;

	if (cli_config_account(dir, account, sizeof(account), &e) == -1) {
		cli_complain("%s", e.msg);
		return EXIT_USAGE;
	}
	popts.account = account;
	popts.registry = 1;
	if ((pol = policy_parse_diag(doc, POLICY_RESOURCE, &popts, &e,
	    &diag)) == NULL) {
		position(file, text, len, diag.path, where, sizeof(where));
		cli_complain("%s: invalid trust policy: %s", where, e.msg);
		return EXIT_DENIED;
	}
	policy_free(pol);
	if (policy_lint_document(doc, POLICY_RESOURCE, "", &l) == 0)
		for (i = 0; i < l.n; i++) {
			position(file, text, len, l.v[i].path, where,
			    sizeof(where));
			fprintf(stderr, "%s: %s: %s: %s\n", where,
			    l.v[i].severity == POLICY_LINT_ERROR ? "error" :
			    l.v[i].severity == POLICY_LINT_WARNING ? "warning" :
			    "suggestion", l.v[i].code, l.v[i].msg);
		}
	policy_lint_free(&l);
	cmd_policy_federated(doc, "", warn_untrusted, (void *)dir);
	return 0;
}

static int
role_add(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "trust", required_argument, NULL, 'T' },
		{ "policy", required_argument, NULL, 'P' },
		{ "boundary", required_argument, NULL, 'b' },
		{ "max-session", required_argument, NULL, 'm' },
		{ "tag", required_argument, NULL, 't' },
		{ "description", required_argument, NULL, 'd' },
		{ NULL, 0, NULL, 0 }
	};
	const char *dir = NULL, *name, *trust = NULL, *boundary = NULL;
	const char *desc = NULL;
	json_t *policies = json_array(), *tags = json_object();
	json_t *doc = NULL, *role = NULL, *v;
	char path[4096], *text = NULL, *eq;
	int64_t max_session = CONFIG_DEFAULT_SESSION;
	struct err e;
	size_t len = 0, i;
	int c, rc = EXIT_USAGE;

	optind = 1;
	while ((c = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			dir = optarg;
			break;
		case 'T':
			trust = optarg;
			break;
		case 'P':
			json_array_append_new(policies, json_string(optarg));
			break;
		case 'b':
			boundary = optarg;
			break;
		case 'm':
			if (util_parse_i64(optarg, CONFIG_MIN_SESSION,
			    CONFIG_MAX_SESSION, &max_session) == -1) {
				cli_complain("--max-session wants seconds from "
				    "%d to %d", CONFIG_MIN_SESSION,
				    CONFIG_MAX_SESSION);
				goto out;
			}
			break;
		case 't':
			if ((eq = strchr(optarg, '=')) == NULL || eq == optarg) {
				cli_complain("--tag wants KEY=VALUE");
				goto out;
			}
			*eq = '\0';
			json_object_set_new(tags, optarg, json_string(eq + 1));
			break;
		case 'd':
			desc = optarg;
			break;
		default:
			rc = usage(ROLE_USAGE);
			goto out;
		}
	}
	if (dir == NULL || trust == NULL || optind + 1 != argc) {
		rc = usage(ROLE_USAGE);
		goto out;
	}
	name = argv[optind];
	rc = EXIT_DENIED;
	if (!config_valid_name(name)) {
		cli_complain("invalid role name \"%s\" (1 to 64 of A-Z a-z 0-9 "
		    ". _ @ + = , -)", name);
		goto out;
	}
	if (exists(dir, "roles", name)) {
		cli_complain("role \"%s\" exists in %s/roles", name, dir);
		goto out;
	}
	json_array_foreach(policies, i, v)
		if (!config_valid_name(json_string_value(v)) ||
		    !exists(dir, "policies", json_string_value(v))) {
			cli_complain("policy \"%s\" not found in %s/policies",
			    json_string_value(v), dir);
			goto out;
		}
	if (boundary != NULL && (!config_valid_name(boundary) ||
	    !exists(dir, "policies", boundary))) {
		cli_complain("policy \"%s\" not found in %s/policies", boundary,
		    dir);
		goto out;
	}
	if ((doc = cli_load_doc(trust, &text, &len, &e)) == NULL) {
		cli_complain("%s", e.msg);
		goto out;
	}
	if ((rc = check_trust(dir, trust, doc, text, len)) != 0)
		goto out;
	rc = EXIT_USAGE;
	role = json_pack("{s:s, s:O, s:O, s:I, s:O}", "name", name, "trust",
	    doc, "policies", policies, "max_session", (json_int_t)max_session,
	    "tags", tags);
	if (role == NULL) {
		cli_complain("out of memory");
		goto out;
	}
	if (boundary != NULL)
		json_object_set_new(role, "boundary", json_string(boundary));
	if (desc != NULL)
		json_object_set_new(role, "description", json_string(desc));
	if (config_path(path, sizeof(path), dir, "roles", NULL) == -1 ||
	    util_mkdirs(path, 0700, &e) == -1 ||
	    config_path(path, sizeof(path), dir, "roles", name) == -1 ||
	    util_json_write_file(path, role, 0600, 1, &e) == -1) {
		cli_complain("%s", e.msg);
		rc = errno == EEXIST ? EXIT_DENIED : EXIT_USAGE;
		goto out;
	}
	printf("regauthd: roles/%s.json: role %s added (max session %llds)\n",
	    name, name, (long long)max_session);
	rc = 0;
out:
	free(text);
	json_decref(doc);
	json_decref(role);
	json_decref(policies);
	json_decref(tags);
	return rc;
}

/* `role list` and `oidc list`: load the directory as the server does. */
static int
list(int argc, char **argv, int roles)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	const char *dir = NULL;
	struct config *cfg;
	json_t *out, *item, *a;
	struct err e;
	size_t i, k;
	int c, json = 0;
	char *s;

	optind = 1;
	while ((c = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
		if (c == 'c')
			dir = optarg;
		else if (c == 'j')
			json = 1;
		else
			return usage(roles ? ROLE_USAGE : OIDC_USAGE);
	}
	if (dir == NULL || optind != argc)
		return usage(roles ? ROLE_USAGE : OIDC_USAGE);
	if ((cfg = config_load(dir, &e)) == NULL) {
		cli_complain("%s", e.msg);
		return EXIT_DENIED;
	}
	out = json_array();
	if (roles) {
		for (i = 0; i < cfg->nprincipals; i++) {
			const struct principal *p = &cfg->principals[i];
			if (strcmp(p->type, "role") != 0)
				continue;
			item = json_pack("{s:s, s:s, s:I, s:b}", "name",
			    p->name, "arn", p->arn, "max_session",
			    (json_int_t)p->max_session, "enabled", p->enabled);
			json_array_append_new(out, item);
			if (!json)
				printf("%-24s %s max_session=%llds%s\n",
				    p->name, p->arn, (long long)p->max_session,
				    p->enabled ? "" : " disabled");
		}
	} else {
		for (i = 0; i < cfg->nissuers; i++) {
			const struct oidc_issuer *o = &cfg->issuers[i];
			a = json_array();
			for (k = 0; k < o->naudiences; k++)
				json_array_append_new(a,
				    json_string(o->audiences[k]));
			item = json_pack("{s:s, s:s, s:o, s:s}", "name",
			    o->name, "issuer", o->issuer, "audiences", a,
			    "keys", o->keys != NULL ? "file" : "fetched");
			json_array_append_new(out, item);
			if (!json) {
				printf("%-24s %s keys=%s audiences=", o->name,
				    o->issuer, o->keys != NULL ? "file" :
				    "fetched");
				for (k = 0; k < o->naudiences; k++)
					printf("%s%s", k ? "," : "",
					    o->audiences[k]);
				putchar('\n');
			}
		}
	}
	if (json && (s = json_dumps(out, JSON_COMPACT)) != NULL) {
		printf("%s\n", s);
		free(s);
	}
	json_decref(out);
	config_release(cfg);
	return 0;
}

int
cmd_role(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "add") == 0)
		return role_add(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "list") == 0)
		return list(argc - 1, argv + 1, 1);
	return usage(ROLE_USAGE);
}

/* Copy FILE into the configuration directory as oidc/DEST. */
static int
copy_in(const char *dir, const char *file, const char *dest, size_t max,
    char **text, size_t *len)
{
	char path[4096];
	struct err e;

	if ((*text = util_read_file(file, max, len, &e)) == NULL) {
		cli_complain("%s", e.msg);
		return -1;
	}
	if (config_path(path, sizeof(path), dir, "oidc", NULL) == -1 ||
	    util_mkdirs(path, 0700, &e) == -1 ||
	    snprintf(path, sizeof(path), "%s/oidc/%s", dir, dest) >=
	    (int)sizeof(path) ||
	    util_write_file(path, *text, *len, 0600, 0, &e) == -1) {
		cli_complain("%s", e.msg);
		return -1;
	}
	return 0;
}

/* A PEM file with at least one certificate and nothing unreadable. */
static int
pem_certs_ok(const char *text, size_t len)
{
	BIO *b = BIO_new_mem_buf(text, (int)len);
	X509 *x;
	int n = 0;

	if (b == NULL)
		return 0;
	while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
		X509_free(x);
		n++;
	}
	BIO_free(b);
	return n > 0;
}

static int
oidc_add(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "audience", required_argument, NULL, 'a' },
		{ "jwks-file", required_argument, NULL, 'J' },
		{ "ca-file", required_argument, NULL, 'C' },
		{ "name", required_argument, NULL, 'n' },
		{ "cache-seconds", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 }
	};
	const char *dir = NULL, *url, *jwks = NULL, *ca = NULL;
	char name[65] = "", file[CONFIG_NAME_MAX + 16], cafile[CONFIG_NAME_MAX +
	    16], path[4096], other[CONFIG_NAME_MAX + 1];
	char *jtext = NULL, *ctext = NULL;
	json_t *auds = json_array(), *doc = NULL, *jdoc = NULL;
	struct oidc_keys *keys = NULL;
	struct oidc_issuer check;
	int64_t cache = 0;
	struct err e;
	size_t jlen = 0, clen = 0;
	int c, rc = EXIT_USAGE, wrote_jwks = 0, wrote_ca = 0;

	memset(&check, 0, sizeof(check));
	optind = 1;
	while ((c = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			dir = optarg;
			break;
		case 'a':
			if (optarg[0] == '\0' ||
			    json_array_size(auds) >= OIDC_MAX_AUDIENCES) {
				cli_complain("--audience: 1 to %d non-empty "
				    "audiences", OIDC_MAX_AUDIENCES);
				goto out;
			}
			json_array_append_new(auds, json_string(optarg));
			break;
		case 'J':
			jwks = optarg;
			break;
		case 'C':
			ca = optarg;
			break;
		case 'n':
			snprintf(name, sizeof(name), "%s", optarg);
			if (!config_valid_name(optarg)) {
				cli_complain("invalid --name \"%s\"", optarg);
				rc = EXIT_DENIED;
				goto out;
			}
			break;
		case 's':
			if (util_parse_i64(optarg, 60, 86400, &cache) == -1) {
				cli_complain("--cache-seconds wants 60 to 86400");
				goto out;
			}
			break;
		default:
			rc = usage(OIDC_USAGE);
			goto out;
		}
	}
	if (dir == NULL || optind + 1 != argc ||
	    json_array_size(auds) == 0) {
		if (dir != NULL && optind + 1 == argc)
			cli_complain("--audience required: the aud your CI "
			    "puts in its tokens");
		rc = usage(OIDC_USAGE);
		goto out;
	}
	url = argv[optind];
	rc = EXIT_DENIED;
	if (oidc_issuer_url_ok(url, &e) == -1) {
		cli_complain("%s", e.msg);
		goto out;
	}
	if (name[0] == '\0')
		oidc_issuer_file_name(url, name);
	if (exists(dir, "oidc", name)) {
		cli_complain("issuer file oidc/%s.json exists in %s", name, dir);
		goto out;
	}
	if (config_issuer_in_dir(dir, url, other, sizeof(other))) {
		cli_complain("issuer %s is already trusted (oidc/%s.json)", url,
		    other);
		goto out;
	}
	if ((doc = json_pack("{s:s, s:O}", "issuer", url, "audiences",
	    auds)) == NULL) {
		rc = EXIT_USAGE;
		goto out;
	}
	if (cache > 0)
		json_object_set_new(doc, "jwks_cache_seconds",
		    json_integer(cache));
	if (jwks != NULL) {
		if ((jtext = util_read_file(jwks, OIDC_JWKS_MAX, &jlen, &e)) ==
		    NULL || (jdoc = util_json_loadb(jtext, jlen, jwks, &e)) ==
		    NULL || (keys = oidc_keys_parse(jdoc, &e)) == NULL) {
			cli_complain("%s: %s", jwks, e.msg);
			goto out;
		}
		free(jtext);
		jtext = NULL;
		snprintf(file, sizeof(file), "%s.jwks", name);
		if (copy_in(dir, jwks, file, OIDC_JWKS_MAX, &jtext, &jlen) ==
		    -1) {
			rc = EXIT_USAGE;
			goto out;
		}
		wrote_jwks = 1;
		json_object_set_new(doc, "jwks_file", json_string(file));
	}
	if (ca != NULL) {
		snprintf(cafile, sizeof(cafile), "%s.ca.pem", name);
		if (copy_in(dir, ca, cafile, 1024 * 1024, &ctext, &clen) == -1) {
			rc = EXIT_USAGE;
			goto out;
		}
		wrote_ca = 1;
		if (!pem_certs_ok(ctext, clen)) {
			cli_complain("%s: no PEM certificate in it", ca);
			goto out;
		}
		json_object_set_new(doc, "ca_file", json_string(cafile));
	}
	/* As the server will load it. */
	if (oidc_issuer_load(&check, dir, name, doc, &e) == -1) {
		cli_complain("%s", e.msg);
		goto out;
	}
	if (config_path(path, sizeof(path), dir, "oidc", NULL) == -1 ||
	    util_mkdirs(path, 0700, &e) == -1 ||
	    config_path(path, sizeof(path), dir, "oidc", name) == -1 ||
	    util_json_write_file(path, doc, 0600, 1, &e) == -1) {
		cli_complain("%s", e.msg);
		rc = errno == EEXIST ? EXIT_DENIED : EXIT_USAGE;
		goto out;
	}
	wrote_jwks = wrote_ca = 0;
	printf("regauthd: oidc/%s.json: issuer %s trusted (keys: %s)\n", name,
	    url, jwks != NULL ? "the JWKS file" :
	    "fetched from its /.well-known/openid-configuration");
	rc = 0;
out:
	if (wrote_jwks && snprintf(path, sizeof(path), "%s/oidc/%s", dir,
	    file) < (int)sizeof(path))
		unlink(path);
	if (wrote_ca && snprintf(path, sizeof(path), "%s/oidc/%s", dir,
	    cafile) < (int)sizeof(path))
		unlink(path);
	oidc_issuer_clear(&check);
	oidc_keys_unref(keys);
	free(jtext);
	free(ctext);
	json_decref(jdoc);
	json_decref(doc);
	json_decref(auds);
	return rc;
}

int
cmd_oidc(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "add") == 0)
		return oidc_add(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "list") == 0)
		return list(argc - 1, argv + 1, 0);
	return usage(OIDC_USAGE);
}
