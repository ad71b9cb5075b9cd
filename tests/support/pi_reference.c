/* pi_reference.c - reference digits of pi from MPFR's mpfr_const_pi, for tests and benchmarks. */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gmp.h>
#include <mpfr.h>

/*
 * pi-reference --digits N [--time]
 *
 * Prints "3." + the first N decimals of pi, truncated, + "\n" on stdout. The digits come from
 * mpfr_const_pi (an algorithm independent of pi-compute's Chudnovsky series) followed by
 * mpfr_get_str, which is also the baseline the benchmark compares against.
 *
 * Exactness: x = mpfr_const_pi at p bits is within one ulp of pi. We ask mpfr_get_str for
 * N + 1 + G significant digits rounded toward zero (G guard digits). Unless the G guard
 * digits are all 0 or all 9, pi and x lie strictly inside the same interval
 * [d, d + 10^-N) for the N-decimal truncation d, because |x - pi| is far below 10^-(N+G).
 * When the guard digits are ambiguous we retry with more guard digits.
 * --time prints the seconds spent in mpfr_const_pi and mpfr_get_str on stderr.
 */

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: pi-reference --digits N [--time]\n");
}

static int parse_digits(const char *s, unsigned long *out)
{
	char *end;
	unsigned long long v;

	if (s == NULL || *s == '\0' || *s == '-' || *s == '+')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v == 0 || v > (1ULL << 40))
		return -1;
	*out = (unsigned long)v;
	return 0;
}

/* True when the guard digits g[0..len) do not settle the truncation. */
static bool guard_is_ambiguous(const char *g, size_t len)
{
	bool all0 = true, all9 = true;

	for (size_t i = 0; i < len; i++) {
		all0 = all0 && g[i] == '0';
		all9 = all9 && g[i] == '9';
	}
	return all0 || all9;
}

static int write_all(const char *buf, size_t len)
{
	const size_t chunk = (size_t)1 << 20;

	while (len > 0) {
		size_t n = len < chunk ? len : chunk;

		if (fwrite(buf, 1, n, stdout) != n)
			return -1;
		buf += n;
		len -= n;
	}
	return 0;
}

int main(int argc, char **argv)
{
	unsigned long digits = 0;
	bool timing = false;
	size_t guard = 12;
	int rc = 1;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--digits") == 0 && i + 1 < argc) {
			if (parse_digits(argv[++i], &digits) != 0) {
				fprintf(stderr,
					"pi-reference: --digits needs a positive integer\n");
				return 2;
			}
		} else if (strcmp(argv[i], "--time") == 0) {
			timing = true;
		} else if (strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		} else {
			fprintf(stderr, "pi-reference: unknown or incomplete argument '%s'\n",
				argv[i]);
			usage(stderr);
			return 2;
		}
	}
	if (digits == 0) {
		fprintf(stderr, "pi-reference: --digits N is required\n");
		return 2;
	}

	for (;;) {
		size_t want = (size_t)digits + 1 + guard;
		mpfr_prec_t prec = (mpfr_prec_t)ceil((double)want * 3.3219280948873623) + 64;
		mpfr_exp_t exp10;
		mpfr_t x;
		char *s;
		double t0, t1, t2;

		mpfr_init2(x, prec);
		t0 = now_s();
		mpfr_const_pi(x, MPFR_RNDN);
		t1 = now_s();
		s = mpfr_get_str(NULL, &exp10, 10, want, x, MPFR_RNDZ);
		t2 = now_s();
		mpfr_clear(x);
		if (s == NULL) {
			fprintf(stderr, "pi-reference: mpfr_get_str failed\n");
			goto out;
		}
		if (exp10 != 1 || s[0] != '3' || strlen(s) != want) {
			fprintf(stderr, "pi-reference: unexpected conversion result\n");
			mpfr_free_str(s);
			goto out;
		}
		if (guard_is_ambiguous(s + 1 + digits, guard)) {
			mpfr_free_str(s);
			guard *= 2;
			continue;
		}
		if (timing)
			fprintf(stderr,
				"pi-reference: const_pi %.3f s, get_str %.3f s, total %.3f s\n",
				t1 - t0, t2 - t1, t2 - t0);
		s[1 + digits] = '\0';
		if (fputs("3.", stdout) == EOF || write_all(s + 1, digits) != 0 ||
		    fputc('\n', stdout) == EOF || fflush(stdout) != 0) {
			fprintf(stderr, "pi-reference: write to stdout failed\n");
			mpfr_free_str(s);
			goto out;
		}
		mpfr_free_str(s);
		rc = 0;
		break;
	}
out:
	mpfr_free_cache();
	return rc;
}
