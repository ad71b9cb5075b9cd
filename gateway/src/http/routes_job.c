/* routes_job.c - GET and DELETE /job/<id>, GET /jobs: the job resource. */
#include "http/http.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/request.h"
#include "picluster/jobpool.h"
#include "picluster/log.h"
#include "workers/workers.h"

#define LIST_DEFAULT_LIMIT 50
#define LIST_MAX_LIMIT	   1000

void http_send_job(struct http_req *r, int status, const struct job *job, const char *headers)
{
	struct job shown = *job;
	json_t *j;

	gw_retention_annotate(r->gw, &shown); /* result.expires_at */
	j = job_to_json(&shown);

	if (!j) {
		http_send_error(r, 500, "internal", NULL, "out of memory");
		return;
	}
	http_send_json(r, status, j, headers);
	json_decref(j);
}

void http_route_job_get(struct http_req *r)
{
	struct job job;

	if (http_job_load(r, &job))
		http_send_job(r, 200, &job, NULL);
}

/*
 * Ends a cancelled job's compute, every rank of it, when it runs under this gateway's
 * scheduler; then nothing can still be writing its result, and what a killed writer left in
 * the store (a temporary file, an incomplete upload) is removed. A compute this gateway cannot
 * reach (another backend, an API-only gateway) stops by itself: rank 0 of pi-compute checks
 * the job's state every 250 ms, and on "cancelled" removes its partial object and ends every
 * rank with MPI_Abort (cluster/src/pi_job.c). A pool worker does the same (it checks the
 * state while it computes): there is no process of the job to end, and its partial object is
 * its own to remove (it may still be writing it).
 */
static void end_compute(struct http_req *r, const struct job *job)
{
	pc_err rc;

	if (!job->sched_job_id[0])
		return; /* never submitted: its queued -> running will be refused */
	if (strcmp(job->sched_name, JOBPOOL_SCHED_NAME) == 0)
		return;
	rc = sched_cancel(r->gw->sched, job);
	if (rc != PC_OK) {
		log_warn("job %s: cancel of %s job %s failed: %s", r->id, job->sched_name,
			 job->sched_job_id, pc_strerror(rc));
		return;
	}
	if (strcmp(job->sched_name, sched_name(r->gw->sched)) != 0)
		return; /* e.g. an API-only gateway: its cancel ended nothing */
	/* The thread's object-store handle, opened here without answering on failure: the
	 * DELETE itself succeeded. r->thr is set: http_job_load needed it. */
	gw_discard_partial(r->gw, &r->thr->os, job->id);
}

void http_route_job_delete(struct http_req *r)
{
	struct job job;
	jobstore *st = http_job_load(r, &job);
	char from[16];
	pc_err rc;

	if (!st)
		return;
	snprintf(from, sizeof(from), "%s", job_state_name(job.state));
	if (!job_state_is_terminal(job.state))
		rc = jobstore_job_transition(st, r->id, JOB_CANCELLED, NULL, NULL, &job);
	else
		rc = PC_ECONFLICT;
	if (rc == PC_ECONFLICT) {
		http_send_error(r, 409, "job_terminal", NULL,
				"job %s is already %s; only created, queued or running jobs can "
				"be cancelled",
				r->id, job_state_name(job.state));
		return;
	}
	if (rc != PC_OK) {
		http_send_pc_error(r, rc, r->id);
		return;
	}
	gw_note_transition(r->gw, r->id, from, JOB_CANCELLED, "DELETE over HTTP");
	/* Redis says cancelled first, so a compute that has not started yet never will (its
	 * queued -> running is refused); then end whatever already runs. */
	end_compute(r, &job);
	http_send_job(r, 200, &job, NULL);
}

/* Parses limit: 1..LIST_MAX_LIMIT. */
static bool parse_limit(const char *s, size_t *out)
{
	char *end;
	unsigned long v;

	if (s[0] < '0' || s[0] > '9')
		return false;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v < 1 || v > LIST_MAX_LIMIT)
		return false;
	*out = v;
	return true;
}

void http_route_jobs_list(struct http_req *r)
{
	const char *q = r->ri->query_string;
	char state_s[32], limit_s[32], cursor[256], next[256], owner[API_KEY_NAME_MAX + 2];
	const char *only = NULL;
	enum job_state state;
	const enum job_state *filter = NULL;
	size_t limit = LIST_DEFAULT_LIMIT, count = 0;
	struct job *jobs = NULL;
	json_t *root, *arr;
	jobstore *st;
	pc_err rc;

	/* An empty value (state=&limit=) means the parameter's default. */
	rc = http_query_param(q, "state", state_s, sizeof(state_s));
	if (rc == PC_OK && state_s[0]) {
		if (job_state_parse(state_s, &state) != PC_OK) {
			http_send_error(r, 400, "invalid_query", NULL,
					"state must be one of created, queued, running, "
					"finished, errored, cancelled");
			return;
		}
		filter = &state;
	} else if (rc != PC_OK && rc != PC_ENOTFOUND) {
		http_send_error(r, 400, "invalid_query", NULL, "malformed state");
		return;
	}
	rc = http_query_param(q, "limit", limit_s, sizeof(limit_s));
	if (rc == PC_OK && !limit_s[0])
		rc = PC_ENOTFOUND;
	if (rc == PC_OK ? !parse_limit(limit_s, &limit) : rc != PC_ENOTFOUND) {
		http_send_error(r, 400, "invalid_query", NULL, "limit must be from 1 to %d",
				LIST_MAX_LIMIT);
		return;
	}
	rc = http_query_param(q, "cursor", cursor, sizeof(cursor));
	if (rc == PC_ENOTFOUND) {
		cursor[0] = '\0';
	} else if (rc != PC_OK) {
		http_send_error(r, 400, "invalid_cursor", NULL, "malformed cursor");
		return;
	}
	/* owner=NAME filters; a key that is not an admin key lists only its own jobs, and may
	 * name only itself. */
	rc = http_query_param(q, "owner", owner, sizeof(owner));
	if (rc == PC_OK && owner[0]) {
		if (!jobstore_key_name_is_valid(owner)) {
			http_send_error(r, 400, "invalid_query", NULL,
					"owner must be a key name: 1 to %d of A-Za-z0-9._-",
					API_KEY_NAME_MAX);
			return;
		}
		only = owner;
	} else if (rc != PC_OK && rc != PC_ENOTFOUND) {
		http_send_error(r, 400, "invalid_query", NULL, "malformed owner");
		return;
	}
	if (!r->admin) {
		if (only && strcmp(only, r->key_name) != 0) {
			http_send_error(r, 403, "forbidden", NULL,
					"only an admin key may list the jobs of another key");
			return;
		}
		only = r->key_name;
	}
	st = http_store(r);
	if (!st)
		return;
	next[0] = '\0';
	rc = jobstore_job_list(st, only, filter, limit, cursor, &jobs, &count, next, sizeof(next));
	if (rc == PC_EINVAL) {
		http_send_error(r, 400, "invalid_cursor", NULL,
				"cursor is not one this server handed out");
		return;
	}
	if (rc != PC_OK) {
		http_send_pc_error(r, rc, "list jobs");
		return;
	}
	root = json_object();
	arr = json_array();
	if (!root || !arr)
		goto out_nomem;
	for (size_t i = 0; i < count; i++) {
		gw_retention_annotate(r->gw, &jobs[i]); /* result.expires_at */
		if (json_array_append_new(arr, job_to_json(&jobs[i])) != 0)
			goto out_nomem;
	}
	if (json_object_set(root, "jobs", arr) != 0 ||
	    json_object_set_new(root, "next_cursor", next[0] ? json_string(next) : json_null()) !=
		0)
		goto out_nomem;
	http_send_json(r, 200, root, NULL);
	goto out_free;
out_nomem:
	http_send_error(r, 500, "internal", NULL, "out of memory");
out_free:
	json_decref(arr);
	json_decref(root);
	free(jobs);
}
