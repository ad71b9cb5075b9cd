/* sched_pool.c - the "pool" backend: small jobs go to the warm workers' queue in Redis. */
#include "sched/sched_int.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "picluster/clock.h"
#include "picluster/jobpool.h"
#include "picluster/jobstore.h"
#include "picluster/log.h"

/*
 * The pool is not chosen with --scheduler: the submitter sends a job here when it is small
 * enough (--pool-max-digits) and a worker is alive, else to the configured backend. The
 * workers (`pi-compute --worker`, started by this gateway or by a Slurm pilot job) take the
 * ids from pool:queue, report running/finished/errored themselves, and watch for cancelled
 * themselves; so submit is one Redis script, cancel has nothing to kill, and poll knows
 * nothing (a dead worker's jobs are recovered by the keeper through its heartbeat, never
 * ended as lost by the reconciler).
 */

/* How long a count of live workers is trusted: one Redis call per this, not per job. */
#define POOL_ALIVE_CACHE_MS 500
/* Every Redis command may take this long (as the gateway's own connections). */
#define POOL_REDIS_TIMEOUT_MS 2000

struct pool {
	pthread_mutex_t lock;
	jobstore *st;	     /* opened on first use, kept */
	int64_t alive_at_ms; /* when alive was read (monotonic); 0: never */
	uint64_t alive;	     /* live workers then (0 also when Redis did not answer) */
};

static pc_err pool_init(sched *s)
{
	struct pool *p = calloc(1, sizeof(*p));

	if (!p)
		return PC_ENOMEM;
	if (pthread_mutex_init(&p->lock, NULL) != 0) {
		free(p);
		return PC_ENOMEM;
	}
	s->backend = p;
	return PC_OK;
}

static void pool_fini(sched *s)
{
	struct pool *p = s->backend;

	if (!p)
		return;
	jobstore_free(p->st);
	pthread_mutex_destroy(&p->lock);
	free(p);
	s->backend = NULL;
}

/* The backend's Redis connection, opened on first use. Caller holds the lock. */
static pc_err connect_locked(sched *s, struct pool *p)
{
	if (p->st)
		return PC_OK;
	return jobstore_open(&p->st, s->cfg.redis_url, s->cfg.key_prefix, POOL_REDIS_TIMEOUT_MS);
}

/* "Can take a job" means a worker is alive: a job queued with none would wait until one
 * comes. The count is read at most every POOL_ALIVE_CACHE_MS; a change is logged. */
static bool pool_has_capacity(sched *s)
{
	struct pool *p = s->backend;
	int64_t now = pc_monotonic_ms();
	uint64_t alive;

	pthread_mutex_lock(&p->lock);
	if (!p->alive_at_ms || now - p->alive_at_ms >= POOL_ALIVE_CACHE_MS) {
		uint64_t n = 0;
		pc_err rc = connect_locked(s, p);

		if (rc == PC_OK)
			rc = jobpool_alive(p->st, &n);
		if (rc != PC_OK)
			n = 0;
		if ((n > 0) != (p->alive > 0) || !p->alive_at_ms)
			log_info("pool: %llu worker(s) alive%s", (unsigned long long)n,
				 n ? "" : ": small jobs go to the scheduler");
		p->alive = n;
		p->alive_at_ms = now;
	}
	alive = p->alive;
	pthread_mutex_unlock(&p->lock);
	return alive > 0;
}

/* created -> queued (sched_name "pool") and the id on pool:queue, in one script. Unlike the
 * other backends this writes queued itself, so the job must still be created: PC_ECONFLICT
 * when it is not (e.g. cancelled meanwhile), PC_ENOTFOUND when it is gone. sched_job_id stays
 * "": the worker that takes the job records its own name. */
static pc_err pool_submit(sched *s, const struct job *job, char *sched_job_id, size_t id_cap,
			  char *message, size_t message_cap)
{
	struct pool *p = s->backend;
	pc_err rc;

	pthread_mutex_lock(&p->lock);
	rc = connect_locked(s, p);
	if (rc == PC_OK)
		rc = jobpool_submit(p->st, job->id);
	pthread_mutex_unlock(&p->lock);
	if (rc != PC_OK)
		snprintf(message, message_cap, "the pool queue did not take it: %s",
			 pc_strerror(rc));
	return rc;
}

/* Nothing of ours runs: the worker reads the job's state while it computes, and on
 * "cancelled" stops, removes its partial object and takes the next job. */
static pc_err pool_cancel(sched *s, const struct job *job)
{
	return PC_OK;
}

/* A worker's fate is its heartbeat, which the keeper watches (jobpool_recover_dead). */
static pc_err pool_poll(sched *s, const struct job *jobs, size_t n, struct sched_report *reports)
{
	for (size_t i = 0; i < n; i++)
		reports[i].fate = SCHED_UNKNOWN;
	return PC_OK;
}

const struct sched_ops sched_pool_ops = {
    .name = JOBPOOL_SCHED_NAME,
    .submits = true,
    .compute_is_here = false, /* workers may run anywhere that reaches Redis and the store */
    .init = pool_init,
    .fini = pool_fini,
    .has_capacity = pool_has_capacity,
    .submit = pool_submit,
    .cancel = pool_cancel,
    .poll = pool_poll,
};
