/* slurm_parse.c - reads what sbatch, squeue and sacct print, apart from running them. */
#include "slurm_parse.h"

#include <stdio.h>
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

void slurm_parse_report(struct sched_report *rep, const char *slurm_id, const char *state,
			const char *detail, const char *detail_name)
{
	char word[32];
	size_t n = strcspn(state, " ");

	if (n >= sizeof(word))
		n = sizeof(word) - 1;
	memcpy(word, state, n);
	word[n] = '\0';
	if (slurm_parse_state_is_alive(word)) {
		rep->fate = SCHED_ALIVE;
		rep->reason[0] = '\0';
		return;
	}
	rep->fate = strcmp(word, "CANCELLED") == 0 ? SCHED_CANCELLED : SCHED_ENDED;
	if (detail && *detail && strcmp(detail, "None") != 0)
		snprintf(rep->reason, sizeof(rep->reason), "Slurm job %s %s (%s %s)", slurm_id,
			 word, detail_name, detail);
	else
		snprintf(rep->reason, sizeof(rep->reason), "Slurm job %s %s", slurm_id, word);
}

/* Index of the job whose Slurm id is id among jobs[0..n), or n: a listing names Slurm ids. */
static size_t find_job(const struct job *jobs, size_t n, const char *id)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(jobs[i].sched_job_id, id) == 0)
			return i;
	return n;
}

void slurm_parse_listing(char *out, const struct job *jobs, size_t n, const size_t *idx,
			 size_t count, struct sched_report *reports, bool *seen,
			 const char *detail_name)
{
	for (char *line = out, *next; line && *line; line = next) {
		char *f[3];
		size_t i;

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (!slurm_parse_split_fields(line, f, 3) || !slurm_parse_is_job_id(f[0]))
			continue;
		i = find_job(jobs, n, f[0]);
		if (i == n)
			continue;
		for (size_t k = 0; k < count; k++)
			if (idx[k] == i)
				seen[k] = true;
		slurm_parse_report(&reports[i], f[0], f[1], f[2], detail_name);
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
