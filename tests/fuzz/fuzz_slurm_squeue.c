/* fuzz_slurm_squeue.c - libFuzzer target: squeue's listings, as the Slurm backend reads them. */
#include "fuzz_slurm.h"

/*
 * The input is what squeue printed: read as the reconciler's SLURM_SQUEUE_FIELDS listing, as the
 * "%i|%T" listing that finds a job an unanswered sbatch submitted (the first byte sizes the
 * id buffer), and as the bare "%T" state of one job.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text, id[40];
	size_t id_cap;
	pc_err rc;

	if (size < 1 || size > FUZZ_SLURM_MAX_INPUT)
		return 0;
	id_cap = data[0] % 24;
	text = fuzz_strdup(data + 1, size - 1);
	fuzz_slurm_listing(text, SLURM_LISTING_SQUEUE);
	free(text);

	text = fuzz_strdup(data + 1, size - 1);
	memset(id, 'x', sizeof(id));
	rc = slurm_parse_first_alive(text, id, id_cap);
	if (rc == PC_OK) {
		FUZZ_CHECK(strlen(id) < id_cap && slurm_parse_is_job_id(id));
	} else {
		FUZZ_CHECK(rc == PC_ENOTFOUND);
		FUZZ_CHECK(id[0] == 'x');
	}
	for (size_t i = id_cap; i < sizeof(id); i++)
		FUZZ_CHECK(id[i] == 'x');
	FUZZ_CHECK(slurm_parse_first_alive(NULL, id, id_cap) == PC_ENOTFOUND);
	free(text);

	text = fuzz_strdup(data + 1, size - 1);
	text[strcspn(text, "\n")] = '\0';
	if (slurm_parse_state_is_alive(text))
		FUZZ_CHECK(strspn(text, "ABCDEFGHIJKLMNOPQRSTUVWXYZ_") == strlen(text));
	free(text);
	return 0;
}
