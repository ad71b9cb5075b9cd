/* test_keys.c - API key secrets and names (gateway/src/keys/keys_secret.c, jobstore names). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "keys/keys.h"
#include "picluster/jobstore.h"

static void test_names(void **state)
{
	char longest[API_KEY_NAME_MAX + 2];

	(void)state;
	assert_true(jobstore_key_name_is_valid("alice"));
	assert_true(jobstore_key_name_is_valid("A.b_c-9"));
	assert_false(jobstore_key_name_is_valid(""));
	assert_false(jobstore_key_name_is_valid(NULL));
	assert_false(jobstore_key_name_is_valid("a b"));
	assert_false(jobstore_key_name_is_valid("a:b"));
	assert_false(jobstore_key_name_is_valid("a/b"));
	assert_false(jobstore_key_name_is_valid("\xc3\xa9"));
	memset(longest, 'x', API_KEY_NAME_MAX);
	longest[API_KEY_NAME_MAX] = '\0';
	assert_true(jobstore_key_name_is_valid(longest));
	longest[API_KEY_NAME_MAX] = 'x';
	longest[API_KEY_NAME_MAX + 1] = '\0';
	assert_false(jobstore_key_name_is_valid(longest));
}

/* Known answers: RFC 4648 base64url of 32 zero bytes and of 32 0xff bytes, unpadded. */
static void test_encode(void **state)
{
	uint8_t raw[GW_KEY_SECRET_RAW];
	char s[GW_KEY_SECRET_LEN + 1];

	(void)state;
	memset(raw, 0, sizeof(raw));
	gw_key_secret_encode(raw, s);
	assert_string_equal(s, "pk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
	memset(raw, 0xff, sizeof(raw));
	gw_key_secret_encode(raw, s);
	assert_string_equal(s, "pk___________________________________________8");
	for (size_t i = 0; i < sizeof(raw); i++)
		raw[i] = (uint8_t)i;
	gw_key_secret_encode(raw, s);
	assert_string_equal(s, "pk_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8");
	assert_int_equal(strlen(s), GW_KEY_SECRET_LEN);
	assert_true(gw_key_secret_is_wellformed(s, strlen(s)));
}

static void test_new(void **state)
{
	char a[GW_KEY_SECRET_LEN + 1], b[GW_KEY_SECRET_LEN + 1];

	(void)state;
	assert_int_equal(gw_key_secret_new(a), PC_OK);
	assert_int_equal(gw_key_secret_new(b), PC_OK);
	assert_true(gw_key_secret_is_wellformed(a, strlen(a)));
	assert_true(gw_key_secret_is_wellformed(b, strlen(b)));
	assert_string_not_equal(a, b);
}

static void test_wellformed(void **state)
{
	const char *ok = "pk_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
	char s[GW_KEY_SECRET_LEN + 2];

	(void)state;
	assert_false(gw_key_secret_is_wellformed("", 0));
	assert_false(gw_key_secret_is_wellformed(ok, strlen(ok) - 1));
	snprintf(s, sizeof(s), "%s", ok);
	s[0] = 'x'; /* wrong prefix */
	assert_false(gw_key_secret_is_wellformed(s, strlen(s)));
	snprintf(s, sizeof(s), "%s", ok);
	s[10] = '+'; /* base64, not base64url */
	assert_false(gw_key_secret_is_wellformed(s, strlen(s)));
	snprintf(s, sizeof(s), "%s", ok);
	s[10] = '\0'; /* NUL inside */
	assert_false(gw_key_secret_is_wellformed(s, GW_KEY_SECRET_LEN));
	snprintf(s, sizeof(s), "%s", ok);
	s[GW_KEY_SECRET_LEN - 1] = 'h'; /* stray low bits in the last character */
	assert_false(gw_key_secret_is_wellformed(s, strlen(s)));
}

/* SHA-256("abc"), FIPS 180-2 appendix B.1. */
static void test_hash(void **state)
{
	static const uint8_t want[API_KEY_HASH_LEN] = {
	    0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40,
	    0xde, 0x5d, 0xae, 0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17,
	    0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad};
	uint8_t got[API_KEY_HASH_LEN];

	(void)state;
	assert_int_equal(gw_key_secret_hash("abc", 3, got), PC_OK);
	assert_memory_equal(got, want, sizeof(want));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_names), cmocka_unit_test(test_encode),
	    cmocka_unit_test(test_new),	  cmocka_unit_test(test_wellformed),
	    cmocka_unit_test(test_hash),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
