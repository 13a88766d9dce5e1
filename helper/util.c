/*
 * util: the error contract, the debug trace, bounded and atomic file I/O.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "util.h"

void
util_err(struct err *e, const char *fmt, ...)
{
	va_list ap;

	if (e == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
}

int
util_debug_on(void)
{
	static int on = -1;
	const char *v;

	if (on == -1) {
		v = getenv("REGAUTH_LOG");
		on = v != NULL && strcmp(v, "debug") == 0;
	}
	return on;
}

void
util_debug(const char *fmt, ...)
{
	va_list ap;

	if (!util_debug_on())
		return;
	fputs("docker-credential-regauth: debug: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int
util_read_file(const char *path, size_t max, char **out, size_t *outlen,
    struct err *e)
{
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	ssize_t n;
	int fd, ret = -1, saved;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1) {
		saved = errno;
		util_err(e, "%s: %s", path, strerror(errno));
		errno = saved;
		return -1;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		util_err(e, "%s: not a regular file", path);
		errno = EINVAL;
		goto out;
	}
	if ((size_t)st.st_size > max) {
		util_err(e, "%s: larger than %zu bytes", path, max);
		errno = EFBIG;
		goto out;
	}
	buf = malloc(max + 1);
	if (buf == NULL) {
		util_err(e, "out of memory");
		goto out;
	}
	for (;;) {
		n = read(fd, buf + len, max + 1 - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			util_err(e, "%s: %s", path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > max) {
			util_err(e, "%s: larger than %zu bytes", path, max);
			errno = EFBIG;
			goto out;
		}
	}
	buf[len] = '\0';
	*out = buf;
	if (outlen != NULL)
		*outlen = len;
	buf = NULL;
	ret = 0;
out:
	if (buf != NULL) {
		util_wipe(buf, max + 1);
		free(buf);
	}
	close(fd);
	return ret;
}

char *
util_read_stdin(size_t max, size_t *outlen)
{
	char *buf = malloc(max + 1);
	size_t len = 0;
	ssize_t n;

	if (buf == NULL)
		return NULL;
	for (;;) {
		n = read(STDIN_FILENO, buf + len, max + 1 - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		if (len > max) {
			util_wipe(buf, len);
			free(buf);
			return NULL;
		}
	}
	if (n == -1) {
		util_wipe(buf, len);
		free(buf);
		return NULL;
	}
	buf[len] = '\0';
	if (outlen != NULL)
		*outlen = len;
	return buf;
}

int
util_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
    struct err *e)
{
	char *tmp = NULL;
	const char *p = data;
	size_t plen = strlen(path) + 32;
	ssize_t n;
	int fd = -1, ret = -1;

	tmp = malloc(plen);
	if (tmp == NULL) {
		util_err(e, "out of memory");
		return -1;
	}
	snprintf(tmp, plen, "%s.tmp.%ld", path, (long)getpid());
	(void)unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    mode);
	if (fd == -1) {
		util_err(e, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	/* The umask may have narrowed it; never widen beyond mode. */
	if (fchmod(fd, mode) == -1) {
		util_err(e, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	while (len > 0) {
		n = write(fd, p, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			util_err(e, "%s: %s", tmp, strerror(errno));
			goto out;
		}
		p += n;
		len -= (size_t)n;
	}
	if (fsync(fd) == -1 || close(fd) == -1) {
		fd = -1;
		util_err(e, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	fd = -1;
	if (rename(tmp, path) == -1) {
		util_err(e, "%s: %s", path, strerror(errno));
		goto out;
	}
	ret = 0;
out:
	if (fd != -1)
		close(fd);
	if (ret == -1 && tmp != NULL)
		(void)unlink(tmp);
	free(tmp);
	return ret;
}

int
util_mkdir_p(const char *path, mode_t mode, struct err *e)
{
	char *p = strdup(path), *s;
	struct stat st;
	int ret = -1;

	if (p == NULL) {
		util_err(e, "out of memory");
		return -1;
	}
	for (s = p + 1; *s != '\0'; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0700) == -1 && errno != EEXIST) {
			util_err(e, "%s: %s", p, strerror(errno));
			goto out;
		}
		*s = '/';
	}
	if (mkdir(p, mode) == -1 && errno != EEXIST) {
		util_err(e, "%s: %s", p, strerror(errno));
		goto out;
	}
	if (stat(p, &st) == -1 || !S_ISDIR(st.st_mode)) {
		util_err(e, "%s: not a directory", p);
		goto out;
	}
	ret = 0;
out:
	free(p);
	return ret;
}

char *
util_trim(char *s)
{
	size_t n;

	while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
		s++;
	n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' ||
	    s[n - 1] == '\n' || s[n - 1] == '\r'))
		s[--n] = '\0';
	return s;
}

static int
b64val(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-' || c == '+')
		return 62;
	if (c == '_' || c == '/')
		return 63;
	return -1;
}

unsigned char *
util_b64url_decode(const char *in, size_t inlen, size_t *outlen)
{
	unsigned char *out;
	unsigned int acc = 0;
	size_t i, o = 0;
	int bits = 0, v;

	while (inlen > 0 && in[inlen - 1] == '=')
		inlen--;
	if (inlen % 4 == 1)
		return NULL;
	out = malloc(inlen * 3 / 4 + 1);
	if (out == NULL)
		return NULL;
	for (i = 0; i < inlen; i++) {
		v = b64val((unsigned char)in[i]);
		if (v < 0) {
			free(out);
			return NULL;
		}
		acc = (acc << 6) | (unsigned int)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(acc >> bits);
		}
	}
	out[o] = '\0';
	*outlen = o;
	return out;
}

void
util_wipe(void *p, size_t n)
{
	if (p != NULL)
		explicit_bzero(p, n);
}

void
util_free_secret(char *s)
{
	if (s == NULL)
		return;
	util_wipe(s, strlen(s));
	free(s);
}

char *
util_path_join(const char *dir, const char *name)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *p = malloc(n);

	if (p != NULL)
		snprintf(p, n, "%s/%s", dir, name);
	return p;
}

int
util_jwt_times(const char *tok, long long *iat, long long *exp)
{
	const char *p1 = strchr(tok, '.'), *p2;
	unsigned char *raw;
	size_t n;
	json_t *o;

	*iat = *exp = 0;
	if (p1 == NULL || (p2 = strchr(p1 + 1, '.')) == NULL)
		return -1;
	raw = util_b64url_decode(p1 + 1, (size_t)(p2 - p1 - 1), &n);
	if (raw == NULL)
		return -1;
	o = json_loadb((const char *)raw, n, 0, NULL);
	free(raw);
	if (!json_is_object(o)) {
		json_decref(o);
		return -1;
	}
	*iat = json_integer_value(json_object_get(o, "iat"));
	*exp = json_integer_value(json_object_get(o, "exp"));
	json_decref(o);
	return 0;
}
