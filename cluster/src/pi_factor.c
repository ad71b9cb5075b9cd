/* pi_factor.c - smallest-prime-factor sieve and factored integers for the series' gcd step. */
#include <stdlib.h>
#include <string.h>

#include "pi_factor.h"

int pi_sieve_init(struct pi_sieve *s, uint64_t max)
{
	uint64_t n, p;

	s->spf = NULL;
	s->max = 0;
	if (max >= ((uint64_t)1 << 32))
		return -1;
	n = (max >> 1) + 1;
	s->spf = calloc(n, sizeof(*s->spf));
	if (s->spf == NULL)
		return -1;
	s->max = max;
	/* Eratosthenes on odd numbers: the first prime to reach a composite is its smallest. */
	for (p = 3; p * p <= max; p += 2) {
		if (s->spf[p >> 1] != 0)
			continue;
		for (uint64_t m = p * p; m <= max; m += 2 * p)
			if (s->spf[m >> 1] == 0)
				s->spf[m >> 1] = (uint16_t)p;
	}
	return 0;
}

void pi_sieve_clear(struct pi_sieve *s)
{
	free(s->spf);
	s->spf = NULL;
	s->max = 0;
}

void pi_fac_init(struct pi_fac *f)
{
	f->prime = NULL;
	f->exp = NULL;
	f->len = 0;
	f->cap = 0;
}

void pi_fac_clear(struct pi_fac *f)
{
	free(f->prime);
	free(f->exp);
	pi_fac_init(f);
}

void pi_fac_set_one(struct pi_fac *f)
{
	f->len = 0;
}

static void fac_reserve(struct pi_fac *f, size_t cap)
{
	uint32_t *p, *e;

	if (cap <= f->cap)
		return;
	if (cap < 16)
		cap = 16;
	if (cap < 2 * f->cap)
		cap = 2 * f->cap;
	p = realloc(f->prime, cap * sizeof(*p));
	if (p == NULL)
		abort(); /* as GMP does: the series cannot continue without memory */
	f->prime = p;
	e = realloc(f->exp, cap * sizeof(*e));
	if (e == NULL)
		abort();
	f->exp = e;
	f->cap = cap;
}

/* Multiplies in one prime power, keeping the primes sorted (lists here are short). */
static void fac_mul_prime(struct pi_fac *f, uint32_t p, uint32_t e)
{
	size_t i = f->len;

	while (i > 0 && f->prime[i - 1] > p)
		i--;
	if (i > 0 && f->prime[i - 1] == p) {
		f->exp[i - 1] += e;
		return;
	}
	fac_reserve(f, f->len + 1);
	memmove(f->prime + i + 1, f->prime + i, (f->len - i) * sizeof(*f->prime));
	memmove(f->exp + i + 1, f->exp + i, (f->len - i) * sizeof(*f->exp));
	f->prime[i] = p;
	f->exp[i] = e;
	f->len++;
}

void pi_fac_mul_small(struct pi_fac *f, const struct pi_sieve *s, uint64_t x, uint32_t e)
{
	if (x == 0)
		return;
	if ((x & 1) == 0) {
		unsigned twos = (unsigned)__builtin_ctzll(x);

		fac_mul_prime(f, 2, twos * e);
		x >>= twos;
	}
	while (x > 1) {
		uint32_t p = s->spf[x >> 1];
		uint32_t k = 0;

		if (p == 0)
			p = (uint32_t)x;
		do {
			x /= p;
			k++;
		} while (x % p == 0);
		fac_mul_prime(f, p, k * e);
	}
}

void pi_fac_mul(struct pi_fac *f, const struct pi_fac *g, struct pi_fac *tmp)
{
	size_t i = 0, j = 0, k = 0;
	struct pi_fac swap;

	if (g->len == 0)
		return;
	fac_reserve(tmp, f->len + g->len);
	while (i < f->len && j < g->len) {
		if (f->prime[i] < g->prime[j]) {
			tmp->prime[k] = f->prime[i];
			tmp->exp[k++] = f->exp[i++];
		} else if (f->prime[i] > g->prime[j]) {
			tmp->prime[k] = g->prime[j];
			tmp->exp[k++] = g->exp[j++];
		} else {
			tmp->prime[k] = f->prime[i];
			tmp->exp[k++] = f->exp[i++] + g->exp[j++];
		}
	}
	for (; i < f->len; i++, k++) {
		tmp->prime[k] = f->prime[i];
		tmp->exp[k] = f->exp[i];
	}
	for (; j < g->len; j++, k++) {
		tmp->prime[k] = g->prime[j];
		tmp->exp[k] = g->exp[j];
	}
	tmp->len = k;
	swap = *f;
	*f = *tmp;
	*tmp = swap;
}

/* Drops the entries whose exponent became 0. */
static void fac_compact(struct pi_fac *f)
{
	size_t k = 0;

	for (size_t i = 0; i < f->len; i++) {
		if (f->exp[i] == 0)
			continue;
		f->prime[k] = f->prime[i];
		f->exp[k++] = f->exp[i];
	}
	f->len = k;
}

size_t pi_fac_remove_gcd(mpz_t a, struct pi_fac *fa, mpz_t b, struct pi_fac *fb, mpz_t scratch)
{
	size_t i = 0, j = 0, common = 0;
	unsigned long acc = 1;

	mpz_set_ui(scratch, 1);
	while (i < fa->len && j < fb->len) {
		if (fa->prime[i] < fb->prime[j]) {
			i++;
		} else if (fa->prime[i] > fb->prime[j]) {
			j++;
		} else {
			uint32_t e = fa->exp[i] < fb->exp[j] ? fa->exp[i] : fb->exp[j];
			unsigned long p = fa->prime[i];

			fa->exp[i] -= e;
			fb->exp[j] -= e;
			common++;
			/* Gather p^e in a word while it fits, then into the big product. */
			for (uint32_t k = 0; k < e; k++) {
				if (acc > (~0UL) / p) {
					mpz_mul_ui(scratch, scratch, acc);
					acc = 1;
				}
				acc *= p;
			}
			i++;
			j++;
		}
	}
	if (common == 0)
		return 0;
	mpz_mul_ui(scratch, scratch, acc);
	mpz_divexact(a, a, scratch);
	mpz_divexact(b, b, scratch);
	fac_compact(fa);
	fac_compact(fb);
	return common;
}
