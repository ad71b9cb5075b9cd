/* jobstore_queue.c - the fair, reliable submit queue: take, acknowledge, recover, length. */
#include "jobstore_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "picluster/clock.h"
#include "picluster/log.h"

#define OWNER_MAX	    64
#define TAKE_TIMEOUT_MAX_MS 3600000 /* an hour: keeps the socket timeout sum in range */

/*
 * The queue's keys, all named after <prefix>queue (Q below), so that every script finds them
 * from the one key it is given:
 *   Q              ids of owner "" (--auth none), and ids an older gateway queued
 *   Q:<owner>      ids of one API key (names have no ':', so no clash with the keys below)
 *   Q-ring         owners with ids waiting, in turn order (each once; "" stands for Q)
 *   Q-last         the owner the last take served
 *   Q-bell         at most one token: "ids may be waiting", what blocked takers wait on
 * Each owner's list is FIFO: pushed on the left, taken from the right (its head). A take
 * moves the ring's head to its tail and takes that owner's oldest id, so owners with jobs
 * waiting take turns, one job each, however many each has queued. An owner that joins
 * goes at the end of the ring but ahead of the owner served last (then the ring's tail):
 * it never waits behind a backlog that just had its turn.
 *
 * The helpers below are appended to the prelude of every script (jobstore_scripts_init),
 * so the create script, recovery and the orphan sweep all queue an id the same way.
 */
const char jobstore_lua_queue[] =
    "local function queue_list(queue, owner)\n"
    "  if owner == '' then return queue end\n"
    "  return queue .. ':' .. owner\n"
    "end\n"
    "local function queue_ring_bell(queue)\n"
    "  if redis.call('LLEN', queue .. '-bell') == 0 then\n"
    "    redis.call('LPUSH', queue .. '-bell', '1')\n"
    "  end\n"
    "end\n"
    "local function queue_join(queue, owner)\n"
    "  local ring = queue .. '-ring'\n"
    "  if redis.call('LPOS', ring, owner) then return end\n"
    "  local tail = redis.call('LINDEX', ring, -1)\n"
    "  if tail and tail == redis.call('GET', queue .. '-last') then\n"
    "    redis.call('LINSERT', ring, 'BEFORE', tail, owner)\n"
    "  else\n"
    "    redis.call('RPUSH', ring, owner)\n"
    "  end\n"
    "end\n"
    /* queue_push: the owner is read from the job's hash ("" when none, or no hash). */
    "local function queue_push(queue, job, id, at_head)\n"
    "  local owner = redis.call('HGET', job, 'owner') or ''\n"
    "  local list = queue_list(queue, owner)\n"
    "  if at_head then redis.call('RPUSH', list, id) else redis.call('LPUSH', list, id) end\n"
    "  queue_join(queue, owner)\n"
    "  queue_ring_bell(queue)\n"
    "end\n"
    /* queue_recover: a processing list back at the heads of its owners' lists, newest taken
     * first, so that the oldest taken ends up first in line. */
    "local function queue_recover(proc, queue, job_prefix)\n"
    "  local n, id = 0, redis.call('LPOP', proc)\n"
    "  while id do\n"
    "    queue_push(queue, job_prefix .. id, id, true)\n"
    "    n = n + 1\n"
    "    id = redis.call('LPOP', proc)\n"
    "  end\n"
    "  return n\n"
    "end\n"
    /* queue_take: the next id, round-robin across owners, into proc (its left end); false
     * when none may be taken. may_start(queue, owner), when given, can pass an owner over.
     * The bell keeps one token while ids still wait, so the next idle taker wakes. */
    "local function queue_take(queue, proc, may_start)\n"
    "  local ring = queue .. '-ring'\n"
    "  if redis.call('LLEN', queue) > 0 then queue_join(queue, '') end\n"
    "  local id = false\n"
    "  for _ = 1, redis.call('LLEN', ring) do\n"
    "    local owner = redis.call('LMOVE', ring, ring, 'LEFT', 'RIGHT')\n"
    "    local list = queue_list(queue, owner)\n"
    /* An owner may_start refuses (e.g. at its key's max_running) is passed over: no
     * take; it keeps its ids and its place in the ring. */
    "    if not may_start or may_start(queue, owner) then\n"
    "      id = redis.call('LMOVE', list, proc, 'RIGHT', 'LEFT')\n"
    "      if redis.call('LLEN', list) == 0 then redis.call('RPOP', ring) end\n"
    "      if id then\n"
    "        redis.call('SET', queue .. '-last', owner)\n"
    "        break\n"
    "      end\n"
    "    end\n"
    "  end\n"
    "  if id then\n"
    "    if redis.call('LLEN', ring) > 0 then queue_ring_bell(queue)\n"
    "    else redis.call('DEL', queue .. '-bell') end\n"
    "  end\n"
    "  return id\n"
    "end\n";

/*
 * KEYS: queue, processing:<instance>. ARGV: '1' to hold back keys at their max_running (the
 * submit queue), '0' not to (the pool's queue, whose jobs the submitter already held back).
 * Returns the id taken (on the processing list's left) or
 * nil. Ids in the queue with no ring entry (an older gateway's) first make "" join the ring.
 * After a take the bell keeps one token while ids still wait, so the next idle taker wakes
 * (one create rings once, but several takers may be waiting); an empty take leaves it alone.
 */
const char jobstore_script_take[] =
    /* The key's max_running (its record apikey:<sha>, found by name in apikeys) against its
     * jobs queued or running (owner:<name>:states, moved by the transition script). Ids
     * taken but not yet queued are not counted: each submitter takes one at a time, so
     * several gateways may exceed a limit by one job each, briefly. */
    "local function owner_may_start(queue, owner)\n"
    "  if owner == '' then return true end\n"
    "  local p = string.sub(queue, 1, #queue - 5)\n"
    "  local sha = redis.call('HGET', p .. 'apikeys', owner)\n"
    "  if not sha then return true end\n"
    "  local max = tonumber(redis.call('HGET', p .. 'apikey:' .. sha, 'max_running')) or 0\n"
    "  if max <= 0 then return true end\n"
    "  local c = redis.call('HMGET', p .. 'owner:' .. owner .. ':states', 'queued', 'running')\n"
    "  return (tonumber(c[1]) or 0) + (tonumber(c[2]) or 0) < max\n"
    "end\n"
    "if ARGV[1] == '1' then return queue_take(KEYS[1], KEYS[2], owner_may_start) end\n"
    "return queue_take(KEYS[1], KEYS[2], nil)\n";

/* KEYS: processing:<instance>, queue. ARGV: job key prefix. Returns the number moved. */
const char jobstore_script_recover[] = "return queue_recover(KEYS[1], KEYS[2], ARGV[1])\n";

/* KEYS: queue. Every id waiting, whoever owns it. */
const char jobstore_script_queue_length[] =
    "local n = redis.call('LLEN', KEYS[1])\n"
    "for _, owner in ipairs(redis.call('LRANGE', KEYS[1] .. '-ring', 0, -1)) do\n"
    "  if owner ~= '' then n = n + redis.call('LLEN', queue_list(KEYS[1], owner)) end\n"
    "end\n"
    "return n\n";

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
	return jobstore_key_of(st, out, cap, "processing:", owner);
}

/* Takes away an entry of the processing list that is not a job id (written by hand or by
 * something else), so it does not come back at every recovery. */
static void drop_malformed(jobstore *st, const char *proc, const redisReply *r)
{
	log_warn("jobstore: dropping a malformed entry from the submit queue");
	if (r->type == REDIS_REPLY_STRING) {
		const char *rm[4] = {"LREM", proc, "1", r->str};
		size_t rm_lens[4] = {4, strlen(proc), 1, r->len};
		redisReply *rr;

		if (jobstore_call(st, 4, rm, rm_lens, JOBSTORE_RETRY_SAFE, -1, &rr) == PC_OK)
			freeReplyObject(rr);
	}
}

/* One run of the take script, not waiting: PC_OK with the id, PC_ETIMEOUT when none waits. */
static pc_err take_once(jobstore *st, const char *queue, const char *proc, char id[JOB_ID_LEN + 1])
{
	struct jobstore_args a = {.n = 2};
	redisReply *r;
	pc_err err;

	jobstore_arg(&a, "2");
	jobstore_arg(&a, queue);
	jobstore_arg(&a, proc);
	jobstore_arg(&a, strcmp(queue, st->queue_key) == 0 ? "1" : "0");
	/* Never resent: a lost reply may mean the id already moved; it then waits in the
	 * processing list for jobstore_queue_recover. */
	err =
	    jobstore_eval(st, JOBSTORE_SCRIPT_TAKE, a.n, a.v, a.len, JOBSTORE_RETRY_NEVER, -1, &r);
	if (err)
		return err;
	if (r->type == REDIS_REPLY_NIL) {
		err = PC_ETIMEOUT;
	} else if (r->type == REDIS_REPLY_STRING && job_id_is_valid(r->str)) {
		memcpy(id, r->str, JOB_ID_LEN + 1);
	} else {
		drop_malformed(st, proc, r);
		err = PC_EPROTO;
	}
	freeReplyObject(r);
	return err;
}

/* Waits up to ms (> 0) for the bell: PC_OK when it rang (ids may wait now), PC_ETIMEOUT. */
static pc_err wait_bell(jobstore *st, const char *queue, int ms)
{
	char bell[JOBSTORE_KEY_MAX], secs[32];
	const char *argv[3] = {"BLPOP", bell, secs};
	size_t lens[3];
	redisReply *r;
	pc_err err;
	int n = snprintf(bell, sizeof(bell), "%s-bell", queue);

	if (n < 0 || (size_t)n >= sizeof(bell))
		return PC_EINVAL;
	snprintf(secs, sizeof(secs), "%d.%03d", ms / 1000, ms % 1000);
	for (int i = 0; i < 3; i++)
		lens[i] = strlen(argv[i]);
	/* Not resent either: a second wait would outlast the caller's timeout. A token lost
	 * with the connection costs no job: the next take finds the id without it. */
	st->extra_timeout_ms = ms;
	err = jobstore_call(st, 3, argv, lens, JOBSTORE_RETRY_NEVER, -1, &r);
	st->extra_timeout_ms = 0;
	if (err)
		return err;
	if (r->type == REDIS_REPLY_NIL)
		err = PC_ETIMEOUT;
	else if (r->type != REDIS_REPLY_ARRAY)
		err = PC_EPROTO;
	freeReplyObject(r);
	return err;
}

/*
 * Take, then wait for the bell, then take again, until the deadline. No wake-up is lost:
 * every push rings the bell in the same script that queues the id, so an id queued after
 * a take found nothing leaves a token that the following BLPOP returns at once. A token
 * another taker used first only costs one empty take.
 */
pc_err jobstore_queue_take(jobstore *st, const char *owner, int timeout_ms, char id[JOB_ID_LEN + 1])
{
	char proc[JOBSTORE_KEY_MAX];
	pc_err err = jobstore_processing_key(st, owner, proc, sizeof(proc));

	if (err)
		return err;
	return jobstore_fair_take(st, st->queue_key, proc, timeout_ms, id);
}

pc_err jobstore_fair_take(jobstore *st, const char *queue, const char *proc, int timeout_ms,
			  char id[JOB_ID_LEN + 1])
{
	int64_t deadline;
	pc_err err;

	if (timeout_ms > TAKE_TIMEOUT_MAX_MS)
		timeout_ms = TAKE_TIMEOUT_MAX_MS;
	deadline = pc_monotonic_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	for (;;) {
		int64_t left;

		err = take_once(st, queue, proc, id);
		if (err != PC_ETIMEOUT)
			break;
		left = deadline - pc_monotonic_ms();
		if (left <= 0)
			break;
		err = wait_bell(st, queue, (int)left);
		if (err)
			break;
	}
	return err;
}

pc_err jobstore_queue_ack(jobstore *st, const char *owner, const char *id)
{
	char proc[JOBSTORE_KEY_MAX];
	pc_err err = jobstore_processing_key(st, owner, proc, sizeof(proc));

	return err ? err : jobstore_list_remove(st, proc, id);
}

pc_err jobstore_list_remove(jobstore *st, const char *key, const char *id)
{
	const char *argv[4] = {"LREM", key, "1", id};
	size_t lens[4] = {4, strlen(key), 1, JOB_ID_LEN};
	redisReply *r;
	pc_err err;

	if (!job_id_is_valid(id))
		return PC_EINVAL;
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
	struct jobstore_args a = {.n = 2};
	redisReply *r;
	pc_err err = jobstore_processing_key(st, owner, proc, sizeof(proc));

	if (err)
		return err;
	jobstore_arg(&a, "2");
	jobstore_arg(&a, proc);
	jobstore_arg(&a, st->queue_key);
	jobstore_arg(&a, st->job_key_prefix);
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
	return jobstore_fair_length(st, st->queue_key, length);
}

pc_err jobstore_fair_length(jobstore *st, const char *queue, uint64_t *length)
{
	struct jobstore_args a = {.n = 2};
	redisReply *r;
	pc_err err;

	jobstore_arg(&a, "1");
	jobstore_arg(&a, queue);
	err = jobstore_eval(st, JOBSTORE_SCRIPT_QUEUE_LENGTH, a.n, a.v, a.len, JOBSTORE_RETRY_SAFE,
			    -1, &r);
	if (err)
		return err;
	if (r->type != REDIS_REPLY_INTEGER || r->integer < 0)
		err = PC_EPROTO;
	else
		*length = (uint64_t)r->integer;
	freeReplyObject(r);
	return err;
}
