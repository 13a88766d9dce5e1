/*
 * Unit tests of tokenserver/tls.c and the TLS settings of config.c: a
 * certificate and key made with the openssl command, loaded by relative and
 * absolute path; a foreign key, a group-readable key, a missing or garbled
 * certificate refused with the file named; the settings go in pairs; the
 * libmicrohttpd options with and without TLS.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <microhttpd.h>

#include "config.h"
#include "fixture.h"
#include "tls.h"

static char *dir;

static void
sh(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	assert_int_equal(system(cmd), 0);
}

static int
setup(void **state)
{
	(void)state;
	dir = fx_config_dir();
	fx_mkdir(dir, "tls");
	sh("cd '%s/tls' && openssl req -x509 -newkey ec -pkeyopt "
	    "ec_paramgen_curve:P-256 -nodes -keyout server.key -out server.crt "
	    "-subj /CN=unit.test -days 1 2>/dev/null && openssl genpkey "
	    "-algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out other.key "
	    "2>/dev/null && chmod 600 server.key other.key && "
	    "cp server.key open.key && chmod 644 open.key && "
	    "printf 'not a certificate\\n' > junk.crt && "
	    "printf 'not a key\\n' > junk.key && chmod 600 junk.key", dir);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	fx_remove(dir);
	return 0;
}

static void
test_load_relative_and_absolute(void **state)
{
	char cert[PATH_MAX], key[PATH_MAX], what[200];
	struct tls_creds *tc;
	struct err e;

	(void)state;
	tc = tls_creds_load(dir, "tls/server.crt", "tls/server.key", &e);
	assert_non_null(tc);
	tls_creds_describe(tc, what, sizeof(what));
	assert_non_null(strstr(what, "CN=unit.test, 1 certificate, expires "));
	tls_creds_free(tc);
	snprintf(cert, sizeof(cert), "%s/tls/server.crt", dir);
	snprintf(key, sizeof(key), "%s/tls/server.key", dir);
	tc = tls_creds_load("/nonexistent", cert, key, &e);
	assert_non_null(tc);
	tls_creds_free(tc);
	tls_creds_free(NULL);
}

static void
expect_refused(const char *cert, const char *key, const char *file,
    const char *why)
{
	struct err e;

	e.msg[0] = '\0';
	assert_null(tls_creds_load(dir, cert, key, &e));
	if (strstr(e.msg, file) == NULL || strstr(e.msg, why) == NULL)
		fail_msg("want \"%s\" and \"%s\" in: %s", file, why, e.msg);
}

static void
test_refusals(void **state)
{
	(void)state;
	expect_refused("tls/server.crt", "tls/other.key", "tls/other.key",
	    "not the key of the certificate in");
	expect_refused("tls/server.crt", "tls/open.key", "tls/open.key",
	    "mode 0644 is accessible by group or others");
	expect_refused("tls/missing.crt", "tls/server.key", "tls/missing.crt",
	    "No such file");
	expect_refused("tls/junk.crt", "tls/server.key", "tls/junk.crt",
	    "not a PEM certificate chain");
	expect_refused("tls/server.crt", "tls/junk.key", "tls/junk.key",
	    "not an unencrypted PEM private key");
}

static void
test_config_settings(void **state)
{
	struct config *cfg;
	struct err e;

	(void)state;
	fx_write(dir, "regauthd.json", "{\"issuer\":\"test-issuer\","
	    "\"services\":[\"reg\"],\"account\":\"123456789012\","
	    "\"tls_cert_file\":\"tls/server.crt\","
	    "\"tls_key_file\":\"tls/server.key\",\"user\":\"nobody\"}");
	cfg = config_load(dir, &e);
	assert_non_null(cfg);
	assert_non_null(cfg->tls);
	assert_string_equal(cfg->run_user, "nobody");
	assert_string_equal(cfg->run_group, "");
	config_release(cfg);

	fx_write(dir, "regauthd.json", "{\"issuer\":\"test-issuer\","
	    "\"services\":[\"reg\"],\"account\":\"123456789012\","
	    "\"tls_cert_file\":\"tls/server.crt\"}");
	assert_null(config_load(dir, &e));
	assert_non_null(strstr(e.msg, "go together"));

	fx_write(dir, "regauthd.json", "{\"issuer\":\"test-issuer\","
	    "\"services\":[\"reg\"],\"account\":\"123456789012\","
	    "\"tls_cert_file\":\"tls/server.crt\","
	    "\"tls_key_file\":\"tls/open.key\"}");
	assert_null(config_load(dir, &e));
	assert_non_null(strstr(e.msg, "tls/open.key: mode 0644"));

	fx_write(dir, "regauthd.json", "{\"issuer\":\"test-issuer\","
	    "\"services\":[\"reg\"],\"account\":\"123456789012\","
	    "\"group\":\"nogroup\"}");
	assert_null(config_load(dir, &e));
	assert_non_null(strstr(e.msg, "\"group\" needs \"user\""));

	fx_write(dir, "regauthd.json", "{\"issuer\":\"test-issuer\","
	    "\"services\":[\"reg\"],\"account\":\"123456789012\"}");
	cfg = config_load(dir, &e);
	assert_non_null(cfg);
	assert_null(cfg->tls);
	assert_string_equal(cfg->tls_cert_file, "");
	config_release(cfg);
}

static void
test_mhd_options(void **state)
{
	struct MHD_OptionItem o[2];
	struct err e;

	(void)state;
	assert_int_equal(tls_mhd_options(0, o, &e), 0);
	assert_int_equal(o[0].option, MHD_OPTION_END);
	assert_int_equal(tls_mhd_options(1, o, &e), 0);
	assert_int_equal(o[0].option, MHD_OPTION_HTTPS_CERT_CALLBACK2);
	assert_non_null(o[0].ptr_value);
	assert_int_equal(o[1].option, MHD_OPTION_END);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_load_relative_and_absolute),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_config_settings),
		cmocka_unit_test(test_mhd_options),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
