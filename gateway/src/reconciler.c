/* reconciler.c - keeps Redis true to the scheduler: compute that died silently ends errored. */
#include "workers.h"

#include <stdlib.h>
#include <string.h>

#include "picluster/log.h"
#include "picluster/store.h"

/* Seconds between passes: a silent death is noticed within about this long. */
#define RECONCILE_INTERVAL_MS 1000

/*
 * One pass: read every queued and running job that this gateway's scheduler backend runs
 * (sched_name matches and a scheduler id is recorded), ask the scheduler about all of them at
 * once (sched_poll, which also reaps local children), and for each one the scheduler says has
 * ended while Redis still shows it live, move it to errored -- with `expect` set to the state
 * read, so a compute that reported finished in between wins and nothing is overwritten.
 * Jobs this gateway submitted or saw live are watched until they end; finished ones feed the
 * duration histogram.
 */
struct tracked {
	char (*ids)[JOB_ID_LEN + 1];
	size_t n;
};

static int cmp_id(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* Reads the live jobs of our backend into *jobs (new array). */
static pc_err load_live(struct gateway *gw, store *st, struct job **jobs, size_t *count)
{
	static const enum job_state live[] = {JOB_QUEUED, JOB_RUNNING};
	struct job *out = NULL;
	size_t n = 0, cap = 0;
	pc_err rc = PC_OK;

	*jobs = NULL;
	*count = 0;
	for (size_t s = 0; s < 2; s++) {
		char(*ids)[JOB_ID_LEN + 1] = NULL;
		size_t nids = 0;

		rc = store_ids_in_state(st, live[s], &ids, &nids);
		if (rc != PC_OK)
			goto out_free;
		for (size_t i = 0; i < nids; i++) {
			struct job job;

			rc = store_job_get(st, ids[i], &job);
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

/* Appends ids to the tracked set (kept sorted and without duplicates). */
static void track(struct tracked *t, char (*ids)[JOB_ID_LEN + 1], size_t n)
{
	char(*grown)[JOB_ID_LEN + 1];
	size_t w = 0;

	if (!n)
		return;
	grown = realloc(t->ids, (t->n + n) * sizeof(*grown));
	if (!grown)
		return; /* metrics only: skip this batch */
	memcpy(grown + t->n, ids, n * sizeof(*grown));
	t->ids = grown;
	t->n += n;
	qsort(t->ids, t->n, sizeof(t->ids[0]), cmp_id);
	for (size_t i = 0; i < t->n; i++)
		if (w == 0 || strcmp(t->ids[w - 1], t->ids[i]) != 0)
			memmove(t->ids[w++], t->ids[i], sizeof(t->ids[0]));
	t->n = w;
}

/* Tracked jobs that are not live any more: finished ones feed the duration histogram, and
 * every ended one leaves the set. Jobs not live yet (created) stay. */
static void observe_departures(struct gateway *gw, store *st, struct tracked *t,
			       const struct tracked *live)
{
	size_t w = 0;

	for (size_t i = 0; i < t->n; i++) {
		struct job job;
		pc_err rc;

		if (live->n &&
		    bsearch(t->ids[i], live->ids, live->n, sizeof(live->ids[0]), cmp_id)) {
			memmove(t->ids[w++], t->ids[i], sizeof(t->ids[0]));
			continue;
		}
		rc = store_job_get(st, t->ids[i], &job);
		if (rc == PC_OK && job_state_is_terminal(job.state)) {
			if (job.state == JOB_FINISHED && job.started_at_ms && job.finished_at_ms)
				gw_metrics_observe_duration(&gw->metrics,
							    job.finished_at_ms - job.started_at_ms);
			continue;
		}
		if (rc == PC_ENOTFOUND)
			continue;
		memmove(t->ids[w++], t->ids[i], sizeof(t->ids[0]));
	}
	t->n = w;
}

static void settle(struct gateway *gw, store *st, const struct job *job,
		   const struct sched_report *rep)
{
	const enum job_state expect = job->state;
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
		upd.error_message = rep->reason[0] ? rep->reason
						   : "the compute ended without "
						     "reporting";
	}
	rc = store_job_transition(st, job->id, to, &expect, &upd, NULL);
	if (rc == PC_OK)
		gw_note_transition(gw, job->id, job_state_name(expect), to, upd.error_message);
	else if (rc != PC_ECONFLICT)
		log_warn("job %s: reconcile failed: %s", job->id, pc_strerror(rc));
}

static void pass(struct gateway *gw, store *st, struct tracked *watched)
{
	struct sched_report *reports = NULL;
	struct job *jobs = NULL;
	struct tracked cur = {NULL, 0};
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
		cur.ids = calloc(n, sizeof(*cur.ids));
		if (!reports || !cur.ids)
			goto out_free;
	}
	rc = sched_poll(gw->sched, jobs, n, reports);
	if (rc != PC_OK)
		goto out_free;
	for (size_t i = 0; i < n; i++) {
		memcpy(cur.ids[i], jobs[i].id, sizeof(cur.ids[i]));
		if (reports[i].fate == SCHED_ENDED || reports[i].fate == SCHED_CANCELLED)
			settle(gw, st, &jobs[i], &reports[i]);
	}
	cur.n = n;
	if (cur.n)
		qsort(cur.ids, cur.n, sizeof(cur.ids[0]), cmp_id);
	gw_watch_drain(gw, &fresh, &nfresh);
	track(watched, fresh, nfresh);
	track(watched, cur.ids, cur.n);
	free(fresh);
	observe_departures(gw, st, watched, &cur);
out_free:
	free(cur.ids);
	free(reports);
	free(jobs);
}

void *gw_reconciler_main(void *arg)
{
	struct gateway *gw = arg;
	struct tracked watched = {NULL, 0};
	store *st = NULL;

	while (!atomic_load(&gw->stopping)) {
		if (!st && store_open(&st, gw->cfg.redis_url, gw->cfg.key_prefix,
				      GW_REDIS_TIMEOUT_MS) != PC_OK) {
			sched_poll(gw->sched, NULL, 0, NULL);
			gw_nap(gw, RECONCILE_INTERVAL_MS);
			continue;
		}
		pass(gw, st, &watched);
		gw_nap(gw, RECONCILE_INTERVAL_MS);
	}
	free(watched.ids);
	store_free(st);
	return NULL;
}
