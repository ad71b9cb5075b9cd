/* test_slurm_parse.c - what squeue and sacct print, read as the Slurm backend reads it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "sched/slurm_parse.h"

/* The exit status in both of Slurm's spellings, as seen from squeue and sacct on Slurm 22.05
 * for `exit 9`, a batch shell killed by SIGKILL, and an srun whose task exited 3. */
static void test_exit_status(void **state)
{
	static const struct {
		const char *status;
		bool raw;
		const char *want;
	} cases[] = {
	    {"2304", true, "exit code 9"},
	    {"9", true, "killed by signal 9"},
	    {"768", true, "exit code 3"},
	    {"0", true, ""},
	    {"15", true, "killed by signal 15"},
	    {"9:0", false, "exit code 9"},
	    {"0:9", false, "killed by signal 9"},
	    {"3:0", false, "exit code 3"},
	    {"0:0", false, ""},
	    /* Not a status: nothing is claimed. */
	    {"", true, ""},
	    {"abc", true, ""},
	    {"1:", false, ""},
	    {":1", false, ""},
	    {"0:9", true, ""},
	    {"9", false, ""},
	    {"9999999999", true, ""},
	    {"1:2:3", false, ""},
	    {"None", false, ""},
	};
	char out[48];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(out, 'x', sizeof(out));
		slurm_parse_exit(cases[i].status, cases[i].raw, out, sizeof(out));
		if (strcmp(out, cases[i].want) != 0)
			fail_msg("'%s' (%s): got '%s', want '%s'", cases[i].status,
				 cases[i].raw ? "raw" : "sacct", out, cases[i].want);
	}
	/* A short buffer still ends in a NUL. */
	slurm_parse_exit("9", true, out, 5);
	assert_string_equal(out, "kill");
}

static void test_report_text(void **state)
{
	struct sched_report rep;

	(void)state;
	slurm_parse_report(&rep, "3", "FAILED", "killed by signal 9", "JobLaunchFailure");
	assert_int_equal(rep.fate, SCHED_ENDED);
	assert_true(rep.retry);
	assert_string_equal(rep.reason,
			    "Slurm job 3 FAILED (killed by signal 9; reason JobLaunchFailure)");
	slurm_parse_report(&rep, "4", "TIMEOUT", "", "TimeLimit");
	assert_string_equal(rep.reason, "Slurm job 4 TIMEOUT (reason TimeLimit)");
	assert_false(rep.retry);
	slurm_parse_report(&rep, "4", "TIMEOUT", "killed by signal 9", "TimeLimit");
	assert_false(rep.retry);
	slurm_parse_report(&rep, "4", "NODE_FAIL", "", "NodeDown");
	assert_int_equal(rep.fate, SCHED_ENDED);
	assert_true(rep.retry);
	slurm_parse_report(&rep, "5", "FAILED", "exit code 1", NULL);
	assert_string_equal(rep.reason, "Slurm job 5 FAILED (exit code 1)");
	assert_false(rep.retry);
	slurm_parse_report(&rep, "6", "COMPLETED", "", "None");
	assert_string_equal(rep.reason, "Slurm job 6 COMPLETED");
	slurm_parse_report(&rep, "7", "CANCELLED by 0", "killed by signal 15", NULL);
	assert_int_equal(rep.fate, SCHED_CANCELLED);
	slurm_parse_report(&rep, "8", "PENDING", "", "Resources");
	assert_int_equal(rep.fate, SCHED_ALIVE);
	assert_string_equal(rep.reason, "");
}

/* Three jobs; job 0 and job 2 carry the same Slurm id (2 is a stale record of an id the
 * controller handed out again), so only the name tells them apart. */
static void three_jobs(struct job *jobs, struct sched_report *reports, size_t *idx)
{
	static const char *const ids[] = {"A", "B", "C"};
	static const char *const slurm_ids[] = {"42", "43", "42"};

	memset(jobs, 0, 3 * sizeof(*jobs));
	for (size_t i = 0; i < 3; i++) {
		snprintf(jobs[i].id, sizeof(jobs[i].id), "%s", ids[i]);
		snprintf(jobs[i].sched_job_id, sizeof(jobs[i].sched_job_id), "%s", slurm_ids[i]);
		reports[i].fate = SCHED_UNKNOWN;
		reports[i].reason[0] = '\0';
		idx[i] = i;
	}
}

static void test_squeue_listing(void **state)
{
	struct job jobs[3];
	struct sched_report reports[3];
	size_t idx[3];
	bool seen[3] = {false, false, false};
	char out[] = "42|FAILED|JobLaunchFailure|9|picluster-A|\n"
		     "43|RUNNING|None|0|picluster-B|\n"
		     "99|RUNNING|None|0|picluster-Z|\n";

	(void)state;
	three_jobs(jobs, reports, idx);
	slurm_parse_listing(out, SLURM_LISTING_SQUEUE, jobs, 3, idx, 3, reports, seen);
	assert_true(seen[0]);
	assert_int_equal(reports[0].fate, SCHED_ENDED);
	assert_string_equal(reports[0].reason,
			    "Slurm job 42 FAILED (killed by signal 9; reason JobLaunchFailure)");
	assert_true(seen[1]);
	assert_int_equal(reports[1].fate, SCHED_ALIVE);
	/* Id 42 is listed, but under A's name: C's own job is gone from the queue. */
	assert_false(seen[2]);
	assert_int_equal(reports[2].fate, SCHED_UNKNOWN);
}

/* The id listed under somebody else's name is not ours, whatever its state says. */
static void test_recycled_id(void **state)
{
	struct job jobs[3];
	struct sched_report reports[3];
	size_t idx[3];
	bool seen[3] = {false, false, false};
	char out[] = "43|RUNNING|None|0|picluster-Bx|\n"
		     "43|RUNNING|None|0|xpicluster-B|\n"
		     "43|RUNNING|None|0|picluster-|\n"
		     "43|PENDING|None|0|a|b|picluster-B|\n";
	char sacct[] = "42|COMPLETED|0:0|0:0|other job\n"
		       "42|FAILED|0:9|0:0|picluster-C\n"
		       "43|CANCELLED by 0|0:15|0:0|picluster-B";

	(void)state;
	three_jobs(jobs, reports, idx);
	slurm_parse_listing(out, SLURM_LISTING_SQUEUE, jobs, 3, idx, 3, reports, seen);
	for (size_t i = 0; i < 3; i++) {
		assert_false(seen[i]);
		assert_int_equal(reports[i].fate, SCHED_UNKNOWN);
	}
	slurm_parse_listing(sacct, SLURM_LISTING_SACCT, jobs, 3, idx, 3, reports, seen);
	assert_false(seen[0]);
	assert_true(seen[1]);
	assert_int_equal(reports[1].fate, SCHED_CANCELLED);
	assert_string_equal(reports[1].reason, "Slurm job 43 CANCELLED (killed by signal 15)");
	assert_true(seen[2]);
	assert_int_equal(reports[2].fate, SCHED_ENDED);
	assert_string_equal(reports[2].reason, "Slurm job 42 FAILED (killed by signal 9)");
}

/* A rank killed by SIGKILL under srun: the batch script exits 143 (srun ended the other tasks
 * with SIGTERM), and only the steps' DerivedExitCode names signal 9. As seen on Slurm 22.05. */
static void test_derived_signal(void **state)
{
	struct job jobs[3];
	struct sched_report reports[3];
	size_t idx[3];
	bool seen[3] = {false, false, false};
	char out[] = "42|FAILED|143:0|0:9|picluster-A\n"
		     "43|FAILED|1:0|0:0|picluster-B\n"
		     "42|FAILED|0:9|0:9|picluster-C\n";

	(void)state;
	three_jobs(jobs, reports, idx);
	slurm_parse_listing(out, SLURM_LISTING_SACCT, jobs, 3, idx, 3, reports, seen);
	assert_string_equal(reports[0].reason,
			    "Slurm job 42 FAILED (exit code 143; a task was killed by signal 9)");
	assert_true(reports[0].retry);
	assert_string_equal(reports[1].reason, "Slurm job 43 FAILED (exit code 1)");
	assert_false(reports[1].retry);
	assert_string_equal(reports[2].reason, "Slurm job 42 FAILED (killed by signal 9)");
	assert_true(reports[2].retry);
}

/* Padding, CRs and short lines as a careless terminal or a future Slurm may print them. */
static void test_ragged_lines(void **state)
{
	struct job jobs[3];
	struct sched_report reports[3];
	size_t idx[3];
	bool seen[3] = {false, false, false};
	char out[] = "42|RUNNING|None|0|picluster-A|   \r\n"
		     "43|FAILED\n"
		     "\n"
		     "|43|FAILED|x|9|picluster-B|\n";

	(void)state;
	three_jobs(jobs, reports, idx);
	slurm_parse_listing(out, SLURM_LISTING_SQUEUE, jobs, 3, idx, 3, reports, seen);
	assert_true(seen[0]);
	assert_int_equal(reports[0].fate, SCHED_ALIVE);
	assert_false(seen[1]);
	assert_false(seen[2]);
	slurm_parse_listing(NULL, SLURM_LISTING_SACCT, jobs, 3, idx, 3, reports, seen);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_exit_status),	   cmocka_unit_test(test_report_text),
	    cmocka_unit_test(test_squeue_listing), cmocka_unit_test(test_recycled_id),
	    cmocka_unit_test(test_derived_signal), cmocka_unit_test(test_ragged_lines),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
