/* test_redis.h - a private redis-server for tests: free loopback port, temp dir, stop/restart. */
#ifndef PICLUSTER_TEST_REDIS_H
#define PICLUSTER_TEST_REDIS_H

#include <limits.h>
#include <stdbool.h>
#include <sys/types.h>

struct test_redis {
	pid_t pid;		      /* 0 while stopped */
	int port;		      /* 127.0.0.1 port, kept across restarts */
	char dir[PATH_MAX];	      /* temporary working directory (removed by test_redis_free) */
	char sock[PATH_MAX];	      /* unix socket path inside dir */
	char url[64];		      /* "redis://127.0.0.1:PORT" */
	char unix_url[PATH_MAX + 16]; /* "unix://<sock>" */
	bool aof;		      /* AOF with appendfsync always (test_redis_start_aof) */
	char password[128];	      /* requirepass (test_redis_start_auth); "" for none */
};

/*
 * Starts redis-server (found on PATH) on a free 127.0.0.1 port and a unix socket in a fresh
 * temporary directory, with persistence off, and waits until it answers PING. The server
 * gets SIGTERM if the test process dies first. Returns 0, or -1 with a message on stderr.
 */
int test_redis_start(struct test_redis *r);

/* The same with AOF on and appendfsync always, so that test_redis_kill and a restart on the
 * same port and directory lose no write (what pi-compute's outage tests need). */
int test_redis_start_aof(struct test_redis *r);

/* The same with `requirepass password` (kept across restarts): every client must AUTH.
 * The helpers here (PING, test_redis_command) authenticate themselves. */
int test_redis_start_auth(struct test_redis *r, const char *password);

/* kill -9 by PID and reap: no clean shutdown. Port and directory are kept for a restart. */
void test_redis_kill(struct test_redis *r);

/* Stops the server (SIGTERM by PID, then SIGKILL if it lingers) and reaps it; the port and
 * directory are kept for test_redis_restart. Safe to call when stopped. */
void test_redis_stop(struct test_redis *r);

/* Starts the server again on the same port and directory (after test_redis_stop); 0 or -1. */
int test_redis_restart(struct test_redis *r);

/* Stops the server and removes its directory. */
void test_redis_free(struct test_redis *r);

/* Runs one command (argc words) on the server from a fresh connection, for tests that look
 * at or change raw keys; returns 0 when it got a non-error reply. */
int test_redis_command(const struct test_redis *r, int argc, const char **argv);

#endif
