/* test_jobstore.c - the Redis job store against a real redis-server: transitions, races, the
 * queue, listing, URLs and Redis going away and coming back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "picluster/job.h"
#include "picluster/jobstore.h"
#include "test_redis.h"

static struct test_redis redis;
static jobstore *st;
static redisContext *raw; /* a plain connection for looking at keys directly */

static int raw_connect(void)
{
	struct timeval tv = {.tv_sec = 5};

	if (raw)
		redisFree(raw);
	raw = redisConnectWithTimeout("127.0.0.1", redis.port, tv);
	return raw && !raw->err ? 0 : -1;
}

static int group_setup(void **state)
{
	if (test_redis_start(&redis) != 0)
		return -1;
	if (jobstore_open(&st, redis.url, NULL, 2000) != PC_OK)
		return -1;
	return raw_connect();
}

static int group_teardown(void **state)
{
	jobstore_free(st);
	if (raw)
		redisFree(raw);
	test_redis_free(&redis);
	return 0;
}

static int flush(void **state)
{
	const char *argv[] = {"FLUSHALL"};

	return test_redis_command(&redis, 1, argv);
}

/* Whether id is a member of the sorted set <prefix>state:<s>. */
static bool in_state_set(const char *id, enum job_state s)
{
	redisReply *r = redisCommand(raw, "ZSCORE picluster:state:%s %s", job_state_name(s), id);
	bool present;

	assert_non_null(r);
	present = r->type == REDIS_REPLY_STRING;
	freeReplyObject(r);
	return present;
}

/* The job's state in its hash, and the sets agree: it is in exactly that state's set. */
static void assert_consistent(const char *id, enum job_state expected)
{
	struct job job;

	assert_int_equal(jobstore_job_get(st, id, &job), PC_OK);
	assert_int_equal(job.state, expected);
	for (int s = 0; s < JOB_STATE_COUNT; s++)
		assert_int_equal(in_state_set(id, s), s == (int)expected);
}

static void new_job(struct job *job, uint64_t digits)
{
	assert_int_equal(job_init_new(job, digits), PC_OK);
	assert_int_equal(jobstore_job_create(st, job, 0), PC_OK);
}

/* Moves a created job along a legal path to `target`. */
static void drive_to(const char *id, enum job_state target)
{
	static const enum job_state path_running[] = {JOB_QUEUED, JOB_RUNNING};
	static const enum job_state path_finished[] = {JOB_QUEUED, JOB_RUNNING, JOB_FINISHED};
	const enum job_state *path = NULL;
	size_t n = 0;

	switch (target) {
	case JOB_CREATED:
		break;
	case JOB_QUEUED:
		path = path_running;
		n = 1;
		break;
	case JOB_RUNNING:
		path = path_running;
		n = 2;
		break;
	case JOB_FINISHED:
		path = path_finished;
		n = 3;
		break;
	case JOB_ERRORED:
	case JOB_CANCELLED:
		path = &target;
		n = 1;
		break;
	default:
		fail();
	}
	for (size_t i = 0; i < n; i++)
		assert_int_equal(jobstore_job_transition(st, id, path[i], NULL, NULL, NULL), PC_OK);
}

static void test_url_parsing(void **state)
{
	static const char *const good[] = {
	    "redis://127.0.0.1:6379",
	    "redis://localhost",
	    "redis://h:1/15",
	    "redis://redis.example-1.net:65535/0",
	    "unix:///tmp/x.sock",
	    "unix:///tmp/x.sock?db=3",
	    "redis://:pw@h:1",
	    "redis://user:pw@h:1/2",
	    "redis://:p%40ss@h",
	    "redis://:a@b@h:1",
	    "redis://alice@h",
	    "redis://default:pw@h",
	    "redis://:@h:1",
	    "unix://:pw@/tmp/x.sock?db=2",
	    "unix://u:pw@/run/r@a/x.sock",
	};
	static const char *const bad[] = {
	    "",
	    "http://127.0.0.1:6379",
	    "redis:/127.0.0.1:6379",
	    "redis://",
	    "redis://:6379",
	    "redis://h:",
	    "redis://h:0",
	    "redis://h:65536",
	    "redis://h:12a",
	    "redis://h:-1",
	    "redis://h:+1",
	    "redis://h: 1",
	    "redis://h:1/",
	    "redis://h:1/x",
	    "redis://h:1/1/2",
	    "redis://h:1/-1",
	    "redis://h:1/99999999999",
	    "redis://:%zz@h:1",
	    "redis://:%00@h:1",
	    "redis://%4@h:1",
	    "redis://:pw@",
	    "redis://:pw@:1",
	    "unix://:pw@relative.sock",
	    "unix://:pw@",
	    "redis://[::1]:6379",
	    "redis://h h:1",
	    "REDIS://h:1",
	    "unix://",
	    "unix://relative.sock",
	    "unix:///",
	    "unix:///x?db=",
	    "unix:///x?foo=1",
	    "unix:///x?db=-1",
	    "unix:///x?db=1&x=2",
	};
	char why[128];
	jobstore *s = (jobstore *)1;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_int_equal(jobstore_url_check(good[i], why, sizeof(why)), PC_OK);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why[0] = '\0';
		if (jobstore_url_check(bad[i], why, sizeof(why)) != PC_EINVAL)
			fail_msg("accepted bad URL \"%s\"", bad[i]);
		assert_true(strlen(why) > 0);
		assert_int_equal(jobstore_open(&s, bad[i], NULL, 500), PC_EINVAL);
		assert_null(s);
		s = (jobstore *)1;
	}
	assert_int_equal(jobstore_url_check(NULL, NULL, 0), PC_EINVAL);
}

/* The password leaves the URL whole (percent-decoded), a user name stays; redaction masks it;
 * a password file gives its first line. */
static void test_url_password(void **state)
{
	static const struct {
		const char *url, *clean, *password, *redacted;
	} cases[] = {
	    {"redis://h:1/2", "redis://h:1/2", "", "redis://h:1/2"},
	    {"redis://:pw@h:1/2", "redis://h:1/2", "pw", "redis://:***@h:1/2"},
	    {"redis://:p%40ss%3Aw%2F@h", "redis://h", "p@ss:w/", "redis://:***@h"},
	    {"redis://:a@b@h:1", "redis://h:1", "a@b", "redis://:***@h:1"},
	    {"redis://alice:pw@h", "redis://alice@h", "pw", "redis://alice:***@h"},
	    {"redis://alice@h", "redis://alice@h", "", "redis://alice@h"},
	    {"redis://:@h", "redis://h", "", "redis://:@h"},
	    {"unix://:pw@/run/r@a/x.sock?db=1", "unix:///run/r@a/x.sock?db=1", "pw",
	     "unix://:***@/run/r@a/x.sock?db=1"},
	    {"unix:///run/r@a/x.sock", "unix:///run/r@a/x.sock", "", "unix:///run/r@a/x.sock"},
	};
	char clean[256], pw[64], red[256], why[PATH_MAX + 160], path[PATH_MAX + 8];
	FILE *f;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(jobstore_url_split_password(cases[i].url, clean, sizeof(clean), pw,
							     sizeof(pw), why, sizeof(why)),
				 PC_OK);
		assert_string_equal(clean, cases[i].clean);
		assert_string_equal(pw, cases[i].password);
		assert_string_equal(jobstore_url_redact(cases[i].url, red, sizeof(red)),
				    cases[i].redacted);
	}
	/* Malformed: the reason never quotes the URL (nor its password). */
	assert_int_equal(jobstore_url_split_password("redis://:s3cret@", clean, sizeof(clean), pw,
						     sizeof(pw), why, sizeof(why)),
			 PC_EINVAL);
	assert_null(strstr(why, "s3cret"));
	assert_string_equal(clean, "");
	/* Redaction also masks what the parser refuses. */
	assert_string_equal(jobstore_url_redact("unix://:s3cret@x", red, sizeof(red)),
			    "unix://:***@x");
	assert_string_equal(jobstore_url_redact("http://u:s3cret@h/p", red, sizeof(red)),
			    "http://u:***@h/p");
	assert_string_equal(jobstore_url_redact("redis://:s3cret@h", red, 9), "redis://");
	assert_int_equal(
	    jobstore_url_split_password("redis://:pw@h", clean, 8, pw, sizeof(pw), NULL, 0),
	    PC_ERANGE);
	assert_int_equal(
	    jobstore_url_split_password("redis://:pw@h", clean, sizeof(clean), pw, 2, NULL, 0),
	    PC_ERANGE);

	/* Password files: the first line, without "\n" or "\r\n". */
	snprintf(path, sizeof(path), "%s/pw", redis.dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("s3 cret\r\nsecond line\n", f);
	fclose(f);
	assert_int_equal(jobstore_password_file_read(path, pw, sizeof(pw), why, sizeof(why)),
			 PC_OK);
	assert_string_equal(pw, "s3 cret");
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("nonewline", f);
	fclose(f);
	assert_int_equal(jobstore_password_file_read(path, pw, sizeof(pw), why, sizeof(why)),
			 PC_OK);
	assert_string_equal(pw, "nonewline");
	assert_int_equal(jobstore_password_file_read(path, pw, 4, why, sizeof(why)), PC_ERANGE);
	assert_string_equal(pw, "");
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("\nsecret\n", f);
	fclose(f);
	assert_int_equal(jobstore_password_file_read(path, pw, sizeof(pw), why, sizeof(why)),
			 PC_EINVAL);
	assert_non_null(strstr(why, "empty"));
	assert_null(strstr(why, "secret"));
	unlink(path);
	assert_int_equal(jobstore_password_file_read(path, pw, sizeof(pw), why, sizeof(why)),
			 PC_EIO);
	assert_non_null(strstr(why, path));
}

/* A Redis with requirepass: the right password (in the URL, from the environment, with a
 * database, over the unix socket, for an ACL user) opens; a wrong or missing one is PC_EAUTH at
 * once; a restarted server is authenticated again on the reconnect. */
static void test_auth(void **state)
{
	static const char pw[] = "p@ss w:rd/1";
	struct test_redis ar;
	char url[PATH_MAX + 128];
	struct job job, got;
	const char *acl[] = {"ACL", "SETUSER", "alice", "on", ">alice-pw", "~*", "+@all"};
	jobstore *s = (jobstore *)1;

	assert_int_equal(test_redis_start_auth(&ar, pw), 0);
	unsetenv(JOBSTORE_PASSWORD_ENV);

	/* Missing: NOAUTH. */
	assert_int_equal(jobstore_open(&s, ar.url, NULL, 1000), PC_EAUTH);
	assert_null(s);
	snprintf(url, sizeof(url), "%s/3", ar.url);
	assert_int_equal(jobstore_open(&s, url, NULL, 1000), PC_EAUTH);
	/* Wrong. */
	snprintf(url, sizeof(url), "redis://:wrong@127.0.0.1:%d", ar.port);
	assert_int_equal(jobstore_open(&s, url, NULL, 1000), PC_EAUTH);
	assert_null(s);
	/* Right, percent-encoded, with a database; then a restart: the reconnect AUTHs. */
	snprintf(url, sizeof(url), "redis://:p%%40ss%%20w%%3Ard%%2F1@127.0.0.1:%d/3", ar.port);
	assert_int_equal(jobstore_open(&s, url, NULL, 1000), PC_OK);
	assert_int_equal(job_init_new(&job, 5), PC_OK);
	assert_int_equal(jobstore_job_create(s, &job, 0), PC_OK);
	assert_int_equal(test_redis_restart(&ar), 0);
	assert_int_equal(jobstore_job_get(s, job.id, &got), PC_ENOTFOUND); /* no persistence */
	assert_int_equal(jobstore_job_create(s, &job, 0), PC_OK);
	assert_int_equal(jobstore_job_get(s, job.id, &got), PC_OK);
	jobstore_free(s);

	/* From the environment, which a password in the URL overrides. */
	assert_int_equal(setenv(JOBSTORE_PASSWORD_ENV, pw, 1), 0);
	assert_int_equal(jobstore_open(&s, ar.url, NULL, 1000), PC_OK);
	assert_int_equal(jobstore_ping(s), PC_OK);
	jobstore_free(s);
	snprintf(url, sizeof(url), "redis://:wrong@127.0.0.1:%d", ar.port);
	assert_int_equal(jobstore_open(&s, url, NULL, 1000), PC_EAUTH);
	assert_true(snprintf(url, sizeof(url), "unix://:wrong@%s", ar.sock) < (int)sizeof(url));
	assert_int_equal(jobstore_open(&s, url, NULL, 1000), PC_EAUTH);
	assert_int_equal(setenv(JOBSTORE_PASSWORD_ENV, "wrong", 1), 0);
	assert_int_equal(jobstore_open(&s, ar.unix_url, NULL, 1000), PC_EAUTH);
	assert_true(snprintf(url, sizeof(url), "unix://:p%%40ss%%20w%%3Ard%%2F1@%s?db=2", ar.sock) <
		    (int)sizeof(url));
	assert_int_equal(jobstore_open(&s, url, NULL, 1000), PC_OK);
	assert_int_equal(jobstore_ping(s), PC_OK);
	jobstore_free(s);
	unsetenv(JOBSTORE_PASSWORD_ENV);

	/* An ACL user (Redis 6+): AUTH USER PASSWORD. */
	assert_int_equal(test_redis_command(&ar, 7, acl), 0);
	snprintf(url, sizeof(url), "redis://alice:alice-pw@127.0.0.1:%d", ar.port);
	assert_int_equal(jobstore_open(&s, url, NULL, 1000), PC_OK);
	assert_int_equal(jobstore_ping(s), PC_OK);
	jobstore_free(s);
	snprintf(url, sizeof(url), "redis://alice:%s@127.0.0.1:%d", "p%40ss%20w%3Ard%2F1", ar.port);
	assert_int_equal(jobstore_open(&s, url, NULL, 1000), PC_EAUTH);
	snprintf(url, sizeof(url), "redis://default:%s@127.0.0.1:%d", "p%40ss%20w%3Ard%2F1",
		 ar.port);
	assert_int_equal(jobstore_open(&s, url, NULL, 1000), PC_OK);
	jobstore_free(s);
	test_redis_free(&ar);

	/* A password for a Redis that has none is a configuration error too. */
	snprintf(url, sizeof(url), "redis://:pw@127.0.0.1:%d", redis.port);
	s = (jobstore *)1;
	assert_int_equal(jobstore_open(&s, url, NULL, 1000), PC_EAUTH);
	assert_null(s);
}

static void test_open_forms(void **state)
{
	char url[PATH_MAX + 64];
	jobstore *s;
	struct job job, got;
	redisReply *r;

	/* The unix socket form reaches the same server. */
	assert_int_equal(jobstore_open(&s, redis.unix_url, NULL, 1000), PC_OK);
	assert_int_equal(jobstore_ping(s), PC_OK);
	jobstore_free(s);

	/* A database number selects that database. */
	snprintf(url, sizeof(url), "%s/3", redis.url);
	assert_int_equal(jobstore_open(&s, url, "db3:", 1000), PC_OK);
	assert_int_equal(job_init_new(&job, 5), PC_OK);
	assert_int_equal(jobstore_job_create(s, &job, 0), PC_OK);
	assert_int_equal(jobstore_job_get(s, job.id, &got), PC_OK);
	jobstore_free(s);
	r = redisCommand(raw, "EXISTS db3:job:%s", job.id);
	assert_non_null(r);
	assert_int_equal(r->integer, 0); /* not in database 0 */
	freeReplyObject(r);
	assert_true(snprintf(url, sizeof(url), "%s?db=3", redis.unix_url) < (int)sizeof(url));
	assert_int_equal(jobstore_open(&s, url, "db3:", 1000), PC_OK);
	assert_int_equal(jobstore_job_get(s, job.id, &got), PC_OK);
	jobstore_free(s);

	/* A database the server does not have. */
	snprintf(url, sizeof(url), "%s/100", redis.url);
	s = (jobstore *)1;
	assert_int_equal(jobstore_open(&s, url, NULL, 1000), PC_EINVAL);
	assert_null(s);

	/* Nothing listening. */
	assert_true(snprintf(url, sizeof(url), "unix://%s/nonexistent.sock", redis.dir) <
		    (int)sizeof(url));
	s = (jobstore *)1;
	assert_int_equal(jobstore_open(&s, url, NULL, 500), PC_EUNAVAILABLE);
	assert_null(s);
}

static void test_create_get(void **state)
{
	struct job job, got;
	char unknown[JOB_ID_LEN + 1];
	uint64_t len = 99;

	new_job(&job, 12345);
	assert_int_equal(jobstore_job_get(st, job.id, &got), PC_OK);
	assert_string_equal(got.id, job.id);
	assert_int_equal(got.state, JOB_CREATED);
	assert_int_equal(got.digits, 12345);
	assert_int_equal(got.created_at_ms, job.created_at_ms);
	assert_int_equal(got.updated_at_ms, job.updated_at_ms);
	assert_int_equal(got.started_at_ms, 0);
	assert_int_equal(got.finished_at_ms, 0);
	assert_true(got.progress == 0.0);
	assert_false(got.has_result);
	assert_false(got.has_error);
	assert_string_equal(got.sched_name, "");
	assert_consistent(job.id, JOB_CREATED);
	assert_int_equal(jobstore_queue_length(st, &len), PC_OK);
	assert_int_equal(len, 1);

	/* The same id again is refused and changes nothing. */
	job.digits = 1;
	assert_int_equal(jobstore_job_create(st, &job, 0), PC_EEXISTS);
	assert_int_equal(jobstore_job_get(st, job.id, &got), PC_OK);
	assert_int_equal(got.digits, 12345);
	assert_int_equal(jobstore_queue_length(st, &len), PC_OK);
	assert_int_equal(len, 1);

	assert_int_equal(job_id_new(unknown), PC_OK);
	assert_int_equal(jobstore_job_get(st, unknown, &got), PC_ENOTFOUND);
	assert_int_equal(jobstore_job_get(st, "..", &got), PC_EINVAL);
	assert_int_equal(jobstore_job_get(st, "0F8E5B1C-2D3A-4B5C-8D6E-7F8091A2B3C4", &got),
			 PC_EINVAL);
	assert_int_equal(jobstore_job_transition(st, unknown, JOB_CANCELLED, NULL, NULL, NULL),
			 PC_ENOTFOUND);
	assert_int_equal(jobstore_job_set_progress(st, unknown, 0.5), PC_ENOTFOUND);
	assert_int_equal(jobstore_job_set_sched(st, unknown, "local", "1"), PC_ENOTFOUND);
	assert_int_equal(jobstore_job_get_state(st, unknown, &got.state), PC_ENOTFOUND);
	assert_int_equal(jobstore_job_get_state(st, "..", &got.state), PC_EINVAL);

	/* Only a job in state created can be created. */
	assert_int_equal(job_init_new(&job, 1), PC_OK);
	job.state = JOB_RUNNING;
	assert_int_equal(jobstore_job_create(st, &job, 0), PC_EINVAL);
}

static void test_max_queued(void **state)
{
	struct job jobs[4], extra;
	uint64_t counts[JOB_STATE_COUNT];

	for (int i = 0; i < 3; i++) {
		assert_int_equal(job_init_new(&jobs[i], 10), PC_OK);
		assert_int_equal(jobstore_job_create(st, &jobs[i], 3), PC_OK);
	}
	assert_int_equal(job_init_new(&jobs[3], 10), PC_OK);
	assert_int_equal(jobstore_job_create(st, &jobs[3], 3), PC_EFULL);
	assert_int_equal(jobstore_job_get(st, jobs[3].id, &extra), PC_ENOTFOUND);
	/* created and queued both count; running does not. */
	drive_to(jobs[0].id, JOB_QUEUED);
	assert_int_equal(jobstore_job_create(st, &jobs[3], 3), PC_EFULL);
	drive_to(jobs[1].id, JOB_CANCELLED);
	assert_int_equal(jobstore_job_create(st, &jobs[3], 3), PC_OK);
	assert_int_equal(job_init_new(&extra, 10), PC_OK);
	assert_int_equal(jobstore_job_create(st, &extra, 3), PC_EFULL);
	assert_int_equal(jobstore_job_create(st, &extra, 0), PC_OK); /* 0: no limit */
	assert_int_equal(jobstore_count_by_state(st, counts), PC_OK);
	assert_int_equal(counts[JOB_CREATED], 3);
	assert_int_equal(counts[JOB_QUEUED], 1);
	assert_int_equal(counts[JOB_CANCELLED], 1);
	assert_int_equal(counts[JOB_RUNNING] + counts[JOB_FINISHED] + counts[JOB_ERRORED], 0);
}

/* Every (from, to) pair of the whole table, on a fresh job each. */
static void test_transition_table(void **state)
{
	for (int from = 0; from < JOB_STATE_COUNT; from++) {
		for (int to = 0; to < JOB_STATE_COUNT; to++) {
			struct job job, before, after;
			pc_err err;

			new_job(&job, 100);
			drive_to(job.id, from);
			assert_int_equal(jobstore_job_get(st, job.id, &before), PC_OK);
			memset(&after, 0, sizeof(after));
			err = jobstore_job_transition(st, job.id, to, NULL, NULL, &after);
			if (!job_transition_is_legal(from, to)) {
				if (err != PC_ECONFLICT)
					fail_msg("%s -> %s: got %s", job_state_name(from),
						 job_state_name(to), pc_errname(err));
				assert_int_equal(after.state, from);
				assert_int_equal(after.updated_at_ms, before.updated_at_ms);
				assert_consistent(job.id, from);
				continue;
			}
			if (err != PC_OK)
				fail_msg("%s -> %s: got %s", job_state_name(from),
					 job_state_name(to), pc_errname(err));
			assert_int_equal(after.state, to);
			assert_true(after.updated_at_ms >= before.updated_at_ms);
			assert_consistent(job.id, to);
			if (to == JOB_RUNNING)
				assert_int_equal(after.started_at_ms, after.updated_at_ms);
			if (job_state_is_terminal(to)) {
				assert_int_equal(after.finished_at_ms, after.updated_at_ms);
				assert_int_equal(after.started_at_ms, before.started_at_ms);
			} else {
				assert_int_equal(after.finished_at_ms, 0);
			}
			if (to == JOB_FINISHED)
				assert_true(after.progress == 1.0);
		}
	}
}

static void test_expected_state(void **state)
{
	struct job job, after;
	enum job_state expect = JOB_RUNNING;

	new_job(&job, 100);
	drive_to(job.id, JOB_QUEUED);
	/* Legal move, wrong expectation: refused, and *after shows the job as it is. */
	assert_int_equal(jobstore_job_transition(st, job.id, JOB_CANCELLED, &expect, NULL, &after),
			 PC_ECONFLICT);
	assert_int_equal(after.state, JOB_QUEUED);
	assert_consistent(job.id, JOB_QUEUED);
	expect = JOB_QUEUED;
	assert_int_equal(jobstore_job_transition(st, job.id, JOB_RUNNING, &expect, NULL, &after),
			 PC_OK);
	assert_int_equal(after.state, JOB_RUNNING);
	/* A second compute doing the same is refused: it lost the race. */
	assert_int_equal(jobstore_job_transition(st, job.id, JOB_RUNNING, &expect, NULL, NULL),
			 PC_ECONFLICT);
	assert_consistent(job.id, JOB_RUNNING);
}

static void test_updates(void **state)
{
	struct job job, got;
	struct job_update upd = {0};
	char object[64], sha[JOB_SHA256_HEX + 1], longmsg[2000];
	enum job_state now_state, queued = JOB_QUEUED;

	new_job(&job, 100);
	/* Progress and scheduler ids: the submitter's id may be recorded while the job is
	 * created or queued (also replaced, by a resubmission); the compute that wins
	 * queued -> running records its own, and from then on nobody else may. */
	assert_int_equal(jobstore_job_set_progress(st, job.id, 0.5), PC_ECONFLICT);
	assert_int_equal(jobstore_job_set_sched(st, job.id, "local", "1:1"), PC_OK);
	assert_int_equal(jobstore_job_get_state(st, job.id, &now_state), PC_OK);
	assert_int_equal(now_state, JOB_CREATED);
	drive_to(job.id, JOB_QUEUED);
	assert_int_equal(jobstore_job_set_sched(st, job.id, "local", "123:456"), PC_OK);
	upd.set_sched = true;
	upd.sched_name = "local";
	upd.sched_job_id = "777:888";
	assert_int_equal(jobstore_job_transition(st, job.id, JOB_RUNNING, &queued, &upd, NULL),
			 PC_OK);
	memset(&upd, 0, sizeof(upd));
	assert_int_equal(jobstore_job_get_state(st, job.id, &now_state), PC_OK);
	assert_int_equal(now_state, JOB_RUNNING);
	assert_int_equal(jobstore_job_set_sched(st, job.id, "local", "123:456"), PC_ECONFLICT);
	assert_int_equal(jobstore_job_set_progress(st, job.id, 0.25), PC_OK);
	assert_int_equal(jobstore_job_get(st, job.id, &got), PC_OK);
	assert_true(got.progress > 0.2499 && got.progress < 0.2501);
	assert_string_equal(got.sched_name, "local");
	assert_string_equal(got.sched_job_id, "777:888");
	assert_int_equal(jobstore_job_set_progress(st, job.id, 7.0), PC_OK);
	assert_int_equal(jobstore_job_get(st, job.id, &got), PC_OK);
	assert_true(got.progress == 1.0);
	assert_int_equal(jobstore_job_set_progress(st, job.id, -3.0), PC_OK);
	assert_int_equal(jobstore_job_get(st, job.id, &got), PC_OK);
	assert_true(got.progress == 0.0);

	/* Finished with a result. */
	assert_int_equal(job_result_object_name(job.id, object, sizeof(object)), PC_OK);
	memset(sha, 'e', JOB_SHA256_HEX);
	sha[JOB_SHA256_HEX] = '\0';
	upd.set_result = true;
	upd.result_object = object;
	upd.result_bytes = 103;
	upd.result_sha256 = sha;
	assert_int_equal(jobstore_job_transition(st, job.id, JOB_FINISHED, NULL, &upd, &got),
			 PC_OK);
	assert_true(got.has_result);
	assert_string_equal(got.result_object, object);
	assert_int_equal(got.result_bytes, 103);
	assert_string_equal(got.result_sha256, sha);
	assert_false(got.has_error);
	assert_int_equal(jobstore_job_set_progress(st, job.id, 0.5), PC_ECONFLICT);
	assert_int_equal(jobstore_job_set_sched(st, job.id, "local", "9"), PC_ECONFLICT);

	/* Errored with a message longer than the field: stored cut to fit. */
	new_job(&job, 100);
	memset(longmsg, 'x', sizeof(longmsg) - 1);
	longmsg[sizeof(longmsg) - 1] = '\0';
	memset(&upd, 0, sizeof(upd));
	upd.set_error = true;
	upd.error_code = "submit_failed";
	upd.error_message = longmsg;
	assert_int_equal(jobstore_job_transition(st, job.id, JOB_ERRORED, NULL, &upd, NULL), PC_OK);
	assert_int_equal(jobstore_job_get(st, job.id, &got), PC_OK);
	assert_true(got.has_error);
	assert_string_equal(got.error_code, "submit_failed");
	assert_int_equal(strlen(got.error_message), JOB_ERROR_MESSAGE_MAX - 1);
	assert_int_equal(got.finished_at_ms, got.updated_at_ms);
	assert_int_equal(got.started_at_ms, 0);

	/* Missing strings in an update are refused before anything is sent. */
	upd.error_message = NULL;
	assert_int_equal(jobstore_job_transition(st, job.id, JOB_ERRORED, NULL, &upd, NULL),
			 PC_EINVAL);
}

/* Scripts flushed from Redis's cache: EVALSHA gets NOSCRIPT and the store falls back to EVAL. */
static void test_script_cache_flushed(void **state)
{
	const char *argv[] = {"SCRIPT", "FLUSH"};
	struct job job;

	assert_int_equal(test_redis_command(&redis, 2, argv), 0);
	new_job(&job, 100);
	assert_int_equal(test_redis_command(&redis, 2, argv), 0);
	drive_to(job.id, JOB_RUNNING);
	assert_consistent(job.id, JOB_RUNNING);
}

/*
 * Concurrent writers: several processes, each with its own connection, race different
 * transitions on the same jobs. Each reports its successful moves through a pipe; every job
 * must end with exactly one terminal move, at most one start, and sets matching the hash.
 */
#define RACE_JOBS    40
#define RACE_WORKERS 4

struct race_record {
	int job;
	int worker;
	int to;
};

static void race_worker(int worker, char (*ids)[JOB_ID_LEN + 1], int go_fd, int out_fd)
{
	jobstore *s;
	char c;
	enum job_state queued = JOB_QUEUED, running = JOB_RUNNING;

	if (jobstore_open(&s, redis.url, NULL, 5000) != PC_OK)
		_exit(3);
	if (read(go_fd, &c, 1) < 0) /* returns 0 when the parent closes: everyone starts */
		_exit(4);
	for (int k = 0; k < RACE_JOBS; k++) {
		int j = (k + worker * (RACE_JOBS / RACE_WORKERS)) % RACE_JOBS;
		struct race_record rec = {.job = j, .worker = worker};
		pc_err err;

		switch (worker) {
		case 0: /* a compute that finishes */
		case 3: /* a compute that fails */
			err = jobstore_job_transition(s, ids[j], JOB_RUNNING, &queued, NULL, NULL);
			if (err == PC_OK) {
				rec.to = JOB_RUNNING;
				if (write(out_fd, &rec, sizeof(rec)) != sizeof(rec))
					_exit(5);
				rec.to = worker == 0 ? JOB_FINISHED : JOB_ERRORED;
				err = jobstore_job_transition(s, ids[j], rec.to, &running, NULL,
							      NULL);
			}
			break;
		case 1: /* a user cancelling */
			rec.to = JOB_CANCELLED;
			err = jobstore_job_transition(s, ids[j], rec.to, NULL, NULL, NULL);
			break;
		default: /* a scheduler reporting failure */
			rec.to = JOB_ERRORED;
			err = jobstore_job_transition(s, ids[j], rec.to, NULL, NULL, NULL);
			break;
		}
		if (err == PC_OK && rec.to != JOB_RUNNING &&
		    write(out_fd, &rec, sizeof(rec)) != sizeof(rec))
			_exit(5);
		if (err != PC_OK && err != PC_ECONFLICT)
			_exit(6);
	}
	jobstore_free(s);
	_exit(0);
}

static void test_concurrent_writers(void **state)
{
	char ids[RACE_JOBS][JOB_ID_LEN + 1];
	int terminal_wins[RACE_JOBS] = {0}, starts[RACE_JOBS] = {0};
	int terminal_to[RACE_JOBS];
	int go[2], out[2];
	pid_t pids[RACE_WORKERS];
	struct race_record rec;
	uint64_t counts[JOB_STATE_COUNT], total = 0;

	for (int j = 0; j < RACE_JOBS; j++) {
		struct job job;

		new_job(&job, 10);
		drive_to(job.id, JOB_QUEUED);
		memcpy(ids[j], job.id, sizeof(ids[j]));
	}
	assert_int_equal(pipe(go), 0);
	assert_int_equal(pipe(out), 0);
	for (int w = 0; w < RACE_WORKERS; w++) {
		pids[w] = fork();
		assert_true(pids[w] >= 0);
		if (pids[w] == 0) {
			close(go[1]);
			close(out[0]);
			race_worker(w, ids, go[0], out[1]);
		}
	}
	close(go[0]);
	close(out[1]);
	close(go[1]); /* go */
	while (read(out[0], &rec, sizeof(rec)) == sizeof(rec)) {
		assert_true(rec.job >= 0 && rec.job < RACE_JOBS);
		if (rec.to == JOB_RUNNING) {
			starts[rec.job]++;
		} else {
			terminal_wins[rec.job]++;
			terminal_to[rec.job] = rec.to;
		}
	}
	close(out[0]);
	for (int w = 0; w < RACE_WORKERS; w++) {
		int status;

		assert_int_equal(waitpid(pids[w], &status, 0), pids[w]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	for (int j = 0; j < RACE_JOBS; j++) {
		struct job job;

		assert_int_equal(terminal_wins[j], 1);
		assert_true(starts[j] <= 1);
		assert_consistent(ids[j], terminal_to[j]);
		assert_int_equal(jobstore_job_get(st, ids[j], &job), PC_OK);
		assert_int_equal(job.started_at_ms != 0, starts[j] == 1);
		if (terminal_to[j] == JOB_FINISHED)
			assert_int_equal(starts[j], 1);
	}
	assert_int_equal(jobstore_count_by_state(st, counts), PC_OK);
	for (int s = 0; s < JOB_STATE_COUNT; s++)
		total += counts[s];
	assert_int_equal(total, RACE_JOBS);
	assert_int_equal(counts[JOB_QUEUED] + counts[JOB_RUNNING] + counts[JOB_CREATED], 0);
}

/* Collects every page; checks newest-first order and returns the ids seen, in order. */
static size_t list_all(const enum job_state *filter, size_t limit, char (*seen)[JOB_ID_LEN + 1],
		       size_t cap)
{
	char cursor[128] = "", next[128];
	size_t n = 0;
	int64_t last_created = INT64_MAX;
	char last_id[JOB_ID_LEN + 1] = "~";

	for (int pages = 0; pages < 1000; pages++) {
		struct job *jobs;
		size_t count;

		assert_int_equal(jobstore_job_list(st, NULL, filter, limit, cursor, &jobs, &count,
						   next, sizeof(next)),
				 PC_OK);
		assert_true(count <= limit);
		for (size_t i = 0; i < count; i++) {
			/* Strictly descending in (created_at, id). */
			assert_true(jobs[i].created_at_ms < last_created ||
				    (jobs[i].created_at_ms == last_created &&
				     strcmp(jobs[i].id, last_id) < 0));
			if (filter)
				assert_int_equal(jobs[i].state, *filter);
			last_created = jobs[i].created_at_ms;
			memcpy(last_id, jobs[i].id, sizeof(last_id));
			assert_true(n < cap);
			memcpy(seen[n++], jobs[i].id, JOB_ID_LEN + 1);
		}
		free(jobs);
		if (!next[0])
			return n;
		assert_int_equal(count, limit);
		memcpy(cursor, next, sizeof(cursor));
	}
	fail_msg("listing never ended");
	return 0;
}

#define LIST_JOBS 23

static void test_listing(void **state)
{
	struct job jobs[LIST_JOBS];
	char seen[LIST_JOBS + 1][JOB_ID_LEN + 1];
	enum job_state filter = JOB_QUEUED;
	size_t queued = 0, n;
	struct job *page;
	size_t count;
	char next[128];

	/* Five jobs share each millisecond: ties must be neither skipped nor repeated. */
	for (int i = 0; i < LIST_JOBS; i++) {
		assert_int_equal(job_init_new(&jobs[i], 10), PC_OK);
		jobs[i].created_at_ms = 1700000000000 + i / 5;
		jobs[i].updated_at_ms = jobs[i].created_at_ms;
		assert_int_equal(jobstore_job_create(st, &jobs[i], 0), PC_OK);
		if (i % 3 == 0) {
			drive_to(jobs[i].id, JOB_QUEUED);
			queued++;
		}
	}
	for (size_t limit = 1; limit <= 7; limit += 2) {
		n = list_all(NULL, limit, seen, LIST_JOBS + 1);
		assert_int_equal(n, LIST_JOBS);
		for (int i = 0; i < LIST_JOBS; i++) {
			int hits = 0;

			for (size_t k = 0; k < n; k++)
				hits += strcmp(seen[k], jobs[i].id) == 0;
			assert_int_equal(hits, 1);
		}
		n = list_all(&filter, limit, seen, LIST_JOBS + 1);
		assert_int_equal(n, queued);
	}

	/* A cursor stays good when its job leaves the filtered set between pages. */
	assert_int_equal(
	    jobstore_job_list(st, NULL, &filter, 2, NULL, &page, &count, next, sizeof(next)),
	    PC_OK);
	assert_int_equal(count, 2);
	assert_int_equal(jobstore_job_transition(st, page[1].id, JOB_RUNNING, NULL, NULL, NULL),
			 PC_OK);
	free(page);
	{
		char rest[LIST_JOBS][JOB_ID_LEN + 1];
		size_t got = 0;
		char cursor[128];

		memcpy(cursor, next, sizeof(cursor));
		while (cursor[0]) {
			assert_int_equal(jobstore_job_list(st, NULL, &filter, 2, cursor, &page,
							   &count, next, sizeof(next)),
					 PC_OK);
			for (size_t i = 0; i < count; i++)
				memcpy(rest[got++], page[i].id, JOB_ID_LEN + 1);
			free(page);
			memcpy(cursor, next, sizeof(cursor));
		}
		assert_int_equal(got, queued - 2);
	}

	/* The same within one millisecond: the next page starts among the cursor's ties. */
	{
		struct job same[6];
		enum job_state running = JOB_RUNNING;
		char cursor[128], seen_ids[8][JOB_ID_LEN + 1], finished[JOB_ID_LEN + 1];
		size_t got = 0;

		for (int i = 0; i < 6; i++) {
			assert_int_equal(job_init_new(&same[i], 10), PC_OK);
			same[i].created_at_ms = 1800000000000;
			assert_int_equal(jobstore_job_create(st, &same[i], 0), PC_OK);
			assert_int_equal(
			    jobstore_job_transition(st, same[i].id, JOB_RUNNING, NULL, NULL, NULL),
			    PC_ECONFLICT); /* created -/-> running */
			drive_to(same[i].id, JOB_RUNNING);
		}
		assert_int_equal(jobstore_job_list(st, NULL, &running, 2, NULL, &page, &count, next,
						   sizeof(next)),
				 PC_OK);
		assert_int_equal(count, 2);
		memcpy(seen_ids[got++], page[0].id, JOB_ID_LEN + 1);
		memcpy(finished, page[1].id, JOB_ID_LEN + 1);
		assert_int_equal(
		    jobstore_job_transition(st, page[1].id, JOB_FINISHED, NULL, NULL, NULL), PC_OK);
		free(page);
		memcpy(cursor, next, sizeof(cursor));
		while (cursor[0]) {
			assert_int_equal(jobstore_job_list(st, NULL, &running, 2, cursor, &page,
							   &count, next, sizeof(next)),
					 PC_OK);
			for (size_t i = 0; i < count; i++) {
				assert_true(got < 8);
				memcpy(seen_ids[got++], page[i].id, JOB_ID_LEN + 1);
			}
			free(page);
			memcpy(cursor, next, sizeof(cursor));
		}
		/* All six but the one that finished, once each, and the older running job. */
		assert_int_equal(got, 6);
		for (int i = 0; i < 6; i++) {
			int hits = 0;

			for (size_t k = 0; k < got; k++)
				hits += strcmp(seen_ids[k], same[i].id) == 0;
			assert_int_equal(hits, strcmp(same[i].id, finished) == 0 ? 0 : 1);
		}
	}

	/* Bad input. */
	assert_int_equal(
	    jobstore_job_list(st, NULL, NULL, 0, NULL, &page, &count, next, sizeof(next)),
	    PC_EINVAL);
	assert_int_equal(
	    jobstore_job_list(st, NULL, NULL, 5, "garbage", &page, &count, next, sizeof(next)),
	    PC_EINVAL);
	assert_int_equal(
	    jobstore_job_list(st, NULL, NULL, 5, "17_..", &page, &count, next, sizeof(next)),
	    PC_EINVAL);
	assert_null(page);
	assert_int_equal(count, 0);

	/* Empty set: no jobs, no cursor. */
	filter = JOB_ERRORED;
	assert_int_equal(
	    jobstore_job_list(st, NULL, &filter, 5, "", &page, &count, next, sizeof(next)), PC_OK);
	assert_null(page);
	assert_int_equal(count, 0);
	assert_string_equal(next, "");
}

/*
 * An owner's filtered listing reads at most 1000 jobs per call: 1500 jobs of one owner with
 * the only cancelled one oldest, listed by state, come as a short page with a cursor, then
 * the page that holds it, then the end, and nothing is missed.
 */
static void test_listing_bounded_scan(void **state)
{
	enum job_state cancelled = JOB_CANCELLED;
	char next[64] = "", cursor[64];
	struct job job, oldest, *page = NULL;
	size_t count = 0, calls = 0, found = 0;

	(void)state;
	for (int i = 0; i < 1500; i++) {
		assert_int_equal(job_init_new(&job, 10), PC_OK);
		snprintf(job.owner, sizeof(job.owner), "scan");
		job.created_at_ms = job.updated_at_ms = 1000 + i; /* distinct, oldest first */
		assert_int_equal(jobstore_job_create(st, &job, 0), PC_OK);
		if (i == 0)
			oldest = job;
	}
	assert_int_equal(jobstore_job_transition(st, oldest.id, JOB_CANCELLED, NULL, NULL, NULL),
			 PC_OK);
	do {
		snprintf(cursor, sizeof(cursor), "%s", next);
		assert_int_equal(jobstore_job_list(st, "scan", &cancelled, 10, cursor, &page,
						   &count, next, sizeof(next)),
				 PC_OK);
		for (size_t i = 0; i < count; i++) {
			assert_string_equal(page[i].id, oldest.id);
			found++;
		}
		free(page);
		page = NULL;
		calls++;
	} while (next[0] && calls < 10);
	assert_int_equal(found, 1);
	assert_int_equal(calls, 2); /* 1000 read without a match, then the other 500 */
}

static void test_ids_in_state(void **state)
{
	struct job a, b, c;
	char(*ids)[JOB_ID_LEN + 1];
	size_t n;

	assert_int_equal(job_init_new(&a, 1), PC_OK);
	a.created_at_ms = 1000;
	assert_int_equal(jobstore_job_create(st, &a, 0), PC_OK);
	assert_int_equal(job_init_new(&b, 1), PC_OK);
	b.created_at_ms = 2000;
	assert_int_equal(jobstore_job_create(st, &b, 0), PC_OK);
	assert_int_equal(job_init_new(&c, 1), PC_OK);
	c.created_at_ms = 3000;
	assert_int_equal(jobstore_job_create(st, &c, 0), PC_OK);
	drive_to(a.id, JOB_RUNNING);
	drive_to(c.id, JOB_RUNNING);
	assert_int_equal(jobstore_ids_in_state(st, JOB_RUNNING, &ids, &n), PC_OK);
	assert_int_equal(n, 2);
	assert_string_equal(ids[0], a.id); /* oldest first */
	assert_string_equal(ids[1], c.id);
	free(ids);
	assert_int_equal(jobstore_ids_in_state(st, JOB_FINISHED, &ids, &n), PC_OK);
	assert_int_equal(n, 0);
	assert_null(ids);
}

static void test_queue(void **state)
{
	struct job a, b, c, d;
	char id[JOB_ID_LEN + 1];
	uint64_t len;
	pid_t pid;
	int status;

	new_job(&a, 1);
	new_job(&b, 1);
	new_job(&c, 1);
	assert_int_equal(jobstore_queue_take(st, "gw-1", 100, id), PC_OK);
	assert_string_equal(id, a.id); /* first in, first out */
	assert_int_equal(jobstore_queue_take(st, "gw-1", 0, id), PC_OK);
	assert_string_equal(id, b.id);
	assert_int_equal(jobstore_queue_ack(st, "gw-1", a.id), PC_OK);
	assert_int_equal(jobstore_queue_length(st, &len), PC_OK);
	assert_int_equal(len, 1);

	/* gw-1 "dies" holding b: recovery puts b back at the head, before c. */
	assert_int_equal(jobstore_queue_recover(st, "gw-1"), PC_OK);
	assert_int_equal(jobstore_queue_length(st, &len), PC_OK);
	assert_int_equal(len, 2);
	assert_int_equal(jobstore_queue_take(st, "gw-2", 100, id), PC_OK);
	assert_string_equal(id, b.id);
	assert_int_equal(jobstore_queue_take(st, "gw-2", 100, id), PC_OK);
	assert_string_equal(id, c.id);
	assert_int_equal(jobstore_queue_take(st, "gw-2", 50, id), PC_ETIMEOUT);
	assert_int_equal(jobstore_queue_take(st, "gw-2", 0, id), PC_ETIMEOUT);
	assert_int_equal(jobstore_queue_recover(st, "gw-1"), PC_OK); /* nothing left: fine */
	assert_int_equal(jobstore_queue_length(st, &len), PC_OK);
	assert_int_equal(len, 0);

	/* A real submitter process takes d and is gone before acking it. */
	new_job(&d, 1);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		jobstore *s;
		char got[JOB_ID_LEN + 1];

		if (jobstore_open(&s, redis.url, NULL, 2000) != PC_OK)
			_exit(1);
		if (jobstore_queue_take(s, "gw-dead", 1000, got) != PC_OK)
			_exit(2);
		_exit(strcmp(got, d.id) == 0 ? 0 : 3); /* no ack, no jobstore_free */
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(jobstore_queue_take(st, "gw-2", 0, id), PC_ETIMEOUT);
	assert_int_equal(jobstore_queue_recover(st, "gw-dead"), PC_OK);
	assert_int_equal(jobstore_queue_take(st, "gw-2", 100, id), PC_OK);
	assert_string_equal(id, d.id);

	/* Owner names are checked. */
	assert_int_equal(jobstore_queue_take(st, "", 0, id), PC_EINVAL);
	assert_int_equal(jobstore_queue_take(st, "a b", 0, id), PC_EINVAL);
	assert_int_equal(jobstore_queue_recover(st, "../x"), PC_EINVAL);
	assert_int_equal(jobstore_queue_ack(st, "gw-2", "nope"), PC_EINVAL);
}

/*
 * Keeps the server busy in a Lua loop for about busy_ms, sent on its own connection, and
 * returns once the server has stopped answering (the loop is running). The caller reads the
 * script's reply with finish_busy.
 */
static redisContext *start_busy(int busy_ms)
{
	struct timeval tv = {.tv_sec = 5};
	struct timeval quick = {.tv_sec = 0, .tv_usec = 50000};
	redisContext *c = redisConnectWithTimeout("127.0.0.1", redis.port, tv);
	int done = 0;

	assert_non_null(c);
	assert_int_equal(c->err, 0);
	assert_int_equal(redisAppendCommand(c, "EVAL %s 0 %d",
					    "local t = redis.call('TIME')\n"
					    "local start = t[1] * 1000000 + t[2]\n"
					    "repeat t = redis.call('TIME')\n"
					    "until t[1] * 1000000 + t[2] - start > ARGV[1] * 1000\n"
					    "return 1\n",
					    busy_ms),
			 REDIS_OK);
	while (!done)
		assert_int_equal(redisBufferWrite(c, &done), REDIS_OK);
	for (int i = 0; i < 200; i++) {
		redisContext *p = redisConnectWithTimeout("127.0.0.1", redis.port, tv);
		redisReply *r;

		assert_non_null(p);
		assert_int_equal(redisSetTimeout(p, quick), REDIS_OK);
		r = redisCommand(p, "PING");
		redisFree(p);
		if (!r)
			return c; /* no answer: the loop runs */
		freeReplyObject(r);
	}
	fail_msg("the server never got busy");
	return NULL;
}

static void finish_busy(redisContext *c)
{
	redisReply *r = NULL;

	assert_int_equal(redisGetReply(c, (void **)&r), REDIS_OK);
	assert_non_null(r);
	freeReplyObject(r);
	redisFree(c);
}

/*
 * A reply lost to a timeout: the command is still queued in the server and runs once it is
 * free. The store reconnects and sends it again; scripted writes recognise their own first
 * run (write token) and report success instead of EXISTS or CONFLICT. Queue takes are never
 * resent, and whatever the lost take moved is recovered.
 */
/* API keys: create, lookup by hash, a taken name, list sorted, usage, revoke by name. */
static void test_api_keys(void **state)
{
	uint8_t ha[API_KEY_HASH_LEN], hb[API_KEY_HASH_LEN];
	struct api_key k, got, *list = NULL;
	size_t n = 99;
	uint64_t used = 99;
	redisReply *r;

	memset(ha, 0xa1, sizeof(ha));
	memset(hb, 0xb2, sizeof(hb));
	assert_int_equal(jobstore_key_list(st, &list, &n), PC_OK);
	assert_null(list);
	assert_int_equal(n, 0);

	memset(&k, 0, sizeof(k));
	snprintf(k.name, sizeof(k.name), "zed");
	k.admin = true;
	k.max_digits = 5000;
	k.created_at_ms = 1700000000000;
	assert_int_equal(jobstore_key_create(st, &k, ha), PC_OK);
	assert_int_equal(jobstore_key_create(st, &k, ha), PC_OK); /* its own write, resent */
	assert_int_equal(jobstore_key_create(st, &k, hb), PC_EEXISTS);
	snprintf(k.name, sizeof(k.name), "bad name");
	assert_int_equal(jobstore_key_create(st, &k, hb), PC_EINVAL);
	memset(&k, 0, sizeof(k));
	snprintf(k.name, sizeof(k.name), "amy");
	k.max_queued = 3;
	k.max_running = 1;
	k.digits_per_day = 77;
	assert_int_equal(jobstore_key_create(st, &k, hb), PC_OK);

	assert_int_equal(jobstore_key_lookup(st, ha, &got), PC_OK);
	assert_string_equal(got.name, "zed");
	assert_true(got.admin);
	assert_int_equal(got.max_digits, 5000);
	assert_int_equal(got.max_queued, 0);
	assert_int_equal(got.created_at_ms, 1700000000000);
	assert_int_equal(jobstore_key_lookup(st, hb, &got), PC_OK);
	assert_string_equal(got.name, "amy");
	assert_false(got.admin);
	assert_int_equal(got.max_queued, 3);
	assert_int_equal(got.max_running, 1);
	assert_int_equal(got.digits_per_day, 77);

	assert_int_equal(jobstore_key_list(st, &list, &n), PC_OK);
	assert_int_equal(n, 2);
	assert_string_equal(list[0].name, "amy");
	assert_string_equal(list[1].name, "zed");
	free(list);

	assert_int_equal(jobstore_key_usage(st, "amy", "2026-01-02", &used), PC_OK);
	assert_int_equal(used, 0);
	r = redisCommand(raw, "SET picluster:usage:amy:2026-01-02 4242");
	assert_non_null(r);
	freeReplyObject(r);
	assert_int_equal(jobstore_key_usage(st, "amy", "2026-01-02", &used), PC_OK);
	assert_int_equal(used, 4242);
	assert_int_equal(jobstore_key_usage(st, "amy", "2026-1-2", &used), PC_EINVAL);

	/* A damaged record is a protocol error, not a key. */
	r = redisCommand(raw, "HSET picluster:apikey:%s max_queued x",
			 "b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2");
	assert_non_null(r);
	freeReplyObject(r);
	assert_int_equal(jobstore_key_lookup(st, hb, &got), PC_EPROTO);

	assert_int_equal(jobstore_key_revoke(st, "zed"), PC_OK);
	assert_int_equal(jobstore_key_lookup(st, ha, &got), PC_ENOTFOUND);
	assert_int_equal(jobstore_key_revoke(st, "zed"), PC_ENOTFOUND);
	assert_int_equal(jobstore_key_revoke(st, "no/such"), PC_EINVAL);
	assert_int_equal(jobstore_key_revoke(st, "amy"), PC_OK);
	assert_int_equal(jobstore_key_list(st, &list, &n), PC_OK);
	assert_int_equal(n, 0);
	r = redisCommand(raw, "EXISTS picluster:apikeys");
	assert_non_null(r);
	assert_int_equal(r->integer, 0);
	freeReplyObject(r);
}

static void test_lost_replies(void **state)
{
	jobstore *s;
	struct job job, created, got;
	enum job_state queued = JOB_QUEUED;
	char id[JOB_ID_LEN + 1];
	redisContext *busy;
	pc_err err;
	uint64_t len;

	assert_int_equal(jobstore_open(&s, redis.url, NULL, 700), PC_OK);
	new_job(&job, 5);
	drive_to(job.id, JOB_QUEUED);

	busy = start_busy(1000);
	assert_int_equal(jobstore_job_transition(s, job.id, JOB_RUNNING, &queued, NULL, &got),
			 PC_OK);
	finish_busy(busy);
	assert_int_equal(got.state, JOB_RUNNING);
	assert_consistent(job.id, JOB_RUNNING);

	assert_int_equal(job_init_new(&created, 6), PC_OK);
	busy = start_busy(1000);
	assert_int_equal(jobstore_job_create(s, &created, 0), PC_OK);
	finish_busy(busy);
	assert_consistent(created.id, JOB_CREATED);

	/* The queue holds job (created by new_job) and created; take is not resent. */
	busy = start_busy(1000);
	err = jobstore_queue_take(s, "gw-lost", 0, id);
	finish_busy(busy);
	assert_true(err == PC_EUNAVAILABLE || err == PC_OK);
	assert_int_equal(jobstore_queue_recover(s, "gw-lost"), PC_OK);
	assert_int_equal(jobstore_queue_length(s, &len), PC_OK);
	assert_int_equal(len, 2); /* nothing lost, nothing doubled */
	assert_int_equal(jobstore_queue_take(s, "gw-lost", 0, id), PC_OK);
	assert_string_equal(id, job.id);
	jobstore_free(s);
}

/* Redis goes away: calls fail with PC_EUNAVAILABLE; it comes back: the same store works. */
static void test_redis_down_and_back(void **state)
{
	jobstore *quick, *s;
	struct job job, got;
	char id[JOB_ID_LEN + 1];
	uint64_t counts[JOB_STATE_COUNT];

	assert_int_equal(jobstore_open(&quick, redis.url, "q:", 300), PC_OK);
	new_job(&job, 77);
	test_redis_stop(&redis);

	assert_int_equal(jobstore_ping(st), PC_EUNAVAILABLE);
	assert_int_equal(jobstore_job_get(st, job.id, &got), PC_EUNAVAILABLE);
	assert_int_equal(jobstore_job_transition(quick, job.id, JOB_QUEUED, NULL, NULL, NULL),
			 PC_EUNAVAILABLE);
	assert_int_equal(jobstore_queue_take(quick, "gw", 100, id), PC_EUNAVAILABLE);
	assert_int_equal(jobstore_count_by_state(st, counts), PC_EUNAVAILABLE);
	s = (jobstore *)1;
	assert_int_equal(jobstore_open(&s, redis.url, NULL, 300), PC_EUNAVAILABLE);
	assert_null(s);

	/* Back, empty (persistence is off) and with no scripts cached. */
	assert_int_equal(test_redis_restart(&redis), 0);
	assert_int_equal(raw_connect(), 0);
	assert_int_equal(jobstore_ping(st), PC_OK);
	new_job(&job, 78);
	drive_to(job.id, JOB_RUNNING);
	assert_consistent(job.id, JOB_RUNNING);
	assert_int_equal(jobstore_job_get(quick, job.id, &got), PC_ENOTFOUND); /* other prefix */
	assert_int_equal(job_init_new(&got, 5), PC_OK);
	assert_int_equal(jobstore_job_create(quick, &got, 0), PC_OK);

	/* Restarted again: even the first call, one that is never resent, works. */
	assert_int_equal(test_redis_restart(&redis), 0);
	new_job(&job, 79);
	assert_int_equal(jobstore_queue_take(quick, "gw", 0, id), PC_ETIMEOUT);
	assert_int_equal(jobstore_queue_take(st, "gw", 100, id), PC_OK);
	assert_string_equal(id, job.id);
	jobstore_free(quick);
}

/* Instance claims: hold, renew, conflict, take-over of a dead holder (its token given as
 * replace, also from the very buffer that receives the answer), expiry, and the recovery of
 * an expired owner's processing list while a live owner's is kept. */
static void test_instances(void **state)
{
	char holder[64], id[JOB_ID_LEN + 1];
	struct job a, b;
	uint64_t moved = 0;
	redisReply *r;

	assert_int_equal(
	    jobstore_instance_hold(st, "gw-a", "host|1:1", NULL, 60000, holder, sizeof(holder)),
	    PC_OK);
	assert_int_equal(
	    jobstore_instance_hold(st, "gw-a", "host|1:1", NULL, 60000, holder, sizeof(holder)),
	    PC_OK); /* renewal */
	assert_int_equal(
	    jobstore_instance_hold(st, "gw-a", "host|2:2", NULL, 60000, holder, sizeof(holder)),
	    PC_EEXISTS);
	assert_string_equal(holder, "host|1:1");
	/* The dead holder's token, passed in the buffer that also receives the answer. */
	assert_int_equal(
	    jobstore_instance_hold(st, "gw-a", "host|2:2", holder, 60000, holder, sizeof(holder)),
	    PC_OK);
	assert_int_equal(jobstore_instance_hold(st, "gw-a", "host|3:3", "host|1:1", 60000, holder,
						sizeof(holder)),
			 PC_EEXISTS); /* a stale token replaces nothing once another holds it */
	assert_string_equal(holder, "host|2:2");
	assert_int_equal(jobstore_instance_hold(st, "bad name", "t", NULL, 1000, NULL, 0),
			 PC_EINVAL);
	assert_int_equal(jobstore_instance_hold(st, "gw-a", "", NULL, 1000, NULL, 0), PC_EINVAL);

	/* gw-a (live) and gw-b (claim about to expire) each took one job. */
	new_job(&a, 10); /* created and queued for submission */
	new_job(&b, 11);
	assert_int_equal(jobstore_queue_take(st, "gw-a", 0, id), PC_OK);
	assert_string_equal(id, a.id);
	assert_int_equal(jobstore_instance_hold(st, "gw-b", "host|4:4", NULL, 50, NULL, 0), PC_OK);
	assert_int_equal(jobstore_queue_take(st, "gw-b", 0, id), PC_OK);
	assert_string_equal(id, b.id);
	assert_int_equal(jobstore_instance_recover_orphans(st, &moved), PC_OK);
	assert_int_equal(moved, 0); /* both claims live */
	usleep(150 * 1000);	    /* gw-b's claim expires */
	assert_int_equal(jobstore_instance_recover_orphans(st, &moved), PC_OK);
	assert_int_equal(moved, 1);
	r = redisCommand(raw, "LRANGE picluster:queue 0 -1");
	assert_non_null(r);
	assert_int_equal(r->elements, 1);
	assert_string_equal(r->element[0]->str, b.id);
	freeReplyObject(r);
	r = redisCommand(raw, "LRANGE picluster:processing:gw-a 0 -1");
	assert_non_null(r);
	assert_int_equal(r->elements, 1);
	assert_string_equal(r->element[0]->str, a.id);
	freeReplyObject(r);
	r = redisCommand(raw, "SISMEMBER picluster:instances gw-b");
	assert_non_null(r);
	assert_int_equal(r->integer, 0);
	freeReplyObject(r);

	/* A list no claim ever named (an older gateway's) is adopted, then recovered. */
	r = redisCommand(raw, "LMOVE picluster:processing:gw-a picluster:processing:old:9 LEFT "
			      "LEFT");
	assert_non_null(r);
	freeReplyObject(r);
	assert_int_equal(jobstore_instance_recover_orphans(st, &moved), PC_OK);
	assert_int_equal(moved, 0);
	assert_int_equal(jobstore_instance_adopt_lists(st), PC_OK);
	assert_int_equal(jobstore_instance_recover_orphans(st, &moved), PC_OK);
	assert_int_equal(moved, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_url_parsing),
	    cmocka_unit_test(test_url_password),
	    cmocka_unit_test(test_auth),
	    cmocka_unit_test_setup(test_open_forms, flush),
	    cmocka_unit_test_setup(test_create_get, flush),
	    cmocka_unit_test_setup(test_max_queued, flush),
	    cmocka_unit_test_setup(test_transition_table, flush),
	    cmocka_unit_test_setup(test_expected_state, flush),
	    cmocka_unit_test_setup(test_updates, flush),
	    cmocka_unit_test_setup(test_script_cache_flushed, flush),
	    cmocka_unit_test_setup(test_concurrent_writers, flush),
	    cmocka_unit_test_setup(test_listing, flush),
	    cmocka_unit_test_setup(test_listing_bounded_scan, flush),
	    cmocka_unit_test_setup(test_ids_in_state, flush),
	    cmocka_unit_test_setup(test_queue, flush),
	    cmocka_unit_test_setup(test_instances, flush),
	    cmocka_unit_test_setup(test_api_keys, flush),
	    cmocka_unit_test_setup(test_lost_replies, flush),
	    cmocka_unit_test_setup(test_redis_down_and_back, flush),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
