/*
 * config: the helper's configuration file (see config.h).
 */
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "normalize.h"

#define CONFIG_MAX (1024 * 1024)

static char *
default_path(void)
{
	const char *p = getenv("REGAUTH_CONFIG"), *x, *home;
	char buf[4096];

	if (p != NULL && p[0] != '\0')
		return strdup(p);
	if ((x = getenv("XDG_CONFIG_HOME")) != NULL && x[0] == '/')
		snprintf(buf, sizeof(buf), "%s/regauth/config.json", x);
	else if ((home = getenv("HOME")) != NULL && home[0] != '\0')
		snprintf(buf, sizeof(buf), "%s/.config/regauth/config.json",
		    home);
	else
		return NULL;
	return strdup(buf);
}

int
config_load(struct config *c, struct err *e)
{
	json_error_t je;
	char *text = NULL;
	size_t len = 0;

	c->root = NULL;
	c->path = default_path();
	if (c->path == NULL) {
		c->root = json_object();
		return 0;
	}
	if (util_read_file(c->path, CONFIG_MAX, &text, &len, e) == -1) {
		if (errno == ENOENT) {
			c->root = json_object();
			return 0;
		}
		return -1;
	}
	c->root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	free(text);
	if (!json_is_object(c->root)) {
		util_err(e, "%s:%d: %s", c->path, je.line,
		    c->root == NULL ? je.text : "not a JSON object");
		json_decref(c->root);
		c->root = NULL;
		return -1;
	}
	return 0;
}

static json_t *
registry_entry(const struct config *c, const char *key)
{
	json_t *regs = json_object_get(c->root, "registries"), *v;
	char k[NORMALIZE_MAX];
	const char *name;

	json_object_foreach(regs, name, v) {
		if (normalize_server(name, k, sizeof(k)) == 0 &&
		    strcmp(k, key) == 0 && json_is_object(v))
			return v;
	}
	return NULL;
}

const char *
config_registry_str(const struct config *c, const char *key,
    const char *field)
{
	const char *s;

	if (c->root == NULL)
		return NULL;
	s = json_string_value(json_object_get(registry_entry(c, key), field));
	return s != NULL && s[0] != '\0' ? s : NULL;
}

const char *
config_setting(const struct config *c, const char *key, const char *field)
{
	const char *s = config_registry_str(c, key, field);

	if (s != NULL || c->root == NULL)
		return s;
	s = json_string_value(json_object_get(c->root, field));
	return s != NULL && s[0] != '\0' ? s : NULL;
}

int
config_registry_insecure(const struct config *c, const char *key)
{
	return c->root != NULL &&
	    json_is_true(json_object_get(registry_entry(c, key), "insecure"));
}

const char *
config_default_server(const struct config *c)
{
	const char *s;

	if (c->root == NULL)
		return NULL;
	s = json_string_value(json_object_get(c->root, "server"));
	return s != NULL && s[0] != '\0' ? s : NULL;
}

size_t
config_registries(const struct config *c, const char **out, size_t max)
{
	json_t *regs = json_object_get(c->root, "registries"), *v;
	const char *name;
	size_t n = 0;

	json_object_foreach(regs, name, v) {
		if (n < max)
			out[n++] = name;
	}
	return n;
}

int
config_set_registry_str(struct config *c, const char *key, const char *field,
    const char *value, struct err *e)
{
	json_t *regs = json_object_get(c->root, "registries"), *ent;

	if (!json_is_object(regs)) {
		regs = json_object();
		if (regs == NULL || json_object_set_new(c->root, "registries",
		    regs) == -1)
			goto oom;
	}
	ent = registry_entry(c, key);
	if (ent == NULL) {
		ent = json_object();
		if (ent == NULL || json_object_set_new(regs, key, ent) == -1)
			goto oom;
	}
	if (json_object_set_new(ent, field, json_string(value)) == -1)
		goto oom;
	return 0;
oom:
	util_err(e, "out of memory");
	return -1;
}

int
config_save(const struct config *c, struct err *e)
{
	char *text, *dir;
	int ret;

	if (c->path == NULL) {
		util_err(e, "no configuration file: set REGAUTH_CONFIG or HOME");
		return -1;
	}
	dir = strdup(c->path);
	if (dir == NULL || util_mkdir_p(dirname(dir), 0700, e) == -1) {
		free(dir);
		return -1;
	}
	free(dir);
	text = json_dumps(c->root, JSON_INDENT(2) | JSON_SORT_KEYS);
	if (text == NULL) {
		util_err(e, "out of memory");
		return -1;
	}
	ret = util_write_atomic(c->path, text, strlen(text), 0600, e);
	free(text);
	return ret;
}

void
config_free(struct config *c)
{
	if (c == NULL)
		return;
	json_decref(c->root);
	free(c->path);
	c->root = NULL;
	c->path = NULL;
}
