/* slurm_parse.c - reads what sbatch, squeue and sacct print, apart from running them. */
#include "sched/slurm_parse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool slurm_parse_is_job_id(const char *s)
{
	size_t n = strspn(s, "0123456789");

	return n > 0 && n < 20 && s[n] == '\0';
}

bool slurm_parse_split_fields(char *line, char **f, int want)
{
	int k = 0;
	char *p = line;

	while (k < want) {
		f[k++] = p;
		p = strchr(p, '|');
		if (!p)
			break;
		*p++ = '\0';
	}
	return k == want;
}

bool slurm_parse_state_is_alive(const char *state)
{
	static const char *const alive[] = {
	    "PENDING",	 "CONFIGURING", "RUNNING",	"SUSPENDED",	"COMPLETING",
	    "RESIZING",	 "REQUEUED",	"REQUEUE_HOLD", "REQUEUE_FED",	"SPECIAL_EXIT",
	    "SIGNALING", "STAGE_OUT",	"STOPPED",	"RESV_DEL_HOLD"};

	for (size_t i = 0; i < sizeof(alive) / sizeof(alive[0]); i++)
		if (strcmp(state, alive[i]) == 0)
			return true;
	return false;
}

void slurm_parse_exit(const char *status, bool raw, char *out, size_t cap)
{
	size_t n = strspn(status, "0123456789");
	long code = 0, sig = 0;

	if (!cap)
		return;
	out[0] = '\0';
	/* At most 9 digits: a wait status fits in 16 bits, anything longer is not one. */
	if (n == 0 || n > 9)
		return;
	if (raw) {
		long v = strtol(status, NULL, 10);

		if (status[n] != '\0' && status[n] != ' ')
			return;
		sig = v & 0x7f;
		code = (v >> 8) & 0xff;
		if (sig == 0x7f) /* stopped, not ended */
			sig = 0;
	} else {
		const char *s2;
		size_t n2;

		if (status[n] != ':')
			return;
		s2 = status + n + 1;
		n2 = strspn(s2, "0123456789");
		if (n2 == 0 || n2 > 9 || s2[n2] != '\0')
			return;
		code = strtol(status, NULL, 10);
		sig = strtol(s2, NULL, 10);
	}
	if (sig)
		snprintf(out, cap, "killed by signal %ld", sig);
	else if (code)
		snprintf(out, cap, "exit code %ld", code);
}

void slurm_parse_report(struct sched_report *rep, const char *slurm_id, const char *state,
			const char *ended_by, const char *reason)
{
	char word[32];
	size_t n = strcspn(state, " ");
	bool has_reason = reason && *reason && strcmp(reason, "None") != 0;
	bool has_end = ended_by && *ended_by;

	if (n >= sizeof(word))
		n = sizeof(word) - 1;
	memcpy(word, state, n);
	word[n] = '\0';
	rep->retry = false;
	if (slurm_parse_state_is_alive(word)) {
		rep->fate = SCHED_ALIVE;
		rep->reason[0] = '\0';
		return;
	}
	rep->fate = strcmp(word, "CANCELLED") == 0 ? SCHED_CANCELLED : SCHED_ENDED;
	/* Ended from outside: a failed node, preemption, or a signal that was no time limit or
	 * cancel of ours (TIMEOUT, DEADLINE and OUT_OF_MEMORY would only happen again). */
	rep->retry = strcmp(word, "NODE_FAIL") == 0 || strcmp(word, "BOOT_FAIL") == 0 ||
		     strcmp(word, "PREEMPTED") == 0 ||
		     (strcmp(word, "FAILED") == 0 && has_end &&
		      strstr(ended_by, "killed by signal") != NULL);
	if (has_end || has_reason)
		snprintf(rep->reason, sizeof(rep->reason), "Slurm job %s %s (%s%s%s%s)", slurm_id,
			 word, has_end ? ended_by : "", has_end && has_reason ? "; " : "",
			 has_reason ? "reason " : "", has_reason ? reason : "");
	else
		snprintf(rep->reason, sizeof(rep->reason), "Slurm job %s %s", slurm_id, word);
}

/*
 * Splits the first `want` '|'-terminated fields off line, in place, and points *rest at what
 * follows them. False when the line has fewer.
 */
static bool split_head(char *line, char **f, int want, char **rest)
{
	char *p = line;

	for (int k = 0; k < want; k++) {
		char *bar = strchr(p, '|');

		if (!bar)
			return false;
		f[k] = p;
		*bar = '\0';
		p = bar + 1;
	}
	*rest = p;
	return true;
}

/* True when a listing's name field (squeue ends it with '|', either may pad it with
 * spaces) is SLURM_JOB_NAME_PREFIX + job_id. */
static bool name_is(const char *field, const char *job_id)
{
	static const char prefix[] = SLURM_JOB_NAME_PREFIX;
	size_t len = strlen(field), plen = sizeof(prefix) - 1, idlen = strlen(job_id);

	while (len && (field[len - 1] == ' ' || field[len - 1] == '\r'))
		len--;
	if (len && field[len - 1] == '|')
		len--;
	return len == plen + idlen && memcmp(field, prefix, plen) == 0 &&
	       memcmp(field + plen, job_id, idlen) == 0;
}

/* Index of the job among jobs[0..n) with this Slurm id and whose name the listing shows, or
 * n. */
static size_t find_job(const struct job *jobs, size_t n, const char *slurm_id, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(jobs[i].sched_job_id, slurm_id) == 0 && name_is(name, jobs[i].id))
			return i;
	return n;
}

/*
 * What ended a job as sacct tells it: the batch script's ExitCode, and the worst step's
 * DerivedExitCode when that names a signal the exit code does not ("exit code 143; a task was
 * killed by signal 9": a rank killed by SIGKILL, and srun ended the rest with SIGTERM).
 */
static void sacct_ended_by(const char *exit_code, const char *derived, char *out, size_t cap)
{
	char step[48];
	size_t len;

	slurm_parse_exit(exit_code, false, out, cap);
	slurm_parse_exit(derived, false, step, sizeof(step));
	if (strncmp(step, "killed by signal", 16) != 0 || strncmp(out, "killed by signal", 16) == 0)
		return;
	len = strlen(out);
	snprintf(out + len, cap - len, "%sa task was %s", len ? "; " : "", step);
}

void slurm_parse_listing(char *out, enum slurm_listing kind, const struct job *jobs, size_t n,
			 const size_t *idx, size_t count, struct sched_report *reports, bool *seen)
{
	const bool squeue = kind == SLURM_LISTING_SQUEUE;

	for (char *line = out, *next; line && *line; line = next) {
		char *f[4], *name, ended_by[96];
		size_t i;

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (!split_head(line, f, 4, &name) || !slurm_parse_is_job_id(f[0]))
			continue;
		i = find_job(jobs, n, f[0], name);
		if (i == n)
			continue;
		for (size_t k = 0; k < count; k++)
			if (idx[k] == i)
				seen[k] = true;
		if (squeue)
			slurm_parse_exit(f[3], true, ended_by, sizeof(ended_by));
		else
			sacct_ended_by(f[2], f[3], ended_by, sizeof(ended_by));
		slurm_parse_report(&reports[i], f[0], f[1], ended_by, squeue ? f[2] : NULL);
	}
}

pc_err slurm_parse_first_alive(char *out, char *id, size_t id_cap)
{
	for (char *line = out, *next; line && *line; line = next) {
		char *f[2];

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (!slurm_parse_split_fields(line, f, 2) || !slurm_parse_is_job_id(f[0]) ||
		    !slurm_parse_state_is_alive(f[1]) || strlen(f[0]) >= id_cap)
			continue;
		snprintf(id, id_cap, "%s", f[0]);
		return PC_OK;
	}
	return PC_ENOTFOUND;
}

pc_err slurm_parse_sbatch(const char *out, char *id, size_t id_cap)
{
	size_t id_len = out ? strspn(out, "0123456789") : 0;

	if (id_len == 0 || id_len >= 20 ||
	    (out[id_len] != ';' && out[id_len] != '\n' && out[id_len] != '\0'))
		return PC_ESCHED;
	if (id_len + 1 > id_cap)
		return PC_ERANGE;
	memcpy(id, out, id_len);
	id[id_len] = '\0';
	return PC_OK;
}

void slurm_parse_message(const char *err, char *out, size_t cap)
{
	size_t len = 0;
	const char *line = err;

	if (!cap)
		return;
	out[0] = '\0';
	while (*line && len + 1 < cap) {
		const char *end = strchr(line, '\n');
		size_t n = end ? (size_t)(end - line) : strlen(line);
		const char *p = line;
		const char *colon;

		/* "sbatch: error: text" -> "text" */
		colon = memmem(p, n, ": error: ", 9);
		if (colon) {
			n -= (size_t)(colon + 9 - p);
			p = colon + 9;
		}
		while (n && (p[n - 1] == '\r' || p[n - 1] == ' '))
			n--;
		if (n) {
			int w =
			    snprintf(out + len, cap - len, "%s%.*s", len ? "; " : "", (int)n, p);
			if (w < 0)
				break;
			len += (size_t)w < cap - len ? (size_t)w : cap - len - 1;
		}
		if (!end)
			break;
		line = end + 1;
	}
}
