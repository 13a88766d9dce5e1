/*
 * netaddr: CIDR parsing, and the client address behind trusted proxies
 * (X-Forwarded-For read from the right), with the header's edge cases;
 * the trusted_proxies setting as config.c validates it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "config.h"
#include "netaddr.h"

/* 10.0.0.0/8 and 2001:db8::/32 are our proxies; 127.0.0.1 too. */
static struct netaddr_cidr trusted[3];

static int
setup(void **state)
{
	(void)state;
	if (netaddr_parse_cidr("10.0.0.0/8", &trusted[0]) == -1 ||
	    netaddr_parse_cidr("2001:db8::/32", &trusted[1]) == -1 ||
	    netaddr_parse_cidr("127.0.0.1", &trusted[2]) == -1)
		return -1;
	return 0;
}

/* The client for `peer` and `xff`, or "FAIL" when it cannot be known. */
static const char *
client(const char *peer, const char *xff)
{
	static char out[NETADDR_TEXT_MAX];

	if (netaddr_client(peer, xff, trusted, 3, out, sizeof(out)) == -1) {
		assert_string_equal(out, "");
		return "FAIL";
	}
	return out;
}

static void
test_cidr_parse(void **state)
{
	struct netaddr_cidr c;

	(void)state;
	assert_int_equal(netaddr_parse_cidr("192.168.1.7/24", &c), 0);
	assert_int_equal(c.bits, 24);
	assert_int_equal(c.addr[3], 0);		/* host bits cleared */
	assert_int_equal(netaddr_parse_cidr("0.0.0.0/0", &c), 0);
	assert_int_equal(netaddr_parse_cidr("::/0", &c), 0);
	assert_int_equal(netaddr_parse_cidr("::1", &c), 0);
	assert_int_equal(c.bits, 128);
	assert_int_equal(netaddr_parse_cidr("1.2.3.4", &c), 0);
	assert_int_equal(c.bits, 32);
	assert_int_equal(netaddr_parse_cidr("::ffff:1.2.3.4", &c), 0);
	assert_int_equal(c.family, trusted[0].family);	/* mapped: IPv4 */
	assert_int_equal(netaddr_parse_cidr("1.2.3.4/33", &c), -1);
	assert_int_equal(netaddr_parse_cidr("::/129", &c), -1);
	assert_int_equal(netaddr_parse_cidr("1.2.3.4/", &c), -1);
	assert_int_equal(netaddr_parse_cidr("1.2.3.4/-1", &c), -1);
	assert_int_equal(netaddr_parse_cidr("1.2.3.4/8x", &c), -1);
	assert_int_equal(netaddr_parse_cidr("1.2.3/8", &c), -1);
	assert_int_equal(netaddr_parse_cidr("", &c), -1);
	assert_int_equal(netaddr_parse_cidr("/8", &c), -1);
	assert_int_equal(netaddr_parse_cidr("localhost", &c), -1);
	assert_int_equal(netaddr_parse_cidr(" 1.2.3.4", &c), -1);
	assert_int_equal(netaddr_parse_cidr("::ffff:1.2.3.4/120", &c), -1);
}

static void
test_in(void **state)
{
	(void)state;
	assert_true(netaddr_in("10.255.0.1", trusted, 3));
	assert_false(netaddr_in("11.0.0.1", trusted, 3));
	assert_true(netaddr_in("2001:db8:ffff::1", trusted, 3));
	assert_false(netaddr_in("2001:db9::1", trusted, 3));
	assert_true(netaddr_in("::ffff:10.1.1.1", trusted, 3));
	assert_true(netaddr_in("127.0.0.1", trusted, 3));
	assert_false(netaddr_in("127.0.0.2", trusted, 3));
	assert_false(netaddr_in("garbage", trusted, 3));
	assert_false(netaddr_in("10.0.0.1", trusted, 0));
}

static void
test_untrusted_peer_ignores_header(void **state)
{
	(void)state;
	/* Anyone may send the header: only a trusted peer's counts. */
	assert_string_equal(client("192.0.2.1", "10.9.9.9"), "192.0.2.1");
	assert_string_equal(client("192.0.2.1", "garbage"), "192.0.2.1");
	assert_string_equal(client("192.0.2.1", NULL), "192.0.2.1");
	assert_string_equal(client("::ffff:192.0.2.1", NULL), "192.0.2.1");
	assert_string_equal(client("-", "1.2.3.4"), "-");
}

static void
test_rightmost_untrusted(void **state)
{
	(void)state;
	assert_string_equal(client("10.0.0.1", NULL), "10.0.0.1");
	assert_string_equal(client("10.0.0.1", ""), "10.0.0.1");
	assert_string_equal(client("10.0.0.1", "192.0.2.9"), "192.0.2.9");
	/* the left part is the client's to write: never believed */
	assert_string_equal(client("10.0.0.1", "1.1.1.1, 192.0.2.9"),
	    "192.0.2.9");
	assert_string_equal(client("10.0.0.1", "1.1.1.1, 192.0.2.9, 10.2.2.2"),
	    "192.0.2.9");
	assert_string_equal(client("10.0.0.1",
	    "spoofed, 192.0.2.9, 10.2.2.2, 10.3.3.3"), "192.0.2.9");
	/* every hop a proxy: the left-most one */
	assert_string_equal(client("10.0.0.1", "10.5.5.5, 10.2.2.2"),
	    "10.5.5.5");
	assert_string_equal(client("127.0.0.1", "127.0.0.1"), "127.0.0.1");
}

static void
test_spaces_and_empty_elements(void **state)
{
	(void)state;
	assert_string_equal(client("10.0.0.1", "  192.0.2.9  "), "192.0.2.9");
	assert_string_equal(client("10.0.0.1", "\t192.0.2.9,\t10.2.2.2 "),
	    "192.0.2.9");
	assert_string_equal(client("10.0.0.1", "192.0.2.9,,"), "192.0.2.9");
	assert_string_equal(client("10.0.0.1", ", ,192.0.2.9 , "),
	    "192.0.2.9");
	assert_string_equal(client("10.0.0.1", " , "), "10.0.0.1");
	/* several headers arrive joined with "," */
	assert_string_equal(client("10.0.0.1", "1.1.1.1,192.0.2.9,10.7.7.7"),
	    "192.0.2.9");
	/* a space inside an entry is not an address */
	assert_string_equal(client("10.0.0.1", "192.0.2. 9"), "FAIL");
}

static void
test_garbage(void **state)
{
	(void)state;
	/* garbage where the client would be read: unknown, not the proxy */
	assert_string_equal(client("10.0.0.1", "garbage"), "FAIL");
	assert_string_equal(client("10.0.0.1", "unknown"), "FAIL");
	assert_string_equal(client("10.0.0.1", "192.0.2.9, garbage"), "FAIL");
	assert_string_equal(client("10.0.0.1", "192.0.2.9;x"), "FAIL");
	assert_string_equal(client("10.0.0.1", "256.1.1.1"), "FAIL");
	assert_string_equal(client("10.0.0.1", "1.2.3"), "FAIL");
	assert_string_equal(client("10.0.0.1", "[1.2.3.4]"), "FAIL");
	assert_string_equal(client("10.0.0.1", "[::1"), "FAIL");
	assert_string_equal(client("10.0.0.1", "[::1]x"), "FAIL");
	assert_string_equal(client("10.0.0.1", "1.2.3.4:"), "FAIL");
	assert_string_equal(client("10.0.0.1", "1.2.3.4:123456"), "FAIL");
	assert_string_equal(client("10.0.0.1", "1.2.3.4:http"), "FAIL");
	assert_string_equal(client("10.0.0.1", "for=192.0.2.9"), "FAIL");
	assert_string_equal(client("10.0.0.1",
	    "1234567890123456789012345678901234567890123456789012345678901234"
	    "5"), "FAIL");
	/* garbage left of the client is never read */
	assert_string_equal(client("10.0.0.1", "garbage, 192.0.2.9"),
	    "192.0.2.9");
	assert_string_equal(client("10.0.0.1", "\x01\xff, 192.0.2.9"),
	    "192.0.2.9");
}

static void
test_ipv6_and_ports(void **state)
{
	(void)state;
	assert_string_equal(client("10.0.0.1", "2001:db9::1"), "2001:db9::1");
	assert_string_equal(client("10.0.0.1", "2001:DB9:0::1"),
	    "2001:db9::1");	/* canonical text */
	assert_string_equal(client("10.0.0.1", "[2001:db9::1]"),
	    "2001:db9::1");
	assert_string_equal(client("10.0.0.1", "[2001:db9::1]:8443"),
	    "2001:db9::1");
	assert_string_equal(client("10.0.0.1", "192.0.2.9:51234"),
	    "192.0.2.9");
	assert_string_equal(client("10.0.0.1", "::ffff:192.0.2.9"),
	    "192.0.2.9");
	assert_string_equal(client("2001:db8::5", "192.0.2.9, 2001:db8::7"),
	    "192.0.2.9");
	assert_string_equal(client("::ffff:10.0.0.1", "192.0.2.9"),
	    "192.0.2.9");
	assert_string_equal(client("10.0.0.1", "fe80::1%eth0"), "FAIL");
}

static void
test_too_many_hops(void **state)
{
	char xff[4096];
	size_t i, n = 0;

	(void)state;
	/* NETADDR_MAX_HOPS trusted hops after the client: still read */
	n += (size_t)snprintf(xff + n, sizeof(xff) - n, "192.0.2.9");
	for (i = 0; i < NETADDR_MAX_HOPS - 1; i++)
		n += (size_t)snprintf(xff + n, sizeof(xff) - n, ", 10.0.0.%zu",
		    i + 2);
	assert_string_equal(client("10.0.0.1", xff), "192.0.2.9");
	/* a trusted hop on its left is not looked at */
	memmove(xff + strlen("10.1.1.1, "), xff, strlen(xff) + 1);
	memcpy(xff, "10.1.1.1, ", strlen("10.1.1.1, "));
	assert_string_equal(client("10.0.0.1", xff), "192.0.2.9");
	/* one more trusted hop on its right: unknown */
	n = strlen(xff);
	snprintf(xff + n, sizeof(xff) - n, ", 10.0.0.200");
	assert_string_equal(client("10.0.0.1", xff), "FAIL");
	/* a long client-written prefix does not matter */
	n = 0;
	for (i = 0; i < 200; i++)
		n += (size_t)snprintf(xff + n, sizeof(xff) - n, "1.1.1.%zu, ",
		    i % 250);
	snprintf(xff + n, sizeof(xff) - n, "192.0.2.9");
	assert_string_equal(client("10.0.0.1", xff), "192.0.2.9");
}

static void
test_small_output(void **state)
{
	char out[8];

	(void)state;
	assert_int_equal(netaddr_client("10.0.0.1", "2001:db9::1234", trusted,
	    3, out, sizeof(out)), -1);
	assert_string_equal(out, "");
	assert_int_equal(netaddr_client("10.0.0.1", "1.2.3.4", trusted, 3, out,
	    sizeof(out)), 0);
	assert_string_equal(out, "1.2.3.4");
}

static void
expect_setting(const char *json, int ok)
{
	json_error_t je;
	json_t *j = json_loads(json, JSON_ALLOW_NUL, &je);
	struct err e;

	assert_non_null(j);
	if ((config_check_settings(j, &e) == 0) != ok)
		fail_msg("%s: want %s, got %s", json, ok ? "accepted" :
		    "refused", ok ? e.msg : "accepted");
	if (!ok && strstr(e.msg, "trusted_proxies") == NULL)
		fail_msg("%s: message \"%s\" does not name the setting", json,
		    e.msg);
	json_decref(j);
}

static void
test_setting(void **state)
{
	(void)state;
	expect_setting("{}", 1);
	expect_setting("{\"trusted_proxies\":[]}", 1);
	expect_setting("{\"trusted_proxies\":[\"127.0.0.1\",\"10.0.0.0/8\","
	    "\"::1\",\"fd00::/8\"]}", 1);
	expect_setting("{\"trusted_proxies\":\"127.0.0.1\"}", 0);
	expect_setting("{\"trusted_proxies\":[\"localhost\"]}", 0);
	expect_setting("{\"trusted_proxies\":[\"10.0.0.0/33\"]}", 0);
	expect_setting("{\"trusted_proxies\":[1]}", 0);
	expect_setting("{\"trusted_proxies\":[\"1.2.3.4\\u0000x\"]}", 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cidr_parse),
		cmocka_unit_test(test_in),
		cmocka_unit_test(test_untrusted_peer_ignores_header),
		cmocka_unit_test(test_rightmost_untrusted),
		cmocka_unit_test(test_spaces_and_empty_elements),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_ipv6_and_ports),
		cmocka_unit_test(test_too_many_hops),
		cmocka_unit_test(test_small_output),
		cmocka_unit_test(test_setting),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
