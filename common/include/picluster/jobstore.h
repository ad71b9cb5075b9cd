/* store.h - jobs in Redis: atomic state transitions, listing, and the reliable submit queue. */
#ifndef PICLUSTER_JOBSTORE_H
#define PICLUSTER_JOBSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "picluster/error.h"
#include "picluster/job.h"

/*
 * One Redis connection. Not thread-safe: a multi-threaded program opens one store per
 * thread. Every call reconnects once if the connection was lost, and fails with
 * PC_EUNAVAILABLE when Redis does not answer within the store's timeout.
 *
 * Keys (all under the configurable prefix, default "picluster:"):
 *   <prefix>job:<id>            hash, one field per struct job member
 *   <prefix>state:<state>       sorted set of ids in that state, score created_at_ms
 *   <prefix>jobs                sorted set of all ids, score created_at_ms (for listing)
 *   <prefix>queue               list of ids waiting to be submitted (state created) whose job
 *                               has no owner (--auth none), and ids queued by older gateways
 *   <prefix>queue:<name>        list of ids waiting to be submitted, of jobs owned by API key name
 *   <prefix>queue-ring          list of the owners with ids waiting, in turn order ("" for queue)
 *   <prefix>queue-last          string: the owner whose id was taken last
 *   <prefix>queue-bell          list of at most one token that wakes blocked takers
 *   <prefix>processing:<owner>  list of ids one submitter has taken and not yet acked
 * Every write of a job's state goes through one Lua script that checks the transition
 * against the state machine in job.h, so no illegal transition is ever stored, whoever
 * writes.
 */
typedef struct jobstore jobstore;

/* The key prefix when none is given: what pi-gateway and pi-compute use by default. */
#define JOBSTORE_DEFAULT_PREFIX "picluster:"

/* The environment variable that holds the Redis password when the URL carries none. */
#define JOBSTORE_PASSWORD_ENV "PICLUSTER_REDIS_PASSWORD"

/*
 * Connects to url: "redis://[[USER]:PASSWORD@]HOST:PORT[/DB]" or
 * "unix://[[USER]:PASSWORD@]/path/to/redis.sock[?db=N]" (USER and PASSWORD percent-encoded;
 * no USER, or "default", sends the one-argument AUTH). Without a password in the URL, the
 * value of JOBSTORE_PASSWORD_ENV (when set and not empty) is used. AUTH is sent before SELECT
 * on every connection, reconnects included. prefix NULL means JOBSTORE_DEFAULT_PREFIX. timeout_ms
 * bounds connect and every command (<= 0: 2000). On success *out owns the connection (free
 * with jobstore_free); on failure *out is NULL. PC_EINVAL for a malformed url, PC_EUNAVAILABLE
 * when Redis cannot be reached, PC_EAUTH when Redis refuses the password or wants one (a
 * warning is logged; retrying does not help).
 */
pc_err jobstore_open(jobstore **out, const char *url, const char *prefix, int timeout_ms);

/*
 * Checks a Redis URL without connecting (for validating flags): PC_OK, or PC_EINVAL with a
 * one-line reason written into why (NUL-terminated, truncated to why_cap; why may be NULL).
 */
pc_err jobstore_url_check(const char *url, char *why, size_t why_cap);

/*
 * Writes url into out (cap bytes, always NUL-terminated) with the password of its userinfo
 * replaced by "***" ("redis://:***@host:6379/2"), for logs and messages. Any string is
 * accepted (a malformed URL is masked the same way). Returns out.
 */
const char *jobstore_url_redact(const char *url, char *out, size_t cap);

/*
 * Splits a Redis URL into the same URL without its password (url_out, url_cap bytes; a user
 * name stays) and the percent-decoded password (password_out, password_cap bytes; "" when
 * the URL has none). Processes that hand the URL on (the gateway to pi-compute) keep only
 * url_out and pass the password through the environment. PC_EINVAL for a malformed URL
 * (reason in why, which never quotes the URL), PC_ERANGE when an output is too small.
 */
pc_err jobstore_url_split_password(const char *url, char *url_out, size_t url_cap,
				   char *password_out, size_t password_cap, char *why,
				   size_t why_cap);

/*
 * Reads a password file: its first line without the line end ("\n" or "\r\n"). PC_EIO
 * when it cannot be read, PC_EINVAL when that line is empty, PC_ERANGE when it is longer
 * than password_cap - 1; why gets a one-line reason naming path (never the content).
 */
pc_err jobstore_password_file_read(const char *path, char *password_out, size_t password_cap,
				   char *why, size_t why_cap);

/* Closes the connection and frees everything. NULL is ignored. */
void jobstore_free(jobstore *st);

/* PC_OK when Redis answers PING. */
pc_err jobstore_ping(jobstore *st);

/*
 * Records a new job (state created) and appends its id to the submit queue, atomically.
 * PC_EFULL when max_queued > 0 and at least that many jobs are created or queued;
 * PC_EEXISTS if the id is taken.
 */
pc_err jobstore_job_create(jobstore *st, const struct job *job, uint64_t max_queued);

/* Reads a job. PC_ENOTFOUND if there is none with that id. */
pc_err jobstore_job_get(jobstore *st, const char *id, struct job *out);

/* What a transition writes besides the state; unset members leave fields as they are. */
struct job_update {
	bool set_result; /* result_object, result_bytes, result_sha256 from job */
	bool set_error;	 /* error_code, error_message */
	bool set_sched;	 /* sched_name, sched_job_id */
	const char *result_object;
	uint64_t result_bytes;
	const char *result_sha256;
	const char *error_code;
	const char *error_message;
	const char *sched_name;
	const char *sched_job_id;
};

/*
 * Moves job id to state `to` atomically, only if the move is legal from its current state
 * and, when expect is not NULL, only if the current state is *expect. Sets updated_at; sets
 * started_at on entering running and finished_at on entering a terminal state; progress
 * becomes 1 on finished. upd may be NULL. On success and when after is not NULL, *after is
 * the job as stored. PC_ENOTFOUND for an unknown id; PC_ECONFLICT when the move is illegal or
 * the state is not *expect (then *after, when given, holds the job as it is).
 */
pc_err jobstore_job_transition(jobstore *st, const char *id, enum job_state to,
			       const enum job_state *expect, const struct job_update *upd,
			       struct job *after);

/* Stores progress (clamped to [0, 1]) of a running job. PC_ECONFLICT if it is not running. */
pc_err jobstore_job_set_progress(jobstore *st, const char *id, double progress);

/*
 * Reads only a job's state (one HGET: light enough to poll every second while computing).
 * PC_ENOTFOUND if there is no job with that id, PC_EPROTO if its state field is unreadable.
 */
pc_err jobstore_job_get_state(jobstore *st, const char *id, enum job_state *out);

/*
 * Records the scheduler's name and id for a job, only while it is created or queued:
 * PC_ECONFLICT once it runs or has ended. The compute that wins queued -> running records
 * its own identity in that move (struct job_update.set_sched), so a submitter that answers
 * late, or a resubmitted duplicate, never overwrites the identity of the compute that runs.
 */
pc_err jobstore_job_set_sched(jobstore *st, const char *id, const char *sched_name,
			      const char *sched_job_id);

/*
 * Lists jobs newest first. owner NULL lists every owner's jobs; else only the jobs created
 * with that owner (read from its index <prefix>owner:<owner>:jobs; PC_EINVAL for an invalid
 * name). filter NULL lists every state. cursor NULL or "" starts at the newest; next_cursor
 * receives an opaque cursor for the following page, "" at the end. *jobs is a new array of
 * *count jobs (free with free()); NULL when empty.
 */
pc_err jobstore_job_list(jobstore *st, const char *owner, const enum job_state *filter,
			 size_t limit, const char *cursor, struct job **jobs, size_t *count,
			 char *next_cursor, size_t next_cursor_cap);

/* Fills counts[s] with the number of jobs in state s. */
pc_err jobstore_count_by_state(jobstore *st, uint64_t counts[JOB_STATE_COUNT]);

/* Ids of every job in one state, oldest first: *ids is a new array of *count ids (free()). */
pc_err jobstore_ids_in_state(jobstore *st, enum job_state state, char (**ids)[JOB_ID_LEN + 1],
			     size_t *count);

/*
 * The reliable, fair submit queue. A submitter named `owner` (its instance name, not a job's
 * owner) takes an id with jobstore_queue_take (moved atomically from the queue to its own
 * processing list, waiting up to timeout_ms, 0 for not at all; PC_ETIMEOUT when nothing came),
 * submits it, and then jobstore_queue_ack's it. If the submitter dies in between, the id stays
 * in its processing list and jobstore_queue_recover(owner) puts it back at the head of its
 * job's owner's queue on restart: no accepted job is ever lost.
 *
 * Fairness: each job owner (API key name; "" without auth) has its own FIFO queue, and takes
 * go round-robin across the owners that have jobs waiting, one job per turn, so one owner's
 * backlog never delays another's jobs by more than one job per other waiting owner. An owner
 * whose queue was empty joins the round at its end, but ahead of the owner served last. Any
 * number of submitters may take from one store at once; no id is ever taken twice.
 */
pc_err jobstore_queue_take(jobstore *st, const char *owner, int timeout_ms,
			   char id[JOB_ID_LEN + 1]);
pc_err jobstore_queue_ack(jobstore *st, const char *owner, const char *id);
pc_err jobstore_queue_recover(jobstore *st, const char *owner);

/* Length of the submit queue: every id waiting for a submitter, all owners together. */
pc_err jobstore_queue_length(jobstore *st, uint64_t *length);

/*
 * Submitter instances. A submitter that takes ids into processing:<owner> holds the claim
 * <prefix>instance:<owner> (its token, with a TTL it renews) while it lives; the set
 * <prefix>instances names every owner that ever held one. When a claim expires its owner is
 * gone, and any gateway's jobstore_instance_recover_orphans hands that owner's unacknowledged
 * ids back to the queue: a gateway that never comes back strands no job.
 */

/*
 * Claims owner for token for ttl_ms, or renews token's claim. replace, when not NULL or "",
 * is a token the caller knows to be dead (its process has ended) that may be taken over.
 * PC_OK: token holds the claim. PC_EEXISTS: another live token holds it, copied into holder
 * (holder_cap bytes; may be 0). PC_EINVAL for a bad owner or an empty token.
 */
pc_err jobstore_instance_hold(jobstore *st, const char *owner, const char *token,
			      const char *replace, int ttl_ms, char *holder, size_t holder_cap);

/*
 * Puts the ids of every owner without a live claim back at the head of the submit queue, in
 * the order they were taken, and forgets the owner. *moved is the number of ids moved.
 * Atomic per call (one script), so an owner renewing its claim meanwhile keeps its list.
 */
pc_err jobstore_instance_recover_orphans(jobstore *st, uint64_t *moved);

/* Adds the owner of every existing processing list to <prefix>instances (lists made before
 * instances were tracked, e.g. by an older gateway), so recovery finds them too. */
pc_err jobstore_instance_adopt_lists(jobstore *st);

/*
 * API keys. A key is a random secret that only its holder knows; the store keeps its SHA-256
 * (never the secret) and what the key may do. Keys (under the store's prefix):
 *   apikey:<sha256 hex>       hash: name, admin ("1"/"0"), created_at (unix ms), and
 *                             max_queued, max_running, max_digits, digits_per_day when set
 *   apikeys                   hash: name -> sha256 hex (names are unique; revoke by name)
 *   usage:<name>:<YYYY-MM-DD> digits accepted for that key on that UTC day (TTL 2 days)
 * Create and revoke are one Lua script each, so a revoked key is gone for every gateway at
 * once.
 */
#define API_KEY_NAME_MAX 64
#define API_KEY_HASH_LEN 32

struct api_key {
	char name[API_KEY_NAME_MAX + 1];
	bool admin;
	/* Per-key limits; 0 means "the gateway's global default". */
	uint64_t max_queued;
	uint64_t max_running;
	uint64_t max_digits;
	uint64_t digits_per_day;
	int64_t created_at_ms;
};

/* True when name is 1..API_KEY_NAME_MAX characters of [A-Za-z0-9._-]. */
bool jobstore_key_name_is_valid(const char *name);

/*
 * Stores key k under its secret's SHA-256 hash, atomically with its name. PC_EINVAL for an
 * invalid name, PC_EEXISTS when the name is taken (by another hash), PC_EUNAVAILABLE /
 * PC_EAUTH as for every call.
 */
pc_err jobstore_key_create(jobstore *st, const struct api_key *k,
			   const uint8_t hash[API_KEY_HASH_LEN]);

/* Reads the key whose secret hashes to hash into *out. PC_ENOTFOUND when there is none (never
 * created, or revoked), PC_EPROTO for a damaged record. */
pc_err jobstore_key_lookup(jobstore *st, const uint8_t hash[API_KEY_HASH_LEN], struct api_key *out);

/* Every key, sorted by name: *keys is a new array of *count keys (free with free()); NULL
 * when there are none. On failure *keys is NULL and *count 0. */
pc_err jobstore_key_list(jobstore *st, struct api_key **keys, size_t *count);

/* Deletes the key named name (its record and its name, in one step). PC_ENOTFOUND when no
 * key has that name, PC_EINVAL for an invalid name. */
pc_err jobstore_key_revoke(jobstore *st, const char *name);

/* The digits counted for key name on UTC day day ("YYYY-MM-DD") into *digits (0 when none).
 * PC_EINVAL for an invalid name or day. */
pc_err jobstore_key_usage(jobstore *st, const char *name, const char *day, uint64_t *digits);

#endif
