/* pi_job_watch.c - rank 0's watcher thread: sees a cancel (or any ending under us) and stops
 * the compute, and writes the latest progress, on its own Redis connection. */
#include <errno.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include <mpi.h>

#include "pi_job_int.h"
#include "pi_report.h"

/* The watcher's own connection answers faster or counts as away: it must not lag. */
#define WATCH_TIMEOUT_MS 2000

/* The watcher reads the job's state this often (ms): a cancel is seen within it. */
#define WATCH_INTERVAL_MS 250

/* Progress goes to Redis at most this often (seconds). */
#define PROGRESS_INTERVAL 0.5

/* Marks the job cancelled and removes its partial object; false when the main thread is
 * finishing already (its refused move cleans up instead). */
static bool cancel_writes(struct pi_job *job)
{
	pc_err d;

	pthread_mutex_lock(&job->lock);
	if (job->stop) {
		pthread_mutex_unlock(&job->lock);
		return false;
	}
	/* No write is under way while we hold the lock, and none starts after this. */
	job->cancelled = true;
	pthread_mutex_unlock(&job->lock);
	d = objstore_discard_incomplete(job->watch_os, job->object);
	if (d != PC_OK)
		fprintf(stderr, "pi-compute: job %s: cannot remove the partial %s: %s\n", job->id,
			job->object, pc_strerror(d));
	return true;
}

void pi_job_cancel(struct pi_job *job)
{
	(void)cancel_writes(job);
}

/* The watcher saw the job end under us: removes what we wrote and stops every rank. */
static void stop_job(struct pi_job *job, enum job_state state, pc_err e)
{
	if (!cancel_writes(job))
		return;
	if (e == PC_ENOTFOUND)
		fprintf(stderr, "pi-compute: job %s no longer exists: stopped\n", job->id);
	else
		fprintf(stderr, "pi-compute: job %s was %s: stopped\n", job->id,
			job_state_name(state));
	fflush(stderr);
	/* The other ranks may be deep in a multiplication that never polls: MPI_Abort makes
	 * the launcher (mpirun, or srun through PMIx) kill them all. Its code is our exit
	 * status: a cancel is not a failure. */
	MPI_Abort(MPI_COMM_WORLD, state == JOB_CANCELLED ? 0 : 1);
	_exit(state == JOB_CANCELLED ? 0 : 1);
}

/*
 * Rank 0's watcher: every WATCH_INTERVAL_MS reads the job's state on its own connection and
 * writes the latest progress (the main thread is busy computing and never waits on Redis).
 * A job that ended under us (cancelled, or errored or removed by someone else) stops the
 * compute; Redis being away is not an ending, only logged.
 */
void *pi_job_watch(void *arg)
{
	struct pi_job *job = arg;
	double last_write = 0;
	jobstore *ws = NULL;

	pthread_mutex_lock(&job->lock);
	while (!job->stop) {
		struct timespec until;
		enum job_state state = JOB_ERRORED;
		bool write = false;
		double progress = 0;
		pc_err e;

		pthread_mutex_unlock(&job->lock);
		e = ws != NULL
			? PC_OK
			: jobstore_open(&ws, job->redis_url, job->key_prefix, WATCH_TIMEOUT_MS);
		if (e == PC_OK)
			e = jobstore_job_get_state(ws, job->id, &state);
		pi_job_outage_note(job, e, "watching for a cancel");
		if (e == PC_ENOTFOUND || (e == PC_OK && job_state_is_terminal(state)))
			stop_job(job, state, e);
		pthread_mutex_lock(&job->lock);
		if (e == PC_OK && job->progress_new &&
		    pi_report_now() - last_write >= PROGRESS_INTERVAL) {
			write = true;
			progress = job->progress;
			job->progress_new = false;
		}
		pthread_mutex_unlock(&job->lock);
		if (write) {
			/* Dropped when refused or Redis is away: the next one replaces it. */
			e = jobstore_job_set_progress(ws, job->id, progress);
			pi_job_outage_note(job, e, "recording progress");
			last_write = pi_report_now();
		}
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += WATCH_INTERVAL_MS * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_mutex_lock(&job->lock);
		while (!job->stop &&
		       pthread_cond_timedwait(&job->wake, &job->lock, &until) != ETIMEDOUT)
			;
	}
	pthread_mutex_unlock(&job->lock);
	jobstore_free(ws);
	return NULL;
}

/* Ends the watcher; after this only the main thread touches Redis and the store. */
void pi_job_stop_watcher(struct pi_job *job)
{
	/* Set without a watcher too: a hosted job's pi_job_cancel then leaves it alone. */
	pthread_mutex_lock(&job->lock);
	job->stop = true;
	pthread_cond_signal(&job->wake);
	pthread_mutex_unlock(&job->lock);
	if (!job->watcher_started)
		return;
	pthread_join(job->watcher, NULL);
	job->watcher_started = false;
}
