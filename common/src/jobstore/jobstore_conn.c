/* jobstore_conn.c - a store's Redis connection: connect, AUTH, reconnects, calls, Lua scripts. */
#include "jobstore_int.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>

#include "picluster/log.h"
#include "picluster/urlcode.h"

static struct timeval ms_to_tv(int ms)
{
	struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};

	return tv;
}

void jobstore_conn_close(jobstore *st)
{
	if (st->ctx) {
		redisFree(st->ctx);
		st->ctx = NULL;
	}
}

/* "host:port" or the socket path, to name the server in a message. */
static const char *url_where(const struct jobstore_url *u, char *out, size_t cap)
{
	if (u->is_unix)
		snprintf(out, cap, "%s", u->path);
	else
		snprintf(out, cap, "%s:%d", u->host, u->port);
	return out;
}

/*
 * Sends AUTH on a fresh connection when there is a password (the URL's, else
 * JOBSTORE_PASSWORD_ENV's): "AUTH PASSWORD", or "AUTH USER PASSWORD" (Redis 6 ACL users).
 * A refusal is PC_EAUTH: the same password would be refused again, so callers must not
 * treat it as an outage.
 */
static pc_err conn_auth(jobstore *st, redisContext *c)
{
	const char *pw = st->url.password[0] ? st->url.password : getenv(JOBSTORE_PASSWORD_ENV);
	const char *argv[3];
	size_t lens[3];
	int argc = 0;
	char where[PATH_MAX + 16];
	redisReply *r;
	pc_err err = PC_OK;

	if (!pw || !*pw)
		return PC_OK;
	argv[argc] = "AUTH";
	lens[argc++] = 4;
	if (st->url.user[0]) {
		argv[argc] = st->url.user;
		lens[argc] = strlen(st->url.user);
		argc++;
	}
	argv[argc] = pw;
	lens[argc++] = strlen(pw);
	r = redisCommandArgv(c, argc, argv, lens);
	if (!r)
		return PC_EUNAVAILABLE;
	if (r->type == REDIS_REPLY_ERROR) {
		/* Redis's messages never quote the password. */
		log_warn("Redis at %s refused the password%s%s: %s",
			 url_where(&st->url, where, sizeof(where)),
			 st->url.user[0] ? " of user " : "", st->url.user, r->str);
		err = PC_EAUTH;
	}
	freeReplyObject(r);
	return err;
}

pc_err jobstore_conn_open(jobstore *st)
{
	char where[PATH_MAX + 16];
	struct timeval tv = ms_to_tv(st->timeout_ms);
	redisContext *c;
	redisReply *r;
	pc_err err = PC_OK;

	jobstore_conn_close(st);
	if (st->url.is_unix)
		c = redisConnectUnixWithTimeout(st->url.path, tv);
	else
		c = redisConnectWithTimeout(st->url.host, st->url.port, tv);
	if (!c)
		return PC_ENOMEM;
	if (c->err) {
		err = PC_EUNAVAILABLE;
		goto out_free_ctx;
	}
	if (redisSetTimeout(c, tv) != REDIS_OK) {
		err = PC_EUNAVAILABLE;
		goto out_free_ctx;
	}
	/* Keep-alive finds a peer that vanished without a FIN (a rebooted host). */
	if (!st->url.is_unix && redisEnableKeepAlive(c) != REDIS_OK) {
		err = PC_EUNAVAILABLE;
		goto out_free_ctx;
	}
	/* AUTH before anything else, on every connection: a reconnect is a new session. */
	err = conn_auth(st, c);
	if (err)
		goto out_free_ctx;
	if (st->url.db != 0) {
		r = redisCommand(c, "SELECT %d", st->url.db);
		if (!r) {
			err = PC_EUNAVAILABLE;
			goto out_free_ctx;
		}
		if (r->type == REDIS_REPLY_ERROR) {
			log_warn("Redis at %s: SELECT %d: %s",
				 url_where(&st->url, where, sizeof(where)), st->url.db, r->str);
			/* A server still loading its data is there but not ready; one that
			 * wants a password did not get it; anything else means the database
			 * number is out of the server's range. */
			if (strncmp(r->str, "LOADING", 7) == 0)
				err = PC_EUNAVAILABLE;
			else if (strncmp(r->str, "NOAUTH", 6) == 0)
				err = PC_EAUTH;
			else
				err = PC_EINVAL;
		}
		freeReplyObject(r);
		if (err)
			goto out_free_ctx;
	}
	st->ctx = c;
	return PC_OK;

out_free_ctx:
	redisFree(c);
	return err;
}

/*
 * True when the idle connection can no longer carry a command: the server closed it (it was
 * restarted), or unexpected bytes are waiting (a late reply after a timeout). Seeing this
 * before sending means a command is never lost into a dead socket, so even commands that
 * are unsafe to retry work on the first call after a Redis restart. One poll(2), no round
 * trip.
 */
static bool conn_is_stale(redisContext *c)
{
	struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
	char b;
	ssize_t n;

	if (poll(&pfd, 1, 0) <= 0)
		return false;
	if (pfd.revents & (POLLERR | POLLHUP | POLLNVAL))
		return true;
	n = recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return false;
	return true;
}

static pc_err set_call_timeout(jobstore *st, int extra_ms)
{
	if (redisSetTimeout(st->ctx, ms_to_tv(st->timeout_ms + extra_ms)) != REDIS_OK)
		return PC_EUNAVAILABLE;
	return PC_OK;
}

/* One attempt on the current connection: NULL when the connection failed. */
static redisReply *send_once(jobstore *st, int argc, const char **argv, size_t *lens)
{
	redisReply *r;

	if (st->extra_timeout_ms && set_call_timeout(st, st->extra_timeout_ms) != PC_OK)
		return NULL;
	r = redisCommandArgv(st->ctx, argc, argv, lens);
	if (r && st->extra_timeout_ms && set_call_timeout(st, 0) != PC_OK) {
		/* The reply is good; the next call reconnects with the normal timeout. */
		st->ctx->err = REDIS_ERR_IO;
	}
	return r;
}

static bool starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/*
 * jobstore_call, and for jobstore_eval: *noscript (when not NULL) is set when Redis answered
 * NOSCRIPT, the EVALSHA that must fall back to EVAL. That is not an error of the command, so
 * it has no pc_err of its own: PC_EPROTO, and the flag tells it apart.
 */
static pc_err call(jobstore *st, int argc, const char **argv, size_t *lens,
		   enum jobstore_retry retry, int flag_idx, bool *noscript, redisReply **out)
{
	bool fresh = false;
	redisReply *r;
	pc_err err;

	*out = NULL;
	if (noscript)
		*noscript = false;
	if (!st->ctx || st->ctx->err || conn_is_stale(st->ctx)) {
		err = jobstore_conn_open(st);
		if (err)
			return err;
		fresh = true;
	}
	r = send_once(st, argc, argv, lens);
	if (!r) {
		/* Lost: the command may or may not have run. Reconnect once (not twice in a
		 * row: a connection just made that fails at once means Redis is not well). */
		jobstore_conn_close(st);
		if (fresh || retry == JOBSTORE_RETRY_NEVER)
			return PC_EUNAVAILABLE;
		err = jobstore_conn_open(st);
		if (err)
			return err;
		if (retry == JOBSTORE_RETRY_FLAG) {
			argv[flag_idx] = "1";
			lens[flag_idx] = 1;
		}
		r = send_once(st, argc, argv, lens);
		if (!r) {
			jobstore_conn_close(st);
			return PC_EUNAVAILABLE;
		}
	}
	if (r->type != REDIS_REPLY_ERROR) {
		*out = r;
		return PC_OK;
	}
	if (noscript && starts_with(r->str, "NOSCRIPT")) {
		*noscript = true;
		err = PC_EPROTO;
	} else if (starts_with(r->str, "LOADING") || starts_with(r->str, "BUSY") ||
		   starts_with(r->str, "MASTERDOWN") || starts_with(r->str, "TRYAGAIN")) {
		err = PC_EUNAVAILABLE;
	} else if (starts_with(r->str, "NOAUTH") || starts_with(r->str, "NOPERM") ||
		   starts_with(r->str, "WRONGPASS")) {
		if (starts_with(r->str, "NOAUTH"))
			log_warn("Redis wants a password (%s): give it in the URL, in %s or "
				 "with --redis-password-file",
				 r->str, JOBSTORE_PASSWORD_ENV);
		else
			log_warn("redis %.*s: %s", (int)lens[0], argv[0], r->str);
		err = PC_EAUTH;
	} else {
		log_warn("redis %.*s: %s", (int)lens[0], argv[0], r->str);
		err = PC_EPROTO;
	}
	freeReplyObject(r);
	return err;
}

pc_err jobstore_call(jobstore *st, int argc, const char **argv, size_t *lens,
		     enum jobstore_retry retry, int flag_idx, redisReply **out)
{
	return call(st, argc, argv, lens, retry, flag_idx, NULL, out);
}

pc_err jobstore_eval(jobstore *st, enum jobstore_script script, int argc, const char **argv,
		     size_t *lens, enum jobstore_retry retry, int flag_idx, redisReply **out)
{
	bool noscript;
	pc_err err;

	argv[0] = "EVALSHA";
	lens[0] = 7;
	argv[1] = st->script_sha[script];
	lens[1] = strlen(st->script_sha[script]);
	err = call(st, argc, argv, lens, retry, flag_idx, &noscript, out);
	if (!noscript)
		return err;
	/* NOSCRIPT: the script did not run (Redis restarted or its cache was flushed). EVAL
	 * runs it and caches it again for the next EVALSHA; a NOSCRIPT to EVAL is an error. */
	argv[0] = "EVAL";
	lens[0] = 4;
	argv[1] = st->script_text[script];
	lens[1] = strlen(st->script_text[script]);
	return jobstore_call(st, argc, argv, lens, retry, flag_idx, out);
}

void jobstore_next_token(jobstore *st, char *out, size_t cap)
{
	snprintf(out, cap, "%s-%" PRIu64, st->token_base, ++st->token_seq);
}

/*
 * The scripts. Each begins with a prelude generated from job.h's table, e.g.
 *   local states = {'created', ...}          -- index i is KEYS[i + 1] where sets are passed
 *   local legal = {created = {queued = true, errored = true, cancelled = true}, ...}
 *   local terminal = {finished = true, ...}
 *   local function lt(a, b) ... end          -- ids in Redis's order within one score
 * so Redis refuses exactly what job_transition_is_legal refuses; then the submit queue's
 * helpers (jobstore_lua_queue: queue_push, queue_recover, ...).
 */

/* KEYS: job, state sets x6. ARGV: id, to, expect|'', now_ms, token, retry, want_after,
 * "<prefix>owner:", then field/value pairs. Returns {status} or {status, HGETALL}. A job with
 * an owner also moves in owner:<name>:states, the owner's count of jobs per unended state. */
static const char script_transition[] =
    "local v = redis.call('HMGET', KEYS[1], 'state', 'write_id', 'updated_at', "
    "'created_at', 'owner')\n"
    "local cur, to = v[1], ARGV[2]\n"
    "if not cur then return {'NOTFOUND'} end\n"
    "local function reply(status)\n"
    "  if ARGV[7] == '1' then return {status, redis.call('HGETALL', KEYS[1])} end\n"
    "  return {status}\n"
    "end\n"
    "if ARGV[6] == '1' and cur == to and v[2] == ARGV[5] then return reply('OK') end\n"
    "if (ARGV[3] ~= '' and cur ~= ARGV[3]) or not legal[cur] or not legal[cur][to] then\n"
    "  return reply('CONFLICT')\n"
    "end\n"
    "local now = ARGV[4]\n"
    "if v[3] and tonumber(v[3]) and tonumber(now) < tonumber(v[3]) then now = v[3] end\n"
    "local h = {'state', to, 'updated_at', now, 'write_id', ARGV[5]}\n"
    "if to == 'running' then h[#h + 1] = 'started_at'; h[#h + 1] = now end\n"
    "if terminal[to] then h[#h + 1] = 'finished_at'; h[#h + 1] = now end\n"
    "if to == 'finished' then h[#h + 1] = 'progress'; h[#h + 1] = '1' end\n"
    "for i = 9, #ARGV do h[#h + 1] = ARGV[i] end\n"
    "redis.call('HSET', KEYS[1], unpack(h))\n"
    "if v[5] and v[5] ~= '' then\n"
    "  local counts = ARGV[8] .. v[5] .. ':states'\n"
    "  if redis.call('HINCRBY', counts, cur, -1) < 0 then redis.call('HSET', counts, cur, 0) end\n"
    "  if not terminal[to] then redis.call('HINCRBY', counts, to, 1) end\n"
    "end\n"
    "local score = v[4] or '0'\n"
    "for i, s in ipairs(states) do\n"
    "  if s == cur then redis.call('ZREM', KEYS[i + 1], ARGV[1]) end\n"
    "  if s == to then redis.call('ZADD', KEYS[i + 1], score, ARGV[1]) end\n"
    "end\n"
    /* Retention's indexes by end time (jobstore_retention.c); p is KEYS[1] less job:<id>. */
    "if terminal[to] then\n"
    "  local p = string.sub(KEYS[1], 1, #KEYS[1] - #ARGV[1] - 4)\n"
    "  redis.call('ZADD', p .. 'ended', now, ARGV[1])\n"
    "  if redis.call('HEXISTS', KEYS[1], 'result_object') == 1 and to == 'finished' then\n"
    "    redis.call('ZADD', p .. 'results', now, ARGV[1])\n"
    "  end\n"
    "end\n"
    "return reply('OK')\n";

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
		size_t n =
		    strlen(prelude) + strlen(jobstore_lua_queue) + strlen(script_bodies[i]) + 1;

		st->script_text[i] = malloc(n);
		if (!st->script_text[i]) {
			err = PC_ENOMEM;
			goto out_free_scripts;
		}
		snprintf(st->script_text[i], n, "%s%s%s", prelude, jobstore_lua_queue,
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

pc_err jobstore_token_init(jobstore *st)
{
	unsigned char b[8];
	ssize_t n;

	do {
		n = getrandom(b, sizeof(b), 0);
	} while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof(b))
		return PC_EIO;
	for (size_t i = 0; i < sizeof(b); i++)
		snprintf(st->token_base + 2 * i, 3, "%02x", b[i]);
	st->token_seq = 0;
	return PC_OK;
}
