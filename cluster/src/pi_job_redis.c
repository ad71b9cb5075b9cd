/* pi_job_redis.c - pi-compute's state moves in the Redis job store, riding out outages:
 * retries with a jittered backoff for a time budget, and the check that a move whose answer
 * was lost had been applied. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "picluster/clock.h"

#include "pi_job_int.h"
#include "pi_report.h"

/* Redis calls wait at most this long (ms). */
#define JOBSTORE_TIMEOUT_MS 5000

/* Backoff between attempts while Redis is away: doubling from the first to the last (ms),
 * each sleep drawn from 75%..125% of it so that many computes do not retry in step. */
#define BACKOFF_FIRST_MS 50
#define BACKOFF_MAX_MS	 2000

/* Errors that mean "Redis is away, ask again"; every other answer decides. */
bool pi_job_is_transient(pc_err e)
{
	return e == PC_EUNAVAILABLE || e == PC_ETIMEOUT;
}

/* Logs the start of an outage once, and its end, whichever thread sees them (the watcher
 * while computing, the main thread at the state moves). `what` names the call. */
void pi_job_outage_note(struct pi_job *job, pc_err e, const char *what)
{
	double now = pi_report_now();

	pthread_mutex_lock(&job->lock);
	if (pi_job_is_transient(e) && job->outage_since == 0) {
		job->outage_since = now;
		fprintf(stderr, "pi-compute: job %s: Redis unavailable while %s (%s)\n", job->id,
			what, pc_strerror(e));
	} else if (!pi_job_is_transient(e) && job->outage_since != 0) {
		fprintf(stderr, "pi-compute: job %s: Redis is back after %.1f s\n", job->id,
			now - job->outage_since);
		job->outage_since = 0;
	}
	pthread_mutex_unlock(&job->lock);
}

/* One call's retry budget: retry_s seconds from its first failure. */
struct backoff {
	double deadline; /* 0 until the first failure */
	unsigned delay_ms;
	bool uncertain; /* an attempt failed without an answer: it may have been applied */
};

/*
 * After one attempt that returned e: true when it should be made again (Redis was away and
 * the budget is not spent), after sleeping the backoff. False when e decides: success,
 * a refusal or error from Redis itself, or the budget is spent.
 */
static bool retry_again(struct pi_job *job, struct backoff *b, pc_err e, const char *what)
{
	double now = pi_report_now(), left;
	unsigned ms;

	pi_job_outage_note(job, e, what);
	if (!pi_job_is_transient(e))
		return false;
	b->uncertain = true;
	if (b->deadline == 0) {
		b->deadline = now + job->retry_s;
		b->delay_ms = BACKOFF_FIRST_MS;
		if (job->retry_s > 0)
			fprintf(stderr, "pi-compute: job %s: %s: retrying for up to %u s\n",
				job->id, what, job->retry_s);
	}
	left = b->deadline - now;
	if (left <= 0) {
		if (job->retry_s > 0)
			fprintf(stderr,
				"pi-compute: job %s: %s: Redis still unavailable after %u s\n",
				job->id, what, job->retry_s);
		return false;
	}
	ms = b->delay_ms * 3 / 4 + (unsigned)rand_r(&job->seed) % (b->delay_ms / 2 + 1);
	if (ms > left * 1000)
		ms = (unsigned)(left * 1000) + 1;
	pc_sleep_ms(ms);
	b->delay_ms = b->delay_ms * 2 < BACKOFF_MAX_MS ? b->delay_ms * 2 : BACKOFF_MAX_MS;
	return true;
}

/* Whether *now is the job as our move `to` with `upd` would have left it. A move that
 * writes nothing of ours cannot be told from another writer's: never. */
static bool is_our_write(const struct job *now, enum job_state to, const struct job_update *upd)
{
	if (now->state != to || upd == NULL ||
	    !(upd->set_result || upd->set_sched || upd->set_error))
		return false;
	if (upd->set_result &&
	    (!now->has_result || strcmp(now->result_object, upd->result_object) != 0 ||
	     now->result_bytes != upd->result_bytes ||
	     strcmp(now->result_sha256, upd->result_sha256) != 0))
		return false;
	if (upd->set_sched && (strcmp(now->sched_name, upd->sched_name) != 0 ||
			       strcmp(now->sched_job_id, upd->sched_job_id) != 0))
		return false;
	if (upd->set_error && (!now->has_error || strcmp(now->error_code, upd->error_code) != 0))
		return false;
	return true;
}

/*
 * Moves the job from -> to with upd, riding out Redis outages for the retry budget. A move
 * is not idempotent: when an attempt's answer was lost, Redis may have applied it and the
 * next attempt is refused. So a refusal (or any error) after such an attempt re-reads the
 * job and counts as success when it holds exactly what we wrote. *now, when not NULL, is
 * the job as Redis last showed it (on PC_ECONFLICT: as it is).
 */
pc_err pi_job_move(struct pi_job *job, enum job_state to, enum job_state from,
		   const struct job_update *upd, const char *what, struct job *now)
{
	struct backoff b = {0};
	struct job_update guarded;
	struct job seen;
	pc_err e, r;

	memset(&seen, 0, sizeof(seen));
	/* A pool worker's job: only while it runs under the worker's name (jobpool.h). */
	if (job->expect_sched != NULL && from == JOB_RUNNING) {
		if (upd != NULL)
			guarded = *upd;
		else
			memset(&guarded, 0, sizeof(guarded));
		guarded.expect_sched_job_id = job->expect_sched;
		upd = &guarded;
	}
	do {
		e = jobstore_job_transition(job->st, job->id, to, &from, upd, &seen);
	} while (retry_again(job, &b, e, what));
	if (e != PC_OK && b.uncertain && !pi_job_is_transient(e)) {
		struct backoff rb = {0};

		do {
			r = jobstore_job_get(job->st, job->id, &seen);
		} while (retry_again(job, &rb, r, what));
		if (r == PC_OK && is_our_write(&seen, to, upd)) {
			fprintf(stderr,
				"pi-compute: job %s: an earlier attempt while %s had succeeded\n",
				job->id, what);
			e = PC_OK;
		}
	}
	if (now != NULL)
		*now = seen;
	return e;
}

/* Moves the job to errored from `from`, riding out outages; failures are only logged. */
void pi_job_set_errored(struct pi_job *job, enum job_state from, const char *code,
			const char *message)
{
	struct job_update upd;
	pc_err e;

	memset(&upd, 0, sizeof(upd));
	upd.set_error = true;
	upd.error_code = code;
	upd.error_message = message;
	e = pi_job_move(job, JOB_ERRORED, from, &upd, "recording the failure", NULL);
	if (e != PC_OK)
		fprintf(stderr, "pi-compute: could not mark job %s errored: %s\n", job->id,
			pc_strerror(e));
}

/* Connects to Redis, riding out an outage at start. */
pc_err pi_job_open_jobstore(struct pi_job *job, const struct pi_args *args)
{
	struct backoff b = {0};
	pc_err e;

	do {
		e = jobstore_open(&job->st, args->redis_url, args->key_prefix, JOBSTORE_TIMEOUT_MS);
	} while (retry_again(job, &b, e, "connecting"));
	return e;
}
