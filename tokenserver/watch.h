/*
 * serve --watch: inotify on the configuration directory and every folder
 * under it (folders made later too), plus the folders of TLS files kept
 * elsewhere. A burst of changes is debounced (WATCH_QUIET_MS without
 * events) and then answered with one call of the reload function, on the
 * watcher's own thread.
 */
#ifndef REGAUTHD_WATCH_H
#define REGAUTHD_WATCH_H

#include "util.h"

#define WATCH_QUIET_MS		200	/* no event for this long: reload */
#define WATCH_MAX_DELAY_MS	2000	/* ... or at the latest this late */
#define WATCH_MIN_GAP_MS	500	/* between two reloads it triggers */
#define WATCH_MAX_DIRS		512
#define WATCH_MAX_DEPTH		4	/* folders below the directory */

struct watch;

/*
 * Start watching `dir`. `files` (NULL-terminated, may be NULL) are files
 * outside `dir` whose changes also count (the TLS certificate and key):
 * their folders are watched for their names alone. `reload` is called with
 * `arg` after each settled burst. Signals stay blocked on the thread.
 */
struct watch *watch_start(const char *dir, const char *const *files,
    void (*reload)(void *), void *arg, struct err *e);

/* Stop the thread (a reload it runs finishes first) and free; NULL: no-op. */
void watch_stop(struct watch *w);

/*
 * Does a change to a file named `name` matter? Editors' and regauthd's own
 * temporary files (dot files, *~, *.swp, *.swx, *.tmp, 4913) and logs
 * (*.log) do not.
 */
int watch_name_matters(const char *name);

#endif
