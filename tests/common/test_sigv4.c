/* test_sigv4.c - SigV4 against AWS's published examples and against botocore as an oracle. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "objstore/objstore_int.h"
#include "objstore/s3_str.h"
#include "objstore/sigv4.h"

#define EXAMPLE_AK   "AKIAIOSFODNN7EXAMPLE"
#define EXAMPLE_SK   "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define EXAMPLE_HOST "examplebucket.s3.amazonaws.com"
#define EXAMPLE_TIME 1369353600 /* 20130524T000000Z */
#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define EXAMPLE_SCOPE                                                                      \
	{                                                                                  \
		.access_key = EXAMPLE_AK, .secret_key = EXAMPLE_SK, .region = "us-east-1", \
		.service = "s3", .now = EXAMPLE_TIME                                       \
	}

static void check_signature(const struct sigv4_request *req, const char *creq_sha256,
			    const char *expected)
{
	const struct sigv4_scope sc = EXAMPLE_SCOPE;
	char hash[SIGV4_HEX_SIZE], sig[SIGV4_HEX_SIZE];
	char *creq, *sts;

	assert_int_equal(sigv4_canonical_request(req, &creq), PC_OK);
	if (creq_sha256) {
		sigv4_sha256_hex(creq, strlen(creq), hash);
		assert_string_equal(hash, creq_sha256);
	}
	assert_int_equal(sigv4_string_to_sign(&sc, creq, &sts), PC_OK);
	assert_true(
	    strncmp(sts, "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n",
		    strlen("AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/"
			   "aws4_request\n")) == 0);
	sigv4_signature(&sc, sts, sig);
	assert_string_equal(sig, expected);
	assert_int_equal(sigv4_sign_request(req, &sc, sig), PC_OK);
	assert_string_equal(sig, expected);
	free(sts);
	free(creq);
}

/* AWS S3 API reference, "Signature Calculations for the Authorization Header", example GET
 * Object: GET /test.txt with Range: bytes=0-9. */
static void test_aws_example_get_object(void **state)
{
	const struct sigv4_header h[] = {{"x-amz-date", "20130524T000000Z"},
					 {"range", "bytes=0-9"},
					 {"host", EXAMPLE_HOST},
					 {"x-amz-content-sha256", EMPTY_SHA256}};
	const struct sigv4_request req = {.method = "GET",
					  .path = "/test.txt",
					  .headers = h,
					  .nheaders = 4,
					  .payload_hash = EMPTY_SHA256};
	char *creq;

	assert_int_equal(sigv4_canonical_request(&req, &creq), PC_OK);
	assert_string_equal(creq, "GET\n/test.txt\n\n"
				  "host:examplebucket.s3.amazonaws.com\n"
				  "range:bytes=0-9\n"
				  "x-amz-content-sha256:" EMPTY_SHA256 "\n"
				  "x-amz-date:20130524T000000Z\n\n"
				  "host;range;x-amz-content-sha256;x-amz-date\n" EMPTY_SHA256);
	free(creq);
	check_signature(&req, "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972",
			"f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

/* Example PUT Object: "test$file.text" with body "Welcome to Amazon S3." (the '$' must be
 * encoded once, as %24). */
static void test_aws_example_put_object(void **state)
{
	char payload[SIGV4_HEX_SIZE];
	struct s3_str path = {0};

	sigv4_sha256_hex("Welcome to Amazon S3.", 21, payload);
	assert_string_equal(payload,
			    "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
	s3_str_add(&path, "/");
	s3_str_add_encoded(&path, "test$file.text", true);
	assert_string_equal(path.p, "/test%24file.text");
	{
		const struct sigv4_header h[] = {{"date", "Fri, 24 May 2013 00:00:00 GMT"},
						 {"host", EXAMPLE_HOST},
						 {"x-amz-date", "20130524T000000Z"},
						 {"x-amz-storage-class", "REDUCED_REDUNDANCY"},
						 {"x-amz-content-sha256", payload}};
		const struct sigv4_request req = {.method = "PUT",
						  .path = path.p,
						  .headers = h,
						  .nheaders = 5,
						  .payload_hash = payload};

		check_signature(&req,
				"9e0e90d9c76de8fa5b200d8c849cd5b8dc7a3be3951ddb7f6a76b4158342019d",
				"98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
	}
	s3_str_clear(&path);
}

/* Example GET Bucket Lifecycle: a parameter without a value is signed as "lifecycle=". */
static void test_aws_example_get_lifecycle(void **state)
{
	const struct sigv4_param q[] = {{"lifecycle", ""}};
	const struct sigv4_header h[] = {{"host", EXAMPLE_HOST},
					 {"x-amz-content-sha256", EMPTY_SHA256},
					 {"x-amz-date", "20130524T000000Z"}};
	const struct sigv4_request req = {.method = "GET",
					  .path = "/",
					  .query = q,
					  .nquery = 1,
					  .headers = h,
					  .nheaders = 3,
					  .payload_hash = EMPTY_SHA256};

	check_signature(&req, NULL,
			"fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
}

/* Example GET Bucket (List Objects): parameters sorted by name. */
static void test_aws_example_list_objects(void **state)
{
	const struct sigv4_param q[] = {{"prefix", "J"}, {"max-keys", "2"}};
	const struct sigv4_header h[] = {{"host", EXAMPLE_HOST},
					 {"x-amz-content-sha256", EMPTY_SHA256},
					 {"x-amz-date", "20130524T000000Z"}};
	const struct sigv4_request req = {.method = "GET",
					  .path = "/",
					  .query = q,
					  .nquery = 2,
					  .headers = h,
					  .nheaders = 3,
					  .payload_hash = EMPTY_SHA256};

	check_signature(&req, NULL,
			"34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
}

/* "Authenticating Requests: Using Query Parameters": the presigned URL example. */
static void test_aws_example_presigned_url(void **state)
{
	const struct sigv4_scope sc = EXAMPLE_SCOPE;
	char *url;

	assert_int_equal(sigv4_presign_get(&sc, "https://" EXAMPLE_HOST, EXAMPLE_HOST, "/test.txt",
					   NULL, 86400, &url),
			 PC_OK);
	assert_string_equal(
	    url,
	    "https://examplebucket.s3.amazonaws.com/test.txt"
	    "?X-Amz-Algorithm=AWS4-HMAC-SHA256"
	    "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
	    "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
	    "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
	free(url);
}

static void test_canonical_query(void **state)
{
	const struct sigv4_param q[] = {
	    {"uploadId", "a+b/c=d e"}, {"uploads", ""}, {"partNumber", "10"},
	    {"Zed", "~._-"},	       {"a", "é"},	{"a", "1"}};
	char *out;

	assert_int_equal(sigv4_canonical_query(q, 6, &out), PC_OK);
	/* Byte order of the encoded keys ('Z' < 'a' < 'p' < 'u'), then of the encoded values
	 * ('%' < '1'). */
	assert_string_equal(out, "Zed=~._-&a=%C3%A9&a=1&partNumber=10&uploadId=a%2Bb%2Fc%3Dd%20e"
				 "&uploads=");
	free(out);
	assert_int_equal(sigv4_canonical_query(NULL, 0, &out), PC_OK);
	assert_string_equal(out, "");
	free(out);
}

static void test_header_values_trimmed(void **state)
{
	const struct sigv4_header h[] = {{"host", "  h  "}, {"x-amz-meta-a", "a   b\tc "}};
	const struct sigv4_request req = {
	    .method = "GET", .path = "/", .headers = h, .nheaders = 2, .payload_hash = "X"};
	char *creq;

	assert_int_equal(sigv4_canonical_request(&req, &creq), PC_OK);
	assert_string_equal(creq, "GET\n/\n\nhost:h\nx-amz-meta-a:a b c\n\nhost;x-amz-meta-a\nX");
	free(creq);
}

/*
 * The oracle: for each case, picluster's presigned URL (through the s3:// store URL, so the
 * endpoint, addressing style, prefix and host rules are covered too) must equal botocore's
 * byte for byte.
 */
struct oracle_case {
	const char *store_url; /* what a user configures */
	const char *bucket, *key, *region, *endpoint;
	const char *name; /* object name given to objstore */
	unsigned expires;
	long long when;
	const char *ak, *sk, *token;
};

static const struct oracle_case cases[] = {
    {"s3://examplebucket?region=us-east-1", "examplebucket", "test.txt", "us-east-1", "",
     "test.txt", 86400, EXAMPLE_TIME, EXAMPLE_AK, EXAMPLE_SK, ""},
    {"s3://my.dotted.bucket/results/?region=eu-west-1", "my.dotted.bucket",
     "results/jobs/0b5c1e5e-0000-4000-8000-000000000001/pi.txt", "eu-west-1", "",
     "jobs/0b5c1e5e-0000-4000-8000-000000000001/pi.txt", 900, 1700000000LL, "ASIAEXAMPLE123",
     "secret/with+chars=", "FwoGZXIvYXdzE/ab+cd=="},
    {"s3://picluster/a/b?endpoint=http://127.0.0.1:9000&region=us-east-1", "picluster",
     "a/b/jobs/x-y_z.1/pi.txt", "us-east-1", "http://127.0.0.1:9000", "jobs/x-y_z.1/pi.txt", 604800,
     1800000000LL, "minioadmin", "minioadmin", ""},
    {"s3://gcs-bucket?endpoint=https%3A%2F%2Fstorage.googleapis.com%3A443&region=auto",
     "gcs-bucket", "jobs/q/pi.txt", "auto", "https://storage.googleapis.com:443", "jobs/q/pi.txt",
     1, EXAMPLE_TIME + 86399, "GOOG1EXAMPLE", "gcs-secret", ""},
    {"s3://pic-results?region=ap-southeast-2", "pic-results", "pi.txt", "ap-southeast-2", "",
     "pi.txt", 3600, 951782400LL, "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
     "IQoJb3JpZ2luX2VjEHoaCXVzLWVhc3QtMSJHMEUCIQDexample/token+with=padding//"
     "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=="},
    {"s3://bucket-x?endpoint=http://LocalHost:80/&region=us-west-2", "bucket-x", "a/b.c",
     "us-west-2", "http://LocalHost:80", "a/b.c", 12345, 1234567890LL, "AK", "SK", "tok"},
};

#define NCASES (sizeof(cases) / sizeof(cases[0]))

static void test_presign_matches_botocore(void **state)
{
	static char expected[NCASES][4096];
	char path[] = "/tmp/sigv4-oracle-XXXXXX";
	char cmd[512];
	int fd = mkstemp(path), status;
	FILE *f, *p;
	size_t i, got = 0;

	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	for (i = 0; i < NCASES; i++)
		fprintf(f, "%s\t%s\t%s\t%u\t%lld\t%s\t%s\t%s\t%s\n", cases[i].bucket, cases[i].key,
			cases[i].region, cases[i].expires, cases[i].when, cases[i].ak, cases[i].sk,
			cases[i].token, cases[i].endpoint);
	fclose(f);
	/* All of botocore's answers first, so the case file goes whatever happens next. */
	snprintf(cmd, sizeof(cmd), "/usr/bin/python3 '%s' --batch '%s'", PRESIGN_ORACLE, path);
	p = popen(cmd, "r");
	while (p && got < NCASES && fgets(expected[got], sizeof(expected[got]), p)) {
		expected[got][strcspn(expected[got], "\n")] = '\0';
		got++;
	}
	status = p ? pclose(p) : -1;
	unlink(path);
	assert_int_equal(status, 0);
	assert_int_equal(got, NCASES);
	for (i = 0; i < NCASES; i++) {
		objstore *os;
		char *url;

		assert_int_equal(setenv("AWS_ACCESS_KEY_ID", cases[i].ak, 1), 0);
		assert_int_equal(setenv("AWS_SECRET_ACCESS_KEY", cases[i].sk, 1), 0);
		if (cases[i].token[0])
			assert_int_equal(setenv("AWS_SESSION_TOKEN", cases[i].token, 1), 0);
		else
			assert_int_equal(unsetenv("AWS_SESSION_TOKEN"), 0);
		assert_int_equal(objstore_open(&os, cases[i].store_url), PC_OK);
		assert_int_equal(objstore_s3_presign_at(os, cases[i].name, cases[i].expires,
							(time_t)cases[i].when, &url),
				 PC_OK);
		if (strcmp(url, expected[i]) != 0)
			fail_msg("case %zu (%s):\n picluster %s\n botocore  %s", i,
				 cases[i].store_url, url, expected[i]);
		free(url);
		objstore_free(os);
	}
}

static void test_presign_limits(void **state)
{
	objstore *os;
	char *url = (char *)1;

	assert_int_equal(setenv("AWS_ACCESS_KEY_ID", "AK", 1), 0);
	assert_int_equal(setenv("AWS_SECRET_ACCESS_KEY", "SK", 1), 0);
	assert_int_equal(objstore_open(&os, "s3://bucket?region=us-east-1"), PC_OK);
	assert_int_equal(objstore_presign_get(os, "a", 0, &url), PC_EINVAL);
	assert_null(url);
	assert_int_equal(objstore_presign_get(os, "a", 604801, &url), PC_EINVAL);
	assert_int_equal(objstore_presign_get(os, "../a", 60, &url), PC_EINVAL);
	assert_int_equal(objstore_presign_get(os, "a", 604800, &url), PC_OK);
	assert_true(strncmp(url, "https://bucket.s3.us-east-1.amazonaws.com/a?", 44) == 0);
	free(url);
	objstore_free(os);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_aws_example_get_object),
	    cmocka_unit_test(test_aws_example_put_object),
	    cmocka_unit_test(test_aws_example_get_lifecycle),
	    cmocka_unit_test(test_aws_example_list_objects),
	    cmocka_unit_test(test_aws_example_presigned_url),
	    cmocka_unit_test(test_canonical_query),
	    cmocka_unit_test(test_header_values_trimmed),
	    cmocka_unit_test(test_presign_matches_botocore),
	    cmocka_unit_test(test_presign_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
