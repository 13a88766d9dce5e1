/*
 * libFuzzer harness for scope_parse (scope.h): arbitrary bytes, cut at the
 * first NUL as the HTTP layer would, into a list capped at 100 resources.
 * Whatever the outcome, the list must hold only entries within the bounds
 * that struct scope promises.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "scope.h"

#define FUZZ_SCOPES_MAX 100

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct scope_list l;
	struct err e;
	char *s;
	size_t i, j, n;
	int rc;

	if ((s = malloc(size + 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	memset(&e, 0, sizeof(e));
	scope_list_init(&l, FUZZ_SCOPES_MAX);
	rc = scope_parse(&l, s, &e);
	if (rc != 0 && rc != -1)
		abort();
	if (rc == -1 && e.msg[0] == '\0')
		abort();		/* -1 always says why */
	if (l.n > FUZZ_SCOPES_MAX || l.n > l.cap)
		abort();
	for (i = 0; i < l.n; i++) {
		const struct scope *sc = &l.v[i];

		n = strnlen(sc->name, sizeof(sc->name));
		if (n == 0 || n > SCOPE_NAME_MAX)
			abort();
		n = strnlen(sc->type, sizeof(sc->type));
		if (n == 0 || n > SCOPE_TYPE_MAX)
			abort();
		if (sc->nactions > SCOPE_ACTIONS_MAX)
			abort();
		for (j = 0; j < sc->nactions; j++) {
			n = strnlen(sc->actions[j], sizeof(sc->actions[j]));
			if (n == 0 || n > SCOPE_ACTION_MAX)
				abort();
		}
		if (strcmp(sc->type, "repository") == 0 &&
		    !scope_valid_repository(sc->name))
			abort();
	}
	scope_list_free(&l);
	free(s);
	return 0;
}
