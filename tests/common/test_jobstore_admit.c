/* test_jobstore_admit.c - jobstore_job_admit against a real redis-server: per-owner quotas,
 * the daily digit count, idempotency, and concurrent retries of one request. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <pthread.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "picluster/job.h"
#include "picluster/jobstore.h"
#include "test_redis.h"

#define DAY1	 "2030-01-02"
#define DAY2	 "2030-01-03"
#define RACERS	 20
#define NO_VALUE (-1LL)

static struct test_redis redis;
static redisContext *raw; /* a plain connection for looking at keys directly */
static jobstore *st;
static char prefix[32]; /* a fresh key prefix per test, so no test sees another's keys */
static int prefix_seq;
static const uint8_t key_a[32] = {0x11, 0x22, 0x33, [31] = 0x44};
static const uint8_t key_b[32] = {0x55, [31] = 0x66};

/* One private redis-server for all tests, and a raw connection to look at keys. */
static int group_setup(void **state)
{
	struct timeval tv = {.tv_sec = 5};

	(void)state;
	if (test_redis_start(&redis) != 0)
		return -1;
	raw = redisConnectWithTimeout("127.0.0.1", redis.port, tv);
	return raw && !raw->err ? 0 : -1;
}

/* Stops the private redis-server. */
static int group_teardown(void **state)
{
	(void)state;
	if (raw)
		redisFree(raw);
	test_redis_free(&redis);
	return 0;
}

/* Each test opens its own store under a prefix no other test used. */
static int open_store(void **state)
{
	(void)state;
	snprintf(prefix, sizeof(prefix), "adm%d:", ++prefix_seq);
	return jobstore_open(&st, redis.url, prefix, 5000) == PC_OK ? 0 : -1;
}

/* Closes the test's store (its keys stay; the next test uses another prefix). */
static int close_store(void **state)
{
	(void)state;
	jobstore_free(st);
	st = NULL;
	return 0;
}

/* Runs a command on the raw connection; an integer or decimal reply as a number, nil as
 * NO_VALUE, an array as its length. */
static long long raw_num(const char *fmt, ...)
{
	redisReply *r;
	long long v = NO_VALUE;
	va_list ap;

	va_start(ap, fmt);
	r = redisvCommand(raw, fmt, ap);
	va_end(ap);
	assert_non_null(r);
	if (r->type == REDIS_REPLY_INTEGER)
		v = r->integer;
	else if (r->type == REDIS_REPLY_STRING)
		v = strtoll(r->str, NULL, 10);
	else if (r->type == REDIS_REPLY_ARRAY)
		v = (long long)r->elements;
	else
		assert_int_equal(r->type, REDIS_REPLY_NIL);
	freeReplyObject(r);
	return v;
}

/* The owner's count of jobs in state s (owner:<n>:states), NO_VALUE when not written. */
static long long owner_count(const char *owner, const char *s)
{
	return raw_num("HGET %sowner:%s:states %s", prefix, owner, s);
}

/* The digits counted for owner on day (usage:<n>:<day>), NO_VALUE when not written. */
static long long usage_of(const char *owner, const char *day)
{
	return raw_num("GET %susage:%s:%s", prefix, owner, day);
}

/* How many jobs exist under this test's prefix. */
static long long jobs_total(void)
{
	return raw_num("ZCARD %sjobs", prefix);
}

/* A new job in state created with the given owner ("" for none). */
static void make_job(struct job *job, uint64_t digits, const char *owner)
{
	assert_int_equal(job_init_new(job, digits), PC_OK);
	snprintf(job->owner, sizeof(job->owner), "%s", owner);
}

/* Admits a new job and checks the outcome; res gets the details. */
static void admit_expect(struct job *job, uint64_t digits, const char *owner,
			 const struct jobstore_admit *lim, enum jobstore_admit_outcome want,
			 struct jobstore_admit_result *res)
{
	make_job(job, digits, owner);
	assert_int_equal(jobstore_job_admit(st, job, lim, res), PC_OK);
	assert_int_equal(res->outcome, want);
}

/* A legal transition that must succeed. */
static void move(const char *id, enum job_state to)
{
	assert_int_equal(jobstore_job_transition(st, id, to, NULL, NULL, NULL), PC_OK);
}

/* A refused job left nothing behind: no hash, not in any index. */
static void assert_not_written(const struct job *job)
{
	struct job got;

	assert_int_equal(jobstore_job_get(st, job->id, &got), PC_ENOTFOUND);
	assert_int_equal(raw_num("ZSCORE %sjobs %s", prefix, job->id), NO_VALUE);
	assert_int_equal(raw_num("LPOS %squeue %s", prefix, job->id), NO_VALUE);
}

/* An admitted job is stored, indexed and counted toward its owner's states and day. */
static void test_admitted(void **state)
{
	struct jobstore_admit lim = {.day = DAY1};
	struct jobstore_admit_result res;
	struct job a, b, got;
	uint64_t used = 0;
	long long ttl;

	(void)state;
	admit_expect(&a, 100, "alice", &lim, JOBSTORE_ADMITTED, &res);
	assert_int_equal(res.digits_today, 100);
	assert_int_equal(jobstore_job_get(st, a.id, &got), PC_OK);
	assert_int_equal(got.state, JOB_CREATED);
	assert_int_equal(got.digits, 100);
	assert_string_equal(got.owner, "alice");
	assert_int_equal(owner_count("alice", "created"), 1);
	assert_int_equal(usage_of("alice", DAY1), 100);
	ttl = raw_num("TTL %susage:alice:%s", prefix, DAY1);
	assert_true(ttl > 0 && ttl <= 172800);
	assert_int_not_equal(raw_num("ZSCORE %sowner:alice:jobs %s", prefix, a.id), NO_VALUE);
	assert_int_not_equal(raw_num("ZSCORE %sstate:created %s", prefix, a.id), NO_VALUE);

	admit_expect(&b, 250, "alice", &lim, JOBSTORE_ADMITTED, &res);
	assert_int_equal(res.digits_today, 350);
	assert_int_equal(usage_of("alice", DAY1), 350);
	assert_int_equal(owner_count("alice", "created"), 2);
	assert_int_equal(raw_num("LLEN %squeue:alice", prefix),
			 2); /* the owner's fair-queue list */
	assert_int_equal(jobstore_key_usage(st, "alice", DAY1, &used), PC_OK);
	assert_int_equal(used, 350);

	/* The same id again is refused and counts nothing. */
	assert_int_equal(jobstore_job_admit(st, &b, &lim, &res), PC_EEXISTS);
	assert_int_equal(usage_of("alice", DAY1), 350);
	assert_int_equal(owner_count("alice", "created"), 2);
}

/* created + queued jobs of one owner are capped; the count follows every transition. */
static void test_owner_max_queued(void **state)
{
	struct jobstore_admit lim = {.day = DAY1, .owner_max_queued = 2};
	struct jobstore_admit_result res;
	struct job a1, a2, a3, b1;

	(void)state;
	admit_expect(&a1, 10, "alice", &lim, JOBSTORE_ADMITTED, &res);
	admit_expect(&a2, 20, "alice", &lim, JOBSTORE_ADMITTED, &res);
	admit_expect(&a3, 30, "alice", &lim, JOBSTORE_OWNER_QUEUED, &res);
	assert_int_equal(res.count, 2);
	assert_not_written(&a3);
	assert_int_equal(usage_of("alice", DAY1), 30);
	assert_int_equal(owner_count("alice", "created"), 2);
	assert_int_equal(jobs_total(), 2);
	admit_expect(&b1, 40, "bob", &lim, JOBSTORE_ADMITTED, &res);
	assert_int_equal(owner_count("bob", "created"), 1);

	/* queued still counts toward max_queued */
	move(a1.id, JOB_QUEUED);
	assert_int_equal(owner_count("alice", "created"), 1);
	assert_int_equal(owner_count("alice", "queued"), 1);
	assert_int_equal(jobstore_job_admit(st, &a3, &lim, &res), PC_OK);
	assert_int_equal(res.outcome, JOBSTORE_OWNER_QUEUED);
	assert_int_equal(res.count, 2);

	/* running does not: the owner may queue again */
	move(a1.id, JOB_RUNNING);
	assert_int_equal(owner_count("alice", "queued"), 0);
	assert_int_equal(owner_count("alice", "running"), 1);
	assert_int_equal(jobstore_job_admit(st, &a3, &lim, &res), PC_OK);
	assert_int_equal(res.outcome, JOBSTORE_ADMITTED);
	assert_int_equal(owner_count("alice", "created"), 2);

	/* terminal states are not counted */
	move(a1.id, JOB_FINISHED);
	assert_int_equal(owner_count("alice", "running"), 0);
	assert_int_equal(owner_count("alice", "finished"), NO_VALUE);
	move(a2.id, JOB_CANCELLED);
	assert_int_equal(owner_count("alice", "created"), 1);
	assert_int_equal(owner_count("alice", "cancelled"), NO_VALUE);
	assert_int_equal(owner_count("bob", "created"), 1);
}

/* running jobs of one owner are capped separately. */
static void test_owner_max_running(void **state)
{
	struct jobstore_admit lim = {.day = DAY1, .owner_max_running = 1};
	struct jobstore_admit_result res;
	struct job a1, a2, b1;

	(void)state;
	admit_expect(&a1, 10, "alice", &lim, JOBSTORE_ADMITTED, &res);
	move(a1.id, JOB_QUEUED);
	move(a1.id, JOB_RUNNING);
	admit_expect(&a2, 10, "alice", &lim, JOBSTORE_OWNER_RUNNING, &res);
	assert_int_equal(res.count, 1);
	assert_not_written(&a2);
	assert_int_equal(usage_of("alice", DAY1), 10);
	admit_expect(&b1, 10, "bob", &lim, JOBSTORE_ADMITTED, &res);
	lim.owner_max_running = 2;
	assert_int_equal(jobstore_job_admit(st, &a2, &lim, &res), PC_OK);
	assert_int_equal(res.outcome, JOBSTORE_ADMITTED);
	move(a1.id, JOB_ERRORED);
	assert_int_equal(owner_count("alice", "running"), 0);
	lim.owner_max_running = 1;
	admit_expect(&a2, 10, "alice", &lim, JOBSTORE_ADMITTED, &res);
}

/* The digits of one owner per UTC day are capped; each day counts on its own. */
static void test_daily_digits(void **state)
{
	struct jobstore_admit lim = {.day = DAY1, .owner_digits_per_day = 1000};
	struct jobstore_admit_result res;
	struct job j;

	(void)state;
	admit_expect(&j, 600, "alice", &lim, JOBSTORE_ADMITTED, &res);
	assert_int_equal(res.digits_today, 600);
	admit_expect(&j, 500, "alice", &lim, JOBSTORE_OWNER_DAILY, &res);
	assert_int_equal(res.digits_today, 600);
	assert_not_written(&j);
	assert_int_equal(usage_of("alice", DAY1), 600);
	assert_int_equal(owner_count("alice", "created"), 1);
	admit_expect(&j, 400, "alice", &lim, JOBSTORE_ADMITTED, &res); /* exactly the limit */
	assert_int_equal(res.digits_today, 1000);
	admit_expect(&j, 1, "alice", &lim, JOBSTORE_OWNER_DAILY, &res);
	assert_int_equal(res.digits_today, 1000);

	lim.day = DAY2;
	admit_expect(&j, 500, "alice", &lim, JOBSTORE_ADMITTED, &res);
	assert_int_equal(res.digits_today, 500);
	assert_int_equal(usage_of("alice", DAY1), 1000);
	assert_int_equal(usage_of("alice", DAY2), 500);
	lim.day = DAY1;
	admit_expect(&j, 900, "bob", &lim, JOBSTORE_ADMITTED, &res);
	assert_int_equal(res.digits_today, 900);
	admit_expect(&j, 1001, "carol", &lim, JOBSTORE_OWNER_DAILY, &res);
	assert_int_equal(res.digits_today, 0);
	assert_int_equal(usage_of("carol", DAY1), NO_VALUE);
}

/* max_queued caps created + queued jobs of all owners together. */
static void test_global_full(void **state)
{
	struct jobstore_admit lim = {.day = DAY1, .max_queued = 2};
	struct jobstore_admit_result res;
	struct job a, n, b;

	(void)state;
	admit_expect(&a, 10, "alice", &lim, JOBSTORE_ADMITTED, &res);
	admit_expect(&n, 10, "", &lim, JOBSTORE_ADMITTED, &res);
	admit_expect(&b, 10, "bob", &lim, JOBSTORE_FULL, &res);
	assert_int_equal(res.count, 2);
	assert_not_written(&b);
	assert_int_equal(owner_count("bob", "created"), NO_VALUE);
	assert_int_equal(usage_of("bob", DAY1), NO_VALUE);
	move(n.id, JOB_QUEUED);
	assert_int_equal(jobstore_job_admit(st, &b, &lim, &res), PC_OK);
	assert_int_equal(res.outcome, JOBSTORE_FULL);
	move(n.id, JOB_RUNNING);
	assert_int_equal(jobstore_job_admit(st, &b, &lim, &res), PC_OK);
	assert_int_equal(res.outcome, JOBSTORE_ADMITTED);
	/* jobstore_job_create maps the same limit to PC_EFULL */
	make_job(&b, 10, "bob");
	assert_int_equal(jobstore_job_create(st, &b, 2), PC_EFULL);
}

/* One Idempotency-Key names one job per owner, answered before any limit. */
static void test_idempotency(void **state)
{
	struct jobstore_admit lim = {
	    .day = DAY1, .idem_key_hash = key_a, .idem_request = "digits=100"};
	struct jobstore_admit_result res;
	struct job first, j, bob;
	long long ttl;

	(void)state;
	admit_expect(&first, 100, "alice", &lim, JOBSTORE_ADMITTED, &res);
	admit_expect(&j, 100, "alice", &lim, JOBSTORE_REPLAYED, &res);
	assert_string_equal(res.job_id, first.id);
	assert_int_equal(res.digits_today, 100);
	assert_not_written(&j);
	assert_int_equal(jobs_total(), 1);
	assert_int_equal(usage_of("alice", DAY1), 100);
	assert_int_equal(owner_count("alice", "created"), 1);
	ttl = raw_num("TTL %sidem:alice:11223300000000000000000000000000000000000000000000000000"
		      "00000044",
		      prefix);
	assert_true(ttl > 86000 && ttl <= 86400);

	lim.idem_request = "digits=200";
	admit_expect(&j, 200, "alice", &lim, JOBSTORE_IDEM_MISMATCH, &res);
	assert_not_written(&j);
	assert_int_equal(jobs_total(), 1);
	assert_int_equal(usage_of("alice", DAY1), 100);

	/* the same key under another owner is another request */
	lim.idem_request = "digits=100";
	admit_expect(&bob, 100, "bob", &lim, JOBSTORE_ADMITTED, &res);
	assert_string_not_equal(bob.id, first.id);
	assert_int_equal(jobs_total(), 2);

	/* a replay is answered even when the owner is now at every limit */
	lim.owner_max_queued = 1;
	lim.owner_digits_per_day = 100;
	lim.max_queued = 2;
	admit_expect(&j, 100, "alice", &lim, JOBSTORE_REPLAYED, &res);
	assert_string_equal(res.job_id, first.id);
	lim.max_queued = 0;
	lim.idem_key_hash = key_b;
	admit_expect(&j, 100, "alice", &lim, JOBSTORE_OWNER_QUEUED, &res);
	assert_int_equal(res.count, 1);
	assert_int_equal(jobs_total(), 2);
	/* ... and after the first job has ended */
	move(first.id, JOB_CANCELLED);
	lim.idem_key_hash = key_a;
	admit_expect(&j, 100, "alice", &lim, JOBSTORE_REPLAYED, &res);
	assert_string_equal(res.job_id, first.id);
}

/* A job without owner (--auth none) has no per-owner keys, but idempotency still works. */
static void test_no_owner(void **state)
{
	struct jobstore_admit lim = {
	    .owner_max_queued = 1, .owner_max_running = 1, .owner_digits_per_day = 1};
	struct jobstore_admit_result res;
	struct job a, b, c;

	(void)state;
	/* no day needed; per-owner limits do not apply */
	admit_expect(&a, 100, "", &lim, JOBSTORE_ADMITTED, &res);
	assert_int_equal(res.digits_today, 0);
	admit_expect(&b, 100, "", &lim, JOBSTORE_ADMITTED, &res);
	move(a.id, JOB_QUEUED);
	move(a.id, JOB_RUNNING);
	admit_expect(&c, 100, "", &lim, JOBSTORE_ADMITTED, &res);
	assert_int_equal(raw_num("KEYS %susage:*", prefix), 0);
	assert_int_equal(raw_num("KEYS %sowner:*", prefix), 0);
	assert_int_equal(jobs_total(), 3);

	lim.idem_key_hash = key_a;
	lim.idem_request = "digits=7";
	admit_expect(&a, 7, "", &lim, JOBSTORE_ADMITTED, &res);
	admit_expect(&b, 7, "", &lim, JOBSTORE_REPLAYED, &res);
	assert_string_equal(res.job_id, a.id);
	assert_not_written(&b);
	assert_int_equal(raw_num("KEYS %sidem::*", prefix), 1);
	lim.idem_request = "digits=8";
	admit_expect(&b, 8, "", &lim, JOBSTORE_IDEM_MISMATCH, &res);
	/* scoped to "": the same key with an owner is independent */
	lim.day = DAY1;
	lim.owner_digits_per_day = 0;
	admit_expect(&b, 8, "alice", &lim, JOBSTORE_ADMITTED, &res);
	assert_int_equal(jobs_total(), 5);
	assert_int_equal(raw_num("KEYS %susage:*", prefix), 1);
}

/* Bad input is refused before anything is written. */
static void test_bad_input(void **state)
{
	struct jobstore_admit lim = {.day = DAY1};
	struct jobstore_admit_result res;
	char longreq[200];
	struct job j;

	(void)state;
	make_job(&j, 10, "bad name!");
	assert_int_equal(jobstore_job_admit(st, &j, &lim, &res), PC_EINVAL);
	make_job(&j, 10, "x:states");
	assert_int_equal(jobstore_job_admit(st, &j, &lim, &res), PC_EINVAL);
	make_job(&j, 10, "alice");
	lim.day = NULL;
	assert_int_equal(jobstore_job_admit(st, &j, &lim, &res), PC_EINVAL);
	lim.day = "2030-1-02";
	assert_int_equal(jobstore_job_admit(st, &j, &lim, &res), PC_EINVAL);
	lim.day = DAY1;
	lim.idem_key_hash = key_a;
	assert_int_equal(jobstore_job_admit(st, &j, &lim, &res), PC_EINVAL);
	memset(longreq, 'x', sizeof(longreq) - 1);
	longreq[sizeof(longreq) - 1] = '\0';
	lim.idem_request = longreq;
	assert_int_equal(jobstore_job_admit(st, &j, &lim, &res), PC_EINVAL);
	lim.idem_key_hash = NULL;
	j.state = JOB_QUEUED;
	assert_int_equal(jobstore_job_admit(st, &j, &lim, &res), PC_EINVAL);
	j.state = JOB_CREATED;
	snprintf(j.id, sizeof(j.id), "not-an-id");
	assert_int_equal(jobstore_job_admit(st, &j, &lim, &res), PC_EINVAL);
	assert_int_equal(raw_num("KEYS %s*", prefix), 0);
}

/* One racer: its own connection, one admit once every racer is ready. */
struct racer {
	jobstore *st;
	const struct jobstore_admit *lim;
	pthread_barrier_t *go;
	pc_err err;
	struct job job;
	struct jobstore_admit_result res;
};

/* The thread body of one racer. */
static void *race(void *arg)
{
	struct racer *r = arg;

	pthread_barrier_wait(r->go);
	r->err = jobstore_job_admit(r->st, &r->job, r->lim, &r->res);
	return NULL;
}

/* Runs RACERS admits of jobs of alice at once; counts[] gets the outcomes. */
static void run_race(struct racer *rs, const struct jobstore_admit *lim, int counts[7])
{
	pthread_t t[RACERS];
	pthread_barrier_t go;

	assert_int_equal(pthread_barrier_init(&go, NULL, RACERS), 0);
	for (int i = 0; i < RACERS; i++) {
		rs[i] = (struct racer){.lim = lim, .go = &go};
		assert_int_equal(jobstore_open(&rs[i].st, redis.url, prefix, 10000), PC_OK);
		make_job(&rs[i].job, 50, "alice");
	}
	for (int i = 0; i < RACERS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, race, &rs[i]), 0);
	for (int i = 0; i < RACERS; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
	pthread_barrier_destroy(&go);
	memset(counts, 0, 7 * sizeof(int));
	for (int i = 0; i < RACERS; i++) {
		jobstore_free(rs[i].st);
		assert_int_equal(rs[i].err, PC_OK);
		assert_true((unsigned)rs[i].res.outcome < 7);
		counts[rs[i].res.outcome]++;
	}
}

/* to_pool: the job is born handed to the pool, in the same step: queued with sched "pool",
 * on its owner's list of the pool's fair queue, not on the submit queue, counted queued. */
static void test_to_pool(void **state)
{
	struct jobstore_admit lim = {.day = DAY1, .to_pool = true};
	struct jobstore_admit_result res;
	struct job a, got;

	(void)state;
	admit_expect(&a, 100, "alice", &lim, JOBSTORE_ADMITTED, &res);
	assert_true(res.to_pool);
	assert_int_equal(jobstore_job_get(st, a.id, &got), PC_OK);
	assert_int_equal(got.state, JOB_QUEUED);
	assert_string_equal(got.sched_name, "pool");
	assert_int_equal(raw_num("LPOS %spool:queue:alice %s", prefix, a.id), 0);
	assert_int_equal(raw_num("LLEN %squeue:alice", prefix), 0);
	assert_int_not_equal(raw_num("ZSCORE %sstate:queued %s", prefix, a.id), NO_VALUE);
	assert_int_equal(raw_num("ZSCORE %sstate:created %s", prefix, a.id), NO_VALUE);
	assert_int_equal(owner_count("alice", "created"), 0);
	assert_int_equal(owner_count("alice", "queued"), 1);
	assert_int_equal(usage_of("alice", DAY1), 100);
}

/* Retries racing with one key create exactly one job; the rest replay it. */
static void test_concurrent_same_key(void **state)
{
	struct jobstore_admit lim = {
	    .day = DAY1, .idem_key_hash = key_a, .idem_request = "digits=50"};
	struct racer rs[RACERS];
	int counts[7];
	const char *winner = NULL;

	(void)state;
	run_race(rs, &lim, counts);
	assert_int_equal(counts[JOBSTORE_ADMITTED], 1);
	assert_int_equal(counts[JOBSTORE_REPLAYED], RACERS - 1);
	for (int i = 0; i < RACERS; i++)
		if (rs[i].res.outcome == JOBSTORE_ADMITTED)
			winner = rs[i].job.id;
	assert_non_null(winner);
	for (int i = 0; i < RACERS; i++)
		if (rs[i].res.outcome == JOBSTORE_REPLAYED)
			assert_string_equal(rs[i].res.job_id, winner);
	assert_int_equal(jobs_total(), 1);
	assert_int_equal(usage_of("alice", DAY1), 50);
	assert_int_equal(owner_count("alice", "created"), 1);
}

/* Racing admits never overshoot an owner's max_queued. */
static void test_concurrent_quota(void **state)
{
	struct jobstore_admit lim = {.day = DAY1, .owner_max_queued = 5};
	struct racer rs[RACERS];
	int counts[7];

	(void)state;
	run_race(rs, &lim, counts);
	assert_int_equal(counts[JOBSTORE_ADMITTED], 5);
	assert_int_equal(counts[JOBSTORE_OWNER_QUEUED], RACERS - 5);
	assert_int_equal(jobs_total(), 5);
	assert_int_equal(usage_of("alice", DAY1), 5 * 50);
	assert_int_equal(owner_count("alice", "created"), 5);
}

#define ADMIT_TEST(f) cmocka_unit_test_setup_teardown(f, open_store, close_store)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    ADMIT_TEST(test_admitted),		ADMIT_TEST(test_owner_max_queued),
	    ADMIT_TEST(test_owner_max_running), ADMIT_TEST(test_daily_digits),
	    ADMIT_TEST(test_global_full),	ADMIT_TEST(test_idempotency),
	    ADMIT_TEST(test_no_owner),		ADMIT_TEST(test_bad_input),
	    ADMIT_TEST(test_to_pool),		ADMIT_TEST(test_concurrent_same_key),
	    ADMIT_TEST(test_concurrent_quota),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
