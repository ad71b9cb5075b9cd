/* jobpool.h - the warm-worker pool in Redis: a queue of small jobs that long-lived
 * `pi-compute --worker` processes take one at a time, their heartbeats, and the recovery of
 * the jobs of a worker that died. */
#ifndef PICLUSTER_JOBPOOL_H
#define PICLUSTER_JOBPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "picluster/error.h"
#include "picluster/job.h"
#include "picluster/jobstore.h"

/*
 * Keys (under the store's prefix):
 *   pool:queue              list of job ids waiting for a worker (pushed left, taken right)
 *   pool:processing:<w>     list of the ids worker w has taken and not yet acknowledged
 *   pool:alive:<w>          worker w's heartbeat: a string with a TTL it renews
 *   pool:workers            set of the workers that sent a heartbeat and have neither left
 *                           nor been recovered (where recovery looks)
 * A worker name is 1..JOBPOOL_WORKER_MAX (63) of [A-Za-z0-9._:-] (e.g. "host:pid:n"); it is
 * also the job's sched_job_id while it runs there (sched_name JOBPOOL_SCHED_NAME).
 *
 * A job goes to the pool in one script (jobpool_submit): created -> queued with sched_name
 * "pool", and its id pushed on pool:queue. A worker takes it (jobpool_take), moves it
 * queued -> running with its own name as sched_job_id (jobstore_job_transition with
 * set_sched), computes, moves it running -> finished|errored with
 * job_update.expect_sched_job_id = its name, and acknowledges it (jobpool_ack). When a
 * worker's heartbeat has expired, jobpool_recover_dead puts the ids of its processing list
 * back on pool:queue, moving a job that is still running there running -> queued (only if its
 * sched_job_id is that worker's name), so another worker runs it; a worker that was only
 * slow and comes back cannot complete it any more (its expect_sched_job_id no longer
 * matches).
 */

#define JOBPOOL_SCHED_NAME "pool"
/* The longest worker name: it must fit a job's sched_job_id whole (expect_sched_job_id compares
 * it exactly). */
#define JOBPOOL_WORKER_MAX (JOB_SCHED_ID_MAX - 1)

/* True when name is a valid worker name (see above). */
bool jobpool_worker_name_is_valid(const char *name);

/*
 * Hands job id to the pool: created -> queued (sched_name "pool", sched_job_id "") and its id
 * on pool:queue, atomically. PC_ENOTFOUND for an unknown id, PC_ECONFLICT when the job is not
 * created (e.g. cancelled meanwhile: nothing is queued).
 */
pc_err jobpool_submit(jobstore *st, const char *id);

/*
 * Takes the oldest id of pool:queue into pool:processing:<worker>, waiting up to timeout_ms
 * (0: not at all). PC_ETIMEOUT when none came. The move is one Redis command (BLMOVE), so an
 * id is never lost between the lists; never resent after a lost reply (the id then waits in
 * the processing list for jobpool_recover_dead or jobpool_recover_own).
 */
pc_err jobpool_take(jobstore *st, const char *worker, int timeout_ms, char id[JOB_ID_LEN + 1]);

/*
 * Starts a job on worker: id as given (a non-empty id, already in worker's processing list
 * from jobpool_take), or, for id "", the oldest id of the queue, moved into that list here
 * (the fast path while jobs wait: take and start in one step, no waiting); then its job
 * moves queued -> running under worker's name (sched "pool"). One Redis step. PC_OK: id is
 * the job's, *started the job as it now is, *rerun true when it had started before under a
 * worker that died (its partial output may be left over); PC_ETIMEOUT: id "" and the queue
 * is empty; PC_ECONFLICT: the job could not start (cancelled while queued, gone) and id has
 * left the processing list again. Never resent after a lost answer (the id then waits for
 * jobpool_recover_own).
 */
pc_err jobpool_start(jobstore *st, const char *worker, char id[JOB_ID_LEN + 1], struct job *started,
		     bool *rerun);

/* Removes id from worker's processing list: the job reached a terminal state. */
pc_err jobpool_ack(jobstore *st, const char *worker, const char *id);

/*
 * Sets worker's heartbeat (pool:alive:<worker>) for ttl_ms and adds it to pool:workers. A
 * worker renews it at least every ttl_ms / 3, from a thread of its own so a long job does not
 * let it lapse. info names the process (e.g. "host h pid 123"; NULL for "") and makes the
 * name its own: PC_EEXISTS while another process's heartbeat holds the name (an earlier
 * worker of that name still draining, or dead less than ttl_ms ago), so two live workers
 * never share a name, whose jobs' moves they would both pass.
 */
pc_err jobpool_heartbeat(jobstore *st, const char *worker, const char *info, int ttl_ms);

/* Deletes worker's heartbeat at a clean exit, if it is still info's (as given to
 * jobpool_heartbeat); the name leaves pool:workers only with an empty processing list. */
pc_err jobpool_leave(jobstore *st, const char *worker, const char *info);

/* *alive = number of workers with a live heartbeat (SCAN-free: from pool:workers). */
pc_err jobpool_alive(jobstore *st, uint64_t *alive);

/*
 * For every worker in pool:workers without a live heartbeat: each job of its processing list
 * still running under that worker's name moves running -> queued (jobstore_job_transition
 * with expect_sched_job_id, so it is idempotent and never touches a job another worker took
 * since), then the list goes back to the right end of pool:queue (first in line, in the order
 * taken) and the worker leaves pool:workers, in one script that checks the heartbeat again,
 * so a worker that renewed meanwhile keeps its list. Ids of jobs that are terminal or gone are
 * dropped instead of queued. *moved = ids put back (may be NULL).
 */
pc_err jobpool_recover_dead(jobstore *st, uint64_t *moved);

/* At a worker's start: its own processing list (left by an earlier life with the same name)
 * back on pool:queue as jobpool_recover_dead would, whatever its heartbeat says. */
pc_err jobpool_recover_own(jobstore *st, const char *worker, uint64_t *moved);

/* *length = ids waiting in pool:queue. */
pc_err jobpool_queue_length(jobstore *st, uint64_t *length);

#endif
