/* slurm_parse.h - pure parsers of what sbatch, squeue and sacct print: no processes, no I/O. */
#ifndef PICLUSTER_GATEWAY_SLURM_PARSE_H
#define PICLUSTER_GATEWAY_SLURM_PARSE_H

#include <stdbool.h>
#include <stddef.h>

#include "sched.h"

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

/*
 * Fills *rep from a Slurm state name (squeue %T or sacct State, whose first word is used:
 * sacct says "CANCELLED by 0"). detail is squeue's reason or sacct's exit code, named by
 * detail_name in the reason text ("Slurm job 12 FAILED (exit code 1:0)"). Never fails.
 */
void slurm_parse_report(struct sched_report *rep, const char *slurm_id, const char *state,
			const char *detail, const char *detail_name);

/*
 * Reads "SLURMID|STATE|DETAIL" lines (squeue -o %i|%T|%r, sacct -P -o ...,State,ExitCode) in
 * out, modified in place (NULL reads nothing), into the reports of jobs[0..n) whose Slurm id
 * is listed; seen[k] is set when jobs[idx[k]] is listed (k < count). Lines that are not three
 * fields with a job id first, and ids of no job, are skipped. A later line of the same job
 * wins (sacct lists a requeued job twice).
 */
void slurm_parse_listing(char *out, const struct job *jobs, size_t n, const size_t *idx,
			 size_t count, struct sched_report *reports, bool *seen,
			 const char *detail_name);

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
