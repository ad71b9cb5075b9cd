/* metrics.c - atomic request and job-duration counters and their Prometheus text form. */
#include "http/metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const route_names[HTTP_ROUTE_COUNT] = {
    "post_job", "get_job", "delete_job", "list_jobs", "download", "healthz", "metrics", "other",
};

/* The status codes the gateway answers with; the last slot counts anything else. */
static const int status_codes[HTTP_STATUS_SLOTS - 1] = {
    200, 201, 204, 206, 302, 304, 400, 404, 405, 408, 409, 411,
    410, 413, 414, 415, 416, 429, 431, 500, 501, 502, 503,
};

/* Upper bounds of the duration buckets in milliseconds; the last one is +Inf. */
static const int64_t bucket_ms[HTTP_DURATION_BUCKETS - 1] = {
    100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 900000, 3600000,
};

const char *http_route_name(enum http_route route)
{
	if ((unsigned)route >= HTTP_ROUTE_COUNT)
		return "other";
	return route_names[route];
}

static unsigned status_slot(int status)
{
	for (unsigned i = 0; i < HTTP_STATUS_SLOTS - 1; i++)
		if (status_codes[i] == status)
			return i;
	return HTTP_STATUS_SLOTS - 1;
}

void http_metrics_count_request(struct http_metrics *m, enum http_route route, int status)
{
	if ((unsigned)route >= HTTP_ROUTE_COUNT)
		route = HTTP_ROUTE_OTHER;
	atomic_fetch_add_explicit(&m->requests[route][status_slot(status)], 1,
				  memory_order_relaxed);
}

void http_metrics_observe_duration(struct http_metrics *m, int64_t duration_ms)
{
	unsigned i = 0;

	if (duration_ms < 0)
		duration_ms = 0;
	while (i < HTTP_DURATION_BUCKETS - 1 && duration_ms > bucket_ms[i])
		i++;
	atomic_fetch_add_explicit(&m->duration_buckets[i], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&m->duration_count, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&m->duration_sum_ms, (uint64_t)duration_ms, memory_order_relaxed);
}

/* picluster_http_requests_total: one line per route and status seen. */
static void render_requests(FILE *f, struct http_metrics *m)
{
	fputs("# HELP picluster_http_requests_total HTTP requests answered, by route and status.\n"
	      "# TYPE picluster_http_requests_total counter\n",
	      f);
	for (unsigned r = 0; r < HTTP_ROUTE_COUNT; r++) {
		for (unsigned s = 0; s < HTTP_STATUS_SLOTS; s++) {
			uint64_t n = atomic_load_explicit(&m->requests[r][s], memory_order_relaxed);

			if (!n)
				continue;
			if (s < HTTP_STATUS_SLOTS - 1)
				fprintf(f,
					"picluster_http_requests_total{route=\"%s\",status=\"%d\"} "
					"%llu\n",
					route_names[r], status_codes[s], (unsigned long long)n);
			else
				fprintf(
				    f,
				    "picluster_http_requests_total{route=\"%s\",status=\"other\"} "
				    "%llu\n",
				    route_names[r], (unsigned long long)n);
		}
	}
}

/* picluster_redis_up, and what Redis said when it answered: jobs by state, queue depth. */
static void render_redis(FILE *f, bool redis_up, const uint64_t counts[JOB_STATE_COUNT],
			 uint64_t queue_depth)
{
	fputs("# HELP picluster_redis_up 1 when Redis answered this scrape.\n"
	      "# TYPE picluster_redis_up gauge\n",
	      f);
	fprintf(f, "picluster_redis_up %d\n", redis_up ? 1 : 0);
	if (!redis_up)
		return;
	fputs("# HELP picluster_jobs Jobs in Redis, by state.\n"
	      "# TYPE picluster_jobs gauge\n",
	      f);
	for (int s = 0; s < JOB_STATE_COUNT; s++)
		fprintf(f, "picluster_jobs{state=\"%s\"} %llu\n", job_state_name((enum job_state)s),
			(unsigned long long)counts[s]);
	fputs("# HELP picluster_queue_depth Jobs waiting in the submit queue.\n"
	      "# TYPE picluster_queue_depth gauge\n",
	      f);
	fprintf(f, "picluster_queue_depth %llu\n", (unsigned long long)queue_depth);
}

/* The warm workers: how many beat, how many jobs wait for them. */
static void render_pool(FILE *f, const struct http_metrics_gauges *g)
{
	if (!g->redis_up || !g->pool_known)
		return;
	fputs("# HELP picluster_pool_workers_alive Pool workers with a live heartbeat.\n"
	      "# TYPE picluster_pool_workers_alive gauge\n",
	      f);
	fprintf(f, "picluster_pool_workers_alive %llu\n", (unsigned long long)g->pool_alive);
	fputs("# HELP picluster_pool_queue_depth Jobs waiting for a pool worker.\n"
	      "# TYPE picluster_pool_queue_depth gauge\n",
	      f);
	fprintf(f, "picluster_pool_queue_depth %llu\n", (unsigned long long)g->pool_queue);
}

/* picluster_job_state_changes_total: the moves this gateway wrote, by target state. */
static void render_state_changes(FILE *f, struct http_metrics *m)
{
	fputs("# HELP picluster_job_state_changes_total State changes written by this gateway.\n"
	      "# TYPE picluster_job_state_changes_total counter\n",
	      f);
	for (int s = 0; s < JOB_STATE_COUNT; s++)
		fprintf(f, "picluster_job_state_changes_total{to=\"%s\"} %llu\n",
			job_state_name((enum job_state)s),
			(unsigned long long)atomic_load_explicit(&m->state_changes[s],
								 memory_order_relaxed));
}

/* picluster_job_duration_seconds: the histogram, buckets cumulative as Prometheus wants. */
static void render_durations(FILE *f, struct http_metrics *m)
{
	uint64_t cumulative = 0;

	fputs("# HELP picluster_job_duration_seconds Run time (started to finished) of jobs this "
	      "gateway saw finish.\n"
	      "# TYPE picluster_job_duration_seconds histogram\n",
	      f);
	for (unsigned i = 0; i < HTTP_DURATION_BUCKETS; i++) {
		cumulative += atomic_load_explicit(&m->duration_buckets[i], memory_order_relaxed);
		if (i < HTTP_DURATION_BUCKETS - 1)
			fprintf(f, "picluster_job_duration_seconds_bucket{le=\"%g\"} %llu\n",
				(double)bucket_ms[i] / 1000.0, (unsigned long long)cumulative);
		else
			fprintf(f, "picluster_job_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
				(unsigned long long)cumulative);
	}
	fprintf(f, "picluster_job_duration_seconds_sum %.3f\n",
		(double)atomic_load_explicit(&m->duration_sum_ms, memory_order_relaxed) / 1000.0);
	fprintf(f, "picluster_job_duration_seconds_count %llu\n",
		(unsigned long long)atomic_load_explicit(&m->duration_count, memory_order_relaxed));
}

pc_err http_metrics_render_gauges(struct http_metrics *m, const struct http_metrics_gauges *g,
				  char **buf, size_t *len)
{
	FILE *f;
	bool failed;

	*buf = NULL;
	*len = 0;
	f = open_memstream(buf, len);
	if (!f)
		return PC_ENOMEM;
	render_requests(f, m);
	render_redis(f, g->redis_up, g->counts, g->queue_depth);
	render_pool(f, g);
	render_state_changes(f, m);
	render_durations(f, m);
	failed = ferror(f) != 0;
	if (fclose(f) != 0 || failed) {
		free(*buf);
		*buf = NULL;
		*len = 0;
		return PC_ENOMEM;
	}
	return PC_OK;
}

pc_err http_metrics_render(struct http_metrics *m, bool redis_up,
			   const uint64_t counts[JOB_STATE_COUNT], uint64_t queue_depth, char **buf,
			   size_t *len)
{
	struct http_metrics_gauges g;

	memset(&g, 0, sizeof(g));
	g.redis_up = redis_up;
	memcpy(g.counts, counts, sizeof(g.counts));
	g.queue_depth = queue_depth;
	return http_metrics_render_gauges(m, &g, buf, len);
}
