/*
 * What every command of regauthd shares: exit codes and the one-line
 * `regauthd: ...` error form (CONTRACT.md).
 */
#ifndef REGAUTHD_CLI_H
#define REGAUTHD_CLI_H

#define EXIT_DENIED	1	/* denied, not found, invalid input */
#define EXIT_USAGE	2	/* usage or runtime error */

/* "regauthd: MESSAGE\n" on stderr. */
void cli_complain(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
