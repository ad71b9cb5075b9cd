/* jobstore_instance.c - submitter instances: who holds a processing list, and lists left behind. */
#include "jobstore_int.h"

#include <stdio.h>
#include <string.h>

#include "picluster/log.h"

/*
 * Keys (under the store's prefix):
 *   instance:<owner>  string: the holder's token, with a TTL that the holder renews
 *   instances         set of every owner name that held a claim (to find its list later)
 * The scripts take the prefix as an argument and build per-owner keys inside, since the
 * owners of the recovery script are only known once it reads the set (Redis is not run in
 * cluster mode here, where that would not be allowed).
 */

/* KEYS: instance:<owner>, instances. ARGV: token, ttl ms, owner, replace (a stale token of
 * this owner that may be overwritten, or ""). 1 = held by token now; else the holder's
 * token. */
static const char script_hold[] =
    "local cur = redis.call('GET', KEYS[1])\n"
    "if cur and cur ~= ARGV[1] and (ARGV[4] == '' or cur ~= ARGV[4]) then return cur end\n"
    "redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])\n"
    "redis.call('SADD', KEYS[2], ARGV[3])\n"
    "return 1\n";

/* KEYS: instances, queue. ARGV: prefix. For every owner without a live claim: its processing
 * list goes back to the heads of its jobs' owners' queues in the order it was taken (as
 * jobstore_queue_recover does, through the same queue_recover of the prelude) and the owner
 * leaves the set. Returns the number of ids moved. A prepared script (JOBSTORE_SCRIPT_ORPHANS,
 * in jobstore_conn.c's table) for that prelude. */
const char jobstore_script_orphans[] =
    "local moved = 0\n"
    "for _, owner in ipairs(redis.call('SMEMBERS', KEYS[1])) do\n"
    "  if redis.call('EXISTS', ARGV[1] .. 'instance:' .. owner) == 0 then\n"
    "    moved = moved + queue_recover(ARGV[1] .. 'processing:' .. owner, KEYS[2], ARGV[1] .. "
    "'job:')\n"
    "    redis.call('SREM', KEYS[1], owner)\n"
    "  end\n"
    "end\n"
    "return moved\n";

pc_err jobstore_eval_text(jobstore *st, const char *script, int nkeys, int nargs, const char **args,
			  redisReply **out)
{
	const char *argv[16];
	size_t lens[16];
	char nk[8];
	int argc = 0;

	if (nargs + 3 > (int)(sizeof(argv) / sizeof(argv[0])))
		return PC_EINVAL;
	snprintf(nk, sizeof(nk), "%d", nkeys);
	argv[argc++] = "EVAL";
	argv[argc++] = script;
	argv[argc++] = nk;
	for (int i = 0; i < nargs; i++)
		argv[argc++] = args[i];
	for (int i = 0; i < argc; i++)
		lens[i] = strlen(argv[i]);
	return jobstore_call(st, argc, argv, lens, JOBSTORE_RETRY_SAFE, -1, out);
}

/* "<prefix>instance:<owner>", with owner validated like a processing list's owner. */
static pc_err instance_key(const jobstore *st, const char *owner, char *out, size_t cap)
{
	char proc[JOBSTORE_KEY_MAX];
	pc_err rc = jobstore_processing_key(st, owner, proc, sizeof(proc));
	int n;

	if (rc != PC_OK)
		return rc;
	n = snprintf(out, cap, "%sinstance:%s", st->prefix, owner);
	return n > 0 && (size_t)n < cap ? PC_OK : PC_EINVAL;
}

pc_err jobstore_instance_hold(jobstore *st, const char *owner, const char *token,
			      const char *replace, int ttl_ms, char *holder, size_t holder_cap)
{
	char key[JOBSTORE_KEY_MAX], set[JOBSTORE_KEY_MAX], ttl[16];
	const char *args[6];
	redisReply *r;
	pc_err rc;

	if (!token[0] || ttl_ms <= 0)
		return PC_EINVAL;
	rc = instance_key(st, owner, key, sizeof(key));
	if (rc != PC_OK)
		return rc;
	snprintf(set, sizeof(set), "%sinstances", st->prefix);
	snprintf(ttl, sizeof(ttl), "%d", ttl_ms);
	args[0] = key;
	args[1] = set;
	args[2] = token;
	args[3] = ttl;
	args[4] = owner;
	args[5] = replace ? replace : "";
	rc = jobstore_eval_text(st, script_hold, 2, 6, args, &r);
	/* holder is written only once the script has run: replace may point into it. */
	if (holder_cap)
		holder[0] = '\0';
	if (rc != PC_OK)
		return rc;
	if (r->type == REDIS_REPLY_INTEGER && r->integer == 1) {
		rc = PC_OK;
	} else if (r->type == REDIS_REPLY_STRING) {
		if (holder_cap)
			snprintf(holder, holder_cap, "%s", r->str);
		rc = PC_EEXISTS;
	} else {
		rc = PC_EPROTO;
	}
	freeReplyObject(r);
	return rc;
}

pc_err jobstore_instance_recover_orphans(jobstore *st, uint64_t *moved)
{
	char set[JOBSTORE_KEY_MAX];
	struct jobstore_args a = {.n = 2};
	redisReply *r;
	pc_err rc;

	*moved = 0;
	snprintf(set, sizeof(set), "%sinstances", st->prefix);
	jobstore_arg(&a, "2");
	jobstore_arg(&a, set);
	jobstore_arg(&a, st->queue_key);
	jobstore_arg(&a, st->prefix);
	/* Safe to resend: a second run finds the lists it moved empty and the owners gone. */
	rc = jobstore_eval(st, JOBSTORE_SCRIPT_ORPHANS, a.n, a.v, a.len, JOBSTORE_RETRY_SAFE, -1,
			   &r);
	if (rc != PC_OK)
		return rc;
	if (r->type == REDIS_REPLY_INTEGER && r->integer >= 0)
		*moved = (uint64_t)r->integer;
	else
		rc = PC_EPROTO;
	freeReplyObject(r);
	return rc;
}

pc_err jobstore_instance_adopt_lists(jobstore *st)
{
	char match[JOBSTORE_KEY_MAX], set[JOBSTORE_KEY_MAX], cursor[32] = "0";
	size_t skip;
	pc_err rc = PC_OK;

	snprintf(match, sizeof(match), "%sprocessing:*", st->prefix);
	snprintf(set, sizeof(set), "%sinstances", st->prefix);
	skip = strlen(st->prefix) + strlen("processing:");
	do {
		const char *argv[6] = {"SCAN", cursor, "MATCH", match, "COUNT", "1000"};
		size_t lens[6];
		redisReply *r;

		for (int i = 0; i < 6; i++)
			lens[i] = strlen(argv[i]);
		rc = jobstore_call(st, 6, argv, lens, JOBSTORE_RETRY_SAFE, -1, &r);
		if (rc != PC_OK)
			return rc;
		if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
		    r->element[0]->type != REDIS_REPLY_STRING ||
		    r->element[1]->type != REDIS_REPLY_ARRAY ||
		    r->element[0]->len >= sizeof(cursor)) {
			freeReplyObject(r);
			return PC_EPROTO;
		}
		memcpy(cursor, r->element[0]->str, r->element[0]->len + 1);
		for (size_t i = 0; i < r->element[1]->elements && rc == PC_OK; i++) {
			const redisReply *k = r->element[1]->element[i];
			const char *sadd[3] = {"SADD", set, NULL};
			size_t sadd_lens[3] = {4, strlen(set), 0};
			redisReply *rr;

			if (k->type != REDIS_REPLY_STRING || k->len <= skip)
				continue;
			sadd[2] = k->str + skip;
			sadd_lens[2] = k->len - skip;
			rc = jobstore_call(st, 3, sadd, sadd_lens, JOBSTORE_RETRY_SAFE, -1, &rr);
			if (rc == PC_OK)
				freeReplyObject(rr);
		}
		freeReplyObject(r);
	} while (rc == PC_OK && strcmp(cursor, "0") != 0);
	return rc;
}
