/* pi_run.h - the whole MPI computation: series, combine, final stage, conversion, output. */
#ifndef PI_RUN_H
#define PI_RUN_H

#include <stddef.h>
#include <stdint.h>

#include <mpi.h>

#include "picluster/error.h"

#include "pi_report.h"

/* What rank 0 does with the results; ignored on other ranks. */
struct pi_run_hooks {
	/* Receives the output bytes in order, "3." + digits + "\n", in pieces of at most a few
	 * MiB. An error stops the output, and pi_run returns it on rank 0. */
	pc_err (*write)(void *ctx, const void *buf, size_t len);
	/* Share of the series work done (0..1) on rank 0's range, which is balanced with the
	 * others; called every few thousand terms. May be NULL. */
	void (*progress)(void *ctx, double share);
	/* Called on rank 0 when a phase after the series has ended. May be NULL. */
	void (*phase_done)(void *ctx, enum pi_phase phase);
	void *ctx;
};

struct pi_run_result {
	struct pi_timings timings;
	uint64_t terms;
	unsigned guard;
	int attempts;
};

/*
 * Collective over comm: computes the first `digits` decimals of pi with `guard` guard digits
 * (recomputing with twice as many while they leave the truncation open) and hands them to
 * rank 0's hooks->write. Returns PC_OK, or on rank 0 the first error hooks->write returned
 * (all ranks have then finished their part). Any other failure prints a message and calls
 * MPI_Abort.
 */
pc_err pi_run(uint64_t digits, unsigned guard, const struct pi_run_hooks *hooks, MPI_Comm comm,
	      struct pi_run_result *res);

#endif
