/* jobstore.h - jobs in Redis: atomic state transitions, listing, and the reliable submit queue. */
#ifndef PICLUSTER_JOBSTORE_H
#define PICLUSTER_JOBSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

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
 *   <prefix>owner:<name>:jobs   sorted set of one API key's job ids, score created_at_ms
 *   <prefix>owner:<name>:states hash: that key's jobs per unended state (created, queued,
 *                               running), moved by the same scripts as the state
 *   <prefix>idem:<name>:<hash>  hash: job, request; an Idempotency-Key's first job (24 h)
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
 * PC_EEXISTS if the id is taken. jobstore_job_admit without per-owner limits.
 */
pc_err jobstore_job_create(jobstore *st, const struct job *job, uint64_t max_queued);

/*
 * What admitting a job checks besides the job itself. Every limit is 0 for "none". The
 * per-owner limits and the daily count apply only to a job with an owner; the idempotency
 * record is scoped to the owner ("" under --auth none).
 */
struct jobstore_admit {
	uint64_t max_queued;	       /* created + queued jobs of all owners */
	uint64_t owner_max_queued;     /* created + queued jobs of the job's owner */
	uint64_t owner_max_running;    /* running jobs of the job's owner */
	uint64_t owner_digits_per_day; /* digits accepted for the owner on day `day` */
	const char *day;	       /* the UTC day "YYYY-MM-DD" the digits count toward */
	/* Idempotency: the SHA-256 of the client's Idempotency-Key (NULL: none) and what makes
	 * two requests the same (e.g. "digits=1000"; at most 128 bytes). */
	const uint8_t *idem_key_hash;
	const char *idem_request;
	/* Hand the job to the warm pool at once (created -> queued, sched "pool", on the pool's
	 * queue, as jobpool_submit does) instead of queueing it for the submitter. */
	bool to_pool;
};

enum jobstore_admit_outcome {
	JOBSTORE_ADMITTED,	/* the job was created */
	JOBSTORE_REPLAYED,	/* the idempotency key named an earlier job: job_id */
	JOBSTORE_IDEM_MISMATCH, /* the idempotency key was used with another request */
	JOBSTORE_FULL,		/* max_queued reached */
	JOBSTORE_OWNER_QUEUED,	/* owner_max_queued reached (count = the owner's jobs) */
	JOBSTORE_OWNER_RUNNING, /* owner_max_running reached (count = running jobs) */
	JOBSTORE_OWNER_DAILY,	/* the job's digits would pass owner_digits_per_day */
};

struct jobstore_admit_result {
	enum jobstore_admit_outcome outcome;
	char job_id[JOB_ID_LEN + 1]; /* JOBSTORE_REPLAYED: the first request's job */
	uint64_t count;		     /* the count that reached the refused limit */
	uint64_t digits_today;	     /* the owner's digits on `day` after this call */
	bool to_pool;		     /* JOBSTORE_ADMITTED: it went to the pool (queued) */
};

/*
 * jobstore_job_create with the per-owner quotas and idempotency, all in one atomic step:
 * a replay is recognised first (so a retried request is answered even when its owner is now
 * at a limit), then the limits are checked, then the job is created, counted toward the
 * owner's day and, with an idempotency key, remembered for 24 hours. PC_OK with *res telling
 * what happened (nothing is written unless res->outcome is JOBSTORE_ADMITTED); PC_EEXISTS if
 * the id is taken; PC_EINVAL for a bad owner, a job with an owner but a day not shaped
 * "YYYY-MM-DD" (a job without owner ignores day), or an idempotency hash without request.
 * For JOBSTORE_OWNER_DAILY, res->digits_today holds the count and res->count stays 0.
 */
pc_err jobstore_job_admit(jobstore *st, const struct job *job, const struct jobstore_admit *lim,
			  struct jobstore_admit_result *res);

/* The UTC day of unix time t, "YYYY-MM-DD": the day digits count toward. */
#define JOBSTORE_DAY_LEN 10
void jobstore_day_of(time_t t, char out[JOBSTORE_DAY_LEN + 1]);

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
	/* When not NULL: the move is made only if the job's sched_job_id is this (else
	 * PC_ECONFLICT), so a pool worker that lost its job to recovery cannot complete it. */
	const char *expect_sched_job_id;
	/* When not NULL: a move that succeeds also removes the id from that pool worker's
	 * processing list (jobpool.h), in the same step: a worker's finish and its
	 * acknowledgement cost one round trip. */
	const char *ack_pool_worker;
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

/*
 * Retention (jobstore_retention.c): a result is deleted some time after its job finished, and
 * the job's record some time after it ended. Keys (under the store's prefix):
 *   ended          sorted set: every finished, errored and cancelled job, score finished_at (ms)
 *   results        sorted set: finished jobs whose result is still stored, score finished_at
 *   lease:<name>   string: the token of whoever holds the lease `name` now, with a TTL
 * The state-transition script adds a job to ended (and, finished with a result, to results)
 * in the same step that makes it terminal; jobstore_retention_backfill adds jobs that ended
 * before these sets existed. A result retention has deleted stays described in the job's hash,
 * marked with the field result_expired = 1 (struct job's result_expired).
 */
enum jobstore_retention_set {
	JOBSTORE_RETENTION_RESULTS, /* <prefix>results */
	JOBSTORE_RETENTION_ENDED,   /* <prefix>ended */
};

/*
 * The ids in set `which` whose score (finished_at) is <= cutoff_ms, oldest first, at most
 * max of them: copied into ids, the caller's array of max entries; *count is how many (0 on
 * failure). A bounded batch, so that a large backlog never makes one long Redis command.
 */
pc_err jobstore_retention_due(jobstore *st, enum jobstore_retention_set which, int64_t cutoff_ms,
			      char (*ids)[JOB_ID_LEN + 1], size_t max, size_t *count);

/*
 * Marks the result of job id as deleted (result_expired = 1, and out of results), in one
 * script, only when the job is finished with a result and finished at or before cutoff_ms.
 * The caller deletes the object from the object store first, so that a crash in between
 * leaves the job in results to be done again. PC_OK when marked (now or earlier);
 * PC_ECONFLICT when not due (it is then out of results, or its score corrected); PC_ENOTFOUND
 * when there is no such job (its entry in results is removed).
 */
pc_err jobstore_result_expire(jobstore *st, const char *id, int64_t cutoff_ms);

/*
 * Deletes the record of job id and every index entry of it (jobs, state:<s>,
 * owner:<name>:jobs, ended, results) in one script, only when the job is terminal and ended
 * at or before cutoff_ms: a job that is not terminal is never touched. The caller deletes a
 * result still stored first. PC_OK when deleted; PC_ECONFLICT when not due (nothing deleted;
 * a job that is not terminal leaves ended, its next move into a terminal state adds it
 * again); PC_ENOTFOUND when there was no record (entries left in the indexes are removed).
 */
pc_err jobstore_job_expire(jobstore *st, const char *id, int64_t cutoff_ms);

/*
 * How many terminal jobs ended lacks: the sizes of the terminal state sets less the size of
 * ended, read in one script (0 when they agree). Cheap enough to ask on every pass.
 */
pc_err jobstore_retention_missing(jobstore *st, uint64_t *missing);

/* Where a backfill walk is: zero it to start a walk; done is set when the walk is over. */
struct jobstore_backfill {
	int state;     /* the terminal state whose set is being walked */
	uint64_t rank; /* the next rank in that set */
	bool done;
};

/*
 * One bounded step (at most batch ids) of a walk over the terminal state sets, adding every
 * id missing from ended (score finished_at, 0 when its record is gone, so that it is cleaned
 * up at once) and, when finished with a result not expired, from results. *added counts the
 * ids added by this step. Idempotent: walking again adds nothing twice.
 */
pc_err jobstore_retention_backfill(jobstore *st, struct jobstore_backfill *cur, size_t batch,
				   uint64_t *added);

/* A lease token: 32 lowercase hex digits (128 random bits) and its NUL. */
#define JOBSTORE_LEASE_TOKEN_LEN 32

/* Writes a fresh random lease token into out. PC_EIO if getrandom(2) fails. */
pc_err jobstore_lease_token_new(char out[JOBSTORE_LEASE_TOKEN_LEN + 1]);

/*
 * Takes the lease <prefix>lease:<name> for token, for ttl_ms (SET NX PX). name is 1..32 of
 * [a-z0-9_-]. PC_OK when token holds it (also when it held it already: the TTL is then
 * renewed); PC_EEXISTS when another token holds it; PC_EINVAL for a bad name, an empty token
 * or ttl_ms <= 0.
 */
pc_err jobstore_lease_acquire(jobstore *st, const char *name, const char *token, int ttl_ms);

/* Renews token's lease for ttl_ms, only if token still holds it (compare and set, one
 * script). PC_OK renewed; PC_ECONFLICT when it has expired or another token holds it. */
pc_err jobstore_lease_renew(jobstore *st, const char *name, const char *token, int ttl_ms);

/* Gives the lease up, only if token holds it (compare and delete, one script): PC_OK either
 * way, so that stopping never takes a lease from its new holder. */
pc_err jobstore_lease_release(jobstore *st, const char *name, const char *token);

#endif
