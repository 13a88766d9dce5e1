/*
 * crypto_lazy: libjwt and libcrypto with dlopen (see crypto_lazy.h).
 */
#include <dlfcn.h>
#include <limits.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "crypto_lazy.h"

/*
 * Linked at build time, libcrypto and libjwt (with libb64) cost ~1.3 ms at
 * every exec, most of a cached `get`; like libcurl in exchange.c they are
 * opened only when a call needs them.
 */
static struct {
	void *lib;
	struct crypto_lazy_jwt f;
} J;

static struct {
	void *lib;
	__typeof__(RAND_bytes) *rand_bytes;
	__typeof__(EVP_Digest) *digest;
	__typeof__(EVP_sha256) *sha256;
} X;

#define SYM(lib, field, name) \
	(*(void **)(&(field)) = dlsym(lib, name)) == NULL

/* dlopen soname once; -1 with e set (what is missing, from dlerror). */
static int
open_lib(const char *what, const char *soname, void **lib, struct err *e)
{
	if (*lib != NULL)
		return 0;
	*lib = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
	if (*lib == NULL) {
		util_err(e, "cannot load %s: %s", what, dlerror());
		return -1;
	}
	return 0;
}

static void
close_lib(const char *what, void **lib, struct err *e)
{
	util_err(e, "cannot load %s: %s", what, dlerror());
	dlclose(*lib);
	*lib = NULL;
}

const struct crypto_lazy_jwt *
crypto_lazy_jwt(struct err *e)
{
	if (J.lib != NULL)
		return &J.f;
	if (open_lib("libjwt", "libjwt.so.0", &J.lib, e) == -1)
		return NULL;
	if (SYM(J.lib, J.f.new, "jwt_new") ||
	    SYM(J.lib, J.f.set_alg, "jwt_set_alg") ||
	    SYM(J.lib, J.f.add_header, "jwt_add_header") ||
	    SYM(J.lib, J.f.add_grant, "jwt_add_grant") ||
	    SYM(J.lib, J.f.add_grant_int, "jwt_add_grant_int") ||
	    SYM(J.lib, J.f.encode_str, "jwt_encode_str") ||
	    SYM(J.lib, J.f.free, "jwt_free")) {
		close_lib("libjwt", &J.lib, e);
		return NULL;
	}
	return &J.f;
}

static int
libcrypto(struct err *e)
{
	if (X.lib != NULL)
		return 0;
	if (open_lib("libcrypto", "libcrypto.so.3", &X.lib, e) == -1)
		return -1;
	if (SYM(X.lib, X.rand_bytes, "RAND_bytes") ||
	    SYM(X.lib, X.digest, "EVP_Digest") ||
	    SYM(X.lib, X.sha256, "EVP_sha256")) {
		close_lib("libcrypto", &X.lib, e);
		return -1;
	}
	return 0;
}

int
crypto_lazy_random(void *buf, size_t n, struct err *e)
{
	if (libcrypto(e) == -1)
		return -1;
	if (n > INT_MAX || X.rand_bytes(buf, (int)n) != 1) {
		util_err(e, "no random bytes for the assertion");
		return -1;
	}
	return 0;
}

int
crypto_lazy_sha256(const void *p, size_t n, unsigned char md[32],
    struct err *e)
{
	unsigned int len = 0;

	if (libcrypto(e) == -1)
		return -1;
	if (X.digest(p, n, md, &len, X.sha256(), NULL) != 1 || len != 32) {
		util_err(e, "SHA-256 failed in libcrypto");
		return -1;
	}
	return 0;
}
