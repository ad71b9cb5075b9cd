/* jobstore_admit.c - creating a job: per-owner quotas, the daily digit count, idempotency. */
#include "jobstore_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define IDEM_TTL_S	 "86400"  /* an Idempotency-Key is remembered for 24 hours */
#define USAGE_TTL_S	 "172800" /* a day's count outlives its day (key list shows it) */
#define IDEM_REQUEST_MAX 128
#define IDEM_KEY_MAX	 (JOBSTORE_PREFIX_MAX + 160)

/*
 * KEYS: job, state:created, state:queued, jobs, queue, owner:<n>:jobs, owner:<n>:states,
 * usage:<n>:<day>, idem:<owner>:<hash> (the owner's keys are "" and unused for a job without
 * owner; the idem key "" without idempotency), pool:queue. ARGV: id, created_at, token,
 * retry, owner, digits, max_queued, owner_max_queued, owner_max_running, digits_per_day,
 * idem_request|'', to_pool ('1' or '0'), "<prefix>owner:", then the job's field/value pairs.
 * Returns {status, number or job id [, number]}.
 * The order matters: a replay is answered before any limit (the first request was already
 * admitted), and nothing is written before every check has passed.
 */
const char jobstore_script_admit[] =
    "local owner, digits = ARGV[5], tonumber(ARGV[6])\n"
    "local function num(x) return tonumber(x) or 0 end\n"
    "local function today()\n"
    "  if owner == '' then return 0 end\n"
    "  return num(redis.call('GET', KEYS[8]))\n"
    "end\n"
    "if redis.call('EXISTS', KEYS[1]) == 1 then\n"
    "  if ARGV[4] == '1' and redis.call('HGET', KEYS[1], 'write_id') == ARGV[3] then\n"
    "    return {'OK', today()}\n"
    "  end\n"
    "  return {'EXISTS', 0}\n"
    "end\n"
    "if ARGV[11] ~= '' then\n"
    "  local seen = redis.call('HMGET', KEYS[9], 'job', 'request')\n"
    "  if seen[1] then\n"
    "    if seen[2] ~= ARGV[11] then return {'IDEM_MISMATCH', 0} end\n"
    "    return {'REPLAYED', seen[1], today()}\n"
    "  end\n"
    "end\n"
    "local max = num(ARGV[7])\n"
    "local waiting = redis.call('ZCARD', KEYS[2]) + redis.call('ZCARD', KEYS[3])\n"
    "if max > 0 and waiting >= max then return {'FULL', waiting} end\n"
    "local used = 0\n"
    "if owner ~= '' then\n"
    "  local c = redis.call('HMGET', KEYS[7], 'created', 'queued', 'running')\n"
    "  local mine, running = num(c[1]) + num(c[2]), num(c[3])\n"
    "  max = num(ARGV[8])\n"
    "  if max > 0 and mine >= max then return {'OWNER_QUEUED', mine} end\n"
    "  max = num(ARGV[9])\n"
    "  if max > 0 and running >= max then return {'OWNER_RUNNING', running} end\n"
    "  used = today()\n"
    "  max = num(ARGV[10])\n"
    "  if max > 0 and used + digits > max then return {'OWNER_DAILY', used} end\n"
    "end\n"
    "local h = {'write_id', ARGV[3]}\n"
    "for i = 14, #ARGV do h[#h + 1] = ARGV[i] end\n"
    "redis.call('HSET', KEYS[1], unpack(h))\n"
    "redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])\n"
    "redis.call('ZADD', KEYS[4], ARGV[2], ARGV[1])\n"
    /* The id joins its owner's list in the fair submit queue (jobstore_queue.c), unless it
     * goes to the warm pool at once. */
    "if ARGV[12] ~= '1' then queue_push(KEYS[5], KEYS[1], ARGV[1], false) end\n"
    "if owner ~= '' then\n"
    "  redis.call('ZADD', KEYS[6], ARGV[2], ARGV[1])\n"
    "  redis.call('HINCRBY', KEYS[7], 'created', 1)\n"
    "  used = redis.call('INCRBY', KEYS[8], digits)\n"
    /* The day's first job made the counter: it expires after the day. */
    "  if used == digits then redis.call('EXPIRE', KEYS[8], " USAGE_TTL_S ") end\n"
    "end\n"
    /* To the pool: the move the submitter would make (jobpool_submit), in the same step.
     * job_move touches only the sets of the two states (created, queued: indexes 1, 2). */
    "if ARGV[12] == '1' then\n"
    "  job_move(KEYS[1], {KEYS[2], KEYS[3]}, ARGV[1], 'queued', 'created', ARGV[2], ARGV[3], "
    "ARGV[13], {'sched_name', 'pool', 'sched_job_id', ''}, nil)\n"
    "  queue_push(KEYS[10], KEYS[1], ARGV[1], false)\n"
    "end\n"
    "if ARGV[11] ~= '' then\n"
    "  redis.call('HSET', KEYS[9], 'job', ARGV[1], 'request', ARGV[11])\n"
    "  redis.call('EXPIRE', KEYS[9], " IDEM_TTL_S ")\n"
    "end\n"
    "return {'OK', used}\n";

/* The keys a job's owner brings: its job index, its state counts, its day's usage; "" each
 * for a job without owner. */
struct owner_keys {
	char jobs[JOBSTORE_KEY_MAX];
	char states[JOBSTORE_KEY_MAX];
	char usage[JOBSTORE_KEY_MAX];
};

static pc_err owner_keys_of(const jobstore *st, const char *owner, const char *day,
			    struct owner_keys *k)
{
	char what[API_KEY_NAME_MAX + 16];
	pc_err err;

	memset(k, 0, sizeof(*k));
	if (!owner[0])
		return PC_OK;
	err = jobstore_owner_key(st, owner, k->jobs, sizeof(k->jobs));
	if (err)
		return err;
	snprintf(what, sizeof(what), "%s:states", owner);
	err = jobstore_key_of(st, k->states, sizeof(k->states), "owner:", what);
	if (err)
		return err;
	return jobstore_usage_key(st, owner, day, k->usage, sizeof(k->usage));
}

/* "<prefix>idem:<owner>:<hex of the key's hash>"; "" without an idempotency key. */
static pc_err idem_key_of(const jobstore *st, const char *owner, const uint8_t *hash, char *out,
			  size_t cap)
{
	char what[API_KEY_NAME_MAX + 2 + 2 * 32 + 1];
	size_t n;

	out[0] = '\0';
	if (!hash)
		return PC_OK;
	n = (size_t)snprintf(what, sizeof(what), "%s:", owner);
	for (size_t i = 0; i < 32; i++)
		n += (size_t)snprintf(what + n, sizeof(what) - n, "%02x", hash[i]);
	return jobstore_key_of(st, out, cap, "idem:", what);
}

/* The job's own fields as field/value pairs (the hash jobstore_parse_job reads back). The
 * number buffers must outlive the call. */
static void arg_job_fields(struct jobstore_args *a, const struct job *job, char nums[4][24],
			   char bytes[24])
{
	snprintf(nums[0], 24, "%" PRIu64, job->digits);
	snprintf(nums[1], 24, "%" PRId64, job->created_at_ms);
	snprintf(nums[2], 24, "%" PRId64, job->updated_at_ms);
	jobstore_arg(a, "id");
	jobstore_arg(a, job->id);
	jobstore_arg(a, "state");
	jobstore_arg(a, job_state_name(JOB_CREATED));
	jobstore_arg(a, "digits");
	jobstore_arg(a, nums[0]);
	jobstore_arg(a, "created_at");
	jobstore_arg(a, nums[1]);
	jobstore_arg(a, "updated_at");
	jobstore_arg(a, nums[2]);
	jobstore_arg(a, "started_at");
	jobstore_arg(a, "0");
	jobstore_arg(a, "finished_at");
	jobstore_arg(a, "0");
	jobstore_arg(a, "progress");
	jobstore_arg(a, "0");
	if (job->has_result)
		jobstore_arg_result(a, bytes, job->result_object, job->result_bytes,
				    job->result_sha256);
	if (job->has_error)
		jobstore_arg_error(a, job->error_code, job->error_message);
	if (job->sched_name[0])
		jobstore_arg_sched(a, job->sched_name, job->sched_job_id);
	if (job->owner[0]) {
		jobstore_arg(a, "owner");
		jobstore_arg(a, job->owner);
	}
}

/* The reply's number at index i (an integer, or a decimal string) into *out. */
static bool reply_number(const redisReply *r, size_t i, uint64_t *out)
{
	const redisReply *e;

	if (r->elements <= i)
		return false;
	e = r->element[i];
	if (e->type == REDIS_REPLY_INTEGER && e->integer >= 0) {
		*out = (uint64_t)e->integer;
		return true;
	}
	return e->type == REDIS_REPLY_STRING && jobstore_reply_u64(e, out);
}

/* The status words of the admit script, in the order of enum jobstore_admit_outcome. */
static const char *const outcome_word[] = {
    "OK", "REPLAYED", "IDEM_MISMATCH", "FULL", "OWNER_QUEUED", "OWNER_RUNNING", "OWNER_DAILY",
};

/* Reads the script's answer into *res: PC_OK, PC_EEXISTS, or PC_EPROTO. */
static pc_err admit_reply(const redisReply *r, struct jobstore_admit_result *res)
{
	const redisReply *w;
	size_t numi = 1;

	if (r->type != REDIS_REPLY_ARRAY || r->elements < 2 ||
	    r->element[0]->type != REDIS_REPLY_STRING)
		return PC_EPROTO;
	w = r->element[0];
	if (strcmp(w->str, "EXISTS") == 0)
		return PC_EEXISTS;
	for (size_t i = 0; i < sizeof(outcome_word) / sizeof(outcome_word[0]); i++) {
		if (strcmp(w->str, outcome_word[i]) != 0)
			continue;
		res->outcome = (enum jobstore_admit_outcome)i;
		if (res->outcome == JOBSTORE_REPLAYED) {
			if (r->element[1]->type != REDIS_REPLY_STRING ||
			    !job_id_is_valid(r->element[1]->str))
				return PC_EPROTO;
			memcpy(res->job_id, r->element[1]->str, JOB_ID_LEN + 1);
			numi = 2;
		}
		if (!reply_number(r, numi,
				  res->outcome == JOBSTORE_ADMITTED ||
					  res->outcome == JOBSTORE_REPLAYED ||
					  res->outcome == JOBSTORE_OWNER_DAILY
				      ? &res->digits_today
				      : &res->count))
			return PC_EPROTO;
		return PC_OK;
	}
	return PC_EPROTO;
}

/* The limits as decimal arguments (buffers outliving the call). */
static void arg_limits(struct jobstore_args *a, const struct jobstore_admit *lim, char nums[4][24])
{
	const uint64_t v[4] = {lim->max_queued, lim->owner_max_queued, lim->owner_max_running,
			       lim->owner_digits_per_day};

	for (int i = 0; i < 4; i++) {
		snprintf(nums[i], 24, "%" PRIu64, v[i]);
		jobstore_arg(a, nums[i]);
	}
}

pc_err jobstore_job_admit(jobstore *st, const struct job *job, const struct jobstore_admit *lim,
			  struct jobstore_admit_result *res)
{
	char key[JOBSTORE_KEY_MAX], idem[IDEM_KEY_MAX], token[48];
	char bytes[24], digits[24];
	char limits[4][24], fields[4][24];
	struct owner_keys ok;
	struct jobstore_args a = {.n = 2};
	redisReply *r;
	pc_err err;
	int retry_idx;

	memset(res, 0, sizeof(*res));
	if (job->state != JOB_CREATED ||
	    (job->owner[0] && !jobstore_key_name_is_valid(job->owner)) ||
	    (lim->idem_key_hash &&
	     (!lim->idem_request || strlen(lim->idem_request) > IDEM_REQUEST_MAX)))
		return PC_EINVAL;
	err = jobstore_job_key(st, job->id, key, sizeof(key));
	if (!err)
		err = owner_keys_of(st, job->owner, lim->day, &ok);
	if (!err)
		err = idem_key_of(st, job->owner, lim->idem_key_hash, idem, sizeof(idem));
	if (err)
		return err;
	jobstore_next_token(st, token, sizeof(token));
	jobstore_arg(&a, "10");
	jobstore_arg(&a, key);
	jobstore_arg(&a, st->state_key[JOB_CREATED]);
	jobstore_arg(&a, st->state_key[JOB_QUEUED]);
	jobstore_arg(&a, st->jobs_key);
	jobstore_arg(&a, st->queue_key);
	jobstore_arg(&a, ok.jobs);
	jobstore_arg(&a, ok.states);
	jobstore_arg(&a, ok.usage);
	jobstore_arg(&a, idem);
	jobstore_arg(&a, st->pool_queue_key);
	jobstore_arg(&a, job->id);
	snprintf(fields[3], sizeof(fields[3]), "%" PRId64, job->created_at_ms);
	jobstore_arg(&a, fields[3]);
	jobstore_arg(&a, token);
	retry_idx = a.n;
	jobstore_arg(&a, "0");
	jobstore_arg(&a, job->owner);
	snprintf(digits, sizeof(digits), "%" PRIu64, job->digits);
	jobstore_arg(&a, digits);
	arg_limits(&a, lim, limits);
	jobstore_arg(&a, lim->idem_key_hash ? lim->idem_request : "");
	jobstore_arg(&a, lim->to_pool ? "1" : "0");
	jobstore_arg(&a, st->owner_key_prefix);
	arg_job_fields(&a, job, fields, bytes);
	err = jobstore_eval(st, JOBSTORE_SCRIPT_ADMIT, a.n, a.v, a.len, JOBSTORE_RETRY_FLAG,
			    retry_idx, &r);
	if (err)
		return err;
	err = admit_reply(r, res);
	res->to_pool = err == PC_OK && res->outcome == JOBSTORE_ADMITTED && lim->to_pool;
	freeReplyObject(r);
	return err;
}

pc_err jobstore_job_create(jobstore *st, const struct job *job, uint64_t max_queued)
{
	struct jobstore_admit lim = {.max_queued = max_queued};
	struct jobstore_admit_result res;
	char day[JOBSTORE_DAY_LEN + 1];
	pc_err err;

	jobstore_day_of(time(NULL), day);
	lim.day = day;
	err = jobstore_job_admit(st, job, &lim, &res);
	if (err)
		return err;
	return res.outcome == JOBSTORE_ADMITTED ? PC_OK : PC_EFULL;
}

void jobstore_day_of(time_t t, char out[JOBSTORE_DAY_LEN + 1])
{
	struct tm tm;

	if (!gmtime_r(&t, &tm) || strftime(out, JOBSTORE_DAY_LEN + 1, "%Y-%m-%d", &tm) == 0)
		snprintf(out, JOBSTORE_DAY_LEN + 1, "1970-01-01");
}
