/* test_store.h - the jobstore tests' fixture: a private redis-server, a store on it and a
 * plain hiredis connection for looking at keys directly. */
#ifndef PICLUSTER_TEST_STORE_H
#define PICLUSTER_TEST_STORE_H

#include <hiredis/hiredis.h>

#include "picluster/jobstore.h"
#include "test_redis.h"

struct test_store {
	struct test_redis redis;
	jobstore *st;	   /* default key prefix, 2 s timeout; owned here */
	redisContext *raw; /* owned here */
};

/* Starts the server, opens the store and the raw connection: 0, or -1 with a message on
 * stderr (then test_store_free still cleans up). */
int test_store_start(struct test_store *t);

/* Closes both connections, stops the server and removes its directory. */
void test_store_free(struct test_store *t);

/* FLUSHALL, between tests: 0 or -1. */
int test_store_flush(struct test_store *t);

#endif
