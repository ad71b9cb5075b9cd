/* keys_cli.c - `pi-gateway key create|list|revoke`: the operator's command for API keys. */
#include "keys/keys.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "picluster/job.h"
#include "picluster/jobstore.h"

#define KEYS_REDIS_TIMEOUT_MS 5000

/* Exit statuses, as the contract states them. */
enum { EXIT_DONE = 0, EXIT_REDIS = 1, EXIT_USAGE = 2 };

enum keys_cmd { KEYS_CREATE, KEYS_LIST, KEYS_REVOKE };

/* What the command line asked for. */
struct keys_args {
	enum keys_cmd cmd;
	const char *name; /* create, revoke */
	struct api_key key;
	bool limits_given; /* --admin or a limit: create only */
	char redis_url[GW_CONFIG_STR_MAX];
	char password_file[GW_CONFIG_STR_MAX];
	char password[1024];
	char prefix[256];
	bool help;
};

void gw_keys_usage(FILE *out, const char *program)
{
	fprintf(out,
		"usage: %s key create NAME [--admin] [--max-queued N] [--max-running N]\n"
		"                  [--max-digits N] [--digits-per-day N] --redis URL [options]\n"
		"       %s key list --redis URL [options]\n"
		"       %s key revoke NAME --redis URL [options]\n"
		"Manages API keys in Redis. create prints the new secret (the only time it is\n"
		"shown; Redis keeps its SHA-256); list prints one line per key; revoke ends a key\n"
		"at once. NAME: 1-64 of A-Za-z0-9._-. Limits are positive integers; one left out\n"
		"is the gateway's global default. Options: --redis-password-file FILE,\n"
		"--key-prefix P (default picluster:); PICLUSTER_REDIS, PICLUSTER_KEY_PREFIX,\n"
		"PICLUSTER_REDIS_PASSWORD_FILE and PICLUSTER_REDIS_PASSWORD are read as by\n"
		"pi-gateway. Exit 0 done, 2 bad input, 1 Redis unreachable.\n",
		program, program, program);
}

/* A positive decimal number in [1, max]: digits only, no sign or spaces. */
static bool parse_limit(const char *s, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long x;

	if (!s || s[0] < '0' || s[0] > '9')
		return false;
	errno = 0;
	x = strtoull(s, &end, 10);
	if (errno || *end || x == 0 || x > max)
		return false;
	*out = x;
	return true;
}

static bool copy_arg(char *dst, size_t cap, const char *src)
{
	return (size_t)snprintf(dst, cap, "%s", src) < cap;
}

enum {
	OPT_ADMIN = 1,
	OPT_QUEUED,
	OPT_RUNNING,
	OPT_DIGITS,
	OPT_PER_DAY,
	OPT_REDIS,
	OPT_PASSWORD_FILE,
	OPT_PREFIX,
	OPT_HELP
};

static const struct option longopts[] = {
    {"admin", no_argument, NULL, OPT_ADMIN},
    {"max-queued", required_argument, NULL, OPT_QUEUED},
    {"max-running", required_argument, NULL, OPT_RUNNING},
    {"max-digits", required_argument, NULL, OPT_DIGITS},
    {"digits-per-day", required_argument, NULL, OPT_PER_DAY},
    {"redis", required_argument, NULL, OPT_REDIS},
    {"redis-password-file", required_argument, NULL, OPT_PASSWORD_FILE},
    {"key-prefix", required_argument, NULL, OPT_PREFIX},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
};

/* One flag into a. false with a message in err. */
static bool apply_flag(struct keys_args *a, int c, const char *v, char *err, size_t cap)
{
	uint64_t *limit = NULL;
	uint64_t max = UINT64_MAX;
	const char *flag = "";

	switch (c) {
	case OPT_ADMIN:
		a->key.admin = true;
		a->limits_given = true;
		return true;
	case OPT_HELP:
		a->help = true;
		return true;
	case OPT_REDIS:
		if (!copy_arg(a->redis_url, sizeof(a->redis_url), v))
			goto too_long;
		return true;
	case OPT_PASSWORD_FILE:
		if (!copy_arg(a->password_file, sizeof(a->password_file), v))
			goto too_long;
		return true;
	case OPT_PREFIX:
		if (!copy_arg(a->prefix, sizeof(a->prefix), v))
			goto too_long;
		return true;
	case OPT_QUEUED:
		limit = &a->key.max_queued;
		flag = "--max-queued";
		break;
	case OPT_RUNNING:
		limit = &a->key.max_running;
		flag = "--max-running";
		break;
	case OPT_DIGITS:
		limit = &a->key.max_digits;
		flag = "--max-digits";
		max = GW_MAX_DIGITS_LIMIT;
		break;
	case OPT_PER_DAY:
		limit = &a->key.digits_per_day;
		flag = "--digits-per-day";
		max = GW_DIGITS_PER_DAY_LIMIT;
		break;
	default:
		snprintf(err, cap, "unknown option");
		return false;
	}
	a->limits_given = true;
	if (!parse_limit(v, max, limit)) {
		snprintf(err, cap, "%s wants a whole number from 1 to %" PRIu64 ", not '%s'", flag,
			 max, v);
		return false;
	}
	return true;
too_long:
	snprintf(err, cap, "an option's value is too long");
	return false;
}

/* The environment's defaults (as pi-gateway reads them); flags override them. */
static bool apply_env(struct keys_args *a, char *err, size_t cap)
{
	const char *v;

	if ((v = getenv("PICLUSTER_REDIS")) && !apply_flag(a, OPT_REDIS, v, err, cap))
		return false;
	if ((v = getenv("PICLUSTER_REDIS_PASSWORD_FILE")) &&
	    !apply_flag(a, OPT_PASSWORD_FILE, v, err, cap))
		return false;
	if ((v = getenv("PICLUSTER_KEY_PREFIX")) && !apply_flag(a, OPT_PREFIX, v, err, cap))
		return false;
	return true;
}

/* argv[0] is "key", argv[1] the subcommand. false with a message in err. */
static bool parse_args(struct keys_args *a, int argc, char **argv, char *err, size_t cap)
{
	const char *sub = argc > 1 ? argv[1] : "";
	int c, n_pos;

	memset(a, 0, sizeof(*a));
	snprintf(a->prefix, sizeof(a->prefix), "%s", JOBSTORE_DEFAULT_PREFIX);
	if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0) {
		a->help = true;
		return true;
	}
	if (strcmp(sub, "create") == 0)
		a->cmd = KEYS_CREATE;
	else if (strcmp(sub, "list") == 0)
		a->cmd = KEYS_LIST;
	else if (strcmp(sub, "revoke") == 0)
		a->cmd = KEYS_REVOKE;
	else {
		snprintf(err, cap, "key: want create, list or revoke, not '%s' (try key --help)",
			 sub);
		return false;
	}
	if (!apply_env(a, err, cap))
		return false;

	optind = 0; /* GNU: full re-initialisation; operands may come between the flags */
	opterr = 0;
	while ((c = getopt_long(argc - 1, argv + 1, "h", longopts, NULL)) != -1) {
		if (c == 'h')
			c = OPT_HELP;
		if (c == '?' || c == ':') {
			/* optind counts in argv + 1: the element it just passed is argv[optind]. */
			snprintf(err, cap, "key %s: unknown option or missing value at '%s'", sub,
				 optind >= 1 && optind < argc ? argv[optind] : "?");
			return false;
		}
		if (!apply_flag(a, c, optarg, err, cap))
			return false;
	}
	if (a->help)
		return true;
	n_pos = argc - 1 - optind;
	if (a->cmd == KEYS_LIST ? n_pos != 0 : n_pos != 1) {
		snprintf(err, cap, "key %s: %s", sub,
			 a->cmd == KEYS_LIST ? "takes no NAME" : "wants exactly one NAME");
		return false;
	}
	if (a->cmd != KEYS_LIST) {
		a->name = argv[1 + optind];
		if (!jobstore_key_name_is_valid(a->name)) {
			snprintf(err, cap,
				 "key %s: NAME must be 1-%d of A-Za-z0-9._- (got '%.80s')", sub,
				 API_KEY_NAME_MAX, a->name);
			return false;
		}
		if (a->cmd == KEYS_CREATE)
			snprintf(a->key.name, sizeof(a->key.name), "%s", a->name);
	}
	if (a->cmd != KEYS_CREATE && a->limits_given) {
		snprintf(err, cap, "key %s: --admin and the limits belong to key create", sub);
		return false;
	}
	if (!a->redis_url[0]) {
		snprintf(err, cap, "key %s: --redis URL is required", sub);
		return false;
	}
	if (!a->prefix[0] || strlen(a->prefix) > 128) {
		snprintf(err, cap, "key %s: --key-prefix must be 1-128 characters", sub);
		return false;
	}
	if (gw_redis_password_take(a->redis_url, sizeof(a->redis_url), a->password_file,
				   a->password, sizeof(a->password), err, cap) != PC_OK)
		return false;
	return true;
}

/* Opens the store; the password travels through the environment, as in the gateway. 0, or
 * the exit status with the reason printed. */
static int open_store(struct keys_args *a, jobstore **st)
{
	pc_err rc;

	if (a->password[0] && setenv(JOBSTORE_PASSWORD_ENV, a->password, 1) != 0) {
		fprintf(stderr, "pi-gateway: cannot set %s: %s\n", JOBSTORE_PASSWORD_ENV,
			strerror(errno));
		return EXIT_REDIS;
	}
	explicit_bzero(a->password, sizeof(a->password));
	rc = jobstore_open(st, a->redis_url, a->prefix, KEYS_REDIS_TIMEOUT_MS);
	if (rc == PC_OK)
		return 0;
	if (rc == PC_EINVAL) {
		fprintf(stderr, "pi-gateway: malformed --redis %s or --key-prefix\n", a->redis_url);
		return EXIT_USAGE;
	}
	if (rc == PC_EAUTH)
		fprintf(stderr,
			"pi-gateway: Redis at %s refused the password, or wants one (give it in "
			"the URL, %s or --redis-password-file)\n",
			a->redis_url, JOBSTORE_PASSWORD_ENV);
	else
		fprintf(stderr, "pi-gateway: cannot reach Redis at %s: %s\n", a->redis_url,
			pc_strerror(rc));
	return EXIT_REDIS;
}

/* The exit status for a failed store call (the reason printed). */
static int store_failed(const struct keys_args *a, const char *what, pc_err rc)
{
	fprintf(stderr, "pi-gateway: %s: Redis at %s: %s\n", what, a->redis_url, pc_strerror(rc));
	return EXIT_REDIS;
}

static int run_create(struct keys_args *a, jobstore *st)
{
	char secret[GW_KEY_SECRET_LEN + 1];
	uint8_t hash[API_KEY_HASH_LEN];
	int status = EXIT_DONE;
	pc_err rc;

	a->key.created_at_ms = job_now_ms();
	if (gw_key_secret_new(secret) != PC_OK ||
	    gw_key_secret_hash(secret, strlen(secret), hash) != PC_OK) {
		fprintf(stderr, "pi-gateway: key create: no random bytes from the kernel\n");
		return EXIT_REDIS;
	}
	rc = jobstore_key_create(st, &a->key, hash);
	if (rc == PC_EEXISTS) {
		fprintf(stderr,
			"pi-gateway: key create: a key named '%s' exists (revoke it first)\n",
			a->name);
		status = EXIT_USAGE;
	} else if (rc != PC_OK) {
		status = store_failed(a, "key create", rc);
	} else if (printf("%s\n", secret) < 0 || fflush(stdout) != 0) {
		fprintf(stderr, "pi-gateway: key create: cannot write the secret: %s\n",
			strerror(errno));
		status = EXIT_REDIS;
	}
	explicit_bzero(secret, sizeof(secret));
	return status;
}

/* "N", or "default" for 0. */
static const char *limit_text(uint64_t v, char buf[24])
{
	if (!v)
		return "default";
	snprintf(buf, 24, "%" PRIu64, v);
	return buf;
}

static int run_list(const struct keys_args *a, jobstore *st)
{
	struct api_key *keys = NULL;
	char day[16], b[4][24];
	size_t n = 0;
	time_t now = time(NULL);
	struct tm tm;
	pc_err rc;

	gmtime_r(&now, &tm);
	strftime(day, sizeof(day), "%Y-%m-%d", &tm);
	rc = jobstore_key_list(st, &keys, &n);
	if (rc != PC_OK)
		return store_failed(a, "key list", rc);
	for (size_t i = 0; i < n; i++) {
		const struct api_key *k = &keys[i];
		uint64_t used = 0;

		rc = jobstore_key_usage(st, k->name, day, &used);
		if (rc != PC_OK)
			break;
		printf("%s admin=%s max_queued=%s max_running=%s max_digits=%s digits_per_day=%s "
		       "used_today=%" PRIu64 "\n",
		       k->name, k->admin ? "yes" : "no", limit_text(k->max_queued, b[0]),
		       limit_text(k->max_running, b[1]), limit_text(k->max_digits, b[2]),
		       limit_text(k->digits_per_day, b[3]), used);
	}
	free(keys);
	if (rc != PC_OK)
		return store_failed(a, "key list", rc);
	return fflush(stdout) == 0 ? EXIT_DONE : EXIT_REDIS;
}

static int run_revoke(const struct keys_args *a, jobstore *st)
{
	pc_err rc = jobstore_key_revoke(st, a->name);

	if (rc == PC_ENOTFOUND) {
		fprintf(stderr, "pi-gateway: key revoke: no key named '%s'\n", a->name);
		return EXIT_USAGE;
	}
	if (rc != PC_OK)
		return store_failed(a, "key revoke", rc);
	return EXIT_DONE;
}

int gw_keys_main(int argc, char **argv)
{
	static struct keys_args a; /* holds the password for a moment: off the stack */
	jobstore *st = NULL;
	char err[1024];
	int status;

	if (!parse_args(&a, argc, argv, err, sizeof(err))) {
		explicit_bzero(a.password, sizeof(a.password));
		fprintf(stderr, "pi-gateway: %s\n", err);
		return EXIT_USAGE;
	}
	if (a.help) {
		gw_keys_usage(stdout, "pi-gateway");
		return EXIT_DONE;
	}
	status = open_store(&a, &st);
	if (status)
		return status;
	switch (a.cmd) {
	case KEYS_CREATE:
		status = run_create(&a, st);
		break;
	case KEYS_LIST:
		status = run_list(&a, st);
		break;
	case KEYS_REVOKE:
		status = run_revoke(&a, st);
		break;
	}
	jobstore_free(st);
	return status;
}
