/* sched_slurm.c - the "slurm" backend: set-up, sbatch submits, scancel cancels (polling:
 * slurm_poll.c). */
#include "sched/slurm_int.h"
#include "sched/slurm_parse.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "picluster/clock.h"
#include "picluster/log.h"

#define SUBMIT_TIMEOUT_MS 30000 /* sbatch may wait on a busy controller */
#define CANCEL_GRACE_MS	  15000 /* after scancel: time for the ranks to end before SIGKILL */
#define CANCEL_KILL_MS	  10000 /* after scancel --signal=KILL */

void slurm_log_failure(const char *cmd, const char *id, const struct slurm_cmd_result *res)
{
	char msg[256];

	slurm_parse_message(res->err, msg, sizeof(msg));
	log_warn("%s%s%s failed (exit %d%s): %s", cmd, id ? " " : "", id ? id : "", res->exit_code,
		 res->timed_out ? ", timed out" : "", msg);
}

bool slurm_is_unreachable(const struct slurm_cmd_result *res)
{
	return res->timed_out || res->exit_code < 0 ||
	       strstr(res->err, "Unable to contact slurm controller") ||
	       strstr(res->err, "Socket timed out") || strstr(res->err, "Connection refused") ||
	       strstr(res->err, "Communication connection failure") ||
	       strstr(res->err, "Connection reset by peer") ||
	       strstr(res->err, "Zero Bytes were transmitted");
}

/*
 * The batch script when none is configured: slurm/pi.sbatch of the source tree the program
 * was built in (<tree>/<build>/bin/pi-gateway), then of the working directory. NULL if none
 * is readable; the caller frees the result.
 */
static char *default_script(void)
{
	char self[PATH_MAX], path[PATH_MAX + 32];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n > 0) {
		char *slash;

		self[n] = '\0';
		slash = strrchr(self, '/'); /* .../build/bin/pi-gateway -> .../build/bin */
		if (slash) {
			*slash = '\0';
			snprintf(path, sizeof(path), "%s/../../slurm/pi.sbatch", self);
			if (access(path, R_OK) == 0)
				return realpath(path, NULL);
		}
	}
	return realpath("slurm/pi.sbatch", NULL);
}

/* The children's environment: ours, with PICLUSTER_COMPUTE set to the compute program unless
 * the operator already set it (sbatch passes it on to the job, where pi.sbatch runs it). */
static char **build_envp(const char *compute_path)
{
	extern char **environ;
	size_t n = 0, i, j = 0;
	bool keep_ours = getenv("PICLUSTER_COMPUTE") != NULL;
	char **envp;

	while (environ[n])
		n++;
	envp = calloc(n + 2, sizeof(*envp));
	if (!envp)
		return NULL;
	for (i = 0; i < n; i++) {
		envp[j] = strdup(environ[i]);
		if (!envp[j])
			goto out_free;
		j++;
	}
	if (!keep_ours && compute_path) {
		size_t len = strlen("PICLUSTER_COMPUTE=") + strlen(compute_path) + 1;

		envp[j] = malloc(len);
		if (!envp[j])
			goto out_free;
		snprintf(envp[j], len, "PICLUSTER_COMPUTE=%s", compute_path);
		j++;
	}
	envp[j] = NULL;
	return envp;
out_free:
	for (i = 0; i < j; i++)
		free(envp[i]);
	free(envp);
	return NULL;
}

static void free_strv(char **v)
{
	if (!v)
		return;
	for (size_t i = 0; v[i]; i++)
		free(v[i]);
	free(v);
}

/* Splits the extra sbatch arguments on spaces and tabs into sl->extra. */
static pc_err split_extra(struct slurm *sl, const char *extra)
{
	size_t len, i, n = 0;
	bool in_word = false;

	if (!extra || !*extra)
		return PC_OK;
	len = strlen(extra);
	sl->extra_buf = malloc(len + 1);
	sl->extra = calloc(len / 2 + 2, sizeof(*sl->extra));
	if (!sl->extra_buf || !sl->extra)
		return PC_ENOMEM;
	for (i = 0; i <= len; i++) {
		char c = extra[i];
		bool space = c == ' ' || c == '\t' || c == '\0';

		sl->extra_buf[i] = space ? '\0' : c;
		if (!space && !in_word)
			sl->extra[n++] = sl->extra_buf + i;
		in_word = !space;
	}
	sl->n_extra = n;
	return PC_OK;
}

static void slurm_release(struct slurm *sl)
{
	free(sl->sbatch);
	free(sl->squeue);
	free(sl->scancel);
	free(sl->sacct);
	free(sl->script);
	free(sl->output);
	free(sl->extra_buf);
	free(sl->extra);
	free_strv(sl->envp);
	free(sl);
}

static pc_err slurm_init(sched *s)
{
	struct slurm *sl;
	pc_err rc = PC_ENOMEM;

	s->backend = NULL;
	if (!s->cfg.redis_url || !s->cfg.store_url || !s->cfg.ranks) {
		log_error("slurm scheduler: the Redis URL, store URL and ranks are required");
		return PC_EINVAL;
	}
	sl = calloc(1, sizeof(*sl));
	if (!sl)
		return PC_ENOMEM;
	sl->sbatch = slurm_cmd_find("sbatch");
	sl->squeue = slurm_cmd_find("squeue");
	sl->scancel = slurm_cmd_find("scancel");
	sl->sacct = slurm_cmd_find("sacct"); /* optional: only for jobs that left the queue */
	if (!sl->sbatch || !sl->squeue || !sl->scancel) {
		log_error("slurm scheduler: sbatch, squeue and scancel must be on PATH");
		rc = PC_EINVAL;
		goto out_free;
	}
	sl->script = s->cfg.sbatch_script ? realpath(s->cfg.sbatch_script, NULL) : default_script();
	if (!sl->script || access(sl->script, R_OK) != 0) {
		log_error("slurm scheduler: cannot read the batch script %s: %s",
			  s->cfg.sbatch_script ? s->cfg.sbatch_script : "slurm/pi.sbatch",
			  strerror(errno));
		rc = PC_EINVAL;
		goto out_free;
	}
	if (s->cfg.state_dir && *s->cfg.state_dir) {
		size_t len = strlen(s->cfg.state_dir) + sizeof("/slurm-%j.out");

		sl->output = malloc(len);
		if (!sl->output)
			goto out_free;
		snprintf(sl->output, len, "%s/slurm-%%j.out", s->cfg.state_dir);
	}
	rc = split_extra(sl, s->cfg.extra_args);
	if (rc != PC_OK)
		goto out_free;
	rc = PC_ENOMEM;
	sl->envp = build_envp(s->cfg.compute_path);
	if (!sl->envp)
		goto out_free;
	sl->acct_mode = ACCT_UNKNOWN;
	s->backend = sl;
	log_info("slurm scheduler: %s, script %s, %u tasks per job%s%s", sl->sbatch, sl->script,
		 s->cfg.ranks, s->cfg.partition ? ", partition " : "",
		 s->cfg.partition ? s->cfg.partition : "");
	return PC_OK;
out_free:
	slurm_release(sl);
	return rc;
}

static void slurm_fini(sched *s)
{
	if (s->backend)
		slurm_release(s->backend);
	s->backend = NULL;
}

/* Slurm queues what it cannot run yet: the gateway may always hand jobs over. */
static bool slurm_has_capacity(sched *s)
{
	return true;
}

/*
 * Looks for a live Slurm job named name (one an earlier sbatch submitted although its answer
 * never came back) and writes its id. PC_ENOTFOUND when there is none, PC_EUNAVAILABLE when
 * squeue cannot answer.
 */
static pc_err find_submitted(struct slurm *sl, const char *name, char *sched_job_id, size_t id_cap)
{
	const char *argv[] = {"squeue", "-h", "-t", "all", "--name", name, "-o", "%i|%T", NULL};
	struct slurm_cmd_result res;
	pc_err rc;

	rc = slurm_cmd_run(sl->squeue, (char *const *)argv, sl->envp, QUERY_TIMEOUT_MS, &res);
	if (rc != PC_OK)
		return PC_EUNAVAILABLE;
	rc = res.exit_code == 0 ? slurm_parse_first_alive(res.out, sched_job_id, id_cap)
				: PC_EUNAVAILABLE;
	slurm_cmd_result_clear(&res);
	return rc;
}

/*
 * The sbatch command line of a job, in a new array the caller frees (NULL when out of
 * memory); the strings stay owned by the caller and s:
 * sbatch --parsable --job-name NAME -n R [--output O] [-p P] [-t T] [-A A] EXTRA
 *        SCRIPT --digits N --job-id ID --redis URL --store URL [--key-prefix P]
 */
static const char **sbatch_argv(const sched *s, const struct job *job, const char *name,
				const char *ntasks, struct sched_compute_args *args)
{
	const struct slurm *sl = s->backend;
	const char **argv = calloc(16 + SCHED_COMPUTE_ARGC_MAX + sl->n_extra, sizeof(*argv));
	size_t n = 0;

	if (!argv)
		return NULL;
	argv[n++] = "sbatch";
	argv[n++] = "--parsable";
	argv[n++] = "--job-name";
	argv[n++] = name;
	argv[n++] = "-n";
	argv[n++] = ntasks;
	if (sl->output) {
		argv[n++] = "--output";
		argv[n++] = sl->output;
	}
	if (s->cfg.partition && *s->cfg.partition) {
		argv[n++] = "-p";
		argv[n++] = s->cfg.partition;
	}
	if (s->cfg.time_limit && *s->cfg.time_limit) {
		argv[n++] = "-t";
		argv[n++] = s->cfg.time_limit;
	}
	if (s->cfg.account && *s->cfg.account) {
		argv[n++] = "-A";
		argv[n++] = s->cfg.account;
	}
	for (size_t i = 0; i < sl->n_extra; i++)
		argv[n++] = sl->extra[i];
	argv[n++] = sl->script;
	sched_compute_args(args, s, job);
	for (size_t i = 0; i < args->argc; i++)
		argv[n++] = args->argv[i];
	argv[n] = NULL;
	return argv;
}

/*
 * Runs sbatch and reads its answer: --parsable prints "JOBID" or "JOBID;CLUSTER" on success.
 * PC_ESCHED with message filled when Slurm refused the job, PC_EUNAVAILABLE when it could not
 * be reached (the job may be submitted again).
 */
static pc_err run_sbatch(struct slurm *sl, const struct job *job, const char **argv,
			 char *sched_job_id, size_t id_cap, char *message, size_t message_cap)
{
	struct slurm_cmd_result res;
	pc_err rc;

	rc = slurm_cmd_run(sl->sbatch, (char *const *)argv, sl->envp, SUBMIT_TIMEOUT_MS, &res);
	if (rc != PC_OK) {
		snprintf(message, message_cap, "could not run sbatch: %s", strerror(errno));
		return rc;
	}
	if (res.timed_out) {
		snprintf(message, message_cap, "sbatch did not finish within %d s",
			 SUBMIT_TIMEOUT_MS / 1000);
		rc = PC_EUNAVAILABLE;
		log_warn("job %s: %s", job->id, message);
		goto out_clear;
	}
	if (res.exit_code != 0) {
		slurm_parse_message(res.err, message, message_cap);
		if (!message[0])
			snprintf(message, message_cap, "sbatch failed with exit code %d",
				 res.exit_code);
		/* An unreachable controller is not a refusal: the job may be submitted again. */
		rc = slurm_is_unreachable(&res) ? PC_EUNAVAILABLE : PC_ESCHED;
		log_warn("job %s: sbatch %s: %s", job->id,
			 rc == PC_ESCHED ? "refused it" : "could not reach Slurm", message);
		goto out_clear;
	}
	rc = slurm_parse_sbatch(res.out, sched_job_id, id_cap);
	if (rc == PC_ESCHED) {
		snprintf(message, message_cap, "sbatch printed no job id: %.200s",
			 res.out ? res.out : "(nothing)");
		goto out_clear;
	}
	if (rc != PC_OK) {
		snprintf(message, message_cap, "Slurm job id too long");
		goto out_clear;
	}
	log_info("job %s: submitted as Slurm job %s", job->id, sched_job_id);
out_clear:
	slurm_cmd_result_clear(&res);
	return rc;
}

/* Adopts a live Slurm job an earlier sbatch started for this job, else runs sbatch. */
static pc_err slurm_submit(sched *s, const struct job *job, char *sched_job_id, size_t id_cap,
			   char *message, size_t message_cap)
{
	struct slurm *sl = s->backend;
	char name[JOB_ID_LEN + 16], ntasks[16];
	struct sched_compute_args args;
	const char **argv;
	pc_err rc;

	/* An earlier sbatch for this job whose answer was lost (timed out, controller
	 * unreachable; in this process or in a gateway that died since) may still have been
	 * queued: the controller reads requests from its socket backlog when it wakes up. Slurm
	 * itself remembers it by name, so every submission looks there first and adopts a live
	 * job instead of starting a second (one squeue call, a few ms). */
	snprintf(name, sizeof(name), SLURM_JOB_NAME_PREFIX "%s", job->id);
	rc = find_submitted(sl, name, sched_job_id, id_cap);
	if (rc == PC_OK) {
		log_info("job %s: an earlier sbatch did submit it: Slurm job %s", job->id,
			 sched_job_id);
		return PC_OK;
	}
	if (rc != PC_ENOTFOUND) {
		snprintf(message, message_cap, "squeue could not reach Slurm");
		return rc;
	}
	snprintf(ntasks, sizeof(ntasks), "%u", s->cfg.ranks);
	argv = sbatch_argv(s, job, name, ntasks, &args);
	if (!argv)
		return PC_ENOMEM;
	rc = run_sbatch(sl, job, argv, sched_job_id, id_cap, message, message_cap);
	free(argv);
	return rc;
}

/*
 * The state of one job in the queue: *alive true while it may still have processes.
 * PC_EUNAVAILABLE when squeue could not answer.
 */
static pc_err job_is_alive(struct slurm *sl, const char *id, const char *name, bool *alive)
{
	const char *argv[] = {"squeue", "-h", "-t", "all", "-j", id,
			      "--name", name, "-o", "%T",  NULL};
	struct slurm_cmd_result res;
	pc_err rc;

	*alive = false;
	rc = slurm_cmd_run(sl->squeue, (char *const *)argv, sl->envp, QUERY_TIMEOUT_MS, &res);
	if (rc != PC_OK)
		return rc;
	if (res.exit_code != 0)
		rc = strstr(res.err, "Invalid job id") ? PC_OK : PC_EUNAVAILABLE;
	else if (res.out) {
		res.out[strcspn(res.out, "\n")] = '\0';
		*alive = slurm_parse_state_is_alive(res.out);
	}
	slurm_cmd_result_clear(&res);
	return rc;
}

/* Waits up to ms for the job (Slurm id and our name) to leave the alive states. */
static pc_err wait_gone(struct slurm *sl, const char *id, const char *name, int ms, bool *gone)
{
	int64_t deadline = pc_monotonic_ms() + ms;
	bool alive = true;
	pc_err rc;

	*gone = false;
	for (;;) {
		rc = job_is_alive(sl, id, name, &alive);
		if (rc != PC_OK)
			return rc;
		if (!alive) {
			*gone = true;
			return PC_OK;
		}
		if (pc_monotonic_ms() >= deadline)
			return PC_OK;
		pc_sleep_ms(200);
	}
}

/* Runs scancel with the given arguments before the id, restricted to the job's name; PC_OK
 * also for a job already gone. */
static pc_err run_scancel(struct slurm *sl, const char *id, const char *name, const char *opt1,
			  const char *opt2)
{
	const char *argv[8];
	struct slurm_cmd_result res;
	size_t n = 0;
	pc_err rc;

	argv[n++] = "scancel";
	argv[n++] = "--name";
	argv[n++] = name;
	if (opt1)
		argv[n++] = opt1;
	if (opt2)
		argv[n++] = opt2;
	argv[n++] = id;
	argv[n] = NULL;
	rc = slurm_cmd_run(sl->scancel, (char *const *)argv, sl->envp, QUERY_TIMEOUT_MS, &res);
	if (rc != PC_OK)
		return rc;
	if (res.exit_code != 0 && !strstr(res.err, "Invalid job id") &&
	    !strstr(res.err, "already completing or completed")) {
		slurm_log_failure("scancel", id, &res);
		rc = slurm_is_unreachable(&res) ? PC_EUNAVAILABLE : PC_ESCHED;
	}
	slurm_cmd_result_clear(&res);
	return rc;
}

/*
 * scancel, then wait until Slurm no longer lists the job as pending, running or completing:
 * only then is every rank gone. If the ranks outlive the grace period (KillWait), the job's
 * steps and batch shell get SIGKILL (scancel --signal=KILL --full). PC_ETIMEOUT if it still
 * lingers after that; PC_EUNAVAILABLE when Slurm cannot be reached.
 */
static pc_err slurm_cancel(sched *s, const struct job *job)
{
	struct slurm *sl = s->backend;
	const char *id = job->sched_job_id;
	char name[JOB_ID_LEN + 16];
	bool gone = false;
	pc_err rc;

	if (!slurm_parse_is_job_id(id))
		return PC_OK; /* never submitted: nothing of it runs */
	/* Every call names the job as well as its id: a controller that lost its last state in
	 * a crash may hand the id out again, and the other job must not be touched. */
	snprintf(name, sizeof(name), SLURM_JOB_NAME_PREFIX "%s", job->id);
	rc = run_scancel(sl, id, name, NULL, NULL);
	if (rc != PC_OK)
		return rc;
	rc = wait_gone(sl, id, name, CANCEL_GRACE_MS, &gone);
	if (rc != PC_OK || gone)
		goto out;
	log_warn("job %s: Slurm job %s still alive %d s after scancel: SIGKILL", job->id, id,
		 CANCEL_GRACE_MS / 1000);
	rc = run_scancel(sl, id, name, "--signal=KILL", "--full");
	if (rc != PC_OK)
		goto out;
	rc = wait_gone(sl, id, name, CANCEL_KILL_MS, &gone);
	if (rc == PC_OK && !gone)
		rc = PC_ETIMEOUT;
out:
	if (rc == PC_OK)
		log_info("job %s: Slurm job %s cancelled", job->id, id);
	return rc;
}

const struct sched_ops sched_slurm_ops = {
    .name = "slurm",
    .submits = true,
    .compute_is_here = false, /* on the cluster's nodes */
    .init = slurm_init,
    .fini = slurm_fini,
    .has_capacity = slurm_has_capacity,
    .submit = slurm_submit,
    .cancel = slurm_cancel,
    .poll = slurm_poll,
};
