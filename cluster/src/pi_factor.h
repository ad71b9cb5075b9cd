/* pi_factor.h - a smallest-prime-factor sieve and factored integers, for pi_series' gcd step. */
#ifndef PI_FACTOR_H
#define PI_FACTOR_H

#include <stddef.h>
#include <stdint.h>

#include <gmp.h>

/*
 * Smallest prime factor of every odd number up to max, stored for odd numbers only in 16
 * bits (0 meaning the number is prime): any composite up to 2^32 has a factor below 2^16.
 */
struct pi_sieve {
	uint16_t *spf; /* spf[x >> 1] for odd x */
	uint64_t max;
};

/* Builds the sieve for odd numbers up to max (max < 2^32). Returns 0, or -1 when max is too
 * large or memory runs out (then s->spf is NULL). Free with pi_sieve_clear. */
int pi_sieve_init(struct pi_sieve *s, uint64_t max);
void pi_sieve_clear(struct pi_sieve *s);

/* A factored positive integer: primes ascending, each with its exponent (> 0). */
struct pi_fac {
	uint32_t *prime;
	uint32_t *exp;
	size_t len, cap;
};

void pi_fac_init(struct pi_fac *f);
void pi_fac_clear(struct pi_fac *f);

/* f := 1. */
void pi_fac_set_one(struct pi_fac *f);

/* f := f * x^e for x <= s->max (x >= 1). Aborts when memory runs out. */
void pi_fac_mul_small(struct pi_fac *f, const struct pi_sieve *s, uint64_t x, uint32_t e);

/* f := f * g. tmp is scratch (any content). */
void pi_fac_mul(struct pi_fac *f, const struct pi_fac *g, struct pi_fac *tmp);

/*
 * Removes the common part d = gcd(fa, fb) from both factorisations and divides a and b by d
 * (a = value of fa times something, likewise b). Returns the number of primes in d.
 */
size_t pi_fac_remove_gcd(mpz_t a, struct pi_fac *fa, mpz_t b, struct pi_fac *fb, mpz_t scratch);

#endif
