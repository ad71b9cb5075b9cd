/* job.h - the job model: states, the legal transitions between them, ids and JSON. */
#ifndef PICLUSTER_JOB_H
#define PICLUSTER_JOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "picluster/error.h"

/*
 * The job state machine:
 *
 *   created --> queued --> running --> finished
 *      |          |  ^        |-----> errored
 *      |          |  \--------|  (a dead pool worker's job, back in line)
 *      |          |---------->|-----> errored
 *      |--> errored
 *      \----------\-----------\-----> cancelled
 *
 * finished, errored and cancelled are terminal: nothing leaves them. A state never moves to
 * itself.
 */
enum job_state {
	JOB_CREATED,
	JOB_QUEUED,
	JOB_RUNNING,
	JOB_FINISHED,
	JOB_ERRORED,
	JOB_CANCELLED,
	JOB_STATE_COUNT
};

/* The programs that write state moves (bit flags: one move may have several writers). */
enum job_writer {
	JOB_WRITER_NONE = 0,		 /* legal, but no program writes it today */
	JOB_WRITER_HTTP = 1u << 0,	 /* pi-gateway's HTTP handlers (DELETE /job/<id>) */
	JOB_WRITER_SUBMITTER = 1u << 1,	 /* pi-gateway's submitter thread */
	JOB_WRITER_RECONCILER = 1u << 2, /* pi-gateway's reconciler thread */
	JOB_WRITER_COMPUTE = 1u << 3,	 /* pi-compute: rank 0 in job mode (--job-id), or a
					  * pool worker (--worker) */
};

/*
 * JOB_MOVES(X) is the state machine as data: X(from, to, writers) once for every legal move,
 * and nothing else is legal. job_transition_is_legal and job_state_is_terminal are read from
 * it, and the Lua scripts through which Redis makes every state write are generated from
 * job_transition_is_legal (common/src/jobstore/jobstore_conn.c), so no program can store a move
 * this table does not list. tests/common/test_job.c checks every pair of states, in C and
 * against a real redis-server.
 *
 * Who writes what, and where (the code to read when this table changes):
 *   created -> queued     submitter: took the id from the submit queue (submitter.c, handle)
 *   created -> errored    nobody today; legal since the first version of the machine
 *   created -> cancelled  DELETE /job/<id> (routes_job.c, routes_job_delete)
 *   queued -> running     pi-compute starts; the race that makes duplicate submissions
 *                         harmless, with its scheduler identity (pi_job.c, pi_job_start)
 *   queued -> errored     submitter: the scheduler refused the job, "submit_failed"
 *                         (submitter.c, refuse); reconciler: the compute ended before it
 *                         started and is not submitted again, "compute_lost" (reconciler.c,
 *                         settle); pi-compute: cannot open the object store (pi_job_start)
 *   queued -> cancelled   DELETE; reconciler: the scheduler says the compute was cancelled
 *                         from outside, e.g. scancel (settle)
 *   running -> finished   pi-compute: digits stored, with object, bytes and SHA-256
 *                         (pi_job.c, pi_job_finish)
 *   running -> errored    pi-compute: any failure while computing or storing (pi_job.c,
 *                         set_errored, from pi_job_start, pi_job_finish, pi_job_fail);
 *                         reconciler: the compute is gone without a word, "compute_lost"
 *                         (settle)
 *   running -> cancelled  DELETE; reconciler: cancelled from outside (settle)
 *   running -> queued     the keeper: a pool worker's heartbeat expired, its job goes back
 *                         on the pool queue, only while it still runs under that worker's
 *                         name (jobstore_pool.c, jobpool_recover_dead); a pool worker at its
 *                         start, for its own earlier life's jobs (jobpool_recover_own)
 * Not moves, so not in the table: POST /job creates a job in created and queues its id
 * (routes_job_post, jobstore_job_create); pi-compute writes progress while running
 * (jobstore_job_set_progress); the submitter records the scheduler's id while created or queued
 * (jobstore_job_set_sched), also when the reconciler submits again a queued job whose compute
 * was killed from outside before it started (reconciler.c, resubmit).
 */
#define JOB_MOVES(X)                                                            \
	X(JOB_CREATED, JOB_QUEUED, JOB_WRITER_SUBMITTER)                        \
	X(JOB_CREATED, JOB_ERRORED, JOB_WRITER_NONE)                            \
	X(JOB_CREATED, JOB_CANCELLED, JOB_WRITER_HTTP)                          \
	X(JOB_QUEUED, JOB_RUNNING, JOB_WRITER_COMPUTE)                          \
	X(JOB_QUEUED, JOB_ERRORED,                                              \
	  JOB_WRITER_SUBMITTER | JOB_WRITER_RECONCILER | JOB_WRITER_COMPUTE)    \
	X(JOB_QUEUED, JOB_CANCELLED, JOB_WRITER_HTTP | JOB_WRITER_RECONCILER)   \
	X(JOB_RUNNING, JOB_FINISHED, JOB_WRITER_COMPUTE)                        \
	X(JOB_RUNNING, JOB_ERRORED, JOB_WRITER_RECONCILER | JOB_WRITER_COMPUTE) \
	X(JOB_RUNNING, JOB_CANCELLED, JOB_WRITER_HTTP | JOB_WRITER_RECONCILER)  \
	X(JOB_RUNNING, JOB_QUEUED, JOB_WRITER_RECONCILER | JOB_WRITER_COMPUTE)

/* Lowercase name of a state ("queued"); static, never NULL ("invalid" when out of range). */
const char *job_state_name(enum job_state state);

/* Parses a lowercase state name. PC_EINVAL for anything else; *out untouched then. */
pc_err job_state_parse(const char *name, enum job_state *out);

/* True for a state JOB_MOVES lists no move out of: finished, errored and cancelled. */
bool job_state_is_terminal(enum job_state state);

/* True when JOB_MOVES lists from -> to; false for anything else, out-of-range states too. */
bool job_transition_is_legal(enum job_state from, enum job_state to);

/* A job id is a random UUID, version 4, lowercase: 36 characters. */
#define JOB_ID_LEN 36

/* Writes a fresh UUIDv4 and its NUL into out, from getrandom(2). PC_EIO if the kernel's
 * random source fails. */
pc_err job_id_new(char out[JOB_ID_LEN + 1]);

/* True only for exactly 36 characters of lowercase hex and dashes in the 8-4-4-4-12 shape,
 * version nibble 4 and variant 8..b: anything that passes is safe in a file name or key. */
bool job_id_is_valid(const char *s);

/* Field sizes; strings are always NUL-terminated and truncated to fit. */
#define JOB_OBJECT_MAX	      256
#define JOB_SHA256_HEX	      64
#define JOB_ERROR_CODE_MAX    48
#define JOB_ERROR_MESSAGE_MAX 512
#define JOB_SCHED_NAME_MAX    16
#define JOB_SCHED_ID_MAX      64
/* An owner is an API key's name: 1..64 of [A-Za-z0-9._-]. */
#define JOB_OWNER_MAX 65

/*
 * One job as stored. Times are milliseconds since the Unix epoch, 0 meaning "has not
 * happened" (null in JSON). A plain value: copy it freely, it owns no memory.
 */
struct job {
	char id[JOB_ID_LEN + 1];
	enum job_state state;
	uint64_t digits;
	int64_t created_at_ms;
	int64_t updated_at_ms;
	int64_t started_at_ms;
	int64_t finished_at_ms;
	double progress; /* 0 to 1 */

	bool has_result;
	char result_object[JOB_OBJECT_MAX]; /* name in the object store: jobs/<id>/pi.txt */
	uint64_t result_bytes;
	char result_sha256[JOB_SHA256_HEX + 1]; /* lowercase hex of the downloadable bytes */
	bool result_expired; /* deleted from the store by retention (stored: result_expired 1) */
	/* When retention deletes (or deleted) the result: finished_at + pi-gateway's
	 * --result-ttl; 0 for never. Not stored: the gateway sets it before showing the job. */
	int64_t result_expires_at_ms;

	bool has_error;
	char error_code[JOB_ERROR_CODE_MAX];
	char error_message[JOB_ERROR_MESSAGE_MAX];

	char sched_name[JOB_SCHED_NAME_MAX]; /* "" until submitted, then "local" or "slurm" */
	char sched_job_id[JOB_SCHED_ID_MAX]; /* the scheduler's own id for it, "" if none */
	char owner[JOB_OWNER_MAX]; /* the API key that created it; "" without --auth keys */
};

/* Initialises a new job in state created with a fresh id, the given digits and
 * created_at = updated_at = now. PC_EIO if no id could be made. */
pc_err job_init_new(struct job *job, uint64_t digits);

/* The object name of a job's digits: "jobs/<id>/pi.txt". PC_EINVAL for a bad id. */
pc_err job_result_object_name(const char *id, char *out, size_t cap);

/* Current wall-clock time in milliseconds since the epoch. */
int64_t job_now_ms(void);

/* Formats ms as RFC 3339 UTC with milliseconds ("2026-11-27T23:05:56.123Z"). */
void job_format_time(int64_t ms, char out[32]);

/*
 * Returns the job as the API shows it (new reference, NULL only when out of memory):
 * {"id", "state", "digits", "created_at", "updated_at", "started_at", "finished_at",
 *  "progress", "result": null | {"object", "bytes", "sha256", "download"[, "expires_at"]
 *  [, "expired": true]},
 *  "error": null | {"code", "message"},
 *  "scheduler": null | {"name", "job_id"} | {"name": "pool", "worker"},
 *  "owner": null | "NAME"}
 * result.download is "/job/download/<id>"; result.expires_at is there when
 * result_expires_at_ms is not 0, result.expired when result_expired is set.
 */
json_t *job_to_json(const struct job *job);

#endif
