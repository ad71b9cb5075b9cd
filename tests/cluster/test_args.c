/* test_args.c - pi-compute's command line: accepted forms and every rejected one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "pi_args.h"

#define ARGV(...)     ((char *[]){"pi-compute", __VA_ARGS__, NULL})
#define ARGC(...)     ((int)(sizeof((char *[]){"pi-compute", __VA_ARGS__}) / sizeof(char *)))
#define PARSE(a, ...) pi_args_parse(a, ARGC(__VA_ARGS__), ARGV(__VA_ARGS__), err, sizeof(err))

static void test_accepts(void **unused)
{
	struct pi_args a;
	char err[256];

	assert_int_equal(PARSE(&a, "--digits", "100", "--output", "-"), PI_ARGS_OK);
	assert_int_equal(a.digits, 100);
	assert_string_equal(a.output, "-");
	assert_false(a.timings);
	assert_int_equal(PARSE(&a, "--output=/tmp/x", "--digits=1", "--timings", "--progress"),
			 PI_ARGS_OK);
	assert_int_equal(a.digits, 1);
	assert_string_equal(a.output, "/tmp/x");
	assert_true(a.timings && a.progress);
	assert_int_equal(PARSE(&a, "--digits", "100000000000", "--output", "p"), PI_ARGS_OK);
	assert_int_equal(a.digits, PI_ARGS_MAX_DIGITS);
	assert_int_equal(PARSE(&a, "--digits", "007", "--output", "p"), PI_ARGS_OK);
	assert_int_equal(a.digits, 7);
	assert_int_equal(PARSE(&a, "--digits", "5", "--job-id", "j", "--redis", "redis://h:1",
			       "--store", "file:///s", "--key-prefix", "t:"),
			 PI_ARGS_OK);
	assert_null(a.output);
	assert_string_equal(a.job_id, "j");
	assert_string_equal(a.redis_url, "redis://h:1");
	assert_string_equal(a.store_url, "file:///s");
	assert_string_equal(a.key_prefix, "t:");
	assert_int_equal(a.redis_retry_s, PI_ARGS_REDIS_RETRY_DEFAULT);
	assert_int_equal(PARSE(&a, "--digits", "5", "--job-id", "j", "--redis", "redis://h:1",
			       "--store", "file:///s", "--redis-retry", "0"),
			 PI_ARGS_OK);
	assert_int_equal(a.redis_retry_s, 0);
	assert_int_equal(PARSE(&a, "--digits", "5", "--job-id", "j", "--redis", "redis://h:1",
			       "--store", "file:///s", "--redis-retry=86400"),
			 PI_ARGS_OK);
	assert_int_equal(a.redis_retry_s, 86400);
	assert_int_equal(PARSE(&a, "--digits", "x", "--help"), PI_ARGS_HELP);
}

/* Each case must fail with a message that mentions `word`. */
static void expect_error(const char *word, int argc, char **argv)
{
	struct pi_args a;
	char err[256];

	assert_int_equal(pi_args_parse(&a, argc, argv, err, sizeof(err)), PI_ARGS_ERROR);
	assert_non_null(strstr(err, word));
	assert_null(strchr(err, '\n'));
}

#define EXPECT_ERROR(word, ...) expect_error(word, ARGC(__VA_ARGS__), ARGV(__VA_ARGS__))

static void test_rejects(void **unused)
{
	expect_error("missing --digits", 1, (char *[]){"pi-compute", NULL});
	EXPECT_ERROR("missing --digits", "--output", "-");
	EXPECT_ERROR("at least 1", "--digits", "0", "--output", "-");
	EXPECT_ERROR("negative", "--digits", "-5", "--output", "-");
	EXPECT_ERROR("not a positive integer", "--digits", "abc", "--output", "-");
	EXPECT_ERROR("not a positive integer", "--digits", "12x", "--output", "-");
	EXPECT_ERROR("not a positive integer", "--digits", "1e6", "--output", "-");
	EXPECT_ERROR("not a positive integer", "--digits", " 5", "--output", "-");
	EXPECT_ERROR("not a positive integer", "--digits", "+5", "--output", "-");
	EXPECT_ERROR("empty", "--digits", "", "--output", "-");
	EXPECT_ERROR("empty", "--digits=", "--output", "-");
	EXPECT_ERROR("too large", "--digits", "100000000001", "--output", "-");
	EXPECT_ERROR("too large", "--digits", "18446744073709551616", "--output", "-");
	EXPECT_ERROR("too large", "--digits", "99999999999999999999999999", "--output", "-");
	EXPECT_ERROR("needs a value", "--output", "-", "--digits");
	EXPECT_ERROR("unknown argument '--digit'", "--digit", "5", "--output", "-");
	EXPECT_ERROR("unknown argument '--verbose'", "--digits", "5", "--output", "-", "--verbose");
	EXPECT_ERROR("unknown argument 'extra'", "--digits", "5", "--output", "-", "extra");
	EXPECT_ERROR("unknown argument '--timings=1'", "--digits", "5", "--output", "-",
		     "--timings=1");
	EXPECT_ERROR("missing --output", "--digits", "5");
	EXPECT_ERROR("given twice", "--digits", "5", "--digits", "6", "--output", "-");
	EXPECT_ERROR("given twice", "--digits", "5", "--output", "a", "--output", "b");
	EXPECT_ERROR("cannot be combined", "--digits", "5", "--output", "-", "--job-id", "j");
	EXPECT_ERROR("needs all of", "--digits", "5", "--job-id", "j", "--redis", "redis://h:1");
	EXPECT_ERROR("--key-prefix only", "--digits", "5", "--output", "-", "--key-prefix", "p");
	EXPECT_ERROR("empty", "--digits", "5", "--output", "");
	EXPECT_ERROR("--redis-retry only", "--digits", "5", "--output", "-", "--redis-retry", "5");
	EXPECT_ERROR("number of seconds", "--digits", "5", "--job-id", "j", "--redis",
		     "redis://h:1", "--store", "file:///s", "--redis-retry", "-1");
	EXPECT_ERROR("number of seconds", "--digits", "5", "--job-id", "j", "--redis",
		     "redis://h:1", "--store", "file:///s", "--redis-retry", "86401");
	EXPECT_ERROR("number of seconds", "--digits", "5", "--job-id", "j", "--redis",
		     "redis://h:1", "--store", "file:///s", "--redis-retry", "2s");
	EXPECT_ERROR("number of seconds", "--digits", "5", "--job-id", "j", "--redis",
		     "redis://h:1", "--store", "file:///s", "--redis-retry=");
	EXPECT_ERROR("given twice", "--digits", "5", "--job-id", "j", "--redis", "redis://h:1",
		     "--store", "file:///s", "--redis-retry", "1", "--redis-retry", "2");
}

/* The Redis password leaves --redis for PICLUSTER_REDIS_PASSWORD; or comes from a file. */
static void test_redis_password(void **unused)
{
	char path[] = "/tmp/pi-args-pw-XXXXXX";
	struct pi_args a;
	char err[256];
	int fd;

	unsetenv("PICLUSTER_REDIS_PASSWORD");
	assert_int_equal(PARSE(&a, "--digits", "5", "--job-id", "j", "--redis",
			       "redis://:s%40cret@h:1/2", "--store", "file:///s"),
			 PI_ARGS_OK);
	assert_string_equal(a.redis_url, "redis://h:1/2");
	assert_string_equal(getenv("PICLUSTER_REDIS_PASSWORD"), "s@cret");
	unsetenv("PICLUSTER_REDIS_PASSWORD");

	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "from-file\n", 10), 10);
	close(fd);
	assert_int_equal(PARSE(&a, "--digits", "5", "--job-id", "j", "--redis", "redis://h:1",
			       "--store", "file:///s", "--redis-password-file", path),
			 PI_ARGS_OK);
	assert_string_equal(a.redis_url, "redis://h:1");
	assert_string_equal(getenv("PICLUSTER_REDIS_PASSWORD"), "from-file");
	unsetenv("PICLUSTER_REDIS_PASSWORD");
	assert_int_equal(PARSE(&a, "--digits", "5", "--job-id", "j", "--redis", "redis://:x@h:1",
			       "--store", "file:///s", "--redis-password-file", path),
			 PI_ARGS_ERROR);
	assert_non_null(strstr(err, "give one"));
	unlink(path);
	assert_int_equal(PARSE(&a, "--digits", "5", "--job-id", "j", "--redis", "redis://h:1",
			       "--store", "file:///s", "--redis-password-file", path),
			 PI_ARGS_ERROR);
	assert_non_null(strstr(err, "cannot read"));
	/* A malformed URL is refused without quoting it. */
	assert_int_equal(PARSE(&a, "--digits", "5", "--job-id", "j", "--redis", "redis://:s3cret@",
			       "--store", "file:///s"),
			 PI_ARGS_ERROR);
	assert_null(strstr(err, "s3cret"));
	assert_null(getenv("PICLUSTER_REDIS_PASSWORD"));
	assert_int_equal(PARSE(&a, "--digits", "5", "--output", "-", "--redis-password-file", "f"),
			 PI_ARGS_ERROR);
	assert_non_null(strstr(err, "only applies"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_accepts),
	    cmocka_unit_test(test_rejects),
	    cmocka_unit_test(test_redis_password),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
