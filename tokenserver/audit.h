/*
 * The audit log: one JSON line per decision (a /token request, a
 * /v1/login outcome) naming who asked for what, what was granted, and the
 * policy statements that decided it. Its destination is the "audit_log"
 * setting: a file (opened O_APPEND, created 0600, reopened on SIGUSR1 for
 * logrotate), "-" for stderr, or absent: off. Every line is written with
 * one write(2) under a lock, so lines never interleave. Lines hold names
 * only: never a password, token, assertion or key.
 */
#ifndef REGAUTHD_AUDIT_H
#define REGAUTHD_AUDIT_H

#include <stddef.h>
#include <time.h>
#include "buf.h"
#include "util.h"

struct config;
struct scope_list;
struct token_audit;

#define AUDIT_ID_SIZE		25	/* a request id: 24 hex digits and NUL */
#define AUDIT_RAW_SCOPES	16	/* unparsed scope values kept at most */
#define AUDIT_RAW_SCOPE_MAX	256	/* bytes of each kept */

/*
 * A request id unique to this process run and, with a random 48-bit
 * prefix drawn at the first call, very likely across replicas: a prefix
 * and a counter, no lock and no system call.
 */
void audit_request_id(char out[AUDIT_ID_SIZE]);

/*
 * Send audit lines to `path`: NULL turns auditing off, "-" means stderr,
 * anything else a file opened O_WRONLY|O_APPEND|O_CREAT 0600. The same
 * destination as now is left alone (a reload that keeps the setting). On
 * failure the current destination stays and -1 says why in `e`.
 */
int audit_open(const char *path, struct err *e);

/*
 * Open the file again by its name (SIGUSR1, after logrotate moved it), then
 * switch to it; 0 and nothing done for stderr or when off. On failure the
 * old descriptor keeps receiving lines and -1 says why.
 */
int audit_reopen(struct err *e);

/* Stop auditing and close the file. */
void audit_close(void);

/* Is there a destination? A relaxed atomic load: cheap on the hot path. */
int audit_enabled(void);

struct audit_event {
	const char		*event;		/* "token" or "login" */
	const char		*request_id;
	const char		*client;	/* "-": unknown */
	const char		*principal;	/* NULL or "": none */
	const char		*auth_method;	/* NULL or "": anonymous */
	const char		*service;	/* NULL: none known */
	int			 status;	/* HTTP status of the answer */
	const char		*error;		/* the answer's error code, or NULL */
	/* token events */
	const struct config	*cfg;		/* names the policy files */
	const struct scope_list	*scopes;	/* parsed; NULL: not parsed */
	const char		*raw_scopes[AUDIT_RAW_SCOPES];	/* else these */
	size_t			 nraw;
	int			 raw_more;	/* more values than kept */
	const struct token_audit *decided;	/* NULL: nothing decided */
};

/*
 * Append the audit line of `ev` at time `now` (RFC 3339 with milliseconds,
 * UTC) to `out`, newline included. Every string is JSON-escaped, so the
 * line is one valid JSON object whatever the input.
 */
void audit_format(struct buf *out, const struct audit_event *ev,
    const struct timespec *now);

/* Format `ev` now and write it, when auditing is on. */
void audit_emit(const struct audit_event *ev);

#endif
