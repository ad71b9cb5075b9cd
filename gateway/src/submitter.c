/* submitter.c - moves jobs from the Redis submit queue to the scheduler, losing none. */
#include "workers.h"

#include <string.h>

#include "picluster/log.h"
#include "picluster/store.h"

/*
 * The submitter sequence (one job):
 *   take the id from the queue into our processing list (store_queue_take, BLMOVE)
 *   created -> queued                 (refused: cancelled meanwhile -> just ack)
 *   sched_submit                      (refused -> queued -> errored with its message)
 *   store_job_set_sched(name, id)     (refused: cancelled meanwhile -> sched_cancel)
 *   store_queue_ack
 * A crash anywhere leaves the id in processing:<instance>; store_queue_recover at start-up
 * puts it back in the queue. A recovered job already queued without a scheduler id is
 * submitted again; if the first submission did start, the duplicate compute loses the
 * queued -> running race in Redis and exits quietly.
 */

/* Retries a store call while Redis is unreachable, until it answers or we stop. */
#define RETRY_WHILE_DOWN(gw, expr)                                                         \
	({                                                                                 \
		pc_err _rc;                                                                \
		while ((_rc = (expr)) == PC_EUNAVAILABLE && !atomic_load(&(gw)->stopping)) \
			gw_nap(gw, 500);                                                   \
		_rc;                                                                       \
	})

/* Submits one queued job and records the scheduler's id. */
static void submit(struct gateway *gw, store *st, struct job *job)
{
	char sched_id[JOB_SCHED_ID_MAX], message[JOB_ERROR_MESSAGE_MAX];
	const enum job_state queued = JOB_QUEUED;
	struct job_update upd;
	pc_err rc;

	rc = sched_submit(gw->sched, job, sched_id, sizeof(sched_id), message, sizeof(message));
	if (rc != PC_OK) {
		memset(&upd, 0, sizeof(upd));
		upd.set_error = true;
		upd.error_code = "submit_failed";
		upd.error_message = message[0] ? message : pc_strerror(rc);
		rc = RETRY_WHILE_DOWN(
		    gw, store_job_transition(st, job->id, JOB_ERRORED, &queued, &upd, NULL));
		if (rc == PC_OK)
			gw_note_transition(gw, job->id, "queued", JOB_ERRORED, upd.error_message);
		return;
	}
	rc =
	    RETRY_WHILE_DOWN(gw, store_job_set_sched(st, job->id, sched_name(gw->sched), sched_id));
	if (rc == PC_OK) {
		log_info("job %s: submitted to %s as %s", job->id, sched_name(gw->sched), sched_id);
		gw_watch_add(gw, job->id);
		return;
	}
	/* Terminal already: cancelled while we submitted (or finished before we got here). */
	log_info("job %s: cannot record %s id %s (%s)", job->id, sched_name(gw->sched), sched_id,
		 pc_strerror(rc));
	if (store_job_get(st, job->id, job) == PC_OK && job->state == JOB_CANCELLED) {
		snprintf(job->sched_name, sizeof(job->sched_name), "%s", sched_name(gw->sched));
		snprintf(job->sched_job_id, sizeof(job->sched_job_id), "%s", sched_id);
		rc = sched_cancel(gw->sched, job);
		if (rc != PC_OK)
			log_warn("job %s: cancel of %s job %s failed: %s", job->id,
				 sched_name(gw->sched), sched_id, pc_strerror(rc));
	}
}

/* Handles one id taken from the queue; acks it unless we are stopping with Redis down. */
static void handle(struct gateway *gw, store *st, const char *owner, const char *id)
{
	const enum job_state created = JOB_CREATED;
	struct job job;
	pc_err rc;

	rc = RETRY_WHILE_DOWN(gw, store_job_get(st, id, &job));
	if (rc == PC_EUNAVAILABLE)
		return; /* stopping: the id stays in processing, recovered on restart */
	if (rc != PC_OK) {
		log_warn("job %s: taken from the queue but unreadable: %s", id, pc_strerror(rc));
		goto out_ack;
	}
	if (job.state == JOB_CREATED) {
		rc = RETRY_WHILE_DOWN(
		    gw, store_job_transition(st, id, JOB_QUEUED, &created, NULL, &job));
		if (rc == PC_EUNAVAILABLE)
			return;
		if (rc != PC_OK) {
			log_info("job %s: not queued (%s, state %s)", id, pc_strerror(rc),
				 job_state_name(job.state));
			goto out_ack;
		}
		gw_note_transition(gw, id, "created", JOB_QUEUED, NULL);
	} else if (job.state != JOB_QUEUED || job.sched_job_id[0]) {
		/* Recovered after a crash, and already submitted or over. */
		goto out_ack;
	} else {
		log_info("job %s: recovered queued without a scheduler id: submitting again", id);
	}
	submit(gw, st, &job);
out_ack:
	rc = RETRY_WHILE_DOWN(gw, store_queue_ack(st, owner, id));
	if (rc != PC_OK)
		log_warn("job %s: ack failed: %s", id, pc_strerror(rc));
}

void *gw_submitter_main(void *arg)
{
	struct gateway *gw = arg;
	const char *owner = gw->cfg.instance;
	char id[JOB_ID_LEN + 1];
	bool recovered = false, down_logged = false;
	store *st = NULL;
	pc_err rc;

	while (!atomic_load(&gw->stopping)) {
		if (!st && store_open(&st, gw->cfg.redis_url, gw->cfg.key_prefix,
				      GW_REDIS_TIMEOUT_MS) != PC_OK) {
			if (!down_logged)
				log_warn("submitter: Redis at %s unreachable; retrying",
					 gw->cfg.redis_url);
			down_logged = true;
			gw_nap(gw, 1000);
			continue;
		}
		if (!recovered) {
			rc = store_queue_recover(st, owner);
			if (rc != PC_OK) {
				log_warn("submitter: recovering %s's jobs failed: %s", owner,
					 pc_strerror(rc));
				gw_nap(gw, 1000);
				continue;
			}
			log_info("submitter %s: ready (recovered unacknowledged jobs)", owner);
			recovered = true;
		}
		if (!sched_has_capacity(gw->sched)) {
			gw_nap(gw, 100);
			continue;
		}
		rc = store_queue_take(st, owner, 1000, id);
		if (rc == PC_ETIMEOUT)
			continue;
		if (rc != PC_OK) {
			if (!down_logged)
				log_warn("submitter: queue take failed: %s", pc_strerror(rc));
			down_logged = true;
			gw_nap(gw, 500);
			continue;
		}
		down_logged = false;
		handle(gw, st, owner, id);
	}
	store_free(st);
	return NULL;
}
