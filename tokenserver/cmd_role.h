/*
 * `regauthd role ...` and `regauthd oidc ...`: roles assumed with OIDC
 * tokens, and the issuers trusted to sign them.
 */
#ifndef REGAUTHD_CMD_ROLE_H
#define REGAUTHD_CMD_ROLE_H

/* argv[0] is "role" / "oidc". Return the exit status; errors are printed. */
int cmd_role(int argc, char **argv);
int cmd_oidc(int argc, char **argv);

#endif
