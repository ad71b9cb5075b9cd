/* retention.c - deletes results (--result-ttl) and job records (--job-ttl) when their time is up,
 * in the one gateway that holds the retention lease. */
#include "workers/workers.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "picluster/clock.h"
#include "picluster/log.h"
#include "picluster/jobstore.h"
#include "picluster/objstore.h"

/*
 * Every gateway runs this thread; only the holder of the lease <prefix>lease:retention works,
 * so replicas never race over the same jobs (the work is idempotent anyway: two holders after
 * a lost lease only repeat each other). The holder renews the lease every pass (a compare and
 * set, so it never extends a lease that has passed to another gateway) and releases it when it
 * stops; a gateway that dies leaves it to expire, and another takes over within LEASE_TTL_MS.
 *
 * A pass, every PASS_INTERVAL_MS: the results whose finished_at is older than --result-ttl
 * (<prefix>results), then the terminal jobs that ended longer than --job-ttl ago
 * (<prefix>ended), in batches of BATCH ids, oldest first, until nothing is due or the pass has
 * worked PASS_BUDGET_MS; then the next pass starts at once. A gateway back after a day thus
 * deletes its whole backlog, a batch per Redis command, renewing its lease in between.
 * The object is deleted from the store before Redis records it, so a crash in between only
 * repeats the delete. Jobs that ended before the indexes existed are added to them by a walk
 * over the terminal state sets, started whenever their sizes disagree with <prefix>ended
 * (checked every BACKFILL_CHECK_MS): lazily, by whichever gateway holds the lease, so jobs
 * ended by an older pi-compute during an upgrade are found too.
 */

#define LEASE_NAME	  "retention"
#define LEASE_TTL_MS	  10000
#define PASS_INTERVAL_MS  1000
#define PASS_BUDGET_MS	  2000
#define BATCH		  100
#define BACKFILL_BATCH	  500
#define BACKFILL_CHECK_MS 60000

struct retention {
	struct gateway *gw;
	jobstore *st;
	objstore *os;
	char token[JOBSTORE_LEASE_TOKEN_LEN + 1];
	bool held, told_held_elsewhere, store_warned;
	struct jobstore_backfill walk;
	bool walking;
	uint64_t walk_added;
	int64_t next_check; /* monotonic ms of the next backfill check */
	uint64_t results_done, jobs_done;
};

void gw_retention_annotate(const struct gateway *gw, struct job *job)
{
	job->result_expires_at_ms = 0;
	if (job->has_result && job->finished_at_ms > 0 && gw->cfg.result_ttl_s > 0)
		job->result_expires_at_ms =
		    job->finished_at_ms + (int64_t)gw->cfg.result_ttl_s * 1000;
}

bool gw_retention_result_is_gone(const struct gateway *gw, const struct job *job, int64_t now_ms)
{
	if (job->result_expired)
		return true;
	return job->has_result && gw->cfg.result_ttl_s > 0 && job->finished_at_ms > 0 &&
	       now_ms >= job->finished_at_ms + (int64_t)gw->cfg.result_ttl_s * 1000;
}

/* Takes or renews the lease; rt->held says whether this gateway may work. */
static void hold_lease(struct retention *rt)
{
	bool was = rt->held;
	pc_err rc;

	if (was)
		rc = jobstore_lease_renew(rt->st, LEASE_NAME, rt->token, LEASE_TTL_MS);
	else
		rc = jobstore_lease_acquire(rt->st, LEASE_NAME, rt->token, LEASE_TTL_MS);
	rt->held = rc == PC_OK;
	if (rt->held && !was) {
		log_info(
		    "retention: lease taken (token %.8s); this gateway deletes expired results "
		    "and jobs",
		    rt->token);
		rt->told_held_elsewhere = false;
		rt->next_check = 0;
	} else if (!rt->held && was) {
		log_warn("retention: lease lost (%s); another gateway may do the work",
			 pc_strerror(rc));
	} else if (rc == PC_EEXISTS && !rt->told_held_elsewhere) {
		log_info("retention: another gateway holds the lease");
		rt->told_held_elsewhere = true;
	}
}

/* Deletes a job's stored result (when it still has one); false when the store failed. */
static bool delete_object(struct retention *rt, const struct job *job)
{
	pc_err rc;

	if (!job->has_result || job->result_expired)
		return true;
	if (!rt->os) {
		rc = objstore_open(&rt->os, rt->gw->cfg.store_url);
		if (rc != PC_OK)
			goto out_warn;
	}
	rc = objstore_delete(rt->os, job->result_object);
	if (rc == PC_OK) {
		rt->store_warned = false;
		return true;
	}
out_warn:
	if (!rt->store_warned)
		log_warn("retention: cannot delete %s from the object store: %s%s%s; trying again",
			 job->result_object, pc_strerror(rc), rt->os ? " " : "",
			 rt->os ? objstore_errmsg(rt->os) : "");
	rt->store_warned = true;
	return false;
}

/* Expires one due id of `which`: its object, then its result mark or its record. False when
 * the pass should stop (Redis or the store failed). */
static bool expire_one(struct retention *rt, enum jobstore_retention_set which, const char *id,
		       int64_t cutoff)
{
	bool results = which == JOBSTORE_RETENTION_RESULTS;
	struct job job;
	pc_err rc = jobstore_job_get(rt->st, id, &job);

	if (rc != PC_OK && rc != PC_ENOTFOUND && rc != PC_EPROTO)
		return false;
	/* Only a job that is really due loses its object; the scripts check again. */
	if (rc == PC_OK && job_state_is_terminal(job.state) && job.finished_at_ms <= cutoff &&
	    !delete_object(rt, &job))
		return false;
	rc = results ? jobstore_result_expire(rt->st, id, cutoff)
		     : jobstore_job_expire(rt->st, id, cutoff);
	if (rc == PC_OK) {
		if (results)
			rt->results_done++;
		else
			rt->jobs_done++;
		log_info("job %s: %s expired", id, results ? "result" : "record");
	}
	return rc == PC_OK || rc == PC_ENOTFOUND || rc == PC_ECONFLICT;
}

/* Works through the due ids of one set until none is left or the budget is spent. False when
 * the pass should stop (budget, failure). */
static bool expire_set(struct retention *rt, enum jobstore_retention_set which, uint64_t ttl_s,
		       int64_t deadline)
{
	char ids[BATCH][JOB_ID_LEN + 1];
	size_t n = BATCH;

	if (ttl_s == 0)
		return true;
	while (n == BATCH) {
		/* A fresh cutoff per batch: jobs that come due meanwhile are taken too. */
		int64_t cutoff = job_now_ms() - (int64_t)ttl_s * 1000;

		if (pc_monotonic_ms() >= deadline || atomic_load(&rt->gw->stopping))
			return false;
		if (jobstore_retention_due(rt->st, which, cutoff, ids, BATCH, &n) != PC_OK)
			return false;
		for (size_t i = 0; i < n; i++) {
			if (!expire_one(rt, which, ids[i], cutoff))
				return false;
		}
	}
	return true;
}

/* Indexes jobs that ended before the retention indexes existed: a check now and then, and a
 * walk in bounded steps while one is under way. */
static void backfill(struct retention *rt, int64_t deadline)
{
	uint64_t missing = 0, added = 0;

	if (!rt->walking && pc_monotonic_ms() >= rt->next_check) {
		rt->next_check = pc_monotonic_ms() + BACKFILL_CHECK_MS;
		if (jobstore_retention_missing(rt->st, &missing) != PC_OK || missing == 0)
			return;
		log_info("retention: %" PRIu64 " ended job(s) not indexed yet; indexing them",
			 missing);
		memset(&rt->walk, 0, sizeof(rt->walk));
		rt->walking = true;
		rt->walk_added = 0;
	}
	while (rt->walking && !atomic_load(&rt->gw->stopping)) {
		if (jobstore_retention_backfill(rt->st, &rt->walk, BACKFILL_BATCH, &added) != PC_OK)
			return;
		rt->walk_added += added;
		if (rt->walk.done) {
			rt->walking = false;
			log_info("retention: indexed %" PRIu64 " ended job(s)", rt->walk_added);
		} else if (pc_monotonic_ms() >= deadline) {
			return;
		}
	}
}

/* One pass; true when work is left over for the next one at once. */
static bool pass(struct retention *rt)
{
	const struct gw_config *cfg = &rt->gw->cfg;
	int64_t deadline = pc_monotonic_ms() + PASS_BUDGET_MS;
	bool finished;

	rt->results_done = rt->jobs_done = 0;
	finished = expire_set(rt, JOBSTORE_RETENTION_RESULTS, cfg->result_ttl_s, deadline) &&
		   expire_set(rt, JOBSTORE_RETENTION_ENDED, cfg->job_ttl_s, deadline);
	/* At least one backfill step per pass, so that a long backlog cannot starve it. */
	backfill(rt, deadline);
	if (rt->results_done || rt->jobs_done)
		log_info("retention: %" PRIu64 " result(s) and %" PRIu64 " job record(s) deleted",
			 rt->results_done, rt->jobs_done);
	return !finished && pc_monotonic_ms() >= deadline;
}

void *gw_retention_main(void *arg)
{
	struct retention rt = {.gw = arg};
	bool more = false;

	if (jobstore_lease_token_new(rt.token) != PC_OK) {
		log_error("retention: no random token; results and jobs are not expired");
		return NULL;
	}
	while (!atomic_load(&rt.gw->stopping)) {
		if (gw_jobstore_connect(rt.gw, &rt.st) != PC_OK) {
			rt.held = false;
			gw_nap(rt.gw, PASS_INTERVAL_MS);
			continue;
		}
		hold_lease(&rt);
		more = rt.held && pass(&rt);
		if (!more)
			gw_nap(rt.gw, PASS_INTERVAL_MS);
	}
	/* Released at once, so that another gateway takes over without waiting out the TTL. */
	if (rt.held && jobstore_lease_release(rt.st, LEASE_NAME, rt.token) == PC_OK)
		log_info("retention: lease released");
	objstore_free(rt.os);
	jobstore_free(rt.st);
	return NULL;
}
