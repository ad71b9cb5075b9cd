/* test_sched_slurm.c - the slurm scheduler backend against a real Slurm cluster (slurm-up). */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "sched/sched_int.h"

/*
 * The ctest fixture starts a one-node cluster with scripts/slurm-up (MinJobAge=2, so finished
 * jobs soon leave the queue and the backend must read them from `sacct -c`) and sets
 * SLURM_CONF. The compute is tests/gateway/slurm_fake_compute.sh (PICLUSTER_TEST_FAKE), run
 * through the real slurm/pi.sbatch (PICLUSTER_TEST_SCRIPT): what it does depends on --digits.
 */

/* The group's fixture: the folder the fake compute writes to, and the time-limit job. Slurm
 * needs 60-90 s to end a job at its 1-minute limit, so the group setup submits that job and
 * test_timeout, the only test that reads it, finds it ended (or waits) after the others ran. */
struct group {
	char fake_dir[64];
	sched *timeout_sched;
	struct job timeout_job;
};

/* Filled by group_setup; tests reach it only through their state. main reads fake_dir to
 * remove it after a run where every test passed. */
static struct group the_group;

/* One test's state, made by setup and undone by teardown even when an assertion fails: the
 * backend the test configures and the job it submits (cancelled if still there). */
struct ctx {
	struct group *g;
	sched *s;
	struct job job;
	bool submitted;
};

static sched *new_slurm(const char *dir, const char *time_limit, unsigned ranks, const char *extra)
{
	sched *s = calloc(1, sizeof(*s));

	assert_non_null(s);
	s->ops = &sched_slurm_ops;
	s->cfg.name = "slurm";
	s->cfg.ranks = ranks;
	s->cfg.compute_path = getenv("PICLUSTER_TEST_FAKE");
	s->cfg.redis_url = "redis://127.0.0.1:1";
	s->cfg.key_prefix = "pfx:";
	s->cfg.store_url = "file:///nonexistent-store";
	s->cfg.state_dir = dir;
	s->cfg.sbatch_script = getenv("PICLUSTER_TEST_SCRIPT");
	s->cfg.time_limit = time_limit;
	s->cfg.extra_args = extra;
	if (s->ops->init(s) != PC_OK) {
		free(s);
		fail_msg("the slurm backend did not start");
	}
	return s;
}

static void free_slurm(sched *s)
{
	s->ops->fini(s);
	free(s);
}

/* The test's backend: time limit (minutes, or NULL), ranks, extra sbatch arguments. */
static sched *use_slurm(struct ctx *c, const char *time_limit, unsigned ranks, const char *extra)
{
	assert_null(c->s);
	c->s = new_slurm(c->g->fake_dir, time_limit, ranks, extra);
	return c->s;
}

static void make_job(struct job *job, uint64_t digits)
{
	assert_int_equal(job_init_new(job, digits), PC_OK);
	job->state = JOB_QUEUED;
}

static void submit_job(sched *s, struct job *job)
{
	char msg[512];

	assert_int_equal(
	    s->ops->submit(s, job, job->sched_job_id, sizeof(job->sched_job_id), msg, sizeof(msg)),
	    PC_OK);
	assert_true(job->sched_job_id[0] >= '0' && job->sched_job_id[0] <= '9');
	snprintf(job->sched_name, sizeof(job->sched_name), "slurm");
}

/* Submits the test's job (c->job, digits as the fake compute reads them) on c->s. */
static void submit_ok(struct ctx *c, uint64_t digits)
{
	make_job(&c->job, digits);
	c->submitted = true;
	submit_job(c->s, &c->job);
}

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));

	if (!c)
		return -1;
	c->g = *state; /* cmocka passes the group's state to each test's setup */
	if (!c->g) {
		free(c);
		return -1;
	}
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;

	if (c->s) {
		if (c->submitted && c->job.sched_job_id[0])
			c->s->ops->cancel(c->s, &c->job); /* a no-op for a job that has ended */
		free_slurm(c->s);
	}
	free(c);
	return 0;
}

static struct sched_report poll_one(sched *s, const struct job *job)
{
	struct sched_report rep = {.fate = SCHED_UNKNOWN};

	assert_int_equal(s->ops->poll(s, job, 1, &rep), PC_OK);
	return rep;
}

/* Polls until the job is no longer alive (and, if want is set, the reason contains it). */
static struct sched_report wait_ended(sched *s, const struct job *job, const char *want,
				      int timeout_s)
{
	time_t deadline = time(NULL) + timeout_s;
	struct sched_report rep;

	for (;;) {
		rep = poll_one(s, job);
		if (rep.fate != SCHED_ALIVE && rep.fate != SCHED_UNKNOWN &&
		    (!want || strstr(rep.reason, want)))
			return rep;
		if (time(NULL) > deadline)
			fail_msg("Slurm job %s: fate %d reason '%s' after %d s (waiting for '%s')",
				 job->sched_job_id, rep.fate, rep.reason, timeout_s,
				 want ? want : "an end");
		usleep(250000);
	}
}

static bool read_file(const char *path, char *buf, size_t cap)
{
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return false;
	n = fread(buf, 1, cap - 1, f);
	buf[n] = '\0';
	fclose(f);
	return true;
}

/* True while pid runs: a zombie (killed, waiting for init to reap it) counts as gone. */
static bool process_runs(long pid)
{
	char path[64], stat[512];
	const char *paren;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	if (!read_file(path, stat, sizeof(stat)))
		return false;
	paren = strrchr(stat, ')');
	return paren && paren[1] == ' ' && paren[2] != 'Z' && paren[2] != 'X';
}

/* Waits for the fake compute of job to write file suffix in dir; returns its text in buf. */
static void wait_file(const char *dir, const struct job *job, const char *suffix, char *buf,
		      size_t cap)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s.%s", dir, job->id, suffix);
	for (int i = 0; i < 600; i++) {
		if (read_file(path, buf, cap))
			return;
		usleep(100000);
	}
	fail_msg("%s never appeared", path);
}

/* The argument vector reaches pi-compute intact, and the job ends COMPLETED, first as squeue
 * reports it and then, after MinJobAge, from the jobcomp log through sacct -c. */
static void test_submit_completes(void **state)
{
	struct ctx *c = *state;
	sched *s = use_slurm(c, NULL, 2, "--comment picluster-test");
	struct sched_report rep;
	char args[1024], want[512];

	submit_ok(c, 1);
	wait_file(c->g->fake_dir, &c->job, "args", args, sizeof(args));
	snprintf(want, sizeof(want),
		 "--digits 1 --job-id %s --redis redis://127.0.0.1:1 --store "
		 "file:///nonexistent-store --key-prefix pfx:\n",
		 c->job.id);
	assert_string_equal(args, want);
	rep = wait_ended(s, &c->job, NULL, 60);
	assert_int_equal(rep.fate, SCHED_ENDED);
	assert_non_null(strstr(rep.reason, "COMPLETED"));
}

static void test_failed_compute(void **state)
{
	struct ctx *c = *state;
	sched *s = use_slurm(c, NULL, 1, NULL);
	struct sched_report rep;

	submit_ok(c, 2);
	rep = wait_ended(s, &c->job, NULL, 60);
	assert_int_equal(rep.fate, SCHED_ENDED);
	assert_non_null(strstr(rep.reason, "FAILED (exit code 3"));
	/* Once the queue forgets it (MinJobAge), accounting tells the same, without squeue's
	 * "; reason NonZeroExitCode". */
	rep = wait_ended(s, &c->job, "FAILED (exit code 3)", 90);
	assert_int_equal(rep.fate, SCHED_ENDED);
}

/* Cancel returns only when every rank is gone; the job then reports CANCELLED. */
static void test_cancel_running(void **state)
{
	struct ctx *c = *state;
	sched *s = use_slurm(c, NULL, 2, NULL);
	struct sched_report rep;
	char buf[64];
	long pids[2];

	submit_ok(c, 3);
	for (int r = 0; r < 2; r++) {
		char suffix[16], *end;

		snprintf(suffix, sizeof(suffix), "pid.%d", r);
		wait_file(c->g->fake_dir, &c->job, suffix, buf, sizeof(buf));
		errno = 0;
		pids[r] = strtol(buf, &end, 10);
		assert_true(errno == 0 && end != buf && pids[r] > 1);
		assert_true(process_runs(pids[r]));
	}
	assert_int_equal(poll_one(s, &c->job).fate, SCHED_ALIVE);
	assert_int_equal(s->ops->cancel(s, &c->job), PC_OK);
	for (int r = 0; r < 2; r++)
		assert_false(process_runs(pids[r]));
	rep = poll_one(s, &c->job);
	assert_int_equal(rep.fate, SCHED_CANCELLED);
	assert_non_null(strstr(rep.reason, "CANCELLED"));
	/* Cancelling again, or a job that never ran, is fine. */
	assert_int_equal(s->ops->cancel(s, &c->job), PC_OK);
}

/* More tasks than the partition has: EnforcePartLimits=ALL makes sbatch refuse at once. */
static void test_refused(void **state)
{
	struct ctx *c = *state;
	sched *s = use_slurm(c, NULL, 100000, NULL);
	struct job job;
	char id[64], msg[512];

	make_job(&job, 1);
	assert_int_equal(s->ops->submit(s, &job, id, sizeof(id), msg, sizeof(msg)), PC_ESCHED);
	assert_non_null(strstr(msg, "More processors requested than permitted"));
	assert_null(strstr(msg, "sbatch: error:"));
}

/* Extra arguments are separate words, never shell text: a ';' stays inside the comment. */
static void test_no_shell(void **state)
{
	struct ctx *c = *state;
	char marker[600], extra[700];
	sched *s;

	snprintf(marker, sizeof(marker), "%s/injected", c->g->fake_dir);
	snprintf(extra, sizeof(extra), "--comment=x;touch${IFS}%s", marker);
	s = use_slurm(c, NULL, 1, extra);
	submit_ok(c, 1);
	wait_ended(s, &c->job, NULL, 60);
	assert_int_equal(access(marker, F_OK), -1);
}

static void test_unknown_ids(void **state)
{
	struct ctx *c = *state;
	sched *s = use_slurm(c, NULL, 1, NULL);
	struct job jobs[3];
	struct sched_report reps[3];

	make_job(&jobs[0], 1);
	snprintf(jobs[0].sched_job_id, sizeof(jobs[0].sched_job_id), "987654");
	make_job(&jobs[1], 1); /* never submitted: no id */
	make_job(&jobs[2], 1);
	snprintf(jobs[2].sched_job_id, sizeof(jobs[2].sched_job_id), "1;rm -rf /");
	assert_int_equal(s->ops->poll(s, jobs, 3, reps), PC_OK);
	assert_int_equal(reps[0].fate, SCHED_ENDED);
	assert_string_equal(reps[0].reason,
			    "Slurm job 987654 left the Slurm queue without a state");
	assert_int_equal(reps[1].fate, SCHED_UNKNOWN);
	assert_int_equal(reps[2].fate, SCHED_UNKNOWN);
	assert_int_equal(s->ops->cancel(s, &jobs[1]), PC_OK);
}

/* A controller nobody answers on: nothing is decided (UNKNOWN), submit is not a refusal. */
static void test_unreachable(void **state)
{
	struct ctx *c = *state;
	const char *conf = getenv("SLURM_CONF");
	char path[600], line[1024], msg[512], id[64];
	FILE *in, *out;
	struct sockaddr_in addr = {.sin_family = AF_INET,
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(addr);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct job job;
	pc_err rc;

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&addr, &len), 0);
	close(fd); /* a port that nothing listens on */
	snprintf(path, sizeof(path), "%s/dead.conf", c->g->fake_dir);
	in = fopen(conf, "r");
	out = fopen(path, "w");
	assert_non_null(in);
	assert_non_null(out);
	while (fgets(line, sizeof(line), in)) {
		if (strncmp(line, "SlurmctldPort=", 14) == 0)
			fprintf(out, "SlurmctldPort=%u\n", ntohs(addr.sin_port));
		else
			fputs(line, out);
	}
	fclose(in);
	fclose(out);
	setenv("SLURM_CONF", path, 1);
	use_slurm(c, NULL, 1, NULL);
	setenv("SLURM_CONF", conf, 1);
	make_job(&job, 1);
	snprintf(job.sched_job_id, sizeof(job.sched_job_id), "1");
	assert_int_equal(poll_one(c->s, &job).fate, SCHED_UNKNOWN);
	rc = c->s->ops->submit(c->s, &job, id, sizeof(id), msg, sizeof(msg));
	assert_int_equal(rc, PC_EUNAVAILABLE);
}

/* A job past its time limit (1 minute, submitted by the group setup) ends TIMEOUT. */
static void test_timeout(void **state)
{
	struct ctx *c = *state;
	struct sched_report rep;

	rep = wait_ended(c->g->timeout_sched, &c->g->timeout_job, NULL, 240);
	assert_int_equal(rep.fate, SCHED_ENDED);
	assert_non_null(strstr(rep.reason, "TIMEOUT"));
}

static int group_setup(void **state)
{
	struct group *g = &the_group;

	snprintf(g->fake_dir, sizeof(g->fake_dir), "/tmp/picluster-slurm-fake-XXXXXX");
	if (!mkdtemp(g->fake_dir)) {
		perror("mkdtemp");
		g->fake_dir[0] = '\0';
		return -1;
	}
	setenv("PICLUSTER_TEST_FAKE_DIR", g->fake_dir, 1);
	*state = g;
	/* The time-limit job (digits 3: the fake compute sleeps) starts its minute now. */
	g->timeout_sched = new_slurm(g->fake_dir, "1", 1, NULL);
	make_job(&g->timeout_job, 3);
	submit_job(g->timeout_sched, &g->timeout_job);
	return 0;
}

/* Cancels the time-limit job if it still runs; the fake compute's folder is removed by main
 * once every test passed (left for reading otherwise). */
static int group_teardown(void **state)
{
	struct group *g = *state;

	if (g->timeout_sched) {
		if (g->timeout_job.sched_job_id[0])
			g->timeout_sched->ops->cancel(g->timeout_sched, &g->timeout_job);
		free_slurm(g->timeout_sched);
	}
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_submit_completes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_failed_compute, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cancel_running, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_no_shell, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unknown_ids, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unreachable, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
	};
	int failed;

	if (!getenv("SLURM_CONF") || !getenv("PICLUSTER_TEST_FAKE") ||
	    !getenv("PICLUSTER_TEST_SCRIPT")) {
		fprintf(stderr, "SLURM_CONF, PICLUSTER_TEST_FAKE and PICLUSTER_TEST_SCRIPT must be "
				"set (ctest does)\n");
		return 1;
	}
	/* The fake compute must be the one pi.sbatch runs, whatever the caller's environment. */
	unsetenv("PICLUSTER_COMPUTE");
	failed = cmocka_run_group_tests(tests, group_setup, group_teardown);
	if (!failed && the_group.fake_dir[0]) {
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", the_group.fake_dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", the_group.fake_dir);
	}
	return failed;
}
