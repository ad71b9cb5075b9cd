/* fuzz_slurm_sbatch.c - libFuzzer target: sbatch's answer and Slurm's error text. */
#include "fuzz.h"

#include "sched/slurm_parse.h"

/*
 * The first byte sizes the buffers (0 included); the rest is what sbatch printed, read both
 * as its --parsable stdout ("JOBID[;CLUSTER]") and as its stderr turned into a job's error
 * message. Neither may write past its buffer; an accepted id must be a plain Slurm id.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char id[40], msg[300];
	size_t id_cap, msg_cap;
	char *out;
	pc_err rc;

	if (size < 1)
		return 0;
	id_cap = data[0] % 24;
	msg_cap = data[0];
	out = fuzz_strdup(data + 1, size - 1);

	memset(id, 'x', sizeof(id));
	rc = slurm_parse_sbatch(out, id, id_cap);
	if (rc == PC_OK) {
		size_t n = strlen(id);

		FUZZ_CHECK(n < id_cap && slurm_parse_is_job_id(id));
		FUZZ_CHECK(strncmp(out, id, n) == 0);
		FUZZ_CHECK(out[n] == ';' || out[n] == '\n' || out[n] == '\0');
	} else {
		FUZZ_CHECK(rc == PC_ESCHED || rc == PC_ERANGE);
		FUZZ_CHECK(id[0] == 'x'); /* untouched */
		if (rc == PC_ERANGE)
			FUZZ_CHECK(strspn(out, "0123456789") + 1 > id_cap);
	}
	for (size_t i = id_cap; i < sizeof(id); i++)
		FUZZ_CHECK(id[i] == 'x');
	FUZZ_CHECK(slurm_parse_sbatch(NULL, id, id_cap) == PC_ESCHED);

	memset(msg, 'x', sizeof(msg));
	slurm_parse_message(out, msg, msg_cap);
	for (size_t i = msg_cap; i < sizeof(msg); i++)
		FUZZ_CHECK(msg[i] == 'x');
	if (msg_cap) {
		FUZZ_CHECK(memchr(msg, '\0', msg_cap) != NULL);
		FUZZ_CHECK(!strchr(msg, '\n')); /* one line */
	}
	free(out);
	return 0;
}
