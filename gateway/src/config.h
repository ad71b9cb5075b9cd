/* config.h - pi-gateway's settings: command-line flags over PICLUSTER_* environment variables. */
#ifndef PICLUSTER_GATEWAY_CONFIG_H
#define PICLUSTER_GATEWAY_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <netinet/in.h>

#include "picluster/error.h"

enum gw_download_mode { GW_DOWNLOAD_PROXY, GW_DOWNLOAD_REDIRECT };

/* --auth: keys (every route but GET /healthz wants an API key) or none (no checks). */
enum gw_auth_mode { GW_AUTH_NONE, GW_AUTH_KEYS };

#define GW_CONFIG_STR_MAX 1024
/* The largest --max-digits the gateway accepts (and so the largest per-key limit). */
#define GW_MAX_DIGITS_LIMIT UINT64_C(1000000000000)
/* The largest daily budget: it must print as a structured-field Integer (15 digits) in the
 * RateLimit headers. */
#define GW_DIGITS_PER_DAY_LIMIT UINT64_C(999999999999999)
/* The longest --result-ttl and --job-ttl: 100 years, so that every time stays in range. */
#define GW_TTL_MAX_S UINT64_C(3153600000)
/* --pool-workers before it is resolved: not given (then: the number of cores with the local
 * scheduler, else 0). */
#define GW_POOL_WORKERS_UNSET UINT32_MAX
/* Most --pool-workers. */
#define GW_POOL_WORKERS_MAX 1024
/* Most addresses --trusted-proxy accepts. */
#define GW_MAX_TRUSTED_PROXIES 16

/*
 * Every setting of the gateway. Strings are copies owned by the struct (fixed buffers, so it
 * can be copied and needs no free); an empty string means "not set".
 */
struct gw_config {
	char listen[GW_CONFIG_STR_MAX];	   /* HOST:PORT, as given */
	char listen_host[64];		   /* numeric IPv4 address parsed from listen */
	unsigned listen_port;		   /* 0 = let the kernel pick a free port */
	char redis_url[GW_CONFIG_STR_MAX]; /* never holds a password (see redis_password) */
	char redis_password_file[GW_CONFIG_STR_MAX];
	/* From the --redis URL, else --redis-password-file, else PICLUSTER_REDIS_PASSWORD;
	 * "" for none. Never logged, never in argv: main puts it into the environment, where
	 * the store and the computes find it. */
	char redis_password[1024];
	char store_url[GW_CONFIG_STR_MAX];
	char scheduler[16]; /* "local", "none" or "slurm" */
	unsigned ranks;
	uint64_t max_digits;
	uint64_t max_queued;
	unsigned max_running;
	/* Warm workers (workers/pool_supervisor.c, sched/sched_pool.c): jobs of at most
	 * pool_max_digits digits (0: none) go to the pool while a worker is alive; pool_workers
	 * `pi-compute --worker` processes are started beside a local-scheduler gateway. */
	uint64_t pool_max_digits;
	unsigned pool_workers;
	uint64_t digits_per_day; /* a key's daily digits unless the key sets its own (0: none) */
	char key_prefix[256];
	char instance[256]; /* owner name of this submitter's processing list */
	enum gw_download_mode download;
	enum gw_auth_mode auth;
	bool metrics_public; /* --metrics-public: GET /metrics without an admin key */
	unsigned presign_expiry;
	/* Retention (workers/retention.c), seconds; 0 means never. --result-ttl counts from
	 * finished_at, --job-ttl from the moment the job became terminal. */
	uint64_t result_ttl_s;
	uint64_t job_ttl_s;
	unsigned http_threads;
	unsigned request_timeout_ms;	/* civetweb request_timeout_ms: a stalled client's cost */
	unsigned keep_alive_timeout_ms; /* an idle keep-alive connection is closed after this */
	char trusted_proxy[GW_CONFIG_STR_MAX];		/* as given: IPV4[,IPV4...] */
	struct in_addr trusted[GW_MAX_TRUSTED_PROXIES]; /* parsed from trusted_proxy */
	unsigned n_trusted;
	char state_dir[GW_CONFIG_STR_MAX];
	char slurm_partition[256];
	char slurm_time[64];
	char slurm_account[256];
	char slurm_args[GW_CONFIG_STR_MAX];
	char slurm_script[GW_CONFIG_STR_MAX];
	bool help; /* --help was given: print gw_config_usage and exit 0 */
};

/*
 * Fills cfg from the defaults, then the environment (PICLUSTER_LISTEN, PICLUSTER_REDIS, ...;
 * the flag name upper-cased with '-' as '_'), then argv (flags win). On PC_EINVAL err holds a
 * message for the user (the caller prints it and exits 2); it never quotes a password. The
 * Redis password is taken out of the --redis URL into redis_password, so that redis_url can
 * be logged, shown and passed on to pi-compute. --pool-workers comes out resolved (never
 * GW_POOL_WORKERS_UNSET); other than 0 it needs the local scheduler. Uses getopt_long, so it is not
 * thread-safe; it may be called several times (it resets getopt).
 */
pc_err gw_config_parse(struct gw_config *cfg, int argc, char **argv, char *err, size_t err_cap);

/* True when cfg.listen_host is a loopback address (127.0.0.0/8): only this machine can
 * connect. --auth none on any other address gets a warning at start-up. */
bool gw_config_listen_is_loopback(const struct gw_config *cfg);

/*
 * The Redis password step of the gateway's flags, also used by `pi-gateway key`: takes the
 * password out of redis_url (rewritten in place without it; url_cap bytes), else reads
 * password_file (NULL or "" for none; refused together with a URL password), else takes
 * JOBSTORE_PASSWORD_ENV's value, into password ("" for none). Checks the URL on the way. On
 * PC_EINVAL err holds a message that never quotes the password, and password is zeroed.
 */
pc_err gw_redis_password_take(char *redis_url, size_t url_cap, const char *password_file,
			      char *password, size_t password_cap, char *err, size_t err_cap);

/* Prints the usage text for --help. */
void gw_config_usage(FILE *out, const char *program);

#endif
