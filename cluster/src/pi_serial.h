/* pi_serial.h - pi to N decimals on one process, from pi_series and pi_final (no MPI). */
#ifndef PI_SERIAL_H
#define PI_SERIAL_H

#include <stdint.h>

/* Default number of guard digits computed past the requested ones. */
#define PI_GUARD_DIGITS 12

/*
 * Computes "3." + the first `digits` decimals of pi, truncated, + "\n" with guard digits
 * (guard 0 means PI_GUARD_DIGITS), recomputing with more guard digits when they do not settle
 * the truncation. On success *out is a new string of digits + 3 bytes (free()); on failure
 * (out of memory, internal check) *out is NULL and -1 is returned. The serial reference the
 * MPI program is tested against.
 */
int pi_serial_digits(char **out, uint64_t digits, unsigned guard);

#endif
