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

int pi_final_piece(char *out, const mpz_t F, uint64_t B, uint64_t start, uint64_t len)
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
	/* Rank 0 skips the 10^start multiplication (about a third of a piece's work). */
	if (pieces > 1)
		w0 = 1.25;
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
