/* slurm_poll.c - the slurm backend's poll: what squeue, then accounting (sacct), say of jobs. */
#include "sched/slurm_int.h"
#include "sched/slurm_parse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "picluster/log.h"

#define IDS_PER_QUERY 500 /* keeps each -j argument far below the kernel's 128 KiB */

/* Builds "id1,id2,..." of the listed jobs' Slurm ids (caller frees). */
static char *join_ids(const struct job *jobs, const size_t *idx, size_t count)
{
	size_t cap = count * 21 + 1, len = 0;
	char *list = malloc(cap);

	if (!list)
		return NULL;
	list[0] = '\0';
	for (size_t k = 0; k < count; k++) {
		int w = snprintf(list + len, cap - len, "%s%s", k ? "," : "",
				 jobs[idx[k]].sched_job_id);
		if (w > 0)
			len += (size_t)w;
	}
	return list;
}

/*
 * One squeue for the listed jobs. Marks each found job's report; *seen[k] tells which were
 * listed. PC_EUNAVAILABLE when the controller did not answer.
 */
static pc_err query_squeue(struct slurm *sl, const struct job *jobs, size_t n, const size_t *idx,
			   size_t count, struct sched_report *reports, bool *seen)
{
	char *list = join_ids(jobs, idx, count);
	const char *argv[] = {"squeue", "-h", "-t", "all", "-j", list, "-O", SLURM_SQUEUE_FIELDS,
			      NULL};
	struct slurm_cmd_result res;
	pc_err rc;

	if (!list)
		return PC_ENOMEM;
	rc = slurm_cmd_run(sl->squeue, (char *const *)argv, sl->envp, QUERY_TIMEOUT_MS, &res);
	if (rc != PC_OK)
		goto out_free;
	if (res.exit_code != 0) {
		/* A lone id Slurm has forgotten: "Invalid job id specified". Nothing listed. */
		if (strstr(res.err, "Invalid job id")) {
			rc = PC_OK;
		} else {
			slurm_log_failure("squeue", NULL, &res);
			rc = PC_EUNAVAILABLE;
		}
		goto out_clear;
	}
	slurm_parse_listing(res.out, SLURM_LISTING_SQUEUE, jobs, n, idx, count, reports, seen);
out_clear:
	slurm_cmd_result_clear(&res);
out_free:
	free(list);
	return rc;
}

/*
 * Asks accounting about jobs that left the queue: sacct against slurmdbd, or `sacct -c`
 * (jobcomp/filetxt) where accounting storage is disabled. Jobs with no record at all are
 * reported ended: they left the queue without a state. PC_EUNAVAILABLE when the records
 * could not be read now.
 * With `listed`, the jobs are still in the queue, which said they ended without naming a
 * signal: accounting only refines that report (its DerivedExitCode names a task's signal that
 * the batch script's exit code hides); no record, or one that lags behind, keeps the queue's.
 */
static pc_err query_sacct(struct slurm *sl, const struct job *jobs, size_t n, const size_t *idx,
			  size_t count, struct sched_report *reports, bool listed)
{
	int mode = __atomic_load_n(&sl->acct_mode, __ATOMIC_RELAXED);
	bool *found = calloc(count ? count : 1, sizeof(*found));
	struct sched_report *queue = calloc(count ? count : 1, sizeof(*queue));
	char *list = join_ids(jobs, idx, count);
	struct slurm_cmd_result res = {.out = NULL};
	pc_err rc = PC_ENOMEM;

	if (!found || !queue || !list)
		goto out_free;
	for (size_t k = 0; k < count; k++)
		queue[k] = reports[idx[k]];
	rc = PC_OK;
	while (sl->sacct && mode != ACCT_NONE) {
		const char *db_argv[] = {
		    "sacct", "-n", "-P", "-X", "-j", list, "-o", SLURM_SACCT_FIELDS, NULL};
		const char *jc_argv[] = {
		    "sacct", "-c", "-n", "-P", "-j", list, "-o", SLURM_JOBCOMP_FIELDS, NULL};
		bool db = mode != ACCT_JOBCOMP;

		rc = slurm_cmd_run(sl->sacct, (char *const *)(db ? db_argv : jc_argv), sl->envp,
				   QUERY_TIMEOUT_MS, &res);
		if (rc != PC_OK)
			goto out_free;
		if (res.exit_code == 0)
			break;
		if (db && strstr(res.err, "accounting storage is disabled")) {
			mode = ACCT_JOBCOMP;
		} else if (!db && (strstr(res.err, "completion is disabled") ||
				   strstr(res.err, "jobcomp") || strstr(res.err, "JobComp") ||
				   strstr(res.err, "No such file"))) {
			/* "Slurm job completion is disabled": jobcomp/none, no records at all. */
			mode = ACCT_NONE;
		} else {
			slurm_log_failure("sacct", NULL, &res);
			rc = PC_EUNAVAILABLE;
			goto out_clear;
		}
		__atomic_store_n(&sl->acct_mode, mode, __ATOMIC_RELAXED);
		slurm_cmd_result_clear(&res);
	}
	if (mode != ACCT_NONE && mode != ACCT_UNKNOWN)
		__atomic_store_n(&sl->acct_mode, mode, __ATOMIC_RELAXED);
	/* The last record of a job wins (a requeued job has several). */
	slurm_parse_listing(res.out, SLURM_LISTING_SACCT, jobs, n, idx, count, reports, found);
	for (size_t k = 0; k < count; k++) {
		if (listed) {
			if (!found[k] || reports[idx[k]].fate != SCHED_ENDED)
				reports[idx[k]] = queue[k];
			continue;
		}
		/* Accounting may lag behind the controller; the queue said it is gone. */
		if (found[k] && reports[idx[k]].fate == SCHED_ALIVE)
			reports[idx[k]].fate = SCHED_UNKNOWN;
		if (found[k])
			continue;
		reports[idx[k]].fate = SCHED_ENDED;
		snprintf(reports[idx[k]].reason, sizeof(reports[idx[k]].reason),
			 "Slurm job %s left the Slurm queue without a state",
			 jobs[idx[k]].sched_job_id);
		/* Forgotten, e.g. by a controller that lost its last state in a crash. */
		reports[idx[k]].retry = true;
	}
out_clear:
	slurm_cmd_result_clear(&res);
out_free:
	free(list);
	free(queue);
	free(found);
	return rc;
}

/*
 * One squeue for every job (in chunks of IDS_PER_QUERY), then accounting for the jobs the
 * queue no longer lists, and for those it lists as ended without naming a signal (their
 * reason may be refined). Jobs without a Slurm id stay SCHED_UNKNOWN. When Slurm cannot be
 * reached, every report stays SCHED_UNKNOWN and PC_OK is returned: nothing is decided then.
 */
pc_err slurm_poll(sched *s, const struct job *jobs, size_t n, struct sched_report *reports)
{
	struct slurm *sl = s->backend;
	size_t *idx = calloc(n ? n : 1, sizeof(*idx));
	size_t *gone = calloc(n ? n : 1, sizeof(*gone));
	size_t *ended = calloc(n ? n : 1, sizeof(*ended));
	bool *seen = calloc(IDS_PER_QUERY, sizeof(*seen));
	size_t count = 0, n_gone = 0, n_ended = 0;
	pc_err rc = PC_ENOMEM;

	if (!idx || !gone || !ended || !seen)
		goto out_free;
	for (size_t i = 0; i < n; i++) {
		reports[i].fate = SCHED_UNKNOWN;
		reports[i].reason[0] = '\0';
		reports[i].retry = false;
		if (slurm_parse_is_job_id(jobs[i].sched_job_id))
			idx[count++] = i;
	}
	rc = PC_OK;
	for (size_t off = 0; off < count; off += IDS_PER_QUERY) {
		size_t chunk = count - off < IDS_PER_QUERY ? count - off : IDS_PER_QUERY;

		memset(seen, 0, IDS_PER_QUERY * sizeof(*seen));
		rc = query_squeue(sl, jobs, n, idx + off, chunk, reports, seen);
		if (rc == PC_EUNAVAILABLE) {
			for (size_t i = 0; i < n; i++)
				reports[i].fate = SCHED_UNKNOWN;
			rc = PC_OK;
			goto out_free;
		}
		if (rc != PC_OK)
			goto out_free;
		for (size_t k = 0; k < chunk; k++) {
			const struct sched_report *r = &reports[idx[off + k]];

			if (!seen[k])
				gone[n_gone++] = idx[off + k];
			else if (r->fate == SCHED_ENDED && !r->retry)
				ended[n_ended++] = idx[off + k];
		}
	}
	for (size_t off = 0; off < n_ended; off += IDS_PER_QUERY) {
		size_t chunk = n_ended - off < IDS_PER_QUERY ? n_ended - off : IDS_PER_QUERY;

		/* Best effort: unreadable accounting leaves the queue's reports as they are. */
		rc = query_sacct(sl, jobs, n, ended + off, chunk, reports, true);
		if (rc != PC_OK && rc != PC_EUNAVAILABLE)
			goto out_free;
		rc = PC_OK;
	}
	for (size_t off = 0; off < n_gone; off += IDS_PER_QUERY) {
		size_t chunk = n_gone - off < IDS_PER_QUERY ? n_gone - off : IDS_PER_QUERY;

		rc = query_sacct(sl, jobs, n, gone + off, chunk, reports, false);
		if (rc == PC_EUNAVAILABLE) {
			for (size_t k = off; k < n_gone; k++)
				reports[gone[k]].fate = SCHED_UNKNOWN;
			rc = PC_OK;
			break;
		}
		if (rc != PC_OK)
			goto out_free;
	}
out_free:
	free(seen);
	free(ended);
	free(gone);
	free(idx);
	return rc;
}
