/*
 * mint_token DIR ISSUER SERVICE REPO: print a registry token for REPO
 * (pull, push) signed by DIR/keys, creating an ES256 key set there first if
 * DIR/keys does not exist. A test tool for tests/e2e/test_registry_spike.py: it
 * exercises keys_create, keys_load and keys_sign without the server.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/rand.h>

#include "keys.h"
#include "util.h"

int
main(int argc, char **argv)
{
	struct keyset *ks = NULL;
	struct err e = { "" };
	struct stat st;
	json_t *claims = NULL;
	char path[4096], jti[33], *tok = NULL;
	unsigned char rnd[16];
	int64_t now;
	int i, rc = 2;

	if (argc != 5) {
		fprintf(stderr, "usage: mint_token DIR ISSUER SERVICE REPO\n");
		goto out;
	}
	if (snprintf(path, sizeof(path), "%s/keys", argv[1]) >=
	    (int)sizeof(path)) {
		fprintf(stderr, "mint_token: path too long\n");
		goto out;
	}
	if (stat(path, &st) == -1 && keys_create(argv[1], JWS_ES256, argv[2],
	    &e) == -1) {
		fprintf(stderr, "mint_token: %s\n", e.msg);
		goto out;
	}
	if ((ks = keys_load(argv[1], KEYS_KID_THUMBPRINT, 43200, &e)) == NULL) {
		fprintf(stderr, "mint_token: %s\n", e.msg);
		goto out;
	}
	if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
		fprintf(stderr, "mint_token: no randomness\n");
		goto out;
	}
	for (i = 0; i < 16; i++)
		snprintf(jti + 2 * i, 3, "%02x", rnd[i]);
	now = util_now();
	claims = json_pack("{s:s,s:s,s:s,s:I,s:I,s:I,s:s,s:[{s:s,s:s,s:[s,s]}]}",
	    "iss", argv[2], "sub", "spike", "aud", argv[3],
	    "exp", (json_int_t)(now + 300), "nbf", (json_int_t)(now - 30),
	    "iat", (json_int_t)now, "jti", jti,
	    "access", "type", "repository", "name", argv[4],
	    "actions", "pull", "push");
	if (claims == NULL) {
		fprintf(stderr, "mint_token: cannot build the claims\n");
		goto out;
	}
	if ((tok = keys_sign(ks, claims, &e)) == NULL) {
		fprintf(stderr, "mint_token: %s\n", e.msg);
		goto out;
	}
	printf("%s\n", tok);
	rc = 0;
out:
	free(tok);
	json_decref(claims);
	keys_free(ks);
	return rc;
}
