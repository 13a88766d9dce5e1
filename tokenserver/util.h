/*
 * Small helpers every module of regauthd uses: the error contract, bounded
 * number parsing, whole-file reads, secret files, JSON loading with limits.
 */
#ifndef REGAUTHD_UTIL_H
#define REGAUTHD_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

/* The one error contract: functions return 0/-1 (or NULL) and fill this. */
struct err {
	char msg[200];
};

void err_set(struct err *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Parse a decimal integer in [min, max]; the whole string must be used. */
int util_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out);

/*
 * Read a whole file (at most `max` bytes, else error). The buffer is
 * NUL-terminated; the caller frees it (util_secure_free for secrets).
 */
char *util_read_file(const char *path, size_t max, size_t *len, struct err *e);

/*
 * Write `len` bytes to `path` atomically (temporary file, fsync, rename).
 * `mode` is applied before any byte is written. With `excl`, an existing
 * file is an error.
 */
int util_write_file(const char *path, const void *buf, size_t len,
    int mode, int excl, struct err *e);

/* mkdir -p with `mode` for every folder it creates. */
int util_mkdirs(const char *path, int mode, struct err *e);

/* Wipe then free: for passwords, tokens, keys, decoded Authorization headers. */
void util_secure_free(void *p, size_t len);
void util_secure_free_str(char *s);

/*
 * Like util_read_file for a private key or credential file: refuses a
 * symbolic link, and a file whose mode grants anything to group or others
 * (the message names the file and its mode in octal).
 */
char *util_read_secret_file(const char *path, size_t max, size_t *len,
    struct err *e);

/* Limits of util_json_loadb and util_json_load_file. */
#define UTIL_JSON_MAX_BYTES (1024 * 1024)
#define UTIL_JSON_MAX_DEPTH 32

/*
 * Load a JSON file: duplicate keys rejected, nesting depth and size bounded.
 * On error the message names FILE:LINE:COLUMN.
 */
json_t *util_json_load_file(const char *path, struct err *e);
json_t *util_json_loadb(const char *buf, size_t len, const char *name,
    struct err *e);

/* Dump JSON to a file atomically (pretty, sorted keys, trailing newline). */
int util_json_write_file(const char *path, const json_t *j, int mode,
    int excl, struct err *e);

/* Constant-time string equality (lengths leak, contents do not). */
int util_streq_ct(const char *a, const char *b);

/* Current time in seconds, and an RFC 3339 UTC rendering of a time. */
int64_t util_now(void);
void util_rfc3339(int64_t t, char out[32]);

#endif
