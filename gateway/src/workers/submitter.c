/* submitter.c - moves jobs from the Redis submit queue to the scheduler, losing none. */
#include "workers/workers.h"

#include <string.h>

#include "picluster/jobpool.h"
#include "picluster/jobstore.h"
#include "picluster/log.h"

/*
 * The submitter sequence (one job):
 *   take the next id (as below), and if the job is still created, small enough
 *   (--pool-max-digits) and a pool worker is alive (counted at most every 500 ms):
 *   jobpool_submit (created -> queued with sched_name "pool" and the id on pool:queue, one
 *   script; refused: cancelled meanwhile) and jobstore_queue_ack: the workers do the rest.
 * Else:
 *   take the next id (round-robin across job owners) into our processing list (jobstore_queue_take)
 *   created -> queued                 (refused: cancelled meanwhile -> just ack)
 *   sched_submit                      (refused -> queued -> errored with its message;
 *                                      scheduler unreachable -> stays queued, tried again)
 *   jobstore_job_set_sched(name, id)     (refused: the compute already runs and recorded its
 *                                      own identity -> fine; cancelled meanwhile ->
 *                                      sched_cancel)
 *   jobstore_queue_ack
 * A crash anywhere leaves the id in processing:<instance>; jobstore_queue_recover at start-up
 * puts it back in the queue, and if this instance never starts again, another gateway's keeper
 * does once the instance's claim has expired (keeper.c). A recovered job already queued without a
 * scheduler id is submitted again; if the first submission did start, the duplicate compute loses
 * the queued -> running race in Redis and exits quietly.
 */

/* Retries a store call while Redis is unreachable, until it answers or we stop. */
#define RETRY_WHILE_DOWN(gw, expr)                                                         \
	({                                                                                 \
		pc_err _rc;                                                                \
		while ((_rc = (expr)) == PC_EUNAVAILABLE && !atomic_load(&(gw)->stopping)) \
			gw_nap(gw, 500);                                                   \
		_rc;                                                                       \
	})

/* Pauses between submissions the scheduler could not take: the first, then doubling. */
#define SUBMIT_RETRY_FIRST_MS 1000
#define SUBMIT_RETRY_MAX_MS   15000

/*
 * True when a failed submission says nothing about the job, so it may work later: the
 * scheduler could not be asked (Slurm controller down or too slow, no child process could be
 * started now). A refusal (PC_ESCHED) or anything else ends the job errored.
 */
static bool submit_may_retry(pc_err rc)
{
	return rc == PC_EUNAVAILABLE || rc == PC_ETIMEOUT || rc == PC_EIO || rc == PC_ENOMEM;
}

/* Ends a job the scheduler refused: queued -> errored with the scheduler's message. */
static void refuse(struct gateway *gw, jobstore *st, const struct job *job, pc_err rc,
		   const char *message)
{
	const enum job_state queued = JOB_QUEUED;
	struct job_update upd;

	memset(&upd, 0, sizeof(upd));
	upd.set_error = true;
	upd.error_code = "submit_failed";
	upd.error_message = message[0] ? message : pc_strerror(rc);
	rc = RETRY_WHILE_DOWN(
	    gw, jobstore_job_transition(st, job->id, JOB_ERRORED, &queued, &upd, NULL));
	if (rc == PC_OK)
		gw_note_transition(gw, job->id, "queued", JOB_ERRORED, upd.error_message);
}

/*
 * Hands a queued job to the scheduler until it takes it or refuses it. While the scheduler
 * cannot be reached the job stays queued (its id in our processing list) and is tried again
 * after a growing pause, as long as it is still queued without a scheduler id (a DELETE
 * meanwhile ends the wait). Submitting again is safe: if an earlier attempt did start a
 * compute after all, the duplicate loses the queued -> running race. Returns false only when
 * the gateway stops first: the id then stays in processing for the next start.
 */
static bool submit_until_taken(struct gateway *gw, jobstore *st, struct job *job, char *sched_id,
			       size_t id_cap)
{
	char message[JOB_ERROR_MESSAGE_MAX];
	long pause = SUBMIT_RETRY_FIRST_MS;
	pc_err rc;

	for (;;) {
		message[0] = '\0';
		rc = sched_submit(gw->sched, job, sched_id, id_cap, message, sizeof(message));
		if (rc == PC_OK)
			return true;
		if (!submit_may_retry(rc)) {
			refuse(gw, st, job, rc, message);
			sched_id[0] = '\0';
			return true;
		}
		log_warn("job %s: %s could not take it (%s%s%s): stays queued, next try in %ld s",
			 job->id, sched_name(gw->sched), pc_strerror(rc), message[0] ? ": " : "",
			 message, pause / 1000);
		gw_nap(gw, pause);
		if (pause < SUBMIT_RETRY_MAX_MS)
			pause = pause * 2 < SUBMIT_RETRY_MAX_MS ? pause * 2 : SUBMIT_RETRY_MAX_MS;
		rc = RETRY_WHILE_DOWN(gw, jobstore_job_get(st, job->id, job));
		if (atomic_load(&gw->stopping))
			return false;
		if (rc != PC_OK || job->state != JOB_QUEUED || job->sched_job_id[0]) {
			log_info("job %s: no longer waits for a submission (%s, state %s)", job->id,
				 pc_strerror(rc), rc == PC_OK ? job_state_name(job->state) : "?");
			sched_id[0] = '\0';
			return true;
		}
	}
}

void gw_record_submission(struct gateway *gw, jobstore *st, struct job *job, const char *sched_id)
{
	pc_err rc;

	rc = RETRY_WHILE_DOWN(gw,
			      jobstore_job_set_sched(st, job->id, sched_name(gw->sched), sched_id));
	if (rc == PC_OK) {
		log_info("job %s: submitted to %s as %s", job->id, sched_name(gw->sched), sched_id);
		gw_watch_add(gw, job->id);
		return;
	}
	/* Refused: the job is past queued. Its compute won queued -> running first and recorded
	 * its own identity (ours, for this submission's compute), another submission's compute
	 * runs it, or it ended meanwhile (cancelled while we submitted, or finished already). */
	rc = RETRY_WHILE_DOWN(gw, jobstore_job_get(st, job->id, job));
	if (rc != PC_OK) {
		log_warn("job %s: submitted to %s as %s, but unreadable now: %s", job->id,
			 sched_name(gw->sched), sched_id, pc_strerror(rc));
		return;
	}
	if (strcmp(job->sched_name, sched_name(gw->sched)) == 0 &&
	    strcmp(job->sched_job_id, sched_id) == 0) {
		log_info("job %s: submitted to %s as %s (already %s)", job->id,
			 sched_name(gw->sched), sched_id, job_state_name(job->state));
		gw_watch_add(gw, job->id);
		return;
	}
	log_info("job %s: %s job %s not recorded: the job is %s%s%s", job->id,
		 sched_name(gw->sched), sched_id, job_state_name(job->state),
		 job->sched_job_id[0] ? " under " : "", job->sched_job_id);
	if (job->state == JOB_CANCELLED) {
		snprintf(job->sched_name, sizeof(job->sched_name), "%s", sched_name(gw->sched));
		snprintf(job->sched_job_id, sizeof(job->sched_job_id), "%s", sched_id);
		rc = sched_cancel(gw->sched, job);
		if (rc != PC_OK)
			log_warn("job %s: cancel of %s job %s failed: %s", job->id,
				 sched_name(gw->sched), sched_id, pc_strerror(rc));
	}
}

/* True when the job goes to the warm workers: created, small enough, and a worker alive. */
static bool goes_to_pool(struct gateway *gw, const struct job *job)
{
	return gw->pool && job->state == JOB_CREATED && job->digits <= gw->cfg.pool_max_digits &&
	       sched_has_capacity(gw->pool);
}

/* What became of a job offered to the pool. */
enum pool_handover {
	POOL_TOOK,    /* queued there, or nothing more to do (cancelled meanwhile, gone) */
	POOL_REFUSED, /* could not take it: submit it to the scheduler instead */
	POOL_STOPPED  /* Redis down and the gateway stopping: leave the id in processing */
};

/* Offers a created job to the pool (created -> queued and on pool:queue, atomically). A
 * lost reply is resent safely: the script knows its own write. */
static enum pool_handover to_pool(struct gateway *gw, const struct job *job)
{
	char sched_id[JOB_SCHED_ID_MAX], message[JOB_ERROR_MESSAGE_MAX];
	pc_err rc;

	rc = RETRY_WHILE_DOWN(
	    gw, sched_submit(gw->pool, job, sched_id, sizeof(sched_id), message, sizeof(message)));
	if (rc == PC_OK) {
		gw_note_transition(gw, job->id, "created", JOB_QUEUED, "to the pool");
		gw_watch_add(gw, job->id);
		return POOL_TOOK;
	}
	if (rc == PC_EUNAVAILABLE)
		return POOL_STOPPED;
	if (rc == PC_ECONFLICT || rc == PC_ENOTFOUND) {
		log_info("job %s: not queued for the pool (%s: no longer created)", job->id,
			 pc_strerror(rc));
		return POOL_TOOK;
	}
	log_warn("job %s: %s; submitting it to %s", job->id, message, sched_name(gw->sched));
	return POOL_REFUSED;
}

/* Waits until the scheduler can take a job (local: fewer than --max-running computes). The
 * submitter also takes ids while only the pool has room, so a big job may wait here, its id
 * safe in our processing list. False: the gateway is stopping. */
static bool await_capacity(struct gateway *gw)
{
	while (!sched_has_capacity(gw->sched)) {
		if (atomic_load(&gw->stopping))
			return false;
		gw_nap(gw, 100);
	}
	return !atomic_load(&gw->stopping);
}

/* Submits one queued job and records the scheduler's id. False: stopping, do not ack. */
static bool submit(struct gateway *gw, jobstore *st, struct job *job)
{
	char sched_id[JOB_SCHED_ID_MAX];

	if (!submit_until_taken(gw, st, job, sched_id, sizeof(sched_id)))
		return false;
	if (sched_id[0]) /* else refused, or cancelled while the scheduler was away */
		gw_record_submission(gw, st, job, sched_id);
	return true;
}

/* Handles one id taken from the queue; acks it unless we are stopping with Redis down. */
static void handle(struct gateway *gw, jobstore *st, const char *owner, const char *id)
{
	const enum job_state created = JOB_CREATED;
	struct job job;
	pc_err rc;

	rc = RETRY_WHILE_DOWN(gw, jobstore_job_get(st, id, &job));
	if (rc == PC_EUNAVAILABLE)
		return; /* stopping: the id stays in processing, recovered on restart */
	if (rc != PC_OK) {
		log_warn("job %s: taken from the queue but unreadable: %s", id, pc_strerror(rc));
		goto out_ack;
	}
	if (goes_to_pool(gw, &job)) {
		enum pool_handover h = to_pool(gw, &job);

		if (h == POOL_STOPPED)
			return;
		if (h == POOL_TOOK)
			goto out_ack;
	}
	if (job.state == JOB_CREATED) {
		if (!await_capacity(gw))
			return;
		rc = RETRY_WHILE_DOWN(
		    gw, jobstore_job_transition(st, id, JOB_QUEUED, &created, NULL, &job));
		if (rc == PC_EUNAVAILABLE)
			return;
		if (rc != PC_OK) {
			log_info("job %s: not queued (%s, state %s)", id, pc_strerror(rc),
				 job_state_name(job.state));
			goto out_ack;
		}
		gw_note_transition(gw, id, "created", JOB_QUEUED, NULL);
	} else if (job.state != JOB_QUEUED || job.sched_job_id[0] ||
		   strcmp(job.sched_name, JOBPOOL_SCHED_NAME) == 0) {
		/* Recovered after a crash, and already submitted (to the pool too) or over. */
		goto out_ack;
	} else {
		log_info("job %s: recovered queued without a scheduler id: submitting again", id);
		if (!await_capacity(gw))
			return;
	}
	if (!submit(gw, st, &job))
		return; /* stopping while the scheduler was away: recovered on restart */
out_ack:
	rc = RETRY_WHILE_DOWN(gw, jobstore_queue_ack(st, owner, id));
	if (rc != PC_OK)
		log_warn("job %s: ack failed: %s", id, pc_strerror(rc));
}

void *gw_submitter_main(void *arg)
{
	struct gateway *gw = arg;
	const char *owner = gw->cfg.instance;
	char id[JOB_ID_LEN + 1];
	bool recovered = false, down_logged = false;
	jobstore *st = NULL;
	pc_err rc;

	while (!atomic_load(&gw->stopping)) {
		if (gw_jobstore_connect(gw, &st) != PC_OK) {
			if (!down_logged)
				log_warn("submitter: Redis at %s unreachable; retrying",
					 gw->cfg.redis_url);
			down_logged = true;
			gw_nap(gw, 1000);
			continue;
		}
		/* Only the holder of the instance claim may use its processing list (keeper.c);
		 * after a lapse, recover again: others may have moved ids meanwhile. */
		if (!atomic_load(&gw->instance_held)) {
			recovered = false;
			gw_nap(gw, 100);
			continue;
		}
		if (!recovered) {
			rc = jobstore_queue_recover(st, owner);
			if (rc != PC_OK) {
				log_warn("submitter: recovering %s's jobs failed: %s", owner,
					 pc_strerror(rc));
				gw_nap(gw, 1000);
				continue;
			}
			log_info("submitter %s: ready (recovered unacknowledged jobs)", owner);
			recovered = true;
		}
		if (!sched_has_capacity(gw->sched) && !(gw->pool && sched_has_capacity(gw->pool))) {
			gw_nap(gw, 100);
			continue;
		}
		rc = jobstore_queue_take(st, owner, 1000, id);
		if (rc == PC_ETIMEOUT)
			continue;
		if (rc != PC_OK) {
			if (!down_logged)
				log_warn("submitter: queue take failed: %s", pc_strerror(rc));
			down_logged = true;
			/* The reply was lost, not necessarily the move: the id may sit in our
			 * processing list already. Put it back once Redis answers again. */
			if (rc == PC_EUNAVAILABLE)
				recovered = false;
			gw_nap(gw, 500);
			continue;
		}
		down_logged = false;
		handle(gw, st, owner, id);
	}
	jobstore_free(st);
	return NULL;
}
