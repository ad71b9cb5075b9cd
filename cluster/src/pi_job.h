/* pi_job.h - job reporting mode: state in Redis (jobstore.h), digits in the object store. */
#ifndef PI_JOB_H
#define PI_JOB_H

#include <stdbool.h>
#include <stddef.h>

#include "picluster/error.h"
#include "picluster/jobstore.h"
#include "picluster/objstore.h"

#include "pi_args.h"

struct pi_job;

/* What pi_job_start decided. */
enum pi_job_start_result {
	PI_JOB_GO,	 /* the job is ours and running: compute */
	PI_JOB_SKIP,	 /* not queued any more (cancelled, or another run took it): exit 0 */
	PI_JOB_BAD_ARGS, /* malformed id or URL: exit 2 */
	PI_JOB_FAILED /* Redis or the store failed: exit 1 (the job is set errored if possible) */
};

/*
 * Rank 0 only. Connects to Redis and the object store, moves the job queued -> running
 * recording this compute's scheduler identity (Slurm's job id, else the launching mpirun's
 * "PID:STARTTICKS"), opens the writer for jobs/<id>/pi.txt and starts the watcher thread.
 * Every Redis call rides out an outage of up to args->redis_retry_s seconds.
 *
 * The watcher reads the job's state every 250 ms on its own connection and writes the
 * progress. When the job is cancelled (or errored or removed by someone else) while the
 * computation runs, it removes the partial object, logs "job ID was cancelled: stopped" and
 * calls MPI_Abort (code 0 for a cancel), which ends every rank: that call does not return
 * to the caller, so MPI must be initialised with MPI_THREAD_MULTIPLE.
 *
 * On PI_JOB_GO *out is a new handle ending in pi_job_finish or pi_job_fail; otherwise *out
 * is NULL and err holds a one-line message (empty for PI_JOB_SKIP).
 */
enum pi_job_start_result pi_job_start(struct pi_job **out, const struct pi_args *args, char *err,
				      size_t errcap);

/* What a pool worker lends each job it runs (all borrowed, kept open across jobs). */
struct pi_job_host {
	jobstore *st;		/* the worker's main connection: the state moves */
	objstore *os;		/* the worker's main store handle: the writes */
	objstore *watch_os;	/* the handle of the thread that calls pi_job_cancel */
	const char *sched_name; /* "pool" */
	const char *sched_id;	/* the worker's name */
};

/*
 * pi_job_start for one job of a pool worker (pi_worker.c): the same queued -> running move
 * (with host's identity), object name and output, on the host's open connections, without a
 * watcher thread: the worker's thread calls pi_job_cancel when the job ends under it. Every
 * later move out of running is made only while the job runs under host->sched_id. On
 * PI_JOB_GO *digits is the job's digits.
 */
enum pi_job_start_result pi_job_start_hosted(struct pi_job **out, const struct pi_args *args,
					     const struct pi_job_host *host, const char *id,
					     uint64_t *digits, char *err, size_t errcap);

/*
 * From another thread, when the job ended under us (cancelled, errored by someone else,
 * removed): no write is under way once it returns and none starts after it (pi_job_write
 * returns PC_ECONFLICT), and the partial object is removed through the host's watch_os. The
 * caller then ends the job with pi_job_fail, which records nothing. Nothing happens once
 * the job is finishing (pi_job_finish or pi_job_fail has begun).
 */
void pi_job_cancel(struct pi_job *job);

/*
 * A pi_run_hooks write callback: streams bytes into the object and the SHA-256. On failure
 * the store's error (PC_ENOSPACE, PC_EAUTH, PC_EUNAVAILABLE, ...; PC_ECONFLICT once the job
 * is being cancelled), kept with its detail for pi_job_fail; every later call returns it.
 */
pc_err pi_job_write(void *job, const void *buf, size_t len);

/* Hands progress (0..1) to the watcher, which writes the latest to Redis twice a second. */
void pi_job_progress(struct pi_job *job, double progress);

/*
 * Stops the watcher, commits the object and moves running -> finished with its name, size
 * and SHA-256, riding out Redis outages (an attempt whose answer was lost counts when the
 * job holds exactly this result). When the move is refused because the job was cancelled
 * meanwhile, the object is deleted, "job ID was cancelled: stopped" logged and PC_OK
 * returned. Otherwise the error, with a message in err: a failed commit sets the job
 * errored as pi_job_fail does; a refusal for another reason deletes the object; Redis away
 * for the whole retry budget keeps the object (it may already be recorded). Frees job.
 */
pc_err pi_job_finish(struct pi_job *job, char *err, size_t errcap);

/*
 * After the digits could not be written (cause: what pi_run returned, i.e. pi_job_write's
 * error), or after pi_job_cancel (then nothing is recorded and err says it was cancelled): stops
 * the watcher, discards the object and moves running -> errored (riding out Redis outages). The
 * job's error names the cause, so that a client can tell them apart: code store_full (PC_ENOSPACE),
 * store_denied (PC_EAUTH), store_unavailable (PC_EUNAVAILABLE, PC_ETIMEOUT), store_write (anything
 * else); message "writing jobs/ID/pi.txt to the store failed: <pc_strerror> (<the store's detail:
 * errno's text, HTTP status and S3 code, or the endpoint>)". The same message goes into err, for
 * stderr. Frees job.
 */
void pi_job_fail(struct pi_job *job, pc_err cause, char *err, size_t errcap);

#endif
