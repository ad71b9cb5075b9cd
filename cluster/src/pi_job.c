/* pi_job.c - job reporting: queued -> running -> finished | errored in Redis, digits in the store.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "picluster/job.h"
#include "picluster/objstore.h"
#include "picluster/store.h"

#include "pi_job.h"
#include "pi_report.h"

/* Redis calls wait at most this long (ms). */
#define STORE_TIMEOUT_MS 5000

/* Progress goes to Redis at most this often (seconds). */
#define PROGRESS_INTERVAL 0.5

struct pi_job {
	store *st;
	objstore *os;
	objstore_writer *w;
	EVP_MD_CTX *md;
	char id[JOB_ID_LEN + 1];
	char object[JOB_OBJECT_MAX];
	uint64_t bytes;
	int write_failed;
	double last_progress;
};

/* Best effort: moves the job to errored from `from` (the store logs its own failures). */
static void set_errored(store *st, const char *id, enum job_state from, const char *code,
			const char *message)
{
	struct job_update upd;

	memset(&upd, 0, sizeof(upd));
	upd.set_error = true;
	upd.error_code = code;
	upd.error_message = message;
	if (store_job_transition(st, id, JOB_ERRORED, &from, &upd, NULL) != PC_OK)
		fprintf(stderr, "pi-compute: could not mark job %s errored\n", id);
}

static void free_job(struct pi_job *job)
{
	if (job->md != NULL)
		EVP_MD_CTX_free(job->md);
	objstore_free(job->os);
	store_free(job->st);
	free(job);
}

enum pi_job_start_result pi_job_start(struct pi_job **out, const struct pi_args *args, char *err,
				      size_t errcap)
{
	enum job_state queued = JOB_QUEUED;
	enum pi_job_start_result res = PI_JOB_FAILED;
	struct pi_job *job;
	pc_err e;

	*out = NULL;
	err[0] = '\0';
	if (!job_id_is_valid(args->job_id)) {
		snprintf(err, errcap, "--job-id: '%s' is not a job id (a lowercase UUIDv4)",
			 args->job_id);
		return PI_JOB_BAD_ARGS;
	}
	job = calloc(1, sizeof(*job));
	if (job == NULL) {
		snprintf(err, errcap, "out of memory");
		return PI_JOB_FAILED;
	}
	snprintf(job->id, sizeof(job->id), "%s", args->job_id);
	e = store_open(&job->st, args->redis_url, args->key_prefix, STORE_TIMEOUT_MS);
	if (e != PC_OK) {
		snprintf(err, errcap, "--redis %s: %s", args->redis_url, pc_strerror(e));
		res = e == PC_EINVAL ? PI_JOB_BAD_ARGS : PI_JOB_FAILED;
		goto out_free;
	}
	e = objstore_open(&job->os, args->store_url);
	if (e != PC_OK) {
		snprintf(err, errcap, "--store %s: %s", args->store_url, pc_strerror(e));
		set_errored(job->st, job->id, JOB_QUEUED, "store_unavailable", err);
		res = e == PC_EINVAL ? PI_JOB_BAD_ARGS : PI_JOB_FAILED;
		goto out_free;
	}
	e = job_result_object_name(job->id, job->object, sizeof(job->object));
	if (e != PC_OK) {
		snprintf(err, errcap, "no object name for job %s", job->id);
		goto out_free;
	}
	/* The race that makes duplicates harmless: only one run moves queued -> running. */
	e = store_job_transition(job->st, job->id, JOB_RUNNING, &queued, NULL, NULL);
	if (e == PC_ECONFLICT) {
		res = PI_JOB_SKIP;
		goto out_free;
	}
	if (e != PC_OK) {
		snprintf(err, errcap, "job %s: cannot start it: %s", job->id, pc_strerror(e));
		goto out_free;
	}
	job->md = EVP_MD_CTX_new();
	if (job->md == NULL || EVP_DigestInit_ex(job->md, EVP_sha256(), NULL) != 1) {
		snprintf(err, errcap, "SHA-256 unavailable");
		set_errored(job->st, job->id, JOB_RUNNING, "internal", err);
		goto out_free;
	}
	e = objstore_writer_open(job->os, job->object, &job->w);
	if (e != PC_OK) {
		snprintf(err, errcap, "cannot write %s to the store: %s", job->object,
			 pc_strerror(e));
		set_errored(job->st, job->id, JOB_RUNNING, "store_write", err);
		goto out_free;
	}
	job->last_progress = pi_report_now();
	*out = job;
	return PI_JOB_GO;
out_free:
	free_job(job);
	return res;
}

int pi_job_write(void *ctx, const void *buf, size_t len)
{
	struct pi_job *job = ctx;

	if (job->write_failed)
		return -1;
	if (objstore_write(job->w, buf, len) != PC_OK || EVP_DigestUpdate(job->md, buf, len) != 1) {
		job->write_failed = 1;
		return -1;
	}
	job->bytes += len;
	return 0;
}

void pi_job_progress(struct pi_job *job, double progress, bool now)
{
	double t = pi_report_now();

	if (!now && t - job->last_progress < PROGRESS_INTERVAL)
		return;
	job->last_progress = t;
	/* A refused update (cancelled meanwhile) is not an error of the computation. */
	(void)store_job_set_progress(job->st, job->id, progress);
}

int pi_job_finish(struct pi_job *job, char *err, size_t errcap)
{
	enum job_state running = JOB_RUNNING;
	unsigned char digest[EVP_MAX_MD_SIZE];
	char hex[JOB_SHA256_HEX + 1];
	unsigned int dlen = 0;
	struct job_update upd;
	pc_err e;
	int rc = -1;

	e = objstore_writer_commit(job->w);
	job->w = NULL;
	if (e != PC_OK) {
		snprintf(err, errcap, "storing %s failed: %s", job->object, pc_strerror(e));
		set_errored(job->st, job->id, JOB_RUNNING, "store_write", err);
		goto out_free;
	}
	if (EVP_DigestFinal_ex(job->md, digest, &dlen) != 1 || dlen != 32) {
		snprintf(err, errcap, "SHA-256 failed");
		objstore_delete(job->os, job->object);
		set_errored(job->st, job->id, JOB_RUNNING, "internal", err);
		goto out_free;
	}
	for (unsigned i = 0; i < dlen; i++)
		snprintf(hex + 2 * i, 3, "%02x", digest[i]);
	memset(&upd, 0, sizeof(upd));
	upd.set_result = true;
	upd.result_object = job->object;
	upd.result_bytes = job->bytes;
	upd.result_sha256 = hex;
	e = store_job_transition(job->st, job->id, JOB_FINISHED, &running, &upd, NULL);
	if (e == PC_ECONFLICT) {
		/* Cancelled while we computed: the result must not outlive the job. */
		objstore_delete(job->os, job->object);
		rc = 0;
		goto out_free;
	}
	if (e != PC_OK) {
		snprintf(err, errcap, "job %s: cannot record the result: %s", job->id,
			 pc_strerror(e));
		objstore_delete(job->os, job->object);
		set_errored(job->st, job->id, JOB_RUNNING, "store_unavailable", err);
		goto out_free;
	}
	rc = 0;
out_free:
	free_job(job);
	return rc;
}

void pi_job_fail(struct pi_job *job, const char *code, const char *message)
{
	objstore_writer_abort(job->w);
	job->w = NULL;
	set_errored(job->st, job->id, JOB_RUNNING, code, message);
	free_job(job);
}
