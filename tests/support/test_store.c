/* test_store.c - the jobstore tests' fixture (test_store.h). */
#include "test_store.h"

#include <stdio.h>
#include <string.h>

int test_store_start(struct test_store *t)
{
	struct timeval tv = {.tv_sec = 5};

	memset(t, 0, sizeof(*t));
	if (test_redis_start(&t->redis) != 0)
		return -1;
	if (jobstore_open(&t->st, t->redis.url, NULL, 2000) != PC_OK) {
		fprintf(stderr, "test_store: cannot open the store at %s\n", t->redis.url);
		return -1;
	}
	t->raw = redisConnectWithTimeout("127.0.0.1", t->redis.port, tv);
	if (!t->raw || t->raw->err) {
		fprintf(stderr, "test_store: no raw connection to port %d\n", t->redis.port);
		return -1;
	}
	return 0;
}

void test_store_free(struct test_store *t)
{
	jobstore_free(t->st);
	t->st = NULL;
	if (t->raw)
		redisFree(t->raw);
	t->raw = NULL;
	test_redis_free(&t->redis);
}

int test_store_flush(struct test_store *t)
{
	const char *argv[] = {"FLUSHALL"};

	return test_redis_command(&t->redis, 1, argv);
}
