/* workers.c - starts and joins the submitter and reconciler threads. */
#include "workers/workers.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "picluster/log.h"

struct gw_workers {
	pthread_t submitter, reconciler, keeper;
	bool has_submitter, has_reconciler, has_keeper;
};

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
	free(w);
}
