/* pi_args.c - parsing and checking pi-compute's command line. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pi_args.h"
#include "picluster/jobpool.h"
#include "picluster/jobstore.h"

const char *pi_args_usage(void)
{
	return "usage: pi-compute --digits N (--output PATH|- | --job-id ID --redis URL --store "
	       "URL)\n"
	       "                  [--key-prefix PREFIX] [--redis-retry SECONDS]\n"
	       "                  [--redis-password-file FILE] [--timings] [--progress] [--help]\n"
	       "       pi-compute --worker --redis URL --store URL [--key-prefix PREFIX]\n"
	       "                  [--worker-name NAME] [--heartbeat-ms N] [--redis-retry SECONDS]\n"
	       "                  [--redis-password-file FILE]\n"
	       "Writes \"3.\" and the first N decimals of pi (truncated) and a newline to PATH\n"
	       "(\"-\" for stdout), or reports job ID through Redis and stores the digits in the\n"
	       "object store. Run it under mpirun to use several ranks.\n"
	       "With --worker, runs jobs from the pool queue in Redis one at a time until SIGTERM\n"
	       "(which lets the current job finish); under mpirun or srun every rank is a worker.\n"
	       "  --worker-name NAME  the worker's name in Redis (default HOST:PID; a rank's\n"
	       "                      number is appended under mpirun or srun)\n"
	       "  --heartbeat-ms N    the worker's heartbeat lives N ms (default 3000), renewed\n"
	       "                      every N/3 ms; its jobs are recovered once it lapses\n"
	       "  --redis-retry SECONDS  job mode: each state change retries this long while\n"
	       "                         Redis is unreachable (default 120; 0: no retry)\n"
	       "  --redis-password-file FILE  job mode: the Redis password is FILE's first line\n"
	       "                         (else redis://:PASSWORD@HOST..., visible in ps, or the\n"
	       "                         environment variable PICLUSTER_REDIS_PASSWORD)\n"
	       "  --timings   phase times and every rank's peak memory on stderr\n"
	       "  --progress  share of the series work done, on stderr\n";
}

static int parse_digits(const char *s, uint64_t *out, char *err, size_t errcap)
{
	unsigned long long v;
	char *end;

	if (*s == '\0') {
		snprintf(err, errcap, "--digits: empty value");
		return -1;
	}
	if (*s == '-') {
		snprintf(err, errcap, "--digits: '%s' is negative; need an integer >= 1", s);
		return -1;
	}
	if (*s < '0' || *s > '9') {
		snprintf(err, errcap, "--digits: '%s' is not a positive integer", s);
		return -1;
	}
	errno = 0;
	v = strtoull(s, &end, 10);
	if (*end != '\0') {
		snprintf(err, errcap, "--digits: '%s' is not a positive integer", s);
		return -1;
	}
	if (errno == ERANGE || v > PI_ARGS_MAX_DIGITS) {
		snprintf(err, errcap, "--digits: '%s' is too large (at most %llu)", s,
			 PI_ARGS_MAX_DIGITS);
		return -1;
	}
	if (v == 0) {
		snprintf(err, errcap, "--digits: must be at least 1");
		return -1;
	}
	*out = v;
	return 0;
}

static int parse_retry(const char *s, unsigned *out, char *err, size_t errcap)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (*s < '0' || *s > '9' || *end != '\0' || errno == ERANGE ||
	    v > PI_ARGS_REDIS_RETRY_MAX) {
		snprintf(err, errcap, "--redis-retry: '%s' is not a number of seconds 0..%d", s,
			 PI_ARGS_REDIS_RETRY_MAX);
		return -1;
	}
	*out = (unsigned)v;
	return 0;
}

static int parse_heartbeat(const char *s, unsigned *out, char *err, size_t errcap)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (*out != 0) {
		snprintf(err, errcap, "--heartbeat-ms given twice");
		return -1;
	}
	if (*s < '0' || *s > '9' || *end != '\0' || errno == ERANGE ||
	    v < PI_ARGS_HEARTBEAT_MIN_MS || v > PI_ARGS_HEARTBEAT_MAX_MS) {
		snprintf(err, errcap, "--heartbeat-ms: '%s' is not a number of milliseconds %d..%d",
			 s, PI_ARGS_HEARTBEAT_MIN_MS, PI_ARGS_HEARTBEAT_MAX_MS);
		return -1;
	}
	*out = (unsigned)v;
	return 0;
}

/* Flags that take a value. */
static const char *const valued[] = {
    "--digits",	    "--output",	     "--job-id",      "--redis",	"--store",
    "--key-prefix", "--redis-retry", "--worker-name", "--heartbeat-ms", "--redis-password-file"};

static int is_valued(const char *name, size_t len)
{
	for (size_t i = 0; i < sizeof(valued) / sizeof(valued[0]); i++)
		if (strlen(valued[i]) == len && strncmp(valued[i], name, len) == 0)
			return 1;
	return 0;
}

static int set_value(struct pi_args *a, const char *name, const char *v, char *err, size_t errcap)
{
	const char **slot = NULL;

	if (strcmp(name, "--digits") == 0) {
		if (a->digits != 0) {
			snprintf(err, errcap, "--digits given twice");
			return -1;
		}
		return parse_digits(v, &a->digits, err, errcap);
	}
	if (strcmp(name, "--redis-retry") == 0) {
		if (a->redis_retry_set) {
			snprintf(err, errcap, "--redis-retry given twice");
			return -1;
		}
		a->redis_retry_set = true;
		return parse_retry(v, &a->redis_retry_s, err, errcap);
	}
	if (strcmp(name, "--heartbeat-ms") == 0)
		return parse_heartbeat(v, &a->heartbeat_ms, err, errcap);
	if (strcmp(name, "--output") == 0)
		slot = &a->output;
	else if (strcmp(name, "--worker-name") == 0)
		slot = &a->worker_name;
	else if (strcmp(name, "--job-id") == 0)
		slot = &a->job_id;
	else if (strcmp(name, "--redis") == 0)
		slot = &a->redis_url;
	else if (strcmp(name, "--store") == 0)
		slot = &a->store_url;
	else if (strcmp(name, "--redis-password-file") == 0)
		slot = &a->redis_password_file;
	else
		slot = &a->key_prefix;
	if (*slot != NULL) {
		snprintf(err, errcap, "%s given twice", name);
		return -1;
	}
	if (*v == '\0') {
		snprintf(err, errcap, "%s: empty value", name);
		return -1;
	}
	*slot = v;
	return 0;
}

/* Worker mode: --redis and --store, nothing of one computation. */
static int check_worker(const struct pi_args *a, char *err, size_t errcap)
{
	if (a->digits != 0 || a->output != NULL || a->job_id != NULL || a->timings || a->progress) {
		snprintf(err, errcap,
			 "--worker takes its jobs from Redis: no --digits, --output, "
			 "--job-id, --timings or --progress");
		return -1;
	}
	if (a->redis_url == NULL || a->store_url == NULL) {
		snprintf(err, errcap, "--worker needs --redis and --store");
		return -1;
	}
	if (a->worker_name != NULL && !jobpool_worker_name_is_valid(a->worker_name)) {
		snprintf(err, errcap, "--worker-name: '%s' is not 1..%d of [A-Za-z0-9._:-]",
			 a->worker_name, JOBPOOL_WORKER_MAX);
		return -1;
	}
	return 0;
}

static int check(const struct pi_args *a, char *err, size_t errcap)
{
	int job_parts = (a->job_id != NULL) + (a->redis_url != NULL) + (a->store_url != NULL);

	if (a->worker)
		return check_worker(a, err, errcap);
	if (a->worker_name != NULL || a->heartbeat_ms != 0) {
		snprintf(err, errcap, "--worker-name and --heartbeat-ms only apply with --worker");
		return -1;
	}
	if (a->digits == 0) {
		snprintf(err, errcap, "missing --digits N");
		return -1;
	}
	if (a->output != NULL && job_parts > 0) {
		snprintf(err, errcap, "--output cannot be combined with --job-id/--redis/--store");
		return -1;
	}
	if (a->output == NULL && job_parts == 0) {
		snprintf(err, errcap, "missing --output PATH (or --job-id, --redis and --store)");
		return -1;
	}
	if (a->output == NULL && job_parts != 3) {
		snprintf(err, errcap, "job mode needs all of --job-id, --redis and --store");
		return -1;
	}
	if (a->key_prefix != NULL && a->job_id == NULL) {
		snprintf(err, errcap, "--key-prefix only applies with --job-id");
		return -1;
	}
	if (a->redis_retry_set && a->job_id == NULL) {
		snprintf(err, errcap, "--redis-retry only applies with --job-id");
		return -1;
	}
	if (a->redis_password_file != NULL && a->job_id == NULL) {
		snprintf(err, errcap, "--redis-password-file only applies with --job-id");
		return -1;
	}
	return 0;
}

/*
 * Job mode: takes the password out of --redis (or reads --redis-password-file) into the
 * environment, where the store looks when the URL has none; only rank 0 connects, and every
 * rank parses, so each one does this the same way.
 */
static int take_password(struct pi_args *a, char *err, size_t errcap)
{
	char pw[1024], why[PI_ARGS_URL_MAX + 128];
	int rc = -1;

	if (jobstore_url_split_password(a->redis_url, a->redis_url_clean,
					sizeof(a->redis_url_clean), pw, sizeof(pw), why,
					sizeof(why)) != PC_OK) {
		/* why never quotes the URL: it may hold the password. */
		snprintf(err, errcap, "--redis: %s", why);
		goto out_clear;
	}
	if (a->redis_password_file != NULL) {
		if (pw[0] != '\0') {
			snprintf(err, errcap,
				 "--redis-password-file and a password in --redis: give one");
			goto out_clear;
		}
		if (jobstore_password_file_read(a->redis_password_file, pw, sizeof(pw), why,
						sizeof(why)) != PC_OK) {
			snprintf(err, errcap, "--redis-password-file: %s", why);
			goto out_clear;
		}
	}
	if (pw[0] != '\0' && setenv(JOBSTORE_PASSWORD_ENV, pw, 1) != 0) {
		snprintf(err, errcap, "cannot set %s: %s", JOBSTORE_PASSWORD_ENV, strerror(errno));
		goto out_clear;
	}
	a->redis_url = a->redis_url_clean;
	rc = 0;
out_clear:
	explicit_bzero(pw, sizeof(pw));
	return rc;
}

enum pi_args_result pi_args_parse(struct pi_args *out, int argc, char **argv, char *err,
				  size_t errcap)
{
	memset(out, 0, sizeof(*out));
	out->redis_retry_s = PI_ARGS_REDIS_RETRY_DEFAULT;
	if (errcap > 0)
		err[0] = '\0';
	/* --help wins wherever it stands, even beside a malformed flag. */
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			out->help = true;
			return PI_ARGS_HELP;
		}
	}
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i], *eq = strchr(arg, '=');
		size_t name_len = eq != NULL ? (size_t)(eq - arg) : strlen(arg);
		char name[32];

		if (strcmp(arg, "--timings") == 0) {
			out->timings = true;
			continue;
		}
		if (strcmp(arg, "--progress") == 0) {
			out->progress = true;
			continue;
		}
		if (strcmp(arg, "--worker") == 0) {
			out->worker = true;
			continue;
		}
		if (strncmp(arg, "--", 2) != 0 || !is_valued(arg, name_len)) {
			snprintf(err, errcap, "unknown argument '%s'", arg);
			return PI_ARGS_ERROR;
		}
		snprintf(name, sizeof(name), "%.*s", (int)name_len, arg);
		if (eq != NULL) {
			if (set_value(out, name, eq + 1, err, errcap) != 0)
				return PI_ARGS_ERROR;
			continue;
		}
		if (i + 1 >= argc) {
			snprintf(err, errcap, "%s needs a value", name);
			return PI_ARGS_ERROR;
		}
		if (set_value(out, name, argv[++i], err, errcap) != 0)
			return PI_ARGS_ERROR;
	}
	if (check(out, err, errcap) != 0)
		return PI_ARGS_ERROR;
	if ((out->job_id != NULL || out->worker) && take_password(out, err, errcap) != 0)
		return PI_ARGS_ERROR;
	if (out->worker && out->heartbeat_ms == 0)
		out->heartbeat_ms = PI_ARGS_HEARTBEAT_DEFAULT_MS;
	return PI_ARGS_OK;
}
