/* jobstore_scripts.c - the store's Lua scripts: transitions, progress, listing, and their
 * prelude generated from job.h's state table; loaded once per connection. */
#include "jobstore_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * The scripts. Each begins with a prelude generated from job.h's table, e.g.
 *   local states = {'created', ...}          -- index i is KEYS[i + 1] where sets are passed
 *   local legal = {created = {queued = true, errored = true, cancelled = true}, ...}
 *   local terminal = {finished = true, ...}
 *   local function lt(a, b) ... end          -- ids in Redis's order within one score
 * so Redis refuses exactly what job_transition_is_legal refuses; then the submit queue's
 * helpers (jobstore_lua_queue: queue_push, queue_recover, ...), then job_move, the state
 * write every script makes.
 */

/*
 * job_move: the one state write every script makes (the transition script, the pool's submit
 * and recovery in jobstore_pool.c). job: the job's key; skeys: the six state sets in states'
 * order; to, expect ('' for any); now, token: the time and write token to record; oprefix:
 * "<prefix>owner:"; fields: field/value pairs to set too; want_sched: when not nil, the move
 * is made only if the job's sched_job_id is that. Returns 'OK', 'NOTFOUND' or 'CONFLICT'. A
 * job with an owner also moves in owner:<name>:states, the owner's count of jobs per unended
 * state.
 */
static const char lua_move[] =
    "local function job_move(job, skeys, id, to, expect, now, token, oprefix, fields, "
    "want_sched)\n"
    "local v = redis.call('HMGET', job, 'state', 'updated_at', 'created_at', 'owner', "
    "'sched_job_id')\n"
    "local cur = v[1]\n"
    "if not cur then return 'NOTFOUND' end\n"
    "if (expect ~= '' and cur ~= expect) or not legal[cur] or not legal[cur][to] then\n"
    "  return 'CONFLICT'\n"
    "end\n"
    "if want_sched and (v[5] or '') ~= want_sched then return 'CONFLICT' end\n"
    "if v[2] and tonumber(v[2]) and tonumber(now) < tonumber(v[2]) then now = v[2] end\n"
    "local h = {'state', to, 'updated_at', now, 'write_id', token}\n"
    "if to == 'running' then h[#h + 1] = 'started_at'; h[#h + 1] = now end\n"
    "if terminal[to] then h[#h + 1] = 'finished_at'; h[#h + 1] = now end\n"
    "if to == 'finished' then h[#h + 1] = 'progress'; h[#h + 1] = '1' end\n"
    "for i = 1, #fields do h[#h + 1] = fields[i] end\n"
    "redis.call('HSET', job, unpack(h))\n"
    "if v[4] and v[4] ~= '' then\n"
    "  local counts = oprefix .. v[4] .. ':states'\n"
    "  if redis.call('HINCRBY', counts, cur, -1) < 0 then redis.call('HSET', counts, cur, 0) end\n"
    "  if not terminal[to] then redis.call('HINCRBY', counts, to, 1)\n"
    /* A job handed to the scheduler ended: a take held back by the key's max_running may
     * go on now (jobstore_queue.c); oprefix less "owner:" is the prefix. */
    "  elseif cur == 'queued' or cur == 'running' then\n"
    "    queue_ring_bell(string.sub(oprefix, 1, #oprefix - 6) .. 'queue')\n"
    "  end\n"
    "end\n"
    "local score = v[3] or '0'\n"
    "for i, s in ipairs(states) do\n"
    "  if s == cur then redis.call('ZREM', skeys[i], id) end\n"
    "  if s == to then redis.call('ZADD', skeys[i], score, id) end\n"
    "end\n"
    /* Retention's indexes by end time (jobstore_retention.c); p is job less job:<id>. */
    "if terminal[to] then\n"
    "  local p = string.sub(job, 1, #job - #id - 4)\n"
    "  redis.call('ZADD', p .. 'ended', now, id)\n"
    "  if redis.call('HEXISTS', job, 'result_object') == 1 and to == 'finished' then\n"
    "    redis.call('ZADD', p .. 'results', now, id)\n"
    "  end\n"
    "end\n"
    "return 'OK'\n"
    "end\n";

/* KEYS: job, state sets x6. ARGV: id, to, expect|'', now_ms, token, retry, want_after,
 * "<prefix>owner:", "=" followed by the expected sched_job_id or '' for none, then
 * field/value pairs. Returns {status} or {status, HGETALL}. */
static const char script_transition[] =
    "local v = redis.call('HMGET', KEYS[1], 'state', 'write_id')\n"
    "local function reply(status)\n"
    "  if ARGV[7] == '1' then return {status, redis.call('HGETALL', KEYS[1])} end\n"
    "  return {status}\n"
    "end\n"
    "if not v[1] then return {'NOTFOUND'} end\n"
    "if ARGV[6] == '1' and v[1] == ARGV[2] and v[2] == ARGV[5] then return reply('OK') end\n"
    "local want = nil\n"
    "if ARGV[9] ~= '' then want = string.sub(ARGV[9], 2) end\n"
    "local fields = {}\n"
    "for i = 10, #ARGV do fields[#fields + 1] = ARGV[i] end\n"
    "local skeys = {}\n"
    "for i = 2, 7 do skeys[#skeys + 1] = KEYS[i] end\n"
    "return reply(job_move(KEYS[1], skeys, ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], "
    "ARGV[8], fields, want))\n";

/* KEYS: job. ARGV: progress, now_ms. Only while running. */
static const char script_progress[] =
    "local v = redis.call('HMGET', KEYS[1], 'state', 'updated_at')\n"
    "if not v[1] then return 'NOTFOUND' end\n"
    "if v[1] ~= 'running' then return 'CONFLICT' end\n"
    "local now = ARGV[2]\n"
    "if v[2] and tonumber(v[2]) and tonumber(now) < tonumber(v[2]) then now = v[2] end\n"
    "redis.call('HSET', KEYS[1], 'progress', ARGV[1], 'updated_at', now)\n"
    "return 'OK'\n";

/* KEYS: job. ARGV: sched_name, sched_job_id, now_ms. Only before the compute starts (once
 * running, the compute's own identity is there and must stay). */
static const char script_sched[] =
    "local v = redis.call('HMGET', KEYS[1], 'state', 'updated_at')\n"
    "if not v[1] then return 'NOTFOUND' end\n"
    "if v[1] ~= 'created' and v[1] ~= 'queued' then return 'CONFLICT' end\n"
    "local now = ARGV[3]\n"
    "if v[2] and tonumber(v[2]) and tonumber(now) < tonumber(v[2]) then now = v[2] end\n"
    "redis.call('HSET', KEYS[1], 'sched_name', ARGV[1], 'sched_job_id', ARGV[2], "
    "'updated_at', now)\n"
    "return 'OK'\n";

/*
 * KEYS: a sorted set (jobs or state:X). ARGV: want (page size + 1), cursor score|'',
 * cursor id, job key prefix. Newest first: by score descending, then by id descending
 * (bytewise, as Redis orders equal scores), starting strictly after (score, id). Returns
 * {id, score, HGETALL, id, score, HGETALL, ...}.
 */
static const char script_list[] =
    "local key, want = KEYS[1], tonumber(ARGV[1])\n"
    "local ids, scores = {}, {}\n"
    "local function add(r, after)\n"
    "  for i = 1, #r, 2 do\n"
    "    if #ids >= want then return end\n"
    "    if not after or lt(r[i], after) then\n"
    "      ids[#ids + 1] = r[i]; scores[#scores + 1] = r[i + 1]\n"
    "    end\n"
    "  end\n"
    "end\n"
    "if ARGV[2] == '' then\n"
    "  add(redis.call('ZREVRANGEBYSCORE', key, '+inf', '-inf', 'WITHSCORES', 'LIMIT', 0, "
    "want))\n"
    "else\n"
    "  local s, cid = ARGV[2], ARGV[3]\n"
    "  local sc = redis.call('ZSCORE', key, cid)\n"
    "  if sc and tonumber(sc) == tonumber(s) then\n"
    "    local rank = redis.call('ZREVRANK', key, cid)\n"
    "    add(redis.call('ZREVRANGE', key, rank + 1, rank + want, 'WITHSCORES'))\n"
    "  else\n"
    "    add(redis.call('ZREVRANGEBYSCORE', key, s, s, 'WITHSCORES'), cid)\n"
    "    if #ids < want then\n"
    "      add(redis.call('ZREVRANGEBYSCORE', key, '(' .. s, '-inf', 'WITHSCORES', "
    "'LIMIT', 0, want - #ids))\n"
    "    end\n"
    "  end\n"
    "end\n"
    "local out = {}\n"
    "for i = 1, #ids do\n"
    "  out[#out + 1] = ids[i]; out[#out + 1] = scores[i]\n"
    "  out[#out + 1] = redis.call('HGETALL', ARGV[4] .. ids[i])\n"
    "end\n"
    "return out\n";

/*
 * KEYS: an owner's index. ARGV: want, cursor score|'', cursor id, job key prefix, state|''.
 * The same order and cursor as script_list, but only jobs in `state` (when given) count
 * towards want: the index is walked from the cursor's rank in batches, each job's hash read
 * once, until want jobs matched or the index ends. One call reads at most 1000 jobs: when
 * that is reached first, the reply ends with {last id read, its score, 'MORE'} and the page
 * is continued from there. The walk starts after the cursor: at the
 * number of entries up to and including (score, id) in (score desc, id desc) order, i.e.
 * higher scores, and equal scores with an id not below the cursor's.
 */
static const char script_list_filtered[] =
    "local key, want, state = KEYS[1], tonumber(ARGV[1]), ARGV[5]\n"
    "local start = 0\n"
    "if ARGV[2] ~= '' then\n"
    "  local s, cid = ARGV[2], ARGV[3]\n"
    "  start = redis.call('ZCOUNT', key, '(' .. s, '+inf')\n"
    "  for _, m in ipairs(redis.call('ZRANGEBYSCORE', key, s, s)) do\n"
    "    if not lt(m, cid) then start = start + 1 end\n"
    "  end\n"
    "end\n"
    "local out, n, budget, last_id, last_score = {}, 0, 1000, nil, nil\n"
    "while n < want do\n"
    "  local r = redis.call('ZREVRANGE', key, start, start + 99, 'WITHSCORES')\n"
    "  if #r == 0 then break end\n"
    "  for i = 1, #r, 2 do\n"
    "    if n >= want then break end\n"
    "    if budget == 0 then\n"
    "      out[#out + 1] = last_id; out[#out + 1] = last_score; out[#out + 1] = 'MORE'\n"
    "      return out\n"
    "    end\n"
    "    budget, last_id, last_score = budget - 1, r[i], r[i + 1]\n"
    "    local h = redis.call('HGETALL', ARGV[4] .. r[i])\n"
    "    local ok = state == ''\n"
    "    for j = 1, #h, 2 do\n"
    "      if h[j] == 'state' then ok = ok or h[j + 1] == state end\n"
    "    end\n"
    "    if ok then\n"
    "      out[#out + 1] = r[i]; out[#out + 1] = r[i + 1]; out[#out + 1] = h; n = n + 1\n"
    "    end\n"
    "  end\n"
    "  start = start + 100\n"
    "end\n"
    "return out\n";

/* KEYS: the six state sets. */
static const char script_counts[] =
    "local out = {}\n"
    "for i = 1, #KEYS do out[i] = redis.call('ZCARD', KEYS[i]) end\n"
    "return out\n";

static const char *const script_bodies[JOBSTORE_SCRIPT_COUNT] = {
    [JOBSTORE_SCRIPT_ADMIT] = jobstore_script_admit,
    [JOBSTORE_SCRIPT_TRANSITION] = script_transition,
    [JOBSTORE_SCRIPT_PROGRESS] = script_progress,
    [JOBSTORE_SCRIPT_SCHED] = script_sched,
    [JOBSTORE_SCRIPT_LIST] = script_list,
    [JOBSTORE_SCRIPT_COUNTS] = script_counts,
    [JOBSTORE_SCRIPT_RECOVER] = jobstore_script_recover,
    [JOBSTORE_SCRIPT_TAKE] = jobstore_script_take,
    [JOBSTORE_SCRIPT_QUEUE_LENGTH] = jobstore_script_queue_length,
    [JOBSTORE_SCRIPT_ORPHANS] = jobstore_script_orphans,
    [JOBSTORE_SCRIPT_LIST_FILTERED] = script_list_filtered,
    [JOBSTORE_SCRIPT_POOL_SUBMIT] = jobstore_script_pool_submit,
    [JOBSTORE_SCRIPT_POOL_RECOVER] = jobstore_script_pool_recover,
    [JOBSTORE_SCRIPT_POOL_ALIVE] = jobstore_script_pool_alive,
    [JOBSTORE_SCRIPT_POOL_HEARTBEAT] = jobstore_script_pool_heartbeat,
    [JOBSTORE_SCRIPT_POOL_LEAVE] = jobstore_script_pool_leave,
};

/* Appends to buf (size cap, used *len); false when it does not fit. */
static bool append(char *buf, size_t cap, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static bool append(char *buf, size_t cap, size_t *len, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf + *len, cap - *len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= cap - *len)
		return false;
	*len += (size_t)n;
	return true;
}

/* The prelude shared by all scripts, from job.h's state machine. */
static bool build_prelude(char *buf, size_t cap)
{
	size_t len = 0;
	bool ok = append(buf, cap, &len, "local states = {");

	for (int s = 0; s < JOB_STATE_COUNT; s++)
		ok = ok && append(buf, cap, &len, "%s'%s'", s ? ", " : "", job_state_name(s));
	ok = ok && append(buf, cap, &len, "}\nlocal legal = {");
	for (int from = 0; from < JOB_STATE_COUNT; from++) {
		ok = ok &&
		     append(buf, cap, &len, "%s%s = {", from ? ", " : "", job_state_name(from));
		for (int to = 0, n = 0; to < JOB_STATE_COUNT; to++) {
			if (job_transition_is_legal(from, to))
				ok = ok && append(buf, cap, &len, "%s%s = true", n++ ? ", " : "",
						  job_state_name(to));
		}
		ok = ok && append(buf, cap, &len, "}");
	}
	ok = ok && append(buf, cap, &len, "}\nlocal terminal = {");
	for (int s = 0, n = 0; s < JOB_STATE_COUNT; s++) {
		if (job_state_is_terminal(s))
			ok = ok && append(buf, cap, &len, "%s%s = true", n++ ? ", " : "",
					  job_state_name(s));
	}
	/* lt(a, b): bytewise order of ids, as Redis orders the members of one score. */
	return ok && append(buf, cap, &len,
			    "}\nlocal function lt(a, b)\n"
			    "  local n = math.min(#a, #b)\n"
			    "  for i = 1, n do\n"
			    "    local x, y = string.byte(a, i), string.byte(b, i)\n"
			    "    if x ~= y then return x < y end\n"
			    "  end\n"
			    "  return #a < #b\n"
			    "end\n");
}

void jobstore_scripts_free(jobstore *st)
{
	for (int i = 0; i < JOBSTORE_SCRIPT_COUNT; i++) {
		free(st->script_text[i]);
		st->script_text[i] = NULL;
	}
}

pc_err jobstore_scripts_init(jobstore *st)
{
	char prelude[2048];
	redisReply *r;
	pc_err err;

	if (!build_prelude(prelude, sizeof(prelude)))
		return PC_EINTERNAL;
	for (int i = 0; i < JOBSTORE_SCRIPT_COUNT; i++) {
		size_t n = strlen(prelude) + strlen(jobstore_lua_queue) + strlen(lua_move) +
			   strlen(script_bodies[i]) + 1;

		st->script_text[i] = malloc(n);
		if (!st->script_text[i]) {
			err = PC_ENOMEM;
			goto out_free_scripts;
		}
		snprintf(st->script_text[i], n, "%s%s%s%s", prelude, jobstore_lua_queue, lua_move,
			 script_bodies[i]);
	}
	for (int i = 0; i < JOBSTORE_SCRIPT_COUNT; i++) {
		const char *args[3] = {"SCRIPT", "LOAD", st->script_text[i]};
		size_t arg_lens[3] = {6, 4, strlen(st->script_text[i])};

		err = jobstore_call(st, 3, args, arg_lens, JOBSTORE_RETRY_SAFE, -1, &r);
		if (err)
			goto out_free_scripts;
		if (r->type != REDIS_REPLY_STRING || r->len != 40) {
			freeReplyObject(r);
			err = PC_EPROTO;
			goto out_free_scripts;
		}
		memcpy(st->script_sha[i], r->str, 40);
		st->script_sha[i][40] = '\0';
		freeReplyObject(r);
	}
	return PC_OK;

out_free_scripts:
	jobstore_scripts_free(st);
	return err;
}
