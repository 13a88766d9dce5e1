#include <stdarg.h>
#include <stdio.h>

#include "cli.h"

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
