/* pi_report.c - the --timings table and each rank's peak resident memory. */
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

#include "pi_report.h"

static const char *const names[PI_PHASE_COUNT] = {"series",   "combine",    "sqrt",
						  "division", "conversion", "write"};

const char *pi_phase_name(enum pi_phase p)
{
	if ((unsigned)p >= PI_PHASE_COUNT)
		return "?";
	return names[p];
}

double pi_report_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

long pi_report_peak_rss_kib(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return 0;
	return ru.ru_maxrss; /* KiB on Linux */
}

/* Values per rank: the phases, the total, the peak RSS. */
#define ROW (PI_PHASE_COUNT + 2)

void pi_report_timings(const struct pi_timings *mine, uint64_t digits, uint64_t terms,
		       unsigned guard, int attempts, MPI_Comm comm, FILE *f)
{
	double row[ROW], *all = NULL;
	int rank, size;

	MPI_Comm_rank(comm, &rank);
	MPI_Comm_size(comm, &size);
	for (int i = 0; i < PI_PHASE_COUNT; i++)
		row[i] = mine->phase[i];
	row[PI_PHASE_COUNT] = mine->total;
	row[PI_PHASE_COUNT + 1] = (double)pi_report_peak_rss_kib();
	if (rank == 0) {
		all = malloc(sizeof(double) * ROW * (size_t)size);
		if (all == NULL) {
			fprintf(f, "pi-compute: timings: out of memory\n");
			MPI_Abort(comm, 1);
		}
	}
	MPI_Gather(row, ROW, MPI_DOUBLE, all, ROW, MPI_DOUBLE, 0, comm);
	if (rank != 0)
		return;

	fprintf(f,
		"pi-compute: %llu digits, %d rank%s, %llu terms, %u guard digits%s\n"
		"  phase        rank 0 s   slowest s  (slowest rank)\n",
		(unsigned long long)digits, size, size == 1 ? "" : "s", (unsigned long long)terms,
		guard, attempts > 1 ? " (recomputed with more guard digits)" : "");
	for (int p = 0; p <= PI_PHASE_COUNT; p++) {
		double max = 0;
		int who = 0;

		for (int r = 0; r < size; r++) {
			if (all[r * ROW + p] > max) {
				max = all[r * ROW + p];
				who = r;
			}
		}
		fprintf(f, "  %-11s %9.3f %11.3f  (rank %d)\n",
			p < PI_PHASE_COUNT ? names[p] : "total", all[p], max, who);
	}
	{
		double sum = 0;

		fprintf(f, "  peak RSS MiB:");
		for (int r = 0; r < size; r++) {
			double mib = all[r * ROW + PI_PHASE_COUNT + 1] / 1024.0;

			sum += mib;
			if (size <= 16)
				fprintf(f, " rank %d %.1f%s", r, mib, r + 1 < size ? "," : "");
		}
		fprintf(f, "; all ranks %.1f\n", sum);
	}
	free(all);
}
