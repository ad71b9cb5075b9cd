/* pi_job.c - job reporting: queued -> running -> finished | errored in Redis, digits in the store.
 * The state moves' retries are in pi_job_redis.c, the watcher thread in pi_job_watch.c. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "picluster/procid.h"

#include "pi_job_int.h"

/*
 * The job's error code for a failure of the object store, so that a client tells a full
 * disk, a refused permission or credential and an unreachable endpoint apart without
 * reading the message; `other` for every other cause.
 */
static const char *store_error_code(pc_err e, const char *other)
{
	switch (e) {
	case PC_ENOSPACE:
		return "store_full";
	case PC_EAUTH:
		return "store_denied";
	case PC_EUNAVAILABLE:
	case PC_ETIMEOUT:
		return "store_unavailable";
	default:
		return other;
	}
}

/* "<what>: <pc_strerror(e)> (<detail>)" into err, without the parentheses when the store
 * gave no detail. */
static void describe(char *err, size_t errcap, const char *what, pc_err e, const char *detail)
{
	if (detail[0] != '\0')
		snprintf(err, errcap, "%s: %s (%s)", what, pc_strerror(e), detail);
	else
		snprintf(err, errcap, "%s: %s", what, pc_strerror(e));
}

/*
 * The identity of the compute that runs, as the reconciler checks it: Slurm's job id inside
 * an allocation; else the mpirun that launched this rank (on one host mpirun forks the ranks
 * itself, so it is our parent; Open MPI sets OMPI_COMM_WORLD_SIZE in what it launches); else,
 * run without mpirun, this process, as "PID:STARTTICKS" (common/procid.h, the local
 * scheduler's format). -1 when /proc cannot say.
 */
static int sched_identity(struct pi_job *job)
{
	const char *slurm = getenv("SLURM_JOB_ID");
	pid_t pid = getenv("OMPI_COMM_WORLD_SIZE") != NULL ? getppid() : getpid();

	if (slurm != NULL && slurm[0] != '\0') {
		snprintf(job->sched_name, sizeof(job->sched_name), "slurm");
		snprintf(job->sched_id, sizeof(job->sched_id), "%s", slurm);
		return 0;
	}
	snprintf(job->sched_name, sizeof(job->sched_name), "local");
	return procid_of(pid, job->sched_id, sizeof(job->sched_id)) == PC_OK ? 0 : -1;
}

static void free_job(struct pi_job *job)
{
	pi_job_stop_watcher(job);
	if (job->md != NULL)
		EVP_MD_CTX_free(job->md);
	if (!job->hosted) {
		objstore_free(job->watch_os);
		objstore_free(job->os);
		jobstore_free(job->st);
	}
	pthread_cond_destroy(&job->wake);
	pthread_mutex_destroy(&job->lock);
	free(job);
}

/* A new job `id` for args (not yet connected to anything); NULL with err set when out of
 * memory or a lock cannot be made. */
static struct pi_job *job_new(const struct pi_args *args, const char *id, char *err, size_t errcap)
{
	struct pi_job *job = calloc(1, sizeof(*job));

	if (job == NULL) {
		snprintf(err, errcap, "out of memory");
		return NULL;
	}
	if (pthread_mutex_init(&job->lock, NULL) != 0) {
		free(job);
		snprintf(err, errcap, "cannot create a mutex");
		return NULL;
	}
	if (pthread_cond_init(&job->wake, NULL) != 0) {
		pthread_mutex_destroy(&job->lock);
		free(job);
		snprintf(err, errcap, "cannot create a condition variable");
		return NULL;
	}
	snprintf(job->id, sizeof(job->id), "%s", id);
	job->retry_s = args->redis_retry_s;
	job->seed = (unsigned)getpid() ^ (unsigned)time(NULL);
	job->redis_url = args->redis_url;
	job->key_prefix = args->key_prefix;
	return job;
}

/* Connects to Redis and opens the object store (twice: the watcher has its own handle). A
 * store that cannot be opened sets the job errored. */
static enum pi_job_start_result open_stores(struct pi_job *job, const struct pi_args *args,
					    char *err, size_t errcap)
{
	pc_err e = pi_job_open_jobstore(job, args);

	if (e != PC_OK) {
		snprintf(err, errcap, "--redis %s: %s", args->redis_url, pc_strerror(e));
		return e == PC_EINVAL ? PI_JOB_BAD_ARGS : PI_JOB_FAILED;
	}
	e = objstore_open(&job->os, args->store_url);
	if (e == PC_OK)
		e = objstore_open(&job->watch_os, args->store_url);
	if (e != PC_OK) {
		/* The store logged the detail; it has no handle to carry it. */
		snprintf(err, errcap, "--store %s: %s", args->store_url, pc_strerror(e));
		pi_job_set_errored(job, JOB_QUEUED, store_error_code(e, "store_unavailable"), err);
		return e == PC_EINVAL ? PI_JOB_BAD_ARGS : PI_JOB_FAILED;
	}
	return PI_JOB_GO;
}

/*
 * Moves the job queued -> running. The race that makes duplicates harmless: only one run
 * moves queued -> running, and it records who it is in the same move, so the reconciler
 * judges the compute that runs.
 */
static enum pi_job_start_result claim(struct pi_job *job, struct job *now, char *err, size_t errcap)
{
	struct job_update upd;
	pc_err e;

	memset(&upd, 0, sizeof(upd));
	if (job->hosted || sched_identity(job) == 0) {
		upd.set_sched = true;
		upd.sched_name = job->sched_name;
		upd.sched_job_id = job->sched_id;
	} else {
		fprintf(stderr, "pi-compute: job %s: cannot tell which process runs it\n", job->id);
	}
	e = pi_job_move(job, JOB_RUNNING, JOB_QUEUED, &upd, "starting", now);
	if (e == PC_ECONFLICT || e == PC_ENOTFOUND)
		return PI_JOB_SKIP;
	if (e != PC_OK) {
		snprintf(err, errcap, "job %s: cannot start it: %s", job->id, pc_strerror(e));
		return PI_JOB_FAILED;
	}
	return PI_JOB_GO;
}

/* Opens what the running job writes through: the SHA-256, the store's writer for the result
 * object, and the watcher thread. A failure sets the job errored. */
static pc_err open_output(struct pi_job *job, char *err, size_t errcap)
{
	pc_err e;

	job->md = EVP_MD_CTX_new();
	if (job->md == NULL || EVP_DigestInit_ex(job->md, EVP_sha256(), NULL) != 1) {
		snprintf(err, errcap, "SHA-256 unavailable");
		pi_job_set_errored(job, JOB_RUNNING, "internal", err);
		return PC_EINTERNAL;
	}
	e = objstore_writer_open(job->os, job->object, &job->w);
	if (e != PC_OK) {
		char what[JOB_OBJECT_MAX + 64];

		snprintf(what, sizeof(what), "cannot write %s to the store", job->object);
		describe(err, errcap, what, e, objstore_errmsg(job->os));
		pi_job_set_errored(job, JOB_RUNNING, store_error_code(e, "store_write"), err);
		return e;
	}
	if (job->hosted)
		return PC_OK; /* the worker's own thread watches for a cancel */
	if (pthread_create(&job->watcher, NULL, pi_job_watch, job) != 0) {
		snprintf(err, errcap, "cannot start the cancel watcher");
		objstore_writer_abort(job->w);
		job->w = NULL;
		pi_job_set_errored(job, JOB_RUNNING, "internal", err);
		return PC_EINTERNAL;
	}
	job->watcher_started = true;
	return PC_OK;
}

enum pi_job_start_result pi_job_start(struct pi_job **out, const struct pi_args *args, char *err,
				      size_t errcap)
{
	enum pi_job_start_result res;
	struct pi_job *job;

	*out = NULL;
	err[0] = '\0';
	if (!job_id_is_valid(args->job_id)) {
		snprintf(err, errcap, "--job-id: '%s' is not a job id (a lowercase UUIDv4)",
			 args->job_id);
		return PI_JOB_BAD_ARGS;
	}
	job = job_new(args, args->job_id, err, errcap);
	if (job == NULL)
		return PI_JOB_FAILED;
	res = open_stores(job, args, err, errcap);
	if (res != PI_JOB_GO)
		goto out_free;
	if (job_result_object_name(job->id, job->object, sizeof(job->object)) != PC_OK) {
		snprintf(err, errcap, "no object name for job %s", job->id);
		res = PI_JOB_FAILED;
		goto out_free;
	}
	res = claim(job, NULL, err, errcap);
	if (res != PI_JOB_GO)
		goto out_free;
	if (open_output(job, err, errcap) != PC_OK) {
		res = PI_JOB_FAILED;
		goto out_free;
	}
	*out = job;
	return PI_JOB_GO;
out_free:
	free_job(job);
	return res;
}

enum pi_job_start_result pi_job_start_hosted(struct pi_job **out, const struct pi_args *args,
					     const struct pi_job_host *host, const char *id,
					     uint64_t *digits, char *err, size_t errcap)
{
	enum pi_job_start_result res = PI_JOB_FAILED;
	struct pi_job *job;
	struct job now;

	*out = NULL;
	*digits = 0;
	err[0] = '\0';
	job = job_new(args, id, err, errcap);
	if (job == NULL)
		return PI_JOB_FAILED;
	job->hosted = true;
	job->st = host->st;
	job->os = host->os;
	job->watch_os = host->watch_os;
	job->expect_sched = host->sched_id;
	snprintf(job->sched_name, sizeof(job->sched_name), "%s", host->sched_name);
	snprintf(job->sched_id, sizeof(job->sched_id), "%s", host->sched_id);
	if (job_result_object_name(job->id, job->object, sizeof(job->object)) != PC_OK) {
		snprintf(err, errcap, "no object name for job %s", job->id);
		goto out_free;
	}
	memset(&now, 0, sizeof(now));
	res = claim(job, &now, err, errcap);
	if (res != PI_JOB_GO)
		goto out_free;
	if (open_output(job, err, errcap) != PC_OK) {
		res = PI_JOB_FAILED;
		goto out_free;
	}
	*digits = now.digits;
	*out = job;
	return PI_JOB_GO;
out_free:
	free_job(job);
	return res;
}

pc_err pi_job_write(void *ctx, const void *buf, size_t len)
{
	struct pi_job *job = ctx;
	pc_err e;

	/* Held across the write so that a cancel never removes a file being written. */
	pthread_mutex_lock(&job->lock);
	if (job->write_err != PC_OK) {
		e = job->write_err;
	} else if (job->cancelled) {
		e = PC_ECONFLICT;
	} else {
		e = objstore_write(job->w, buf, len);
		if (e != PC_OK) {
			snprintf(job->write_detail, sizeof(job->write_detail), "%s",
				 objstore_errmsg(job->os));
			job->write_err = e;
		} else if (EVP_DigestUpdate(job->md, buf, len) != 1) {
			snprintf(job->write_detail, sizeof(job->write_detail), "SHA-256 failed");
			e = job->write_err = PC_EINTERNAL;
		} else {
			job->bytes += len;
		}
	}
	pthread_mutex_unlock(&job->lock);
	return e;
}

void pi_job_progress(struct pi_job *job, double progress)
{
	pthread_mutex_lock(&job->lock);
	job->progress = progress;
	job->progress_new = true;
	pthread_mutex_unlock(&job->lock);
}

pc_err pi_job_finish(struct pi_job *job, char *err, size_t errcap)
{
	unsigned char digest[EVP_MAX_MD_SIZE];
	char hex[JOB_SHA256_HEX + 1], what[JOB_OBJECT_MAX + 32];
	unsigned int dlen = 0;
	struct job_update upd;
	struct job now;
	pc_err e, d, rc;

	/* From here a cancel is seen by the refused running -> finished below. */
	pi_job_stop_watcher(job);
	rc = objstore_writer_commit(job->w);
	job->w = NULL;
	if (rc != PC_OK) {
		snprintf(what, sizeof(what), "storing %s failed", job->object);
		describe(err, errcap, what, rc, objstore_errmsg(job->os));
		pi_job_set_errored(job, JOB_RUNNING, store_error_code(rc, "store_write"), err);
		goto out_free;
	}
	if (EVP_DigestFinal_ex(job->md, digest, &dlen) != 1 || dlen != 32) {
		snprintf(err, errcap, "SHA-256 failed");
		objstore_delete(job->os, job->object);
		pi_job_set_errored(job, JOB_RUNNING, "internal", err);
		rc = PC_EINTERNAL;
		goto out_free;
	}
	for (unsigned i = 0; i < dlen; i++)
		snprintf(hex + 2 * i, 3, "%02x", digest[i]);
	memset(&upd, 0, sizeof(upd));
	upd.set_result = true;
	upd.result_object = job->object;
	upd.result_bytes = job->bytes;
	upd.result_sha256 = hex;
	rc = e = pi_job_move(job, JOB_FINISHED, JOB_RUNNING, &upd, "recording the result", &now);
	if (e == PC_OK)
		goto out_free;
	if (pi_job_is_transient(e)) {
		/* Whether the last attempt was applied is unknown: a finished job may point at
		 * the object, so it stays (an orphan at worst, never a lost result). */
		snprintf(err, errcap, "job %s: cannot record the result: %s for %u s; %s is kept",
			 job->id, pc_strerror(e), job->retry_s, job->object);
		goto out_free;
	}
	/* Redis answered no: the job ended under us (cancelled meanwhile), is gone, or the
	 * write failed there. The result is not recorded and must not outlive the job. */
	if (job->hosted && e == PC_ECONFLICT && strcmp(now.sched_job_id, job->sched_id) != 0) {
		/* A pool job recovered from us (jobpool.h) runs under another worker, whose
		 * object has the same name and the same bytes: it is not ours to delete. */
		snprintf(err, errcap, "job %s: the result was refused (the job is %s on %s)",
			 job->id, job_state_name(now.state),
			 now.sched_job_id[0] ? now.sched_job_id : "no worker");
		goto out_free;
	}
	d = objstore_delete(job->os, job->object);
	if (d != PC_OK)
		fprintf(stderr, "pi-compute: job %s: cannot delete %s: %s\n", job->id, job->object,
			pc_strerror(d));
	if (e == PC_ECONFLICT && now.state == JOB_CANCELLED) {
		fprintf(stderr, "pi-compute: job %s was cancelled: stopped\n", job->id);
		rc = PC_OK;
	} else if (e == PC_ECONFLICT) {
		snprintf(err, errcap, "job %s: the result was refused (the job is %s)", job->id,
			 job_state_name(now.state));
	} else if (e == PC_ENOTFOUND) {
		snprintf(err, errcap, "job %s: the result was refused (the job is gone)", job->id);
	} else {
		snprintf(err, errcap, "job %s: cannot record the result: %s", job->id,
			 pc_strerror(e));
		/* Redis itself failed the write (not an outage: those returned above). */
		pi_job_set_errored(job, JOB_RUNNING, "jobstore_write", err);
	}
out_free:
	free_job(job);
	return rc;
}

void pi_job_fail(struct pi_job *job, pc_err cause, char *err, size_t errcap)
{
	char what[JOB_OBJECT_MAX + 48];

	pi_job_stop_watcher(job);
	if (job->cancelled) {
		/* The job ended under us (pi_job_cancel): nothing to record, nothing to keep. */
		objstore_writer_abort(job->w);
		job->w = NULL;
		snprintf(err, errcap, "job %s was cancelled: stopped", job->id);
		free_job(job);
		return;
	}
	/* Our own failed write says more than the cause handed back through pi_run. */
	if (job->write_err != PC_OK)
		cause = job->write_err;
	snprintf(what, sizeof(what), "writing %s to the store failed", job->object);
	describe(err, errcap, what, cause, job->write_err != PC_OK ? job->write_detail : "");
	objstore_writer_abort(job->w);
	job->w = NULL;
	pi_job_set_errored(job, JOB_RUNNING, store_error_code(cause, "store_write"), err);
	free_job(job);
}
