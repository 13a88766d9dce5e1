/*
 * libFuzzer harness for jws.h. A P-256 key is generated once per process,
 * so no input the fuzzer makes can carry a real signature: jws_verify must
 * reject every one. A JSON object input is also signed with the key and
 * must then verify, and no longer verify once one byte is changed.
 * base64url must round-trip both ways (decoding is canonical).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ec.h>
#include <openssl/evp.h>

#include "jws.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static EVP_PKEY *fuzz_key;
static char *fuzz_header_b64;

static EVP_PKEY *
lookup(void *arg, const json_t *header, enum jws_alg *alg)
{
	(void)arg;
	(void)header;
	*alg = JWS_ES256;
	return fuzz_key;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char hdr[] = "{\"alg\":\"ES256\",\"typ\":\"JWT\"}";

	(void)argc;
	(void)argv;
	if ((fuzz_key = EVP_EC_gen("P-256")) == NULL ||
	    (fuzz_header_b64 = jws_b64url_encode_new(
	    (const unsigned char *)hdr, sizeof(hdr) - 1)) == NULL) {
		fprintf(stderr, "fuzz_jws: cannot make the key\n");
		abort();
	}
	return 0;
}

static void
roundtrip_b64(const uint8_t *data, size_t size)
{
	unsigned char *dec;
	char *enc;
	size_t n = 0;

	/* Any bytes -> encode -> decode gives them back. */
	if ((enc = jws_b64url_encode_new(data, size)) == NULL)
		abort();
	if ((dec = jws_b64url_decode_new(enc, strlen(enc), &n)) == NULL ||
	    n != size || memcmp(dec, data, size) != 0)
		abort();
	free(dec);
	free(enc);

	/* Decodable text -> decode -> encode gives the same text. */
	if ((dec = jws_b64url_decode_new((const char *)data, size, &n)) != NULL) {
		if ((enc = jws_b64url_encode_new(dec, n)) == NULL)
			abort();
		if (strlen(enc) != size || memcmp(enc, data, size) != 0)
			abort();
		free(enc);
		free(dec);
	}
}

static void
sign_and_verify(const uint8_t *data, size_t size)
{
	json_t *doc, *h = NULL, *c = NULL;
	struct err e;
	char *tok;
	size_t len, pos;

	/* The signed token must stay under JWS_MAX_TOKEN. */
	if (size > 8192)
		return;
	memset(&e, 0, sizeof(e));
	if ((doc = util_json_loadb((const char *)data, size, "fuzz", &e)) ==
	    NULL)
		return;
	if (!json_is_object(doc)) {
		json_decref(doc);
		return;
	}
	if ((tok = jws_sign_new(fuzz_key, JWS_ES256, fuzz_header_b64,
	    (const char *)data, size, &e)) == NULL)
		abort();
	len = strlen(tok);
	if (jws_verify(tok, len, lookup, NULL, &h, &c, &e) != 0 ||
	    h == NULL || c == NULL || !json_equal(c, doc))
		abort();
	json_decref(h);
	json_decref(c);
	h = c = NULL;

	/* One changed byte anywhere: the token no longer verifies. */
	pos = (size > 0 ? data[0] * 131u + data[size - 1] : 0) % len;
	tok[pos] = tok[pos] == 'A' ? 'B' : 'A';
	if (jws_verify(tok, len, lookup, NULL, &h, &c, &e) != -1 ||
	    h != NULL || c != NULL)
		abort();
	free(tok);
	json_decref(doc);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *h = NULL, *c = NULL;
	struct err e;
	char *tok;

	/* A copy of exactly `size` bytes: ASan sees any read past the end. */
	if ((tok = malloc(size ? size : 1)) == NULL)
		return 0;
	memcpy(tok, data, size);
	memset(&e, 0, sizeof(e));
	if (jws_verify(tok, size, lookup, NULL, &h, &c, &e) != -1)
		abort();		/* forged: the key is secret */
	if (h != NULL || c != NULL || e.msg[0] == '\0')
		abort();
	free(tok);

	roundtrip_b64(data, size);
	sign_and_verify(data, size);
	return 0;
}
