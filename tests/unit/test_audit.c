/*
 * audit: request ids; the line is one valid JSON object whatever the input
 * (scopes, names and services with quotes, newlines, control and non-ASCII
 * bytes); the decisions of a real token_issue with the statements that
 * decided them, and granted/partial/denied/refused; the file destination:
 * 0600, appended, reopened by name after a rename (what SIGUSR1 calls),
 * kept when a reopen fails, and whole lines from many threads at once.
 */
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "audit.h"
#include "fixture.h"
#include "scope.h"
#include "token.h"

struct fx {
	char		*dir;
	struct config	*cfg;
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct err e;

	f->dir = fx_config_dir();
	fx_write(f->dir, "policies/named.json", "{\"Version\":\"2012-10-17\","
	    "\"Statement\":[{\"Sid\":\"PullB\",\"Effect\":\"Allow\",\"Action\":"
	    "\"registry:Pull\",\"Resource\":\"repository/team-b/*\"}]}");
	fx_write(f->dir, "users/bob.json", "{\"policies\":[\"named\"]}");
	fx_write(f->dir, "repositories/public.json", "{\"repositories\":"
	    "[\"public/*\"],\"policy\":{\"Version\":\"2012-10-17\",\"Statement\":"
	    "[{\"Sid\":\"Anyone\",\"Effect\":\"Allow\",\"Principal\":\"*\","
	    "\"Action\":\"registry:Pull\"}]}}");
	if ((f->cfg = config_load(f->dir, &e)) == NULL)
		fail_msg("%s", e.msg);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	config_release(f->cfg);
	fx_remove(f->dir);
	free(f);
	return 0;
}

/* Format `ev`; check it is one line of one JSON object; return it parsed. */
static json_t *
line_of(const struct audit_event *ev)
{
	struct timespec ts = { 1700000000, 123456789 };
	json_error_t je;
	struct buf b;
	json_t *j;

	buf_init(&b);
	audit_format(&b, ev, &ts);
	assert_non_null(buf_str(&b));
	assert_true(b.len > 2 && b.p[b.len - 1] == '\n');
	assert_null(memchr(b.p, '\n', b.len - 1));
	assert_null(memchr(b.p, '\r', b.len));
	j = json_loadb(b.p, b.len, JSON_REJECT_DUPLICATES, &je);
	if (j == NULL)
		fail_msg("not JSON (%s): %s", je.text, b.p);
	assert_true(json_is_object(j));
	assert_string_equal(json_string_value(json_object_get(j, "time")),
	    "2023-11-14T22:13:20.123Z");
	buf_release(&b);
	return j;
}

static void
test_request_ids(void **state)
{
	char a[AUDIT_ID_SIZE], b[AUDIT_ID_SIZE];
	int i;

	(void)state;
	audit_request_id(a);
	assert_int_equal(strlen(a), 24);
	assert_int_equal(strspn(a, "0123456789abcdef"), 24);
	for (i = 0; i < 1000; i++) {
		audit_request_id(b);
		assert_int_equal(strlen(b), 24);
		assert_memory_equal(a, b, 12);	/* one prefix per process */
		assert_string_not_equal(a, b);
	}
}

static void
test_hostile_inputs(void **state)
{
	static const char *nasty[] = {
		"repository:a\"b:pull",
		"repository:x:pull\n{\"event\":\"forged\"}",
		"repository:\\\"\\:push",
		"\x01\x02\x1f\x7f\xff\xfe tab\there",
		"",
	};
	struct audit_event ev;
	json_t *j, *asked;
	char big[1000];
	size_t i;

	(void)state;
	memset(&ev, 0, sizeof(ev));
	ev.event = "token";
	ev.request_id = "0123456789ab000000000001";
	ev.client = "::1";
	ev.principal = "user/\"quoted\"\nname";
	ev.auth_method = "password";
	ev.service = "svc\",\"result\":\"granted";
	ev.status = 400;
	ev.error = "INVALID_SCOPE";
	for (i = 0; i < sizeof(nasty) / sizeof(nasty[0]); i++)
		ev.raw_scopes[ev.nraw++] = nasty[i];
	j = line_of(&ev);
	assert_string_equal(json_string_value(json_object_get(j, "event")),
	    "token");
	assert_string_equal(json_string_value(json_object_get(j, "principal")),
	    "user/\"quoted\"\nname");
	assert_string_equal(json_string_value(json_object_get(j, "service")),
	    "svc\",\"result\":\"granted");
	assert_string_equal(json_string_value(json_object_get(j, "result")),
	    "refused");
	assert_int_equal(json_integer_value(json_object_get(j, "status")), 400);
	assert_string_equal(json_string_value(json_object_get(j, "error")),
	    "INVALID_SCOPE");
	asked = json_object_get(j, "scopes_asked");
	assert_int_equal(json_array_size(asked), 5);
	/* ASCII comes back byte for byte. */
	for (i = 0; i < 3; i++)
		assert_string_equal(json_string_value(json_array_get(asked, i)),
		    nasty[i]);
	assert_int_equal(json_array_size(json_object_get(j, "scopes_granted")),
	    0);
	assert_null(json_object_get(j, "scopes_asked_truncated"));
	json_decref(j);

	/* Long values are cut, extra values dropped and flagged. */
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	ev.nraw = 0;
	for (i = 0; i < AUDIT_RAW_SCOPES; i++)
		ev.raw_scopes[ev.nraw++] = big;
	ev.raw_more = 1;
	ev.principal = NULL;
	ev.auth_method = NULL;
	ev.service = NULL;
	j = line_of(&ev);
	asked = json_object_get(j, "scopes_asked");
	assert_int_equal(json_array_size(asked), AUDIT_RAW_SCOPES);
	assert_int_equal(strlen(json_string_value(json_array_get(asked, 0))),
	    AUDIT_RAW_SCOPE_MAX);
	assert_true(json_is_true(json_object_get(j, "scopes_asked_truncated")));
	assert_true(json_is_null(json_object_get(j, "principal")));
	assert_true(json_is_null(json_object_get(j, "service")));
	assert_string_equal(json_string_value(json_object_get(j,
	    "auth_method")), "anonymous");
	json_decref(j);

	/* A login line: no scope fields. */
	memset(&ev, 0, sizeof(ev));
	ev.event = "login";
	ev.request_id = "x";
	ev.client = "-";
	ev.principal = "serviceaccount/ci";
	ev.auth_method = "key";
	ev.status = 200;
	j = line_of(&ev);
	assert_string_equal(json_string_value(json_object_get(j, "result")),
	    "granted");
	assert_null(json_object_get(j, "scopes_asked"));
	assert_null(json_object_get(j, "decisions"));
	assert_null(json_object_get(j, "error"));
	json_decref(j);
}

/*
 * token_issue for `who` with `scopes`, recording; the audit line of it.
 * *denied gets token_audit.denied.
 */
static json_t *
issue_line(struct fx *f, const char *who, const char *scopes, int status,
    size_t *denied)
{
	struct token_request rq;
	struct token_audit ta;
	struct scope_list sl;
	struct audit_event ev;
	struct identity id;
	struct buf out;
	struct err e;
	json_t *j;
	int st;

	memset(&id, 0, sizeof(id));
	memset(&rq, 0, sizeof(rq));
	memset(&ta, 0, sizeof(ta));
	if (who != NULL) {
		id.principal = config_principal(f->cfg, who);
		assert_non_null(id.principal);
		snprintf(id.method, sizeof(id.method), "password");
	}
	scope_list_init(&sl, 100);
	if (scope_parse(&sl, scopes, &e) == -1)
		fail_msg("%s", e.msg);
	ta.record = 1;
	rq.scopes = &sl;
	rq.audit = &ta;
	buf_init(&out);
	assert_int_equal(token_issue(f->cfg, &id, &rq, &out, &st, &e), 0);
	buf_release(&out);
	*denied = ta.denied;
	memset(&ev, 0, sizeof(ev));
	ev.event = "token";
	ev.request_id = "r";
	ev.client = "127.0.0.1";
	ev.principal = who;
	ev.auth_method = who ? "password" : NULL;
	ev.service = ta.service;
	ev.status = status;
	ev.cfg = f->cfg;
	ev.scopes = &sl;
	ev.decided = &ta;
	j = line_of(&ev);
	assert_string_equal(json_string_value(json_object_get(j, "service")),
	    "reg");
	token_audit_free(&ta);
	scope_list_free(&sl);
	return j;
}

/* decisions[i] has scope `scope`, decision `d` and statements `stmts`. */
static void
assert_decision(const json_t *j, size_t i, const char *scope, const char *d,
    const char *stmts)
{
	const json_t *dec = json_array_get(json_object_get(j, "decisions"), i);
	json_t *want = json_loads(stmts, 0, NULL);

	assert_non_null(dec);
	assert_non_null(want);
	assert_string_equal(json_string_value(json_object_get(dec, "scope")),
	    scope);
	assert_string_equal(json_string_value(json_object_get(dec,
	    "decision")), d);
	if (!json_equal(want, json_object_get(dec, "statements"))) {
		char *got = json_dumps(json_object_get(dec, "statements"), 0);
		fail_msg("decision %zu statements: %s, want %s", i, got, stmts);
	}
	json_decref(want);
}

static void
test_token_decisions(void **state)
{
	struct fx *f = *state;
	size_t denied;
	json_t *j, *g;

	/* Partial: allowed, explicitly denied, implicitly denied. */
	j = issue_line(f, "user/alice", "repository:team-a/app:pull,push "
	    "repository:team-a/frozen:push repository:team-b/x:pull", 200,
	    &denied);
	assert_int_equal(denied, 2);
	assert_string_equal(json_string_value(json_object_get(j, "result")),
	    "partial");
	g = json_object_get(j, "scopes_granted");
	assert_int_equal(json_array_size(g), 1);
	assert_string_equal(json_string_value(json_array_get(g, 0)),
	    "repository:team-a/app:pull,push");
	assert_int_equal(json_array_size(json_object_get(j, "scopes_asked")), 3);
	assert_int_equal(json_array_size(json_object_get(j, "decisions")), 4);
	assert_decision(j, 0, "repository:team-a/app:pull", "Allow",
	    "[{\"file\":\"policies/dev.json\",\"kind\":\"identity\","
	    "\"sid\":null,\"statement\":0}]");
	assert_decision(j, 1, "repository:team-a/app:push", "Allow",
	    "[{\"file\":\"policies/dev.json\",\"kind\":\"identity\","
	    "\"sid\":null,\"statement\":0}]");
	assert_decision(j, 2, "repository:team-a/frozen:push", "Deny",
	    "[{\"file\":\"policies/dev.json\",\"kind\":\"identity\","
	    "\"sid\":null,\"statement\":1}]");
	assert_decision(j, 3, "repository:team-b/x:pull", "ImplicitDeny", "[]");
	json_decref(j);

	/* Granted in full, by a named statement and a repository policy. */
	j = issue_line(f, "user/bob", "repository:team-b/x:pull "
	    "repository:public/y:pull", 200, &denied);
	assert_int_equal(denied, 0);
	assert_string_equal(json_string_value(json_object_get(j, "result")),
	    "granted");
	assert_decision(j, 0, "repository:team-b/x:pull", "Allow",
	    "[{\"file\":\"policies/named.json\",\"kind\":\"identity\","
	    "\"sid\":\"PullB\",\"statement\":0}]");
	assert_decision(j, 1, "repository:public/y:pull", "Allow",
	    "[{\"file\":\"repositories/public.json\",\"kind\":\"resource\","
	    "\"sid\":\"Anyone\",\"statement\":0}]");
	json_decref(j);

	/* Denied: nothing granted. */
	j = issue_line(f, "user/bob", "repository:team-a/app:push", 200,
	    &denied);
	assert_int_equal(denied, 1);
	assert_string_equal(json_string_value(json_object_get(j, "result")),
	    "denied");
	assert_int_equal(json_array_size(json_object_get(j, "scopes_granted")),
	    0);
	json_decref(j);

	/* "*" not wholly allowed: its allowed parts, marked as such. */
	j = issue_line(f, "user/alice", "repository:team-a/app:*", 200,
	    &denied);
	assert_int_equal(denied, 1);
	assert_string_equal(json_string_value(json_object_get(j, "result")),
	    "partial");
	g = json_object_get(j, "scopes_granted");
	assert_string_equal(json_string_value(json_array_get(g, 0)),
	    "repository:team-a/app:pull,push");
	assert_decision(j, 0, "repository:team-a/app:*", "ImplicitDeny", "[]");
	assert_decision(j, 1, "repository:team-a/app:pull", "Allow",
	    "[{\"file\":\"policies/dev.json\",\"kind\":\"identity\","
	    "\"sid\":null,\"statement\":0}]");
	assert_true(json_is_string(json_object_get(json_array_get(
	    json_object_get(j, "decisions"), 1), "part_of")));
	assert_null(json_object_get(json_array_get(json_object_get(j,
	    "decisions"), 0), "part_of"));
	json_decref(j);

	/* Anonymous, no scopes: granted (an empty token). */
	j = issue_line(f, NULL, "", 200, &denied);
	assert_string_equal(json_string_value(json_object_get(j, "result")),
	    "granted");
	assert_true(json_is_null(json_object_get(j, "principal")));
	json_decref(j);

	/* An answer other than 200 is a refusal, and grants nothing. */
	j = issue_line(f, "user/alice", "repository:team-a/app:pull", 500,
	    &denied);
	assert_string_equal(json_string_value(json_object_get(j, "result")),
	    "refused");
	assert_int_equal(json_array_size(json_object_get(j, "scopes_granted")),
	    0);
	json_decref(j);
}

/* Every line of `path`, each checked to be a JSON object; the count. */
static size_t
check_file(const char *path, const char *want_id)
{
	char *text, *p, *nl;
	struct err e;
	size_t len, n = 0;

	text = util_read_file(path, 64 * 1024 * 1024, &len, &e);
	if (text == NULL)
		fail_msg("%s", e.msg);
	for (p = text; *p != '\0'; p = nl + 1) {
		json_t *j;
		nl = strchr(p, '\n');
		assert_non_null(nl);
		j = json_loadb(p, (size_t)(nl - p), JSON_REJECT_DUPLICATES, NULL);
		assert_non_null(j);
		if (want_id != NULL)
			assert_string_equal(json_string_value(json_object_get(j,
			    "request_id")), want_id);
		json_decref(j);
		n++;
	}
	free(text);
	return n;
}

static void
emit_one(const char *id)
{
	struct audit_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.event = "login";
	ev.request_id = id;
	ev.client = "127.0.0.1";
	ev.auth_method = "password";
	ev.status = 401;
	ev.error = "UNAUTHORIZED";
	audit_emit(&ev);
}

static void
test_file_and_reopen(void **state)
{
	struct fx *f = *state;
	char path[1100], moved[1100];
	struct stat st;
	struct err e;

	snprintf(path, sizeof(path), "%s/audit.log", f->dir);
	snprintf(moved, sizeof(moved), "%s/audit.log.1", f->dir);
	assert_int_equal(audit_open(NULL, &e), 0);
	assert_false(audit_enabled());
	emit_one("nowhere");		/* off: nothing, nowhere */

	assert_int_equal(audit_open(path, &e), 0);
	assert_true(audit_enabled());
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	emit_one("first");
	/* The same setting again (a reload) keeps the descriptor. */
	assert_int_equal(audit_open(path, &e), 0);
	emit_one("first");
	assert_int_equal(check_file(path, "first"), 2);

	/* logrotate: rename, then SIGUSR1 (audit_reopen). */
	assert_int_equal(rename(path, moved), 0);
	emit_one("first");		/* still the old file until reopened */
	assert_int_equal(audit_reopen(&e), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	emit_one("second");
	assert_int_equal(check_file(moved, "first"), 3);
	assert_int_equal(check_file(path, "second"), 1);

	/* A reopen that fails keeps the old descriptor working. */
	assert_int_equal(unlink(moved), 0);
	assert_int_equal(rename(path, moved), 0);
	assert_int_equal(chmod(f->dir, 0500), 0);
	if (access(f->dir, W_OK) != 0) {	/* not as root */
		assert_int_equal(audit_reopen(&e), -1);
		assert_non_null(strstr(e.msg, "audit.log"));
		emit_one("second");
		assert_int_equal(check_file(moved, "second"), 2);
	}
	assert_int_equal(chmod(f->dir, 0700), 0);

	/* An unusable new setting keeps the old destination. */
	assert_int_equal(audit_open("/nonexistent-dir/x/audit.log", &e), -1);
	assert_non_null(strstr(e.msg, "/nonexistent-dir/x/audit.log"));
	assert_true(audit_enabled());
	emit_one("second");
	assert_true(check_file(moved, "second") >= 2);

	audit_close();
	assert_false(audit_enabled());
	assert_int_equal(audit_reopen(&e), 0);	/* off: nothing to do */
}

static void
test_stderr(void **state)
{
	struct fx *f = *state;
	char path[1100];
	struct err e;
	int fd, saved;

	snprintf(path, sizeof(path), "%s/stderr.log", f->dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	dup2(fd, STDERR_FILENO);
	close(fd);
	assert_int_equal(audit_open("-", &e), 0);
	assert_int_equal(audit_reopen(&e), 0);	/* nothing to reopen */
	emit_one("to-stderr");
	audit_close();			/* must not close stderr */
	assert_true(fcntl(STDERR_FILENO, F_GETFD) != -1);
	dup2(saved, STDERR_FILENO);
	close(saved);
	assert_int_equal(check_file(path, "to-stderr"), 1);
}

#define THREADS	8
#define LINES	400

static void *
writer(void *arg)
{
	char id[AUDIT_ID_SIZE];
	int i;

	(void)arg;
	for (i = 0; i < LINES; i++) {
		audit_request_id(id);
		emit_one(id);
	}
	return NULL;
}

/* Many writers while the file is rotated under them: whole lines only. */
static void
test_concurrent_lines(void **state)
{
	struct fx *f = *state;
	char path[1100], moved[1100];
	pthread_t t[THREADS];
	struct err e;
	size_t n;
	int i;

	snprintf(path, sizeof(path), "%s/c.log", f->dir);
	snprintf(moved, sizeof(moved), "%s/c.log.1", f->dir);
	assert_int_equal(audit_open(path, &e), 0);
	for (i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, writer, NULL), 0);
	usleep(2000);
	assert_int_equal(rename(path, moved), 0);
	assert_int_equal(audit_reopen(&e), 0);
	for (i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	audit_close();
	n = check_file(moved, NULL) + check_file(path, NULL);
	assert_int_equal(n, THREADS * LINES);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request_ids),
		cmocka_unit_test(test_hostile_inputs),
		cmocka_unit_test_setup_teardown(test_token_decisions, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_file_and_reopen, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_stderr, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_lines, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
