/* pi_bigmsg.h - big integers and long byte strings over MPI, in chunks below INT_MAX. */
#ifndef PI_BIGMSG_H
#define PI_BIGMSG_H

#include <stddef.h>
#include <stdint.h>

#include <gmp.h>
#include <mpi.h>

/*
 * MPI counts are int, so a message over 2^31 - 1 bytes must be split. Integers travel as
 * mpz_export bytes (little-endian 64-bit words, so any two ranks agree) behind a header
 * carrying the signed byte count; long byte strings as a header with the total length and
 * the chunk size, then the chunks.
 */
#define PI_BIGMSG_CHUNK_MAX ((uint64_t)1 << 30)

/* Number of chunks for `bytes` bytes in chunks of at most chunk_max (0 for 0 bytes). */
uint64_t pi_bigmsg_chunk_count(uint64_t bytes, uint64_t chunk_max);

/* Length of chunk `index` (0-based) of `bytes` bytes: chunk_max except for the last one.
 * Always <= chunk_max; 0 for an index past the end. */
uint64_t pi_bigmsg_chunk_len(uint64_t bytes, uint64_t chunk_max, uint64_t index);

/* Sets the chunk size used by the calls below (for tests of the chunked path; 1 .. 2^30).
 * Every rank must use the same value. */
void pi_bigmsg_set_chunk_max(uint64_t chunk_max);

/* Send and receive one integer (any sign, zero included). Return MPI_SUCCESS or an MPI
 * error code (with the default error handler MPI aborts first). */
int pi_bigmsg_send_mpz(const mpz_t z, int dest, int tag, MPI_Comm comm);
int pi_bigmsg_recv_mpz(mpz_t z, int src, int tag, MPI_Comm comm);

/* Broadcasts z from root to every rank of comm (z initialised everywhere). */
int pi_bigmsg_bcast_mpz(mpz_t z, int root, MPI_Comm comm);

/* Sends len bytes to dest, in chunks of at most `chunk` bytes (<= the chunk maximum). */
int pi_bigmsg_send_bytes(const void *buf, uint64_t len, uint64_t chunk, int dest, int tag,
			 MPI_Comm comm);

/* Receives what pi_bigmsg_send_bytes sent, one chunk at a time into a buffer of its own,
 * handing each chunk to sink in order. A non-zero return from sink is returned after the
 * remaining chunks have been drained (the sender is never left blocked). Returns
 * MPI_SUCCESS, an MPI error code, the sink's value, or -1 when memory runs out. */
int pi_bigmsg_recv_bytes(int src, int tag, MPI_Comm comm,
			 int (*sink)(void *ctx, const void *buf, size_t len), void *ctx);

#endif
