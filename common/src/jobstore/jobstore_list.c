/* jobstore_list.c - reading many jobs: pages of the listing, counts by state, ids in a state. */
#include "jobstore_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "picluster/log.h"

/*
 * The list cursor is "<created_at_ms>_<id>" of the last job on the page: the next page
 * starts strictly after it in (created_at desc, id desc) order, which is a total order, so
 * jobs created in the same millisecond are neither skipped nor repeated, and the cursor
 * stays valid when that job changes state or leaves the filtered set.
 */
static pc_err parse_cursor(const char *cursor, char score[24], char id[JOB_ID_LEN + 1])
{
	size_t n = 0;

	while (cursor[n] >= '0' && cursor[n] <= '9')
		n++;
	if (n == 0 || n > 19 || cursor[n] != '_' || !job_id_is_valid(cursor + n + 1))
		return PC_EINVAL;
	memcpy(score, cursor, n);
	score[n] = '\0';
	memcpy(id, cursor + n + 1, JOB_ID_LEN + 1);
	return PC_OK;
}

/* The cursor after the job `id` whose score (created_at) Redis wrote as `score`. */
static pc_err format_cursor(const char *score, const char *id, char *out, size_t cap)
{
	char *end;
	double s = strtod(score, &end);
	int w;

	if (end == score || s < 0 || s > 9e18)
		return PC_EPROTO;
	w = snprintf(out, cap, "%" PRId64 "_%s", (int64_t)s, id);
	if (w < 0 || (size_t)w >= cap)
		return PC_ERANGE;
	return PC_OK;
}

#define LIST_LIMIT_MAX 10000

/*
 * The list script's reply, (id, score, HGETALL) triples of up to limit + 1 jobs, as the page:
 * *jobs (malloc'd, NULL when empty) and *count; a job gone meanwhile or unreadable is skipped.
 * When there are more, next_cursor gets the cursor after the page's last job. A last triple
 * (id, score, "MORE") says the script stopped reading at id: the page may be short, and the
 * next one starts after id.
 */
static pc_err read_page(const redisReply *r, size_t limit, struct job **jobs, size_t *count,
			char *next_cursor, size_t next_cursor_cap)
{
	struct job *out;
	size_t n = 0, entries;
	pc_err err = PC_OK;

	if (r->type != REDIS_REPLY_ARRAY || r->elements % 3)
		return PC_EPROTO;
	entries = r->elements / 3;
	if (entries == 0)
		return PC_OK;
	out = calloc(entries < limit ? entries : limit, sizeof(*out));
	if (!out)
		return PC_ENOMEM;
	for (size_t i = 0; i < entries && i < limit; i++) {
		const redisReply *idr = r->element[3 * i], *sc = r->element[3 * i + 1];
		pc_err perr;

		if (idr->type != REDIS_REPLY_STRING || sc->type != REDIS_REPLY_STRING) {
			err = PC_EPROTO;
			goto out_free_jobs;
		}
		if (r->element[3 * i + 2]->type == REDIS_REPLY_STRING) {
			/* "MORE": the scan budget ran out here. */
			err = next_cursor
				  ? format_cursor(sc->str, idr->str, next_cursor, next_cursor_cap)
				  : PC_OK;
			if (err)
				goto out_free_jobs;
			break;
		}
		perr = jobstore_parse_job(r->element[3 * i + 2], &out[n]);
		if (perr == PC_OK) {
			n++;
		} else if (perr != PC_ENOTFOUND) {
			/* A job hash that cannot be read is skipped, not fatal for the page. */
			log_warn("jobstore: skipping unreadable job %s in listing", idr->str);
		}
		if (i + 1 == limit && entries > limit && next_cursor) {
			err = format_cursor(sc->str, idr->str, next_cursor, next_cursor_cap);
			if (err)
				goto out_free_jobs;
		}
	}
	if (n == 0) {
		free(out);
		out = NULL;
	}
	*jobs = out;
	*count = n;
	return PC_OK;

out_free_jobs:
	free(out);
	if (next_cursor && next_cursor_cap)
		next_cursor[0] = '\0';
	return err;
}

pc_err jobstore_owner_key(const jobstore *st, const char *owner, char *out, size_t cap)
{
	int n;

	if (!owner[0]) {
		out[0] = '\0';
		return PC_OK;
	}
	if (!jobstore_key_name_is_valid(owner))
		return PC_EINVAL;
	n = snprintf(out, cap, "%sowner:%s:jobs", st->prefix, owner);
	return n > 0 && (size_t)n < cap ? PC_OK : PC_EINVAL;
}

pc_err jobstore_job_list(jobstore *st, const char *owner, const enum job_state *filter,
			 size_t limit, const char *cursor, struct job **jobs, size_t *count,
			 char *next_cursor, size_t next_cursor_cap)
{
	char score[24] = "", cid[JOB_ID_LEN + 1] = "", want[24];
	char owner_key[JOBSTORE_KEY_MAX];
	struct jobstore_args a = {.n = 2};
	redisReply *r;
	pc_err err;

	*jobs = NULL;
	*count = 0;
	if (next_cursor && next_cursor_cap)
		next_cursor[0] = '\0';
	if (limit == 0 || limit > LIST_LIMIT_MAX ||
	    (filter && (unsigned)*filter >= JOB_STATE_COUNT))
		return PC_EINVAL;
	if (cursor && cursor[0] && parse_cursor(cursor, score, cid) != PC_OK)
		return PC_EINVAL;
	if (owner && (!owner[0] || jobstore_owner_key(st, owner, owner_key, sizeof(owner_key))))
		return PC_EINVAL;
	snprintf(want, sizeof(want), "%zu", limit + 1);
	jobstore_arg(&a, "1");
	if (owner)
		jobstore_arg(&a, owner_key);
	else
		jobstore_arg(&a, filter ? st->state_key[*filter] : st->jobs_key);
	jobstore_arg(&a, want);
	jobstore_arg(&a, score);
	jobstore_arg(&a, cid);
	jobstore_arg(&a, st->job_key_prefix);
	/* An owner's page walks that owner's index, checking the state of each job. */
	if (owner)
		jobstore_arg(&a, filter ? job_state_name(*filter) : "");
	err = jobstore_eval(st, owner ? JOBSTORE_SCRIPT_LIST_FILTERED : JOBSTORE_SCRIPT_LIST, a.n,
			    a.v, a.len, JOBSTORE_RETRY_SAFE, -1, &r);
	if (err)
		return err;
	err = read_page(r, limit, jobs, count, next_cursor, next_cursor_cap);
	freeReplyObject(r);
	return err;
}

pc_err jobstore_count_by_state(jobstore *st, uint64_t counts[JOB_STATE_COUNT])
{
	struct jobstore_args a = {.n = 2};
	redisReply *r;
	pc_err err;

	jobstore_arg(&a, "6");
	for (int s = 0; s < JOB_STATE_COUNT; s++)
		jobstore_arg(&a, st->state_key[s]);
	err =
	    jobstore_eval(st, JOBSTORE_SCRIPT_COUNTS, a.n, a.v, a.len, JOBSTORE_RETRY_SAFE, -1, &r);
	if (err)
		return err;
	if (r->type != REDIS_REPLY_ARRAY || r->elements != JOB_STATE_COUNT) {
		err = PC_EPROTO;
		goto out_free_reply;
	}
	for (int s = 0; s < JOB_STATE_COUNT; s++) {
		if (r->element[s]->type != REDIS_REPLY_INTEGER || r->element[s]->integer < 0) {
			err = PC_EPROTO;
			goto out_free_reply;
		}
		counts[s] = (uint64_t)r->element[s]->integer;
	}

out_free_reply:
	freeReplyObject(r);
	return err;
}

pc_err jobstore_ids_in_state(jobstore *st, enum job_state state, char (**ids)[JOB_ID_LEN + 1],
			     size_t *count)
{
	const char *argv[4] = {"ZRANGE", NULL, "0", "-1"};
	size_t lens[4] = {6, 0, 1, 2};
	char(*out)[JOB_ID_LEN + 1] = NULL;
	size_t n = 0;
	redisReply *r;
	pc_err err;

	*ids = NULL;
	*count = 0;
	if ((unsigned)state >= JOB_STATE_COUNT)
		return PC_EINVAL;
	argv[1] = st->state_key[state];
	lens[1] = strlen(argv[1]);
	err = jobstore_call(st, 4, argv, lens, JOBSTORE_RETRY_SAFE, -1, &r);
	if (err)
		return err;
	if (r->type != REDIS_REPLY_ARRAY) {
		err = PC_EPROTO;
		goto out_free_reply;
	}
	if (r->elements == 0)
		goto out_free_reply;
	out = calloc(r->elements, sizeof(*out));
	if (!out) {
		err = PC_ENOMEM;
		goto out_free_reply;
	}
	for (size_t i = 0; i < r->elements; i++) {
		const redisReply *e = r->element[i];

		if (e->type != REDIS_REPLY_STRING || !job_id_is_valid(e->str))
			continue;
		memcpy(out[n++], e->str, JOB_ID_LEN + 1);
	}
	if (n == 0) {
		free(out);
		out = NULL;
	}
	*ids = out;
	*count = n;

out_free_reply:
	freeReplyObject(r);
	return err;
}
