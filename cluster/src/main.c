/* main.c - pi-compute: digits of pi by the Chudnovsky series, split across MPI ranks. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mpi.h>

#include "pi_args.h"
#include "pi_job.h"
#include "pi_output.h"
#include "pi_report.h"
#include "pi_run.h"
#include "pi_serial.h"
#include "pi_worker.h"

/* Exit codes of the contract. */
enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2, EXIT_SKIP = 3 /* internal: exit 0 */ };

/* Progress lines are printed at most this often (seconds). */
#define PROGRESS_INTERVAL 0.5

struct sink {
	const struct pi_args *args;
	struct pi_output *out; /* file mode */
	struct pi_job *job;    /* job mode */
	char err[512];
	double last_print;
	int last_percent;
};

/* The temporary file a signal must not leave behind (rank 0, file mode). */
static char temp_path[4096];

static void on_signal(int sig)
{
	if (temp_path[0] != '\0')
		unlink(temp_path);
	signal(sig, SIG_DFL);
	raise(sig);
}

static void install_cleanup(const char *path)
{
	struct sigaction sa;

	snprintf(temp_path, sizeof(temp_path), "%s", path);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

static pc_err sink_write(void *ctx, const void *buf, size_t len)
{
	struct sink *s = ctx;

	if (s->job != NULL)
		return pi_job_write(s->job, buf, len);
	return pi_output_write(s->out, buf, len, s->err, sizeof(s->err));
}

static void sink_progress(void *ctx, double share)
{
	struct sink *s = ctx;
	double now = pi_report_now();
	int percent = (int)(share * 100.0);

	if (s->job != NULL)
		pi_job_progress(s->job, 0.9 * share); /* the rest is the final stage */
	if (s->args->progress && percent > s->last_percent &&
	    (now - s->last_print >= PROGRESS_INTERVAL || percent == 100)) {
		fprintf(stderr, "pi-compute: series %d%% done\n", percent);
		s->last_print = now;
		s->last_percent = percent;
	}
}

/* Job progress after the series (which maps to 0 .. 0.9). */
static void sink_phase_done(void *ctx, enum pi_phase phase)
{
	struct sink *s = ctx;

	if (s->job == NULL)
		return;
	if (phase == PI_PHASE_COMBINE)
		pi_job_progress(s->job, 0.92);
	else if (phase == PI_PHASE_DIVISION)
		pi_job_progress(s->job, 0.95);
	else if (phase == PI_PHASE_CONVERSION)
		pi_job_progress(s->job, 0.98);
}

/* Rank 0: opens the destination. Returns EXIT_OK to go on, or the exit code to stop with. */
static int open_sink(struct sink *s)
{
	if (s->args->job_id == NULL) {
		/* Whatever the cause, an output that cannot be opened is bad input (exit 2). */
		if (pi_output_open(&s->out, s->args->output, s->err, sizeof(s->err)) != PC_OK)
			return EXIT_USAGE;
		if (pi_output_temp_path(s->out)[0] != '\0')
			install_cleanup(pi_output_temp_path(s->out));
		return EXIT_OK;
	}
	switch (pi_job_start(&s->job, s->args, s->err, sizeof(s->err))) {
	case PI_JOB_GO:
		return EXIT_OK;
	case PI_JOB_SKIP:
		return EXIT_SKIP;
	case PI_JOB_BAD_ARGS:
		return EXIT_USAGE;
	default:
		return EXIT_FAIL;
	}
}

/* Rank 0: publishes the result; run_err is what pi_run returned (the sink's failure).
 * Prints the cause and returns the exit code. */
static int close_sink(struct sink *s, pc_err run_err)
{
	int rc = EXIT_OK;

	if (s->job != NULL) {
		if (run_err != PC_OK) {
			pi_job_fail(s->job, run_err, s->err, sizeof(s->err));
			fprintf(stderr, "pi-compute: %s\n", s->err);
			return EXIT_FAIL;
		}
		if (pi_job_finish(s->job, s->err, sizeof(s->err)) != PC_OK) {
			fprintf(stderr, "pi-compute: %s\n", s->err);
			return EXIT_FAIL;
		}
		return EXIT_OK;
	}
	if (run_err != PC_OK) {
		fprintf(stderr, "pi-compute: %s\n", s->err);
		pi_output_abort(s->out);
		rc = EXIT_FAIL;
	} else if (pi_output_commit(s->out, s->err, sizeof(s->err)) != PC_OK) {
		fprintf(stderr, "pi-compute: %s\n", s->err);
		rc = EXIT_FAIL;
	}
	temp_path[0] = '\0';
	return rc;
}

/* Guard digits: PI_COMPUTE_GUARD_DIGITS overrides the default (tests use it to force the
 * recomputation path). */
static unsigned guard_digits(void)
{
	const char *s = getenv("PI_COMPUTE_GUARD_DIGITS");
	unsigned long v;
	char *end;

	if (s == NULL || *s == '\0')
		return PI_GUARD_DIGITS;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < 1 || v > 1000)
		return PI_GUARD_DIGITS;
	return (unsigned)v;
}

int main(int argc, char **argv)
{
	struct pi_args args;
	struct pi_run_hooks hooks;
	struct pi_run_result res;
	struct sink s;
	char err[512];
	enum pi_args_result parsed;
	int rank, status = EXIT_OK, provided;
	pc_err run_err;

	/* Parsed before MPI_Init (it needs no MPI) to know the thread level: in job mode rank
	 * 0's watcher thread calls MPI_Abort when the job is cancelled. MPI_Init may rewrite
	 * argv only to drop its own arguments, which mpirun does not pass. */
	parsed = pi_args_parse(&args, argc, argv, err, sizeof(err));
	/* A pool worker never calls MPI: each rank a launcher starts is a worker of its own,
	 * and one that drains or dies leaves the others alone (no MPI_Finalize to wait in). */
	if (parsed == PI_ARGS_OK && args.worker)
		return pi_worker_run(&args);
	if (MPI_Init_thread(&argc, &argv,
			    parsed == PI_ARGS_OK && args.job_id != NULL ? MPI_THREAD_MULTIPLE
									: MPI_THREAD_SINGLE,
			    &provided) != MPI_SUCCESS) {
		fprintf(stderr, "pi-compute: MPI_Init failed\n");
		return EXIT_FAIL;
	}
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	if (rank == 0 && parsed == PI_ARGS_OK && args.job_id != NULL &&
	    provided < MPI_THREAD_MULTIPLE)
		fprintf(stderr, "pi-compute: this MPI lacks MPI_THREAD_MULTIPLE; a cancel still "
				"aborts the run, outside the standard\n");

	switch (parsed) {
	case PI_ARGS_HELP:
		if (rank == 0)
			fputs(pi_args_usage(), stdout);
		MPI_Finalize();
		return EXIT_OK;
	case PI_ARGS_ERROR:
		if (rank == 0)
			fprintf(stderr, "pi-compute: %s (see --help)\n", err);
		MPI_Finalize();
		return EXIT_USAGE;
	default:
		break;
	}

	memset(&s, 0, sizeof(s));
	s.args = &args;
	s.last_percent = -1;
	if (rank == 0) {
		status = open_sink(&s);
		if (status != EXIT_OK && s.err[0] != '\0')
			fprintf(stderr, "pi-compute: %s\n", s.err);
	}
	MPI_Bcast(&status, 1, MPI_INT, 0, MPI_COMM_WORLD);
	if (status != EXIT_OK) {
		MPI_Finalize();
		return status == EXIT_SKIP ? EXIT_OK : status;
	}

	hooks.write = sink_write;
	hooks.progress = (args.progress || args.job_id != NULL) ? sink_progress : NULL;
	hooks.phase_done = sink_phase_done;
	hooks.ctx = &s;
	run_err = pi_run(args.digits, guard_digits(), &hooks, MPI_COMM_WORLD, &res);
	if (rank == 0)
		status = close_sink(&s, run_err);
	if (args.timings)
		pi_report_timings(&res.timings, args.digits, res.terms, res.guard, res.attempts,
				  MPI_COMM_WORLD, stderr);
	MPI_Finalize();
	return status;
}
