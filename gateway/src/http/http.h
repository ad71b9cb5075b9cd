/* http.h - the HTTP layer's private interface: one request, response helpers, route handlers. */
#ifndef PICLUSTER_GATEWAY_HTTP_H
#define PICLUSTER_GATEWAY_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <civetweb.h>
#include <jansson.h>

#include "gateway.h"
#include "picluster/objstore.h"
#include "picluster/jobstore.h"

/*
 * Short-lived caches of one worker thread (no locks: a thread serves one connection at a
 * time, usually one client with one key): API keys Redis confirmed, by the SHA-256 of their
 * secret (http_auth.c), and each key's digits today (http_quota.c). Entries live
 * HTTP_CACHE_MS, so a revoked key is refused by every thread within that time.
 */
#define HTTP_CACHE_MS	 1000
#define HTTP_CACHE_SLOTS 16

struct http_key_slot {
	uint8_t hash[API_KEY_HASH_LEN];
	struct api_key key;
	int64_t expires_ms; /* monotonic; 0: empty */
};

struct http_usage_slot {
	char name[API_KEY_NAME_MAX + 1];
	char day[JOBSTORE_DAY_LEN + 1];
	uint64_t digits;
	int64_t expires_ms; /* monotonic; 0: empty */
};

/* What each civetweb worker thread owns: its own Redis connection and object store handle,
 * opened on first use (neither is thread-safe), and its caches. */
struct http_thread {
	jobstore *st;
	objstore *os;
	bool error_answered; /* civetweb's error callback answered on the current connection */
	struct http_key_slot keys[HTTP_CACHE_SLOTS];
	struct http_usage_slot usage[HTTP_CACHE_SLOTS];
};

/* One request being answered. */
struct http_req {
	struct mg_connection *conn;
	const struct mg_request_info *ri;
	struct gateway *gw;
	struct http_thread *thr;
	enum http_route route;
	bool head;		 /* HEAD: send the headers only */
	bool body_read;		 /* the request body was read to its end */
	bool close_after;	 /* "Connection: close" was sent: close after this answer */
	int status;		 /* set by the send helpers */
	uint64_t sent;		 /* body bytes sent */
	char id[JOB_ID_LEN + 1]; /* the job id of the path, "" if none */
	char client[48];	 /* the client's address (http_client_address) */
	/* Who asks (http_authenticate): the API key's name ("" with --auth none) and whether
	 * it may see and cancel every job (an admin key, or --auth none). */
	char key_name[API_KEY_NAME_MAX + 1];
	bool admin;
	struct api_key key; /* the caller's key and its limits (--auth keys; else zeroed) */
	/* RateLimit-Policy and RateLimit header lines for the key's daily digit budget, sent
	 * with every answer (http_quota_headers); "" without a key. */
	char ratelimit[192];
};

/* Starts civetweb on cfg.listen with the gateway's routes. *out NULL on failure
 * (PC_EIO: the address could not be bound; the reason is logged). */
pc_err http_server_start(struct gateway *gw, struct mg_context **out);

/* Stops accepting, waits for requests in flight, frees the context. NULL is ignored. */
void http_server_stop(struct mg_context *ctx);

/* The thread's Redis store, connected on first use; NULL (and a 503 already sent) when Redis
 * cannot be reached. Borrowed: owned by the thread. */
jobstore *http_store(struct http_req *r);

/* Reads the job named by the path (r->id) into *job: the thread's store (borrowed), or NULL
 * after answering 503 (Redis unreachable), 404 (no such job, or one of another key when the
 * caller is not an admin: the same answer, so existence is not leaked) or 500. */
jobstore *http_job_load(struct http_req *r, struct job *job);

/*
 * --auth keys: checks the request's Authorization: Bearer <secret> against the key store
 * (verified keys cached for a second) and fills r->key_name and r->admin. True when the
 * request may go on; false after answering 401 (missing, malformed, unknown or revoked key,
 * with WWW-Authenticate: Bearer) or 503 (Redis unreachable). --auth none: true, as admin.
 */
bool http_authenticate(struct http_req *r);

/*
 * A key's effective limits: its own where it has one, else the gateway's defaults (0: none).
 * max_digits is never above the gateway's --max-digits.
 */
struct http_limits {
	uint64_t max_digits;
	uint64_t max_queued;
	uint64_t max_running;
	uint64_t digits_per_day;
};
void http_limits_of(const struct http_req *r, struct http_limits *out);

/*
 * Fills r->ratelimit for an authenticated request: the key's daily budget and what is left
 * of it today (read from Redis at most once a second per key; left out when Redis cannot
 * say). http_quota_note records a count the admit script returned, so the answer to a POST
 * shows the budget after it.
 */
void http_quota_headers(struct http_req *r);
void http_quota_note(struct http_req *r, const char *day, uint64_t digits_today);

/* Seconds until the next UTC midnight, when a day's digit budget starts again (1..86400). */
unsigned http_quota_reset_s(void);

/* The thread's object store, opened on first use; NULL (and a 500 already sent) on failure. */
objstore *http_objstore(struct http_req *r);

/* Fills r->client: the peer's address, or, when the peer is a --trusted-proxy, the last
 * address of its X-Forwarded-For header (if that is an IP address). */
void http_client_address(struct http_req *r);

/* True when the request's length or framing is ambiguous (duplicate or conflicting
 * Content-Length / Transfer-Encoding, a coding other than chunked, a missing or repeated Host
 * in HTTP/1.1); why receives the reason. Such a request gets 400 and a closed connection. */
bool http_framing_is_ambiguous(const struct mg_request_info *ri, char *why, size_t cap);

/* True when the request announces a body (Content-Length > 0 or a Transfer-Encoding). */
bool http_request_has_body(const struct mg_request_info *ri);

/* Sends a whole response: status line, Content-Type, Content-Length, extra header lines
 * (each ending "\r\n", or NULL) and body (not sent for HEAD). */
void http_send(struct http_req *r, int status, const char *content_type, const char *extra_headers,
	       const void *body, size_t len);

/* Sends j (borrowed) as application/json. */
void http_send_json(struct http_req *r, int status, const json_t *j, const char *extra_headers);

/* Sends job as JSON (application/json) with status and extra header lines (or NULL). */
void http_send_job(struct http_req *r, int status, const struct job *job, const char *headers);

/* Sends {"error": {"code": code, "message": ...}} as application/json. */
void http_send_error(struct http_req *r, int status, const char *code, const char *extra_headers,
		     const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Sends the error for a failed store or object-store call: 503 when Redis is unreachable,
 * 404 for PC_ENOTFOUND, 500 otherwise. */
void http_send_pc_error(struct http_req *r, pc_err err, const char *what);

/* Reason phrase of a status code ("Not Found"). */
const char *http_status_text(int status);

/* Route handlers: each sends exactly one response. */
void http_route_job_post(struct http_req *r);
void http_route_job_get(struct http_req *r);
void http_route_job_delete(struct http_req *r);
void http_route_jobs_list(struct http_req *r);
void http_route_download(struct http_req *r);
void http_route_healthz(struct http_req *r);
void http_route_metrics(struct http_req *r);

#endif
