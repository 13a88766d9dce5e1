/*
 * `regauthd sa ...`: service accounts and their keys.
 */
#ifndef REGAUTHD_CMD_SA_H
#define REGAUTHD_CMD_SA_H

/*
 * regauthd sa create -c DIR NAME [--policy P]... [--group G]...
 *     [--boundary P] [--tag K=V]... --key-out FILE
 * regauthd sa key add -c DIR NAME --key-out FILE
 * regauthd sa key list -c DIR NAME [--json]
 * regauthd sa key enable|disable|delete -c DIR NAME KEY_ID
 * (argv[0] is "sa"). Returns the exit status; errors are printed.
 */
int cmd_sa(int argc, char **argv);

#endif
