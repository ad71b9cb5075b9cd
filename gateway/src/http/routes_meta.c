/* routes_meta.c - GET /healthz and GET /metrics: is the gateway usable, and what it has done. */
#include "http/http.h"

#include <stdlib.h>
#include <string.h>

#include "picluster/jobpool.h"

void http_route_healthz(struct http_req *r)
{
	jobstore *st = r->thr ? r->thr->st : NULL;

	/* Opening the store here instead of http_store keeps /healthz's answer its own. */
	if (!st && r->thr)
		st = gw_jobstore_connect(r->gw, &r->thr->st) == PC_OK ? r->thr->st : NULL;
	if (!st || jobstore_ping(st) != PC_OK) {
		http_send_error(r, 503, "unavailable", "Retry-After: 1\r\n",
				"Redis at %s is not answering", r->gw->cfg.redis_url);
		return;
	}
	static const char ok[] = "{\"status\":\"ok\"}";
	http_send(r, 200, "application/json", NULL, ok, sizeof(ok) - 1);
}

void http_route_metrics(struct http_req *r)
{
	struct http_metrics_gauges g;
	jobstore *st = r->thr ? r->thr->st : NULL;
	char *text = NULL;
	size_t len = 0;
	pc_err rc;

	/* Metrics stay available while Redis is down (picluster_redis_up 0): that is when an
	 * operator needs them. */
	memset(&g, 0, sizeof(g));
	if (!st && r->thr)
		st = gw_jobstore_connect(r->gw, &r->thr->st) == PC_OK ? r->thr->st : NULL;
	if (st && jobstore_count_by_state(st, g.counts) == PC_OK &&
	    jobstore_queue_length(st, &g.queue_depth) == PC_OK)
		g.redis_up = true;
	if (g.redis_up && jobpool_alive(st, &g.pool_alive) == PC_OK &&
	    jobpool_queue_length(st, &g.pool_queue) == PC_OK)
		g.pool_known = true;
	rc = http_metrics_render_gauges(&r->gw->metrics, &g, &text, &len);
	if (rc != PC_OK) {
		http_send_error(r, 500, "internal", NULL, "out of memory");
		return;
	}
	http_send(r, 200, "text/plain; version=0.0.4; charset=utf-8", NULL, text, len);
	free(text);
}
