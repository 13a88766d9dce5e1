/*
 * source_key: service-account key files and their assertions.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "regauth/wire.h"
#include "crypto_lazy.h"
#include "source_key.h"

#define KEYFILE_MAX (64 * 1024)

static int
check_mode(const char *path, struct err *e)
{
	struct stat st;

	if (stat(path, &st) == -1) {
		util_err(e, "key file %s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		util_err(e, "key file %s is not a regular file", path);
		return -1;
	}
	if ((st.st_mode & 077) != 0) {
		util_err(e, "key file %s has mode %04o: it must not be "
		    "accessible to group or others (chmod 600 %s)", path,
		    (unsigned)(st.st_mode & 07777), path);
		return -1;
	}
	return 0;
}

static char *
field(json_t *o, const char *k, int required, const char *path, struct err *e)
{
	json_t *v = json_object_get(o, k);
	const char *s = json_string_value(v);

	if (s == NULL || s[0] == '\0') {
		if (required || v != NULL)
			util_err(e, "key file %s: \"%s\" is missing or not a "
			    "string", path, k);
		errno = EINVAL;
		return NULL;
	}
	return strdup(s);
}

int
source_key_load(const char *path, struct source_key *k, struct err *e)
{
	struct source_key sk;
	char *text = NULL;
	size_t len = 0;
	json_t *o = NULL;
	const char *type;
	int ret = -1;

	memset(&sk, 0, sizeof(sk));
	if (check_mode(path, e) == -1)
		return -1;
	if (util_read_file(path, KEYFILE_MAX, &text, &len, e) == -1) {
		char m[sizeof(e->msg)];

		snprintf(m, sizeof(m), "%s", e->msg);
		util_err(e, "key file %s", m);
		return -1;
	}
	o = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
	type = json_string_value(json_object_get(o, "type"));
	if (!json_is_object(o) || type == NULL ||
	    strcmp(type, REGAUTH_KEYFILE_TYPE) != 0) {
		util_err(e, "key file %s is not a regauth service-account key "
		    "(\"type\": \"%s\" expected)", path, REGAUTH_KEYFILE_TYPE);
		goto out;
	}
	sk.path = strdup(path);
	if ((sk.principal = field(o, "principal", 1, path, e)) == NULL ||
	    (sk.key_id = field(o, "key_id", 1, path, e)) == NULL ||
	    (sk.issuer = field(o, "issuer", 1, path, e)) == NULL ||
	    (sk.private_key = field(o, "private_key", 1, path, e)) == NULL)
		goto out;
	sk.server = field(o, "server", 0, path, e);
	if (sk.server == NULL && json_object_get(o, "server") != NULL)
		goto out;
	if (sk.path == NULL) {
		util_err(e, "out of memory");
		goto out;
	}
	*k = sk;
	memset(&sk, 0, sizeof(sk));
	ret = 0;
out:
	if (o != NULL) {
		const char *pk = json_string_value(json_object_get(o,
		    "private_key"));

		if (pk != NULL)
			util_wipe((void *)pk, strlen(pk));
		json_decref(o);
	}
	if (text != NULL) {
		util_wipe(text, len);
		free(text);
	}
	source_key_free(&sk);
	return ret;
}

char *
source_key_assertion(const struct source_key *k, struct err *e)
{
	const struct crypto_lazy_jwt *J;
	unsigned char rnd[16];
	char jti[33], *enc = NULL, *out = NULL;
	jwt_t *j = NULL;
	time_t now = time(NULL);
	int i;

	if ((J = crypto_lazy_jwt(e)) == NULL ||
	    crypto_lazy_random(rnd, sizeof(rnd), e) == -1)
		return NULL;
	for (i = 0; i < 16; i++)
		snprintf(jti + 2 * i, 3, "%02x", rnd[i]);
	if (J->new(&j) != 0) {
		util_err(e, "out of memory");
		return NULL;
	}
	if (J->set_alg(j, JWT_ALG_ES256,
	    (const unsigned char *)k->private_key,
	    (int)strlen(k->private_key)) != 0 ||
	    J->add_header(j, "kid", k->key_id) != 0 ||
	    J->add_grant(j, "iss", k->principal) != 0 ||
	    J->add_grant(j, "sub", k->principal) != 0 ||
	    J->add_grant(j, "aud", k->issuer) != 0 ||
	    J->add_grant(j, "jti", jti) != 0 ||
	    J->add_grant_int(j, "iat", (long)now) != 0 ||
	    J->add_grant_int(j, "exp", (long)now + SOURCE_KEY_ASSERTION_TTL)
	    != 0) {
		util_err(e, "key file %s: cannot build the assertion", k->path);
		goto out;
	}
	enc = J->encode_str(j);
	if (enc == NULL) {
		util_err(e, "key file %s: cannot sign with its private_key "
		    "(not an EC P-256 PEM key?)", k->path);
		goto out;
	}
	out = strdup(enc);
	if (out == NULL)
		util_err(e, "out of memory");
out:
	if (enc != NULL) {
		util_wipe(enc, strlen(enc));
		free(enc); /* libjwt 1.10 allocates with malloc */
	}
	J->free(j); /* libjwt wipes its copy of the key */
	return out;
}

void
source_key_free(struct source_key *k)
{
	if (k == NULL)
		return;
	free(k->path);
	free(k->principal);
	free(k->key_id);
	free(k->server);
	free(k->issuer);
	util_free_secret(k->private_key);
	memset(k, 0, sizeof(*k));
}
