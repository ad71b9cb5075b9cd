/* test_jobstore_pool.c - the warm-worker pool (jobpool.h) against a real redis-server: submit,
 * take and acknowledge, blocking takes, heartbeats, recovery of a dead worker's jobs, the
 * sched_job_id guard on the final move, and concurrent takers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "picluster/clock.h"
#include "picluster/job.h"
#include "picluster/jobpool.h"
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

/* A new job (created, as POST /job makes it) handed to the pool. */
static void new_pool_job(struct job *job)
{
	assert_int_equal(job_init_new(job, 1000), PC_OK);
	assert_int_equal(jobstore_job_create(st, job, 0), PC_OK);
	assert_int_equal(jobpool_submit(st, job->id), PC_OK);
}

/* The ids of a raw list, left to right, joined with ',' into out. */
static const char *list_of(const char *key, char *out, size_t cap)
{
	redisReply *r = redisCommand(raw, "LRANGE %s 0 -1", key);
	size_t len = 0;

	assert_non_null(r);
	assert_int_equal(r->type, REDIS_REPLY_ARRAY);
	out[0] = '\0';
	for (size_t i = 0; i < r->elements; i++)
		len += (size_t)snprintf(out + len, cap - len, "%s%s", i ? "," : "",
					r->element[i]->str);
	assert_true(len < cap);
	freeReplyObject(r);
	return out;
}

/* An integer reply of a raw command. */
static long long raw_int(const char *fmt, ...)
{
	va_list ap;
	redisReply *r;
	long long v;

	va_start(ap, fmt);
	r = redisvCommand(raw, fmt, ap);
	va_end(ap);
	assert_non_null(r);
	assert_int_equal(r->type, REDIS_REPLY_INTEGER);
	v = r->integer;
	freeReplyObject(r);
	return v;
}

static void take_expect(const char *worker, const char *want)
{
	char id[JOB_ID_LEN + 1];

	assert_int_equal(jobpool_take(st, worker, 0, id), PC_OK);
	assert_string_equal(id, want);
}

/* queued -> running as a worker does it: its name as sched_job_id. */
static pc_err start_on(const char *worker, const char *id)
{
	enum job_state from = JOB_QUEUED;
	struct job_update upd = {
	    .set_sched = true, .sched_name = JOBPOOL_SCHED_NAME, .sched_job_id = worker};

	return jobstore_job_transition(st, id, JOB_RUNNING, &from, &upd, NULL);
}

/* running -> finished as a worker does it: only while the job runs under its name. */
static pc_err finish_on(const char *worker, const char *id)
{
	enum job_state from = JOB_RUNNING;
	struct job_update upd = {.set_result = true,
				 .result_object = "jobs/x/pi.txt",
				 .result_bytes = 1003,
				 .result_sha256 = "00",
				 .expect_sched_job_id = worker};

	return jobstore_job_transition(st, id, JOB_FINISHED, &from, &upd, NULL);
}

static void assert_state(const char *id, enum job_state want, const char *sched_job_id)
{
	struct job j;

	assert_int_equal(jobstore_job_get(st, id, &j), PC_OK);
	assert_int_equal(j.state, want);
	if (sched_job_id)
		assert_string_equal(j.sched_job_id, sched_job_id);
}

static uint64_t alive(void)
{
	uint64_t n = 999;

	assert_int_equal(jobpool_alive(st, &n), PC_OK);
	return n;
}

static uint64_t queue_length(void)
{
	uint64_t n = 999;

	assert_int_equal(jobpool_queue_length(st, &n), PC_OK);
	return n;
}

/* Polls until `alive()` is want (a heartbeat expiring), for at most 10 s. */
static void wait_alive(uint64_t want)
{
	int64_t deadline = pc_monotonic_ms() + 10000;

	while (alive() != want) {
		assert_true(pc_monotonic_ms() < deadline);
		usleep(10 * 1000);
	}
}

/* created -> queued as a pool job and pushed; a job not created (cancelled) is refused and
 * nothing is pushed; an unknown id is not found. */
static void test_submit(void **state)
{
	struct job a, b, got;
	char list[256], unknown[JOB_ID_LEN + 1];

	new_pool_job(&a);
	assert_int_equal(jobstore_job_get(st, a.id, &got), PC_OK);
	assert_int_equal(got.state, JOB_QUEUED);
	assert_string_equal(got.sched_name, "pool");
	assert_string_equal(got.sched_job_id, "");
	assert_string_equal(list_of("picluster:pool:queue", list, sizeof(list)), a.id);
	assert_int_equal(queue_length(), 1);
	/* Submitted twice: the second finds it queued. */
	assert_int_equal(jobpool_submit(st, a.id), PC_ECONFLICT);

	assert_int_equal(job_init_new(&b, 10), PC_OK);
	assert_int_equal(jobstore_job_create(st, &b, 0), PC_OK);
	assert_int_equal(jobstore_job_transition(st, b.id, JOB_CANCELLED, NULL, NULL, NULL), PC_OK);
	assert_int_equal(jobpool_submit(st, b.id), PC_ECONFLICT);
	assert_state(b.id, JOB_CANCELLED, "");
	assert_int_equal(queue_length(), 1);

	assert_int_equal(job_id_new(unknown), PC_OK);
	assert_int_equal(jobpool_submit(st, unknown), PC_ENOTFOUND);
	assert_int_equal(jobpool_submit(st, "not-an-id"), PC_EINVAL);
	assert_int_equal(queue_length(), 1);
}

/* Oldest first, into the worker's list; acknowledged ids leave it; an empty queue times out. */
static void test_take_ack_order(void **state)
{
	struct job j[3];
	char id[JOB_ID_LEN + 1], list[256], want[256];

	for (int i = 0; i < 3; i++)
		new_pool_job(&j[i]);
	for (int i = 0; i < 3; i++)
		take_expect("w1", j[i].id);
	assert_int_equal(jobpool_take(st, "w1", 0, id), PC_ETIMEOUT);
	assert_int_equal(jobpool_take(st, "w1", 50, id), PC_ETIMEOUT);
	assert_int_equal(raw_int("LLEN picluster:pool:processing:w1"), 3);
	assert_int_equal(jobpool_ack(st, "w1", j[1].id), PC_OK);
	assert_int_equal(jobpool_ack(st, "w1", j[1].id), PC_OK); /* again: nothing to do */
	/* Taken ids go on the left: newest first. */
	snprintf(want, sizeof(want), "%s,%s", j[2].id, j[0].id);
	assert_string_equal(list_of("picluster:pool:processing:w1", list, sizeof(list)), want);
	assert_int_equal(jobpool_take(st, "bad name", 0, id), PC_EINVAL);
	assert_int_equal(jobpool_ack(st, "w1", "x"), PC_EINVAL);
	assert_false(jobpool_worker_name_is_valid(""));
	assert_false(jobpool_worker_name_is_valid("a/b"));
	assert_true(jobpool_worker_name_is_valid("host-1.example:1234:0"));
}

/* A take waiting on an empty queue. */
struct taker {
	const char *worker;
	int timeout_ms;
	size_t n, max;
	char (*ids)[JOB_ID_LEN + 1];
	pc_err last;
};

/* Takes until a take waits in vain, fails, or max ids came, on a store of its own. */
static void *taker_main(void *arg)
{
	struct taker *t = arg;
	jobstore *s;

	t->last = jobstore_open(&s, fx.redis.url, NULL, 2000);
	if (t->last != PC_OK)
		return NULL;
	while (t->n < t->max) {
		t->last = jobpool_take(s, t->worker, t->timeout_ms, t->ids[t->n]);
		if (t->last != PC_OK)
			break;
		t->n++;
	}
	jobstore_free(s);
	return NULL;
}

static long long blocked_clients(void)
{
	redisReply *r = redisCommand(raw, "INFO clients");
	const char *p;
	long long n;

	assert_non_null(r);
	assert_int_equal(r->type, REDIS_REPLY_STRING);
	p = strstr(r->str, "blocked_clients:");
	assert_non_null(p);
	n = strtoll(p + strlen("blocked_clients:"), NULL, 10);
	freeReplyObject(r);
	return n;
}

/* A take blocked on an empty queue returns the id a submit pushes. Its timeout is a minute:
 * PC_OK means it was woken, not timed out. */
static void test_blocking_take_woken(void **state)
{
	static char ids[1][JOB_ID_LEN + 1];
	struct taker t = {.worker = "w1", .timeout_ms = 60000, .max = 1, .ids = ids};
	int64_t deadline = pc_monotonic_ms() + 10000;
	pthread_t th;
	struct job j;

	assert_int_equal(pthread_create(&th, NULL, taker_main, &t), 0);
	while (blocked_clients() < 1) {
		assert_true(pc_monotonic_ms() < deadline);
		usleep(10 * 1000);
	}
	new_pool_job(&j);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(t.last, PC_OK);
	assert_int_equal(t.n, 1);
	assert_string_equal(ids[0], j.id);
}

/* A heartbeat lives for its TTL; workers that beat are counted alive until it lapses;
 * leaving deletes it, and the worker leaves the set only with an empty list. */
static void test_heartbeat(void **state)
{
	struct job j;
	long long ttl;

	assert_int_equal(alive(), 0);
	assert_int_equal(jobpool_heartbeat(st, "short", "host pid 1", 300), PC_OK);
	assert_int_equal(jobpool_heartbeat(st, "long", NULL, 60000), PC_OK);
	ttl = raw_int("PTTL picluster:pool:alive:long");
	assert_true(ttl > 50000 && ttl <= 60000);
	assert_int_equal(alive(), 2);
	assert_int_equal(raw_int("SCARD picluster:pool:workers"), 2);
	wait_alive(1); /* "short" lapsed */
	assert_int_equal(raw_int("EXISTS picluster:pool:alive:short"), 0);

	new_pool_job(&j);
	take_expect("long", j.id);
	assert_int_equal(jobpool_leave(st, "long", NULL), PC_OK);
	assert_int_equal(alive(), 0);
	/* Its list is not empty: recovery must still find it. */
	assert_int_equal(raw_int("SISMEMBER picluster:pool:workers long"), 1);
	assert_int_equal(jobpool_ack(st, "long", j.id), PC_OK);
	assert_int_equal(jobpool_leave(st, "long", NULL), PC_OK);
	assert_int_equal(raw_int("SISMEMBER picluster:pool:workers long"), 0);
	assert_int_equal(jobpool_heartbeat(st, "long", NULL, 0), PC_EINVAL);
}

/*
 * A dead worker's jobs: the running one goes back to queued (its sched_job_id cleared), the
 * one it took but never started goes back as it is, the one that ended is dropped; both go
 * to the head of the queue, ahead of a job waiting there, in the order taken. A live
 * worker's list is untouched, and the dead worker can no longer finish its old job once
 * another worker runs it.
 */
static void test_recover_dead(void **state)
{
	struct job a, b, d, c, e;
	char list[256];
	uint64_t moved = 99;

	new_pool_job(&a);
	new_pool_job(&b);
	new_pool_job(&d);
	new_pool_job(&c);
	new_pool_job(&e);
	assert_int_equal(jobpool_heartbeat(st, "dead", NULL, 200), PC_OK);
	assert_int_equal(jobpool_heartbeat(st, "live", NULL, 60000), PC_OK);
	take_expect("dead", a.id);
	take_expect("dead", b.id);
	take_expect("dead", d.id);
	take_expect("live", c.id);
	assert_int_equal(start_on("dead", a.id), PC_OK);
	assert_int_equal(start_on("dead", d.id), PC_OK);
	assert_int_equal(finish_on("dead", d.id), PC_OK);
	assert_int_equal(start_on("live", c.id), PC_OK);

	/* Nothing while the heartbeat lives. */
	assert_int_equal(jobpool_recover_dead(st, &moved), PC_OK);
	assert_int_equal(moved, 0);
	wait_alive(1);
	assert_int_equal(jobpool_recover_dead(st, &moved), PC_OK);
	assert_int_equal(moved, 2);
	assert_state(a.id, JOB_QUEUED, "");
	assert_state(b.id, JOB_QUEUED, "");
	assert_state(d.id, JOB_FINISHED, "dead");
	assert_state(c.id, JOB_RUNNING, "live");
	assert_int_equal(raw_int("EXISTS picluster:pool:processing:dead"), 0);
	assert_int_equal(raw_int("SISMEMBER picluster:pool:workers dead"), 0);
	assert_string_equal(list_of("picluster:pool:processing:live", list, sizeof(list)), c.id);
	assert_int_equal(queue_length(), 3);
	/* Idempotent: a second sweep finds nothing. */
	assert_int_equal(jobpool_recover_dead(st, &moved), PC_OK);
	assert_int_equal(moved, 0);

	take_expect("live", a.id);
	take_expect("live", b.id);
	take_expect("live", e.id);
	assert_int_equal(start_on("live", a.id), PC_OK);
	/* The dead worker comes back and tries to finish a: refused, a stays live's. */
	assert_int_equal(finish_on("dead", a.id), PC_ECONFLICT);
	assert_state(a.id, JOB_RUNNING, "live");
	assert_int_equal(finish_on("live", a.id), PC_OK);
	assert_state(a.id, JOB_FINISHED, "live");
}

/* A worker whose heartbeat lapsed but was renewed before the sweep keeps its list: the
 * sweep reads the heartbeat when it runs, in the same script that moves the list. */
static void test_renewed_keeps_list(void **state)
{
	struct job a;
	uint64_t moved = 99;

	new_pool_job(&a);
	assert_int_equal(jobpool_heartbeat(st, "slow", NULL, 100), PC_OK);
	take_expect("slow", a.id);
	assert_int_equal(start_on("slow", a.id), PC_OK);
	wait_alive(0);
	assert_int_equal(jobpool_heartbeat(st, "slow", NULL, 60000), PC_OK);
	assert_int_equal(jobpool_recover_dead(st, &moved), PC_OK);
	assert_int_equal(moved, 0);
	assert_state(a.id, JOB_RUNNING, "slow");
	assert_int_equal(raw_int("LLEN picluster:pool:processing:slow"), 1);
	assert_int_equal(finish_on("slow", a.id), PC_OK);
}

/* expect_sched_job_id guards any transition: a different or empty sched_job_id refuses the
 * move and leaves the job as it was; without it, the move is made as before. */
static void test_expect_sched_job_id(void **state)
{
	struct job a, after;
	enum job_state from = JOB_RUNNING;
	struct job_update upd = {.expect_sched_job_id = ""};

	new_pool_job(&a);
	assert_int_equal(start_on("w1", a.id), PC_OK);
	assert_int_equal(finish_on("w2", a.id), PC_ECONFLICT);
	assert_int_equal(jobstore_job_transition(st, a.id, JOB_ERRORED, &from, &upd, &after),
			 PC_ECONFLICT);
	assert_int_equal(after.state, JOB_RUNNING);
	assert_string_equal(after.sched_job_id, "w1");
	upd.expect_sched_job_id = "w1";
	assert_int_equal(jobstore_job_transition(st, a.id, JOB_CANCELLED, NULL, &upd, NULL), PC_OK);
	assert_int_equal(finish_on("w1", a.id), PC_ECONFLICT);
	assert_state(a.id, JOB_CANCELLED, "w1");
}

/* A worker restarting under its old name takes back what its earlier life left: a running
 * job goes back to queued at the head of the queue, whatever the heartbeat says. */
static void test_recover_own(void **state)
{
	struct job a, b;
	uint64_t moved = 99;

	new_pool_job(&a);
	new_pool_job(&b);
	assert_int_equal(jobpool_heartbeat(st, "me", NULL, 60000), PC_OK);
	take_expect("me", a.id);
	assert_int_equal(start_on("me", a.id), PC_OK);
	assert_int_equal(jobpool_recover_own(st, "other", &moved), PC_OK);
	assert_int_equal(moved, 0);
	assert_int_equal(jobpool_recover_own(st, "me", &moved), PC_OK);
	assert_int_equal(moved, 1);
	assert_state(a.id, JOB_QUEUED, "");
	assert_int_equal(raw_int("SISMEMBER picluster:pool:workers me"), 1);
	take_expect("me", a.id);
	take_expect("me", b.id);
	assert_int_equal(jobpool_recover_own(st, "bad/name", &moved), PC_EINVAL);
}

/*
 * jobpool_start, the worker's one-step start: the fast path takes the oldest and starts it;
 * an id already taken is started as given; a cancelled job is refused and leaves the list;
 * an empty queue says so; a job recovered from a dead worker starts with rerun set. And a
 * finish with ack_pool_worker leaves the processing list in the same step.
 */
static void test_start(void **state)
{
	struct job a, b, c, got;
	struct job_update upd = {0};
	enum job_state from = JOB_RUNNING;
	char id[JOB_ID_LEN + 1] = "", list[256];
	bool rerun = true;

	(void)state;
	new_pool_job(&a);
	new_pool_job(&b);
	new_pool_job(&c);
	assert_int_equal(jobpool_start(st, "w1", id, &got, &rerun), PC_OK);
	assert_string_equal(id, a.id);
	assert_int_equal(got.state, JOB_RUNNING);
	assert_string_equal(got.sched_job_id, "w1");
	assert_false(rerun);
	assert_string_equal(list_of("picluster:pool:processing:w1", list, sizeof(list)), a.id);
	/* Finished with the acknowledgement in the same move. */
	upd.expect_sched_job_id = "w1";
	upd.ack_pool_worker = "w1";
	assert_int_equal(jobstore_job_transition(st, a.id, JOB_FINISHED, &from, &upd, NULL), PC_OK);
	assert_int_equal(raw_int("LLEN picluster:pool:processing:w1"), 0);
	/* Taken by a blocking take, then started as given. */
	take_expect("w1", b.id);
	snprintf(id, sizeof(id), "%s", b.id);
	assert_int_equal(jobpool_start(st, "w1", id, &got, &rerun), PC_OK);
	assert_state(b.id, JOB_RUNNING, "w1");
	/* Cancelled while queued: refused, and off the list again. */
	assert_int_equal(jobstore_job_transition(st, c.id, JOB_CANCELLED, NULL, NULL, NULL), PC_OK);
	id[0] = '\0';
	assert_int_equal(jobpool_start(st, "w2", id, &got, &rerun), PC_ECONFLICT);
	assert_string_equal(id, c.id);
	assert_int_equal(raw_int("LLEN picluster:pool:processing:w2"), 0);
	id[0] = '\0';
	assert_int_equal(jobpool_start(st, "w2", id, &got, &rerun), PC_ETIMEOUT);
	/* w1 dies with b running: b comes back and starts on w2 as a rerun. */
	assert_int_equal(jobpool_recover_own(st, "w1", NULL), PC_OK);
	id[0] = '\0';
	assert_int_equal(jobpool_start(st, "w2", id, &got, &rerun), PC_OK);
	assert_string_equal(id, b.id);
	assert_true(rerun);
	assert_state(b.id, JOB_RUNNING, "w2");
}

/* A name is one process's while its heartbeat lives: another info is refused (PC_EEXISTS)
 * until the holder leaves or lapses; a leave by another info deletes nothing. */
static void test_name_held(void **state)
{
	(void)state;
	assert_int_equal(jobpool_heartbeat(st, "w", "host h pid 1", 60000), PC_OK);
	assert_int_equal(jobpool_heartbeat(st, "w", "host h pid 1", 60000), PC_OK);
	assert_int_equal(jobpool_heartbeat(st, "w", "host h pid 2", 60000), PC_EEXISTS);
	assert_int_equal(jobpool_leave(st, "w", "host h pid 2"), PC_OK);
	assert_int_equal(raw_int("EXISTS picluster:pool:alive:w"), 1);
	assert_int_equal(jobpool_leave(st, "w", "host h pid 1"), PC_OK);
	assert_int_equal(raw_int("EXISTS picluster:pool:alive:w"), 0);
	assert_int_equal(jobpool_heartbeat(st, "w", "host h pid 2", 100), PC_OK);
	wait_alive(0); /* it lapses: the name is free again */
	assert_int_equal(jobpool_heartbeat(st, "w", "host h pid 3", 60000), PC_OK);
}

static int compare_ids(const void *x, const void *y)
{
	return strcmp(x, y);
}

/* Two takers, each on its own connection, drain 200 jobs: every id is taken once. */
static void test_two_takers(void **state)
{
	static char got[2][200][JOB_ID_LEN + 1], all[200][JOB_ID_LEN + 1],
	    made[200][JOB_ID_LEN + 1];
	struct taker t[2];
	pthread_t th[2];
	size_t n = 0;

	for (int i = 0; i < 200; i++) {
		struct job j;

		new_pool_job(&j);
		memcpy(made[i], j.id, JOB_ID_LEN + 1);
	}
	for (int i = 0; i < 2; i++) {
		t[i] = (struct taker){
		    .worker = i ? "wb" : "wa", .timeout_ms = 200, .max = 200, .ids = got[i]};
		assert_int_equal(pthread_create(&th[i], NULL, taker_main, &t[i]), 0);
	}
	for (int i = 0; i < 2; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(t[i].last, PC_ETIMEOUT);
		memcpy(all + n, got[i], t[i].n * sizeof(got[i][0]));
		n += t[i].n;
	}
	assert_int_equal(n, 200);
	qsort(all, n, sizeof(all[0]), compare_ids);
	qsort(made, 200, sizeof(made[0]), compare_ids);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(all[i], made[i]);
	assert_int_equal(raw_int("LLEN picluster:pool:processing:wa") +
			     raw_int("LLEN picluster:pool:processing:wb"),
			 200);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_submit, flush),
	    cmocka_unit_test_setup(test_take_ack_order, flush),
	    cmocka_unit_test_setup(test_blocking_take_woken, flush),
	    cmocka_unit_test_setup(test_heartbeat, flush),
	    cmocka_unit_test_setup(test_recover_dead, flush),
	    cmocka_unit_test_setup(test_renewed_keeps_list, flush),
	    cmocka_unit_test_setup(test_expect_sched_job_id, flush),
	    cmocka_unit_test_setup(test_recover_own, flush),
	    cmocka_unit_test_setup(test_two_takers, flush),
	    cmocka_unit_test_setup(test_start, flush),
	    cmocka_unit_test_setup(test_name_held, flush),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
