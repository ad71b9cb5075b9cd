/* test_mpi.c - the MPI side, run under mpirun with 2 or more ranks: big-integer messages
 * (and their chunking arithmetic), the combine tree and the whole run against the serial
 * library. Every rank runs every test; rank 0 checks what comes back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <mpi.h>

#include "pi_bigmsg.h"
#include "pi_combine.h"
#include "pi_ranges.h"
#include "pi_run.h"
#include "pi_serial.h"
#include "pi_series.h"

static int rank, size;

static void test_chunk_arithmetic(void **unused)
{
	const uint64_t max = PI_BIGMSG_CHUNK_MAX, big = ((uint64_t)1 << 31) + 12345;
	uint64_t sum = 0;

	assert_int_equal(pi_bigmsg_chunk_count(0, max), 0);
	assert_int_equal(pi_bigmsg_chunk_count(1, max), 1);
	assert_int_equal(pi_bigmsg_chunk_count(max, max), 1);
	assert_int_equal(pi_bigmsg_chunk_count(max + 1, max), 2);
	/* Past 2^31 bytes: three chunks, none over INT_MAX, adding up exactly. */
	assert_int_equal(pi_bigmsg_chunk_count(big, max), 3);
	for (uint64_t i = 0; i < pi_bigmsg_chunk_count(big, max); i++) {
		uint64_t len = pi_bigmsg_chunk_len(big, max, i);

		assert_true(len > 0 && len <= max && len <= (uint64_t)INT32_MAX);
		sum += len;
	}
	assert_int_equal(sum, big);
	assert_int_equal(pi_bigmsg_chunk_len(big, max, 2), 12345);
	assert_int_equal(pi_bigmsg_chunk_len(big, max, 3), 0);
	/* 10 GiB + 1: eleven chunks. */
	assert_int_equal(pi_bigmsg_chunk_count(((uint64_t)10 << 30) + 1, max), 11);
	assert_int_equal(pi_bigmsg_chunk_len(((uint64_t)10 << 30) + 1, max, 10), 1);
}

/* Rank 0 sends z to the last rank, which sends it back; both compare. */
static void round_trip(const mpz_t z)
{
	int last = size - 1;
	mpz_t got;

	mpz_init_set_ui(got, 77);
	if (rank == 0) {
		pi_bigmsg_send_mpz(z, last, 1, MPI_COMM_WORLD);
		pi_bigmsg_recv_mpz(got, last, 2, MPI_COMM_WORLD);
		assert_true(mpz_cmp(got, z) == 0);
	} else if (rank == last) {
		pi_bigmsg_recv_mpz(got, 0, 1, MPI_COMM_WORLD);
		assert_true(mpz_cmp(got, z) == 0);
		pi_bigmsg_send_mpz(got, 0, 2, MPI_COMM_WORLD);
	}
	mpz_set_ui(got, 5);
	if (rank == 0)
		mpz_set(got, z);
	pi_bigmsg_bcast_mpz(got, 0, MPI_COMM_WORLD);
	assert_true(mpz_cmp(got, z) == 0);
	mpz_clear(got);
}

static void round_trips(void)
{
	mpz_t z;

	mpz_init(z);
	round_trip(z); /* zero */
	mpz_set_si(z, -1);
	round_trip(z);
	mpz_set_ui(z, 0xfedcba9876543210UL); /* one limb */
	round_trip(z);
	mpz_neg(z, z);
	round_trip(z);
	mpz_ui_pow_ui(z, 3, 100000); /* many limbs */
	round_trip(z);
	mpz_neg(z, z);
	round_trip(z);
	mpz_clear(z);
}

static void test_mpz_round_trip(void **unused)
{
	round_trips();
}

static void test_mpz_round_trip_small_chunks(void **unused)
{
	/* Chunks of 7 bytes: every message is split, and no chunk is a whole word. */
	pi_bigmsg_set_chunk_max(7);
	round_trips();
	pi_bigmsg_set_chunk_max(PI_BIGMSG_CHUNK_MAX);
}

struct collect {
	char *buf;
	size_t len, cap;
};

static int collect(void *ctx, const void *buf, size_t len)
{
	struct collect *c = ctx;

	if (c->len + len > c->cap)
		return -1;
	memcpy(c->buf + c->len, buf, len);
	c->len += len;
	return 0;
}

static void test_bytes_stream(void **unused)
{
	enum { N = 100003 };
	static char data[N], got[N];
	struct collect c = {got, 0, N};

	for (int i = 0; i < N; i++)
		data[i] = (char)(i * 7 + 3);
	pi_bigmsg_set_chunk_max(4096);
	if (rank == size - 1)
		pi_bigmsg_send_bytes(data, N, 1000, 0, 3, MPI_COMM_WORLD);
	else if (rank == 0) {
		assert_int_equal(pi_bigmsg_recv_bytes(size - 1, 3, MPI_COMM_WORLD, collect, &c), 0);
		assert_int_equal(c.len, N);
		assert_memory_equal(got, data, N);
	}
	pi_bigmsg_set_chunk_max(PI_BIGMSG_CHUNK_MAX);
}

static void test_combine_equals_serial(void **unused)
{
	const uint64_t terms = 5000;
	uint64_t *bounds = calloc((size_t)size + 1, sizeof(*bounds));
	struct pi_partial mine, whole;

	assert_non_null(bounds);
	pi_ranges_split(terms, size, bounds);
	pi_partial_init(&mine);
	assert_int_equal(
	    pi_series_compute(&mine, bounds[rank], bounds[rank + 1], rank != size - 1, NULL), 0);
	if (pi_combine(&mine, MPI_COMM_WORLD) < 0) {
		mpz_t a, b;

		assert_int_equal(rank, 0);
		pi_partial_init(&whole);
		assert_int_equal(pi_series_compute(&whole, 0, terms, false, NULL), 0);
		mpz_inits(a, b, NULL);
		mpz_mul(a, mine.Q, whole.T);
		mpz_mul(b, whole.Q, mine.T);
		assert_true(mpz_cmp(a, b) == 0);
		mpz_clears(a, b, NULL);
		pi_partial_clear(&whole);
	}
	pi_partial_clear(&mine);
	free(bounds);
}

/* pi_run's sink over collect. */
static pc_err collect_output(void *ctx, const void *buf, size_t len)
{
	return collect(ctx, buf, len) == 0 ? PC_OK : PC_ERANGE;
}

static void run_against_serial(uint64_t digits, unsigned guard)
{
	struct collect c;
	struct pi_run_hooks hooks = {collect_output, NULL, NULL, &c};
	struct pi_run_result res;
	char *serial;

	c.cap = digits + 3;
	c.len = 0;
	c.buf = malloc(c.cap);
	assert_non_null(c.buf);
	assert_int_equal(pi_run(digits, guard, &hooks, MPI_COMM_WORLD, &res), PC_OK);
	if (rank == 0) {
		assert_int_equal(pi_serial_digits(&serial, digits, 0), 0);
		assert_int_equal(c.len, digits + 3);
		assert_memory_equal(c.buf, serial, digits + 3);
		free(serial);
	}
	free(c.buf);
}

static void test_run_equals_serial(void **unused)
{
	static const uint64_t digits[] = {1, 13, 100, 1000, 54321, 250000};

	for (size_t i = 0; i < sizeof(digits) / sizeof(digits[0]); i++)
		run_against_serial(digits[i], 12);
	/* The Feynman point: 3 guard digits read 999 after decimal 761, forcing a rerun. */
	run_against_serial(761, 3);
}

/* A sink that takes `room` bytes, then fails like a full disk, and counts calls after that. */
struct full_sink {
	size_t room, took;
	unsigned calls_after;
};

static pc_err fill_up(void *ctx, const void *buf, size_t len)
{
	struct full_sink *f = ctx;

	if (f->took >= f->room) {
		f->calls_after++;
		return PC_ENOSPACE;
	}
	f->took += len;
	return PC_OK;
}

/* The sink's own error comes back from pi_run on rank 0 (the other ranks finish with PC_OK),
 * and no byte is offered to the sink after its failure. */
static void test_run_returns_sink_error(void **unused)
{
	struct full_sink f = {.room = 1000};
	struct pi_run_hooks hooks = {fill_up, NULL, NULL, &f};
	struct pi_run_result res;
	pc_err err;

	err = pi_run(200000, 12, &hooks, MPI_COMM_WORLD, &res);
	if (rank == 0) {
		assert_int_equal(err, PC_ENOSPACE);
		assert_int_equal(f.calls_after, 1);
	} else {
		assert_int_equal(err, PC_OK);
	}
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_chunk_arithmetic),
	    cmocka_unit_test(test_mpz_round_trip),
	    cmocka_unit_test(test_mpz_round_trip_small_chunks),
	    cmocka_unit_test(test_bytes_stream),
	    cmocka_unit_test(test_combine_equals_serial),
	    cmocka_unit_test(test_run_equals_serial),
	    cmocka_unit_test(test_run_returns_sink_error),
	};
	int failed;

	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	failed = cmocka_run_group_tests(tests, NULL, NULL);
	/* A failed assertion on one rank can leave the others waiting: end them all. */
	if (failed != 0)
		MPI_Abort(MPI_COMM_WORLD, 1);
	MPI_Finalize();
	return 0;
}
