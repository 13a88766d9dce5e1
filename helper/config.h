/*
 * config: the helper's configuration file ($REGAUTH_CONFIG, else
 * $XDG_CONFIG_HOME/regauth/config.json, else ~/.config/regauth/config.json):
 *
 *   {"server": "https://regauth.example.com",
 *    "role": ROLE, "oidc_token_file": PATH, "audience": AUD,
 *    "registries": {"registry.example.com": {"server": URL,
 *                   "key_file": PATH, "insecure": false, "role": ROLE,
 *                   "oidc_token_file": PATH, "audience": AUD}}}
 *
 * Registry names are matched after normalization. A missing file is empty.
 * "server", "role", "oidc_token_file" and "audience" may stand at the top
 * level as defaults for every registry; "key_file" and "insecure" may not.
 */
#ifndef HELPER_CONFIG_H
#define HELPER_CONFIG_H

#include <jansson.h>

#include "util.h"

struct config {
	char *path;
	json_t *root; /* an object */
};

int config_load(struct config *c, struct err *e);
/* A string field of the registry's entry, else NULL (borrowed). */
const char *config_registry_str(const struct config *c, const char *key,
    const char *field);
/* The registry's field, else the top-level one, else NULL (borrowed). */
const char *config_setting(const struct config *c, const char *key,
    const char *field);
/* The registry's "insecure" (plain HTTP allowed for discovery). */
int config_registry_insecure(const struct config *c, const char *key);
const char *config_default_server(const struct config *c);
/* The registry names of the file (borrowed; at most max). */
size_t config_registries(const struct config *c, const char **out, size_t max);
/* Set registries[key][field] = value, keeping everything else. */
int config_set_registry_str(struct config *c, const char *key,
    const char *field, const char *value, struct err *e);
/* Write the file atomically (0600). */
int config_save(const struct config *c, struct err *e);
void config_free(struct config *c);

#endif
