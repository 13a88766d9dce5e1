/*
 * Positions in JSON text. jansson says where a syntax error is but not
 * where a value is; this module scans the same text again, strictly and
 * without recursion, and remembers the line and column (1-based, columns
 * in bytes) of every value and every object member's key. Values are
 * addressed by JSON Pointer (RFC 6901): "/Statement/0/Condition/
 * StringEquals/aws:username", array indices as numbers, "~0" for '~' and
 * "~1" for '/'. "" is the whole document.
 */
#ifndef REGAUTHD_JSONPOS_H
#define REGAUTHD_JSONPOS_H

#include <stddef.h>

#include "util.h"

#define JSONPOS_MAX_DEPTH UTIL_JSON_MAX_DEPTH	/* nested objects and arrays */

struct jsonpos;

struct jsonpos_loc {
	int	line, col;		/* the value's first byte */
	int	key_line, key_col;	/* its key's opening quote; 0 if none */
};

/*
 * Scan `buf` (`len` bytes, at most UTIL_JSON_MAX_BYTES). On a syntax error,
 * nesting deeper than JSONPOS_MAX_DEPTH or no memory: NULL, `e` set, and
 * the offending position in *errloc (may be NULL).
 */
struct jsonpos *jsonpos_new(const char *buf, size_t len,
    struct jsonpos_loc *errloc, struct err *e);
void jsonpos_free(struct jsonpos *jp);

/*
 * Where is `path`? Returns 0 with `loc` filled when it names a value; 1
 * when it does not, with `loc` naming the deepest value on the way (its
 * nearest existing ancestor); -1 when `path` is not a JSON Pointer.
 */
int jsonpos_find(const struct jsonpos *jp, const char *path,
    struct jsonpos_loc *loc);

/*
 * Append "/" and `token` (escaped) or "/" and `index` to the NUL-terminated
 * pointer in `path`. When it does not fit, `path` is left unchanged and -1
 * returned, so a too-long pointer still names an ancestor.
 */
int jsonpos_path_add(char *path, size_t sz, const char *token);
int jsonpos_path_add_index(char *path, size_t sz, size_t index);

#endif
