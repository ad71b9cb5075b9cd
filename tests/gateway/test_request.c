/* test_request.c - request parsing: paths, query strings, job bodies, Range headers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "http/request.h"

#define GOOD_ID "0b5c7a3e-1f2d-4c5b-9a8e-7d6f5e4c3b2a"

static void test_paths(void **state)
{
	char id[JOB_ID_LEN + 1], longp[6000];

	assert_int_equal(http_path_parse("/job", id), HTTP_PATH_JOB_NEW);
	assert_int_equal(http_path_parse("/jobs", id), HTTP_PATH_JOBS);
	assert_int_equal(http_path_parse("/healthz", id), HTTP_PATH_HEALTHZ);
	assert_int_equal(http_path_parse("/metrics", id), HTTP_PATH_METRICS);
	assert_int_equal(http_path_parse("/job/" GOOD_ID, id), HTTP_PATH_JOB);
	assert_string_equal(id, GOOD_ID);
	assert_int_equal(http_path_parse("/job/download/" GOOD_ID, id), HTTP_PATH_DOWNLOAD);
	assert_string_equal(id, GOOD_ID);

	assert_int_equal(http_path_parse("/job/" GOOD_ID "/", id), HTTP_PATH_UNKNOWN);
	assert_int_equal(http_path_parse("/job/../etc/passwd", id), HTTP_PATH_UNKNOWN);
	assert_int_equal(http_path_parse("/job/download/../../x", id), HTTP_PATH_UNKNOWN);
	assert_int_equal(http_path_parse("/job/..", id), HTTP_PATH_BAD_ID);
	assert_int_equal(http_path_parse("/job/download/..", id), HTTP_PATH_BAD_ID);
	assert_int_equal(http_path_parse("/job/0B5C7A3E-1F2D-4C5B-9A8E-7D6F5E4C3B2A", id),
			 HTTP_PATH_BAD_ID);
	assert_int_equal(http_path_parse("/job/", id), HTTP_PATH_BAD_ID);
	assert_int_equal(http_path_parse("/job/%00", id), HTTP_PATH_BAD_ID);
	assert_int_equal(http_path_parse("//job", id), HTTP_PATH_UNKNOWN);
	assert_int_equal(http_path_parse("/", id), HTTP_PATH_UNKNOWN);
	assert_int_equal(http_path_parse("", id), HTTP_PATH_UNKNOWN);
	assert_string_equal(id, "");

	memcpy(longp, "/job/", 5);
	memset(longp + 5, 'a', sizeof(longp) - 6);
	longp[sizeof(longp) - 1] = '\0';
	assert_int_equal(http_path_parse(longp, id), HTTP_PATH_TOO_LONG);
}

static void test_query(void **state)
{
	char v[16];

	assert_int_equal(http_query_param("state=queued&limit=5", "limit", v, sizeof(v)), PC_OK);
	assert_string_equal(v, "5");
	assert_int_equal(http_query_param("state=queued&limit=5", "state", v, sizeof(v)), PC_OK);
	assert_string_equal(v, "queued");
	assert_int_equal(http_query_param("cursor=a%3Ab+c", "cursor", v, sizeof(v)), PC_OK);
	assert_string_equal(v, "a:b c");
	assert_int_equal(http_query_param("xlimit=5", "limit", v, sizeof(v)), PC_ENOTFOUND);
	assert_int_equal(http_query_param(NULL, "limit", v, sizeof(v)), PC_ENOTFOUND);
	assert_int_equal(http_query_param("limit=%00", "limit", v, sizeof(v)), PC_EINVAL);
	assert_int_equal(http_query_param("limit=%4", "limit", v, sizeof(v)), PC_EINVAL);
	assert_int_equal(http_query_param("limit=%zz", "limit", v, sizeof(v)), PC_EINVAL);
	assert_int_equal(http_query_param("limit=0123456789abcdefghij", "limit", v, sizeof(v)),
			 PC_EINVAL);
}

static void test_body_good(void **state)
{
	uint64_t d;
	char msg[256];
	const char *b;

	b = "{\"digits\": 1000}";
	assert_int_equal(http_parse_submit_body(b, strlen(b), 100000000, &d, msg, sizeof(msg)),
			 PC_OK);
	assert_int_equal(d, 1000);
	b = " \n{\"digits\":1}\n ";
	assert_int_equal(http_parse_submit_body(b, strlen(b), 10, &d, msg, sizeof(msg)), PC_OK);
	assert_int_equal(d, 1);
	b = "{\"digits\":10}";
	assert_int_equal(http_parse_submit_body(b, strlen(b), 10, &d, msg, sizeof(msg)), PC_OK);
}

static void test_body_bad(void **state)
{
	static const char *const bad[] = {
	    "",
	    "digits=5",
	    "{",
	    "{}",
	    "null",
	    "5",
	    "[{\"digits\": 5}]",
	    "{\"digits\": \"5\"}",
	    "{\"digits\": 5.0}",
	    "{\"digits\": 5e2}",
	    "{\"digits\": true}",
	    "{\"digits\": false}",
	    "{\"digits\": null}",
	    "{\"digits\": -5}",
	    "{\"digits\": 0}",
	    "{\"digits\": -0}",
	    "{\"digits\": 11}",
	    "{\"digits\": 99999999999999999999999999}",
	    "{\"digits\": {\"n\": 5}}",
	    "{\"digits\": [5]}",
	    "{\"digits\": 5, \"extra\": 1}",
	    "{\"digits\": 5, \"digits\": 6}",
	    "{\"digits\": 5} garbage",
	    "{\"digits\": 5}{\"digits\": 5}",
	    "{\"digits\": 05}",
	    "{'digits': 5}",
	};
	uint64_t d;
	char msg[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		msg[0] = '\0';
		assert_int_equal(
		    http_parse_submit_body(bad[i], strlen(bad[i]), 10, &d, msg, sizeof(msg)),
		    PC_EINVAL);
		assert_true(msg[0] != '\0');
	}
	/* A NUL inside the body. */
	assert_int_equal(http_parse_submit_body("{\"digits\": 5}\0", 14, 10, &d, msg, sizeof(msg)),
			 PC_EINVAL);
}

/* Nesting is refused before jansson's recursive parser sees it (small worker stacks). */
static void test_body_depth(void **state)
{
	char buf[8192], msg[256];
	uint64_t d;
	size_t n;

	/* 33 levels of arrays: refused by depth, whatever follows. */
	n = 0;
	for (int i = 0; i < 33; i++)
		buf[n++] = '[';
	assert_int_equal(http_parse_submit_body(buf, n, 10, &d, msg, sizeof(msg)), PC_EINVAL);
	assert_non_null(strstr(msg, "nested deeper than 32"));
	/* 4000 unclosed objects. */
	n = 0;
	for (int i = 0; i < 4000 && n + 5 < sizeof(buf); i++) {
		memcpy(buf + n, "{\"a\":", 5);
		n += 5;
	}
	assert_int_equal(http_parse_submit_body(buf, n, 10, &d, msg, sizeof(msg)), PC_EINVAL);
	assert_non_null(strstr(msg, "nested deeper than 32"));
	/* 32 levels are within the limit: the shape check answers instead. */
	n = 0;
	for (int i = 0; i < 32; i++)
		buf[n++] = '[';
	for (int i = 0; i < 32; i++)
		buf[n++] = ']';
	assert_int_equal(http_parse_submit_body(buf, n, 10, &d, msg, sizeof(msg)), PC_EINVAL);
	assert_null(strstr(msg, "nested"));
	/* Brackets inside strings, escaped quotes included, are not nesting. */
	n = (size_t)snprintf(buf, sizeof(buf), "{\"digits\": 7, \"x\": \"\\\"");
	for (int i = 0; i < 100; i++)
		buf[n++] = '[';
	n += (size_t)snprintf(buf + n, sizeof(buf) - n, "\"}");
	assert_int_equal(http_parse_submit_body(buf, n, 10, &d, msg, sizeof(msg)), PC_EINVAL);
	assert_non_null(strstr(msg, "unknown field"));
	assert_int_equal(http_parse_submit_body("{\"digits\": 7}", 13, 10, &d, msg, sizeof(msg)),
			 PC_OK);
	assert_int_equal(d, 7);
}

static void test_range(void **state)
{
	uint64_t f, l;

	assert_int_equal(http_parse_range("bytes=0-9", 100, &f, &l), PC_OK);
	assert_true(f == 0 && l == 10);
	assert_int_equal(http_parse_range("bytes=90-", 100, &f, &l), PC_OK);
	assert_true(f == 90 && l == 10);
	assert_int_equal(http_parse_range("bytes=-5", 100, &f, &l), PC_OK);
	assert_true(f == 95 && l == 5);
	assert_int_equal(http_parse_range("bytes=-500", 100, &f, &l), PC_OK);
	assert_true(f == 0 && l == 100);
	assert_int_equal(http_parse_range("bytes=50-500", 100, &f, &l), PC_OK);
	assert_true(f == 50 && l == 50);
	assert_int_equal(http_parse_range("bytes=99-99", 100, &f, &l), PC_OK);
	assert_true(f == 99 && l == 1);

	assert_int_equal(http_parse_range("bytes=100-", 100, &f, &l), PC_ERANGE);
	assert_int_equal(http_parse_range("bytes=100-200", 100, &f, &l), PC_ERANGE);
	assert_int_equal(http_parse_range("bytes=9-0", 100, &f, &l), PC_ERANGE);
	assert_int_equal(http_parse_range("bytes=-0", 100, &f, &l), PC_ERANGE);
	assert_int_equal(http_parse_range("bytes=0-1,5-6", 100, &f, &l), PC_ERANGE);
	assert_int_equal(http_parse_range("items=0-1", 100, &f, &l), PC_ERANGE);
	assert_int_equal(http_parse_range("bytes=a-b", 100, &f, &l), PC_ERANGE);
	assert_int_equal(http_parse_range("bytes=", 100, &f, &l), PC_ERANGE);
	assert_int_equal(http_parse_range("bytes=-", 100, &f, &l), PC_ERANGE);
	assert_int_equal(http_parse_range("bytes=99999999999999999999999-", 100, &f, &l),
			 PC_ERANGE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_paths),      cmocka_unit_test(test_query),
	    cmocka_unit_test(test_body_good),  cmocka_unit_test(test_body_bad),
	    cmocka_unit_test(test_body_depth), cmocka_unit_test(test_range),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
