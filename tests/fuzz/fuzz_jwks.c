/*
 * libFuzzer harness for oidc.h with static keys (no network). The input is
 * read as a JWKS: oidc_keys_parse must accept or refuse it without a crash,
 * and every kid it names is either found with a fitting key or not at all.
 * It is then a token for oidc_verify against an issuer whose P-256 key is
 * made here, so it can never verify. A JSON object input is also signed as
 * claims (iss and aud filled in when absent), so the claim checks decide:
 * what they accept must really meet them, and is flattened for policies.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ec.h>
#include <openssl/evp.h>

#include "oidc.h"

#define FUZZ_ISSUER	"https://fuzz.example/oidc"
#define FUZZ_NOW	1700000000LL

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static EVP_PKEY *fuzz_key;
static char *fuzz_header_b64;
static struct oidc_issuer fuzz_iss;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char hdr[] = "{\"alg\":\"ES256\",\"kid\":\"k1\"}";
	static char *auds[] = { "regauth" };
	struct err e;
	json_t *jwks;

	(void)argc;
	(void)argv;
	if ((fuzz_key = EVP_EC_gen("P-256")) == NULL ||
	    (fuzz_header_b64 = jws_b64url_encode_new(
	    (const unsigned char *)hdr, sizeof(hdr) - 1)) == NULL ||
	    (jwks = json_pack("{s:[o]}", "keys", jws_jwk_new(fuzz_key,
	    JWS_ES256, "k1"))) == NULL ||
	    (fuzz_iss.keys = oidc_keys_parse(jwks, &e)) == NULL) {
		fprintf(stderr, "fuzz_jwks: cannot make the issuer\n");
		abort();
	}
	json_decref(jwks);
	fuzz_iss.name = "fuzz";
	fuzz_iss.issuer = FUZZ_ISSUER;
	fuzz_iss.key_prefix = &FUZZ_ISSUER[8];
	fuzz_iss.audiences = auds;
	fuzz_iss.naudiences = 1;
	fuzz_iss.cache_ttl = OIDC_JWKS_TTL;
	return 0;
}

static void
parse_jwks(const json_t *doc)
{
	struct oidc_keys *k;
	const json_t *jwk;
	const char *kid;
	enum jws_alg alg;
	EVP_PKEY *key;
	struct err e;
	size_t i;

	memset(&e, 0, sizeof(e));
	if ((k = oidc_keys_parse(doc, &e)) == NULL) {
		if (e.msg[0] == '\0')
			abort();
		return;
	}
	json_array_foreach(json_object_get(doc, "keys"), i, jwk) {
		if ((kid = json_string_value(json_object_get(jwk, "kid"))) ==
		    NULL)
			continue;
		alg = (enum jws_alg)-1;
		if ((key = oidc_keys_find(k, kid, &alg)) == NULL)
			continue;
		if ((alg == JWS_ES256 && EVP_PKEY_get_base_id(key) !=
		    EVP_PKEY_EC) || (alg == JWS_RS256 &&
		    (EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA ||
		    EVP_PKEY_get_bits(key) < 2048)))
			abort();
	}
	(void)oidc_keys_find(k, NULL, &alg);
	oidc_keys_unref(oidc_keys_ref(k));
	oidc_keys_unref(k);
}

/* What oidc_verify accepted must meet the checks of oidc.h. */
static void
check_accepted(const json_t *c)
{
	const json_t *exp = json_object_get(c, "exp"), *sub;
	const json_t *nbf = json_object_get(c, "nbf");
	const json_t *iat = json_object_get(c, "iat");
	const char *iss = json_string_value(json_object_get(c, "iss"));
	json_t *ctx;
	struct err e;

	sub = json_object_get(c, "sub");
	if (iss == NULL || strcmp(iss, FUZZ_ISSUER) != 0 ||
	    !json_is_string(sub) ||
	    json_string_length(sub) == 0 || !json_is_integer(exp) ||
	    json_integer_value(exp) <= FUZZ_NOW - OIDC_LEEWAY ||
	    (nbf != NULL && (!json_is_integer(nbf) ||
	    json_integer_value(nbf) > FUZZ_NOW + OIDC_LEEWAY)) ||
	    (iat != NULL && (!json_is_integer(iat) ||
	    json_integer_value(iat) > FUZZ_NOW + OIDC_LEEWAY)))
		abort();
	if ((ctx = json_object()) == NULL)
		return;
	if (oidc_flatten_claims(c, "oidc:", ctx, &e) == -1 &&
	    json_object_size(ctx) != 0)
		abort();
	json_decref(ctx);
}

static void
sign_and_verify(json_t *doc)
{
	const struct oidc_issuer *which = NULL;
	json_t *claims = NULL;
	struct err e;
	char *text, *tok;

	if (json_object_get(doc, "iss") == NULL)
		json_object_set_new(doc, "iss", json_string(FUZZ_ISSUER));
	if (json_object_get(doc, "aud") == NULL)
		json_object_set_new(doc, "aud", json_string("regauth"));
	if ((text = json_dumps(doc, JSON_COMPACT)) == NULL)
		return;
	memset(&e, 0, sizeof(e));
	tok = strlen(text) <= 8192 ? jws_sign_new(fuzz_key, JWS_ES256,
	    fuzz_header_b64, text, strlen(text), &e) : NULL;
	free(text);
	if (tok == NULL)
		return;
	if (oidc_verify(&fuzz_iss, 1, tok, FUZZ_NOW, &which, &claims, &e) ==
	    0) {
		if (which != &fuzz_iss || claims == NULL)
			abort();
		check_accepted(claims);
		json_decref(claims);
	} else if (claims != NULL || e.msg[0] == '\0')
		abort();
	free(tok);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *doc, *claims = NULL, *ctx;
	struct err e;
	char *tok;

	memset(&e, 0, sizeof(e));
	if ((doc = util_json_loadb((const char *)data, size, "fuzz", &e)) !=
	    NULL) {
		parse_jwks(doc);
		if (json_is_object(doc)) {
			if ((ctx = json_object()) != NULL) {
				(void)oidc_flatten_claims(doc, "", ctx, &e);
				json_decref(ctx);
			}
			sign_and_verify(doc);
		}
		json_decref(doc);
	}

	/* As a token: the key is secret, so nothing verifies. */
	if ((tok = malloc(size + 1)) == NULL)
		return 0;
	memcpy(tok, data, size);
	tok[size] = '\0';
	memset(&e, 0, sizeof(e));
	if (oidc_verify(&fuzz_iss, 1, tok, FUZZ_NOW, NULL, &claims, &e) != -1 ||
	    claims != NULL || e.msg[0] == '\0')
		abort();
	free(tok);
	return 0;
}
