/* test_urlcode.c - percent-decoding of URL components. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "picluster/urlcode.h"

static pc_err decode(const char *s, bool plus, char *out, size_t cap)
{
	return url_percent_decode(s, strlen(s), plus, out, cap);
}

static void test_plain_and_escapes(void **state)
{
	char out[64];

	(void)state;
	assert_int_equal(decode("abc", false, out, sizeof(out)), PC_OK);
	assert_string_equal(out, "abc");
	assert_int_equal(decode("http%3A%2F%2Fh%3a9000", false, out, sizeof(out)), PC_OK);
	assert_string_equal(out, "http://h:9000");
	assert_int_equal(decode("", false, out, sizeof(out)), PC_OK);
	assert_string_equal(out, "");
}

static void test_plus(void **state)
{
	char out[16];

	(void)state;
	assert_int_equal(decode("a+b%2B", true, out, sizeof(out)), PC_OK);
	assert_string_equal(out, "a b+");
	assert_int_equal(decode("a+b", false, out, sizeof(out)), PC_OK);
	assert_string_equal(out, "a+b");
}

static void test_bad_escapes(void **state)
{
	static const char *const bad[] = {"%", "%4", "a%", "%zz", "%4g", "%00", "x%00y"};
	char out[16];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(decode(bad[i], false, out, sizeof(out)), PC_EINVAL);
		assert_true(strlen(out) < sizeof(out));
	}
}

static void test_capacity(void **state)
{
	char out[4];

	(void)state;
	assert_int_equal(decode("abc", false, out, sizeof(out)), PC_OK);
	assert_int_equal(decode("abcd", false, out, sizeof(out)), PC_ERANGE);
	assert_string_equal(out, "abc");
	assert_int_equal(url_percent_decode("a", 1, false, out, 0), PC_ERANGE);
	/* Only n bytes are read, whatever follows them. */
	assert_int_equal(url_percent_decode("ab%41", 2, false, out, sizeof(out)), PC_OK);
	assert_string_equal(out, "ab");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_plain_and_escapes),
	    cmocka_unit_test(test_plus),
	    cmocka_unit_test(test_bad_escapes),
	    cmocka_unit_test(test_capacity),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
