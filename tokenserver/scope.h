/*
 * The token scope grammar (distribution docs/spec/auth/scope.md):
 *   scope := resourcescope (' ' resourcescope)*
 *   resourcescope := type ':' name ':' action (',' action)*
 * Type ends at the first colon and actions start after the last, so names
 * may carry host:port. `repository(plugin)` folds to `repository`.
 */
#ifndef REGAUTHD_SCOPE_H
#define REGAUTHD_SCOPE_H

#include <stddef.h>
#include "util.h"

#define SCOPE_NAME_MAX		255
#define SCOPE_TYPE_MAX		32
#define SCOPE_ACTION_MAX	32
#define SCOPE_ACTIONS_MAX	8

struct scope {
	char	type[SCOPE_TYPE_MAX + 1];
	char	name[SCOPE_NAME_MAX + 1];
	size_t	nactions;
	char	actions[SCOPE_ACTIONS_MAX][SCOPE_ACTION_MAX + 1];
};

struct scope_list {
	struct scope	*v;
	size_t		 n, cap, max;
};

/* An empty list that refuses to grow past `max` distinct resources. */
void scope_list_init(struct scope_list *l, size_t max);
void scope_list_free(struct scope_list *l);

/*
 * Parse one scope parameter value (space-separated resource scopes) and
 * merge it into `l`: the same type and name asked twice become one entry
 * with the union of actions. -1 with a client-safe message on a malformed
 * scope or too many scopes.
 */
int scope_parse(struct scope_list *l, const char *value, struct err *e);

/* Is `name` a valid repository name (optionally host[:port]/ prefixed)? */
int scope_valid_repository(const char *name);

#endif
