/* pi_combine.c - the log2(P)-round tree that merges the ranks' partial results. */
#include <stdint.h>

#include "pi_bigmsg.h"
#include "pi_combine.h"

/*
 * One merge between a receiver r (left range, P1 Q1 T1) and a sender s (right range, P2 Q2
 * T2), its four products shared out so both ranks multiply at once:
 *   r -> s: P1;   s -> r: Q2;   r: T1 Q2 and Q1 Q2;   s: U = P1 T2 and, unless the result
 *   is the rightmost range, P1 P2;   s -> r: U (and P1 P2);   r: T = T1 Q2 + U.
 * P1 goes first so that neither side ever blocks in a send the other is not receiving.
 */
static void merge_as_sender(struct pi_partial *x, int r, bool need_P, MPI_Comm comm)
{
	mpz_t P1;

	mpz_init(P1);
	pi_bigmsg_recv_mpz(P1, r, PI_TAG_COMBINE, comm);
	pi_bigmsg_send_mpz(x->Q, r, PI_TAG_COMBINE, comm);
	mpz_mul(x->T, P1, x->T);
	if (need_P)
		mpz_mul(x->P, P1, x->P);
	mpz_clear(P1);
	pi_bigmsg_send_mpz(x->T, r, PI_TAG_COMBINE, comm);
	if (need_P)
		pi_bigmsg_send_mpz(x->P, r, PI_TAG_COMBINE, comm);
}

static void merge_as_receiver(struct pi_partial *x, int s, bool need_P, MPI_Comm comm)
{
	mpz_t Q2, U;

	mpz_inits(Q2, U, NULL);
	pi_bigmsg_send_mpz(x->P, s, PI_TAG_COMBINE, comm);
	pi_bigmsg_recv_mpz(Q2, s, PI_TAG_COMBINE, comm);
	mpz_mul(x->T, x->T, Q2);
	mpz_mul(x->Q, x->Q, Q2);
	mpz_clear(Q2);
	pi_bigmsg_recv_mpz(U, s, PI_TAG_COMBINE, comm);
	mpz_add(x->T, x->T, U);
	mpz_clear(U);
	if (need_P) {
		pi_bigmsg_recv_mpz(x->P, s, PI_TAG_COMBINE, comm);
	} else {
		mpz_set_ui(x->P, 0);
		mpz_realloc2(x->P, 1);
	}
	x->has_P = need_P;
}

int pi_combine(struct pi_partial *x, MPI_Comm comm)
{
	int rank, size, round = 0;

	MPI_Comm_rank(comm, &rank);
	MPI_Comm_size(comm, &size);
	for (int step = 1; step < size; step *= 2, round++) {
		if (rank % (2 * step) == step) {
			/* The merged range [rank - step, rank + step) is rightmost past the end. */
			merge_as_sender(x, rank - step, rank + step < size, comm);
			mpz_set_ui(x->P, 0);
			mpz_set_ui(x->Q, 0);
			mpz_set_ui(x->T, 0);
			mpz_realloc2(x->P, 1);
			mpz_realloc2(x->Q, 1);
			mpz_realloc2(x->T, 1);
			return round;
		}
		if (rank % (2 * step) == 0 && rank + step < size)
			merge_as_receiver(x, rank + step, rank + 2 * step < size, comm);
	}
	return -1;
}
