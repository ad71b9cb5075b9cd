/* pi_final.c - sqrt(10005), the division and the decimal conversion, in fixed point. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pi_final.h"

uint64_t pi_final_bits(uint64_t decimals)
{
	return (uint64_t)ceil((double)decimals * 3.321928094887362) + 64;
}

void pi_final_sqrt(mpz_t R, uint64_t B)
{
	mpz_set_ui(R, 10005);
	mpz_mul_2exp(R, R, 2 * B);
	mpz_sqrt(R, R);
}

void pi_final_divide(mpz_t V, const mpz_t Q, const mpz_t T, uint64_t B)
{
	uint64_t keep = B + 96, tbits = mpz_sizeinbase(T, 2), cut = 0;
	mpz_t q, t;

	mpz_inits(q, t, NULL);
	if (tbits > keep)
		cut = tbits - keep;
	/* Same cut on both keeps the ratio to within 2^-(B+94) relatively. */
	mpz_tdiv_q_2exp(q, Q, cut);
	mpz_tdiv_q_2exp(t, T, cut);
	mpz_mul_ui(q, q, 426880);
	mpz_mul_2exp(q, q, B);
	mpz_tdiv_q(V, q, t);
	mpz_clears(q, t, NULL);
}

int pi_final_fraction(mpz_t F, const mpz_t R, const mpz_t V, uint64_t B)
{
	mpz_t three;
	int rc = 0;

	mpz_mul(F, R, V);
	mpz_tdiv_q_2exp(F, F, B);
	mpz_init_set_ui(three, 3);
	mpz_mul_2exp(three, three, B);
	mpz_sub(F, F, three);
	if (mpz_sgn(F) < 0 || mpz_sizeinbase(F, 2) > B)
		rc = -1;
	mpz_clear(three);
	return rc;
}

int pi_final_piece_exact(char *out, const mpz_t F, uint64_t B, uint64_t start, uint64_t len)
{
	mpz_t t, p;
	size_t n;

	if (len == 0) {
		out[0] = '\0';
		return 0;
	}
	mpz_inits(t, p, NULL);
	/* t = (F 10^start) mod 2^B: the fraction left after the first `start` digits. */
	if (start > 0) {
		mpz_ui_pow_ui(p, 10, start);
		mpz_mul(t, F, p);
		mpz_tdiv_r_2exp(t, t, B);
	} else {
		mpz_set(t, F);
	}
	mpz_ui_pow_ui(p, 10, len);
	mpz_mul(t, t, p);
	mpz_clear(p);
	mpz_tdiv_q_2exp(t, t, B);
	/* t < 10^len: convert in place, then right-align and zero-pad to len. */
	if (mpz_sgn(t) == 0 || mpz_sizeinbase(t, 10) > len + 1) {
		int zero = mpz_sgn(t) == 0;

		mpz_clear(t);
		if (!zero)
			return -1;
		memset(out, '0', len);
		out[len] = '\0';
		return 0;
	}
	mpz_get_str(out, 10, t);
	mpz_clear(t);
	n = strlen(out);
	if (n > len)
		return -1;
	if (n < len) {
		memmove(out + (len - n), out, n);
		memset(out, '0', len - n);
	}
	out[len] = '\0';
	return 0;
}

bool pi_final_is_ambiguous(const char *g, size_t len)
{
	bool zeros = true, nines = true;

	if (len == 0)
		return true;
	/* Within 2 of a multiple of 10^len: 00...0[01] or 99...9[789]. */
	for (size_t i = 0; i + 1 < len; i++) {
		zeros = zeros && g[i] == '0';
		nines = nines && g[i] == '9';
	}
	return (zeros && g[len - 1] <= '1') || (nines && g[len - 1] >= '7');
}

/* Rank 0's stretch relative to the others': it skips the 10^start power and the full-size
 * F 10^start product (measured balanced at 1e7 digits on 2 ranks: 0.60 s and 0.58 s). */
#define PIECE0_WEIGHT 1.6

int pi_final_plan(uint64_t decimals, int ranks, uint64_t min_len, uint64_t *start, uint64_t *len)
{
	int pieces = ranks;
	double w0 = 1.0, total;
	uint64_t pos = 0;

	if (min_len == 0)
		min_len = 1;
	if ((uint64_t)pieces > decimals / min_len)
		pieces = (int)(decimals / min_len);
	if (pieces < 1)
		pieces = 1;
	if (pieces > 1)
		w0 = PIECE0_WEIGHT;
	total = w0 + (pieces - 1);
	for (int r = 0; r < ranks; r++) {
		uint64_t n = 0;

		if (r < pieces) {
			double share = (r == 0 ? w0 : 1.0) / total;

			n = (r == pieces - 1) ? decimals - pos
					      : (uint64_t)((double)decimals * share);
		}
		start[r] = pos;
		len[r] = n;
		pos += n;
	}
	return pieces;
}

/*
 * The fast conversion: a scaled remainder tree. For a fraction x ~ f / 2^L (f a truncation
 * of x from below) and n wanted digits, split n = k + m:
 *   high k digits: the same fraction cut to k log2(10) + G bits (a shift, no arithmetic);
 *   low m digits:  frac(x 10^k) ~ ((f 10^k) mod 2^L), cut to m log2(10) + G bits;
 * down to leaves of LEAF digits, floor(f 10^n / 2^L) with mpz_get_str. One multiplication
 * per node instead of GMP's division by a power of ten. Every cut is a floor, so a node's
 * value is low by less than (depth) 2^-G units of its own last digit: a digit can only come
 * out wrong (one less, with the digits after it 9s instead of 0s) where the exact expansion
 * holds a run of about G log10(2) ~ 28 zeros. pi_final_piece converts RUN_CHECK extra digits,
 * and if the result holds a run of RUN_LIMIT 0s or 9s anywhere, it redoes the piece exactly.
 */
#define G	  96
#define LEAF	  20000
#define RUN_LIMIT 20
#define RUN_CHECK 40
#define POW_CACHE 128

struct pow_cache {
	uint64_t k[POW_CACHE];
	mpz_t p[POW_CACHE];
	int n;
	char *leaf; /* LEAF + 2 bytes for mpz_get_str */
};

static uint64_t frac_bits(uint64_t digits)
{
	return (uint64_t)ceil((double)digits * 3.321928094887362) + G;
}

/* rop = f * 10^k, with 10^k cached (there are about two lengths per tree level). */
static void mul_pow10(struct pow_cache *c, mpz_t rop, const mpz_t f, uint64_t k)
{
	for (int i = 0; i < c->n; i++) {
		if (c->k[i] == k) {
			mpz_mul(rop, f, c->p[i]);
			return;
		}
	}
	if (c->n < POW_CACHE) {
		mpz_init(c->p[c->n]);
		mpz_ui_pow_ui(c->p[c->n], 10, k);
		c->k[c->n] = k;
		mpz_mul(rop, f, c->p[c->n++]);
		return;
	}
	{
		mpz_t p;

		mpz_init(p);
		mpz_ui_pow_ui(p, 10, k);
		mpz_mul(rop, f, p);
		mpz_clear(p);
	}
}

/* f := f scaled from L to L2 fraction bits (a floor when shrinking). */
static void rescale(mpz_t f, uint64_t L, uint64_t L2)
{
	if (L > L2)
		mpz_tdiv_q_2exp(f, f, L - L2);
	else if (L2 > L)
		mpz_mul_2exp(f, f, L2 - L);
}

/* n digits of f / 2^L into out (no terminator); f is consumed. */
static void convert(struct pow_cache *c, mpz_t f, uint64_t L, uint64_t n, char *out)
{
	uint64_t k, m, Lk, Lm;
	mpz_t g;

	if (n <= LEAF) {
		size_t len;

		mul_pow10(c, f, f, n);
		mpz_tdiv_q_2exp(f, f, L);
		len = 0;
		if (mpz_sgn(f) != 0) {
			mpz_get_str(c->leaf, 10, f);
			len = strlen(c->leaf);
		}
		if (len > n) /* cannot happen: f / 2^L < 1 */
			abort();
		memset(out, '0', n - len);
		memcpy(out + (n - len), c->leaf, len);
		return;
	}
	k = n / 2;
	m = n - k;
	Lk = frac_bits(k);
	Lm = frac_bits(m);
	mpz_init(g);
	mul_pow10(c, g, f, k);
	mpz_tdiv_r_2exp(g, g, L);
	rescale(g, L, Lm);
	rescale(f, L, Lk);
	convert(c, f, Lk, k, out);
	convert(c, g, Lm, m, out + k);
	mpz_clear(g);
}

bool pi_final_has_long_run(const char *s, size_t n)
{
	size_t run = 0;

	for (size_t i = 0; i < n; i++) {
		if ((s[i] == '0' || s[i] == '9') && i > 0 && s[i] == s[i - 1])
			run++;
		else
			run = (s[i] == '0' || s[i] == '9') ? 1 : 0;
		if (run >= RUN_LIMIT)
			return true;
	}
	return false;
}

int pi_final_piece(char *out, const mpz_t F, uint64_t B, uint64_t start, uint64_t len)
{
	struct pow_cache *c;
	uint64_t n = len + RUN_CHECK;
	mpz_t t;
	bool exact;

	if (len == 0) {
		out[0] = '\0';
		return 0;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return -1;
	c->leaf = malloc(LEAF + 2);
	if (c->leaf == NULL) {
		free(c);
		return -1;
	}
	/* t / 2^B = frac(F 10^start / 2^B), exactly, as in pi_final_piece_exact. */
	mpz_init(t);
	if (start > 0) {
		mul_pow10(c, t, F, start);
		mpz_tdiv_r_2exp(t, t, B);
	} else {
		mpz_set(t, F);
	}
	rescale(t, B, frac_bits(n));
	convert(c, t, frac_bits(n), n, out);
	mpz_clear(t);
	exact = pi_final_has_long_run(out, n);
	for (int i = 0; i < c->n; i++)
		mpz_clear(c->p[i]);
	free(c->leaf);
	free(c);
	if (exact)
		return pi_final_piece_exact(out, F, B, start, len);
	out[len] = '\0';
	return 0;
}
