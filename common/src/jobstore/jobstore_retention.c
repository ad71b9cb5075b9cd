/* jobstore_retention.c - retention in Redis: jobs indexed by end time, expiring results and job
 * records, filling the indexes for jobs that ended before them, and leases. */
#include "jobstore_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

/* Room for a script below with its prelude. */
#define RETENTION_SCRIPT_MAX 2048

/*
 * The scripts. Each starts with a prelude made from job.h's state machine (script_text):
 *   local states = {'created', ...}
 *   local terminal = {finished = true, errored = true, cancelled = true}
 * Every one is idempotent (jobstore_eval_text may send it twice after a lost reply).
 */

/* KEYS: job, results. ARGV: id, cutoff_ms, now_ms. Marks a due result deleted. */
static const char script_result_expire[] =
    "local id, cutoff = ARGV[1], tonumber(ARGV[2])\n"
    "local v = redis.call('HMGET', KEYS[1], 'state', 'finished_at', 'result_object', "
    "'result_expired', 'updated_at')\n"
    "if not v[1] then redis.call('ZREM', KEYS[2], id); return 'NOTFOUND' end\n"
    "if v[4] == '1' then redis.call('ZREM', KEYS[2], id); return 'OK' end\n"
    "if v[1] ~= 'finished' or not v[3] then redis.call('ZREM', KEYS[2], id); return 'CONFLICT' "
    "end\n"
    "local t = tonumber(v[2]) or 0\n"
    "if t > cutoff then redis.call('ZADD', KEYS[2], t, id); return 'CONFLICT' end\n"
    "local now = ARGV[3]\n"
    "if v[5] and tonumber(v[5]) and tonumber(now) < tonumber(v[5]) then now = v[5] end\n"
    "redis.call('HSET', KEYS[1], 'result_expired', '1', 'updated_at', now)\n"
    "redis.call('ZREM', KEYS[2], id)\n"
    "return 'OK'\n";

/* KEYS: job, results, ended, jobs. ARGV: id, cutoff_ms, prefix. Deletes a due terminal job
 * and every index entry of it; the state sets and the owner's index are named from the
 * record, so they are built here from the prefix. */
static const char script_job_expire[] =
    "local id, cutoff, p = ARGV[1], tonumber(ARGV[2]), ARGV[3]\n"
    "local v = redis.call('HMGET', KEYS[1], 'state', 'finished_at', 'owner')\n"
    "if v[1] and not terminal[v[1]] then redis.call('ZREM', KEYS[3], id); return 'CONFLICT' "
    "end\n"
    "if v[1] and (tonumber(v[2]) or 0) > cutoff then\n"
    "  redis.call('ZADD', KEYS[3], tonumber(v[2]), id); return 'CONFLICT'\n"
    "end\n"
    "redis.call('DEL', KEYS[1])\n"
    "for i = 2, 4 do redis.call('ZREM', KEYS[i], id) end\n"
    "for _, s in ipairs(states) do redis.call('ZREM', p .. 'state:' .. s, id) end\n"
    "if v[3] and v[3] ~= '' then redis.call('ZREM', p .. 'owner:' .. v[3] .. ':jobs', id) end\n"
    "if not v[1] then return 'NOTFOUND' end\n"
    "return 'OK'\n";

/* KEYS: the terminal state sets, then ended. Returns their sizes' sum less ended's. */
static const char script_missing[] =
    "local n = 0\n"
    "for i = 1, #KEYS - 1 do n = n + redis.call('ZCARD', KEYS[i]) end\n"
    "return n - redis.call('ZCARD', KEYS[#KEYS])\n";

/* KEYS: ended, results, one state set. ARGV: job key prefix, first rank, batch. Returns
 * {ids walked, ids added}. */
static const char script_backfill[] =
    "local first, n = tonumber(ARGV[2]), tonumber(ARGV[3])\n"
    "local ids = redis.call('ZRANGE', KEYS[3], first, first + n - 1)\n"
    "local added = 0\n"
    "for _, id in ipairs(ids) do\n"
    "  if not redis.call('ZSCORE', KEYS[1], id) then\n"
    "    local v = redis.call('HMGET', ARGV[1] .. id, 'state', 'finished_at', "
    "'result_object', 'result_expired')\n"
    "    if not v[1] or terminal[v[1]] then\n"
    "      local t = v[1] and (tonumber(v[2]) or 0) or 0\n"
    "      redis.call('ZADD', KEYS[1], t, id)\n"
    "      if v[1] == 'finished' and v[3] and v[4] ~= '1' then\n"
    "        redis.call('ZADD', KEYS[2], t, id)\n"
    "      end\n"
    "      added = added + 1\n"
    "    end\n"
    "  end\n"
    "end\n"
    "return {#ids, added}\n";

/* KEYS: lease. ARGV: token, ttl_ms. */
static const char script_lease_renew[] =
    "if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end\n"
    "redis.call('PEXPIRE', KEYS[1], ARGV[2])\n"
    "return 1\n";

/* KEYS: lease. ARGV: token. */
static const char script_lease_release[] =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end\n"
    "return 1\n";

/* Appends text to out (cap bytes, *len used); false when it does not fit. */
static bool add(char *out, size_t cap, size_t *len, const char *a, const char *b)
{
	int n = snprintf(out + *len, cap - *len, "%s%s", a, b);

	if (n < 0 || (size_t)n >= cap - *len)
		return false;
	*len += (size_t)n;
	return true;
}

/* body behind the prelude from job.h's state machine, into out; false when it does not fit. */
static bool script_text(char *out, size_t cap, const char *body)
{
	size_t len = 0;
	bool ok = add(out, cap, &len, "local states = {", "");

	for (int s = 0; s < JOB_STATE_COUNT; s++) {
		ok = ok && add(out, cap, &len, s ? ", '" : "'", job_state_name(s));
		ok = ok && add(out, cap, &len, "'", "");
	}
	ok = ok && add(out, cap, &len, "}\nlocal terminal = {", "");
	for (int s = 0, k = 0; s < JOB_STATE_COUNT; s++) {
		if (job_state_is_terminal(s))
			ok = ok && add(out, cap, &len, k++ ? ", " : "", job_state_name(s)) &&
			     add(out, cap, &len, " = true", "");
	}
	return ok && add(out, cap, &len, "}\n", body);
}

/* Runs body (with its prelude) through jobstore_eval_text. */
static pc_err run(jobstore *st, const char *body, int nkeys, int nargs, const char **args,
		  redisReply **out)
{
	char text[RETENTION_SCRIPT_MAX];

	*out = NULL;
	if (!script_text(text, sizeof(text), body))
		return PC_EINTERNAL;
	return jobstore_eval_text(st, text, nkeys, nargs, args, out);
}

/* Maps a script's status word. */
static pc_err status_word(const redisReply *r)
{
	if (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_STATUS)
		return PC_EPROTO;
	if (strcmp(r->str, "OK") == 0)
		return PC_OK;
	if (strcmp(r->str, "NOTFOUND") == 0)
		return PC_ENOTFOUND;
	if (strcmp(r->str, "CONFLICT") == 0)
		return PC_ECONFLICT;
	return PC_EPROTO;
}

pc_err jobstore_retention_due(jobstore *st, enum jobstore_retention_set which, int64_t cutoff_ms,
			      char (*ids)[JOB_ID_LEN + 1], size_t max, size_t *count)
{
	char key[JOBSTORE_KEY_MAX], cutoff[24], limit[24];
	const char *argv[7] = {"ZRANGEBYSCORE", key, "-inf", cutoff, "LIMIT", "0", limit};
	size_t lens[7];
	redisReply *r;
	pc_err err;

	*count = 0;
	if (max == 0)
		return PC_OK;
	err = jobstore_key_of(st, key, sizeof(key),
			      which == JOBSTORE_RETENTION_RESULTS ? "results" : "ended", "");
	if (err)
		return err;
	snprintf(cutoff, sizeof(cutoff), "%" PRId64, cutoff_ms);
	snprintf(limit, sizeof(limit), "%zu", max);
	for (int i = 0; i < 7; i++)
		lens[i] = strlen(argv[i]);
	err = jobstore_call(st, 7, argv, lens, JOBSTORE_RETRY_SAFE, -1, &r);
	if (err)
		return err;
	if (r->type != REDIS_REPLY_ARRAY || r->elements > max) {
		err = PC_EPROTO;
		goto out_free_reply;
	}
	for (size_t i = 0; i < r->elements; i++) {
		const redisReply *e = r->element[i];

		/* Only well-formed ids reach the caller: the sets hold nothing else. */
		if (e->type != REDIS_REPLY_STRING || e->len != JOB_ID_LEN ||
		    !job_id_is_valid(e->str))
			continue;
		memcpy(ids[*count], e->str, JOB_ID_LEN + 1);
		(*count)++;
	}
out_free_reply:
	freeReplyObject(r);
	return err;
}

/* "<prefix>job:<id>" into out; PC_EINVAL for a bad id. */
static pc_err job_key(const jobstore *st, const char *id, char *out, size_t cap)
{
	if (!job_id_is_valid(id))
		return PC_EINVAL;
	return jobstore_key_of(st, out, cap, "job:", id);
}

pc_err jobstore_result_expire(jobstore *st, const char *id, int64_t cutoff_ms)
{
	char job[JOBSTORE_KEY_MAX], results[JOBSTORE_KEY_MAX], cutoff[24], now[24];
	const char *args[5] = {job, results, id, cutoff, now};
	redisReply *r;
	pc_err err = job_key(st, id, job, sizeof(job));

	if (!err)
		err = jobstore_key_of(st, results, sizeof(results), "results", "");
	if (err)
		return err;
	snprintf(cutoff, sizeof(cutoff), "%" PRId64, cutoff_ms);
	snprintf(now, sizeof(now), "%" PRId64, job_now_ms());
	err = run(st, script_result_expire, 2, 5, args, &r);
	if (err)
		return err;
	err = status_word(r);
	freeReplyObject(r);
	return err;
}

pc_err jobstore_job_expire(jobstore *st, const char *id, int64_t cutoff_ms)
{
	char job[JOBSTORE_KEY_MAX], results[JOBSTORE_KEY_MAX], ended[JOBSTORE_KEY_MAX], cutoff[24];
	const char *args[7] = {job, results, ended, st->jobs_key, id, cutoff, st->prefix};
	redisReply *r;
	pc_err err = job_key(st, id, job, sizeof(job));

	if (!err)
		err = jobstore_key_of(st, results, sizeof(results), "results", "");
	if (!err)
		err = jobstore_key_of(st, ended, sizeof(ended), "ended", "");
	if (err)
		return err;
	snprintf(cutoff, sizeof(cutoff), "%" PRId64, cutoff_ms);
	err = run(st, script_job_expire, 4, 7, args, &r);
	if (err)
		return err;
	err = status_word(r);
	freeReplyObject(r);
	return err;
}

pc_err jobstore_retention_missing(jobstore *st, uint64_t *missing)
{
	char ended[JOBSTORE_KEY_MAX];
	const char *args[JOB_STATE_COUNT + 1];
	int n = 0;
	redisReply *r;
	pc_err err;

	*missing = 0;
	for (int s = 0; s < JOB_STATE_COUNT; s++) {
		if (job_state_is_terminal(s))
			args[n++] = st->state_key[s];
	}
	err = jobstore_key_of(st, ended, sizeof(ended), "ended", "");
	if (err)
		return err;
	args[n++] = ended;
	err = run(st, script_missing, n, n, args, &r);
	if (err)
		return err;
	if (r->type != REDIS_REPLY_INTEGER)
		err = PC_EPROTO;
	else if (r->integer > 0)
		*missing = (uint64_t)r->integer;
	freeReplyObject(r);
	return err;
}

/* The next terminal state at or after s (JOB_STATE_COUNT when there is none). */
static int next_terminal(int s)
{
	while (s < JOB_STATE_COUNT && !job_state_is_terminal(s))
		s++;
	return s;
}

pc_err jobstore_retention_backfill(jobstore *st, struct jobstore_backfill *cur, size_t batch,
				   uint64_t *added)
{
	char ended[JOBSTORE_KEY_MAX], results[JOBSTORE_KEY_MAX], first[24], n[24];
	const char *args[6] = {ended, results, NULL, st->job_key_prefix, first, n};
	redisReply *r;
	pc_err err;

	*added = 0;
	cur->state = next_terminal(cur->state);
	if (cur->done || cur->state >= JOB_STATE_COUNT) {
		cur->done = true;
		return PC_OK;
	}
	if (batch == 0)
		return PC_EINVAL;
	err = jobstore_key_of(st, ended, sizeof(ended), "ended", "");
	if (!err)
		err = jobstore_key_of(st, results, sizeof(results), "results", "");
	if (err)
		return err;
	args[2] = st->state_key[cur->state];
	snprintf(first, sizeof(first), "%" PRIu64, cur->rank);
	snprintf(n, sizeof(n), "%zu", batch);
	err = run(st, script_backfill, 3, 6, args, &r);
	if (err)
		return err;
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
	    r->element[0]->type != REDIS_REPLY_INTEGER ||
	    r->element[1]->type != REDIS_REPLY_INTEGER || r->element[0]->integer < 0 ||
	    r->element[1]->integer < 0) {
		err = PC_EPROTO;
		goto out_free_reply;
	}
	*added = (uint64_t)r->element[1]->integer;
	cur->rank += (uint64_t)r->element[0]->integer;
	if ((uint64_t)r->element[0]->integer < batch) {
		/* This set is over: on to the next terminal state's. */
		cur->rank = 0;
		cur->state = next_terminal(cur->state + 1);
		cur->done = cur->state >= JOB_STATE_COUNT;
	}
out_free_reply:
	freeReplyObject(r);
	return err;
}

pc_err jobstore_lease_token_new(char out[JOBSTORE_LEASE_TOKEN_LEN + 1])
{
	unsigned char b[JOBSTORE_LEASE_TOKEN_LEN / 2];
	size_t got = 0;

	while (got < sizeof(b)) {
		ssize_t n = getrandom(b + got, sizeof(b) - got, 0);

		if (n < 0 && errno != EINTR)
			return PC_EIO;
		if (n > 0)
			got += (size_t)n;
	}
	for (size_t i = 0; i < sizeof(b); i++)
		snprintf(out + 2 * i, 3, "%02x", b[i]);
	return PC_OK;
}

/* "<prefix>lease:<name>" into out after checking name, token and ttl_ms (ttl_ms < 0 is not
 * checked: release has none). */
static pc_err lease_key(const jobstore *st, const char *name, const char *token, int ttl_ms,
			char *out, size_t cap)
{
	size_t n = name ? strlen(name) : 0;

	if (n == 0 || n > 32 || strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_-") != n ||
	    !token || !token[0] || ttl_ms == 0 || ttl_ms < -1)
		return PC_EINVAL;
	return jobstore_key_of(st, out, cap, "lease:", name);
}

pc_err jobstore_lease_acquire(jobstore *st, const char *name, const char *token, int ttl_ms)
{
	char key[JOBSTORE_KEY_MAX], ttl[16];
	const char *argv[6] = {"SET", key, token, "NX", "PX", ttl};
	size_t lens[6];
	redisReply *r;
	pc_err err = lease_key(st, name, token, ttl_ms < 0 ? 0 : ttl_ms, key, sizeof(key));

	if (err)
		return err;
	snprintf(ttl, sizeof(ttl), "%d", ttl_ms);
	for (int i = 0; i < 6; i++)
		lens[i] = strlen(argv[i]);
	/* Safe to send twice: a second SET NX after a lost OK finds our own token, which the
	 * renewal below recognises. */
	err = jobstore_call(st, 6, argv, lens, JOBSTORE_RETRY_SAFE, -1, &r);
	if (err)
		return err;
	if (r->type == REDIS_REPLY_STATUS && strcmp(r->str, "OK") == 0)
		err = PC_OK;
	else if (r->type == REDIS_REPLY_NIL)
		err = PC_EEXISTS;
	else
		err = PC_EPROTO;
	freeReplyObject(r);
	if (err == PC_EEXISTS && jobstore_lease_renew(st, name, token, ttl_ms) == PC_OK)
		err = PC_OK;
	return err;
}

pc_err jobstore_lease_renew(jobstore *st, const char *name, const char *token, int ttl_ms)
{
	char key[JOBSTORE_KEY_MAX], ttl[16];
	const char *args[3] = {key, token, ttl};
	redisReply *r;
	pc_err err = lease_key(st, name, token, ttl_ms < 0 ? 0 : ttl_ms, key, sizeof(key));

	if (err)
		return err;
	snprintf(ttl, sizeof(ttl), "%d", ttl_ms);
	err = jobstore_eval_text(st, script_lease_renew, 1, 3, args, &r);
	if (err)
		return err;
	if (r->type != REDIS_REPLY_INTEGER)
		err = PC_EPROTO;
	else if (r->integer != 1)
		err = PC_ECONFLICT;
	freeReplyObject(r);
	return err;
}

pc_err jobstore_lease_release(jobstore *st, const char *name, const char *token)
{
	char key[JOBSTORE_KEY_MAX];
	const char *args[2] = {key, token};
	redisReply *r;
	pc_err err = lease_key(st, name, token, -1, key, sizeof(key));

	if (err)
		return err;
	err = jobstore_eval_text(st, script_lease_release, 1, 2, args, &r);
	if (err)
		return err;
	if (r->type != REDIS_REPLY_INTEGER)
		err = PC_EPROTO;
	freeReplyObject(r);
	return err;
}
