/*
 * `regauthd sa`: service accounts (serviceaccounts/NAME.json) and their
 * keys. The server keeps only public keys; a new key's private half is made
 * in memory, written once to the --key-out file (0600, never over an
 * existing file) and wiped. A running server takes the changes on SIGHUP.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "cli.h"
#include "regauth/wire.h"
#include "cmd_sa.h"
#include "config.h"
#include "jws.h"
#include "util.h"


#define SA_USAGE \
"usage: regauthd sa create -c DIR NAME [--policy P]... [--group G]... [--boundary P]\n" \
"                [--tag K=V]... --key-out FILE\n" \
"       regauthd sa key add -c DIR NAME --key-out FILE\n" \
"       regauthd sa key list -c DIR NAME [--json]\n" \
"       regauthd sa key enable|disable|delete -c DIR NAME KEY_ID\n"


static int
usage(void)
{
	fputs(SA_USAGE, stderr);
	return EXIT_USAGE;
}

/* DIR/SUB/NAME.json exists (NAME valid). */
static int
exists(const char *dir, const char *sub, const char *name)
{
	char path[4096];
	struct stat st;

	return config_valid_name(name) &&
	    config_path(path, sizeof(path), dir, sub, name) == 0 &&
	    stat(path, &st) == 0;
}

/*
 * What a key file names besides the key: the server's issuer (the audience
 * of assertions) and its base URL, the realm without "/token" (else
 * http://LISTEN). Read from regauthd.json as the server validates it.
 */
static int
server_names(const char *dir, char **issuer, char **server, struct err *e)
{
	const char *iss, *realm, *listen;
	json_t *j;
	size_t n;
	int rc = -1;

	if ((j = config_settings_load(dir, e)) == NULL)
		return -1;
	iss = json_string_value(json_object_get(j, "issuer"));
	realm = json_string_value(json_object_get(j, "realm"));
	listen = json_string_value(json_object_get(j, "listen"));
	if ((*issuer = strdup(iss ? iss : CONFIG_DEFAULT_ISSUER)) == NULL)
		goto oom;
	if (realm != NULL && realm[0] != '\0') {
		n = strlen(realm);
		if (n >= strlen(REGAUTH_PATH_TOKEN) && strcmp(realm + n -
		    strlen(REGAUTH_PATH_TOKEN), REGAUTH_PATH_TOKEN) == 0)
			n -= strlen(REGAUTH_PATH_TOKEN);
		while (n > 0 && realm[n - 1] == '/')
			n--;
		*server = strndup(realm, n);
	} else if (asprintf(server, "http://%s", listen ? listen :
	    CONFIG_DEFAULT_LISTEN) == -1)
		*server = NULL;
	if (*server == NULL) {
		free(*issuer);
		*issuer = NULL;
		goto oom;
	}
	rc = 0;
	goto out;
oom:
	err_set(e, "out of memory");
out:
	json_decref(j);
	return rc;
}

/* A new key: its public entry for NAME.json, and the key file's text. */
struct newkey {
	char	 key_id[64];
	json_t	*entry;		/* {"key_id","public_key","enabled","created"} */
	char	*file;		/* the key file (a secret; util_secure_free) */
	size_t	 filelen;
};

static void
newkey_clear(struct newkey *k)
{
	json_decref(k->entry);
	util_secure_free(k->file, k->filelen);
	k->entry = NULL;
	k->file = NULL;
}

/* The bytes of a memory BIO as a new string; NULL when empty or no memory. */
static char *
bio_str(BIO *b, size_t *len)
{
	char *data, *s;
	long n = BIO_get_mem_data(b, &data);

	if (n <= 0 || (s = malloc((size_t)n + 1)) == NULL)
		return NULL;
	memcpy(s, data, (size_t)n);
	s[n] = '\0';
	*len = (size_t)n;
	return s;
}

/*
 * PEM as the inside of a JSON string: its alphabet needs no escape but the
 * newline. malloc'ed (a secret); NULL on anything else.
 */
static char *
pem_json_escape(const char *pem, size_t len, size_t *outlen)
{
	char *out, *o;
	size_t i;

	if ((out = malloc(2 * len + 1)) == NULL)
		return NULL;
	for (i = 0, o = out; i < len; i++) {
		char c = pem[i];
		if (c == '\n') {
			*o++ = '\\';
			*o++ = 'n';
		} else if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || strchr("+/=- ", c) != NULL)
			*o++ = c;
		else {
			util_secure_free(out, 2 * len + 1);
			return NULL;
		}
	}
	*o = '\0';
	*outlen = (size_t)(o - out);
	return out;
}

/*
 * Make a P-256 key for `name`. The private key lives in a secure-heap BIO
 * and in `k->file` only, and is wiped on every path.
 */
static int
newkey_make(const char *name, const char *issuer, const char *server,
    struct newkey *k, struct err *e)
{
	EVP_PKEY *pkey = NULL;
	BIO *pub = NULL, *priv = NULL;
	char *pubpem = NULL, *head = NULL, *esc = NULL, *privdata;
	char principal[CONFIG_NAME_MAX + 32], created[32];
	size_t publen = 0, esclen = 0, hlen, total;
	long privlen;
	json_t *meta = NULL;
	int rc = -1;

	memset(k, 0, sizeof(*k));
	snprintf(principal, sizeof(principal), "serviceaccount/%s", name);
	if ((pkey = EVP_EC_gen("P-256")) == NULL ||
	    jws_kid_thumbprint(pkey, k->key_id, e) == -1) {
		err_set(e, "cannot make a P-256 key");
		goto out;
	}
	if ((pub = BIO_new(BIO_s_mem())) == NULL ||
	    PEM_write_bio_PUBKEY(pub, pkey) != 1 ||
	    (pubpem = bio_str(pub, &publen)) == NULL ||
	    (priv = BIO_new(BIO_s_secmem())) == NULL ||
	    PEM_write_bio_PrivateKey(priv, pkey, NULL, NULL, 0, NULL,
	    NULL) != 1 || (privlen = BIO_get_mem_data(priv, &privdata)) <= 0 ||
	    (esc = pem_json_escape(privdata, (size_t)privlen, &esclen)) ==
	    NULL) {
		err_set(e, "cannot encode the key");
		goto out;
	}
	util_rfc3339(util_now(), created);
	k->entry = json_pack("{s:s, s:s, s:b, s:s}", "key_id", k->key_id,
	    "public_key", pubpem, "enabled", 1, "created", created);
	meta = json_pack("{s:s, s:s, s:s, s:s, s:s}", "type",
	    REGAUTH_KEYFILE_TYPE, "principal", principal, "key_id", k->key_id,
	    "server", server, "issuer", issuer);
	if (k->entry == NULL || meta == NULL || (head = json_dumps(meta,
	    JSON_INDENT(2) | JSON_PRESERVE_ORDER)) == NULL) {
		err_set(e, "out of memory");
		goto out;
	}
	/* {head-without-"\n}" ,\n  "private_key": "ESC"\n}\n */
	hlen = strlen(head);
	while (hlen > 0 && (head[hlen - 1] == '}' || head[hlen - 1] == '\n' ||
	    head[hlen - 1] == ' '))
		hlen--;
	total = hlen + esclen + 64;
	if ((k->file = malloc(total)) == NULL) {
		err_set(e, "out of memory");
		goto out;
	}
	k->filelen = total;
	memcpy(k->file, head, hlen);
	snprintf(k->file + hlen, total - hlen,
	    ",\n  \"private_key\": \"%s\"\n}\n", esc);
	rc = 0;
out:
	if (rc == -1)
		newkey_clear(k);
	EVP_PKEY_free(pkey);
	BIO_free(pub);
	BIO_free(priv);		/* secure heap: cleared on free */
	free(pubpem);
	free(head);
	json_decref(meta);
	if (esc != NULL)
		util_secure_free(esc, esclen + 1);
	return rc;
}

/*
 * Refuse a --key-out that exists (even as a dangling link) or whose folder
 * does not; util_write_file then creates it 0600 with O_EXCL|O_NOFOLLOW and
 * links it in place, which fails rather than replace a file made meanwhile.
 */
static int
key_out_ok(const char *path)
{
	char folder[4096];
	const char *slash = strrchr(path, '/');
	struct stat st;

	if (path[0] == '\0') {
		cli_complain("--key-out: empty path");
		return -1;
	}
	if (lstat(path, &st) == 0) {
		cli_complain("%s: already exists; a key file is written once, "
		    "never replaced", path);
		return -1;
	}
	snprintf(folder, sizeof(folder), "%.*s", slash == NULL ? 1 :
	    slash == path ? 1 : (int)(slash - path), slash == NULL ? "." :
	    path);
	if (stat(folder, &st) == -1 || !S_ISDIR(st.st_mode)) {
		cli_complain("%s: folder %s does not exist", path, folder);
		return -1;
	}
	return 0;
}

static int
write_key_file(const char *path, const struct newkey *k)
{
	struct err e;

	int saved;

	if (util_write_file(path, k->file, strlen(k->file), 0600, 1,
	    &e) == -1) {
		saved = errno;
		cli_complain("%s", e.msg);
		errno = saved;
		return -1;
	}
	return 0;
}

static int
sa_create(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "policy", required_argument, NULL, 'P' },
		{ "group", required_argument, NULL, 'g' },
		{ "boundary", required_argument, NULL, 'b' },
		{ "tag", required_argument, NULL, 't' },
		{ "key-out", required_argument, NULL, 'k' },
		{ NULL, 0, NULL, 0 }
	};
	const char *dir = NULL, *name, *boundary = NULL, *keyout = NULL;
	json_t *groups = json_array(), *policies = json_array();
	json_t *tags = json_object(), *sa = NULL, *v;
	char *issuer = NULL, *server = NULL, *eq, path[4096];
	struct newkey k = { "", NULL, NULL, 0 };
	struct err e;
	size_t i;
	int c, rc = EXIT_USAGE, wrote = 0;

	while ((c = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			dir = optarg;
			break;
		case 'P':
			json_array_append_new(policies, json_string(optarg));
			break;
		case 'g':
			json_array_append_new(groups, json_string(optarg));
			break;
		case 'b':
			boundary = optarg;
			break;
		case 'k':
			keyout = optarg;
			break;
		case 't':
			if ((eq = strchr(optarg, '=')) == NULL || eq == optarg) {
				cli_complain("--tag wants KEY=VALUE");
				goto out;
			}
			*eq = '\0';
			json_object_set_new(tags, optarg, json_string(eq + 1));
			break;
		default:
			rc = usage();
			goto out;
		}
	}
	if (dir == NULL || keyout == NULL || optind + 1 != argc) {
		rc = usage();
		goto out;
	}
	rc = EXIT_DENIED;
	name = argv[optind];
	if (!config_valid_name(name)) {
		cli_complain("invalid service account name \"%s\"", name);
		goto out;
	}
	if (exists(dir, "serviceaccounts", name)) {
		cli_complain("service account \"%s\" already exists", name);
		goto out;
	}
	json_array_foreach(policies, i, v)
		if (!exists(dir, "policies", json_string_value(v))) {
			cli_complain("policy \"%s\" not found in %s/policies",
			    json_string_value(v), dir);
			goto out;
		}
	json_array_foreach(groups, i, v)
		if (!exists(dir, "groups", json_string_value(v))) {
			cli_complain("group \"%s\" not found in %s/groups",
			    json_string_value(v), dir);
			goto out;
		}
	if (boundary != NULL && !exists(dir, "policies", boundary)) {
		cli_complain("policy \"%s\" not found in %s/policies", boundary,
		    dir);
		goto out;
	}
	if (key_out_ok(keyout) == -1)
		goto out;
	rc = EXIT_USAGE;
	if (server_names(dir, &issuer, &server, &e) == -1 ||
	    config_path(path, sizeof(path), dir, "serviceaccounts", NULL) ==
	    -1 || util_mkdirs(path, 0700, &e) == -1 ||
	    config_path(path, sizeof(path), dir, "serviceaccounts", name) ==
	    -1 || newkey_make(name, issuer, server, &k, &e) == -1) {
		cli_complain("%s", e.msg);
		goto out;
	}
	sa = json_pack("{s:s, s:O, s:O, s:O, s:b, s:[O]}", "name", name,
	    "groups", groups, "policies", policies, "tags", tags, "enabled", 1,
	    "keys", k.entry);
	if (sa == NULL || (boundary != NULL && json_object_set_new(sa,
	    "boundary", json_string(boundary)) == -1)) {
		cli_complain("out of memory");
		goto out;
	}
	if (write_key_file(keyout, &k) == -1) {
		rc = errno == EEXIST || errno == ENOENT ? EXIT_DENIED :
		    EXIT_USAGE;
		goto out;
	}
	wrote = 1;
	if (util_json_write_file(path, sa, 0600, 1, &e) == -1) {
		rc = errno == EEXIST ? EXIT_DENIED : EXIT_USAGE;
		cli_complain("%s", e.msg);
		goto out;
	}
	wrote = 0;
	printf("%s\n", k.key_id);
	rc = 0;
out:
	if (wrote)
		unlink(keyout);	/* a key of no account is of no use */
	newkey_clear(&k);
	json_decref(groups);
	json_decref(policies);
	json_decref(tags);
	json_decref(sa);
	free(issuer);
	free(server);
	return rc;
}

/* serviceaccounts/NAME.json, loaded; exit status in *rc when NULL. */
static json_t *
sa_load(const char *dir, const char *name, char *path, size_t sz, int *rc)
{
	struct err e;
	json_t *j, *keys;

	*rc = EXIT_DENIED;
	if (!exists(dir, "serviceaccounts", name)) {
		cli_complain("service account \"%s\" not found in %s/serviceaccounts",
		    name, dir);
		return NULL;
	}
	config_path(path, sz, dir, "serviceaccounts", name);
	if ((j = util_json_load_file(path, &e)) == NULL) {
		cli_complain("%s", e.msg);
		return NULL;
	}
	keys = json_object_get(j, "keys");
	if (!json_is_object(j) || (keys != NULL && !json_is_array(keys))) {
		cli_complain("%s: \"keys\" must be a list", path);
		json_decref(j);
		return NULL;
	}
	if (keys == NULL)
		json_object_set_new(j, "keys", json_array());
	return j;
}

static int
sa_key_add(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "key-out", required_argument, NULL, 'k' },
		{ NULL, 0, NULL, 0 }
	};
	const char *dir = NULL, *name, *keyout = NULL;
	char *issuer = NULL, *server = NULL, path[4096];
	struct newkey k = { "", NULL, NULL, 0 };
	json_t *sa = NULL, *keys;
	struct err e;
	int c, rc = EXIT_USAGE, wrote = 0;

	while ((c = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
		if (c == 'c')
			dir = optarg;
		else if (c == 'k')
			keyout = optarg;
		else
			return usage();
	}
	if (dir == NULL || keyout == NULL || optind + 1 != argc)
		return usage();
	name = argv[optind];
	if ((sa = sa_load(dir, name, path, sizeof(path), &rc)) == NULL)
		goto out;
	keys = json_object_get(sa, "keys");
	rc = EXIT_DENIED;
	if (json_array_size(keys) >= CONFIG_MAX_SA_KEYS) {
		cli_complain("service account \"%s\" has %d keys already (the "
		    "most); delete one first", name, CONFIG_MAX_SA_KEYS);
		goto out;
	}
	if (key_out_ok(keyout) == -1)
		goto out;
	rc = EXIT_USAGE;
	if (server_names(dir, &issuer, &server, &e) == -1 ||
	    newkey_make(name, issuer, server, &k, &e) == -1) {
		cli_complain("%s", e.msg);
		goto out;
	}
	if (json_array_append(keys, k.entry) == -1) {
		cli_complain("out of memory");
		goto out;
	}
	if (write_key_file(keyout, &k) == -1) {
		rc = errno == EEXIST || errno == ENOENT ? EXIT_DENIED :
		    EXIT_USAGE;
		goto out;
	}
	wrote = 1;
	if (util_json_write_file(path, sa, 0600, 0, &e) == -1) {
		cli_complain("%s", e.msg);
		goto out;
	}
	wrote = 0;
	printf("%s\n", k.key_id);
	rc = 0;
out:
	if (wrote)
		unlink(keyout);
	newkey_clear(&k);
	json_decref(sa);
	free(issuer);
	free(server);
	return rc;
}

static int
sa_key_list(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	const char *dir = NULL, *created;
	json_t *sa, *k, *out = NULL;
	char path[4096], *s;
	size_t i;
	int c, rc, json = 0;

	while ((c = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
		if (c == 'c')
			dir = optarg;
		else if (c == 'j')
			json = 1;
		else
			return usage();
	}
	if (dir == NULL || optind + 1 != argc)
		return usage();
	if ((sa = sa_load(dir, argv[optind], path, sizeof(path), &rc)) == NULL)
		return rc;
	out = json_array();
	json_array_foreach(json_object_get(sa, "keys"), i, k) {
		const char *kid = json_string_value(json_object_get(k, "key_id"));
		int enabled = !json_is_false(json_object_get(k, "enabled"));

		created = json_string_value(json_object_get(k, "created"));
		if (kid == NULL)
			continue;
		if (json)
			json_array_append_new(out, json_pack("{s:s, s:b, s:s?}",
			    "key_id", kid, "enabled", enabled, "created",
			    created));
		else
			printf("%s %s %s\n", kid, enabled ? "enabled" :
			    "disabled", created ? created : "-");
	}
	if (json) {
		if ((s = json_dumps(out, JSON_INDENT(2))) == NULL) {
			cli_complain("out of memory");
			rc = EXIT_USAGE;
			goto out;
		}
		printf("%s\n", s);
		free(s);
	}
	rc = 0;
out:
	json_decref(out);
	json_decref(sa);
	return rc;
}

/* enable, disable, delete: one key by its id. */
static int
sa_key_change(const char *verb, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 }
	};
	const char *dir = NULL, *kid;
	json_t *sa, *keys, *k = NULL;
	char path[4096];
	struct err e;
	size_t i;
	int c, rc;

	while ((c = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
		if (c == 'c')
			dir = optarg;
		else
			return usage();
	}
	if (dir == NULL || optind + 2 != argc)
		return usage();
	kid = argv[optind + 1];
	if ((sa = sa_load(dir, argv[optind], path, sizeof(path), &rc)) == NULL)
		return rc;
	keys = json_object_get(sa, "keys");
	rc = EXIT_DENIED;
	json_array_foreach(keys, i, k)
		if (json_is_string(json_object_get(k, "key_id")) &&
		    strcmp(json_string_value(json_object_get(k, "key_id")),
		    kid) == 0)
			break;
	if (i == json_array_size(keys)) {
		cli_complain("service account \"%s\" has no key %s", argv[optind],
		    kid);
		goto out;
	}
	if (strcmp(verb, "delete") == 0)
		json_array_remove(keys, i);
	else
		json_object_set_new(k, "enabled",
		    json_boolean(strcmp(verb, "enable") == 0));
	if (util_json_write_file(path, sa, 0600, 0, &e) == -1) {
		cli_complain("%s", e.msg);
		rc = EXIT_USAGE;
		goto out;
	}
	rc = 0;
out:
	json_decref(sa);
	return rc;
}

int
cmd_sa(int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : "";
	const char *verb = argc > 2 ? argv[2] : "";

	if (strcmp(sub, "create") == 0)
		return sa_create(argc - 1, argv + 1);
	if (strcmp(sub, "key") == 0) {
		if (strcmp(verb, "add") == 0)
			return sa_key_add(argc - 2, argv + 2);
		if (strcmp(verb, "list") == 0)
			return sa_key_list(argc - 2, argv + 2);
		if (strcmp(verb, "enable") == 0 || strcmp(verb, "disable") == 0 ||
		    strcmp(verb, "delete") == 0)
			return sa_key_change(verb, argc - 2, argv + 2);
	}
	return usage();
}
