/* main.c - pi-gateway: the picluster job API (civetweb), its submitter and its reconciler. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "gateway.h"
#include "http/http.h"
#include "keys/keys.h"
#include "picluster/log.h"
#include "picluster/objstore.h"
#include "picluster/jobstore.h"
#include "workers/workers.h"

/* Checks the store URL once at start-up, so a typo fails now rather than at the first job. */
static int check_store(const struct gw_config *cfg)
{
	objstore *os = NULL;
	char *url = NULL;
	pc_err rc;

	rc = objstore_open(&os, cfg->store_url);
	if (rc != PC_OK) {
		fprintf(stderr, "pi-gateway: cannot open --store %s: %s\n", cfg->store_url,
			pc_strerror(rc));
		return rc == PC_EINVAL ? 2 : 1;
	}
	if (cfg->download == GW_DOWNLOAD_REDIRECT) {
		rc = objstore_presign_get(os, "jobs/probe/pi.txt", cfg->presign_expiry, &url);
		free(url);
		if (rc == PC_ENOTSUP) {
			fprintf(stderr,
				"pi-gateway: --download redirect needs a store that can "
				"presign URLs (s3://); %s cannot\n",
				cfg->store_url);
			objstore_free(os);
			return 2;
		}
	}
	objstore_free(os);
	return 0;
}

/* A malformed --redis is a usage error; Redis being down is not (the gateway answers 503 and
 * recovers when it comes back). */
static int check_redis(const struct gw_config *cfg)
{
	jobstore *st = NULL;
	pc_err rc = jobstore_open(&st, cfg->redis_url, cfg->key_prefix, GW_REDIS_TIMEOUT_MS);

	if (rc == PC_EINVAL) {
		fprintf(stderr,
			"pi-gateway: malformed --redis %s (redis://HOST:PORT[/DB] or "
			"unix:///path.sock[?db=N])\n",
			cfg->redis_url);
		return 2;
	}
	if (rc == PC_EAUTH) {
		/* Not an outage: waiting would not make Redis take the password. */
		fprintf(stderr,
			"pi-gateway: Redis at %s refused the password, or wants one (give it in "
			"the URL, %s or --redis-password-file)\n",
			cfg->redis_url, JOBSTORE_PASSWORD_ENV);
		return 1;
	}
	if (rc != PC_OK)
		log_warn("Redis at %s is not answering yet: serving 503 until it does",
			 cfg->redis_url);
	jobstore_free(st);
	return 0;
}

/*
 * The Redis password goes into this process's environment: every store the gateway opens
 * finds it there, and so do the computes, which inherit the environment (mpirun's ranks;
 * sbatch exports it to the job and srun to its ranks), so it never appears in an argv.
 */
static int export_redis_password(struct gw_config *cfg)
{
	int rc = 0;

	if (cfg->redis_password[0] && setenv(JOBSTORE_PASSWORD_ENV, cfg->redis_password, 1) != 0) {
		fprintf(stderr, "pi-gateway: cannot set %s: %s\n", JOBSTORE_PASSWORD_ENV,
			strerror(errno));
		rc = 1;
	}
	explicit_bzero(cfg->redis_password, sizeof(cfg->redis_password));
	return rc;
}

static sched *make_sched(struct gateway *gw)
{
	const struct gw_config *c = &gw->cfg;
	struct sched_config sc;
	sched *s = NULL;

	memset(&sc, 0, sizeof(sc));
	sc.name = c->scheduler;
	sc.ranks = c->ranks;
	sc.max_running = c->max_running;
	sc.compute_path = gw->compute_path;
	sc.redis_url = c->redis_url;
	sc.key_prefix = c->key_prefix;
	sc.store_url = c->store_url;
	sc.state_dir = c->state_dir[0] ? c->state_dir : NULL;
	sc.sbatch_script = c->slurm_script[0] ? c->slurm_script : NULL;
	sc.partition = c->slurm_partition[0] ? c->slurm_partition : NULL;
	sc.time_limit = c->slurm_time[0] ? c->slurm_time : NULL;
	sc.account = c->slurm_account[0] ? c->slurm_account : NULL;
	sc.extra_args = c->slurm_args[0] ? c->slurm_args : NULL;
	if (sched_new(&s, &sc) != PC_OK)
		return NULL;
	return s;
}

/* The pool beside the scheduler, when this gateway submits and --pool-max-digits is not 0.
 * 0, or the exit status on failure (printed). */
static int make_pool(struct gateway *gw)
{
	struct sched_config sc;

	gw->pool = NULL;
	if (!gw->cfg.pool_max_digits || !sched_submits(gw->sched))
		return 0;
	memset(&sc, 0, sizeof(sc));
	sc.name = "pool";
	sc.redis_url = gw->cfg.redis_url;
	sc.key_prefix = gw->cfg.key_prefix;
	if (sched_new(&gw->pool, &sc) != PC_OK) {
		fprintf(stderr, "pi-gateway: cannot set up the pool: out of memory\n");
		return 1;
	}
	return 0;
}

/*
 * The checks and set-up before any thread starts: the Redis password moved to the
 * environment, the object store and Redis reachable, the state directory made, pi-compute
 * found where the scheduler needs it, the scheduler made. 0, or the exit status on failure
 * (the reason is printed).
 */
static int set_up(struct gateway *gw)
{
	int rc;

	rc = export_redis_password(&gw->cfg);
	if (!rc)
		rc = check_store(&gw->cfg);
	if (!rc)
		rc = check_redis(&gw->cfg);
	if (rc)
		return rc;
	if (gw->cfg.auth == GW_AUTH_NONE && !gw_config_listen_is_loopback(&gw->cfg))
		log_warn("--auth none on %s: anyone who can reach this address may list, read and "
			 "cancel every job; use --auth keys (pi-gateway key create)",
			 gw->cfg.listen);
	if (gw->cfg.state_dir[0] && mkdir(gw->cfg.state_dir, 0755) != 0 && errno != EEXIST) {
		fprintf(stderr, "pi-gateway: cannot create --state-dir %s: %s\n", gw->cfg.state_dir,
			strerror(errno));
		return 1;
	}
	if (gw_find_compute(gw->compute_path, sizeof(gw->compute_path)) != PC_OK) {
		if (sched_compute_is_here(gw->cfg.scheduler)) {
			fprintf(stderr, "pi-gateway: pi-compute is neither beside pi-gateway nor "
					"on PATH\n");
			return 1;
		}
		snprintf(gw->compute_path, sizeof(gw->compute_path), "pi-compute");
	}
	gw->sched = make_sched(gw);
	if (!gw->sched) {
		fprintf(stderr, "pi-gateway: cannot use --scheduler %s\n", gw->cfg.scheduler);
		return 2;
	}
	return make_pool(gw);
}

int main(int argc, char **argv)
{
	static struct gateway gw; /* large (metrics); static keeps it off the stack */
	struct mg_context *http = NULL;
	gw_workers *workers = NULL;
	sigset_t sigs;
	char err[1024];
	int status = 1, sig = 0, rc;
	bool with_password;

	/* `pi-gateway key ...` manages API keys and exits; everything else is the server. */
	if (argc > 1 && strcmp(argv[1], "key") == 0)
		return gw_keys_main(argc - 1, argv + 1);
	if (gw_config_parse(&gw.cfg, argc, argv, err, sizeof(err)) != PC_OK) {
		fprintf(stderr, "pi-gateway: %s\n", err);
		return 2;
	}
	if (gw.cfg.help) {
		gw_config_usage(stdout, "pi-gateway");
		fputc('\n', stdout);
		gw_keys_usage(stdout, "pi-gateway");
		return 0;
	}
	log_init("pi-gateway", LOG_LEVEL_INFO);
	atomic_init(&gw.stopping, false);
	pthread_mutex_init(&gw.watch_lock, NULL);

	with_password = gw.cfg.redis_password[0] != '\0';
	rc = set_up(&gw);
	if (rc)
		return rc;

	/* Signals: SIGPIPE ignored (a client hanging up is an error return, not death);
	 * SIGINT/SIGTERM blocked in every thread and taken by sigwait below. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR || pthread_sigmask(SIG_BLOCK, &sigs, NULL) != 0) {
		log_error("cannot set up signal handling");
		goto out_free_sched;
	}

	if (gw_instance_token_init(&gw) != PC_OK) {
		log_error("cannot read this process's identity from /proc");
		goto out_free_sched;
	}
	if (gw_workers_start(&gw, &workers) != PC_OK)
		goto out_free_sched;
	if (http_server_start(&gw, &http) != PC_OK)
		goto out_stop_workers;
	log_info("pi-gateway up: scheduler %s, ranks %u, max-running %u, max-queued %llu, "
		 "instance %s, redis %s%s, store %s",
		 gw.cfg.scheduler, gw.cfg.ranks, gw.cfg.max_running,
		 (unsigned long long)gw.cfg.max_queued, gw.cfg.instance, gw.cfg.redis_url,
		 with_password ? " (with a password)" : "", gw.cfg.store_url);
	if (gw.pool)
		log_info("pool: jobs of at most %llu digits go to the warm workers while one is "
			 "alive; %u local worker(s)",
			 (unsigned long long)gw.cfg.pool_max_digits, gw.cfg.pool_workers);
	sigwait(&sigs, &sig);
	log_info("signal %d (%s): shutting down; running jobs keep running and report to Redis",
		 sig, strsignal(sig));
	status = 0;
	http_server_stop(http);
out_stop_workers:
	atomic_store(&gw.stopping, true);
	gw_workers_stop(workers);
out_free_sched:
	sched_free(gw.pool);
	sched_free(gw.sched);
	free(gw.watch);
	return status;
}
