/*
 * Loading the configuration directory into an immutable snapshot, and the
 * reference-counted swap that SIGHUP uses.
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/bio.h>
#include <openssl/pem.h>

#include "regauth/wire.h"
#include "authn.h"
#include "config.h"
#include "jsonpos.h"
#include "jws.h"
#include "tls.h"
#include "redisstore.h"

#define MAX_ATTACHED 64		/* policies attached to one principal */

static pthread_mutex_t	 config_lock = PTHREAD_MUTEX_INITIALIZER;
static struct config	*config_current;

int
config_valid_name(const char *name)
{
	size_t i, n = strlen(name);

	if (n == 0 || n > CONFIG_NAME_MAX || name[0] == '.')
		return 0;
	for (i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || strchr("._@+=,-", c) != NULL))
			return 0;
	}
	return 1;
}

int
config_valid_repo_pattern(const char *pattern)
{
	size_t n = strlen(pattern);

	return n > 0 && n <= 255 && strspn(pattern,
	    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	    "._-/:*?") == n;
}

int
config_path(char *buf, size_t sz, const char *dir, const char *sub,
    const char *name)
{
	int n;

	if (sub != NULL && name != NULL)
		n = snprintf(buf, sz, "%s/%s/%s.json", dir, sub, name);
	else if (sub != NULL || name != NULL)
		n = snprintf(buf, sz, "%s/%s", dir, sub != NULL ? sub : name);
	else
		n = snprintf(buf, sz, "%s", dir);
	return (n < 0 || (size_t)n >= sz) ? -1 : 0;
}

json_t *
config_default_settings(void)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:[s], s:I, s:I, s:I, s:I, s:s}",
	    "listen", CONFIG_DEFAULT_LISTEN,
	    "issuer", CONFIG_DEFAULT_ISSUER,
	    "realm", "http://" CONFIG_DEFAULT_LISTEN "/token",
	    "account", CONFIG_DEFAULT_ACCOUNT,
	    "services", CONFIG_DEFAULT_SERVICE,
	    "registry_token_lifetime", (json_int_t)300,
	    "login_token_lifetime", (json_int_t)43200,
	    "key_login_token_lifetime", (json_int_t)3600,
	    "max_scopes", (json_int_t)100,
	    "kid_format", "thumbprint");
}

static char *
xstrdup(const char *s)
{
	char *d = strdup(s);

	if (d == NULL)
		abort();
	return d;
}

static void
principal_clear(struct principal *p)
{
	size_t i;

	free(p->type);
	free(p->name);
	free(p->short_name);
	free(p->arn);
	util_secure_free_str(p->password_hash);
	json_decref(p->tags);
	free(p->policies);
	for (i = 0; i < p->nkeys; i++)
		EVP_PKEY_free(p->keys[i].pkey);
	free(p->keys);
	policy_free(p->trust);
}

void
config_release(struct config *cfg)
{
	size_t i, j;
	int last;

	if (cfg == NULL)
		return;
	pthread_mutex_lock(&config_lock);
	last = --cfg->refs <= 0;
	pthread_mutex_unlock(&config_lock);
	if (!last)
		return;
	free(cfg->dir);
	free(cfg->listen);
	free(cfg->issuer);
	free(cfg->realm);
	free(cfg->account);
	free(cfg->audit_log);
	for (i = 0; i < cfg->nservices; i++)
		free(cfg->services[i]);
	free(cfg->services);
	free(cfg->trusted_proxies);
	redisstore_settings_free(cfg->redis);
	keys_free(cfg->keys);
	free(cfg->tls_cert_file);
	free(cfg->tls_key_file);
	tls_creds_free(cfg->tls);
	free(cfg->run_user);
	free(cfg->run_group);
	for (i = 0; i < cfg->npolicies; i++) {
		free(cfg->policies[i].name);
		policy_free(cfg->policies[i].policy);
	}
	free(cfg->policies);
	for (i = 0; i < cfg->nprincipals; i++)
		principal_clear(&cfg->principals[i]);
	free(cfg->principals);
	for (i = 0; i < cfg->nrepo_policies; i++) {
		struct repo_policy *r = &cfg->repo_policies[i];
		free(r->name);
		for (j = 0; j < r->npatterns; j++)
			free(r->patterns[j]);
		free(r->patterns);
		policy_free(r->policy);
	}
	free(cfg->repo_policies);
	policy_globset_free(cfg->repo_index);
	for (i = 0; i < cfg->nissuers; i++)
		oidc_issuer_clear(&cfg->issuers[i]);
	free(cfg->issuers);
	authn_cache_free(cfg->logincache);
	free(cfg);
}

void
config_install(struct config *cfg)
{
	struct config *old;

	pthread_mutex_lock(&config_lock);
	old = config_current;
	config_current = cfg;
	pthread_mutex_unlock(&config_lock);
	config_release(old);
}

struct config *
config_acquire(void)
{
	struct config *cfg;

	pthread_mutex_lock(&config_lock);
	cfg = config_current;
	if (cfg != NULL)
		cfg->refs++;
	pthread_mutex_unlock(&config_lock);
	return cfg;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
free_names(char **names, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* Names of DIR/SUB/ *.json, sorted; a missing folder is empty. */
static int
list_json(const char *dir, const char *sub, char ***out, size_t *n,
    struct err *e)
{
	char path[4096], **names = NULL;
	struct dirent *de;
	size_t cnt = 0, cap = 0;
	DIR *d;

	*out = NULL;
	*n = 0;
	if (config_path(path, sizeof(path), dir, sub, NULL) == -1) {
		err_set(e, "%s: path too long", dir);
		return -1;
	}
	if ((d = opendir(path)) == NULL) {
		if (errno == ENOENT)
			return 0;
		err_set(e, "%s: %s", path, strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);
		if (de->d_name[0] == '.' || len <= 5 ||
		    strcmp(de->d_name + len - 5, ".json") != 0)
			continue;
		if (cnt == cap) {
			cap = cap ? cap * 2 : 16;
			if ((names = realloc(names, cap * sizeof(*names))) == NULL)
				abort();
		}
		names[cnt] = xstrdup(de->d_name);
		names[cnt][len - 5] = '\0';
		cnt++;
	}
	closedir(d);
	if (cnt > 0)
		qsort(names, cnt, sizeof(*names), cmp_str);
	*out = names;
	*n = cnt;
	return 0;
}

static json_t *
load_named(const struct config *cfg, const char *sub, const char *name,
    struct err *e)
{
	char path[4096];

	if (config_path(path, sizeof(path), cfg->dir, sub, name) == -1) {
		err_set(e, "%s/%s: path too long", sub, name);
		return NULL;
	}
	return util_json_load_file(path, e);
}

/* A string setting, or `def` when absent. */
static int
get_str(const json_t *o, const char *key, const char *def, char **out,
    const char *file, struct err *e)
{
	const json_t *v = json_object_get(o, key);

	if (v == NULL) {
		*out = xstrdup(def);
		return 0;
	}
	if (!json_is_string(v) || json_string_length(v) == 0) {
		err_set(e, "%s: \"%s\" must be a non-empty string", file, key);
		return -1;
	}
	*out = xstrdup(json_string_value(v));
	return 0;
}

static int
get_int(const json_t *o, const char *key, int64_t def, int64_t min,
    int64_t max, int64_t *out, const char *file, struct err *e)
{
	const json_t *v = json_object_get(o, key);

	if (v == NULL) {
		*out = def;
		return 0;
	}
	if (!json_is_integer(v) || json_integer_value(v) < min ||
	    json_integer_value(v) > max) {
		err_set(e, "%s: \"%s\" must be an integer from %lld to %lld",
		    file, key, (long long)min, (long long)max);
		return -1;
	}
	*out = json_integer_value(v);
	return 0;
}

/* Printable ASCII, 1..255 bytes: issuer and service names go into JWTs. */
static int
printable(const char *s)
{
	size_t n = strlen(s), i;

	if (n == 0 || n > 255)
		return 0;
	for (i = 0; i < n; i++)
		if (s[i] < 0x20 || s[i] > 0x7e)
			return 0;
	return 1;
}

/* "trusted_proxies": addresses or CIDR blocks allowed to set X-Forwarded-For. */
static int
trusted_parse(struct config *cfg, const json_t *list, struct err *e)
{
	const json_t *v;
	size_t i;

	if (list == NULL)
		return 0;
	if (!json_is_array(list) || json_array_size(list) > 256) {
		err_set(e, CONFIG_FILE ": \"trusted_proxies\" must be a list of "
		    "at most 256 addresses or CIDR blocks");
		return -1;
	}
	if (json_array_size(list) == 0)
		return 0;
	if ((cfg->trusted_proxies = calloc(json_array_size(list),
	    sizeof(*cfg->trusted_proxies))) == NULL)
		abort();
	json_array_foreach(list, i, v) {
		if (!json_is_string(v) || strlen(json_string_value(v)) !=
		    json_string_length(v) || netaddr_parse_cidr(
		    json_string_value(v), &cfg->trusted_proxies[i]) == -1) {
			err_set(e, CONFIG_FILE ": trusted_proxies[%zu] is not an "
			    "IP address or CIDR block", i);
			return -1;
		}
		cfg->ntrusted_proxies++;
	}
	return 0;
}

/*
 * "tls_cert_file" and "tls_key_file" (both or neither; tls.c loads them),
 * "user" and "group" (serve drops root to them; privs.c resolves them).
 * Absent: "".
 */
static int
serve_settings_parse(struct config *cfg, const json_t *j, struct err *e)
{
	static const char *keys[] = { "tls_cert_file", "tls_key_file", "user",
	    "group" };
	char **out[] = { &cfg->tls_cert_file, &cfg->tls_key_file,
	    &cfg->run_user, &cfg->run_group };
	size_t i;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const json_t *v = json_object_get(j, keys[i]);
		if (get_str(j, keys[i], "", out[i], CONFIG_FILE, e) == -1)
			return -1;
		if (v != NULL && strlen(json_string_value(v)) !=
		    json_string_length(v)) {
			err_set(e, CONFIG_FILE ": \"%s\" holds a NUL byte",
			    keys[i]);
			return -1;
		}
	}
	if ((cfg->tls_cert_file[0] == '\0') != (cfg->tls_key_file[0] == '\0')) {
		err_set(e, CONFIG_FILE ": \"tls_cert_file\" and \"tls_key_file\" "
		    "go together");
		return -1;
	}
	if (cfg->run_user[0] == '\0' && cfg->run_group[0] != '\0') {
		err_set(e, CONFIG_FILE ": \"group\" needs \"user\"");
		return -1;
	}
	return 0;
}

static int
settings_parse(struct config *cfg, const json_t *j, struct err *e)
{
	static const char *known[] = { "listen", "issuer", "realm", "account",
	    "services", "registry_token_lifetime", "login_token_lifetime",
	    "key_login_token_lifetime", "max_scopes", "kid_format",
	    "trusted_proxies", "max_failed_logins_per_user",
	    "max_failed_logins_per_address", "audit_log", "redis",
	    "tls_cert_file", "tls_key_file", "user", "group", NULL };
	json_t *sv;
	const char *key, *kf = NULL;
	char *kidfmt = NULL;
	size_t i;
	int rc = -1, k;

	if (!json_is_object(j)) {
		err_set(e, CONFIG_FILE ": not a JSON object");
		goto out;
	}
	json_object_foreach((json_t *)j, key, sv) {
		for (k = 0; known[k] != NULL && strcmp(known[k], key) != 0; k++)
			;
		if (known[k] == NULL) {
			err_set(e, CONFIG_FILE ": unknown setting \"%s\"", key);
			goto out;
		}
	}
	if (get_str(j, "listen", CONFIG_DEFAULT_LISTEN, &cfg->listen,
	    CONFIG_FILE, e) == -1 ||
	    get_str(j, "issuer", CONFIG_DEFAULT_ISSUER, &cfg->issuer,
	    CONFIG_FILE, e) == -1 ||
	    get_str(j, "realm", "", &cfg->realm, CONFIG_FILE, e) == -1 ||
	    get_str(j, "account", CONFIG_DEFAULT_ACCOUNT, &cfg->account,
	    CONFIG_FILE, e) == -1 ||
	    get_str(j, "kid_format", "thumbprint", &kidfmt, CONFIG_FILE,
	    e) == -1)
		goto out;
	if (get_int(j, "registry_token_lifetime", 300, 60, 86400,
	    &cfg->registry_token_ttl, CONFIG_FILE, e) == -1 ||
	    get_int(j, "login_token_lifetime", 43200, 60, 30 * 86400,
	    &cfg->login_token_ttl, CONFIG_FILE, e) == -1 ||
	    get_int(j, "key_login_token_lifetime", 3600, 60, 30 * 86400,
	    &cfg->key_login_token_ttl, CONFIG_FILE, e) == -1 ||
	    get_int(j, "max_scopes", 100, 1, 10000, &cfg->max_scopes,
	    CONFIG_FILE, e) == -1 ||
	    get_int(j, "max_failed_logins_per_user", 10, 0, 1000000,
	    &cfg->max_failed_user, CONFIG_FILE, e) == -1 ||
	    get_int(j, "max_failed_logins_per_address", 100, 0, 1000000,
	    &cfg->max_failed_address, CONFIG_FILE, e) == -1)
		goto out;
	if (!printable(cfg->issuer)) {
		err_set(e, CONFIG_FILE ": \"issuer\" must be printable ASCII, "
		    "at most 255 bytes");
		goto out;
	}
	if (strlen(cfg->account) != 12 ||
	    strspn(cfg->account, "0123456789") != 12) {
		err_set(e, CONFIG_FILE ": \"account\" must be 12 digits");
		goto out;
	}
	kf = kidfmt;
	if (strcmp(kf, "thumbprint") == 0)
		cfg->kid_format = KEYS_KID_THUMBPRINT;
	else if (strcmp(kf, "libtrust") == 0)
		cfg->kid_format = KEYS_KID_LIBTRUST;
	else {
		err_set(e, CONFIG_FILE ": \"kid_format\" must be \"thumbprint\" "
		    "or \"libtrust\"");
		goto out;
	}
	sv = json_object_get(j, "services");
	if (sv == NULL) {
		cfg->services = calloc(1, sizeof(char *));
		cfg->services[0] = xstrdup(CONFIG_DEFAULT_SERVICE);
		cfg->nservices = 1;
	} else {
		if (!json_is_array(sv) || json_array_size(sv) == 0 ||
		    json_array_size(sv) > 64) {
			err_set(e, CONFIG_FILE ": \"services\" must be a list "
			    "of 1 to 64 names");
			goto out;
		}
		cfg->services = calloc(json_array_size(sv), sizeof(char *));
		for (i = 0; i < json_array_size(sv); i++) {
			const json_t *s = json_array_get(sv, i);
			if (!json_is_string(s) ||
			    strlen(json_string_value(s)) !=
			    json_string_length(s) ||
			    !printable(json_string_value(s)) ||
			    strcmp(json_string_value(s),
			    REGAUTH_LOGIN_AUDIENCE) == 0) {
				err_set(e, CONFIG_FILE ": services[%zu] is not "
				    "a usable service name", i);
				goto out;
			}
			cfg->services[cfg->nservices++] =
			    xstrdup(json_string_value(s));
		}
	}
	if (trusted_parse(cfg, json_object_get(j, "trusted_proxies"), e) == -1 ||
	    serve_settings_parse(cfg, j, e) == -1)
		goto out;
	/* Absent: no audit log; "-": stderr; else an absolute file path. */
	if (json_object_get(j, "audit_log") != NULL) {
		if (get_str(j, "audit_log", "-", &cfg->audit_log, CONFIG_FILE,
		    e) == -1)
			goto out;
		if (strcmp(cfg->audit_log, "-") != 0 &&
		    (cfg->audit_log[0] != '/' || strlen(cfg->audit_log) !=
		    json_string_length(json_object_get(j, "audit_log")))) {
			err_set(e, CONFIG_FILE ": \"audit_log\" must be \"-\" "
			    "(stderr) or an absolute file path");
			goto out;
		}
	}
	if (redisstore_settings_parse(json_object_get(j, "redis"),
	    &cfg->redis, e) == -1)
		goto out;
	rc = 0;
out:
	free(kidfmt);
	return rc;
}

static int
load_settings(struct config *cfg, struct err *e)
{
	json_t *j;
	int rc;

	if ((j = load_named(cfg, NULL, CONFIG_FILE, e)) == NULL)
		return -1;
	rc = settings_parse(cfg, j, e);
	json_decref(j);
	return rc;
}

json_t *
config_settings_load(const char *dir, struct err *e)
{
	char path[4096];
	json_t *j;

	if (config_path(path, sizeof(path), dir, NULL, CONFIG_FILE) == -1) {
		err_set(e, "%s: path too long", dir);
		return NULL;
	}
	if ((j = util_json_load_file(path, e)) == NULL)
		return NULL;
	if (config_check_settings(j, e) == -1) {
		json_decref(j);
		return NULL;
	}
	return j;
}

int
config_check_settings(const json_t *settings, struct err *e)
{
	struct config *cfg;
	int rc;

	if ((cfg = calloc(1, sizeof(*cfg))) == NULL) {
		err_set(e, "out of memory");
		return -1;
	}
	cfg->refs = 1;
	rc = settings_parse(cfg, settings, e);
	config_release(cfg);
	return rc;
}

static int
cmp_named_policy(const void *a, const void *b)
{
	return strcmp(((const struct named_policy *)a)->name,
	    ((const struct named_policy *)b)->name);
}

/*
 * ":LINE:COLUMN" of the element at `prefix` + `ptr` (JSON Pointers) in
 * DIR/SUB/NAME.json, which is read again for this error message only; ""
 * when it cannot be said. The line is that of the member's name, or of the
 * array element.
 */
static const char *
where(const struct config *cfg, const char *sub, const char *name,
    const char *prefix, const char *ptr, char *out, size_t sz)
{
	char path[4096], full[512];
	struct jsonpos_loc loc;
	struct jsonpos *jp = NULL;
	struct err e;
	size_t len = 0;
	char *buf = NULL;

	out[0] = '\0';
	if (config_path(path, sizeof(path), cfg->dir, sub, name) == -1 ||
	    (buf = util_read_file(path, UTIL_JSON_MAX_BYTES, &len, &e)) ==
	    NULL || (jp = jsonpos_new(buf, len, NULL, &e)) == NULL)
		goto out;
	snprintf(full, sizeof(full), "%s%s", prefix, ptr);
	if (jsonpos_find(jp, full, &loc) == -1)
		goto out;
	if (loc.key_line > 0)
		snprintf(out, sz, ":%d:%d", loc.key_line, loc.key_col);
	else
		snprintf(out, sz, ":%d:%d", loc.line, loc.col);
out:
	jsonpos_free(jp);
	if (buf != NULL)
		util_secure_free(buf, len);
	return out;
}

static int
load_policies(struct config *cfg, const struct policy_parse_opts *opts,
    struct err *e)
{
	char **names = NULL;
	size_t n = 0, i;
	int rc = -1;

	if (list_json(cfg->dir, "policies", &names, &n, e) == -1)
		return -1;
	cfg->policies = calloc(n ? n : 1, sizeof(*cfg->policies));
	for (i = 0; i < n; i++) {
		struct policy_diag pd;
		struct err pe;
		json_t *doc;
		struct policy *p;
		char pos[32];

		if (!config_valid_name(names[i])) {
			err_set(e, "policies/%s.json: invalid policy name",
			    names[i]);
			goto out;
		}
		if ((doc = load_named(cfg, "policies", names[i], e)) == NULL)
			goto out;
		p = policy_parse_diag(doc, POLICY_IDENTITY, opts, &pe, &pd);
		json_decref(doc);
		if (p == NULL) {
			err_set(e, "policies/%s.json%s: %s", names[i],
			    where(cfg, "policies", names[i], "", pd.path, pos,
			    sizeof(pos)), pe.msg);
			goto out;
		}
		cfg->policies[cfg->npolicies].name = xstrdup(names[i]);
		cfg->policies[cfg->npolicies++].policy = p;
	}
	qsort(cfg->policies, cfg->npolicies, sizeof(*cfg->policies),
	    cmp_named_policy);
	rc = 0;
out:
	free_names(names, n);
	return rc;
}

const struct policy *
config_policy(const struct config *cfg, const char *name)
{
	struct named_policy key, *np;

	key.name = (char *)name;
	np = bsearch(&key, cfg->policies, cfg->npolicies,
	    sizeof(*cfg->policies), cmp_named_policy);
	return np ? np->policy : NULL;
}

/* Append the policies a JSON list names; `kind` for each. */
static int
attach(const struct config *cfg, const json_t *list, enum policy_kind kind,
    struct principal *p, const char *file, struct err *e)
{
	size_t i;
	const json_t *v;

	if (list == NULL || json_is_null(list))
		return 0;
	if (json_is_string(list)) {
		const struct policy *pol = config_policy(cfg,
		    json_string_value(list));
		if (pol == NULL) {
			err_set(e, "%s: unknown policy \"%s\"", file,
			    json_string_value(list));
			return -1;
		}
		if (p->npolicies >= MAX_ATTACHED)
			goto toomany;
		p->policies[p->npolicies].policy = pol;
		p->policies[p->npolicies].kind = kind;
		p->policies[p->npolicies].index = (int)p->npolicies;
		p->npolicies++;
		return 0;
	}
	if (!json_is_array(list)) {
		err_set(e, "%s: a policy list must be an array of names", file);
		return -1;
	}
	json_array_foreach(list, i, v) {
		if (!json_is_string(v)) {
			err_set(e, "%s: a policy list must be an array of "
			    "names", file);
			return -1;
		}
		if (attach(cfg, v, kind, p, file, e) == -1)
			return -1;
	}
	return 0;
toomany:
	err_set(e, "%s: more than %d policies attached", file, MAX_ATTACHED);
	return -1;
}

static int
check_keys(const json_t *o, const char *const *known, const char *file,
    struct err *e)
{
	const char *key;
	const json_t *v;
	int k;

	if (!json_is_object(o)) {
		err_set(e, "%s: not a JSON object", file);
		return -1;
	}
	json_object_foreach((json_t *)o, key, v) {
		for (k = 0; known[k] != NULL && strcmp(known[k], key) != 0; k++)
			;
		if (known[k] == NULL) {
			err_set(e, "%s: unknown field \"%s\"", file, key);
			return -1;
		}
	}
	return 0;
}

/* Identity policies of one group, appended to `p`. */
static int
attach_group(const struct config *cfg, const char *group,
    struct principal *p, const char *file, struct err *e)
{
	static const char *const known[] = { "name", "policies", NULL };
	char gfile[200];
	json_t *g;
	int rc = -1;

	if (!config_valid_name(group)) {
		err_set(e, "%s: invalid group name", file);
		return -1;
	}
	snprintf(gfile, sizeof(gfile), "groups/%s.json", group);
	if ((g = load_named(cfg, "groups", group, e)) == NULL) {
		err_set(e, "%s: unknown group \"%s\"", file, group);
		return -1;
	}
	if (check_keys(g, known, gfile, e) == -1 ||
	    attach(cfg, json_object_get(g, "policies"), POLICY_IDENTITY, p,
	    gfile, e) == -1)
		goto out;
	rc = 0;
out:
	json_decref(g);
	return rc;
}

/*
 * "keys" of a service account: [{"key_id", "public_key" (PEM SPKI, P-256),
 * "enabled", "created"}]. key_id must be the key's RFC 7638 thumbprint, so
 * a key_id names one key and cannot be pointed at another.
 */
static int
load_keys(const json_t *list, struct principal *p, const char *file,
    struct err *e)
{
	static const char *const known[] = { "key_id", "public_key", "enabled",
	    "created", "description", NULL };
	char kid[64], what[240];
	const json_t *k, *v;
	const char *pem;
	EVP_PKEY *pkey;
	BIO *bio;
	size_t i, j;

	if (list == NULL)
		return 0;
	if (!json_is_array(list) || json_array_size(list) > CONFIG_MAX_SA_KEYS) {
		err_set(e, "%s: \"keys\" must be a list of at most %d keys", file,
		    CONFIG_MAX_SA_KEYS);
		return -1;
	}
	if ((p->keys = calloc(json_array_size(list) + 1,
	    sizeof(*p->keys))) == NULL)
		abort();
	json_array_foreach(list, i, k) {
		struct principal_key *pk = &p->keys[p->nkeys];

		snprintf(what, sizeof(what), "%s: keys[%zu]", file, i);
		if (check_keys(k, known, what, e) == -1)
			return -1;
		v = json_object_get(k, "key_id");
		if (!json_is_string(v) || json_string_length(v) == 0 ||
		    json_string_length(v) >= sizeof(pk->key_id)) {
			err_set(e, "%s: \"key_id\" must be a key thumbprint",
			    what);
			return -1;
		}
		v = json_object_get(k, "enabled");
		if (v != NULL && !json_is_boolean(v)) {
			err_set(e, "%s: \"enabled\" must be true or false", what);
			return -1;
		}
		pk->enabled = v == NULL || json_is_true(v);
		v = json_object_get(k, "created");
		if (v != NULL && !json_is_string(v)) {
			err_set(e, "%s: \"created\" must be a string", what);
			return -1;
		}
		v = json_object_get(k, "public_key");
		pem = json_string_value(v);
		if (pem == NULL || strlen(pem) != json_string_length(v) ||
		    strlen(pem) > 4096 || (bio = BIO_new_mem_buf(pem,
		    (int)strlen(pem))) == NULL) {
			err_set(e, "%s: \"public_key\" must be a PEM public key",
			    what);
			return -1;
		}
		pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
		BIO_free(bio);
		if (pkey == NULL) {
			err_set(e, "%s: \"public_key\" is not a PEM public key",
			    what);
			return -1;
		}
		pk->pkey = pkey;
		p->nkeys++;
		if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_EC ||
		    jws_kid_thumbprint(pkey, kid, NULL) == -1) {
			err_set(e, "%s: the public key is not a P-256 (ES256) key",
			    what);
			return -1;
		}
		if (strcmp(kid, json_string_value(json_object_get(k,
		    "key_id"))) != 0) {
			err_set(e, "%s: \"key_id\" is not the thumbprint of the "
			    "public key (want %s)", what, kid);
			return -1;
		}
		memcpy(pk->key_id, kid, sizeof(pk->key_id));
		for (j = 0; j + 1 < p->nkeys; j++)
			if (strcmp(p->keys[j].key_id, kid) == 0) {
				err_set(e, "%s: key %s is listed twice", what,
				    kid);
				return -1;
			}
	}
	return 0;
}

const struct principal_key *
config_principal_key(const struct principal *p, const char *key_id)
{
	size_t i;

	for (i = 0; i < p->nkeys; i++)
		if (strcmp(p->keys[i].key_id, key_id) == 0)
			return &p->keys[i];
	return NULL;
}

/*
 * A role's "trust" (an IAM document with Principal, read as a resource
 * policy of the role: who may assume it) and "max_session" (seconds).
 */
static int
load_role(struct config *cfg, const json_t *j, const char *name,
    struct principal *p, const struct policy_parse_opts *opts,
    const char *file, struct err *e)
{
	const json_t *t = json_object_get(j, "trust");
	struct policy_diag pd;
	struct err pe;
	char pos[32];

	if (!json_is_object(t)) {
		err_set(e, "%s: \"trust\" must be an IAM policy document "
		    "(who may assume the role)", file);
		return -1;
	}
	if ((p->trust = policy_parse_diag(t, POLICY_RESOURCE, opts, &pe,
	    &pd)) == NULL) {
		err_set(e, "%s%s: trust: %s", file, where(cfg, "roles", name,
		    "/trust", pd.path, pos, sizeof(pos)), pe.msg);
		return -1;
	}
	if (get_int(j, "max_session", CONFIG_DEFAULT_SESSION,
	    CONFIG_MIN_SESSION, CONFIG_MAX_SESSION, &p->max_session, file,
	    e) == -1)
		return -1;
	return 0;
}

static int
load_principal(struct config *cfg, const char *type, const char *sub,
    const char *name, struct principal *p,
    const struct policy_parse_opts *opts, struct err *e)
{
	static const char *const known[] = { "name", "password", "groups",
	    "policies", "boundary", "tags", "enabled", "keys", "description",
	    NULL };
	static const char *const role_known[] = { "name", "trust",
	    "policies", "boundary", "tags", "enabled", "max_session",
	    "description", NULL };
	int role = strcmp(type, "role") == 0;
	char file[200];
	json_t *j = NULL, *v;
	size_t i;
	int rc = -1;

	snprintf(file, sizeof(file), "%s/%s.json", sub, name);
	if (!config_valid_name(name)) {
		err_set(e, "%s: invalid name", file);
		return -1;
	}
	if ((j = load_named(cfg, sub, name, e)) == NULL)
		return -1;
	if (check_keys(j, role ? role_known : known, file, e) == -1)
		goto out;
	v = json_object_get(j, "name");
	if (v != NULL && (!json_is_string(v) ||
	    strcmp(json_string_value(v), name) != 0)) {
		err_set(e, "%s: \"name\" differs from the file name", file);
		goto out;
	}
	p->type = xstrdup(type);
	p->name = xstrdup(name);
	if (asprintf(&p->short_name, "%s/%s", type, name) == -1 ||
	    asprintf(&p->arn, "arn:regauth:iam::%s:%s/%s", cfg->account, type,
	    name) == -1)
		abort();
	v = json_object_get(j, "password");
	if (v != NULL && !json_is_null(v) && strcmp(type, "user") != 0) {
		err_set(e, "%s: a %s has no password (it logs in with a key)",
		    file, type);
		goto out;
	}
	if (v != NULL && !json_is_null(v)) {
		if (!json_is_string(v) || json_string_value(v)[0] != '$') {
			err_set(e, "%s: \"password\" must be a crypt(3) hash",
			    file);
			goto out;
		}
		p->password_hash = xstrdup(json_string_value(v));
	}
	v = json_object_get(j, "enabled");
	if (v != NULL && !json_is_boolean(v)) {
		err_set(e, "%s: \"enabled\" must be true or false", file);
		goto out;
	}
	p->enabled = v == NULL || json_is_true(v);
	v = json_object_get(j, "tags");
	if (v != NULL) {
		const char *k;
		const json_t *tv;
		if (!json_is_object(v)) {
			err_set(e, "%s: \"tags\" must be an object", file);
			goto out;
		}
		json_object_foreach(v, k, tv) {
			if (!json_is_string(tv)) {
				err_set(e, "%s: tag \"%s\" must be a string",
				    file, k);
				goto out;
			}
		}
		p->tags = json_incref(v);
	} else
		p->tags = json_object();
	p->policies = calloc(MAX_ATTACHED, sizeof(*p->policies));
	if (attach(cfg, json_object_get(j, "policies"), POLICY_IDENTITY, p,
	    file, e) == -1)
		goto out;
	v = json_object_get(j, "groups");
	if (v != NULL) {
		const json_t *g;
		if (!json_is_array(v)) {
			err_set(e, "%s: \"groups\" must be an array", file);
			goto out;
		}
		json_array_foreach(v, i, g) {
			if (!json_is_string(g)) {
				err_set(e, "%s: \"groups\" must be an array of "
				    "names", file);
				goto out;
			}
			if (attach_group(cfg, json_string_value(g), p, file,
			    e) == -1)
				goto out;
		}
	}
	v = json_object_get(j, "boundary");
	if (v != NULL && !json_is_null(v) && !json_is_string(v)) {
		err_set(e, "%s: \"boundary\" must be a policy name", file);
		goto out;
	}
	if (attach(cfg, v, POLICY_BOUNDARY, p, file, e) == -1)
		goto out;
	v = json_object_get(j, "keys");
	if (v != NULL && strcmp(type, "serviceaccount") != 0) {
		err_set(e, "%s: only service accounts have \"keys\"", file);
		goto out;
	}
	if (load_keys(v, p, file, e) == -1)
		goto out;
	if (role && load_role(cfg, j, name, p, opts, file, e) == -1)
		goto out;
	rc = 0;
out:
	json_decref(j);
	return rc;
}

static int
cmp_principal(const void *a, const void *b)
{
	return strcmp(((const struct principal *)a)->short_name,
	    ((const struct principal *)b)->short_name);
}

#define NKINDS 3

static int
load_principals(struct config *cfg, const struct policy_parse_opts *opts,
    struct err *e)
{
	static const struct { const char *type, *sub; } kinds[NKINDS] = {
		{ "user", "users" },
		{ "serviceaccount", "serviceaccounts" },
		{ "role", "roles" },
	};
	char **names[NKINDS] = { NULL, NULL, NULL };
	size_t n[NKINDS] = { 0, 0, 0 }, k, i, total = 0;
	int rc = -1;

	for (k = 0; k < NKINDS; k++) {
		if (list_json(cfg->dir, kinds[k].sub, &names[k], &n[k], e) == -1)
			goto out;
		total += n[k];
	}
	cfg->principals = calloc(total ? total : 1, sizeof(*cfg->principals));
	for (k = 0; k < NKINDS; k++)
		for (i = 0; i < n[k]; i++) {
			if (load_principal(cfg, kinds[k].type, kinds[k].sub,
			    names[k][i], &cfg->principals[cfg->nprincipals++],
			    opts, e) == -1)
				goto out;
		}
	qsort(cfg->principals, cfg->nprincipals, sizeof(*cfg->principals),
	    cmp_principal);
	rc = 0;
out:
	for (k = 0; k < NKINDS; k++)
		free_names(names[k], n[k]);
	return rc;
}

/* oidc/NAME.json: the trusted issuers (oidc.c checks each file). */
static int
load_issuers(struct config *cfg, struct err *e)
{
	char **names = NULL;
	size_t n = 0, i, k;
	json_t *j;
	int rc = -1;

	if (list_json(cfg->dir, "oidc", &names, &n, e) == -1)
		return -1;
	if ((cfg->issuers = calloc(n ? n : 1, sizeof(*cfg->issuers))) == NULL)
		abort();
	for (i = 0; i < n; i++) {
		if (!config_valid_name(names[i])) {
			err_set(e, "oidc/%s.json: invalid name", names[i]);
			goto out;
		}
		if ((j = load_named(cfg, "oidc", names[i], e)) == NULL)
			goto out;
		if (oidc_issuer_load(&cfg->issuers[cfg->nissuers], cfg->dir,
		    names[i], j, e) == -1) {
			json_decref(j);
			goto out;
		}
		json_decref(j);
		cfg->nissuers++;
		for (k = 0; k + 1 < cfg->nissuers; k++)
			if (strcmp(cfg->issuers[k].issuer,
			    cfg->issuers[cfg->nissuers - 1].issuer) == 0) {
				err_set(e, "oidc/%s.json: issuer %s is already "
				    "trusted by oidc/%s.json", names[i],
				    cfg->issuers[k].issuer,
				    cfg->issuers[k].name);
				goto out;
			}
	}
	rc = 0;
out:
	free_names(names, n);
	return rc;
}

int
config_issuer_in_dir(const char *dir, const char *url, char *name, size_t sz)
{
	char **names = NULL, path[4096];
	const json_t *u;
	size_t n = 0, i;
	struct err e;
	json_t *j;
	int found = 0;

	if (list_json(dir, "oidc", &names, &n, &e) == -1)
		return 0;
	for (i = 0; i < n && !found; i++) {
		if (config_path(path, sizeof(path), dir, "oidc", names[i]) ==
		    -1 || (j = util_json_load_file(path, &e)) == NULL)
			continue;
		u = json_object_get(j, "issuer");
		if (json_is_string(u) && strcmp(json_string_value(u), url) ==
		    0) {
			found = 1;
			if (name != NULL)
				snprintf(name, sz, "%s", names[i]);
		}
		json_decref(j);
	}
	free_names(names, n);
	return found;
}

const struct oidc_issuer *
config_issuer(const struct config *cfg, const char *url)
{
	size_t i;

	for (i = 0; i < cfg->nissuers; i++)
		if (strcmp(cfg->issuers[i].issuer, url) == 0)
			return &cfg->issuers[i];
	return NULL;
}

const struct principal *
config_principal(const struct config *cfg, const char *short_name)
{
	struct principal key;

	key.short_name = (char *)short_name;
	return bsearch(&key, cfg->principals, cfg->nprincipals,
	    sizeof(*cfg->principals), cmp_principal);
}

/*
 * repositories/NAME.json: {"repositories": ["team-a/...", ...] (globs), "policy": {IAM
 * document with Principal}}.
 */
static int
load_repo_policies(struct config *cfg, const struct policy_parse_opts *opts,
    struct err *e)
{
	static const char *const known[] = { "repositories", "policy",
	    "description", NULL };
	char **names = NULL, file[200];
	size_t n = 0, i, k;
	json_t *j = NULL;
	int rc = -1;

	if (list_json(cfg->dir, "repositories", &names, &n, e) == -1)
		return -1;
	cfg->repo_policies = calloc(n ? n : 1, sizeof(*cfg->repo_policies));
	for (i = 0; i < n; i++) {
		struct repo_policy *r = &cfg->repo_policies[i];
		const json_t *pats, *v;
		struct policy_diag pd;
		struct err pe;
		char pos[32];

		snprintf(file, sizeof(file), "repositories/%s.json", names[i]);
		if ((j = load_named(cfg, "repositories", names[i], e)) == NULL)
			goto out;
		if (check_keys(j, known, file, e) == -1)
			goto out;
		cfg->nrepo_policies++;
		r->name = xstrdup(names[i]);
		pats = json_object_get(j, "repositories");
		if (!json_is_array(pats) || json_array_size(pats) == 0) {
			err_set(e, "%s: \"repositories\" must be a non-empty "
			    "array of names or patterns", file);
			goto out;
		}
		r->patterns = calloc(json_array_size(pats), sizeof(char *));
		json_array_foreach(pats, k, v) {
			if (!json_is_string(v) ||
			    strlen(json_string_value(v)) !=
			    json_string_length(v) ||
			    !config_valid_repo_pattern(json_string_value(v))) {
				err_set(e, "%s: repositories[%zu] must be a "
				    "repository name or a pattern with * and ?",
				    file, k);
				goto out;
			}
			r->patterns[r->npatterns++] =
			    xstrdup(json_string_value(v));
		}
		r->policy = policy_parse_diag(json_object_get(j, "policy"),
		    POLICY_RESOURCE, opts, &pe, &pd);
		if (r->policy == NULL) {
			err_set(e, "%s%s: policy: %s", file, where(cfg,
			    "repositories", names[i], json_object_get(j,
			    "policy") != NULL ? "/policy" : "", pd.path, pos,
			    sizeof(pos)), pe.msg);
			goto out;
		}
		json_decref(j);
		j = NULL;
	}
	rc = 0;
out:
	json_decref(j);
	free_names(names, n);
	return rc;
}

/*
 * Index every pattern of every repository policy by its literal prefix
 * (ids are places in repo_policies), so that a decision globs only the
 * patterns that can match, not all of them.
 */
static int
index_repo_policies(struct config *cfg, struct err *e)
{
	const char **pats = NULL;
	size_t *ids = NULL, i, k, n = 0;
	int rc = -1;

	for (i = 0; i < cfg->nrepo_policies; i++)
		n += cfg->repo_policies[i].npatterns;
	if ((pats = calloc(n ? n : 1, sizeof(*pats))) == NULL ||
	    (ids = calloc(n ? n : 1, sizeof(*ids))) == NULL) {
		err_set(e, "out of memory");
		goto out;
	}
	n = 0;
	for (i = 0; i < cfg->nrepo_policies; i++) {
		for (k = 0; k < cfg->repo_policies[i].npatterns; k++) {
			pats[n] = cfg->repo_policies[i].patterns[k];
			ids[n++] = i;
		}
	}
	if ((cfg->repo_index = policy_globset_new(pats, ids, n, e)) == NULL)
		goto out;
	rc = 0;
out:
	free(pats);
	free(ids);
	return rc;
}

struct repo_fill {
	const struct config	*cfg;
	struct policy_ref	*out;
	size_t			 max, *n;
};

static void
repo_fill(void *arg, size_t id)
{
	struct repo_fill *f = arg;

	if (*f->n < f->max) {
		f->out[*f->n].policy = f->cfg->repo_policies[id].policy;
		f->out[*f->n].kind = POLICY_RESOURCE;
		f->out[*f->n].index = (int)*f->n;
		(*f->n)++;
	}
}

size_t
config_repo_policies(const struct config *cfg, const char *repo,
    struct policy_ref *out, size_t max, size_t *n)
{
	struct repo_fill f = { cfg, out, max, n };
	size_t i, k, matched = 0;

	if (cfg->repo_index != NULL)
		return policy_globset_match(cfg->repo_index, repo, repo_fill,
		    &f);
	for (i = 0; i < cfg->nrepo_policies; i++) {
		const struct repo_policy *r = &cfg->repo_policies[i];
		for (k = 0; k < r->npatterns; k++)
			if (policy_glob(r->patterns[k], repo, 0)) {
				repo_fill(&f, i);
				matched++;
				break;
			}
	}
	return matched;
}

const char *
config_policy_file(const struct config *cfg, const struct policy *p,
    char *buf, size_t sz)
{
	size_t i;

	for (i = 0; cfg != NULL && i < cfg->npolicies; i++)
		if (cfg->policies[i].policy == p) {
			snprintf(buf, sz, "policies/%s.json",
			    cfg->policies[i].name);
			return "";
		}
	for (i = 0; cfg != NULL && i < cfg->nrepo_policies; i++)
		if (cfg->repo_policies[i].policy == p) {
			snprintf(buf, sz, "repositories/%s.json",
			    cfg->repo_policies[i].name);
			return "/policy";
		}
	return NULL;
}

int
config_has_service(const struct config *cfg, const char *service)
{
	size_t i;

	for (i = 0; i < cfg->nservices; i++)
		if (strcmp(cfg->services[i], service) == 0)
			return 1;
	return 0;
}

struct config *
config_load(const char *dir, struct err *e)
{
	struct policy_parse_opts opts;
	struct config *cfg;
	int64_t retire;

	if ((cfg = calloc(1, sizeof(*cfg))) == NULL)
		abort();
	cfg->refs = 1;
	cfg->dir = xstrdup(dir);
	if (load_settings(cfg, e) == -1)
		goto fail;
	if (cfg->tls_cert_file[0] != '\0' && (cfg->tls = tls_creds_load(dir,
	    cfg->tls_cert_file, cfg->tls_key_file, e)) == NULL)
		goto fail;
	opts.account = cfg->account;
	opts.registry = 1;
	/* An old key verifies until every token it signed has expired. */
	retire = cfg->registry_token_ttl;
	if (cfg->login_token_ttl > retire)
		retire = cfg->login_token_ttl;
	if (cfg->key_login_token_ttl > retire)
		retire = cfg->key_login_token_ttl;
	if ((cfg->keys = keys_load(dir, cfg->kid_format, retire, e)) == NULL ||
	    load_policies(cfg, &opts, e) == -1 ||
	    load_issuers(cfg, e) == -1 ||
	    load_principals(cfg, &opts, e) == -1 ||
	    load_repo_policies(cfg, &opts, e) == -1 ||
	    index_repo_policies(cfg, e) == -1)
		goto fail;
	if ((cfg->logincache = authn_cache_new(4096)) == NULL) {
		err_set(e, "out of memory");
		goto fail;
	}
	return cfg;
fail:
	config_release(cfg);
	return NULL;
}
