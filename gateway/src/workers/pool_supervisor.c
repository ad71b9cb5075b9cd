/* pool_supervisor.c - keeps --pool-workers `pi-compute --worker` processes running beside a
 * local-scheduler gateway, and stops them with it. */
#include "workers/workers.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "picluster/clock.h"
#include "picluster/jobpool.h"
#include "picluster/log.h"

/*
 * One thread, K slots. Each slot runs `pi-compute --worker --redis URL --store URL
 * --key-prefix P --worker-name <instance>:pool:<n>` (the Redis password is in the
 * environment, which the worker inherits, never in its argv). A worker that ends is started
 * again after a pause that begins at RESTART_FIRST_MS and doubles up to RESTART_MAX_MS, and
 * starts over once a worker has lived STABLE_MS: a worker that cannot start (a wrong --store,
 * Redis refusing the password) costs a line every 5 s, not a busy loop. The same name in the
 * same slot means a restarted worker first takes back what its previous life left in its
 * processing list (jobpool_recover_own); the keeper would too, once the heartbeat expired.
 *
 * At shutdown every worker gets SIGTERM (it finishes its current job, leaves the pool and
 * exits 0), then SIGKILL after STOP_GRACE_MS. Should the gateway die without stopping them,
 * the kernel sends each SIGTERM itself (PR_SET_PDEATHSIG): no worker outlives its gateway.
 */

#define RESTART_FIRST_MS 100
#define RESTART_MAX_MS	 5000
#define STABLE_MS	 10000
#define STOP_GRACE_MS	 10000
#define CHECK_EVERY_MS	 100
#define WORKER_ARGC_MAX	 13

struct slot {
	pid_t pid;	       /* 0: not running */
	int64_t started_ms;    /* monotonic, when pid started */
	int64_t next_start_ms; /* not before this */
	long pause_ms;	       /* before the next restart */
	char name[JOBPOOL_WORKER_MAX + 1];
};

/*
 * "<instance>:pool:<n>" into out: the instance's characters a worker name cannot have become
 * '_', and it is cut so the whole fits JOBPOOL_WORKER_MAX (a host name of 64 characters is a
 * valid default instance). Stable across restarts, so a new life recovers the old one's list.
 */
static void worker_name(const char *instance, unsigned n, char *out, size_t cap)
{
	char suffix[24];
	size_t keep, i;

	snprintf(suffix, sizeof(suffix), ":pool:%u", n);
	keep = JOBPOOL_WORKER_MAX - strlen(suffix);
	for (i = 0; instance[i] && i < keep && i + 1 < cap; i++) {
		char c = instance[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || c == '.' || c == '_' || c == ':' || c == '-';

		out[i] = ok ? c : '_';
	}
	snprintf(out + i, cap - i, "%s", suffix);
}

/* The worker's log: state_dir/logs/pool-<n>.log, or -1 to share the gateway's stderr. */
static int open_worker_log(const struct gateway *gw, unsigned n)
{
	char path[4096];

	if (!gw->cfg.state_dir[0])
		return -1;
	snprintf(path, sizeof(path), "%s/logs", gw->cfg.state_dir);
	if (mkdir(path, 0755) != 0 && errno != EEXIST)
		return -1;
	snprintf(path, sizeof(path), "%s/logs/pool-%u.log", gw->cfg.state_dir, n);
	return open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
}

/*
 * In the child, between fork and exec (async-signal-safe calls only): die with the gateway,
 * a process group of its own (a terminal's ^C reaches the gateway, which stops the workers in
 * order), the signal mask and SIGPIPE the gateway changed set back, stdin from /dev/null,
 * stdout and stderr to logfd, no other inherited descriptor (the gateway's listening socket).
 */
static _Noreturn void exec_worker(const char *path, char *const argv[], pid_t parent, int logfd)
{
	struct sigaction dfl;
	sigset_t none;
	int devnull;

	if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != parent)
		_exit(127);
	setpgid(0, 0);
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	sigaction(SIGPIPE, &dfl, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	devnull = open("/dev/null", O_RDONLY);
	if (devnull < 0 || dup2(devnull, 0) < 0)
		_exit(127);
	if (logfd >= 0 && (dup2(logfd, 1) < 0 || dup2(logfd, 2) < 0))
		_exit(127);
	syscall(SYS_close_range, 3U, ~0U, 0U);
	execv(path, argv);
	_exit(127);
}

/* Starts slot n's worker; on failure the slot waits its pause as after a death. */
static void start_worker(struct gateway *gw, struct slot *sl, unsigned n, int64_t now)
{
	const struct gw_config *c = &gw->cfg;
	const char *argv[WORKER_ARGC_MAX];
	pid_t parent = getpid(), pid;
	int argc = 0, logfd;

	argv[argc++] = gw->compute_path;
	argv[argc++] = "--worker";
	argv[argc++] = "--redis";
	argv[argc++] = c->redis_url;
	argv[argc++] = "--store";
	argv[argc++] = c->store_url;
	argv[argc++] = "--key-prefix";
	argv[argc++] = c->key_prefix;
	argv[argc++] = "--worker-name";
	argv[argc++] = sl->name;
	argv[argc] = NULL;
	logfd = open_worker_log(gw, n);
	pid = fork();
	if (pid == 0)
		exec_worker(gw->compute_path, (char *const *)argv, parent, logfd);
	if (logfd >= 0)
		close(logfd);
	if (pid < 0) {
		log_warn("pool: cannot start worker %s: %s; next try in %ld ms", sl->name,
			 strerror(errno), sl->pause_ms);
		sl->next_start_ms = now + sl->pause_ms;
		sl->pause_ms =
		    sl->pause_ms * 2 < RESTART_MAX_MS ? sl->pause_ms * 2 : RESTART_MAX_MS;
		return;
	}
	sl->pid = pid;
	sl->started_ms = now;
	log_info("pool: worker %s started (pid %d)", sl->name, (int)pid);
}

/* "exit code 1", "killed by signal 9 (Killed)". */
static void describe_exit(int status, char *out, size_t cap)
{
	if (WIFEXITED(status))
		snprintf(out, cap, "exit code %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(out, cap, "killed by signal %d (%s)", WTERMSIG(status),
			 strsignal(WTERMSIG(status)));
	else
		snprintf(out, cap, "status 0x%x", status);
}

/* Reaps slot's worker if it ended, and schedules its restart. */
static void reap_worker(struct slot *sl, int64_t now)
{
	char how[96];
	int status = 0;
	pid_t r;

	if (!sl->pid)
		return;
	r = waitpid(sl->pid, &status, WNOHANG);
	if (r == 0 || (r < 0 && errno == EINTR))
		return;
	if (r < 0)
		snprintf(how, sizeof(how), "gone (%s)", strerror(errno));
	else
		describe_exit(status, how, sizeof(how));
	if (now - sl->started_ms >= STABLE_MS)
		sl->pause_ms = RESTART_FIRST_MS;
	log_warn("pool: worker %s (pid %d) ended after %.1f s: %s; restarting in %ld ms", sl->name,
		 (int)sl->pid, (double)(now - sl->started_ms) / 1000.0, how, sl->pause_ms);
	sl->pid = 0;
	sl->next_start_ms = now + sl->pause_ms;
	sl->pause_ms = sl->pause_ms * 2 < RESTART_MAX_MS ? sl->pause_ms * 2 : RESTART_MAX_MS;
}

/* Reaps what ended; true when no worker is left. */
static bool reap_stopped(struct slot *slots, unsigned k)
{
	bool none = true;

	for (unsigned i = 0; i < k; i++) {
		if (!slots[i].pid)
			continue;
		if (waitpid(slots[i].pid, NULL, WNOHANG) != 0)
			slots[i].pid = 0;
		else
			none = false;
	}
	return none;
}

/* SIGTERM to every worker, STOP_GRACE_MS for them to finish their job, then SIGKILL. */
static void stop_workers(struct slot *slots, unsigned k)
{
	int64_t deadline = pc_monotonic_ms() + STOP_GRACE_MS;
	unsigned left = 0;

	for (unsigned i = 0; i < k; i++)
		if (slots[i].pid && kill(slots[i].pid, SIGTERM) == 0)
			left++;
	if (left)
		log_info("pool: SIGTERM to %u worker(s); they finish their current job", left);
	while (!reap_stopped(slots, k) && pc_monotonic_ms() < deadline)
		pc_sleep_ms(20);
	for (unsigned i = 0; i < k; i++) {
		if (!slots[i].pid)
			continue;
		log_warn("pool: worker %s (pid %d) still runs after %d s: SIGKILL", slots[i].name,
			 (int)slots[i].pid, STOP_GRACE_MS / 1000);
		kill(slots[i].pid, SIGKILL);
		while (waitpid(slots[i].pid, NULL, 0) < 0 && errno == EINTR)
			;
		slots[i].pid = 0;
	}
}

void *gw_pool_supervisor_main(void *arg)
{
	struct gateway *gw = arg;
	unsigned k = gw->cfg.pool_workers;
	struct slot *slots = calloc(k, sizeof(*slots));

	if (!slots) {
		log_error("pool: out of memory; no workers started");
		return NULL;
	}
	for (unsigned i = 0; i < k; i++) {
		worker_name(gw->cfg.instance, i, slots[i].name, sizeof(slots[i].name));
		slots[i].pause_ms = RESTART_FIRST_MS;
	}
	while (!atomic_load(&gw->stopping)) {
		int64_t now = pc_monotonic_ms();

		for (unsigned i = 0; i < k; i++) {
			reap_worker(&slots[i], now);
			if (!slots[i].pid && now >= slots[i].next_start_ms)
				start_worker(gw, &slots[i], i, now);
		}
		gw_nap(gw, CHECK_EVERY_MS);
	}
	stop_workers(slots, k);
	free(slots);
	return NULL;
}
