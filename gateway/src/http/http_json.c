/* http_json.c - writing responses: JSON bodies, the uniform error body, status texts. */
#include "http/http.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char oom_body[] = "{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}";

const char *http_status_text(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 201:
		return "Created";
	case 204:
		return "No Content";
	case 206:
		return "Partial Content";
	case 302:
		return "Found";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 408:
		return "Request Timeout";
	case 409:
		return "Conflict";
	case 410:
		return "Gone";
	case 411:
		return "Length Required";
	case 413:
		return "Content Too Large";
	case 414:
		return "URI Too Long";
	case 416:
		return "Range Not Satisfiable";
	case 421:
		return "Misdirected Request";
	case 429:
		return "Too Many Requests";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 501:
		return "Not Implemented";
	case 502:
		return "Bad Gateway";
	case 503:
		return "Service Unavailable";
	case 505:
		return "HTTP Version Not Supported";
	default:
		return status < 400 ? "OK" : status < 500 ? "Bad Request" : "Server Error";
	}
}

void http_send(struct http_req *r, int status, const char *content_type, const char *extra_headers,
	       const void *body, size_t len)
{
	char buf[4096];
	int n;

	n = snprintf(buf, sizeof(buf),
		     "HTTP/1.1 %d %s\r\n"
		     "Content-Type: %s\r\n"
		     "Content-Length: %zu\r\n"
		     "Cache-Control: no-store\r\n"
		     "%s%s"
		     "\r\n",
		     status, http_status_text(status), content_type, len, r->ratelimit,
		     extra_headers ? extra_headers : "");
	r->status = status;
	if (extra_headers && strcasestr(extra_headers, "Connection: close"))
		r->close_after = true;
	if (n < 0 || (size_t)n >= sizeof(buf)) {
		/* Only a huge extra header could do this; never send a truncated head. */
		static const char fallback[] = "HTTP/1.1 500 Internal Server Error\r\n"
					       "Content-Length: 0\r\nConnection: close\r\n\r\n";
		mg_write(r->conn, fallback, sizeof(fallback) - 1);
		r->status = 500;
		r->close_after = true;
		return;
	}
	if (r->head || len == 0) {
		mg_write(r->conn, buf, (size_t)n);
		return;
	}
	/* Small answers leave in one write (one TCP segment with tcp_nodelay). */
	if ((size_t)n + len <= sizeof(buf)) {
		memcpy(buf + n, body, len);
		if (mg_write(r->conn, buf, (size_t)n + len) > 0)
			r->sent = len;
		return;
	}
	if (mg_write(r->conn, buf, (size_t)n) > 0 && mg_write(r->conn, body, len) > 0)
		r->sent = len;
}

void http_send_json(struct http_req *r, int status, const json_t *j, const char *extra_headers)
{
	char stackbuf[2048];
	char *heap = NULL;
	size_t need;

	need = json_dumpb(j, stackbuf, sizeof(stackbuf), JSON_COMPACT);
	if (need == 0) {
		http_send(r, 500, "application/json", NULL, oom_body, sizeof(oom_body) - 1);
		return;
	}
	if (need > sizeof(stackbuf)) {
		heap = malloc(need);
		if (!heap) {
			http_send(r, 500, "application/json", NULL, oom_body, sizeof(oom_body) - 1);
			return;
		}
		need = json_dumpb(j, heap, need, JSON_COMPACT);
	}
	http_send(r, status, "application/json", extra_headers, heap ? heap : stackbuf, need);
	free(heap);
}

void http_send_error(struct http_req *r, int status, const char *code, const char *extra_headers,
		     const char *fmt, ...)
{
	char message[1024];
	json_t *j;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	j = json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", message);
	if (!j) {
		http_send(r, 500, "application/json", NULL, oom_body, sizeof(oom_body) - 1);
		return;
	}
	http_send_json(r, status, j, extra_headers);
	json_decref(j);
}

void http_send_pc_error(struct http_req *r, pc_err err, const char *what)
{
	switch (err) {
	case PC_EUNAVAILABLE:
	case PC_ETIMEOUT:
		http_send_error(r, 503, "unavailable", "Retry-After: 1\r\n",
				"%s: Redis is not answering", what);
		break;
	case PC_ENOTFOUND:
		http_send_error(r, 404, "not_found", NULL, "%s: no such job", what);
		break;
	default:
		http_send_error(r, 500, "internal", NULL, "%s: %s", what, pc_strerror(err));
		break;
	}
}
