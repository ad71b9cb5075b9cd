/* pi_ranges.h - splitting the series' terms across ranks so that each gets equal work. */
#ifndef PI_RANGES_H
#define PI_RANGES_H

#include <stdint.h>

/*
 * Estimated work of terms [a, b): term k carries numbers of about 6 log2(k) + 64 bits
 * (p(k), q(k) and the T term), and binary splitting's work grows with the bits a range
 * holds. The same measure drives --progress.
 */
double pi_ranges_cost(uint64_t a, uint64_t b);

/*
 * Splits [0, terms) into `ranks` consecutive ranges of about equal cost (the last range,
 * which skips P, takes 10% more): rank r gets
 * [bounds[r], bounds[r + 1]). bounds has ranks + 1 entries; bounds[0] = 0 and
 * bounds[ranks] = terms; ranges may be empty when there are more ranks than terms.
 */
void pi_ranges_split(uint64_t terms, int ranks, uint64_t *bounds);

#endif
