/* pi_combine.c - the log2(P)-round tree that merges the ranks' partial results. */
#include <stdint.h>

#include "pi_bigmsg.h"
#include "pi_combine.h"

static void send_partial(struct pi_partial *x, int dest, MPI_Comm comm)
{
	int has_P = x->has_P ? 1 : 0;

	MPI_Send(&has_P, 1, MPI_INT, dest, PI_TAG_COMBINE, comm);
	if (has_P)
		pi_bigmsg_send_mpz(x->P, dest, PI_TAG_COMBINE, comm);
	pi_bigmsg_send_mpz(x->Q, dest, PI_TAG_COMBINE, comm);
	pi_bigmsg_send_mpz(x->T, dest, PI_TAG_COMBINE, comm);
}

static void recv_partial(struct pi_partial *x, int src, MPI_Comm comm)
{
	int has_P;

	MPI_Recv(&has_P, 1, MPI_INT, src, PI_TAG_COMBINE, comm, MPI_STATUS_IGNORE);
	x->has_P = has_P != 0;
	if (has_P)
		pi_bigmsg_recv_mpz(x->P, src, PI_TAG_COMBINE, comm);
	pi_bigmsg_recv_mpz(x->Q, src, PI_TAG_COMBINE, comm);
	pi_bigmsg_recv_mpz(x->T, src, PI_TAG_COMBINE, comm);
}

int pi_combine(struct pi_partial *x, MPI_Comm comm)
{
	int rank, size, round = 0;

	MPI_Comm_rank(comm, &rank);
	MPI_Comm_size(comm, &size);
	for (int step = 1; step < size; step *= 2, round++) {
		if (rank % (2 * step) == step) {
			send_partial(x, rank - step, comm);
			mpz_set_ui(x->P, 0);
			mpz_set_ui(x->Q, 0);
			mpz_set_ui(x->T, 0);
			mpz_realloc2(x->P, 1);
			mpz_realloc2(x->Q, 1);
			mpz_realloc2(x->T, 1);
			return round;
		}
		if (rank % (2 * step) == 0 && rank + step < size) {
			struct pi_partial y;

			pi_partial_init(&y);
			recv_partial(&y, rank + step, comm);
			/* The merged range ends at rank + 2 step: rightmost when that is past the
			 * end. */
			pi_partial_merge(x, &y, rank + 2 * step < size);
			pi_partial_clear(&y);
		}
	}
	return -1;
}
