/*
 * libFuzzer harness for the policy engine (policy.h). The input is loaded
 * as JSON and parsed as every kind of document, with registry
 * canonicalisation off and on; a document that parses is evaluated, alone
 * and pooled with the others, against fixed requests with a small context.
 * The same bytes then go to policy_eval_stream, which must answer each
 * input line with exactly one line of JSON.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/policy.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ACCOUNT "111122223333"

static json_t *fuzz_ctx;

static const struct {
	const char *principal, *action, *resource;
} requests[] = {
	{ "arn:aws:iam::111122223333:user/alice", "ecr:BatchGetImage",
	  "arn:aws:ecr:us-east-1:111122223333:repository/team-a/api" },
	{ "arn:regauth:iam::111122223333:user/alice", "registry:Pull",
	  "arn:regauth:registry:*:111122223333:repository/team-a/api" },
	{ "anonymous", "ecr:GetAuthorizationToken", "*" },
	{ "arn:aws:sts::111122223333:assumed-role/ci/run-1", "ecr:PutImage",
	  "repository/team-a/web" },
};

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_ctx = json_pack("{s:s,s:s,s:[ss],s:[],s:s}",
	    "aws:username", "alice",
	    "aws:SourceIp", "10.1.2.3",
	    "aws:PrincipalTag/team", "team-a", "ops",
	    "ecr:ResourceTag/empty",
	    "aws:CurrentTime", "2024-05-01T12:00:00Z");
	if (fuzz_ctx == NULL)
		abort();
	return 0;
}

static void
check_result(enum policy_decision d, const struct policy_result *res)
{
	if (d != POLICY_IMPLICIT_DENY && d != POLICY_ALLOW && d != POLICY_DENY)
		abort();
	if (res->decision != d || res->nmatches > POLICY_MAX_MATCHES)
		abort();
	if (policy_decision_name(d) == NULL)
		abort();
}

static void
evaluate(const struct policy_ref *set, size_t n)
{
	struct policy_request rq;
	struct policy_result res;
	enum policy_decision d;
	size_t i;
	int ctx;

	for (i = 0; i < sizeof(requests) / sizeof(requests[0]); i++)
		for (ctx = 0; ctx < 2; ctx++) {
			memset(&rq, 0, sizeof(rq));
			rq.principal = requests[i].principal;
			rq.action = requests[i].action;
			rq.resource = requests[i].resource;
			rq.context = ctx ? fuzz_ctx : NULL;
			rq.account = ACCOUNT;
			memset(&res, 0, sizeof(res));
			d = policy_evaluate(set, n, &rq, &res);
			check_result(d, &res);
		}
	memset(&res, 0, sizeof(res));
	d = policy_registry_decide(set, n,
	    "arn:regauth:iam::111122223333:user/alice",
	    "arn:regauth:registry:*:111122223333:repository/team-a/api", 0,
	    "pull", fuzz_ctx, ACCOUNT, &res);
	check_result(d, &res);
	memset(&res, 0, sizeof(res));
	d = policy_registry_decide(set, n, "anonymous", "*", 1, "*", NULL,
	    ACCOUNT, &res);
	check_result(d, &res);
}

static void
fuzz_parse(const uint8_t *data, size_t size)
{
	static const enum policy_kind kinds[] = {
		POLICY_IDENTITY, POLICY_RESOURCE, POLICY_BOUNDARY,
	};
	struct policy_ref set[6];
	struct policy_parse_opts opts;
	struct err e;
	json_t *doc;
	size_t k, n = 0;
	int reg;

	memset(&e, 0, sizeof(e));
	if ((doc = util_json_loadb((const char *)data, size, "fuzz", &e)) ==
	    NULL)
		return;
	for (reg = 0; reg < 2; reg++)
		for (k = 0; k < 3; k++) {
			struct policy *p;

			opts.account = ACCOUNT;
			opts.registry = reg;
			memset(&e, 0, sizeof(e));
			if ((p = policy_parse(doc, kinds[k], &opts, &e)) ==
			    NULL) {
				if (e.msg[0] == '\0')
					abort();	/* NULL says why */
				continue;
			}
			(void)policy_uses_context(p);
			set[n].policy = p;
			set[n].kind = kinds[k];
			set[n].index = (int)n;
			evaluate(&set[n], 1);
			n++;
		}
	if (n > 1)
		evaluate(set, n);
	for (k = 0; k < n; k++)
		policy_free((struct policy *)set[k].policy);
	json_decref(doc);
}

/* One output line per input line, each a JSON object. */
static void
fuzz_stream(const uint8_t *data, size_t size)
{
	FILE *in, *out;
	char *buf, *ob = NULL, *p, *nl;
	size_t olen = 0, nin = 0, nout = 0, i;
	json_t *j;

	if ((buf = malloc(size + 1)) == NULL)
		return;
	memcpy(buf, data, size);
	buf[size] = '\n';
	for (i = 0; i <= size; i++)
		if (buf[i] == '\n')
			nin++;
	if ((in = fmemopen(buf, size + 1, "r")) == NULL)
		abort();
	if ((out = open_memstream(&ob, &olen)) == NULL)
		abort();
	if (policy_eval_stream(in, out, ACCOUNT) != 0)
		abort();
	fclose(in);
	fclose(out);
	for (p = ob; p < ob + olen; p = nl + 1) {
		if ((nl = memchr(p, '\n', (size_t)(ob + olen - p))) == NULL)
			abort();	/* an unterminated line */
		if ((j = json_loadb(p, (size_t)(nl - p), 0, NULL)) == NULL ||
		    !json_is_object(j))
			abort();
		json_decref(j);
		nout++;
	}
	if (nout != nin)
		abort();
	free(ob);
	free(buf);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_parse(data, size);
	fuzz_stream(data, size);
	return 0;
}
