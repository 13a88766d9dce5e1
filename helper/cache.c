/*
 * cache: the token cache folder (see cache.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "cache.h"

#define ENTRY_MAX (64 * 1024)

int
cache_init(struct cache *c, struct err *e)
{
	const char *d = getenv("REGAUTH_CACHE_DIR"), *x, *home;
	char buf[4096];

	c->dir = NULL;
	c->lockfd = -1;
	if (d != NULL && d[0] != '\0')
		snprintf(buf, sizeof(buf), "%s", d);
	else if ((x = getenv("XDG_CACHE_HOME")) != NULL && x[0] == '/')
		snprintf(buf, sizeof(buf), "%s/regauth", x);
	else if ((home = getenv("HOME")) != NULL && home[0] != '\0')
		snprintf(buf, sizeof(buf), "%s/.cache/regauth", home);
	else {
		util_err(e, "no cache folder: set REGAUTH_CACHE_DIR or HOME");
		return -1;
	}
	c->dir = strdup(buf);
	if (c->dir == NULL) {
		util_err(e, "out of memory");
		return -1;
	}
	return 0;
}

int
cache_prepare(struct cache *c, struct err *e)
{
	struct stat st;

	if (util_mkdir_p(c->dir, 0700, e) == -1)
		return -1;
	if (stat(c->dir, &st) == -1) {
		util_err(e, "%s: %s", c->dir, strerror(errno));
		return -1;
	}
	if (st.st_uid != geteuid()) {
		util_err(e, "cache folder %s belongs to another user", c->dir);
		return -1;
	}
	if ((st.st_mode & 077) != 0 && chmod(c->dir, 0700) == -1) {
		util_err(e, "%s: %s", c->dir, strerror(errno));
		return -1;
	}
	return 0;
}

void
cache_close(struct cache *c)
{
	cache_unlock(c);
	free(c->dir);
	c->dir = NULL;
}

/* FNV-1a: a file name, not a security boundary (the id is checked on read). */
static char *
entry_path(const struct cache *c, const char *kind, const char *id)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	const unsigned char *p;
	char name[64];

	for (p = (const unsigned char *)id; *p != '\0'; p++) {
		h ^= *p;
		h *= 0x100000001b3ULL;
	}
	snprintf(name, sizeof(name), "%s-%016" PRIx64 ".json", kind, h);
	return util_path_join(c->dir, name);
}

static char *
dup_field(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s != NULL ? strdup(s) : NULL;
}

static int
parse_entry(const char *text, size_t len, struct cache_entry *out)
{
	json_t *o = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
	struct cache_entry en;
	int ret = -1;

	memset(&en, 0, sizeof(en));
	if (!json_is_object(o))
		goto out;
	en.id = dup_field(o, "id");
	en.registry = dup_field(o, "registry");
	en.username = dup_field(o, "username");
	en.server = dup_field(o, "server");
	en.token = dup_field(o, "token");
	en.iat = json_integer_value(json_object_get(o, "iat"));
	en.exp = json_integer_value(json_object_get(o, "exp"));
	if (en.id == NULL || en.token == NULL || en.registry == NULL)
		goto out;
	*out = en;
	memset(&en, 0, sizeof(en));
	ret = 0;
out:
	cache_entry_clear(&en);
	if (o != NULL) {
		/* the token string inside the parsed tree */
		const char *t = json_string_value(json_object_get(o, "token"));

		if (t != NULL)
			util_wipe((void *)t, strlen(t));
		json_decref(o);
	}
	return ret;
}

int
cache_get(const struct cache *c, const char *kind, const char *id,
    struct cache_entry *out, struct err *e)
{
	char *path = entry_path(c, kind, id), *text = NULL;
	size_t len = 0;
	int ret = -1;

	if (path == NULL) {
		util_err(e, "out of memory");
		return -1;
	}
	if (util_read_file(path, ENTRY_MAX, &text, &len, e) == -1) {
		ret = errno == ENOENT ? 0 : -1;
		goto out;
	}
	if (parse_entry(text, len, out) == -1) {
		util_debug("cache: %s is unreadable; ignored", path);
		ret = 0;
		goto out;
	}
	if (strcmp(out->id, id) != 0) {
		cache_entry_clear(out);
		ret = 0;
		goto out;
	}
	ret = 1;
out:
	if (text != NULL) {
		util_wipe(text, len);
		free(text);
	}
	free(path);
	return ret;
}

int
cache_put(struct cache *c, const char *kind, const struct cache_entry *en,
    struct err *e)
{
	char *path = NULL, *text = NULL;
	json_t *o = NULL;
	int ret = -1;

	if (cache_prepare(c, e) == -1)
		return -1;
	path = entry_path(c, kind, en->id);
	o = json_pack("{s:s, s:s, s:s?, s:s?, s:s, s:I, s:I}", "id", en->id,
	    "registry", en->registry, "username", en->username, "server",
	    en->server, "token", en->token, "iat", (json_int_t)en->iat, "exp",
	    (json_int_t)en->exp);
	if (path == NULL || o == NULL) {
		util_err(e, "out of memory");
		goto out;
	}
	text = json_dumps(o, JSON_COMPACT);
	if (text == NULL) {
		util_err(e, "out of memory");
		goto out;
	}
	ret = util_write_atomic(path, text, strlen(text), 0600, e);
out:
	if (o != NULL) {
		const char *t = json_string_value(json_object_get(o, "token"));

		if (t != NULL)
			util_wipe((void *)t, strlen(t));
		json_decref(o);
	}
	util_free_secret(text);
	free(path);
	return ret;
}

int
cache_remove(struct cache *c, const char *kind, const char *id, struct err *e)
{
	struct cache_entry en;
	char *path = NULL;
	int ret, found;

	found = cache_get(c, kind, id, &en, e);
	if (found <= 0)
		return found;
	cache_entry_clear(&en);
	path = entry_path(c, kind, id);
	if (path == NULL) {
		util_err(e, "out of memory");
		return -1;
	}
	ret = unlink(path) == 0 || errno == ENOENT ? 1 : -1;
	if (ret == -1)
		util_err(e, "%s: %s", path, strerror(errno));
	free(path);
	return ret;
}

int
cache_lock(struct cache *c, struct err *e)
{
	char *path;

	if (c->lockfd != -1)
		return 0;
	if (cache_prepare(c, e) == -1)
		return -1;
	path = util_path_join(c->dir, ".lock");
	if (path == NULL) {
		util_err(e, "out of memory");
		return -1;
	}
	c->lockfd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (c->lockfd == -1) {
		util_err(e, "%s: %s", path, strerror(errno));
		free(path);
		return -1;
	}
	free(path);
	while (flock(c->lockfd, LOCK_EX) == -1) {
		if (errno == EINTR)
			continue;
		util_err(e, "flock: %s", strerror(errno));
		close(c->lockfd);
		c->lockfd = -1;
		return -1;
	}
	return 0;
}

void
cache_unlock(struct cache *c)
{
	if (c->lockfd == -1)
		return;
	(void)flock(c->lockfd, LOCK_UN);
	close(c->lockfd);
	c->lockfd = -1;
}

struct aged {
	char *name;
	struct timespec mtime;
};

static int
aged_cmp(const void *a, const void *b)
{
	const struct aged *x = a, *y = b;

	if (x->mtime.tv_sec != y->mtime.tv_sec)
		return x->mtime.tv_sec < y->mtime.tv_sec ? -1 : 1;
	if (x->mtime.tv_nsec != y->mtime.tv_nsec)
		return x->mtime.tv_nsec < y->mtime.tv_nsec ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* The entry files of kind in the folder, with their mtimes. */
static int
scan(const struct cache *c, const char *kind, struct aged **out, size_t *nout)
{
	size_t klen = strlen(kind), n = 0, cap = 0;
	struct aged *v = NULL, *nv;
	struct dirent *de;
	struct stat st;
	DIR *d;

	d = opendir(c->dir);
	if (d == NULL)
		return errno == ENOENT ? 0 : -1;
	while ((de = readdir(d)) != NULL) {
		size_t l = strlen(de->d_name);

		if (strncmp(de->d_name, kind, klen) != 0 ||
		    de->d_name[klen] != '-' || l < 5 ||
		    strcmp(de->d_name + l - 5, ".json") != 0)
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) ==
		    -1 || !S_ISREG(st.st_mode))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 32;
			nv = realloc(v, cap * sizeof(*v));
			if (nv == NULL)
				break;
			v = nv;
		}
		v[n].name = strdup(de->d_name);
		if (v[n].name == NULL)
			break;
		v[n].mtime = st.st_mtim;
		n++;
	}
	closedir(d);
	*out = v;
	*nout = n;
	return 0;
}

int
cache_evict(struct cache *c, const char *kind, int max)
{
	struct aged *v = NULL;
	size_t n = 0, i;
	char *p;

	if (scan(c, kind, &v, &n) == -1)
		return -1;
	if (n > (size_t)max) {
		qsort(v, n, sizeof(*v), aged_cmp);
		for (i = 0; i < n - (size_t)max; i++) {
			p = util_path_join(c->dir, v[i].name);
			if (p != NULL) {
				util_debug("cache: evicting %s", v[i].name);
				(void)unlink(p);
			}
			free(p);
		}
	}
	for (i = 0; i < n; i++)
		free(v[i].name);
	free(v);
	return 0;
}

int
cache_list(const struct cache *c, const char *kind,
    void (*fn)(const struct cache_entry *, void *), void *arg)
{
	struct aged *v = NULL;
	struct cache_entry en;
	size_t n = 0, i, len;
	char *p, *text;
	struct err e;

	if (scan(c, kind, &v, &n) == -1)
		return -1;
	for (i = 0; i < n; i++) {
		p = util_path_join(c->dir, v[i].name);
		text = NULL;
		if (p != NULL && util_read_file(p, ENTRY_MAX, &text, &len, &e)
		    == 0 && parse_entry(text, len, &en) == 0) {
			fn(&en, arg);
			cache_entry_clear(&en);
		}
		if (text != NULL) {
			util_wipe(text, len);
			free(text);
		}
		free(p);
		free(v[i].name);
	}
	free(v);
	return 0;
}

enum cache_state
cache_state(const struct cache_entry *en, time_t now)
{
	long long left, life, refresh;

	if (en->exp == 0)
		return CACHE_FRESH;
	left = en->exp - (long long)now;
	if (left <= CACHE_MIN_VALID)
		return CACHE_EXPIRED;
	life = en->iat > 0 && en->exp > en->iat ? en->exp - en->iat : 0;
	/* a quarter of the life or 5 minutes, whichever is more, but never
	 * more than half the life (short tokens would never be reused) */
	refresh = life / 4 > 300 ? life / 4 : 300;
	if (life > 0 && refresh > life / 2)
		refresh = life / 2;
	return left < refresh ? CACHE_STALE : CACHE_FRESH;
}

void
cache_entry_clear(struct cache_entry *en)
{
	if (en == NULL)
		return;
	free(en->id);
	free(en->registry);
	free(en->username);
	free(en->server);
	util_free_secret(en->token);
	memset(en, 0, sizeof(*en));
}
