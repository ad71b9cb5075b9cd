/* sched_slurm.c - the "slurm" backend: sbatch submits, scancel cancels, squeue/sacct watch. */
#include "sched/sched_int.h"
#include "sched/slurm_cmd.h"
#include "sched/slurm_parse.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
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
#define QUERY_TIMEOUT_MS  15000 /* squeue, sacct, scancel */
#define CANCEL_GRACE_MS	  15000 /* after scancel: time for the ranks to end before SIGKILL */
#define CANCEL_KILL_MS	  10000 /* after scancel --signal=KILL */
#define IDS_PER_QUERY	  500	/* keeps each -j argument far below the kernel's 128 KiB */

enum acct_mode {
	ACCT_UNKNOWN,  /* not tried yet */
	ACCT_DATABASE, /* sacct against slurmdbd */
	ACCT_JOBCOMP,  /* sacct -c: the jobcomp/filetxt log */
	ACCT_NONE      /* no record of finished jobs anywhere */
};

struct slurm {
	char *sbatch, *squeue, *scancel, *sacct; /* absolute paths; sacct may be NULL */
	char *script;				 /* absolute path of the batch script */
	char *output;				 /* --output pattern, or NULL for Slurm's default */
	char *extra_buf;			 /* extra arguments, NUL-separated */
	char **extra;				 /* pointers into extra_buf */
	size_t n_extra;
	char **envp;   /* environment of the children: ours plus PICLUSTER_COMPUTE */
	int acct_mode; /* enum acct_mode, read and written atomically (several threads poll) */
};

/* Logs a failed command: "squeue failed (exit 1, timed out): <Slurm's message>". */
static void log_failure(const char *cmd, const char *id, const struct slurm_cmd_result *res)
{
	char msg[256];

	slurm_parse_message(res->err, msg, sizeof(msg));
	log_warn("%s%s%s failed (exit %d%s): %s", cmd, id ? " " : "", id ? id : "", res->exit_code,
		 res->timed_out ? ", timed out" : "", msg);
}

/* True when stderr says the controller could not be reached (try again later). */
static bool is_unreachable(const struct slurm_cmd_result *res)
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
 * sbatch --parsable --job-name picluster-<id> -n R [--output O] [-p P] [-t T] [-A A] EXTRA
 *        SCRIPT --digits N --job-id ID --redis URL --store URL [--key-prefix P]
 * --parsable prints "JOBID" or "JOBID;CLUSTER" on success.
 */
static pc_err slurm_submit(sched *s, const struct job *job, char *sched_job_id, size_t id_cap,
			   char *message, size_t message_cap)
{
	struct slurm *sl = s->backend;
	char name[JOB_ID_LEN + 16], ntasks[16], digits[32];
	const char **argv;
	struct slurm_cmd_result res;
	size_t n = 0;
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
	snprintf(digits, sizeof(digits), "%" PRIu64, job->digits);
	argv = calloc(32 + sl->n_extra, sizeof(*argv));
	if (!argv)
		return PC_ENOMEM;
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
	argv[n++] = "--digits";
	argv[n++] = digits;
	argv[n++] = "--job-id";
	argv[n++] = job->id;
	argv[n++] = "--redis";
	argv[n++] = s->cfg.redis_url;
	argv[n++] = "--store";
	argv[n++] = s->cfg.store_url;
	if (s->cfg.key_prefix && *s->cfg.key_prefix) {
		argv[n++] = "--key-prefix";
		argv[n++] = s->cfg.key_prefix;
	}
	argv[n] = NULL;

	rc = slurm_cmd_run(sl->sbatch, (char *const *)argv, sl->envp, SUBMIT_TIMEOUT_MS, &res);
	if (rc != PC_OK) {
		snprintf(message, message_cap, "could not run sbatch: %s", strerror(errno));
		goto out_free_argv;
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
		rc = is_unreachable(&res) ? PC_EUNAVAILABLE : PC_ESCHED;
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
out_free_argv:
	free(argv);
	return rc;
}

/* Builds "id1,id2,..." of the listed jobs' Slurm ids (caller frees). */
static char *join_ids(const struct job *jobs, const size_t *idx, size_t count)
{
	size_t cap = count * 21 + 1, len = 0;
	char *list = malloc(cap);

	if (!list)
		return NULL;
	list[0] = '\0';
	for (size_t k = 0; k < count; k++) {
		int w = snprintf(list + len, cap - len, "%s%s", k ? "," : "",
				 jobs[idx[k]].sched_job_id);
		if (w > 0)
			len += (size_t)w;
	}
	return list;
}

/*
 * One squeue for the listed jobs. Marks each found job's report; *seen[k] tells which were
 * listed. PC_EUNAVAILABLE when the controller did not answer.
 */
static pc_err query_squeue(struct slurm *sl, const struct job *jobs, size_t n, const size_t *idx,
			   size_t count, struct sched_report *reports, bool *seen)
{
	char *list = join_ids(jobs, idx, count);
	const char *argv[] = {"squeue", "-h", "-t", "all", "-j", list, "-O", SLURM_SQUEUE_FIELDS,
			      NULL};
	struct slurm_cmd_result res;
	pc_err rc;

	if (!list)
		return PC_ENOMEM;
	rc = slurm_cmd_run(sl->squeue, (char *const *)argv, sl->envp, QUERY_TIMEOUT_MS, &res);
	if (rc != PC_OK)
		goto out_free;
	if (res.exit_code != 0) {
		/* A lone id Slurm has forgotten: "Invalid job id specified". Nothing listed. */
		if (strstr(res.err, "Invalid job id")) {
			rc = PC_OK;
		} else {
			log_failure("squeue", NULL, &res);
			rc = PC_EUNAVAILABLE;
		}
		goto out_clear;
	}
	slurm_parse_listing(res.out, SLURM_LISTING_SQUEUE, jobs, n, idx, count, reports, seen);
out_clear:
	slurm_cmd_result_clear(&res);
out_free:
	free(list);
	return rc;
}

/*
 * Asks accounting about jobs that left the queue: sacct against slurmdbd, or `sacct -c`
 * (jobcomp/filetxt) where accounting storage is disabled. Jobs with no record at all are
 * reported ended: they left the queue without a state. PC_EUNAVAILABLE when the records
 * could not be read now.
 * With `listed`, the jobs are still in the queue, which said they ended without naming a
 * signal: accounting only refines that report (its DerivedExitCode names a task's signal that
 * the batch script's exit code hides); no record, or one that lags behind, keeps the queue's.
 */
static pc_err query_sacct(struct slurm *sl, const struct job *jobs, size_t n, const size_t *idx,
			  size_t count, struct sched_report *reports, bool listed)
{
	int mode = __atomic_load_n(&sl->acct_mode, __ATOMIC_RELAXED);
	bool *found = calloc(count ? count : 1, sizeof(*found));
	struct sched_report *queue = calloc(count ? count : 1, sizeof(*queue));
	char *list = join_ids(jobs, idx, count);
	struct slurm_cmd_result res = {.out = NULL};
	pc_err rc = PC_ENOMEM;

	if (!found || !queue || !list)
		goto out_free;
	for (size_t k = 0; k < count; k++)
		queue[k] = reports[idx[k]];
	rc = PC_OK;
	while (sl->sacct && mode != ACCT_NONE) {
		const char *db_argv[] = {
		    "sacct", "-n", "-P", "-X", "-j", list, "-o", SLURM_SACCT_FIELDS, NULL};
		const char *jc_argv[] = {
		    "sacct", "-c", "-n", "-P", "-j", list, "-o", SLURM_JOBCOMP_FIELDS, NULL};
		bool db = mode != ACCT_JOBCOMP;

		rc = slurm_cmd_run(sl->sacct, (char *const *)(db ? db_argv : jc_argv), sl->envp,
				   QUERY_TIMEOUT_MS, &res);
		if (rc != PC_OK)
			goto out_free;
		if (res.exit_code == 0)
			break;
		if (db && strstr(res.err, "accounting storage is disabled")) {
			mode = ACCT_JOBCOMP;
		} else if (!db && (strstr(res.err, "completion is disabled") ||
				   strstr(res.err, "jobcomp") || strstr(res.err, "JobComp") ||
				   strstr(res.err, "No such file"))) {
			/* "Slurm job completion is disabled": jobcomp/none, no records at all. */
			mode = ACCT_NONE;
		} else {
			log_failure("sacct", NULL, &res);
			rc = PC_EUNAVAILABLE;
			goto out_clear;
		}
		__atomic_store_n(&sl->acct_mode, mode, __ATOMIC_RELAXED);
		slurm_cmd_result_clear(&res);
	}
	if (mode != ACCT_NONE && mode != ACCT_UNKNOWN)
		__atomic_store_n(&sl->acct_mode, mode, __ATOMIC_RELAXED);
	/* The last record of a job wins (a requeued job has several). */
	slurm_parse_listing(res.out, SLURM_LISTING_SACCT, jobs, n, idx, count, reports, found);
	for (size_t k = 0; k < count; k++) {
		if (listed) {
			if (!found[k] || reports[idx[k]].fate != SCHED_ENDED)
				reports[idx[k]] = queue[k];
			continue;
		}
		/* Accounting may lag behind the controller; the queue said it is gone. */
		if (found[k] && reports[idx[k]].fate == SCHED_ALIVE)
			reports[idx[k]].fate = SCHED_UNKNOWN;
		if (found[k])
			continue;
		reports[idx[k]].fate = SCHED_ENDED;
		snprintf(reports[idx[k]].reason, sizeof(reports[idx[k]].reason),
			 "Slurm job %s left the Slurm queue without a state",
			 jobs[idx[k]].sched_job_id);
		/* Forgotten, e.g. by a controller that lost its last state in a crash. */
		reports[idx[k]].retry = true;
	}
out_clear:
	slurm_cmd_result_clear(&res);
out_free:
	free(list);
	free(queue);
	free(found);
	return rc;
}

/*
 * One squeue for every job (in chunks of IDS_PER_QUERY), then accounting for the jobs the
 * queue no longer lists, and for those it lists as ended without naming a signal (their
 * reason may be refined). Jobs without a Slurm id stay SCHED_UNKNOWN. When Slurm cannot be
 * reached, every report stays SCHED_UNKNOWN and PC_OK is returned: nothing is decided then.
 */
static pc_err slurm_poll(sched *s, const struct job *jobs, size_t n, struct sched_report *reports)
{
	struct slurm *sl = s->backend;
	size_t *idx = calloc(n ? n : 1, sizeof(*idx));
	size_t *gone = calloc(n ? n : 1, sizeof(*gone));
	size_t *ended = calloc(n ? n : 1, sizeof(*ended));
	bool *seen = calloc(IDS_PER_QUERY, sizeof(*seen));
	size_t count = 0, n_gone = 0, n_ended = 0;
	pc_err rc = PC_ENOMEM;

	if (!idx || !gone || !ended || !seen)
		goto out_free;
	for (size_t i = 0; i < n; i++) {
		reports[i].fate = SCHED_UNKNOWN;
		reports[i].reason[0] = '\0';
		reports[i].retry = false;
		if (slurm_parse_is_job_id(jobs[i].sched_job_id))
			idx[count++] = i;
	}
	rc = PC_OK;
	for (size_t off = 0; off < count; off += IDS_PER_QUERY) {
		size_t chunk = count - off < IDS_PER_QUERY ? count - off : IDS_PER_QUERY;

		memset(seen, 0, IDS_PER_QUERY * sizeof(*seen));
		rc = query_squeue(sl, jobs, n, idx + off, chunk, reports, seen);
		if (rc == PC_EUNAVAILABLE) {
			for (size_t i = 0; i < n; i++)
				reports[i].fate = SCHED_UNKNOWN;
			rc = PC_OK;
			goto out_free;
		}
		if (rc != PC_OK)
			goto out_free;
		for (size_t k = 0; k < chunk; k++) {
			const struct sched_report *r = &reports[idx[off + k]];

			if (!seen[k])
				gone[n_gone++] = idx[off + k];
			else if (r->fate == SCHED_ENDED && !r->retry)
				ended[n_ended++] = idx[off + k];
		}
	}
	for (size_t off = 0; off < n_ended; off += IDS_PER_QUERY) {
		size_t chunk = n_ended - off < IDS_PER_QUERY ? n_ended - off : IDS_PER_QUERY;

		/* Best effort: unreadable accounting leaves the queue's reports as they are. */
		rc = query_sacct(sl, jobs, n, ended + off, chunk, reports, true);
		if (rc != PC_OK && rc != PC_EUNAVAILABLE)
			goto out_free;
		rc = PC_OK;
	}
	for (size_t off = 0; off < n_gone; off += IDS_PER_QUERY) {
		size_t chunk = n_gone - off < IDS_PER_QUERY ? n_gone - off : IDS_PER_QUERY;

		rc = query_sacct(sl, jobs, n, gone + off, chunk, reports, false);
		if (rc == PC_EUNAVAILABLE) {
			for (size_t k = off; k < n_gone; k++)
				reports[gone[k]].fate = SCHED_UNKNOWN;
			rc = PC_OK;
			break;
		}
		if (rc != PC_OK)
			goto out_free;
	}
out_free:
	free(seen);
	free(ended);
	free(gone);
	free(idx);
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
		log_failure("scancel", id, &res);
		rc = is_unreachable(&res) ? PC_EUNAVAILABLE : PC_ESCHED;
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
