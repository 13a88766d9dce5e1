/*
 * Dropping root for good. The order is the classic one: supplementary
 * groups, then the group ids, then the user ids (after which the group
 * calls would no longer be allowed), then proof that none of it can be
 * undone. glibc applies set*id to every thread of the process, so threads
 * started before the drop (libmicrohttpd's) lose root with the rest.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "privs.h"

int
privs_no_new_privs(struct err *e)
{
	if (prctl(PR_SET_NO_NEW_PRIVS, 1L, 0L, 0L, 0L) == -1 ||
	    prctl(PR_GET_NO_NEW_PRIVS, 0L, 0L, 0L, 0L) != 1) {
		err_set(e, "cannot set no_new_privs: %s", strerror(errno));
		return -1;
	}
	return 0;
}

int
privs_resolve(const char *user, const char *group, uid_t *uid, gid_t *gid,
    struct err *e)
{
	struct passwd pw, *pwp = NULL;
	struct group gr, *grp = NULL;
	char buf[16384];
	int r;

	*uid = (uid_t)-1;
	*gid = (gid_t)-1;
	if (user == NULL || user[0] == '\0') {
		if (group != NULL && group[0] != '\0') {
			err_set(e, "group \"%s\" set without a user", group);
			return -1;
		}
		return 0;
	}
	if ((r = getpwnam_r(user, &pw, buf, sizeof(buf), &pwp)) != 0 ||
	    pwp == NULL) {
		err_set(e, "user \"%s\": %s", user, r ? strerror(r) :
		    "no such user");
		return -1;
	}
	*uid = pw.pw_uid;
	*gid = pw.pw_gid;
	if (group != NULL && group[0] != '\0') {
		if ((r = getgrnam_r(group, &gr, buf, sizeof(buf), &grp)) != 0 ||
		    grp == NULL) {
			err_set(e, "group \"%s\": %s", group, r ? strerror(r) :
			    "no such group");
			return -1;
		}
		*gid = gr.gr_gid;
	}
	if (*uid == 0) {
		err_set(e, "user \"%s\" is root: name an unprivileged user",
		    user);
		return -1;
	}
	return 0;
}

/* All three user ids and all three group ids are what was asked. */
static int
ids_are(uid_t uid, gid_t gid)
{
	uid_t ru, eu, su;
	gid_t rg, eg, sg;

	return getresuid(&ru, &eu, &su) == 0 && getresgid(&rg, &eg, &sg) == 0 &&
	    ru == uid && eu == uid && su == uid &&
	    rg == gid && eg == gid && sg == gid;
}

int
privs_drop(uid_t uid, gid_t gid, struct err *e)
{
	gid_t groups[1];

	if (uid == 0) {
		err_set(e, "refusing to \"drop\" to root");
		return -1;
	}
	if (geteuid() != 0) {
		if (ids_are(uid, gid))
			return 0;
		err_set(e, "cannot switch to uid %u gid %u: not started as "
		    "root", (unsigned)uid, (unsigned)gid);
		return -1;
	}
	groups[0] = gid;
	if (setgroups(1, groups) == -1) {
		err_set(e, "setgroups(%u): %s", (unsigned)gid, strerror(errno));
		return -1;
	}
	if (setresgid(gid, gid, gid) == -1) {
		err_set(e, "setresgid(%u): %s", (unsigned)gid, strerror(errno));
		return -1;
	}
	if (setresuid(uid, uid, uid) == -1) {
		err_set(e, "setresuid(%u): %s", (unsigned)uid, strerror(errno));
		return -1;
	}
	if (!ids_are(uid, gid)) {
		err_set(e, "user and group ids are not %u/%u after the switch",
		    (unsigned)uid, (unsigned)gid);
		return -1;
	}
	/* No way back: each of these must fail now. */
	if (setuid(0) != -1 || seteuid(0) != -1 ||
	    (gid != 0 && (setgid(0) != -1 || setegid(0) != -1)) ||
	    setgroups(0, NULL) != -1) {
		err_set(e, "root could be regained after the switch to uid %u",
		    (unsigned)uid);
		return -1;
	}
	return 0;
}
