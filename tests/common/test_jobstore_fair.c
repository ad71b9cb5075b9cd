/* test_jobstore_fair.c - the fair submit queue against a real redis-server: round-robin across
 * owners, FIFO within one, recovery to the head of the owner's queue, ids an older gateway
 * queued, concurrent takers, and a blocked take woken by a create. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "picluster/clock.h"
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

/* Creates and queues a job of owner ("" for none) through the store, as POST /job does. */
static void new_job(struct job *job, const char *owner)
{
	assert_int_equal(job_init_new(job, 1000), PC_OK);
	snprintf(job->owner, sizeof(job->owner), "%s", owner);
	assert_int_equal(jobstore_job_create(st, job, 0), PC_OK);
}

/* Takes one id without waiting and checks it is want's. */
static void take_expect(const char *instance, const struct job *want)
{
	char id[JOB_ID_LEN + 1];

	assert_int_equal(jobstore_queue_take(st, instance, 0, id), PC_OK);
	assert_string_equal(id, want->id);
}

static void assert_length(uint64_t want)
{
	uint64_t len = 99999;

	assert_int_equal(jobstore_queue_length(st, &len), PC_OK);
	assert_int_equal(len, want);
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

/* Runs a raw command, any non-error reply. */
static void raw_command(const char *fmt, ...)
{
	va_list ap;
	redisReply *r;

	va_start(ap, fmt);
	r = redisvCommand(raw, fmt, ap);
	va_end(ap);
	assert_non_null(r);
	assert_int_not_equal(r->type, REDIS_REPLY_ERROR);
	freeReplyObject(r);
}

/* One job each turn across owners in the order they joined; FIFO within each owner. */
static void test_round_robin(void **state)
{
	struct job a[3], b[2], c;
	char id[JOB_ID_LEN + 1];

	for (int i = 0; i < 3; i++)
		new_job(&a[i], "A");
	for (int i = 0; i < 2; i++)
		new_job(&b[i], "B");
	new_job(&c, "C");
	assert_length(6);
	take_expect("gw", &a[0]);
	take_expect("gw", &b[0]);
	take_expect("gw", &c);
	take_expect("gw", &a[1]);
	take_expect("gw", &b[1]);
	take_expect("gw", &a[2]);
	assert_length(0);
	assert_int_equal(jobstore_queue_take(st, "gw", 0, id), PC_ETIMEOUT);
	assert_int_equal(jobstore_queue_take(st, "gw", 50, id), PC_ETIMEOUT);
}

/* A's backlog had its turn; B posts: B's job is next, ahead of A's following one. B leaves
 * (its only job taken) and comes back after A's turn: again next. With A, B and C waiting and
 * B served last, a newcomer D waits for A and C, but not for B. */
static void test_newcomer_before_last_served(void **state)
{
	struct job a[6], b[2], c, d, b2;

	for (int i = 0; i < 6; i++)
		new_job(&a[i], "A");
	take_expect("gw", &a[0]);
	new_job(&b[0], "B");
	take_expect("gw", &b[0]);
	take_expect("gw", &a[1]);
	new_job(&b[1], "B");
	take_expect("gw", &b[1]);
	take_expect("gw", &a[2]);

	new_job(&b2, "B");
	new_job(&c, "C"); /* ring: B, C, A: A was served last */
	take_expect("gw", &b2);
	new_job(&b[0], "B"); /* B left the ring: it comes back at its end, ring C, A, B */
	new_job(&d, "D");    /* ahead of B, served last: ring C, A, D, B */
	take_expect("gw", &c);
	take_expect("gw", &a[3]);
	take_expect("gw", &d);
	take_expect("gw", &b[0]);
	take_expect("gw", &a[4]);
	take_expect("gw", &a[5]);
	assert_length(0);
}

/* An id taken and never acked goes back to the head of its owner's queue, by the submitter's
 * own recovery and by the orphan sweep of another gateway; the owner rejoins the ring. */
static void test_recovery_to_owner_head(void **state)
{
	struct job a[3], b[2];
	char want[256], got[256];
	uint64_t moved = 0;

	for (int i = 0; i < 3; i++)
		new_job(&a[i], "A");
	new_job(&b[0], "B");
	take_expect("gw-1", &a[0]);
	take_expect("gw-1", &b[0]); /* B's queue is empty now: B leaves the ring */
	assert_length(2);
	assert_int_equal(jobstore_queue_recover(st, "gw-1"), PC_OK);
	assert_length(4);
	snprintf(want, sizeof(want), "%s,%s,%s", a[2].id, a[1].id, a[0].id);
	assert_string_equal(list_of("picluster:queue:A", got, sizeof(got)), want);
	assert_string_equal(list_of("picluster:queue:B", got, sizeof(got)), b[0].id);
	assert_string_equal(list_of("picluster:processing:gw-1", got, sizeof(got)), "");
	take_expect("gw-2", &a[0]);
	take_expect("gw-2", &b[0]);
	take_expect("gw-2", &a[1]);

	/* gw-3's claim lapses while it holds a[2] and a new job of B: the sweep returns both. */
	new_job(&b[1], "B");
	assert_int_equal(jobstore_instance_hold(st, "gw-3", "host|1:1", NULL, 50, NULL, 0), PC_OK);
	take_expect("gw-3", &b[1]);
	take_expect("gw-3", &a[2]);
	assert_length(0);
	usleep(150 * 1000); /* the claim expires */
	assert_int_equal(jobstore_instance_recover_orphans(st, &moved), PC_OK);
	assert_int_equal(moved, 2);
	assert_length(2);
	assert_string_equal(list_of("picluster:queue:A", got, sizeof(got)), a[2].id);
	assert_string_equal(list_of("picluster:queue:B", got, sizeof(got)), b[1].id);
	take_expect("gw-2", &b[1]); /* A was served last: B comes first */
	take_expect("gw-2", &a[2]);
	assert_length(0);
}

/* Ids in <prefix>queue without any ring or bell (queued by an older gateway) are still taken,
 * by a waiting take at once, and they take turns with the keys' jobs. */
static void test_legacy_queue(void **state)
{
	struct job old[2], a[2];
	char id[JOB_ID_LEN + 1];

	new_job(&old[0], "");
	new_job(&old[1], "");
	raw_command("DEL picluster:queue-ring picluster:queue-bell picluster:queue-last");
	assert_length(2);
	new_job(&a[0], "A");
	new_job(&a[1], "A");
	assert_length(4);
	assert_int_equal(jobstore_queue_take(st, "gw", 5000, id), PC_OK);
	assert_string_equal(id, a[0].id); /* A was in the ring first; "" joins behind */
	take_expect("gw", &old[0]);
	take_expect("gw", &a[1]);
	take_expect("gw", &old[1]);
	assert_length(0);

	/* Only legacy ids, no ring and no bell: a blocking take still finds them first. */
	raw_command("LPUSH picluster:queue %s", old[0].id);
	assert_int_equal(jobstore_queue_take(st, "gw", 5000, id), PC_OK);
	assert_string_equal(id, old[0].id);
	assert_length(0);
}

/* Set to make the takers stop after their next successful take. */
static atomic_bool stop_takers;

struct taker {
	const char *instance;
	int timeout_ms;
	size_t n;
	char ids[400][JOB_ID_LEN + 1];
	pc_err last;
};

/* Takes until a take waits in vain (or fails), on a store of its own. */
static void *taker_main(void *arg)
{
	struct taker *t = arg;
	jobstore *s;

	t->last = jobstore_open(&s, fx.redis.url, NULL, 2000);
	if (t->last != PC_OK)
		return NULL;
	while (t->n < 400) {
		t->last = jobstore_queue_take(s, t->instance, t->timeout_ms, t->ids[t->n]);
		if (t->last != PC_OK)
			break;
		t->n++;
		if (atomic_load(&stop_takers))
			break;
	}
	jobstore_free(s);
	return NULL;
}

static int compare_ids(const void *x, const void *y)
{
	return strcmp(x, y);
}

/* Two takers, each on its own connection, drain 200 jobs of four owners: every id is taken
 * once, none twice. */
static void test_two_takers(void **state)
{
	static struct taker t[2];
	static char all[400][JOB_ID_LEN + 1], made[200][JOB_ID_LEN + 1];
	const char *owners[4] = {"A", "B", "C", ""};
	pthread_t th[2];
	size_t n = 0;

	for (int i = 0; i < 200; i++) {
		struct job j;

		new_job(&j, owners[i % 4]);
		memcpy(made[i], j.id, JOB_ID_LEN + 1);
	}
	for (int i = 0; i < 2; i++) {
		memset(&t[i], 0, sizeof(t[i]));
		t[i].instance = i ? "gw-b" : "gw-a";
		t[i].timeout_ms = 300;
		assert_int_equal(pthread_create(&th[i], NULL, taker_main, &t[i]), 0);
	}
	for (int i = 0; i < 2; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(t[i].last, PC_ETIMEOUT);
		memcpy(all + n, t[i].ids, t[i].n * sizeof(t[i].ids[0]));
		n += t[i].n;
	}
	assert_int_equal(n, 200);
	qsort(all, n, sizeof(all[0]), compare_ids);
	qsort(made, 200, sizeof(made[0]), compare_ids);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(all[i], made[i]);
	assert_length(0);
}

/* The number of clients blocked right now (CLIENT LIST flag b: in BLPOP here). */
static int blocked_clients(void)
{
	redisReply *r = redisCommand(raw, "CLIENT LIST");
	int n = 0;

	assert_non_null(r);
	assert_int_equal(r->type, REDIS_REPLY_STRING);
	for (const char *p = r->str; (p = strstr(p, " flags=")) != NULL;) {
		p += strlen(" flags=");
		for (; *p && *p != ' '; p++)
			n += *p == 'b';
	}
	freeReplyObject(r);
	return n;
}

/* The length of a raw list. */
static long long list_length(const char *key)
{
	redisReply *r = redisCommand(raw, "LLEN %s", key);
	long long n;

	assert_non_null(r);
	assert_int_equal(r->type, REDIS_REPLY_INTEGER);
	n = r->integer;
	freeReplyObject(r);
	return n;
}

/*
 * A key's max_running holds its jobs back in the queue: with max_running 1, its second job is
 * not taken while the first is queued or running (another key's is), and the end of the
 * first rings the bell and lets the second go.
 */
static void test_max_running_holds(void **state)
{
	struct api_key k = {.max_running = 1};
	uint8_t hash[API_KEY_HASH_LEN] = {1};
	struct job a1, a2, b1;
	char id[JOB_ID_LEN + 1];

	(void)state;
	snprintf(k.name, sizeof(k.name), "a");
	assert_int_equal(jobstore_key_create(st, &k, hash), PC_OK);
	new_job(&a1, "a");
	new_job(&a2, "a");
	new_job(&b1, "b");
	take_expect("s1", &a1);
	assert_int_equal(jobstore_job_transition(st, a1.id, JOB_QUEUED, NULL, NULL, NULL), PC_OK);
	assert_int_equal(jobstore_queue_ack(st, "s1", a1.id), PC_OK);
	take_expect("s1", &b1); /* a is at its limit: passed over */
	assert_int_equal(jobstore_queue_take(st, "s1", 0, id), PC_ETIMEOUT);
	assert_int_equal(jobstore_job_transition(st, a1.id, JOB_RUNNING, NULL, NULL, NULL), PC_OK);
	assert_int_equal(jobstore_queue_take(st, "s1", 0, id), PC_ETIMEOUT);
	raw_command("DEL picluster:queue-bell"); /* a's turns rang it; the end must ring again */
	assert_int_equal(jobstore_job_transition(st, a1.id, JOB_FINISHED, NULL, NULL, NULL), PC_OK);
	assert_int_equal(list_length("picluster:queue-bell"), 1); /* the end woke the takers */
	take_expect("s1", &a2);
	assert_length(0);
}

/* Waits (deadline 10 s) until n takers are blocked on the bell and the processing lists of
 * gw-0..gw-2 hold taken ids together. */
static void wait_blocked(int n, long long taken)
{
	int64_t deadline = pc_monotonic_ms() + 10000;

	/* The lists first: a taker that took is then seen blocked only once it waits again. */
	while (list_length("picluster:processing:gw-0") + list_length("picluster:processing:gw-1") +
		       list_length("picluster:processing:gw-2") <
		   taken ||
	       blocked_clients() < n) {
		assert_true(pc_monotonic_ms() < deadline);
		usleep(10 * 1000);
	}
}

/* Takers blocked on an empty queue are woken by creates: one, then two at once (the first to
 * wake passes the bell on), then the last. Their timeout is a minute and a take that waited
 * in vain returns PC_ETIMEOUT: PC_OK within the test's deadlines means they were woken. */
static void test_blocking_take_woken(void **state)
{
	static struct taker t[3];
	pthread_t th[3];
	struct job a, last;
	char b[JOB_ID_LEN + 1], c[JOB_ID_LEN + 1], got[128];

	atomic_store(&stop_takers, false);
	for (int i = 0; i < 3; i++) {
		memset(&t[i], 0, sizeof(t[i]));
		t[i].instance = i == 0 ? "gw-0" : i == 1 ? "gw-1" : "gw-2";
		t[i].timeout_ms = 60000;
	}
	assert_int_equal(pthread_create(&th[0], NULL, taker_main, &t[0]), 0);
	wait_blocked(1, 0);
	new_job(&a, "A");
	wait_blocked(1, 1); /* took a, and waits again */
	assert_string_equal(list_of("picluster:processing:gw-0", got, sizeof(got)), a.id);

	/* From now on each taker stops after one more id, as a submitter busy submitting
	 * would not take the next. Two ids and one token at once (two creates before any
	 * taker woke): the first taker to wake must pass the bell on for the second id. */
	for (int i = 1; i < 3; i++)
		assert_int_equal(pthread_create(&th[i], NULL, taker_main, &t[i]), 0);
	wait_blocked(3, 1);
	atomic_store(&stop_takers, true);
	assert_int_equal(job_id_new(b), PC_OK);
	assert_int_equal(job_id_new(c), PC_OK);
	raw_command("MULTI");
	raw_command("LPUSH picluster:queue %s %s", b, c);
	raw_command("LPUSH picluster:queue-bell 1");
	raw_command("EXEC");
	wait_blocked(1, 3); /* both taken by two takers; the third still waits */
	assert_length(0);

	new_job(&last, "B");
	for (int i = 0; i < 3; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(t[i].last, PC_OK);
	}
	assert_int_equal(t[0].n + t[1].n + t[2].n, 4);
	assert_length(0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_round_robin, flush),
	    cmocka_unit_test_setup(test_max_running_holds, flush),
	    cmocka_unit_test_setup(test_newcomer_before_last_served, flush),
	    cmocka_unit_test_setup(test_recovery_to_owner_head, flush),
	    cmocka_unit_test_setup(test_legacy_queue, flush),
	    cmocka_unit_test_setup(test_two_takers, flush),
	    cmocka_unit_test_setup(test_blocking_take_woken, flush),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
