/*
 * `regauthd repo-policy set`: validate a resource policy as the server
 * will load it, then write repositories/NAME.json for one repository name
 * or pattern, replacing the policy already set for that pattern.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "cli.h"
#include "cmd_repo.h"
#include "config.h"
#include "jsonpos.h"
#include "policy/policy.h"
#include "util.h"


#define HASH_KEEP	46	/* bytes of a long name kept before "==HASH" */


/*
 * Letters, digits and '-' stay; '.' stays but for a leading one; '/' is
 * '+', '*' is '@', '?' is ','; any other byte is '=' and two hex digits.
 * '=' never stands for itself, so two patterns never share a name. A name
 * longer than CONFIG_NAME_MAX keeps its first HASH_KEEP bytes (whole
 * escapes only) and ends with "==" and 16 hex digits of the pattern's
 * SHA-256 ("==" cannot come from an escape).
 */
int
cmd_repo_file_name(const char *pattern, char *out, size_t sz)
{
	char name[3 * 255 + 1];
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	size_t i, n = 0, cut = 0;

	if (!config_valid_repo_pattern(pattern))
		return -1;
	for (i = 0; pattern[i] != '\0'; i++) {
		char c = pattern[i];
		if (n <= HASH_KEEP)
			cut = n;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || (c == '.' && i > 0))
			name[n++] = c;
		else if (c == '/')
			name[n++] = '+';
		else if (c == '*')
			name[n++] = '@';
		else if (c == '?')
			name[n++] = ',';
		else {
			snprintf(name + n, 4, "=%02x", (unsigned char)c);
			n += 3;
		}
	}
	if (n <= HASH_KEEP)
		cut = n;
	name[n] = '\0';
	if (n > CONFIG_NAME_MAX) {
		if (EVP_Digest(pattern, strlen(pattern), md, &mdlen,
		    EVP_sha256(), NULL) != 1 || mdlen < 8)
			return -1;
		n = cut;
		name[n++] = '=';
		name[n++] = '=';
		for (i = 0; i < 8; i++) {
			snprintf(name + n, 3, "%02x", md[i]);
			n += 2;
		}
		name[n] = '\0';
	}
	if (n + 1 > sz || !config_valid_name(name))
		return -1;
	memcpy(out, name, n + 1);
	return 0;
}

/*
 * The name of a file in repositories/ that already holds the policy of
 * exactly `pattern` (a "repositories" list of that one pattern), preferring
 * `derived`; else `derived`. Unreadable files are not ours to judge here:
 * the server reports them.
 */
static void
target_name(const char *dir, const char *pattern, const char *derived,
    char *out, size_t sz)
{
	char path[4096], best[CONFIG_NAME_MAX + 1] = "";
	struct dirent *de;
	DIR *d;

	snprintf(out, sz, "%s", derived);
	if (config_path(path, sizeof(path), dir, "repositories", NULL) == -1 ||
	    (d = opendir(path)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		char name[CONFIG_NAME_MAX + 1], file[4096];
		size_t len = strlen(de->d_name);
		const json_t *pats;
		struct err e;
		json_t *j;

		if (len <= 5 || len - 5 > CONFIG_NAME_MAX ||
		    strcmp(de->d_name + len - 5, ".json") != 0)
			continue;
		memcpy(name, de->d_name, len - 5);
		name[len - 5] = '\0';
		if (!config_valid_name(name) || config_path(file, sizeof(file),
		    dir, "repositories", name) == -1 ||
		    (j = util_json_load_file(file, &e)) == NULL)
			continue;
		pats = json_object_get(j, "repositories");
		if (json_is_array(pats) && json_array_size(pats) == 1 &&
		    json_is_string(json_array_get(pats, 0)) &&
		    strcmp(json_string_value(json_array_get(pats, 0)),
		    pattern) == 0 && (best[0] == '\0' ||
		    strcmp(name, derived) == 0 || (strcmp(best, derived) != 0 &&
		    strcmp(name, best) < 0)))
			snprintf(best, sizeof(best), "%s", name);
		json_decref(j);
	}
	closedir(d);
	if (best[0] != '\0')
		snprintf(out, sz, "%s", best);
}

int
cmd_repo_policy_set(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 }
	};
	const char *dir = NULL, *pattern, *file;
	char account[64], derived[CONFIG_NAME_MAX + 1];
	char name[CONFIG_NAME_MAX + 1], path[4096], *text = NULL;
	struct policy_parse_opts popts;
	struct policy_diag diag;
	struct policy *pol = NULL;
	json_t *doc = NULL, *out = NULL, *old = NULL, *desc;
	struct err e;
	size_t len = 0;
	int c, rc = EXIT_USAGE;

	while ((c = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
		if (c != 'c') {
			fputs("usage: regauthd repo-policy set -c DIR "
			    "REPOSITORY_PATTERN FILE\n", stderr);
			return EXIT_USAGE;
		}
		dir = optarg;
	}
	if (dir == NULL || optind + 2 != argc) {
		fputs("usage: regauthd repo-policy set -c DIR "
		    "REPOSITORY_PATTERN FILE\n", stderr);
		return EXIT_USAGE;
	}
	pattern = argv[optind];
	file = argv[optind + 1];
	if (cmd_repo_file_name(pattern, derived, sizeof(derived)) == -1) {
		cli_complain("\"%s\" is not a repository name or pattern "
		    "(1 to 255 of A-Z a-z 0-9 . _ - / : * ?)", pattern);
		return EXIT_DENIED;
	}
	if (cli_config_account(dir, account, sizeof(account), &e) == -1) {
		cli_complain("%s", e.msg);
		return EXIT_USAGE;
	}
	if ((doc = cli_load_doc(file, &text, &len, &e)) == NULL) {
		cli_complain("%s", e.msg);
		rc = EXIT_DENIED;
		goto out;
	}
	popts.account = account;
	popts.registry = 1;
	if ((pol = policy_parse_diag(doc, POLICY_RESOURCE, &popts, &e,
	    &diag)) == NULL) {
		struct jsonpos_loc loc;
		struct err je;
		struct jsonpos *jp = jsonpos_new(text, len, NULL, &je);

		if (jp != NULL && jsonpos_find(jp, diag.path, &loc) >= 0)
			cli_complain("%s:%d:%d: invalid repository policy: %s",
			    file, loc.line, loc.col, e.msg);
		else
			cli_complain("%s: invalid repository policy: %s", file,
			    e.msg);
		jsonpos_free(jp);
		rc = EXIT_DENIED;
		goto out;
	}
	target_name(dir, pattern, derived, name, sizeof(name));
	if (config_path(path, sizeof(path), dir, "repositories", name) == -1) {
		cli_complain("%s: path too long", dir);
		goto out;
	}
	if (config_path(path, sizeof(path), dir, "repositories", NULL) == -1 ||
	    util_mkdirs(path, 0700, &e) == -1) {
		cli_complain("%s", e.msg);
		goto out;
	}
	config_path(path, sizeof(path), dir, "repositories", name);
	if ((out = json_pack("{s:[s], s:O}", "repositories", pattern,
	    "policy", doc)) == NULL) {
		cli_complain("out of memory");
		goto out;
	}
	/* Setting the policy keeps a description written by hand. */
	if ((old = util_json_load_file(path, &e)) != NULL &&
	    json_is_string(desc = json_object_get(old, "description")))
		json_object_set(out, "description", desc);
	if (util_json_write_file(path, out, 0600, 0, &e) == -1) {
		cli_complain("%s", e.msg);
		goto out;
	}
	printf("regauthd: repositories/%s.json: policy for \"%s\" set\n",
	    name, pattern);
	rc = 0;
out:
	policy_free(pol);
	json_decref(doc);
	json_decref(out);
	json_decref(old);
	free(text);
	return rc;
}
