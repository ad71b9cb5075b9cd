/* pi_job.h - job reporting mode: state in Redis (store.h), digits in the object store. */
#ifndef PI_JOB_H
#define PI_JOB_H

#include <stdbool.h>
#include <stddef.h>

#include "pi_args.h"

struct pi_job;

/* What pi_job_start decided. */
enum pi_job_start_result {
	PI_JOB_GO,	 /* the job is ours and running: compute */
	PI_JOB_SKIP,	 /* not queued any more (cancelled, or another run took it): exit 0 */
	PI_JOB_BAD_ARGS, /* malformed id or URL: exit 2 */
	PI_JOB_FAILED /* Redis or the store failed: exit 1 (the job is set errored if possible) */
};

/*
 * Rank 0 only. Connects to Redis and the object store, moves the job queued -> running and
 * opens the writer for jobs/<id>/pi.txt. On PI_JOB_GO *out is a new handle ending in
 * pi_job_finish or pi_job_fail; otherwise *out is NULL and err holds a one-line message
 * (empty for PI_JOB_SKIP).
 */
enum pi_job_start_result pi_job_start(struct pi_job **out, const struct pi_args *args, char *err,
				      size_t errcap);

/* A pi_run_hooks write callback: streams bytes into the object and the SHA-256. */
int pi_job_write(void *job, const void *buf, size_t len);

/* Records progress (0..1) in Redis, at most a few times a second unless `now`. */
void pi_job_progress(struct pi_job *job, double progress, bool now);

/*
 * Commits the object and moves running -> finished with its name, size and SHA-256. When
 * that move is refused (cancelled meanwhile) the object is deleted and 0 is returned. On
 * failure the job is set errored, err holds a message and -1 is returned. Frees job.
 */
int pi_job_finish(struct pi_job *job, char *err, size_t errcap);

/* Discards the object and moves running -> errored with code and message. Frees job. */
void pi_job_fail(struct pi_job *job, const char *code, const char *message);

#endif
