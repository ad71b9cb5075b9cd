/* pi_bigmsg.c - chunked transfer of big integers and byte strings between ranks. */
#include <limits.h>
#include <stdlib.h>

#include "pi_bigmsg.h"

static uint64_t chunk_max = PI_BIGMSG_CHUNK_MAX;

uint64_t pi_bigmsg_chunk_count(uint64_t bytes, uint64_t max)
{
	return bytes / max + (bytes % max != 0);
}

uint64_t pi_bigmsg_chunk_len(uint64_t bytes, uint64_t max, uint64_t index)
{
	uint64_t off;

	if (index >= pi_bigmsg_chunk_count(bytes, max))
		return 0;
	off = index * max;
	return bytes - off < max ? bytes - off : max;
}

void pi_bigmsg_set_chunk_max(uint64_t max)
{
	if (max < 1)
		max = 1;
	if (max > PI_BIGMSG_CHUNK_MAX)
		max = PI_BIGMSG_CHUNK_MAX;
	chunk_max = max;
}

/* Chunks of buf, sent (send != 0) or received, one MPI call per chunk. */
static int move_chunks(unsigned char *buf, uint64_t bytes, uint64_t max, int send, int peer,
		       int tag, MPI_Comm comm)
{
	uint64_t n = pi_bigmsg_chunk_count(bytes, max);
	int rc = MPI_SUCCESS;

	for (uint64_t i = 0; i < n && rc == MPI_SUCCESS; i++) {
		int len = (int)pi_bigmsg_chunk_len(bytes, max, i);

		if (send)
			rc = MPI_Send(buf + i * max, len, MPI_BYTE, peer, tag, comm);
		else
			rc = MPI_Recv(buf + i * max, len, MPI_BYTE, peer, tag, comm,
				      MPI_STATUS_IGNORE);
	}
	return rc;
}

/* mpz_export into a new buffer of *bytes bytes (NULL and 0 for zero). */
static unsigned char *export_mpz(const mpz_t z, uint64_t *bytes)
{
	size_t words = (mpz_sizeinbase(z, 2) + 63) / 64, count = 0;
	unsigned char *buf;

	*bytes = 0;
	if (mpz_sgn(z) == 0)
		return NULL;
	buf = malloc(words * 8);
	if (buf == NULL)
		abort();
	mpz_export(buf, &count, -1, 8, -1, 0, z);
	*bytes = (uint64_t)count * 8;
	return buf;
}

int pi_bigmsg_send_mpz(const mpz_t z, int dest, int tag, MPI_Comm comm)
{
	uint64_t bytes;
	unsigned char *buf = export_mpz(z, &bytes);
	int64_t header = mpz_sgn(z) < 0 ? -(int64_t)bytes : (int64_t)bytes;
	int rc;

	rc = MPI_Send(&header, 1, MPI_INT64_T, dest, tag, comm);
	if (rc == MPI_SUCCESS)
		rc = move_chunks(buf, bytes, chunk_max, 1, dest, tag, comm);
	free(buf);
	return rc;
}

/* z := the bytes of buf (little-endian words), negated when negative. */
static void import_mpz(mpz_t z, const unsigned char *buf, uint64_t bytes, int negative)
{
	if (bytes == 0) {
		mpz_set_ui(z, 0);
		return;
	}
	mpz_import(z, bytes / 8, -1, 8, -1, 0, buf);
	if (negative)
		mpz_neg(z, z);
}

int pi_bigmsg_recv_mpz(mpz_t z, int src, int tag, MPI_Comm comm)
{
	int64_t header;
	uint64_t bytes;
	unsigned char *buf = NULL;
	int rc;

	rc = MPI_Recv(&header, 1, MPI_INT64_T, src, tag, comm, MPI_STATUS_IGNORE);
	if (rc != MPI_SUCCESS)
		return rc;
	bytes = header < 0 ? (uint64_t)(-header) : (uint64_t)header;
	if (bytes > 0) {
		buf = malloc(bytes);
		if (buf == NULL)
			abort();
	}
	rc = move_chunks(buf, bytes, chunk_max, 0, src, tag, comm);
	if (rc == MPI_SUCCESS)
		import_mpz(z, buf, bytes, header < 0);
	free(buf);
	return rc;
}

int pi_bigmsg_bcast_mpz(mpz_t z, int root, MPI_Comm comm)
{
	int rank, rc;
	int64_t header = 0;
	uint64_t bytes = 0, n;
	unsigned char *buf = NULL;

	MPI_Comm_rank(comm, &rank);
	if (rank == root) {
		buf = export_mpz(z, &bytes);
		header = mpz_sgn(z) < 0 ? -(int64_t)bytes : (int64_t)bytes;
	}
	rc = MPI_Bcast(&header, 1, MPI_INT64_T, root, comm);
	if (rc != MPI_SUCCESS)
		goto out_free;
	bytes = header < 0 ? (uint64_t)(-header) : (uint64_t)header;
	if (rank != root && bytes > 0) {
		buf = malloc(bytes);
		if (buf == NULL)
			abort();
	}
	n = pi_bigmsg_chunk_count(bytes, chunk_max);
	for (uint64_t i = 0; i < n && rc == MPI_SUCCESS; i++)
		rc = MPI_Bcast(buf + i * chunk_max, (int)pi_bigmsg_chunk_len(bytes, chunk_max, i),
			       MPI_BYTE, root, comm);
	if (rc == MPI_SUCCESS && rank != root)
		import_mpz(z, buf, bytes, header < 0);
out_free:
	free(buf);
	return rc;
}

int pi_bigmsg_send_bytes(const void *buf, uint64_t len, uint64_t chunk, int dest, int tag,
			 MPI_Comm comm)
{
	uint64_t header[2];
	int rc;

	if (chunk < 1 || chunk > chunk_max)
		chunk = chunk_max;
	header[0] = len;
	header[1] = chunk;
	rc = MPI_Send(header, 2, MPI_UINT64_T, dest, tag, comm);
	if (rc != MPI_SUCCESS)
		return rc;
	return move_chunks((unsigned char *)buf, len, chunk, 1, dest, tag, comm);
}

int pi_bigmsg_recv_bytes(int src, int tag, MPI_Comm comm,
			 int (*sink)(void *ctx, const void *buf, size_t len), void *ctx)
{
	uint64_t header[2], n;
	unsigned char *buf;
	int rc, sink_rc = 0;

	rc = MPI_Recv(header, 2, MPI_UINT64_T, src, tag, comm, MPI_STATUS_IGNORE);
	if (rc != MPI_SUCCESS)
		return rc;
	if (header[1] < 1 || header[1] > PI_BIGMSG_CHUNK_MAX)
		return -1;
	buf = malloc(header[0] < header[1] ? (header[0] ? header[0] : 1) : header[1]);
	if (buf == NULL)
		return -1;
	n = pi_bigmsg_chunk_count(header[0], header[1]);
	for (uint64_t i = 0; i < n && rc == MPI_SUCCESS; i++) {
		int len = (int)pi_bigmsg_chunk_len(header[0], header[1], i);

		rc = MPI_Recv(buf, len, MPI_BYTE, src, tag, comm, MPI_STATUS_IGNORE);
		if (rc == MPI_SUCCESS && sink_rc == 0)
			sink_rc = sink(ctx, buf, (size_t)len);
	}
	free(buf);
	return rc != MPI_SUCCESS ? rc : sink_rc;
}
