/* test_s3rver.h - a private S3 endpoint for C tests: s3rver behind s3rver.py's SigV4 check. */
#ifndef PICLUSTER_TEST_S3RVER_H
#define PICLUSTER_TEST_S3RVER_H

#include <limits.h>
#include <stdio.h>
#include <sys/types.h>

struct test_s3rver {
	pid_t pid;	     /* the s3rver.py --serve process */
	FILE *in, *out;	     /* its stdin (commands) and stdout (replies) */
	char endpoint[64];   /* "http://127.0.0.1:PORT": the signature-checking proxy */
	char bucket[64];     /* the bucket s3rver was configured with */
	char dir[PATH_MAX];  /* s3rver's data lives in DIR/data */
	char access_key[16]; /* s3rver's key and secret: "S3RVER" */
};

/*
 * Starts tests/support/s3rver.py --serve (s3rver on a free 127.0.0.1 port with a temp dir,
 * behind a proxy that checks every SigV4 signature with botocore) and waits until it is
 * ready. When the test process ends, the harness sees end of input and stops s3rver.
 * Returns 0, or -1 with a message on stderr.
 */
int test_s3rver_start(struct test_s3rver *s);

/* "s3://BUCKET/PREFIX?endpoint=...&region=us-east-1" + extra ("&part_size=..." or "") into
 * buf; -1 if it does not fit. */
int test_s3rver_url(const struct test_s3rver *s, const char *prefix, const char *extra, char *buf,
		    size_t cap);

/*
 * Sends one command to the harness: "stop" (s3rver killed by PID: the endpoint goes away),
 * "start" (back on the same port and data), "uploads" ("ok N KEY=ID ..." from
 * ListMultipartUploads), "objects" ("ok N KEY=SIZE ..."), "refused" ("ok N LAST-REASON":
 * requests whose signature the proxy refused since the last "refused"), "fail N" (the next
 * N requests are answered 503 SlowDown), "cut N" (the next successful GET is cut off after
 * N body bytes). The reply line, without "ok
 * ", goes to reply. Returns 0 for an "ok" reply, -1 otherwise.
 */
int test_s3rver_command(struct test_s3rver *s, const char *cmd, char *reply, size_t cap);

/* Stops everything, removes the temp dir, reaps the harness. Safe after a failed start. */
void test_s3rver_free(struct test_s3rver *s);

#endif
