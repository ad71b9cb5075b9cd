/* store_int.h - private to the Redis store: the connection, the call layer and the scripts. */
#ifndef PICLUSTER_STORE_INT_H
#define PICLUSTER_STORE_INT_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

#include "picluster/store.h"

/* Longest user name and password a Redis URL (or a password file) may carry. */
#define STORE_USER_MAX	   128
#define STORE_PASSWORD_MAX 512

/*
 * A parsed store URL: TCP host and port, or a unix socket path; a database number; and the
 * credentials of its userinfo, percent-decoded ("" when absent: then the password comes
 * from STORE_PASSWORD_ENV at connect time, and no user means Redis's "default").
 */
struct store_url {
	bool is_unix;
	char host[256];
	int port;
	char path[PATH_MAX];
	int db;
	char user[STORE_USER_MAX];
	char password[STORE_PASSWORD_MAX];
};

/* The Lua scripts; their text is generated in store_conn.c from job.h's state machine. */
enum store_script {
	STORE_SCRIPT_CREATE,
	STORE_SCRIPT_TRANSITION,
	STORE_SCRIPT_PROGRESS,
	STORE_SCRIPT_SCHED,
	STORE_SCRIPT_LIST,
	STORE_SCRIPT_COUNTS,
	STORE_SCRIPT_RECOVER,
	STORE_SCRIPT_COUNT
};

/*
 * When a call may be sent again on a fresh connection after the first one was lost (the
 * command may or may not have run):
 *   NEVER: not safe (BLMOVE would take a second id).
 *   SAFE:  idempotent (reads, HSET of the same values, LREM).
 *   FLAG:  a script that recognises its own earlier write: argv[flag_idx] becomes "1" on the
 *          second attempt and the script then accepts its own write token as success.
 */
enum store_retry { STORE_RETRY_NEVER, STORE_RETRY_SAFE, STORE_RETRY_FLAG };

#define STORE_PREFIX_MAX 128
#define STORE_KEY_MAX	 (STORE_PREFIX_MAX + 96)

struct store {
	redisContext *ctx;
	struct store_url url;
	int timeout_ms;
	int extra_timeout_ms; /* added to the socket timeout for one blocking call */

	char prefix[STORE_PREFIX_MAX + 1];
	size_t prefix_len;
	char state_key[JOB_STATE_COUNT][STORE_KEY_MAX]; /* <prefix>state:<name> */
	char jobs_key[STORE_KEY_MAX];			/* <prefix>jobs */
	char queue_key[STORE_KEY_MAX];			/* <prefix>queue */
	char job_key_prefix[STORE_KEY_MAX];		/* <prefix>job: */

	/* Write tokens: a random per-store base and a counter, so a retried script can tell
	 * its own earlier write from anyone else's. */
	char token_base[17];
	uint64_t token_seq;

	char *script_text[STORE_SCRIPT_COUNT];
	char script_sha[STORE_SCRIPT_COUNT][41];
};

/* Parses url into *out; on PC_EINVAL writes the reason into why (when not NULL). */
pc_err store_url_parse(const char *url, struct store_url *out, char *why, size_t why_cap);

/* Builds the script texts and loads them into Redis (once per store). */
pc_err store_scripts_init(store *st);
void store_scripts_free(store *st);

/* Opens st->ctx for st->url (closing any old one). PC_EUNAVAILABLE, PC_EINVAL (bad DB). */
pc_err store_conn_open(store *st);
void store_conn_close(store *st);

/*
 * Sends one command and reads its reply, reconnecting once when the connection was lost
 * (see enum store_retry). On PC_OK *out is the reply (free with freeReplyObject), never an
 * error reply. Error replies: LOADING/BUSY/MASTERDOWN/TRYAGAIN give PC_EUNAVAILABLE,
 * NOAUTH/NOPERM/WRONGPASS PC_EAUTH, others (NOSCRIPT too: store_eval handles it itself)
 * PC_EPROTO.
 */
pc_err store_call(store *st, int argc, const char **argv, size_t *lens, enum store_retry retry,
		  int flag_idx, redisReply **out);

/* Runs a script: argv[0] and argv[1] are filled in here (EVALSHA and the SHA, or EVAL and
 * the text after NOSCRIPT); argv[2] is the number of keys, then keys and arguments. */
pc_err store_eval(store *st, enum store_script script, int argc, const char **argv, size_t *lens,
		  enum store_retry retry, int flag_idx, redisReply **out);

/* "<prefix>processing:<owner>" into out; PC_EINVAL unless owner is 1..64 of [A-Za-z0-9._:-]
 * (the owner names of the submit queue and of submitter instances). */
pc_err store_processing_key(const store *st, const char *owner, char *out, size_t cap);

/* Seeds the store's write tokens from getrandom(2). PC_EIO when that fails. */
pc_err store_token_init(store *st);

/* A fresh write token into out (at least 40 bytes). */
void store_next_token(store *st, char *out, size_t cap);

#endif
