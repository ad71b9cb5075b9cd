/* test_jobstore_retention.c - retention in the Redis store against a real redis-server: the
 * ended and results indexes, leases, expiring results and records, backlogs and backfill. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "picluster/job.h"
#include "picluster/jobstore.h"
#include "test_store.h"

static struct test_store fx; /* the server, the store and a raw connection */
static jobstore *st;	     /* fx.st */
static redisContext *raw;    /* fx.raw: for looking at keys directly */

static int group_setup(void **state)
{
	if (test_store_start(&fx) != 0)
		return -1;
	st = fx.st;
	raw = fx.raw;
	return 0;
}

static int group_teardown(void **state)
{
	test_store_free(&fx);
	return 0;
}

static int flush(void **state)
{
	return test_store_flush(&fx);
}

/* The score of member in key; -1 when it is not there. */
static long long score_of(const char *key, const char *member)
{
	redisReply *r = redisCommand(raw, "ZSCORE %s %s", key, member);
	long long s = -1;

	assert_non_null(r);
	if (r->type == REDIS_REPLY_STRING)
		s = strtoll(r->str, NULL, 10);
	freeReplyObject(r);
	return s;
}

/* Runs a command on the raw connection and returns its integer reply. */
static long long raw_int(const char *fmt, const char *a, const char *b)
{
	redisReply *r = redisCommand(raw, fmt, a, b);
	long long v;

	assert_non_null(r);
	assert_int_equal(r->type, REDIS_REPLY_INTEGER);
	v = r->integer;
	freeReplyObject(r);
	return v;
}

/* A new job (owner may be ""), moved along a legal path to `target`; finished ones get a
 * result. */
static void make_job(struct job *job, const char *owner, enum job_state target)
{
	static const enum job_state to_finished[] = {JOB_QUEUED, JOB_RUNNING, JOB_FINISHED};
	struct job_update upd = {.set_result = true, .result_sha256 = "ab", .result_bytes = 12};
	char object[JOB_OBJECT_MAX];
	size_t n = target == JOB_FINISHED ? 3 : target == JOB_RUNNING ? 2 : 0;

	assert_int_equal(job_init_new(job, 10), PC_OK);
	snprintf(job->owner, sizeof(job->owner), "%s", owner);
	assert_int_equal(jobstore_job_create(st, job, 0), PC_OK);
	assert_int_equal(job_result_object_name(job->id, object, sizeof(object)), PC_OK);
	upd.result_object = object;
	for (size_t i = 0; i < n; i++)
		assert_int_equal(
		    jobstore_job_transition(st, job->id, to_finished[i], NULL,
					    to_finished[i] == JOB_FINISHED ? &upd : NULL, NULL),
		    PC_OK);
	if (target == JOB_ERRORED || target == JOB_CANCELLED)
		assert_int_equal(jobstore_job_transition(st, job->id, target, NULL, NULL, NULL),
				 PC_OK);
	assert_int_equal(jobstore_job_get(st, job->id, job), PC_OK);
	assert_int_equal(job->state, target);
}

/* Every move into a terminal state indexes the job in ended by finished_at; finished jobs
 * with a result in results too; live jobs in neither. */
static void test_indexes(void **state)
{
	struct job fin, err, can, run;

	make_job(&fin, "alice", JOB_FINISHED);
	make_job(&err, "", JOB_ERRORED);
	make_job(&can, "", JOB_CANCELLED);
	make_job(&run, "", JOB_RUNNING);
	assert_true(fin.finished_at_ms > 0);
	assert_int_equal(score_of("picluster:ended", fin.id), fin.finished_at_ms);
	assert_int_equal(score_of("picluster:results", fin.id), fin.finished_at_ms);
	assert_int_equal(score_of("picluster:ended", err.id), err.finished_at_ms);
	assert_int_equal(score_of("picluster:results", err.id), -1);
	assert_int_equal(score_of("picluster:ended", can.id), can.finished_at_ms);
	assert_int_equal(score_of("picluster:results", can.id), -1);
	assert_int_equal(score_of("picluster:ended", run.id), -1);
	assert_int_equal(score_of("picluster:results", run.id), -1);
	assert_false(fin.result_expired);
}

/* Two holders: one lease, renewed by its holder only, taken over once it expires, released
 * only by its holder. */
static void test_lease(void **state)
{
	char a[JOBSTORE_LEASE_TOKEN_LEN + 1], b[JOBSTORE_LEASE_TOKEN_LEN + 1];
	jobstore *st2;
	redisReply *r;
	struct timespec nap = {0, 20 * 1000000L};
	int tries = 0;

	assert_int_equal(jobstore_open(&st2, fx.redis.url, NULL, 2000), PC_OK);
	assert_int_equal(jobstore_lease_token_new(a), PC_OK);
	assert_int_equal(jobstore_lease_token_new(b), PC_OK);
	assert_int_equal(strlen(a), JOBSTORE_LEASE_TOKEN_LEN);
	assert_string_not_equal(a, b);
	assert_int_equal(jobstore_lease_acquire(st, "retention", a, 10000), PC_OK);
	assert_int_equal(jobstore_lease_acquire(st2, "retention", b, 10000), PC_EEXISTS);
	assert_int_equal(jobstore_lease_renew(st2, "retention", b, 10000), PC_ECONFLICT);
	assert_int_equal(jobstore_lease_renew(st, "retention", a, 10000), PC_OK);
	assert_int_equal(jobstore_lease_acquire(st, "retention", a, 10000), PC_OK); /* ours */
	r = redisCommand(raw, "GET picluster:lease:retention");
	assert_non_null(r);
	assert_string_equal(r->str, a);
	freeReplyObject(r);
	/* Not the holder: the release leaves the lease alone. */
	assert_int_equal(jobstore_lease_release(st2, "retention", b), PC_OK);
	assert_int_equal(raw_int("EXISTS %s%s", "picluster:lease:", "retention"), 1);

	/* A short lease expires; the other takes it and the first can no longer renew. */
	assert_int_equal(jobstore_lease_renew(st, "retention", a, 150), PC_OK);
	while (jobstore_lease_acquire(st2, "retention", b, 10000) != PC_OK) {
		assert_true(++tries < 500); /* 10 s */
		nanosleep(&nap, NULL);
	}
	assert_int_equal(jobstore_lease_renew(st, "retention", a, 10000), PC_ECONFLICT);
	assert_int_equal(jobstore_lease_release(st, "retention", a), PC_OK);
	assert_int_equal(raw_int("EXISTS %s%s", "picluster:lease:", "retention"), 1);
	assert_int_equal(jobstore_lease_release(st2, "retention", b), PC_OK);
	assert_int_equal(raw_int("EXISTS %s%s", "picluster:lease:", "retention"), 0);

	assert_int_equal(jobstore_lease_acquire(st, "Bad name", a, 100), PC_EINVAL);
	assert_int_equal(jobstore_lease_acquire(st, "retention", "", 100), PC_EINVAL);
	assert_int_equal(jobstore_lease_acquire(st, "retention", a, 0), PC_EINVAL);
	jobstore_free(st2);
}

/* A result is due from its finished_at on: marked expired (the job keeps its result fields),
 * out of results, and marking again is harmless; other jobs are refused. */
static void test_result_expiry(void **state)
{
	char ids[4][JOB_ID_LEN + 1];
	struct job fin, run, got;
	size_t n;

	make_job(&fin, "", JOB_FINISHED);
	make_job(&run, "", JOB_RUNNING);
	assert_int_equal(jobstore_retention_due(st, JOBSTORE_RETENTION_RESULTS,
						fin.finished_at_ms - 1, ids, 4, &n),
			 PC_OK);
	assert_int_equal(n, 0);
	assert_int_equal(jobstore_result_expire(st, fin.id, fin.finished_at_ms - 1), PC_ECONFLICT);
	assert_int_equal(score_of("picluster:results", fin.id), fin.finished_at_ms);
	assert_int_equal(
	    jobstore_retention_due(st, JOBSTORE_RETENTION_RESULTS, fin.finished_at_ms, ids, 4, &n),
	    PC_OK);
	assert_int_equal(n, 1);
	assert_string_equal(ids[0], fin.id);
	assert_int_equal(jobstore_result_expire(st, fin.id, fin.finished_at_ms), PC_OK);
	assert_int_equal(jobstore_job_get(st, fin.id, &got), PC_OK);
	assert_true(got.result_expired);
	assert_true(got.has_result);
	assert_string_equal(got.result_object, fin.result_object);
	assert_int_equal(got.result_bytes, 12);
	assert_int_equal(got.state, JOB_FINISHED);
	assert_int_equal(score_of("picluster:results", fin.id), -1);
	assert_int_equal(score_of("picluster:ended", fin.id), fin.finished_at_ms);
	assert_int_equal(jobstore_result_expire(st, fin.id, fin.finished_at_ms), PC_OK);

	/* A running job has nothing to expire, whatever the cutoff. */
	assert_int_equal(jobstore_result_expire(st, run.id, INT64_MAX), PC_ECONFLICT);
	assert_int_equal(jobstore_job_get(st, run.id, &got), PC_OK);
	assert_false(got.result_expired);
	assert_int_equal(jobstore_result_expire(st, "9f8e5b1c-2d3a-4b5c-8d6e-7f8091a2b3c4", 0),
			 PC_ENOTFOUND);
	assert_int_equal(jobstore_result_expire(st, "not-an-id", 0), PC_EINVAL);
}

/* A record is deleted with every index entry, only when terminal and due. */
static void test_job_expiry(void **state)
{
	struct job fin, run, got;
	uint64_t counts[JOB_STATE_COUNT];

	make_job(&fin, "alice", JOB_FINISHED);
	make_job(&run, "alice", JOB_RUNNING);
	assert_int_equal(jobstore_job_expire(st, fin.id, fin.finished_at_ms - 1), PC_ECONFLICT);
	assert_int_equal(jobstore_job_get(st, fin.id, &got), PC_OK);
	assert_int_equal(jobstore_job_expire(st, fin.id, fin.finished_at_ms), PC_OK);
	assert_int_equal(jobstore_job_get(st, fin.id, &got), PC_ENOTFOUND);
	assert_int_equal(score_of("picluster:jobs", fin.id), -1);
	assert_int_equal(score_of("picluster:state:finished", fin.id), -1);
	assert_int_equal(score_of("picluster:owner:alice:jobs", fin.id), -1);
	assert_int_equal(score_of("picluster:ended", fin.id), -1);
	assert_int_equal(score_of("picluster:results", fin.id), -1);
	assert_int_equal(jobstore_job_expire(st, fin.id, INT64_MAX), PC_ENOTFOUND);

	/* A running job wrongly in ended (as if written by hand) is never deleted; it only
	 * leaves ended. */
	assert_int_equal(raw_int("ZADD picluster:ended 1 %s%s", run.id, ""), 1);
	assert_int_equal(jobstore_job_expire(st, run.id, INT64_MAX), PC_ECONFLICT);
	assert_int_equal(jobstore_job_get(st, run.id, &got), PC_OK);
	assert_int_equal(got.state, JOB_RUNNING);
	assert_int_equal(score_of("picluster:ended", run.id), -1);
	assert_true(score_of("picluster:owner:alice:jobs", run.id) > 0);
	assert_int_equal(jobstore_count_by_state(st, counts), PC_OK);
	assert_int_equal(counts[JOB_RUNNING], 1);
	assert_int_equal(counts[JOB_FINISHED], 0);
}

/* 250 due jobs come out in batches of at most 100, oldest first, until none is left; a job
 * that ended after the cutoff stays. */
static void test_backlog(void **state)
{
	enum { N = 250, BATCH = 100 };
	char ids[BATCH][JOB_ID_LEN + 1];
	struct job job, late;
	int64_t cutoff, prev = 0;
	size_t n, total = 0, batches = 0;

	for (int i = 0; i < N; i++)
		make_job(&job, "", i % 5 == 0 ? JOB_CANCELLED : JOB_FINISHED);
	cutoff = job.finished_at_ms;
	while (job_now_ms() <= cutoff)
		; /* the next job ends strictly after the cutoff */
	make_job(&late, "", JOB_FINISHED);
	do {
		assert_int_equal(
		    jobstore_retention_due(st, JOBSTORE_RETENTION_ENDED, cutoff, ids, BATCH, &n),
		    PC_OK);
		assert_true(n <= BATCH);
		for (size_t i = 0; i < n; i++) {
			long long s = score_of("picluster:ended", ids[i]);

			assert_true(s >= prev && s <= cutoff);
			prev = s;
			assert_int_equal(jobstore_job_expire(st, ids[i], cutoff), PC_OK);
		}
		total += n;
		batches += n > 0;
	} while (n == BATCH);
	assert_int_equal(total, N);
	assert_int_equal(batches, 3);
	assert_int_equal(raw_int("ZCARD %s%s", "picluster:jobs", ""), 1);
	assert_int_equal(raw_int("ZCARD %s%s", "picluster:ended", ""), 1);
	assert_int_equal(raw_int("ZCARD %s%s", "picluster:results", ""), 1);
	assert_int_equal(jobstore_job_get(st, late.id, &job), PC_OK);
}

/* Jobs that ended before the indexes existed are found by counting and indexed by the walk;
 * a dangling id (no record) gets score 0 and is cleaned up by the next expiry. */
static void test_backfill(void **state)
{
	const char *ghost = "9f8e5b1c-2d3a-4b5c-8d6e-7f8091a2b3c4";
	struct jobstore_backfill walk = {0};
	struct job fin[4], gone, err, run;
	uint64_t missing, added, total = 0;
	int steps = 0;

	for (int i = 0; i < 4; i++)
		make_job(&fin[i], "", JOB_FINISHED);
	make_job(&gone, "", JOB_FINISHED);
	assert_int_equal(jobstore_result_expire(st, gone.id, INT64_MAX), PC_OK);
	make_job(&err, "", JOB_ERRORED);
	make_job(&run, "", JOB_RUNNING);
	/* As an older gateway left them: no ended, no results; and an id without a record. */
	assert_int_equal(raw_int("DEL %s%s", "picluster:ended", ""), 1);
	assert_int_equal(raw_int("DEL %s%s", "picluster:results", ""), 1);
	assert_int_equal(raw_int("ZADD picluster:state:cancelled 5 %s%s", ghost, ""), 1);
	assert_int_equal(jobstore_retention_missing(st, &missing), PC_OK);
	assert_int_equal(missing, 7);

	while (!walk.done) {
		assert_int_equal(jobstore_retention_backfill(st, &walk, 2, &added), PC_OK);
		total += added;
		assert_true(++steps < 20);
	}
	assert_int_equal(total, 7);
	assert_int_equal(jobstore_retention_missing(st, &missing), PC_OK);
	assert_int_equal(missing, 0);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(score_of("picluster:ended", fin[i].id), fin[i].finished_at_ms);
		assert_int_equal(score_of("picluster:results", fin[i].id), fin[i].finished_at_ms);
	}
	assert_int_equal(score_of("picluster:results", gone.id), -1); /* already expired */
	assert_int_equal(score_of("picluster:ended", err.id), err.finished_at_ms);
	assert_int_equal(score_of("picluster:ended", run.id), -1);
	assert_int_equal(score_of("picluster:ended", ghost), 0);

	/* Walking again adds nothing. */
	memset(&walk, 0, sizeof(walk));
	total = 0;
	while (!walk.done) {
		assert_int_equal(jobstore_retention_backfill(st, &walk, 100, &added), PC_OK);
		total += added;
	}
	assert_int_equal(total, 0);
	assert_int_equal(jobstore_job_expire(st, ghost, 0), PC_ENOTFOUND);
	assert_int_equal(score_of("picluster:state:cancelled", ghost), -1);
	assert_int_equal(score_of("picluster:ended", ghost), -1);
}

/* The job's JSON: result.expires_at when it will expire, result.expired once it has. */
static void test_json(void **state)
{
	struct job job;
	json_t *j, *res;

	make_job(&job, "", JOB_FINISHED);
	j = job_to_json(&job);
	res = json_object_get(j, "result");
	assert_null(json_object_get(res, "expires_at"));
	assert_null(json_object_get(res, "expired"));
	json_decref(j);
	job.result_expires_at_ms = 1000;
	j = job_to_json(&job);
	res = json_object_get(j, "result");
	assert_string_equal(json_string_value(json_object_get(res, "expires_at")),
			    "1970-01-01T00:00:01.000Z");
	assert_null(json_object_get(res, "expired"));
	json_decref(j);
	job.result_expired = true;
	j = job_to_json(&job);
	res = json_object_get(j, "result");
	assert_true(json_is_true(json_object_get(res, "expired")));
	assert_non_null(json_object_get(res, "sha256"));
	assert_non_null(json_object_get(res, "object"));
	json_decref(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_indexes, flush),
	    cmocka_unit_test_setup(test_lease, flush),
	    cmocka_unit_test_setup(test_result_expiry, flush),
	    cmocka_unit_test_setup(test_job_expiry, flush),
	    cmocka_unit_test_setup(test_backlog, flush),
	    cmocka_unit_test_setup(test_backfill, flush),
	    cmocka_unit_test_setup(test_json, flush),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
