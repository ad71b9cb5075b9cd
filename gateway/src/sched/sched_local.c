/* sched_local.c - the "local" backend: mpirun children of the gateway, one session per job. */
#include "sched/sched_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "picluster/clock.h"
#include "picluster/log.h"
#include "picluster/procid.h"

/* How long a cancelled job's processes get to leave after SIGTERM before SIGKILL. */
#define CANCEL_GRACE_MS 3000
/* How long after SIGKILL cancel waits to see every process gone. */
#define KILL_WAIT_MS 3000
/* Reaped children are remembered this long so the reconciler can see how they ended. */
#define REAPED_KEEP_MS 120000
/* mpirun [--allow-run-as-root] --oversubscribe -np R COMPUTE <compute args> NULL */
#define MPIRUN_ARGC_MAX (6 + SCHED_COMPUTE_ARGC_MAX + 1)

/*
 * Process layout of one job: the gateway posix_spawn's mpirun with POSIX_SPAWN_SETSID, so
 * mpirun leads a new session and process group whose id is its pid. Open MPI moves each rank
 * into a process group of its own, but the ranks stay in mpirun's session: the session id is
 * what finds every process of the job, also after a gateway restart (when mpirun is no longer
 * our child). The scheduler id is "PID:STARTTICKS"; STARTTICKS (field 22 of /proc/PID/stat)
 * tells a recycled pid from ours.
 */
struct child {
	pid_t pid;
	unsigned long long start;
	char job_id[JOB_ID_LEN + 1];
	bool reaped;
	bool cancelled;
	int status;	   /* waitpid status once reaped */
	int64_t reaped_ms; /* when reaped (for pruning) */
};

struct local {
	pthread_mutex_t lock;
	struct child *kids;
	size_t n, cap;
	char *mpirun; /* "mpirun" (found on PATH by posix_spawnp) */
};

/* Collects the processes of session sid that are not zombies into pids (up to cap). */
static size_t session_members(pid_t sid, pid_t *pids, size_t cap)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	size_t n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d)) != NULL) {
		struct procid_stat pi;
		char *end;
		long pid;

		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		pid = strtol(e->d_name, &end, 10);
		if (*end || pid <= 0)
			continue;
		if (procid_stat((pid_t)pid, &pi) != PC_OK || pi.session != sid || pi.state == 'Z')
			continue;
		if (n < cap)
			pids[n] = (pid_t)pid;
		n++;
	}
	closedir(d);
	return n;
}

/* Reaps every exited child of ours; drops ones reaped long ago. Caller holds the lock. */
static void reap_locked(struct local *l)
{
	int64_t now = pc_monotonic_ms();
	size_t w = 0;

	for (size_t i = 0; i < l->n; i++) {
		struct child *c = &l->kids[i];

		if (!c->reaped) {
			int status;
			pid_t r = waitpid(c->pid, &status, WNOHANG);

			if (r == c->pid || (r < 0 && errno == ECHILD)) {
				c->reaped = true;
				c->status = r == c->pid ? status : -1;
				c->reaped_ms = now;
				if (r == c->pid)
					log_info("job %s: mpirun %d ended (status 0x%x)", c->job_id,
						 (int)c->pid, status);
			}
		}
		if (c->reaped && now - c->reaped_ms > REAPED_KEEP_MS)
			continue;
		l->kids[w++] = *c;
	}
	l->n = w;
}

static struct child *find_locked(struct local *l, pid_t pid, unsigned long long start)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->kids[i].pid == pid && l->kids[i].start == start)
			return &l->kids[i];
	return NULL;
}

static pc_err local_init(sched *s)
{
	struct local *l = calloc(1, sizeof(*l));

	if (!l)
		return PC_ENOMEM;
	if (pthread_mutex_init(&l->lock, NULL) != 0) {
		free(l);
		return PC_ENOMEM;
	}
	s->backend = l;
	return PC_OK;
}

static void local_fini(sched *s)
{
	struct local *l = s->backend;

	if (!l)
		return;
	pthread_mutex_destroy(&l->lock);
	free(l->kids);
	free(l);
	s->backend = NULL;
}

static bool local_has_capacity(sched *s)
{
	struct local *l = s->backend;
	size_t alive = 0;

	pthread_mutex_lock(&l->lock);
	reap_locked(l);
	for (size_t i = 0; i < l->n; i++)
		alive += !l->kids[i].reaped;
	pthread_mutex_unlock(&l->lock);
	return s->cfg.max_running == 0 || alive < s->cfg.max_running;
}

/* Opens the job's log file under state_dir/logs (or returns -1 to inherit stderr). */
static int open_job_log(const sched *s, const char *job_id)
{
	char path[4096];

	if (!s->cfg.state_dir || !s->cfg.state_dir[0])
		return -1;
	snprintf(path, sizeof(path), "%s/logs", s->cfg.state_dir);
	if (mkdir(path, 0755) != 0 && errno != EEXIST)
		return -1;
	snprintf(path, sizeof(path), "%s/logs/%s.log", s->cfg.state_dir, job_id);
	return open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
}

/* mpirun's command line for a job into argv (room for MPIRUN_ARGC_MAX entries,
 * NULL-terminated); ranks and args are the caller's, filled here. */
static void mpirun_argv(const sched *s, const struct job *job, const char **argv, char *ranks,
			size_t ranks_cap, struct sched_compute_args *args)
{
	int argc = 0;

	snprintf(ranks, ranks_cap, "%u", s->cfg.ranks ? s->cfg.ranks : 1);
	argv[argc++] = "mpirun";
	if (geteuid() == 0)
		argv[argc++] = "--allow-run-as-root";
	argv[argc++] = "--oversubscribe";
	argv[argc++] = "-np";
	argv[argc++] = ranks;
	argv[argc++] = s->cfg.compute_path;
	sched_compute_args(args, s, job);
	for (size_t i = 0; i < args->argc; i++)
		argv[argc++] = args->argv[i];
	argv[argc] = NULL;
}

/*
 * How mpirun starts: a new session (the job's process container), default signal handling
 * and an empty mask -- the gateway blocks SIGINT/SIGTERM in its threads and ignores SIGPIPE,
 * and mpirun must not inherit either -- stdin from /dev/null, stdout and stderr to logfd
 * (when >= 0). fa and attr are initialised by the caller.
 */
static pc_err spawn_setup(posix_spawn_file_actions_t *fa, posix_spawnattr_t *attr, int logfd)
{
	sigset_t none, dflt;

	sigemptyset(&none);
	sigemptyset(&dflt);
	sigaddset(&dflt, SIGPIPE);
	sigaddset(&dflt, SIGINT);
	sigaddset(&dflt, SIGTERM);
	sigaddset(&dflt, SIGCHLD);
	if (posix_spawnattr_setsigmask(attr, &none) || posix_spawnattr_setsigdefault(attr, &dflt) ||
	    posix_spawnattr_setflags(attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK |
					       POSIX_SPAWN_SETSIGDEF) ||
	    posix_spawn_file_actions_addopen(fa, 0, "/dev/null", O_RDONLY, 0) ||
	    (logfd >= 0 && (posix_spawn_file_actions_adddup2(fa, logfd, 1) ||
			    posix_spawn_file_actions_adddup2(fa, logfd, 2))))
		return PC_ENOMEM;
	return PC_OK;
}

/* Remembers a started mpirun in l->kids. PC_ENOMEM when the list cannot grow. Caller holds
 * the lock. */
static pc_err track_locked(struct local *l, pid_t pid, unsigned long long start, const char *job_id)
{
	struct child *c;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		struct child *k = realloc(l->kids, cap * sizeof(*k));

		if (!k)
			return PC_ENOMEM;
		l->kids = k;
		l->cap = cap;
	}
	c = &l->kids[l->n++];
	memset(c, 0, sizeof(*c));
	c->pid = pid;
	c->start = start;
	memcpy(c->job_id, job_id, sizeof(c->job_id));
	return PC_OK;
}

/*
 * Spawns mpirun and tracks it, under the lock so that the reaper never sees a child it does
 * not know. Writes its pid and start time. PC_ESCHED when mpirun cannot start, PC_ENOMEM when
 * it cannot be tracked (then it is killed again); message says which.
 */
static pc_err spawn_tracked(struct local *l, const struct job *job,
			    const posix_spawn_file_actions_t *fa, const posix_spawnattr_t *attr,
			    const char **argv, pid_t *pid, unsigned long long *start, char *message,
			    size_t message_cap)
{
	extern char **environ;
	struct procid_stat pi;
	int err;

	pthread_mutex_lock(&l->lock);
	err = posix_spawnp(pid, "mpirun", fa, attr, (char *const *)argv, environ);
	if (err != 0) {
		pthread_mutex_unlock(&l->lock);
		snprintf(message, message_cap, "cannot start mpirun: %s", strerror(err));
		return PC_ESCHED;
	}
	if (procid_stat(*pid, &pi) != PC_OK)
		pi.start_ticks = 0; /* exited already; the reaper will see it */
	*start = pi.start_ticks;
	if (track_locked(l, *pid, *start, job->id) != PC_OK) {
		/* Cannot track it: stop it rather than leave an unwatched job. */
		kill(-*pid, SIGKILL);
		waitpid(*pid, NULL, 0);
		pthread_mutex_unlock(&l->lock);
		snprintf(message, message_cap, "out of memory");
		return PC_ENOMEM;
	}
	pthread_mutex_unlock(&l->lock);
	return PC_OK;
}

/* Starts mpirun for the job in a session of its own; the scheduler id is "PID:STARTTICKS". */
static pc_err local_submit(sched *s, const struct job *job, char *sched_job_id, size_t id_cap,
			   char *message, size_t message_cap)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	char ranks[16];
	struct sched_compute_args args;
	const char *argv[MPIRUN_ARGC_MAX];
	unsigned long long start;
	int logfd;
	pid_t pid;
	pc_err rc;

	mpirun_argv(s, job, argv, ranks, sizeof(ranks), &args);
	if (posix_spawn_file_actions_init(&fa) != 0) {
		snprintf(message, message_cap, "out of memory");
		return PC_ENOMEM;
	}
	if (posix_spawnattr_init(&attr) != 0) {
		snprintf(message, message_cap, "out of memory");
		rc = PC_ENOMEM;
		goto out_destroy_fa;
	}
	logfd = open_job_log(s, job->id);
	rc = spawn_setup(&fa, &attr, logfd);
	if (rc != PC_OK) {
		snprintf(message, message_cap, "cannot prepare the mpirun process");
		goto out_close_log;
	}
	rc = spawn_tracked(s->backend, job, &fa, &attr, argv, &pid, &start, message, message_cap);
	if (rc != PC_OK)
		goto out_close_log;
	snprintf(sched_job_id, id_cap, "%d:%llu", (int)pid, start);
	log_info("job %s: started mpirun -np %s (pid %d)", job->id, ranks, (int)pid);
out_close_log:
	if (logfd >= 0)
		close(logfd);
	posix_spawnattr_destroy(&attr);
out_destroy_fa:
	posix_spawn_file_actions_destroy(&fa);
	return rc;
}

/* True while the process pid (with that start time) exists and is no zombie. */
static bool still_ours(pid_t pid, unsigned long long start)
{
	struct procid_stat pi;

	return procid_stat(pid, &pi) == PC_OK && pi.start_ticks == start && pi.state != 'Z';
}

/* Waits until session sid has no live process, reaping our child meanwhile. */
static bool wait_session_empty(struct local *l, pid_t sid, long timeout_ms)
{
	int64_t deadline = pc_monotonic_ms() + timeout_ms;
	pid_t pids[1];

	for (;;) {
		pthread_mutex_lock(&l->lock);
		reap_locked(l);
		pthread_mutex_unlock(&l->lock);
		if (session_members(sid, pids, 1) == 0)
			return true;
		if (pc_monotonic_ms() >= deadline)
			return false;
		pc_sleep_ms(20);
	}
}

static pc_err local_cancel(sched *s, const struct job *job)
{
	struct local *l = s->backend;
	struct child *c;
	unsigned long long start;
	pid_t pid, pids[256];
	size_t n;
	bool ours;

	if (!procid_parse(job->sched_job_id, &pid, &start))
		return PC_EINVAL;
	pthread_mutex_lock(&l->lock);
	reap_locked(l);
	c = find_locked(l, pid, start);
	if (c)
		c->cancelled = true;
	ours = c && !c->reaped;
	pthread_mutex_unlock(&l->lock);
	/* Only signal mpirun's session if mpirun is still the process we started: a pid can be
	 * reused. Ranks left behind by an mpirun that died anyway are found by session below. */
	if (ours || still_ours(pid, start)) {
		log_info("job %s: SIGTERM to mpirun %d and its session", job->id, (int)pid);
		kill(-pid, SIGTERM);
	}
	if (wait_session_empty(l, pid, CANCEL_GRACE_MS))
		return PC_OK;
	n = session_members(pid, pids, sizeof(pids) / sizeof(pids[0]));
	log_warn("job %s: %zu processes outlived SIGTERM; sending SIGKILL", job->id, n);
	kill(-pid, SIGKILL);
	for (size_t i = 0; i < n && i < sizeof(pids) / sizeof(pids[0]); i++)
		kill(pids[i], SIGKILL);
	if (wait_session_empty(l, pid, KILL_WAIT_MS))
		return PC_OK;
	log_error("job %s: processes of session %d survived SIGKILL", job->id, (int)pid);
	return PC_EIO;
}

/* "exit code 1", "killed by signal 9 (Killed)". */
static void describe_status(int status, char *out, size_t cap)
{
	if (status == -1)
		snprintf(out, cap, "the compute ended (exit status not known)");
	else if (WIFEXITED(status) && WEXITSTATUS(status) > 128)
		/* mpirun's way of saying a rank was killed: 128 + the signal */
		snprintf(out, cap,
			 "the compute (mpirun) exited with code %d without reporting: a rank was "
			 "killed by signal %d (%s)",
			 WEXITSTATUS(status), WEXITSTATUS(status) - 128,
			 strsignal(WEXITSTATUS(status) - 128));
	else if (WIFEXITED(status))
		snprintf(out, cap, "the compute (mpirun) exited with code %d without reporting",
			 WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(out, cap, "the compute (mpirun) was killed by signal %d (%s)",
			 WTERMSIG(status), strsignal(WTERMSIG(status)));
	else
		snprintf(out, cap, "the compute ended (status 0x%x)", status);
}

/*
 * True when mpirun ended by a signal, or said a rank did (it exits 128 + the signal then), or
 * its status is not known: something outside the compute ended it, not pi-compute's own exit.
 */
static bool killed_from_outside(int status)
{
	return status == -1 || WIFSIGNALED(status) ||
	       (WIFEXITED(status) && WEXITSTATUS(status) > 128);
}

static pc_err local_poll(sched *s, const struct job *jobs, size_t n, struct sched_report *reports)
{
	struct local *l = s->backend;

	pthread_mutex_lock(&l->lock);
	reap_locked(l);
	for (size_t i = 0; i < n; i++) {
		struct sched_report *rep = &reports[i];
		struct child *c;
		unsigned long long start;
		struct procid_stat pi;
		pid_t pid;
		pc_err rc;

		rep->retry = false;
		if (!procid_parse(jobs[i].sched_job_id, &pid, &start)) {
			rep->fate = SCHED_UNKNOWN;
			continue;
		}
		c = find_locked(l, pid, start);
		if (c) {
			if (!c->reaped) {
				rep->fate = SCHED_ALIVE;
			} else {
				rep->fate = c->cancelled ? SCHED_CANCELLED : SCHED_ENDED;
				describe_status(c->status, rep->reason, sizeof(rep->reason));
				rep->retry = killed_from_outside(c->status);
			}
			continue;
		}
		/* Not started by this process (a gateway restart, or another gateway on this
		 * host): /proc tells whether it still runs, not how it ended. */
		rc = procid_stat(pid, &pi);
		if (rc == PC_OK && pi.start_ticks == start && pi.state != 'Z') {
			rep->fate = SCHED_ALIVE;
		} else if (rc == PC_OK || rc == PC_ENOTFOUND) {
			rep->fate = SCHED_ENDED;
			snprintf(rep->reason, sizeof(rep->reason),
				 "the compute process (mpirun pid %d) is gone without reporting",
				 (int)pid);
			rep->retry = true; /* how it ended is not known: as if killed */
		} else {
			rep->fate = SCHED_UNKNOWN;
		}
	}
	pthread_mutex_unlock(&l->lock);
	return PC_OK;
}

const struct sched_ops sched_local_ops = {
    .name = "local",
    .submits = true,
    .compute_is_here = true, /* mpirun children of the gateway */
    .init = local_init,
    .fini = local_fini,
    .has_capacity = local_has_capacity,
    .submit = local_submit,
    .cancel = local_cancel,
    .poll = local_poll,
};
