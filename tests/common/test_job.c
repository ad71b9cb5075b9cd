/* test_job.c - the job model: states, the transition table, ids, times and JSON; with the
 * argument "redis", the table against the Lua scripts of a real redis-server. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "picluster/job.h"
#include "picluster/jobstore.h"
#include "test_redis.h"

/* JOB_MOVES as rows, to check the table itself. */
static const struct move {
	enum job_state from, to;
	unsigned writers;
} table[] = {
#define ROW(from, to, writers) {from, to, writers},
    JOB_MOVES(ROW)
#undef ROW
};
#define TABLE_LEN (sizeof(table) / sizeof(table[0]))

/* The row of JOB_MOVES for from -> to, NULL when the table does not list it. */
static const struct move *table_row(int from, int to)
{
	for (size_t i = 0; i < TABLE_LEN; i++) {
		if ((int)table[i].from == from && (int)table[i].to == to)
			return &table[i];
	}
	return NULL;
}

static void test_state_names(void **unused)
{
	for (int s = 0; s < JOB_STATE_COUNT; s++) {
		enum job_state parsed = JOB_STATE_COUNT;

		assert_int_equal(job_state_parse(job_state_name(s), &parsed), PC_OK);
		assert_int_equal(parsed, s);
	}
	assert_string_equal(job_state_name(JOB_QUEUED), "queued");
	assert_string_equal(job_state_name(JOB_CANCELLED), "cancelled");
	assert_string_equal(job_state_name(JOB_STATE_COUNT), "invalid");
	assert_string_equal(job_state_name((enum job_state) - 1), "invalid");

	static const char *const bad[] = {"",	   "Queued",   "QUEUED",  "queued ",   " queued",
					  "queue", "canceled", "invalid", "finished\n"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		enum job_state out = JOB_RUNNING;

		assert_int_equal(job_state_parse(bad[i], &out), PC_EINVAL);
		assert_int_equal(out, JOB_RUNNING); /* untouched */
	}
	enum job_state out = JOB_RUNNING;
	assert_int_equal(job_state_parse(NULL, &out), PC_EINVAL);
}

static void test_terminal(void **unused)
{
	assert_false(job_state_is_terminal(JOB_CREATED));
	assert_false(job_state_is_terminal(JOB_QUEUED));
	assert_false(job_state_is_terminal(JOB_RUNNING));
	assert_true(job_state_is_terminal(JOB_FINISHED));
	assert_true(job_state_is_terminal(JOB_ERRORED));
	assert_true(job_state_is_terminal(JOB_CANCELLED));
	assert_false(job_state_is_terminal(JOB_STATE_COUNT));

	/* Terminal means no exit: in the table and in the legality check. Every other state
	 * has one. */
	for (int s = 0; s < JOB_STATE_COUNT; s++) {
		int exits = 0;

		for (size_t i = 0; i < TABLE_LEN; i++)
			exits += (int)table[i].from == s;
		for (int to = 0; to < JOB_STATE_COUNT; to++) {
			if (job_state_is_terminal(s))
				assert_false(job_transition_is_legal(s, to));
		}
		assert_int_equal(job_state_is_terminal(s), exits == 0);
	}
}

/* The machine of job.h written out independently: exactly these ten moves are legal. */
static bool expected_legal(enum job_state from, enum job_state to)
{
	static const struct {
		enum job_state from, to;
	} moves[] = {
	    {JOB_CREATED, JOB_QUEUED},	 {JOB_CREATED, JOB_ERRORED}, {JOB_CREATED, JOB_CANCELLED},
	    {JOB_QUEUED, JOB_RUNNING},	 {JOB_QUEUED, JOB_ERRORED},  {JOB_QUEUED, JOB_CANCELLED},
	    {JOB_RUNNING, JOB_FINISHED}, {JOB_RUNNING, JOB_ERRORED}, {JOB_RUNNING, JOB_CANCELLED},
	    {JOB_RUNNING, JOB_QUEUED},
	};

	for (size_t i = 0; i < sizeof(moves) / sizeof(moves[0]); i++) {
		if (moves[i].from == from && moves[i].to == to)
			return true;
	}
	return false;
}

static void test_transition_table(void **unused)
{
	int legal = 0;

	for (int from = 0; from < JOB_STATE_COUNT; from++) {
		for (int to = 0; to < JOB_STATE_COUNT; to++) {
			bool got = job_transition_is_legal(from, to);

			assert_int_equal(got, expected_legal(from, to));
			legal += got;
			if (job_state_is_terminal(from) || from == to)
				assert_false(got);
		}
		assert_false(job_transition_is_legal(from, JOB_STATE_COUNT));
		assert_false(job_transition_is_legal(JOB_STATE_COUNT, from));
	}
	assert_int_equal(legal, 10);
}

/* The table itself: every row is legal and every pair it does not list is refused, no row
 * twice, no state moving to itself, writers only from enum job_writer, every state reachable
 * from created, and a writer for every move but created -> errored (a new move without one
 * fails here, so that someone decides who writes it). */
static void test_moves_table(void **unused)
{
	const unsigned all =
	    JOB_WRITER_HTTP | JOB_WRITER_SUBMITTER | JOB_WRITER_RECONCILER | JOB_WRITER_COMPUTE;
	bool reached[JOB_STATE_COUNT] = {[JOB_CREATED] = true};
	bool grew = true;

	for (int from = 0; from < JOB_STATE_COUNT; from++) {
		for (int to = 0; to < JOB_STATE_COUNT; to++) {
			if (job_transition_is_legal(from, to) != (table_row(from, to) != NULL))
				fail_msg(
				    "%s -> %s: job_transition_is_legal disagrees with JOB_MOVES",
				    job_state_name(from), job_state_name(to));
		}
	}
	for (size_t i = 0; i < TABLE_LEN; i++) {
		const struct move *m = &table[i];

		assert_true((unsigned)m->from < JOB_STATE_COUNT);
		assert_true((unsigned)m->to < JOB_STATE_COUNT);
		assert_int_not_equal(m->from, m->to);
		assert_ptr_equal(table_row(m->from, m->to), m);
		assert_int_equal(m->writers & ~all, 0);
		if ((m->writers == JOB_WRITER_NONE) !=
		    (m->from == JOB_CREATED && m->to == JOB_ERRORED))
			fail_msg("%s -> %s: writers 0x%x", job_state_name(m->from),
				 job_state_name(m->to), m->writers);
	}
	while (grew) {
		grew = false;
		for (size_t i = 0; i < TABLE_LEN; i++) {
			if (reached[table[i].from] && !reached[table[i].to])
				reached[table[i].to] = grew = true;
		}
	}
	for (int s = 0; s < JOB_STATE_COUNT; s++)
		assert_true(reached[s]);

	/* What the gateway's and pi-compute's code writes (job.h's list of who writes what). */
	assert_int_equal(table_row(JOB_CREATED, JOB_QUEUED)->writers, JOB_WRITER_SUBMITTER);
	assert_int_equal(table_row(JOB_QUEUED, JOB_RUNNING)->writers, JOB_WRITER_COMPUTE);
	assert_int_equal(table_row(JOB_RUNNING, JOB_FINISHED)->writers, JOB_WRITER_COMPUTE);
	for (int s = JOB_CREATED; s <= JOB_RUNNING; s++)
		assert_true(table_row(s, JOB_CANCELLED)->writers & JOB_WRITER_HTTP);
	/* A dead pool worker's job goes back in line (jobpool_recover_dead, _own). */
	assert_int_equal(table_row(JOB_RUNNING, JOB_QUEUED)->writers,
			 JOB_WRITER_RECONCILER | JOB_WRITER_COMPUTE);
}

static void test_id_new(void **unused)
{
	char a[JOB_ID_LEN + 1], b[JOB_ID_LEN + 1];

	for (int i = 0; i < 200; i++) {
		assert_int_equal(job_id_new(a), PC_OK);
		assert_int_equal(strlen(a), JOB_ID_LEN);
		assert_true(job_id_is_valid(a));
		assert_int_equal(job_id_new(b), PC_OK);
		assert_string_not_equal(a, b);
	}
}

static void test_id_validation(void **unused)
{
	char buf[5001];

	assert_true(job_id_is_valid("0f8e5b1c-2d3a-4b5c-8d6e-7f8091a2b3c4"));
	assert_true(job_id_is_valid("00000000-0000-4000-b000-000000000000"));
	assert_true(job_id_is_valid("ffffffff-ffff-4fff-9fff-ffffffffffff"));

	static const char *const bad[] = {
	    "",
	    "0F8E5B1C-2D3A-4B5C-8D6E-7F8091A2B3C4",  /* uppercase */
	    "0f8e5b1c-2d3a-4b5c-8d6e-7f8091a2b3C4",  /* one uppercase */
	    "0f8e5b1c-2d3a-1b5c-8d6e-7f8091a2b3c4",  /* version 1 */
	    "0f8e5b1c-2d3a-5b5c-8d6e-7f8091a2b3c4",  /* version 5 */
	    "0f8e5b1c-2d3a-4b5c-7d6e-7f8091a2b3c4",  /* variant 0xxx */
	    "0f8e5b1c-2d3a-4b5c-cd6e-7f8091a2b3c4",  /* variant 110x */
	    "0f8e5b1c-2d3a-4b5c-8d6e-7f8091a2b3c",   /* 35 characters */
	    "0f8e5b1c-2d3a-4b5c-8d6e-7f8091a2b3c45", /* 37 characters */
	    "0f8e5b1c2d3a-4b5c-8d6e-7f8091a2b3c4-",  /* dash moved */
	    "0f8e5b1c-2d3a-4b5c-8d6e-7f8091a2b3g4",  /* not hex */
	    "..",
	    "../../../../../../../../../etc/passwd",
	    "0f8e5b1c-2d3a-4b5c-8d6e-7f8091a2b/c4",
	    "0f8e5b1c-2d3a-4b5c-8d6e-7f8091a2b.c4",
	    "0f8e5b1c-2d3a-4b5c-8d6e-7f8091a2b3c4\n",
	    " 0f8e5b1c-2d3a-4b5c-8d6e-7f8091a2b3c4",
	    "{0f8e5b1c-2d3a-4b5c-8d6e-7f8091a2b3c}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_false(job_id_is_valid(bad[i]));
	assert_false(job_id_is_valid(NULL));

	/* A NUL inside: the string the caller sees is shorter than 36. */
	memcpy(buf, "0f8e5b1c-2d3a-4b5c-8d6e-7f8091a2b3c4", JOB_ID_LEN + 1);
	buf[20] = '\0';
	assert_false(job_id_is_valid(buf));
	buf[20] = 'd';
	assert_true(job_id_is_valid(buf));
	/* 5,000 characters. */
	memset(buf, 'a', sizeof(buf) - 1);
	buf[sizeof(buf) - 1] = '\0';
	assert_false(job_id_is_valid(buf));
}

static void test_format_time(void **unused)
{
	char out[32];

	job_format_time(0, out);
	assert_string_equal(out, "1970-01-01T00:00:00.000Z");
	job_format_time(1764284756123, out);
	assert_string_equal(out, "2025-11-27T23:05:56.123Z");
	job_format_time(1764284756005, out);
	assert_string_equal(out, "2025-11-27T23:05:56.005Z");
	job_format_time(-1, out);
	assert_string_equal(out, "1969-12-31T23:59:59.999Z");
	job_format_time(951782400000, out); /* leap day 2000 */
	assert_string_equal(out, "2000-02-29T00:00:00.000Z");
}

static void test_init_and_object_name(void **unused)
{
	struct job job;
	char name[64];
	int64_t before = job_now_ms();

	assert_int_equal(job_init_new(&job, 1000), PC_OK);
	assert_true(job_id_is_valid(job.id));
	assert_int_equal(job.state, JOB_CREATED);
	assert_int_equal(job.digits, 1000);
	assert_true(job.created_at_ms >= before);
	assert_int_equal(job.created_at_ms, job.updated_at_ms);
	assert_int_equal(job.started_at_ms, 0);
	assert_int_equal(job.finished_at_ms, 0);
	assert_false(job.has_result);
	assert_false(job.has_error);

	assert_int_equal(job_result_object_name(job.id, name, sizeof(name)), PC_OK);
	assert_int_equal(strncmp(name, "jobs/", 5), 0);
	assert_string_equal(name + 5 + JOB_ID_LEN, "/pi.txt");
	assert_int_equal(job_result_object_name("..", name, sizeof(name)), PC_EINVAL);
	assert_int_equal(job_result_object_name(job.id, name, 20), PC_EINVAL);
}

static const char *str_of(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	assert_non_null(v);
	assert_true(json_is_string(v));
	return json_string_value(v);
}

static void test_json_new_job(void **unused)
{
	static const char *const keys[] = {"id",	 "state",      "digits",      "created_at",
					   "updated_at", "started_at", "finished_at", "progress",
					   "result",	 "error",      "scheduler",   "owner"};
	struct job job;
	json_t *j;

	memset(&job, 0, sizeof(job));
	memcpy(job.id, "0f8e5b1c-2d3a-4b5c-8d6e-7f8091a2b3c4", JOB_ID_LEN + 1);
	job.state = JOB_QUEUED;
	job.digits = 1000000;
	job.created_at_ms = 1764284756123;
	job.updated_at_ms = 1764284756200;
	j = job_to_json(&job);
	assert_non_null(j);
	assert_int_equal(json_object_size(j), sizeof(keys) / sizeof(keys[0]));
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		assert_non_null(json_object_get(j, keys[i]));
	assert_string_equal(str_of(j, "id"), job.id);
	assert_string_equal(str_of(j, "state"), "queued");
	assert_true(json_is_integer(json_object_get(j, "digits")));
	assert_int_equal(json_integer_value(json_object_get(j, "digits")), 1000000);
	assert_string_equal(str_of(j, "created_at"), "2025-11-27T23:05:56.123Z");
	assert_string_equal(str_of(j, "updated_at"), "2025-11-27T23:05:56.200Z");
	assert_true(json_is_null(json_object_get(j, "started_at")));
	assert_true(json_is_null(json_object_get(j, "finished_at")));
	assert_true(json_is_number(json_object_get(j, "progress")));
	assert_true(json_number_value(json_object_get(j, "progress")) == 0.0);
	assert_true(json_is_null(json_object_get(j, "result")));
	assert_true(json_is_null(json_object_get(j, "error")));
	assert_true(json_is_null(json_object_get(j, "scheduler")));
	assert_true(json_is_null(json_object_get(j, "owner")));
	json_decref(j);
}

static void test_json_finished_and_errored(void **unused)
{
	struct job job;
	json_t *j, *sub;
	char download[64];

	memset(&job, 0, sizeof(job));
	memcpy(job.id, "0f8e5b1c-2d3a-4b5c-8d6e-7f8091a2b3c4", JOB_ID_LEN + 1);
	job.state = JOB_FINISHED;
	job.digits = 10;
	job.created_at_ms = 1000;
	job.updated_at_ms = 3000;
	job.started_at_ms = 2000;
	job.finished_at_ms = 3000;
	job.progress = 1;
	job.has_result = true;
	snprintf(job.result_object, sizeof(job.result_object), "jobs/%s/pi.txt", job.id);
	job.result_bytes = 13;
	memset(job.result_sha256, 'a', JOB_SHA256_HEX);
	snprintf(job.sched_name, sizeof(job.sched_name), "local");
	snprintf(job.sched_job_id, sizeof(job.sched_job_id), "1234:5678");

	j = job_to_json(&job);
	assert_non_null(j);
	assert_string_equal(str_of(j, "state"), "finished");
	assert_string_equal(str_of(j, "started_at"), "1970-01-01T00:00:02.000Z");
	assert_string_equal(str_of(j, "finished_at"), "1970-01-01T00:00:03.000Z");
	assert_true(json_number_value(json_object_get(j, "progress")) == 1.0);
	sub = json_object_get(j, "result");
	assert_true(json_is_object(sub));
	assert_int_equal(json_object_size(sub), 4);
	assert_string_equal(str_of(sub, "object"), job.result_object);
	assert_int_equal(json_integer_value(json_object_get(sub, "bytes")), 13);
	assert_string_equal(str_of(sub, "sha256"), job.result_sha256);
	snprintf(download, sizeof(download), "/job/download/%s", job.id);
	assert_string_equal(str_of(sub, "download"), download);
	assert_true(json_is_null(json_object_get(j, "error")));
	sub = json_object_get(j, "scheduler");
	assert_true(json_is_object(sub));
	assert_string_equal(str_of(sub, "name"), "local");
	assert_string_equal(str_of(sub, "job_id"), "1234:5678");
	json_decref(j);

	/* A pool job names its worker instead; null while it waits for one. */
	snprintf(job.sched_name, sizeof(job.sched_name), "pool");
	snprintf(job.sched_job_id, sizeof(job.sched_job_id), "host:12:0");
	j = job_to_json(&job);
	sub = json_object_get(j, "scheduler");
	assert_string_equal(str_of(sub, "name"), "pool");
	assert_string_equal(str_of(sub, "worker"), "host:12:0");
	assert_null(json_object_get(sub, "job_id"));
	json_decref(j);
	job.sched_job_id[0] = '\0';
	j = job_to_json(&job);
	assert_true(json_is_null(json_object_get(json_object_get(j, "scheduler"), "worker")));
	json_decref(j);
	snprintf(job.sched_name, sizeof(job.sched_name), "local");
	snprintf(job.sched_job_id, sizeof(job.sched_job_id), "1234:5678");

	/* A job made with an API key names it. */
	snprintf(job.owner, sizeof(job.owner), "alice");
	j = job_to_json(&job);
	assert_non_null(j);
	assert_string_equal(str_of(j, "owner"), "alice");
	json_decref(j);
	job.owner[0] = '\0';

	/* Errored, with a message that is not valid UTF-8 (it came from a scheduler). */
	job.state = JOB_ERRORED;
	job.has_result = false;
	job.has_error = true;
	snprintf(job.error_code, sizeof(job.error_code), "compute_failed");
	snprintf(job.error_message, sizeof(job.error_message), "bad \xff\xfe bytes");
	j = job_to_json(&job);
	assert_non_null(j);
	assert_true(json_is_null(json_object_get(j, "result")));
	sub = json_object_get(j, "error");
	assert_true(json_is_object(sub));
	assert_int_equal(json_object_size(sub), 2);
	assert_string_equal(str_of(sub, "code"), "compute_failed");
	assert_string_equal(str_of(sub, "message"), "bad ?? bytes");
	json_decref(j);
}

/*
 * The same table against Redis: every state write is a Lua script whose legality is generated
 * from job.h (common/src/jobstore/jobstore_conn.c). For every pair of states, a fresh job is
 * driven to `from` along moves of the table and then asked to move to `to`: Redis must apply
 * exactly the moves the table lists and refuse every other one, leaving the job as it was.
 */
static struct test_redis redis;
static jobstore *st;

static int redis_setup(void **unused)
{
	if (test_redis_start(&redis) != 0)
		return -1;
	return jobstore_open(&st, redis.url, NULL, 5000) == PC_OK ? 0 : -1;
}

static int redis_teardown(void **unused)
{
	jobstore_free(st);
	test_redis_free(&redis);
	return 0;
}

/* A path of table moves from created to target, written into path; its length. */
static size_t path_to(enum job_state target, enum job_state path[JOB_STATE_COUNT])
{
	int prev[JOB_STATE_COUNT];
	size_t n = 0;
	bool grew = true;

	for (int s = 0; s < JOB_STATE_COUNT; s++)
		prev[s] = -1;
	prev[JOB_CREATED] = JOB_CREATED;
	while (grew) {
		grew = false;
		for (size_t i = 0; i < TABLE_LEN; i++) {
			if (prev[table[i].from] >= 0 && prev[table[i].to] < 0) {
				prev[table[i].to] = table[i].from;
				grew = true;
			}
		}
	}
	assert_true(prev[target] >= 0);
	for (int s = target; s != JOB_CREATED; s = prev[s])
		n++;
	for (int s = target, i = (int)n - 1; s != JOB_CREATED; s = prev[s], i--)
		path[i] = s;
	return n;
}

static void test_redis_agrees(void **unused)
{
	int applied = 0;

	for (int from = 0; from < JOB_STATE_COUNT; from++) {
		for (int to = 0; to < JOB_STATE_COUNT; to++) {
			enum job_state path[JOB_STATE_COUNT], expect = from;
			struct job job, after;
			size_t n = path_to(from, path);
			pc_err err;

			assert_int_equal(job_init_new(&job, 10), PC_OK);
			assert_int_equal(jobstore_job_create(st, &job, 0), PC_OK);
			for (size_t i = 0; i < n; i++)
				assert_int_equal(
				    jobstore_job_transition(st, job.id, path[i], NULL, NULL, NULL),
				    PC_OK);
			memset(&after, 0, sizeof(after));
			err = jobstore_job_transition(st, job.id, to, &expect, NULL, &after);
			if (table_row(from, to)) {
				if (err != PC_OK)
					fail_msg("%s -> %s: listed, but Redis said %s",
						 job_state_name(from), job_state_name(to),
						 pc_errname(err));
				assert_int_equal(after.state, to);
				applied++;
			} else {
				if (err != PC_ECONFLICT)
					fail_msg("%s -> %s: not listed, but Redis said %s",
						 job_state_name(from), job_state_name(to),
						 pc_errname(err));
				assert_int_equal(after.state, from);
				/* Refused without an expectation too. */
				assert_int_equal(
				    jobstore_job_transition(st, job.id, to, NULL, NULL, NULL),
				    PC_ECONFLICT);
			}
			assert_int_equal(jobstore_job_get(st, job.id, &after), PC_OK);
			assert_int_equal(after.state, table_row(from, to) ? to : from);
		}
	}
	assert_int_equal(applied, (int)TABLE_LEN);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest with_redis[] = {
	    cmocka_unit_test(test_redis_agrees),
	};
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_state_names),
	    cmocka_unit_test(test_terminal),
	    cmocka_unit_test(test_transition_table),
	    cmocka_unit_test(test_moves_table),
	    cmocka_unit_test(test_id_new),
	    cmocka_unit_test(test_id_validation),
	    cmocka_unit_test(test_format_time),
	    cmocka_unit_test(test_init_and_object_name),
	    cmocka_unit_test(test_json_new_job),
	    cmocka_unit_test(test_json_finished_and_errored),
	};

	if (argc > 1 && strcmp(argv[1], "redis") == 0)
		return cmocka_run_group_tests(with_redis, redis_setup, redis_teardown);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
