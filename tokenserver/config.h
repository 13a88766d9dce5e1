/*
 * The configuration directory, loaded as one immutable snapshot:
 * regauthd.json (settings), keys/, policies/NAME.json, users/NAME.json,
 * groups/NAME.json, serviceaccounts/NAME.json, roles/NAME.json,
 * oidc/NAME.json, repositories/NAME.json. A reload builds a new snapshot
 * and swaps it in; requests hold a reference to the one they started with.
 */
#ifndef REGAUTHD_CONFIG_H
#define REGAUTHD_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "keys.h"
#include "netaddr.h"
#include "oidc.h"
#include "policy/policy.h"
#include "util.h"

#define CONFIG_FILE		"regauthd.json"
#define CONFIG_DEFAULT_ACCOUNT	"000000000000"
#define CONFIG_DEFAULT_ISSUER	"regauth"
#define CONFIG_DEFAULT_SERVICE	"registry"
#define CONFIG_DEFAULT_LISTEN	"127.0.0.1:5001"
#define CONFIG_NAME_MAX		64
#define CONFIG_MAX_SA_KEYS	16	/* public keys of one service account */
#define CONFIG_MIN_SESSION	900	/* a role's max_session, seconds */
#define CONFIG_MAX_SESSION	43200
#define CONFIG_DEFAULT_SESSION	3600

struct logincache;
struct tls_creds;
struct redisstore_settings;

/* A service account's public key (ES256, P-256): serviceaccounts/NAME.json "keys". */
struct principal_key {
	char		 key_id[64];	/* RFC 7638 thumbprint of pkey */
	EVP_PKEY	*pkey;
	int		 enabled;
};

struct principal {
	char			*type;		/* "user", "serviceaccount", "role" */
	char			*name;
	char			*short_name;	/* "user/alice" */
	char			*arn;		/* arn:regauth:iam::ACCOUNT:user/alice */
	char			*password_hash;	/* crypt(3) PHC string, or NULL */
	int			 enabled;
	json_t			*tags;		/* object of string values */
	struct policy_ref	*policies;	/* identity (own + groups) and boundary */
	size_t			 npolicies;
	struct principal_key	*keys;		/* service accounts only */
	size_t			 nkeys;
	struct policy		*trust;		/* roles only: who may assume it */
	int64_t			 max_session;	/* roles only: seconds */
};

struct repo_policy {
	char		*name;		/* file name without .json */
	char		**patterns;	/* repository names or globs */
	size_t		 npatterns;
	struct policy	*policy;
};

struct named_policy {
	char		*name;
	struct policy	*policy;
};

struct config {
	char			*dir;
	char			*listen;
	char			*issuer;
	char			*realm;
	char			*account;
	char			**services;
	size_t			 nservices;
	int64_t			 registry_token_ttl;
	int64_t			 login_token_ttl;	/* from a password */
	int64_t			 key_login_token_ttl;	/* from a key or OIDC token */
	int64_t			 max_scopes;
	int64_t			 max_failed_user;	/* per minute; 0: off */
	int64_t			 max_failed_address;	/* per minute; 0: off */
	enum keys_kid_format	 kid_format;
	char			*audit_log;	/* NULL: off; "-": stderr */
	struct netaddr_cidr	*trusted_proxies;	/* X-Forwarded-For senders */
	size_t			 ntrusted_proxies;
	struct keyset		*keys;
	char			*tls_cert_file;	/* "": plain HTTP */
	char			*tls_key_file;
	struct tls_creds	*tls;		/* loaded from those; NULL: none */
	char			*run_user;	/* "user": serve drops root to it; "" */
	char			*run_group;	/* "group"; "": the user's */
	struct redisstore_settings *redis;	/* shared state; NULL: none */

	struct named_policy	*policies;	/* sorted by name */
	size_t			 npolicies;
	struct principal	*principals;	/* sorted by short_name */
	size_t			 nprincipals;
	struct repo_policy	*repo_policies;
	size_t			 nrepo_policies;
	struct policy_globset	*repo_index;	/* their patterns, by prefix */
	struct oidc_issuer	*issuers;	/* trusted OIDC issuers */
	size_t			 nissuers;

	struct logincache	*logincache;	/* verified login tokens */
	int			 refs;		/* guarded by config.c's lock */
};

/* Load and validate a directory. Errors name FILE[:LINE:COLUMN]. */
struct config *config_load(const char *dir, struct err *e);

/* The running snapshot: install one, take a reference, drop it. */
void config_install(struct config *cfg);
struct config *config_acquire(void);
void config_release(struct config *cfg);

/* Borrowed lookups; NULL when absent. */
const struct principal *config_principal(const struct config *cfg,
    const char *short_name);
const struct policy *config_policy(const struct config *cfg, const char *name);
/* A key of `p` by key_id, enabled or not (check ->enabled); NULL when absent. */
const struct principal_key *config_principal_key(const struct principal *p,
    const char *key_id);
int config_has_service(const struct config *cfg, const char *service);
/*
 * The file a loaded document came from ("policies/NAME.json",
 * "repositories/NAME.json") into `buf`; returns the JSON Pointer of the
 * document inside it ("" or "/policy"), or NULL when `p` is not one of
 * cfg's policies.
 */
const char *config_policy_file(const struct config *cfg,
    const struct policy *p, char *buf, size_t sz);
/*
 * Does DIR/oidc/ hold a file for issuer `url` (its name into `name` when
 * not NULL)? For the commands that edit the directory.
 */
int config_issuer_in_dir(const char *dir, const char *url, char *name,
    size_t sz);
/* The trusted issuer whose URL is `url` exactly; NULL when none. */
const struct oidc_issuer *config_issuer(const struct config *cfg,
    const char *url);

/*
 * The repository policies attached to `repo` (patterns are IAM globs),
 * appended to `out` starting at *n while it has room (`max`). Returns how
 * many matched, so a caller can grow `out` and ask again: none may be left
 * out of a decision.
 */
size_t config_repo_policies(const struct config *cfg, const char *repo,
    struct policy_ref *out, size_t max, size_t *n);

/* Validate settings as regauthd.json would hold them (for `init`). */
int config_check_settings(const json_t *settings, struct err *e);

/*
 * DIR/regauthd.json, validated as the server would (a new reference), for
 * commands that edit the directory without loading all of it.
 */
json_t *config_settings_load(const char *dir, struct err *e);

/* Default settings for `init`, as the JSON that regauthd.json holds. */
json_t *config_default_settings(void);

/* Path helpers: DIR/SUB/NAME.json into buf; -1 when it does not fit. */
int config_path(char *buf, size_t sz, const char *dir, const char *sub,
    const char *name);
/* A name usable as a file name: [A-Za-z0-9._@+=,-], 1..64, no leading dot. */
int config_valid_name(const char *name);
/*
 * A repository name or pattern as repositories/NAME.json lists it: 1..255
 * bytes of [A-Za-z0-9._-/:*?].
 */
int config_valid_repo_pattern(const char *pattern);

#endif
