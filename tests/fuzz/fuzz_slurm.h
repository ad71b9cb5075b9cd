/* fuzz_slurm.h - the check the squeue and sacct targets share: one listing read into reports. */
#ifndef PICLUSTER_FUZZ_SLURM_H
#define PICLUSTER_FUZZ_SLURM_H

#include "fuzz.h"

#include "sched/slurm_parse.h"

/* Jobs as the reconciler passes them: Slurm ids of every length, a duplicate and a blank. */
static const char *const fuzz_slurm_ids[] = {"1", "42", "1234567", "42", "9999999999999999999",
					     "",  "7",	"100"};
#define FUZZ_SLURM_JOBS (sizeof(fuzz_slurm_ids) / sizeof(fuzz_slurm_ids[0]))

/*
 * Longest listing worth reading: each line is read on its own, so a longer one reaches no
 * new code, only costs time (a 3 KiB listing ran at a fifth of the speed of short ones).
 */
#define FUZZ_SLURM_MAX_INPUT 1024

/*
 * Reads text (modified in place) as a listing of the given kind for the jobs above (job i is
 * picluster job "j<i>", so its lines must name "picluster-j<i>"), of which those with a valid
 * id but job 6 were asked about, and checks the reports: each job asked about and listed is
 * seen and decided, every other report stays as it was, and a decided job's reason names it.
 */
static inline void fuzz_slurm_listing(char *text, enum slurm_listing kind)
{
	static struct job jobs[FUZZ_SLURM_JOBS];
	struct sched_report reports[FUZZ_SLURM_JOBS];
	size_t idx[FUZZ_SLURM_JOBS], count = 0;
	bool seen[FUZZ_SLURM_JOBS] = {false};
	bool asked[FUZZ_SLURM_JOBS] = {false};

	for (size_t i = 0; i < FUZZ_SLURM_JOBS; i++) {
		snprintf(jobs[i].id, sizeof(jobs[i].id), "j%zu", i);
		snprintf(jobs[i].sched_job_id, sizeof(jobs[i].sched_job_id), "%s",
			 fuzz_slurm_ids[i]);
		reports[i].fate = SCHED_UNKNOWN;
		reports[i].reason[0] = '\0';
		/* Job 6 ("7") has a valid id but is not asked about: listed, it is still read. */
		if (slurm_parse_is_job_id(fuzz_slurm_ids[i]) && i != 6) {
			idx[count++] = i;
			asked[i] = true;
		}
	}
	slurm_parse_listing(text, kind, jobs, FUZZ_SLURM_JOBS, idx, count, reports, seen);
	for (size_t i = 0; i < FUZZ_SLURM_JOBS; i++) {
		const struct sched_report *r = &reports[i];
		char head[64];

		FUZZ_CHECK(memchr(r->reason, '\0', sizeof(r->reason)) != NULL);
		if (r->fate == SCHED_UNKNOWN) {
			FUZZ_CHECK(r->reason[0] == '\0');
			continue;
		}
		/* Only a job with a Slurm id is ever decided (jobs 1 and 3 share one: each is
		 * told apart by its name). */
		FUZZ_CHECK(slurm_parse_is_job_id(jobs[i].sched_job_id));
		if (r->fate == SCHED_ALIVE) {
			FUZZ_CHECK(r->reason[0] == '\0');
			continue;
		}
		FUZZ_CHECK(r->fate == SCHED_ENDED || r->fate == SCHED_CANCELLED);
		snprintf(head, sizeof(head), "Slurm job %s ", jobs[i].sched_job_id);
		FUZZ_CHECK(strncmp(r->reason, head, strlen(head)) == 0);
	}
	for (size_t k = 0; k < count; k++) {
		/* Seen exactly when listed, and listed exactly when decided. */
		FUZZ_CHECK(asked[idx[k]]);
		FUZZ_CHECK(seen[k] == (reports[idx[k]].fate != SCHED_UNKNOWN));
	}
	slurm_parse_listing(NULL, kind, jobs, FUZZ_SLURM_JOBS, idx, count, reports, seen);
}

#endif
