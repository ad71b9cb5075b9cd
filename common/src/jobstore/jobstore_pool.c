/* jobstore_pool.c - the warm-worker pool (jobpool.h): its queue, the workers' processing
 * lists and heartbeats, and the recovery of a dead worker's jobs. */
#include "jobstore_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "picluster/jobpool.h"
#include "picluster/log.h"

/*
 * The scripts (registered in jobstore_scripts.c's table, so they share the prelude and its
 * job_move: a pool's state write is checked against job.h's machine like every other).
 */

/* KEYS: job, state sets x6, pool:queue. ARGV: id, now_ms, token, retry, "<prefix>owner:".
 * created -> queued as a pool job, and the id on the queue's left (last in line). A retry
 * that finds its own write (queued with this token) is that write's success: pushed once. */
const char jobstore_script_pool_submit[] =
    "local v = redis.call('HMGET', KEYS[1], 'state', 'write_id')\n"
    "if not v[1] then return 'NOTFOUND' end\n"
    "if ARGV[4] == '1' and v[1] == 'queued' and v[2] == ARGV[3] then return 'OK' end\n"
    "local skeys = {}\n"
    "for i = 2, 7 do skeys[#skeys + 1] = KEYS[i] end\n"
    "local s = job_move(KEYS[1], skeys, ARGV[1], 'queued', 'created', ARGV[2], ARGV[3], "
    "ARGV[5], {'sched_name', 'pool', 'sched_job_id', ''}, nil)\n"
    "if s == 'OK' then queue_push(KEYS[8], KEYS[1], ARGV[1], false) end\n"
    "return s\n";

/*
 * KEYS: pool:workers, pool:queue, state sets x6. ARGV: prefix, now_ms, token,
 * "<prefix>owner:", worker|''. give_back empties a processing list, newest taken first, onto
 * the queue's right end (its head), so the oldest taken ends up first in line: a job still
 * running under that worker's name moves running -> queued (its sched_job_id cleared), a
 * queued one (taken, never started) goes back as it is, anything else (terminal, gone, or
 * running under another worker) is dropped. With a worker: only its list. Without: every
 * worker of the set whose heartbeat is gone, which then leaves the set; checked here, in the
 * same script, so a worker that renewed meanwhile keeps its list. Returns the ids queued.
 */
const char jobstore_script_pool_recover[] =
    "local P = ARGV[1]\n"
    "local skeys = {}\n"
    "for i = 3, 8 do skeys[#skeys + 1] = KEYS[i] end\n"
    "local function give_back(w)\n"
    "  local proc = P .. 'pool:processing:' .. w\n"
    "  local n, id = 0, redis.call('LPOP', proc)\n"
    "  while id do\n"
    "    local job = P .. 'job:' .. id\n"
    "    local s = redis.call('HGET', job, 'state')\n"
    "    local back = s == 'queued'\n"
    "    if s == 'running' then\n"
    "      back = job_move(job, skeys, id, 'queued', 'running', ARGV[2], ARGV[3], ARGV[4], "
    "{'sched_job_id', '', 'progress', '0'}, w) == 'OK'\n"
    "    end\n"
    "    if back then queue_push(KEYS[2], job, id, true); n = n + 1 end\n"
    "    id = redis.call('LPOP', proc)\n"
    "  end\n"
    "  return n\n"
    "end\n"
    "if ARGV[5] ~= '' then return give_back(ARGV[5]) end\n"
    "local moved = 0\n"
    "for _, w in ipairs(redis.call('SMEMBERS', KEYS[1])) do\n"
    "  if redis.call('EXISTS', P .. 'pool:alive:' .. w) == 0 then\n"
    "    moved = moved + give_back(w)\n"
    "    redis.call('SREM', KEYS[1], w)\n"
    "  end\n"
    "end\n"
    "return moved\n";

/*
 * KEYS: pool:queue, pool:processing:<w>, state sets x6. ARGV: prefix, now_ms, token,
 * "<prefix>owner:", w, id|''. Starts a job on worker w: the id given (already in w's
 * processing list, from a blocking take), or else the oldest of the queue, moved into that
 * list here; then queued -> running under w's name. Returns false (no id given and the queue
 * is empty), {id, 'OK', HGETALL, rerun} (started; rerun 1 when the job had started before,
 * under a worker that died), or {id, status} (not startable, e.g. cancelled while queued:
 * the id has left the processing list again).
 */
const char jobstore_script_pool_start[] =
    "local id = ARGV[6]\n"
    "if id == '' then id = queue_take(KEYS[1], KEYS[2], nil) end\n"
    "if not id then return false end\n"
    "local skeys = {}\n"
    "for i = 3, 8 do skeys[#skeys + 1] = KEYS[i] end\n"
    "local job = ARGV[1] .. 'job:' .. id\n"
    "local before = tonumber(redis.call('HGET', job, 'started_at')) or 0\n"
    "local s = job_move(job, skeys, id, 'running', 'queued', ARGV[2], ARGV[3], ARGV[4], "
    "{'sched_name', 'pool', 'sched_job_id', ARGV[5]}, nil)\n"
    "if s ~= 'OK' then\n"
    "  redis.call('LREM', KEYS[2], 1, id)\n"
    "  return {id, s}\n"
    "end\n"
    "return {id, s, redis.call('HGETALL', job), before > 0 and 1 or 0}\n";

/* KEYS: pool:workers. ARGV: prefix. The members with a live heartbeat. */
const char jobstore_script_pool_alive[] =
    "local n = 0\n"
    "for _, w in ipairs(redis.call('SMEMBERS', KEYS[1])) do\n"
    "  n = n + redis.call('EXISTS', ARGV[1] .. 'pool:alive:' .. w)\n"
    "end\n"
    "return n\n";

/* KEYS: pool:alive:<w>, pool:workers. ARGV: info, ttl_ms, w. */
const char jobstore_script_pool_heartbeat[] = "local v = redis.call('GET', KEYS[1])\n"
					      "if v and v ~= ARGV[1] then return 0 end\n"
					      "redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])\n"
					      "redis.call('SADD', KEYS[2], ARGV[3])\n"
					      "return 1\n";

/* KEYS: pool:alive:<w>, pool:workers, pool:processing:<w>. ARGV: w, info. The heartbeat goes
 * (only if it is still the caller's); the worker leaves the set only with an empty list (else
 * recovery must still find it). */
const char jobstore_script_pool_leave[] =
    "if redis.call('GET', KEYS[1]) == ARGV[2] then redis.call('DEL', KEYS[1]) end\n"
    "if redis.call('LLEN', KEYS[3]) == 0 then redis.call('SREM', KEYS[2], ARGV[1]) end\n"
    "return 1\n";

bool jobpool_worker_name_is_valid(const char *name)
{
	size_t n = 0;

	if (!name)
		return false;
	for (; name[n]; n++) {
		char c = name[n];

		if (n >= JOBPOOL_WORKER_MAX ||
		    !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == ':' || c == '-'))
			return false;
	}
	return n > 0;
}

/* "<prefix>pool:<what><worker>" into out; PC_EINVAL for an invalid worker name. */
static pc_err worker_key(const jobstore *st, const char *what, const char *worker, char *out,
			 size_t cap)
{
	char tail[32];

	if (!jobpool_worker_name_is_valid(worker))
		return PC_EINVAL;
	snprintf(tail, sizeof(tail), "pool:%s", what);
	return jobstore_key_of(st, out, cap, tail, worker);
}

/* The tail the start and recovery scripts share: the six state sets (last keys), then
 * prefix, now, a write token, "<prefix>owner:" and the worker (now and token are filled in
 * here and must outlive the call). */
static void arg_move(jobstore *st, struct jobstore_args *a, char now[24], char token[48],
		     const char *worker)
{
	snprintf(now, 24, "%" PRId64, job_now_ms());
	jobstore_next_token(st, token, 48);
	for (int s = 0; s < JOB_STATE_COUNT; s++)
		jobstore_arg(a, st->state_key[s]);
	jobstore_arg(a, st->prefix);
	jobstore_arg(a, now);
	jobstore_arg(a, token);
	jobstore_arg(a, st->owner_key_prefix);
	jobstore_arg(a, worker);
}

/* Runs a pool script whose reply is an integer >= 0, into *n (may be NULL). */
static pc_err run_count(jobstore *st, enum jobstore_script script, struct jobstore_args *a,
			uint64_t *n)
{
	redisReply *r;
	pc_err err = jobstore_eval(st, script, a->n, a->v, a->len, JOBSTORE_RETRY_SAFE, -1, &r);

	if (err)
		return err;
	if (r->type != REDIS_REPLY_INTEGER || r->integer < 0)
		err = PC_EPROTO;
	else if (n)
		*n = (uint64_t)r->integer;
	freeReplyObject(r);
	return err;
}

pc_err jobpool_submit(jobstore *st, const char *id)
{
	char key[JOBSTORE_KEY_MAX], now[24], token[48];
	struct jobstore_args a = {.n = 2};
	redisReply *r;
	int retry_idx;
	pc_err err = jobstore_job_key(st, id, key, sizeof(key));

	if (err)
		return err;
	snprintf(now, sizeof(now), "%" PRId64, job_now_ms());
	jobstore_next_token(st, token, sizeof(token));
	jobstore_arg(&a, "8");
	jobstore_arg(&a, key);
	for (int s = 0; s < JOB_STATE_COUNT; s++)
		jobstore_arg(&a, st->state_key[s]);
	jobstore_arg(&a, st->pool_queue_key);
	jobstore_arg(&a, id);
	jobstore_arg(&a, now);
	jobstore_arg(&a, token);
	retry_idx = a.n;
	jobstore_arg(&a, "0");
	jobstore_arg(&a, st->owner_key_prefix);
	err = jobstore_eval(st, JOBSTORE_SCRIPT_POOL_SUBMIT, a.n, a.v, a.len, JOBSTORE_RETRY_FLAG,
			    retry_idx, &r);
	if (err)
		return err;
	if (r->type != REDIS_REPLY_STRING)
		err = PC_EPROTO;
	else if (strcmp(r->str, "OK") == 0)
		err = PC_OK;
	else if (strcmp(r->str, "NOTFOUND") == 0)
		err = PC_ENOTFOUND;
	else if (strcmp(r->str, "CONFLICT") == 0)
		err = PC_ECONFLICT;
	else
		err = PC_EPROTO;
	freeReplyObject(r);
	return err;
}

pc_err jobpool_take(jobstore *st, const char *worker, int timeout_ms, char id[JOB_ID_LEN + 1])
{
	char proc[JOBSTORE_KEY_MAX];
	pc_err err = worker_key(st, "processing:", worker, proc, sizeof(proc));

	if (err)
		return err;
	/* The pool's queue is fair like the submit queue: round-robin across API keys. */
	return jobstore_fair_take(st, st->pool_queue_key, proc, timeout_ms, id);
}

pc_err jobstore_pool_processing_key(const jobstore *st, const char *worker, char *out, size_t cap)
{
	return worker_key(st, "processing:", worker, out, cap);
}

/* Reads the start script's answer (not nil) into id, *started and *rerun. */
static pc_err start_reply(const redisReply *r, char id[JOB_ID_LEN + 1], struct job *started,
			  bool *rerun)
{
	const redisReply *s;

	if (r->type != REDIS_REPLY_ARRAY || r->elements < 2 ||
	    r->element[0]->type != REDIS_REPLY_STRING || !job_id_is_valid(r->element[0]->str) ||
	    r->element[1]->type != REDIS_REPLY_STRING)
		return PC_EPROTO;
	memcpy(id, r->element[0]->str, JOB_ID_LEN + 1);
	s = r->element[1];
	if (strcmp(s->str, "OK") != 0)
		return PC_ECONFLICT;
	if (r->elements != 4 || r->element[3]->type != REDIS_REPLY_INTEGER)
		return PC_EPROTO;
	*rerun = r->element[3]->integer == 1;
	return jobstore_parse_job(r->element[2], started);
}

pc_err jobpool_start(jobstore *st, const char *worker, char id[JOB_ID_LEN + 1], struct job *started,
		     bool *rerun)
{
	char proc[JOBSTORE_KEY_MAX], now[24], token[48];
	struct jobstore_args a = {.n = 2};
	redisReply *r;
	pc_err err = worker_key(st, "processing:", worker, proc, sizeof(proc));

	if (err)
		return err;
	jobstore_arg(&a, "8");
	jobstore_arg(&a, st->pool_queue_key);
	jobstore_arg(&a, proc);
	arg_move(st, &a, now, token, worker);
	if (id[0] && !job_id_is_valid(id))
		return PC_EINVAL;
	jobstore_arg(&a, id);
	/* Never resent, as jobpool_take: a lost answer leaves the id in the processing list
	 * (running under our name, or queued), for jobpool_recover_own. */
	err = jobstore_eval(st, JOBSTORE_SCRIPT_POOL_START, a.n, a.v, a.len, JOBSTORE_RETRY_NEVER,
			    -1, &r);
	if (err)
		return err;
	err = r->type == REDIS_REPLY_NIL ? PC_ETIMEOUT : start_reply(r, id, started, rerun);
	freeReplyObject(r);
	return err;
}

pc_err jobpool_ack(jobstore *st, const char *worker, const char *id)
{
	char proc[JOBSTORE_KEY_MAX];
	pc_err err = worker_key(st, "processing:", worker, proc, sizeof(proc));

	return err ? err : jobstore_list_remove(st, proc, id);
}

pc_err jobpool_heartbeat(jobstore *st, const char *worker, const char *info, int ttl_ms)
{
	char alive[JOBSTORE_KEY_MAX], set[JOBSTORE_KEY_MAX], ttl[16];
	struct jobstore_args a = {.n = 2};
	uint64_t held = 0;
	pc_err err = worker_key(st, "alive:", worker, alive, sizeof(alive));

	if (!err)
		err = jobstore_key_of(st, set, sizeof(set), "pool:workers", "");
	if (err)
		return err;
	if (ttl_ms <= 0)
		return PC_EINVAL;
	snprintf(ttl, sizeof(ttl), "%d", ttl_ms);
	jobstore_arg(&a, "2");
	jobstore_arg(&a, alive);
	jobstore_arg(&a, set);
	jobstore_arg(&a, info ? info : "");
	jobstore_arg(&a, ttl);
	jobstore_arg(&a, worker);
	err = run_count(st, JOBSTORE_SCRIPT_POOL_HEARTBEAT, &a, &held);
	if (!err && held == 0)
		err = PC_EEXISTS;
	return err;
}

pc_err jobpool_leave(jobstore *st, const char *worker, const char *info)
{
	char alive[JOBSTORE_KEY_MAX], set[JOBSTORE_KEY_MAX], proc[JOBSTORE_KEY_MAX];
	struct jobstore_args a = {.n = 2};
	pc_err err = worker_key(st, "alive:", worker, alive, sizeof(alive));

	if (!err)
		err = worker_key(st, "processing:", worker, proc, sizeof(proc));
	if (!err)
		err = jobstore_key_of(st, set, sizeof(set), "pool:workers", "");
	if (err)
		return err;
	jobstore_arg(&a, "3");
	jobstore_arg(&a, alive);
	jobstore_arg(&a, set);
	jobstore_arg(&a, proc);
	jobstore_arg(&a, worker);
	jobstore_arg(&a, info ? info : "");
	return run_count(st, JOBSTORE_SCRIPT_POOL_LEAVE, &a, NULL);
}

pc_err jobpool_alive(jobstore *st, uint64_t *alive)
{
	char set[JOBSTORE_KEY_MAX];
	struct jobstore_args a = {.n = 2};
	pc_err err = jobstore_key_of(st, set, sizeof(set), "pool:workers", "");

	*alive = 0;
	if (err)
		return err;
	jobstore_arg(&a, "1");
	jobstore_arg(&a, set);
	jobstore_arg(&a, st->prefix);
	return run_count(st, JOBSTORE_SCRIPT_POOL_ALIVE, &a, alive);
}

/* The recovery script for one worker, or ("") every dead one. */
static pc_err recover(jobstore *st, const char *worker, uint64_t *moved)
{
	char set[JOBSTORE_KEY_MAX], now[24], token[48];
	struct jobstore_args a = {.n = 2};
	uint64_t n = 0;
	pc_err err = jobstore_key_of(st, set, sizeof(set), "pool:workers", "");

	if (err)
		goto out;
	jobstore_arg(&a, "8");
	jobstore_arg(&a, set);
	jobstore_arg(&a, st->pool_queue_key);
	arg_move(st, &a, now, token, worker);
	/* Safe to resend: a second run finds the lists it emptied empty. */
	err = run_count(st, JOBSTORE_SCRIPT_POOL_RECOVER, &a, &n);
	if (!err && n > 0)
		log_info("jobpool: %" PRIu64 " job(s) of %s back on the pool queue", n,
			 worker[0] ? worker : "dead workers");
out:
	if (moved)
		*moved = err ? 0 : n;
	return err;
}

pc_err jobpool_recover_dead(jobstore *st, uint64_t *moved)
{
	return recover(st, "", moved);
}

pc_err jobpool_recover_own(jobstore *st, const char *worker, uint64_t *moved)
{
	if (!jobpool_worker_name_is_valid(worker)) {
		if (moved)
			*moved = 0;
		return PC_EINVAL;
	}
	return recover(st, worker, moved);
}

pc_err jobpool_queue_length(jobstore *st, uint64_t *length)
{
	*length = 0;
	return jobstore_fair_length(st, st->pool_queue_key, length);
}
