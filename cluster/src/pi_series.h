/* pi_series.h - the Chudnovsky series by binary splitting on GMP integers (serial, no MPI). */
#ifndef PI_SERIES_H
#define PI_SERIES_H

#include <stdbool.h>
#include <stdint.h>

#include <gmp.h>

/*
 * 1/pi = 12/C^(3/2) * sum_k (-1)^k (6k)! (A + Bk) / ((3k)! (k!)^3 C^(3k)),
 *   A = 13591409, B = 545140134, C = 640320.
 * The ratio of consecutive terms is p(k)/q(k) with
 *   p(k) = (6k-5)(2k-1)(6k-1),   q(k) = k^3 C^3/24   (p(0) = q(0) = 1),
 * so for a range of terms [a, b) binary splitting keeps three integers
 *   P(a,b) = p(a)...p(b-1),   Q(a,b) = q(a)...q(b-1),
 *   T(a,b) = sum_{k=a}^{b-1} (-1)^k (A + Bk) P(a,k+1) Q(k+1,b),
 * and two adjacent ranges L = [a,m), R = [m,b) combine as
 *   P = P_L P_R,   Q = Q_L Q_R,   T = T_L Q_R + P_L T_R.
 * Then pi = 426880 sqrt(10005) Q(0,n) / T(0,n). Scaling P, Q and T of one range by the same
 * factor leaves every later result unchanged, which is what allows dividing common prime
 * factors of P_L and Q_R out during a merge. The P of the rightmost range is never used.
 * Each term adds log10(C^3/1728) ~ 14.18 correct decimals.
 */
#define PI_SERIES_A		  13591409UL
#define PI_SERIES_B		  545140134UL
#define PI_SERIES_C3_OVER_24	  10939058860032000UL
#define PI_SERIES_DIGITS_PER_TERM 14.181647462725477

/* A partial result of the series over a range of terms. has_P is false when P was not
 * computed (the rightmost range); P is then meaningless. */
struct pi_partial {
	mpz_t P, Q, T;
	bool has_P;
};

/* Initialises x to the empty range: P = Q = 1, T = 0, has_P true. Pair with pi_partial_clear. */
void pi_partial_init(struct pi_partial *x);
void pi_partial_clear(struct pi_partial *x);

/* Number of terms whose sum gives pi to `digits` decimals with margin (at least 2). */
uint64_t pi_series_terms(uint64_t digits);

/*
 * left := left followed by right (right is the next range to the right). need_P false skips
 * the product P (the result is the rightmost range). left must have P unless right's T is
 * zero (an empty range). Never fails (GMP aborts when memory runs out).
 */
void pi_partial_merge(struct pi_partial *left, const struct pi_partial *right, bool need_P);

/* Called during pi_series_compute with the share of the range's work done (0 to 1,
 * non-decreasing, ending with exactly 1), after each merge of a node of 1024 or more terms. */
typedef void (*pi_series_progress_fn)(void *ctx, double share);

struct pi_series_options {
	bool factor_removal;		/* strip common primes of P_L and Q_R (default true) */
	pi_series_progress_fn progress; /* may be NULL */
	void *progress_ctx;
};

/* Fills opts with the defaults. */
void pi_series_options_default(struct pi_series_options *opts);

/*
 * Computes the partial result of terms [a, b) into out (initialised by the caller; its old
 * value is replaced). need_P false leaves out->P unset and out->has_P false. a == b gives the
 * empty range. opts may be NULL for the defaults. Returns 0, or -1 when the sieve for
 * factor removal cannot be allocated (then nothing is computed).
 */
int pi_series_compute(struct pi_partial *out, uint64_t a, uint64_t b, bool need_P,
		      const struct pi_series_options *opts);

#endif
