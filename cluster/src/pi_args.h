/* pi_args.h - pi-compute's command line. */
#ifndef PI_ARGS_H
#define PI_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The largest --digits accepted: beyond it the numbers outgrow any machine's memory (and
 * GMP's size fields). */
#define PI_ARGS_MAX_DIGITS 100000000000ULL

/* --redis-retry: the default and the largest value (a day) in seconds. */
#define PI_ARGS_REDIS_RETRY_DEFAULT 120
#define PI_ARGS_REDIS_RETRY_MAX	    86400

/* --heartbeat-ms: a pool worker's heartbeat TTL, its default and range (ms). */
#define PI_ARGS_HEARTBEAT_DEFAULT_MS 3000
#define PI_ARGS_HEARTBEAT_MIN_MS     300
#define PI_ARGS_HEARTBEAT_MAX_MS     600000

/* Room for a --redis URL without its password. */
#define PI_ARGS_URL_MAX 4352

struct pi_args {
	uint64_t digits;
	const char *output;	 /* PATH or "-"; NULL in job mode */
	const char *job_id;	 /* job mode: all three set */
	bool worker;		 /* worker mode (--worker): --redis and --store set, no --digits */
	const char *worker_name; /* --worker-name; NULL: "<host>:<pid>" (pi_worker.c) */
	unsigned heartbeat_ms;	 /* --heartbeat-ms: the heartbeat's TTL */
	const char *redis_url;	 /* never holds a password: points to redis_url_clean */
	const char *redis_password_file;
	char redis_url_clean[PI_ARGS_URL_MAX];
	const char *store_url;
	const char *key_prefix; /* NULL: the store's default */
	unsigned redis_retry_s; /* job and worker mode: how long each Redis call rides out an
				 * outage */
	bool redis_retry_set;
	bool timings;
	bool progress;
	bool help;
};

/* Outcome of parsing: run, print help and exit 0, or a usage error (exit 2). */
enum pi_args_result { PI_ARGS_OK, PI_ARGS_HELP, PI_ARGS_ERROR };

/*
 * Parses argv (argv[0] is the program). Accepts "--flag VALUE" and "--flag=VALUE". On
 * PI_ARGS_ERROR, err holds a one-line message naming the problem (no newline). Strings in
 * *out borrow from argv, except redis_url, which points into *out (do not copy the struct).
 * In job and worker mode the Redis password (from the --redis URL, or the first line of
 * --redis-password-file) is moved into the environment variable PICLUSTER_REDIS_PASSWORD,
 * where the store finds it, and redis_url is the URL without it, so that no message prints
 * it; without either, a PICLUSTER_REDIS_PASSWORD already set is used.
 */
enum pi_args_result pi_args_parse(struct pi_args *out, int argc, char **argv, char *err,
				  size_t errcap);

/* The usage text, for --help and after a usage error. */
const char *pi_args_usage(void);

#endif
