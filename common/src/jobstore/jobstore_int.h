/* jobstore_int.h - private to the Redis store: the connection, the call layer and the scripts. */
#ifndef PICLUSTER_JOBSTORE_INT_H
#define PICLUSTER_JOBSTORE_INT_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "picluster/jobstore.h"

/* Longest user name and password a Redis URL (or a password file) may carry. */
#define JOBSTORE_USER_MAX     128
#define JOBSTORE_PASSWORD_MAX 512

/*
 * A parsed store URL: TCP host and port, or a unix socket path; a database number; and the
 * credentials of its userinfo, percent-decoded ("" when absent: then the password comes
 * from JOBSTORE_PASSWORD_ENV at connect time, and no user means Redis's "default").
 */
struct jobstore_url {
	bool is_unix;
	char host[256];
	int port;
	char path[PATH_MAX];
	int db;
	char user[JOBSTORE_USER_MAX];
	char password[JOBSTORE_PASSWORD_MAX];
};

/* The Lua scripts; their text is generated in jobstore_conn.c from job.h's state machine. */
enum jobstore_script {
	JOBSTORE_SCRIPT_ADMIT,
	JOBSTORE_SCRIPT_TRANSITION,
	JOBSTORE_SCRIPT_PROGRESS,
	JOBSTORE_SCRIPT_SCHED,
	JOBSTORE_SCRIPT_LIST,
	JOBSTORE_SCRIPT_LIST_FILTERED,
	JOBSTORE_SCRIPT_COUNTS,
	JOBSTORE_SCRIPT_RECOVER,
	JOBSTORE_SCRIPT_TAKE,
	JOBSTORE_SCRIPT_QUEUE_LENGTH,
	JOBSTORE_SCRIPT_ORPHANS,
	JOBSTORE_SCRIPT_POOL_SUBMIT,
	JOBSTORE_SCRIPT_POOL_RECOVER,
	JOBSTORE_SCRIPT_POOL_ALIVE,
	JOBSTORE_SCRIPT_POOL_HEARTBEAT,
	JOBSTORE_SCRIPT_POOL_LEAVE,
	JOBSTORE_SCRIPT_POOL_START,
	JOBSTORE_SCRIPT_COUNT
};

/* The submit queue's Lua (jobstore_queue.c): helpers appended to every script's prelude
 * (queue_push, queue_recover, ...), and the bodies of the queue's own scripts. The orphan
 * sweep's body is in jobstore_instance.c. */
extern const char jobstore_lua_queue[];
extern const char jobstore_script_take[];
extern const char jobstore_script_recover[];
extern const char jobstore_script_queue_length[];
extern const char jobstore_script_orphans[];

/* The warm-worker pool's scripts (jobstore_pool.c). */
extern const char jobstore_script_pool_submit[];
extern const char jobstore_script_pool_recover[];
extern const char jobstore_script_pool_alive[];
extern const char jobstore_script_pool_heartbeat[];
extern const char jobstore_script_pool_leave[];
extern const char jobstore_script_pool_start[];

/*
 * When a call may be sent again on a fresh connection after the first one was lost (the
 * command may or may not have run):
 *   NEVER: not safe (BLMOVE would take a second id).
 *   SAFE:  idempotent (reads, HSET of the same values, LREM).
 *   FLAG:  a script that recognises its own earlier write: argv[flag_idx] becomes "1" on the
 *          second attempt and the script then accepts its own write token as success.
 */
enum jobstore_retry { JOBSTORE_RETRY_NEVER, JOBSTORE_RETRY_SAFE, JOBSTORE_RETRY_FLAG };

#define JOBSTORE_PREFIX_MAX 128
#define JOBSTORE_KEY_MAX    (JOBSTORE_PREFIX_MAX + 96)

struct jobstore {
	redisContext *ctx;
	struct jobstore_url url;
	int timeout_ms;
	int extra_timeout_ms; /* added to the socket timeout for one blocking call */

	char prefix[JOBSTORE_PREFIX_MAX + 1];
	size_t prefix_len;
	char state_key[JOB_STATE_COUNT][JOBSTORE_KEY_MAX]; /* <prefix>state:<name> */
	char jobs_key[JOBSTORE_KEY_MAX];		   /* <prefix>jobs */
	char queue_key[JOBSTORE_KEY_MAX];		   /* <prefix>queue */
	char owner_key_prefix[JOBSTORE_KEY_MAX];	   /* <prefix>owner: */
	char pool_queue_key[JOBSTORE_KEY_MAX];		   /* <prefix>pool:queue */
	char job_key_prefix[JOBSTORE_KEY_MAX];		   /* <prefix>job: */

	/* Write tokens: a random per-store base and a counter, so a retried script can tell
	 * its own earlier write from anyone else's. */
	char token_base[17];
	uint64_t token_seq;

	char *script_text[JOBSTORE_SCRIPT_COUNT];
	char script_sha[JOBSTORE_SCRIPT_COUNT][41];
};

/* Parses url into *out; on PC_EINVAL writes the reason into why (when not NULL). */
pc_err jobstore_url_parse(const char *url, struct jobstore_url *out, char *why, size_t why_cap);

/* Builds the script texts and loads them into Redis (once per store). */
pc_err jobstore_scripts_init(jobstore *st);
void jobstore_scripts_free(jobstore *st);

/* Opens st->ctx for st->url (closing any old one). PC_EUNAVAILABLE, PC_EINVAL (bad DB). */
pc_err jobstore_conn_open(jobstore *st);
void jobstore_conn_close(jobstore *st);

/*
 * Sends one command and reads its reply, reconnecting once when the connection was lost
 * (see enum jobstore_retry). On PC_OK *out is the reply (free with freeReplyObject), never an
 * error reply. Error replies: LOADING/BUSY/MASTERDOWN/TRYAGAIN give PC_EUNAVAILABLE,
 * NOAUTH/NOPERM/WRONGPASS PC_EAUTH, others (NOSCRIPT too: jobstore_eval handles it itself)
 * PC_EPROTO.
 */
pc_err jobstore_call(jobstore *st, int argc, const char **argv, size_t *lens,
		     enum jobstore_retry retry, int flag_idx, redisReply **out);

/* Runs a script: argv[0] and argv[1] are filled in here (EVALSHA and the SHA, or EVAL and
 * the text after NOSCRIPT); argv[2] is the number of keys, then keys and arguments. */
pc_err jobstore_eval(jobstore *st, enum jobstore_script script, int argc, const char **argv,
		     size_t *lens, enum jobstore_retry retry, int flag_idx, redisReply **out);

/* Runs script text with EVAL (Redis caches it by its SHA after the first call) with nkeys
 * keys and nargs arguments in total (at most 13); resent on a fresh connection, so every
 * script run this way must be idempotent. */
pc_err jobstore_eval_text(jobstore *st, const char *script, int nkeys, int nargs, const char **args,
			  redisReply **out);

/* An argument vector under construction (jobstore.c, jobstore_list.c, jobstore_queue.c). */
struct jobstore_args {
	int n;
	const char *v[48];
	size_t len[48];
};

/* Appends s (borrowed: it must outlive the call) to a. */
static inline void jobstore_arg(struct jobstore_args *a, const char *s)
{
	a->v[a->n] = s;
	a->len[a->n] = strlen(s);
	a->n++;
}

/* "<prefix><what><name>" into out; PC_EINVAL when it does not fit (the key buffers are sized
 * for the longest prefix and name). */
pc_err jobstore_key_of(const jobstore *st, char *out, size_t cap, const char *what,
		       const char *name);

/* The index of owner's jobs, "<prefix>owner:<owner>:jobs" (a sorted set by created_at, written
 * with the job), into out; "" for owner "". PC_EINVAL for an invalid name or no room. */
pc_err jobstore_owner_key(const jobstore *st, const char *owner, char *out, size_t cap);

/*
 * Fills *job from an HGETALL reply (field, value, ...). PC_ENOTFOUND for an empty hash,
 * PC_EPROTO when a required field is missing or malformed.
 */
pc_err jobstore_parse_job(const redisReply *r, struct job *job);

/* Hash replies as the job and key records read them (jobstore.c): true when k is the string
 * name; true with *out set when v is a decimal string of digits only (no sign, no space). */
bool jobstore_reply_field_is(const redisReply *k, const char *name);
bool jobstore_reply_u64(const redisReply *v, uint64_t *out);

/* Builds "<prefix>job:<id>" into out; PC_EINVAL for an invalid id. */
pc_err jobstore_job_key(const jobstore *st, const char *id, char *out, size_t cap);

/* Job fields as field/value arguments, each cut to its field's capacity (jobstore.c): the
 * result (`bytes` holds the number's text and must outlive the call), the error, the
 * scheduler's identity. */
void jobstore_arg_result(struct jobstore_args *a, char bytes[24], const char *object,
			 uint64_t nbytes, const char *sha256);
void jobstore_arg_error(struct jobstore_args *a, const char *code, const char *message);
void jobstore_arg_sched(struct jobstore_args *a, const char *name, const char *job_id);

/* "<prefix>usage:<name>:<day>", the digits accepted for key name on UTC day day; PC_EINVAL
 * for an invalid name or a day not shaped "YYYY-MM-DD" (jobstore_keys.c). */
pc_err jobstore_usage_key(const jobstore *st, const char *name, const char *day, char *out,
			  size_t cap);

/* "<prefix>pool:processing:<worker>" into out; PC_EINVAL for an invalid worker name
 * (jobstore_pool.c). */
pc_err jobstore_pool_processing_key(const jobstore *st, const char *worker, char *out, size_t cap);

/* A take from a fair queue (jobstore_queue.c) based at queue ("<prefix>queue", the submit
 * queue, or "<prefix>pool:queue"): the next id round-robin across owners into proc, waiting
 * up to timeout_ms on the queue's bell. PC_ETIMEOUT when none came. */
pc_err jobstore_fair_take(jobstore *st, const char *queue, const char *proc, int timeout_ms,
			  char id[JOB_ID_LEN + 1]);

/* *length = ids waiting in the fair queue based at queue, whoever owns them. */
pc_err jobstore_fair_length(jobstore *st, const char *queue, uint64_t *length);

/* Removes one id from the list at key (a processing list: the job was handled). PC_EINVAL
 * for an invalid id (jobstore_queue.c). */
pc_err jobstore_list_remove(jobstore *st, const char *key, const char *id);

/* The admit script's body (jobstore_admit.c), registered as JOBSTORE_SCRIPT_ADMIT. */
extern const char jobstore_script_admit[];

/* "<prefix>processing:<owner>" into out; PC_EINVAL unless owner is 1..64 of [A-Za-z0-9._:-]
 * (the owner names of the submit queue and of submitter instances). */
pc_err jobstore_processing_key(const jobstore *st, const char *owner, char *out, size_t cap);

/* Seeds the store's write tokens from getrandom(2). PC_EIO when that fails. */
pc_err jobstore_token_init(jobstore *st);

/* A fresh write token into out (at least 40 bytes). */
void jobstore_next_token(jobstore *st, char *out, size_t cap);

#endif
