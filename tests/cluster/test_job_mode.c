/* test_job_mode.c - pi-compute reporting to a real Redis and a file object store: queued ->
 * running -> finished with the digits' size and SHA-256, quiet exit for a job it must not
 * run, errored-or-failed when Redis is gone. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "picluster/job.h"
#include "picluster/objstore.h"
#include "picluster/store.h"
#include "test_redis.h"
#include "test_sink.h"

#define PREFIX "pitest:"

static struct test_redis redis;
static store *st;
static objstore *os;
static char store_dir[] = "/tmp/pi-job-store-XXXXXX";
static char store_url[64];

static int group_setup(void **state)
{
	if (test_redis_start(&redis) != 0)
		return -1;
	if (store_open(&st, redis.url, PREFIX, 5000) != PC_OK)
		return -1;
	if (mkdtemp(store_dir) == NULL)
		return -1;
	snprintf(store_url, sizeof(store_url), "file://%s", store_dir);
	return objstore_open(&os, store_url) == PC_OK ? 0 : -1;
}

static int group_teardown(void **state)
{
	char cmd[128];

	objstore_free(os);
	store_free(st);
	test_redis_free(&redis);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", store_dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Runs pi-compute on `ranks` ranks in job mode; returns its exit code. */
static int run_compute(int ranks, uint64_t digits, const char *id, const char *redis_url)
{
	char cmd[1024];
	int rc;

	snprintf(cmd, sizeof(cmd),
		 "mpirun --oversubscribe -np %d '%s/pi-compute' --digits %llu --job-id '%s' "
		 "--redis '%s' --store '%s' --key-prefix " PREFIX,
		 ranks, BIN_DIR, (unsigned long long)digits, id, redis_url, store_url);
	rc = system(cmd);
	assert_true(rc != -1 && WIFEXITED(rc));
	return WEXITSTATUS(rc);
}

static void new_job(struct job *job, uint64_t digits, bool queue)
{
	assert_int_equal(job_init_new(job, digits), PC_OK);
	assert_int_equal(store_job_create(st, job, 0), PC_OK);
	if (queue)
		assert_int_equal(store_job_transition(st, job->id, JOB_QUEUED, NULL, NULL, NULL),
				 PC_OK);
}

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

static void sha256_hex(const void *buf, size_t len, char out[65])
{
	unsigned char d[32];
	unsigned n = 0;

	assert_int_equal(EVP_Digest(buf, len, d, &n, EVP_sha256(), NULL), 1);
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static void check_finished(uint64_t digits, int ranks)
{
	struct job job, after;
	struct objstore_stat info;
	struct test_sink g = {.cap = digits + 3};
	size_t ref_len;
	char *ref = reference(digits, &ref_len), sha[65];

	new_job(&job, digits, true);
	assert_int_equal(run_compute(ranks, digits, job.id, redis.url), 0);
	assert_int_equal(store_job_get(st, job.id, &after), PC_OK);
	assert_int_equal(after.state, JOB_FINISHED);
	assert_true(after.has_result);
	assert_int_equal(after.result_bytes, digits + 3);
	assert_true(after.progress == 1.0);
	assert_true(after.started_at_ms > 0 && after.finished_at_ms >= after.started_at_ms);
	assert_int_equal(objstore_stat(os, after.result_object, &info), PC_OK);
	assert_int_equal(info.size, digits + 3);
	g.buf = malloc(g.cap);
	assert_non_null(g.buf);
	assert_int_equal(
	    objstore_read(os, after.result_object, 0, info.size, test_sink_collect, &g), PC_OK);
	assert_int_equal(g.len, ref_len);
	assert_memory_equal(g.buf, ref, ref_len);
	sha256_hex(ref, ref_len, sha);
	assert_string_equal(after.result_sha256, sha);

	/* A duplicate run loses the queued -> running race and changes nothing. */
	assert_int_equal(run_compute(ranks, digits, job.id, redis.url), 0);
	assert_int_equal(store_job_get(st, job.id, &job), PC_OK);
	assert_int_equal(job.state, JOB_FINISHED);
	assert_int_equal(job.finished_at_ms, after.finished_at_ms);
	free(g.buf);
	free(ref);
}

static void test_finishes_one_rank(void **unused)
{
	check_finished(1000, 1);
}

static void test_finishes_two_ranks(void **unused)
{
	check_finished(200000, 2);
}

static void test_cancelled_job_not_run(void **unused)
{
	struct job job, after;
	struct objstore_stat info;
	char object[JOB_OBJECT_MAX];

	new_job(&job, 1000, true);
	assert_int_equal(store_job_transition(st, job.id, JOB_CANCELLED, NULL, NULL, NULL), PC_OK);
	assert_int_equal(run_compute(2, 1000, job.id, redis.url), 0);
	assert_int_equal(store_job_get(st, job.id, &after), PC_OK);
	assert_int_equal(after.state, JOB_CANCELLED);
	assert_false(after.has_result);
	assert_int_equal(job_result_object_name(job.id, object, sizeof(object)), PC_OK);
	assert_int_equal(objstore_stat(os, object, &info), PC_ENOTFOUND);

	/* A job still in created was never queued: not ours to run either. */
	new_job(&job, 1000, false);
	assert_int_equal(run_compute(1, 1000, job.id, redis.url), 0);
	assert_int_equal(store_job_get(st, job.id, &after), PC_OK);
	assert_int_equal(after.state, JOB_CREATED);
}

static void test_redis_unreachable_fails(void **unused)
{
	struct job job;
	char url[64];
	int port = redis.port == 1 ? 2 : 1; /* nothing listens on port 1 */

	assert_int_equal(job_id_new(job.id), PC_OK);
	snprintf(url, sizeof(url), "redis://127.0.0.1:%d", port);
	assert_int_equal(run_compute(1, 100, job.id, url), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_finishes_one_rank),
	    cmocka_unit_test(test_finishes_two_ranks),
	    cmocka_unit_test(test_cancelled_job_not_run),
	    cmocka_unit_test(test_redis_unreachable_fails),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
