/* pi_combine.h - combining the ranks' partial series into rank 0's, in a binary tree. */
#ifndef PI_COMBINE_H
#define PI_COMBINE_H

#include <mpi.h>

#include "pi_series.h"

/*
 * Rank r holds the partial result of its own range of terms, ranges ascending with r.
 * In round j (j = 0, 1, ... while 2^j < size) every rank r with r mod 2^(j+1) == 2^j merges
 * its partial into r - 2^j's (the two share the products) and leaves the tree. After
 * ceil(log2(size)) rounds rank 0 holds the whole series (P skipped, as the rightmost range
 * never needs it). Returns the round in which this rank sent its partial (its x is then
 * cleared to save memory), -1 on rank 0; MPI errors abort (default error handler).
 */
int pi_combine(struct pi_partial *x, MPI_Comm comm);

/* Tags used by pi_combine; other messages use tags from PI_TAG_USER on. */
enum { PI_TAG_COMBINE = 100, PI_TAG_USER = 200 };

#endif
