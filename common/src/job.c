/* job.c - the job model: state names, the transition table (job.h's JOB_MOVES), UUIDv4 ids,
 * times and JSON. */
#include "picluster/job.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

static const char *const state_names[JOB_STATE_COUNT] = {
    [JOB_CREATED] = "created",	 [JOB_QUEUED] = "queued",   [JOB_RUNNING] = "running",
    [JOB_FINISHED] = "finished", [JOB_ERRORED] = "errored", [JOB_CANCELLED] = "cancelled",
};

/* job.h's JOB_MOVES, expanded once: the only legal moves. */
static const struct {
	enum job_state from, to;
} moves[] = {
#define JOB_MOVE_ROW(from, to, writers) {from, to},
    JOB_MOVES(JOB_MOVE_ROW)
#undef JOB_MOVE_ROW
};

const char *job_state_name(enum job_state state)
{
	if ((unsigned)state >= JOB_STATE_COUNT)
		return "invalid";
	return state_names[state];
}

pc_err job_state_parse(const char *name, enum job_state *out)
{
	if (!name)
		return PC_EINVAL;
	for (int s = 0; s < JOB_STATE_COUNT; s++) {
		if (strcmp(name, state_names[s]) == 0) {
			*out = (enum job_state)s;
			return PC_OK;
		}
	}
	return PC_EINVAL;
}

bool job_state_is_terminal(enum job_state state)
{
	for (size_t i = 0; i < sizeof(moves) / sizeof(moves[0]); i++) {
		if (moves[i].from == state)
			return false;
	}
	return (unsigned)state < JOB_STATE_COUNT;
}

bool job_transition_is_legal(enum job_state from, enum job_state to)
{
	for (size_t i = 0; i < sizeof(moves) / sizeof(moves[0]); i++) {
		if (moves[i].from == from && moves[i].to == to)
			return true;
	}
	return false;
}

pc_err job_id_new(char out[JOB_ID_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char b[16];
	size_t got = 0;
	size_t o = 0;

	while (got < sizeof(b)) {
		ssize_t n = getrandom(b + got, sizeof(b) - got, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return PC_EIO;
		}
		got += (size_t)n;
	}
	/* RFC 4122 section 4.4: version 4 in the high nibble of byte 6, variant 10xx in
	 * byte 8. */
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	for (size_t i = 0; i < sizeof(b); i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hex[b[i] >> 4];
		out[o++] = hex[b[i] & 0x0f];
	}
	out[o] = '\0';
	return PC_OK;
}

static bool is_lower_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

bool job_id_is_valid(const char *s)
{
	if (!s)
		return false;
	/* A NUL anywhere before position 36 fails the character test, so this never reads
	 * past the end of a shorter string. */
	for (int i = 0; i < JOB_ID_LEN; i++) {
		char c = s[i];
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (c != '-')
				return false;
		} else if (!is_lower_hex(c)) {
			return false;
		}
	}
	if (s[JOB_ID_LEN] != '\0')
		return false;
	if (s[14] != '4')
		return false;
	return s[19] == '8' || s[19] == '9' || s[19] == 'a' || s[19] == 'b';
}

int64_t job_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

pc_err job_init_new(struct job *job, uint64_t digits)
{
	memset(job, 0, sizeof(*job));
	if (job_id_new(job->id) != PC_OK)
		return PC_EIO;
	job->state = JOB_CREATED;
	job->digits = digits;
	job->created_at_ms = job_now_ms();
	job->updated_at_ms = job->created_at_ms;
	return PC_OK;
}

pc_err job_result_object_name(const char *id, char *out, size_t cap)
{
	int n;

	if (!job_id_is_valid(id) || !out)
		return PC_EINVAL;
	n = snprintf(out, cap, "jobs/%s/pi.txt", id);
	if (n < 0 || (size_t)n >= cap)
		return PC_EINVAL;
	return PC_OK;
}

void job_format_time(int64_t ms, char out[32])
{
	/* Floor division, so times before 1970 still print a valid date. */
	int64_t sec = ms / 1000;
	int64_t rem = ms % 1000;
	time_t t;
	struct tm tm;

	if (rem < 0) {
		rem += 1000;
		sec -= 1;
	}
	t = (time_t)sec;
	if (!gmtime_r(&t, &tm)) {
		snprintf(out, 32, "1970-01-01T00:00:00.000Z");
		return;
	}
	/* Years past 9999 would not fit RFC 3339; clamp rather than print garbage. */
	if (tm.tm_year + 1900 > 9999 || tm.tm_year + 1900 < 0) {
		snprintf(out, 32, "%s",
			 tm.tm_year > 0 ? "9999-12-31T23:59:59.999Z" : "0000-01-01T00:00:00.000Z");
		return;
	}
	snprintf(out, 32, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", (tm.tm_year + 1900) % 10000,
		 (tm.tm_mon + 1) % 100, tm.tm_mday % 100, tm.tm_hour % 100, tm.tm_min % 100,
		 tm.tm_sec % 100, (int)rem % 1000);
}

/* A JSON string from bytes that may not be valid UTF-8 (error messages come from
 * schedulers and Redis): invalid bytes become '?', so the result is never NULL for that. */
static json_t *json_text(const char *s)
{
	json_t *v = json_string(s);
	size_t n;
	char *copy;

	if (v)
		return v;
	n = strlen(s);
	copy = malloc(n + 1);
	if (!copy)
		return NULL;
	for (size_t i = 0; i <= n; i++)
		copy[i] = (s[i] & 0x80) ? '?' : s[i];
	v = json_string(copy);
	free(copy);
	return v;
}

static json_t *json_time(int64_t ms)
{
	char buf[32];

	if (ms == 0)
		return json_null();
	job_format_time(ms, buf);
	return json_string(buf);
}

/* Sets key to value, taking the reference; any NULL counts as a failure. */
static bool put(json_t *obj, const char *key, json_t *value)
{
	return value && json_object_set_new(obj, key, value) == 0;
}

/* The "result" object of a job that has one (new reference; NULL when out of memory).
 * expires_at and expired appear only when they say something: a result kept forever has no
 * expires_at, a live one no expired. */
static json_t *result_to_json(const struct job *job)
{
	json_t *sub = json_object();
	char download[64];
	bool ok;

	if (!sub)
		return NULL;
	snprintf(download, sizeof(download), "/job/download/%s", job->id);
	ok = put(sub, "object", json_text(job->result_object)) &&
	     put(sub, "bytes",
		 json_integer(job->result_bytes > INT64_MAX ? INT64_MAX
							    : (json_int_t)job->result_bytes)) &&
	     put(sub, "sha256", json_text(job->result_sha256)) &&
	     put(sub, "download", json_text(download));
	if (ok && job->result_expires_at_ms)
		ok = put(sub, "expires_at", json_time(job->result_expires_at_ms));
	if (ok && job->result_expired)
		ok = put(sub, "expired", json_true());
	if (!ok) {
		json_decref(sub);
		sub = NULL;
	}
	return sub;
}

json_t *job_to_json(const struct job *job)
{
	json_t *obj = json_object();
	json_t *sub;
	bool ok;

	if (!obj)
		return NULL;
	ok = put(obj, "id", json_text(job->id)) &&
	     put(obj, "state", json_string(job_state_name(job->state))) &&
	     put(obj, "digits",
		 json_integer(job->digits > INT64_MAX ? INT64_MAX : (json_int_t)job->digits)) &&
	     put(obj, "created_at", json_time(job->created_at_ms)) &&
	     put(obj, "updated_at", json_time(job->updated_at_ms)) &&
	     put(obj, "started_at", json_time(job->started_at_ms)) &&
	     put(obj, "finished_at", json_time(job->finished_at_ms)) &&
	     put(obj, "progress", json_real(job->progress));
	if (!ok)
		goto out_free_obj;

	if (!put(obj, "result", job->has_result ? result_to_json(job) : json_null()))
		goto out_free_obj;

	if (job->has_error) {
		sub = json_object();
		if (!put(obj, "error", sub))
			goto out_free_obj;
		ok = put(sub, "code", json_text(job->error_code)) &&
		     put(sub, "message", json_text(job->error_message));
	} else {
		ok = put(obj, "error", json_null());
	}
	if (!ok)
		goto out_free_obj;

	if (job->sched_name[0]) {
		sub = json_object();
		if (!put(obj, "scheduler", sub))
			goto out_free_obj;
		/* A pool job (JOBPOOL_SCHED_NAME, jobpool.h) names the worker that runs it. */
		ok = put(sub, "name", json_text(job->sched_name)) &&
		     put(sub, strcmp(job->sched_name, "pool") == 0 ? "worker" : "job_id",
			 job->sched_job_id[0] ? json_text(job->sched_job_id) : json_null());
	} else {
		ok = put(obj, "scheduler", json_null());
	}
	if (!ok || !put(obj, "owner", job->owner[0] ? json_text(job->owner) : json_null()))
		goto out_free_obj;
	return obj;

out_free_obj:
	json_decref(obj);
	return NULL;
}
