#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "config.h"

void
cli_complain(const char *fmt, ...)
{
	va_list ap;

	fputs("regauthd: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* The account of DIR/regauthd.json, validated as the server would. */
int
cli_config_account(const char *dir, char *out, size_t sz, struct err *e)
{
	const json_t *a;
	json_t *j;

	if ((j = config_settings_load(dir, e)) == NULL)
		return -1;
	a = json_object_get(j, "account");
	snprintf(out, sz, "%s", a != NULL ? json_string_value(a) :
	    CONFIG_DEFAULT_ACCOUNT);
	json_decref(j);
	return 0;
}

/* FILE, or stdin for "-". */
json_t *
cli_load_doc(const char *file, char **text, size_t *len, struct err *e)
{
	char *buf;

	if (strcmp(file, "-") == 0) {
		size_t n = 0, cap = 4096;
		size_t r;
		if ((buf = malloc(cap + 1)) == NULL) {
			err_set(e, "out of memory");
			return NULL;
		}
		while ((r = fread(buf + n, 1, cap - n, stdin)) > 0) {
			n += r;
			if (n > UTIL_JSON_MAX_BYTES) {
				free(buf);
				err_set(e, "stdin: more than %d bytes",
				    UTIL_JSON_MAX_BYTES);
				return NULL;
			}
			if (n == cap) {
				char *nb = realloc(buf, cap * 2 + 1);
				if (nb == NULL) {
					free(buf);
					err_set(e, "out of memory");
					return NULL;
				}
				buf = nb;
				cap *= 2;
			}
		}
		buf[n] = '\0';
		*len = n;
	} else if ((buf = util_read_file(file, UTIL_JSON_MAX_BYTES, len,
	    e)) == NULL)
		return NULL;
	*text = buf;
	return util_json_loadb(buf, *len, strcmp(file, "-") == 0 ? "stdin" :
	    file, e);
}
