/* pi_job_int.h - pi-compute's job mode inside: the job's state, shared by pi_job.c (start,
 * output, finish), pi_job_redis.c (state moves that ride out outages) and pi_job_watch.c (the
 * watcher thread). Private to those three files. */
#ifndef PI_JOB_INT_H
#define PI_JOB_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "picluster/job.h"
#include "picluster/jobstore.h"
#include "picluster/objstore.h"

#include "pi_args.h"
#include "pi_job.h"

struct pi_job {
	jobstore *st; /* the main thread's: the state moves */
	objstore *os;
	/* Run by a pool worker (pi_job_start_hosted): st, os and watch_os are the worker's,
	 * borrowed; no watcher thread (the worker's own watches); every move out of running
	 * is made only while the job runs under expect_sched (the worker's name). */
	bool hosted;
	const char *expect_sched;
	objstore_writer *w;
	EVP_MD_CTX *md;
	char id[JOB_ID_LEN + 1];
	char object[JOB_OBJECT_MAX];
	char sched_name[JOB_SCHED_NAME_MAX];
	char sched_id[JOB_SCHED_ID_MAX];
	uint64_t bytes;
	pc_err write_err;			  /* the first failed write: later ones return it */
	char write_detail[JOB_ERROR_MESSAGE_MAX]; /* objstore_errmsg of that failure */
	unsigned retry_s;
	unsigned seed;	       /* rand_r state for the backoff's jitter */
	const char *redis_url; /* borrowed from argv, for the watcher's own connection */
	const char *key_prefix;

	/* The watcher thread. */
	pthread_t watcher;
	bool watcher_started;
	objstore *watch_os; /* the watcher's own handle (one thread per handle) */

	/* lock guards the members below it. */
	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool stop;	     /* the main thread is finishing: the watcher must end */
	bool cancelled;	     /* the watcher is stopping the job: no more writes */
	double progress;     /* latest share for Redis */
	bool progress_new;   /* progress changed since the watcher last wrote it */
	double outage_since; /* pi_report_now() when Redis stopped answering; 0: it answers */
};

/* Errors that mean "Redis is away, ask again"; every other answer decides. */
bool pi_job_is_transient(pc_err e);

/* Logs the start of an outage once, and its end, whichever thread sees them (the watcher
 * while computing, the main thread at the state moves). `what` names the call. */
void pi_job_outage_note(struct pi_job *job, pc_err e, const char *what);

/* Connects job->st to Redis, riding out an outage at start. */
pc_err pi_job_open_jobstore(struct pi_job *job, const struct pi_args *args);

/*
 * Moves the job from -> to with upd, riding out Redis outages for the retry budget; a lost
 * answer whose move Redis had applied counts as success. *now, when not NULL, is the job as
 * Redis last showed it (on PC_ECONFLICT: as it is).
 */
pc_err pi_job_move(struct pi_job *job, enum job_state to, enum job_state from,
		   const struct job_update *upd, const char *what, struct job *now);

/* Moves the job to errored from `from` with code and message, riding out outages; failures
 * are only logged. */
void pi_job_set_errored(struct pi_job *job, enum job_state from, const char *code,
			const char *message);

/* The watcher thread's body (arg: the job): cancel detection and progress writes. */
void *pi_job_watch(void *arg);

/* Ends the watcher if it runs; after this only the main thread touches Redis and the store. */
void pi_job_stop_watcher(struct pi_job *job);

#endif
