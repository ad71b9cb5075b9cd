/* gateway.h - the state shared by pi-gateway's HTTP threads, submitter and reconciler. */
#ifndef PICLUSTER_GATEWAY_GATEWAY_H
#define PICLUSTER_GATEWAY_GATEWAY_H

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "config.h"
#include "metrics.h"
#include "picluster/job.h"
#include "sched.h"

/* Milliseconds every Redis command may take before the store reports PC_EUNAVAILABLE. */
#define GW_REDIS_TIMEOUT_MS 2000

struct gateway {
	struct gw_config cfg;
	sched *sched;		     /* thread-safe; shared by every thread */
	struct gw_metrics metrics;   /* atomic counters */
	atomic_bool stopping;	     /* set on SIGINT/SIGTERM */
	char compute_path[PATH_MAX]; /* pi-compute */
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

/* Finds pi-compute: beside the running executable, else on PATH. PC_ENOTFOUND if neither. */
pc_err gw_find_compute(char *out, size_t cap);

#endif
