/* config.c - parses pi-gateway's flags and PICLUSTER_* environment variables into gw_config. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "picluster/jobstore.h"
#include "sched/scheduler.h"

enum opt_kind {
	OPT_STR,
	OPT_UINT,
	OPT_U64,
	OPT_LISTEN,
	OPT_SCHED,
	OPT_DOWNLOAD,
	OPT_PROXIES,
	OPT_AUTH,
	OPT_BOOL,
	OPT_HELP
};

/* One flag: its name, what its value is, where it goes, and the accepted range. */
struct opt {
	const char *name;
	enum opt_kind kind;
	size_t offset; /* into struct gw_config */
	size_t size;   /* of the target member (strings: buffer size) */
	uint64_t min, max;
	const char *help;
};

#define STR_OPT(n, member, h)                                        \
	{                                                            \
		n, OPT_STR, offsetof(struct gw_config, member),      \
		    sizeof(((struct gw_config *)0)->member), 0, 0, h \
	}
#define NUM_OPT(n, kind, member, lo, hi, h)                            \
	{                                                              \
		n, kind, offsetof(struct gw_config, member),           \
		    sizeof(((struct gw_config *)0)->member), lo, hi, h \
	}

static const struct opt opts[] = {
    {"listen", OPT_LISTEN, 0, 0, 0, 0, "address to bind (default 127.0.0.1:8080)"},
    STR_OPT("redis", redis_url,
	    "redis://[:PASSWORD@]HOST:PORT[/DB] or unix://[:PASSWORD@]/path.sock[?db=N]"),
    STR_OPT("redis-password-file", redis_password_file,
	    "the Redis password is this file's first line (default: none, or "
	    "PICLUSTER_REDIS_PASSWORD)"),
    STR_OPT("store", store_url, "object store: file:///absolute/dir or s3://BUCKET/PREFIX?..."),
    {"scheduler", OPT_SCHED, 0, 0, 0, 0, "local | none | slurm (default local)"},
    NUM_OPT("ranks", OPT_UINT, ranks, 1, 4096, "MPI ranks per job (default 2)"),
    NUM_OPT("max-digits", OPT_U64, max_digits, 1, GW_MAX_DIGITS_LIMIT,
	    "largest accepted digits (default 100000000)"),
    NUM_OPT("max-queued", OPT_U64, max_queued, 0, UINT64_MAX,
	    "created+queued jobs before POST answers 429 (default 10000; 0: no limit)"),
    NUM_OPT("max-running", OPT_UINT, max_running, 1, 65536,
	    "local scheduler: jobs running at once (default 2)"),
    NUM_OPT("pool-max-digits", OPT_U64, pool_max_digits, 0, GW_MAX_DIGITS_LIMIT,
	    "jobs of at most N digits go to the warm workers while one is alive (default "
	    "1000000; 0: none do)"),
    NUM_OPT("pool-workers", OPT_UINT, pool_workers, 0, GW_POOL_WORKERS_MAX,
	    "local scheduler: warm `pi-compute --worker` processes to keep running (default: "
	    "the number of cores; 0: none)"),
    NUM_OPT("digits-per-day", OPT_U64, digits_per_day, 0, GW_DIGITS_PER_DAY_LIMIT,
	    "digits one API key may submit per UTC day, unless its own limit says otherwise "
	    "(default 10000000000; 0: no limit)"),
    STR_OPT("key-prefix", key_prefix, "Redis key prefix (default picluster:)"),
    STR_OPT("instance", instance, "name of this submitter's processing list (default HOSTNAME)"),
    {"auth", OPT_AUTH, 0, 0, 0, 0,
     "keys | none (default keys): keys wants an API key on every route but /healthz"},
    {"metrics-public", OPT_BOOL, offsetof(struct gw_config, metrics_public), 0, 0, 0,
     "GET /metrics without an admin key (environment: 1 or 0)"},
    {"download", OPT_DOWNLOAD, 0, 0, 0, 0, "proxy | redirect (default proxy)"},
    NUM_OPT("presign-expiry", OPT_UINT, presign_expiry, 1, 604800,
	    "seconds a redirect URL stays valid (default 900)"),
    NUM_OPT("result-ttl", OPT_U64, result_ttl_s, 0, GW_TTL_MAX_S,
	    "seconds after finished_at until a result is deleted (default 604800; 0: never)"),
    NUM_OPT("job-ttl", OPT_U64, job_ttl_s, 0, GW_TTL_MAX_S,
	    "seconds after a job ended until its record is deleted (default 2592000; 0: never)"),
    NUM_OPT("http-threads", OPT_UINT, http_threads, 2, 1024,
	    "HTTP worker threads, one keep-alive connection each (default 64)"),
    NUM_OPT("request-timeout", OPT_UINT, request_timeout_ms, 100, 3600000,
	    "ms a client may stall while sending a request or reading an answer (default "
	    "10000)"),
    NUM_OPT("keep-alive-timeout", OPT_UINT, keep_alive_timeout_ms, 0, 3600000,
	    "ms an idle keep-alive connection is kept (default 2000)"),
    {"trusted-proxy", OPT_PROXIES, 0, 0, 0, 0,
     "front addresses whose X-Forwarded-For names the client (default: none)"},
    STR_OPT("state-dir", state_dir, "folder for compute logs (default: none, logs go to stderr)"),
    STR_OPT("slurm-partition", slurm_partition, "slurm: partition (default: cluster default)"),
    STR_OPT("slurm-time", slurm_time, "slurm: time limit (default: the script's)"),
    STR_OPT("slurm-account", slurm_account, "slurm: account"),
    STR_OPT("slurm-args", slurm_args, "slurm: extra sbatch arguments, split on spaces"),
    STR_OPT("slurm-script", slurm_script, "slurm: batch script (default: slurm/pi.sbatch)"),
    {"help", OPT_HELP, 0, 0, 0, 0, "print this help and exit"},
};
#define N_OPTS (sizeof(opts) / sizeof(opts[0]))

/* The placeholder for a flag's value in --help. */
static const char *metavar(const struct opt *o)
{
	switch (o->kind) {
	case OPT_UINT:
	case OPT_U64:
		if (strstr(o->name, "ttl"))
			return "SECONDS";
		return strstr(o->name, "timeout") ? "MS" : "N";
	case OPT_LISTEN:
		return "IPV4:PORT";
	case OPT_SCHED:
		return "NAME";
	case OPT_DOWNLOAD:
		return "MODE";
	case OPT_PROXIES:
		return "IPV4[,IPV4...]";
	case OPT_AUTH:
		return "MODE";
	case OPT_BOOL:
	case OPT_HELP:
		return "";
	case OPT_STR:
		break;
	}
	if (strcmp(o->name, "redis") == 0 || strcmp(o->name, "store") == 0)
		return "URL";
	if (strcmp(o->name, "state-dir") == 0)
		return "DIR";
	if (strcmp(o->name, "redis-password-file") == 0)
		return "FILE";
	if (strcmp(o->name, "slurm-script") == 0)
		return "PATH";
	if (strcmp(o->name, "slurm-args") == 0)
		return "'ARGS'";

	return "TEXT";
}

void gw_config_usage(FILE *out, const char *program)
{
	fprintf(out,
		"usage: %s --store URL [options]\n"
		"Serves the picluster job API over HTTP. Every flag can also be set with the\n"
		"environment variable PICLUSTER_<NAME> (e.g. PICLUSTER_MAX_QUEUED); flags win.\n\n",
		program);
	for (size_t i = 0; i < N_OPTS; i++) {
		char flag[64];

		snprintf(flag, sizeof(flag), "--%s%s%s", opts[i].name,
			 opts[i].kind == OPT_HELP || opts[i].kind == OPT_BOOL ? "" : " ",
			 metavar(&opts[i]));
		fprintf(out, "  %-28s %s\n", flag, opts[i].help);
	}
}

static void set_defaults(struct gw_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	snprintf(cfg->listen, sizeof(cfg->listen), "127.0.0.1:8080");
	snprintf(cfg->listen_host, sizeof(cfg->listen_host), "127.0.0.1");
	cfg->listen_port = 8080;
	snprintf(cfg->redis_url, sizeof(cfg->redis_url), "redis://127.0.0.1:6379");
	snprintf(cfg->scheduler, sizeof(cfg->scheduler), "local");
	cfg->ranks = 2;
	cfg->max_digits = 100000000;
	cfg->max_queued = 10000;
	cfg->max_running = 2;
	cfg->pool_max_digits = 1000000;
	cfg->pool_workers = GW_POOL_WORKERS_UNSET;
	cfg->digits_per_day = 10000000000ULL;
	snprintf(cfg->key_prefix, sizeof(cfg->key_prefix), "%s", JOBSTORE_DEFAULT_PREFIX);
	cfg->download = GW_DOWNLOAD_PROXY;
	cfg->auth = GW_AUTH_KEYS;
	cfg->presign_expiry = 900;
	cfg->result_ttl_s = 604800; /* 7 days */
	cfg->job_ttl_s = 2592000;   /* 30 days */
	cfg->http_threads = 64;
	cfg->request_timeout_ms = 10000;
	cfg->keep_alive_timeout_ms = 2000;
}

/* Parses a decimal unsigned number in [min, max]: digits only, no sign, no spaces. */
static pc_err parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!s[0] || s[0] < '0' || s[0] > '9')
		return PC_EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno == ERANGE)
		return PC_ERANGE;
	if (errno || *end)
		return PC_EINVAL;
	if (v < min || v > max)
		return PC_ERANGE;
	*out = v;
	return PC_OK;
}

/* HOST:PORT with HOST a numeric IPv4 address (civetweb here has no IPv6) and PORT 0..65535. */
static pc_err parse_listen(struct gw_config *cfg, const char *value)
{
	const char *colon = strrchr(value, ':');
	char host[64];
	struct in_addr addr;
	uint64_t port;
	size_t hlen;

	if (!colon)
		return PC_EINVAL;
	hlen = (size_t)(colon - value);
	if (hlen == 0 || hlen >= sizeof(host))
		return PC_EINVAL;
	memcpy(host, value, hlen);
	host[hlen] = '\0';
	if (strcmp(host, "localhost") == 0)
		snprintf(host, sizeof(host), "127.0.0.1");
	if (inet_pton(AF_INET, host, &addr) != 1)
		return PC_EINVAL;
	if (parse_u64(colon + 1, 0, 65535, &port) != PC_OK)
		return PC_EINVAL;
	if (strlen(value) >= sizeof(cfg->listen))
		return PC_EINVAL;
	snprintf(cfg->listen, sizeof(cfg->listen), "%s", value);
	snprintf(cfg->listen_host, sizeof(cfg->listen_host), "%s", host);
	cfg->listen_port = (unsigned)port;
	return PC_OK;
}

/* A comma-separated list of numeric IPv4 addresses, at most GW_MAX_TRUSTED_PROXIES; "" is none. */
static pc_err parse_proxies(struct gw_config *cfg, const char *value)
{
	const char *p = value;
	unsigned n = 0;

	if (strlen(value) >= sizeof(cfg->trusted_proxy))
		return PC_EINVAL;
	while (*p) {
		char addr[INET_ADDRSTRLEN];
		size_t len = strcspn(p, ",");

		if (len == 0 || len >= sizeof(addr) || n == GW_MAX_TRUSTED_PROXIES)
			return PC_EINVAL;
		memcpy(addr, p, len);
		addr[len] = '\0';
		if (inet_pton(AF_INET, addr, &cfg->trusted[n]) != 1)
			return PC_EINVAL;
		n++;
		p += len;
		if (*p == ',' && *++p == '\0')
			return PC_EINVAL;
	}
	cfg->n_trusted = n;
	snprintf(cfg->trusted_proxy, sizeof(cfg->trusted_proxy), "%s", value);
	return PC_OK;
}

/* Applies one flag's value; origin names where it came from, for the message. */
static pc_err apply(struct gw_config *cfg, const struct opt *o, const char *value,
		    const char *origin, char *err, size_t err_cap)
{
	char *base = (char *)cfg;
	uint64_t v;
	pc_err rc;

	switch (o->kind) {
	case OPT_HELP:
		cfg->help = true;
		return PC_OK;
	case OPT_STR:
		if (strlen(value) >= o->size) {
			snprintf(err, err_cap, "%s: value of --%s is too long (at most %zu bytes)",
				 origin, o->name, o->size - 1);
			return PC_EINVAL;
		}
		snprintf(base + o->offset, o->size, "%s", value);
		return PC_OK;
	case OPT_UINT:
	case OPT_U64:
		rc = parse_u64(value, o->min, o->max, &v);
		if (rc != PC_OK) {
			snprintf(err, err_cap,
				 "%s: --%s wants a whole number from %llu to %llu, not '%s'",
				 origin, o->name, (unsigned long long)o->min,
				 (unsigned long long)o->max, value);
			return PC_EINVAL;
		}
		if (o->kind == OPT_UINT)
			*(unsigned *)(void *)(base + o->offset) = (unsigned)v;
		else
			*(uint64_t *)(void *)(base + o->offset) = v;
		return PC_OK;
	case OPT_LISTEN:
		if (parse_listen(cfg, value) != PC_OK) {
			snprintf(err, err_cap,
				 "%s: --listen wants IPV4:PORT (e.g. 127.0.0.1:8080), not '%s'",
				 origin, value);
			return PC_EINVAL;
		}
		return PC_OK;
	case OPT_SCHED:
		if (!sched_known(value)) {
			char names[64];

			sched_known_names(names, sizeof(names));
			snprintf(err, err_cap, "%s: --scheduler wants %s, not '%s'", origin, names,
				 value);
			return PC_EINVAL;
		}
		snprintf(cfg->scheduler, sizeof(cfg->scheduler), "%s", value);
		return PC_OK;
	case OPT_DOWNLOAD:
		if (strcmp(value, "proxy") == 0) {
			cfg->download = GW_DOWNLOAD_PROXY;
		} else if (strcmp(value, "redirect") == 0) {
			cfg->download = GW_DOWNLOAD_REDIRECT;
		} else {
			snprintf(err, err_cap, "%s: --download wants proxy or redirect, not '%s'",
				 origin, value);
			return PC_EINVAL;
		}
		return PC_OK;
	case OPT_AUTH:
		if (strcmp(value, "keys") == 0) {
			cfg->auth = GW_AUTH_KEYS;
		} else if (strcmp(value, "none") == 0) {
			cfg->auth = GW_AUTH_NONE;
		} else {
			snprintf(err, err_cap, "%s: --auth wants keys or none, not '%s'", origin,
				 value);
			return PC_EINVAL;
		}
		return PC_OK;
	case OPT_BOOL:
		/* On the command line the flag alone means yes (value NULL); the environment
		 * says 1 or 0. */
		if (!value || strcmp(value, "1") == 0) {
			*(bool *)(void *)(base + o->offset) = true;
		} else if (strcmp(value, "0") == 0) {
			*(bool *)(void *)(base + o->offset) = false;
		} else {
			snprintf(err, err_cap, "%s: --%s wants 1 or 0, not '%s'", origin, o->name,
				 value);
			return PC_EINVAL;
		}
		return PC_OK;
	case OPT_PROXIES:
		if (parse_proxies(cfg, value) != PC_OK) {
			snprintf(err, err_cap,
				 "%s: --trusted-proxy wants numeric IPv4 addresses separated by "
				 "commas (at most %d), not '%s'",
				 origin, GW_MAX_TRUSTED_PROXIES, value);
			return PC_EINVAL;
		}
		return PC_OK;
	}
	return PC_EINVAL;
}

pc_err gw_redis_password_take(char *redis_url, size_t url_cap, const char *password_file,
			      char *password, size_t password_cap, char *err, size_t err_cap)
{
	char clean[GW_CONFIG_STR_MAX], why[GW_CONFIG_STR_MAX + 128];
	const char *env;
	pc_err rc;

	password[0] = '\0';
	rc = jobstore_url_split_password(redis_url, clean, sizeof(clean), password, password_cap,
					 why, sizeof(why));
	if (rc != PC_OK) {
		snprintf(err, err_cap, "--redis: %s", rc == PC_ERANGE ? "password too long" : why);
		return PC_EINVAL;
	}
	snprintf(redis_url, url_cap, "%s", clean);
	if (password_file && password_file[0]) {
		if (password[0]) {
			snprintf(err, err_cap,
				 "--redis-password-file and a password in --redis: give one");
			rc = PC_EINVAL;
			goto out_clear;
		}
		rc = jobstore_password_file_read(password_file, password, password_cap, why,
						 sizeof(why));
		if (rc != PC_OK) {
			snprintf(err, err_cap, "--redis-password-file: %s", why);
			rc = PC_EINVAL;
			goto out_clear;
		}
	}
	env = getenv(JOBSTORE_PASSWORD_ENV);
	if (!password[0] && env && env[0] &&
	    snprintf(password, password_cap, "%s", env) >= (int)password_cap) {
		snprintf(err, err_cap, "%s: password too long", JOBSTORE_PASSWORD_ENV);
		rc = PC_EINVAL;
	}
out_clear:
	if (rc != PC_OK)
		explicit_bzero(password, password_cap);
	return rc;
}

bool gw_config_listen_is_loopback(const struct gw_config *cfg)
{
	struct in_addr a;

	return inet_pton(AF_INET, cfg->listen_host, &a) == 1 && (ntohl(a.s_addr) >> 24) == 127;
}

/* "max-queued" -> "PICLUSTER_MAX_QUEUED". */
static void env_name(const char *flag, char *out, size_t cap)
{
	size_t n = (size_t)snprintf(out, cap, "PICLUSTER_");

	for (; *flag && n + 1 < cap; flag++, n++)
		out[n] =
		    *flag == '-' ? '_' : (char)(*flag >= 'a' && *flag <= 'z' ? *flag - 32 : *flag);
	out[n] = '\0';
}

/* The default instance name: the host name, so a restart on another port still owns its
 * processing list (one submitting gateway per host by default; more need --instance). */
static void default_instance(struct gw_config *cfg)
{
	char host[128];

	if (gethostname(host, sizeof(host)) != 0)
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	snprintf(cfg->instance, sizeof(cfg->instance), "%.64s", host);
}

/*
 * --pool-workers not given: the number of online cores beside the local scheduler (the
 * workers compute there), 0 elsewhere or when --pool-max-digits 0 sends nothing to the pool.
 * Given: only the local scheduler starts workers; a Slurm site starts its pools with sbatch.
 */
static pc_err resolve_pool_workers(struct gw_config *cfg, char *err, size_t err_cap)
{
	bool local = strcmp(cfg->scheduler, "local") == 0;
	long cores;

	if (cfg->pool_workers == GW_POOL_WORKERS_UNSET) {
		cores = sysconf(_SC_NPROCESSORS_ONLN);
		if (cores < 1)
			cores = 1;
		if (cores > GW_POOL_WORKERS_MAX)
			cores = GW_POOL_WORKERS_MAX;
		cfg->pool_workers = local && cfg->pool_max_digits ? (unsigned)cores : 0;
		return PC_OK;
	}
	if (cfg->pool_workers && !local) {
		snprintf(err, err_cap,
			 "--pool-workers %u: only a gateway with --scheduler local starts pool "
			 "workers; with %s give 0 or leave it out (a Slurm cluster starts a pool "
			 "with sbatch slurm/pi-pool.sbatch)",
			 cfg->pool_workers, cfg->scheduler);
		return PC_EINVAL;
	}
	return PC_OK;
}

pc_err gw_config_parse(struct gw_config *cfg, int argc, char **argv, char *err, size_t err_cap)
{
	struct option longopts[N_OPTS + 1];
	char name[64], origin[96];
	int c, idx;

	set_defaults(cfg);
	err[0] = '\0';
	for (size_t i = 0; i < N_OPTS; i++) {
		const char *value;

		if (opts[i].kind == OPT_HELP)
			continue;
		env_name(opts[i].name, name, sizeof(name));
		value = getenv(name);
		if (!value)
			continue;
		snprintf(origin, sizeof(origin), "environment variable %s", name);
		if (apply(cfg, &opts[i], value, origin, err, err_cap) != PC_OK)
			return PC_EINVAL;
	}

	for (size_t i = 0; i < N_OPTS; i++) {
		longopts[i].name = opts[i].name;
		longopts[i].has_arg = opts[i].kind == OPT_HELP || opts[i].kind == OPT_BOOL
					  ? no_argument
					  : required_argument;
		longopts[i].flag = NULL;
		longopts[i].val = 0;
	}
	memset(&longopts[N_OPTS], 0, sizeof(longopts[N_OPTS]));

	optind = 0; /* GNU: full re-initialisation, so the parser can run more than once */
	opterr = 0;
	for (;;) {
		idx = -1;
		c = getopt_long(argc, argv, "h", longopts, &idx);
		if (c == -1)
			break;
		if (c == 'h') {
			cfg->help = true;
			continue;
		}
		if (c != 0 || idx < 0) {
			const char *bad = optind > 0 && optind <= argc ? argv[optind - 1] : "?";

			snprintf(err, err_cap,
				 "unknown option or missing value at '%s' (try --help)", bad);
			return PC_EINVAL;
		}
		snprintf(origin, sizeof(origin), "flag --%s", opts[idx].name);
		if (apply(cfg, &opts[idx], optarg, origin, err, err_cap) != PC_OK)
			return PC_EINVAL;
	}
	if (optind < argc) {
		snprintf(err, err_cap, "unexpected argument '%s' (try --help)", argv[optind]);
		return PC_EINVAL;
	}
	if (cfg->help)
		return PC_OK;
	if (!cfg->store_url[0]) {
		snprintf(err, err_cap,
			 "--store is required (e.g. --store file:///var/lib/picluster)");
		return PC_EINVAL;
	}
	if (!cfg->instance[0])
		default_instance(cfg);
	if (resolve_pool_workers(cfg, err, err_cap) != PC_OK)
		return PC_EINVAL;
	return gw_redis_password_take(cfg->redis_url, sizeof(cfg->redis_url),
				      cfg->redis_password_file, cfg->redis_password,
				      sizeof(cfg->redis_password), err, err_cap);
}
