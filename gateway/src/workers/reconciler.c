/* reconciler.c - keeps Redis true to the scheduler: compute that died silently ends errored. */
#include "workers/workers.h"

#include <stdlib.h>
#include <string.h>

#include "picluster/log.h"
#include "picluster/objstore.h"
#include "picluster/jobstore.h"

/* Seconds between passes: a silent death is noticed within about this long. */
#define RECONCILE_INTERVAL_MS 1000

/* How often one gateway submits a job again whose compute ended before it started. */
#define RESUBMIT_MAX 2

/*
 * One pass: read every queued and running job that this gateway's scheduler backend runs
 * (sched_name matches and a scheduler id is recorded), ask the scheduler about all of them at
 * once (sched_poll, which also reaps local children), and for each one the scheduler says has
 * ended while Redis still shows it live, move it to errored -- with `expect` set to the state
 * read, so a compute that reported finished in between wins and nothing is overwritten. A job
 * still queued then never ran, and is submitted again instead (resubmit, below).
 * Jobs this gateway submitted or saw live are watched until they end: each state change the
 * compute reports (queued -> running, running -> finished or errored) gets its log line here,
 * and finished ones feed the duration histogram.
 */
struct watched_job {
	char id[JOB_ID_LEN + 1]; /* first: entries sort and search by id */
	enum job_state state;	 /* as last seen */
	bool live;		 /* queued or running in this pass */
	unsigned resubmits;	 /* times this gateway submitted it again (resubmit) */
};

struct tracked {
	struct watched_job *jobs; /* sorted by id, no duplicates */
	size_t n;
};

static int cmp_id(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* Reads the live jobs of our backend into *jobs (new array). */
static pc_err load_live(struct gateway *gw, jobstore *st, struct job **jobs, size_t *count)
{
	/* Running first: a job only ever moves queued -> running, so one that moves between the
	 * two reads is seen at most once (read queued first, it was listed twice, and the copy
	 * that the scheduler's answer did not cover was ended errored although it ran). */
	static const enum job_state live[] = {JOB_RUNNING, JOB_QUEUED};
	struct job *out = NULL;
	size_t n = 0, cap = 0;
	pc_err rc = PC_OK;

	*jobs = NULL;
	*count = 0;
	for (size_t s = 0; s < 2; s++) {
		char(*ids)[JOB_ID_LEN + 1] = NULL;
		size_t nids = 0;

		rc = jobstore_ids_in_state(st, live[s], &ids, &nids);
		if (rc != PC_OK)
			goto out_free;
		for (size_t i = 0; i < nids; i++) {
			struct job job;

			rc = jobstore_job_get(st, ids[i], &job);
			if (rc == PC_ENOTFOUND)
				continue;
			if (rc != PC_OK) {
				free(ids);
				goto out_free;
			}
			if (job.state != live[s] || !job.sched_job_id[0] ||
			    strcmp(job.sched_name, sched_name(gw->sched)) != 0)
				continue;
			if (n == cap) {
				size_t ncap = cap ? cap * 2 : 32;
				struct job *t = realloc(out, ncap * sizeof(*t));

				if (!t) {
					free(ids);
					rc = PC_ENOMEM;
					goto out_free;
				}
				out = t;
				cap = ncap;
			}
			out[n++] = job;
		}
		free(ids);
	}
	*jobs = out;
	*count = n;
	return PC_OK;
out_free:
	free(out);
	return rc;
}

static struct watched_job *find(const struct tracked *t, const char *id)
{
	return t->n ? bsearch(id, t->jobs, t->n, sizeof(t->jobs[0]), cmp_id) : NULL;
}

/* Adds the entries whose id is not tracked yet, keeping the set sorted by id. */
static void track(struct tracked *t, const struct watched_job *add, size_t n)
{
	struct watched_job *grown;
	size_t old = t->n, m = t->n, w = 0;

	if (!n)
		return;
	grown = realloc(t->jobs, (t->n + n) * sizeof(*grown));
	if (!grown)
		return; /* logs and metrics only: skip this batch */
	t->jobs = grown;
	for (size_t i = 0; i < n; i++)
		if (!old || !bsearch(add[i].id, grown, old, sizeof(grown[0]), cmp_id))
			grown[m++] = add[i];
	qsort(grown, m, sizeof(grown[0]), cmp_id);
	for (size_t i = 0; i < m; i++)
		if (w == 0 || strcmp(grown[w - 1].id, grown[i].id) != 0)
			grown[w++] = grown[i];
	t->n = w;
}

/* Logs a state change the compute (or another gateway) wrote, as this gateway saw it. */
static void note_seen(const struct watched_job *was, const struct job *now)
{
	if (now->state == JOB_ERRORED)
		log_info("job %s: %s -> errored (seen): %s: %s", now->id,
			 job_state_name(was->state), now->error_code, now->error_message);
	else if (now->state == JOB_FINISHED)
		log_info("job %s: %s -> finished (seen): %llu bytes in %.3f s", now->id,
			 job_state_name(was->state), (unsigned long long)now->result_bytes,
			 (double)(now->finished_at_ms - now->started_at_ms) / 1000.0);
	else
		log_info("job %s: %s -> %s (seen)", now->id, job_state_name(was->state),
			 job_state_name(now->state));
}

/*
 * Updates the tracked set from this pass: live jobs (sorted by id) refresh their entry,
 * logging a change; entries no longer live are read once more, and those that ended are
 * logged (unless this gateway wrote the end itself), observed and dropped. Entries of jobs
 * not live yet (created) stay.
 */
static void update_tracked(struct gateway *gw, jobstore *st, struct tracked *t,
			   const struct job *live, size_t nlive)
{
	size_t w = 0;

	for (size_t i = 0; i < t->n; i++)
		t->jobs[i].live = false;
	for (size_t i = 0; i < nlive; i++) {
		struct watched_job *e = find(t, live[i].id);

		if (!e)
			continue;
		e->live = true;
		if (e->state != live[i].state) {
			note_seen(e, &live[i]);
			e->state = live[i].state;
		}
	}
	for (size_t i = 0; i < t->n; i++) {
		struct watched_job *e = &t->jobs[i];
		struct job job;
		pc_err rc;

		if (e->live) {
			t->jobs[w++] = *e;
			continue;
		}
		rc = jobstore_job_get(st, e->id, &job);
		if (rc == PC_ENOTFOUND)
			continue;
		if (rc != PC_OK || !job_state_is_terminal(job.state)) {
			t->jobs[w++] = *e;
			continue;
		}
		/* Cancelled by an API call and compute_lost by our own reconcile are logged
		 * where they were written. */
		if (job.state == JOB_FINISHED ||
		    (job.state == JOB_ERRORED && strcmp(job.error_code, "compute_lost") != 0))
			note_seen(e, &job);
		if (job.state == JOB_FINISHED && job.started_at_ms && job.finished_at_ms)
			http_metrics_observe_duration(&gw->metrics,
						      job.finished_at_ms - job.started_at_ms);
	}
	t->n = w;
}

static void settle(struct gateway *gw, jobstore *st, objstore **os, const struct job *job,
		   const struct sched_report *rep, unsigned resubmits)
{
	const enum job_state expect = job->state;
	char message[JOB_ERROR_MESSAGE_MAX];
	struct job_update upd;
	enum job_state to;
	pc_err rc;

	memset(&upd, 0, sizeof(upd));
	if (rep->fate == SCHED_CANCELLED) {
		to = JOB_CANCELLED;
	} else {
		to = JOB_ERRORED;
		upd.set_error = true;
		upd.error_code = "compute_lost";
		snprintf(message, sizeof(message), "%s%s",
			 rep->reason[0] ? rep->reason : "the compute ended without reporting",
			 resubmits ? "; it never started, also after submitting it again" : "");
		upd.error_message = message;
	}
	rc = jobstore_job_transition(st, job->id, to, &expect, &upd, NULL);
	if (rc == PC_OK) {
		gw_note_transition(gw, job->id, job_state_name(expect), to, upd.error_message);
		/* The scheduler says the compute is over: nothing can still be writing what a
		 * killed writer left in the store. */
		gw_discard_partial(gw, os, job->id);
	} else if (rc != PC_ECONFLICT)
		log_warn("job %s: reconcile failed: %s", job->id, pc_strerror(rc));
}

/*
 * A queued job whose compute was ended from outside (rep->retry) before it reported running
 * never ran: killed while it started, its node failed, or forgotten by a Slurm controller that
 * lost its last seconds of state in a crash. An exit code or a time limit is not retried.
 * Rather than failing the user's job, submit it again, at most RESUBMIT_MAX times (counted per
 * gateway; a restart counts anew, so a job that keeps dying still ends errored). True when the
 * job needs no settling now: submitted again, or the scheduler cannot take it yet (asked again
 * next pass). The state is read again first: the compute writes everything before it exits,
 * so a job still queued after the scheduler saw the exit was never taken by any compute.
 */
static bool resubmit(struct gateway *gw, jobstore *st, const struct job *seen,
		     const struct sched_report *rep, struct watched_job *entry)
{
	char sched_id[JOB_SCHED_ID_MAX], message[JOB_ERROR_MESSAGE_MAX] = "";
	struct job job;
	pc_err rc;

	if (seen->state != JOB_QUEUED || rep->fate != SCHED_ENDED || !rep->retry || !entry ||
	    entry->resubmits >= RESUBMIT_MAX)
		return false;
	rc = jobstore_job_get(st, seen->id, &job);
	if (rc != PC_OK || job.state != JOB_QUEUED ||
	    strcmp(job.sched_job_id, seen->sched_job_id) != 0)
		return rc != PC_ENOTFOUND; /* changed meanwhile: the next pass sees it anew */
	if (!sched_has_capacity(gw->sched))
		return true;
	rc = sched_submit(gw->sched, &job, sched_id, sizeof(sched_id), message, sizeof(message));
	if (rc == PC_ESCHED) {
		log_warn("job %s: %s; submitting it again was refused: %s", job.id, rep->reason,
			 message);
		return false;
	}
	if (rc != PC_OK) {
		log_warn("job %s: %s; cannot submit it again now: %s", job.id, rep->reason,
			 pc_strerror(rc));
		return true;
	}
	entry->resubmits++;
	log_warn("job %s: %s before its compute started: submitted again (%u of %d)", job.id,
		 rep->reason[0] ? rep->reason : "the compute ended", entry->resubmits,
		 RESUBMIT_MAX);
	gw_record_submission(gw, st, &job, sched_id);
	return true;
}

static void pass(struct gateway *gw, jobstore *st, objstore **os, struct tracked *watched)
{
	struct sched_report *reports = NULL;
	struct watched_job *add = NULL;
	struct job *jobs = NULL;
	char(*fresh)[JOB_ID_LEN + 1] = NULL;
	size_t n = 0, nfresh = 0;
	pc_err rc;

	rc = load_live(gw, st, &jobs, &n);
	if (rc != PC_OK) {
		/* Still reap children so none stays a zombie while Redis is away. */
		sched_poll(gw->sched, NULL, 0, NULL);
		return;
	}
	if (n) {
		reports = calloc(n, sizeof(*reports));
		if (!reports)
			goto out_free;
	}
	rc = sched_poll(gw->sched, jobs, n, reports);
	if (rc != PC_OK)
		goto out_free;

	/* Jobs the submitter handed over since the last pass (they were queued then), and live
	 * jobs not watched yet (adopted after a restart, or submitted by another gateway). */
	gw_watch_drain(gw, &fresh, &nfresh);
	add = calloc(nfresh + n + 1, sizeof(*add));
	if (!add)
		goto out_free;
	for (size_t i = 0; i < nfresh; i++) {
		memcpy(add[i].id, fresh[i], sizeof(add[i].id));
		add[i].state = JOB_QUEUED;
	}
	for (size_t i = 0; i < n; i++) {
		memcpy(add[nfresh + i].id, jobs[i].id, sizeof(add[0].id));
		add[nfresh + i].state = jobs[i].state;
	}
	/* Fresh entries go first so that an id both fresh and live starts at queued, and the
	 * change to running is logged by update_tracked. */
	track(watched, add, nfresh);
	track(watched, add + nfresh, n);

	for (size_t i = 0; i < n; i++) {
		struct watched_job *entry = find(watched, jobs[i].id);

		if (reports[i].fate != SCHED_ENDED && reports[i].fate != SCHED_CANCELLED)
			continue;
		if (!resubmit(gw, st, &jobs[i], &reports[i], entry))
			settle(gw, st, os, &jobs[i], &reports[i], entry ? entry->resubmits : 0);
	}
	update_tracked(gw, st, watched, jobs, n);
out_free:
	free(add);
	free(fresh);
	free(reports);
	free(jobs);
}

void *gw_reconciler_main(void *arg)
{
	struct gateway *gw = arg;
	struct tracked watched = {NULL, 0};
	objstore *os = NULL;
	jobstore *st = NULL;

	while (!atomic_load(&gw->stopping)) {
		if (gw_jobstore_connect(gw, &st) != PC_OK) {
			sched_poll(gw->sched, NULL, 0, NULL);
			gw_nap(gw, RECONCILE_INTERVAL_MS);
			continue;
		}
		pass(gw, st, &os, &watched);
		gw_nap(gw, RECONCILE_INTERVAL_MS);
	}
	free(watched.jobs);
	objstore_free(os);
	jobstore_free(st);
	return NULL;
}
