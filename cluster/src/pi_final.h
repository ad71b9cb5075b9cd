/* pi_final.h - from the series' Q and T to decimal digits: sqrt, division, conversion. */
#ifndef PI_FINAL_H
#define PI_FINAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <gmp.h>

/*
 * All of it is fixed-point arithmetic with B fraction bits, B = ceil(D log2 10) + 64 for D
 * decimals (the requested ones plus guard digits):
 *   R = floor(sqrt(10005) 2^B)                        (pi_final_sqrt)
 *   V = floor(426880 Q 2^B / T)   ~ pi/sqrt(10005) 2^B (pi_final_divide, Q and T cut to
 *                                                      B + 96 bits first)
 *   F = floor(R V / 2^B) - 3 * 2^B ~ (pi - 3) 2^B      (pi_final_fraction)
 * F is within a few hundred units of (pi - 3) 2^B, far below one unit of the last guard
 * digit. The decimals are then exactly the digits of floor(F 10^D / 2^B), and any stretch
 * [s, s + len) of them is floor(((F 10^s) mod 2^B) 10^len / 2^B): ranks convert their own
 * stretch independently from the same F (pi_final_piece).
 */

/* Fraction bits for `decimals` decimal digits. */
uint64_t pi_final_bits(uint64_t decimals);

/* R = floor(sqrt(10005) * 2^B). */
void pi_final_sqrt(mpz_t R, uint64_t B);

/* V = floor(426880 * Q * 2^B / T) for Q, T > 0, after cutting Q and T to B + 96 bits.
 * Q and T are left unchanged. */
void pi_final_divide(mpz_t V, const mpz_t Q, const mpz_t T, uint64_t B);

/* F = floor(R * V / 2^B) - 3 * 2^B. Returns 0, or -1 when the integer part is not 3 (a bug
 * or a hardware fault: the caller must not print anything). */
int pi_final_fraction(mpz_t F, const mpz_t R, const mpz_t V, uint64_t B);

/* Bytes pi_final_piece needs in out beyond len. */
#define PI_FINAL_PIECE_PAD 64

/*
 * Writes decimals [start, start + len) of F / 2^B (0-based after the point) into out, which
 * must hold len + PI_FINAL_PIECE_PAD bytes; out[len] = '\0'. Uses a scaled remainder tree
 * (one multiplication per node) and falls back to pi_final_piece_exact when the digits hold
 * a run where its truncations could matter. Returns 0, or -1 when memory runs out.
 */
int pi_final_piece(char *out, const mpz_t F, uint64_t B, uint64_t start, uint64_t len);

/* The same digits by plain arithmetic: ((F 10^start) mod 2^B) 10^len / 2^B and mpz_get_str.
 * out must hold len + 2 bytes. */
int pi_final_piece_exact(char *out, const mpz_t F, uint64_t B, uint64_t start, uint64_t len);

/* True when s[0..n) holds 20 or more equal digits 0 or 9 in a row (the fast conversion's
 * fallback test). */
bool pi_final_has_long_run(const char *s, size_t n);

/*
 * True when the last guard digits g[0..len) leave the truncation open: the computed digits
 * may be off by a couple of units in the last place, so a guard value within 2 of a
 * multiple of 10^len could belong to either neighbour. len 0 is ambiguous.
 */
bool pi_final_is_ambiguous(const char *g, size_t len);

/*
 * Splits `decimals` digits into at most `ranks` pieces, rank r converting [start[r],
 * start[r] + len[r]). Pieces are at least 5/8 of min_len digits (fewer pieces when there are
 * not enough digits); rank 0 gets a 1.6 times larger share because it skips the 10^start
 * product. Returns the number of pieces (>= 1); ranks from that number on get len 0.
 */
int pi_final_plan(uint64_t decimals, int ranks, uint64_t min_len, uint64_t *start, uint64_t *len);

#endif
