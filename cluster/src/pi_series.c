/* pi_series.c - serial binary splitting of the Chudnovsky series, with common-factor removal. */
#include <math.h>
#include <stdlib.h>

#include "pi_factor.h"
#include "pi_series.h"

/* The left part of a split gets this share of the terms: later terms carry larger numbers,
 * and a split slightly past the middle balances the two halves' work better. */
#ifndef SPLIT_RATIO
#define SPLIT_RATIO 0.5224
#endif

/* Factor lists are kept, and common factors removed, in nodes of at most this many terms;
 * above it the lists grow long and the merges cost more than the smaller numbers save. */
#ifndef FAC_MAX_TERMS
#define FAC_MAX_TERMS 65536
#endif

/* Deep enough for any range that fits in memory: each level shrinks a range by ~0.52. */
#define MAX_DEPTH 96

/* Progress counts the merges of nodes of at least this many terms, each weighted by its
 * size times log2(size) (the cost of its multiplications), so the expensive top merges move
 * the bar as much as they take time. */
#define PROGRESS_MIN_TERMS 1024

struct bs_node {
	mpz_t P, Q, T;
	struct pi_fac fP, fQ;
};

struct bs_ctx {
	struct bs_node right[MAX_DEPTH]; /* the right child being merged at each depth */
	mpz_t tmp, gcd;
	struct pi_fac ftmp;
	struct pi_sieve sieve;
	bool factor_removal;
	uint64_t fac_max_terms;
	pi_series_progress_fn progress;
	void *progress_ctx;
	double progress_done, progress_total;
};

void pi_partial_init(struct pi_partial *x)
{
	mpz_init_set_ui(x->P, 1);
	mpz_init_set_ui(x->Q, 1);
	mpz_init(x->T);
	x->has_P = true;
}

void pi_partial_clear(struct pi_partial *x)
{
	mpz_clear(x->P);
	mpz_clear(x->Q);
	mpz_clear(x->T);
}

uint64_t pi_series_terms(uint64_t digits)
{
	return (uint64_t)((double)digits / PI_SERIES_DIGITS_PER_TERM) + 2;
}

void pi_partial_merge(struct pi_partial *left, const struct pi_partial *right, bool need_P)
{
	/* T = T_L Q_R + P_L T_R; an empty right range (T_R = 0) needs no P_L. */
	if (mpz_sgn(right->T) != 0) {
		mpz_t t;

		mpz_init(t);
		mpz_mul(t, left->P, right->T);
		mpz_mul(left->T, left->T, right->Q);
		mpz_add(left->T, left->T, t);
		mpz_clear(t);
	} else {
		mpz_mul(left->T, left->T, right->Q);
	}
	mpz_mul(left->Q, left->Q, right->Q);
	if (need_P && left->has_P && right->has_P) {
		mpz_mul(left->P, left->P, right->P);
		left->has_P = true;
	} else {
		left->has_P = false;
	}
}

void pi_series_options_default(struct pi_series_options *opts)
{
	opts->factor_removal = true;
	opts->progress = NULL;
	opts->progress_ctx = NULL;
}

/* One term k >= 1: P = p(k), Q = q(k), T = (-1)^k (A + Bk) p(k); factor lists if wanted. */
static void bs_leaf(struct bs_ctx *c, uint64_t k, bool need_P, bool want_fac, mpz_t P, mpz_t Q,
		    mpz_t T, struct pi_fac *fP, struct pi_fac *fQ)
{
	if (k == 0) {
		mpz_set_ui(P, 1);
		mpz_set_ui(Q, 1);
		mpz_set_ui(T, PI_SERIES_A);
		if (want_fac) {
			pi_fac_set_one(fP);
			pi_fac_set_one(fQ);
		}
		return;
	}
	/* p(k) = (6k-5)(2k-1)(6k-1) */
	mpz_set_ui(T, 6 * k - 5);
	mpz_mul_ui(T, T, 2 * k - 1);
	mpz_mul_ui(T, T, 6 * k - 1);
	if (need_P)
		mpz_set(P, T);
	mpz_mul_ui(T, T, PI_SERIES_A + PI_SERIES_B * k);
	if (k & 1)
		mpz_neg(T, T);
	/* q(k) = k^3 C^3/24 */
	mpz_set_ui(Q, k);
	mpz_mul_ui(Q, Q, k);
	mpz_mul_ui(Q, Q, k);
	mpz_mul_ui(Q, Q, PI_SERIES_C3_OVER_24);
	if (!want_fac)
		return;
	pi_fac_set_one(fQ);
	pi_fac_mul_small(fQ, &c->sieve, k, 3);
	/* C^3/24 = 2^15 3^2 5^3 23^3 29^3 */
	pi_fac_mul_small(fQ, &c->sieve, 2, 15);
	pi_fac_mul_small(fQ, &c->sieve, 3, 2);
	pi_fac_mul_small(fQ, &c->sieve, 5, 3);
	pi_fac_mul_small(fQ, &c->sieve, 23, 3);
	pi_fac_mul_small(fQ, &c->sieve, 29, 3);
	if (need_P) {
		pi_fac_set_one(fP);
		pi_fac_mul_small(fP, &c->sieve, 6 * k - 5, 1);
		pi_fac_mul_small(fP, &c->sieve, 2 * k - 1, 1);
		pi_fac_mul_small(fP, &c->sieve, 6 * k - 1, 1);
	}
}

static uint64_t bs_split(uint64_t a, uint64_t b)
{
	uint64_t mid = a + (uint64_t)((double)(b - a) * SPLIT_RATIO);

	if (mid <= a)
		mid = a + 1;
	if (mid >= b)
		mid = b - 1;
	return mid;
}

static double progress_weight(uint64_t a, uint64_t b)
{
	double n = (double)(b - a);

	return n * log2(n);
}

/* Sum of progress_weight over the nodes bs() will merge that count for progress. */
static double progress_plan(uint64_t a, uint64_t b)
{
	uint64_t mid;

	if (b - a < PROGRESS_MIN_TERMS)
		return 0.0;
	mid = bs_split(a, b);
	return progress_weight(a, b) + progress_plan(a, mid) + progress_plan(mid, b);
}

/*
 * Terms [a, b), b - a >= 1, into (P, Q, T), and their factor lists fP, fQ when want_fac.
 * The left half is computed straight into the output, the right half into c->right[depth].
 */
static void bs(struct bs_ctx *c, uint64_t a, uint64_t b, unsigned depth, bool need_P, bool want_fac,
	       mpz_t P, mpz_t Q, mpz_t T, struct pi_fac *fP, struct pi_fac *fQ)
{
	struct bs_node *r;
	uint64_t mid;
	bool track;

	if (b - a == 1) {
		bs_leaf(c, a, need_P, want_fac, P, Q, T, fP, fQ);
		return;
	}
	if (depth >= MAX_DEPTH)
		abort(); /* cannot happen: ranges shrink geometrically */
	mid = bs_split(a, b);
	track = c->factor_removal && b - a <= c->fac_max_terms;
	r = &c->right[depth];
	bs(c, a, mid, depth + 1, true, track, P, Q, T, fP, fQ);
	bs(c, mid, b, depth + 1, need_P, track, r->P, r->Q, r->T, &r->fP, &r->fQ);
	if (track)
		pi_fac_remove_gcd(P, fP, r->Q, &r->fQ, c->gcd);
	mpz_mul(c->tmp, P, r->T);
	mpz_mul(T, T, r->Q);
	mpz_add(T, T, c->tmp);
	mpz_mul(Q, Q, r->Q);
	if (need_P)
		mpz_mul(P, P, r->P);
	if (want_fac) {
		pi_fac_mul(fQ, &r->fQ, &c->ftmp);
		if (need_P)
			pi_fac_mul(fP, &r->fP, &c->ftmp);
	}
	if (c->progress != NULL && b - a >= PROGRESS_MIN_TERMS) {
		c->progress_done += progress_weight(a, b);
		c->progress(c->progress_ctx, c->progress_done / c->progress_total);
	}
}

int pi_series_compute(struct pi_partial *out, uint64_t a, uint64_t b, bool need_P,
		      const struct pi_series_options *opts)
{
	struct pi_series_options defaults;
	struct bs_ctx *c;
	struct pi_fac fP, fQ;
	int rc = -1;

	if (opts == NULL) {
		pi_series_options_default(&defaults);
		opts = &defaults;
	}
	mpz_set_ui(out->P, 1);
	mpz_set_ui(out->Q, 1);
	mpz_set_ui(out->T, 0);
	out->has_P = need_P;
	if (a >= b)
		return 0;

	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return -1;
	c->factor_removal = opts->factor_removal;
	c->fac_max_terms = FAC_MAX_TERMS;
	c->progress = opts->progress;
	c->progress_ctx = opts->progress_ctx;
	if (c->progress != NULL) {
		c->progress_total = progress_plan(a, b);
		if (c->progress_total <= 0.0)
			c->progress = NULL; /* too small to report on: only the final 1 */
	}
	/* 6k - 1 < 6b is the largest number a leaf factors; 29 the largest prime of C^3/24. */
	if (c->factor_removal && pi_sieve_init(&c->sieve, 6 * b < 64 ? 64 : 6 * b) != 0)
		c->factor_removal = false; /* too large for the sieve: plain splitting */
	for (unsigned d = 0; d < MAX_DEPTH; d++) {
		mpz_inits(c->right[d].P, c->right[d].Q, c->right[d].T, NULL);
		pi_fac_init(&c->right[d].fP);
		pi_fac_init(&c->right[d].fQ);
	}
	mpz_inits(c->tmp, c->gcd, NULL);
	pi_fac_init(&c->ftmp);
	pi_fac_init(&fP);
	pi_fac_init(&fQ);

	bs(c, a, b, 0, need_P, false, out->P, out->Q, out->T, &fP, &fQ);
	if (opts->progress != NULL)
		opts->progress(opts->progress_ctx, 1.0);
	rc = 0;

	pi_fac_clear(&fP);
	pi_fac_clear(&fQ);
	pi_fac_clear(&c->ftmp);
	mpz_clears(c->tmp, c->gcd, NULL);
	for (unsigned d = 0; d < MAX_DEPTH; d++) {
		mpz_clears(c->right[d].P, c->right[d].Q, c->right[d].T, NULL);
		pi_fac_clear(&c->right[d].fP);
		pi_fac_clear(&c->right[d].fQ);
	}
	pi_sieve_clear(&c->sieve);
	free(c);
	return rc;
}
