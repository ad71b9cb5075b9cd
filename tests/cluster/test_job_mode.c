/* test_job_mode.c - pi-compute reporting to a real Redis and a file object store: queued ->
 * running -> finished with the digits' size and SHA-256, quiet exit for a job it must not
 * run, Redis outages ridden out (killed midway, down at start, away at the finish, an answer
 * lost), a cancel that stops every rank, and the scheduler identity the compute records.
 *
 * One program, one group per ctest case: test_cluster_job [basic|outage_midrun|
 * outage_start|outage_finish|lost_reply|cancel|cancel_at_finish|identity].
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
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <dirent.h>
#include <hiredis/hiredis.h>
#include <openssl/evp.h>

#include "picluster/job.h"
#include "picluster/objstore.h"
#include "picluster/jobstore.h"
#include "test_redis.h"
#include "test_sink.h"

#define PREFIX "pitest:"

/* How long a cancel may take from the DELETE's answer to the last rank gone (seconds). */
#define CANCEL_BOUND 2.0

static struct test_redis redis;
static jobstore *st;
static objstore *os;
static char store_dir[] = "/tmp/pi-job-store-XXXXXX";
static char store_url[64];
static char log_path[PATH_MAX];
static pid_t child; /* a compute started in the background, 0 when none */

/* A redis-server with AOF and appendfsync always, so that kill -9 and a restart on the same
 * port and directory lose nothing. */
static struct test_redis aof;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_s(double s)
{
	struct timespec ts = {.tv_sec = (time_t)s, .tv_nsec = (long)((s - (time_t)s) * 1e9)};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
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
	snprintf(log_path, sizeof(log_path), "%s.log", store_dir);
	return objstore_open(&os, store_url) == PC_OK ? 0 : -1;
}

/* Ends a background compute left by a failed test: SIGTERM to mpirun, which passes it on. */
static void end_child(void)
{
	int status;

	if (child <= 0)
		return;
	kill(child, SIGTERM);
	for (int i = 0; i < 500; i++) {
		if (waitpid(child, &status, WNOHANG) == child) {
			child = 0;
			return;
		}
		sleep_s(0.01);
	}
	kill(child, SIGKILL);
	waitpid(child, &status, 0);
	child = 0;
}

static int group_teardown(void **state)
{
	char cmd[128];

	end_child();
	test_redis_free(&aof);
	objstore_free(os);
	jobstore_free(st);
	test_redis_free(&redis);
	unlink(log_path);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", store_dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* The shell command of a compute: `ranks` 0 runs pi-compute without mpirun. */
static void compute_cmd(char *cmd, size_t cap, int ranks, uint64_t digits, const char *id,
			const char *redis_url, const char *extra)
{
	char launcher[64] = "";

	if (ranks > 0)
		snprintf(launcher, sizeof(launcher), "mpirun --oversubscribe -np %d ", ranks);
	snprintf(cmd, cap,
		 "%s'%s/pi-compute' --digits %llu --job-id '%s' --redis '%s' --store '%s' "
		 "--key-prefix " PREFIX " %s",
		 launcher, BIN_DIR, (unsigned long long)digits, id, redis_url, store_url, extra);
}

/* Runs pi-compute in job mode and waits; returns its exit code. */
static int run_compute(int ranks, uint64_t digits, const char *id, const char *redis_url,
		       const char *extra)
{
	char cmd[1024];
	int rc;

	compute_cmd(cmd, sizeof(cmd), ranks, digits, id, redis_url, extra);
	rc = system(cmd);
	assert_true(rc != -1 && WIFEXITED(rc));
	return WEXITSTATUS(rc);
}

/* Starts pi-compute in the background (pid in `child`: mpirun's, or pi-compute's without
 * it), its stderr into log_path; `env` (may be "") is put before the command. */
static void start_compute(int ranks, uint64_t digits, const char *id, const char *redis_url,
			  const char *extra, const char *env)
{
	char cmd[1024], line[1024 + PATH_MAX + 128];

	compute_cmd(cmd, sizeof(cmd), ranks, digits, id, redis_url, extra);
	snprintf(line, sizeof(line), "%s exec %s 2>'%s'", env, cmd, log_path);
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		execl("/bin/sh", "sh", "-c", line, (char *)NULL);
		_exit(127);
	}
}

/* Waits up to `secs` for the background compute to end; returns its exit code. */
static int wait_compute(double secs)
{
	double end = now_s() + secs;
	int status;

	while (waitpid(child, &status, WNOHANG) != child) {
		if (now_s() > end) {
			end_child();
			fail_msg("the compute did not end within %.0f s", secs);
		}
		sleep_s(0.01);
	}
	child = 0;
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

/* Whether the compute's stderr holds `text`. */
static bool log_has(const char *text)
{
	char buf[65536];
	FILE *f = fopen(log_path, "r");
	size_t n;

	if (f == NULL)
		return false;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return strstr(buf, text) != NULL;
}

static void print_log(void)
{
	char cmd[PATH_MAX + 32];

	snprintf(cmd, sizeof(cmd), "sed 's/^/  | /' '%s' >&2", log_path);
	if (system(cmd) != 0)
		fprintf(stderr, "  (no log)\n");
}

static void new_job(jobstore *s, struct job *job, uint64_t digits, bool queue)
{
	assert_int_equal(job_init_new(job, digits), PC_OK);
	assert_int_equal(jobstore_job_create(s, job, 0), PC_OK);
	if (queue)
		assert_int_equal(jobstore_job_transition(s, job->id, JOB_QUEUED, NULL, NULL, NULL),
				 PC_OK);
}

/* Polls the job until it is running with progress >= at_least (up to `secs`). */
static void wait_running(jobstore *s, const char *id, double at_least, double secs)
{
	double end = now_s() + secs;
	struct job job;

	for (;;) {
		if (jobstore_job_get(s, id, &job) == PC_OK && job.state == JOB_RUNNING &&
		    job.progress >= at_least)
			return;
		if (now_s() > end) {
			end_child();
			print_log();
			fail_msg("job %s not running with progress >= %.2f within %.0f s", id,
				 at_least, secs);
		}
		sleep_s(0.02);
	}
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

/* The job is finished, and its object holds exactly pi-reference's digits (ref, or computed
 * here when NULL; freed here). Returns the job. */
static struct job check_result_ref(jobstore *s, const char *id, uint64_t digits, char *ref,
				   size_t ref_len)
{
	struct job after;
	struct objstore_stat info;
	struct test_sink g = {.cap = digits + 3};
	char sha[65];

	if (ref == NULL)
		ref = reference(digits, &ref_len);

	assert_int_equal(jobstore_job_get(s, id, &after), PC_OK);
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
	free(g.buf);
	free(ref);
	return after;
}

static struct job check_result(jobstore *s, const char *id, uint64_t digits)
{
	return check_result_ref(s, id, digits, NULL, 0);
}

static void check_finished(uint64_t digits, int ranks)
{
	struct job job, after;

	new_job(st, &job, digits, true);
	assert_int_equal(run_compute(ranks, digits, job.id, redis.url, ""), 0);
	after = check_result(st, job.id, digits);

	/* A duplicate run loses the queued -> running race and changes nothing. */
	assert_int_equal(run_compute(ranks, digits, job.id, redis.url, ""), 0);
	assert_int_equal(jobstore_job_get(st, job.id, &job), PC_OK);
	assert_int_equal(job.state, JOB_FINISHED);
	assert_int_equal(job.finished_at_ms, after.finished_at_ms);
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

	new_job(st, &job, 1000, true);
	assert_int_equal(jobstore_job_transition(st, job.id, JOB_CANCELLED, NULL, NULL, NULL),
			 PC_OK);
	assert_int_equal(run_compute(2, 1000, job.id, redis.url, ""), 0);
	assert_int_equal(jobstore_job_get(st, job.id, &after), PC_OK);
	assert_int_equal(after.state, JOB_CANCELLED);
	assert_false(after.has_result);
	assert_int_equal(job_result_object_name(job.id, object, sizeof(object)), PC_OK);
	assert_int_equal(objstore_stat(os, object, &info), PC_ENOTFOUND);

	/* A job still in created was never queued: not ours to run either. */
	new_job(st, &job, 1000, false);
	assert_int_equal(run_compute(1, 1000, job.id, redis.url, ""), 0);
	assert_int_equal(jobstore_job_get(st, job.id, &after), PC_OK);
	assert_int_equal(after.state, JOB_CREATED);
}

static void test_redis_unreachable_fails(void **unused)
{
	struct job job;
	char url[64];
	int port = redis.port == 1 ? 2 : 1; /* nothing listens on port 1 */
	double t0;

	assert_int_equal(job_id_new(job.id), PC_OK);
	snprintf(url, sizeof(url), "redis://127.0.0.1:%d", port);
	/* --redis-retry bounds the wait: 0 gives up at once, 2 after about two seconds. */
	assert_int_equal(run_compute(1, 100, job.id, url, "--redis-retry 0"), 1);
	t0 = now_s();
	assert_int_equal(run_compute(1, 100, job.id, url, "--redis-retry 2"), 1);
	assert_true(now_s() - t0 >= 2.0);
}

/* A Redis with requirepass: the password through the environment and through
 * --redis-password-file finishes the job on two ranks; a wrong one ends the compute at once
 * (no --redis-retry wait) with a message that names the refusal, not the password. */
static void test_password(void **unused)
{
	static const char pw[] = "job-mode s3cret";
	char url[128], env[128], extra[PATH_MAX + 64], file[PATH_MAX + 8];
	struct test_redis ar;
	struct job job;
	jobstore *s;
	FILE *f;
	double t0;

	assert_int_equal(test_redis_start_auth(&ar, pw), 0);
	snprintf(url, sizeof(url), "redis://:job-mode%%20s3cret@127.0.0.1:%d", ar.port);
	assert_int_equal(jobstore_open(&s, url, PREFIX, 5000), PC_OK);

	new_job(s, &job, 1000, true);
	snprintf(env, sizeof(env), "PICLUSTER_REDIS_PASSWORD='%s'", pw);
	start_compute(2, 1000, job.id, ar.url, "", env);
	assert_int_equal(wait_compute(60), 0);
	check_result(s, job.id, 1000);

	snprintf(file, sizeof(file), "%s/pw", ar.dir);
	f = fopen(file, "w");
	assert_non_null(f);
	fprintf(f, "%s\n", pw);
	fclose(f);
	new_job(s, &job, 1000, true);
	snprintf(extra, sizeof(extra), "--redis-password-file '%s'", file);
	start_compute(2, 1000, job.id, ar.url, extra, "PICLUSTER_REDIS_PASSWORD=");
	assert_int_equal(wait_compute(60), 0);
	check_result(s, job.id, 1000);
	unlink(file);

	new_job(s, &job, 1000, true);
	t0 = now_s();
	start_compute(1, 1000, job.id, ar.url, "--redis-retry 60",
		      "PICLUSTER_REDIS_PASSWORD=wrong-one");
	assert_int_equal(wait_compute(30), 1);
	assert_true(now_s() - t0 < 10.0);
	if (!log_has("refused the password") || log_has("wrong-one")) {
		print_log();
		fail_msg("the log should name the refusal and not the password");
	}
	jobstore_free(s);
	test_redis_free(&ar);
}

/*
 * Runs pi-compute (one rank, without mpirun) for a new queued job against the object store
 * `where`, behind `prefix` (shell text: a limit, a user switch, variables), and checks that
 * it fails with exit 1, the job errored with `code` and a message holding `cause`, which
 * stderr shows too. The job's message goes into msg.
 */
static void check_store_failure(const char *prefix, const char *where, uint64_t digits,
				const char *code, const char *cause, char *msg, size_t cap)
{
	char cmd[2 * PATH_MAX + 1024];
	struct job job;
	int rc;

	new_job(st, &job, digits, true);
	snprintf(cmd, sizeof(cmd),
		 "%s '%s/pi-compute' --digits %llu --job-id '%s' --redis '%s' --store '%s' "
		 "--key-prefix " PREFIX " --redis-retry 5 2>'%s'",
		 prefix, BIN_DIR, (unsigned long long)digits, job.id, redis.url, where, log_path);
	rc = system(cmd);
	assert_true(rc != -1 && WIFEXITED(rc));
	assert_int_equal(jobstore_job_get(st, job.id, &job), PC_OK);
	if (WEXITSTATUS(rc) != 1 || job.state != JOB_ERRORED || strcmp(job.error_code, code) ||
	    strstr(job.error_message, cause) == NULL || !log_has(job.error_message)) {
		print_log();
		fail_msg("expected exit 1 and errored %s '...%s...', got exit %d, %s %s '%s'", code,
			 cause, WEXITSTATUS(rc), job_state_name(job.state), job.error_code,
			 job.error_message);
	}
	fprintf(stderr, "  %s: %s\n", job.error_code, job.error_message);
	snprintf(msg, cap, "%s", job.error_message);
}

/* A full disk, a refused permission and an unreachable endpoint end the job with codes and
 * messages that tell them apart, naming the cause, and so does pi-compute's stderr. */
static void test_store_failures_differ(void **unused)
{
	char full[JOB_ERROR_MESSAGE_MAX] = "", denied[JOB_ERROR_MESSAGE_MAX];
	char gone[JOB_ERROR_MESSAGE_MAX], dir[] = "/tmp/pi-job-denied-XXXXXX", url[64], cmd[256];
	char small[] = "/tmp/pi-job-full-XXXXXX", prefix[160];
	bool mounted = false;

	/* A full disk: the store is a 64 KiB tmpfs mounted in a private mount namespace of the
	 * compute alone (unshare -m as root, else in a user namespace when the kernel allows
	 * one), and 100 KB of digits go there. */
	assert_non_null(mkdtemp(small));
	snprintf(url, sizeof(url), "file://%s", small);
	for (int i = 0; i < 2 && !mounted; i++) {
		snprintf(prefix, sizeof(prefix),
			 "unshare %s sh -c 'mount -t tmpfs -o size=64k tmpfs %s && exec \"$@\"' sh",
			 i == 0 ? "-m" : "-rm", small);
		snprintf(cmd, sizeof(cmd), "%s true 2>/dev/null", prefix);
		mounted = system(cmd) == 0;
	}
	if (mounted) {
		check_store_failure(prefix, url, 100000, "store_full",
				    "no space left on the storage (file store: write ", full,
				    sizeof(full));
		assert_non_null(strstr(full, "No space left on device"));
	} else {
		fprintf(stderr, "  (no mount namespace here: the full disk case is not run)\n");
	}
	assert_int_equal(rmdir(small), 0);

	/* A store directory the compute may not write: as root, run it as nobody. */
	assert_non_null(mkdtemp(dir));
	assert_int_equal(chmod(dir, 0755), 0);
	snprintf(url, sizeof(url), "file://%s", dir);
	if (geteuid() != 0)
		assert_int_equal(chmod(dir, 0555), 0);
	check_store_failure(geteuid() == 0 ? "exec setpriv --reuid=65534 --regid=65534 "
					     "--clear-groups"
					   : "",
			    url, 1000, "store_denied", "access denied (file store: mkdir ", denied,
			    sizeof(denied));
	assert_non_null(strstr(denied, "Permission denied"));
	snprintf(cmd, sizeof(cmd), "chmod 0755 '%s' && rm -rf '%s'", dir, dir);
	assert_int_equal(system(cmd), 0);

	/* An S3 endpoint where nothing listens: the single PUT at the commit fails. */
	check_store_failure("AWS_ACCESS_KEY_ID=k AWS_SECRET_ACCESS_KEY=s",
			    "s3://bucket/p?endpoint=http://127.0.0.1:1&region=us-east-1&retries=0",
			    1000, "store_unavailable",
			    "service unavailable (s3 store: PUT s3://bucket/p/jobs/", gone,
			    sizeof(gone));
	assert_non_null(strstr(gone, "(endpoint http://127.0.0.1:1)"));
	assert_string_not_equal(denied, gone);
	assert_string_not_equal(full, denied);
}

/* (a) Redis killed with kill -9 while the ranks compute, and restarted on the same port and
 * AOF before they end: the job finishes with the right digits. */
static void test_outage_midrun(void **unused)
{
	const uint64_t digits = 3000000;
	jobstore *s;
	struct job job;
	double t0;
	int rc;

	assert_int_equal(test_redis_start_aof(&aof), 0);
	assert_int_equal(jobstore_open(&s, aof.url, PREFIX, 2000), PC_OK);
	new_job(s, &job, digits, true);
	start_compute(2, digits, job.id, aof.url, "", "");
	wait_running(s, job.id, 0.01, 120);
	test_redis_kill(&aof);
	t0 = now_s();
	sleep_s(1.5);
	assert_int_equal(test_redis_restart(&aof), 0);
	fprintf(stderr, "  Redis away for %.2f s while the ranks computed\n", now_s() - t0);
	rc = wait_compute(600);
	print_log(); /* shown by ctest -V or on failure */
	assert_int_equal(rc, 0);
	assert_true(log_has("Redis unavailable"));
	assert_true(log_has("Redis is back"));
	check_result(s, job.id, digits);
	jobstore_free(s);
	test_redis_free(&aof);
}

/* (a) Redis down when the compute starts, back about 3 s later. */
static void test_outage_start(void **unused)
{
	const uint64_t digits = 10000;
	jobstore *s;
	struct job job;
	int rc;

	assert_int_equal(test_redis_start_aof(&aof), 0);
	assert_int_equal(jobstore_open(&s, aof.url, PREFIX, 2000), PC_OK);
	new_job(s, &job, digits, true);
	test_redis_kill(&aof);
	start_compute(2, digits, job.id, aof.url, "", "");
	sleep_s(3);
	assert_int_equal(test_redis_restart(&aof), 0);
	rc = wait_compute(300);
	print_log(); /* shown by ctest -V or on failure */
	assert_int_equal(rc, 0);
	assert_true(log_has("Redis unavailable while connecting"));
	assert_true(log_has("connecting: retrying"));
	assert_true(log_has("Redis is back"));
	check_result(s, job.id, digits);
	jobstore_free(s);
	test_redis_free(&aof);
}

/* Waits up to `secs` for the compute's log to hold `text`. */
static void wait_log(const char *text, double secs)
{
	double end = now_s() + secs;
	int status;

	while (!log_has(text)) {
		if (waitpid(child, &status, WNOHANG) == child) {
			child = 0;
			print_log();
			fail_msg("the compute ended before its log said '%s'", text);
		}
		if (now_s() > end) {
			end_child();
			print_log();
			fail_msg("no '%s' in the compute's log within %.0f s", text, secs);
		}
		sleep_s(0.02);
	}
}

/* (b) Redis away when the compute records its result, for 5 s from its first failed
 * attempt: still finished, and the object kept. Redis goes once the combine has ended and
 * comes back 5 s after the compute has logged that the finished write waits for it. */
static void test_outage_finish(void **unused)
{
	const uint64_t digits = 4000000;
	jobstore *s;
	struct job job;
	double t0, t1;
	int rc;

	assert_int_equal(test_redis_start_aof(&aof), 0);
	assert_int_equal(jobstore_open(&s, aof.url, PREFIX, 2000), PC_OK);
	new_job(s, &job, digits, true);
	start_compute(2, digits, job.id, aof.url, "", "");
	wait_running(s, job.id, 0.92, 300);
	test_redis_kill(&aof);
	t0 = now_s();
	wait_log("recording the result: retrying", 300);
	t1 = now_s();
	sleep_s(5);
	assert_int_equal(test_redis_restart(&aof), 0);
	fprintf(stderr, "  Redis away for %.2f s, %.2f s of them while the result waited\n",
		now_s() - t0, now_s() - t1);
	rc = wait_compute(300);
	print_log(); /* shown by ctest -V or on failure */
	assert_int_equal(rc, 0);
	assert_true(log_has("Redis is back"));
	check_result(s, job.id, digits);
	jobstore_free(s);
	test_redis_free(&aof);
}

/* (b) The finished write applied by Redis but its answer lost: the compute's next attempt is
 * refused (the job is no longer running), and must count as done, not delete the object.
 * Simulated by writing exactly the compute's result (known in advance: the object name, the
 * size and pi-reference's SHA-256) while the compute waits for Redis to come back. */
static void test_lost_reply(void **unused)
{
	const uint64_t digits = 4000000;
	const enum job_state running = JOB_RUNNING;
	char *ref, sha[65], object[JOB_OBJECT_MAX];
	struct job_update upd;
	size_t ref_len;
	jobstore *s;
	struct job job;
	pc_err e;
	int rc;

	ref = reference(digits, &ref_len);
	sha256_hex(ref, ref_len, sha);
	assert_int_equal(test_redis_start_aof(&aof), 0);
	assert_int_equal(jobstore_open(&s, aof.url, PREFIX, 2000), PC_OK);
	new_job(s, &job, digits, true);
	assert_int_equal(job_result_object_name(job.id, object, sizeof(object)), PC_OK);
	memset(&upd, 0, sizeof(upd));
	upd.set_result = true;
	upd.result_object = object;
	upd.result_bytes = digits + 3;
	upd.result_sha256 = sha;
	start_compute(2, digits, job.id, aof.url, "", "");
	wait_running(s, job.id, 0.92, 300);
	test_redis_kill(&aof);
	wait_log("recording the result: retrying", 300);
	sleep_s(3); /* the compute's retries are 2 s apart by now */
	assert_int_equal(test_redis_restart(&aof), 0);
	e = jobstore_job_transition(s, job.id, JOB_FINISHED, &running, &upd, NULL);
	rc = wait_compute(300);
	print_log(); /* shown by ctest -V or on failure */
	assert_int_equal(rc, 0);
	if (e == PC_OK) {
		assert_true(log_has("an earlier attempt while recording the result had succeeded"));
	} else {
		/* The compute's own retry came first (a few ms in 2 s): nothing to simulate. */
		assert_int_equal(e, PC_ECONFLICT);
		fprintf(stderr, "  the compute's retry came before the simulated write\n");
	}
	check_result_ref(s, job.id, digits, ref, ref_len);
	jobstore_free(s);
	test_redis_free(&aof);
}

/* Whether pid is a live process (a zombie is gone: it runs nothing). */
static bool is_alive(pid_t pid)
{
	char path[64], buf[512], *p;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (f == NULL)
		return false;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')');
	return p != NULL && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
}

/* The pids of parent's children (the ranks mpirun forked); returns how many. */
static int children_of(pid_t parent, pid_t *out, int max)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL && n < max) {
		char path[300], buf[512], *p;
		FILE *f;
		size_t len;
		int ppid;

		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
		f = fopen(path, "r");
		if (f == NULL)
			continue;
		len = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		buf[len] = '\0';
		p = strrchr(buf, ')');
		if (p != NULL && sscanf(p + 2, "%*c %d", &ppid) == 1 && ppid == parent) {
			char *end;
			long pid = strtol(e->d_name, &end, 10);

			if (*end == '\0' && pid > 0)
				out[n++] = (pid_t)pid;
		}
	}
	closedir(d);
	return n;
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

/* (c) A cancel written to Redis (as the gateway's DELETE does, whoever answers it) stops a
 * running 2-rank compute: every rank gone within CANCEL_BOUND, nothing left in the store,
 * exit 0. */
static void test_cancel_stops_ranks(void **unused)
{
	const uint64_t digits = 10000000;
	pid_t ranks[8];
	struct job job, after;
	double t0, gone_after = -1;
	int n, rc;

	new_job(st, &job, digits, true);
	start_compute(2, digits, job.id, redis.url, "", "");
	wait_running(st, job.id, 0.02, 300);
	n = children_of(child, ranks, 8);
	assert_int_equal(n, 2);
	assert_int_equal(jobstore_job_transition(st, job.id, JOB_CANCELLED, NULL, NULL, &after),
			 PC_OK);
	t0 = now_s();
	fprintf(stderr, "  cancelled at progress %.3f\n", after.progress);
	while (now_s() - t0 < 30) {
		bool any = false;

		for (int i = 0; i < n; i++)
			any = any || is_alive(ranks[i]);
		if (!any) {
			gone_after = now_s() - t0;
			break;
		}
		sleep_s(0.005);
	}
	rc = wait_compute(60);
	fprintf(stderr, "  all %d ranks gone %.3f s after the cancel; mpirun ended %.3f s after\n",
		n, gone_after, now_s() - t0);
	print_log(); /* shown by ctest -V or on failure */
	assert_true(gone_after >= 0 && gone_after <= CANCEL_BOUND);
	assert_int_equal(rc, 0);
	assert_true(log_has("job "));
	assert_true(log_has("was cancelled: stopped"));
	assert_int_equal(files_left(job.id), 0);
	assert_int_equal(jobstore_job_get(st, job.id, &after), PC_OK);
	assert_int_equal(after.state, JOB_CANCELLED);
	assert_false(after.has_result);
}

/* (c) A cancel that comes once the digits are stored: the committed object is deleted when
 * running -> finished is refused, and the compute still exits 0. The cancel is written
 * while the compute waits for Redis to take its result (Redis killed after the combine). */
static void test_cancel_at_finish(void **unused)
{
	const uint64_t digits = 4000000;
	jobstore *s;
	struct job job, after;
	pc_err e;
	int rc;

	assert_int_equal(test_redis_start_aof(&aof), 0);
	assert_int_equal(jobstore_open(&s, aof.url, PREFIX, 2000), PC_OK);
	new_job(s, &job, digits, true);
	start_compute(2, digits, job.id, aof.url, "", "");
	wait_running(s, job.id, 0.92, 300);
	test_redis_kill(&aof);
	wait_log("recording the result: retrying", 300);
	sleep_s(3); /* the compute's retries are 2 s apart by now */
	assert_int_equal(test_redis_restart(&aof), 0);
	e = jobstore_job_transition(s, job.id, JOB_CANCELLED, NULL, NULL, &after);
	rc = wait_compute(300);
	print_log(); /* shown by ctest -V or on failure */
	assert_int_equal(rc, 0);
	if (e == PC_OK) {
		assert_true(log_has("was cancelled: stopped"));
		assert_int_equal(files_left(job.id), 0);
		assert_int_equal(jobstore_job_get(s, job.id, &after), PC_OK);
		assert_int_equal(after.state, JOB_CANCELLED);
		assert_false(after.has_result);
	} else {
		/* The compute's own retry came first (a few ms in 2 s): it finished. */
		assert_int_equal(e, PC_ECONFLICT);
		fprintf(stderr, "  the compute's retry came before the cancel\n");
		check_result(s, job.id, digits);
	}
	jobstore_free(s);
	test_redis_free(&aof);
}

/* "PID:STARTTICKS" of a process, as the local scheduler forms it. */
static void local_id(pid_t pid, char *out, size_t cap)
{
	char path[64], buf[1024], *p;
	unsigned long long start = 0;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')');
	assert_non_null(p);
	assert_int_equal(sscanf(p + 2,
				"%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d "
				"%*d %*d %*d %llu",
				&start),
			 1);
	snprintf(out, cap, "%d:%llu", (int)pid, start);
}

/* (d) The compute that wins queued -> running records its own identity, and a submitter's
 * late jobstore_job_set_sched cannot overwrite it. */
static void test_identity(void **unused)
{
	char want[JOB_SCHED_ID_MAX];
	struct job job, got;

	/* Under mpirun: mpirun's PID:STARTTICKS (read while it is surely alive). */
	new_job(st, &job, 2000000, true);
	assert_int_equal(jobstore_job_set_sched(st, job.id, "local", "1:1"), PC_OK);
	start_compute(2, 2000000, job.id, redis.url, "", "");
	local_id(child, want, sizeof(want));
	wait_running(st, job.id, 0, 120);
	assert_int_equal(jobstore_job_get(st, job.id, &got), PC_OK);
	assert_string_equal(got.sched_name, "local");
	assert_string_equal(got.sched_job_id, want);
	assert_int_equal(jobstore_job_set_sched(st, job.id, "local", "1:1"), PC_ECONFLICT);
	assert_int_equal(wait_compute(300), 0);
	assert_int_equal(jobstore_job_get(st, job.id, &got), PC_OK);
	assert_int_equal(got.state, JOB_FINISHED);
	assert_string_equal(got.sched_job_id, want);

	/* Without mpirun: the process itself. */
	new_job(st, &job, 1000, true);
	start_compute(0, 1000, job.id, redis.url, "", "");
	local_id(child, want, sizeof(want));
	assert_int_equal(wait_compute(120), 0);
	assert_int_equal(jobstore_job_get(st, job.id, &got), PC_OK);
	assert_int_equal(got.state, JOB_FINISHED);
	assert_string_equal(got.sched_name, "local");
	assert_string_equal(got.sched_job_id, want);

	/* Inside a Slurm allocation: Slurm's job id. */
	new_job(st, &job, 1000, true);
	start_compute(0, 1000, job.id, redis.url, "", "SLURM_JOB_ID=4242");
	assert_int_equal(wait_compute(120), 0);
	assert_int_equal(jobstore_job_get(st, job.id, &got), PC_OK);
	assert_int_equal(got.state, JOB_FINISHED);
	assert_string_equal(got.sched_name, "slurm");
	assert_string_equal(got.sched_job_id, "4242");
}

int main(int argc, char **argv)
{
	const struct CMUnitTest basic[] = {
	    cmocka_unit_test(test_finishes_one_rank),
	    cmocka_unit_test(test_finishes_two_ranks),
	    cmocka_unit_test(test_cancelled_job_not_run),
	    cmocka_unit_test(test_redis_unreachable_fails),
	    cmocka_unit_test(test_store_failures_differ),
	    cmocka_unit_test(test_password),
	};
	const struct CMUnitTest outage_midrun[] = {cmocka_unit_test(test_outage_midrun)};
	const struct CMUnitTest outage_start[] = {cmocka_unit_test(test_outage_start)};
	const struct CMUnitTest outage_finish[] = {cmocka_unit_test(test_outage_finish)};
	const struct CMUnitTest lost_reply[] = {cmocka_unit_test(test_lost_reply)};
	const struct CMUnitTest cancel[] = {cmocka_unit_test(test_cancel_stops_ranks)};
	const struct CMUnitTest cancel_at_finish[] = {cmocka_unit_test(test_cancel_at_finish)};
	const struct CMUnitTest identity[] = {cmocka_unit_test(test_identity)};
	const char *group = argc > 1 ? argv[1] : "basic";

#define RUN(g)                      \
	if (strcmp(group, #g) == 0) \
		return cmocka_run_group_tests_name(#g, g, group_setup, group_teardown);
	RUN(basic)
	RUN(outage_midrun)
	RUN(outage_start)
	RUN(outage_finish)
	RUN(lost_reply)
	RUN(cancel)
	RUN(cancel_at_finish)
	RUN(identity)
#undef RUN
	fprintf(stderr,
		"usage: %s [basic|outage_midrun|outage_start|outage_finish|cancel|"
		"identity]\n",
		argv[0]);
	return 2;
}
