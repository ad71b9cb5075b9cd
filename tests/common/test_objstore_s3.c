/* test_objstore_s3.c - the s3:// store against s3rver, every signature checked by botocore. */
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "objstore/objstore_int.h"
#include "picluster/objstore.h"
#include "test_s3rver.h"
#include "test_sink.h"

#define MiB (1024 * 1024)

static struct test_s3rver s3;

static int group_setup(void **state)
{
	if (test_s3rver_start(&s3) != 0)
		return -1;
	setenv("AWS_ACCESS_KEY_ID", "S3RVER", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "S3RVER", 1);
	unsetenv("AWS_SESSION_TOKEN");
	return 0;
}

static int group_teardown(void **state)
{
	test_s3rver_free(&s3);
	return 0;
}

/* After each test: no request was refused by the signature check, no upload left over. */
static int check_clean(void **state)
{
	char reply[8192];

	if (test_s3rver_command(&s3, "refused", reply, sizeof(reply)) != 0)
		return -1;
	if (strncmp(reply, "0", 1) != 0) {
		fprintf(stderr, "signatures refused: %s\n", reply);
		return -1;
	}
	if (test_s3rver_command(&s3, "uploads", reply, sizeof(reply)) != 0 ||
	    strncmp(reply, "0", 1) != 0) {
		fprintf(stderr, "uploads left: %s\n", reply);
		return -1;
	}
	return 0;
}

static objstore *open_store(const char *prefix, const char *extra)
{
	char url[512];
	objstore *os = NULL;

	assert_int_equal(test_s3rver_url(&s3, prefix, extra, url, sizeof(url)), 0);
	assert_int_equal(objstore_open(&os, url), PC_OK);
	return os;
}

static void pattern(unsigned char *buf, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (unsigned char)((i * 131 + seed * 7 + (i >> 12)) & 0xff);
}

static pc_err refusing_sink(void *ctx, const void *buf, size_t len)
{
	return PC_ECONFLICT;
}

static pc_err write_chunked(objstore_writer *w, const unsigned char *data, size_t len, size_t chunk)
{
	pc_err err = PC_OK;

	for (size_t off = 0; off < len && err == PC_OK; off += chunk)
		err = objstore_write(w, data + off, len - off < chunk ? len - off : chunk);
	return err;
}

/* The number at the start of a harness reply ("2 a=1 b=2" -> 2). */
static long reply_count(const char *cmd)
{
	char reply[8192];

	assert_int_equal(test_s3rver_command(&s3, cmd, reply, sizeof(reply)), 0);
	return strtol(reply, NULL, 10);
}

static bool object_listed(const char *key, long size)
{
	char reply[8192], want[512];

	assert_int_equal(test_s3rver_command(&s3, "objects", reply, sizeof(reply)), 0);
	snprintf(want, sizeof(want), " %s=%ld", key, size);
	return strstr(reply, want) != NULL;
}

static bool key_listed(const char *key)
{
	char reply[8192], want[512];

	assert_int_equal(test_s3rver_command(&s3, "objects", reply, sizeof(reply)), 0);
	snprintf(want, sizeof(want), " %s=", key);
	return strstr(reply, want) != NULL;
}

/* Runs fn with stderr captured; returns what was logged (malloc'd). */
static char *capture_stderr(pc_err (*fn)(void *), void *arg, pc_err *err)
{
	char path[] = "/tmp/objstore-s3-log-XXXXXX";
	int fd = mkstemp(path), saved = dup(2);
	char *text = calloc(1, 65536);

	assert_true(fd >= 0 && saved >= 0 && text);
	fflush(stderr);
	assert_true(dup2(fd, 2) >= 0);
	*err = fn(arg);
	fflush(stderr);
	assert_true(dup2(saved, 2) >= 0);
	close(saved);
	assert_true(pread(fd, text, 65535, 0) >= 0);
	close(fd);
	unlink(path);
	return text;
}

static void test_url_parsing(void **state)
{
	static const char *const bad[] = {
	    "s3://",
	    "s3://ab",				      /* bucket too short */
	    "s3://Upper",			      /* upper case */
	    "s3://-bucket",			      /* must start with a letter or digit */
	    "s3://bucket/../x",			      /* prefix with .. */
	    "s3://bucket/a//b",			      /* empty segment */
	    "s3://bucket?region=us-east-1&color=red", /* unknown parameter */
	    "s3://bucket?part_size=1048576",	      /* below 5 MiB */
	    "s3://bucket?part_size=12abc",
	    "s3://bucket?part_size=-5242880",
	    "s3://bucket?retries=11",
	    "s3://bucket?region=US_EAST",
	    "s3://bucket?endpoint=ftp://x",
	    "s3://bucket?endpoint=http://host:0",
	    "s3://bucket?endpoint=http://host:99999",
	    "s3://bucket?endpoint=http://:80", /* a port but no host (found by fuzzing) */
	    "s3://bucket?endpoint=https://:9000/",
	    "s3://bucket?endpoint=http://user@host",
	    "s3://bucket?endpoint=http://host/path",
	    "s3://bucket?endpoint=http://h%00st",
	    "s3://bucket?endpoint",
	};
	objstore *os = (objstore *)1;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (objstore_open(&os, bad[i]) != PC_EINVAL)
			fail_msg("accepted '%s'", bad[i]);
		assert_null(os);
	}
	assert_int_equal(objstore_open(&os, "s3://bucket/a/b/?endpoint=http%3A%2F%2F127.0.0.1%3A1"
					    "&region=eu-central-1&part_size=5242880&retries=0"),
			 PC_OK);
	objstore_free(os);
	/* No credentials: refused at open, with a message naming the variables. */
	unsetenv("AWS_ACCESS_KEY_ID");
	assert_int_equal(objstore_open(&os, "s3://bucket"), PC_EAUTH);
	assert_null(os);
	setenv("AWS_ACCESS_KEY_ID", "S3RVER", 1);
}

static void test_single_put(void **state)
{
	objstore *os = open_store("single", "");
	unsigned char data[100000];
	struct test_sink c = {.buf = malloc(sizeof(data)), .cap = sizeof(data)};
	struct objstore_stat st;
	objstore_writer *w;

	pattern(data, sizeof(data), 1);
	assert_int_equal(objstore_writer_open(os, "jobs/one/pi.txt", &w), PC_OK);
	assert_int_equal(write_chunked(w, data, sizeof(data), 999), PC_OK);
	assert_false(key_listed("single/jobs/one/pi.txt")); /* nothing visible before commit */
	assert_int_equal(objstore_writer_commit(w), PC_OK);
	assert_true(object_listed("single/jobs/one/pi.txt", (long)sizeof(data)));

	assert_int_equal(objstore_stat(os, "jobs/one/pi.txt", &st), PC_OK);
	assert_int_equal(st.size, sizeof(data));
	assert_int_equal(
	    objstore_read(os, "jobs/one/pi.txt", 0, sizeof(data), test_sink_collect, &c), PC_OK);
	assert_int_equal(c.len, sizeof(data));
	assert_memory_equal(c.buf, data, sizeof(data));

	/* An empty object. */
	assert_int_equal(objstore_writer_open(os, "empty", &w), PC_OK);
	assert_int_equal(objstore_writer_commit(w), PC_OK);
	assert_int_equal(objstore_stat(os, "empty", &st), PC_OK);
	assert_int_equal(st.size, 0);
	assert_int_equal(objstore_delete(os, "empty"), PC_OK);
	free(c.buf);
	objstore_free(os);
}

static void test_ranges_and_errors(void **state)
{
	objstore *os = open_store("ranges", "");
	unsigned char data[4096];
	struct test_sink c = {.buf = malloc(sizeof(data)), .cap = sizeof(data)};
	struct objstore_stat st;
	objstore_writer *w;

	pattern(data, sizeof(data), 2);
	assert_int_equal(objstore_writer_open(os, "r.bin", &w), PC_OK);
	assert_int_equal(objstore_write(w, data, sizeof(data)), PC_OK);
	assert_int_equal(objstore_writer_commit(w), PC_OK);

	assert_int_equal(objstore_read(os, "r.bin", 1000, 1, test_sink_collect, &c), PC_OK);
	assert_int_equal(c.len, 1);
	assert_int_equal(c.buf[0], data[1000]);
	c.len = 0;
	assert_int_equal(objstore_read(os, "r.bin", 4000, 96, test_sink_collect, &c), PC_OK);
	assert_memory_equal(c.buf, data + 4000, 96);
	c.len = 0;
	assert_int_equal(objstore_read(os, "r.bin", 4096, 0, test_sink_collect, &c), PC_OK);
	assert_int_equal(c.len, 0);
	/* Past the end: S3 would cut the range short; the store refuses it whole. */
	assert_int_equal(objstore_read(os, "r.bin", 4000, 97, test_sink_collect, &c), PC_ERANGE);
	assert_int_equal(objstore_read(os, "r.bin", 4096, 1, test_sink_collect, &c), PC_ERANGE);
	assert_int_equal(objstore_read(os, "r.bin", 5000, 0, test_sink_collect, &c), PC_ERANGE);
	assert_int_equal(c.len, 0);
	assert_int_equal(objstore_read(os, "r.bin", 0, 10, refusing_sink, NULL), PC_ECONFLICT);
	assert_int_equal(objstore_read(os, "missing", 0, 10, test_sink_collect, &c), PC_ENOTFOUND);
	assert_int_equal(objstore_read(os, "missing", 0, 0, test_sink_collect, &c), PC_ENOTFOUND);
	assert_int_equal(objstore_stat(os, "missing", &st), PC_ENOTFOUND);

	assert_int_equal(objstore_delete(os, "r.bin"), PC_OK);
	assert_int_equal(objstore_stat(os, "r.bin", &st), PC_ENOTFOUND);
	assert_int_equal(objstore_delete(os, "r.bin"), PC_OK);
	assert_false(key_listed("ranges/r.bin"));
	free(c.buf);
	objstore_free(os);
}

/* 11 MiB + a bit in 5 MiB parts: three parts, the last one short. */
static void test_multipart(void **state)
{
	const size_t len = 11 * MiB + 12345;
	objstore *os = open_store("multi", "&part_size=5242880");
	unsigned char *data = malloc(len);
	struct test_sink c = {.buf = malloc(len), .cap = len};
	struct objstore_stat st;
	objstore_writer *w;

	assert_non_null(data);
	assert_non_null(c.buf);
	pattern(data, len, 3);
	assert_int_equal(objstore_writer_open(os, "jobs/big/pi.txt", &w), PC_OK);
	assert_int_equal(write_chunked(w, data, 6 * MiB, 65536), PC_OK);
	/* The first part went out: one upload in progress, no object yet. */
	assert_int_equal(reply_count("uploads"), 1);
	assert_false(key_listed("multi/jobs/big/pi.txt"));
	assert_int_equal(write_chunked(w, data + 6 * MiB, len - 6 * MiB, 100000), PC_OK);
	assert_int_equal(objstore_writer_commit(w), PC_OK);
	assert_int_equal(reply_count("uploads"), 0);
	assert_true(object_listed("multi/jobs/big/pi.txt", (long)len));

	assert_int_equal(objstore_stat(os, "jobs/big/pi.txt", &st), PC_OK);
	assert_int_equal(st.size, len);
	assert_int_equal(objstore_read(os, "jobs/big/pi.txt", 0, len, test_sink_collect, &c),
			 PC_OK);
	assert_int_equal(c.len, len);
	assert_memory_equal(c.buf, data, len);
	assert_true(c.calls > 1); /* streamed, not one buffer */
	/* Ranges across the part boundaries. */
	c.len = 0;
	assert_int_equal(
	    objstore_read(os, "jobs/big/pi.txt", 5 * MiB - 3, 5 * MiB + 6, test_sink_collect, &c),
	    PC_OK);
	assert_memory_equal(c.buf, data + 5 * MiB - 3, 5 * MiB + 6);
	c.len = 0;
	assert_int_equal(objstore_read(os, "jobs/big/pi.txt", len - 7, 7, test_sink_collect, &c),
			 PC_OK);
	assert_memory_equal(c.buf, data + len - 7, 7);

	/* Exactly one part's worth is still a single PUT. */
	assert_int_equal(objstore_writer_open(os, "exact", &w), PC_OK);
	assert_int_equal(write_chunked(w, data, 5 * MiB, MiB), PC_OK);
	assert_int_equal(reply_count("uploads"), 0);
	assert_int_equal(objstore_writer_commit(w), PC_OK);
	assert_true(object_listed("multi/exact", 5 * MiB));

	assert_int_equal(objstore_delete(os, "jobs/big/pi.txt"), PC_OK);
	assert_int_equal(objstore_delete(os, "exact"), PC_OK);
	free(c.buf);
	free(data);
	objstore_free(os);
}

static void test_abort(void **state)
{
	objstore *os = open_store("abort", "&part_size=5242880");
	unsigned char *data = malloc(6 * MiB);
	objstore_writer *w;

	assert_non_null(data);
	pattern(data, 6 * MiB, 4);
	/* Multipart in progress, then abort: the upload is gone and no object appears. */
	assert_int_equal(objstore_writer_open(os, "a.bin", &w), PC_OK);
	assert_int_equal(objstore_write(w, data, 6 * MiB), PC_OK);
	assert_int_equal(reply_count("uploads"), 1);
	objstore_writer_abort(w);
	assert_int_equal(reply_count("uploads"), 0);
	assert_false(key_listed("abort/a.bin"));
	/* Abort before any part: nothing was ever sent. */
	assert_int_equal(objstore_writer_open(os, "b.bin", &w), PC_OK);
	assert_int_equal(objstore_write(w, data, 1000), PC_OK);
	objstore_writer_abort(w);
	assert_false(key_listed("abort/b.bin"));
	free(data);
	objstore_free(os);
}

/* Runs the curl CLI; returns the HTTP status it saw (0 if it could not connect). */
static int curl_get(const char *url, const char *out_path)
{
	char cmd[4096], status[16] = "";
	char *end;
	long code;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "curl -s -o '%s' -w '%%{http_code}' '%s'", out_path, url);
	p = popen(cmd, "r");
	assert_non_null(p);
	assert_non_null(fgets(status, sizeof(status), p));
	pclose(p);
	code = strtol(status, &end, 10);
	return end != status && code > 0 && code < 1000 ? (int)code : 0;
}

static void test_presigned_url_with_curl(void **state)
{
	objstore *os = open_store("presign", "");
	const char *text = "3.14159265358979323846264338327950288419716939937510\n";
	char path[] = "/tmp/objstore-s3-get-XXXXXX";
	char got[256] = "";
	objstore_writer *w;
	char *url, *bad;
	int fd;

	assert_int_equal(objstore_writer_open(os, "jobs/p/pi.txt", &w), PC_OK);
	assert_int_equal(objstore_write(w, text, strlen(text)), PC_OK);
	assert_int_equal(objstore_writer_commit(w), PC_OK);

	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(objstore_presign_get(os, "jobs/p/pi.txt", 900, &url), PC_OK);
	assert_non_null(strstr(url, "X-Amz-Expires=900&"));
	assert_int_equal(curl_get(url, path), 200);
	assert_true(pread(fd, got, sizeof(got) - 1, 0) == (ssize_t)strlen(text));
	assert_string_equal(got, text);

	/* Tampered with (another object's name): the signature no longer matches. */
	bad = strdup(url);
	assert_non_null(bad);
	*strstr(bad, "pi.txt") = 'P';
	assert_int_equal(curl_get(bad, "/dev/null"), 403);
	assert_int_equal(reply_count("refused"), 1);
	free(bad);
	free(url);

	/* Expired: signed an hour ago for 60 s. */
	assert_int_equal(objstore_s3_presign_at(os, "jobs/p/pi.txt", 60, time(NULL) - 3600, &url),
			 PC_OK);
	assert_int_equal(curl_get(url, "/dev/null"), 403);
	free(url);

	/* With a session token the URL carries X-Amz-Security-Token, signed. */
	setenv("AWS_SESSION_TOKEN", "FwoGZXIvYXdzEXAMPLE/token+part==", 1);
	{
		objstore *tos = open_store("presign", "");
		struct objstore_stat st;

		/* Requests signed by libcurl carry it too (x-amz-security-token, signed). */
		assert_int_equal(objstore_writer_open(tos, "token.txt", &w), PC_OK);
		assert_int_equal(objstore_write(w, "t", 1), PC_OK);
		assert_int_equal(objstore_writer_commit(w), PC_OK);
		assert_int_equal(objstore_stat(tos, "token.txt", &st), PC_OK);
		assert_int_equal(st.size, 1);
		assert_int_equal(objstore_delete(tos, "token.txt"), PC_OK);
		assert_int_equal(objstore_presign_get(tos, "jobs/p/pi.txt", 60, &url), PC_OK);
		assert_non_null(strstr(url, "&X-Amz-Security-Token=FwoGZXIvYXdzEXAMPLE%2Ftoken"
					    "%2Bpart%3D%3D&X-Amz-Signature="));
		assert_int_equal(curl_get(url, path), 200);
		free(url);
		objstore_free(tos);
	}
	unsetenv("AWS_SESSION_TOKEN");
	close(fd);
	unlink(path);
	assert_int_equal(objstore_delete(os, "jobs/p/pi.txt"), PC_OK);
	objstore_free(os);
}

static pc_err put_small(void *arg)
{
	objstore *os = arg;
	objstore_writer *w;
	pc_err err;

	err = objstore_writer_open(os, "denied.txt", &w);
	if (err != PC_OK)
		return err;
	err = objstore_write(w, "x", 1);
	if (err != PC_OK) {
		objstore_writer_abort(w);
		return err;
	}
	return objstore_writer_commit(w);
}

static void test_wrong_credentials(void **state)
{
	struct objstore_stat st;
	objstore *os;
	pc_err err;
	char *log;

	/* An unknown access key: s3rver's InvalidAccessKeyId. */
	setenv("AWS_ACCESS_KEY_ID", "WRONGKEY", 1);
	os = open_store("creds", "");
	log = capture_stderr(put_small, os, &err);
	assert_int_equal(err, PC_EAUTH);
	assert_non_null(strstr(log, "InvalidAccessKeyId"));
	assert_non_null(strstr(log, "check AWS_ACCESS_KEY_ID"));
	assert_null(strstr(log, "retry")); /* 4xx: never retried */
	free(log);
	/* The caller gets the cause too: the request, the HTTP status and S3's code. */
	assert_non_null(strstr(objstore_errmsg(os), "PUT s3://"));
	assert_non_null(strstr(objstore_errmsg(os), "HTTP 403 InvalidAccessKeyId"));
	assert_int_equal(objstore_stat(os, "anything", &st), PC_EAUTH);
	objstore_free(os);
	setenv("AWS_ACCESS_KEY_ID", "S3RVER", 1);

	/* The right key with a wrong secret: the signature check refuses it. */
	setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret", 1);
	os = open_store("creds", "");
	log = capture_stderr(put_small, os, &err);
	assert_int_equal(err, PC_EAUTH);
	assert_non_null(strstr(log, "SignatureDoesNotMatch"));
	free(log);
	assert_non_null(strstr(objstore_errmsg(os), "HTTP 403 SignatureDoesNotMatch"));
	objstore_free(os);
	setenv("AWS_SECRET_ACCESS_KEY", "S3RVER", 1);
	assert_false(key_listed("creds/denied.txt"));
	/* That refusal was the point (and reading the count clears it for check_clean). */
	assert_int_equal(reply_count("refused"), 1);
}

/*
 * The endpoint goes away in the middle of a multipart upload: the next part fails after
 * its retries, the writer refuses to commit and aborts, and once the endpoint is back
 * neither an object nor an upload is left.
 */
static void test_endpoint_goes_away(void **state)
{
	objstore *os = open_store("gone", "&part_size=5242880&retries=1");
	unsigned char *data = malloc(11 * MiB);
	char reply[256];
	objstore_writer *w;
	pc_err err;

	assert_non_null(data);
	pattern(data, 11 * MiB, 5);
	assert_int_equal(objstore_writer_open(os, "jobs/g/pi.txt", &w), PC_OK);
	assert_int_equal(write_chunked(w, data, 6 * MiB, MiB), PC_OK);
	assert_int_equal(reply_count("uploads"), 1);
	assert_int_equal(test_s3rver_command(&s3, "stop", reply, sizeof(reply)), 0);
	err = write_chunked(w, data + 6 * MiB, 5 * MiB, MiB);
	assert_int_equal(err, PC_EUNAVAILABLE);
	/* Later writes keep failing: the object would have a hole. */
	assert_int_equal(objstore_write(w, data, 1), PC_EUNAVAILABLE);
	assert_int_equal(test_s3rver_command(&s3, "start", reply, sizeof(reply)), 0);
	assert_int_equal(objstore_writer_commit(w), PC_EUNAVAILABLE);
	/* The failed part's detail, not the abort's (which succeeded): curl's reason and the
	 * endpoint. */
	assert_non_null(strstr(objstore_errmsg(os), "PUT s3://"));
	assert_non_null(strstr(objstore_errmsg(os), s3.endpoint));
	assert_int_equal(reply_count("uploads"), 0);
	assert_false(key_listed("gone/jobs/g/pi.txt"));
	free(data);
	objstore_free(os);
}

/* An endpoint where nothing listens (a closed loopback port): PC_EUNAVAILABLE, and the
 * detail names the endpoint and curl's reason, unlike a refused credential or a full disk. */
static void test_unreachable_endpoint(void **state)
{
	objstore *os;
	pc_err err;
	char *log;

	assert_int_equal(
	    objstore_open(&os,
			  "s3://bucket/p?endpoint=http://127.0.0.1:1&region=us-east-1&retries=0"),
	    PC_OK);
	log = capture_stderr(put_small, os, &err);
	free(log);
	assert_int_equal(err, PC_EUNAVAILABLE);
	assert_non_null(strstr(objstore_errmsg(os), "PUT s3://bucket/p/"));
	assert_non_null(strstr(objstore_errmsg(os), "onnect")); /* "Failed to connect ..." */
	assert_non_null(strstr(objstore_errmsg(os), "(endpoint http://127.0.0.1:1)"));
	objstore_free(os);
}

struct transient_case {
	objstore *os;
	const unsigned char *data;
	size_t len;
};

static pc_err put_and_read_back(void *arg)
{
	struct transient_case *t = arg;
	struct test_sink c = {.buf = malloc(t->len), .cap = t->len};
	objstore_writer *w;
	pc_err err;

	if (!c.buf)
		return PC_ENOMEM;
	err = objstore_writer_open(t->os, "t.bin", &w);
	if (err == PC_OK) {
		err = write_chunked(w, t->data, t->len, 65536);
		if (err == PC_OK)
			err = objstore_writer_commit(w);
		else
			objstore_writer_abort(w);
	}
	if (err == PC_OK)
		err = objstore_read(t->os, "t.bin", 0, t->len, test_sink_collect, &c);
	if (err == PC_OK && (c.len != t->len || memcmp(c.buf, t->data, t->len) != 0))
		err = PC_EINTERNAL;
	free(c.buf);
	return err;
}

/* 5xx answers are retried with backoff; a read cut off mid-stream resumes where it stopped. */
static void test_transient_errors(void **state)
{
	const size_t len = 6 * MiB + 1;
	struct transient_case t = {.os = open_store("transient", "&part_size=5242880&retries=3"),
				   .data = malloc(len),
				   .len = len};
	char reply[64];
	pc_err err;
	char *log;

	assert_non_null(t.data);
	pattern((unsigned char *)t.data, len, 8);
	/* The first request (CreateMultipartUpload) meets three 503s and succeeds on its last
	 * retry; the rest of the upload and the read back run clean. */
	assert_int_equal(test_s3rver_command(&s3, "fail 3", reply, sizeof(reply)), 0);
	log = capture_stderr(put_and_read_back, &t, &err);
	assert_int_equal(err, PC_OK);
	assert_non_null(strstr(log, "SlowDown"));
	assert_non_null(strstr(log, "retry 3 of 3"));
	free(log);

	/* More failures than retries: the error, with S3's code, and nothing left behind. */
	assert_int_equal(test_s3rver_command(&s3, "fail 4", reply, sizeof(reply)), 0);
	log = capture_stderr(put_and_read_back, &t, &err);
	assert_int_equal(err, PC_EUNAVAILABLE);
	assert_non_null(strstr(log, "HTTP 503 SlowDown"));
	free(log);

	/* The GET is cut after 1,000,000 bytes: the read resumes from there. */
	assert_int_equal(test_s3rver_command(&s3, "cut 1000000", reply, sizeof(reply)), 0);
	log = capture_stderr(put_and_read_back, &t, &err);
	assert_int_equal(err, PC_OK);
	assert_non_null(strstr(log, "resuming at byte 1000000"));
	free(log);
	assert_int_equal(objstore_delete(t.os, "t.bin"), PC_OK);
	free((void *)t.data);
	objstore_free(t.os);
}

/* A writer killed mid-upload leaves an incomplete upload; discard aborts exactly that key's. */
static void test_discard_incomplete(void **state)
{
	objstore *os = open_store("discard", "&part_size=5242880");
	unsigned char *data = malloc(6 * MiB);
	objstore_writer *w;
	int status;
	pid_t pid;

	assert_non_null(data);
	pattern(data, 6 * MiB, 6);
	assert_int_equal(objstore_writer_open(os, "jobs/d/pi.txt", &w), PC_OK);
	assert_int_equal(objstore_write(w, data, 100), PC_OK);
	assert_int_equal(objstore_writer_commit(w), PC_OK);
	for (int i = 0; i < 2; i++) {
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			objstore *cos = open_store("discard", "&part_size=5242880");
			const char *name = i == 0 ? "jobs/d/pi.txt" : "jobs/d/pi.txt.keep";

			if (objstore_writer_open(cos, name, &w) != PC_OK ||
			    objstore_write(w, data, 6 * MiB) != PC_OK)
				_exit(1);
			_exit(0); /* as if killed: neither commit nor abort */
		}
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	assert_int_equal(reply_count("uploads"), 2);
	assert_int_equal(objstore_discard_incomplete(os, "jobs/d/pi.txt"), PC_OK);
	/* Only that key's upload: the one of "jobs/d/pi.txt.keep" (same prefix) stays. */
	assert_int_equal(reply_count("uploads"), 1);
	assert_true(object_listed("discard/jobs/d/pi.txt", 100));
	assert_int_equal(objstore_discard_incomplete(os, "jobs/d/pi.txt.keep"), PC_OK);
	assert_int_equal(reply_count("uploads"), 0);
	assert_int_equal(objstore_discard_incomplete(os, "jobs/none/pi.txt"), PC_OK);
	assert_int_equal(objstore_delete(os, "jobs/d/pi.txt"), PC_OK);
	free(data);
	objstore_free(os);
}

/*
 * The endpoint is gone when commit sends the last part: commit fails and cannot abort
 * either, so the upload outlives it; once the endpoint is back, discard removes it.
 */
static void test_endpoint_gone_at_commit(void **state)
{
	objstore *os = open_store("gone2", "&part_size=5242880&retries=1");
	unsigned char *data = malloc(6 * MiB);
	char reply[256];
	objstore_writer *w;

	assert_non_null(data);
	pattern(data, 6 * MiB, 7);
	assert_int_equal(objstore_writer_open(os, "jobs/c/pi.txt", &w), PC_OK);
	assert_int_equal(objstore_write(w, data, 6 * MiB), PC_OK);
	assert_int_equal(test_s3rver_command(&s3, "stop", reply, sizeof(reply)), 0);
	assert_int_equal(objstore_writer_commit(w), PC_EUNAVAILABLE);
	assert_int_equal(test_s3rver_command(&s3, "start", reply, sizeof(reply)), 0);
	assert_false(key_listed("gone2/jobs/c/pi.txt"));
	assert_int_equal(reply_count("uploads"), 1);
	assert_int_equal(objstore_discard_incomplete(os, "jobs/c/pi.txt"), PC_OK);
	assert_int_equal(reply_count("uploads"), 0);
	free(data);
	objstore_free(os);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_url_parsing, check_clean),
	    cmocka_unit_test_teardown(test_single_put, check_clean),
	    cmocka_unit_test_teardown(test_ranges_and_errors, check_clean),
	    cmocka_unit_test_teardown(test_multipart, check_clean),
	    cmocka_unit_test_teardown(test_abort, check_clean),
	    cmocka_unit_test_teardown(test_presigned_url_with_curl, check_clean),
	    cmocka_unit_test_teardown(test_wrong_credentials, check_clean),
	    cmocka_unit_test_teardown(test_unreachable_endpoint, check_clean),
	    cmocka_unit_test_teardown(test_transient_errors, check_clean),
	    cmocka_unit_test_teardown(test_endpoint_goes_away, check_clean),
	    cmocka_unit_test_teardown(test_endpoint_gone_at_commit, check_clean),
	    cmocka_unit_test_teardown(test_discard_incomplete, check_clean),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
