/* pi_job.c - job reporting: queued -> running -> finished | errored in Redis, digits in the store.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mpi.h>
#include <openssl/evp.h>

#include "picluster/clock.h"
#include "picluster/job.h"
#include "picluster/objstore.h"
#include "picluster/procid.h"
#include "picluster/jobstore.h"

#include "pi_job.h"
#include "pi_report.h"

/* Redis calls wait at most this long (ms). */
#define JOBSTORE_TIMEOUT_MS 5000

/* The watcher's own connection answers faster or counts as away: it must not lag. */
#define WATCH_TIMEOUT_MS 2000

/* The watcher reads the job's state this often (ms): a cancel is seen within it. */
#define WATCH_INTERVAL_MS 250

/* Progress goes to Redis at most this often (seconds). */
#define PROGRESS_INTERVAL 0.5

/* Backoff between attempts while Redis is away: doubling from the first to the last (ms),
 * each sleep drawn from 75%..125% of it so that many computes do not retry in step. */
#define BACKOFF_FIRST_MS 50
#define BACKOFF_MAX_MS	 2000

struct pi_job {
	jobstore *st; /* the main thread's: the state moves */
	objstore *os;
	objstore_writer *w;
	EVP_MD_CTX *md;
	char id[JOB_ID_LEN + 1];
	char object[JOB_OBJECT_MAX];
	char sched_name[JOB_SCHED_NAME_MAX];
	char sched_id[JOB_SCHED_ID_MAX];
	uint64_t bytes;
	pc_err write_err;			  /* the first failed write: later ones return it */
	char write_detail[JOB_ERROR_MESSAGE_MAX]; /* objstore_errmsg of that failure */
	unsigned retry_s;
	unsigned seed;	       /* rand_r state for the backoff's jitter */
	const char *redis_url; /* borrowed from argv, for the watcher's own connection */
	const char *key_prefix;

	/* The watcher thread. */
	pthread_t watcher;
	bool watcher_started;
	objstore *watch_os; /* the watcher's own handle (one thread per handle) */

	/* lock guards the members below it. */
	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool stop;	     /* the main thread is finishing: the watcher must end */
	bool cancelled;	     /* the watcher is stopping the job: no more writes */
	double progress;     /* latest share for Redis */
	bool progress_new;   /* progress changed since the watcher last wrote it */
	double outage_since; /* pi_report_now() when Redis stopped answering; 0: it answers */
};

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

/* Errors that mean "Redis is away, ask again"; every other answer decides. */
static bool is_transient(pc_err e)
{
	return e == PC_EUNAVAILABLE || e == PC_ETIMEOUT;
}

/* Logs the start of an outage once, and its end, whichever thread sees them (the watcher
 * while computing, the main thread at the state moves). `what` names the call. */
static void outage_note(struct pi_job *job, pc_err e, const char *what)
{
	double now = pi_report_now();

	pthread_mutex_lock(&job->lock);
	if (is_transient(e) && job->outage_since == 0) {
		job->outage_since = now;
		fprintf(stderr, "pi-compute: job %s: Redis unavailable while %s (%s)\n", job->id,
			what, pc_strerror(e));
	} else if (!is_transient(e) && job->outage_since != 0) {
		fprintf(stderr, "pi-compute: job %s: Redis is back after %.1f s\n", job->id,
			now - job->outage_since);
		job->outage_since = 0;
	}
	pthread_mutex_unlock(&job->lock);
}

/* One call's retry budget: retry_s seconds from its first failure. */
struct backoff {
	double deadline; /* 0 until the first failure */
	unsigned delay_ms;
	bool uncertain; /* an attempt failed without an answer: it may have been applied */
};

/*
 * After one attempt that returned e: true when it should be made again (Redis was away and
 * the budget is not spent), after sleeping the backoff. False when e decides: success,
 * a refusal or error from Redis itself, or the budget is spent.
 */
static bool retry_again(struct pi_job *job, struct backoff *b, pc_err e, const char *what)
{
	double now = pi_report_now(), left;
	unsigned ms;

	outage_note(job, e, what);
	if (!is_transient(e))
		return false;
	b->uncertain = true;
	if (b->deadline == 0) {
		b->deadline = now + job->retry_s;
		b->delay_ms = BACKOFF_FIRST_MS;
		if (job->retry_s > 0)
			fprintf(stderr, "pi-compute: job %s: %s: retrying for up to %u s\n",
				job->id, what, job->retry_s);
	}
	left = b->deadline - now;
	if (left <= 0) {
		if (job->retry_s > 0)
			fprintf(stderr,
				"pi-compute: job %s: %s: Redis still unavailable after %u s\n",
				job->id, what, job->retry_s);
		return false;
	}
	ms = b->delay_ms * 3 / 4 + (unsigned)rand_r(&job->seed) % (b->delay_ms / 2 + 1);
	if (ms > left * 1000)
		ms = (unsigned)(left * 1000) + 1;
	pc_sleep_ms(ms);
	b->delay_ms = b->delay_ms * 2 < BACKOFF_MAX_MS ? b->delay_ms * 2 : BACKOFF_MAX_MS;
	return true;
}

/* Whether *now is the job as our move `to` with `upd` would have left it. A move that
 * writes nothing of ours cannot be told from another writer's: never. */
static bool is_our_write(const struct job *now, enum job_state to, const struct job_update *upd)
{
	if (now->state != to || upd == NULL ||
	    !(upd->set_result || upd->set_sched || upd->set_error))
		return false;
	if (upd->set_result &&
	    (!now->has_result || strcmp(now->result_object, upd->result_object) != 0 ||
	     now->result_bytes != upd->result_bytes ||
	     strcmp(now->result_sha256, upd->result_sha256) != 0))
		return false;
	if (upd->set_sched && (strcmp(now->sched_name, upd->sched_name) != 0 ||
			       strcmp(now->sched_job_id, upd->sched_job_id) != 0))
		return false;
	if (upd->set_error && (!now->has_error || strcmp(now->error_code, upd->error_code) != 0))
		return false;
	return true;
}

/*
 * Moves the job from -> to with upd, riding out Redis outages for the retry budget. A move
 * is not idempotent: when an attempt's answer was lost, Redis may have applied it and the
 * next attempt is refused. So a refusal (or any error) after such an attempt re-reads the
 * job and counts as success when it holds exactly what we wrote. *now, when not NULL, is
 * the job as Redis last showed it (on PC_ECONFLICT: as it is).
 */
static pc_err move(struct pi_job *job, enum job_state to, enum job_state from,
		   const struct job_update *upd, const char *what, struct job *now)
{
	struct backoff b = {0};
	struct job seen;
	pc_err e, r;

	memset(&seen, 0, sizeof(seen));
	do {
		e = jobstore_job_transition(job->st, job->id, to, &from, upd, &seen);
	} while (retry_again(job, &b, e, what));
	if (e != PC_OK && b.uncertain && !is_transient(e)) {
		struct backoff rb = {0};

		do {
			r = jobstore_job_get(job->st, job->id, &seen);
		} while (retry_again(job, &rb, r, what));
		if (r == PC_OK && is_our_write(&seen, to, upd)) {
			fprintf(stderr,
				"pi-compute: job %s: an earlier attempt while %s had succeeded\n",
				job->id, what);
			e = PC_OK;
		}
	}
	if (now != NULL)
		*now = seen;
	return e;
}

/* Moves the job to errored from `from`, riding out outages; failures are only logged. */
static void set_errored(struct pi_job *job, enum job_state from, const char *code,
			const char *message)
{
	struct job_update upd;
	pc_err e;

	memset(&upd, 0, sizeof(upd));
	upd.set_error = true;
	upd.error_code = code;
	upd.error_message = message;
	e = move(job, JOB_ERRORED, from, &upd, "recording the failure", NULL);
	if (e != PC_OK)
		fprintf(stderr, "pi-compute: could not mark job %s errored: %s\n", job->id,
			pc_strerror(e));
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

/* The watcher saw the job end under us: removes what we wrote and stops every rank. */
static void stop_job(struct pi_job *job, enum job_state state, pc_err e)
{
	pc_err d;

	pthread_mutex_lock(&job->lock);
	if (job->stop) {
		/* The main thread is finishing: its refused move cleans up instead. */
		pthread_mutex_unlock(&job->lock);
		return;
	}
	/* No write is under way while we hold the lock, and none starts after this. */
	job->cancelled = true;
	pthread_mutex_unlock(&job->lock);
	d = objstore_discard_incomplete(job->watch_os, job->object);
	if (d != PC_OK)
		fprintf(stderr, "pi-compute: job %s: cannot remove the partial %s: %s\n", job->id,
			job->object, pc_strerror(d));
	if (e == PC_ENOTFOUND)
		fprintf(stderr, "pi-compute: job %s no longer exists: stopped\n", job->id);
	else
		fprintf(stderr, "pi-compute: job %s was %s: stopped\n", job->id,
			job_state_name(state));
	fflush(stderr);
	/* The other ranks may be deep in a multiplication that never polls: MPI_Abort makes
	 * the launcher (mpirun, or srun through PMIx) kill them all. Its code is our exit
	 * status: a cancel is not a failure. */
	MPI_Abort(MPI_COMM_WORLD, state == JOB_CANCELLED ? 0 : 1);
	_exit(state == JOB_CANCELLED ? 0 : 1);
}

/*
 * Rank 0's watcher: every WATCH_INTERVAL_MS reads the job's state on its own connection and
 * writes the latest progress (the main thread is busy computing and never waits on Redis).
 * A job that ended under us (cancelled, or errored or removed by someone else) stops the
 * compute; Redis being away is not an ending, only logged.
 */
static void *watch(void *arg)
{
	struct pi_job *job = arg;
	double last_write = 0;
	jobstore *ws = NULL;

	pthread_mutex_lock(&job->lock);
	while (!job->stop) {
		struct timespec until;
		enum job_state state = JOB_ERRORED;
		bool write = false;
		double progress = 0;
		pc_err e;

		pthread_mutex_unlock(&job->lock);
		e = ws != NULL
			? PC_OK
			: jobstore_open(&ws, job->redis_url, job->key_prefix, WATCH_TIMEOUT_MS);
		if (e == PC_OK)
			e = jobstore_job_get_state(ws, job->id, &state);
		outage_note(job, e, "watching for a cancel");
		if (e == PC_ENOTFOUND || (e == PC_OK && job_state_is_terminal(state)))
			stop_job(job, state, e);
		pthread_mutex_lock(&job->lock);
		if (e == PC_OK && job->progress_new &&
		    pi_report_now() - last_write >= PROGRESS_INTERVAL) {
			write = true;
			progress = job->progress;
			job->progress_new = false;
		}
		pthread_mutex_unlock(&job->lock);
		if (write) {
			/* Dropped when refused or Redis is away: the next one replaces it. */
			e = jobstore_job_set_progress(ws, job->id, progress);
			outage_note(job, e, "recording progress");
			last_write = pi_report_now();
		}
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += WATCH_INTERVAL_MS * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_mutex_lock(&job->lock);
		while (!job->stop &&
		       pthread_cond_timedwait(&job->wake, &job->lock, &until) != ETIMEDOUT)
			;
	}
	pthread_mutex_unlock(&job->lock);
	jobstore_free(ws);
	return NULL;
}

/* Ends the watcher; after this only the main thread touches Redis and the store. */
static void stop_watcher(struct pi_job *job)
{
	if (!job->watcher_started)
		return;
	pthread_mutex_lock(&job->lock);
	job->stop = true;
	pthread_cond_signal(&job->wake);
	pthread_mutex_unlock(&job->lock);
	pthread_join(job->watcher, NULL);
	job->watcher_started = false;
}

static void free_job(struct pi_job *job)
{
	stop_watcher(job);
	if (job->md != NULL)
		EVP_MD_CTX_free(job->md);
	objstore_free(job->watch_os);
	objstore_free(job->os);
	jobstore_free(job->st);
	pthread_cond_destroy(&job->wake);
	pthread_mutex_destroy(&job->lock);
	free(job);
}

/* Connects to Redis, riding out an outage at start. */
static pc_err open_store(struct pi_job *job, const struct pi_args *args)
{
	struct backoff b = {0};
	pc_err e;

	do {
		e = jobstore_open(&job->st, args->redis_url, args->key_prefix, JOBSTORE_TIMEOUT_MS);
	} while (retry_again(job, &b, e, "connecting"));
	return e;
}

/* A new job for args (not yet connected to anything); NULL with err set when out of memory
 * or a lock cannot be made. */
static struct pi_job *job_new(const struct pi_args *args, char *err, size_t errcap)
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
	snprintf(job->id, sizeof(job->id), "%s", args->job_id);
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
	pc_err e = open_store(job, args);

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
		set_errored(job, JOB_QUEUED, store_error_code(e, "store_unavailable"), err);
		return e == PC_EINVAL ? PI_JOB_BAD_ARGS : PI_JOB_FAILED;
	}
	return PI_JOB_GO;
}

/*
 * Moves the job queued -> running. The race that makes duplicates harmless: only one run
 * moves queued -> running, and it records who it is in the same move, so the reconciler
 * judges the compute that runs.
 */
static enum pi_job_start_result claim(struct pi_job *job, char *err, size_t errcap)
{
	struct job_update upd;
	pc_err e;

	memset(&upd, 0, sizeof(upd));
	if (sched_identity(job) == 0) {
		upd.set_sched = true;
		upd.sched_name = job->sched_name;
		upd.sched_job_id = job->sched_id;
	} else {
		fprintf(stderr, "pi-compute: job %s: cannot tell which process runs it\n", job->id);
	}
	e = move(job, JOB_RUNNING, JOB_QUEUED, &upd, "starting", NULL);
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
		set_errored(job, JOB_RUNNING, "internal", err);
		return PC_EINTERNAL;
	}
	e = objstore_writer_open(job->os, job->object, &job->w);
	if (e != PC_OK) {
		char what[JOB_OBJECT_MAX + 64];

		snprintf(what, sizeof(what), "cannot write %s to the store", job->object);
		describe(err, errcap, what, e, objstore_errmsg(job->os));
		set_errored(job, JOB_RUNNING, store_error_code(e, "store_write"), err);
		return e;
	}
	if (pthread_create(&job->watcher, NULL, watch, job) != 0) {
		snprintf(err, errcap, "cannot start the cancel watcher");
		objstore_writer_abort(job->w);
		job->w = NULL;
		set_errored(job, JOB_RUNNING, "internal", err);
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
	job = job_new(args, err, errcap);
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
	res = claim(job, err, errcap);
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
	stop_watcher(job);
	rc = objstore_writer_commit(job->w);
	job->w = NULL;
	if (rc != PC_OK) {
		snprintf(what, sizeof(what), "storing %s failed", job->object);
		describe(err, errcap, what, rc, objstore_errmsg(job->os));
		set_errored(job, JOB_RUNNING, store_error_code(rc, "store_write"), err);
		goto out_free;
	}
	if (EVP_DigestFinal_ex(job->md, digest, &dlen) != 1 || dlen != 32) {
		snprintf(err, errcap, "SHA-256 failed");
		objstore_delete(job->os, job->object);
		set_errored(job, JOB_RUNNING, "internal", err);
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
	rc = e = move(job, JOB_FINISHED, JOB_RUNNING, &upd, "recording the result", &now);
	if (e == PC_OK)
		goto out_free;
	if (is_transient(e)) {
		/* Whether the last attempt was applied is unknown: a finished job may point at
		 * the object, so it stays (an orphan at worst, never a lost result). */
		snprintf(err, errcap, "job %s: cannot record the result: %s for %u s; %s is kept",
			 job->id, pc_strerror(e), job->retry_s, job->object);
		goto out_free;
	}
	/* Redis answered no: the job ended under us (cancelled meanwhile), is gone, or the
	 * write failed there. The result is not recorded and must not outlive the job. */
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
		set_errored(job, JOB_RUNNING, "store_unavailable", err);
	}
out_free:
	free_job(job);
	return rc;
}

void pi_job_fail(struct pi_job *job, pc_err cause, char *err, size_t errcap)
{
	char what[JOB_OBJECT_MAX + 48];

	stop_watcher(job);
	/* Our own failed write says more than the cause handed back through pi_run. */
	if (job->write_err != PC_OK)
		cause = job->write_err;
	snprintf(what, sizeof(what), "writing %s to the store failed", job->object);
	describe(err, errcap, what, cause, job->write_err != PC_OK ? job->write_detail : "");
	objstore_writer_abort(job->w);
	job->w = NULL;
	set_errored(job, JOB_RUNNING, store_error_code(cause, "store_write"), err);
	free_job(job);
}
