/*
 * The --watch thread. Only events that change what a load reads are asked
 * for (a file closed after writing, created, deleted, renamed in or out):
 * a reload only opens and reads files, so it never wakes the watcher
 * itself, and temporary and log files are ignored by name. Events that
 * arrive while a reload runs start a new burst; WATCH_MIN_GAP_MS keeps
 * reloads apart even if something kept writing into the directory.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "watch.h"

#define DIR_EVENTS	(IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | \
	IN_DELETE | IN_CREATE | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)
#define MAX_NAMES	4	/* names looked for in a folder outside dir */

struct wdir {
	int		 wd;		/* -1: free slot */
	int		 depth;		/* below the directory; -1: outside */
	char		*path;
	char		*names[MAX_NAMES];	/* outside: the names that count */
};

struct watch {
	pthread_t	 thread;
	char		*root;		/* the directory */
	int		 ifd;		/* inotify */
	int		 stopfd;	/* eventfd: stop */
	struct wdir	 dirs[WATCH_MAX_DIRS];
	void		(*reload)(void *);
	void		*arg;
};

/* {"level":LEVEL,"msg":...,"source":"watch"} on stderr. */
static void wlog(const char *level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
wlog(const char *level, const char *fmt, ...)
{
	char msg[512];
	struct buf line;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	buf_init(&line);
	buf_printf(&line, "{\"level\":\"%s\",\"msg\":", level);
	buf_json_string(&line, msg);
	buf_adds(&line, ",\"source\":\"watch\"}\n");
	if (buf_str(&line) != NULL)
		fwrite(line.p, 1, line.len, stderr);
	buf_release(&line);
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

int
watch_name_matters(const char *name)
{
	return name[0] != '\0' && name[0] != '.' && !has_suffix(name, "~") &&
	    !has_suffix(name, ".swp") && !has_suffix(name, ".swx") &&
	    !has_suffix(name, ".tmp") && !has_suffix(name, ".log") &&
	    strcmp(name, "4913") != 0;
}

static struct wdir *
find_wd(struct watch *w, int wd)
{
	size_t i;

	for (i = 0; i < WATCH_MAX_DIRS; i++)
		if (w->dirs[i].wd == wd)
			return &w->dirs[i];
	return NULL;
}

static void
clear_slot(struct wdir *d)
{
	size_t i;

	free(d->path);
	for (i = 0; i < MAX_NAMES; i++)
		free(d->names[i]);
	memset(d, 0, sizeof(*d));
	d->wd = -1;
}

/*
 * Watch one folder; an existing watch of it (the same inode gives the same
 * wd) is kept. Returns its slot, or NULL with `e` set.
 */
static struct wdir *
add_one(struct watch *w, const char *path, int depth, struct err *e)
{
	struct wdir *d;
	int wd;

	if ((wd = inotify_add_watch(w->ifd, path, DIR_EVENTS)) == -1) {
		err_set(e, "--watch: %s: %s", path, strerror(errno));
		return NULL;
	}
	if ((d = find_wd(w, wd)) != NULL)
		return d;
	if ((d = find_wd(w, -1)) == NULL) {
		inotify_rm_watch(w->ifd, wd);
		err_set(e, "--watch: more than %d folders", WATCH_MAX_DIRS);
		return NULL;
	}
	if ((d->path = strdup(path)) == NULL) {
		inotify_rm_watch(w->ifd, wd);
		err_set(e, "out of memory");
		return NULL;
	}
	d->wd = wd;
	d->depth = depth;
	return d;
}

/* A folder of the directory and the folders under it. */
static int
add_tree(struct watch *w, const char *path, int depth, struct err *e)
{
	char sub[PATH_MAX];
	struct dirent *de;
	struct stat st;
	DIR *dh;
	int rc = 0;

	if (add_one(w, path, depth, e) == NULL)
		return -1;
	if (depth >= WATCH_MAX_DEPTH || (dh = opendir(path)) == NULL)
		return 0;
	while ((de = readdir(dh)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name) >=
		    (int)sizeof(sub) || lstat(sub, &st) == -1 ||
		    !S_ISDIR(st.st_mode))
			continue;
		if (add_tree(w, sub, depth + 1, e) == -1)
			rc = -1;
	}
	closedir(dh);
	return rc;
}

/* The folder of `file` (outside the directory), for that name alone. */
static int
add_outside(struct watch *w, const char *file, struct err *e)
{
	char folder[PATH_MAX];
	const char *slash = strrchr(file, '/');
	struct wdir *d;
	size_t i;

	if (slash == NULL || slash[1] == '\0' ||
	    (size_t)(slash - file) >= sizeof(folder))
		return 0;
	if (slash == file)
		snprintf(folder, sizeof(folder), "/");
	else
		snprintf(folder, sizeof(folder), "%.*s", (int)(slash - file),
		    file);
	if ((d = add_one(w, folder, -1, e)) == NULL)
		return -1;
	if (d->depth != -1)
		return 0;	/* inside the directory: every name counts */
	for (i = 0; i < MAX_NAMES; i++) {
		if (d->names[i] != NULL && strcmp(d->names[i], slash + 1) == 0)
			return 0;
		if (d->names[i] == NULL) {
			if ((d->names[i] = strdup(slash + 1)) == NULL) {
				err_set(e, "out of memory");
				return -1;
			}
			return 0;
		}
	}
	return 0;
}

/* Does this event ask for a reload? New folders get watched on the way. */
static int
handle(struct watch *w, const struct inotify_event *ev)
{
	struct wdir *d;
	char sub[PATH_MAX];
	struct err e;
	size_t i;

	if (ev->mask & IN_Q_OVERFLOW) {		/* lost events: look again */
		if (add_tree(w, w->root, 0, &e) == -1)
			wlog("warning", "%s", e.msg);
		return 1;
	}
	if ((d = find_wd(w, ev->wd)) == NULL)
		return 0;
	if (ev->mask & IN_IGNORED) {		/* the folder went away */
		clear_slot(d);
		return 0;
	}
	if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF))
		return 1;
	/*
	 * A Kubernetes ConfigMap or Secret volume: the kubelet writes a new
	 * timestamped folder and renames a "..data" symlink onto the old one;
	 * the files are symlinks through it, so that rename is the change.
	 */
	if (ev->len > 0 && strcmp(ev->name, "..data") == 0 &&
	    (ev->mask & (IN_MOVED_TO | IN_CREATE)))
		return 1;
	if (ev->len == 0 || !watch_name_matters(ev->name))
		return 0;
	if (d->depth == -1) {
		for (i = 0; i < MAX_NAMES && d->names[i] != NULL; i++)
			if (strcmp(d->names[i], ev->name) == 0)
				return 1;
		return 0;
	}
	if ((ev->mask & IN_ISDIR) && (ev->mask & (IN_CREATE | IN_MOVED_TO)) &&
	    d->depth < WATCH_MAX_DEPTH &&
	    snprintf(sub, sizeof(sub), "%s/%s", d->path, ev->name) <
	    (int)sizeof(sub) && add_tree(w, sub, d->depth + 1, &e) == -1)
		wlog("warning", "%s", e.msg);
	return 1;
}

/* When a pending burst is due: settled, or waited long enough, and apart. */
static int64_t
due_at(int64_t first, int64_t last, int64_t reloaded)
{
	int64_t due = last + WATCH_QUIET_MS;

	if (due > first + WATCH_MAX_DELAY_MS)
		due = first + WATCH_MAX_DELAY_MS;
	if (due < reloaded + WATCH_MIN_GAP_MS)
		due = reloaded + WATCH_MIN_GAP_MS;
	return due;
}

/* Read every queued event; 1 when one of them asks for a reload. */
static int
drain(struct watch *w)
{
	char buf[64 * 1024]
	    __attribute__((aligned(__alignof__(struct inotify_event))));
	const struct inotify_event *ev;
	ssize_t n;
	char *p;
	int want = 0;

	while ((n = read(w->ifd, buf, sizeof(buf))) > 0)
		for (p = buf; p < buf + n; p += sizeof(*ev) + ev->len) {
			ev = (const struct inotify_event *)(void *)p;
			want |= handle(w, ev);
		}
	return want;
}

static void *
run(void *arg)
{
	struct watch *w = arg;
	struct pollfd pfd[2];
	int64_t first = 0, last = 0, reloaded = 0, now;
	int pending = 0, timeout;

	pfd[0].fd = w->ifd;
	pfd[0].events = POLLIN;
	pfd[1].fd = w->stopfd;
	pfd[1].events = POLLIN;
	for (;;) {
		timeout = -1;
		if (pending) {
			now = now_ms();
			timeout = (int)(due_at(first, last, reloaded) - now);
			if (timeout < 0)
				timeout = 0;
		}
		if (poll(pfd, 2, timeout) == -1 && errno != EINTR)
			break;
		if (pfd[1].revents & POLLIN)
			break;
		if ((pfd[0].revents & POLLIN) && drain(w)) {
			last = now_ms();
			if (!pending)
				first = last;
			pending = 1;
		}
		if (pending && now_ms() >= due_at(first, last, reloaded)) {
			pending = 0;
			w->reload(w->arg);
			reloaded = now_ms();
		}
	}
	return NULL;
}

struct watch *
watch_start(const char *dir, const char *const *files,
    void (*reload)(void *), void *arg, struct err *e)
{
	struct watch *w;
	size_t i;
	int r;

	if ((w = calloc(1, sizeof(*w))) == NULL) {
		err_set(e, "out of memory");
		return NULL;
	}
	for (i = 0; i < WATCH_MAX_DIRS; i++)
		w->dirs[i].wd = -1;
	w->stopfd = -1;
	w->reload = reload;
	if ((w->root = strdup(dir)) == NULL) {
		free(w);
		err_set(e, "out of memory");
		return NULL;
	}
	w->arg = arg;
	if ((w->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) == -1 ||
	    (w->stopfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1) {
		err_set(e, "--watch: %s", strerror(errno));
		goto fail;
	}
	if (add_tree(w, dir, 0, e) == -1)
		goto fail;
	for (i = 0; files != NULL && files[i] != NULL; i++)
		if (add_outside(w, files[i], e) == -1)
			goto fail;
	if ((r = pthread_create(&w->thread, NULL, run, w)) != 0) {
		err_set(e, "--watch: %s", strerror(r));
		goto fail;
	}
	return w;
fail:
	if (w->ifd != -1)
		close(w->ifd);
	if (w->stopfd != -1)
		close(w->stopfd);
	for (i = 0; i < WATCH_MAX_DIRS; i++)
		clear_slot(&w->dirs[i]);
	free(w->root);
	free(w);
	return NULL;
}

void
watch_stop(struct watch *w)
{
	uint64_t one = 1;
	size_t i;

	if (w == NULL)
		return;
	if (write(w->stopfd, &one, sizeof(one)) != (ssize_t)sizeof(one)) {
		/* The thread still runs: leave it its memory. */
		wlog("error", "--watch: cannot stop the watcher: %s",
		    strerror(errno));
		return;
	}
	pthread_join(w->thread, NULL);
	close(w->ifd);
	close(w->stopfd);
	for (i = 0; i < WATCH_MAX_DIRS; i++)
		clear_slot(&w->dirs[i]);
	free(w->root);
	free(w);
}
