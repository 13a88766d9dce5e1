/*
 * Small helpers shared by the helper's modules: the error contract, the
 * debug trace (REGAUTH_LOG=debug, never a secret), files written atomically,
 * bounded reads, base64url and secret wiping.
 */
#ifndef HELPER_UTIL_H
#define HELPER_UTIL_H

#include <stddef.h>
#include <sys/types.h>

struct err {
	char msg[200];
};

void util_err(struct err *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* A line on stderr when REGAUTH_LOG=debug. Never pass a secret. */
void util_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int util_debug_on(void);

/*
 * Read at most max bytes of a file (NUL-terminated). -1 with e set if the
 * file is missing (errno ENOENT kept), unreadable or larger than max.
 */
int util_read_file(const char *path, size_t max, char **out, size_t *outlen,
    struct err *e);
/* Read stdin to EOF, at most max bytes; NULL if larger or on error. */
char *util_read_stdin(size_t max, size_t *outlen);
/*
 * Write data to path through a temporary file in the same folder, fsync and
 * rename: readers see the old or the new file, never a part.
 */
int util_write_atomic(const char *path, const void *data, size_t len,
    mode_t mode, struct err *e);
/* mkdir -p, the last component with mode; refuses a non-directory. */
int util_mkdir_p(const char *path, mode_t mode, struct err *e);
/* Trim ASCII white space at both ends, in place. */
char *util_trim(char *s);
/* Decode base64url (no padding needed); caller frees. NULL if malformed. */
unsigned char *util_b64url_decode(const char *in, size_t inlen,
    size_t *outlen);
/*
 * Overwrite n bytes with zeros in a way the compiler may not elide (glibc's
 * explicit_bzero: libcrypto's OPENSSL_cleanse would load libcrypto on paths
 * that neither sign nor hash).
 */
void util_wipe(void *p, size_t n);
/* Wipe and free a NUL-terminated secret; NULL is a no-op. */
void util_free_secret(char *s);
/* A path joined from a directory and a name; caller frees. */
char *util_path_join(const char *dir, const char *name);



/* The iat and exp claims of a JWT, unverified (0 when absent). -1 if not a JWT. */
int util_jwt_times(const char *tok, long long *iat, long long *exp);
#endif
