/*
 * regauthd: command dispatch. Only this file exits; every module returns
 * 0/-1 with a struct err.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "regauth/wire.h"
#include "audit.h"
#include "authn.h"
#include "cli.h"
#include "cmd_keys.h"
#include "cmd_policy.h"
#include "cmd_repo.h"
#include "cmd_role.h"
#include "cmd_sa.h"
#include "cmd_simulate.h"
#include "config.h"
#include "http.h"
#include "keys.h"
#include "metrics.h"
#include "policy/policy.h"
#include "privs.h"
#include "tls.h"
#include "util.h"
#include "watch.h"


/* The SYNOPSIS of docs/regauthd.8, line for line (tests/cases/synopsis.py). */
static void
usage_to(FILE *f)
{
	fputs(
"usage: regauthd init DIR [--service NAME]... [--issuer NAME] [--realm URL]\n"
"                [--account ACCOUNT] [--algorithm ES256|RS256] [--listen ADDR:PORT]\n"
"       regauthd serve [-c DIR] [--listen ADDR:PORT] [--watch]\n"
"                [--user USER [--group GROUP]]\n"
"       regauthd user add -c DIR NAME [--password-stdin] [--group G]... [--policy P]...\n"
"                [--boundary P] [--tag K=V]... [--disabled]\n"
"       regauthd group add -c DIR NAME [--policy P]...\n"
"       regauthd sa create -c DIR NAME [--policy P]... [--group G]... [--boundary P]\n"
"                [--tag K=V]... --key-out FILE\n"
"       regauthd sa key add -c DIR NAME --key-out FILE\n"
"       regauthd sa key list -c DIR NAME [--json]\n"
"       regauthd sa key enable|disable|delete -c DIR NAME KEY_ID\n"
"       regauthd repo-policy set -c DIR REPOSITORY_PATTERN FILE\n"
"       regauthd role add -c DIR NAME --trust FILE [--policy P]... [--boundary P]\n"
"                [--max-session SECONDS] [--tag K=V]... [--description TEXT]\n"
"       regauthd role list -c DIR [--json]\n"
"       regauthd oidc add -c DIR ISSUER_URL --audience AUD [--audience AUD]...\n"
"                [--jwks-file FILE] [--ca-file FILE] [--name NAME] [--cache-seconds N]\n"
"       regauthd oidc list -c DIR [--json]\n"
"       regauthd policy simulate -c DIR --principal TYPE/NAME|anonymous\n"
"                --scope SCOPE... [--service S] [--context KEY=VALUE]... [--json]\n"
"       regauthd policy check -c DIR | FILE... [--kind identity|resource|boundary]\n"
"       regauthd policy eval [--account ACCOUNT]\n"
"       regauthd keys list -c DIR [--json]\n"
"       regauthd keys rotate -c DIR [--activate-after SECONDS]\n"
"                [--algorithm ES256|RS256] [--json]\n"
"       regauthd keys prune -c DIR\n"
"       regauthd version\n", f);
}

static void
usage(void)
{
	usage_to(stderr);
}

static void
die(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3),
    noreturn));

static void
die(int code, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cli_complain("%s", msg);
	exit(code);
}

static json_t *
policy_doc(const char *actions[], size_t n, const char *resource)
{
	json_t *acts = json_array();
	size_t i;

	for (i = 0; i < n; i++)
		json_array_append_new(acts, json_string(actions[i]));
	return json_pack("{s:s, s:[{s:s, s:s, s:o, s:s}]}", "Version",
	    "2012-10-17", "Statement", "Sid", "Registry", "Effect", "Allow",
	    "Action", acts, "Resource", resource);
}

static void
write_json(const char *dir, const char *sub, const char *name, json_t *j,
    int excl)
{
	char path[4096];
	struct err e;

	if (config_path(path, sizeof(path), dir, sub, name) == -1)
		die(EXIT_USAGE, "%s: path too long", dir);
	if (util_json_write_file(path, j, 0600, excl, &e) == -1) {
		json_decref(j);
		die(errno == EEXIST ? EXIT_DENIED : EXIT_USAGE, "%s", e.msg);
	}
	json_decref(j);
}

static char *
random_password(void)
{
	static const char alphabet[] =
	    "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
	unsigned char r[20];
	char *p = calloc(1, sizeof(r) + 1);
	size_t i;

	if (p == NULL || RAND_bytes(r, sizeof(r)) != 1)
		die(EXIT_USAGE, "cannot make a random password");
	for (i = 0; i < sizeof(r); i++)
		p[i] = alphabet[r[i] % (sizeof(alphabet) - 1)];
	OPENSSL_cleanse(r, sizeof(r));
	return p;
}

static int
cmd_init(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "service", required_argument, NULL, 's' },
		{ "issuer", required_argument, NULL, 'i' },
		{ "realm", required_argument, NULL, 'r' },
		{ "account", required_argument, NULL, 'a' },
		{ "algorithm", required_argument, NULL, 'g' },
		{ "listen", required_argument, NULL, 'l' },
		{ NULL, 0, NULL, 0 }
	};
	static const char *ro[] = { "registry:Pull" };
	static const char *dev[] = { "registry:Pull", "registry:Push" };
	static const char *adm[] = { "registry:*" };
	const char *issuer = CONFIG_DEFAULT_ISSUER, *realm = NULL;
	const char *account = CONFIG_DEFAULT_ACCOUNT, *dir, *listen = NULL;
	enum jws_alg alg = JWS_ES256;
	json_t *settings, *services = json_array();
	char path[4096], *pw, *hash, realmbuf[300];
	struct err e;
	struct stat st;
	struct config *cfg;
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			json_array_append_new(services, json_string(optarg));
			break;
		case 'i':
			issuer = optarg;
			break;
		case 'r':
			realm = optarg;
			break;
		case 'a':
			account = optarg;
			break;
		case 'l':
			listen = optarg;
			break;
		case 'g':
			if (jws_alg_parse(optarg, &alg) == -1)
				die(EXIT_USAGE, "--algorithm: ES256 or RS256");
			break;
		default:
			json_decref(services);
			usage();
			return EXIT_USAGE;
		}
	}
	if (optind + 1 != argc) {
		json_decref(services);
		usage();
		return EXIT_USAGE;
	}
	dir = argv[optind];
	if (config_path(path, sizeof(path), dir, NULL, CONFIG_FILE) == -1)
		die(EXIT_USAGE, "%s: path too long", dir);
	if (stat(path, &st) == 0)
		die(EXIT_DENIED, "%s already exists", path);
	settings = config_default_settings();
	json_object_set_new(settings, "issuer", json_string(issuer));
	json_object_set_new(settings, "account", json_string(account));
	if (listen != NULL)
		json_object_set_new(settings, "listen", json_string(listen));
	if (realm == NULL) {
		snprintf(realmbuf, sizeof(realmbuf), "http://%s/token",
		    json_string_value(json_object_get(settings, "listen")));
		realm = realmbuf;
	}
	json_object_set_new(settings, "realm", json_string(realm));
	if (json_array_size(services) > 0)
		json_object_set(settings, "services", services);
	json_decref(services);
	/* Refuse bad settings before anything is written. */
	if (config_check_settings(settings, &e) == -1)
		die(EXIT_DENIED, "%s", e.msg);
	if (util_mkdirs(dir, 0700, &e) == -1)
		die(EXIT_USAGE, "%s", e.msg);
	if (keys_create(dir, alg, issuer, &e) == -1)
		die(EXIT_USAGE, "%s", e.msg);
	const char *subs[] = { "policies", "users", "groups",
	    "serviceaccounts", "repositories" };
	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
		if (config_path(path, sizeof(path), dir, subs[i], NULL) == -1 ||
		    util_mkdirs(path, 0700, &e) == -1)
			die(EXIT_USAGE, "%s", e.msg);
	}
	write_json(dir, "policies", "readonly", policy_doc(ro, 1,
	    "repository/*"), 1);
	write_json(dir, "policies", "developer", policy_doc(dev, 2,
	    "repository/*"), 1);
	write_json(dir, "policies", "admin", policy_doc(adm, 1, "*"), 1);
	write_json(dir, "groups", "developers", json_pack("{s:s, s:[s]}",
	    "name", "developers", "policies", "developer"), 1);
	write_json(dir, "groups", "admins", json_pack("{s:s, s:[s]}",
	    "name", "admins", "policies", "admin"), 1);
	pw = random_password();
	if ((hash = authn_hash_password(pw, &e)) == NULL)
		die(EXIT_USAGE, "%s", e.msg);
	write_json(dir, "users", "admin", json_pack("{s:s, s:s, s:[s], s:b}",
	    "name", "admin", "password", hash, "groups", "admins",
	    "enabled", 1), 1);
	free(hash);
	write_json(dir, NULL, CONFIG_FILE, settings, 1);
	/* Prove that what we wrote loads. */
	if ((cfg = config_load(dir, &e)) == NULL)
		die(EXIT_USAGE, "written configuration does not load: %s",
		    e.msg);
	config_release(cfg);
	printf("regauthd: configuration written to %s\n"
	    "  registry rootcertbundle: %s/keys/bundle.pem\n"
	    "  user admin (group admins), password: %s\n"
	    "  serve it:   regauthd serve -c %s\n"
	    "  add a user: regauthd user add -c %s NAME --password-stdin "
	    "--group developers\n", dir, dir, pw, dir, dir);
	util_secure_free_str(pw);
	return 0;
}

/* A password from stdin (one line) or, on a terminal, typed twice. */
static char *
read_password(int from_stdin)
{
	char buf[1024], buf2[1024];
	struct termios t, off;
	size_t n;
	int tty = !from_stdin && isatty(STDIN_FILENO);

	if (!from_stdin && !tty)
		return NULL;
	if (tty) {
		tcgetattr(STDIN_FILENO, &t);
		off = t;
		off.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(STDIN_FILENO, TCSANOW, &off);
		fputs("Password: ", stderr);
	}
	if (fgets(buf, sizeof(buf), stdin) == NULL)
		buf[0] = '\0';
	if (tty) {
		fputs("\nRepeat: ", stderr);
		if (fgets(buf2, sizeof(buf2), stdin) == NULL)
			buf2[0] = '\0';
		tcsetattr(STDIN_FILENO, TCSANOW, &t);
		fputc('\n', stderr);
		if (strcmp(buf, buf2) != 0) {
			OPENSSL_cleanse(buf, sizeof(buf));
			OPENSSL_cleanse(buf2, sizeof(buf2));
			die(EXIT_DENIED, "passwords do not match");
		}
		OPENSSL_cleanse(buf2, sizeof(buf2));
	}
	n = strcspn(buf, "\r\n");
	buf[n] = '\0';
	if (n == 0)
		die(EXIT_DENIED, "empty password");
	char *p = strdup(buf);
	OPENSSL_cleanse(buf, sizeof(buf));
	return p;
}

/* Fail unless DIR/SUB/NAME.json exists. */
static void
must_exist(const char *dir, const char *sub, const char *name,
    const char *what)
{
	char path[4096];
	struct stat st;

	if (!config_valid_name(name) ||
	    config_path(path, sizeof(path), dir, sub, name) == -1 ||
	    stat(path, &st) == -1)
		die(EXIT_DENIED, "%s \"%s\" not found in %s/%s", what, name,
		    dir, sub);
}

static int
cmd_user_add(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "password-stdin", no_argument, NULL, 'p' },
		{ "group", required_argument, NULL, 'g' },
		{ "policy", required_argument, NULL, 'P' },
		{ "boundary", required_argument, NULL, 'b' },
		{ "tag", required_argument, NULL, 't' },
		{ "disabled", no_argument, NULL, 'd' },
		{ NULL, 0, NULL, 0 }
	};
	const char *dir = NULL, *name, *boundary = NULL;
	json_t *groups = json_array(), *policies = json_array();
	json_t *tags = json_object(), *u;
	int c, pwstdin = 0, enabled = 1;
	char *pw, *hash = NULL, *eq;
	struct err e;

	while ((c = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			dir = optarg;
			break;
		case 'p':
			pwstdin = 1;
			break;
		case 'g':
			json_array_append_new(groups, json_string(optarg));
			break;
		case 'P':
			json_array_append_new(policies, json_string(optarg));
			break;
		case 'b':
			boundary = optarg;
			break;
		case 'd':
			enabled = 0;
			break;
		case 't':
			if ((eq = strchr(optarg, '=')) == NULL || eq == optarg)
				die(EXIT_USAGE, "--tag wants KEY=VALUE");
			*eq = '\0';
			json_object_set_new(tags, optarg, json_string(eq + 1));
			break;
		default:
			json_decref(groups);
			json_decref(policies);
			json_decref(tags);
			usage();
			return EXIT_USAGE;
		}
	}
	if (dir == NULL || optind + 1 != argc) {
		json_decref(groups);
		json_decref(policies);
		json_decref(tags);
		usage();
		return EXIT_USAGE;
	}
	name = argv[optind];
	if (!config_valid_name(name))
		die(EXIT_DENIED, "invalid user name \"%s\"", name);
	size_t i;
	json_t *v;
	json_array_foreach(groups, i, v)
		must_exist(dir, "groups", json_string_value(v), "group");
	json_array_foreach(policies, i, v)
		must_exist(dir, "policies", json_string_value(v), "policy");
	if (boundary != NULL)
		must_exist(dir, "policies", boundary, "policy");
	if ((pw = read_password(pwstdin)) != NULL) {
		hash = authn_hash_password(pw, &e);
		util_secure_free_str(pw);
		if (hash == NULL)
			die(EXIT_USAGE, "%s", e.msg);
	}
	u = json_pack("{s:s, s:o, s:o, s:o, s:b}", "name", name, "groups",
	    groups, "policies", policies, "tags", tags, "enabled", enabled);
	if (hash != NULL)
		json_object_set_new(u, "password", json_string(hash));
	if (boundary != NULL)
		json_object_set_new(u, "boundary", json_string(boundary));
	free(hash);
	write_json(dir, "users", name, u, 1);
	return 0;
}

static int
cmd_group_add(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "policy", required_argument, NULL, 'P' },
		{ NULL, 0, NULL, 0 }
	};
	const char *dir = NULL, *name;
	json_t *policies = json_array(), *v;
	size_t i;
	int c;

	while ((c = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			dir = optarg;
			break;
		case 'P':
			json_array_append_new(policies, json_string(optarg));
			break;
		default:
			json_decref(policies);
			usage();
			return EXIT_USAGE;
		}
	}
	if (dir == NULL || optind + 1 != argc) {
		json_decref(policies);
		usage();
		return EXIT_USAGE;
	}
	name = argv[optind];
	if (!config_valid_name(name))
		die(EXIT_DENIED, "invalid group name \"%s\"", name);
	json_array_foreach(policies, i, v)
		must_exist(dir, "policies", json_string_value(v), "policy");
	write_json(dir, "groups", name, json_pack("{s:s, s:o}", "name", name,
	    "policies", policies), 1);
	return 0;
}

/* {"level":LEVEL,"msg":...} on stderr: the log's form outside requests. */
static void
log_line(const char *level, const char *msg)
{
	json_t *j = json_pack("{s:s, s:s}", "level", level, "msg", msg);
	char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;

	fprintf(stderr, "%s\n", s ? s : "{\"level\":\"error\"}");
	free(s);
	json_decref(j);
}

static pthread_mutex_t reload_lock = PTHREAD_MUTEX_INITIALIZER;

/*
 * The one reload, for SIGHUP and --watch (its thread): load DIR (`arg`)
 * and install it, or log why not and keep the running snapshot. One at a
 * time. TLS cannot be turned on or off under a running listener.
 */
static void
serve_reload(void *arg)
{
	const char *dir = arg;
	struct config *next;
	struct err e;

	pthread_mutex_lock(&reload_lock);
	if ((next = config_load(dir, &e)) == NULL) {
		log_line("error", e.msg);
		metrics_reload(0);
		goto out;
	}
	if ((next->tls != NULL) != http_tls()) {
		config_release(next);
		log_line("error", CONFIG_FILE ": turning TLS on or off needs a "
		    "restart; configuration not reloaded");
		metrics_reload(0);
		goto out;
	}
	config_install(next);
	log_line("info", "configuration reloaded");
	metrics_reload(1);
	if (audit_open(next->audit_log, &e) == -1)
		log_line("error", e.msg);
out:
	pthread_mutex_unlock(&reload_lock);
}

/* `file` (tls_cert_file, tls_key_file) as a path: DIR/file unless absolute. */
static void
serve_file(char *out, size_t sz, const char *dir, const char *file)
{
	if (file[0] == '/')
		snprintf(out, sz, "%s", file);
	else
		snprintf(out, sz, "%s/%s", dir, file);
}

static int
cmd_serve(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "listen", required_argument, NULL, 'l' },
		{ "watch", no_argument, NULL, 'w' },
		{ "user", required_argument, NULL, 'u' },
		{ "group", required_argument, NULL, 'g' },
		{ NULL, 0, NULL, 0 }
	};
	const char *dir = getenv("REGAUTHD_CONFIG"), *listen = NULL;
	const char *user = NULL, *group = NULL, *files[3] = { NULL };
	char certpath[4096], keypath[4096], what[200] = "", line[600];
	struct watch *watcher = NULL;
	struct config *cfg;
	struct err e;
	sigset_t set;
	uid_t uid;
	gid_t gid;
	int c, sig, watch = 0;

	while ((c = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			dir = optarg;
			break;
		case 'l':
			listen = optarg;
			break;
		case 'w':
			watch = 1;
			break;
		case 'u':
			user = optarg;
			break;
		case 'g':
			group = optarg;
			break;
		default:
			usage();
			return EXIT_USAGE;
		}
	}
	if (optind != argc || (group != NULL && user == NULL)) {
		usage();
		return EXIT_USAGE;
	}
	if (dir == NULL)
		dir = "/etc/regauth";
	if ((cfg = config_load(dir, &e)) == NULL) {
		log_line("error", e.msg);
		exit(EXIT_USAGE);
	}
	if (listen == NULL)
		listen = cfg->listen;
	if (user == NULL) {
		user = cfg->run_user;
		group = cfg->run_group;
	}
	if (privs_resolve(user, group, &uid, &gid, &e) == -1)
		die(EXIT_USAGE, "%s", e.msg);
	/* Signals are taken synchronously by this thread alone. */
	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGUSR1);	/* reopen the audit log (logrotate) */
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stderr, NULL, _IOLBF, 0);
	if (audit_open(cfg->audit_log, &e) == -1)
		die(EXIT_USAGE, "%s", e.msg);
	/* Keys read and socket bound as root; nothing served before the drop. */
	if (http_bind(listen, &e) == -1)
		die(EXIT_USAGE, "%s", e.msg);
	if (uid != (uid_t)-1 && privs_drop(uid, gid, &e) == -1)
		die(EXIT_USAGE, "%s", e.msg);
	if (privs_no_new_privs(&e) == -1)
		die(EXIT_USAGE, "%s", e.msg);
	if (uid == (uid_t)-1 && geteuid() == 0)
		log_line("warning", "running as root: set \"user\" in "
		    CONFIG_FILE " or serve --user");
	if (cfg->tls != NULL) {
		serve_file(certpath, sizeof(certpath), dir, cfg->tls_cert_file);
		serve_file(keypath, sizeof(keypath), dir, cfg->tls_key_file);
		files[0] = certpath;
		files[1] = keypath;
		tls_creds_describe(cfg->tls, what, sizeof(what));
	}
	snprintf(line, sizeof(line), "serving %s on %s%s%s%s%s", dir, listen,
	    cfg->tls != NULL ? " (https: " : "", what,
	    cfg->tls != NULL ? ")" : "", watch ? ", watching for changes" : "");
	config_install(cfg);	/* cfg is the server's from here on */
	if (http_start(listen, &e) == -1)
		die(EXIT_USAGE, "%s", e.msg);
	if (watch && (watcher = watch_start(dir, files, serve_reload,
	    (void *)dir, &e)) == NULL)
		die(EXIT_USAGE, "%s", e.msg);
	log_line("info", line);
	for (;;) {
		if (sigwait(&set, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			serve_reload((void *)dir);
			continue;
		}
		if (sig == SIGUSR1) {
			if (audit_reopen(&e) == -1)
				log_line("error", e.msg);
			continue;
		}
		break;
	}
	watch_stop(watcher);
	http_stop(10000);
	audit_close();
	config_install(NULL);
	return 0;
}

static int
cmd_policy_eval(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "account", required_argument, NULL, 'a' },
		{ NULL, 0, NULL, 0 }
	};
	const char *account = CONFIG_DEFAULT_ACCOUNT;
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c != 'a') {
			usage();
			return EXIT_USAGE;
		}
		account = optarg;
	}
	if (optind != argc) {
		usage();
		return EXIT_USAGE;
	}
	return policy_eval_stream(stdin, stdout, account) == 0 ? 0 :
	    EXIT_USAGE;
}

int
main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : "";
	const char *sub = argc > 2 ? argv[2] : "";

	if (strcmp(cmd, "init") == 0)
		return cmd_init(argc - 1, argv + 1);
	if (strcmp(cmd, "serve") == 0)
		return cmd_serve(argc - 1, argv + 1);
	if (strcmp(cmd, "user") == 0 && strcmp(sub, "add") == 0)
		return cmd_user_add(argc - 2, argv + 2);
	if (strcmp(cmd, "group") == 0 && strcmp(sub, "add") == 0)
		return cmd_group_add(argc - 2, argv + 2);
	if (strcmp(cmd, "policy") == 0 && strcmp(sub, "eval") == 0)
		return cmd_policy_eval(argc - 2, argv + 2);
	if (strcmp(cmd, "policy") == 0 && strcmp(sub, "check") == 0)
		return cmd_policy_check(argc - 2, argv + 2);
	if (strcmp(cmd, "policy") == 0 && strcmp(sub, "simulate") == 0)
		return cmd_policy_simulate(argc - 2, argv + 2);
	if (strcmp(cmd, "sa") == 0)
		return cmd_sa(argc - 1, argv + 1);
	if (strcmp(cmd, "role") == 0)
		return cmd_role(argc - 1, argv + 1);
	if (strcmp(cmd, "oidc") == 0)
		return cmd_oidc(argc - 1, argv + 1);
	if (strcmp(cmd, "keys") == 0)
		return cmd_keys(argc - 1, argv + 1);
	if (strcmp(cmd, "repo-policy") == 0 && strcmp(sub, "set") == 0)
		return cmd_repo_policy_set(argc - 2, argv + 2);
	if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
		printf("regauthd %s\n", REGAUTH_VERSION);
		return 0;
	}
	if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 ||
	    strcmp(cmd, "-h") == 0) {
		usage_to(stdout);
		return 0;
	}
	usage();
	return EXIT_USAGE;
}
