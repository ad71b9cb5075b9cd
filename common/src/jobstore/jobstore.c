/* jobstore.c - job records in Redis: open, create, read, atomic transitions, progress. */
#include "jobstore_int.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "picluster/log.h"

#define DEFAULT_TIMEOUT_MS 2000

pc_err jobstore_key_of(const jobstore *st, char *out, size_t cap, const char *what,
		       const char *name)
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
		prefix = JOBSTORE_DEFAULT_PREFIX;
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
		err = jobstore_key_of(st, st->state_key[s], sizeof(st->state_key[s]),
				      "state:", job_state_name(s));
	if (!err)
		err = jobstore_key_of(st, st->jobs_key, sizeof(st->jobs_key), "jobs", "");
	if (!err)
		err = jobstore_key_of(st, st->queue_key, sizeof(st->queue_key), "queue", "");
	if (!err)
		err = jobstore_key_of(st, st->owner_key_prefix, sizeof(st->owner_key_prefix),
				      "owner:", "");
	if (!err)
		err = jobstore_key_of(st, st->pool_queue_key, sizeof(st->pool_queue_key),
				      "pool:queue", "");
	if (!err)
		err =
		    jobstore_key_of(st, st->job_key_prefix, sizeof(st->job_key_prefix), "job:", "");
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

bool jobstore_reply_u64(const redisReply *v, uint64_t *out)
{
	char *end;
	unsigned long long x;

	if (v->type != REDIS_REPLY_STRING || v->len == 0 || v->str[0] < '0' || v->str[0] > '9')
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

bool jobstore_reply_field_is(const redisReply *k, const char *name)
{
	size_t n = strlen(name);

	return k->type == REDIS_REPLY_STRING && k->len == n && memcmp(k->str, name, n) == 0;
}

pc_err jobstore_parse_job(const redisReply *r, struct job *job)
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
		if (jobstore_reply_field_is(k, "id")) {
			copy_field(job->id, sizeof(job->id), v);
			have_id = job_id_is_valid(job->id);
		} else if (jobstore_reply_field_is(k, "state")) {
			have_state = job_state_parse(v->str, &job->state) == PC_OK;
		} else if (jobstore_reply_field_is(k, "digits")) {
			have_digits = jobstore_reply_u64(v, &job->digits);
		} else if (jobstore_reply_field_is(k, "created_at")) {
			have_created = parse_i64(v, &job->created_at_ms);
		} else if (jobstore_reply_field_is(k, "updated_at")) {
			ok = parse_i64(v, &job->updated_at_ms);
		} else if (jobstore_reply_field_is(k, "started_at")) {
			ok = parse_i64(v, &job->started_at_ms);
		} else if (jobstore_reply_field_is(k, "finished_at")) {
			ok = parse_i64(v, &job->finished_at_ms);
		} else if (jobstore_reply_field_is(k, "progress")) {
			char *end;

			job->progress = strtod(v->str, &end);
			ok = v->len > 0 && end == v->str + v->len && job->progress >= 0 &&
			     job->progress <= 1;
		} else if (jobstore_reply_field_is(k, "result_object")) {
			job->has_result = true;
			copy_field(job->result_object, sizeof(job->result_object), v);
		} else if (jobstore_reply_field_is(k, "result_bytes")) {
			ok = jobstore_reply_u64(v, &job->result_bytes);
		} else if (jobstore_reply_field_is(k, "result_sha256")) {
			copy_field(job->result_sha256, sizeof(job->result_sha256), v);
		} else if (jobstore_reply_field_is(k, "result_expired")) {
			job->result_expired = v->len == 1 && v->str[0] == '1';
		} else if (jobstore_reply_field_is(k, "error_code")) {
			job->has_error = true;
			copy_field(job->error_code, sizeof(job->error_code), v);
		} else if (jobstore_reply_field_is(k, "error_message")) {
			copy_field(job->error_message, sizeof(job->error_message), v);
		} else if (jobstore_reply_field_is(k, "sched_name")) {
			copy_field(job->sched_name, sizeof(job->sched_name), v);
		} else if (jobstore_reply_field_is(k, "sched_job_id")) {
			copy_field(job->sched_job_id, sizeof(job->sched_job_id), v);
		} else if (jobstore_reply_field_is(k, "owner")) {
			copy_field(job->owner, sizeof(job->owner), v);
		}
		/* Other fields (write_id) are the store's own. */
	}
	if (!ok || !have_id || !have_state || !have_digits || !have_created)
		return PC_EPROTO;
	return PC_OK;
}

/* Builds "<prefix>job:<id>" into out; PC_EINVAL for an invalid id. */
pc_err jobstore_job_key(const jobstore *st, const char *id, char *out, size_t cap)
{
	int n;

	if (!job_id_is_valid(id))
		return PC_EINVAL;
	n = snprintf(out, cap, "%s%s", st->job_key_prefix, id);
	return n > 0 && (size_t)n < cap ? PC_OK : PC_EINTERNAL;
}

/* A string argument cut to a job field's capacity, as it will read back. */
static void arg_field(struct jobstore_args *a, const char *s, size_t cap)
{
	a->v[a->n] = s;
	a->len[a->n] = fit_len(s, cap);
	a->n++;
}

/* The result fields (result_object, result_bytes, result_sha256) as field/value arguments;
 * `bytes` holds the number's text and must live until the call. */
void jobstore_arg_result(struct jobstore_args *a, char bytes[24], const char *object,
			 uint64_t nbytes, const char *sha256)
{
	snprintf(bytes, 24, "%" PRIu64, nbytes);
	jobstore_arg(a, "result_object");
	arg_field(a, object, JOB_OBJECT_MAX);
	jobstore_arg(a, "result_bytes");
	jobstore_arg(a, bytes);
	jobstore_arg(a, "result_sha256");
	arg_field(a, sha256, JOB_SHA256_HEX + 1);
}

/* The error fields (error_code, error_message) as field/value arguments. */
void jobstore_arg_error(struct jobstore_args *a, const char *code, const char *message)
{
	jobstore_arg(a, "error_code");
	arg_field(a, code, JOB_ERROR_CODE_MAX);
	jobstore_arg(a, "error_message");
	arg_field(a, message, JOB_ERROR_MESSAGE_MAX);
}

/* The scheduler fields (sched_name, sched_job_id) as field/value arguments. */
void jobstore_arg_sched(struct jobstore_args *a, const char *name, const char *job_id)
{
	jobstore_arg(a, "sched_name");
	arg_field(a, name, JOB_SCHED_NAME_MAX);
	jobstore_arg(a, "sched_job_id");
	arg_field(a, job_id, JOB_SCHED_ID_MAX);
}

pc_err jobstore_job_get(jobstore *st, const char *id, struct job *out)
{
	char key[JOBSTORE_KEY_MAX];
	const char *argv[2] = {"HGETALL", key};
	size_t lens[2] = {7, 0};
	redisReply *r;
	pc_err err = jobstore_job_key(st, id, key, sizeof(key));

	if (err)
		return err;
	lens[1] = strlen(key);
	err = jobstore_call(st, 2, argv, lens, JOBSTORE_RETRY_SAFE, -1, &r);
	if (err)
		return err;
	err = jobstore_parse_job(r, out);
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

/* A transition's trailing arguments: the expected sched_job_id ("=" + it, so that expecting
 * "" differs from expecting nothing; '' for none), then the field/value pairs of upd. bytes
 * and want (want_cap bytes) hold text that must live until the call. */
static pc_err arg_update(struct jobstore_args *a, const struct job_update *upd, char bytes[24],
			 char *want, size_t want_cap)
{
	if (upd && upd->expect_sched_job_id) {
		int n = snprintf(want, want_cap, "=%s", upd->expect_sched_job_id);

		if (n < 0 || (size_t)n >= want_cap)
			return PC_EINVAL;
		jobstore_arg(a, want);
	} else {
		jobstore_arg(a, "");
	}
	if (upd && upd->set_result)
		jobstore_arg_result(a, bytes, upd->result_object, upd->result_bytes,
				    upd->result_sha256);
	if (upd && upd->set_error)
		jobstore_arg_error(a, upd->error_code, upd->error_message);
	if (upd && upd->set_sched)
		jobstore_arg_sched(a, upd->sched_name, upd->sched_job_id);
	return PC_OK;
}

pc_err jobstore_job_transition(jobstore *st, const char *id, enum job_state to,
			       const enum job_state *expect, const struct job_update *upd,
			       struct job *after)
{
	char key[JOBSTORE_KEY_MAX], now[24], token[48], bytes[24], want[JOB_SCHED_ID_MAX + 1];
	char proc[JOBSTORE_KEY_MAX];
	struct jobstore_args a = {.n = 2};
	redisReply *r;
	pc_err err, st_err;
	int retry_idx;

	if ((unsigned)to >= JOB_STATE_COUNT || (expect && (unsigned)*expect >= JOB_STATE_COUNT))
		return PC_EINVAL;
	err = jobstore_job_key(st, id, key, sizeof(key));
	if (err)
		return err;
	if (upd && ((upd->set_result && (!upd->result_object || !upd->result_sha256)) ||
		    (upd->set_error && (!upd->error_code || !upd->error_message)) ||
		    (upd->set_sched && (!upd->sched_name || !upd->sched_job_id))))
		return PC_EINVAL;
	snprintf(now, sizeof(now), "%" PRId64, job_now_ms());
	jobstore_next_token(st, token, sizeof(token));

	if (upd && upd->ack_pool_worker) {
		err = jobstore_pool_processing_key(st, upd->ack_pool_worker, proc, sizeof(proc));
		if (err)
			return err;
	}
	/* KEYS[8], the pool worker's processing list, only with ack_pool_worker. */
	jobstore_arg(&a, upd && upd->ack_pool_worker ? "8" : "7");
	jobstore_arg(&a, key);
	for (int s = 0; s < JOB_STATE_COUNT; s++)
		jobstore_arg(&a, st->state_key[s]);
	if (upd && upd->ack_pool_worker)
		jobstore_arg(&a, proc);
	jobstore_arg(&a, id);
	jobstore_arg(&a, job_state_name(to));
	jobstore_arg(&a, expect ? job_state_name(*expect) : "");
	jobstore_arg(&a, now);
	jobstore_arg(&a, token);
	retry_idx = a.n;
	jobstore_arg(&a, "0");
	jobstore_arg(&a, after ? "1" : "0");
	jobstore_arg(&a, st->owner_key_prefix);
	err = arg_update(&a, upd, bytes, want, sizeof(want));
	if (err)
		return err;
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
		err = jobstore_parse_job(r->element[1], after);
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
static pc_err simple_script(jobstore *st, enum jobstore_script script, struct jobstore_args *a)
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
	struct jobstore_args a = {.n = 2};
	pc_err err = jobstore_job_key(st, id, key, sizeof(key));

	if (err)
		return err;
	if (isnan(progress) || progress < 0)
		progress = 0;
	if (progress > 1)
		progress = 1;
	snprintf(value, sizeof(value), "%.6f", progress);
	snprintf(now, sizeof(now), "%" PRId64, job_now_ms());
	jobstore_arg(&a, "1");
	jobstore_arg(&a, key);
	jobstore_arg(&a, value);
	jobstore_arg(&a, now);
	return simple_script(st, JOBSTORE_SCRIPT_PROGRESS, &a);
}

pc_err jobstore_job_get_state(jobstore *st, const char *id, enum job_state *out)
{
	char key[JOBSTORE_KEY_MAX];
	const char *argv[3] = {"HGET", key, "state"};
	size_t lens[3] = {4, 0, 5};
	redisReply *r;
	pc_err err = jobstore_job_key(st, id, key, sizeof(key));

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
	struct jobstore_args a = {.n = 2};
	pc_err err = jobstore_job_key(st, id, key, sizeof(key));

	if (err)
		return err;
	if (!sched_name || !sched_job_id)
		return PC_EINVAL;
	snprintf(now, sizeof(now), "%" PRId64, job_now_ms());
	jobstore_arg(&a, "1");
	jobstore_arg(&a, key);
	arg_field(&a, sched_name, JOB_SCHED_NAME_MAX);
	arg_field(&a, sched_job_id, JOB_SCHED_ID_MAX);
	jobstore_arg(&a, now);
	return simple_script(st, JOBSTORE_SCRIPT_SCHED, &a);
}
