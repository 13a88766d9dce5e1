/*
 * libFuzzer harness for authn_parse_basic (authn.h): an Authorization
 * header value, NUL-terminated. On success both outputs exist, the user
 * holds no ':' (it ends at the first one) and both are wiped on free.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "authn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s, *user = NULL, *pass = NULL;
	int rc;

	if ((s = malloc(size + 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	rc = authn_parse_basic(s, &user, &pass);
	if (rc == 0) {
		if (user == NULL || pass == NULL)
			abort();
		if (strchr(user, ':') != NULL)
			abort();
		util_secure_free_str(user);
		util_secure_free_str(pass);
	} else if (rc != -1 || user != NULL || pass != NULL) {
		abort();		/* out-parameters only on success */
	}
	(void)authn_looks_like_jwt(s);
	free(s);
	return 0;
}
