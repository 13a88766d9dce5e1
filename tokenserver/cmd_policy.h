/*
 * `regauthd policy check` (POLICY.md "Files"): the lint of policy files or
 * of a whole configuration directory.
 */
#ifndef REGAUTHD_CMD_POLICY_H
#define REGAUTHD_CMD_POLICY_H

#include <jansson.h>

/*
 * argv[0] is "check". Prints one line per finding on stdout; returns the
 * exit status: 1 when any finding is an error, else 0; 2 on a usage error.
 */
int cmd_policy_check(int argc, char **argv);

/*
 * Call fn(arg, URL, POINTER) for each Federated principal of IAM document
 * `doc`; POINTER is its JSON Pointer, under `prefix`.
 */
void cmd_policy_federated(const json_t *doc, const char *prefix,
    void (*fn)(void *, const char *, const char *), void *arg);

#endif
