/*
 * docker-credential-regauth: the credential helper. This first version
 * knows `version` and `help`; the protocol verbs (get, store, erase, list)
 * and login/logout/configure/kubelet come with the helper issue.
 */
#include <stdio.h>
#include <string.h>

#include "regauth/wire.h"

static void
usage(FILE *f)
{
	fputs("usage: docker-credential-regauth get|store|erase|list|version\n",
	    f);
}

int
main(int argc, char **argv)
{
	if (argc == 2 && (strcmp(argv[1], "version") == 0 ||
	    strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-v") == 0)) {
		printf("docker-credential-regauth (regauth) %s\n",
		    REGAUTH_VERSION);
		return 0;
	}
	if (argc == 2 && (strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0)) {
		usage(stdout);
		return 0;
	}
	/* The protocol wants errors on stdout and exit 1. */
	usage(stdout);
	return 1;
}
