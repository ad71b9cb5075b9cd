/* slurm_parse.h - pure parsers of what sbatch, squeue and sacct print: no processes, no I/O. */
#ifndef PICLUSTER_GATEWAY_SLURM_PARSE_H
#define PICLUSTER_GATEWAY_SLURM_PARSE_H

#include <stdbool.h>
#include <stddef.h>

#include "sched/scheduler.h"

/*
 * The Slurm backend (sched_slurm.c) runs the commands; everything that reads their output is
 * here, apart from the process handling, so that it can be fuzzed on its own
 * (tests/fuzz/fuzz_slurm_*.c). Every function takes text as Slurm printed it: any bytes.
 */

/* True for a plain Slurm job id: 1 to 19 decimal digits and nothing else. */
bool slurm_parse_is_job_id(const char *s);

/*
 * Splits "a|b|c" in place into the first `want` fields (each '|' read is replaced by a NUL;
 * text after the want-th field is cut off). False when the line has fewer than want fields.
 * The pointers in f point into line.
 */
bool slurm_parse_split_fields(char *line, char **f, int want);

/* True for the states in which a job still holds or waits for resources (PENDING, RUNNING,
 * COMPLETING, ...): its processes may exist. Exact names only. */
bool slurm_parse_state_is_alive(const char *state);

/* Every Slurm job the gateway submits is named SLURM_JOB_NAME_PREFIX + the picluster job id:
 * Slurm finds an earlier submission by it, and every query checks it, so that a job id the
 * controller handed out again after losing its state is never taken for ours. */
#define SLURM_JOB_NAME_PREFIX "picluster-"

/*
 * Writes what ended a job into out (cap > 0, always NUL-terminated): "killed by signal 9" or
 * "exit code 3", or "" for a clean exit or a status it cannot read. status is squeue's
 * exit_code field (the raw wait status: 2304 is exit 9, 9 is signal 9) when `raw` is true,
 * and sacct's ExitCode ("EXIT:SIGNAL") when it is false.
 */
void slurm_parse_exit(const char *status, bool raw, char *out, size_t cap);

/*
 * Fills *rep from a Slurm state name (squeue State or sacct State, whose first word is used:
 * sacct says "CANCELLED by 0"), what ended it (slurm_parse_exit's text, may be empty) and
 * squeue's reason (NULL or "None" for none): "Slurm job 12 FAILED (killed by signal 9;
 * reason JobLaunchFailure)". rep->retry is set for an end from outside the job: NODE_FAIL,
 * BOOT_FAIL, PREEMPTED, or FAILED by a signal. Never fails.
 */
void slurm_parse_report(struct sched_report *rep, const char *slurm_id, const char *state,
			const char *ended_by, const char *reason);

/* Which command printed a listing, and so which fields its lines carry, in this order. */
enum slurm_listing {
	/* squeue -h -t all -O JobID:|,State:|,Reason:|,exit_code:|,Name:|
	 * "SLURMID|STATE|REASON|WAITSTATUS|NAME|" */
	SLURM_LISTING_SQUEUE,
	/* sacct -n -P -o JobIDRaw,State,ExitCode,DerivedExitCode,JobName (or sacct -c -o
	 * JobID,...) "SLURMID|STATE|EXIT:SIGNAL|EXIT:SIGNAL|NAME": the batch script's exit,
	 * then the worst of its steps (a task killed by signal 9 while srun exits 143) */
	SLURM_LISTING_SACCT
};

/* The listings' argument of -O (squeue) and -o (sacct), in the order the parser reads. */
#define SLURM_SQUEUE_FIELDS "JobID:|,State:|,Reason:|,exit_code:|,Name:|"
#define SLURM_SACCT_FIELDS  "JobIDRaw,State,ExitCode,DerivedExitCode,JobName"
/* sacct -c (the jobcomp log) has no JobIDRaw; its JobID is the same for plain jobs. */
#define SLURM_JOBCOMP_FIELDS "JobID,State,ExitCode,DerivedExitCode,JobName"

/*
 * Reads a listing in out, modified in place (NULL reads nothing), into the reports of
 * jobs[0..n) whose Slurm id is listed under the job's own name (SLURM_JOB_NAME_PREFIX + its
 * id, the last field, which may itself hold '|'); seen[k] is set when jobs[idx[k]] is listed
 * (k < count). Lines that are not a job id and enough fields, ids of no job, and ids listed
 * under another job's name (an id handed out again) are skipped. A later line of the same
 * job wins (sacct lists a requeued job twice).
 */
void slurm_parse_listing(char *out, enum slurm_listing kind, const struct job *jobs, size_t n,
			 const size_t *idx, size_t count, struct sched_report *reports, bool *seen);

/*
 * Finds the first "SLURMID|STATE" line (squeue -o %i|%T) of out, modified in place (NULL
 * reads nothing), whose state is alive and whose id fits in id_cap, and writes the id.
 * PC_ENOTFOUND when there is none (id untouched).
 */
pc_err slurm_parse_first_alive(char *out, char *id, size_t id_cap);

/*
 * Reads the answer of `sbatch --parsable`: "JOBID", "JOBID;CLUSTER", each maybe followed by a
 * newline (out may be NULL: nothing printed). PC_OK with the id written to id; PC_ESCHED when
 * out starts with no job id; PC_ERANGE when the id does not fit in id_cap. id is untouched on
 * failure.
 */
pc_err slurm_parse_sbatch(const char *out, char *id, size_t id_cap);

/*
 * Slurm's stderr as one line, for a job's error message: "sbatch: error: " prefixes dropped,
 * trailing spaces and CRs trimmed, lines joined with "; ". out is always NUL-terminated
 * (cap > 0) and truncated to cap.
 */
void slurm_parse_message(const char *err, char *out, size_t cap);

#endif
