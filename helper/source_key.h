/*
 * source_key: a service-account key file written by `regauthd sa create`
 * ({"type":"regauth_service_account","principal","key_id","server","issuer",
 * "private_key"}), refused when group or others may read it, and the JWT
 * bearer assertion signed with it (libjwt, ES256, 60 s, random jti).
 */
#ifndef HELPER_SOURCE_KEY_H
#define HELPER_SOURCE_KEY_H

#include "util.h"

#define SOURCE_KEY_ASSERTION_TTL 60

struct source_key {
	char *path;
	char *principal;   /* "serviceaccount/NAME" */
	char *key_id;
	char *server;      /* may be NULL */
	char *issuer;      /* the assertion's audience */
	char *private_key; /* PEM; a secret */
};

/* Load and check a key file; -1 with e naming the file and what is wrong. */
int source_key_load(const char *path, struct source_key *k, struct err *e);
/* A fresh signed assertion (caller frees with util_free_secret); NULL on error. */
char *source_key_assertion(const struct source_key *k, struct err *e);
void source_key_free(struct source_key *k);

#endif
