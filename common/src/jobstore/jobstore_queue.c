/* jobstore_queue.c - the reliable submit queue: take, acknowledge, recover, length. */
#include "jobstore_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "picluster/log.h"

#define OWNER_MAX	    64
#define TAKE_TIMEOUT_MAX_MS 3600000 /* an hour: keeps the socket timeout sum in range */

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
	struct jobstore_args a = {.n = 2};
	redisReply *r;
	pc_err err = jobstore_processing_key(st, owner, proc, sizeof(proc));

	if (err)
		return err;
	jobstore_arg(&a, "2");
	jobstore_arg(&a, proc);
	jobstore_arg(&a, st->queue_key);
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
