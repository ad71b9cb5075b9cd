/* test_worker.c - pi-compute --worker against a real redis-server and a file object store: jobs
 * handed to the pool with jobpool_submit are computed with digits equal to pi-reference's
 * (MPFR), a worker killed with kill -9 mid-job loses nothing (its job is recovered and
 * finished once by another), SIGTERM drains, a cancel stops a job mid-compute, 1,000 jobs go
 * through two workers, and a worker's memory stays flat over 10,000 jobs.
 *
 * One program, one group per ctest case: test_cluster_worker [basic|kill|drain|cancel|
 * thousand|rss].
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <dirent.h>
#include <hiredis/hiredis.h>
#include <openssl/evp.h>

#include "picluster/clock.h"
#include "picluster/job.h"
#include "picluster/jobpool.h"
#include "picluster/jobstore.h"
#include "picluster/objstore.h"
#include "test_redis.h"
#include "test_sink.h"

#define PREFIX "pwtest:"
#define MAX_WORKERS 2

/* The decimals every small job's digits are checked against (a prefix of them). */
#define REF_DIGITS 2000

static struct test_redis redis;
static jobstore *st;
static objstore *os;
static char store_dir[] = "/tmp/pi-worker-store-XXXXXX";
static char store_url[64];
static pid_t workers[MAX_WORKERS];
static char log_path[MAX_WORKERS][PATH_MAX];
static char *ref;	/* pi-reference --digits REF_DIGITS */
static size_t ref_len;

/* pi-reference's output for `digits` (new string, *len bytes). */
static char *reference(uint64_t digits, size_t *len)
{
	char cmd[512];
	char *buf = malloc(digits + 16);
	FILE *p;

	assert_non_null(buf);
	snprintf(cmd, sizeof(cmd), "'%s/pi-reference' --digits %llu", BIN_DIR,
		 (unsigned long long)digits);
	p = popen(cmd, "r");
	assert_non_null(p);
	*len = fread(buf, 1, digits + 16, p);
	assert_int_equal(pclose(p), 0);
	return buf;
}

static int group_setup(void **state)
{
	if (test_redis_start(&redis) != 0)
		return -1;
	if (jobstore_open(&st, redis.url, PREFIX, 5000) != PC_OK)
		return -1;
	if (mkdtemp(store_dir) == NULL)
		return -1;
	snprintf(store_url, sizeof(store_url), "file://%s", store_dir);
	for (int i = 0; i < MAX_WORKERS; i++)
		snprintf(log_path[i], sizeof(log_path[i]), "%s.w%d.log", store_dir, i);
	ref = reference(REF_DIGITS, &ref_len);
	return objstore_open(&os, store_url) == PC_OK ? 0 : -1;
}

/* Ends worker i if it runs (SIGKILL: a test that failed), and reaps it. */
static void end_worker(int i)
{
	int status;

	if (workers[i] <= 0)
		return;
	kill(workers[i], SIGKILL);
	waitpid(workers[i], &status, 0);
	workers[i] = 0;
}

static int group_teardown(void **state)
{
	char cmd[128];

	for (int i = 0; i < MAX_WORKERS; i++) {
		end_worker(i);
		unlink(log_path[i]);
	}
	free(ref);
	objstore_free(os);
	jobstore_free(st);
	test_redis_free(&redis);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", store_dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void print_log(int i)
{
	char cmd[PATH_MAX + 32];

	snprintf(cmd, sizeof(cmd), "sed 's/^/  | /' '%s' >&2", log_path[i]);
	if (system(cmd) != 0)
		fprintf(stderr, "  (no log)\n");
}

/* Starts worker i named name (heartbeat heartbeat_ms), its stderr into log_path[i]. */
static void start_worker(int i, const char *name, int heartbeat_ms)
{
	char hb[16];

	snprintf(hb, sizeof(hb), "%d", heartbeat_ms);
	workers[i] = fork();
	assert_true(workers[i] >= 0);
	if (workers[i] == 0) {
		char bin[PATH_MAX];

		if (freopen(log_path[i], "w", stderr) == NULL)
			_exit(127);
		snprintf(bin, sizeof(bin), "%s/pi-compute", BIN_DIR);
		execl(bin, bin, "--worker", "--redis", redis.url, "--store", store_url,
		      "--key-prefix", PREFIX, "--worker-name", name, "--heartbeat-ms", hb,
		      (char *)NULL);
		_exit(127);
	}
}

/* Waits up to secs for worker i to exit; returns its exit status. */
static int wait_worker(int i, int secs)
{
	int64_t end = pc_monotonic_ms() + secs * 1000;
	int status;

	while (waitpid(workers[i], &status, WNOHANG) != workers[i]) {
		if (pc_monotonic_ms() > end) {
			print_log(i);
			end_worker(i);
			fail_msg("worker %d did not exit within %d s", i, secs);
		}
		pc_sleep_ms(10);
	}
	workers[i] = 0;
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

/* A new job of `digits` handed to the pool, as the gateway's submitter does. */
static void submit(struct job *job, uint64_t digits)
{
	assert_int_equal(job_init_new(job, digits), PC_OK);
	assert_int_equal(jobstore_job_create(st, job, 0), PC_OK);
	assert_int_equal(jobpool_submit(st, job->id), PC_OK);
}

/* Polls until the job is in state `want` (up to secs); returns it. */
static struct job wait_state(const char *id, enum job_state want, int secs)
{
	int64_t end = pc_monotonic_ms() + secs * 1000;
	struct job job;

	for (;;) {
		if (jobstore_job_get(st, id, &job) == PC_OK && job.state == want)
			return job;
		if (pc_monotonic_ms() > end) {
			print_log(0);
			print_log(1);
			fail_msg("job %s not %s within %d s (it is %s)", id, job_state_name(want),
				 secs, job_state_name(job.state));
		}
		pc_sleep_ms(5);
	}
}

/* Waits until `n` workers have a live heartbeat. */
static void wait_alive(uint64_t n, int secs)
{
	int64_t end = pc_monotonic_ms() + secs * 1000;
	uint64_t alive = 0;

	while (jobpool_alive(st, &alive) != PC_OK || alive != n) {
		if (pc_monotonic_ms() > end)
			fail_msg("%llu workers alive, not %llu", (unsigned long long)alive,
				 (unsigned long long)n);
		pc_sleep_ms(10);
	}
}

static void sha256_hex(const void *buf, size_t len, char out[65])
{
	unsigned char d[32];
	unsigned n = 0;

	assert_int_equal(EVP_Digest(buf, len, d, &n, EVP_sha256(), NULL), 1);
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/* The finished job's object is want (len bytes), its size and SHA-256 recorded with it, and
 * it ran on the pool under a worker's name. */
static void check_object(const struct job *job, const char *want, size_t len)
{
	struct test_sink g = {.cap = len + 1};
	char sha[65];

	assert_int_equal(job->state, JOB_FINISHED);
	assert_string_equal(job->sched_name, "pool");
	assert_true(job->sched_job_id[0] != '\0');
	assert_int_equal(job->result_bytes, len);
	g.buf = malloc(g.cap);
	assert_non_null(g.buf);
	assert_int_equal(objstore_read(os, job->result_object, 0, len, test_sink_collect, &g),
			 PC_OK);
	assert_int_equal(g.len, len);
	assert_memory_equal(g.buf, want, len);
	sha256_hex(want, len, sha);
	assert_string_equal(job->result_sha256, sha);
	free(g.buf);
}

/* A finished small job (digits <= REF_DIGITS): its object is "3." + the first digits
 * decimals of pi-reference + "\n", byte for byte. */
static void check_small(const char *id, uint64_t digits)
{
	struct job job;
	char *want = malloc(digits + 3);

	assert_non_null(want);
	assert_true(digits <= REF_DIGITS);
	memcpy(want, ref, digits + 2);
	want[digits + 2] = '\n';
	assert_int_equal(jobstore_job_get(st, id, &job), PC_OK);
	check_object(&job, want, digits + 3);
	free(want);
}

/* A finished big job, checked against pi-reference run for it. */
static void check_big(const char *id, uint64_t digits)
{
	struct job job;
	size_t len;
	char *want = reference(digits, &len);

	assert_int_equal(len, digits + 3);
	assert_int_equal(jobstore_job_get(st, id, &job), PC_OK);
	check_object(&job, want, len);
	free(want);
}

/* Waits until n jobs are finished in all (up to secs). */
static void wait_finished(uint64_t n, int secs)
{
	int64_t end = pc_monotonic_ms() + secs * 1000;
	uint64_t counts[JOB_STATE_COUNT];

	for (;;) {
		assert_int_equal(jobstore_count_by_state(st, counts), PC_OK);
		if (counts[JOB_FINISHED] == n)
			return;
		if (pc_monotonic_ms() > end) {
			print_log(0);
			print_log(1);
			fail_msg("%llu of %llu jobs finished within %d s",
				 (unsigned long long)counts[JOB_FINISHED], (unsigned long long)n,
				 secs);
		}
		pc_sleep_ms(20);
	}
}

/* An integer reply of a raw command on a fresh connection. */
static long long raw_int(const char *fmt, const char *arg)
{
	redisContext *c = redisConnect("127.0.0.1", redis.port);
	redisReply *r;
	long long v;

	assert_true(c != NULL && !c->err);
	r = redisCommand(c, fmt, arg);
	assert_non_null(r);
	assert_int_equal(r->type, REDIS_REPLY_INTEGER);
	v = r->integer;
	freeReplyObject(r);
	redisFree(c);
	return v;
}

/* SIGTERM to worker i and a clean end: exit 0, its heartbeat gone, its list empty and its
 * name out of the pool's set. */
static void stop_worker(int i, const char *name)
{
	assert_int_equal(kill(workers[i], SIGTERM), 0);
	assert_int_equal(wait_worker(i, 60), 0);
	assert_int_equal(raw_int("EXISTS " PREFIX "pool:alive:%s", name), 0);
	assert_int_equal(raw_int("LLEN " PREFIX "pool:processing:%s", name), 0);
	assert_int_equal(raw_int("SISMEMBER " PREFIX "pool:workers %s", name), 0);
}

/* Jobs of several sizes, each finished with pi-reference's digits, on the worker named in
 * the job ("scheduler": {"name": "pool", "worker": ...}); then SIGTERM ends it cleanly. */
static void test_basic(void **unused)
{
	static const uint64_t sizes[] = {1, 2, 10, 999, 1000, 2000};
	struct job jobs[6], big, got;
	json_t *j;

	start_worker(0, "basic-w0", 3000);
	wait_alive(1, 30);
	for (size_t i = 0; i < 6; i++)
		submit(&jobs[i], sizes[i]);
	submit(&big, 100000);
	for (size_t i = 0; i < 6; i++) {
		wait_state(jobs[i].id, JOB_FINISHED, 60);
		check_small(jobs[i].id, sizes[i]);
	}
	got = wait_state(big.id, JOB_FINISHED, 120);
	check_big(big.id, 100000);
	assert_string_equal(got.sched_job_id, "basic-w0");
	j = job_to_json(&got);
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(j, "scheduler"), "worker")),
	    "basic-w0");
	json_decref(j);
	stop_worker(0, "basic-w0");
}

/* Files under <store>/jobs/<id>/ (the object and any temporary file). */
static int files_left(const char *id)
{
	char path[PATH_MAX];
	struct dirent *e;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "%s/jobs/%s", store_dir, id);
	d = opendir(path);
	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
			fprintf(stderr, "  left: %s/%s\n", path, e->d_name);
			n++;
		}
	}
	closedir(d);
	return n;
}

/*
 * kill -9 of a worker mid-job: its job stays running in its list until its heartbeat lapses;
 * then jobpool_recover_dead (what the gateway's keeper calls) queues it again, and a second
 * worker finishes it, once, with the right digits.
 */
static void test_kill(void **unused)
{
	const uint64_t digits = 2000000;
	uint64_t moved = 0;
	struct job job, got;
	int status;

	start_worker(0, "kill-w0", 600);
	wait_alive(1, 30);
	submit(&job, digits);
	got = wait_state(job.id, JOB_RUNNING, 60);
	assert_string_equal(got.sched_job_id, "kill-w0");
	assert_int_equal(kill(workers[0], SIGKILL), 0);
	assert_int_equal(waitpid(workers[0], &status, 0), workers[0]);
	workers[0] = 0;
	assert_int_equal(raw_int("LLEN " PREFIX "pool:processing:%s", "kill-w0"), 1);
	/* Nothing moves while the heartbeat lives; then the job goes back in line. */
	wait_alive(0, 10);
	assert_int_equal(jobpool_recover_dead(st, &moved), PC_OK);
	assert_int_equal(moved, 1);
	got = wait_state(job.id, JOB_QUEUED, 1);
	assert_string_equal(got.sched_job_id, "");

	start_worker(1, "kill-w1", 3000);
	got = wait_state(job.id, JOB_FINISHED, 120);
	assert_string_equal(got.sched_job_id, "kill-w1");
	check_big(job.id, digits);
	assert_int_equal(files_left(job.id), 1); /* the object, no temporary file */
	/* Once: nothing left to run again anywhere. */
	assert_int_equal(jobpool_recover_dead(st, &moved), PC_OK);
	assert_int_equal(moved, 0);
	assert_int_equal(raw_int("LLEN " PREFIX "pool:queue%s", ""), 0);
	stop_worker(1, "kill-w1");
}

/* SIGTERM while a job computes: the job finishes, then the worker exits 0 and leaves. */
static void test_drain(void **unused)
{
	const uint64_t digits = 1000000;
	struct job job;

	start_worker(0, "drain-w0", 3000);
	wait_alive(1, 30);
	submit(&job, digits);
	wait_state(job.id, JOB_RUNNING, 60);
	stop_worker(0, "drain-w0");
	wait_state(job.id, JOB_FINISHED, 1);
	check_big(job.id, digits);
	wait_alive(0, 1);
}

/* A pool job cancelled mid-compute (as DELETE /job does): not finished, no object left, its
 * id acknowledged; the worker goes on with the next job. */
static void test_cancel(void **unused)
{
	const uint64_t digits = 2000000;
	struct job job, next;
	int64_t t0;

	start_worker(0, "cancel-w0", 3000);
	wait_alive(1, 30);
	submit(&job, digits);
	wait_state(job.id, JOB_RUNNING, 60);
	t0 = pc_monotonic_ms();
	assert_int_equal(jobstore_job_transition(st, job.id, JOB_CANCELLED, NULL, NULL, NULL),
			 PC_OK);
	submit(&next, 100);
	wait_state(next.id, JOB_FINISHED, 60);
	fprintf(stderr, "  the next job finished %lld ms after the cancel\n",
		(long long)(pc_monotonic_ms() - t0));
	check_small(next.id, 100);
	wait_state(job.id, JOB_CANCELLED, 1);
	assert_int_equal(files_left(job.id), 0);
	assert_int_equal(raw_int("LLEN " PREFIX "pool:processing:%s", "cancel-w0"), 0);
	stop_worker(0, "cancel-w0");
}

/* Submits n jobs of 1..1000 digits (ids into ids, digits into sizes). */
static void submit_many(size_t n, char (*ids)[JOB_ID_LEN + 1], uint64_t *sizes, unsigned seed)
{
	for (size_t i = 0; i < n; i++) {
		struct job job;

		sizes[i] = 1 + (uint64_t)((i * 7919 + seed) % 1000);
		submit(&job, sizes[i]);
		memcpy(ids[i], job.id, JOB_ID_LEN + 1);
	}
}

/* 1,000 jobs through two workers: every one finished once, every digit checked. */
static void test_thousand(void **unused)
{
	static char ids[1000][JOB_ID_LEN + 1];
	static uint64_t sizes[1000];
	unsigned on[2] = {0, 0};

	start_worker(0, "many-w0", 3000);
	start_worker(1, "many-w1", 3000);
	wait_alive(2, 30);
	submit_many(1000, ids, sizes, 1);
	wait_finished(1000, 300);
	for (size_t i = 0; i < 1000; i++) {
		struct job job;

		check_small(ids[i], sizes[i]);
		assert_int_equal(jobstore_job_get(st, ids[i], &job), PC_OK);
		on[strcmp(job.sched_job_id, "many-w1") == 0]++;
	}
	fprintf(stderr, "  many-w0 ran %u jobs, many-w1 %u\n", on[0], on[1]);
	stop_worker(0, "many-w0");
	stop_worker(1, "many-w1");
}

/* VmRSS of process pid in KiB. */
static long rss_kib(pid_t pid)
{
	char path[64], line[256];
	long kib = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
	f = fopen(path, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "VmRSS:", 6) == 0)
			kib = strtol(line + 6, NULL, 10);
	}
	fclose(f);
	assert_true(kib > 0);
	return kib;
}

/* A worker frees each job's memory: its RSS after 10,000 jobs of 100..1000 digits is within
 * 8 MiB of its RSS after the first 10 (a behaviour check, not a speed test). */
static void test_rss(void **unused)
{
	enum { FIRST = 10, ALL = 10000 };
	static char ids[ALL][JOB_ID_LEN + 1];
	static uint64_t sizes[ALL];
	long after_first, after_all;

	start_worker(0, "rss-w0", 3000);
	wait_alive(1, 30);
	submit_many(FIRST, ids, sizes, 3);
	for (size_t i = 0; i < FIRST; i++)
		sizes[i] = sizes[i] < 100 ? sizes[i] + 100 : sizes[i];
	wait_finished(FIRST, 60);
	after_first = rss_kib(workers[0]);
	submit_many(ALL - FIRST, ids + FIRST, sizes + FIRST, 5);
	wait_finished(ALL, 600);
	after_all = rss_kib(workers[0]);
	fprintf(stderr, "  worker RSS: %ld KiB after %d jobs, %ld KiB after %d\n", after_first,
		FIRST, after_all, ALL);
	for (size_t i = 0; i < ALL; i++)
		check_small(ids[i], sizes[i]);
	assert_true(after_all - after_first <= 8 * 1024);
	stop_worker(0, "rss-w0");
}

int main(int argc, char **argv)
{
	const struct CMUnitTest basic[] = {cmocka_unit_test(test_basic)};
	const struct CMUnitTest kill9[] = {cmocka_unit_test(test_kill)};
	const struct CMUnitTest drain[] = {cmocka_unit_test(test_drain)};
	const struct CMUnitTest cancel[] = {cmocka_unit_test(test_cancel)};
	const struct CMUnitTest thousand[] = {cmocka_unit_test(test_thousand)};
	const struct CMUnitTest rss[] = {cmocka_unit_test(test_rss)};
	const char *group = argc > 1 ? argv[1] : "basic";

	if (strcmp(group, "basic") == 0)
		return cmocka_run_group_tests(basic, group_setup, group_teardown);
	if (strcmp(group, "kill") == 0)
		return cmocka_run_group_tests(kill9, group_setup, group_teardown);
	if (strcmp(group, "drain") == 0)
		return cmocka_run_group_tests(drain, group_setup, group_teardown);
	if (strcmp(group, "cancel") == 0)
		return cmocka_run_group_tests(cancel, group_setup, group_teardown);
	if (strcmp(group, "thousand") == 0)
		return cmocka_run_group_tests(thousand, group_setup, group_teardown);
	if (strcmp(group, "rss") == 0)
		return cmocka_run_group_tests(rss, group_setup, group_teardown);
	fprintf(stderr, "usage: test_cluster_worker [basic|kill|drain|cancel|thousand|rss]\n");
	return 2;
}
