/* workers.h - the gateway's background threads: submitter, reconciler, keeper, retention, and
 * the supervisor of the pool workers. */
#ifndef PICLUSTER_GATEWAY_WORKERS_H
#define PICLUSTER_GATEWAY_WORKERS_H

#include "gateway.h"
#include "picluster/jobstore.h"

typedef struct gw_workers gw_workers;

/*
 * Starts the submitter (Redis queue -> scheduler, see submitter.c), the reconciler
 * (scheduler -> Redis, see reconciler.c) and the keeper (the instance claim, and jobs left by
 * gateways that are gone, see keeper.c) for gw. They stop when gw->stopping is set and
 * gw_workers_stop joins them. With the "none" scheduler only the keeper runs (an API-only
 * gateway submits nothing, but still recovers what dead gateways left). The retention thread
 * (retention.c) runs in every gateway whose --result-ttl or --job-ttl is not 0, and the pool
 * supervisor (pool_supervisor.c: --pool-workers warm `pi-compute --worker` processes) in one
 * whose --pool-workers is not 0. *out NULL on failure.
 */
pc_err gw_workers_start(struct gateway *gw, gw_workers **out);

/* Joins the threads (gw->stopping must be set first) and frees. NULL is ignored. */
void gw_workers_stop(gw_workers *w);

/* Thread bodies (submitter.c, reconciler.c, keeper.c, retention.c, pool_supervisor.c). */
void *gw_pool_supervisor_main(void *gw);
void *gw_submitter_main(void *gw);
void *gw_reconciler_main(void *gw);
void *gw_keeper_main(void *gw);
void *gw_retention_main(void *gw);

/* Sets job->result_expires_at_ms from finished_at and --result-ttl (0: kept forever, or no
 * result), for the job's JSON (retention.c). */
void gw_retention_annotate(const struct gateway *gw, struct job *job);

/* True when job's result is deleted or due to be (finished_at + --result-ttl is past now_ms,
 * also before the retention pass got to it): a download then answers 410 result_expired. */
bool gw_retention_result_is_gone(const struct gateway *gw, const struct job *job, int64_t now_ms);

/*
 * Records that the scheduler took job (queued) as sched_id: jobstore_job_set_sched, retried
 * while Redis is down. When the job is past queued by then, nothing is overwritten; a job
 * cancelled meanwhile gets this compute cancelled too. job is re-read in that case. Shared by
 * the submitter and the reconciler's resubmission (submitter.c).
 */
void gw_record_submission(struct gateway *gw, jobstore *st, struct job *job, const char *sched_id);

/* Fills gw->instance_token ("HOST|PID:STARTTICKS" of this process). PC_EIO if /proc fails. */
pc_err gw_instance_token_init(struct gateway *gw);

/* Sleeps up to ms, waking early when the gateway is stopping. */
void gw_nap(struct gateway *gw, long ms);

#endif
