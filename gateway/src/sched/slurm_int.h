/* slurm_int.h - private to the slurm backend (sched_slurm.c, slurm_poll.c): its state and
 * what both halves use. */
#ifndef PICLUSTER_GATEWAY_SLURM_INT_H
#define PICLUSTER_GATEWAY_SLURM_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "sched/sched_int.h"
#include "sched/slurm_cmd.h"

#define QUERY_TIMEOUT_MS 15000 /* squeue, sacct, scancel */

enum acct_mode {
	ACCT_UNKNOWN,  /* not tried yet */
	ACCT_DATABASE, /* sacct against slurmdbd */
	ACCT_JOBCOMP,  /* sacct -c: the jobcomp/filetxt log */
	ACCT_NONE      /* no record of finished jobs anywhere */
};

struct slurm {
	char *sbatch, *squeue, *scancel, *sacct; /* absolute paths; sacct may be NULL */
	char *script;				 /* absolute path of the batch script */
	char *output;				 /* --output pattern, or NULL for Slurm's default */
	char *extra_buf;			 /* extra arguments, NUL-separated */
	char **extra;				 /* pointers into extra_buf */
	size_t n_extra;
	char **envp;   /* environment of the children: ours plus PICLUSTER_COMPUTE */
	int acct_mode; /* enum acct_mode, read and written atomically (several threads poll) */
};

/* Logs a failed command: "squeue failed (exit 1, timed out): <Slurm's message>". */
void slurm_log_failure(const char *cmd, const char *id, const struct slurm_cmd_result *res);

/* True when stderr says the controller could not be reached (try again later). */
bool slurm_is_unreachable(const struct slurm_cmd_result *res);

/* The backend's poll (sched_ops.poll): squeue, then accounting (slurm_poll.c). */
pc_err slurm_poll(sched *s, const struct job *jobs, size_t n, struct sched_report *reports);

#endif
