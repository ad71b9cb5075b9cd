/* test_sink.c - an objstore_sink that collects a read into a caller's buffer, for tests. */
#include "test_sink.h"

#include <string.h>

pc_err test_sink_collect(void *ctx, const void *buf, size_t len)
{
	struct test_sink *s = ctx;

	if (s->len + len > s->cap)
		return PC_ERANGE;
	memcpy(s->buf + s->len, buf, len);
	s->len += len;
	s->calls++;
	if (len > s->max_chunk)
		s->max_chunk = len;
	return PC_OK;
}
