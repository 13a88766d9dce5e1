/*
 * `regauthd keys`: list, rotate and prune the signing keys (keys.h has the
 * layout). The commands edit keys/; a running server takes a new key on
 * SIGHUP, and a pending one starts signing at its time without a reload.
 * Nothing here reads a private key but the CA's (to issue a certificate),
 * and nothing prints one.
 */
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cmd_keys.h"
#include "config.h"
#include "jws.h"
#include "keys.h"
#include "util.h"

#define KEYS_USAGE \
"usage: regauthd keys list -c DIR [--json]\n" \
"       regauthd keys rotate -c DIR [--activate-after SECONDS]\n" \
"                [--algorithm ES256|RS256] [--json]\n" \
"       regauthd keys prune -c DIR\n"

#define ACTIVATE_MAX	(366LL * 86400)	/* --activate-after, seconds */

static int
usage(void)
{
	fputs(KEYS_USAGE, stderr);
	return EXIT_USAGE;
}

/* What the server would use: kid format, issuer, longest token lifetime. */
struct settings {
	enum keys_kid_format	 fmt;
	char			 issuer[256];
	int64_t			 retire_after;
};

static int
read_settings(const char *dir, struct settings *s, struct err *e)
{
	/* The defaults of regauthd.json(5) for absent lifetimes. */
	static const struct { const char *name; int64_t def; } ttl[] = {
		{ "registry_token_lifetime", 300 },
		{ "login_token_lifetime", 43200 },
		{ "key_login_token_lifetime", 3600 },
	};
	const char *fmt, *iss;
	json_t *j, *v;
	size_t i;
	int64_t t;

	if ((j = config_settings_load(dir, e)) == NULL)
		return -1;
	fmt = json_string_value(json_object_get(j, "kid_format"));
	s->fmt = fmt != NULL && strcmp(fmt, "libtrust") == 0 ?
	    KEYS_KID_LIBTRUST : KEYS_KID_THUMBPRINT;
	iss = json_string_value(json_object_get(j, "issuer"));
	snprintf(s->issuer, sizeof(s->issuer), "%s",
	    iss != NULL ? iss : CONFIG_DEFAULT_ISSUER);
	s->retire_after = 0;
	for (i = 0; i < sizeof(ttl) / sizeof(ttl[0]); i++) {
		v = json_object_get(j, ttl[i].name);
		t = json_is_integer(v) ? (int64_t)json_integer_value(v) :
		    ttl[i].def;
		if (t > s->retire_after)
			s->retire_after = t;
	}
	json_decref(j);
	return 0;
}

static void
print_json(json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

	if (s != NULL)
		printf("%s\n", s);
	free(s);
}

static void
when(const json_t *v, char out[32])
{
	if (json_is_integer(v) && json_integer_value(v) > 0)
		util_rfc3339((int64_t)json_integer_value(v), out);
	else
		snprintf(out, 32, "-");
}

static int
cmd_list(const char *dir, int as_json)
{
	struct settings s;
	struct err e;
	json_t *arr, *k;
	char act[32], ret[32];
	size_t i;

	if (read_settings(dir, &s, &e) == -1 ||
	    (arr = keys_list(dir, s.fmt, s.retire_after, &e)) == NULL) {
		cli_complain("%s", e.msg);
		return EXIT_USAGE;
	}
	if (as_json) {
		json_t *o = json_pack("{s:o}", "keys", arr);

		print_json(o);
		json_decref(o);
		return 0;
	}
	printf("%-8s  %-12s  %-5s  %-20s  %-20s  %s\n", "STATE", "FILE", "ALG",
	    "SIGNS FROM", "RETIRES", "KID");
	json_array_foreach(arr, i, k) {
		when(json_object_get(k, "activate_at"), act);
		when(json_object_get(k, "retire_at"), ret);
		printf("%-8s  %-12s  %-5s  %-20s  %-20s  %s\n",
		    json_string_value(json_object_get(k, "state")),
		    json_string_value(json_object_get(k, "file")),
		    json_string_value(json_object_get(k, "alg")) ?
		    json_string_value(json_object_get(k, "alg")) : "-", act,
		    ret, json_string_value(json_object_get(k, "kid")));
	}
	json_decref(arr);
	return 0;
}

static int
cmd_rotate(const char *dir, int64_t after, int alg, int as_json)
{
	struct keys_rotate_args a;
	struct settings s;
	struct err e;
	json_t *r, *arr, *k;
	char at[32];
	size_t i;

	if (read_settings(dir, &s, &e) == -1) {
		cli_complain("%s", e.msg);
		return EXIT_USAGE;
	}
	/* A pending key is refused here already: invalid request, exit 1. */
	if ((arr = keys_list(dir, s.fmt, s.retire_after, &e)) == NULL) {
		cli_complain("%s", e.msg);
		return EXIT_USAGE;
	}
	json_array_foreach(arr, i, k)
		if (strcmp(json_string_value(json_object_get(k, "state")),
		    "pending") == 0) {
			when(json_object_get(k, "activate_at"), at);
			cli_complain("key %s is pending until %s; rotate "
			    "again once it signs",
			    json_string_value(json_object_get(k, "file")), at);
			json_decref(arr);
			return EXIT_DENIED;
		}
	json_decref(arr);
	memset(&a, 0, sizeof(a));
	a.alg = alg;
	a.activate_after = after;
	a.retire_after = s.retire_after;
	a.issuer = s.issuer;
	a.fmt = s.fmt;
	if ((r = keys_rotate(dir, &a, &e)) == NULL) {
		cli_complain("%s", e.msg);
		return EXIT_USAGE;
	}
	if (as_json)
		print_json(r);
	else {
		when(json_object_get(r, "activate_at"), at);
		printf("regauthd: new %s signing key %s (kid %s) signs %s%s\n",
		    json_string_value(json_object_get(r, "alg")),
		    json_string_value(json_object_get(r, "file")),
		    json_string_value(json_object_get(r, "kid")),
		    after == 0 ? "from now: " : "from ", at);
		json_array_foreach(json_object_get(r, "pruned"), i, k)
			printf("regauthd: removed retired key %s\n",
			    json_string_value(k));
		printf("  reload the servers (SIGHUP) %s\n", after == 0 ?
		    "now" : "before then");
	}
	json_decref(r);
	return 0;
}

static int
cmd_prune(const char *dir)
{
	struct settings s;
	struct err e;
	json_t *r, *k;
	size_t i;

	if (read_settings(dir, &s, &e) == -1 ||
	    (r = keys_prune(dir, s.retire_after, &e)) == NULL) {
		cli_complain("%s", e.msg);
		return EXIT_USAGE;
	}
	json_array_foreach(r, i, k)
		printf("regauthd: removed retired key %s\n",
		    json_string_value(k));
	json_decref(r);
	return 0;
}

int
cmd_keys(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },
		{ "activate-after", required_argument, NULL, 'a' },
		{ "algorithm", required_argument, NULL, 'g' },
		{ NULL, 0, NULL, 0 }
	};
	const char *dir = NULL, *verb;
	int64_t after = 0;
	enum jws_alg a;
	int c, as_json = 0, alg = -1, rotate_opts = 0;

	if (argc < 2)
		return usage();
	verb = argv[1];
	argc--;
	argv++;
	while ((c = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			dir = optarg;
			break;
		case 'j':
			as_json = 1;
			break;
		case 'a':
			if (util_parse_i64(optarg, 0, ACTIVATE_MAX, &after) ==
			    -1) {
				cli_complain("--activate-after: seconds from "
				    "0 to %lld", (long long)ACTIVATE_MAX);
				return EXIT_USAGE;
			}
			rotate_opts = 1;
			break;
		case 'g':
			if (jws_alg_parse(optarg, &a) == -1) {
				cli_complain("--algorithm: ES256 or RS256");
				return EXIT_USAGE;
			}
			alg = (int)a;
			rotate_opts = 1;
			break;
		default:
			return usage();
		}
	}
	if (dir == NULL || optind != argc)
		return usage();
	if (strcmp(verb, "list") == 0 && !rotate_opts)
		return cmd_list(dir, as_json);
	if (strcmp(verb, "rotate") == 0)
		return cmd_rotate(dir, after, alg, as_json);
	if (strcmp(verb, "prune") == 0 && !rotate_opts && !as_json)
		return cmd_prune(dir);
	return usage();
}
