/* metrics.h - lock-free counters behind /metrics: requests by route and status, job durations. */
#ifndef PICLUSTER_GATEWAY_METRICS_H
#define PICLUSTER_GATEWAY_METRICS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "picluster/error.h"
#include "http/request.h"
#include "picluster/job.h"

/* Status codes counted one by one; anything else lands in the last slot (status="other"). */
#define HTTP_STATUS_SLOTS     24
#define HTTP_DURATION_BUCKETS 13

struct http_metrics {
	atomic_uint_fast64_t requests[HTTP_ROUTE_COUNT][HTTP_STATUS_SLOTS];
	atomic_uint_fast64_t duration_buckets[HTTP_DURATION_BUCKETS]; /* cumulative at export */
	atomic_uint_fast64_t duration_count;
	atomic_uint_fast64_t duration_sum_ms;
	atomic_uint_fast64_t state_changes[JOB_STATE_COUNT]; /* made by this gateway */
};

/* Label of a route ("post_job"); static. */
const char *http_route_name(enum http_route route);

/* Counts one answered request. Never fails. */
void http_metrics_count_request(struct http_metrics *m, enum http_route route, int status);

/* Adds one finished job's run time (started_at to finished_at) to the histogram. */
void http_metrics_observe_duration(struct http_metrics *m, int64_t duration_ms);

/* What Redis said for one scrape (read by the /metrics route). */
struct http_metrics_gauges {
	bool redis_up; /* false: the job and pool gauges are left out */
	uint64_t counts[JOB_STATE_COUNT];
	uint64_t queue_depth; /* the submit queue */
	bool pool_known;      /* the two pool gauges below were read */
	uint64_t pool_alive;  /* pool workers with a live heartbeat */
	uint64_t pool_queue;  /* ids waiting in pool:queue */
};

/* Writes the Prometheus text exposition of m and g into *buf (a new string the caller frees;
 * NULL and PC_ENOMEM when out of memory). */
pc_err http_metrics_render_gauges(struct http_metrics *m, const struct http_metrics_gauges *g,
				  char **buf, size_t *len);

/*
 * Writes the Prometheus text exposition into *buf (a new string the caller frees; NULL and
 * PC_ENOMEM when out of memory). counts and queue_depth come from Redis; redis_up false
 * leaves the job gauges out.
 */
pc_err http_metrics_render(struct http_metrics *m, bool redis_up,
			   const uint64_t counts[JOB_STATE_COUNT], uint64_t queue_depth, char **buf,
			   size_t *len);

#endif
