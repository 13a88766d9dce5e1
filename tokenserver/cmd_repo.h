/*
 * `regauthd repo-policy ...`: repository (resource) policy files.
 */
#ifndef REGAUTHD_CMD_REPO_H
#define REGAUTHD_CMD_REPO_H

#include <stddef.h>

/*
 * The file name (without .json) that `repo-policy set` gives the policy of
 * `pattern`: a valid config name, one per pattern (see regauthd.json(5)).
 * -1 when `pattern` is not a repository name or pattern.
 */
int cmd_repo_file_name(const char *pattern, char *out, size_t sz);

/*
 * regauthd repo-policy set -c DIR REPOSITORY_PATTERN FILE
 * (argv[0] is "set"). Returns the exit status; errors are printed.
 */
int cmd_repo_policy_set(int argc, char **argv);

#endif
