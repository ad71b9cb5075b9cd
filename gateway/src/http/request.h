/* request.h - what a client asks for: the API's routes, and pure parsers of paths, query
 * strings, bodies and ranges. */
#ifndef PICLUSTER_GATEWAY_REQUEST_H
#define PICLUSTER_GATEWAY_REQUEST_H

#include <stddef.h>
#include <stdint.h>

#include "picluster/error.h"
#include "picluster/job.h"

/* Largest request body accepted; more is 413. */
#define HTTP_MAX_BODY 16384
/* Deepest JSON nesting accepted in a body; deeper is 400 before any JSON parser sees it. */
#define HTTP_MAX_JSON_DEPTH 32
/* Longest request path accepted; more is 414 (a real path is at most 50 bytes). */
#define HTTP_MAX_PATH 256

/* The routes of the API (method and path), as http_server.c dispatches them; also the labels
 * of the request counter (metrics.h). */
enum http_route {
	HTTP_ROUTE_POST_JOB,
	HTTP_ROUTE_GET_JOB,
	HTTP_ROUTE_DELETE_JOB,
	HTTP_ROUTE_LIST_JOBS,
	HTTP_ROUTE_DOWNLOAD,
	HTTP_ROUTE_HEALTHZ,
	HTTP_ROUTE_METRICS,
	HTTP_ROUTE_OTHER, /* anything unrouted: 404s, 405s, civetweb's own errors */
	HTTP_ROUTE_COUNT
};

/* What a request path names. */
enum http_path {
	HTTP_PATH_UNKNOWN,  /* no such resource: 404 */
	HTTP_PATH_TOO_LONG, /* over HTTP_MAX_PATH: 414 */
	HTTP_PATH_BAD_ID,   /* /job/<x> or /job/download/<x> with x not a job id: 400 */
	HTTP_PATH_JOB_NEW,  /* /job */
	HTTP_PATH_JOB,	    /* /job/<id> */
	HTTP_PATH_DOWNLOAD, /* /job/download/<id> */
	HTTP_PATH_JOBS,	    /* /jobs */
	HTTP_PATH_HEALTHZ,  /* /healthz */
	HTTP_PATH_METRICS,  /* /metrics */
};

/*
 * Classifies a path exactly as received (not decoded: a '%' anywhere is no valid id and no
 * route). On HTTP_PATH_JOB and HTTP_PATH_DOWNLOAD, id receives the validated job id, which is
 * safe to use in keys and object names. Nothing here touches the file system.
 */
enum http_path http_path_parse(const char *path, char id[JOB_ID_LEN + 1]);

/*
 * Finds key in a query string ("state=queued&limit=10") and URL-decodes its value into out.
 * PC_ENOTFOUND when absent, PC_EINVAL for a bad %-escape, a decoded NUL, or a value that does
 * not fit in cap.
 */
pc_err http_query_param(const char *query, const char *key, char *out, size_t cap);

/*
 * Parses a POST /job body: exactly {"digits": N}, N a JSON integer with 1 <= N <= max_digits,
 * nothing else in the object and nothing after it. PC_EINVAL with msg filled for anything
 * else (not JSON, missing, string, float, bool, null, nested, negative, zero, too large,
 * unknown fields, duplicate keys, arrays or objects nested deeper than HTTP_MAX_JSON_DEPTH).
 * Safe on a small thread stack: the depth is checked before the body reaches jansson.
 */
pc_err http_parse_submit_body(const char *body, size_t len, uint64_t max_digits, uint64_t *digits,
			      char *msg, size_t msg_cap);

/*
 * Parses a Range header value for an object of `size` bytes. Accepts one range in bytes:
 * "bytes=F-L", "bytes=F-" or "bytes=-N". PC_OK with [*first, *first + *length) inside the
 * object; PC_ERANGE for anything unsatisfiable, malformed or multi-range (answer 416).
 */
pc_err http_parse_range(const char *header, uint64_t size, uint64_t *first, uint64_t *length);

#endif
