/* pi_report.h - phase timings, peak memory and progress lines for --timings/--progress. */
#ifndef PI_REPORT_H
#define PI_REPORT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <mpi.h>

/* The phases, in order. Each rank's time is wall time between its own sync points, so a
 * rank waiting for another counts the wait in the phase it waits in. */
enum pi_phase {
	PI_PHASE_SERIES,
	PI_PHASE_COMBINE,
	PI_PHASE_SQRT,
	PI_PHASE_DIVISION,
	PI_PHASE_CONVERSION,
	PI_PHASE_WRITE,
	PI_PHASE_COUNT
};

struct pi_timings {
	double phase[PI_PHASE_COUNT]; /* seconds */
	double total;		      /* seconds from start to the end of the write */
};

/* Lowercase phase name; "?" when out of range. */
const char *pi_phase_name(enum pi_phase p);

/* Monotonic clock in seconds. */
double pi_report_now(void);

/* This process's peak resident memory in KiB (getrusage), 0 if unknown. */
long pi_report_peak_rss_kib(void);

/*
 * Collective over comm: gathers every rank's timings and peak RSS to rank 0, which prints
 * the table on f: one row per phase (rank 0's time and the slowest rank's), the total, and
 * each rank's peak RSS with their sum. The header line names digits, ranks, terms, guard.
 */
void pi_report_timings(const struct pi_timings *mine, uint64_t digits, uint64_t terms,
		       unsigned guard, int attempts, MPI_Comm comm, FILE *f);

#endif
