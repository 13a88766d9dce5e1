/*
 * What every command of regauthd shares: exit codes and the one-line
 * `regauthd: ...` error form (CONTRACT.md).
 */
#ifndef REGAUTHD_CLI_H
#define REGAUTHD_CLI_H

#include <stddef.h>
#include <jansson.h>
#include "util.h"

#define EXIT_DENIED	1	/* denied, not found, invalid input */
#define EXIT_USAGE	2	/* usage or runtime error */

/* "regauthd: MESSAGE\n" on stderr. */
void cli_complain(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The account of DIR/regauthd.json, validated as the server would. */
int cli_config_account(const char *dir, char *out, size_t sz, struct err *e);

/*
 * A JSON document from FILE, or stdin for "-" (bounded, duplicate keys
 * refused); *text gets its text (free it) for positions in messages.
 */
json_t *cli_load_doc(const char *file, char **text, size_t *len,
    struct err *e);

#endif
