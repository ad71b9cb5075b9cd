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

/* One attempt's shared state: its sizes, this rank's place, and the clock of its phases. */
struct attempt {
	uint64_t digits; /* decimals asked for */
	unsigned guard;	 /* guard digits of this attempt */
	uint64_t dec;	 /* digits + guard: decimals computed */
	uint64_t bits;	 /* working precision in bits for dec decimals */
	int rank, size;	 /* this rank in comm */
	MPI_Comm comm;
	const struct pi_run_hooks *hooks;
	struct pi_timings *t;
	double lap_start; /* when the current phase began */
};

/* Ends the current phase: records its time as `phase` and starts the next one. */
static void lap(struct attempt *a, enum pi_phase phase)
{
	double now = pi_report_now();

	a->t->phase[phase] = now - a->lap_start;
	a->lap_start = now;
}

/* Series: this rank's range of terms, balanced by cost; only the last range skips P. */
static void series_phase(struct attempt *a, uint64_t terms, struct pi_partial *x)
{
	uint64_t *bounds = calloc((size_t)a->size + 1, sizeof(*bounds));
	struct pi_series_options opts;

	if (bounds == NULL)
		die(a->comm, "out of memory");
	pi_ranges_split(terms, a->size, bounds);
	pi_series_options_default(&opts);
	if (a->rank == 0 && a->hooks->progress != NULL) {
		opts.progress = on_series_progress;
		opts.progress_ctx = (void *)a->hooks;
	}
	pi_partial_init(x);
	if (pi_series_compute(x, bounds[a->rank], bounds[a->rank + 1], a->rank != a->size - 1,
			      &opts) != 0)
		die(a->comm, "out of memory for the factor sieve");
	free(bounds);
	lap(a, PI_PHASE_SERIES);
}

/*
 * sqrt(10005) and the division: F = the fraction of pi, on every rank; x is consumed.
 * sqrt(10005) needs no series result: rank 1 leaves the combine first and does it while rank
 * 0 merges and divides. The sqrt rank's handing over of R (it waits until rank 0 is ready for
 * it) counts as division time.
 */
static void final_phase(struct attempt *a, struct pi_partial *x, mpz_t F)
{
	int sqrt_rank = a->size > 1 ? 1 : 0;
	mpz_t R, V;

	mpz_inits(R, V, NULL);
	if (a->rank == sqrt_rank)
		pi_final_sqrt(R, a->bits);
	lap(a, PI_PHASE_SQRT);

	if (a->rank == sqrt_rank && a->rank != 0) {
		pi_bigmsg_send_mpz(R, 0, TAG_SQRT, a->comm);
		mpz_clear(R);
		mpz_init(R);
	}
	if (a->rank == 0) {
		mpz_set_ui(x->P, 0);
		mpz_realloc2(x->P, 1);
		pi_final_divide(V, x->Q, x->T, a->bits);
		pi_partial_clear(x);
		pi_partial_init(x);
		if (sqrt_rank != 0)
			pi_bigmsg_recv_mpz(R, sqrt_rank, TAG_SQRT, a->comm);
		if (pi_final_fraction(F, R, V, a->bits) != 0)
			die(a->comm, "internal check failed: the integer part is not 3");
	}
	mpz_clears(R, V, NULL);
	pi_partial_clear(x);
	pi_bigmsg_bcast_mpz(F, 0, a->comm);
	lap(a, PI_PHASE_DIVISION);
	phase_done(a->hooks, a->rank, PI_PHASE_DIVISION);
}

/*
 * Conversion: each rank its stretch of decimals of F (start[r], len[r]; the last of `*pieces`
 * stretches ends in the guard digits). *piece is this rank's stretch (malloc'd, NULL when it
 * has none). Returns nonzero on every rank when the guard digits leave the truncation open.
 */
static int conversion_phase(struct attempt *a, const mpz_t F, uint64_t *start, uint64_t *len,
			    int *pieces, char **piece)
{
	unsigned min_piece = MIN_PIECE > 2 * a->guard ? MIN_PIECE : 2 * a->guard;
	int ambiguous = 0;

	*piece = NULL;
	*pieces = pi_final_plan(a->dec, a->size, min_piece, start, len);
	if (len[a->rank] > 0) {
		*piece = malloc(len[a->rank] + PI_FINAL_PIECE_PAD);
		if (*piece == NULL)
			die(a->comm, "out of memory for the digits");
		if (pi_final_piece(*piece, F, a->bits, start[a->rank], len[a->rank]) != 0)
			die(a->comm, "decimal conversion failed");
		if (a->rank == *pieces - 1)
			ambiguous =
			    pi_final_is_ambiguous(*piece + len[a->rank] - a->guard, a->guard);
	}
	MPI_Bcast(&ambiguous, 1, MPI_INT, *pieces - 1, a->comm);
	return ambiguous;
}

/* Output: rank 0 writes its piece (and frees it), then receives the others in order. Returns
 * the sink's first failure on rank 0, PC_OK elsewhere. */
static pc_err output_phase(struct attempt *a, char **piece, const uint64_t *len, int pieces)
{
	struct out_state o = {a->hooks, a->digits, PC_OK};

	if (a->rank == 0) {
		out_bytes(&o, "3.", 2);
		out_digits(&o, *piece, (size_t)len[0]);
		free(*piece);
		*piece = NULL;
		for (int r = 1; r < pieces; r++)
			if (pi_bigmsg_recv_bytes(r, TAG_PIECE, a->comm, out_digits, &o) != 0)
				die(a->comm, "receiving digits failed");
		out_bytes(&o, "\n", 1);
	} else if (len[a->rank] > 0) {
		pi_bigmsg_send_bytes(*piece, len[a->rank], OUT_CHUNK, 0, TAG_PIECE, a->comm);
	}
	lap(a, PI_PHASE_WRITE);
	return o.failed;
}

/* One attempt with `guard` guard digits: 0 done, 1 ambiguous (try again); *out_err is the
 * sink's failure on rank 0 (PC_OK otherwise). */
static int attempt(uint64_t digits, unsigned guard, const struct pi_run_hooks *hooks, MPI_Comm comm,
		   struct pi_run_result *res, pc_err *out_err)
{
	struct attempt a = {.digits = digits,
			    .guard = guard,
			    .dec = digits + guard,
			    .comm = comm,
			    .hooks = hooks,
			    .t = &res->timings};
	uint64_t *start, *len;
	struct pi_partial x;
	mpz_t F;
	char *piece = NULL;
	int pieces, rc = 0;
	double t0;

	*out_err = PC_OK;
	MPI_Comm_rank(comm, &a.rank);
	MPI_Comm_size(comm, &a.size);
	a.bits = pi_final_bits(a.dec);
	memset(a.t, 0, sizeof(*a.t));
	res->terms = pi_series_terms(a.dec);
	res->guard = guard;
	start = calloc((size_t)a.size, sizeof(*start));
	len = calloc((size_t)a.size, sizeof(*len));
	if (start == NULL || len == NULL)
		die(comm, "out of memory");
	t0 = a.lap_start = pi_report_now();

	series_phase(&a, res->terms, &x);
	pi_combine(&x, comm); /* log2(size) rounds */
	lap(&a, PI_PHASE_COMBINE);
	phase_done(hooks, a.rank, PI_PHASE_COMBINE);

	mpz_init(F);
	final_phase(&a, &x, F);
	rc = conversion_phase(&a, F, start, len, &pieces, &piece);
	mpz_clear(F);
	lap(&a, PI_PHASE_CONVERSION);
	phase_done(hooks, a.rank, PI_PHASE_CONVERSION);
	if (rc == 0) {
		*out_err = output_phase(&a, &piece, len, pieces);
		a.t->total = pi_report_now() - t0;
	}
	free(piece);
	free(start);
	free(len);
	return rc != 0;
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
