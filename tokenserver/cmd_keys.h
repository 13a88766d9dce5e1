/*
 * `regauthd keys ...`: the signing keys of a configuration directory.
 */
#ifndef REGAUTHD_CMD_KEYS_H
#define REGAUTHD_CMD_KEYS_H

/*
 * regauthd keys list -c DIR [--json]
 * regauthd keys rotate -c DIR [--activate-after SECONDS]
 *     [--algorithm ES256|RS256] [--json]
 * regauthd keys prune -c DIR
 * (argv[0] is "keys"). Returns the exit status; errors are printed.
 */
int cmd_keys(int argc, char **argv);

#endif
