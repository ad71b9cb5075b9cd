/* pi_serial.c - the whole computation on one process: the reference for the MPI program. */
#include <stdlib.h>
#include <string.h>

#include "pi_final.h"
#include "pi_serial.h"
#include "pi_series.h"

/* One attempt with `guard` guard digits. Returns 1 when the guard digits were ambiguous. */
static int attempt(char *text, uint64_t digits, unsigned guard)
{
	uint64_t dec = digits + guard, B = pi_final_bits(dec);
	struct pi_partial s;
	mpz_t R, V, F;
	char *piece;
	int rc = -1;

	piece = malloc(dec + PI_FINAL_PIECE_PAD);
	if (piece == NULL)
		return -1;
	pi_partial_init(&s);
	mpz_inits(R, V, F, NULL);
	if (pi_series_compute(&s, 0, pi_series_terms(dec), false, NULL) != 0)
		goto out;
	pi_final_divide(V, s.Q, s.T, B);
	pi_final_sqrt(R, B);
	if (pi_final_fraction(F, R, V, B) != 0)
		goto out;
	if (pi_final_piece(piece, F, B, 0, dec) != 0)
		goto out;
	if (pi_final_is_ambiguous(piece + digits, guard)) {
		rc = 1;
		goto out;
	}
	memcpy(text + 2, piece, digits);
	rc = 0;
out:
	mpz_clears(R, V, F, NULL);
	pi_partial_clear(&s);
	free(piece);
	return rc;
}

int pi_serial_digits(char **out, uint64_t digits, unsigned guard)
{
	char *text;
	int rc;

	*out = NULL;
	if (guard == 0)
		guard = PI_GUARD_DIGITS;
	text = malloc(digits + 3);
	if (text == NULL)
		return -1;
	text[0] = '3';
	text[1] = '.';
	text[digits + 2] = '\n';
	while ((rc = attempt(text, digits, guard)) == 1)
		guard *= 2;
	if (rc != 0) {
		free(text);
		return -1;
	}
	*out = text;
	return 0;
}
