/* http_server.c - civetweb setup, per-thread Redis connections, routing and the request log. */
#include "http/http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "picluster/log.h"
#include "http/request.h"

/* Runs in every civetweb thread as it starts; worker threads get their resource slot. */
static void *thread_init(const struct mg_context *ctx, int thread_type)
{
	if (thread_type != 1)
		return NULL;
	return calloc(1, sizeof(struct http_thread));
}

static void thread_exit(const struct mg_context *ctx, int thread_type, void *ptr)
{
	struct http_thread *thr = ptr;

	if (!thr)
		return;
	jobstore_free(thr->st);
	objstore_free(thr->os);
	free(thr);
}

jobstore *http_store(struct http_req *r)
{
	pc_err rc;

	if (!r->thr) {
		http_send_error(r, 500, "internal", NULL, "no thread state");
		return NULL;
	}
	rc = gw_jobstore_connect(r->gw, &r->thr->st);
	if (rc != PC_OK) {
		http_send_pc_error(r, rc == PC_EINVAL ? PC_EINTERNAL : PC_EUNAVAILABLE, "redis");
		return NULL;
	}
	return r->thr->st;
}

jobstore *http_job_load(struct http_req *r, struct job *job)
{
	jobstore *st = http_store(r);
	pc_err rc;

	if (!st)
		return NULL;
	rc = jobstore_job_get(st, r->id, job);
	/* Another key's job is answered exactly as an unknown id. */
	if (rc == PC_OK && !r->admin && strcmp(job->owner, r->key_name) != 0)
		rc = PC_ENOTFOUND;
	if (rc != PC_OK) {
		http_send_pc_error(r, rc, r->id);
		return NULL;
	}
	return st;
}

objstore *http_objstore(struct http_req *r)
{
	pc_err rc;

	if (!r->thr) {
		http_send_error(r, 500, "internal", NULL, "no thread state");
		return NULL;
	}
	if (r->thr->os)
		return r->thr->os;
	rc = objstore_open(&r->thr->os, r->gw->cfg.store_url);
	if (rc != PC_OK) {
		http_send_error(r, 500, "store_unavailable", NULL,
				"cannot open the object store: %s", pc_strerror(rc));
		return NULL;
	}
	return r->thr->os;
}

static bool method_is(const struct http_req *r, const char *m)
{
	return strcmp(r->ri->request_method, m) == 0;
}

static void method_not_allowed(struct http_req *r, const char *allow)
{
	char hdr[96];

	snprintf(hdr, sizeof(hdr), "Allow: %s\r\n", allow);
	http_send_error(r, 405, "method_not_allowed", hdr, "%s is not allowed here; use %s",
			r->ri->request_method, allow);
}

/* Read-only resources answer GET and HEAD. */
static bool get_or_head(struct http_req *r)
{
	if (method_is(r, "GET"))
		return true;
	if (method_is(r, "HEAD")) {
		r->head = true;
		return true;
	}
	method_not_allowed(r, "GET, HEAD");
	return false;
}

/*
 * Who may ask: GET /healthz is open; GET /metrics wants an admin key unless --metrics-public;
 * everything else wants a key (http_authenticate). A path too long to route is refused
 * before any key is looked at, like the framing checks. False after answering.
 */
static bool allowed(struct http_req *r, enum http_path kind)
{
	if (kind == HTTP_PATH_HEALTHZ || kind == HTTP_PATH_TOO_LONG)
		return true;
	if (kind == HTTP_PATH_METRICS && r->gw->cfg.metrics_public)
		return true;
	if (!http_authenticate(r))
		return false;
	if (kind == HTTP_PATH_METRICS && !r->admin) {
		http_send_error(r, 403, "forbidden", NULL, "/metrics needs an admin key");
		return false;
	}
	return true;
}

static void route(struct http_req *r, const char *path)
{
	enum http_path kind = http_path_parse(path, r->id);

	if (!allowed(r, kind))
		return;
	switch (kind) {
	case HTTP_PATH_JOB_NEW:
		r->route = HTTP_ROUTE_POST_JOB;
		if (method_is(r, "POST"))
			http_route_job_post(r);
		else
			method_not_allowed(r, "POST");
		return;
	case HTTP_PATH_JOB:
		if (method_is(r, "DELETE")) {
			r->route = HTTP_ROUTE_DELETE_JOB;
			http_route_job_delete(r);
			return;
		}
		r->route = HTTP_ROUTE_GET_JOB;
		if (method_is(r, "GET") || method_is(r, "HEAD")) {
			r->head = method_is(r, "HEAD");
			http_route_job_get(r);
		} else {
			method_not_allowed(r, "GET, HEAD, DELETE");
		}
		return;
	case HTTP_PATH_DOWNLOAD:
		r->route = HTTP_ROUTE_DOWNLOAD;
		if (get_or_head(r))
			http_route_download(r);
		return;
	case HTTP_PATH_JOBS:
		r->route = HTTP_ROUTE_LIST_JOBS;
		if (get_or_head(r))
			http_route_jobs_list(r);
		return;
	case HTTP_PATH_HEALTHZ:
		r->route = HTTP_ROUTE_HEALTHZ;
		if (get_or_head(r))
			http_route_healthz(r);
		return;
	case HTTP_PATH_METRICS:
		r->route = HTTP_ROUTE_METRICS;
		if (get_or_head(r))
			http_route_metrics(r);
		return;
	case HTTP_PATH_BAD_ID:
		http_send_error(r, 400, "invalid_job_id", NULL,
				"a job id is a lowercase UUID (version 4) of 36 characters");
		return;
	case HTTP_PATH_TOO_LONG:
		http_send_error(r, 414, "uri_too_long", NULL, "the path is longer than %d bytes",
				HTTP_MAX_PATH);
		return;
	case HTTP_PATH_UNKNOWN:
		break;
	}
	http_send_error(r, 404, "not_found", NULL, "no such resource");
}

/* Copies at most 120 bytes of s for the log, with anything unprintable as '?'. */
static void log_safe(const char *s, char *out, size_t cap)
{
	size_t i;

	for (i = 0; s[i] && i + 4 < cap && i < 120; i++)
		out[i] = (s[i] > 0x20 && s[i] < 0x7f) ? s[i] : '?';
	if (s[i] && i + 4 < cap) {
		memcpy(out + i, "...", 3);
		i += 3;
	}
	out[i] = '\0';
}

static double elapsed_ms(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

/*
 * The path to route: the target as the client sent it (request_uri, before civetweb's decoding
 * and dot-segment removal), or, for an absolute-form target naming this server
 * ("GET http://host:port/healthz", which HTTP/1.1 servers must accept), its path part.
 */
static const char *route_path(const struct mg_request_info *ri)
{
	if (ri->request_uri && ri->request_uri[0] == '/')
		return ri->request_uri;
	return ri->local_uri_raw ? ri->local_uri_raw : "";
}

/* The one request handler: the path is matched exactly, so "..", "%00" and the like can only
 * ever be unknown paths. */
static int dispatch(struct mg_connection *conn, void *cbdata)
{
	struct http_req r;
	struct timespec t0;
	char shown[128], why[96];
	const char *path;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	memset(&r, 0, sizeof(r));
	r.conn = conn;
	r.ri = mg_get_request_info(conn);
	r.gw = cbdata;
	r.thr = mg_get_thread_pointer(conn);
	r.route = HTTP_ROUTE_OTHER;
	http_client_address(&r);
	path = route_path(r.ri);
	if (http_framing_is_ambiguous(r.ri, why, sizeof(why)))
		http_send_error(&r, 400, "bad_framing", "Connection: close\r\n", "%s", why);
	else
		route(&r, path);
	/* A body nobody read is not drained (it may be huge, or framed ambiguously): the
	 * connection closes after the answer instead, as it does after "Connection: close". */
	if (r.close_after || (!r.body_read && http_request_has_body(r.ri)))
		mg_disable_connection_keep_alive(conn);
	http_metrics_count_request(&r.gw->metrics, r.route, r.status);
	log_safe(path, shown, sizeof(shown));
	/* POST /job learns its id while it runs: the record names it so a job's whole story
	 * can be found by grepping the log for its id. */
	log_info("%s %s %d %llub %.2fms %s%s%s", r.ri->request_method, shown, r.status,
		 (unsigned long long)r.sent, elapsed_ms(&t0), r.client,
		 r.route == HTTP_ROUTE_POST_JOB && r.id[0] ? " job " : "",
		 r.route == HTTP_ROUTE_POST_JOB ? r.id : "");
	return r.status ? r.status : 500;
}

/* civetweb's begin_request callback: every request comes here before civetweb's own handling.
 * It is set in mg_start's callbacks, so no request can arrive before routing is in place (a
 * request handler registered after mg_start could miss the first requests). */
static int begin_request(struct mg_connection *conn)
{
	return dispatch(conn, mg_get_user_data(mg_get_context(conn)));
}

/* civetweb's own errors (malformed requests, oversized headers) get the JSON error body too.
 * civetweb closes the connection after each of them. */
static int http_error(struct mg_connection *conn, int status, const char *msg)
{
	struct http_req r;
	struct mg_context *ctx = mg_get_context(conn);
	struct http_thread *thr = mg_get_thread_pointer(conn);

	memset(&r, 0, sizeof(r));
	r.conn = conn;
	r.ri = mg_get_request_info(conn);
	r.gw = ctx ? mg_get_user_data(ctx) : NULL;
	r.route = HTTP_ROUTE_OTHER;
	http_send_error(&r, status, status == 404 ? "not_found" : "bad_request",
			"Connection: close\r\n", "%s",
			msg && msg[0] ? msg : http_status_text(status));
	if (r.gw)
		http_metrics_count_request(&r.gw->metrics, r.route, status);
	if (thr)
		thr->error_answered = true;
	log_info("civetweb error %d: %s", status, msg ? msg : "");
	return 0;
}

/*
 * Answers the requests civetweb 1.15 parses but neither routes nor answers: the target "*"
 * and absolute-form targets naming another port. It drops them by closing the connection
 * without a word; this callback runs just before that close, on the connection's worker
 * thread, with the request still parsed, so the client gets a JSON answer and the log a line.
 * OPTIONS * asks about the server as a whole (RFC 9110 9.3.7): 200 with Allow.
 */
static void connection_close(const struct mg_connection *cconn)
{
	static const char allow_body[] = "{\"allow\":[\"GET\",\"HEAD\",\"POST\",\"DELETE\"]}";
	/* civetweb hands its own mutable connection as const here; writing to it is safe. */
	struct mg_connection *conn = (struct mg_connection *)cconn;
	struct mg_context *ctx = mg_get_context(conn);
	struct http_thread *thr = mg_get_thread_pointer(conn);
	const struct mg_request_info *ri = mg_get_request_info(conn);
	struct http_req r;
	char shown[128];
	bool answered = thr && thr->error_answered;

	if (thr)
		thr->error_answered = false; /* the next connection on this thread starts clean */
	if (answered || !ri || !ri->request_method || !ri->request_uri || ri->local_uri || !ctx)
		return; /* answered already, idle, or routed */
	memset(&r, 0, sizeof(r));
	r.conn = conn;
	r.ri = ri;
	r.gw = mg_get_user_data(ctx);
	r.route = HTTP_ROUTE_OTHER;
	http_client_address(&r);
	if (strcmp(ri->request_uri, "*") == 0 && strcmp(ri->request_method, "OPTIONS") == 0)
		http_send(&r, 200, "application/json",
			  "Allow: GET, HEAD, POST, DELETE\r\nConnection: close\r\n", allow_body,
			  sizeof(allow_body) - 1);
	else if (strcmp(ri->request_uri, "*") == 0)
		http_send_error(&r, 400, "invalid_target", "Connection: close\r\n",
				"the target * is only for OPTIONS");
	else
		http_send_error(&r, 421, "misdirected_request", "Connection: close\r\n",
				"the target names another server; send a path like /healthz");
	http_metrics_count_request(&r.gw->metrics, r.route, r.status);
	log_safe(ri->request_uri, shown, sizeof(shown));
	log_info("%s %s %d %llub %s (unrouted target)", ri->request_method, shown, r.status,
		 (unsigned long long)r.sent, r.client);
}

static int log_message(const struct mg_connection *conn, const char *message)
{
	log_warn("civetweb: %s", message);
	return 1;
}

pc_err http_server_start(struct gateway *gw, struct mg_context **out)
{
	struct mg_callbacks cb;
	struct mg_context *ctx;
	struct mg_server_port ports[4];
	char listen[96], threads[16], req_timeout[16], ka_timeout[16];
	/* decode_url no: handlers see the path exactly as sent (see dispatch). */
	const char *options[] = {
	    "listening_ports",
	    listen,
	    "num_threads",
	    threads,
	    "enable_keep_alive",
	    "yes",
	    "tcp_nodelay",
	    "1",
	    "keep_alive_timeout_ms",
	    ka_timeout,
	    "request_timeout_ms",
	    req_timeout,
	    /* Absolute-form targets naming this server's port are routed (see route_path). */
	    "enable_auth_domain_check",
	    "no",
	    "listen_backlog",
	    "1024",
	    "decode_url",
	    "no",
	    NULL,
	};
	int n;

	*out = NULL;
	snprintf(listen, sizeof(listen), "%s:%u", gw->cfg.listen_host, gw->cfg.listen_port);
	snprintf(threads, sizeof(threads), "%u", gw->cfg.http_threads);
	snprintf(req_timeout, sizeof(req_timeout), "%u", gw->cfg.request_timeout_ms);
	snprintf(ka_timeout, sizeof(ka_timeout), "%u", gw->cfg.keep_alive_timeout_ms);
	memset(&cb, 0, sizeof(cb));
	cb.begin_request = begin_request;
	cb.init_thread = thread_init;
	cb.exit_thread = thread_exit;
	cb.http_error = http_error;
	cb.connection_close = connection_close;
	cb.log_message = log_message;
	ctx = mg_start(&cb, gw, options);
	if (!ctx) {
		log_error("cannot listen on %s (address in use or not local?)", listen);
		return PC_EIO;
	}
	n = mg_get_server_ports(ctx, 4, ports);
	if (n > 0)
		log_info("listening on http://%s:%d/ with %s threads", gw->cfg.listen_host,
			 ports[0].port, threads);
	*out = ctx;
	return PC_OK;
}

void http_server_stop(struct mg_context *ctx)
{
	if (ctx)
		mg_stop(ctx);
}
