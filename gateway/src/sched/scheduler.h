/* scheduler.h - the scheduler interface of the gateway: submit, cancel and poll compute jobs. */
#ifndef PICLUSTER_GATEWAY_SCHEDULER_H
#define PICLUSTER_GATEWAY_SCHEDULER_H

#include <stdbool.h>
#include <stddef.h>

#include "picluster/error.h"
#include "picluster/job.h"

/*
 * A scheduler runs pi-compute for a job somewhere. The compute side reports its own
 * progress to Redis (running, progress, finished or errored), so a scheduler only starts,
 * stops and watches: the gateway never depends on being the compute's parent. Backends:
 * "local" (mpirun children of the gateway) and "slurm" (sbatch/scancel/squeue); callers never
 * test which one they have. Beside the one --scheduler names, a gateway may make a "pool"
 * (the warm workers' queue in Redis, sched_pool.c): its has_capacity means "a worker is
 * alive", its submit moves the job created -> queued itself (the job must still be created),
 * its cancel and poll do nothing (the workers watch the state, the keeper their heartbeats).
 */
typedef struct sched sched;

struct sched_config {
	const char *name;	  /* "local", "slurm" or "none" */
	unsigned ranks;		  /* MPI ranks per job */
	unsigned max_running;	  /* local: at most this many jobs at once (0 = no limit) */
	const char *compute_path; /* absolute path of pi-compute */
	const char *redis_url;	  /* passed to pi-compute so it can report */
	const char *key_prefix;	  /* Redis key prefix, passed to pi-compute (NULL: its default) */
	const char *store_url;	  /* object store, passed to pi-compute */
	const char *state_dir;	  /* where backends may keep logs and scripts */
	/* slurm only */
	const char *sbatch_script; /* slurm/pi.sbatch */
	const char *partition;	   /* NULL = cluster default */
	const char *time_limit;	   /* NULL = script default */
	const char *account;	   /* NULL = none */
	const char *extra_args;	   /* extra sbatch arguments, split on spaces; NULL = none */
};

/* Creates a scheduler (config strings are copied). *out NULL on failure; PC_EINVAL for an
 * unknown name. "pool" needs only redis_url and key_prefix. */
pc_err sched_new(sched **out, const struct sched_config *cfg);
void sched_free(sched *s);

/* True when --scheduler may name a backend called name (NULL, "pool": false). */
bool sched_known(const char *name);

/* The backends' names for a message, "local, none or slurm", into out (cut to cap). */
void sched_known_names(char *out, size_t cap);

/* The backend's name: "local", "slurm", "none" or "pool". */
const char *sched_name(const sched *s);

/* True when the backend can take another job now (local: fewer than max_running alive).
 * The submitter leaves jobs in the Redis queue, where they survive restarts, until then. */
bool sched_has_capacity(sched *s);

/* True unless the backend runs nothing (the API-only "none"): then no submitter is needed. */
bool sched_submits(const sched *s);

/* True when the backend called name starts pi-compute on this machine (local: mpirun children
 * of the gateway), so pi-gateway must find pi-compute here before it starts; false for the
 * others (slurm: on the cluster's nodes; none) and for unknown names. */
bool sched_compute_is_here(const char *name);

/* Starts the job's compute. On success writes the scheduler's own id of it (a Slurm job id,
 * or a local process id) into sched_job_id. PC_ESCHED with message filled when the scheduler
 * refused the job (e.g. sbatch's error text), so the job can end errored with it. */
pc_err sched_submit(sched *s, const struct job *job, char *sched_job_id, size_t id_cap,
		    char *message, size_t message_cap);

/* Ends the job's compute, every rank of it. A job already gone is PC_OK. */
pc_err sched_cancel(sched *s, const struct job *job);

/* What the scheduler knows of one job. */
enum sched_fate {
	SCHED_ALIVE,	 /* pending or running */
	SCHED_ENDED,	 /* ended; if Redis still says queued/running it died without a word */
	SCHED_CANCELLED, /* ended by a cancel (scancel, signal) */
	SCHED_UNKNOWN	 /* cannot tell now (scheduler unreachable): do nothing */
};

struct sched_report {
	enum sched_fate fate;
	char reason[256]; /* e.g. "TIMEOUT", "exit code 137 (killed by signal 9)" */
	/* SCHED_ENDED by something outside the job -- a signal, a failed node, a record the
	 * scheduler lost -- rather than by the compute itself or a limit the job hit (an exit
	 * code, a time limit): a job that never started may well run if submitted again. */
	bool retry;
};

/* Reaps finished children (local) and reports the fate of n jobs that Redis shows queued or
 * running, one report each, in one scheduler query where the backend allows. */
pc_err sched_poll(sched *s, const struct job *jobs, size_t n, struct sched_report *reports);

#endif
