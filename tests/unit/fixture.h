/*
 * A configuration directory for unit tests, made with the library itself
 * (keys_create and util_json_write_file) in a mkdtemp folder.
 */
#ifndef REGAUTH_TEST_FIXTURE_H
#define REGAUTH_TEST_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "authn.h"
#include "config.h"
#include "keys.h"
#include "util.h"

static void
fx_write(const char *dir, const char *rel, const char *json)
{
	char path[1024];
	struct err e;
	json_t *j;

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	if ((j = json_loads(json, 0, NULL)) == NULL) {
		fprintf(stderr, "fixture: bad JSON for %s\n", rel);
		abort();
	}
	if (util_json_write_file(path, j, 0600, 0, &e) == -1) {
		fprintf(stderr, "fixture: %s\n", e.msg);
		abort();
	}
	json_decref(j);
}

static void
fx_mkdir(const char *dir, const char *rel)
{
	char path[1024];

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	mkdir(path, 0700);
}

/* DIR with keys, settings, policies, a group and users alice (password pw). */
static char *
fx_config_dir(void)
{
	static const char *subs[] = { "policies", "users", "groups",
	    "serviceaccounts", "repositories" };
	char tmpl[] = "/tmp/regauth-test-XXXXXX", *dir, *hash;
	char user[512];
	struct err e;
	size_t i;

	if ((dir = mkdtemp(tmpl)) == NULL)
		abort();
	dir = strdup(dir);
	if (keys_create(dir, JWS_ES256, "test-issuer", &e) == -1) {
		fprintf(stderr, "fixture: %s\n", e.msg);
		abort();
	}
	for (i = 0; i < sizeof(subs) / sizeof(subs[0]); i++)
		fx_mkdir(dir, subs[i]);
	fx_write(dir, "regauthd.json", "{\"issuer\":\"test-issuer\","
	    "\"services\":[\"reg\"],\"account\":\"123456789012\"}");
	fx_write(dir, "policies/dev.json", "{\"Version\":\"2012-10-17\","
	    "\"Statement\":[{\"Effect\":\"Allow\",\"Action\":[\"registry:Pull\","
	    "\"registry:Push\"],\"Resource\":\"repository/team-a/*\"},"
	    "{\"Effect\":\"Deny\",\"Action\":\"registry:Push\","
	    "\"Resource\":\"repository/team-a/frozen\"}]}");
	fx_write(dir, "groups/devs.json", "{\"name\":\"devs\","
	    "\"policies\":[\"dev\"]}");
	if ((hash = authn_hash_password("pw", &e)) == NULL)
		abort();
	snprintf(user, sizeof(user), "{\"name\":\"alice\",\"password\":\"%s\","
	    "\"groups\":[\"devs\"]}", hash);
	fx_write(dir, "users/alice.json", user);
	snprintf(user, sizeof(user), "{\"name\":\"carol\",\"password\":\"%s\","
	    "\"enabled\":false}", hash);
	fx_write(dir, "users/carol.json", user);
	free(hash);
	return dir;
}

static void
fx_remove(char *dir)
{
	char cmd[1100];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "fixture: cannot remove %s\n", dir);
	free(dir);
}

#endif
