/* test_sink.h - an objstore_sink that collects a read into a caller's buffer, for tests. */
#ifndef PICLUSTER_TEST_SINK_H
#define PICLUSTER_TEST_SINK_H

#include <stddef.h>

#include "picluster/error.h"

/* The buffer is the caller's (borrowed); len, calls and max_chunk start at 0. */
struct test_sink {
	unsigned char *buf;
	size_t len, cap;
	size_t calls, max_chunk; /* how the read was chunked */
};

/* Appends to ctx (a struct test_sink); PC_ERANGE when the bytes would pass cap. */
pc_err test_sink_collect(void *ctx, const void *buf, size_t len);

#endif
