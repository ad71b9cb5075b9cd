/* workers.c - starts and joins the submitter, reconciler, keeper, retention and pool
 * supervisor threads. */
#include "workers/workers.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "picluster/log.h"

struct gw_workers {
	pthread_t submitter, reconciler, keeper, retention, pool;
	bool has_submitter, has_reconciler, has_keeper, has_retention, has_pool;
};

/* Starts the retention thread unless both TTLs are 0 (then nothing ever expires). */
static int start_retention(struct gateway *gw, gw_workers *w)
{
	int err;

	if (gw->cfg.result_ttl_s == 0 && gw->cfg.job_ttl_s == 0) {
		log_info("retention: off (--result-ttl 0 and --job-ttl 0): results and jobs are "
			 "kept forever");
		return 0;
	}
	err = pthread_create(&w->retention, NULL, gw_retention_main, gw);
	if (err)
		log_error("cannot start the retention thread: %s", strerror(err));
	else
		w->has_retention = true;
	return err;
}

void gw_nap(struct gateway *gw, long ms)
{
	while (ms > 0 && !atomic_load(&gw->stopping)) {
		long step = ms < 100 ? ms : 100;
		struct timespec ts = {0, step * 1000000L};

		while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
			;
		ms -= step;
	}
}

pc_err gw_workers_start(struct gateway *gw, gw_workers **out)
{
	gw_workers *w;
	int err;

	*out = NULL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return PC_ENOMEM;
	err = pthread_create(&w->keeper, NULL, gw_keeper_main, gw);
	if (err) {
		log_error("cannot start the keeper: %s", strerror(err));
		goto out_free;
	}
	w->has_keeper = true;
	if (start_retention(gw, w) != 0)
		goto out_stop;
	if (!sched_submits(gw->sched)) {
		log_info("scheduler %s: serving the API only; jobs wait for another submitter",
			 sched_name(gw->sched));
		*out = w;
		return PC_OK;
	}
	err = pthread_create(&w->submitter, NULL, gw_submitter_main, gw);
	if (err) {
		log_error("cannot start the submitter: %s", strerror(err));
		goto out_stop;
	}
	w->has_submitter = true;
	err = pthread_create(&w->reconciler, NULL, gw_reconciler_main, gw);
	if (err) {
		log_error("cannot start the reconciler: %s", strerror(err));
		goto out_stop;
	}
	w->has_reconciler = true;
	if (gw->cfg.pool_workers) {
		err = pthread_create(&w->pool, NULL, gw_pool_supervisor_main, gw);
		if (err) {
			log_error("cannot start the pool supervisor: %s", strerror(err));
			goto out_stop;
		}
		w->has_pool = true;
	}
	*out = w;
	return PC_OK;
out_stop:
	atomic_store(&gw->stopping, true);
	gw_workers_stop(w);
	return PC_ENOMEM;
out_free:
	free(w);
	return PC_ENOMEM;
}

void gw_workers_stop(gw_workers *w)
{
	if (!w)
		return;
	if (w->has_submitter)
		pthread_join(w->submitter, NULL);
	if (w->has_reconciler)
		pthread_join(w->reconciler, NULL);
	if (w->has_keeper)
		pthread_join(w->keeper, NULL);
	if (w->has_retention)
		pthread_join(w->retention, NULL);
	if (w->has_pool)
		pthread_join(w->pool, NULL); /* it stops the workers: up to 10 s */
	free(w);
}
