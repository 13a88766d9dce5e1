/*
 * serve's privileges: no_new_privs always; started as root with a user to
 * run as, a one-way switch to that user once the configuration is read and
 * the socket bound.
 */
#ifndef REGAUTHD_PRIVS_H
#define REGAUTHD_PRIVS_H

#include <sys/types.h>
#include "util.h"

/* PR_SET_NO_NEW_PRIVS: no exec may gain privileges (setuid, file caps). */
int privs_no_new_privs(struct err *e);

/*
 * Resolve `user` (and `group`, else the user's primary group) to ids.
 * NULL or "" user: nothing to resolve (0, *uid = (uid_t)-1).
 */
int privs_resolve(const char *user, const char *group, uid_t *uid, gid_t *gid,
    struct err *e);

/*
 * Become uid/gid for good: supplementary groups set to `gid` alone, then
 * real, effective and saved ids; then check that root cannot be regained.
 * When not root, succeeds only if already running as uid/gid. A uid of 0
 * is refused: that is no drop.
 */
int privs_drop(uid_t uid, gid_t gid, struct err *e);

#endif
