/* normalize: docker's, podman/skopeo's and nerdctl's server strings to one key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "normalize.h"

static void
same_key(const char *in, const char *want)
{
	char out[NORMALIZE_MAX];

	if (normalize_server(in, out, sizeof(out)) != 0)
		fail_msg("normalize_server(\"%s\") failed", in);
	if (strcmp(out, want) != 0)
		fail_msg("normalize_server(\"%s\") = \"%s\", want \"%s\"", in,
		    out, want);
}

static void
test_forms(void **state)
{
	(void)state;
	same_key("127.0.0.1:5000", "127.0.0.1:5000");
	same_key("http://127.0.0.1:5000", "127.0.0.1:5000");
	same_key("https://127.0.0.1:5000/v2/", "127.0.0.1:5000");
	same_key(" Registry.Example.COM \n", "registry.example.com");
	same_key("registry.example.com:443", "registry.example.com");
	same_key("https://registry.example.com:443", "registry.example.com");
	same_key("http://registry.example.com:443", "registry.example.com");
	same_key("https://user@registry.example.com/path?q#f",
	    "registry.example.com");
	same_key("[::1]:5000", "[::1]:5000");
	same_key("https://[::1]:443/v2/", "[::1]");
}

static void
test_docker_hub(void **state)
{
	(void)state;
	same_key("https://index.docker.io/v1/", "docker.io");
	same_key("index.docker.io", "docker.io");
	same_key("registry-1.docker.io", "docker.io");
	same_key("docker.io", "docker.io");
	same_key("docker.io:5000", "docker.io:5000");
	assert_string_equal(normalize_endpoint("docker.io"),
	    "registry-1.docker.io");
}

static void
test_rejects(void **state)
{
	char out[NORMALIZE_MAX], big[600];

	(void)state;
	assert_int_equal(normalize_server("", out, sizeof(out)), -1);
	assert_int_equal(normalize_server("https://", out, sizeof(out)), -1);
	assert_int_equal(normalize_server("host:port", out, sizeof(out)), -1);
	assert_int_equal(normalize_server("host:123456", out, sizeof(out)), -1);
	assert_int_equal(normalize_server("bad host", out, sizeof(out)), -1);
	assert_int_equal(normalize_server("[::1", out, sizeof(out)), -1);
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(normalize_server(big, out, sizeof(out)), -1);
	assert_int_equal(normalize_server("a.example", out, 4), -1);
}

static void
test_loopback_and_origin(void **state)
{
	char o[NORMALIZE_MAX];

	(void)state;
	assert_true(normalize_is_loopback("127.0.0.1:5000"));
	assert_true(normalize_is_loopback("127.1.2.3"));
	assert_true(normalize_is_loopback("localhost:5000"));
	assert_true(normalize_is_loopback("[::1]:5000"));
	assert_false(normalize_is_loopback("127.0.0.1.example.com"));
	assert_false(normalize_is_loopback("10.0.0.1:5000"));
	assert_int_equal(normalize_origin("https://A.example:443/x", o,
	    sizeof(o)), 0);
	assert_string_equal(o, "https://a.example");
	assert_int_equal(normalize_origin("http://a.example:80", o,
	    sizeof(o)), 0);
	assert_string_equal(o, "http://a.example");
	assert_int_equal(normalize_origin("http://127.0.0.1:5001/token", o,
	    sizeof(o)), 0);
	assert_string_equal(o, "http://127.0.0.1:5001");
	assert_int_equal(normalize_origin("a.example", o, sizeof(o)), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_forms),
		cmocka_unit_test(test_docker_hub),
		cmocka_unit_test(test_rejects),
		cmocka_unit_test(test_loopback_and_origin),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
