/* test_series.c - the serial core: term ranges, merging in any tree shape, factor removal,
 * the final stage's pieces and guard-digit check, and the serial reference digits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pi_final.h"
#include "pi_ranges.h"
#include "pi_serial.h"
#include "pi_series.h"

/* The first 100 decimals, to check the serial reference without another program. */
static const char pi100[] = "3."
			    "1415926535897932384626433832795028841971693993751058209749445923"
			    "078164062862089986280348253421170679";

static void test_ranges_cover_exactly_once(void **unused)
{
	static const uint64_t terms[] = {1, 2, 3, 5, 17, 100, 70516, 705139, 7051393};

	for (size_t i = 0; i < sizeof(terms) / sizeof(terms[0]); i++) {
		for (int ranks = 1; ranks <= 67; ranks += (ranks < 9 ? 1 : 29)) {
			uint64_t bounds[68];

			memset(bounds, 0xff, sizeof(bounds));
			pi_ranges_split(terms[i], ranks, bounds);
			assert_int_equal(bounds[0], 0);
			assert_int_equal(bounds[ranks], terms[i]);
			/* Consecutive and non-decreasing: every term in exactly one range. */
			for (int r = 0; r < ranks; r++)
				assert_true(bounds[r] <= bounds[r + 1]);
		}
	}
}

static void test_ranges_balance_cost(void **unused)
{
	uint64_t bounds[5];
	double total = pi_ranges_cost(0, 705139);

	pi_ranges_split(705139, 4, bounds);
	/* Equal shares, the last one (which skips P) 1.1 times as large. */
	for (int r = 0; r < 4; r++) {
		double c = pi_ranges_cost(bounds[r], bounds[r + 1]);
		double want = (r == 3 ? 1.1 : 1.0) / 4.1 * total;

		assert_true(c > 0.99 * want && c < 1.01 * want);
	}
	/* Later terms cost more, so the first rank gets more terms than the last. */
	assert_true(bounds[1] - bounds[0] > bounds[4] - bounds[3]);
	assert_true(pi_ranges_cost(5, 5) == 0.0);
}

/* Q1 / T1 == Q2 / T2, exactly. */
static void assert_same_ratio(const struct pi_partial *x, const struct pi_partial *y)
{
	mpz_t a, b;

	mpz_inits(a, b, NULL);
	mpz_mul(a, x->Q, y->T);
	mpz_mul(b, y->Q, x->T);
	assert_true(mpz_cmp(a, b) == 0);
	mpz_clears(a, b, NULL);
}

/* Merges parts [lo, hi) in a random tree shape into parts[lo]. */
static void merge_random(struct pi_partial *parts, int lo, int hi, int nparts, unsigned *seed)
{
	int mid;

	if (hi - lo <= 1)
		return;
	mid = lo + 1 + (int)(rand_r(seed) % (unsigned)(hi - lo - 1));
	merge_random(parts, lo, mid, nparts, seed);
	merge_random(parts, mid, hi, nparts, seed);
	pi_partial_merge(&parts[lo], &parts[mid], hi < nparts);
}

static void test_merge_any_tree_shape(void **unused)
{
	const uint64_t n = 3000;
	struct pi_partial whole, plain, parts[12];
	struct pi_series_options opts;
	unsigned seed = 12345;

	pi_partial_init(&whole);
	pi_partial_init(&plain);
	assert_int_equal(pi_series_compute(&whole, 0, n, false, NULL), 0);
	assert_false(whole.has_P);
	/* Without factor removal the numbers differ by a common factor only. */
	pi_series_options_default(&opts);
	opts.factor_removal = false;
	assert_int_equal(pi_series_compute(&plain, 0, n, true, &opts), 0);
	assert_same_ratio(&whole, &plain);

	for (int shape = 0; shape < 20; shape++) {
		int nparts = 1 + (int)(rand_r(&seed) % 12);
		uint64_t cut[13];

		/* Random cuts, empty ranges allowed. */
		cut[0] = 0;
		cut[nparts] = n;
		for (int i = 1; i < nparts; i++)
			cut[i] = rand_r(&seed) % (n + 1);
		for (int i = 1; i < nparts; i++)
			for (int j = i + 1; j < nparts; j++)
				if (cut[j] < cut[i]) {
					uint64_t t = cut[i];

					cut[i] = cut[j];
					cut[j] = t;
				}
		for (int i = 0; i < nparts; i++) {
			pi_partial_init(&parts[i]);
			opts.factor_removal = (i % 2) == 0;
			assert_int_equal(pi_series_compute(&parts[i], cut[i], cut[i + 1],
							   i != nparts - 1, &opts),
					 0);
		}
		merge_random(parts, 0, nparts, nparts, &seed);
		assert_same_ratio(&parts[0], &whole);
		for (int i = 0; i < nparts; i++)
			pi_partial_clear(&parts[i]);
	}
	pi_partial_clear(&whole);
	pi_partial_clear(&plain);
}

static void test_factor_removal_shrinks(void **unused)
{
	struct pi_partial with, without;
	struct pi_series_options opts;

	pi_partial_init(&with);
	pi_partial_init(&without);
	pi_series_options_default(&opts);
	assert_int_equal(pi_series_compute(&with, 0, 20000, false, &opts), 0);
	opts.factor_removal = false;
	assert_int_equal(pi_series_compute(&without, 0, 20000, false, &opts), 0);
	assert_same_ratio(&with, &without);
	assert_true(mpz_sizeinbase(with.Q, 2) < mpz_sizeinbase(without.Q, 2));
	pi_partial_clear(&with);
	pi_partial_clear(&without);
}

struct progress_log {
	double last;
	int calls;
	int decreasing;
};

static void log_progress(void *ctx, double share)
{
	struct progress_log *l = ctx;

	if (share < l->last || share > 1.0)
		l->decreasing = 1;
	l->last = share;
	l->calls++;
}

static void test_progress_monotone_to_one(void **unused)
{
	struct progress_log l = {0.0, 0, 0};
	struct pi_series_options opts;
	struct pi_partial x;

	pi_partial_init(&x);
	pi_series_options_default(&opts);
	opts.progress = log_progress;
	opts.progress_ctx = &l;
	assert_int_equal(pi_series_compute(&x, 100, 30000, true, &opts), 0);
	assert_true(l.calls > 10);
	assert_false(l.decreasing);
	assert_true(l.last == 1.0);
	/* Too small a range for intermediate reports still ends with 1. */
	l = (struct progress_log){0.0, 0, 0};
	assert_int_equal(pi_series_compute(&x, 0, 10, false, &opts), 0);
	assert_int_equal(l.calls, 1);
	assert_true(l.last == 1.0);
	pi_partial_clear(&x);
}

static void test_serial_digits(void **unused)
{
	for (uint64_t n = 1; n <= 100; n++) {
		char *s;

		assert_int_equal(pi_serial_digits(&s, n, 0), 0);
		assert_memory_equal(s, pi100, n + 2);
		assert_int_equal(s[n + 2], '\n');
		free(s);
	}
}

static void test_serial_ambiguous_guard_recomputes(void **unused)
{
	/* Decimals 762..767 are 999999 (the Feynman point): 3 guard digits after decimal 761
	 * read "999" and must force a recomputation with more guard digits. */
	char *a, *b;

	assert_int_equal(pi_serial_digits(&a, 761, 3), 0);
	assert_int_equal(pi_serial_digits(&b, 761, 0), 0);
	assert_memory_equal(a, b, 761 + 3);
	assert_memory_equal(a + 2 + 755, "721134", 6);
	free(a);
	free(b);
}

static void test_is_ambiguous(void **unused)
{
	assert_true(pi_final_is_ambiguous("000", 3));
	assert_true(pi_final_is_ambiguous("001", 3));
	assert_false(pi_final_is_ambiguous("002", 3));
	assert_false(pi_final_is_ambiguous("500", 3));
	assert_false(pi_final_is_ambiguous("996", 3));
	assert_true(pi_final_is_ambiguous("997", 3));
	assert_true(pi_final_is_ambiguous("999", 3));
	assert_false(pi_final_is_ambiguous("099", 3));
	assert_false(pi_final_is_ambiguous("900", 3));
	assert_true(pi_final_is_ambiguous("", 0));
	assert_true(pi_final_is_ambiguous("00000000000000000000000001", 26));
	assert_false(pi_final_is_ambiguous("00000000000000000000000010", 26));
}

static void test_plan_covers_digits(void **unused)
{
	static const uint64_t decimals[] = {13, 1000, 99999, 100000, 100001, 1000012, 10000012};

	for (size_t i = 0; i < sizeof(decimals) / sizeof(decimals[0]); i++) {
		for (int ranks = 1; ranks <= 9; ranks++) {
			uint64_t start[9], len[9], pos = 0;
			int pieces = pi_final_plan(decimals[i], ranks, 50000, start, len);

			assert_true(pieces >= 1 && pieces <= ranks);
			for (int r = 0; r < ranks; r++) {
				assert_int_equal(start[r], pos);
				assert_true(r < pieces ? len[r] > 0 : len[r] == 0);
				if (pieces > 1 && r < pieces)
					assert_true(len[r] >= 50000 * 5 / 8);
				pos += len[r];
			}
			assert_int_equal(pos, decimals[i]);
		}
	}
}

static void test_pieces_concatenate(void **unused)
{
	const uint64_t dec = 5000, B = pi_final_bits(dec);
	struct pi_partial s;
	mpz_t R, V, F;
	char *whole = malloc(dec + PI_FINAL_PIECE_PAD), *part = malloc(dec + PI_FINAL_PIECE_PAD);
	unsigned seed = 7;

	assert_non_null(whole);
	assert_non_null(part);
	pi_partial_init(&s);
	mpz_inits(R, V, F, NULL);
	assert_int_equal(pi_series_compute(&s, 0, pi_series_terms(dec), false, NULL), 0);
	pi_final_divide(V, s.Q, s.T, B);
	pi_final_sqrt(R, B);
	assert_int_equal(pi_final_fraction(F, R, V, B), 0);
	assert_int_equal(pi_final_piece(whole, F, B, 0, dec), 0);
	assert_memory_equal(whole, pi100 + 2, 98);
	for (int k = 0; k < 50; k++) {
		uint64_t a = rand_r(&seed) % dec, len = 1 + rand_r(&seed) % (dec - a);

		assert_int_equal(pi_final_piece(part, F, B, a, len), 0);
		assert_memory_equal(part, whole + a, len);
		assert_int_equal(part[len], '\0');
	}
	mpz_clears(R, V, F, NULL);
	pi_partial_clear(&s);
	free(whole);
	free(part);
}

/* The fast conversion agrees with the plain one on random fractions, across leaves. */
static void test_fast_conversion_random(void **unused)
{
	const uint64_t dec = 150000, B = pi_final_bits(dec);
	char *fast = malloc(dec + PI_FINAL_PIECE_PAD), *exact = malloc(dec + 2);
	gmp_randstate_t rs;
	unsigned seed = 99;
	mpz_t F;

	assert_non_null(fast);
	assert_non_null(exact);
	gmp_randinit_default(rs);
	mpz_init(F);
	for (int k = 0; k < 6; k++) {
		uint64_t a = k == 0 ? 0 : rand_r(&seed) % dec;
		uint64_t len = k == 0 ? dec : 1 + rand_r(&seed) % (dec - a);

		mpz_urandomb(F, rs, B);
		assert_int_equal(pi_final_piece(fast, F, B, a, len), 0);
		assert_int_equal(pi_final_piece_exact(exact, F, B, a, len), 0);
		assert_memory_equal(fast, exact, len + 1);
	}
	mpz_clear(F);
	gmp_randclear(rs);
	free(fast);
	free(exact);
}

/* A run of 30 zeros (where the fast path's truncations could show) forces the fallback, and
 * the digits stay exact. */
static void test_fast_conversion_long_run(void **unused)
{
	const uint64_t dec = 100000, B = pi_final_bits(dec);
	char *digits = malloc(dec + 1), *fast = malloc(dec + PI_FINAL_PIECE_PAD);
	char *exact = malloc(dec + 2);
	unsigned seed = 5;
	mpz_t F, p;

	assert_non_null(digits);
	assert_non_null(fast);
	assert_non_null(exact);
	for (uint64_t i = 0; i < dec; i++)
		digits[i] = (char)('1' + rand_r(&seed) % 8);
	memset(digits + 60001, '0', 30);
	digits[dec] = '\0';
	/* F / 2^B just above 0.<digits>: its first dec decimals are exactly `digits`. */
	mpz_inits(F, p, NULL);
	mpz_set_str(F, digits, 10);
	mpz_mul_2exp(F, F, B);
	mpz_ui_pow_ui(p, 10, dec);
	mpz_tdiv_q(F, F, p);
	mpz_add_ui(F, F, 1);
	assert_int_equal(pi_final_piece(fast, F, B, 0, dec), 0);
	assert_memory_equal(fast, digits, dec);
	assert_int_equal(pi_final_piece(fast, F, B, 40000, 20002), 0); /* ends inside the run */
	assert_int_equal(pi_final_piece_exact(exact, F, B, 40000, 20002), 0);
	assert_memory_equal(fast, exact, 20003);
	assert_memory_equal(fast, digits + 40000, 20002);
	assert_true(pi_final_has_long_run(digits, dec));
	assert_false(pi_final_has_long_run(digits, 60000));
	assert_true(pi_final_has_long_run("99999999999999999999", 20));
	assert_false(pi_final_has_long_run("9999999999999999999", 19));
	assert_false(pi_final_has_long_run("11111111111111111111111", 23));
	mpz_clears(F, p, NULL);
	free(digits);
	free(fast);
	free(exact);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ranges_cover_exactly_once),
	    cmocka_unit_test(test_ranges_balance_cost),
	    cmocka_unit_test(test_merge_any_tree_shape),
	    cmocka_unit_test(test_factor_removal_shrinks),
	    cmocka_unit_test(test_progress_monotone_to_one),
	    cmocka_unit_test(test_serial_digits),
	    cmocka_unit_test(test_serial_ambiguous_guard_recomputes),
	    cmocka_unit_test(test_is_ambiguous),
	    cmocka_unit_test(test_plan_covers_digits),
	    cmocka_unit_test(test_pieces_concatenate),
	    cmocka_unit_test(test_fast_conversion_random),
	    cmocka_unit_test(test_fast_conversion_long_run),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
