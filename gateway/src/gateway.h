/* gateway.h - the state shared by pi-gateway's HTTP threads, submitter and reconciler. */
#ifndef PICLUSTER_GATEWAY_GATEWAY_H
#define PICLUSTER_GATEWAY_GATEWAY_H

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "config.h"
#include "http/metrics.h"
#include "picluster/job.h"
#include "picluster/jobstore.h"
#include "picluster/objstore.h"
#include "sched/scheduler.h"

/* Milliseconds every Redis command may take before the store reports PC_EUNAVAILABLE. */
#define GW_REDIS_TIMEOUT_MS 2000

/* Lifetime of this gateway's instance claim in Redis; renewed every second (keeper.c). A
 * gateway that dies without a word has its unacknowledged jobs recovered by the others at most
 * about this long (plus one recovery pass) later. */
#define GW_INSTANCE_TTL_MS 5000

/* "HOST|PID:STARTTICKS": who holds an instance claim, so a restart on the same host can tell
 * that the previous holder has ended. */
#define GW_INSTANCE_TOKEN_MAX 192

struct gateway {
	struct gw_config cfg;
	sched *sched; /* thread-safe; shared by every thread */
	sched *pool;  /* the warm workers' queue (sched_pool.c); NULL: --pool-max-digits 0 or
		       * a gateway that submits nothing. Used by the submitter only. */
	struct http_metrics metrics; /* atomic counters */
	atomic_bool stopping;	     /* set on SIGINT/SIGTERM */
	atomic_bool instance_held;   /* the keeper holds cfg.instance's claim: submitting is ok */
	char instance_token[GW_INSTANCE_TOKEN_MAX]; /* our claim's value (keeper.c) */
	char compute_path[PATH_MAX];		    /* pi-compute */
	/* Ids the submitter handed to the scheduler, for the reconciler to watch until they end
	 * (feeds the duration histogram, also for jobs faster than one reconciler pass). */
	pthread_mutex_t watch_lock;
	char (*watch)[JOB_ID_LEN + 1];
	size_t watch_n, watch_cap;
};

/* Logs a job's state change made by this gateway (one line with the job id) and counts it.
 * from may be NULL when unknown; why may be NULL. */
void gw_note_transition(struct gateway *gw, const char *id, const char *from, enum job_state to,
			const char *why);

/* Adds id to the watch list (dropped silently when out of memory: metrics only). */
void gw_watch_add(struct gateway *gw, const char *id);

/* Moves the watch list out: *ids is a new array of *n ids (free()), NULL when empty. */
void gw_watch_drain(struct gateway *gw, char (**ids)[JOB_ID_LEN + 1], size_t *n);

/*
 * The calling thread's Redis connection, opened on first use and kept: when *st is NULL,
 * connects to cfg.redis_url (cfg.key_prefix, GW_REDIS_TIMEOUT_MS) into *st. Every thread
 * (HTTP handler, submitter, reconciler, keeper) keeps its own handle, freed by the thread.
 * PC_OK with *st set, else jobstore_open's error with *st still NULL (the next call tries
 * again).
 */
pc_err gw_jobstore_connect(const struct gateway *gw, jobstore **st);

/*
 * Removes the half-written result of a job whose compute is over (cancelled, or ended without
 * a word): a temporary file or an unfinished multipart upload (objstore_discard_incomplete).
 * *os is the calling thread's object-store handle, opened on first use and kept. Failures
 * only cost disk space: they are logged, not returned.
 */
void gw_discard_partial(const struct gateway *gw, objstore **os, const char *id);

/* Finds pi-compute: beside the running executable, else on PATH. PC_ENOTFOUND if neither. */
pc_err gw_find_compute(char *out, size_t cap);

#endif
