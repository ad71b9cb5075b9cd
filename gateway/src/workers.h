/* workers.h - the gateway's background threads: the submitter and the reconciler. */
#ifndef PICLUSTER_GATEWAY_WORKERS_H
#define PICLUSTER_GATEWAY_WORKERS_H

#include "gateway.h"

typedef struct gw_workers gw_workers;

/*
 * Starts the submitter (Redis queue -> scheduler, see submitter.c) and the reconciler
 * (scheduler -> Redis, see reconciler.c) for gw. They stop when gw->stopping is set and
 * gw_workers_stop joins them. With the "none" scheduler nothing is started (an API-only
 * gateway). *out NULL on failure.
 */
pc_err gw_workers_start(struct gateway *gw, gw_workers **out);

/* Joins the threads (gw->stopping must be set first) and frees. NULL is ignored. */
void gw_workers_stop(gw_workers *w);

/* Thread bodies (submitter.c, reconciler.c). */
void *gw_submitter_main(void *gw);
void *gw_reconciler_main(void *gw);

/* Sleeps up to ms, waking early when the gateway is stopping. */
void gw_nap(struct gateway *gw, long ms);

#endif
