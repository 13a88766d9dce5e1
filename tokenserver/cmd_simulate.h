/*
 * `regauthd policy simulate`: what /token would grant, and why.
 */
#ifndef REGAUTHD_CMD_SIMULATE_H
#define REGAUTHD_CMD_SIMULATE_H

/*
 * regauthd policy simulate -c DIR --principal TYPE/NAME|anonymous
 *     --scope SCOPE... [--service S] [--context KEY=VALUE]... [--json]
 * (argv[0] is "simulate"). Returns the exit status: 0 when every asked
 * scope action is allowed, 1 when one is not (or on invalid input), 2 on a
 * usage or configuration error. Errors are printed.
 */
int cmd_policy_simulate(int argc, char **argv);

#endif
