/*
 * docker-credential-regauth: the credential helper. main() dispatches the
 * protocol verbs (get, store, erase, list, version: PROTOCOLS.md 1.1-1.3),
 * the helper's own commands (login, logout, configure) and the kubelet
 * credential provider (kubelet.c). The protocol verbs print errors on
 * stdout and exit 1; the commands exit 0, 1 (refused, not found) or 2
 * (usage or runtime error) and print errors on stderr; kubelet exits 1 on
 * any failure, with the error on stderr and nothing on stdout.
 */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "regauth/wire.h"
#include "cache.h"
#include "config.h"
#include "credential.h"
#include "discover.h"
#include "exchange.h"
#include "kubelet.h"
#include "normalize.h"
#include "util.h"

#define PROG "docker-credential-regauth"
#define NOT_FOUND "credentials not found in native keychain"
#define STDIN_MAX (64 * 1024)
#define HELPER_SUFFIX "regauth"

static void
usage(FILE *f)
{
	fputs("usage: " PROG " get|store|erase|list|version\n"
	    "       " PROG " login [REGISTRY] [--server URL] [--username NAME]"
	    " [--password-stdin]\n"
	    "       " PROG " logout [REGISTRY]\n"
	    "       " PROG " configure [--registry HOST]... [--server URL]"
	    " [--role NAME]\n"
	    "           [--oidc-token-file FILE] [--audience AUD]"
	    " [--docker-config FILE]\n"
	    "       " PROG " kubelet\n", f);
}

/* The protocol's failure: one line on stdout, exit 1. */
static int
proto_fail(const char *msg)
{
	printf("%s\n", msg);
	return 1;
}

static int
not_found(void)
{
	return proto_fail(NOT_FOUND);
}

/* {"ServerURL":…,"Username":"<token>","Secret":…} on stdout. */
static int
answer(const char *server_url, const char *token)
{
	json_t *o = json_pack("{s:s, s:s, s:s}", "ServerURL", server_url,
	    "Username", REGAUTH_TOKEN_USERNAME, "Secret", token);
	char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	int ret = 1;

	if (text == NULL) {
		proto_fail("out of memory");
		goto out;
	}
	printf("%s\n", text);
	ret = fflush(stdout) == 0 ? 0 : 1;
out:
	if (o != NULL) {
		const char *t = json_string_value(json_object_get(o, "Secret"));

		if (t != NULL)
			util_wipe((void *)t, strlen(t));
		json_decref(o);
	}
	util_free_secret(text);
	return ret;
}

/* Read the whole of stdin, trimmed; NULL (message printed) on failure. */
static char *
read_input(size_t *len)
{
	char *in = util_read_stdin(STDIN_MAX, len);

	if (in == NULL)
		proto_fail("cannot read the request on stdin (too large?)");
	return in;
}

static int
verb_get(void)
{
	struct config cfg = { NULL, NULL };
	struct cache cache = { NULL, -1 };
	struct credential cr = { NULL, 0 };
	char key[NORMALIZE_MAX], *in, *input;
	struct err e;
	int ret, rc;

	if ((in = read_input(NULL)) == NULL)
		return 1;
	input = util_trim(in);
	if (input[0] == '\0') {
		free(in);
		return proto_fail("no credentials server URL");
	}
	if (normalize_server(input, key, sizeof(key)) == -1) {
		util_debug("not a registry name; nothing to answer");
		free(in);
		return not_found();
	}
	if (cache_init(&cache, &e) == -1 || config_load(&cfg, &e) == -1) {
		ret = proto_fail(e.msg);
		goto out;
	}
	rc = credential_get(key, &cfg, &cache, 0, &cr, &e);
	if (rc == 0)
		ret = answer(input, cr.token);
	else if (rc == CREDENTIAL_NOT_FOUND) {
		util_debug("%s", e.msg);
		ret = not_found();
	} else
		ret = proto_fail(e.msg);
out:
	credential_clear(&cr);
	cache_close(&cache);
	config_free(&cfg);
	free(in);
	return ret;
}

/*
 * Exchange user:password for a login token at the registry's token server
 * (server: given, else resolved). 0, EXCHANGE_REFUSED, -1.
 */
static int
password_login(const struct config *cfg, const char *key, const char *given,
    const char *user, const char *password, struct cache_entry *en,
    struct err *e)
{
	struct exchange_login lg;
	char *server = NULL;
	int explicit, rc;

	memset(&lg, 0, sizeof(lg));
	if (given != NULL)
		server = strdup(given);
	else {
		rc = credential_server(cfg, key, &server, &explicit, e);
		if (rc == DISCOVER_NOT_TOKEN) {
			util_err(e, "registry %s does not use a token server: "
			    "set REGAUTH_SERVER", key);
			return -1;
		}
		if (rc == -1)
			return -1;
	}
	if (server == NULL) {
		util_err(e, "out of memory");
		return -1;
	}
	rc = exchange_login_password(server, user, password, &lg, e);
	if (rc != 0) {
		free(server);
		return rc;
	}
	en->server = server;
	en->token = lg.token;
	lg.token = NULL;
	en->username = strdup(user);
	credential_token_times(en->token, lg.expires_in, &en->iat, &en->exp);
	exchange_login_clear(&lg);
	return 0;
}

static int
keep_login(struct cache *cache, const char *key, struct cache_entry *en,
    struct err *e)
{
	int ret;

	en->id = strdup(key);
	en->registry = strdup(key);
	if (en->id == NULL || en->registry == NULL) {
		util_err(e, "out of memory");
		return -1;
	}
	if (cache_lock(cache, e) == -1)
		return -1;
	ret = cache_put(cache, CACHE_LOGIN, en, e);
	cache_unlock(cache);
	return ret;
}

static int
verb_store(void)
{
	struct config cfg = { NULL, NULL };
	struct cache cache = { NULL, -1 };
	struct cache_entry en;
	const char *url, *user, *secret;
	char key[NORMALIZE_MAX], *in;
	json_t *o = NULL;
	size_t len = 0;
	struct err e;
	int ret = 1, rc;

	memset(&en, 0, sizeof(en));
	if ((in = read_input(&len)) == NULL)
		return 1;
	o = json_loadb(in, len, 0, NULL);
	url = json_string_value(json_object_get(o, "ServerURL"));
	user = json_string_value(json_object_get(o, "Username"));
	secret = json_string_value(json_object_get(o, "Secret"));
	if (!json_is_object(o)) {
		ret = proto_fail("the request on stdin is not a JSON object");
		goto out;
	}
	if (url == NULL || url[0] == '\0') {
		ret = proto_fail("no credentials server URL");
		goto out;
	}
	if (user == NULL || user[0] == '\0') {
		ret = proto_fail("no credentials username");
		goto out;
	}
	if (secret == NULL || secret[0] == '\0') {
		ret = proto_fail("no credentials secret");
		goto out;
	}
	if (normalize_server(url, key, sizeof(key)) == -1) {
		ret = proto_fail("invalid server address");
		goto out;
	}
	if (cache_init(&cache, &e) == -1 || config_load(&cfg, &e) == -1) {
		ret = proto_fail(e.msg);
		goto out;
	}
	if (strcmp(user, REGAUTH_TOKEN_USERNAME) == 0) {
		/* docker login already traded the password for a token */
		en.token = strdup(secret);
		en.username = strdup(user);
		if (en.token == NULL || en.username == NULL) {
			ret = proto_fail("out of memory");
			goto out;
		}
		credential_token_times(en.token, 0, &en.iat, &en.exp);
		util_debug("storing the identity token docker sent for %s",
		    key);
	} else {
		rc = password_login(&cfg, key, NULL, user, secret, &en, &e);
		if (rc != 0) {
			ret = proto_fail(e.msg);
			goto out;
		}
		util_debug("stored a login token for %s (the password is not "
		    "kept)", key);
	}
	if (keep_login(&cache, key, &en, &e) == -1) {
		ret = proto_fail(e.msg);
		goto out;
	}
	ret = 0;
out:
	if (secret != NULL)
		util_wipe((void *)secret, strlen(secret));
	json_decref(o);
	if (in != NULL) {
		util_wipe(in, len);
		free(in);
	}
	cache_entry_clear(&en);
	cache_close(&cache);
	config_free(&cfg);
	return ret;
}

struct forget {
	struct cache *cache;
	const char *key;
	int removed;
};

static void
forget_tokens(const struct cache_entry *en, void *arg)
{
	struct forget *f = arg;
	struct err e;

	if (strcmp(en->registry, f->key) == 0 &&
	    cache_remove(f->cache, CACHE_TOKEN, en->id, &e) == 1)
		f->removed++;
}

/* Remove what is kept for a registry; the number of entries removed. */
static int
forget(struct cache *cache, const char *key, struct err *e)
{
	struct forget f = { cache, key, 0 };
	int rc;

	if (cache_lock(cache, e) == -1)
		return -1;
	rc = cache_remove(cache, CACHE_LOGIN, key, e);
	if (rc == -1) {
		cache_unlock(cache);
		return -1;
	}
	(void)cache_list(cache, CACHE_TOKEN, forget_tokens, &f);
	cache_unlock(cache);
	return rc + f.removed;
}

static int
verb_erase(void)
{
	struct cache cache = { NULL, -1 };
	char key[NORMALIZE_MAX], *in, *input;
	struct err e;
	int ret, rc;

	if ((in = read_input(NULL)) == NULL)
		return 1;
	input = util_trim(in);
	if (input[0] == '\0') {
		free(in);
		return proto_fail("no credentials server URL");
	}
	if (normalize_server(input, key, sizeof(key)) == -1) {
		free(in);
		return not_found();
	}
	if (cache_init(&cache, &e) == -1) {
		ret = proto_fail(e.msg);
		goto out;
	}
	rc = forget(&cache, key, &e);
	if (rc == -1)
		ret = proto_fail(e.msg);
	else if (rc == 0)
		ret = not_found();
	else
		ret = 0;
out:
	cache_close(&cache);
	free(in);
	return ret;
}

static void
list_one(const struct cache_entry *en, void *arg)
{
	json_object_set_new(arg, en->registry,
	    json_string(en->username ? en->username : REGAUTH_TOKEN_USERNAME));
}

static int
verb_list(void)
{
	struct cache cache = { NULL, -1 };
	json_t *o = json_object();
	char *text = NULL, *in;
	struct err e;
	int ret = 1;

	in = util_read_stdin(STDIN_MAX, NULL); /* "unused" */
	free(in);
	if (o == NULL || cache_init(&cache, &e) == -1) {
		ret = proto_fail(o == NULL ? "out of memory" : e.msg);
		goto out;
	}
	(void)cache_list(&cache, CACHE_LOGIN, list_one, o);
	text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	if (text == NULL) {
		ret = proto_fail("out of memory");
		goto out;
	}
	printf("%s\n", text);
	ret = 0;
out:
	free(text);
	json_decref(o);
	cache_close(&cache);
	return ret;
}

/* ------------------------------------------------------------------ */
/* the helper's own commands */

static void cmd_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static void
cmd_error(const char *fmt, ...)
{
	va_list ap;

	fputs(PROG ": ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* The registry named, else the configuration's only one. */
static int
pick_registry(const struct config *cfg, const char *given, char *key,
    size_t keysz)
{
	const char *names[2];
	size_t n;

	if (given == NULL) {
		n = config_registries(cfg, names, 2);
		if (n != 1) {
			cmd_error("%s", n == 0 ? "name a registry (the "
			    "configuration lists none)" : "name a registry "
			    "(the configuration lists several)");
			return -1;
		}
		given = names[0];
	}
	if (normalize_server(given, key, keysz) == -1) {
		cmd_error("not a registry name: %s", given);
		return -1;
	}
	return 0;
}

/* A line from the terminal (or stdin), echo off when secret. */
static char *
prompt(const char *what, int secret)
{
	struct termios old, quiet;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	FILE *tty = fopen("/dev/tty", "r+");
	FILE *in = tty ? tty : stdin, *out = tty ? tty : stderr;
	int restore = 0;

	fprintf(out, "%s: ", what);
	fflush(out);
	if (secret && tcgetattr(fileno(in), &old) == 0) {
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		restore = tcsetattr(fileno(in), TCSAFLUSH, &quiet) == 0;
	}
	n = getline(&line, &cap, in);
	if (restore) {
		tcsetattr(fileno(in), TCSAFLUSH, &old);
		fputc('\n', out);
	}
	if (tty != NULL)
		fclose(tty);
	if (n <= 0) {
		if (line != NULL)
			util_wipe(line, cap);
		free(line);
		return NULL;
	}
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	return line;
}

static int
cmd_login(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "server", required_argument, NULL, 's' },
		{ "username", required_argument, NULL, 'u' },
		{ "password-stdin", no_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct config cfg = { NULL, NULL };
	struct cache cache = { NULL, -1 };
	struct cache_entry en;
	const char *server = NULL;
	char key[NORMALIZE_MAX], *user = NULL, *pw = NULL;
	int c, pw_stdin = 0, ret = 2, rc;
	size_t n;
	struct err e;

	memset(&en, 0, sizeof(en));
	while ((c = getopt_long(argc, argv, "s:u:h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			server = optarg;
			break;
		case 'u':
			free(user);
			user = strdup(optarg);
			break;
		case 'p':
			pw_stdin = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (argc - optind > 1) {
		usage(stderr);
		goto out;
	}
	if (config_load(&cfg, &e) == -1 || cache_init(&cache, &e) == -1) {
		cmd_error("%s", e.msg);
		goto out;
	}
	if (pick_registry(&cfg, optind < argc ? argv[optind] : NULL, key,
	    sizeof(key)) == -1)
		goto out;
	if (user == NULL && (user = prompt("Username", 0)) == NULL) {
		cmd_error("%s", "no username");
		goto out;
	}
	if (pw_stdin) {
		pw = util_read_stdin(STDIN_MAX, &n);
		if (pw != NULL)
			while (n > 0 && (pw[n - 1] == '\n' ||
			    pw[n - 1] == '\r'))
				pw[--n] = '\0';
	} else
		pw = prompt("Password", 1);
	if (pw == NULL || pw[0] == '\0') {
		cmd_error("%s", "no password");
		goto out;
	}
	rc = password_login(&cfg, key, server, user, pw, &en, &e);
	if (rc != 0) {
		cmd_error("login failed: %s", e.msg);
		ret = rc == EXCHANGE_REFUSED ? 1 : 2;
		goto out;
	}
	if (keep_login(&cache, key, &en, &e) == -1) {
		cmd_error("%s", e.msg);
		goto out;
	}
	if (en.exp > 0) {
		char when[64];
		time_t t = (time_t)en.exp;

		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
		printf("Login Succeeded: %s (token valid until %s)\n", key,
		    when);
	} else
		printf("Login Succeeded: %s\n", key);
	ret = 0;
out:
	util_free_secret(pw);
	free(user);
	cache_entry_clear(&en);
	cache_close(&cache);
	config_free(&cfg);
	return ret;
}

static int
cmd_logout(int argc, char **argv)
{
	struct config cfg = { NULL, NULL };
	struct cache cache = { NULL, -1 };
	char key[NORMALIZE_MAX];
	struct err e;
	int ret = 2, rc;

	if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
		usage(argc == 2 && strcmp(argv[1], "--help") == 0 ?
		    stdout : stderr);
		return argc == 2 && strcmp(argv[1], "--help") == 0 ? 0 : 2;
	}
	if (config_load(&cfg, &e) == -1 || cache_init(&cache, &e) == -1) {
		cmd_error("%s", e.msg);
		goto out;
	}
	if (pick_registry(&cfg, argc == 2 ? argv[1] : NULL, key,
	    sizeof(key)) == -1)
		goto out;
	rc = forget(&cache, key, &e);
	if (rc == -1) {
		cmd_error("%s", e.msg);
		goto out;
	}
	if (rc == 0) {
		cmd_error("not logged in to %s", key);
		ret = 1;
		goto out;
	}
	printf("Removing login credentials for %s\n", key);
	ret = 0;
out:
	cache_close(&cache);
	config_free(&cfg);
	return ret;
}

/* Load a JSON object file (missing: {}); NULL with a message if invalid. */
static json_t *
load_object(const char *path, mode_t *mode)
{
	json_error_t je;
	struct stat st;
	json_t *o;

	*mode = 0600;
	if (stat(path, &st) == -1) {
		if (errno == ENOENT)
			return json_object();
		cmd_error("%s", strerror(errno));
		return NULL;
	}
	*mode = st.st_mode & 0777;
	if (st.st_size == 0)
		return json_object();
	o = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
	if (!json_is_object(o)) {
		fprintf(stderr, PROG ": %s:%d: %s (left unchanged)\n", path,
		    je.line, o == NULL ? je.text : "not a JSON object");
		json_decref(o);
		return NULL;
	}
	return o;
}

/* Add credHelpers entries for hosts to a client's JSON file. */
static int
add_cred_helpers(const char *path, const char **hosts, size_t n, int docker)
{
	json_t *o, *ch;
	char *text = NULL, *dir;
	mode_t mode;
	struct err e;
	size_t i;
	int ret = -1;

	if ((o = load_object(path, &mode)) == NULL)
		return -1;
	ch = json_object_get(o, "credHelpers");
	if (ch == NULL) {
		ch = json_object();
		json_object_set_new(o, "credHelpers", ch);
	} else if (!json_is_object(ch)) {
		fprintf(stderr, PROG ": %s: \"credHelpers\" is not an object "
		    "(left unchanged)\n", path);
		goto out;
	}
	for (i = 0; i < n; i++) {
		/* docker looks Docker Hub up by its legacy key */
		const char *h = docker && strcmp(hosts[i], "docker.io") == 0 ?
		    "https://index.docker.io/v1/" : hosts[i];

		json_object_set_new(ch, h, json_string(HELPER_SUFFIX));
	}
	text = json_dumps(o, JSON_INDENT(8));
	dir = strdup(path);
	if (text == NULL || dir == NULL ||
	    util_mkdir_p(dirname(dir), 0700, &e) == -1 ||
	    util_write_atomic(path, text, strlen(text), mode, &e) == -1) {
		free(dir);
		cmd_error("%s", text == NULL ? "out of memory" : e.msg);
		goto out;
	}
	free(dir);
	printf("%s: credHelpers for", path);
	for (i = 0; i < n; i++)
		printf(" %s", hosts[i]);
	printf(" -> %s\n", HELPER_SUFFIX);
	ret = 0;
out:
	free(text);
	json_decref(o);
	return ret;
}

/* path made absolute against the working folder (it need not exist). */
static char *
absolute(const char *path)
{
	char *cwd = getcwd(NULL, 0), *p;

	if (cwd == NULL)
		return NULL;
	p = util_path_join(cwd, path);
	free(cwd);
	return p;
}

static int
cmd_configure(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "registry", required_argument, NULL, 'r' },
		{ "server", required_argument, NULL, 's' },
		{ "role", required_argument, NULL, 'R' },
		{ "oidc-token-file", required_argument, NULL, 'o' },
		{ "audience", required_argument, NULL, 'a' },
		{ "docker-config", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	enum { MAXREG = 64 };
	struct config cfg = { NULL, NULL };
	const char *given[MAXREG], *server = NULL, *docker_cfg = NULL, *v;
	const char *role = NULL, *audience = NULL;
	char keys[MAXREG][NORMALIZE_MAX], buf[4096], *token_file = NULL;
	const char *hosts[MAXREG];
	size_t ngiven = 0, n = 0, i;
	int c, ret = 2;
	struct err e;

	while ((c = getopt_long(argc, argv, "r:s:d:h", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			if (ngiven == MAXREG) {
				cmd_error("%s", "too many registries");
				return 2;
			}
			given[ngiven++] = optarg;
			break;
		case 's':
			server = optarg;
			break;
		case 'R':
			role = optarg;
			break;
		case 'o':
			free(token_file);
			/* kept absolute: the helper runs from anywhere */
			token_file = optarg[0] == '/' ? strdup(optarg) :
			    absolute(optarg);
			if (token_file == NULL) {
				cmd_error("%s: %s", optarg, strerror(errno));
				return 2;
			}
			break;
		case 'a':
			audience = optarg;
			break;
		case 'd':
			docker_cfg = optarg;
			break;
		case 'h':
			free(token_file);
			usage(stdout);
			return 0;
		default:
			free(token_file);
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		free(token_file);
		usage(stderr);
		return 2;
	}
	if (config_load(&cfg, &e) == -1) {
		cmd_error("%s", e.msg);
		goto out;
	}
	if (ngiven == 0)
		ngiven = config_registries(&cfg, given, MAXREG);
	if (ngiven == 0) {
		cmd_error("%s", "name a registry with --registry (the "
		    "configuration lists none)");
		goto out;
	}
	for (i = 0; i < ngiven; i++) {
		if (normalize_server(given[i], keys[n], NORMALIZE_MAX) == -1) {
			cmd_error("not a registry name: %s", given[i]);
			goto out;
		}
		hosts[n] = keys[n];
		n++;
	}
	if (server != NULL || role != NULL || token_file != NULL ||
	    audience != NULL) {
		const char *fields[] = { "server", "role", "oidc_token_file",
			"audience" };
		const char *values[] = { server, role, token_file, audience };
		size_t f;

		for (i = 0; i < n; i++)
			for (f = 0; f < 4; f++)
				if (values[f] != NULL &&
				    config_set_registry_str(&cfg, hosts[i],
				    fields[f], values[f], &e) == -1) {
					cmd_error("%s", e.msg);
					goto out;
				}
		if (config_save(&cfg, &e) == -1) {
			cmd_error("%s", e.msg);
			goto out;
		}
		for (f = 0; f < 4; f++)
			if (values[f] != NULL)
				printf("%s: %s %s\n", cfg.path, f == 0 ?
				    "token server" : fields[f], values[f]);
	}
	if (docker_cfg == NULL) {
		if ((v = getenv("DOCKER_CONFIG")) != NULL && v[0] != '\0')
			snprintf(buf, sizeof(buf), "%s/config.json", v);
		else if ((v = getenv("HOME")) != NULL)
			snprintf(buf, sizeof(buf), "%s/.docker/config.json", v);
		else {
			cmd_error("%s", "no docker configuration: use "
			    "--docker-config");
			goto out;
		}
		docker_cfg = buf;
	}
	if (add_cred_helpers(docker_cfg, hosts, n, 1) == -1)
		goto out;
	if ((v = getenv("REGISTRY_AUTH_FILE")) != NULL && v[0] != '\0')
		snprintf(buf, sizeof(buf), "%s", v);
	else if ((v = getenv("XDG_CONFIG_HOME")) != NULL && v[0] == '/')
		snprintf(buf, sizeof(buf), "%s/containers/auth.json", v);
	else if ((v = getenv("HOME")) != NULL)
		snprintf(buf, sizeof(buf), "%s/.config/containers/auth.json",
		    v);
	else
		buf[0] = '\0';
	if (buf[0] != '\0' && add_cred_helpers(buf, hosts, n, 0) == -1)
		goto out;
	ret = 0;
out:
	free(token_file);
	config_free(&cfg);
	return ret;
}

int
main(int argc, char **argv)
{
	const char *verb = argc >= 2 ? argv[1] : "";

	if (strcmp(verb, "version") == 0 || strcmp(verb, "--version") == 0 ||
	    strcmp(verb, "-v") == 0) {
		printf(PROG " (regauth) %s\n", REGAUTH_VERSION);
		return 0;
	}
	if (strcmp(verb, "--help") == 0 || strcmp(verb, "-h") == 0 ||
	    strcmp(verb, "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(verb, "login") == 0)
		return cmd_login(argc - 1, argv + 1);
	if (strcmp(verb, "logout") == 0)
		return cmd_logout(argc - 1, argv + 1);
	if (strcmp(verb, "configure") == 0)
		return cmd_configure(argc - 1, argv + 1);
	if (strcmp(verb, "kubelet") == 0) {
		if (argc == 3 && strcmp(argv[2], "--help") == 0) {
			usage(stdout);
			return 0;
		}
		if (argc != 2) {
			usage(stderr);
			return 2;
		}
		return kubelet_main();
	}
	/* The protocol verbs take exactly one argument. */
	if (argc == 2 && strcmp(verb, "get") == 0)
		return verb_get();
	if (argc == 2 && strcmp(verb, "store") == 0)
		return verb_store();
	if (argc == 2 && strcmp(verb, "erase") == 0)
		return verb_erase();
	if (argc == 2 && strcmp(verb, "list") == 0)
		return verb_list();
	/* The protocol wants errors on stdout and exit 1. */
	usage(stdout);
	return 1;
}
