/* pi_worker.c - pi-compute --worker: takes pool jobs from Redis one at a time, computes each in
 * this process and reports it through job mode's code (pi_job.c); a second thread keeps the
 * heartbeat and watches the running job for a cancel. */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "picluster/clock.h"
#include "picluster/jobpool.h"
#include "picluster/jobstore.h"
#include "picluster/objstore.h"

#include "pi_job.h"
#include "pi_serial.h"
#include "pi_worker.h"

/* Redis calls wait at most this long (ms), as in job mode. */
#define JOBSTORE_TIMEOUT_MS 5000

/* A take waits at most this long (ms): a signal is seen within it. */
#define TAKE_WAIT_MS 1000

/* The running job's state is read this often (ms): a cancel is seen within it. */
#define WATCH_INTERVAL_MS 250

/* Backoff while Redis is away, between takes (ms). */
#define BACKOFF_FIRST_MS 50
#define BACKOFF_MAX_MS	 2000

struct worker {
	const struct pi_args *args;
	char name[JOBPOOL_WORKER_MAX + 1];
	char info[128];
	jobstore *st;	    /* the main thread's: takes, state moves, acks */
	objstore *os;	    /* the main thread's: the writes */
	objstore *watch_os; /* the watch thread's: removing a cancelled job's partial object */
	double outage_since;

	pthread_t thread;
	bool thread_started;
	bool joined; /* join_pool succeeded: the name's heartbeat is ours (main thread only) */
	/* lock guards the members below it. */
	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool stop;	    /* the watch thread must end */
	struct pi_job *job; /* the job computing now (NULL between jobs) */
	char id[JOB_ID_LEN + 1];
	bool job_cancelled; /* pi_job_cancel was called for it */
};

static volatile sig_atomic_t stopping;

static void on_stop_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

/* Sanitises s into out for a worker name: characters outside [A-Za-z0-9._-] become '-'. */
static void name_part(char *out, size_t cap, const char *s)
{
	size_t n = 0;

	for (; s[n] && n + 1 < cap; n++) {
		char c = s[n];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';

		out[n] = ok ? c : '-';
	}
	out[n] = '\0';
}

/* The rank when started by mpirun or srun (each rank is a worker of its own); NULL else. */
static const char *launcher_rank(void)
{
	static const char *const vars[] = {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "SLURM_PROCID",
					   "PMI_RANK"};

	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
		const char *v = getenv(vars[i]);

		if (v != NULL && v[0] >= '0' && v[0] <= '9' && strlen(v) < 12)
			return v;
	}
	return NULL;
}

/*
 * The worker's name: --worker-name, else "<host>:<pid>" (the host cut so the whole fits);
 * ":<rank>" appended under a launcher, so that the ranks of one launch never share a name.
 * -1 when the result is not a valid name.
 */
static int make_name(struct worker *w)
{
	const char *rank = launcher_rank();
	char host[256] = "localhost", part[JOBPOOL_WORKER_MAX + 1];
	size_t room;
	int n;

	if (gethostname(host, sizeof(host)) != 0)
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	if (w->args->worker_name != NULL) {
		snprintf(part, sizeof(part), "%s", w->args->worker_name);
	} else {
		/* Room for ":<pid>" (at most 11) and ":<rank>" (at most 12). */
		room = JOBPOOL_WORKER_MAX - 24;
		name_part(part, room + 1 < sizeof(part) ? room + 1 : sizeof(part), host);
		n = (int)strlen(part);
		snprintf(part + n, sizeof(part) - (size_t)n, ":%ld", (long)getpid());
	}
	n = snprintf(w->name, sizeof(w->name), rank ? "%s:%s" : "%s", part, rank ? rank : "");
	snprintf(w->info, sizeof(w->info), "host %.64s pid %ld", host, (long)getpid());
	return n > 0 && (size_t)n < sizeof(w->name) && jobpool_worker_name_is_valid(w->name) ? 0
											     : -1;
}

/* Logs the start of a Redis outage once, and its end. */
static void outage_note(struct worker *w, pc_err e, const char *what)
{
	bool away = e == PC_EUNAVAILABLE || e == PC_ETIMEOUT;

	if (away && w->outage_since == 0) {
		w->outage_since = (double)pc_monotonic_ms();
		fprintf(stderr, "pi-compute: worker %s: Redis unavailable while %s (%s)\n", w->name,
			what, pc_strerror(e));
	} else if (!away && w->outage_since != 0) {
		fprintf(stderr, "pi-compute: worker %s: Redis is back after %.1f s\n", w->name,
			((double)pc_monotonic_ms() - w->outage_since) / 1000.0);
		w->outage_since = 0;
	}
}

/* Opens Redis and the store (twice: the watch thread has its own handle), riding out a Redis
 * outage at start for --redis-retry seconds. Returns the exit status (0 to go on). */
static int open_stores(struct worker *w)
{
	int64_t deadline = pc_monotonic_ms() + (int64_t)w->args->redis_retry_s * 1000;
	long delay = BACKOFF_FIRST_MS;
	pc_err e;

	for (;;) {
		e = jobstore_open(&w->st, w->args->redis_url, w->args->key_prefix,
				  JOBSTORE_TIMEOUT_MS);
		outage_note(w, e, "connecting");
		if ((e != PC_EUNAVAILABLE && e != PC_ETIMEOUT) || stopping ||
		    pc_monotonic_ms() >= deadline)
			break;
		pc_sleep_ms(delay);
		delay = delay * 2 < BACKOFF_MAX_MS ? delay * 2 : BACKOFF_MAX_MS;
	}
	if (e != PC_OK) {
		fprintf(stderr, "pi-compute: --redis %s: %s\n", w->args->redis_url, pc_strerror(e));
		return e == PC_EINVAL ? 2 : 1;
	}
	e = objstore_open(&w->os, w->args->store_url);
	if (e == PC_OK)
		e = objstore_open(&w->watch_os, w->args->store_url);
	if (e != PC_OK) {
		fprintf(stderr, "pi-compute: --store %s: %s\n", w->args->store_url, pc_strerror(e));
		return e == PC_EINVAL ? 2 : 1;
	}
	return 0;
}

/* Under w->lock: one look at the running job's state, on the watch thread's connection
 * (the lock is released around the call). A job that ended under us (cancelled, errored by
 * someone else, removed) is cancelled here: its writes stop and its partial object goes. */
static void watch_job(struct worker *w, jobstore *hs)
{
	char id[JOB_ID_LEN + 1];
	enum job_state state = JOB_RUNNING;
	pc_err e;

	if (w->job == NULL || w->job_cancelled)
		return;
	memcpy(id, w->id, sizeof(id));
	pthread_mutex_unlock(&w->lock);
	e = jobstore_job_get_state(hs, id, &state);
	pthread_mutex_lock(&w->lock);
	if ((e == PC_ENOTFOUND || (e == PC_OK && job_state_is_terminal(state))) && w->job != NULL &&
	    !w->job_cancelled && strcmp(w->id, id) == 0) {
		pi_job_cancel(w->job);
		w->job_cancelled = true;
		fprintf(stderr, "pi-compute: worker %s: job %s was %s: stopping it\n", w->name, id,
			e == PC_ENOTFOUND ? "removed" : job_state_name(state));
	}
}

/* Renews the heartbeat on the watch thread's connection (opened here when needed); *away
 * remembers an outage so that it is logged once. */
static void beat(struct worker *w, jobstore **hs, bool *away)
{
	pc_err e = PC_OK;

	if (*hs == NULL)
		e = jobstore_open(hs, w->args->redis_url, w->args->key_prefix, JOBSTORE_TIMEOUT_MS);
	if (e == PC_OK)
		e = jobpool_heartbeat(*hs, w->name, w->info, (int)w->args->heartbeat_ms);
	if (e == PC_EEXISTS) {
		/* Our heartbeat lapsed (a pause longer than its TTL) and another process took
		 * the name: its moves now pass ours, so stop taking jobs. */
		fprintf(stderr,
			"pi-compute: worker %s: another process holds this name now: "
			"stopping\n",
			w->name);
		stopping = 1;
	}
	if (e != PC_OK && !*away)
		fprintf(stderr, "pi-compute: worker %s: heartbeat failed: %s\n", w->name,
			pc_strerror(e));
	else if (e == PC_OK && *away)
		fprintf(stderr, "pi-compute: worker %s: heartbeat renewed again\n", w->name);
	*away = e != PC_OK;
}

/* The watch thread: the heartbeat every heartbeat_ms / 3, the running job's state every
 * WATCH_INTERVAL_MS; it sleeps on w->wake in between, never delaying the main thread. */
static void *watch_main(void *arg)
{
	struct worker *w = arg;
	int64_t next_beat = 0;
	jobstore *hs = NULL;
	bool away = false;

	pthread_mutex_lock(&w->lock);
	while (!w->stop) {
		int64_t now = pc_monotonic_ms(), until;
		struct timespec ts;

		if (now >= next_beat) {
			pthread_mutex_unlock(&w->lock);
			beat(w, &hs, &away);
			pthread_mutex_lock(&w->lock);
			next_beat = now + w->args->heartbeat_ms / 3;
		}
		if (hs != NULL)
			watch_job(w, hs);
		until = pc_monotonic_ms() + WATCH_INTERVAL_MS;
		if (until > next_beat)
			until = next_beat;
		clock_gettime(CLOCK_REALTIME, &ts);
		until -= pc_monotonic_ms();
		ts.tv_sec += until / 1000;
		ts.tv_nsec += (until % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		if (until > 0 && !w->stop)
			pthread_cond_timedwait(&w->wake, &w->lock, &ts);
	}
	pthread_mutex_unlock(&w->lock);
	jobstore_free(hs);
	return NULL;
}

/* Tells the watch thread which job runs now (NULL: none). */
static void set_current(struct worker *w, struct pi_job *job, const char *id)
{
	pthread_mutex_lock(&w->lock);
	w->job = job;
	snprintf(w->id, sizeof(w->id), "%s", id);
	w->job_cancelled = false;
	pthread_mutex_unlock(&w->lock);
}

/* How a job left run_job. */
enum job_end {
	JOB_END_ACKED, /* finished: the move to finished also acknowledged it */
	JOB_END_ACK,   /* ended (or was not ours to run): acknowledge it */
	JOB_END_DIRTY, /* its end may not be recorded: leave it to jobpool_recover_own */
};

/*
 * One job, from its start to its end; started is the job as jobpool_start left it (rerun: it
 * ran before, under a worker that died). JOB_END_DIRTY when the end may not
 * be recorded (Redis away for the whole retry budget, a failure on the way): the id stays in
 * our processing list and jobpool_recover_own sorts it out (a terminal job is dropped, a
 * running one queued again).
 */
static enum job_end run_job(struct worker *w, const char *id, const struct job *started, bool rerun)
{
	struct pi_job_host host = {
	    w->st, w->os, w->watch_os, JOBPOOL_SCHED_NAME, w->name, started, rerun,
	};
	struct pi_job *job;
	uint64_t digits;
	char err[1024], *text = NULL;
	pc_err e;

	switch (pi_job_start_hosted(&job, w->args, &host, id, &digits, err, sizeof(err))) {
	case PI_JOB_GO:
		break;
	case PI_JOB_SKIP:
		return JOB_END_ACK; /* cancelled while queued, or another worker runs it */
	default:
		fprintf(stderr, "pi-compute: worker %s: %s\n", w->name, err);
		return JOB_END_DIRTY;
	}
	set_current(w, job, id);
	/* The same text as job mode's: "3." + digits decimals + "\n" (pi_serial.h). */
	e = pi_serial_digits(&text, digits, 0) == 0 ? pi_job_write(job, text, digits + 3)
						    : PC_ENOMEM;
	free(text);
	set_current(w, NULL, "");
	if (e != PC_OK) {
		pi_job_fail(job, e, err, sizeof(err));
		fprintf(stderr, "pi-compute: worker %s: %s\n", w->name, err);
		return JOB_END_DIRTY;
	}
	e = pi_job_finish(job, err, sizeof(err));
	if (e == PC_OK)
		return JOB_END_ACKED;
	fprintf(stderr, "pi-compute: worker %s: %s\n", w->name, err);
	return e != PC_EUNAVAILABLE && e != PC_ETIMEOUT ? JOB_END_ACK : JOB_END_DIRTY;
}

/* Acknowledges id; false when Redis is away (the id then waits for jobpool_recover_own). */
static bool ack(struct worker *w, const char *id)
{
	pc_err e = jobpool_ack(w->st, w->name, id);

	outage_note(w, e, "acknowledging a job");
	return e == PC_OK;
}

/*
 * The main loop until a signal: blocking takes (no sleep while jobs come), one job at a
 * time. dirty: our processing list may hold ids nobody works on (a take whose answer was
 * lost, a job whose end is not recorded); they go back through jobpool_recover_own before
 * the next take. Returns the exit status.
 */
static int serve(struct worker *w)
{
	long delay = BACKOFF_FIRST_MS;
	char id[JOB_ID_LEN + 1];
	struct job started;
	bool dirty = false, rerun = false;

	while (!stopping) {
		pc_err e = PC_OK;

		if (dirty) {
			e = jobpool_recover_own(w->st, w->name, NULL);
			dirty = e != PC_OK;
		}
		/* While jobs wait, take and start each in one step; block only when none does,
		 * then start the one that came. */
		if (e == PC_OK) {
			id[0] = '\0';
			e = jobpool_start(w->st, w->name, id, &started, &rerun);
			if (e == PC_ETIMEOUT) {
				e = jobpool_take(w->st, w->name, TAKE_WAIT_MS, id);
				if (e == PC_OK)
					e = jobpool_start(w->st, w->name, id, &started, &rerun);
			}
			if (e == PC_ECONFLICT)
				continue; /* cancelled while queued: already off our list */
		}
		if (e != PC_ETIMEOUT)
			outage_note(w, e, "taking jobs");
		if (e == PC_OK) {
			enum job_end end = run_job(w, id, &started, rerun);

			delay = BACKOFF_FIRST_MS;
			dirty = end == JOB_END_DIRTY || (end == JOB_END_ACK && !ack(w, id));
			continue;
		}
		if (e == PC_ETIMEOUT)
			continue;
		if (e == PC_EAUTH) {
			fprintf(stderr, "pi-compute: worker %s: Redis refused us: stopping\n",
				w->name);
			return 1;
		}
		/* Away, or an entry that was not a job id (dropped): wait a little. */
		dirty = dirty || e == PC_EUNAVAILABLE;
		pc_sleep_ms(delay);
		delay = delay * 2 < BACKOFF_MAX_MS ? delay * 2 : BACKOFF_MAX_MS;
	}
	return 0;
}

/* Starts the watch thread with the stop signals blocked, so that they reach the main
 * thread, which drains. */
static int start_watch(struct worker *w)
{
	sigset_t block, old;
	int rc;

	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	rc = pthread_create(&w->thread, NULL, watch_main, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	w->thread_started = rc == 0;
	return rc == 0 ? 0 : -1;
}

static void stop_watch(struct worker *w)
{
	if (!w->thread_started)
		return;
	pthread_mutex_lock(&w->lock);
	w->stop = true;
	pthread_cond_signal(&w->wake);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	w->thread_started = false;
}

static void install_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/* Announces the worker (a heartbeat now, so that routing sees it at once) and takes back
 * what an earlier life under this name left. Returns the exit status (0 to go on). */
static int join_pool(struct worker *w)
{
	uint64_t moved = 0;
	bool told = false;
	pc_err e;

	/* An earlier worker of this name may still drain (its gateway restarted) or have died
	 * a moment ago: wait until its heartbeat is gone, so the name is ours alone. */
	while ((e = jobpool_heartbeat(w->st, w->name, w->info, (int)w->args->heartbeat_ms)) ==
		   PC_EEXISTS &&
	       !stopping) {
		if (!told)
			fprintf(stderr,
				"pi-compute: worker %s: waiting for the earlier worker of this "
				"name to stop\n",
				w->name);
		told = true;
		pc_sleep_ms(200);
	}
	if (e == PC_EEXISTS)
		return 0; /* told to stop while waiting: never joined, nothing to leave */
	if (e == PC_OK)
		e = jobpool_recover_own(w->st, w->name, &moved);
	if (e != PC_OK) {
		fprintf(stderr, "pi-compute: worker %s: cannot join the pool: %s\n", w->name,
			pc_strerror(e));
		return 1;
	}
	if (moved > 0)
		fprintf(stderr,
			"pi-compute: worker %s: %llu job(s) of an earlier run queued again\n",
			w->name, (unsigned long long)moved);
	fprintf(stderr, "pi-compute: worker %s ready\n", w->name);
	w->joined = true;
	return 0;
}

/* At a clean end: anything left in our list back on the queue, then the heartbeat goes. */
static void leave_pool(struct worker *w)
{
	pc_err e = jobpool_recover_own(w->st, w->name, NULL);

	if (e == PC_OK)
		e = jobpool_leave(w->st, w->name, w->info);
	if (e != PC_OK)
		fprintf(stderr, "pi-compute: worker %s: cannot leave the pool cleanly: %s\n",
			w->name, pc_strerror(e));
	else
		fprintf(stderr, "pi-compute: worker %s stopped\n", w->name);
}

int pi_worker_run(const struct pi_args *args)
{
	struct worker *w = calloc(1, sizeof(*w));
	int status = 1;

	if (w == NULL) {
		fprintf(stderr, "pi-compute: out of memory\n");
		return 1;
	}
	w->args = args;
	install_signals();
	if (make_name(w) != 0) {
		fprintf(stderr, "pi-compute: no valid worker name ('%s'): give --worker-name\n",
			w->name);
		status = 2;
		goto out_free;
	}
	if (pthread_mutex_init(&w->lock, NULL) != 0)
		goto out_free;
	if (pthread_cond_init(&w->wake, NULL) != 0)
		goto out_lock;
	status = open_stores(w);
	if (status == 0)
		status = join_pool(w);
	if (status == 0 && w->joined && start_watch(w) != 0) {
		fprintf(stderr, "pi-compute: cannot start the heartbeat thread\n");
		status = 1;
	}
	if (status == 0 && w->joined) {
		status = serve(w);
		stop_watch(w);
		leave_pool(w);
	}
	objstore_free(w->watch_os);
	objstore_free(w->os);
	jobstore_free(w->st);
	pthread_cond_destroy(&w->wake);
out_lock:
	pthread_mutex_destroy(&w->lock);
out_free:
	free(w);
	return status;
}
