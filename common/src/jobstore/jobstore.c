/* jobstore.c - jobs in Redis: create, read, atomic transitions, listing and the submit queue. */
#include "jobstore_int.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "picluster/log.h"

#define DEFAULT_PREFIX	    "picluster:"
#define DEFAULT_TIMEOUT_MS  2000
#define OWNER_MAX	    64
#define TAKE_TIMEOUT_MAX_MS 3600000 /* an hour: keeps the socket timeout sum in range */

/* "<prefix><what><name>"; the key buffers are sized for the longest prefix and name. */
static pc_err key_of(const jobstore *st, char *out, size_t cap, const char *what, const char *name)
{
	int n = snprintf(out, cap, "%s%s%s", st->prefix, what, name);

	return n > 0 && (size_t)n < cap ? PC_OK : PC_EINVAL;
}

pc_err jobstore_open(jobstore **out, const char *url, const char *prefix, int timeout_ms)
{
	jobstore *st;
	pc_err err;

	*out = NULL;
	if (!prefix)
		prefix = DEFAULT_PREFIX;
	if (strlen(prefix) > JOBSTORE_PREFIX_MAX)
		return PC_EINVAL;
	st = calloc(1, sizeof(*st));
	if (!st)
		return PC_ENOMEM;
	err = jobstore_url_parse(url, &st->url, NULL, 0);
	if (err)
		goto out_free_store;
	st->timeout_ms = timeout_ms > 0 ? timeout_ms : DEFAULT_TIMEOUT_MS;
	snprintf(st->prefix, sizeof(st->prefix), "%s", prefix);
	st->prefix_len = strlen(st->prefix);
	for (int s = 0; s < JOB_STATE_COUNT && !err; s++)
		err = key_of(st, st->state_key[s], sizeof(st->state_key[s]),
			     "state:", job_state_name(s));
	if (!err)
		err = key_of(st, st->jobs_key, sizeof(st->jobs_key), "jobs", "");
	if (!err)
		err = key_of(st, st->queue_key, sizeof(st->queue_key), "queue", "");
	if (!err)
		err = key_of(st, st->job_key_prefix, sizeof(st->job_key_prefix), "job:", "");
	if (!err)
		err = jobstore_token_init(st);
	if (err)
		goto out_free_store;
	err = jobstore_conn_open(st);
	if (err)
		goto out_free_store;
	err = jobstore_scripts_init(st);
	if (err)
		goto out_close;
	*out = st;
	return PC_OK;

out_close:
	jobstore_conn_close(st);
out_free_store:
	free(st);
	return err;
}

void jobstore_free(jobstore *st)
{
	if (!st)
		return;
	jobstore_conn_close(st);
	jobstore_scripts_free(st);
	free(st);
}

pc_err jobstore_ping(jobstore *st)
{
	const char *argv[] = {"PING"};
	size_t lens[] = {4};
	redisReply *r;
	pc_err err = jobstore_call(st, 1, argv, lens, JOBSTORE_RETRY_SAFE, -1, &r);

	if (err)
		return err;
	if (r->type != REDIS_REPLY_STATUS || strcmp(r->str, "PONG") != 0)
		err = PC_EPROTO;
	freeReplyObject(r);
	return err;
}

/* Length of s cut to fit cap - 1 bytes without splitting a UTF-8 sequence. */
static size_t fit_len(const char *s, size_t cap)
{
	size_t n = strlen(s);

	if (n < cap)
		return n;
	n = cap - 1;
	while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	return n;
}

/* Copies a reply string into a fixed field, truncated at a UTF-8 boundary. */
static void copy_field(char *dst, size_t cap, const redisReply *v)
{
	size_t n = v->len < cap ? v->len : cap - 1;

	if (v->len >= cap) {
		while (n > 0 && ((unsigned char)v->str[n] & 0xc0) == 0x80)
			n--;
	}
	memcpy(dst, v->str, n);
	dst[n] = '\0';
	/* A NUL inside a Redis value ends the C string there, which is what the reader sees. */
}

static bool parse_u64(const redisReply *v, uint64_t *out)
{
	char *end;
	unsigned long long x;

	if (v->len == 0 || v->str[0] < '0' || v->str[0] > '9')
		return false;
	errno = 0;
	x = strtoull(v->str, &end, 10);
	if (errno || end != v->str + v->len)
		return false;
	*out = x;
	return true;
}

static bool parse_i64(const redisReply *v, int64_t *out)
{
	char *end;
	long long x;

	if (v->len == 0)
		return false;
	errno = 0;
	x = strtoll(v->str, &end, 10);
	if (errno || end != v->str + v->len)
		return false;
	*out = x;
	return true;
}

static bool field_is(const redisReply *k, const char *name)
{
	size_t n = strlen(name);

	return k->len == n && memcmp(k->str, name, n) == 0;
}

/*
 * Fills *job from an HGETALL reply (field, value, ...). PC_ENOTFOUND for an empty hash,
 * PC_EPROTO when a required field is missing or malformed.
 */
static pc_err parse_job(const redisReply *r, struct job *job)
{
	bool have_id = false, have_state = false, have_digits = false, have_created = false;
	bool ok = true;

	if (r->type != REDIS_REPLY_ARRAY || r->elements % 2)
		return PC_EPROTO;
	if (r->elements == 0)
		return PC_ENOTFOUND;
	memset(job, 0, sizeof(*job));
	for (size_t i = 0; i < r->elements && ok; i += 2) {
		const redisReply *k = r->element[i], *v = r->element[i + 1];

		if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
			return PC_EPROTO;
		if (field_is(k, "id")) {
			copy_field(job->id, sizeof(job->id), v);
			have_id = job_id_is_valid(job->id);
		} else if (field_is(k, "state")) {
			have_state = job_state_parse(v->str, &job->state) == PC_OK;
		} else if (field_is(k, "digits")) {
			have_digits = parse_u64(v, &job->digits);
		} else if (field_is(k, "created_at")) {
			have_created = parse_i64(v, &job->created_at_ms);
		} else if (field_is(k, "updated_at")) {
			ok = parse_i64(v, &job->updated_at_ms);
		} else if (field_is(k, "started_at")) {
			ok = parse_i64(v, &job->started_at_ms);
		} else if (field_is(k, "finished_at")) {
			ok = parse_i64(v, &job->finished_at_ms);
		} else if (field_is(k, "progress")) {
			char *end;

			job->progress = strtod(v->str, &end);
			ok = v->len > 0 && end == v->str + v->len && job->progress >= 0 &&
			     job->progress <= 1;
		} else if (field_is(k, "result_object")) {
			job->has_result = true;
			copy_field(job->result_object, sizeof(job->result_object), v);
		} else if (field_is(k, "result_bytes")) {
			ok = parse_u64(v, &job->result_bytes);
		} else if (field_is(k, "result_sha256")) {
			copy_field(job->result_sha256, sizeof(job->result_sha256), v);
		} else if (field_is(k, "error_code")) {
			job->has_error = true;
			copy_field(job->error_code, sizeof(job->error_code), v);
		} else if (field_is(k, "error_message")) {
			copy_field(job->error_message, sizeof(job->error_message), v);
		} else if (field_is(k, "sched_name")) {
			copy_field(job->sched_name, sizeof(job->sched_name), v);
		} else if (field_is(k, "sched_job_id")) {
			copy_field(job->sched_job_id, sizeof(job->sched_job_id), v);
		}
		/* Other fields (write_id) are the store's own. */
	}
	if (!ok || !have_id || !have_state || !have_digits || !have_created)
		return PC_EPROTO;
	return PC_OK;
}

/* Builds "<prefix>job:<id>" into out; PC_EINVAL for an invalid id. */
static pc_err job_key(const jobstore *st, const char *id, char *out, size_t cap)
{
	int n;

	if (!job_id_is_valid(id))
		return PC_EINVAL;
	n = snprintf(out, cap, "%s%s", st->job_key_prefix, id);
	return n > 0 && (size_t)n < cap ? PC_OK : PC_EINTERNAL;
}

/* An argument vector under construction. */
struct args {
	int n;
	const char *v[48];
	size_t len[48];
};

static void arg(struct args *a, const char *s)
{
	a->v[a->n] = s;
	a->len[a->n] = strlen(s);
	a->n++;
}

/* A string argument cut to a job field's capacity, as it will read back. */
static void arg_field(struct args *a, const char *s, size_t cap)
{
	a->v[a->n] = s;
	a->len[a->n] = fit_len(s, cap);
	a->n++;
}

pc_err jobstore_job_create(jobstore *st, const struct job *job, uint64_t max_queued)
{
	char key[JOBSTORE_KEY_MAX], maxq[24], created[24], updated[24], digits[24], token[48];
	char bytes[24];
	struct args a = {.n = 2};
	redisReply *r;
	pc_err err;
	int retry_idx;

	if (job->state != JOB_CREATED)
		return PC_EINVAL;
	err = job_key(st, job->id, key, sizeof(key));
	if (err)
		return err;
	snprintf(maxq, sizeof(maxq), "%" PRIu64, max_queued);
	snprintf(created, sizeof(created), "%" PRId64, job->created_at_ms);
	snprintf(updated, sizeof(updated), "%" PRId64, job->updated_at_ms);
	snprintf(digits, sizeof(digits), "%" PRIu64, job->digits);
	jobstore_next_token(st, token, sizeof(token));

	arg(&a, "5");
	arg(&a, key);
	arg(&a, st->state_key[JOB_CREATED]);
	arg(&a, st->state_key[JOB_QUEUED]);
	arg(&a, st->jobs_key);
	arg(&a, st->queue_key);
	arg(&a, job->id);
	arg(&a, maxq);
	arg(&a, created);
	arg(&a, token);
	retry_idx = a.n;
	arg(&a, "0");
	arg(&a, "id");
	arg(&a, job->id);
	arg(&a, "state");
	arg(&a, job_state_name(JOB_CREATED));
	arg(&a, "digits");
	arg(&a, digits);
	arg(&a, "created_at");
	arg(&a, created);
	arg(&a, "updated_at");
	arg(&a, updated);
	arg(&a, "started_at");
	arg(&a, "0");
	arg(&a, "finished_at");
	arg(&a, "0");
	arg(&a, "progress");
	arg(&a, "0");
	if (job->has_result) {
		snprintf(bytes, sizeof(bytes), "%" PRIu64, job->result_bytes);
		arg(&a, "result_object");
		arg_field(&a, job->result_object, JOB_OBJECT_MAX);
		arg(&a, "result_bytes");
		arg(&a, bytes);
		arg(&a, "result_sha256");
		arg_field(&a, job->result_sha256, JOB_SHA256_HEX + 1);
	}
	if (job->has_error) {
		arg(&a, "error_code");
		arg_field(&a, job->error_code, JOB_ERROR_CODE_MAX);
		arg(&a, "error_message");
		arg_field(&a, job->error_message, JOB_ERROR_MESSAGE_MAX);
	}
	if (job->sched_name[0]) {
		arg(&a, "sched_name");
		arg_field(&a, job->sched_name, JOB_SCHED_NAME_MAX);
		arg(&a, "sched_job_id");
		arg_field(&a, job->sched_job_id, JOB_SCHED_ID_MAX);
	}
	err = jobstore_eval(st, JOBSTORE_SCRIPT_CREATE, a.n, a.v, a.len, JOBSTORE_RETRY_FLAG,
			    retry_idx, &r);
	if (err)
		return err;
	if (r->type != REDIS_REPLY_STRING)
		err = PC_EPROTO;
	else if (strcmp(r->str, "OK") == 0)
		err = PC_OK;
	else if (strcmp(r->str, "EXISTS") == 0)
		err = PC_EEXISTS;
	else if (strcmp(r->str, "FULL") == 0)
		err = PC_EFULL;
	else
		err = PC_EPROTO;
	freeReplyObject(r);
	return err;
}

pc_err jobstore_job_get(jobstore *st, const char *id, struct job *out)
{
	char key[JOBSTORE_KEY_MAX];
	const char *argv[2] = {"HGETALL", key};
	size_t lens[2] = {7, 0};
	redisReply *r;
	pc_err err = job_key(st, id, key, sizeof(key));

	if (err)
		return err;
	lens[1] = strlen(key);
	err = jobstore_call(st, 2, argv, lens, JOBSTORE_RETRY_SAFE, -1, &r);
	if (err)
		return err;
	err = parse_job(r, out);
	freeReplyObject(r);
	return err;
}

/* Maps a script's status word. */
static pc_err status_of(const redisReply *s)
{
	if (!s || s->type != REDIS_REPLY_STRING)
		return PC_EPROTO;
	if (strcmp(s->str, "OK") == 0)
		return PC_OK;
	if (strcmp(s->str, "NOTFOUND") == 0)
		return PC_ENOTFOUND;
	if (strcmp(s->str, "CONFLICT") == 0)
		return PC_ECONFLICT;
	return PC_EPROTO;
}

pc_err jobstore_job_transition(jobstore *st, const char *id, enum job_state to,
			       const enum job_state *expect, const struct job_update *upd,
			       struct job *after)
{
	char key[JOBSTORE_KEY_MAX], now[24], token[48], bytes[24];
	struct args a = {.n = 2};
	redisReply *r;
	pc_err err, st_err;
	int retry_idx;

	if ((unsigned)to >= JOB_STATE_COUNT || (expect && (unsigned)*expect >= JOB_STATE_COUNT))
		return PC_EINVAL;
	err = job_key(st, id, key, sizeof(key));
	if (err)
		return err;
	if (upd && ((upd->set_result && (!upd->result_object || !upd->result_sha256)) ||
		    (upd->set_error && (!upd->error_code || !upd->error_message)) ||
		    (upd->set_sched && (!upd->sched_name || !upd->sched_job_id))))
		return PC_EINVAL;
	snprintf(now, sizeof(now), "%" PRId64, job_now_ms());
	jobstore_next_token(st, token, sizeof(token));

	arg(&a, "7");
	arg(&a, key);
	for (int s = 0; s < JOB_STATE_COUNT; s++)
		arg(&a, st->state_key[s]);
	arg(&a, id);
	arg(&a, job_state_name(to));
	arg(&a, expect ? job_state_name(*expect) : "");
	arg(&a, now);
	arg(&a, token);
	retry_idx = a.n;
	arg(&a, "0");
	arg(&a, after ? "1" : "0");
	if (upd && upd->set_result) {
		snprintf(bytes, sizeof(bytes), "%" PRIu64, upd->result_bytes);
		arg(&a, "result_object");
		arg_field(&a, upd->result_object, JOB_OBJECT_MAX);
		arg(&a, "result_bytes");
		arg(&a, bytes);
		arg(&a, "result_sha256");
		arg_field(&a, upd->result_sha256, JOB_SHA256_HEX + 1);
	}
	if (upd && upd->set_error) {
		arg(&a, "error_code");
		arg_field(&a, upd->error_code, JOB_ERROR_CODE_MAX);
		arg(&a, "error_message");
		arg_field(&a, upd->error_message, JOB_ERROR_MESSAGE_MAX);
	}
	if (upd && upd->set_sched) {
		arg(&a, "sched_name");
		arg_field(&a, upd->sched_name, JOB_SCHED_NAME_MAX);
		arg(&a, "sched_job_id");
		arg_field(&a, upd->sched_job_id, JOB_SCHED_ID_MAX);
	}
	err = jobstore_eval(st, JOBSTORE_SCRIPT_TRANSITION, a.n, a.v, a.len, JOBSTORE_RETRY_FLAG,
			    retry_idx, &r);
	if (err)
		return err;
	if (r->type != REDIS_REPLY_ARRAY || r->elements < 1) {
		err = PC_EPROTO;
		goto out_free_reply;
	}
	st_err = status_of(r->element[0]);
	if (st_err != PC_OK && st_err != PC_ECONFLICT) {
		err = st_err;
		goto out_free_reply;
	}
	if (after) {
		if (r->elements < 2) {
			err = PC_EPROTO;
			goto out_free_reply;
		}
		err = parse_job(r->element[1], after);
		if (err == PC_ENOTFOUND)
			err = PC_EPROTO;
		if (err)
			goto out_free_reply;
	}
	err = st_err;

out_free_reply:
	freeReplyObject(r);
	return err;
}

/* Runs a one-job script whose reply is a status word. */
static pc_err simple_script(jobstore *st, enum jobstore_script script, struct args *a)
{
	redisReply *r;
	pc_err err = jobstore_eval(st, script, a->n, a->v, a->len, JOBSTORE_RETRY_SAFE, -1, &r);

	if (err)
		return err;
	err = status_of(r);
	freeReplyObject(r);
	return err;
}

pc_err jobstore_job_set_progress(jobstore *st, const char *id, double progress)
{
	char key[JOBSTORE_KEY_MAX], value[32], now[24];
	struct args a = {.n = 2};
	pc_err err = job_key(st, id, key, sizeof(key));

	if (err)
		return err;
	if (isnan(progress) || progress < 0)
		progress = 0;
	if (progress > 1)
		progress = 1;
	snprintf(value, sizeof(value), "%.6f", progress);
	snprintf(now, sizeof(now), "%" PRId64, job_now_ms());
	arg(&a, "1");
	arg(&a, key);
	arg(&a, value);
	arg(&a, now);
	return simple_script(st, JOBSTORE_SCRIPT_PROGRESS, &a);
}

pc_err jobstore_job_get_state(jobstore *st, const char *id, enum job_state *out)
{
	char key[JOBSTORE_KEY_MAX];
	const char *argv[3] = {"HGET", key, "state"};
	size_t lens[3] = {4, 0, 5};
	redisReply *r;
	pc_err err = job_key(st, id, key, sizeof(key));

	if (err)
		return err;
	lens[1] = strlen(key);
	err = jobstore_call(st, 3, argv, lens, JOBSTORE_RETRY_SAFE, -1, &r);
	if (err)
		return err;
	if (r->type == REDIS_REPLY_NIL)
		err = PC_ENOTFOUND;
	else if (r->type != REDIS_REPLY_STRING || job_state_parse(r->str, out) != PC_OK)
		err = PC_EPROTO;
	freeReplyObject(r);
	return err;
}

pc_err jobstore_job_set_sched(jobstore *st, const char *id, const char *sched_name,
			      const char *sched_job_id)
{
	char key[JOBSTORE_KEY_MAX], now[24];
	struct args a = {.n = 2};
	pc_err err = job_key(st, id, key, sizeof(key));

	if (err)
		return err;
	if (!sched_name || !sched_job_id)
		return PC_EINVAL;
	snprintf(now, sizeof(now), "%" PRId64, job_now_ms());
	arg(&a, "1");
	arg(&a, key);
	arg_field(&a, sched_name, JOB_SCHED_NAME_MAX);
	arg_field(&a, sched_job_id, JOB_SCHED_ID_MAX);
	arg(&a, now);
	return simple_script(st, JOBSTORE_SCRIPT_SCHED, &a);
}

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

#define LIST_LIMIT_MAX 10000

pc_err jobstore_job_list(jobstore *st, const enum job_state *filter, size_t limit,
			 const char *cursor, struct job **jobs, size_t *count, char *next_cursor,
			 size_t next_cursor_cap)
{
	char score[24] = "", cid[JOB_ID_LEN + 1] = "", want[24];
	struct args a = {.n = 2};
	struct job *out = NULL;
	size_t n = 0, entries;
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
	snprintf(want, sizeof(want), "%zu", limit + 1);
	arg(&a, "1");
	arg(&a, filter ? st->state_key[*filter] : st->jobs_key);
	arg(&a, want);
	arg(&a, score);
	arg(&a, cid);
	arg(&a, st->job_key_prefix);
	err = jobstore_eval(st, JOBSTORE_SCRIPT_LIST, a.n, a.v, a.len, JOBSTORE_RETRY_SAFE, -1, &r);
	if (err)
		return err;
	if (r->type != REDIS_REPLY_ARRAY || r->elements % 3) {
		err = PC_EPROTO;
		goto out_free_reply;
	}
	entries = r->elements / 3;
	if (entries == 0)
		goto out_free_reply;
	out = calloc(entries < limit ? entries : limit, sizeof(*out));
	if (!out) {
		err = PC_ENOMEM;
		goto out_free_reply;
	}
	for (size_t i = 0; i < entries && i < limit; i++) {
		const redisReply *idr = r->element[3 * i], *sc = r->element[3 * i + 1];
		pc_err perr;

		if (idr->type != REDIS_REPLY_STRING || sc->type != REDIS_REPLY_STRING) {
			err = PC_EPROTO;
			goto out_free_jobs;
		}
		perr = parse_job(r->element[3 * i + 2], &out[n]);
		if (perr == PC_OK) {
			n++;
		} else if (perr != PC_ENOTFOUND) {
			/* A job hash that cannot be read is skipped, not fatal for the page. */
			log_warn("jobstore: skipping unreadable job %s in listing", idr->str);
		}
		if (i + 1 == limit && entries > limit && next_cursor) {
			char *end;
			double s = strtod(sc->str, &end);
			int w;

			if (end == sc->str || s < 0 || s > 9e18) {
				err = PC_EPROTO;
				goto out_free_jobs;
			}
			w = snprintf(next_cursor, next_cursor_cap, "%" PRId64 "_%s", (int64_t)s,
				     idr->str);
			if (w < 0 || (size_t)w >= next_cursor_cap) {
				err = PC_ERANGE;
				goto out_free_jobs;
			}
		}
	}
	if (n == 0) {
		free(out);
		out = NULL;
	}
	*jobs = out;
	*count = n;
	goto out_free_reply;

out_free_jobs:
	free(out);
	if (next_cursor && next_cursor_cap)
		next_cursor[0] = '\0';
out_free_reply:
	freeReplyObject(r);
	return err;
}

pc_err jobstore_count_by_state(jobstore *st, uint64_t counts[JOB_STATE_COUNT])
{
	struct args a = {.n = 2};
	redisReply *r;
	pc_err err;

	arg(&a, "6");
	for (int s = 0; s < JOB_STATE_COUNT; s++)
		arg(&a, st->state_key[s]);
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

/* "<prefix>processing:<owner>"; PC_EINVAL unless owner is 1..64 of [A-Za-z0-9._:-]. */
pc_err jobstore_processing_key(const jobstore *st, const char *owner, char *out, size_t cap)
{
	size_t n = 0;

	if (!owner)
		return PC_EINVAL;
	for (; owner[n]; n++) {
		char c = owner[n];

		if (n >= OWNER_MAX ||
		    !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == ':' || c == '-'))
			return PC_EINVAL;
	}
	if (n == 0)
		return PC_EINVAL;
	return key_of(st, out, cap, "processing:", owner);
}

pc_err jobstore_queue_take(jobstore *st, const char *owner, int timeout_ms, char id[JOB_ID_LEN + 1])
{
	char proc[JOBSTORE_KEY_MAX], secs[32];
	const char *argv[6];
	size_t lens[6];
	int argc = 0;
	redisReply *r;
	pc_err err = jobstore_processing_key(st, owner, proc, sizeof(proc));

	if (err)
		return err;
	if (timeout_ms > TAKE_TIMEOUT_MAX_MS)
		timeout_ms = TAKE_TIMEOUT_MAX_MS;
	/* The oldest id is at the right end (jobstore_job_create pushes on the left); the
	 * processing list gets it on its left, so it holds the newest taken first. */
	argv[argc++] = timeout_ms > 0 ? "BLMOVE" : "LMOVE";
	argv[argc++] = st->queue_key;
	argv[argc++] = proc;
	argv[argc++] = "RIGHT";
	argv[argc++] = "LEFT";
	if (timeout_ms > 0) {
		snprintf(secs, sizeof(secs), "%d.%03d", timeout_ms / 1000, timeout_ms % 1000);
		argv[argc++] = secs;
	}
	for (int i = 0; i < argc; i++)
		lens[i] = strlen(argv[i]);
	/* Never resent: a lost reply may mean the id already moved; it then waits in the
	 * processing list for jobstore_queue_recover. */
	st->extra_timeout_ms = timeout_ms > 0 ? timeout_ms : 0;
	err = jobstore_call(st, argc, argv, lens, JOBSTORE_RETRY_NEVER, -1, &r);
	st->extra_timeout_ms = 0;
	if (err)
		return err;
	if (r->type == REDIS_REPLY_NIL) {
		err = PC_ETIMEOUT;
	} else if (r->type == REDIS_REPLY_STRING && job_id_is_valid(r->str)) {
		memcpy(id, r->str, JOB_ID_LEN + 1);
	} else {
		log_warn("jobstore: dropping a malformed entry from the submit queue");
		err = PC_EPROTO;
		if (r->type == REDIS_REPLY_STRING) {
			const char *rm[4] = {"LREM", proc, "1", r->str};
			size_t rm_lens[4] = {4, strlen(proc), 1, r->len};
			redisReply *rr;

			if (jobstore_call(st, 4, rm, rm_lens, JOBSTORE_RETRY_SAFE, -1, &rr) ==
			    PC_OK)
				freeReplyObject(rr);
		}
	}
	freeReplyObject(r);
	return err;
}

pc_err jobstore_queue_ack(jobstore *st, const char *owner, const char *id)
{
	char proc[JOBSTORE_KEY_MAX];
	const char *argv[4] = {"LREM", proc, "1", id};
	size_t lens[4] = {4, 0, 1, JOB_ID_LEN};
	redisReply *r;
	pc_err err = jobstore_processing_key(st, owner, proc, sizeof(proc));

	if (err)
		return err;
	if (!job_id_is_valid(id))
		return PC_EINVAL;
	lens[1] = strlen(proc);
	err = jobstore_call(st, 4, argv, lens, JOBSTORE_RETRY_SAFE, -1, &r);
	if (err)
		return err;
	if (r->type != REDIS_REPLY_INTEGER)
		err = PC_EPROTO;
	freeReplyObject(r);
	return err;
}

pc_err jobstore_queue_recover(jobstore *st, const char *owner)
{
	char proc[JOBSTORE_KEY_MAX];
	struct args a = {.n = 2};
	redisReply *r;
	pc_err err = jobstore_processing_key(st, owner, proc, sizeof(proc));

	if (err)
		return err;
	arg(&a, "2");
	arg(&a, proc);
	arg(&a, st->queue_key);
	err = jobstore_eval(st, JOBSTORE_SCRIPT_RECOVER, a.n, a.v, a.len, JOBSTORE_RETRY_SAFE, -1,
			    &r);
	if (err)
		return err;
	if (r->type != REDIS_REPLY_INTEGER)
		err = PC_EPROTO;
	else if (r->integer > 0)
		log_info("jobstore: recovered %lld queued job(s) taken by %s", r->integer, owner);
	freeReplyObject(r);
	return err;
}

pc_err jobstore_queue_length(jobstore *st, uint64_t *length)
{
	const char *argv[2] = {"LLEN", st->queue_key};
	size_t lens[2] = {4, strlen(st->queue_key)};
	redisReply *r;
	pc_err err = jobstore_call(st, 2, argv, lens, JOBSTORE_RETRY_SAFE, -1, &r);

	if (err)
		return err;
	if (r->type != REDIS_REPLY_INTEGER || r->integer < 0)
		err = PC_EPROTO;
	else
		*length = (uint64_t)r->integer;
	freeReplyObject(r);
	return err;
}
