/* test_sched_local.c - the local scheduler with real mpirun: submit, capacity, poll, cancel. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "sched/scheduler.h"

/* Stand-ins for pi-compute (mpirun itself is the real thing): one that runs until it is
 * killed, one that fails at once. They ignore pi-compute's arguments. */
static char dir[] = "/tmp/picluster-sched-XXXXXX";
static char sleeper[256], failer[256];

static void write_script(const char *path, const char *body)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fprintf(f, "#!/bin/sh\n%s\n", body);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, 0755), 0);
}

static int setup(void **state)
{
	if (!mkdtemp(dir))
		return -1;
	snprintf(sleeper, sizeof(sleeper), "%s/sleeper", dir);
	snprintf(failer, sizeof(failer), "%s/failer", dir);
	write_script(sleeper, "exec sleep 300");
	write_script(failer, "exit 3");
	return 0;
}

static int teardown(void **state)
{
	char cmd[300];

	unlink(sleeper);
	unlink(failer);
	/* The job logs the scheduler wrote, and the folder. */
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static sched *make(const char *compute, unsigned max_running)
{
	struct sched_config cfg = {
	    .name = "local",
	    .ranks = 2,
	    .max_running = max_running,
	    .compute_path = compute,
	    .redis_url = "redis://127.0.0.1:1",
	    .key_prefix = "t:",
	    .store_url = "file:///nonexistent",
	    .state_dir = dir,
	};
	sched *s = NULL;

	assert_int_equal(sched_new(&s, &cfg), PC_OK);
	assert_string_equal(sched_name(s), "local");
	return s;
}

static void fake_job(struct job *job, const char *id)
{
	memset(job, 0, sizeof(*job));
	snprintf(job->id, sizeof(job->id), "%s", id);
	job->digits = 10;
	job->state = JOB_QUEUED;
	snprintf(job->sched_name, sizeof(job->sched_name), "local");
}

/* Polls until the job's fate is no longer `alive`; fails after a minute. */
static struct sched_report wait_fate(sched *s, const struct job *job)
{
	struct sched_report rep;

	for (int i = 0; i < 600; i++) {
		assert_int_equal(sched_poll(s, job, 1, &rep), PC_OK);
		if (rep.fate != SCHED_ALIVE)
			return rep;
		usleep(100000);
	}
	fail_msg("job %s still alive after a minute", job->id);
	return rep;
}

/* Counts live processes in session sid (mpirun's pid), as the scheduler defines a job. */
static int session_size(int sid)
{
	char cmd[160];
	FILE *p;
	int n = -1;

	snprintf(cmd, sizeof(cmd), "ps -e -o sid=,stat= | awk '$1 == %d && $2 !~ /^Z/' | wc -l",
		 sid);
	p = popen(cmd, "r");
	assert_non_null(p);
	assert_int_equal(fscanf(p, "%d", &n), 1);
	pclose(p);
	return n;
}

static void test_submit_poll_cancel(void **state)
{
	sched *s = make(sleeper, 1);
	char msg[256];
	struct job job;
	struct sched_report rep;
	int pid;

	fake_job(&job, "0b5c7a3e-1f2d-4c5b-9a8e-7d6f5e4c3b2a");
	assert_true(sched_has_capacity(s));
	assert_int_equal(
	    sched_submit(s, &job, job.sched_job_id, sizeof(job.sched_job_id), msg, sizeof(msg)),
	    PC_OK);
	assert_int_equal(sscanf(job.sched_job_id, "%d:", &pid), 1);
	assert_true(pid > 1);
	assert_false(sched_has_capacity(s)); /* max_running 1 */
	assert_int_equal(sched_poll(s, &job, 1, &rep), PC_OK);
	assert_int_equal(rep.fate, SCHED_ALIVE);
	/* Wait until both ranks run, so cancel has a whole job to end. */
	for (int i = 0; i < 300 && session_size(pid) < 3; i++)
		usleep(100000);
	assert_true(session_size(pid) >= 3); /* mpirun + 2 ranks */

	assert_int_equal(sched_cancel(s, &job), PC_OK);
	assert_int_equal(session_size(pid), 0);
	rep = wait_fate(s, &job);
	assert_int_equal(rep.fate, SCHED_CANCELLED);
	assert_true(sched_has_capacity(s));
	/* Cancelling again is fine: the job is gone already. */
	assert_int_equal(sched_cancel(s, &job), PC_OK);
	sched_free(s);
}

static void test_failure_is_reported(void **state)
{
	sched *s = make(failer, 0);
	char msg[256];
	struct job job;
	struct sched_report rep;

	fake_job(&job, "1b5c7a3e-1f2d-4c5b-9a8e-7d6f5e4c3b2a");
	assert_int_equal(
	    sched_submit(s, &job, job.sched_job_id, sizeof(job.sched_job_id), msg, sizeof(msg)),
	    PC_OK);
	rep = wait_fate(s, &job);
	assert_int_equal(rep.fate, SCHED_ENDED);
	assert_non_null(strstr(rep.reason, "code"));
	sched_free(s);
}

static void test_unknown_process(void **state)
{
	sched *s = make(sleeper, 0);
	struct job jobs[2];
	struct sched_report reps[2];

	/* Not our child, e.g. after a restart: /proc decides. Our own pid with the wrong start
	 * time (a recycled pid) is "gone" too. */
	fake_job(&jobs[0], "2b5c7a3e-1f2d-4c5b-9a8e-7d6f5e4c3b2a");
	snprintf(jobs[0].sched_job_id, sizeof(jobs[0].sched_job_id), "%d:1", (int)getpid());
	fake_job(&jobs[1], "3b5c7a3e-1f2d-4c5b-9a8e-7d6f5e4c3b2a");
	snprintf(jobs[1].sched_job_id, sizeof(jobs[1].sched_job_id), "garbage");
	assert_int_equal(sched_poll(s, jobs, 2, reps), PC_OK);
	assert_int_equal(reps[0].fate, SCHED_ENDED);
	assert_int_equal(reps[1].fate, SCHED_UNKNOWN);
	sched_free(s);
}

static void test_names(void **state)
{
	struct sched_config cfg = {.name = "pbs", .ranks = 1};
	sched *s = (sched *)&cfg;

	assert_int_equal(sched_new(&s, &cfg), PC_EINVAL);
	assert_null(s);
	cfg.name = "none";
	assert_int_equal(sched_new(&s, &cfg), PC_OK);
	assert_string_equal(sched_name(s), "none");
	assert_false(sched_has_capacity(s));
	sched_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_submit_poll_cancel),
	    cmocka_unit_test(test_failure_is_reported),
	    cmocka_unit_test(test_unknown_process),
	    cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
