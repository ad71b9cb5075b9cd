/* fuzz_slurm_sacct.c - libFuzzer target: sacct's records of jobs that left the queue. */
#include "fuzz_slurm.h"

/*
 * The input is what `sacct -n -P -o SLURM_SACCT_FIELDS` (or `sacct -c`) printed:
 * "12|CANCELLED by 0|0:15|0:0|picluster-j1" lines, read into the reports of the jobs asked
 * about.
 * The state word and its exit code are also read alone, as one report, and the exit code as
 * both of its forms (sacct's "EXIT:SIGNAL" and squeue's raw wait status).
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sched_report rep;
	char *text, *f[3], ended_by[48];

	if (size > FUZZ_SLURM_MAX_INPUT)
		return 0;
	text = fuzz_strdup(data, size);
	fuzz_slurm_listing(text, SLURM_LISTING_SACCT);
	free(text);

	text = fuzz_strdup(data, size);
	if (slurm_parse_split_fields(text, f, 3)) {
		FUZZ_CHECK(!strchr(f[0], '|') && !strchr(f[1], '|') && !strchr(f[2], '|'));
		FUZZ_CHECK(f[0] == text && f[1] > f[0] && f[2] > f[1]);
		for (int raw = 0; raw < 2; raw++) {
			slurm_parse_exit(f[2], raw, ended_by, sizeof(ended_by));
			FUZZ_CHECK(memchr(ended_by, '\0', sizeof(ended_by)) != NULL);
			FUZZ_CHECK(!ended_by[0] ||
				   strncmp(ended_by, "killed by signal ", 17) == 0 ||
				   strncmp(ended_by, "exit code ", 10) == 0);
		}
		rep.fate = SCHED_UNKNOWN;
		slurm_parse_report(&rep, "12", f[1], ended_by, f[1]);
		FUZZ_CHECK(rep.fate == SCHED_ALIVE || rep.fate == SCHED_ENDED ||
			   rep.fate == SCHED_CANCELLED);
		FUZZ_CHECK(memchr(rep.reason, '\0', sizeof(rep.reason)) != NULL);
		FUZZ_CHECK((rep.fate == SCHED_ALIVE) == (rep.reason[0] == '\0'));
	}
	free(text);
	return 0;
}
