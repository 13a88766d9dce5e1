/*
 * Small helpers every module of regauthd uses (util.h): the error contract,
 * bounded number parsing, whole-file reads, atomic secret-safe writes, JSON
 * loading with duplicate, size and depth limits.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "util.h"

void
err_set(struct err *e, const char *fmt, ...)
{
	va_list ap;

	if (e == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
}

int
util_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
	char *end = NULL;
	long long v;

	/* strtoll skips leading space and accepts '+': refuse both. */
	if (s == NULL || (*s != '-' && (*s < '0' || *s > '9')))
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0')
		return -1;
	if (v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/*
 * Read an open descriptor to its end: at most `max` bytes, else an error.
 * `path` is only for messages.
 */
static char *
read_fd(int fd, const char *path, size_t max, size_t *len, struct err *e)
{
	struct stat st;
	char *buf = NULL, *ret = NULL, *nbuf;
	size_t cap, n = 0;
	ssize_t r;

	if (fstat(fd, &st) == -1) {
		err_set(e, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		err_set(e, "%s: not a regular file", path);
		goto out;
	}
	if ((uint64_t)st.st_size > max) {
		err_set(e, "%s: larger than %zu bytes", path, max);
		goto out;
	}
	cap = (size_t)st.st_size + 1;
	if ((buf = malloc(cap)) == NULL) {
		err_set(e, "%s: out of memory", path);
		goto out;
	}
	for (;;) {
		if (n + 1 == cap) {
			/* The file grew since fstat: keep going, within max. */
			if (cap > max) {
				err_set(e, "%s: larger than %zu bytes", path, max);
				goto out;
			}
			if ((nbuf = malloc(cap * 2)) == NULL) {
				err_set(e, "%s: out of memory", path);
				goto out;
			}
			memcpy(nbuf, buf, n);
			util_secure_free(buf, cap);
			buf = nbuf;
			cap *= 2;
		}
		r = read(fd, buf + n, cap - 1 - n);
		if (r == -1) {
			if (errno == EINTR)
				continue;
			err_set(e, "%s: %s", path, strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n > max) {
			err_set(e, "%s: larger than %zu bytes", path, max);
			goto out;
		}
	}
	buf[n] = '\0';
	if (len != NULL)
		*len = n;
	ret = buf;
	buf = NULL;
out:
	if (buf != NULL)
		util_secure_free(buf, cap);
	return ret;
}

char *
util_read_file(const char *path, size_t max, size_t *len, struct err *e)
{
	char *ret;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		err_set(e, "%s: %s", path, strerror(errno));
		return NULL;
	}
	ret = read_fd(fd, path, max, len, e);
	close(fd);
	return ret;
}

char *
util_read_secret_file(const char *path, size_t max, size_t *len,
    struct err *e)
{
	struct stat st;
	char *ret = NULL;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1) {
		err_set(e, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (fstat(fd, &st) == -1) {
		err_set(e, "%s: %s", path, strerror(errno));
		goto out;
	}
	if ((st.st_mode & 077) != 0) {
		err_set(e, "%s: mode %04o is accessible by group or others "
		    "(want 0600)", path, (unsigned)(st.st_mode & 07777));
		goto out;
	}
	ret = read_fd(fd, path, max, len, e);
out:
	if (fd != -1)
		close(fd);
	return ret;
}

/* The folder part of `path` ("." when there is none), in `out`. */
static int
dir_of(const char *path, char *out, size_t outlen)
{
	const char *slash = strrchr(path, '/');
	size_t n;

	if (slash == NULL) {
		if (outlen < 2)
			return -1;
		out[0] = '.';
		out[1] = '\0';
		return 0;
	}
	n = slash == path ? 1 : (size_t)(slash - path);
	if (n >= outlen)
		return -1;
	memcpy(out, path, n);
	out[n] = '\0';
	return 0;
}

int
util_write_file(const char *path, const void *buf, size_t len, int mode,
    int excl, struct err *e)
{
	char tmp[PATH_MAX], dir[PATH_MAX];
	unsigned char rnd[8];
	const unsigned char *p = buf;
	size_t off = 0;
	ssize_t w;
	int fd = -1, dfd = -1, created = 0, ret = -1;

	if (dir_of(path, dir, sizeof(dir)) == -1 ||
	    RAND_bytes(rnd, sizeof(rnd)) != 1 ||
	    snprintf(tmp, sizeof(tmp), "%s/.%s.%02x%02x%02x%02x%02x%02x%02x%02x",
	    dir, strrchr(path, '/') ? strrchr(path, '/') + 1 : path,
	    rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7])
	    >= (int)sizeof(tmp)) {
		err_set(e, "%s: cannot make a temporary name", path);
		goto out;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    (mode_t)mode);
	if (fd == -1) {
		err_set(e, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	created = 1;
	/* The umask may have narrowed it; widen to exactly `mode` (no data yet). */
	if (fchmod(fd, (mode_t)mode) == -1) {
		err_set(e, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	while (off < len) {
		w = write(fd, p + off, len - off);
		if (w == -1) {
			if (errno == EINTR)
				continue;
			err_set(e, "%s: %s", tmp, strerror(errno));
			goto out;
		}
		off += (size_t)w;
	}
	if (fsync(fd) == -1) {
		err_set(e, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	w = close(fd);
	fd = -1;
	if (w == -1) {
		err_set(e, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	if (excl) {
		/* link() fails with EEXIST, atomically, where rename would replace. */
		if (link(tmp, path) == -1) {
			err_set(e, "%s: %s", path, strerror(errno));
			goto out;
		}
		unlink(tmp);
	} else if (rename(tmp, path) == -1) {
		err_set(e, "%s: %s", path, strerror(errno));
		goto out;
	}
	created = 0;
	/* Make the new directory entry durable too. */
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) != -1)
		(void)fsync(dfd);
	ret = 0;
out:
	if (fd != -1)
		close(fd);
	if (dfd != -1)
		close(dfd);
	if (created)
		unlink(tmp);
	return ret;
}

int
util_mkdirs(const char *path, int mode, struct err *e)
{
	char buf[PATH_MAX];
	struct stat st;
	size_t n, i;
	int ret = -1;

	n = strlen(path);
	if (n == 0 || n >= sizeof(buf)) {
		err_set(e, "mkdir: bad path length");
		goto out;
	}
	memcpy(buf, path, n + 1);
	for (i = 1; i <= n; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		buf[i] = '\0';
		if (mkdir(buf, (mode_t)mode) == 0) {
			/* mkdir applies the umask; give exactly `mode`. */
			if (chmod(buf, (mode_t)mode) == -1) {
				err_set(e, "%s: %s", buf, strerror(errno));
				goto out;
			}
		} else if (errno != EEXIST) {
			err_set(e, "%s: %s", buf, strerror(errno));
			goto out;
		} else if (stat(buf, &st) == -1 || !S_ISDIR(st.st_mode)) {
			err_set(e, "%s: exists and is not a folder", buf);
			goto out;
		}
		if (i < n)
			buf[i] = '/';
	}
	ret = 0;
out:
	return ret;
}

void
util_secure_free(void *p, size_t len)
{
	if (p == NULL)
		return;
	OPENSSL_cleanse(p, len);
	free(p);
}

void
util_secure_free_str(char *s)
{
	if (s == NULL)
		return;
	util_secure_free(s, strlen(s));
}

/*
 * Refuse nesting deeper than UTIL_JSON_MAX_DEPTH before jansson recurses:
 * a scan of brackets outside strings. Sets line and col of the offender.
 */
static int
json_depth_ok(const char *buf, size_t len, int *line, int *col)
{
	size_t i;
	int depth = 0, in_str = 0, esc = 0, l = 1, c = 0;

	for (i = 0; i < len; i++) {
		char ch = buf[i];

		c++;
		if (ch == '\n') {
			l++;
			c = 0;
			continue;
		}
		if (in_str) {
			if (esc)
				esc = 0;
			else if (ch == '\\')
				esc = 1;
			else if (ch == '"')
				in_str = 0;
			continue;
		}
		if (ch == '"') {
			in_str = 1;
		} else if (ch == '{' || ch == '[') {
			if (++depth > UTIL_JSON_MAX_DEPTH) {
				*line = l;
				*col = c;
				return 0;
			}
		} else if (ch == '}' || ch == ']') {
			depth--;
		}
	}
	return 1;
}

json_t *
util_json_loadb(const char *buf, size_t len, const char *name, struct err *e)
{
	json_error_t je;
	json_t *j = NULL;
	int line = 0, col = 0;

	if (name == NULL)
		name = "<input>";
	if (len > UTIL_JSON_MAX_BYTES) {
		err_set(e, "%s:1:1: larger than %d bytes", name,
		    UTIL_JSON_MAX_BYTES);
		goto out;
	}
	if (!json_depth_ok(buf, len, &line, &col)) {
		err_set(e, "%s:%d:%d: nested deeper than %d levels", name, line,
		    col, UTIL_JSON_MAX_DEPTH);
		goto out;
	}
	j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
	if (j == NULL)
		err_set(e, "%s:%d:%d: %s", name, je.line, je.column, je.text);
out:
	return j;
}

json_t *
util_json_load_file(const char *path, struct err *e)
{
	json_t *j = NULL;
	char *buf = NULL;
	size_t len = 0;

	if ((buf = util_read_file(path, UTIL_JSON_MAX_BYTES, &len, e)) == NULL)
		goto out;
	j = util_json_loadb(buf, len, path, e);
out:
	/* Configuration files may hold secrets (password hashes, keys). */
	if (buf != NULL)
		util_secure_free(buf, len);
	return j;
}

int
util_json_write_file(const char *path, const json_t *j, int mode, int excl,
    struct err *e)
{
	char *text = NULL, *nl = NULL;
	size_t n;
	int ret = -1;

	if ((text = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS)) == NULL) {
		err_set(e, "%s: cannot encode JSON", path);
		goto out;
	}
	n = strlen(text);
	if ((nl = malloc(n + 2)) == NULL) {
		err_set(e, "%s: out of memory", path);
		goto out;
	}
	memcpy(nl, text, n);
	nl[n] = '\n';
	nl[n + 1] = '\0';
	ret = util_write_file(path, nl, n + 1, mode, excl, e);
out:
	if (nl != NULL)
		util_secure_free(nl, n + 2);
	util_secure_free_str(text);
	return ret;
}

int
util_streq_ct(const char *a, const char *b)
{
	size_t la, lb;

	if (a == NULL || b == NULL)
		return 0;
	la = strlen(a);
	lb = strlen(b);
	if (la != lb)
		return 0;
	return CRYPTO_memcmp(a, b, la) == 0;
}

int64_t
util_now(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_REALTIME, &ts) == -1)
		return (int64_t)time(NULL);
	return (int64_t)ts.tv_sec;
}

void
util_rfc3339(int64_t t, char out[32])
{
	struct tm tm;
	time_t tt = (time_t)t;

	if (gmtime_r(&tt, &tm) == NULL ||
	    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, 32, "1970-01-01T00:00:00Z");
}
