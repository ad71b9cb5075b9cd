/* pi_run.c - one pi computation across the ranks of a communicator, phase by phase. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pi_bigmsg.h"
#include "pi_combine.h"
#include "pi_final.h"
#include "pi_ranges.h"
#include "pi_run.h"
#include "pi_series.h"

/* Output is handed to the sink, and pieces travel between ranks, in chunks of this size. */
#define OUT_CHUNK ((size_t)8 << 20)

/* A rank converts at least this many digits, or conversion stays on fewer ranks. */
#define MIN_PIECE 50000

enum { TAG_SQRT = PI_TAG_USER, TAG_PIECE };

static void die(MPI_Comm comm, const char *what)
{
	fprintf(stderr, "pi-compute: %s\n", what);
	MPI_Abort(comm, 1);
}

static void on_series_progress(void *ctx, double share)
{
	const struct pi_run_hooks *hooks = ctx;

	hooks->progress(hooks->ctx, share);
}

static void phase_done(const struct pi_run_hooks *hooks, int rank, enum pi_phase phase)
{
	if (rank == 0 && hooks->phase_done != NULL)
		hooks->phase_done(hooks->ctx, phase);
}

/* Rank 0's output: everything goes through hooks->write, cut to exactly `digits` decimals. */
struct out_state {
	const struct pi_run_hooks *hooks;
	uint64_t left; /* decimals still to write */
	pc_err failed; /* the first failure of hooks->write: nothing more is written */
};

/* Hands buf to the sink unless an earlier piece failed; remembers the first failure. */
static void out_bytes(struct out_state *o, const void *buf, size_t len)
{
	if (o->failed == PC_OK)
		o->failed = o->hooks->write(o->hooks->ctx, buf, len);
}

static int out_digits(void *ctx, const void *buf, size_t len)
{
	struct out_state *o = ctx;
	const char *p = buf;

	if (len > o->left)
		len = (size_t)o->left;
	while (len > 0 && o->failed == PC_OK) {
		size_t n = len < OUT_CHUNK ? len : OUT_CHUNK;

		out_bytes(o, p, n);
		p += n;
		len -= n;
		o->left -= n;
	}
	return 0; /* keep draining the other ranks even after a failure */
}

/* One attempt with `guard` guard digits: 0 done, 1 ambiguous (try again); *out_err is the
 * sink's failure on rank 0 (PC_OK otherwise). */
static int attempt(uint64_t digits, unsigned guard, const struct pi_run_hooks *hooks, MPI_Comm comm,
		   struct pi_run_result *res, pc_err *out_err)
{
	uint64_t dec = digits + guard, B = pi_final_bits(dec), terms = pi_series_terms(dec);
	uint64_t *bounds, *start, *len;
	struct pi_series_options opts;
	struct pi_partial x;
	struct pi_timings *t = &res->timings;
	mpz_t R, V, F;
	char *piece = NULL;
	int rank, size, pieces, sqrt_rank, ambiguous = 0, rc = 0;
	double t0, now;

	*out_err = PC_OK;
	MPI_Comm_rank(comm, &rank);
	MPI_Comm_size(comm, &size);
	memset(t, 0, sizeof(*t));
	res->terms = terms;
	res->guard = guard;
	bounds = calloc((size_t)size + 1, sizeof(*bounds));
	start = calloc((size_t)size, sizeof(*start));
	len = calloc((size_t)size, sizeof(*len));
	if (bounds == NULL || start == NULL || len == NULL)
		die(comm, "out of memory");
	t0 = now = pi_report_now();

	/* Series: this rank's range, balanced by cost; only the last range skips P. */
	pi_ranges_split(terms, size, bounds);
	pi_series_options_default(&opts);
	if (rank == 0 && hooks->progress != NULL) {
		opts.progress = on_series_progress;
		opts.progress_ctx = (void *)hooks;
	}
	pi_partial_init(&x);
	if (pi_series_compute(&x, bounds[rank], bounds[rank + 1], rank != size - 1, &opts) != 0)
		die(comm, "out of memory for the factor sieve");
	t->phase[PI_PHASE_SERIES] = pi_report_now() - now;
	now = pi_report_now();

	/* Combine in log2(size) rounds. */
	pi_combine(&x, comm);
	t->phase[PI_PHASE_COMBINE] = pi_report_now() - now;
	now = pi_report_now();
	phase_done(hooks, rank, PI_PHASE_COMBINE);

	/* sqrt(10005) needs no series result: rank 1 leaves the combine first and does it
	 * while rank 0 merges and divides. */
	mpz_inits(R, V, F, NULL);
	sqrt_rank = size > 1 ? 1 : 0;
	if (rank == sqrt_rank)
		pi_final_sqrt(R, B);
	t->phase[PI_PHASE_SQRT] = pi_report_now() - now;
	now = pi_report_now();

	/* Division on rank 0, then F to everyone for the conversion. The sqrt rank's handing
	 * over of R (it waits until rank 0 is ready for it) counts here. */
	if (rank == sqrt_rank && rank != 0) {
		pi_bigmsg_send_mpz(R, 0, TAG_SQRT, comm);
		mpz_clear(R);
		mpz_init(R);
	}
	if (rank == 0) {
		mpz_set_ui(x.P, 0);
		mpz_realloc2(x.P, 1);
		pi_final_divide(V, x.Q, x.T, B);
		pi_partial_clear(&x);
		pi_partial_init(&x);
		if (sqrt_rank != 0)
			pi_bigmsg_recv_mpz(R, sqrt_rank, TAG_SQRT, comm);
		if (pi_final_fraction(F, R, V, B) != 0)
			die(comm, "internal check failed: the integer part is not 3");
		mpz_clears(R, V, NULL);
		mpz_inits(R, V, NULL);
	}
	pi_partial_clear(&x);
	pi_bigmsg_bcast_mpz(F, 0, comm);
	t->phase[PI_PHASE_DIVISION] = pi_report_now() - now;
	now = pi_report_now();
	phase_done(hooks, rank, PI_PHASE_DIVISION);

	/* Conversion: each rank its stretch of digits; the last piece ends in the guard digits. */
	pieces =
	    pi_final_plan(dec, size, MIN_PIECE > 2 * guard ? MIN_PIECE : 2 * guard, start, len);
	if (len[rank] > 0) {
		piece = malloc(len[rank] + PI_FINAL_PIECE_PAD);
		if (piece == NULL)
			die(comm, "out of memory for the digits");
		if (pi_final_piece(piece, F, B, start[rank], len[rank]) != 0)
			die(comm, "decimal conversion failed");
		if (rank == pieces - 1)
			ambiguous = pi_final_is_ambiguous(piece + len[rank] - guard, guard);
	}
	mpz_clears(R, V, F, NULL);
	MPI_Bcast(&ambiguous, 1, MPI_INT, pieces - 1, comm);
	t->phase[PI_PHASE_CONVERSION] = pi_report_now() - now;
	now = pi_report_now();
	phase_done(hooks, rank, PI_PHASE_CONVERSION);
	if (ambiguous) {
		rc = 1;
		goto out;
	}

	/* Output: rank 0 writes its piece, then receives the others in order. */
	if (rank == 0) {
		struct out_state o = {hooks, digits, PC_OK};

		out_bytes(&o, "3.", 2);
		out_digits(&o, piece, (size_t)len[0]);
		free(piece);
		piece = NULL;
		for (int r = 1; r < pieces; r++)
			if (pi_bigmsg_recv_bytes(r, TAG_PIECE, comm, out_digits, &o) != 0)
				die(comm, "receiving digits failed");
		out_bytes(&o, "\n", 1);
		*out_err = o.failed;
	} else if (len[rank] > 0) {
		pi_bigmsg_send_bytes(piece, len[rank], OUT_CHUNK, 0, TAG_PIECE, comm);
	}
	t->phase[PI_PHASE_WRITE] = pi_report_now() - now;
	t->total = pi_report_now() - t0;
out:
	free(piece);
	free(bounds);
	free(start);
	free(len);
	return rc;
}

pc_err pi_run(uint64_t digits, unsigned guard, const struct pi_run_hooks *hooks, MPI_Comm comm,
	      struct pi_run_result *res)
{
	pc_err err;

	res->attempts = 0;
	for (;;) {
		res->attempts++;
		if (attempt(digits, guard, hooks, comm, res, &err) == 0)
			break;
		guard *= 2; /* the guard digits left the truncation open */
	}
	return err;
}
